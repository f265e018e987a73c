//! Interop with a running Spring Kafka service: the items service of `interop/` (Spring Boot,
//! spring-kafka's `@RetryableTopic`) and the same handlers in Rust share one real broker, its
//! topics and its consumer groups. Needs `SPRING_ITEMS_JAR` (the built service, on spring-kafka
//! 3.3 or 4.1), `KAFKA_RETRY_CLI` (the operations command) and `KAFKA_BOOTSTRAP_SERVERS`;
//! `tools/kafka/test-suites.sh` provides them and runs these tests with
//! `cargo test -p e2e --features interop --test interop`, once per Spring generation.

mod headers;
mod items;
mod operations;
mod spring_service;
mod takeover;

use e2e::support;
