//! The generator: disputes, their reports through the six feeds, and the files those feeds would export.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use yujing_feeds::Gazetteer;
use yujing_model::{DisputeType, FeedId};

use crate::truth::TruthRecord;
use crate::vocab::{self, Issue};

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The seed: the same seed gives the same files, byte for byte.
    pub seed: u64,
    /// How many disputes.
    pub disputes: usize,
    /// The first day reports may fall on.
    pub start: NaiveDate,
    /// How many days the reports span.
    pub days: u32,
    /// Residential estates per town. Fewer estates mean more different disputes at one estate: harder.
    pub estates_per_town: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            disputes: 20_000,
            start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            days: 365,
            estates_per_town: 60,
        }
    }
}

/// A simulated data set: export files and the truth beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The seed it was made with.
    pub seed: u64,
    /// How many disputes were asked for.
    pub disputes: usize,
    /// Export files by name, in the feeds' real formats and encodings.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Every valid dispute record and the dispute it reports.
    pub records: Vec<TruthRecord>,
    /// The malformed or non-dispute records written (which must not appear in clusters), as (feed, source id).
    pub noise: Vec<(FeedId, String)>,
    /// How many re-deliveries were written (same record again, maybe with a new status).
    pub redeliveries: usize,
}

/// When each (place, issue) already has a dispute open: the spans of its reports.
type Occupied = BTreeMap<(String, usize), Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>)>>;

/// Beijing time.
pub(crate) fn beijing() -> FixedOffset {
    yujing_feeds::time::shanghai()
}

#[derive(Debug, Clone)]
struct Person {
    surname: &'static str,
    given: Vec<&'static str>,
    female: bool,
    phone: String,
    id_number: String,
}

impl Person {
    fn full(&self) -> String {
        let mut s = self.surname.to_owned();
        for g in &self.given {
            s.push_str(g);
        }
        s
    }

