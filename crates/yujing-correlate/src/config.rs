//! The correlation configuration: scoring weights, blocking limits, episodes and warning rules.
//!
//! [`CorrelateConfig`] is what `[correlate]` in `yujing.toml` deserializes to; [`CorrelateConfig::build`] checks it
//! (every problem at once) and returns the [`Settings`] the [`crate::Correlator`] runs with.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use yujing_model::{FeedId, RiskFlag, WarningLevel};

/// `[correlate]`: how clues are matched into clusters and when clusters raise warnings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelateConfig {
    /// Match scoring.
    pub scoring: ScoringConfig,
    /// Candidate retrieval.
    pub blocking: BlockingConfig,
    /// A cluster that receives no clue for this many days starts a new episode when one arrives: its levels
    /// are reset and it may warn again.
    pub episode_gap_days: u32,
    /// The warning rules, evaluated on every cluster a clue joins.
    pub rules: Vec<RuleConfig>,
    /// The topic lexicon: a topic name and the words that mention it (`电梯 = ["电梯"]`,
    /// `排水 = ["排水", "下水道"]`). Two reports of one dispute often share no wording but share a topic.
    pub topics: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            scoring: ScoringConfig::default(),
            blocking: BlockingConfig::default(),
            episode_gap_days: 30,
            rules: Vec::new(),
            topics: std::collections::BTreeMap::new(),
        }
    }
}

/// `[correlate.scoring]`: a clue joins the best-scoring candidate cluster when the score reaches
/// `link_threshold`; other clusters scoring at least `merge_threshold` are merged into it.
///
/// The score is Fellegi–Sunter's: the sum over the comparison features of the weight of each feature's level
/// (`estate.same`, `description.high`, `gap.month`…), each weight the log-likelihood ratio `log2(m / u)`.
/// `yujing fit` estimates the weights from labeled data and prints this table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// The least score for a clue to join a cluster.
    pub link_threshold: f64,
    /// The least score for a clue to merge a second cluster into the one it joined.
    pub merge_threshold: f64,
    /// Link only pairs that agree on a place or a person (a party key or name, the estate, village group,
    /// community, road, counter-party or position), whatever their score.
    pub require_anchor: bool,
    /// Positions closer than this, in metres, are `position.near`.
    pub near_meters: f64,
    /// `feature.level → weight`; a level not listed weighs 0.
    pub weights: std::collections::BTreeMap<String, f64>,
}

