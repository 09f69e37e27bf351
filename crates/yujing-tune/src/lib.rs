//! `yujing tune`: sweep rule and scoring parameters over one history and report what each configuration would
//! have raised, how well, and how early, against the configuration in force.
//!
//! The history is decoded once into a scratch store (a simulation's export files, or the clues of the stored
//! log, which is only read, copied) and read back from it in event-time order by each clustering, never held
//! decoded; the history is clustered once per distinct scoring setting (rules do not change the clustering) and
//! every configuration's rules are judged on those clusters. Nothing is written to the live
//! store and nothing is delivered. Outcomes: for a simulation, the truth — the warnings the rules in force call
//! for on the true disputes; for a stored log, the past work orders — resolved, verified or closed ones count as
//! real disputes, dismissed ones as false positives, and an order an operator merged into another says both
//! clusters were one dispute.
//!
//! # Layout
//! - [`fit`]: `yujing fit`, the scoring weights estimated from labeled data.
//! - [`grid`]: the `[grid]` file and the configurations it makes (`#0` is the one in force).
//! - [`history`]: the history, decoded once into a scratch store, read back a chunk at a time.
//! - [`sweep`]: one clustering per scoring setting, every configuration's rules judged on it.
//! - [`outcome`]: each run against the outcomes known, its lead over the configuration in force, what it gained
//!   and lost.
//! - [`report`]: `report.md`, `report.html`, `results.json`; renderers only.

pub mod fit;
pub mod grid;
pub mod history;
pub mod outcome;
pub mod report;
pub mod sweep;

mod error;
#[cfg(test)]
mod testing;

use std::path::Path;
use std::time::Instant;

pub use error::TuneError;
pub use history::{History, TuneInput};
pub use outcome::Outcome;

use yujing_engine::{Built, EngineConfig};

/// What a sweep did, for the caller to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Configurations swept (the one in force included).
    pub configurations: usize,
    /// Clue versions in the history.
    pub clue_versions: usize,
    /// What the history was.
    pub source: String,
}

/// Sweeps the grid at `grid_path` over `input` and writes the report into `out_dir`.
pub fn tune(
    config: &EngineConfig,
    built: &Built,
    input: TuneInput<'_>,
    grid_path: &Path,
    out_dir: &Path,
) -> Result<Summary, TuneError> {
    let grid = grid::read(grid_path)?;
    let configurations = grid::configurations(&config.correlate, &built.correlate, &grid)?;
    std::fs::create_dir_all(out_dir).map_err(|source| TuneError::Io {
        doing: "create",
        path: out_dir.to_owned(),
        source,
    })?;

    let started = Instant::now();
    let mut history = history::load(input, built, out_dir)?;
    tracing::info!(
        clue_versions = sweep::ClueSource::len(&history),
        configurations = configurations.len(),
        seconds = started.elapsed().as_secs_f64(),
        "tune: history decoded"
    );

    let started = Instant::now();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let settings: Vec<_> = configurations.iter().map(|c| c.settings.clone()).collect();
    let runs = sweep::run_all(&settings, &history, workers)?;
    let clue_versions = sweep::ClueSource::len(&history);
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "tune: correlated");

    let started = Instant::now();
    let judge = outcome::Judge::new(built, &mut history, &runs)?;
    // Scoring a million-record truth takes seconds per configuration: `workers` at a time.
    let outcomes: Vec<Outcome> = sweep::parallel_map(configurations.len(), workers, |i| {
        judge.outcome(i, &configurations[i], &runs[i])
    });
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "tune: scored");

    report::write(out_dir, &history.source, judge.kind(), clue_versions, &outcomes)?;
    Ok(Summary {
        configurations: outcomes.len(),
        clue_versions,
        source: history.source,
    })
}
