//! The records finished above a partition's committed offset, written into the commit's
//! metadata so that a restart or the next owner does not handle them again.
//!
//! With concurrent records the committed offset stops at the first unfinished one, and
//! records after it may be finished already. Their offsets go into the commit metadata as
//! runs: `kr1:` followed by base-36 numbers separated by dots, alternately the count of
//! offsets not listed and the count of finished ones, starting at the committed offset. The
//! text is cut to the broker's limit by dropping the last runs: an offset left out is only
//! handled again, never lost.
//!
//! ```
//! use retry_core::FinishedAbove;
//!
//! // 100 is the first unfinished record; 101, 102 and 105 are finished.
//! let metadata = FinishedAbove::encode(100, [101, 102, 105], 4000);
//! assert_eq!(metadata, "kr1:1.2.2.1");
//! let finished = FinishedAbove::decode(100, &metadata);
//! assert!(finished.contains(102) && finished.contains(105));
//! assert!(!finished.contains(100) && !finished.contains(103));
//! ```

use std::fmt::Write;

/// Prefix of the metadata this module writes; metadata without it (another client's, or
/// none) lists nothing.
const PREFIX: &str = "kr1:";

/// Finished offsets above a committed offset, as decoded from commit metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishedAbove {
    /// Runs of finished offsets: first offset and length, ascending, not touching.
    runs: Vec<(i64, i64)>,
}

impl FinishedAbove {
    /// Encodes the offsets in `finished` above `committed` (ascending; offsets at or below
    /// `committed`, repeated or out of order are skipped) as commit metadata of at most
    /// `max_len` bytes, leaving out the highest runs that do not fit.
    pub fn encode(
        committed: i64,
        finished: impl IntoIterator<Item = i64>,
        max_len: usize,
    ) -> String {
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for offset in finished {
            let end = runs
                .last()
                .map_or(committed + 1, |(start, len)| start + len);
            match runs.last_mut() {
                Some((start, len)) if offset == *start + *len => *len += 1,
                _ if offset >= end => runs.push((offset, 1)),
                _ => {}
            }
        }
        let mut text = String::from(PREFIX);
        let mut next = committed;
        for (start, len) in runs {
            let mark = text.len();
            let separator = if text.len() > PREFIX.len() { "." } else { "" };
            let _ = write!(text, "{separator}{}.{}", base36(start - next), base36(len));
            if text.len() > max_len {
                text.truncate(mark);
                break;
            }
            next = start + len;
        }
        if text.len() == PREFIX.len() {
            text.clear();
        }
        text
    }

    /// Decodes commit metadata written by [`encode`](Self::encode) for `committed`. Metadata
    /// not written by it, or malformed from some run on, lists nothing from that run on.
    pub fn decode(committed: i64, metadata: &str) -> Self {
        let Some(body) = metadata.strip_prefix(PREFIX) else {
            return Self::default();
        };
        let mut runs = Vec::new();
        let mut next = committed;
        let mut numbers = body.split('.').map(|n| i64::from_str_radix(n, 36).ok());
        while let (Some(Some(gap)), Some(Some(len))) = (numbers.next(), numbers.next()) {
            let Some(start) = next.checked_add(gap) else {
                break;
            };
            if gap < 1 || len < 1 || start.checked_add(len).is_none() {
                break;
            }
            runs.push((start, len));
            next = start + len;
        }
        Self { runs }
    }

    /// Whether `offset` was finished.
    pub fn contains(&self, offset: i64) -> bool {
        let after = self.runs.partition_point(|(start, _)| *start <= offset);
        after > 0 && {
            let (start, len) = self.runs[after - 1];
            offset < start + len
        }
    }

    /// How many offsets are listed.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|(_, len)| *len as usize).sum()
    }

    /// Whether no offset is listed.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// `n` (not negative) in lower-case base 36.
fn base36(mut n: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nothing_finished_is_no_metadata() {
        assert_eq!(FinishedAbove::encode(7, [], 4000), "");
        assert_eq!(FinishedAbove::encode(7, [3, 7], 4000), "", "at or below");
        assert!(FinishedAbove::decode(7, "").is_empty());
    }

    #[test]
    fn other_clients_metadata_lists_nothing() {
        for metadata in [
            "", "spring", "kr2:1.2", "kr1:", "kr1:x!", "kr1:0.1", "kr1:1",
        ] {
            assert!(FinishedAbove::decode(0, metadata).is_empty(), "{metadata}");
        }
        let cut = FinishedAbove::decode(0, "kr1:1.2.zz!.1");
        assert_eq!(
            cut.len(),
            2,
            "the valid runs before the malformed one count"
        );
    }

    #[test]
    fn large_numbers_and_overflow_do_not_panic() {
        let metadata = FinishedAbove::encode(i64::MAX - 10, [i64::MAX - 5, i64::MAX - 4], 4000);
        let finished = FinishedAbove::decode(i64::MAX - 10, &metadata);
        assert!(finished.contains(i64::MAX - 4));
        let huge = format!("kr1:{}.1", base36(i64::MAX));
        assert!(FinishedAbove::decode(5, &huge).is_empty());
    }

    #[test]
    fn a_limit_drops_the_highest_runs() {
        let finished: Vec<i64> = (1..1000).step_by(2).collect();
        let metadata = FinishedAbove::encode(0, finished.iter().copied(), 40);
        assert!(metadata.len() <= 40, "{metadata}");
        let decoded = FinishedAbove::decode(0, &metadata);
        assert!(decoded.contains(1) && !decoded.contains(999));
        assert_eq!(decoded.len(), 9, "{metadata}: 4 + 3 + 8 × 4 bytes");
    }

    proptest! {
        /// Any finished set, any limit: the metadata fits the limit, lists no offset that was
        /// not finished, and lists all of them when the limit allows.
        #[test]
        fn decode_lists_a_subset_within_the_limit(
            committed in -5i64..1000,
            gaps in proptest::collection::vec(1i64..3000, 0..300),
            max_len in 0usize..5000,
        ) {
            let mut finished = Vec::new();
            let mut next = committed;
            for gap in gaps {
                next += gap;
                finished.push(next);
            }
            let metadata = FinishedAbove::encode(committed, finished.iter().copied(), max_len);
            prop_assert!(metadata.len() <= max_len, "{} > {max_len}", metadata.len());
            let decoded = FinishedAbove::decode(committed, &metadata);
            for offset in committed - 2..next + 3 {
                if decoded.contains(offset) {
                    prop_assert!(finished.contains(&offset), "{offset} listed, not finished");
                }
            }
            if FinishedAbove::encode(committed, finished.iter().copied(), usize::MAX).len() <= max_len {
                prop_assert_eq!(decoded.len(), finished.len());
            }
        }
    }
}
