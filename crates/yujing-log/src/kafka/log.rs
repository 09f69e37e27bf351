//! The log on Kafka: one transaction per batch, the state in a compacted topic.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset as KafkaOffset, TopicPartitionList};

use crate::{validate_topic, Batch, Entry, Log, LogError, Offset, Record, ShardId};

use super::checkpoint;
use super::config::{min_insync_replicas, shard_offset, split_shard_offset, KafkaConfig};
use super::lease::KafkaLease;
use super::{admin_options, block_on, kafka};

/// Which partitions a [`KafkaLog`] reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// One partition: the whole log (`partitions = 1`), or one shard's.
    Partition(i32),
    /// Every partition in turn, read-only, offsets from [`shard_offset`].
    All(u32),
}

/// Collects the offsets the broker gives the records of the batch being written.
#[derive(Default)]
struct Deliveries {
    offsets: Mutex<HashMap<usize, Result<Offset, String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(message) => Ok(message.offset().max(0) as Offset),
            Err((error, _)) => Err(error.to_string()),
        };
        self.offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index, outcome);
    }
}

/// The Kafka log.
pub struct KafkaLog {
    config: KafkaConfig,
    /// None when opened for reading only.
    producer: Option<Mutex<BaseProducer<Deliveries>>>,
    consumer: Mutex<BaseConsumer>,
    admin: AdminClient<DefaultClientContext>,
    created: Mutex<HashSet<String>>,
    state: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    scope: Scope,
    /// The writer's lease and the partition of it this log needs, when opened with one.
    lease: Option<(std::sync::Arc<KafkaLease>, i32)>,
    /// For a writer: where each topic it wrote or looked at ends in its partition. No one else writes that
    /// partition (the transactional id fences a predecessor, the lease keeps others out), so reading at the end,
    /// or across the commit marker after its last record, costs no round trip to the broker.
    tails: Mutex<HashMap<String, Tail>>,
    /// The start this writer gave each topic it deleted early records of: the broker's answer to a later
    /// query may lag behind its own deletion.
    starts: Mutex<HashMap<String, Offset>>,
    /// Held for the whole of a write, until the state in memory has its effects: a checkpoint taken under it
    /// sees every committed state record below the topic's end.
    writing: Mutex<()>,
    /// The state topic offset the state was read from when the log opened (0: the whole topic).
    state_read_from: Offset,
}

/// The end of a topic in the writer's partition, as the writer left it.
#[derive(Debug, Clone, Copy)]
struct Tail {
    /// After the last record (below it every offset may hold one; from it on only commit markers).
    records_end: Offset,
    /// The last stable offset: where the next append goes.
    end: Offset,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .field("topic_prefix", &self.config.topic_prefix)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

const STATE_TOPIC: &str = "state";

/// How long the state topic yujing creates keeps tombstones (a week): how old a state checkpoint may be.
const STATE_DELETE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Kafka's default `delete.retention.ms`, when a topic's cannot be read.
const DEFAULT_DELETE_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// What creating a topic answers when yujing may not create topics on the cluster.
const CREATION_REFUSED: [RDKafkaErrorCode; 3] = [
    RDKafkaErrorCode::TopicAuthorizationFailed,
    RDKafkaErrorCode::ClusterAuthorizationFailed,
    RDKafkaErrorCode::PolicyViolation,
];

impl KafkaLog {
    /// Connects, creates the state topic if needed, starts the transactional producer (aborting what a previous
    /// instance with the same transactional id left unfinished) and reads the state. The whole log: `partitions`
    /// must be 1 (a sharded store is written shard by shard, [`KafkaLog::open_shard`]).
    pub fn open(config: KafkaConfig) -> Result<KafkaLog, LogError> {
        KafkaLog::require_one_partition(&config)?;
        KafkaLog::open_with(config, Some(0))
    }

    /// Waits for the writer's lease ([`KafkaLease`]; `wait: None` as long as it takes), then opens the log for
    /// writing. Writes fail once the lease is lost. `partitions` must be 1.
    pub fn open_leased(config: KafkaConfig, wait: Option<Duration>) -> Result<KafkaLog, LogError> {
        KafkaLog::require_one_partition(&config)?;
        let lease = std::sync::Arc::new(KafkaLease::acquire(&config, wait)?);
        let mut log = KafkaLog::open_with(config, Some(0))?;
        log.lease = Some((lease, 0));
        Ok(log)
    }

