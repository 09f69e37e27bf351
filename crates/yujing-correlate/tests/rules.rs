//! The default rules of `config/yujing.toml` pass the test cases they declare, and a wrong expectation fails.

use yujing_correlate::{run_rule_tests, CorrelateConfig};

fn default_correlate_config() -> CorrelateConfig {
    #[derive(serde::Deserialize)]
    struct Whole {
        correlate: CorrelateConfig,
    }
    let text = include_str!("../../../config/yujing.toml");
    let whole: toml::Table = toml::from_str(text).expect("yujing.toml parses");
    let correlate = toml::Table::from_iter([("correlate".to_owned(), whole["correlate"].clone())]);
    let whole: Whole = correlate.try_into().expect("[correlate] deserializes");
    whole.correlate
}

#[test]
fn the_default_rules_pass_their_own_tests() {
    let config = default_correlate_config();
    let outcomes = run_rule_tests(&config).expect("the default rules are valid");
    assert!(outcomes.len() >= 9, "{} tests", outcomes.len());
    for outcome in &outcomes {
        assert!(
            outcome.passed(),
            "{} / {}: {:#?}",
            outcome.rule,
            outcome.test,
            outcome.problems
        );
    }
}

#[test]
fn a_wrong_expectation_fails_with_a_clear_message() {
    let mut config = default_correlate_config();
    let test = &mut config.rules[0].tests[0];
    test.expect[0].at = "2026-06-07T21:14:05+08:00".parse().expect("time");
    let outcomes = run_rule_tests(&config).expect("valid");
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].problems[0].contains("expected orange at 2026-06-07T13:14:05+00:00"),
        "{:?}",
        failed[0].problems
    );
}
