//! The lock log of a listener with `ordering = "key"` (design/key-order.md), as one instance
//! uses it: a producer writing entries, and one reader thread folding every partition of the
//! log from its start with [`LockLog::apply`], so every instance decides every copy the same
//! way. Tasks wait for their own entries to come back through the fold before they go on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use retry_core::{
    decode_lock_entry, encode_lock_entry, ChainLink, LockEntry, LockLog, RecordKey, Released, Went,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::forward::Interrupted;
use crate::ownership::Ownership;
use crate::refetch::Refetch;

/// How long the reader waits for an entry before it looks at its stop flag again.
const POLL: Duration = Duration::from_millis(100);

/// How long a write waits between tries when the broker did not take an entry.
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// How long reading a partition's end offset may take.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Released keys a fold keeps for their tombstones at most; past it the oldest are
/// forgotten (their entries stay in the log until the key is released again).
const MAX_RELEASED: usize = 10_000;

/// How often the keys that left a fold get their tombstones, besides after each floor.
const TOMBSTONES_EVERY: Duration = Duration::from_secs(1);

/// The folded lock log of one main-topic partition.
pub(crate) struct Fold {
    /// The fold, read by the partition's tasks to judge records.
    log: Mutex<LockLog<RecordKey>>,
    /// The next offset of the log to fold: the fold has applied every entry below it.
    read_to: watch::Sender<i64>,
    /// Keys that left the fold, whose entries this instance tombstones: kept while it owns
    /// the main partition ([`Fold::claim`]). Replaying the log releases again what an owner
    /// did not tombstone, so the next owner does.
    released: Mutex<Option<Vec<Released<RecordKey>>>>,
    /// The keys of the entries applied lately, for tasks with waiting copies to judge again
    /// only those of the keys touched.
    touched: Mutex<Touched>,
}

/// Entries applied kept in [`Touched`]; a task that fell further behind judges all its
/// waiting copies again.
const TOUCHED_KEPT: usize = 65_536;

/// The keys of the entries a fold applied lately, numbered in the order applied.
#[derive(Default)]
struct Touched {
    /// The number the next entry applied gets.
    next: u64,
    /// The last entries' keys (`None` for a floor, which can move any key's copies).
    recent: VecDeque<Option<RecordKey>>,
}

/// A main-topic task's hold on its partition's fold: while it lives, the keys the fold
/// releases are kept for their tombstones.
pub(crate) struct Claim(Arc<Fold>);

impl Drop for Claim {
    fn drop(&mut self) {
        *self.0.released.lock().expect("lock-log fold poisoned") = None;
    }
}

impl Fold {
    fn new() -> Self {
        Self {
            log: Mutex::new(LockLog::default()),
            read_to: watch::Sender::new(0),
            released: Mutex::new(None),
            touched: Mutex::default(),
        }
    }

    /// Notes that an entry of `key` was applied (`None`: a floor).
    fn touch(&self, key: Option<RecordKey>) {
        let mut touched = self.touched.lock().expect("lock-log fold poisoned");
        touched.next += 1;
        touched.recent.push_back(key);
        if touched.recent.len() > TOUCHED_KEPT {
            touched.recent.pop_front();
        }
    }

    /// The keys of the entries applied since mark `seen` (`None`: any key may have moved,
    /// after a floor or past what is kept), and the mark to pass next time.
    pub fn touched_since(&self, seen: u64) -> (Option<HashSet<RecordKey>>, u64) {
        let touched = self.touched.lock().expect("lock-log fold poisoned");
        let kept_from = touched.next - touched.recent.len() as u64;
        if seen < kept_from {
            return (None, touched.next);
        }
        let since = touched.recent.range((seen - kept_from) as usize..);
        let keys: Option<HashSet<RecordKey>> = since.cloned().collect();
        (keys, touched.next)
    }

    /// The mark of the entries applied so far (see [`Fold::touched_since`]).
    pub fn touched_mark(&self) -> u64 {
        self.touched.lock().expect("lock-log fold poisoned").next
    }

    /// Keeps the keys the fold releases for their tombstones until the hold drops: this
    /// instance owns the main partition.
    pub fn claim(self: &Arc<Self>) -> Claim {
        *self.released.lock().expect("lock-log fold poisoned") = Some(Vec::new());
        Claim(self.clone())
    }

