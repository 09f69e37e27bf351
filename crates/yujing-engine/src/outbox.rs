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
    /// Whose it is: the dispute's town and, for a work-order event, the unit handling the order once the event
    /// is applied. A feed filtered for a town handler decides from it alone, without looking the order up
    /// (on a sharded store the order may live on another instance). Absent in entries written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<EventScope>,
}

/// The town and unit an outbox entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventScope {
    /// The dispute's town code (`unknown` when unresolved).
    pub town_code: String,
    /// The town's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town_name: Option<String>,
    /// The unit handling the order, if dispatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl EventScope {
    /// The scope of `order` as it stands.
    pub fn of_order(order: &yujing_workorder::WorkOrder) -> EventScope {
        EventScope {
            town_code: order.subject.town_code.clone(),
            town_name: order.subject.town_name.clone(),
            unit: order.unit.clone(),
        }
    }
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
            scope: Some(EventScope {
                town_code: warning.subject.town_code.clone(),
                town_name: warning.subject.town_name.clone(),
                unit: None,
            }),
        })
    }

    /// The feed entry of a work-order event, `scope` being its order's once the event is applied.
    pub fn work_order(
        event: &WorkOrderEvent,
        scope: Option<EventScope>,
    ) -> Result<OutboxEvent, serde_json::Error> {
        Ok(OutboxEvent {
            id: event.event_id(),
            kind: "work_order".to_owned(),
            event: event.change.name().to_owned(),
            at: event.at,
            data: serde_json::to_value(event)?,
            scope,
        })
    }

    /// Adds the entry to `batch`.
    pub fn append_to(&self, batch: &mut Batch, now_ms: i64) -> Result<(), serde_json::Error> {
        batch.append(OUTBOX, self.record(now_ms)?);
        Ok(())
    }

    /// The entry as a record of the `outbox` topic, appended at `now_ms`.
    pub fn record(&self, now_ms: i64) -> Result<Record, serde_json::Error> {
        Ok(Record {
            key: self.id.clone().into_bytes(),
            value: serde_json::to_vec(self)?,
            timestamp_ms: now_ms,
        })
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
