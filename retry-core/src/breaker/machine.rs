//! The breaker's moves between closed, open and half-open; the clock is the caller's.

use std::time::{Duration, Instant};

use super::outcome::CallOutcome;
use super::rate::FailureWindow;
use super::settings::BreakerSettings;
use super::state::{BreakerState, Transition, TransitionReason};

/// The one record allowed to call the handler while the breaker is half-open. Give it back
/// with [`Breaker::probe_ended`] or [`Breaker::probe_cancelled`]: until then no other probe
/// is let through.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a probe not given back keeps the breaker half-open"]
pub struct Probe {
    id: u64,
}

/// Whether a record may be handed to the handler now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call the handler.
    Call,
    /// The breaker has just turned half-open: call the handler with this record as the
    /// probe, and report its outcome with [`Breaker::probe_ended`].
    Probe(Probe),
    /// Do not call the handler; ask again at this instant, or when the probe in flight ends
    /// (`None`).
    Wait(Option<Instant>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed,
    Open {
        failed_probes: u32,
        probe_at: Instant,
    },
    HalfOpen {
        failed_probes: u32,
        probe: u64,
    },
}

/// One listener's circuit breaker: counts failures while closed, opens on a `pause_on`
/// error or on its failure rate, lets one probe through per probe delay while open, and
/// closes on a healthy probe.
///
/// Pure: every move takes the current instant from the caller. Instants earlier than one
/// seen before count as that one, so calls from several tasks that read the clock before
/// taking a shared lock need not arrive in order.
///
/// ```
/// use std::time::{Duration, Instant};
/// use retry_core::{Admission, Breaker, BreakerSettings, BreakerState, CallOutcome};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerSettings::default());
/// assert_eq!(breaker.admit(start), Admission::Call);
/// breaker.record(start, CallOutcome::Unavailable).unwrap();
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let due = start + Duration::from_secs(5);
/// assert_eq!(breaker.admit(start), Admission::Wait(Some(due)));
/// let Admission::Probe(probe) = breaker.admit(due) else { panic!("a probe is due") };
/// assert_eq!(breaker.admit(due), Admission::Wait(None), "one probe at a time");
/// breaker.probe_ended(probe, due, CallOutcome::Healthy).unwrap();
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

    /// How many times it opened from closed (failed probes are not counted).
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// When an open breaker lets its next probe through; `None` unless open.
    pub fn next_probe_at(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { probe_at, .. } => Some(probe_at),
            _ => None,
        }
    }

    /// Whether a record may be handed to the handler at `now`. An open breaker whose probe is
    /// due turns half-open and returns the [`Probe`]; the caller logs that move.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let now = self.tick(now);
        match self.inner {
            Inner::Closed => Admission::Call,
            Inner::Open {
                failed_probes,
                probe_at,
            } if now >= probe_at => {
                self.probes += 1;
                self.inner = Inner::HalfOpen {
                    failed_probes,
                    probe: self.probes,
                };
                Admission::Probe(Probe { id: self.probes })
            }
            Inner::Open { probe_at, .. } => Admission::Wait(Some(probe_at)),
            Inner::HalfOpen { .. } => Admission::Wait(None),
        }
    }

    /// The outcome of a call admitted with [`Admission::Call`]. A closed breaker opens on an
    /// [`CallOutcome::Unavailable`] call, or on a failure that makes its failure rate; an
    /// open or half-open one ignores calls that started before it opened (only the probe
    /// closes it).
    pub fn record(&mut self, now: Instant, outcome: CallOutcome) -> Option<Transition> {
        let now = self.tick(now);
        if self.inner != Inner::Closed {
            return None;
        }
        let reason = match outcome {
            CallOutcome::Healthy => return None,
            CallOutcome::Unavailable => TransitionReason::Unavailable,
            CallOutcome::Failed => {
                let at_rate = self.window.as_mut().is_some_and(|w| w.failed(now));
                if !at_rate {
                    return None;
                }
                TransitionReason::FailureRate
            }
        };
        self.trips += 1;
        Some(self.open(now, 0, reason))
    }

    /// The probe's outcome: a healthy call closes the breaker and forgets the failures
    /// counted before; any failure opens it again, with the next longer probe delay.
    pub fn probe_ended(
        &mut self,
        probe: Probe,
        now: Instant,
        outcome: CallOutcome,
    ) -> Option<Transition> {
        let now = self.tick(now);
        let failed_probes = self.probing(&probe)?;
        Some(match outcome {
            CallOutcome::Healthy => {
                if let Some(window) = &mut self.window {
                    window.clear();
                }
                self.inner = Inner::Closed;
                Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Closed,
                    reason: TransitionReason::ProbeSucceeded,
                    next_probe_in: None,
                }
            }
            CallOutcome::Failed | CallOutcome::Unavailable => self.open(
                now,
                failed_probes.saturating_add(1),
                TransitionReason::ProbeFailed,
            ),
        })
    }

    /// The probe never called the handler: the breaker is open again with the next probe
    /// due at once, its delay unchanged.
    pub fn probe_cancelled(&mut self, probe: Probe, now: Instant) -> Option<Transition> {
        let now = self.tick(now);
        let failed_probes = self.probing(&probe)?;
        self.inner = Inner::Open {
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

    /// The failed probes so far, if `probe` is the one in flight.
    fn probing(&self, probe: &Probe) -> Option<u32> {
        match self.inner {
            Inner::HalfOpen {
                failed_probes,
                probe: id,
            } if id == probe.id => Some(failed_probes),
            _ => None,
        }
    }

    /// Opens at `now` after `failed_probes` failed probes.
    fn open(&mut self, now: Instant, failed_probes: u32, reason: TransitionReason) -> Transition {
        let from = self.state();
        let delay = self.settings.probe_delay(failed_probes);
        self.inner = Inner::Open {
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

    /// `now`, or the latest instant seen if that is later.
    fn tick(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }
}
