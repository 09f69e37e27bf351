//! A CSV export decoded a part at a time gives exactly the units and records of the whole file decoded at once,
//! whatever the parts' size: quoted fields across lines, CRLF, blank lines, a byte-order mark, unbalanced quotes,
//! rows of the wrong length, bad encodings (the fixtures, the samples and the fuzzing corpus).

mod support;

use std::path::{Path, PathBuf};

use yujing_feeds::adapters::{self, CsvPosition};
use yujing_feeds::{DecodedInput, FeedRules};
use yujing_model::FeedId;

/// Decodes `bytes` the way the engine reads a large file: about `part` bytes of whole lines at a time, added to
/// what the last part left.
fn in_parts(feed: FeedId, bytes: &[u8], part: usize, rules: &FeedRules) -> DecodedInput {
    let mut all = DecodedInput::default();
    let mut at = CsvPosition::START;
    let mut carry: Vec<u8> = Vec::new();
    let mut rest = bytes;
    loop {
        let mut taken = 0;
        while taken < part && !rest.is_empty() {
            let line = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            carry.extend_from_slice(&rest[..line]);
            rest = &rest[line..];
            taken += line;
        }
        let at_end = rest.is_empty();
        let decoded = adapters::decode_csv_from(feed, "f.csv", &carry, rules, &at, at_end);
        append(&mut all, decoded.decoded);
        carry.drain(..decoded.consumed);
        at = decoded.next;
        if at_end {
            assert!(carry.is_empty(), "{} bytes left at the end", carry.len());
            return all;
        }
    }
}

/// `part`'s units and records after `all`'s, renumbered.
fn append(all: &mut DecodedInput, part: DecodedInput) {
    let base = all.units.len();
    all.units.extend(part.units);
    all.records.extend(part.records.into_iter().map(|mut record| {
        record.unit += base;
        record
    }));
}

fn inputs(feed: FeedId) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![
        root.join(format!("tests/fixtures/{feed}.good.csv")),
        root.join(format!("tests/fixtures/{feed}.bad.csv")),
        root.join(format!("../../docs/feeds/{feed}.sample.csv")),
    ];
    let corpus = root.join("../../fuzz/corpus").join(feed.as_str());
    let mut fuzzed: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    fuzzed.sort();
    paths.extend(fuzzed);
    paths
}

/// What makes cutting a CSV file hard, in one screening export: a byte-order mark, CRLF and LF, blank lines,
/// quoted fields across lines (one with a doubled quote), a quote that never closes (its first line is
/// rejected and reading resumes after it, out of step with the quotes that follow), a short row.
fn hard_screening_export() -> Vec<u8> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds/screening.sample.csv");
    let text = std::fs::read_to_string(sample).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim_start_matches('\u{feff}');
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut out = String::from("\u{feff}");
    out.push_str(header);
    out.push_str("\r\n");
    for (i, row) in rows.iter().cycle().take(12).enumerate() {
        // The description (the ninth field) quoted across two lines.
        let mut fields: Vec<String> = row.split(',').map(str::to_owned).collect();
        if let Some(text) = fields.get_mut(8) {
            *text = format!("\"第{i}行\n跨行 \"\"引号\"\" {text}\"");
        }
        let row = fields.join(",");
        out.push_str(&row);
        out.push_str(if i % 2 == 0 { "\r\n" } else { "\n\n" });
        if i == 5 {
            out.push_str("SC-BAD,\"never closed,2026-01-01\n");
        }
        if i == 8 {
            out.push_str("SC-SHORT,1\n");
        }
    }
    out.into_bytes()
}

#[test]
fn a_csv_file_decoded_in_parts_gives_the_units_and_records_of_the_whole_file() {
    let normalizer = support::normalizer(b"csv-parts-test-secret");
    let rules = normalizer.rules();
    let mut checked = 0;
    for feed in [FeedId::Police, FeedId::Screening] {
        for path in inputs(feed) {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let whole = adapters::decode(feed, "f.csv", &bytes, rules);
            for part in [1, 40, 300, 4096] {
                let parts = in_parts(feed, &bytes, part, rules);
                assert_eq!(parts.units, whole.units, "{} in parts of {part}", path.display());
                assert_eq!(
                    parts.records,
                    whole.records,
                    "{} in parts of {part}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 6, "only {checked} inputs");
    let hard = hard_screening_export();
    let whole = adapters::decode(FeedId::Screening, "f.csv", &hard, rules);
    let accepted = whole
        .records
        .iter()
        .filter(|r| matches!(r.outcome, yujing_feeds::Outcome::Record(_)))
        .count();
    assert!(
        accepted >= 10 && whole.records.len() > accepted,
        "{:#?}",
        whole.records
    );
    for part in [1, 2, 40, 300, 4096] {
        let parts = in_parts(FeedId::Screening, &hard, part, rules);
        assert_eq!(parts.units, whole.units, "the hard export in parts of {part}");
        assert_eq!(parts.records, whole.records, "the hard export in parts of {part}");
    }
}
