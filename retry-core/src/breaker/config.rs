//! A listener's breaker as resolved from its attribute and environment: what opens it and how
//! a handler call's result reads to it.

use crate::classify::{ErrorClass, ErrorFilter, ErrorType, HandlerError};

use super::outcome::CallOutcome;
use super::settings::BreakerSettings;

/// A listener's breaker: its [`BreakerSettings`] and the `pause_on` error types (empty when
/// the attribute names none, or `RETRY_<H>_PAUSE_ON=off`).
///
/// ```
/// use retry_core::{BreakerConfig, BreakerSettings, CallOutcome, ErrorFilter, ErrorType, HandlerError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("database unavailable")]
/// struct DbUnavailable;
///
/// static PAUSE_ON: [ErrorType; 1] = [ErrorType::of::<DbUnavailable>()];
/// let breaker = BreakerConfig { settings: BreakerSettings::default(), pause_on: &PAUSE_ON };
/// let down = HandlerError::from(anyhow::Error::new(DbUnavailable).context("saving order 7"));
/// assert_eq!(breaker.outcome(&ErrorFilter::RetryAll, &Err(down)), CallOutcome::Unavailable);
/// let other = HandlerError::from(anyhow::anyhow!("bad order"));
/// assert_eq!(breaker.outcome(&ErrorFilter::RetryAll, &Err(other)), CallOutcome::Failed);
/// assert_eq!(breaker.outcome(&ErrorFilter::RetryAll, &Ok(())), CallOutcome::Healthy);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// The failure rate and the probe delays.
    pub settings: BreakerSettings,
    /// Errors that mean the downstream is unavailable, matched along the cause chain.
    pub pause_on: &'static [ErrorType],
}

impl BreakerConfig {
    /// What a handler call's result tells the breaker, `filter` being the listener's
    /// `include` / `exclude`: a `pause_on` error anywhere along a handler error's cause chain
    /// is [`CallOutcome::Unavailable`]; any other failure `filter` retries is
    /// [`CallOutcome::Failed`]; a success, an error not retried and a record that does not
    /// decode are [`CallOutcome::Healthy`] (the downstream answered, or was never asked).
    pub fn outcome(&self, filter: &ErrorFilter, result: &Result<(), HandlerError>) -> CallOutcome {
        let Err(error) = result else {
            return CallOutcome::Healthy;
        };
        if self.unavailable_type(error).is_some() {
            return CallOutcome::Unavailable;
        }
        match filter.classify(error) {
            ErrorClass::Retryable => CallOutcome::Failed,
            ErrorClass::NotRetryable | ErrorClass::Fatal => CallOutcome::Healthy,
        }
    }

    /// The `pause_on` type found along a handler error's cause chain, for log lines; never
    /// one of a decode failure's or a panic's.
    pub fn unavailable_type(&self, error: &HandlerError) -> Option<&'static str> {
        match error {
            HandlerError::Failed { .. } => self
                .pause_on
                .iter()
                .find(|t| t.matches(error))
                .map(ErrorType::name),
            HandlerError::Decode(_) | HandlerError::Panicked(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::DecodeError;

    #[derive(Debug, thiserror::Error)]
    #[error("database unavailable")]
    struct DbUnavailable;

    #[derive(Debug, thiserror::Error)]
    #[error("not found yet")]
    struct NotFoundYet;

    static PAUSE_ON: [ErrorType; 1] = [ErrorType::of::<DbUnavailable>()];
    static RETRIED: [ErrorType; 1] = [ErrorType::of::<NotFoundYet>()];

    fn breaker() -> BreakerConfig {
        BreakerConfig {
            settings: BreakerSettings::default(),
            pause_on: &PAUSE_ON,
        }
    }

    #[test]
    fn pause_on_wins_over_include_and_a_non_retried_error_is_healthy() {
        let include = ErrorFilter::Include(&RETRIED);
        let down = Err(HandlerError::from(anyhow::Error::new(DbUnavailable)));
        assert_eq!(breaker().outcome(&include, &down), CallOutcome::Unavailable);
        let missing = Err(HandlerError::from(anyhow::Error::new(NotFoundYet)));
        assert_eq!(breaker().outcome(&include, &missing), CallOutcome::Failed);
        let other = Err(HandlerError::from(anyhow::anyhow!("bad order")));
        assert_eq!(breaker().outcome(&include, &other), CallOutcome::Healthy);
    }

    #[test]
    fn decode_failures_and_panics_never_mean_unavailable() {
        let undecodable = Err(HandlerError::Decode(DecodeError::Missing));
        assert_eq!(
            breaker().outcome(&ErrorFilter::RetryAll, &undecodable),
            CallOutcome::Healthy
        );
        let panicked = Err(HandlerError::Panicked("boom".into()));
        assert_eq!(
            breaker().outcome(&ErrorFilter::RetryAll, &panicked),
            CallOutcome::Failed
        );
        assert_eq!(
            breaker().unavailable_type(panicked.as_ref().unwrap_err()),
            None
        );
    }
}
