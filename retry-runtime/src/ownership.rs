//! Whether this consumer still owns a partition: asked before every record, so it is a plain
//! atomic flag, with a cancellation token beside it to wake a task that is waiting.
//!
//! Written by hand because `CancellationToken::is_cancelled` takes a mutex and waiting on it
//! registers with a `Notify` (another mutex): on the happy path, where a record is ready and
//! the partition is still owned, both are pure overhead.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A partition's ownership, revoked once when the partition is revoked or lost.
#[derive(Default)]
pub(crate) struct Ownership {
    revoked: AtomicBool,
    token: CancellationToken,
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
}
