//! The HTTP API: work orders, warnings and clusters with their evidence (personal data masked at ingest), the
//! commands of the work-order lifecycle, supervision on demand, and ingestion of a feed's own format.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use yujing_engine::WarningSummary;
use yujing_model::{DisputeSubject, FeedId, Role, WorkOrderEvent};
use yujing_workorder::{Command, WorkOrder};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{console, feed, AppState};
use Sharded::{Any, Every, Front, One};

/// How a route is answered on a sharded store, where an instance runs some of the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharded {
    /// The instance's front answers it itself: the page and its sessions, `/health`, `/metrics` and the event
    /// stream over every shard.
    Front,
    /// About one order, warning or cluster: the shard that knows it answers.
    One,
    /// Lists, the board, supervision: every shard answers, and the answers merge.
    Every,
    /// Ingestion: any one shard answers, routing the input to the shards that keep its records (decoded once).
    Any,
}

/// A route: its method and path (as in `schemas/openapi.json`), how a sharded store answers it, and its handler.
pub struct Route {
    /// `get`, `post` or `delete`.
    pub method: &'static str,
    /// The path, with `{name}` for a segment.
    pub path: &'static str,
    /// How a sharded store answers it.
    pub sharded: Sharded,
    handler: fn() -> MethodRouter<AppState>,
}

impl Route {
    /// Whether a request of `method` to `path` is this route's.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut pattern = self.path.split('/');
        let mut given = path.split('/');
        loop {
            match (pattern.next(), given.next()) {
                (None, None) => return true,
                (Some(p), Some(g)) if p == g || (p.starts_with('{') && !g.is_empty()) => {}
                _ => return false,
            }
        }
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.sharded)
    }
}

/// A route of the table.
const fn route(
    method: &'static str,
    path: &'static str,
    sharded: Sharded,
    handler: fn() -> MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        sharded,
        handler,
    }
}

/// Every route, the one table the router, the sharded front and the OpenAPI check derive from.
pub const ROUTES: &[Route] = &[
    route("get", "/", Front, || get(console::index)),
    route("get", "/assets/app.js", Front, || get(console::script)),
    route("get", "/assets/app.css", Front, || get(console::style)),
    route("get", "/api/v1/session", Front, || get(console::session)),
    route("post", "/api/v1/session", Front, || post(console::sign_in)),
    route("delete", "/api/v1/session", Front, || delete(console::sign_out)),
    route("get", "/api/v1/map", One, || get(console::map)),
    route("get", "/api/v1/board", Every, || get(console::get_board)),
    route("get", "/health", Front, || get(health)),
    route("get", "/ready", Front, || get(ready)),
    route("get", "/api/v1/orders", Every, || get(list_orders)),
    route("get", "/api/v1/orders/{order_id}", One, || get(get_order)),
    route("post", "/api/v1/orders/{order_id}/commands", One, || {
        post(command)
    }),
    route("get", "/api/v1/warnings", Every, || get(list_warnings)),
    route("get", "/api/v1/warnings/{warning_id}", One, || get(get_warning)),
    route("get", "/api/v1/clusters/{cluster_id}", One, || get(get_cluster)),
    route("post", "/api/v1/supervise", Every, || post(supervise)),
    route("post", "/api/v1/ingest/{feed}", Any, || post(ingest)),
    route("get", "/api/v1/events", Front, || get(feed::events)),
    route("get", "/api/v1/webhooks", Every, || get(list_webhooks)),
    route("post", "/api/v1/webhooks/{name}/retry", Every, || {
        post(retry_webhook)
    }),
    route("post", "/api/v1/erasures", Every, || post(erase)),
    route("get", "/metrics", Front, || get(metrics)),
];

/// The route a request of `method` to `path` is, if any.
pub fn route_of(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.matches(method, path))
}

