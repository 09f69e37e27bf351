//! Decoding and normalization throughput, per feed format: how many upstream records per second one core turns
//! into clues, before any log write. Input: the sample records repeated with fresh ids (so nothing is skipped).
//!
//! Run: `cargo bench -p yujing-feeds --bench normalize`. Figures go to docs/PERFORMANCE.md.

#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

#[path = "support.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use yujing_feeds::{adapters, detached_pointer, FeedsConfig, Gazetteer, Normalizer, Outcome, PartyHasher};
use yujing_model::FeedId;

const RECORDS: usize = 2_000;

fn normalizer() -> Normalizer {
    let table: toml::Table = toml::from_str(include_str!("../config/yujing.toml")).expect("config parses");
    let feeds: FeedsConfig = table["feeds"].clone().try_into().expect("feeds config");
    let hasher = PartyHasher::new(b"bench-secret-0123456789").expect("secret");
    Normalizer::new(Gazetteer::rugao(), hasher, feeds.build().expect("rules"))
}

/// `RECORDS` police rows (GBK), each sample row with a distinct call-sheet number.
fn police_input() -> Vec<u8> {
    let sample = include_bytes!("../docs/feeds/police.sample.csv");
    let (text, _, _) = encoding_rs::GBK.decode(sample);
    let mut rows = text.split("\r\n");
    let header = rows.next().unwrap_or_default().to_owned();
    let body: Vec<String> = rows.filter(|r| !r.is_empty()).map(str::to_owned).collect();
    // The first sample row spans two lines; rejoin rows that start inside a quoted field.
    let mut records: Vec<String> = Vec::new();
    for row in body {
        match records.last_mut() {
            Some(last) if last.matches('"').count() % 2 == 1 => {
                last.push_str("\r\n");
                last.push_str(&row);
            }
            _ => records.push(row),
        }
    }
    let mut out = header + "\r\n";
    for i in 0..RECORDS {
        let row = &records[i % records.len()];
        out.push_str(&format!("B{i:07}{row}\r\n"));
    }
    encoding_rs::GBK.encode(&out).0.into_owned()
}

fn bench(c: &mut Criterion) {
    let normalizer = normalizer();
    let mut group = c.benchmark_group("decode_and_normalize");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (feed, input) in [
        (FeedId::Hotline12345, support::hotline_export(RECORDS)),
        (FeedId::Police, police_input()),
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(feed), &input, |b, input| {
            b.iter(|| {
                let decoded = adapters::decode(feed, "bench", input, normalizer.rules());
                let mut clues = 0;
                for record in &decoded.records {
                    if let Outcome::Record(source) = &record.outcome {
                        let pointer = detached_pointer(feed, record.location.clone());
                        clues += usize::from(normalizer.normalize(source, 1, pointer).is_ok());
                    }
                }
                assert_eq!(clues, RECORDS);
                clues
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
