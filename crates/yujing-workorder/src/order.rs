//! The WorkOrder aggregate: [`WorkOrder::decide`] turns a command into events without changing anything;
//! [`WorkOrder::apply`] folds an event into the state. State is only ever changed by applying events, so the
//! events on the log rebuild every order exactly.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use yujing_model::{
    Actor, Card, Deadline, DisputeSubject, EscalationTarget, OrderChange, OrderStatus, ReopenCause, Role,
    Satisfaction, Warning, WarningLevel, WorkOrderEvent,
};

use crate::config::Policy;

/// A command to a work order, as the HTTP API takes it (`{"command": "dispatch", "unit": "如城街道"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// The centre has looked at the order.
    Triage,
    /// Send it to a unit; without one, to the unit routing chooses.
    Dispatch {
        /// The unit, if not the routed one.
        #[serde(default)]
        unit: Option<String>,
    },
    /// Sign for it.
    Accept,
    /// Start handling it.
    Start,
    /// Not our remit: back to the centre (reason required).
    Return,
    /// Escalate (提级).
    Escalate {
        /// To whom.
        target: EscalationTarget,
    },
    /// Report it resolved.
    Resolve {
        /// How.
        summary: String,
    },
    /// Record the follow-up visit.
    Verify {
        /// How satisfied the parties were.
        satisfaction: Satisfaction,
    },
    /// Close it.
    Close,
    /// Reopen it (reason required).
    Reopen,
    /// Park it as a long-term ledger item.
    Park {
        /// When to review it.
        review_on: NaiveDate,
    },
    /// Take it off the ledger.
    Resume,
    /// Dismiss it as a false positive (reason required).
    Dismiss,
    /// Merge it into another open order about the same dispute.
    Merge {
        /// The order to merge into.
        into_order_id: String,
    },
}

impl Command {
    /// The command's name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Triage => "triage",
            Command::Dispatch { .. } => "dispatch",
            Command::Accept => "accept",
            Command::Start => "start",
            Command::Return => "return",
            Command::Escalate { .. } => "escalate",
            Command::Resolve { .. } => "resolve",
            Command::Verify { .. } => "verify",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Park { .. } => "park",
            Command::Resume => "resume",
            Command::Dismiss => "dismiss",
            Command::Merge { .. } => "merge",
        }
    }

    /// The command's row of [`TRANSITIONS`].
    pub fn transition(&self) -> &'static Transition {
        let name = self.name();
        TRANSITIONS
            .iter()
            .find(|t| t.command == name)
            .expect("every command has a row in TRANSITIONS (a test checks it)")
    }
}

/// One command of each kind that needs nothing but the order, with placeholder arguments: what
/// [`WorkOrder::available_commands`] tries.
fn button_commands() -> [Command; 12] {
    [
        Command::Triage,
        Command::Dispatch { unit: None },
        Command::Accept,
        Command::Start,
        Command::Return,
        Command::Escalate {
            target: EscalationTarget::CityDepartment {
                department: "市级部门".to_owned(),
            },
        },
        Command::Resolve {
            summary: "已化解".to_owned(),
        },
        Command::Verify {
            satisfaction: Satisfaction::Satisfied,
        },
        Command::Close,
        Command::Reopen,
        Command::Resume,
        Command::Dismiss,
    ]
}

/// Who may issue a command.
const CENTRE: &[Role] = &[Role::Centre];
/// The centre may do everything; a town handler what a handling unit does.
const CENTRE_OR_UNIT: &[Role] = &[Role::Centre, Role::TownHandler];

/// The states an order is open in: it can still be parked, dismissed or merged.
const OPEN: &[OrderStatus] = &[
    OrderStatus::Raised,
    OrderStatus::Triaged,
    OrderStatus::Dispatched,
    OrderStatus::Accepted,
    OrderStatus::InProgress,
    OrderStatus::Resolved,
    OrderStatus::Verifying,
];

