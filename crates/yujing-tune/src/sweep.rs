//! The sweep itself: cluster the history once per distinct scoring setting (rules do not change the
//! clustering), then judge every configuration's rules on those clusters. Equal to correlating the history once
//! per configuration (a test checks it), at the cost of one clustering per scoring setting.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use yujing_correlate::{Correlator, ProfileDraft, Settings, TopicLexicon};
use yujing_model::{Clue, Warning, WarningLevel};

use crate::TuneError;

/// Clue versions in event-time order, as many times as asked: each clustering of a sweep reads them once.
pub trait ClueSource: Sync {
    /// Calls `each` with every clue version, in event-time order.
    fn for_each_clue(&self, each: &mut dyn FnMut(&Clue)) -> Result<(), TuneError>;

    /// Calls `each` with every clue version and the draft of its profile (with `lexicon`), in event-time order.
    /// Each is drafted as it comes, unless the source has a thread of its own to draft on.
    fn for_each_drafted(
        &self,
        lexicon: &TopicLexicon,
        each: &mut dyn FnMut(&Clue, &ProfileDraft),
    ) -> Result<(), TuneError> {
        self.for_each_clue(&mut |clue| each(clue, &ProfileDraft::of(clue, lexicon)))
    }

    /// Observes every clue version on `correlator`, in event-time order (the clues it knows already are passed
    /// over, as [`Correlator::observe`] does). A source with a thread of its own drafts the profiles there, and
    /// may prepare the clues for their decisions there too ([`Correlator::hand_off_blocking`]).
    fn observe_all(&self, correlator: &mut Correlator) -> Result<(), TuneError> {
        let lexicon = correlator.lexicon().clone();
        self.for_each_drafted(&lexicon, &mut |clue, draft| {
            correlator.observe_drafted(clue, draft);
        })
    }

