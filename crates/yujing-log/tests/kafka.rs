//! The Kafka backend against a real Apache Kafka broker.
//!
//! `YUJING_KAFKA_BOOTSTRAP` names the broker; without it the tests start one with `bash .ci/kafka start` (Apache
//! Kafka from Maven Central, a single KRaft node on 127.0.0.1, run with the JDK `.ci/setup` installs), which
//! `bash .ci/kafka stop` stops. The tests of this file run one at a time: one of them restarts the broker.

mod broker;

use std::time::{SystemTime, UNIX_EPOCH};

use broker::{bootstrap, control_script, sasl_bootstrap, serial, tls_bootstrap};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use yujing_log::{Batch, KafkaConfig, KafkaLog, Log, Record, ShardId};

/// A configuration with topics and a transactional id of its own.
fn config(name: &str) -> KafkaConfig {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    KafkaConfig {
        bootstrap_servers: bootstrap(),
        topic_prefix: format!("t{nanos}.{name}."),
        transactional_id: format!("t{nanos}-{name}"),
        replication_factor: 1,
        timeout_ms: 30_000,
        partitions: 1,
        snapshot_dir: std::path::PathBuf::new(),
        client: Default::default(),
        client_env: Default::default(),
        expiring: None,
    }
}

fn record(key: &str, value: &str) -> Record {
    Record {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        timestamp_ms: 1_780_000_000_000,
    }
}

fn values(log: &KafkaLog, topic: &str) -> Vec<String> {
    let end = log.end_offset(topic).unwrap_or_else(|e| panic!("{e}"));
    log.read(topic, 0, end as usize + 10)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.record.value).into_owned())
        .collect()
}

#[test]
fn batches_append_atomically_with_state_and_read_back_in_order() {
    let _serial = serial();
    let config = config("basic");
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        log.end_offset("clues").unwrap_or(99),
        0,
        "a topic never written is empty"
    );
    assert!(log.read("clues", 0, 10).unwrap_or_default().is_empty());

    let mut batch = Batch::new();
    batch.append("clues", record("a", "clue 1"));
    batch.append("links", record("k", "link 1"));
    batch.append("clues", record("b", "clue 2"));
    batch.put_state(b"correlate/segments".to_vec(), b"[2]".to_vec());
    batch.put_state(b"gone".to_vec(), b"x".to_vec());
    let offsets = log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(offsets, [0, 0, 1], "offsets per topic, in batch order");

    let mut batch = Batch::new();
    batch.append("clues", record("c", "clue 3"));
    batch.delete_state(b"gone".to_vec());
    let offsets = log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    // The first batch's commit marker took offset 2.
    assert!(offsets[0] >= 2, "{offsets:?}");

    assert_eq!(values(&log, "clues"), ["clue 1", "clue 2", "clue 3"]);
    assert_eq!(values(&log, "links"), ["link 1"]);
    let entries = log.read("clues", 1, 10).unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].offset, 1);
    assert_eq!(entries[0].record.key, b"b");
    assert_eq!(entries[0].record.timestamp_ms, 1_780_000_000_000);
    // Reading from the end of the first record's successor pages correctly.
    assert_eq!(
        log.read("clues", entries[1].offset, 1).unwrap_or_default().len(),
        1
    );
    assert!(log
        .read("clues", log.end_offset("clues").unwrap_or(0), 5)
        .unwrap_or_default()
        .is_empty());
    assert_eq!(
        log.state(b"correlate/segments").unwrap_or_default(),
        Some(b"[2]".to_vec())
    );
    assert_eq!(log.state(b"gone").unwrap_or_default(), None);
    drop(log);

    // A new instance (same transactional id, as after a restart) reads the same log and state.
    let again = KafkaLog::open(config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values(&again, "clues"), ["clue 1", "clue 2", "clue 3"]);
    assert_eq!(
        again.state(b"correlate/segments").unwrap_or_default(),
        Some(b"[2]".to_vec())
    );
    assert_eq!(again.state(b"gone").unwrap_or_default(), None);
}

#[test]
fn large_batches_page_through_in_order() {
    let _serial = serial();
    let log = KafkaLog::open(config("large")).unwrap_or_else(|e| panic!("{e}"));
    for round in 0..3 {
        let mut batch = Batch::new();
        for i in 0..4000 {
            batch.append(
                "raw.grid",
                record(&format!("{round}-{i}"), &format!("{}", round * 4000 + i)),
            );
        }
        log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = log.read("raw.grid", from, 1000).unwrap_or_else(|e| panic!("{e}"));
        let Some(last) = page.last() else { break };
        from = last.offset + 1;
        seen.extend(page.into_iter().map(|e| {
            String::from_utf8_lossy(&e.record.value)
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        }));
    }
    assert_eq!(seen, (0..12_000).collect::<Vec<u32>>());
}

