//! What the folded lock log of `ordering = "key"` holds in memory per blocked key: folds a
//! million keys, each with a head forwarded once and one parked record (18-byte keys), and
//! prints the growth of the process's resident set.
//!
//! `cargo run --release -p retry-core --example fold_memory [KEYS]`

use retry_core::{CopyAt, LockEntry, LockLog, LockOutcome};

/// The process's resident set in KiB (Linux).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn main() {
    let keys: i64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a number of keys"))
        .unwrap_or(1_000_000);
    let before = rss_kib();
    let mut log = LockLog::default();
    for i in 0..keys {
        let key = Some(format!("account-{i:010}").into_bytes());
        let head = CopyAt { hop: 1, offset: i };
        log.apply(LockEntry::Chain {
            key: key.clone(),
            offset: i * 3,
            copy: head,
        });
        log.apply(LockEntry::Outcome {
            key: key.clone(),
            offset: i * 3,
            copy: head,
            outcome: LockOutcome::Forwarded(CopyAt { hop: 2, offset: i }),
        });
        log.apply(LockEntry::Chain {
            key,
            offset: i * 3 + 1,
            copy: CopyAt { hop: 0, offset: i },
        });
    }
    let grown = rss_kib() - before;
    println!(
        "{} blocked keys, {} records unresolved: {} MiB resident, {} bytes a key",
        log.keys(),
        log.unresolved(),
        grown / 1024,
        grown * 1024 / keys.max(1) as u64
    );
}
