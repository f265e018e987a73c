//! The `#[retryable_topic]` and `#[dlt_handler]` attributes of kafka-retry.
//!
//! Use them through `retry_runtime::prelude`; this crate only parses, checks and generates.
//! Each attribute keeps the function as written and registers a static listener descriptor
//! with `inventory`, which `retry_runtime::run()` collects.

#![deny(missing_docs)]

mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

/// Turns an `async fn(Record<T>, State<S>...) -> Result<(), E>` into a non-blocking
/// retrying listener.
///
/// ```ignore
/// #[retryable_topic(topic = "update-item", attempts = 4, backoff = "1s*2", include = [NotFoundYet])]
/// async fn update_item(rec: Record<UpdateItem>, State(db): State<Db>) -> anyhow::Result<()> { Ok(()) }
/// ```
///
/// The record comes first; any number of `State<S>` arguments may follow, each a value
/// registered with `RetryApp::builder().state(..)` and checked at start-up.
///
/// Arguments: `topic` (required), `group`, `attempts`, `backoff`, `max_delay`, `jitter`,
/// `timeout`, `suffix`, `dlt`, `partitions`, `replication`, `concurrency`, `auto_create`,
/// `retry_topic_suffix`, `dlt_topic_suffix`, `topic_reuse`, `auto_start_dlt`, `stacktrace`,
/// `ordering`, `breaker`, `probe`, `max_probe_delay`, `max_blocked_keys`, `max_parked`,
/// `include = [Type, ...]` or `exclude = [Type, ...]`,
/// `dlt_routing("-suffix" = [Type, ...], ...)` (errors dead-lettered to `<topic>-suffix-dlt`),
/// and `pause_on = [Type, ...]` (errors meaning the downstream is unavailable: they open the
/// listener's circuit breaker).
/// Every value except the error lists and routes can be overridden at start-up with
/// `RETRY_<FUNCTION>_<ARGUMENT>`; `RETRY_<FUNCTION>_PAUSE_ON=off` turns `pause_on` off.
#[proc_macro_attribute]
pub fn retryable_topic(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute(expand::listener, args, item)
}

/// Handles the dead-letter topic of the `#[retryable_topic]` listener on `topic`; takes a
/// `DeadLetter<T>`, then any `State<S>` arguments.
///
/// ```ignore
/// #[dlt_handler(topic = "update-item")]
/// async fn update_item_dlt(rec: DeadLetter<UpdateItem>) -> anyhow::Result<()> { Ok(()) }
/// ```
#[proc_macro_attribute]
pub fn dlt_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    attribute(expand::dlt_handler, args, item)
}

/// Runs `expand`; on error emits the error plus the item as written, so one mistake in the
/// attribute does not cascade into "unused import" or "function not found" errors elsewhere.
fn attribute(
    expand: fn(TokenStream2, TokenStream2) -> syn::Result<TokenStream2>,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    let item = TokenStream2::from(item);
    expand(args.into(), item.clone())
        .unwrap_or_else(|error| {
            let mut tokens = error.into_compile_error();
            tokens.extend(item);
            tokens
        })
        .into()
}
