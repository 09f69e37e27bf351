//! End-to-end tests of the `yujing` binary: the six sample feeds onto a fresh store, idempotent re-ingest,
//! re-deliveries as new versions, bad input into the dead-letter store, configuration errors, and no clear phone
//! or ID number in any output or log line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn samples() -> PathBuf {
    workspace().join("docs/feeds")
}

fn fixtures() -> PathBuf {
    workspace().join("crates/yujing-feeds/tests/fixtures")
}

/// Runs yujing with a test secret on `data_dir`; every run's output is checked for clear personal data.
fn yujing(data_dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_yujing"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-v")
        .args(args)
        .env("YUJING_PII_SECRET", "cli-test-secret-0123456789")
        .env_remove("RUST_LOG")
        .output()
        .expect("yujing runs");
    assert_no_clear_pii(&output);
    output
}

fn assert_no_clear_pii(output: &Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            assert!(
                !yujing_feeds::pii::contains_clear_pii(line),
                "{stream} holds a clear phone or ID number: {line}"
            );
        }
    }
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "yujing failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn report(data_dir: &Path, paths: &[&Path]) -> Value {
    let mut args = vec!["ingest", "--json"];
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    serde_json::from_str(&ok(yujing(data_dir, &args))).expect("the report is JSON")
}

#[test]
fn the_six_sample_feeds_become_clues_with_towns_and_types_and_ingesting_twice_adds_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = report(dir.path(), &[&samples()]);
    let total = &first["total"];
    // 23 records: hotline 6 (one a re-delivery with a new status), grid 4 (one not a dispute), police 3,
    // screening 3, justice 2, exchange 4 mapped records plus one envelope of an unmapped resource.
    assert_eq!(first["files"].as_array().map(Vec::len), Some(6));
    assert_eq!(total["records"], 23);
    assert_eq!(total["new_clues"], 20);
    assert_eq!(total["new_versions"], 1);
    assert_eq!(total["not_disputes"], 1);
    assert_eq!(total["rejected"], 1);
    assert_eq!(total["rejected_by_kind"]["unmapped_resource"], 1);

    let clues = json_lines(&ok(yujing(dir.path(), &["clues"])));
    assert_eq!(clues.len(), 21);
    for clue in &clues {
        assert_ne!(clue["town"]["town_code"], "unknown", "unresolved town: {clue}");
        assert!(clue["dispute_type"].is_string());
        assert!(clue["raw"]["topic"]
            .as_str()
            .is_some_and(|t| t.starts_with("raw.")));
    }
    let versions: Vec<_> = clues
        .iter()
        .filter(|c| c["clue_id"] == "hotline12345:RG2026060300417")
        .map(|c| (c["version"].clone(), c["source_status"].clone()))
        .collect();
    assert_eq!(
        versions,
        vec![(1.into(), "待派单".into()), (2.into(), "已派单".into())],
        "a re-delivery with a new status is a new version of the same clue"
    );
    let latest = json_lines(&ok(yujing(dir.path(), &["clues", "--latest"])));
    assert_eq!(latest.len(), 20);

    // Again: the store survived the process, and nothing is new.
    let second = report(dir.path(), &[&samples()]);
    assert_eq!(second["total"]["new_clues"], 0);
    assert_eq!(second["total"]["new_versions"], 0);
    assert_eq!(second["total"]["duplicates"], 21);
    assert_eq!(json_lines(&ok(yujing(dir.path(), &["clues"]))).len(), 21);
    let letters = json_lines(&ok(yujing(dir.path(), &["deadletter", "--json"])));
    assert_eq!(letters.len(), 1, "a repeated bad record is not listed twice");
    assert_eq!(letters[0]["kind"], "unmapped_resource");
    assert_eq!(letters[0]["location"]["file"], "exchange.sample.jsonl");
    assert_eq!(letters[0]["location"]["line"], 4);
}

