//! The API's answers to bad requests, town scopes, supervision on a hand-moved clock, and the SSE feed's resume.

mod common;

use axum::http::StatusCode;
use common::{at, Client};
use serde_json::{json, Value};
use yujing_engine::ManualClock;

/// A yujing with the five reports in: one orange order, raised. Returns the server, the client and the order id.
async fn with_one_order(
    store: &std::path::Path,
    clock: &ManualClock,
) -> (yujing_server::Server, Client, String) {
    // Handlers of two towns, a viewer and the centre, each with a token of its own.
    let config = common::config_with_tokens(store);
    let server = common::start_with(config, clock).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::first_five_reports() {
        let response = api
            .http
            .post(format!("{}/api/v1/ingest/{feed}?file={file}", api.base))
            .bearer_auth("centre-token-0123456789")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
    }
    let (_, orders) = api.get("viewer-token-0123456789", "/api/v1/orders").await;
    let order_id = orders["orders"][0]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(order_id.starts_with("wo-"), "{orders}");
    (server, api, order_id)
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_get_clear_4xx_answers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let (server, api, order_id) = with_one_order(&dir.path().join("store"), &clock).await;
    let centre = "centre-token-0123456789";
    let commands = format!("/api/v1/orders/{order_id}/commands");

    // No token, a wrong token, the demo token (off: tokens are configured).
    let response = api
        .http
        .get(format!("{}/api/v1/orders", api.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 401);
    let (status, answer) = api.get("nope", "/api/v1/orders").await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(
        api.get("demo-centre", "/api/v1/orders").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Unknown order, wrong state, bad body, missing reason, a viewer commanding, a town dispatching.
    let (status, answer) = api
        .post(
            centre,
            "/api/v1/orders/wo-nothing/commands",
            json!({"command": "triage"}),
        )
        .await;
    assert_eq!((status, code(&answer)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, answer) = api.post(centre, &commands, json!({"command": "close"})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "wrong_state"));
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("close applies to orders that are verifying"),
        "{answer}"
    );
    let (status, answer) = api.post(centre, &commands, json!({"command": "fly"})).await;
    assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "bad_command"));
    let (status, answer) = api.post(centre, &commands, json!({"command": "dismiss"})).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "reason_required")
    );
    let (status, answer) = api
        .post("viewer-token-0123456789", &commands, json!({"command": "triage"}))
        .await;
    assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "not_allowed"));
    let (status, answer) = api
        .post(
            "rucheng-token-0123456789",
            &commands,
            json!({"command": "dispatch"}),
        )
        .await;
    assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "not_allowed"));

    // Scope: 白蒲镇's handler neither sees nor acts on 如城街道's order.
    api.command(centre, &order_id, json!({"command": "dispatch"}))
        .await;
    let (status, answer) = api
        .post("baipu-token-0123456789", &commands, json!({"command": "accept"}))
        .await;
    assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "out_of_scope"));
    let (_, listed) = api.get("baipu-token-0123456789", "/api/v1/orders").await;
    assert_eq!(listed["orders"], json!([]));
    let (_, listed) = api.get("baipu-token-0123456789", "/api/v1/warnings").await;
    assert_eq!(listed["warnings"], json!([]));
    let (status, _) = api
        .post(
            "rucheng-token-0123456789",
            &commands,
            json!({"command": "accept"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Bad ingestion: unknown feed, no file name, empty body; a bad record is a dead letter, not an error.
    let post = |path: String, body: &'static [u8]| {
        api.http
            .post(format!("{}{path}", api.base))
            .bearer_auth(centre)
            .body(body)
            .send()
    };
    let response = post("/api/v1/ingest/fax?file=a.csv".to_owned(), b"x").await;
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(404));
    let response = post("/api/v1/ingest/police".to_owned(), b"x").await;
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(400));
    let response = post("/api/v1/ingest/police?file=p.csv".to_owned(), b"").await;
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(400));
    let response = post("/api/v1/ingest/grid?file=g.jsonl".to_owned(), b"{not json\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap_or_default();
    assert_eq!(answer["file"]["rejected"], 1, "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_cards_and_escalation_follow_the_clock() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let (server, api, order_id) = with_one_order(&dir.path().join("store"), &clock).await;
    let centre = "centre-token-0123456789";
    clock.set(at("2026-06-10T08:20:00Z"));
    let order = api
        .command(centre, &order_id, json!({"command": "dispatch"}))
        .await;
    assert_eq!(order["accept_by"], "2026-06-10T09:30:00Z");

    let supervise = || api.post(centre, "/api/v1/supervise", json!({}));
    // Before the deadline: nothing.
    clock.set(at("2026-06-10T09:29:00Z"));
    assert_eq!(supervise().await.1["events"], json!([]));
    // After it: a yellow card, once.
    clock.set(at("2026-06-10T09:31:00Z"));
    let (status, answer) = supervise().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["events"][0]["type"], "supervised");
    assert_eq!(answer["events"][0]["card"], "yellow");
    assert_eq!(answer["events"][0]["actor"]["role"], "system");
    assert_eq!(supervise().await.1["events"], json!([]));
    // The town accepts late; the handling deadline passes too: a red card, and automatic escalation to the
    // property department.
    api.command(
        "rucheng-token-0123456789",
        &order_id,
        json!({"command": "accept"}),
    )
    .await;
    clock.set(at("2026-06-22T09:31:00Z"));
    let (_, answer) = supervise().await;
    let types: Vec<&str> = answer["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(types, ["supervised", "escalated"]);
    assert_eq!(answer["events"][0]["card"], "red");
    assert_eq!(answer["events"][1]["target"]["department"], "市住建局");
    assert_eq!(answer["events"][1]["automatic"], true);
    assert_eq!(supervise().await.1["events"], json!([]));
    // Only the centre runs supervision by hand.
    let (status, _) = api
        .post("rucheng-token-0123456789", "/api/v1/supervise", json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

/// Reads `n` SSE events (id, event, data) from `response`.
async fn read_events(mut response: reqwest::Response, n: usize) -> Vec<(u64, String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no SSE event within 30 s; got {events:?}"));
        let Ok(Some(chunk)) = chunk else {
            panic!("the SSE stream ended after {events:?}");
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                events.push((id, event, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sse_feed_streams_new_events_and_resumes_after_the_last_event_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let (server, api, order_id) = with_one_order(&dir.path().join("store"), &clock).await;
    let connect = |last: Option<u64>| {
        // Without Last-Event-ID, from the start of the history (`from=0`); the default is from now on.
        let from = if last.is_some() { "" } else { "?from=0" };
        let mut request = api
            .http
            .get(format!("{}/api/v1/events{from}", api.base))
            .bearer_auth("viewer-token-0123456789");
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        request.send()
    };
    let response = connect(None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);
    // The warning and the order's `raised` are already there.
    let first = read_events(response, 2).await;
    assert_eq!(first[0].1, "warning.orange");
    assert_eq!(first[1].1, "work_order.raised");
    assert_eq!(first[1].2["data"]["order_id"], order_id.as_str());

    // Resume after the first: the second again, then what happens next, live.
    let response = connect(Some(first[0].0)).await.unwrap_or_else(|e| panic!("{e}"));
    let waiting = tokio::spawn(read_events(response, 3));
    // A stream opened with neither starts now: it gets only what happens next.
    let now = api
        .http
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth("viewer-token-0123456789")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(now.status().as_u16(), 200);
    let from_now = tokio::spawn(read_events(now, 2));
    api.command(
        "centre-token-0123456789",
        &order_id,
        json!({"command": "dispatch"}),
    )
    .await;
    let resumed = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = resumed.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(
        kinds,
        ["work_order.raised", "work_order.triaged", "work_order.dispatched"]
    );
    assert_eq!(resumed[0].0, first[1].0);
    let live = from_now.await.unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = live.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["work_order.triaged", "work_order.dispatched"]);
    // A bad Last-Event-ID is refused.
    let response = api
        .http
        .get(format!("{}/api/v1/events", api.base))
        .bearer_auth("viewer-token-0123456789")
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 400);
    // Town handlers get their own town's entries only.
    let response = api
        .http
        .get(format!("{}/api/v1/events?from=0", api.base))
        .bearer_auth("rucheng-token-0123456789")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_events(response, 4).await.len(), 4);
    server.stop().await;
}

/// Sends only the head of a request (its body announced, never sent) and returns the status line the server
/// answers with, or what the wait ended with.
async fn answer_to_a_head(addr: std::net::SocketAddr, head: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buffer = vec![0u8; 4096];
    // Generous: an answer comes at once or, if the server waits for the body that never comes, not at all.
    match tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buffer)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buffer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        Ok(Err(e)) => format!("read error: {e}"),
        Err(_) => "no answer: the server is waiting for the body".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_a_valid_token_is_refused_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let (server, _api, _) = with_one_order(&dir.path().join("store"), &clock).await;
    // 60 MB announced, none sent: refused on the head alone.
    let head = |auth: &str| {
        format!(
            "POST /api/v1/ingest/hotline12345?file=a.jsonl HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 60000000\r\n\r\n"
        )
    };
    assert!(answer_to_a_head(server.addr, head("")).await.contains(" 401 "));
    assert!(answer_to_a_head(
        server.addr,
        head("Authorization: Bearer wrong-token-0123456789\r\n")
    )
    .await
    .contains(" 401 "));
    // A viewer may not ingest: refused as soon as the token is known, too.
    assert!(answer_to_a_head(
        server.addr,
        head("Authorization: Bearer viewer-token-0123456789\r\n")
    )
    .await
    .contains(" 403 "));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_beyond_the_configured_number_are_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut config = common::config(&dir.path().join("store"), None);
    config.server.max_event_streams = 2;
    let server = common::start_with(config, &clock).await;
    let api = Client::new(&server);
    let open = || async {
        api.http
            .get(format!("{}/api/v1/events", api.base))
            .bearer_auth("demo-viewer")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let first = open().await;
    let second = open().await;
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = open().await;
    assert_eq!(third.status().as_u16(), 503);
    let answer: Value = third.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(&answer), "too_many_event_streams");
    // The API itself still answers.
    let (status, _) = api.get("demo-viewer", "/api/v1/orders").await;
    assert_eq!(status.as_u16(), 200);
    drop((first, second));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_cannot_keep_health_from_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut config = common::config(&dir.path().join("store"), None);
    config.server.max_connections = 8;
    config.server.header_timeout_secs = 1;
    let server = common::start_with(config, &clock).await;
    // Three times as many clients as connections allowed, each sending half a request head and then nothing.
    let mut stalled = Vec::new();
    for _ in 0..24 {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stream
            .write_all(b"GET /api/v1/orders HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stalled.push(stream);
    }
    // The server drops each stalled client when its head is late, so /health gets its turn.
    let mut health = tokio::net::TcpStream::connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    health
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        health.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "/health did not answer while clients stalled");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(stalled);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_when_a_step_is_failing_and_recovers_with_the_next_that_succeeds() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let server = common::start(&dir.path().join("store"), &clock, None).await;
    let api = Client::new(&server);
    let health = || public(&api, "/health");
    let (status, body) = health().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["storage"], "ok");
    // A step failed inside yujing (as on a full disk): /health says so, with what failed.
    *server.state().failing.lock().unwrap_or_else(|e| e.into_inner()) = Some(yujing_server::Failure {
        since: at("2026-06-10T08:00:00Z"),
        error: "log storage error while writing: IO error: No space left on device".to_owned(),
    });
    let (status, body) = health().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "failing");
    assert!(
        body["failing"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("No space left"),
        "{body}"
    );
    let (status, body) = public(&api, "/ready").await;
    assert_eq!((status, &body["ready"]), (503, &json!(false)), "{body}");
    // The next step that succeeds clears it.
    let (status, _) = api.get("demo-viewer", "/api/v1/orders").await;
    assert_eq!(status.as_u16(), 200);
    let (status, body) = health().await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = public(&api, "/ready").await;
    assert_eq!((status, &body["ready"]), (200, &json!(true)), "{body}");
    server.stop().await;
}

/// A GET without a token: its status and JSON body.
async fn public(api: &Client, path: &str) -> (u16, Value) {
    let response = api
        .http
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_degraded_while_a_webhook_keeps_failing_and_ok_once_it_delivers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let receiver = common::Receiver::default();
    let hook = receiver.start().await;
    receiver.set_down(true);
    let server = common::start(&dir.path().join("store"), &clock, Some(hook)).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::first_five_reports() {
        api.ingest(feed, file, body).await;
    }
    // The receiver is down: deliveries fail and the entries wait.
    let mut body = Value::Null;
    for _ in 0..3000 {
        body = public(&api, "/health").await.1;
        let hook = &body["webhooks"]["command-centre"];
        if hook["failing_since"].is_string() && hook["behind"].as_i64().unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let hook = body["webhooks"]["command-centre"].clone();
    assert_eq!(hook["failing_since"], "2026-06-10T08:00:00Z", "{body}");
    assert_eq!(hook["last_success"], Value::Null, "{body}");
    assert_eq!(body["lag"]["correlate"]["records"], 0, "{body}");
    // Not for long yet (server.degraded_after_secs, 300 s): still ok.
    assert_eq!(body["status"], "ok", "{body}");
    // Five minutes on the pipeline's clock: degraded, named, and still serving (200, ready).
    clock.set(at("2026-06-10T08:05:00Z"));
    let (status, body) = public(&api, "/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    let said = body["degraded"][0].as_str().unwrap_or_default();
    assert!(
        said.starts_with("webhook command-centre: failing since 2026-06-10T08:00:00Z,"),
        "{body}"
    );
    assert_eq!(public(&api, "/ready").await.0, 200);
    // The receiver is back: everything is delivered and the instance is ok again.
    receiver.set_down(false);
    receiver.wait_for(2).await;
    let mut body = Value::Null;
    for _ in 0..3000 {
        body = public(&api, "/health").await.1;
        // The first success clears the failure; the entry after it may still be on its way.
        if body["status"] == "ok" && body["webhooks"]["command-centre"]["behind"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(body["status"], "ok", "{body}");
    let hook = &body["webhooks"]["command-centre"];
    assert_eq!(
        (&hook["behind"], &hook["failing_since"]),
        (&json!(0), &Value::Null),
        "{body}"
    );
    assert_eq!(hook["last_success"], "2026-06-10T08:05:00Z", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_webhook_refuses_are_kept_counted_and_sent_again_on_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let receiver = common::Receiver::default();
    let hook = receiver.start().await;
    // The receiver's signing secret is wrong: it answers 401 to everything.
    receiver.refusing.store(true, std::sync::atomic::Ordering::SeqCst);
    let server = common::start(&dir.path().join("store"), &clock, Some(hook)).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::first_five_reports() {
        api.ingest(feed, file, body).await;
    }
    // The orange warning and its order's `raised`: both refused, kept, and the feed went past them.
    let refused = || async {
        let (status, answer) = api.get("demo-centre", "/api/v1/webhooks").await;
        assert_eq!(status.as_u16(), 200, "{answer}");
        answer["webhooks"][0].clone()
    };
    let mut listed = Value::Null;
    for _ in 0..3000 {
        listed = refused().await;
        if listed["refused"].as_array().map_or(0, Vec::len) >= 2 && listed["next"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(listed["name"], "command-centre");
    let entries = listed["refused"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{listed}");
    assert_eq!(entries[0]["status"], 401);
    assert_eq!(entries[0]["event"], "warning.orange");
    assert_eq!(entries[1]["event"], "work_order.raised");
    let metrics = api.metrics().await;
    assert!(
        metrics.contains("yujing_webhook_refused{webhook=\"command-centre\"} 2"),
        "{metrics}"
    );
    // Refused entries need a person: /health says degraded (still 200) and names them.
    let (status, health) = public(&api, "/health").await;
    assert_eq!((status, &health["status"]), (200, &json!("degraded")), "{health}");
    assert!(
        health["degraded"][0]
            .as_str()
            .is_some_and(|said| said.starts_with("webhook command-centre: its receiver refused 2 entries")),
        "{health}"
    );
    // Only the centre sees and retries them.
    let (status, _) = api.get("demo-viewer", "/api/v1/webhooks").await;
    assert_eq!(status.as_u16(), 403);
    let (status, _) = api
        .post("demo-centre", "/api/v1/webhooks/nobody/retry", json!({}))
        .await;
    assert_eq!(status.as_u16(), 404);
    // The secret is fixed; the centre asks for them again: the receiver gets both, in order, and the list empties.
    receiver
        .refusing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, answer) = api
        .post("demo-centre", "/api/v1/webhooks/command-centre/retry", json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    assert_eq!(answer["retrying"], 2);
    receiver.wait_for(2).await;
    let accepted = receiver.accepted();
    let ids: Vec<&str> = entries.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(accepted, ids);
    for _ in 0..3000 {
        if refused().await["refused"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let listed = refused().await;
    assert_eq!(listed["refused"], json!([]), "{listed}");
    assert_eq!(listed["retry_pending"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_centre_erases_a_person_and_their_raw_units_can_no_longer_be_opened() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("store");
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let server = common::start(&store, &clock, None).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::first_five_reports() {
        api.ingest(feed, file, body).await;
    }
    let request = json!({"phones": ["139 6275 1208"], "reason": "本人申请，电话13962751208"});
    let (status, _) = api.post("demo-viewer", "/api/v1/erasures", request.clone()).await;
    assert_eq!(status.as_u16(), 403);
    // Bad requests are refused, and the answer never quotes the number sent.
    for bad in [
        json!({"phones": "13962751208"}),
        json!({"phones": ["13962751"]}),
        json!({"reason": "nobody named"}),
        json!({"phone": ["13962751208"]}),
    ] {
        let (status, answer) = api.post("demo-centre", "/api/v1/erasures", bad.clone()).await;
        assert_eq!(
            (status.as_u16(), code(&answer)),
            (400, "bad_erasure"),
            "{bad}: {answer}"
        );
        assert!(
            !yujing_feeds::pii::contains_clear_pii(&answer.to_string()),
            "{answer}"
        );
    }
    let (status, answer) = api.post("demo-centre", "/api/v1/erasures", request).await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    assert_eq!(answer["keys_destroyed"], 1, "{answer}");
    assert_eq!(answer["erasures"][0]["offset"], 0, "{answer}");
    server.stop().await;

    // Every raw unit naming the number is erased; the others still open.
    let log = yujing_log::EmbeddedLog::open_read_only(&store).unwrap_or_else(|e| panic!("{e}"));
    let vault = yujing_engine::vault::Vault::new(
        &yujing_feeds::pii::PartyHasher::new(yujing_feeds::pii::DEMO_SECRET.as_bytes())
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let (mut opened, mut erased) = (0, 0);
    for topic in log.topics().iter().filter(|t| t.starts_with("raw.")) {
        for entry in yujing_log::Log::read(&log, topic, 0, 1000).unwrap_or_else(|e| panic!("{e}")) {
            match vault.open(&log, &entry.record.value) {
                Ok(yujing_engine::vault::Unsealed::Opened(bytes)) => {
                    assert!(!String::from_utf8_lossy(&bytes).contains("13962751208"));
                    opened += 1;
                }
                Ok(yujing_engine::vault::Unsealed::Erased(_)) => erased += 1,
                other => panic!("{topic}@{}: {other:?}", entry.offset),
            }
        }
    }
    assert!(erased >= 1 && opened >= 1, "erased {erased}, opened {opened}");
    let erasures = yujing_engine::vault::erasures(&log).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(erasures.len(), 1);
    assert!(
        erasures[0].1.actor.starts_with("demo.centre"),
        "{:?}",
        erasures[0].1
    );
    assert!(!erasures[0].1.reason.contains("13962751208"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_while_a_step_holds_the_pipeline() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let (server, api, _) = with_one_order(&dir.path().join("store"), &clock).await;
    // A scrape while idle refreshes: the order the five reports opened is counted.
    let scrape = || async {
        tokio::time::timeout(std::time::Duration::from_secs(20), async { api.metrics().await }).await
    };
    let idle = scrape()
        .await
        .unwrap_or_else(|_| panic!("an idle scrape answers"));
    assert!(idle.contains("yujing_work_orders{status=\"raised\""), "{idle}");
    // A long step holds the pipeline (here: this test, until the scrape is over).
    let pipeline = server.state().pipeline.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _step = pipeline.lock().unwrap_or_else(|e| e.into_inner());
        let _ = held_tx.send(());
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap_or_else(|e| panic!("{e}"));
    let busy = scrape().await;
    let _ = release_tx.send(());
    holder.join().unwrap_or_else(|_| panic!("the holder"));
    let busy = busy.unwrap_or_else(|_| panic!("the scrape waited for the pipeline"));
    assert!(busy.contains("yujing_work_orders{status=\"raised\""), "{busy}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drop_directory_takes_new_files_once_each_and_rereads_a_changed_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let drop_dir = dir.path().join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-10T08:00:00Z"));
    let mut config = common::config(&dir.path().join("store"), None);
    config.server.watch_every_secs = 1;
    let built = config.check().unwrap_or_else(|e| panic!("{e}"));
    let log: std::sync::Arc<dyn yujing_log::Log> = std::sync::Arc::new(
        yujing_log::EmbeddedLog::open(&config.store.data_dir).unwrap_or_else(|e| panic!("{e}")),
    );
    let pipeline = yujing_engine::Pipeline::open(log.clone(), built, std::sync::Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let server = yujing_server::start(
        pipeline,
        &config.server,
        true,
        listener,
        yujing_server::Options {
            supervise: false,
            watch_dir: Some(drop_dir.clone()),
            sources: Vec::new(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let api = Client::new(&server);
    let reports = common::first_five_reports();
    let clues = || log.end_offset("clues").unwrap_or(0);
    let wait_for = |n: u64| {
        let clues = &clues;
        async move {
            for _ in 0..3000 {
                if clues() >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("{} clues, not {n}", clues());
        }
    };
    // The first file, then, later, a second.
    let (_, _, hotline) = &reports[0];
    let lines: Vec<&[u8]> = hotline.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    std::fs::write(drop_dir.join("hotline12345-a.jsonl"), [lines[0], b"\n"].concat())
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(1).await;
    std::fs::write(drop_dir.join("hotline12345-b.jsonl"), [lines[1], b"\n"].concat())
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(2).await;
    // Several polls later, neither file was read again: no record came in twice.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let scrape = api.metrics().await;
    assert!(
        scrape.contains("yujing_records_read_total{feed=\"hotline12345\"} 2"),
        "{scrape}"
    );
    assert!(
        scrape.contains("yujing_records_duplicate_total{feed=\"hotline12345\"} 0"),
        "{scrape}"
    );
    // A file rewritten in place (a third report appended) is read again.
    std::fs::write(
        drop_dir.join("hotline12345-a.jsonl"),
        [lines[0], b"\n", lines[2], b"\n"].concat(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for(3).await;
    server.stop().await;
}
