//! `yujing explain`: why a clue did or did not join a cluster.

use anyhow::Result;
use yujing_engine::tables::ExplanationTable;
use yujing_engine::{explain_clue, Built, EngineConfig};

use crate::open_log_for_reading;

pub(crate) fn explain(config: &EngineConfig, built: &Built, clue_id: &str, top: usize) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let Some((clue, candidates)) = explain_clue(log.as_ref(), &built.correlate, clue_id)? else {
        anyhow::bail!("no clue {clue_id} in the store ({})", config.store.name());
    };
    let scoring = &built.correlate.scoring;
    let anchor = if scoring.require_anchor {
        "required"
    } else {
        "not required"
    };
    println!(
        "{clue_id} ({}, {}): {} candidates; link threshold {}, anchor {anchor}",
        clue.occurred_at.to_rfc3339(),
        clue.dispute_type,
        candidates.len(),
        scoring.link_threshold,
    );
    print!(
        "{}",
        ExplanationTable {
            candidates: &candidates,
            top
        }
    );
    Ok(())
}
