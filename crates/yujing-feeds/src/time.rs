//! Reading the feeds' times and dates into UTC instants.
//!
//! Local times without a zone are Asia/Shanghai, which has been UTC+08:00 all year since 1991, so a fixed
//! offset is exact. The feeds write times in half a dozen styles (`2026-06-03 08:41:22`, `2026/6/7 21:14:05`,
//! `2026年6月10日`, `20260609`, RFC 3339, epoch milliseconds); one tolerant reader takes them all and rejects
//! impossible values (month 13, 30 February) with a reason that quotes the value.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// The offset of Asia/Shanghai.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The earliest and latest years accepted: anything outside is a typo, not a dispute.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// A time that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is empty.
    #[error("the time is empty")]
    Empty,
    /// The text is not in any accepted style.
    #[error("'{0}' is not a date or time in an accepted style")]
    Unreadable(String),
    /// The text names a date or time that does not exist.
    #[error("'{0}' is an impossible date or time")]
    Impossible(String),
}

/// A local (Asia/Shanghai) date or date-time, or an RFC 3339 instant with its own offset, as UTC.
///
/// A date without a time means the start of that day, local time.
pub fn parse_local(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TimeError::Empty);
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return in_range(instant.with_timezone(&Utc), text);
    }
    let local = parse_naive(text)?;
    let instant = shanghai()
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| TimeError::Impossible(text.to_owned()))?;
    in_range(instant.with_timezone(&Utc), text)
}

/// Epoch milliseconds as a UTC instant.
pub fn from_epoch_millis(millis: i64) -> Result<DateTime<Utc>, TimeError> {
    let instant = DateTime::<Utc>::from_timestamp_millis(millis)
        .ok_or_else(|| TimeError::Impossible(millis.to_string()))?;
    in_range(instant, &millis.to_string())
}

fn in_range(instant: DateTime<Utc>, text: &str) -> Result<DateTime<Utc>, TimeError> {
    use chrono::Datelike;
    if YEARS.contains(&instant.year()) {
        Ok(instant)
    } else {
        Err(TimeError::Impossible(text.to_owned()))
    }
}

fn parse_naive(text: &str) -> Result<NaiveDateTime, TimeError> {
    let unreadable = || TimeError::Unreadable(text.to_owned());
    let impossible = || TimeError::Impossible(text.to_owned());
    // A compact date, YYYYMMDD.
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let (y, m, d) = (&text[..4], &text[4..6], &text[6..]);
        let date = date_from(y, m, d).ok_or_else(impossible)?;
        return Ok(date.and_time(NaiveTime::MIN));
    }
    // Otherwise: digit groups separated by the separators the feeds use.
    let allowed = |c: char| matches!(c, '-' | '/' | ' ' | ':' | 'T' | '.' | '年' | '月' | '日');
    if !text.chars().all(|c| c.is_ascii_digit() || allowed(c)) {
        return Err(unreadable());
    }
    let groups: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    if !(groups.len() == 3 || groups.len() == 5 || groups.len() == 6) || groups[0].len() != 4 {
        return Err(unreadable());
    }
    if groups[1..].iter().any(|g| g.len() > 2) {
        return Err(unreadable());
    }
    let date = date_from(groups[0], groups[1], groups[2]).ok_or_else(impossible)?;
    let time = match groups.len() {
        3 => NaiveTime::MIN,
        _ => {
            let h = groups[3].parse().map_err(|_| unreadable())?;
            let m = groups[4].parse().map_err(|_| unreadable())?;
            let s = groups
                .get(5)
                .map_or(Ok(0), |s| s.parse())
                .map_err(|_| unreadable())?;
            NaiveTime::from_hms_opt(h, m, s).ok_or_else(impossible)?
        }
    };
    Ok(date.and_time(time))
}

fn date_from(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_every_style_the_feeds_use() {
        let at = utc("2026-06-07T13:14:05Z");
        assert_eq!(parse_local("2026-06-07 21:14:05"), Ok(at));
        assert_eq!(parse_local("2026/6/7 21:14:05"), Ok(at));
        assert_eq!(parse_local("2026-06-07T21:14:05"), Ok(at));
        assert_eq!(parse_local("2026-06-07T21:14:05+08:00"), Ok(at));
        let day = utc("2026-06-09T16:00:00Z");
        assert_eq!(parse_local("2026-06-10"), Ok(day));
        assert_eq!(parse_local("2026年6月10日"), Ok(day));
        assert_eq!(parse_local("20260610"), Ok(day));
        assert_eq!(
            from_epoch_millis(1_780_710_320_000),
            Ok(utc("2026-06-06T01:45:20Z"))
        );
    }

    #[test]
    fn rejects_impossible_and_unreadable_times() {
        assert!(matches!(parse_local("2026-02-30"), Err(TimeError::Impossible(_))));
        assert!(matches!(
            parse_local("2026-13-01 10:00:00"),
            Err(TimeError::Impossible(_))
        ));
        assert!(matches!(
            parse_local("2026-06-01 25:00:00"),
            Err(TimeError::Impossible(_))
        ));
        assert!(matches!(parse_local("1899-06-01"), Err(TimeError::Impossible(_))));
        assert!(matches!(parse_local("yesterday"), Err(TimeError::Unreadable(_))));
        assert_eq!(parse_local("  "), Err(TimeError::Empty));
        assert!(from_epoch_millis(i64::MAX).is_err());
    }
}
