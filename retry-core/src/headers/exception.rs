//! What a failure's `kafka_exception-*` headers say.

/// The failure description written to the `kafka_exception-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExceptionInfo {
    /// Rust type name of the error (`kafka_exception-fqcn`).
    pub fqcn: String,
    /// Rust type name of the innermost nameable cause (`kafka_exception-cause-fqcn`), the
    /// counterpart of the root cause Spring names there.
    pub cause_fqcn: String,
    /// Display of the error chain (`kafka_exception-message`).
    pub message: String,
    /// The cause chain, or with [`StackTrace::Full`](crate::StackTrace::Full) the debug form
    /// with the backtrace when captured (`kafka_exception-stacktrace`).
    pub stacktrace: String,
}

/// Bytes of `kafka_exception-message` written at most.
const MAX_MESSAGE_BYTES: usize = 4 << 10;
/// Bytes of `kafka_exception-stacktrace` written at most.
const MAX_STACKTRACE_BYTES: usize = 16 << 10;

impl ExceptionInfo {
    /// The same, with message and stack trace cut to 4 KiB (`MAX_MESSAGE_BYTES`) and 16 KiB
    /// (`MAX_STACKTRACE_BYTES`) at a character boundary, marked with `…`, so the headers of
    /// a forward stay small next to the record whatever the error says.
    pub fn bounded(mut self) -> Self {
        truncate(&mut self.message, MAX_MESSAGE_BYTES);
        truncate(&mut self.stacktrace, MAX_STACKTRACE_BYTES);
        self
    }
}

fn truncate(text: &mut String, max: usize) {
    const MARK: &str = "…";
    if text.len() <= max {
        return;
    }
    let mut end = max - MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(MARK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_exceptions_cut_at_a_character_boundary() {
        let info = ExceptionInfo {
            fqcn: "E".into(),
            cause_fqcn: "E".into(),
            message: "é".repeat(MAX_MESSAGE_BYTES),
            stacktrace: "x".repeat(MAX_STACKTRACE_BYTES),
        }
        .bounded();
        assert!(info.message.len() <= MAX_MESSAGE_BYTES);
        assert!(info.message.ends_with('…'));
        assert!(info.message.len() > MAX_MESSAGE_BYTES - 8);
        assert_eq!(
            info.stacktrace.len(),
            MAX_STACKTRACE_BYTES,
            "at the limit: kept whole"
        );
        let short = ExceptionInfo {
            message: "short".into(),
            ..ExceptionInfo::default()
        };
        assert_eq!(short.clone().bounded(), short);
    }
}