    /// Keeps `released` for their tombstones, while claimed.
    fn keep_released(&self, mut released: Vec<Released<RecordKey>>) {
        let mut kept = self.released.lock().expect("lock-log fold poisoned");
        if let Some(kept) = kept.as_mut() {
            kept.append(&mut released);
            if kept.len() > MAX_RELEASED {
                let excess = kept.len() - MAX_RELEASED;
                kept.drain(..excess);
            }
        }
    }

    /// The keys released since the last call.
    fn take_released(&self) -> Vec<Released<RecordKey>> {
        let mut kept = self.released.lock().expect("lock-log fold poisoned");
        kept.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Runs `f` on the folded state.
    pub fn with<R>(&self, f: impl FnOnce(&LockLog<RecordKey>) -> R) -> R {
        f(&self.log.lock().expect("lock-log fold poisoned"))
    }

    /// Changes whenever the fold applies entries.
    pub fn changes(&self) -> watch::Receiver<i64> {
        self.read_to.subscribe()
    }

    /// Waits until the fold has applied every entry below `offset`.
    async fn reached(&self, offset: i64) {
        let mut read_to = self.read_to.subscribe();
        // The sender lives as long as the fold: `wait_for` fails only if it were dropped.
        let _ = read_to.wait_for(|&read| read >= offset).await;
    }
}

/// The lock log client of one listener in one instance.
pub(crate) struct Locks {
    topic: String,
    producer: FutureProducer,
    /// Reads copies set aside again, for the listener's tasks.
    refetch: Refetch,
    folds: Arc<Mutex<HashMap<i32, Arc<Fold>>>>,
    /// Tells the reader thread to end, once this client is dropped.
    stop: Arc<AtomicBool>,
    /// Ends writes that wait for the broker.
    shutdown: CancellationToken,
    /// Bytes of metadata the listener's main-topic commits carry at most
    /// (`commit_metadata::metadata_limit`).
    commit_metadata: usize,
}

impl Locks {
    /// Starts the client of the lock log `topic`: its producer (idempotent, `acks=all`, no
    /// linger) from `producer`, the reader thread from `reader` (assigned every partition
    /// from the beginning, never joining its group nor committing), and the consumer that
    /// reads copies set aside again, from `reader` too. `shutdown` ends writes; the
    /// listener's main-topic commits carry at most `commit_metadata` bytes of metadata.
    pub fn start(
        topic: &str,
        producer: &ClientConfig,
        reader: &ClientConfig,
        shutdown: CancellationToken,
        commit_metadata: usize,
    ) -> KafkaResult<Arc<Self>> {
        let mut producer = producer.clone();
        producer
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0");
        let refetch = Refetch::new(reader);
        let mut reader = reader.clone();
        reader
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // An offset out of range (a truncated or recreated log) reads it all again
            // rather than skip entries.
            .set("auto.offset.reset", "earliest")
            // The end of a partition moves the fold's position past records compaction
            // removed there, so catching up never waits for an offset that is gone.
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "10");
        let reader: Reader = reader.create_with_context(ReaderContext::default())?;
        let folds = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let locks = Arc::new(Self {
            topic: topic.to_owned(),
            producer: producer.create()?,
            refetch,
            folds: folds.clone(),
            stop: stop.clone(),
            shutdown,
            commit_metadata,
        });
        let name = topic.to_owned();
        std::thread::Builder::new()
            .name(format!("lock-log {topic}"))
            .spawn(move || {
                if let Err(error) = read(&reader, &name, &folds, &stop) {
                    tracing::error!(topic = %name, %error, "lock log unreadable; key-ordered records wait");
                }
            })
            .expect("spawning the lock-log reader");
        Ok(locks)
    }

    /// Bytes of metadata the listener's main-topic commits carry at most.
    pub fn commit_metadata(&self) -> usize {
        self.commit_metadata
    }

    /// The fold of main partition `partition`.
    pub fn fold(&self, partition: i32) -> Arc<Fold> {
        fold_of(&self.folds, partition)
    }