    /// Opens `shard`'s log for writing: its partition of every topic and of the state, with the shard's own
    /// transactional id (which aborts and fences whatever the shard's previous writer left). Writes fail once
    /// `lease` no longer holds the shard.
    pub fn open_shard(
        config: KafkaConfig,
        shard: ShardId,
        lease: std::sync::Arc<KafkaLease>,
    ) -> Result<KafkaLog, LogError> {
        let partition = shard.partition();
        if shard.0 >= config.shards() {
            return Err(LogError::TopicMisconfigured {
                topic: format!("{}lease", config.topic_prefix),
                problems: vec![format!(
                    "there is no shard {partition}: the store has {} partition(s)",
                    config.partitions
                )],
            });
        }
        let mut log = KafkaLog::open_with(config, Some(partition))?;
        log.lease = Some((lease, partition));
        Ok(log)
    }

    fn require_one_partition(config: &KafkaConfig) -> Result<(), LogError> {
        if config.partitions > 1 {
            return Err(LogError::Sharded {
                partitions: config.partitions,
            });
        }
        Ok(())
    }

    /// Whether this writer's lease was lost to another instance.
    pub fn lease_lost(&self) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|(lease, partition)| !lease.holds(ShardId::of_partition(*partition)))
    }

    /// Connects for reading only: no producer, so a running writer with the same transactional id is left alone.
    /// Writing fails. Over a sharded store it reads every partition in turn ([`shard_offset`]) and has no state.
    pub fn open_read_only(config: KafkaConfig) -> Result<KafkaLog, LogError> {
        KafkaLog::open_with(config, None)
    }

    /// The shard this log writes, and how many there are (`(0, 1)` for an unsharded store); `None` for a
    /// read-only log over every partition of a sharded store.
    pub fn shard(&self) -> Option<(ShardId, u32)> {
        match self.scope {
            Scope::Partition(p) => Some((ShardId::of_partition(p), self.config.shards())),
            Scope::All(_) => None,
        }
    }

    /// The state topic offset the state was read from when the log opened: its checkpoint's, or 0 when the
    /// whole topic was read.
    pub fn state_read_from(&self) -> Offset {
        self.state_read_from
    }

    /// `writer`: the partition to write (its producer is started); `None` for reading only.
    fn open_with(config: KafkaConfig, writer: Option<i32>) -> Result<KafkaLog, LogError> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let partitions = config.shards();
        let scope = match writer {
            Some(partition) => Scope::Partition(partition),
            None if partitions == 1 => Scope::Partition(0),
            None => Scope::All(partitions),
        };
        let transactional_id = match writer {
            Some(partition) if partitions > 1 => format!("{}-p{partition}", config.transactional_id),
            _ => config.transactional_id.clone(),
        };
        let mut common = config.client().config()?;
        if !config.client.contains_key("socket.timeout.ms") {
            common.set("socket.timeout.ms", config.timeout_ms.max(1000).to_string());
        }
        let producer: Option<BaseProducer<Deliveries>> = if writer.is_some() {
            Some(
                common
                    .clone()
                    .set("transactional.id", &transactional_id)
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("linger.ms", "5")
                    // A transaction begun right after the last one's commit is refused with
                    // CONCURRENT_TRANSACTIONS until the coordinator has written the commit markers, and the client
                    // retries after `retry.backoff.ms`: librdkafka's default of 100 ms made every step at least
                    // 100 ms long (KAFKA-5477; the Java client uses 20 ms there). Retries still back off
                    // exponentially up to `retry.backoff.max.ms`.
                    .set("retry.backoff.ms", "10")
                    .set("transaction.timeout.ms", "60000")
                    .create_with_context(Deliveries::default())
                    .map_err(kafka("creating the producer"))?,
            )
        } else {
            None
        };
        let consumer: BaseConsumer = common
            .clone()
            .set("group.id", format!("{}reader", config.topic_prefix))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            // Reads are short and interactive (a page of a topic): do not let the broker hold a fetch for
            // half a second waiting for more.
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(kafka("creating the reader"))?;
        let admin: AdminClient<DefaultClientContext> =
            common.create().map_err(kafka("creating the admin client"))?;
        let mut log = KafkaLog {
            config,
            producer: producer.map(Mutex::new),
            consumer: Mutex::new(consumer),
            admin,
            created: Mutex::new(HashSet::new()),
            state: Mutex::new(HashMap::new()),
            scope,
            lease: None,
            tails: Mutex::new(HashMap::new()),
            starts: Mutex::new(HashMap::new()),
            writing: Mutex::new(()),
            state_read_from: 0,
        };
        if let Some(producer) = &log.producer {
            log.ensure_topic(STATE_TOPIC)?;
            if log.config.partitions > 1 {
                // Made now, long before the router's first write: the first batches sent to a topic created
                // moments before were sometimes lost (see `write`).
                log.ensure_topic(crate::REPARTITION)?;
            }
            producer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .init_transactions(timeout)
                .map_err(kafka("starting the transactional producer"))?;
        }
        // The state: the fold of the compacted state topic (this partition of it), tombstones deleting.
        let Scope::Partition(partition) = log.scope else {
            return Ok(log);
        };
        let (mut state, mut from) = log.state_checkpoint(partition);
        log.state_read_from = from;
        loop {
            let page = log.read_raw(STATE_TOPIC, partition, from, 10_000)?;
            let Some(last) = page.last() else {
                break;
            };
            from = last.0 + 1;
            for (_, key, value, _) in page {
                match value {
                    Some(value) => state.insert(key, value),
                    None => state.remove(&key),
                };
            }
        }
        *log.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        // State records are not appends: later writes do not keep this topic's tail.
        log.tails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(STATE_TOPIC);
        Ok(log)
    }

    /// The state and the state topic offset to read on from: the checkpoint's when there is a usable one
    /// (saying why one is not), else nothing and 0.
    fn state_checkpoint(&self, partition: i32) -> (HashMap<Vec<u8>, Vec<u8>>, Offset) {
        let Some(dir) = self.snapshot_dir() else {
            return (HashMap::new(), 0);
        };
        let topic = self.name(STATE_TOPIC);
        let refused = match checkpoint::read(&dir, &topic, partition) {
            Ok(None) => return (HashMap::new(), 0),
            Ok(Some(found)) => match self.checkpoint_fits(&found, &topic, partition) {
                Ok(()) => {
                    tracing::info!(
                        topic,
                        partition,
                        offset = found.offset,
                        keys = found.state.len(),
                        "the state starts from its checkpoint"
                    );
                    return (found.state, found.offset);
                }
                Err(reason) => reason,
            },
            Err(reason) => reason,
        };
        tracing::warn!(
            topic,
            partition,
            refused,
            "the state checkpoint cannot be used: reading the whole state topic"
        );
        (HashMap::new(), 0)
    }

    /// Whether a checkpoint may start the state: it covers no more than the topic holds (else it is of another
    /// topic of that name), and no tombstone after it can have been compacted away yet (it is younger than
    /// the topic's `delete.retention.ms`).
    fn checkpoint_fits(
        &self,
        found: &checkpoint::Checkpoint,
        topic: &str,
        partition: i32,
    ) -> Result<(), String> {
        let end = self
            .fetch_partition_end(STATE_TOPIC, partition)
            .map_err(|e| e.to_string())?;
        if found.offset > end {
            return Err(format!(
                "it covers {topic} up to offset {}, the topic ends at {end} (another or a recreated topic)",
                found.offset
            ));
        }
        let options = admin_options(self.timeout());
        let described = block_on(
            self.admin
                .describe_configs([&ResourceSpecifier::Topic(topic)], &options),
        )
        .map_err(|e| format!("describing {topic}: {e}"))?;
        let retention: i64 = described
            .into_iter()
            .next()
            .and_then(Result::ok)
            .and_then(|resource| resource.get("delete.retention.ms").and_then(|e| e.value.clone()))
            .and_then(|value| value.parse().ok())
            .unwrap_or(DEFAULT_DELETE_RETENTION_MS);
        let age = chrono::Utc::now().timestamp_millis() - found.written_ms;
        if age > retention {
            return Err(format!(
                "it is {} s old, older than {topic}'s delete.retention.ms ({} s): a key deleted since may have \
                 lost its tombstone",
                age / 1000,
                retention / 1000
            ));
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    fn name(&self, topic: &str) -> String {
        format!("{}{topic}", self.config.topic_prefix)
    }

    /// Creates `topic` unless it exists (or was created by this log already).
    fn ensure_topic(&self, topic: &str) -> Result<(), LogError> {
        if self
            .created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(topic)
        {
            return Ok(());
        }
        let name = self.name(topic);
        let partitions = self.config.shards() as i32;
        let mut new = NewTopic::new(
            &name,
            partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        )
        .set("retention.bytes", "-1");
        let retention = self
            .config
            .expires(topic)
            .map_or_else(|| "-1".to_owned(), |ms| ms.to_string());
        new = new.set("retention.ms", &retention);
        let min_insync = min_insync_replicas(self.config.replication_factor).to_string();
        new = new.set("min.insync.replicas", &min_insync);
        let delete_retention = STATE_DELETE_RETENTION_MS.to_string();
        if topic == STATE_TOPIC {
            // Tombstones are kept a week, so a state checkpoint up to a week old is still complete.
            new = new
                .set("cleanup.policy", "compact")
                .set("delete.retention.ms", &delete_retention);
        }
        let options = admin_options(self.timeout());
        let results = block_on(self.admin.create_topics([&new], &options))
            .map_err(kafka(format!("creating topic {name}")))?;
        for result in results {
            match result {
                Ok(_) => {}
                // It exists, or yujing may not create topics here (ACLs, a create-topic policy): verify that the
                // topic an administrator made has the settings the log relies on.
                Err((_, code))
                    if CREATION_REFUSED.contains(&code) || code == RDKafkaErrorCode::TopicAlreadyExists =>
                {
                    self.verify_topic(topic, &name, code)?;
                }
                Err((topic, code)) => {
                    return Err(LogError::Kafka {
                        doing: format!("creating topic {topic}"),
                        source: KafkaError::AdminOp(code),
                    })
                }
            }
        }
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_owned());
        Ok(())
    }

    /// Checks a topic yujing did not create: it exists, has the configured partitions (one per shard; with one,
    /// offsets name records and order is total), and keeps every record — unlimited retention and no compaction for a log topic, compaction only
    /// for the state topic. `refused` is what creating it answered.
    fn verify_topic(&self, topic: &str, name: &str, refused: RDKafkaErrorCode) -> Result<(), LogError> {
        let options = admin_options(self.timeout());
        let described = block_on(
            self.admin
                .describe_configs([&ResourceSpecifier::Topic(name)], &options),
        )
        .map_err(kafka(format!("describing topic {name}")))?;
        let settings = match described.into_iter().next() {
            Some(Ok(resource)) => resource,
            Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) | None => {
                return Err(LogError::TopicMisconfigured {
                    topic: name.to_owned(),
                    problems: vec![format!(
                        "it does not exist and yujing may not create it ({refused}); create it with {} \
                         partition(s), {}",
                        self.config.shards(),
                        if topic == STATE_TOPIC {
                            "cleanup.policy=compact"
                        } else {
                            "retention.ms=-1 and retention.bytes=-1"
                        }
                    )],
                });
            }
            Some(Err(code)) => {
                return Err(LogError::Kafka {
                    doing: format!("describing topic {name}"),
                    source: KafkaError::AdminOp(code),
                })
            }
        };
        let value = |key: &str| {
            settings
                .get(key)
                .and_then(|e| e.value.clone())
                .unwrap_or_default()
        };
        let mut problems = Vec::new();
        // Its partitions, and the fewest replicas any of them has.
        let (partitions, replicas) = {
            let consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
            let metadata = consumer
                .fetch_metadata(Some(name), self.timeout())
                .map_err(kafka(format!("reading the metadata of {name}")))?;
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == name)
                .map_or((0, 0), |t| {
                    let replicas = t.partitions().iter().map(|p| p.replicas().len()).min();
                    (t.partitions().len(), replicas.unwrap_or(0))
                })
        };
        let factor = self.config.replication_factor.max(1) as usize;
        if replicas < factor {
            problems.push(format!(
                "it has {replicas} replica(s) a partition, [store.kafka] replication_factor is {factor}: a broker lost \
                 would lose what only it held (recreate it with --replication-factor {factor})"
            ));
        }
        let required = min_insync_replicas(self.config.replication_factor);
        let insync: i32 = value("min.insync.replicas").parse().unwrap_or(1);
        if insync < required {
            problems.push(format!(
                "min.insync.replicas is {insync}: with replication factor {factor} a write must reach {required} \
                 replicas before it is acknowledged, or a broker lost right after loses it (set \
                 min.insync.replicas={required})"
            ));
        }
        let configured = self.config.shards() as usize;
        if partitions != configured {
            problems.push(format!(
                "it has {partitions} partitions, yujing's log is configured for {configured} \
                 ([store.kafka] partitions; recreate it with --partitions {configured})"
            ));
        }
        let cleanup = value("cleanup.policy");
        if topic == STATE_TOPIC {
            if cleanup != "compact" {
                problems.push(format!(
                    "cleanup.policy is '{cleanup}', the state topic needs 'compact' (only the latest value per key \
                     is state; deleting by age would lose it)"
                ));
            }
        } else {
            if cleanup.split(',').any(|p| p.trim() == "compact") {
                problems.push(format!(
                    "cleanup.policy is '{cleanup}': compaction would drop earlier records of a key, and the log \
                     must keep every record (set cleanup.policy=delete)"
                ));
            }
            // A topic whose records expire (the raw units) may keep them as long as its administrator chose:
            // yujing deletes its early records itself, and no projection is rebuilt from it.
            let keys: &[&str] = if self.config.expires(topic).is_some() {
                &[]
            } else {
                &["retention.ms", "retention.bytes"]
            };
            for &key in keys {
                let kept = value(key);
                if kept != "-1" {
                    problems.push(format!(
                        "{key} is {kept}: the log is the truth every projection is rebuilt from and must keep \
                         every record (set {key}=-1; docs/OPERATIONS.md says how to retire raw personal data)"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LogError::TopicMisconfigured {
                topic: name.to_owned(),
                problems,
            })
        }
    }

    /// The partition this log writes, if it is a writer.
    fn written_partition(&self) -> Option<i32> {
        match (&self.producer, self.scope) {
            (Some(_), Scope::Partition(partition)) => Some(partition),
            _ => None,
        }
    }

    /// What the writer knows of `topic`'s end in `partition`, if it writes that partition.
    fn tail(&self, topic: &str, partition: i32) -> Option<Tail> {
        if self.written_partition() != Some(partition) {
            return None;
        }
        self.tails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .copied()
    }

    /// The end of `partition` of `topic`: what the writer knows, or the broker's last stable offset.
    fn partition_end(&self, topic: &str, partition: i32) -> Result<Offset, LogError> {
        if let Some(tail) = self.tail(topic, partition) {
            return Ok(tail.end);
        }
        let end = self.fetch_partition_end(topic, partition)?;
        // The repartition topic is written by the router, whichever shard's writer that is: its end is the
        // broker's, always.
        if self.written_partition() == Some(partition) && topic != crate::REPARTITION {
            self.tails
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(topic.to_owned())
                .or_insert(Tail {
                    records_end: end,
                    end,
                });
        }
        Ok(end)
    }

    /// The broker's end of `partition` of `topic` (its last stable offset, the reader being `read_committed`; 0
    /// when the topic does not exist yet).
    fn fetch_partition_end(&self, topic: &str, partition: i32) -> Result<Offset, LogError> {
        Ok(self.fetch_watermarks(topic, partition)?.1)
    }

    /// The broker's low watermark of `partition` of `topic` (0 when the topic does not exist yet).
    fn fetch_partition_start(&self, topic: &str, partition: i32) -> Result<Offset, LogError> {
        Ok(self.fetch_watermarks(topic, partition)?.0)
    }

    /// The broker's low and high watermarks of `partition` of `topic` (the high one its last stable offset, the
    /// reader being `read_committed`); both 0 when the topic does not exist yet.
    fn fetch_watermarks(&self, topic: &str, partition: i32) -> Result<(Offset, Offset), LogError> {
        let name = self.name(topic);
        let consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let unknown = |error: &KafkaError| {
            matches!(
                error,
                KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownPartition)
                    | KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)
                    | KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopic)
            )
        };
        let offsets = |(low, high): (i64, i64)| (low.max(0) as Offset, high.max(0) as Offset);
        match consumer.fetch_watermarks(&name, partition, self.timeout()) {
            Ok(watermarks) => Ok(offsets(watermarks)),
            Err(error) if unknown(&error) => {
                // The client's metadata may predate the topic (created since, by this or another instance):
                // ask the cluster, then try again.
                let metadata = consumer
                    .fetch_metadata(Some(&name), self.timeout())
                    .map_err(kafka(format!("reading the metadata of {name}")))?;
                let exists = metadata
                    .topics()
                    .iter()
                    .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty());
                if !exists {
                    return Ok((0, 0));
                }
                match consumer.fetch_watermarks(&name, partition, self.timeout()) {
                    Ok(watermarks) => Ok(offsets(watermarks)),
                    Err(error) if unknown(&error) => Ok((0, 0)),
                    Err(error) => Err(kafka(format!("reading the watermarks of {name}"))(error)),
                }
            }
            Err(error) => Err(kafka(format!("reading the watermarks of {name}"))(error)),
        }
    }

    /// Up to `max` records of `topic` from `from`: (offset, key, value or tombstone, timestamp ms).
    #[allow(clippy::type_complexity)]
    fn read_raw(
        &self,
        topic: &str,
        partition: i32,
        from: Offset,
        max: usize,
    ) -> Result<Vec<(Offset, Vec<u8>, Option<Vec<u8>>, i64)>, LogError> {
        let end = self.partition_end(topic, partition)?;
        let mut out = Vec::new();
        let records_end = self.tail(topic, partition).map_or(end, |tail| tail.records_end);
        if from >= end.min(records_end) || max == 0 {
            return Ok(out);
        }
        let name = self.name(topic);
        let consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&name, partition, KafkaOffset::Offset(from as i64))
                .map_err(kafka(format!("reading {name}")))?;
            consumer
                .assign(&assignment)
                .map_err(kafka(format!("reading {name}")))?;
            // The list is dropped here, before the consumer can be (see MACHINE-NOTES: a live list hangs
            // rd_kafka_destroy).
        }
        let deadline = Instant::now() + self.timeout();
        let mut next = from;
        while out.len() < max && next < end {
            // Short polls: a read usually ends at a transaction marker, which is never delivered, so the last
            // poll of every read waits its whole timeout before the position shows the reader is through (a
            // 100 ms poll made each read of a just-committed batch cost 100 ms).
            match consumer.poll(Duration::from_millis(5)) {
                Some(Ok(message)) => {
                    let offset = message.offset().max(0) as Offset;
                    next = offset + 1;
                    if offset >= end {
                        break;
                    }
                    out.push((
                        offset,
                        message.key().unwrap_or_default().to_vec(),
                        message.payload().map(<[u8]>::to_vec),
                        message.timestamp().to_millis().unwrap_or(0),
                    ));
                }
                Some(Err(error)) => {
                    // A broker restarting or a leader moving: librdkafka reconnects; give up only at the deadline.
                    if Instant::now() > deadline {
                        return Err(kafka(format!("reading {name} from offset {next}"))(error));
                    }
                    tracing::debug!(%error, topic = %name, "retrying a read");
                    std::thread::sleep(Duration::from_millis(100));
                }
                None => {
                    // Transaction markers take offsets and are never delivered: past the last record, the
                    // position says how far the reader got.
                    let position = consumer
                        .position()
                        .ok()
                        .and_then(|list| {
                            list.find_partition(&name, partition)
                                .and_then(|p| match p.offset() {
                                    KafkaOffset::Offset(o) => Some(o.max(0) as Offset),
                                    _ => None,
                                })
                        })
                        .unwrap_or(next);
                    next = next.max(position);
                    if next >= end {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(LogError::Kafka {
                            doing: format!("reading {name} from offset {next} (end {end})"),
                            source: KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut),
                        });
                    }
                }
            }
        }
        consumer.unassign().map_err(kafka(format!("reading {name}")))?;
        Ok(out)
    }
}

