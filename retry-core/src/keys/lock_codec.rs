//! Lock-log entries as Kafka records: the record key names the decision (so two different
//! decisions never share a key, and compaction removes only what was tombstoned), the value
//! carries what the key does not.
//!
//! A key starts with the format's version byte and the entry's kind (`C` chain, `E` outcome,
//! `F` floor); then the record's key (a tag, 0 for a record without a key or 1, then its
//! length as a big-endian `u32` and its bytes), its main-topic offset and a copy (hop as
//! `u32`, offset as `i64`, big-endian). An outcome's key ends with the outcome (a tag, and
//! the next copy when forwarded). A value is the version byte, followed by the floor for `F`.
//!
//! ```
//! use retry_core::{decode_lock_entry, encode_lock_entry, CopyAt, LockEntry};
//!
//! let entry = LockEntry::Chain { key: Some(b"acct-7".to_vec()), offset: 42, copy: CopyAt { hop: 1, offset: 9 } };
//! let (key, value) = encode_lock_entry(&entry);
//! assert_eq!(decode_lock_entry(&key, Some(&value)), Ok(Some(entry)));
//! assert_eq!(decode_lock_entry(&key, None), Ok(None), "a tombstone folds to nothing");
//! ```

use crate::keys::lock_log::{CopyAt, LockEntry, LockOutcome};

/// The format written; a reader meeting another stops rather than skip entries it cannot
/// read.
const VERSION: u8 = 1;

const CHAIN: u8 = b'C';
const OUTCOME: u8 = b'E';
const FLOOR: u8 = b'F';

const SUCCEEDED: u8 = 0;
const FORWARDED: u8 = 1;
const DEAD_LETTERED: u8 = 2;

/// The lock log's topic settings (design/key-order.md): compacted, with segments rolled and
/// cleaned soon, so a reader taking a partition over reads little.
pub const LOCK_LOG_TOPIC_SETTINGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("segment.ms", "600000"),
    ("segment.bytes", "67108864"),
    ("min.cleanable.dirty.ratio", "0.1"),
    ("delete.retention.ms", "600000"),
    ("min.compaction.lag.ms", "60000"),
];

/// A record key as the lock log keeps it: `None` for a record without a key (which is not
/// the empty key).
pub type RecordKey = Option<Vec<u8>>;

/// A lock-log record that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockEntryError {
    /// Written in a format this version does not know (a newer one).
    #[error("lock-log entry of format version {0}; this version reads version {VERSION}")]
    Version(u8),
    /// Not an entry of any known kind, or cut short.
    #[error("malformed lock-log entry: {0}")]
    Malformed(&'static str),
}

/// The Kafka record key and value of `entry`.
pub fn encode_lock_entry(entry: &LockEntry<RecordKey>) -> (Vec<u8>, Vec<u8>) {
    let mut key = vec![VERSION];
    let mut value = vec![VERSION];
    match entry {
        LockEntry::Chain {
            key: k,
            offset,
            copy,
        } => {
            key.push(CHAIN);
            put_record(&mut key, k, *offset, *copy);
        }
        LockEntry::Outcome {
            key: k,
            offset,
            copy,
            outcome,
        } => {
            key.push(OUTCOME);
            put_record(&mut key, k, *offset, *copy);
            match outcome {
                LockOutcome::Succeeded => key.push(SUCCEEDED),
                LockOutcome::DeadLettered => key.push(DEAD_LETTERED),
                LockOutcome::Forwarded(next) => {
                    key.push(FORWARDED);
                    put_copy(&mut key, *next);
                }
            }
        }
        LockEntry::Floor(floor) => {
            key.push(FLOOR);
            value.extend_from_slice(&floor.to_be_bytes());
        }
    }
    (key, value)
}

