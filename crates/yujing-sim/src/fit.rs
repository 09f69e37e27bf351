//! Estimating Fellegi–Sunter weights from labeled candidate pairs.

use std::collections::BTreeMap;

use serde::Serialize;
use yujing_correlate::{Comparison, FEATURES};

/// The estimate for one feature level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelEstimate {
    /// `feature.level`.
    pub level: String,
    /// P(level | same dispute).
    pub m: f64,
    /// P(level | different disputes).
    pub u: f64,
    /// log2(m / u), rounded to hundredths.
    pub weight: f64,
}

/// Weights estimated from labeled pairs, and the link threshold that best separates them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// Pairs of the same dispute.
    pub matches: usize,
    /// Pairs of different disputes.
    pub non_matches: usize,
    /// Every level's estimate, in feature order.
    pub levels: Vec<LevelEstimate>,
    /// The score threshold with the best F1 at classifying the candidate pairs.
    pub threshold: f64,
    /// That F1.
    pub pair_f1: f64,
}

impl FitReport {
    /// The weights as a `feature.level → weight` table.
    pub fn weights(&self) -> BTreeMap<String, f64> {
        self.levels.iter().map(|l| (l.level.clone(), l.weight)).collect()
    }

    /// The `[correlate.scoring]` TOML to paste into a configuration file.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[correlate.scoring]\n");
        out.push_str(&format!("link_threshold = {:.2}\n", self.threshold));
        out.push_str(&format!("merge_threshold = {:.2}\n\n", self.threshold + 2.0));
        out.push_str("[correlate.scoring.weights]\n");
        for l in &self.levels {
            out.push_str(&format!("\"{}\" = {:.2}\n", l.level, l.weight));
        }
        out
    }
}

/// The weight of the prior, in pairs, that shrinks each level's `m` and `u` towards its pooled rate.
const PRIOR: f64 = 20.0;

/// Estimate `m`, `u` and `log2(m/u)` of every feature level from `pairs` (comparison, same dispute?),
/// shrunk towards the pooled rate, and choose the threshold maximising pairwise F1 over the pairs.
pub fn fit_weights(pairs: &[(Comparison, bool)]) -> FitReport {
    let matches = pairs.iter().filter(|p| p.1).count();
    let non_matches = pairs.len() - matches;
    let mut levels = Vec::new();
    let mut table: Vec<Vec<f64>> = Vec::new();
    for (i, feature) in FEATURES.iter().enumerate() {
        let n = feature.levels.len();
        let mut in_match = vec![0usize; n];
        let mut in_non = vec![0usize; n];
        for (c, same) in pairs {
            let l = usize::from(c.levels[i]).min(n - 1);
            if *same {
                in_match[l] += 1;
            } else {
                in_non[l] += 1;
            }
        }
        let mut row = Vec::new();
        for (j, (level, _)) in feature.levels.iter().enumerate() {
            // Shrink both rates towards the level's pooled rate with a prior of PRIOR pairs: a level seen a
            // handful of times gets a weight near 0 instead of an artefact of its tiny counts.
            let pooled = (in_match[j] + in_non[j]) as f64 / pairs.len().max(1) as f64;
            let m = (in_match[j] as f64 + PRIOR * pooled) / (matches as f64 + PRIOR);
            let u = (in_non[j] as f64 + PRIOR * pooled) / (non_matches as f64 + PRIOR);
            let weight = if m > 0.0 && u > 0.0 {
                ((m / u).log2().clamp(-10.0, 10.0) * 100.0).round() / 100.0
            } else {
                // Never seen: no evidence either way.
                0.0
            };
            row.push(weight);
            levels.push(LevelEstimate {
                level: format!("{}.{level}", feature.name),
                m,
                u,
                weight,
            });
        }
        table.push(row);
    }
    // The threshold: sweep the scores of all pairs, best F1 first, ties to the higher threshold.
    let mut scored: Vec<(f64, bool)> = pairs
        .iter()
        .map(|(c, same)| {
            let s: f64 = c
                .levels
                .iter()
                .enumerate()
                .map(|(i, &l)| table[i][usize::from(l)])
                .sum();
            (s, *same)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut best_f1, mut threshold) = (0.0, 0.0);
    for (i, (s, same)) in scored.iter().enumerate() {
        if *same {
            tp += 1;
        } else {
            fp += 1;
        }
        let next_differs = scored.get(i + 1).is_none_or(|n| n.0 < *s);
        if next_differs && matches > 0 {
            let precision = tp as f64 / (tp + fp) as f64;
            let recall = tp as f64 / matches as f64;
            let f1 = 2.0 * precision * recall / (precision + recall);
            if f1 > best_f1 {
                best_f1 = f1;
                threshold = *s;
            }
        }
    }
    FitReport {
        matches,
        non_matches,
        levels,
        threshold: (threshold * 100.0).floor() / 100.0,
        pair_f1: best_f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yujing_correlate::{feature_index, FEATURE_COUNT};

    #[test]
    fn a_level_common_in_matches_and_rare_otherwise_weighs_positive() {
        let phone = feature_index("phone_or_id").expect("feature");
        let with = |same_phone: bool| {
            let mut levels = [0u8; FEATURE_COUNT];
            levels[phone] = if same_phone { 0 } else { 1 };
            Comparison { levels }
        };
        let mut pairs = Vec::new();
        for i in 0..1000 {
            pairs.push((with(i % 10 != 0), true)); // 90% of matches share a phone
            pairs.push((with(i % 50 == 0), false)); // 2% of non-matches do
        }
        let fit = fit_weights(&pairs);
        let weights = fit.weights();
        assert!(weights["phone_or_id.same"] > 4.0, "{weights:?}");
        assert!(weights["phone_or_id.different"] < -2.0, "{weights:?}");
        assert!(fit.pair_f1 > 0.9);
        assert!(fit.to_toml().contains("\"phone_or_id.same\" = "));
    }
}