/// The router over `state`: every route of [`ROUTES`].
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    ROUTES
        .iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)())
        })
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// `GET /health`: the instance's state, checked without waiting for the pipeline (a long step holds it).
/// - `failing` (503): the log cannot be read now, a pipeline step keeps failing, or the server is stopping; with
///   what failed and since when.
/// - `degraded` (200: it serves, but something needs a person): a webhook's receiver refused entries, a webhook
///   has failed with entries waiting for `server.degraded_after_secs`, or a consumer's oldest record has waited
///   that long; each named in `degraded`.
/// - `ok` (200).
///
/// The body also gives each webhook's state (`behind`, `refused`, `last_success`, `failing_since`) and each
/// consumer's lag (`correlate`, `orders`, `source:<name>/<partition>`).
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let checked = state.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let storage = checked
            .log
            .end_offset(yujing_engine::topics::OUTBOX)
            .map_err(|e| yujing_feeds::pii::redact(&crate::error::error_chain(&e)));
        refresh_metrics_if_idle(&checked);
        (storage, checked.metrics.health_figures())
    })
    .await;
    let (storage, figures) = match checks {
        Ok(checks) => checks,
        Err(e) => (Err(e.to_string()), Default::default()),
    };
    let failing = state.failing.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let stopping = *state.stopping.borrow();
    let healthy = storage.is_ok() && failing.is_none() && !stopping;
    let degraded = degradations(&state, &figures);
    let status = match (healthy, degraded.is_empty()) {
        (false, _) => "failing",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let body = json!({
        "status": status,
        "storage": match &storage { Ok(_) => "ok".to_owned(), Err(e) => e.clone() },
        "failing": failing,
        "stopping": stopping,
        "degraded": degraded,
        "webhooks": figures.webhooks,
        "lag": figures.lag,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// What makes a serving instance `degraded`, each a sentence naming the webhook or consumer.
pub(crate) fn degradations(state: &AppState, figures: &yujing_engine::metrics::HealthFigures) -> Vec<String> {
    let now = state.clock.now();
    let limit = state.degraded_after;
    let too_long = |since: chrono::DateTime<chrono::Utc>| (now - since).to_std().is_ok_and(|d| d >= limit);
    let mut problems = Vec::new();
    for (name, hook) in figures
        .webhooks
        .iter()
        .filter(|(name, _)| state.webhooks.contains(name))
    {
        if hook.refused > 0 {
            problems.push(format!(
                "webhook {name}: its receiver refused {} entries for good (`yujing webhook refused`, then retry)",
                hook.refused
            ));
        }
        if let Some(since) = hook
            .failing_since
            .filter(|since| hook.behind > 0 && too_long(*since))
        {
            problems.push(format!(
                "webhook {name}: failing since {}, {} entries waiting",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                hook.behind
            ));
        }
    }
    for (consumer, lag) in &figures.lag {
        if let Some(seconds) = lag.seconds.filter(|s| *s >= limit.as_secs_f64()) {
            problems.push(format!(
                "{consumer}: {} records behind, the oldest waiting {seconds:.0} s",
                lag.records
            ));
        }
    }
    problems
}

/// `GET /ready`: whether this instance can take requests now (for a load balancer): 200 `{"ready": true}`, or
/// 503 with the reason while the log cannot be read, a step keeps failing or the server is stopping. A standby
/// on Kafka does not listen until it holds the writer's lease.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let log = state.log.clone();
    let readable = tokio::task::spawn_blocking(move || log.end_offset(yujing_engine::topics::OUTBOX).is_ok())
        .await
        .unwrap_or(false);
    let failing = state.failing.lock().unwrap_or_else(|e| e.into_inner()).is_some();
    let reason = if *state.stopping.borrow() {
        Some("stopping")
    } else if !readable {
        Some("the log cannot be read")
    } else if failing {
        Some("a pipeline step is failing (GET /health says which)")
    } else {
        None
    };
    match reason {
        None => (StatusCode::OK, Json(json!({"ready": true}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": reason})),
        ),
    }
}

/// Refreshes the gauges read from the pipeline (lag, orders) if no step holds it; otherwise the last values
/// stand. One refresh at a time, so no reader sees the order gauges halfway through one. Blocking.
pub(crate) fn refresh_metrics_if_idle(state: &AppState) {
    let _refreshing = state.metrics_refresh.lock().unwrap_or_else(|e| e.into_inner());
    let idle = match state.pipeline.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(pipeline) = idle {
        if let Err(error) = pipeline.refresh_metrics() {
            tracing::warn!(%error, shard = %pipeline.shard().index, "refreshing the metrics");
        }
    }
}

/// `GET /metrics`: the Prometheus text exposition. Unauthenticated, like every scrape target: no label value is
/// personal data; keep the port on the monitoring network. It never waits for the pipeline: when a step holds
/// it, the scrape gets the values of the last refresh (the counters and the webhook gauges are live anyway).
async fn metrics(State(state): State<AppState>) -> Result<impl axum::response::IntoResponse, ApiError> {
    let refreshed = state.clone();
    let text = tokio::task::spawn_blocking(move || {
        refresh_metrics_if_idle(&refreshed);
        refreshed.metrics.encode()
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

/// Runs `f` on the pipeline off the async threads (RocksDB reads and writes block).
pub(crate) async fn with_pipeline<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut yujing_engine::Pipeline) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let pipeline = state.pipeline.clone();
    let notify = state.outbox_end.clone();
    let failing = state.failing.clone();
    tokio::task::spawn_blocking(move || {
        let mut pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
        let result = f(&mut pipeline);
        // A failure inside yujing (5xx) is what /health reports until a step succeeds again; a client's
        // mistake (4xx) says nothing about the server.
        let mut failing = failing.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Err(error) if error.status.is_server_error() => {
                if failing.is_none() {
                    *failing = Some(crate::Failure {
                        since: chrono::Utc::now(),
                        error: error.detail.clone().unwrap_or_else(|| error.message.clone()),
                    });
                }
            }
            _ => *failing = None,
        }
        drop(failing);
        if let Ok(end) = pipeline.outbox_end() {
            notify.send_if_modified(|seen| {
                let changed = *seen != end;
                *seen = end;
                changed
            });
        }
        result
    })
    .await
    .map_err(ApiError::internal)?
}

/// An order as listed: its state and what it is about.
#[derive(Debug, Serialize)]
struct OrderView<'a> {
    #[serde(flatten)]
    order: &'a WorkOrder,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFilter {
    status: Option<String>,
    town: Option<String>,
    level: Option<String>,
    unit: Option<String>,
    cluster_id: Option<String>,
}

async fn list_orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    filter: Result<Query<OrderFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    let Query(filter) =
        filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    with_pipeline(&state, move |p| {
        let orders: Vec<Value> = p
            .orders()
            .orders()
            .filter(|o| principal.may_see(o))
            .filter(|o| filter.status.as_deref().is_none_or(|s| o.status.as_str() == s))
            .filter(|o| filter.level.as_deref().is_none_or(|l| o.level.as_str() == l))
            .filter(|o| {
                filter
                    .unit
                    .as_deref()
                    .is_none_or(|u| o.unit.as_deref() == Some(u))
            })
            .filter(|o| {
                filter
                    .town
                    .as_deref()
                    .is_none_or(|t| o.subject.town_code == t || o.subject.town_name.as_deref() == Some(t))
            })
            .filter(|o| {
                filter
                    .cluster_id
                    .as_deref()
                    .is_none_or(|c| o.subject.cluster_id == c)
            })
            .map(|order| serde_json::to_value(OrderView { order }))
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?;
        Ok(Json(json!({"orders": orders})))
    })
    .await
}

fn visible_order<'a>(
    p: &'a yujing_engine::Pipeline,
    principal: &Principal,
    id: &str,
) -> Result<&'a WorkOrder, ApiError> {
    let order = p
        .orders()
        .order(id)
        .ok_or_else(|| ApiError::not_found("work order", id))?;
    if !principal.may_see(order) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "out_of_scope",
            format!(
                "order {id} is not {}'s",
                principal.town.as_deref().unwrap_or("your town")
            ),
        ));
    }
    Ok(order)
}

