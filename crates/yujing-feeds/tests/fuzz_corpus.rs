//! The fuzzing regression corpus (`fuzz/corpus/<feed>/`: the fixtures, the samples, and every input the fuzzer
//! once crashed on) replayed on stable: each file decoded as its feed's export and every record normalized,
//! with no panic and no clear phone or ID number in what comes out. `bash fuzz/run.sh` does the fuzzing.

mod support;

use std::path::Path;

use yujing_feeds::{adapters, detached_pointer, Normalizer, Outcome};
use yujing_model::FeedId;

fn normalizer() -> Normalizer {
    support::normalizer(b"fuzz-secret-0123456789")
}

#[test]
fn every_input_of_the_fuzzing_corpus_decodes_and_normalizes_without_a_panic_or_clear_pii() {
    let normalizer = normalizer();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut inputs = 0;
    for feed in FeedId::ALL {
        let dir = corpus.join(feed.as_str());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no input", dir.display());
        for path in files {
            let bytes = std::fs::read(&path).expect("readable");
            let name = format!("fuzz.{}", adapters::extension(feed));
            let decoded = adapters::decode(feed, &name, &bytes, normalizer.rules());
            for record in &decoded.records {
                if let Outcome::Record(source) = &record.outcome {
                    if let Ok(clue) =
                        normalizer.normalize(source, 1, detached_pointer(feed, record.location.clone()))
                    {
                        for text in [&clue.description, &clue.address.text, &clue.source_category] {
                            assert!(
                                !yujing_feeds::pii::contains_clear_pii(text),
                                "{}: clear PII in {text}",
                                path.display()
                            );
                        }
                    }
                }
            }
            inputs += 1;
        }
    }
    assert!(inputs >= 12, "{inputs} inputs");
}
