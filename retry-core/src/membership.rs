//! The app's consumers in their groups: one consumer per listener topic, each in the group
//! the listener's settings name for that topic.

/// Kafka's `group.instance.id` for the consumer of `topic` in the app instance named
/// `instance` (static membership): `<instance>-<topic>`.
///
/// Kafka allows one member per instance id in a group, fencing the other, and listeners of
/// one app may share a group (their derived retry and DLT groups too), so each consumer needs
/// an id of its own. Within a group, each of an app's consumers reads a topic of its own, so
/// the topic tells them apart; the instance tells the app's replicas apart.
///
/// ```
/// assert_eq!(retry_core::static_member_id("pod-1", "orders-retry"), "pod-1-orders-retry");
/// ```
pub fn static_member_id(instance: &str, topic: &str) -> String {
    format!("{instance}-{topic}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_of_one_instance_get_ids_of_their_own() {
        let ids: Vec<String> = ["orders", "orders-retry", "payments", "payments-retry"]
            .iter()
            .map(|topic| static_member_id("pod-1", topic))
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        assert_ne!(
            static_member_id("pod-1", "orders"),
            static_member_id("pod-2", "orders"),
            "replicas differ"
        );
    }
}
