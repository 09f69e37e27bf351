//! `yujing explain`: why a clue did or did not join a cluster.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::{Built, EngineConfig};

use crate::open_log_for_reading;

pub(crate) fn explain(config: &EngineConfig, built: &Built, clue_id: &str, top: usize) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut correlator = yujing_correlate::Correlator::new(built.correlate.clone());
    let clues = yujing_engine::clues_in_event_time(&log)?;
    let Some(target) = clues.iter().position(|c| c.clue_id == clue_id) else {
        anyhow::bail!(
            "no clue {clue_id} in the store at {}",
            config.store.data_dir.display()
        );
    };
    for clue in &clues[..target] {
        correlator.observe(clue);
    }
    let clue = &clues[target];
    let candidates = correlator.explain(clue);
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    writeln!(
        out,
        "{clue_id} ({}, {}): {} candidates; link threshold {}, anchor {}",
        clue.occurred_at.to_rfc3339(),
        clue.dispute_type,
        candidates.len(),
        built.correlate.scoring.link_threshold,
        if built.correlate.scoring.require_anchor {
            "required"
        } else {
            "not required"
        }
    )?;
    for c in candidates.iter().take(top) {
        writeln!(
            out,
            "{:>7.2} {} {:<44} {}",
            c.score,
            if c.anchored { "anchored" } else { "no-anchor" },
            c.candidate_clue_id,
            c.cluster_id
        )?;
        writeln!(out, "        {}", c.levels.join(" "))?;
        writeln!(
            out,
            "        similarity: description {:.2}, subject (without places) {:.2}",
            c.description_similarity, c.subject_similarity
        )?;
    }
    out.flush()?;
    Ok(())
}
