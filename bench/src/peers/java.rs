//! The Java peers of `bench/peers/`: built with Maven, run with the JDK's defaults.

use std::path::PathBuf;

use tokio::process::Command;

use super::{Peer, Workload, PARTITIONS};

/// The built Java peers.
pub struct Java {
    /// The Spring Boot service's executable jar.
    jar: PathBuf,
    /// The floor's classpath: its classes, then kafka-clients and its dependencies.
    clients_classpath: String,
    /// Parallel Consumer's: its classes, then Parallel Consumer, its dependencies and logback.
    parallel_consumer_classpath: String,
    /// Parallel Consumer's logging configuration (INFO to stdout).
    parallel_consumer_logging: PathBuf,
}

impl Java {
    /// Builds `bench/peers/` with `mvn package` (Maven Central through the configured
    /// registry, cached in ~/.m2).
    pub fn build() -> anyhow::Result<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
        eprintln!(
            "[peers] building the Java peers (mvn package in {})",
            dir.display()
        );
        // Maven's output to stderr: stdout carries the results.
        let stderr = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?;
        let status = std::process::Command::new("mvn")
            .args(["-q", "-B", "-Dstyle.color=never", "-f"])
            .arg(dir.join("pom.xml"))
            .args(["package", "-DskipTests"])
            .stdout(stderr)
            .status()
            .map_err(|e| anyhow::anyhow!("running mvn (Maven and a JDK 17 are needed): {e}"))?;
        anyhow::ensure!(status.success(), "mvn package of bench/peers failed");
        let target = dir.join("target");
        let classes = target.join("classes");
        let classpath = |file: &str| -> anyhow::Result<String> {
            let dependencies = std::fs::read_to_string(target.join(file))?;
            Ok(format!("{}:{}", classes.display(), dependencies.trim()))
        };
        Ok(Self {
            jar: target.join("peers-spring.jar"),
            clients_classpath: classpath("clients-classpath")?,
            parallel_consumer_classpath: classpath("parallel-consumer-classpath")?,
            parallel_consumer_logging: classes.join("parallel-consumer-logback.xml"),
        })
    }

    /// The command that runs `peer` on `workload`'s `records` records of `topic`: Spring as
    /// `java -jar`, the floor on its classpath, neither with JVM options.
    pub fn command(
        &self,
        peer: Peer,
        bootstrap: &str,
        workload: Workload,
        topic: &str,
        records: u64,
    ) -> Command {
        let mut command = java(bootstrap, topic, records);
        match peer {
            Peer::SpringKafka => command.arg("-jar").arg(&self.jar),
            _ => command
                .args(["-cp", &self.clients_classpath])
                .arg("kafkaretry.peers.ClientsPeer"),
        };
        command
            .env("SPRING_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("PEER_WORKLOAD", workload.name())
            .env("PEER_PARTITIONS", PARTITIONS.to_string());
        command
    }

    /// The command that runs Parallel Consumer over `records` records of `topic` with
    /// `concurrency` threads, `failing_percent` % of them failing once: on its classpath, its
    /// logging configured, no JVM option.
    pub fn parallel_consumer(
        &self,
        bootstrap: &str,
        topic: &str,
        records: u64,
        concurrency: usize,
        failing_percent: u32,
    ) -> Command {
        let mut command = java(bootstrap, topic, records);
        command
            .arg(format!(
                "-Dlogback.configurationFile={}",
                self.parallel_consumer_logging.display()
            ))
            .args(["-cp", &self.parallel_consumer_classpath])
            .arg("kafkaretry.peers.ParallelConsumerPeer")
            .env("PEER_CONCURRENCY", concurrency.to_string())
            .env("PEER_FAILING_PERCENT", failing_percent.to_string());
        command
    }
}

/// `java` with what every Java peer reads (`KAFKA_BOOTSTRAP_SERVERS`, `PEER_TOPIC`,
/// `PEER_RECORDS`) and without the variables that would add JVM options.
fn java(bootstrap: &str, topic: &str, records: u64) -> Command {
    let mut command = Command::new("java");
    command
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("PEER_TOPIC", topic)
        .env("PEER_RECORDS", records.to_string())
        .env_remove("JAVA_TOOL_OPTIONS")
        .env_remove("JDK_JAVA_OPTIONS")
        .env_remove("_JAVA_OPTIONS");
    command
}
