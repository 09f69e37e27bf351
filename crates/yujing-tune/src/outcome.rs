//! Judging each configuration's run: its warnings against the outcomes known (the truth of a simulation, or the
//! past work orders of a stored log), how early they came against the configuration in force, and what it
//! gained and lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use yujing_engine::{Built, OrderStage};
use yujing_model::{OrderStatus, WarningLevel};
use yujing_sim::{ClusterAgreement, TruthRecord, TruthWarning};

use crate::grid::Configuration;
use crate::history::History;
use crate::sweep::{ClusterOf, JudgedWarning, Run};
use crate::TuneError;

/// One configuration of the sweep and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `#0` is the configuration in force.
    pub index: usize,
    /// The parameters changed from the configuration in force.
    pub changes: Vec<(String, String)>,
    /// Warnings raised per level.
    pub warnings: BTreeMap<WarningLevel, usize>,
    /// Work orders that would have been opened (one per dispute warned; later warnings raise its level).
    pub orders: usize,
    /// Distinct disputes warned (true disputes for a simulation, clusters for a stored log).
    pub disputes: usize,
    /// Per level, where outcomes are known: precision, recall.
    pub scores: BTreeMap<WarningLevel, (f64, f64)>,
    /// Per level: median hours by which matched warnings came earlier (positive) than under the configuration in
    /// force.
    pub lead_hours: BTreeMap<WarningLevel, f64>,
    /// Warnings about a dispute and level this configuration already warned in another cluster (each would open a
    /// second work order for the dispute; with past work orders as outcomes, the orders an operator merged tell
    /// which clusters are one dispute).
    pub duplicates: usize,
    /// Warnings this configuration raises that the one in force does not (ids).
    pub gained: Vec<String>,
    /// Warnings of the configuration in force this one does not raise (ids).
    pub lost: Vec<String>,
}

/// Per level, the warnings of `run` about a dispute and level it already warned in another cluster: each would
/// open a second work order about one dispute. (A later episode of the same cluster is a recurrence, not a
/// duplicate.)
fn duplicate_warnings(
    run: &Run,
    dispute_of_clue: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<WarningLevel, usize> {
    let mut clusters: BTreeMap<(String, WarningLevel), BTreeSet<&str>> = BTreeMap::new();
    for w in &run.warnings {
        let first = w.first_clue.as_deref().unwrap_or_default();
        if let Some(dispute) = dispute_of_clue(first) {
            clusters
                .entry((dispute, w.level))
                .or_default()
                .insert(w.cluster_id.as_str());
        }
    }
    let mut duplicates = BTreeMap::new();
    for ((_, level), warned) in clusters {
        *duplicates.entry(level).or_insert(0) += warned.len() - 1;
    }
    duplicates
}

/// What the stored log's past work orders say about the disputes of this history.
struct PastOutcomes {
    /// Per dispute (its cluster under the configuration in force): real (resolved, verified or closed) or a
    /// false positive (dismissed).
    labels: HashMap<String, bool>,
    /// Clusters whose order an operator merged into another order: the cluster of the order kept. They are the
    /// same dispute, which the configuration in force did not see.
    same_as: HashMap<String, String>,
}

/// Reads the past work orders and maps them onto this history's clusters (`cluster_of`: `feed:source_id` →
/// cluster under the configuration in force). An order names the cluster of the live correlation; the report
/// that opened that cluster names the dispute in this history.
fn past_outcomes(
    log: &dyn yujing_log::Log,
    policy: &yujing_workorder::Policy,
    cluster_of: &HashMap<String, String>,
) -> Result<PastOutcomes, TuneError> {
    let stage = OrderStage::open(log, policy.clone())?;
    let mut opened_by: HashMap<String, String> = HashMap::new();
    yujing_engine::for_each_decoded(
        log,
        yujing_engine::topics::LINKS,
        0,
        |_, event: yujing_model::CorrelationEvent| {
            if let yujing_model::CorrelationEvent::Linked {
                clue_id,
                cluster_id,
                new_cluster: true,
                ..
            } = event
            {
                opened_by.insert(cluster_id, clue_id);
            }
        },
    )?;
    let orders: BTreeMap<&str, &yujing_workorder::WorkOrder> =
        stage.orders().map(|o| (o.order_id.as_str(), o)).collect();
    let dispute = |order: &yujing_workorder::WorkOrder| -> Option<String> {
        let clue = opened_by.get(&order.subject.cluster_id)?;
        cluster_of.get(clue).cloned()
    };
    /// The order a merged order ended in (merges can chain; a cycle cannot happen, but is cut short).
    fn kept<'a>(
        orders: &BTreeMap<&str, &'a yujing_workorder::WorkOrder>,
        mut order: &'a yujing_workorder::WorkOrder,
    ) -> &'a yujing_workorder::WorkOrder {
        for _ in 0..orders.len() {
            match order.merged_into.as_deref().and_then(|id| orders.get(id)) {
                Some(into) if order.status == OrderStatus::Merged => order = into,
                _ => break,
            }
        }
        order
    }
    let mut same_as = HashMap::new();
    let mut labels = HashMap::new();
    for order in orders.values() {
        let last = kept(&orders, order);
        let (Some(own), Some(target)) = (dispute(order), dispute(last)) else {
            continue;
        };
        if own != target {
            same_as.entry(own).or_insert_with(|| target.clone());
        }
        let real = match last.status {
            OrderStatus::Resolved | OrderStatus::Verifying | OrderStatus::Closed => true,
            OrderStatus::Dismissed => false,
            _ => continue,
        };
        // A dispute any of whose orders was really handled is real.
        *labels.entry(target).or_insert(real) |= real;
    }
    Ok(PastOutcomes { labels, same_as })
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What a warning is about, comparable across configurations: the true dispute (simulation) or the cluster the
/// configuration in force put its first report in (stored log); with its level.
type Key = (String, WarningLevel);

