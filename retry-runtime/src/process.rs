//! Handling one record: call the handler, ask the core where the record goes next, forward
//! it there, and only then mark its offset for commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use metrics::{Counter, Histogram};
use rdkafka::message::OwnedHeaders;
use retry_core::headers::{forward_attempts, write_forward, HeaderSink, Hop, KEY_LOCK};
use retry_core::{
    decide, ChainLink, CopyAt, Decision, DecodeError, DestinationKind, DestinationTopic,
    DltFailureAction, ErrorFilter, ExceptionInfo, Failure, HandlerError, ProcessingOrder,
    RawRecord, RecordKey, RecordMeta, StackTrace, Went,
};
use tracing::Instrument;

use crate::breaker::BreakerCell;
use crate::forward::{ForwardError, Forwarder, Interrupted};
use crate::inbound::{now_ms, Inbound};
use crate::kafka_headers::KafkaHeaders;
use crate::listener::{Handler, Listener};
use crate::locks::Locks;
use crate::ownership::Ownership;

/// Counters and the latency histogram of one listener topic, registered once.
struct Meters {
    handled: Counter,
    retried: Counter,
    dead_lettered: Counter,
    dropped: Counter,
    latency: Histogram,
    /// What `latency` is measured with, read twice per record: the TSC, raw, cheaper than
    /// `quanta::Instant::now` and `std::time::Instant`. Created at start-up, it calibrates the
    /// TSC once per process there, not on the first record.
    clock: quanta::Clock,
}

impl Meters {
    fn new(listener: &str, topic: &str) -> Self {
        let labels = [
            ("listener", listener.to_owned()),
            ("topic", topic.to_owned()),
        ];
        Self {
            handled: metrics::counter!("kafka_retry_handled_total", &labels),
            retried: metrics::counter!("kafka_retry_retried_total", &labels),
            dead_lettered: metrics::counter!("kafka_retry_dead_lettered_total", &labels),
            dropped: metrics::counter!("kafka_retry_dropped_total", &labels),
            latency: metrics::histogram!("kafka_retry_handler_seconds", &labels),
            clock: quanta::Clock::new(),
        }
    }
}

/// What a record's handler made of it (`None`: it has none, a DLT without a
/// `#[dlt_handler]`), with the record's span.
pub(crate) struct Handled {
    outcome: Option<Result<(), HandlerError>>,
    span: tracing::Span,
}

impl Handled {
    /// The handler's result; `None` for a DLT without a `#[dlt_handler]`.
    pub fn result(&self) -> Option<&Result<(), HandlerError>> {
        self.outcome.as_ref()
    }
}

/// A forward in flight: completes when the broker acknowledged the record.
pub(crate) type Forward = BoxFuture<'static, Result<(), Interrupted>>;

/// Where a forward put its record, as the lock log of `ordering = "key"` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// In a retry or parked topic, at this position.
    Copy(CopyAt),
    /// In a DLT.
    DeadLetter,
}

impl Delivered {
    /// Where the record went, as the lock log's chain says it.
    fn went(self) -> Went {
        match self {
            Delivered::Copy(copy) => Went::Copied(copy),
            Delivered::DeadLetter => Went::DeadLettered,
        }
    }
}

/// The `kafka_exception-fqcn` of a record dead-lettered because its retry topic refused it.
pub(crate) const FORWARD_REFUSED: &str = "kafka_retry::ForwardRefused";

/// The `kafka_exception-fqcn` of a record parked because its key is blocked
/// (`ordering = "key"`): no failure of its own.
pub(crate) const KEY_BLOCKED: &str = "kafka_retry::KeyBlocked";

/// What a forward's provenance headers say besides the record's own metadata.
struct Stamp {
    exception: ExceptionInfo,
    original_timestamp_ms: i64,
    attempts: u32,
    due_ms: i64,
}

/// Where a failed record goes, with what its headers will say. The headers are written when
/// the record is sent, straight into the client's list, which the send consumes.
pub(crate) struct NextHop {
    raw: RawRecord<'static>,
    topic: String,
    /// The copy's hop in a retry or parked topic (`retry_topic-attempts` less one: 0 in the
    /// parked topic); `None` for a DLT.
    hop: Option<u32>,
    stamp: Stamp,
    /// Whether a refusal sends the record to the DLT (a forward to a retry topic) instead of
    /// keeping it uncommitted.
    dead_letter_if_refused: bool,
}

