//! End-to-end behaviour on a real broker: the embedded one, or `KAFKA_BOOTSTRAP_SERVERS`.

mod flow;
mod support;
