//! One listener's circuit breaker in one instance (design/breaker.md): the core's [`Breaker`]
//! behind a lock, shared by the partition tasks of every topic the listener consumes, with
//! its log lines, its metrics and the signal that wakes the tasks waiting on it.

use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use metrics::{Counter, Gauge};
use retry_core::{
    Admission, AdmittedCall, Breaker, BreakerConfig, BreakerState, CallOutcome, DestinationKind,
    ErrorFilter, Fate, HandlerError, HeldFailure, Probe, Transition, TransitionReason,
};
use tokio::sync::watch;

/// The listener's last probes, all failed with a `pause_on` error by one same record, after
/// which that record counts as its own outage and goes on as an ordinary failure (one
/// attempt): with one partition, or every other one idle, nothing else can tell a record
/// whose query kills its connection from a downstream that is down. A probe by any other
/// record starts the count again.
pub(crate) const ALONE_AFTER_PROBES: u32 = 5;

/// A record as the breaker's log lines name it, and how it tells one probe record from
/// another: `topic-partition@offset`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef<'m> {
    /// The record's topic.
    pub topic: &'m str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

impl std::fmt::Display for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// A listener's breaker, shared by its partition tasks.
pub(crate) struct BreakerCell {
    listener: String,
    config: BreakerConfig,
    filter: ErrorFilter,
    machine: Mutex<Machine>,
    /// The state, sent under the lock on every change: tasks waiting for admission wake on
    /// it.
    changes: watch::Sender<BreakerState>,
    meters: Meters,
}

/// The state machine, with when it last left the closed state (for `/ready`).
struct Machine {
    breaker: Breaker,
    since: Instant,
    /// The record whose probes failed last with a `pause_on` error
    /// (`topic, partition, offset`), and how many in a row.
    lone: Option<((String, i32, i64), u32)>,
}

/// The breaker's metrics, registered when the listener starts.
struct Meters {
    state: Gauge,
    held: Gauge,
    trips_unavailable: Counter,
    trips_failure_rate: Counter,
    probes_closed: Counter,
    probes_reopened: Counter,
    probes_given_back: Counter,
    probes_hung: Counter,
}

impl Meters {
    fn new(listener: &str) -> Self {
        let labels = [("listener", listener.to_owned())];
        let with = |key: &'static str, value: &'static str| {
            [("listener", listener.to_owned()), (key, value.to_owned())]
        };
        let trips =
            |reason| metrics::counter!("kafka_retry_breaker_trips_total", &with("reason", reason));
        let probes = |outcome| {
            metrics::counter!(
                "kafka_retry_breaker_probes_total",
                &with("outcome", outcome)
            )
        };
        let meters = Self {
            state: metrics::gauge!("kafka_retry_breaker_state", &labels),
            held: metrics::gauge!("kafka_retry_breaker_held_records", &labels),
            trips_unavailable: trips("unavailable"),
            trips_failure_rate: trips("failure_rate"),
            probes_closed: probes("closed"),
            probes_reopened: probes("reopened"),
            probes_given_back: probes("given_back"),
            probes_hung: probes("hung"),
        };
        meters.state.set(0.0);
        meters.held.set(0.0);
        meters
    }
}

/// The breaker's answer to a record asking to be handled.
pub(crate) enum Admit {
    /// Call the handler, then ask [`Admitted::ended`] what to do with the record.
    Let(Admitted),
    /// Do not call the handler; ask again at this instant or once the state changes
    /// ([`Admit::wait`]).
    Wait(Instant, watch::Receiver<BreakerState>),
}

impl Admit {
    /// For [`Admit::Wait`]: completes at its instant or on the breaker's next change of
    /// state, whichever comes first.
    pub async fn wait(at: Instant, mut changes: watch::Receiver<BreakerState>) {
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = changes.changed() => {}
        }
    }
}

/// A handler call the breaker let through.
pub(crate) enum Admitted {
    /// Closed: reported with [`BreakerCell::recorded`].
    Call(AdmittedCall),
    /// The probe, reported with [`ProbeGuard::ended`]; dropping it gives the probe back.
    Probe(ProbeGuard),
}

impl Admitted {
    /// The same call handing again a record the breaker held for `failure`, if it did.
    pub fn resuming(self, failure: Option<HeldFailure>) -> Self {
        match (self, failure) {
            (Admitted::Call(call), Some(failure)) => Admitted::Call(call.resuming(failure)),
            (admitted, _) => admitted,
        }
    }

