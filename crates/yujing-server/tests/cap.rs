//! Warnings as CAP 1.2 alerts, validated against OASIS's CAP 1.2 schema with xmllint (Debian's libxml2-utils):
//! served on `Accept: application/cap+xml` and delivered by a webhook with `format = "cap"`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{at, Client, Receiver};
use serde_json::json;
use yujing_engine::ManualClock;
use yujing_server::config::WebhookFormat;

/// The CAP 1.2 schema: `YUJING_CAP_XSD`, or fetched and cached by `.ci/cap-schema`.
fn schema() -> PathBuf {
    if let Some(path) = std::env::var_os("YUJING_CAP_XSD") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg(root.join(".ci/cap-schema"))
        .output()
        .unwrap_or_else(|e| panic!("bash .ci/cap-schema: {e}"));
    assert!(
        output.status.success(),
        "bash .ci/cap-schema: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Validates `alert` against the CAP 1.2 schema, or fails with xmllint's words.
fn validate(alert: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, alert).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint is not installed ({e}): run `bash .ci/setup`"));
    assert!(
        output.status.success(),
        "{name} is not a valid CAP 1.2 alert: {}\n{alert}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_are_valid_cap_alerts_served_and_delivered() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new(at("2026-06-15T09:00:00Z"));
    let receiver = Receiver::default();
    let addr = receiver.start().await;
    let mut config = common::config(&dir.path().join("store"), Some(addr));
    config.server.webhooks[0].format = WebhookFormat::Cap;
    let server = common::start_with(config, &clock).await;
    let api = Client::new(&server);
    for (feed, file, body) in common::all_reports() {
        api.ingest(feed, file, body).await;
    }
    let (_, listed) = api.get("demo-viewer", "/api/v1/warnings").await;
    let warnings = listed["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 2, "the seed case's orange and red: {listed}");

    for warning in &warnings {
        let id = warning["warning_id"].as_str().unwrap_or_default();
        let response = api
            .http
            .get(format!("{}/api/v1/warnings/{id}", api.base))
            .bearer_auth("demo-viewer")
            .header("accept", "application/cap+xml")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/cap+xml");
        let alert = response.text().await.unwrap_or_default();
        validate(&alert, id);
        let level = warning["level"].as_str().unwrap_or_default();
        assert!(
            alert.contains(&format!("<identifier>{id}</identifier>")),
            "{alert}"
        );
        let severity = if level == "red" { "Severe" } else { "Moderate" };
        assert!(
            alert.contains(&format!("<severity>{severity}</severity>")),
            "{alert}"
        );
        assert!(
            alert.contains("锦绣华庭") && alert.contains("<value>320682001</value>"),
            "{alert}"
        );
        assert!(alert.contains("<circle>32.3"), "the grid report's point: {alert}");
        assert!(
            !alert.contains("13962751208") && !alert.contains("赵"),
            "no party in an alert: {alert}"
        );
    }
    // Without the header, the JSON as before.
    let id = warnings[0]["warning_id"].as_str().unwrap_or_default();
    let (_, answer) = api.get("demo-viewer", &format!("/api/v1/warnings/{id}")).await;
    assert_eq!(answer["warning"]["warning_id"], json!(id));

    // The CAP webhook gets the two warnings, each a valid alert, and none of the work-order events.
    receiver.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let received = receiver
        .received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .raw
        .clone();
    assert_eq!(received.len(), 2, "warnings only: {:?}", received.keys());
    for (id, (content_type, body)) in &received {
        assert_eq!(content_type, "application/cap+xml");
        assert!(body.contains(&format!("<identifier>{id}</identifier>")), "{body}");
        validate(body, id);
    }
    server.stop().await;
}