/// A command's place in the lifecycle: the states it applies in, who may issue it, and whether it needs a
/// reason. The events it gives are [`WorkOrder::decide`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The command's name.
    pub command: &'static str,
    /// The states it applies in.
    pub from: &'static [OrderStatus],
    /// The roles that may issue it (the system may issue any).
    pub roles: &'static [Role],
    /// Whether it is refused without a reason.
    pub reason_required: bool,
}

const fn row(
    command: &'static str,
    from: &'static [OrderStatus],
    roles: &'static [Role],
    reason_required: bool,
) -> Transition {
    Transition {
        command,
        from,
        roles,
        reason_required,
    }
}

/// The work order's lifecycle in one table: each command, the states it applies in, who may issue it, and
/// whether it needs a reason.
pub const TRANSITIONS: &[Transition] = {
    use OrderStatus::{
        Accepted, Closed, Dispatched, InProgress, Parked, Raised, Resolved, Triaged, Verifying,
    };
    &[
        row("triage", &[Raised], CENTRE, false),
        row("dispatch", &[Raised, Triaged], CENTRE, false),
        row("accept", &[Dispatched], CENTRE_OR_UNIT, false),
        row("start", &[Accepted], CENTRE_OR_UNIT, false),
        row("return", &[Dispatched, Accepted], CENTRE_OR_UNIT, true),
        row(
            "escalate",
            &[Triaged, Dispatched, Accepted, InProgress],
            CENTRE_OR_UNIT,
            false,
        ),
        row("resolve", &[Accepted, InProgress], CENTRE_OR_UNIT, false),
        row("verify", &[Resolved], CENTRE, false),
        row("close", &[Verifying], CENTRE, false),
        row("reopen", &[Resolved, Verifying, Closed], CENTRE, true),
        row("park", OPEN, CENTRE, false),
        row("resume", &[Parked], CENTRE, false),
        row("dismiss", OPEN, CENTRE, true),
        row(
            "merge",
            &[
                Raised, Triaged, Dispatched, Accepted, InProgress, Resolved, Verifying, Parked,
            ],
            CENTRE,
            false,
        ),
    ]
};

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The order is not in a state the command applies to.
    #[error("cannot {command} order {order_id}: it is {status}; {hint}")]
    WrongState {
        /// The order.
        order_id: String,
        /// The command.
        command: &'static str,
        /// Its status.
        status: &'static str,
        /// What would be allowed.
        hint: String,
    },
    /// The actor's role may not issue the command.
    #[error("a {role} may not {command} an order")]
    NotAllowed {
        /// The role.
        role: &'static str,
        /// The command.
        command: &'static str,
    },
    /// The command needs a reason.
    #[error("{command} needs a reason")]
    ReasonRequired {
        /// The command.
        command: &'static str,
    },
    /// The command's arguments cannot be used.
    #[error("cannot {command}: {reason}")]
    Invalid {
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A work order's state: the fold of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// The order's id.
    pub order_id: String,
    /// What it is about.
    pub subject: DisputeSubject,
    /// The highest level of its warnings.
    pub level: WarningLevel,
    /// The warnings that opened, raised or reopened it.
    pub warning_ids: Vec<String>,
    /// Where it stands.
    pub status: OrderStatus,
    /// The unit it was dispatched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Who leads after escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    /// 0 the town, 1 a city department, 2 joint handling.
    pub escalation_level: u8,
    /// How many times a unit returned it.
    pub returns: u32,
    /// The acceptance deadline of the current dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_by: Option<DateTime<Utc>>,
    /// The handling deadline of the current dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_by: Option<DateTime<Utc>>,
    /// Cards issued since the current dispatch.
    pub cards: BTreeSet<Card>,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was last closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The follow-up visit's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<Satisfaction>,
    /// The review date while parked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_on: Option<NaiveDate>,
    /// The order it was merged into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The number of events applied (the last event's `seq`).
    pub version: u32,
}

