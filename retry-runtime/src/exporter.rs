//! The Prometheus endpoint (feature `prometheus`): `/metrics` in Prometheus' text format,
//! `/health` (200 while no consumer failed) and `/ready` (200 once every consumer has joined
//! its group and has partitions), on `RETRY_METRICS_ADDR` or
//! [`RetryAppBuilder::metrics_address`](crate::RetryAppBuilder::metrics_address).
//!
//! The recorder is metrics-exporter-prometheus'; the server is a few lines of hyper, since
//! that crate's own listener serves only `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::breaker::BreakerCell;
use crate::error::StartError;

/// The environment variable naming the endpoint's address (`0.0.0.0:9464`).
pub const METRICS_ADDR_VAR: &str = "RETRY_METRICS_ADDR";

/// The process' Prometheus recorder, installed once (several apps in one process share it),
/// or why it could not be.
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the Prometheus recorder as the global `metrics` recorder, unless done before.
/// Must run before any metric is registered, or that metric is not exported. Apps starting
/// at once in one process install it once: the others wait for it.
pub(crate) fn install() -> Result<PrometheusHandle, StartError> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map(|()| handle)
                .map_err(|_| "another metrics recorder is installed in this process".into())
        })
        .clone()
        .map_err(|reason| StartError::Metrics { reason })
}

/// What `/health` and `/ready` look at.
#[derive(Clone)]
pub(crate) struct Probes {
    /// One per consumer: true once it has partitions.
    pub ready: Vec<watch::Receiver<bool>>,
    /// Set when a consumer failed and the app stops.
    pub failed: watch::Receiver<Option<String>>,
    /// The listeners' breakers: one not closed adds a line to `/ready`'s body, and changes
    /// neither status (an open breaker is the app doing the right thing).
    pub breakers: Vec<Arc<BreakerCell>>,
}

impl Probes {
    /// `/health`: alive while no consumer task failed.
    fn health(&self) -> (StatusCode, String) {
        match self.failed.borrow().as_deref() {
            None => (StatusCode::OK, "ok\n".into()),
            Some(failure) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("failed: {failure}\n"),
            ),
        }
    }

    /// `/ready`: every consumer has joined its group; a line per breaker not closed.
    fn ready(&self) -> (StatusCode, String) {
        let waiting = self.ready.iter().filter(|r| !*r.borrow()).count();
        match waiting {
            0 => {
                let mut body = String::from("ready\n");
                for line in self.breakers.iter().filter_map(|b| b.status()) {
                    body.push_str(&line);
                    body.push('\n');
                }
                (StatusCode::OK, body)
            }
            n => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{n} of {} consumers have not joined their group yet\n",
                    self.ready.len()
                ),
            ),
        }
    }
}

/// Binds `address` and serves the endpoint until `stop`; returns the bound address (port 0
/// picks a free one).
pub(crate) async fn serve(
    address: SocketAddr,
    handle: PrometheusHandle,
    probes: Probes,
    stop: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| StartError::Metrics {
            reason: format!("cannot listen on {address}: {error}"),
        })?;
    let bound = listener.local_addr().map_err(|error| StartError::Metrics {
        reason: error.to_string(),
    })?;
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "metrics endpoint: accept failed");
                        continue;
                    }
                },
            };
            let handle = handle.clone();
            let probes = probes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (status, body) = match request.uri().path() {
                        "/metrics" => (StatusCode::OK, handle.render()),
                        "/health" => probes.health(),
                        "/ready" => probes.ready(),
                        _ => (
                            StatusCode::NOT_FOUND,
                            "try /metrics, /health or /ready\n".into(),
                        ),
                    };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    async move { Ok::<_, Infallible>(response) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(error) = served {
                    tracing::debug!(%error, "metrics endpoint: connection ended");
                }
            });
        }
    });
    tracing::info!(address = %bound, "serving /metrics, /health and /ready");
    Ok(bound)
}

/// Parses the endpoint's address, naming where it came from when invalid.
pub(crate) fn parse_address(text: &str, origin: &str) -> Result<SocketAddr, StartError> {
    text.parse().map_err(|_| StartError::Metrics {
        reason: format!("{origin}={text} is not an address such as 0.0.0.0:9464"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_fails_with_a_consumer_and_ready_waits_for_all() {
        let (ready_a, a) = watch::channel(true);
        let (ready_b, b) = watch::channel(false);
        let (failure, failed) = watch::channel(None);
        let probes = Probes {
            ready: vec![a, b],
            failed,
            breakers: Vec::new(),
        };
        assert_eq!(probes.health().0, StatusCode::OK);
        assert_eq!(
            probes.ready(),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "1 of 2 consumers have not joined their group yet\n".into()
            )
        );
        ready_b.send_replace(true);
        assert_eq!(probes.ready().0, StatusCode::OK);
        failure.send_replace(Some("a partition task of topic orders failed".into()));
        assert_eq!(
            probes.health(),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "failed: a partition task of topic orders failed\n".into()
            )
        );
        drop(ready_a);
    }

    #[test]
    fn a_bad_address_names_its_origin() {
        assert_eq!(
            parse_address("localhost", METRICS_ADDR_VAR)
                .unwrap_err()
                .to_string(),
            "metrics endpoint: RETRY_METRICS_ADDR=localhost is not an address such as 0.0.0.0:9464"
        );
        assert!(parse_address("127.0.0.1:0", METRICS_ADDR_VAR).is_ok());
    }
}
