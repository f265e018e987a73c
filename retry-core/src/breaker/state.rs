//! The breaker's states and the changes between them, as logs, gauges and counters show them.

use std::fmt;
use std::time::Duration;

/// A breaker's state, as the `kafka_retry_breaker_state` gauge and the log lines name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Records are handed to the handler.
    Closed,
    /// No record is handed to the handler until the next probe is due.
    Open,
    /// One probe record is in its handler call; no other record is handed to the handler.
    HalfOpen,
}

impl BreakerState {
    /// The state's name: `closed`, `open`, `half-open`.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }

    /// The gauge's value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionReason {
    /// A `pause_on` error opened it.
    Unavailable,
    /// The failure rate's count of failures in a row ended within its window.
    FailureRate,
    /// The probe's call was healthy: the breaker closed.
    ProbeSucceeded,
    /// The probe failed with an error nobody classified while a `pause_on` error had opened
    /// the breaker: the downstream answered without the outage error, the breaker closed.
    ProbeAnswered,
    /// The probe failed with a `pause_on` error, or with any retryable error while the
    /// failure rate had opened the breaker: it opened again, for a longer delay.
    ProbeFailed,
    /// The probe still ran `max_probe_delay` after it started: it counts as failed, and the
    /// next probe is due at once.
    ProbeHung,
    /// The probe never reached the handler (its partition was revoked, the app stops, the
    /// record did not decode): the next probe is due at once, its delay unchanged.
    ProbeCancelled,
}

/// A change of state, for the log line, the gauge and the trips counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
    /// When an open breaker will next let a probe through (`None` when closed).
    pub next_probe_in: Option<Duration>,
}
