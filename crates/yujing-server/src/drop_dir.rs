//! The drop directory `yujing run --watch DIR` polls: each new or changed export file is ingested on its own, so
//! one bad file cannot hold up the others, and files already taken are not read again.
//!
//! A file is remembered by its size and modification time once it has been ingested; it is read again only when
//! either changes (an upstream that rewrites a file in place). A file that fails to ingest (unreadable, or the
//! store refused the write) is tried again on the next polls; after [`ATTEMPTS`] failures in a row it is
//! quarantined: skipped, with an error naming it, until it changes. Ingestion is idempotent, so a restart that
//! reads every file once more adds nothing.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::error::ApiError;
use crate::AppState;

/// Failures in a row after which a file is quarantined until it changes.
pub const ATTEMPTS: u32 = 3;

/// What the poller knows of a file: its size and modification time when last looked at, and how it went.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    version: (u64, Option<SystemTime>),
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Ingested,
    Failed(u32),
    Quarantined,
}

/// Polls `dir` every `every` until `shutdown` turns true.
pub async fn poll(state: AppState, dir: PathBuf, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // The walk runs off the pipeline's lock: the API is not held up by a large directory.
        let listed = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || yujing_engine::collect_inputs(&[dir], None)).await
        };
        let files = match listed {
            Ok(Ok(inputs)) => inputs.files,
            Ok(Err(error)) => {
                tracing::error!(dir = %dir.display(), %error, "reading the drop directory");
                continue;
            }
            Err(_) => return,
        };
        let mut current = HashSet::with_capacity(files.len());
        for (path, _) in files {
            if *shutdown.borrow() {
                return;
            }
            let version = std::fs::metadata(&path)
                .map(|m| (m.len(), m.modified().ok()))
                .unwrap_or((0, None));
            let previous = seen.get(&path).filter(|s| s.version == version).map(|s| s.state);
            let failures = match previous {
                Some(State::Ingested | State::Quarantined) => {
                    current.insert(path);
                    continue;
                }
                Some(State::Failed(n)) => n,
                None => 0,
            };
            let file = path.clone();
            let result = crate::api::with_pipeline(&state, move |p| {
                p.ingest_paths(std::slice::from_ref(&file))
                    .map_err(ApiError::from)
            })
            .await;
            let state = after(failures, result.is_ok());
            match (&result, state) {
                (Ok((report, step)), _) => {
                    if report.total.new_clues + report.total.new_versions + report.total.rejected > 0 {
                        tracing::info!(
                            file = %path.display(),
                            new_clues = report.total.new_clues,
                            rejected = report.total.rejected,
                            warnings = step.warnings.len(),
                            "drop directory ingested"
                        );
                    }
                }
                (Err(error), State::Quarantined) => {
                    tracing::error!(file = %path.display(), code = error.code, message = %error.message,
                        detail = error.detail.as_deref().unwrap_or(""), attempts = ATTEMPTS,
                        "a drop-directory file keeps failing: quarantined (skipped until it changes)");
                }
                (Err(error), _) => {
                    tracing::warn!(file = %path.display(), code = error.code, message = %error.message,
                        detail = error.detail.as_deref().unwrap_or(""), attempt = failures + 1,
                        "a drop-directory file failed; the others go on, it is tried again");
                }
            }
            current.insert(path.clone());
            seen.insert(path, Seen { version, state });
        }
        // Files that went away are forgotten: the map follows the directory, not its history.
        seen.retain(|path, _| current.contains(path));
    }
}

/// How a file stands after an attempt, `failures` attempts having failed in a row before it.
fn after(failures: u32, succeeded: bool) -> State {
    if succeeded {
        State::Ingested
    } else if failures + 1 >= ATTEMPTS {
        State::Quarantined
    } else {
        State::Failed(failures + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_quarantined_after_three_failures_in_a_row_and_a_success_resets_it() {
        assert_eq!(after(0, true), State::Ingested);
        assert_eq!(after(0, false), State::Failed(1));
        assert_eq!(after(1, false), State::Failed(2));
        assert_eq!(after(2, false), State::Quarantined);
        assert_eq!(after(2, true), State::Ingested);
    }
}
