//! The partition task of `ordering = "none"` (design/concurrent-partition.md): a record's
//! handler call starts and the task reads on, up to the consumer's `concurrency` calls in
//! flight at once; records start in offset order and finish in any order. With
//! `ordering = "key"` a record also waits in its key's lane ([`Lanes`]) until the records of
//! its key read before it are finished.
//!
//! The calls are futures of the task, not tasks of their own: each borrows its record from
//! the partition's queue, and they move only while the task polls them. So every wait of the
//! task (for records, a due time, a permit, the end of its calls) also completes its calls,
//! and every wait but the end of a revoked partition's calls completes forwards and stores
//! the offsets they release on time: a task that waited for a permit without polling its
//! own calls would wait for itself.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::message::{BorrowedMessage, Message};
use retry_core::{
    ChainLink, DestinationKind, Fate, HeldFailure, ProcessingOrder, ProgressTicket, RecordKey,
    Turn, Went,
};

use crate::breaker::{Admit, Admitted, BreakerCell, HeldByBreaker, RecordRef};
use crate::chain::{link_of, Chained};
use crate::commit_metadata::finished_above;
use crate::consumer::ConsumerFailed;
use crate::gauges::due_of;
use crate::in_hand::InHand;
use crate::inbound::Inbound;
use crate::lanes::{Lane, Lanes};
use crate::ownership::Ownership;
use crate::partition::{
    revocation, take_over, until, Forwarded, Partitions, SharedQueue, Stop, Worker,
    IN_FLIGHT_BUDGET,
};
use crate::process::{Forward, Handled, Processor};
use crate::refetch::Refetched;
use crate::waiting::Waiting;

/// Records a partition holds between being read and being released for commit (calls
/// running, forwards in flight, and finished records behind an unfinished one), beside the
/// bytes bound [`IN_FLIGHT_BUDGET`].
pub(crate) const MAX_IN_FLIGHT_RECORDS: usize = 10_000;

/// Records a task that judges copies (the retry and parked topics of `ordering = "key"`)
/// holds from its oldest unfinished one, finished ones included (16 bytes each): past its
/// in-flight bounds it reads on over copies set aside (design/key-order.md).
const MAX_JUDGED_WINDOW: usize = 1_000_000;

/// A handler call that ended: the record's ticket, and what became of the record.
type Called<'q> = (ProgressTicket, Ended<'q>);

/// What became of a record whose handler call ended.
enum Ended<'q> {
    /// Handled: its forward, if it has one.
    Done(Option<Forward>),
    /// Held for the listener's breaker (design/breaker.md), or a dead letter whose handler
    /// failed, tried again in place (`ordering = "key"`, `dlt = "always_retry"`) once its
    /// delay passed: handed to the handler again once admitted, same ticket, same attempt.
    Held(HeldRecord<'q>),
    /// A dead letter whose wait to be tried again in place ended with a revocation or
    /// shutdown: left unfinished, its offset not stored; the next owner reads it again.
    Left,
}

/// A record whose failure the breaker holds, or a dead letter tried again in place, still
/// borrowed from the partition's queue.
struct HeldRecord<'q> {
    message: InHand<'q>,
    /// Why the breaker held it, for the breaker to tell a record that is its own outage;
    /// `None` for a dead letter tried again in place.
    failure: Option<HeldFailure>,
    /// Read after the partition was revoked (see `Worker::late`): it is handled whatever the
    /// revocation says; the others held are dropped on revocation.
    late: bool,
    /// Its link in the lock log's chain, with `ordering = "key"`.
    link: Option<ChainLink<RecordKey>>,
    /// Counts it in `kafka_retry_breaker_held_records` while the breaker holds it.
    _counted: Option<HeldByBreaker<'q>>,
}

