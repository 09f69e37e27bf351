//! `yujing fit`: fit the scoring weights on labeled data.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use yujing_engine::{Built, Ingestor, SystemClock};
use yujing_log::EmbeddedLog;

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
