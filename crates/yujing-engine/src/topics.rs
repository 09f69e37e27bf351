//! The log's topics.

use yujing_model::FeedId;

/// Canonical clues, one record per upstream record version, keyed by clue id.
pub const CLUES: &str = "clues";

/// Rejected records, keyed by feed.
pub const DEADLETTER: &str = "deadletter";

/// What every raw topic's name starts with.
pub const RAW_PREFIX: &str = "raw.";

/// The raw topic of a feed, `raw.<feed>`: each unit exactly as received (sealed: [`crate::vault`]), keyed by its
/// location. The only topics whose early records are deleted (`[store] raw_retention_days`): no projection is
/// rebuilt from them.
pub fn raw_topic(feed: FeedId) -> String {
    format!("{RAW_PREFIX}{feed}")
}

/// Correlation decisions ([`yujing_model::CorrelationEvent`]): a clue joined a cluster, two clusters merged.
pub const LINKS: &str = "links";

/// Warnings ([`yujing_model::Warning`]), keyed by warning id.
pub const WARNINGS: &str = "warnings";

/// Work-order events ([`yujing_model::WorkOrderEvent`]), keyed by order id: the audit trail.
pub const WORKORDERS: &str = "workorders";

/// The command-centre feed ([`crate::outbox::OutboxEvent`]): every warning and work-order event, in the order
/// written. Its offsets are the SSE event ids; webhook deliveries record how far they got.
pub const OUTBOX: &str = "outbox";

/// Which instance runs each shard of a sharded store: the instance that opens shard p appends its address to
/// partition p, in the shard's own transaction (so a fenced writer cannot claim it back). The last record of a
/// partition names the shard's current owner.
pub const OWNERS: &str = "owners";