/// The entry of a lock-log record: `None` for a tombstone (the fold ignores tombstones).
pub fn decode_lock_entry(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<LockEntry<RecordKey>>, LockEntryError> {
    let mut k = Reader(key);
    check_version(k.u8()?)?;
    let kind = k.u8()?;
    let Some(value) = value else {
        return Ok(None);
    };
    let mut v = Reader(value);
    check_version(v.u8()?)?;
    let entry = match kind {
        CHAIN => {
            let (key, offset, copy) = k.record()?;
            LockEntry::Chain { key, offset, copy }
        }
        OUTCOME => {
            let (key, offset, copy) = k.record()?;
            let outcome = match k.u8()? {
                SUCCEEDED => LockOutcome::Succeeded,
                DEAD_LETTERED => LockOutcome::DeadLettered,
                FORWARDED => LockOutcome::Forwarded(k.copy()?),
                _ => return Err(LockEntryError::Malformed("unknown outcome")),
            };
            LockEntry::Outcome {
                key,
                offset,
                copy,
                outcome,
            }
        }
        FLOOR => LockEntry::Floor(v.i64()?),
        _ => return Err(LockEntryError::Malformed("unknown kind")),
    };
    if !k.0.is_empty() || !v.0.is_empty() {
        return Err(LockEntryError::Malformed("trailing bytes"));
    }
    Ok(Some(entry))
}

fn check_version(version: u8) -> Result<(), LockEntryError> {
    if version == VERSION {
        Ok(())
    } else {
        Err(LockEntryError::Version(version))
    }
}

fn put_record(out: &mut Vec<u8>, key: &RecordKey, offset: i64, copy: CopyAt) {
    match key {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            let len = u32::try_from(bytes.len()).expect("a Kafka record key is below 4 GiB");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
    }
    out.extend_from_slice(&offset.to_be_bytes());
    put_copy(out, copy);
}

fn put_copy(out: &mut Vec<u8>, copy: CopyAt) {
    out.extend_from_slice(&copy.hop.to_be_bytes());
    out.extend_from_slice(&copy.offset.to_be_bytes());
}

/// Reads fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LockEntryError> {
        if self.0.len() < n {
            return Err(LockEntryError::Malformed("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, LockEntryError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, LockEntryError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn i64(&mut self) -> Result<i64, LockEntryError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn copy(&mut self) -> Result<CopyAt, LockEntryError> {
        Ok(CopyAt {
            hop: self.u32()?,
            offset: self.i64()?,
        })
    }

    fn record(&mut self) -> Result<(RecordKey, i64, CopyAt), LockEntryError> {
        let key = match self.u8()? {
            0 => None,
            1 => {
                let len = self.u32()? as usize;
                Some(self.take(len)?.to_vec())
            }
            _ => return Err(LockEntryError::Malformed("unknown key tag")),
        };
        Ok((key, self.i64()?, self.copy()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn copy() -> impl Strategy<Value = CopyAt> {
        (any::<u32>(), any::<i64>()).prop_map(|(hop, offset)| CopyAt { hop, offset })
    }

    fn entry() -> impl Strategy<Value = LockEntry<RecordKey>> {
        let key = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40));
        let outcome = prop_oneof![
            Just(LockOutcome::Succeeded),
            Just(LockOutcome::DeadLettered),
            copy().prop_map(LockOutcome::Forwarded),
        ];
        prop_oneof![
            (key.clone(), any::<i64>(), copy()).prop_map(|(key, offset, copy)| LockEntry::Chain {
                key,
                offset,
                copy
            }),
            (key, any::<i64>(), copy(), outcome).prop_map(|(key, offset, copy, outcome)| {
                LockEntry::Outcome {
                    key,
                    offset,
                    copy,
                    outcome,
                }
            }),
            any::<i64>().prop_map(LockEntry::Floor),
        ]
    }

    #[test]
    fn the_null_key_is_not_the_empty_key() {
        let entry = |key| LockEntry::Chain {
            key,
            offset: 1,
            copy: CopyAt { hop: 0, offset: 1 },
        };
        assert_ne!(
            encode_lock_entry(&entry(None)).0,
            encode_lock_entry(&entry(Some(Vec::new()))).0
        );
    }

    #[test]
    fn another_version_or_kind_is_an_error_not_a_skip() {
        let (mut key, value) = encode_lock_entry(&LockEntry::Floor(3));
        key[0] = 2;
        assert_eq!(
            decode_lock_entry(&key, Some(&value)),
            Err(LockEntryError::Version(2))
        );
        assert!(decode_lock_entry(&[VERSION, b'Z'], Some(&[VERSION])).is_err());
        assert!(decode_lock_entry(&[], Some(&[VERSION])).is_err());
        assert!(decode_lock_entry(&[VERSION, FLOOR], Some(&[VERSION, 1])).is_err());
    }

    proptest! {
        /// Every entry reads back as written.
        #[test]
        fn entries_read_back(entry in entry()) {
            let (key, value) = encode_lock_entry(&entry);
            prop_assert_eq!(decode_lock_entry(&key, Some(&value)), Ok(Some(entry)));
        }

        /// Two entries share a Kafka key only when they record the same decision: a floor
        /// (compaction keeps the latest, the fold the highest), or equal chain entries or
        /// outcomes.
        #[test]
        fn different_decisions_never_share_a_kafka_key(a in entry(), b in entry()) {
            let same_key = encode_lock_entry(&a).0 == encode_lock_entry(&b).0;
            let both_floors = matches!((&a, &b), (LockEntry::Floor(_), LockEntry::Floor(_)));
            prop_assert_eq!(same_key, both_floors || a == b);
        }

        /// Bytes from anywhere never panic the reader.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(key in proptest::collection::vec(any::<u8>(), 0..60), value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))) {
            let _ = decode_lock_entry(&key, value.as_deref());
        }
    }
}
