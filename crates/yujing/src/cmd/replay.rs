//! `yujing replay`: the whole pipeline over a history into a fresh store ([`yujing_engine::replay`]).

use std::path::Path;

use anyhow::Result;
use yujing_engine::replay::{replay as run_replay, ReplaySource};
use yujing_engine::{Built, ClueRange, EngineConfig};

use crate::open_log_for_reading;

/// Replays the folder `feeds` or, without one, the stored log's clues in `range`, into `out`.
pub(crate) fn replay(
    config: &EngineConfig,
    built: &Built,
    feeds: Option<&Path>,
    range: ClueRange,
    out: &Path,
) -> Result<()> {
    let stored;
    let source = match feeds {
        Some(dir) => ReplaySource::Feeds(dir),
        None => {
            stored = open_log_for_reading(config)?;
            ReplaySource::Log {
                log: stored.as_ref(),
                range,
                name: config.store.name(),
            }
        }
    };
    print!("{}", run_replay(built, source, out)?);
    Ok(())
}
