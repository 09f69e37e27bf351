//! Hostile input is refused record by record, with the limit named, and never stops the records around it: a
//! push nested 300,000 levels deep, a case larger than any real one, thousands of unclosed cases, a line of many
//! megabytes and a field of one.

mod support;

use yujing_feeds::{adapters, detached_pointer, Normalizer, Outcome};
use yujing_model::{FeedId, RejectKind};

fn normalizer() -> Normalizer {
    support::normalizer(b"limits-test-secret-0123456789")
}

/// Each record's outcome after normalization: `Ok(source id)` or `Err((kind, reason))`.
fn outcomes(feed: FeedId, bytes: &[u8]) -> Vec<Result<String, (RejectKind, String)>> {
    let normalizer = normalizer();
    let decoded = adapters::decode(feed, "hostile", bytes, normalizer.rules());
    decoded
        .records
        .iter()
        .map(|record| match &record.outcome {
            Outcome::Record(source) => normalizer
                .normalize(source, 1, detached_pointer(feed, record.location.clone()))
                .map(|clue| clue.source_id)
                .map_err(|r| (r.kind, r.reason)),
            Outcome::Rejected(r) => Err((r.kind, r.reason.clone())),
            Outcome::NotADispute { reason } => Err((RejectKind::InvalidValue, reason.clone())),
        })
        .collect()
}

const GOOD_CASE: &str =
    "<MediationCase><CaseNo>苏通皋调〔2026〕0001号</CaseNo><AcceptDate>2026-06-12</AcceptDate>\
<DisputeType>物业</DisputeType><Town>如城街道</Town><Address>如城街道锦绣华庭</Address>\
<Summary>电梯故障逾月未修。</Summary><Status>调解中</Status></MediationCase>";

fn push(cases: &str) -> Vec<u8> {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediationCases pushTime=\"2026-06-12T16:30:00+08:00\">\n{GOOD_CASE}\n{cases}\n{}\n</MediationCases>\n", GOOD_CASE.replace("0001", "0002")).into_bytes()
}

#[test]
fn a_case_nested_too_deep_is_refused_and_the_cases_around_it_are_kept() {
    // Deep enough to overflow a recursive drop if it were built, small enough to pass the size limit.
    let depth = 100;
    let deep = format!(
        "<MediationCase><CaseNo>苏通皋调〔2026〕0099号</CaseNo>{}{}</MediationCase>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let got = outcomes(FeedId::Justice, &push(&deep));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].is_ok() && got[2].is_ok(), "{got:?}");
    let (kind, reason) = got[1].clone().expect_err("the deep case is refused");
    assert_eq!(kind, RejectKind::Malformed);
    assert!(reason.contains("deeper than 16 levels"), "{reason}");
}

#[test]
fn a_push_nested_300000_levels_deep_is_refused_without_a_crash() {
    let depth = 300_000;
    let deep = format!(
        "<MediationCase>{}{}</MediationCase>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let got = outcomes(FeedId::Justice, &push(&deep));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].is_ok() && got[2].is_ok(), "{got:?}");
    let (kind, reason) = got[1].clone().expect_err("refused");
    assert_eq!(kind, RejectKind::TooLarge);
    assert!(reason.contains("the limit is 1048576 bytes a case"), "{reason}");
}

#[test]
fn every_one_of_many_unclosed_cases_is_a_dead_letter_of_its_own() {
    // 20,000 cases that never close: each is cut at the next, and the good cases before and after are kept.
    let unclosed = "<MediationCase><CaseNo>x</CaseNo>\n".repeat(20_000);
    let got = outcomes(FeedId::Justice, &push(&unclosed));
    assert_eq!(got.len(), 20_002);
    assert!(got[0].is_ok() && got[20_001].is_ok());
    assert!(got[1..20_001]
        .iter()
        .all(|o| matches!(o, Err((RejectKind::Truncated, _)))));
}

#[test]
fn a_line_or_a_field_beyond_its_limit_is_refused_with_the_limit_named() {
    let good = include_str!("fixtures/hotline12345.good.jsonl")
        .lines()
        .next()
        .expect("a line")
        .to_owned();
    let long_text = good.replace(
        "要求物业公司尽快维修。",
        &format!("要求物业公司尽快维修。{}", "很".repeat(30_000)),
    );
    let long_line = format!(
        "{{\"gdbh\":\"RG1\",\"padding\":\"{}\"}}",
        "x".repeat(yujing_feeds::MAX_LINE_BYTES)
    );
    let input = format!("{good}\n{long_text}\n{long_line}\n{good}\n");
    let got = outcomes(FeedId::Hotline12345, input.as_bytes());
    assert_eq!(got.len(), 4);
    assert!(got[0].is_ok() && got[3].is_ok(), "{:?}", (&got[0], &got[3]));
    let (kind, reason) = got[1].clone().expect_err("the long text is refused");
    assert_eq!(kind, RejectKind::TooLarge);
    assert!(
        reason.contains("the text is 90") && reason.contains("the limit is 65536 bytes a field"),
        "{reason}"
    );
    let (kind, reason) = got[2].clone().expect_err("the long line is refused");
    assert_eq!(kind, RejectKind::TooLarge);
    assert!(reason.contains("the limit is 16777216 bytes a line"), "{reason}");
}
