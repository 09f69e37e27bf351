//! Estimating Fellegi–Sunter weights from labeled candidate pairs.

use std::collections::BTreeMap;

use serde::Serialize;
use yujing_correlate::{Comparison, FEATURES, FEATURE_COUNT};

/// The estimate for one feature level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelEstimate {
    /// `feature.level`.
    pub level: String,
    /// P(level | same dispute).
    pub m: f64,
    /// P(level | different disputes).
    pub u: f64,
    /// log2(m / u): the level's weight were the features independent.
    pub marginal: f64,
    /// The weight fitted jointly with every other level (logistic regression, log2 units), rounded to
    /// hundredths: the one the score uses.
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
    /// The fitted log2 odds of a candidate pair with every weight 0 (the prior): the score of a pair adds its
    /// weights to it; reported so that a threshold can be read as odds.
    pub intercept: f64,
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

/// Estimate every feature level's weight from `pairs` (comparison, same dispute?) jointly by logistic regression
/// (see `logistic_weights`), report its `m`, `u` and marginal `log2(m/u)` beside it, and choose the threshold
/// maximising pairwise F1 over the pairs.
///
/// `held` maps a feature (by index in [`FEATURES`]) to weights for its levels that are not fitted but held as
/// given, the others fitted around them: for features the labeled data cannot speak for (a simulator that
/// writes no real free text says nothing true about how alike real texts are).
pub fn fit_weights(pairs: &[(Comparison, bool)], held: &BTreeMap<usize, Vec<f64>>) -> FitReport {
    let matches = pairs.iter().filter(|p| p.1).count();
    let non_matches = pairs.len() - matches;
    let mut offsets = Vec::with_capacity(FEATURES.len());
    let mut parameters = 0;
    for feature in FEATURES {
        offsets.push(parameters);
        parameters += feature.levels.len();
    }
    let mut fixed: Vec<Option<f64>> = vec![None; parameters];
    for (&feature, weights) in held {
        for (j, &w) in weights.iter().enumerate().take(FEATURES[feature].levels.len()) {
            fixed[offsets[feature] + j] = Some(w);
        }
    }
    let (joint, mut intercept) = logistic_weights(pairs, &offsets, &fixed);
    let mut levels = Vec::new();
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
        for (j, (level, _)) in feature.levels.iter().enumerate() {
            // Shrink both rates towards the level's pooled rate with a prior of PRIOR pairs: a level seen a
            // handful of times gets a weight near 0 instead of an artefact of its tiny counts.
            let pooled = (in_match[j] + in_non[j]) as f64 / pairs.len().max(1) as f64;
            let m = (in_match[j] as f64 + PRIOR * pooled) / (matches as f64 + PRIOR);
            let u = (in_non[j] as f64 + PRIOR * pooled) / (non_matches as f64 + PRIOR);
            let marginal = if m > 0.0 && u > 0.0 {
                ((m / u).log2().clamp(-10.0, 10.0) * 100.0).round() / 100.0
            } else {
                // Never seen: no evidence either way.
                0.0
            };
            levels.push(LevelEstimate {
                level: format!("{}.{level}", feature.name),
                m,
                u,
                marginal,
                weight: joint[offsets[i] + j],
            });
        }
        // Only the differences between a feature's levels are identified (adding a constant to all of them
        // moves every score alike, which a threshold absorbs). Shift them so that knowing nothing is no
        // evidence: the `missing` (or `unknown`) level weighs 0, so a report that says little scores near 0
        // and a level set by hand means what it says whatever the rest. A feature with no such level is
        // shifted so that, over pairs of different disputes, it weighs on average what the independent
        // estimate weighs.
        let own = &mut levels[offsets[i]..offsets[i] + n];
        if held.contains_key(&i) {
            continue;
        }
        let reference = feature
            .levels
            .iter()
            .position(|(level, _)| matches!(*level, "missing" | "unknown"))
            .filter(|&j| in_match[j] + in_non[j] > 0);
        let shift: f64 = match reference {
            Some(j) => -own[j].weight,
            None => {
                own.iter().map(|l| l.u * (l.marginal - l.weight)).sum::<f64>()
                    / own.iter().map(|l| l.u).sum::<f64>().max(f64::MIN_POSITIVE)
            }
        };
        intercept -= shift;
        for (l, seen) in own
            .iter_mut()
            .zip(in_match.iter().zip(&in_non).map(|(m, u)| m + u > 0))
        {
            // A level no pair shows has no evidence either way; its joint weight would be only the shift.
            l.weight = if seen {
                ((l.weight + shift).clamp(-10.0, 10.0) * 100.0).round() / 100.0
            } else {
                0.0
            };
        }
    }
    // The threshold: sweep the scores of all pairs, best F1 first, ties to the higher threshold.
    let mut scored: Vec<(f64, bool)> = pairs
        .iter()
        .map(|(c, same)| {
            let s: f64 = c
                .levels
                .iter()
                .enumerate()
                .map(|(i, &l)| levels[offsets[i] + usize::from(l).min(FEATURES[i].levels.len() - 1)].weight)
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
        intercept,
    }
}

