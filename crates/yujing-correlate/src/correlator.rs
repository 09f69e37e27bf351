//! The incremental correlator: blocking index, clustering with union-find, occurrence windows and rules.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeZone, Utc};
use petgraph::unionfind::UnionFind;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use yujing_model::{Clue, CorrelationEvent, FeedId, Warning, WarningLevel};

use crate::chunked::ChunkedDeque;
use crate::clue_ids::ClueIds;
use crate::config::{Rule, Settings};
use crate::profile::{
    BigramFrequencies, ClueCore, ClueProfile, PlaceFrequencies, ProfileDraft, TopicLexicon,
};
use crate::score::{score, Comparison, PairScore};
use crate::symbols::{Sym, Symbols};

mod blocking;
use blocking::{Blocking, KeyNodes, LinkBar};
pub use blocking::{BlockingAhead, Prepared};
mod clusters;
mod judging;
mod snapshot;
#[cfg(test)]
mod testing;

pub use snapshot::{SnapshotError, SNAPSHOT_FORMAT};

const DAY: i64 = 86_400;

/// Clusters of at most this many clues are reconsidered (see [`Correlator::reconsider`]).
const FRAGMENT: usize = 2;

/// What a clue of a two-clue fragment must score above the link threshold to take its fragment along.
const FRAGMENT_MARGIN: f64 = 4.0;

/// From this many clues to reconsider, their candidates are found and compared on two threads (see
/// [`Correlator::second_chances`]): below it the second thread costs more than it saves.
const SECOND_CHANCES_SPLIT_FROM: usize = 4_096;

/// How a clue joined its cluster: kept for every clue (its warning evidence), so a bit per matched feature
/// rather than a list of names, and the score (rounded to hundredths when it is decided) as a whole number of
/// hundredths: eight bytes a clue where an `f64` beside the bits took sixteen.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct JoinInfo {
    /// The score in hundredths.
    hundredths: i32,
    /// Bit `i` set: [`FEATURES`](crate::FEATURES)`[i]` agreed.
    matched: u32,
}

impl JoinInfo {
    /// `score` is a whole number of hundredths ([`round2`]), which it reads back as exactly.
    fn new(score: f64, matched: &[&str]) -> JoinInfo {
        let matched = matched
            .iter()
            .filter_map(|name| crate::score::feature_index(name))
            .fold(0, |bits, i| bits | 1 << i);
        JoinInfo {
            hundredths: (score * 100.0).round() as i32,
            matched,
        }
    }

    /// The score, as [`round2`] gave it.
    fn score(&self) -> f64 {
        f64::from(self.hundredths) / 100.0
    }

    /// The matched features' names, in [`FEATURES`](crate::FEATURES) order.
    fn matched(&self) -> Vec<String> {
        crate::score::FEATURES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.matched & (1 << i) != 0)
            .map(|(_, f)| f.name.to_owned())
            .collect()
    }
}

/// One cluster: a dispute as far as yujing can tell.
///
/// Every cluster of the history stays in the correlator's map, so it is kept small: 64 bytes, where a `Vec` of
/// the warnings raised and an `Option` of the resolution took 80 (the map's entries 72 bytes, not 88).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Cluster {
    /// The stable id (from the cluster's first clue).
    id: ClusterId,
    /// The first clue's node, which decides which cluster's id survives a merge (the older).
    first: u32,
    /// Members as (event time, node), sorted.
    members: Vec<(i64, u32)>,
    /// Warnings raised: (level, event time raised at). Few, and most clusters have none: replaced whole when
    /// one is added.
    raised: Box<[(WarningLevel, i64)]>,
    /// When the cluster's work order was last resolved (event time), or [`Cluster::NEVER_RESOLVED`]: see
    /// [`Cluster::resolved_at`].
    resolved_at: i64,
}

impl Cluster {
    /// `resolved_at` of a cluster never resolved: below every event time, so the later of two resolutions is
    /// their maximum either way.
    const NEVER_RESOLVED: i64 = i64::MIN;

    /// A new cluster opened by `first`, with no members yet.
    fn opened_by(id: ClusterId, first: u32) -> Cluster {
        Cluster {
            id,
            first,
            members: Vec::new(),
            raised: Box::default(),
            resolved_at: Cluster::NEVER_RESOLVED,
        }
    }

    /// When the cluster's work order was last resolved (event time), if ever.
    fn resolved_at(&self) -> Option<i64> {
        (self.resolved_at != Cluster::NEVER_RESOLVED).then_some(self.resolved_at)
    }
}

