//! `yujing tune`: sweep rule and scoring parameters over one history and report what each configuration would
//! have raised, how well, and how early, against the configuration in force.
//!
//! The history is decoded once (a simulation's export files into a scratch store, or the clues of the stored
//! log, which is only read); then the history is clustered once per distinct scoring setting (rules do not change
//! the clustering) and every configuration's rules are judged on those clusters, the groups two at a time.
//! Nothing is written to the live store and nothing is delivered. Outcomes: for a simulation, the truth — the
//! warnings the rules in force call for on the true disputes; for a stored log, the past work orders — resolved,
//! verified or closed ones count as real disputes, dismissed ones as false positives, and an order an operator
//! merged into another says both clusters were one dispute.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;
use yujing_correlate::{CorrelateConfig, Correlator};
use yujing_engine::{
    clues_in_event_time, clues_in_range, Built, ClueRange, EngineConfig, Ingestor, OrderStage, SystemClock,
};
use yujing_log::EmbeddedLog;
use yujing_model::{Clue, OrderStatus, Warning, WarningLevel};

use crate::open_log_for_reading;

/// Where `tune` reads its history and outcomes.
#[derive(Clone, Copy)]
pub(crate) enum TuneInput<'a> {
    /// A simulation's directory (`feeds/`, `truth/records.jsonl`).
    Simulation(&'a Path),
    /// The stored log's clues in a range, with its work orders as outcomes.
    StoredLog(ClueRange),
}

/// One configuration of the sweep and what it did.
#[derive(Debug, Clone, Serialize)]
struct Outcome {
    /// `#0` is the configuration in force.
    index: usize,
    /// The parameters changed from the configuration in force.
    changes: Vec<(String, String)>,
    /// Warnings raised per level.
    warnings: BTreeMap<WarningLevel, usize>,
    /// Work orders that would have been opened (one per dispute warned; later warnings raise its level).
    orders: usize,
    /// Distinct disputes warned (true disputes for a simulation, clusters for a stored log).
    disputes: usize,
    /// Per level, where outcomes are known: precision, recall.
    scores: BTreeMap<WarningLevel, (f64, f64)>,
    /// Per level: median hours by which matched warnings came earlier (positive) than under the configuration in
    /// force.
    lead_hours: BTreeMap<WarningLevel, f64>,
    /// Warnings about a dispute and level this configuration already warned in another cluster (each would open a
    /// second work order for the dispute; with past work orders as outcomes, the orders an operator merged tell
    /// which clusters are one dispute).
    duplicates: usize,
    /// Warnings this configuration raises that the one in force does not (ids).
    gained: Vec<String>,
    /// Warnings of the configuration in force this one does not raise (ids).
    lost: Vec<String>,
}

/// Sets `path` (dotted, `rules.<rule name>.<field>` for a rule) in `base` to `value`.
fn apply(base: &serde_json::Value, path: &str, value: &serde_json::Value) -> Result<serde_json::Value> {
    let mut config = base.clone();
    if let Some(rest) = path.strip_prefix("rules.") {
        let (name, field) = rest
            .rsplit_once('.')
            .with_context(|| format!("'{path}': write rules.<rule name>.<field>"))?;
        let rules = config
            .get_mut("rules")
            .and_then(|r| r.as_array_mut())
            .context("the configuration has no rules")?;
        let rule = rules
            .iter_mut()
            .find(|r| r.get("name").and_then(|n| n.as_str()) == Some(name))
            .with_context(|| format!("'{path}': there is no rule named {name}"))?;
        let slot = rule
            .get_mut(field)
            .with_context(|| format!("'{path}': a rule has no field {field}"))?;
        *slot = value.clone();
        return Ok(config);
    }
    let pointer = format!("/{}", path.replace('.', "/"));
    let slot = config.pointer_mut(&pointer).with_context(|| {
        format!("'{path}' is not a parameter of [correlate] (e.g. scoring.link_threshold)")
    })?;
    *slot = value.clone();
    Ok(config)
}

