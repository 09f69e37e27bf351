//! Ingestion onto a real embedded log: idempotency, versions, raw units logged once, and a store that survives
//! reopening.

use yujing_engine::{for_each_clue, EngineConfig, FixedClock, Ingestor};
use yujing_log::{EmbeddedLog, Log};
use yujing_model::FeedId;

const HOTLINE: &[u8] = include_bytes!("../../../docs/feeds/hotline12345.sample.jsonl");

fn config() -> yujing_engine::Built {
    let mut config = EngineConfig::defaults();
    config.pii.secret = "engine-test-secret-0123456789".to_owned();
    config.check().expect("configuration builds")
}

#[test]
fn the_same_file_twice_logs_no_clue_and_no_raw_unit_again() {
    let built = config();
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
        let first = ingestor
            .ingest_bytes(FeedId::Hotline12345, "hotline12345.jsonl", HOTLINE)
            .expect("ingest");
        assert_eq!((first.raw_units, first.new_clues, first.new_versions), (6, 5, 1));
        assert_eq!(log.end_offset("raw.hotline12345").expect("end"), 6);
    }
    // Reopened, as a new process would.
    let log = EmbeddedLog::open(dir.path()).expect("reopen");
    let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
    let second = ingestor
        .ingest_bytes(FeedId::Hotline12345, "hotline12345-again.jsonl", HOTLINE)
        .expect("ingest");
    assert_eq!(
        (second.raw_units, second.new_clues, second.new_versions),
        (0, 0, 0)
    );
    assert_eq!(second.duplicates, 6);
    assert_eq!(log.end_offset("raw.hotline12345").expect("end"), 6);
    assert_eq!(log.end_offset("clues").expect("end"), 6);

    // A re-delivery with a changed status is version 3 of the same clue, pointing at its own raw unit.
    let resent = String::from_utf8_lossy(HOTLINE)
        .lines()
        .next()
        .expect("a line")
        .replace("\"blzt\":\"待派单\"", "\"blzt\":\"已办结\"");
    let third = ingestor
        .ingest_bytes(
            FeedId::Hotline12345,
            "hotline12345-resent.jsonl",
            resent.as_bytes(),
        )
        .expect("ingest");
    assert_eq!((third.raw_units, third.new_versions), (1, 1));
    let mut versions = Vec::new();
    for_each_clue(&log, |clue| {
        if clue.source_id == "RG2026060300417" {
            versions.push((clue.version, clue.source_status.clone(), clue.raw.offset));
        }
    })
    .expect("read clues");
    assert_eq!(
        versions,
        vec![
            (1, Some("待派单".to_owned()), 0),
            (2, Some("已派单".to_owned()), 1),
            (3, Some("已办结".to_owned()), 6),
        ]
    );
}
