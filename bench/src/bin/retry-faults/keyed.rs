//! The key-order listener: `ordering = "key"` over records that carry (key, sequence), each
//! handler call written to the process's journal as it starts and as it ends.
//!
//! A record's fate follows from its key and sequence ([`fate`]): about 0.5 % always fail (they
//! reach the DLT after [`ATTEMPTS`] calls), about 5 % fail their first call, the others
//! succeed.

use std::time::Duration;

use retry_runtime::prelude::*;

use crate::journal::{self, Outcome};

/// The main topic.
pub const TOPIC: &str = "fault-keyed";
/// Its dead-letter topic.
pub const DLT: &str = "fault-keyed-dlt";
/// Where its blocked keys' later records wait.
pub const PARKED: &str = "fault-keyed-retry-parked";
/// Its partitions.
pub const PARTITIONS: i32 = 4;
/// Deliveries of a record before the DLT (the listener's `attempts`).
pub const ATTEMPTS: u32 = 3;

/// What the handler does with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Succeeds at once.
    Succeeds,
    /// Fails its first call, then succeeds.
    FailsOnce,
    /// Fails every call: the DLT.
    AlwaysFails,
}

/// The fate of `key`'s record `seq`: a hash of both, so fates scatter over keys and
/// sequences alike.
pub fn fate(key: &str, seq: u32) -> Fate {
    let hash = key
        .bytes()
        .chain(seq.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    match hash % 1000 {
        0..5 => Fate::AlwaysFails,
        5..55 => Fate::FailsOnce,
        _ => Fate::Succeeds,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("record {0} of key {1} failed")]
struct Failed(u32, String);

#[retryable_topic(
    topic = "fault-keyed",
    ordering = "key",
    concurrency = 64,
    partitions = 4,
    attempts = 3,
    backoff = "500ms"
)]
async fn fault_keyed(rec: Record<u32>) -> anyhow::Result<()> {
    let key = rec.key_str().unwrap_or_default().to_owned();
    let seq = *rec.value();
    let call = journal::started(&key, seq, rec.attempt)?;
    tokio::time::sleep(Duration::from_micros(rand::random_range(2000..20_000))).await;
    let ok = match fate(&key, seq) {
        Fate::Succeeds => true,
        Fate::FailsOnce => rec.attempt > 1,
        Fate::AlwaysFails => false,
    };
    let outcome = if ok {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    journal::ended(call, outcome)?;
    anyhow::ensure!(ok, Failed(seq, key));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_come_in_the_stated_shares() {
        let mut counts = [0usize; 3];
        for k in 0..200 {
            for seq in 0..100 {
                counts[fate(&format!("k{k}"), seq) as usize] += 1;
            }
        }
        // 20,000 records: about 19,000 succeed, 1,000 fail once, 100 always fail.
        assert!((18_600..19_400).contains(&counts[0]), "{counts:?}");
        assert!((850..1150).contains(&counts[1]), "{counts:?}");
        assert!((60..140).contains(&counts[2]), "{counts:?}");
    }
}
