//! `yujing ingest`: export files onto the log, then correlate them and open work orders.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use yujing_engine::{Built, EngineConfig, Ingestor, Pipeline, SystemClock};
use yujing_model::FeedId;

use super::print_json_or;
use crate::open_log;

pub(crate) fn ingest(
    config: &EngineConfig,
    built: &Built,
    feed: Option<FeedId>,
    json: bool,
    paths: &[PathBuf],
) -> Result<()> {
    let log = open_log(config)?;
    let bar = ProgressBar::hidden();
    let show_bar = std::io::stderr().is_terminal();
    let ingestor = Ingestor::new(log.as_ref(), &built.normalizer, &SystemClock);
    let report = ingestor.ingest_paths(paths, feed, &mut |progress| {
        // A bar only for long ingests, and only when a person is watching.
        if show_bar && progress.total > 4 * 1024 * 1024 && bar.is_hidden() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_length(progress.total);
            let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}");
            bar.set_style(style.unwrap_or_else(|_| ProgressStyle::default_bar()));
        }
        bar.set_position(progress.done);
    })?;
    bar.finish_and_clear();
    // Correlate the new clues and open or update the work orders of the new warnings.
    let (mut pipeline, step) = Pipeline::open_reporting(log, built.clone(), Arc::new(SystemClock))?;
    // The next ingest then replays only what comes after this one.
    pipeline.snapshot_if_due(true);
    // Raw units past `[store] raw_retention_days` go, for a store only ever fed by `yujing ingest`.
    pipeline.expire_raw()?;
    if report.files.is_empty() {
        // An empty drop directory is normal for a timer; say so, without failing.
        tracing::warn!(
            "no feed export files found (names must start with a feed id, e.g. police-20260611.csv)"
        );
    }
    print_json_or(json, &report)?;
    if !json {
        print!("{step}");
    }
    Ok(())
}