async fn get_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    with_pipeline(&state, move |p| {
        let order = visible_order(p, &principal, &order_id)?;
        let history: Vec<WorkOrderEvent> = p.history(&order_id)?;
        // What the page offers as buttons; a viewer's role allows none.
        let actions = order.available_commands(&principal.actor, p.clock().now(), p.orders().policy());
        Ok(Json(
            json!({"order": order, "history": history, "actions": actions}),
        ))
    })
    .await
}

/// A command as posted: the command's fields, and the reason.
#[derive(Debug, Deserialize)]
struct CommandRequest {
    #[serde(flatten)]
    command: Command,
    #[serde(default)]
    reason: Option<String>,
}

async fn command(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    body: Result<Json<CommandRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate_action(&headers)?;
    let Json(request) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_command",
            format!(
                "{}; send e.g. {{\"command\": \"dispatch\", \"unit\": \"如城街道\"}} or {{\"command\": \"return\", \"reason\": \"…\"}}",
                e.body_text()
            ),
        )
    })?;
    if principal.actor.role == Role::Viewer {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_allowed",
            "a viewer may not issue commands",
        ));
    }
    with_pipeline(&state, move |p| {
        visible_order(p, &principal, &order_id)?;
        let events = p.command(
            &order_id,
            &request.command,
            &principal.actor,
            request.reason.as_deref(),
        )?;
        let order = p.orders().order(&order_id);
        Ok(Json(json!({"order": order, "events": events})))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarningFilter {
    level: Option<String>,
    cluster_id: Option<String>,
    town: Option<String>,
}

fn warning_visible(principal: &Principal, subject: &DisputeSubject) -> bool {
    principal.may_see_town(&subject.town_code, subject.town_name.as_deref())
}

async fn list_warnings(
    State(state): State<AppState>,
    headers: HeaderMap,
    filter: Result<Query<WarningFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    let Query(filter) =
        filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    with_pipeline(&state, move |p| {
        let mut warnings: Vec<&WarningSummary> = p
            .orders()
            .warnings()
            .filter(|w| warning_visible(&principal, &w.subject))
            .filter(|w| filter.level.as_deref().is_none_or(|l| w.level.as_str() == l))
            .filter(|w| filter.cluster_id.as_deref().is_none_or(|c| w.cluster_id == c))
            .filter(|w| {
                filter
                    .town
                    .as_deref()
                    .is_none_or(|t| w.subject.town_code == t || w.subject.town_name.as_deref() == Some(t))
            })
            .collect();
        warnings.sort_by(|a, b| {
            a.raised_at
                .cmp(&b.raised_at)
                .then_with(|| a.warning_id.cmp(&b.warning_id))
        });
        // The stage keeps summaries; the evidence is read back from the log.
        let warnings = p.warnings_in_full(warnings)?;
        Ok(Json(json!({"warnings": warnings})))
    })
    .await
}

/// `GET /api/v1/warnings/{id}`: the warning with its evidence and orders; with `Accept: application/cap+xml`,
/// the warning as a CAP 1.2 alert.
async fn get_warning(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(warning_id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let principal = state.tokens.authenticate(&headers)?;
    let as_cap = crate::cap::wanted(&headers);
    let sender = state.cap.clone();
    with_pipeline(&state, move |p| {
        let warning = p
            .warning(&warning_id)?
            .filter(|w| warning_visible(&principal, &w.subject))
            .ok_or_else(|| ApiError::not_found("warning", &warning_id))?;
        if as_cap {
            let alert = crate::cap::alert(&warning, &sender);
            return Ok((
                [(axum::http::header::CONTENT_TYPE, crate::cap::MEDIA_TYPE)],
                alert,
            )
                .into_response());
        }
        let orders: Vec<&str> = p
            .orders()
            .orders_of_cluster(&warning.cluster_id)
            .into_iter()
            .filter(|o| o.warning_ids.contains(&warning.warning_id))
            .map(|o| o.order_id.as_str())
            .collect();
        Ok(Json(json!({"warning": warning, "order_ids": orders})).into_response())
    })
    .await
}

async fn get_cluster(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    with_pipeline(&state, move |p| {
        let members = p.correlator_mut().members(&cluster_id);
        if members.is_empty() {
            return Err(ApiError::not_found("cluster", &cluster_id));
        }
        let mut seen = std::collections::HashSet::new();
        let members: Vec<String> = members.into_iter().filter(|m| seen.insert(m.clone())).collect();
        let mut clues = p.clues(&members).map_err(ApiError::from)?;
        // A party's name tokens (keyed hashes of each character and its sound) are for matching inside yujing.
        // Served beside the masked names they can be inverted: the surname shown in `赵**` names its token, and
        // that token in another name's second place gives away a character. Nobody is served them.
        for clue in &mut clues {
            for party in &mut clue.parties {
                party.name_tokens = None;
            }
        }
        if let Some(first) = clues.first() {
            if !principal.may_see_town(&first.town.town_code.0, first.town.town_name.as_deref()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "out_of_scope",
                    format!("cluster {cluster_id} is not your town's"),
                ));
            }
        }
        let warnings = p.warnings_in_full(p.orders().warnings().filter(|w| w.cluster_id == cluster_id))?;
        let orders: Vec<&str> = p
            .orders()
            .orders_of_cluster(&cluster_id)
            .into_iter()
            .map(|o| o.order_id.as_str())
            .collect();
        let mut feeds: BTreeMap<&str, usize> = BTreeMap::new();
        for clue in &clues {
            *feeds.entry(clue.feed.as_str()).or_default() += 1;
        }
        Ok(Json(json!({
            "cluster_id": cluster_id,
            "reports": clues.len(),
            "feeds": feeds,
            "clues": clues,
            "warnings": warnings,
            "order_ids": orders,
        })))
    })
    .await
}

async fn supervise(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate_action(&headers)?;
    if principal.actor.role != Role::Centre {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_allowed",
            "only the centre may run supervision",
        ));
    }
    with_pipeline(&state, |p| {
        let events = p.supervise()?;
        Ok(Json(json!({"events": events})))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestParams {
    /// The file name the body would have had: it picks the encoding and format details some feeds need
    /// (`.csv`, `.xml`, `.json`), and names the input in errors and dead letters.
    file: String,
}

async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(feed): Path<String>,
    params: Result<Query<IngestParams>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    // The token is checked before a byte of the body is read: an unauthenticated upload must cost nothing.
    let principal = state.tokens.authenticate_action(&headers)?;
    if principal.actor.role != Role::Centre {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_allowed",
            "only the centre's tokens may ingest",
        ));
    }
    let feed: FeedId = feed.parse().map_err(|e: yujing_model::UnknownFeed| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_feed", e.to_string())
    })?;
    let Query(params) = params.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{}; name the input with ?file=<export file name>", e.body_text()),
        )
    })?;
    let file = file_name_for_logs(&params.file);
    let body: Bytes = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body could not be read within the limit of {} bytes ({e}); split the export",
                    state.max_body_bytes
                ),
            )
        })?;
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the body is empty: POST the export's bytes",
        ));
    }
    // Decoding and normalizing need no lock: done here, beside whatever step the pipeline is running.
    let preparer = state.preparer.clone();
    let prepared = tokio::task::spawn_blocking(move || preparer.prepare(feed, &file, &body))
        .await
        .map_err(ApiError::internal)?;
    with_pipeline(&state, move |p| {
        let (files, step) = p.ingest_prepared(vec![prepared])?;
        let file = files.into_iter().next().unwrap_or_default();
        Ok(Json(json!({
            "file": file,
            "warnings": step.warnings.iter().map(|w| &w.warning_id).collect::<Vec<_>>(),
            "order_events": step.order_events.len(),
        })))
    })
    .await
}

