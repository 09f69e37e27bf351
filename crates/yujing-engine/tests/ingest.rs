//! Ingestion onto a real embedded log: idempotency, versions, raw units logged once, and a store that survives
//! reopening.

use yujing_engine::{for_each_clue, EngineConfig, FixedClock, Ingestor};
use yujing_log::{EmbeddedLog, Log};
use yujing_model::FeedId;

const HOTLINE: &[u8] = include_bytes!("../../../docs/feeds/hotline12345.sample.jsonl");

fn config() -> yujing_engine::Built {
    let mut config = EngineConfig::defaults();
    config.pii.secret = "engine-test-secret-0123456789".to_owned();
    config.check().expect("configuration builds")
}

#[test]
fn the_same_file_twice_logs_no_clue_and_no_raw_unit_again() {
    let built = config();
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
        let first = ingestor
            .ingest_bytes(FeedId::Hotline12345, "hotline12345.jsonl", HOTLINE)
            .expect("ingest");
        assert_eq!((first.raw_units, first.new_clues, first.new_versions), (6, 5, 1));
        assert_eq!(log.end_offset("raw.hotline12345").expect("end"), 6);
    }
    // Reopened, as a new process would.
    let log = EmbeddedLog::open(dir.path()).expect("reopen");
    let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
    let second = ingestor
        .ingest_bytes(FeedId::Hotline12345, "hotline12345-again.jsonl", HOTLINE)
        .expect("ingest");
    assert_eq!(
        (second.raw_units, second.new_clues, second.new_versions),
        (0, 0, 0)
    );
    assert_eq!(second.duplicates, 6);
    assert_eq!(log.end_offset("raw.hotline12345").expect("end"), 6);
    assert_eq!(log.end_offset("clues").expect("end"), 6);

    // A re-delivery with a changed status is version 3 of the same clue, pointing at its own raw unit.
    let resent = String::from_utf8_lossy(HOTLINE)
        .lines()
        .next()
        .expect("a line")
        .replace("\"blzt\":\"待派单\"", "\"blzt\":\"已办结\"");
    let third = ingestor
        .ingest_bytes(
            FeedId::Hotline12345,
            "hotline12345-resent.jsonl",
            resent.as_bytes(),
        )
        .expect("ingest");
    assert_eq!((third.raw_units, third.new_versions), (1, 1));
    let mut versions = Vec::new();
    for_each_clue(&log, |clue| {
        if clue.source_id == "RG2026060300417" {
            versions.push((clue.version, clue.source_status.clone(), clue.raw.offset));
        }
    })
    .expect("read clues");
    assert_eq!(
        versions,
        vec![
            (1, Some("待派单".to_owned()), 0),
            (2, Some("已派单".to_owned()), 1),
            (3, Some("已办结".to_owned()), 6),
        ]
    );
}

/// What a store holds, for comparison: clues (id, version, town), dead letters (feed, position, kind) and raw
/// units per feed.
type Contents = (Vec<(String, u32, String)>, Vec<String>, Vec<u64>);

fn contents(log: &EmbeddedLog) -> Contents {
    let mut clues = Vec::new();
    for_each_clue(log, |clue| {
        clues.push((
            clue.clue_id.clone(),
            clue.version,
            clue.town.town_code.to_string(),
        ));
    })
    .expect("clues");
    let mut letters = Vec::new();
    yujing_engine::for_each_dead_letter(log, |letter| {
        letters.push(format!(
            "{} {} {}",
            letter.feed,
            letter.location,
            letter.kind.as_str()
        ));
    })
    .expect("dead letters");
    let raw: Vec<u64> = FeedId::ALL
        .iter()
        .map(|feed| log.end_offset(&format!("raw.{}", feed.as_str())).expect("end"))
        .collect();
    clues.sort();
    letters.sort();
    (clues, letters, raw)
}

