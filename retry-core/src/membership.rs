//! The app's consumers in their groups: one consumer per listener topic, each in the group
//! the listener's settings name for that topic.

use crate::settings::ListenerConfig;

/// Two listeners of one app that would consume one topic in one group: Kafka would split
/// the topic's partitions between their consumers, each seeing only part of the records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "#[retryable_topic] handlers `{first}` and `{second}` both consume topic `{topic}` in \
     group `{group}`: Kafka would split its partitions between them, each handling only part \
     of the records; give one of them a `group` of its own, or make them one handler"
)]
pub struct SharedSubscription {
    /// One listener.
    pub first: String,
    /// The other.
    pub second: String,
    /// The topic both would consume.
    pub topic: String,
    /// The group both would consume it in.
    pub group: String,
}

/// Fails on the first two `listeners` that would consume one topic (main, retry or DLT) in
/// one group. Two instances of an app share their groups on purpose; two listeners of one
/// app doing so is a mistake, refused at start-up.
pub fn check_subscriptions_unshared<'a>(
    listeners: impl IntoIterator<Item = &'a ListenerConfig>,
) -> Result<(), SharedSubscription> {
    let listeners: Vec<&ListenerConfig> = listeners.into_iter().collect();
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[i + 1..] {
            for mine in a.topics.topics() {
                if let Some(theirs) = b
                    .topics
                    .topics()
                    .find(|t| t.name == mine.name && t.group == mine.group)
                {
                    return Err(SharedSubscription {
                        first: a.name.clone(),
                        second: b.name.clone(),
                        topic: theirs.name.clone(),
                        group: theirs.group.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorFilter, Setting};

    fn listener(name: &str, settings: &[(Setting, &str)]) -> ListenerConfig {
        ListenerConfig::resolve(name, settings, ErrorFilter::RetryAll, |_| None).unwrap()
    }

    #[test]
    fn two_listeners_may_not_consume_one_topic_in_one_group() {
        let bill = listener(
            "bill",
            &[(Setting::Topic, "orders"), (Setting::Group, "shop")],
        );
        // Retry topics of their own, so only the main topic is shared.
        let audit = listener(
            "audit",
            &[
                (Setting::Topic, "orders"),
                (Setting::Group, "shop"),
                (Setting::RetryTopicSuffix, "-audit-retry"),
                (Setting::DltTopicSuffix, "-audit-dlt"),
            ],
        );
        let stock = listener(
            "stock",
            &[(Setting::Topic, "items"), (Setting::Group, "shop")],
        );
        let err = check_subscriptions_unshared([&stock, &bill, &audit]).unwrap_err();
        assert_eq!(
            err,
            SharedSubscription {
                first: "bill".into(),
                second: "audit".into(),
                topic: "orders".into(),
                group: "shop".into(),
            }
        );
        assert!(
            err.to_string().starts_with(
                "#[retryable_topic] handlers `bill` and `audit` both consume topic `orders` in \
                 group `shop`"
            ),
            "{err}"
        );
    }

    #[test]
    fn one_topic_in_two_groups_or_one_group_on_two_topics_is_fine() {
        let bill = listener("bill", &[(Setting::Topic, "orders")]);
        let audit = listener(
            "audit",
            &[
                (Setting::Topic, "orders"),
                (Setting::RetryTopicSuffix, "-audit-retry"),
            ],
        );
        let stock = listener(
            "stock",
            &[(Setting::Topic, "items"), (Setting::Group, "bill")],
        );
        assert_eq!(
            check_subscriptions_unshared([&bill, &audit, &stock]),
            Ok(())
        );
    }
}
