//! The tables `yujing` prints for people, beside the JSON Lines it prints for programs.
//!
//! Each table is a [`Display`]: a report type displays itself, and a list of records foreign to this crate is
//! wrapped (`WarningTable(&warnings)`). The binary then only chooses between a table and JSON. Every value
//! shown is already masked or redacted in the records themselves; a table adds no personal data.

use std::fmt::{self, Display, Formatter};

use yujing_correlate::{Explanation, RuleTestOutcome};
use yujing_model::{DeadLetter, Warning, WorkOrderEvent};
use yujing_workorder::WorkOrder;

use crate::ingest::IngestReport;
use crate::pipeline::StepReport;
use crate::refused::RefusedDelivery;
use crate::vocab::{mapping_config, UnmappedWord};

/// Warnings, one line each: id, level, when raised (+08:00), cluster, count, rule and feeds.
pub struct WarningTable<'a>(pub &'a [Warning]);

impl Display for WarningTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} feeds",
            "warning", "level", "raised at (+08:00)", "cluster", "count", "rule"
        )?;
        let china = yujing_feeds::time::shanghai();
        for w in self.0 {
            let feeds: Vec<&str> = w.feeds.iter().map(|f| f.as_str()).collect();
            writeln!(
                f,
                "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} {}",
                w.warning_id,
                w.level.as_str(),
                w.raised_at.with_timezone(&china).format("%Y-%m-%d %H:%M:%S"),
                w.cluster_id,
                w.occurrences,
                w.rule,
                feeds.join(",")
            )?;
        }
        Ok(())
    }
}

/// The files ingested with their counts and a total, the files skipped, and where the rejected records are.
impl Display for IngestReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
            "file", "feed", "records", "clues", "versions", "dupes", "not-dispute", "rejected"
        )?;
        for file in self.files.iter().chain(std::iter::once(&self.total)) {
            let feed = file.feed.map_or(String::new(), |feed| feed.to_string());
            let name = if file.file.is_empty() {
                "TOTAL"
            } else {
                file.file.as_str()
            };
            writeln!(
                f,
                "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
                name,
                feed,
                file.records,
                file.new_clues,
                file.new_versions,
                file.duplicates,
                file.not_disputes,
                file.rejected
            )?;
        }
        if !self.skipped.is_empty() {
            let names: Vec<&str> = self
                .skipped
                .iter()
                .map(|s| {
                    std::path::Path::new(s)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or(s)
                })
                .collect();
            writeln!(
                f,
                "skipped {} file(s) not named after a feed: {}",
                names.len(),
                names.join(", ")
            )?;
        }
        if self.total.rejected > 0 {
            writeln!(f, "rejected records are listed by `yujing deadletter`")?;
        }
        Ok(())
    }
}

/// The warnings a step raised and the work orders it opened (nothing when it did neither).
impl Display for StepReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.warnings.is_empty() {
            write!(f, "\nnew warnings:\n{}", WarningTable(&self.warnings))?;
        }
        let opened: Vec<&str> = self
            .order_events
            .iter()
            .filter(|e| e.seq == 1)
            .map(|e| e.order_id.as_str())
            .collect();
        match opened.len() {
            0 => Ok(()),
            // A handful by id; a history's worth as a count.
            1..=10 => writeln!(
                f,
                "\nwork orders opened: {} (`yujing orders` lists them)",
                opened.join(", ")
            ),
            n => writeln!(f, "\n{n} work orders opened (`yujing orders` lists them)"),
        }
    }
}

/// Work orders, one line each (id, level, status, town, type, unit, escalations, place), and their number.
pub struct OrderTable<'a>(pub &'a [&'a WorkOrder]);

impl Display for OrderTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for order in self.0 {
            let subject = &order.subject;
            writeln!(
                f,
                "{:<24} {:<6} {:<11} {:<12} {:<10} {:<24} esc {} {}",
                order.order_id,
                order.level.as_str(),
                order.status.as_str(),
                subject.town_name.as_deref().unwrap_or(&subject.town_code),
                subject.dispute_type.name(),
                order.unit.as_deref().unwrap_or("-"),
                order.escalation_level,
                subject.place.as_deref().unwrap_or("")
            )?;
        }
        writeln!(f, "{} work order(s)", self.0.len())
    }
}

/// One work order's audit trail: each event's sequence, time, change, actor and reason.
pub struct OrderTrail<'a>(pub &'a [WorkOrderEvent]);

impl Display for OrderTrail<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for event in self.0 {
            write!(
                f,
                "{:>3} {} {:<13} {:<12} {:<16} {}",
                event.seq,
                event.at.format("%Y-%m-%d %H:%M"),
                event.change.name(),
                event.actor.role.as_str(),
                event.actor.name,
                event.actor.unit
            )?;
            match &event.reason {
                Some(reason) => writeln!(f, ": {reason}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Rejected records: feed, where in its input, kind and reason; and their number.
pub struct DeadLetterTable<'a>(pub &'a [DeadLetter]);

impl Display for DeadLetterTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for letter in self.0 {
            writeln!(
                f,
                "{:<12} {:<40} {:<17} {}",
                letter.feed.as_str(),
                letter.location.to_string(),
                letter.kind.as_str(),
                letter.reason
            )?;
        }
        writeln!(f, "{} rejected record(s)", self.0.len())
    }
}

