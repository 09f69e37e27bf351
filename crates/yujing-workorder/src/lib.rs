//! The work order (工单): what an orange or red warning opens, driven to closure in a loop the city centre
//! supervises.
//!
//! Pure: no I/O, no clock. The engine feeds it warnings, commands and the wall time, and writes the events it
//! decides to the `workorders` topic; every order's state is the fold of its events.
//!
//! # Layout
//! - [`WorkOrder`]: the aggregate. [`WorkOrder::decide`] turns a [`Command`] into events (or a
//!   [`CommandError`]); [`WorkOrder::apply`] folds an event into the state. [`WorkOrder::open`],
//!   [`WorkOrder::on_warning`] and [`WorkOrder::supervise`] are what yujing itself decides: opening an order for a
//!   warning, raising or reopening it on a later warning, and supervision cards with automatic escalation.
//! - [`WorkOrderConfig`] (`[workorders]`) builds the [`Policy`]: routing (town × dispute type → unit), deadlines
//!   per level, escalation departments, returns allowed, the watch window after closure.
//! - [`WorkingCalendar`] and [`DeadlineSpec`]: deadlines on working days, with holidays and 调休 weekends.
//!
//! The lifecycle: raised → triaged → dispatched → accepted → in progress → resolved → verifying → closed; with
//! returned (back to the centre; after `max_returns` the centre keeps it), escalated (提级: a city department,
//! then joint handling), reopened (failed verification, a recurrence within the watch window, or by hand),
//! parked (with a review date), dismissed and merged.

pub mod calendar;
pub mod config;
pub mod order;

pub use calendar::{CalendarConfig, DeadlineSpec, WorkingCalendar};
pub use config::{
    Deadlines, EscalationConfig, LevelDeadlines, Policy, RoutingConfig, WorkOrderConfig, WorkOrderConfigError,
};
pub use order::{order_id_for, Command, CommandError, WorkOrder};
