//! The append-only log behind yujing.
//!
//! Everything yujing knows is a projection of this log: raw records as received (`raw.<feed>`), canonical clues
//! (`clues`), rejected records (`deadletter`), and, as the engine grows, links, warnings and work-order events.
//! This crate knows no domain: a log is a set of named topics, each an ordered sequence of keyed byte records
//! numbered by offset from 0.
//!
//! # Layout
//! - [`Log`]: the trait the engine writes and reads through.
//! - [`EmbeddedLog`]: the default backend, one RocksDB database on local disk. It also keeps the engine's small
//!   state (a key-value store, [`Log`] batches write it atomically with the appends), so a crash at any moment
//!   leaves the log and the state consistent: both were written, or neither.
//! - [`Batch`]: appends to several topics plus state writes, applied atomically.
//! - [`LogError`]: what can go wrong, with the path, topic or offset concerned.
//! - [`UnitOfWork`]: several batches held in memory, readable at once, committed as one batch (one Kafka
//!   transaction per pipeline step).
//!
//! - [`KafkaLog`]: the production backend, Apache Kafka: each topic a Kafka topic, the state a compacted topic,
//!   each [`Batch`] one Kafka transaction ([`KafkaConfig`]). [`KafkaSource`] reads an upstream system's topic.
//!   With `partitions` > 1 the store is split into shards by town: [`KafkaLog::open_shard`] writes one, under
//!   the [`KafkaLease`] of the writers' group; a read-only log reads them all ([`shard_offset`]).

mod kafka;
mod unit;

pub use kafka::{
    min_insync_replicas, shard_offset, split_shard_offset, ExpiringTopics, KafkaClient, KafkaConfig,
    KafkaLease, KafkaLog, KafkaSource, SourceMessage, RESERVED_PROPERTIES,
};
pub use unit::{Committed, UnitOfWork};

/// One shard of a store split by town: on Kafka, partition `n` of every topic. The one type every crate names a
/// shard by (the log's partitions, the pipeline's shard, the server's running shards, the owners' directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub u32);

impl ShardId {
    /// The Kafka partition that holds it.
    pub fn partition(self) -> i32 {
        i32::try_from(self.0).unwrap_or(i32::MAX)
    }

    /// The shard Kafka partition `partition` holds (a negative partition, which Kafka never gives, is shard 0).
    pub fn of_partition(partition: i32) -> ShardId {
        ShardId(u32::try_from(partition).unwrap_or(0))
    }
}

impl std::str::FromStr for ShardId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<ShardId, Self::Err> {
        text.parse().map(ShardId)
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

/// A position in a topic: the first record is at offset 0.
pub type Offset = u64;

/// A state entry: key and value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's key (the partitioning and identity key, e.g. a clue id).
    pub key: Vec<u8>,
    /// The payload.
    pub value: Vec<u8>,
    /// When the record was appended, epoch milliseconds (wall clock, for operators; never for event time).
    pub timestamp_ms: i64,
}

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its offset in the topic.
    pub offset: Offset,
    /// The record.
    pub record: Record,
}

/// The topic a sharded store's router writes to every shard's partition: each record decoded once, handed to
/// the shard that owns it (Kafka Streams' repartition topic). Its writer is not the partition's own writer, so a
/// shard always asks the broker where it ends, and deletes what it has consumed ([`Log::delete_before`]).
pub const REPARTITION: &str = "repartition";

/// Appends and state writes applied together, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    appends: Vec<(String, Record)>,
    /// Appends to another shard's partition of [`REPARTITION`].
    routed: Vec<(ShardId, Record)>,
    state: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends `record` to `topic`; returns the index of this append in the batch.
    pub fn append(&mut self, topic: impl Into<String>, record: Record) -> usize {
        self.appends.push((topic.into(), record));
        self.appends.len() - 1
    }

    /// Appends `record` to shard `shard`'s partition of [`REPARTITION`], in the same transaction as the rest of
    /// the batch. Only a writer of a sharded store on Kafka can ([`LogError::NotSharded`] otherwise); its offset
    /// is not returned (the shard that consumes it reads it back).
    pub fn route(&mut self, shard: ShardId, record: Record) {
        self.routed.push((shard, record));
    }

    /// Sets state `key` to `value`.
    pub fn put_state(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.state.push((key.into(), Some(value.into())));
    }

    /// Deletes state `key`.
    pub fn delete_state(&mut self, key: impl Into<Vec<u8>>) {
        self.state.push((key.into(), None));
    }

    /// Whether the batch does nothing.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.routed.is_empty() && self.state.is_empty()
    }

    /// The number of appends.
    pub fn appends(&self) -> usize {
        self.appends.len()
    }
}

