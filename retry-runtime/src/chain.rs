//! How the lock log of `ordering = "key"` names a record a task read (design/key-order.md):
//! a main-topic record by its key and offset, a copy in a retry or parked topic by the main
//! record it carries and its position. DLT records, and copies written without
//! `retry_topic-key-lock` (by a listener of another ordering, or by Spring), are not in the
//! chain: they are handled as with `ordering = "partition"`.

use std::sync::Arc;

use rdkafka::message::{BorrowedMessage, Headers, Message};
use retry_core::headers::{decode_attempts, decode_i64, ATTEMPTS, KEY_LOCK, ORIGINAL_OFFSET};
use retry_core::{ChainLink, CopyAt, DestinationKind, ProgressTicket, RecordKey, Turn};
use tokio::sync::watch;

use crate::lanes::{Lane, Lanes};
use crate::locks::{Fold, Locks};

/// The chain link of `message`, read from a topic of `kind`.
pub(crate) fn link_of(
    message: &BorrowedMessage<'_>,
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

/// A record whose copy the lock log cannot decide yet, or that waits for an earlier record
/// of its key: kept, with its ticket, until the fold moves.
pub(crate) struct Waiting<'q> {
    pub ticket: ProgressTicket,
    pub message: BorrowedMessage<'q>,
    pub lane: Lane,
    pub link: ChainLink<RecordKey>,
}

/// A key-ordered partition task's part of the lock log: the partition's fold, and the
/// copies waiting for it to move.
pub(crate) struct Chained<'q> {
    fold: Arc<Fold>,
    changes: watch::Receiver<i64>,
    waiting: Vec<Waiting<'q>>,
}

impl<'q> Chained<'q> {
    /// The chain of main partition `partition`, read through `locks`.
    pub fn new(locks: &Locks, partition: i32) -> Self {
        let fold = locks.fold(partition);
        let changes = fold.changes();
        Self {
            fold,
            changes,
            waiting: Vec::new(),
        }
    }

    /// What to do with `link`'s record now.
    pub fn turn(&self, link: &ChainLink<RecordKey>) -> Turn {
        self.fold.with(|log| link.turn(log))
    }

    /// Whether a record of `lane` waits.
    pub fn waits_in(&self, lane: Lane) -> bool {
        self.waiting.iter().any(|w| w.lane == lane)
    }

    /// Keeps a record whose turn is [`Turn::Wait`].
    pub fn wait(&mut self, waiting: Waiting<'q>) {
        self.waiting.push(waiting);
    }

    /// Resolves once the fold moved while records wait; never while none do.
    pub async fn moved(&mut self) {
        if self.waiting.is_empty() {
            return std::future::pending().await;
        }
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Offers the waiting records whose turn came to their lanes again, in offset order: each
    /// is judged once more when the lane hands it out.
    pub fn release(&mut self, lanes: &mut Lanes<'q>) {
        self.waiting.sort_by_key(|w| w.ticket.offset());
        let fold = &self.fold;
        let (ready, still): (Vec<_>, Vec<_>) = fold.with(|log| {
            std::mem::take(&mut self.waiting)
                .into_iter()
                .partition(|w| w.link.turn(log) != Turn::Wait)
        });
        self.waiting = still;
        for Waiting {
            ticket,
            message,
            lane,
            ..
        } in ready
        {
            lanes.offer_ready(lane, (ticket, message));
        }
    }

    /// Forgets the waiting records (offsets went backwards: they are read again).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}
