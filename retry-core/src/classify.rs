//! Error classification: which handler failures are worth retrying.

use std::error::Error as StdError;
use std::fmt;

use crate::format::DecodeError;
use crate::headers::ExceptionInfo;

/// An error type named in `include` / `exclude`, matched anywhere along a cause chain.
#[derive(Clone, Copy)]
pub struct ErrorType {
    name: fn() -> &'static str,
    matches: fn(&(dyn StdError + 'static)) -> bool,
}

impl ErrorType {
    /// The error type `E`.
    pub const fn of<E: StdError + 'static>() -> Self {
        Self {
            name: std::any::type_name::<E>,
            matches: is_type::<E>,
        }
    }

    /// The Rust type name, e.g. `items::NotFoundYet`.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }

    /// True when `error` or one of its causes is of this type.
    fn find_in(&self, error: &anyhow::Error) -> bool {
        error.chain().any(|cause| (self.matches)(cause))
    }

    /// True when the failure's error, or one of its causes, is of this type: a handler's
    /// error along its `anyhow` chain, a decode failure along its `source()` chain (so
    /// [`DecodeError`] itself can be named); a panic has no type.
    pub fn matches(&self, failure: &HandlerError) -> bool {
        match failure {
            HandlerError::Failed { error, .. } => self.find_in(error),
            HandlerError::Decode(error) => {
                let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
                while let Some(current) = cause {
                    if (self.matches)(current) {
                        return true;
                    }
                    cause = current.source();
                }
                false
            }
            HandlerError::Panicked(_) => false,
        }
    }
}

fn is_type<E: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    error.is::<E>()
}

impl fmt::Debug for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for ErrorType {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

/// Which handler errors are retried (Spring's `include` / `exclude`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ErrorFilter {
    /// Every handler error is retried (decode failures never are).
    #[default]
    RetryAll,
    /// Only errors with one of these types in their cause chain are retried.
    Include(&'static [ErrorType]),
    /// Errors with one of these types in their cause chain go straight to the DLT.
    Exclude(&'static [ErrorType]),
}

/// A DLT of its own for some errors: Spring 3.2's exception-based DLT routing
/// (`@ExceptionBasedDltDestination(suffix, exceptions)`, `dltRoutingRules`). A record whose
/// error has one of `errors` in its cause chain is dead-lettered to
/// `<topic><suffix><dlt suffix>` (`orders-validation-dlt`) instead of the generic DLT.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DltRoute {
    /// Placed before the DLT suffix (Spring's `entry.getKey() + dltSuffix`), like
    /// `-validation`.
    pub suffix: &'static str,
    /// The error types routed there.
    pub errors: &'static [ErrorType],
}

impl DltRoute {
    /// A route of `errors` to the DLT named with `suffix`.
    pub const fn new(suffix: &'static str, errors: &'static [ErrorType]) -> Self {
        Self { suffix, errors }
    }
}

/// How a listener treats handler errors: which are retried, which are dead-lettered to a
/// DLT of their own, and which mean the downstream is unavailable. An [`ErrorFilter`] alone
/// is rules without routes or `pause_on` types.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorRules {
    /// Which errors are retried (`include` / `exclude`).
    pub filter: ErrorFilter,
    /// Which dead letters go to their own DLT (`dlt_routing`).
    pub dlt_routes: &'static [DltRoute],
    /// Errors that open the listener's breaker at once (`pause_on`, design/breaker.md).
    pub pause_on: &'static [ErrorType],
}

impl From<ErrorFilter> for ErrorRules {
    fn from(filter: ErrorFilter) -> Self {
        Self {
            filter,
            dlt_routes: &[],
            pause_on: &[],
        }
    }
}

/// What the classifier concluded about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth another delivery.
    Retryable,
    /// A handler error that retrying will not fix (by `include` / `exclude`).
    NotRetryable,
    /// The record itself is unusable (it could not be decoded): never retried.
    Fatal,
}

