//! `yujing clues`: the clues on the log as JSON Lines.

use anyhow::Result;
use yujing_engine::{for_each_clue, latest_versions, EngineConfig};
use yujing_model::FeedId;

use super::print_json_lines;
use crate::open_log_for_reading;

pub(crate) fn clues(config: &EngineConfig, feed: Option<FeedId>, latest: bool) -> Result<()> {
    let mut selected = Vec::new();
    for_each_clue(&open_log_for_reading(config)?, |clue| {
        if feed.is_none_or(|f| f == clue.feed) {
            selected.push(clue);
        }
    })?;
    if latest {
        selected = latest_versions(selected);
    }
    print_json_lines(&selected)
}
