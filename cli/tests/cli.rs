//! The `kafka-retry` binary against the embedded broker, with an app writing real dead
//! letters: every subcommand's output as an operator reads it.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::prelude::*;
use retry_runtime::testing::TestKafka;
use retry_runtime::RetryApp;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Keys the handler handled.
static HANDLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// The cause of the `unpaid-*` failures is fixed.
static FIXED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
#[error("order {0} not paid")]
struct NotPaid(String);

/// `unpaid-*` fails until fixed; `poison` always fails; anything else is handled.
#[retryable_topic(topic = "cli-orders", attempts = 3, backoff = "200ms*2")]
async fn cli_orders(rec: Record<Bytes>) -> anyhow::Result<()> {
    let key = rec.key_str().unwrap_or_default().to_owned();
    if key == "poison" || (key.starts_with("unpaid") && !FIXED.load(Ordering::SeqCst)) {
        return Err(NotPaid(key).into());
    }
    HANDLED.lock().unwrap().push(key);
    Ok(())
}

/// Runs the binary to completion: exit code, stdout, stderr.
async fn kafka_retry(kafka: &TestKafka, args: &[&str]) -> (i32, String, String) {
    let out = command(kafka, args)
        .output()
        .await
        .expect("kafka-retry runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn command(kafka: &TestKafka, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-retry"));
    command
        .args(args)
        .env("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits until `topic` holds `n` records.
async fn wait_for_records(kafka: &TestKafka, topic: &str, n: usize) {
    let start = Instant::now();
    while kafka.read_all(topic).await.expect("read").len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{topic} never held {n} records"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Produces one record to partition 0 of `topic` with `headers`, as any producer that may
/// write it can (up to 8 MiB).
async fn produce_with_headers(
    kafka: &TestKafka,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: &[(&str, &[u8])],
) {
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("message.max.bytes", "8388608")
        .create()
        .unwrap();
    let headers = headers.iter().fold(
        rdkafka::message::OwnedHeaders::new(),
        |list, &(key, value)| {
            list.insert(rdkafka::message::Header {
                key,
                value: Some(value),
            })
        },
    );
    producer
        .send(
            rdkafka::producer::FutureRecord::to(topic)
                .partition(0)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn handled(key: &str) -> usize {
    HANDLED.lock().unwrap().iter().filter(|k| *k == key).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_traces_shows_status_and_replays_dead_letters_once() {
    let kafka = TestKafka::start().await.unwrap();
    let app = RetryApp::builder()
        .bootstrap_servers(kafka.bootstrap_servers())
        .listeners(["cli_orders"])
        .start()
        .await
        .unwrap();
    app.ready().await;
    for key in ["paid", "unpaid-1", "unpaid-2", "poison"] {
        kafka.produce("cli-orders", Some(key), b"{}").await.unwrap();
    }
    wait_for_records(&kafka, "cli-orders-dlt", 3).await;

    // dlt list: one row per dead letter, in DLT order.
    let (code, out, err) = kafka_retry(&kafka, &["dlt", "list", "cli-orders-dlt"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("PARTITION@OFFSET  KEY"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    for (line, (key, offset, at)) in
        lines[1..]
            .iter()
            .zip([("unpaid-1", 1, 0), ("unpaid-2", 2, 1), ("poison", 3, 2)])
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], format!("0@{at}"), "{out}");
        assert_eq!(cells[1], key, "{out}");
        assert_eq!(cells[2], "3", "three deliveries: {out}");
        assert_eq!(cells[3], format!("cli-orders[0]@{offset}"), "{out}");
        assert!(line.contains(&format!("order {key} not paid")), "{out}");
    }

    // --json with filters: one object per line.
    let (code, out, _) = kafka_retry(
        &kafka,
        &["dlt", "list", "cli-orders-dlt", "--json", "--key", "poison"],
    )
    .await;
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["original_topic"], "cli-orders");
    assert_eq!(rows[0]["consumer_group"], "cli_orders");
    assert_eq!(rows[0]["attempts"], 3);
    let (_, out, _) = kafka_retry(
        &kafka,
        &[
            "dlt",
            "list",
            "cli-orders-dlt",
            "--json",
            "--error",
            "unpaid",
            "--since",
            "1h",
            "--limit",
            "1",
        ],
    )
    .await;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(r#""key":"unpaid-1""#), "{out}");

    // trace: the main topic, both retry topics and the DLT, in order.
    let (code, out, err) = kafka_retry(&kafka, &["trace", "cli-orders", "--key", "unpaid-1"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unpaid-1: dead letter"), "{out}");
    let path = out.lines().last().unwrap();
    let hops: Vec<&str> = path
        .split(" -> ")
        .map(|h| h.split(" @").next().unwrap())
        .collect();
    assert_eq!(
        hops,
        [
            "cli-orders#1",
            "cli-orders-retry-200#2",
            "cli-orders-retry-400#3",
            "cli-orders-dlt#4"
        ],
        "{out}"
    );
    assert!(out.contains("order unpaid-1 not paid"), "{out}");

    // status: every retry topic and the DLT, read by the app's groups, nothing waiting.
    let start = Instant::now();
    let out = loop {
        let (code, out, err) = kafka_retry(&kafka, &["status", "cli-orders"]).await;
        assert_eq!(code, 0, "{err}");
        // The app commits every second: wait for the DLT group's commit.
        if out.contains("cli_orders-dlt") || start.elapsed() > Duration::from_secs(10) {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let topics: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    assert_eq!(
        topics,
        [
            ("cli-orders-retry-200", "cli_orders-retry-200", "0"),
            ("cli-orders-retry-400", "cli_orders-retry-400", "0"),
            ("cli-orders-dlt", "cli_orders-dlt", "0"),
        ],
        "{out}"
    );

    // The cause is fixed. A dry run publishes nothing.
    FIXED.store(true, Ordering::SeqCst);
    let before = kafka.read_all("cli-orders").await.unwrap().len();
    let (code, out, _) = kafka_retry(
        &kafka,
        &[
            "dlt",
            "replay",
            "cli-orders-dlt",
            "--error",
            "not paid",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would replay 3 of 3 dead letters examined"),
        "{out}"
    );
    assert!(
        out.contains("would replay 0@0 (key unpaid-1) -> cli-orders[0]"),
        "{out}"
    );
    assert_eq!(kafka.read_all("cli-orders").await.unwrap().len(), before);

    // The real replay of the unpaid orders: handled this time.
    let (code, out, err) = kafka_retry(
        &kafka,
        &["dlt", "replay", "cli-orders-dlt", "--key", "unpaid-1"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("replayed 0@0 (key unpaid-1) -> cli-orders[0]"),
        "{out}"
    );
    wait_until("unpaid-1 handled", || handled("unpaid-1") == 1).await;
    let replayed = kafka.read_all("cli-orders").await.unwrap();
    let last = replayed.last().unwrap();
    assert_eq!(last.key.as_deref(), Some(&b"unpaid-1"[..]));
    assert_eq!(
        last.headers.get("kafka_retry-replay-count"),
        Some(&[0, 0, 0, 1][..])
    );
    assert!(last.headers.get("kafka_original-topic").is_none());

    // The same command again replays nothing twice: the group is past those records.
    let (code, out, _) = kafka_retry(
        &kafka,
        &["dlt", "replay", "cli-orders-dlt", "--key", "unpaid-1"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.starts_with("replayed 0 of 0 dead letters"), "{out}");

    // A poison record loops at most --max-replays times, then is reported and exit is 1.
    let args = [
        "dlt",
        "replay",
        "cli-orders-dlt",
        "--group",
        "poison-run",
        "--key",
        "poison",
        "--max-replays",
        "1",
    ];
    let (code, out, _) = kafka_retry(&kafka, &args).await;
    assert_eq!(code, 0, "{out}");
    wait_for_records(&kafka, "cli-orders-dlt", 4).await;
    let (code, out, _) = kafka_retry(&kafka, &args).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("not replayed: 0@3 (key poison): replayed 1 times already (--max-replays 1)"),
        "{out}"
    );
    let (_, out, _) = kafka_retry(&kafka, &["trace", "cli-orders", "--key", "poison"]).await;
    assert!(out.contains("cli-orders#1 (replay 1)"), "{out}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_interrupted_by_ctrl_c_goes_on_without_replaying_twice() {
    let kafka = TestKafka::start().await.unwrap();
    kafka.create_topic("ctrl-orders", 1).await.unwrap();
    kafka.create_topic("ctrl-orders-dlt", 1).await.unwrap();
    let keys: Vec<String> = (0..30).map(|i| format!("order-{i}")).collect();
    for key in &keys {
        kafka
            .produce("ctrl-orders-dlt", Some(key), b"{}")
            .await
            .unwrap();
    }
    let args = ["dlt", "replay", "ctrl-orders-dlt", "--to", "ctrl-orders"];

    let mut slow: Vec<&str> = args.to_vec();
    slow.extend(["--rate", "20"]);
    let mut child = command(&kafka, &slow).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..5 {
        let line = lines.next_line().await.unwrap().unwrap();
        assert!(line.starts_with("replayed 0@"), "{line}");
    }
    // SAFETY: signalling our own child by its id.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("interrupted")),
        "{rest:?}"
    );

    let (code, out, err) = kafka_retry(&kafka, &args).await;
    assert_eq!(code, 0, "{out}{err}");
    let replayed: Vec<String> = kafka
        .read_all("ctrl-orders")
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap()).into_owned())
        .collect();
    assert_eq!(replayed, keys, "every dead letter replayed once, in order");

    // A record that cannot be published is named, exit 1, and stays for the next run.
    let nowhere = [
        "dlt",
        "replay",
        "ctrl-orders-dlt",
        "--group",
        "nowhere",
        "--to",
        "nowhere",
    ];
    for _ in 0..2 {
        let (code, out, _) = kafka_retry(&kafka, &nowhere).await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("FAILED: 0@0 (key order-0): topic nowhere does not exist; its partition stops there"),
            "{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_claiming_another_topic_goes_only_where_to_says() {
    let kafka = TestKafka::start().await.unwrap();
    for topic in ["forged-orders", "forged-orders-dlt", "payments"] {
        kafka.create_topic(topic, 1).await.unwrap();
    }
    // Any producer that may write the DLT can claim any origin.
    produce_with_headers(
        &kafka,
        "forged-orders-dlt",
        "mallory",
        b"{}",
        &[("kafka_original-topic", b"payments")],
    )
    .await;

    let (code, out, _) = kafka_retry(&kafka, &["dlt", "replay", "forged-orders-dlt"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAILED: 0@0 (key mallory): kafka_original-topic `payments` is not a main topic of \
             forged-orders-dlt by its name (--dlt-suffix -dlt)"
        ),
        "{out}"
    );
    assert!(kafka.read_all("payments").await.unwrap().is_empty());

    let to_main = [
        "dlt",
        "replay",
        "forged-orders-dlt",
        "--to",
        "forged-orders",
        "--dry-run",
    ];
    let (code, out, _) = kafka_retry(&kafka, &to_main).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "would replay 0@0 (key mallory) -> forged-orders (kafka_original-topic payments)"
        ),
        "the destination and the claim, side by side: {out}"
    );
}

/// A dead letter over librdkafka's default `message.max.bytes` (1,000,000), under a topic's
/// default limit (1,048,588), is replayed like any other: the replay's producer is the
/// runtime's forward producer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_over_a_megabyte_is_replayed() {
    let kafka = TestKafka::start().await.unwrap();
    for topic in ["large-orders", "large-orders-dlt"] {
        kafka.create_topic(topic, 1).await.unwrap();
    }
    let value = vec![b'x'; 1_020_000];
    produce_with_headers(
        &kafka,
        "large-orders-dlt",
        "large",
        &value,
        &[("kafka_original-topic", b"large-orders")],
    )
    .await;
    let (code, out, err) = kafka_retry(&kafka, &["dlt", "replay", "large-orders-dlt"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let replayed = kafka.read_all("large-orders").await.unwrap();
    assert_eq!(replayed.len(), 1, "{out}");
    assert_eq!(replayed[0].value.as_deref(), Some(&value[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_topics_a_changed_chain_left_behind() {
    let kafka = TestKafka::start().await.unwrap();
    // The chain of backoff 1s*2, attempts 3, while the listener now has backoff 2s*2.
    for topic in [
        "moved",
        "moved-retry-1000",
        "moved-retry-2000",
        "moved-retry-4000",
        "moved-dlt",
        "moved-eu",
        "moved-eu-dlt",
    ] {
        kafka.create_topic(topic, 1).await.unwrap();
    }
    for key in ["a", "b"] {
        kafka
            .produce("moved-retry-1000", Some(key), b"{}")
            .await
            .unwrap();
    }
    // The listener's group consumed the old retry topic: its own.
    commit_start(&kafka, "billing-retry-1000", "moved-retry-1000");
    // A retry topic of an older chain whose group never committed: its record, forwarded by
    // the listener's group, still waits for its first retry. Its own.
    kafka.create_topic("moved-retry-3000", 1).await.unwrap();
    produce_with_headers(
        &kafka,
        "moved-retry-3000",
        "c",
        b"{}",
        &[("kafka_dlt-original-consumer-group", b"billing")],
    )
    .await;
    // Another service's topic named like an orphan: its records name that service's group.
    kafka.create_topic("moved-retry-8000", 1).await.unwrap();
    produce_with_headers(
        &kafka,
        "moved-retry-8000",
        "theirs",
        b"{}",
        &[("kafka_dlt-original-consumer-group", b"shipping")],
    )
    .await;
    let changed = ["status", "moved", "--attempts", "3", "--backoff", "2s*2"];
    let (code, out, err) = kafka_retry(&kafka, &changed).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let topics: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        topics,
        [
            ("moved-retry-2000", "(none"),
            ("moved-retry-4000", "(none"),
            ("moved-dlt", "(none"),
            ("moved-retry-1000", "(orphaned)"),
            ("moved-retry-3000", "(orphaned)"),
            ("moved-retry-8000", "(orphaned)"),
        ],
        "{out}"
    );
    assert_eq!(rows[3][2], "billing-retry-1000", "{out}");
    assert_eq!(rows[3][4], "2", "both records wait: {out}");
    assert_eq!(rows[4][2], "billing-retry-3000", "{out}");
    assert_eq!(rows[4][4], "1", "{out}");
    assert_eq!(
        rows[5][2], "shipping-retry-8000",
        "without --group, each group the records name: {out}"
    );

    // With the listener's group: only what is its own.
    let billing = [&changed[..], &["--group", "billing"][..]].concat();
    let (code, out, err) = kafka_retry(&kafka, &billing).await;
    assert_eq!(code, 0, "{err}");
    let orphaned: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("(orphaned)"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        orphaned,
        ["moved-retry-1000", "moved-retry-3000"],
        "another service's topic is not billing's: {out}"
    );

    // Without the listener's settings every topic of the chain is shown, none orphaned.
    let (code, out, err) = kafka_retry(&kafka, &["status", "moved"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("orphaned"), "{out}");
    assert!(out.contains("moved-retry-1000"), "{out}");
    assert!(
        !out.contains("moved-eu-dlt"),
        "another main topic's DLT: {out}"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("account {0} not open yet")]
struct NotOpen(String);

/// `held` always fails and waits an hour for its one retry, so its key stays blocked and its
/// later records park; anything else is handled.
#[retryable_topic(
    topic = "cli-keys",
    ordering = "key",
    concurrency = 4,
    partitions = 1,
    attempts = 2,
    backoff = "1h"
)]
async fn cli_keys(rec: Record<Bytes>) -> anyhow::Result<()> {
    let key = rec.key_str().unwrap_or_default().to_owned();
    if key == "held" {
        return Err(NotOpen(key).into());
    }
    Ok(())
}

/// A key-ordered listener with a blocked key: status shows the parked topic and the lock
/// log's count, trace the record's parked copy and its key's lock-log entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_trace_show_a_blocked_keys_head_and_parked_record() {
    let kafka = TestKafka::start().await.unwrap();
    let app = RetryApp::builder()
        .bootstrap_servers(kafka.bootstrap_servers())
        .listeners(["cli_keys"])
        .start()
        .await
        .unwrap();
    app.ready().await;
    kafka
        .produce("cli-keys", Some("held"), b"{}")
        .await
        .unwrap();
    wait_for_records(&kafka, "cli-keys-retry", 1).await;
    for key in ["held", "free"] {
        kafka.produce("cli-keys", Some(key), b"{}").await.unwrap();
    }
    wait_for_records(&kafka, "cli-keys-retry-parked", 1).await;

    // status: the parked topic like a retry topic, and the lock log folded: one key blocked,
    // its head waiting in the retry topic, one record parked behind it; the floor is the
    // main partition's commit, past all three records.
    let start = Instant::now();
    let out = loop {
        let (code, out, err) =
            kafka_retry(&kafka, &["status", "cli-keys", "--group", "cli_keys"]).await;
        assert_eq!(code, 0, "{err}");
        let counted = out.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>()
                == ["cli-keys-retry-locks", "0", "1", "1", "1", "3"]
        });
        if counted || start.elapsed() > Duration::from_secs(20) {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let topics: Vec<(&str, &str, &str, &str)> = rows[1..4]
        .iter()
        .map(|r| (r[0], r[1], r[2], r[3]))
        .collect();
    assert_eq!(
        topics,
        [
            ("cli-keys-retry-parked", "cli_keys-retry-parked", "1", "0"),
            ("cli-keys-retry", "cli_keys-retry", "1", "0"),
            ("cli-keys-dlt", "cli_keys-dlt", "0", "0"),
        ],
        "the parked record and the head wait, neither past due: {out}"
    );
    assert_eq!(
        rows[5],
        [
            "LOCK",
            "LOG",
            "PARTITION",
            "BLOCKED",
            "KEYS",
            "HEADS",
            "PARKED",
            "FLOOR"
        ],
        "{out}"
    );
    assert_eq!(
        rows[6],
        ["cli-keys-retry-locks", "0", "1", "1", "1", "3"],
        "{out}"
    );

    // trace: the head's copy in the retry topic, the later record's in the parked topic with
    // why it waits, then the key's lock-log entries naming both copies.
    let (code, out, err) = kafka_retry(&kafka, &["trace", "cli-keys", "--key", "held"]).await;
    assert_eq!(code, 0, "{err}");
    let hops: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().skip(2).take(3).collect())
        .collect();
    assert_eq!(
        hops,
        [
            ["cli-keys", "0@0", "#1"],
            ["cli-keys-retry", "0@0", "#2"],
            ["cli-keys", "0@1", "#1"],
            ["cli-keys-retry-parked", "0@0", "parked"],
        ],
        "{out}"
    );
    assert!(out.contains("account held not open yet"), "{out}");
    assert!(
        out.contains(
            "parked   kafka_retry::KeyBlocked: an earlier record of its key waits for a retry"
        ),
        "{out}"
    );
    assert!(out.contains("held: not in a DLT"), "{out}");
    // After the time and the entry's position: the record and the entry.
    let entries: Vec<String> = out
        .lines()
        .skip_while(|l| !l.starts_with("lock log cli-keys-retry-locks, entries of key held"))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            cells[2..].join(" | ")
        })
        .collect();
    assert_eq!(
        entries,
        [
            "cli-keys 0@0 | head, copy at cli-keys-retry 0@0",
            "cli-keys 0@1 | parked, copy at cli-keys-retry-parked 0@0",
        ],
        "{out}"
    );
    let (_, out, _) = kafka_retry(&kafka, &["trace", "cli-keys", "--key", "free"]).await;
    assert!(
        !out.contains("lock log"),
        "a key never blocked has no entry: {out}"
    );
    app.shutdown().await;
}

/// Commits offset 0 of `topic`'s partition 0 for `group`, as a group that consumed it.
fn commit_start(kafka: &TestKafka, group: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, rdkafka::Offset::Offset(0))
        .expect("offset");
    consumer.commit(&offsets, CommitMode::Sync).expect("commit");
}
