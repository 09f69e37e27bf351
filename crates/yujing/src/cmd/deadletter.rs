//! `yujing deadletter`: the rejected records, with feed, file, line and reason.

use anyhow::Result;
use yujing_engine::tables::DeadLetterTable;
use yujing_engine::{for_each_dead_letter, EngineConfig};
use yujing_model::FeedId;

use super::print_lines_or;
use crate::open_log_for_reading;

pub(crate) fn deadletter(config: &EngineConfig, feed: Option<FeedId>, json: bool) -> Result<()> {
    let mut letters = Vec::new();
    for_each_dead_letter(&open_log_for_reading(config)?, |letter| {
        if feed.is_none_or(|f| f == letter.feed) {
            letters.push(letter);
        }
    })?;
    print_lines_or(json, &letters, DeadLetterTable(&letters))
}
