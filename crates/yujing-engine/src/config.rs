//! yujing's configuration: the built-in defaults, a file, and the environment, layered and checked.
//!
//! Layers, later ones winning: `config/yujing.toml` (compiled in), the file given with `--config`, environment
//! variables `YUJING__<SECTION>__<KEY>` (e.g. `YUJING__STORE__DATA_DIR`), and for the secret also
//! `YUJING_PII_SECRET`. [`EngineConfig::check`] reports every problem at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use yujing_correlate::{CorrelateConfig, Settings};
use yujing_feeds::pii::{PartyHasher, DEMO_SECRET, MIN_SECRET_LEN};
use yujing_feeds::{CountyOutline, FeedRules, FeedsConfig, Gazetteer, Normalizer};
use yujing_log::KafkaConfig;

use crate::sources::SourceConfig;
use yujing_model::Role;
use yujing_workorder::{Policy, WorkOrderConfig};

/// The built-in configuration, `config/yujing.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/yujing.toml");

/// The environment variable that may carry the party-key secret.
pub const SECRET_ENV: &str = "YUJING_PII_SECRET";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Where the store lives.
    pub store: StoreConfig,
    /// Personal-data protection.
    pub pii: PiiConfig,
    /// The divisions file.
    pub gazetteer: GazetteerConfig,
    /// The feeds' category tables, risk words and exchange mappings.
    pub feeds: FeedsConfig,
    /// Matching clues into clusters, and the warning rules.
    #[serde(default)]
    pub correlate: CorrelateConfig,
    /// Work orders: routing, deadlines, the calendar, escalation.
    pub workorders: WorkOrderConfig,
    /// `yujing run`: the HTTP API, its tokens, the webhooks, supervision and the drop directory.
    pub server: ServerConfig,
    /// Upstream Kafka topics `yujing run` ingests as they are published.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

/// `[server]`: what `yujing run` serves and delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The address to listen on (also `--listen`).
    pub listen: String,
    /// How often supervision runs (deadlines, cards, escalation), in seconds.
    pub supervise_every_secs: u64,
    /// A drop directory polled for export files (empty: none; also `--watch`).
    #[serde(default)]
    pub watch_dir: PathBuf,
    /// How often the drop directory is polled, in seconds.
    pub watch_every_secs: u64,
    /// The largest HTTP ingestion body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How many event streams (`/api/v1/events`) may be open at once; one more is answered 503.
    #[serde(default = "default_max_event_streams")]
    pub max_event_streams: usize,
    /// How many HTTP connections may be open at once; further ones wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a client may take to send a request's head, in seconds; a slower one is disconnected.
    #[serde(default = "default_header_timeout_secs")]
    pub header_timeout_secs: u64,
    /// On a sharded store, the base URL the other instances forward API requests to this one at
    /// (`http://host:port`). Empty: `http://<listen address>`, with the machine's host name in place of an
    /// address that listens on every interface.
    #[serde(default)]
    pub advertise: String,
    /// Bearer tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Webhook receivers of the command-centre feed.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Who the CAP 1.2 alerts name as their sender.
    #[serde(default)]
    pub cap: CapConfig,
}

/// The sender of the CAP 1.2 alerts (`GET /api/v1/warnings/{id}` as `application/cap+xml`, webhooks with
/// `format = "cap"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapConfig {
    /// The alert's `<sender>`: a stable identifier of this system, without spaces, commas, `<` or `&`.
    pub sender: String,
    /// The alert's `<senderName>`: the centre's name as people read it.
    pub sender_name: String,
}

impl Default for CapConfig {
    fn default() -> CapConfig {
        CapConfig {
            sender: "yujing@rugao.gov.cn".to_owned(),
            sender_name: "如皋市社会治理现代化指挥中心".to_owned(),
        }
    }
}

/// What a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Every feed entry as yujing's JSON (`application/json`).
    #[default]
    Json,
    /// Warnings only, each as a CAP 1.2 alert (`application/cap+xml`); work-order events are not sent.
    Cap,
}