fn centre_only(principal: &Principal, what: &str) -> Result<(), ApiError> {
    if principal.actor.role == Role::Centre {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_allowed",
            format!("only the centre's tokens may {what}"),
        ))
    }
}

/// `GET /api/v1/webhooks`: each configured webhook's delivery position, the entries its receiver refused for
/// good and whether a retry is pending. Centre tokens only.
async fn list_webhooks(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    centre_only(&principal, "see the webhooks")?;
    let log = state.log.clone();
    let names = state.webhooks.clone();
    let webhooks = tokio::task::spawn_blocking(move || {
        names
            .iter()
            .map(|name| {
                let next = feed::delivered(log.as_ref(), name)?;
                Ok::<_, yujing_engine::RefusedError>(json!({
                    "name": name,
                    "next": next,
                    "refused": yujing_engine::refused(log.as_ref(), name)?,
                    "retry_pending": yujing_engine::retry_requested(log.as_ref(), name)?.len(),
                }))
            })
            .collect::<Result<Vec<Value>, _>>()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(crate::error::error_chain(&e)))?;
    Ok(Json(json!({ "webhooks": webhooks })))
}

/// `POST /api/v1/webhooks/{name}/retry`: sends the entries webhook `name`'s receiver refused again, before its
/// next new entries. Answers how many. Centre tokens only.
async fn retry_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate_action(&headers)?;
    centre_only(&principal, "retry a webhook")?;
    if !state.webhooks.contains(&name) {
        return Err(ApiError::not_found("webhook", &file_name_for_logs(&name)));
    }
    let log = state.log.clone();
    let retrying = tokio::task::spawn_blocking(move || yujing_engine::request_retry(log.as_ref(), &name))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(crate::error::error_chain(&e)))?;
    // Wake the deliverer now rather than at its next look.
    state.outbox_end.send_modify(|_| {});
    Ok(Json(json!({ "retrying": retrying })))
}

