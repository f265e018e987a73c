//! A dead letter as `dlt list` shows it: a table row, or a JSON object per line.

use retry_core::headers::{Provenance, ATTEMPTS};
use retry_core::replay::replay_count;
use serde::Serialize;

use crate::kafka::Read;
use crate::table;

/// What an operator wants to know of a dead letter, read from its headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeadLetterRow {
    /// DLT partition.
    pub partition: i32,
    /// DLT offset.
    pub offset: i64,
    /// Key as UTF-8 (lossy), when there is one.
    pub key: Option<String>,
    /// Deliveries made before the record was dead-lettered.
    pub attempts: Option<u32>,
    /// Topic of the first hop.
    pub original_topic: Option<String>,
    /// Partition of the first hop.
    pub original_partition: Option<i32>,
    /// Offset of the first hop.
    pub original_offset: Option<i64>,
    /// Consumer group that first failed it.
    pub consumer_group: Option<String>,
    /// The last error's type.
    pub error_type: String,
    /// Its root cause's type.
    pub error_cause_type: String,
    /// Its message, whole.
    pub error_message: String,
    /// Times the record was replayed from a DLT before.
    pub replays: u32,
    /// When it was written to the DLT, epoch ms.
    pub timestamp_ms: Option<i64>,
}

impl DeadLetterRow {
    /// Reads a record of a DLT.
    pub fn read(record: &Read) -> Self {
        let provenance = Provenance::read(&record.headers);
        // Written by a Spring Kafka app with retry topics, or by us: the header holds the
        // failed deliveries plus one. A DLT written without retry topics has none.
        let attempts = provenance
            .attempts
            .or_else(|| record.headers.get(ATTEMPTS).map(|_| 0));
        Self {
            partition: record.partition,
            offset: record.offset,
            key: record
                .key
                .as_deref()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            attempts,
            original_topic: provenance.original_topic,
            original_partition: provenance.original_partition,
            original_offset: provenance.original_offset,
            consumer_group: provenance.consumer_group,
            error_type: provenance.exception.fqcn,
            error_cause_type: provenance.exception.cause_fqcn,
            error_message: provenance.exception.message,
            replays: replay_count(&record.headers).unwrap_or(0),
            timestamp_ms: record.timestamp_ms,
        }
    }

    /// `partition@offset`.
    pub fn position(&self) -> String {
        format!("{}@{}", self.partition, self.offset)
    }

    /// `topic[partition]@offset` of the first hop, as far as known.
    pub fn origin(&self) -> String {
        match (
            &self.original_topic,
            self.original_partition,
            self.original_offset,
        ) {
            (Some(t), Some(p), Some(o)) => format!("{t}[{p}]@{o}"),
            (Some(t), _, _) => t.clone(),
            _ => "?".into(),
        }
    }

    /// The error as one line: `Type: message`.
    pub fn error(&self) -> String {
        match (self.error_type.is_empty(), self.error_message.is_empty()) {
            (false, false) => format!("{}: {}", self.error_type, self.error_message),
            (false, true) => self.error_type.clone(),
            _ => self.error_message.clone(),
        }
    }
}

/// The table `dlt list` prints, ages counted at `now_ms`.
pub fn render(rows: &[DeadLetterRow], now_ms: i64) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.position(),
                table::trim(row.key.as_deref().unwrap_or("-"), 24),
                row.attempts.map_or("?".into(), |a| a.to_string()),
                row.origin(),
                table::trim(&row.error(), 72),
                row.timestamp_ms
                    .map_or("?".into(), |t| table::age(retry_core::due_lag(t, now_ms))),
            ]
        })
        .collect();
    table::render(
        &[
            "PARTITION@OFFSET",
            "KEY",
            "ATTEMPTS",
            "ORIGINAL",
            "ERROR",
            "AGE",
        ],
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_core::headers::{encode_i32, encode_i64, EXCEPTION_FQCN, EXCEPTION_MESSAGE};
    use retry_core::headers::{ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC};
    use retry_core::Headers;

    fn ghost() -> Read {
        let mut headers = Headers::new();
        headers.push(ORIGINAL_TOPIC, Some(b"update-item".to_vec()));
        headers.push(ORIGINAL_PARTITION, Some(encode_i32(0)));
        headers.push(ORIGINAL_OFFSET, Some(encode_i64(2)));
        headers.push(EXCEPTION_FQCN, Some(b"examples::NotFoundYet".to_vec()));
        headers.push(
            EXCEPTION_MESSAGE,
            Some(b"item ghost not created yet".to_vec()),
        );
        headers.push(ATTEMPTS, Some(encode_i32(5)));
        Read {
            topic: "update-item-dlt".into(),
            partition: 0,
            offset: 1,
            key: Some(b"ghost".to_vec()),
            value: Some(b"{}".to_vec()),
            headers,
            timestamp_ms: Some(100_000),
        }
    }

    #[test]
    fn a_row_reads_the_provenance_headers() {
        let row = DeadLetterRow::read(&ghost());
        assert_eq!(row.attempts, Some(4));
        assert_eq!(row.origin(), "update-item[0]@2");
        assert_eq!(
            row.error(),
            "examples::NotFoundYet: item ghost not created yet"
        );
        assert_eq!(row.replays, 0);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["key"], "ghost");
        assert_eq!(json["original_offset"], 2);
    }

    #[test]
    fn the_table_shows_position_key_attempts_origin_error_and_age() {
        let mut bare = ghost();
        bare.headers = Headers::new();
        bare.key = None;
        bare.offset = 2;
        let rows = [DeadLetterRow::read(&ghost()), DeadLetterRow::read(&bare)];
        assert_eq!(
            render(&rows, 112_000),
            "PARTITION@OFFSET  KEY    ATTEMPTS  ORIGINAL          ERROR                                              AGE\n\
             0@1               ghost  4         update-item[0]@2  examples::NotFoundYet: item ghost not created yet  12s\n\
             0@2               -      ?         ?                                                                    12s\n"
        );
    }
}