/// A bearer token, bound to a role and, for town handlers, a town.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (shown in the audit trail as the actor).
    pub name: String,
    /// The SHA-256 of the token, in hex: the configuration never holds a token itself.
    pub sha256: String,
    /// `centre`, `town_handler` or `viewer`.
    pub role: Role,
    /// The unit the holder acts for.
    pub unit: String,
    /// For a town handler: the town (name or 9-digit code) whose orders it may act on.
    #[serde(default)]
    pub town: String,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("unit", &self.unit)
            .field("town", &self.town)
            .finish_non_exhaustive()
    }
}

/// A webhook receiver.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Its name (delivery progress is recorded under it: renaming it starts delivery from the beginning).
    pub name: String,
    /// The URL POSTed to.
    pub url: String,
    /// The HMAC-SHA256 signing secret (at least 16 bytes); or leave empty and set `secret_env`.
    #[serde(default)]
    pub secret: String,
    /// An environment variable holding the secret.
    #[serde(default)]
    pub secret_env: String,
    /// The first retry waits this long; each further retry twice as long.
    pub initial_backoff_ms: u64,
    /// Retries never wait longer than this.
    pub max_backoff_ms: u64,
    /// A delivery attempt gives up after this long.
    pub timeout_ms: u64,
    /// `json` (every entry) or `cap` (warnings as CAP 1.2 alerts).
    #[serde(default)]
    pub format: WebhookFormat,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("initial_backoff_ms", &self.initial_backoff_ms)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// The signing secret: `secret`, else the variable `secret_env` names.
    pub fn resolved_secret(&self) -> Option<String> {
        if !self.secret.is_empty() {
            return Some(self.secret.clone());
        }
        if self.secret_env.is_empty() {
            return None;
        }
        std::env::var(&self.secret_env).ok().filter(|s| !s.is_empty())
    }
}

fn default_max_event_streams() -> usize {
    64
}

fn default_max_connections() -> usize {
    // Well under the usual limit of 1,024 open files, which RocksDB and the event streams share.
    512
}

fn default_header_timeout_secs() -> u64 {
    10
}

impl ServerConfig {
    fn check(&self, errors: &mut Vec<String>) {
        if self.max_event_streams == 0 || self.max_connections == 0 || self.header_timeout_secs == 0 {
            errors.push(
                "server.max_event_streams, server.max_connections and server.header_timeout_secs must be at least 1"
                    .to_owned(),
            );
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "server.listen: '{}' is not an address like 127.0.0.1:8080",
                self.listen
            ));
        }
        if self.supervise_every_secs == 0 || self.watch_every_secs == 0 {
            errors.push(
                "server.supervise_every_secs and server.watch_every_secs must be at least 1".to_owned(),
            );
        }
        for (i, token) in self.tokens.iter().enumerate() {
            let at = format!("server.tokens[{i}] ({})", token.name);
            if token.sha256.len() != 64 || !token.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                errors.push(format!(
                    "{at}: sha256 must be 64 hex digits (sha256sum of the token)"
                ));
            }
            if token.role == Role::System {
                errors.push(format!("{at}: role must be centre, town_handler or viewer"));
            }
            if token.role == Role::TownHandler && token.town.trim().is_empty() {
                errors.push(format!(
                    "{at}: a town handler's token needs the town it may act on"
                ));
            }
            if token.name.trim().is_empty() || token.unit.trim().is_empty() {
                errors.push(format!("{at}: name and unit are required"));
            }
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            let at = format!("server.webhooks[{i}] ({})", hook.name);
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                errors.push(format!("{at}: url must start with http:// or https://"));
            }
            match hook.resolved_secret() {
                Some(secret) if secret.len() >= 16 => {}
                Some(_) => errors.push(format!("{at}: the secret must be at least 16 bytes")),
                None => errors.push(format!(
                    "{at}: set secret, or secret_env to a variable that holds it"
                )),
            }
            if hook.initial_backoff_ms == 0
                || hook.max_backoff_ms < hook.initial_backoff_ms
                || hook.timeout_ms == 0
            {
                errors.push(format!(
                    "{at}: backoffs and timeout must be positive, max_backoff_ms ≥ initial_backoff_ms"
                ));
            }
            if self.webhooks.iter().filter(|h| h.name == hook.name).count() > 1 {
                errors.push(format!("{at}: webhook names must be distinct"));
            }
        }
        let sender = &self.cap.sender;
        if sender.is_empty() || sender.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
            errors.push(format!(
                "server.cap.sender {sender:?}: CAP needs a non-empty identifier without spaces, commas, < or &"
            ));
        }
    }
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The directory of the embedded log.
    pub data_dir: PathBuf,
    /// Where the log lives: the embedded RocksDB log in `data_dir`, or Apache Kafka (`[store.kafka]`).
    #[serde(default)]
    pub backend: Backend,
    /// The Kafka cluster and topic names, used when `backend = "kafka"`.
    pub kafka: KafkaConfig,
    /// Correlated clue versions between two snapshots of the projections (0: only at stop and after an
    /// ingest).
    #[serde(default = "default_snapshot_every_clues")]
    pub snapshot_every_clues: u64,
    /// How long a live step gathers what arrives from upstream topics before it is processed and committed, in
    /// milliseconds: a step's ingestion, correlation, work orders and positions are one transaction.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// A long step (a bulk load) commits each time it holds this many bytes of records, so a transaction stays
    /// large but bounded in memory.
    #[serde(default = "default_transaction_max_bytes")]
    pub transaction_max_bytes: u64,
}

