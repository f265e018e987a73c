//! Start-up topic provisioning: create what is missing, say what was created, warn about
//! partition mismatches and about main topics that did not exist.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use retry_core::{DestinationKind, LOCK_LOG_TOPIC_SETTINGS};

use crate::describe;
use crate::error::StartError;
use crate::key_order_checks::{check_topic_settings, KeyOrderTopic};
use crate::listener::Listener;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicToCreate {
    pub name: String,
    pub partitions: i32,
    /// `None`: the broker's default.
    pub replication: Option<i16>,
    /// `min.insync.replicas`: with `acks=all`, how many replicas must have a record before
    /// it counts as written. `None`: the broker's default.
    pub min_insync_replicas: Option<i16>,
    /// Topic settings besides those (`cleanup.policy` and the like).
    pub settings: &'static [(&'static str, &'static str)],
}

/// The parked topic's settings (design/key-order.md): its records wait as long as their key
/// is blocked, so time and size never delete them (what is parked is not bounded yet: see
/// design/key-order.md, *Build stages*).
const PARKED_SETTINGS: &[(&str, &str)] = &[("retention.ms", "-1"), ("retention.bytes", "-1")];

/// The `min.insync.replicas` of a topic created with `replication` replicas: 2 when there are
/// that many, so that `acks=all` survives the loss of a broker without losing records (a
/// broker default of 1 acknowledges what only the leader has); left to the broker when the
/// replication factor is the broker's too.
fn min_insync_replicas(replication: Option<i16>) -> Option<i16> {
    replication.map(|replicas| replicas.min(2))
}

/// What start-up must do about topics.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TopicWork {
    pub create: Vec<TopicToCreate>,
    pub warnings: Vec<String>,
}

/// Decides what to create given the topics that exist (name → partition count). Partitions
/// default to the main topic's count when it exists, else the `partitions` setting, else 1.
/// A missing topic that the listener's `auto_create` does not create is an error; a main topic
/// that is created is a warning naming where its name came from, since a misspelt name is a
/// new, empty topic that nothing writes to.
pub(crate) fn plan(
    listeners: &[Arc<Listener>],
    existing: &HashMap<String, i32>,
) -> Result<TopicWork, StartError> {
    let mut work = TopicWork::default();
    for listener in listeners {
        let config = &listener.config;
        let main = config.topics.main();
        let main_partitions = existing.get(&main.name).copied();
        let partitions = config.partitions.or(main_partitions).unwrap_or(1);
        // The lock log is not consumed by a group, but is created like the chain's topics.
        let lock_log = config
            .topics
            .lock_log()
            .map(|name| (name, DestinationKind::Parked, LOCK_LOG_TOPIC_SETTINGS));
        let consumed = config.topics.topics().map(|topic| {
            let settings = match topic.kind {
                DestinationKind::Parked => PARKED_SETTINGS,
                _ => &[],
            };
            (topic.name.as_str(), topic.kind, settings)
        });
        for (name, kind, settings) in consumed.chain(lock_log) {
            check_key_order_partitions(config, name, kind, existing, partitions)?;
            if let Some(&count) = existing.get(name) {
                if name != main.name && count < main_partitions.unwrap_or(0) {
                    work.warnings.push(format!(
                        "topic {name} has {count} partitions, fewer than the {} of {}; records \
                         of partition p >= {count} are forwarded to partition p % {count}",
                        main_partitions.unwrap_or(0),
                        main.name
                    ));
                }
                continue;
            }
            if work.create.iter().any(|t| t.name == name) {
                continue;
            }
            if !config.auto_create.creates(kind) {
                return Err(StartError::MissingTopic {
                    topic: name.to_owned(),
                    listener: config.name.clone(),
                    auto_create: config.auto_create,
                });
            }
            if kind == DestinationKind::Main {
                work.warnings.push(format!(
                    "main topic {name} of listener `{}` does not exist; creating it. Its name \
                     comes from the {}: check it if records were expected there (auto_create = \
                     \"retry\" refuses to start instead)",
                    config.name, config.topic_origin
                ));
            }
            work.create.push(TopicToCreate {
                name: name.to_owned(),
                partitions,
                replication: config.replication,
                min_insync_replicas: min_insync_replicas(config.replication),
                settings,
            });
        }
    }
    Ok(work)
}

