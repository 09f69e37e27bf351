//! Work orders (工单): what a warning opens, and the events that drive it to closure.
//!
//! A work order is event-sourced: its state is the fold of its [`WorkOrderEvent`]s, and that event stream is
//! also its audit trail. Every event says who did what (actor, role, unit), when and why.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DisputeType, WarningLevel};

/// The role an actor acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The city centre (市社会治理现代化指挥中心): triages, dispatches, supervises, verifies, closes.
    Centre,
    /// A town's or handling unit's handler: accepts, handles, returns, resolves its own town's orders.
    TownHandler,
    /// Reads only.
    Viewer,
    /// yujing itself: orders raised from warnings, supervision cards, automatic escalation.
    System,
}

impl Role {
    /// `centre`, `town_handler`, `viewer` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Centre => "centre",
            Role::TownHandler => "town_handler",
            Role::Viewer => "viewer",
            Role::System => "system",
        }
    }
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The actor's name (an operator's account name, or `yujing`).
    pub name: String,
    /// The role acted in.
    pub role: Role,
    /// The unit acted for (`如皋市社会治理现代化指挥中心`, `如城街道`).
    pub unit: String,
}

impl Actor {
    /// yujing itself, acting for `unit`.
    pub fn system(unit: &str) -> Actor {
        Actor {
            name: "yujing".to_owned(),
            role: Role::System,
            unit: unit.to_owned(),
        }
    }
}

/// Where a work order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Opened by a warning, waiting for the centre.
    Raised,
    /// The centre looked at it and keeps it until dispatch (also after a town returned it).
    Triaged,
    /// Sent to a town or handling unit, waiting for acceptance.
    Dispatched,
    /// The unit signed for it.
    Accepted,
    /// Being handled.
    InProgress,
    /// The unit reports it resolved; waiting for the follow-up visit.
    Resolved,
    /// The follow-up visit found it resolved; waiting for the centre to close it.
    Verifying,
    /// Closed: the loop is complete.
    Closed,
    /// A long-term ledger item (长期挂账), reviewed on a date.
    Parked,
    /// Dismissed as a false positive.
    Dismissed,
    /// Merged into another order about the same dispute.
    Merged,
}

impl OrderStatus {
    /// Every state, in the order of the loop (then the ledger, the closed ends).
    pub const ALL: [OrderStatus; 11] = [
        OrderStatus::Raised,
        OrderStatus::Triaged,
        OrderStatus::Dispatched,
        OrderStatus::Accepted,
        OrderStatus::InProgress,
        OrderStatus::Resolved,
        OrderStatus::Verifying,
        OrderStatus::Parked,
        OrderStatus::Closed,
        OrderStatus::Dismissed,
        OrderStatus::Merged,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Raised => "raised",
            OrderStatus::Triaged => "triaged",
            OrderStatus::Dispatched => "dispatched",
            OrderStatus::Accepted => "accepted",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::Resolved => "resolved",
            OrderStatus::Verifying => "verifying",
            OrderStatus::Closed => "closed",
            OrderStatus::Parked => "parked",
            OrderStatus::Dismissed => "dismissed",
            OrderStatus::Merged => "merged",
        }
    }

    /// Whether the order needs no more work (closed, dismissed or merged).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Closed | OrderStatus::Dismissed | OrderStatus::Merged
        )
    }
}

/// Where an order is escalated (提级) to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationTarget {
    /// A city department leads (escalation level 1).
    CityDepartment {
        /// The department (`市住建局`).
        department: String,
    },
    /// Joint handling by several departments (联动联办, escalation level 2).
    JointHandling {
        /// The departments taking part; the first leads.
        departments: Vec<String>,
    },
}

impl EscalationTarget {
    /// The escalation level the target stands for: 1 a city department, 2 joint handling.
    pub fn level(&self) -> u8 {
        match self {
            EscalationTarget::CityDepartment { .. } => 1,
            EscalationTarget::JointHandling { .. } => 2,
        }
    }

    /// The unit now leading the handling.
    pub fn lead(&self) -> String {
        match self {
            EscalationTarget::CityDepartment { department } => department.clone(),
            EscalationTarget::JointHandling { departments } => {
                format!("联动联办({})", departments.join("、"))
            }
        }
    }
}

/// The supervision card (督办) issued when a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Card {
    /// 黄牌: the acceptance deadline passed unaccepted.
    Yellow,
    /// 红牌: the handling deadline passed unresolved; escalates automatically.
    Red,
}

/// The deadline a card is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    /// Sign for the order.
    Accept,
    /// Resolve it.
    Handle,
}

/// How satisfied the parties were at the follow-up visit (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意: verification fails and the order reopens.
    Dissatisfied,
}

