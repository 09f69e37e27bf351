//! A large JSON Lines file is ingested a part at a time: the log then holds exactly what ingesting it whole
//! writes (the same raw units, clues and dead letters, with the same lines and record indices), whatever the
//! part size.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use yujing_engine::vault::{Unsealed, Vault};
use yujing_engine::{EngineConfig, FixedClock, Ingestor};
use yujing_log::{EmbeddedLog, Log};

const TOPICS: [&str; 7] = [
    "clues",
    "deadletter",
    "raw.hotline12345",
    "raw.grid",
    "raw.exchange",
    "raw.police",
    "raw.screening",
];

/// The JSON Lines samples, with what makes line counting hard: a byte-order mark, blank lines, CRLF, a line
/// that is not JSON and one that is not an object, and no line break at the end.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds");
    let mut paths = Vec::new();
    for name in [
        "hotline12345.sample.jsonl",
        "grid.sample.jsonl",
        "exchange.sample.jsonl",
    ] {
        let text = std::fs::read_to_string(samples.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        let mut hard = String::from("\u{feff}");
        for (i, line) in lines.iter().enumerate() {
            hard.push_str(line);
            hard.push_str(if i % 3 == 1 { "\r\n" } else { "\n" });
            if i == 1 {
                hard.push_str("\n   \n{not json\n[1, 2]\n");
            }
        }
        hard.push_str(lines[0]);
        let path = dir.join(name);
        std::fs::write(&path, hard).unwrap_or_else(|e| panic!("{e}"));
        paths.push(path);
    }
    // The CSV samples: the police export as it is (GBK, CRLF), and the screening ledger with a description
    // quoted across lines, blank lines, a quote that never closes and a short row.
    let police = dir.join("police.sample.csv");
    std::fs::copy(samples.join("police.sample.csv"), &police).unwrap_or_else(|e| panic!("{e}"));
    paths.push(police);
    let text =
        std::fs::read_to_string(samples.join("screening.sample.csv")).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    let mut hard = format!("{}\r\n", lines.next().unwrap_or_default());
    for (i, row) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        let mut fields: Vec<String> = row.split(',').map(str::to_owned).collect();
        if let Some(text) = fields.get_mut(8) {
            *text = format!("\"第{i}行\n跨行 \"\"引号\"\" {text}\"");
        }
        hard.push_str(&fields.join(","));
        hard.push_str("\n\n");
        if i == 0 {
            hard.push_str("SC-BAD,\"never closed,2026-01-01\nSC-SHORT,1\r\n");
        }
    }
    let screening = dir.join("screening.sample.csv");
    std::fs::write(&screening, hard).unwrap_or_else(|e| panic!("{e}"));
    paths.push(screening);
    paths
}

fn ingest(store: &Path, inputs: &[PathBuf], part_bytes: Option<usize>) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    let built = config.check().unwrap_or_else(|e| panic!("{e}"));
    let clock = FixedClock(Utc.with_ymd_and_hms(2026, 6, 12, 8, 0, 0).single().expect("time"));
    {
        let log = EmbeddedLog::open(store).unwrap_or_else(|e| panic!("{e}"));
        let mut ingestor = Ingestor::new(&log, &built.normalizer, &clock);
        if let Some(bytes) = part_bytes {
            ingestor = ingestor.with_part_bytes(bytes);
        }
        let report = ingestor
            .ingest_paths(inputs, None, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.total.rejected >= 6, "{:?}", report.total);
        assert!(report.total.new_clues > 0, "{:?}", report.total);
        assert_eq!(
            log.end_offset("clues").unwrap_or(0),
            report.total.new_clues + report.total.new_versions
        );
    }
    read_back(store, &built)
}

