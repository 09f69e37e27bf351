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
    /// `yujing run`: the HTTP API, its tokens, the webhooks, supervision and the drop directory (read by
    /// `yujing-server`).
    #[serde(default)]
    pub server: ServerSection,
    /// Upstream Kafka topics `yujing run` ingests as they are published.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

/// `[server]`, as written: `yujing-server` reads and checks it (`ServerConfig::from_engine`). It is carried
/// here so that the whole file is loaded and layered once, and its other sections checked for unknown keys.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerSection(pub figment::value::Value);

impl Default for ServerSection {
    /// An empty table: every key of `[server]` then takes its default in `yujing-server`.
    fn default() -> ServerSection {
        ServerSection(figment::value::Value::from(figment::value::Dict::new()))
    }
}

impl std::fmt::Debug for ServerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens' hashes and webhook secrets live in this section: they are not printed.
        f.write_str("ServerSection(..)")
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
    /// Days a raw unit (a report as delivered, personal data included) is kept after it was logged; older ones
    /// are deleted from the raw topics by `yujing run` (at each supervision) and `yujing ingest`. 0 keeps them.
    /// Clues, warnings and work orders are kept: they hold only masked values and keyed hashes.
    #[serde(default)]
    pub raw_retention_days: u32,
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
    /// How messages name the store: its directory, or its Kafka cluster.
    pub fn name(&self) -> String {
        match self.backend {
            Backend::Kafka => format!("Kafka {}", self.kafka.bootstrap_servers),
            Backend::Embedded => self.data_dir.display().to_string(),
        }
    }

    /// Whether the store is split into shards by town (on Kafka, `[store.kafka] partitions` > 1).
    pub fn sharded(&self) -> bool {
        self.backend == Backend::Kafka && self.kafka.partitions > 1
    }

    /// `[store.kafka]` as a log opens it: snapshots default to `<data_dir>/kafka-snapshots`, and the raw topics
    /// expire when `raw_retention_days` is set.
    pub fn kafka_log_config(&self) -> KafkaConfig {
        let mut kafka = self.kafka.clone();
        if self.raw_retention_days > 0 {
            kafka.expiring = Some(yujing_log::ExpiringTopics {
                prefix: crate::topics::RAW_PREFIX.to_owned(),
                retention_ms: u64::from(self.raw_retention_days) * 86_400_000,
            });
        }
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
    /// How long raw units are kept (`[store] raw_retention_days`); `None`: for good.
    pub raw_retention: Option<chrono::Duration>,
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
        // Checked whatever the backend: upstream topics without brokers of their own use these settings too.
        errors.extend(self.store.kafka.client().problems("store.kafka"));
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
            if !source.bootstrap_servers.trim().is_empty() {
                errors.extend(
                    source
                        .client(&self.store.kafka)
                        .problems(&format!("sources[{i}]")),
                );
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
                    raw_retention: (self.store.raw_retention_days > 0)
                        .then(|| chrono::Duration::days(i64::from(self.store.raw_retention_days))),
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
