//! Shutdown keeps its deadline: the grace period for in-flight records, then a bounded time
//! for the final commits and leaving the groups, after which it returns whatever is left.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long shutdown waits, after the grace period, for the consumers' final commits and for
/// leaving their groups. Both wait on the broker (its coordinator, a socket timeout of
/// 60 s when it is gone): with the default grace period (10 s) shutdown ends within 15 s,
/// inside a Kubernetes pod's default 30 s termination grace period.
pub(crate) const CLOSE_ALLOWANCE: Duration = Duration::from_secs(5);

/// When shutdown, begun at `start` with `grace` for in-flight records, stops waiting.
pub(crate) fn deadline(start: Instant, grace: Duration) -> Instant {
    start + grace + CLOSE_ALLOWANCE
}

/// Waits for each consumer task (named by its topic) until `deadline`; returns the topics
/// whose task had not ended by then. Those keep running detached: their commit and their
/// leaving the group may still complete.
pub(crate) async fn join_until(
    tasks: impl IntoIterator<Item = (String, JoinHandle<()>)>,
    deadline: Instant,
) -> Vec<String> {
    let mut left = Vec::new();
    for (topic, task) in tasks {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%topic, %error, "consumer task failed"),
            Err(_) => left.push(topic),
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_grace_period_and_the_close_allowance() {
        let start = Instant::now();
        assert_eq!(
            deadline(start, Duration::from_secs(10)),
            start + Duration::from_secs(15)
        );
        assert_eq!(deadline(start, Duration::ZERO), start + CLOSE_ALLOWANCE);
    }

    /// Real time, in steps short enough for a unit test and long enough to tell apart.
    const STEP: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn tasks_still_closing_at_the_deadline_are_left_and_named() {
        let start = Instant::now();
        let closed = tokio::spawn(async {});
        let closing_late = tokio::spawn(tokio::time::sleep(STEP * 10));
        let stuck = tokio::spawn(std::future::pending::<()>());
        let tasks = [
            ("stuck".to_string(), stuck),
            ("closed".to_string(), closed),
            ("late".to_string(), closing_late),
        ];
        let left = join_until(tasks, start + STEP).await;
        assert_eq!(left, ["stuck", "late"]);
        let took = start.elapsed();
        assert!(took >= STEP && took < STEP * 5, "{took:?}");
    }

    #[tokio::test]
    async fn shutdown_ends_as_soon_as_every_task_has() {
        let start = Instant::now();
        let closing = tokio::spawn(tokio::time::sleep(STEP));
        let left = join_until([("a".to_string(), closing)], start + STEP * 50).await;
        assert!(left.is_empty());
        let took = start.elapsed();
        assert!(took >= STEP && took < STEP * 10, "{took:?}");
    }
}
