//! `yujing warnings`: the warnings on the log, as a table or JSON Lines with their evidence.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::{for_each_warning, EngineConfig};
use yujing_model::Warning;

use crate::open_log_for_reading;
use crate::write_json_lines;

pub(crate) fn write_warning_table(out: &mut impl Write, warnings: &[Warning]) -> Result<()> {
    writeln!(
        out,
        "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} feeds",
        "warning", "level", "raised at (+08:00)", "cluster", "count", "rule"
    )?;
    let beijing = yujing_feeds::time::shanghai();
    for w in warnings {
        let feeds: Vec<&str> = w.feeds.iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "{:<20} {:<6} {:<25} {:<20} {:>5} {:<16} {}",
            w.warning_id,
            w.level.as_str(),
            w.raised_at.with_timezone(&beijing).format("%Y-%m-%d %H:%M:%S"),
            w.cluster_id,
            w.occurrences,
            w.rule,
            feeds.join(",")
        )?;
    }
    Ok(())
}

pub(crate) fn warnings(config: &EngineConfig, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut all = Vec::new();
    for_each_warning(&log, |w| all.push(w))?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        write_json_lines(&mut out, &all)?;
    } else if all.is_empty() {
        writeln!(out, "no warnings")?;
    } else {
        write_warning_table(&mut out, &all)?;
    }
    out.flush()?;
    Ok(())
}
