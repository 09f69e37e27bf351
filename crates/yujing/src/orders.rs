//! `yujing run` (the server alongside the pipeline) and `yujing orders` (the work orders, read back).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use yujing_engine::{Built, EngineConfig, OrderStage, Pipeline, SystemClock};
use yujing_log::Log;

use crate::{open_log, open_log_for_reading, write_json_lines};

/// `yujing orders [ORDER_ID]`.
pub(crate) fn orders(config: &EngineConfig, built: &Built, order_id: Option<&str>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let stage = OrderStage::open(&log, built.policy.clone())?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if let Some(order_id) = order_id {
        let history = stage.history(order_id);
        if history.is_empty() {
            anyhow::bail!("there is no work order {order_id} (`yujing orders` lists them)");
        }
        if json {
            write_json_lines(&mut out, history)?;
        } else {
            for event in history {
                writeln!(
                    out,
                    "{:>3} {} {:<13} {:<12} {:<16} {}{}",
                    event.seq,
                    event.at.format("%Y-%m-%d %H:%M"),
                    event.change.name(),
                    event.actor.role.as_str(),
                    event.actor.name,
                    event.actor.unit,
                    event
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )?;
            }
        }
    } else {
        let orders: Vec<_> = stage.orders().collect();
        if json {
            write_json_lines(&mut out, &orders)?;
        } else {
            for order in &orders {
                writeln!(
                    out,
                    "{:<24} {:<6} {:<11} {:<12} {:<10} {:<24} esc {} {}",
                    order.order_id,
                    order.level.as_str(),
                    order.status.as_str(),
                    order
                        .subject
                        .town_name
                        .as_deref()
                        .unwrap_or(&order.subject.town_code),
                    order.subject.dispute_type.name(),
                    order.unit.as_deref().unwrap_or("-"),
                    order.escalation_level,
                    order.subject.place.as_deref().unwrap_or("")
                )?;
            }
            writeln!(out, "{} work order(s)", orders.len())?;
        }
    }
    out.flush()?;
    Ok(())
}

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
    if server_config.tokens.is_empty() && !built.demo {
        tracing::warn!("no server.tokens configured: the API will refuse every request but /health");
    }
    let sources: Vec<(yujing_engine::SourceConfig, String)> = config
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
    let options = yujing_server::Options {
        supervise: true,
        watch_dir,
        sources,
    };
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

/// `yujing run` on a sharded store: joins the writers' group and runs each shard the group gives this instance
/// (its pipeline and background tasks over the shard's partition), starting and stopping shards as instances
/// come and go, until Ctrl-C or SIGTERM.
fn serve_shards(
    config: &EngineConfig,
    built: &Built,
    server_config: &yujing_engine::ServerConfig,
    options: yujing_server::Options,
) -> Result<()> {
    let kafka = config.store.kafka_log_config();
    let partitions = kafka.partitions;
    let lease = Arc::new(yujing_log::KafkaLease::join(&kafka).with_context(|| {
        format!(
            "cannot join the writers' group on Kafka at {}",
            kafka.bootstrap_servers
        )
    })?);
    async_runtime()?.block_on(async move {
        let listener = listen_on(&server_config.listen).await?;
        let bound = listener.local_addr().context("reading the address listened on")?;
        let advertised = advertised_url(&server_config.advertise, bound);
        let every_shard = Arc::new(
            yujing_log::KafkaLog::open_read_only(kafka.clone())
                .with_context(|| format!("cannot read the log on Kafka at {}", kafka.bootstrap_servers))?,
        );
        let shards = yujing_server::shards::Shards::new(
            partitions,
            yujing_server::shards::Reach {
                advertised: advertised.clone(),
                directory: Arc::new(ShardOwners {
                    log: every_shard.clone(),
                }),
                every_shard,
            },
            yujing_server::Tokens::new(&server_config.tokens, built.demo),
            server_config,
        );
        let front = yujing_server::shards::serve(listener, shards.clone())?;
        tracing::info!(addr = %front.addr, partitions, "yujing is serving a sharded store");
        println!("listening on http://{}", front.addr);
        let mut shutdown = std::pin::pin!(shutdown_signal());
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            }
            let owned = lease.owned();
            for shard in shards.running() {
                if !owned.contains(&shard) {
                    if let Some(worker) = shards.remove(shard) {
                        // Another instance was given it: its writes are fenced from now on anyway.
                        worker.stop().await;
                        tracing::info!(shard, "shard handed over");
                        println!("shard {shard} handed over");
                    }
                }
            }
            for shard in owned {
                if shards.running().contains(&shard) {
                    continue;
                }
                let opened = {
                    let kafka = kafka.clone();
                    let lease = lease.clone();
                    let built = built.clone();
                    let advertised = advertised.clone();
                    tokio::task::spawn_blocking(move || -> Result<Pipeline> {
                        let log = yujing_log::KafkaLog::open_shard(kafka, shard, lease)
                            .with_context(|| format!("cannot open shard {shard} on Kafka"))?;
                        // Say where the shard runs now: API requests about its towns are forwarded here.
                        let on = yujing_engine::Shard::new(shard as u32, partitions);
                        yujing_engine::shard::claim_shard(
                            &log,
                            on,
                            &advertised,
                            chrono::Utc::now().timestamp_millis(),
                        )
                        .with_context(|| format!("cannot claim shard {shard}"))?;
                        let (pipeline, caught_up) =
                            Pipeline::open_shard(Arc::new(log), built, Arc::new(SystemClock), on)?;
                        tracing::info!(shard, warnings = caught_up.warnings.len(), "shard caught up");
                        Ok(pipeline)
                    })
                    .await
                };
                match opened {
                    Ok(Ok(pipeline)) => {
                        let worker =
                            yujing_server::start_worker(pipeline, server_config, built.demo, options.clone());
                        shards.insert(shard, worker);
                        tracing::info!(shard, "shard running");
                        println!("shard {shard} running");
                    }
                    // Given and taken back while opening, or the cluster unreachable: the next round tries again.
                    Ok(Err(error)) => {
                        tracing::warn!(shard, error = format!("{error:#}"), "cannot run the shard yet")
                    }
                    Err(error) => tracing::error!(shard, %error, "opening the shard panicked"),
                }
            }
        }
        tracing::info!("stopping");
        shards.stop_all().await;
        front.stop().await;
        drop(lease);
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

/// The URL other instances reach this one at: `advertise` if set, else the address listened on (the host name
/// in place of an address that listens on every interface).
fn advertised_url(advertise: &str, bound: std::net::SocketAddr) -> String {
    if !advertise.trim().is_empty() {
        return advertise.trim().trim_end_matches('/').to_owned();
    }
    if bound.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_owned());
        return format!("http://{host}:{}", bound.port());
    }
    format!("http://{bound}")
}

/// Which instance runs each shard: the last claim in each partition of the `owners` topic.
struct ShardOwners {
    log: Arc<yujing_log::KafkaLog>,
}

impl yujing_server::shards::OwnerDirectory for ShardOwners {
    fn owners(&self) -> std::result::Result<std::collections::BTreeMap<i32, String>, String> {
        let owners = yujing_engine::shard::shard_owners(self.log.as_ref()).map_err(|e| e.to_string())?;
        Ok(owners
            .into_iter()
            .map(|(shard, url)| (shard as i32, url))
            .collect())
    }
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
