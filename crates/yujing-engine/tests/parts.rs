//! A large JSON Lines file is ingested a part at a time: the log then holds exactly what ingesting it whole
//! writes (the same raw units, clues and dead letters, with the same lines and record indices), whatever the
//! part size.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use yujing_engine::vault::{Unsealed, Vault};
use yujing_engine::{EngineConfig, FixedClock, Ingestor};
use yujing_log::{EmbeddedLog, Log};

const TOPICS: [&str; 5] = [
    "clues",
    "deadletter",
    "raw.hotline12345",
    "raw.grid",
    "raw.exchange",
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
