//! Builders of yujing's canonical events for tests and benchmarks: one place for the warning every test of
//! work orders, the page and the engine starts from, so a new field of [`Warning`] is filled in once.
//!
//! Only tests and benches depend on this crate (as a dev-dependency); it depends on `yujing-model`, and on the
//! feeds and the simulator for [`simulated_deliveries`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use yujing_model::{DisputeSubject, DisputeType, GeoPoint, Warning, WarningLevel};

/// An instant from RFC 3339 text; panics naming the text when it is not one (a test's own typo).
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// 如城街道 (320682001), the seed case's town.
pub const RUCHENG: (&str, &str) = ("320682001", "如城街道");

/// 白蒲镇 (320682006).
pub const BAIPU: (&str, &str) = ("320682006", "白蒲镇");

/// The point of the grid sample's 锦绣华庭 report, inside the county.
pub const JINXIU_POINT: GeoPoint = GeoPoint {
    lng: 120.5689,
    lat: 32.3874,
};

/// A warning `id` about dispute `cluster` at `level`, raised at `raised_at`: a property dispute at 锦绣华庭 in
/// 如城街道, five reports by three reporters in a 30-day window, first episode, no evidence, no point. Change
/// what a test needs with struct update syntax (`Warning { rule: …, ..warning(…) }`) or [`in_town`].
pub fn warning(id: &str, cluster: &str, level: WarningLevel, raised_at: DateTime<Utc>) -> Warning {
    Warning {
        warning_id: id.to_owned(),
        cluster_id: cluster.to_owned(),
        level,
        rule: format!("recurring-{}", level.as_str()),
        raised_at,
        occurrences: 5,
        window_days: 30,
        feeds: Vec::new(),
        reporters: 3,
        episode: 1,
        risk_flags: BTreeSet::new(),
        subject: DisputeSubject {
            cluster_id: cluster.to_owned(),
            town_code: RUCHENG.0.to_owned(),
            town_name: Some(RUCHENG.1.to_owned()),
            dispute_type: DisputeType::Property,
            place: Some("锦绣华庭".to_owned()),
        },
        evidence: Vec::new(),
        location: None,
    }
}

/// `warning` moved to `town` (code, name).
pub fn in_town(mut warning: Warning, (code, name): (&str, &str)) -> Warning {
    warning.subject.town_code = code.to_owned();
    warning.subject.town_name = Some(name.to_owned());
    warning
}

/// A simulated stretch of the county (`disputes` disputes over `days` days, four estates a town, `seed`) as its
/// export files with their feeds, dealt in turn into `parts` deliveries: what a test feeds a pipeline in steps.
pub fn simulated_deliveries(
    gazetteer: &yujing_feeds::gazetteer::Gazetteer,
    seed: u64,
    disputes: usize,
    days: u32,
    parts: usize,
) -> Vec<Vec<(yujing_model::FeedId, String, Vec<u8>)>> {
    let simulation = yujing_sim::simulate(
        &yujing_sim::SimConfig {
            seed,
            disputes,
            days,
            estates_per_town: 4,
            ..yujing_sim::SimConfig::default()
        },
        gazetteer,
    );
    let mut deliveries = vec![Vec::new(); parts.max(1)];
    let count = deliveries.len();
    for (i, (name, bytes)) in simulation.files.into_iter().enumerate() {
        let feed = yujing_feeds::adapters::detect_feed(std::path::Path::new(&name))
            .unwrap_or_else(|| panic!("the simulator names every file after its feed: {name}"));
        deliveries[i % count].push((feed, name, bytes));
    }
    deliveries
}

/// Every record of `topic` on `log`, key and value, in order.
pub fn records(log: &dyn yujing_log::Log, topic: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let end = log.end_offset(topic).unwrap_or_else(|e| panic!("{e}"));
    log.read(topic, 0, end as usize + 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| (e.record.key, e.record.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_about_its_cluster_and_moves_town_whole() {
        let w = in_town(
            warning("w-1", "k-1", WarningLevel::Red, at("2026-06-12T00:00:00Z")),
            BAIPU,
        );
        assert_eq!(
            (w.subject.cluster_id.as_str(), w.rule.as_str()),
            ("k-1", "recurring-red")
        );
        assert_eq!(
            (w.subject.town_code.as_str(), w.subject.town_name.as_deref()),
            (BAIPU.0, Some(BAIPU.1))
        );
    }
}
