//! How a record's timestamp was set, as Kafka and the `kafka_original-timestamp-type` header
//! name it.

/// How a record's timestamp was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker on append.
    LogAppendTime,
}

impl TimestampType {
    /// The name Kafka (and the `kafka_original-timestamp-type` header) uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateTime => "CreateTime",
            Self::LogAppendTime => "LogAppendTime",
        }
    }
}
