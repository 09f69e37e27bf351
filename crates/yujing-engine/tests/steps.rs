//! Every step of the pipeline is one commit to the log (one Kafka transaction), and a step that fails leaves
//! nothing behind: neither on the log nor in the stages, which carry on as if it had never run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use yujing_engine::{EngineConfig, ManualClock, Pipeline};
use yujing_log::{Batch, EmbeddedLog, Entry, Log, LogError, Offset};
use yujing_model::{Actor, FeedId, Role};
use yujing_workorder::Command;

/// The embedded log, counting its writes and failing them on demand (as a full disk does).
struct Faulty {
    log: EmbeddedLog,
    writes: AtomicUsize,
    failing: AtomicBool,
}

impl Log for Faulty {
    fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(LogError::Corrupt {
                topic: "any".to_owned(),
                offset: 0,
                reason: "no space left on device (injected)".to_owned(),
            });
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.log.write(batch)
    }

    fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
        self.log.read(topic, from, max)
    }

    fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
        self.log.end_offset(topic)
    }

    fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
        self.log.state(key)
    }
}

fn built() -> yujing_engine::Built {
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    config.check().unwrap_or_else(|e| panic!("{e}"))
}

fn clock() -> ManualClock {
    ManualClock::new(
        DateTime::parse_from_rfc3339("2026-04-01T02:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// A simulated quarter's export files (120 disputes) in three deliveries.
fn deliveries() -> Vec<Vec<(FeedId, String, Vec<u8>)>> {
    yujing_test_support::simulated_deliveries(built().normalizer.gazetteer(), 11, 120, 90, 3)
}

fn open(store: &Path, clock: &ManualClock) -> (Pipeline, Arc<Faulty>) {
    let faulty = Arc::new(Faulty {
        log: EmbeddedLog::open(store).unwrap_or_else(|e| panic!("{e}")),
        writes: AtomicUsize::new(0),
        failing: AtomicBool::new(false),
    });
    let log: Arc<dyn Log> = faulty.clone();
    let pipeline = Pipeline::open(log, built(), Arc::new(clock.clone())).unwrap_or_else(|e| panic!("{e}"));
    (pipeline, faulty)
}

fn inputs(files: &[(FeedId, String, Vec<u8>)]) -> Vec<(FeedId, &str, &[u8])> {
    files
        .iter()
        .map(|(feed, name, bytes)| (*feed, name.as_str(), bytes.as_slice()))
        .collect()
}

#[test]
fn a_step_of_several_inputs_and_its_warnings_and_orders_is_one_commit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = clock();
    let (mut pipeline, faulty) = open(dir.path(), &clock);
    let quarter = deliveries().concat();
    let before = faulty.writes.load(Ordering::SeqCst);
    let (reports, step) = pipeline
        .ingest_inputs(&inputs(&quarter))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reports.len() > 1, "{} inputs", reports.len());
    assert!(!step.warnings.is_empty() && !step.order_events.is_empty());
    assert_eq!(
        faulty.writes.load(Ordering::SeqCst) - before,
        1,
        "ingestion of every input, correlation, work orders and positions in one write"
    );
    assert_eq!(pipeline.metrics().commits.get(), 1);

    // A command is a step of its own: one write.
    let order = pipeline
        .orders()
        .orders()
        .next()
        .map(|o| o.order_id.clone())
        .unwrap_or_else(|| panic!("an order"));
    let centre = Actor {
        name: "值班员".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    };
    let before = faulty.writes.load(Ordering::SeqCst);
    pipeline
        .command(&order, &Command::Dispatch { unit: None }, &centre, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faulty.writes.load(Ordering::SeqCst) - before, 1);

    // A step with nothing to do writes nothing.
    let before = faulty.writes.load(Ordering::SeqCst);
    pipeline.advance().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faulty.writes.load(Ordering::SeqCst), before);
}

#[test]
fn a_failed_step_leaves_nothing_behind_and_the_pipeline_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let parts = deliveries();

    // Uninterrupted.
    let clock = clock();
    let (mut clean, clean_log) = open(&dir.path().join("clean"), &clock);
    for files in &parts {
        clean
            .ingest_inputs(&inputs(files))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // The second delivery fails at its commit (the disk is full), then is delivered again once space is freed.
    let clock = self::clock();
    let (mut pipeline, faulty) = open(&dir.path().join("failed"), &clock);
    pipeline
        .ingest_inputs(&inputs(&parts[0]))
        .unwrap_or_else(|e| panic!("{e}"));
    let clues = faulty.end_offset("clues").unwrap_or_else(|e| panic!("{e}"));
    faulty.failing.store(true, Ordering::SeqCst);
    let error = pipeline
        .ingest_inputs(&inputs(&parts[1]))
        .err()
        .unwrap_or_else(|| panic!("the write fails"));
    assert!(format!("{error:?}").contains("no space left"), "{error:?}");
    assert_eq!(
        faulty.end_offset("clues").unwrap_or_else(|e| panic!("{e}")),
        clues
    );
    // Still failing: the next step fails too, and restores nothing twice.
    assert!(pipeline.ingest_inputs(&inputs(&parts[1])).is_err());
    faulty.failing.store(false, Ordering::SeqCst);
    for files in &parts[1..] {
        pipeline
            .ingest_inputs(&inputs(files))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    for name in ["clues", "links", "warnings", "workorders", "outbox"] {
        let (a, b) = (
            yujing_test_support::records(clean_log.as_ref(), name),
            yujing_test_support::records(faulty.as_ref(), name),
        );
        assert!(!a.is_empty(), "{name} is empty");
        assert!(
            a == b,
            "{name}: {} records uninterrupted, {} after the failed step",
            a.len(),
            b.len()
        );
    }
    assert_eq!(clean.correlator().stats(), pipeline.correlator().stats());
    assert_eq!(
        clean.orders().orders().count(),
        pipeline.orders().orders().count()
    );
}