/// `POST /api/v1/erasures`: erases people, as `yujing erase` does: every raw unit naming one of them becomes
/// unreadable for good, and the erasure is logged on `erasures`. Centre tokens only. On a sharded store every
/// shard erases its own keys (the front sends the request to each).
async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<yujing_engine::vault::ErasureRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let principal = state.tokens.authenticate_action(&headers)?;
    centre_only(&principal, "erase a person")?;
    let bad = |message: String| {
        // The body names people: whatever it quoted is redacted.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_erasure",
            yujing_feeds::pii::redact(&message),
        )
    };
    let Json(request) = body.map_err(|e| {
        bad(format!(
            "{}; send e.g. {{\"phones\": [\"139…\"], \"reason\": \"申请编号 …\"}} (or parties, id_numbers, accounts, names)",
            e.body_text()
        ))
    })?;
    let parties = request
        .party_keys(state.preparer.hasher())
        .map_err(|e| bad(e.to_string()))?;
    let (log, now) = (state.log.clone(), state.clock.now());
    let actor = format!("{} ({})", principal.actor.name, principal.actor.unit);
    let (erasure, offset) = tokio::task::spawn_blocking(move || {
        yujing_engine::vault::erase(log.as_ref(), &parties, &actor, &request.reason, now)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(crate::error::error_chain(&e)))?;
    tracing::info!(
        parties = erasure.parties.len(),
        keys_destroyed = erasure.keys_destroyed,
        offset,
        "people erased"
    );
    Ok(Json(json!({
        "keys_destroyed": erasure.keys_destroyed,
        "erasures": [{"offset": offset, "parties": erasure.parties}],
    })))
}