/// With `ordering = "key"`, refuses a retry, parked or lock-log topic whose partition count
/// (as it exists, or as it would be created) is not the main topic's: partition `p` of each
/// must hold the keys of main partition `p` (design/key-order.md).
fn check_key_order_partitions(
    config: &retry_core::ListenerConfig,
    name: &str,
    kind: DestinationKind,
    existing: &HashMap<String, i32>,
    created: i32,
) -> Result<(), StartError> {
    if config.topics.lock_log().is_none()
        || matches!(kind, DestinationKind::Main | DestinationKind::Dlt)
    {
        return Ok(());
    }
    let main = &config.topics.main().name;
    let main_partitions = existing.get(main).copied().unwrap_or(created);
    let partitions = existing.get(name).copied().unwrap_or(created);
    if partitions == main_partitions {
        return Ok(());
    }
    Err(StartError::KeyOrderPartitions {
        listener: config.name.clone(),
        topic: name.to_owned(),
        partitions,
        main: main.clone(),
        main_partitions,
    })
}

/// With `ordering = "key"`, checks the settings of the parked and lock-log topics that
/// existed before start-up (those it creates get its own): refuses those that would lose
/// records or locks and warns about the rest ([`check_topic_settings`]). A topic whose
/// settings the broker does not describe is not checked, said at WARN.
pub(crate) async fn check_key_order_topics(
    admin: &AdminClient<DefaultClientContext>,
    listeners: &[Arc<Listener>],
    existing: &HashMap<String, i32>,
    timeout: Duration,
) -> Result<(), StartError> {
    let topics: Vec<(&str, &str, KeyOrderTopic)> = listeners
        .iter()
        .flat_map(|listener| {
            let topics = &listener.config.topics;
            let parked = topics
                .parked()
                .map(|t| (t.name.as_str(), KeyOrderTopic::Parked));
            let locks = topics.lock_log().map(|t| (t, KeyOrderTopic::LockLog));
            parked
                .into_iter()
                .chain(locks)
                .map(|(topic, role)| (listener.config.name.as_str(), topic, role))
        })
        .filter(|(_, topic, _)| existing.contains_key(*topic))
        .collect();
    if topics.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(|(_, topic, _)| *topic).collect();
    let described = describe::topic_settings(admin, &names, timeout).await;
    for ((listener, topic, role), (_, settings)) in topics.iter().zip(described) {
        match settings {
            Ok(settings) => {
                for warning in check_topic_settings(listener, topic, *role, &settings)? {
                    tracing::warn!("{warning}");
                }
            }
            Err(reason) => tracing::warn!(
                %topic,
                %reason,
                "the broker did not describe the settings of {topic}; they are not checked \
                 (ordering = \"key\" needs a parked topic kept for ever and a compacted lock log)"
            ),
        }
    }
    Ok(())
}

/// Partition counts of every topic in the cluster.
pub(crate) async fn existing_topics(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    bootstrap: &str,
    timeout: Duration,
) -> Result<HashMap<String, i32>, StartError> {
    let admin = admin.clone();
    let metadata = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .expect("metadata task panicked")
        .map_err(|source| StartError::Unreachable {
            bootstrap: bootstrap.to_owned(),
            source,
        })?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}

/// The partition count of every topic once `created` were created: the cluster's metadata,
/// read again when anything was created (a topic another instance created first has the
/// count that instance asked for), else `existing`; a created topic the metadata does not list
/// yet counts what was asked.
pub(crate) async fn partition_counts(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    bootstrap: &str,
    existing: HashMap<String, i32>,
    created: &[TopicToCreate],
    timeout: Duration,
) -> Result<HashMap<String, i32>, StartError> {
    if created.is_empty() {
        return Ok(existing);
    }
    let mut counts = existing_topics(admin, bootstrap, timeout).await?;
    for topic in created {
        counts.entry(topic.name.clone()).or_insert(topic.partitions);
    }
    Ok(counts)
}

