//! `yujing fit`: the scoring weights fitted on labeled data ([`yujing_tune::fit`]).

use std::path::Path;

use anyhow::{Context, Result};
use yujing_engine::Built;

pub(crate) fn fit(built: &Built, truth: &Path, out: Option<&Path>, hold: &[String]) -> Result<()> {
    let fit = yujing_tune::fit::fit(built, truth, hold)?;
    if let Some(path) = out {
        std::fs::write(path, fit.report.to_toml())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    print!("{fit}");
    Ok(())
}
