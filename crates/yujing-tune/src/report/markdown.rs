//! The report as Markdown: the table, the gained and lost warnings.

use std::fmt::Write as _;

use super::{cells, changes_text, COLUMNS};
use crate::outcome::Outcome;

/// The Markdown report.
pub(super) fn render(source: &str, outcome_kind: &str, clues: usize, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# yujing tune\n");
    let _ = writeln!(
        s,
        "History: {source}, {clues} clue versions. Outcomes: {outcome_kind}.\n"
    );
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(COLUMNS.len()));
    for o in outcomes {
        let _ = writeln!(s, "| {} |", cells(o).join(" | "));
    }
    let _ = writeln!(
        s,
        "\nLead: the median number of hours by which a warning about the same dispute and level came earlier (+) or\nlater (−) than under the configuration in force. Duplicates: warnings about a dispute and level this configuration\nhas already warned in another cluster (each a second work order for one dispute). Gained / lost: warnings about a dispute and level that this\nconfiguration raises and the one in force does not, and the reverse (ids in results.json).\n"
    );
    for o in outcomes
        .iter()
        .filter(|o| !o.gained.is_empty() || !o.lost.is_empty())
    {
        let _ = writeln!(s, "## #{}: {}\n", o.index, changes_text(o));
        let show = |ids: &[String]| {
            let mut text = ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
            if ids.len() > 20 {
                let _ = write!(text, " … ({} in all)", ids.len());
            }
            text
        };
        if !o.gained.is_empty() {
            let _ = writeln!(s, "- gained: {}", show(&o.gained));
        }
        if !o.lost.is_empty() {
            let _ = writeln!(s, "- lost: {}", show(&o.lost));
        }
        let _ = writeln!(s);
    }
    s
}
