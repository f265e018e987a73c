//! Re-publishing a dead letter: which headers it sheds, and the replay counter that keeps a
//! poison record from looping between its topic and the DLT.
//!
//! A replayed record starts over as a first delivery: the provenance and retry headers this
//! crate (or Spring Kafka) wrote on its way to the DLT are removed, every other header is
//! kept, and `kafka_retry-replay-count` counts how often it was replayed. The count survives
//! the record's next walk to the DLT (forwards keep the record's own headers), so a replay
//! tool can refuse to replay it once more than a limit.

use crate::headers::{decode_i32, encode_i32, Headers};

/// `kafka_retry-replay-count`: 4-byte big-endian number of times the record was replayed
/// from a DLT.
pub const REPLAY_COUNT: &str = "kafka_retry-replay-count";

/// Header name prefixes written on the way to a DLT: ours and Spring Kafka's
/// (`kafka_original-*`, `kafka_dlt-*` including `kafka_dlt-original-consumer-group` and
/// Spring's `kafka_dlt-exception-*` / `kafka_dlt-key-exception-*`, `kafka_exception-*`,
/// `retry_topic-*`).
const SHED_PREFIXES: [&str; 4] = [
    "kafka_original-",
    "kafka_dlt-",
    "kafka_exception-",
    "retry_topic-",
];

/// Why a dead letter is not replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefused {
    /// It was replayed `count` times already, the limit.
    #[error("replayed {count} times already (--max-replays {max})")]
    TooManyReplays {
        /// Replays so far.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// Its `kafka_retry-replay-count` header cannot be read.
    #[error("{0}")]
    Malformed(#[from] crate::headers::HeaderError),
}

/// How often a record was replayed already: its `kafka_retry-replay-count`, 0 when absent.
pub fn replay_count(headers: &Headers) -> Result<u32, crate::headers::HeaderError> {
    match headers.get(REPLAY_COUNT) {
        None => Ok(0),
        Some(bytes) => Ok(decode_i32(REPLAY_COUNT, bytes)?.max(0) as u32),
    }
}

/// The headers to re-publish a dead letter with: provenance and retry headers removed, the
/// others kept in order, the replay counter incremented. Refused once the record was replayed
/// `max_replays` times.
pub fn replay_headers(headers: &Headers, max_replays: u32) -> Result<Headers, ReplayRefused> {
    let count = replay_count(headers)?;
    if count >= max_replays {
        return Err(ReplayRefused::TooManyReplays {
            count,
            max: max_replays,
        });
    }
    let mut kept: Headers = headers
        .iter()
        .filter(|h| !SHED_PREFIXES.iter().any(|p| h.key.starts_with(p)))
        .cloned()
        .collect();
    kept.set(REPLAY_COUNT, encode_i32(count.saturating_add(1) as i32));
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{self, ATTEMPTS, EXCEPTION_MESSAGE, ORIGINAL_TOPIC};

    fn dead_letter(extra: &[(&'static str, Vec<u8>)]) -> Headers {
        let mut h = Headers::new();
        h.push("trace-id", Some(b"abc".to_vec()));
        h.push(ORIGINAL_TOPIC, Some(b"orders".to_vec()));
        h.push(headers::ORIGINAL_CONSUMER_GROUP, Some(b"billing".to_vec()));
        h.push(EXCEPTION_MESSAGE, Some(b"boom".to_vec()));
        h.push(ATTEMPTS, Some(encode_i32(5)));
        h.push(headers::BACKOFF_TIMESTAMP, Some(vec![1; 8]));
        h.push("kafka_dlt-exception-fqcn", Some(b"java.lang.X".to_vec()));
        h.push("tenant", None);
        for (k, v) in extra {
            h.push(*k, Some(v.clone()));
        }
        h
    }

    #[test]
    fn sheds_provenance_and_retry_headers_and_keeps_the_rest_in_order() {
        let replayed = replay_headers(&dead_letter(&[]), 3).unwrap();
        let names: Vec<&str> = replayed.iter().map(|h| h.key.as_ref()).collect();
        assert_eq!(names, ["trace-id", "tenant", REPLAY_COUNT]);
        assert_eq!(replayed.get("trace-id"), Some(&b"abc"[..]));
        assert_eq!(replayed.get(REPLAY_COUNT), Some(&[0, 0, 0, 1][..]));
    }

    #[test]
    fn counts_replays_and_refuses_past_the_limit() {
        let once = replay_headers(&dead_letter(&[(REPLAY_COUNT, encode_i32(2))]), 3).unwrap();
        assert_eq!(replay_count(&once), Ok(3));
        assert_eq!(
            replay_headers(&once, 3),
            Err(ReplayRefused::TooManyReplays { count: 3, max: 3 })
        );
        assert_eq!(
            replay_headers(&dead_letter(&[]), 0)
                .unwrap_err()
                .to_string(),
            "replayed 0 times already (--max-replays 0)"
        );
    }

    #[test]
    fn a_malformed_counter_is_refused_with_the_reason() {
        let refused = replay_headers(&dead_letter(&[(REPLAY_COUNT, vec![1])]), 3).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "header `kafka_retry-replay-count` is malformed: expected 4 bytes, found 1"
        );
    }
}