/// Creates `topics`; one that appeared meanwhile (another instance starting) is fine.
pub(crate) async fn create(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[TopicToCreate],
    timeout: Duration,
) -> Result<(), StartError> {
    if topics.is_empty() {
        return Ok(());
    }
    let min_insync: Vec<Option<String>> = topics
        .iter()
        .map(|t| t.min_insync_replicas.map(|n| n.to_string()))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&min_insync)
        .map(|(t, min_insync)| {
            let replication = TopicReplication::Fixed(t.replication.map_or(-1, i32::from));
            let topic = NewTopic::new(&t.name, t.partitions, replication);
            let topic = t
                .settings
                .iter()
                .fold(topic, |topic, (name, value)| topic.set(name, value));
            match min_insync {
                Some(n) => topic.set("min.insync.replicas", n),
                None => topic,
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| StartError::Admin { source })?;
    for result in results {
        match result {
            Ok(name) => {
                let t = topics.iter().find(|t| t.name == name);
                tracing::info!(topic = %name, partitions = t.map_or(0, |t| t.partitions), "created topic");
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(StartError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_core::registry::HandlerFuture;
    use retry_core::{ErrorFilter, HandlerStates, ListenerConfig, RawRecord, Setting};

    use crate::listener::Handler;

    fn ok<'a>(_: &'a RawRecord<'a>, _: &'a HandlerStates) -> HandlerFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn listener(settings: &[(Setting, &str)]) -> Arc<Listener> {
        let config =
            ListenerConfig::resolve("bill", settings, ErrorFilter::RetryAll, |_| None).unwrap();
        Arc::new(Listener {
            config,
            handler: Handler::new(ok, HandlerStates::default()),
            dlt_handler: None,
            orphans: Vec::new(),
        })
    }

    fn names(work: &TopicWork) -> Vec<(&str, i32)> {
        work.create
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect()
    }

    #[test]
    fn creates_everything_missing_with_the_main_topics_partitions() {
        let listeners = [listener(&[
            (Setting::Topic, "orders"),
            (Setting::Backoff, "1s*2"),
        ])];
        let existing = HashMap::from([("orders".to_string(), 6), ("orders-dlt".to_string(), 6)]);
        let work = plan(&listeners, &existing).unwrap();
        assert_eq!(
            names(&work),
            [("orders-retry-1000", 6), ("orders-retry-2000", 6)]
        );
        assert!(work.warnings.is_empty());

        let work = plan(&listeners, &HashMap::new()).unwrap();
        assert_eq!(
            names(&work),
            [
                ("orders", 1),
                ("orders-retry-1000", 1),
                ("orders-retry-2000", 1),
                ("orders-dlt", 1)
            ]
        );
        assert_eq!(
            work.warnings,
            [
                "main topic orders of listener `bill` does not exist; creating it. Its name comes \
              from the attribute: check it if records were expected there (auto_create = \
              \"retry\" refuses to start instead)"
            ]
        );
    }

    #[test]
    fn key_order_creates_a_parked_topic_kept_for_ever_and_a_compacted_lock_log() {
        let listeners = [listener(&[
            (Setting::Topic, "accounts"),
            (Setting::Ordering, "key"),
        ])];
        let existing = HashMap::from([("accounts".to_string(), 6)]);
        let work = plan(&listeners, &existing).unwrap();
        let created = |name: &str| {
            let topic = work.create.iter().find(|t| t.name == name);
            topic.unwrap_or_else(|| panic!("{name} created: {:?}", work.create))
        };
        let parked = created("accounts-retry-parked");
        assert_eq!(parked.partitions, 6, "as many as the main topic");
        assert!(parked.settings.contains(&("retention.ms", "-1")));
        let locks = created("accounts-retry-locks");
        assert_eq!(locks.partitions, 6);
        assert!(locks.settings.contains(&("cleanup.policy", "compact")));
        assert!(created("accounts-retry").settings.is_empty());
    }

    #[test]
    fn key_order_refuses_chain_topics_with_another_partition_count_than_the_main_topic() {
        let listeners = [listener(&[
            (Setting::Topic, "accounts"),
            (Setting::Ordering, "key"),
        ])];
        for other in [
            "accounts-retry",
            "accounts-retry-parked",
            "accounts-retry-locks",
        ] {
            let existing = HashMap::from([("accounts".to_string(), 6), (other.to_string(), 4)]);
            let err = plan(&listeners, &existing).unwrap_err().to_string();
            assert!(
                err.contains(other) && err.contains('4') && err.contains('6'),
                "{err}"
            );
        }
        let existing =
            HashMap::from([("accounts".to_string(), 6), ("accounts-dlt".to_string(), 4)]);
        assert!(plan(&listeners, &existing).is_ok(), "a DLT may differ");
        let pinned = [listener(&[
            (Setting::Topic, "accounts"),
            (Setting::Ordering, "key"),
            (Setting::Partitions, "3"),
        ])];
        let existing = HashMap::from([("accounts".to_string(), 6)]);
        assert!(plan(&pinned, &existing).is_err(), "would be created with 3");
    }

    #[test]
    fn partitions_setting_applies_to_new_topics_and_mismatches_warn() {
        let listeners = [listener(&[
            (Setting::Topic, "orders"),
            (Setting::Partitions, "3"),
            (Setting::Replication, "2"),
        ])];
        let existing = HashMap::from([("orders".to_string(), 4), ("orders-retry".to_string(), 2)]);
        let work = plan(&listeners, &existing).unwrap();
        assert_eq!(
            work.create,
            [TopicToCreate {
                name: "orders-dlt".into(),
                partitions: 3,
                replication: Some(2),
                min_insync_replicas: Some(2),
                settings: &[],
            }]
        );
        assert_eq!(work.warnings.len(), 1);
        assert_eq!(
            work.warnings,
            [
                "topic orders-retry has 2 partitions, fewer than the 4 of orders; records of \
              partition p >= 2 are forwarded to partition p % 2"
            ]
        );
    }

    #[test]
    fn shared_topics_are_created_once_and_auto_create_false_is_an_error() {
        let listeners = [
            listener(&[(Setting::Topic, "orders")]),
            listener(&[(Setting::Topic, "orders"), (Setting::Group, "audit")]),
        ];
        assert_eq!(plan(&listeners, &HashMap::new()).unwrap().create.len(), 3);
        let strict = [listener(&[
            (Setting::Topic, "orders"),
            (Setting::AutoCreate, "false"),
        ])];
        let err = plan(&strict, &HashMap::from([("orders".to_string(), 1)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic orders-retry does not exist and listener `bill` has auto_create = false"
        );
    }

    #[test]
    fn auto_create_retry_creates_retry_topics_and_dlts_and_refuses_a_missing_main_topic() {
        let production = [listener(&[
            (Setting::Topic, "orders"),
            (Setting::AutoCreate, "retry"),
        ])];
        let work = plan(&production, &HashMap::from([("orders".to_string(), 3)])).unwrap();
        assert_eq!(names(&work), [("orders-retry", 3), ("orders-dlt", 3)]);
        assert!(work.warnings.is_empty(), "{:?}", work.warnings);
        let err = plan(&production, &HashMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic orders does not exist and listener `bill` has auto_create = \"retry\", which \
             creates only retry topics and DLTs"
        );
    }

    #[test]
    fn created_topics_need_two_in_sync_replicas_when_they_have_them() {
        assert_eq!(min_insync_replicas(None), None, "the broker's default");
        assert_eq!(min_insync_replicas(Some(1)), Some(1));
        assert_eq!(min_insync_replicas(Some(2)), Some(2));
        assert_eq!(min_insync_replicas(Some(5)), Some(2));
    }
}