#[test]
fn shards_split_a_county_by_town_and_together_hold_exactly_the_unsharded_store() {
    use yujing_engine::Shard;
    let built = config();
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let mut simulation = yujing_sim::simulate(
        &yujing_sim::SimConfig {
            seed: 11,
            disputes: 120,
            days: 45,
            ..yujing_sim::SimConfig::default()
        },
        built.normalizer.gazetteer(),
    );
    // Bad records have no town: each is kept by the shard its bytes hash to.
    let bad: String = (0..12).map(|i| format!("{{\"bad\": {i},\n")).collect();
    simulation
        .files
        .insert("hotline12345-bad.jsonl".to_owned(), bad.into_bytes());
    let ingest_all = |log: &EmbeddedLog, shard: Shard| {
        let ingestor = Ingestor::new(log, &built.normalizer, &clock).for_shard(shard);
        let mut other_shards = 0;
        for (name, bytes) in &simulation.files {
            let feed = yujing_feeds::adapters::detect_feed(std::path::Path::new(name)).expect("feed");
            other_shards += ingestor
                .ingest_bytes(feed, name, bytes)
                .expect("ingest")
                .other_shards;
        }
        other_shards
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = EmbeddedLog::open(dir.path().join("whole")).expect("open");
    assert_eq!(ingest_all(&whole, Shard::WHOLE), 0);
    let (clues, letters, raw) = contents(&whole);
    assert!(
        clues.len() > 300 && letters.len() >= 12,
        "{} clues, {} letters",
        clues.len(),
        letters.len()
    );

    let shards: Vec<_> = (0..3)
        .map(|i| {
            let log = EmbeddedLog::open(dir.path().join(format!("shard{i}"))).expect("open");
            let left = ingest_all(&log, Shard::new(yujing_log::ShardId(i), 3));
            (contents(&log), left)
        })
        .collect();
    // Every clue, dead letter and raw unit is in exactly one shard; a town's clues all in the same one.
    let mut union_clues: Vec<_> = shards.iter().flat_map(|((c, _, _), _)| c.clone()).collect();
    union_clues.sort();
    assert_eq!(union_clues, clues);
    let mut union_letters: Vec<_> = shards.iter().flat_map(|((_, l, _), _)| l.clone()).collect();
    union_letters.sort();
    assert_eq!(union_letters, letters);
    // Raw units too, except that an exchange envelope carrying records of towns in two shards is kept by both
    // (each shard's clues point into its own partition).
    for (f, feed) in FeedId::ALL.iter().enumerate() {
        let split: u64 = shards.iter().map(|((_, _, r), _)| r[f]).sum();
        if *feed == FeedId::Exchange {
            assert!(
                split >= raw[f] && split < raw[f] * 2,
                "{feed}: {split} of {}",
                raw[f]
            );
        } else {
            assert_eq!(split, raw[f], "{feed}");
        }
    }
    let mut town_shard = std::collections::HashMap::new();
    for (i, ((clues, _, _), left)) in shards.iter().enumerate() {
        assert!(!clues.is_empty(), "shard {i} has towns");
        assert!(*left > 0, "shard {i} left records to the others");
        for (_, _, town) in clues {
            assert_eq!(*town_shard.entry(town.clone()).or_insert(i), i, "town {town}");
        }
    }
}

#[test]
fn a_directory_that_links_to_itself_is_walked_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(feeds.join("sub")).expect("mkdir");
    std::fs::write(feeds.join("hotline12345-06.jsonl"), HOTLINE).expect("write");
    std::fs::write(feeds.join("sub/grid-06.jsonl"), b"").expect("write");
    // Two links to the directory itself and one to its parent: a walk that followed every link would list
    // each file 2^depth times (or never end).
    std::os::unix::fs::symlink(".", feeds.join("a")).expect("symlink");
    std::os::unix::fs::symlink(".", feeds.join("b")).expect("symlink");
    std::os::unix::fs::symlink("..", feeds.join("sub/up")).expect("symlink");
    std::os::unix::fs::symlink("hotline12345-06.jsonl", feeds.join("hotline12345-again.jsonl"))
        .expect("symlink");
    std::os::unix::fs::symlink("missing.jsonl", feeds.join("hotline12345-dangling.jsonl")).expect("symlink");
    let inputs = yujing_engine::collect_inputs(std::slice::from_ref(&feeds), None).expect("inputs");
    let names: Vec<String> = inputs
        .files
        .iter()
        .map(|(path, _)| {
            path.strip_prefix(&feeds)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    // The linked copy of the hotline file is the same file: read once, under the first of its names.
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("grid-06.jsonl")), "{names:?}");
    assert!(names.contains(&"hotline12345-06.jsonl".to_owned()), "{names:?}");
}

