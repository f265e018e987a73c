//! The lock log of one main-topic partition, folded (design/key-order.md): which chain
//! records of each key are unresolved, which copy of each is the current one, and so which
//! copy a task may handle, which it must skip, and which must wait.
//!
//! Every reader folds the same log in the same order with [`LockLog::apply`], so every
//! instance decides every copy the same way.
//!
//! ```
//! use retry_core::{CopyAt, LockEntry, LockLog, LockOutcome, Verdict};
//!
//! let mut log = LockLog::default();
//! let retry_1 = CopyAt { hop: 1, offset: 40 };
//! let parked = CopyAt { hop: 0, offset: 7 };
//! // Record 100 of key "a" failed and was forwarded; record 103 arrived while "a" was blocked.
//! log.apply(LockEntry::Chain { key: "a", offset: 100, copy: retry_1 });
//! log.apply(LockEntry::Chain { key: "a", offset: 103, copy: parked });
//! assert!(log.is_blocked(&"a"));
//! assert_eq!(log.judge(&"a", 100, retry_1), Verdict::Current);
//! assert_eq!(log.judge(&"a", 103, parked), Verdict::Waiting, "its turn comes after 100");
//!
//! // The retry of 100 succeeds: the parked 103 is next.
//! log.apply(LockEntry::Outcome { key: "a", offset: 100, copy: retry_1, outcome: LockOutcome::Succeeded });
//! assert_eq!(log.judge(&"a", 103, parked), Verdict::Current);
//! assert_eq!(log.judge(&"a", 100, retry_1), Verdict::Stale, "a duplicate of a resolved record");
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Where a copy of a chain record is: its hop (`retry_topic-attempts`: 0 in the parked topic,
/// `n` in the topic of the n-th retry, which names the topic) and its offset in that topic.
/// The partition is the lock log's. A record's copies at later hops are written later, and
/// so are its copies at one hop with higher offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyAt {
    /// The copy's hop.
    pub hop: u32,
    /// The copy's offset in its topic.
    pub offset: i64,
}

/// What became of the current copy of a chain record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// The handler succeeded: the record is resolved.
    Succeeded,
    /// The handler failed and the record was forwarded to its next retry topic: that copy is
    /// the current one now.
    Forwarded(CopyAt),
    /// The record reached its DLT: it is resolved.
    DeadLettered,
}

/// One entry of the lock log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEntry<K> {
    /// Main-topic record `offset` of `key` entered the chain (failed, or parked because its
    /// key was blocked); `copy` is its first copy. The first such entry for a record counts.
    Chain {
        /// The record's key.
        key: K,
        /// The record's main-topic offset.
        offset: i64,
        /// Its first copy.
        copy: CopyAt,
    },
    /// The task that handled `copy` of chain record `offset` says what became of it. It
    /// counts only if `copy` is the key's current copy where the entry stands in the log.
    Outcome {
        /// The record's key.
        key: K,
        /// The record's main-topic offset.
        offset: i64,
        /// The copy that was handled.
        copy: CopyAt,
        /// What became of it.
        outcome: LockOutcome,
    },
    /// The main partition's committed offset, as the group coordinator acknowledged it:
    /// every chain entry of a main record below it is in the log before this entry.
    Floor(i64),
}

impl<K> LockEntry<K> {
    /// The record key the entry is about; `None` for a floor, which is about every key.
    pub fn key(&self) -> Option<&K> {
        match self {
            Self::Chain { key, .. } | Self::Outcome { key, .. } => Some(key),
            Self::Floor(_) => None,
        }
    }
}

/// What a task does with a copy it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The copy is its key's current one: handle it.
    Current,
    /// A duplicate the key has moved past (or one that never entered the chain): finish it
    /// without a handler call.
    Stale,
    /// The copy is named, but an earlier record of its key is unresolved: wait for it.
    Waiting,
    /// Not decided by the log yet (its entry, or the outcome that names it, is still to
    /// come): keep its position and judge it again when the key's state or the floor moves.
    Pending,
}

