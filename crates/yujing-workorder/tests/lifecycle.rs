//! The work-order lifecycle, given / when / then: the events given, the command, the events decided.

use chrono::{DateTime, Utc};
use yujing_model::{
    Actor, Card, DisputeType, EscalationTarget, OrderChange, OrderStatus, Role, Satisfaction, Warning,
    WarningLevel, WorkOrderEvent,
};
use yujing_workorder::{Command, CommandError, Policy, WorkOrder, WorkOrderConfig};

const CONFIG: &str = include_str!("../../../config/yujing.toml");

fn policy_with(auto_dispatch: bool) -> Policy {
    let table: toml::Table = toml::from_str(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    let section = table
        .get("workorders")
        .cloned()
        .unwrap_or_else(|| panic!("no [workorders]"));
    let mut config: WorkOrderConfig = section.try_into().unwrap_or_else(|e| panic!("{e}"));
    config.auto_dispatch = auto_dispatch;
    config.build().unwrap_or_else(|e| panic!("{e:?}"))
}

fn policy() -> Policy {
    policy_with(false)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn warning(level: WarningLevel, raised_at: &str, episode_clue: &str) -> Warning {
    let id = format!("w-{}-{episode_clue}", level.as_str());
    yujing_test_support::warning(&id, "c-jinxiu", level, at(raised_at))
}

fn centre() -> Actor {
    Actor {
        name: "zhang.centre".to_owned(),
        role: Role::Centre,
        unit: "如皋市社会治理现代化指挥中心".to_owned(),
    }
}

fn town() -> Actor {
    Actor {
        name: "li.rucheng".to_owned(),
        role: Role::TownHandler,
        unit: "如城街道".to_owned(),
    }
}

/// Given the events so far, the order they fold to.
fn given(events: &[WorkOrderEvent]) -> WorkOrder {
    let mut order = WorkOrder::from_first(&events[0]).unwrap_or_else(|| panic!("first event is not raised"));
    for event in &events[1..] {
        order.apply(event);
    }
    order
}

/// When `actor` issues `command` at `when`, then these events (appended to `history`).
fn when(
    history: &mut Vec<WorkOrderEvent>,
    actor: &Actor,
    command: Command,
    reason: Option<&str>,
    when: &str,
) -> Result<Vec<String>, CommandError> {
    let order = given(history);
    let events = order.decide(&command, actor, reason, at(when), &policy(), None)?;
    history.extend(events.iter().cloned());
    Ok(events.iter().map(|e| e.change.name().to_owned()).collect())
}

fn ok(result: Result<Vec<String>, CommandError>) -> Vec<String> {
    result.unwrap_or_else(|e| panic!("refused: {e}"))
}

#[test]
fn the_seed_story_runs_from_warning_to_closure() {
    let policy = policy();
    let orange = warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "hotline:1");
    let mut history = WorkOrder::open(&orange, &policy);
    assert_eq!(history.len(), 1);
    assert_eq!(given(&history).status, OrderStatus::Raised);

    assert_eq!(
        ok(when(
            &mut history,
            &centre(),
            Command::Triage,
            None,
            "2026-06-08T07:30:00Z"
        )),
        ["triaged"]
    );
    assert_eq!(
        ok(when(
            &mut history,
            &centre(),
            Command::Dispatch { unit: None },
            None,
            "2026-06-08T07:40:00Z"
        )),
        ["dispatched"]
    );
    let order = given(&history);
    assert_eq!(order.unit.as_deref(), Some("如城街道"));
    // Orange: accept the same working day (Monday 17:30 local), handle within 7 working days.
    assert_eq!(order.accept_by, Some(at("2026-06-08T17:30:00+08:00")));
    assert_eq!(order.handle_by, Some(at("2026-06-17T17:30:00+08:00")));

    ok(when(
        &mut history,
        &town(),
        Command::Accept,
        None,
        "2026-06-08T08:00:00Z",
    ));
    ok(when(
        &mut history,
        &town(),
        Command::Start,
        Some("local mediator talks"),
        "2026-06-08T09:00:00Z",
    ));
    let joint = EscalationTarget::JointHandling {
        departments: vec![
            "市住建局".to_owned(),
            "如城街道".to_owned(),
            "市司法局".to_owned(),
        ],
    };
    assert_eq!(
        ok(when(
            &mut history,
            &town(),
            Command::Escalate { target: joint },
            Some("the mediator's talks had no effect"),
            "2026-06-10T02:00:00Z"
        )),
        ["escalated"]
    );
    assert_eq!(given(&history).escalation_level, 2);
    ok(when(
        &mut history,
        &town(),
        Command::Resolve {
            summary: "joint handling: the parties agreed on the repair plan".to_owned(),
        },
        None,
        "2026-06-12T06:00:00Z",
    ));
    ok(when(
        &mut history,
        &centre(),
        Command::Verify {
            satisfaction: Satisfaction::Satisfied,
        },
        None,
        "2026-06-13T02:00:00Z",
    ));
    ok(when(
        &mut history,
        &centre(),
        Command::Close,
        None,
        "2026-06-13T03:00:00Z",
    ));
    let order = given(&history);
    assert_eq!(order.status, OrderStatus::Closed);
    let seqs: Vec<u32> = history.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=history.len() as u32).collect::<Vec<_>>());
}

