//! Static group membership: each consumer's `group.instance.id`, and the instance ids that
//! cannot give every consumer one of its own that Kafka takes.

/// Kafka's longest `group.instance.id`: its topic-name rule, which the Java clients check
/// (`JoinGroupRequest.validateGroupInstanceId`).
pub const MAX_MEMBER_ID: usize = 249;

/// Kafka's `group.instance.id` for the consumer of `topic` in the app instance named
/// `instance` (static membership): `<instance>-<topic>`.
///
/// Kafka allows one member per instance id in a group, fencing the other, and listeners of
/// one app may share a group (their derived retry and DLT groups too), so each consumer needs
/// an id of its own. Within a group, each of an app's consumers reads a topic of its own, so
/// the topic tells them apart; the instance tells the app's replicas apart.
/// [`check_instance_id`] refuses the instance ids for which that does not hold.
///
/// ```
/// assert_eq!(retry_core::static_member_id("pod-1", "orders-retry"), "pod-1-orders-retry");
/// ```
pub fn static_member_id(instance: &str, topic: &str) -> String {
    format!("{instance}-{topic}")
}

/// An instance id (`RETRY_INSTANCE_ID`) that cannot name the app's consumers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceIdError {
    /// It holds a character Kafka does not take in a `group.instance.id`.
    #[error(
        "RETRY_INSTANCE_ID `{id}`: `{character}` is not allowed; Kafka takes ASCII letters, \
         digits, `.`, `_` and `-` in a group.instance.id"
    )]
    Character {
        /// The instance id.
        id: String,
        /// The first character not allowed.
        character: char,
    },
    /// A consumer's id would be longer than Kafka allows.
    #[error(
        "RETRY_INSTANCE_ID `{id}` is too long: the consumer of topic `{topic}` would join its \
         group as `{member}`, {length} characters; Kafka allows {MAX_MEMBER_ID} in a \
         group.instance.id"
    )]
    TooLong {
        /// The instance id.
        id: String,
        /// The topic of the consumer whose id is too long.
        topic: String,
        /// That consumer's id.
        member: String,
        /// Its length.
        length: usize,
    },
    /// A consumer's id is the id another instance's consumer of another topic in the same
    /// group gets.
    #[error(
        "RETRY_INSTANCE_ID `{id}`: the consumer of topic `{topic}` would join group `{group}` \
         as `{member}`, the id an instance named `{other}` gives its consumer of `{other_topic}` \
         in that group, and Kafka would fence one of them; use an id that does not end with \
         `{tail}`",
        member = static_member_id(.id, .topic),
        tail = &.id[.other.len()..]
    )]
    Shared {
        /// The instance id.
        id: String,
        /// The group both consumers are in.
        group: String,
        /// This instance's consumer's topic.
        topic: String,
        /// The instance whose consumer would get the same id (`id` without its end).
        other: String,
        /// That consumer's topic.
        other_topic: String,
    },
}