/// Every combination of the grid's values, in order.
fn combinations(grid: &BTreeMap<String, Vec<serde_json::Value>>) -> Vec<Vec<(String, serde_json::Value)>> {
    let mut out: Vec<Vec<(String, serde_json::Value)>> = vec![Vec::new()];
    for (path, values) in grid {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((path.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

fn label(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The warnings and clusters of one configuration over the history.
struct Run {
    warnings: Vec<Warning>,
    /// `feed:source_id` → cluster id; shared by the configurations that cluster alike.
    cluster_of: Arc<HashMap<String, String>>,
}

/// The part of the settings that decides the clustering: everything but the rules and the episode gap, which
/// only judge clusters (see [`Correlator::judge`]).
fn clustering_part(settings: &yujing_correlate::Settings) -> yujing_correlate::Settings {
    yujing_correlate::Settings {
        rules: Vec::new(),
        episode_gap_days: 0,
        ..settings.clone()
    }
}

/// The configurations by how they cluster: indices into `configs`, each group sharing one clustering.
fn clustering_groups(configs: &[yujing_correlate::Settings]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(yujing_correlate::Settings, Vec<usize>)> = Vec::new();
    for (i, settings) in configs.iter().enumerate() {
        let part = clustering_part(settings);
        match groups.iter_mut().find(|(p, _)| *p == part) {
            Some((_, members)) => members.push(i),
            None => groups.push((part, vec![i])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Cluster the history once with `clustering` (observe every clue, give lone clues their second chance), then
/// judge each configuration's rules on those clusters, `threads` configurations at a time. Equal to correlating
/// the history once per configuration, at the cost of one.
fn correlate_group(
    clustering: &yujing_correlate::Settings,
    members: &[(usize, &yujing_correlate::Settings)],
    clues: &[Clue],
    threads: usize,
) -> Vec<(usize, Run)> {
    let mut correlator = Correlator::new(clustering.clone());
    for clue in clues {
        correlator.observe(clue);
    }
    correlator.reconsider();
    let cluster_of: Arc<HashMap<String, String>> = Arc::new(
        correlator
            .assignments()
            .into_iter()
            .map(|a| (format!("{}:{}", a.feed, a.source_id), a.cluster_id))
            .collect(),
    );
    parallel_map(members.len(), threads, |k| {
        let (i, settings) = members[k];
        let run = Run {
            warnings: correlator.judge(&settings.rules, settings.episode_gap_days),
            cluster_of: Arc::clone(&cluster_of),
        };
        (i, run)
    })
}

/// `f(0)`, …, `f(count - 1)` on `threads` scoped threads (item `i` on thread `i % threads`), in index order. A
/// panic in `f` is the caller's.
fn parallel_map<T: Send>(count: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, count.max(1));
    let f = &f;
    let mut results: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || (t..count).step_by(threads).map(|i| (i, f(i))).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, t)| t).collect()
}

/// Every configuration's run: one clustering per distinct scoring setting, the groups `workers` at a time
/// (the cores left over judge rules within a group).
fn run_all(configs: &[yujing_correlate::Settings], clues: &[Clue], workers: usize) -> Result<Vec<Run>> {
    let groups = clustering_groups(configs);
    eprintln!(
        "tune: {} configurations cluster in {} distinct ways",
        configs.len(),
        groups.len()
    );
    let parallel_groups = workers.clamp(1, groups.len().max(1));
    let threads_per_group = (workers / parallel_groups).max(1);
    let mut runs: Vec<Option<Run>> = (0..configs.len()).map(|_| None).collect();
    let per_group = parallel_map(groups.len(), parallel_groups, |g| {
        let members: Vec<(usize, &yujing_correlate::Settings)> =
            groups[g].iter().map(|&i| (i, &configs[i])).collect();
        correlate_group(
            &clustering_part(&configs[groups[g][0]]),
            &members,
            clues,
            threads_per_group,
        )
    });
    for (i, run) in per_group.into_iter().flatten() {
        runs[i] = Some(run);
    }
    runs.into_iter()
        .map(|r| r.context("a configuration has no run (a bug in grouping)"))
        .collect()
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
        let first = w.evidence.first().map(|e| e.clue_id.as_str()).unwrap_or_default();
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
) -> Result<PastOutcomes> {
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

fn keyed<'a>(run: &'a Run, dispute_of_clue: &dyn Fn(&str) -> Option<String>) -> BTreeMap<Key, &'a Warning> {
    let mut out = BTreeMap::new();
    for w in &run.warnings {
        let first = w.evidence.first().map(|e| e.clue_id.as_str()).unwrap_or_default();
        if let Some(dispute) = dispute_of_clue(first) {
            out.entry((dispute, w.level)).or_insert(w);
        }
    }
    out
}

pub(crate) fn tune(
    config: &EngineConfig,
    built: &Built,
    input: TuneInput<'_>,
    grid_path: &Path,
    out_dir: &Path,
) -> Result<()> {
    let grid_text = std::fs::read_to_string(grid_path)
        .with_context(|| format!("cannot read the grid {}", grid_path.display()))?;
    let grid_toml: toml::Table =
        toml::from_str(&grid_text).with_context(|| format!("{} is not TOML", grid_path.display()))?;
    let grid_table = grid_toml
        .get("grid")
        .and_then(|g| g.as_table())
        .with_context(|| format!("{}: put the parameters under [grid]", grid_path.display()))?;
    let mut grid: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (path, values) in grid_table {
        let values = values
            .as_array()
            .with_context(|| format!("{}: {path} must be a list of values", grid_path.display()))?;
        grid.insert(
            path.clone(),
            values
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .with_context(|| format!("{}: {path} has a value JSON cannot hold", grid_path.display()))?,
        );
    }
    let base = serde_json::to_value(&config.correlate)?;
    let mut configs: Vec<(Vec<(String, String)>, yujing_correlate::Settings)> =
        vec![(Vec::new(), built.correlate.clone())];
    for combo in combinations(&grid) {
        let mut value = base.clone();
        for (path, v) in &combo {
            value = apply(&value, path, v)?;
        }
        let candidate: CorrelateConfig = serde_json::from_value(value)?;
        let settings = candidate.build().map_err(|e| {
            anyhow::anyhow!(
                "the combination {combo:?} is not a valid configuration: {}",
                e.0.join("; ")
            )
        })?;
        if settings == built.correlate {
            continue;
        }
        configs.push((
            combo.iter().map(|(p, v)| (p.clone(), label(v))).collect(),
            settings,
        ));
    }
    anyhow::ensure!(
        configs.len() <= 500,
        "{} configurations: narrow the grid (at most 500)",
        configs.len()
    );

    // Decode once.
    let started = std::time::Instant::now();
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    // The stored log, when it is the history, is opened once: its clues now, its work orders for the outcomes.
    let (clues, truth, stored) = match input {
        TuneInput::Simulation(dir) => {
            let store = out_dir.join("store");
            if store.exists() {
                std::fs::remove_dir_all(&store)
                    .with_context(|| format!("cannot clear {}", store.display()))?;
            }
            let log = EmbeddedLog::open(&store)?;
            Ingestor::new(&log, &built.normalizer, &SystemClock).ingest_paths(
                &[dir.join("feeds")],
                None,
                &mut |_| {},
            )?;
            let records: Vec<yujing_sim::TruthRecord> =
                yujing_sim::read_json_lines(&dir.join("truth/records.jsonl"))?;
            (clues_in_event_time(&log)?, Some(records), None)
        }
        TuneInput::StoredLog(range) => {
            let log = open_log_for_reading(config)?;
            (clues_in_range(log.as_ref(), &range)?, None, Some(log))
        }
    };
    eprintln!(
        "tune: {} clue versions, {} configurations (decoded in {:.1} s)",
        clues.len(),
        configs.len(),
        started.elapsed().as_secs_f64()
    );
    let phase = std::time::Instant::now();

    // Cluster once per scoring setting, judge every configuration's rules on its clusters.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let settings: Vec<yujing_correlate::Settings> = configs.iter().map(|(_, s)| s.clone()).collect();
    let runs = run_all(&settings, &clues, workers)?;
    let clue_count = clues.len();
    drop(clues);
    eprintln!("tune: correlated in {:.1} s", phase.elapsed().as_secs_f64());
    let phase = std::time::Instant::now();

    // Outcomes, and what each warning is about, comparably.
    let expected = truth.as_ref().map(|records| {
        yujing_sim::truth_warnings(records, &built.correlate.rules, built.correlate.episode_gap_days)
    });
    let (dispute_of, order_labels): (HashMap<String, String>, HashMap<String, bool>) = match &truth {
        Some(records) => (
            records
                .iter()
                .map(|r| (format!("{}:{}", r.feed, r.source_id), r.dispute_id.clone()))
                .collect(),
            HashMap::new(),
        ),
        None => {
            let log = stored.as_ref().context("the stored log is the history")?;
            let outcomes = past_outcomes(log.as_ref(), &built.policy, &runs[0].cluster_of)?;
            let dispute_of = runs[0]
                .cluster_of
                .iter()
                .map(|(clue, cluster)| {
                    let dispute = outcomes.same_as.get(cluster).unwrap_or(cluster);
                    (clue.clone(), dispute.clone())
                })
                .collect();
            (dispute_of, outcomes.labels)
        }
    };
    let about = |clue: &str| dispute_of.get(clue).cloned();

    let baseline = keyed(&runs[0], &about);
    // Each configuration's outcome, `workers` at a time (scoring a million-record truth takes seconds each).
    let outcome_of = |index: usize| -> Outcome {
        let (changes, settings) = &configs[index];
        let run = &runs[index];
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
        let mut scores = BTreeMap::new();
        match (&truth, &expected) {
            (Some(records), Some(expected)) => {
                let clusters: Vec<yujing_sim::ClusterLine> = records
                    .iter()
                    .filter_map(|r| {
                        run.cluster_of
                            .get(&format!("{}:{}", r.feed, r.source_id))
                            .map(|c| yujing_sim::ClusterLine {
                                feed: r.feed,
                                source_id: r.source_id.clone(),
                                cluster_id: c.clone(),
                            })
                    })
                    .collect();
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
                let report =
                    yujing_sim::evaluate(records, expected, &clusters, &lines, settings.episode_gap_days);
                for (level, score) in report.warnings {
                    scores.insert(level, (score.precision, score.recall));
                }
            }
            _ if !order_labels.is_empty() => {
                for level in [WarningLevel::Orange, WarningLevel::Red] {
                    let warned: BTreeSet<&str> = keys
                        .iter()
                        .filter(|((_, l), _)| *l == level)
                        .map(|((d, _), _)| d.as_str())
                        .collect();
                    let tp = warned
                        .iter()
                        .filter(|d| order_labels.get(**d) == Some(&true))
                        .count();
                    // A second warning about a dispute at the same level is a second work order for it: an
                    // operator had to merge it, so it counts against precision.
                    let fp = warned
                        .iter()
                        .filter(|d| order_labels.get(**d) == Some(&false))
                        .count()
                        + duplicates.get(&level).copied().unwrap_or(0);
                    let positives = order_labels.values().filter(|p| **p).count();
                    if tp + fp > 0 || positives > 0 {
                        let precision = if tp + fp > 0 {
                            tp as f64 / (tp + fp) as f64
                        } else {
                            0.0
                        };
                        let recall = if positives > 0 {
                            tp as f64 / positives as f64
                        } else {
                            0.0
                        };
                        scores.insert(level, (precision, recall));
                    }
                }
            }
            _ => {}
        }
        let mut lead_hours = BTreeMap::new();
        for level in [WarningLevel::Orange, WarningLevel::Red] {
            let leads: Vec<f64> = keys
                .iter()
                .filter(|((_, l), _)| *l == level)
                .filter_map(|(key, w)| {
                    baseline
                        .get(key)
                        .map(|b| (b.raised_at - w.raised_at).num_seconds() as f64 / 3600.0)
                })
                .collect();
            lead_hours.insert(level, median(leads));
        }
        let gained = keys
            .iter()
            .filter(|(key, _)| !baseline.contains_key(*key))
            .map(|(_, w)| w.warning_id.clone())
            .collect();
        let lost = baseline
            .iter()
            .filter(|(key, _)| !keys.contains_key(*key))
            .map(|(_, w)| w.warning_id.clone())
            .collect();
        Outcome {
            index,
            changes: changes.clone(),
            warnings,
            orders,
            disputes,
            scores,
            lead_hours,
            duplicates: duplicates.values().sum(),
            gained,
            lost,
        }
    };
    let outcomes: Vec<Outcome> = parallel_map(configs.len(), workers, outcome_of);
    eprintln!("tune: scored in {:.1} s", phase.elapsed().as_secs_f64());

    let source = match input {
        TuneInput::Simulation(dir) => format!("simulation {}", dir.display()),
        TuneInput::StoredLog(range) => {
            format!("the stored log{}", crate::correlation::describe_range(&range))
        }
    };
    let outcome_kind = if expected.is_some() {
        "the truth: the warnings the rules in force call for on the true disputes"
    } else if order_labels.is_empty() {
        "none known (no resolved, closed or dismissed work orders on the log)"
    } else {
        "past work orders: resolved, verified or closed = real, dismissed = false positive, merged = the same dispute as the order kept (a second warning about it counts against precision)"
    };
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&outcomes)?,
    )?;
    std::fs::write(
        out_dir.join("report.md"),
        markdown(&source, outcome_kind, clue_count, &outcomes),
    )?;
    std::fs::write(
        out_dir.join("report.html"),
        html(&source, outcome_kind, clue_count, &outcomes),
    )?;
    println!(
        "swept {} configurations over {} clue versions from {source}; wrote {}/report.md, report.html and results.json",
        outcomes.len(),
        clue_count,
        out_dir.display()
    );
    Ok(())
}

fn changes_text(o: &Outcome) -> String {
    if o.changes.is_empty() {
        "in force".to_owned()
    } else {
        o.changes
            .iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn score_text(o: &Outcome, level: WarningLevel) -> String {
    o.scores
        .get(&level)
        .map(|(p, r)| format!("{p:.3} / {r:.3}"))
        .unwrap_or_else(|| "–".to_owned())
}

/// The columns of the results table, in both reports.
const COLUMNS: [&str; 13] = [
    "#",
    "configuration",
    "orange",
    "red",
    "orders",
    "disputes",
    "duplicates",
    "orange P / R",
    "red P / R",
    "orange lead h",
    "red lead h",
    "gained",
    "lost",
];

/// One configuration's row of the results table, as text, in the order of [`COLUMNS`].
fn cells(o: &Outcome) -> [String; 13] {
    let count = |level| o.warnings.get(&level).copied().unwrap_or(0).to_string();
    let lead = |level| format!("{:+.1}", o.lead_hours.get(&level).copied().unwrap_or(0.0));
    [
        o.index.to_string(),
        changes_text(o),
        count(WarningLevel::Orange),
        count(WarningLevel::Red),
        o.orders.to_string(),
        o.disputes.to_string(),
        o.duplicates.to_string(),
        score_text(o, WarningLevel::Orange),
        score_text(o, WarningLevel::Red),
        lead(WarningLevel::Orange),
        lead(WarningLevel::Red),
        o.gained.len().to_string(),
        o.lost.len().to_string(),
    ]
}

fn markdown(source: &str, outcome_kind: &str, clues: usize, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# yujing tune\n");
    let _ = writeln!(
        s,
        "History: {source}, {clues} clue versions. Outcomes: {outcome_kind}.\n"
    );
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(COLUMNS.len()));
    for o in outcomes {
        let _ = writeln!(s, "| {} |", cells(o).join(" | "));
    }
    let _ = writeln!(
        s,
        "\nLead: the median number of hours by which a warning about the same dispute and level came earlier (+) or\nlater (−) than under the configuration in force. Duplicates: warnings about a dispute and level this configuration\nhas already warned in another cluster (each a second work order for one dispute). Gained / lost: warnings about a dispute and level that this\nconfiguration raises and the one in force does not, and the reverse (ids in results.json).\n"
    );
    for o in outcomes
        .iter()
        .filter(|o| !o.gained.is_empty() || !o.lost.is_empty())
    {
        let _ = writeln!(s, "## #{}: {}\n", o.index, changes_text(o));
        let show = |ids: &[String]| {
            let mut text = ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
            if ids.len() > 20 {
                let _ = write!(text, " … ({} in all)", ids.len());
            }
            text
        };
        if !o.gained.is_empty() {
            let _ = writeln!(s, "- gained: {}", show(&o.gained));
        }
        if !o.lost.is_empty() {
            let _ = writeln!(s, "- lost: {}", show(&o.lost));
        }
        let _ = writeln!(s);
    }
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained page: inline SVG plots, no script, no external asset.
fn html(source: &str, outcome_kind: &str, clues: usize, outcomes: &[Outcome]) -> String {
    const W: f64 = 520.0;
    const H: f64 = 360.0;
    const M: f64 = 48.0;
    let x_of = |v: f64| M + v.clamp(0.0, 1.0) * (W - 2.0 * M);
    let y_of = |v: f64| H - M - v.clamp(0.0, 1.0) * (H - 2.0 * M);
    let axes = |x_label: &str, y_label: &str| {
        format!(
            r##"<line x1="{M}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{M}" y1="{M}" x2="{M}" y2="{b}" stroke="#333"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="13">{x}</text><text x="14" y="{cy}" text-anchor="middle" font-size="13" transform="rotate(-90 14 {cy})">{y}</text>"##,
            b = H - M,
            r = W - M,
            cx = W / 2.0,
            ty = H - 10.0,
            cy = H / 2.0,
            x = escape(x_label),
            y = escape(y_label)
        )
    };
    // Precision–recall of orange warnings across the sweep.
    let mut pr = format!(
        r#"<svg id="precision-recall" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="precision and recall of orange warnings per configuration">"#
    );
    pr.push_str(&axes("recall (orange)", "precision (orange)"));
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            pr,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="middle">{t}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{t}</text>"##,
            x_of(t),
            H - M + 14.0,
            M - 4.0,
            y_of(t) + 3.0
        );
    }
    for o in outcomes {
        let Some((p, r)) = o.scores.get(&WarningLevel::Orange) else {
            continue;
        };
        let colour = if o.index == 0 { "#c0392b" } else { "#e67e22" };
        let _ = write!(
            pr,
            r#"<circle class="config" cx="{:.1}" cy="{:.1}" r="{}" fill="{colour}"><title>#{} {}: P {p:.3} R {r:.3}</title></circle><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
            x_of(*r),
            y_of(*p),
            if o.index == 0 { 7 } else { 5 },
            o.index,
            escape(&changes_text(o)),
            x_of(*r) + 7.0,
            y_of(*p) - 5.0,
            o.index
        );
    }
    pr.push_str("</svg>");
    // Lead time of orange warnings against the configuration in force.
    let max_lead = outcomes
        .iter()
        .filter_map(|o| o.lead_hours.get(&WarningLevel::Orange))
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let mut lead = format!(
        r#"<svg id="lead-time" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="median lead time of orange warnings per configuration">"#
    );
    lead.push_str(&axes(
        "configuration",
        "orange lead over the one in force (hours)",
    ));
    let zero = H / 2.0;
    let _ = write!(
        lead,
        r##"<line x1="{M}" y1="{zero}" x2="{}" y2="{zero}" stroke="#999" stroke-dasharray="4 3"/>"##,
        W - M
    );
    for (text, y) in [
        (format!("{max_lead:+.0}"), M),
        ("0".to_owned(), zero),
        (format!("{:+.0}", -max_lead), H - M),
    ] {
        let _ = write!(
            lead,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{text}</text>"#,
            M - 4.0,
            y + 3.0
        );
    }
    let band = (W - 2.0 * M) / outcomes.len().max(1) as f64;
    for (i, o) in outcomes.iter().enumerate() {
        let v = o.lead_hours.get(&WarningLevel::Orange).copied().unwrap_or(0.0);
        let h = (v.abs() / max_lead) * (H / 2.0 - M);
        let y = if v >= 0.0 { zero - h } else { zero };
        let colour = if o.index == 0 { "#c0392b" } else { "#2980b9" };
        let _ = write!(
            lead,
            r#"<rect class="config" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>#{} {}: {v:+.1} h</title></rect><text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            M + i as f64 * band + band * 0.15,
            band * 0.7,
            h.max(1.0),
            o.index,
            escape(&changes_text(o)),
            M + i as f64 * band + band / 2.0,
            H - M + 14.0,
            o.index
        );
    }
    lead.push_str("</svg>");
    let header: String = COLUMNS
        .iter()
        .map(|c| format!("<th>{}</th>", escape(c)))
        .collect();
    let mut rows = String::new();
    for o in outcomes {
        rows.push_str("<tr>");
        for cell in cells(o) {
            let _ = write!(rows, "<td>{}</td>", escape(&cell));
        }
        rows.push_str("</tr>");
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>yujing tune</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}figure{{display:inline-block;margin:0 2em 2em 0}}</style>
</head><body>
<h1>yujing tune</h1>
<p>History: {source}, {clues} clue versions. Outcomes: {outcome_kind}. Configuration #0 (red) is the one in force.</p>
<figure>{pr}<figcaption>Precision and recall of orange warnings, per configuration.</figcaption></figure>
<figure>{lead}<figcaption>Median hours by which orange warnings came earlier (up) or later (down) than under #0.</figcaption></figure>
<table><tr>{header}</tr>{rows}</table>
</body></html>
"#,
        source = escape(source),
        outcome_kind = escape(outcome_kind),
    )
}

/// The grid file's path, made absolute for messages.
pub(crate) fn grid_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_apply_to_rules_by_name_and_to_scoring_by_path() {
        let base = serde_json::json!({
            "scoring": {"link_threshold": 9.0},
            "rules": [{"name": "recurring-orange", "occurrences": 5}, {"name": "recurring-red", "occurrences": 8}]
        });
        let v = apply(&base, "rules.recurring-orange.occurrences", &serde_json::json!(4)).unwrap_or_default();
        assert_eq!(v["rules"][0]["occurrences"], 4);
        assert_eq!(v["rules"][1]["occurrences"], 8);
        let v = apply(&base, "scoring.link_threshold", &serde_json::json!(8.5)).unwrap_or_default();
        assert_eq!(v["scoring"]["link_threshold"], 8.5);
        assert!(apply(&base, "rules.nope.occurrences", &serde_json::json!(4)).is_err());
        assert!(apply(&base, "scoring.nope", &serde_json::json!(4)).is_err());
    }

    /// A seeded simulation's clues, decoded and normalized as `tune` does.
    fn simulated_clues(built: &Built, disputes: usize) -> Vec<Clue> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = yujing_sim::SimConfig {
            seed: 5,
            disputes,
            days: 120,
            ..yujing_sim::SimConfig::default()
        };
        let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
        simulation
            .write_to(
                dir.path(),
                &built.correlate.rules,
                built.correlate.episode_gap_days,
            )
            .expect("simulation written");
        let log = EmbeddedLog::open(dir.path().join("store")).expect("store");
        Ingestor::new(&log, &built.normalizer, &SystemClock)
            .ingest_paths(&[dir.path().join("feeds")], None, &mut |_| {})
            .expect("ingested");
        clues_in_event_time(&log).expect("clues")
    }

    fn full_run(settings: &yujing_correlate::Settings, clues: &[Clue]) -> Vec<Warning> {
        let mut correlator = Correlator::new(settings.clone());
        for clue in clues {
            correlator.observe(clue);
        }
        correlator.reconsider();
        correlator.flush()
    }

    #[test]
    fn judging_rules_on_shared_clusters_equals_correlating_once_per_configuration() {
        let mut config = EngineConfig::defaults();
        config.pii.demo = true;
        let built = config.check().expect("the defaults are valid");
        let clues = simulated_clues(&built, 300);
        let base = serde_json::to_value(&config.correlate).expect("JSON");
        let variant = |changes: &[(&str, serde_json::Value)]| {
            let mut value = base.clone();
            for (path, v) in changes {
                value = apply(&value, path, v).expect("a parameter");
            }
            serde_json::from_value::<CorrelateConfig>(value)
                .expect("a configuration")
                .build()
                .expect("valid")
        };
        let configs = vec![
            built.correlate.clone(),
            variant(&[("rules.recurring-orange.occurrences", serde_json::json!(3))]),
            variant(&[
                ("rules.recurring-orange.occurrences", serde_json::json!(4)),
                ("rules.recurring-orange.within_days", serde_json::json!(14)),
            ]),
            variant(&[("rules.recurring-red.occurrences", serde_json::json!(6))]),
            variant(&[("episode_gap_days", serde_json::json!(20))]),
            variant(&[("scoring.link_threshold", serde_json::json!(7.0))]),
            variant(&[
                ("scoring.link_threshold", serde_json::json!(7.0)),
                ("rules.recurring-orange.occurrences", serde_json::json!(4)),
            ]),
        ];
        // Two clusterings: the link threshold is the only scoring change.
        assert_eq!(clustering_groups(&configs).len(), 2);
        let runs = run_all(&configs, &clues, 2).expect("runs");
        let mut differ = BTreeSet::new();
        for (i, (settings, run)) in configs.iter().zip(&runs).enumerate() {
            let full = full_run(settings, &clues);
            assert!(!full.is_empty(), "configuration {i} raises warnings");
            assert_eq!(run.warnings, full, "configuration {i}");
            differ.insert(serde_json::to_string(&run.warnings).expect("warnings serialise"));
        }
        // The configurations really differ in what they raise.
        assert!(differ.len() >= 6, "{} distinct outcomes", differ.len());
    }

    #[test]
    fn the_grid_is_the_cartesian_product() {
        let mut grid = BTreeMap::new();
        grid.insert("a".to_owned(), vec![serde_json::json!(1), serde_json::json!(2)]);
        grid.insert(
            "b".to_owned(),
            vec![serde_json::json!(3), serde_json::json!(4), serde_json::json!(5)],
        );
        assert_eq!(combinations(&grid).len(), 6);
    }
}
