//! Work-order configuration (`[workorders]`): the centre, routing, deadlines, the calendar and escalation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yujing_model::{DisputeSubject, DisputeType, EscalationTarget, WarningLevel};

use crate::calendar::{CalendarConfig, DeadlineSpec, WorkingCalendar};

/// A configuration error, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkOrderConfigError {
    /// A field has a value that cannot be used.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as a dotted path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The deadlines of one warning level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDeadlines {
    /// Accept (sign for) the order within this, counted from dispatch.
    pub accept: DeadlineSpec,
    /// Resolve it within this, counted from dispatch.
    pub handle: DeadlineSpec,
}

/// Deadlines per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// Orange warnings.
    pub orange: LevelDeadlines,
    /// Red warnings.
    pub red: LevelDeadlines,
}

impl Deadlines {
    /// The deadlines of `level`.
    pub fn of(&self, level: WarningLevel) -> LevelDeadlines {
        match level {
            WarningLevel::Orange => self.orange,
            WarningLevel::Red => self.red,
        }
    }
}

/// Routing: town × dispute type → handling unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Dispute type → unit, for every town (e.g. family disputes to a brand mediation room). `{town}` in a unit
    /// is replaced by the town's name.
    #[serde(default)]
    pub by_type: BTreeMap<String, String>,
    /// Per town (by name or code): `default` is the town's unit for every type it does not list; other keys are
    /// dispute types. A town's entry wins over `by_type`.
    #[serde(default)]
    pub towns: BTreeMap<String, BTreeMap<String, String>>,
}

/// Escalation (提级): which city department leads, per dispute type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// The department for types `departments` does not list.
    pub default_department: String,
    /// Dispute type → city department.
    #[serde(default)]
    pub departments: BTreeMap<String, String>,
}

/// `[workorders]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderConfig {
    /// The city centre's unit: it triages, supervises, and keeps orders towns returned too often.
    pub centre_unit: String,
    /// After this many returns, the centre keeps the order (dispatches it to itself).
    pub max_returns: u32,
    /// A warning on a closed order's dispute within this many days reopens it instead of opening a new one.
    pub watch_days: u32,
    /// Whether yujing triages and dispatches new orders by routing itself, without waiting for the centre.
    #[serde(default)]
    pub auto_dispatch: bool,
    /// Deadlines per level.
    pub deadlines: Deadlines,
    /// The working-day calendar.
    pub calendar: CalendarConfig,
    /// Routing.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Escalation.
    pub escalation: EscalationConfig,
}

/// The checked, runtime form of [`WorkOrderConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// As configured.
    pub config: WorkOrderConfig,
    /// The calendar.
    pub calendar: WorkingCalendar,
}

fn check_type(name: &str, field: &str, errors: &mut Vec<WorkOrderConfigError>) {
    if DisputeType::from_name(name).is_none() {
        errors.push(WorkOrderConfigError::Invalid {
            field: field.to_owned(),
            reason: format!(
                "'{name}' is not a dispute type (one of the 16 canonical names, e.g. 物业, 婚姻家庭)"
            ),
        });
    }
}

impl WorkOrderConfig {
    /// Checks the configuration, reporting every error at once, and builds the [`Policy`].
    pub fn build(&self) -> Result<Policy, Vec<WorkOrderConfigError>> {
        let mut errors = Vec::new();
        let calendar = WorkingCalendar::new(&self.calendar)
            .map_err(|e| errors.extend(e))
            .ok();
        if self.centre_unit.trim().is_empty() {
            errors.push(WorkOrderConfigError::Invalid {
                field: "workorders.centre_unit".to_owned(),
                reason: "the centre needs a name".to_owned(),
            });
        }
        if self.max_returns == 0 {
            errors.push(WorkOrderConfigError::Invalid {
                field: "workorders.max_returns".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        for name in self.routing.by_type.keys() {
            check_type(name, &format!("workorders.routing.by_type.{name}"), &mut errors);
        }
        for (town, table) in &self.routing.towns {
            for name in table.keys().filter(|k| *k != "default") {
                check_type(
                    name,
                    &format!("workorders.routing.towns.{town}.{name}"),
                    &mut errors,
                );
            }
        }
        for name in self.escalation.departments.keys() {
            check_type(
                name,
                &format!("workorders.escalation.departments.{name}"),
                &mut errors,
            );
        }
        match calendar {
            Some(calendar) if errors.is_empty() => Ok(Policy {
                config: self.clone(),
                calendar,
            }),
            _ => Err(errors),
        }
    }
}

impl Policy {
    /// The unit an order about `subject` is routed to: the town's entry for the type, the type's unit for every
    /// town, the town's default, or the town itself (the centre when the town is unknown).
    pub fn route(&self, subject: &DisputeSubject) -> String {
        let routing = &self.config.routing;
        let town_name = subject.town_name.clone();
        let town_table = town_name
            .as_deref()
            .and_then(|name| routing.towns.get(name))
            .or_else(|| routing.towns.get(&subject.town_code));
        let type_name = subject.dispute_type.name();
        let unit = town_table
            .and_then(|t| t.get(type_name))
            .or_else(|| routing.by_type.get(type_name))
            .or_else(|| town_table.and_then(|t| t.get("default")))
            .cloned();
        let town = town_name.unwrap_or_else(|| self.config.centre_unit.clone());
        match unit {
            Some(unit) => unit.replace("{town}", &town),
            None => town,
        }
    }

    /// The department that leads when an order about `subject` is escalated to the city.
    pub fn department(&self, subject: &DisputeSubject) -> String {
        let escalation = &self.config.escalation;
        escalation
            .departments
            .get(subject.dispute_type.name())
            .unwrap_or(&escalation.default_department)
            .clone()
    }

    /// The next automatic escalation from `level`: a city department first, then joint handling with the town.
    pub fn next_escalation(&self, subject: &DisputeSubject, level: u8) -> Option<EscalationTarget> {
        let department = self.department(subject);
        match level {
            0 => Some(EscalationTarget::CityDepartment { department }),
            1 => {
                let mut departments = vec![department];
                if let Some(town) = &subject.town_name {
                    departments.push(town.clone());
                }
                Some(EscalationTarget::JointHandling { departments })
            }
            _ => None,
        }
    }
}