/// Why an order reopened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReopenCause {
    /// The follow-up visit found the parties dissatisfied.
    VerificationFailed,
    /// The dispute was reported again within the watch window after closure.
    Recurred {
        /// The warning that showed it.
        warning_id: String,
    },
    /// The centre reopened it by hand.
    Manual,
}

/// What a dispute is about, as its warnings and work orders carry it: the most reported town, type and place
/// among the counted reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DisputeSubject {
    /// The cluster (dispute).
    pub cluster_id: String,
    /// The town's code (`unknown` when no report said).
    pub town_code: String,
    /// The town's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town_name: Option<String>,
    /// The dispute type.
    pub dispute_type: DisputeType,
    /// The place (estate, village group or road), when the reports named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

/// What happened to a work order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderChange {
    /// A warning opened the order.
    Raised {
        /// The warning.
        warning_id: String,
        /// Its level.
        level: WarningLevel,
        /// What the order is about (from the warning).
        subject: DisputeSubject,
    },
    /// The centre triaged it.
    Triaged,
    /// Sent to a unit; the deadlines start now.
    Dispatched {
        /// The town or handling unit.
        unit: String,
        /// Sign for it by then.
        accept_by: DateTime<Utc>,
        /// Resolve it by then.
        handle_by: DateTime<Utc>,
    },
    /// The unit signed for it.
    Accepted,
    /// Handling started.
    Started,
    /// The unit says it is not its remit (the reason says why); the order goes back to the centre.
    Returned {
        /// The unit that returned it.
        unit: String,
        /// Returns so far, this one included.
        returns: u32,
    },
    /// Escalated (提级).
    Escalated {
        /// To whom.
        target: EscalationTarget,
        /// The escalation level now (0 the town, 1 a city department, 2 joint handling).
        level: u8,
        /// Whether yujing escalated it (a red card, or the warning rising to red).
        automatic: bool,
    },
    /// The same dispute's warning rose a level.
    LevelRaised {
        /// The new warning.
        warning_id: String,
        /// The new level.
        level: WarningLevel,
    },
    /// The unit reports it resolved.
    Resolved {
        /// How it was resolved.
        summary: String,
    },
    /// The follow-up visit's result.
    Verified {
        /// How satisfied the parties were.
        satisfaction: Satisfaction,
    },
    /// Closed.
    Closed,
    /// Reopened.
    Reopened {
        /// Why.
        cause: ReopenCause,
    },
    /// Parked as a long-term ledger item.
    Parked {
        /// When to review it.
        review_on: NaiveDate,
    },
    /// Taken off the long-term ledger.
    Resumed,
    /// Dismissed as a false positive.
    Dismissed,
    /// Merged into another order.
    Merged {
        /// The order it joined.
        into_order_id: String,
    },
    /// Another order was merged into this one.
    Absorbed {
        /// The order merged in. (Not `order_id`: the change is flattened into [`WorkOrderEvent`], whose own
        /// `order_id` would collide.)
        merged_order_id: String,
    },
    /// A supervision card (督办).
    Supervised {
        /// Yellow or red.
        card: Card,
        /// The deadline that passed.
        deadline: Deadline,
        /// When it was due.
        due: DateTime<Utc>,
    },
}

impl OrderChange {
    /// The change's name, as in its `type` field.
    pub fn name(&self) -> &'static str {
        match self {
            OrderChange::Raised { .. } => "raised",
            OrderChange::Triaged => "triaged",
            OrderChange::Dispatched { .. } => "dispatched",
            OrderChange::Accepted => "accepted",
            OrderChange::Started => "started",
            OrderChange::Returned { .. } => "returned",
            OrderChange::Escalated { .. } => "escalated",
            OrderChange::LevelRaised { .. } => "level_raised",
            OrderChange::Resolved { .. } => "resolved",
            OrderChange::Verified { .. } => "verified",
            OrderChange::Closed => "closed",
            OrderChange::Reopened { .. } => "reopened",
            OrderChange::Parked { .. } => "parked",
            OrderChange::Resumed => "resumed",
            OrderChange::Dismissed => "dismissed",
            OrderChange::Merged { .. } => "merged",
            OrderChange::Absorbed { .. } => "absorbed",
            OrderChange::Supervised { .. } => "supervised",
        }
    }
}

/// One event of a work order, as written to the `workorders` topic: the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkOrderEvent {
    /// The order (deterministic: from the warning that opened it).
    pub order_id: String,
    /// The event's number within the order, from 1.
    pub seq: u32,
    /// When it happened (for orders raised by a warning, the warning's event time).
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: Actor,
    /// Why, in the actor's words (required for returns, dismissals and reopening by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub change: OrderChange,
}

impl WorkOrderEvent {
    /// A stable id of the event (`<order id>#<seq>`), the idempotency key for downstream systems.
    pub fn event_id(&self) -> String {
        format!("{}#{}", self.order_id, self.seq)
    }
}