    /// The name as a reporter gives it this time: in full, as 张先生, with a homophone character, or not at all.
    fn variant(&self, rng: &mut ChaCha8Rng) -> Option<String> {
        let roll: f64 = rng.random();
        if roll < 0.55 {
            Some(self.full())
        } else if roll < 0.72 {
            Some(format!(
                "{}{}",
                self.surname,
                if self.female { "女士" } else { "先生" }
            ))
        } else if roll < 0.90 {
            let mut s = self.surname.to_owned();
            let mut changed = false;
            for g in &self.given {
                match vocab::homophone(g) {
                    Some(h) if !changed => {
                        s.push_str(h);
                        changed = true;
                    }
                    _ => s.push_str(g),
                }
            }
            Some(s)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
enum Place {
    Estate {
        estate: String,
        road: &'static str,
        building: Option<u32>,
    },
    Village {
        group: u32,
    },
    Workplace {
        road: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Dispute {
    id: String,
    town: usize,
    community: usize,
    place: Place,
    dispute_type: DisputeType,
    issues: Vec<&'static Issue>,
    parties: Vec<Person>,
    counter_org: Option<String>,
    counter_person: Option<Person>,
    /// The report (by index) that carries a severe sign, and its phrase.
    severe: Option<(usize, &'static str)>,
    /// People involved, when a crowd is part of it.
    crowd: Option<u32>,
    times: Vec<DateTime<FixedOffset>>,
}

/// Everything a feed writer needs about one report.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub dispute_id: String,
    pub feed: FeedId,
    pub at: DateTime<FixedOffset>,
    pub town_name: String,
    pub town_short: String,
    pub town_code: String,
    pub police_station: String,
    pub community_name: String,
    pub community_code: String,
    pub address: String,
    pub estate: Option<String>,
    pub dispute_type: DisputeType,
    pub title: String,
    pub description: String,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub reporter_id: Option<String>,
    /// (full name, phone, ID number) of each party on the complaining side.
    pub parties: Vec<(String, String, String)>,
    pub counter_org: Option<String>,
    pub counter_person: Option<String>,
    pub people: Option<u32>,
    pub severe: bool,
}

/// Generate a data set.
pub fn simulate(config: &SimConfig, gazetteer: &Gazetteer) -> Simulation {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let towns = gazetteer.towns();
    let communities = gazetteer.communities();
    // Estates per town, from a pool of name parts: a small pool makes different disputes share estates.
    let estates: Vec<Vec<String>> = towns
        .iter()
        .map(|_| vocab::estate_names(&mut rng, config.estates_per_town.max(1)))
        .collect();
    let start = beijing()
        .from_local_datetime(&config.start.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .unwrap_or_else(|| Utc::now().with_timezone(&beijing()));

    let mut disputes = Vec::with_capacity(config.disputes);
    let mut occupied: Occupied = BTreeMap::new();
    for n in 0..config.disputes {
        let town = rng.random_range(0..towns.len());
        let town_code = &towns[town].code;
        let local: Vec<usize> = (0..communities.len())
            .filter(|&c| &communities[c].town_code == town_code)
            .collect();
        let community = *local.choose(&mut rng).unwrap_or(&0);
        let dispute_type = vocab::pick_type(&mut rng);
        let place = match dispute_type {
            DisputeType::Property => Place::Estate {
                estate: estates[town].choose(&mut rng).cloned().unwrap_or_default(),
                road: vocab::ROADS.choose(&mut rng).copied().unwrap_or("人民路"),
                building: rng.random_bool(0.7).then(|| rng.random_range(1..=24)),
            },
            DisputeType::Labour | DisputeType::Contract | DisputeType::Pollution | DisputeType::Consumer => {
                Place::Workplace {
                    road: vocab::ROADS.choose(&mut rng).copied().unwrap_or("人民路"),
                }
            }
            _ if rng.random_bool(0.35) => Place::Estate {
                estate: estates[town].choose(&mut rng).cloned().unwrap_or_default(),
                road: vocab::ROADS.choose(&mut rng).copied().unwrap_or("人民路"),
                building: rng.random_bool(0.8).then(|| rng.random_range(1..=24)),
            },
            _ => Place::Village {
                group: rng.random_range(1..=16),
            },
        };
        let reports = vocab::report_count(&mut rng);
        let latest_first = i64::from(config.days.saturating_sub(45).max(1));
        let mut at =
            start + Duration::minutes(rng.random_range(0..latest_first * 24 * 60)) + Duration::hours(7);
        let mut times = Vec::with_capacity(reports);
        for i in 0..reports {
            if i > 0 {
                // Reports come in bursts: a few days apart, now and then a long pause (a new episode).
                let gap_hours = if rng.random_bool(0.03) {
                    rng.random_range(35 * 24..60 * 24)
                } else {
                    let mean = 3.5 * 24.0;
                    let u: f64 = rng.random_range(0.0001..1.0);
                    ((-u.ln() * mean) as i64).clamp(1, 20 * 24)
                };
                at += Duration::hours(gap_hours) + Duration::minutes(rng.random_range(0..60));
            }
            times.push(at);
        }
        // One place has one dispute about one issue at a time: residents reporting the same broken lift of an
        // estate within weeks report one dispute. So an issue already open at this place (within a month of
        // this dispute's reports) is not drawn again; different issues at one place are the confusable
        // non-duplicates.
        let place_key = match &place {
            Place::Estate { estate, .. } => format!("{town}/{estate}"),
            Place::Village { group } => format!("{community}/{group}"),
            Place::Workplace { road } => format!("{town}/{road}"),
        };
        let (first_at, last_at) = (times[0], times[times.len() - 1]);
        let busy = |occupied: &Occupied, issue: usize| {
            occupied.get(&(place_key.clone(), issue)).is_some_and(|spans| {
                spans
                    .iter()
                    .any(|(a, b)| first_at <= *b + Duration::days(30) && *a <= last_at + Duration::days(30))
            })
        };
        let issues = vocab::issues_of(dispute_type);
        let mut first = rng.random_range(0..issues.len());
        for _ in 0..8 {
            if !busy(&occupied, first) {
                break;
            }
            first = rng.random_range(0..issues.len());
        }
        let mut chosen = vec![first];
        if issues.len() > 2 && rng.random_bool(0.4) {
            let second = (first + 1 + rng.random_range(0..issues.len() - 1)) % issues.len();
            if !busy(&occupied, second) {
                chosen.push(second);
            }
        }
        for &issue in &chosen {
            occupied
                .entry((place_key.clone(), issue))
                .or_default()
                .push((first_at, last_at));
        }
        let chosen: Vec<&'static vocab::Issue> = chosen.into_iter().map(|i| &issues[i]).collect();
        // In villages, neighbours often share a surname: draw from the community's few clans.
        let clan = vocab::clan_surnames(communities[community].code.as_str());
        let party_count = match dispute_type {
            DisputeType::Property | DisputeType::Labour => rng.random_range(1..=3),
            _ => rng.random_range(1..=2),
        };
        let parties: Vec<Person> = (0..party_count)
            .map(|_| person(&mut rng, (matches!(place, Place::Village { .. })).then_some(clan)))
            .collect();
        let counter_org = match dispute_type {
            // An estate has one property company, whoever complains about it.
            DisputeType::Property => match &place {
                Place::Estate { estate, .. } => Some(vocab::estate_company(town, estate)),
                _ => Some(vocab::org_name(&mut rng, "物业服务有限公司")),
            },
            DisputeType::Labour => Some(vocab::org_name(&mut rng, "服饰有限公司")),
            DisputeType::Pollution => Some(vocab::org_name(&mut rng, "化工有限公司")),
            DisputeType::Consumer => Some(vocab::org_name(&mut rng, "商贸有限公司")),
            _ => None,
        };
        let counter_person = counter_org
            .is_none()
            .then(|| person(&mut rng, (matches!(place, Place::Village { .. })).then_some(clan)));

        let severe = rng.random_bool(0.05).then(|| {
            (
                rng.random_range(0..reports),
                *vocab::SEVERE.choose(&mut rng).unwrap_or(&""),
            )
        });
        let crowd = (matches!(
            dispute_type,
            DisputeType::Property | DisputeType::Labour | DisputeType::LandExpropriation
        ) && rng.random_bool(0.06))
        .then(|| rng.random_range(50..120));
        disputes.push(Dispute {
            id: format!("D{n:06}"),
            town,
            community,
            place,
            dispute_type,
            issues: chosen,
            parties,
            counter_org,
            counter_person,
            severe,
            crowd,
            times,
        });
    }

    // Reports in event-time order, so each feed's files and ids run forward in time like a real export.
    let mut reports = Vec::new();
    for dispute in &disputes {
        for (index, &at) in dispute.times.iter().enumerate() {
            let feed = vocab::pick_feed(&mut rng, dispute.dispute_type);
            reports.push(build_report(&mut rng, gazetteer, dispute, index, feed, at));
        }
    }
    reports.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.dispute_id.cmp(&b.dispute_id)));
    let mut writer = crate::formats::Writers::default();
    let mut records = Vec::new();
    for report in &reports {
        let (source_id, occurred_at) = writer.write(&mut rng, report);
        records.push(TruthRecord {
            feed: report.feed,
            source_id,
            dispute_id: report.dispute_id.clone(),
            occurred_at,
            severe: report.severe,
            people: report.people,
        });
    }
    let (files, noise, redeliveries) = writer.finish();
    Simulation {
        seed: config.seed,
        disputes: config.disputes,
        files,
        records,
        noise,
        redeliveries,
    }
}

fn person(rng: &mut ChaCha8Rng, clan: Option<&'static [&'static str]>) -> Person {
    let surname = match clan {
        Some(clan) if rng.random_bool(0.6) => clan.choose(rng).copied().unwrap_or("张"),
        _ => vocab::SURNAMES.choose(rng).copied().unwrap_or("张"),
    };
    let female = rng.random_bool(0.5);
    let pool = if female {
        vocab::GIVEN_FEMALE
    } else {
        vocab::GIVEN_MALE
    };
    let len = if rng.random_bool(0.7) { 2 } else { 1 };
    let given = (0..len)
        .map(|_| pool.choose(rng).copied().unwrap_or("明"))
        .collect();
    let prefix = [
        "139", "138", "137", "135", "158", "159", "152", "187", "188", "180", "189", "177", "199",
    ]
    .choose(rng)
    .copied()
    .unwrap_or("139");
    let phone = format!("{prefix}{:08}", rng.random_range(0..100_000_000u32));
    let birth = NaiveDate::from_ymd_opt(
        rng.random_range(1950..2002),
        rng.random_range(1..=12),
        rng.random_range(1..=28),
    )
    .unwrap_or_default();
    let id_number = format!(
        "320682{}{:03}{}",
        birth.format("%Y%m%d"),
        rng.random_range(0..1000),
        rng.random_range(0..10)
    );
    Person {
        surname,
        given,
        female,
        phone,
        id_number,
    }
}

fn build_report(
    rng: &mut ChaCha8Rng,
    gazetteer: &Gazetteer,
    dispute: &Dispute,
    index: usize,
    feed: FeedId,
    at: DateTime<FixedOffset>,
) -> Report {
    let town = &gazetteer.towns()[dispute.town];
    let community = &gazetteer.communities()[dispute.community];
    // Who reports: the main party, another party, or a bystander (a neighbour, a passer-by).
    let roll: f64 = rng.random();
    let reporter = if roll < 0.6 || dispute.parties.len() == 1 && roll < 0.85 {
        dispute.parties[0].clone()
    } else if roll < 0.85 {
        dispute.parties[1 + rng.random_range(0..dispute.parties.len() - 1)].clone()
    } else {
        person(rng, None)
    };
    let reporter_name = reporter.variant(rng);
    let (address, estate_written) = match &dispute.place {
        Place::Estate {
            estate,
            road,
            building,
        } => {
            let written = if rng.random_bool(0.15) {
                vocab::estate_homophone(estate).unwrap_or_else(|| estate.clone())
            } else {
                estate.clone()
            };
            let b =
                building.map(|b| format!("{b}{}", ["幢", "栋", "号楼"].choose(rng).copied().unwrap_or("幢")));
            let b = b.unwrap_or_default();
            // One in ten names the estate's phase, as residents of a phased estate do.
            let phase = if rng.random_bool(0.1) {
                ["一期", "二期", "三期"].choose(rng).copied().unwrap_or("二期")
            } else {
                ""
            };
            let roll: f64 = rng.random();
            let address = if roll < 0.35 {
                format!(
                    "如皋市{}{road}{written}{phase}{b}",
                    town.name.trim_start_matches("如皋市")
                )
            } else if roll < 0.55 {
                format!("{}{written}{phase}", town.name)
            } else if roll < 0.8 {
                format!("{written}{phase}小区{b}")
            } else {
                format!("{}{written}{phase}{b}", town.short)
            };
            (address, Some(written))
        }
        Place::Village { group } => {
            let roll: f64 = rng.random();
            let address = if roll < 0.5 {
                format!("{}{}{group}组", town.name, community.name)
            } else if roll < 0.8 {
                format!("{}{group}组", community.name)
            } else {
                format!("{}{}", town.short, community.name)
            };
            (address, None)
        }
        Place::Workplace { road } => {
            let address = if rng.random_bool(0.5) {
                format!("{}{road}", town.name)
            } else {
                format!("{}工业园区{road}", town.name)
            };
            (address, None)
        }
    };
    let severe = dispute.severe.is_some_and(|(i, _)| i == index);
    let mut text = String::new();
    if rng.random_bool(0.5) {
        match &dispute.place {
            Place::Estate {
                building: Some(b), ..
            } => text.push_str(&format!("{}{b}幢", estate_written.clone().unwrap_or_default())),
            Place::Estate { .. } => text.push_str(&estate_written.clone().unwrap_or_default()),
            Place::Village { group } => text.push_str(&format!("{}{group}组", community.name)),
            Place::Workplace { .. } => {
                if let Some(org) = &dispute.counter_org {
                    text.push_str(org.trim_start_matches("如皋市"));
                }
            }
        }
    }
    for issue in &dispute.issues {
        if !text.is_empty() {
            text.push('，');
        }
        text.push_str(issue.phrasings.choose(rng).copied().unwrap_or(""));
    }
    if rng.random_bool(0.6) {
        text.push('，');
        text.push_str(vocab::FILLERS.choose(rng).copied().unwrap_or(""));
    }
    if severe {
        text.push('，');
        text.push_str(dispute.severe.map(|s| s.1).unwrap_or(""));
    } else if rng.random_bool(0.12) {
        text.push('，');
        text.push_str(vocab::LESSER.choose(rng).copied().unwrap_or(""));
    }
    let people_field = matches!(feed, FeedId::Grid | FeedId::Screening | FeedId::Exchange);
    let people = if !people_field {
        None
    } else if let Some(n) = dispute.crowd.filter(|_| index > 0 || rng.random_bool(0.5)) {
        text.push_str(&format!("，约{n}人"));
        Some(n)
    } else {
        Some(dispute.parties.len() as u32 + u32::from(dispute.counter_person.is_some()))
    };
    text.push('，');
    text.push_str(vocab::REQUESTS.choose(rng).copied().unwrap_or("。"));
    let title = dispute.issues[0].phrasings[0].to_owned();
    Report {
        dispute_id: dispute.id.clone(),
        feed,
        at,
        town_name: town.name.clone(),
        town_short: town.short.clone(),
        town_code: town.code.clone(),
        police_station: town.police_station.clone(),
        community_name: community.name.clone(),
        community_code: community.code.clone(),
        address,
        estate: estate_written,
        dispute_type: dispute.dispute_type,
        title,
        description: text,
        reporter_name,
        reporter_phone: Some(reporter.phone.clone()),
        reporter_id: Some(reporter.id_number.clone()),
        parties: dispute
            .parties
            .iter()
            .map(|p| (p.full(), p.phone.clone(), p.id_number.clone()))
            .collect(),
        counter_org: dispute.counter_org.clone(),
        counter_person: dispute.counter_person.as_ref().map(Person::full),
        people,
        severe,
    }
}
