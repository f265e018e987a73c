//! The breaker's moves between closed, open and half-open; the clock is the caller's.

use std::time::{Duration, Instant};

use super::outcome::{AdmittedCall, CallOutcome, Fate, HeldFailure, Recorded};
use super::rate::FailureWindow;
use super::settings::BreakerSettings;
use super::state::{BreakerState, Transition, TransitionReason};

/// The one record allowed to call the handler while the breaker is half-open. Give it back
/// with [`Breaker::probe_ended`] or [`Breaker::probe_cancelled`]: until then, or until it
/// is written off as hung, no other probe is let through.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a probe not given back keeps the breaker half-open until it is written off"]
pub struct Probe {
    id: u64,
}

/// Whether a record may be handed to the handler now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call the handler, and report the outcome with [`Breaker::record`].
    Call(AdmittedCall),
    /// The breaker has just turned half-open: call the handler with this record as the
    /// probe, and report its outcome with [`Breaker::probe_ended`].
    Probe {
        /// The probe to give back.
        probe: Probe,
        /// The probe before it, written off as hung ([`TransitionReason::ProbeHung`]), if
        /// this probe replaces one.
        hung: Option<Transition>,
    },
    /// Do not call the handler; ask again at this instant (the next probe, or the probe in
    /// flight written off as hung), or on the next change of state.
    Wait(Instant),
}

/// What opened the breaker: it decides what an unclassified probe failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Unavailable,
    FailureRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed,
    Open {
        cause: Cause,
        failed_probes: u32,
        probe_at: Instant,
    },
    HalfOpen {
        cause: Cause,
        failed_probes: u32,
        probe: u64,
        started: Instant,
    },
}

