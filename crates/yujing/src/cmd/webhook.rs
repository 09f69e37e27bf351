//! `yujing webhook`: each webhook's refused entries; asking for them to be sent again.

use anyhow::{Context, Result};
use yujing_engine::tables::RefusedTable;
use yujing_engine::EngineConfig;
use yujing_server::ServerConfig;

use crate::{open_log, open_log_for_reading, WebhookAction};

pub(crate) fn webhook(config: &EngineConfig, server: &ServerConfig, action: WebhookAction) -> Result<()> {
    match action {
        WebhookAction::Refused { json } => {
            let log = open_log_for_reading(config)?;
            let mut all = Vec::new();
            for hook in &server.webhooks {
                let refused = yujing_engine::refused(log.as_ref(), &hook.name)
                    .with_context(|| format!("reading webhook {}'s refused entries", hook.name))?;
                all.push((hook.name.clone(), refused));
            }
            if json {
                let value: Vec<_> = all
                    .iter()
                    .map(|(name, refused)| serde_json::json!({"name": name, "refused": refused}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", RefusedTable(&all));
            }
        }
        WebhookAction::Retry { name } => {
            anyhow::ensure!(
                server.webhooks.iter().any(|h| h.name == name),
                "no webhook named '{name}' in [[server.webhooks]]"
            );
            let log = open_log(config).context(
                "beside a running `yujing run`, ask it instead: POST /api/v1/webhooks/NAME/retry with a centre token",
            )?;
            let retrying = yujing_engine::request_retry(log.as_ref(), &name)
                .with_context(|| format!("requesting a retry of webhook {name}"))?;
            println!("{retrying} refused entries of {name} will be sent again when `yujing run` next starts");
        }
    }
    Ok(())
}
