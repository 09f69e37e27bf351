//! The command centre's board: every panel of the page from the warnings and work orders, computed in one pass
//! over each, filtered and scoped to who asks. Pure: the same projections, principal, filter and clock give the
//! same board, which is what the unit tests and the benchmark rely on.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use yujing_engine::WarningSummary;
use yujing_feeds::gazetteer::Town;
use yujing_model::{Card, DisputeType, OrderStatus, WarningLevel};
use yujing_workorder::WorkOrder;

use super::map::CountyMap;
use crate::auth::Principal;

/// Rows of the warnings panel sent at most (newest first); the total says how many match.
pub const WARNING_ROWS: usize = 200;
/// Orders sent per column of the work-order board (the most urgent first); the column's total says how many.
pub const ORDERS_PER_COLUMN: usize = 50;
/// Days in the trend.
pub const TREND_DAYS: i64 = 30;

/// The page's filters (`?town=&level=&type=&state=`), each optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardFilter {
    /// A town's code or name.
    pub town: Option<String>,
    /// `orange` or `red`.
    pub level: Option<String>,
    /// A dispute type's Chinese name (`物业`).
    #[serde(rename = "type")]
    pub dispute_type: Option<String>,
    /// A work order's state (`dispatched`); a warning matches through its order.
    pub state: Option<String>,
}

impl BoardFilter {
    fn town_matches(&self, code: &str, name: Option<&str>) -> bool {
        self.town
            .as_deref()
            .is_none_or(|t| t.is_empty() || t == code || Some(t) == name)
    }

    fn level_matches(&self, level: WarningLevel) -> bool {
        self.level
            .as_deref()
            .is_none_or(|l| l.is_empty() || l == level.as_str())
    }

    fn type_matches(&self, dispute_type: DisputeType) -> bool {
        self.dispute_type
            .as_deref()
            .is_none_or(|t| t.is_empty() || t == dispute_type.name())
    }

    fn state_matches(&self, status: Option<OrderStatus>) -> bool {
        self.state
            .as_deref()
            .is_none_or(|s| s.is_empty() || status.is_some_and(|status| status.as_str() == s))
    }
}

/// Everything the page shows but the map's outline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Board {
    /// The clock's time the board was computed at (deadlines are judged against it).
    pub now: DateTime<Utc>,
    /// Warnings matching the filter.
    pub warnings_total: usize,
    /// The newest of them, at most [`WARNING_ROWS`].
    pub warnings: Vec<WarningRow>,
    /// Open warnings with a location, one per dispute (its latest warning): the map's points.
    pub points: Vec<MapPoint>,
    /// The work-order board, one column per state.
    pub columns: Vec<OrderColumn>,
    /// Per town: open warnings by level, those without a location, overdue and escalated orders.
    pub towns: Vec<TownRow>,
    /// Warnings per day.
    pub trend: Trend,
    /// What the filters can choose from.
    pub choices: Choices,
}

/// A row of the warnings panel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarningRow {
    /// The warning.
    pub warning_id: String,
    /// Its dispute.
    pub cluster_id: String,
    /// `orange` or `red`.
    pub level: WarningLevel,
    /// The town's code.
    pub town_code: String,
    /// The town's name, when known.
    pub town_name: Option<String>,
    /// The dispute type.
    pub dispute_type: DisputeType,
    /// The place, when the reports named one.
    pub place: Option<String>,
    /// Reports counted.
    pub occurrences: u32,
    /// The first and last counted report.
    pub first_report: Option<DateTime<Utc>>,
    /// The last counted report.
    pub last_report: Option<DateTime<Utc>>,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// The work order of its dispute, and its state.
    pub order_id: Option<String>,
    /// The order's state.
    pub order_status: Option<OrderStatus>,
    /// Whether the dispute is still open (no order, or its order is not closed, dismissed or merged).
    pub open: bool,
    /// Whether it has a location on the map.
    pub located: bool,
}

/// A point on the map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapPoint {
    /// The warning drawn.
    pub warning_id: String,
    /// `orange` or `red`.
    pub level: WarningLevel,
    /// Reports counted (the point's size).
    pub occurrences: u32,
    /// SVG coordinates.
    pub x: f64,
    /// SVG coordinates.
    pub y: f64,
    /// Whether the point lies inside the county's outline.
    pub inside: bool,
    /// A label: town, place and type.
    pub label: String,
}

