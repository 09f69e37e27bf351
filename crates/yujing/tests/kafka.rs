//! yujing on Apache Kafka, end to end, against a real broker (`YUJING_KAFKA_BOOTSTRAP`, or one started with
//! `bash .ci/kafka start`): the sample feeds give the same warnings and work orders as on the embedded log, ingesting them
//! again adds nothing, and `yujing run` killed with SIGKILL in the middle of a stream and started again ends
//! with exactly the warnings of an uninterrupted run.

#[path = "../../yujing-log/tests/broker/mod.rs"]
mod broker;

mod support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{SystemTime, UNIX_EPOCH};

use broker::{bootstrap, serial};
use support::{demo, http, ok, post_sample, samples, serve, spawn_run, SAMPLE_FILES};

/// A configuration file putting the log on the test broker under topics of its own.
fn kafka_config(dir: &Path, name: &str) -> PathBuf {
    let bootstrap = bootstrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[store]\nbackend = \"kafka\"\n\n[store.kafka]\nbootstrap_servers = \"{bootstrap}\"\ntopic_prefix = \"e{nanos}.{name}.\"\ntransactional_id = \"e{nanos}-{name}\"\nreplication_factor = 1\ntimeout_ms = 30000\n"
        ),
    )
    .expect("config");
    path
}

#[test]
fn the_samples_on_kafka_give_the_warnings_and_orders_of_the_embedded_log() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds = samples().display().to_string();
    let embedded = dir.path().join("embedded");
    ok(demo(&embedded, None, &["ingest", &feeds]));
    let expected = ok(demo(&embedded, None, &["warnings", "--json"]));
    assert_eq!(expected.lines().count(), 2, "{expected}");

    let config = kafka_config(dir.path(), "samples");
    let unused = dir.path().join("unused");
    let printed = ok(demo(&unused, Some(&config), &["ingest", &feeds]));
    assert!(printed.contains("work orders opened"), "{printed}");
    assert_eq!(
        ok(demo(&unused, Some(&config), &["warnings", "--json"])),
        expected
    );
    assert_eq!(
        ok(demo(&unused, Some(&config), &["orders"])),
        ok(demo(&embedded, None, &["orders"]))
    );
    // Again: nothing new.
    ok(demo(&unused, Some(&config), &["ingest", &feeds]));
    assert_eq!(
        ok(demo(&unused, Some(&config), &["warnings", "--json"])),
        expected
    );
    let clues = ok(demo(&unused, Some(&config), &["clues"]));
    assert_eq!(clues.lines().count(), 21, "20 clues and one new version");

    // A historical stream read back from the Kafka topics: all of it, and one week of event time.
    let replayed = dir.path().join("replayed");
    let printed = ok(demo(
        &unused,
        Some(&config),
        &["replay", "--from-log", "--out", &replayed.display().to_string()],
    ));
    assert!(printed.contains("from the stored log (Kafka"), "{printed}");
    let folder = dir.path().join("folder");
    ok(demo(
        &embedded,
        None,
        &[
            "replay",
            "--feeds",
            &feeds,
            "--out",
            &folder.display().to_string(),
        ],
    ));
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).expect("replay output");
    assert_eq!(read(&replayed, "warnings.jsonl"), read(&folder, "warnings.jsonl"));
    let week = dir.path().join("week");
    ok(demo(
        &unused,
        Some(&config),
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
    let in_week = read(&week, "clusters.jsonl").lines().count();
    assert!(in_week > 0 && in_week < 20, "{in_week} clues in the week");
    // By Kafka offset of the clues topic: the part before offset 15 and the part from it are the whole stream
    // (offsets are not dense on Kafka: transaction markers take some).
    let sources = |d: &Path| -> std::collections::BTreeSet<String> {
        read(d, "clusters.jsonl")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["source_id"].to_string())
            .collect()
    };
    let mut parts = Vec::new();
    for (name, range) in [("head", ["--to-offset", "15"]), ("tail", ["--from-offset", "15"])] {
        let out = dir.path().join(name);
        let printed = ok(demo(
            &unused,
            Some(&config),
            &[
                "replay",
                "--from-log",
                range[0],
                range[1],
                "--out",
                &out.display().to_string(),
            ],
        ));
        assert!(printed.contains("clues offsets"), "{printed}");
        parts.push(sources(&out));
    }
    assert!(!parts[0].is_empty() && !parts[1].is_empty());
    assert!(parts[0].is_disjoint(&parts[1]));
    let whole: std::collections::BTreeSet<String> = parts.iter().flatten().cloned().collect();
    assert_eq!(whole, sources(&replayed));
    // A tuning sweep over the Kafka history.
    let grid = dir.path().join("grid.toml");
    std::fs::write(&grid, "[grid]\n\"rules.recurring-orange.occurrences\" = [4, 5]\n").expect("grid");
    let tuned = dir.path().join("tuned");
    let printed = ok(demo(
        &unused,
        Some(&config),
        &[
            "tune",
            "--from-log",
            "--grid",
            &grid.display().to_string(),
            "--out",
            &tuned.display().to_string(),
        ],
    ));
    assert!(
        printed.contains("swept 2 configurations") && printed.contains("from the stored log"),
        "{printed}"
    );
    // No embedded log was made: the data directory holds only the Kafka store's snapshots and state
    // checkpoint (`[store.kafka] snapshot_dir` defaults to `<data_dir>/kafka-snapshots`).
    let entries: Vec<String> = std::fs::read_dir(&unused)
        .expect("the snapshots' directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["kafka-snapshots"]);
    let partition_dir = std::fs::read_dir(unused.join("kafka-snapshots"))
        .expect("snapshots")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .next()
        .expect("the partition's snapshot directory");
    let files: Vec<String> = std::fs::read_dir(&partition_dir)
        .expect("snapshots")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with(".yjs")) && files.iter().any(|f| f == "state.yjc"),
        "a snapshot and the state checkpoint after each ingest: {files:?}"
    );
}

