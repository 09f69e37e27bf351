//! What every fuzz target does with its input: decode it as one feed's export, normalize every record, and
//! check that nothing that leaves the normalizer holds a clear phone or ID number. A panic, a sanitizer report
//! or a failed check is a crash libFuzzer keeps.

use std::sync::OnceLock;

use yujing_feeds::{adapters, detached_pointer, FeedsConfig, Gazetteer, Normalizer, Outcome, PartyHasher};
use yujing_model::FeedId;

fn normalizer() -> &'static Normalizer {
    static NORMALIZER: OnceLock<Normalizer> = OnceLock::new();
    NORMALIZER.get_or_init(|| {
        let table: toml::Table =
            toml::from_str(include_str!("../../config/yujing.toml")).expect("the built-in configuration parses");
        let feeds: FeedsConfig = table["feeds"].clone().try_into().expect("its [feeds] section is valid");
        let hasher = PartyHasher::new(b"fuzz-secret-0123456789").expect("a long enough secret");
        Normalizer::new(Gazetteer::rugao(), hasher, feeds.build().expect("the feed rules build"))
    })
}

/// Decodes `data` as an export of `feed` and normalizes every record.
pub fn exercise(feed: FeedId, data: &[u8]) {
    let normalizer = normalizer();
    let name = format!("fuzz.{}", adapters::extension(feed));
    let decoded = adapters::decode(feed, &name, data, normalizer.rules());
    for record in &decoded.records {
        match &record.outcome {
            Outcome::Record(source) => {
                if let Ok(clue) = normalizer.normalize(source, 1, detached_pointer(feed, record.location.clone())) {
                    for text in [&clue.description, &clue.address.text, &clue.source_category] {
                        assert!(!yujing_feeds::pii::contains_clear_pii(text), "clear PII in a clue: {text}");
                    }
                }
            }
            Outcome::Rejected(reject) => {
                assert!(!reject.reason.is_empty(), "a rejection without a reason");
            }
            Outcome::NotADispute { .. } => {}
        }
    }
}