impl ErrorFilter {
    /// Classifies a failure.
    ///
    /// ```
    /// use retry_core::{ErrorClass, ErrorFilter, ErrorType, HandlerError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("not yet")]
    /// struct NotYet;
    ///
    /// static RETRYABLE: [ErrorType; 1] = [ErrorType::of::<NotYet>()];
    /// let filter = ErrorFilter::Include(&RETRYABLE);
    /// let wrapped = anyhow::Error::new(NotYet).context("loading item 7");
    /// assert_eq!(filter.classify(&HandlerError::from(wrapped)), ErrorClass::Retryable);
    /// let other = anyhow::anyhow!("disk full");
    /// assert_eq!(filter.classify(&HandlerError::from(other)), ErrorClass::NotRetryable);
    /// ```
    pub fn classify(&self, error: &HandlerError) -> ErrorClass {
        let failure = match error {
            HandlerError::Decode(_) => return ErrorClass::Fatal,
            HandlerError::Failed { error, .. } => Some(error),
            HandlerError::Panicked(_) => None,
        };
        let listed =
            |types: &[ErrorType]| failure.is_some_and(|e| types.iter().any(|t| t.find_in(e)));
        let retry = match self {
            ErrorFilter::RetryAll => true,
            ErrorFilter::Include(types) => listed(types),
            ErrorFilter::Exclude(types) => !listed(types),
        };
        if retry {
            ErrorClass::Retryable
        } else {
            ErrorClass::NotRetryable
        }
    }

    /// The listed type found in `error`'s cause chain, for the exception header.
    fn listed_type(&self, error: &anyhow::Error) -> Option<&'static str> {
        let types = match self {
            ErrorFilter::RetryAll => return None,
            ErrorFilter::Include(types) | ErrorFilter::Exclude(types) => types,
        };
        types.iter().find(|t| t.find_in(error)).map(ErrorType::name)
    }

    /// The listed type nearest the root of `error`'s cause chain, for the cause header.
    fn innermost_listed_type(&self, error: &anyhow::Error) -> Option<&'static str> {
        let types = match self {
            ErrorFilter::RetryAll => return None,
            ErrorFilter::Include(types) | ErrorFilter::Exclude(types) => types,
        };
        error
            .chain()
            .rev()
            .find_map(|cause| types.iter().find(|t| (t.matches)(cause)))
            .map(ErrorType::name)
    }
}

/// Why a handler did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The record's value could not be decoded into the handler's type.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The handler returned an error.
    #[error("{error:#}")]
    Failed {
        /// The error, with its cause chain.
        error: anyhow::Error,
        /// The static type the handler returned, e.g. `sqlx::Error` or `anyhow::Error`.
        type_name: &'static str,
    },
    /// The handler panicked; the payload's message.
    #[error("handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    /// Wraps a handler's error, remembering its static type for the exception header.
    pub fn failed<E: Into<anyhow::Error> + 'static>(error: E) -> Self {
        Self::Failed {
            error: error.into(),
            type_name: std::any::type_name::<E>(),
        }
    }

    /// What the `kafka_exception-*` headers carry about this failure, the stack trace header
    /// as `stacktrace` asks.
    ///
    /// The type is the listed `include` / `exclude` type found in the cause chain, else the
    /// handler's error type. The cause type is the innermost type that can be named: the
    /// listed type nearest the root of the chain, else the handler's error type; for a decode
    /// failure, the decoder's own error type (`serde_json::Error` for bad JSON).
    pub fn exception(&self, filter: &ErrorFilter, stacktrace: StackTrace) -> ExceptionInfo {
        let (fqcn, cause_fqcn) = match self {
            HandlerError::Decode(error) => {
                (std::any::type_name::<DecodeError>(), error.root_type())
            }
            HandlerError::Failed { error, type_name } => (
                filter.listed_type(error).unwrap_or(type_name),
                filter.innermost_listed_type(error).unwrap_or(type_name),
            ),
            HandlerError::Panicked(_) => ("panic", "panic"),
        };
        let stacktrace = match (self, stacktrace) {
            (HandlerError::Failed { error, .. }, StackTrace::Chain) => cause_chain(error),
            (HandlerError::Failed { error, .. }, StackTrace::Full) => format!("{error:?}"),
            (other, _) => format!("{other:?}"),
        };
        ExceptionInfo {
            fqcn: fqcn.to_owned(),
            cause_fqcn: cause_fqcn.to_owned(),
            message: self.to_string(),
            stacktrace,
        }
    }
}