#[test]
fn run_killed_mid_stream_and_restarted_ends_with_the_warnings_of_an_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    // The uninterrupted run: the same stream, file by file, on a Kafka log of its own. (A stream is correlated
    // as it arrives, so its warnings can differ from those of one batch of the same files.)
    let config = kafka_config(dir.path(), "uninterrupted");
    let unused = dir.path().join("unused");
    let (mut child, addr) = serve(&unused, Some(&config));
    for name in &SAMPLE_FILES {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");
    let expected = ok(demo(&unused, Some(&config), &["warnings", "--json"]));
    assert_eq!(expected.lines().count(), 2, "{expected}");

    let config = kafka_config(dir.path(), "killed");
    let unused = dir.path().join("unused");
    let (mut child, addr) = serve(&unused, Some(&config));
    for name in &SAMPLE_FILES[..3] {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    // SIGKILL while the fourth file is being ingested.
    let in_flight = {
        let addr = addr.clone();
        std::thread::spawn(move || post_sample(&addr, SAMPLE_FILES[3]))
    };
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let _ = in_flight.join();

    // Restarted, the upstream senders retry everything they are not sure of.
    let (mut child, addr) = serve(&unused, Some(&config));
    for name in &SAMPLE_FILES {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    child.kill().expect("stop");
    child.wait().expect("reaped");
    assert_eq!(
        ok(demo(&unused, Some(&config), &["warnings", "--json"])),
        expected
    );
    let orders = ok(demo(&unused, Some(&config), &["orders"]));
    assert!(orders.contains("1 work order(s)"), "{orders}");
}

/// Publishes `lines` to `topic` (created with `partitions`), keyed by their position.
fn publish(bootstrap: &str, topic: &str, partitions: i32, lines: &[String]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    let admin: AdminClient<DefaultClientContext> = config.create().expect("admin");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let created = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(admin.create_topics([&new], &AdminOptions::new()));
    if let Ok(results) = created {
        for result in results {
            if let Err((name, code)) = result {
                assert_eq!(
                    code,
                    rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "{name}"
                );
            }
        }
    }
    let producer: BaseProducer = config.create().expect("producer");
    for (i, line) in lines.iter().enumerate() {
        let key = i.to_string();
        producer
            .send(BaseRecord::to(topic).key(key.as_str()).payload(line.as_str()))
            .unwrap_or_else(|(e, _)| panic!("{e}"));
    }
    producer.flush(std::time::Duration::from_secs(30)).expect("flush");
}

fn sample_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(samples().join(name))
        .expect("sample")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Waits (up to a minute) until the store holds `n` clue versions.
fn wait_for_clues(store: &Path, n: usize) {
    for _ in 0..600 {
        let output = demo(store, None, &["clues"]);
        if output.status.success() && String::from_utf8_lossy(&output.stdout).lines().count() >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the store never held {n} clue versions");
}

#[test]
fn upstream_topics_stream_in_once_across_a_sigkill() {
    let _serial = serial();
    let bootstrap = bootstrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let hotline_topic = format!("u{nanos}.hotline");
    let grid_topic = format!("u{nanos}.grid");

    // What the same records give when ingested as files.
    let files = dir.path().join("files");
    for name in ["hotline12345.sample.jsonl", "grid.sample.jsonl"] {
        ok(demo(
            &files,
            None,
            &["ingest", &samples().join(name).display().to_string()],
        ));
    }
    let expected = ok(demo(&files, None, &["clues", "--latest"]));
    let versions = ok(demo(&files, None, &["clues"])).lines().count();

    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        format!(
            "[[sources]]\nname = \"hotline\"\nfeed = \"hotline12345\"\ntopic = \"{hotline_topic}\"\nbootstrap_servers = \"{bootstrap}\"\n\n[[sources]]\nname = \"grid\"\nfeed = \"grid\"\ntopic = \"{grid_topic}\"\nbootstrap_servers = \"{bootstrap}\"\n"
        ),
    )
    .expect("config");
    let hotline = sample_lines("hotline12345.sample.jsonl");
    let grid = sample_lines("grid.sample.jsonl");
    // The first half is published; yujing reads it, then dies by SIGKILL.
    publish(&bootstrap, &hotline_topic, 2, &hotline[..3]);
    publish(&bootstrap, &grid_topic, 1, &grid[..2]);
    let store = dir.path().join("store");
    let (mut child, _) = serve(&store, Some(&config));
    wait_for_clues(&store, 3);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // The rest is published while it is down; started again, it carries on from where the log says it stood.
    publish(&bootstrap, &hotline_topic, 2, &hotline[3..]);
    publish(&bootstrap, &grid_topic, 1, &grid[2..]);
    let (mut child, _) = serve(&store, Some(&config));
    wait_for_clues(&store, versions);
    // Give it time to (wrongly) read anything twice before looking.
    std::thread::sleep(std::time::Duration::from_secs(2));
    child.kill().expect("stop");
    child.wait().expect("reaped");
    assert_eq!(
        ok(demo(&store, None, &["clues"])).lines().count(),
        versions,
        "no record twice"
    );
    let mut got: Vec<String> = ok(demo(&store, None, &["clues", "--latest"]))
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            // Where each record came from differs (a topic, not a file); what it says does not.
            v.as_object_mut().map(|o| o.remove("raw"));
            v.to_string()
        })
        .collect();
    let mut want: Vec<String> = expected
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v.as_object_mut().map(|o| o.remove("raw"));
            v.to_string()
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// Starts `yujing run` and returns it with a receiver of its address, sent once it serves (a standby serves
/// only once it holds the writer's lease).
fn start_standby(data_dir: &Path, config: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = spawn_run(data_dir, Some(config));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        if std::io::BufReader::new(stdout).read_line(&mut first).is_ok() {
            if let Some(addr) = first.trim().strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    (child, rx)
}

#[test]
fn a_standby_takes_over_when_the_writer_is_killed_and_ends_with_the_uninterrupted_warnings() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let unused = dir.path().join("unused");
    // The uninterrupted run, for comparison.
    let config = kafka_config(dir.path(), "single");
    let (mut single, addr) = serve(&unused, Some(&config));
    for name in &SAMPLE_FILES {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    single.kill().expect("stop");
    single.wait().expect("reaped");
    let expected = ok(demo(&unused, Some(&config), &["warnings", "--json"]));

    // Two instances of one log: the first to start writes, the second waits.
    let config = kafka_config(dir.path(), "pair");
    let (mut writer, first) = start_standby(&unused, &config);
    let addr = first
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the writer serves");
    let (mut standby, second) = start_standby(&unused, &config);
    for name in &SAMPLE_FILES[..3] {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    assert!(
        second.recv_timeout(std::time::Duration::from_secs(2)).is_err(),
        "the standby does not serve while the writer lives"
    );
    // SIGKILL the writer mid-stream; the standby takes over (after the group's session timeout).
    let in_flight = {
        let addr = addr.clone();
        std::thread::spawn(move || post_sample(&addr, SAMPLE_FILES[3]))
    };
    std::thread::sleep(std::time::Duration::from_millis(30));
    writer.kill().expect("SIGKILL");
    writer.wait().expect("reaped");
    let _ = in_flight.join();
    let addr = second
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the standby took over");
    for name in &SAMPLE_FILES {
        assert_eq!(post_sample(&addr, name), Some(200), "{name}");
    }
    standby.kill().expect("stop");
    standby.wait().expect("reaped");
    assert_eq!(
        ok(demo(&unused, Some(&config), &["warnings", "--json"])),
        expected
    );
}

/// A stream of a simulated county: the export files of `disputes` disputes over `days`, in the order they
/// would arrive (by period, then feed), each with the number of clue versions the store holds once it is in.
struct Stream {
    files: Vec<(String, PathBuf)>,
    clues_after: Vec<usize>,
    /// The warnings of the same files ingested one by one into an unsharded embedded store.
    unsharded_warnings: Vec<String>,
}

fn simulated_stream(dir: &Path, disputes: usize, days: usize) -> Stream {
    let sim = dir.join("sim");
    let store = dir.join("staged");
    ok(demo(
        &store,
        None,
        &[
            "simulate",
            "--out",
            &sim.display().to_string(),
            "--disputes",
            &disputes.to_string(),
            "--days",
            &days.to_string(),
            "--seed",
            "7",
        ],
    ));
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(sim.join("feeds"))
        .expect("feeds")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, p)
        })
        .collect();
    // `police-2026-01.csv`, `justice-2026-W03.xml`: by period first, so the feeds interleave as they would.
    let period = |name: &str| {
        let stem = name.split_once('-').map_or("", |(_, rest)| rest);
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
        match stem.split_once("-W") {
            // A week's files sort inside their month.
            Some((year, week)) => {
                let week: u32 = week.parse().unwrap_or(0);
                format!("{year}-{:02}-{week:02}", (week * 7 / 31 + 1).min(12))
            }
            None => format!("{stem}-00"),
        }
    };
    files.sort_by_key(|(name, _)| (period(name), name.clone()));
    let mut clues_after = Vec::new();
    for (_, path) in &files {
        ok(demo(&store, None, &["ingest", &path.display().to_string()]));
        clues_after.push(ok(demo(&store, None, &["clues"])).lines().count());
    }
    Stream {
        files,
        clues_after,
        unsharded_warnings: sorted_warnings(&ok(demo(&store, None, &["warnings", "--json"]))),
    }
}

