//! An instance's share of a sharded store (`[store.kafka] partitions` > 1), and the API over all the shards.
//!
//! Each shard the writers' group gives the instance runs as a [`Worker`]: its own pipeline over its partition
//! of the log, with supervision, upstream topics and webhooks. [`Shards`] holds them by shard; [`serve`] answers
//! `/health` (which shards run here), `/metrics` (every running shard's series, labelled `shard`) and the API.
//!
//! **The API over every shard.** A work order lives in the shard of its town, which may run on another
//! instance. Each request is answered by every shard: the shards running here through their own routers, the
//! others by forwarding the request to the instance that runs them ([`OwnerDirectory`]) with
//! `x-yujing-shards: local`, which makes that instance answer for its own shards only. The answers are combined
//! by what the route does: a request about one order, warning or cluster takes the answer of the shard that
//! knows it (404 only when every shard says so); lists and supervision need every shard and merge their answers;
//! a push is answered by any one shard, which routes its records to the shards that keep them
//! ([`yujing_engine::route`]). While a shard has no running instance (a takeover takes a few seconds) such
//! requests answer 503 naming it, and the caller retries.
//!
//! **The event stream over every shard.** `GET /api/v1/events` reads each shard's partition of the outbox from
//! the log itself (a read-only log over every partition) and interleaves them; an event's id is the cursor
//! after it, the next offset of each shard (`0:13,1:40`), so `Last-Event-ID` resumes every shard where it
//! stood. A town handler's stream is filtered by the town and unit each entry carries
//! ([`yujing_engine::EventScope`]), so no order needs looking up on the shard that holds it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use yujing_engine::Metrics;

use crate::api::Sharded;
use crate::{api, ApiError, Tokens, Worker};
use axum::response::sse::{Event, KeepAlive, Sse};
use yujing_engine::{read_outbox, OutboxEvent};

use crate::config::ServerConfig;
use yujing_log::{shard_offset, split_shard_offset, Log, Offset, ShardId};

/// The header that asks an instance to answer for the shards running on it only (set when forwarding).
pub const LOCAL_HEADER: &str = "x-yujing-shards";

/// Where each shard runs: shard → the base URL (`http://host:port`) of the instance running it, as last
/// recorded by the instances themselves.
pub trait OwnerDirectory: Send + Sync {
    /// The owners now, or why they cannot be read.
    fn owners(&self) -> Result<BTreeMap<ShardId, String>, String>;
}

/// The shards running on this instance, and how to reach the others.
pub struct Shards {
    partitions: u32,
    running: Mutex<BTreeMap<ShardId, Worker>>,
    advertised: String,
    directory: Arc<dyn OwnerDirectory>,
    /// Every shard's log, read-only (offsets from [`shard_offset`]): the event stream reads the outbox here.
    every_shard: Arc<dyn Log>,
    tokens: Tokens,
    max_body_bytes: usize,
    limits: crate::http::Limits,
    /// One permit per event stream that may be open.
    event_streams: Arc<tokio::sync::Semaphore>,
    client: reqwest::Client,
    stopping: watch::Sender<bool>,
}

/// How a sharded instance reaches the rest of the store.
pub struct Reach {
    /// The base URL other instances reach this one at.
    pub advertised: String,
    /// Where the other shards run.
    pub directory: Arc<dyn OwnerDirectory>,
    /// A read-only log over every shard.
    pub every_shard: Arc<dyn Log>,
}

/// The client the front forwards API requests to other instances with. With `[server.tls]`, the instances of
/// a store serve certificates of one chain: the configured one's certificates are trusted too, so a private CA
/// works without touching the system's roots.
fn forwarding_client(config: &ServerConfig) -> std::io::Result<reqwest::Client> {
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if config.tls.enabled() {
        let pem = std::fs::read(&config.tls.cert_file)?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(std::io::Error::other)? {
            client = client.add_root_certificate(certificate);
        }
    }
    client.build().map_err(std::io::Error::other)
}