#[test]
fn a_batch_cut_off_by_a_crash_is_never_seen_and_the_crashed_writer_is_fenced() {
    let _serial = serial();
    let config = config("crash");
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new();
    batch.append("warnings", record("w1", "committed"));
    log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    drop(log);

    // A writer with the same transactional id sends a batch and dies before committing.
    let crashed: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("broker.address.family", "v4")
        .set("transactional.id", &config.transactional_id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    crashed
        .init_transactions(std::time::Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    crashed.begin_transaction().unwrap_or_else(|e| panic!("{e}"));
    let topic = format!("{}warnings", config.topic_prefix);
    crashed
        .send(
            BaseRecord::<[u8], [u8]>::to(&topic)
                .key(b"w2".as_slice())
                .payload(b"half a batch".as_slice()),
        )
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    crashed
        .flush(std::time::Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));

    // The restarted instance aborts it: readers never see it, and the old writer can no longer commit.
    let log = KafkaLog::open(config).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        crashed
            .commit_transaction(std::time::Duration::from_secs(10))
            .is_err(),
        "the zombie is fenced"
    );
    drop(crashed);
    let mut batch = Batch::new();
    batch.append("warnings", record("w3", "after the crash"));
    log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values(&log, "warnings"), ["committed", "after the crash"]);
}

#[test]
fn the_log_survives_a_broker_restart_without_loss_or_duplicates() {
    let _serial = serial();
    let control = std::env::var("YUJING_KAFKA_CONTROL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| control_script());
    let log = KafkaLog::open(config("restart")).unwrap_or_else(|e| panic!("{e}"));
    let write = |from: u32, to: u32| {
        let mut batch = Batch::new();
        for i in from..to {
            batch.append("clues", record(&i.to_string(), &i.to_string()));
        }
        batch.put_state(b"written".to_vec(), to.to_string().into_bytes());
        log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    };
    write(0, 100);
    let status = std::process::Command::new("bash")
        .arg(&control)
        .arg("restart")
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "the broker restarted");
    // The same client carries on: the producer reconnects, its transactions resume.
    write(100, 200);
    let seen: Vec<u32> = values(&log, "clues")
        .iter()
        .map(|v| v.parse().unwrap_or(u32::MAX))
        .collect();
    assert_eq!(seen, (0..200).collect::<Vec<u32>>());
    assert_eq!(log.state(b"written").unwrap_or_default(), Some(b"200".to_vec()));
}

#[test]
fn one_writer_holds_the_lease_and_hands_it_over_when_it_goes() {
    let _serial = serial();
    use std::time::Duration;
    use yujing_log::{KafkaLease, LogError};
    let config = config("lease");
    let first = KafkaLog::open_leased(config.clone(), Some(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}"));
    // A second writer waits, and gives up at its deadline while the first lives.
    let refused = KafkaLease::acquire(&config, Some(Duration::from_secs(3)));
    assert!(matches!(refused, Err(LogError::Kafka { .. })), "{refused:?}");
    assert!(!first.lease_lost());
    let mut batch = Batch::new();
    batch.append("clues", record("a", "by the first"));
    first.write(batch).unwrap_or_else(|e| panic!("{e}"));
    // The first goes (leaving the group): the second gets the lease at once and writes.
    drop(first);
    let second =
        KafkaLog::open_leased(config, Some(Duration::from_secs(30))).unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new();
    batch.append("clues", record("b", "by the second"));
    second.write(batch).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values(&second, "clues"), ["by the first", "by the second"]);
}

