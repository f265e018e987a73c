//! The pure part of the circuit breaker (design/breaker.md): a listener whose downstream is
//! unavailable stops handing records to its handler and probes with one record at a time,
//! instead of sending every record along the retry chain to the DLT.
//!
//! * [`FailureRate`] is the `breaker = "20 in 10s"` setting ([`parse_breaker`] also reads
//!   `off`); [`BreakerSettings`] adds the probe delays (`probe = "5s*2"`, capped by
//!   `max_probe_delay`).
//! * [`Breaker`] is the state machine: [`Breaker::admit`] says whether a record may call the
//!   handler, [`Breaker::record`] and [`Breaker::probe_ended`] take the calls' outcomes and
//!   say what to do with their records ([`Fate`]).

mod config;
mod machine;
mod outcome;
mod rate;
mod settings;
mod state;
#[cfg(test)]
mod tests;

pub use config::BreakerConfig;
pub use machine::{Admission, Breaker, Probe};
pub use outcome::{AdmittedCall, CallOutcome, Fate, HeldFailure, Recorded};
pub use rate::{
    parse_breaker, FailureRate, FailureRateError, MAX_BREAKER_FAILURES, MAX_BREAKER_WINDOW,
};
pub use settings::{BreakerSettings, DEFAULT_MAX_PROBE_DELAY, DEFAULT_PROBE};
pub use state::{BreakerState, Transition, TransitionReason};
