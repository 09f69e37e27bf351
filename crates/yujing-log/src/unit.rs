//! A unit of work over a log: the batches of several stages held in memory and committed as one.
//!
//! On Kafka every [`Log::write`] is a transaction, and after each commit the writer waits until the last stable
//! offset passes it, so that the next stage can read what was just written. A pipeline step whose ingestion,
//! correlation and work-order decisions each wrote their own batch paid that three or more times per step. A
//! [`UnitOfWork`] lets every stage of a step write through it as if to the log, and read its own writes from
//! memory, then commits them all in one [`Batch`] (one transaction, one wait) with [`UnitOfWork::commit`].
//!
//! # Invariants
//! - **Offsets are the log's.** An append is given `end + n`, `end` being the topic's end the first time the
//!   unit touched it and `n` the appends before it in the unit; the commit checks that the log gave exactly
//!   those offsets (one writer per log, or per shard, is what makes that hold) and fails otherwise.
//! - **Atomicity is never finer than the stages asked for.** Each stage's batch carries its own positions, so
//!   committing any prefix of whole batches leaves the log consistent. The unit commits early, between two
//!   batches, only when it holds more than its byte limit (a bulk load).
//! - **Nothing is visible to other readers of the log before the commit.** Readers that hold the log itself
//!   (the event stream, the webhooks) see a step's effects all at once, or not at all.
//! - **A failed commit or [`UnitOfWork::discard`] drops everything not committed.** The caller's projections,
//!   which already saw those writes, must then be restored from the log.

use std::sync::{Arc, Mutex};

use foldhash::HashMap as FastMap;

use crate::{Batch, Entry, Log, LogError, Offset, Record, ShardId};

/// The writes of one topic held by the unit.
#[derive(Debug, Default)]
struct TopicWrites {
    /// The topic's end on the log when the unit first touched it: the offset of the first held append.
    base: Offset,
    /// The held appends, in order: offsets `base`, `base + 1`, …
    records: Vec<Record>,
}

/// What the unit holds between two commits.
#[derive(Debug, Default)]
struct Held {
    /// Topics in the order first written (so the commit's batch is in a stable order).
    order: Vec<String>,
    topics: FastMap<String, TopicWrites>,
    /// Records routed to shards' partitions of the repartition topic, in order (never read back by the unit).
    routed: Vec<(ShardId, Record)>,
    /// The last value written to each state key (`None`: deleted). A bulk load holds hundreds of thousands
    /// (a raw unit's, a clue's and a person's keys per record): hashed with foldhash, seeded per process, not
    /// SipHash (with the tables' growth, hashing was an eighth of the ingest's writing thread:
    /// docs/PERFORMANCE.md, stop 45).
    state: FastMap<Vec<u8>, Option<Vec<u8>>>,
    /// Bytes of keys and values held.
    bytes: usize,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.routed.is_empty() && self.state.is_empty()
    }
}

/// What one commit wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Records appended.
    pub records: usize,
    /// State keys written or deleted.
    pub state_keys: usize,
    /// Bytes of keys and values.
    pub bytes: usize,
}

