//! Rule test cases: given clues, the warnings expected. `yujing test` runs them.
//!
//! Each test runs a fresh [`Correlator`] with the whole rule set over clues built from the test's short form:
//! clues sharing a `dispute` label share an estate, a reporter key and a description, so they cluster; different
//! labels are different disputes in different estates.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use yujing_model::{
    Address, Clue, DisputeType, Party, PartyKey, PartyKeyKind, PartyKind, PartyRole, PeopleCount, RawPointer,
    RequestKind, SourceLocation, TownCode, TownEvidence, TownRef,
};

use crate::config::{CorrelateConfig, RuleTestConfig, TestClueConfig};
use crate::correlator::Correlator;

/// The result of one rule test.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTestOutcome {
    /// The rule that declared the test.
    pub rule: String,
    /// The test's name.
    pub test: String,
    /// What differed from the expectation (empty when it passed).
    pub problems: Vec<String>,
}

impl RuleTestOutcome {
    /// Whether the test passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Run every test declared by the rules of `config`.
pub fn run_rule_tests(
    config: &CorrelateConfig,
) -> Result<Vec<RuleTestOutcome>, crate::CorrelateConfigErrors> {
    let settings = config.build()?;
    let mut outcomes = Vec::new();
    for rule in &config.rules {
        for test in &rule.tests {
            let problems = run_one(&settings, test);
            outcomes.push(RuleTestOutcome {
                rule: rule.name.clone(),
                test: test.name.clone(),
                problems,
            });
        }
    }
    Ok(outcomes)
}

fn run_one(settings: &crate::Settings, test: &RuleTestConfig) -> Vec<String> {
    let mut correlator = Correlator::new(settings.clone());
    let mut cluster_of_label: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut raised = Vec::new();
    let mut resolutions: Vec<_> = test.resolutions.iter().collect();
    resolutions.sort_by_key(|r| r.at);
    let mut next_resolution = 0;
    for (i, spec) in test.clues.iter().enumerate() {
        while let Some(r) = resolutions.get(next_resolution).filter(|r| r.at < spec.at) {
            if let Some(cluster) = cluster_of_label.get(&r.dispute).and_then(|c| c.iter().next()) {
                correlator.resolved(cluster, r.at.with_timezone(&Utc));
            }
            next_resolution += 1;
        }
        let clue = synthetic_clue(i, spec);
        correlator.observe(&clue);
        raised.extend(correlator.flush());
        if let Some(cluster) = correlator.cluster_of(&clue.clue_id) {
            cluster_of_label
                .entry(spec.dispute.clone())
                .or_default()
                .insert(cluster);
        }
    }
    let mut problems = Vec::new();
    for (label, clusters) in &cluster_of_label {
        if clusters.len() > 1 {
            problems.push(format!(
                "dispute '{label}' was split into {} clusters",
                clusters.len()
            ));
        }
    }
    let label_of = |cluster_id: &str| {
        cluster_of_label
            .iter()
            .find(|(_, c)| c.contains(cluster_id))
            .map(|(l, _)| l.clone())
            .unwrap_or_default()
    };
    let got: Vec<(String, String, String, u32)> = raised
        .iter()
        .map(|w| {
            (
                w.level.as_str().to_owned(),
                w.raised_at.to_rfc3339(),
                label_of(&w.cluster_id),
                w.occurrences,
            )
        })
        .collect();
    for (i, expected) in test.expect.iter().enumerate() {
        let want_at = expected.at.with_timezone(&Utc).to_rfc3339();
        match got.get(i) {
            None => problems.push(format!(
                "expected warning {} ({} at {} for '{}') was not raised",
                i + 1,
                expected.level,
                expected.at.to_rfc3339(),
                expected.dispute
            )),
            Some((level, at, label, occurrences)) => {
                let occurrences_differ = expected.occurrences.is_some_and(|n| n != *occurrences);
                if level != expected.level.as_str()
                    || *at != want_at
                    || *label != expected.dispute
                    || occurrences_differ
                {
                    problems.push(format!(
                        "warning {}: expected {} at {} for '{}'{}, got {level} at {at} for '{label}' with {occurrences} occurrences",
                        i + 1,
                        expected.level,
                        want_at,
                        expected.dispute,
                        expected.occurrences.map(|n| format!(" with {n} occurrences")).unwrap_or_default(),
                    ));
                }
            }
        }
    }
    for (level, at, label, occurrences) in got.iter().skip(test.expect.len()) {
        problems.push(format!(
            "unexpected {level} warning at {at} for '{label}' ({occurrences} occurrences)"
        ));
    }
    problems
}

/// A clue standing for one report of dispute `spec.dispute`.
pub(crate) fn synthetic_clue(index: usize, spec: &TestClueConfig) -> Clue {
    let label = &spec.dispute;
    let source_id = spec.source_id.clone().unwrap_or_else(|| format!("T{index:05}"));
    let reporter_key = crate::correlator::cluster_id_for(&format!("test-reporter:{label}"));
    // Distinct, dissimilar estate names per label, so only reports of one label match each other.
    const HEADS: [&str; 16] = [
        "金桂", "银杏", "翠柳", "红枫", "青松", "白桦", "紫藤", "黄杨", "碧桃", "丹桂", "墨竹", "苍梧",
        "玉兰", "海棠", "石榴", "香樟",
    ];
    const TAILS: [&str; 8] = ["苑", "花园", "新村", "家园", "华庭", "名都", "雅居", "公寓"];
    let h = label.bytes().fold(2_166_136_261_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    }) as usize;
    let estate = format!(
        "{}{}{}",
        HEADS[h % 16],
        HEADS[(h / 16) % 16],
        TAILS[(h / 256) % 8]
    );
    let description = format!("{estate}的争议又来反映，问题一直没有解决");
    let at = spec.at.with_timezone(&Utc);
    Clue {
        clue_id: format!("{}:{source_id}", spec.feed),
        feed: spec.feed,
        source_id: source_id.clone(),
        version: 1,
        occurred_at: at,
        reported_at: at,
        town: TownRef {
            town_code: TownCode("320682001".to_owned()),
            town_name: Some("如城街道".to_owned()),
            town_evidence: TownEvidence::FullName,
            community_code: None,
            community_name: None,
            grid_code: None,
        },
        address: Address {
            text: estate.clone(),
            normalized: format!("320682001/{estate}"),
            estate: Some(estate),
            ..Address::default()
        },
        location: None,
        dispute_type: DisputeType::Property,
        source_category: "物业".to_owned(),
        category_inferred: false,
        category_guessed: false,
        request_kind: RequestKind::Complaint,
        source_status: None,
        parties: vec![Party {
            role: PartyRole::Reporter,
            kind: PartyKind::Person,
            name_masked: None,
            phone_masked: None,
            id_masked: None,
            keys: vec![PartyKey {
                kind: PartyKeyKind::Phone,
                hash: reporter_key,
            }],
            name_tokens: None,
        }],
        people_involved: spec.people.map(|n| PeopleCount { min: n, max: Some(n) }),
        risk_flags: spec.risk_flags.iter().copied().collect(),
        title: None,
        description,
        raw: RawPointer {
            topic: format!("raw.{}", spec.feed),
            offset: index as u64,
            location: SourceLocation {
                file: "rule-test".to_owned(),
                line: None,
                record_index: index as u64,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleConfig;
    use yujing_model::{FeedId, RiskFlag, WarningLevel};

    fn rules() -> crate::Settings {
        let rule = |name: &str, level, occurrences, when: Option<crate::ConditionConfig>| RuleConfig {
            name: name.to_owned(),
            level,
            occurrences,
            within_days: 30,
            when,
            tests: vec![],
        };
        CorrelateConfig {
            rules: vec![
                rule("orange", WarningLevel::Orange, 5, None),
                rule("red", WarningLevel::Red, 8, None),
                rule(
                    "severe",
                    WarningLevel::Red,
                    3,
                    Some(crate::ConditionConfig {
                        any_risk_flags: vec![RiskFlag::Weapon],
                        people_at_least: None,
                        after_resolution: false,
                    }),
                ),
            ],
            ..CorrelateConfig::default()
        }
        .build()
        .expect("valid rules")
    }

    /// A seeded stream of reports of a few disputes, in event-time order, spanning months.
    fn stream() -> Vec<Clue> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let start: chrono::DateTime<chrono::FixedOffset> = "2026-01-01T08:00:00+08:00".parse().expect("time");
        let mut at = start;
        let mut clues = Vec::new();
        for i in 0..400 {
            at += chrono::Duration::minutes((next() % (2 * 24 * 60)) as i64);
            let spec = TestClueConfig {
                at,
                feed: FeedId::ALL[(next() % 6) as usize],
                dispute: format!("d{}", next() % 7),
                source_id: None,
                risk_flags: if next() % 40 == 0 {
                    vec![RiskFlag::Weapon]
                } else {
                    vec![]
                },
                people: None,
            };
            clues.push(synthetic_clue(i, &spec));
        }
        clues
    }

    #[test]
    fn one_batch_raises_exactly_what_clue_by_clue_raises_in_event_time_order() {
        let clues = stream();
        let mut one_by_one = Correlator::new(rules());
        let mut expected = Vec::new();
        for clue in &clues {
            one_by_one.observe(clue);
            expected.extend(one_by_one.flush());
        }
        let mut batch = Correlator::new(rules());
        for clue in &clues {
            batch.observe(clue);
        }
        let mut got = batch.flush();
        assert!(
            expected.len() > 10,
            "the stream raises warnings: {}",
            expected.len()
        );
        let key = |w: &yujing_model::Warning| (w.raised_at, w.warning_id.clone());
        expected.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, expected);
    }
}
