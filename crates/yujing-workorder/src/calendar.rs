//! The working-day calendar deadlines are counted on: working hours in local time, weekends, public holidays and
//! the weekend days worked in exchange (调休).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::WorkOrderConfigError;

/// How long a unit has, as configured: `2h`, `3d`, `same working day` or `7 working days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSpec {
    /// Elapsed hours, day and night (red warnings do not wait for office hours).
    Hours(u32),
    /// Elapsed calendar days.
    Days(u32),
    /// The end of the working day: of this one if it is a working day and not over, else of the next one.
    SameWorkingDay,
    /// The end of the n-th working day after the day it starts.
    WorkingDays(u32),
}

impl FromStr for DeadlineSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<DeadlineSpec, String> {
        let t = text.trim().to_lowercase();
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        let bad = || {
            format!(
                "'{text}' is not a deadline: write e.g. \"2h\", \"24h\", \"3d\", \"same working day\" or \"7 working days\""
            )
        };
        if t == "same working day" {
            return Ok(DeadlineSpec::SameWorkingDay);
        }
        if let Some(n) = t
            .strip_suffix(" working days")
            .or_else(|| t.strip_suffix(" working day"))
        {
            return n.trim().parse().map(DeadlineSpec::WorkingDays).map_err(|_| bad());
        }
        if let Some(n) = t.strip_suffix('h') {
            return n.trim().parse().map(DeadlineSpec::Hours).map_err(|_| bad());
        }
        if let Some(n) = t.strip_suffix('d') {
            return n.trim().parse().map(DeadlineSpec::Days).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl fmt::Display for DeadlineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlineSpec::Hours(n) => write!(f, "{n}h"),
            DeadlineSpec::Days(n) => write!(f, "{n}d"),
            DeadlineSpec::SameWorkingDay => f.write_str("same working day"),
            DeadlineSpec::WorkingDays(n) => write!(f, "{n} working days"),
        }
    }
}

impl Serialize for DeadlineSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeadlineSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DeadlineSpec, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The calendar as configured (`[workorders.calendar]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// The local time zone as an offset from UTC (`+08:00`).
    pub utc_offset: String,
    /// When the working day starts, local time (`08:30`).
    pub work_start: String,
    /// When it ends, local time (`17:30`).
    pub work_end: String,
    /// Public holidays: dates (`2026-10-01`) or inclusive ranges (`2026-10-01..2026-10-07`).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Weekend days that are worked (调休上班), as dates.
    #[serde(default)]
    pub working_weekends: Vec<String>,
}

/// The working-day calendar, built from [`CalendarConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingCalendar {
    offset: FixedOffset,
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

fn parse_date(text: &str, what: &str) -> Result<NaiveDate, WorkOrderConfigError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| WorkOrderConfigError::Invalid {
        field: what.to_owned(),
        reason: format!("'{text}' is not a date like 2026-10-01"),
    })
}

