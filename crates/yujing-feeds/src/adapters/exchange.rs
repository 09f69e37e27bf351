//! `exchange`: the government data-sharing exchange's envelopes, JSON Lines, each a batch of records of one
//! resource. How a resource's fields map onto a clue is configuration (`feeds.exchange.resources`), so a new
//! resource needs no new build; an envelope of an unmapped resource is rejected whole, with its reason.

use serde_json::{Map, Value};
use yujing_model::{FeedId, RejectKind, SourceLocation};

use super::{json_lines, Fields, LinePosition};
use crate::config::{FeedRules, Resource};
use crate::record::{parse_people_count, Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};
use crate::time;

/// Decodes an exchange export of envelopes.
pub fn decode(file: &str, bytes: &[u8], rules: &FeedRules) -> DecodedInput {
    decode_from(file, bytes, rules, LinePosition::START)
}

/// Decodes a part of an export that starts at `start` within its file.
pub fn decode_from(file: &str, bytes: &[u8], rules: &FeedRules, start: LinePosition) -> DecodedInput {
    json_lines(file, bytes, start, |out, unit, location, envelope| {
        let fields = Fields(envelope);
        let code = fields.text("resourceCode");
        let Some(code) = code else {
            let reason = "the envelope has no resourceCode";
            out.reject(
                unit,
                location,
                None,
                Reject::new(RejectKind::MissingField, reason),
            );
            return;
        };
        let Some(resource) = rules.resources.get(&code) else {
            let count = envelope
                .get("records")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let reason = format!(
                "resource '{code}' ({}) from {} has no mapping in feeds.exchange.resources; its {count} record(s) are kept in the raw log",
                fields.text("resourceName").unwrap_or_default(),
                fields.text("sourceDept").unwrap_or_default(),
            );
            out.reject(
                unit,
                location,
                fields.text("msgId"),
                Reject::new(RejectKind::UnmappedResource, reason),
            );
            return;
        };
        let pushed_at = fields.text("pushTime").and_then(|t| time::parse_local(&t).ok());
        let Some(records) = envelope.get("records").and_then(Value::as_array) else {
            let reason = "the envelope's 'records' is missing or not an array";
            out.reject(
                unit,
                location,
                fields.text("msgId"),
                Reject::new(RejectKind::Malformed, reason),
            );
            return;
        };
        for (index, item) in records.iter().enumerate() {
            let record_location = SourceLocation {
                record_index: index as u64,
                ..location.clone()
            };
            let Some(object) = item.as_object() else {
                let reason = format!("record {index} of the envelope is not a JSON object");
                out.reject(
                    unit,
                    record_location,
                    None,
                    Reject::new(RejectKind::Malformed, reason),
                );
                continue;
            };
            let source_id = Fields(object)
                .text(&resource.mapping.source_id)
                .map(|id| format!("{code}/{id}"));
            let outcome = Outcome::from(record(&code, resource, object, pushed_at));
            out.push(unit, record_location, source_id, outcome);
        }
    })
}

fn joined(f: &Fields<'_>, keys: &[String], separator: &str) -> String {
    keys.iter()
        .filter_map(|k| f.text(k))
        .collect::<Vec<_>>()
        .join(separator)
}

fn record(
    code: &str,
    resource: &Resource,
    object: &Map<String, Value>,
    pushed_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<SourceRecord, Reject> {
    let m = &resource.mapping;
    let f = Fields(object);
    let source_id = format!("{code}/{}", f.id(&m.source_id)?);
    let occurred_at = f.time(&m.occurred_at)?;
    let (category, source_category) = match (&m.category, resource.dispute_type) {
        (Some(field), _) => {
            let word = f.required(field)?;
            (Category::Word(word.clone()), word)
        }
        (None, Some(t)) => (Category::Known(t), format!("{code} {}", m.name)),
        (None, None) => unreachable_mapping(code)?,
    };
    let people_involved = match &m.people_involved {
        Some(field) => parse_people_count(&f.text(field).unwrap_or_default())
            .map_err(|e| Reject::new(RejectKind::InvalidValue, format!("field '{field}': {e}")))?,
        None => None,
    };
    let parties = resource
        .parties
        .iter()
        .map(|(role, kind, p)| SourceParty {
            role: *role,
            kind: *kind,
            name: p.name.as_ref().and_then(|k| f.text(k)),
            phones: p.phone.as_ref().and_then(|k| f.text(k)).into_iter().collect(),
            id_number: p.id_number.as_ref().and_then(|k| f.text(k)),
        })
        .filter(|p| p.name.is_some() || !p.phones.is_empty() || p.id_number.is_some())
        .collect();
    let flags = resource
        .flags
        .iter()
        .filter(|(_, rule)| match (&rule.field, &rule.equals) {
            (Some(field), Some(value)) => f.text(field).as_deref() == Some(value.as_str()),
            _ => true,
        })
        .map(|(flag, _)| *flag)
        .collect();
    Ok(SourceRecord {
        feed: FeedId::Exchange,
        source_id,
        occurred_at,
        updated_at: pushed_at,
        town_hints: m
            .town
            .as_ref()
            .and_then(|k| f.text(k))
            .map(crate::gazetteer::TownHint::Name)
            .into_iter()
            .collect(),
        address: joined(&f, &m.address, ""),
        estate: m.estate.as_ref().and_then(|k| f.text(k)),
        location: None,
        category,
        source_category,
        request_kind: resource.request_kind,
        status: None,
        parties,
        people_involved,
        flags,
        title: None,
        texts: m.description.iter().filter_map(|k| f.text(k)).collect(),
    })
}

/// Configuration building guarantees a dispute type or a category field; this keeps the function total anyway.
fn unreachable_mapping(code: &str) -> Result<(Category, String), Reject> {
    Err(Reject::new(
        RejectKind::UnknownCategory,
        format!("resource '{code}' maps neither a dispute type nor a category field"),
    ))
}
