//! CSV exports with a Chinese header: quoted multi-line fields, LF or CRLF, in GBK or UTF-8.
//!
//! Each row becomes a raw unit holding its exact bytes. A row is handed on as a map from header name to decoded
//! value; a row whose bytes are not valid in the file's encoding, or whose field count differs from the header's,
//! is rejected on its own. An unbalanced quote would otherwise swallow every later row into one field, so such a
//! row is rejected alone and reading resumes on the next line.

use std::collections::HashMap;

use yujing_model::{RejectKind, SourceLocation};

use crate::record::{DecodedInput, Reject};

/// How the file's bytes are decoded to text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// GBK (decoded as GB18030, its superset).
    Gbk,
    /// UTF-8, with or without a byte-order mark.
    Utf8,
}

impl Encoding {
    fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Encoding::Gbk => encoding_rs::GBK
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(|s| s.into_owned()),
            Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_owned),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Gbk => "GBK",
            Encoding::Utf8 => "UTF-8",
        }
    }
}

/// A decoded row: values by header name.
pub(crate) struct Row(pub HashMap<String, String>);

impl Row {
    /// The trimmed value of a column, `None` when empty.
    pub(crate) fn get(&self, column: &str) -> Option<String> {
        self.0.get(column).and_then(|v| crate::record::non_empty(v))
    }
}

struct RawRow {
    record: csv::ByteRecord,
    line: u64,
    start: usize,
    end: usize,
    /// The field count rows were held to before this one was read (`None`: this row sets it).
    expected_before: Option<usize>,
    /// Where the parser stopped reading this row: its end, or for the first line of a row that opened a quote
    /// and never closed it, the end of everything that quote swallowed. A row decided at the end of a part's
    /// bytes may read differently with the bytes after them.
    decided_at: usize,
}

/// Reads rows from `start`, until the end or a row that must be read again from its next line; rows are held to
/// the field count `expected` (`None`: the first row's).
fn read_rows(
    bytes: &[u8],
    start: usize,
    first_line: u64,
    mut expected: Option<usize>,
) -> (Vec<RawRow>, Option<(usize, u64)>) {
    // The csv crate drops a byte-order mark at the start of what it reads. Here that is a row of the file, not its
    // start (the file's mark is dropped before): a line break put before it keeps the reader from taking it for
    // one, and is skipped as a blank line. Positions are shifted back by it.
    let lead: &[u8] = if bytes[start..].starts_with(b"\xEF\xBB\xBF") {
        b"\n"
    } else {
        b""
    };
    let shift = lead.len();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Read::chain(lead, &bytes[start..]));
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let position_before = (reader.position().byte() as usize).saturating_sub(shift);
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => {
                // The csv crate only errors on I/O here; treat the rest as one broken row.
                rows.push(RawRow {
                    record: csv::ByteRecord::new(),
                    line: first_line,
                    start: start + position_before,
                    end: bytes.len(),
                    expected_before: expected,
                    decided_at: bytes.len(),
                });
                break;
            }
        }
        let position = record.position().cloned().unwrap_or_else(csv::Position::new);
        let mut row_start = start + (position.byte() as usize).saturating_sub(shift);
        let row_end = start + (reader.position().byte() as usize).saturating_sub(shift);
        let mut line = first_line + position.line().saturating_sub(1 + shift as u64);
        // With CRLF line ends the reader stops after the CR, so a record's position can point at the LF (and any
        // blank lines) before it: skip them, so the line number and the raw bytes are the row's own.
        while row_start < row_end && matches!(bytes[row_start], b'\r' | b'\n') {
            if bytes[row_start] == b'\n' {
                line += 1;
            }
            row_start += 1;
        }
        let fields = record.len();
        let expected_before = expected;
        let expected_fields = *expected.get_or_insert(fields);
        let spans_lines = record.iter().any(|f| f.contains(&b'\n'));
        if fields < expected_fields && spans_lines {
            // An unbalanced quote: reject the first line alone and read again after it.
            let first_line_end = bytes[row_start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| row_start + i + 1);
            rows.push(RawRow {
                record: csv::ByteRecord::new(),
                line,
                start: row_start,
                end: first_line_end,
                expected_before,
                decided_at: row_end,
            });
            return (rows, Some((first_line_end, line + 1)));
        }
        rows.push(RawRow {
            record: record.clone(),
            line,
            start: row_start,
            end: row_end,
            expected_before,
            decided_at: row_end,
        });
    }
    (rows, None)
}

/// Where a part of a CSV input starts within its file, and what the rows before it settled: a file read in
/// parts, each decoded from where the last stopped, gives exactly the units and records of the whole file.
#[derive(Debug, Clone)]
pub struct CsvPosition {
    /// The line the part starts on (1 for the file's first).
    line: u64,
    /// The record index of the part's first row.
    records: u64,
    /// The header (the file's first row), once read, and what is wrong with it.
    header: Option<(Vec<String>, Option<Reject>)>,
    /// The field count the rows are held to (`None`: the next row's).
    expected: Option<usize>,
    /// Whether the part starts after the file's first byte (a byte-order mark is only the file's first bytes).
    started: bool,
}

impl CsvPosition {
    /// The start of a file.
    pub const START: CsvPosition = CsvPosition {
        line: 1,
        records: 0,
        header: None,
        expected: None,
        started: false,
    };
}

