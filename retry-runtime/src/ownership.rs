//! Whether this consumer still owns a partition: asked before every record, so it is a plain
//! atomic flag, with a cancellation token beside it to wake a task that is waiting.
//!
//! Written by hand because `CancellationToken::is_cancelled` takes a mutex and waiting on it
//! registers with a `Notify` (another mutex): on the happy path, where a record is ready and
//! the partition is still owned, both are pure overhead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A partition's ownership, revoked once when the partition is revoked or lost.
#[derive(Default)]
pub(crate) struct Ownership {
    revoked: AtomicBool,
    token: CancellationToken,
    /// With `ordering = "key"`: whether a task works on the partition, which a revocation
    /// waits to end (design/key-order.md), and its change.
    working: Mutex<bool>,
    drained: Condvar,
    /// Set once a revocation stopped waiting for the partition's task: the task writes no
    /// more lock-log entries (design/key-order.md).
    fenced: AtomicBool,
}

/// A task's hold on a partition it works on; the partition is drained once it drops.
pub(crate) struct Working(Arc<Ownership>);

impl Drop for Working {
    fn drop(&mut self) {
        *self.0.working.lock().expect("ownership poisoned") = false;
        self.0.drained.notify_all();
    }
}

impl Ownership {
    /// Marks the partition revoked and wakes whoever waits for it.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// True once the partition was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Completes when the partition is revoked.
    pub fn revoked(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Notes that a task works on the partition until the returned hold drops. Taken before
    /// the task's first look at [`Ownership::is_revoked`]: a revocation either finds it
    /// working and waits, or is seen by the task before it reads anything.
    pub fn working(self: &Arc<Self>) -> Working {
        *self.working.lock().expect("ownership poisoned") = true;
        Working(self.clone())
    }

    /// Fences the partition's task off the lock log: a revocation stopped waiting for it, and
    /// the next owner may start. Its records not yet entered stay unfinished.
    pub fn fence(&self) {
        self.fenced.store(true, Ordering::Release);
    }

    /// True once [`Ownership::fence`] was called: checked before every lock-log write.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    /// Blocks the calling thread until no task works on the partition, or `bound` passed:
    /// `false` then.
    pub fn wait_drained(&self, bound: Duration) -> bool {
        let working = self.working.lock().expect("ownership poisoned");
        let (working, _) = self
            .drained
            .wait_timeout_while(working, bound, |working| *working)
            .expect("ownership poisoned");
        !*working
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn revoking_sets_the_flag_and_wakes_waiters() {
        let ownership = Ownership::default();
        let mut waiting = Box::pin(ownership.revoked());
        assert!(!ownership.is_revoked());
        assert!((&mut waiting).now_or_never().is_none(), "still owned");
        ownership.revoke();
        assert!(ownership.is_revoked());
        assert!(waiting.now_or_never().is_some(), "the waiter completes");
    }

    #[test]
    fn a_revocation_waits_for_the_task_working_on_the_partition() {
        let ownership = Arc::new(Ownership::default());
        assert!(
            ownership.wait_drained(Duration::ZERO),
            "nothing works on it"
        );
        let working = ownership.working();
        assert!(
            !ownership.wait_drained(Duration::from_millis(10)),
            "bounded"
        );
        let drained = std::thread::spawn({
            let ownership = ownership.clone();
            move || ownership.wait_drained(Duration::from_secs(30))
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(working);
        assert!(drained.join().unwrap(), "woken when the task let go");
    }

    #[test]
    fn a_fence_is_set_once_and_stays() {
        let ownership = Ownership::default();
        assert!(!ownership.is_fenced());
        ownership.fence();
        assert!(ownership.is_fenced());
        assert!(!ownership.is_revoked(), "a fence is not a revocation");
    }
}