/// What [`Correlator::check_rules`] judges: a cluster, the rules, the episode gap (seconds) and the warnings
/// already raised on the cluster.
#[derive(Clone, Copy)]
struct Judged<'a> {
    cluster: &'a Cluster,
    rules: &'a [Rule],
    gap: i64,
    raised: &'a [(WarningLevel, i64)],
}

/// Incremental entity resolution and warning rules over a stream of clues.
///
/// Feed it clues with [`Correlator::observe`] in log order (or event-time order, for a replay); it decides for
/// each whether it reports a dispute already seen, and raises warnings when a rule's threshold is crossed. The
/// same clues in the same order always give the same outputs.
pub struct Correlator {
    settings: Settings,
    lexicon: TopicLexicon,
    /// What a clue's candidates are found with: the symbol tables, the term and place frequencies, the
    /// blocking index and every node's time (see [`Blocking`]).
    blocking: Blocking,
    /// The cores of the clues past the window (nodes `0..past.len()`): all that is kept of a clue no report to
    /// come can have as a candidate (see [`Correlator::compact_past_window`]).
    ///
    /// Both `past` and `live` are chunked: a province holds millions of them, and a doubling `Vec` would hold
    /// up to twice that.
    past: ChunkedDeque<ClueCore>,
    /// The whole profiles of the clues that can still be candidates (the nodes after `past`), oldest first.
    live: ChunkedDeque<ClueProfile>,
    joins: Vec<JoinInfo>,
    /// Every node's clue id.
    ids: ClueIds,
    /// Clue ids to nodes (the ids themselves are in `ids`).
    by_clue: crate::symbols::SlotMap,
    sets: UnionFind<u32>,
    /// Keyed by node and by blocking key (hashes already): FxHash, which costs a multiply where SipHash costs
    /// a dozen rounds; no order of these maps reaches an output.
    clusters: FxHashMap<u32, Cluster>,
    /// Clues observed since the last flush, with whether they merged clusters.
    pending: Vec<(u32, bool)>,
    /// Cluster ids (including merged-away ones) to the node of the clue that opened them.
    opened_by: FxHashMap<ClusterId, u32>,
    /// Lone clues to reconsider at the next [`Correlator::reconsider`] besides the batch's own.
    reconsider_later: Vec<u32>,
    /// The event times of the most recent clues observed (at most `watermark_span`), oldest first.
    recent: VecDeque<i64>,
    /// [`WATERMARK_SPAN`]; a field so that a test's short stream can use fewer.
    watermark_span: usize,
    /// Candidate pairs compared, when recording for `yujing fit`.
    pairs: Option<Vec<PairRecord>>,
    warnings_raised: u64,
    merges: u64,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("clues", &self.clue_count())
            .field("clusters", &self.clusters.len())
            .finish()
    }
}

/// A candidate pair compared while observing a clue: the clue, the earlier clue it was compared with, and
/// the comparison's levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRecord {
    /// The clue observed.
    pub clue_id: String,
    /// The candidate it was compared with.
    pub member_clue_id: String,
    /// How they compare.
    pub comparison: Comparison,
}

/// One candidate of [`Correlator::explain`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// The earlier clue compared with.
    pub candidate_clue_id: String,
    /// Its cluster now.
    pub cluster_id: String,
    /// The pair's score.
    pub score: f64,
    /// Whether a place or person agreed.
    pub anchored: bool,
    /// Every feature's level (`estate.same`, `gap.week`…).
    pub levels: Vec<String>,
    /// How alike the descriptions are (weighted Dice of bigrams, 0–1).
    pub description_similarity: f64,
    /// How alike what they say happens is, leaving out the places' names (0–1).
    pub subject_similarity: f64,
}

/// A clue's cluster assignment, for `clusters.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    /// The feed.
    pub feed: FeedId,
    /// The upstream id.
    pub source_id: String,
    /// The cluster.
    pub cluster_id: String,
}

/// Counters for metrics and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Distinct clues observed.
    pub clues: u64,
    /// Clusters open.
    pub clusters: u64,
    /// Merges of two clusters.
    pub merges: u64,
    /// Warnings raised.
    pub warnings: u64,
    /// Clues past the window, of which only the core is kept (see [`ClueCore`]).
    pub compacted: u64,
}

/// How many of the most recent event times observed make the watermark (their minimum): many, so that one
/// report dated in the future by mistake cannot move it and compact what is still in use.
const WATERMARK_SPAN: usize = 1024;

/// `prefix` and 16 letters `a`–`p` of the SHA-256 of `parts`: an id that is stable and never looks like a phone.
pub(super) fn stable_id(prefix: &str, parts: &[&str]) -> String {
    spell(prefix, stable_bits(parts))
}

