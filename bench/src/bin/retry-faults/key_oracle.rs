//! The key-order oracle: the rules every key's handler calls must keep under
//! `ordering = "key"`, checked over the journal of every call (all processes) and the DLT.
//!
//! Per key:
//! 1. no two calls overlap in time, across processes (one machine's clock: no skew to allow
//!    for); a call cut by a kill -9 lasts until its process died;
//! 2. no call of sequence `n` starts before every earlier sequence of the key (a key's
//!    sequences are 0, 1, 2, ...) ended a call that succeeded or failed its last attempt;
//! 3. successes come in sequence order, replays aside: a success below the key's highest
//!    success so far must repeat a sequence that succeeded already (a replay of what a killed
//!    process had handled since its last commit), must be a first delivery (a retry that goes
//!    back is the stale copy key order exists to stop), and the key's last success of each
//!    sequence comes in sequence order (a replay runs on to the key's end, so the key ends
//!    at its last record);
//! 4. the DLT holds the key's records in sequence order (duplicates adjacent).
//!
//! Every sequence resolved (a success or a dead letter), and none in the wrong place, is
//! [`Accounting`](crate::accounting::Accounting)'s part.

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::{Call, Outcome};

/// The name of `key`'s record `seq` in the accounting: `key/seq`.
pub fn name(key: &str, seq: u32) -> String {
    format!("{key}/{seq}")
}

/// Whether `call` resolved its record: it succeeded, or failed the last of `attempts`.
fn resolves(call: &Call, attempts: u32) -> bool {
    call.outcome == Outcome::Succeeded
        || (call.outcome == Outcome::Failed && call.attempt >= attempts)
}

/// The rules broken by `calls` (every key's, any order) and `dlt` (the DLT's `(key, seq)`
/// in partition order, so each key's in log order), with `attempts` deliveries per record:
/// one line each, naming the calls.
pub fn violations(calls: &[Call], dlt: &[(String, u32)], attempts: u32) -> Vec<String> {
    let mut by_key: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for call in calls {
        by_key.entry(call.key.as_str()).or_default().push(call);
    }
    let mut found = Vec::new();
    for (key, mut calls) in by_key {
        calls.sort_by_key(|c| (c.start_us, c.pid, c.id));
        overlaps(key, &calls, &mut found);
        early_starts(key, &calls, attempts, &mut found);
        success_order(key, &calls, &mut found);
    }
    dlt_order(dlt, &mut found);
    found
}

/// Rule 1.
fn overlaps(key: &str, calls: &[&Call], found: &mut Vec<String>) {
    let mut longest: Option<&Call> = None;
    for &call in calls {
        if let Some(before) = longest.filter(|b| b.end_us > call.start_us) {
            found.push(format!("{key}: calls overlap: {before:?} and {call:?}"));
        }
        if longest.is_none_or(|b| call.end_us > b.end_us) {
            longest = Some(call);
        }
    }
}

/// Rule 2.
fn early_starts(key: &str, calls: &[&Call], attempts: u32, found: &mut Vec<String>) {
    for &call in calls {
        for earlier in 0..call.seq {
            let resolved = calls
                .iter()
                .any(|c| c.seq == earlier && resolves(c, attempts) && c.end_us <= call.start_us);
            if !resolved {
                found.push(format!(
                    "{key}: {call:?} started before record {earlier} was resolved"
                ));
            }
        }
    }
}

/// Rule 3.
fn success_order(key: &str, calls: &[&Call], found: &mut Vec<String>) {
    let successes: Vec<&Call> = calls
        .iter()
        .copied()
        .filter(|c| c.outcome == Outcome::Succeeded)
        .collect();
    let mut highest: Option<&Call> = None;
    let mut succeeded = BTreeSet::new();
    for &call in &successes {
        if let Some(high) = highest.filter(|h| h.seq > call.seq) {
            if !succeeded.contains(&call.seq) {
                found.push(format!(
                    "{key}: record {} first succeeded after record {} did: {call:?} after {high:?}",
                    call.seq, high.seq
                ));
            } else if call.attempt != 1 {
                found.push(format!(
                    "{key}: a retry went back past record {}: {call:?} after {high:?}",
                    high.seq
                ));
            }
        }
        succeeded.insert(call.seq);
        if highest.is_none_or(|h| call.seq >= h.seq) {
            highest = Some(call);
        }
    }
    let mut last: BTreeMap<u32, &Call> = BTreeMap::new();
    for &call in &successes {
        last.insert(call.seq, call);
    }
    let lasts: Vec<&Call> = last.into_values().collect();
    for pair in lasts.windows(2) {
        if (pair[1].start_us, pair[1].pid, pair[1].id) < (pair[0].start_us, pair[0].pid, pair[0].id)
        {
            found.push(format!(
                "{key}: the key ends at a replay: the last success of record {} is after record {}'s: {:?} after {:?}",
                pair[0].seq, pair[1].seq, pair[0], pair[1]
            ));
        }
    }
}

