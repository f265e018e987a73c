//! What start-up refuses with `ordering = "key"` (design/key-order.md, *Build stages*),
//! decided from the settings and group members the broker describes: an existing parked or
//! lock-log topic whose settings lose what it keeps, a `max.poll.interval.ms` shorter than a
//! revocation may wait, and a foreign member in one of the listener's groups. Each refusal
//! names the setting or member and what to do; nothing here talks to a broker.

use std::collections::HashMap;
use std::time::Duration;

use retry_core::LOCK_LOG_TOPIC_SETTINGS;

use crate::context::DRAIN_BOUND;
use crate::error::StartError;
use crate::kafka_config::KEY_ORDER_CLIENT_ID_SUFFIX;

/// What a revocation's commit may take after its wait, within `max.poll.interval.ms`.
const DRAIN_COMMIT: Duration = Duration::from_secs(10);

/// A topic `ordering = "key"` adds to a listener's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrderTopic {
    /// `<main><retry suffix>-parked`: records waiting for their key, kept for ever.
    Parked,
    /// `<main><retry suffix>-locks`: the compacted lock log.
    LockLog,
}

/// Refuses a `max.poll.interval.ms` (its value and where it came from, when the user set it;
/// librdkafka's 300,000 otherwise, which fits) shorter than a revocation's wait
/// ([`DRAIN_BOUND`]) and its commit. Handler calls have no time limit, and forwards and
/// lock-log entries are tried again past `delivery.timeout.ms` until the broker takes them,
/// so the wait is cut at the bound, not at any of those.
pub(crate) fn check_drain_fits(
    listener: &str,
    max_poll: Option<(&str, &str)>,
) -> Result<(), StartError> {
    let needed_ms = (DRAIN_BOUND + DRAIN_COMMIT).as_millis() as u64;
    let Some((value, origin)) = max_poll else {
        return Ok(());
    };
    // librdkafka refused anything but a whole number when the setting was made.
    let Ok(max_poll_ms) = value.trim().parse::<u64>() else {
        return Ok(());
    };
    if max_poll_ms >= needed_ms {
        return Ok(());
    }
    Err(StartError::KeyOrderDrain {
        listener: listener.to_owned(),
        max_poll_ms,
        origin: origin.to_owned(),
        drain_secs: DRAIN_BOUND.as_secs(),
        needed_ms,
    })
}

/// Checks the settings of an existing topic of `role`, as the broker describes them
/// (`settings`: name → value; a setting not described is not judged). Refuses a parked topic
/// with a retention (`retention.ms` or `retention.bytes` not -1) or compacted, and a lock log
/// whose `cleanup.policy` is not `compact` alone; returns a warning when the lock log's other
/// settings are not those it is created with (they only make a takeover read more).
pub(crate) fn check_topic_settings(
    listener: &str,
    topic: &str,
    role: KeyOrderTopic,
    settings: &HashMap<String, String>,
) -> Result<Vec<String>, StartError> {
    let refuse = |setting: &'static str, value: &str, wanted: &'static str, why: &'static str| {
        StartError::KeyOrderTopicSetting {
            listener: listener.to_owned(),
            topic: topic.to_owned(),
            setting,
            value: value.to_owned(),
            wanted,
            why,
        }
    };
    let policies = |value: &str| -> Vec<String> {
        value
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect()
    };
    match role {
        KeyOrderTopic::Parked => {
            for setting in ["retention.ms", "retention.bytes"] {
                if let Some(value) = settings.get(setting).filter(|v| v.trim() != "-1") {
                    return Err(refuse(
                        setting,
                        value,
                        "-1",
                        "parked records wait as long as their key is blocked, and a retention \
                         deletes them",
                    ));
                }
            }
            if let Some(value) = settings.get("cleanup.policy") {
                if policies(value).iter().any(|p| p == "compact") {
                    return Err(refuse(
                        "cleanup.policy",
                        value,
                        "delete",
                        "a key's parked records share its key, and compaction keeps only the last",
                    ));
                }
            }
            Ok(Vec::new())
        }
        KeyOrderTopic::LockLog => {
            if let Some(value) = settings.get("cleanup.policy") {
                if policies(value) != ["compact"] {
                    return Err(refuse(
                        "cleanup.policy",
                        value,
                        "compact",
                        "a blocked key's entries must stay as long as it is blocked, and a \
                         delete policy removes them past the retention",
                    ));
                }
            }
            let differing: Vec<String> = LOCK_LOG_TOPIC_SETTINGS
                .iter()
                .filter(|(setting, _)| *setting != "cleanup.policy")
                .filter_map(|(setting, wanted)| {
                    let value = settings.get(*setting)?;
                    (!same_value(value, wanted))
                        .then(|| format!("{setting}={value} (created with {wanted})"))
                })
                .collect();
            if differing.is_empty() {
                return Ok(Vec::new());
            }
            Ok(vec![format!(
                "lock log {topic} of listener `{listener}` has {}: key order holds, but \
                 compaction may leave more for a new owner to read at takeover",
                differing.join(", ")
            )])
        }
    }
}

