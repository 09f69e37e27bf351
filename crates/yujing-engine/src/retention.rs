//! Retention of raw units: the reports as delivered are deleted once older than `[store] raw_retention_days`.
//!
//! PIPL (art. 19) keeps personal data no longer than its purpose needs. A raw unit is the evidence behind a clue,
//! and nothing is rebuilt from it: every projection folds the clues, links, warnings and work-order events, which
//! hold only masked values and keyed hashes. So the raw topics, alone among the log's topics, lose their early
//! records ([`yujing_log::Log::delete_before`]); offsets are never reused, and a clue's raw pointer to a deleted
//! unit simply finds nothing.
//!
//! A raw unit's age is the time it was logged (its record's timestamp, stamped by the ingestor's clock), not the
//! event time of its report: a history loaded today is kept from today.

use chrono::{DateTime, Utc};
use yujing_log::{Log, LogError, Offset};
use yujing_model::FeedId;

use crate::topics::raw_topic;

/// The raw units of one topic deleted by [`expire_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The raw topic.
    pub topic: String,
    /// How many units were deleted.
    pub units: u64,
    /// The topic's first offset now held.
    pub start: Offset,
}

/// Deletes the raw units of every feed logged before `now - retention`; returns what each topic lost (topics
/// that lost nothing are left out).
pub fn expire_raw<L: Log + ?Sized>(
    log: &L,
    retention: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Expired>, LogError> {
    const PAGE: usize = 1024;
    let cutoff_ms = (now - retention).timestamp_millis();
    let mut expired = Vec::new();
    for feed in FeedId::ALL {
        let topic = raw_topic(feed);
        let (start, end) = (log.start_offset(&topic)?, log.end_offset(&topic)?);
        // The first unit young enough to keep. Units are logged in order of the ingestor's clock, so the
        // scan stops at the first one; it reads only what is deleted, and at most one page more.
        let mut keep_from = start;
        // Usually nothing has expired since the last look: the first unit alone says so.
        let mut page_size = 1;
        'scan: while keep_from < end {
            let page = log.read(&topic, keep_from, page_size)?;
            page_size = PAGE;
            if page.is_empty() {
                break;
            }
            for entry in page {
                if entry.record.timestamp_ms >= cutoff_ms {
                    keep_from = entry.offset;
                    break 'scan;
                }
                keep_from = entry.offset + 1;
            }
        }
        if keep_from > start {
            let new_start = log.delete_before(&topic, keep_from)?;
            tracing::info!(
                topic,
                units = new_start - start,
                start = new_start,
                "raw units expired"
            );
            expired.push(Expired {
                topic,
                units: new_start - start,
                start: new_start,
            });
        }
    }
    Ok(expired)
}
