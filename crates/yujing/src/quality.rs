//! The quality commands: `simulate`, `eval` and `fit`.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use yujing_engine::{Built, Ingestor, SystemClock};
use yujing_log::EmbeddedLog;

use crate::write_json_pretty;

pub(crate) fn simulate(
    built: &Built,
    config: yujing_sim::SimConfig,
    out_dir: &std::path::Path,
) -> Result<()> {
    if config.days < 60 {
        anyhow::bail!("--days must be at least 60 (reports of one dispute span weeks)");
    }
    if config.estates_per_town == 0 {
        anyhow::bail!("--estates-per-town must be at least 1");
    }
    let (seed, disputes) = (config.seed, config.disputes);
    let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
    simulation.write_to(out_dir, &built.correlate.rules, built.correlate.episode_gap_days)?;
    let expected = yujing_sim::truth_warnings(
        &simulation.records,
        &built.correlate.rules,
        built.correlate.episode_gap_days,
    );
    let orange = expected
        .iter()
        .filter(|w| w.level == yujing_model::WarningLevel::Orange)
        .count();
    println!(
        "simulated {disputes} disputes (seed {seed}): {} records in {} files, {} re-deliveries, {} noise records",
        simulation.records.len(),
        simulation.files.len(),
        simulation.redeliveries,
        simulation.noise.len()
    );
    println!(
        "the rules should raise {} warnings ({} orange, {} red)",
        expected.len(),
        orange,
        expected.len() - orange
    );
    println!(
        "wrote {}/feeds and {}/truth; next: yujing replay --feeds {}/feeds --out REPLAY && yujing eval --truth {} --replay REPLAY",
        out_dir.display(),
        out_dir.display(),
        out_dir.display(),
        out_dir.display()
    );
    Ok(())
}

pub(crate) fn eval(
    built: &Built,
    truth_dir: &std::path::Path,
    replay_dir: &std::path::Path,
    json: bool,
) -> Result<()> {
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let expected =
        yujing_sim::truth_warnings(&records, &built.correlate.rules, built.correlate.episode_gap_days);
    let clusters: Vec<yujing_sim::ClusterLine> =
        yujing_sim::read_json_lines(&replay_dir.join("clusters.jsonl"))?;
    let warnings: Vec<yujing_sim::WarningLine> =
        yujing_sim::read_json_lines(&replay_dir.join("warnings.jsonl"))?;
    let report = yujing_sim::evaluate(
        &records,
        &expected,
        &clusters,
        &warnings,
        built.correlate.episode_gap_days,
    );
    if json {
        return write_json_pretty(&report);
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    writeln!(
        out,
        "records: {} in truth ({} disputes), {} clustered, {} missing, {} unexpected; {} clusters",
        report.truth_records,
        report.truth_disputes,
        report.clustered_records,
        report.missing_records,
        report.unexpected_records,
        report.clusters
    )?;
    writeln!(
        out,
        "{:<10} {:>9} {:>9} {:>9}",
        "clusters", "precision", "recall", "F1"
    )?;
    for (name, prf) in [("pairwise", report.pairwise), ("B-cubed", report.bcubed)] {
        writeln!(
            out,
            "{:<10} {:>9.4} {:>9.4} {:>9.4}",
            name, prf.precision, prf.recall, prf.f1
        )?;
    }
    writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "warnings",
        "expected",
        "raised",
        "matched",
        "dups",
        "precision",
        "recall",
        "lag p50",
        "lag p95",
        "on time"
    )?;
    for (level, s) in &report.warnings {
        writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9.4} {:>9.4} {:>7.1}h {:>7.1}h {:>8}",
            level.as_str(),
            s.expected,
            s.raised,
            s.matched,
            s.duplicates,
            s.precision,
            s.recall,
            s.lag_hours.p50,
            s.lag_hours.p95,
            s.lag_hours.on_time
        )?;
    }
    out.flush()?;
    Ok(())
}

