//! One task per assigned partition: read its queue, wait for each record's due time, handle
//! it, pipeline its forward, and store offsets strictly in order.
//!
//! A record that is not due yet, or a forward the broker keeps refusing, holds back only its
//! own partition: the task stops reading its queue, librdkafka stops fetching that partition
//! once its bounded prefetch is full, and every other partition keeps flowing. Forwards are
//! not awaited one by one: the task reads on while they are in flight, up to
//! [`IN_FLIGHT_BUDGET`] bytes and as long as they keep completing ([`STALLED_AFTER`]), and
//! [`PartitionProgress`] releases an offset for commit only once it and every earlier record
//! are done. When librdkafka reads the partition again from an earlier offset, the progress
//! starts over (logged at WARN with both offsets) rather than waiting for records that will
//! not come back.
//!
//! The happy path stays cheap: while records are ready the task takes them one after another
//! without registering for revocation or shutdown (it reads two flags instead), and keeps its
//! handler permit for up to [`BURST`] records; only when it would wait does it release the
//! permit and select on everything that may wake it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
// The TSC clock: read per record while forwards are in flight (stall check, offset store age),
// cheaper than the OS clock.
use quanta::Instant;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use retry_core::{ErrorStreak, Fate, PartitionProgress, ProgressTicket};
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::batch::{BatchReads, Read};
use crate::breaker::{Admit, BreakerCell, RecordRef};
use crate::commit_metadata::FinishedCommits;
use crate::consumer::ConsumerFailed;
use crate::context::{ListenerConsumer, PartitionQueue};
use crate::forward::Interrupted;
use crate::gauges::{due_of, Held, HeldRecords};
use crate::inbound::Inbound;
use crate::ownership::Ownership;
use crate::process::{Handled, Processor};

/// Bytes of records per partition whose forward is in flight (with `ordering = "none"`: of
/// every record held between its read and its release); reading the partition waits beyond
/// it (one larger record is let through alone).
pub(crate) const IN_FLIGHT_BUDGET: usize = 4 << 20;

/// How long the oldest forward in flight may take before the partition stops reading ahead:
/// a destination that keeps refusing or failing would otherwise let every record after the
/// stuck one be handled uncommitted, and handled again after a restart.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(1);

/// Records a partition handles in a row on one handler permit while they are ready, before it
/// lets partitions waiting for a permit take their turn...
const BURST: u32 = 64;

/// ...or, while another partition waits for a permit, for at most this long, so slow
/// handlers take turns record by record, as without bursts.
const BURST_TIME: Duration = Duration::from_millis(5);

/// Records a partition reads ready (without waiting for them) before it yields its runtime
/// worker to other tasks. Not tokio's budget (128 operations): a lone busy task that yields
/// sends its worker looking for work and polling its driver, and every 128 records that cost
/// about as much as handling them.
const YIELD_EVERY: u32 = 1024;

/// How long an offset released for commit may wait to be stored while records keep coming:
/// what a kill redelivers beyond the commit interval. As short as a contended burst, so a
/// partition that keeps its permit (nobody waiting) stores as often as one that renews it.
const STORE_AFTER: Duration = BURST_TIME;

/// How long a reassigned partition's task waits for the previous task of that partition (a
/// handler call still running) before it says so at WARN.
const HANDOVER_WARN_AFTER: Duration = Duration::from_secs(10);

/// A partition's queue, locked by the one task that works on the partition: a task of a later
/// assignment starts only once the task of the earlier one has returned, so one record is
/// never in two handler calls of this consumer at once (design/partition-handover.md).
pub(crate) type SharedQueue = Arc<Mutex<PartitionQueue>>;

