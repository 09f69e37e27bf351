//! Judging: counting a cluster's occurrences in each rule's event-time window, episodes, and raising the orange
//! and red warnings with their evidence and subject.

use std::collections::BTreeSet;

use yujing_model::{DisputeSubject, DisputeType, GeoPoint, TownCode, Warning, WarningEvidence, WarningLevel};

use super::*;

impl Correlator {
    /// The warnings `rules` (with `episode_gap_days`) would raise on the clusters as they stand now, every clue
    /// judged as one batch, as if nothing had been raised yet: what [`Correlator::flush`] returns after a
    /// whole history is observed in one batch by a correlator whose settings carry these rules. Changes
    /// nothing.
    ///
    /// Rules do not influence clustering, so `yujing tune` clusters a history once per scoring setting and
    /// judges every rule variant on the same clusters with this.
    pub fn judge(&self, rules: &[Rule], episode_gap_days: u32) -> Vec<Warning> {
        let mut clusters: Vec<&Cluster> = self.clusters.values().collect();
        clusters.sort_unstable_by_key(|c| c.first);
        let mut warnings = Vec::new();
        for cluster in clusters {
            let times = cluster.members.iter().map(|m| m.0).collect();
            let mut raised = Vec::new();
            warnings.extend(self.judge_cluster(cluster, rules, episode_gap_days, times, false, &mut raised));
        }
        warnings
    }

    /// Judge `rules` on `cluster` after clues at `times` joined it (`merged`: a merge happened too), given the
    /// warnings already `raised` on it, to which the new ones are added.
    pub(super) fn judge_cluster(
        &self,
        cluster: &Cluster,
        rules: &[Rule],
        episode_gap_days: u32,
        mut times: Vec<i64>,
        merged: bool,
        raised: &mut Vec<(WarningLevel, i64)>,
    ) -> Vec<Warning> {
        times.sort_unstable();
        let last_new = times.last().copied().unwrap_or(i64::MIN);
        let mut covered_until = i64::MIN;
        let mut warnings = Vec::new();
        for at in times {
            if at <= covered_until {
                continue;
            }
            let judged = Judged {
                cluster,
                rules,
                gap: i64::from(episode_gap_days) * DAY,
                raised,
            };
            let (new, episode_end) = self.check_rules(&judged, at, last_new, merged);
            covered_until = episode_end;
            raised.extend(new.iter().map(|w| (w.level, w.raised_at.timestamp())));
            warnings.extend(new);
        }
        warnings
    }

