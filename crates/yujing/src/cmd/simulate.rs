//! `yujing simulate`: labeled synthetic exports of the six feeds, with the truth.

use anyhow::Result;
use yujing_engine::Built;

pub(crate) fn simulate(
    built: &Built,
    config: yujing_sim::SimConfig,
    out_dir: &std::path::Path,
) -> Result<()> {
    if config.days < 60 {
        anyhow::bail!("--days must be at least 60 (reports of one dispute span weeks)");
    }
    if config.estates_per_town == 0 {
        anyhow::bail!("--estates-per-town must be at least 1");
    }
    let (seed, disputes) = (config.seed, config.disputes);
    let simulation = yujing_sim::simulate(&config, built.normalizer.gazetteer());
    simulation.write_to(out_dir, &built.correlate.rules, built.correlate.episode_gap_days)?;
    let expected = yujing_sim::truth_warnings(
        &simulation.records,
        &built.correlate.rules,
        built.correlate.episode_gap_days,
    );
    let orange = expected
        .iter()
        .filter(|w| w.level == yujing_model::WarningLevel::Orange)
        .count();
    println!(
        "simulated {disputes} disputes (seed {seed}): {} records in {} files, {} re-deliveries, {} noise records",
        simulation.records.len(),
        simulation.files.len(),
        simulation.redeliveries,
        simulation.noise.len()
    );
    println!(
        "the rules should raise {} warnings ({} orange, {} red)",
        expected.len(),
        orange,
        expected.len() - orange
    );
    println!(
        "wrote {}/feeds and {}/truth; next: yujing replay --feeds {}/feeds --out REPLAY && yujing eval --truth {} --replay REPLAY",
        out_dir.display(),
        out_dir.display(),
        out_dir.display(),
        out_dir.display()
    );
    Ok(())
}
