//! Bearer tokens: each bound to a role, a unit and, for town handlers, a town. The configuration holds only the
//! SHA-256 of each token; a presented token is hashed and compared in constant time.
//!
//! The command centre's page signs in once with a token and then holds a **session**: an `HttpOnly`,
//! `SameSite=Strict` cookie naming a random session id, so the token is never kept where the page's scripts
//! could read it. A request authenticated by the cookie that changes something (a command, supervision,
//! ingestion, signing out) must also carry the session's CSRF token in `X-CSRF-Token`: another site can make a
//! browser send the cookie, but cannot read the token. Sessions live in memory: a restart signs everyone out.

use crate::config::TokenConfig;
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use yujing_model::{Actor, Role};
use yujing_workorder::WorkOrder;

use crate::error::ApiError;

/// The demo tokens accepted in demo mode when no tokens are configured: (token, name, role, unit, town).
pub const DEMO_TOKENS: [(&str, &str, Role, &str, &str); 3] = [
    (
        "demo-centre",
        "demo.centre",
        Role::Centre,
        "如皋市社会治理现代化指挥中心",
        "",
    ),
    (
        "demo-rucheng",
        "demo.rucheng",
        Role::TownHandler,
        "如城街道",
        "如城街道",
    ),
    (
        "demo-viewer",
        "demo.viewer",
        Role::Viewer,
        "如皋市社会治理现代化指挥中心",
        "",
    ),
];

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The actor recorded in the audit trail.
    pub actor: Actor,
    /// For a town handler, the town (name or code) it may act on.
    pub town: Option<String>,
}

impl Principal {
    /// Whether the principal may see and act on `order`: the centre and viewers see all; a town handler its
    /// town's orders and those dispatched to its unit.
    pub fn may_see(&self, order: &WorkOrder) -> bool {
        match &self.town {
            None => true,
            Some(town) => {
                order.subject.town_name.as_deref() == Some(town.as_str())
                    || order.subject.town_code == *town
                    || order.unit.as_deref() == Some(self.actor.unit.as_str())
            }
        }
    }

    /// Whether the principal may see what is about `town_code`/`town_name`.
    pub fn may_see_town(&self, town_code: &str, town_name: Option<&str>) -> bool {
        match &self.town {
            None => true,
            Some(town) => town_name == Some(town.as_str()) || town_code == town,
        }
    }

    /// Whether the principal may see a feed entry of `scope`: as [`Principal::may_see`], from the town and unit
    /// the entry carries.
    pub fn may_see_scope(&self, scope: &yujing_engine::EventScope) -> bool {
        self.may_see_town(&scope.town_code, scope.town_name.as_deref())
            || (self.town.is_some() && scope.unit.as_deref() == Some(self.actor.unit.as_str()))
    }
}

/// The configured tokens, and the sessions signed in with them.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
    sessions: std::sync::Arc<Sessions>,
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "yujing_session";

/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts without being used.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// At most this many sessions at once; signing in beyond it ends the least recently used.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in page.
#[derive(Debug, Clone)]
struct Session {
    principal: Principal,
    csrf: String,
    last_used: std::time::Instant,
    /// The token signed in with: the front of a sharded store forwards requests to the shards with it, as the
    /// shards know tokens, not this instance's sessions. Held in memory only, like every request's token.
    token: String,
}

/// The sessions, by the SHA-256 of their id (the id itself is kept only in the browser's cookie).
#[derive(Debug, Default)]
struct Sessions {
    by_id: std::sync::Mutex<std::collections::HashMap<[u8; 32], Session>>,
}

/// A new session: the cookie's value and the CSRF token the page sends back with its actions.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session id (the cookie's value).
    pub id: String,
    /// The CSRF token.
    pub csrf: String,
    /// Who signed in.
    pub principal: Principal,
}