/// The order id a warning opens: deterministic, so a replay opens the same orders.
pub fn order_id_for(warning: &Warning) -> String {
    format!("wo-{}", warning.warning_id.trim_start_matches("w-"))
}

fn reason_of(reason: Option<&str>) -> Option<String> {
    reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned)
}

/// Builds events with consecutive sequence numbers.
struct Events<'a> {
    order_id: &'a str,
    next: u32,
    at: DateTime<Utc>,
    out: Vec<WorkOrderEvent>,
}

impl Events<'_> {
    fn push(&mut self, actor: &Actor, reason: Option<String>, change: OrderChange) {
        self.next += 1;
        self.out.push(WorkOrderEvent {
            order_id: self.order_id.to_owned(),
            seq: self.next,
            at: self.at,
            actor: actor.clone(),
            reason,
            change,
        });
    }
}

impl WorkOrder {
    /// The events that open an order for `warning`. When `auto_dispatch` is on, yujing also triages it and
    /// dispatches it by routing.
    pub fn open(warning: &Warning, policy: &Policy) -> Vec<WorkOrderEvent> {
        let order_id = order_id_for(warning);
        let system = Actor::system(&policy.config.centre_unit);
        let mut events = Events {
            order_id: &order_id,
            next: 0,
            at: warning.raised_at,
            out: Vec::new(),
        };
        events.push(
            &system,
            Some(format!(
                "{} warning {} ({})",
                warning.level, warning.warning_id, warning.rule
            )),
            OrderChange::Raised {
                warning_id: warning.warning_id.clone(),
                level: warning.level,
                subject: warning.subject.clone(),
            },
        );
        if policy.config.auto_dispatch {
            events.push(
                &system,
                Some("automatic dispatch by routing".to_owned()),
                OrderChange::Triaged,
            );
            let unit = policy.route(&warning.subject);
            let deadlines = policy.config.deadlines.of(warning.level);
            events.push(
                &system,
                None,
                OrderChange::Dispatched {
                    unit,
                    accept_by: policy.calendar.deadline(warning.raised_at, deadlines.accept),
                    handle_by: policy.calendar.deadline(warning.raised_at, deadlines.handle),
                },
            );
        }
        events.out
    }

    /// The state after the first event (which must be `raised`).
    pub fn from_first(event: &WorkOrderEvent) -> Option<WorkOrder> {
        let OrderChange::Raised {
            warning_id,
            level,
            subject,
        } = &event.change
        else {
            return None;
        };
        Some(WorkOrder {
            order_id: event.order_id.clone(),
            subject: subject.clone(),
            level: *level,
            warning_ids: vec![warning_id.clone()],
            status: OrderStatus::Raised,
            unit: None,
            lead: None,
            escalation_level: 0,
            returns: 0,
            accept_by: None,
            handle_by: None,
            cards: BTreeSet::new(),
            raised_at: event.at,
            updated_at: event.at,
            resolved_at: None,
            closed_at: None,
            satisfaction: None,
            review_on: None,
            merged_into: None,
            version: event.seq,
        })
    }

