//! `justice`: the provincial people's-mediation platform's XML pushes, several `<MediationCase>`s per push.
//!
//! Each case is cut out of the push by its tags and parsed on its own, so one broken case (an unclosed tag, a
//! bad entity, a truncated push) is rejected alone and the cases around it still arrive.

use std::collections::BTreeSet;

use quick_xml::events::Event;
use quick_xml::Reader;
use yujing_model::{FeedId, PartyKind, PartyRole, RejectKind, RequestKind, RiskFlag, SourceLocation};

use super::time_reject;
use crate::gazetteer::TownHint;
use crate::record::{Category, DecodedInput, Outcome, Reject, SourceParty, SourceRecord};
use crate::time;

const OPEN: &[u8] = b"<MediationCase";
const CLOSE: &[u8] = b"</MediationCase>";

/// A parsed XML element: enough of a tree for one case.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).and_then(|c| crate::record::non_empty(&c.text))
    }

    fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| crate::record::non_empty(v))
    }
}

/// How deep a case's elements may nest: a case is five levels deep (case, parties, party, name), so sixteen
/// leave room for any extension, and a push nested 300,000 deep is refused before it is built.
const MAX_DEPTH: usize = 16;

/// The largest case accepted, in bytes: 1 MiB, a few hundred times a real case.
const MAX_CASE_BYTES: usize = 1024 * 1024;

fn parse_element(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("bad UTF-8 at byte {}", e.valid_up_to()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let open = |start: &quick_xml::events::BytesStart<'_>| -> Result<Element, String> {
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| e.to_string())?;
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            let value = attribute
                .unescape_value()
                .map_err(|e| e.to_string())?
                .into_owned();
            attributes.push((key, value));
        }
        Ok(Element {
            name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
            attributes,
            ..Element::default()
        })
    };
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("{e} (near byte {position} of the case)"))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "elements nest deeper than {MAX_DEPTH} levels (near byte {position} of the case)"
                    ));
                }
                stack.push(open(&start)?)
            }
            Event::Empty(start) => {
                let element = open(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err("a closing tag has no opening tag".to_owned());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Eof => return Err("the case ends before its closing tag".to_owned()),
            _ => {}
        }
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The start of the next `<MediationCase>` or `<MediationCase …>` (not `<MediationCases`) at or after `from`.
fn next_case(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(at) = find(bytes, OPEN, from) {
        match bytes.get(at + OPEN.len()) {
            Some(b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'/') => return Some(at),
            _ => from = at + OPEN.len(),
        }
    }
    None
}

/// Line numbers of positions met in increasing order, counted once over the input: counting from the start
/// for every case made a push of many cases quadratic.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl Lines<'_> {
    fn line_of(&mut self, at: usize) -> u64 {
        let at = at.min(self.bytes.len());
        if at >= self.at {
            self.line += self.bytes[self.at..at].iter().filter(|&&b| b == b'\n').count() as u64;
            self.at = at;
        }
        self.line
    }
}

fn push_time(bytes: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let root = find(bytes, b"<MediationCases", 0)?;
    let end = find(bytes, b">", root)?;
    let head = std::str::from_utf8(&bytes[root..end]).ok()?;
    let value = head.split("pushTime=").nth(1)?;
    let quote = value.chars().next()?;
    let value = value.get(1..)?.split(quote).next()?;
    time::parse_local(value).ok()
}

