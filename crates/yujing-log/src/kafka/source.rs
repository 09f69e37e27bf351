//! An upstream system's topic, read from offsets yujing keeps in its own log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};

use crate::LogError;

use super::config::KafkaClient;
use super::kafka;

/// One message of an upstream topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMessage {
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The payload (empty for a tombstone).
    pub payload: Vec<u8>,
}

/// Reads an upstream system's topic (the hotline and grid platforms publish their records to Kafka), from
/// offsets the caller keeps: the consumer commits nothing to Kafka, so where yujing stands is part of yujing's own
/// log and a restart resumes exactly there.
pub struct KafkaSource {
    consumer: BaseConsumer,
    topic: String,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Assigns every partition of `topic` (reached as `client` says) at the next offsets in `starts` (from the beginning for partitions not
    /// in it). Only committed records are read.
    pub fn open(
        client: &KafkaClient,
        topic: &str,
        starts: &HashMap<i32, i64>,
        timeout: Duration,
    ) -> Result<KafkaSource, LogError> {
        let consumer: BaseConsumer = client
            .config()?
            .set("group.id", format!("yujing-source-{topic}"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .map_err(kafka(format!("reading the upstream topic {topic}")))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(kafka(format!("reading the partitions of {topic}")))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(LogError::Kafka {
                doing: format!(
                    "finding the upstream topic {topic} (it does not exist, or has no partitions)"
                ),
                source: KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition),
            });
        }
        {
            let mut assignment = TopicPartitionList::new();
            for partition in partitions {
                let offset = match starts.get(&partition) {
                    Some(next) => KafkaOffset::Offset(*next),
                    None => KafkaOffset::Beginning,
                };
                assignment
                    .add_partition_offset(topic, partition, offset)
                    .map_err(kafka(format!("assigning {topic}")))?;
            }
            consumer
                .assign(&assignment)
                .map_err(kafka(format!("assigning {topic}")))?;
        }
        Ok(KafkaSource {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// Up to `max` messages: waits at most `wait` for the first, then gathers what arrives for `gather` after
    /// it (the commit interval: what arrives together is processed and committed together).
    pub fn poll(&self, max: usize, wait: Duration, gather: Duration) -> Result<Vec<SourceMessage>, LogError> {
        let mut out = Vec::new();
        let mut timeout = wait;
        let mut until = None;
        while out.len() < max {
            match self.consumer.poll(timeout) {
                Some(Ok(message)) => {
                    out.push(SourceMessage {
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    });
                    let until = *until.get_or_insert_with(|| Instant::now() + gather);
                    // Take what is there at once, and what comes until the interval ends.
                    timeout = until.saturating_duration_since(Instant::now());
                }
                Some(Err(error)) => {
                    if out.is_empty() {
                        tracing::warn!(%error, topic = %self.topic, "reading the upstream topic; retrying");
                    }
                    break;
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// For each partition of the topic: the records not read yet (its last stable offset less the reader's
    /// position).
    pub fn lag(&self, timeout: Duration) -> Result<Vec<(i32, i64)>, LogError> {
        let doing = || format!("reading the lag of the upstream topic {}", self.topic);
        let positions = self.consumer.position().map_err(kafka(doing()))?;
        let mut lag = Vec::new();
        for element in positions.elements_for_topic(&self.topic) {
            let partition = element.partition();
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, partition, timeout)
                .map_err(kafka(doing()))?;
            let at = match element.offset() {
                KafkaOffset::Offset(offset) => offset,
                // Nothing read yet: everything kept is behind.
                _ => low,
            };
            lag.push((partition, (high - at).max(0)));
        }
        Ok(lag)
    }
}