/// One listener's circuit breaker: counts failures in a row while closed, opens on a
/// `pause_on` error or on its failure rate, lets one probe through per probe delay while
/// open, and closes on a healthy probe.
///
/// Pure: every move takes the current instant from the caller. Instants earlier than one
/// seen before count as that one, so calls from several tasks that read the clock before
/// taking a shared lock need not arrive in order.
///
/// ```
/// use std::time::{Duration, Instant};
/// use retry_core::{Admission, Breaker, BreakerSettings, BreakerState, CallOutcome, Fate};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerSettings::default());
/// let Admission::Call(call) = breaker.admit(start) else { panic!("closed") };
/// let tripped = breaker.record(start, call, CallOutcome::Unavailable);
/// assert!(matches!(tripped.fate, Fate::Hold(_)), "the record that tripped it is held");
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let due = start + Duration::from_secs(5);
/// assert_eq!(breaker.admit(start), Admission::Wait(due));
/// let Admission::Probe { probe, .. } = breaker.admit(due) else { panic!("a probe is due") };
/// assert_eq!(breaker.admit(due), Admission::Wait(due + Duration::from_secs(60)));
/// breaker.probe_ended(probe, due, CallOutcome::Healthy);
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    window: Option<FailureWindow>,
    inner: Inner,
    trips: u64,
    probes: u64,
    latest: Option<Instant>,
    /// When it last closed, and after how many failed probes.
    closed: Option<(Instant, u32)>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            window: settings.rate().map(FailureWindow::new),
            settings,
            inner: Inner::Closed,
            trips: 0,
            probes: 0,
            latest: None,
            closed: None,
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How many times it opened from closed (failed probes are not counted): its
    /// generation, carried by every [`AdmittedCall`] it admits.
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// How many counted failures in a row it holds now (0 without a failure rate). A healthy
    /// outcome of a call changes nothing when there are none, so the caller may skip
    /// reporting it.
    pub fn counted_failures(&self) -> usize {
        self.window.as_ref().map_or(0, FailureWindow::len)
    }

    /// When an open breaker lets its next probe through; `None` unless open.
    pub fn next_probe_at(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { probe_at, .. } => Some(probe_at),
            _ => None,
        }
    }

    /// Whether a record may be handed to the handler at `now`. An open breaker whose probe is
    /// due turns half-open and returns the [`Probe`]; so does a half-open one whose probe
    /// started `max_probe_delay` ago, writing that probe off as failed. The caller logs
    /// those moves.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let now = self.tick(now);
        let hung = self.write_off_hung(now);
        match self.inner {
            Inner::Closed => Admission::Call(AdmittedCall::new(self.trips)),
            Inner::Open {
                cause,
                failed_probes,
                probe_at,
            } if now >= probe_at => Admission::Probe {
                probe: self.start_probe(now, cause, failed_probes),
                hung,
            },
            Inner::Open { probe_at, .. } => Admission::Wait(probe_at),
            Inner::HalfOpen { started, .. } => Admission::Wait(self.hung_at(started)),
        }
    }

    /// The outcome of a call admitted with [`Admission::Call`], and what to do with its
    /// record. A closed breaker opens on a [`CallOutcome::Unavailable`] call, or on a failure
    /// that completes its failure rate, and the record that opened it is held; a healthy
    /// outcome clears the failures counted. A record held for a `pause_on` failure that
    /// fails with one again is its own outage ([`Fate::Alone`]) and opens nothing. The
    /// outcome of a call admitted before the last trip changes nothing, and its retryable
    /// failure is held.
    pub fn record(&mut self, now: Instant, call: AdmittedCall, outcome: CallOutcome) -> Recorded {
        let now = self.tick(now);
        if call.generation() != self.trips || self.inner != Inner::Closed {
            return Recorded::unchanged(Fate::ignored(outcome));
        }
        let cause = match outcome {
            CallOutcome::Healthy => {
                if let Some(window) = &mut self.window {
                    window.clear();
                }
                return Recorded::unchanged(Fate::Proceed);
            }
            CallOutcome::Unavailable if call.resumes_unavailable() => {
                return Recorded::unchanged(Fate::Alone);
            }
            CallOutcome::Unavailable => Cause::Unavailable,
            CallOutcome::Failed => {
                if !self.window.as_mut().is_some_and(|w| w.failed(now)) {
                    return Recorded::unchanged(Fate::Proceed);
                }
                Cause::FailureRate
            }
        };
        Recorded {
            fate: Fate::Hold(HeldFailure::after(outcome)),
            transition: Some(self.trip(now, cause)),
        }
    }

    /// The probe's outcome, and what to do with its record. A healthy call closes the
    /// breaker and forgets the failures counted before. A `pause_on` error opens it again
    /// with the next longer probe delay, and the record is held. An unclassified failure
    /// opens it again if the failure rate opened it, and closes it if a `pause_on` error
    /// did; either way the record goes on as a failure. A probe ending `max_probe_delay`
    /// or more after it started is written off as hung (the transition says so), and the
    /// outcome of a probe written off changes nothing: its retryable failure is held.
    pub fn probe_ended(&mut self, probe: Probe, now: Instant, outcome: CallOutcome) -> Recorded {
        let now = self.tick(now);
        let hung = self.write_off_hung(now);
        let Some((cause, failed_probes)) = self.probing(&probe) else {
            return Recorded {
                fate: Fate::ignored(outcome),
                transition: hung,
            };
        };
        let failed = failed_probes.saturating_add(1);
        let (fate, transition) = match (outcome, cause) {
            (CallOutcome::Healthy, _) => (
                Fate::Proceed,
                self.close(now, failed_probes, TransitionReason::ProbeSucceeded),
            ),
            (CallOutcome::Unavailable, _) => (
                Fate::Hold(HeldFailure::after(outcome)),
                self.open(now, cause, failed, TransitionReason::ProbeFailed),
            ),
            (CallOutcome::Failed, Cause::FailureRate) => (
                Fate::Proceed,
                self.open(now, cause, failed, TransitionReason::ProbeFailed),
            ),
            (CallOutcome::Failed, Cause::Unavailable) => (
                Fate::Proceed,
                self.close(now, failed_probes, TransitionReason::ProbeAnswered),
            ),
        };
        Recorded {
            fate,
            transition: Some(transition),
        }
    }

    /// The probe never called the handler: the breaker is open again with the next probe
    /// due at once, its delay unchanged. A probe given back `max_probe_delay` or more after
    /// it started is written off as hung instead (the transition says so); one written off
    /// changes nothing.
    pub fn probe_cancelled(&mut self, probe: Probe, now: Instant) -> Option<Transition> {
        let now = self.tick(now);
        let hung = self.write_off_hung(now);
        let Some((cause, failed_probes)) = self.probing(&probe) else {
            return hung;
        };
        self.inner = Inner::Open {
            cause,
            failed_probes,
            probe_at: now,
        };
        Some(Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Open,
            reason: TransitionReason::ProbeCancelled,
            next_probe_in: Some(Duration::ZERO),
        })
    }

    /// The cause and the failed probes so far, if `probe` is the one in flight.
    fn probing(&self, probe: &Probe) -> Option<(Cause, u32)> {
        match self.inner {
            Inner::HalfOpen {
                cause,
                failed_probes,
                probe: id,
                ..
            } if id == probe.id => Some((cause, failed_probes)),
            _ => None,
        }
    }

    /// Turns half-open with a new probe started at `now`.
    fn start_probe(&mut self, now: Instant, cause: Cause, failed_probes: u32) -> Probe {
        self.probes += 1;
        self.inner = Inner::HalfOpen {
            cause,
            failed_probes,
            probe: self.probes,
            started: now,
        };
        Probe { id: self.probes }
    }

    /// Writes off the probe in flight as failed if it started `max_probe_delay` ago: the
    /// next probe is due at once.
    fn write_off_hung(&mut self, now: Instant) -> Option<Transition> {
        let Inner::HalfOpen {
            cause,
            failed_probes,
            started,
            ..
        } = self.inner
        else {
            return None;
        };
        let hung_at = self.hung_at(started);
        if now < hung_at {
            return None;
        }
        self.inner = Inner::Open {
            cause,
            failed_probes: failed_probes.saturating_add(1),
            probe_at: hung_at,
        };
        Some(Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Open,
            reason: TransitionReason::ProbeHung,
            next_probe_in: Some(Duration::ZERO),
        })
    }

    /// When a probe started at `started` is written off as hung.
    fn hung_at(&self, started: Instant) -> Instant {
        started + self.settings.max_probe_delay()
    }

    /// Opens from closed at `now`. A trip within `max_probe_delay` of the last close
    /// continues the probe backoff where it stopped: one delay longer than the one before
    /// the probe that closed it.
    fn trip(&mut self, now: Instant, cause: Cause) -> Transition {
        self.trips += 1;
        let failed_probes = match self.closed {
            Some((at, failed)) if now.duration_since(at) < self.settings.max_probe_delay() => {
                failed.saturating_add(1)
            }
            _ => 0,
        };
        let reason = match cause {
            Cause::Unavailable => TransitionReason::Unavailable,
            Cause::FailureRate => TransitionReason::FailureRate,
        };
        self.open(now, cause, failed_probes, reason)
    }

    /// Opens at `now` after `failed_probes` failed probes.
    fn open(
        &mut self,
        now: Instant,
        cause: Cause,
        failed_probes: u32,
        reason: TransitionReason,
    ) -> Transition {
        let from = self.state();
        let delay = self.settings.probe_delay(failed_probes);
        self.inner = Inner::Open {
            cause,
            failed_probes,
            probe_at: now + delay,
        };
        Transition {
            from,
            to: BreakerState::Open,
            reason,
            next_probe_in: Some(delay),
        }
    }

    /// Closes at `now` after `failed_probes` failed probes, forgetting the failures counted.
    fn close(&mut self, now: Instant, failed_probes: u32, reason: TransitionReason) -> Transition {
        if let Some(window) = &mut self.window {
            window.clear();
        }
        self.inner = Inner::Closed;
        self.closed = Some((now, failed_probes));
        Transition {
            from: BreakerState::HalfOpen,
            to: BreakerState::Closed,
            reason,
            next_probe_in: None,
        }
    }

    /// `now`, or the latest instant seen if that is later.
    fn tick(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }
}
