//! The five measurements.

use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use retry_runtime::core::headers::{encode_i32, encode_i64, ATTEMPTS, BACKOFF_TIMESTAMP};
use retry_runtime::{RetryApp, RunningApp};

use crate::broker::Broker;
use crate::handlers::{now_ms, LATENESS_MS, MAIN, RETRIED, STARTUP_LISTENERS};

/// Starts the app with `listeners`, each in group `<name>-<run>` so every run starts fresh.
async fn start(bootstrap: &str, listeners: &[&str], run: &str) -> anyhow::Result<RunningApp> {
    let run = run.to_owned();
    let app = RetryApp::builder()
        .bootstrap_servers(bootstrap)
        .listeners(listeners.iter().copied())
        .settings_env(move |var| {
            let name = var.strip_prefix("RETRY_")?.strip_suffix("_GROUP")?;
            Some(format!("{}-{run}", name.to_ascii_lowercase()))
        })
        .start()
        .await?;
    app.ready().await;
    Ok(app)
}

async fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        anyhow::ensure!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Records/s of the raw loop and of a `#[retryable_topic]` handler over the same `n` records
/// (best of three rounds each, interleaved: the machine is shared and noisy).
pub async fn happy(broker: &Broker, n: usize) -> anyhow::Result<(f64, f64)> {
    broker.create_listener_topics("bench-happy").await?;
    broker.produce("bench-happy", n, None).await?;
    let bootstrap = broker.bootstrap_servers();
    let (mut raw, mut framework) = (0f64, 0f64);
    for round in 0..3 {
        raw = raw.max(
            crate::baseline::consume(&bootstrap, "bench-happy", &format!("raw-{round}"), n).await?,
        );
        MAIN.reset();
        let app = start(&bootstrap, &["bench_happy"], &format!("happy-{round}")).await?;
        wait_for("the happy run", Duration::from_secs(120), || {
            MAIN.count() >= n as u64
        })
        .await?;
        framework = framework.max(MAIN.rate());
        app.shutdown().await;
    }
    Ok((raw, framework))
}

/// Main-topic records/s when every tenth record fails once and succeeds on its retry.
pub async fn failure_mix(broker: &Broker, n: usize) -> anyhow::Result<f64> {
    broker.create_listener_topics("bench-mix").await?;
    broker.produce("bench-mix", n, None).await?;
    MAIN.reset();
    RETRIED.reset();
    let app = start(&broker.bootstrap_servers(), &["bench_mix"], "mix").await?;
    wait_for("the mixed run", Duration::from_secs(120), || {
        MAIN.count() >= n as u64 && RETRIED.count() >= (n / 10) as u64
    })
    .await?;
    app.shutdown().await;
    Ok(MAIN.rate())
}

/// Lateness of `n` records through a 1 s retry topic.
pub struct Precision {
    pub early: usize,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

pub async fn delay_precision(broker: &Broker, n: usize) -> anyhow::Result<Precision> {
    broker.create_listener_topics("bench-delay").await?;
    broker.produce("bench-delay", n, None).await?;
    LATENESS_MS.lock().expect("lateness").clear();
    let app = start(&broker.bootstrap_servers(), &["bench_delay"], "delay").await?;
    wait_for("the delayed retries", Duration::from_secs(120), || {
        LATENESS_MS.lock().expect("lateness").len() >= n
    })
    .await?;
    app.shutdown().await;
    let mut late = LATENESS_MS.lock().expect("lateness").clone();
    late.sort_unstable();
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
    Ok(Precision {
        early: late.iter().filter(|&&ms| ms < 0).count(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

/// Peak RSS in KiB of a child process running the app while `n` records wait in a retry topic
/// for an hour.
pub async fn memory(broker: &Broker, n: usize, run: &str) -> anyhow::Result<u64> {
    let topic = format!("bench-memory-{run}");
    broker.create_listener_topics(&topic).await?;
    let due = now_ms() + 3_600_000;
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: ATTEMPTS,
            value: Some(&encode_i32(2)),
        })
        .insert(Header {
            key: BACKOFF_TIMESTAMP,
            value: Some(&encode_i64(due)),
        });
    broker
        .produce(&format!("{topic}-retry"), n, Some(headers))
        .await?;
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "memory-child",
            "--bootstrap",
            &broker.bootstrap_servers(),
            "--topic",
            &topic,
        ])
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "memory child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// The memory child: run the app until the retry consumer has read what it will hold, then
/// print the peak RSS.
pub async fn memory_child(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let topic = topic.to_owned();
    let app = RetryApp::builder()
        .bootstrap_servers(bootstrap)
        .listeners(["bench_memory"])
        .settings_env(move |var| (var == "RETRY_BENCH_MEMORY_TOPIC").then(|| topic.clone()))
        .start()
        .await?;
    app.ready().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("{peak}");
    app.shutdown().await;
    Ok(())
}

/// Seconds from `start()` until every consumer is assigned, for 1 and 20 listeners.
pub async fn startup(broker: &Broker) -> anyhow::Result<(f64, f64)> {
    let bootstrap = broker.bootstrap_servers();
    for name in STARTUP_LISTENERS {
        broker
            .create_listener_topics(&name.replace('_', "-"))
            .await?;
    }
    let mut times = Vec::new();
    for listeners in [&STARTUP_LISTENERS[..1], &STARTUP_LISTENERS[..]] {
        let started = Instant::now();
        let app = start(
            &bootstrap,
            listeners,
            &format!("startup-{}", listeners.len()),
        )
        .await?;
        times.push(started.elapsed().as_secs_f64());
        app.shutdown().await;
    }
    Ok((times[0], times[1]))
}
