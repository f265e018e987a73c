//! The attributes register listeners that the registry finds, with the policy as written.

use std::time::Duration;

use retry_core::registry::{dlt_handlers, listeners};
use std::sync::{Arc, Mutex};

use retry_core::{
    AutoCreate, CallOutcome, DeadLetter, DecodeError, ErrorClass, ErrorFilter, HandlerError,
    HandlerStates, ListenerConfig, RawRecord, Record, RecordMeta, State, StateType, SuffixStrategy,
    Text, TopicReuse,
};
use retry_macros::{dlt_handler, retryable_topic};

#[derive(Debug, serde::Deserialize)]
struct UpdateItem {
    id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("item {0} not created yet")]
struct NotFoundYet(String);

#[derive(Debug, thiserror::Error)]
#[error("status {0} is not valid")]
struct InvalidStatus(u16);

#[derive(Debug, thiserror::Error)]
#[error("database unavailable")]
struct DbUnavailable;

#[retryable_topic(
    topic = "update-item",
    attempts = 4,
    backoff = "1s*2",
    include = [NotFoundYet],
    dlt_routing("-invalid" = [InvalidStatus], "-undecodable" = [DecodeError]),
    auto_create = "retry",
    pause_on = [DbUnavailable],
)]
async fn update_item(rec: Record<UpdateItem>) -> anyhow::Result<()> {
    Err(NotFoundYet(rec.value().id.clone()).into())
}

#[retryable_topic(
    topic = "audit",
    group = "auditors",
    suffix = "index",
    backoff = "250ms*1.5",
    max_delay = "1s",
    jitter = 0.1,
    timeout = "1m",
    dlt = "fail",
    partitions = 6,
    replication = 1,
    concurrency = 4,
    auto_create = false,
    retry_topic_suffix = "-again",
    dlt_topic_suffix = "-dead",
    topic_reuse = "multiple",
    auto_start_dlt = false
)]
async fn audit(_rec: Record<retry_core::Bytes>) -> Result<(), std::io::Error> {
    Ok(())
}

#[dlt_handler(topic = "update-item")]
async fn update_item_dlt(_rec: DeadLetter<UpdateItem>) -> anyhow::Result<()> {
    Ok(())
}

fn resolved(name: &str) -> ListenerConfig {
    let spec = listeners()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{name} is not registered"));
    ListenerConfig::resolve(spec.name, spec.settings, spec.rules(), |_| None).unwrap()
}

#[test]
fn listeners_are_registered_with_their_policy() {
    let mut names: Vec<&str> = listeners().map(|l| l.name).collect();
    names.sort();
    assert_eq!(names, ["audit", "note", "update_item"]);

    let update = resolved("update_item");
    assert_eq!(update.policy.attempts, 4);
    assert_eq!(update.policy.group, "update_item");
    assert_eq!(update.auto_create, AutoCreate::Retry);
    let topics: Vec<&str> = update.topics.topics().map(|t| t.name.as_str()).collect();
    assert_eq!(
        topics,
        [
            "update-item",
            "update-item-retry-1000",
            "update-item-retry-2000",
            "update-item-retry-4000",
            "update-item-invalid-dlt",
            "update-item-undecodable-dlt",
            "update-item-dlt"
        ]
    );
    let route = |error| update.policy.dlt_route(&error);
    assert_eq!(route(HandlerError::failed(InvalidStatus(422))), Some(0));
    assert_eq!(route(HandlerError::Decode(DecodeError::Missing)), Some(1));
    assert_eq!(route(HandlerError::failed(NotFoundYet("7".into()))), None);
    assert!(
        matches!(update.policy.errors, ErrorFilter::Include(types) if types.len() == 1 && types[0].name().ends_with("NotFoundYet"))
    );

    let audit = resolved("audit");
    assert_eq!(
        (audit.policy.group.as_str(), audit.policy.suffix),
        ("auditors", SuffixStrategy::Index)
    );
    assert_eq!(audit.policy.timeout, Some(Duration::from_secs(60)));
    assert_eq!(audit.policy.backoff.max_delay(), Duration::from_secs(1));
    assert_eq!(
        (
            audit.partitions,
            audit.replication,
            audit.concurrency,
            audit.auto_create
        ),
        (Some(6), Some(1), 4, AutoCreate::Never)
    );
    assert_eq!(
        audit.topics.retry_path(),
        ["audit-again-0", "audit-again-1"]
    );
    assert_eq!(audit.topics.dlt().unwrap().name, "audit-dead");
    assert_eq!(
        (audit.policy.topic_reuse, audit.auto_start_dlt),
        (TopicReuse::Multiple, false)
    );
}