/// A part of a CSV input decoded ([`csv_rows_from`]).
pub(crate) struct CsvPart {
    /// Its units and records.
    pub decoded: DecodedInput,
    /// How many of its bytes the rows decoded cover; the rest (a row its bytes may not end) is the next part's
    /// start.
    pub consumed: usize,
    /// Where the next part starts.
    pub next: CsvPosition,
}

/// Splits CSV input into rows and hands each decoded row to `each`, with its header: the part of a file that
/// starts at `at`. Unless the part ends the file (`at_end`), a row the
/// parser decided at the part's last byte is left to the next part, which starts with it: with the bytes after
/// it, it may read differently (a quoted field that goes on).
pub(crate) fn csv_rows_from(
    file: &str,
    bytes: &[u8],
    at: &CsvPosition,
    at_end: bool,
    encoding: Encoding,
    required: &[&str],
    mut each: impl FnMut(&mut DecodedInput, usize, SourceLocation, &Row),
) -> CsvPart {
    let mut out = DecodedInput::default();
    // A byte-order mark only at the start of the file.
    let bom = if !at.started && bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let bytes = &bytes[bom..];
    let mut rows = Vec::new();
    let mut resume = Some((0usize, at.line));
    let mut expected = at.expected;
    while let Some((start, line)) = resume {
        if start >= bytes.len() {
            break;
        }
        let (mut more, next) = read_rows(bytes, start, line, expected);
        // After a resume the first row read sets the field count again.
        expected = None;
        rows.append(&mut more);
        resume = next;
    }
    // Rows decided at the last byte wait for the next part, unless this one ends the file.
    let kept = if at_end {
        rows.len()
    } else {
        rows.iter()
            .position(|row| row.decided_at >= bytes.len())
            .unwrap_or(rows.len())
    };
    let (consumed, next_line, next_expected) = match rows.get(kept) {
        Some(row) => (row.start, row.line, row.expected_before),
        None => {
            // Every row is final: the next part starts after the last byte, on the line after the last break.
            let last = rows.last();
            let from = last.map_or(0, |r| r.start);
            let line = last.map_or(at.line, |r| r.line)
                + bytes[from..].iter().filter(|&&b| b == b'\n').count() as u64;
            let expected = match last {
                Some(row) if row.record.is_empty() => None,
                Some(row) => row.expected_before.or(Some(row.record.len())),
                None => at.expected,
            };
            (bytes.len(), line, expected)
        }
    };
    rows.truncate(kept);
    let (mut header, mut header_problem) = at.header.clone().unwrap_or_default();
    let mut header_read = at.header.is_some();
    let mut record_index = at.records;
    for row in &rows {
        let raw = &bytes[row.start..row.end.min(bytes.len())];
        let is_blank = row.record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace));
        if !header_read {
            header_read = true;
            let decoded: Option<Vec<String>> = row
                .record
                .iter()
                .map(|f| encoding.decode(f).map(|s| s.trim().to_owned()))
                .collect();
            match decoded {
                Some(names) => {
                    let missing: Vec<&str> = required
                        .iter()
                        .copied()
                        .filter(|r| !names.iter().any(|n| n == r))
                        .collect();
                    if !missing.is_empty() {
                        header_problem = Some(Reject::new(
                            RejectKind::MissingField,
                            format!("the file's header lacks the column(s) {}", missing.join(", ")),
                        ));
                    }
                    header = names;
                }
                None => {
                    header_problem = Some(Reject::new(
                        RejectKind::InvalidEncoding,
                        format!("the file's header is not valid {}", encoding.name()),
                    ));
                }
            }
            continue;
        }
        if is_blank && !row.record.is_empty() {
            continue;
        }
        let location = SourceLocation {
            file: file.to_owned(),
            line: Some(row.line),
            record_index,
        };
        record_index += 1;
        let unit = out.push_unit(location.clone(), raw);
        if let Some(problem) = &header_problem {
            out.reject(unit, location, None, problem.clone());
            continue;
        }
        if row.record.is_empty() {
            let reason = "the row opens a quoted field that never closes".to_owned();
            out.reject(unit, location, None, Reject::new(RejectKind::Truncated, reason));
            continue;
        }
        let decoded: Option<Vec<String>> = row.record.iter().map(|f| encoding.decode(f)).collect();
        let Some(values) = decoded else {
            let bad = row
                .record
                .iter()
                .position(|f| encoding.decode(f).is_none())
                .map_or(0, |p| p + 1);
            let reason = format!("field {bad} of the row is not valid {}", encoding.name());
            out.reject(
                unit,
                location,
                None,
                Reject::new(RejectKind::InvalidEncoding, reason),
            );
            continue;
        };
        if values.len() != header.len() {
            let kind = if values.len() < header.len() {
                RejectKind::Truncated
            } else {
                RejectKind::Malformed
            };
            let reason = format!(
                "the row has {} field(s), the header {}",
                values.len(),
                header.len()
            );
            out.reject(unit, location, None, Reject::new(kind, reason));
            continue;
        }
        let row = Row(header.iter().cloned().zip(values).collect());
        each(&mut out, unit, location, &row);
    }
    CsvPart {
        decoded: out,
        consumed: bom + consumed,
        next: CsvPosition {
            line: next_line,
            records: record_index,
            header: header_read.then_some((header, header_problem)),
            expected: next_expected,
            started: at.started || bom + consumed > 0,
        },
    }
}
