//! `yujing eval`: score a replay against a simulation's truth.

use std::path::Path;

use anyhow::Result;
use yujing_engine::Built;

use super::print_json_or;

pub(crate) fn eval(built: &Built, truth: &Path, replay: &Path, json: bool) -> Result<()> {
    let settings = &built.correlate;
    let report = yujing_sim::evaluate_replay(truth, replay, &settings.rules, settings.episode_gap_days)?;
    print_json_or(json, &report)
}