impl WorkingCalendar {
    /// Builds the calendar, naming every field that is wrong.
    pub fn new(config: &CalendarConfig) -> Result<WorkingCalendar, Vec<WorkOrderConfigError>> {
        let mut errors = Vec::new();
        let offset =
            DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", config.utc_offset.trim()))
                .map(|t| *t.offset())
                .map_err(|_| WorkOrderConfigError::Invalid {
                    field: "workorders.calendar.utc_offset".to_owned(),
                    reason: format!("'{}' is not an offset like +08:00", config.utc_offset),
                });
        let time = |text: &str, field: &str| {
            NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| WorkOrderConfigError::Invalid {
                field: format!("workorders.calendar.{field}"),
                reason: format!("'{text}' is not a time like 08:30"),
            })
        };
        let start = time(&config.work_start, "work_start");
        let end = time(&config.work_end, "work_end");
        let mut holidays = BTreeSet::new();
        for entry in &config.holidays {
            let parsed = match entry.split_once("..") {
                Some((from, to)) => parse_date(from, "workorders.calendar.holidays")
                    .and_then(|from| Ok((from, parse_date(to, "workorders.calendar.holidays")?))),
                None => parse_date(entry, "workorders.calendar.holidays").map(|d| (d, d)),
            };
            match parsed {
                Ok((from, to)) if from <= to && (to - from).num_days() < 60 => {
                    holidays.extend(from.iter_days().take_while(|d| *d <= to));
                }
                Ok(_) => errors.push(WorkOrderConfigError::Invalid {
                    field: "workorders.calendar.holidays".to_owned(),
                    reason: format!("'{entry}' is not a range of at most 60 days, first date first"),
                }),
                Err(e) => errors.push(e),
            }
        }
        let mut working_weekends = BTreeSet::new();
        for entry in &config.working_weekends {
            match parse_date(entry, "workorders.calendar.working_weekends") {
                Ok(d) => {
                    working_weekends.insert(d);
                }
                Err(e) => errors.push(e),
            }
        }
        match (offset, start, end) {
            (Ok(offset), Ok(start), Ok(end)) if start < end && errors.is_empty() => Ok(WorkingCalendar {
                offset,
                start,
                end,
                holidays,
                working_weekends,
            }),
            (offset, start, end) => {
                for e in [
                    offset.err(),
                    start.as_ref().err().cloned(),
                    end.as_ref().err().cloned(),
                ]
                .into_iter()
                .flatten()
                {
                    errors.push(e);
                }
                if let (Ok(s), Ok(e)) = (start, end) {
                    if s >= e {
                        errors.push(WorkOrderConfigError::Invalid {
                            field: "workorders.calendar.work_end".to_owned(),
                            reason: "the working day must end after it starts".to_owned(),
                        });
                    }
                }
                Err(errors)
            }
        }
    }

    /// Whether `day` (local) is a working day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working_weekends.contains(&day) {
            return true;
        }
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.offset).date_naive()
    }

    fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        match self.offset.from_local_datetime(&day.and_time(self.end)).single() {
            Some(t) => t.with_timezone(&Utc),
            // A fixed offset has no gaps or folds.
            None => Utc.from_utc_datetime(&day.and_time(self.end)),
        }
    }

    fn next_working_day(&self, mut day: NaiveDate) -> NaiveDate {
        loop {
            day = day.succ_opt().unwrap_or(day);
            if self.is_working_day(day) {
                return day;
            }
        }
    }

    /// The deadline `spec` gives something started at `from`.
    pub fn deadline(&self, from: DateTime<Utc>, spec: DeadlineSpec) -> DateTime<Utc> {
        let local = from.with_timezone(&self.offset);
        let day = local.date_naive();
        match spec {
            DeadlineSpec::Hours(n) => from + Duration::hours(i64::from(n)),
            DeadlineSpec::Days(n) => from + Duration::days(i64::from(n)),
            DeadlineSpec::SameWorkingDay => {
                if self.is_working_day(day) && local.time() < self.end {
                    self.end_of(day)
                } else {
                    self.end_of(self.next_working_day(day))
                }
            }
            DeadlineSpec::WorkingDays(n) => {
                let mut day = day;
                for _ in 0..n.max(1) {
                    day = self.next_working_day(day);
                }
                self.end_of(day)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new(&CalendarConfig {
            utc_offset: "+08:00".to_owned(),
            work_start: "08:30".to_owned(),
            work_end: "17:30".to_owned(),
            holidays: vec![
                "2026-10-01..2026-10-07".to_owned(),
                "2026-06-19..2026-06-21".to_owned(),
            ],
            working_weekends: vec!["2026-10-10".to_owned()],
        })
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn deadline_specs_parse_and_print() {
        for text in [
            "2h",
            "24h",
            "3d",
            "same working day",
            "7 working days",
            "1 working day",
        ] {
            let spec: DeadlineSpec = text.parse().unwrap_or_else(|e: String| panic!("{e}"));
            let again: DeadlineSpec = spec.to_string().parse().unwrap_or_else(|e: String| panic!("{e}"));
            assert_eq!(spec, again);
        }
        assert!("soon".parse::<DeadlineSpec>().is_err());
        assert!("x working days".parse::<DeadlineSpec>().is_err());
    }

    #[test]
    fn same_working_day_ends_today_or_on_the_next_working_day() {
        let c = calendar();
        // Monday 15:20 local: today at 17:30.
        assert_eq!(
            c.deadline(at("2026-06-08T15:20:00+08:00"), DeadlineSpec::SameWorkingDay),
            at("2026-06-08T17:30:00+08:00")
        );
        // Friday 18:00: Monday.
        assert_eq!(
            c.deadline(at("2026-06-12T18:00:00+08:00"), DeadlineSpec::SameWorkingDay),
            at("2026-06-15T17:30:00+08:00")
        );
        // Thursday 2026-06-18 after hours; 19-21 Dragon Boat holiday: Monday 22nd.
        assert_eq!(
            c.deadline(at("2026-06-18T20:00:00+08:00"), DeadlineSpec::SameWorkingDay),
            at("2026-06-22T17:30:00+08:00")
        );
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_count_makeup_days() {
        let c = calendar();
        // Monday + 7 working days: Wednesday of the next week.
        assert_eq!(
            c.deadline(at("2026-06-08T15:20:00+08:00"), DeadlineSpec::WorkingDays(7)),
            at("2026-06-17T17:30:00+08:00")
        );
        // 30 September + 2 working days: the National Day week is off, Thursday 8th and Friday 9th count.
        assert_eq!(
            c.deadline(at("2026-09-30T10:00:00+08:00"), DeadlineSpec::WorkingDays(2)),
            at("2026-10-09T17:30:00+08:00")
        );
        // Saturday 10 October is worked.
        assert_eq!(
            c.deadline(at("2026-09-30T10:00:00+08:00"), DeadlineSpec::WorkingDays(3)),
            at("2026-10-10T17:30:00+08:00")
        );
        // Hours run day and night.
        assert_eq!(
            c.deadline(at("2026-10-01T23:00:00+08:00"), DeadlineSpec::Hours(2)),
            at("2026-10-02T01:00:00+08:00")
        );
    }

    #[test]
    fn bad_calendars_name_every_wrong_field() {
        let errors = WorkingCalendar::new(&CalendarConfig {
            utc_offset: "China".to_owned(),
            work_start: "8.30".to_owned(),
            work_end: "17:30".to_owned(),
            holidays: vec!["2026-13-01".to_owned(), "2026-10-07..2026-10-01".to_owned()],
            working_weekends: vec!["soon".to_owned()],
        })
        .err()
        .unwrap_or_default();
        assert_eq!(errors.len(), 5, "{errors:?}");
    }
}
