//! The retry topics and DLTs of a main topic, with the consumer groups that read them: named
//! by the naming rules from a listener's settings, or discovered among existing topics. With
//! `ordering = "key"`, the parked topic is one of them, and the lock log is named beside them.

use anyhow::Context;
use retry_core::{
    discover_chain, key_order_suffixes, orphaned_topics, Backoff, DestinationKind,
    DestinationTopic, RetryPolicy, SuffixStrategy, TopicPlan,
};

use crate::args::TopologyArgs;

/// One topic of a listener's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTopic {
    /// Its name.
    pub name: String,
    /// The suffix after the main topic's name (`-retry-1000`, `-dlt`; empty for the main
    /// topic): the listener group with this suffix is its consumer group.
    pub suffix: String,
    /// What it is for.
    pub role: Role,
}

/// What a topic of a chain is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The main topic.
    Main,
    /// The parked topic of `ordering = "key"`: records of a blocked key wait there for their
    /// turn, not for a due time.
    Parked,
    /// A retry topic.
    Retry,
    /// A dead-letter topic.
    Dlt,
}

/// A main topic's chain: main topic first, then the parked topic (when it exists: a listener
/// with `ordering = "key"` created it), retry topics in order, then DLTs, as the runtime
/// orders them (`TopicPlan::topics`).
pub fn chain(
    main: &str,
    args: &TopologyArgs,
    existing: &[String],
) -> anyhow::Result<Vec<ChainTopic>> {
    let mut chain = match (args.attempts, &args.backoff) {
        (Some(attempts), Some(backoff)) => planned(main, attempts, backoff, args)?,
        _ => discovered(main, &args.retry_suffix, &args.dlt_suffix, existing),
    };
    let (parked, _) = key_order_suffixes(&args.retry_suffix);
    let name = format!("{main}{parked}");
    if existing.contains(&name) {
        let parked = ChainTopic {
            name,
            suffix: parked,
            role: Role::Parked,
        };
        chain.insert(1, parked);
    }
    Ok(chain)
}

/// The lock log of `main` with `ordering = "key"`, by the naming rules
/// (`<main><retry suffix>-locks`); it may not exist.
pub fn lock_log(main: &str, args: &TopologyArgs) -> String {
    let (_, locks) = key_order_suffixes(&args.retry_suffix);
    format!("{main}{locks}")
}

/// The topic of a chain record's copy at `hop` (design/key-order.md): 0 is the parked
/// topic, `n` the topic of the n-th retry (the last retry topic for retries that reuse it).
/// `None` when `chain` has no such topic.
pub fn hop_topic(chain: &[ChainTopic], hop: u32) -> Option<&str> {
    if hop == 0 {
        return chain
            .iter()
            .find(|t| t.role == Role::Parked)
            .map(|t| t.name.as_str());
    }
    let retries: Vec<&ChainTopic> = chain.iter().filter(|t| t.role == Role::Retry).collect();
    let at = (hop as usize - 1).min(retries.len().checked_sub(1)?);
    Some(retries[at].name.as_str())
}

/// The chain the naming rules give for these settings.
fn planned(
    main: &str,
    attempts: u32,
    backoff: &str,
    args: &TopologyArgs,
) -> anyhow::Result<Vec<ChainTopic>> {
    let (_, plan) = plan(main, attempts, backoff, args)?;
    Ok(plan.topics().map(chain_topic).collect())
}

/// The retry topics and DLTs of `main` among `existing` that the chain named by `args`'
/// settings does not have (retry-core's [`orphaned_topics`]): candidates, each an orphan only
/// for a group that committed on it (`retry_core::is_own_orphan`); none when `args` name no
/// settings, since the discovered chain shows every topic then.
pub fn orphaned(
    main: &str,
    args: &TopologyArgs,
    existing: &[String],
) -> anyhow::Result<Vec<ChainTopic>> {
    let (Some(attempts), Some(backoff)) = (args.attempts, &args.backoff) else {
        return Ok(Vec::new());
    };
    let (policy, plan) = plan(main, attempts, backoff, args)?;
    Ok(orphaned_topics(&policy, &plan, existing)
        .iter()
        .map(|o| chain_topic(&o.topic))
        .collect())
}

/// The policy these settings describe, with an empty group, and its plan.
fn plan(
    main: &str,
    attempts: u32,
    backoff: &str,
    args: &TopologyArgs,
) -> anyhow::Result<(RetryPolicy, TopicPlan)> {
    let backoff: Backoff = backoff
        .parse()
        .with_context(|| format!("--backoff {backoff}"))?;
    let suffix = match args.suffix.as_str() {
        "delay" => SuffixStrategy::Delay,
        "index" => SuffixStrategy::Index,
        other => anyhow::bail!("--suffix {other}: expected `delay` or `index`"),
    };
    let policy = RetryPolicy::builder(main)
        .group("")
        .attempts(attempts)
        .backoff(backoff)
        .suffix(suffix)
        .retry_topic_suffix(args.retry_suffix.as_str())
        .dlt_topic_suffix(args.dlt_suffix.as_str())
        .build()?;
    let plan = TopicPlan::new(&policy)?;
    Ok((policy, plan))
}

