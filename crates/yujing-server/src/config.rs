//! `[server]`: what `yujing run` serves and delivers: the address, the tokens, the webhooks, supervision, the
//! drop directory and the limits that protect the server.
//!
//! The engine loads the whole configuration file once and carries this section unread
//! ([`yujing_engine::config::ServerSection`]); [`ServerConfig::from_engine`] reads and checks it, every problem
//! reported at once like the engine's own sections.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yujing_engine::{ConfigError, EngineConfig};
use yujing_model::Role;

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
    /// How long a webhook may keep failing with entries waiting, or a consumer's oldest record wait, before
    /// `/health` answers `degraded` (still 200: the instance serves; the cause is named), in seconds.
    #[serde(default = "default_degraded_after_secs")]
    pub degraded_after_secs: u64,
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
    /// HTTPS (`[server.tls]`).
    #[serde(default)]
    pub tls: TlsConfig,
}

/// `[server.tls]`: HTTPS for `yujing run`. Both files empty: plain HTTP (behind a TLS-terminating proxy, or on
/// the centre's own network).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The certificate chain, PEM: the server's certificate first, then its intermediates.
    pub cert_file: PathBuf,
    /// The private key, PEM (PKCS #8, PKCS #1 or SEC1).
    pub key_file: PathBuf,
}

impl TlsConfig {
    /// Whether HTTPS is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.as_os_str().is_empty() || !self.key_file.as_os_str().is_empty()
    }

    /// The TLS acceptor the files make (TLS 1.2 and 1.3, HTTP/1.1), `None` without TLS; or why they cannot.
    pub fn acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls;
        if !self.enabled() {
            return Ok(None);
        }
        if self.cert_file.as_os_str().is_empty() || self.key_file.as_os_str().is_empty() {
            return Err("server.tls: give both cert_file and key_file, or neither".to_owned());
        }
        let (cert, key) = (self.cert_file.display(), self.key_file.display());
        let chain = CertificateDer::pem_file_iter(&self.cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("server.tls.cert_file {cert}: {e}"))?;
        if chain.is_empty() {
            return Err(format!("server.tls.cert_file {cert}: no certificate in it"));
        }
        // The key's error says only where it failed, never what the file holds.
        let key_der = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| format!("server.tls.key_file {key}: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key_der))
            .map_err(|e| format!("server.tls: {cert} and {key} do not make a server certificate: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
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

fn default_degraded_after_secs() -> u64 {
    300
}

impl ServerConfig {
    fn check(&self, errors: &mut Vec<String>) {
        if self.max_event_streams == 0
            || self.max_connections == 0
            || self.header_timeout_secs == 0
            || self.degraded_after_secs == 0
        {
            errors.push(
                "server.max_event_streams, server.max_connections, server.header_timeout_secs and \
                 server.degraded_after_secs must be at least 1"
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
        if let Err(problem) = self.tls.acceptor() {
            errors.push(problem);
        }
        let sender = &self.cap.sender;
        if sender.is_empty() || sender.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
            errors.push(format!(
                "server.cap.sender {sender:?}: CAP needs a non-empty identifier without spaces, commas, < or &"
            ));
        }
    }
}

impl ServerConfig {
    /// The `[server]` section of `config`, read and checked.
    pub fn from_engine(config: &EngineConfig) -> Result<ServerConfig, ConfigError> {
        let server: ServerConfig = config
            .server
            .0
            .deserialize()
            .map_err(|e| ConfigError(e.into_iter().map(|e| format!("server: {e}")).collect()))?;
        let mut errors = Vec::new();
        server.check(&mut errors);
        if errors.is_empty() {
            Ok(server)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// The built-in `[server]` section (tests and examples start from it).
    pub fn defaults() -> ServerConfig {
        ServerConfig::from_engine(&EngineConfig::defaults()).expect("the built-in [server] section is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_server(toml: &str) -> EngineConfig {
        let mut config = EngineConfig::defaults();
        let section: figment::value::Value = figment::Figment::from(
            figment::providers::Serialized::defaults(toml::from_str::<toml::Value>(toml).expect("toml")),
        )
        .extract()
        .expect("value");
        config.server = yujing_engine::config::ServerSection(section);
        config
    }

    #[test]
    fn the_built_in_section_reads_and_checks() {
        let server = ServerConfig::defaults();
        assert_eq!(server.listen, "127.0.0.1:8080");
        assert!(server.tokens.is_empty() && server.webhooks.is_empty());
    }

    #[test]
    fn every_problem_of_the_section_is_reported_at_once() {
        let config = with_server(
            r#"
            listen = "nowhere"
            supervise_every_secs = 0
            watch_every_secs = 10
            max_body_bytes = 1024
            [[tokens]]
            name = "x"
            sha256 = "abc"
            role = "town_handler"
            unit = "u"
            "#,
        );
        let errors = ServerConfig::from_engine(&config).expect_err("invalid").0;
        let text = errors.join("\n");
        assert_eq!(errors.len(), 4, "{text}");
        assert!(text.contains("server.listen: 'nowhere'"), "{text}");
        assert!(text.contains("sha256 must be 64 hex digits"), "{text}");
        assert!(text.contains("needs the town"), "{text}");
        assert!(text.contains("supervise_every_secs"), "{text}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let config = with_server(
            r#"
            listen = "127.0.0.1:1"
            supervise_every_secs = 1
            watch_every_secs = 1
            max_body_bytes = 1
            listne = "typo"
            "#,
        );
        let errors = ServerConfig::from_engine(&config).expect_err("unknown key").0;
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("server: ") && e.contains("listne")),
            "{errors:?}"
        );
    }

    #[test]
    fn secrets_are_not_printed_with_the_engine_configuration() {
        let config =
            with_server(r#"webhooks = [{ name = "w", url = "http://x", secret = "s3cret-s3cret-s3cret" }]"#);
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