/// What the partition tasks of one consumer share.
pub(crate) struct Partitions {
    pub consumer: Arc<ListenerConsumer>,
    pub processor: Arc<Processor>,
    /// Handler calls in flight at once, across partitions (the `concurrency` setting).
    pub permits: Semaphore,
    /// Partitions waiting for a permit: while none is, a partition keeps its permit without
    /// looking at the clock.
    pub waiting: AtomicUsize,
    /// Shutdown: stop reading, finish in-flight work.
    pub stop: CancellationToken,
    /// Set once `stop` is cancelled: what a task with a record ready checks.
    pub stopping: AtomicBool,
    /// End of the shutdown grace period: abandon in-flight work uncommitted.
    pub abort: CancellationToken,
    /// The topic, shared by every record read.
    pub topic: Arc<str>,
    /// Records held before their handler runs (retry topics and DLTs).
    pub held: Option<HeldRecords>,
    /// How long a partition may stay in error with no record read before it counts as dead
    /// ([`retry_core::DEAD_PARTITION_AFTER`] unless the app says otherwise).
    pub dead_partition_after: Duration,
}

/// A forward that ended: the record's ticket, and whether the broker acknowledged it.
pub(crate) type Forwarded = (ProgressTicket, Result<(), Interrupted>);

/// Why the task stops reading.
pub(crate) enum Stop {
    /// The partition was revoked: drop everything, store nothing more.
    Revoked,
    /// Shutdown: let in-flight forwards complete and store their offsets.
    Shutdown,
    /// The shutdown grace period ended with a handler still running: store what finished,
    /// abandon the rest.
    Abandoned,
    /// A key-ordered main partition read a record below its lock log's floor.
    BelowFloor {
        /// The record's offset.
        offset: i64,
        /// The floor.
        floor: i64,
    },
    /// The partition reported an error and no record since, for longer than
    /// [`Partitions::dead_partition_after`]: librdkafka stopped fetching it.
    Dead {
        /// The latest error.
        error: String,
        /// How long the partition has been in error.
        lasted: Duration,
    },
}

/// A partition's work in progress.
pub(crate) struct Worker<'a> {
    pub shared: &'a Partitions,
    pub partition: i32,
    pub owned: Arc<Ownership>,
    /// The handler permit held while records keep coming, with how many more it may serve and
    /// when it was taken.
    permit: Option<(SemaphorePermit<'a>, u32, Instant)>,
    /// The highest offset released for commit and not yet stored with the client, with when
    /// the first of them was released: stored when the task is about to wait, when the
    /// permit is renewed, before a handler call once [`STORE_AFTER`] old, and at the end,
    /// rather than once per record (storing by topic name costs a topic lookup in the client).
    unstored: Option<(i64, Instant)>,
    pub progress: PartitionProgress,
    pub forwards: FuturesUnordered<futures::future::BoxFuture<'static, Forwarded>>,
    /// Records taken since the task last yielded ([`Worker::due_to_yield`]; counted per turn
    /// of the task's loop, so turns that waited count too, and a task that waits often yields
    /// a little early).
    ready_since_yield: u32,
    /// The forwards in the order they started, with when (completed ones are dropped from
    /// the front once the oldest unfinished record has passed them).
    started: VecDeque<(i64, Instant)>,
    /// The record in hand was read after the partition was revoked: it may belong to the
    /// partition's next assignment, whose task then starts after it, so it is finished
    /// (waited for, handled, forwarded) regardless of the revocation and its offset is not
    /// stored (design/partition-handover.md).
    pub late: bool,
    /// The partition's current run of errors, ended by a record.
    pub errors: ErrorStreak<String>,
    /// With `ordering = "key"` on a main topic: commits carry the records finished above
    /// the committed offset (design/key-order.md).
    pub finished: Option<FinishedCommits>,
}