fn keyed<'a>(
    run: &'a Run,
    dispute_of_clue: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<Key, &'a JudgedWarning> {
    let mut out = BTreeMap::new();
    for w in &run.warnings {
        let first = w.first_clue.as_deref().unwrap_or_default();
        if let Some(dispute) = dispute_of_clue(first) {
            out.entry((dispute, w.level)).or_insert(w);
        }
    }
    out
}

/// What the runs are judged against, and the configuration in force's warnings to compare with.
pub struct Judge {
    /// The simulation's truth, when the history is one.
    truth: Option<Vec<TruthRecord>>,
    /// The warnings the rules in force call for on the true disputes.
    expected: Option<Vec<TruthWarning>>,
    /// `feed:source_id` → the dispute it is about (the true one, or its cluster under the configuration in force).
    dispute_of: HashMap<String, String>,
    /// Per dispute, from past work orders: real (true) or a false positive.
    order_labels: HashMap<String, bool>,
    /// The configuration in force's warnings by what they are about: when raised, and their id.
    baseline: BTreeMap<Key, (DateTime<Utc>, String)>,
    /// Against a simulation's truth: each distinct clustering of the runs with how it agrees with the truth,
    /// computed once for all the configurations that share it.
    agreements: Vec<(ClusterOf, ClusterAgreement)>,
}