/// The built-in weights (`feature.level`, log2 odds; a level that knows nothing, `missing` or `unknown`, weighs
/// 0), fitted jointly by `yujing fit --hold description,account,mention,near_duplicate` (logistic regression)
/// on `yujing simulate --seed 101` (20,000 disputes, the simulator with unmapped labels, app accounts and
/// places only in the text; 2026-12-05). The held features are set apart: the simulator says nothing true
/// about how alike real texts are, how often one account reports, or how specific a place named in free text
/// is. docs/QUALITY.md has the
/// figures and how to re-estimate them on labeled real data.
pub const DEFAULT_WEIGHTS: &[(&str, f64)] = &[
    ("phone_or_id.same", 10.00),
    ("phone_or_id.different", -0.73),
    ("phone_or_id.missing", 0.00),
    ("name.same", 10.00),
    ("name.similar", 7.11),
    ("name.different", -1.64),
    ("name.missing", 0.00),
    ("town.same", 2.48),
    ("town.conflict", -6.13),
    ("town.unknown", 0.00),
    ("type.same", 0.18),
    ("type.conflict", -5.67),
    ("type.other", -0.19),
    ("type.guessed", 0.26),
    ("estate.same", 8.68),
    ("estate.similar", 0.00),
    ("estate.conflict", -4.20),
    ("estate.missing", 0.00),
    ("village_group.same", 7.55),
    ("village_group.conflict", -9.44),
    ("village_group.missing", 0.00),
    ("building.same", 6.03),
    ("building.conflict", -7.24),
    ("building.missing", 0.00),
    ("community.same", 4.88),
    ("community.conflict", -8.52),
    ("community.missing", 0.00),
    ("place_kind.conflict", -7.44),
    ("place_kind.compatible", 0.24),
    ("position.near", -2.54),
    ("position.far", -3.28),
    ("position.missing", 0.00),
    ("counterparty.same", 3.29),
    ("counterparty.conflict", -8.31),
    ("counterparty.missing", 0.00),
    ("road.same", 6.82),
    ("road.conflict", -7.37),
    ("road.missing", 0.00),
    ("topic.all", 3.18),
    ("topic.most", 0.95),
    ("topic.some", -2.50),
    ("topic.none", -10.00),
    ("topic.missing", 0.00),
    // Held (fitted jointly on the simulator, they came out flat: its texts are templates, where real texts
    // that are alike are one problem far more often).
    ("description.high", 3.55),
    ("description.medium", 1.65),
    ("description.low", -0.26),
    ("description.none", -1.50),
    ("gap.day", 2.03),
    ("gap.week", 1.67),
    ("gap.month", 0.12),
    ("gap.longer", -3.75),
    ("place_topic.same_subject", -1.53),
    ("place_topic.other_subject", -4.35),
    // Never seen on the simulator either: a place both name, with words that barely share a subject (between
    // `other_subject` and `same_words`). Set by hand to half of `other_subject`: with a specific place named
    // in the text weighing like an estate, one account's different requests about one city must not link
    // (checked on real posts, docs/QUALITY.md).
    ("place_topic.place_only", -2.20),
    ("place_topic.no_shared_place", -1.93),
    // Never seen on the simulator (its topic lexicon knows every subject): what a subject the lexicon
    // recognises weighs at one place, `topic.all` + `place_topic.same_subject`.
    ("place_topic.same_words", 1.65),
    // Set by hand, not fitted (the simulator's accounts and free-text places are few and shaped by its
    // templates); docs/QUALITY.md says how they were checked on real posts. A specific place named in the
    // text weighs what an estate both reports name weighs (`estate.same`); the same long text again what a
    // shared phone weighs.
    ("account.same", 4.00),
    ("account.different", -0.30),
    ("account.missing", 0.00),
    ("mention.same", 8.67),
    ("mention.common", 0.30),
    ("mention.none", -0.50),
    ("mention.missing", 0.00),
    ("near_duplicate.yes", 10.00),
    ("near_duplicate.no", 0.00),
];

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            link_threshold: 10.7,
            merge_threshold: 16.7,
            require_anchor: true,
            near_meters: 300.0,
            weights: DEFAULT_WEIGHTS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }
}

/// `[correlate.blocking]`: how candidates are found without scanning all clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockingConfig {
    /// Clues further apart than this in event time are never compared.
    pub horizon_days: u32,
    /// The most recent clues kept per blocking key; older ones drop out of the key (they stay clustered).
    pub max_per_key: usize,
    /// The most candidate clues scored for one clue.
    pub max_candidates: usize,
    /// The side of a geo cell, in metres.
    pub geo_cell_meters: f64,
    /// How late a report may arrive (its event time behind the reports seen just before it) and still be
    /// compared with every earlier report within the horizon. Reports further back than the horizon plus this
    /// keep only what clusters and warnings need (memory follows the window, not the history); a report
    /// arriving later than this is compared only with the reports still kept in full.
    pub late_days: u32,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig {
            horizon_days: 60,
            max_per_key: 48,
            max_candidates: 160,
            geo_cell_meters: 500.0,
            late_days: 60,
        }
    }
}

/// `[[correlate.rules]]`: raise `level` when a cluster counts `occurrences` distinct upstream records within
/// `within_days` of event time, and (when `when` is given) one of those records shows one of its signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name, carried on its warnings.
    pub name: String,
    /// The level it raises.
    pub level: WarningLevel,
    /// Distinct upstream records needed.
    pub occurrences: u32,
    /// The sliding window, in days of event time.
    pub within_days: u32,
    /// An extra condition on the records in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ConditionConfig>,
    /// Test cases that `yujing test` runs against the whole rule set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<RuleTestConfig>,
}

impl RuleConfig {
    /// A rule that raises `level` when `occurrences` distinct records of one cluster fall within `within_days`,
    /// with no further condition and no test cases (the shape of the built-in rules).
    pub fn recurring(name: &str, level: WarningLevel, occurrences: u32, within_days: u32) -> RuleConfig {
        RuleConfig {
            name: name.to_owned(),
            level,
            occurrences,
            within_days,
            when: None,
            tests: Vec::new(),
        }
    }
}

/// A rule's condition: any one of the listed signs in any record of the window; or, with `after_resolution`,
/// only records that arrived after the cluster's work order was resolved count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditionConfig {
    /// Count only records whose event time is after the cluster's work order was resolved (a rule for
    /// disputes that keep coming back after being closed). Without a resolution the rule never fires.
    pub after_resolution: bool,
    /// Any of these risk flags on a record.
    pub any_risk_flags: Vec<RiskFlag>,
    /// A record saying at least this many people are involved.
    pub people_at_least: Option<u32>,
}

