//! The correlation commands: `warnings`, `replay` and `test`.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use yujing_engine::{correlate, for_each_warning, Built, ClueRange, EngineConfig, Ingestor, SystemClock};
use yujing_model::{FeedId, Warning};

use crate::{open_log_for_reading, write_json_lines};

pub(crate) fn write_warning_table(out: &mut impl Write, warnings: &[Warning]) -> Result<()> {
    writeln!(
        out,
        "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} feeds",
        "warning", "level", "raised at (+08:00)", "cluster", "count", "rule"
    )?;
    let beijing = yujing_feeds::time::shanghai();
    for w in warnings {
        let feeds: Vec<&str> = w.feeds.iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} {}",
            w.warning_id,
            w.level.as_str(),
            w.raised_at.with_timezone(&beijing).format("%Y-%m-%d %H:%M:%S"),
            w.cluster_id,
            w.occurrences,
            w.rule,
            feeds.join(",")
        )?;
    }
    Ok(())
}

pub(crate) fn warnings(config: &EngineConfig, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut all = Vec::new();
    for_each_warning(&log, |w| all.push(w))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        write_json_lines(&mut out, &all)?;
    } else if all.is_empty() {
        writeln!(out, "no warnings")?;
    } else {
        write_warning_table(&mut out, &all)?;
    }
    out.flush()?;
    Ok(())
}

/// One line of `clusters.jsonl`.
#[derive(serde::Serialize)]
struct ClusterLine<'a> {
    feed: FeedId,
    source_id: &'a str,
    cluster_id: &'a str,
}

/// Where a replay reads its history from.
pub(crate) enum ReplaySource<'a> {
    /// A folder of upstream export files, decoded and normalized with the configuration in force.
    Feeds(&'a std::path::Path),
    /// The stored log (embedded, or Kafka with `[store] backend = "kafka"`): its clues in the range (offsets
    /// of the clues topic, event times), correlated again with the configuration in force. The stored log is
    /// only read.
    Log(ClueRange),
}

pub(crate) fn replay(
    config: &EngineConfig,
    built: &Built,
    source: ReplaySource<'_>,
    out_dir: &std::path::Path,
) -> Result<()> {
    if let ReplaySource::Feeds(feeds) = source {
        if !feeds.is_dir() {
            anyhow::bail!("--feeds {} is not a directory", feeds.display());
        }
    }
    let log = yujing_engine::store::scratch_store(out_dir)?;
    let clock = SystemClock;
    let read = match source {
        ReplaySource::Feeds(feeds) => {
            let ingestor = Ingestor::new(&log, &built.normalizer, &clock);
            let report = ingestor.ingest_paths(&[feeds.to_path_buf()], None, &mut |_| {})?;
            format!(
                "replayed {} records from {}: {} clues ({} versions), {} rejected, {} not disputes",
                report.total.records,
                feeds.display(),
                report.total.new_clues,
                report.total.new_versions,
                report.total.rejected,
                report.total.not_disputes
            )
        }
        ReplaySource::Log(range) => {
            let stored = open_log_for_reading(config)?;
            let copied = yujing_engine::store::copy_clues(stored.as_ref(), &log, &range)?;
            format!(
                "replayed {copied} clue versions from the stored log ({}){range}",
                crate::store_name(config)
            )
        }
    };
    let (mut correlator, correlation) = correlate(&log, &built.correlate, &clock)?;

    let clusters_path = out_dir.join("clusters.jsonl");
    let mut clusters = BufWriter::new(
        std::fs::File::create(&clusters_path)
            .with_context(|| format!("cannot write {}", clusters_path.display()))?,
    );
    let assignments = correlator.assignments();
    for a in &assignments {
        serde_json::to_writer(
            &mut clusters,
            &ClusterLine {
                feed: a.feed,
                source_id: &a.source_id,
                cluster_id: &a.cluster_id,
            },
        )?;
        writeln!(clusters)?;
    }
    clusters.flush()?;
    // Every decision with the features that matched, for analysts tuning the scoring.
    let links_path = out_dir.join("links.jsonl");
    let mut links = BufWriter::new(
        std::fs::File::create(&links_path)
            .with_context(|| format!("cannot write {}", links_path.display()))?,
    );
    yujing_engine::read::for_each_entry(&log, yujing_engine::topics::LINKS, 0, |entry| {
        links
            .write_all(&entry.record.value)
            .and_then(|()| links.write_all(b"\n"))
            .map_err(|e| yujing_engine::ReadError::Decode {
                topic: yujing_engine::topics::LINKS.to_owned(),
                offset: entry.offset,
                reason: format!("writing {}: {e}", links_path.display()),
            })
    })?;
    links.flush()?;
    let warnings_path = out_dir.join("warnings.jsonl");
    let mut warnings = BufWriter::new(
        std::fs::File::create(&warnings_path)
            .with_context(|| format!("cannot write {}", warnings_path.display()))?,
    );
    write_json_lines(&mut warnings, &correlation.warnings)?;
    warnings.flush()?;

    let stats = correlator.stats();
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let orange = correlation
        .warnings
        .iter()
        .filter(|w| w.level == yujing_model::WarningLevel::Orange)
        .count();
    writeln!(out, "{read}")?;
    writeln!(
        out,
        "{} clusters ({} merges), {} warnings ({} orange, {} red)",
        stats.clusters,
        stats.merges,
        correlation.warnings.len(),
        orange,
        correlation.warnings.len() - orange
    )?;
    writeln!(
        out,
        "wrote {} and {}",
        clusters_path.display(),
        warnings_path.display()
    )?;
    out.flush()?;
    Ok(())
}

