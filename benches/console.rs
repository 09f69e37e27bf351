#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! The command centre's page: the server time of its board (every panel, scoped and serialised) over 10,000
//! warnings and 1,000 open work orders, for the centre and for a town handler.
//!
//! `cargo bench -p yujing-server --bench console`

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use yujing_engine::{EngineConfig, WarningSummary};
use yujing_model::{Actor, DisputeType, FeedId, GeoPoint, Role, Warning, WarningEvidence, WarningLevel};
use yujing_server::console::board::{board, BoardFilter};
use yujing_server::console::map::CountyMap;
use yujing_server::Principal;
use yujing_test_support::{at, in_town, warning};
use yujing_workorder::{Command, WorkOrder};

const WARNINGS: usize = 10_000;
const OPEN_ORDERS: usize = 1_000;

/// Deterministic pseudo-random numbers (a linear congruential generator): the same data every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// 10,000 warnings of 4,000 disputes over a year, over the county's towns; seven in ten carry a point.
fn warnings(towns: &[(String, String)]) -> Vec<Warning> {
    let mut rng = Lcg(7);
    let start = at("2026-01-01T00:00:00Z");
    (0..WARNINGS)
        .map(|i| {
            let dispute = i % 4_000;
            let (code, name) = &towns[dispute % towns.len()];
            let raised_at = start + Duration::minutes(rng.next(365 * 24 * 60) as i64);
            let evidence = (0..5)
                .map(|k| WarningEvidence {
                    clue_id: format!("hotline12345:RG{i}-{k}"),
                    feed: FeedId::Hotline12345,
                    source_id: format!("RG{i}-{k}"),
                    occurred_at: raised_at - Duration::days(5 - k),
                    matched: vec!["estate".to_owned()],
                    score: 9.5,
                    risk_flags: BTreeSet::new(),
                    people_involved: None,
                })
                .collect();
            // The draws in this order, so the data stay those docs/PERFORMANCE.md measured.
            let level = if i >= 4_000 && rng.next(3) == 0 {
                WarningLevel::Red
            } else {
                WarningLevel::Orange
            };
            let occurrences = 5 + rng.next(6) as u32;
            let location = (rng.next(10) < 7).then(|| GeoPoint {
                lng: 120.40 + rng.next(4_000) as f64 / 10_000.0,
                lat: 32.05 + rng.next(4_000) as f64 / 10_000.0,
            });
            let cluster = format!("k-{dispute:05}");
            let mut warning = in_town(
                warning(&format!("w-{i:05}"), &cluster, level, raised_at),
                (code, name),
            );
            warning.rule = "recurring-orange".to_owned();
            warning.occurrences = occurrences;
            warning.feeds = vec![FeedId::Hotline12345, FeedId::Grid];
            warning.episode = 1 + (i / 4_000) as u32;
            warning.subject.dispute_type = DisputeType::ALL[dispute % DisputeType::ALL.len()];
            warning.subject.place = Some(format!("花苑{}", dispute % 500));
            warning.evidence = evidence;
            warning.location = location;
            warning
        })
        .collect()
}

fn main_bench(c: &mut Criterion) {
    let mut config = EngineConfig::defaults();
    config.pii.demo = true;
    let built = config.check().expect("the defaults build in demo mode");
    let gazetteer_towns = built.normalizer.gazetteer().towns().to_vec();
    let towns: Vec<(String, String)> = gazetteer_towns
        .iter()
        .map(|t| (t.code.clone(), t.name.clone()))
        .collect();
    let map = CountyMap::new(Arc::clone(&built.outline));
    let warnings = warnings(&towns);
    // What the work-order stage keeps of them, as the page gets them.
    let summaries: Vec<WarningSummary> = warnings
        .iter()
        .enumerate()
        .map(|(offset, w)| WarningSummary::of(w, offset as u64))
        .collect();
    let system = Actor {
        name: "centre".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    };
    // 1,000 open orders in every open state, and 500 closed ones.
    let mut orders = Vec::new();
    for (n, warning) in warnings.iter().take(OPEN_ORDERS + 500).enumerate() {
        let events = WorkOrder::open(warning, &built.policy);
        let mut order = WorkOrder::from_first(&events[0]).expect("an opening event");
        for event in &events[1..] {
            order.apply(event);
        }
        let steps: &[Command] = match n % 4 {
            0 => &[],
            1 => &[Command::Triage],
            2 => &[Command::Dispatch { unit: None }],
            _ => &[Command::Dispatch { unit: None }, Command::Accept],
        };
        let steps: Vec<Command> = if n >= OPEN_ORDERS {
            vec![
                Command::Dispatch { unit: None },
                Command::Accept,
                Command::Resolve {
                    summary: "已化解".to_owned(),
                },
                Command::Verify {
                    satisfaction: yujing_model::Satisfaction::Satisfied,
                },
                Command::Close,
            ]
        } else {
            steps.to_vec()
        };
        for command in &steps {
            let events = order
                .decide(command, &system, None, warning.raised_at, &built.policy, None)
                .expect("a valid step");
            for event in &events {
                order.apply(event);
            }
        }
        orders.push(order);
    }
    let now = at("2026-12-31T12:00:00Z");
    let centre = Principal {
        actor: system.clone(),
        town: None,
    };
    let handler = Principal {
        actor: Actor {
            name: "baipu".to_owned(),
            role: Role::TownHandler,
            unit: "白蒲镇".to_owned(),
        },
        town: Some("白蒲镇".to_owned()),
    };
    let filter = BoardFilter::default();
    let mut group = c.benchmark_group("console_board");
    group.sample_size(20);
    group.bench_function("centre_10k_warnings_1k_open_orders", |b| {
        b.iter(|| {
            let board = board(&summaries, &orders, &gazetteer_towns, &map, &centre, &filter, now);
            black_box(serde_json::to_vec(&board).expect("serialises"))
        })
    });
    group.bench_function("town_handler_10k_warnings_1k_open_orders", |b| {
        b.iter(|| {
            let board = board(
                &summaries,
                &orders,
                &gazetteer_towns,
                &map,
                &handler,
                &filter,
                now,
            );
            black_box(serde_json::to_vec(&board).expect("serialises"))
        })
    });
    let bytes = serde_json::to_vec(&board(
        &summaries,
        &orders,
        &gazetteer_towns,
        &map,
        &centre,
        &filter,
        now,
    ))
    .expect("serialises");
    eprintln!("the centre's board: {} bytes of JSON", bytes.len());
    group.finish();
}

criterion_group!(benches, main_bench);
criterion_main!(benches);
