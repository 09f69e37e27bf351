//! `yujing run`: the HTTP API, the page, SSE and webhooks alongside the pipeline ([`yujing_server::instance`]),
//! until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result};
use yujing_engine::{Built, EngineConfig};
use yujing_server::cluster::ClusterEvent;
use yujing_server::{instance, ServerConfig};

/// Serves until Ctrl-C or SIGTERM, saying where it listens and which shards it runs.
pub(crate) fn serve(
    config: &EngineConfig,
    built: &Built,
    mut server: ServerConfig,
    listen: Option<String>,
    watch: Option<PathBuf>,
) -> Result<()> {
    if let Some(listen) = listen {
        server.listen = listen;
    }
    let options = instance::options(config, &server, watch)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let serving = instance::run(
        config,
        built.clone(),
        server,
        options,
        shutdown_signal(),
        |event| match event {
            ClusterEvent::Listening(addr) => println!("listening on http://{addr}"),
            ClusterEvent::ShardRunning(shard) => println!("shard {shard} running"),
            ClusterEvent::ShardHandedOver(shard) => println!("shard {shard} handed over"),
        },
    );
    Ok(runtime.block_on(serving)?)
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
