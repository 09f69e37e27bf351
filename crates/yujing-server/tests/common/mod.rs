//! What the server tests share: a yujing on a temporary store with a hand-moved clock, the seed case's reports
//! as HTTP bodies, and a webhook receiver that can be taken down.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use yujing_engine::{EngineConfig, ManualClock, Pipeline};
use yujing_log::{EmbeddedLog, Log};
use yujing_model::Role;
use yujing_server::config::{ServerConfig, TokenConfig, WebhookConfig};
use yujing_server::{Options, Server};

/// The webhook's signing secret in these tests.
pub const SECRET: &str = "test-webhook-secret-0123456789";

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds")
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(samples().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn lines(name: &str, take: usize) -> Vec<u8> {
    let text = String::from_utf8(sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut out: String = text.lines().take(take).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out.into_bytes()
}

/// Five reports of the seed case's 锦绣华庭 dispute as they first reach the centre, as (feed, file name, body):
/// two hotline calls (one delivered twice), the grid report, the police call and the screening ledger's row,
/// which names both callers' phones. (The exchange complaint, pushed later, joins afterwards.)
pub fn first_five_reports() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let police = sample("police.sample.csv");
    let second = police
        .windows(20)
        .position(|w| w == b"J3206822026061001207")
        .unwrap_or(police.len());
    vec![
        (
            "hotline12345",
            "hotline12345.0603.jsonl",
            lines("hotline12345.sample.jsonl", 3),
        ),
        ("grid", "grid.0606.jsonl", lines("grid.sample.jsonl", 1)),
        ("police", "police.0607.csv", police[..second].to_vec()),
        (
            "screening",
            "screening.0610.csv",
            lines("screening.sample.csv", 2),
        ),
    ]
}

/// Every sample file, whole, as (feed, file name, body).
pub fn all_reports() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    [
        ("hotline12345", "hotline12345.sample.jsonl"),
        ("grid", "grid.sample.jsonl"),
        ("police", "police.sample.csv"),
        ("screening", "screening.sample.csv"),
        ("justice", "justice.sample.xml"),
        ("exchange", "exchange.sample.jsonl"),
    ]
    .into_iter()
    .map(|(feed, name)| (feed, name, sample(name)))
    .collect()
}

/// A test yujing's configuration: the engine's, and `[server]` as `yujing-server` reads it. Reads of the
/// engine's sections go through to it (`config.store`), so a test changes either the way a file would.
pub struct Config {
    /// Every section but `[server]`.
    pub engine: EngineConfig,
    /// `[server]`.
    pub server: ServerConfig,
}

impl std::ops::Deref for Config {
    type Target = EngineConfig;
    fn deref(&self) -> &EngineConfig {
        &self.engine
    }
}

impl std::ops::DerefMut for Config {
    fn deref_mut(&mut self) -> &mut EngineConfig {
        &mut self.engine
    }
}

/// The configuration of a test yujing: demo secret and tokens, one webhook.
pub fn config(store: &Path, webhook: Option<SocketAddr>) -> Config {
    let mut config = Config {
        engine: EngineConfig::defaults(),
        server: ServerConfig::defaults(),
    };
    config.pii.demo = true;
    config.store.data_dir = store.to_path_buf();
    config.server.supervise_every_secs = 3600;
    if let Some(addr) = webhook {
        config.server.webhooks.push(WebhookConfig {
            name: "command-centre".to_owned(),
            url: format!("http://{addr}/hook"),
            secret: SECRET.to_owned(),
            secret_env: String::new(),
            initial_backoff_ms: 20,
            max_backoff_ms: 200,
            timeout_ms: 2000,
            format: Default::default(),
        });
    }
    config
}

/// The tokens of the tests that configure their own (the demo tokens are off once tokens are configured):
/// (token, name, role, unit, town).
pub const TOKENS: [(&str, &str, Role, &str, &str); 4] = [
    (
        "centre-token-0123456789",
        "centre",
        Role::Centre,
        "如皋市社会治理现代化指挥中心",
        "",
    ),
    (
        "rucheng-token-0123456789",
        "rucheng",
        Role::TownHandler,
        "如城街道",
        "如城街道",
    ),
    (
        "baipu-token-0123456789",
        "baipu",
        Role::TownHandler,
        "白蒲镇",
        "白蒲镇",
    ),
    (
        "viewer-token-0123456789",
        "viewer",
        Role::Viewer,
        "如皋市社会治理现代化指挥中心",
        "",
    ),
];

