//! `yujing store`: check every record of the embedded store, or back it up.

use anyhow::Result;
use yujing_engine::EngineConfig;

use crate::StoreAction;

pub(crate) fn store(config: &EngineConfig, action: StoreAction) -> Result<()> {
    let store = &config.store;
    match action {
        StoreAction::Check => {
            let counts = yujing_engine::store::check(store)?;
            for (topic, count) in &counts {
                println!("{topic:<32} {count:>10}");
            }
            println!("ok: {} topics, every record read back", counts.len());
        }
        StoreAction::Backup { dir: to } => {
            let topics = yujing_engine::store::backup(store, &to)?;
            let (from, to) = (store.data_dir.display(), to.display());
            println!("backed up {from} to {to} ({topics} topics, checked); restore with --data-dir {to}");
        }
    }
    Ok(())
}
