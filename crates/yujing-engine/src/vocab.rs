//! The category words no table maps: what `yujing vocab` lists so an operator can map them in one edit.
//!
//! A clue whose category word is unmapped is not rejected: its type is inferred and it is flagged
//! (`Clue::category_inferred`). This module gathers those words from the clues on the log, with how many
//! records used each, an example record and the type most often inferred for it.

use std::collections::BTreeMap;

use serde::Serialize;
use yujing_model::{Clue, DisputeType, FeedId};

/// One unmapped category word of one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmappedWord {
    /// The feed that used it.
    pub feed: FeedId,
    /// The word, as the feed wrote it.
    pub word: String,
    /// How many distinct records (clues) used it.
    pub records: u64,
    /// One of those records, to look at (`yujing clues` shows it).
    pub example_clue_id: String,
    /// The type inferred most often for it: what to map it to, unless the operator knows better.
    pub suggested_type: DisputeType,
}

/// Collects unmapped category words from clues read in log order; each record counts once (its latest version
/// decides whether it is still unmapped).
#[derive(Debug, Default)]
pub struct VocabCollector {
    latest: BTreeMap<String, (FeedId, String, bool, DisputeType)>,
}

impl VocabCollector {
    /// Take one clue version into account.
    pub fn add(&mut self, clue: &Clue) {
        self.latest.insert(
            clue.clue_id.clone(),
            (
                clue.feed,
                clue.source_category.clone(),
                clue.category_inferred,
                clue.dispute_type,
            ),
        );
    }

    /// The unmapped words, most used first (then by feed and word).
    pub fn finish(self) -> Vec<UnmappedWord> {
        type Tally = (u64, String, BTreeMap<DisputeType, u64>);
        let mut words: BTreeMap<(FeedId, String), Tally> = BTreeMap::new();
        for (clue_id, (feed, word, inferred, dispute_type)) in self.latest {
            if !inferred {
                continue;
            }
            let entry = words
                .entry((feed, word))
                .or_insert_with(|| (0, clue_id.clone(), BTreeMap::new()));
            entry.0 += 1;
            *entry.2.entry(dispute_type).or_default() += 1;
        }
        let mut out: Vec<UnmappedWord> = words
            .into_iter()
            .map(|((feed, word), (records, example_clue_id, types))| UnmappedWord {
                feed,
                word,
                records,
                example_clue_id,
                // The most frequent; ties go to the earlier type of the statistics list.
                suggested_type: types
                    .iter()
                    .rev()
                    .max_by_key(|(_, n)| **n)
                    .map(|(t, _)| *t)
                    .unwrap_or(DisputeType::Other),
            })
            .collect();
        out.sort_by(|a, b| {
            b.records
                .cmp(&a.records)
                .then(a.feed.cmp(&b.feed))
                .then(a.word.cmp(&b.word))
        });
        out
    }
}

/// The configuration that maps `words` to their suggested types, to check and paste into the configuration file:
/// one `[feeds.categories.<feed>]` table per feed (a TOML table may be opened only once), words sorted. Records
/// that had no category word at all have nothing to map and are left out.
pub fn mapping_config(words: &[UnmappedWord]) -> Result<String, toml::ser::Error> {
    let mut tables: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for w in words.iter().filter(|w| !w.word.trim().is_empty()) {
        tables
            .entry(w.feed.as_str())
            .or_default()
            .insert(w.word.as_str(), w.suggested_type.name());
    }
    let config = BTreeMap::from([("feeds", BTreeMap::from([("categories", tables)]))]);
    toml::to_string(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clue(id: &str, word: &str, inferred: bool, t: DisputeType) -> Clue {
        let mut clue: Clue = serde_json::from_str(include_str!("../../yujing-model/tests/sample_clue.json"))
            .expect("the sample clue parses");
        clue.clue_id = id.to_owned();
        clue.source_category = word.to_owned();
        clue.category_inferred = inferred;
        clue.dispute_type = t;
        clue
    }

    #[test]
    fn lists_each_unmapped_word_once_per_record_with_the_usual_type() {
        let mut vocab = VocabCollector::default();
        vocab.add(&clue("a", "劳动保障", true, DisputeType::Labour));
        vocab.add(&clue("a", "劳动保障", true, DisputeType::Labour)); // a second version: one record
        vocab.add(&clue("b", "劳动保障", true, DisputeType::Labour));
        vocab.add(&clue("c", "劳动保障", true, DisputeType::Other));
        vocab.add(&clue("d", "物业管理", false, DisputeType::Property));
        vocab.add(&clue("e", "城乡建设", true, DisputeType::HousingHomestead));
        // A record whose latest version is mapped (the operator mapped the word meanwhile) is not listed.
        vocab.add(&clue("f", "消费维权", true, DisputeType::Consumer));
        vocab.add(&clue("f", "消费维权", false, DisputeType::Consumer));
        let words = vocab.finish();
        assert_eq!(words.len(), 2, "{words:#?}");
        assert_eq!(words[0].word, "劳动保障");
        assert_eq!(words[0].records, 3);
        assert_eq!(words[0].example_clue_id, "a");
        assert_eq!(words[0].suggested_type, DisputeType::Labour);
        assert_eq!(words[1].word, "城乡建设");
        let config = mapping_config(&words).unwrap_or_else(|e| panic!("{e}"));
        let parsed: toml::Table = toml::from_str(&config).expect("valid TOML");
        let feed = words[0].feed.as_str();
        assert_eq!(
            parsed["feeds"]["categories"][feed]["劳动保障"].as_str(),
            Some("劳动争议"),
            "{config}"
        );
        assert!(config.contains(&format!("[feeds.categories.{feed}]")), "{config}");
    }
}
