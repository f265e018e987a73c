//! End-to-end tests of kafka-retry against a real Kafka-protocol broker live in `tests/e2e/`.
//! They use the embedded broker, or the cluster `KAFKA_BOOTSTRAP_SERVERS` names.