    /// What to do with `record`, read from a topic of `kind`, after its call ended with
    /// `result`.
    pub fn ended(
        self,
        breaker: &BreakerCell,
        kind: DestinationKind,
        result: &Result<(), HandlerError>,
        record: RecordRef<'_>,
    ) -> Fate {
        match self {
            Admitted::Call(call) => breaker.recorded(call, kind, result, record),
            Admitted::Probe(probe) => probe.ended(result, record),
        }
    }
}

impl BreakerCell {
    /// The closed breaker of `listener`, whose retryable errors `filter` says.
    pub fn new(listener: &str, filter: ErrorFilter, config: BreakerConfig) -> Self {
        let breaker = Breaker::new(config.settings.clone());
        Self {
            listener: listener.to_owned(),
            config,
            filter,
            machine: Mutex::new(Machine {
                breaker,
                since: Instant::now(),
                lone: None,
            }),
            changes: watch::Sender::new(BreakerState::Closed),
            meters: Meters::new(listener),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `record` may be handed to the handler now.
    pub fn admit(self: &Arc<Self>, record: RecordRef<'_>) -> Admit {
        let now = Instant::now();
        let mut machine = self.lock();
        match machine.breaker.admit(now) {
            Admission::Call(call) => Admit::Let(Admitted::Call(call)),
            Admission::Probe { probe, hung } => {
                if let Some(hung) = hung {
                    self.changed(&mut machine, now, &hung, None);
                }
                self.changes.send_replace(BreakerState::HalfOpen);
                self.meters
                    .state
                    .set(f64::from(BreakerState::HalfOpen.gauge()));
                tracing::info!(listener = %self.listener, %record, "breaker half-open, probing");
                Admit::Let(Admitted::Probe(ProbeGuard {
                    cell: self.clone(),
                    probe: Some(probe),
                }))
            }
            Admission::Wait(at) => Admit::Wait(at, self.changes.subscribe()),
        }
    }

    /// What a handler call's result tells the breaker.
    fn outcome(&self, result: &Result<(), HandlerError>) -> CallOutcome {
        self.config.outcome(&self.filter, result)
    }

    /// The outcome of a call admitted with [`Admitted::Call`], on a topic of `kind`, and what
    /// to do with `record`. A DLT handler's failure other than `pause_on` follows the `dlt`
    /// setting and is not counted.
    pub fn recorded(
        &self,
        call: AdmittedCall,
        kind: DestinationKind,
        result: &Result<(), HandlerError>,
        record: RecordRef<'_>,
    ) -> Fate {
        let outcome = self.outcome(result);
        if kind == DestinationKind::Dlt && outcome == CallOutcome::Failed {
            return Fate::Proceed;
        }
        let mut machine = self.lock();
        if outcome == CallOutcome::Healthy && machine.breaker.counted_failures() == 0 {
            return Fate::Proceed;
        }
        let now = Instant::now();
        let recorded = machine.breaker.record(now, call, outcome);
        self.publish(&mut machine, now, recorded.transition, record, result);
        drop(machine);
        if recorded.fate == Fate::Alone {
            self.alone(&record, result);
        }
        recorded.fate
    }

    /// Logs a record going on as its own outage.
    pub fn alone(&self, record: &dyn Display, result: &Result<(), HandlerError>) {
        let error = result.as_ref().err();
        let cause = error.and_then(|e| self.config.unavailable_type(e));
        tracing::warn!(
            listener = %self.listener,
            %record,
            error = cause.unwrap_or_default(),
            "record fails with its pause_on error alone: forwarded as an ordinary failure"
        );
    }

    /// Counts a record in hand held for the breaker until the guard drops.
    pub fn holding(&self) -> HeldByBreaker<'_> {
        self.meters.held.increment(1.0);
        HeldByBreaker(self)
    }

    /// `/ready`'s line for this breaker, when it is not closed.
    #[cfg(feature = "prometheus")]
    pub fn status(&self) -> Option<String> {
        let machine = self.lock();
        let since = machine.since.elapsed().as_secs();
        match machine.breaker.state() {
            BreakerState::Closed => None,
            BreakerState::Open => {
                let next = machine.breaker.next_probe_at().map_or(0, |at| {
                    at.saturating_duration_since(Instant::now()).as_secs()
                });
                Some(format!(
                    "breaker open: {} for {since}s, next probe in {next}s",
                    self.listener
                ))
            }
            BreakerState::HalfOpen => Some(format!(
                "breaker half-open: {}, not closed for {since}s, probing",
                self.listener
            )),
        }
    }

    /// Publishes the change a call's outcome made, if it made one, naming `record` and the
    /// `pause_on` type it failed with.
    fn publish(
        &self,
        machine: &mut Machine,
        now: Instant,
        transition: Option<Transition>,
        record: RecordRef<'_>,
        result: &Result<(), HandlerError>,
    ) {
        if let Some(transition) = transition {
            let cause = result
                .as_ref()
                .err()
                .and_then(|e| self.config.unavailable_type(e));
            self.changed(machine, now, &transition, Some((&record, cause)));
        }
    }

    /// Publishes a change of state: the watch, the gauge, the counters and the log line.
    /// `record` is the record whose outcome changed it, with the `pause_on` type it failed
    /// with.
    fn changed(
        &self,
        machine: &mut Machine,
        now: Instant,
        transition: &Transition,
        record: Option<(&dyn Display, Option<&'static str>)>,
    ) {
        self.changes.send_replace(transition.to);
        self.meters.state.set(f64::from(transition.to.gauge()));
        let listener = &self.listener;
        let next_probe_in = transition.next_probe_in.unwrap_or_default();
        let record = record.map(|(record, cause)| (record.to_string(), cause.unwrap_or_default()));
        let (record, cause) = record.unwrap_or_default();
        match transition.reason {
            TransitionReason::Unavailable => {
                machine.since = now;
                self.meters.trips_unavailable.increment(1);
                tracing::warn!(%listener, %record, error = cause, ?next_probe_in, "breaker open: the downstream is unavailable");
            }
            TransitionReason::FailureRate => {
                machine.since = now;
                self.meters.trips_failure_rate.increment(1);
                let rate = machine.breaker.settings().rate().map(|r| r.to_string());
                tracing::warn!(%listener, %record, rate = rate.unwrap_or_default(), ?next_probe_in, "breaker open: failures in a row");
            }
            TransitionReason::ProbeSucceeded | TransitionReason::ProbeAnswered => {
                self.meters.probes_closed.increment(1);
                let after = now.saturating_duration_since(machine.since);
                tracing::info!(%listener, %record, ?after, "breaker closed");
            }
            TransitionReason::ProbeFailed => {
                self.meters.probes_reopened.increment(1);
                tracing::warn!(%listener, %record, error = cause, ?next_probe_in, "probe failed, breaker open again");
            }
            TransitionReason::ProbeHung => {
                self.meters.probes_hung.increment(1);
                let after = machine.breaker.settings().max_probe_delay();
                tracing::warn!(%listener, ?after, "probe hung: written off as failed, the next record asking is the next probe");
            }
            TransitionReason::ProbeCancelled => {
                self.meters.probes_given_back.increment(1);
                tracing::debug!(%listener, "probe given back before its handler ran");
            }
        }
    }
}

/// A record in hand held for the breaker, counted by `kafka_retry_breaker_held_records`.
pub(crate) struct HeldByBreaker<'a>(&'a BreakerCell);

impl Drop for HeldByBreaker<'_> {
    fn drop(&mut self) {
        self.0.meters.held.decrement(1.0);
    }
}

