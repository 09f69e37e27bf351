//! Snapshots of the projections: a restart from a snapshot and the log after it gives exactly what a rebuild
//! from the whole log gives, and a missing, old, damaged or foreign snapshot falls back to the rebuild and
//! says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use yujing_engine::{Clock, EngineConfig, ManualClock, NoSnapshot, Pipeline, Restart};
use yujing_log::{EmbeddedLog, Log};
use yujing_model::{Actor, FeedId, Role, Warning, WorkOrderEvent};
use yujing_workorder::Command;

const START: &str = "2026-04-01T02:00:00Z";

fn built() -> yujing_engine::Built {
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    // Small, so that snapshots are also written in the middle of a step.
    config.store.snapshot_every_clues = 60;
    config.check().unwrap_or_else(|e| panic!("{e}"))
}

/// Three deliveries of a simulated quarter (150 disputes), each a third of the export files.
fn deliveries() -> Vec<Vec<(FeedId, String, Vec<u8>)>> {
    yujing_test_support::simulated_deliveries(built().normalizer.gazetteer(), 7, 150, 90, 3)
}

fn centre() -> Actor {
    Actor {
        name: "值班员".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    }
}

fn open(store: &Path, built: yujing_engine::Built, clock: &ManualClock) -> Pipeline {
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(store).unwrap_or_else(|e| panic!("{e}")));
    Pipeline::open(log, built, Arc::new(clock.clone())).unwrap_or_else(|e| panic!("{e}"))
}

