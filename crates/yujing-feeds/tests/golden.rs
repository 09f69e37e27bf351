//! Golden fixture tests: every feed's good and bad fixture files, decoded and normalized, must give exactly the
//! clues and rejections recorded beside them (`<fixture>.golden.json`).
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after an intended change, then review the diff.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use yujing_feeds::{
    adapters, detached_pointer, pii, FeedsConfig, Gazetteer, Normalizer, Outcome, PartyHasher,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn normalizer() -> Normalizer {
    let text = include_str!("../../../config/yujing.toml");
    let table: toml::Table = toml::from_str(text).expect("the default configuration parses");
    let feeds: FeedsConfig = table["feeds"]
        .clone()
        .try_into()
        .expect("the [feeds] section is valid");
    let rules = feeds.build().expect("the default feed rules build");
    let hasher = PartyHasher::new(b"golden-test-secret-0123456789").expect("long enough");
    Normalizer::new(Gazetteer::rugao(), hasher, rules)
}

/// What a fixture decodes to, as JSON.
fn run(path: &Path) -> Value {
    let normalizer = normalizer();
    let name = path.file_name().and_then(|n| n.to_str()).expect("a file name");
    let feed = adapters::detect_feed(path).expect("fixture names start with their feed");
    let bytes = std::fs::read(path).expect("fixture readable");
    let decoded = adapters::decode(feed, name, &bytes, normalizer.rules());
    let records: Vec<Value> = decoded
        .records
        .iter()
        .map(|record| match &record.outcome {
            Outcome::Record(source) => {
                let pointer = detached_pointer(feed, record.location.clone());
                match normalizer.normalize(source, 1, pointer) {
                    Ok(clue) => json!({ "clue": clue }),
                    Err(reject) => json!({
                        "rejected": { "kind": reject.kind, "reason": pii::redact(&reject.reason), "location": record.location }
                    }),
                }
            }
            Outcome::NotADispute { reason } => json!({ "not_a_dispute": reason, "location": record.location }),
            Outcome::Rejected(reject) => json!({
                "rejected": { "kind": reject.kind, "reason": pii::redact(&reject.reason), "location": record.location }
            }),
        })
        .collect();
    json!({ "raw_units": decoded.units.len(), "records": records })
}

fn check(fixture: &str) {
    let path = fixtures().join(fixture);
    let actual = run(&path);
    let text = serde_json::to_string_pretty(&actual).expect("serializable") + "\n";
    assert!(
        !pii::contains_clear_pii(&text),
        "the output of {fixture} holds a clear phone or ID number"
    );
    let golden = fixtures().join(format!("{fixture}.golden.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).expect("golden writable");
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", golden.display()));
    pretty_assertions::assert_eq!(expected, text, "{fixture} differs from its golden file");
}

macro_rules! golden {
    ($($name:ident => $file:literal),* $(,)?) => {
        $( #[test] fn $name() { check($file); } )*
    };
}

golden! {
    hotline12345_good => "hotline12345.good.jsonl",
    hotline12345_bad => "hotline12345.bad.jsonl",
    hotline12345_pii => "hotline12345.pii.jsonl",
    grid_good => "grid.good.jsonl",
    grid_bad => "grid.bad.jsonl",
    police_good => "police.good.csv",
    police_bad => "police.bad.csv",
    screening_good => "screening.good.csv",
    screening_bad => "screening.bad.csv",
    justice_good => "justice.good.xml",
    justice_bad => "justice.bad.xml",
    exchange_good => "exchange.good.jsonl",
    exchange_bad => "exchange.bad.jsonl",
}