/// Handles the records of one listener topic.
pub(crate) struct Processor {
    listener: Arc<Listener>,
    destination: DestinationTopic,
    /// Where a dead letter whose `#[dlt_handler]` failed is re-published: this DLT, or for an
    /// orphaned one the plan's generic DLT, so that the orphan empties.
    republish_to: String,
    forwarder: Arc<Forwarder>,
    /// The listener's breaker, when it has one and this topic's records reach a handler.
    breaker: Option<Arc<BreakerCell>>,
    /// The listener's lock log, with `ordering = "key"`.
    locks: Option<Arc<Locks>>,
    meters: Meters,
}

impl Processor {
    /// Handles `destination`'s records for `listener`; `breaker` is the listener's (one
    /// for all its topics), used unless the topic is a DLT without a `#[dlt_handler]`;
    /// `locks` is its lock log, with `ordering = "key"`.
    pub fn new(
        listener: Arc<Listener>,
        destination: DestinationTopic,
        forwarder: Arc<Forwarder>,
        breaker: Option<Arc<BreakerCell>>,
        locks: Option<Arc<Locks>>,
    ) -> Self {
        let meters = Meters::new(&listener.config.name, &destination.name);
        let republish_to = match listener.config.topics.dlt() {
            Some(dlt) if !listener.plans(&destination.name) => dlt.name.clone(),
            _ => destination.name.clone(),
        };
        let handled = destination.kind != DestinationKind::Dlt || listener.dlt_handler.is_some();
        Self {
            listener,
            destination,
            republish_to,
            forwarder,
            breaker: breaker.filter(|_| handled),
            locks,
            meters,
        }
    }

    /// The listener's lock log, with `ordering = "key"`.
    pub fn locks(&self) -> Option<&Arc<Locks>> {
        self.locks.as_ref()
    }

    /// The listener's breaker, when this topic's records are subject to it.
    pub fn breaker(&self) -> Option<&Arc<BreakerCell>> {
        self.breaker.as_ref()
    }

    /// The kind of topic handled.
    pub fn kind(&self) -> DestinationKind {
        self.destination.kind
    }

    /// Calls the record's handler, in the record's span. Where the record goes next is
    /// [`Processor::next`]'s decision, synchronous: the future built (and moved) for every
    /// record borrows the record and holds the call's state only, not the failure path's.
    ///
    /// The span per record is at DEBUG: at INFO, `run()`'s default, it costs one level check
    /// instead of formatting its fields on every record. The events of a failure, at INFO and
    /// above, name the record themselves.
    pub async fn handle(&self, inbound: &Inbound<'_>) -> Handled {
        let meta = &inbound.raw.meta;
        let span = tracing::debug_span!(
            "record",
            listener = %self.listener.config.name,
            key = %String::from_utf8_lossy(meta.key.as_deref().unwrap_or_default()),
            topic = %meta.topic,
            partition = meta.partition,
            offset = meta.offset,
            attempt = meta.attempt,
        );
        // Not wrapped in a disabled span: on the happy path every layer of future costs a
        // copy of its state per record.
        let outcome = if span.is_disabled() {
            self.run_handler(inbound).await
        } else {
            self.run_handler(inbound).instrument(span.clone()).await
        };
        Handled { outcome, span }
    }

    /// Where a record goes after [`Processor::handle`]: a forward, returned, not awaited
    /// (the record's offset may be stored once it completes), or nowhere.
    pub fn next(self: &Arc<Self>, inbound: Inbound<'_>, handled: Handled) -> Option<Forward> {
        let Handled { outcome, span } = handled;
        let next = span.in_scope(|| self.next_hop(inbound, outcome))?;
        Some(Box::pin(
            self.forward(next).map(|r| r.map(drop)).instrument(span),
        ))
    }