#[test]
fn wrong_state_role_and_missing_reason_are_refused_with_what_would_be_allowed() {
    let policy = policy();
    let mut history = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a"),
        &policy,
    );
    let refused = when(
        &mut history,
        &town(),
        Command::Accept,
        None,
        "2026-06-08T08:00:00Z",
    );
    assert!(
        matches!(&refused, Err(CommandError::WrongState { status: "raised", .. })),
        "{refused:?}"
    );
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("accept applies to orders that are dispatched"),
        "{message}"
    );
    let refused = when(
        &mut history,
        &town(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    );
    assert!(matches!(
        refused,
        Err(CommandError::NotAllowed {
            role: "town_handler",
            ..
        })
    ));
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    ));
    let refused = when(
        &mut history,
        &town(),
        Command::Return,
        Some("  "),
        "2026-06-08T09:00:00Z",
    );
    assert!(matches!(
        refused,
        Err(CommandError::ReasonRequired { command: "return" })
    ));
    let viewer = Actor {
        role: Role::Viewer,
        ..town()
    };
    assert!(matches!(
        when(
            &mut history,
            &viewer,
            Command::Accept,
            None,
            "2026-06-08T09:00:00Z"
        ),
        Err(CommandError::NotAllowed { .. })
    ));
}

#[test]
fn after_max_returns_the_centre_keeps_the_order() {
    let policy = policy();
    let mut history = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a"),
        &policy,
    );
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    ));
    assert_eq!(
        ok(when(
            &mut history,
            &town(),
            Command::Return,
            Some("not our estate"),
            "2026-06-08T09:00:00Z"
        )),
        ["returned"]
    );
    assert_eq!(given(&history).status, OrderStatus::Triaged);
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch {
            unit: Some("东陈镇".to_owned()),
        },
        None,
        "2026-06-08T10:00:00Z",
    ));
    assert_eq!(
        ok(when(
            &mut history,
            &town(),
            Command::Return,
            Some("not ours either"),
            "2026-06-08T11:00:00Z"
        )),
        ["returned", "dispatched"]
    );
    let order = given(&history);
    assert_eq!(order.unit.as_deref(), Some("如皋市社会治理现代化指挥中心"));
    assert_eq!(order.returns, 2);
    assert_eq!(history.last().map(|e| e.actor.role), Some(Role::System));
}

#[test]
fn supervision_issues_each_card_once_and_a_red_card_escalates() {
    let policy = policy();
    let mut history = WorkOrder::open(&warning(WarningLevel::Red, "2026-06-08T07:20:00Z", "a"), &policy);
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    ));
    // Red: accept within 2 hours, handle within 24.
    let order = given(&history);
    assert_eq!(order.accept_by, Some(at("2026-06-08T10:00:00Z")));
    assert!(order.supervise(at("2026-06-08T09:59:00Z"), &policy).is_empty());

    let cards = order.supervise(at("2026-06-08T10:01:00Z"), &policy);
    assert_eq!(cards.len(), 1);
    assert!(matches!(
        cards[0].change,
        OrderChange::Supervised {
            card: Card::Yellow,
            ..
        }
    ));
    history.extend(cards);
    assert!(
        given(&history)
            .supervise(at("2026-06-08T11:00:00Z"), &policy)
            .is_empty(),
        "never twice"
    );

    ok(when(
        &mut history,
        &town(),
        Command::Accept,
        None,
        "2026-06-08T11:00:00Z",
    ));
    let late = given(&history).supervise(at("2026-06-09T08:00:01Z"), &policy);
    let names: Vec<&str> = late.iter().map(|e| e.change.name()).collect();
    assert_eq!(names, ["supervised", "escalated"]);
    assert!(matches!(
        &late[1].change,
        OrderChange::Escalated { level: 1, automatic: true, target: EscalationTarget::CityDepartment { department } }
            if department == "市住建局"
    ));
    history.extend(late);
    assert!(
        given(&history)
            .supervise(at("2026-06-10T08:00:00Z"), &policy)
            .is_empty(),
        "never twice"
    );
}

#[test]
fn a_red_warning_on_an_open_order_raises_its_level_and_escalates() {
    let policy = policy();
    let mut history = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a"),
        &policy,
    );
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    ));
    let red = warning(WarningLevel::Red, "2026-06-12T01:00:00Z", "a");
    let events = given(&history).on_warning(&red, &policy).unwrap_or_default();
    let names: Vec<&str> = events.iter().map(|e| e.change.name()).collect();
    assert_eq!(names, ["level_raised", "escalated"]);
    history.extend(events);
    let order = given(&history);
    assert_eq!(order.level, WarningLevel::Red);
    assert_eq!(order.escalation_level, 1);
    // Another orange episode changes nothing.
    let again = warning(WarningLevel::Orange, "2026-06-20T01:00:00Z", "b");
    assert_eq!(order.on_warning(&again, &policy), Some(Vec::new()));
}