/// [`config`] with [`TOKENS`] configured.
pub fn config_with_tokens(store: &Path) -> Config {
    let mut config = config(store, None);
    for (token, name, role, unit, town) in TOKENS {
        config.server.tokens.push(TokenConfig {
            name: name.to_owned(),
            sha256: hex::encode(Sha256::digest(token.as_bytes())),
            role,
            unit: unit.to_owned(),
            town: town.to_owned(),
        });
    }
    config
}

/// Opens the store and serves it on a free port.
pub async fn start(store: &Path, clock: &ManualClock, webhook: Option<SocketAddr>) -> Server {
    start_with(config(store, webhook), clock).await
}

/// Opens the store of `config` and serves it on a free port.
pub async fn start_with(config: Config, clock: &ManualClock) -> Server {
    let built = config.check().unwrap_or_else(|e| panic!("{e}"));
    let log: Arc<dyn Log> =
        Arc::new(EmbeddedLog::open(&config.store.data_dir).unwrap_or_else(|e| panic!("{e}")));
    let pipeline = Pipeline::open(log, built, Arc::new(clock.clone())).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    yujing_server::start(
        pipeline,
        &config.server,
        true,
        listener,
        Options {
            supervise: false,
            watch_dir: None,
            sources: Vec::new(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// An HTTP client of a running yujing.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

fn status_of(response: &reqwest::Response) -> StatusCode {
    StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::IM_A_TEAPOT)
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::new(),
        }
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = status_of(&response);
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = status_of(&response);
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn ingest(&self, feed: &str, file: &str, body: Vec<u8>) -> Value {
        self.ingest_as("demo-centre", feed, file, body).await
    }

    /// [`Client::ingest`] with `token`.
    pub async fn ingest_as(&self, token: &str, feed: &str, file: &str, body: Vec<u8>) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1/ingest/{feed}?file={file}", self.base))
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ingest {file}: {e}"));
        let status = status_of(&response);
        let answer = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "ingest {file}: {answer}");
        answer
    }

    /// Issues a command and expects it to succeed; returns the order.
    pub async fn command(&self, token: &str, order_id: &str, body: Value) -> Value {
        let (status, answer) = self
            .post(
                token,
                &format!("/api/v1/orders/{order_id}/commands"),
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        answer["order"].clone()
    }
}

/// What the webhook receiver saw.
#[derive(Default)]
pub struct Received {
    /// Event ids (Idempotency-Key) accepted, in the order accepted.
    pub accepted: Vec<String>,
    /// Deliveries of an id already accepted (acknowledged, not applied again).
    pub repeats: Vec<String>,
    /// Deliveries refused while down.
    pub refused_while_down: usize,
    /// Deliveries with a bad signature.
    pub bad_signatures: usize,
    /// The bodies accepted, by id (JSON; `null` for another format).
    pub bodies: HashMap<String, Value>,
    /// The bodies accepted as sent, with their content type, by id.
    pub raw: HashMap<String, (String, String)>,
}

/// A webhook receiver that checks signatures, drops repeats by idempotency key, and can be down (503).
#[derive(Clone, Default)]
pub struct Receiver {
    pub down: Arc<AtomicBool>,
    /// Answers 401, as a receiver with the wrong signing secret does: a refusal for good.
    pub refusing: Arc<AtomicBool>,
    pub received: Arc<Mutex<Received>>,
}

impl Receiver {
    pub async fn start(&self) -> SocketAddr {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .accepted
            .clone()
    }

    /// Waits (up to a minute) until the receiver has accepted `n` events.
    pub async fn wait_for(&self, n: usize) {
        for _ in 0..6000 {
            if self.accepted().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the receiver accepted {} of {n} events", self.accepted().len());
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut received = receiver.received.lock().unwrap_or_else(|e| e.into_inner());
    if receiver.refusing.load(Ordering::SeqCst) {
        return StatusCode::UNAUTHORIZED;
    }
    if receiver.down.load(Ordering::SeqCst) {
        received.refused_while_down += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = header("x-yujing-signature");
    let t: i64 = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    if signature != yujing_server::signature(SECRET.as_bytes(), t, &body) {
        received.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let key = header("idempotency-key");
    if received.bodies.contains_key(&key) {
        received.repeats.push(key);
        return StatusCode::OK;
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received.bodies.insert(key.clone(), value);
    let raw = (
        header("content-type"),
        String::from_utf8_lossy(&body).into_owned(),
    );
    received.raw.insert(key.clone(), raw);
    received.accepted.push(key);
    StatusCode::OK
}