/// Creates `name` as an administrator would, with `partitions` and `settings`.
fn create_topic(name: &str, partitions: i32, settings: &[(&str, &str)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .expect("an admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in settings {
        topic = topic.set(key, value);
    }
    let created = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(admin.create_topics([&topic], &AdminOptions::new()))
        .expect("the broker answers");
    for result in created {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
}

#[test]
fn a_topic_with_fewer_replicas_or_in_sync_replicas_than_configured_is_refused() {
    let _serial = serial();
    // A production configuration (three replicas) against topics an administrator made on one broker.
    let mut config = config("replicas");
    config.replication_factor = 3;
    create_topic(
        &format!("{}state", config.topic_prefix),
        1,
        &[("cleanup.policy", "compact"), ("min.insync.replicas", "1")],
    );
    let refused = KafkaLog::open(config)
        .expect_err("one replica where three are configured is refused")
        .to_string();
    assert!(
        refused.contains("1 replica(s) a partition, [store.kafka] replication_factor is 3"),
        "{refused}"
    );
    assert!(
        refused.contains("min.insync.replicas is 1") && refused.contains("min.insync.replicas=2"),
        "{refused}"
    );
    assert_eq!(yujing_log::min_insync_replicas(1), 1);
    assert_eq!(yujing_log::min_insync_replicas(3), 2);
    assert_eq!(yujing_log::min_insync_replicas(5), 2);
}

#[test]
fn topics_an_administrator_created_are_verified_and_wrong_settings_are_named() {
    let _serial = serial();
    let config = config("precreated");
    let name = |topic: &str| format!("{}{topic}", config.topic_prefix);
    // Right: one partition, every record kept. Wrong: three partitions; a log topic with compaction and a week's
    // retention; a state topic deleted by age.
    create_topic(
        &name("clues"),
        1,
        &[("retention.ms", "-1"), ("retention.bytes", "-1")],
    );
    create_topic(
        &name("links"),
        3,
        &[("retention.ms", "-1"), ("retention.bytes", "-1")],
    );
    create_topic(
        &name("warnings"),
        1,
        &[("cleanup.policy", "compact"), ("retention.ms", "604800000")],
    );
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new();
    batch.append("clues", record("c1", "a clue"));
    log.write(batch)
        .unwrap_or_else(|e| panic!("a verified topic takes writes: {e}"));
    assert_eq!(values(&log, "clues"), ["a clue"]);

    let mut batch = Batch::new();
    batch.append("links", record("l1", "a link"));
    let refused = log
        .write(batch)
        .expect_err("three partitions are refused")
        .to_string();
    assert!(
        refused.contains(&name("links")) && refused.contains("3 partitions"),
        "{refused}"
    );

    let mut batch = Batch::new();
    batch.append("warnings", record("w1", "a warning"));
    let refused = log.write(batch).expect_err("compaction is refused").to_string();
    assert!(
        refused.contains("cleanup.policy is 'compact'") && refused.contains("retention.ms is 604800000"),
        "{refused}"
    );
    drop(log);

    // A state topic an administrator made with deletion by age: the log does not open.
    let config = self::config("precreated-state");
    create_topic(
        &format!("{}state", config.topic_prefix),
        1,
        &[("cleanup.policy", "delete")],
    );
    let refused = KafkaLog::open(config).expect_err("a state topic that forgets is refused");
    assert!(
        refused.to_string().contains("the state topic needs 'compact'"),
        "{refused}"
    );
}

#[test]
fn raw_topics_lose_their_early_records_and_keep_their_offsets() {
    let _serial = serial();
    let mut config = config("expiring");
    config.expiring = Some(yujing_log::ExpiringTopics {
        prefix: "raw.".to_owned(),
        retention_ms: 30 * 86_400_000,
    });
    // An administrator made one raw topic with a retention of their own: accepted for a topic that expires.
    create_topic(
        &format!("{}raw.police", config.topic_prefix),
        1,
        &[("retention.ms", "604800000"), ("min.insync.replicas", "1")],
    );
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new();
    for i in 0..10 {
        batch.append("raw.grid", record("k", &format!("unit {i}")));
        batch.append("raw.police", record("k", &format!("call {i}")));
    }
    batch.append("clues", record("c", "a clue"));
    log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    // Deleting stops at the broker's last stable offset, which passes a transaction shortly after its commit
    // (the markers are written after `commit_transaction` returns): asked again, it gets there.
    let delete_until = |topic: &str, offset: u64, expected: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let start = log.delete_before(topic, offset).unwrap_or_else(|e| panic!("{e}"));
            if start == expected || std::time::Instant::now() > deadline {
                return start;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    assert_eq!(delete_until("raw.grid", 4, 4), 4);
    // Past the end stops at the end (on Kafka, after the transaction's commit marker).
    let end = log.end_offset("raw.police").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delete_until("raw.police", 99, end), end);
    assert_eq!(log.start_offset("raw.grid").unwrap_or_else(|e| panic!("{e}")), 4);
    assert_eq!(log.start_offset("clues").unwrap_or_else(|e| panic!("{e}")), 0);
    let kept = log.read("raw.grid", 4, 100).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kept.first().map(|e| e.offset), Some(4));
    assert_eq!(kept.len(), 6);
    // Offsets are never reused.
    let end = log.end_offset("raw.grid").unwrap_or_else(|e| panic!("{e}"));
    assert!(end >= 10);
    let mut batch = Batch::new();
    batch.append("raw.grid", record("k", "later"));
    assert_eq!(log.write(batch).unwrap_or_else(|e| panic!("{e}")), vec![end]);
    drop(log);

    // Without a raw retention configured, the same kind of topic is refused: the log keeps every record.
    let config = self::config("not-expiring");
    create_topic(
        &format!("{}raw.police", config.topic_prefix),
        1,
        &[("retention.ms", "604800000")],
    );
    let log = KafkaLog::open(config).unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new();
    batch.append("raw.police", record("k", "a call"));
    let refused = log.write(batch).expect_err("a retention is refused").to_string();
    assert!(refused.contains("retention.ms is 604800000"), "{refused}");
}

#[test]
fn shards_are_written_apart_share_the_lease_and_read_back_together() {
    let _serial = serial();
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use yujing_log::{shard_offset, split_shard_offset, KafkaLease, LogError};
    let mut config = config("shards");
    config.partitions = 2;
    // One log cannot be opened on a sharded store: only its shards can.
    assert!(matches!(
        KafkaLog::open(config.clone()),
        Err(LogError::Sharded { partitions: 2 })
    ));
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Alone in the group, the first instance is given both shards; a second joining takes one of them.
    let first = Arc::new(KafkaLease::join(&config).unwrap_or_else(|e| panic!("{e}")));
    wait_for("the first holds both shards", &|| {
        first.owned() == [ShardId(0), ShardId(1)]
    });
    let second = Arc::new(KafkaLease::join(&config).unwrap_or_else(|e| panic!("{e}")));
    wait_for("the shards are shared", &|| {
        first.owned().len() == 1 && second.owned().len() == 1
    });
    let mine = first.owned()[0];
    let theirs = second.owned()[0];
    let a = KafkaLog::open_shard(config.clone(), mine, first.clone()).unwrap_or_else(|e| panic!("{e}"));
    let b = KafkaLog::open_shard(config.clone(), theirs, second.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.shard(), Some((mine, 2)));
    for (log, name) in [(&a, "a"), (&b, "b")] {
        for i in 0..3 {
            let mut batch = Batch::new();
            batch.append("clues", record(name, &format!("{name}{i}")));
            batch.put_state(b"last".to_vec(), format!("{name}{i}").into_bytes());
            log.write(batch).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // Each shard is its own log: its own offsets and its own state.
    assert_eq!(values(&a, "clues"), ["a0", "a1", "a2"]);
    assert_eq!(values(&b, "clues"), ["b0", "b1", "b2"]);
    assert_eq!(a.state(b"last").unwrap_or_default(), Some(b"a2".to_vec()));
    // A reader sees every shard, one after the other, with offsets that say which.
    let reader = KafkaLog::open_read_only(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reader.shard(), None);
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = reader.read("clues", from, 2).unwrap_or_else(|e| panic!("{e}"));
        let Some(last) = page.last() else { break };
        from = last.offset + 1;
        seen.extend(page.into_iter().map(|e| {
            (
                split_shard_offset(e.offset).0,
                String::from_utf8_lossy(&e.record.value).into_owned(),
            )
        }));
    }
    let (zero, one) = if mine == ShardId(0) {
        ("a", "b")
    } else {
        ("b", "a")
    };
    let expected: Vec<(ShardId, String)> = [(ShardId(0), zero), (ShardId(1), one)]
        .iter()
        .flat_map(|(p, n)| (0..3).map(move |i| (*p, format!("{n}{i}"))))
        .collect();
    assert_eq!(seen, expected);
    assert!(reader.end_offset("clues").unwrap_or(0) > shard_offset(ShardId(1), 0));

    // The second instance goes: the first is given its shard, opens it and writes on from where it stood.
    drop(b);
    drop(second);
    wait_for("the first holds both again", &|| {
        first.owned() == [ShardId(0), ShardId(1)]
    });
    let zombie =
        KafkaLog::open_shard(config.clone(), theirs, first.clone()).unwrap_or_else(|e| panic!("{e}"));
    let taken = KafkaLog::open_shard(config, theirs, first.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.state(b"last").unwrap_or_default(), Some(b"b2".to_vec()));
    let mut batch = Batch::new();
    batch.append("clues", record("b", "b3"));
    taken.write(batch).unwrap_or_else(|e| panic!("{e}"));
    // A writer of the shard opened before it (a zombie) is fenced by the shard's transactional id.
    let mut batch = Batch::new();
    batch.append("clues", record("b", "zombie"));
    assert!(zombie.write(batch).is_err(), "the zombie is fenced");
    assert_eq!(values(&taken, "clues"), ["b0", "b1", "b2", "b3"]);
}

#[test]
fn the_state_restarts_from_its_checkpoint_and_reads_only_the_topic_after_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut config = config("checkpoint");
    config.snapshot_dir = dir.path().to_path_buf();
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    let put = |log: &KafkaLog, key: &str, value: Option<&str>| {
        let mut batch = Batch::new();
        batch.append("clues", record(key, "a clue"));
        match value {
            Some(value) => batch.put_state(key.as_bytes().to_vec(), value.as_bytes().to_vec()),
            None => batch.delete_state(key.as_bytes().to_vec()),
        }
        log.write(batch).unwrap_or_else(|e| panic!("{e}"));
    };
    for n in 0..20 {
        put(&log, &format!("k{n}"), Some("before"));
    }
    let path = log
        .checkpoint_state()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a writer with a snapshot directory checkpoints"));
    // After the checkpoint: a key changed, one deleted, one added.
    put(&log, "k1", Some("after"));
    put(&log, "k2", None);
    put(&log, "k20", Some("new"));
    drop(log);

    let again = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        again.state_read_from() > 0,
        "the state topic was read from its checkpoint on"
    );
    let state = |log: &KafkaLog, key: &str| {
        log.state(key.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    assert_eq!(state(&again, "k0").as_deref(), Some("before"));
    assert_eq!(state(&again, "k1").as_deref(), Some("after"));
    assert_eq!(state(&again, "k2"), None);
    assert_eq!(state(&again, "k20").as_deref(), Some("new"));
    drop(again);

    // A damaged checkpoint is refused: the whole topic is read, to the same state.
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let whole = KafkaLog::open(config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole.state_read_from(), 0);
    assert_eq!(state(&whole, "k1").as_deref(), Some("after"));
    assert_eq!(state(&whole, "k2"), None);
    assert_eq!(state(&whole, "k19").as_deref(), Some("before"));
}

/// A store behind SASL (the broker's SASL_PLAINTEXT listener, PLAIN): reached with the credentials
/// `[store.kafka.client]` gives, and refused, with an error, with a wrong password read from the environment.
#[test]
fn a_store_behind_sasl_is_written_with_its_credentials_and_refused_with_wrong_ones() {
    let _serial = serial();
    let mut config = config("sasl");
    config.bootstrap_servers = sasl_bootstrap();
    config.client = [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "yujing"),
        ("sasl.password", "yujing-ci-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    let mut batch = Batch::new();
    batch.append("clues", record("a", "behind sasl"));
    log.write(batch).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    assert_eq!(values(&log, "clues"), ["behind sasl"]);
    drop(log);

    // A password read from the environment (any variable that is set: PATH is not the password).
    let mut wrong = config.clone();
    wrong.client.remove("sasl.password");
    wrong.client_env = [("sasl.password".to_owned(), "PATH".to_owned())].into();
    wrong.timeout_ms = 5_000;
    wrong.transactional_id.push_str("-wrong");
    let refused = KafkaLog::open(wrong).err().map(|e| format!("{e}: {e:?}"));
    let refused = refused.unwrap_or_else(|| panic!("a wrong password was accepted"));
    assert!(refused.contains("Kafka"), "{refused}");
    assert!(!refused.contains("yujing-ci-secret"), "{refused}");
}

#[test]
fn a_store_behind_tls_is_written_when_its_ca_is_trusted_and_refused_otherwise() {
    let _serial = serial();
    let (address, ca) = tls_bootstrap();
    let mut config = config("tls");
    config.bootstrap_servers = address;
    config.client = [("security.protocol", "SSL"), ("ssl.ca.location", ca.as_str())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let log = KafkaLog::open(config.clone()).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    let mut batch = Batch::new();
    batch.append("clues", record("a", "behind tls"));
    log.write(batch).unwrap_or_else(|e| panic!("{e}: {e:?}"));
    assert_eq!(values(&log, "clues"), ["behind tls"]);
    drop(log);

    // A client that trusts only the system's CAs does not accept the broker's certificate.
    let mut untrusting = config.clone();
    untrusting.client.remove("ssl.ca.location");
    untrusting.timeout_ms = 5_000;
    untrusting.transactional_id.push_str("-untrusting");
    let refused = KafkaLog::open(untrusting).err().map(|e| format!("{e}: {e:?}"));
    assert!(refused.is_some(), "a broker whose CA is not trusted was accepted");
    // Nor does one that speaks plain text to the TLS port.
    let mut plain = config;
    plain.client.clear();
    plain.timeout_ms = 5_000;
    plain.transactional_id.push_str("-plain");
    assert!(
        KafkaLog::open(plain).is_err(),
        "plain text was accepted on the TLS port"
    );
}