/// An entry of the log without its record key: with the key it is the entry again
/// ([`EntryId::entry`]), whose Kafka key a tombstone names once the key left the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryId {
    /// The chain entry of a main-topic offset, naming its first copy.
    Chain(i64, CopyAt),
    /// An outcome entry of a main-topic offset: the copy that was handled, and what became
    /// of it.
    Outcome(i64, CopyAt, LockOutcome),
}

impl EntryId {
    /// The entry of `key` this names.
    pub fn entry<K>(self, key: K) -> LockEntry<K> {
        match self {
            Self::Chain(offset, copy) => LockEntry::Chain { key, offset, copy },
            Self::Outcome(offset, copy, outcome) => LockEntry::Outcome {
                key,
                offset,
                copy,
                outcome,
            },
        }
    }
}

/// A key whose chain records are all resolved and below the floor: it left the folded
/// state, and its entries may be tombstoned (chain entries first, then outcomes, so
/// compaction never keeps a chain entry without the outcomes that resolved it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released<K> {
    /// The key.
    pub key: K,
    /// Its entries in the log, chain entries first.
    pub entries: Vec<EntryId>,
}

/// One key's chain, as folded.
#[derive(Debug)]
struct KeyChain {
    /// Unresolved chain records in offset order, each with its current copy.
    unresolved: VecDeque<(i64, CopyAt)>,
    /// The highest resolved chain record.
    resolved: Option<i64>,
    /// The entries that made this state.
    entries: Vec<EntryId>,
}

/// How much the folded lock log of one main-topic partition may hold before its main owner
/// stops reading (design/key-order.md, *Bounds*): the main-topic records that may enter the
/// chain are what grows it, so pausing them always lets the log shrink as keys resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBounds {
    /// Keys in the folded state: blocked ones, and those resolved since the last floor.
    pub keys: usize,
    /// Chain records not yet resolved (heads and parked records): what the parked and retry
    /// topics hold live for the partition.
    pub records: usize,
}

impl ChainBounds {
    /// 100,000 keys and 200,000 records per main partition: a few tens of MiB of folded
    /// state on each instance (bench/README.md measures it), far more than an outage of a
    /// handler's downstream blocks at the rates a partition sustains.
    pub const DEFAULT: Self = Self {
        keys: 100_000,
        records: 200_000,
    };
}

/// The folded lock log of one main-topic partition.
#[derive(Debug)]
pub struct LockLog<K> {
    keys: HashMap<K, KeyChain>,
    /// Chain records not yet resolved, over every key.
    unresolved: usize,
    /// Keys with nothing unresolved, by their highest resolved offset: they leave once the
    /// floor passes it.
    idle: BTreeMap<i64, Vec<K>>,
    floor: i64,
}

impl<K> Default for LockLog<K> {
    fn default() -> Self {
        Self {
            keys: HashMap::new(),
            idle: BTreeMap::new(),
            unresolved: 0,
            floor: i64::MIN,
        }
    }
}

impl<K: Hash + Eq + Clone> LockLog<K> {
    /// Folds the next entry of the log. Returns the keys that left the state: all their
    /// chain records resolved, below the floor.
    pub fn apply(&mut self, entry: LockEntry<K>) -> Vec<Released<K>> {
        match entry {
            LockEntry::Chain { key, offset, copy } => {
                self.chain(key, offset, copy);
                Vec::new()
            }
            LockEntry::Outcome {
                key,
                offset,
                copy,
                outcome,
            } => self.outcome(key, offset, copy, outcome),
            LockEntry::Floor(floor) => {
                self.floor = self.floor.max(floor);
                self.release_below_floor()
            }
        }
    }

