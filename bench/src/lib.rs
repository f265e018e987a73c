//! What the benchmark and the fault suite share: real Apache Kafka through the repository's
//! harness script.

pub mod harness;
