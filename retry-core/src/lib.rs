//! The pure model of kafka-retry: everything needed to decide *what* happens to a record,
//! with no Kafka client and no async runtime.
//!
//! * [`Backoff`] parses `DELAY[*MULTIPLIER]` (`"500ms"`, `"1s*2"`, `"250ms*1.5"`) and yields the
//!   delay before each retry.
//! * [`RetryPolicy`] is one listener's resolved settings; [`TopicPlan`] derives from it the
//!   ordered destination topics and consumer groups (`orders-retry-1000`, …, `orders-dlt`).
//! * [`decide`] is the heart: given a failure, it says done / retry on topic X at time T /
//!   dead-letter / drop.
//! * [`Breaker`] is a listener's circuit breaker: closed, open on a `pause_on` error or a
//!   [`FailureRate`], half-open while one probe record runs (design/breaker.md).
//! * [`ErrorFilter`] classifies handler errors (`include` / `exclude` along the cause chain).
//! * [`headers`] encodes and decodes the Spring Kafka compatible provenance headers.
//! * [`KeyLanes`] runs a key's records one at a time, and [`FinishedAbove`] lists the records
//!   finished beyond a commit, for `ordering = "key"`.
//! * [`PartitionProgress`] decides which offset of a partition may be committed when records
//!   finish out of order (a forward still in flight holds back every later record).
//! * [`due_lag`] and [`Backlog`] measure how late waiting records are; [`replay`] rewrites a
//!   dead letter's headers for re-publishing.
//! * [`Record`], [`DeadLetter`] and the [`registry`] are what the attributes generate code for.
//!
//! ```
//! use retry_core::{Backoff, RetryPolicy, TopicPlan};
//!
//! let policy = RetryPolicy::builder("orders")
//!     .attempts(4)
//!     .backoff("1s*2".parse::<Backoff>().unwrap())
//!     .build()
//!     .unwrap();
//! let plan = TopicPlan::new(&policy).unwrap();
//! let names: Vec<&str> = plan.topics().map(|t| t.name.as_str()).collect();
//! assert_eq!(
//!     names,
//!     ["orders", "orders-retry-1000", "orders-retry-2000", "orders-retry-4000", "orders-dlt"]
//! );
//! ```

#![deny(missing_docs)]

mod backoff;
mod breaker;
mod classify;
mod decision;
mod due_lag;
mod duration;
mod error_streak;
mod format;
pub mod headers;
mod keys;
mod membership;
mod orphans;
mod policy;
mod progress;
mod record;
pub mod registry;
pub mod replay;
mod settings;
mod state;
mod static_membership;
mod topics;

pub use backoff::{Backoff, BackoffError, Jitter};
pub use breaker::{
    parse_breaker, Admission, AdmittedCall, Breaker, BreakerConfig, BreakerSettings, BreakerState,
    CallOutcome, FailureRate, FailureRateError, Fate, HeldFailure, Probe, Recorded, Transition,
    TransitionReason, DEFAULT_MAX_PROBE_DELAY, DEFAULT_PROBE, MAX_BREAKER_FAILURES,
    MAX_BREAKER_WINDOW,
};
pub use classify::{
    DltRoute, ErrorClass, ErrorFilter, ErrorRules, ErrorType, HandlerError, StackTrace,
};
pub use decision::{decide, DeadLetterReason, Decision, DltFailureAction, Failure};
pub use due_lag::{due_lag, Backlog};
pub use duration::{parse_duration, DurationError, MAX_DELAY};
pub use error_streak::{ErrorStreak, DEAD_PARTITION_AFTER};
#[cfg(feature = "protobuf")]
pub use format::Protobuf;
pub use format::{Bytes, DecodeError, Payload, Text};
pub use headers::{ExceptionInfo, Header, Headers, TimestampType};
pub use keys::{
    decode_lock_entry, encode_lock_entry, ChainBounds, ChainLink, CopyAt, EntryId, FinishedAbove,
    KeyLanes, LockEntry, LockEntryError, LockLog, LockOutcome, LockSummary, RecordKey, Released,
    Turn, Verdict, Went, LOCK_LOG_TOPIC_SETTINGS,
};
pub use membership::{check_subscriptions_unshared, SharedSubscription};
pub use orphans::{
    consumes_orphaned_dlts, discover_chain, forwarding_groups, is_own_orphan, orphaned_topics,
    unconsumed, ChainMember, OrphanedTopic,
};
pub use policy::{
    DltStrategy, PolicyError, RetryPolicy, RetryPolicyBuilder, SuffixStrategy, TopicReuse,
    DEFAULT_DLT_TOPIC_SUFFIX, DEFAULT_RETRY_TOPIC_SUFFIX,
};
pub use progress::{PartitionProgress, ProgressTicket};
pub use record::{DeadLetter, DeadLetterArgument, FromRawRecord, RawRecord, Record, RecordMeta};
pub use settings::{
    AutoCreate, ConfigError, ListenerConfig, Origin, ProcessingOrder, Setting, MAX_CONCURRENCY,
    MAX_PARTITIONS, MAX_REPLICATION,
};
pub use state::{HandlerStates, State, StateType, StateValue};
pub use static_membership::{check_instance_id, static_member_id, InstanceIdError, MAX_MEMBER_ID};
pub use topics::{
    forward_partition, is_dlt_of, key_order_suffixes, validate_topic_name, DestinationKind,
    DestinationTopic, TopicError, TopicPlan,
};

/// Items used by code that `#[retryable_topic]` and `#[dlt_handler]` generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{DltHandlerSpec, HandlerFn, ListenerSpec};
    pub use crate::{
        DeadLetterArgument, DltRoute, ErrorFilter, ErrorType, FromRawRecord, HandlerError,
        HandlerStates, RawRecord, Setting, State, StateType,
    };
    pub use inventory;

    /// Turns whatever a handler returned into the framework's result type.
    pub fn into_handler_result<E>(result: Result<(), E>) -> Result<(), HandlerError>
    where
        E: Into<anyhow::Error> + 'static,
    {
        result.map_err(HandlerError::failed::<E>)
    }
}
