//! `yujing run`: the HTTP API, the page, SSE and webhooks alongside the pipeline, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use yujing_engine::{Built, EngineConfig, Pipeline, SystemClock};
use yujing_log::Log;

use crate::open_log;

/// `yujing run`: serves until Ctrl-C or SIGTERM, then stops gracefully (in-flight requests and webhook
/// deliveries finish; progress is on disk, so the next start resumes).
pub(crate) fn serve(
    config: &EngineConfig,
    built: &Built,
    listen: Option<String>,
    watch: Option<PathBuf>,
) -> Result<()> {
    let mut server_config = config.server.clone();
    if let Some(listen) = listen {
        server_config.listen = listen;
    }
    if server_config.tokens.is_empty() && !built.demo {
        tracing::warn!("no server.tokens configured: the API will refuse every request but /health");
    }
    let options = background_tasks(config, &server_config, watch)?;
    if config.store.backend == yujing_engine::Backend::Kafka && config.store.kafka.partitions > 1 {
        return serve_shards(config, built, &server_config, options);
    }
    // On Kafka, `run` waits as a standby until it holds the writer's lease, and stops if it loses it.
    let (log, leased): (Arc<dyn Log>, Option<Arc<yujing_log::KafkaLog>>) =
        if config.store.backend == yujing_engine::Backend::Kafka {
            let kafka = config.store.kafka_log_config();
            let servers = kafka.bootstrap_servers.clone();
            let log = Arc::new(
                yujing_log::KafkaLog::open_leased(kafka, None)
                    .with_context(|| format!("cannot open the log on Kafka at {servers} for writing"))?,
            );
            (log.clone(), Some(log))
        } else {
            (open_log(config)?, None)
        };
    let pipeline = Pipeline::open(log, built.clone(), Arc::new(SystemClock))?;
    async_runtime()?.block_on(async move {
        let listener = listen_on(&server_config.listen).await?;
        let server = yujing_server::start(pipeline, &server_config, built.demo, listener, options)?;
        tracing::info!(addr = %server.addr, webhooks = server_config.webhooks.len(), "yujing is serving");
        println!("listening on http://{}", server.addr);
        let lost = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                if leased.as_ref().is_some_and(|log| log.lease_lost()) {
                    return;
                }
            }
        };
        let lease_lost = tokio::select! {
            _ = shutdown_signal() => false,
            _ = lost => true,
        };
        tracing::info!("stopping");
        server.stop().await;
        if lease_lost {
            anyhow::bail!("another instance took over writing the log; this one stopped");
        }
        Ok(())
    })
}

/// What runs beside the API: supervision, the drop directory (`--watch` or `server.watch_dir`, which must
/// exist), and the upstream topics, each with its brokers (the store's when it names none).
fn background_tasks(
    config: &EngineConfig,
    server_config: &yujing_engine::ServerConfig,
    watch: Option<PathBuf>,
) -> Result<yujing_server::Options> {
    let watch_dir = watch.or_else(|| {
        (!server_config.watch_dir.as_os_str().is_empty()).then(|| server_config.watch_dir.clone())
    });
    if let Some(dir) = &watch_dir {
        anyhow::ensure!(
            dir.is_dir(),
            "the drop directory {} does not exist",
            dir.display()
        );
    }
    let sources = config
        .sources
        .iter()
        .map(|s| {
            let bootstrap = if s.bootstrap_servers.trim().is_empty() {
                config.store.kafka.bootstrap_servers.clone()
            } else {
                s.bootstrap_servers.clone()
            };
            (s.clone(), bootstrap)
        })
        .collect();
    Ok(yujing_server::Options {
        supervise: true,
        watch_dir,
        sources,
    })
}
/// `yujing run` on a sharded store: the instance runs the shards the writers' group gives it
/// ([`yujing_server::cluster`]) until Ctrl-C or SIGTERM, and says which.
fn serve_shards(
    config: &EngineConfig,
    built: &Built,
    server_config: &yujing_engine::ServerConfig,
    options: yujing_server::Options,
) -> Result<()> {
    use yujing_server::cluster::{run_sharded, ClusterEvent, Instance};
    let instance = Instance {
        kafka: config.store.kafka_log_config(),
        built: built.clone(),
        server: server_config.clone(),
        options,
    };
    async_runtime()?.block_on(async move {
        let listener = listen_on(&server_config.listen).await?;
        run_sharded(instance, listener, shutdown_signal(), |event| match event {
            ClusterEvent::Listening(addr) => println!("listening on http://{addr}"),
            ClusterEvent::ShardRunning(shard) => println!("shard {shard} running"),
            ClusterEvent::ShardHandedOver(shard) => println!("shard {shard} handed over"),
        })
        .await?;
        Ok(())
    })
}
/// The runtime `yujing run` serves on.
fn async_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
/// A listener on `address` (`server.listen` or `--listen`).
async fn listen_on(address: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
