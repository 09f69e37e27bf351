//! Stores made for one job: the scratch store a replay or a sweep correlates into (never the live one), and
//! the copy of a stored log's clues into it.

use std::path::{Path, PathBuf};

use yujing_log::{Batch, EmbeddedLog, Log, LogError};

use crate::correlate::ClueRange;
use crate::read::{for_each_entry, ReadError};
use crate::topics::CLUES;

/// Why a scratch store could not be made or filled.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// Something other than a yujing store is where the scratch store goes: it is left alone.
    #[error("{0} exists and is not a yujing store; choose another --out")]
    NotAStore(PathBuf),
    /// Clearing or creating the directory failed.
    #[error("cannot {doing} {path}")]
    Io {
        /// `remove the previous scratch store` or `create`.
        doing: &'static str,
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Opening or writing the store failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Reading the source log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A fresh embedded store at `OUT/store`, replacing the one an earlier run left there. A directory there that
/// is not a yujing store is refused, never removed.
pub fn scratch_store(out_dir: &Path) -> Result<EmbeddedLog, ScratchError> {
    let store = out_dir.join("store");
    if store.exists() {
        if !EmbeddedLog::exists(&store) {
            return Err(ScratchError::NotAStore(store));
        }
        std::fs::remove_dir_all(&store).map_err(|source| ScratchError::Io {
            doing: "remove the previous scratch store",
            path: store.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&store).map_err(|source| ScratchError::Io {
        doing: "create",
        path: store.clone(),
        source,
    })?;
    Ok(EmbeddedLog::open(&store)?)
}

/// Copies the clues of `source` in `range` into `scratch`, in log order, keeping their append times. Returns
/// how many.
pub fn copy_clues(source: &dyn Log, scratch: &EmbeddedLog, range: &ClueRange) -> Result<u64, ScratchError> {
    let mut batch = Batch::new();
    let mut copied = 0u64;
    let mut failed = None;
    let from = range.from_offset.unwrap_or(0);
    for_each_entry(source, CLUES, from, |entry| {
        if range.to_offset.is_some_and(|to| entry.offset >= to) {
            return Ok(());
        }
        let clue: yujing_model::Clue =
            serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
                topic: CLUES.to_owned(),
                offset: entry.offset,
                reason: e.to_string(),
            })?;
        if !range.contains(entry.offset, &clue) {
            return Ok(());
        }
        batch.append(CLUES, entry.record.clone());
        copied += 1;
        if batch.appends() >= 1000 {
            if let Err(e) = scratch.write(std::mem::take(&mut batch)) {
                failed = Some(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !batch.is_empty() {
        scratch.write(batch)?;
    }
    Ok(copied)
}