impl From<anyhow::Error> for HandlerError {
    fn from(error: anyhow::Error) -> Self {
        Self::failed(error)
    }
}

/// What the `kafka_exception-stacktrace` header carries (the `stacktrace` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackTrace {
    /// Every cause's message, outermost first, as `anyhow` prints an error without its
    /// backtrace. Never resolves a backtrace, so a failure stays cheap whatever
    /// `RUST_BACKTRACE` says.
    #[default]
    Chain,
    /// The error's debug form: the chain and, when `anyhow` captured one (`RUST_BACKTRACE` or
    /// `RUST_LIB_BACKTRACE` set), the backtrace resolved into file and line, which costs more
    /// than the rest of the failure.
    Full,
}

/// `error` and its causes, one a line, in `anyhow`'s layout without the backtrace.
fn cause_chain(error: &anyhow::Error) -> String {
    use std::fmt::Write;
    let mut text = error.to_string();
    let mut causes = error.chain().skip(1).peekable();
    if causes.peek().is_some() {
        text.push_str("\n\nCaused by:");
    }
    for cause in causes {
        let _ = write!(text, "\n    {cause}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("item {0} not created yet")]
    struct NotFoundYet(u32);

    #[derive(Debug, thiserror::Error)]
    #[error("invalid status")]
    struct InvalidStatus;

    static NOT_FOUND: [ErrorType; 1] = [ErrorType::of::<NotFoundYet>()];

    fn failed<E: Into<anyhow::Error> + 'static>(e: E) -> HandlerError {
        HandlerError::failed(e)
    }

    #[test]
    fn classification_table() {
        use ErrorClass::*;
        let include = ErrorFilter::Include(&NOT_FOUND);
        let exclude = ErrorFilter::Exclude(&NOT_FOUND);
        let decode = || HandlerError::Decode(DecodeError::Missing);
        let cases: Vec<(&str, ErrorFilter, HandlerError, ErrorClass)> = vec![
            (
                "all: anything",
                ErrorFilter::RetryAll,
                failed(InvalidStatus),
                Retryable,
            ),
            (
                "all: panic",
                ErrorFilter::RetryAll,
                HandlerError::Panicked("x".into()),
                Retryable,
            ),
            ("all: decode", ErrorFilter::RetryAll, decode(), Fatal),
            (
                "include: listed",
                include,
                failed(NotFoundYet(1)),
                Retryable,
            ),
            (
                "include: listed under context",
                include,
                failed(
                    anyhow::Error::new(NotFoundYet(1))
                        .context("outer")
                        .context("outermost"),
                ),
                Retryable,
            ),
            (
                "include: other",
                include,
                failed(InvalidStatus),
                NotRetryable,
            ),
            (
                "include: panic",
                include,
                HandlerError::Panicked("x".into()),
                NotRetryable,
            ),
            ("include: decode", include, decode(), Fatal),
            (
                "exclude: listed",
                exclude,
                failed(NotFoundYet(1)),
                NotRetryable,
            ),
            ("exclude: other", exclude, failed(InvalidStatus), Retryable),
            ("exclude: decode", exclude, decode(), Fatal),
        ];
        for (name, filter, error, expected) in cases {
            assert_eq!(filter.classify(&error), expected, "{name}");
        }
    }

    #[test]
    fn exception_names_the_most_specific_type() {
        let include = ErrorFilter::Include(&NOT_FOUND);
        let wrapped = failed(anyhow::Error::new(NotFoundYet(7)).context("updating"));
        let info = wrapped.exception(&include, StackTrace::Chain);
        assert!(info.fqcn.ends_with("NotFoundYet"), "{}", info.fqcn);
        assert_eq!(info.message, "updating: item 7 not created yet");
        assert_eq!(
            info.stacktrace,
            "updating\n\nCaused by:\n    item 7 not created yet"
        );

        let typed = failed(InvalidStatus).exception(&ErrorFilter::RetryAll, StackTrace::Chain);
        assert!(typed.fqcn.ends_with("InvalidStatus"), "{}", typed.fqcn);
        assert_eq!(
            failed(anyhow::anyhow!("x"))
                .exception(&include, StackTrace::Chain)
                .fqcn,
            "anyhow::Error"
        );
        assert_eq!(
            HandlerError::Panicked("boom".into())
                .exception(&include, StackTrace::Chain)
                .fqcn,
            "panic"
        );
    }

    #[test]
    fn full_stacktrace_is_the_debug_form_and_chain_never_a_backtrace() {
        let error = || failed(anyhow::Error::new(NotFoundYet(7)).context("updating"));
        let full = error().exception(&ErrorFilter::RetryAll, StackTrace::Full);
        assert!(
            full.stacktrace
                .starts_with("updating\n\nCaused by:\n    item 7 not created yet"),
            "{}",
            full.stacktrace
        );
        let chain = error().exception(&ErrorFilter::RetryAll, StackTrace::Chain);
        assert!(
            !chain.stacktrace.contains("backtrace"),
            "{}",
            chain.stacktrace
        );
        let single = failed(anyhow::anyhow!("just this"));
        assert_eq!(
            single
                .exception(&ErrorFilter::RetryAll, StackTrace::Chain)
                .stacktrace,
            "just this"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not load")]
    struct LoadFailed(#[source] NotFoundYet);

    static BOTH: [ErrorType; 2] = [
        ErrorType::of::<LoadFailed>(),
        ErrorType::of::<NotFoundYet>(),
    ];

    #[test]
    fn cause_names_the_innermost_nameable_type() {
        let include = ErrorFilter::Include(&BOTH);
        let nested = failed(anyhow::Error::new(LoadFailed(NotFoundYet(3))).context("updating"));
        let info = nested.exception(&include, StackTrace::Chain);
        assert!(info.fqcn.ends_with("LoadFailed"), "{}", info.fqcn);
        assert!(
            info.cause_fqcn.ends_with("NotFoundYet"),
            "{}",
            info.cause_fqcn
        );

        let unlisted = failed(InvalidStatus).exception(&ErrorFilter::RetryAll, StackTrace::Chain);
        assert!(
            unlisted.cause_fqcn.ends_with("InvalidStatus"),
            "{}",
            unlisted.cause_fqcn
        );
        assert_eq!(
            failed(anyhow::anyhow!("x"))
                .exception(&include, StackTrace::Chain)
                .cause_fqcn,
            "anyhow::Error"
        );

        let json = serde_json::from_str::<u32>("{").unwrap_err();
        let bad_json = HandlerError::Decode(DecodeError::invalid::<u32, _>("JSON", json));
        let info = bad_json.exception(&include, StackTrace::Chain);
        assert!(info.fqcn.ends_with("DecodeError"), "{}", info.fqcn);
        assert_eq!(info.cause_fqcn, std::any::type_name::<serde_json::Error>());
        let missing =
            HandlerError::Decode(DecodeError::Missing).exception(&include, StackTrace::Chain);
        assert!(
            missing.cause_fqcn.ends_with("DecodeError"),
            "{}",
            missing.cause_fqcn
        );
        assert_eq!(
            HandlerError::Panicked("p".into())
                .exception(&include, StackTrace::Chain)
                .cause_fqcn,
            "panic"
        );
    }

    #[test]
    fn types_match_along_either_chain() {
        let not_found = ErrorType::of::<NotFoundYet>();
        assert!(not_found.matches(&failed(anyhow::Error::new(LoadFailed(NotFoundYet(1))))));
        assert!(!not_found.matches(&failed(InvalidStatus)));
        assert!(!not_found.matches(&HandlerError::Panicked("p".into())));
        let json = serde_json::from_str::<u32>("{").unwrap_err();
        let bad_json = HandlerError::Decode(DecodeError::invalid::<u32, _>("JSON", json));
        assert!(ErrorType::of::<DecodeError>().matches(&bad_json));
        assert!(ErrorType::of::<serde_json::Error>().matches(&bad_json));
        assert!(!not_found.matches(&bad_json));
    }
}
