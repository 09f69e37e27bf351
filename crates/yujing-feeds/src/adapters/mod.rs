//! The six feed adapters, one module each, and what they share.
//!
//! An adapter decodes an input file (or push) in its feed's real format into raw units and decoded records.
//! Adapters are pure functions of the bytes: they never stop at a bad record, and never panic; a record they
//! cannot read becomes an [`Outcome::Rejected`] naming the line or record and the reason.

use std::path::Path;

use serde_json::{Map, Value};
use yujing_model::{FeedId, RejectKind, SourceLocation};

use crate::config::FeedRules;
use crate::record::{DecodedInput, Reject};
use crate::time::{self, TimeError};

mod csv_rows;
pub use csv_rows::CsvPosition;
pub mod exchange;
pub mod grid;
pub mod hotline12345;
pub mod justice;
pub mod police;
pub mod screening;

/// Where a part of a JSON Lines input starts within its file: the lines before it and, of those, the ones that
/// held a record (not blank). A file read in parts, each decoded from where the last ended, gives exactly the
/// units and records of the whole file decoded at once: the same lines, locations and record indices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinePosition {
    /// Lines before the part (its first line is `lines + 1`).
    pub lines: u64,
    /// Non-blank lines before the part (the record index of its first record).
    pub records: u64,
}

impl LinePosition {
    /// The start of a file.
    pub const START: LinePosition = LinePosition { lines: 0, records: 0 };

    /// Moves past `part`, which ends with a line break (or is the file's last part).
    pub fn advance(&mut self, part: &[u8]) {
        let part = if self.lines == 0 {
            part.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(part)
        } else {
            part
        };
        let mut lines = part.split(|&b| b == b'\n').peekable();
        while let Some(line) = lines.next() {
            if lines.peek().is_none() && line.is_empty() {
                // The part ended with a line break: what follows it is the next part's first line.
                break;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.records += u64::from(!line.iter().all(u8::is_ascii_whitespace));
            self.lines += 1;
        }
    }
}

/// Whether inputs of `feed` are CSV, which can be decoded a part at a time ([`decode_csv_from`]).
pub fn is_csv(feed: FeedId) -> bool {
    matches!(feed, FeedId::Police | FeedId::Screening)
}

/// A part of a CSV input decoded ([`decode_csv_from`]).
#[derive(Debug)]
pub struct CsvPartDecoded {
    /// Its units and records.
    pub decoded: DecodedInput,
    /// How many of its bytes those cover: the rest starts the next part.
    pub consumed: usize,
    /// Where the next part starts.
    pub next: CsvPosition,
}

/// Decodes a part of a CSV input of `feed` (police, screening) that starts at `at`: the rows its bytes settle,
/// numbered and indexed as in the whole file. Unless `at_end` (the part ends the file), a row whose reading
/// reached the part's last byte is left for the next part, which starts at `consumed` with it. Parts decoded
/// one after the other this way give exactly the units and records of the whole file decoded at once. Any
/// other feed's input is decoded whole, as [`decode`] does.
pub fn decode_csv_from(
    feed: FeedId,
    file: &str,
    bytes: &[u8],
    rules: &FeedRules,
    at: &CsvPosition,
    at_end: bool,
) -> CsvPartDecoded {
    let part = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match feed {
        FeedId::Police => Some(police::decode_from(file, bytes, at, at_end)),
        FeedId::Screening => Some(screening::decode_from(file, bytes, at, at_end)),
        _ => None,
    }));
    match part {
        Ok(Some(part)) => CsvPartDecoded {
            decoded: part.decoded,
            consumed: part.consumed,
            next: part.next,
        },
        // Not a CSV feed, or the decoder panicked (then `decode` makes the `internal` dead letter): whole.
        Ok(None) | Err(_) => CsvPartDecoded {
            decoded: decode(feed, file, bytes, rules),
            consumed: bytes.len(),
            next: at.clone(),
        },
    }
}

/// Whether inputs of `feed` are JSON Lines, which can be decoded a part at a time ([`decode_from`]).
pub fn is_line_oriented(feed: FeedId) -> bool {
    matches!(feed, FeedId::Hotline12345 | FeedId::Grid | FeedId::Exchange)
}

