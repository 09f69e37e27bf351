//! `yujing eval`: score a replay against the truth.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::Built;

use crate::write_json_pretty;

pub(crate) fn eval(
    built: &Built,
    truth_dir: &std::path::Path,
    replay_dir: &std::path::Path,
    json: bool,
) -> Result<()> {
    let records: Vec<yujing_sim::TruthRecord> =
        yujing_sim::read_json_lines(&truth_dir.join("truth/records.jsonl"))?;
    let expected =
        yujing_sim::truth_warnings(&records, &built.correlate.rules, built.correlate.episode_gap_days);
    let clusters: Vec<yujing_sim::ClusterLine> =
        yujing_sim::read_json_lines(&replay_dir.join("clusters.jsonl"))?;
    let warnings: Vec<yujing_sim::WarningLine> =
        yujing_sim::read_json_lines(&replay_dir.join("warnings.jsonl"))?;
    let report = yujing_sim::evaluate(
        &records,
        &expected,
        &clusters,
        &warnings,
        built.correlate.episode_gap_days,
    );
    if json {
        return write_json_pretty(&report);
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    print_report(&mut out, &report)?;
    out.flush()?;
    Ok(())
}

/// The report as tables: records, clusters (pairwise and B-cubed), warnings per level.
fn print_report(out: &mut impl Write, report: &yujing_sim::EvalReport) -> Result<()> {
    writeln!(
        out,
        "records: {} in truth ({} disputes), {} clustered, {} missing, {} unexpected; {} clusters",
        report.truth_records,
        report.truth_disputes,
        report.clustered_records,
        report.missing_records,
        report.unexpected_records,
        report.clusters
    )?;
    writeln!(
        out,
        "{:<10} {:>9} {:>9} {:>9}",
        "clusters", "precision", "recall", "F1"
    )?;
    for (name, prf) in [("pairwise", report.pairwise), ("B-cubed", report.bcubed)] {
        writeln!(
            out,
            "{:<10} {:>9.4} {:>9.4} {:>9.4}",
            name, prf.precision, prf.recall, prf.f1
        )?;
    }
    writeln!(
        out,
        "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "warnings",
        "expected",
        "raised",
        "matched",
        "dups",
        "precision",
        "recall",
        "lag p50",
        "lag p95",
        "on time"
    )?;
    for (level, s) in &report.warnings {
        writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:>5} {:>9.4} {:>9.4} {:>7.1}h {:>7.1}h {:>8}",
            level.as_str(),
            s.expected,
            s.raised,
            s.matched,
            s.duplicates,
            s.precision,
            s.recall,
            s.lag_hours.p50,
            s.lag_hours.p95,
            s.lag_hours.on_time
        )?;
    }
    Ok(())
}
