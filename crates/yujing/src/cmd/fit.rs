//! `yujing fit`: fit the scoring weights on labeled data.

use std::collections::{BTreeMap, HashMap, HashSet};
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
    let held = held_weights(built, hold)?;
    let labelled = labelled_pairs(built, truth_dir)?;
    let report = yujing_sim::fit_weights(&labelled.pairs, &held);
    let toml = report.to_toml();
    if let Some(path) = out {
        std::fs::write(path, &toml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let stdout = std::io::stdout();
    let mut stdout = BufWriter::new(stdout.lock());
    print_report(&mut stdout, &report, &labelled, hold)?;
    write!(stdout, "{toml}")?;
    stdout.flush()?;
    Ok(())
}

/// The weights of the `--hold` features, as configured: they are kept, not fitted.
fn held_weights(built: &Built, hold: &[String]) -> Result<BTreeMap<usize, Vec<f64>>> {
    let mut held = BTreeMap::new();
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
    Ok(held)
}

/// Every candidate pair correlation compared, labelled by the truth, and the blocking recall.
struct Labelled {
    pairs: Vec<(yujing_correlate::Comparison, bool)>,
    /// Reports of a dispute reported before.
    repeats: usize,
    /// Of those, the ones with an earlier report of their dispute among their candidates.
    repeats_found: usize,
}

/// Correlates the simulation at `truth_dir` once, recording every pair compared.
fn labelled_pairs(built: &Built, truth_dir: &std::path::Path) -> Result<Labelled> {
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let dispute_of: HashMap<String, String> = records
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
    let mut labelled = Labelled {
        pairs: Vec::new(),
        repeats: 0,
        repeats_found: 0,
    };
    let mut seen_disputes = HashSet::new();
    for clue in yujing_engine::clues_in_event_time(&log)? {
        let before = correlator.stats().clues;
        correlator.observe(&clue);
        let observed = correlator.stats().clues > before;
        let mut found = false;
        for pair in correlator.take_pairs() {
            // Pairs of clues outside the truth (noise) are not labeled, so not used.
            if let (Some(a), Some(b)) = (
                dispute_of.get(&pair.clue_id),
                dispute_of.get(&pair.member_clue_id),
            ) {
                found |= a == b;
                labelled.pairs.push((pair.comparison, a == b));
            }
        }
        if let (true, Some(d)) = (observed, dispute_of.get(&clue.clue_id)) {
            if !seen_disputes.insert(d.clone()) {
                labelled.repeats += 1;
                labelled.repeats_found += usize::from(found);
            }
        }
    }
    Ok(labelled)
}

/// The fit's figures and each level's weight, as TOML comments above the weights.
fn print_report(
    out: &mut impl Write,
    report: &yujing_sim::FitReport,
    labelled: &Labelled,
    hold: &[String],
) -> Result<()> {
    writeln!(
        out,
        "# {} candidate pairs: {} of one dispute, {} of different ones; pair F1 {:.4} at the threshold",
        report.matches + report.non_matches,
        report.matches,
        report.non_matches,
        report.pair_f1
    )?;
    writeln!(
        out,
        "# blocking recall: {} of {} repeat reports had an earlier report of their dispute among their candidates ({:.4})",
        labelled.repeats_found,
        labelled.repeats,
        labelled.repeats_found as f64 / labelled.repeats.max(1) as f64
    )?;
    writeln!(
        out,
        "# weights fitted jointly (logistic regression, log2 odds); prior log2 odds of a candidate pair {:.2}; \
         log2(m/u) is each level's weight were the features independent",
        report.intercept
    )?;
    if !hold.is_empty() {
        writeln!(
            out,
            "# held at the configuration's weights, not fitted: {}",
            hold.join(", ")
        )?;
    }
    writeln!(
        out,
        "# {:<28} {:>8} {:>8} {:>9} {:>7}",
        "level", "m", "u", "log2(m/u)", "weight"
    )?;
    for l in &report.levels {
        writeln!(
            out,
            "# {:<28} {:>8.5} {:>8.5} {:>9.2} {:>7.2}",
            l.level, l.m, l.u, l.marginal, l.weight
        )?;
    }
    Ok(())
}
