//! The Kafka backend: every topic of the log is a Kafka topic, and the state lives in a compacted Kafka topic
//! beside them, so a [`Batch`](crate::Batch) — appends and state writes together — is one Kafka transaction.
//!
//! - **Atomic batches.** A transactional, idempotent producer (`transactional.id` from the configuration) sends
//!   the batch's records and state changes and commits them together; readers use `read_committed`, so they never
//!   see half a batch, and a crash mid-batch leaves nothing (the transaction is aborted when the same
//!   transactional id starts again, which also fences a zombie instance).
//! - **Offsets.** A writer's log is one partition of each topic (partition 0 when `partitions = 1`; its shard's
//!   partition otherwise), so an offset names a record as in the embedded log. Offsets are ordered but not dense:
//!   every commit leaves a transaction marker, which takes an offset and is never returned. Readers use the
//!   offsets of the entries they get, and [`Log::end_offset`](crate::Log::end_offset) is the high watermark.
//! - **Shards.** With `partitions = N > 1` every topic has N partitions and partition p of all of them is shard
//!   p's log: its own transactional id (`<transactional_id>-p<p>`), its own state (partition p of the state
//!   topic), written only by the instance the writers' group gave partition p of the lease topic to
//!   ([`KafkaLease`], [`KafkaLog::open_shard`]). A read-only log over a sharded store reads every partition in
//!   turn: its offsets are `partition << 40 | offset` ([`shard_offset`]) and it has no state.
//! - **State** is the fold of the state topic (`<prefix>state`, `cleanup.policy=compact`; a deleted key is a
//!   tombstone), read into memory when the log opens and kept up to date by every committed write. A writer
//!   checkpoints it beside its snapshots ([`Log::checkpoint_state`](crate::Log::checkpoint_state), `checkpoint`),
//!   so opening reads only the topic after the checkpoint.
//! - **Topics** are created on first use (and the state topic on open) with the configured replication factor,
//!   unlimited retention (the log is the truth) and one partition. A topic that already exists, or that yujing
//!   may not create (ACLs, a create-topic policy), is verified instead: one partition, every record kept
//!   (retention -1, no compaction), compaction for the state topic; otherwise opening or writing fails with
//!   [`LogError::TopicMisconfigured`] naming each wrong setting.

//!
//! The module is split by concept: `config` (the `[store.kafka]` settings and shard offsets), `log` (the
//! transactional log), `source` (an upstream system's topic), `lease` (the writers' group) and `checkpoint` (the
//! state's checkpoint file).

mod checkpoint;
mod config;
mod lease;
mod log;
mod source;

pub use config::{
    min_insync_replicas, shard_offset, split_shard_offset, ExpiringTopics, KafkaClient, KafkaConfig,
    RESERVED_PROPERTIES,
};
pub use lease::KafkaLease;
pub use log::KafkaLog;
pub use source::{KafkaSource, SourceMessage};

use std::time::Duration;

use rdkafka::admin::AdminOptions;
use rdkafka::error::KafkaError;

use crate::LogError;

pub(super) fn kafka(doing: impl Into<String>) -> impl FnOnce(KafkaError) -> LogError {
    let doing = doing.into();
    move |source| LogError::Kafka { doing, source }
}

/// Admin calls wait at most `timeout`, on the broker and for its answer (without the latter, a call to a broker
/// that is down waits forever).
pub(super) fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout))
}

/// Runs an admin future to completion on this thread (the admin client's futures need no runtime).
pub(super) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