/// Works on `partition` until it is revoked (`owned`) or the app shuts down, once the task of
/// its previous assignment has returned. Fails when the partition stays in error, with no
/// record read, for [`Partitions::dead_partition_after`].
pub(crate) async fn run_partition(
    shared: Arc<Partitions>,
    queue: SharedQueue,
    partition: i32,
    owned: Arc<Ownership>,
) -> Result<(), ConsumerFailed> {
    let Some(queue) = take_over(&shared, queue, partition, &owned).await else {
        return Ok(());
    };
    let mut worker = Worker::new(&shared, partition, owned);
    let mut stream = queue.stream.stream();
    // Records that wait for their due time (retry topics, DLTs) are read one at a time:
    // their prefetch bounds stay those of librdkafka's queue (design/batch-reads.md).
    let mut reads = BatchReads::new(&queue.batches, shared.held.is_none());
    let stop = loop {
        // Before the checks below: a record is never taken before a yield and handled after
        // it without them.
        if worker.due_to_yield() {
            tokio::task::yield_now().await;
        }
        // What the select below prefers to a record, checked before taking one. Records
        // read after the revocation are handled (the queue is the partition's, shared with
        // a task of a later assignment, so a record dropped here could be one of its
        // records, then lost); records buffered before it are the revoked assignment's,
        // read again by the partition's next owner.
        let late = reads.late_buffered();
        if !late && worker.owned.is_revoked() {
            break Stop::Revoked;
        }
        if shared.stopping.load(Ordering::Acquire) {
            break Stop::Shutdown;
        }
        let (message, read_late) = match worker.ready(&mut reads) {
            Some(ready) => ready,
            None => {
                worker.pause();
                // Buffered records come before any the stream reads.
                let room = worker.has_room() && !reads.buffered();
                let dead_at = worker.errors.deadline();
                let message = tokio::select! {
                    biased;
                    _ = revocation(&worker.owned, late) => break Stop::Revoked,
                    _ = shared.stop.cancelled() => break Stop::Shutdown,
                    Some(forwarded) = worker.forwards.next() => {
                        worker.forwarded(forwarded);
                        continue;
                    }
                    message = stream.next(), if room => message,
                    _ = until(dead_at), if dead_at.is_some() => match worker.dead() {
                        Some(dead) => break dead,
                        None => continue,
                    }
                };
                let Some(message) = message else {
                    break Stop::Shutdown;
                };
                // The check before the read and the read are not one step: see
                // `Worker::late`.
                (message.map(Read::Streamed), worker.owned.is_revoked())
            }
        };
        worker.late = read_late;
        if let Some(message) = worker.received(message) {
            if let Err(stop) = worker.work_on(message).await {
                break stop;
            }
        }
        // The last record read late is finished: the task returns once its forwards are.
        if worker.late && !reads.late_buffered() {
            worker.drain().await;
            break Stop::Revoked;
        }
    };
    // Other partitions may handle while this one drains; offsets released before a
    // revocation are not stored (flush checks ownership).
    worker.pause();
    match stop {
        Stop::Shutdown => {
            worker.drain().await;
            worker.flush();
        }
        Stop::Dead { error, lasted } => {
            worker.drain().await;
            worker.flush();
            return Err(ConsumerFailed::DeadPartition {
                topic: shared.topic.to_string(),
                partition,
                error,
                lasted,
            });
        }
        // Delivered all the same; the partition's next owner reads these records again and
        // forwards them again (design/partition-handover.md).
        Stop::Revoked if !worker.forwards.is_empty() => tracing::debug!(
            partition,
            forwards = worker.forwards.len(),
            "partition revoked with forwards in flight; their offsets are not committed"
        ),
        // Key order only: its tasks are `unordered.rs`'s.
        Stop::Revoked | Stop::Abandoned | Stop::BelowFloor { .. } => {}
    }
    Ok(())
}

/// Sleeps until `deadline`; never wakes without one.
pub(crate) async fn until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits until no earlier task works on the partition and takes its queue; `None` when the
/// partition was revoked or the app stops meanwhile.
pub(crate) async fn take_over(
    shared: &Partitions,
    queue: SharedQueue,
    partition: i32,
    owned: &Ownership,
) -> Option<OwnedMutexGuard<PartitionQueue>> {
    let taking = queue.lock_owned();
    tokio::pin!(taking);
    let slow = tokio::time::sleep(HANDOVER_WARN_AFTER);
    tokio::pin!(slow);
    let mut warned = false;
    loop {
        tokio::select! {
            biased;
            _ = owned.revoked() => return None,
            _ = shared.stop.cancelled() => return None,
            queue = &mut taking => return Some(queue),
            _ = &mut slow, if !warned => {
                warned = true;
                tracing::warn!(
                    topic = %shared.topic,
                    partition,
                    waited = ?HANDOVER_WARN_AFTER,
                    "partition reassigned, still waiting for a handler call of its previous assignment"
                );
            }
        }
    }
}

