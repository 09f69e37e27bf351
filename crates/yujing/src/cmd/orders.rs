//! `yujing orders`: the work orders, or one with its audit trail.

use anyhow::Result;
use yujing_engine::tables::{OrderTable, OrderTrail};
use yujing_engine::{Built, EngineConfig, OrderStage};

use super::print_lines_or;
use crate::open_log_for_reading;

/// `yujing orders [ORDER_ID]`.
pub(crate) fn orders(config: &EngineConfig, built: &Built, order_id: Option<&str>, json: bool) -> Result<()> {
    let log = open_log_for_reading(config)?;
    let stage = OrderStage::open(&log, built.policy.clone())?;
    let Some(order_id) = order_id else {
        let orders: Vec<_> = stage.orders().collect();
        return print_lines_or(json, &orders, OrderTable(&orders));
    };
    let history = stage.history(&log, order_id)?;
    if history.is_empty() {
        anyhow::bail!("there is no work order {order_id} (`yujing orders` lists them)");
    }
    print_lines_or(json, &history, OrderTrail(&history))
}
