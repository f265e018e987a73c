//! What the handlers did, as they did it: logged, and kept for the quickstart's summary when
//! [`keep`] was called (a long-running service keeps nothing).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::core::RecordMeta;

/// One handler call.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Time since [`keep`] was called.
    pub at: Duration,
    /// The record's key.
    pub key: String,
    /// The topic it was read from.
    pub topic: String,
    /// Its delivery number.
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
}

/// How a handler call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled; what it did.
    Handled(String),
    /// Failed; the error.
    Failed(String),
    /// Reached the DLT handler; the provenance.
    DeadLetter(String),
}

struct Kept {
    started: Instant,
    entries: Vec<Entry>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// Starts keeping entries (and the clock they are timed by).
pub fn keep() {
    *KEPT.lock().expect("journal") = Some(Kept {
        started: Instant::now(),
        entries: Vec::new(),
    });
}

/// The entries kept so far.
pub fn entries() -> Vec<Entry> {
    KEPT.lock()
        .expect("journal")
        .as_ref()
        .map(|k| k.entries.clone())
        .unwrap_or_default()
}

pub(crate) fn handled(meta: &RecordMeta, what: String) {
    tracing::info!("{what}");
    add(meta, Outcome::Handled(what));
}

pub(crate) fn failed(meta: &RecordMeta, error: &anyhow::Error) {
    tracing::info!("failed: {error}");
    add(meta, Outcome::Failed(error.to_string()));
}

pub(crate) fn dead_letter(meta: &RecordMeta, what: String) {
    tracing::warn!("dead letter: {what}");
    add(meta, Outcome::DeadLetter(what));
}

fn add(meta: &RecordMeta, outcome: Outcome) {
    if let Some(kept) = KEPT.lock().expect("journal").as_mut() {
        kept.entries.push(Entry {
            at: kept.started.elapsed(),
            key: meta.key_str().unwrap_or("?").to_owned(),
            topic: meta.topic.to_string(),
            attempt: meta.attempt,
            outcome,
        });
    }
}
