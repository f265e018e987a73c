//! Which existing topics belong to a main topic's chain by their names, and which of them a
//! listener's plan no longer has: the retry topics and DLTs a changed chain left behind.

use std::time::Duration;

use crate::policy::{
    DltStrategy, RetryPolicy, DEFAULT_DLT_TOPIC_SUFFIX, DEFAULT_RETRY_TOPIC_SUFFIX,
};
use crate::topics::{is_dlt_of, DestinationKind, DestinationTopic, TopicPlan};

/// A topic that the naming rules attribute to a main topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMember {
    /// Its name.
    pub name: String,
    /// The suffix after the main topic's name (`-retry-1000`, `-dlt`): the listener group
    /// with this suffix is its consumer group.
    pub suffix: String,
    /// True for a dead-letter topic.
    pub dlt: bool,
}

/// What `name` is in the chain of `main`: `None` when it is not in it; else whether it is a
/// DLT and, for a retry topic, the numbers after the retry suffix (its sort key).
fn membership(
    name: &str,
    main: &str,
    retry_suffix: &str,
    dlt_suffix: &str,
) -> Option<(bool, Vec<u64>)> {
    let suffix = name.strip_prefix(main).filter(|s| !s.is_empty())?;
    if let Some(rest) = suffix.strip_prefix(retry_suffix) {
        if !(rest.is_empty() || rest.starts_with('-')) {
            return None;
        }
        let numbers: Option<Vec<u64>> = rest.split('-').skip(1).map(|n| n.parse().ok()).collect();
        return numbers.map(|numbers| (false, numbers));
    }
    is_dlt_of(name, main, dlt_suffix).then(|| (true, Vec::new()))
}

/// The retry topics and DLTs of `main` among `existing` topics, by name:
/// `<main><retry suffix>` and `<main><retry suffix>-<n>...` are retry topics, in order of
/// their numbers; `<main><dlt suffix>` and `<main>-<route><dlt suffix>` are DLTs, the generic
/// one last.
///
/// A topic that is as well in the chain of a longer existing topic starting with `main`
/// belongs to that one: with `orders` and `orders-eu` both existing, `orders-eu-dlt` is the
/// DLT of `orders-eu`, not a route DLT of `orders`.
pub fn discover_chain(
    main: &str,
    retry_suffix: &str,
    dlt_suffix: &str,
    existing: &[String],
) -> Vec<ChainMember> {
    let member = |name: &str, of: &str| membership(name, of, retry_suffix, dlt_suffix);
    // Longer topics that are main topics of their own (not members of this chain).
    let others: Vec<&str> = existing
        .iter()
        .map(String::as_str)
        .filter(|t| t.len() > main.len() && t.starts_with(main) && member(t, main).is_none())
        .collect();
    let mut retries: Vec<(Vec<u64>, ChainMember)> = Vec::new();
    let mut dlts: Vec<ChainMember> = Vec::new();
    for name in existing {
        let Some((dlt, numbers)) = member(name, main) else {
            continue;
        };
        if others.iter().any(|other| member(name, other).is_some()) {
            continue;
        }
        let found = ChainMember {
            name: name.clone(),
            suffix: name[main.len()..].to_owned(),
            dlt,
        };
        if dlt {
            dlts.push(found);
        } else {
            retries.push((numbers, found));
        }
    }
    retries.sort_by(|a, b| a.0.cmp(&b.0));
    // The generic DLT last, as the runtime orders them.
    dlts.sort_by_key(|t| (t.suffix == dlt_suffix, t.name.clone()));
    retries.into_iter().map(|(_, t)| t).chain(dlts).collect()
}

/// A retry topic or DLT of a listener's main topic that its plan no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedTopic {
    /// The topic with the group the listener reads it with (its group plus the topic's
    /// suffix, as for planned topics). An orphaned retry topic's nominal delay is unknown
    /// (zero): its records wait by their `retry_topic-backoff-timestamp`.
    pub topic: DestinationTopic,
}

/// The groups that write `kafka_dlt-original-consumer-group` on the records a listener
/// forwards: its `group` (a record's first hop is read from the main topic, in that group) and
/// the group of each topic of its `chain` (the topics' names; the group is `group` followed
/// by the name's suffix after `main`), which writes it on a record that reached the topic
/// without one. The chain is the planned topics and the orphan candidates: a retry group of
/// the old chain forwarded the records waiting in an old topic.
pub fn forwarding_groups<'a>(
    group: &str,
    main: &str,
    chain: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut groups = vec![group.to_owned()];
    for suffix in chain.into_iter().filter_map(|name| name.strip_prefix(main)) {
        let derived = format!("{group}{suffix}");
        if !groups.contains(&derived) {
            groups.push(derived);
        }
    }
    groups
}

