//! A consumer that ends before shutdown stops the app, whatever ended it.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::consumer::ConsumerFailed;
use crate::process::panic_message;

/// Runs `consumer`, the consumer of `topic`, to its end. An end before `stop` was cancelled,
/// for any reason (an error, a panic, or none at all), is a failure of the app: it is logged,
/// sent to `failure` (which keeps the first failure sent, the cause of the others), and
/// `stop` is cancelled, so every other consumer stops too and the app exits with the reason.
pub(crate) async fn supervise(
    topic: String,
    consumer: impl Future<Output = Result<(), ConsumerFailed>>,
    stop: CancellationToken,
    failure: watch::Sender<Option<String>>,
) {
    let reason = match AssertUnwindSafe(consumer).catch_unwind().await {
        Ok(Ok(())) if stop.is_cancelled() => return,
        Ok(Ok(())) => format!("the consumer of {topic} stopped on its own"),
        Ok(Err(error)) => error.to_string(),
        Err(panic) => format!(
            "the consumer of {topic} panicked: {}",
            panic_message(&*panic)
        ),
    };
    tracing::error!(%topic, %reason, "consumer failed; stopping the app");
    failure.send_if_modified(|failed| {
        let first = failed.is_none();
        if first {
            *failed = Some(reason);
        }
        first
    });
    stop.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `supervise` reports for a consumer ending with `end`, and whether it stopped the
    /// app; `stopped` says whether shutdown had begun.
    async fn reported(
        end: impl Future<Output = Result<(), ConsumerFailed>>,
        stopped: bool,
    ) -> (Option<String>, bool) {
        let stop = CancellationToken::new();
        if stopped {
            stop.cancel();
        }
        let (failure, failed) = watch::channel(None);
        supervise("orders".into(), end, stop.clone(), failure).await;
        let reason = failed.borrow().clone();
        (reason, stop.is_cancelled())
    }

    #[tokio::test]
    async fn a_panic_stops_the_app_with_its_message() {
        let (reason, stopped) = reported(async { panic!("semaphore too large") }, false).await;
        assert_eq!(
            reason.as_deref(),
            Some("the consumer of orders panicked: semaphore too large")
        );
        assert!(stopped);
    }

    #[tokio::test]
    async fn an_error_or_an_end_before_shutdown_stops_the_app() {
        let stray = ConsumerFailed::StrayRecord {
            topic: "orders".into(),
            partition: 1,
            offset: 7,
        };
        let text = stray.to_string();
        let (reason, stopped) = reported(async { Err(stray) }, false).await;
        assert_eq!((reason, stopped), (Some(text), true));
        let (reason, stopped) = reported(async { Ok(()) }, false).await;
        assert_eq!(
            (reason.as_deref(), stopped),
            (Some("the consumer of orders stopped on its own"), true)
        );
    }

    #[tokio::test]
    async fn an_end_after_shutdown_began_is_no_failure() {
        assert_eq!(reported(async { Ok(()) }, true).await, (None, true));
    }

    #[tokio::test]
    async fn the_first_failure_is_the_one_reported() {
        let stop = CancellationToken::new();
        let (failure, failed) = watch::channel(None);
        supervise(
            "a".into(),
            async { panic!("first") },
            stop.clone(),
            failure.clone(),
        )
        .await;
        supervise("b".into(), async { panic!("second") }, stop, failure).await;
        assert_eq!(
            failed.borrow().as_deref(),
            Some("the consumer of a panicked: first")
        );
    }
}
