//! One instance of `yujing run`: the configured store opened for writing, the pipeline, the API and the
//! background tasks, until a shutdown future completes, in the way mini-redis's `server::run(listener,
//! shutdown)` does.
//!
//! A store split into shards is run by [`crate::cluster::run_sharded`]; any other by [`run`] itself. On Kafka
//! the instance waits as a standby until it holds the writer's lease, and stops, with an error, when another
//! instance takes the lease over.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use yujing_engine::store::{open_writer, OpenError};
use yujing_engine::{Built, EngineConfig, Pipeline, PipelineError, SystemClock};

use crate::cluster::{run_sharded, ClusterError, ClusterEvent, Instance};
use crate::config::ServerConfig;
use crate::Options;

/// Why an instance could not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The drop directory does not exist.
    #[error("the drop directory {0} does not exist")]
    NoDropDirectory(PathBuf),
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The pipeline could not be opened on it.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The address could not be listened on.
    #[error("cannot listen on {address}")]
    Listen {
        /// `server.listen` or `--listen`.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The listener failed.
    #[error("serving the API")]
    Serve(#[from] std::io::Error),
    /// A sharded instance failed.
    #[error(transparent)]
    Cluster(#[from] Box<ClusterError>),
    /// Another instance took over writing the log.
    #[error("another instance took over writing the log; this one stopped")]
    LeaseLost,
    /// A blocking task could not run (the runtime is stopping).
    #[error("a blocking task did not finish: {0}")]
    Task(String),
}

/// What runs beside the API: supervision, the drop directory (`watch`, else `server.watch_dir`; it must exist)
/// and the upstream topics, each with its cluster (the store's, with its client settings, when it names none).
pub fn options(
    config: &EngineConfig,
    server: &ServerConfig,
    watch: Option<PathBuf>,
) -> Result<Options, RunError> {
    let configured = (!server.watch_dir.as_os_str().is_empty()).then(|| server.watch_dir.clone());
    let watch_dir = watch.or(configured);
    if let Some(dir) = watch_dir.as_ref().filter(|dir| !dir.is_dir()) {
        return Err(RunError::NoDropDirectory(dir.clone()));
    }
    let sources = config
        .sources
        .iter()
        .map(|source| (source.clone(), source.client(&config.store.kafka)))
        .collect();
    Ok(Options {
        supervise: true,
        watch_dir,
        sources,
    })
}

/// Runs the instance `config` describes on `server.listen` until `shutdown` completes, then stops gracefully
/// (in-flight requests and webhook deliveries finish; progress is on the log, so the next start resumes).
/// `report` is told where it listens and, when sharded, which shards it runs. A standby binds its address only
/// once it holds the lease, so that it can take over on the machine of the instance it replaces.
pub async fn run(
    config: &EngineConfig,
    built: Built,
    server: ServerConfig,
    options: Options,
    shutdown: impl Future<Output = ()>,
    report: impl Fn(ClusterEvent),
) -> Result<(), RunError> {
    if server.tokens.is_empty() && !built.demo {
        tracing::warn!("no server.tokens configured: the API will refuse every request but /health");
    }
    if config.store.sharded() {
        let listener = listen_on(&server.listen).await?;
        let instance = Instance {
            kafka: config.store.kafka_log_config(),
            built,
            server,
            options,
        };
        return run_sharded(instance, listener, shutdown, report)
            .await
            .map_err(|e| RunError::Cluster(Box::new(e)));
    }
    let store = config.store.clone();
    let demo = built.demo;
    // Opening may wait for the lease and restores the projections: off the async threads.
    let (writer, pipeline) = tokio::task::spawn_blocking(move || -> Result<_, RunError> {
        let writer = open_writer(&store)?;
        let pipeline = Pipeline::open(writer.log.clone(), built, Arc::new(SystemClock))?;
        Ok((writer, pipeline))
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))??;
    let listener = listen_on(&server.listen).await?;
    let running = crate::start(pipeline, &server, demo, listener, options)?;
    tracing::info!(addr = %running.addr, webhooks = server.webhooks.len(), "yujing is serving");
    report(ClusterEvent::Listening(running.addr));
    let lease_lost = async {
        while !writer.lease_lost() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let lost = tokio::select! {
        () = shutdown => false,
        () = lease_lost => true,
    };
    tracing::info!("stopping");
    running.stop().await;
    if lost {
        return Err(RunError::LeaseLost);
    }
    Ok(())
}

/// A listener on `address`.
async fn listen_on(address: &str) -> Result<TcpListener, RunError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Listen {
            address: address.to_owned(),
            source,
        })
}
