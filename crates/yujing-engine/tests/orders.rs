//! Work orders as a projection of the log: the resolution of an order reaches the correlator in log order, also
//! when the pipeline is rebuilt, and reopening the pipeline rebuilds every order exactly.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use yujing_engine::{CorrelationStage, EngineConfig, ManualClock, OrderStage, Pipeline};
use yujing_log::{EmbeddedLog, Log};
use yujing_model::{Actor, FeedId, OrderStatus, Role, WarningLevel};
use yujing_workorder::Command;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn built() -> yujing_engine::Built {
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    config.check().unwrap_or_else(|e| panic!("{e}"))
}

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/feeds")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn first_lines(name: &str, n: usize) -> Vec<u8> {
    let text = String::from_utf8(sample(name)).unwrap_or_default();
    (text.lines().take(n).collect::<Vec<_>>().join("\n") + "\n").into_bytes()
}

fn open(store: &Path, clock: &ManualClock) -> Pipeline {
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(store).unwrap_or_else(|e| panic!("{e}")));
    Pipeline::open(log, built(), Arc::new(clock.clone())).unwrap_or_else(|e| panic!("{e}"))
}

/// The seed case's first five reports (hotline ×3, grid, police, screening ×2 of the samples, cut before the
/// later ones): enough for the orange warning and its order.
fn ingest_the_first_five_reports(pipeline: &mut Pipeline) {
    let police = sample("police.sample.csv");
    let second = police
        .windows(20)
        .position(|w| w == b"J3206822026061001207")
        .unwrap_or(police.len());
    for (feed, file, body) in [
        (
            FeedId::Hotline12345,
            "hotline.jsonl",
            first_lines("hotline12345.sample.jsonl", 3),
        ),
        (FeedId::Grid, "grid.jsonl", first_lines("grid.sample.jsonl", 1)),
        (FeedId::Police, "police.csv", police[..second].to_vec()),
        (
            FeedId::Screening,
            "screening.csv",
            first_lines("screening.sample.csv", 2),
        ),
    ] {
        pipeline
            .ingest_bytes(feed, file, &body)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn centre() -> Actor {
    Actor {
        name: "centre".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    }
}

#[test]
fn reports_after_a_resolution_raise_red_and_a_rebuild_sees_the_same_resolution() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("store");
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut pipeline = open(&store, &clock);

    // Five reports: orange, and its order.
    ingest_the_first_five_reports(&mut pipeline);
    let order_id = {
        let orders: Vec<_> = pipeline.orders().orders().collect();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].level, WarningLevel::Orange);
        orders[0].order_id.clone()
    };

    // Handled and resolved on the evening of the 10th.
    for (time, command) in [
        ("2026-06-10T08:10:00Z", Command::Dispatch { unit: None }),
        ("2026-06-10T08:20:00Z", Command::Accept),
        (
            "2026-06-10T11:00:00Z",
            Command::Resolve {
                summary: "the company promised to repair the lift".to_owned(),
            },
        ),
    ] {
        clock.set(at(time));
        pipeline
            .command(&order_id, &command, &centre(), None)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // The later reports (the 11th, 12th and 13th): the closure did not hold.
    clock.set(at("2026-06-14T01:00:00Z"));
    let mut raised = Vec::new();
    for (feed, name) in [
        (FeedId::Hotline12345, "hotline12345.sample.jsonl"),
        (FeedId::Justice, "justice.sample.xml"),
        (FeedId::Grid, "grid.sample.jsonl"),
        (FeedId::Exchange, "exchange.sample.jsonl"),
    ] {
        let (_, step) = pipeline
            .ingest_bytes(feed, name, &sample(name))
            .unwrap_or_else(|e| panic!("{e}"));
        raised.extend(step.warnings);
    }
    let back = raised
        .iter()
        .find(|w| w.rule == "back-after-resolution")
        .unwrap_or_else(|| panic!("no back-after-resolution warning in {raised:#?}"));
    assert_eq!(back.level, WarningLevel::Red);
    let back_id = back.warning_id.clone();
    assert!(back
        .evidence
        .iter()
        .all(|e| e.occurred_at > at("2026-06-10T11:00:00Z")));
    // The red warning reopened nothing (the order is resolved, not closed): it raised the order's level.
    let order = pipeline
        .orders()
        .order(&order_id)
        .cloned()
        .unwrap_or_else(|| panic!("order"));
    assert_eq!(order.level, WarningLevel::Red);
    assert_eq!(order.status, OrderStatus::Resolved);
    let history = pipeline.history(&order_id).unwrap_or_else(|e| panic!("{e}"));
    drop(pipeline);

    // Reopening rebuilds the correlator with the resolution in the same place: nothing new is written, and the
    // orders fold back to exactly the same state.
    let log = EmbeddedLog::open(&store).unwrap_or_else(|e| panic!("{e}"));
    let ends: Vec<u64> = ["links", "warnings", "workorders", "outbox"]
        .iter()
        .map(|t| log.end_offset(t).unwrap_or_default())
        .collect();
    drop(log);
    let pipeline = open(&store, &clock);
    assert_eq!(pipeline.orders().order(&order_id), Some(&order));
    assert_eq!(
        pipeline.history(&order_id).unwrap_or_else(|e| panic!("{e}")),
        history
    );
    drop(pipeline);
    let log = EmbeddedLog::open(&store).unwrap_or_else(|e| panic!("{e}"));
    let after: Vec<u64> = ["links", "warnings", "workorders", "outbox"]
        .iter()
        .map(|t| log.end_offset(t).unwrap_or_default())
        .collect();
    assert_eq!(ends, after, "reopening wrote nothing");
    let stage = OrderStage::open(&log, built().policy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stage.order(&order_id), Some(&order));
    // The rebuilt correlator derived exactly the warnings on the log, the one counting reports after the
    // resolution included: the resolution reached it at the same place.
    let (correlation, _) = CorrelationStage::open(&log, &built().correlate).unwrap_or_else(|e| panic!("{e}"));
    let mut on_log = Vec::new();
    yujing_engine::for_each_warning(&log, |w| on_log.push(w)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(correlation.rederived_warnings(), on_log.as_slice());
    assert!(on_log
        .iter()
        .any(|w| w.warning_id == back_id && w.rule == "back-after-resolution"));
}

fn warning(id: &str, cluster: &str, level: WarningLevel, raised_at: &str) -> yujing_model::Warning {
    let mut warning = yujing_test_support::warning(id, cluster, level, at(raised_at));
    warning.rule = "test".to_owned();
    warning.reporters = 2;
    warning.subject.place = None;
    warning
}

fn append<T: serde::Serialize>(log: &EmbeddedLog, topic: &str, key: &str, value: &T) {
    let mut batch = yujing_log::Batch::new();
    batch.append(
        topic,
        yujing_log::Record {
            key: key.as_bytes().to_vec(),
            value: serde_json::to_vec(value).unwrap_or_default(),
            timestamp_ms: 0,
        },
    );
    log.write(batch).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_warning_on_the_cluster_another_was_merged_into_finds_the_merged_clusters_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = EmbeddedLog::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut stage = OrderStage::open(&log, built().policy).unwrap_or_else(|e| panic!("{e}"));
    let now = at("2026-06-10T08:00:00Z");

    append(
        &log,
        "warnings",
        "w-a",
        &warning("w-a", "k-a", WarningLevel::Orange, "2026-06-08T07:00:00Z"),
    );
    let opened = stage.advance(&log, now).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(opened.len(), 1);
    let order_id = opened[0].order_id.clone();

    // k-a is absorbed into k-b; k-b's warning turns red.
    append(
        &log,
        "links",
        "k-b",
        &yujing_model::CorrelationEvent::Merged {
            cluster_id: "k-b".to_owned(),
            merged: "k-a".to_owned(),
            by_clue_id: "grid:1".to_owned(),
        },
    );
    append(
        &log,
        "warnings",
        "w-b",
        &warning("w-b", "k-b", WarningLevel::Red, "2026-06-09T07:00:00Z"),
    );
    let events = stage.advance(&log, now).unwrap_or_else(|e| panic!("{e}"));
    assert!(events.iter().all(|e| e.order_id == order_id), "{events:#?}");
    assert_eq!(events[0].change.name(), "level_raised");
    assert_eq!(stage.orders().count(), 1);
    assert_eq!(stage.orders_of_cluster("k-b").len(), 1);
    // Reading the same warnings again does nothing: the stage recorded how far it read.
    assert!(stage.advance(&log, now).unwrap_or_default().is_empty());
    let reopened = OrderStage::open(&log, built().policy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reopened.order(&order_id), stage.order(&order_id));
}

#[test]
fn numbers_an_operator_types_into_a_reason_or_a_summary_are_redacted_on_the_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("store");
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut pipeline = open(&store, &clock);
    ingest_the_first_five_reports(&mut pipeline);
    let order_id = pipeline
        .orders()
        .orders()
        .next()
        .map(|o| o.order_id.clone())
        .unwrap_or_else(|| panic!("an order"));
    let clear = [
        "13962751208",
        "139-6275-1208",
        "１３９６２７５１２０８",
        "320682197805126617",
    ];
    for command in [
        Command::Dispatch { unit: None },
        Command::Accept,
        Command::Resolve {
            summary: "已联系业主赵某，电话139-6275-1208，身份证320682 19780512 6617".to_owned(),
        },
    ] {
        pipeline
            .command(
                &order_id,
                &command,
                &centre(),
                Some("回访电话１３９６２７５１２０８，另一号码13962751208"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let history = serde_json::to_string(&pipeline.history(&order_id).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_default();
    assert!(history.contains("139****1208"), "{history}");
    for number in clear {
        assert!(!history.contains(number), "{number} in {history}");
    }
    assert!(!yujing_feeds::pii::contains_clear_pii(&history), "{history}");
}
