//! `yujing test`: the test cases the warning rules declare.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::EngineConfig;

pub(crate) fn rule_tests(config: &EngineConfig) -> Result<()> {
    let outcomes = yujing_correlate::run_rule_tests(&config.correlate)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut failed = 0;
    for o in &outcomes {
        if o.passed() {
            writeln!(out, "ok      {} / {}", o.rule, o.test)?;
        } else {
            failed += 1;
            writeln!(out, "FAILED  {} / {}", o.rule, o.test)?;
            for p in &o.problems {
                writeln!(out, "          {p}")?;
            }
        }
    }
    writeln!(
        out,
        "{} rule tests: {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed,
        failed
    )?;
    out.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} rule test(s) failed");
    }
    Ok(())
}