/// What can go wrong with the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The store could not be opened.
    #[error("cannot open the log at {path}")]
    Open {
        /// The store's directory.
        path: PathBuf,
        /// The storage error.
        source: rocksdb::Error,
    },
    /// The store's directory could not be made private to its user.
    #[error("cannot make the log's directory {path} private (mode 0700)")]
    Permissions {
        /// The store's directory.
        path: PathBuf,
        /// The file-system error.
        source: std::io::Error,
    },
    /// The checkpoint of the log's state could not be written.
    #[error("cannot write the state checkpoint {path}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The file-system error.
        source: std::io::Error,
    },
    /// A read or write failed.
    #[error("log storage error while {doing}")]
    Storage {
        /// What was being done.
        doing: String,
        /// The storage error.
        source: rocksdb::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt log record in topic '{topic}' at offset {offset}: {reason}")]
    Corrupt {
        /// The topic.
        topic: String,
        /// The offset.
        offset: Offset,
        /// What is wrong.
        reason: String,
    },
    /// A topic name is not allowed.
    #[error("invalid topic name '{0}': use 1-200 characters of letters, digits, '.', '-' and '_'")]
    InvalidTopic(String),
    /// The store could not be opened again after a failed write (the next write tries again).
    #[error(
        "the store at {0} is not open: it could not be opened again after a failed write (no space left?)"
    )]
    Unavailable(PathBuf),
    /// The log cannot do this.
    #[error("this log does not support {what}")]
    Unsupported {
        /// What was asked.
        what: String,
    },
    /// The log was opened for reading only.
    #[error("the log was opened for reading only")]
    ReadOnly,
    /// A batch routed records to other shards on a log that is not a shard of a store on Kafka.
    #[error("this log is not a shard of a sharded store on Kafka: it cannot route records to other shards")]
    NotSharded,
    /// Another instance holds the writer's lease now: this one must stop writing.
    #[error("another yujing instance took over writing this log (the writer's lease was lost)")]
    LeaseLost,
    /// A topic yujing did not create (it existed, or creating topics is not allowed here) does not have the
    /// settings the log relies on.
    #[error(
        "Kafka topic {topic} cannot hold yujing's log: {}",
        .problems.join("; ")
    )]
    TopicMisconfigured {
        /// The topic's full name.
        topic: String,
        /// Each setting that is wrong, with what it must be.
        problems: Vec<String>,
    },
    /// The store is split into shards, which only their leased writers write (`yujing run`), one partition each.
    #[error(
        "the log on Kafka is split into {partitions} shards (partitions): only `yujing run` writes it, each \
         instance the shards the writers' group gives it; publish records to an upstream topic ([[sources]]) instead"
    )]
    Sharded {
        /// The number of shards.
        partitions: u32,
    },
    /// A Kafka client setting could not be applied.
    #[error("Kafka client setting: {0}")]
    ClientSetting(String),
    /// Kafka refused or failed an operation.
    #[error("Kafka failed while {doing}")]
    Kafka {
        /// What was being done.
        doing: String,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
}

/// An append-only log of named topics.
pub trait Log: Send + Sync {
    /// Applies the batch atomically; returns the offset each append received, in batch order.
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError>;

    /// Up to `max` entries of `topic` from offset `from` on, in order.
    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError>;

    /// The offset the next append to `topic` will receive (the number of records in it).
    fn end_offset(&self, topic: &str) -> Result<Offset, LogError>;

    /// The value of state `key`.
    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError>;

    /// The values of state `keys`, in their order: [`Log::state`] of each, asked together. The embedded log
    /// reads them in one batched look-up (RocksDB's `MultiGet`): an ingest asks several keys per record, nearly
    /// all of them absent, and one at a time they were over a quarter of its writing thread (docs/PERFORMANCE.md,
    /// stop 45).
    fn states(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, LogError> {
        keys.iter().map(|key| self.state(key)).collect()
    }

    /// The first offset of `topic` still held: 0, unless the records before it were deleted
    /// ([`Log::delete_before`]).
    fn start_offset(&self, topic: &str) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        Ok(0)
    }

    /// Deletes the records of `topic` before `offset` (at most its end) for good; returns the topic's new
    /// start. Offsets are never reused: the topic's end is unchanged. Only for topics no projection is rebuilt
    /// from (the raw units, whose retention is limited).
    fn delete_before(&self, topic: &str, offset: Offset) -> Result<Offset, LogError> {
        let _ = offset;
        Err(LogError::Unsupported {
            what: format!("deleting the early records of {topic}"),
        })
    }

    /// The directory beside this log where snapshots of its projections are kept, if any: they belong to
    /// this log (and this shard of it) and to no other.
    fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// The end of `topic` in each shard this log reads, as offsets within the shard: one shard for a log of one
    /// partition; every shard for a read-only log over a sharded store (a reader starting "from now" starts
    /// each shard at its own end).
    fn shard_ends(&self, topic: &str) -> Result<Vec<(ShardId, Offset)>, LogError> {
        Ok(vec![(ShardId(0), self.end_offset(topic)?)])
    }

    /// Writes a checkpoint of what the log keeps in memory beside its snapshots, so that opening it again reads
    /// less (the Kafka log's state: only the state topic after the checkpoint). Returns the file; `None` for a
    /// log that keeps nothing in memory or has no snapshot directory.
    fn checkpoint_state(&self) -> Result<Option<PathBuf>, LogError> {
        Ok(None)
    }

    /// Rewrites the log's files so that the old values of deleted state keys are gone from the disk, not only
    /// hidden (an erased person's key: see `yujing-engine::vault`). The embedded log flushes its memory tables,
    /// so that the write-ahead logs holding them are deleted, and compacts its state; on Kafka the state topic's
    /// cleaner does it on its own schedule (`segment.ms`, `min.cleanable.dirty.ratio`), and this does nothing.
    fn purge_deleted_state(&self) -> Result<(), LogError> {
        Ok(())
    }
}

/// A shared log is a log (the server and its tasks hold the log behind an `Arc`).
impl<T: Log + ?Sized> Log for std::sync::Arc<T> {
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
        (**self).write(batch)
    }

    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
        (**self).read(topic, from, max)
    }

    fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
        (**self).end_offset(topic)
    }

    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        (**self).state(key)
    }

    fn states(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, LogError> {
        (**self).states(keys)
    }

    fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        (**self).snapshot_dir()
    }

    fn shard_ends(&self, topic: &str) -> Result<Vec<(ShardId, Offset)>, LogError> {
        (**self).shard_ends(topic)
    }

    fn checkpoint_state(&self) -> Result<Option<PathBuf>, LogError> {
        (**self).checkpoint_state()
    }

    fn purge_deleted_state(&self) -> Result<(), LogError> {
        (**self).purge_deleted_state()
    }

    fn start_offset(&self, topic: &str) -> Result<Offset, LogError> {
        (**self).start_offset(topic)
    }

    fn delete_before(&self, topic: &str, offset: Offset) -> Result<Offset, LogError> {
        (**self).delete_before(topic, offset)
    }
}

