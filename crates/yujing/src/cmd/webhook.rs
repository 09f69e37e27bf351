//! `yujing webhook`: each webhook's delivery position and refused entries; retry them.

use anyhow::{Context, Result};
use yujing_engine::EngineConfig;

use crate::open_log;
use crate::open_log_for_reading;
use crate::WebhookAction;

pub(crate) fn webhook(config: &EngineConfig, action: WebhookAction) -> Result<()> {
    match action {
        WebhookAction::Refused { json } => {
            let log = open_log_for_reading(config)?;
            let mut all = Vec::new();
            for hook in &config.server.webhooks {
                let refused = yujing_engine::refused(log.as_ref(), &hook.name)
                    .with_context(|| format!("reading webhook {}'s refused entries", hook.name))?;
                all.push((hook.name.clone(), refused));
            }
            if json {
                let value: Vec<serde_json::Value> = all
                    .iter()
                    .map(|(name, refused)| serde_json::json!({"name": name, "refused": refused}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "{:<20} {:>8} {:<28} {:>6} {:<25}",
                    "webhook", "offset", "event", "status", "at"
                );
                for (name, refused) in &all {
                    for r in refused {
                        println!(
                            "{:<20} {:>8} {:<28} {:>6} {:<25}",
                            name,
                            r.offset,
                            r.event,
                            r.status,
                            r.at.to_rfc3339()
                        );
                    }
                }
            }
        }
        WebhookAction::Retry { name } => {
            if !config.server.webhooks.iter().any(|h| h.name == name) {
                anyhow::bail!("no webhook named '{name}' in [[server.webhooks]]");
            }
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
