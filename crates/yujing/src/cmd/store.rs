//! `yujing store`: check every record of the embedded store, or back it up.

use anyhow::Result;
use yujing_engine::vault::Vault;
use yujing_engine::{Built, EngineConfig};

use crate::StoreAction;

pub(crate) fn store(config: &EngineConfig, built: &Built, action: StoreAction) -> Result<()> {
    let store = &config.store;
    // Raw units are checked by opening them, under the deployment's secret.
    let vault = Vault::new(built.normalizer.hasher());
    match action {
        StoreAction::Check => print!("{}", yujing_engine::store::check(store, &vault)?),
        StoreAction::Backup { dir: to } => {
            let topics = yujing_engine::store::backup(store, &to, &vault)?;
            let (from, to) = (store.data_dir.display(), to.display());
            println!("backed up {from} to {to} ({topics} topics, checked); restore with --data-dir {to}");
        }
    }
    Ok(())
}