impl Shards {
    /// None running yet, of a store of `partitions` shards, reaching the rest of the store through `reach`,
    /// authenticating with `tokens`, within the limits of `config`.
    pub fn new(
        partitions: u32,
        reach: Reach,
        tokens: Tokens,
        config: &ServerConfig,
    ) -> std::io::Result<Arc<Shards>> {
        Ok(Arc::new(Shards {
            partitions,
            running: Mutex::new(BTreeMap::new()),
            advertised: reach.advertised,
            directory: reach.directory,
            every_shard: reach.every_shard,
            tokens,
            max_body_bytes: config.max_body_bytes,
            limits: crate::http::Limits::of(config)?,
            event_streams: Arc::new(tokio::sync::Semaphore::new(config.max_event_streams)),
            client: forwarding_client(config)?,
            stopping: watch::channel(false).0,
        }))
    }

    /// The base URL other instances reach this one at.
    pub fn advertised(&self) -> &str {
        &self.advertised
    }

    /// Adds the worker of `shard`.
    pub fn insert(&self, shard: ShardId, worker: Worker) {
        self.lock().insert(shard, worker);
    }

    /// Takes the worker of `shard` out, to be stopped.
    pub fn remove(&self, shard: ShardId) -> Option<Worker> {
        self.lock().remove(&shard)
    }

    /// The shards running, in order.
    pub fn running(&self) -> Vec<ShardId> {
        self.lock().keys().copied().collect()
    }

