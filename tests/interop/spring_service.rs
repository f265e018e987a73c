//! The Spring Kafka items service as a child process: started on a scenario's topics, watched
//! through the `ITEMS-EVENT {json}` lines it prints, stopped with SIGTERM as a platform would.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{eventually, Scenario};

/// Something the service did, as it printed it.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// `ready`, `handled`, `failed` or `dead-letter`.
    pub event: String,
    pub key: Option<String>,
    pub topic: Option<String>,
    /// The delivery attempt Spring read from `retry_topic-attempts` (1 without it).
    pub attempt: Option<u32>,
    /// The due time Spring read from `retry_topic-backoff-timestamp`, epoch ms.
    pub due: Option<i64>,
    /// When the handler ran, epoch ms.
    pub at: i64,
    /// What the handler did or the error it failed with.
    pub detail: Option<String>,
}

/// A running Spring items service; killed when dropped (a failed test leaves no JVM behind).
pub struct SpringService {
    child: Child,
    events: Arc<Mutex<Vec<Event>>>,
    log: PathBuf,
}

impl SpringService {
    /// Starts the service on `scenario`'s topics and groups and waits until every one of its
    /// listener containers has partitions.
    pub async fn start(scenario: &Scenario) -> Self {
        let jar = std::env::var("SPRING_ITEMS_JAR").expect(
            "SPRING_ITEMS_JAR names the Spring items service's jar (tools/kafka/test-suites.sh builds it)",
        );
        let log = std::env::temp_dir().join(format!("items-spring-{}log", scenario.prefix()));
        let mut child = Command::new("java")
            .args(["-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", &jar])
            .arg(format!("--items.prefix={}", scenario.prefix()))
            .arg(format!(
                "--spring.kafka.bootstrap-servers={}",
                scenario.kafka.bootstrap_servers()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("java runs the Spring items service");
        let events = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(watch(
            child.stdout.take().expect("stdout piped"),
            events.clone(),
            log.clone(),
        ));
        let service = Self { child, events, log };
        let log = service.log.display().to_string();
        eventually(
            &format!("the Spring service is ready (its log: {log})"),
            Duration::from_secs(90),
            || service.events().iter().any(|e| e.event == "ready"),
        )
        .await;
        service
    }

    /// Everything the service printed so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The events about `key`.
    pub fn events_for(&self, key: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.key.as_deref() == Some(key))
            .collect()
    }

    /// Waits up to `timeout` for an event about `key` that `matches`.
    pub async fn wait_for(
        &self,
        key: &str,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Event) -> bool,
    ) -> Event {
        let described = format!("Spring: {what} for {key} (its log: {})", self.log.display());
        eventually(&described, timeout, || {
            self.events_for(key).iter().any(&matches)
        })
        .await;
        self.events_for(key).into_iter().find(matches).unwrap()
    }

    /// Stops the service with SIGTERM (Spring Boot's graceful shutdown: its consumers leave
    /// their groups) and waits for the JVM to exit.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("the service is running");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "SIGTERM reaches the Spring service");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the Spring service exits within 30 s of SIGTERM")
            .expect("wait for the JVM");
    }
}

/// Keeps every stdout line in `log` and the parsed `ITEMS-EVENT` lines in `events`.
async fn watch(stdout: tokio::process::ChildStdout, events: Arc<Mutex<Vec<Event>>>, log: PathBuf) {
    let mut file = tokio::fs::File::create(&log).await.expect("service log");
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(json) = line.strip_prefix("ITEMS-EVENT ") {
            let event: Event = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("unreadable event {json:?}: {e}"));
            events.lock().unwrap().push(event);
        }
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
    }
}