impl<'a> Worker<'a> {
    /// A worker for `partition`, with nothing in flight.
    pub fn new(shared: &'a Partitions, partition: i32, owned: Arc<Ownership>) -> Self {
        Self {
            shared,
            partition,
            owned,
            permit: None,
            unstored: None,
            finished: None,
            progress: PartitionProgress::default(),
            forwards: FuturesUnordered::new(),
            ready_since_yield: 0,
            started: VecDeque::new(),
            late: false,
            errors: ErrorStreak::new(shared.dead_partition_after),
        }
    }

    /// What the queue gave: a record (ending the partition's run of errors), or an error
    /// (logged and counted; `None`).
    pub fn received<M>(&mut self, message: KafkaResult<M>) -> Option<M> {
        match message {
            Ok(message) => {
                self.errors.record();
                Some(message)
            }
            Err(error) => {
                tracing::warn!(partition = self.partition, %error, "partition error");
                self.errors
                    .error(std::time::Instant::now(), error.to_string());
                None
            }
        }
    }

    /// The partition's errors lasted past [`Partitions::dead_partition_after`] with no
    /// record: it counts as dead.
    pub fn dead(&mut self) -> Option<Stop> {
        self.errors
            .persisted(std::time::Instant::now())
            .map(|(error, lasted)| Stop::Dead {
                error: error.clone(),
                lasted,
            })
    }

