//! Error backtraces only where a listener asks for them.
//!
//! With `RUST_BACKTRACE=1`, which many services set to get panic backtraces, `anyhow` captures
//! a backtrace in every error it creates: the stack walked and stored on each failed record,
//! for a header that with `stacktrace = "chain"` (the default) never shows it. `RUST_LIB_BACKTRACE=0` turns that capture off and leaves panic backtraces
//! as they are; the app sets it when no listener wants backtraces (`stacktrace = "full"`) and
//! the user did not choose it themselves.

use retry_core::StackTrace;

use crate::listener::Listener;

/// Turns off error backtrace capture for the process unless a listener shows backtraces or
/// `RUST_LIB_BACKTRACE` is set. `std` reads it once, at the first capture: errors created
/// before the app started may have captured already.
pub(crate) fn capture_only_if_shown(listeners: &[Listener]) {
    let capturing = std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0");
    if !capturing || std::env::var_os("RUST_LIB_BACKTRACE").is_some() {
        return;
    }
    if listeners
        .iter()
        .any(|l| l.config.stacktrace == StackTrace::Full)
    {
        return;
    }
    // No Kafka client exists yet and std serialises its own environment access; this runs
    // while the app starts, before any handler does.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    tracing::info!(
        "RUST_BACKTRACE is set: error backtraces are not captured (RUST_LIB_BACKTRACE=0), as no \
         listener has stacktrace = \"full\"; panics keep theirs. Set RUST_LIB_BACKTRACE=1 to keep them"
    );
}
