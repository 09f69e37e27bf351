//! yujing's configuration: the built-in defaults, a file, and the environment, layered and checked.
//!
//! Layers, later ones winning: `config/yujing.toml` (compiled in), the file given with `--config`, environment
//! variables `YUJING__<SECTION>__<KEY>` (e.g. `YUJING__STORE__DATA_DIR`), and for the secret also
//! `YUJING_PII_SECRET`. [`EngineConfig::check`] reports every problem at once.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use yujing_correlate::{CorrelateConfig, Settings};
use yujing_feeds::pii::{PartyHasher, DEMO_SECRET, MIN_SECRET_LEN};
use yujing_feeds::{FeedRules, FeedsConfig, Gazetteer, Normalizer};

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
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The directory of the embedded log.
    pub data_dir: PathBuf,
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
}

/// Configuration problems, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration error(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// The checked runtime parts a configuration builds.
#[derive(Debug, Clone)]
pub struct Built {
    /// The normalizer (gazetteer, hasher, rules).
    pub normalizer: Normalizer,
    /// Whether demo mode is on.
    pub demo: bool,
    /// The checked correlation settings and rules.
    pub correlate: Settings,
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
                    Ok(g) => Some(g),
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
        if self.store.data_dir.as_os_str().is_empty() {
            errors.push("store.data_dir is empty".to_owned());
        }
        match (hasher, gazetteer, rules, correlate) {
            (Some(hasher), Some(gazetteer), Some(rules), Some(correlate)) if errors.is_empty() => Ok(Built {
                normalizer: Normalizer::new(gazetteer, hasher, rules),
                demo: self.pii.demo && self.pii.secret.is_empty(),
                correlate,
            }),
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
        config
            .feeds
            .categories
            .police
            .insert("怪纠纷".to_owned(), "不存在".to_owned());
        config.store.data_dir = PathBuf::new();
        let errors = config.check().expect_err("invalid").0;
        assert_eq!(errors.len(), 4, "{errors:#?}");
    }

    #[test]
    fn the_secret_never_prints() {
        let mut config = EngineConfig::defaults();
        config.pii.secret = "do-not-print-this-secret".to_owned();
        assert!(!format!("{config:?}").contains("do-not-print"));
    }
}
