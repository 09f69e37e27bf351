//! The command centre's page (一图展示), served by `yujing run` at `/`: the county map with every open warning,
//! the warnings, the work-order board, the towns and the trend, live over the event stream, with each
//! warning's evidence and its order's actions one click away.
//!
//! - The page is three files embedded in the binary (`assets/`): no CDN, no tile server, no build step. It
//!   talks to the same API as every other client.
//! - [`map`] projects the configured county outline to SVG on the server, once.
//! - [`board`] computes every panel in one pass over the warnings and orders, scoped to who asks.
//! - Sign-in exchanges a token for a session cookie (see [`crate::auth`]); the token is never stored by the
//!   page.

pub mod board;
pub mod map;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Principal, Tokens, SESSION_COOKIE, SESSION_IDLE};
use crate::error::ApiError;
use crate::AppState;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The page's files, by path: what the page weighs without data.
pub const ASSETS: [(&str, &str, &str); 3] = [
    ("/", "text/html; charset=utf-8", INDEX_HTML),
    ("/assets/app.js", "text/javascript; charset=utf-8", APP_JS),
    ("/assets/app.css", "text/css; charset=utf-8", APP_CSS),
];

/// Only the page's own files and API: no inline script, no other origin, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    asset(ASSETS[0].1, ASSETS[0].2)
}

/// `GET /assets/app.js`.
pub(crate) async fn script() -> Response {
    asset(ASSETS[1].1, ASSETS[1].2)
}

/// `GET /assets/app.css`.
pub(crate) async fn style() -> Response {
    asset(ASSETS[2].1, ASSETS[2].2)
}

fn who(principal: &Principal, csrf: &str) -> Value {
    json!({
        "name": principal.actor.name,
        "role": principal.actor.role,
        "unit": principal.actor.unit,
        "town": principal.town,
        "csrf": csrf,
    })
}

/// `GET /api/v1/session`: who the session cookie signs in, with its CSRF token; 401 when none.
pub(crate) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    session_of(&state.tokens, &headers)
}

/// The answer of `GET /api/v1/session` (also the sharded front's).
pub(crate) fn session_of(tokens: &Tokens, headers: &HeaderMap) -> Result<Json<Value>, ApiError> {
    let (principal, csrf) = tokens.session(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not signed in: POST /api/v1/session with {\"token\": \"…\"}",
        )
    })?;
    Ok(Json(who(&principal, &csrf)))
}

/// A sign-in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    token: String,
}

/// `POST /api/v1/session` `{"token": "…"}`: a session for the token's holder, as an `HttpOnly` cookie, and its
/// CSRF token in the body.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    https: Option<axum::Extension<crate::http::Https>>,
    headers: HeaderMap,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    sign_in_with(&state.tokens, https.is_some(), &headers, body)
}

/// The answer of `POST /api/v1/session` (also the sharded front's); `over_tls` when yujing itself served it
/// over HTTPS (`[server.tls]`).
pub(crate) fn sign_in_with(
    tokens: &Tokens,
    over_tls: bool,
    headers: &HeaderMap,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_sign_in",
            format!("{}; send {{\"token\": \"…\"}}", e.body_text()),
        )
    })?;
    let session = tokens.sign_in(&request.token)?;
    tracing::info!(actor = %session.principal.actor.name, "signed in to the page");
    // Secure when the page is served over HTTPS: by yujing itself, or by a terminating proxy that says so.
    let secure = over_tls
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.id,
        SESSION_IDLE.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Json(who(&session.principal, &session.csrf)).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /api/v1/session`: signs out (with the session's `X-CSRF-Token`).
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    sign_out_of(&state.tokens, &headers)
}

/// The answer of `DELETE /api/v1/session` (also the sharded front's).
pub(crate) fn sign_out_of(tokens: &Tokens, headers: &HeaderMap) -> Result<Response, ApiError> {
    // A session's sign-out needs its CSRF token, like every action of the page.
    tokens.authenticate_action(headers)?;
    tokens.sign_out(headers);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("yujing_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// `GET /api/v1/map`: the county outline projected to SVG.
pub(crate) async fn map(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.tokens.authenticate(&headers)?;
    Ok(Json(state.map.drawing()).into_response())
}

/// `GET /api/v1/board?town=&level=&type=&state=`: every panel of the page, as the caller may see it.
pub(crate) async fn get_board(
    State(state): State<AppState>,
    headers: HeaderMap,
    filter: Result<Query<board::BoardFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<board::Board>, ApiError> {
    let principal = state.tokens.authenticate(&headers)?;
    let Query(filter) =
        filter.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let map = state.map.clone();
    crate::api::with_pipeline(&state, move |p| {
        let now = p.clock().now();
        Ok(Json(board::board(
            p.orders().warnings(),
            p.orders().orders(),
            p.towns(),
            &map,
            &principal,
            &filter,
            now,
        )))
    })
    .await
}
