//! yujing under a real Prometheus (Debian's `prometheus` package; `.ci/setup` installs it): the alert rules pass
//! `promtool check` and their unit tests, the exposition passes `promtool check metrics`, Prometheus scrapes
//! `yujing run` while it ingests the sample data, loads the rules, and every panel of the Grafana dashboard
//! returns data through Prometheus's HTTP API.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{samples, serve, workspace, SAMPLE_FILES};

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: run `bash .ci/setup` (Debian package prometheus)")
    })
}

fn promtool(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(workspace().join("deploy/prometheus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(text.as_bytes()).expect("promtool stdin");
    }
    let output = child.wait_with_output().expect("promtool ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the child when dropped, so a failing assertion leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A webhook receiver answering 200 to everything, on a thread.
fn receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            // Read the head and the body (Content-Length).
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    port
}

async fn query(http: &reqwest::Client, prometheus: &str, expr: &str) -> Vec<Value> {
    let answer: Value = match http
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(_) => return Vec::new(),
    };
    assert_ne!(answer["status"], "error", "{expr}: {answer}");
    answer["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The dashboard's panel queries, with Grafana's variables given values.
fn panel_queries() -> Vec<(String, String)> {
    let path = workspace().join("deploy/grafana/dashboards/yujing.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_default()
                .replace("$__rate_interval", "1m")
                .replace("$__range", "1h")
                .replace("$town", ".*");
            queries.push((panel["title"].as_str().unwrap_or_default().to_owned(), expr));
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_yujing_and_every_dashboard_panel_has_data() {
    // The rules and their unit tests.
    promtool(&["check", "rules", "rules.yml"], None);
    promtool(&["test", "rules", "rules.test.yml"], None);

    let dir = tempfile::tempdir().expect("temp dir");
    let good = receiver();
    let closed = free_port();
    let config = dir.path().join("yujing.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[server.webhooks]]
name = "command-centre"
url = "http://127.0.0.1:{good}/hook"
secret = "prometheus-test-secret-0123"
initial_backoff_ms = 50
max_backoff_ms = 500
timeout_ms = 2000

[[server.webhooks]]
name = "unreachable"
url = "http://127.0.0.1:{closed}/hook"
secret = "prometheus-test-secret-0123"
initial_backoff_ms = 50
max_backoff_ms = 500
timeout_ms = 2000
"#
        ),
    )
    .expect("config");
    let (child, addr) = serve(&dir.path().join("store"), Some(&config));
    let yujing = Running(child);
    let http = reqwest::Client::new();

    // Prometheus scraping it every second, with the rules.
    let port = free_port();
    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: yujing\n    static_configs:\n      - targets: [\"{addr}\"]\n",
            workspace().join("deploy/prometheus/rules.yml").display()
        ),
    )
    .expect("prometheus.yml");
    let prometheus = Running(
        Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let up = query(&http, &base, "up{job=\"yujing\"} == 1").await;
        if !up.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus never scraped yujing");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The exposition passes promtool's lint.
    let exposition = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    promtool(&["check", "metrics"], Some(&exposition));
    assert!(
        exposition.contains("yujing_records_rejected_total{feed=\"police\",reason=\"invalid_encoding\"} 0")
    );

    // yujing processes the sample data while Prometheus watches.
    for name in SAMPLE_FILES {
        let feed = name.split('.').next().expect("feed");
        let body = std::fs::read(samples().join(name)).expect("sample");
        let response = http
            .post(format!("http://{addr}/api/v1/ingest/{feed}?file={name}"))
            .bearer_auth("demo-centre")
            .body(body)
            .send()
            .await
            .expect("ingest");
        assert_eq!(response.status().as_u16(), 200, "{name}");
    }
    let orders: Value = http
        .get(format!("http://{addr}/api/v1/orders"))
        .bearer_auth("demo-centre")
        .send()
        .await
        .expect("orders")
        .json()
        .await
        .expect("JSON");
    let order_id = orders["orders"][0]["order_id"]
        .as_str()
        .expect("an order")
        .to_owned();
    let response = http
        .post(format!("http://{addr}/api/v1/orders/{order_id}/commands"))
        .bearer_auth("demo-centre")
        .json(&serde_json::json!({"command": "dispatch"}))
        .send()
        .await
        .expect("dispatch");
    assert_eq!(response.status().as_u16(), 200);

    // Every panel's query returns data.
    let queries = panel_queries();
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut empty: Vec<(String, String)> = queries.clone();
    while !empty.is_empty() {
        let mut still = Vec::new();
        for (title, expr) in empty {
            if query(&http, &base, &expr).await.is_empty() {
                still.push((title, expr));
            }
        }
        empty = still;
        if empty.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "panels without data: {empty:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // What the panels show is what happened.
    let value = |result: &[Value]| -> f64 {
        result
            .first()
            .and_then(|r| r["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    // 20 clues and one new version (the hotline's status update) from the samples, and the dead letters of the
    // bad records in them.
    assert_eq!(
        value(&query(&http, &base, "sum(yujing_clues_ingested_total)").await),
        21.0
    );
    assert!(value(&query(&http, &base, "sum(yujing_records_rejected_total)").await) > 0.0);
    assert_eq!(
        value(&query(&http, &base, "count(yujing_feed_last_record_timestamp_seconds)").await),
        6.0
    );
    assert_eq!(
        value(&query(&http, &base, "sum(yujing_warnings{level=\"orange\"})").await),
        1.0
    );
    assert_eq!(
        value(&query(&http, &base, "sum(yujing_warnings{level=\"red\"})").await),
        1.0
    );
    assert_eq!(
        value(
            &query(
                &http,
                &base,
                "sum(yujing_work_orders{status=\"dispatched\", town=\"如城街道\"})"
            )
            .await
        ),
        1.0
    );
    let failed = loop {
        let failed = value(
            &query(
                &http,
                &base,
                "yujing_webhook_deliveries_total{webhook=\"unreachable\", outcome=\"failed\"}",
            )
            .await,
        );
        if failed > 0.0 || Instant::now() > deadline {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(failed > 0.0, "the unreachable webhook's failures are counted");

    // The rules are loaded and evaluate without error.
    let rules: Value = http
        .get(format!("{base}/api/v1/rules"))
        .send()
        .await
        .expect("rules")
        .json()
        .await
        .expect("JSON");
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(loaded.len(), 8, "{rules}");
    assert!(loaded.iter().all(|r| r["health"] != "err"), "{rules}");

    // No personal data in any label value.
    for line in exposition.lines() {
        assert!(!yujing_feeds::pii::contains_clear_pii(line), "{line}");
    }
    drop(prometheus);
    drop(yujing);
}