/// The first eight bytes of the SHA-256 of `parts`, each followed by a zero byte: what a stable id spells.
fn stable_bits(parts: &[&str]) -> u64 {
    let mut sha = Sha256::new();
    for p in parts {
        sha.update(p.as_bytes());
        sha.update([0]);
    }
    let digest = sha.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `prefix` and sixteen letters `a`–`p`, four bits of `bits` each, high first.
fn spell(prefix: &str, bits: u64) -> String {
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    for b in bits.to_be_bytes() {
        out.push(char::from(b'a' + (b >> 4)));
        out.push(char::from(b'a' + (b & 0x0f)));
    }
    out
}

/// The deterministic id of the cluster a clue opens.
pub fn cluster_id_for(clue_id: &str) -> String {
    ClusterId::of_clue(clue_id).to_text()
}

/// A cluster's id as the 64 bits its text spells: the text is `k-` and sixteen letters `a`–`p`, four bits each
/// of the first eight bytes of a SHA-256 ([`stable_id`]). A province has hundreds of thousands of clusters,
/// each named by its own record and by the map from ids to clusters: eight bytes each instead of a string's
/// header and its allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct ClusterId(u64);

impl ClusterId {
    /// The id of the cluster `clue_id` opens: the bits of [`stable_id`]`("k-", [clue_id])`.
    fn of_clue(clue_id: &str) -> ClusterId {
        ClusterId(stable_bits(&[clue_id]))
    }

    /// The id as text (`k-ohgafbbblbnlhgfp`).
    fn to_text(self) -> String {
        spell("k-", self.0)
    }

    /// The id a text spells, if it is one.
    fn parse(text: &str) -> Option<ClusterId> {
        let letters = text.strip_prefix("k-")?.as_bytes();
        if letters.len() != 16 {
            return None;
        }
        letters
            .iter()
            .try_fold(0u64, |bits, &c| {
                (b'a'..=b'p')
                    .contains(&c)
                    .then(|| bits << 4 | u64::from(c - b'a'))
            })
            .map(ClusterId)
    }
}

pub(super) fn utc(at: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(at, 0).single().unwrap_or_default()
}

impl Correlator {
    /// A correlator with no clues yet.
    pub fn new(settings: Settings) -> Correlator {
        Correlator {
            lexicon: TopicLexicon::new(&settings.topics),
            blocking: Blocking::new(&settings.blocking),
            settings,
            past: ChunkedDeque::new(),
            live: ChunkedDeque::new(),
            joins: Vec::new(),
            ids: ClueIds::default(),
            by_clue: Default::default(),
            sets: UnionFind::new(0),
            clusters: FxHashMap::default(),
            pending: Vec::new(),
            opened_by: FxHashMap::default(),
            reconsider_later: Vec::new(),
            recent: VecDeque::new(),
            watermark_span: WATERMARK_SPAN,
            pairs: None,
            warnings_raised: 0,
            merges: 0,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The topic lexicon profiles are drafted with ([`ProfileDraft::of`]).
    pub fn lexicon(&self) -> &TopicLexicon {
        &self.lexicon
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            clues: self.clue_count() as u64,
            clusters: self.clusters.len() as u64,
            merges: self.merges,
            warnings: self.warnings_raised,
            compacted: self.past.len() as u64,
        }
    }

    /// Observe one clue version: link it to a cluster (merging clusters it bridges) and return what was
    /// decided. Rules are judged by [`Correlator::flush`]. A clue id seen before (a re-delivery or a new version)
    /// changes nothing: the record was counted once already.
    pub fn observe(&mut self, clue: &Clue) -> Vec<CorrelationEvent> {
        if self.knows(&clue.clue_id) {
            return Vec::new();
        }
        let draft = ProfileDraft::of(clue, &self.lexicon);
        self.observe_new(clue, &draft)
    }

    /// [`Correlator::observe`] with the clue's profile drafted already (with [`Correlator::lexicon`]), maybe on
    /// another thread: the same decisions.
    pub fn observe_drafted(&mut self, clue: &Clue, draft: &ProfileDraft) -> Vec<CorrelationEvent> {
        if self.knows(&clue.clue_id) {
            return Vec::new();
        }
        self.observe_new(clue, draft)
    }

    /// Whether a clue of this id was observed.
    pub fn knows(&self, clue_id: &str) -> bool {
        self.clue_index(clue_id).is_some()
    }

    /// Hands blocking to another thread for a segment of clues: there, [`BlockingAhead::prepare`] prepares
    /// each clue the correlator does not know, each id once, in the order they are to be decided, while
    /// [`Correlator::observe_prepared`] decides them here, a chunk or so behind; then
    /// [`Correlator::take_back_blocking`]. The decisions are those of [`Correlator::observe`] (see
    /// [`Blocking`]'s invariant). Meanwhile the correlator keeps a copy of the places table (the decisions
    /// compare estates by name), and must not be asked to observe, reconsider, flush, explain or snapshot: a
    /// failed segment leaves it to be rebuilt.
    pub fn hand_off_blocking(&mut self) -> BlockingAhead {
        let places = self.blocking.symbols.places.clone();
        let mut kept = Blocking::new(&self.settings.blocking);
        kept.symbols.places = places;
        let blocking = std::mem::replace(&mut self.blocking, kept);
        let scoring = &self.settings.scoring;
        let glanced =
            (scoring.require_anchor && self.pairs.is_none()).then_some((&self.live, scoring.near_meters));
        BlockingAhead::new(
            blocking,
            self.compacted_below(),
            self.clue_count() as u32,
            glanced,
        )
    }

    /// Decides a clue that [`BlockingAhead::prepare`] prepared, the next in its order (see
    /// [`Correlator::hand_off_blocking`]).
    pub fn observe_prepared(&mut self, clue: &Clue, prepared: Prepared) -> Vec<CorrelationEvent> {
        for place in &prepared.new_places {
            self.blocking.symbols.places.intern(place);
        }
        self.decide(clue, prepared)
    }

    /// Takes blocking back from the thread it was handed to, once every clue it prepared is decided.
    pub fn take_back_blocking(&mut self, ahead: BlockingAhead) {
        let blocking = ahead.into_blocking();
        debug_assert_eq!(blocking.times.len(), self.clue_count());
        self.blocking = blocking;
    }

    /// Observe a clue not observed before, its profile drafted: blocking prepares it, then it is decided.
    fn observe_new(&mut self, clue: &Clue, draft: &ProfileDraft) -> Vec<CorrelationEvent> {
        let prepared = self
            .blocking
            .prepare(clue, draft, self.compacted_below(), self.clue_count() as u32);
        self.decide(clue, prepared)
    }

    /// Decide a clue blocking has prepared (its profile weighed, its candidates found, itself indexed): which
    /// cluster it joins or opens, and the merges it causes. Reads of blocking's state only the places table
    /// (estates compared by name), so that another thread may hold the rest meanwhile ([`BlockingAhead`]).
    fn decide(&mut self, clue: &Clue, prepared: Prepared) -> Vec<CorrelationEvent> {
        let Prepared {
            profile,
            candidates,
            glanced,
            ..
        } = prepared;
        // Per candidate cluster (keyed by its root, ordered for determinism): the best pair's score and
        // comparison.
        let mut best: BTreeMap<u32, (f64, Comparison)> = BTreeMap::new();
        let link = self.settings.scoring.link_threshold;
        let bar = LinkBar {
            at_least: link,
            refined: true,
        };
        for (node, root, pair) in self.scored_candidates(&profile, candidates, glanced, Some(bar)) {
            if self.pairs.is_some() {
                // The member's id is read before the sink is borrowed.
                let record = PairRecord {
                    clue_id: clue.clue_id.clone(),
                    member_clue_id: self.ids[node as usize].to_owned(),
                    comparison: pair.comparison,
                };
                if let Some(sink) = self.pairs.as_mut() {
                    sink.push(record);
                }
            }
            if self.settings.scoring.require_anchor && !pair.anchored() {
                continue;
            }
            let entry = best.entry(root).or_insert((f64::MIN, pair.comparison));
            if pair.score > entry.0 {
                *entry = (pair.score, pair.comparison);
            }
        }
        // What other members near in time know (the building, the estate, the village group, the town) fills
        // in what the best member did not say. A cluster whose best pair stays under the link threshold even if
        // every level the members could refine went its best way is left out before they are looked up (the
        // bound is exact, the margin only absorbs rounding).
        let merge = self.settings.scoring.merge_threshold;
        let weights = &self.settings.weights;
        let mut ranked: Vec<(u32, f64, Vec<&'static str>)> = Vec::new();
        for (root, (score, mut comparison)) in best {
            if score + self.most_refined(&profile, &comparison) < link - 1e-6 {
                continue;
            }
            self.refine(&profile, root, &mut comparison);
            let score = weights.score(&comparison);
            if score >= link {
                ranked.push((root, score, comparison.agreements()));
            }
        }
        // Highest score first; ties go to the older cluster.
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.clusters[&a.0].first.cmp(&self.clusters[&b.0].first))
        });

        let node = self.sets.new_set();
        debug_assert_eq!(node as usize, self.clue_count());
        self.ids.push(&clue.clue_id);
        let at = profile.at;
        let mut outputs = Vec::new();
        match ranked.first() {
            None => {
                let id = ClusterId::of_clue(&clue.clue_id);
                self.opened_by.insert(id, node);
                let mut cluster = Cluster::opened_by(id, node);
                cluster.members.push((at, node));
                self.clusters.insert(node, cluster);
                outputs.push(CorrelationEvent::Linked {
                    clue_id: clue.clue_id.clone(),
                    cluster_id: id.to_text(),
                    new_cluster: true,
                    score: 0.0,
                    matched: Vec::new(),
                    occurred_at: utc(at),
                });
                self.joins.push(JoinInfo::new(0.0, &[]));
            }
            Some((root, s, matched)) => {
                let root = *root;
                outputs.push(CorrelationEvent::Linked {
                    clue_id: clue.clue_id.clone(),
                    cluster_id: self.clusters[&root].id.to_text(),
                    new_cluster: false,
                    score: round2(*s),
                    matched: matched.iter().map(|m| (*m).to_owned()).collect(),
                    occurred_at: utc(at),
                });
                self.joins.push(JoinInfo::new(round2(*s), matched));
                let mut root = self.attach(root, node, at);
                for (other, s, _) in ranked.iter().skip(1) {
                    if *s < merge {
                        // A lone earlier report this clue also matched: reconsider it once the batch is in.
                        if self
                            .clusters
                            .get(other)
                            .is_some_and(|c| c.members.len() <= FRAGMENT)
                        {
                            self.reconsider_later.push(self.clusters[other].first);
                        }
                        continue;
                    }
                    let (kept, absorbed_id, new_root) = self.merge(root, *other);
                    self.merges += 1;
                    outputs.push(CorrelationEvent::Merged {
                        cluster_id: kept,
                        merged: absorbed_id,
                        by_clue_id: clue.clue_id.clone(),
                    });
                    root = new_root;
                }
            }
        }
        self.by_clue.insert_new(&clue.clue_id, node);
        if self.recent.len() >= self.watermark_span {
            self.recent.pop_front();
        }
        self.recent.push_back(profile.at);
        self.live.push_back(profile);
        let merged = outputs
            .iter()
            .any(|o| matches!(o, CorrelationEvent::Merged { .. }));
        self.pending.push((node, merged));
        outputs
    }

    /// Give every clue that is still alone a second chance, now that the reports after it are in: link it to
    /// the best cluster it matches (the same threshold and anchor rule as [`Correlator::observe`]), merging
    /// its one-clue cluster into that one. Without this, a dispute's first report could only be joined by a
    /// merge (a higher bar), while its later reports join at the link threshold.
    ///
    /// Considered: the clues observed since the last flush that are alone, and lone earlier clues that a
    /// clue of this batch matched but did not join. Call it before [`Correlator::flush`].
    pub fn reconsider(&mut self) -> Vec<CorrelationEvent> {
        let mut nodes: Vec<u32> = self
            .pending
            .iter()
            .map(|(n, _)| *n)
            .chain(self.reconsider_later.drain(..))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        // A clue past the window has only its core left: it is no longer compared with anything.
        let past = self.compacted_below();
        nodes.retain(|&node| node >= past);
        let link = self.settings.scoring.link_threshold;
        let second_chances = self.second_chances(&nodes);
        let mut events = Vec::new();
        for (node, linkable) in nodes.into_iter().zip(second_chances) {
            // A clue that was in more than a fragment before any decision here still is (clusters only grow).
            let Some(linkable) = linkable else {
                continue;
            };
            let own_root = self.sets.find_mut(node);
            let fragment_size = match self.clusters.get(&own_root) {
                Some(cluster) if cluster.members.len() <= FRAGMENT => cluster.members.len(),
                _ => continue,
            };
            // A lone clue links at the link threshold; a pair of clues, already a small cluster, needs more.
            let bar = if fragment_size == 1 {
                link
            } else {
                link + FRAGMENT_MARGIN
            };
            let mut best: BTreeMap<u32, f64> = BTreeMap::new();
            for (candidate, score) in linkable {
                if score < bar {
                    continue;
                }
                // The candidate's cluster as the decisions before this one have left it.
                let root = self.sets.find_mut(candidate);
                if root == own_root {
                    continue;
                }
                let entry = best.entry(root).or_insert(f64::MIN);
                *entry = entry.max(score);
            }
            let chosen = best.into_iter().max_by(|a, b| {
                a.1.total_cmp(&b.1)
                    .then_with(|| self.clusters[&b.0].first.cmp(&self.clusters[&a.0].first))
            });
            if let Some((target, _)) = chosen {
                let clue_id = self.ids[node as usize].to_owned();
                let (kept, absorbed, _) = self.merge(target, own_root);
                self.merges += 1;
                self.pending.push((node, true));
                events.push(CorrelationEvent::Merged {
                    cluster_id: kept,
                    merged: absorbed,
                    by_clue_id: clue_id,
                });
            }
        }
        events
    }

    /// For each of `nodes` in a fragment now, what [`Correlator::reconsider`] could link it to: every candidate
    /// it could link to at the lowest bar a fragment's clue meets (the link threshold), anchored where an anchor
    /// is required, with the pair's score; `None` for a clue in a larger cluster.
    ///
    /// Reads the correlator only, and nothing a link decision changes but the clusters' roots, by which it
    /// merely groups candidates to leave out those of clusters that cannot link: a pair that could link leaves
    /// its cluster in, whatever the grouping (see [`Correlator::scored_candidates`]). So the pairs are those
    /// each clue would find when its turn comes, and a segment's clues are told on two threads (a bulk load's
    /// million leave one core idle for seconds otherwise), the decisions then taken in order.
    fn second_chances(&self, nodes: &[u32]) -> Vec<Option<Vec<(u32, f64)>>> {
        let linkable = LinkBar {
            at_least: self.settings.scoring.link_threshold,
            refined: false,
        };
        let require_anchor = self.settings.scoring.require_anchor;
        let of = |node: u32| {
            let own_root = self.sets.find(node);
            if self
                .clusters
                .get(&own_root)
                .is_none_or(|c| c.members.len() > FRAGMENT)
            {
                return None;
            }
            let profile = self.profile(node);
            let candidates = self.candidates_now(profile);
            let pairs = self
                .scored_candidates(profile, candidates, false, Some(linkable))
                .into_iter()
                .filter(|(_, _, pair)| {
                    pair.score >= linkable.at_least && (!require_anchor || pair.anchored())
                })
                .map(|(candidate, _, pair)| (candidate, pair.score))
                .collect();
            Some(pairs)
        };
        if nodes.len() < SECOND_CHANCES_SPLIT_FROM {
            return nodes.iter().map(|&node| of(node)).collect();
        }
        let (first, second) = nodes.split_at(nodes.len() / 2);
        std::thread::scope(|scope| {
            let later = scope.spawn(|| second.iter().map(|&node| of(node)).collect::<Vec<_>>());
            let mut told: Vec<_> = first.iter().map(|&node| of(node)).collect();
            told.extend(
                later
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
            told
        })
    }

    /// Evaluate the rules on every cluster that received clues since the last flush, and return the warnings
    /// raised, in a deterministic order (by cluster age, then event time).
    ///
    /// Call it after each clue to warn clue by clue, or after a batch (one ingest run, a whole replay) so that
    /// every clue of the batch counts at its event time before any threshold is judged: a late screening row
    /// and the exchange complaint of the same day then raise the warning at the true crossing.
    pub fn flush(&mut self) -> Vec<Warning> {
        let pending = std::mem::take(&mut self.pending);
        // (cluster age, root) -> (new event times, whether a merge happened).
        let mut touched: BTreeMap<(u32, u32), (Vec<i64>, bool)> = BTreeMap::new();
        for (node, merged) in pending {
            let root = self.sets.find_mut(node);
            let Some(cluster) = self.clusters.get(&root) else {
                continue;
            };
            let entry = touched.entry((cluster.first, root)).or_default();
            entry.0.push(self.blocking.times[node as usize]);
            entry.1 |= merged;
        }
        let mut warnings = Vec::new();
        for ((_, root), (times, merged)) in touched {
            let Some(cluster) = self.clusters.get(&root) else {
                continue;
            };
            let mut raised = cluster.raised.to_vec();
            warnings.extend(self.judge_cluster(
                cluster,
                &self.settings.rules,
                self.settings.episode_gap_days,
                times,
                merged,
                &mut raised,
            ));
            if let Some(cluster) = self.clusters.get_mut(&root) {
                if *cluster.raised != *raised {
                    cluster.raised = raised.into_boxed_slice();
                }
            }
        }
        self.warnings_raised += warnings.len() as u64;
        self.compact_past_window();
        warnings
    }

    /// Fill the levels the best member left `missing` (building, estate, village group, road, community,
    /// counter-party) from what the cluster's members near in time know. A report that does not name the road
    /// may be the best match by its words while the report before it named the road: the cluster knows both,
    /// and another member's different road is as good a reason to doubt as the best member's own.
    fn refine(&self, p: &ClueProfile, root: u32, comparison: &mut Comparison) {
        const NEAREST: usize = 12;
        let Some(cluster) = self.clusters.get(&root) else {
            return;
        };
        let pos = cluster.members.partition_point(|m| m.0 < p.at);
        let from = pos.saturating_sub(NEAREST / 2);
        let to = (from + NEAREST).min(cluster.members.len());
        let near: Vec<&ClueCore> = cluster.members[from..to]
            .iter()
            .map(|&(_, n)| self.core(n))
            .collect();
        // A field the best member left missing, filled from what the members near in time say of it (nothing is
        // looked up for a field the best member already spoke to).
        let fields: [(&str, Field); 4] = [
            ("building", |m| m.building),
            ("village_group", |m| m.village_group),
            ("road", |m| m.road),
            ("community", |m| m.community),
        ];
        for (feature, field) in fields {
            if comparison.level(feature) == Some("missing") {
                if let Some(level) = known_level(&near, field(p), field) {
                    comparison.refine_level(feature, level);
                }
            }
        }
        // A member whose town was not resolved can bridge two towns' namesake estates; the cluster's other
        // members know its town.
        if let (Some(town), Some("unknown")) = (p.town, comparison.level("town")) {
            let towns: Vec<Sym> = near.iter().filter_map(|m| m.town).collect();
            if towns.contains(&town) {
                comparison.refine_level("town", "same");
            } else if !towns.is_empty() {
                comparison.refine_level("town", "conflict");
            }
        }
        if !p.organisations().is_empty() && comparison.level("counterparty") == Some("missing") {
            let (mut named, mut same) = (false, false);
            for organisation in near.iter().flat_map(|m| m.organisations()) {
                named = true;
                if p.organisations().contains(organisation) {
                    same = true;
                    break;
                }
            }
            if named {
                comparison.refine_level("counterparty", if same { "same" } else { "conflict" });
            }
        }
        if p.estate.is_some() && comparison.level("estate") == Some("missing") {
            let similarity = near
                .iter()
                .filter_map(|m| crate::score::estate_similarity(p, m, &self.blocking.symbols))
                .fold(None, |acc: Option<f64>, s| Some(acc.map_or(s, |a| a.max(s))));
            let level = match similarity {
                Some(s) if s >= 0.99 => Some("same"),
                Some(s) if s > 0.0 => Some("similar"),
                Some(_) => Some("conflict"),
                None => None,
            };
            if let Some(level) = level {
                comparison.refine_missing("estate", level);
            }
        }
    }

    /// The most [`Correlator::refine`] can add to the score of `comparison`, a pair of `p` and a member: each
    /// level it may fill (a field `p` names that the pair left missing, a town left unknown) at its best weight.
    /// An exact bound, the conditions being those `refine` checks: it changes no other level.
    fn most_refined(&self, p: &ClueProfile, comparison: &Comparison) -> f64 {
        let weights = &self.settings.weights;
        let fillable = [
            ("building", p.building.is_some()),
            ("village_group", p.village_group.is_some()),
            ("road", p.road.is_some()),
            ("community", p.community.is_some()),
            ("counterparty", !p.organisations().is_empty()),
            ("estate", p.estate.is_some()),
        ];
        let mut most = 0.0;
        for (feature, named) in fillable {
            if named && comparison.level(feature) == Some("missing") {
                most += weights.most_gained(comparison, feature);
            }
        }
        if p.town.is_some() && comparison.level("town") == Some("unknown") {
            most += weights.most_gained(comparison, "town");
        }
        most
    }

    /// How `clue` compares with the candidates blocking finds for it now, best first: for each candidate
    /// clue, its cluster, the score, whether it has an anchor, and every feature's level. Changes nothing;
    /// `yujing explain` prints it so an analyst can see why a report did or did not join a cluster.
    pub fn explain(&self, clue: &Clue) -> Vec<Explanation> {
        // Interned in a copy: explaining changes nothing, not even the tables (a CLI command, run once).
        let mut symbols = self.blocking.symbols.clone();
        let mut profile = ClueProfile::new(clue, &self.lexicon, &mut symbols);
        self.blocking.frequencies.weigh(&mut profile);
        self.blocking.place_frequencies.weigh(&mut profile);
        let candidates = self.candidates_now(&profile);
        let mut out: Vec<Explanation> = self
            .scored_candidates(&profile, candidates, false, None)
            .into_iter()
            .filter(|(n, _, _)| self.ids[*n as usize] != *clue.clue_id)
            .map(|(n, root, pair)| {
                let candidate = self.profile(n);
                let (description, subject_text) =
                    crate::profile::description_and_subject(&profile, candidate);
                (
                    n,
                    root,
                    pair,
                    description,
                    crate::profile::subject_with_text(&profile, candidate, subject_text),
                )
            })
            .map(|(n, root, pair, description, subject)| Explanation {
                candidate_clue_id: self.ids[n as usize].to_owned(),
                cluster_id: self
                    .clusters
                    .get(&root)
                    .map(|c| c.id.to_text())
                    .unwrap_or_default(),
                score: pair.score,
                anchored: pair.anchored(),
                levels: crate::score::FEATURES
                    .iter()
                    .map(|f| format!("{}.{}", f.name, pair.comparison.level(f.name).unwrap_or("?")))
                    .collect(),
                description_similarity: round2(description),
                subject_similarity: round2(subject),
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.candidate_clue_id.cmp(&b.candidate_clue_id))
        });
        out
    }

    /// Where a clue stands among those observed: 0 for the first, one more for each after it, never changed.
    /// A caller keeps per-clue facts in a `Vec` by it rather than in a map of its own by clue id (the
    /// correlator holds each id once already).
    pub fn clue_index(&self, clue_id: &str) -> Option<u32> {
        self.by_clue
            .find(clue_id, |node| self.ids.get(node as usize) == Some(clue_id))
    }

    /// How many clues were observed.
    fn clue_count(&self) -> usize {
        self.past.len() + self.live.len()
    }

    /// The first node still whole: every node below it is past the window, only its core kept.
    fn compacted_below(&self) -> u32 {
        self.past.len() as u32
    }

    /// What is kept of any node's clue.
    fn core(&self, node: u32) -> &ClueCore {
        let node = node as usize;
        match node.checked_sub(self.past.len()) {
            None => &self.past[node],
            Some(live) => &self.live[live].core,
        }
    }

    /// The whole profile of a node that can still be a candidate (at or after
    /// [`Correlator::compacted_below`]).
    fn profile(&self, node: u32) -> &ClueProfile {
        &self.live[node as usize - self.past.len()]
    }

    /// Start keeping every candidate pair compared (for `yujing fit`); [`Correlator::take_pairs`] returns them.
    pub fn record_pairs(&mut self) {
        self.pairs = Some(Vec::new());
    }

    /// The candidate pairs compared since [`Correlator::record_pairs`].
    pub fn take_pairs(&mut self) -> Vec<PairRecord> {
        self.pairs.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

/// One field of a clue's core (a building, a road…).
type Field = fn(&ClueCore) -> Option<Sym>;

/// What the members near in time say of a field, against this clue's `mine`: `same` when one names it too,
/// `conflict` when some name it and none the same, nothing when none names it (or the clue does not).
fn known_level(near: &[&ClueCore], mine: Option<Sym>, field: Field) -> Option<&'static str> {
    let mine = mine?;
    let mut named = false;
    for member in near {
        match field(member) {
            Some(theirs) if theirs == mine => return Some("same"),
            Some(_) => named = true,
            None => {}
        }
    }
    named.then_some("conflict")
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod cluster_id_tests {
    use super::*;

    /// Every cluster of the history stays in the map: its size is a decision (see [`Cluster`]).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_cluster_keeps_its_size_and_its_resolution_reads_back() {
        assert_eq!(std::mem::size_of::<Cluster>(), 64);
        let mut cluster = Cluster::opened_by(ClusterId::of_clue("grid:1"), 0);
        assert_eq!(cluster.resolved_at(), None);
        cluster.resolved_at = cluster.resolved_at.max(-5);
        assert_eq!(cluster.resolved_at(), Some(-5));
    }

    /// The 64-bit id is the text id the correlator has always given, and the text reads back to it.
    #[test]
    fn a_cluster_id_is_its_text_and_back() {
        for clue_id in ["hotline12345:GD-001", "grid:事件-9", ""] {
            let id = ClusterId::of_clue(clue_id);
            assert_eq!(id.to_text(), stable_id("k-", &[clue_id]));
            assert_eq!(ClusterId::parse(&id.to_text()), Some(id));
        }
        for bad in [
            "",
            "k-",
            "k-abc",
            "w-ohgafbbblbnlhgfp",
            "k-ohgafbbblbnlhgfq",
            "k-ohgafbbblbnlhgfpa",
        ] {
            assert_eq!(ClusterId::parse(bad), None, "{bad}");
        }
    }
}
