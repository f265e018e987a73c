//! What the kafka-retry peer does with a delivery and what it reports, as the Java peers'
//! `Tally` does: the same work, counted the same way.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Workload;
use crate::handlers::now_ms;

/// What a peer reports once its workload is done (`PEER-DONE {json}`), the same from every
/// peer.
#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Done {
    /// When the first record was handled, epoch ms.
    pub first_epoch_ms: i64,
    /// Main-topic deliveries.
    pub main_records: u64,
    /// Seconds from the first main-topic delivery to the last.
    pub main_window_s: f64,
    /// The process's user + system CPU seconds from the first record to the workload's end.
    pub cpu_s: f64,
    /// Handled minus due, of each retry delivery, in ms.
    pub lateness_ms: Vec<i64>,
}

impl Done {
    /// Main-topic records per second, from the first delivery to the last.
    pub fn records_per_s(&self) -> f64 {
        if self.main_window_s > 0.0 {
            (self.main_records.max(1) - 1) as f64 / self.main_window_s
        } else {
            0.0
        }
    }

    /// CPU seconds per main-topic record.
    pub fn cpu_s_per_record(&self) -> f64 {
        self.cpu_s / self.main_records.max(1) as f64
    }
}

/// Counts the deliveries of one workload.
pub struct Tally {
    workload: OnceLock<(Workload, u64)>,
    main: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    started: AtomicBool,
    done: AtomicBool,
    /// Nanoseconds since [`Tally::epoch`] of the last main-topic delivery.
    last_main_ns: AtomicU64,
    /// The first main-topic delivery: when (monotonic and epoch ms) and the CPU used by then.
    first: Mutex<(u64, i64, Duration)>,
    lateness_ms: Mutex<Vec<i64>>,
    epoch: OnceLock<Instant>,
}

/// The one tally of the peer process.
pub static TALLY: Tally = Tally::new();

impl Tally {
    const fn new() -> Self {
        Self {
            workload: OnceLock::new(),
            main: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            started: AtomicBool::new(false),
            done: AtomicBool::new(false),
            last_main_ns: AtomicU64::new(0),
            first: Mutex::new((0, 0, Duration::ZERO)),
            lateness_ms: Mutex::new(Vec::new()),
            epoch: OnceLock::new(),
        }
    }

    /// Sets the workload and its record count, before any record is handled.
    pub fn expect(&self, workload: Workload, records: u64) {
        let _ = self.workload.set((workload, records));
        self.epoch.get_or_init(Instant::now);
    }

    fn now_ns(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// A main-topic delivery handled.
    pub fn main_record(&self) {
        let now = self.now_ns();
        if !self.started.swap(true, Ordering::AcqRel) {
            *self.first.lock().expect("tally") = (now, now_ms(), crate::cpu::used());
        }
        self.last_main_ns.fetch_max(now, Ordering::AcqRel);
        self.main.fetch_add(1, Ordering::AcqRel);
        self.check_done();
    }

    /// A retry delivery due at `due_ms` (epoch ms), handled now; `succeeded` whether it counts
    /// as the record's last delivery.
    pub fn retry(&self, due_ms: i64, succeeded: bool) {
        self.lateness_ms
            .lock()
            .expect("tally")
            .push(now_ms() - due_ms);
        if succeeded {
            self.retried.fetch_add(1, Ordering::AcqRel);
            self.check_done();
        }
    }

    /// A dead letter handled.
    pub fn dead_letter(&self) {
        self.dead.fetch_add(1, Ordering::AcqRel);
        self.check_done();
    }

    fn finished(&self) -> bool {
        let Some(&(workload, records)) = self.workload.get() else {
            return false;
        };
        let main = self.main.load(Ordering::Acquire);
        match workload {
            Workload::Happy | Workload::Io5ms => main >= records,
            Workload::Failing10 => {
                main >= records && self.retried.load(Ordering::Acquire) >= failing(records)
            }
            Workload::Dlt => self.dead.load(Ordering::Acquire) >= records,
        }
    }

    fn check_done(&self) {
        if !self.finished() || self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        let (first_ns, first_epoch_ms, first_cpu) = *self.first.lock().expect("tally");
        let done = Done {
            first_epoch_ms,
            main_records: self.main.load(Ordering::Acquire),
            main_window_s: (self.last_main_ns.load(Ordering::Acquire) - first_ns) as f64 / 1e9,
            cpu_s: (crate::cpu::used() - first_cpu).as_secs_f64(),
            lateness_ms: self.lateness_ms.lock().expect("tally").clone(),
        };
        let json = serde_json::to_string(&done).expect("numbers serialize");
        super::process::say(&format!("{}{json}", super::process::DONE));
    }
}

/// How many of `records` records keyed `0..records` fail once in the failing10 workload.
pub fn failing(records: u64) -> u64 {
    records.div_ceil(10)
}