/// The worker, its calls in flight and the records its breaker holds.
struct Unordered<'a, 'q> {
    worker: Worker<'a>,
    calls: FuturesUnordered<BoxFuture<'q, Called<'q>>>,
    /// Records held for the breaker or tried again in place, with their tickets: restarted
    /// in offset order before anything new is read.
    held: Vec<(ProgressTicket, HeldRecord<'q>)>,
    /// The key lanes, with `ordering = "key"`.
    lanes: Option<Lanes<'q>>,
    /// The lane of the record read after the revocation (see `Worker::late`), with
    /// `ordering = "key"`: the records of its key read before it are finished first.
    late_lane: Option<Lane>,
    /// The partition's part of the lock log, with `ordering = "key"`.
    chained: Option<Chained<'q>>,
    /// The main owner stopped reading because the partition's folded state reached its
    /// bounds.
    paused_full: bool,
    /// Offsets of the records read without judging (copies without the lock-log header)
    /// from the oldest unfinished one on, in a task that judges copies: read again after a
    /// restart they are handled again, so they count against the in-flight bounds.
    unjudged: BTreeSet<i64>,
}

/// Works on `partition` with its records' calls running side by side, until it is revoked
/// or the app shuts down, once the task of its previous assignment has returned.
pub(crate) async fn run_unordered(
    shared: Arc<Partitions>,
    queue: SharedQueue,
    partition: i32,
    owned: Arc<Ownership>,
) -> Result<(), ConsumerFailed> {
    let Some(queue) = take_over(&shared, queue, partition, &owned).await else {
        return Ok(());
    };
    let mut stream = queue.stream.stream();
    let mut task = Unordered {
        worker: Worker::new(&shared, partition, owned),
        calls: FuturesUnordered::new(),
        held: Vec::new(),
        lanes: (shared.processor.ordering() == ProcessingOrder::Key).then(Lanes::new),
        late_lane: None,
        chained: shared
            .processor
            .locks()
            .map(|locks| Chained::new(locks, partition)),
        paused_full: false,
        unjudged: BTreeSet::new(),
    };
    // With the lock log, a revocation waits for this task to let go (design/key-order.md),
    // and the main owner tombstones the keys its partition's fold releases.
    let _working = task.chained.is_some().then(|| task.worker.owned.working());
    let _claim = (shared.processor.kind() == DestinationKind::Main)
        .then(|| shared.processor.locks())
        .flatten()
        .map(|locks| locks.fold(partition).claim());
    let judges = shared.processor.kind() != DestinationKind::Dlt;
    if let Some(locks) = shared.processor.locks().filter(|_| judges) {
        // Nothing is judged before the fold has read what the log held at the assignment.
        tokio::select! {
            biased;
            _ = task.worker.owned.revoked() => return Ok(()),
            _ = shared.stop.cancelled() => return Ok(()),
            caught_up = locks.caught_up(partition) => if caught_up.is_err() {
                return Ok(());
            },
        }
    }
    if let (Some(chained), DestinationKind::Main) = (&mut task.chained, shared.processor.kind()) {
        // Records finished above the committed offset are not handled again; this task's
        // commits list those it finishes.
        let max_len = shared.processor.locks().map_or(0, |l| l.commit_metadata());
        let (finished, commits) =
            finished_above(&shared.consumer, &shared.topic, partition, max_len).await;
        chained.skip_finished(finished);
        task.worker.finished = Some(commits);
    }
    let stop = loop {
        if task.worker.owned.is_revoked() {
            break Stop::Revoked;
        }
        if shared.stopping.load(Ordering::Acquire) {
            break Stop::Shutdown;
        }
        if let Some((ticket, record)) = task.next_held() {
            let (failure, link) = (record.failure, record.link);
            if let Err(stop) = task.launch(record.message, ticket, failure, link).await {
                break stop;
            }
            continue;
        }
        if let Some((ticket, message)) = task.lanes.as_mut().and_then(Lanes::next_ready) {
            if let Err(stop) = task.take_turn(ticket, message).await {
                break stop;
            }
            continue;
        }
        // A record set aside whose turn came is read again before anything new, within the
        // memory bounds (not the window: it may be what holds the window back).
        if task.has_memory() {
            if let Some(aside) = task.chained.as_mut().and_then(Chained::next_turned) {
                if let Err(stop) = task.bring_back(aside).await {
                    break stop;
                }
                continue;
            }
        }
        task.worker.flush_if_stale();
        // With no room left, the records that have waited long are set aside: the task
        // reads on.
        let aside_at = task.set_aside_waited();
        let full = task.chain_full();
        let room = task.has_room() && !full;
        let dead_at = task.worker.errors.deadline();
        // Calls and forwards end while the task waits for records: what they release is
        // stored on time even if no record comes.
        let store_at = task.worker.store_due();
        let message = tokio::select! {
            biased;
            _ = task.worker.owned.revoked() => break Stop::Revoked,
            _ = shared.stop.cancelled() => break Stop::Shutdown,
            Some(called) = task.calls.next() => {
                task.called(called);
                continue;
            }
            Some(forwarded) = task.worker.forwards.next() => {
                task.forwarded(forwarded);
                continue;
            }
            _ = moved(&mut task.chained, full) => {
                task.release_waiting();
                continue;
            }
            message = stream.next(), if room => message,
            _ = until(store_at), if store_at.is_some() => continue,
            _ = until(aside_at), if aside_at.is_some() => continue,
            _ = until(dead_at), if dead_at.is_some() => match task.worker.dead() {
                Some(dead) => break dead,
                None => continue,
            }
        };
        let Some(message) = message else {
            break Stop::Shutdown;
        };
        let Some(message) = task.worker.received(message) else {
            continue;
        };
        // The check before the read and the read are not one step (partition-handover.md).
        task.worker.late = task.worker.owned.is_revoked();
        if let Err(stop) = task.start(message).await {
            break stop;
        }
        if task.worker.due_to_yield() {
            tokio::task::yield_now().await;
        }
        if task.worker.late {
            // Everything in flight finishes, forwards included, before the next
            // assignment's task starts after the late record; nothing is stored.
            task.finish_late().await;
            break Stop::Revoked;
        }
    };
    match stop {
        Stop::Shutdown => {
            task.finish().await;
            task.worker.flush();
        }
        Stop::Dead { error, lasted } => {
            // Bounded: a hung handler call must not hide the dead partition; the app fails,
            // and its shutdown's grace period bounds what is still running.
            let _ = tokio::time::timeout(shared.dead_partition_after, task.finish()).await;
            task.worker.flush();
            return Err(ConsumerFailed::DeadPartition {
                topic: shared.topic.to_string(),
                partition,
                error,
                lasted,
            });
        }
        // With the lock log, the revocation waits for the calls in flight, their forwards
        // and entries, and commits what they release before the next owner starts
        // (design/key-order.md).
        Stop::Revoked if task.chained.is_some() => {
            task.finish().await;
            task.worker.flush_drained();
        }
        // Handlers are never cancelled: the calls in flight end before the task returns
        // (and lets the next assignment's task start); their forwards are dropped, and the
        // next owner handles those records again (design/concurrent-partition.md).
        Stop::Revoked => task.end_calls().await,
        Stop::BelowFloor { offset, floor } => {
            let _ = tokio::time::timeout(shared.dead_partition_after, task.finish()).await;
            task.worker.flush();
            let locks = shared.processor.locks().map(|l| l.topic().to_owned());
            return Err(ConsumerFailed::BelowFloor {
                topic: shared.topic.to_string(),
                partition,
                offset,
                floor,
                locks: locks.unwrap_or_default(),
            });
        }
        Stop::Abandoned => {}
    }
    Ok(())
}

impl<'a, 'q> Unordered<'a, 'q> {
    /// True while the records held leave room to read another. A task that judges copies
    /// does not count the records it set aside, nor the judged ones finished behind an
    /// unfinished one (read again, they are judged again, not handled), and holds at most
    /// [`MAX_JUDGED_WINDOW`] from its oldest unfinished one; the others count every record
    /// not released for commit.
    fn has_room(&mut self) -> bool {
        let progress = &self.worker.progress;
        if !self.judges() {
            return progress.in_flight_bytes() < IN_FLIGHT_BUDGET
                && progress.in_flight() < MAX_IN_FLIGHT_RECORDS;
        }
        let oldest = progress.oldest_unfinished().unwrap_or(i64::MAX);
        self.unjudged = self.unjudged.split_off(&oldest);
        self.has_memory()
            && self.unjudged.len() < MAX_IN_FLIGHT_RECORDS
            && progress.in_flight() < MAX_JUDGED_WINDOW
    }