    /// Waits until the fold of `partition` has applied every entry the log held when this
    /// was called: a task judges nothing before.
    pub async fn caught_up(&self, partition: i32) -> Result<(), Interrupted> {
        let end = loop {
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            let end = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_watermarks(&topic, partition, WATERMARKS_TIMEOUT)
            });
            let end = tokio::select! {
                end = end => end.expect("watermarks task panicked"),
                _ = self.shutdown.cancelled() => return Err(self.interrupted()),
            };
            match end {
                Ok((_, high)) => break high,
                // Judging against a fold that has not read the log would break key order.
                Err(error) => {
                    tracing::warn!(topic = %self.topic, partition, %error, "cannot read the lock log's end; trying again in {WRITE_RETRY:?}");
                    self.pause().await?;
                }
            }
        };
        let fold = self.fold(partition);
        tokio::select! {
            _ = fold.reached(end) => Ok(()),
            _ = self.shutdown.cancelled() => Err(self.interrupted()),
        }
    }

    /// The lock log's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The consumer that reads the listener's copies set aside again.
    pub fn refetch(&self) -> &Refetch {
        &self.refetch
    }

    /// Writes `entry` to the log of main partition `partition`, tried again until the broker
    /// takes it, and returns once the fold has applied it. A task's entry fails without being
    /// written once its partition's ownership `fence` is fenced (a revocation stopped waiting
    /// for the task); a floor, the instance's, has none.
    pub async fn write(
        &self,
        partition: i32,
        entry: &LockEntry<RecordKey>,
        fence: Option<&Ownership>,
    ) -> Result<(), Interrupted> {
        let (key, value) = encode_lock_entry(entry);
        let offset = loop {
            // Checked right before the entry is handed to the producer: the next owner may
            // have started, and an entry of this task landing after its takeover would break
            // the key's order. The record stays unfinished; the next owner handles it.
            if fence.is_some_and(Ownership::is_fenced) {
                tracing::warn!(topic = %self.topic, partition, "lock-log entry not written: the partition was fenced after its revocation; its next owner handles the record again");
                return Err(self.interrupted());
            }
            let record = FutureRecord::to(&self.topic)
                .partition(partition)
                .key(&key)
                .payload(&value);
            let sent = tokio::select! {
                sent = self.producer.send(record, Duration::from_secs(30)) => sent,
                _ = self.shutdown.cancelled() => return Err(self.interrupted()),
            };
            match sent {
                Ok(delivery) => break delivery.offset,
                Err((error, _)) => {
                    tracing::warn!(topic = %self.topic, partition, %error, "lock-log entry not written; trying again in {WRITE_RETRY:?}");
                    self.pause().await?;
                }
            }
        };
        let fold = self.fold(partition);
        tokio::select! {
            _ = fold.reached(offset + 1) => Ok(()),
            _ = self.shutdown.cancelled() => Err(self.interrupted()),
        }
    }

    /// Writes the entry `link` needs once its record went where `went` says, if any, and
    /// returns once the fold applied it; `owned` is the writing task's partition ownership.
    pub async fn enter(
        &self,
        partition: i32,
        link: ChainLink<RecordKey>,
        went: Went,
        owned: &Ownership,
    ) -> Result<(), Interrupted> {
        match link.entry(went) {
            Some(entry) => self.write(partition, &entry, Some(owned)).await,
            None => Ok(()),
        }
    }

    /// Writes the floor of each main partition as the group coordinator acknowledges its
    /// commits, until `commits` ends or shutdown, and tombstones the entries of the keys
    /// that left the folds of the partitions claimed ([`Fold::claim`]). Every chain entry of a record
    /// below a committed offset is in the log before the commit (a record's offset is
    /// released only once its entry is folded), so before the floor. Commits heard while a
    /// floor is being written are coalesced to the highest of each partition.
    pub async fn write_floors(self: Arc<Self>, mut commits: mpsc::UnboundedReceiver<(i32, i64)>) {
        let mut written: HashMap<i32, i64> = HashMap::new();
        // Keys also leave between floors (a record resolved below the floor).
        let mut tombstones_due = tokio::time::interval(TOMBSTONES_EVERY);
        loop {
            let mut highest = HashMap::new();
            tokio::select! {
                commit = commits.recv() => match commit {
                    Some((partition, offset)) => highest.insert(partition, offset),
                    None => return,
                },
                _ = tombstones_due.tick() => None,
            };
            while let Ok((partition, offset)) = commits.try_recv() {
                let floor = highest.entry(partition).or_insert(offset);
                *floor = offset.max(*floor);
            }
            for (partition, floor) in highest {
                if written.get(&partition).is_some_and(|w| *w >= floor) {
                    continue;
                }
                if self
                    .write(partition, &LockEntry::Floor(floor), None)
                    .await
                    .is_err()
                {
                    return;
                }
                written.insert(partition, floor);
            }
            let folds: Vec<(i32, Arc<Fold>)> = {
                let folds = self.folds.lock().expect("lock-log folds poisoned");
                folds.iter().map(|(p, f)| (*p, f.clone())).collect()
            };
            for (partition, fold) in folds {
                self.tombstone(partition, fold.take_released()).await;
            }
        }
    }

    /// Tombstones the entries of keys that left the fold of `partition`, chain entries first
    /// (as `Released` lists them), so compaction never keeps an entry without those that
    /// came before it. A tombstone the broker does not take is left: its entry stays in the
    /// log, which the fold reads the same with or without it.
    async fn tombstone(&self, partition: i32, released: Vec<Released<RecordKey>>) {
        for Released { key, entries } in released {
            for id in entries {
                let (entry_key, _) = encode_lock_entry(&id.entry(key.clone()));
                let record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                    .partition(partition)
                    .key(&entry_key);
                let sent = tokio::select! {
                    sent = self.producer.send(record, Duration::from_secs(30)) => sent,
                    _ = self.shutdown.cancelled() => return,
                };
                if let Err((error, _)) = sent {
                    tracing::warn!(topic = %self.topic, partition, %error, "lock-log tombstone not written; the entry stays in the log");
                    return;
                }
            }
        }
    }

    async fn pause(&self) -> Result<(), Interrupted> {
        tokio::select! {
            _ = tokio::time::sleep(WRITE_RETRY) => Ok(()),
            _ = self.shutdown.cancelled() => Err(self.interrupted()),
        }
    }

    fn interrupted(&self) -> Interrupted {
        Interrupted(self.topic.clone())
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn fold_of(folds: &Mutex<HashMap<i32, Arc<Fold>>>, partition: i32) -> Arc<Fold> {
    let mut folds = folds.lock().expect("lock-log folds poisoned");
    folds
        .entry(partition)
        .or_insert_with(|| Arc::new(Fold::new()))
        .clone()
}

/// The reader thread: assigns every partition of `topic` from the beginning and folds what
/// it reads until `stop`. An entry it cannot read stops its partition's fold (a newer format
/// is never skipped): the partition's key-ordered records wait, with an ERROR.
fn read(
    reader: &Reader,
    topic: &str,
    folds: &Mutex<HashMap<i32, Arc<Fold>>>,
    stop: &AtomicBool,
) -> KafkaResult<()> {
    // Until the metadata lists the topic's partitions (a topic created at start-up may not be
    // listed yet) and they are assigned.
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match assign_all(reader, topic) {
            Ok(true) => break,
            Ok(false) => {
                tracing::debug!(%topic, "the lock log's partitions are not listed yet; trying again")
            }
            Err(error) => {
                tracing::warn!(%topic, %error, "cannot assign the lock log's partitions; trying again")
            }
        }
        std::thread::sleep(WRITE_RETRY);
    }
    let mut broken: HashSet<i32> = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let message = match reader.poll(POLL) {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if let Some(position) = reader.context().take_end() {
                    let fold = fold_of(folds, partition);
                    fold.read_to.send_if_modified(|read| {
                        let moved = position > *read;
                        *read = (*read).max(position);
                        moved
                    });
                }
                continue;
            }
            Some(Err(error)) => {
                tracing::warn!(%topic, %error, "lock-log read failed");
                continue;
            }
        };
        let partition = message.partition();
        if broken.contains(&partition) {
            continue;
        }
        let fold = fold_of(folds, partition);
        match decode_lock_entry(message.key().unwrap_or_default(), message.payload()) {
            Ok(entry) => {
                if let Some(entry) = entry {
                    let key = entry.key().cloned();
                    let released = fold
                        .log
                        .lock()
                        .expect("lock-log fold poisoned")
                        .apply(entry);
                    fold.touch(key);
                    if !released.is_empty() {
                        fold.keep_released(released);
                    }
                }
                fold.read_to.send_replace(message.offset() + 1);
            }
            Err(error) => {
                tracing::error!(%topic, partition, offset = message.offset(), %error, "lock-log entry unreadable; the partition's key-ordered records wait");
                broken.insert(partition);
            }
        }
    }
    Ok(())
}

