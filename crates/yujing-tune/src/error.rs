//! What can stop a sweep, each naming what it was about.

use std::path::PathBuf;

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The grid file is not a grid.
    #[error("the grid {path}: {reason}")]
    Grid {
        /// The grid file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A parameter path names nothing in `[correlate]`.
    #[error("{0}")]
    Parameter(String),
    /// A combination of the grid does not build.
    #[error("the combination {combination} is not a valid configuration: {reason}")]
    InvalidCombination {
        /// The combination, as `path = value` pairs.
        combination: String,
        /// What the configuration check said.
        reason: String,
    },
    /// The grid has too many combinations.
    #[error("{0} configurations: narrow the grid (at most 500)")]
    TooManyConfigurations(usize),
    /// A file could not be read or written.
    #[error("cannot {doing} {path}")]
    Io {
        /// What was being done (`read`, `write`, `create`, `clear`).
        doing: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The scratch store path holds something that is not a store of a previous sweep.
    #[error("{0} exists and is not a yujing store of an earlier sweep: choose another --out")]
    NotAScratchStore(PathBuf),
    /// Making the scratch store failed.
    #[error(transparent)]
    Scratch(yujing_engine::store::ScratchError),
    /// Ingesting the simulation's exports failed.
    #[error(transparent)]
    Ingest(#[from] yujing_engine::IngestError),
    /// Reading clues from the log failed.
    #[error(transparent)]
    Correlate(#[from] yujing_engine::CorrelateError),
    /// Reading the work orders or links failed.
    #[error(transparent)]
    Orders(#[from] yujing_engine::OrderError),
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] yujing_engine::ReadError),
    /// Opening the scratch store failed.
    #[error(transparent)]
    Log(#[from] yujing_log::LogError),
    /// The simulation's truth could not be read.
    #[error(transparent)]
    Simulation(#[from] yujing_sim::SimError),
    /// A configuration or an outcome could not be encoded.
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
}
