//! The command-centre feed: the `outbox` topic as server-sent events (resumable from the last event id) and as
//! signed webhook POSTs delivered in order, exactly once per receiver that honours the idempotency key, across
//! receiver outages and yujing restarts.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::watch;
use yujing_engine::refused::{self, RefusedDelivery};
use yujing_engine::{read_outbox, Clock, Metrics, OutboxEvent};

use crate::config::{CapConfig, WebhookConfig, WebhookFormat};
use yujing_log::{Batch, Log, Offset};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

/// Entries read from the outbox per page.
const PAGE: usize = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsParams {
    /// The first offset to send (`0`: the whole history). The default is what happens from now on, or after
    /// `Last-Event-ID`: a page loads the current state from the API and follows the stream, so 500 open pages
    /// do not each replay the history. (On a sharded store only `0` means anything: each shard's history.)
    pub(crate) from: Option<Offset>,
}

struct Cursor {
    /// Held while the stream is open: one of `server.max_event_streams`.
    _permit: tokio::sync::OwnedSemaphorePermit,
    state: AppState,
    principal: Principal,
    log: Arc<dyn Log>,
    next: Offset,
    pending: std::collections::VecDeque<(Offset, OutboxEvent)>,
    changes: watch::Receiver<Offset>,
    stopping: watch::Receiver<bool>,
}

