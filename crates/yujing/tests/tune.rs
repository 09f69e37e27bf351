//! `yujing tune` end to end: a sweep over simulated labeled data and over a stored log, and its HTML report
//! drawn by a real browser (headless Chromium, Debian's `chromium` package; `.ci/setup` installs it).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{demo, http, ok, post_sample, samples, serve, SAMPLE_FILES};

const GRID: &str = r#"
[grid]
"rules.recurring-orange.occurrences" = [4, 5]
"rules.recurring-orange.within_days" = [21, 30]
"#;

/// A seeded simulation of 400 disputes over 90 days in `dir/sim`.
fn simulate(dir: &Path) -> std::path::PathBuf {
    let sim = dir.join("sim");
    ok(demo(
        &dir.join("unused"),
        None,
        &[
            "simulate",
            "--seed",
            "11",
            "--disputes",
            "400",
            "--days",
            "90",
            "--out",
            &sim.display().to_string(),
        ],
    ));
    sim
}

/// `yujing tune HISTORY… --grid GRID --out OUT` on `data_dir`: what it printed and `OUT/results.json`.
fn sweep(data_dir: &Path, history: &[&str], out: &Path) -> (String, Vec<Value>) {
    let grid = out.with_extension("grid.toml");
    std::fs::write(&grid, GRID).expect("grid");
    let grid = grid.display().to_string();
    let out_arg = out.display().to_string();
    let mut args = vec!["tune"];
    args.extend_from_slice(history);
    args.extend(["--grid", grid.as_str(), "--out", out_arg.as_str()]);
    let printed = ok(demo(data_dir, None, &args));
    let results = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("results"))
        .expect("JSON");
    (printed, results)
}

/// Pixels of `png` within a few levels of `rgb`.
fn pixels_of(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| p.len() >= 3 && (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 6))
        .count()
}

#[test]
fn a_sweep_over_simulated_data_reports_each_configuration_and_draws_its_plots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulate(dir.path());
    let out = dir.path().join("tune");
    let (printed, results) = sweep(
        &dir.path().join("unused"),
        &["--truth", &sim.display().to_string()],
        &out,
    );
    // The combination equal to the configuration in force (5 in 30 days) is #0, not repeated.
    assert!(printed.contains("swept 4 configurations"), "{printed}");
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["changes"], serde_json::json!([]));
    assert_eq!(results[0]["gained"], serde_json::json!([]));
    assert_eq!(results[0]["lost"], serde_json::json!([]));
    // The configuration in force scores as `yujing eval` scores a replay of the same data.
    let replay = dir.path().join("replay");
    ok(demo(
        &dir.path().join("unused"),
        None,
        &[
            "replay",
            "--feeds",
            &sim.join("feeds").display().to_string(),
            "--out",
            &replay.display().to_string(),
        ],
    ));
    let eval: Value = serde_json::from_str(&ok(demo(
        &dir.path().join("unused"),
        None,
        &[
            "eval",
            "--truth",
            &sim.display().to_string(),
            "--replay",
            &replay.display().to_string(),
            "--json",
        ],
    )))
    .expect("eval JSON");
    let in_force = &results[0]["scores"]["orange"];
    assert_eq!(in_force[0], eval["warnings"]["orange"]["precision"]);
    assert_eq!(in_force[1], eval["warnings"]["orange"]["recall"]);
    // Four in 30 days warns more, and earlier.
    let four_in_30 = results
        .iter()
        .find(|r| {
            r["changes"].to_string().contains("occurrences\",\"4\"")
                && r["changes"].to_string().contains("within_days\",\"30\"")
        })
        .expect("4 in 30 days");
    assert!(four_in_30["warnings"]["orange"].as_u64() > results[0]["warnings"]["orange"].as_u64());
    assert!(four_in_30["lead_hours"]["orange"].as_f64().unwrap_or_default() > 0.0);
    assert!(!four_in_30["gained"].as_array().map(Vec::is_empty).unwrap_or(true));
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(markdown.contains("| 0 | in force |"), "{markdown}");

    // The page is self-contained and a real browser draws both plots.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    for external in ["<script", "<link", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(external), "the page loads something ({external})");
    }
    let shot = dir.path().join("shot.png");
    let chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1300,1000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium is not installed ({e}): run `bash .ci/setup`"));
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&chromium.stderr)
    );
    // Orange dots of the precision–recall plot, blue bars of the lead-time plot, the red mark of #0.
    assert!(
        pixels_of(&shot, [0xe6, 0x7e, 0x22]) > 50,
        "the precision–recall points are drawn"
    );
    assert!(
        pixels_of(&shot, [0x29, 0x80, 0xb9]) > 500,
        "the lead-time bars are drawn"
    );
    assert!(
        pixels_of(&shot, [0xc0, 0x39, 0x2b]) > 20,
        "the configuration in force is marked"
    );
}

