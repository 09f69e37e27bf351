//! The seed story end to end through the HTTP API: five reports → orange → dispatched to 如城街道 → handled
//! without effect → escalated → joint handling → resolved → verified → closed; with the webhook receiver down
//! for part of it and yujing restarted mid-way, the receiver sees every event exactly once, in order.

mod common;

use axum::http::StatusCode;
use common::{at, Client, Receiver};
use serde_json::{json, Value};
use yujing_engine::{ManualClock, OutboxEvent};
use yujing_log::{EmbeddedLog, Log};

fn names(history: &Value) -> Vec<String> {
    history
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_story_from_five_reports_to_closure() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("store");
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    // The command centre's receiver is down when the story starts.
    receiver.set_down(true);

    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let server = common::start(&store, &clock, Some(hook)).await;
    let api = Client::new(&server);

    // Five reports arrive over HTTP, each in its feed's own format.
    let mut raised = Vec::new();
    for (feed, file, body) in common::first_five_reports() {
        let answer = api.ingest(feed, file, body).await;
        raised.extend(answer["warnings"].as_array().cloned().unwrap_or_default());
    }
    assert_eq!(raised.len(), 1, "one orange warning: {raised:?}");

    let (status, warnings) = api.get("demo-viewer", "/api/v1/warnings?level=orange").await;
    assert_eq!(status, StatusCode::OK);
    let warning = &warnings["warnings"][0];
    assert_eq!(warning["occurrences"], 5);
    assert_eq!(
        warning["feeds"],
        json!(["hotline12345", "grid", "police", "screening"])
    );
    assert_eq!(warning["subject"]["town_name"], "如城街道");
    assert_eq!(warning["subject"]["dispute_type"], "物业");
    assert_eq!(warning["subject"]["place"], "锦绣华庭");
    let cluster_id = warning["cluster_id"].as_str().unwrap_or_default().to_owned();

    // The cluster shows its evidence, masked.
    let (status, cluster) = api
        .get("demo-centre", &format!("/api/v1/clusters/{cluster_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{cluster}");
    assert_eq!(cluster["reports"], 5);
    let text = cluster.to_string();
    for clear in ["13962751208", "15851309977", "李红梅", "赵国庆", "钱秀英"] {
        assert!(!text.contains(clear), "{clear} in clear in the cluster view");
    }
    // Masked names come without the per-character tokens that would let them be unmasked.
    assert!(text.contains("赵**"), "{text}");
    assert!(!text.contains("name_tokens"), "{text}");

    // The warning opened an order; the centre triages and dispatches it by routing: to 如城街道.
    let (_, orders) = api.get("demo-centre", "/api/v1/orders?status=raised").await;
    assert_eq!(orders["orders"].as_array().map(Vec::len), Some(1), "{orders}");
    let order_id = orders["orders"][0]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    clock.set(at("2026-06-10T08:10:00Z"));
    api.command("demo-centre", &order_id, json!({"command": "triage"}))
        .await;
    clock.set(at("2026-06-10T08:20:00Z"));
    let order = api
        .command("demo-centre", &order_id, json!({"command": "dispatch"}))
        .await;
    assert_eq!(order["unit"], "如城街道");
    assert_eq!(order["status"], "dispatched");
    // Orange: accept by the end of the working day (17:30 local), handle within 7 working days (the Dragon
    // Boat holiday, 19-21 June, does not count).
    assert_eq!(order["accept_by"], "2026-06-10T09:30:00Z");
    assert_eq!(order["handle_by"], "2026-06-22T09:30:00Z");

    // The town signs for the order.
    clock.set(at("2026-06-10T09:00:00Z"));
    api.command("demo-rucheng", &order_id, json!({"command": "accept"}))
        .await;
    let pending = server
        .state()
        .pipeline
        .lock()
        .map(|p| p.outbox_end().unwrap_or_default())
        .unwrap_or_default() as usize;
    assert_eq!(pending, 5, "the warning and four order events wait in the outbox");
    assert!(receiver.accepted().is_empty(), "the receiver is down");

    // yujing restarts mid-way, with the receiver still down; then the receiver comes back and gets what waited.
    server.stop().await;
    let server = common::start(&store, &clock, Some(hook)).await;
    let api = Client::new(&server);
    receiver.set_down(false);
    receiver.wait_for(pending).await;

    clock.set(at("2026-06-10T09:10:00Z"));
    api.command(
        "demo-rucheng",
        &order_id,
        json!({"command": "start", "reason": "the community's mediator talks with the owners and the company"}),
    )
    .await;
    // The mediator's talks have no effect: escalated (提级) to joint handling by several departments.
    clock.set(at("2026-06-11T02:00:00Z"));
    let order = api
        .command(
            "demo-rucheng",
            &order_id,
            json!({
                "command": "escalate",
                "target": {"kind": "joint_handling", "departments": ["市住建局", "如城街道", "市司法局"]},
                "reason": "the local mediator's talks had no effect"
            }),
        )
        .await;
    assert_eq!(order["escalation_level"], 2);
    assert_eq!(order["lead"], "联动联办(市住建局、如城街道、市司法局)");

    // More reports arrive meanwhile: the eighth raises the red warning on the same order.
    receiver.set_down(true);
    clock.set(at("2026-06-13T01:00:00Z"));
    for (feed, file, body) in common::all_reports() {
        api.ingest(feed, file, body).await;
    }
    let (_, order) = api
        .get("demo-centre", &format!("/api/v1/orders/{order_id}"))
        .await;
    assert_eq!(order["order"]["level"], "red", "{order}");
    receiver.set_down(false);

    // Joint handling: the parties agree; resolved, verified by a follow-up visit, closed.
    clock.set(at("2026-06-15T07:00:00Z"));
    api.command(
        "demo-rucheng",
        &order_id,
        json!({"command": "resolve", "summary": "joint handling: the company repairs the lift by 30 June; parking fees refunded"}),
    )
    .await;
    clock.set(at("2026-06-17T02:00:00Z"));
    api.command(
        "demo-centre",
        &order_id,
        json!({"command": "verify", "satisfaction": "satisfied", "reason": "follow-up visit to the owners"}),
    )
    .await;
    clock.set(at("2026-06-17T03:00:00Z"));
    let order = api
        .command("demo-centre", &order_id, json!({"command": "close"}))
        .await;
    assert_eq!(order["status"], "closed");

    let (_, detail) = api
        .get("demo-viewer", &format!("/api/v1/orders/{order_id}"))
        .await;
    assert_eq!(
        names(&detail["history"]),
        [
            "raised",
            "triaged",
            "dispatched",
            "accepted",
            "started",
            "escalated",
            "level_raised",
            "resolved",
            "verified",
            "closed"
        ]
    );
    // Every step names its actor, role and unit.
    let dispatched = &detail["history"][2];
    assert_eq!(dispatched["actor"]["role"], "centre");
    assert_eq!(dispatched["actor"]["name"], "demo.centre");
    let escalated = &detail["history"][5];
    assert_eq!(escalated["actor"]["unit"], "如城街道");
    assert_eq!(escalated["reason"], "the local mediator's talks had no effect");

    // The receiver sees every outbox entry exactly once, in order, despite being down twice and the restart.
    let expected: Vec<String> = {
        server.stop().await;
        let log = EmbeddedLog::open(&store).unwrap_or_else(|e| panic!("{e}"));
        let end = log.end_offset("outbox").unwrap_or_default();
        yujing_engine::read_outbox(&log, 0, end as usize)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(_, e): (u64, OutboxEvent)| e.id)
            .collect()
    };
    assert!(expected.len() >= 12, "{expected:?}");
    let server = common::start(&store, &clock, Some(hook)).await;
    receiver.wait_for(expected.len()).await;
    server.stop().await;
    let received = receiver.received.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(received.accepted, expected);
    assert!(received.repeats.is_empty(), "repeats: {:?}", received.repeats);
    assert_eq!(received.bad_signatures, 0);
    assert!(
        received.refused_while_down > 0,
        "the receiver was down for part of the test"
    );
    assert!(received.accepted.contains(&format!("{order_id}#1")));
    let warning_body = &received.bodies[raised[0].as_str().unwrap_or_default()];
    assert_eq!(warning_body["kind"], "warning");
    assert_eq!(warning_body["data"]["level"], "orange");
}
