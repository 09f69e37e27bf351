//! End-to-end tests of the `yujing` binary: the six sample feeds onto a fresh store, idempotent re-ingest,
//! re-deliveries as new versions, bad input into the dead-letter store, configuration errors, and no clear phone
//! or ID number in any output or log line.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{http, ok, samples, serve, workspace, SAMPLE_FILES};

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
        "malformed",
        "unmapped_resource",
    ] {
        assert!(kinds.contains(kind), "no dead letter of kind {kind}: {kinds:?}");
    }
    // A category word no table maps is not a bad record: the report is a clue, its type inferred and flagged.
    assert!(!kinds.contains("unknown_category"), "{kinds:?}");
    let clues = json_lines(&ok(yujing(dir.path(), &["clues"])));
    assert_eq!(clues.len(), expected_clues);
    let inferred: std::collections::BTreeSet<&str> = clues
        .iter()
        .filter(|c| c["category_inferred"] == true)
        .filter_map(|c| c["source_category"].as_str())
        .collect();
    for word in ["外星人入侵", "天气预报"] {
        assert!(
            inferred.contains(word),
            "{word} is not a flagged clue: {inferred:?}"
        );
    }
    // `yujing vocab` lists each unmapped word once, with its count, an example and a suggested type, and the
    // lines that would map them.
    let words = json_lines(&ok(yujing(dir.path(), &["vocab", "--json"])));
    assert_eq!(words.len(), inferred.len(), "{words:#?}");
    let alien = words
        .iter()
        .find(|w| w["word"] == "外星人入侵")
        .expect("the hotline's unmapped word is listed");
    assert_eq!(alien["feed"], "hotline12345");
    assert_eq!(alien["records"], 1);
    assert!(alien["example_clue_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("hotline12345:")));
    assert_eq!(alien["suggested_type"], "其他");
    let table = ok(yujing(dir.path(), &["vocab"]));
    assert!(
        table.contains("[feeds.categories.hotline12345]") && table.contains("\"外星人入侵\" = \"其他\""),
        "{table}"
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

fn replay(feeds: &Path, out: &Path) -> (Vec<Value>, Vec<Value>, String, String) {
    ok(yujing(
        &out.join("unused-data-dir"),
        &[
            "replay",
            "--feeds",
            &feeds.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    ));
    let clusters = std::fs::read_to_string(out.join("clusters.jsonl")).expect("clusters.jsonl");
    let warnings = std::fs::read_to_string(out.join("warnings.jsonl")).expect("warnings.jsonl");
    for line in clusters.lines().chain(warnings.lines()) {
        assert!(
            !yujing_feeds::pii::contains_clear_pii(line),
            "clear personal data: {line}"
        );
    }
    (json_lines(&clusters), json_lines(&warnings), clusters, warnings)
}

#[test]
fn the_seed_case_raises_one_orange_at_its_fifth_report_and_one_red_at_its_eighth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (clusters, warnings, clusters_text, warnings_text) = replay(&samples(), dir.path());
    // One line per upstream record: 20 clues (the re-delivery is the same record).
    assert_eq!(clusters.len(), 20);
    let cluster_of = |feed: &str, id: &str| {
        clusters
            .iter()
            .find(|c| c["feed"] == feed && c["source_id"] == id)
            .map(|c| c["cluster_id"].clone())
            .unwrap_or_else(|| panic!("{feed}:{id} has no cluster line"))
    };
    let estate = cluster_of("hotline12345", "RG2026060300417");
    // The 锦绣华庭 dispute, across five feeds; 锦绣华廷 (a homophone spelling) is the same estate.
    for (feed, id) in [
        ("hotline12345", "RG2026060500088"),
        ("grid", "WG20260606000731"),
        ("police", "J3206822026060700931"),
        ("exchange", "ZJ-002/ZJTS2026060800031"),
        ("screening", "PC-320682001-20260610-007"),
        ("hotline12345", "RG2026061100123"),
        ("justice", "苏通皋调〔2026〕0412号"),
        ("grid", "WG20260613000540"),
    ] {
        assert_eq!(cluster_of(feed, id), estate, "{feed}:{id}");
    }
    // Different disputes stay apart: the other estate's complaint, the labour case, the neighbours of 邓高.
    assert_ne!(cluster_of("exchange", "ZJ-002/ZJTS2026060800044"), estate);
    assert_ne!(cluster_of("hotline12345", "RG2026060700231"), estate);
    assert_eq!(
        cluster_of("hotline12345", "RG2026060700231"),
        cluster_of("exchange", "RS-003/RSJC2026-0611"),
        "the unpaid-wages call (a phone) and the labour inspection complaint (an ID number) are one dispute"
    );
    let neighbours = cluster_of("grid", "WG20260608001102");
    for (feed, id) in [
        ("hotline12345", "RG2026061200045"),
        ("police", "J3206822026061001207"),
        ("screening", "PC-320682014-20260610-003"),
    ] {
        assert_eq!(cluster_of(feed, id), neighbours, "{feed}:{id}");
    }

    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    let orange = &warnings[0];
    assert_eq!(orange["level"], "orange");
    assert_eq!(orange["cluster_id"], estate);
    assert_eq!(orange["occurrences"], 5);
    assert_eq!(
        orange["raised_at"], "2026-06-08T07:20:00Z",
        "15:20 +08:00, the exchange complaint"
    );
    let evidence: Vec<&str> = orange["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["clue_id"].as_str())
        .collect();
    assert_eq!(
        evidence,
        [
            "hotline12345:RG2026060300417",
            "hotline12345:RG2026060500088",
            "grid:WG20260606000731",
            "police:J3206822026060700931",
            "exchange:ZJ-002/ZJTS2026060800031"
        ],
        "the re-delivery of RG2026060300417 is counted once"
    );
    let red = &warnings[1];
    assert_eq!(red["level"], "red");
    assert_eq!(red["cluster_id"], estate);
    assert_eq!(red["occurrences"], 8);
    assert_eq!(
        red["raised_at"], "2026-06-11T16:00:00Z",
        "the mediation case accepted 2026-06-12"
    );
    assert_ne!(red["warning_id"], orange["warning_id"]);

    // Replaying again gives the same files, byte for byte.
    let again = tempfile::tempdir().expect("temp dir");
    let (_, _, clusters_again, warnings_again) = replay(&samples(), again.path());
    assert_eq!(clusters_text, clusters_again);
    assert_eq!(warnings_text, warnings_again);
}

#[test]
fn live_ingest_correlates_each_run_and_a_rebuild_continues_where_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).expect("mkdir");
    // First run: the hotline and police exports (four reports of the estate dispute); second run: the rest,
    // arriving later.
    for name in ["hotline12345.sample.jsonl", "police.sample.csv"] {
        std::fs::copy(samples().join(name), feeds.join(name)).expect("copy");
    }
    let store = dir.path().join("store");
    ok(yujing(&store, &["ingest", &feeds.display().to_string()]));
    assert_eq!(
        ok(yujing(&store, &["warnings"])).trim(),
        "no warnings",
        "four reports so far"
    );
    for name in [
        "grid.sample.jsonl",
        "screening.sample.csv",
        "justice.sample.xml",
        "exchange.sample.jsonl",
    ] {
        std::fs::copy(samples().join(name), feeds.join(name)).expect("copy");
    }
    // The second run starts from the snapshot the first wrote, not from the whole log.
    let second = yujing(&store, &["ingest", &feeds.display().to_string()]);
    let log = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(log.contains("restored the projections from a snapshot"), "{log}");
    let out = ok(second);
    assert!(out.contains("new warnings:"), "{out}");
    let warnings = json_lines(&ok(yujing(&store, &["warnings", "--json"])));
    let levels: Vec<&str> = warnings.iter().filter_map(|w| w["level"].as_str()).collect();
    assert_eq!(levels, ["orange", "red"]);
    // The late exchange complaint and screening row count at their event time.
    assert_eq!(warnings[0]["raised_at"], "2026-06-08T07:20:00Z");
    // A third run with nothing new, its snapshots gone, rebuilds the state from the whole log, says so, and
    // raises nothing twice.
    std::fs::remove_dir_all(store.join("snapshots")).expect("snapshots were written");
    let third = yujing(&store, &["ingest", &feeds.display().to_string()]);
    let log = String::from_utf8_lossy(&third.stderr).into_owned();
    assert!(
        log.contains("no snapshot yet: rebuilt the projections from the whole log"),
        "{log}"
    );
    let out = ok(third);
    assert!(!out.contains("new warnings:"), "{out}");
    assert_eq!(json_lines(&ok(yujing(&store, &["warnings", "--json"]))).len(), 2);
}

#[test]
fn yujing_test_runs_the_rules_test_cases_and_fails_on_a_wrong_expectation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = ok(yujing(dir.path(), &["test"]));
    assert!(out.contains("9 rule tests: 9 passed, 0 failed"), "{out}");
    let config = dir.path().join("rules.toml");
    std::fs::write(
        &config,
        r#"
[[correlate.rules]]
name = "three-is-orange"
level = "orange"
occurrences = 3
within_days = 7

  [[correlate.rules.tests]]
  name = "wrongly expects orange at the second report"
  clues = [
    { at = "2026-06-01T09:00:00+08:00" },
    { at = "2026-06-02T09:00:00+08:00" },
    { at = "2026-06-03T09:00:00+08:00" },
  ]
  expect = [ { level = "orange", at = "2026-06-02T09:00:00+08:00" } ]
"#,
    )
    .expect("write config");
    let output = yujing(dir.path(), &["--config", &config.display().to_string(), "test"]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAILED  three-is-orange / wrongly expects orange"),
        "{stdout}"
    );
    assert!(
        stdout.contains("got orange at 2026-06-03T01:00:00+00:00"),
        "{stdout}"
    );
}

#[test]
fn simulate_replay_and_eval_score_a_seeded_data_set_deterministically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = dir.path().join("sim");
    let sim_args = |out: &Path| {
        vec![
            "simulate".to_owned(),
            "--seed".to_owned(),
            "3".to_owned(),
            "--disputes".to_owned(),
            "800".to_owned(),
            "--days".to_owned(),
            "120".to_owned(),
            "--out".to_owned(),
            out.display().to_string(),
        ]
    };
    let args = sim_args(&sim);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(yujing(dir.path(), &args));
    assert!(out.contains("simulated 800 disputes (seed 3)"), "{out}");
    // The same seed writes the same files, byte for byte.
    let again = dir.path().join("again");
    let args = sim_args(&again);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(yujing(dir.path(), &args));
    let mut names: Vec<_> = std::fs::read_dir(sim.join("feeds"))
        .expect("feeds written")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert!(names.len() > 20, "{} files", names.len());
    for name in &names {
        let a = std::fs::read(sim.join("feeds").join(name)).expect("read");
        let b = std::fs::read(again.join("feeds").join(name)).expect("read");
        assert!(a == b, "{name:?} differs between two runs of one seed");
    }
    // All six feeds, in their formats.
    for prefix in [
        "hotline12345-",
        "grid-",
        "police-",
        "screening-",
        "justice-",
        "exchange-",
    ] {
        assert!(
            names.iter().any(|n| n.to_string_lossy().starts_with(prefix)),
            "no {prefix} file"
        );
    }

    let replay_dir = dir.path().join("replay");
    replay(&sim.join("feeds"), &replay_dir);
    let report: Value = serde_json::from_str(&ok(yujing(
        dir.path(),
        &[
            "eval",
            "--truth",
            &sim.display().to_string(),
            "--replay",
            &replay_dir.display().to_string(),
            "--json",
        ],
    )))
    .expect("the report is JSON");
    // Every valid record was clustered; noise and malformed records were not.
    assert_eq!(report["missing_records"], 0);
    assert_eq!(report["unexpected_records"], 0);
    // A floor well under what this seed measures (pairwise F1 0.975, orange precision 1.0, recall 0.93), to
    // catch a regression in matching or counting; docs/QUALITY.md has the full-size figures.
    let f1 = report["pairwise"]["f1"].as_f64().expect("f1");
    assert!(f1 >= 0.95, "pairwise F1 {f1}");
    let orange = &report["warnings"]["orange"];
    assert!(orange["precision"].as_f64().expect("p") >= 0.95, "{orange}");
    assert!(orange["recall"].as_f64().expect("r") >= 0.9, "{orange}");
    assert_eq!(orange["duplicates"], 0);

    // The weights fitted on it, jointly, with the text features held at the configured weights.
    let truth = sim.display().to_string();
    let fitted = ok(yujing(
        dir.path(),
        &["fit", "--truth", &truth, "--hold", "description,mention"],
    ));
    assert!(
        fitted.contains("held at the configuration's weights, not fitted: description, mention"),
        "{fitted}"
    );
    assert!(
        fitted.contains("\"description.high\" = 3.55"),
        "a held level keeps its weight:\n{fitted}"
    );
    assert!(
        fitted.contains("\"estate.missing\" = 0.00"),
        "knowing nothing weighs 0:\n{fitted}"
    );
    assert!(fitted.contains("[correlate.scoring.weights]"), "{fitted}");
    // A feature that does not exist is named, with the ones that do.
    let wrong = yujing(dir.path(), &["fit", "--truth", &truth, "--hold", "estates"]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("--hold: no feature `estates`") && stderr.contains("estate, village_group"),
        "{stderr}"
    );
}