/// The L2 penalty of the logistic fit, in pairs: it keeps a level seen a handful of times near 0 instead of an
/// artefact of its tiny counts, and makes the one-hot levels of a feature identifiable.
const RIDGE: f64 = 5.0;

/// Fit the weights of all feature levels jointly by L2-regularised logistic regression (Newton's method over the
/// distinct level patterns), in log2 units like the Fellegi–Sunter weights, and the intercept.
///
/// Why not each level's `log2(m/u)` alone: that assumes the features independent given the label, and several
/// are not (the topics agree, the descriptions are alike and the subject at the place is the same are one piece
/// of evidence seen three times), so their marginal weights count it three times and link pairs that share only
/// a generic subject and a road. The joint fit gives each feature what it adds over the others.
///
/// `fixed[j]`, when set, is level `j`'s weight (log2), held and not fitted.
fn logistic_weights(
    pairs: &[(Comparison, bool)],
    offsets: &[usize],
    fixed: &[Option<f64>],
) -> (Vec<f64>, f64) {
    let parameters = fixed.len();
    // Distinct patterns with their counts: millions of pairs fall into a few thousand patterns.
    let mut patterns: BTreeMap<[u8; FEATURE_COUNT], (f64, f64)> = BTreeMap::new();
    for (c, same) in pairs {
        let e = patterns.entry(c.levels).or_insert((0.0, 0.0));
        if *same {
            e.0 += 1.0;
        } else {
            e.1 += 1.0;
        }
    }
    let rows: Vec<(Vec<usize>, f64, f64)> = patterns
        .into_iter()
        .map(|(levels, (pos, neg))| {
            let mut active: Vec<usize> = levels
                .iter()
                .enumerate()
                .map(|(i, &l)| offsets[i] + usize::from(l).min(FEATURES[i].levels.len() - 1))
                .collect();
            active.push(parameters); // the intercept
            (active, pos, neg)
        })
        .collect();
    let n = parameters + 1;
    let mut beta: Vec<f64> = fixed
        .iter()
        .map(|w| w.map_or(0.0, |w| w * std::f64::consts::LN_2))
        .chain([0.0])
        .collect();
    let total: f64 = rows.iter().map(|r| r.1 + r.2).sum();
    let positives: f64 = rows.iter().map(|r| r.1).sum();
    if total > 0.0 && positives > 0.0 && positives < total {
        beta[parameters] = (positives / (total - positives)).ln();
    }
    for _ in 0..50 {
        let mut gradient = vec![0.0f64; n];
        let mut hessian = vec![0.0f64; n * n];
        for (active, pos, neg) in &rows {
            let eta: f64 = active.iter().map(|&j| beta[j]).sum();
            let p = 1.0 / (1.0 + (-eta).exp());
            let count = pos + neg;
            let residual = pos - count * p;
            let curvature = count * p * (1.0 - p);
            for &j in active {
                gradient[j] += residual;
                for &k in active {
                    hessian[j * n + k] += curvature;
                }
            }
        }
        for j in 0..parameters {
            if fixed[j].is_some() {
                // Held: no step (a unit row and column in the Hessian, a zero gradient).
                gradient[j] = 0.0;
                for k in 0..n {
                    hessian[j * n + k] = 0.0;
                    hessian[k * n + j] = 0.0;
                }
                hessian[j * n + j] = 1.0;
            } else {
                gradient[j] -= RIDGE * beta[j];
                hessian[j * n + j] += RIDGE;
            }
        }
        hessian[parameters * n + parameters] += 1e-9;
        let Some(step) = solve_positive_definite(&mut hessian, &gradient, n) else {
            break;
        };
        // Newton's step, halved until the penalised loss falls: levels that (nearly) separate the classes,
        // like a shared phone, would otherwise overshoot.
        let before = penalised_loss(&rows, &beta, fixed);
        let mut scale = 1.0;
        let mut moved = false;
        for _ in 0..40 {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + scale * s).collect();
            if penalised_loss(&rows, &trial, fixed) <= before {
                let largest = beta
                    .iter()
                    .zip(&trial)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                beta = trial;
                moved = largest >= 1e-7;
                break;
            }
            scale /= 2.0;
        }
        if !moved {
            break;
        }
    }
    let to_log2 = std::f64::consts::LN_2;
    let intercept = beta[parameters] / to_log2;
    (
        beta[..parameters].iter().map(|b| b / to_log2).collect(),
        intercept,
    )
}

