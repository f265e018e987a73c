//! End-to-end behaviour on a real broker: the embedded one (one per test), or the cluster
//! `KAFKA_BOOTSTRAP_SERVERS` names.

mod blocked_keys;
mod breaker;
mod errors;
mod fetching;
mod flow;
mod guarantees;
mod handlers;
mod handover;
mod hardening;
mod hardening2;
mod hardening3;
mod key_dlt;
mod key_lanes;
mod key_order_checks;
mod key_rebalance;
mod lifecycle;
mod membership;
mod metrics;
mod ordering;
mod orphans;
mod spring;

use e2e::support;
