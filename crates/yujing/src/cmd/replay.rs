//! `yujing replay`: the whole pipeline over a folder of exports or the stored log's clues, into a fresh store.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use yujing_engine::{correlate, Built, ClueRange, EngineConfig, Ingestor, SystemClock};
use yujing_model::FeedId;

use crate::open_log_for_reading;
use crate::write_json_lines;

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
    let read = load_history(config, built, source, &log, &clock)?;
    let (mut correlator, correlation) = correlate(&log, &built.correlate, &clock)?;
    let clusters_path = write_clusters(out_dir, &correlator.assignments())?;
    write_links(out_dir, &log)?;
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

/// Puts the history's clues into the scratch store `log`; says what was read.
fn load_history(
    config: &EngineConfig,
    built: &Built,
    source: ReplaySource<'_>,
    log: &yujing_log::EmbeddedLog,
    clock: &SystemClock,
) -> Result<String> {
    Ok(match source {
        ReplaySource::Feeds(feeds) => {
            let ingestor = Ingestor::new(log, &built.normalizer, clock);
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
            let copied = yujing_engine::store::copy_clues(stored.as_ref(), log, &range)?;
            format!(
                "replayed {copied} clue versions from the stored log ({}){range}",
                crate::store_name(config)
            )
        }
    })
}

/// `OUT/clusters.jsonl`: each report's cluster.
fn write_clusters(
    out_dir: &std::path::Path,
    assignments: &[yujing_correlate::Assignment],
) -> Result<std::path::PathBuf> {
    let path = out_dir.join("clusters.jsonl");
    let mut clusters = BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    for a in assignments {
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
    Ok(path)
}

/// `OUT/links.jsonl`: every decision with the features that matched, for analysts tuning the scoring.
fn write_links(out_dir: &std::path::Path, log: &yujing_log::EmbeddedLog) -> Result<()> {
    let path = out_dir.join("links.jsonl");
    let mut links = BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    yujing_engine::read::for_each_entry(log, yujing_engine::topics::LINKS, 0, |entry| {
        links
            .write_all(&entry.record.value)
            .and_then(|()| links.write_all(b"\n"))
            .map_err(|e| yujing_engine::ReadError::Decode {
                topic: yujing_engine::topics::LINKS.to_owned(),
                offset: entry.offset,
                reason: format!("writing {}: {e}", path.display()),
            })
    })?;
    links.flush()?;
    Ok(())
}
