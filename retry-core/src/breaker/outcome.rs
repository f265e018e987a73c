//! What a handler call tells the breaker about the downstream, and what the breaker says to
//! do with the call's record.

use super::state::Transition;

/// What one handler call tells the breaker about the downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The downstream answered: the call succeeded, or failed for a reason of the record's
    /// own (an error `include`/`exclude` does not retry, a record that does not decode).
    Healthy,
    /// A retryable failure nobody classified as an outage: counted against the failure rate.
    Failed,
    /// A `pause_on` error along the cause chain: the downstream is unavailable.
    Unavailable,
}

/// A handler call the breaker let through while closed ([`Admission::Call`]): it carries the
/// breaker's generation (its trips so far), so that the outcome of a call admitted before a
/// trip changes nothing ([`Breaker::record`]).
///
/// [`Admission::Call`]: super::Admission::Call
/// [`Breaker::record`]: super::Breaker::record
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmittedCall {
    generation: u64,
    held: Option<HeldFailure>,
}

impl AdmittedCall {
    /// A call admitted in `generation`.
    pub(super) fn new(generation: u64) -> Self {
        Self {
            generation,
            held: None,
        }
    }

    /// The breaker's trips when the call was admitted.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The same call, handing again a record that was held with `held`
    /// ([`Fate::Hold`]): a record whose `pause_on` failure was held and that fails with
    /// `pause_on` again once let through is its own outage ([`Fate::Alone`]).
    pub fn resuming(self, held: HeldFailure) -> Self {
        Self {
            held: Some(held),
            ..self
        }
    }

    /// Whether the record was held for a `pause_on` failure.
    pub(super) fn resumes_unavailable(&self) -> bool {
        self.held.is_some_and(|held| held.unavailable)
    }
}

/// Why a record is held in hand: the runtime keeps it with the record and gives it to the
/// record's next call ([`AdmittedCall::resuming`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldFailure {
    unavailable: bool,
}

impl HeldFailure {
    /// HeldFailure for a failure with this outcome.
    pub(super) fn after(outcome: CallOutcome) -> Self {
        Self {
            unavailable: outcome == CallOutcome::Unavailable,
        }
    }

    /// Whether the failure held was a `pause_on` error.
    pub fn unavailable(&self) -> bool {
        self.unavailable
    }
}

/// What to do with the record whose call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Go on as without a breaker: a success is done, a failure follows the policy (a
    /// retryable one uses an attempt and is forwarded).
    Proceed,
    /// Hold the record in hand: not forwarded, no attempt used, nothing at or after its
    /// offset stored. Hand it to the handler again, same headers, same attempt, once the
    /// breaker admits it, with this [`HeldFailure`] given to [`AdmittedCall::resuming`].
    Hold(HeldFailure),
    /// A record held for a `pause_on` failure failed with `pause_on` again after the breaker
    /// closed on another record's probe: its own outage, not the downstream's. The breaker
    /// did not trip; the record goes on as an ordinary failure (one attempt), with a WARN
    /// naming it.
    Alone,
}

impl Fate {
    /// The fate of a record whose outcome the breaker ignores (a call admitted before the last trip,
    /// a probe written off as hung): its retryable failure is held, as one ending while the
    /// breaker is open.
    pub(super) fn ignored(outcome: CallOutcome) -> Self {
        match outcome {
            CallOutcome::Healthy => Fate::Proceed,
            failed => Fate::Hold(HeldFailure::after(failed)),
        }
    }
}

/// The breaker's answer to a call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// What to do with the record.
    pub fate: Fate,
    /// The breaker's change of state, if the outcome changed it.
    pub transition: Option<Transition>,
}

impl Recorded {
    /// A fate that changed nothing.
    pub(super) fn unchanged(fate: Fate) -> Self {
        Self {
            fate,
            transition: None,
        }
    }
}
