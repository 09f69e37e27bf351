//! `yujing test`: the test cases the warning rules declare.

use anyhow::Result;
use yujing_engine::tables::RuleTestTable;
use yujing_engine::EngineConfig;

pub(crate) fn rule_tests(config: &EngineConfig) -> Result<()> {
    let outcomes = yujing_correlate::run_rule_tests(&config.correlate)?;
    let table = RuleTestTable(&outcomes);
    print!("{table}");
    match table.failed() {
        0 => Ok(()),
        failed => anyhow::bail!("{failed} rule test(s) failed"),
    }
}
