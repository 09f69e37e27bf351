//! yujing's HTTP server: the work-order API, the command-centre feed and ingestion over HTTP, served by
//! `yujing run` alongside the pipeline.
//!
//! # Layout
//! - [`start`]: serves a [`Pipeline`] on a bound listener (port 0 in tests) with its background tasks —
//!   supervision on a timer, a polled drop directory, upstream Kafka topics, one webhook deliverer per receiver —
//!   and returns the
//!   running [`Server`], which [`Server::stop`] shuts down gracefully.
//! - [`instance`]: one instance of `yujing run`: [`instance::run`] opens the configured store for writing (a
//!   standby until it holds the lease on Kafka) and serves it until a shutdown future completes.
//! - [`config`]: `[server]`, read from the engine's configuration and checked.
//! - [`cluster`]: an instance of a sharded store: [`cluster::run_sharded`] runs the shards the writers' group
//!   gives it until a shutdown future completes; [`cluster::plan`] (pure) decides what to start and stop.
//! - [`start_worker`]: the same background tasks without a listener, for each shard an instance runs of a
//!   sharded store; [`shards`] serves such an instance's `/health`, `/metrics`, the API over every shard and the
//!   event stream of every shard.
//! - [`api`]: the routes ([`api::ROUTES`], described by `schemas/openapi.json`): work orders, their commands,
//!   warnings and clusters with their evidence, supervision on demand, ingestion of a feed's own format.
//! - [`feed`]: the outbox as server-sent events, and signed webhook delivery with retries and backoff.
//! - `/metrics`: the Prometheus exposition ([`yujing_engine::Metrics`]), gauges refreshed at each scrape.
//! - [`console`]: the command centre's page (一图展示) at `/`: the county map, the warnings, the work-order
//!   board, the towns and the trend, live, with evidence and actions; embedded in the binary.
//! - [`cap`]: warnings as CAP 1.2 alerts (`Accept: application/cap+xml`, webhooks with `format = "cap"`).
//! - [`auth`]: bearer tokens bound to a role, a unit and a town ([`auth::Principal`]), and the page's
//!   sessions (an `HttpOnly` cookie with a CSRF token).
//! - [`error::ApiError`]: 4xx answers that say what was wrong and what would work.
//!
//! The server reads projections and issues commands through the [`Pipeline`]; it never writes the log itself,
//! except webhook delivery progress.

pub mod api;
pub mod auth;
pub mod cap;
pub mod cluster;
pub mod config;
pub mod console;
pub mod drop_dir;
pub mod error;
pub mod feed;
pub mod http;
pub mod instance;
pub mod shards;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yujing_engine::{Metrics, Pipeline, SourceConfig};
use yujing_log::KafkaSource;
use yujing_log::{Log, Offset};

pub use auth::{Principal, Tokens};
pub use config::{CapConfig, ServerConfig};
pub use error::ApiError;
pub use feed::{delivered_key, signature};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The pipeline; one step at a time.
    pub pipeline: Arc<Mutex<Pipeline>>,
    /// Decodes and normalizes pushed inputs before the pipeline's lock is taken, so a push is prepared while
    /// the pipeline works on the one before.
    pub preparer: yujing_engine::Preparer,
    /// The log (for readers that need no lock: SSE, webhooks).
    pub log: Arc<dyn Log>,
    /// The tokens.
    pub tokens: Tokens,
    /// The outbox's end offset, announced after every step so SSE streams and webhooks wake.
    pub outbox_end: Arc<watch::Sender<Offset>>,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Turns true when the server stops, ending long-lived responses (SSE).
    pub stopping: watch::Receiver<bool>,
    /// The metrics (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// One permit per event stream that may be open (`server.max_event_streams`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// The last pipeline step that failed inside yujing, until one succeeds again (`/health`).
    pub failing: Arc<Mutex<Option<Failure>>>,
    /// The names of the configured webhooks (`/api/v1/webhooks`).
    pub webhooks: Arc<Vec<String>>,
    /// Held while `/metrics` refreshes and encodes (never the pipeline's lock: a scrape does not wait for a step).
    pub metrics_refresh: Arc<Mutex<()>>,
    /// The county map, projected once.
    pub map: Arc<console::map::CountyMap>,
    /// The sender of CAP alerts.
    pub cap: Arc<CapConfig>,
    /// The pipeline's clock (a test's manual one): what `/health` measures stalls against.
    pub clock: Arc<dyn yujing_engine::Clock>,
    /// How long a webhook may fail, or a consumer's oldest record wait, before `/health` says `degraded`
    /// (`server.degraded_after_secs`).
    pub degraded_after: Duration,
}