/// A destination of a policy whose group is empty: each group name is its bare suffix.
fn chain_topic(t: &DestinationTopic) -> ChainTopic {
    ChainTopic {
        name: t.name.clone(),
        suffix: t.group.clone(),
        role: match t.kind {
            DestinationKind::Main => Role::Main,
            DestinationKind::Parked => Role::Parked,
            DestinationKind::Retry { .. } => Role::Retry,
            DestinationKind::Dlt => Role::Dlt,
        },
    }
}

/// The chain as found among `existing` topics, by retry-core's naming rule
/// ([`discover_chain`]), main topic first.
fn discovered(
    main: &str,
    retry_suffix: &str,
    dlt_suffix: &str,
    existing: &[String],
) -> Vec<ChainTopic> {
    let main = ChainTopic {
        name: main.to_owned(),
        suffix: String::new(),
        role: Role::Main,
    };
    let found = discover_chain(&main.name, retry_suffix, dlt_suffix, existing);
    std::iter::once(main)
        .chain(found.into_iter().map(|t| ChainTopic {
            name: t.name,
            suffix: t.suffix,
            role: match t.dlt {
                true => Role::Dlt,
                false => Role::Retry,
            },
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(attempts: Option<u32>, backoff: Option<&str>) -> TopologyArgs {
        TopologyArgs {
            attempts,
            backoff: backoff.map(str::to_owned),
            suffix: "delay".into(),
            retry_suffix: "-retry".into(),
            dlt_suffix: "-dlt".into(),
        }
    }

    fn names(chain: &[ChainTopic]) -> Vec<&str> {
        chain.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn discovers_retry_topics_in_order_and_dlts_last() {
        let existing: Vec<String> = [
            "update-item-dlt",
            "update-item-retry-4000",
            "update-item-retry-1000",
            "update-item-retry-2000",
            "update-item-validation-dlt",
            "update-item",
            "update-items",
            "update-item-retry-x",
            "create-item-retry",
        ]
        .map(str::to_owned)
        .to_vec();
        let chain = chain("update-item", &args(None, None), &existing).unwrap();
        assert_eq!(
            names(&chain),
            [
                "update-item",
                "update-item-retry-1000",
                "update-item-retry-2000",
                "update-item-retry-4000",
                "update-item-validation-dlt",
                "update-item-dlt",
            ]
        );
        assert_eq!(chain[1].suffix, "-retry-1000");
        assert!(chain[5].role == Role::Dlt && chain[1].role == Role::Retry);
    }

    #[test]
    fn names_the_chain_from_settings_as_the_runtime_does() {
        let four = chain_of("orders", Some(4), "1s*2");
        assert_eq!(
            names(&four),
            [
                "orders",
                "orders-retry-1000",
                "orders-retry-2000",
                "orders-retry-4000",
                "orders-dlt"
            ]
        );
        assert_eq!(four[4].suffix, "-dlt");
        let single = chain_of("orders", Some(2), "1s*2");
        assert_eq!(names(&single), ["orders", "orders-retry", "orders-dlt"]);
        let bad = chain("orders", &args(Some(2), Some("soon")), &[]).unwrap_err();
        assert!(format!("{bad:#}").contains("--backoff soon"), "{bad:#}");
    }

    #[test]
    fn orphans_are_the_existing_topics_the_named_chain_lacks() {
        let existing: Vec<String> = [
            "orders",
            "orders-retry-1000",
            "orders-retry-2000",
            "orders-dlt",
        ]
        .map(str::to_owned)
        .to_vec();
        let lost = orphaned("orders", &args(Some(3), Some("2s*2")), &existing).unwrap();
        assert_eq!(names(&lost), ["orders-retry-1000"]);
        assert_eq!(lost[0].suffix, "-retry-1000");
        assert!(orphaned("orders", &args(None, None), &existing)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_key_ordered_chain_has_its_parked_topic_after_the_main_topic() {
        let existing: Vec<String> = [
            "accounts",
            "accounts-retry",
            "accounts-retry-parked",
            "accounts-retry-locks",
            "accounts-dlt",
        ]
        .map(str::to_owned)
        .to_vec();
        for settings in [args(None, None), args(Some(3), Some("1s"))] {
            let chain = chain("accounts", &settings, &existing).unwrap();
            assert_eq!(
                names(&chain),
                [
                    "accounts",
                    "accounts-retry-parked",
                    "accounts-retry",
                    "accounts-dlt"
                ]
            );
            assert_eq!(chain[1].suffix, "-retry-parked", "its group's suffix too");
            assert_eq!(chain[1].role, Role::Parked);
            assert_eq!(lock_log("accounts", &settings), "accounts-retry-locks");
            assert_eq!(hop_topic(&chain, 0), Some("accounts-retry-parked"));
            assert_eq!(hop_topic(&chain, 1), Some("accounts-retry"));
            assert_eq!(
                hop_topic(&chain, 2),
                Some("accounts-retry"),
                "retries reuse the last topic"
            );
        }
        let plain = chain_of("orders", Some(4), "1s*2");
        assert_eq!(hop_topic(&plain, 0), None, "no parked topic");
        assert_eq!(hop_topic(&plain, 2), Some("orders-retry-2000"));
    }

    fn chain_of(main: &str, attempts: Option<u32>, backoff: &str) -> Vec<ChainTopic> {
        chain(main, &args(attempts, Some(backoff)), &[]).unwrap()
    }
}
