//! Opening the configured store (`[store] backend`: the embedded log in `data_dir`, or Kafka) for writing or for
//! reading only, and the stores made for one job: the scratch store a replay or a sweep correlates into (never
//! the live one), and the copy of a stored log's clues into it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yujing_log::{Batch, EmbeddedLog, KafkaLog, Log, LogError};

use crate::config::{Backend, StoreConfig};
use crate::vault::{Unsealed, Vault, VaultError};

/// Why the configured store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The log on Kafka could not be opened.
    #[error("cannot {doing} the log on Kafka at {servers}")]
    Kafka {
        /// `open` or `read`.
        doing: &'static str,
        /// The brokers.
        servers: String,
        /// The cause.
        source: Box<LogError>,
    },
    /// Nothing has been ingested into the embedded store yet.
    #[error(
        "there is no store at {0} (nothing ingested yet?): run `yujing --data-dir {0} ingest PATH…` first"
    )]
    NoStore(PathBuf),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the embedded store's lock.
    #[error(
        "another yujing process is writing {path}; one process writes a store at a time (clues and deadletter can read alongside)"
    )]
    Locked {
        /// The store.
        path: PathBuf,
        /// The cause.
        source: Box<LogError>,
    },
    /// The embedded store could not be opened.
    #[error(transparent)]
    Embedded(Box<LogError>),
}

impl From<LogError> for OpenError {
    fn from(error: LogError) -> OpenError {
        OpenError::Embedded(Box::new(error))
    }
}

/// The configured store, for writing.
pub fn open(store: &StoreConfig) -> Result<Arc<dyn Log>, OpenError> {
    if store.backend == Backend::Kafka {
        let kafka = store.kafka_log_config();
        let servers = kafka.bootstrap_servers.clone();
        tracing::info!(brokers = %servers, prefix = %kafka.topic_prefix, "the log is on Kafka");
        let log = KafkaLog::open(kafka).map_err(|source| OpenError::Kafka {
            doing: "open",
            servers,
            source: Box::new(source),
        })?;
        return Ok(Arc::new(log));
    }
    let dir = &store.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    match EmbeddedLog::open(dir) {
        Ok(log) => Ok(Arc::new(log)),
        // RocksDB holds a lock file: name the likely cause instead of only the I/O error.
        Err(source) if source.to_string().to_ascii_lowercase().contains("lock") => Err(OpenError::Locked {
            path: dir.clone(),
            source: Box::new(source),
        }),
        Err(source) => Err(source.into()),
    }
}

/// The configured store for a long-running writer (`yujing run`), with the lease it holds on Kafka.
pub struct Writer {
    /// The log.
    pub log: Arc<dyn Log>,
    /// On Kafka, the same log as leased: another instance may take the lease over.
    leased: Option<Arc<KafkaLog>>,
}

impl Writer {
    /// Whether another instance took the writer's lease over: this one must stop writing.
    pub fn lease_lost(&self) -> bool {
        self.leased.as_ref().is_some_and(|log| log.lease_lost())
    }
}

/// The configured store for a long-running writer: on Kafka, this waits as a standby until it holds the
/// writer's lease (the instance holding it may be running); embedded, it is [`open`].
pub fn open_writer(store: &StoreConfig) -> Result<Writer, OpenError> {
    if store.backend != Backend::Kafka {
        return Ok(Writer {
            log: open(store)?,
            leased: None,
        });
    }
    let kafka = store.kafka_log_config();
    let servers = kafka.bootstrap_servers.clone();
    let log = KafkaLog::open_leased(kafka, None).map_err(|source| OpenError::Kafka {
        doing: "open",
        servers,
        source: Box::new(source),
    })?;
    let log = Arc::new(log);
    Ok(Writer {
        log: log.clone(),
        leased: Some(log),
    })
}

/// The configured store, read only (a running writer may go on alongside).
pub fn open_for_reading(store: &StoreConfig) -> Result<Arc<dyn Log>, OpenError> {
    if store.backend == Backend::Kafka {
        let kafka = store.kafka_log_config();
        let servers = kafka.bootstrap_servers.clone();
        let log = KafkaLog::open_read_only(kafka).map_err(|source| OpenError::Kafka {
            doing: "read",
            servers,
            source: Box::new(source),
        })?;
        return Ok(Arc::new(log));
    }
    let dir = &store.data_dir;
    if !EmbeddedLog::exists(dir) {
        return Err(OpenError::NoStore(dir.clone()));
    }
    Ok(Arc::new(EmbeddedLog::open_read_only(dir)?))
}