    /// Whether the records a judging task holds in memory (not finished, not set aside)
    /// leave room for another.
    fn has_memory(&self) -> bool {
        let progress = &self.worker.progress;
        let (aside, aside_bytes) = self.chained.as_ref().map_or((0, 0), Chained::set_aside);
        progress.unfinished_bytes().saturating_sub(aside_bytes) < IN_FLIGHT_BUDGET
            && progress.unfinished().saturating_sub(aside) < MAX_IN_FLIGHT_RECORDS
    }

    /// In a task that judges copies and has no room left in memory, sets aside the records
    /// that have waited long; returns when the next one will have.
    fn set_aside_waited(&mut self) -> Option<std::time::Instant> {
        if !self.judges() || self.has_memory() {
            return None;
        }
        self.chained.as_mut()?.set_aside_waited()
    }

    /// Whether the task judges the copies it reads (the retry and parked topics of
    /// `ordering = "key"`).
    fn judges(&self) -> bool {
        self.chained.is_some()
            && matches!(
                self.worker.shared.processor.kind(),
                DestinationKind::Retry { .. } | DestinationKind::Parked
            )
    }

    /// Whether the main owner must stop reading: the partition's folded state reached its
    /// bounds (design/key-order.md, *Bounds*). Logs when that starts and ends.
    fn chain_full(&mut self) -> bool {
        let processor = &self.worker.shared.processor;
        let bounds = processor.key_bounds();
        let full = match &self.chained {
            Some(chained) if processor.kind() == DestinationKind::Main => chained.full(bounds),
            _ => None,
        };
        let partition = self.worker.partition;
        match (full, self.paused_full) {
            (Some((keys, unresolved)), false) => tracing::warn!(
                partition,
                keys,
                unresolved,
                max_blocked_keys = bounds.keys,
                max_parked = bounds.records,
                "key-ordered partition paused: its blocked keys reached their bounds; \
                 it reads on as they resolve"
            ),
            (None, true) => tracing::info!(partition, "key-ordered partition resumed"),
            _ => {}
        }
        self.paused_full = full.is_some();
        self.paused_full
    }