#[test]
fn a_record_routed_to_its_shard_is_ingested_there_exactly_as_if_the_shard_had_decoded_it() {
    use yujing_engine::route::Router;
    use yujing_engine::{PreparedInput, Shard};
    let built = config();
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let mut simulation = yujing_sim::simulate(
        &yujing_sim::SimConfig {
            seed: 12,
            disputes: 100,
            days: 40,
            ..yujing_sim::SimConfig::default()
        },
        built.normalizer.gazetteer(),
    );
    // Bad records: cut short (no source id), and with an id but an impossible date (the dead letter names it).
    let mut bad: String = (0..9).map(|i| format!("{{\"bad\": {i},\n")).collect();
    let sample = String::from_utf8_lossy(HOTLINE);
    for (i, line) in sample.lines().enumerate() {
        bad.push_str(&line.replace("2026-06-03 08:41:22", &format!("2026-13-{i:02} 08:41:22")));
        bad.push('\n');
    }
    simulation
        .files
        .insert("hotline12345-bad.jsonl".to_owned(), bad.into_bytes());
    let count = 3;
    let router = Router::new(built.normalizer.hasher(), count);
    // The router decodes each input once and seals a part per shard.
    let mut routed: Vec<Vec<Vec<u8>>> = vec![Vec::new(); count as usize];
    for (name, bytes) in &simulation.files {
        let feed = yujing_feeds::adapters::detect_feed(std::path::Path::new(name)).expect("feed");
        let prepared = PreparedInput::new(&built.normalizer, feed, name, bytes);
        for (shard, message) in router.seal_parts(prepared).expect("sealed") {
            routed[shard.0 as usize].push(message);
        }
    }
    let all_clues = |log: &EmbeddedLog, topic: &str| -> Vec<Vec<u8>> {
        log.read(topic, 0, usize::MAX)
            .expect("read")
            .into_iter()
            .map(|e| e.record.value)
            .collect()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut routed_records = 0;
    let mut named_letters = 0;
    for (i, messages) in routed.iter().enumerate() {
        let shard = Shard::new(yujing_log::ShardId(i as u32), count);
        // The shard decoding every input itself, as before the router.
        let direct = EmbeddedLog::open(dir.path().join(format!("direct{i}"))).expect("open");
        let ingestor = Ingestor::new(&direct, &built.normalizer, &clock).for_shard(shard);
        for (name, bytes) in &simulation.files {
            let feed = yujing_feeds::adapters::detect_feed(std::path::Path::new(name)).expect("feed");
            ingestor.ingest_bytes(feed, name, bytes).expect("ingest");
        }
        // The shard ingesting only what was routed to it.
        let via = EmbeddedLog::open(dir.path().join(format!("routed{i}"))).expect("open");
        let ingestor = Ingestor::new(&via, &built.normalizer, &clock).for_shard(shard);
        for message in messages {
            let part = router.open(shard.index, message).expect("opens for its shard");
            let report = ingestor.ingest_prepared(part).expect("ingest");
            assert_eq!(report.other_shards, 0, "a part holds only its shard's records");
            routed_records += report.records;
            // Sealed for this shard only.
            let other = yujing_log::ShardId((i as u32 + 1) % count);
            assert!(router.open(other, message).is_err(), "opened for another shard");
        }
        assert_eq!(contents(&via), contents(&direct), "shard {i}");
        assert_eq!(
            all_clues(&via, "clues"),
            all_clues(&direct, "clues"),
            "shard {i}: the same clues, byte for byte, pointing at the same raw units"
        );
        assert_eq!(
            all_clues(&via, "deadletter"),
            all_clues(&direct, "deadletter"),
            "shard {i}"
        );
        named_letters += all_clues(&via, "deadletter")
            .iter()
            .filter(|l| String::from_utf8_lossy(l).contains("\"source_id\":\"RG"))
            .count();
    }
    assert!(
        named_letters >= 2,
        "dead letters that name their record: {named_letters}"
    );
    let records: usize = simulation
        .files
        .iter()
        .map(|(name, bytes)| {
            let feed = yujing_feeds::adapters::detect_feed(std::path::Path::new(name)).expect("feed");
            yujing_feeds::adapters::decode(feed, name, bytes, built.normalizer.rules())
                .records
                .len()
        })
        .sum();
    assert_eq!(
        routed_records, records as u64,
        "every record routed to exactly one shard"
    );
    // A flipped byte, or a router with another secret, is refused rather than misread.
    let message = &routed[0][0];
    let mut flipped = message.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(router.open(yujing_log::ShardId(0), &flipped).is_err());
    let mut other = EngineConfig::defaults();
    other.pii.secret = "another-secret-0123456789abcdef".to_owned();
    let other = other.check().expect("configuration builds");
    let stranger = Router::new(other.normalizer.hasher(), count);
    assert!(stranger.open(yujing_log::ShardId(0), message).is_err());
}

/// Every clue (its JSON as logged) and dead letter of `log`, in log order, and the raw units per feed: what
/// two ingests of the same files must agree on byte for byte (a raw unit's sealing is random, its count not).
fn logged(log: &EmbeddedLog) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<u64>) {
    let topic = |name: &str| -> Vec<Vec<u8>> {
        let mut values = Vec::new();
        let mut from = 0;
        loop {
            let entries = log.read(name, from, 512).expect("read");
            let Some(last) = entries.last() else {
                break;
            };
            from = last.offset + 1;
            values.extend(entries.into_iter().map(|e| e.record.value));
        }
        values
    };
    let raw: Vec<u64> = FeedId::ALL
        .iter()
        .map(|feed| log.end_offset(&format!("raw.{}", feed.as_str())).expect("end"))
        .collect();
    (topic("clues"), topic("deadletter"), raw)
}

