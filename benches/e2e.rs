//! The end-to-end benchmark: a simulated history of a million records or more through ingest → correlate →
//! warnings → work orders, with the machine's physical references measured in the same run.
//!
//! Run it with `bash benches/e2e.sh` (which builds in release mode and passes the settings below), or
//! `cargo bench -p yujing --bench e2e`. Settings, from the environment:
//!
//! - `YUJING_E2E_SIM`: a simulation directory (`yujing simulate --out`, default `OUT/sim`); generated there when
//!   missing, with
//!   `YUJING_E2E_DISPUTES` disputes (default 350,000: about 1,000,000 records) and seed 3;
//! - `YUJING_E2E_RATE` (records per second, default 1,000) and `YUJING_E2E_SECONDS` (default 60): the live
//!   phase's fixed arrival rate and length;
//! - `YUJING_KAFKA_BOOTSTRAP`: when set, the ingest and live phases run on that Kafka cluster too;
//! - `YUJING_E2E_PHASES`: a comma-separated subset of the phases below (`live,state`); all by default;
//! - `YUJING_E2E_OUT`: where the results go (`results.json`, `results.md`; default `$TMPDIR/yujing-e2e`).
//!
//! Each phase runs in a child process of its own (this binary again, with `YUJING_E2E_PHASE`), so that its
//! peak resident memory is its own. Phases:
//!
//! - `read`: the raw files read from the page cache (the second of two reads);
//! - `json`: every line of the JSON Lines feeds parsed by `serde_json` into a `Value`, and nothing else;
//! - `rocksdb`: every line of every file written to a fresh RocksDB in batches of 1,000, each synced (the
//!   durability the embedded log gives each batch);
//! - `ingest`: the files through the whole pipeline into a fresh embedded log (then Kafka): records/s, peak
//!   RSS, store size;
//! - `state`: the correlator rebuilt from the stored clues in a fresh process: resident bytes per open clue;
//! - `shards` (Kafka only): the `ingest` phase on a store split into `YUJING_E2E_SHARDS` shards (default 2),
//!   each shard's pipeline on a thread of its own (what that many `yujing run` instances do, one core each):
//!   shard 0 routes every file (decodes each record once and hands it to its shard's partition of the
//!   repartition topic), every shard ingests its own partition; records/s, the router's and each shard's CPU
//!   time, and how the warnings compare with the unsharded run;
//! - `live`: the JSON feeds' records sent at a fixed rate in 100 ms ticks into a fresh store, each tick decoded
//!   and normalized on a thread of its own while the pipeline runs the tick before, then ingested, correlated
//!   and committed as one step; latency from a report's scheduled arrival to the warning it completed.

#![allow(missing_docs)]

use std::collections::HashMap;

#[path = "support.rs"]
mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use yujing_engine::{CorrelationStage, EngineConfig, Pipeline, PreparedInput, SystemClock};
use yujing_feeds::{adapters, Outcome};
use yujing_log::{EmbeddedLog, KafkaConfig, KafkaLog, Log};
use yujing_model::FeedId;

/// The allocator the `yujing` binary uses, so that this measures what it does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Failure = Box<dyn std::error::Error>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `VmHWM` (peak) and `VmRSS` (now) of this process, bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn built() -> Result<yujing_engine::Built, Failure> {
    let mut config = EngineConfig::defaults();
    config.pii.secret = "e2e-bench-secret-0123456789".to_owned();
    // What a snapshot's cost does to the live phase's tail: YUJING_E2E_SNAPSHOT_EVERY=0 writes none.
    if let Ok(every) = std::env::var("YUJING_E2E_SNAPSHOT_EVERY") {
        config.store.snapshot_every_clues = every
            .parse()
            .map_err(|e| format!("YUJING_E2E_SNAPSHOT_EVERY={every}: {e}"))?;
    }
    Ok(config.check().map_err(|e| e.to_string())?)
}

