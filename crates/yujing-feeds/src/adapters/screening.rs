//! `screening`: dispute screening ledgers, CSV in UTF-8 with a byte-order mark, two date styles, multi-valued
//! party and phone cells, and banded people counts. Each row is an occurrence: an unresolved dispute reappears in
//! every later screening as a new row with a new id.

use std::collections::BTreeSet;

use yujing_model::{FeedId, PartyKind, PartyRole, RejectKind, RequestKind, RiskFlag};

use super::csv_rows::{csv_rows_from, CsvPart, CsvPosition, Encoding, Row};
use super::time_reject;
use crate::gazetteer::TownHint;
use crate::record::{parse_people_count, Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};
use crate::time;

const ID: &str = "台账编号";
const DATE: &str = "排查日期";
const TOWN: &str = "镇（区、街道）";
const VILLAGE: &str = "村（社区）";
const REQUIRED: &[&str] = &[ID, DATE, TOWN, VILLAGE, "纠纷类别", "当事人", "纠纷简要情况"];

/// Decodes a screening ledger export.
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
        Encoding::Utf8,
        REQUIRED,
        |out, unit, location, row| {
            let source_id = row.get(ID);
            out.push(unit, location, source_id, Outcome::from(record(row)));
        },
    )
}

fn split(cell: &str, separators: &[char]) -> Vec<String> {
    cell.split(|c| separators.contains(&c))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn record(row: &Row) -> Result<SourceRecord, Reject> {
    let source_id = row.get(ID).ok_or_else(|| {
        Reject::new(
            RejectKind::MissingId,
            format!("the source id column '{ID}' is empty"),
        )
    })?;
    let occurred_at = row
        .get(DATE)
        .ok_or_else(|| {
            Reject::new(
                RejectKind::MissingField,
                format!("the date column '{DATE}' is empty"),
            )
        })
        .and_then(|t| time::parse_local(&t).map_err(|e| time_reject(DATE, e)))?;
    // A ledger row without a category is still a report: its type is inferred from the text.
    let category = row.get("纠纷类别").unwrap_or_default();
    let people_involved = parse_people_count(&row.get("涉及人数").unwrap_or_default())
        .map_err(|e| Reject::new(RejectKind::InvalidValue, format!("column '涉及人数': {e}")))?;
    let names = split(
        &row.get("当事人").unwrap_or_default(),
        &['、', '，', ',', ';', '；'],
    );
    let mut phones = split(
        &row.get("联系电话").unwrap_or_default(),
        &['、', '/', '，', ',', ';', '；'],
    );
    // Phones are listed in the order of the parties when there are as many; otherwise they go to the first.
    let mut parties: Vec<SourceParty> = names
        .into_iter()
        .map(|name| SourceParty {
            role: PartyRole::Party,
            kind: PartyKind::Person,
            name: Some(name),
            phones: Vec::new(),
            id_number: None,
        })
        .collect();
    if parties.len() == phones.len() {
        for (party, phone) in parties.iter_mut().zip(phones.drain(..)) {
            party.phones.push(phone);
        }
    } else if let Some(first) = parties.first_mut() {
        first.phones.append(&mut phones);
    } else if !phones.is_empty() {
        parties.push(SourceParty {
            role: PartyRole::Party,
            kind: PartyKind::Person,
            name: None,
            phones,
            id_number: None,
        });
    }
    let mut flags = BTreeSet::new();
    if row.get("风险等级").as_deref() == Some("高") {
        flags.insert(RiskFlag::AssessedHighRisk);
    }
    let town = row.get(TOWN);
    let village = row.get(VILLAGE);
    let mut hints: Vec<TownHint> = town.clone().map(TownHint::Name).into_iter().collect();
    hints.push(TownHint::LedgerId(source_id.clone()));
    hints.extend(village.clone().map(TownHint::CommunityName));
    let address = [town, village].into_iter().flatten().collect::<Vec<_>>().join("");
    Ok(SourceRecord {
        feed: FeedId::Screening,
        source_id,
        occurred_at,
        updated_at: None,
        town_hints: hints,
        address,
        estate: None,
        location: None,
        source_category: category.clone(),
        category: Category::Word(category),
        request_kind: RequestKind::Screening,
        status: row.get("化解情况"),
        parties,
        people_involved,
        flags,
        title: None,
        texts: row.get("纠纷简要情况").into_iter().collect(),
    })
}