/// Whether an orphaned topic is the listener's. The names alone cannot tell: another service
/// or listener on the same main topic, with another group, has topics named by the same
/// rules. Two things can:
/// - the listener's own group for it (`OrphanedTopic::topic`'s group) `committed` offsets on
///   it: it consumed it;
/// - its records were forwarded by the listener: one of the `forwarders` read from them (the
///   `kafka_dlt-original-consumer-group` of the first record of each partition) is one of
///   the listener's [`forwarding_groups`] (`own`). This finds a topic whose records all wait
///   for their first retry from it, which its group never had a record of to commit.
///
/// Another service's topic has neither: its own group committed on it, and its records name
/// that service's groups.
pub fn is_own_orphan<'a>(
    committed: bool,
    forwarders: impl IntoIterator<Item = &'a str>,
    own: &[String],
) -> bool {
    committed || forwarders.into_iter().any(|f| own.iter().any(|g| g == f))
}

/// Whether a listener consumes its orphaned DLTs: only when it has a `#[dlt_handler]` to give
/// their dead letters to, a DLT of its own (`dlt` is not `none`) and its DLT handler starts
/// automatically (`auto_start_dlt`). Otherwise consuming them would only commit their dead
/// letters away; they are left alone, and named at start-up.
pub fn consumes_orphaned_dlts(
    has_dlt_handler: bool,
    dlt: &DltStrategy,
    auto_start_dlt: bool,
) -> bool {
    has_dlt_handler && *dlt != DltStrategy::None && auto_start_dlt
}

/// The records of a partition between its `low` and `high` watermarks that a group with the
/// `committed` offset (none: the group never committed, and reads from the earliest) has not
/// consumed.
pub fn unconsumed(low: i64, high: i64, committed: Option<i64>) -> u64 {
    let from = committed.unwrap_or(low).clamp(low, high.max(low));
    (high - from).max(0) as u64
}