    /// [`Processor::next`] for a record of the lock log's chain (`ordering = "key"`): the
    /// forward, if any, then the entry `link` writes for where the record went, unless
    /// `owned` is fenced meanwhile; completes once the fold applied the entry. `None` when
    /// there is neither.
    pub fn next_linked(
        self: &Arc<Self>,
        inbound: Inbound<'_>,
        handled: Handled,
        link: ChainLink<RecordKey>,
        owned: Arc<Ownership>,
    ) -> Option<Forward> {
        let locks = self.locks.clone()?;
        let Handled { outcome, span } = handled;
        let resolved = match outcome {
            Some(Ok(())) => Went::Handled,
            _ => Went::DeadLettered,
        };
        let partition = inbound.raw.meta.partition;
        let forward = span
            .in_scope(|| self.next_hop(inbound, outcome))
            .map(|next| self.forward(next));
        if forward.is_none() && matches!(link, ChainLink::Main { .. }) {
            return None;
        }
        let settle = async move {
            let went = match forward {
                None => resolved,
                Some(forward) => forward.await?.went(),
            };
            locks.enter(partition, link, went, &owned).await
        };
        Some(Box::pin(settle.instrument(span)))
    }

    /// Forwards a main-topic record whose key is blocked to the parked topic, then writes its
    /// chain entry (`ordering = "key"`) unless `owned` is fenced meanwhile; completes once the
    /// fold applied it.
    pub fn park(
        self: &Arc<Self>,
        inbound: Inbound<'_>,
        link: ChainLink<RecordKey>,
        owned: Arc<Ownership>,
    ) -> Forward {
        let locks = self.locks.clone().expect("parking needs the lock log");
        let parked = self.listener.config.topics.parked();
        let topic = parked.expect("parking needs the parked topic").name.clone();
        let now = now_ms();
        let raw = inbound.raw.into_owned();
        tracing::debug!(record = %self.at(&raw), to = %topic, "parked: its key is blocked");
        let stamp = Stamp {
            exception: ExceptionInfo {
                fqcn: KEY_BLOCKED.to_owned(),
                cause_fqcn: KEY_BLOCKED.to_owned(),
                message: "an earlier record of its key waits for a retry".to_owned(),
                stacktrace: String::new(),
            },
            original_timestamp_ms: raw.meta.timestamp_ms.unwrap_or(now),
            attempts: 1,
            due_ms: now,
        };
        let partition = raw.meta.partition;
        let forward = self.forward(NextHop {
            raw,
            topic,
            hop: Some(0),
            stamp,
            // Dead-lettered ahead of its key's waiting record, it would break the key's
            // order: it waits for the parked topic to take it instead.
            dead_letter_if_refused: false,
        });
        Box::pin(async move {
            let went = forward.await?.went();
            locks.enter(partition, link, went, &owned).await
        })
    }

    /// Runs the handler this topic's records go to; `None` for a DLT without a
    /// `#[dlt_handler]`. A retry topic's record whose retry headers cannot be read fails
    /// without a call.
    async fn run_handler(&self, inbound: &Inbound<'_>) -> Option<Result<(), HandlerError>> {
        let handler = match self.destination.kind {
            DestinationKind::Dlt => &self.listener.dlt_handler.as_ref()?.1,
            DestinationKind::Main => &self.listener.handler,
            DestinationKind::Retry { .. } | DestinationKind::Parked => match &inbound.state {
                Err(bad_header) => {
                    let error = DecodeError::Header(bad_header.clone());
                    return Some(Err(HandlerError::Decode(error)));
                }
                Ok(_) => &self.listener.handler,
            },
        };
        Some(self.call(handler, &inbound.raw).await)
    }

    /// Where the record goes next, if anywhere, given what its handler made of it (`None`:
    /// no handler, a DLT without a `#[dlt_handler]`).
    pub(crate) fn next_hop(
        &self,
        inbound: Inbound<'_>,
        outcome: Option<Result<(), HandlerError>>,
    ) -> Option<NextHop> {
        let is_dlt = self.destination.kind == DestinationKind::Dlt;
        match outcome {
            Some(Ok(())) => {
                self.meters.handled.increment(1);
                tracing::debug!(dead_letter = is_dlt, "handled");
                None
            }
            None => {
                self.unhandled_dead_letter(&inbound.raw);
                None
            }
            Some(Err(error)) if is_dlt => self.dead_letter_failed(inbound, error),
            Some(Err(error)) => self.retryable_failed(inbound, error),
        }
    }

