//! Correlation for yujing (预警): recognise reports of the same dispute across feeds and raise warnings.
//!
//! # Layout
//! - [`ClueProfile`] (`profile`): what matching looks at in a clue, computed once: keyed party hashes, name
//!   tokens, estate (and its pinyin), village group, building, position, counter-parties, description bigrams.
//!   Its [`ClueCore`] (identity, time, town, type, places, counter-parties, risk signs) is all a clue keeps once
//!   it is past the window and can no longer be a candidate, so memory follows the window, not the history.
//! - [`Symbols`] (`symbols`): the correlator's tables of interned strings, one per kind (towns, places, party
//!   keys, name tokens, counter-parties): a profile holds 4-byte symbols, so comparing two is integer compares.
//! - [`compare`] and [`score`] (`score`): the pairwise comparison as one level per feature ([`FEATURES`]),
//!   weighed Fellegi–Sunter style by a [`FeatureWeights`] table of log-likelihood ratios.
//! - [`Correlator`] (`correlator`): incremental entity resolution. Candidates come from a blocking index (party
//!   keys, estate, village group, community, counter-party, geo cells, town and type), each key holding only its
//!   most recent clues, so the cost per clue stays flat however many clusters are open. Clusters are sets in a
//!   `petgraph` union-find; a clue matching two clusters merges them (a [`CorrelationEvent::Merged`]).
//!   Occurrences are counted per cluster in event time over each rule's sliding window; a rule's crossing raises
//!   a [`Warning`] with its evidence and a deterministic id. A level only rises, once per episode.
//! - `prefetch`: a hint to the processor to load a candidate's time and profile before they are read, so that
//!   the cache misses of a clue's candidates overlap.
//! - `chunked`: the queue of fixed-size chunks the correlator holds its profiles and past cores in, so that
//!   growing it never doubles the memory held.
//! - [`Correlator::snapshot`] / [`Correlator::from_snapshot`] (`correlator/snapshot`): the state as bytes,
//!   so a restart loads it instead of observing every clue again; refused under other settings or layout.
//! - [`CorrelateConfig`] (`config`): `[correlate]` of `yujing.toml`, checked into [`Settings`] with every problem
//!   reported at once; rules can carry test cases, run by [`run_rule_tests`] (`yujing test`).
//!
//! Everything here is pure: no I/O, no clock. The same clues in the same order give the same outputs, byte for
//! byte.

mod chunked;
mod clue_ids;
mod config;
mod correlator;
mod prefetch;
mod profile;
mod rule_tests;
mod score;
mod symbols;

pub use config::{
    BlockingConfig, ConditionConfig, CorrelateConfig, CorrelateConfigErrors, ExpectedWarningConfig, Rule,
    RuleConfig, RuleTestConfig, ScoringConfig, Settings, TestClueConfig,
};
pub use correlator::{
    cluster_id_for, Assignment, BlockingAhead, Correlator, Explanation, PairRecord, Prepared, SnapshotError,
    Stats, SNAPSHOT_FORMAT,
};
pub use profile::{
    bigrams, dice, normalize_org, road_name, sound_of, subject_similarity, weighted_dice, BigramFrequencies,
    ClueCore, ClueProfile, ProfileDraft, TopicLexicon, WindowedCounts,
};
pub use rule_tests::{run_rule_tests, RuleTestOutcome};
pub use score::{
    compare, distance_m, estate_similarity, feature_index, known_levels, name_similarity, score,
    score_if_anchored, Comparison, Feature, FeatureWeights, PairScore, FEATURES, FEATURE_COUNT,
};
pub use symbols::{Interner, Sym, Symbols};
pub use yujing_model::{CorrelationEvent, Warning, WarningLevel};