    /// How many clue versions there are.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Clues held decoded (tests, small histories).
impl ClueSource for Vec<Clue> {
    fn for_each_clue(&self, each: &mut dyn FnMut(&Clue)) -> Result<(), TuneError> {
        self.iter().for_each(each);
        Ok(())
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// `feed:source_id` → cluster id, of one clustering.
pub type ClusterOf = Arc<HashMap<String, String>>;

/// The warnings and clusters of one configuration over the history.
pub struct Run {
    /// The warnings it raised, in the order raised, as the outcomes compare them.
    pub warnings: Vec<JudgedWarning>,
    /// `feed:source_id` → cluster id; shared by the configurations that cluster alike.
    pub cluster_of: ClusterOf,
}

/// What a sweep keeps of a warning a configuration raised: what its outcome compares (id, cluster, level, time
/// and the clue it counted first), not its evidence. Twenty configurations over a province's year raise
/// millions of warnings, and a warning's evidence is most of its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedWarning {
    /// [`Warning::warning_id`].
    pub warning_id: String,
    /// [`Warning::cluster_id`].
    pub cluster_id: String,
    /// [`Warning::level`].
    pub level: WarningLevel,
    /// [`Warning::raised_at`].
    pub raised_at: DateTime<Utc>,
    /// The clue id of the warning's first counted report.
    pub first_clue: Option<String>,
}

impl JudgedWarning {
    /// What a sweep keeps of `warning`.
    pub fn of(warning: &Warning) -> JudgedWarning {
        JudgedWarning {
            warning_id: warning.warning_id.clone(),
            cluster_id: warning.cluster_id.clone(),
            level: warning.level,
            raised_at: warning.raised_at,
            first_clue: warning.evidence.first().map(|e| e.clue_id.clone()),
        }
    }
}

/// The part of the settings that decides the clustering: everything but the rules and the episode gap, which
/// only judge clusters (see [`Correlator::judge`]).
fn clustering_part(settings: &Settings) -> Settings {
    Settings {
        rules: Vec::new(),
        episode_gap_days: 0,
        ..settings.clone()
    }
}

/// The configurations by how they cluster: indices into `configs`, each group sharing one clustering.
pub fn clustering_groups(configs: &[Settings]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Settings, Vec<usize>)> = Vec::new();
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
/// judge each configuration's rules on those clusters, `threads` configurations at a time, keeping what `keep`
/// makes of each configuration's warnings. Equal to correlating the history once per configuration, at the cost
/// of one.
fn correlate_group<T: Send>(
    clustering: &Settings,
    members: &[(usize, &Settings)],
    clues: &dyn ClueSource,
    threads: usize,
    keep: &(dyn Fn(Vec<Warning>) -> T + Sync),
) -> Result<Vec<(usize, T, ClusterOf)>, TuneError> {
    let mut correlator = Correlator::new(clustering.clone());
    // The profiles are drafted, and the clues prepared, where the source can spare a core (the history's
    // reading thread), so the correlation's own thread only decides.
    clues.observe_all(&mut correlator)?;
    correlator.reconsider();
    let cluster_of: ClusterOf = Arc::new(
        correlator
            .assignments()
            .into_iter()
            .map(|a| (format!("{}:{}", a.feed, a.source_id), a.cluster_id))
            .collect(),
    );
    Ok(parallel_map(members.len(), threads, |k| {
        let (i, settings) = members[k];
        let warnings = correlator.judge(&settings.rules, settings.episode_gap_days);
        (i, keep(warnings), Arc::clone(&cluster_of))
    }))
}

/// `f(0)`, …, `f(count - 1)` on `threads` scoped threads (item `i` on thread `i % threads`), in index order. A
/// panic in `f` is the caller's.
pub fn parallel_map<T: Send>(count: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
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

/// Every configuration's run, in the order of `configs`: one clustering per distinct scoring setting, the
/// groups `workers` at a time (the cores left over judge rules within a group).
pub fn run_all(configs: &[Settings], clues: &dyn ClueSource, workers: usize) -> Result<Vec<Run>, TuneError> {
    let keep = |warnings: Vec<Warning>| warnings.iter().map(JudgedWarning::of).collect::<Vec<_>>();
    Ok(runs_keeping(configs, clues, workers, &keep)?
        .into_iter()
        .map(|(warnings, cluster_of)| Run { warnings, cluster_of })
        .collect())
}

/// [`run_all`], keeping what `keep` makes of each configuration's warnings, with its clusters.
fn runs_keeping<T: Send>(
    configs: &[Settings],
    clues: &dyn ClueSource,
    workers: usize,
    keep: &(dyn Fn(Vec<Warning>) -> T + Sync),
) -> Result<Vec<(T, ClusterOf)>, TuneError> {
    let groups = clustering_groups(configs);
    tracing::info!(
        configurations = configs.len(),
        clusterings = groups.len(),
        "tune: the configurations cluster in {} distinct ways",
        groups.len()
    );
    let parallel_groups = workers.clamp(1, groups.len().max(1));
    let threads_per_group = (workers / parallel_groups).max(1);
    let per_group = parallel_map(groups.len(), parallel_groups, |g| {
        let members: Vec<(usize, &Settings)> = groups[g].iter().map(|&i| (i, &configs[i])).collect();
        correlate_group(
            &clustering_part(&configs[groups[g][0]]),
            &members,
            clues,
            threads_per_group,
            keep,
        )
    });
    // The groups partition the configurations: each index comes back exactly once.
    let mut runs: Vec<(usize, T, ClusterOf)> = Vec::with_capacity(configs.len());
    for group in per_group {
        runs.extend(group?);
    }
    runs.sort_by_key(|(i, _, _)| *i);
    Ok(runs
        .into_iter()
        .map(|(_, kept, cluster_of)| (kept, cluster_of))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use yujing_correlate::CorrelateConfig;
    use yujing_engine::{clues_in_event_time, Built, EngineConfig, Ingestor, SystemClock};
    use yujing_log::EmbeddedLog;

    use super::*;
    use crate::grid::apply;

    /// A seeded simulation's clues, decoded and normalized as `tune` does.
    fn simulated_clues(built: &Built, disputes: usize) -> Vec<Clue> {
        let dir = tempfile::tempdir().expect("temp dir");
        crate::testing::write_simulation(built, 5, disputes, dir.path());
        let log = EmbeddedLog::open(dir.path().join("store")).expect("store");
        Ingestor::new(&log, &built.normalizer, &SystemClock)
            .ingest_paths(&[dir.path().join("feeds")], None, &mut |_| {})
            .expect("ingested");
        clues_in_event_time(&log).expect("clues")
    }

    fn full_run(settings: &Settings, clues: &[Clue]) -> Vec<Warning> {
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
        let whole = runs_keeping(&configs, &clues, 2, &|warnings| warnings).expect("runs");
        let runs = run_all(&configs, &clues, 2).expect("runs");
        assert_eq!(runs.len(), configs.len());
        let mut differ = BTreeSet::new();
        for (i, ((settings, run), (warnings, _))) in configs.iter().zip(&runs).zip(&whole).enumerate() {
            let full = full_run(settings, &clues);
            assert!(!full.is_empty(), "configuration {i} raises warnings");
            assert_eq!(*warnings, full, "configuration {i}");
            // What the sweep keeps is what the outcomes compare, of exactly those warnings.
            let kept: Vec<JudgedWarning> = full.iter().map(JudgedWarning::of).collect();
            assert_eq!(run.warnings, kept, "configuration {i}");
            differ.insert(serde_json::to_string(&full).expect("warnings serialise"));
        }
        // The configurations really differ in what they raise.
        assert!(differ.len() >= 6, "{} distinct outcomes", differ.len());
    }
}
