//! An instance of a store split into shards (`[store.kafka] partitions` > 1): it joins the writers' group, runs
//! each shard the group gives it (its pipeline and background tasks over the shard's partition), starts and
//! stops shards as instances come and go, and serves the API over every shard until `shutdown` completes, in the
//! way mini-redis's `server::run(listener, shutdown)` does.
//!
//! What to start and stop is decided by [`plan`], a pure function of the shards the lease gives this instance
//! and the shards running on it; the loop only carries it out.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use yujing_engine::{Built, Pipeline, PipelineError, ReadError, Shard, SystemClock};

use crate::config::ServerConfig;
use yujing_log::{KafkaConfig, KafkaLease, KafkaLog, LogError, ShardId};

use crate::shards::{OwnerDirectory, Reach, Shards};
use crate::{Options, Tokens};

/// How often the loop compares the lease with the shards running.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// What to change so that exactly the owned shards run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Owned and not running: open and start them.
    pub start: Vec<ShardId>,
    /// Running and no longer owned (another instance was given them): stop them.
    pub stop: Vec<ShardId>,
}

/// The changes that make the shards `running` on this instance the shards it `owned`, each list in shard order.
pub fn plan(owned: &[ShardId], running: &[ShardId]) -> Plan {
    let mut start: Vec<ShardId> = owned.iter().filter(|s| !running.contains(s)).copied().collect();
    let mut stop: Vec<ShardId> = running.iter().filter(|s| !owned.contains(s)).copied().collect();
    start.sort();
    start.dedup();
    stop.sort();
    stop.dedup();
    Plan { start, stop }
}

/// What the instance did, for the caller to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// The API listens here.
    Listening(SocketAddr),
    /// A shard was opened, caught up and runs here now.
    ShardRunning(ShardId),
    /// A shard was given to another instance and stopped here.
    ShardHandedOver(ShardId),
}

/// Why the instance could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Joining the writers' group failed.
    #[error("cannot join the writers' group on Kafka at {bootstrap}")]
    Join {
        /// The brokers.
        bootstrap: String,
        /// The cause.
        source: LogError,
    },
    /// The read-only log over every shard could not be opened.
    #[error("cannot read the log on Kafka at {bootstrap}")]
    ReadEveryShard {
        /// The brokers.
        bootstrap: String,
        /// The cause.
        source: LogError,
    },
    /// The listener failed.
    #[error("serving the API")]
    Serve(#[from] std::io::Error),
    /// A blocking task could not run (the runtime is stopping).
    #[error("a blocking task did not finish: {0}")]
    Task(String),
}

/// Why a shard could not be opened this round (the next round tries again).
#[derive(Debug, thiserror::Error)]
pub enum OpenShardError {
    /// Its partition of the log could not be opened.
    #[error("cannot open shard {shard} on Kafka")]
    Open {
        /// The shard.
        shard: ShardId,
        /// The cause.
        source: LogError,
    },
    /// Its owner claim could not be written.
    #[error("cannot claim shard {shard}")]
    Claim {
        /// The shard.
        shard: ShardId,
        /// The cause.
        source: ReadError,
    },
    /// Its pipeline could not catch up.
    #[error("cannot catch shard {shard} up")]
    Pipeline {
        /// The shard.
        shard: ShardId,
        /// The cause.
        source: PipelineError,
    },
}

/// The instance's part of the store, with what it needs to open a shard.
pub struct Instance {
    /// The store on Kafka.
    pub kafka: KafkaConfig,
    /// The checked configuration.
    pub built: Built,
    /// `[server]`.
    pub server: ServerConfig,
    /// The background tasks each shard runs.
    pub options: Options,
}

/// Runs the instance on `listener` until `shutdown` completes, then stops every shard and the API; `report` is
/// told what happens.
pub async fn run_sharded(
    instance: Instance,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    report: impl Fn(ClusterEvent),
) -> Result<(), ClusterError> {
    let Instance {
        kafka,
        built,
        server,
        options,
    } = instance;
    let joining = kafka.clone();
    let lease = tokio::task::spawn_blocking(move || KafkaLease::join(&joining))
        .await
        .map_err(|e| ClusterError::Task(e.to_string()))?
        .map_err(|source| ClusterError::Join {
            bootstrap: kafka.bootstrap_servers.clone(),
            source,
        })?;
    let lease = Arc::new(lease);
    let bound = listener.local_addr()?;
    let advertised = advertised_url(&server.advertise, bound, server.tls.enabled());
    let every_shard =
        Arc::new(
            KafkaLog::open_read_only(kafka.clone()).map_err(|source| ClusterError::ReadEveryShard {
                bootstrap: kafka.bootstrap_servers.clone(),
                source,
            })?,
        );
    let shards = Shards::new(
        kafka.partitions,
        Reach {
            advertised: advertised.clone(),
            directory: Arc::new(ShardOwners {
                log: every_shard.clone(),
            }),
            every_shard,
        },
        Tokens::new(&server.tokens, built.demo),
        &server,
    )?;
    let front = crate::shards::serve(listener, shards.clone())?;
    tracing::info!(addr = %front.addr, partitions = kafka.partitions, "yujing is serving a sharded store");
    report(ClusterEvent::Listening(front.addr));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let Plan { start, stop } = plan(&lease.owned(), &shards.running());
        for shard in stop {
            if let Some(worker) = shards.remove(shard) {
                // Another instance was given it: its writes are fenced from now on anyway.
                worker.stop().await;
                tracing::info!(%shard, "shard handed over");
                report(ClusterEvent::ShardHandedOver(shard));
            }
        }
        for shard in start {
            let opening = (kafka.clone(), lease.clone(), built.clone(), advertised.clone());
            let opened = tokio::task::spawn_blocking(move || {
                let (kafka, lease, built, advertised) = opening;
                open_shard(kafka, shard, lease, built, &advertised)
            })
            .await;
            match opened {
                Ok(Ok(pipeline)) => {
                    let worker =
                        crate::start_worker(pipeline, &server, built.demo, shard_options(&options, shard));
                    shards.insert(shard, worker);
                    tracing::info!(%shard, "shard running");
                    report(ClusterEvent::ShardRunning(shard));
                }
                // Given and taken back while opening, or the cluster unreachable: the next round tries again.
                Ok(Err(error)) => {
                    tracing::warn!(%shard, error = %crate::error::error_chain(&error), "cannot run the shard yet")
                }
                Err(error) => tracing::error!(%shard, %error, "opening the shard panicked"),
            }
        }
    }
    tracing::info!("stopping");
    shards.stop_all().await;
    front.stop().await;
    drop(lease);
    Ok(())
}