/// A consumer group as the classic DescribeGroups describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedGroup {
    /// Its state (`Stable`, `Empty`, `Dead`, …).
    pub state: String,
    /// Its members' client ids and hosts.
    pub members: Vec<(String, String)>,
}

/// What start-up learned of a key-ordered listener's group when nothing in it is foreign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupChecked {
    /// Every member's client id says it is a key-mode member, or the group has none.
    Clear,
    /// The classic DescribeGroups describes no member of a group that is not `Empty`: a group
    /// of KIP-848's consumer protocol (the classic call does not describe those) or one the
    /// broker answered with an error.
    NotDescribed,
    /// Members whose client id the broker does not say (the embedded broker answers every
    /// member's as empty), and no foreign one: those are not judged.
    Unjudged(usize),
}

/// Refuses a member of a key-ordered listener's `group` (described by the classic
/// DescribeGroups; `None` when no broker lists it yet) whose client id does not end with
/// [`KEY_ORDER_CLIENT_ID_SUFFIX`]: a Spring service, or a listener of another ordering, would
/// handle the group's records or copies without the lock log, breaking key order silently.
pub(crate) fn check_group_members(
    listener: &str,
    group: &str,
    described: Option<&DescribedGroup>,
) -> Result<GroupChecked, StartError> {
    let Some(described) = described else {
        return Ok(GroupChecked::Clear);
    };
    if described.members.is_empty() {
        return Ok(match described.state.as_str() {
            "Empty" => GroupChecked::Clear,
            _ => GroupChecked::NotDescribed,
        });
    }
    let foreign = described
        .members
        .iter()
        .find(|(id, _)| !id.is_empty() && !id.ends_with(KEY_ORDER_CLIENT_ID_SUFFIX));
    if let Some((client_id, host)) = foreign {
        return Err(StartError::KeyOrderForeignMember {
            listener: listener.to_owned(),
            group: group.to_owned(),
            client_id: client_id.clone(),
            host: host.clone(),
        });
    }
    Ok(
        match described
            .members
            .iter()
            .filter(|(id, _)| id.is_empty())
            .count()
        {
            0 => GroupChecked::Clear,
            unsaid => GroupChecked::Unjudged(unsaid),
        },
    )
}

