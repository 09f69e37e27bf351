//! The JSON Schemas in `schemas/` are the published contract of the canonical events. They must match the Rust
//! types exactly: this test regenerates them and compares. After an intended change to a type, run with
//! `UPDATE_GOLDEN=1` and review the schema diff like an API change.

use std::path::Path;

#[test]
fn committed_schemas_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    for (name, schema) in yujing_model::json_schemas().unwrap_or_else(|e| panic!("{e}")) {
        let generated = serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n";
        let path = dir.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &generated).expect("schemas/ writable");
            continue;
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
        assert!(
            committed == generated,
            "{} does not match the Rust types; run with UPDATE_GOLDEN=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn a_clue_validates_against_its_schema_shape() {
    // Every property the schema requires is present in a serialized clue, and no serialized field is unknown to
    // the schema: a cheap structural check that catches serde attributes drifting from the schema.
    let schemas = yujing_model::json_schemas().unwrap_or_else(|e| panic!("{e}"));
    let clue_schema = &schemas
        .iter()
        .find(|(name, _)| *name == "clue.schema.json")
        .expect("the clue schema is published")
        .1;
    let properties = clue_schema["properties"]
        .as_object()
        .expect("clue schema has properties");
    let required: Vec<&str> = clue_schema["required"]
        .as_array()
        .expect("clue schema lists required properties")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let clue: serde_json::Value =
        serde_json::from_str(include_str!("sample_clue.json")).expect("sample clue parses");
    let parsed: yujing_model::Clue = serde_json::from_value(clue.clone()).expect("sample clue is a Clue");
    let reserialized = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(reserialized, clue, "the sample clue round-trips unchanged");
    for field in required {
        assert!(clue.get(field).is_some(), "required field {field} is missing");
    }
    for field in clue.as_object().expect("object").keys() {
        assert!(
            properties.contains_key(field),
            "field {field} is not in the schema"
        );
    }
}

/// Fails to compile when a kind of change is added: add it to [`every_order_change`] too.
fn listed(change: &yujing_model::OrderChange) {
    use yujing_model::OrderChange as C;
    match change {
        C::Raised { .. }
        | C::Triaged
        | C::Dispatched { .. }
        | C::Accepted
        | C::Started
        | C::Returned { .. }
        | C::Escalated { .. }
        | C::LevelRaised { .. }
        | C::Resolved { .. }
        | C::Verified { .. }
        | C::Closed
        | C::Reopened { .. }
        | C::Parked { .. }
        | C::Resumed
        | C::Dismissed
        | C::Merged { .. }
        | C::Absorbed { .. }
        | C::Supervised { .. } => {}
    }
}

/// Every kind of work-order change, with its fields filled.
fn every_order_change() -> Vec<yujing_model::OrderChange> {
    use chrono::TimeZone;
    use yujing_model::{
        Card, Deadline, DisputeSubject, DisputeType, EscalationTarget, OrderChange, ReopenCause,
        Satisfaction, WarningLevel,
    };
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("a time");
    vec![
        OrderChange::Raised {
            warning_id: "w-1".into(),
            level: WarningLevel::Orange,
            subject: DisputeSubject {
                cluster_id: "k-1".into(),
                town_code: "320682001".into(),
                town_name: Some("如城街道".into()),
                dispute_type: DisputeType::Property,
                place: Some("锦绣华庭".into()),
            },
        },
        OrderChange::Triaged,
        OrderChange::Dispatched {
            unit: "如城街道".into(),
            accept_by: at,
            handle_by: at,
        },
        OrderChange::Accepted,
        OrderChange::Started,
        OrderChange::Returned {
            unit: "如城街道".into(),
            returns: 1,
        },
        OrderChange::Escalated {
            target: EscalationTarget::JointHandling {
                departments: vec!["市住建局".into()],
            },
            level: 2,
            automatic: true,
        },
        OrderChange::LevelRaised {
            warning_id: "w-2".into(),
            level: WarningLevel::Red,
        },
        OrderChange::Resolved {
            summary: "repaired".into(),
        },
        OrderChange::Verified {
            satisfaction: Satisfaction::Satisfied,
        },
        OrderChange::Closed,
        OrderChange::Reopened {
            cause: ReopenCause::Recurred {
                warning_id: "w-3".into(),
            },
        },
        OrderChange::Parked {
            review_on: at.date_naive(),
        },
        OrderChange::Resumed,
        OrderChange::Dismissed,
        OrderChange::Merged {
            into_order_id: "wo-2".into(),
        },
        OrderChange::Absorbed {
            merged_order_id: "wo-3".into(),
        },
        OrderChange::Supervised {
            card: Card::Red,
            deadline: Deadline::Handle,
            due: at,
        },
    ]
}

#[test]
fn every_work_order_change_reads_back_from_its_event() {
    // The change is flattened into the event: a field named like one of the event's own would write JSON that
    // cannot be read back, and the whole workorders topic would stop loading.
    let changes = every_order_change();
    let kinds: std::collections::BTreeSet<&str> = changes.iter().map(|c| c.name()).collect();
    assert_eq!(kinds.len(), changes.len());
    assert_eq!(kinds.len(), 18, "every kind of change is listed once");
    for change in changes {
        listed(&change);
        let event = yujing_model::WorkOrderEvent {
            order_id: "wo-1".into(),
            seq: 3,
            at: chrono::DateTime::default(),
            actor: yujing_model::Actor {
                name: "centre".into(),
                role: yujing_model::Role::Centre,
                unit: "市社会治理现代化指挥中心".into(),
            },
            reason: Some("why".into()),
            change,
        };
        let json = serde_json::to_string(&event).expect("serializes");
        let back: yujing_model::WorkOrderEvent = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{} does not read back: {e}\n{json}", event.change.name()));
        assert_eq!(back, event);
    }
}