/// The background tasks of `shard`: shard 0 reads the upstream topics and the drop directory and routes what it
/// reads to every shard ([`yujing_engine::route`]), so each record is decoded once; every shard ingests what is
/// routed to it, and supervises its own orders.
fn shard_options(options: &Options, shard: ShardId) -> Options {
    if shard == ShardId(0) {
        return options.clone();
    }
    Options {
        supervise: options.supervise,
        watch_dir: None,
        sources: Vec::new(),
    }
}

/// Opens `shard`'s log, records that it runs at `advertised`, and catches its pipeline up.
fn open_shard(
    kafka: KafkaConfig,
    shard: ShardId,
    lease: Arc<KafkaLease>,
    built: Built,
    advertised: &str,
) -> Result<Pipeline, OpenShardError> {
    let partitions = kafka.partitions;
    let log =
        KafkaLog::open_shard(kafka, shard, lease).map_err(|source| OpenShardError::Open { shard, source })?;
    // Say where the shard runs now: API requests about its towns are forwarded here.
    let on = Shard::new(shard, partitions);
    yujing_engine::shard::claim_shard(&log, on, advertised, chrono::Utc::now().timestamp_millis())
        .map_err(|source| OpenShardError::Claim { shard, source })?;
    let (pipeline, caught_up) = Pipeline::open_shard(Arc::new(log), built, Arc::new(SystemClock), on)
        .map_err(|source| OpenShardError::Pipeline { shard, source })?;
    tracing::info!(%shard, warnings = caught_up.warnings.len(), "shard caught up");
    Ok(pipeline)
}

/// The URL other instances reach this one at: `advertise` if set, else the address listened on (the host name
/// in place of an address that listens on every interface).
pub fn advertised_url(advertise: &str, bound: SocketAddr, tls: bool) -> String {
    if !advertise.trim().is_empty() {
        return advertise.trim().trim_end_matches('/').to_owned();
    }
    let scheme = if tls { "https" } else { "http" };
    if bound.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_owned());
        return format!("{scheme}://{host}:{}", bound.port());
    }
    format!("{scheme}://{bound}")
}

/// Which instance runs each shard: the last claim in each partition of the `owners` topic.
struct ShardOwners {
    log: Arc<KafkaLog>,
}

impl OwnerDirectory for ShardOwners {
    fn owners(&self) -> Result<BTreeMap<ShardId, String>, String> {
        yujing_engine::shard::shard_owners(self.log.as_ref()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_starts_what_is_owned_and_stops_what_is_not() {
        let s = |ids: &[u32]| ids.iter().copied().map(ShardId).collect::<Vec<_>>();
        assert_eq!(
            plan(&s(&[0, 1]), &[]),
            Plan {
                start: s(&[0, 1]),
                stop: vec![]
            }
        );
        assert_eq!(plan(&s(&[1, 0]), &s(&[0, 1])), Plan::default(), "nothing to do");
        assert_eq!(
            plan(&s(&[2]), &s(&[0, 2])),
            Plan {
                start: vec![],
                stop: s(&[0])
            }
        );
        assert_eq!(
            plan(&[], &s(&[3, 1])),
            Plan {
                start: vec![],
                stop: s(&[1, 3])
            },
            "all handed over, in order"
        );
        assert_eq!(
            plan(&s(&[1, 1]), &[]),
            Plan {
                start: s(&[1]),
                stop: vec![]
            },
            "once each"
        );
    }

    #[test]
    fn the_advertised_url_prefers_the_configured_one() {
        let bound: SocketAddr = "127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(advertised_url(" http://a:1/ ", bound, false), "http://a:1");
        assert_eq!(advertised_url("", bound, false), "http://127.0.0.1:8080");
        assert_eq!(advertised_url("", bound, true), "https://127.0.0.1:8080");
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            advertised_url("", any, false).ends_with(":8080")
                && !advertised_url("", any, false).contains("0.0.0.0")
        );
    }
}