const CF_LOG: &str = "log";
const CF_META: &str = "meta";
const CF_STATE: &str = "state";
const END_PREFIX: &[u8] = b"end/";
/// `start/<topic>` → the topic's first offset still held, once records before it were deleted.
const START_PREFIX: &[u8] = b"start/";

/// The embedded log: RocksDB on local disk, durable on every write (fsync).
pub struct EmbeddedLog {
    /// The database; `None` only while it is reopened after a failed write (and until that succeeds).
    db: RwLock<Option<DB>>,
    /// A write failed: RocksDB refuses every write after a failed write-ahead-log append (a full disk) until
    /// the database is opened again, which the next write does first. So a full disk needs no restart once
    /// space is back.
    broken: AtomicBool,
    path: PathBuf,
    /// Opened with [`EmbeddedLog::open_read_only`].
    read_only: bool,
    /// Whether closing writes the memory tables to disk (see the `Drop` impl): a test that stands for a crash
    /// turns it off.
    flush_on_close: bool,
    /// Next offsets by topic. Held while a batch is written, so offsets are dense and ordered.
    ends: Mutex<HashMap<String, Offset>>,
}

impl Drop for EmbeddedLog {
    /// Writes the memory tables to disk when the log is closed, so that the next open recovers nothing from the
    /// write-ahead log. Recovering it fills the memory tables again (the last writes, up to a table's size per
    /// column family: 180 MB after a county year's ingest) and flushes them before the store serves: memory
    /// that the history's size decides, paid by the next process at its start. A crash still recovers from it.
    fn drop(&mut self) {
        if !self.flush_on_close || self.broken.load(Ordering::SeqCst) {
            return;
        }
        let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = db.as_ref() {
            if let Err(error) = flush_all(db) {
                tracing::warn!(path = %self.path.display(), %error, "cannot flush the log's memory tables on closing: the next open recovers them from the write-ahead log");
            }
        }
    }
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog").field("path", &self.path).finish()
    }
}

pub(crate) fn validate_topic(topic: &str) -> Result<(), LogError> {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(LogError::InvalidTopic(topic.to_owned()))
    }
}

/// `topic 0x00 offset(big-endian)`: keys sort by topic, then offset.
fn log_key(topic: &str, offset: Offset) -> Vec<u8> {
    let mut key = Vec::with_capacity(topic.len() + 9);
    log_key_into(topic, offset, &mut key);
    key
}

/// [`log_key`], appended to `out`.
fn log_key_into(topic: &str, offset: Offset, out: &mut Vec<u8>) {
    out.extend_from_slice(topic.as_bytes());
    out.push(0);
    out.extend_from_slice(&offset.to_be_bytes());
}

/// `batch` as one RocksDB write batch: each append under its topic's next offset (`next`, from `ends` on; the
/// offsets given pushed onto `offsets`), the topics' new ends, the state's puts and deletes.
fn write_batch<'b>(
    db: &DB,
    batch: &'b Batch,
    ends: &HashMap<String, Offset>,
    next: &mut HashMap<&'b str, Offset>,
    offsets: &mut Vec<Offset>,
) -> WriteBatch {
    // Sized once: grown by doubling, a bulk load's batch (a million link events and their warnings) was copied
    // and its fresh pages faulted in again at every doubling (docs/PERFORMANCE.md, stop 43).
    let mut write = WriteBatch::with_capacity_bytes(encoded_size(batch));
    // Each key and value is made in the same two buffers (the batch copies them): a bulk load's batch holds a
    // million records.
    let (log, mut key, mut value) = (cf(db, CF_LOG), Vec::new(), Vec::new());
    for (topic, record) in &batch.appends {
        let offset = next
            .entry(topic.as_str())
            .or_insert_with(|| ends.get(topic).copied().unwrap_or(0));
        key.clear();
        log_key_into(topic, *offset, &mut key);
        value.clear();
        encode_into(record, &mut value);
        write.put_cf(log, &key, &value);
        offsets.push(*offset);
        *offset += 1;
    }
    for (topic, end) in next.iter() {
        let mut key = END_PREFIX.to_vec();
        key.extend_from_slice(topic.as_bytes());
        write.put_cf(cf(db, CF_META), key, end.to_be_bytes());
    }
    for (key, value) in &batch.state {
        match value {
            Some(value) => write.put_cf(cf(db, CF_STATE), key, value),
            None => write.delete_cf(cf(db, CF_STATE), key),
        }
    }
    write
}

/// The most bytes a RocksDB write batch takes for `batch` as [`write_batch`] puts it: a put's header is a tag
/// byte and three varints of at most five bytes each (the column family, the key's length, the value's); the
/// batch's own header is 12 bytes; one end is put per topic appended to.
fn encoded_size(batch: &Batch) -> usize {
    const BATCH_HEADER: usize = 12;
    const PUT_HEADER: usize = 16;
    let appends: usize = batch
        .appends
        .iter()
        .map(|(topic, record)| {
            let key = topic.len() + 9;
            PUT_HEADER + key + 12 + record.key.len() + record.value.len()
        })
        .sum();
    // One end per topic the batch appends to (a handful: the batch lists them in runs).
    let mut topics: Vec<&str> = Vec::new();
    for (topic, _) in &batch.appends {
        if !topics.contains(&topic.as_str()) {
            topics.push(topic);
        }
    }
    let ends: usize = topics
        .iter()
        .map(|topic| PUT_HEADER + END_PREFIX.len() + topic.len() + 8)
        .sum();
    let state: usize = batch
        .state
        .iter()
        .map(|(key, value)| PUT_HEADER + key.len() + value.as_ref().map_or(0, Vec::len))
        .sum();
    BATCH_HEADER + appends + ends + state
}