    /// The next record if one is ready now and there is room for it, after completing the
    /// forwards that ended meanwhile, with whether it was read late; `None` when the task
    /// has to wait.
    fn ready<'q>(&mut self, reads: &mut BatchReads<'q>) -> Option<(KafkaResult<Read<'q>>, bool)> {
        // Polled without a waker of ours: a forward that ends later is found by the select,
        // which polls again with one.
        while !self.forwards.is_empty() {
            match self.forwards.next().now_or_never() {
                Some(Some(forwarded)) => self.forwarded(forwarded),
                _ => break,
            }
        }
        if !self.has_room() {
            return None;
        }
        reads.next(|| self.owned.is_revoked())
    }

    /// Before the task waits: gives its handler permit back, so other partitions handle
    /// meanwhile, and stores the offsets released so far.
    fn pause(&mut self) {
        self.permit = None;
        self.flush();
    }

    /// Counts one more record on the handler permit held, if it has records and time left
    /// to serve. The time is looked at only while another partition waits for a permit:
    /// otherwise the clock is not read for every record.
    fn keep_permit(&mut self) -> bool {
        let contended = self.shared.waiting.load(Ordering::Relaxed) > 0;
        match &mut self.permit {
            Some((_, left, since)) => {
                let kept = keeps_permit(*left, contended, || since.elapsed());
                *left -= u32::from(kept);
                kept
            }
            None => false,
        }
    }

    /// Gives the handler permit back and takes a new one.
    async fn renew_permit(&mut self) -> Result<(), Stop> {
        // Give the permit back before queueing for the next: waiting partitions go first.
        self.pause();
        // The flag is set by the consume loop once it sees `stop`; the token is cancelled
        // first, and a burst must not outlast it.
        if self.shared.stop.is_cancelled() {
            return Err(Stop::Shutdown);
        }
        let permit = {
            let _waiting = Waiting::count(&self.shared.waiting);
            tokio::select! {
                biased;
                // A revoked partition must not call its handler: the record may be handled
                // by the partition's next task already.
                _ = revocation(&self.owned, self.late) => return Err(Stop::Revoked),
                permit = self.shared.permits.acquire() => permit.expect("never closed"),
            }
        };
        self.permit = Some((permit, BURST - 1, Instant::now()));
        Ok(())
    }

    /// True while the forwards in flight leave room to read another record, and the oldest
    /// of them is not stalled.
    fn has_room(&mut self) -> bool {
        let Some(oldest) = self.progress.oldest_unfinished() else {
            return true;
        };
        // Every record before the oldest unfinished one is done, its forward included.
        while self
            .started
            .front()
            .is_some_and(|(offset, _)| *offset < oldest)
        {
            self.started.pop_front();
        }
        let stalled = self
            .started
            .front()
            .is_some_and(|(_, at)| at.elapsed() >= STALLED_AFTER);
        self.progress.in_flight_bytes() < IN_FLIGHT_BUDGET && !stalled
    }

    /// Waits for the record's due time, handles it and starts its forward.
    async fn work_on(&mut self, message: Read<'_>) -> Result<(), Stop> {
        let shared = self.shared;
        let mut inbound = Inbound::read(&message, &shared.topic);
        let due = shared.held.as_ref().map(|_| due_of(&inbound));
        let held = self.hold(due);
        if let Some(wait) = shared.processor.wait_for(&mut inbound) {
            self.pause();
            // Boxed, as the permit's renewal below: rare waits, kept out of the future built
            // (and moved) for every record.
            Box::pin(self.wait(tokio::time::sleep(wait))).await?;
            // Checked when the wait ends: the partition may have moved meanwhile.
            self.check_owned()?;
        }
        let offset = message.offset();
        let footprint = inbound.footprint();
        if !self.keep_permit() {
            Box::pin(self.renew_permit()).await?;
        }
        let handled = match &shared.processor.breaker() {
            None => {
                drop(held);
                self.call(&inbound).await?
            }
            Some(breaker) => Box::pin(self.call_admitted(breaker, &inbound, held, due)).await?,
        };
        match shared.processor.next(inbound, handled) {
            None if self.progress.in_flight() == 0 => {
                // Later than any offset released before: it supersedes it.
                self.unstored = None;
                if !self.owned.is_revoked() {
                    // Through the message's own topic handle: no lookup of the topic by name.
                    log_unstored(message.store_offset(&shared.consumer));
                }
            }
            None => {
                let ticket = self.read(offset, 0);
                let released = self.progress.finish(ticket);
                self.store(released);
            }
            Some(forward) => {
                let ticket = self.read(offset, footprint);
                self.started.push_back((offset, Instant::now()));
                self.forwards
                    .push(forward.map(move |result| (ticket, result)).boxed());
            }
        }
        Ok(())
    }

    /// Counts the record in hand, due at `due` (retry topics and DLTs), in the topic's
    /// gauges until the guard drops.
    fn hold(&self, due: Option<i64>) -> Option<Held<'a>> {
        let shared = self.shared;
        shared
            .held
            .as_ref()
            .zip(due)
            .map(|(held, due)| held.hold(self.partition, due))
    }

    /// Calls the handler with the record, holding a permit.
    async fn call(&mut self, inbound: &Inbound<'_>) -> Result<Handled, Stop> {
        self.flush_if_stale();
        let mut handling = std::pin::pin!(self.shared.processor.handle(inbound));
        // Most records are handled on the first poll: the shutdown deadline is waited on
        // only by a handler that has to wait itself.
        match futures::poll!(handling.as_mut()) {
            Poll::Ready(handled) => Ok(handled),
            Poll::Pending => tokio::select! {
                biased;
                handled = &mut handling => Ok(handled),
                // A hung handler must not hold shutdown past its grace period; the
                // offsets released before it are still stored.
                _ = self.shared.abort.cancelled() => Err(Stop::Abandoned),
            },
        }
    }

    /// Calls the handler with the record once `breaker` admits it, holding a permit; a
    /// failure the breaker holds (design/breaker.md) keeps the record in hand, not forwarded,
    /// its offset unfinished, and it is handed to the handler again, same attempt, once
    /// admitted. `held` counts it in the topic's gauges until its call.
    async fn call_admitted(
        &mut self,
        breaker: &Arc<BreakerCell>,
        inbound: &Inbound<'_>,
        mut held: Option<Held<'a>>,
        due: Option<i64>,
    ) -> Result<Handled, Stop> {
        let kind = self.shared.processor.kind();
        let meta = &inbound.raw.meta;
        let record = RecordRef {
            topic: &meta.topic,
            partition: meta.partition,
            offset: meta.offset,
        };
        let mut resuming = None;
        loop {
            let admitted = match breaker.admit(record) {
                Admit::Wait(at, changes) => {
                    let _waiting = breaker.holding();
                    self.pause();
                    self.wait(Admit::wait(at, changes)).await?;
                    self.check_owned()?;
                    self.renew_permit().await?;
                    continue;
                }
                Admit::Let(admitted) => admitted.resuming(resuming),
            };
            drop(held.take());
            // A probe dropped unreported, its call abandoned, is given back.
            let handled = self.call(inbound).await?;
            let fate = handled.result().map_or(Fate::Proceed, |result| {
                admitted.ended(breaker, kind, result, record)
            });
            let Fate::Hold(failure) = fate else {
                return Ok(handled);
            };
            resuming = Some(failure);
            held = self.hold(due);
            self.holds(record.offset);
            // The breaker may be closed again already: a revoked partition or a stopping
            // app must not call the handler again.
            self.check_owned()?;
            if self.shared.stop.is_cancelled() {
                return Err(Stop::Shutdown);
            }
        }
    }

    /// The record at `offset` is held for the breaker: when every record before it is
    /// finished, its own offset is stored as the position to commit, so that a new owner
    /// starts at it even under `auto.offset.reset=latest` with nothing committed yet.
    fn holds(&mut self, offset: i64) {
        if self.progress.in_flight() > 0 || self.owned.is_revoked() {
            return;
        }
        self.unstored = None;
        // librdkafka stores `offset + 1`, the next record to read: the held record's.
        log_unstored(self.shared.consumer.store_offset(
            &self.shared.topic,
            self.partition,
            offset - 1,
        ));
    }

    /// Notes a record handled whose offset is not released at once. Offsets that went
    /// backwards (librdkafka reads the partition again from an earlier offset: the log was
    /// truncated, the topic recreated, an out-of-range offset reset) start the partition's
    /// progress over: the records in flight are forgotten (their forwards still complete, and
    /// release nothing), and no offset released before is stored over the new ones.
    pub fn read(&mut self, offset: i64, bytes: usize) -> ProgressTicket {
        if let Some(newest) = self.progress.rewinds(offset) {
            tracing::warn!(
                topic = %self.shared.topic,
                partition = self.partition,
                offset,
                after = newest,
                "offsets went backwards, from {newest} to {offset}: the partition's records in \
                 flight are forgotten and its progress starts over"
            );
            self.started.clear();
            self.unstored = None;
        }
        self.progress.read(offset, bytes)
    }

    /// Waits for `until` while completing forwards and storing what they release; ends early
    /// on revocation or shutdown.
    async fn wait(&mut self, done: impl std::future::Future<Output = ()>) -> Result<(), Stop> {
        tokio::pin!(done);
        loop {
            let store_at = self.store_due();
            tokio::select! {
                biased;
                _ = revocation(&self.owned, self.late) => return Err(Stop::Revoked),
                _ = self.shared.stop.cancelled() => return Err(Stop::Shutdown),
                Some(forwarded) = self.forwards.next() => self.forwarded(forwarded),
                // What the forwards release is stored on time, however long the wait.
                _ = until(store_at), if store_at.is_some() => self.flush(),
                _ = &mut done => return Ok(()),
            }
        }
    }

    /// A forward ended: acknowledged, its offset may be released; interrupted by shutdown,
    /// nothing from it on is (it stays in flight, holding back later offsets).
    pub fn forwarded(&mut self, (ticket, result): Forwarded) {
        match result {
            Ok(()) => {
                let released = self.progress.finish(ticket);
                self.store(released);
            }
            Err(interrupted) => {
                tracing::warn!(partition = self.partition, offset = ticket.offset(), %interrupted, "forward abandoned; offset not committed");
            }
        }
    }

    /// Completes (or, once the grace period is over, abandons) the forwards in flight.
    pub async fn drain(&mut self) {
        while let Some(forwarded) = self.forwards.next().await {
            self.forwarded(forwarded);
        }
    }

    /// Notes a released offset for the background commit (see [`Worker::unstored`]); with
    /// commit metadata, also a record finished behind an unfinished one.
    pub fn store(&mut self, released: Option<i64>) {
        let since = self.unstored.map_or_else(Instant::now, |(_, since)| since);
        match (released, &mut self.finished) {
            (Some(offset), finished) => {
                if let Some(finished) = finished {
                    finished.released(offset);
                }
                self.unstored = Some((offset, since));
            }
            (None, Some(_)) => {
                let offset = self.unstored.map_or(-1, |(offset, _)| offset);
                self.unstored = Some((offset, since));
            }
            (None, None) => {}
        }
    }

    /// `Err(Stop::Revoked)` once the partition is revoked, unless the record in hand was read
    /// late (see [`Worker::late`]): checked after every wait, before the handler is called.
    pub fn check_owned(&self) -> Result<(), Stop> {
        if !self.late && self.owned.is_revoked() {
            return Err(Stop::Revoked);
        }
        Ok(())
    }

    /// Counts one more record taken without waiting for it: true every [`YIELD_EVERY`]th,
    /// when the task yields its runtime worker, so records that are always ready do not keep
    /// it to themselves (and from the consume loop).
    pub fn due_to_yield(&mut self) -> bool {
        self.ready_since_yield += 1;
        if self.ready_since_yield < YIELD_EVERY {
            return false;
        }
        self.ready_since_yield = 0;
        true
    }

    /// When the offsets released and not yet stored are due to be stored ([`STORE_AFTER`]
    /// after the oldest); `None` when there are none.
    pub fn store_due(&self) -> Option<std::time::Instant> {
        self.unstored.map(|(_, since)| {
            std::time::Instant::now() + STORE_AFTER.saturating_sub(since.elapsed())
        })
    }

    /// Stores the released offsets once the oldest has waited [`STORE_AFTER`].
    pub fn flush_if_stale(&mut self) {
        if self
            .unstored
            .is_some_and(|(_, since)| since.elapsed() >= STORE_AFTER)
        {
            self.flush();
        }
    }

    /// Stores the offset released last, unless the partition was revoked.
    pub fn flush(&mut self) {
        if !self.owned.is_revoked() {
            self.flush_drained();
        }
    }

    /// Stores the offset released last, the partition revoked or not: with the lock log of
    /// `ordering = "key"`, the revocation waits for the task to drain, so the partition is
    /// still assigned and its commit comes before its next owner starts
    /// (design/key-order.md).
    pub fn flush_drained(&mut self) {
        let Some((offset, _)) = self.unstored.take() else {
            return;
        };
        let shared = self.shared;
        if let Some(finished) = &mut self.finished {
            finished.store(
                &shared.consumer,
                &shared.topic,
                self.partition,
                &self.progress,
            );
            return;
        }
        // librdkafka's offset store records `offset + 1`, the next record to read: pass the
        // handled record's own offset.
        log_unstored(
            self.shared
                .consumer
                .store_offset(&self.shared.topic, self.partition, offset),
        );
    }
}