/// A file name as a client gave it, made safe to log and to keep in raw pointers: control characters (a
/// `%0A` that would forge a log line, an ANSI escape) become `_`, and it is cut at 255 characters.
fn file_name_for_logs(name: &str) -> String {
    name.chars()
        .take(255)
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_finds_its_route_by_method_and_path() {
        let route = |method: &str, path: &str| super::route_of(method, path).map(|r| (r.path, r.sharded));
        use super::Sharded;
        assert_eq!(
            route("GET", "/api/v1/orders"),
            Some(("/api/v1/orders", Sharded::Every))
        );
        assert_eq!(
            route("GET", "/api/v1/orders/wo-a"),
            Some(("/api/v1/orders/{order_id}", Sharded::One))
        );
        assert_eq!(
            route("POST", "/api/v1/orders/wo-a/commands"),
            Some(("/api/v1/orders/{order_id}/commands", Sharded::One))
        );
        assert_eq!(
            route("POST", "/api/v1/ingest/grid"),
            Some(("/api/v1/ingest/{feed}", Sharded::Any))
        );
        assert_eq!(
            route("DELETE", "/api/v1/session"),
            Some(("/api/v1/session", Sharded::Front))
        );
        assert_eq!(route("GET", "/"), Some(("/", Sharded::Front)));
        assert_eq!(route("GET", "/api/v1/orders/"), None, "an empty segment is no id");
        assert_eq!(route("PUT", "/api/v1/orders"), None);
        assert_eq!(route("GET", "/api/v1/orders/a/b"), None);
    }

    #[test]
    fn a_file_name_cannot_forge_a_log_line_or_colour_the_terminal() {
        assert_eq!(
            super::file_name_for_logs("a.jsonl\nINFO forged=1\u{1b}[31m"),
            "a.jsonl_INFO forged=1_[31m"
        );
        assert_eq!(super::file_name_for_logs(&"x".repeat(1000)).len(), 255);
        assert_eq!(super::file_name_for_logs("热线-06.jsonl"), "热线-06.jsonl");
    }
}