/// A column of the work-order board.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderColumn {
    /// The state.
    pub status: OrderStatus,
    /// Orders in it.
    pub total: usize,
    /// The most urgent of them: overdue first, then red, then the oldest.
    pub orders: Vec<OrderCard>,
}

/// An order on the board.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCard {
    /// The order.
    pub order_id: String,
    /// Its highest level.
    pub level: WarningLevel,
    /// The town's name or code.
    pub town: String,
    /// The place.
    pub place: Option<String>,
    /// The dispute type.
    pub dispute_type: DisputeType,
    /// The unit handling it.
    pub unit: Option<String>,
    /// The supervision card it carries: `red` over `yellow`.
    pub card: Option<Card>,
    /// Whether a deadline has passed or a card was issued.
    pub overdue: bool,
    /// 0 the town, 1 a city department, 2 joint handling.
    pub escalation_level: u8,
    /// The deadline that runs now: acceptance while dispatched, handling after.
    pub due: Option<DateTime<Utc>>,
    /// The latest warning that raised it.
    pub warning_id: Option<String>,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// Its state.
    pub status: OrderStatus,
}

/// A row of the per-town panel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TownRow {
    /// The town's code.
    pub town_code: String,
    /// The town's name.
    pub town_name: String,
    /// Open disputes whose latest warning is orange.
    pub open_orange: usize,
    /// Open disputes whose latest warning is red.
    pub open_red: usize,
    /// Of those, the ones without a location (the map counts them here).
    pub unlocated: usize,
    /// Orders past a deadline or carrying a card.
    pub overdue: usize,
    /// Orders escalated (提级).
    pub escalated: usize,
}

/// Warnings per day (+08:00), the last [`TREND_DAYS`] days up to `to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trend {
    /// The first day.
    pub from: NaiveDate,
    /// The last day: today, or the newest warning's day when none fell in the last 30 days (a replayed
    /// history), so the trend shows the history rather than an empty month.
    pub to: NaiveDate,
    /// One entry per day, oldest first.
    pub days: Vec<TrendDay>,
}

/// One day of the trend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrendDay {
    /// The day.
    pub day: NaiveDate,
    /// Orange warnings raised.
    pub orange: usize,
    /// Red warnings raised.
    pub red: usize,
}

/// What the filters offer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choices {
    /// Towns the principal may see: `(code, name)`.
    pub towns: Vec<(String, String)>,
    /// Dispute types.
    pub types: Vec<String>,
    /// Order states.
    pub states: Vec<String>,
}

/// The deadline that runs now: acceptance while dispatched, handling once accepted.
fn running_deadline(order: &WorkOrder) -> Option<DateTime<Utc>> {
    match order.status {
        OrderStatus::Dispatched => order.accept_by,
        OrderStatus::Accepted | OrderStatus::InProgress => order.handle_by,
        _ => None,
    }
}

/// Whether `order` is past a deadline at `now` or carries a card.
pub fn overdue(order: &WorkOrder, now: DateTime<Utc>) -> bool {
    !order.status.is_final() && (!order.cards.is_empty() || running_deadline(order).is_some_and(|d| d < now))
}

/// Warnings newest first (a red before the orange of the same moment), then by id, so the order is total.
fn newest_first(
    a: (DateTime<Utc>, WarningLevel, &String),
    b: (DateTime<Utc>, WarningLevel, &String),
) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then_with(|| b.2.cmp(a.2))
}

/// Orders on the board: overdue first, then red, then the oldest; in the closed columns the newest first.
fn most_urgent_first(a: &OrderCard, b: &OrderCard) -> std::cmp::Ordering {
    b.overdue
        .cmp(&a.overdue)
        .then(b.level.cmp(&a.level))
        .then_with(|| {
            if a.status.is_final() {
                b.raised_at.cmp(&a.raised_at)
            } else {
                a.raised_at.cmp(&b.raised_at)
            }
        })
        .then_with(|| a.order_id.cmp(&b.order_id))
}

/// Points drawn orange first, red on top, larger over smaller.
fn drawing_order(a: &MapPoint, b: &MapPoint) -> std::cmp::Ordering {
    a.level
        .cmp(&b.level)
        .then(a.occurrences.cmp(&b.occurrences))
        .then_with(|| a.warning_id.cmp(&b.warning_id))
}

