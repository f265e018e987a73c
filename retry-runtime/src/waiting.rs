//! The records a key-ordered task keeps until the lock log's fold moves (design/key-order.md,
//! *Copies set aside*): copies waiting for an earlier record of their key, or for the entry
//! that names them. They are kept in memory; once the task has no room left to read, those
//! that have waited [`SET_ASIDE_AFTER`] are **set aside**: kept by position only, so the
//! task reads on, and read again once their turn comes (copies set aside one after the other
//! are read again in one pass, [`crate::refetch`]). Copies that wait briefly (a retry's
//! backoff of a second or two) are never read twice.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use retry_core::{ChainLink, ProgressTicket, RecordKey};

use crate::in_hand::InHand;
use crate::lanes::Lane;

/// How long a waiting record is kept in memory, at least, before a task with no room left
/// sets it aside.
pub(crate) const SET_ASIDE_AFTER: Duration = Duration::from_secs(5);

/// A record kept until the fold moves, with its ticket.
pub(crate) struct Waiting<'q> {
    pub ticket: ProgressTicket,
    /// The record; `None` once set aside.
    pub message: Option<InHand<'q>>,
    /// Its footprint, as read.
    pub footprint: usize,
    pub lane: Lane,
    pub link: ChainLink<RecordKey>,
}

/// A task's waiting records.
#[derive(Default)]
pub(crate) struct WaitingRecords<'q> {
    by_key: HashMap<RecordKey, Vec<Waiting<'q>>>,
    /// Records set aside (waiting, or whose turn came and not read again yet), and their
    /// footprints.
    aside: usize,
    aside_bytes: usize,
    /// Records set aside whose turn came, by offset: to read again.
    turned: BTreeMap<i64, Waiting<'q>>,
    /// The records kept in memory by offset (so in the order they were kept), with when
    /// they were kept and their key.
    kept_since: BTreeMap<i64, (Instant, RecordKey)>,
}

impl<'q> WaitingRecords<'q> {
    /// Whether no record waits for the fold (records whose turn came do not).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Whether a record of `lane` waits, or was set aside and is not read again yet.
    pub fn waits_in(&self, lane: Lane) -> bool {
        self.by_key.values().flatten().any(|w| w.lane == lane)
            || self.turned.values().any(|w| w.lane == lane)
    }

    /// Whether a record of `key` waits.
    pub fn has_key(&self, key: &RecordKey) -> bool {
        self.by_key.contains_key(key)
    }

    /// The keys with a waiting record.
    pub fn keys(&self) -> Vec<RecordKey> {
        self.by_key.keys().cloned().collect()
    }

    /// Keeps `waiting`, from `now` (in memory unless it was set aside already).
    pub fn keep(&mut self, waiting: Waiting<'q>, now: Instant) {
        self.count(&waiting, true);
        let key = match &waiting.link {
            ChainLink::Main { key, .. } | ChainLink::Copy { key, .. } => key.clone(),
        };
        if waiting.message.is_some() {
            self.kept_since
                .insert(waiting.ticket.offset(), (now, key.clone()));
        }
        self.by_key.entry(key).or_default().push(waiting);
    }

    /// Sets aside the records kept in memory that have waited `after` by `now`; returns when
    /// the next one will have, if one is kept.
    pub fn set_aside_waited(&mut self, now: Instant, after: Duration) -> Option<Instant> {
        while let Some(entry) = self.kept_since.first_entry() {
            let (since, _) = entry.get();
            if now < *since + after {
                return Some(*since + after);
            }
            let (offset, (_, key)) = entry.remove_entry();
            let waiting = self
                .by_key
                .get_mut(&key)
                .and_then(|of_key| of_key.iter_mut().find(|w| w.ticket.offset() == offset))
                .filter(|w| w.message.is_some());
            if let Some(waiting) = waiting {
                let footprint = waiting.footprint;
                waiting.message = None;
                self.aside += 1;
                self.aside_bytes += footprint;
            }
        }
        None
    }

