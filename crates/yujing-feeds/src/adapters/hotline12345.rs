//! `hotline12345`: 12345 hotline work orders, JSON Lines with pinyin-initial keys.
//!
//! A work order is re-sent on every status change (same `gdbh`, new `gxsj` and `blzt`); a repeat call about an
//! open order is a new work order with its own `gdbh`, so a new occurrence.

use std::collections::BTreeSet;

use yujing_model::{FeedId, RequestKind};

use super::{json_lines, Fields, LinePosition};
use crate::gazetteer::TownHint;
use crate::record::{Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};

/// Decodes a hotline export.
pub fn decode(file: &str, bytes: &[u8]) -> DecodedInput {
    decode_from(file, bytes, LinePosition::START)
}

/// Decodes a part of an export that starts at `start` within its file.
pub fn decode_from(file: &str, bytes: &[u8], start: LinePosition) -> DecodedInput {
    json_lines(file, bytes, start, |out, unit, location, object| {
        let fields = Fields(object);
        let source_id = fields.text("gdbh");
        out.push(unit, location, source_id, Outcome::from(record(&fields)));
    })
}

/// The request kind of a `sqlx` value.
pub fn request_kind(sqlx: &str) -> RequestKind {
    match sqlx.trim() {
        "咨询" => RequestKind::Consultation,
        "求助" => RequestKind::HelpRequest,
        "投诉" => RequestKind::Complaint,
        "建议" => RequestKind::Suggestion,
        "举报" => RequestKind::Report,
        _ => RequestKind::Other,
    }
}

fn record(f: &Fields<'_>) -> Result<SourceRecord, Reject> {
    let source_id = f.id("gdbh")?;
    let occurred_at = f.time("ldsj")?;
    let updated_at = f.optional_time("gxsj")?;
    // A work order without a category (a message-board post, a web form) is still a report: its type is
    // inferred from the text.
    let category = f.text("sqlb").unwrap_or_default();
    let name = f.text("ldrxm");
    let phone = f.text("ldhm");
    let parties: Vec<SourceParty> = SourceParty::reporter(name, phone).into_iter().collect();
    Ok(SourceRecord {
        feed: FeedId::Hotline12345,
        source_id,
        occurred_at,
        updated_at,
        town_hints: f.text("ssjd").map(TownHint::Name).into_iter().collect(),
        address: f.text("sjdz").unwrap_or_default(),
        estate: None,
        location: None,
        source_category: category.clone(),
        category: Category::Word(category),
        request_kind: request_kind(&f.text("sqlx").unwrap_or_default()),
        status: f.text("blzt"),
        parties,
        people_involved: None,
        flags: BTreeSet::new(),
        title: None,
        texts: f.text("sqnr").into_iter().collect(),
    })
}
