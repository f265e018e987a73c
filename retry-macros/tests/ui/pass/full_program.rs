//! Every argument at once, both attributes, handlers still callable as written.
use retry_core::registry::{dlt_handlers, listeners};
use retry_core::{Bytes, DeadLetter, ListenerConfig, Record, RecordMeta, State, Text};
use retry_macros::{dlt_handler, retryable_topic};

#[derive(Debug, thiserror::Error)]
#[error("not yet")]
struct NotYet;

#[derive(Debug, thiserror::Error)]
#[error("invalid")]
struct Invalid;

#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
struct DbUnavailable;

#[retryable_topic(
    topic = "orders",
    group = "billing",
    attempts = 5,
    backoff = "500ms*1.5",
    max_delay = "2s",
    jitter = 0.2,
    timeout = "10m",
    suffix = "index",
    dlt = "always_retry",
    partitions = 3,
    replication = 1,
    concurrency = 2,
    auto_create = true,
    retry_topic_suffix = "-again",
    dlt_topic_suffix = ".dead",
    topic_reuse = "multiple",
    auto_start_dlt = false,
    exclude = [NotYet, std::io::Error],
    dlt_routing("-invalid" = [Invalid], "_decode" = [retry_core::DecodeError, std::fmt::Error]),
    pause_on = [DbUnavailable, std::num::ParseIntError],
    breaker = "20 in 10s",
    probe = "1s*2",
    max_probe_delay = "30s",
)]
async fn bill(rec: Record<Bytes>) -> Result<(), NotYet> {
    if rec.value().is_empty() { Err(NotYet) } else { Ok(()) }
}

#[dlt_handler(topic = "orders")]
async fn bill_dlt(_rec: DeadLetter<Bytes>) -> anyhow::Result<()> {
    Ok(())
}

#[derive(Clone)]
struct Db;

#[retryable_topic(topic = "notes")]
async fn note(_rec: Record<Text>, State(_db): State<Db>, _limit: State<u32>) -> anyhow::Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(listeners().count(), 2);
    let bill_spec = listeners().find(|l| l.name == "bill").unwrap();
    assert_eq!(bill_spec.dlt_routes.len(), 2);
    let config = ListenerConfig::resolve(bill_spec.name, bill_spec.settings, bill_spec.rules(), |_| None).unwrap();
    let breaker = config.breaker.unwrap();
    assert_eq!(breaker.pause_on.len(), 2);
    assert_eq!(breaker.settings.rate().unwrap().to_string(), "20 in 10s");
    assert_eq!(breaker.settings.max_probe_delay().as_secs(), 30);
    assert_eq!(listeners().find(|l| l.name == "note").unwrap().states.len(), 2);
    assert_eq!(dlt_handlers().count(), 1);
    let _callable = bill(Record::new(Bytes(vec![1]), RecordMeta::default()));
    let _with_state = note(Record::new(Text("hi".into()), RecordMeta::default()), State(Db), State(3));
}