use crate::correlate::ClueRange;
use crate::read::{for_each_entry, ReadError};
use crate::topics::CLUES;

/// Why a scratch store could not be made or filled.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// Something other than a yujing store is where the scratch store goes: it is left alone.
    #[error("{0} exists and is not a yujing store; choose another --out")]
    NotAStore(PathBuf),
    /// Clearing or creating the directory failed.
    #[error("cannot {doing} {path}")]
    Io {
        /// `remove the previous scratch store` or `create`.
        doing: &'static str,
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Opening or writing the store failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Reading the source log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A fresh embedded store at `OUT/store`, replacing the one an earlier run left there. A directory there that
/// is not a yujing store is refused, never removed.
pub fn scratch_store(out_dir: &Path) -> Result<EmbeddedLog, ScratchError> {
    let store = out_dir.join("store");
    if store.exists() {
        if !EmbeddedLog::exists(&store) {
            return Err(ScratchError::NotAStore(store));
        }
        std::fs::remove_dir_all(&store).map_err(|source| ScratchError::Io {
            doing: "remove the previous scratch store",
            path: store.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&store).map_err(|source| ScratchError::Io {
        doing: "create",
        path: store.clone(),
        source,
    })?;
    Ok(EmbeddedLog::open(&store)?)
}

/// Copies the clues of `source` in `range` into `scratch`, in log order, keeping their append times. Returns
/// how many.
pub fn copy_clues(source: &dyn Log, scratch: &EmbeddedLog, range: &ClueRange) -> Result<u64, ScratchError> {
    let mut batch = Batch::new();
    let mut copied = 0u64;
    let mut failed = None;
    let from = range.from_offset.unwrap_or(0);
    for_each_entry(source, CLUES, from, |entry| {
        if range.to_offset.is_some_and(|to| entry.offset >= to) {
            return Ok(());
        }
        let clue: yujing_model::Clue =
            serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
                topic: CLUES.to_owned(),
                offset: entry.offset,
                reason: e.to_string(),
            })?;
        if !range.contains(entry.offset, &clue) {
            return Ok(());
        }
        batch.append(CLUES, entry.record.clone());
        copied += 1;
        if batch.appends() >= 1000 {
            if let Err(e) = scratch.write(std::mem::take(&mut batch)) {
                failed = Some(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !batch.is_empty() {
        scratch.write(batch)?;
    }
    Ok(copied)
}

/// Why `yujing store` could not check or back up the embedded store.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The store is on Kafka.
    #[error(
        "the store is on Kafka: its topics are checked and copied by Kafka (replication, MirrorMaker); `yujing store` works on the embedded log"
    )]
    OnKafka,
    /// Nothing is at the data directory.
    #[error("there is no store at {0}")]
    NoStore(PathBuf),
    /// The backup's directory exists.
    #[error("{0} exists: back up to a new directory")]
    TargetExists(PathBuf),
    /// The store could not be opened for a backup, most likely because a writer holds it.
    #[error(
        "cannot open {path} to back it up; if `yujing run` is writing it, stop it first (one process writes a store at a time)"
    )]
    Busy {
        /// The store.
        path: PathBuf,
        /// The cause.
        source: Box<LogError>,
    },
    /// A record could not be read back, or a checksum did not match.
    #[error("{what} failed its check")]
    Check {
        /// `the store at DIR`, or `the copy at DIR`.
        what: String,
        /// The first problem.
        source: Box<LogError>,
    },
    /// A raw unit could not be opened: it does not authenticate, or a key is missing without an erasure.
    #[error("{what}: raw unit {topic}@{offset} cannot be opened")]
    Raw {
        /// `the store at DIR`, or `the copy at DIR`.
        what: String,
        /// The raw topic.
        topic: String,
        /// The unit's offset.
        offset: u64,
        /// Why.
        source: Box<VaultError>,
    },
    /// The copy could not be written.
    #[error("cannot back up {from} to {to}")]
    Backup {
        /// The store.
        from: PathBuf,
        /// The copy's directory.
        to: PathBuf,
        /// The cause.
        source: Box<LogError>,
    },
}

/// What [`check`] found: every topic's count, and how the raw units opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCheck {
    /// Each topic and its record count, sorted by topic.
    pub topics: Vec<(String, u64)>,
    /// Raw units sealed and opened under their keys.
    pub raw_sealed: u64,
    /// Raw units written before sealing began: in clear on disk.
    pub raw_clear: u64,
    /// Raw units that name an erased party: unreadable, as meant.
    pub raw_erased: u64,
}

