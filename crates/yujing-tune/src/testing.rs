//! What the tests of this crate share.

use std::path::Path;

use yujing_engine::Built;

/// A seeded simulation of `disputes` disputes over 120 days, written to `dir` (`feeds/`, `truth/`).
pub(crate) fn write_simulation(built: &Built, seed: u64, disputes: usize, dir: &Path) {
    let config = yujing_sim::SimConfig {
        seed,
        disputes,
        days: 120,
        ..yujing_sim::SimConfig::default()
    };
    yujing_sim::simulate(&config, built.normalizer.gazetteer())
        .write_to(dir, &built.correlate.rules, built.correlate.episode_gap_days)
        .expect("simulation written");
}