/// `pause_on` types reach the breaker, matched along the cause chain; `RETRY_<H>_PAUSE_ON=off`
/// leaves a listener without a rate no breaker at all.
#[test]
fn pause_on_types_open_the_breaker() {
    let spec = listeners().find(|l| l.name == "update_item").unwrap();
    let breaker = resolved("update_item").breaker.unwrap();
    assert_eq!(breaker.settings.rate(), None);
    let down = HandlerError::from(anyhow::Error::new(DbUnavailable).context("saving item 7"));
    assert_eq!(
        breaker.outcome(&spec.errors, &Err(down)),
        CallOutcome::Unavailable
    );
    let missing = HandlerError::failed(NotFoundYet("7".into()));
    assert_eq!(
        breaker.outcome(&spec.errors, &Err(missing)),
        CallOutcome::Failed
    );
    let off = |var: &str| (var == "RETRY_UPDATE_ITEM_PAUSE_ON").then(|| "off".to_owned());
    let config = ListenerConfig::resolve(spec.name, spec.settings, spec.rules(), off).unwrap();
    assert_eq!(config.breaker, None);
    assert_eq!(resolved("audit").breaker, None);
}

/// Where the stateful handlers below write: a state of its own type.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

#[retryable_topic(topic = "notes")]
async fn note(
    rec: Record<Text>,
    State(seen): State<Seen>,
    State(limit): State<usize>,
) -> anyhow::Result<()> {
    anyhow::ensure!(rec.value().len() <= limit, "note longer than {limit}");
    seen.0.lock().unwrap().push(rec.value().to_string());
    Ok(())
}

#[dlt_handler(topic = "notes")]
async fn note_dlt(rec: DeadLetter<Text>, State(seen): State<Seen>) -> anyhow::Result<()> {
    let note = rec.value().map(Text::to_string).unwrap_or_default();
    seen.0.lock().unwrap().push(format!("dead: {note}"));
    Ok(())
}

#[test]
fn dlt_handlers_are_registered() {
    let mut dlts: Vec<(&str, &str)> = dlt_handlers().map(|d| (d.name, d.topic)).collect();
    dlts.sort();
    assert_eq!(
        dlts,
        [("note_dlt", "notes"), ("update_item_dlt", "update-item")]
    );
}

/// Each `State<T>` is declared in order, and the adapter passes the bound values in that order.
#[test]
fn state_arguments_are_declared_and_passed_in_order() {
    let spec = listeners().find(|l| l.name == "note").unwrap();
    let declared: Vec<_> = spec.states.iter().map(StateType::id).collect();
    assert_eq!(
        declared,
        [StateType::of::<Seen>().id(), StateType::of::<usize>().id()]
    );
    let seen = Seen::default();
    let states = HandlerStates::new(vec![Arc::new(seen.clone()), Arc::new(5usize)]);
    block_on((spec.handler)(&raw("short"), &states)).unwrap();
    let err = block_on((spec.handler)(&raw("much too long"), &states)).unwrap_err();
    assert_eq!(err.to_string(), "note longer than 5");

    let dlt = dlt_handlers().find(|d| d.name == "note_dlt").unwrap();
    assert_eq!(dlt.states.len(), 1);
    let states = HandlerStates::new(vec![Arc::new(seen.clone())]);
    block_on((dlt.handler)(&raw("gone"), &states)).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), ["short", "dead: gone"]);
}

fn raw(value: &str) -> RawRecord<'_> {
    RawRecord {
        meta: RecordMeta {
            topic: "update-item".into(),
            attempt: 1,
            ..Default::default()
        }
        .into(),
        value: Some(value.as_bytes().into()),
    }
}

/// The generated adapter decodes, calls the function and classifies its error.
#[test]
fn adapter_calls_the_handler() {
    let spec = listeners().find(|l| l.name == "update_item").unwrap();
    let found = raw(r#"{"id":"42"}"#);
    let none = HandlerStates::default();
    let err = block_on((spec.handler)(&found, &none)).unwrap_err();
    assert_eq!(err.to_string(), "item 42 not created yet");
    assert_eq!(spec.errors.classify(&err), ErrorClass::Retryable);
    let garbage = raw("{not json");
    let err = block_on((spec.handler)(&garbage, &none)).unwrap_err();
    assert!(matches!(err, HandlerError::Decode(_)), "{err:?}");
    assert_eq!(spec.errors.classify(&err), ErrorClass::Fatal);
}

/// A minimal executor: the handlers here never wait on anything.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