#[test]
fn a_recurrence_within_the_watch_window_reopens_a_closed_order_and_after_it_opens_a_new_one() {
    let policy = policy();
    let mut history = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a"),
        &policy,
    );
    ok(when(
        &mut history,
        &centre(),
        Command::Dispatch { unit: None },
        None,
        "2026-06-08T08:00:00Z",
    ));
    ok(when(
        &mut history,
        &town(),
        Command::Accept,
        None,
        "2026-06-08T09:00:00Z",
    ));
    ok(when(
        &mut history,
        &town(),
        Command::Resolve {
            summary: "agreed".to_owned(),
        },
        None,
        "2026-06-09T09:00:00Z",
    ));
    // A dissatisfied visit reopens it to the unit.
    assert_eq!(
        ok(when(
            &mut history,
            &centre(),
            Command::Verify {
                satisfaction: Satisfaction::Dissatisfied
            },
            None,
            "2026-06-10T09:00:00Z"
        )),
        ["verified", "reopened"]
    );
    assert_eq!(given(&history).status, OrderStatus::InProgress);
    ok(when(
        &mut history,
        &town(),
        Command::Resolve {
            summary: "agreed in writing".to_owned(),
        },
        None,
        "2026-06-11T09:00:00Z",
    ));
    ok(when(
        &mut history,
        &centre(),
        Command::Verify {
            satisfaction: Satisfaction::BasicallySatisfied,
        },
        None,
        "2026-06-12T09:00:00Z",
    ));
    ok(when(
        &mut history,
        &centre(),
        Command::Close,
        None,
        "2026-06-12T10:00:00Z",
    ));
    let order = given(&history);
    let within = warning(WarningLevel::Orange, "2026-07-01T00:00:00Z", "b");
    let events = order.on_warning(&within, &policy).unwrap_or_default();
    assert_eq!(
        events.iter().map(|e| e.change.name()).collect::<Vec<_>>(),
        ["reopened"]
    );
    let after = warning(WarningLevel::Orange, "2026-08-01T00:00:00Z", "c");
    assert_eq!(order.on_warning(&after, &policy), None);
}

#[test]
fn auto_dispatch_routes_by_town_and_type() {
    let policy = policy_with(true);
    let mut family = warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a");
    family.subject.dispute_type = DisputeType::MarriageFamily;
    let events = WorkOrder::open(&family, &policy);
    let order = given(&events);
    assert_eq!(order.status, OrderStatus::Dispatched);
    assert_eq!(order.unit.as_deref(), Some("王桂兰家事纠纷调解室"));
    let mut elsewhere = warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "b");
    elsewhere.subject.town_name = Some("东陈镇".to_owned());
    elsewhere.subject.town_code = "320682106".to_owned();
    assert_eq!(policy.route(&elsewhere.subject), "东陈镇物业纠纷调解室");
    elsewhere.subject.dispute_type = DisputeType::Neighbour;
    assert_eq!(policy.route(&elsewhere.subject), "东陈镇");
}

#[test]
fn park_dismiss_and_merge() {
    let policy = policy();
    let mut history = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-08T07:20:00Z", "a"),
        &policy,
    );
    let park = Command::Park {
        review_on: "2026-09-01".parse().unwrap_or_default(),
    };
    assert_eq!(
        ok(when(&mut history, &centre(), park, None, "2026-06-08T08:00:00Z")),
        ["parked"]
    );
    let order = given(&history);
    assert!(order.supervise(at("2026-08-31T00:00:00Z"), &policy).is_empty());
    let resumed = order.supervise(at("2026-09-01T01:00:00Z"), &policy);
    assert_eq!(
        resumed.iter().map(|e| e.change.name()).collect::<Vec<_>>(),
        ["resumed"]
    );
    history.extend(resumed);
    assert!(matches!(
        when(
            &mut history,
            &centre(),
            Command::Dismiss,
            None,
            "2026-09-02T00:00:00Z"
        ),
        Err(CommandError::ReasonRequired { .. })
    ));

    let other = WorkOrder::open(
        &warning(WarningLevel::Orange, "2026-06-09T07:20:00Z", "b"),
        &policy,
    );
    let other = given(&other);
    let merge = Command::Merge {
        into_order_id: other.order_id.clone(),
    };
    let order = given(&history);
    let events = order
        .decide(
            &merge,
            &centre(),
            None,
            at("2026-09-02T00:00:00Z"),
            &policy,
            Some(&other),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&events[0].change, OrderChange::Merged { into_order_id } if *into_order_id == other.order_id)
    );
    let absorbed = other.absorb(&events[0]);
    assert_eq!(absorbed[0].seq, other.version + 1);
    let refused = order.decide(&merge, &centre(), None, at("2026-09-02T00:00:00Z"), &policy, None);
    assert!(matches!(refused, Err(CommandError::Invalid { .. })));
}
