//! The accounting every scenario ends with: each key handled (at least once) or dead-lettered.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use retry_runtime::testing::{ReadRecord, TestKafka};

use crate::listener::{HANDLED, TOPIC};
use crate::orders::dies;

/// The outcome over a known set of keys.
#[derive(Debug, Default)]
pub struct Accounting {
    pub expected: usize,
    pub handled: usize,
    pub dead_lettered: usize,
    pub lost: Vec<String>,
    pub duplicates: usize,
    /// Duplicates the scenario allows (see each scenario); more is a failure.
    pub duplicate_bound: usize,
    pub misplaced: Vec<String>,
    /// Rules of the scenario broken (the key-order oracle's); any is a failure.
    pub violations: Vec<String>,
}

impl Accounting {
    /// `handled` records of `fault-handled` (key = order id) and `dlt` records (key = record
    /// key) against `expected` keys. `should_die(key)` says which keys belong in the DLT.
    pub fn of(
        expected: &BTreeSet<String>,
        handled: &[ReadRecord],
        dlt: &[ReadRecord],
        should_die: impl Fn(&str) -> bool,
    ) -> Self {
        let key = |r: &ReadRecord| {
            String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned()
        };
        Self::of_names(
            expected,
            &handled.iter().map(key).collect::<Vec<_>>(),
            &dlt.iter().map(key).collect::<Vec<_>>(),
            should_die,
        )
    }

    /// The same over the names of what was handled and what was dead-lettered, one per
    /// success or dead letter (a name seen twice is a duplicate).
    pub fn of_names(
        expected: &BTreeSet<String>,
        handled: &[String],
        dlt: &[String],
        should_die: impl Fn(&str) -> bool,
    ) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for name in handled.iter().chain(dlt) {
            *counts.entry(name).or_default() += 1;
        }
        let handled_keys: BTreeSet<String> = handled.iter().cloned().collect();
        let dlt_keys: BTreeSet<String> = dlt.iter().cloned().collect();
        Self {
            expected: expected.len(),
            handled: handled_keys.intersection(expected).count(),
            dead_lettered: dlt_keys.intersection(expected).count(),
            lost: expected
                .iter()
                .filter(|k| !handled_keys.contains(*k) && !dlt_keys.contains(*k))
                .cloned()
                .collect(),
            duplicates: counts.values().map(|c| c - 1).sum(),
            duplicate_bound: usize::MAX,
            misplaced: expected
                .iter()
                .filter(|k| {
                    (should_die(k) && handled_keys.contains(*k))
                        || (!should_die(k) && dlt_keys.contains(*k))
                })
                .cloned()
                .collect(),
            violations: Vec::new(),
        }
    }

    pub fn complete(&self) -> bool {
        self.lost.is_empty()
    }

    /// Sets the duplicates the scenario allows.
    pub fn bounded(mut self, duplicates: usize) -> Self {
        self.duplicate_bound = duplicates;
        self
    }

    /// Nothing lost or misplaced, no rule broken, duplicates within the bound.
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.misplaced.is_empty()
            && self.violations.is_empty()
            && self.duplicates <= self.duplicate_bound
    }

    pub fn print(&self, scenario: &str) {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        println!(
            "{scenario:<28} {verdict}  expected {:>5}  handled {:>5}  dead-lettered {:>4}  lost {:>3}  duplicates {:>4} (<= {:>4})  misplaced {:>3}",
            self.expected,
            self.handled,
            self.dead_lettered,
            self.lost.len(),
            self.duplicates,
            self.duplicate_bound,
            self.misplaced.len()
        );
        if !self.lost.is_empty() {
            println!("    lost: {:?}", &self.lost[..self.lost.len().min(20)]);
        }
        if !self.misplaced.is_empty() {
            println!(
                "    misplaced: {:?}",
                &self.misplaced[..self.misplaced.len().min(20)]
            );
        }
        if !self.violations.is_empty() {
            println!("    {} violations:", self.violations.len());
            for violation in &self.violations[..self.violations.len().min(20)] {
                println!("      {violation}");
            }
        }
    }
}

/// Accounts until every key is handled or dead-lettered, or `limit` passes.
pub async fn settle(
    kafka: &TestKafka,
    expected: &BTreeSet<String>,
    limit: Duration,
) -> anyhow::Result<Accounting> {
    settle_on(kafka, TOPIC, expected, dies, limit).await
}

/// [`settle`] for the orders of `topic`, whose DLT is `<topic>-dlt`, `should_die(key)`
/// saying which keys belong there.
pub async fn settle_on(
    kafka: &TestKafka,
    topic: &str,
    expected: &BTreeSet<String>,
    should_die: impl Fn(&str) -> bool,
    limit: Duration,
) -> anyhow::Result<Accounting> {
    let start = Instant::now();
    loop {
        let handled = kafka.read_all(HANDLED).await?;
        let dlt = kafka.read_all(&format!("{topic}-dlt")).await?;
        let accounting = Accounting::of(expected, &handled, &dlt, &should_die);
        if accounting.complete() || start.elapsed() > limit {
            return Ok(accounting);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