    /// Folds `event` into the state. Events are facts: applying never fails, whatever was decided.
    pub fn apply(&mut self, event: &WorkOrderEvent) {
        self.version = event.seq;
        self.updated_at = event.at;
        match &event.change {
            OrderChange::Raised { .. } => {}
            OrderChange::Triaged => self.status = OrderStatus::Triaged,
            OrderChange::Dispatched {
                unit,
                accept_by,
                handle_by,
            } => {
                self.status = OrderStatus::Dispatched;
                self.unit = Some(unit.clone());
                self.accept_by = Some(*accept_by);
                self.handle_by = Some(*handle_by);
                self.cards.clear();
            }
            OrderChange::Accepted => self.status = OrderStatus::Accepted,
            OrderChange::Started => self.status = OrderStatus::InProgress,
            OrderChange::Returned { returns, .. } => {
                self.status = OrderStatus::Triaged;
                self.returns = *returns;
                self.unit = None;
                self.accept_by = None;
                self.handle_by = None;
            }
            OrderChange::Escalated { target, level, .. } => {
                self.escalation_level = *level;
                self.lead = Some(target.lead());
            }
            OrderChange::LevelRaised { warning_id, level } => {
                self.level = self.level.max(*level);
                self.warning_ids.push(warning_id.clone());
            }
            OrderChange::Resolved { .. } => {
                self.status = OrderStatus::Resolved;
                self.resolved_at = Some(event.at);
            }
            OrderChange::Verified { satisfaction } => {
                self.satisfaction = Some(*satisfaction);
                if *satisfaction != Satisfaction::Dissatisfied {
                    self.status = OrderStatus::Verifying;
                }
            }
            OrderChange::Closed => {
                self.status = OrderStatus::Closed;
                self.closed_at = Some(event.at);
            }
            OrderChange::Reopened { cause } => {
                match cause {
                    // Back to the unit that handled it.
                    ReopenCause::VerificationFailed => self.status = OrderStatus::InProgress,
                    ReopenCause::Recurred { warning_id } => {
                        self.warning_ids.push(warning_id.clone());
                        self.status = OrderStatus::Triaged;
                    }
                    ReopenCause::Manual => self.status = OrderStatus::Triaged,
                }
                self.satisfaction = None;
            }
            OrderChange::Parked { review_on } => {
                self.status = OrderStatus::Parked;
                self.review_on = Some(*review_on);
            }
            OrderChange::Resumed => {
                self.status = OrderStatus::Triaged;
                self.review_on = None;
            }
            OrderChange::Dismissed => self.status = OrderStatus::Dismissed,
            OrderChange::Merged { into_order_id } => {
                self.status = OrderStatus::Merged;
                self.merged_into = Some(into_order_id.clone());
            }
            OrderChange::Absorbed { .. } => {}
            OrderChange::Supervised { card, .. } => {
                self.cards.insert(*card);
            }
        }
    }

