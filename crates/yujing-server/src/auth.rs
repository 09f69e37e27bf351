//! Bearer tokens: each bound to a role, a unit and, for town handlers, a town. The configuration holds only the
//! SHA-256 of each token; a presented token is hashed and compared in constant time.

use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use yujing_engine::TokenConfig;
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

/// The configured tokens.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
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
        Tokens { entries }
    }

    /// The principal of the request's `Authorization: Bearer …` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        let presented = digest(token);
        // Compare every entry in full, so timing says nothing about which bytes matched.
        let mut found = None;
        for (hash, principal) in &self.entries {
            let diff = hash
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(principal.clone());
            }
        }
        found.ok_or_else(|| unauthorized("the token is not valid"))
    }
}
