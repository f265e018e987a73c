//! The journal of handler calls an app process keeps for the key-order oracle: one file per
//! process, a JSON line as each call starts and another as it ends, each appended with one
//! `write` (nothing buffered in the process, so a kill -9 loses none; a line cut anyway is
//! skipped when read). A call with a start line and no end line was cut by its process's
//! death.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// How a handler call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// Still running when the line was written (the start line).
    Started,
    /// The handler returned `Ok`.
    Succeeded,
    /// The handler returned an error.
    Failed,
    /// Its process was killed during the call: it ended at the latest when the process did.
    Cut,
}

/// One handler call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Call {
    /// The process that made it.
    pub pid: u32,
    /// Its number in the process.
    pub id: u64,
    /// The record's key.
    pub key: String,
    /// The record's sequence in its key.
    pub seq: u32,
    /// The delivery (1 on the main topic).
    pub attempt: u32,
    /// When it started, microseconds since the epoch (the machine's clock, shared by every
    /// process of the run).
    pub start_us: u64,
    /// When it ended (its start on the start line).
    pub end_us: u64,
    /// How it ended.
    pub outcome: Outcome,
}

static FILE: Mutex<Option<File>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The journal of process `pid` in `dir`.
pub fn path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("journal-{pid}.jsonl"))
}

/// Makes this process journal its calls in `dir`.
pub fn open(dir: &Path) -> std::io::Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(dir, std::process::id()))?;
    *FILE.lock().expect("journal") = Some(file);
    Ok(())
}

/// Microseconds since the epoch, now.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Journals the start of a call, and returns it for [`ended`].
pub fn started(key: &str, seq: u32, attempt: u32) -> std::io::Result<Call> {
    let start_us = now_us();
    let call = Call {
        pid: std::process::id(),
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        key: key.to_owned(),
        seq,
        attempt,
        start_us,
        end_us: start_us,
        outcome: Outcome::Started,
    };
    append(&call)?;
    Ok(call)
}

/// Journals the end of `call` with `outcome`.
pub fn ended(call: Call, outcome: Outcome) -> std::io::Result<()> {
    append(&Call {
        end_us: now_us(),
        outcome,
        ..call
    })
}

fn append(call: &Call) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(call)?;
    line.push(b'\n');
    let mut file = FILE.lock().expect("journal");
    file.as_mut()
        .ok_or_else(|| std::io::Error::other("no journal opened"))?
        .write_all(&line)
}

/// Every call in the journals of `dir`: a call whose process died during it is [`Cut`],
/// ending when `deaths` says its process died (or never, if it does not say).
///
/// [`Cut`]: Outcome::Cut
pub fn read(dir: &Path, deaths: &HashMap<u32, u64>) -> std::io::Result<Vec<Call>> {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            text.push_str(&std::fs::read_to_string(path)?);
            text.push('\n');
        }
    }
    Ok(calls(&text, deaths))
}

/// The calls of journal lines `text`, skipping a cut line.
pub fn calls(text: &str, deaths: &HashMap<u32, u64>) -> Vec<Call> {
    let mut by_id: HashMap<(u32, u64), Call> = HashMap::new();
    for call in text
        .lines()
        .filter_map(|line| serde_json::from_str::<Call>(line).ok())
    {
        let entry = by_id.entry((call.pid, call.id)).or_insert(call.clone());
        if call.outcome != Outcome::Started {
            *entry = call;
        }
    }
    let mut calls: Vec<Call> = by_id
        .into_values()
        .map(|call| match call.outcome {
            Outcome::Started => Call {
                end_us: deaths.get(&call.pid).copied().unwrap_or(u64::MAX),
                outcome: Outcome::Cut,
                ..call
            },
            _ => call,
        })
        .collect();
    calls.sort_by_key(|c| (c.start_us, c.pid, c.id));
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_its_end_line_is_cut_at_its_process_death_and_a_cut_line_is_skipped() {
        let start = |id, start_us| Call {
            pid: 7,
            id,
            key: "k".into(),
            seq: id as u32,
            attempt: 1,
            start_us,
            end_us: start_us,
            outcome: Outcome::Started,
        };
        let done = Call {
            end_us: 15,
            outcome: Outcome::Succeeded,
            ..start(0, 10)
        };
        let lines = [
            serde_json::to_string(&start(0, 10)).unwrap(),
            serde_json::to_string(&done).unwrap(),
            serde_json::to_string(&start(1, 20)).unwrap(),
        ];
        let cut_line = &serde_json::to_string(&start(2, 30)).unwrap()[..20];
        let text = format!("{}\n{cut_line}", lines.join("\n"));
        let calls = calls(&text, &HashMap::from([(7, 25)]));
        assert_eq!(
            calls,
            vec![
                done,
                Call {
                    end_us: 25,
                    outcome: Outcome::Cut,
                    ..start(1, 20)
                }
            ]
        );
    }
}
