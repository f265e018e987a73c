//! The app: every listener's consumers, started together and shut down gracefully.

#[cfg(feature = "prometheus")]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use retry_core::registry;
use retry_core::{check_instance_id, DestinationKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::commit_metadata::metadata_limit;
use crate::consumer::{spawn_consumers, ConsumerSettings, Consumers};
use crate::describe;
use crate::error::StartError;
use crate::forward::Forwarder;
use crate::kafka_config::{KafkaSettings, Role};
use crate::key_order_checks::{check_drain_fits, check_group_members, GroupChecked};
use crate::listener::{self, Listener};
use crate::orphans;
use crate::provision;
use crate::state::StateRegistry;

/// Looks up `RETRY_<HANDLER>_<SETTING>` overrides.
type SettingsEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Configures and starts the app; [`crate::run`] is `RetryApp::builder().run()`.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// let app = retry_runtime::RetryApp::builder()
///     .bootstrap_servers("kafka-1:9092,kafka-2:9092")
///     .client_property("security.protocol", "SSL")
///     .start()
///     .await?;
/// app.ready().await;
/// app.shutdown().await;
/// # Ok(()) }
/// ```
pub struct RetryApp;

impl RetryApp {
    /// A builder reading `KAFKA_*` and `RETRY_*` from the process environment.
    pub fn builder() -> RetryAppBuilder {
        RetryAppBuilder {
            bootstrap_servers: None,
            properties: Vec::new(),
            only: None,
            settings_env: Arc::new(|var| std::env::var(var).ok()),
            startup_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            dead_partition_after: retry_core::DEAD_PARTITION_AFTER,
            instance_id: std::env::var("RETRY_INSTANCE_ID")
                .ok()
                .filter(|id| !id.is_empty()),
            states: StateRegistry::default(),
            #[cfg(feature = "prometheus")]
            metrics_address: None,
        }
    }
}

/// Builder of a [`RunningApp`].
pub struct RetryAppBuilder {
    bootstrap_servers: Option<String>,
    properties: Vec<(String, String)>,
    only: Option<Vec<String>>,
    settings_env: SettingsEnv,
    startup_timeout: Duration,
    shutdown_grace: Duration,
    dead_partition_after: Duration,
    instance_id: Option<String>,
    states: StateRegistry,
    /// Set by [`RetryAppBuilder::metrics_address`]; else `RETRY_METRICS_ADDR`.
    #[cfg(feature = "prometheus")]
    metrics_address: Option<SocketAddr>,
}

impl RetryAppBuilder {
    /// Serves `/metrics` (Prometheus), `/health` and `/ready` on `address`, over
    /// `RETRY_METRICS_ADDR` (port 0 picks a free port; see
    /// [`RunningApp::metrics_address`]). Installs the Prometheus recorder as the process'
    /// `metrics` recorder.
    #[cfg(feature = "prometheus")]
    pub fn metrics_address(mut self, address: SocketAddr) -> Self {
        self.metrics_address = Some(address);
        self
    }

    /// Registers `value` as the `State<T>` of every handler that takes one (axum's
    /// `with_state`, one value per type). Each call of such a handler gets a clone, so a
    /// value that is expensive to clone belongs in an `Arc`.
    ///
    /// Start-up fails, naming the handler and the type, when a handler takes a `State<T>`
    /// that was never registered; a type registered twice fails it too.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use retry_runtime::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Db(Arc<std::sync::Mutex<Vec<String>>>);
    ///
    /// #[retryable_topic(topic = "audit")]
    /// async fn audit(rec: Record<Text>, State(db): State<Db>) -> anyhow::Result<()> {
    ///     db.0.lock().unwrap().push(rec.value().to_string());
    ///     Ok(())
    /// }
    ///
    /// #[tokio::main]
    /// async fn main() -> anyhow::Result<()> {
    ///     let db = Db(Arc::default());
    ///     retry_runtime::run_with(RetryApp::builder().state(db)).await
    /// }
    /// ```
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Names this instance for static group membership (Kafka's `group.instance.id`), over
    /// `RETRY_INSTANCE_ID`: give each replica a stable, unique id (a StatefulSet pod name) and
    /// a restarted replica takes its partitions back at once, without a rebalance. Its
    /// partitions then wait for it (up to the session timeout) rather than moving when it
    /// stops. Each consumer joins its group as `<id>-<topic>`
    /// ([`static_member_id`](retry_core::static_member_id)), so listeners sharing a group
    /// never share an instance id. Start-up fails, naming `RETRY_INSTANCE_ID`, on an id Kafka
    /// would refuse or that could give two replicas' consumers one member id
    /// ([`check_instance_id`](retry_core::check_instance_id)).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Overrides `KAFKA_BOOTSTRAP_SERVERS`.
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.bootstrap_servers = Some(servers.into());
        self
    }

    /// Sets a librdkafka client property for every client of the app, over `KAFKA_*`.
    pub fn client_property(
        mut self,
        property: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.properties.push((property.into(), value.into()));
        self
    }

    /// Runs only the named `#[retryable_topic]` handlers (and their DLT handlers) instead of
    /// every one linked into the program.
    pub fn listeners<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Where `RETRY_<HANDLER>_<SETTING>` overrides are looked up (default: the process
    /// environment).
    pub fn settings_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.settings_env = Arc::new(lookup);
        self
    }

    /// How long start-up waits for the broker before failing (default 10 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// How long shutdown lets in-flight records finish before abandoning them uncommitted
    /// (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How long a partition may stay in error with no record read from it before the app
    /// fails, naming the partition and its error (default 60 s,
    /// [`DEAD_PARTITION_AFTER`](retry_core::DEAD_PARTITION_AFTER)). librdkafka reports some
    /// errors once and then stops fetching the partition for good (`auto.offset.reset=error`
    /// with no committed offset, a topic the consumer may no longer read): without this the
    /// partition would silently never be read again while `/health` says ok.
    pub fn dead_partition_after(mut self, after: Duration) -> Self {
        self.dead_partition_after = after;
        self
    }

    /// Starts and runs until SIGINT or SIGTERM, then shuts down gracefully; a second signal
    /// during shutdown exits at once (uncommitted records are redelivered). Returns an error
    /// when a consumer failed and the app had to stop.
    pub async fn run(self) -> anyhow::Result<()> {
        let app = self.start().await?;
        let failure = tokio::select! {
            _ = shutdown_signal() => None,
            failure = app.failed() => Some(failure),
        };
        tracing::info!("shutting down");
        tokio::select! {
            _ = app.shutdown() => {}
            _ = shutdown_signal() => {
                tracing::warn!("second signal: exiting without finishing in-flight records");
                std::process::exit(130);
            }
        }
        match failure {
            Some(failure) => Err(anyhow::anyhow!(failure)),
            None => Ok(()),
        }
    }

    /// Resolves the listeners, connects, creates missing topics and starts one consumer per
    /// listener topic. Fails fast, naming the setting at fault.
    pub async fn start(self) -> Result<RunningApp, StartError> {
        let mut kafka = KafkaSettings::from_env(std::env::vars())?;
        if let Some(servers) = &self.bootstrap_servers {
            kafka.set_checked("bootstrap.servers", servers)?;
        }
        for (property, value) in &self.properties {
            kafka.set_checked(property, value)?;
        }
        kafka.check_pinned()?;
        for warning in kafka.warnings() {
            tracing::warn!("{warning}");
        }
        // Before any metric is registered, so that every one is exported.
        #[cfg(feature = "prometheus")]
        let exporter = self.exporter()?;
        #[cfg(not(feature = "prometheus"))]
        self.warn_without_exporter();
        let mut listeners: Vec<Listener> = listener::resolve(
            registry::listeners(),
            registry::dlt_handlers(),
            self.only.as_deref(),
            &*self.settings_env,
            &self.states,
        )?;
        crate::backtraces::capture_only_if_shown(&listeners);
        check_threads_for_key_order(&listeners)?;
        check_drain_for_key_order(&listeners, &kafka)?;

        let admin: Arc<AdminClient<DefaultClientContext>> =
            Arc::new(kafka.client_config(Role::Admin).create()?);
        let existing =
            provision::existing_topics(&admin, kafka.bootstrap_servers(), self.startup_timeout)
                .await?;
        orphans::attach(&mut listeners, &kafka, &existing, self.startup_timeout).await?;
        if let Some(instance) = &self.instance_id {
            let consumers = listeners.iter().flat_map(|l| {
                l.consumed_topics()
                    .map(|t| (t.group.as_str(), t.name.as_str()))
            });
            check_instance_id(instance, consumers)?;
        }
        let listeners: Vec<Arc<Listener>> = listeners.into_iter().map(Arc::new).collect();
        let work = provision::plan(&listeners, &existing)?;
        for warning in &work.warnings {
            tracing::warn!("{warning}");
        }
        provision::check_key_order_topics(&admin, &listeners, &existing, self.startup_timeout)
            .await?;
        check_groups_for_key_order(&listeners, &admin, self.startup_timeout).await?;
        provision::create(&admin, &work.create, self.startup_timeout).await?;
        let partitions = provision::partition_counts(
            &admin,
            kafka.bootstrap_servers(),
            existing,
            &work.create,
            self.startup_timeout,
        )
        .await?;

        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let destinations = listeners
            .iter()
            .flat_map(|l| l.config.topics.topics())
            .filter(|t| t.kind != DestinationKind::Main)
            .map(|t| t.name.as_str());
        let forwarder = Arc::new(Forwarder::new(
            &kafka.client_config(Role::Producer),
            partitions,
            destinations,
            abort.clone(),
        )?);
        let (failure, failed) = watch::channel(None);
        let commit_metadata = commit_metadata_limit(&listeners, &admin, self.startup_timeout).await;

        let Consumers {
            tasks,
            ready,
            topics,
            breakers,
        } = spawn_consumers(
            &listeners,
            &kafka,
            &ConsumerSettings {
                instance_id: self.instance_id.as_deref(),
                dead_partition_after: self.dead_partition_after,
                commit_metadata,
            },
            &forwarder,
            &failure,
            &stop,
            &abort,
        )?;
        tracing::info!(
            consumers = tasks.len(),
            bootstrap = kafka.bootstrap_servers(),
            "started"
        );
        // Only `/ready` reads them.
        #[cfg(not(feature = "prometheus"))]
        drop(breakers);
        #[cfg(feature = "prometheus")]
        let metrics_address = match exporter {
            Some((address, handle)) => {
                let probes = crate::exporter::Probes {
                    ready: ready.clone(),
                    failed: failed.clone(),
                    breakers,
                };
                Some(crate::exporter::serve(address, handle, probes, stop.clone()).await?)
            }
            None => None,
        };
        Ok(RunningApp {
            #[cfg(feature = "prometheus")]
            metrics_address,
            stop,
            abort,
            tasks,
            ready,
            topics,
            failed,
            shutdown_grace: self.shutdown_grace,
        })
    }
}

impl RetryAppBuilder {
    /// The endpoint's address and the installed recorder, when one is asked for.
    #[cfg(feature = "prometheus")]
    fn exporter(
        &self,
    ) -> Result<Option<(SocketAddr, metrics_exporter_prometheus::PrometheusHandle)>, StartError>
    {
        use crate::exporter::{install, parse_address, METRICS_ADDR_VAR};
        let address = match (self.metrics_address, std::env::var(METRICS_ADDR_VAR)) {
            (Some(address), _) => address,
            (None, Ok(text)) if !text.is_empty() => parse_address(&text, METRICS_ADDR_VAR)?,
            _ => return Ok(None),
        };
        Ok(Some((address, install()?)))
    }

    /// Without the `prometheus` feature there is no endpoint: say so when one is asked for.
    #[cfg(not(feature = "prometheus"))]
    fn warn_without_exporter(&self) {
        if std::env::var_os("RETRY_METRICS_ADDR").is_some() {
            tracing::warn!(
                "RETRY_METRICS_ADDR is set, but retry-runtime was built without its \
                 `prometheus` feature: no metrics endpoint"
            );
        }
    }
}

/// A started app; dropping it without [`shutdown`](Self::shutdown) stops nothing.
pub struct RunningApp {
    #[cfg(feature = "prometheus")]
    metrics_address: Option<SocketAddr>,
    stop: CancellationToken,
    abort: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    ready: Vec<watch::Receiver<bool>>,
    topics: Vec<String>,
    failed: watch::Receiver<Option<String>>,
    shutdown_grace: Duration,
}

impl RunningApp {
    /// Resolves when the app stopped on its own: a consumer failed in a way it cannot
    /// recover from, or ended before shutdown for any reason, a panic included (the error
    /// says which; `/health` then answers 503). [`run`] then exits with that error.
    pub async fn failed(&self) -> String {
        let mut failed = self.failed.clone();
        let failure = match failed.wait_for(Option::is_some).await {
            Ok(failure) => failure.clone().unwrap_or_default(),
            // Every consumer task ended without failing: nothing will fail any more.
            Err(_) => return std::future::pending().await,
        };
        failure
    }

    /// Resolves once every consumer of a planned topic has partitions assigned (orphans'
    /// consumers do not count: `design/orphaned-retry-topics.md`).
    pub async fn ready(&self) {
        for assigned in &self.ready {
            let mut assigned = assigned.clone();
            // The sender lives as long as its consumer, which lives until shutdown.
            let _ = assigned.wait_for(|ready| *ready).await;
        }
    }

    /// Every topic consumed, one consumer each: main topics, retry topics, DLTs.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Where `/metrics`, `/health` and `/ready` are served, when they are.
    #[cfg(feature = "prometheus")]
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Stops fetching, lets in-flight records finish (forwards are abandoned, uncommitted,
    /// after the grace period), commits what was done and leaves the consumer groups. Returns
    /// within the grace period and 5 s more: a consumer that has not committed and left its
    /// group by then (the broker gone) is left behind, named at WARN.
    pub async fn shutdown(self) {
        let deadline = crate::shutdown::deadline(tokio::time::Instant::now(), self.shutdown_grace);
        self.stop.cancel();
        let abort = self.abort.clone();
        let grace = self.shutdown_grace;
        let abort_timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!("shutdown grace period over: abandoning in-flight forwards");
            abort.cancel();
        });
        let left =
            crate::shutdown::join_until(self.topics.into_iter().zip(self.tasks), deadline).await;
        abort_timer.abort();
        if !left.is_empty() {
            tracing::warn!(
                consumers = ?left,
                "shutdown deadline reached before these consumers committed and left their \
                 groups: what they did not commit is redelivered, and their partitions move \
                 once the group's session timeout expires"
            );
        }
        tracing::info!("stopped");
    }
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Runs every `#[retryable_topic]` and `#[dlt_handler]` in the program until SIGINT or
/// SIGTERM, configured from the environment (`KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_*`,
/// `RETRY_<HANDLER>_<SETTING>`): [`run_with`] for handlers without `State<T>` arguments.
///
/// Installs a `tracing` subscriber (filter from `RUST_LOG`, default `info`) unless the
/// program installed one.
pub async fn run() -> anyhow::Result<()> {
    run_with(RetryApp::builder()).await
}

/// [`run`] with a builder of your own: states for handlers' `State<T>` arguments, client
/// properties, a listener selection.
///
/// ```no_run
/// # #[derive(Clone)] struct Db;
/// # async fn demo() -> anyhow::Result<()> {
/// let db = Db;
/// retry_runtime::run_with(retry_runtime::RetryApp::builder().state(db)).await
/// # }
/// ```
pub async fn run_with(builder: RetryAppBuilder) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    builder.run().await
}