/// `GET /api/v1/events`: every warning and work-order event as SSE, `id` = outbox offset, `event` =
/// `<kind>.<event>`; reconnecting with `Last-Event-ID` resumes after it. Town handlers get their town's only.
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    let Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let last = match headers
        .get("last-event-id")
        .map(|v| v.to_str().map(|s| s.trim().parse::<Offset>()))
    {
        None => None,
        Some(Ok(Ok(id))) => Some(id),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_last_event_id",
                "Last-Event-ID must be an event id this stream sent (a number)",
            ))
        }
    };
    let next = last
        .map(|id| id + 1)
        .or(params.from)
        .unwrap_or_else(|| *state.outbox_end.borrow());
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_event_streams",
            "every event stream this server allows is open (server.max_event_streams); retry later",
        ));
    };
    let cursor = Cursor {
        _permit: permit,
        log: state.log.clone(),
        changes: state.outbox_end.subscribe(),
        stopping: state.stopping.clone(),
        state,
        principal,
        next,
        pending: Default::default(),
    };
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if *cursor.stopping.borrow() {
                return None;
            }
            if let Some((offset, event)) = cursor.pending.pop_front() {
                let data = match serde_json::to_string(&event) {
                    Ok(data) => data,
                    Err(error) => {
                        // Never an empty event: the stream ends, and the client resumes after the last one.
                        tracing::error!(%error, id = %event.id, "encoding a feed entry for SSE");
                        return None;
                    }
                };
                let sse = Event::default()
                    .id(offset.to_string())
                    .event(format!("{}.{}", event.kind, event.event))
                    .data(data);
                return Some((Ok(sse), cursor));
            }
            let log = cursor.log.clone();
            let from = cursor.next;
            let pipeline = cursor.state.pipeline.clone();
            let principal = cursor.principal.clone();
            let page = tokio::task::spawn_blocking(move || {
                let entries = read_outbox(log.as_ref(), from, PAGE)?;
                let end = entries.last().map(|(offset, _)| offset + 1);
                if principal.town.is_none() {
                    return Ok((end, entries));
                }
                let pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
                let visible = entries
                    .into_iter()
                    .filter(|(_, event)| visible_to(&principal, &pipeline, event))
                    .collect();
                Ok::<_, yujing_engine::ReadError>((end, visible))
            })
            .await;
            match page {
                Ok(Ok((Some(end), entries))) => {
                    cursor.next = end;
                    cursor.pending.extend(entries);
                }
                Ok(Ok((None, _))) => {
                    // Caught up: wait for the next write, the server stopping, or re-check now and then.
                    tokio::select! {
                        _ = cursor.changes.changed() => {}
                        _ = cursor.stopping.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "reading the outbox for SSE");
                    return None;
                }
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Whether `principal` may see a feed entry: a warning about its town, or an event of an order it may see.
fn visible_to(principal: &Principal, pipeline: &yujing_engine::Pipeline, event: &OutboxEvent) -> bool {
    if let Some(scope) = &event.scope {
        return principal.may_see_scope(scope);
    }
    // Entries written before they carried their scope.
    if event.kind == "warning" {
        let subject = event.data.get("subject");
        let field = |name: &str| subject.and_then(|s| s.get(name)).and_then(|v| v.as_str());
        return principal.may_see_town(field("town_code").unwrap_or_default(), field("town_name"));
    }
    event
        .data
        .get("order_id")
        .and_then(|id| id.as_str())
        .and_then(|id| pipeline.orders().order(id))
        .is_some_and(|order| principal.may_see(order))
}

/// The signature header value of `body` at unix time `t`: `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The state key holding the next outbox offset to deliver to webhook `name`.
pub fn delivered_key(name: &str) -> Vec<u8> {
    format!("webhook/{name}/next").into_bytes()
}

/// The next outbox offset to deliver to webhook `name` (0 before the first delivery).
pub fn delivered(log: &dyn Log, name: &str) -> Result<Offset, yujing_log::LogError> {
    Ok(log
        .state(&delivered_key(name))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(0))
}

enum Attempt {
    Delivered,
    Rejected(StatusCode),
    Retry(String),
}

/// A webhook receiver: where and how to deliver.
pub struct Receiver {
    /// The webhook's configuration.
    pub hook: WebhookConfig,
    /// Its signing secret.
    pub secret: String,
    /// The sender its CAP alerts name (`format = "cap"`).
    pub cap: CapConfig,
}

/// Delivers the outbox to one webhook until `shutdown` turns true: in order, each entry once it is acknowledged
/// (any 2xx, or 409 "already have it"), retrying failures (connection errors, timeouts, 408, 429, 5xx) with
/// exponential backoff. Another 4xx is a refusal for good: the entry goes on the webhook's refused list (in the
/// same write as the progress past it, so a crash loses neither), is counted by `yujing_webhook_refused`, and the
/// feed goes on; a retry request (`yujing webhook retry`, `POST /api/v1/webhooks/{name}/retry`) sends the list
/// again, before the next new entries. Progress is recorded in the store after each entry, so a restart resumes
/// where it stopped.
pub async fn deliver_webhook(
    receiver: Receiver,
    log: Arc<dyn Log>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    mut changes: watch::Receiver<Offset>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Receiver { hook, secret, cap } = receiver;
    let lag = metrics
        .lag
        .with_label_values(&[&format!("webhook:{}", hook.name)]);
    let refused_gauge = metrics.webhook_refused.with_label_values(&[&hook.name]);
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(hook.timeout_ms))
        .user_agent(concat!("yujing/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(webhook = %hook.name, %error, "cannot build the HTTP client; webhook not delivered");
            return;
        }
    };
    let sender = Sender {
        client,
        cap: &cap,
        hook: &hook,
        secret: &secret,
        clock: clock.as_ref(),
        metrics: &metrics,
    };
    let key = delivered_key(&hook.name);
    let name = hook.name.clone();
    match blocking(&log, move |log| refused::refused(log, &name)).await {
        Some(Ok(list)) => refused_gauge.set(list.len() as i64),
        Some(Err(error)) => tracing::error!(webhook = %hook.name, %error, "reading the refused entries"),
        None => return,
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        // A retry request first: the refused entries again, in their order.
        let name = hook.name.clone();
        let retry = match blocking(&log, move |log| refused::retry_requested(log, &name)).await {
            Some(Ok(retry)) => retry,
            Some(Err(error)) => {
                tracing::error!(webhook = %hook.name, %error, "reading a retry request");
                Vec::new()
            }
            None => return,
        };
        if !retry.is_empty() {
            let name = hook.name.clone();
            let Some(Ok(mut list)) = blocking(&log, move |log| refused::refused(log, &name)).await else {
                tracing::error!(webhook = %hook.name, "reading the refused entries to retry them");
                return;
            };
            for offset in retry {
                let page = blocking(&log, move |log| read_outbox(log, offset, 1)).await;
                let Some(Ok(page)) = page else { return };
                let Some((_, event)) = page.into_iter().find(|(o, _)| *o == offset) else {
                    continue;
                };
                match sender.deliver(offset, &event, &mut shutdown).await {
                    None => return,
                    Some(Ok(())) => list.retain(|r| r.offset != offset),
                    Some(Err(status)) => {
                        if let Some(entry) = list.iter_mut().find(|r| r.offset == offset) {
                            entry.status = status.as_u16();
                            entry.at = clock.now();
                        }
                    }
                }
            }
            let mut batch = Batch::new();
            if let Err(error) = refused::put_refused(&mut batch, &hook.name, &list) {
                tracing::error!(webhook = %hook.name, %error, "recording the refused entries");
                return;
            }
            refused::clear_retry(&mut batch, &hook.name);
            match blocking(&log, move |log| log.write(batch)).await {
                Some(Ok(_)) => {
                    tracing::info!(webhook = %hook.name, still_refused = list.len(), "refused entries sent again");
                    refused_gauge.set(list.len() as i64);
                }
                Some(Err(error)) => {
                    tracing::error!(webhook = %hook.name, %error, "recording the retried entries");
                    return;
                }
                None => return,
            }
            continue;
        }
        let next: Offset = {
            let name = hook.name.clone();
            match blocking(&log, move |log| delivered(log, &name)).await {
                Some(Ok(next)) => next,
                Some(Err(error)) => {
                    tracing::error!(webhook = %hook.name, %error, "reading delivery progress");
                    0
                }
                None => return,
            }
        };
        let page = blocking(&log, move |log| read_outbox(log, next, PAGE)).await;
        if let Ok(end) = log.end_offset(yujing_engine::topics::OUTBOX) {
            lag.set(end.saturating_sub(next) as i64);
        }
        let entries = match page {
            Some(Ok(entries)) => entries,
            Some(Err(error)) => {
                tracing::error!(webhook = %hook.name, %error, "reading the outbox");
                Vec::new()
            }
            None => return,
        };
        if entries.is_empty() {
            tokio::select! {
                _ = changes.changed() => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            continue;
        }
        for (offset, event) in entries {
            let mut batch = Batch::new();
            match sender.deliver(offset, &event, &mut shutdown).await {
                None => return,
                Some(Ok(())) => {}
                Some(Err(status)) => {
                    let name = hook.name.clone();
                    let Some(Ok(mut list)) = blocking(&log, move |log| refused::refused(log, &name)).await
                    else {
                        tracing::error!(webhook = %hook.name, "reading the refused entries");
                        return;
                    };
                    list.push(RefusedDelivery {
                        offset,
                        event_id: event.id.clone(),
                        event: format!("{}.{}", event.kind, event.event),
                        status: status.as_u16(),
                        at: clock.now(),
                    });
                    if let Err(error) = refused::put_refused(&mut batch, &hook.name, &list) {
                        tracing::error!(webhook = %hook.name, %error, "recording a refused entry");
                        return;
                    }
                    refused_gauge.set(list.len() as i64);
                }
            }
            match serde_json::to_vec(&(offset + 1)) {
                Ok(next) => batch.put_state(key.clone(), next),
                Err(error) => {
                    tracing::error!(webhook = %hook.name, %error, "encoding delivery progress");
                    return;
                }
            }
            match blocking(&log, move |log| log.write(batch)).await {
                Some(Ok(_)) => lag.dec(),
                Some(Err(error)) => {
                    tracing::error!(webhook = %hook.name, %error, "recording delivery progress");
                    return;
                }
                None => return,
            }
        }
    }
}

/// Runs `f` on the log off the async threads; `None` when the task could not run (the runtime is stopping).
async fn blocking<T: Send + 'static>(
    log: &Arc<dyn Log>,
    f: impl FnOnce(&dyn Log) -> T + Send + 'static,
) -> Option<T> {
    let log = log.clone();
    tokio::task::spawn_blocking(move || f(log.as_ref())).await.ok()
}

