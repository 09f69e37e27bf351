//! `police`: 110 dispute calls, a nightly CSV export in GBK with a Chinese header and CRLF line ends.

use std::collections::BTreeSet;

use yujing_model::{FeedId, RejectKind, RequestKind};

use super::csv_rows::{csv_rows_from, CsvPart, CsvPosition, Encoding, Row};
use super::time_reject;
use crate::gazetteer::TownHint;
use crate::record::{Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};
use crate::time;

const ID: &str = "接警单编号";
const TIME: &str = "报警时间";
const REQUIRED: &[&str] = &[ID, TIME, "警情细类", "发案地址", "简要案情", "管辖单位"];

/// Decodes a police export.
pub fn decode(file: &str, bytes: &[u8]) -> DecodedInput {
    decode_from(file, bytes, &CsvPosition::START, true).decoded
}

/// Decodes a part of an export that starts at `at` (see [`csv_rows_from`]).
pub(crate) fn decode_from(file: &str, bytes: &[u8], at: &CsvPosition, at_end: bool) -> CsvPart {
    csv_rows_from(
        file,
        bytes,
        at,
        at_end,
        Encoding::Gbk,
        REQUIRED,
        |out, unit, location, row| {
            let source_id = row.get(ID);
            out.push(unit, location, source_id, Outcome::from(record(row)));
        },
    )
}

fn record(row: &Row) -> Result<SourceRecord, Reject> {
    let source_id = row.get(ID).ok_or_else(|| {
        Reject::new(
            RejectKind::MissingId,
            format!("the source id column '{ID}' is empty"),
        )
    })?;
    let occurred_at = row
        .get(TIME)
        .ok_or_else(|| {
            Reject::new(
                RejectKind::MissingField,
                format!("the time column '{TIME}' is empty"),
            )
        })
        .and_then(|t| time::parse_local(&t).map_err(|e| time_reject(TIME, e)))?;
    // A call without a category is still a report: its type is inferred from the text.
    let category = row
        .get("警情细类")
        .or_else(|| row.get("警情类别"))
        .unwrap_or_default();
    let name = row.get("报警人");
    let phone = row.get("联系电话");
    let parties: Vec<SourceParty> = SourceParty::reporter(name, phone).into_iter().collect();
    Ok(SourceRecord {
        feed: FeedId::Police,
        source_id,
        occurred_at,
        updated_at: None,
        town_hints: row
            .get("管辖单位")
            .map(TownHint::PoliceStation)
            .into_iter()
            .collect(),
        address: row.get("发案地址").unwrap_or_default(),
        estate: None,
        location: None,
        source_category: category.clone(),
        category: Category::Word(category),
        request_kind: RequestKind::PoliceCall,
        status: row.get("是否现场调解").map(|m| format!("现场调解:{m}")),
        parties,
        people_involved: None,
        flags: BTreeSet::new(),
        title: None,
        texts: [row.get("简要案情"), row.get("处警结果")]
            .into_iter()
            .flatten()
            .collect(),
    })
}