/// A record as the log's column family holds it (after its topic and offset in the key): its timestamp, its
/// key's length, its key and its value; appended to `out`.
fn encode_into(record: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(&record.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&(record.key.len() as u32).to_be_bytes());
    out.extend_from_slice(&record.key);
    out.extend_from_slice(&record.value);
}

fn decode(topic: &str, offset: Offset, bytes: &[u8]) -> Result<Record, LogError> {
    let corrupt = |reason: &str| LogError::Corrupt {
        topic: topic.to_owned(),
        offset,
        reason: reason.to_owned(),
    };
    let timestamp = bytes.get(..8).ok_or_else(|| corrupt("shorter than its header"))?;
    let key_len = bytes
        .get(8..12)
        .ok_or_else(|| corrupt("shorter than its header"))?;
    let key_len = u32::from_be_bytes(key_len.try_into().map_err(|_| corrupt("bad key length"))?) as usize;
    let key = bytes
        .get(12..12 + key_len)
        .ok_or_else(|| corrupt("key runs past the end"))?;
    Ok(Record {
        timestamp_ms: i64::from_be_bytes(timestamp.try_into().map_err(|_| corrupt("bad timestamp"))?),
        key: key.to_vec(),
        value: bytes[12 + key_len..].to_vec(),
    })
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in directory `path`. Only one process may hold it open.
    pub fn open(path: impl AsRef<Path>) -> Result<EmbeddedLog, LogError> {
        EmbeddedLog::open_with(path.as_ref(), false)
    }

    /// Opens an existing log for reading only. Works while another process writes it, and sees the log as it
    /// was when opened. Writing through it fails.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<EmbeddedLog, LogError> {
        EmbeddedLog::open_with(path.as_ref(), true)
    }

    /// Whether `path` holds a log.
    pub fn exists(path: impl AsRef<Path>) -> bool {
        path.as_ref().join("CURRENT").is_file()
    }

    fn open_with(path: &Path, read_only: bool) -> Result<EmbeddedLog, LogError> {
        let path = path.to_path_buf();
        let (db, ends) = open_db(&path, read_only)?;
        Ok(EmbeddedLog {
            db: RwLock::new(Some(db)),
            broken: AtomicBool::new(false),
            path,
            read_only,
            flush_on_close: !read_only,
            ends: Mutex::new(ends),
        })
    }

    /// Closes the log as a crash would: the memory tables are not written, and the next open recovers them
    /// from the write-ahead log.
    #[cfg(test)]
    fn close_as_a_crash_would(mut self) {
        self.flush_on_close = false;
    }

    /// Runs `f` on the open database; fails while it could not be reopened after a failed write.
    fn with_db<T>(&self, f: impl FnOnce(&DB) -> Result<T, LogError>) -> Result<T, LogError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        match db.as_ref() {
            Some(db) => f(db),
            None => Err(LogError::Unavailable(self.path.clone())),
        }
    }

    /// Opens the database again after a failed write, with the topic ends it holds: what a failed write left
    /// (a torn tail of the write-ahead log) is dropped as at a start after a crash. Fails, and is tried again at
    /// the next write, while the cause (no space) lasts.
    fn reopen(&self) -> Result<(), LogError> {
        // The ends, then the database: the order a write takes them in (a webhook's progress is written
        // beside the pipeline's steps).
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !self.broken.load(Ordering::SeqCst) {
            // Another writer opened it again meanwhile.
            return Ok(());
        }
        // The old database holds the directory's lock: it is closed first.
        drop(db.take());
        let (reopened, fresh) = open_db(&self.path, self.read_only)?;
        *ends = fresh;
        *db = Some(reopened);
        self.broken.store(false, Ordering::SeqCst);
        tracing::info!(path = %self.path.display(), "the log was opened again after a failed write");
        Ok(())
    }
}

/// A column family of `db` (all three are created at open).
fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name).expect("column family created at open")
}

/// Every column family's memory table to disk: a write-ahead log is deleted only once nothing in it is held
/// only there, and a value being purged may sit in one beside records of other families.
fn flush_all(db: &DB) -> Result<(), rocksdb::Error> {
    let families = [cf(db, CF_LOG), cf(db, CF_META), cf(db, CF_STATE)];
    db.flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
}

/// Opens the database at `path` and reads its topics' ends.
fn open_db(path: &Path, read_only: bool) -> Result<(DB, HashMap<String, Offset>), LogError> {
    let path = path.to_path_buf();
    {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // The default recovery (point in time) stops replaying the write-ahead log at the first bad record and
        // opens anyway: a flipped byte silently dropped every record after it. A log that is the system of
        // record must refuse to open instead, naming the corruption, so that an operator restores it
        // (docs/OPERATIONS.md). Only a torn last record is tolerated: it is the write a crash interrupted, which
        // nobody was told had succeeded (absolute consistency would refuse to open after every such crash).
        options.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        options.set_paranoid_checks(true);
        // One block cache for the three families: RocksDB's default is one of 32 MB per family.
        let cache = rocksdb::Cache::new_lru_cache(32 << 20);
        let families = [CF_LOG, CF_META, CF_STATE].into_iter().map(|name| {
            let mut family = Options::default();
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if name == CF_STATE {
                // The state is read a key at a time, and most reads while ingesting ask for a key that is not
                // there (a clue, a raw unit or a person not seen before): a Bloom filter per table file answers
                // those without reading the file's blocks.
                table.set_bloom_filter(10.0, false);
                // The same for the keys still in the memtable: a bulk ingest asks for several keys per record
                // (its fingerprint, its raw unit, each party's person key), nearly all of them new, and
                // without a filter each miss walks the memtable's skip list.
                family.set_memtable_prefix_bloom_ratio(0.02);
                family.set_memtable_whole_key_filtering(true);
            }
            family.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(name, family)
        });
        let opened = if read_only {
            DB::open_cf_descriptors_read_only(&options, &path, families, false)
        } else {
            DB::open_cf_descriptors(&options, &path, families)
        };
        let db = opened.map_err(|source| LogError::Open {
            path: path.clone(),
            source,
        })?;
        if !read_only {
            // The raw log holds reports as delivered, personal data included, and RocksDB writes its files
            // world-readable: only the service's own user may enter the directory.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(
                    |source| LogError::Permissions {
                        path: path.clone(),
                        source,
                    },
                )?;
            }
        }
        let mut ends = HashMap::new();
        {
            let meta = db.cf_handle(CF_META).expect("column family created at open");
            for item in db.prefix_iterator_cf(meta, END_PREFIX) {
                let (key, value) = item.map_err(|source| LogError::Storage {
                    doing: "reading topic ends".to_owned(),
                    source,
                })?;
                let Some(topic) = key.strip_prefix(END_PREFIX) else {
                    break;
                };
                let offset =
                    value
                        .as_ref()
                        .try_into()
                        .map(u64::from_be_bytes)
                        .map_err(|_| LogError::Corrupt {
                            topic: String::from_utf8_lossy(topic).into_owned(),
                            offset: 0,
                            reason: "the stored end offset is not 8 bytes".to_owned(),
                        })?;
                ends.insert(String::from_utf8_lossy(topic).into_owned(), offset);
            }
        }
        Ok((db, ends))
    }
}