    fn events(&self, at: DateTime<Utc>) -> Events<'_> {
        Events {
            order_id: &self.order_id,
            next: self.version,
            at,
            out: Vec::new(),
        }
    }

    fn wrong_state(&self, command: &Command, allowed: &[OrderStatus]) -> CommandError {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        CommandError::WrongState {
            order_id: self.order_id.clone(),
            command: command.name(),
            status: self.status.as_str(),
            hint: format!(
                "{} applies to orders that are {}",
                command.name(),
                names.join(" or ")
            ),
        }
    }

    fn require(&self, command: &Command, allowed: &[OrderStatus]) -> Result<(), CommandError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(self.wrong_state(command, allowed))
        }
    }

    /// The events `command` by `actor` at `at` gives, or why it is refused. `into` is the order a `merge` names,
    /// as the caller found it. Changes nothing: apply the events to change the state.
    ///
    /// Who may issue it, the states it applies in and whether it needs a reason are its row of
    /// [`TRANSITIONS`]; what follows here is what each command writes and its own checks.
    pub fn decide(
        &self,
        command: &Command,
        actor: &Actor,
        reason: Option<&str>,
        at: DateTime<Utc>,
        policy: &Policy,
        into: Option<&WorkOrder>,
    ) -> Result<Vec<WorkOrderEvent>, CommandError> {
        let transition = command.transition();
        if actor.role != Role::System && !transition.roles.contains(&actor.role) {
            return Err(CommandError::NotAllowed {
                role: actor.role.as_str(),
                command: command.name(),
            });
        }
        self.require(command, transition.from)?;
        let reason = reason_of(reason);
        if transition.reason_required && reason.is_none() {
            return Err(CommandError::ReasonRequired {
                command: command.name(),
            });
        }
        let mut events = self.events(at);
        let invalid = |why: String| CommandError::Invalid {
            command: command.name(),
            reason: why,
        };
        match command {
            Command::Triage => events.push(actor, reason, OrderChange::Triaged),
            Command::Dispatch { unit } => {
                let unit = self
                    .unit_to_dispatch_to(unit.as_deref(), policy)
                    .map_err(invalid)?;
                if self.status == OrderStatus::Raised {
                    events.push(actor, None, OrderChange::Triaged);
                }
                events.push(actor, reason, self.dispatch_to(unit, at, policy));
            }
            Command::Accept => events.push(actor, reason, OrderChange::Accepted),
            Command::Start => events.push(actor, reason, OrderChange::Started),
            Command::Return => self.push_return(&mut events, actor, reason, at, policy),
            Command::Escalate { target } => {
                self.check_escalation(target).map_err(invalid)?;
                let change = OrderChange::Escalated {
                    target: target.clone(),
                    level: target.level(),
                    automatic: false,
                };
                events.push(actor, reason, change);
            }
            Command::Resolve { summary } => {
                if summary.trim().is_empty() {
                    return Err(invalid("say how it was resolved (summary)".to_owned()));
                }
                let summary = summary.trim().to_owned();
                events.push(actor, reason, OrderChange::Resolved { summary });
            }
            Command::Verify { satisfaction } => {
                let satisfaction = *satisfaction;
                events.push(actor, reason, OrderChange::Verified { satisfaction });
                if satisfaction == Satisfaction::Dissatisfied {
                    let cause = ReopenCause::VerificationFailed;
                    let why = "the follow-up visit found the parties dissatisfied".to_owned();
                    events.push(actor, Some(why), OrderChange::Reopened { cause });
                }
            }
            Command::Close => events.push(actor, reason, OrderChange::Closed),
            Command::Reopen => {
                let cause = ReopenCause::Manual;
                events.push(actor, reason, OrderChange::Reopened { cause });
            }
            Command::Park { review_on } => {
                if *review_on <= policy.calendar.local_date(at) {
                    return Err(invalid(format!(
                        "the review date {review_on} is not in the future"
                    )));
                }
                events.push(
                    actor,
                    reason,
                    OrderChange::Parked {
                        review_on: *review_on,
                    },
                );
            }
            Command::Resume => events.push(actor, reason, OrderChange::Resumed),
            Command::Dismiss => events.push(actor, reason, OrderChange::Dismissed),
            Command::Merge { into_order_id } => {
                let into = self.merge_target(into_order_id, into).map_err(invalid)?;
                let into_order_id = into.order_id.clone();
                events.push(actor, reason, OrderChange::Merged { into_order_id });
            }
        }
        Ok(events.out)
    }

    /// The unit a dispatch sends the order to: the one named, or the one routing chooses; refused when the
    /// name is empty, or when units have returned the order too often and it is not the centre.
    fn unit_to_dispatch_to(&self, named: Option<&str>, policy: &Policy) -> Result<String, String> {
        let unit = match named.map(str::trim) {
            Some("") => return Err("the unit is empty".to_owned()),
            Some(unit) => unit.to_owned(),
            None => policy.route(&self.subject),
        };
        if self.returns >= policy.config.max_returns && unit != policy.config.centre_unit {
            return Err(format!(
                "units returned this order {} times; the centre ({}) keeps it",
                self.returns, policy.config.centre_unit
            ));
        }
        Ok(unit)
    }

    /// A unit returns the order; after `max_returns` returns the centre keeps it.
    fn push_return(
        &self,
        events: &mut Events<'_>,
        actor: &Actor,
        reason: Option<String>,
        at: DateTime<Utc>,
        policy: &Policy,
    ) {
        let returns = self.returns + 1;
        let unit = self.unit.clone().unwrap_or_default();
        events.push(actor, reason, OrderChange::Returned { unit, returns });
        if returns >= policy.config.max_returns {
            let centre = policy.config.centre_unit.clone();
            events.push(
                &Actor::system(&centre),
                Some(format!("returned {returns} times: the centre keeps it")),
                self.dispatch_to(centre.clone(), at, policy),
            );
        }
    }

    /// An escalation must go higher than the order stands, and joint handling needs two departments.
    fn check_escalation(&self, target: &EscalationTarget) -> Result<(), String> {
        if target.level() <= self.escalation_level {
            return Err(format!(
                "the order is already at escalation level {}; escalate to a higher level",
                self.escalation_level
            ));
        }
        if let EscalationTarget::JointHandling { departments } = target {
            if departments.iter().filter(|d| !d.trim().is_empty()).count() < 2 {
                return Err("joint handling needs at least two departments".to_owned());
            }
        }
        Ok(())
    }

    /// The order a merge names, which must be found, another order, and open.
    fn merge_target<'a>(&self, named: &str, found: Option<&'a WorkOrder>) -> Result<&'a WorkOrder, String> {
        let Some(into) = found.filter(|o| o.order_id == named) else {
            return Err(format!("there is no order {named}"));
        };
        if into.order_id == self.order_id || into.status.is_final() {
            return Err(format!(
                "order {} is {}; merge into another open order",
                into.order_id,
                into.status.as_str()
            ));
        }
        Ok(into)
    }

    /// The commands `actor` may issue on the order at `now` that need nothing but the order (what a page offers
    /// as buttons), each tried with [`WorkOrder::decide`] on the order unchanged. A park (it needs a review date)
    /// and a merge (another order) are left out.
    pub fn available_commands(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Vec<&'static str> {
        button_commands()
            .iter()
            .filter(|c| self.decide(c, actor, Some("理由"), now, policy, None).is_ok())
            .map(Command::name)
            .collect()
    }

    /// The events `merge` adds to the order merged into.
    pub fn absorb(&self, merged: &WorkOrderEvent) -> Vec<WorkOrderEvent> {
        let mut events = self.events(merged.at);
        events.push(
            &merged.actor,
            merged.reason.clone(),
            OrderChange::Absorbed {
                merged_order_id: merged.order_id.clone(),
            },
        );
        events.out
    }

    fn dispatch_to(&self, unit: String, at: DateTime<Utc>, policy: &Policy) -> OrderChange {
        let deadlines = policy.config.deadlines.of(self.level);
        OrderChange::Dispatched {
            unit,
            accept_by: policy.calendar.deadline(at, deadlines.accept),
            handle_by: policy.calendar.deadline(at, deadlines.handle),
        }
    }

    /// What a later warning on the same dispute does to this order: raise its level (escalating when it turns
    /// red), reopen it when it was closed within the watch window, or nothing. `None` means the warning needs
    /// an order of its own (this one is final and past the watch window, dismissed or merged).
    pub fn on_warning(&self, warning: &Warning, policy: &Policy) -> Option<Vec<WorkOrderEvent>> {
        let system = Actor::system(&policy.config.centre_unit);
        let mut events = self.events(warning.raised_at);
        match self.status {
            OrderStatus::Dismissed | OrderStatus::Merged => return None,
            OrderStatus::Closed => {
                let closed = self.closed_at.unwrap_or(self.updated_at);
                let watch = chrono::Duration::days(i64::from(policy.config.watch_days));
                if warning.raised_at > closed + watch {
                    return None;
                }
                events.push(
                    &system,
                    Some(format!(
                        "reported again within {} days of closure",
                        policy.config.watch_days
                    )),
                    OrderChange::Reopened {
                        cause: ReopenCause::Recurred {
                            warning_id: warning.warning_id.clone(),
                        },
                    },
                );
                if warning.level > self.level {
                    events.push(
                        &system,
                        None,
                        OrderChange::LevelRaised {
                            warning_id: warning.warning_id.clone(),
                            level: warning.level,
                        },
                    );
                }
            }
            _ if warning.level > self.level => {
                events.push(
                    &system,
                    Some(format!(
                        "{} warning {} ({})",
                        warning.level, warning.warning_id, warning.rule
                    )),
                    OrderChange::LevelRaised {
                        warning_id: warning.warning_id.clone(),
                        level: warning.level,
                    },
                );
                let active = matches!(
                    self.status,
                    OrderStatus::Triaged
                        | OrderStatus::Dispatched
                        | OrderStatus::Accepted
                        | OrderStatus::InProgress
                );
                if warning.level == WarningLevel::Red && active && self.escalation_level == 0 {
                    if let Some(target) = policy.next_escalation(&self.subject, 0) {
                        events.push(
                            &system,
                            Some("the warning rose to red".to_owned()),
                            OrderChange::Escalated {
                                level: target.level(),
                                target,
                                automatic: true,
                            },
                        );
                    }
                }
            }
            _ => {}
        }
        Some(events.out)
    }

    /// Supervision at wall time `now`: a yellow card when the acceptance deadline passed unaccepted, a red card
    /// when the handling deadline passed unresolved, each once per dispatch; a red card escalates. A parked
    /// order whose review date has come goes back to the centre.
    pub fn supervise(&self, now: DateTime<Utc>, policy: &Policy) -> Vec<WorkOrderEvent> {
        let system = Actor::system(&policy.config.centre_unit);
        let mut events = self.events(now);
        if self.status == OrderStatus::Parked {
            if let Some(review_on) = self.review_on {
                if policy.calendar.local_date(now) >= review_on {
                    events.push(
                        &system,
                        Some(format!("review date {review_on} reached")),
                        OrderChange::Resumed,
                    );
                }
            }
            return events.out;
        }
        if let Some(due) = self.accept_by {
            if self.status == OrderStatus::Dispatched && now > due && !self.cards.contains(&Card::Yellow) {
                events.push(
                    &system,
                    Some(format!("not accepted by {due}")),
                    OrderChange::Supervised {
                        card: Card::Yellow,
                        deadline: Deadline::Accept,
                        due,
                    },
                );
            }
        }
        if let Some(due) = self.handle_by {
            let handling = matches!(
                self.status,
                OrderStatus::Dispatched | OrderStatus::Accepted | OrderStatus::InProgress
            );
            if handling && now > due && !self.cards.contains(&Card::Red) {
                events.push(
                    &system,
                    Some(format!("not resolved by {due}")),
                    OrderChange::Supervised {
                        card: Card::Red,
                        deadline: Deadline::Handle,
                        due,
                    },
                );
                if let Some(target) = policy.next_escalation(&self.subject, self.escalation_level) {
                    events.push(
                        &system,
                        Some("red card".to_owned()),
                        OrderChange::Escalated {
                            level: target.level(),
                            target,
                            automatic: true,
                        },
                    );
                }
            }
        }
        events.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_one_row_of_the_transition_table() {
        let mut commands = button_commands().to_vec();
        commands.push(Command::Park {
            review_on: NaiveDate::MIN,
        });
        commands.push(Command::Merge {
            into_order_id: String::new(),
        });
        assert_eq!(commands.len(), TRANSITIONS.len());
        for command in &commands {
            let rows = TRANSITIONS.iter().filter(|t| t.command == command.name()).count();
            assert_eq!(rows, 1, "{}", command.name());
            assert!(!command.transition().from.is_empty());
        }
        // Nothing leaves a closed, dismissed or merged order but a reopen of a closed one.
        for row in TRANSITIONS {
            assert!(!row.from.contains(&OrderStatus::Dismissed) && !row.from.contains(&OrderStatus::Merged));
            assert_eq!(
                row.from.contains(&OrderStatus::Closed),
                row.command == "reopen",
                "{}",
                row.command
            );
        }
    }
}
