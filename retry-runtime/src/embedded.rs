//! An in-process Kafka-compatible broker for tests and demos (feature `embedded`).
//!
//! Runs [tansu](https://tansu.io) (Apache-2.0) with in-memory storage on a free loopback port,
//! like Spring's `@EmbeddedKafka`: no Docker, no services. The broker is tansu 0.6.0 with fixes
//! to its consumer groups and fetches, published as the `kafka-retry-tansu-*` crates.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let kafka = retry_runtime::embedded::EmbeddedKafka::start().await?;
//! println!("broker at {}", kafka.bootstrap_servers());
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, TcpListener};

use anyhow::Context;
use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tokio::sync::oneshot;
use url::Url;

/// A running in-process broker; stopped when dropped.
///
/// The broker runs on a thread and tokio runtime of its own, so a test or demo whose own
/// runtime threads are busy (or blocked in a synchronous Kafka client call) cannot starve it.
#[derive(Debug)]
pub struct EmbeddedKafka {
    bootstrap_servers: String,
    stop: Option<oneshot::Sender<()>>,
}

impl EmbeddedKafka {
    /// Starts a broker on a free loopback port. It lives as long as this value.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(free_port()?).await
    }

    /// Starts a broker on `127.0.0.1:port`.
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        let (started_tx, started_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started_tx.send(Err(anyhow::Error::new(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match build(port).await {
                        Ok(mut broker) => {
                            let _ = started_tx.send(Ok(()));
                            tokio::select! {
                                served = broker.serve(tokio::time::Instant::now()) => {
                                    if let Err(error) = served {
                                        tracing::error!(?error, "embedded broker stopped");
                                    }
                                }
                                _ = stopped => {}
                            }
                        }
                        Err(error) => {
                            let _ = started_tx.send(Err(error));
                        }
                    }
                });
                runtime.shutdown_background();
            })
            .context("spawning the embedded broker's thread")?;
        started_rx
            .await
            .context("the embedded broker's thread died")??;
        let bootstrap_servers = format!("127.0.0.1:{port}");
        wait_until_listening(&bootstrap_servers).await?;
        Ok(Self {
            bootstrap_servers,
            stop: Some(stop),
        })
    }

    /// `host:port` to give clients as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The broker: node 1 of a one-node cluster, in-memory storage, listening on `port`.
async fn build(
    port: u16,
) -> anyhow::Result<Broker<Controller<StorageContainer>, StorageContainer>> {
    let address: Url = format!("tcp://127.0.0.1:{port}").parse()?;
    Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(1)
        .cluster_id("kafka-retry-embedded")
        .incarnation_id(uuid::Uuid::new_v4())
        .advertised_listener(address.clone())
        .storage("memory://tansu/".parse()?)
        .listener(address)
        .silent(true)
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("building the embedded broker")
}

/// A port nobody listens on now. The broker binds it a moment later; the window for another
/// process to take it is small and only costs a retry of the test.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn wait_until_listening(address: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    anyhow::bail!("the embedded broker did not start listening on {address}")
}