impl EmbeddedLog {
    /// The directory the log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the whole store to `dir` (a RocksDB checkpoint: hard links to the immutable
    /// files where the file system allows, copies otherwise), while the log stays open for writing. The copy
    /// is a store of its own: `--data-dir DIR` opens it, which is how a backup is restored.
    pub fn backup(&self, dir: &Path) -> Result<(), LogError> {
        if self.read_only {
            // A reader's checkpoint would lack what the writer holds in memory and its write-ahead log.
            return Err(LogError::ReadOnly);
        }
        self.with_db(|db| {
            let checkpoint =
                rocksdb::checkpoint::Checkpoint::new(db).map_err(|source| LogError::Storage {
                    doing: "preparing a checkpoint".to_owned(),
                    source,
                })?;
            checkpoint
                .create_checkpoint(dir)
                .map_err(|source| LogError::Storage {
                    doing: format!("writing a checkpoint to {}", dir.display()),
                    source,
                })
        })
    }

    /// Reads every record of every topic back and checks that the topic is dense (offsets 0 to its end, none
    /// missing) and that each record decodes; RocksDB verifies each block's checksum as it is read. Returns
    /// each topic's record count, sorted by topic, or the first problem.
    pub fn check(&self) -> Result<Vec<(String, Offset)>, LogError> {
        const PAGE: usize = 4096;
        let mut counts = Vec::new();
        for topic in self.topics() {
            let end = self.end_offset(&topic)?;
            let start = self.start_offset(&topic)?;
            let mut next = start;
            while next < end {
                let entries = self.read(&topic, next, PAGE)?;
                if entries.is_empty() {
                    break;
                }
                for entry in entries {
                    if entry.offset != next {
                        return Err(LogError::Corrupt {
                            topic,
                            offset: next,
                            reason: format!(
                                "the record is missing (the next one stored is {})",
                                entry.offset
                            ),
                        });
                    }
                    next += 1;
                }
            }
            if next != end {
                return Err(LogError::Corrupt {
                    topic,
                    offset: next,
                    reason: format!("the topic ends at {end}, but its records stop here"),
                });
            }
            counts.push((topic, end - start));
        }
        Ok(counts)
    }

    /// The topics holding at least one record, sorted.
    pub fn topics(&self) -> Vec<String> {
        let ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let mut topics: Vec<String> = ends
            .iter()
            .filter(|(_, &e)| e > 0)
            .map(|(t, _)| t.clone())
            .collect();
        topics.sort();
        topics
    }

    /// State entries whose key starts with `prefix`, in key order.
    pub fn state_with_prefix(&self, prefix: &[u8]) -> Result<Vec<StateEntry>, LogError> {
        self.with_db(|db| {
            let mut out = Vec::new();
            let iter = db.iterator_cf(cf(db, CF_STATE), IteratorMode::From(prefix, Direction::Forward));
            for item in iter {
                let (key, value) = item.map_err(|source| LogError::Storage {
                    doing: "scanning state".to_owned(),
                    source,
                })?;
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key.to_vec(), value.to_vec()));
            }
            Ok(out)
        })
    }
}

