//! The truth of a simulation: which dispute each record reports, and which warnings a perfect correlator would
//! raise under a rule set.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yujing_correlate::Rule;
use yujing_model::{FeedId, WarningLevel};

/// One valid dispute record and the dispute it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRecord {
    /// The feed.
    pub feed: FeedId,
    /// The source id as the clue carries it (`ZJ-002/ZJTS…` for the exchange).
    pub source_id: String,
    /// The dispute.
    pub dispute_id: String,
    /// The event time as the feed states it (midnight for date-only feeds).
    pub occurred_at: DateTime<Utc>,
    /// Whether the record carries a severe sign.
    pub severe: bool,
    /// People involved, when the feed has the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<u32>,
}

/// A warning a perfect correlator would raise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthWarning {
    /// The dispute.
    pub dispute_id: String,
    /// The level.
    pub level: WarningLevel,
    /// The rule.
    pub rule: String,
    /// When the threshold is truly crossed (event time).
    pub crossing_at: DateTime<Utc>,
    /// The distinct records counted.
    pub occurrences: u32,
}

/// The warnings the rules raise on the true disputes: per episode (a gap of more than `episode_gap_days` starts
/// a new one), each rule's first crossing; a level only rises, and a crossing at or after a higher level's is
/// not raised.
pub fn truth_warnings(records: &[TruthRecord], rules: &[Rule], episode_gap_days: u32) -> Vec<TruthWarning> {
    let gap = i64::from(episode_gap_days) * 86_400;
    let mut by_dispute: BTreeMap<&str, Vec<&TruthRecord>> = BTreeMap::new();
    for r in records {
        by_dispute.entry(r.dispute_id.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (dispute, mut recs) in by_dispute {
        recs.sort_by_key(|r| r.occurred_at);
        let mut start = 0;
        while start < recs.len() {
            let mut end = start + 1;
            while end < recs.len() && (recs[end].occurred_at - recs[end - 1].occurred_at).num_seconds() <= gap
            {
                end += 1;
            }
            let episode = &recs[start..end];
            let mut crossings: Vec<(DateTime<Utc>, WarningLevel, &Rule, u32)> = Vec::new();
            for rule in rules {
                // The simulation has no work orders, so nothing is ever resolved.
                if rule.after_resolution {
                    continue;
                }
                let window = i64::from(rule.within_days) * 86_400;
                for r in episode {
                    let t = r.occurred_at;
                    let in_window: Vec<&&TruthRecord> = episode
                        .iter()
                        .filter(|x| x.occurred_at <= t && (t - x.occurred_at).num_seconds() < window)
                        .collect();
                    if in_window.len() < rule.occurrences as usize {
                        continue;
                    }
                    let sign = |x: &TruthRecord| {
                        (x.severe && !rule.any_risk_flags.is_empty())
                            || rule
                                .people_at_least
                                .is_some_and(|n| x.people.is_some_and(|p| p >= n))
                    };
                    if rule.is_conditional() && !in_window.iter().any(|x| sign(x)) {
                        continue;
                    }
                    crossings.push((t, rule.level, rule, rule.occurrences));
                    break;
                }
            }
            crossings.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let mut level_now: Option<WarningLevel> = None;
            for &(t, level, rule, occurrences) in &crossings {
                let higher_first = crossings.iter().any(|c| c.1 > level && c.0 <= t);
                if higher_first || level_now.is_some_and(|l| l >= level) {
                    continue;
                }
                level_now = Some(level);
                out.push(TruthWarning {
                    dispute_id: dispute.to_owned(),
                    level,
                    rule: rule.name.clone(),
                    crossing_at: t,
                    occurrences,
                });
            }
            start = end;
        }
    }
    out.sort_by(|a, b| {
        a.crossing_at
            .cmp(&b.crossing_at)
            .then_with(|| a.dispute_id.cmp(&b.dispute_id))
    });
    out
}