/// Unmapped category words with their counts, suggested type and an example; then the configuration lines
/// that would map them.
pub struct VocabTable<'a>(pub &'a [UnmappedWord]);

impl Display for VocabTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for w in self.0 {
            let word = if w.word.trim().is_empty() {
                "(none)"
            } else {
                w.word.as_str()
            };
            writeln!(
                f,
                "{:<12} {:<16} {:>7} {:<8} {}",
                w.feed.as_str(),
                word,
                w.records,
                w.suggested_type.name(),
                w.example_clue_id
            )?;
        }
        writeln!(f, "{} unmapped category word(s)", self.0.len())?;
        if self.0.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "\nTo map them, check the suggested types and add to the configuration:"
        )?;
        match mapping_config(self.0) {
            Ok(lines) => write!(f, "{lines}"),
            // The words are plain strings; a failure here is a bug, said rather than hidden.
            Err(e) => writeln!(f, "(the suggested lines could not be written: {e})"),
        }
    }
}

/// Each webhook's refused entries: webhook, outbox offset, event, the receiver's status, when.
pub struct RefusedTable<'a>(pub &'a [(String, Vec<RefusedDelivery>)]);

impl Display for RefusedTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:>8} {:<28} {:>6} {:<25}",
            "webhook", "offset", "event", "status", "at"
        )?;
        for (name, refused) in self.0 {
            for r in refused {
                writeln!(
                    f,
                    "{:<20} {:>8} {:<28} {:>6} {:<25}",
                    name,
                    r.offset,
                    r.event,
                    r.status,
                    r.at.to_rfc3339()
                )?;
            }
        }
        Ok(())
    }
}

/// The rules' test cases: `ok` or `FAILED` with what differed, and the totals.
pub struct RuleTestTable<'a>(pub &'a [RuleTestOutcome]);

impl RuleTestTable<'_> {
    /// How many test cases failed.
    pub fn failed(&self) -> usize {
        self.0.iter().filter(|o| !o.passed()).count()
    }
}

impl Display for RuleTestTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for outcome in self.0 {
            if outcome.passed() {
                writeln!(f, "ok      {} / {}", outcome.rule, outcome.test)?;
                continue;
            }
            writeln!(f, "FAILED  {} / {}", outcome.rule, outcome.test)?;
            for problem in &outcome.problems {
                writeln!(f, "          {problem}")?;
            }
        }
        let failed = self.failed();
        writeln!(
            f,
            "{} rule tests: {} passed, {} failed",
            self.0.len(),
            self.0.len() - failed,
            failed
        )
    }
}

/// How one clue compared with its candidates (best first, `top` of them): score, anchor, cluster, every
/// feature's level and the two text similarities.
pub struct ExplanationTable<'a> {
    /// The candidates, best first.
    pub candidates: &'a [Explanation],
    /// How many to show.
    pub top: usize,
}

impl Display for ExplanationTable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for c in self.candidates.iter().take(self.top) {
            let anchor = if c.anchored { "anchored" } else { "no-anchor" };
            writeln!(
                f,
                "{:>7.2} {} {:<44} {}",
                c.score, anchor, c.candidate_clue_id, c.cluster_id
            )?;
            writeln!(f, "        {}", c.levels.join(" "))?;
            writeln!(
                f,
                "        similarity: description {:.2}, subject (without places) {:.2}",
                c.description_similarity, c.subject_similarity
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::FileReport;

    #[test]
    fn an_ingest_report_totals_its_files_and_points_at_the_rejected() {
        let file = FileReport {
            file: "hotline12345-20260611.jsonl".to_owned(),
            feed: Some(yujing_model::FeedId::Hotline12345),
            records: 3,
            new_clues: 2,
            rejected: 1,
            ..FileReport::default()
        };
        let report = IngestReport {
            total: FileReport {
                file: String::new(),
                feed: None,
                ..file.clone()
            },
            files: vec![file],
            skipped: vec!["/in/readme.txt".to_owned()],
        };
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("hotline12345-20260611.jsonl  hotline12345"));
        assert!(lines[2].starts_with("TOTAL "), "{text}");
        assert_eq!(lines[3], "skipped 1 file(s) not named after a feed: readme.txt");
        assert_eq!(lines[4], "rejected records are listed by `yujing deadletter`");
    }

    #[test]
    fn a_step_that_raised_nothing_prints_nothing() {
        assert_eq!(StepReport::default().to_string(), "");
    }
}