    /// Check the rules on `judged.cluster` after a clue at `at` joined it (or after a merge).
    /// Returns the warnings and the event time of the episode's last member (new clues up to it are covered).
    /// Windows ending from `at` up to a window after `last_new` (the latest clue of the batch) are checked.
    pub(super) fn check_rules(
        &self,
        judged: &Judged<'_>,
        at: i64,
        last_new: i64,
        merged: bool,
    ) -> (Vec<Warning>, i64) {
        let Judged {
            cluster,
            rules,
            gap,
            raised,
        } = *judged;
        let members = &cluster.members;
        // The episode around `at`: the run of members with no gap longer than `gap`.
        let pos = members.partition_point(|m| m.0 < at);
        let mut start = pos.min(members.len().saturating_sub(1));
        while start > 0 && members[start].0 - members[start - 1].0 <= gap {
            start -= 1;
        }
        let mut end = pos;
        while end + 1 < members.len() && members[end + 1].0 - members[end].0 <= gap {
            end += 1;
        }
        let episode_members = &members[start..=end.min(members.len() - 1)];
        let episode_start = episode_members[0];
        let episode_number = 1
            + members[..start]
                .windows(2)
                .filter(|w| w[1].0 - w[0].0 > gap)
                .count()
            + usize::from(start > 0);
        let episode_end_at = episode_members[episode_members.len() - 1].0;
        let raised_in_episode: Option<WarningLevel> = raised
            .iter()
            .filter(|(_, r)| *r >= episode_start.0 && *r <= episode_end_at)
            .map(|(l, _)| *l)
            .max();

        // The earliest crossing of each rule whose level is above what the episode has raised.
        let mut crossings: Vec<(i64, WarningLevel, usize, usize, usize)> = Vec::new();
        for (rule_index, rule) in rules.iter().enumerate() {
            if raised_in_episode.is_some_and(|l| l >= rule.level) {
                continue;
            }
            let window = i64::from(rule.within_days) * DAY;
            // A rule on what came after the work order was resolved counts only those members.
            let counted_from = if rule.after_resolution {
                match cluster.resolved_at() {
                    Some(resolved) => episode_members.partition_point(|m| m.0 <= resolved),
                    None => continue,
                }
            } else {
                0
            };
            // Window ends worth checking: every member from the new clue on (all of the episode after a merge).
            let from = if merged {
                0
            } else {
                episode_members.partition_point(|m| m.0 < at)
            };
            for end_i in from..episode_members.len() {
                let end_at = episode_members[end_i].0;
                if !merged && end_at >= last_new.max(at) + window {
                    break;
                }
                let begin_i = episode_members
                    .partition_point(|m| m.0 <= end_at - window)
                    .max(counted_from);
                // Members sharing the end's event time all belong to the window ending there.
                let mut last_i = end_i;
                while last_i + 1 < episode_members.len() && episode_members[last_i + 1].0 == end_at {
                    last_i += 1;
                }
                if begin_i > last_i {
                    continue;
                }
                let in_window = &episode_members[begin_i..=last_i];
                if in_window.len() < rule.occurrences as usize {
                    continue;
                }
                if rule.is_conditional() && !in_window.iter().any(|m| self.satisfies(rule, m.1)) {
                    continue;
                }
                // The crossing is at the clue that completed the count.
                let crossing_i = begin_i + rule.occurrences as usize - 1;
                let crossing_i = if rule.is_conditional() {
                    let first_sign = in_window
                        .iter()
                        .position(|m| self.satisfies(rule, m.1))
                        .unwrap_or(0);
                    crossing_i.max(begin_i + first_sign)
                } else {
                    crossing_i
                };
                let crossing_at = episode_members[crossing_i].0;
                crossings.push((crossing_at, rule.level, rule_index, begin_i, crossing_i));
                break;
            }
        }
        crossings.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        // A level only rises: a crossing is raised only if no higher level crossed at or before it.
        let mut warnings = Vec::new();
        let mut level_now = raised_in_episode;
        let highest_at = |level: WarningLevel| crossings.iter().filter(|c| c.1 > level).map(|c| c.0).min();
        let chosen: Vec<_> = crossings
            .iter()
            .filter(|c| highest_at(c.1).is_none_or(|h| c.0 < h))
            .copied()
            .collect();
        for (crossing_at, level, rule_index, begin_i, crossing_i) in chosen {
            if level_now.is_some_and(|l| l >= level) {
                continue;
            }
            level_now = Some(level);
            let rule = &rules[rule_index];
            let counted = &episode_members[begin_i..=crossing_i];
            let warning = self.warning(
                cluster,
                rule,
                crossing_at,
                counted,
                episode_number,
                episode_start.1,
            );
            warnings.push(warning);
        }
        (warnings, episode_end_at)
    }

    pub(super) fn satisfies(&self, rule: &Rule, node: u32) -> bool {
        let p = self.core(node);
        rule.any_risk_flags.iter().any(|f| p.risk_flags().contains(f))
            || rule
                .people_at_least
                .is_some_and(|n| p.people.is_some_and(|m| m >= n))
    }