pub(crate) fn fit(
    built: &Built,
    truth_dir: &std::path::Path,
    out: Option<&std::path::Path>,
    hold: &[String],
) -> Result<()> {
    let mut held = std::collections::BTreeMap::new();
    for name in hold {
        let Some(feature) = yujing_correlate::feature_index(name) else {
            anyhow::bail!(
                "--hold: no feature `{name}`; the features are {}",
                yujing_correlate::FEATURES
                    .iter()
                    .map(|f| f.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let levels = yujing_correlate::FEATURES[feature].levels.len();
        let weights = &built.correlate.weights;
        held.insert(
            feature,
            (0..levels)
                .map(|l| weights.weight(feature, l as u8))
                .collect::<Vec<f64>>(),
        );
    }
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let dispute_of: std::collections::HashMap<String, String> = records
        .iter()
        .map(|r| (format!("{}:{}", r.feed, r.source_id), r.dispute_id.clone()))
        .collect();
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let log = EmbeddedLog::open(scratch.path())?;
    let clock = SystemClock;
    Ingestor::new(&log, &built.normalizer, &clock).ingest_paths(
        &[truth_dir.join("feeds")],
        None,
        &mut |_| {},
    )?;
    let mut correlator = yujing_correlate::Correlator::new(built.correlate.clone());
    correlator.record_pairs();
    let mut pairs = Vec::new();
    // Blocking recall: of the clues whose dispute was reported before, how many had such a report among
    // their candidates.
    let mut seen_disputes = std::collections::HashSet::new();
    let (mut repeats, mut repeats_found) = (0usize, 0usize);
    for clue in yujing_engine::clues_in_event_time(&log)? {
        let before = correlator.stats().clues;
        correlator.observe(&clue);
        let observed = correlator.stats().clues > before;
        let dispute = dispute_of.get(&clue.clue_id);
        let mut found = false;
        for pair in correlator.take_pairs() {
            // Pairs of clues outside the truth (noise) are not labeled, so not used.
            if let (Some(a), Some(b)) = (
                dispute_of.get(&pair.clue_id),
                dispute_of.get(&pair.member_clue_id),
            ) {
                found |= a == b;
                pairs.push((pair.comparison, a == b));
            }
        }
        if let (true, Some(d)) = (observed, dispute) {
            if !seen_disputes.insert(d.clone()) {
                repeats += 1;
                repeats_found += usize::from(found);
            }
        }
    }
    let report = yujing_sim::fit_weights(&pairs, &held);
    let toml = report.to_toml();
    if let Some(path) = out {
        std::fs::write(path, &toml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    let mut stdout = BufWriter::new(stdout.lock());
    writeln!(
        stdout,
        "# {} candidate pairs: {} of one dispute, {} of different ones; pair F1 {:.4} at the threshold",
        report.matches + report.non_matches,
        report.matches,
        report.non_matches,
        report.pair_f1
    )?;
    writeln!(
        stdout,
        "# blocking recall: {repeats_found} of {repeats} repeat reports had an earlier report of their dispute among their candidates ({:.4})",
        repeats_found as f64 / repeats.max(1) as f64
    )?;
    writeln!(
        stdout,
        "# weights fitted jointly (logistic regression, log2 odds); prior log2 odds of a candidate pair {:.2}; \
         log2(m/u) is each level's weight were the features independent",
        report.intercept
    )?;
    if !hold.is_empty() {
        writeln!(
            stdout,
            "# held at the configuration's weights, not fitted: {}",
            hold.join(", ")
        )?;
    }
    writeln!(
        stdout,
        "# {:<28} {:>8} {:>8} {:>9} {:>7}",
        "level", "m", "u", "log2(m/u)", "weight"
    )?;
    for l in &report.levels {
        writeln!(
            stdout,
            "# {:<28} {:>8.5} {:>8.5} {:>9.2} {:>7.2}",
            l.level, l.m, l.u, l.marginal, l.weight
        )?;
    }
    write!(stdout, "{toml}")?;
    stdout.flush()?;
    Ok(())
}