/// The probe in flight: given back when dropped without [`ProbeGuard::ended`] (revocation,
/// shutdown, the task aborted), so the next record asking becomes the probe at once.
pub(crate) struct ProbeGuard {
    cell: Arc<BreakerCell>,
    probe: Option<Probe>,
}

impl ProbeGuard {
    /// The probe's outcome and what to do with `record`. A record that did not decode never
    /// reached user code: the probe is given back, the record goes on. A record that failed
    /// the listener's last [`ALONE_AFTER_PROBES`] probes with its `pause_on` error is its
    /// own outage: it goes on as an ordinary failure.
    pub fn ended(mut self, result: &Result<(), HandlerError>, record: RecordRef<'_>) -> Fate {
        if matches!(result, Err(HandlerError::Decode(_))) {
            return Fate::Proceed;
        }
        let probe = self.probe.take().expect("a probe ends once");
        let cell = &self.cell;
        let outcome = cell.outcome(result);
        let now = Instant::now();
        let mut machine = cell.lock();
        let recorded = machine.breaker.probe_ended(probe, now, outcome);
        cell.publish(&mut machine, now, recorded.transition, record, result);
        let Fate::Hold(failure) = recorded.fate else {
            machine.lone = None;
            return recorded.fate;
        };
        if !failure.unavailable() {
            return recorded.fate;
        }
        let id = (record.topic.to_owned(), record.partition, record.offset);
        let failed = match &machine.lone {
            Some((last, failed)) if *last == id => failed + 1,
            _ => 1,
        };
        if failed < ALONE_AFTER_PROBES {
            machine.lone = Some((id, failed));
            return recorded.fate;
        }
        machine.lone = None;
        drop(machine);
        cell.alone(&record, result);
        Fate::Alone
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        let now = Instant::now();
        let mut machine = self.cell.lock();
        if let Some(transition) = machine.breaker.probe_cancelled(probe, now) {
            self.cell.changed(&mut machine, now, &transition, None);
        }
    }
}
