//! The writers' lease: which instance writes which shard.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{LogError, ShardId};
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::config::KafkaConfig;
use super::{admin_options, block_on, kafka};

/// The writers' lease: the `yujing run` instances configured for one log form the consumer group
/// `<topic_prefix>writers` over `<topic_prefix>lease`, a topic with one partition per shard that carries no
/// messages; the instance the group gives partition p writes shard p. With one partition (an unsharded store)
/// one instance writes and the others wait as standbys; with several, the instances share the shards. When an
/// instance dies, the group gives its partitions to the others (after the session timeout) and they open those
/// shards — which, with the shard's transactional id, also fences the old writer.
pub struct KafkaLease {
    owned: std::sync::Arc<Mutex<std::collections::BTreeSet<i32>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for KafkaLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLease")
            .field("owned", &self.owned())
            .finish()
    }
}

fn owned_partitions(consumer: &BaseConsumer, topic: &str) -> std::collections::BTreeSet<i32> {
    consumer
        .assignment()
        .map(|list| {
            list.elements_for_topic(topic)
                .iter()
                .map(|e| e.partition())
                .collect()
        })
        .unwrap_or_default()
}

impl KafkaLease {
    /// Waits until this process holds the lease of an unsharded store (partition 0), or `wait` has passed
    /// (`None`: as long as it takes).
    pub fn acquire(config: &KafkaConfig, wait: Option<Duration>) -> Result<KafkaLease, LogError> {
        let lease = KafkaLease::join(config)?;
        let deadline = wait.map(|w| Instant::now() + w);
        let mut announced = false;
        while !lease.holds(ShardId(0)) {
            if !announced {
                tracing::info!(group = %format!("{}writers", config.topic_prefix), "standby: another instance writes the log; waiting to take over");
                announced = true;
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(LogError::Kafka {
                    doing: "waiting for the writer's lease: another instance writes this log (send it the work instead)"
                        .to_owned(),
                    source: KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(lease)
    }

    /// Joins the writers' group (creating the lease topic with one partition per shard if needed) and returns at
    /// once; [`KafkaLease::owned`] says which shards the group has given this process, as it changes.
    pub fn join(config: &KafkaConfig) -> Result<KafkaLease, LogError> {
        let topic = format!("{}lease", config.topic_prefix);
        let partitions = config.shards() as i32;
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = config.client().config()?;
        let admin: AdminClient<DefaultClientContext> =
            client.create().map_err(kafka("creating the admin client"))?;
        let new = NewTopic::new(
            &topic,
            partitions,
            TopicReplication::Fixed(config.replication_factor),
        );
        let options = admin_options(timeout);
        for result in
            block_on(admin.create_topics([&new], &options)).map_err(kafka(format!("creating {topic}")))?
        {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(LogError::Kafka {
                        doing: format!("creating {topic}"),
                        source: KafkaError::AdminOp(code),
                    })
                }
            }
        }
        let consumer: BaseConsumer = client
            .clone()
            .set("group.id", format!("{}writers", config.topic_prefix))
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            // Sticky: an instance joining takes only the shards it is given, never all of them from a live one.
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create()
            .map_err(kafka("joining the writers' group"))?;
        // Instances that disagree on the number of shards would split towns differently: refuse.
        let existing = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(kafka(format!("reading the metadata of {topic}")))?
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len());
        if existing != partitions as usize {
            return Err(LogError::TopicMisconfigured {
                topic,
                problems: vec![format!(
                    "it has {existing} partition(s) but [store.kafka] partitions is {partitions}: every instance \
                     of a store must be configured with the store's number of shards"
                )],
            });
        }
        consumer
            .subscribe(&[&topic])
            .map_err(kafka(format!("subscribing to {topic}")))?;
        let owned = std::sync::Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let keeper = {
            let owned = owned.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                use std::sync::atomic::Ordering;
                while !stop.load(Ordering::SeqCst) {
                    // Polling keeps the membership alive and runs rebalances; the topic carries no messages.
                    let _ = consumer.poll(Duration::from_millis(100));
                    let now = owned_partitions(&consumer, &topic);
                    *owned.lock().unwrap_or_else(|e| e.into_inner()) = now;
                }
                // Leaving the group hands the shards over at once instead of after the session timeout.
                owned.lock().unwrap_or_else(|e| e.into_inner()).clear();
                consumer.unsubscribe();
            })
        };
        Ok(KafkaLease {
            owned,
            stop,
            keeper: Some(keeper),
        })
    }

    /// The shards (partitions of the lease topic) this process holds now.
    pub fn owned(&self) -> Vec<ShardId> {
        self.owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|p| ShardId::of_partition(*p))
            .collect()
    }

    /// Whether this process holds `shard` now.
    pub fn holds(&self, shard: ShardId) -> bool {
        self.owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&shard.partition())
    }

    /// Whether the lease of an unsharded store was lost (the group gave it to another instance): stop writing.
    pub fn is_lost(&self) -> bool {
        !self.holds(ShardId(0))
    }
}

impl Drop for KafkaLease {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}