    /// Takes the record's ticket, waits for its due time and a handler permit, then starts
    /// its call.
    async fn start(&mut self, message: BorrowedMessage<'q>) -> Result<(), Stop>
    where
        'a: 'q,
    {
        let message = InHand::Lent(message);
        let shared = self.worker.shared;
        let offset = message.offset();
        if self.worker.progress.rewinds(offset).is_some() {
            // Offsets went backwards: the calls of the old sequence end first, so one offset
            // is never in two calls at once, and before the record is counted, so what they
            // release is not stored over the new sequence.
            self.end_old_calls().await?;
            // The new sequence reads them again.
            self.held.clear();
            if let Some(lanes) = &mut self.lanes {
                lanes.clear();
            }
            if let Some(chained) = &mut self.chained {
                chained.clear();
            }
            self.unjudged.clear();
        }
        let (wait, footprint, held) = {
            let mut inbound = Inbound::read(&message, &shared.topic);
            // Counted by the waiting records' gauges until its handler gets a permit.
            let held = shared
                .held
                .as_ref()
                .map(|h| h.hold(self.worker.partition, due_of(&inbound)));
            (
                shared.processor.wait_for(&mut inbound),
                inbound.footprint(),
                held,
            )
        };
        // Counted from its read: nothing after it is stored before it is finished, however
        // long it waits.
        let ticket = self.worker.read(offset, footprint);
        if let Some(wait) = wait {
            self.worker.flush();
            self.wait_until(tokio::time::sleep(wait), true).await?;
            self.worker.check_owned()?;
        }
        drop(held);
        let Some(lanes) = &mut self.lanes else {
            return self.launch(message, ticket, None, None).await;
        };
        let lane = lanes.lane(&message);
        if self.worker.late {
            self.late_lane = Some(lane);
        }
        match lanes.offer(lane, (ticket, message)) {
            Some((ticket, message)) => self.take_turn(ticket, message).await,
            // It starts once its key's earlier records are finished.
            None => Ok(()),
        }
    }

    /// A record's turn in its key's lane came: with the lock log, it is handled, skipped,
    /// parked or kept waiting as the log says; without, it is handled.
    async fn take_turn(&mut self, ticket: ProgressTicket, message: InHand<'q>) -> Result<(), Stop>
    where
        'a: 'q,
    {
        let processor = &self.worker.shared.processor;
        let link = self.chained.as_ref().and_then(|chained| {
            let link = link_of(&message, processor.kind())?;
            Some((chained.turn(&link), link))
        });
        if let (Some((_, ChainLink::Main { offset, .. })), Some(chained)) = (&link, &self.chained) {
            let floor = chained.floor();
            if *offset < floor {
                return Err(Stop::BelowFloor {
                    offset: *offset,
                    floor,
                });
            }
        }
        let Some((turn, link)) = link else {
            if self.judges() {
                // Handled again if read again: it counts against the in-flight bounds
                // until released.
                self.unjudged.insert(ticket.offset());
            }
            return self.launch(message, ticket, None, None).await;
        };
        let finished = self
            .chained
            .as_ref()
            .is_some_and(|c| c.finished_before(&link));
        let turn = if finished { Turn::Skip } else { turn };
        match turn {
            Turn::Handle => self.launch(message, ticket, None, Some(link)).await,
            Turn::Skip => {
                self.finished(ticket);
                Ok(())
            }
            Turn::Park => {
                let inbound = Inbound::read(&message, &self.worker.shared.topic);
                let parked = processor.park(inbound, link, self.worker.owned.clone());
                self.worker
                    .forwards
                    .push(parked.map(move |result| (ticket, result)).boxed());
                Ok(())
            }
            Turn::Wait => {
                let lanes = self.lanes.as_mut().expect("key order has lanes");
                let lane = lanes.lane(&message);
                // Its key's other copies go on: their order is the log's.
                lanes.finished(ticket);
                let footprint = self.worker.progress.footprint(ticket).unwrap_or(0);
                let waiting = Waiting {
                    ticket,
                    message: Some(message),
                    footprint,
                    lane,
                    link,
                };
                self.chained
                    .as_mut()
                    .expect("judged by the chain")
                    .wait(waiting);
                Ok(())
            }
        }
    }

    /// The fold moved: the records waiting for it whose turn came go back to their lanes
    /// (those set aside are read again first: [`Unordered::bring_back`]).
    fn release_waiting(&mut self) {
        if let (Some(chained), Some(lanes)) = (&mut self.chained, &mut self.lanes) {
            chained.release(lanes);
        }
    }

    /// A record set aside whose turn came: judged again, then read again by position and
    /// handed to its lane, finished without a call, or set aside again. Calls and forwards
    /// go on while it is read; ends early on revocation or shutdown (it is unfinished: the
    /// next owner reads it).
    async fn bring_back(&mut self, aside: Waiting<'q>) -> Result<(), Stop>
    where
        'a: 'q,
    {
        let shared = self.worker.shared;
        let (Some(chained), Some(locks)) = (&mut self.chained, shared.processor.locks()) else {
            return Ok(());
        };
        let Waiting {
            ticket, lane, link, ..
        } = &aside;
        match chained.turn(link) {
            Turn::Skip => {
                self.finished(*ticket);
                return Ok(());
            }
            Turn::Wait => {
                chained.wait(aside);
                return Ok(());
            }
            Turn::Handle | Turn::Park => {}
        }
        let (ticket, lane, partition) = (*ticket, *lane, self.worker.partition);
        let fetch = locks
            .refetch()
            .fetch(&shared.topic, partition, ticket.offset());
        match self.wait_until(fetch, true).await? {
            Refetched::Found(message) => {
                let lanes = self.lanes.as_mut().expect("key order has lanes");
                lanes.offer_ready(lane, (ticket, InHand::Fetched(message)));
            }
            Refetched::Gone { earliest } => {
                // Its key must not stay blocked for ever: the current copy, gone, resolves
                // its record as dropped.
                tracing::error!(
                    topic = %shared.topic,
                    partition,
                    offset = ticket.offset(),
                    earliest,
                    "a record set aside is gone from its topic (retention or truncation) \
                     before its turn: it is lost, and its key goes on"
                );
                let owned = Arc::clone(&self.worker.owned);
                let entered = locks.enter(partition, aside.link, Went::DeadLettered, &owned);
                // Interrupted by shutdown or a fence: left unfinished, read again next time.
                if self.wait_until(entered, true).await?.is_ok() {
                    self.finished(ticket);
                }
            }
        }
        Ok(())
    }

    /// The record held for the breaker with the lowest offset, if any.
    fn next_held(&mut self) -> Option<(ProgressTicket, HeldRecord<'q>)> {
        let first = (0..self.held.len()).min_by_key(|&i| self.held[i].0.offset())?;
        Some(self.held.swap_remove(first))
    }

    /// Waits for a handler permit and the breaker's admission, then starts the record's call;
    /// `resuming` is why the breaker held it before, if it did.
    async fn launch(
        &mut self,
        message: InHand<'q>,
        ticket: ProgressTicket,
        resuming: Option<HeldFailure>,
        link: Option<ChainLink<RecordKey>>,
    ) -> Result<(), Stop>
    where
        'a: 'q,
    {
        let shared = self.worker.shared;
        let processor = &shared.processor;
        let (permit, admitted) = loop {
            let permit = match shared.permits.try_acquire() {
                Ok(permit) => permit,
                Err(_) => {
                    self.worker.flush();
                    let acquire = shared.permits.acquire();
                    self.wait_until(acquire, true).await?.expect("never closed")
                }
            };
            let Some(breaker) = processor.breaker() else {
                break (permit, None);
            };
            match breaker.admit(record_ref(&message)) {
                Admit::Let(admitted) => break (permit, Some(admitted.resuming(resuming))),
                Admit::Wait(at, changes) => {
                    drop(permit);
                    let _waiting = breaker.holding();
                    self.worker.flush();
                    self.wait_until(Admit::wait(at, changes), true).await?;
                    self.worker.check_owned()?;
                }
            }
        };
        let topic = &shared.topic;
        let late = self.worker.late;
        let owned = Arc::clone(&self.worker.owned);
        let mut call = async move {
            let inbound = Inbound::read(&message, topic);
            let handled = processor.handle(&inbound).await;
            drop(permit);
            let fate = breaker_fate(processor, record_ref(&message), &handled, admitted);
            let ended = match fate {
                Some((breaker, failure)) => {
                    drop(inbound);
                    Ended::Held(HeldRecord {
                        message,
                        failure: Some(failure),
                        late,
                        link,
                        _counted: Some(breaker.holding()),
                    })
                }
                None => match processor.again_in_place(&inbound, &handled) {
                    // Its lane stays closed meanwhile: its key's later dead letters wait, and
                    // its permit goes to other keys.
                    Some(after) => {
                        drop(inbound);
                        tokio::select! {
                            biased;
                            _ = revocation(&owned, late) => Ended::Left,
                            _ = shared.stop.cancelled() => Ended::Left,
                            _ = tokio::time::sleep(after) => Ended::Held(HeldRecord {
                                message,
                                failure: None,
                                late,
                                link,
                                _counted: None,
                            }),
                        }
                    }
                    None => Ended::Done(match link {
                        Some(link) => processor.next_linked(inbound, handled, link, owned),
                        None => processor.next(inbound, handled),
                    }),
                },
            };
            (ticket, ended)
        }
        .boxed();
        // Most calls end on their first poll (a handler that does not wait): no trip
        // through the set.
        match (&mut call).now_or_never() {
            Some(called) => self.called(called),
            None => self.calls.push(call),
        }
        Ok(())
    }

    /// Waits for `ready`, completing calls and forwards meanwhile and, if `store`, storing
    /// the offsets they release on time; ends early on revocation (unless the record in hand
    /// was read late) or shutdown, so no call starts after either.
    async fn wait_until<T>(
        &mut self,
        ready: impl Future<Output = T>,
        store: bool,
    ) -> Result<T, Stop> {
        let mut ready = pin!(ready);
        loop {
            if let Some(value) = self.step(ready.as_mut(), store).await? {
                return Ok(value);
            }
        }
    }

    /// Waits for the next thing to happen and does what it asks: `Some` once `ready` is.
    async fn step<T>(
        &mut self,
        ready: Pin<&mut impl Future<Output = T>>,
        store: bool,
    ) -> Result<Option<T>, Stop> {
        let late = self.worker.late;
        let owned = Arc::clone(&self.worker.owned);
        let stop = self.worker.shared.stop.clone();
        let store_at = self.worker.store_due().filter(|_| store);
        tokio::select! {
            biased;
            // A revoked partition must not call its handler (partition-handover.md).
            _ = revocation(&owned, late) => Err(Stop::Revoked),
            // Nor start calls once the app stops, a late record included: no next task
            // starts during shutdown.
            _ = stop.cancelled() => Err(Stop::Shutdown),
            Some(called) = self.calls.next() => {
                self.called(called);
                Ok(None)
            }
            Some(forwarded) = self.worker.forwards.next() => {
                self.forwarded(forwarded);
                Ok(None)
            }
            _ = until(store_at), if store_at.is_some() => {
                self.worker.flush();
                Ok(None)
            }
            value = ready => Ok(Some(value)),
        }
    }

    /// A call ended: its forward starts, its record is finished, or it is held.
    fn called(&mut self, (ticket, ended): Called<'q>) {
        match ended {
            Ended::Done(Some(forward)) => self
                .worker
                .forwards
                .push(forward.map(move |result| (ticket, result)).boxed()),
            Ended::Done(None) => self.finished(ticket),
            Ended::Held(record) => self.held.push((ticket, record)),
            Ended::Left => {}
        }
    }

    /// A record is finished without a forward: its offset may be released, and its key's
    /// next record may start.
    fn finished(&mut self, ticket: ProgressTicket) {
        let released = self.worker.progress.finish(ticket);
        self.worker.store(released);
        if let Some(lanes) = &mut self.lanes {
            lanes.finished(ticket);
        }
    }

    /// A forward ended: once acknowledged, its record is finished, and so is its turn in its
    /// key's lane (an abandoned forward keeps the lane: its record is not finished).
    fn forwarded(&mut self, forwarded: Forwarded) {
        let (ticket, acknowledged) = (forwarded.0, forwarded.1.is_ok());
        self.worker.forwarded(forwarded);
        if let (true, Some(lanes)) = (acknowledged, &mut self.lanes) {
            lanes.finished(ticket);
        }
    }

    /// [`Unordered::finish`] after a record read late: that record is handled whatever
    /// the breaker held it for (the partition's next task starts after it); the other
    /// records held were read before the revocation and are left to the next owner. With
    /// `ordering = "key"`, the records of its key read before it start first, in their
    /// order: their duplicates, rather than the late record's loss or a break of its key's
    /// order.
    async fn finish_late(&mut self)
    where
        'a: 'q,
    {
        loop {
            self.finish().await;
            // Records held before it in its key's lane stay: it starts after them.
            let lanes = self.lanes.as_ref().zip(self.late_lane);
            self.held.retain(|(_, record)| {
                record.late
                    || lanes.is_some_and(|(lanes, lane)| lanes.lane(&record.message) == lane)
            });
            // Past the grace period, no handler starts.
            let abort = self.worker.shared.abort.clone();
            if abort.is_cancelled() {
                return;
            }
            let started = match self.next_held() {
                Some((ticket, record)) => {
                    let (failure, link) = (record.failure, record.link);
                    self.launch(record.message, ticket, failure, link).await
                }
                None => {
                    let lanes = self.lanes.as_mut().zip(self.late_lane);
                    let ready = lanes.and_then(|(lanes, lane)| lanes.take_ready_in(lane));
                    let turned = match (&mut self.chained, self.late_lane) {
                        (Some(chained), Some(lane)) if ready.is_none() => {
                            chained.take_turned_in(lane)
                        }
                        _ => None,
                    };
                    match (ready, turned) {
                        (Some((ticket, message)), _) => self.take_turn(ticket, message).await,
                        // Set aside, its turn came: read again, then handled in its lane.
                        (None, Some(aside)) => self.bring_back(aside).await,
                        (None, None) => {
                            // A copy of its lane the lock log makes wait is not dropped: the
                            // next task would start after it. It waits for its turn.
                            let waits = self.late_lane.zip(self.chained.as_ref());
                            if !waits.is_some_and(|(lane, chained)| chained.waits_in(lane)) {
                                return;
                            }
                            tokio::select! {
                                _ = abort.cancelled() => return,
                                _ = moved(&mut self.chained, false) => self.release_waiting(),
                            }
                            Ok(())
                        }
                    }
                }
            };
            if started.is_err() {
                return;
            }
        }
    }

    /// Lets every call in flight end, and every forward (those the calls start included)
    /// complete; abandons them at the end of the shutdown grace period.
    async fn finish(&mut self) {
        let abort = self.worker.shared.abort.clone();
        while !(self.calls.is_empty() && self.worker.forwards.is_empty()) {
            tokio::select! {
                biased;
                _ = abort.cancelled() => return,
                Some(called) = self.calls.next() => self.called(called),
                Some(forwarded) = self.worker.forwards.next() => self.forwarded(forwarded),
            }
        }
    }

    /// Lets the calls of the sequence before a rewind end, their forwards going on (a record
    /// of the old sequence that the new one does not read again still reaches its retry
    /// topic; its ticket releases nothing); ends early on revocation or shutdown, so no call
    /// starts after either. With the lock log, their forwards and entries end too: a record
    /// read again is judged by a fold that has them.
    async fn end_old_calls(&mut self) -> Result<(), Stop> {
        // Nothing is stored meanwhile: what the old calls release lies beyond the record
        // in hand, which the new sequence has not finished.
        let mut never = pin!(std::future::pending::<()>());
        let chained = self.chained.is_some();
        while !self.calls.is_empty() || (chained && !self.worker.forwards.is_empty()) {
            self.step(never.as_mut(), false).await?;
        }
        Ok(())
    }

    /// Lets every call in flight end without starting their forwards (the partition was
    /// revoked); abandons them at the end of the grace period.
    async fn end_calls(&mut self) {
        let abort = self.worker.shared.abort.clone();
        let mut dropped = self.worker.forwards.len();
        while !self.calls.is_empty() {
            tokio::select! {
                biased;
                _ = abort.cancelled() => break,
                Some((_, ended)) = self.calls.next() => {
                    dropped += usize::from(matches!(ended, Ended::Done(Some(_))));
                }
            }
        }
        if dropped > 0 {
            tracing::debug!(
                partition = self.worker.partition,
                forwards = dropped,
                "forwards of a revoked partition dropped"
            );
        }
    }
}

/// What the breaker makes of a call's result: `Some` with the breaker and why, when it holds
/// the record; `None` to go on as without a breaker.
fn breaker_fate<'p>(
    processor: &'p Processor,
    record: RecordRef<'_>,
    handled: &Handled,
    admitted: Option<Admitted>,
) -> Option<(&'p BreakerCell, HeldFailure)> {
    let breaker = processor.breaker()?;
    let result = handled.result()?;
    match admitted?.ended(breaker, processor.kind(), result, record) {
        Fate::Hold(failure) => Some((breaker, failure)),
        Fate::Proceed | Fate::Alone => None,
    }
}

/// The record as the breaker names it.
fn record_ref(message: &impl Message) -> RecordRef<'_> {
    RecordRef {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
    }
}

/// Resolves once the lock log's fold moved while records wait for it or while the main
/// owner is `paused` for its bounds; never without the lock log.
async fn moved(chained: &mut Option<Chained<'_>>, paused: bool) {
    match chained {
        Some(chained) => chained.moved(paused).await,
        None => std::future::pending().await,
    }
}