/// One delivery, an operator resolving the oldest open order, supervision a few days later, and (`stop`) the
/// snapshot written when yujing stops.
fn step(pipeline: &mut Pipeline, clock: &ManualClock, files: &[(FeedId, String, Vec<u8>)], stop: bool) {
    for (feed, name, bytes) in files {
        pipeline
            .ingest_bytes(*feed, name, bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let open_order = pipeline
        .orders()
        .orders()
        .find(|o| !o.status.is_final())
        .map(|o| o.order_id.clone());
    if let Some(order_id) = open_order {
        for command in [
            Command::Dispatch { unit: None },
            Command::Accept,
            Command::Resolve {
                summary: "双方达成协议".to_owned(),
            },
        ] {
            // Refusals (an order already dispatched) are fine: the same happens in both stores.
            let _ = pipeline.command(&order_id, &command, &centre(), None);
        }
    }
    clock.set(Clock::now(clock) + Duration::days(4));
    pipeline.supervise().unwrap_or_else(|e| panic!("{e}"));
    if stop {
        pipeline.snapshot_if_due(true);
    }
}

/// Every record of `topic`, key and value.
fn topic(store: &Path, topic: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let log = EmbeddedLog::open_read_only(store).unwrap_or_else(|e| panic!("{e}"));
    yujing_test_support::records(&log, topic)
}

fn snapshots(store: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(store.join("snapshots"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "yjs"));
    files.sort();
    files
}

fn start_clock() -> ManualClock {
    ManualClock::new(
        DateTime::parse_from_rfc3339(START)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// The same three steps on two stores, one restarting from its snapshots, the other from the whole log each
/// time (its snapshots removed before every start).
fn two_stores(dir: &Path) -> (PathBuf, PathBuf) {
    let parts = deliveries();
    let with = dir.join("with-snapshots");
    let without = dir.join("rebuilt");
    let mut tails = 0;
    for (store, keep) in [(&with, true), (&without, false)] {
        let clock = start_clock();
        for (i, files) in parts.iter().enumerate() {
            if !keep {
                let _ = std::fs::remove_dir_all(store.join("snapshots"));
            }
            let mut pipeline = open(store, built(), &clock);
            match (keep, i, pipeline.restart()) {
                (_, 0, Restart::Rebuilt { replayed: 0, because }) => assert_eq!(*because, NoSnapshot::None),
                (true, _, Restart::Snapshot { replayed, .. }) => tails += *replayed,
                (false, _, Restart::Rebuilt { replayed, because }) => {
                    assert!(*replayed > 0);
                    assert_eq!(*because, NoSnapshot::None);
                }
                (_, _, other) => panic!("step {i}, snapshots kept: {keep}: {other:?}"),
            }
            // The second step ends as a crash would: the next start replays what came after the last
            // periodic snapshot (clues, resolutions, supervision).
            step(&mut pipeline, &clock, files, i != 1);
            clock.set(Clock::now(&clock) + Duration::hours(1));
        }
    }
    assert!(tails > 0, "no restart replayed a tail after its snapshot");
    (with, without)
}

#[test]
fn a_restart_from_a_snapshot_gives_exactly_the_warnings_and_orders_of_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (with, without) = two_stores(dir.path());
    for name in ["links", "warnings", "workorders", "outbox"] {
        let (a, b) = (topic(&with, name), topic(&without, name));
        assert!(!a.is_empty(), "{name} is empty");
        assert!(
            a == b,
            "{name}: {} records with snapshots, {} rebuilt",
            a.len(),
            b.len()
        );
    }
    assert!(topic(&with, "warnings").len() >= 5);
    assert!(topic(&with, "workorders").len() >= 10);
    // Two snapshots are kept, the newest covering every clue.
    let kept = snapshots(&with);
    assert_eq!(kept.len(), 2, "{kept:?}");

    // A restart from the newest snapshot holds the same state as one from the whole log.
    let clock = start_clock();
    let from_snapshot = open(&with, built(), &clock);
    assert!(matches!(
        from_snapshot.restart(),
        Restart::Snapshot { replayed: 0, .. }
    ));
    let _ = std::fs::remove_dir_all(without.join("snapshots"));
    let rebuilt = open(&without, built(), &clock);
    let orders = |p: &Pipeline| {
        p.orders()
            .orders()
            .map(|o| serde_json::to_string(o).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(orders(&from_snapshot), orders(&rebuilt));
    // Each order's trail is read back from the log: the order's events in `workorders`, in order, whether the
    // stage was restored from a snapshot or rebuilt.
    let events: Vec<WorkOrderEvent> = topic(&with, "workorders")
        .into_iter()
        .map(|(_, value)| serde_json::from_slice(&value).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for order in rebuilt.orders().orders() {
        let trail: Vec<&WorkOrderEvent> = events.iter().filter(|e| e.order_id == order.order_id).collect();
        assert!(!trail.is_empty());
        for pipeline in [&from_snapshot, &rebuilt] {
            let history = pipeline
                .history(&order.order_id)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(history.iter().collect::<Vec<_>>(), trail, "{}", order.order_id);
        }
    }
    assert_eq!(
        from_snapshot.history("wo-none").unwrap_or_else(|e| panic!("{e}")),
        []
    );
    // The stage keeps a summary of each warning; the whole warning, evidence included, is read back from the
    // log, and is the warning as written.
    let summaries = |p: &Pipeline| p.orders().warnings().cloned().collect::<Vec<_>>();
    assert_eq!(summaries(&from_snapshot), summaries(&rebuilt));
    let written: BTreeMap<String, Warning> = topic(&with, "warnings")
        .into_iter()
        .map(|(_, value)| serde_json::from_slice::<Warning>(&value).unwrap_or_else(|e| panic!("{e}")))
        .map(|w| (w.warning_id.clone(), w))
        .collect();
    assert_eq!(summaries(&from_snapshot).len(), written.len());
    let read_back = from_snapshot
        .warnings_in_full(from_snapshot.orders().warnings())
        .unwrap_or_else(|e| panic!("{e}"));
    for warning in &read_back {
        assert!(
            !warning.evidence.is_empty(),
            "{} read back without evidence",
            warning.warning_id
        );
        assert_eq!(Some(warning), written.get(&warning.warning_id));
        let one = from_snapshot
            .warning(&warning.warning_id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.as_ref(), Some(warning));
    }
    assert_eq!(
        from_snapshot.warning("w-none").unwrap_or_else(|e| panic!("{e}")),
        None
    );
    assert_eq!(from_snapshot.correlator().stats(), rebuilt.correlator().stats());
}

#[test]
fn a_damaged_old_foreign_or_mismatched_snapshot_falls_back_to_a_full_rebuild_and_says_why() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (with, _) = two_stores(dir.path());
    let clock = start_clock();
    let reasons = |p: &Pipeline| match p.restart() {
        Restart::Rebuilt {
            because: NoSnapshot::Refused(reasons),
            replayed,
        } => {
            assert!(*replayed > 0);
            reasons.join("\n")
        }
        other => panic!("expected a rebuild, got {other:?}"),
    };
    let stats = |p: &Pipeline| p.correlator().stats();
    let expected = stats(&open(&with, built(), &clock));

    // Each case starts from the two snapshots as written (a rebuild writes a fresh one over the newest).
    let saved: Vec<(PathBuf, Vec<u8>)> = snapshots(&with)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, bytes)
        })
        .collect();
    let restore = |saved: &[(PathBuf, Vec<u8>)]| {
        for (path, bytes) in saved {
            std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
        }
    };

    // Other settings: every snapshot refused, the state rebuilt under the settings in force.
    let mut other = built();
    other.correlate.scoring.link_threshold += 1.0;
    let pipeline = open(&with, other, &clock);
    assert!(reasons(&pipeline).contains("taken under other [correlate] settings"));
    drop(pipeline);

    // Another layout: the header's format number raised.
    restore(&saved);
    let format = format!("\"format\":{},", yujing_engine::snapshot::FORMAT);
    for (path, bytes) in &saved {
        let text = bytes.clone();
        let at = text
            .windows(format.len())
            .position(|w| w == format.as_bytes())
            .unwrap_or_else(|| panic!("no {format} in {}", path.display()));
        let mut changed = text;
        // The number becomes 9 (one digit, so the header's length stays the same).
        changed[at + format.len() - 2] = b'9';
        std::fs::write(path, changed).unwrap_or_else(|e| panic!("{e}"));
    }
    let pipeline = open(&with, built(), &clock);
    let why = reasons(&pipeline);
    assert!(why.contains("in format 9/"), "{why}");
    assert_eq!(stats(&pipeline), expected);
    drop(pipeline);

    // A flipped byte in the correlator's section of the newest, and the older one cut short: the newest is
    // damaged, the older unreadable.
    restore(&saved);
    let (newest, newest_bytes) = &saved[1];
    let mut flipped = newest_bytes.clone();
    let last = flipped.len() - 200;
    flipped[last] ^= 0x20;
    std::fs::write(newest, &flipped).unwrap_or_else(|e| panic!("{e}"));
    let (older, older_bytes) = &saved[0];
    std::fs::write(older, &older_bytes[..older_bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let pipeline = open(&with, built(), &clock);
    let why = reasons(&pipeline);
    assert!(why.contains("is damaged (checksum)"), "{why}");
    assert!(why.contains("cut short"), "{why}");
    assert_eq!(stats(&pipeline), expected);
    drop(pipeline);

    // Only the older one damaged: the newest is used.
    restore(&saved[1..]);
    std::fs::write(older, &older_bytes[..older_bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        open(&with, built(), &clock).restart(),
        Restart::Snapshot { .. }
    ));

    // Another store's snapshot: refused, whatever its name says.
    let foreign = dir.path().join("foreign");
    let parts = deliveries();
    let mut pipeline = open(&foreign, built(), &clock);
    for (feed, name, bytes) in &parts[0][..2] {
        pipeline
            .ingest_bytes(*feed, name, bytes)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    drop(pipeline);
    let _ = std::fs::remove_dir_all(foreign.join("snapshots"));
    std::fs::create_dir_all(foreign.join("snapshots")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        newest,
        foreign
            .join("snapshots")
            .join("snapshot-00000000000000000001.yjs"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let pipeline = open(&foreign, built(), &clock);
    let why = reasons(&pipeline);
    assert!(why.contains("another store"), "{why}");
}