/// A pipeline step that failed inside yujing (a storage error, a full disk), for `/health`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// When, by the wall clock.
    pub since: chrono::DateTime<chrono::Utc>,
    /// What failed (redacted).
    pub error: String,
}

/// How [`start`] runs the background tasks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run supervision on a timer (`server.supervise_every_secs`).
    pub supervise: bool,
    /// A drop directory to poll (`server.watch_dir` or `--watch`).
    pub watch_dir: Option<PathBuf>,
    /// Upstream Kafka topics to ingest as they are published, each with how to reach its cluster.
    pub sources: Vec<(SourceConfig, yujing_log::KafkaClient)>,
}

/// A running server and its tasks.
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    worker: Worker,
}

/// A pipeline's background tasks (supervision, a drop directory, upstream topics, webhooks) without an HTTP
/// listener: what an instance runs for each shard of a sharded store ([`start_worker`]).
pub struct Worker {
    state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Serves `pipeline` on `listener` with the background tasks `options` asks for and a deliverer per webhook.
pub fn start(
    pipeline: Pipeline,
    config: &ServerConfig,
    demo: bool,
    listener: TcpListener,
    options: Options,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let mut worker = start_worker(pipeline, config, demo, options);
    let app = api::router(worker.state.clone());
    let stop = worker.shutdown.subscribe();
    let limits = http::Limits::of(config)?;
    worker
        .tasks
        .push(tokio::spawn(http::serve(listener, app, limits, stop)));
    Ok(Server { addr, worker })
}

/// Runs `pipeline`'s background tasks as `options` asks, and a deliverer per webhook, with no HTTP listener.
pub fn start_worker(pipeline: Pipeline, config: &ServerConfig, demo: bool, options: Options) -> Worker {
    let log = pipeline.log().clone();
    let clock = pipeline.clock().clone();
    let end = pipeline.outbox_end().unwrap_or(0);
    let metrics = pipeline.metrics().clone();
    for hook in &config.webhooks {
        metrics.add_webhook(&hook.name);
    }
    let (shutdown, stopping) = watch::channel(false);
    // A shard of a sharded store ingests what the router hands it, as often as an upstream topic is gathered.
    let routed_every = (!pipeline.shard().is_whole()).then(|| pipeline.commit_interval());
    let map = Arc::new(console::map::CountyMap::new(pipeline.outline().clone()));
    let preparer = pipeline.preparer();
    let state = AppState {
        preparer,
        pipeline: Arc::new(Mutex::new(pipeline)),
        log: log.clone(),
        tokens: Tokens::new(&config.tokens, demo),
        outbox_end: Arc::new(watch::channel(end).0),
        max_body_bytes: config.max_body_bytes,
        stopping,
        metrics: metrics.clone(),
        event_streams: Arc::new(tokio::sync::Semaphore::new(config.max_event_streams)),
        failing: Arc::new(Mutex::new(None)),
        webhooks: Arc::new(config.webhooks.iter().map(|h| h.name.clone()).collect()),
        metrics_refresh: Arc::new(Mutex::new(())),
        map,
        cap: Arc::new(config.cap.clone()),
        clock: clock.clone(),
        degraded_after: Duration::from_secs(config.degraded_after_secs),
    };
    let mut tasks = Vec::new();
    if options.supervise {
        let every = Duration::from_secs(config.supervise_every_secs);
        tasks.push(periodic(state.clone(), every, shutdown.subscribe(), |p| {
            let events = p.supervise()?;
            if !events.is_empty() {
                tracing::info!(events = events.len(), "supervision");
            }
            Ok(())
        }));
    }
    if let Some(dir) = options.watch_dir {
        let every = Duration::from_secs(config.watch_every_secs);
        tasks.push(tokio::spawn(drop_dir::poll(
            state.clone(),
            dir,
            every,
            shutdown.subscribe(),
        )));
    }
    for (source, client) in options.sources {
        tasks.push(spawn_source(state.clone(), source, client, shutdown.subscribe()));
    }
    if let Some(every) = routed_every {
        tasks.push(spawn_routed(state.clone(), every, shutdown.subscribe()));
    }
    for hook in &config.webhooks {
        let Some(secret) = hook.resolved_secret() else {
            tracing::error!(webhook = %hook.name, "no secret; not delivered");
            continue;
        };
        tasks.push(tokio::spawn(feed::deliver_webhook(
            feed::Receiver {
                hook: hook.clone(),
                secret,
                cap: config.cap.clone(),
            },
            log.clone(),
            clock.clone(),
            metrics.clone(),
            state.outbox_end.subscribe(),
            shutdown.subscribe(),
        )));
    }
    Worker {
        state,
        shutdown,
        tasks,
    }
}

/// Tells SSE streams and webhook deliverers that the outbox may have grown.
pub(crate) fn announce(state: &AppState, pipeline: &Pipeline) {
    if let Ok(end) = pipeline.outbox_end() {
        state.outbox_end.send_if_modified(|seen| {
            let changed = *seen != end;
            *seen = end;
            changed
        });
    }
}

/// Ingests an upstream topic until shutdown, on a thread of its own (the Kafka consumer blocks). It starts where
/// the log says the source stands; after a failed ingest it starts again from there.
fn spawn_source(
    state: AppState,
    source: SourceConfig,
    client: yujing_log::KafkaClient,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    /// How often the upstream lag is read (a round trip per partition).
    const LAG_EVERY: Duration = Duration::from_secs(1);
    /// The most upstream messages one step takes.
    const MAX_STEP_MESSAGES: usize = 5_000;
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(30);
        let gather = state
            .pipeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .commit_interval();
        let pause = |seconds: u64| {
            for _ in 0..seconds * 10 {
                if *shutdown.borrow() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        while !*shutdown.borrow() {
            let positions = match state
                .pipeline
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .source_positions(&source)
            {
                Ok(positions) => positions,
                Err(error) => {
                    tracing::error!(source = %source.name, %error, "reading the source's position");
                    pause(5);
                    continue;
                }
            };
            let consumer = match KafkaSource::open(&client, &source.topic, &positions, timeout) {
                Ok(consumer) => consumer,
                Err(error) => {
                    tracing::warn!(source = %source.name, topic = %source.topic, error = %error, "cannot read the upstream topic yet");
                    pause(5);
                    continue;
                }
            };
            tracing::info!(source = %source.name, topic = %source.topic, "reading the upstream topic");
            let mut lag_read: Option<Instant> = None;
            while !*shutdown.borrow() {
                if lag_read.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
                    lag_read = Some(Instant::now());
                    match consumer.lag(timeout) {
                        Ok(lag) => {
                            for (partition, records) in lag {
                                state
                                    .metrics
                                    .lag
                                    .with_label_values(&[&format!("source:{}/{partition}", source.name)])
                                    .set(records);
                            }
                        }
                        Err(error) => {
                            tracing::debug!(source = %source.name, %error, "reading the upstream lag")
                        }
                    }
                }
                let messages = match consumer.poll(MAX_STEP_MESSAGES, Duration::from_millis(500), gather) {
                    Ok(messages) => messages,
                    Err(error) => {
                        tracing::warn!(source = %source.name, %error, "polling the upstream topic");
                        break;
                    }
                };
                if messages.is_empty() {
                    continue;
                }
                // Where the source stands is on the log (only this loop moves it, each step commits it), and the
                // records are decoded and normalized here, before the pipeline's lock is taken: beside its step.
                let mut positions = match state
                    .pipeline
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .source_positions(&source)
                {
                    Ok(positions) => positions,
                    Err(error) => {
                        tracing::error!(source = %source.name, %error, "reading the source's position");
                        pause(2);
                        break;
                    }
                };
                let prepared = yujing_engine::sources::inputs_of(&source, &messages, &mut positions)
                    .iter()
                    .map(|(name, bytes)| state.preparer.prepare(source.feed, name, bytes))
                    .collect();
                let mut pipeline = state.pipeline.lock().unwrap_or_else(|e| e.into_inner());
                let result = pipeline.ingest_source_batch(&source, prepared, &positions);
                announce(&state, &pipeline);
                drop(pipeline);
                match result {
                    Ok((report, step)) => tracing::info!(
                        source = %source.name,
                        messages = messages.len(),
                        new_clues = report.new_clues,
                        rejected = report.rejected,
                        warnings = step.warnings.len(),
                        "upstream records ingested"
                    ),
                    Err(error) => {
                        tracing::error!(source = %source.name, %error, "ingesting upstream records; starting again from the recorded position");
                        pause(2);
                        break;
                    }
                }
            }
        }
    })
}