fn default_snapshot_every_clues() -> u64 {
    50_000
}

fn default_commit_interval_ms() -> u64 {
    100
}

fn default_transaction_max_bytes() -> u64 {
    64 << 20
}

impl StoreConfig {
    /// `[store.kafka]` as a log opens it: snapshots default to `<data_dir>/kafka-snapshots`.
    pub fn kafka_log_config(&self) -> KafkaConfig {
        let mut kafka = self.kafka.clone();
        if kafka.snapshot_dir.as_os_str().is_empty() {
            kafka.snapshot_dir = self.data_dir.join("kafka-snapshots");
        }
        kafka
    }
}

/// The log's backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// RocksDB in `store.data_dir`: one machine, nothing else to run.
    #[default]
    Embedded,
    /// Apache Kafka: topics and state in the cluster.
    Kafka,
}

/// Personal-data protection.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// The secret keying party hashes; empty means "not set".
    pub secret: String,
    /// Demo mode: a fixed, public secret. Only for sample data.
    pub demo: bool,
}

impl std::fmt::Debug for PiiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiConfig")
            .field(
                "secret",
                &if self.secret.is_empty() {
                    "<unset>"
                } else {
                    "<set>"
                },
            )
            .field("demo", &self.demo)
            .finish()
    }
}

/// The divisions file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GazetteerConfig {
    /// A divisions TSV; empty means the Rugao file compiled in.
    pub path: PathBuf,
    /// The 6-digit county code the divisions file must be of; empty takes the county of the file.
    #[serde(default)]
    pub county_code: String,
    /// The province, city and county names written before a town in addresses (`江苏省`, `南通市`, `如皋市`,
    /// `如皋`), cut off before an address is read.
    #[serde(default)]
    pub context: Vec<String>,
    /// The county's boundary as GeoJSON, the backdrop of the command centre's map; empty means Rugao's,
    /// compiled in.
    #[serde(default)]
    pub outline: PathBuf,
}

/// Configuration problems, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration error(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// The checked runtime parts a configuration builds.
#[derive(Debug, Clone)]
pub struct Built {
    /// The normalizer (gazetteer, hasher, rules).
    pub normalizer: Arc<Normalizer>,
    /// Whether demo mode is on.
    pub demo: bool,
    /// The checked correlation settings and rules.
    pub correlate: Settings,
    /// The checked work-order policy.
    pub policy: Policy,
    /// Correlated clue versions between two snapshots (`[store] snapshot_every_clues`).
    pub snapshot_every_clues: u64,
    /// How long a live step gathers upstream records (`[store] commit_interval_ms`).
    pub commit_interval: std::time::Duration,
    /// The bytes a step holds before it commits early (`[store] transaction_max_bytes`).
    pub transaction_max_bytes: usize,
    /// The county's outline (`[gazetteer] outline`).
    pub outline: Arc<CountyOutline>,
}

