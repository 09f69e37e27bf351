//! `grid`: grid service-management platform events, JSON Lines with camelCase keys and epoch milliseconds.
//!
//! Only events of the dispute class (codes `JF-…`) are disputes; others (`SR-02` 市容环境) are decoded, kept in
//! the raw log, and make no clue.

use std::collections::BTreeSet;

use serde_json::Value;
use yujing_model::{FeedId, GeoPoint, PartyKind, PartyRole, PeopleCount, RejectKind, RequestKind};

use super::{json_lines, Fields, LinePosition};
use crate::config::FeedRules;
use crate::gazetteer::TownHint;
use crate::record::{Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};
use crate::time;

/// Decodes a grid export.
pub fn decode(file: &str, bytes: &[u8], rules: &FeedRules) -> DecodedInput {
    decode_from(file, bytes, rules, LinePosition::START)
}

/// Decodes a part of an export that starts at `start` within its file.
pub fn decode_from(file: &str, bytes: &[u8], rules: &FeedRules, start: LinePosition) -> DecodedInput {
    json_lines(file, bytes, start, |out, unit, location, object| {
        let fields = Fields(object);
        let source_id = fields.text("eventId");
        let outcome = match record(&fields, rules) {
            Ok(Some(record)) => Outcome::Record(Box::new(record)),
            Ok(None) => Outcome::NotADispute {
                reason: format!(
                    "event type '{}' is not of the dispute class ({}…)",
                    fields.text("eventType").unwrap_or_default(),
                    rules.grid_dispute_prefix
                ),
            },
            Err(reject) => Outcome::Rejected(reject),
        };
        out.push(unit, location, source_id, outcome);
    })
}

fn millis(f: &Fields<'_>, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Reject> {
    match f.integer(key)? {
        None => Ok(None),
        Some(ms) => time::from_epoch_millis(ms)
            .map(Some)
            .map_err(|e| super::time_reject(key, e)),
    }
}

fn record(f: &Fields<'_>, rules: &FeedRules) -> Result<Option<SourceRecord>, Reject> {
    let source_id = f.id("eventId")?;
    let event_type = f.required("eventType")?;
    if !event_type.starts_with(&rules.grid_dispute_prefix) {
        return Ok(None);
    }
    let occurred_at = millis(f, "reportTime")?
        .ok_or_else(|| Reject::new(RejectKind::MissingField, "the time field 'reportTime' is missing"))?;
    let updated_at = millis(f, "updateTime")?;
    let location = match (
        f.0.get("lng").and_then(Value::as_f64),
        f.0.get("lat").and_then(Value::as_f64),
    ) {
        // 0/0 means unknown; anything outside China is a typo, not a place.
        (Some(lng), Some(lat)) if (73.0..=136.0).contains(&lng) && (3.0..=54.0).contains(&lat) => {
            Some(GeoPoint { lng, lat })
        }
        _ => None,
    };
    let people = f.integer("partiesCount")?.filter(|&n| n > 0).map(|n| {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        PeopleCount { min: n, max: Some(n) }
    });
    let parties = match f.0.get("parties") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .map(|p| {
                let p = Fields(p);
                SourceParty {
                    role: PartyRole::Party,
                    kind: PartyKind::Person,
                    name: p.text("name"),
                    phones: p.text("phone").into_iter().collect(),
                    id_number: None,
                }
            })
            .filter(|p| p.name.is_some() || !p.phones.is_empty())
            .collect(),
        Some(_) => {
            return Err(Reject::new(
                RejectKind::InvalidValue,
                "field 'parties' is not an array",
            ));
        }
    };
    let type_name = f.text("eventTypeName").unwrap_or_default();
    Ok(Some(SourceRecord {
        feed: FeedId::Grid,
        source_id,
        occurred_at,
        updated_at,
        town_hints: f.text("gridCode").map(TownHint::GridCode).into_iter().collect(),
        address: f.text("address").unwrap_or_default(),
        estate: None,
        location,
        source_category: format!("{event_type} {type_name}").trim().to_owned(),
        category: Category::Word(event_type),
        request_kind: RequestKind::GridReport,
        status: f.text("status"),
        parties,
        people_involved: people,
        flags: BTreeSet::new(),
        title: f.text("title"),
        texts: f.text("description").into_iter().collect(),
    }))
}
