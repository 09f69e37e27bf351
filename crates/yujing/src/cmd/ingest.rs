//! `yujing ingest`: export files onto the log, then correlate them and open work orders.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use yujing_engine::{Built, EngineConfig, IngestReport, Ingestor, Pipeline, StepReport, SystemClock};
use yujing_model::FeedId;

use crate::cmd::warnings::write_warning_table;
use crate::open_log;
use crate::write_json_pretty;

pub(crate) fn ingest(
    config: &EngineConfig,
    built: &Built,
    feed: Option<FeedId>,
    json: bool,
    paths: &[PathBuf],
) -> Result<()> {
    let log = open_log(config)?;
    let clock = SystemClock;
    let report = ingest_with_progress(
        &Ingestor::new(log.as_ref(), &built.normalizer, &clock),
        paths,
        feed,
    )?;
    // Correlate the new clues and open or update the work orders of the new warnings.
    let (mut pipeline, step) = Pipeline::open_reporting(log, built.clone(), Arc::new(clock))?;
    // The next ingest then replays only what comes after this one.
    pipeline.snapshot_if_due(true);
    tracing::info!(
        warnings = step.warnings.len(),
        order_events = step.order_events.len(),
        "correlated"
    );
    if report.files.is_empty() {
        // An empty drop directory is normal for a timer; say so, without failing.
        tracing::warn!(
            "no feed export files found (names must start with a feed id, e.g. police-20260611.csv)"
        );
    }
    if json {
        return write_json_pretty(&report);
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    print_files(&mut out, &report)?;
    print_step(&mut out, &step)?;
    out.flush()?;
    Ok(())
}

/// Ingests `paths`, with a progress bar on a terminal for long inputs.
fn ingest_with_progress(
    ingestor: &Ingestor<'_, dyn yujing_log::Log>,
    paths: &[PathBuf],
    feed: Option<FeedId>,
) -> Result<IngestReport> {
    let bar = ProgressBar::hidden();
    let show_bar = std::io::stderr().is_terminal();
    let report = ingestor.ingest_paths(paths, feed, &mut |progress| {
        // A bar only for long ingests, and only when a person is watching.
        if show_bar && progress.total > 4 * 1024 * 1024 && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(progress.total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        bar.set_position(progress.done);
    })?;
    bar.finish_and_clear();
    Ok(report)
}

/// The table of files ingested, the files skipped, and where the rejected records are.
fn print_files(out: &mut impl Write, report: &IngestReport) -> Result<()> {
    writeln!(
        out,
        "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
        "file", "feed", "records", "clues", "versions", "dupes", "not-dispute", "rejected"
    )?;
    for f in report.files.iter().chain(std::iter::once(&report.total)) {
        let feed = f.feed.map_or("".to_owned(), |f| f.to_string());
        let file = if f.file.is_empty() {
            "TOTAL"
        } else {
            f.file.as_str()
        };
        writeln!(
            out,
            "{:<28} {:<13} {:>7} {:>6} {:>8} {:>6} {:>11} {:>8}",
            file, feed, f.records, f.new_clues, f.new_versions, f.duplicates, f.not_disputes, f.rejected
        )?;
    }
    if !report.skipped.is_empty() {
        let names: Vec<&str> = report
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
            out,
            "skipped {} file(s) not named after a feed: {}",
            names.len(),
            names.join(", ")
        )?;
    }
    if report.total.rejected > 0 {
        writeln!(out, "rejected records are listed by `yujing deadletter`")?;
    }
    Ok(())
}

/// The warnings the ingest raised and the work orders it opened.
fn print_step(out: &mut impl Write, step: &StepReport) -> Result<()> {
    if !step.warnings.is_empty() {
        writeln!(out, "\nnew warnings:")?;
        write_warning_table(out, &step.warnings)?;
    }
    let opened: Vec<&str> = step
        .order_events
        .iter()
        .filter(|e| e.seq == 1)
        .map(|e| e.order_id.as_str())
        .collect();
    match opened.len() {
        0 => {}
        // A handful by id; a history's worth as a count.
        1..=10 => writeln!(
            out,
            "\nwork orders opened: {} (`yujing orders` lists them)",
            opened.join(", ")
        )?,
        n => writeln!(out, "\n{n} work orders opened (`yujing orders` lists them)")?,
    }
    Ok(())
}
