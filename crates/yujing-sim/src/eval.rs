//! Scoring a replay against the truth: clustering (pairwise and B-cubed) and warnings (per level).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yujing_model::{FeedId, WarningLevel};

use crate::truth::{TruthRecord, TruthWarning};

/// One line of a replay's `clusters.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLine {
    /// The feed.
    pub feed: FeedId,
    /// The upstream id.
    pub source_id: String,
    /// The cluster.
    pub cluster_id: String,
}

/// The fields of a replay's `warnings.jsonl` that scoring needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningLine {
    /// The warning's id.
    pub warning_id: String,
    /// The cluster.
    pub cluster_id: String,
    /// The level.
    pub level: WarningLevel,
    /// When it was raised (event time).
    pub raised_at: DateTime<Utc>,
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

impl Prf {
    fn new(precision: f64, recall: f64) -> Prf {
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Prf {
            precision,
            recall,
            f1,
        }
    }
}

/// How the warnings of one level scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelScore {
    /// Warnings the truth calls for.
    pub expected: usize,
    /// Warnings raised.
    pub raised: usize,
    /// Raised warnings matched to an expected one (same dispute, same level, same episode).
    pub matched: usize,
    /// Raised warnings for a dispute and episode already warned at this level (a split cluster warning twice).
    pub duplicates: usize,
    /// matched / raised.
    pub precision: f64,
    /// matched / expected.
    pub recall: f64,
    /// Lag of matched warnings behind the true crossing, in hours (event time): mean, median, 95th percentile,
    /// max. Negative means early (a wrong merge can count reports of another dispute).
    pub lag_hours: LagStats,
}

/// Lag statistics, hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LagStats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Maximum.
    pub max: f64,
    /// Matched warnings raised exactly at the true crossing.
    pub on_time: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// How the clusters agree with the truth.
    #[serde(flatten)]
    pub clustering: ClusterScores,
    /// Warnings by level.
    pub warnings: BTreeMap<WarningLevel, LevelScore>,
}

/// How a run's clusters agree with the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterScores {
    /// Valid records in the truth.
    pub truth_records: usize,
    /// True disputes.
    pub truth_disputes: usize,
    /// Records in `clusters.jsonl` that are in the truth.
    pub clustered_records: usize,
    /// Truth records missing from `clusters.jsonl` (lost, or rejected by mistake).
    pub missing_records: usize,
    /// Records in `clusters.jsonl` not in the truth (noise that became a clue).
    pub unexpected_records: usize,
    /// Clusters formed over the truth records.
    pub clusters: usize,
    /// Pairwise precision, recall, F1.
    pub pairwise: Prf,
    /// B-cubed precision, recall, F1.
    pub bcubed: Prf,
}

fn pairs(n: usize) -> f64 {
    (n as f64) * (n as f64 - 1.0) / 2.0
}

/// A run's clusters against the truth: how they agree (pairwise and B-cubed), and the dispute each cluster
/// stands for, which is what its warnings are matched by. The same for every configuration that clusters alike,
/// so a sweep computes it once per clustering ([`score_warnings`] per configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAgreement {
    /// The scores.
    pub scores: ClusterScores,
    /// Cluster id → the dispute most of its records report (ties: the smallest dispute id).
    majority: HashMap<String, String>,
}

