//! `yujing clues`: the clues on the log as JSON Lines.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::{for_each_clue, EngineConfig};
use yujing_model::FeedId;

use crate::open_log_for_reading;
use crate::write_json_lines;

pub(crate) fn clues(config: &EngineConfig, feed: Option<FeedId>, latest: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut selected = Vec::new();
    for_each_clue(&log, |clue| {
        if feed.is_none_or(|f| f == clue.feed) {
            selected.push(clue);
        }
    })?;
    if latest {
        // Each clue's last version, at the position of its first appearance.
        let mut position = std::collections::HashMap::new();
        let mut kept: Vec<yujing_model::Clue> = Vec::new();
        for clue in selected {
            match position.get(&clue.clue_id) {
                Some(&i) => kept[i] = clue,
                None => {
                    position.insert(clue.clue_id.clone(), kept.len());
                    kept.push(clue);
                }
            }
        }
        selected = kept;
    }
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    write_json_lines(&mut out, &selected)?;
    out.flush()?;
    Ok(())
}
