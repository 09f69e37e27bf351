//! `yujing vocab`: category words no table maps, with the lines that would map them.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use yujing_engine::{for_each_clue, EngineConfig};
use yujing_model::FeedId;

use crate::open_log_for_reading;
use crate::write_json_lines;

pub(crate) fn vocab(config: &EngineConfig, feed: Option<FeedId>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let mut collector = yujing_engine::VocabCollector::default();
    for_each_clue(&log, |clue| {
        if feed.is_none_or(|f| f == clue.feed) {
            collector.add(&clue);
        }
    })?;
    let words = collector.finish();
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if json {
        write_json_lines(&mut out, &words)?;
    } else {
        for w in &words {
            writeln!(
                out,
                "{:<12} {:<16} {:>7} {:<8} {}",
                w.feed.as_str(),
                if w.word.trim().is_empty() {
                    "(none)"
                } else {
                    w.word.as_str()
                },
                w.records,
                w.suggested_type.name(),
                w.example_clue_id
            )?;
        }
        writeln!(out, "{} unmapped category word(s)", words.len())?;
        if !words.is_empty() {
            writeln!(
                out,
                "\nTo map them, check the suggested types and add to the configuration:"
            )?;
            write!(
                out,
                "{}",
                yujing_engine::mapping_config(&words).context("writing the suggested mapping")?
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