#[test]
fn a_sweep_over_the_stored_log_uses_its_work_orders_as_outcomes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    ok(demo(&store, None, &["ingest", &samples().display().to_string()]));
    let out = dir.path().join("tune");
    let (printed, results) = sweep(&store, &["--from-log"], &out);
    assert!(printed.contains("from the stored log"), "{printed}");
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    // No order was resolved or dismissed yet: no outcomes, but the warnings each configuration would raise.
    assert!(markdown.contains("none known"), "{markdown}");
    assert_eq!(results[0]["warnings"]["orange"], 1);
    assert_eq!(results[0]["orders"], 1);
    // Four in 21 days raises the estate's orange earlier than five in 30.
    let four = results
        .iter()
        .find(|r| {
            r["changes"].to_string().contains("occurrences\",\"4\"")
                && r["changes"].to_string().contains("within_days\",\"21\"")
        })
        .expect("4 in 21 days");
    assert!(
        four["lead_hours"]["orange"].as_f64().unwrap_or_default() > 0.0,
        "{four}"
    );
    // The stored log was only read.
    assert_eq!(ok(demo(&store, None, &["warnings", "--json"])).lines().count(), 2);
}

#[test]
fn past_work_orders_are_the_outcomes_of_a_sweep_over_the_stored_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    let (mut child, addr) = serve(&store, None);
    for name in SAMPLE_FILES {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    let (_, orders) = http(&addr, "GET", "/api/v1/orders", Some("demo-centre"), b"");
    let orders: Value = serde_json::from_str(&orders).expect("JSON");
    let order_id = orders["orders"][0]["order_id"]
        .as_str()
        .expect("an order")
        .to_owned();
    // The estate's order is handled and resolved: a real dispute.
    for c in [
        r#"{"command":"dispatch"}"#,
        r#"{"command":"accept"}"#,
        r#"{"command":"resolve","summary":"the lift was repaired"}"#,
    ] {
        command(&addr, &order_id, c);
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");

    let out = dir.path().join("tune");
    let (_, results) = sweep(&store, &["--from-log"], &out);
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(markdown.contains("past work orders"), "{markdown}");
    // Every configuration warns the resolved dispute: precision and recall 1 against the outcomes known.
    for r in &results {
        assert_eq!(r["scores"]["orange"], serde_json::json!([1.0, 1.0]), "{r}");
    }
}

/// Posts `command` to order `order_id` as the demo centre; it must be accepted.
fn command(addr: &str, order_id: &str, command: &str) {
    let (status, answer) = http(
        addr,
        "POST",
        &format!("/api/v1/orders/{order_id}/commands"),
        Some("demo-centre"),
        command.as_bytes(),
    );
    assert_eq!(status, 200, "{order_id} {command}: {answer}");
}

#[test]
fn merged_and_dismissed_orders_are_outcomes_of_a_sweep_over_the_stored_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulate(dir.path());
    let store = dir.path().join("store");
    ok(demo(
        &store,
        None,
        &["ingest", &sim.join("feeds").display().to_string()],
    ));
    let sweep_log = |name: &str| sweep(&store, &["--from-log"], &dir.path().join(name)).1;
    let before = sweep_log("before");

    // Three orange orders: an operator merges the first into the second (one dispute the configuration in force
    // split in two), the second is handled and resolved, the third dismissed as a false positive.
    let (mut child, addr) = serve(&store, None);
    let (_, listed) = http(&addr, "GET", "/api/v1/orders", Some("demo-centre"), b"");
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    let orange: Vec<String> = listed["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter(|o| o["level"] == "orange")
        .filter_map(|o| o["order_id"].as_str().map(str::to_owned))
        .take(3)
        .collect();
    assert_eq!(orange.len(), 3, "{listed}");
    command(
        &addr,
        &orange[0],
        &format!(
            r#"{{"command":"merge","into_order_id":"{}","reason":"the same estate's lift"}}"#,
            orange[1]
        ),
    );
    for c in [
        r#"{"command":"dispatch"}"#,
        r#"{"command":"accept"}"#,
        r#"{"command":"resolve","summary":"the lift was repaired"}"#,
    ] {
        command(&addr, &orange[1], c);
    }
    command(
        &addr,
        &orange[2],
        r#"{"command":"dismiss","reason":"two different shops"}"#,
    );
    child.kill().expect("stop");
    child.wait().expect("reaped");

    let after = sweep_log("after");
    assert_eq!(before.len(), after.len());
    let in_force = &after[0];
    // The merged order's warning is now a second warning about the kept order's dispute.
    assert_eq!(before[0]["duplicates"], 0, "{}", before[0]);
    assert!(in_force["duplicates"].as_u64() >= Some(1), "{in_force}");
    assert_eq!(
        in_force["disputes"].as_u64(),
        before[0]["disputes"].as_u64().map(|d| d - 1),
        "{in_force}"
    );
    // One real dispute, warned; a dismissed one and a duplicate warned too: precision below 1, recall 1.
    let orange_scores = &in_force["scores"]["orange"];
    let precision = orange_scores[0].as_f64().expect("precision");
    assert!(precision > 0.0 && precision <= 1.0 / 3.0 + 1e-9, "{in_force}");
    assert_eq!(orange_scores[1], 1.0, "{in_force}");
}