impl EngineConfig {
    /// The layered configuration: defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<EngineConfig, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(vec![format!(
                    "the configuration file {} does not exist",
                    file.display()
                )]));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("YUJING__").split("__"));
        let mut config: EngineConfig = figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        if config.pii.secret.is_empty() {
            if let Ok(secret) = std::env::var(SECRET_ENV) {
                config.pii.secret = secret;
            }
        }
        Ok(config)
    }

    /// The built-in defaults alone (no file, no environment).
    pub fn defaults() -> EngineConfig {
        Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .expect("the built-in configuration is valid")
    }

    /// Checks everything and builds the runtime parts, or reports every problem found.
    pub fn check(&self) -> Result<Built, ConfigError> {
        let mut errors = Vec::new();
        let secret: Option<&[u8]> = match (self.pii.secret.is_empty(), self.pii.demo) {
            (false, _) => Some(self.pii.secret.as_bytes()),
            (true, true) => Some(DEMO_SECRET.as_bytes()),
            (true, false) => {
                errors.push(format!(
                    "pii.secret is not set: set {SECRET_ENV} (or YUJING__PII__SECRET, or pii.secret in the configuration file) to a secret of at least {MIN_SECRET_LEN} bytes, or run with --demo on sample data"
                ));
                None
            }
        };
        let hasher = secret.and_then(|s| match PartyHasher::new(s) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(format!("pii.secret: {e}"));
                None
            }
        });
        let gazetteer = if self.gazetteer.path.as_os_str().is_empty() {
            Some(Gazetteer::rugao())
        } else {
            match std::fs::read_to_string(&self.gazetteer.path) {
                Ok(text) => match Gazetteer::from_tsv(&text) {
                    Ok(g) => Some(g.with_context(self.gazetteer.context.clone())),
                    Err(e) => {
                        errors.push(format!("gazetteer.path {}: {e}", self.gazetteer.path.display()));
                        None
                    }
                },
                Err(e) => {
                    errors.push(format!("gazetteer.path {}: {e}", self.gazetteer.path.display()));
                    None
                }
            }
        };
        let gazetteer = gazetteer.map(|g| {
            if self.gazetteer.context.is_empty() {
                g
            } else {
                g.with_context(self.gazetteer.context.clone())
            }
        });
        if let Some(g) = &gazetteer {
            let wanted = self.gazetteer.county_code.trim();
            if !wanted.is_empty() && wanted != g.county_code() {
                errors.push(format!(
                    "gazetteer.county_code is {wanted}, but the divisions file is of county {}",
                    g.county_code()
                ));
            }
        }
        let rules: Option<FeedRules> = match self.feeds.build() {
            Ok(rules) => Some(rules),
            Err(e) => {
                errors.extend(e.0);
                None
            }
        };
        let correlate = match self.correlate.build() {
            Ok(settings) => Some(settings),
            Err(e) => {
                errors.extend(e.0.into_iter().map(|e| format!("correlate: {e}")));
                None
            }
        };
        let policy = match self.workorders.build() {
            Ok(policy) => Some(policy),
            Err(e) => {
                errors.extend(e.into_iter().map(|e| e.to_string()));
                None
            }
        };
        self.server.check(&mut errors);
        for (i, source) in self.sources.iter().enumerate() {
            if source.name.trim().is_empty() || source.topic.trim().is_empty() {
                errors.push(format!("sources[{i}]: name and topic are required"));
            }
            if source.bootstrap_servers.trim().is_empty()
                && self.store.kafka.bootstrap_servers.trim().is_empty()
            {
                errors.push(format!(
                    "sources[{i}] ({}): no bootstrap_servers, and store.kafka has none",
                    source.name
                ));
            }
            if self.sources.iter().filter(|s| s.name == source.name).count() > 1 {
                errors.push(format!(
                    "sources[{i}] ({}): source names must be distinct",
                    source.name
                ));
            }
        }
        if self.store.backend == Backend::Kafka {
            let kafka = &self.store.kafka;
            if kafka.bootstrap_servers.trim().is_empty() {
                errors.push(
                    "store.kafka.bootstrap_servers is empty: name the brokers (host:port,…)".to_owned(),
                );
            }
            if !kafka
                .topic_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                errors.push(format!(
                    "store.kafka.topic_prefix '{}': use letters, digits, '.', '-' and '_'",
                    kafka.topic_prefix
                ));
            }
            if kafka.transactional_id.trim().is_empty() {
                errors.push(
                    "store.kafka.transactional_id is empty: give the store's writers one (shards add -p<n>)"
                        .to_owned(),
                );
            }
            if kafka.replication_factor < 1 || kafka.timeout_ms == 0 {
                errors.push("store.kafka.replication_factor and timeout_ms must be at least 1".to_owned());
            }
            if !(1..=1024).contains(&kafka.partitions) {
                errors.push(format!(
                    "store.kafka.partitions is {}: give the number of shards, 1 to 1024",
                    kafka.partitions
                ));
            }
        }
        if self.store.commit_interval_ms > 10_000 {
            errors.push(format!(
                "store.commit_interval_ms is {}: a live step gathers at most 10,000 ms (each upstream record waits \
                 that long to be seen)",
                self.store.commit_interval_ms
            ));
        }
        if self.store.transaction_max_bytes < 1 << 16 {
            errors.push(format!(
                "store.transaction_max_bytes is {}: give at least 65536 (a bulk load would commit every few records)",
                self.store.transaction_max_bytes
            ));
        }
        if self.store.data_dir.as_os_str().is_empty() {
            errors.push("store.data_dir is empty".to_owned());
        }
        let outline = if self.gazetteer.outline.as_os_str().is_empty() {
            Some(CountyOutline::rugao())
        } else {
            let read = std::fs::read_to_string(&self.gazetteer.outline).map_err(|e| e.to_string());
            match read.and_then(|text| CountyOutline::from_geojson(&text).map_err(|e| e.to_string())) {
                Ok(outline) => Some(outline),
                Err(e) => {
                    errors.push(format!(
                        "gazetteer.outline {}: {e}",
                        self.gazetteer.outline.display()
                    ));
                    None
                }
            }
        };
        match (hasher, gazetteer, rules, correlate, policy, outline) {
            (Some(hasher), Some(gazetteer), Some(rules), Some(correlate), Some(policy), Some(outline))
                if errors.is_empty() =>
            {
                Ok(Built {
                    normalizer: Arc::new(Normalizer::new(gazetteer, hasher, rules)),
                    demo: self.pii.demo && self.pii.secret.is_empty(),
                    correlate,
                    policy,
                    snapshot_every_clues: self.store.snapshot_every_clues,
                    commit_interval: std::time::Duration::from_millis(self.store.commit_interval_ms),
                    transaction_max_bytes: usize::try_from(self.store.transaction_max_bytes)
                        .unwrap_or(usize::MAX),
                    outline: Arc::new(outline),
                })
            }
            _ => Err(ConfigError(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_build_in_demo_mode_and_refuse_without_a_secret() {
        let mut config = EngineConfig::defaults();
        let err = config.check().expect_err("no secret");
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].contains("pii.secret is not set"));
        config.pii.demo = true;
        assert!(config.check().expect("demo builds").demo);
        config.pii.demo = false;
        config.pii.secret = "a-proper-secret-of-some-length".to_owned();
        assert!(!config.check().expect("builds").demo);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut config = EngineConfig::defaults();
        config.pii.secret = "short".to_owned();
        config.gazetteer.path = PathBuf::from("/nonexistent/divisions.tsv");
        config.gazetteer.outline = PathBuf::from("/nonexistent/county.geojson");
        config
            .feeds
            .categories
            .police
            .insert("怪纠纷".to_owned(), "不存在".to_owned());
        config.store.data_dir = PathBuf::new();
        let errors = config.check().expect_err("invalid").0;
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("gazetteer.outline /nonexistent/county.geojson:")),
            "{errors:#?}"
        );
    }

    #[test]
    fn the_secret_never_prints() {
        let mut config = EngineConfig::defaults();
        config.pii.secret = "do-not-print-this-secret".to_owned();
        assert!(!format!("{config:?}").contains("do-not-print"));
    }
}