impl Log for EmbeddedLog {
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
        for (topic, _) in &batch.appends {
            validate_topic(topic)?;
        }
        if !batch.routed.is_empty() {
            return Err(LogError::NotSharded);
        }
        if self.broken.load(Ordering::SeqCst) {
            self.reopen()?;
        }
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let mut next: HashMap<&str, Offset> = HashMap::new();
        let mut offsets = Vec::with_capacity(batch.appends.len());
        self.with_db(|db| {
            let write = write_batch(db, &batch, &ends, &mut next, &mut offsets);
            let mut options = WriteOptions::default();
            options.set_sync(true);
            db.write_opt(write, &options).map_err(|source| LogError::Storage {
                doing: format!("appending {} record(s)", batch.appends.len()),
                source,
            })
        })
        .inspect_err(|_| self.broken.store(!self.read_only, Ordering::SeqCst))?;
        for (topic, end) in next {
            ends.insert(topic.to_owned(), end);
        }
        Ok(offsets)
    }

    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
        validate_topic(topic)?;
        let end = self.end_offset(topic)?;
        let mut out = Vec::new();
        if from >= end || max == 0 {
            return Ok(out);
        }
        let start = log_key(topic, from);
        let mut prefix = topic.as_bytes().to_vec();
        prefix.push(0);
        self.with_db(|db| {
            let iter = db.iterator_cf(cf(db, CF_LOG), IteratorMode::From(&start, Direction::Forward));
            for item in iter {
                let (key, value) = item.map_err(|source| LogError::Storage {
                    doing: format!("reading topic '{topic}'"),
                    source,
                })?;
                let Some(offset_bytes) = key.strip_prefix(prefix.as_slice()) else {
                    break;
                };
                let offset =
                    offset_bytes
                        .try_into()
                        .map(u64::from_be_bytes)
                        .map_err(|_| LogError::Corrupt {
                            topic: topic.to_owned(),
                            offset: from,
                            reason: "a key's offset is not 8 bytes".to_owned(),
                        })?;
                if offset >= end {
                    break;
                }
                out.push(Entry {
                    offset,
                    record: decode(topic, offset, &value)?,
                });
                if out.len() >= max {
                    break;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        let ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        Ok(ends.get(topic).copied().unwrap_or(0))
    }

    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        self.with_db(|db| {
            db.get_cf(cf(db, CF_STATE), key)
                .map_err(|source| LogError::Storage {
                    doing: "reading state".to_owned(),
                    source,
                })
        })
    }

    fn states(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, LogError> {
        let storage = |source| LogError::Storage {
            doing: format!("reading {} state key(s)", keys.len()),
            source,
        };
        self.with_db(|db| {
            db.batched_multi_get_cf(cf(db, CF_STATE), keys, false)
                .into_iter()
                .map(|value| value.map(|value| value.map(|value| value.to_vec())))
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)
        })
    }

    fn start_offset(&self, topic: &str) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        let key = [START_PREFIX, topic.as_bytes()].concat();
        let stored = self.with_db(|db| {
            db.get_cf(cf(db, CF_META), &key)
                .map_err(|source| LogError::Storage {
                    doing: format!("reading the start of '{topic}'"),
                    source,
                })
        })?;
        match stored {
            None => Ok(0),
            Some(bytes) => {
                bytes
                    .as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| LogError::Corrupt {
                        topic: topic.to_owned(),
                        offset: 0,
                        reason: "the stored start offset is not 8 bytes".to_owned(),
                    })
            }
        }
    }

    fn delete_before(&self, topic: &str, offset: Offset) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        if self.read_only {
            return Err(LogError::ReadOnly);
        }
        if self.broken.load(Ordering::SeqCst) {
            self.reopen()?;
        }
        // Held like a write: the end cannot move meanwhile, and the start is only moved here.
        let ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let end = ends.get(topic).copied().unwrap_or(0);
        let start = self.start_offset(topic)?;
        let until = offset.min(end);
        if until <= start {
            return Ok(start);
        }
        let (from_key, until_key) = (log_key(topic, start), log_key(topic, until));
        self.with_db(|db| {
            let mut write = WriteBatch::default();
            write.delete_range_cf(cf(db, CF_LOG), &from_key, &until_key);
            write.put_cf(
                cf(db, CF_META),
                [START_PREFIX, topic.as_bytes()].concat(),
                until.to_be_bytes(),
            );
            let mut options = WriteOptions::default();
            options.set_sync(true);
            db.write_opt(write, &options).map_err(|source| LogError::Storage {
                doing: format!("deleting records {start}..{until} of '{topic}'"),
                source,
            })
        })
        .inspect_err(|_| self.broken.store(true, Ordering::SeqCst))?;
        // The writers go on meanwhile: the rest needs no lock on the ends.
        drop(ends);
        // The range's files rewritten without them, so the records are gone from the disk, not only hidden
        // (flushed first: recent records may still sit in a memory table and its write-ahead log).
        self.with_db(|db| {
            flush_all(db).map_err(|source| LogError::Storage {
                doing: "flushing after a deletion".to_owned(),
                source,
            })?;
            db.compact_range_cf(cf(db, CF_LOG), Some(&from_key), Some(&until_key));
            Ok(())
        })?;
        Ok(until)
    }

    fn purge_deleted_state(&self) -> Result<(), LogError> {
        if self.read_only {
            return Err(LogError::ReadOnly);
        }
        let failed = |doing: &str| {
            let doing = doing.to_owned();
            move |source| LogError::Storage { doing, source }
        };
        self.with_db(|db| {
            flush_all(db).map_err(failed("flushing before a purge"))?;
            // A full compaction of the state: the deletions meet the values they delete in the last level, where
            // both are dropped.
            let mut options = rocksdb::CompactOptions::default();
            options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            db.compact_range_cf_opt(cf(db, CF_STATE), None::<&[u8]>, None::<&[u8]>, &options);
            Ok(())
        })
    }

    /// `snapshots/` inside the store's directory: a backup or copy of the directory takes them along, and
    /// RocksDB leaves files it does not know alone.
    fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.path.join("snapshots"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: &str) -> Record {
        Record {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            timestamp_ms: 42,
        }
    }

    #[test]
    fn a_log_that_is_no_shard_refuses_to_route_and_writes_nothing_of_the_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        batch.append("clues", record("c", "a clue"));
        batch.route(ShardId(1), record("r", "a part for shard 1"));
        assert!(!batch.is_empty());
        assert!(matches!(log.write(batch), Err(LogError::NotSharded)));
        assert_eq!(
            log.end_offset("clues").expect("end"),
            0,
            "nothing of a refused batch"
        );
        // Through a unit of work: held like the rest, refused at the commit, nothing written.
        let log: std::sync::Arc<dyn Log> = std::sync::Arc::new(log);
        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.route(ShardId(0), record("r", "a part"));
        unit.write(batch).expect("held");
        assert!(!unit.is_empty());
        assert!(matches!(unit.commit(), Err(LogError::NotSharded)));
        assert_eq!(log.end_offset(REPARTITION).expect("end"), 0);
    }

    /// The room a write batch is given is at least what it takes (so it is never grown), and not much more.
    #[test]
    fn a_write_batch_is_sized_for_what_it_holds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        // Empty and long keys and values, several topics in runs and interleaved, state puts and deletes; a
        // value over 127 bytes and one over 16,383 take longer length prefixes.
        for i in 0..300usize {
            let topic = ["clues", "links", "raw.hotline", "clues"][i % 4];
            let value = "值".repeat(i * i % 7000);
            batch.append(topic, record(&"k".repeat(i % 3), &value));
        }
        for i in 0..50usize {
            batch.put_state(format!("ingest/clue/{i}").into_bytes(), vec![b'x'; i * 11]);
            batch.delete_state(format!("vault/{i}").into_bytes());
        }
        let ends = HashMap::from([("links".to_owned(), 40)]);
        log.with_db(|db| {
            let (mut next, mut offsets) = (HashMap::new(), Vec::new());
            let written = write_batch(db, &batch, &ends, &mut next, &mut offsets).size_in_bytes();
            let reserved = encoded_size(&batch);
            let puts = batch.appends.len() + batch.state.len() + next.len();
            assert!(reserved >= written, "{reserved} reserved for {written}");
            assert!(
                reserved <= written + 16 * puts,
                "{reserved} reserved for {written}"
            );
            // `links` goes on from its end; the others start at 0.
            let links: Vec<Offset> = offsets.iter().skip(1).step_by(4).copied().collect();
            assert_eq!(links, (40..115).collect::<Vec<Offset>>());
            assert_eq!(next.get("clues"), Some(&150));
            Ok(())
        })
        .expect("db");
    }

    #[test]
    fn early_records_deleted_are_gone_and_the_rest_keep_their_offsets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let on_disk = |needle: &[u8]| {
            std::fs::read_dir(dir.path()).expect("dir").any(|entry| {
                let path = entry.expect("entry").path();
                path.is_file()
                    && std::fs::read(&path)
                        .expect("read")
                        .windows(needle.len())
                        .any(|w| w == needle)
            })
        };
        {
            let log = EmbeddedLog::open(dir.path()).expect("open");
            let mut batch = Batch::new();
            for i in 0..10 {
                batch.append("raw.grid", record("k", &format!("unit-number-{i:04}-of-ten")));
            }
            batch.append("clues", record("c", "a clue"));
            log.write(batch).expect("write");
            // In the write-ahead log only, not yet in a table file.
            assert!(on_disk(b"unit-number-0003-of-ten"));
            assert_eq!(log.delete_before("raw.grid", 4).expect("delete"), 4);
            // Asking again, or for less, changes nothing; past the end stops at the end.
            assert_eq!(log.delete_before("raw.grid", 2).expect("delete"), 4);
            assert_eq!(log.start_offset("raw.grid").expect("start"), 4);
            assert_eq!(log.start_offset("clues").expect("start"), 0);
            assert!(
                !on_disk(b"unit-number-0003-of-ten"),
                "a deleted record is still on disk"
            );
            assert!(on_disk(b"unit-number-0004-of-ten"));
        }
        let log = EmbeddedLog::open(dir.path()).expect("reopen");
        assert_eq!(log.start_offset("raw.grid").expect("start"), 4);
        assert_eq!(log.end_offset("raw.grid").expect("end"), 10);
        let read = log.read("raw.grid", 0, 100).expect("read");
        assert_eq!(read.first().map(|e| e.offset), Some(4));
        assert_eq!(read.len(), 6);
        let mut batch = Batch::new();
        batch.append("raw.grid", record("k", "later"));
        assert_eq!(
            log.write(batch).expect("write"),
            vec![10],
            "offsets are never reused"
        );
        assert_eq!(
            log.check().expect("check"),
            vec![("clues".to_owned(), 1), ("raw.grid".to_owned(), 7)]
        );
        assert_eq!(log.delete_before("raw.grid", 99).expect("delete"), 11);
        assert!(log.read("raw.grid", 0, 100).expect("read").is_empty());
        assert_eq!(log.check().expect("check")[1], ("raw.grid".to_owned(), 0));
    }

    #[test]
    fn appends_are_dense_ordered_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let log = EmbeddedLog::open(dir.path()).expect("open");
            let mut batch = Batch::new();
            batch.append("clues", record("a", "1"));
            batch.append("raw.grid", record("b", "2"));
            batch.append("clues", record("c", "3"));
            batch.put_state("seen/a", "x");
            assert_eq!(log.write(batch).expect("write"), vec![0, 0, 1]);
            let mut batch = Batch::new();
            batch.append("clues", record("d", "4"));
            assert_eq!(log.write(batch).expect("write"), vec![2]);
        }
        let log = EmbeddedLog::open(dir.path()).expect("reopen");
        assert_eq!(log.end_offset("clues").expect("end"), 3);
        assert_eq!(log.end_offset("raw.grid").expect("end"), 1);
        assert_eq!(log.end_offset("nothing").expect("end"), 0);
        let entries = log.read("clues", 1, 10).expect("read");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].offset, 1);
        assert_eq!(entries[0].record, record("c", "3"));
        assert_eq!(entries[1].record, record("d", "4"));
        assert_eq!(log.read("clues", 0, 1).expect("read").len(), 1);
        // "clues" must not read into "clues2"'s records, nor "raw.grid" into others.
        assert_eq!(log.read("raw.grid", 0, 10).expect("read").len(), 1);
        assert_eq!(log.state(b"seen/a").expect("state").as_deref(), Some(&b"x"[..]));
        assert_eq!(log.state_with_prefix(b"seen/").expect("scan").len(), 1);
        assert_eq!(log.topics(), vec!["clues".to_owned(), "raw.grid".to_owned()]);
    }

    #[test]
    fn a_backup_is_a_store_of_its_own_and_a_check_finds_a_missing_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(dir.path().join("store")).expect("open");
        let mut batch = Batch::new();
        for i in 0..5 {
            batch.append("clues", record(&format!("k{i}"), "v"));
        }
        batch.append("raw.grid", record("r", "raw"));
        batch.put_state("seen/a", "x");
        log.write(batch).expect("write");
        log.backup(&dir.path().join("backup")).expect("backup");
        // Written after the backup: not in it.
        let mut batch = Batch::new();
        batch.append("clues", record("k5", "v"));
        log.write(batch).expect("write");
        assert_eq!(
            log.check().expect("check"),
            vec![("clues".to_owned(), 6), ("raw.grid".to_owned(), 1)]
        );
        let restored = EmbeddedLog::open(dir.path().join("backup")).expect("the backup opens as a store");
        assert_eq!(
            restored.check().expect("check"),
            vec![("clues".to_owned(), 5), ("raw.grid".to_owned(), 1)]
        );
        assert_eq!(
            restored.read("clues", 4, 1).expect("read")[0].record,
            record("k4", "v")
        );
        assert_eq!(
            restored.state(b"seen/a").expect("state").as_deref(),
            Some(&b"x"[..])
        );
        // A reader cannot take one: what the writer has not flushed would be missing from it, silently.
        let reader = EmbeddedLog::open_read_only(dir.path().join("store")).expect("reader");
        assert!(matches!(
            reader.backup(&dir.path().join("through-a-reader")),
            Err(LogError::ReadOnly)
        ));
        // A record deleted behind the log's back (as a bad restore or a tampered file would): the check names it.
        restored
            .with_db(|db| {
                db.delete_cf(cf(db, CF_LOG), log_key("clues", 2))
                    .map_err(|source| LogError::Storage {
                        doing: "deleting".to_owned(),
                        source,
                    })
            })
            .expect("delete");
        match restored.check() {
            Err(LogError::Corrupt { topic, offset, .. }) => {
                assert_eq!((topic.as_str(), offset), ("clues", 2))
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_its_user_may_enter_the_store() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("store");
        let _log = EmbeddedLog::open(&store).expect("open");
        let mode = std::fs::metadata(&store).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }

    /// Twenty-one writes of one record each to a log in `dir`, as twenty-one clues arrive, then the process
    /// dies: all in the write-ahead log, none flushed. Returns the log file.
    fn twenty_one_clues_in_the_wal(dir: &Path) -> PathBuf {
        {
            let log = EmbeddedLog::open(dir).expect("open");
            for i in 0..21 {
                let mut batch = Batch::new();
                batch.append("clues", record(&format!("k{i}"), &"v".repeat(200)));
                log.write(batch).expect("write");
            }
            log.close_as_a_crash_would();
        }
        wal_files(dir)
            .into_iter()
            .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .expect("a write-ahead log file")
    }

    /// The write-ahead log files of the log in `dir`.
    fn wal_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect()
    }

    #[test]
    fn a_flipped_byte_in_the_write_ahead_log_refuses_to_open_instead_of_losing_what_follows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = twenty_one_clues_in_the_wal(dir.path());
        let mut bytes = std::fs::read(&wal).expect("read WAL");
        assert!(
            bytes.len() > 4_000,
            "the records are in the WAL ({} bytes)",
            bytes.len()
        );
        // A byte in the middle: inside the record of a write around the tenth.
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&wal, &bytes).expect("write WAL");
        match EmbeddedLog::open(dir.path()) {
            Ok(log) => panic!(
                "opened with {} of 21 clues instead of refusing",
                log.end_offset("clues").unwrap_or(0)
            ),
            Err(e) => {
                let text = format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                assert!(text.contains("cannot open the log"), "{text}");
                assert!(text.to_lowercase().contains("corrupt"), "{text}");
            }
        }
    }

    #[test]
    fn a_last_record_torn_by_a_crash_is_dropped_and_the_log_opens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wal = twenty_one_clues_in_the_wal(dir.path());
        // The process died in the middle of writing the last record: its tail never reached the file.
        let bytes = std::fs::read(&wal).expect("read WAL");
        std::fs::write(&wal, &bytes[..bytes.len() - 50]).expect("write WAL");
        let log = EmbeddedLog::open(dir.path()).expect("a torn tail is no corruption");
        assert_eq!(log.end_offset("clues").expect("end"), 20);
    }

    /// A log closed cleanly leaves nothing in its write-ahead log for the next open to recover, and loses
    /// nothing.
    #[test]
    fn a_log_closed_cleanly_leaves_nothing_to_recover() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let log = EmbeddedLog::open(dir.path()).expect("open");
            let mut batch = Batch::new();
            for i in 0..21 {
                batch.append("clues", record(&format!("k{i}"), &"v".repeat(200)));
            }
            log.write(batch).expect("write");
        }
        let wal_bytes: u64 = wal_files(dir.path())
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        assert_eq!(
            wal_bytes, 0,
            "the write-ahead log holds what the memory tables held"
        );
        let log = EmbeddedLog::open(dir.path()).expect("reopen");
        assert_eq!(log.read("clues", 0, 100).expect("read").len(), 21);
    }

    #[test]
    fn rejects_bad_topic_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        batch.append("bad topic", record("a", "1"));
        assert!(matches!(log.write(batch), Err(LogError::InvalidTopic(_))));
        assert_eq!(log.end_offset("clues").expect("end"), 0);
    }

    #[test]
    fn a_reader_opens_the_log_while_a_writer_holds_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let writer = EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        batch.append("clues", record("a", "1"));
        writer.write(batch).expect("write");
        assert!(EmbeddedLog::exists(dir.path()));
        let reader = EmbeddedLog::open_read_only(dir.path()).expect("read-only open");
        assert_eq!(reader.read("clues", 0, 10).expect("read").len(), 1);
        assert!(!EmbeddedLog::exists(dir.path().join("nothing")));
    }

    #[test]
    fn a_second_process_cannot_open_the_same_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = EmbeddedLog::open(dir.path()).expect("open");
        let second = EmbeddedLog::open(dir.path());
        assert!(matches!(second, Err(LogError::Open { .. })));
    }
}
