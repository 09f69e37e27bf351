//! `yujing store`: back the embedded store up, and check every record of it.

use anyhow::{Context, Result};
use yujing_engine::Backend;
use yujing_engine::EngineConfig;
use yujing_log::EmbeddedLog;

use crate::StoreAction;

pub(crate) fn store(config: &EngineConfig, action: StoreAction) -> Result<()> {
    if config.store.backend == Backend::Kafka {
        anyhow::bail!(
            "the store is on Kafka: its topics are checked and copied by Kafka (replication, MirrorMaker); `yujing store` works on the embedded log"
        );
    }
    let dir = &config.store.data_dir;
    match action {
        StoreAction::Check => {
            if !EmbeddedLog::exists(dir) {
                anyhow::bail!("there is no store at {}", dir.display());
            }
            let log = EmbeddedLog::open_read_only(dir)?;
            let counts = log
                .check()
                .with_context(|| format!("the store at {} failed its check", dir.display()))?;
            for (topic, count) in &counts {
                println!("{topic:<32} {count:>10}");
            }
            println!("ok: {} topics, every record read back", counts.len());
        }
        StoreAction::Backup { dir: to } => {
            if to.exists() {
                anyhow::bail!("{} exists: back up to a new directory", to.display());
            }
            if !EmbeddedLog::exists(dir) {
                anyhow::bail!("there is no store at {}", dir.display());
            }
            let log = EmbeddedLog::open(dir).with_context(|| {
                format!(
                    "cannot open {} to back it up; if `yujing run` is writing it, stop it first (one process writes a store at a time)",
                    dir.display()
                )
            })?;
            log.backup(&to)
                .with_context(|| format!("cannot back up {} to {}", dir.display(), to.display()))?;
            let copy = EmbeddedLog::open_read_only(&to)?;
            let counts = copy.check().context("the copy failed its check")?;
            println!(
                "backed up {} to {} ({} topics, checked); restore with --data-dir {}",
                dir.display(),
                to.display(),
                counts.len(),
                to.display()
            );
        }
    }
    Ok(())
}