/// Rule 4.
fn dlt_order(dlt: &[(String, u32)], found: &mut Vec<String>) {
    let mut highest: BTreeMap<&str, u32> = BTreeMap::new();
    for (key, seq) in dlt {
        let high = highest.entry(key).or_insert(*seq);
        if *seq < *high {
            found.push(format!(
                "{key}: the DLT holds record {seq} after record {high}"
            ));
        }
        *high = (*high).max(*seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTEMPTS: u32 = 3;

    /// A call of key `k` by process 1: `(seq, attempt, start, end, outcome)`.
    fn call(
        id: u64,
        (seq, attempt, start_us, end_us, outcome): (u32, u32, u64, u64, Outcome),
    ) -> Call {
        Call {
            pid: 1,
            id,
            key: "k".into(),
            seq,
            attempt,
            start_us,
            end_us,
            outcome,
        }
    }

    fn journal(calls: &[(u32, u32, u64, u64, Outcome)]) -> Vec<Call> {
        calls
            .iter()
            .enumerate()
            .map(|(id, c)| call(id as u64, *c))
            .collect()
    }

    use Outcome::{Cut, Failed, Succeeded};

    /// Record 0 fails once, record 1 always fails (dead-lettered), record 2 succeeds; a kill
    /// cuts a call of record 2, and a restart replays records 2 and 3 after they succeeded.
    fn good() -> Vec<(u32, u32, u64, u64, Outcome)> {
        vec![
            (0, 1, 0, 10, Failed),
            (0, 2, 20, 30, Succeeded),
            (1, 1, 30, 40, Failed),
            (1, 2, 50, 60, Failed),
            (1, 3, 70, 80, Failed),
            (2, 1, 80, 90, Cut),
            (2, 1, 100, 110, Succeeded),
            (3, 1, 110, 120, Succeeded),
            (2, 1, 200, 210, Succeeded),
            (3, 1, 210, 220, Succeeded),
        ]
    }

    #[test]
    fn a_journal_that_keeps_every_rule_passes() {
        let dlt = [("k".to_owned(), 1), ("k".to_owned(), 1)];
        assert_eq!(
            violations(&journal(&good()), &dlt, ATTEMPTS),
            Vec::<String>::new()
        );
    }

    fn broken(change: impl FnOnce(&mut Vec<(u32, u32, u64, u64, Outcome)>)) -> Vec<String> {
        let mut calls = good();
        change(&mut calls);
        violations(&journal(&calls), &[], ATTEMPTS)
    }

    #[test]
    fn overlapping_calls_of_a_key_break_rule_1() {
        // Record 3 starts while record 2's call is running (in another process).
        let found = broken(|c| c[7] = (3, 1, 105, 120, Succeeded));
        assert!(
            found.iter().any(|v| v.contains("calls overlap")),
            "{found:?}"
        );
        // A cut call lasts until its process died.
        let found = broken(|c| c[5] = (2, 1, 80, 101, Cut));
        assert!(
            found.iter().any(|v| v.contains("calls overlap")),
            "{found:?}"
        );
    }

    #[test]
    fn a_start_before_an_earlier_record_resolved_breaks_rule_2() {
        // Record 2 starts while record 1 waits for its last attempt.
        let found = broken(|c| {
            c[5] = (2, 1, 62, 68, Failed);
        });
        assert!(
            found
                .iter()
                .any(|v| v.contains("before record 1 was resolved")),
            "{found:?}"
        );
        // A record never handled does not resolve either.
        let found = broken(|c| c.retain(|c| c.0 != 1));
        assert!(
            found
                .iter()
                .any(|v| v.contains("before record 1 was resolved")),
            "{found:?}"
        );
        // A failure before the last attempt does not resolve.
        let found = broken(|c| {
            c[4] = (1, 2, 70, 80, Failed);
        });
        assert!(
            found
                .iter()
                .any(|v| v.contains("before record 1 was resolved")),
            "{found:?}"
        );
    }

    #[test]
    fn successes_out_of_order_break_rule_3() {
        // A stale retry of record 2 succeeds after record 3 (and nothing follows it).
        let found = broken(|c| {
            c.truncate(8);
            c.push((2, 2, 130, 140, Succeeded));
        });
        assert!(
            found.iter().any(|v| v.contains("a retry went back")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|v| v.contains("ends at a replay")),
            "{found:?}"
        );
        // A replay that stops short of the key's end.
        let found = broken(|c| {
            c.pop();
        });
        assert!(
            found.iter().any(|v| v.contains("ends at a replay")),
            "{found:?}"
        );
        // Record 0 first succeeds after record 2 did: a retry that had failed its last
        // attempt succeeds later (it breaks no start rule, record 0 having been resolved).
        let found = broken(|c| {
            c[1] = (0, 2, 20, 30, Failed);
            c.push((0, 3, 12, 18, Failed));
            c.push((0, 3, 300, 310, Succeeded));
        });
        assert!(
            found.iter().any(|v| v.contains("first succeeded after")),
            "{found:?}"
        );
    }

    #[test]
    fn dead_letters_out_of_order_break_rule_4() {
        let dlt = [("k".to_owned(), 4), ("k".to_owned(), 1)];
        let found = violations(&[], &dlt, ATTEMPTS);
        assert!(
            found
                .iter()
                .any(|v| v.contains("the DLT holds record 1 after record 4")),
            "{found:?}"
        );
    }
}