/// Ingests what the router hands this shard ([`yujing_engine::route`]) until shutdown: at once while messages
/// wait, then every `every`. A message that cannot be read stops the shard there (it is tried again, and
/// `/health` says so) rather than skip the records it carries.
fn spawn_routed(state: AppState, every: Duration, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    /// The most routed messages one step takes (each is a part of an input, up to a few hundred records).
    const MAX_STEP_MESSAGES: usize = 64;
    tokio::spawn(async move {
        loop {
            let stepping = state.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut pipeline = stepping.pipeline.lock().unwrap_or_else(|e| e.into_inner());
                let result = pipeline.ingest_routed(MAX_STEP_MESSAGES);
                announce(&stepping, &pipeline);
                // A failure is what `/health` reports until a step succeeds again; finding nothing waiting is
                // no step, and says nothing about another task's failure.
                let mut failing = stepping.failing.lock().unwrap_or_else(|e| e.into_inner());
                match &result {
                    Err(error) if failing.is_none() => {
                        *failing = Some(Failure {
                            since: chrono::Utc::now(),
                            error: yujing_feeds::pii::redact(&yujing_engine::error_chain(error)),
                        })
                    }
                    Ok(Some(_)) => *failing = None,
                    _ => {}
                }
                result
            })
            .await;
            let pause = match result {
                Ok(Ok(Some((report, step)))) => {
                    tracing::debug!(
                        records = report.records,
                        new_clues = report.new_clues,
                        rejected = report.rejected,
                        warnings = step.warnings.len(),
                        "routed records ingested"
                    );
                    Duration::ZERO
                }
                Ok(Ok(None)) => every,
                Ok(Err(error)) => {
                    tracing::error!(error = %yujing_engine::error_chain(&error),
                        "ingesting routed records; trying again");
                    Duration::from_secs(1)
                }
                // The runtime is stopping.
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    })
}

fn periodic(
    state: AppState,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    step: impl Fn(&mut Pipeline) -> Result<(), yujing_engine::PipelineError> + Send + Sync + Clone + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let step = step.clone();
            let result = api::with_pipeline(&state, move |p| step(p).map_err(ApiError::from)).await;
            if let Err(error) = result {
                tracing::error!(code = error.code, message = %error.message, "background step failed");
            }
        }
    })
}

impl Server {
    /// The shared state (tests drive the pipeline through it).
    pub fn state(&self) -> &AppState {
        &self.worker.state
    }

    /// Stops accepting requests, lets running ones and in-flight webhook deliveries finish, and waits for
    /// every task; the store is closed once the last handle to it is dropped.
    pub async fn stop(self) {
        self.worker.stop().await;
    }
}

impl Worker {
    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops the tasks (an upstream topic's reader after its current batch, a webhook after its delivery) and
    /// waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // The tasks are done: snapshot what was correlated since the last snapshot, so the next start replays
        // only what comes after.
        let pipeline = self.state.pipeline.clone();
        let _ = tokio::task::spawn_blocking(move || {
            pipeline
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .snapshot_if_due(true)
        })
        .await;
    }
}
