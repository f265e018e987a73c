//! The pure parts of `ordering = "key"` (design/key-order.md): which record of a key runs
//! next, which copy of a chain record the lock log makes current, and which finished records
//! a commit lists beyond its offset, and what a folded log holds, counted for an operator.

mod finished;
mod lanes;
mod lock_codec;
mod lock_log;
mod summary;
mod turn;

pub use finished::FinishedAbove;
pub use lanes::KeyLanes;
pub use lock_codec::{
    decode_lock_entry, encode_lock_entry, LockEntryError, RecordKey, LOCK_LOG_TOPIC_SETTINGS,
};
pub use lock_log::{
    ChainBounds, CopyAt, EntryId, LockEntry, LockLog, LockOutcome, Released, Verdict,
};
pub use summary::LockSummary;
pub use turn::{ChainLink, Turn, Went};