    fn chain(&mut self, key: K, offset: i64, copy: CopyAt) {
        if offset < self.floor {
            // Every entry below the floor came before it; a later one is a zombie's, and its
            // copy is stale like any copy below the floor without an entry.
            return;
        }
        let chain = self.keys.entry(key.clone()).or_insert_with(|| KeyChain {
            unresolved: VecDeque::new(),
            resolved: None,
            entries: Vec::new(),
        });
        let known = chain.resolved.is_some_and(|r| offset <= r)
            || chain.unresolved.iter().any(|(o, _)| *o == offset);
        if known {
            // A later chain entry of a record (a duplicate's) leaves with its key, and is
            // tombstoned before the first: outliving it, a compacted log would fold it as
            // the record's first.
            chain.entries.insert(0, EntryId::Chain(offset, copy));
            return;
        }
        chain.entries.push(EntryId::Chain(offset, copy));
        if chain.unresolved.is_empty() {
            if let Some(resolved) = chain.resolved {
                remove_idle(&mut self.idle, resolved, &key);
            }
        }
        let at = chain.unresolved.partition_point(|(o, _)| *o < offset);
        chain.unresolved.insert(at, (offset, copy));
        self.unresolved += 1;
    }

    fn outcome(
        &mut self,
        key: K,
        offset: i64,
        copy: CopyAt,
        outcome: LockOutcome,
    ) -> Vec<Released<K>> {
        let Some(chain) = self.keys.get_mut(&key) else {
            return Vec::new();
        };
        let Some(front) = chain.unresolved.front_mut() else {
            return Vec::new();
        };
        // An outcome that does not count is not kept for tombstoning: it may repeat one
        // that counted in an earlier life of the key, whose chain entry its tombstone would
        // then outlive.
        if *front != (offset, copy) {
            return Vec::new();
        }
        chain.entries.push(EntryId::Outcome(offset, copy, outcome));
        match outcome {
            LockOutcome::Forwarded(next) => front.1 = next,
            LockOutcome::Succeeded | LockOutcome::DeadLettered => {
                chain.unresolved.pop_front();
                self.unresolved -= 1;
                chain.resolved = Some(offset);
                if chain.unresolved.is_empty() {
                    self.idle.entry(offset).or_default().push(key);
                    return self.release_below_floor();
                }
            }
        }
        Vec::new()
    }

    fn release_below_floor(&mut self) -> Vec<Released<K>> {
        let keep = self.idle.split_off(&self.floor);
        let leaving = std::mem::replace(&mut self.idle, keep);
        let mut released = Vec::new();
        for key in leaving.into_values().flatten() {
            if let Some(mut chain) = self.keys.remove(&key) {
                chain
                    .entries
                    .sort_by_key(|id| matches!(id, EntryId::Outcome(..)));
                released.push(Released {
                    key,
                    entries: chain.entries,
                });
            }
        }
        released
    }

    /// Decides a copy of chain record `offset` of `key`, found at `copy`.
    pub fn judge(&self, key: &K, offset: i64, copy: CopyAt) -> Verdict {
        let Some(chain) = self.keys.get(key) else {
            return self.unknown(offset);
        };
        if chain.resolved.is_some_and(|r| offset <= r) {
            return Verdict::Stale;
        }
        match chain.unresolved.iter().position(|(o, _)| *o == offset) {
            Some(at) => {
                let named = chain.unresolved[at].1;
                if named == copy && at == 0 {
                    Verdict::Current
                } else if named == copy {
                    Verdict::Waiting
                } else if copy > named {
                    // Written after the named copy: the outcome that names it may still be
                    // on its way.
                    Verdict::Pending
                } else {
                    // A duplicate the record moved past.
                    Verdict::Stale
                }
            }
            None => self.unknown(offset),
        }
    }

    /// A copy of a record with no chain entry: stale once the floor passed it (its entry
    /// would be in the log by now), pending before.
    fn unknown(&self, offset: i64) -> Verdict {
        if offset < self.floor {
            Verdict::Stale
        } else {
            Verdict::Pending
        }
    }