/// Checks that `instance` gives each of the app's `consumers` (group, topic) a
/// [`static_member_id`] Kafka takes and that no other instance of the app gives one of its
/// consumers in the same group:
/// - only ASCII letters, digits, `.`, `_` and `-`, and at most [`MAX_MEMBER_ID`] characters
///   once the topic is appended;
/// - `<instance>-<topic>` is ambiguous when a group has topics `t` and `<x>-t`: instance
///   `a-<x>` consuming `t` and instance `a` consuming `<x>-t` get the same id. Of two such
///   instances, the one whose id ends with `-<x>` is refused, so they never run together.
pub fn check_instance_id<'a>(
    instance: &str,
    consumers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), InstanceIdError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(character) = instance.chars().find(|&c| !allowed(c)) {
        return Err(InstanceIdError::Character {
            id: instance.to_owned(),
            character,
        });
    }
    let consumers: Vec<(&str, &str)> = consumers.into_iter().collect();
    for &(group, topic) in &consumers {
        let member = static_member_id(instance, topic);
        if member.len() > MAX_MEMBER_ID {
            return Err(InstanceIdError::TooLong {
                id: instance.to_owned(),
                topic: topic.to_owned(),
                length: member.len(),
                member,
            });
        }
        for &(other_group, other_topic) in &consumers {
            // `other_topic` = `<x>-<topic>`: instance `<other>` consuming it joins as
            // `<other>-<x>-<topic>`, which is `member` when `instance` = `<other>-<x>`.
            let x = other_topic
                .strip_suffix(topic)
                .and_then(|rest| rest.strip_suffix('-'))
                .filter(|x| !x.is_empty() && other_group == group);
            let other = x.and_then(|x| {
                instance
                    .strip_suffix(x)
                    .and_then(|rest| rest.strip_suffix('-'))
                    .filter(|other| !other.is_empty())
            });
            if let Some(other) = other {
                return Err(InstanceIdError::Shared {
                    id: instance.to_owned(),
                    group: group.to_owned(),
                    topic: topic.to_owned(),
                    other: other.to_owned(),
                    other_topic: other_topic.to_owned(),
                });
            }
        }
    }
    Ok(())
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

    const SHOP: [(&str, &str); 4] = [
        ("shop", "orders"),
        ("shop-retry", "orders-retry"),
        ("shop", "eu-orders"),
        ("shop-retry", "eu-orders-retry"),
    ];

    #[test]
    fn ordinary_ids_are_accepted() {
        for id in ["orders-service-0", "pod_1", "a.b", "x"] {
            assert_eq!(check_instance_id(id, SHOP), Ok(()), "{id}");
        }
        assert_eq!(
            check_instance_id("pod-eu", [("shop", "orders"), ("audit", "eu-orders")]),
            Ok(()),
            "the topics are in different groups"
        );
    }

    #[test]
    fn characters_kafka_refuses_are_named() {
        let err = check_instance_id("pod 1", SHOP).unwrap_err();
        assert_eq!(
            err,
            InstanceIdError::Character {
                id: "pod 1".into(),
                character: ' '
            }
        );
        assert!(
            err.to_string().starts_with("RETRY_INSTANCE_ID `pod 1`"),
            "{err}"
        );
        for id in ["pod/1", "pöd", "pod:1"] {
            assert!(check_instance_id(id, SHOP).is_err(), "{id}");
        }
    }

    #[test]
    fn a_member_id_over_kafkas_limit_is_refused_naming_its_topic() {
        let topic = "t".repeat(200);
        let consumers = [("shop", topic.as_str())];
        let fits = "i".repeat(MAX_MEMBER_ID - topic.len() - 1);
        assert_eq!(check_instance_id(&fits, consumers), Ok(()));
        let long = format!("{fits}i");
        let err = check_instance_id(&long, consumers).unwrap_err();
        assert!(
            matches!(&err, InstanceIdError::TooLong { length, topic: t, .. }
                if *length == MAX_MEMBER_ID + 1 && *t == topic),
            "{err:?}"
        );
        assert!(err.to_string().contains("Kafka allows 249"), "{err}");
    }

    #[test]
    fn an_id_another_instance_would_share_is_refused_on_the_longer_instance() {
        // `pod-eu` consuming `orders` and `pod` consuming `eu-orders`, both in `shop`.
        let err = check_instance_id("pod-eu", SHOP).unwrap_err();
        assert_eq!(
            err,
            InstanceIdError::Shared {
                id: "pod-eu".into(),
                group: "shop".into(),
                topic: "orders".into(),
                other: "pod".into(),
                other_topic: "eu-orders".into(),
            }
        );
        assert_eq!(
            static_member_id("pod-eu", "orders"),
            static_member_id("pod", "eu-orders"),
            "the ids the error is about meet"
        );
        assert_eq!(
            err.to_string(),
            "RETRY_INSTANCE_ID `pod-eu`: the consumer of topic `orders` would join group `shop` \
             as `pod-eu-orders`, the id an instance named `pod` gives its consumer of \
             `eu-orders` in that group, and Kafka would fence one of them; use an id that does \
             not end with `-eu`"
        );
        assert_eq!(
            check_instance_id("pod", SHOP),
            Ok(()),
            "the shorter instance runs: the longer one never starts beside it"
        );
        assert_eq!(check_instance_id("eu", SHOP), Ok(()), "no shorter instance");
    }
}