/// Every topic of the store at `store`, its raw units opened.
fn read_back(store: &Path, built: &yujing_engine::Built) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let log = EmbeddedLog::open_read_only(store).unwrap_or_else(|e| panic!("{e}"));
    // Raw units are sealed under fresh random keys and nonces: compared opened.
    let vault = Vault::new(built.normalizer.hasher());
    TOPICS
        .iter()
        .map(|t| {
            let records = yujing_test_support::records(&log, t);
            if !t.starts_with("raw.") {
                return records;
            }
            records
                .into_iter()
                .map(|(key, value)| match vault.open(&log, &value) {
                    Ok(Unsealed::Opened(bytes)) => (key, bytes),
                    other => panic!("{t}: a raw unit did not open: {other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_file_read_in_parts_logs_exactly_what_the_whole_file_logs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let inputs = inputs(dir.path());
    let whole = ingest(&dir.path().join("whole"), &inputs, None);
    let locations =
        String::from_utf8_lossy(&whole[1].iter().flat_map(|(_, v)| v.clone()).collect::<Vec<u8>>())
            .into_owned();
    // The dead letters name the lines as the whole file numbers them (the mark and the blank lines included).
    assert!(locations.contains("\"line\":5"), "{locations}");
    for part_bytes in [1, 200, 4096] {
        let parts = ingest(
            &dir.path().join(format!("parts-{part_bytes}")),
            &inputs,
            Some(part_bytes),
        );
        for (topic, (expected, got)) in TOPICS.iter().zip(whole.iter().zip(&parts)) {
            assert!(!expected.is_empty(), "{topic} is empty");
            assert_eq!(expected, got, "{topic}, parts of {part_bytes} bytes");
        }
    }
}

/// A line of gigabytes is read past, not held: its dead letter and raw unit (its head) are those the decoder
/// gives the line when it holds the whole file, and the lines around it arrive.
#[test]
fn a_line_over_the_limit_is_read_past_and_logged_as_the_decoder_would() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/feeds/hotline12345.sample.jsonl");
    let text = std::fs::read_to_string(samples).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().collect();
    let limit = yujing_feeds::MAX_LINE_BYTES;
    let mut file = Vec::new();
    file.extend_from_slice(b"\xEF\xBB\xBF");
    file.extend_from_slice(lines[0].as_bytes());
    file.push(b'\n');
    // A JSON line one byte over the limit (read whole, then rejected), one far over it (read past), a blank
    // line over it (skipped, as every blank line), each with a CRLF.
    for (fill, close) in [(limit - 7, "\"}\r\n"), (limit + 5_000_000, "\"}\r\n")] {
        file.extend_from_slice(b"{\"a\":\"");
        file.extend(std::iter::repeat_n(b'x', fill));
        file.extend_from_slice(close.as_bytes());
    }
    file.extend(std::iter::repeat_n(b' ', limit + 100));
    file.extend_from_slice(b"\r\n");
    file.extend_from_slice(lines[1].as_bytes());
    file.push(b'\n');
    file.extend_from_slice(lines[2].as_bytes());
    let path = dir.path().join("hotline12345-long.jsonl");
    std::fs::write(&path, &file).unwrap_or_else(|e| panic!("{e}"));

    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    let built = config.check().unwrap_or_else(|e| panic!("{e}"));
    let clock = FixedClock(Utc.with_ymd_and_hms(2026, 6, 12, 8, 0, 0).single().expect("time"));
    let stores = [dir.path().join("whole"), dir.path().join("parts")];
    for (store, whole) in stores.iter().zip([true, false]) {
        let log = EmbeddedLog::open(store).unwrap_or_else(|e| panic!("{e}"));
        let ingestor = Ingestor::new(&log, &built.normalizer, &clock).with_part_bytes(4096);
        let report = if whole {
            ingestor.ingest_bytes(
                yujing_model::FeedId::Hotline12345,
                "hotline12345-long.jsonl",
                &file,
            )
        } else {
            ingestor
                .ingest_paths(std::slice::from_ref(&path), None, &mut |_| {})
                .map(|r| r.total)
        }
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.rejected_by_kind.get("too_large"), Some(&2), "{report:?}");
        assert_eq!(report.new_clues + report.new_versions, 3, "{report:?}");
    }
    let (whole, parts) = (read_back(&stores[0], &built), read_back(&stores[1], &built));
    assert_eq!(whole, parts);
    let letters = String::from_utf8_lossy(&whole[1].iter().flat_map(|(_, v)| v.clone()).collect::<Vec<u8>>())
        .into_owned();
    assert!(
        letters.contains(&format!("the line is {} bytes", limit + 5_000_000 + 8)),
        "{letters}"
    );
    assert!(letters.contains("\"line\":3"), "{letters}");
    // The raw units of the long lines are their heads, not the lines.
    let longest = whole[2].iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    assert_eq!(longest, yujing_feeds::OVERSIZED_HEAD_BYTES);
}
