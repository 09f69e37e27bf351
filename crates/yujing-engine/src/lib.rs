//! The yujing engine: configuration, and the pipeline that puts the six feeds onto the log.
//!
//! # Layout
//! - [`EngineConfig`]: the layered configuration (built-in defaults, a file, the environment), checked by
//!   [`EngineConfig::check`] with every error reported at once, building the runtime [`Built`] parts.
//! - [`Ingestor`]: export files and pushes → raw records, clues and dead letters on the log, atomically and
//!   idempotently; reports what it did in an [`IngestReport`].
//! - [`CorrelationStage`] and [`correlate()`]: the `clues` topic through the correlator onto `links` and
//!   `warnings`, as a projection that resumes where it stopped.
//! - [`OrderStage`]: warnings open and drive work orders; commands and supervision add events (`workorders`).
//! - [`outbox`]: every warning and work-order event on the `outbox` topic, the command-centre feed.
//! - [`Pipeline`]: ingestion, correlation and work orders as one long-lived value, for `yujing run`.
//! - [`Metrics`]: the Prometheus instruments the stages update and `/metrics` exposes.
//! - [`Shard`]: which shard of a store on Kafka a town's records belong to (`[store.kafka] partitions`), and
//!   which instance runs each shard ([`shard::claim_shard`], [`shard::shard_owners`]).
//! - [`route`]: the router of a sharded store: each record decoded once and handed, sealed for transport, to its
//!   shard's partition of the repartition topic, which that shard ingests.
//! - [`sources`]: streaming ingestion from upstream Kafka topics, positions kept in the log's state.
//! - [`store`]: the scratch store a replay or a sweep correlates into, and copying a stored log's clues there.
//! - [`replay`]: the whole pipeline over a history into a scratch store, with the files analysts compare.
//! - [`tables`]: the tables the command line prints for people.
//! - [`read`]: the log read back as clues, dead letters and warnings.
//! - [`topics`]: the names of the log's topics.
//! - [`vocab`]: the category words no table maps, for `yujing vocab`.
//! - [`retention`]: raw units deleted once older than `[store] raw_retention_days`.
//! - [`vault`]: raw units sealed at rest under one key per person, and erasing a person (crypto-shredding).
//! - [`Clock`]: injectable wall time; event time always comes from the records themselves.

pub mod clock;
pub mod config;
pub mod correlate;
pub mod ingest;
pub mod metrics;
pub mod orders;
pub mod outbox;
pub mod pipeline;
pub mod read;
pub mod refused;
pub mod replay;
pub mod retention;
pub mod route;
pub mod shard;
pub mod snapshot;
pub mod sources;
pub mod store;
pub mod tables;
pub mod topics;
pub mod vault;
pub mod vocab;

pub use clock::{Clock, FixedClock, ManualClock, SystemClock};
pub use config::{Backend, Built, ConfigError, EngineConfig, DEFAULT_CONFIG};
pub use correlate::{
    clue_offsets_in_range, clues_in_event_time, clues_in_range, correlate, explain_clue, ClueRange,
    CorrelateError, CorrelationReport, CorrelationStage,
};
pub use ingest::{
    collect_inputs, FileReport, IngestError, IngestReport, Ingestor, Inputs, PreparedInput, Progress,
};
pub use metrics::Metrics;
pub use orders::{read_warnings, OrderError, OrderStage, WarningSummary};
pub use outbox::{read_outbox, EventScope, OutboxEvent};
pub use pipeline::{error_chain, Pipeline, PipelineError, Preparer, Restart, StepReport};
pub use read::{
    for_each_clue, for_each_dead_letter, for_each_decoded, for_each_warning, latest_versions, read_at,
    ReadError,
};
pub use refused::{refused, request_retry, retry_requested, RefusedDelivery, RefusedError};
pub use shard::Shard;
pub use snapshot::{NoSnapshot, SnapshotWriteError};
pub use sources::{SourceConfig, SourceFormat};
pub use vocab::{mapping_config, UnmappedWord, VocabCollector};
pub use yujing_log::ShardId;
