//! The `[store.kafka]` settings, and the offsets of a read-only log over every shard.

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::{LogError, Offset, ShardId};

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
    /// librdkafka properties every client of the store sets (`[store.kafka.client]`): TLS and SASL
    /// (`security.protocol`, `sasl.mechanisms`, `sasl.username`, `ssl.ca.location`, …) and tuning.
    #[serde(default)]
    pub client: BTreeMap<String, String>,
    /// librdkafka properties read from environment variables (`[store.kafka.client_env]`, property → variable):
    /// secrets such as `sasl.password` stay out of the configuration file.
    #[serde(default)]
    pub client_env: BTreeMap<String, String>,
    /// Topics whose early records are deleted after a while (the raw units, when `[store] raw_retention_days`
    /// is set): created with that retention, and accepted with a retention of their own. Set by the engine
    /// from its own setting, never read from `[store.kafka]`.
    #[serde(skip)]
    pub expiring: Option<ExpiringTopics>,
}

/// Topics no projection is rebuilt from, whose records expire ([`KafkaConfig::expiring`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringTopics {
    /// The topics' names start with this (`raw.`), before the store's topic prefix.
    pub prefix: String,
    /// How long their records are kept, in milliseconds.
    pub retention_ms: u64,
}

impl KafkaConfig {
    /// The retention of `topic` if it expires.
    pub fn expires(&self, topic: &str) -> Option<u64> {
        self.expiring
            .as_ref()
            .filter(|e| topic.starts_with(&e.prefix))
            .map(|e| e.retention_ms)
    }
}

fn one_partition() -> u32 {
    1
}

impl KafkaConfig {
    /// How the store's clients reach the brokers.
    pub fn client(&self) -> KafkaClient {
        KafkaClient {
            bootstrap_servers: self.bootstrap_servers.clone(),
            properties: self.client.clone(),
            properties_env: self.client_env.clone(),
        }
    }

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

/// Properties yujing sets itself on its clients, for exactly-once writes and reads of committed records only:
/// a configured value would break those guarantees, so it is refused.
pub const RESERVED_PROPERTIES: [&str; 9] = [
    "bootstrap.servers",
    "transactional.id",
    "enable.idempotence",
    "acks",
    "isolation.level",
    "enable.auto.commit",
    "group.id",
    "enable.partition.eof",
    "transaction.timeout.ms",
];

/// How a client reaches a Kafka cluster: its brokers and the librdkafka properties (security, tuning) to set,
/// some read from the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaClient {
    /// `host:port,…`.
    pub bootstrap_servers: String,
    /// Properties set as given.
    pub properties: BTreeMap<String, String>,
    /// Properties whose values are read from environment variables (property → variable).
    pub properties_env: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets a configuration put in clear: only the names are shown.
        f.debug_struct("KafkaClient")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("properties_env", &self.properties_env)
            .finish()
    }
}

impl KafkaClient {
    /// What is wrong with the properties, each naming it (`at` says where they are configured): a reserved
    /// property, a variable that is not set, a secret written in clear.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for key in self.properties.keys().chain(self.properties_env.keys()) {
            if RESERVED_PROPERTIES.contains(&key.as_str()) {
                problems.push(format!(
                    "{at}: {key} is set by yujing itself (exactly-once writes, committed reads) and cannot be configured"
                ));
            }
        }
        for key in self.properties.keys().filter(|k| k.contains("password")) {
            problems.push(format!(
                "{at}.client: {key} would put a secret in the configuration: name the variable that holds it in \
                 {at}.client_env instead"
            ));
        }
        for (key, variable) in &self.properties_env {
            if std::env::var(variable).map_or(true, |v| v.is_empty()) {
                problems.push(format!(
                    "{at}.client_env: {key} reads {variable}, which is not set"
                ));
            }
        }
        problems
    }

    /// A client configuration: the brokers, IPv4 (librdkafka may resolve `localhost` to ::1 first; say what
    /// was configured, nothing more) unless configured otherwise, then the configured properties.
    pub fn config(&self) -> Result<ClientConfig, LogError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("broker.address.family", "v4");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        for (key, variable) in &self.properties_env {
            let value = std::env::var(variable).map_err(|_| {
                LogError::ClientSetting(format!(
                    "{key} is read from the environment variable {variable}, which is not set"
                ))
            })?;
            config.set(key, value);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_setting_that_would_break_a_guarantee_or_leak_a_secret_is_named() {
        let client = KafkaClient {
            bootstrap_servers: "b:9092".to_owned(),
            properties: BTreeMap::from([
                ("isolation.level".to_owned(), "read_uncommitted".to_owned()),
                ("sasl.password".to_owned(), "in-clear".to_owned()),
                ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
            ]),
            properties_env: BTreeMap::from([(
                "ssl.key.password".to_owned(),
                "YUJING_TEST_SURELY_UNSET_VARIABLE".to_owned(),
            )]),
        };
        let problems = client.problems("store.kafka");
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("store.kafka: isolation.level is set by yujing"));
        assert!(problems[1].contains("sasl.password would put a secret in the configuration"));
        assert!(problems[2].contains("YUJING_TEST_SURELY_UNSET_VARIABLE, which is not set"));
        assert!(
            !format!("{client:?}").contains("in-clear"),
            "values are not printed"
        );
        let unset = client.config().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(unset.contains("ssl.key.password"), "{unset}");
    }
}