fn random_hex() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no randomness for a session: {e}")))?;
    Ok(hex::encode(bytes))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.entries.len())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn principal(name: &str, role: Role, unit: &str, town: &str) -> Principal {
    Principal {
        actor: Actor {
            name: name.to_owned(),
            role,
            unit: unit.to_owned(),
        },
        town: (role == Role::TownHandler).then(|| town.to_owned()),
    }
}

impl Tokens {
    /// The tokens of the configuration (checked already); in demo mode with none configured, [`DEMO_TOKENS`].
    pub fn new(configured: &[TokenConfig], demo: bool) -> Tokens {
        let mut entries = Vec::new();
        for token in configured {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&token.sha256, &mut hash).is_ok() {
                entries.push((hash, principal(&token.name, token.role, &token.unit, &token.town)));
            }
        }
        if entries.is_empty() && demo {
            for (token, name, role, unit, town) in DEMO_TOKENS {
                entries.push((digest(token), principal(name, role, unit, town)));
            }
        }
        Tokens {
            entries,
            sessions: Default::default(),
        }
    }

    /// The principal a token names.
    fn principal_of(&self, token: &str) -> Option<Principal> {
        let presented = digest(token);
        // Compare every entry in full, so timing says nothing about which bytes matched.
        let mut found = None;
        for (hash, principal) in &self.entries {
            if same(hash, &presented) {
                found = Some(principal.clone());
            }
        }
        found
    }

    /// Signs in with `token`: a new session for its principal.
    pub fn sign_in(&self, token: &str) -> Result<NewSession, ApiError> {
        let principal = self.principal_of(token.trim()).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the token is not valid")
        })?;
        let (id, csrf) = (random_hex()?, random_hex()?);
        let mut sessions = self.sessions.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            digest(&id),
            Session {
                principal: principal.clone(),
                csrf: csrf.clone(),
                last_used: now,
                token: token.trim().to_owned(),
            },
        );
        Ok(NewSession { id, csrf, principal })
    }

    /// Ends the request's session, if it has one.
    pub fn sign_out(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            let mut sessions = self.sessions.by_id.lock().unwrap_or_else(|e| e.into_inner());
            sessions.remove(&digest(id));
        }
    }

    /// The request's session: its principal and CSRF token, if the cookie names a live one.
    pub fn session(&self, headers: &HeaderMap) -> Option<(Principal, String)> {
        self.live_session(headers).map(|s| (s.principal, s.csrf))
    }

    /// The token of the request's session, for forwarding it as a bearer token (the sharded front).
    pub fn session_token(&self, headers: &HeaderMap) -> Option<String> {
        self.live_session(headers).map(|s| s.token)
    }

    /// The session the request's cookie names, if it has not been idle too long (then it is ended); using it
    /// keeps it alive.
    fn live_session(&self, headers: &HeaderMap) -> Option<Session> {
        let key = digest(cookie(headers, SESSION_COOKIE)?);
        let mut sessions = self.sessions.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match sessions.get_mut(&key) {
            Some(session) if now.duration_since(session.last_used) < SESSION_IDLE => {
                session.last_used = now;
                Some(session.clone())
            }
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// The principal of a request that changes something: as [`Tokens::authenticate`], and when it is
    /// authenticated by the session cookie, its `X-CSRF-Token` must be the session's.
    pub fn authenticate_action(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        if headers.contains_key(axum::http::header::AUTHORIZATION) {
            return self.authenticate(headers);
        }
        let (principal, csrf) = self.session(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <token>, or sign in (POST /api/v1/session)",
            )
        })?;
        let presented = headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !same(presented, csrf.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "an action from a signed-in page must carry the session's X-CSRF-Token",
            ));
        }
        Ok(principal)
    }

    /// The principal of the request's `Authorization: Bearer …` header or, without one, of its session cookie.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
            return self
                .session(headers)
                .map(|(principal, _)| principal)
                .ok_or_else(|| {
                    unauthorized("send Authorization: Bearer <token>, or sign in (POST /api/v1/session)")
                });
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        self.principal_of(token)
            .ok_or_else(|| unauthorized("the token is not valid"))
    }
}