/// Decodes a mediation platform push.
pub fn decode(file: &str, bytes: &[u8]) -> DecodedInput {
    let mut out = DecodedInput::default();
    let pushed_at = push_time(bytes);
    let mut record_index = 0;
    let mut lines = Lines {
        bytes,
        at: 0,
        line: 1,
    };
    let mut next = next_case(bytes, 0);
    while let Some(start) = next {
        next = next_case(bytes, start + OPEN.len());
        // The closing tag is looked for only up to the next case: searching to the end for each of many unclosed
        // cases made a push quadratic.
        let close = find(&bytes[..next.unwrap_or(bytes.len())], CLOSE, start);
        let end = match close {
            Some(c) => c + CLOSE.len(),
            None => next.unwrap_or(bytes.len()),
        };
        let location = SourceLocation {
            file: file.to_owned(),
            line: Some(lines.line_of(start)),
            record_index,
        };
        record_index += 1;
        let raw = &bytes[start..end];
        let unit = out.push_unit(location.clone(), raw);
        if close.is_none() {
            let reason = if next.is_some() {
                "the case has no closing </MediationCase> before the next case begins"
            } else {
                "the push ends before the case's closing </MediationCase>"
            };
            out.reject(unit, location, None, Reject::new(RejectKind::Truncated, reason));
            continue;
        }
        if raw.len() > MAX_CASE_BYTES {
            let reason = format!(
                "the case is {} bytes; the limit is {MAX_CASE_BYTES} bytes a case",
                raw.len()
            );
            out.reject(unit, location, None, Reject::new(RejectKind::TooLarge, reason));
            continue;
        }
        if std::str::from_utf8(raw).is_err() {
            let reason = "the case is not valid UTF-8";
            out.reject(
                unit,
                location,
                None,
                Reject::new(RejectKind::InvalidEncoding, reason),
            );
            continue;
        }
        match parse_element(raw) {
            Err(e) => {
                let reason = format!("the case is not well-formed XML: {}", crate::pii::redact(&e));
                out.reject(unit, location, None, Reject::new(RejectKind::Malformed, reason));
            }
            Ok(case) => {
                let source_id = case.text_of("CaseNo");
                let outcome = Outcome::from(record(&case, pushed_at));
                out.push(unit, location, source_id, outcome);
            }
        }
    }
    if record_index == 0 && !bytes.iter().all(u8::is_ascii_whitespace) {
        let location = SourceLocation {
            file: file.to_owned(),
            line: Some(1),
            record_index: 0,
        };
        let unit = out.push_unit(location.clone(), bytes);
        let reason = "the push holds no <MediationCase> element";
        out.reject(unit, location, None, Reject::new(RejectKind::Malformed, reason));
    }
    out
}

fn record(case: &Element, pushed_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<SourceRecord, Reject> {
    let source_id = case
        .text_of("CaseNo")
        .ok_or_else(|| Reject::new(RejectKind::MissingId, "the case has no <CaseNo>"))?;
    let accept = case
        .text_of("AcceptDate")
        .ok_or_else(|| Reject::new(RejectKind::MissingField, "the case has no <AcceptDate>"))?;
    let occurred_at = time::parse_local(&accept).map_err(|e| time_reject("AcceptDate", e))?;
    // A case without a <DisputeType> is still a report: its type is inferred from the text.
    let category = case.text_of("DisputeType").unwrap_or_default();
    let request_kind = match case.text_of("Source").as_deref() {
        Some("申请") => RequestKind::MediationApplication,
        Some("主动") => RequestKind::MediationInitiative,
        Some("移交" | "委托") => RequestKind::MediationReferral,
        _ => RequestKind::Other,
    };
    let parties = case
        .child("Parties")
        .map(|p| {
            p.children
                .iter()
                .filter(|c| c.name == "Party")
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|p| SourceParty {
            role: match p.attribute("role").as_deref() {
                Some("申请人") => PartyRole::Applicant,
                Some("被申请人") => PartyRole::Respondent,
                _ => PartyRole::Party,
            },
            kind: match p.attribute("kind").as_deref() {
                Some("单位") => PartyKind::Organisation,
                _ => PartyKind::Person,
            },
            name: p.text_of("Name"),
            phones: p.text_of("Phone").into_iter().collect(),
            id_number: p.text_of("IdNumber"),
        })
        .collect();
    let status = case.text_of("Status");
    let mut flags = BTreeSet::new();
    if status.as_deref() == Some("调解不成功") {
        flags.insert(RiskFlag::MediationFailed);
    }
    let mut hints: Vec<TownHint> = case.text_of("Town").map(TownHint::Name).into_iter().collect();
    if let Some(code) = case.child("Committee").and_then(|c| c.attribute("code")) {
        hints.push(TownHint::CommitteeCode(code));
    }
    Ok(SourceRecord {
        feed: FeedId::Justice,
        source_id,
        occurred_at,
        updated_at: pushed_at,
        town_hints: hints,
        address: case.text_of("Address").unwrap_or_default(),
        estate: None,
        location: None,
        source_category: category.clone(),
        category: Category::Word(category),
        request_kind,
        status,
        parties,
        people_involved: None,
        flags,
        title: None,
        texts: case.text_of("Summary").into_iter().collect(),
    })
}