    /// The record as failure events name it.
    pub fn at<'a>(&'a self, raw: &'a RawRecord<'_>) -> RecordAt<'a> {
        RecordAt {
            listener: &self.listener.config.name,
            meta: &raw.meta,
        }
    }

    async fn call(&self, handler: &Handler, raw: &RawRecord<'_>) -> Result<(), HandlerError> {
        let clock = &self.meters.clock;
        let started = clock.raw();
        let result = AssertUnwindSafe(handler.call(raw))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(HandlerError::Panicked(panic_message(&*panic))));
        let nanos = clock.delta_as_nanos(started, clock.raw());
        self.meters.latency.record(Duration::from_nanos(nanos));
        result
    }

    /// A record of the main topic or a retry topic that failed: retried, dead-lettered or
    /// dropped, as the policy decides.
    fn retryable_failed(&self, inbound: Inbound<'_>, error: HandlerError) -> Option<NextHop> {
        let raw = &inbound.raw;
        let is_main = self.destination.kind == DestinationKind::Main;
        let now = now_ms();
        let attempt = if is_main { 1 } else { raw.meta.attempt };
        let original_timestamp_ms = if is_main {
            raw.meta.timestamp_ms.unwrap_or(now)
        } else {
            inbound.original_timestamp_ms(now)
        };
        let policy = &self.listener.config.policy;
        // Rendered once, before anything else reads it: user code (Display, Debug) runs here.
        let exception = describe(&error, &policy.errors, self.listener.config.stacktrace);
        let failure = Failure {
            attempt,
            original_timestamp_ms,
            now_ms: now,
            class: policy.errors.classify(&error),
            dlt_route: policy.dlt_route(&error),
            jitter_sample: rand::random(),
        };
        let (topic, attempts, due_ms, hop) = match decide(
            policy,
            &self.listener.config.topics,
            Some(failure),
        ) {
            Decision::Done => return None,
            Decision::Retry {
                topic,
                next_attempt,
                due_ms,
            } => {
                self.meters.retried.increment(1);
                // DEBUG, as Spring logs a retry by default (`AFTER_RETRIES_EXHAUSTED`): in a
                // failure storm a line per retry would cost more than the retry itself.
                tracing::debug!(record = %self.at(raw), to = %topic.name, due_in_ms = due_ms - now, error = %exception.message, "retrying");
                (topic, next_attempt, due_ms, Some(next_attempt - 1))
            }
            Decision::DeadLetter { topic, reason } => {
                self.meters.dead_lettered.increment(1);
                tracing::warn!(record = %self.at(raw), to = %topic.name, %reason, error = %exception.message, "dead-lettered");
                (topic, forward_attempts(attempt), now, None)
            }
            Decision::Drop { reason } => {
                self.meters.dropped.increment(1);
                tracing::warn!(record = %self.at(raw), %reason, error = %exception.message, "dropped: no dead-letter topic (dlt = \"none\")");
                return None;
            }
        };
        let stamp = Stamp {
            exception,
            original_timestamp_ms,
            attempts,
            due_ms,
        };
        Some(NextHop {
            raw: inbound.raw.into_owned(),
            topic: topic.name.clone(),
            hop,
            stamp,
            dead_letter_if_refused: !matches!(topic.kind, DestinationKind::Dlt),
        })
    }

    /// A record of a DLT that has no `#[dlt_handler]`: logged and committed.
    fn unhandled_dead_letter(&self, raw: &RawRecord<'_>) {
        self.meters.handled.increment(1);
        let message = raw
            .meta
            .headers
            .get_str(retry_core::headers::EXCEPTION_MESSAGE)
            .unwrap_or("");
        tracing::warn!(record = %self.at(raw), reason = %message, "dead letter (no #[dlt_handler]; committed)");
    }

    /// What becomes of a record of the DLT whose `#[dlt_handler]` failed with `error`.
    fn dlt_failure_action(&self, error: &HandlerError) -> DltFailureAction {
        let config = &self.listener.config;
        match error {
            // A record that cannot be decoded never will be: trying it again would loop
            // forever.
            HandlerError::Decode(_) => DltFailureAction::LogAndCommit,
            _ => config
                .policy
                .dlt
                .on_handler_failure(config.ordering, &config.policy.backoff),
        }
    }

    /// How long a dead letter whose `#[dlt_handler]` failed waits before it is handed to the
    /// handler again, in place (`ordering = "key"`, `dlt = "always_retry"`): its key's later
    /// dead letters wait for it. `None` when the record goes on with [`Processor::next`].
    pub fn again_in_place(&self, inbound: &Inbound<'_>, handled: &Handled) -> Option<Duration> {
        if self.destination.kind != DestinationKind::Dlt {
            return None;
        }
        let Some(Err(error)) = &handled.outcome else {
            return None;
        };
        let DltFailureAction::RetryInPlace { after } = self.dlt_failure_action(error) else {
            return None;
        };
        let exception = describe(
            error,
            &self.listener.config.policy.errors,
            self.listener.config.stacktrace,
        );
        self.meters.retried.increment(1);
        handled.span.in_scope(|| {
            tracing::warn!(record = %self.at(&inbound.raw), handler = self.dlt_handler_name(), error = %exception.message, retry_in_ms = after.as_millis() as u64, "DLT handler failed; retrying in place");
        });
        Some(after)
    }

    /// The name of the listener's `#[dlt_handler]`; always set where a DLT handler failed.
    fn dlt_handler_name(&self) -> &'static str {
        self.listener
            .dlt_handler
            .as_ref()
            .map_or("", |(name, _)| *name)
    }

    /// A record of the DLT whose `#[dlt_handler]` failed: committed or re-published, as the
    /// DLT setting says.
    fn dead_letter_failed(&self, inbound: Inbound<'_>, error: HandlerError) -> Option<NextHop> {
        let raw = &inbound.raw;
        let dlt_handler_name = self.dlt_handler_name();
        let policy = &self.listener.config.policy;
        let exception = describe(&error, &policy.errors, self.listener.config.stacktrace);
        match self.dlt_failure_action(&error) {
            DltFailureAction::LogAndCommit => {
                self.meters.dropped.increment(1);
                tracing::error!(record = %self.at(raw), handler = dlt_handler_name, error = %exception.message, "DLT handler failed; committed (dlt = \"fail\")");
                None
            }
            // In place: asked by [`Processor::again_in_place`] first, which the key-ordered
            // task does; a task that does not re-publishes.
            DltFailureAction::Republish | DltFailureAction::RetryInPlace { .. } => {
                // Unlike Spring, the re-published record waits one initial backoff delay, so a
                // DLT handler that keeps failing does not spin.
                let now = now_ms();
                let due = now + policy.backoff.initial().as_millis() as i64;
                self.meters.retried.increment(1);
                tracing::warn!(record = %self.at(raw), handler = dlt_handler_name, error = %exception.message, "DLT handler failed; re-publishing to the DLT");
                let stamp = Stamp {
                    original_timestamp_ms: inbound.original_timestamp_ms(now),
                    attempts: forward_attempts(raw.meta.attempt),
                    due_ms: due,
                    exception,
                };
                Some(NextHop {
                    raw: inbound.raw.into_owned(),
                    topic: self.republish_to.clone(),
                    hop: None,
                    stamp,
                    dead_letter_if_refused: false,
                })
            }
        }
    }

    /// Publishes the record to its next topic and completes once the broker acknowledged it. A retry
    /// topic that refuses the record for good (too large, gone, not writable) sends it to
    /// the DLT with the reason, when `dead_letter_if_refused`; a refusal with nowhere else to go
    /// keeps the record uncommitted, its partition waiting.
    pub(crate) fn forward(
        self: &Arc<Self>,
        NextHop {
            raw,
            topic,
            hop,
            stamp,
            dead_letter_if_refused,
        }: NextHop,
    ) -> impl std::future::Future<Output = Result<Delivered, Interrupted>> + Send + 'static {
        let this = self.clone();
        async move {
            let at = |offset| match hop {
                Some(hop) => Delivered::Copy(CopyAt { hop, offset }),
                None => Delivered::DeadLetter,
            };
            let headers = || this.forward_headers(&raw, &stamp, hop.is_some());
            let refused = match this.forwarder.send(&raw, &topic, &headers).await {
                Ok(offset) => return Ok(at(offset)),
                Err(ForwardError::Interrupted(interrupted)) => return Err(interrupted),
                Err(refused @ ForwardError::Refused { .. }) => refused,
            };
            let dlt = this.listener.config.topics.dlt().map(|t| t.name.clone());
            let Some(dlt) = dlt.filter(|_| dead_letter_if_refused) else {
                return this
                    .forwarder
                    .send_until_accepted(&raw, &topic, &headers)
                    .await
                    .map(at);
            };
            this.meters.dead_lettered.increment(1);
            tracing::warn!(record = %this.at(&raw), to = %dlt, %refused, "forward refused; dead-lettering instead");
            let stamp = Stamp {
                exception: ExceptionInfo {
                    fqcn: FORWARD_REFUSED.to_owned(),
                    message: refused.to_string(),
                    ..ExceptionInfo::default()
                },
                due_ms: now_ms(),
                ..stamp
            };
            let headers = || this.forward_headers(&raw, &stamp, false);
            this.forwarder
                .send_until_accepted(&raw, &dlt, &headers)
                .await
                .map(|_| Delivered::DeadLetter)
        }
    }

    /// `raw`'s headers with the provenance of this hop, written straight into the client's
    /// header list; with `ordering = "key"`, a copy to a retry or parked topic (`copy`) is
    /// marked as one whose key's order the lock log keeps.
    fn forward_headers(&self, raw: &RawRecord<'_>, stamp: &Stamp, copy: bool) -> OwnedHeaders {
        let Stamp {
            exception,
            original_timestamp_ms,
            attempts,
            due_ms,
        } = stamp;
        let original_timestamp_ms = *original_timestamp_ms;
        let hop = Hop {
            topic: &raw.meta.topic,
            partition: raw.meta.partition,
            offset: raw.meta.offset,
            timestamp_ms: raw.meta.timestamp_ms.unwrap_or(original_timestamp_ms),
            timestamp_type: raw.meta.timestamp_type,
            group: &self.destination.group,
            exception,
            original_timestamp_ms,
            first: self.destination.kind == DestinationKind::Main,
        };
        let mut headers = KafkaHeaders::with_capacity(raw.meta.headers.len() + 14);
        write_forward(&raw.meta.headers, &hop, *attempts, *due_ms, &mut headers);
        if copy && self.listener.config.ordering == ProcessingOrder::Key {
            headers.append(KEY_LOCK.as_bytes(), Some(b"1"));
        }
        headers.into_inner()
    }

    /// How the records of one partition are handled relative to each other.
    pub fn ordering(&self) -> retry_core::ProcessingOrder {
        self.listener.config.ordering
    }

    /// With `ordering = "key"`, how much a main partition's lock log may hold before the
    /// partition stops reading.
    pub fn key_bounds(&self) -> retry_core::ChainBounds {
        self.listener.config.key_bounds
    }

    /// The topic this processor handles.
    pub fn topic(&self) -> &str {
        &self.destination.name
    }

    /// True for retry topics and DLTs, whose records may have to wait for their due time.
    pub fn holds_delayed_records(&self) -> bool {
        self.destination.kind != DestinationKind::Main
    }

    /// How long the record waits before it may be handled, if it is not due yet. Main-topic
    /// records are always due; a due time more than a day away is handled at once (Spring's
    /// rule).
    pub fn wait_for(&self, inbound: &mut Inbound<'_>) -> Option<Duration> {
        if !self.holds_delayed_records() {
            return None;
        }
        inbound.wait()
    }
}