/// With `ordering = "key"`, refuses a `max.poll.interval.ms` shorter than a revocation may
/// wait (see [`StartError::KeyOrderDrain`]).
fn check_drain_for_key_order(
    listeners: &[Listener],
    kafka: &KafkaSettings,
) -> Result<(), StartError> {
    match listeners
        .iter()
        .find(|l| l.config.topics.lock_log().is_some())
    {
        Some(listener) => check_drain_fits(
            &listener.config.name,
            kafka.get_with_origin("max.poll.interval.ms"),
        ),
        None => Ok(()),
    }
}

/// With `ordering = "key"`, refuses a foreign member in a listener's main, retry or parked
/// group before its consumers join (see [`StartError::KeyOrderForeignMember`]). Only at
/// start-up: a foreign member joining later is not seen. A group the classic DescribeGroups
/// does not describe (KIP-848's consumer protocol) is logged at DEBUG, and one whose describe
/// failed at WARN; neither holds start-up back.
async fn check_groups_for_key_order(
    listeners: &[Arc<Listener>],
    admin: &Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> Result<(), StartError> {
    let groups: Vec<(&str, &str)> = listeners
        .iter()
        .filter(|l| l.config.ordering == retry_core::ProcessingOrder::Key)
        .flat_map(|l| {
            l.config
                .topics
                .topics()
                .filter(|t| t.kind != DestinationKind::Dlt)
                .map(|t| (l.config.name.as_str(), t.group.as_str()))
        })
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let names = groups
        .iter()
        .map(|(_, group)| (*group).to_owned())
        .collect();
    let described = describe::groups(admin, names, timeout).await;
    for ((listener, group), (_, described)) in groups.iter().zip(described) {
        match described {
            Ok(described) => match check_group_members(listener, group, described.as_ref())? {
                GroupChecked::Clear => {}
                GroupChecked::NotDescribed => tracing::debug!(
                    %group,
                    "the classic DescribeGroups describes no member of group {group} (a group of \
                     KIP-848's consumer protocol, or an error): its members are not checked"
                ),
                GroupChecked::Unjudged(members) => tracing::debug!(
                    %group,
                    members,
                    "the broker does not say the client id of some members of group {group}: \
                     those are not checked"
                ),
            },
            Err(error) => tracing::warn!(
                %group,
                %error,
                "group {group} was not described, so its members are not checked (ordering = \
                 \"key\" refuses a Spring service or a listener of another ordering in it)"
            ),
        }
    }
    Ok(())
}

/// Bytes of metadata a key-ordered main topic's commits carry at most: within the brokers'
/// `offset.metadata.max.bytes`, read only when a listener has `ordering = "key"`.
async fn commit_metadata_limit(
    listeners: &[Arc<Listener>],
    admin: &Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
) -> usize {
    let key_order = listeners
        .iter()
        .any(|l| l.config.topics.lock_log().is_some());
    if !key_order {
        return metadata_limit(None);
    }
    let limit = metadata_limit(describe::offset_metadata_max_bytes(admin, timeout).await);
    tracing::debug!(bytes = limit, "commit metadata limit");
    limit
}

/// Refuses `ordering = "key"` on a runtime of one thread (see
/// [`StartError::KeyOrderOnOneThread`]).
fn check_threads_for_key_order(listeners: &[Listener]) -> Result<(), StartError> {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    if flavor == tokio::runtime::RuntimeFlavor::MultiThread {
        return Ok(());
    }
    match listeners
        .iter()
        .find(|l| l.config.ordering == retry_core::ProcessingOrder::Key)
    {
        Some(listener) => Err(StartError::KeyOrderOnOneThread {
            listener: listener.config.name.clone(),
        }),
        None => Ok(()),
    }
}