impl Judge {
    /// The judge of `runs` (`runs[0]` is the configuration in force's) over `history`.
    pub fn new(built: &Built, history: &mut History, runs: &[Run]) -> Result<Judge, TuneError> {
        let truth = history.truth.take();
        let expected = truth.as_ref().map(|records| {
            yujing_sim::truth_warnings(records, &built.correlate.rules, built.correlate.episode_gap_days)
        });
        let in_force = &runs[0];
        let (dispute_of, order_labels) = match (&truth, &history.stored) {
            (Some(records), _) => (
                records
                    .iter()
                    .map(|r| (format!("{}:{}", r.feed, r.source_id), r.dispute_id.clone()))
                    .collect(),
                HashMap::new(),
            ),
            (None, Some(log)) => {
                let outcomes = past_outcomes(log.as_ref(), &built.policy, &in_force.cluster_of)?;
                let dispute_of = in_force
                    .cluster_of
                    .iter()
                    .map(|(clue, cluster)| {
                        let dispute = outcomes.same_as.get(cluster).unwrap_or(cluster);
                        (clue.clone(), dispute.clone())
                    })
                    .collect();
                (dispute_of, outcomes.labels)
            }
            (None, None) => (HashMap::new(), HashMap::new()),
        };
        let mut agreements: Vec<(ClusterOf, ClusterAgreement)> = Vec::new();
        if let Some(records) = &truth {
            for run in runs {
                if !agreements.iter().any(|(c, _)| Arc::ptr_eq(c, &run.cluster_of)) {
                    let agreement = agree_with_truth(records, &run.cluster_of);
                    agreements.push((Arc::clone(&run.cluster_of), agreement));
                }
            }
        }
        let mut judge = Judge {
            truth,
            expected,
            dispute_of,
            order_labels,
            baseline: BTreeMap::new(),
            agreements,
        };
        judge.baseline = keyed(in_force, &|clue| judge.about(clue))
            .into_iter()
            .map(|(key, w)| (key, (w.raised_at, w.warning_id.clone())))
            .collect();
        Ok(judge)
    }

    fn about(&self, clue: &str) -> Option<String> {
        self.dispute_of.get(clue).cloned()
    }

    /// What the outcomes are, for the report.
    pub fn kind(&self) -> &'static str {
        if self.expected.is_some() {
            "the truth: the warnings the rules in force call for on the true disputes"
        } else if self.order_labels.is_empty() {
            "none known (no resolved, closed or dismissed work orders on the log)"
        } else {
            "past work orders: resolved, verified or closed = real, dismissed = false positive, merged = the same dispute as the order kept (a second warning about it counts against precision)"
        }
    }

    /// Configuration `index`'s outcome from its `run`.
    pub fn outcome(&self, index: usize, configuration: &Configuration, run: &Run) -> Outcome {
        let about = |clue: &str| self.about(clue);
        let keys = keyed(run, &about);
        let mut warnings = BTreeMap::new();
        for w in &run.warnings {
            *warnings.entry(w.level).or_insert(0usize) += 1;
        }
        let orders = run
            .warnings
            .iter()
            .map(|w| &w.cluster_id)
            .collect::<BTreeSet<_>>()
            .len();
        let disputes = keys.keys().map(|(d, _)| d).collect::<BTreeSet<_>>().len();
        let duplicates = duplicate_warnings(run, &about);
        let agreement = self
            .agreements
            .iter()
            .find(|(c, _)| Arc::ptr_eq(c, &run.cluster_of))
            .map(|(_, agreement)| agreement);
        let scores = match (&self.truth, &self.expected) {
            (Some(records), Some(expected)) => {
                let computed;
                let agreement = match agreement {
                    Some(agreement) => agreement,
                    // A run the judge was not made with: its clustering agreed here.
                    None => {
                        computed = agree_with_truth(records, &run.cluster_of);
                        &computed
                    }
                };
                scores_against_truth(agreement, expected, run, configuration.settings.episode_gap_days)
            }
            _ => scores_against_orders(&keys, &self.order_labels, &duplicates),
        };
        Outcome {
            index,
            changes: configuration.changes.clone(),
            warnings,
            orders,
            disputes,
            scores,
            lead_hours: self.lead_hours(&keys),
            duplicates: duplicates.values().sum(),
            gained: keys
                .iter()
                .filter(|(key, _)| !self.baseline.contains_key(*key))
                .map(|(_, w)| w.warning_id.clone())
                .collect(),
            lost: self
                .baseline
                .iter()
                .filter(|(key, _)| !keys.contains_key(*key))
                .map(|(_, (_, id))| id.clone())
                .collect(),
        }
    }

    /// Per level, the median hours by which a warning came before the configuration in force's about the same.
    fn lead_hours(&self, keys: &BTreeMap<Key, &JudgedWarning>) -> BTreeMap<WarningLevel, f64> {
        let mut lead_hours = BTreeMap::new();
        for level in [WarningLevel::Orange, WarningLevel::Red] {
            let leads: Vec<f64> = keys
                .iter()
                .filter(|((_, l), _)| *l == level)
                .filter_map(|(key, w)| {
                    self.baseline
                        .get(key)
                        .map(|(raised_at, _)| (*raised_at - w.raised_at).num_seconds() as f64 / 3600.0)
                })
                .collect();
            lead_hours.insert(level, median(leads));
        }
        lead_hours
    }
}