/// The boards of the shards of a sharded store as one: what one board over all their warnings and orders would
/// show (each dispute and each order lives in exactly one shard, the shard of its town). The trend covers the 30
/// days up to the latest day any shard ends at.
pub fn merge(boards: Vec<Board>) -> Option<Board> {
    let mut boards = boards.into_iter();
    let mut merged = boards.next()?;
    for board in boards {
        merged.now = merged.now.max(board.now);
        merged.warnings_total += board.warnings_total;
        merged.warnings.extend(board.warnings);
        merged.points.extend(board.points);
        for column in board.columns {
            match merged.columns.iter_mut().find(|c| c.status == column.status) {
                Some(mine) => {
                    mine.total += column.total;
                    mine.orders.extend(column.orders);
                }
                None => merged.columns.push(column),
            }
        }
        for town in board.towns {
            match merged.towns.iter_mut().find(|t| t.town_code == town.town_code) {
                Some(mine) => {
                    mine.open_orange += town.open_orange;
                    mine.open_red += town.open_red;
                    mine.unlocated += town.unlocated;
                    mine.overdue += town.overdue;
                    mine.escalated += town.escalated;
                }
                None => merged.towns.push(town),
            }
        }
        let to = merged.trend.to.max(board.trend.to);
        let from = to - Duration::days(TREND_DAYS - 1);
        let mut days: BTreeMap<NaiveDate, (usize, usize)> = BTreeMap::new();
        for day in merged.trend.days.iter().chain(&board.trend.days) {
            let entry = days.entry(day.day).or_default();
            entry.0 += day.orange;
            entry.1 += day.red;
        }
        merged.trend = Trend {
            from,
            to,
            days: (0..TREND_DAYS)
                .map(|i| {
                    let day = from + Duration::days(i);
                    let (orange, red) = days.get(&day).copied().unwrap_or_default();
                    TrendDay { day, orange, red }
                })
                .collect(),
        };
    }
    merged.warnings.sort_by(|a, b| {
        newest_first(
            (a.raised_at, a.level, &a.warning_id),
            (b.raised_at, b.level, &b.warning_id),
        )
    });
    merged.warnings.truncate(WARNING_ROWS);
    merged.points.sort_by(drawing_order);
    merged
        .columns
        .sort_by_key(|c| OrderStatus::ALL.iter().position(|s| *s == c.status));
    for column in &mut merged.columns {
        column.orders.sort_by(most_urgent_first);
        column.orders.truncate(ORDERS_PER_COLUMN);
    }
    merged.towns.sort_by(|a, b| a.town_code.cmp(&b.town_code));
    Some(merged)
}

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&yujing_feeds::time::shanghai()).date_naive()
}

