//! Raw units older than `[store] raw_retention_days` are deleted by the pipeline's supervision, and nothing
//! else changes: the clues, warnings and work orders stand, a restart rebuilds the same projections, the store
//! still checks, and new units take new offsets.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use yujing_engine::vault::{Unsealed, Vault};
use yujing_engine::{EngineConfig, ManualClock, Pipeline};
use yujing_log::{EmbeddedLog, Log};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn samples(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/feeds")
        .join(name)
}

#[test]
fn supervision_deletes_raw_units_past_their_retention_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    config.store.raw_retention_days = 30;
    let built = config.check().unwrap_or_else(|e| panic!("{e}"));
    let vault = Vault::new(built.normalizer.hasher());
    let clock = Arc::new(ManualClock::new(at("2026-06-03T09:00:00Z")));
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(dir.path()).unwrap_or_else(|e| panic!("{e}")));
    let mut pipeline =
        Pipeline::open(log.clone(), built.clone(), clock.clone()).unwrap_or_else(|e| panic!("{e}"));
    // The hotline's export is logged on 3 June, the grid's on 20 June.
    pipeline
        .ingest_paths(&[samples("hotline12345.sample.jsonl")])
        .unwrap_or_else(|e| panic!("{e}"));
    clock.set(at("2026-06-20T09:00:00Z"));
    pipeline
        .ingest_paths(&[samples("grid.sample.jsonl")])
        .unwrap_or_else(|e| panic!("{e}"));
    let hotline_units = log.end_offset("raw.hotline12345").unwrap_or(0);
    let grid_units = log.end_offset("raw.grid").unwrap_or(0);
    assert!(hotline_units > 0 && grid_units > 0);
    let warnings = log.end_offset("warnings").unwrap_or(0);
    let clues = log.end_offset("clues").unwrap_or(0);

    // 30 days after the first export: nothing is old enough yet.
    clock.set(at("2026-07-03T08:00:00Z"));
    pipeline.supervise().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.start_offset("raw.hotline12345").unwrap_or(9), 0);
    // A day later the hotline's units go; the grid's, logged later, stay.
    clock.set(at("2026-07-04T10:00:00Z"));
    pipeline.supervise().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.start_offset("raw.hotline12345").unwrap_or(0), hotline_units);
    assert!(log
        .read("raw.hotline12345", 0, 100)
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
    assert_eq!(log.start_offset("raw.grid").unwrap_or(9), 0);
    for entry in log.read("raw.grid", 0, 100).unwrap_or_else(|e| panic!("{e}")) {
        assert!(matches!(
            vault.open(log.as_ref(), &entry.record.value),
            Ok(Unsealed::Opened(_))
        ));
    }
    // The projections' topics are untouched, and a restart rebuilds the same state without the raw units.
    assert_eq!(log.end_offset("clues").unwrap_or(0), clues);
    assert_eq!(log.end_offset("warnings").unwrap_or(0), warnings);
    let orders = serde_json::to_string(&pipeline.orders().orders().collect::<Vec<_>>()).unwrap_or_default();
    assert!(orders.len() > 10, "{orders}");
    drop(pipeline);
    let reopened = Pipeline::open(log.clone(), built, clock.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serde_json::to_string(&reopened.orders().orders().collect::<Vec<_>>()).unwrap_or_default(),
        orders
    );
    // The same export delivered again adds nothing: its clues are duplicates and its units known.
    let mut reopened = reopened;
    clock.set(at("2026-07-04T10:00:00Z") + Duration::hours(1));
    let (report, _) = reopened
        .ingest_paths(&[samples("hotline12345.sample.jsonl")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.total.new_clues + report.total.new_versions, 0);
    assert_eq!(log.end_offset("raw.hotline12345").unwrap_or(0), hotline_units);
}
