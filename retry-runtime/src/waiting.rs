//! The records a key-ordered task keeps until the lock log's fold moves (design/key-order.md,
//! *Copies set aside*): copies waiting for an earlier record of their key, or for the entry
//! that names them. They are kept in memory within half the task's in-flight bounds; past
//! them a copy is **set aside**: kept by position only, so the task reads on, and read
//! again once its turn comes (copies set aside one after the other are read again in one
//! pass, [`crate::refetch`]).

use std::collections::{BTreeMap, HashMap};

use retry_core::{ChainLink, ProgressTicket, RecordKey};

use crate::in_hand::InHand;
use crate::lanes::Lane;
use crate::partition::IN_FLIGHT_BUDGET;
use crate::unordered::MAX_IN_FLIGHT_RECORDS;

/// Bytes of waiting records a task keeps in memory before it sets them aside.
const KEPT_BYTES: usize = IN_FLIGHT_BUDGET / 2;

/// Waiting records a task keeps in memory before it sets them aside.
const KEPT_RECORDS: usize = MAX_IN_FLIGHT_RECORDS / 2;

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
    /// Records kept in memory, and their bytes.
    kept: usize,
    kept_bytes: usize,
    /// Records set aside (waiting, or whose turn came and not read again yet), and their
    /// footprints.
    aside: usize,
    aside_bytes: usize,
    /// Records set aside whose turn came, by offset: to read again.
    turned: BTreeMap<i64, Waiting<'q>>,
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

    /// Keeps `waiting`, set aside past the memory kept.
    pub fn keep(&mut self, mut waiting: Waiting<'q>) {
        if self.kept_bytes + waiting.footprint > KEPT_BYTES || self.kept >= KEPT_RECORDS {
            waiting.message = None;
        }
        self.count(&waiting, true);
        let key = match &waiting.link {
            ChainLink::Main { key, .. } | ChainLink::Copy { key, .. } => key.clone(),
        };
        self.by_key.entry(key).or_default().push(waiting);
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
            self.count(waiting, false);
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

    /// Counts `waiting` in (`adding`) or out of the records kept or set aside.
    fn count(&mut self, waiting: &Waiting<'q>, adding: bool) {
        let (records, bytes) = match waiting.message {
            Some(_) => (&mut self.kept, &mut self.kept_bytes),
            None => (&mut self.aside, &mut self.aside_bytes),
        };
        if adding {
            *records += 1;
            *bytes += waiting.footprint;
        } else {
            *records -= 1;
            *bytes -= waiting.footprint;
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
    fn past_the_memory_kept_copies_are_set_aside_and_come_back_in_offset_order() {
        let mut progress = PartitionProgress::default();
        let mut records = WaitingRecords::default();
        let big = KEPT_BYTES / 2 + 1;
        for (key, offset) in [(1, 10), (2, 11), (1, 12), (2, 13)] {
            records.keep(waiting(&mut progress, key, offset, big));
        }
        assert_eq!(records.set_aside(), (3, 3 * big), "only the first fits");
        assert!(records.waits_in(2));
        // Key 2's turn comes: both its copies were set aside.
        let ready = records.release(vec![Some(vec![2])], |_| true);
        assert!(ready.is_empty(), "nothing of key 2 in memory");
        assert_eq!(
            records.set_aside(),
            (3, 3 * big),
            "set aside until read again"
        );
        assert!(records.waits_in(2), "turned, not read again yet");
        let offsets: Vec<i64> = std::iter::from_fn(|| records.next_turned())
            .map(|w| w.ticket.offset())
            .collect();
        assert_eq!(offsets, [11, 13]);
        assert_eq!(records.set_aside(), (1, big));
        // Key 1: the copy in memory is handed back, the one set aside is read again.
        let ready = records.release(vec![Some(vec![1])], |_| true);
        assert_eq!(ready.len(), 1);
        assert!(ready[0].message.is_some() && ready[0].ticket.offset() == 10);
        assert_eq!(
            records.take_turned_in(1).map(|w| w.ticket.offset()),
            Some(12)
        );
        assert!(records.is_empty() && !records.waits_in(1));
        assert_eq!(records.set_aside(), (0, 0));
    }

    #[test]
    fn a_copy_whose_turn_did_not_come_stays() {
        let mut progress = PartitionProgress::default();
        let mut records = WaitingRecords::default();
        records.keep(waiting(&mut progress, 1, 10, 100));
        records.keep(waiting(&mut progress, 1, 11, 100));
        let ready = records.release(vec![Some(vec![1])], |link| {
            matches!(link, ChainLink::Copy { offset: 10, .. })
        });
        assert_eq!(ready.len(), 1);
        assert!(records.has_key(&Some(vec![1])));
        records.clear();
        assert!(records.is_empty() && records.set_aside() == (0, 0));
    }
}
