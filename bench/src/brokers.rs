//! The brokers `retry-bench` runs on, by the names `--broker` takes.

use clap::ValueEnum;

/// One broker a run measures on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// librdkafka's in-process mock cluster.
    Mock,
    /// The embedded tansu broker.
    Embedded,
    /// Apache Kafka, through `tools/kafka/kafka.sh`.
    Kafka,
}

/// What `--broker` names: one broker, or several measured in turn.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Brokers {
    /// librdkafka's in-process mock cluster.
    Mock,
    /// The embedded tansu broker.
    Embedded,
    /// Apache Kafka (JDK 17 and Maven).
    Kafka,
    /// The mock cluster, then the embedded broker.
    Both,
    /// The mock cluster, the embedded broker, then Apache Kafka.
    All,
}

impl Brokers {
    /// The brokers measured on, in order.
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Self::Mock => &[Kind::Mock],
            Self::Embedded => &[Kind::Embedded],
            Self::Kafka => &[Kind::Kafka],
            Self::Both => &[Kind::Mock, Kind::Embedded],
            Self::All => &[Kind::Mock, Kind::Embedded, Kind::Kafka],
        }
    }
}
