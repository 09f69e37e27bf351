//! `yujing fit`: the scoring weights estimated from labeled data.
//!
//! A simulation's (or any labeled folder's) export files are ingested into a scratch store and correlated in
//! event-time order while every candidate pair compared is kept; each pair is labeled from the truth (one
//! dispute or two), and every feature level's weight is fitted jointly by logistic regression
//! ([`yujing_sim::fit_weights`]). Features the labeled data cannot speak for are held at the configuration's
//! weights and the others fitted around them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Display, Formatter};
use std::path::Path;

use yujing_correlate::{Comparison, Correlator, FEATURES};
use yujing_engine::{clues_in_event_time, Built, Ingestor, SystemClock};
use yujing_log::EmbeddedLog;
use yujing_sim::{FitReport, TruthRecord};

use crate::TuneError;

/// The fit and what it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The weights, the threshold and each level's figures.
    pub report: FitReport,
    /// The features held at the configuration's weights.
    pub held: Vec<String>,
    /// Reports of a dispute reported before.
    pub repeats: usize,
    /// Of those, the ones with an earlier report of their dispute among their candidates (blocking recall).
    pub repeats_found: usize,
}

/// Fits the weights on the labeled directory `truth_dir` (export files in `feeds/`, the truth in
/// `truth/records.jsonl`), holding the features named in `hold`.
pub fn fit(built: &Built, truth_dir: &Path, hold: &[String]) -> Result<Fit, TuneError> {
    let held = held_weights(built, hold)?;
    let labelled = labelled_pairs(built, truth_dir)?;
    Ok(Fit {
        report: yujing_sim::fit_weights(&labelled.pairs, &held),
        held: hold.to_vec(),
        repeats: labelled.repeats,
        repeats_found: labelled.repeats_found,
    })
}

/// The weights of the held features, as configured, by feature index.
fn held_weights(built: &Built, hold: &[String]) -> Result<BTreeMap<usize, Vec<f64>>, TuneError> {
    let mut held = BTreeMap::new();
    for name in hold {
        let Some(feature) = yujing_correlate::feature_index(name) else {
            let known: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
            return Err(TuneError::Parameter(format!(
                "--hold: no feature `{name}`; the features are {}",
                known.join(", ")
            )));
        };
        let weights = &built.correlate.weights;
        let levels = FEATURES[feature].levels.len();
        let configured = (0..levels).map(|l| weights.weight(feature, l as u8)).collect();
        held.insert(feature, configured);
    }
    Ok(held)
}

/// Every candidate pair correlation compared, labelled by the truth, and the blocking recall.
struct Labelled {
    pairs: Vec<(Comparison, bool)>,
    repeats: usize,
    repeats_found: usize,
}

/// Correlates the labeled exports once, recording every pair compared.
fn labelled_pairs(built: &Built, truth_dir: &Path) -> Result<Labelled, TuneError> {
    let records: Vec<TruthRecord> = yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let dispute_of: HashMap<String, String> = records
        .iter()
        .map(|r| (format!("{}:{}", r.feed, r.source_id), r.dispute_id.clone()))
        .collect();
    let scratch = tempfile::tempdir().map_err(|source| TuneError::Io {
        doing: "create",
        path: std::env::temp_dir(),
        source,
    })?;
    let log = EmbeddedLog::open(scratch.path())?;
    let clock = SystemClock;
    Ingestor::new(&log, &built.normalizer, &clock).ingest_paths(
        &[truth_dir.join("feeds")],
        None,
        &mut |_| {},
    )?;
    let mut correlator = Correlator::new(built.correlate.clone());
    correlator.record_pairs();
    let mut labelled = Labelled {
        pairs: Vec::new(),
        repeats: 0,
        repeats_found: 0,
    };
    let mut seen_disputes = HashSet::new();
    for clue in clues_in_event_time(&log)? {
        let before = correlator.stats().clues;
        correlator.observe(&clue);
        let observed = correlator.stats().clues > before;
        let mut found = false;
        for pair in correlator.take_pairs() {
            // Pairs of clues outside the truth (noise) are not labeled, so not used.
            let (Some(a), Some(b)) = (
                dispute_of.get(&pair.clue_id),
                dispute_of.get(&pair.member_clue_id),
            ) else {
                continue;
            };
            found |= a == b;
            labelled.pairs.push((pair.comparison, a == b));
        }
        if let (true, Some(dispute)) = (observed, dispute_of.get(&clue.clue_id)) {
            if !seen_disputes.insert(dispute.clone()) {
                labelled.repeats += 1;
                labelled.repeats_found += usize::from(found);
            }
        }
    }
    Ok(labelled)
}

/// The fit's figures and each level's weight as TOML comments, then the `[correlate.scoring]` table.
impl Display for Fit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let report = &self.report;
        writeln!(
            f,
            "# {} candidate pairs: {} of one dispute, {} of different ones; pair F1 {:.4} at the threshold",
            report.matches + report.non_matches,
            report.matches,
            report.non_matches,
            report.pair_f1
        )?;
        writeln!(
            f,
            "# blocking recall: {} of {} repeat reports had an earlier report of their dispute among their candidates ({:.4})",
            self.repeats_found,
            self.repeats,
            self.repeats_found as f64 / self.repeats.max(1) as f64
        )?;
        writeln!(
            f,
            "# weights fitted jointly (logistic regression, log2 odds); prior log2 odds of a candidate pair {:.2}; \
             log2(m/u) is each level's weight were the features independent",
            report.intercept
        )?;
        if !self.held.is_empty() {
            writeln!(
                f,
                "# held at the configuration's weights, not fitted: {}",
                self.held.join(", ")
            )?;
        }
        writeln!(
            f,
            "# {:<28} {:>8} {:>8} {:>9} {:>7}",
            "level", "m", "u", "log2(m/u)", "weight"
        )?;
        for l in &report.levels {
            writeln!(
                f,
                "# {:<28} {:>8.5} {:>8.5} {:>9.2} {:>7.2}",
                l.level, l.m, l.u, l.marginal, l.weight
            )?;
        }
        write!(f, "{}", report.to_toml())
    }
}
