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

/// Decodes `data` as an export of `feed` and normalizes every record; a CSV export is also decoded in parts,
/// which must give exactly the same units and records.
pub fn exercise(feed: FeedId, data: &[u8]) {
    let normalizer = normalizer();
    let name = format!("fuzz.{}", adapters::extension(feed));
    let decoded = adapters::decode(feed, &name, data, normalizer.rules());
    if adapters::is_csv(feed) {
        // The part size comes from the input, so the fuzzer explores cuts too.
        let part = 1 + data.first().map_or(0, |&b| b as usize % 64);
        let parts = in_parts(feed, &name, data, part);
        assert!(parts.units == decoded.units, "the parts' units differ from the whole file's");
        assert!(parts.records == decoded.records, "the parts' records differ from the whole file's");
    }
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

/// `data` decoded a part at a time as the engine reads a large CSV file: about `part` bytes of whole lines added
/// to what the last part left.
fn in_parts(feed: FeedId, name: &str, data: &[u8], part: usize) -> yujing_feeds::DecodedInput {
    let rules = normalizer().rules();
    let mut all = yujing_feeds::DecodedInput::default();
    let mut at = adapters::CsvPosition::START;
    let mut carry: Vec<u8> = Vec::new();
    let mut rest = data;
    loop {
        let mut taken = 0;
        while taken < part && !rest.is_empty() {
            let line = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
            carry.extend_from_slice(&rest[..line]);
            rest = &rest[line..];
            taken += line;
        }
        let at_end = rest.is_empty();
        let decoded = adapters::decode_csv_from(feed, name, &carry, rules, &at, at_end);
        let base = all.units.len();
        all.units.extend(decoded.decoded.units);
        all.records.extend(decoded.decoded.records.into_iter().map(|mut record| {
            record.unit += base;
            record
        }));
        carry.drain(..decoded.consumed);
        at = decoded.next;
        if at_end {
            assert!(carry.is_empty(), "bytes left after the last part");
            return all;
        }
    }
}
