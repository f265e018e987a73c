//! What one run measured: records per second and CPU time per record.

use serde::{Deserialize, Serialize};

use crate::handlers::MAIN;

/// Records per second of one run, and the process's CPU time per record over it.
#[derive(Serialize, Deserialize, Default, Clone, Copy)]
pub struct Throughput {
    pub records_per_s: f64,
    pub cpu_ns_per_record: f64,
}

impl Throughput {
    /// What [`MAIN`] measured.
    pub fn measured() -> Self {
        Self {
            records_per_s: MAIN.rate(),
            cpu_ns_per_record: MAIN.cpu_ns_per_record(),
        }
    }

    /// The faster of two runs, with the lower CPU figure of the two (the machine is shared:
    /// noise only ever adds).
    pub fn best(self, other: Self) -> Self {
        let cpu = match (self.cpu_ns_per_record, other.cpu_ns_per_record) {
            (0.0, b) => b,
            (a, 0.0) => a,
            (a, b) => a.min(b),
        };
        Self {
            records_per_s: self.records_per_s.max(other.records_per_s),
            cpu_ns_per_record: cpu,
        }
    }
}