/// The exception headers' view of `error`, bounded in size. The error's `Display` and
/// `Debug` are user code: one that panics yields a description saying so, instead of taking
/// the partition's task down.
fn describe(error: &HandlerError, filter: &ErrorFilter, stacktrace: StackTrace) -> ExceptionInfo {
    std::panic::catch_unwind(AssertUnwindSafe(|| error.exception(filter, stacktrace)))
        .unwrap_or_else(|panic| ExceptionInfo {
            fqcn: "panic".to_owned(),
            cause_fqcn: "panic".to_owned(),
            message: format!(
                "the handler's error could not be displayed: {}",
                panic_message(&*panic)
            ),
            stacktrace: String::new(),
        })
        .bounded()
}

/// A record as failure events name it: `listener: topic-partition@offset (key k)`.
pub(crate) struct RecordAt<'a> {
    listener: &'a str,
    meta: &'a RecordMeta,
}

impl std::fmt::Display for RecordAt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.meta;
        write!(
            f,
            "{}: {}-{}@{}",
            self.listener, meta.topic, meta.partition, meta.offset
        )?;
        match &meta.key {
            Some(key) => write!(f, " (key {})", String::from_utf8_lossy(key)),
            None => f.write_str(" (no key)"),
        }
    }
}

/// The message a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