/// Whether two settings' values are the same, as numbers when both are (`0.10` is `0.1`).
fn same_value(value: &str, wanted: &str) -> bool {
    match (value.trim().parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(value), Ok(wanted)) => value == wanted,
        _ => value.trim() == wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(role: KeyOrderTopic, pairs: &[(&str, &str)]) -> Result<Vec<String>, String> {
        check_topic_settings("acct", "accounts-retry-x", role, &settings(pairs))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_parked_topic_kept_for_ever_passes_and_a_retention_or_compaction_is_refused() {
        let kept = [
            ("retention.ms", "-1"),
            ("retention.bytes", "-1"),
            ("cleanup.policy", "delete"),
            ("segment.ms", "604800000"),
        ];
        assert_eq!(check(KeyOrderTopic::Parked, &kept), Ok(Vec::new()));
        assert_eq!(
            check(KeyOrderTopic::Parked, &[("retention.ms", "604800000")]),
            Err(
                "listener `acct` has ordering = \"key\", but topic accounts-retry-x has \
                 retention.ms=604800000: parked records wait as long as their key is blocked, \
                 and a retention deletes them; set retention.ms=-1 (kafka-configs.sh --alter \
                 --entity-type topics --entity-name accounts-retry-x --add-config \
                 retention.ms=-1)"
                    .into()
            )
        );
        let err = check(KeyOrderTopic::Parked, &[("retention.bytes", "1073741824")]);
        assert!(err.unwrap_err().contains("retention.bytes=-1"));
        for policy in ["compact", "delete,compact", "compact, delete"] {
            let err = check(KeyOrderTopic::Parked, &[("cleanup.policy", policy)]);
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.contains("set cleanup.policy=delete")),
                "{policy}: {err:?}"
            );
        }
        assert_eq!(
            check(KeyOrderTopic::Parked, &[]),
            Ok(Vec::new()),
            "what is not described is not judged"
        );
    }

    #[test]
    fn a_lock_log_must_be_compacted_only_and_other_settings_only_warn() {
        let created: Vec<(&str, &str)> = LOCK_LOG_TOPIC_SETTINGS.to_vec();
        assert_eq!(check(KeyOrderTopic::LockLog, &created), Ok(Vec::new()));
        for policy in ["delete", "compact,delete", ""] {
            let err = check(KeyOrderTopic::LockLog, &[("cleanup.policy", policy)]);
            assert!(
                err.as_ref().is_err_and(|e| e.contains(&format!(
                    "has cleanup.policy={policy}: a blocked key's entries must stay"
                )) && e.contains("set cleanup.policy=compact")),
                "{policy}: {err:?}"
            );
        }
        assert_eq!(
            check(KeyOrderTopic::LockLog, &[("cleanup.policy", "Compact")]),
            Ok(Vec::new())
        );
        let slow = [
            ("cleanup.policy", "compact"),
            ("segment.ms", "604800000"),
            ("min.cleanable.dirty.ratio", "0.5"),
            ("segment.bytes", "67108864"),
        ];
        assert_eq!(
            check(KeyOrderTopic::LockLog, &slow),
            Ok(vec![
                "lock log accounts-retry-x of listener `acct` has segment.ms=604800000 \
                 (created with 600000), min.cleanable.dirty.ratio=0.5 (created with 0.1): key \
                 order holds, but compaction may leave more for a new owner to read at takeover"
                    .into()
            ])
        );
        assert_eq!(
            check(
                KeyOrderTopic::LockLog,
                &[("min.cleanable.dirty.ratio", "0.10")]
            ),
            Ok(Vec::new())
        );
    }

    fn group(state: &str, members: &[(&str, &str)]) -> DescribedGroup {
        DescribedGroup {
            state: state.into(),
            members: members
                .iter()
                .map(|(id, host)| (id.to_string(), host.to_string()))
                .collect(),
        }
    }

    fn members(described: Option<&DescribedGroup>) -> Result<GroupChecked, String> {
        check_group_members("acct", "ledger", described).map_err(|e| e.to_string())
    }

    #[test]
    fn a_member_whose_client_id_does_not_say_key_mode_is_refused_naming_it_and_its_host() {
        let mixed = group(
            "Stable",
            &[
                ("rdkafka.key-order", "/10.0.0.1"),
                ("consumer-ledger-1", "/10.0.0.7"),
            ],
        );
        assert_eq!(
            members(Some(&mixed)),
            Err(
                "listener `acct` has ordering = \"key\", but its group ledger has a member that \
                 is not a key-ordered one: client id consumer-ledger-1 on host /10.0.0.7. A Spring \
                 service, or a listener of another ordering, cannot share a key-ordered \
                 listener's groups: it would handle records without the lock log, out of key \
                 order; stop it, or give the key-ordered listener a group of its own"
                    .into()
            )
        );
        let partition_mode = group("PreparingRebalance", &[("ledger", "/10.0.0.2")]);
        assert!(members(Some(&partition_mode)).is_err_and(|e| e.contains("client id ledger on")));
    }

    #[test]
    fn key_mode_members_an_empty_group_and_no_group_pass() {
        let key_mode = group(
            "Stable",
            &[
                ("rdkafka.key-order", "/10.0.0.1"),
                ("ledger.key-order", "/10.0.0.2"),
            ],
        );
        assert_eq!(members(Some(&key_mode)), Ok(GroupChecked::Clear));
        assert_eq!(members(Some(&group("Empty", &[]))), Ok(GroupChecked::Clear));
        assert_eq!(members(None), Ok(GroupChecked::Clear), "no group yet");
    }

    #[test]
    fn a_group_not_described_and_members_without_a_client_id_are_not_judged() {
        for state in ["Dead", "Unknown", ""] {
            assert_eq!(
                members(Some(&group(state, &[]))),
                Ok(GroupChecked::NotDescribed),
                "{state}: a KIP-848 group, or an error"
            );
        }
        let unsaid = group("Stable", &[("", ""), ("rdkafka.key-order", "/10.0.0.1")]);
        assert_eq!(members(Some(&unsaid)), Ok(GroupChecked::Unjudged(1)));
        let unsaid_and_foreign = group("Stable", &[("", ""), ("consumer-ledger-1", "/10.0.0.7")]);
        assert!(members(Some(&unsaid_and_foreign)).is_err());
    }

    #[test]
    fn a_max_poll_interval_shorter_than_a_revocations_wait_is_refused_naming_its_variable() {
        /// librdkafka's default.
        const DEFAULT_MAX_POLL_MS: u64 = 300_000;
        let needed = (DRAIN_BOUND + DRAIN_COMMIT).as_millis() as u64;
        assert!(DEFAULT_MAX_POLL_MS >= needed, "the default fits");
        assert!(check_drain_fits("acct", None).is_ok());
        let at_least = needed.to_string();
        assert!(check_drain_fits("acct", Some((&at_least, "KAFKA_MAX_POLL_INTERVAL_MS"))).is_ok());
        let err = check_drain_fits("acct", Some(("30000", "KAFKA_MAX_POLL_INTERVAL_MS")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "listener `acct` has ordering = \"key\": a revocation waits up to 60 s for the \
             revoked partitions' handler calls, forwards and lock-log entries, then commits, \
             but max.poll.interval.ms is 30000 (from KAFKA_MAX_POLL_INTERVAL_MS), so the \
             consumer would leave its group mid-wait and the partitions' next owner could \
             start before its last entries; set max.poll.interval.ms to at least 70000"
        );
    }
}