    /// Whether `key` has an unresolved chain record: its main-topic records are parked.
    pub fn is_blocked(&self, key: &K) -> bool {
        self.keys
            .get(key)
            .is_some_and(|chain| !chain.unresolved.is_empty())
    }

    /// Whether main-topic record `offset` of `key` was decided already, so a main owner
    /// reading it again skips it: it entered the chain, or a later record of its key did
    /// (a key's records are decided in offset order, so this one was handled before).
    pub fn decided(&self, key: &K, offset: i64) -> bool {
        self.keys.get(key).is_some_and(|chain| {
            let highest = chain.unresolved.back().map(|(o, _)| *o).or(chain.resolved);
            highest.is_some_and(|h| offset <= h)
        })
    }

    /// Every unresolved chain record: its key, its main-topic offset and its current copy,
    /// a key's records in offset order (keys in no order).
    pub fn unresolved_records(&self) -> impl Iterator<Item = (&K, i64, CopyAt)> + '_ {
        self.keys.iter().flat_map(|(key, chain)| {
            chain
                .unresolved
                .iter()
                .map(move |(offset, copy)| (key, *offset, *copy))
        })
    }

    /// Keys with an unresolved chain record.
    pub fn blocked_keys(&self) -> usize {
        self.keys
            .values()
            .filter(|chain| !chain.unresolved.is_empty())
            .count()
    }

    /// Keys in the folded state (blocked, or resolved above the floor).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Chain records not yet resolved, over every key.
    pub fn unresolved(&self) -> usize {
        self.unresolved
    }

    /// Whether the state reached `bounds`: the main owner reads no record until it shrinks.
    pub fn is_full(&self, bounds: ChainBounds) -> bool {
        self.keys.len() >= bounds.keys || self.unresolved >= bounds.records
    }

    /// The floor: the main partition's committed offset as last logged.
    pub fn floor(&self) -> i64 {
        self.floor
    }
}