/// Decodes a part of a JSON Lines input of `feed` that starts at `start` (its lines numbered, and its records
/// indexed, as in the whole file); any other feed's input is decoded whole, as [`decode`] does.
pub fn decode_from(
    feed: FeedId,
    file: &str,
    bytes: &[u8],
    rules: &FeedRules,
    start: LinePosition,
) -> DecodedInput {
    guarded(file, bytes, || match feed {
        FeedId::Hotline12345 => hotline12345::decode_from(file, bytes, start),
        FeedId::Grid => grid::decode_from(file, bytes, rules, start),
        FeedId::Exchange => exchange::decode_from(file, bytes, rules, start),
        FeedId::Police => police::decode(file, bytes),
        FeedId::Screening => screening::decode(file, bytes),
        FeedId::Justice => justice::decode(file, bytes),
    })
}

/// Decodes one input of `feed`, named `file`, into raw units and records.
///
/// A decoder that panics (a bug: the tests try every prefix and thousands of mutations of every fixture) does
/// not take the caller down: the input becomes one `internal` dead letter naming the file, and the feed goes on.
pub fn decode(feed: FeedId, file: &str, bytes: &[u8], rules: &FeedRules) -> DecodedInput {
    decode_from(feed, file, bytes, rules, LinePosition::START)
}

/// Runs a decoder; its panic becomes one `internal` dead letter naming the input.
fn guarded(file: &str, bytes: &[u8], decode: impl FnOnce() -> DecodedInput) -> DecodedInput {
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    decoded.unwrap_or_else(|panic| {
        let mut out = DecodedInput::default();
        let location = SourceLocation {
            file: file.to_owned(),
            line: None,
            record_index: 0,
        };
        let unit = out.push_unit(location.clone(), bytes);
        let reason = format!(
            "decoding the input failed inside yujing ({}); none of its records were read: report it with the file",
            crate::pii::panic_message(panic.as_ref())
        );
        out.reject(unit, location, None, Reject::new(RejectKind::Internal, reason));
        out
    })
}

/// The feed of an export file, from its name: it starts with the feed id (`police.sample.csv`,
/// `hotline12345-20260611.jsonl`) and has the feed's extension. `None` for anything else.
pub fn detect_feed(path: &Path) -> Option<FeedId> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    FeedId::ALL.into_iter().find(|feed| {
        let id = feed.as_str();
        let named = name.starts_with(id)
            && name[id.len()..]
                .chars()
                .next()
                .is_some_and(|c| matches!(c, '.' | '-' | '_'));
        named && ext == extension(*feed)
    })
}

/// The file extension of a feed's exports.
pub fn extension(feed: FeedId) -> &'static str {
    match feed {
        FeedId::Hotline12345 | FeedId::Grid | FeedId::Exchange => "jsonl",
        FeedId::Police | FeedId::Screening => "csv",
        FeedId::Justice => "xml",
    }
}

/// A line longer than [`crate::MAX_LINE_BYTES`] as a dead letter: not parsed; the raw log keeps its first
/// [`crate::OVERSIZED_HEAD_BYTES`] and the dead letter says where it is and how long. `line` is the line, or at
/// least its head, and `len` its whole length (without its line break).
fn reject_oversized(out: &mut DecodedInput, location: SourceLocation, line: &[u8], len: u64) {
    let head = &line[..line.len().min(crate::record::OVERSIZED_HEAD_BYTES)];
    let unit = out.push_unit(location.clone(), head);
    let reason = format!(
        "the line is {len} bytes; the limit is {} bytes a line (the raw log keeps its first {} bytes)",
        crate::record::MAX_LINE_BYTES,
        head.len()
    );
    out.reject(unit, location, None, Reject::new(RejectKind::TooLarge, reason));
}

/// The dead letter of a line of a JSON Lines file longer than [`crate::MAX_LINE_BYTES`], read without holding
/// it: `head` is its start (at least [`crate::OVERSIZED_HEAD_BYTES`] of it when it has that many), `len` its
/// length without its line break, and `at` the position of the line in its file. Gives exactly the unit and
/// dead letter that decoding the line with the rest of its file gives.
pub fn oversized_line(file: &str, head: &[u8], len: u64, at: LinePosition) -> DecodedInput {
    let mut out = DecodedInput::default();
    let location = SourceLocation {
        file: file.to_owned(),
        line: Some(at.lines + 1),
        record_index: at.records,
    };
    reject_oversized(&mut out, location, head, len);
    out
}

