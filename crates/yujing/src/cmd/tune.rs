//! `yujing tune`: sweep rule and scoring parameters over a history ([`yujing_tune`]) and say where the report is.

use std::path::Path;

use anyhow::Result;
use yujing_engine::{Built, ClueRange, EngineConfig};
use yujing_tune::TuneInput;

use crate::open_log_for_reading;

/// Sweeps the grid at `grid` over the simulation `truth` or, without one, the stored log's clues in `range`.
pub(crate) fn tune(
    config: &EngineConfig,
    built: &Built,
    truth: Option<&Path>,
    range: ClueRange,
    grid: &Path,
    out: &Path,
) -> Result<()> {
    let input = match truth {
        Some(dir) => TuneInput::Simulation(dir),
        None => TuneInput::StoredLog {
            log: open_log_for_reading(config)?,
            range,
            name: config.store.name(),
        },
    };
    let summary = yujing_tune::tune(config, built, input, &yujing_tune::grid::absolute(grid), out)?;
    println!(
        "swept {} configurations over {} clue versions from {}; wrote {}/report.md, report.html and results.json",
        summary.configurations,
        summary.clue_versions,
        summary.source,
        out.display()
    );
    Ok(())
}