fn feed_files(sim: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sim.join("feeds"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

fn kafka_config(bootstrap: &str, name: &str, scratch: &Path) -> KafkaConfig {
    let run = std::process::id();
    KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        topic_prefix: format!("e2e-{run}-{name}."),
        transactional_id: format!("e2e-{run}-{name}"),
        replication_factor: 1,
        timeout_ms: 30_000,
        partitions: 1,
        snapshot_dir: scratch.join(format!("kafka-snapshots-{run}-{name}")),
        client: Default::default(),
        client_env: Default::default(),
        expiring: None,
    }
}

/// Opens the log a phase writes to: a fresh embedded store under `scratch`, or fresh Kafka topics.
fn fresh_log(scratch: &Path, name: &str) -> Result<Arc<dyn Log>, Failure> {
    match std::env::var("YUJING_E2E_BACKEND").as_deref() {
        Ok("kafka") => {
            let bootstrap = std::env::var("YUJING_KAFKA_BOOTSTRAP")?;
            Ok(Arc::new(KafkaLog::open(kafka_config(&bootstrap, name, scratch))?))
        }
        _ => {
            let dir = scratch.join(name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            Ok(Arc::new(EmbeddedLog::open(&dir)?))
        }
    }
}

fn phase_read(sim: &Path) -> Result<Value, Failure> {
    let files = feed_files(sim)?;
    let mut bytes = 0u64;
    for round in 0..2 {
        let started = Instant::now();
        bytes = 0;
        for file in &files {
            bytes += std::hint::black_box(std::fs::read(file)?).len() as u64;
        }
        if round == 1 {
            return Ok(json!({"bytes": bytes, "seconds": started.elapsed().as_secs_f64()}));
        }
    }
    Ok(json!({ "bytes": bytes }))
}

fn phase_json(sim: &Path) -> Result<Value, Failure> {
    let files: Vec<Vec<u8>> = feed_files(sim)?
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "jsonl"))
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let (mut lines, mut bytes) = (0u64, 0u64);
    for file in &files {
        bytes += file.len() as u64;
        for line in file.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines += u64::from(serde_json::from_slice::<Value>(line).is_ok());
        }
    }
    Ok(json!({"bytes": bytes, "records": lines, "seconds": started.elapsed().as_secs_f64()}))
}

fn phase_rocksdb(sim: &Path, scratch: &Path) -> Result<Value, Failure> {
    let files: Vec<(PathBuf, Vec<u8>)> = feed_files(sim)?
        .into_iter()
        .map(|f| std::fs::read(&f).map(|b| (f, b)))
        .collect::<Result<_, _>>()?;
    let dir = scratch.join("rocksdb-reference");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    let db = rocksdb::DB::open(&options, &dir)?;
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut batch = rocksdb::WriteBatch::default();
    for (file, content) in &files {
        let name = file.display().to_string();
        for (i, line) in content.split(|b| *b == b'\n').enumerate() {
            batch.put(format!("{name}:{i}"), line);
            records += 1;
            bytes += line.len() as u64;
            if batch.len() >= 1000 {
                db.write_opt(std::mem::take(&mut batch), &sync)?;
            }
        }
    }
    db.write_opt(batch, &sync)?;
    let seconds = started.elapsed().as_secs_f64();
    drop(db);
    Ok(json!({"bytes": bytes, "records": records, "seconds": seconds, "on_disk": dir_size(&dir)}))
}

fn phase_ingest(sim: &Path, scratch: &Path) -> Result<Value, Failure> {
    let mut built = built()?;
    // The snapshot is written and timed on its own below.
    built.snapshot_every_clues = 0;
    let log = fresh_log(scratch, "ingest")?;
    let started = Instant::now();
    let mut pipeline = Pipeline::open(log, built, Arc::new(SystemClock))?;
    let (report, step) = pipeline.ingest_paths(&[sim.join("feeds")])?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = pipeline.correlator_mut().stats();
    let orders = pipeline.orders().orders().count();
    let (peak, _) = memory();
    // Where the seconds went: the pipeline's own stage timings (`yujing_stage_duration_seconds`).
    let stage_seconds: serde_json::Map<String, Value> = ["ingest", "correlate", "orders"]
        .into_iter()
        .map(|stage| {
            let timed = pipeline.metrics().stage_duration.with_label_values(&[stage]);
            (stage.to_owned(), json!(timed.get_sample_sum()))
        })
        .collect();
    // What stopping costs: the snapshot the next start loads (the `restart` phase).
    let snapshot_started = Instant::now();
    let snapshot = pipeline.write_snapshot()?;
    let snapshot_seconds = snapshot_started.elapsed().as_secs_f64();
    let snapshot_bytes = snapshot
        .as_ref()
        .map_or(0, |p| p.metadata().map_or(0, |m| m.len()));
    // On Kafka: a restart of the same topics, from the snapshot and the state checkpoint just written. On the
    // embedded log: what closing costs, timed apart from the load. The log writes its memory tables then
    // (`EmbeddedLog`'s `Drop`), work a process that skipped it would leave to the next start.
    let mut close_seconds = Value::Null;
    let restart = match std::env::var("YUJING_E2E_BACKEND").as_deref() {
        Ok("kafka") => {
            drop(pipeline);
            let bootstrap = std::env::var("YUJING_KAFKA_BOOTSTRAP")?;
            let started = Instant::now();
            let log = KafkaLog::open(kafka_config(&bootstrap, "ingest", scratch))?;
            let state_read_from = log.state_read_from();
            let reopened = Pipeline::open(Arc::new(log), crate::built()?, Arc::new(SystemClock))?;
            json!({
                "seconds": started.elapsed().as_secs_f64(),
                "state_read_from": state_read_from,
                "from_snapshot": matches!(reopened.restart(), yujing_engine::Restart::Snapshot { .. }),
            })
        }
        _ => {
            let closing = Instant::now();
            drop(pipeline);
            close_seconds = json!(closing.elapsed().as_secs_f64());
            Value::Null
        }
    };
    let mut warning_ids: Vec<String> = step
        .warnings
        .iter()
        .map(|w| format!("{} {}", w.warning_id, w.level.as_str()))
        .collect();
    warning_ids.sort();
    Ok(json!({
        "warning_ids": warning_ids,
        "records": report.total.records,
        "bytes": feed_files(sim)?.iter().map(|f| f.metadata().map_or(0, |m| m.len())).sum::<u64>(),
        "clues": stats.clues,
        "clusters": stats.clusters,
        "warnings": step.warnings.len(),
        "orders": orders,
        "seconds": seconds,
        "stage_seconds": stage_seconds,
        "peak_rss": peak,
        "snapshot_seconds": snapshot_seconds,
        "snapshot_bytes": snapshot_bytes,
        "close_seconds": close_seconds,
        "restart": restart,
        // On Kafka the topics live in the broker's directory, not measured here.
        "store_bytes": match std::env::var("YUJING_E2E_BACKEND").as_deref() {
            Ok("kafka") => Value::Null,
            _ => json!(dir_size(&scratch.join("ingest"))),
        },
    }))
}

