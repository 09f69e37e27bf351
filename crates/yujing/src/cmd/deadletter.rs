//! `yujing deadletter`: the rejected records, with feed, file, line and reason.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::{for_each_dead_letter, EngineConfig};
use yujing_model::FeedId;

use crate::open_log_for_reading;
use crate::write_json_lines;

pub(crate) fn deadletter(config: &EngineConfig, feed: Option<FeedId>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut letters = Vec::new();
    for_each_dead_letter(&log, |letter| {
        if feed.is_none_or(|f| f == letter.feed) {
            letters.push(letter);
        }
    })?;
    if json {
        write_json_lines(&mut out, &letters)?;
    } else {
        for letter in &letters {
            writeln!(
                out,
                "{:<12} {:<40} {:<17} {}",
                letter.feed.as_str(),
                letter.location.to_string(),
                letter.kind.as_str(),
                letter.reason
            )?;
        }
        writeln!(out, "{} rejected record(s)", letters.len())?;
    }
    out.flush()?;
    Ok(())
}