/// What sends one webhook's entries.
struct Sender<'a> {
    client: reqwest::Client,
    cap: &'a CapConfig,
    hook: &'a WebhookConfig,
    secret: &'a str,
    clock: &'a dyn Clock,
    metrics: &'a Metrics,
}

impl Sender<'_> {
    /// Sends one entry until the receiver takes it (`Ok`) or refuses it for good (`Err` with the status),
    /// retrying with backoff in between; `None` when the server stops first.
    async fn deliver(
        &self,
        offset: Offset,
        event: &OutboxEvent,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Result<(), StatusCode>> {
        let hook = self.hook;
        let outcome = |name: &str| {
            self.metrics
                .webhook_deliveries
                .with_label_values(&[&hook.name, name])
        };
        let encoded = match hook.format {
            WebhookFormat::Json => serde_json::to_vec(event).map(|body| (body, "application/json")),
            // A CAP receiver gets the warnings; work-order events are not alerts, and pass it by.
            WebhookFormat::Cap if event.kind != "warning" => return Some(Ok(())),
            WebhookFormat::Cap => {
                serde_json::from_value::<yujing_model::Warning>(event.data.clone()).map(|warning| {
                    (
                        crate::cap::alert(&warning, self.cap).into_bytes(),
                        crate::cap::MEDIA_TYPE,
                    )
                })
            }
        };
        let (body, content_type) = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                tracing::error!(webhook = %hook.name, offset, %error, "encoding an outbox entry");
                return None;
            }
        };
        let mut backoff = hook.initial_backoff_ms;
        loop {
            if *shutdown.borrow() {
                return None;
            }
            match attempt(
                &self.client,
                hook,
                self.secret,
                self.clock,
                offset,
                event,
                (&body, content_type),
            )
            .await
            {
                Attempt::Delivered => {
                    outcome("delivered").inc();
                    self.metrics
                        .webhook_failing_since
                        .with_label_values(&[&hook.name])
                        .set(0.0);
                    self.metrics
                        .webhook_last_success
                        .with_label_values(&[&hook.name])
                        .set(self.clock.now().timestamp_millis() as f64 / 1000.0);
                    return Some(Ok(()));
                }
                Attempt::Rejected(status) => {
                    outcome("rejected").inc();
                    // The receiver answered: the run of failures (if any) is over; the entry is on the refused list.
                    self.metrics
                        .webhook_failing_since
                        .with_label_values(&[&hook.name])
                        .set(0.0);
                    tracing::error!(webhook = %hook.name, offset, id = %event.id, %status,
                        "the receiver refused the event for good; kept on the refused list (yujing webhook retry)");
                    return Some(Err(status));
                }
                Attempt::Retry(why) => {
                    outcome("failed").inc();
                    let failing_since = self
                        .metrics
                        .webhook_failing_since
                        .with_label_values(&[&hook.name]);
                    if failing_since.get() == 0.0 {
                        failing_since.set(self.clock.now().timestamp_millis() as f64 / 1000.0);
                    }
                    tracing::warn!(webhook = %hook.name, offset, id = %event.id, %why, retry_in_ms = backoff,
                        "delivery failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(backoff)) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff.saturating_mul(2)).min(hook.max_backoff_ms);
                }
            }
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    secret: &str,
    clock: &dyn Clock,
    offset: Offset,
    event: &OutboxEvent,
    (body, content_type): (&[u8], &str),
) -> Attempt {
    let t = clock.now().timestamp();
    let response = client
        .post(&hook.url)
        .header("content-type", content_type)
        .header("idempotency-key", &event.id)
        .header("x-yujing-event-id", offset.to_string())
        .header("x-yujing-event", format!("{}.{}", event.kind, event.event))
        .header("x-yujing-signature", signature(secret.as_bytes(), t, body))
        .body(body.to_vec())
        .send()
        .await;
    match response {
        Err(error) => Attempt::Retry(error.to_string()),
        Ok(response) => {
            let status = response.status();
            if status.is_success() || status == StatusCode::CONFLICT {
                Attempt::Delivered
            } else if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
            {
                Attempt::Retry(format!("HTTP {status}"))
            } else {
                Attempt::Rejected(status)
            }
        }
    }
}
