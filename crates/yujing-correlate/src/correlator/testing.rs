//! What the correlator's unit tests build on: rules of five (orange) and eight (red) reports in 30 days, and
//! synthetic reports of labelled disputes.

use chrono::{DateTime, Duration, FixedOffset};
use yujing_model::{Clue, FeedId, WarningLevel};

use crate::config::{CorrelateConfig, RuleConfig, Settings, TestClueConfig};
use crate::rule_tests::synthetic_clue;

/// Orange at five reports, red at eight, both in 30 days.
pub(super) fn settings() -> Settings {
    CorrelateConfig {
        rules: vec![
            RuleConfig::recurring("orange", WarningLevel::Orange, 5, 30),
            RuleConfig::recurring("red", WarningLevel::Red, 8, 30),
        ],
        ..CorrelateConfig::default()
    }
    .build()
    .expect("valid rules")
}

/// Report `index` of dispute `dispute`, `day` days into June.
pub(super) fn report(index: usize, dispute: &str, day: i64) -> Clue {
    let start: DateTime<FixedOffset> = "2026-06-01T09:00:00+08:00".parse().expect("time");
    synthetic_clue(
        index,
        &TestClueConfig {
            at: start + Duration::days(day),
            feed: FeedId::ALL[index % FeedId::ALL.len()],
            dispute: dispute.to_owned(),
            source_id: None,
            risk_flags: vec![],
            people: None,
        },
    )
}
