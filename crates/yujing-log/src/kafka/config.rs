//! The `[store.kafka]` settings, and the offsets of a read-only log over every shard.

use serde::{Deserialize, Serialize};

use crate::{Offset, ShardId};

/// How to reach Kafka and name the topics (`[store.kafka]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port,…` of the brokers.
    pub bootstrap_servers: String,
    /// Put before every topic name (`yujing.` gives `yujing.clues`), so several stores can share a cluster.
    pub topic_prefix: String,
    /// The producer's transactional id: one per writing instance. Starting an instance with the id of one that
    /// died aborts its unfinished batch and fences it out.
    pub transactional_id: String,
    /// Replicas of each topic (3 on a production cluster, 1 on a single broker).
    pub replication_factor: i32,
    /// How long a call may wait for the cluster, in milliseconds.
    pub timeout_ms: u64,
    /// Partitions of every topic: the number of shards the work is split into (towns are spread over them).
    /// 1 (the default) keeps the whole log in one partition, written by one instance at a time.
    #[serde(default = "one_partition")]
    pub partitions: u32,
    /// A local directory for snapshots of the projections of the partitions this instance writes (one
    /// subdirectory per store and partition); empty: no snapshots, a restart rebuilds from the topics.
    #[serde(default)]
    pub snapshot_dir: std::path::PathBuf,
}

fn one_partition() -> u32 {
    1
}

impl KafkaConfig {
    /// The number of shards (at least 1, whatever was configured).
    pub fn shards(&self) -> u32 {
        self.partitions.max(1)
    }
}

/// How many replicas must have a write before it is acknowledged (`min.insync.replicas`; the producer sends
/// with `acks=all`): one fewer than the replicas, at most 2, at least 1. With three replicas a write survives the
/// loss of any one broker and the log still takes writes while one is down.
pub fn min_insync_replicas(replication_factor: i32) -> i32 {
    (replication_factor - 1).clamp(1, 2)
}

/// Bits of a read-only sharded log's offset that hold the offset within the partition.
pub(super) const PARTITION_SHIFT: u32 = 40;

/// The offset a read-only log over every partition of a sharded store gives `offset` of `partition`: offsets of
/// one partition keep their order, and every offset of partition p comes before those of p + 1.
pub fn shard_offset(shard: ShardId, offset: Offset) -> Offset {
    (u64::from(shard.0) << PARTITION_SHIFT) | (offset & ((1 << PARTITION_SHIFT) - 1))
}

/// The partition and the offset within it of an offset from [`shard_offset`].
pub fn split_shard_offset(offset: Offset) -> (ShardId, Offset) {
    (
        ShardId((offset >> PARTITION_SHIFT) as u32),
        offset & ((1 << PARTITION_SHIFT) - 1),
    )
}
