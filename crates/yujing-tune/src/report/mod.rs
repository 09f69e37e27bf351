//! The sweep's report: `report.md`, `report.html` and `results.json` in the output directory. The renderers only
//! render: every figure is in the [`Outcome`]s.

mod html;
mod markdown;

use std::path::Path;

use yujing_model::WarningLevel;

use crate::outcome::Outcome;
use crate::TuneError;

/// Writes `results.json`, `report.md` and `report.html` of `outcomes` into `out_dir`.
pub fn write(
    out_dir: &Path,
    source: &str,
    outcome_kind: &str,
    clues: usize,
    outcomes: &[Outcome],
) -> Result<(), TuneError> {
    let files = [
        ("results.json", serde_json::to_string_pretty(outcomes)?),
        (
            "report.md",
            markdown::render(source, outcome_kind, clues, outcomes),
        ),
        ("report.html", html::render(source, outcome_kind, clues, outcomes)),
    ];
    for (name, text) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|source| TuneError::Io {
            doing: "write",
            path,
            source,
        })?;
    }
    Ok(())
}

pub(super) fn changes_text(o: &Outcome) -> String {
    if o.changes.is_empty() {
        "in force".to_owned()
    } else {
        o.changes
            .iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(super) fn score_text(o: &Outcome, level: WarningLevel) -> String {
    o.scores
        .get(&level)
        .map(|(p, r)| format!("{p:.3} / {r:.3}"))
        .unwrap_or_else(|| "–".to_owned())
}

/// The columns of the results table, in both reports.
pub(super) const COLUMNS: [&str; 13] = [
    "#",
    "configuration",
    "orange",
    "red",
    "orders",
    "disputes",
    "duplicates",
    "orange P / R",
    "red P / R",
    "orange lead h",
    "red lead h",
    "gained",
    "lost",
];

/// One configuration's row of the results table, as text, in the order of [`COLUMNS`].
pub(super) fn cells(o: &Outcome) -> [String; 13] {
    let count = |level| o.warnings.get(&level).copied().unwrap_or(0).to_string();
    let lead = |level| format!("{:+.1}", o.lead_hours.get(&level).copied().unwrap_or(0.0));
    [
        o.index.to_string(),
        changes_text(o),
        count(WarningLevel::Orange),
        count(WarningLevel::Red),
        o.orders.to_string(),
        o.disputes.to_string(),
        o.duplicates.to_string(),
        score_text(o, WarningLevel::Orange),
        score_text(o, WarningLevel::Red),
        lead(WarningLevel::Orange),
        lead(WarningLevel::Red),
        o.gained.len().to_string(),
        o.lost.len().to_string(),
    ]
}
