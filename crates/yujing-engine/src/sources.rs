//! Streaming ingestion from upstream Kafka topics (`[[sources]]`): the hotline and grid platforms publish their
//! records to Kafka in production.
//!
//! Where each source stands (the next offset per partition) is kept in yujing's own log state, written after
//! the records it covers. A crash between the two re-reads those records on restart, and the ingest, idempotent
//! by record identity and content, adds nothing for them: no record is lost, none is counted twice.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use yujing_log::{Batch, Log, SourceMessage};
use yujing_model::FeedId;

use crate::read::ReadError;

/// An upstream topic to ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Its name (the state key of its position: renaming it reads the topic again, harmlessly).
    pub name: String,
    /// The feed its records belong to.
    pub feed: FeedId,
    /// The upstream topic.
    pub topic: String,
    /// The upstream cluster; empty means `store.kafka.bootstrap_servers`.
    #[serde(default)]
    pub bootstrap_servers: String,
    /// `lines`: each message is one record in the feed's line format (a JSON object for hotline, grid and
    /// exchange); `files`: each message is a whole export in the feed's format (a CSV with its header, an XML
    /// push).
    #[serde(default)]
    pub format: SourceFormat,
    /// librdkafka properties for the upstream cluster (TLS, SASL), as `[store.kafka.client]`; used only with
    /// `bootstrap_servers` (without, the store's cluster and its settings are used).
    #[serde(default)]
    pub client: BTreeMap<String, String>,
    /// Properties read from environment variables (property → variable), as `[store.kafka.client_env]`.
    #[serde(default)]
    pub client_env: BTreeMap<String, String>,
}

impl SourceConfig {
    /// How to reach the upstream cluster: its own brokers and settings, or the store's when it names none.
    pub fn client(&self, store: &yujing_log::KafkaConfig) -> yujing_log::KafkaClient {
        if self.bootstrap_servers.trim().is_empty() {
            return store.client();
        }
        yujing_log::KafkaClient {
            bootstrap_servers: self.bootstrap_servers.clone(),
            properties: self.client.clone(),
            properties_env: self.client_env.clone(),
        }
    }
}

/// How an upstream topic carries its records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// One record per message.
    #[default]
    Lines,
    /// One export file per message.
    Files,
}

/// The state key of a source's positions.
pub fn position_key(name: &str) -> Vec<u8> {
    format!("source/{name}").into_bytes()
}

/// The next offset to read per partition of `name`, as last recorded.
pub fn positions<L: Log + ?Sized>(log: &L, name: &str) -> Result<HashMap<i32, i64>, ReadError> {
    match log.state(&position_key(name))? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ReadError::Decode {
            topic: "state".to_owned(),
            offset: 0,
            reason: format!("source position of {name}: {e}"),
        }),
        None => Ok(HashMap::new()),
    }
}

/// The inputs a batch of messages makes, as (input name, bytes), in order, and the positions after them.
pub fn inputs_of(
    source: &SourceConfig,
    messages: &[SourceMessage],
    positions: &mut HashMap<i32, i64>,
) -> Vec<(String, Vec<u8>)> {
    let ext = yujing_feeds::adapters::extension(source.feed);
    let mut inputs = Vec::new();
    match source.format {
        SourceFormat::Files => {
            for m in messages {
                inputs.push((
                    format!("{}-{}-{}.{ext}", source.topic, m.partition, m.offset),
                    m.payload.clone(),
                ));
            }
        }
        SourceFormat::Lines => {
            // One input per partition run, so a dead letter names the partition and offsets it came from.
            let mut runs: Vec<(i32, i64, i64, Vec<u8>)> = Vec::new();
            for m in messages {
                match runs.last_mut() {
                    Some((partition, _, last, bytes)) if *partition == m.partition => {
                        *last = m.offset;
                        bytes.extend_from_slice(&m.payload);
                        bytes.push(b'\n');
                    }
                    _ => {
                        let mut bytes = m.payload.clone();
                        bytes.push(b'\n');
                        runs.push((m.partition, m.offset, m.offset, bytes));
                    }
                }
            }
            for (partition, first, last, bytes) in runs {
                inputs.push((
                    format!("{}-{partition}-{first}-{last}.{ext}", source.topic),
                    bytes,
                ));
            }
        }
    }
    for m in messages {
        let next = positions.entry(m.partition).or_insert(m.offset + 1);
        *next = (*next).max(m.offset + 1);
    }
    inputs
}

/// Records `positions` as where `name` stands.
pub fn record_positions<L: Log + ?Sized>(
    log: &L,
    name: &str,
    positions: &HashMap<i32, i64>,
) -> Result<(), ReadError> {
    let mut batch = Batch::new();
    let positions = serde_json::to_vec(positions).map_err(|source| ReadError::Encode {
        what: "a source's positions",
        source,
    })?;
    batch.put_state(position_key(name), positions);
    log.write(batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(partition: i32, offset: i64, payload: &str) -> SourceMessage {
        SourceMessage {
            partition,
            offset,
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lines_join_per_partition_run_and_positions_move_past_the_last() {
        let source = SourceConfig {
            name: "hotline".to_owned(),
            feed: FeedId::Hotline12345,
            topic: "hotline.records".to_owned(),
            bootstrap_servers: String::new(),
            format: SourceFormat::Lines,
            client: BTreeMap::new(),
            client_env: BTreeMap::new(),
        };
        let mut positions = HashMap::from([(1, 7)]);
        let inputs = inputs_of(
            &source,
            &[
                message(0, 3, "{\"a\":1}"),
                message(0, 4, "{\"a\":2}"),
                message(1, 7, "{\"b\":1}"),
            ],
            &mut positions,
        );
        assert_eq!(
            inputs,
            [
                (
                    "hotline.records-0-3-4.jsonl".to_owned(),
                    b"{\"a\":1}\n{\"a\":2}\n".to_vec()
                ),
                ("hotline.records-1-7-7.jsonl".to_owned(), b"{\"b\":1}\n".to_vec()),
            ]
        );
        assert_eq!(positions, HashMap::from([(0, 5), (1, 8)]));
    }
}