    /// Takes the waiting records of `keys` whose turn came (`turned` says which): returns
    /// those kept in memory, in offset order; those set aside join the records to read
    /// again ([`WaitingRecords::next_turned`]).
    pub fn release(
        &mut self,
        keys: Vec<RecordKey>,
        turned: impl Fn(&ChainLink<RecordKey>) -> bool,
    ) -> Vec<Waiting<'q>> {
        let mut ready = Vec::new();
        for key in keys {
            let Some(of_key) = self.by_key.get_mut(&key) else {
                continue;
            };
            let (came, still): (Vec<_>, Vec<_>) = std::mem::take(of_key)
                .into_iter()
                .partition(|w| turned(&w.link));
            ready.extend(came);
            if still.is_empty() {
                self.by_key.remove(&key);
            } else {
                *of_key = still;
            }
        }
        ready.sort_by_key(|w| w.ticket.offset());
        let (kept, aside): (Vec<_>, Vec<_>) = ready.into_iter().partition(|w| w.message.is_some());
        for waiting in &kept {
            self.kept_since.remove(&waiting.ticket.offset());
        }
        self.turned
            .extend(aside.into_iter().map(|w| (w.ticket.offset(), w)));
        kept
    }

    /// The record set aside whose turn came first, to read again.
    pub fn next_turned(&mut self) -> Option<Waiting<'q>> {
        let (_, waiting) = self.turned.pop_first()?;
        self.count(&waiting, false);
        Some(waiting)
    }

    /// The record of `lane` set aside whose turn came, to read again.
    pub fn take_turned_in(&mut self, lane: Lane) -> Option<Waiting<'q>> {
        let at = *self.turned.iter().find(|(_, w)| w.lane == lane)?.0;
        let waiting = self.turned.remove(&at)?;
        self.count(&waiting, false);
        Some(waiting)
    }

    /// The records set aside, and their footprints: they hold no memory, so they do not
    /// count against the task's read-ahead bounds.
    pub fn set_aside(&self) -> (usize, usize) {
        (self.aside, self.aside_bytes)
    }

    /// Forgets every record (offsets went backwards: they are read again).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Counts `waiting`, if set aside, in (`adding`) or out of the records set aside.
    fn count(&mut self, waiting: &Waiting<'q>, adding: bool) {
        if waiting.message.is_some() {
            return;
        }
        if adding {
            self.aside += 1;
            self.aside_bytes += waiting.footprint;
        } else {
            self.aside -= 1;
            self.aside_bytes -= waiting.footprint;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};
    use retry_core::{CopyAt, PartitionProgress};

    /// A waiting copy of key `key` at `offset`, of `bytes`.
    fn waiting(
        progress: &mut PartitionProgress,
        key: u8,
        offset: i64,
        bytes: usize,
    ) -> Waiting<'static> {
        let message = OwnedMessage::new(
            Some(vec![0; bytes]),
            Some(vec![key]),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        );
        Waiting {
            ticket: progress.read(offset, bytes),
            message: Some(InHand::Fetched(message)),
            footprint: bytes,
            lane: u64::from(key),
            link: ChainLink::Copy {
                key: Some(vec![key]),
                offset,
                copy: CopyAt { hop: 0, offset },
            },
        }
    }

    #[test]
    fn copies_that_waited_long_are_set_aside_and_come_back_in_offset_order() {
        let mut progress = PartitionProgress::default();
        let mut records = WaitingRecords::default();
        let t0 = Instant::now();
        let after = Duration::from_secs(5);
        for (key, offset) in [(1, 10), (2, 11), (1, 12)] {
            records.keep(waiting(&mut progress, key, offset, 100), t0);
        }
        let later = t0 + Duration::from_secs(2);
        records.keep(waiting(&mut progress, 2, 13, 100), later);
        assert_eq!(
            records.set_aside_waited(t0 + Duration::from_secs(1), after),
            Some(t0 + after),
            "none has waited long yet"
        );
        assert_eq!(records.set_aside(), (0, 0));
        assert_eq!(
            records.set_aside_waited(t0 + after, after),
            Some(later + after),
            "the three kept first are set aside"
        );
        assert_eq!(records.set_aside(), (3, 300));
        assert!(records.waits_in(2));
        // Key 2's turn comes: 11 was set aside, 13 is still in memory.
        let ready = records.release(vec![Some(vec![2])], |_| true);
        assert_eq!(ready.len(), 1);
        assert!(ready[0].message.is_some() && ready[0].ticket.offset() == 13);
        assert_eq!(records.set_aside(), (3, 300), "set aside until read again");
        let offsets: Vec<i64> = std::iter::from_fn(|| records.next_turned())
            .map(|w| w.ticket.offset())
            .collect();
        assert_eq!(offsets, [11]);
        assert_eq!(records.set_aside(), (2, 200));
        assert_eq!(records.set_aside_waited(later + after, after), None);
        // Key 1: both were set aside; one of its lane is read again on its own.
        let ready = records.release(vec![Some(vec![1])], |_| true);
        assert!(ready.is_empty());
        assert_eq!(
            records.take_turned_in(1).map(|w| w.ticket.offset()),
            Some(10)
        );
        assert_eq!(records.next_turned().map(|w| w.ticket.offset()), Some(12));
        assert!(records.is_empty() && !records.waits_in(1));
        assert_eq!(records.set_aside(), (0, 0));
    }

    #[test]
    fn a_copy_whose_turn_did_not_come_stays() {
        let mut progress = PartitionProgress::default();
        let mut records = WaitingRecords::default();
        records.keep(waiting(&mut progress, 1, 10, 100), Instant::now());
        records.keep(waiting(&mut progress, 1, 11, 100), Instant::now());
        let ready = records.release(vec![Some(vec![1])], |link| {
            matches!(link, ChainLink::Copy { offset: 10, .. })
        });
        assert_eq!(ready.len(), 1);
        assert!(records.has_key(&Some(vec![1])));
        records.clear();
        assert!(records.is_empty() && records.set_aside() == (0, 0));
    }
}