/// The existing retry topics and DLTs of `policy`'s main topic that `plan` does not have,
/// found by [`discover_chain`] with the policy's suffixes and then with the default ones (a
/// changed suffix leaves topics named by the old one; a change between two custom suffixes
/// is not found). Candidates only: a listener drains one only when it
/// [is its own](is_own_orphan).
pub fn orphaned_topics(
    policy: &RetryPolicy,
    plan: &TopicPlan,
    existing: &[String],
) -> Vec<OrphanedTopic> {
    let own = (
        policy.retry_topic_suffix.as_str(),
        policy.dlt_topic_suffix.as_str(),
    );
    let default = (DEFAULT_RETRY_TOPIC_SUFFIX, DEFAULT_DLT_TOPIC_SUFFIX);
    let mut orphans: Vec<OrphanedTopic> = Vec::new();
    for (retry_suffix, dlt_suffix) in [own, default] {
        for member in discover_chain(&policy.topic, retry_suffix, dlt_suffix, existing) {
            let planned = plan.topics().any(|t| t.name == member.name);
            if planned || orphans.iter().any(|o| o.topic.name == member.name) {
                continue;
            }
            let kind = match member.dlt {
                true => DestinationKind::Dlt,
                false => DestinationKind::Retry {
                    delay: Duration::ZERO,
                },
            };
            orphans.push(OrphanedTopic {
                topic: DestinationTopic {
                    group: format!("{}{}", policy.group, member.suffix),
                    name: member.name,
                    kind,
                },
            });
        }
    }
    orphans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{SuffixStrategy, TopicReuse};
    use crate::RetryPolicyBuilder;

    fn existing(names: &str) -> Vec<String> {
        names.split_whitespace().map(str::to_owned).collect()
    }

    fn orders() -> RetryPolicyBuilder {
        RetryPolicy::builder("orders").group("billing")
    }

    /// The orphan candidates of the policy `builder` makes among `topics`: `name group` each.
    fn orphans(builder: RetryPolicyBuilder, topics: &str) -> Vec<String> {
        let policy = builder.build().unwrap();
        let plan = TopicPlan::new(&policy).unwrap();
        orphaned_topics(&policy, &plan, &existing(topics))
            .into_iter()
            .map(|o| format!("{} {}", o.topic.name, o.topic.group))
            .collect()
    }

    const DELAY_CHAIN: &str = "orders orders-retry-1000 orders-retry-2000 orders-retry-4000 \
                               orders-dlt";

    #[test]
    fn a_changed_backoff_orphans_the_delays_the_plan_lost() {
        let backoff = orders().attempts(3).backoff("2s*2".parse().unwrap());
        assert_eq!(
            orphans(backoff, DELAY_CHAIN),
            ["orders-retry-1000 billing-retry-1000"]
        );
        let fewer = orders().attempts(2).backoff("1s*2".parse().unwrap());
        assert_eq!(
            orphans(fewer, DELAY_CHAIN),
            [
                "orders-retry-1000 billing-retry-1000",
                "orders-retry-2000 billing-retry-2000",
                "orders-retry-4000 billing-retry-4000",
            ],
            "one retry topic is `orders-retry`"
        );
        let same = orders().attempts(4).backoff("1s*2".parse().unwrap());
        assert!(orphans(same, DELAY_CHAIN).is_empty());
    }

    #[test]
    fn a_changed_suffix_strategy_orphans_the_other_naming() {
        let index = orders()
            .attempts(4)
            .backoff("1s*2".parse().unwrap())
            .suffix(SuffixStrategy::Index);
        assert_eq!(
            orphans(index, DELAY_CHAIN),
            [
                "orders-retry-1000 billing-retry-1000",
                "orders-retry-2000 billing-retry-2000",
                "orders-retry-4000 billing-retry-4000",
            ]
        );
        let delay = orders().attempts(4).backoff("1s*2".parse().unwrap());
        assert_eq!(
            orphans(
                delay,
                "orders orders-retry-0 orders-retry-1 orders-retry-2 orders-dlt"
            ),
            [
                "orders-retry-0 billing-retry-0",
                "orders-retry-1 billing-retry-1",
                "orders-retry-2 billing-retry-2",
            ]
        );
    }

    #[test]
    fn a_changed_topic_reuse_orphans_the_numbered_topics() {
        let single = orders().attempts(3).backoff("5s".parse().unwrap());
        assert_eq!(
            orphans(single, "orders orders-retry-0 orders-retry-1 orders-dlt"),
            [
                "orders-retry-0 billing-retry-0",
                "orders-retry-1 billing-retry-1"
            ]
        );
        let multiple = orders()
            .attempts(3)
            .backoff("5s".parse().unwrap())
            .topic_reuse(TopicReuse::Multiple);
        assert_eq!(
            orphans(multiple, "orders orders-retry orders-retry-0 orders-dlt"),
            ["orders-retry billing-retry"]
        );
        let single = orders().attempts(5).backoff(
            "1s*2"
                .parse::<crate::Backoff>()
                .unwrap()
                .with_max_delay(Duration::from_secs(4))
                .unwrap(),
        );
        assert_eq!(
            orphans(
                single,
                "orders-retry-1000 orders-retry-2000 orders-retry-4000-0 orders-retry-4000-1"
            ),
            [
                "orders-retry-4000-0 billing-retry-4000-0",
                "orders-retry-4000-1 billing-retry-4000-1"
            ]
        );
    }

    #[test]
    fn custom_suffixes_find_their_own_topics_and_the_default_named_ones() {
        let custom = || {
            orders()
                .attempts(2)
                .retry_topic_suffix("-again")
                .dlt_topic_suffix("-dead")
        };
        assert_eq!(
            orphans(custom(), "orders orders-again orders-again-500 orders-dead"),
            ["orders-again-500 billing-again-500"]
        );
        assert_eq!(
            orphans(
                custom(),
                "orders orders-again orders-dead orders-retry-1000 orders-dlt"
            ),
            [
                "orders-retry-1000 billing-retry-1000",
                "orders-dlt billing-dlt"
            ],
            "back from the defaults"
        );
    }

    #[test]
    fn dead_letter_topics_the_plan_lost_are_orphans_too() {
        assert_eq!(
            orphans(
                orders().attempts(2),
                "orders orders-retry orders-validation-dlt orders-dlt"
            ),
            ["orders-validation-dlt billing-validation-dlt"],
            "a route that was removed"
        );
        assert_eq!(
            orphans(
                orders().attempts(2).dlt(DltStrategy::None),
                "orders orders-retry orders-dlt"
            ),
            ["orders-dlt billing-dlt"]
        );
        let policy = orders().attempts(2).dlt(DltStrategy::None).build().unwrap();
        let plan = TopicPlan::new(&policy).unwrap();
        let found = orphaned_topics(&policy, &plan, &existing("orders-dlt"));
        assert_eq!(found[0].topic.kind, DestinationKind::Dlt);
    }

    #[test]
    fn records_strand_when_the_group_has_not_consumed_them() {
        assert_eq!(unconsumed(0, 10, None), 10, "never committed: all of it");
        assert_eq!(unconsumed(4, 10, None), 6, "from the earliest kept");
        assert_eq!(unconsumed(0, 10, Some(7)), 3);
        assert_eq!(unconsumed(0, 10, Some(10)), 0);
        assert_eq!(
            unconsumed(5, 10, Some(2)),
            5,
            "a commit older than retention"
        );
        assert_eq!(unconsumed(0, 10, Some(12)), 0);
        assert_eq!(unconsumed(3, 3, None), 0, "empty");
    }

    /// The forwarding groups of billing's listener on `orders` whose chain has `topics`.
    fn billing_groups(topics: &str) -> Vec<String> {
        forwarding_groups(
            "billing",
            "orders",
            existing(topics).iter().map(String::as_str),
        )
    }

    #[test]
    fn a_listener_forwards_as_its_group_and_the_groups_of_its_chain() {
        assert_eq!(
            billing_groups("orders orders-retry-2000 orders-dlt orders-retry-1000"),
            [
                "billing",
                "billing-retry-2000",
                "billing-dlt",
                "billing-retry-1000"
            ]
        );
        assert_eq!(billing_groups(""), ["billing"]);
    }

    #[test]
    fn a_group_that_committed_on_a_topic_drains_it() {
        assert!(is_own_orphan(true, [], &billing_groups("orders")));
        assert!(
            is_own_orphan(true, ["shipping"], &billing_groups("orders")),
            "committed: consumed it, whoever else wrote to it"
        );
    }

    #[test]
    fn records_the_listener_forwarded_make_a_never_committed_topic_its_own() {
        let own = billing_groups("orders orders-retry-2000 orders-retry-1000");
        assert!(
            is_own_orphan(false, ["billing"], &own),
            "forwarded from the main topic, waiting for their first retry"
        );
        assert!(
            is_own_orphan(false, ["billing-retry-1000"], &own),
            "forwarded from a retry topic, on a record that reached it without the header"
        );
        assert!(
            is_own_orphan(false, ["shipping", "billing"], &own),
            "one partition holds the listener's records"
        );
        assert!(!is_own_orphan(false, [], &own), "no records: nothing waits");
        assert!(!is_own_orphan(false, ["shipping"], &own));
        assert!(
            !is_own_orphan(
                false,
                ["billing-eu", "billingx", "billing-retry-5000"],
                &own
            ),
            "groups that only start like the listener's"
        );
    }

    /// Service A (group billing) and service B (group shipping) on `orders`: B's chain is
    /// one of A's candidates by its names, read with A's group; A never committed on it, and
    /// B's groups forwarded its records.
    #[test]
    fn two_services_on_one_main_topic_keep_their_own_topics() {
        let shipping_topics = "orders orders-retry-1000 orders-retry-5000 orders-dlt";
        let billing = orders().attempts(3).backoff("1s*2".parse().unwrap());
        assert_eq!(
            orphans(billing, shipping_topics),
            ["orders-retry-5000 billing-retry-5000"],
            "a candidate by its name"
        );
        let own = billing_groups("orders orders-retry-1000 orders-retry-2000 orders-retry-5000");
        let billing_committed_on_shipping_topic = false;
        assert!(!is_own_orphan(
            billing_committed_on_shipping_topic,
            ["shipping", "shipping-retry-1000"],
            &own
        ));
    }

    #[test]
    fn orphaned_dlts_are_consumed_only_with_a_handler_a_dlt_and_auto_start() {
        assert!(consumes_orphaned_dlts(
            true,
            &DltStrategy::AlwaysRetry,
            true
        ));
        assert!(consumes_orphaned_dlts(true, &DltStrategy::Fail, true));
        assert!(!consumes_orphaned_dlts(
            false,
            &DltStrategy::AlwaysRetry,
            true
        ));
        assert!(!consumes_orphaned_dlts(true, &DltStrategy::None, true));
        assert!(!consumes_orphaned_dlts(
            true,
            &DltStrategy::AlwaysRetry,
            false
        ));
    }

    #[test]
    fn never_another_main_topics_chain() {
        let topics = "orders orders-eu orders-eu-retry-1000 orders-eu-dlt orders-eu-retry \
                      ordersx-retry-1000 orders-retryx orders-retry-x orders-retry-1000-y \
                      order-retry-1000 payments-retry-1000 orders-eu-validation-dlt";
        assert!(
            orphans(orders().attempts(2), topics).is_empty(),
            "{:?}",
            orphans(orders().attempts(2), topics)
        );
        let found = discover_chain("orders", "-retry", "-dlt", &existing(topics));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn discovers_retry_topics_in_order_and_dlts_last() {
        let found = discover_chain(
            "orders",
            "-retry",
            "-dlt",
            &existing(
                "orders-dlt orders-retry-4000 orders-retry-1000 orders-retry-2000 \
                 orders-validation-dlt orders",
            ),
        );
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "orders-retry-1000",
                "orders-retry-2000",
                "orders-retry-4000",
                "orders-validation-dlt",
                "orders-dlt"
            ]
        );
        assert_eq!(found[0].suffix, "-retry-1000");
        assert!(found[4].dlt && !found[0].dlt);
    }
}
