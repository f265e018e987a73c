//! Real Apache Kafka for the benchmarks and the fault suite, started through
//! `tools/kafka/kafka.sh` (a KRaft broker on loopback; needs a JDK and, once, Maven) and
//! stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

/// A running `tools/kafka/kafka.sh` broker (one node, or three).
pub struct KafkaHarness {
    script: PathBuf,
    bootstrap: String,
    dir: String,
}

impl KafkaHarness {
    /// Starts a fresh broker of `nodes` nodes with empty data.
    pub fn start(nodes: u8) -> anyhow::Result<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/kafka/kafka.sh");
        let output = Command::new(&script)
            .args(["start", "--nodes", &nodes.to_string()])
            .env_remove("KAFKA_HARNESS_DIR")
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "tools/kafka/kafka.sh start failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let exports = String::from_utf8(output.stdout)?;
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches(['\'', '"']).to_owned())
                .ok_or_else(|| anyhow::anyhow!("kafka.sh start printed no {name}: {exports}"))
        };
        Ok(Self {
            bootstrap: value("KAFKA_BOOTSTRAP_SERVERS")?,
            dir: value("KAFKA_HARNESS_DIR")?,
            script,
        })
    }

    /// `host:port,...` of the nodes.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Runs `kafka.sh <command> <node>`: `kill-node`, `stop-node` or `start-node`.
    pub fn node(&self, command: &str, node: u8) -> anyhow::Result<()> {
        let status = Command::new(&self.script)
            .args([command, &node.to_string()])
            .env("KAFKA_HARNESS_DIR", &self.dir)
            .status()?;
        anyhow::ensure!(status.success(), "kafka.sh {command} {node} failed");
        Ok(())
    }
}

impl Drop for KafkaHarness {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .env("KAFKA_HARNESS_DIR", &self.dir)
            .status();
    }
}