#[test]
fn ingest_opens_work_orders_and_orders_lists_them_with_their_audit_trail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    let printed = ok(yujing(&store, &["ingest", &samples().display().to_string()]));
    assert!(printed.contains("work orders opened: wo-"), "{printed}");
    let listed = ok(yujing(&store, &["orders"]));
    assert!(listed.contains("1 work order(s)"), "{listed}");
    assert!(
        listed.contains("red    raised"),
        "the red warning raised the order's level: {listed}"
    );
    let order_id = listed.split_whitespace().next().expect("an order id").to_owned();
    let trail = ok(yujing(&store, &["orders", &order_id]));
    let steps: Vec<&str> = trail
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(steps, ["raised", "level_raised"], "{trail}");
    // Ingesting again changes nothing.
    ok(yujing(&store, &["ingest", &samples().display().to_string()]));
    assert_eq!(ok(yujing(&store, &["orders"])), listed);
}

#[test]
fn run_serves_the_api_ingests_over_http_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = serve(&dir.path().join("store"), None);

    assert_eq!(http(&addr, "GET", "/health", None, b"").0, 200);
    assert_eq!(http(&addr, "GET", "/api/v1/orders", None, b"").0, 401);
    for name in SAMPLE_FILES {
        let feed = name.split('.').next().expect("feed");
        let body = std::fs::read(samples().join(name)).expect("sample");
        let (status, answer) = http(
            &addr,
            "POST",
            &format!("/api/v1/ingest/{feed}?file={name}"),
            Some("demo-centre"),
            &body,
        );
        assert_eq!(status, 200, "{name}: {answer}");
    }
    let (status, orders) = http(&addr, "GET", "/api/v1/orders", Some("demo-viewer"), b"");
    assert_eq!(status, 200);
    let orders: Value = serde_json::from_str(&orders).expect("JSON");
    assert_eq!(orders["orders"].as_array().map(Vec::len), Some(1), "{orders}");
    assert_eq!(orders["orders"][0]["subject"]["town_name"], "如城街道");

    // SIGTERM: a graceful stop, exit status 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn replay_from_the_stored_log_matches_the_folder_replay_and_honours_the_time_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    ok(yujing(&store, &["ingest", &samples().display().to_string()]));
    let folder = dir.path().join("folder");
    ok(yujing(
        &store,
        &[
            "replay",
            "--feeds",
            &samples().display().to_string(),
            "--out",
            &folder.display().to_string(),
        ],
    ));
    let from_log = dir.path().join("from-log");
    let printed = ok(yujing(
        &store,
        &["replay", "--from-log", "--out", &from_log.display().to_string()],
    ));
    assert!(
        printed.contains("replayed 21 clue versions from the stored log"),
        "{printed}"
    );
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).expect("replay output");
    assert_eq!(read(&from_log, "warnings.jsonl"), read(&folder, "warnings.jsonl"));
    assert_eq!(read(&from_log, "clusters.jsonl"), read(&folder, "clusters.jsonl"));

    // A week of event time: 8 to 14 June (China time), only the clues that happened then.
    let week = dir.path().join("week");
    ok(yujing(
        &store,
        &[
            "replay",
            "--from-log",
            "--since",
            "2026-06-08",
            "--until",
            "2026-06-15",
            "--out",
            &week.display().to_string(),
        ],
    ));
    let clues = json_lines(&ok(yujing(&store, &["clues", "--latest"])));
    let in_week: Vec<String> = clues
        .iter()
        .filter(|c| {
            let t = c["occurred_at"].as_str().unwrap_or_default();
            ("2026-06-07T16:00:00Z"..="2026-06-14T15:59:59Z").contains(&t)
        })
        .map(|c| c["source_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let replayed: Vec<String> = json_lines(&read(&week, "clusters.jsonl"))
        .iter()
        .map(|c| c["source_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!in_week.is_empty() && in_week.len() < clues.len());
    assert_eq!(
        replayed.iter().collect::<std::collections::BTreeSet<_>>(),
        in_week.iter().collect::<std::collections::BTreeSet<_>>()
    );
    // By position on the clues topic: the first ten versions written, then the rest.
    let head = dir.path().join("head");
    let printed = ok(yujing(
        &store,
        &[
            "replay",
            "--from-log",
            "--to-offset",
            "10",
            "--out",
            &head.display().to_string(),
        ],
    ));
    assert!(
        printed.contains("replayed 10 clue versions") && printed.contains("clues offsets … to 10"),
        "{printed}"
    );
    let tail = dir.path().join("tail");
    let printed = ok(yujing(
        &store,
        &[
            "replay",
            "--from-log",
            "--from-offset",
            "10",
            "--out",
            &tail.display().to_string(),
        ],
    ));
    assert!(printed.contains("replayed 11 clue versions"), "{printed}");
    let versions = |d: &Path| {
        json_lines(&read(d, "clusters.jsonl"))
            .iter()
            .map(|c| c["source_id"].as_str().unwrap_or_default().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let mut both = versions(&head);
    both.extend(versions(&tail));
    assert_eq!(both, versions(&from_log));
    // The stored log was only read.
    assert_eq!(json_lines(&ok(yujing(&store, &["warnings", "--json"]))).len(), 2);
    let bad = yujing(&store, &["replay", "--from-log", "--since", "June", "--out", "x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a date"));
}

/// One post to a message board, as a hotline export writes it: an account id for the caller, no phone, the
/// board's own category word, the title in the address field and the place only in the text.
fn board_post(id: u32, day: u32, account: &str, title: &str, text: &str) -> String {
    serde_json::json!({
        "gdbh": format!("WZ2026{id:06}"),
        "ldsj": format!("2026-03-{day:02} 09:{:02}:00", id % 60),
        "gxsj": format!("2026-03-{day:02} 09:{:02}:00", id % 60),
        "ldrxm": account,
        "ldhm": "",
        "sqlx": "投诉",
        "sqlb": "网络问政",
        "sqnr": text,
        "sjdz": title,
        "ssjd": "",
        "blzt": "已办结",
    })
    .to_string()
}

#[test]
fn posts_that_name_their_place_only_in_the_text_are_recognised_as_one_problem_apart_from_another_at_that_place(
) {
    // Written for this test, in the manner of real posts: one problem (a mixing plant's dust beside an estate)
    // by five accounts over three weeks, in different words, the estate written with and without its phase;
    // another problem at the same estate (parking fees), one of its posts by an account that also reported the
    // dust; and an unrelated post.
    let posts = [
        board_post(
            1,
            2,
            "A00010001",
            "丽景新城旁搅拌站粉尘扰民",
            "丽景新城附近新建了一个搅拌站，粉尘太大，居民窗户都不敢开，请求有关部门查处。",
        ),
        board_post(
            2,
            5,
            "A00010002",
            "投诉丽景新城搅拌站灰尘问题",
            "丽景新城小区北侧的混凝土搅拌站每天灰尘漫天，晚上也不停工。",
        ),
        board_post(
            3,
            6,
            "UU0020003",
            "丽景新城物业乱收停车费",
            "丽景新城物业乱收停车费，每月涨到三百元，业主都不同意。",
        ),
        board_post(
            4,
            9,
            "A00010004",
            "丽景新城二期附近搅拌站污染严重",
            "我是丽景新城二期业主，附近搅拌站粉尘污染严重，希望关停搬迁。",
        ),
        board_post(
            5,
            12,
            "A00010001",
            "丽景新城停车费上涨",
            "丽景新城小区停车费上涨，物业强行收费，不交就不让进。",
        ),
        board_post(
            6,
            15,
            "UU0020006",
            "再次反映丽景新城搅拌站粉尘",
            "再次反映丽景新城旁边的搅拌站问题，粉尘依旧，一直没人管。",
        ),
        board_post(
            7,
            20,
            "A00010007",
            "丽景新城周边搅拌站违规生产",
            "丽景新城周边的搅拌站违规生产，灰尘严重影响居民生活和健康。",
        ),
        board_post(
            8,
            21,
            "UU0020008",
            "东湖路路灯不亮",
            "东湖路路灯坏了一个多月没人修，晚上出行不安全。",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).expect("feeds dir");
    std::fs::write(feeds.join("hotline12345.board.jsonl"), posts.join("\n") + "\n").expect("export");
    let (clusters, warnings, _, _) = replay(&feeds, &dir.path().join("out"));
    // Nothing went to the dead-letter store for its category word: every post is in a cluster.
    assert_eq!(clusters.len(), posts.len());
    let cluster_of = |n: u32| {
        let id = format!("WZ2026{n:06}");
        clusters
            .iter()
            .find(|c| c["source_id"] == id.as_str())
            .map(|c| c["cluster_id"].clone())
            .expect("every post is clustered")
    };
    let dust = cluster_of(1);
    for n in [2, 4, 6, 7] {
        assert_eq!(cluster_of(n), dust, "post {n} reports the mixing plant's dust");
    }
    for n in [3, 5, 8] {
        assert_ne!(cluster_of(n), dust, "post {n} is another problem");
    }
    assert_eq!(
        cluster_of(3),
        cluster_of(5),
        "the parking fee posts are one problem"
    );
    // The dust, reported five times within 30 days, raises one orange warning; nothing else warns.
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["level"], "orange");
    assert_eq!(warnings[0]["cluster_id"], dust);
    assert_eq!(warnings[0]["occurrences"], 5);
    // Each account is a reporter of its own: five posts, five reporters.
    assert_eq!(warnings[0]["reporters"], 5);
}

#[test]
fn store_check_reads_everything_back_and_a_backup_restores_the_same_warnings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    report(&store, &[&samples()]);
    let check = ok(yujing(&store, &["store", "check"]));
    assert!(check.contains("ok: 12 topics"), "{check}");
    assert!(check.contains("raw units: 22 sealed and opened"), "{check}");
    assert!(
        check
            .lines()
            .any(|l| l.starts_with("clues") && l.ends_with(" 21")),
        "{check}"
    );
    let backup = dir.path().join("backup");
    let backed_up = ok(yujing(
        &store,
        &["store", "backup", &backup.display().to_string()],
    ));
    assert!(backed_up.contains("checked"), "{backed_up}");
    // Restored: the copy is a store that answers like the original.
    assert_eq!(
        ok(yujing(&backup, &["warnings", "--json"])),
        ok(yujing(&store, &["warnings", "--json"]))
    );
    assert_eq!(
        ok(yujing(&backup, &["orders", "--json"])),
        ok(yujing(&store, &["orders", "--json"]))
    );
    // A backup never overwrites.
    let again = yujing(&store, &["store", "backup", &backup.display().to_string()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

#[test]
fn raw_units_are_sealed_at_rest_and_erasing_a_person_makes_theirs_unreadable_for_good() {
    const PHONE: &str = "13962751208";
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    report(&store, &[&samples()]);
    {
        // Nothing on the log holds the caller's number: raw units are sealed, clues masked.
        let log = yujing_log::EmbeddedLog::open_read_only(&store).expect("store");
        for topic in log.topics() {
            for entry in yujing_log::Log::read(&log, &topic, 0, 10_000).expect("read") {
                let value = &entry.record.value;
                assert!(
                    !value.windows(PHONE.len()).any(|w| w == PHONE.as_bytes()),
                    "{topic}@{} holds the phone in clear",
                    entry.offset
                );
            }
        }
    }
    let check = ok(yujing(&store, &["store", "check"]));
    assert!(
        check.contains("raw units: 22 sealed and opened, 0 erased"),
        "{check}"
    );
    let warnings = ok(yujing(&store, &["warnings", "--json"]));

    // The caller of the seed case asks to be erased; they are named as they wrote their number.
    let erased = ok(yujing(
        &store,
        &[
            "erase",
            "--phone",
            "139-6275-1208",
            "--reason",
            "本人申请 2026-001，电话13962751208",
        ],
    ));
    assert!(erased.contains("erased 1 party (1 key destroyed)"), "{erased}");
    assert!(erased.contains("logged as erasures@0"), "{erased}");
    let check = ok(yujing(&store, &["store", "check"]));
    // Four hotline deliveries give the number as the caller's; two more reports quote it in their text.
    assert!(
        check.contains("raw units: 16 sealed and opened, 6 erased (unreadable)"),
        "{check}"
    );
    assert!(
        check.contains("erasures"),
        "the erasure is an event on the log: {check}"
    );
    // The clues, warnings and orders keep only masked values and keyed hashes: they stand.
    assert_eq!(ok(yujing(&store, &["warnings", "--json"])), warnings);

    // Someone no report named: recorded, with nothing to destroy. A value that is no phone: refused.
    let nobody = ok(yujing(
        &store,
        &["erase", "--phone", "13800000000", "--reason", "request"],
    ));
    assert!(
        nobody.contains("0 keys destroyed") && nobody.contains("had no key"),
        "{nobody}"
    );
    let refused = yujing(&store, &["erase", "--phone", "12", "--reason", "request"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a phone number"));
    let refused = yujing(&store, &["erase", "--reason", "request"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("name at least one person"));
}

#[test]
fn webhook_lists_refused_entries_and_requests_their_retry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    report(&store, &[&samples()]);
    let config = dir.path().join("hooks.toml");
    std::fs::write(
        &config,
        "[[server.webhooks]]\nname = \"centre\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"hook-secret-0123456789\"\n\
         initial_backoff_ms = 100\nmax_backoff_ms = 1000\ntimeout_ms = 1000\n",
    )
    .expect("config");
    let config = config.display().to_string();
    // What the deliverer records when the receiver refuses an entry for good.
    {
        let log = yujing_log::EmbeddedLog::open(&store).expect("open");
        let mut batch = yujing_log::Batch::new();
        yujing_engine::refused::put_refused(
            &mut batch,
            "centre",
            &[yujing_engine::RefusedDelivery {
                offset: 0,
                event_id: "w-x".to_owned(),
                event: "warning.orange".to_owned(),
                status: 401,
                at: chrono::DateTime::UNIX_EPOCH,
            }],
        )
        .expect("encode");
        yujing_log::Log::write(&log, batch).expect("write");
    }
    let listed = ok(yujing(
        &store,
        &["--config", &config, "webhook", "refused", "--json"],
    ));
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed[0]["name"], "centre");
    assert_eq!(listed[0]["refused"][0]["status"], 401);
    let retried = ok(yujing(
        &store,
        &["--config", &config, "webhook", "retry", "centre"],
    ));
    assert!(retried.starts_with("1 refused entries of centre"), "{retried}");
    let log = yujing_log::EmbeddedLog::open_read_only(&store).expect("open");
    assert_eq!(
        yujing_engine::retry_requested(&log, "centre").expect("read"),
        vec![0]
    );
    let unknown = yujing(&store, &["--config", &config, "webhook", "retry", "nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no webhook named 'nobody'"));
}

#[cfg(unix)]
#[test]
fn every_file_of_the_store_is_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    report(&store, &[&samples()]);
    let mut files = 0;
    for entry in std::fs::read_dir(&store).expect("the store") {
        let path = entry.expect("an entry").path();
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", path.display(), mode & 0o777);
        files += 1;
    }
    assert!(files > 3, "{files} files");
}