/// `[[correlate.rules.tests]]`: given clues, the warnings expected from the whole rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTestConfig {
    /// What the test shows.
    pub name: String,
    /// The clues, in the order they arrive.
    pub clues: Vec<TestClueConfig>,
    /// Every warning expected, in the order raised; no other warning may be raised.
    #[serde(default)]
    pub expect: Vec<ExpectedWarningConfig>,
    /// Work orders resolved during the test: each applies before the first clue later than it.
    #[serde(default)]
    pub resolutions: Vec<TestResolutionConfig>,
}

/// A work order of a rule test's dispute, resolved at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestResolutionConfig {
    /// The dispute label (default `a`).
    #[serde(default = "default_test_dispute")]
    pub dispute: String,
    /// When the work order was resolved, RFC 3339.
    pub at: DateTime<FixedOffset>,
}

/// A clue of a rule test. Clues with the same `dispute` label are reports of one dispute (same estate, same
/// reporter phone); different labels are different disputes in different places.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestClueConfig {
    /// Event time, RFC 3339.
    pub at: DateTime<FixedOffset>,
    /// The feed (default `hotline12345`).
    #[serde(default = "default_test_feed")]
    pub feed: FeedId,
    /// The dispute label (default `a`).
    #[serde(default = "default_test_dispute")]
    pub dispute: String,
    /// The upstream id; defaults to one per clue. Repeat an id to model a re-delivery.
    #[serde(default)]
    pub source_id: Option<String>,
    /// Risk flags on the clue.
    #[serde(default)]
    pub risk_flags: Vec<RiskFlag>,
    /// People involved.
    #[serde(default)]
    pub people: Option<u32>,
}

fn default_test_feed() -> FeedId {
    FeedId::Hotline12345
}

fn default_test_dispute() -> String {
    "a".to_owned()
}

/// A warning a rule test expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedWarningConfig {
    /// The level.
    pub level: WarningLevel,
    /// The event time it is raised at, RFC 3339.
    pub at: DateTime<FixedOffset>,
    /// The dispute label (default `a`).
    #[serde(default = "default_test_dispute")]
    pub dispute: String,
    /// The occurrences counted, when the test cares.
    #[serde(default)]
    pub occurrences: Option<u32>,
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    /// The level it raises.
    pub level: WarningLevel,
    /// Distinct records needed.
    pub occurrences: u32,
    /// The window, in days.
    pub within_days: u32,
    /// Flags of which any one satisfies the condition (empty with no people bound: no condition).
    pub any_risk_flags: Vec<RiskFlag>,
    /// People bound of the condition.
    pub people_at_least: Option<u32>,
    /// Count only records after the cluster's work order was resolved.
    pub after_resolution: bool,
}

impl Rule {
    /// Whether the rule has an extra condition on the records.
    pub fn is_conditional(&self) -> bool {
        !self.any_risk_flags.is_empty() || self.people_at_least.is_some()
    }
}

/// The checked settings a [`crate::Correlator`] runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Scoring.
    pub scoring: ScoringConfig,
    /// Blocking.
    pub blocking: BlockingConfig,
    /// Quiet days that end an episode.
    pub episode_gap_days: u32,
    /// The rules.
    pub rules: Vec<Rule>,
    /// The topic lexicon, checked: (topic, words), words non-empty.
    pub topics: Vec<(String, Vec<String>)>,
    /// The feature weights, checked.
    pub weights: crate::score::FeatureWeights,
}

