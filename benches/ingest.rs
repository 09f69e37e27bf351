#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! End-to-end ingest throughput: a hotline export of `RECORDS` work orders decoded, normalized and written to a
//! fresh embedded RocksDB log (raw units, clues and idempotency state, fsynced per 1,000-unit batch), then the
//! same file again (every record a duplicate: the idempotency path).
//!
//! Run: `cargo bench -p yujing-engine --bench ingest`. Figures go to docs/PERFORMANCE.md.

use std::time::Duration;

#[path = "support.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use yujing_engine::{EngineConfig, FixedClock, Ingestor};
use yujing_log::EmbeddedLog;
use yujing_model::FeedId;

const RECORDS: usize = 20_000;

fn bench(c: &mut Criterion) {
    let mut config = EngineConfig::defaults();
    config.pii.secret = "bench-secret-0123456789".to_owned();
    let built = config.check().expect("configuration builds");
    let clock = FixedClock(chrono::DateTime::UNIX_EPOCH);
    let export = support::hotline_export(RECORDS);
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("hotline12345_fresh_store", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let log = EmbeddedLog::open(dir.path()).expect("open");
                let report = Ingestor::new(&log, &built.normalizer, &clock)
                    .ingest_bytes(FeedId::Hotline12345, "bench.jsonl", &export)
                    .expect("ingest");
                assert_eq!(report.new_clues, RECORDS as u64);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path()).expect("open");
    let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
    ingestor
        .ingest_bytes(FeedId::Hotline12345, "bench.jsonl", &export)
        .expect("first ingest");
    group.bench_function("hotline12345_all_duplicates", |b| {
        b.iter(|| {
            let report = ingestor
                .ingest_bytes(FeedId::Hotline12345, "bench.jsonl", &export)
                .expect("ingest");
            assert_eq!(report.duplicates, RECORDS as u64);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
