#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! Decoding and normalization throughput per feed format: how many upstream records (and megabytes) per second
//! one core turns into clues, before any log write. Input: the largest monthly export file of each of the six
//! feeds, in its real format and encoding, from a seeded simulation (`yujing simulate`: names, phones, ID
//! numbers, addresses, malformed and non-dispute rows as upstream sends them).
//!
//! Beside them, the physical reference for the JSON feeds: splitting the same file into lines and parsing each
//! line with `serde_json` into a `Value`, and nothing else.
//!
//! Run: `cargo bench -p yujing-engine --bench normalize`. Figures go to docs/PERFORMANCE.md.

use std::collections::BTreeMap;

#[path = "support.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use yujing_engine::EngineConfig;
use yujing_feeds::{adapters, detached_pointer, Outcome};
use yujing_model::FeedId;

/// The largest export file of each feed in a seeded simulation of a county year.
fn one_file_per_feed(built: &yujing_engine::Built) -> BTreeMap<FeedId, (String, Vec<u8>)> {
    let config = yujing_sim::SimConfig {
        seed: 1,
        disputes: 20_000,
        ..yujing_sim::SimConfig::default()
    };
    let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
    let mut largest: BTreeMap<FeedId, (String, Vec<u8>)> = BTreeMap::new();
    for (name, bytes) in simulation.files {
        let Some(feed) = support::feed_of_file(&name) else {
            continue;
        };
        let slot = largest.entry(feed).or_insert_with(|| (String::new(), Vec::new()));
        if bytes.len() > slot.1.len() {
            *slot = (name, bytes);
        }
    }
    assert_eq!(largest.len(), 6, "every feed has a file");
    largest
}

fn bench(c: &mut Criterion) {
    let mut config = EngineConfig::defaults();
    config.pii.secret = "bench-secret-0123456789".to_owned();
    let built = config.check().expect("configuration builds");
    let normalizer = &built.normalizer;
    let files = one_file_per_feed(&built);

    let mut group = c.benchmark_group("decode_and_normalize");
    for (feed, (name, bytes)) in &files {
        let feed = *feed;
        let records = adapters::decode(feed, name, bytes, normalizer.rules())
            .records
            .len();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(feed.as_str(), format!("{records} records")),
            bytes,
            |b, bytes| {
                b.iter(|| {
                    let decoded = adapters::decode(feed, name, bytes, normalizer.rules());
                    let mut clues = 0usize;
                    for record in &decoded.records {
                        if let Outcome::Record(source) = &record.outcome {
                            let pointer = detached_pointer(feed, record.location.clone());
                            clues += usize::from(normalizer.normalize(source, 1, pointer).is_ok());
                        }
                    }
                    assert!(clues > records / 2, "{feed}: most records become clues");
                    clues
                })
            },
        );
    }
    group.finish();

    let mut reference = c.benchmark_group("reference_serde_json_lines");
    for feed in [FeedId::Hotline12345, FeedId::Grid, FeedId::Exchange] {
        let (_, bytes) = &files[&feed];
        reference.throughput(Throughput::Bytes(bytes.len() as u64));
        reference.bench_with_input(BenchmarkId::from_parameter(feed), bytes, |b, bytes| {
            b.iter(|| {
                bytes
                    .split(|b| *b == b'\n')
                    .filter(|line| !line.is_empty())
                    .filter(|line| serde_json::from_slice::<serde_json::Value>(line).is_ok())
                    .count()
            })
        });
    }
    reference.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