fn remove_idle<K: Eq>(idle: &mut BTreeMap<i64, Vec<K>>, resolved: i64, key: &K) {
    if let Some(keys) = idle.get_mut(&resolved) {
        keys.retain(|k| k != key);
        if keys.is_empty() {
            idle.remove(&resolved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const fn at(hop: u32, offset: i64) -> CopyAt {
        CopyAt { hop, offset }
    }

    fn chain(key: &'static str, offset: i64, copy: CopyAt) -> LockEntry<&'static str> {
        LockEntry::Chain { key, offset, copy }
    }

    fn outcome(
        key: &'static str,
        offset: i64,
        copy: CopyAt,
        outcome: LockOutcome,
    ) -> LockEntry<&'static str> {
        LockEntry::Outcome {
            key,
            offset,
            copy,
            outcome,
        }
    }

    #[test]
    fn the_first_chain_entry_wins_and_other_copies_wait_for_it() {
        let mut log = LockLog::default();
        log.apply(chain("k", 5, at(1, 10)));
        log.apply(chain("k", 5, at(1, 11)));
        assert_eq!(log.judge(&"k", 5, at(1, 10)), Verdict::Current);
        assert_eq!(log.judge(&"k", 5, at(1, 11)), Verdict::Pending);
        assert_eq!(
            log.judge(&"k", 5, at(1, 9)),
            Verdict::Stale,
            "written before it"
        );
        assert!(log.decided(&"k", 5) && !log.decided(&"k", 6));
        log.apply(outcome("k", 5, at(1, 10), LockOutcome::Succeeded));
        assert_eq!(log.judge(&"k", 5, at(1, 11)), Verdict::Stale);
    }

    #[test]
    fn a_forwarded_copy_read_before_its_outcome_waits_for_it() {
        let mut log = LockLog::default();
        log.apply(chain("k", 5, at(0, 3)));
        let next = at(1, 40);
        assert_eq!(
            log.judge(&"k", 5, next),
            Verdict::Pending,
            "not stale: not lost"
        );
        log.apply(outcome("k", 5, at(0, 3), LockOutcome::Forwarded(next)));
        assert_eq!(log.judge(&"k", 5, next), Verdict::Current);
    }

    #[test]
    fn the_state_is_full_at_either_bound_and_shrinks_as_keys_resolve() {
        let bounds = ChainBounds {
            keys: 2,
            records: 3,
        };
        let mut log = LockLog::default();
        log.apply(chain("a", 1, at(1, 1)));
        log.apply(chain("a", 2, at(0, 1)));
        assert!(!log.is_full(bounds));
        log.apply(chain("a", 3, at(0, 2)));
        assert_eq!(log.unresolved(), 3);
        assert!(log.is_full(bounds), "three records unresolved");
        log.apply(outcome("a", 1, at(1, 1), LockOutcome::Succeeded));
        assert!(!log.is_full(bounds));
        log.apply(chain("b", 4, at(1, 2)));
        assert!(log.is_full(bounds), "two keys");
        log.apply(outcome("a", 2, at(0, 1), LockOutcome::DeadLettered));
        log.apply(outcome("a", 3, at(0, 2), LockOutcome::Succeeded));
        assert!(
            log.is_full(bounds),
            "a resolved key stays until the floor passes it"
        );
        log.apply(LockEntry::Floor(10));
        assert!(!log.is_full(bounds));
        assert_eq!((log.keys(), log.unresolved()), (1, 1));
    }

    #[test]
    fn a_record_before_a_chained_one_of_its_key_was_decided() {
        let mut log = LockLog::default();
        log.apply(chain("k", 7, at(1, 1)));
        assert!(log.decided(&"k", 6), "handled before 7 entered the chain");
        log.apply(outcome("k", 7, at(1, 1), LockOutcome::Succeeded));
        assert!(log.decided(&"k", 6) && log.decided(&"k", 7) && !log.decided(&"k", 8));
        assert!(!log.decided(&"other", 6));
    }

    #[test]
    fn a_forward_moves_the_current_copy_and_stale_outcomes_are_ignored() {
        let mut log = LockLog::default();
        log.apply(chain("k", 5, at(1, 10)));
        log.apply(outcome("k", 5, at(1, 10), LockOutcome::Forwarded(at(2, 3))));
        assert_eq!(log.judge(&"k", 5, at(1, 10)), Verdict::Stale);
        assert_eq!(log.judge(&"k", 5, at(2, 3)), Verdict::Current);
        // A duplicate of the first copy succeeded late: it does not resolve the record.
        log.apply(outcome("k", 5, at(1, 10), LockOutcome::Succeeded));
        assert!(log.is_blocked(&"k"));
        log.apply(outcome("k", 5, at(2, 3), LockOutcome::DeadLettered));
        assert!(!log.is_blocked(&"k"));
        assert_eq!(log.judge(&"k", 5, at(2, 3)), Verdict::Stale);
    }

    #[test]
    fn copies_without_an_entry_wait_until_the_floor_passes_them() {
        let mut log: LockLog<&str> = LockLog::default();
        assert_eq!(log.judge(&"k", 5, at(1, 10)), Verdict::Pending);
        log.apply(LockEntry::Floor(5));
        assert_eq!(
            log.judge(&"k", 5, at(1, 10)),
            Verdict::Pending,
            "5 is not below"
        );
        log.apply(LockEntry::Floor(6));
        assert_eq!(log.judge(&"k", 5, at(1, 10)), Verdict::Stale);
        log.apply(LockEntry::Floor(2));
        assert_eq!(log.floor(), 6, "the floor never goes back");
    }

    #[test]
    fn a_chain_entry_for_an_earlier_record_goes_first() {
        let mut log = LockLog::default();
        log.apply(chain("k", 9, at(0, 1)));
        log.apply(chain("k", 4, at(1, 1)));
        assert_eq!(log.judge(&"k", 4, at(1, 1)), Verdict::Current);
        assert_eq!(log.judge(&"k", 9, at(0, 1)), Verdict::Waiting);
    }

    #[test]
    fn a_key_leaves_once_resolved_below_the_floor_chain_entries_first() {
        let mut log = LockLog::default();
        log.apply(chain("k", 5, at(1, 10)));
        log.apply(chain("k", 7, at(0, 2)));
        log.apply(outcome("k", 5, at(1, 10), LockOutcome::Succeeded));
        log.apply(outcome("k", 7, at(0, 2), LockOutcome::Succeeded));
        assert!(
            log.apply(LockEntry::Floor(7)).is_empty(),
            "7 is not below 7"
        );
        assert_eq!(log.keys(), 1);
        let released = log.apply(LockEntry::Floor(8));
        assert_eq!(
            released,
            [Released {
                key: "k",
                entries: vec![
                    EntryId::Chain(5, at(1, 10)),
                    EntryId::Chain(7, at(0, 2)),
                    EntryId::Outcome(5, at(1, 10), LockOutcome::Succeeded),
                    EntryId::Outcome(7, at(0, 2), LockOutcome::Succeeded),
                ],
            }]
        );
        assert_eq!((log.keys(), log.blocked_keys()), (0, 0));
        assert_eq!(log.judge(&"k", 7, at(0, 2)), Verdict::Stale);
    }

    #[test]
    fn a_key_blocked_again_is_not_released_by_its_earlier_resolution() {
        let mut log = LockLog::default();
        log.apply(chain("k", 5, at(1, 10)));
        log.apply(outcome("k", 5, at(1, 10), LockOutcome::Succeeded));
        log.apply(chain("k", 9, at(1, 11)));
        assert!(log.apply(LockEntry::Floor(20)).is_empty());
        assert_eq!(log.judge(&"k", 9, at(1, 11)), Verdict::Current);
    }

    /// One step of a simulated listener: a main owner adding chain records (sometimes twice,
    /// as after a crash), tasks handling copies (current or not, as duplicates and zombies
    /// do), and floors.
    #[derive(Debug, Clone)]
    enum Step {
        Enter {
            key: u8,
            duplicate: bool,
        },
        Handle {
            key: u8,
            pick: usize,
            result: u8,
        },
        /// The oldest outcome still on its way lands in the log.
        Land,
        Floor,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..3, any::<bool>()).prop_map(|(key, duplicate)| Step::Enter { key, duplicate }),
            (0u8..3, any::<usize>(), 0u8..3).prop_map(|(key, pick, result)| Step::Handle {
                key,
                pick,
                result
            }),
            Just(Step::Land),
            Just(Step::Floor),
        ]
    }

    proptest! {
        /// Whatever copies are handled, and whatever outcomes duplicates report late: a copy
        /// is current only for its key's oldest unresolved record, a resolved record is never
        /// current again, and a log compacted after tombstones (chain entries first, any
        /// prefix of them) folds to the same verdicts.
        #[test]
        fn one_current_copy_per_key_in_offset_order(steps in proptest::collection::vec(step(), 1..150), cuts in proptest::collection::vec(any::<usize>(), 20)) {
            let mut log = LockLog::default();
            let mut entries: Vec<LockEntry<u8>> = Vec::new();
            let mut copies: Vec<(u8, i64, CopyAt)> = Vec::new();
            let mut unresolved: HashMap<u8, Vec<i64>> = HashMap::new();
            let mut resolved: Vec<(u8, i64)> = Vec::new();
            let mut released = Vec::new();
            let mut ever_current = Vec::new();
            let mut judged_stale = Vec::new();
            let mut on_the_way = VecDeque::new();
            let mut next_offset = 0i64;
            let mut next_copy = 0i64;
            for step in steps {
                let entry = match step {
                    Step::Enter { key, duplicate } => {
                        let offset = match copies.iter().rev().find(|(k, _, _)| *k == key) {
                            Some((_, offset, _)) if duplicate => *offset,
                            _ => { next_offset += 1; next_offset }
                        };
                        next_copy += 1;
                        let copy = at(u32::from(duplicate), next_copy);
                        copies.push((key, offset, copy));
                        let list = unresolved.entry(key).or_default();
                        if !list.contains(&offset) && !resolved.contains(&(key, offset)) {
                            list.push(offset);
                        }
                        LockEntry::Chain { key, offset, copy }
                    }
                    Step::Handle { key, pick, result } => {
                        let of_key: Vec<_> = copies.iter().filter(|(k, _, _)| *k == key).copied().collect();
                        if of_key.is_empty() { continue; }
                        let (_, offset, copy) = of_key[pick % of_key.len()];
                        let verdict = log.judge(&key, offset, copy);
                        if verdict == Verdict::Stale {
                            judged_stale.push(copy);
                        }
                        if verdict == Verdict::Current {
                            prop_assert!(!judged_stale.contains(&copy), "{:?} was skipped as stale, then current: lost", copy);
                            let oldest = unresolved[&key].iter().min().copied();
                            prop_assert_eq!(Some(offset), oldest, "current but not the oldest");
                            prop_assert!(!resolved.contains(&(key, offset)));
                        }
                        // A duplicate reports an outcome late, after its key moved on; a
                        // copy that was never current is never handled, so never reports.
                        if verdict == Verdict::Current {
                            ever_current.push(copy);
                        } else if !ever_current.contains(&copy) {
                            continue;
                        }
                        let outcome = match result {
                            0 => LockOutcome::Succeeded,
                            1 => { next_copy += 1; let next = at(copy.hop + 1, next_copy); copies.push((key, offset, next)); LockOutcome::Forwarded(next) }
                            _ => LockOutcome::DeadLettered,
                        };
                        if verdict == Verdict::Current && !matches!(outcome, LockOutcome::Forwarded(_)) {
                            unresolved.get_mut(&key).unwrap().retain(|o| *o != offset);
                            resolved.push((key, offset));
                        }
                        let entry = LockEntry::Outcome { key, offset, copy, outcome };
                        if matches!(outcome, LockOutcome::Forwarded(_)) && pick % 2 == 1 {
                            // The forward is acknowledged, its outcome entry not yet: the
                            // next copy can be read before the log names it.
                            on_the_way.push_back(entry);
                            continue;
                        }
                        entry
                    }
                    Step::Land => match on_the_way.pop_front() {
                        Some(entry) => entry,
                        None => continue,
                    },
                    Step::Floor => LockEntry::Floor(next_offset + 1),
                };
                entries.push(entry.clone());
                released.extend(log.apply(entry));
            }
            let model: usize = unresolved.values().map(Vec::len).sum();
            prop_assert_eq!(log.unresolved(), model, "unresolved chain records, as counted for the bounds");
            // Compaction after tombstones: for each released key, any prefix of its entries
            // (chain entries first) is gone from the log.
            let mut gone: Vec<(u8, EntryId)> = Vec::new();
            for (r, cut) in released.iter().zip(cuts.iter().cycle()) {
                let n = cut % (r.entries.len() + 1);
                gone.extend(r.entries[..n].iter().map(|id| (r.key, *id)));
            }
            let mut compacted = LockLog::default();
            for entry in entries {
                let id = match &entry {
                    LockEntry::Chain { key, offset, copy } => Some((*key, EntryId::Chain(*offset, *copy))),
                    LockEntry::Outcome { key, offset, copy, outcome } => Some((*key, EntryId::Outcome(*offset, *copy, *outcome))),
                    LockEntry::Floor(_) => None,
                };
                if id.is_some_and(|id| gone.contains(&id)) { continue; }
                compacted.apply(entry);
            }
            prop_assert_eq!(compacted.unresolved(), model);
            for (key, offset, copy) in copies {
                prop_assert_eq!(log.judge(&key, offset, copy), compacted.judge(&key, offset, copy), "copy {:?} of {} {}", copy, key, offset);
            }
        }
    }
}
