#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

//! The cost of correlating one clue (blocking, scoring, linking, the second chance of a lone report, and judging
//! the rules: `observe`, `reconsider`, `flush`) with 10,000, 100,000 and 1,000,000 clusters open. Blocking keeps only the most recent clues per key, so the cost must stay flat.
//!
//! Then what a rules-only tuning sweep pays per configuration once the history is clustered: judging the rules on
//! every cluster (`judge`).
//!
//! `correlate_drafted_clue` is the same with the profiles drafted beforehand, as a pipeline drafts them on another
//! thread: the correlating thread's own cost. `correlate_prepared_clue` splits a clue into the two halves the
//! two-thread pipeline runs on its two threads (`prepare` and `decide`); `correlate_pipelined_clue` runs that
//! pipeline, both threads at work.
//!
//! `cargo bench -p yujing-correlate --bench correlate`

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use yujing_correlate::{BlockingAhead, CorrelateConfig, Correlator, Prepared, ProfileDraft, RuleConfig};
use yujing_model::{
    Address, Clue, DisputeType, FeedId, Party, PartyKey, PartyKeyKind, PartyKind, PartyRole, RawPointer,
    RequestKind, SourceLocation, TownCode, TownEvidence, TownRef, WarningLevel,
};

/// The allocator the `yujing` binary uses, so that this measures what it does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ISSUES: &[&str] = &[
    "电梯坏了一直没修",
    "物业乱收停车费",
    "楼顶漏水物业不管",
    "公共通道堆放杂物",
    "楼上装修噪音扰民",
    "老板拖欠工资",
    "承包地界线争议",
    "宅基地界址争议",
];
const HEADS: &[&str] = &[
    "锦绣", "阳光", "富康", "金色", "翠竹", "紫薇", "东方", "丽景", "江南", "幸福",
];
// Suffixes that do not sound alike (家园 and 佳苑 do, and yujing takes a homophone for the same estate).
const TAILS: &[&str] = &["华庭", "花苑", "家园", "新村", "名都", "雅居"];

/// A deterministic stream of clues of `disputes` different disputes (one clue each until they repeat).
struct Stream {
    state: u64,
    next_id: u64,
    at: DateTime<Utc>,
    /// Mean seconds between reports: the open clusters are spread over 30 days whatever their number, so
    /// every candidate the index returns is inside the 60-day horizon and is scored (the worst case).
    step: i64,
}

impl Stream {
    fn new(open: u64) -> Stream {
        Stream {
            state: 0x2545_f491_4f6c_dd1d,
            next_id: 0,
            at: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            step: (30 * 86_400 / open.max(1) as i64).max(2),
        }
    }

