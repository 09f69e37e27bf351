#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! The work-order aggregate: deciding a command and applying its events, and supervising many open orders.
//!
//! `cargo bench -p yujing-workorder --bench workorder`

use chrono::{DateTime, Duration, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use yujing_model::{Actor, Role, Warning, WarningLevel};
use yujing_workorder::{Command, Policy, WorkOrder, WorkOrderConfig};

const CONFIG: &str = include_str!("../config/yujing.toml");

fn policy() -> Policy {
    let table: toml::Table = toml::from_str(CONFIG).expect("the built-in configuration parses");
    let section = table.get("workorders").cloned().expect("[workorders]");
    let config: WorkOrderConfig = section.try_into().expect("[workorders] is valid");
    config.build().expect("the policy builds")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .expect("a valid time")
}

fn warning(i: usize) -> Warning {
    let raised_at = at("2026-06-08T07:20:00Z") + Duration::minutes(i as i64 % 600);
    yujing_test_support::warning(
        &format!("w-bench-{i}"),
        &format!("k-{i}"),
        WarningLevel::Orange,
        raised_at,
    )
}

fn centre() -> Actor {
    Actor {
        name: "centre".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    }
}

fn bench(c: &mut Criterion) {
    let policy = policy();
    let raised = WorkOrder::open(&warning(1), &policy);
    let order = WorkOrder::from_first(&raised[0]).expect("an order");
    let now = at("2026-06-08T08:00:00Z");

    c.bench_function("decide dispatch (routing + working-day deadlines)", |b| {
        b.iter(|| {
            black_box(
                order
                    .decide(
                        &Command::Dispatch { unit: None },
                        &centre(),
                        None,
                        now,
                        &policy,
                        None,
                    )
                    .expect("dispatch is allowed"),
            )
        })
    });
    let events = order
        .decide(
            &Command::Dispatch { unit: None },
            &centre(),
            None,
            now,
            &policy,
            None,
        )
        .expect("dispatch is allowed");
    c.bench_function("apply the dispatch events", |b| {
        b.iter(|| {
            let mut state = order.clone();
            for event in &events {
                state.apply(black_box(event));
            }
            black_box(state)
        })
    });
    // Supervision walks every open order at each tick: 10,000 dispatched orders, one past its deadline in ten.
    let orders: Vec<WorkOrder> = (0..10_000)
        .map(|i| {
            let raised = WorkOrder::open(&warning(i), &policy);
            let mut order = WorkOrder::from_first(&raised[0]).expect("an order");
            let dispatched_at = if i % 10 == 0 {
                now - Duration::days(20)
            } else {
                now
            };
            for event in order
                .decide(
                    &Command::Dispatch { unit: None },
                    &centre(),
                    None,
                    dispatched_at,
                    &policy,
                    None,
                )
                .expect("dispatch")
            {
                order.apply(&event);
            }
            order
        })
        .collect();
    let tick = now + Duration::hours(1);
    c.bench_function("supervise 10,000 open orders", |b| {
        b.iter(|| {
            let events: usize = orders
                .iter()
                .map(|o| o.supervise(black_box(tick), &policy).len())
                .sum();
            black_box(events)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