impl std::fmt::Display for StoreCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (topic, count) in &self.topics {
            writeln!(f, "{topic:<32} {count:>10}")?;
        }
        writeln!(
            f,
            "raw units: {} sealed and opened, {} erased (unreadable), {} in clear (written before sealing)",
            self.raw_sealed, self.raw_erased, self.raw_clear
        )?;
        writeln!(f, "ok: {} topics, every record read back", self.topics.len())
    }
}

/// Every topic of the embedded store read back, dense from 0 to its end, each block's checksum verified, and
/// every raw unit opened with `vault` (the deployment's): each topic's count and how the raw units opened.
/// Works beside a writer.
pub fn check(store: &StoreConfig, vault: &Vault) -> Result<StoreCheck, MaintenanceError> {
    let dir = embedded_dir(store)?;
    check_at(dir, "the store", vault)
}

/// A consistent copy of the embedded store in `to` (a RocksDB checkpoint), checked like [`check`]; returns the
/// copy's topic count. Needs the store's writer.
pub fn backup(store: &StoreConfig, to: &Path, vault: &Vault) -> Result<usize, MaintenanceError> {
    let dir = embedded_dir(store)?;
    if to.exists() {
        return Err(MaintenanceError::TargetExists(to.to_path_buf()));
    }
    let log = EmbeddedLog::open(dir).map_err(|source| MaintenanceError::Busy {
        path: dir.to_path_buf(),
        source: Box::new(source),
    })?;
    log.backup(to).map_err(|source| MaintenanceError::Backup {
        from: dir.to_path_buf(),
        to: to.to_path_buf(),
        source: Box::new(source),
    })?;
    Ok(check_at(to, "the copy", vault)?.topics.len())
}

/// The embedded store's directory, if it holds one.
fn embedded_dir(store: &StoreConfig) -> Result<&Path, MaintenanceError> {
    if store.backend == Backend::Kafka {
        return Err(MaintenanceError::OnKafka);
    }
    if !EmbeddedLog::exists(&store.data_dir) {
        return Err(MaintenanceError::NoStore(store.data_dir.clone()));
    }
    Ok(&store.data_dir)
}

/// Reads the embedded store at `dir` back; `what` names it in the error.
fn check_at(dir: &Path, what: &str, vault: &Vault) -> Result<StoreCheck, MaintenanceError> {
    let what = format!("{what} at {}", dir.display());
    let failed = |source| MaintenanceError::Check {
        what: what.clone(),
        source: Box::new(source),
    };
    let log = EmbeddedLog::open_read_only(dir).map_err(failed)?;
    let topics = log.check().map_err(failed)?;
    let mut checked = StoreCheck {
        topics,
        ..StoreCheck::default()
    };
    for (topic, _) in checked.topics.iter().filter(|(t, _)| t.starts_with("raw.")) {
        let mut next = 0;
        loop {
            let page = log.read(topic, next, 4096).map_err(failed)?;
            let Some(last) = page.last() else { break };
            next = last.offset + 1;
            for entry in page {
                let opened =
                    vault
                        .open(&log, &entry.record.value)
                        .map_err(|source| MaintenanceError::Raw {
                            what: what.clone(),
                            topic: topic.clone(),
                            offset: entry.offset,
                            source: Box::new(source),
                        })?;
                match opened {
                    Unsealed::Opened(_) => checked.raw_sealed += 1,
                    Unsealed::Clear(_) => checked.raw_clear += 1,
                    Unsealed::Erased(_) => checked.raw_erased += 1,
                }
            }
        }
    }
    Ok(checked)
}