/// The negative log-likelihood of the patterns under `beta`, plus the ridge penalty on the fitted level weights.
fn penalised_loss(rows: &[(Vec<usize>, f64, f64)], beta: &[f64], fixed: &[Option<f64>]) -> f64 {
    let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let data: f64 = rows
        .iter()
        .map(|(active, pos, neg)| {
            let eta: f64 = active.iter().map(|&j| beta[j]).sum();
            (pos + neg) * softplus(eta) - pos * eta
        })
        .sum();
    let penalty: f64 = beta
        .iter()
        .zip(fixed)
        .filter(|(_, f)| f.is_none())
        .map(|(b, _)| b * b)
        .sum();
    data + 0.5 * RIDGE * penalty
}

/// Solve `A x = b` for a symmetric positive-definite `A` (row-major, `n × n`, overwritten) by Cholesky
/// decomposition; `None` when `A` is not positive definite. The systems here are small (one row per feature
/// level), so a dependency on a linear-algebra crate is not worth it.
fn solve_positive_definite(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diagonal = a[j * n + j];
        for k in 0..j {
            diagonal -= a[j * n + k] * a[j * n + k];
        }
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * n + j] = diagonal;
        for i in j + 1..n {
            let mut value = a[i * n + j];
            for k in 0..j {
                value -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = value / diagonal;
        }
    }
    // L y = b, then Lᵀ x = y.
    let mut y = vec![0.0; n];
    for i in 0..n {
        let mut value = b[i];
        for k in 0..i {
            value -= a[i * n + k] * y[k];
        }
        y[i] = value / a[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut value = y[i];
        for k in i + 1..n {
            value -= a[k * n + i] * x[k];
        }
        x[i] = value / a[i * n + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yujing_correlate::feature_index;

    #[test]
    fn a_level_common_in_matches_and_rare_otherwise_weighs_positive() {
        let phone = feature_index("phone_or_id").expect("feature");
        let with = |same_phone: bool| {
            let mut levels = [0u8; FEATURE_COUNT];
            levels[phone] = if same_phone { 0 } else { 1 };
            Comparison { levels }
        };
        let mut pairs = Vec::new();
        for i in 0..10_000 {
            pairs.push((with(i % 10 != 0), true)); // 90% of matches share a phone
            pairs.push((with(i % 50 == 0), false)); // 2% of non-matches do
        }
        let fit = fit_weights(&pairs, &BTreeMap::new());
        let weights = fit.weights();
        assert!(weights["phone_or_id.same"] > 4.0, "{weights:?}");
        assert!(weights["phone_or_id.different"] < -2.0, "{weights:?}");
        assert!(fit.pair_f1 > 0.9);
        assert!(fit.to_toml().contains("\"phone_or_id.same\" = "));
    }

    #[test]
    fn evidence_seen_by_two_features_is_counted_once() {
        // The topics and the descriptions agree on exactly the same pairs: one piece of evidence seen twice.
        // Independent log2(m/u) weights would count it twice; the joint fit shares it between them.
        let (topic, description) = (
            feature_index("topic").expect("feature"),
            feature_index("description").expect("feature"),
        );
        let with = |alike: bool| {
            let mut levels = [0u8; FEATURE_COUNT];
            levels[topic] = if alike { 0 } else { 3 };
            levels[description] = if alike { 0 } else { 3 };
            Comparison { levels }
        };
        let mut pairs = Vec::new();
        for i in 0..2000 {
            pairs.push((with(i % 5 != 0), true)); // 80 % of matches are alike
            pairs.push((with(i % 10 == 0), false)); // 10 % of non-matches are
        }
        let fit = fit_weights(&pairs, &BTreeMap::new());
        let level = |name: &str| {
            fit.levels
                .iter()
                .find(|l| l.level == name)
                .expect("level")
                .clone()
        };
        let (t, d) = (level("topic.all"), level("description.high"));
        // The log-odds that being alike adds is log2((0.8/0.2)/(0.1/0.9)) = log2(36) ≈ 5.17.
        let joint = t.weight + d.weight - level("topic.none").weight - level("description.none").weight;
        assert!((joint - 36f64.log2()).abs() < 0.3, "{joint} {:?}", fit.levels);
        let marginal =
            t.marginal + d.marginal - level("topic.none").marginal - level("description.none").marginal;
        assert!(marginal > 2.0 * 36f64.log2() - 0.5, "{marginal}");
        assert!(fit.pair_f1 > 0.8);
    }
}
