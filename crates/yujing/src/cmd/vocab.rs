//! `yujing vocab`: category words no table maps, with the lines that would map them.

use anyhow::Result;
use yujing_engine::tables::VocabTable;
use yujing_engine::{for_each_clue, EngineConfig, VocabCollector};
use yujing_model::FeedId;

use super::print_lines_or;
use crate::open_log_for_reading;

pub(crate) fn vocab(config: &EngineConfig, feed: Option<FeedId>, json: bool) -> Result<()> {
    let mut collector = VocabCollector::default();
    for_each_clue(&open_log_for_reading(config)?, |clue| {
        if feed.is_none_or(|f| f == clue.feed) {
            collector.add(&clue);
        }
    })?;
    let words = collector.finish();
    print_lines_or(json, &words, VocabTable(&words))
}
