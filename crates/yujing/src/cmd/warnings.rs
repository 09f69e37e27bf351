//! `yujing warnings`: the warnings on the log, as a table or JSON Lines with their evidence.

use anyhow::Result;
use yujing_engine::tables::WarningTable;
use yujing_engine::{for_each_warning, EngineConfig};

use super::print_lines_or;
use crate::open_log_for_reading;

pub(crate) fn warnings(config: &EngineConfig, json: bool) -> Result<()> {
    let mut all = Vec::new();
    for_each_warning(&open_log_for_reading(config)?, |w| all.push(w))?;
    if all.is_empty() && !json {
        println!("no warnings");
        return Ok(());
    }
    print_lines_or(json, &all, WarningTable(&all))
}