pub(crate) fn rule_tests(config: &EngineConfig) -> Result<()> {
    let outcomes = yujing_correlate::run_rule_tests(&config.correlate)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut failed = 0;
    for o in &outcomes {
        if o.passed() {
            writeln!(out, "ok      {} / {}", o.rule, o.test)?;
        } else {
            failed += 1;
            writeln!(out, "FAILED  {} / {}", o.rule, o.test)?;
            for p in &o.problems {
                writeln!(out, "          {p}")?;
            }
        }
    }
    writeln!(
        out,
        "{} rule tests: {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed,
        failed
    )?;
    out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} rule test(s) failed");
    }
    Ok(())
}

pub(crate) fn explain(config: &EngineConfig, built: &Built, clue_id: &str, top: usize) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut correlator = yujing_correlate::Correlator::new(built.correlate.clone());
    let clues = yujing_engine::clues_in_event_time(&log)?;
    let Some(target) = clues.iter().position(|c| c.clue_id == clue_id) else {
        anyhow::bail!(
            "no clue {clue_id} in the store at {}",
            config.store.data_dir.display()
        );
    };
    for clue in &clues[..target] {
        correlator.observe(clue);
    }
    let clue = &clues[target];
    let candidates = correlator.explain(clue);
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    writeln!(
        out,
        "{clue_id} ({}, {}): {} candidates; link threshold {}, anchor {}",
        clue.occurred_at.to_rfc3339(),
        clue.dispute_type,
        candidates.len(),
        built.correlate.scoring.link_threshold,
        if built.correlate.scoring.require_anchor {
            "required"
        } else {
            "not required"
        }
    )?;
    for c in candidates.iter().take(top) {
        writeln!(
            out,
            "{:>7.2} {} {:<44} {}",
            c.score,
            if c.anchored { "anchored" } else { "no-anchor" },
            c.candidate_clue_id,
            c.cluster_id
        )?;
        writeln!(out, "        {}", c.levels.join(" "))?;
        writeln!(
            out,
            "        similarity: description {:.2}, subject (without places) {:.2}",
            c.description_similarity, c.subject_similarity
        )?;
    }
    out.flush()?;
    Ok(())
}