impl Log for KafkaLog {
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
        let mut topics: Vec<&str> = batch.appends.iter().map(|(topic, _)| topic.as_str()).collect();
        if !batch.routed.is_empty() {
            if self.config.partitions <= 1 {
                return Err(LogError::NotSharded);
            }
            if let Some((shard, _)) = batch.routed.iter().find(|(s, _)| s.0 >= self.config.partitions) {
                return Err(LogError::Unsupported {
                    what: format!(
                        "routing to shard {shard} of a store of {} shards",
                        self.config.partitions
                    ),
                });
            }
            topics.push(crate::REPARTITION);
        }
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            validate_topic(topic)?;
            self.ensure_topic(topic)?;
        }
        let (Some(producer), Scope::Partition(partition)) = (&self.producer, self.scope) else {
            return Err(LogError::ReadOnly);
        };
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.lease_lost() {
            return Err(LogError::LeaseLost);
        }
        let producer = producer.lock().unwrap_or_else(|e| e.into_inner());
        let timeout = self.timeout();
        let started = Instant::now();
        producer
            .begin_transaction()
            .map_err(kafka("beginning a transaction"))?;
        producer
            .context()
            .offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let names: Vec<String> = batch.appends.iter().map(|(t, _)| self.name(t)).collect();
        let state_topic = self.name(STATE_TOPIC);
        let repartition_topic = self.name(crate::REPARTITION);
        let send = |record: BaseRecord<'_, [u8], [u8], usize>| -> Result<(), LogError> {
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => return Ok(()),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        producer.poll(Duration::from_millis(50));
                        record = back;
                    }
                    Err((error, _)) => return Err(kafka("sending a record")(error)),
                }
            }
        };
        let result = (|| {
            for (index, ((_, record), name)) in batch.appends.iter().zip(&names).enumerate() {
                send(
                    BaseRecord::with_opaque_to(name, index)
                        .partition(partition)
                        .key(record.key.as_slice())
                        .payload(record.value.as_slice())
                        .timestamp(record.timestamp_ms)
                        .headers(OwnedHeaders::new()),
                )?;
            }
            for (i, (key, value)) in batch.state.iter().enumerate() {
                let mut record = BaseRecord::with_opaque_to(&state_topic, batch.appends.len() + i)
                    .partition(partition)
                    .key(key.as_slice());
                if let Some(value) = value {
                    record = record.payload(value.as_slice());
                }
                send(record)?;
            }
            let routed_from = batch.appends.len() + batch.state.len();
            for (i, (shard, record)) in batch.routed.iter().enumerate() {
                send(
                    BaseRecord::with_opaque_to(&repartition_topic, routed_from + i)
                        .partition(shard.partition())
                        .key(record.key.as_slice())
                        .payload(record.value.as_slice())
                        .timestamp(record.timestamp_ms)
                        .headers(OwnedHeaders::new()),
                )?;
            }
            let sent = started.elapsed();
            // Wait for every record's delivery report. Not `flush`: rust-rdkafka's flush polls in steps of
            // 100 ms and returned a good 100 ms after the last report, which made every step that long; short
            // polls return as soon as the reports are in.
            // Send what is queued now, not after `linger.ms` (a flush with no wait only starts the sending).
            let _ = producer.flush(Duration::ZERO);
            let expected = batch.appends.len() + batch.state.len() + batch.routed.len();
            let deadline = Instant::now() + timeout;
            let delivered = || {
                producer
                    .context()
                    .offsets
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len()
            };
            while delivered() < expected {
                if Instant::now() > deadline {
                    return Err(LogError::Kafka {
                        doing: format!("waiting for {} delivery reports", expected - delivered()),
                        source: KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                    });
                }
                producer.poll(Duration::from_millis(1));
            }
            let offsets = producer
                .context()
                .offsets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut out = Vec::with_capacity(batch.appends.len());
            let topic_of = |index: usize| match names.get(index) {
                Some(name) => name.clone(),
                None if index < routed_from => state_topic.clone(),
                None => repartition_topic.clone(),
            };
            for index in 0..expected {
                match offsets.get(&index) {
                    Some(Ok(offset)) if index < batch.appends.len() => out.push(*offset),
                    Some(Ok(_)) => {}
                    Some(Err(reason)) => {
                        return Err(LogError::Corrupt {
                            topic: topic_of(index),
                            offset: 0,
                            reason: format!("the broker refused a record: {reason}"),
                        })
                    }
                    None => {
                        return Err(LogError::Corrupt {
                            topic: topic_of(index),
                            offset: 0,
                            reason: "no delivery report for a record".to_owned(),
                        })
                    }
                }
            }
            // A record routed to another shard's partition is read back by that shard only: nothing else checks
            // its offset. Within one transaction each partition's records take increasing offsets; on this
            // machine (Kafka 4.1.1, librdkafka 2.12.1) the first batches sent to the partitions of a topic created
            // moments before were now and then acknowledged at offset 0 twice, and the first was lost while the
            // commit succeeded. Such a transaction is aborted instead, and the step tried again.
            let mut last_routed: HashMap<u32, Offset> = HashMap::new();
            for (i, (shard, _)) in batch.routed.iter().enumerate() {
                if let Some(Ok(offset)) = offsets.get(&(routed_from + i)) {
                    if let Some(before) = last_routed.insert(shard.0, *offset) {
                        // Consecutive: no other writer, and no marker inside a transaction.
                        if *offset != before + 1 {
                            return Err(LogError::Corrupt {
                                topic: repartition_topic.clone(),
                                offset: *offset,
                                reason: format!(
                                    "the broker acknowledged a record at offset {offset} of partition {shard} right \
                                     after one at {before} in the same transaction: a batch was lost, so the \
                                     transaction is aborted"
                                ),
                            });
                        }
                    }
                }
            }
            let flushed = started.elapsed();
            producer
                .commit_transaction(timeout)
                .map_err(kafka("committing a batch"))?;
            tracing::debug!(
                records = out.len(),
                sent_ms = sent.as_secs_f64() * 1e3,
                flushed_ms = flushed.as_secs_f64() * 1e3,
                committed_ms = started.elapsed().as_secs_f64() * 1e3,
                "transaction committed"
            );
            Ok(out)
        })();
        drop(producer);
        match result {
            Ok(offsets) => {
                // Each partition of the transaction got its records, then one commit marker; no one else writes
                // it. So the next append goes two past the last record, without asking the broker, and the next
                // step can begin at once. (Readers of the broker see the batch once the marker is written, a few
                // milliseconds on: a read up to this end polls until then. Waiting here for the last stable
                // offset cost up to 40 ms a step.) Should a prediction ever be wrong, a unit of work's commit
                // finds its offsets moved and fails rather than write past them.
                let mut last: HashMap<&str, Offset> = HashMap::new();
                for ((topic, _), offset) in batch.appends.iter().zip(&offsets) {
                    let entry = last.entry(topic.as_str()).or_insert(*offset);
                    *entry = (*entry).max(*offset);
                }
                {
                    let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
                    // Never predicted (see `partition_end`); dropped in case a read cached it.
                    tails.remove(crate::REPARTITION);
                    for (topic, offset) in last {
                        tails.insert(
                            topic.to_owned(),
                            Tail {
                                records_end: offset + 1,
                                end: offset + 2,
                            },
                        );
                    }
                }
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                for (key, value) in batch.state {
                    match value {
                        Some(value) => state.insert(key, value),
                        None => state.remove(&key),
                    };
                }
                Ok(offsets)
            }
            Err(error) => {
                // An aborted transaction leaves its records and an abort marker: ask the broker again.
                self.tails.lock().unwrap_or_else(|e| e.into_inner()).clear();
                if let Some(producer) = &self.producer {
                    let producer = producer.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(abort) = producer.abort_transaction(timeout) {
                        tracing::error!(%abort, "aborting a failed batch");
                    }
                }
                Err(error)
            }
        }
    }

    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
        validate_topic(topic)?;
        let (mut partition, mut within, last) = match self.scope {
            Scope::Partition(partition) => (partition, from, partition),
            Scope::All(partitions) => {
                let (shard, within) = split_shard_offset(from);
                (shard.partition(), within, partitions as i32 - 1)
            }
        };
        // Over every partition: the next partition that has something from the position on.
        let mut page = Vec::new();
        while partition <= last {
            page = self.read_raw(topic, partition, within, max)?;
            if !page.is_empty() {
                break;
            }
            partition += 1;
            within = 0;
        }
        let offset_of = |offset| match self.scope {
            Scope::Partition(_) => offset,
            Scope::All(_) => shard_offset(ShardId::of_partition(partition), offset),
        };
        Ok(page
            .into_iter()
            .map(|(offset, key, value, timestamp_ms)| Entry {
                offset: offset_of(offset),
                record: Record {
                    key,
                    value: value.unwrap_or_default(),
                    timestamp_ms,
                },
            })
            .collect())
    }

    fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        match self.scope {
            Scope::Partition(partition) => self.partition_end(topic, partition),
            Scope::All(partitions) => {
                // The end of the last partition holding anything: past every offset of the partitions before it.
                let mut end = 0;
                for partition in 0..partitions as i32 {
                    let high = self.partition_end(topic, partition)?;
                    if high > 0 {
                        end = shard_offset(ShardId::of_partition(partition), high);
                    }
                }
                Ok(end)
            }
        }
    }

    fn shard_ends(&self, topic: &str) -> Result<Vec<(ShardId, Offset)>, LogError> {
        validate_topic(topic)?;
        match self.scope {
            Scope::Partition(partition) => Ok(vec![(
                ShardId::of_partition(partition),
                self.partition_end(topic, partition)?,
            )]),
            Scope::All(partitions) => (0..partitions)
                .map(|shard| {
                    Ok((
                        ShardId(shard),
                        self.partition_end(topic, ShardId(shard).partition())?,
                    ))
                })
                .collect(),
        }
    }

    /// `<snapshot_dir>/<topic prefix>p<partition>` for a log of one partition, so that no other store or shard
    /// can take its snapshots for its own; none for a read-only log over every partition.
    fn snapshot_dir(&self) -> Option<std::path::PathBuf> {
        if self.config.snapshot_dir.as_os_str().is_empty() {
            return None;
        }
        match self.scope {
            Scope::Partition(partition) => Some(
                self.config
                    .snapshot_dir
                    .join(format!("{}p{partition}", self.config.topic_prefix)),
            ),
            Scope::All(_) => None,
        }
    }

    /// For a writer with a snapshot directory: the state and the state topic's end, taken while no write is
    /// under way, in `<snapshot dir>/state.yjc`.
    fn checkpoint_state(&self) -> Result<Option<std::path::PathBuf>, LogError> {
        let (Some(dir), Some(partition)) = (self.snapshot_dir(), self.written_partition()) else {
            return Ok(None);
        };
        let (state, offset) = {
            let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
            (state, self.fetch_partition_end(STATE_TOPIC, partition)?)
        };
        checkpoint::write(&dir, &self.name(STATE_TOPIC), partition, offset, &state)
            .map(Some)
            .map_err(|source| LogError::Checkpoint {
                path: dir.join("state.yjc"),
                source,
            })
    }

    /// The low watermark of the partition this log reads when it reads one; 0 for a log over every shard.
    fn start_offset(&self, topic: &str) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        let Scope::Partition(partition) = self.scope else {
            return Ok(0);
        };
        let known = self
            .starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .copied()
            .unwrap_or(0);
        Ok(self.fetch_partition_start(topic, partition)?.max(known))
    }

    /// Deletes the early records of the partition this log writes (Kafka's DeleteRecords: the low watermark
    /// moves, and the broker drops the segments below it).
    fn delete_before(&self, topic: &str, offset: Offset) -> Result<Offset, LogError> {
        validate_topic(topic)?;
        let Some(partition) = self.written_partition() else {
            return Err(LogError::ReadOnly);
        };
        // At most the broker's last stable offset: a transaction's commit marker may not be written yet, and
        // deleting past what the broker holds is refused.
        let until = offset.min(self.fetch_partition_end(topic, partition)?);
        let start = self.start_offset(topic)?;
        if until <= start {
            return Ok(start);
        }
        let name = self.name(topic);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&name, partition, KafkaOffset::Offset(until as i64))
            .map_err(kafka(format!("naming {name} [{partition}]")))?;
        let deleted = block_on(
            self.admin
                .delete_records(&offsets, &admin_options(self.timeout())),
        )
        .map_err(kafka(format!("deleting the records of {name} before {until}")))?;
        let mut start = None;
        for element in deleted.elements() {
            element
                .error()
                .map_err(kafka(format!("deleting the records of {name} before {until}")))?;
            // The answer carries the partition's new low watermark.
            if let KafkaOffset::Offset(low) = element.offset() {
                start = Some(low.max(0) as Offset);
            }
        }
        let start = start.unwrap_or(until);
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        let known = starts.entry(topic.to_owned()).or_insert(0);
        *known = (*known).max(start);
        Ok(*known)
    }

    /// The state of this log's partition; a read-only log over every partition of a sharded store has none (each
    /// shard's state belongs to its writer).
    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
}