/// Assigns every partition of `topic` from the beginning: `false` while the metadata does not
/// list any.
fn assign_all(reader: &Reader, topic: &str) -> KafkaResult<bool> {
    let metadata = reader.fetch_metadata(Some(topic), WATERMARKS_TIMEOUT)?;
    let Some(listed) = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
    else {
        return Ok(false);
    };
    if listed.partitions().is_empty() {
        return Ok(false);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in listed.partitions() {
        assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
    }
    reader.assign(&assignment)?;
    Ok(true)
}

/// The reader's client context. A partition's end is how the reader knows it caught up, not
/// an error to log (rdkafka logs every client error at ERROR by default), and its offset
/// moves the fold past records compaction removed at the end, which the reader's own
/// position (the last record read, plus one) never passes. rdkafka hands the reader the end
/// without its offset; the offset comes in the same poll, through this context, only in
/// librdkafka's description ("reached end of partition at offset N"), so it is read from
/// there. The partition's high watermark, read instead, would count records fetched after
/// the end and not yet folded.
#[derive(Default)]
struct ReaderContext {
    /// The offset of the end reached last, until the reader takes it.
    end: Mutex<Option<i64>>,
}

impl ReaderContext {
    /// The offset of the partition end just reached, if librdkafka said it.
    fn take_end(&self) -> Option<i64> {
        self.end.lock().expect("reader context poisoned").take()
    }
}

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!(%error, reason, "lock-log reader");
            return;
        }
        *self.end.lock().expect("reader context poisoned") = end_offset(reason);
    }
}