    /// Stops every shard.
    pub async fn stop_all(&self) {
        let workers: Vec<Worker> = std::mem::take(&mut *self.lock()).into_values().collect();
        for worker in workers {
            worker.stop().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ShardId, Worker>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The HTTP face of a sharded instance, running.
pub struct Front {
    /// The address it listens on.
    pub addr: SocketAddr,
    shards: Arc<Shards>,
    task: JoinHandle<()>,
}

impl Front {
    /// Stops serving (event streams end too).
    pub async fn stop(self) {
        let _ = self.shards.stopping.send(true);
        let _ = self.task.await;
    }
}

/// Serves `/health`, `/metrics` and the API over every shard on `listener`.
pub fn serve(listener: TcpListener, shards: Arc<Shards>) -> std::io::Result<Front> {
    let addr = listener.local_addr()?;
    // The routes the front answers itself, from the one table; every other request goes to the shards.
    let app = api::ROUTES
        .iter()
        .filter(|r| r.sharded == Sharded::Front)
        .filter_map(|r| front_handler(r.method, r.path).map(|handler| (r.path, handler)))
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .fallback(route)
        .with_state(shards.clone());
    let stop = shards.stopping.subscribe();
    let task = tokio::spawn(crate::http::serve(listener, app, shards.limits.clone(), stop));
    Ok(Front { addr, shards, task })
}

/// The front's own handler of a route the front answers itself ([`Sharded::Front`]); a test checks every such
/// route has one.
fn front_handler(method: &str, path: &str) -> Option<axum::routing::MethodRouter<Arc<Shards>>> {
    use axum::routing::{delete, post};
    Some(match (method, path) {
        ("get", "/health") => get(health),
        ("get", "/ready") => get(ready),
        ("get", "/metrics") => get(metrics),
        ("get", "/api/v1/events") => get(events),
        ("get", "/") => get(crate::console::index),
        ("get", "/assets/app.js") => get(crate::console::script),
        ("get", "/assets/app.css") => get(crate::console::style),
        ("get", "/api/v1/session") => get(session),
        ("post", "/api/v1/session") => post(sign_in),
        ("delete", "/api/v1/session") => delete(sign_out),
        _ => return None,
    })
}

/// The page's sessions live on the instance it signed in to: the front answers them itself.
async fn session(State(shards): State<Arc<Shards>>, headers: axum::http::HeaderMap) -> Response {
    crate::console::session_of(&shards.tokens, &headers).into_response()
}

async fn sign_in(
    State(shards): State<Arc<Shards>>,
    https: Option<axum::Extension<crate::http::Https>>,
    headers: axum::http::HeaderMap,
    body: Result<Json<crate::console::SignIn>, axum::extract::rejection::JsonRejection>,
) -> Response {
    crate::console::sign_in_with(&shards.tokens, https.is_some(), &headers, body).into_response()
}

async fn sign_out(State(shards): State<Arc<Shards>>, headers: axum::http::HeaderMap) -> Response {
    crate::console::sign_out_of(&shards.tokens, &headers).into_response()
}

/// `GET /health` of a sharded instance: the shards running here, and whether each can read its log and has no
/// failing step (503 `failing` names the shards), as a single instance's `/health` says of its one pipeline; and
/// per shard its webhooks and consumers' lag, `degraded` (200) naming what needs a person, as there.
async fn health(State(shards): State<Arc<Shards>>) -> (StatusCode, Json<Value>) {
    let checked = failing_shards(&shards).await;
    let states: Vec<(ShardId, crate::AppState)> = shards
        .lock()
        .iter()
        .map(|(shard, worker)| (*shard, worker.state().clone()))
        .collect();
    let figures = tokio::task::spawn_blocking(move || {
        states
            .into_iter()
            .map(|(shard, state)| {
                crate::api::refresh_metrics_if_idle(&state);
                let figures = state.metrics.health_figures();
                let degraded = crate::api::degradations(&state, &figures);
                (shard, figures, degraded)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut webhooks = serde_json::Map::new();
    let mut lag = serde_json::Map::new();
    let mut degraded = Vec::new();
    for (shard, figures, problems) in figures {
        webhooks.insert(shard.to_string(), json!(figures.webhooks));
        lag.insert(shard.to_string(), json!(figures.lag));
        degraded.extend(problems.into_iter().map(|p| format!("shard {shard}: {p}")));
    }
    let healthy = checked.is_empty();
    let status = match (healthy, degraded.is_empty()) {
        (false, _) => "failing",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let body = json!({
        "status": status,
        "shards": {"running": shards.running(), "of": shards.partitions},
        "failing": checked,
        "degraded": degraded,
        "webhooks": webhooks,
        "lag": lag,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// `GET /ready` of a sharded instance: 200 while every shard running here can read its log and has no failing
/// step (the front forwards what other instances own), else 503 naming the shards.
async fn ready(State(shards): State<Arc<Shards>>) -> (StatusCode, Json<Value>) {
    let checked = failing_shards(&shards).await;
    if checked.is_empty() {
        return (StatusCode::OK, Json(json!({"ready": true})));
    }
    let failing: Vec<&String> = checked.keys().collect();
    let reason = format!("shards failing here: {failing:?} (GET /health says why)");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"ready": false, "reason": reason})),
    )
}

/// The shards running here that cannot read their log or have a failing step, each with what failed.
async fn failing_shards(shards: &Shards) -> serde_json::Map<String, Value> {
    let states: Vec<(ShardId, crate::AppState)> = shards
        .lock()
        .iter()
        .map(|(shard, worker)| (*shard, worker.state().clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        states
            .into_iter()
            .filter_map(|(shard, state)| {
                let storage = state
                    .log
                    .end_offset(yujing_engine::topics::OUTBOX)
                    .err()
                    .map(|e| yujing_feeds::pii::redact(&crate::error::error_chain(&e)));
                let failing = state.failing.lock().unwrap_or_else(|e| e.into_inner()).clone();
                (storage.is_some() || failing.is_some())
                    .then(|| (shard.to_string(), json!({"storage": storage, "failing": failing})))
            })
            .collect::<serde_json::Map<String, Value>>()
    })
    .await
    .unwrap_or_default()
}

async fn metrics(State(shards): State<Arc<Shards>>) -> Result<impl IntoResponse, ApiError> {
    let states: Vec<crate::AppState> = shards
        .lock()
        .values()
        .map(|worker| worker.state().clone())
        .collect();
    let text = tokio::task::spawn_blocking(move || {
        let mut all: Vec<Arc<Metrics>> = Vec::new();
        for state in states {
            // As on a single instance: never wait for a shard's step; a busy shard gives its last values (one
            // being handed over may fail to read its log: the others are exposed all the same).
            crate::api::refresh_metrics_if_idle(&state);
            all.push(state.metrics.clone());
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

/// Entries of one shard's outbox read per page.
const PAGE: usize = 200;

/// Parses an event id of the sharded stream (`0:13,1:40`: the next offset of each shard).
fn parse_cursor(text: &str) -> Option<BTreeMap<ShardId, Offset>> {
    let mut cursor = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (shard, next) = part.trim().split_once(':')?;
        cursor.insert(shard.parse().ok()?, next.parse().ok()?);
    }
    Some(cursor)
}

fn cursor_id(cursor: &BTreeMap<ShardId, Offset>) -> String {
    cursor
        .iter()
        .map(|(shard, next)| format!("{shard}:{next}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `GET /api/v1/events` over every shard (see the module's overview).
async fn events(
    State(shards): State<Arc<Shards>>,
    headers: axum::http::HeaderMap,
    params: Result<axum::extract::Query<crate::feed::EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    let principal = shards.tokens.authenticate(&headers)?;
    let Ok(permit) = shards.event_streams.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_event_streams",
            "every event stream this server allows is open (server.max_event_streams); retry later",
        ));
    };
    let axum::extract::Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    // As on a single instance: from now on, unless `?from=0` asks for the history or Last-Event-ID resumes.
    let mut cursor: BTreeMap<ShardId, Offset> = (0..shards.partitions).map(|p| (ShardId(p), 0)).collect();
    if params.from.is_none() && !headers.contains_key("last-event-id") {
        let log = shards.every_shard.clone();
        let ends = tokio::task::spawn_blocking(move || log.shard_ends(yujing_engine::topics::OUTBOX))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(crate::error::error_chain(&e)))?;
        cursor.extend(ends);
    }
    if let Some(last) = headers.get("last-event-id") {
        let parsed = last.to_str().ok().and_then(parse_cursor).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_last_event_id",
                "Last-Event-ID must be an event id this stream sent (shard:offset,…)",
            )
        })?;
        cursor.extend(parsed);
    }
    let state = (
        shards.clone(),
        (principal, permit),
        cursor,
        std::collections::VecDeque::<(ShardId, Offset, OutboxEvent)>::new(),
        shards.stopping.subscribe(),
    );
    let stream = futures_util::stream::unfold(
        state,
        |(shards, (principal, permit), mut cursor, mut pending, stopping)| async move {
            loop {
                if *stopping.borrow() {
                    return None;
                }
                if let Some((shard, offset, event)) = pending.pop_front() {
                    cursor.insert(shard, offset + 1);
                    // A town handler sees its town's entries, decided from the scope each entry carries (an
                    // entry written before entries carried one is not shown to it).
                    let visible = principal.town.is_none()
                        || event.scope.as_ref().is_some_and(|s| principal.may_see_scope(s));
                    if !visible {
                        continue;
                    }
                    let data = match serde_json::to_string(&event) {
                        Ok(data) => data,
                        Err(error) => {
                            // Never an empty event: the stream ends, and the client resumes after the last one.
                            tracing::error!(%error, id = %event.id, "encoding a feed entry for SSE");
                            return None;
                        }
                    };
                    let sse = Event::default()
                        .id(cursor_id(&cursor))
                        .event(format!("{}.{}", event.kind, event.event))
                        .data(data);
                    return Some((Ok(sse), (shards, (principal, permit), cursor, pending, stopping)));
                }
                let log = shards.every_shard.clone();
                let from = cursor.clone();
                let page = tokio::task::spawn_blocking(move || {
                    let mut page = Vec::new();
                    for (shard, next) in from {
                        // A read past the end of a shard's partition goes on into the next one's: keep this shard's.
                        for (offset, event) in read_outbox(log.as_ref(), shard_offset(shard, next), PAGE)? {
                            let (partition, within) = split_shard_offset(offset);
                            if partition == shard {
                                page.push((shard, within, event));
                            }
                        }
                    }
                    Ok::<_, yujing_engine::ReadError>(page)
                })
                .await;
                match page {
                    Ok(Ok(page)) if !page.is_empty() => pending.extend(page),
                    Ok(Ok(_)) => {
                        // Caught up: the shards write on other instances too, so look again shortly.
                        let mut stopping = stopping.clone();
                        tokio::select! {
                            _ = stopping.changed() => {}
                            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::error!(%error, "reading the outbox for SSE");
                        return None;
                    }
                    Err(_) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// How a sharded store answers `method` on `path`: by its route in [`api::ROUTES`]; a path no route has goes
/// to the shards, whose router answers 404.
fn needs(method: &Method, path: &str) -> Sharded {
    api::route_of(method.as_str(), path).map_or(Sharded::One, |route| route.sharded)
}

/// One answer: from the shards it speaks for.
struct Answer {
    shards: Vec<ShardId>,
    status: StatusCode,
    body: Bytes,
}

async fn route(State(shards): State<Arc<Shards>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // Every route behind the fallback needs a token: check it before reading a byte of the body, so that an
    // unauthenticated upload costs nothing (the shard checks it again, with the route's own rules). A page's
    // session is this instance's: a change needs its CSRF token here, and the shards get the session's token.
    let checked = if matches!(parts.method, Method::GET | Method::HEAD) {
        shards.tokens.authenticate(&parts.headers)
    } else {
        shards.tokens.authenticate_action(&parts.headers)
    };
    if let Err(error) = checked {
        return error.into_response();
    }
    if !parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
        let bearer = shards
            .tokens
            .session_token(&parts.headers)
            .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
        if let Some(bearer) = bearer {
            parts.headers.insert(axum::http::header::AUTHORIZATION, bearer);
            parts.headers.remove(axum::http::header::COOKIE);
            parts.headers.remove(crate::auth::CSRF_HEADER);
        }
    }
    let Ok(body) = axum::body::to_bytes(body, shards.max_body_bytes).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {} bytes", shards.max_body_bytes),
        )
        .into_response();
    };
    let needs = needs(&parts.method, parts.uri.path());
    let local_only = parts.headers.contains_key(LOCAL_HEADER);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());

    // The shards running here, each through its own router.
    let local: Vec<(ShardId, crate::AppState)> = shards
        .lock()
        .iter()
        .map(|(shard, worker)| (*shard, worker.state().clone()))
        .collect();
    // A push goes to one shard, which routes its records to the shards that keep them (decoded once).
    let any = needs == Sharded::Any;
    let local: Vec<(ShardId, crate::AppState)> = if any {
        local.into_iter().take(1).collect()
    } else {
        local
    };
    let mut answers = Vec::new();
    for (shard, state) in &local {
        let mut request = axum::http::Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone());
        for (name, value) in &parts.headers {
            request = request.header(name, value);
        }
        let Ok(request) = request.body(Body::from(body.clone())) else {
            return ApiError::internal("rebuilding a request").into_response();
        };
        let response = match api::router(state.clone()).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        answers.push(Answer {
            shards: vec![*shard],
            status,
            body: bytes,
        });
    }

    // The others, through the instances running them.
    let mut unreachable: Vec<ShardId> = Vec::new();
    // A push answered here needs no other instance.
    if !local_only && (!any || answers.is_empty()) {
        let running_here: Vec<ShardId> = local.iter().map(|(s, _)| *s).collect();
        let directory = shards.directory.clone();
        let owners = tokio::task::spawn_blocking(move || directory.owners())
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let owners = match owners {
            Ok(owners) => owners,
            Err(reason) => {
                tracing::warn!(%reason, "reading which instance runs each shard");
                BTreeMap::new()
            }
        };
        let mut by_instance: BTreeMap<String, Vec<ShardId>> = BTreeMap::new();
        for shard in (0..shards.partitions).map(ShardId) {
            if running_here.contains(&shard) {
                continue;
            }
            match owners.get(&shard) {
                Some(url) if url != &shards.advertised => {
                    by_instance.entry(url.clone()).or_default().push(shard)
                }
                // Never claimed, or claimed by this instance before it lost it: nobody runs it now.
                _ => unreachable.push(shard),
            }
        }
        // For a push, the first instance that answers is enough; the others are not asked.
        let instances: Vec<(String, Vec<ShardId>)> = by_instance.into_iter().collect();
        for (url, their_shards) in instances {
            if any && answers.iter().any(|a: &Answer| a.status.is_success()) {
                break;
            }
            let mut forwarded = shards
                .client
                .request(parts.method.clone(), format!("{url}{path_and_query}"))
                .header(LOCAL_HEADER, HeaderValue::from_static("local"))
                .body(body.clone());
            for name in [
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
            ] {
                if let Some(value) = parts.headers.get(&name) {
                    forwarded = forwarded.header(name, value);
                }
            }
            match forwarded.send().await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = response.bytes().await.unwrap_or_default();
                    answers.push(Answer {
                        shards: their_shards,
                        status,
                        body: bytes,
                    });
                }
                Err(error) => {
                    // Its instance died and the others have not taken over yet.
                    tracing::warn!(%error, instance = %url, shards = ?their_shards, "forwarding a request");
                    unreachable.extend(their_shards);
                }
            }
        }
    }
    combine(needs, answers, &unreachable, parts.uri.path())
}

fn unavailable(unreachable: &[ShardId]) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shard_unavailable",
        format!(
            "shard(s) {unreachable:?} run on no reachable instance right now (an instance is taking them over); \
             try again in a few seconds"
        ),
    )
    .into_response()
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// One response from the shards' answers (see the module's overview).
fn combine(needs: Sharded, answers: Vec<Answer>, unreachable: &[ShardId], path: &str) -> Response {
    match needs {
        Sharded::Any if answers.is_empty() && !unreachable.is_empty() => unavailable(unreachable),
        Sharded::One | Sharded::Front | Sharded::Any => {
            let found = answers
                .iter()
                .position(|a| a.status.is_success())
                .or_else(|| answers.iter().position(|a| a.status != StatusCode::NOT_FOUND));
            match found {
                Some(i) => {
                    let answer = answers.into_iter().nth(i).unwrap_or_else(|| unreachable!());
                    json_response(answer.status, answer.body)
                }
                None if !unreachable.is_empty() => unavailable(unreachable),
                None => match answers.into_iter().next() {
                    Some(answer) => json_response(answer.status, answer.body),
                    None => {
                        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no shard knows it").into_response()
                    }
                },
            }
        }
        Sharded::Every => {
            if !unreachable.is_empty() {
                return unavailable(unreachable);
            }
            if let Some(refused) = answers.iter().find(|a| !a.status.is_success()) {
                tracing::debug!(shards = ?refused.shards, status = %refused.status, "a shard refused");
                return json_response(refused.status, refused.body.clone());
            }
            if path == "/api/v1/board" {
                let boards: Result<Vec<crate::console::board::Board>, _> =
                    answers.iter().map(|a| serde_json::from_slice(&a.body)).collect();
                return match boards.map(crate::console::board::merge) {
                    Ok(Some(board)) => Json(board).into_response(),
                    Ok(None) => unavailable(&[]),
                    Err(error) => ApiError::internal(error).into_response(),
                };
            }
            let mut merged: Option<Value> = None;
            for answer in &answers {
                let value: Value = match serde_json::from_slice(&answer.body) {
                    Ok(value) => value,
                    Err(error) => return ApiError::internal(error).into_response(),
                };
                merged = Some(match merged {
                    None => value,
                    Some(acc) => merge(acc, value),
                });
            }
            let merged = merged.unwrap_or_else(|| json!({}));
            Json(merged).into_response()
        }
    }
}

/// Two shards' answers as one: arrays joined, numbers added, objects merged key by key, anything else as the
/// first said it.
fn merge(first: Value, second: Value) -> Value {
    match (first, second) {
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_u64(), b.as_u64()) {
            (Some(x), Some(y)) => json!(x + y),
            _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
        },
        (Value::Object(mut a), Value::Object(b)) => {
            for (key, value) in b {
                let joined = match a.remove(&key) {
                    Some(mine) => merge(mine, value),
                    None => value,
                };
                a.insert(key, joined);
            }
            Value::Object(a)
        }
        (first, _) => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_answers_every_route_the_table_gives_it() {
        for route in api::ROUTES.iter().filter(|r| r.sharded == Sharded::Front) {
            assert!(front_handler(route.method, route.path).is_some(), "{route:?}");
        }
    }

    #[test]
    fn lists_join_reports_add_up_and_one_resource_comes_from_the_shard_that_knows_it() {
        let merged = merge(
            json!({"orders": [{"order_id": "wo-a"}], "file": {"new_clues": 2, "file": "x.jsonl"}}),
            json!({"orders": [{"order_id": "wo-b"}], "file": {"new_clues": 3, "file": "x.jsonl"}}),
        );
        assert_eq!(
            parse_cursor("0:13,1:40"),
            Some(BTreeMap::from([(ShardId(0), 13), (ShardId(1), 40)]))
        );
        assert_eq!(
            cursor_id(&BTreeMap::from([(ShardId(0), 13), (ShardId(1), 40)])),
            "0:13,1:40"
        );
        assert_eq!(parse_cursor("13"), None);
        assert_eq!(
            merged,
            json!({"orders": [{"order_id": "wo-a"}, {"order_id": "wo-b"}], "file": {"new_clues": 5, "file": "x.jsonl"}})
        );
        assert_eq!(needs(&Method::GET, "/api/v1/orders"), Sharded::Every);
        assert_eq!(needs(&Method::POST, "/api/v1/ingest/grid"), Sharded::Any);
        assert_eq!(needs(&Method::GET, "/api/v1/orders/wo-a"), Sharded::One);
        assert_eq!(needs(&Method::POST, "/api/v1/orders/wo-a/commands"), Sharded::One);
        assert_eq!(needs(&Method::GET, "/api/v1/nothing"), Sharded::One);
        let answer = |status: StatusCode, body: &str| Answer {
            shards: vec![ShardId(0)],
            status,
            body: Bytes::from(body.to_owned()),
        };
        let one = combine(
            Sharded::One,
            vec![
                answer(StatusCode::NOT_FOUND, "{}"),
                answer(StatusCode::OK, "{\"order\":1}"),
            ],
            &[],
            "/api/v1/orders/wo-a",
        );
        assert_eq!(one.status(), StatusCode::OK);
        let missing = combine(
            Sharded::One,
            vec![answer(StatusCode::NOT_FOUND, "{}")],
            &[ShardId(1)],
            "/api/v1/orders/wo-a",
        );
        assert_eq!(missing.status(), StatusCode::SERVICE_UNAVAILABLE);
        let gone = combine(
            Sharded::One,
            vec![answer(StatusCode::NOT_FOUND, "{}")],
            &[],
            "/api/v1/orders/wo-a",
        );
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let partial = combine(
            Sharded::Every,
            vec![answer(StatusCode::OK, "{}")],
            &[ShardId(1)],
            "/api/v1/orders",
        );
        assert_eq!(partial.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