impl Settings {
    /// A digest of everything that decides how clues are clustered and judged: a correlator's state is only
    /// valid under the settings it was built with, so a snapshot carries this and is refused under others.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        // `Debug` spells out every field (floats exactly); the settings hold no maps, so the order is fixed.
        let digest = sha2::Sha256::digest(format!("{self:?}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Problems in `[correlate]`, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in [correlate]:\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct CorrelateConfigErrors(pub Vec<String>);

impl CorrelateConfig {
    /// Check the configuration and build the settings, reporting every problem at once.
    pub fn build(&self) -> Result<Settings, CorrelateConfigErrors> {
        let mut errors = Vec::new();
        let s = &self.scoring;
        if !(s.link_threshold.is_finite() && s.link_threshold > 0.0) {
            errors.push(format!(
                "scoring.link_threshold must be a positive number, not {}",
                s.link_threshold
            ));
        }
        if !(s.merge_threshold.is_finite() && s.merge_threshold >= s.link_threshold) {
            errors.push(format!(
                "scoring.merge_threshold ({}) must be at least scoring.link_threshold ({})",
                s.merge_threshold, s.link_threshold
            ));
        }
        let weights = match crate::score::FeatureWeights::from_table(&s.weights) {
            Ok(w) => Some(w),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if !(s.near_meters.is_finite() && s.near_meters > 0.0) {
            errors.push(format!(
                "scoring.near_meters must be positive, not {}",
                s.near_meters
            ));
        }
        let b = &self.blocking;
        if b.horizon_days == 0 {
            errors.push("blocking.horizon_days must be at least 1".to_owned());
        }
        if b.max_per_key == 0 || b.max_candidates == 0 {
            errors.push("blocking.max_per_key and blocking.max_candidates must be at least 1".to_owned());
        }
        if !(b.geo_cell_meters.is_finite() && b.geo_cell_meters >= 10.0) {
            errors.push(format!(
                "blocking.geo_cell_meters must be at least 10, not {}",
                b.geo_cell_meters
            ));
        }
        if self.episode_gap_days == 0 {
            errors.push("episode_gap_days must be at least 1".to_owned());
        }
        if self.rules.is_empty() {
            errors.push("no [[correlate.rules]]: yujing would never warn".to_owned());
        }
        let mut rules = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}] ('{}')", rule.name);
            if rule.name.trim().is_empty() {
                errors.push(format!("rules[{i}] has an empty name"));
            } else if !names.insert(rule.name.clone()) {
                errors.push(format!("{at}: the name is used by another rule"));
            }
            if rule.occurrences == 0 {
                errors.push(format!("{at}: occurrences must be at least 1"));
            }
            if rule.within_days == 0 {
                errors.push(format!("{at}: within_days must be at least 1"));
            }
            if rule.within_days > b.horizon_days.max(self.episode_gap_days) * 12 {
                errors.push(format!(
                    "{at}: within_days {} is implausibly long",
                    rule.within_days
                ));
            }
            let when = rule.when.clone().unwrap_or_default();
            if rule.when.is_some()
                && when.any_risk_flags.is_empty()
                && when.people_at_least.is_none()
                && !when.after_resolution
            {
                errors.push(format!(
                    "{at}: `when` is empty; give any_risk_flags, people_at_least or after_resolution, or remove it"
                ));
            }
            for (j, test) in rule.tests.iter().enumerate() {
                if test.clues.is_empty() {
                    errors.push(format!("{at}: test {j} ('{}') has no clues", test.name));
                }
            }
            rules.push(Rule {
                name: rule.name.clone(),
                level: rule.level,
                occurrences: rule.occurrences,
                within_days: rule.within_days,
                any_risk_flags: when.any_risk_flags,
                people_at_least: when.people_at_least,
                after_resolution: when.after_resolution,
            });
        }
        let mut topics = Vec::new();
        for (topic, words) in &self.topics {
            let words: Vec<String> = words
                .iter()
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                errors.push(format!("topics.{topic} has no words"));
            }
            topics.push((topic.clone(), words));
        }
        match weights {
            Some(weights) if errors.is_empty() => Ok(Settings {
                scoring: self.scoring.clone(),
                blocking: self.blocking.clone(),
                episode_gap_days: self.episode_gap_days,
                rules,
                topics,
                weights,
            }),
            _ => Err(CorrelateConfigErrors(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = CorrelateConfig {
            scoring: ScoringConfig {
                link_threshold: 5.0,
                merge_threshold: 2.0,
                ..ScoringConfig::default()
            },
            rules: vec![
                RuleConfig {
                    name: "x".into(),
                    level: WarningLevel::Orange,
                    occurrences: 0,
                    within_days: 30,
                    when: Some(ConditionConfig::default()),
                    tests: vec![],
                },
                RuleConfig {
                    name: "x".into(),
                    level: WarningLevel::Red,
                    occurrences: 3,
                    within_days: 0,
                    when: None,
                    tests: vec![],
                },
            ],
            ..CorrelateConfig::default()
        };
        let errors = config.build().expect_err("invalid").0;
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("merge_threshold")));
        assert!(errors.iter().any(|e| e.contains("used by another rule")));
        assert!(errors.iter().any(|e| e.contains("`when` is empty")));
    }
}
