//! `kafka-retry trace`: every record with a key on a main topic, its parked topic, retry
//! topics and DLTs, in time order, with the delivery number each hop is and the error that
//! sent it there.

use retry_core::headers::{decode_attempts, Provenance, ATTEMPTS};
use retry_core::replay::replay_count;

use crate::kafka::Read;
use crate::table;
use crate::topology::Role;

/// One record of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Topic.
    pub topic: String,
    /// `partition@offset`.
    pub position: String,
    /// Epoch ms the record was written.
    pub timestamp_ms: i64,
    /// The delivery this record is (`retry_topic-attempts`; 1 on the main topic).
    pub attempt: u32,
    /// Times it was replayed from a DLT.
    pub replays: u32,
    /// The error of the delivery before, which forwarded it here (none on the main topic).
    pub error: Option<String>,
    /// True on a DLT.
    pub dead: bool,
    /// True on the parked topic of `ordering = "key"`: the record waits there for its key's
    /// earlier records, with no failure of its own (its error is `kafka_retry::KeyBlocked`).
    pub parked: bool,
}

impl Hop {
    /// Reads one record of a chain topic with `role`.
    pub fn read(record: &Read, role: Role) -> Self {
        let exception = Provenance::read(&record.headers).exception;
        let error = (!exception.fqcn.is_empty() || !exception.message.is_empty())
            .then(|| format!("{}: {}", exception.fqcn, exception.message));
        Self {
            topic: record.topic.clone(),
            position: format!("{}@{}", record.partition, record.offset),
            timestamp_ms: record.timestamp_ms.unwrap_or_default(),
            attempt: record
                .headers
                .get(ATTEMPTS)
                .and_then(|b| decode_attempts(b).ok().flatten())
                .unwrap_or(1),
            replays: replay_count(&record.headers).unwrap_or(0),
            error,
            dead: role == Role::Dlt,
            parked: role == Role::Parked,
        }
    }
}

/// The hops in time order (a record's hops are written one after the other; the order of
/// the chain breaks ties).
pub fn assemble(mut hops: Vec<(usize, Hop)>) -> Vec<Hop> {
    hops.sort_by_key(|(chain_index, hop)| (hop.timestamp_ms, *chain_index));
    hops.into_iter().map(|(_, hop)| hop).collect()
}

/// The table and the one-line path (`topic#attempt @seconds`, as the quickstart prints).
pub fn render(key: &str, hops: &[Hop]) -> String {
    if hops.is_empty() {
        return format!("no record with key {key}\n");
    }
    let start = hops[0].timestamp_ms;
    let rows: Vec<Vec<String>> = hops
        .iter()
        .map(|hop| {
            vec![
                table::time(hop.timestamp_ms),
                hop.topic.clone(),
                hop.position.clone(),
                match hop.parked {
                    true => "parked".into(),
                    false => attempt(hop),
                },
                table::trim(hop.error.as_deref().unwrap_or(""), 80),
            ]
        })
        .collect();
    let path: Vec<String> = hops
        .iter()
        .map(|hop| {
            let seconds = (hop.timestamp_ms - start) as f64 / 1000.0;
            format!("{}{} @{seconds:.1}", hop.topic, attempt(hop))
        })
        .collect();
    let outcome = match hops.last() {
        Some(last) if last.dead => "dead letter",
        _ => "not in a DLT",
    };
    format!(
        "{}\n{key}: {outcome}\n{}\n",
        table::render(
            &["WRITTEN (UTC)", "TOPIC", "AT", "ATTEMPT", "ERROR BEFORE"],
            &rows
        ),
        path.join(" -> ")
    )
}

/// The delivery a hop is, `#2`; nothing for a parked record, which is no delivery.
fn attempt(hop: &Hop) -> String {
    if hop.parked {
        return String::new();
    }
    match hop.replays {
        0 => format!("#{}", hop.attempt),
        n => format!("#{} (replay {n})", hop.attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_core::headers::{encode_i32, EXCEPTION_FQCN, EXCEPTION_MESSAGE};
    use retry_core::replay::REPLAY_COUNT;
    use retry_core::Headers;

    fn read(
        topic: &str,
        offset: i64,
        at: i64,
        attempts: Option<i32>,
        replays: Option<i32>,
    ) -> Read {
        let mut headers = Headers::new();
        if let Some(a) = attempts {
            headers.push(ATTEMPTS, Some(encode_i32(a)));
            headers.push(EXCEPTION_FQCN, Some(b"app::NotFoundYet".to_vec()));
            headers.push(
                EXCEPTION_MESSAGE,
                Some(b"item ghost not created yet".to_vec()),
            );
        }
        if let Some(r) = replays {
            headers.push(REPLAY_COUNT, Some(encode_i32(r)));
        }
        Read {
            topic: topic.into(),
            partition: 0,
            offset,
            key: Some(b"ghost".to_vec()),
            value: None,
            headers,
            timestamp_ms: Some(at),
        }
    }

    #[test]
    fn the_path_runs_in_time_order_through_retries_dlt_and_a_replay() {
        let base = 1_795_608_000_000;
        let hops = assemble(vec![
            (
                2,
                Hop::read(
                    &read("orders-dlt", 0, base + 1_100, Some(3), None),
                    Role::Dlt,
                ),
            ),
            (
                0,
                Hop::read(&read("orders", 7, base, None, None), Role::Main),
            ),
            (
                1,
                Hop::read(
                    &read("orders-retry", 0, base + 100, Some(2), None),
                    Role::Retry,
                ),
            ),
            (
                0,
                Hop::read(&read("orders", 9, base + 60_000, None, Some(1)), Role::Main),
            ),
        ]);
        let text = render("ghost", &hops);
        assert_eq!(
            text,
            "WRITTEN (UTC)            TOPIC         AT   ATTEMPT        ERROR BEFORE\n\
             2026-11-25 12:00:00.000  orders        0@7  #1\n\
             2026-11-25 12:00:00.100  orders-retry  0@0  #2             app::NotFoundYet: item ghost not created yet\n\
             2026-11-25 12:00:01.100  orders-dlt    0@0  #3             app::NotFoundYet: item ghost not created yet\n\
             2026-11-25 12:01:00.000  orders        0@9  #1 (replay 1)\n\
             \n\
             ghost: not in a DLT\n\
             orders#1 @0.0 -> orders-retry#2 @0.1 -> orders-dlt#3 @1.1 -> orders#1 (replay 1) @60.0\n"
        );
        assert!(render("ghost", &hops[..3]).contains("ghost: dead letter"));
        assert_eq!(render("pen", &[]), "no record with key pen\n");
    }

    #[test]
    fn a_parked_record_shows_as_parked_with_why_it_waits() {
        let base = 1_795_608_000_000;
        let mut parked = read("accounts-retry-parked", 0, base + 50, Some(1), None);
        parked.headers = Headers::new();
        parked
            .headers
            .push(EXCEPTION_FQCN, Some(b"kafka_retry::KeyBlocked".to_vec()));
        parked.headers.push(
            EXCEPTION_MESSAGE,
            Some(b"an earlier record of its key waits for a retry".to_vec()),
        );
        let hops = assemble(vec![
            (
                0,
                Hop::read(&read("accounts", 1, base, None, None), Role::Main),
            ),
            (1, Hop::read(&parked, Role::Parked)),
        ]);
        let text = render("ghost", &hops);
        assert!(
            text.contains(
                "accounts-retry-parked  0@0  parked   kafka_retry::KeyBlocked: an earlier record of its key waits for a retry"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("accounts#1 @0.0 -> accounts-retry-parked @0.1\n"),
            "{text}"
        );
    }
}