/// Completes when the partition is revoked, unless the record in hand was read after the
/// revocation (`late`, see [`Worker::late`]): then never.
pub(crate) async fn revocation(owned: &Ownership, late: bool) {
    if late {
        std::future::pending::<()>().await;
    }
    owned.revoked().await;
}

/// Counts a partition waiting for a handler permit while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::Relaxed);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An offset librdkafka refused to store: its partition was revoked meanwhile, and the
/// record is redelivered to the partition's new owner.
fn log_unstored(stored: rdkafka::error::KafkaResult<()>) {
    if let Err(error) = stored {
        tracing::debug!(%error, "offset not stored (partition revoked?)");
    }
}

/// Whether a handler permit that may serve `left` more records serves the next one: while
/// another partition waits for a permit, only within [`BURST_TIME`] of taking it; `held`
/// (a clock read) is called only then.
fn keeps_permit(left: u32, others_waiting: bool, held: impl FnOnce() -> Duration) -> bool {
    left > 0 && !(others_waiting && held() >= BURST_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_is_kept_for_a_burst_and_the_clock_read_only_when_others_wait() {
        let unread = || -> Duration { panic!("the clock was read with nobody waiting") };
        assert!(keeps_permit(5, false, unread), "nobody waits: kept");
        assert!(
            !keeps_permit(0, false, unread),
            "the burst's records are served"
        );
        assert!(keeps_permit(5, true, || Duration::from_millis(1)));
        assert!(
            !keeps_permit(5, true, || BURST_TIME),
            "others wait past the burst's time: given back"
        );
    }
}