/// The board of `warnings` and `orders` as `principal` may see it, filtered by `filter`, at `now`.
pub fn board<'a>(
    warnings: impl IntoIterator<Item = &'a WarningSummary>,
    orders: impl IntoIterator<Item = &'a WorkOrder>,
    towns: &[Town],
    map: &CountyMap,
    principal: &Principal,
    filter: &BoardFilter,
    now: DateTime<Utc>,
) -> Board {
    // The order of each dispute: the one not merged away, the latest raised.
    let mut order_of: HashMap<&str, &WorkOrder> = HashMap::new();
    let mut visible_orders = Vec::new();
    for order in orders {
        if !principal.may_see(order) {
            continue;
        }
        let slot = order_of.entry(order.subject.cluster_id.as_str()).or_insert(order);
        if order.status != OrderStatus::Merged
            && (slot.status == OrderStatus::Merged || order.raised_at > slot.raised_at)
        {
            *slot = order;
        }
        visible_orders.push(order);
    }

    // Warnings: the visible ones, and each dispute's latest.
    let mut visible: Vec<&WarningSummary> = warnings
        .into_iter()
        .filter(|w| principal.may_see_town(&w.subject.town_code, w.subject.town_name.as_deref()))
        .collect();
    visible.sort_by(|a, b| {
        newest_first(
            (a.raised_at, a.level, &a.warning_id),
            (b.raised_at, b.level, &b.warning_id),
        )
    });
    let mut latest_of: HashMap<&str, &WarningSummary> = HashMap::new();
    for warning in &visible {
        // Newest first: the first seen of a dispute is its latest.
        latest_of.entry(warning.cluster_id.as_str()).or_insert(warning);
    }
    let status_of = |cluster: &str| order_of.get(cluster).map(|o| o.status);
    let is_open = |cluster: &str| status_of(cluster).is_none_or(|s| !s.is_final());
    let matches = |w: &WarningSummary| {
        filter.town_matches(&w.subject.town_code, w.subject.town_name.as_deref())
            && filter.level_matches(w.level)
            && filter.type_matches(w.subject.dispute_type)
            && filter.state_matches(status_of(&w.cluster_id))
    };

    let mut warnings_total = 0;
    let mut rows = Vec::new();
    let mut per_day: BTreeMap<NaiveDate, (usize, usize)> = BTreeMap::new();
    for warning in visible.iter().copied().filter(|w| matches(w)) {
        warnings_total += 1;
        let day = per_day.entry(day_of(warning.raised_at)).or_default();
        match warning.level {
            WarningLevel::Orange => day.0 += 1,
            WarningLevel::Red => day.1 += 1,
        }
        if rows.len() < WARNING_ROWS {
            let order = order_of.get(warning.cluster_id.as_str());
            rows.push(WarningRow {
                warning_id: warning.warning_id.clone(),
                cluster_id: warning.cluster_id.clone(),
                level: warning.level,
                town_code: warning.subject.town_code.clone(),
                town_name: warning.subject.town_name.clone(),
                dispute_type: warning.subject.dispute_type,
                place: warning.subject.place.clone(),
                occurrences: warning.occurrences,
                first_report: warning.first_report,
                last_report: warning.last_report,
                raised_at: warning.raised_at,
                order_id: order.map(|o| o.order_id.clone()),
                order_status: order.map(|o| o.status),
                open: is_open(&warning.cluster_id),
                located: warning.location.is_some(),
            });
        }
    }

    // The map and the town tallies: each open dispute once, by its latest warning.
    let mut town_rows: BTreeMap<String, TownRow> = towns
        .iter()
        .filter(|t| principal.may_see_town(&t.code, Some(&t.name)))
        .filter(|t| filter.town_matches(&t.code, Some(&t.name)))
        .map(|t| {
            (
                t.code.clone(),
                TownRow {
                    town_code: t.code.clone(),
                    town_name: t.name.clone(),
                    ..TownRow::default()
                },
            )
        })
        .collect();
    fn town_row<'r>(
        rows: &'r mut BTreeMap<String, TownRow>,
        code: &str,
        name: Option<&str>,
    ) -> &'r mut TownRow {
        rows.entry(code.to_owned()).or_insert_with(|| TownRow {
            town_code: code.to_owned(),
            town_name: name
                .unwrap_or(if code == "unknown" { "未定镇街" } else { code })
                .to_owned(),
            ..TownRow::default()
        })
    }
    let mut points = Vec::new();
    let mut open_latest: Vec<&WarningSummary> = latest_of
        .values()
        .copied()
        .filter(|w| is_open(&w.cluster_id) && matches(w))
        .collect();
    open_latest.sort_by(|a, b| a.warning_id.cmp(&b.warning_id));
    for warning in open_latest {
        let subject = &warning.subject;
        let row = town_row(&mut town_rows, &subject.town_code, subject.town_name.as_deref());
        match warning.level {
            WarningLevel::Orange => row.open_orange += 1,
            WarningLevel::Red => row.open_red += 1,
        }
        match warning.location {
            None => row.unlocated += 1,
            Some(point) => {
                let (x, y) = map.project(point.lng, point.lat);
                let label = [
                    subject.town_name.as_deref().unwrap_or(&subject.town_code),
                    subject.place.as_deref().unwrap_or(""),
                    subject.dispute_type.name(),
                ]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
                points.push(MapPoint {
                    warning_id: warning.warning_id.clone(),
                    level: warning.level,
                    occurrences: warning.occurrences,
                    x: (x * 10.0).round() / 10.0,
                    y: (y * 10.0).round() / 10.0,
                    inside: map.contains(point.lng, point.lat),
                    label,
                });
            }
        }
    }
    points.sort_by(drawing_order);

    // The work-order board.
    let mut columns: Vec<OrderColumn> = OrderStatus::ALL
        .iter()
        .filter(|s| filter.state_matches(Some(**s)))
        .map(|&status| OrderColumn {
            status,
            total: 0,
            orders: Vec::new(),
        })
        .collect();
    let mut cards: Vec<OrderCard> = Vec::new();
    for order in visible_orders {
        let subject = &order.subject;
        if !(filter.town_matches(&subject.town_code, subject.town_name.as_deref())
            && filter.level_matches(order.level)
            && filter.type_matches(subject.dispute_type)
            && filter.state_matches(Some(order.status)))
        {
            continue;
        }
        let late = overdue(order, now);
        if !order.status.is_final() {
            let row = town_row(&mut town_rows, &subject.town_code, subject.town_name.as_deref());
            row.overdue += usize::from(late);
            row.escalated += usize::from(order.escalation_level > 0);
        }
        let due = running_deadline(order);
        cards.push(OrderCard {
            order_id: order.order_id.clone(),
            level: order.level,
            town: subject
                .town_name
                .clone()
                .unwrap_or_else(|| subject.town_code.clone()),
            place: subject.place.clone(),
            dispute_type: subject.dispute_type,
            unit: order.unit.clone(),
            card: order.cards.iter().max().copied(),
            overdue: late,
            escalation_level: order.escalation_level,
            due,
            warning_id: order.warning_ids.last().cloned(),
            raised_at: order.raised_at,
            status: order.status,
        });
    }
    cards.sort_by(most_urgent_first);
    for card in cards {
        if let Some(column) = columns.iter_mut().find(|c| c.status == card.status) {
            column.total += 1;
            if column.orders.len() < ORDERS_PER_COLUMN {
                column.orders.push(card);
            }
        }
    }

    // The trend: the last 30 days up to today, or up to the newest warning's day when none is that recent.
    let today = day_of(now);
    let newest = per_day.keys().next_back().copied();
    let to = match newest {
        Some(day) if day <= today - Duration::days(TREND_DAYS) => day,
        _ => today,
    };
    let from = to - Duration::days(TREND_DAYS - 1);
    let days = (0..TREND_DAYS)
        .map(|i| {
            let day = from + Duration::days(i);
            let (orange, red) = per_day.get(&day).copied().unwrap_or_default();
            TrendDay { day, orange, red }
        })
        .collect();

    let choices = Choices {
        towns: towns
            .iter()
            .filter(|t| principal.may_see_town(&t.code, Some(&t.name)))
            .map(|t| (t.code.clone(), t.name.clone()))
            .collect(),
        types: DisputeType::ALL.iter().map(|t| t.name().to_owned()).collect(),
        states: OrderStatus::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
    };
    Board {
        now,
        warnings_total,
        warnings: rows,
        points,
        columns,
        towns: town_rows.into_values().collect(),
        trend: Trend { from, to, days },
        choices,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use yujing_model::{Actor, Role, Warning, WarningEvidence};
    use yujing_workorder::Command;

    use super::*;

    use yujing_test_support::{at, in_town, BAIPU, JINXIU_POINT, RUCHENG};

    fn built() -> yujing_engine::Built {
        let mut config = yujing_engine::EngineConfig::defaults();
        config.pii.demo = true;
        config.check().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A warning with one piece of evidence three days before it, in `town`, with a point or not.
    fn warning(
        id: &str,
        cluster: &str,
        level: WarningLevel,
        town: (&str, &str),
        raised: &str,
        point: bool,
    ) -> Warning {
        let raised_at = at(raised);
        let mut warning = in_town(yujing_test_support::warning(id, cluster, level, raised_at), town);
        warning.evidence = vec![WarningEvidence {
            clue_id: "grid:1".to_owned(),
            feed: yujing_model::FeedId::Grid,
            source_id: "1".to_owned(),
            occurred_at: raised_at - Duration::days(3),
            matched: Vec::new(),
            score: 0.0,
            risk_flags: BTreeSet::new(),
            people_involved: None,
        }];
        warning.location = point.then_some(JINXIU_POINT);
        warning
    }

    fn centre() -> Principal {
        Principal {
            actor: Actor {
                name: "centre".to_owned(),
                role: Role::Centre,
                unit: "如皋市社会治理现代化指挥中心".to_owned(),
            },
            town: None,
        }
    }

    fn order_of(warning: &Warning, built: &yujing_engine::Built, steps: &[Command]) -> WorkOrder {
        let events = WorkOrder::open(warning, &built.policy);
        let mut order = WorkOrder::from_first(&events[0]).unwrap_or_else(|| panic!("an opening event"));
        for event in &events[1..] {
            order.apply(event);
        }
        for command in steps {
            let events = order
                .decide(
                    command,
                    &centre().actor,
                    None,
                    warning.raised_at,
                    &built.policy,
                    None,
                )
                .unwrap_or_else(|e| panic!("{e}"));
            for event in &events {
                order.apply(event);
            }
        }
        order
    }

    /// 如城街道's dispute warned orange then red, with a point; 白蒲镇's two, one without a point.
    /// What the work-order stage keeps of `warnings`, as the board gets them.
    fn summaries(warnings: &[Warning]) -> Vec<WarningSummary> {
        warnings.iter().map(|w| WarningSummary::of(w, 0)).collect()
    }

    fn four_warnings() -> [Warning; 4] {
        [
            warning(
                "w-1",
                "k-1",
                WarningLevel::Orange,
                RUCHENG,
                "2026-06-08T07:20:00Z",
                true,
            ),
            warning(
                "w-2",
                "k-1",
                WarningLevel::Red,
                RUCHENG,
                "2026-06-12T00:00:00Z",
                true,
            ),
            warning(
                "w-3",
                "k-2",
                WarningLevel::Orange,
                BAIPU,
                "2026-06-14T02:20:00Z",
                false,
            ),
            warning(
                "w-4",
                "k-3",
                WarningLevel::Orange,
                BAIPU,
                "2026-06-01T02:20:00Z",
                true,
            ),
        ]
    }

    #[test]
    fn each_open_dispute_is_one_point_or_one_unlocated_and_a_closed_one_is_neither() {
        let built = built();
        let map = CountyMap::new(Arc::clone(&built.outline));
        let warnings = four_warnings();
        let dispatched = [Command::Dispatch { unit: None }];
        let closed = [
            Command::Dispatch { unit: None },
            Command::Accept,
            Command::Resolve {
                summary: "已化解".to_owned(),
            },
            Command::Verify {
                satisfaction: yujing_model::Satisfaction::Satisfied,
            },
            Command::Close,
        ];
        let orders = [
            order_of(&warnings[0], &built, &dispatched),
            order_of(&warnings[3], &built, &closed),
        ];
        let now = at("2026-06-20T00:00:00Z");
        let towns = built.normalizer.gazetteer().towns();
        let all = board(
            &summaries(&warnings),
            &orders,
            towns,
            &map,
            &centre(),
            &BoardFilter::default(),
            now,
        );

        assert_eq!(all.warnings_total, 4);
        let ids: Vec<&str> = all.warnings.iter().map(|w| w.warning_id.as_str()).collect();
        assert_eq!(ids, ["w-3", "w-2", "w-1", "w-4"], "newest first");
        assert!(!all.warnings[3].open, "k-3's order is closed");
        // k-1 once, by its red; k-2 has no point; k-3 is closed.
        assert_eq!(all.points.len(), 1);
        assert_eq!(
            (all.points[0].warning_id.as_str(), all.points[0].inside),
            ("w-2", true)
        );
        let row = |code: &str| {
            all.towns
                .iter()
                .find(|t| t.town_code == code)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!((row(RUCHENG.0).open_red, row(RUCHENG.0).open_orange), (1, 0));
        assert_eq!((row(BAIPU.0).open_orange, row(BAIPU.0).unlocated), (1, 1));
        // The dispatched order is past its acceptance deadline by now.
        assert_eq!(row(RUCHENG.0).overdue, 1);
        let column = |status: OrderStatus| all.columns.iter().find(|c| c.status == status).map(|c| c.total);
        assert_eq!(
            (column(OrderStatus::Dispatched), column(OrderStatus::Closed)),
            (Some(1), Some(1))
        );
        assert!(all.columns[2].orders[0].overdue);

        // A handler of 白蒲镇 sees 白蒲镇 alone; filters narrow what anyone sees.
        let baipu = Principal {
            actor: Actor {
                name: "baipu".to_owned(),
                role: Role::TownHandler,
                unit: "白蒲镇".to_owned(),
            },
            town: Some("白蒲镇".to_owned()),
        };
        let scoped = board(
            &summaries(&warnings),
            &orders,
            towns,
            &map,
            &baipu,
            &BoardFilter::default(),
            now,
        );
        assert_eq!(scoped.warnings_total, 2);
        assert!(scoped.towns.iter().all(|t| t.town_code == BAIPU.0));
        assert_eq!(
            scoped.choices.towns,
            vec![(BAIPU.0.to_owned(), BAIPU.1.to_owned())]
        );
        let red = BoardFilter {
            level: Some("red".to_owned()),
            ..BoardFilter::default()
        };
        assert_eq!(
            board(&summaries(&warnings), &orders, towns, &map, &centre(), &red, now).warnings_total,
            1
        );
        let dispatched_only = BoardFilter {
            state: Some("dispatched".to_owned()),
            ..BoardFilter::default()
        };
        let by_state = board(
            &summaries(&warnings),
            &orders,
            towns,
            &map,
            &centre(),
            &dispatched_only,
            now,
        );
        assert_eq!(
            by_state.warnings_total, 2,
            "k-1's two warnings, through their order"
        );
        assert_eq!(by_state.columns.len(), 1);
    }

    #[test]
    fn the_boards_of_the_shards_merge_into_the_board_of_the_whole() {
        let built = built();
        let map = CountyMap::new(Arc::clone(&built.outline));
        let warnings = four_warnings();
        let orders = [
            order_of(&warnings[0], &built, &[Command::Dispatch { unit: None }]),
            order_of(&warnings[2], &built, &[Command::Triage]),
            order_of(&warnings[3], &built, &[]),
        ];
        let now = at("2026-06-20T00:00:00Z");
        let towns = built.normalizer.gazetteer().towns();
        let filter = BoardFilter::default();
        let whole = board(
            &summaries(&warnings),
            &orders,
            towns,
            &map,
            &centre(),
            &filter,
            now,
        );
        // A shard per town, as a sharded store keeps them.
        let shard = |town: &str| {
            let warnings: Vec<WarningSummary> = summaries(&warnings)
                .into_iter()
                .filter(|w| w.subject.town_code == town)
                .collect();
            let orders: Vec<&WorkOrder> = orders.iter().filter(|o| o.subject.town_code == town).collect();
            // Each shard knows every town of the county, as every instance has the same gazetteer.
            board(&warnings, orders, towns, &map, &centre(), &filter, now)
        };
        let merged = merge(vec![shard(BAIPU.0), shard(RUCHENG.0)]).unwrap_or_else(|| panic!("two boards"));
        let json = |b: &Board| serde_json::to_value(b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json(&merged), json(&whole));
    }

    #[test]
    fn the_trend_ends_today_or_at_a_replayed_history_s_newest_day() {
        let built = built();
        let map = CountyMap::new(Arc::clone(&built.outline));
        let warnings = [
            warning(
                "w-1",
                "k-1",
                WarningLevel::Orange,
                RUCHENG,
                "2026-06-08T07:20:00Z",
                true,
            ),
            // 23:30 UTC is the next day in China.
            warning(
                "w-2",
                "k-1",
                WarningLevel::Red,
                RUCHENG,
                "2026-06-11T23:30:00Z",
                true,
            ),
        ];
        let towns = built.normalizer.gazetteer().towns();
        let trend = |now: &str| {
            board(
                &summaries(&warnings),
                &[],
                towns,
                &map,
                &centre(),
                &BoardFilter::default(),
                at(now),
            )
            .trend
        };

        let live = trend("2026-06-20T00:00:00Z");
        assert_eq!(live.to.to_string(), "2026-06-20");
        assert_eq!(live.days.len(), 30);
        let day = |t: &Trend, d: &str| {
            t.days
                .iter()
                .find(|x| x.day.to_string() == d)
                .map(|x| (x.orange, x.red))
        };
        assert_eq!(day(&live, "2026-06-08"), Some((1, 0)));
        assert_eq!(day(&live, "2026-06-12"), Some((0, 1)));

        let replayed = trend("2026-12-05T00:00:00Z");
        assert_eq!(replayed.to.to_string(), "2026-06-12", "{replayed:?}");
        assert_eq!(replayed.from.to_string(), "2026-05-14");
    }
}