    pub(super) fn warning(
        &self,
        cluster: &Cluster,
        rule: &Rule,
        at: i64,
        counted: &[(i64, u32)],
        episode: usize,
        episode_first: u32,
    ) -> Warning {
        let cluster_id = cluster.id.to_text();
        let mut feeds = BTreeSet::new();
        let mut reporters = BTreeSet::new();
        let mut risk_flags = BTreeSet::new();
        let mut evidence = Vec::new();
        let (mut located, mut lng, mut lat) = (0u32, 0.0, 0.0);
        for &(_, node) in counted {
            let p = self.core(node);
            if let Some((x, y)) = p.location() {
                located += 1;
                lng += x;
                lat += y;
            }
            let join = &self.joins[node as usize];
            feeds.insert(p.feed);
            // A report with no reporter key counts as a reporter of its own.
            reporters.insert(p.reporter.ok_or(node));
            risk_flags.extend(p.risk_flags().iter().copied());
            evidence.push(WarningEvidence {
                clue_id: self.ids[node as usize].to_owned(),
                feed: p.feed,
                source_id: p.source_id(&self.ids[node as usize]).to_owned(),
                occurred_at: utc(p.at),
                matched: join.matched(),
                score: join.score(),
                risk_flags: p.risk_flags().iter().copied().collect(),
                people_involved: p.people.map(|min| yujing_model::PeopleCount { min, max: None }),
            });
        }
        let episode_clue = &self.ids[episode_first as usize];
        Warning {
            warning_id: stable_id("w-", &[&cluster_id, rule.level.as_str(), episode_clue]),
            cluster_id: cluster_id.clone(),
            level: rule.level,
            rule: rule.name.clone(),
            raised_at: utc(at),
            occurrences: counted.len() as u32,
            window_days: rule.within_days,
            feeds: feeds.into_iter().collect(),
            reporters: reporters.len() as u32,
            episode: episode as u32,
            risk_flags,
            subject: self.subject_of(&cluster_id, counted),
            evidence,
            location: (located > 0).then(|| GeoPoint {
                lng: lng / f64::from(located),
                lat: lat / f64::from(located),
            }),
        }
    }

    /// The town, type and place most reported among `counted` (ties go to the earliest report): unknown towns
    /// and the type 其他 count only when nothing else was said.
    pub(super) fn subject_of(&self, cluster_id: &str, counted: &[(i64, u32)]) -> DisputeSubject {
        fn most_common<'a>(values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for value in values {
                match counts.iter_mut().find(|(v, _)| *v == value) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((value, 1)),
                }
            }
            // max_by_key keeps the last maximum; reversing keeps the earliest.
            counts.into_iter().rev().max_by_key(|(_, n)| *n).map(|(v, _)| v)
        }
        let members: Vec<&ClueCore> = counted.iter().map(|&(_, n)| self.core(n)).collect();
        let (towns, places) = (&self.blocking.symbols.towns, &self.blocking.symbols.places);
        let town_code = most_common(members.iter().filter_map(|p| p.town.map(|t| towns.resolve(t))))
            .unwrap_or(TownCode::UNKNOWN)
            .to_owned();
        let town_name = members
            .iter()
            .filter(|p| p.town.is_some_and(|t| towns.resolve(t) == town_code))
            .find_map(|p| p.town_name.map(|n| towns.resolve(n).to_owned()));
        let dispute_type = most_common(
            members
                .iter()
                .map(|p| p.dispute_type.name())
                .filter(|t| *t != DisputeType::Other.name()),
        )
        .and_then(DisputeType::from_name)
        .unwrap_or(DisputeType::Other);
        let named = |field: Field| {
            members
                .iter()
                .filter_map(move |p| field(p).map(|s| places.resolve(s)))
        };
        let place = most_common(named(|p| p.estate))
            .or_else(|| most_common(named(|p| p.village_group)))
            .or_else(|| most_common(named(|p| p.road)))
            .map(str::to_owned);
        DisputeSubject {
            cluster_id: cluster_id.to_owned(),
            town_code,
            town_name,
            dispute_type,
            place,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{report, settings};
    use super::*;

    #[test]
    fn the_fifth_report_in_the_window_raises_orange_and_judging_again_agrees() {
        let settings = settings();
        let mut correlator = Correlator::new(settings.clone());
        let mut raised = Vec::new();
        for day in 0..5 {
            correlator.observe(&report(day as usize, "a", day));
            raised.extend(correlator.flush());
        }
        assert_eq!(raised.len(), 1, "{raised:?}");
        let orange = &raised[0];
        assert_eq!(
            (orange.level, orange.occurrences, orange.rule.as_str()),
            (WarningLevel::Orange, 5, "orange")
        );
        assert_eq!(orange.evidence.len(), 5);
        assert!(orange
            .evidence
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at));
        assert_eq!(
            orange.raised_at, orange.evidence[4].occurred_at,
            "raised by the fifth report's time"
        );
        // Judging the clusters as they stand gives the same warnings.
        assert_eq!(
            correlator.judge(&settings.rules, settings.episode_gap_days),
            raised
        );
        // Four reports of another dispute raise nothing.
        for day in 0..4 {
            correlator.observe(&report(10 + day as usize, "b", day));
        }
        assert!(correlator.flush().is_empty());
    }
}
