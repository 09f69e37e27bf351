//! The accept loop both servers (one pipeline, or the front of the shards) run: axum's router on hyper, with
//! the limits `axum::serve` does not expose. A client that sends a request's head too slowly is disconnected
//! (`server.header_timeout_secs`), and at most `server.max_connections` connections are open at once: further
//! ones wait in the listen queue instead of taking the process's last file descriptors, so `/health` keeps
//! answering under a flood of half-sent requests. With `[server.tls]`, each connection is a TLS one (rustls),
//! its handshake held to the same timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The limits of the accept loop, and its TLS.
#[derive(Clone)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// The longest a request's head (and, with TLS, the handshake before it) may take to arrive.
    pub header_timeout: Duration,
    /// HTTPS, when `[server.tls]` is configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Limits {
    /// The limits and TLS `[server]` configures; fails when the TLS files cannot serve (they were checked
    /// when the configuration was, so only when they changed since).
    pub fn of(config: &crate::config::ServerConfig) -> std::io::Result<Limits> {
        Ok(Limits {
            max_connections: config.max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            tls: config.tls.acceptor().map_err(std::io::Error::other)?,
        })
    }
}

/// A request that arrived over TLS (a request extension the accept loop adds when `[server.tls]` is set).
#[derive(Debug, Clone, Copy)]
pub struct Https;

/// How long open connections get to finish once the server stops (event streams end at once).
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish (for at most ten
/// seconds).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    // Over TLS each request carries the fact (`Https`): the page's cookie is `Secure` without a proxy's
    // `X-Forwarded-Proto` to say so.
    let app = match limits.tls {
        Some(_) => app.layer(axum::Extension(Https)),
        None => app,
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted: wait and go on.
                    tracing::warn!(%error, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let Some(tls) = limits.tls.clone() else {
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // A client that goes away or times out is its own business, not the server's error.
                let _ = connection.await;
                drop(permit);
            });
            continue;
        };
        let (http, watcher, timeout) = (http.clone(), graceful.watcher(), limits.header_timeout);
        tokio::spawn(async move {
            // The handshake is held to the header timeout too: a client that opens and says nothing is dropped.
            match tokio::time::timeout(timeout, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
                Ok(Err(error)) => tracing::debug!(%error, "a TLS handshake failed"),
                Err(_) => tracing::debug!("a TLS handshake timed out"),
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            "connections still open {} s after stopping; closing them",
            DRAIN.as_secs()
        );
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard wait_for returns is dropped here: it must not live across the accept loop's awaits.
    let _ = stop.wait_for(|s| *s).await;
}
