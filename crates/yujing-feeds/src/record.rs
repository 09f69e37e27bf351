//! What adapters produce: the raw units received, and for each record either its fields or a rejection.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use yujing_model::{
    DisputeType, FeedId, GeoPoint, PartyKind, PartyRole, PeopleCount, RejectKind, RequestKind, RiskFlag,
    SourceLocation,
};

use crate::gazetteer::TownHint;

/// A unit of input exactly as received: a JSON line, a CSV row, an XML case, an exchange envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUnit {
    /// Where it sat in its input.
    pub location: SourceLocation,
    /// Its exact bytes, in the feed's own encoding.
    pub bytes: Vec<u8>,
}

/// A party as a feed gives it, in clear. It never leaves this crate: normalization masks and hashes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceParty {
    /// The role.
    pub role: PartyRole,
    /// Person or organisation.
    pub kind: PartyKind,
    /// The name, as given.
    pub name: Option<String>,
    /// The phone numbers, as given.
    pub phones: Vec<String>,
    /// The ID number, as given.
    pub id_number: Option<String>,
}

impl SourceParty {
    /// The person who called or reported, when the record names them or gives a phone number.
    pub fn reporter(name: Option<String>, phone: Option<String>) -> Option<SourceParty> {
        (name.is_some() || phone.is_some()).then(|| SourceParty {
            role: PartyRole::Reporter,
            kind: PartyKind::Person,
            name,
            phones: phone.into_iter().collect(),
            id_number: None,
        })
    }
}

/// How an adapter states the dispute type: already canonical, or a category word to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Category {
    /// The feed's code already decided the type (the grid's `JF-03`).
    Known(DisputeType),
    /// A word to map through the feed's category table (`物业管理`).
    Word(String),
}

/// A decoded record: the fields of one upstream record version, before normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The feed.
    pub feed: FeedId,
    /// The upstream id.
    pub source_id: String,
    /// When the dispute was reported upstream.
    pub occurred_at: DateTime<Utc>,
    /// When this version was produced upstream, if the feed says.
    pub updated_at: Option<DateTime<Utc>>,
    /// Explicit town evidence, strongest first.
    pub town_hints: Vec<TownHint>,
    /// The address text, in clear.
    pub address: String,
    /// An estate name the feed gives in its own field.
    pub estate: Option<String>,
    /// The position, if real.
    pub location: Option<GeoPoint>,
    /// The dispute type or the category word to map.
    pub category: Category,
    /// The feed's own category, for display (`JF-03 物业纠纷`).
    pub source_category: String,
    /// The request kind.
    pub request_kind: RequestKind,
    /// The upstream status.
    pub status: Option<String>,
    /// The parties, in clear.
    pub parties: Vec<SourceParty>,
    /// The people involved.
    pub people_involved: Option<PeopleCount>,
    /// Flags the feed's fields state outright.
    pub flags: BTreeSet<RiskFlag>,
    /// A title.
    pub title: Option<String>,
    /// Free texts searched for risk words and redacted into the description, in order.
    pub texts: Vec<String>,
}

/// Why a record was rejected, before it is stamped into a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The kind of problem.
    pub kind: RejectKind,
    /// What is wrong, in a sentence.
    pub reason: String,
}

impl Reject {
    /// A rejection of `kind` for `reason`.
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Reject {
        Reject {
            kind,
            reason: reason.into(),
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It decoded.
    Record(Box<SourceRecord>),
    /// It is well-formed but not a dispute (a grid event of another class); it makes no clue.
    NotADispute {
        /// Why.
        reason: String,
    },
    /// It was rejected.
    Rejected(Reject),
}

impl From<Result<SourceRecord, Reject>> for Outcome {
    fn from(result: Result<SourceRecord, Reject>) -> Outcome {
        match result {
            Ok(record) => Outcome::Record(Box::new(record)),
            Err(reject) => Outcome::Rejected(reject),
        }
    }
}

/// One record of an input.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The index of the raw unit it came from, in [`DecodedInput::units`].
    pub unit: usize,
    /// Where it sat.
    pub location: SourceLocation,
    /// The source id, when it could be read.
    pub source_id: Option<String>,
    /// The decoded record, or why not.
    pub outcome: Outcome,
}

/// The largest line of a JSON Lines feed accepted, in bytes: 16 MiB. A line is one report (hotline, grid) or
/// one exchange envelope of many; a longer one is rejected before it is parsed.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Of a line longer than [`MAX_LINE_BYTES`], the raw log keeps only the first this many bytes: enough to see what
/// it was, where a unit of gigabytes would fit neither memory nor a Kafka message.
pub const OVERSIZED_HEAD_BYTES: usize = 64 * 1024;

/// The largest text field of a record accepted (a description, a title, an address), in bytes: 64 KiB, some
/// thirty times the longest report seen in any feed. A larger one would be carried through every stage (a
/// 50 MB JSON line made a 50 MB description).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// An input file or push, decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedInput {
    /// The raw units, in input order.
    pub units: Vec<RawUnit>,
    /// The records, in input order.
    pub records: Vec<Decoded>,
}

impl DecodedInput {
    /// Adds a raw unit and returns its index.
    pub(crate) fn push_unit(&mut self, location: SourceLocation, bytes: &[u8]) -> usize {
        self.units.push(RawUnit {
            location,
            bytes: bytes.to_vec(),
        });
        self.units.len() - 1
    }

    /// Adds a record of unit `unit`.
    pub(crate) fn push(
        &mut self,
        unit: usize,
        location: SourceLocation,
        source_id: Option<String>,
        outcome: Outcome,
    ) {
        self.records.push(Decoded {
            unit,
            location,
            source_id,
            outcome,
        });
    }

    /// Adds a rejected record of unit `unit`.
    pub(crate) fn reject(
        &mut self,
        unit: usize,
        location: SourceLocation,
        source_id: Option<String>,
        reject: Reject,
    ) {
        self.push(unit, location, source_id, Outcome::Rejected(reject));
    }
}

/// A non-empty trimmed string, or `None`.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Reads a people count: an integer, or a band such as `50-100`, `50～100`, `100以上`, `约20人`.
pub fn parse_people_count(text: &str) -> Result<Option<PeopleCount>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let numbers: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(|g| g.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("people count '{text}' is out of range"))?;
    let open = text.contains("以上") || text.ends_with('+') || text.contains("余");
    match numbers.as_slice() {
        [] => Err(format!("people count '{text}' holds no number")),
        [0] if !open => Ok(None),
        [n] if open => Ok(Some(PeopleCount { min: *n, max: None })),
        [n] => Ok(Some(PeopleCount {
            min: *n,
            max: Some(*n),
        })),
        [lo, hi] if lo <= hi => Ok(Some(PeopleCount {
            min: *lo,
            max: Some(*hi),
        })),
        _ => Err(format!("people count '{text}' is not a number or a band")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counts_and_bands() {
        let band = |min, max| Ok(Some(PeopleCount { min, max }));
        assert_eq!(parse_people_count("20"), band(20, Some(20)));
        assert_eq!(parse_people_count("50-100"), band(50, Some(100)));
        assert_eq!(parse_people_count("100以上"), band(100, None));
        assert_eq!(parse_people_count("0"), Ok(None));
        assert_eq!(parse_people_count(""), Ok(None));
        assert!(parse_people_count("很多").is_err());
        assert!(parse_people_count("100-50").is_err());
    }
}