    fn rand(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// The next clue: a report of dispute `dispute` (its estate, reporter and issue follow from the number).
    fn clue(&mut self, dispute: u64) -> Clue {
        self.next_id += 1;
        let jitter = (self.rand() % self.step as u64) as i64;
        self.at += chrono::Duration::seconds(self.step / 2 + jitter);
        // Different towns, estates, buildings or issues: every dispute below millions is its own.
        let town = 320_682_001 + dispute % 14;
        // Each town has its own estates, numbered in front (`417锦绣华庭`) so no two share a name or a sound.
        let k = dispute / 14;
        let estate = format!("{k}{}{}", HEADS[(k % 10) as usize], TAILS[(k / 10 % 6) as usize]);
        let building = dispute / 84_000 % 24;
        let issue = ISSUES[(dispute / 2_016_000 % 8) as usize];
        let source_id = format!("B{:09}", self.next_id);
        Clue {
            clue_id: format!("hotline12345:{source_id}"),
            feed: FeedId::Hotline12345,
            source_id,
            version: 1,
            occurred_at: self.at,
            reported_at: self.at,
            town: TownRef {
                town_code: TownCode(town.to_string()),
                town_name: None,
                town_evidence: TownEvidence::FullName,
                community_code: None,
                community_name: None,
                grid_code: None,
            },
            address: Address {
                text: estate.clone(),
                normalized: format!("{town}/{estate}"),
                estate: Some(estate.clone()),
                building: Some(building.to_string()),
                // Normalization finds the estate in the text too, as a place mention.
                places: vec![estate.clone()],
                ..Address::default()
            },
            location: None,
            dispute_type: DisputeType::Property,
            source_category: "物业管理".to_owned(),
            category_inferred: false,
            category_guessed: false,
            request_kind: RequestKind::Complaint,
            source_status: None,
            parties: vec![Party {
                role: PartyRole::Reporter,
                kind: PartyKind::Person,
                name_masked: None,
                phone_masked: None,
                id_masked: None,
                keys: vec![PartyKey {
                    kind: PartyKeyKind::Phone,
                    hash: format!("{:016x}", dispute.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .chars()
                        .map(|c| char::from(b'a' + c.to_digit(16).unwrap_or(0) as u8))
                        .collect(),
                }],
                name_tokens: None,
            }],
            people_involved: None,
            risk_flags: Default::default(),
            title: None,
            description: format!("{estate}{building}幢，{issue}，要求尽快处理。"),
            raw: RawPointer {
                topic: "raw.hotline12345".to_owned(),
                offset: self.next_id,
                location: SourceLocation {
                    file: "bench".to_owned(),
                    line: None,
                    record_index: self.next_id,
                },
            },
        }
    }
}

fn settings() -> yujing_correlate::Settings {
    CorrelateConfig {
        rules: vec![
            RuleConfig::recurring("orange", WarningLevel::Orange, 5, 30),
            RuleConfig::recurring("red", WarningLevel::Red, 8, 30),
        ],
        ..CorrelateConfig::default()
    }
    .build()
    .expect("valid settings")
}

/// A correlator with `open` clusters: one report of each of `open` different disputes.
fn populate(open: u64) -> (Correlator, Stream) {
    let mut correlator = Correlator::new(settings());
    let mut stream = Stream::new(open);
    for dispute in 0..open {
        correlator.observe(&stream.clue(dispute));
    }
    correlator.reconsider();
    correlator.flush();
    let clusters = correlator.stats().clusters;
    assert_eq!(clusters, open, "{clusters} clusters for {open} disputes");
    eprintln!("{clusters} clusters open");
    (correlator, stream)
}

/// `count` new reports of the `open` disputes already reported, spread over them: what every per-clue bench
/// observes, generated before its clock starts.
fn new_reports(stream: &mut Stream, open: u64, count: u64) -> Vec<Clue> {
    (0..count).map(|i| stream.clue((i * 7919) % open)).collect()
}

/// Runs the per-clue bench `name` at each number of `open` clusters (20 samples over 10 s each, the
/// population being slow to build): `measure` is given the correlator with that many clusters open, criterion's
/// count of new reports of its disputes (generated before its clock starts) and, when `halves` name several
/// measures of one population, which one; it returns the time it measured.
fn per_clue_bench(
    c: &mut Criterion,
    name: &str,
    sizes: &[u64],
    halves: &[&str],
    mut measure: impl FnMut(&mut Correlator, Vec<Clue>, &str) -> Duration,
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    for &open in sizes {
        // Populated on first use, so a filtered run (`-- correlate_one_clue/10000`) skips the other sizes.
        let mut state: Option<(Correlator, Stream)> = None;
        let ids: Vec<(BenchmarkId, &str)> = match halves {
            [] => vec![(BenchmarkId::from_parameter(open), "")],
            halves => halves
                .iter()
                .map(|&half| (BenchmarkId::new(half, open), half))
                .collect(),
        };
        for (id, half) in ids {
            group.bench_with_input(id, &open, |b, &open| {
                let (correlator, stream) = state.get_or_insert_with(|| populate(open));
                b.iter_custom(|iters| measure(correlator, new_reports(stream, open, iters), half));
            });
        }
    }
    group.finish();
}

/// Ends a segment observed with blocking handed off: blocking taken back, then the clues' second chance and
/// the rules judged, as a segment's are.
fn end_segment(correlator: &mut Correlator, ahead: BlockingAhead) {
    correlator.take_back_blocking(ahead);
    criterion::black_box(correlator.reconsider());
    criterion::black_box(correlator.flush());
}

fn per_clue(c: &mut Criterion) {
    per_clue_bench(
        c,
        "correlate_one_clue",
        &[10_000, 100_000, 1_000_000],
        &[],
        |correlator, clues, _| {
            let start = Instant::now();
            for clue in &clues {
                correlator.observe(clue);
                criterion::black_box(correlator.reconsider());
                criterion::black_box(correlator.flush());
            }
            start.elapsed()
        },
    );
}

/// The same with each clue's profile drafted before the clock starts: what the correlating thread pays per
/// clue in a pipeline, which drafts profiles on another thread ([`Correlator::observe_drafted`]).
fn per_drafted_clue(c: &mut Criterion) {
    per_clue_bench(
        c,
        "correlate_drafted_clue",
        &[10_000, 1_000_000],
        &[],
        |correlator, clues, _| {
            let drafts: Vec<ProfileDraft> = clues
                .iter()
                .map(|clue| ProfileDraft::of(clue, correlator.lexicon()))
                .collect();
            let start = Instant::now();
            for (clue, draft) in clues.iter().zip(&drafts) {
                correlator.observe_drafted(clue, draft);
                criterion::black_box(correlator.reconsider());
                criterion::black_box(correlator.flush());
            }
            start.elapsed()
        },
    );
}

/// The two halves of a clue in the two-thread pipeline (`yujing`'s bulk segments and the sweep hand the
/// correlator's blocking to the drafting thread: `Correlator::hand_off_blocking`): `prepare`, what that thread
/// pays per clue (the profile drafted, interned and weighed, its candidates found and glanced at, itself
/// indexed), and `decide`, what the correlating thread pays (`observe_prepared`, then the clues' second chance
/// and the rules judged once after them, as a segment's are). Each is timed with the other done outside the
/// clock; the pipeline's cost per clue is the larger of the two.
fn per_prepared_clue(c: &mut Criterion) {
    per_clue_bench(
        c,
        "correlate_prepared_clue",
        &[10_000, 1_000_000],
        &["prepare", "decide"],
        |correlator, clues, half| {
            let lexicon = correlator.lexicon().clone();
            let mut ahead = correlator.hand_off_blocking();
            let start = Instant::now();
            let prepared: Vec<Prepared> = clues
                .iter()
                .map(|clue| ahead.prepare(clue, &ProfileDraft::of(clue, &lexicon)))
                .collect();
            let preparing = start.elapsed();
            let start = Instant::now();
            for (clue, prepared) in clues.iter().zip(prepared) {
                criterion::black_box(correlator.observe_prepared(clue, prepared));
            }
            end_segment(correlator, ahead);
            let deciding = start.elapsed();
            if half == "prepare" {
                preparing
            } else {
                deciding
            }
        },
    );
}

/// A clue through the two-thread pipeline itself, both threads at work: the clues prepared on a second thread
/// in chunks of 512, at most two chunks ahead (a bounded channel, as `yujing`'s bulk segments and the sweep
/// do), and decided on this one; the clues' second chance and the rules judged once after them.
fn per_pipelined_clue(c: &mut Criterion) {
    per_clue_bench(
        c,
        "correlate_pipelined_clue",
        &[10_000, 1_000_000],
        &[],
        |correlator, clues, _| {
            let lexicon = correlator.lexicon().clone();
            let mut ahead = correlator.hand_off_blocking();
            let start = Instant::now();
            std::thread::scope(|scope| {
                let (to_decide, prepared) = std::sync::mpsc::sync_channel::<Vec<Prepared>>(2);
                let (ahead, lexicon, clues) = (&mut ahead, &lexicon, &clues);
                scope.spawn(move || {
                    for chunk in clues.chunks(512) {
                        let chunk = chunk
                            .iter()
                            .map(|clue| ahead.prepare(clue, &ProfileDraft::of(clue, lexicon)))
                            .collect();
                        if to_decide.send(chunk).is_err() {
                            break;
                        }
                    }
                });
                for (chunk, prepared) in clues.chunks(512).zip(prepared) {
                    for (clue, prepared) in chunk.iter().zip(prepared) {
                        criterion::black_box(correlator.observe_prepared(clue, prepared));
                    }
                }
            });
            end_segment(correlator, ahead);
            start.elapsed()
        },
    );
}

/// What `yujing tune` pays per configuration of a rules-only grid: the rules judged on clusters already built.
/// 20,000 disputes with 6 reports each (120,000 clues), every one a warning-worthy cluster.
fn judge_rules(c: &mut Criterion) {
    const DISPUTES: u64 = 20_000;
    const REPORTS: u64 = 6;
    let mut correlator = Correlator::new(settings());
    let mut stream = Stream::new(DISPUTES * REPORTS);
    for i in 0..DISPUTES * REPORTS {
        correlator.observe(&stream.clue(i % DISPUTES));
    }
    correlator.reconsider();
    let clues = correlator.stats().clues;
    let mut group = c.benchmark_group("judge_rules");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(criterion::Throughput::Elements(clues));
    for occurrences in [4u32, 6] {
        let mut rules = settings().rules;
        rules[0].occurrences = occurrences;
        group.bench_with_input(
            BenchmarkId::new(format!("{clues} clues"), format!("orange at {occurrences}")),
            &rules,
            |b, rules| {
                b.iter(|| {
                    let warnings = correlator.judge(rules, 30);
                    assert!(!warnings.is_empty());
                    warnings.len()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    per_clue,
    per_drafted_clue,
    per_prepared_clue,
    per_pipelined_clue,
    judge_rules
);
criterion_main!(benches);