/// What one shard did: records kept, clues, warnings (id and level), seconds from the start when it was done,
/// CPU seconds of its thread, and for the router (shard 0) the seconds and CPU seconds it took to route.
type ShardRun = (u64, u64, Vec<String>, f64, f64, Option<(f64, f64, u64)>);

fn phase_shards(sim: &Path, scratch: &Path) -> Result<Value, Failure> {
    let built = built()?;
    let bootstrap = std::env::var("YUJING_KAFKA_BOOTSTRAP")?;
    let shards: u32 = env_or("YUJING_E2E_SHARDS", "2").parse()?;
    let mut config = kafka_config(&bootstrap, "shards", scratch);
    config.partitions = shards;
    // Alone in the writers' group, this process is given every shard.
    let lease = Arc::new(yujing_log::KafkaLease::join(&config)?);
    let deadline = Instant::now() + Duration::from_secs(60);
    while lease.owned().len() < shards as usize {
        if Instant::now() > deadline {
            return Err("the writers' group never gave this process every shard".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // As `yujing run` does: shard 0 reads the inputs and routes each record to its shard's partition of the
    // repartition topic (decoding it once); every shard, shard 0 included, ingests its own partition.
    let routed_all = std::sync::atomic::AtomicBool::new(false);
    let retried = std::sync::atomic::AtomicU32::new(0);
    let started = Instant::now();
    let results: Vec<Result<ShardRun, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shards)
            .map(|index| {
                let (config, lease, built) = (config.clone(), lease.clone(), built.clone());
                let (routed_all, retried) = (&routed_all, &retried);
                scope.spawn(move || -> Result<ShardRun, String> {
                    let log = KafkaLog::open_shard(config, yujing_log::ShardId(index), lease)
                        .map_err(|e| e.to_string())?;
                    let (mut pipeline, _) = Pipeline::open_shard(
                        Arc::new(log),
                        built,
                        Arc::new(SystemClock),
                        yujing_engine::Shard::new(yujing_log::ShardId(index), shards),
                    )
                    .map_err(|e| e.to_string())?;
                    let mut routing = None;
                    if index == 0 {
                        // A failed step is tried again, as the drop directory and an upstream topic do (the
                        // log refuses a transaction the broker acknowledged out of order; docs/PERFORMANCE.md).
                        let mut result = pipeline.ingest_paths(&[sim.join("feeds")]);
                        for _ in 0..2 {
                            let Err(error) = &result else { break };
                            eprintln!(
                                "e2e: routing failed, trying again: {}",
                                yujing_engine::error_chain(error)
                            );
                            retried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            result = pipeline.ingest_paths(&[sim.join("feeds")]);
                        }
                        routed_all.store(true, std::sync::atomic::Ordering::SeqCst);
                        let (report, _) = result.map_err(|e| e.to_string())?;
                        if report.total.routed != report.total.records {
                            return Err(format!(
                                "{} of {} records routed",
                                report.total.routed, report.total.records
                            ));
                        }
                        routing = Some((
                            started.elapsed().as_secs_f64(),
                            thread_cpu_seconds(),
                            report.total.routed,
                        ));
                    }
                    let waited_cpu = thread_cpu_seconds();
                    // Once everything is routed, each shard takes its partition in one step, as the unsharded
                    // run takes the files: a bulk load correlates its clues in event-time order, while steps
                    // taken as the router goes would see a year of one feed before the next feed's.
                    while !routed_all.load(std::sync::atomic::Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let mut kept = 0;
                    let mut warnings = Vec::new();
                    // The router's last commit returns before its markers reach every partition: a reader sees
                    // its messages a few milliseconds on. Nothing new for half a second is the end.
                    let mut quiet = 0;
                    while quiet < 10 {
                        match pipeline.ingest_routed(usize::MAX).map_err(|e| e.to_string())? {
                            Some((report, step)) => {
                                quiet = 0;
                                kept += report.records;
                                warnings.extend(
                                    step.warnings
                                        .iter()
                                        .map(|w| format!("{} {}", w.warning_id, w.level.as_str())),
                                );
                            }
                            None => {
                                quiet += 1;
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    let stats = pipeline.correlator_mut().stats();
                    Ok((
                        kept,
                        stats.clues,
                        warnings,
                        started.elapsed().as_secs_f64(),
                        thread_cpu_seconds() - waited_cpu,
                        routing,
                    ))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a shard panicked".to_owned())))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut records = 0;
    let mut clues = 0;
    let mut warnings = Vec::new();
    let mut per_shard = Vec::new();
    let mut router = Value::Null;
    for result in results {
        let (kept, shard_clues, shard_warnings, done, cpu, routing) = result?;
        records += kept;
        clues += shard_clues;
        if let Some((routed_at, routing_cpu, routed)) = routing {
            // The router's share of shard 0's thread: reading and decoding every input once, and appending the
            // parts.
            router = json!({"seconds": routed_at, "cpu_seconds": routing_cpu, "records": routed});
        }
        per_shard.push(json!({
            "records": kept,
            "warnings": shard_warnings.len(),
            "seconds": done,
            // The shard's own thread once routing was done (ingesting what was routed to it, correlation, work
            // orders, its commits), without the Kafka client's threads: about what it would take on a machine
            // of its own.
            "cpu_seconds": cpu,
        }));
        warnings.extend(shard_warnings);
    }
    warnings.sort();
    let retried = retried.load(std::sync::atomic::Ordering::SeqCst);
    // A retried routing may route again what a committed transaction of the failed attempt had routed: the
    // shards' ingest takes those as duplicates.
    if (retried == 0 && Some(records) != router["records"].as_u64())
        || records < router["records"].as_u64().unwrap_or(0)
    {
        return Err(format!(
            "the shards ingested {records} records of the {} routed",
            router["records"]
        )
        .into());
    }
    let (peak, _) = memory();
    Ok(json!({
        "shards": shards,
        "records": records,
        "clues": clues,
        "warnings": warnings.len(),
        "warning_ids": warnings,
        "seconds": seconds,
        "router": router,
        "routing_retried": retried,
        "per_shard": per_shard,
        "peak_rss": peak,
    }))
}

/// CPU seconds the calling thread has used (user and system, from `/proc/thread-self/stat`, in the kernel's
/// 100 Hz ticks); 0 where that cannot be read.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line: the 12th and 13th after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn phase_state(scratch: &Path) -> Result<Value, Failure> {
    let built = built()?;
    let log = EmbeddedLog::open(scratch.join("ingest"))?;
    let (_, before) = memory();
    let started = Instant::now();
    let (stage, _) = CorrelationStage::open(&log, &built.correlate)?;
    let seconds = started.elapsed().as_secs_f64();
    let (peak, after) = memory();
    let stats = stage.correlator().stats();
    Ok(json!({
        "clues": stats.clues,
        "clusters": stats.clusters,
        "rss_before": before,
        "rss_after": after,
        "peak_rss": peak,
        "bytes_per_clue": (after.saturating_sub(before)) as f64 / stats.clues.max(1) as f64,
        "rebuild_seconds": seconds,
    }))
}

/// A restart of the ingest phase's store: the pipeline opened (from the snapshot the ingest phase wrote and
/// the log after it), ready to serve.
fn phase_restart(scratch: &Path) -> Result<Value, Failure> {
    let built = built()?;
    let (_, before) = memory();
    let started = Instant::now();
    let log: Arc<dyn Log> = Arc::new(EmbeddedLog::open(scratch.join("ingest"))?);
    let pipeline = Pipeline::open(log, built, Arc::new(SystemClock))?;
    let seconds = started.elapsed().as_secs_f64();
    let (peak, after) = memory();
    let stats = pipeline.correlator().stats();
    let from = match pipeline.restart() {
        yujing_engine::Restart::Snapshot { .. } => "snapshot".to_owned(),
        yujing_engine::Restart::Rebuilt { because, .. } => format!("the whole log ({because:?})"),
    };
    Ok(json!({
        "clues": stats.clues,
        "orders": pipeline.orders().orders().count(),
        "from": from,
        "seconds": seconds,
        "rss_before": before,
        "rss_after": after,
        "peak_rss": peak,
        "bytes_per_clue": (after.saturating_sub(before)) as f64 / stats.clues.max(1) as f64,
    }))
}

/// One upstream line of the live stream: its feed, its bytes, and the clue id it becomes (when it is a dispute).
type StreamLine = (FeedId, Vec<u8>, Option<String>);

/// The JSON feeds' lines in month order (each month's hotline, grid and exchange lines interleaved in
/// proportion), with their clue ids.
fn live_stream(sim: &Path, built: &yujing_engine::Built) -> Result<Vec<StreamLine>, Failure> {
    let mut by_month: std::collections::BTreeMap<String, Vec<Vec<StreamLine>>> =
        std::collections::BTreeMap::new();
    for file in feed_files(sim)? {
        let Some(feed) = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(support::feed_of_file)
        else {
            continue;
        };
        if !matches!(feed, FeedId::Hotline12345 | FeedId::Grid | FeedId::Exchange) {
            continue;
        }
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let month = name
            .split_once('-')
            .map(|(_, m)| m.to_owned())
            .unwrap_or_default();
        let content = std::fs::read(&file)?;
        let mut lines = Vec::new();
        for line in content.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let decoded = adapters::decode(feed, &name, line, built.normalizer.rules());
            let clue_id = decoded.records.first().and_then(|r| match &r.outcome {
                Outcome::Record(source) => Some(format!("{feed}:{}", source.source_id)),
                _ => None,
            });
            lines.push((feed, line.to_vec(), clue_id));
        }
        by_month.entry(month).or_default().push(lines);
    }
    let mut stream = Vec::new();
    for (_, feeds) in by_month {
        let total: usize = feeds.iter().map(Vec::len).sum();
        let mut cursors = vec![0usize; feeds.len()];
        for step in 1..=total {
            // Each feed's share of the month so far, rounded: interleaves the feeds evenly.
            for (i, lines) in feeds.iter().enumerate() {
                let due = lines.len() * step / total;
                while cursors[i] < due {
                    stream.push(lines[cursors[i]].clone());
                    cursors[i] += 1;
                }
            }
        }
    }
    Ok(stream)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn phase_live(sim: &Path, scratch: &Path) -> Result<Value, Failure> {
    let rate: f64 = env_or("YUJING_E2E_RATE", "1000").parse()?;
    let seconds: f64 = env_or("YUJING_E2E_SECONDS", "60").parse()?;
    let built = built()?;
    let stream = live_stream(sim, &built)?;
    let log = fresh_log(scratch, "live")?;
    let mut pipeline = Pipeline::open(log, built, Arc::new(SystemClock))?;
    let tick = Duration::from_millis(100);
    let per_tick = (rate / 10.0).round().max(1.0) as usize;
    let ticks = ((seconds * 10.0) as usize).min(stream.len() / per_tick);
    // Per warning: from the arrival of the newest report it counted (as `yujing_warning_latency_seconds`), and
    // from the arrival of the tick that raised it (the processing alone).
    let mut latencies = Vec::new();
    let mut processing = Vec::new();
    let mut behind_max = Duration::ZERO;
    let started = Instant::now();
    let mut arrival: HashMap<String, Instant> = HashMap::new();
    for (k, chunk) in stream.chunks(per_tick).take(ticks).enumerate() {
        for (_, _, clue_id) in chunk {
            if let Some(id) = clue_id {
                arrival.entry(id.clone()).or_insert(started + tick * k as u32);
            }
        }
    }
    // Each tick's records arrive at its scheduled time and are decoded and normalized on a thread of their own
    // (the pipeline's `Preparer`, as `yujing run` prepares a push before taking the pipeline), while the
    // pipeline writes, correlates and commits the tick before: a bounded channel of one tick joins the two.
    let preparer = pipeline.preparer();
    let (ready, prepared) = std::sync::mpsc::sync_channel::<(usize, Instant, Vec<PreparedInput>)>(1);
    std::thread::scope(|scope| -> Result<(), Failure> {
        let stream = &stream;
        scope.spawn(move || {
            for (k, chunk) in stream.chunks(per_tick).take(ticks).enumerate() {
                let scheduled = started + tick * k as u32;
                let now = Instant::now();
                if now < scheduled {
                    std::thread::sleep(scheduled - now);
                }
                let name = format!("live-{k}.jsonl");
                let mut inputs = Vec::new();
                for feed in [FeedId::Hotline12345, FeedId::Grid, FeedId::Exchange] {
                    let mut body = Vec::new();
                    for (_, line, _) in chunk.iter().filter(|(f, _, _)| *f == feed) {
                        body.extend_from_slice(line);
                        body.push(b'\n');
                    }
                    if !body.is_empty() {
                        inputs.push(preparer.prepare(feed, &name, &body));
                    }
                }
                if ready.send((k, scheduled, inputs)).is_err() {
                    return;
                }
            }
        });
        // The tick's records of every feed are one step: ingested, correlated and committed together (one
        // transaction on Kafka), as `yujing run` does with what its upstream topics deliver in one commit
        // interval.
        for (_, scheduled, inputs) in prepared {
            let (_, step) = pipeline.ingest_prepared(inputs)?;
            let done = Instant::now();
            behind_max = behind_max.max(done.saturating_duration_since(scheduled + tick));
            for _ in &step.warnings {
                processing.push(done.duration_since(scheduled).as_secs_f64() * 1000.0);
            }
            for warning in &step.warnings {
                // From the arrival of the newest report counted (the one that completed the count).
                let newest = warning
                    .evidence
                    .iter()
                    .filter_map(|e| arrival.get(&e.clue_id))
                    .max();
                if let Some(at) = newest {
                    latencies.push(done.duration_since(*at).as_secs_f64() * 1000.0);
                }
            }
        }
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    // Where each tick's time went: the pipeline's own stage timings (seconds summed over the run).
    let mut stage_seconds = serde_json::Map::new();
    // And how many calls of each stage took longer than 100 ms and 250 ms: what a slow tick was slow in.
    let mut stage_slow = serde_json::Map::new();
    for stage in ["ingest", "correlate", "orders", "commit"] {
        let histogram = pipeline.metrics().stage_duration.with_label_values(&[stage]);
        stage_seconds.insert(stage.to_owned(), json!(histogram.get_sample_sum()));
        let metric = prometheus::core::Metric::metric(&histogram);
        let buckets = metric.get_histogram();
        let within = |bound: f64| {
            buckets
                .get_bucket()
                .iter()
                .find(|b| (b.upper_bound() - bound).abs() < 1e-9)
                .map_or(0, |b| b.cumulative_count())
        };
        let calls = buckets.get_sample_count();
        stage_slow.insert(
            stage.to_owned(),
            json!({"calls": calls, "over_100ms": calls - within(0.1), "over_250ms": calls - within(0.25)}),
        );
    }
    latencies.sort_by(f64::total_cmp);
    processing.sort_by(f64::total_cmp);
    let late = latencies.iter().filter(|ms| **ms > 1000.0).count();
    let (peak, _) = memory();
    Ok(json!({
        "rate": rate,
        "records": ticks * per_tick,
        "seconds": elapsed,
        "achieved_rate": (ticks * per_tick) as f64 / elapsed,
        "warnings": latencies.len(),
        "p50_ms": percentile(&latencies, 50.0),
        "p99_ms": percentile(&latencies, 99.0),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "processing_p50_ms": percentile(&processing, 50.0),
        "processing_p99_ms": percentile(&processing, 99.0),
        "later_than_a_second": late,
        "most_behind_ms": behind_max.as_secs_f64() * 1000.0,
        "stage_seconds": stage_seconds,
        "stage_slow": stage_slow,
        "peak_rss": peak,
    }))
}

/// Runs `phase` in a child process; returns the JSON it printed.
fn child(phase: &str, backend: &str) -> Result<Value, Failure> {
    eprintln!("e2e: {phase} ({backend})…");
    let output = Command::new(std::env::current_exe()?)
        .env("YUJING_E2E_PHASE", phase)
        .env("YUJING_E2E_BACKEND", backend)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "phase {phase} ({backend}) failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let text = String::from_utf8(output.stdout)?;
    let last = text.lines().last().ok_or("a phase prints its result")?;
    let value: Value = serde_json::from_str(last)?;
    // The warning ids are for comparing runs; the log gets the figures.
    let mut shown = value.clone();
    if let Some(object) = shown.as_object_mut() {
        object.remove("warning_ids");
    }
    eprintln!("e2e: {phase} ({backend}): {shown}");
    Ok(value)
}

fn mb_per_s(v: &Value) -> f64 {
    v["bytes"].as_f64().unwrap_or(0.0) / 1e6 / v["seconds"].as_f64().unwrap_or(f64::NAN)
}

fn per_s(v: &Value) -> f64 {
    v["records"].as_f64().unwrap_or(0.0) / v["seconds"].as_f64().unwrap_or(f64::NAN)
}

fn report(results: &Value) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let r = &results["reference"];
    let _ = writeln!(s, "# yujing end-to-end benchmark\n");
    let _ = writeln!(
        s,
        "{} records, {:.1} MB in the six feeds' formats.\n",
        results["embedded"]["ingest"]["records"],
        r["read"]["bytes"].as_f64().unwrap_or(0.0) / 1e6
    );
    let _ = writeln!(s, "| measure | records/s | MB/s | other |\n|---|---|---|---|");
    if !r["read"].is_null() {
        let _ = writeln!(s, "| raw read (page cache) | – | {:.0} | |", mb_per_s(&r["read"]));
    }
    if !r["json"].is_null() {
        let _ = writeln!(
            s,
            "| serde_json into Value (JSON feeds) | {:.0} | {:.1} | |",
            per_s(&r["json"]),
            mb_per_s(&r["json"])
        );
    }
    if !r["rocksdb"].is_null() {
        let _ = writeln!(
            s,
            "| RocksDB write, synced per 1,000 | {:.0} | {:.1} | |",
            per_s(&r["rocksdb"]),
            mb_per_s(&r["rocksdb"])
        );
    }
    for backend in ["embedded", "kafka"] {
        let b = &results[backend];
        if b.is_null() {
            continue;
        }
        let i = &b["ingest"];
        if !i.is_null() {
            let _ = writeln!(
            s,
            "| yujing ingest → correlate → orders ({backend}) | {:.0} | {:.1} | {:.1} s (ingest {:.1} s, correlation {:.1} s, orders {:.1} s), peak RSS {:.0} MB, {} clues, {} clusters, {} warnings, {} orders, store {} |",
            per_s(i),
            mb_per_s(i),
            i["seconds"].as_f64().unwrap_or(0.0),
            i["stage_seconds"]["ingest"].as_f64().unwrap_or(f64::NAN),
            i["stage_seconds"]["correlate"].as_f64().unwrap_or(f64::NAN),
            i["stage_seconds"]["orders"].as_f64().unwrap_or(f64::NAN),
            i["peak_rss"].as_f64().unwrap_or(0.0) / 1e6,
            i["clues"],
            i["clusters"],
            i["warnings"],
            i["orders"],
            i["store_bytes"]
                .as_f64()
                .map_or_else(|| "on the broker".to_owned(), |b| format!("{:.0} MB", b / 1e6))
        );
        }
        let sh = &b["shards"];
        if !sh.is_null() {
            let _ = writeln!(
                s,
                "| the same on {} shards, one thread each, shard 0 routing ({backend}) | {:.0} | | {:.1} s (routed at {:.1} s with {:.1} CPU s; shards done at {}), peak RSS {:.0} MB, {} clues, {} warnings, {} |",
                sh["shards"],
                per_s(sh),
                sh["seconds"].as_f64().unwrap_or(0.0),
                sh["router"]["seconds"].as_f64().unwrap_or(0.0),
                sh["router"]["cpu_seconds"].as_f64().unwrap_or(0.0),
                sh["per_shard"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .map(|p| format!(
                            "{:.1} s with {:.1} CPU s",
                            p["seconds"].as_f64().unwrap_or(0.0),
                            p["cpu_seconds"].as_f64().unwrap_or(0.0)
                        ))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                sh["peak_rss"].as_f64().unwrap_or(0.0) / 1e6,
                sh["clues"],
                sh["warnings"],
                {
                    let unsharded: std::collections::HashSet<&str> = i["warning_ids"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let common = sh["warning_ids"].as_array().map_or(0, |a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .filter(|w| unsharded.contains(w))
                            .count()
                    });
                    format!("{common} of them also raised unsharded (of {})", unsharded.len())
                }
            );
        }
        let l = &b["live"];
        if !l.is_null() {
            let _ = writeln!(
                s,
                "| live at {} records/s ({backend}) | {:.0} achieved | | arrival of the newest report counted → warning: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} warnings ({} later than 1 s: raised when a later report bridged); the tick's arrival → warning: p50 {:.0} ms, p99 {:.0} ms |",
                l["rate"],
                l["achieved_rate"].as_f64().unwrap_or(0.0),
                l["p50_ms"].as_f64().unwrap_or(0.0),
                l["p99_ms"].as_f64().unwrap_or(0.0),
                l["max_ms"].as_f64().unwrap_or(0.0),
                l["warnings"],
                l["later_than_a_second"],
                l["processing_p50_ms"].as_f64().unwrap_or(0.0),
                l["processing_p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let i = &results["embedded"]["ingest"];
    if !i["snapshot_seconds"].is_null() {
        let _ = writeln!(
            s,
            "| snapshot written after the ingest | | | {:.1} s, {:.0} MB |",
            i["snapshot_seconds"].as_f64().unwrap_or(0.0),
            i["snapshot_bytes"].as_f64().unwrap_or(0.0) / 1e6
        );
    }
    if let Some(seconds) = i["close_seconds"].as_f64() {
        let _ = writeln!(
            s,
            "| the store closed after it (its memory tables written) | | | {seconds:.1} s |"
        );
    }
    let re = &results["embedded"]["restart"];
    if !re.is_null() {
        let _ = writeln!(
            s,
            "| restart: the pipeline opened, ready to serve | | | {:.1} s from {}, {} clues, {} orders, {:.0} bytes resident per clue, peak RSS {:.0} MB |",
            re["seconds"].as_f64().unwrap_or(0.0),
            re["from"].as_str().unwrap_or("?"),
            re["clues"],
            re["orders"],
            re["bytes_per_clue"].as_f64().unwrap_or(0.0),
            re["peak_rss"].as_f64().unwrap_or(0.0) / 1e6
        );
    }
    let st = &results["embedded"]["state"];
    if st.is_null() {
        return s;
    }
    let _ = writeln!(
        s,
        "| correlator state rebuilt from the log | | | {:.0} bytes resident per clue ({} clues, {} clusters), rebuilt in {:.1} s |",
        st["bytes_per_clue"].as_f64().unwrap_or(0.0),
        st["clues"],
        st["clusters"],
        st["rebuild_seconds"].as_f64().unwrap_or(0.0)
    );
    s
}

fn main() -> Result<(), Failure> {
    let default_out = std::env::temp_dir().join("yujing-e2e");
    let out = std::env::var_os("YUJING_E2E_OUT").map_or(default_out, PathBuf::from);
    let sim = std::env::var_os("YUJING_E2E_SIM").map_or_else(|| out.join("sim"), PathBuf::from);
    let scratch = out.join("scratch");
    if let Ok(phase) = std::env::var("YUJING_E2E_PHASE") {
        // A phase's own log lines (RUST_LOG, default warn) go to its stderr.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
        let result = match phase.as_str() {
            "read" => phase_read(&sim)?,
            "json" => phase_json(&sim)?,
            "rocksdb" => phase_rocksdb(&sim, &scratch)?,
            "ingest" => phase_ingest(&sim, &scratch)?,
            "state" => phase_state(&scratch)?,
            "restart" => phase_restart(&scratch)?,
            "live" => phase_live(&sim, &scratch)?,
            "shards" => phase_shards(&sim, &scratch)?,
            other => return Err(format!("unknown phase {other}").into()),
        };
        println!("{result}");
        return Ok(());
    }
    // `cargo bench` runs every bench target; this one runs only when asked (it takes many minutes).
    if std::env::var_os("YUJING_E2E").is_none() {
        eprintln!("e2e: skipped; run `bash benches/e2e.sh` (or set YUJING_E2E=1)");
        return Ok(());
    }
    std::fs::create_dir_all(&scratch)?;
    if !sim.join("feeds").is_dir() {
        let disputes: usize = env_or("YUJING_E2E_DISPUTES", "350000").parse()?;
        eprintln!("e2e: simulating {disputes} disputes into {}…", sim.display());
        let built = built()?;
        let config = yujing_sim::SimConfig {
            seed: 3,
            disputes,
            ..yujing_sim::SimConfig::default()
        };
        yujing_sim::simulate(&config, built.normalizer.gazetteer()).write_to(
            &sim,
            &built.correlate.rules,
            built.correlate.episode_gap_days,
        )?;
    }
    // `YUJING_E2E_PHASES=live,state` runs only those (the state phase reads the ingest phase's store).
    let only = std::env::var("YUJING_E2E_PHASES").ok();
    let wanted = |phase: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p.trim() == phase))
    };
    let run = |phase: &str, backend: &str| -> Result<Value, Failure> {
        if wanted(phase) {
            child(phase, backend)
        } else {
            Ok(Value::Null)
        }
    };
    let mut results = json!({
        "reference": {
            "read": run("read", "embedded")?,
            "json": run("json", "embedded")?,
            "rocksdb": run("rocksdb", "embedded")?,
        },
        "embedded": {
            "ingest": run("ingest", "embedded")?,
            "state": run("state", "embedded")?,
            "restart": run("restart", "embedded")?,
            "live": run("live", "embedded")?,
        },
    });
    if std::env::var_os("YUJING_KAFKA_BOOTSTRAP").is_some() {
        results["kafka"] = json!({
            "ingest": run("ingest", "kafka")?,
            "shards": run("shards", "kafka")?,
            "live": run("live", "kafka")?,
        });
    }
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    let markdown = report(&results);
    std::fs::write(out.join("results.md"), &markdown)?;
    println!("{markdown}");
    if only.is_none() {
        std::fs::remove_dir_all(&scratch)?;
    }
    Ok(())
}
