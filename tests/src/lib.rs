//! End-to-end tests of kafka-retry against a real Kafka-protocol broker live in `tests/e2e/`;
//! the interop tests with a running Spring Kafka service in `tests/interop/` (feature
//! `interop`). Both use the embedded broker, or the cluster `KAFKA_BOOTSTRAP_SERVERS` names;
//! [`support`] is their shared plumbing.

pub mod support;
