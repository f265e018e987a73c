//! The `fault_outage` listener and the downstream it depends on, which the outage scenarios
//! take down and bring back.
//!
//! Record `k` (JSON `{"k": k}`) first asks the downstream: while it is down, the call fails
//! with [`DbUnavailable`] (the listener's `pause_on`) and is noted with its instant. With
//! poison on, `k % 7 == 0` then fails with an ordinary error on every delivery (it belongs in
//! the DLT after 3). Others succeed and are produced to `fault-handled`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::prelude::*;

use crate::listener::record_handled;

/// The outage listener's main topic.
pub const OUTAGE_TOPIC: &str = "fault-outage";

/// The probe backoff of the listener's `probe` argument: the first delay, doubling to
/// [`MAX_PROBE_DELAY`].
pub const FIRST_PROBE_DELAY: Duration = Duration::from_secs(2);

/// The listener's `max_probe_delay`.
pub const MAX_PROBE_DELAY: Duration = Duration::from_secs(8);

static DOWN: AtomicBool = AtomicBool::new(false);
static POISON: AtomicBool = AtomicBool::new(false);
static FAILED_WHILE_DOWN: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
/// When the downstream came back, and when the first call succeeded after that.
static BACK: Mutex<(Option<Instant>, Option<Instant>)> = Mutex::new((None, None));

/// What the database client says while the downstream is down.
#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
pub struct DbUnavailable;

#[derive(Debug, thiserror::Error)]
#[error("order {0} is poison")]
struct Poison(u64);

#[derive(Debug, serde::Deserialize)]
struct Order {
    k: u64,
}

/// Brings the downstream up, sets whether `k % 7 == 0` is poison, and forgets the calls
/// noted.
pub fn reset(poison: bool) {
    DOWN.store(false, Ordering::SeqCst);
    POISON.store(poison, Ordering::SeqCst);
    FAILED_WHILE_DOWN.lock().expect("calls").clear();
    *BACK.lock().expect("back") = (None, None);
}

/// Takes the downstream down (`true`) or brings it back.
pub fn set_down(down: bool) {
    if !down {
        BACK.lock().expect("back").0 = Some(Instant::now());
    }
    DOWN.store(down, Ordering::SeqCst);
}

/// How long after the downstream came back the first call succeeded.
pub fn first_success_after_back() -> Option<Duration> {
    match *BACK.lock().expect("back") {
        (Some(back), Some(first)) => Some(first.saturating_duration_since(back)),
        _ => None,
    }
}

/// When each call that failed because the downstream was down ended, in order.
pub fn failed_while_down() -> Vec<Instant> {
    FAILED_WHILE_DOWN.lock().expect("calls").clone()
}

/// Whether key `k` is poison in a run with poison on.
pub fn is_poison(key: &str) -> bool {
    key.parse::<u64>().is_ok_and(|k| k.is_multiple_of(7))
}

#[retryable_topic(
    topic = "fault-outage",
    attempts = 3,
    backoff = "500ms",
    pause_on = [DbUnavailable],
    probe = "2s*2",
    max_probe_delay = "8s"
)]
async fn fault_outage(rec: Record<Order>) -> anyhow::Result<()> {
    let k = rec.value().k;
    tokio::time::sleep(Duration::from_micros(rand::random_range(0..3000))).await;
    if DOWN.load(Ordering::SeqCst) {
        FAILED_WHILE_DOWN
            .lock()
            .expect("calls")
            .push(Instant::now());
        return Err(anyhow::Error::new(DbUnavailable).context(format!("saving order {k}")));
    }
    if POISON.load(Ordering::SeqCst) && k.is_multiple_of(7) {
        return Err(Poison(k).into());
    }
    if let (Some(_), first @ None) = &mut *BACK.lock().expect("back") {
        *first = Some(Instant::now());
    }
    record_handled(&k.to_string()).await
}