#[test]
fn bad_records_go_to_the_dead_letter_store_and_the_good_ones_around_them_arrive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected_rejections = 0;
    let mut expected_clues = 0;
    for feed in [
        "hotline12345",
        "grid",
        "police",
        "screening",
        "justice",
        "exchange",
    ] {
        let path = fixtures().join(format!(
            "{feed}.bad.{}",
            match feed {
                "police" | "screening" => "csv",
                "justice" => "xml",
                _ => "jsonl",
            }
        ));
        let golden: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.golden.json", path.display())).expect("golden"),
        )
        .expect("golden JSON");
        let records = golden["records"].as_array().expect("records");
        expected_rejections += records.iter().filter(|r| r.get("rejected").is_some()).count();
        expected_clues += records.iter().filter(|r| r.get("clue").is_some()).count();
        let report = report(dir.path(), &[&path]);
        assert!(report["total"]["rejected"].as_u64() > Some(0), "{feed}: {report}");
        assert!(
            report["total"]["new_clues"].as_u64() > Some(0),
            "{feed}: good records arrive"
        );
    }
    let letters = json_lines(&ok(yujing(dir.path(), &["deadletter", "--json"])));
    assert_eq!(letters.len(), expected_rejections);
    for letter in &letters {
        assert!(letter["location"]["file"]
            .as_str()
            .is_some_and(|f| f.contains(".bad.")));
        assert!(letter["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let kinds: std::collections::BTreeSet<&str> = letters.iter().filter_map(|l| l["kind"].as_str()).collect();
    for kind in [
        "truncated",
        "invalid_encoding",
        "missing_id",
        "invalid_date",
        "unknown_category",
        "malformed",
        "unmapped_resource",
    ] {
        assert!(kinds.contains(kind), "no dead letter of kind {kind}: {kinds:?}");
    }
    assert_eq!(
        json_lines(&ok(yujing(dir.path(), &["clues"]))).len(),
        expected_clues
    );
    let table = ok(yujing(dir.path(), &["deadletter"]));
    assert!(
        table.contains("police.bad.csv:3"),
        "the table names file and line:\n{table}"
    );
}

#[test]
fn yujing_refuses_to_ingest_without_a_secret_outside_demo_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_yujing"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["ingest"])
        .arg(samples())
        .env_remove("YUJING_PII_SECRET")
        .env_remove("YUJING__PII__SECRET")
        .output()
        .expect("yujing runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("YUJING_PII_SECRET"), "{stderr}");
    let demo = Command::new(env!("CARGO_BIN_EXE_yujing"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--demo", "ingest"])
        .arg(samples())
        .env_remove("YUJING_PII_SECRET")
        .output()
        .expect("yujing runs");
    assert_no_clear_pii(&demo);
    assert!(demo.status.success());
    assert!(String::from_utf8_lossy(&demo.stderr).contains("demo mode"));
}

#[test]
fn validate_reports_every_configuration_error_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
[pii]
secret = "short"

[feeds.categories.police]
"奇怪纠纷" = "不存在的类型"

[feeds.exchange.resources."NEW-1"]
name = "新资源"
source_id = "id"
occurred_at = "date"
request_kind = "not-a-kind"
dispute_type = "其他"
"#,
    )
    .expect("config written");
    let output = yujing(
        dir.path(),
        &["--config", &config.display().to_string(), "validate"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 configuration error(s)"), "{stderr}");
    assert!(stderr.contains("pii.secret"), "{stderr}");
    assert!(stderr.contains("不存在的类型"), "{stderr}");
    assert!(stderr.contains("not-a-kind"), "{stderr}");
    let good = ok(yujing(dir.path(), &["validate"]));
    assert!(good.contains("configuration is valid"));
}

#[test]
fn a_new_exchange_resource_is_a_configuration_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let export = dir.path().join("exchange-mz.jsonl");
    std::fs::write(
        &export,
        r#"{"msgId":"EX-1","resourceCode":"MZ-009","resourceName":"低保申请","sourceDept":"如皋市民政局","pushTime":"2026-06-11T02:00:00+08:00","records":[{"sqbh":"DB20260611001","sqr":"张某","sqrq":"2026-06-10","dz":"搬经镇","nr":"低保资格争议"}]}
"#,
    )
    .expect("export written");
    let before = report(dir.path(), &[&export]);
    assert_eq!(before["total"]["rejected_by_kind"]["unmapped_resource"], 1);
    let config = dir.path().join("more.toml");
    std::fs::write(
        &config,
        r#"
[feeds.exchange.resources."MZ-009"]
name = "低保申请"
source_id = "sqbh"
occurred_at = "sqrq"
request_kind = "complaint"
dispute_type = "村务管理"
address = ["dz"]
description = ["nr"]
parties = [{ role = "complainant", kind = "person", name = "sqr" }]
"#,
    )
    .expect("config written");
    let after: Value = serde_json::from_str(&ok(yujing(
        dir.path(),
        &[
            "--config",
            &config.display().to_string(),
            "ingest",
            "--json",
            &export.display().to_string(),
        ],
    )))
    .expect("report");
    assert_eq!(after["total"]["new_clues"], 1);
    let clues = json_lines(&ok(yujing(dir.path(), &["clues"])));
    assert_eq!(clues[0]["town"]["town_name"], "搬经镇");
    assert_eq!(clues[0]["dispute_type"], "村务管理");
}