#[test]
fn writing_on_a_second_thread_logs_exactly_what_one_thread_logs_and_stops_where_it_would() {
    let built = config();
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let simulation = yujing_sim::simulate(
        &yujing_sim::SimConfig {
            seed: 13,
            disputes: 150,
            days: 45,
            ..yujing_sim::SimConfig::default()
        },
        built.normalizer.gazetteer(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(&feeds).expect("feeds dir");
    for (name, bytes) in &simulation.files {
        std::fs::write(feeds.join(name), bytes).expect("write");
    }
    // Bad records among good ones, and a file read in many parts.
    let bad: String = (0..12).map(|i| format!("{{\"bad\": {i},\n")).collect();
    std::fs::write(feeds.join("hotline12345-bad.jsonl"), bad).expect("write");
    let ingest = |log: &EmbeddedLog, two_threads: bool| {
        let ingestor = Ingestor::new(log, &built.normalizer, &clock).with_part_bytes(4096);
        let ingestor = if two_threads {
            ingestor.on_two_threads()
        } else {
            ingestor
        };
        let mut progress = Vec::new();
        let report = ingestor
            .ingest_paths(std::slice::from_ref(&feeds), None, &mut |p| progress.push(p.done))
            .expect("ingest");
        (report, progress)
    };
    let one = EmbeddedLog::open(dir.path().join("one")).expect("open");
    let two = EmbeddedLog::open(dir.path().join("two")).expect("open");
    let (one_report, one_progress) = ingest(&one, false);
    let (two_report, two_progress) = ingest(&two, true);
    assert_eq!(two_report, one_report);
    assert_eq!(two_progress, one_progress);
    let logged_one = logged(&one);
    assert!(
        logged_one.0.len() > 400 && logged_one.1.len() >= 12,
        "{} clues, {} dead letters",
        logged_one.0.len(),
        logged_one.1.len()
    );
    assert!(
        one_report.files.iter().any(|f| f.records > 50),
        "some file is read in parts"
    );
    assert_eq!(logged(&two), logged_one);

    // A file that cannot be read stops the ingest, after every file before it is written, on either path.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    let mut names: Vec<&String> = simulation.files.keys().collect();
    names.sort();
    for name in &names[..3] {
        std::fs::write(broken.join(name), &simulation.files[*name]).expect("write");
    }
    // Sorted after the three above, a file of the hotline's feed that opens but cannot be read: the memory of
    // a process, whose first page is never mapped (reading it fails with EIO, even as root).
    std::os::unix::fs::symlink("/proc/self/mem", broken.join("hotline12345-zz.jsonl")).expect("link");
    for two_threads in [false, true] {
        let log = EmbeddedLog::open(dir.path().join(format!("broken-{two_threads}"))).expect("open");
        let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
        let ingestor = if two_threads {
            ingestor.on_two_threads()
        } else {
            ingestor
        };
        let error = ingestor
            .ingest_paths(std::slice::from_ref(&broken), None, &mut |_| {})
            .expect_err("a file that cannot be read");
        assert!(error.to_string().contains("hotline12345-zz.jsonl"), "{error}");
        let clean = EmbeddedLog::open(dir.path().join(format!("clean-{two_threads}"))).expect("open");
        for name in &names[..3] {
            Ingestor::new(&clean, &built.normalizer, &clock)
                .ingest_paths(&[broken.join(name)], None, &mut |_| {})
                .expect("ingest");
        }
        assert_eq!(logged(&log).0, logged(&clean).0, "two threads: {two_threads}");
    }
}