/// Warnings as JSON lines, sorted (a sharded store lists them shard by shard).
fn sorted_warnings(json_lines: &str) -> Vec<String> {
    let mut lines: Vec<String> = json_lines.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// A configuration of a store of `partitions` shards that reads each feed's export files from an upstream topic
/// `<name>.up.<feed>`; returns it with the topic of each feed.
fn sharded_config(dir: &Path, name: &str, partitions: u32) -> (PathBuf, HashMap<String, String>) {
    let config = kafka_config(dir, name);
    let base = std::fs::read_to_string(&config).expect("config");
    let prefix = base
        .lines()
        .find_map(|l| l.strip_prefix("topic_prefix = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("prefix")
        .to_owned();
    let mut text = format!("{base}partitions = {partitions}\n");
    let mut topics = HashMap::new();
    for feed in yujing_model::FeedId::ALL.map(|f| f.as_str()) {
        let topic = format!("{prefix}up.{feed}");
        text.push_str(&format!(
            "\n[[sources]]\nname = \"{feed}\"\nfeed = \"{feed}\"\ntopic = \"{topic}\"\nformat = \"files\"\n"
        ));
        // Created empty, as the upstream system would have.
        publish(&bootstrap(), &topic, 1, &[]);
        topics.insert(feed.to_owned(), topic);
    }
    std::fs::write(&config, text).expect("config");
    (config, topics)
}

/// The topic prefix of the store `config` configures.
fn prefix_of(config: &Path) -> String {
    std::fs::read_to_string(config)
        .expect("config")
        .lines()
        .find_map(|l| l.strip_prefix("topic_prefix = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("prefix")
        .to_owned()
}

/// The low and high watermarks of `partition` of `topic`.
fn watermarks(topic: &str, partition: i32) -> (i64, i64) {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, std::time::Duration::from_secs(30))
        .expect("watermarks")
}

/// Publishes one export file as one message.
fn publish_file(topics: &HashMap<String, String>, name: &str, path: &Path) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let feed = name.split('-').next().expect("feed");
    let topic = &topics[feed];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("producer");
    let bytes = std::fs::read(path).expect("file");
    producer
        .send(BaseRecord::to(topic).key(name).payload(&bytes))
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    producer.flush(std::time::Duration::from_secs(30)).expect("flush");
}

/// Waits (up to 90 s: a takeover waits out the group's session timeout) until the store holds `n` clue versions.
fn wait_for_kafka_clues(config: &Path, n: usize, stage: &str) {
    let unused = config.with_extension("unused");
    let mut held = 0;
    for _ in 0..900 {
        let output = demo(&unused, Some(config), &["clues"]);
        held = String::from_utf8_lossy(&output.stdout).lines().count();
        if output.status.success() && held == n {
            return;
        }
        assert!(
            held <= n,
            "{stage}: {held} clue versions, more than the {n} expected"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{stage}: the store never held {n} clue versions (it holds {held})");
}

/// `yujing run` with every line it prints sent to the receiver.
fn run_instance(config: &Path) -> (support::Reaped, std::sync::mpsc::Receiver<String>) {
    let mut child = support::Reaped(spawn_run(&config.with_extension("unused"), Some(config)));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Waits (up to 60 s) for `line` from an instance.
fn expect_line(lines: &std::sync::mpsc::Receiver<String>, line: &str, who: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(got) if got == line => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("{who} never printed '{line}'");
}

use std::collections::HashMap;

/// The address an instance listens on, from its first line.
fn listening(lines: &std::sync::mpsc::Receiver<String>) -> String {
    let line = lines
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the instance listens");
    line.strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned()
}

/// The ids of the orders `GET /api/v1/orders` lists (of every shard, or with `local` of the instance's own).
fn orders_via_api(addr: &str, local: bool) -> Vec<String> {
    let headers: &[(&str, &str)] = if local {
        &[("x-yujing-shards", "local")]
    } else {
        &[]
    };
    let (status, body) = support::http_with(addr, "GET", "/api/v1/orders", Some("demo-centre"), headers, b"");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut ids: Vec<String> = body["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["order_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Reads the event stream of `addr` with `token` — from the beginning of the history (`?from=0`), or resuming
/// after `last_event_id`, or from now on when `path` says so — until `enough` says so of the (id, data) pairs
/// received, or `wait` passes; returns them.
const THIRTY_S: std::time::Duration = std::time::Duration::from_secs(30);

fn read_events(
    addr: &str,
    token: &str,
    last_event_id: Option<&str>,
    wait: std::time::Duration,
    enough: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let path = if last_event_id.is_some() {
        "/api/v1/events"
    } else {
        "/api/v1/events?from=0"
    };
    read_events_at(addr, path, token, last_event_id, wait, enough)
}

fn read_events_at(
    addr: &str,
    path: &str,
    token: &str,
    last_event_id: Option<&str>,
    wait: std::time::Duration,
    enough: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{resume}\r\n"
    )
    .expect("request");
    let deadline = std::time::Instant::now() + wait;
    let mut received: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    while std::time::Instant::now() < deadline {
        let mut buffer = [0u8; 65536];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        // Complete events end with a blank line; chunked framing puts its size lines between them. Only what
        // precedes the last blank line is read: a read may end inside an event, or inside a character.
        let complete = received
            .windows(2)
            .rposition(|w| w == b"\n\n")
            .map_or(&received[..0], |end| &received[..end]);
        let text = String::from_utf8_lossy(complete);
        events = text
            .split("\n\n")
            .filter_map(|block| {
                let id = block.lines().find_map(|l| l.strip_prefix("id: "))?;
                let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
                Some((id.to_owned(), data.to_owned()))
            })
            .collect();
        if enough(&events) {
            break;
        }
    }
    events
}

/// The ids of the orders on the log (every shard).
fn orders_on_log(config: &Path) -> Vec<String> {
    let unused = config.with_extension("unused");
    let mut ids: Vec<String> = ok(demo(&unused, Some(config), &["orders", "--json"]))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["order_id"].as_str().expect("id").to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// With two instances each running one shard, either one's API answers for both: lists hold every shard's
/// orders, and a command on an order of the other instance's shard is carried out there.
/// Signs in to the page of the instance at `addr` with the demo centre's token: the session cookie and its CSRF
/// token.
fn page_session(addr: &str) -> (String, String) {
    use std::io::{Read, Write};
    let body = br#"{"token":"demo-centre"}"#;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let cookie = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_owned())
        })
        .expect("a session cookie");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
    (cookie, body["csrf"].as_str().expect("csrf").to_owned())
}

fn api_over_two_instances(config: &Path, first: &str, second: &str, ingested: &(String, PathBuf)) {
    let all = orders_on_log(config);
    let theirs = orders_via_api(second, true);
    let mine = orders_via_api(first, true);
    assert!(
        !theirs.is_empty() && !mine.is_empty(),
        "both shards have orders: {mine:?} {theirs:?}"
    );
    assert_eq!(orders_via_api(first, false), all);
    assert_eq!(orders_via_api(second, false), all);
    let order = &theirs[0];
    let (status, answer) = http(
        first,
        "POST",
        &format!("/api/v1/orders/{order}/commands"),
        Some("demo-centre"),
        br#"{"command":"dispatch"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http(
        first,
        "GET",
        &format!("/api/v1/orders/{order}"),
        Some("demo-centre"),
        b"",
    );
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["order"]["status"], "dispatched", "{answer}");
    let (status, _) = http(first, "GET", "/api/v1/orders/wo-none", Some("demo-centre"), b"");
    assert_eq!(status, 404);
    // The command centre's page on a sharded store: signed in to one instance, it sees every shard's board and
    // acts on an order of another instance's shard, with its session's CSRF token.
    let (cookie, csrf) = page_session(first);
    let with_cookie = [("Cookie", cookie.as_str())];
    let (status, board) = support::http_with(first, "GET", "/api/v1/board", None, &with_cookie, b"");
    assert_eq!(status, 200, "{board}");
    let board: serde_json::Value = serde_json::from_str(&board).expect("JSON");
    let (_, warnings) = http(first, "GET", "/api/v1/warnings", Some("demo-centre"), b"");
    let warnings: serde_json::Value = serde_json::from_str(&warnings).expect("JSON");
    assert_eq!(
        board["warnings_total"].as_u64(),
        warnings["warnings"].as_array().map(|w| w.len() as u64),
        "{board}"
    );
    let mut on_board: Vec<String> = board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .flat_map(|c| c["orders"].as_array().cloned().unwrap_or_default())
        .map(|o| o["order_id"].as_str().expect("id").to_owned())
        .collect();
    on_board.sort();
    assert_eq!(on_board, all, "every shard's orders on one board");
    let accept = format!("/api/v1/orders/{order}/commands");
    let (status, _) = support::http_with(
        first,
        "POST",
        &accept,
        None,
        &with_cookie,
        br#"{"command":"accept"}"#,
    );
    assert_eq!(status, 403, "an action by cookie needs the CSRF token");
    let with_csrf = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let (status, answer) = support::http_with(
        first,
        "POST",
        &accept,
        None,
        &with_csrf,
        br#"{"command":"accept"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"accepted\""), "{answer}");
    // A file posted to one instance is decoded by one shard and routed to the shards that keep its records;
    // posted again, it adds nothing anywhere (the warnings at the end are those of the uninterrupted run).
    let (name, path) = ingested;
    let feed = name.split('-').next().expect("feed");
    let (status, answer) = http(
        second,
        "POST",
        &format!("/api/v1/ingest/{feed}?file={name}"),
        Some("demo-centre"),
        &std::fs::read(path).expect("file"),
    );
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    let file = &answer["file"];
    assert!(file["records"].as_u64().unwrap_or(0) > 0, "{answer}");
    assert_eq!(
        (file["new_clues"].as_u64(), file["new_versions"].as_u64()),
        (Some(0), Some(0)),
        "{answer}"
    );
    assert!(file.get("other_shards").is_none(), "{answer}");
    assert_eq!(
        file["routed"], file["records"],
        "every record routed, once: {answer}"
    );
}

#[test]
fn two_instances_share_the_shards_and_one_killed_mid_stream_leaves_the_warnings_of_an_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let stream = simulated_stream(dir.path(), 150, 60);
    assert!(stream.files.len() >= 20, "{} files", stream.files.len());

    // The uninterrupted run: one instance runs both shards and takes the stream file by file.
    let (config, topics) = sharded_config(dir.path(), "whole", 2);
    let (mut single, lines) = run_instance(&config);
    expect_line(&lines, "shard 0 running", "the single instance");
    expect_line(&lines, "shard 1 running", "the single instance");
    for (stage, ((name, path), n)) in stream.files.iter().zip(&stream.clues_after).enumerate() {
        publish_file(&topics, name, path);
        wait_for_kafka_clues(&config, *n, &format!("uninterrupted, file {stage} ({name})"));
    }
    single.kill().expect("stop");
    single.wait().expect("reaped");
    let unused = dir.path().join("unused");
    let expected = sorted_warnings(&ok(demo(&unused, Some(&config), &["warnings", "--json"])));
    assert!(expected.len() >= 10, "{} warnings", expected.len());

    // Two instances share the shards: the first takes both, then hands one to the second when it joins.
    let (config, topics) = sharded_config(dir.path(), "pair", 2);
    let (mut first, first_lines) = run_instance(&config);
    let first_addr = listening(&first_lines);
    expect_line(&first_lines, "shard 0 running", "the first instance");
    expect_line(&first_lines, "shard 1 running", "the first instance");
    let (mut second, second_lines) = run_instance(&config);
    let second_addr = listening(&second_lines);
    let moved = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline
                .checked_duration_since(std::time::Instant::now())
                .expect("the second instance runs a shard within a minute");
            let line = second_lines.recv_timeout(left).expect("a line");
            if let Some(shard) = line
                .strip_prefix("shard ")
                .and_then(|l| l.strip_suffix(" running"))
            {
                break shard.to_owned();
            }
        }
    };
    expect_line(
        &first_lines,
        &format!("shard {moved} handed over"),
        "the first instance",
    );
    let kill_at = stream.files.len() / 2;
    for (stage, ((name, path), n)) in stream.files.iter().zip(&stream.clues_after).enumerate() {
        if stage == kill_at {
            api_over_two_instances(&config, &first_addr, &second_addr, &stream.files[0]);
        }
        publish_file(&topics, name, path);
        if stage == kill_at {
            // SIGKILL the first while both are taking this file in; the second takes over its shard (after the
            // group's session timeout), fencing whatever the first left half-written.
            std::thread::sleep(std::time::Duration::from_millis(20));
            first.kill().expect("SIGKILL");
            first.wait().expect("reaped");
            let kept = if moved == "0" { "1" } else { "0" };
            expect_line(
                &second_lines,
                &format!("shard {kept} running"),
                "the second instance taking over",
            );
        }
        wait_for_kafka_clues(&config, *n, &format!("pair, file {stage} ({name})"));
    }
    // The survivor runs both shards: its health says so, its metrics carry both, its API answers for both.
    let (status, health) = http(&second_addr, "GET", "/health", None, b"");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).expect("JSON");
    assert_eq!(health["shards"], serde_json::json!({"running": [0, 1], "of": 2}));
    // Each shard's consumers' lag, as a single instance reports its own.
    for shard in ["0", "1"] {
        assert!(health["lag"][shard]["correlate"]["records"].is_i64(), "{health}");
    }
    // What the router handed each shard and it has not ingested yet: nothing, by now. (A shard's figures are
    // refreshed when a request finds its pipeline idle, so a few requests may see the last values.)
    let route_lag_zero = |health: &serde_json::Value| {
        ["0", "1"]
            .iter()
            .all(|shard| health["lag"][shard]["route"]["records"] == 0)
    };
    let mut health = health;
    for _ in 0..100 {
        if route_lag_zero(&health) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (_, text) = http(&second_addr, "GET", "/health", None, b"");
        health = serde_json::from_str(&text).expect("JSON");
    }
    assert!(route_lag_zero(&health), "{health}");
    // The stream was decoded once, by shard 0's router, and each shard's part went to its partition of the
    // repartition topic: both partitions carried messages.
    // Supervision deletes what each shard has ingested: the sealed copies of raw units do not stay behind.
    let (status, answer) = http(
        &second_addr,
        "POST",
        "/api/v1/supervise",
        Some("demo-centre"),
        b"",
    );
    assert_eq!(status, 200, "{answer}");
    for partition in [0, 1] {
        let (low, high) = watermarks(&format!("{}repartition", prefix_of(&config)), partition);
        assert!(
            high > 0,
            "partition {partition} of the repartition topic is empty"
        );
        // Up to the last message ingested (the commit marker after it may stay).
        assert!(
            low + 1 >= high,
            "partition {partition}: kept from {low} to {high}"
        );
    }
    assert_eq!(health["degraded"], serde_json::json!([]), "{health}");
    let (status, ready) = http(&second_addr, "GET", "/ready", None, b"");
    assert_eq!((status, ready.as_str()), (200, r#"{"ready":true}"#));
    let (_, metrics) = http(&second_addr, "GET", "/metrics", None, b"");
    for shard in ["0", "1"] {
        assert!(
            metrics.contains(&format!("yujing_clusters{{shard=\"{shard}\"}}")),
            "{metrics}"
        );
    }
    assert_eq!(
        orders_via_api(&second_addr, false),
        orders_on_log(&config),
        "the survivor's API lists every shard's orders"
    );
    // The event stream interleaves every shard's outbox; its ids resume every shard where it stood.
    let warning_ids: Vec<String> = expected
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["warning_id"].as_str().expect("id").to_owned()
        })
        .collect();
    let all_warnings = |events: &[(String, String)]| {
        warning_ids
            .iter()
            .all(|w| events.iter().any(|(_, data)| data.contains(&format!("\"{w}\""))))
    };
    let events = read_events(&second_addr, "demo-centre", None, THIRTY_S, all_warnings);
    assert!(
        all_warnings(&events),
        "every shard's warnings are in the stream ({} events)",
        events.len()
    );
    assert!(events.iter().any(|(id, _)| id.starts_with("0:")) && events[0].0.contains(",1:"));
    let resumed = read_events(&second_addr, "demo-centre", Some(&events[4].0), THIRTY_S, |e| {
        !e.is_empty()
    });
    assert_eq!(resumed.first(), events.get(5), "resumed after the fifth event");
    // A town handler's stream holds exactly its town's entries, told by the scope each entry carries.
    let town_of = |data: &str| {
        let v: serde_json::Value = serde_json::from_str(data).expect("JSON");
        v["scope"]["town_name"].as_str().unwrap_or_default().to_owned()
    };
    let rucheng: Vec<&(String, String)> = events.iter().filter(|(_, d)| town_of(d) == "如城街道").collect();
    assert!(!rucheng.is_empty(), "the month has 如城街道 entries");
    let handler = read_events(&second_addr, "demo-rucheng", None, THIRTY_S, |e| {
        e.len() >= rucheng.len()
    });
    assert_eq!(handler.iter().collect::<Vec<_>>(), rucheng);
    // Without `?from=0` or Last-Event-ID, the stream starts at every shard's end: nothing old is sent again.
    let from_now = read_events_at(
        &second_addr,
        "/api/v1/events",
        "demo-centre",
        None,
        std::time::Duration::from_secs(2),
        |e| !e.is_empty(),
    );
    assert!(from_now.is_empty(), "a new stream starts now: {from_now:?}");
    second.kill().expect("stop");
    second.wait().expect("reaped");
    let got = sorted_warnings(&ok(demo(&unused, Some(&config), &["warnings", "--json"])));
    assert_eq!(got, expected, "no warning lost or doubled across the kill");
    // Splitting the county by town keeps the warnings of this month but at most a couple: the same disputes,
    // clusters, levels and counts as the files ingested unsharded. Term and place weights are learned per
    // shard, and a report without a town (a landmark in the text, no address) lands in the shard its bytes hash
    // to: correlation does not cross shards, so a dispute near a threshold may warn in one run and not the
    // other (0.75 % of a county year's warnings, docs/PERFORMANCE.md).
    let substance = |lines: &[String]| -> Vec<String> {
        let mut out: Vec<String> = lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                format!(
                    "{} {} {} {} {}",
                    v["warning_id"], v["level"], v["cluster_id"], v["occurrences"], v["subject"]
                )
            })
            .collect();
        out.sort();
        out
    };
    let (sharded, unsharded) = (substance(&got), substance(&stream.unsharded_warnings));
    let differ: Vec<&String> = sharded
        .iter()
        .filter(|w| !unsharded.contains(w))
        .chain(unsharded.iter().filter(|w| !sharded.contains(w)))
        .collect();
    assert!(
        unsharded.len() >= 20 && differ.len() <= 2,
        "{} of {} warnings differ between the sharded and the unsharded run: {differ:#?}",
        differ.len(),
        unsharded.len()
    );

    // The history reads back from every shard: a replay of the stored log by time gives what a replay of the
    // same export files gives; offsets, which name a record only within a partition, are refused; and only
    // `yujing run` writes a sharded store.
    let replayed = dir.path().join("replayed");
    let printed = ok(demo(
        &unused,
        Some(&config),
        &[
            "replay",
            "--from-log",
            "--since",
            "2025-12-01",
            "--out",
            &replayed.display().to_string(),
        ],
    ));
    assert!(printed.contains("from the stored log (Kafka"), "{printed}");
    let files = dir.path().join("files");
    let feeds = stream.files[0].1.parent().expect("feeds").display().to_string();
    ok(demo(
        &unused,
        None,
        &["replay", "--feeds", &feeds, "--out", &files.display().to_string()],
    ));
    let read = |d: &Path| std::fs::read_to_string(d.join("warnings.jsonl")).expect("replay output");
    assert_eq!(read(&replayed), read(&files));
    let refused = demo(
        &unused,
        Some(&config),
        &[
            "replay",
            "--from-log",
            "--from-offset",
            "3",
            "--out",
            &replayed.display().to_string(),
        ],
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("split into 2 shards"),
        "{refused:?}"
    );
    let refused = demo(
        &unused,
        Some(&config),
        &["ingest", &stream.files[0].1.display().to_string()],
    );
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("only `yujing run` writes it"),
        "{refused:?}"
    );
}
