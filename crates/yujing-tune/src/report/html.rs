//! The report as one HTML page with its plots drawn as inline SVG (no script, no network).

use std::fmt::Write as _;

use yujing_model::WarningLevel;

use super::{cells, changes_text, COLUMNS};
use crate::outcome::Outcome;

/// The plots' size and margin, in pixels.
const W: f64 = 520.0;
const H: f64 = 360.0;
const M: f64 = 48.0;

/// A share (0–1) on the x axis of a plot.
fn x_of(v: f64) -> f64 {
    M + v.clamp(0.0, 1.0) * (W - 2.0 * M)
}

/// A share (0–1) on the y axis of a plot.
fn y_of(v: f64) -> f64 {
    H - M - v.clamp(0.0, 1.0) * (H - 2.0 * M)
}

/// A plot's two axes and their labels.
fn axes(x_label: &str, y_label: &str) -> String {
    format!(
        r##"<line x1="{M}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{M}" y1="{M}" x2="{M}" y2="{b}" stroke="#333"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="13">{x}</text><text x="14" y="{cy}" text-anchor="middle" font-size="13" transform="rotate(-90 14 {cy})">{y}</text>"##,
        b = H - M,
        r = W - M,
        cx = W / 2.0,
        ty = H - 10.0,
        cy = H / 2.0,
        x = escape(x_label),
        y = escape(y_label)
    )
}

/// Precision against recall of orange warnings, a point per configuration.
fn precision_recall_plot(outcomes: &[Outcome]) -> String {
    let mut pr = format!(
        r#"<svg id="precision-recall" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="precision and recall of orange warnings per configuration">"#
    );
    pr.push_str(&axes("recall (orange)", "precision (orange)"));
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            pr,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="middle">{t}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{t}</text>"##,
            x_of(t),
            H - M + 14.0,
            M - 4.0,
            y_of(t) + 3.0
        );
    }
    for o in outcomes {
        let Some((p, r)) = o.scores.get(&WarningLevel::Orange) else {
            continue;
        };
        let colour = if o.index == 0 { "#c0392b" } else { "#e67e22" };
        let _ = write!(
            pr,
            r#"<circle class="config" cx="{:.1}" cy="{:.1}" r="{}" fill="{colour}"><title>#{} {}: P {p:.3} R {r:.3}</title></circle><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
            x_of(*r),
            y_of(*p),
            if o.index == 0 { 7 } else { 5 },
            o.index,
            escape(&changes_text(o)),
            x_of(*r) + 7.0,
            y_of(*p) - 5.0,
            o.index
        );
    }
    pr.push_str("</svg>");
    pr
}

/// The median lead of orange warnings over the configuration in force, a bar per configuration.
fn lead_time_plot(outcomes: &[Outcome]) -> String {
    let max_lead = outcomes
        .iter()
        .filter_map(|o| o.lead_hours.get(&WarningLevel::Orange))
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let mut lead = format!(
        r#"<svg id="lead-time" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="median lead time of orange warnings per configuration">"#
    );
    lead.push_str(&axes(
        "configuration",
        "orange lead over the one in force (hours)",
    ));
    let zero = H / 2.0;
    let _ = write!(
        lead,
        r##"<line x1="{M}" y1="{zero}" x2="{}" y2="{zero}" stroke="#999" stroke-dasharray="4 3"/>"##,
        W - M
    );
    for (text, y) in [
        (format!("{max_lead:+.0}"), M),
        ("0".to_owned(), zero),
        (format!("{:+.0}", -max_lead), H - M),
    ] {
        let _ = write!(
            lead,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{text}</text>"#,
            M - 4.0,
            y + 3.0
        );
    }
    let band = (W - 2.0 * M) / outcomes.len().max(1) as f64;
    for (i, o) in outcomes.iter().enumerate() {
        let v = o.lead_hours.get(&WarningLevel::Orange).copied().unwrap_or(0.0);
        let h = (v.abs() / max_lead) * (H / 2.0 - M);
        let y = if v >= 0.0 { zero - h } else { zero };
        let colour = if o.index == 0 { "#c0392b" } else { "#2980b9" };
        let _ = write!(
            lead,
            r#"<rect class="config" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>#{} {}: {v:+.1} h</title></rect><text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            M + i as f64 * band + band * 0.15,
            band * 0.7,
            h.max(1.0),
            o.index,
            escape(&changes_text(o)),
            M + i as f64 * band + band / 2.0,
            H - M + 14.0,
            o.index
        );
    }
    lead.push_str("</svg>");
    lead
}

/// The results table.
fn table(outcomes: &[Outcome]) -> String {
    let header: String = COLUMNS
        .iter()
        .map(|c| format!("<th>{}</th>", escape(c)))
        .collect();
    let mut rows = String::new();
    for o in outcomes {
        rows.push_str("<tr>");
        for cell in cells(o) {
            let _ = write!(rows, "<td>{}</td>", escape(&cell));
        }
        rows.push_str("</tr>");
    }
    format!("<table><tr>{header}</tr>{rows}</table>")
}

/// A self-contained page: inline SVG plots, no script, no external asset.
pub(super) fn render(source: &str, outcome_kind: &str, clues: usize, outcomes: &[Outcome]) -> String {
    let pr = precision_recall_plot(outcomes);
    let lead = lead_time_plot(outcomes);
    let table = table(outcomes);
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>yujing tune</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}figure{{display:inline-block;margin:0 2em 2em 0}}</style>
</head><body>
<h1>yujing tune</h1>
<p>History: {source}, {clues} clue versions. Outcomes: {outcome_kind}. Configuration #0 (red) is the one in force.</p>
<figure>{pr}<figcaption>Precision and recall of orange warnings, per configuration.</figcaption></figure>
<figure>{lead}<figcaption>Median hours by which orange warnings came earlier (up) or later (down) than under #0.</figcaption></figure>
{table}
</body></html>
"#,
        source = escape(source),
        outcome_kind = escape(outcome_kind),
    )
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
