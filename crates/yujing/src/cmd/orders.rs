//! `yujing orders`: the work orders, or one with its audit trail.

use std::io::{BufWriter, Write};

use anyhow::Result;
use yujing_engine::{Built, EngineConfig, OrderStage};

use crate::open_log_for_reading;
use crate::write_json_lines;

/// `yujing orders [ORDER_ID]`.
pub(crate) fn orders(config: &EngineConfig, built: &Built, order_id: Option<&str>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let stage = OrderStage::open(&log, built.policy.clone())?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    if let Some(order_id) = order_id {
        let history = stage.history(order_id);
        if history.is_empty() {
            anyhow::bail!("there is no work order {order_id} (`yujing orders` lists them)");
        }
        if json {
            write_json_lines(&mut out, history)?;
        } else {
            for event in history {
                writeln!(
                    out,
                    "{:>3} {} {:<13} {:<12} {:<16} {}{}",
                    event.seq,
                    event.at.format("%Y-%m-%d %H:%M"),
                    event.change.name(),
                    event.actor.role.as_str(),
                    event.actor.name,
                    event.actor.unit,
                    event
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )?;
            }
        }
    } else {
        let orders: Vec<_> = stage.orders().collect();
        if json {
            write_json_lines(&mut out, &orders)?;
        } else {
            for order in &orders {
                writeln!(
                    out,
                    "{:<24} {:<6} {:<11} {:<12} {:<10} {:<24} esc {} {}",
                    order.order_id,
                    order.level.as_str(),
                    order.status.as_str(),
                    order
                        .subject
                        .town_name
                        .as_deref()
                        .unwrap_or(&order.subject.town_code),
                    order.subject.dispute_type.name(),
                    order.unit.as_deref().unwrap_or("-"),
                    order.escalation_level,
                    order.subject.place.as_deref().unwrap_or("")
                )?;
            }
            writeln!(out, "{} work order(s)", orders.len())?;
        }
    }
    out.flush()?;
    Ok(())
}