/// The offset in librdkafka's description of a partition end: `... at offset N ...`.
fn end_offset(reason: &str) -> Option<i64> {
    let (_, after) = reason.split_once("at offset ")?;
    let digits: &str = after.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

impl ConsumerContext for ReaderContext {}

/// The reader's consumer.
type Reader = BaseConsumer<ReaderContext>;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> RecordKey {
        Some(k.as_bytes().to_vec())
    }

    #[test]
    fn a_partition_end_is_read_from_librdkafkas_description() {
        let reason = "Fetch from broker 1 reached end of partition at offset 17 (HighwaterMark 20)";
        assert_eq!(end_offset(reason), Some(17));
        assert_eq!(end_offset("something else"), None);
    }

    #[test]
    fn a_task_judges_again_only_the_keys_touched_since_it_last_looked() {
        let fold = Fold::new();
        let start = fold.touched_mark();
        fold.touch(Some(key("a")));
        fold.touch(Some(key("b")));
        let (touched, mark) = fold.touched_since(start);
        assert_eq!(touched, Some(HashSet::from([key("a"), key("b")])));
        fold.touch(Some(key("c")));
        let (touched, mark) = fold.touched_since(mark);
        assert_eq!(
            touched,
            Some(HashSet::from([key("c")])),
            "only since the mark"
        );
        fold.touch(None);
        assert_eq!(
            fold.touched_since(mark).0,
            None,
            "a floor touches every key"
        );
        for _ in 0..=TOUCHED_KEPT {
            fold.touch(Some(key("d")));
        }
        assert_eq!(fold.touched_since(mark).0, None, "fell behind what is kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_fenced_after_its_revocation_writes_no_entry() {
        const LOG: &str = "orders-retry-locks";
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic(LOG, 1, 1).unwrap();
        let mut producer = ClientConfig::new();
        producer.set("bootstrap.servers", cluster.bootstrap_servers());
        let mut reader = producer.clone();
        reader.set("group.id", "orders-retry-locks-reader");
        let locks = Locks::start(LOG, &producer, &reader, CancellationToken::new(), 4000).unwrap();
        let entry = |offset| LockEntry::Chain {
            key: key("k"),
            offset,
            copy: retry_core::CopyAt { hop: 1, offset },
        };
        let write = |offset, owned| {
            let (locks, entry) = (&locks, entry(offset));
            async move {
                let written = locks.write(0, &entry, Some(owned));
                tokio::time::timeout(Duration::from_secs(20), written).await
            }
        };
        let owned = Ownership::default();
        let written = write(0, &owned).await;
        assert!(matches!(written, Ok(Ok(()))), "{written:?}");
        owned.fence();
        let written = write(1, &owned).await;
        assert!(matches!(written, Ok(Err(_))), "refused: {written:?}");
        let (_, end) = tokio::task::block_in_place(|| {
            let client = locks.producer.client();
            client.fetch_watermarks(LOG, 0, Duration::from_secs(5))
        })
        .unwrap();
        assert_eq!(end, 1, "only the entry written before the fence");
    }
}
