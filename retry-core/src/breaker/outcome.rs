//! What a handler call tells the breaker about the downstream.

/// What one handler call tells the breaker about the downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The downstream answered: the call succeeded, or failed for a reason of the record's
    /// own (an error `include`/`exclude` does not retry, a record that does not decode).
    Healthy,
    /// A failure nobody classified as an outage: counted against the failure rate.
    Failed,
    /// A `pause_on` error along the cause chain: the downstream is unavailable.
    Unavailable,
}
