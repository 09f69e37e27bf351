//! `yujing replay`: the whole pipeline over a history, into a fresh scratch store, with the files analysts
//! compare runs by.
//!
//! The history is a folder of upstream exports (decoded and normalized with the configuration in force) or a
//! stored log's clues (correlated again; the stored log is only read). A replay writes, beside its store:
//! - `clusters.jsonl`: each upstream record's cluster (feed, source id, cluster id);
//! - `warnings.jsonl`: every warning with its evidence;
//! - `links.jsonl`: every link and merge with its score and the features that matched.

use std::fmt::{self, Display, Formatter};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use yujing_log::{EmbeddedLog, Log};
use yujing_model::{FeedId, WarningLevel};

use crate::clock::SystemClock;
use crate::config::Built;
use crate::correlate::{correlate, ClueRange, CorrelateError};
use crate::ingest::{FileReport, IngestError, Ingestor};
use crate::read::{for_each_entry, ReadError};
use crate::store::{copy_clues, scratch_store, ScratchError};
use crate::topics::LINKS;

/// Where a replay reads its history from.
pub enum ReplaySource<'a> {
    /// A folder of upstream export files, decoded and normalized with the configuration in force.
    Feeds(&'a Path),
    /// A stored log's clues in `range` (offsets of the clues topic, event times), correlated again with the
    /// configuration in force. The log is only read.
    Log {
        /// The stored log.
        log: &'a dyn Log,
        /// The part of it to replay.
        range: ClueRange,
        /// How messages name it (its directory, or its Kafka cluster).
        name: String,
    },
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `--feeds` is not a directory.
    #[error("--feeds {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The scratch store could not be made or filled.
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// Ingesting the exports failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Correlating failed.
    #[error(transparent)]
    Correlate(#[from] CorrelateError),
    /// Reading the scratch store's links failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An output file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a replay read and found, and where it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySummary {
    /// What the history was.
    pub history: History,
    /// Clusters at the end.
    pub clusters: u64,
    /// Merges of two clusters.
    pub merges: u64,
    /// Orange warnings raised.
    pub orange: usize,
    /// Red warnings raised.
    pub red: usize,
    /// The output directory.
    pub out_dir: PathBuf,
}

/// The history a replay read.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// Export files: the folder and the ingest's totals.
    Feeds {
        /// The folder.
        dir: PathBuf,
        /// The sums over its files.
        total: FileReport,
    },
    /// A stored log's clues.
    Log {
        /// Clue versions copied.
        copied: u64,
        /// The stored log's name.
        name: String,
        /// The part replayed.
        range: ClueRange,
    },
}

impl Display for ReplaySummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.history {
            History::Feeds { dir, total } => writeln!(
                f,
                "replayed {} records from {}: {} clues ({} versions), {} rejected, {} not disputes",
                total.records,
                dir.display(),
                total.new_clues,
                total.new_versions,
                total.rejected,
                total.not_disputes
            )?,
            History::Log { copied, name, range } => writeln!(
                f,
                "replayed {copied} clue versions from the stored log ({name}){range}"
            )?,
        }
        writeln!(
            f,
            "{} clusters ({} merges), {} warnings ({} orange, {} red)",
            self.clusters,
            self.merges,
            self.orange + self.red,
            self.orange,
            self.red
        )?;
        writeln!(
            f,
            "wrote {} and {}",
            self.out_dir.join("clusters.jsonl").display(),
            self.out_dir.join("warnings.jsonl").display()
        )
    }
}

/// One line of `clusters.jsonl`.
#[derive(serde::Serialize)]
struct ClusterLine<'a> {
    feed: FeedId,
    source_id: &'a str,
    cluster_id: &'a str,
}

/// Replays `source` into `OUT/store` (replacing an earlier replay's store; a directory there that is not a
/// yujing store is refused) and writes the three files into `out_dir`.
pub fn replay(built: &Built, source: ReplaySource<'_>, out_dir: &Path) -> Result<ReplaySummary, ReplayError> {
    if let ReplaySource::Feeds(feeds) = source {
        if !feeds.is_dir() {
            return Err(ReplayError::NotADirectory(feeds.to_path_buf()));
        }
    }
    let scratch = scratch_store(out_dir)?;
    let clock = SystemClock;
    let history = load_history(built, source, &scratch, &clock)?;
    let (mut correlator, correlation) = correlate(&scratch, &built.correlate, &clock)?;
    write_lines(&out_dir.join("clusters.jsonl"), |out| {
        for a in correlator.assignments() {
            let line = ClusterLine {
                feed: a.feed,
                source_id: &a.source_id,
                cluster_id: &a.cluster_id,
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
        Ok(())
    })?;
    write_lines(&out_dir.join("warnings.jsonl"), |out| {
        for warning in &correlation.warnings {
            serde_json::to_writer(&mut *out, warning)?;
            writeln!(out)?;
        }
        Ok(())
    })?;
    write_links(out_dir, &scratch)?;
    let stats = correlator.stats();
    let orange = correlation
        .warnings
        .iter()
        .filter(|w| w.level == WarningLevel::Orange)
        .count();
    Ok(ReplaySummary {
        history,
        clusters: stats.clusters,
        merges: stats.merges,
        orange,
        red: correlation.warnings.len() - orange,
        out_dir: out_dir.to_path_buf(),
    })
}

/// Puts the history's clues into the scratch store.
fn load_history(
    built: &Built,
    source: ReplaySource<'_>,
    scratch: &EmbeddedLog,
    clock: &SystemClock,
) -> Result<History, ReplayError> {
    Ok(match source {
        ReplaySource::Feeds(dir) => {
            let ingestor = Ingestor::new(scratch, &built.normalizer, clock);
            let report = ingestor.ingest_paths(&[dir.to_path_buf()], None, &mut |_| {})?;
            History::Feeds {
                dir: dir.to_path_buf(),
                total: report.total,
            }
        }
        ReplaySource::Log { log, range, name } => History::Log {
            copied: copy_clues(log, scratch, &range)?,
            name,
            range,
        },
    })
}

/// Writes the file at `path` through `fill`, buffered; any failure names the file.
fn write_lines(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReplayError> {
    let failed = |source| ReplayError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    fill(&mut out).and_then(|()| out.flush()).map_err(failed)
}

/// `OUT/links.jsonl`: every decision with the features that matched, as the correlation stage logged it.
fn write_links(out_dir: &Path, scratch: &EmbeddedLog) -> Result<(), ReplayError> {
    let mut read_failure = None;
    write_lines(&out_dir.join("links.jsonl"), |out| {
        let mut write_failure = None;
        let read = for_each_entry(scratch, LINKS, 0, |entry| {
            out.write_all(&entry.record.value)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| {
                    let stop = ReadError::Decode {
                        topic: LINKS.to_owned(),
                        offset: entry.offset,
                        reason: e.to_string(),
                    };
                    // Kept apart, so that the error names the file that could not be written.
                    write_failure = Some(e);
                    stop
                })
        });
        if let Some(e) = write_failure {
            return Err(e);
        }
        read_failure = read.err();
        Ok(())
    })?;
    read_failure.map_or(Ok(()), |e| Err(e.into()))
}
