//! How the lock log of `ordering = "key"` names a record a task read (design/key-order.md):
//! a main-topic record by its key and offset, a copy in a retry or parked topic by the main
//! record it carries and its position. DLT records, and copies written without
//! `retry_topic-key-lock` (by a listener of another ordering, or by Spring), are not in the
//! chain: they are handled as with `ordering = "partition"`.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::message::{Headers, Message};
use retry_core::headers::{decode_attempts, decode_i64, ATTEMPTS, KEY_LOCK, ORIGINAL_OFFSET};
use retry_core::{
    ChainBounds, ChainLink, CopyAt, DestinationKind, FinishedAbove, LockLog, RecordKey, Turn,
};
use tokio::sync::watch;

use crate::lanes::{Lane, Lanes};
use crate::locks::{Fold, Locks};
use crate::waiting::{Waiting, WaitingRecords, SET_ASIDE_AFTER};

/// The chain link of `message`, read from a topic of `kind`.
pub(crate) fn link_of(
    message: &impl Message,
    kind: DestinationKind,
) -> Option<ChainLink<RecordKey>> {
    let key = message.key().map(<[u8]>::to_vec);
    let offset = message.offset();
    let header = |name: &str| {
        let headers = message.headers()?;
        headers
            .iter()
            .filter(|h| h.key == name)
            .last()
            .and_then(|h| h.value)
    };
    let hop = match kind {
        DestinationKind::Main => return Some(ChainLink::Main { key, offset }),
        DestinationKind::Dlt => return None,
        DestinationKind::Parked => 0,
        // `retry_topic-attempts` is the delivery the copy is for: the n-th retry's is n + 1.
        DestinationKind::Retry { .. } => {
            decode_attempts(header(ATTEMPTS)?).ok()??.checked_sub(1)?
        }
    };
    header(KEY_LOCK)?;
    let original = decode_i64(ORIGINAL_OFFSET, header(ORIGINAL_OFFSET)?).ok()?;
    Some(ChainLink::Copy {
        key,
        offset: original,
        copy: CopyAt { hop, offset },
    })
}

/// A key-ordered partition task's part of the lock log: the partition's fold, and the
/// copies waiting for it to move.
pub(crate) struct Chained<'q> {
    fold: Arc<Fold>,
    changes: watch::Receiver<i64>,
    /// The waiting copies.
    waiting: WaitingRecords<'q>,
    /// The fold's mark when the waiting copies were last judged again.
    seen: u64,
    /// Main-topic records the partition's last commit lists as finished.
    finished: FinishedAbove,
}

impl<'q> Chained<'q> {
    /// The chain of main partition `partition`, read through `locks`.
    pub fn new(locks: &Locks, partition: i32) -> Self {
        let fold = locks.fold(partition);
        let changes = fold.changes();
        let seen = fold.touched_mark();
        Self {
            fold,
            seen,
            changes,
            waiting: WaitingRecords::default(),
            finished: FinishedAbove::default(),
        }
    }

    /// Skips the main-topic records `finished` lists (a commit's metadata).
    pub fn skip_finished(&mut self, finished: FinishedAbove) {
        self.finished = finished;
    }

    /// Whether `link` is a main-topic record the last commit lists as finished.
    pub fn finished_before(&self, link: &ChainLink<RecordKey>) -> bool {
        matches!(link, ChainLink::Main { offset, .. } if self.finished.contains(*offset))
    }

    /// The lock log's floor: the main partition's committed offset as last logged.
    pub fn floor(&self) -> i64 {
        self.fold.with(LockLog::floor)
    }

    /// What to do with `link`'s record now.
    pub fn turn(&self, link: &ChainLink<RecordKey>) -> Turn {
        self.fold.with(|log| link.turn(log))
    }

    /// Whether a record of `lane` waits, or was set aside and is not read again yet.
    pub fn waits_in(&self, lane: Lane) -> bool {
        self.waiting.waits_in(lane)
    }

    /// Keeps a record whose turn is [`Turn::Wait`], in memory until it is set aside.
    pub fn wait(&mut self, waiting: Waiting<'q>) {
        self.waiting.keep(waiting, Instant::now());
    }

    /// Sets aside the records kept in memory that have waited [`SET_ASIDE_AFTER`]; returns
    /// when the next one will have, if one is kept.
    pub fn set_aside_waited(&mut self) -> Option<Instant> {
        self.waiting
            .set_aside_waited(Instant::now(), SET_ASIDE_AFTER)
    }

    /// The records set aside, and their footprints.
    pub fn set_aside(&self) -> (usize, usize) {
        self.waiting.set_aside()
    }

    /// The record set aside whose turn came first, to read again.
    pub fn next_turned(&mut self) -> Option<Waiting<'q>> {
        self.waiting.next_turned()
    }

    /// The record of `lane` set aside whose turn came, to read again.
    pub fn take_turned_in(&mut self, lane: Lane) -> Option<Waiting<'q>> {
        self.waiting.take_turned_in(lane)
    }

    /// Whether the partition's folded state reached its bounds: its main owner reads
    /// nothing until keys resolve. Returns the keys and unresolved records it holds.
    pub fn full(&self, bounds: ChainBounds) -> Option<(usize, usize)> {
        self.fold
            .with(|log| log.is_full(bounds).then(|| (log.keys(), log.unresolved())))
    }

    /// Resolves once the fold moved while records wait, or while `paused` (the main owner
    /// waits for its state to shrink); never otherwise.
    pub async fn moved(&mut self, paused: bool) {
        if self.waiting.is_empty() && !paused {
            return std::future::pending().await;
        }
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Offers the waiting records whose turn came to their lanes again, in offset order: each
    /// is judged once more when the lane hands it out; those set aside are read again first
    /// ([`Chained::next_turned`]). Only the keys the fold touched since the last time are
    /// judged again (all after a floor).
    pub fn release(&mut self, lanes: &mut Lanes<'q>) {
        let (touched, mark) = self.fold.touched_since(self.seen);
        self.seen = mark;
        let keys: Vec<RecordKey> = match touched {
            Some(touched) => touched
                .into_iter()
                .filter(|key| self.waiting.has_key(key))
                .collect(),
            None => self.waiting.keys(),
        };
        let waiting = &mut self.waiting;
        let ready = self
            .fold
            .with(|log| waiting.release(keys, |link| link.turn(log) != Turn::Wait));
        for Waiting {
            ticket,
            message,
            lane,
            ..
        } in ready
        {
            lanes.offer_ready(lane, (ticket, message.expect("kept in memory")));
        }
    }

    /// Forgets the waiting records (offsets went backwards: they are read again).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}
