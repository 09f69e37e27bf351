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
/// The score is a sum of weights, in the spirit of Fellegi–Sunter log-likelihood ratios: a feature that agrees
/// adds its weight, one that disagrees adds its (negative) conflict weight, one missing on either side adds
/// nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// The least score for a clue to join a cluster.
    pub link_threshold: f64,
    /// The least score for a clue to merge a second cluster into the one it joined.
    pub merge_threshold: f64,
    /// The share of the second-best member's score (when positive) added to a cluster's score.
    pub second_match_share: f64,
    /// Link only pairs that agree on a place or a person (a party key or name, the estate, village group,
    /// community, road, counter-party or position), whatever their score.
    pub require_anchor: bool,
    /// The feature weights.
    pub weights: Weights,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            link_threshold: 6.0,
            merge_threshold: 8.0,
            second_match_share: 0.0,
            require_anchor: true,
            weights: Weights::default(),
        }
    }
}

/// `[correlate.scoring.weights]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Both clues name a party with the same phone or ID number.
    pub strong_key: f64,
    /// Both clues name a party with the same full name (a weak key: namesakes exist).
    pub name_key: f64,
    /// A name in one is similar to one in the other (a variant or homophone character), times the similarity.
    pub name_similar: f64,
    /// Same estate (or a homophone or near spelling of it), times the similarity.
    pub estate_same: f64,
    /// Both name an estate, and they differ.
    pub estate_conflict: f64,
    /// Same village group.
    pub village_group_same: f64,
    /// Both name a village group, and they differ.
    pub village_group_conflict: f64,
    /// Same building.
    pub building_same: f64,
    /// Both name a building, and they differ.
    pub building_conflict: f64,
    /// Same community (village).
    pub community_same: f64,
    /// Both communities known, and different.
    pub community_conflict: f64,
    /// One names an estate and the other a village group: different kinds of place.
    pub place_kind_conflict: f64,
    /// Shared topics (from the topic lexicon), times the Jaccard overlap of the two topic sets.
    pub topic_same: f64,
    /// Both mention topics, and none is shared.
    pub topic_conflict: f64,
    /// Positions within `near_meters` of each other.
    pub geo_near: f64,
    /// The description's character-bigram Dice similarity, times this weight.
    pub description: f64,
    /// Descriptions sharing almost nothing (Dice below 0.1).
    pub description_conflict: f64,
    /// Same canonical dispute type.
    pub type_same: f64,
    /// Different canonical dispute types (nothing when either is 其他, which a feed uses for what it cannot
    /// classify).
    pub type_conflict: f64,
    /// Both towns known, and different.
    pub town_conflict: f64,
    /// The same counter-party organisation (the property company, the employer).
    pub counterparty_same: f64,
    /// Both name organisations, and none is shared.
    pub counterparty_conflict: f64,
    /// Same road.
    pub road_same: f64,
    /// Both name a road, and they differ.
    pub road_conflict: f64,
    /// Subtracted per 30 days between the two clues.
    pub time_gap_per_30_days: f64,
    /// What "near" means for `geo_near`, in metres.
    pub near_meters: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            strong_key: 6.0,
            name_key: 2.5,
            name_similar: 2.0,
            estate_same: 3.0,
            estate_conflict: -4.0,
            village_group_same: 3.0,
            village_group_conflict: -3.0,
            building_same: 1.0,
            building_conflict: -2.0,
            community_same: 0.5,
            community_conflict: -1.5,
            place_kind_conflict: -2.0,
            topic_same: 2.5,
            topic_conflict: -2.0,
            geo_near: 1.0,
            description: 5.0,
            description_conflict: -1.0,
            type_same: 1.0,
            type_conflict: -3.0,
            town_conflict: -6.0,
            counterparty_same: 1.5,
            counterparty_conflict: -2.5,
            road_same: 1.0,
            road_conflict: -1.0,
            time_gap_per_30_days: 1.0,
            near_meters: 300.0,
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
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig {
            horizon_days: 60,
            max_per_key: 48,
            max_candidates: 160,
            geo_cell_meters: 500.0,
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

/// A rule's condition: any one of the listed signs in any record of the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditionConfig {
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
            if rule.when.is_some() && when.any_risk_flags.is_empty() && when.people_at_least.is_none() {
                errors.push(format!(
                    "{at}: `when` is empty; give any_risk_flags or people_at_least, or remove it"
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
        if errors.is_empty() {
            Ok(Settings {
                scoring: self.scoring.clone(),
                blocking: self.blocking.clone(),
                episode_gap_days: self.episode_gap_days,
                rules,
                topics,
            })
        } else {
            Err(CorrelateConfigErrors(errors))
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
