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
        let dependencies = std::fs::read_to_string(target.join("clients-classpath"))?;
        Ok(Self {
            jar: target.join("peers-spring.jar"),
            clients_classpath: format!(
                "{}:{}",
                target.join("classes").display(),
                dependencies.trim()
            ),
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
        let mut command = Command::new("java");
        match peer {
            Peer::SpringKafka => command.arg("-jar").arg(&self.jar),
            _ => command
                .args(["-cp", &self.clients_classpath])
                .arg("kafkaretry.peers.ClientsPeer"),
        };
        command
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("SPRING_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("PEER_WORKLOAD", workload.name())
            .env("PEER_TOPIC", topic)
            .env("PEER_RECORDS", records.to_string())
            .env("PEER_PARTITIONS", PARTITIONS.to_string())
            .env_remove("JAVA_TOOL_OPTIONS")
            .env_remove("JDK_JAVA_OPTIONS")
            .env_remove("_JAVA_OPTIONS");
        command
    }
}
