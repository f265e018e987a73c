//! CPU time of this process (user + system, every thread), for the CPU-per-record figures.

use std::time::Duration;

/// User plus system CPU time this process has used so far. `std` has no such clock, hence
/// `getrusage`.
pub fn used() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