/// Splits JSON Lines input and hands each object to `each`; blank lines are skipped, undecodable lines rejected.
pub(crate) fn json_lines(
    file: &str,
    bytes: &[u8],
    start: LinePosition,
    mut each: impl FnMut(&mut DecodedInput, usize, SourceLocation, &Map<String, Value>),
) -> DecodedInput {
    let mut out = DecodedInput::default();
    // A byte-order mark only at the start of the file, not of a later part.
    let bytes = match start.lines {
        0 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
        _ => bytes,
    };
    let mut record_index = start.records;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let location = SourceLocation {
            file: file.to_owned(),
            line: Some(start.lines + i as u64 + 1),
            record_index,
        };
        record_index += 1;
        if line.len() > crate::record::MAX_LINE_BYTES {
            reject_oversized(&mut out, location, line, line.len() as u64);
            continue;
        }
        let unit = out.push_unit(location.clone(), line);
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => {
                let reason = format!(
                    "the line is not valid UTF-8 (bad byte at column {})",
                    e.valid_up_to() + 1
                );
                out.reject(
                    unit,
                    location,
                    None,
                    Reject::new(RejectKind::InvalidEncoding, reason),
                );
                continue;
            }
        };
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => each(&mut out, unit, location, &object),
            Ok(other) => {
                let reason = format!("the line is a JSON {}, not an object", json_kind(&other));
                out.reject(unit, location, None, Reject::new(RejectKind::Malformed, reason));
            }
            Err(e) if e.is_eof() => {
                let reason = format!("the line ends before its JSON object does ({e})");
                out.reject(unit, location, None, Reject::new(RejectKind::Truncated, reason));
            }
            Err(e) => {
                let reason = format!("the line is not valid JSON ({e})");
                out.reject(unit, location, None, Reject::new(RejectKind::Malformed, reason));
            }
        }
    }
    out
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Typed access to a JSON object's fields, with rejections that name the field.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// A field as trimmed text (numbers are written out), or `None` when absent, null or empty.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => crate::record::non_empty(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The source id field; its absence is a `missing_id` rejection.
    pub(crate) fn id(&self, key: &str) -> Result<String, Reject> {
        self.text(key).ok_or_else(|| {
            Reject::new(
                RejectKind::MissingId,
                format!("the source id field '{key}' is missing or empty"),
            )
        })
    }

    /// A required text field.
    pub(crate) fn required(&self, key: &str) -> Result<String, Reject> {
        self.text(key).ok_or_else(|| {
            Reject::new(
                RejectKind::MissingField,
                format!("the required field '{key}' is missing or empty"),
            )
        })
    }

    /// A required local time field.
    pub(crate) fn time(&self, key: &str) -> Result<chrono::DateTime<chrono::Utc>, Reject> {
        let text = self.text(key).ok_or_else(|| {
            Reject::new(
                RejectKind::MissingField,
                format!("the time field '{key}' is missing or empty"),
            )
        })?;
        time::parse_local(&text).map_err(|e| time_reject(key, e))
    }

    /// An optional local time field: absent is fine, unreadable is not.
    pub(crate) fn optional_time(&self, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Reject> {
        match self.text(key) {
            None => Ok(None),
            Some(text) => time::parse_local(&text)
                .map(Some)
                .map_err(|e| time_reject(key, e)),
        }
    }

    /// An integer field.
    pub(crate) fn integer(&self, key: &str) -> Result<Option<i64>, Reject> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Reject::new(
                    RejectKind::InvalidValue,
                    format!("field '{key}' is not an integer ({n})"),
                )
            }),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                Reject::new(
                    RejectKind::InvalidValue,
                    format!("field '{key}' is not an integer ('{}')", crate::pii::redact(s)),
                )
            }),
            Some(other) => Err(Reject::new(
                RejectKind::InvalidValue,
                format!("field '{key}' is a JSON {}, not an integer", json_kind(other)),
            )),
        }
    }
}

/// The rejection of an unreadable time in `field`.
pub(crate) fn time_reject(field: &str, error: TimeError) -> Reject {
    Reject::new(RejectKind::InvalidDate, format!("field '{field}': {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_feeds_from_file_names() {
        let d = |s: &str| detect_feed(Path::new(s));
        assert_eq!(d("docs/feeds/police.sample.csv"), Some(FeedId::Police));
        assert_eq!(d("hotline12345-20260611.jsonl"), Some(FeedId::Hotline12345));
        assert_eq!(d("exchange_2026.jsonl"), Some(FeedId::Exchange));
        assert_eq!(d("grid.md"), None);
        assert_eq!(d("police.sample.xml"), None);
        assert_eq!(d("gridlock.jsonl"), None);
    }
}
