//! Opening the configured store (`[store] backend`: the embedded log in `data_dir`, or Kafka) for writing or for
//! reading only, and the stores made for one job: the scratch store a replay or a sweep correlates into (never
//! the live one), and the copy of a stored log's clues into it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yujing_log::{Batch, EmbeddedLog, KafkaLog, Log, LogError};

use crate::config::{Backend, StoreConfig};

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
