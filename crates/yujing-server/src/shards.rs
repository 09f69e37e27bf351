//! An instance's share of a sharded store (`[store.kafka] partitions` > 1).
//!
//! Each shard the writers' group gives the instance runs as a [`Worker`]: its own pipeline over its partition
//! of the log, with supervision, upstream topics and webhooks. [`Shards`] holds them by shard; [`serve`] answers
//! `/health` (which shards run here) and `/metrics` (every running shard's series, labelled `shard`).
//!
//! The work-order API, the SSE feed and ingestion over HTTP are not served in this mode: an order lives in the
//! shard of its town, which may run on another instance, and routing a request there is not built. The command
//! centre reads the outbox topic (its partitions are the shards') or receives webhooks from every instance.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yujing_engine::Metrics;

use crate::{ApiError, Worker};

/// The shards running on this instance.
pub struct Shards {
    partitions: u32,
    running: Mutex<BTreeMap<i32, Worker>>,
}

impl Shards {
    /// None running yet, of a store of `partitions` shards.
    pub fn new(partitions: u32) -> Arc<Shards> {
        Arc::new(Shards {
            partitions,
            running: Mutex::new(BTreeMap::new()),
        })
    }

    /// Adds the worker of `shard`.
    pub fn insert(&self, shard: i32, worker: Worker) {
        self.lock().insert(shard, worker);
    }

    /// Takes the worker of `shard` out, to be stopped.
    pub fn remove(&self, shard: i32) -> Option<Worker> {
        self.lock().remove(&shard)
    }

    /// The shards running, in order.
    pub fn running(&self) -> Vec<i32> {
        self.lock().keys().copied().collect()
    }

    /// Stops every shard.
    pub async fn stop_all(&self) {
        let workers: Vec<Worker> = std::mem::take(&mut *self.lock()).into_values().collect();
        for worker in workers {
            worker.stop().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Worker>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The HTTP face of a sharded instance, running.
pub struct Front {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Front {
    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Serves `/health` and `/metrics` of `shards` on `listener`; every other path answers 503 saying why.
pub fn serve(listener: TcpListener, shards: Arc<Shards>) -> std::io::Result<Front> {
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_here)
        .with_state(shards);
    let (shutdown, mut stop) = watch::channel(false);
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "the HTTP server stopped");
        }
    });
    Ok(Front { addr, shutdown, task })
}

async fn health(State(shards): State<Arc<Shards>>) -> Json<Value> {
    Json(json!({"status": "ok", "shards": {"running": shards.running(), "of": shards.partitions}}))
}

async fn metrics(State(shards): State<Arc<Shards>>) -> Result<impl axum::response::IntoResponse, ApiError> {
    let pipelines: Vec<_> = shards
        .lock()
        .values()
        .map(|worker| worker.state().pipeline.clone())
        .collect();
    let text = tokio::task::spawn_blocking(move || {
        let mut all: Vec<Arc<Metrics>> = Vec::new();
        for pipeline in pipelines {
            let pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(error) = pipeline.refresh_metrics() {
                // A shard being handed over may fail to read its log: expose the others.
                tracing::warn!(%error, shard = pipeline.shard().index, "refreshing a shard's metrics");
            }
            all.push(pipeline.metrics().clone());
        }
        Metrics::encode_all(&all.iter().map(Arc::as_ref).collect::<Vec<_>>())
    })
    .await
    .map_err(ApiError::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

async fn not_here(State(shards): State<Arc<Shards>>) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sharded",
        format!(
            "this instance runs shards {:?} of a store split into {} by town; the work-order API, the event \
             stream and ingestion over HTTP are served only by an unsharded store (partitions = 1) for now. \
             Read the outbox topic or a webhook for warnings and orders, and publish records to an upstream topic",
            shards.running(),
            shards.partitions
        ),
    )
}
