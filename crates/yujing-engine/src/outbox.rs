//! The outbox: every warning and work-order event, appended to the `outbox` topic in the same atomic batch that
//! writes it, so the command-centre feed can never miss one or see one that was not written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yujing_log::{Batch, Log, Offset, Record};
use yujing_model::{Warning, WorkOrderEvent};

use crate::read::ReadError;
use crate::topics::OUTBOX;

/// One entry of the command-centre feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// A stable id, the same in every replay: the warning id, or `<order id>#<seq>`. Receivers use it to drop
    /// repeats (the webhook's `Idempotency-Key`).
    pub id: String,
    /// `warning` or `work_order`.
    pub kind: String,
    /// For a work-order event, its type (`dispatched`…); for a warning, its level.
    pub event: String,
    /// When it happened (a warning's event time; a work-order event's time).
    pub at: DateTime<Utc>,
    /// The warning or the work-order event itself.
    pub data: serde_json::Value,
}

impl OutboxEvent {
    /// The feed entry of a warning.
    pub fn warning(warning: &Warning) -> Result<OutboxEvent, serde_json::Error> {
        Ok(OutboxEvent {
            id: warning.warning_id.clone(),
            kind: "warning".to_owned(),
            event: warning.level.as_str().to_owned(),
            at: warning.raised_at,
            data: serde_json::to_value(warning)?,
        })
    }

    /// The feed entry of a work-order event.
    pub fn work_order(event: &WorkOrderEvent) -> Result<OutboxEvent, serde_json::Error> {
        Ok(OutboxEvent {
            id: event.event_id(),
            kind: "work_order".to_owned(),
            event: event.change.name().to_owned(),
            at: event.at,
            data: serde_json::to_value(event)?,
        })
    }

    /// Adds the entry to `batch`.
    pub fn append_to(&self, batch: &mut Batch, now_ms: i64) -> Result<(), serde_json::Error> {
        batch.append(
            OUTBOX,
            Record {
                key: self.id.clone().into_bytes(),
                value: serde_json::to_vec(self)?,
                timestamp_ms: now_ms,
            },
        );
        Ok(())
    }
}

/// Up to `max` feed entries from offset `from` on, with their offsets.
pub fn read_outbox<L: Log + ?Sized>(
    log: &L,
    from: Offset,
    max: usize,
) -> Result<Vec<(Offset, OutboxEvent)>, ReadError> {
    let entries = log.read(OUTBOX, from, max)?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let event: OutboxEvent =
            serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
                topic: OUTBOX.to_owned(),
                offset: entry.offset,
                reason: e.to_string(),
            })?;
        out.push((entry.offset, event));
    }
    Ok(out)
}