/// How `clusters` agree with the truth.
pub fn agree_clusters(truth: &[TruthRecord], clusters: &[ClusterLine]) -> ClusterAgreement {
    let dispute_of: HashMap<(FeedId, &str), &str> = truth
        .iter()
        .map(|r| ((r.feed, r.source_id.as_str()), r.dispute_id.as_str()))
        .collect();
    let mut cluster_of: HashMap<(FeedId, &str), &str> = HashMap::new();
    let mut unexpected = 0;
    for c in clusters {
        if dispute_of.contains_key(&(c.feed, c.source_id.as_str())) {
            cluster_of.insert((c.feed, c.source_id.as_str()), c.cluster_id.as_str());
        } else {
            unexpected += 1;
        }
    }
    // Contingency of (cluster, dispute) over truth records; a missing record is its own singleton cluster.
    let mut cell: HashMap<(String, &str), usize> = HashMap::new();
    let mut cluster_size: HashMap<String, usize> = HashMap::new();
    let mut dispute_size: HashMap<&str, usize> = HashMap::new();
    let mut missing = 0;
    for r in truth {
        let cluster = match cluster_of.get(&(r.feed, r.source_id.as_str())) {
            Some(c) => (*c).to_owned(),
            None => {
                missing += 1;
                format!("missing:{}:{}", r.feed, r.source_id)
            }
        };
        *cell.entry((cluster.clone(), r.dispute_id.as_str())).or_default() += 1;
        *cluster_size.entry(cluster).or_default() += 1;
        *dispute_size.entry(r.dispute_id.as_str()).or_default() += 1;
    }
    let true_positive_pairs: f64 = cell.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: f64 = cluster_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: f64 = dispute_size.values().map(|&n| pairs(n)).sum();
    let pairwise = Prf::new(
        if predicted_pairs > 0.0 {
            true_positive_pairs / predicted_pairs
        } else {
            1.0
        },
        if true_pairs > 0.0 {
            true_positive_pairs / true_pairs
        } else {
            1.0
        },
    );
    // B-cubed: per record, the share of its cluster from its dispute, and of its dispute in its cluster.
    let (mut bp, mut br) = (0.0, 0.0);
    for ((cluster, dispute), &n) in &cell {
        let n = n as f64;
        bp += n * n / cluster_size[cluster] as f64;
        br += n * n / dispute_size[dispute] as f64;
    }
    let total = truth.len().max(1) as f64;
    let bcubed = Prf::new(bp / total, br / total);

    // Each cluster stands for the dispute most of its records report.
    let mut majority: HashMap<&str, (&str, usize)> = HashMap::new();
    for ((cluster, dispute), &n) in &cell {
        let entry = majority.entry(cluster.as_str()).or_insert((dispute, 0));
        if n > entry.1 || (n == entry.1 && *dispute < entry.0) {
            *entry = (dispute, n);
        }
    }
    ClusterAgreement {
        scores: ClusterScores {
            truth_records: truth.len(),
            truth_disputes: dispute_size.len(),
            clustered_records: cluster_of.len(),
            missing_records: missing,
            unexpected_records: unexpected,
            clusters: cluster_size.len(),
            pairwise,
            bcubed,
        },
        majority: majority
            .into_iter()
            .map(|(cluster, (dispute, _))| (cluster.to_owned(), dispute.to_owned()))
            .collect(),
    }
}

/// `warnings` against the `expected` ones, per level: each raised warning stands for its cluster's dispute
/// (`agreement`) and is matched with the expected warning of that dispute nearest in time, within an episode gap.
pub fn score_warnings(
    agreement: &ClusterAgreement,
    expected: &[TruthWarning],
    warnings: &[WarningLine],
    episode_gap_days: u32,
) -> BTreeMap<WarningLevel, LevelScore> {
    let majority = &agreement.majority;
    let gap = chrono::Duration::days(i64::from(episode_gap_days));
    let mut levels = BTreeMap::new();
    for level in [WarningLevel::Orange, WarningLevel::Red] {
        let wanted: Vec<&TruthWarning> = expected.iter().filter(|w| w.level == level).collect();
        let raised: Vec<&WarningLine> = warnings.iter().filter(|w| w.level == level).collect();
        let mut taken = vec![false; wanted.len()];
        let mut by_dispute: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, w) in wanted.iter().enumerate() {
            by_dispute.entry(w.dispute_id.as_str()).or_default().push(i);
        }
        let (mut matched, mut duplicates) = (0, 0);
        let mut lags = Vec::new();
        for w in &raised {
            let Some(dispute) = majority.get(w.cluster_id.as_str()) else {
                continue;
            };
            let candidates = by_dispute.get(dispute.as_str()).cloned().unwrap_or_default();
            // The expected warning of the same episode: the nearest crossing within an episode gap.
            let nearest = candidates
                .iter()
                .filter(|&&i| (wanted[i].crossing_at - w.raised_at).abs() <= gap)
                .min_by_key(|&&i| (wanted[i].crossing_at - w.raised_at).abs());
            match nearest {
                Some(&i) if !taken[i] => {
                    taken[i] = true;
                    matched += 1;
                    lags.push((w.raised_at - wanted[i].crossing_at).num_seconds() as f64 / 3600.0);
                }
                Some(_) => duplicates += 1,
                None => {}
            }
        }
        lags.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if lags.is_empty() {
                0.0
            } else {
                lags[((lags.len() - 1) as f64 * p).round() as usize]
            }
        };
        let lag_hours = LagStats {
            mean: if lags.is_empty() {
                0.0
            } else {
                lags.iter().sum::<f64>() / lags.len() as f64
            },
            p50: pct(0.5),
            p95: pct(0.95),
            max: lags.last().copied().unwrap_or(0.0),
            on_time: lags.iter().filter(|l| l.abs() < 1e-9).count(),
        };
        levels.insert(
            level,
            LevelScore {
                expected: wanted.len(),
                raised: raised.len(),
                matched,
                duplicates,
                precision: if raised.is_empty() {
                    1.0
                } else {
                    matched as f64 / raised.len() as f64
                },
                recall: if wanted.is_empty() {
                    1.0
                } else {
                    matched as f64 / wanted.len() as f64
                },
                lag_hours,
            },
        );
    }
    levels
}