/// How a clustering (`feed:source_id` → cluster) agrees with a simulation's truth, as `yujing eval` computes it.
fn agree_with_truth(records: &[TruthRecord], cluster_of: &HashMap<String, String>) -> ClusterAgreement {
    let clusters: Vec<yujing_sim::ClusterLine> = records
        .iter()
        .filter_map(|r| {
            cluster_of
                .get(&format!("{}:{}", r.feed, r.source_id))
                .map(|c| yujing_sim::ClusterLine {
                    feed: r.feed,
                    source_id: r.source_id.clone(),
                    cluster_id: c.clone(),
                })
        })
        .collect();
    yujing_sim::agree_clusters(records, &clusters)
}

/// Precision and recall per level against a simulation's truth, as `yujing eval` computes them, the run's
/// clustering having been agreed with the truth once (`agreement`).
fn scores_against_truth(
    agreement: &ClusterAgreement,
    expected: &[TruthWarning],
    run: &Run,
    episode_gap_days: u32,
) -> BTreeMap<WarningLevel, (f64, f64)> {
    let lines: Vec<yujing_sim::WarningLine> = run
        .warnings
        .iter()
        .map(|w| yujing_sim::WarningLine {
            warning_id: w.warning_id.clone(),
            cluster_id: w.cluster_id.clone(),
            level: w.level,
            raised_at: w.raised_at,
        })
        .collect();
    yujing_sim::score_warnings(agreement, expected, &lines, episode_gap_days)
        .into_iter()
        .map(|(level, score)| (level, (score.precision, score.recall)))
        .collect()
}

/// Precision and recall per level against past work orders: a warned dispute whose order was handled is a true
/// positive, a dismissed one a false positive, and so is a second warning about one dispute (an operator had to
/// merge its order).
fn scores_against_orders(
    keys: &BTreeMap<Key, &JudgedWarning>,
    labels: &HashMap<String, bool>,
    duplicates: &BTreeMap<WarningLevel, usize>,
) -> BTreeMap<WarningLevel, (f64, f64)> {
    let mut scores = BTreeMap::new();
    if labels.is_empty() {
        return scores;
    }
    let positives = labels.values().filter(|p| **p).count();
    for level in [WarningLevel::Orange, WarningLevel::Red] {
        let warned: BTreeSet<&str> = keys
            .iter()
            .filter(|((_, l), _)| *l == level)
            .map(|((d, _), _)| d.as_str())
            .collect();
        let tp = warned.iter().filter(|d| labels.get(**d) == Some(&true)).count();
        let fp = warned.iter().filter(|d| labels.get(**d) == Some(&false)).count()
            + duplicates.get(&level).copied().unwrap_or(0);
        if tp + fp > 0 || positives > 0 {
            let ratio = |n: usize, d: usize| if d > 0 { n as f64 / d as f64 } else { 0.0 };
            scores.insert(level, (ratio(tp, tp + fp), ratio(tp, positives)));
        }
    }
    scores
}
