//! `yujing simulate`: labeled synthetic exports of the six feeds, with the truth.

use std::path::PathBuf;

use anyhow::Result;
use yujing_engine::Built;

/// What to simulate, and where to write it.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The seed; the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many disputes.
    #[arg(long, default_value_t = 20_000)]
    disputes: usize,
    /// The first day of the simulated period.
    #[arg(long, default_value = "2026-01-01")]
    start: chrono::NaiveDate,
    /// The length of the period, in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Residential estates per town (fewer: more different disputes share an estate, harder).
    #[arg(long, default_value_t = 60)]
    estates_per_town: usize,
}

pub(crate) fn simulate(built: &Built, args: SimulateArgs) -> Result<()> {
    let SimulateArgs {
        seed,
        out,
        disputes,
        start,
        days,
        estates_per_town,
    } = args;
    let config = yujing_sim::SimConfig {
        seed,
        disputes,
        start,
        days,
        estates_per_town,
    };
    config.check()?;
    let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
    let settings = &built.correlate;
    print!(
        "{}",
        simulation.write_to(&out, &settings.rules, settings.episode_gap_days)?
    );
    Ok(())
}