/// Score `clusters` and `warnings` against the truth.
pub fn evaluate(
    truth: &[TruthRecord],
    expected: &[TruthWarning],
    clusters: &[ClusterLine],
    warnings: &[WarningLine],
    episode_gap_days: u32,
) -> EvalReport {
    let agreement = agree_clusters(truth, clusters);
    let warnings = score_warnings(&agreement, expected, warnings, episode_gap_days);
    EvalReport {
        clustering: agreement.scores,
        warnings,
    }
}

/// The report as tables: records, clusters (pairwise and B-cubed), warnings per level.
impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "records: {} in truth ({} disputes), {} clustered, {} missing, {} unexpected; {} clusters",
            self.clustering.truth_records,
            self.clustering.truth_disputes,
            self.clustering.clustered_records,
            self.clustering.missing_records,
            self.clustering.unexpected_records,
            self.clustering.clusters
        )?;
        writeln!(
            f,
            "{:<10} {:>9} {:>9} {:>9}",
            "clusters", "precision", "recall", "F1"
        )?;
        for (name, prf) in [
            ("pairwise", self.clustering.pairwise),
            ("B-cubed", self.clustering.bcubed),
        ] {
            writeln!(
                f,
                "{:<10} {:>9.4} {:>9.4} {:>9.4}",
                name, prf.precision, prf.recall, prf.f1
            )?;
        }
        writeln!(
            f,
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
        for (level, s) in &self.warnings {
            writeln!(
                f,
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, dispute: &str) -> TruthRecord {
        TruthRecord {
            feed: FeedId::Hotline12345,
            source_id: id.to_owned(),
            dispute_id: dispute.to_owned(),
            occurred_at: DateTime::<Utc>::default(),
            severe: false,
            people: None,
        }
    }

    fn line(id: &str, cluster: &str) -> ClusterLine {
        ClusterLine {
            feed: FeedId::Hotline12345,
            source_id: id.to_owned(),
            cluster_id: cluster.to_owned(),
        }
    }

    #[test]
    fn perfect_clusters_score_one_and_a_split_loses_recall_only() {
        let truth = [rec("1", "a"), rec("2", "a"), rec("3", "a"), rec("4", "b")];
        let perfect = [line("1", "x"), line("2", "x"), line("3", "x"), line("4", "y")];
        let r = evaluate(&truth, &[], &perfect, &[], 30);
        assert_eq!(
            (r.clustering.pairwise.precision, r.clustering.pairwise.recall),
            (1.0, 1.0)
        );
        assert_eq!(
            (r.clustering.bcubed.precision, r.clustering.bcubed.recall),
            (1.0, 1.0)
        );
        let split = [line("1", "x"), line("2", "x"), line("3", "z"), line("4", "y")];
        let r = evaluate(&truth, &[], &split, &[], 30);
        assert_eq!(r.clustering.pairwise.precision, 1.0);
        assert!((r.clustering.pairwise.recall - 1.0 / 3.0).abs() < 1e-9);
        let merged = [line("1", "x"), line("2", "x"), line("3", "x"), line("4", "x")];
        let r = evaluate(&truth, &[], &merged, &[], 30);
        assert!((r.clustering.pairwise.precision - 0.5).abs() < 1e-9);
        assert_eq!(r.clustering.pairwise.recall, 1.0);
        // A record the replay lost counts as a singleton, and is reported.
        let r = evaluate(&truth, &[], &perfect[..3], &[], 30);
        assert_eq!(r.clustering.missing_records, 1);
    }

    #[test]
    fn warnings_match_by_dispute_level_and_episode_and_repeats_are_duplicates() {
        let truth = [rec("1", "a"), rec("2", "a")];
        let clusters = [line("1", "x"), line("2", "x")];
        let at: DateTime<Utc> = "2026-06-08T07:20:00Z".parse().expect("time");
        let expected = [TruthWarning {
            dispute_id: "a".into(),
            level: WarningLevel::Orange,
            rule: "r".into(),
            crossing_at: at,
            occurrences: 5,
        }];
        let raised = |id: &str, hours: i64| WarningLine {
            warning_id: id.into(),
            cluster_id: "x".into(),
            level: WarningLevel::Orange,
            raised_at: at + chrono::Duration::hours(hours),
        };
        let r = evaluate(
            &truth,
            &expected,
            &clusters,
            &[raised("w1", 2), raised("w2", 3)],
            30,
        );
        let orange = &r.warnings[&WarningLevel::Orange];
        assert_eq!((orange.matched, orange.duplicates, orange.raised), (1, 1, 2));
        assert_eq!(orange.recall, 1.0);
        assert_eq!(orange.precision, 0.5);
        assert_eq!(orange.lag_hours.max, 2.0);
    }
}