/// Writes to a log held in memory until [`UnitOfWork::commit`], readable at once through the unit (see the
/// module documentation).
pub struct UnitOfWork {
    log: Arc<dyn Log>,
    held: Mutex<Held>,
    /// Commit between two batches once this many bytes are held (0: never before [`UnitOfWork::commit`]).
    max_bytes: usize,
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock();
        f.debug_struct("UnitOfWork")
            .field("topics", &held.order)
            .field("state_keys", &held.state.len())
            .field("bytes", &held.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl UnitOfWork {
    /// A unit over `log` that commits early, between two batches, once it holds `max_bytes` (0: only when
    /// asked).
    pub fn new(log: Arc<dyn Log>, max_bytes: usize) -> UnitOfWork {
        UnitOfWork {
            log,
            held: Mutex::new(Held::default()),
            max_bytes,
        }
    }

    /// The log the unit commits to.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether anything is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Writes everything held to the log as one batch (one transaction on Kafka). Nothing is held afterwards,
    /// whether it succeeded or not.
    pub fn commit(&self) -> Result<Committed, LogError> {
        let held = std::mem::take(&mut *self.lock());
        self.commit_held(held)
    }

    /// Drops everything held without writing it.
    pub fn discard(&self) {
        *self.lock() = Held::default();
    }

    fn commit_held(&self, mut held: Held) -> Result<Committed, LogError> {
        if held.is_empty() {
            return Ok(Committed::default());
        }
        let mut batch = Batch::new();
        // Each topic's appends go into the batch together, in order: (topic, first offset, how many).
        let mut runs: Vec<(String, Offset, usize)> = Vec::with_capacity(held.order.len());
        for topic in held.order.drain(..) {
            let Some(writes) = held.topics.remove(&topic) else {
                continue;
            };
            runs.push((topic.clone(), writes.base, writes.records.len()));
            for record in writes.records {
                batch.append(topic.clone(), record);
            }
        }
        let routed = held.routed.len();
        for (shard, record) in held.routed {
            batch.route(shard, record);
        }
        let mut keys: Vec<(Vec<u8>, Option<Vec<u8>>)> = held.state.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let committed = Committed {
            records: batch.appends.len() + routed,
            state_keys: keys.len(),
            bytes: held.bytes,
        };
        batch.state = keys;
        let offsets = self.log.write(batch)?;
        let mut given = offsets.iter();
        for (topic, base, count) in runs {
            for (n, given) in given.by_ref().take(count).enumerate() {
                let expected = base + n as Offset;
                if *given != expected {
                    return Err(LogError::Corrupt {
                        topic,
                        offset: *given,
                        reason: format!(
                            "a unit of work's record was committed at offset {given}, not at {expected} as read \
                             back before the commit: another writer appended to this log meanwhile"
                        ),
                    });
                }
            }
        }
        Ok(committed)
    }
}

impl Log for UnitOfWork {
    /// Holds the batch; its appends get the offsets the log will give them. Commits what is held first when the
    /// byte limit is passed.
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
        for (topic, _) in &batch.appends {
            crate::validate_topic(topic)?;
        }
        let mut held = self.lock();
        let mut offsets = Vec::with_capacity(batch.appends.len());
        for (topic, record) in batch.appends {
            if !held.topics.contains_key(&topic) {
                // The first write of the topic in this unit: its end on the log is where the unit's appends go.
                let base = self.log.end_offset(&topic)?;
                held.order.push(topic.clone());
                held.topics.insert(
                    topic.clone(),
                    TopicWrites {
                        base,
                        records: Vec::new(),
                    },
                );
            }
            held.bytes += record.key.len() + record.value.len();
            let writes = held.topics.get_mut(&topic).expect("inserted above");
            offsets.push(writes.base + writes.records.len() as Offset);
            writes.records.push(record);
        }
        for (shard, record) in batch.routed {
            held.bytes += record.key.len() + record.value.len();
            held.routed.push((shard, record));
        }
        for (key, value) in batch.state {
            held.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
            held.state.insert(key, value);
        }
        if self.max_bytes > 0 && held.bytes >= self.max_bytes {
            let full = std::mem::take(&mut *held);
            drop(held);
            self.commit_held(full)?;
        }
        Ok(offsets)
    }

    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
        let held = self.lock();
        let Some(writes) = held.topics.get(topic) else {
            drop(held);
            return self.log.read(topic, from, max);
        };
        if from < writes.base {
            let base = writes.base;
            drop(held);
            let page: Vec<Entry> = self
                .log
                .read(topic, from, max)?
                .into_iter()
                .filter(|entry| entry.offset < base)
                .collect();
            if !page.is_empty() {
                return Ok(page);
            }
            // Nothing on the log between `from` and the unit's first append (on Kafka a transaction marker can
            // sit there): go on with what the unit holds.
            return self.read(topic, base, max);
        }
        let skip = (from - writes.base) as usize;
        Ok(writes
            .records
            .iter()
            .enumerate()
            .skip(skip)
            .take(max)
            .map(|(n, record)| Entry {
                offset: writes.base + n as Offset,
                record: record.clone(),
            })
            .collect())
    }

    fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
        let held = self.lock();
        match held.topics.get(topic) {
            Some(writes) => Ok(writes.base + writes.records.len() as Offset),
            None => {
                drop(held);
                self.log.end_offset(topic)
            }
        }
    }

    fn start_offset(&self, topic: &str) -> Result<Offset, LogError> {
        self.log.start_offset(topic)
    }

    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        let held = self.lock();
        match held.state.get(key) {
            Some(value) => Ok(value.clone()),
            None => {
                drop(held);
                self.log.state(key)
            }
        }
    }

    fn states(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, LogError> {
        let held = self.lock();
        let mut values: Vec<Option<Option<Vec<u8>>>> =
            keys.iter().map(|key| held.state.get(key).cloned()).collect();
        drop(held);
        if values.iter().all(Option::is_none) {
            // Nothing held (a bulk ingest's keys are nearly all new): the keys go to the log as they are.
            return self.log.states(keys);
        }
        // What the unit does not hold is read from the log, in one call.
        let missing: Vec<Vec<u8>> = keys
            .iter()
            .zip(&values)
            .filter(|(_, held)| held.is_none())
            .map(|(key, _)| key.clone())
            .collect();
        let mut read = self.log.states(&missing)?.into_iter();
        for value in values.iter_mut().filter(|value| value.is_none()) {
            *value = Some(read.next().flatten());
        }
        Ok(values.into_iter().map(Option::flatten).collect())
    }

    fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        self.log.snapshot_dir()
    }

    /// The log's checkpoint: of what it has committed, never of what the unit holds.
    fn checkpoint_state(&self) -> Result<Option<std::path::PathBuf>, LogError> {
        self.log.checkpoint_state()
    }

    /// The log's shard ends, each moved past what the unit holds for a log of one shard.
    fn shard_ends(&self, topic: &str) -> Result<Vec<(ShardId, Offset)>, LogError> {
        let mut ends = self.log.shard_ends(topic)?;
        if let [(_, end)] = ends.as_mut_slice() {
            *end = self.end_offset(topic)?;
        }
        Ok(ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedLog;

    fn record(value: &str) -> Record {
        Record {
            key: value.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            timestamp_ms: 1,
        }
    }

    fn values(entries: &[Entry]) -> Vec<(Offset, String)> {
        entries
            .iter()
            .map(|e| (e.offset, String::from_utf8_lossy(&e.record.value).into_owned()))
            .collect()
    }

    fn store() -> (tempfile::TempDir, Arc<dyn Log>) {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.path().join("log")).unwrap());
        (dir, log)
    }

    #[test]
    fn writes_are_read_back_through_the_unit_and_reach_the_log_only_at_the_commit() {
        let (_dir, log) = store();
        let mut first = Batch::new();
        first.append("clues", record("a"));
        first.put_state("position", "1");
        log.write(first).unwrap();

        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.append("clues", record("b"));
        batch.append("links", record("x"));
        batch.put_state("position", "2");
        assert_eq!(unit.write(batch).unwrap(), vec![1, 0]);
        let mut batch = Batch::new();
        batch.append("clues", record("c"));
        assert_eq!(unit.write(batch).unwrap(), vec![2]);

        // The unit reads the log and its own writes as one topic; the log has not seen them.
        assert_eq!(unit.end_offset("clues").unwrap(), 3);
        assert_eq!(
            values(&unit.read("clues", 0, 10).unwrap()),
            vec![(0, "a".to_owned())],
            "a page ends where the log ends, as a reader's next page starts at the unit's writes"
        );
        assert_eq!(
            values(&unit.read("clues", 1, 10).unwrap()),
            vec![(1, "b".to_owned()), (2, "c".to_owned())]
        );
        assert_eq!(unit.state(b"position").unwrap(), Some(b"2".to_vec()));
        assert_eq!(log.end_offset("clues").unwrap(), 1);
        assert_eq!(log.state(b"position").unwrap(), Some(b"1".to_vec()));

        let committed = unit.commit().unwrap();
        assert_eq!((committed.records, committed.state_keys), (3, 1));
        assert!(unit.is_empty());
        assert_eq!(
            values(&log.read("clues", 0, 10).unwrap()),
            vec![(0, "a".to_owned()), (1, "b".to_owned()), (2, "c".to_owned())]
        );
        assert_eq!(
            values(&log.read("links", 0, 10).unwrap()),
            vec![(0, "x".to_owned())]
        );
        assert_eq!(log.state(b"position").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_discarded_unit_leaves_the_log_as_it_was() {
        let (_dir, log) = store();
        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.append("clues", record("a"));
        batch.put_state("k", "v");
        unit.write(batch).unwrap();
        unit.discard();
        assert_eq!(unit.end_offset("clues").unwrap(), 0);
        assert_eq!(unit.state(b"k").unwrap(), None);
        assert_eq!(unit.commit().unwrap(), Committed::default());
        assert_eq!(log.end_offset("clues").unwrap(), 0);
    }

    #[test]
    fn a_deleted_state_key_reads_as_absent_before_the_commit() {
        let (_dir, log) = store();
        let mut batch = Batch::new();
        batch.put_state("k", "v");
        log.write(batch).unwrap();
        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.delete_state("k");
        unit.write(batch).unwrap();
        assert_eq!(unit.state(b"k").unwrap(), None);
        unit.commit().unwrap();
        assert_eq!(log.state(b"k").unwrap(), None);
    }

    #[test]
    fn state_keys_asked_together_read_as_each_asked_alone() {
        let (_dir, log) = store();
        let mut batch = Batch::new();
        batch.put_state("on-log", "1");
        batch.put_state("deleted-in-unit", "2");
        batch.put_state("overwritten-in-unit", "3");
        log.write(batch).unwrap();
        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.put_state("only-in-unit", "4");
        batch.delete_state("deleted-in-unit");
        batch.put_state("overwritten-in-unit", "5");
        unit.write(batch).unwrap();
        let keys: Vec<Vec<u8>> = [
            "absent",
            "on-log",
            "only-in-unit",
            "deleted-in-unit",
            "overwritten-in-unit",
            "absent",
            "on-log",
        ]
        .iter()
        .map(|key| key.as_bytes().to_vec())
        .collect();
        let each = |log: &dyn Log| -> Vec<Option<Vec<u8>>> {
            keys.iter().map(|key| log.state(key).unwrap()).collect()
        };
        let value = |v: &str| Some(v.as_bytes().to_vec());
        assert_eq!(
            unit.states(&keys).unwrap(),
            vec![None, value("1"), value("4"), None, value("5"), None, value("1")]
        );
        assert_eq!(unit.states(&keys).unwrap(), each(&unit));
        assert_eq!(log.states(&keys).unwrap(), each(log.as_ref()));
        assert_eq!(log.states(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
    }

    #[test]
    fn past_its_byte_limit_the_unit_commits_between_two_batches() {
        let (_dir, log) = store();
        let unit = UnitOfWork::new(log.clone(), 10);
        let mut batch = Batch::new();
        batch.append("clues", record("abc"));
        unit.write(batch).unwrap();
        assert_eq!(
            log.end_offset("clues").unwrap(),
            0,
            "6 bytes held, under the limit"
        );
        let mut batch = Batch::new();
        batch.append("clues", record("def"));
        batch.put_state("p", "2");
        assert_eq!(unit.write(batch).unwrap(), vec![1]);
        assert_eq!(
            log.end_offset("clues").unwrap(),
            2,
            "the whole second batch went with the first"
        );
        assert_eq!(log.state(b"p").unwrap(), Some(b"2".to_vec()));
        assert!(unit.is_empty());
        let mut batch = Batch::new();
        batch.append("clues", record("g"));
        assert_eq!(
            unit.write(batch).unwrap(),
            vec![2],
            "after an early commit the next offsets follow on"
        );
        unit.commit().unwrap();
        assert_eq!(log.end_offset("clues").unwrap(), 3);
    }

    #[test]
    fn a_commit_refuses_offsets_another_writer_moved() {
        let (_dir, log) = store();
        let unit = UnitOfWork::new(log.clone(), 0);
        let mut batch = Batch::new();
        batch.append("clues", record("mine"));
        assert_eq!(unit.write(batch).unwrap(), vec![0]);
        let mut other = Batch::new();
        other.append("clues", record("theirs"));
        log.write(other).unwrap();
        let error = unit.commit().unwrap_err();
        assert!(error.to_string().contains("another writer"), "{error}");
    }
}
