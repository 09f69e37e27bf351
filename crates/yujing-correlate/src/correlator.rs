//! The incremental correlator: blocking index, clustering with union-find, occurrence windows and rules.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, TimeZone, Utc};
use petgraph::unionfind::UnionFind;
use sha2::{Digest, Sha256};
use yujing_model::{
    Clue, CorrelationEvent, DisputeSubject, DisputeType, FeedId, GeoPoint, TownCode, Warning,
    WarningEvidence, WarningLevel,
};

use crate::config::{Rule, Settings};
use crate::profile::{BigramFrequencies, ClueProfile, PlaceFrequencies, TopicLexicon};
use crate::score::{score, Comparison, PairScore};
use crate::symbols::{Sym, Symbols};

mod snapshot;

pub use snapshot::{SnapshotError, SNAPSHOT_FORMAT};

const DAY: i64 = 86_400;

/// Clusters of at most this many clues are reconsidered (see [`Correlator::reconsider`]).
const FRAGMENT: usize = 2;

/// What a clue of a two-clue fragment must score above the link threshold to take its fragment along.
const FRAGMENT_MARGIN: f64 = 4.0;

/// How a clue joined its cluster: kept for every clue (its warning evidence), so a bit per matched feature
/// rather than a list of names.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct JoinInfo {
    score: f64,
    /// Bit `i` set: [`FEATURES`](crate::FEATURES)`[i]` agreed.
    matched: u32,
}

impl JoinInfo {
    fn new(score: f64, matched: &[&str]) -> JoinInfo {
        let matched = matched
            .iter()
            .filter_map(|name| crate::score::feature_index(name))
            .fold(0, |bits, i| bits | 1 << i);
        JoinInfo { score, matched }
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Cluster {
    /// The stable id (from the cluster's first clue).
    id: String,
    /// The first clue's node, which decides which cluster's id survives a merge (the older).
    first: u32,
    /// Members as (event time, node), sorted.
    members: Vec<(i64, u32)>,
    /// Warnings raised: (level, event time raised at).
    raised: Vec<(WarningLevel, i64)>,
    /// When the cluster's work order was last resolved (event time), if ever.
    resolved_at: Option<i64>,
}

/// What [`Correlator::evaluate`] judges: a cluster, the rules, the episode gap (seconds) and the warnings
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
    /// The interned towns, places, party keys, name tokens and counter-parties of every profile.
    symbols: Symbols,
    frequencies: BigramFrequencies,
    place_frequencies: PlaceFrequencies,
    profiles: Vec<ClueProfile>,
    joins: Vec<JoinInfo>,
    /// Clue ids to nodes (the ids themselves are the profiles').
    by_clue: crate::symbols::SlotMap,
    sets: UnionFind<u32>,
    clusters: HashMap<u32, Cluster>,
    index: HashMap<u64, VecDeque<u32>>,
    /// Clues observed since the last flush, with whether they merged clusters.
    pending: Vec<(u32, bool)>,
    /// Cluster ids (including merged-away ones) to the node of the clue that opened them.
    opened_by: HashMap<String, u32>,
    /// Lone clues to reconsider at the next [`Correlator::reconsider`] besides the batch's own.
    reconsider_later: Vec<u32>,
    /// The event times of the most recent clues observed (at most `watermark_span`), oldest first.
    recent: VecDeque<i64>,
    /// [`WATERMARK_SPAN`]; a field so that a test's short stream can use fewer.
    watermark_span: usize,
    /// Every node below this is compacted ([`Correlator::compact_past_window`] moves it on).
    compacted_below: u32,
    /// Candidate pairs compared, when recording for `yujing fit`.
    pairs: Option<Vec<PairRecord>>,
    warnings_raised: u64,
    merges: u64,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("clues", &self.profiles.len())
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
    /// Clues past the window, kept compact (see [`ClueProfile::compact`]).
    pub compacted: u64,
}

/// How many of the most recent event times observed make the watermark (their minimum): many, so that one
/// report dated in the future by mistake cannot move it and compact what is still in use.
const WATERMARK_SPAN: usize = 1024;

/// The blocking key of a kind (`strong`, `road`…) and values that are symbols, numbers or hashes.
fn block_key(kind: &str, parts: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    parts.hash(&mut h);
    h.finish()
}

/// The blocking key of a kind and a text (an estate's first characters).
fn text_key(kind: &str, text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

/// A symbol, or a town left unresolved, as a blocking key's part.
fn part(sym: Option<Sym>) -> u64 {
    sym.map_or(u64::MAX, |s| u64::from(s.index()))
}

/// `prefix` and 16 letters `a`–`p` of the SHA-256 of `parts`: an id that is stable and never looks like a phone.
fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut sha = Sha256::new();
    for p in parts {
        sha.update(p.as_bytes());
        sha.update([0]);
    }
    let digest = sha.finalize();
    let mut out = String::from(prefix);
    for b in &digest[..8] {
        out.push(char::from(b'a' + (b >> 4)));
        out.push(char::from(b'a' + (b & 0x0f)));
    }
    out
}

/// The deterministic id of the cluster a clue opens.
pub fn cluster_id_for(clue_id: &str) -> String {
    stable_id("k-", &[clue_id])
}

fn utc(at: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(at, 0).single().unwrap_or_default()
}

impl Correlator {
    /// A correlator with no clues yet.
    pub fn new(settings: Settings) -> Correlator {
        Correlator {
            lexicon: TopicLexicon::new(&settings.topics),
            symbols: Symbols::default(),
            // Term and place weights are learned over the window of clues that can still be candidates.
            frequencies: BigramFrequencies::new(settings.blocking.horizon_days / 2),
            place_frequencies: PlaceFrequencies::new(settings.blocking.horizon_days / 2),
            settings,
            profiles: Vec::new(),
            joins: Vec::new(),
            by_clue: Default::default(),
            sets: UnionFind::new(0),
            clusters: HashMap::new(),
            index: HashMap::new(),
            pending: Vec::new(),
            opened_by: HashMap::new(),
            reconsider_later: Vec::new(),
            recent: VecDeque::new(),
            watermark_span: WATERMARK_SPAN,
            compacted_below: 0,
            pairs: None,
            warnings_raised: 0,
            merges: 0,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            clues: self.profiles.len() as u64,
            clusters: self.clusters.len() as u64,
            merges: self.merges,
            warnings: self.warnings_raised,
            compacted: u64::from(self.compacted_below),
        }
    }

    /// The blocking keys a profile is indexed under, specific ones first.
    fn keys_of(&self, p: &ClueProfile) -> Vec<u64> {
        let mut keys = Vec::new();
        for k in &p.strong_keys {
            keys.push(block_key("strong", &[part(Some(*k))]));
        }
        for k in &p.name_keys {
            keys.push(block_key("name", &[part(Some(*k))]));
        }
        for k in &p.accounts {
            keys.push(block_key("account", &[part(Some(*k))]));
        }
        // A text posted again: found by its MinHash signatures, whatever else it shares.
        if p.bigrams.len() >= crate::score::NEAR_DUPLICATE_MIN_BIGRAMS {
            for (i, h) in crate::profile::minhashes(&p.bigrams).iter().enumerate() {
                keys.push(block_key("minhash", &[i as u64, u64::from(*h)]));
            }
        }
        // Estates are keyed without the town: a report whose town could not be resolved (an address that is
        // just `玉兰佳苑5幢`) must still find the estate's other reports. Scoring penalises a town conflict. An
        // estate and a place mention share one key space (both by sound), so a report naming the estate only in
        // its text meets the reports whose address gives it.
        if let Some(sound) = p.estate_sound {
            let sound = self.symbols.places.resolve(sound);
            keys.push(block_key("place", &[crate::profile::sound_key(sound)]));
        }
        // Only specific mentions: a district many reports name would fill its key with unrelated reports.
        for place in &p.specific_places {
            let key = block_key("place", &[*place]);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if let Some(estate) = p.estate {
            // Abbreviations keep the first two characters (锦绣 for 锦绣华庭).
            let estate = self.symbols.places.resolve(estate);
            let head = estate
                .char_indices()
                .nth(2)
                .map_or(estate, |(end, _)| &estate[..end]);
            keys.push(text_key("estate-head", head));
        }
        if let Some(group) = p.village_group {
            keys.push(block_key("group", &[part(Some(group))]));
        }
        // The road and community keys carry the type, so that a busy road's other disputes stay out of them. A
        // clue whose type says little (`其他`, or a guess from the text for a word no table maps) is keyed under
        // every type: its dispute's reports under a mapped type must still find it, and it them.
        let weak_type = p.type_guessed || p.dispute_type == DisputeType::Other;
        let key_types: &[DisputeType] = if weak_type {
            &DisputeType::ALL
        } else {
            std::slice::from_ref(&p.dispute_type)
        };
        if let Some(road) = p.road {
            for t in key_types {
                keys.push(block_key("road", &[part(p.town), part(Some(road)), *t as u64]));
            }
        }
        for org in &p.organisations {
            keys.push(block_key("org", &[part(Some(*org))]));
        }
        if let Some(community) = p.community {
            for t in key_types {
                keys.push(block_key("community", &[part(Some(community)), *t as u64]));
            }
        }
        keys.push(block_key("town-type", &[part(p.town), p.dispute_type as u64]));
        keys
    }

    fn geo_cell(&self, (lng, lat): (f64, f64)) -> (i64, i64) {
        let side = self.settings.blocking.geo_cell_meters;
        let x = (lng * 111_320.0 * lat.to_radians().cos() / side).floor() as i64;
        let y = (lat * 110_540.0 / side).floor() as i64;
        (x, y)
    }

    fn geo_key(cell: (i64, i64)) -> u64 {
        block_key("geo", &[cell.0 as u64, cell.1 as u64])
    }

    /// Candidate nodes for `p`, most specific keys first, within the horizon, at most `max_candidates`.
    fn candidates(&self, p: &ClueProfile, keys: &[u64]) -> Vec<u32> {
        let horizon = i64::from(self.settings.blocking.horizon_days) * DAY;
        let max = self.settings.blocking.max_candidates;
        let mut lookups: Vec<u64> = keys.to_vec();
        if let Some(loc) = p.location {
            let (x, y) = self.geo_cell(loc);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    lookups.insert(0, Self::geo_key((x + dx, y + dy)));
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        'keys: for key in lookups {
            let Some(nodes) = self.index.get(&key) else {
                continue;
            };
            for &node in nodes.iter().rev() {
                let candidate = &self.profiles[node as usize];
                if node < self.compacted_below || (candidate.at - p.at).abs() > horizon || !seen.insert(node)
                {
                    continue;
                }
                out.push(node);
                if out.len() >= max {
                    break 'keys;
                }
            }
        }
        out
    }

    /// Every candidate blocking finds for `p`: its node, its cluster's root and how the pair compares.
    ///
    /// With `linkable_only`, only the candidates that could link: when an anchor is required, a pair without
    /// one is left out before its texts are compared (the costliest part of a comparison, and most
    /// candidates of a busy town and type share no place or person). Recording pairs for `yujing fit` keeps
    /// them all.
    fn scored_candidates(
        &self,
        p: &ClueProfile,
        keys: &[u64],
        linkable_only: bool,
    ) -> Vec<(u32, u32, PairScore)> {
        let near_meters = self.settings.scoring.near_meters;
        let weights = &self.settings.weights;
        let anchored_only = linkable_only && self.settings.scoring.require_anchor && self.pairs.is_none();
        self.candidates(p, keys)
            .into_iter()
            .filter_map(|n| {
                let candidate = &self.profiles[n as usize];
                let pair = if anchored_only {
                    crate::score::score_if_anchored(p, candidate, weights, near_meters, &self.symbols)?
                } else {
                    score(p, candidate, weights, near_meters, &self.symbols)
                };
                Some((n, self.sets.find(n), pair))
            })
            .collect()
    }

    fn index_node(&mut self, node: u32, keys: &[u64]) {
        let max = self.settings.blocking.max_per_key;
        let mut all = keys.to_vec();
        if let Some(loc) = self.profiles[node as usize].location {
            all.push(Self::geo_key(self.geo_cell(loc)));
        }
        for key in all {
            let list = self.index.entry(key).or_default();
            list.push_back(node);
            if list.len() > max {
                list.pop_front();
            }
        }
    }

    /// The node of a clue id observed.
    fn node_of(&self, clue_id: &str) -> Option<u32> {
        self.by_clue.find(clue_id, |node| {
            self.profiles
                .get(node as usize)
                .is_some_and(|p| p.clue_id == clue_id)
        })
    }

    /// Observe one clue version: link it to a cluster (merging clusters it bridges) and return what was
    /// decided. Rules are judged by [`Correlator::flush`]. A clue id seen before (a re-delivery or a new version)
    /// changes nothing: the record was counted once already.
    pub fn observe(&mut self, clue: &Clue) -> Vec<CorrelationEvent> {
        if self.node_of(&clue.clue_id).is_some() {
            return Vec::new();
        }
        let mut profile = ClueProfile::new(clue, &self.lexicon, &mut self.symbols);
        self.frequencies.weigh(&mut profile);
        self.place_frequencies.weigh(&mut profile);
        let keys = self.keys_of(&profile);

        // Per candidate cluster (keyed by its root, ordered for determinism): the best pair's score and
        // comparison.
        let mut best: BTreeMap<u32, (f64, Comparison)> = BTreeMap::new();
        for (node, root, pair) in self.scored_candidates(&profile, &keys, true) {
            if let Some(sink) = self.pairs.as_mut() {
                sink.push(PairRecord {
                    clue_id: profile.clue_id.clone(),
                    member_clue_id: self.profiles[node as usize].clue_id.clone(),
                    comparison: pair.comparison,
                });
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
        // in what the best member did not say.
        let best: BTreeMap<u32, (f64, Vec<&'static str>)> = best
            .into_iter()
            .map(|(root, (_, mut comparison))| {
                self.refine(&profile, root, &mut comparison);
                (
                    root,
                    (self.settings.weights.score(&comparison), comparison.agreements()),
                )
            })
            .collect();
        let link = self.settings.scoring.link_threshold;
        let merge = self.settings.scoring.merge_threshold;
        let mut ranked: Vec<(u32, f64, Vec<&'static str>)> = best
            .into_iter()
            .filter(|(_, (s, _))| *s >= link)
            .map(|(root, (s, m))| (root, s, m))
            .collect();
        // Highest score first; ties go to the older cluster.
        ranked.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.clusters[&a.0].first.cmp(&self.clusters[&b.0].first))
        });

        let node = self.sets.new_set();
        debug_assert_eq!(node as usize, self.profiles.len());
        let at = profile.at;
        let mut outputs = Vec::new();
        match ranked.first() {
            None => {
                let id = cluster_id_for(&profile.clue_id);
                self.opened_by.insert(id.clone(), node);
                self.clusters.insert(
                    node,
                    Cluster {
                        id: id.clone(),
                        first: node,
                        members: vec![(at, node)],
                        raised: Vec::new(),
                        resolved_at: None,
                    },
                );
                outputs.push(CorrelationEvent::Linked {
                    clue_id: profile.clue_id.clone(),
                    cluster_id: id,
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
                    clue_id: profile.clue_id.clone(),
                    cluster_id: self.clusters[&root].id.clone(),
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
                        by_clue_id: profile.clue_id.clone(),
                    });
                    root = new_root;
                }
            }
        }
        self.by_clue.insert_new(&profile.clue_id, node);
        if self.recent.len() >= self.watermark_span {
            self.recent.pop_front();
        }
        self.recent.push_back(profile.at);
        self.frequencies.add(profile.at, &profile.bigrams);
        self.place_frequencies.add(profile.at, &profile.places);
        self.profiles.push(profile);
        self.index_node(node, &keys);
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
        let link = self.settings.scoring.link_threshold;
        let mut events = Vec::new();
        for node in nodes {
            let own_root = self.sets.find_mut(node);
            if self
                .clusters
                .get(&own_root)
                .is_none_or(|c| c.members.len() > FRAGMENT)
            {
                continue;
            }
            let fragment_size = self.clusters.get(&own_root).map_or(0, |c| c.members.len());
            let profile = &self.profiles[node as usize];
            let keys = self.keys_of(profile);
            let mut best: BTreeMap<u32, f64> = BTreeMap::new();
            for (_, root, pair) in self.scored_candidates(profile, &keys, true) {
                if root == own_root {
                    continue;
                }
                // A lone clue links at the link threshold; a pair of clues, already a small cluster, needs more.
                let bar = if fragment_size == 1 {
                    link
                } else {
                    link + FRAGMENT_MARGIN
                };
                if pair.score < bar || (self.settings.scoring.require_anchor && !pair.anchored()) {
                    continue;
                }
                let entry = best.entry(root).or_insert(f64::MIN);
                *entry = entry.max(pair.score);
            }
            let chosen = best.into_iter().max_by(|a, b| {
                a.1.total_cmp(&b.1)
                    .then_with(|| self.clusters[&b.0].first.cmp(&self.clusters[&a.0].first))
            });
            if let Some((target, _)) = chosen {
                let clue_id = profile.clue_id.clone();
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
            entry.0.push(self.profiles[node as usize].at);
            entry.1 |= merged;
        }
        let mut warnings = Vec::new();
        for ((_, root), (times, merged)) in touched {
            let Some(cluster) = self.clusters.get(&root) else {
                continue;
            };
            let mut raised = cluster.raised.clone();
            warnings.extend(self.judge_cluster(
                cluster,
                &self.settings.rules,
                self.settings.episode_gap_days,
                times,
                merged,
                &mut raised,
            ));
            if let Some(cluster) = self.clusters.get_mut(&root) {
                cluster.raised = raised;
            }
        }
        self.warnings_raised += warnings.len() as u64;
        self.compact_past_window();
        warnings
    }

    /// Compact the clues no report to come can have as a candidate: those further back than the horizon plus
    /// `late_days` from the watermark (the oldest of the most recent event times observed). They go in the
    /// order observed, up to the first that is still in the window; their blocking keys forget them, and a key
    /// left with none is dropped. Called by [`Correlator::flush`], after [`Correlator::reconsider`] has looked
    /// at the batch's lone clues with every candidate still whole.
    fn compact_past_window(&mut self) {
        let Some(&watermark) = self.recent.iter().min() else {
            return;
        };
        let blocking = &self.settings.blocking;
        let keep = (i64::from(blocking.horizon_days) + i64::from(blocking.late_days)) * DAY;
        let cutoff = watermark.saturating_sub(keep);
        while let Some(profile) = self.profiles.get(self.compacted_below as usize) {
            if profile.at >= cutoff {
                break;
            }
            let node = self.compacted_below;
            let mut keys = self.keys_of(profile);
            if let Some(loc) = profile.location {
                keys.push(Self::geo_key(self.geo_cell(loc)));
            }
            self.profiles[node as usize].compact();
            self.compacted_below += 1;
            for key in keys {
                let Some(list) = self.index.get_mut(&key) else {
                    continue;
                };
                // Only from the front (the oldest): the rest of the key's list keeps its place, so the key
                // forgets its oldest clues exactly as later arrivals would have pushed them out.
                while list.front().is_some_and(|&n| n < self.compacted_below) {
                    list.pop_front();
                }
                if list.is_empty() {
                    self.index.remove(&key);
                }
            }
        }
    }

    /// The warnings `rules` (with `episode_gap_days`) would raise on the clusters as they stand now, every clue
    /// judged as one batch, as if nothing had been raised yet: what [`Correlator::flush`] returns after a
    /// whole history is observed in one batch by a correlator whose settings carry these rules. Changes
    /// nothing.
    ///
    /// Rules do not influence clustering, so `yujing tune` clusters a history once per scoring setting and
    /// judges every rule variant on the same clusters with this.
    pub fn judge(&self, rules: &[Rule], episode_gap_days: u32) -> Vec<Warning> {
        let mut clusters: Vec<&Cluster> = self.clusters.values().collect();
        clusters.sort_unstable_by_key(|c| c.first);
        let mut warnings = Vec::new();
        for cluster in clusters {
            let times = cluster.members.iter().map(|m| m.0).collect();
            let mut raised = Vec::new();
            warnings.extend(self.judge_cluster(cluster, rules, episode_gap_days, times, false, &mut raised));
        }
        warnings
    }

    /// Judge `rules` on `cluster` after clues at `times` joined it (`merged`: a merge happened too), given the
    /// warnings already `raised` on it, to which the new ones are added.
    fn judge_cluster(
        &self,
        cluster: &Cluster,
        rules: &[Rule],
        episode_gap_days: u32,
        mut times: Vec<i64>,
        merged: bool,
        raised: &mut Vec<(WarningLevel, i64)>,
    ) -> Vec<Warning> {
        times.sort_unstable();
        let last_new = times.last().copied().unwrap_or(i64::MIN);
        let mut covered_until = i64::MIN;
        let mut warnings = Vec::new();
        for at in times {
            if at <= covered_until {
                continue;
            }
            let judged = Judged {
                cluster,
                rules,
                gap: i64::from(episode_gap_days) * DAY,
                raised,
            };
            let (new, episode_end) = self.evaluate(&judged, at, last_new, merged);
            covered_until = episode_end;
            raised.extend(new.iter().map(|w| (w.level, w.raised_at.timestamp())));
            warnings.extend(new);
        }
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
        let near: Vec<&ClueProfile> = cluster.members[from..to]
            .iter()
            .map(|&(_, n)| &self.profiles[n as usize])
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
        if !p.organisations.is_empty() && comparison.level("counterparty") == Some("missing") {
            let (mut named, mut same) = (false, false);
            for organisation in near.iter().flat_map(|m| &m.organisations) {
                named = true;
                if p.organisations.contains(organisation) {
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
                .filter_map(|m| crate::score::estate_similarity(p, m, &self.symbols))
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

    /// Record that the work order of `cluster_id` (or of the cluster it was merged into) was resolved at `at`
    /// (event time). Rules with `after_resolution` then count only clues after it. Returns whether the cluster
    /// is known.
    pub fn resolved(&mut self, cluster_id: &str, at: DateTime<Utc>) -> bool {
        let Some(&node) = self.opened_by.get(cluster_id) else {
            return false;
        };
        let root = self.sets.find_mut(node);
        match self.clusters.get_mut(&root) {
            Some(cluster) => {
                cluster.resolved_at = cluster.resolved_at.max(Some(at.timestamp()));
                true
            }
            None => false,
        }
    }

    /// How `clue` compares with the candidates blocking finds for it now, best first: for each candidate
    /// clue, its cluster, the score, whether it has an anchor, and every feature's level. Changes nothing;
    /// `yujing explain` prints it so an analyst can see why a report did or did not join a cluster.
    pub fn explain(&self, clue: &Clue) -> Vec<Explanation> {
        // Interned in a copy: explaining changes nothing, not even the tables (a CLI command, run once).
        let mut symbols = self.symbols.clone();
        let mut profile = ClueProfile::new(clue, &self.lexicon, &mut symbols);
        self.frequencies.weigh(&mut profile);
        self.place_frequencies.weigh(&mut profile);
        let keys = self.keys_of(&profile);
        let mut out: Vec<Explanation> = self
            .scored_candidates(&profile, &keys, false)
            .into_iter()
            .filter(|(n, _, _)| self.profiles[*n as usize].clue_id != profile.clue_id)
            .map(|(n, root, pair)| {
                let candidate = &self.profiles[n as usize];
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
                candidate_clue_id: self.profiles[n as usize].clue_id.clone(),
                cluster_id: self.clusters.get(&root).map(|c| c.id.clone()).unwrap_or_default(),
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

    /// Start keeping every candidate pair compared (for `yujing fit`); [`Correlator::take_pairs`] returns them.
    pub fn record_pairs(&mut self) {
        self.pairs = Some(Vec::new());
    }

    /// The candidate pairs compared since [`Correlator::record_pairs`].
    pub fn take_pairs(&mut self) -> Vec<PairRecord> {
        self.pairs.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Put `node` into the cluster rooted at `root`; returns the new root.
    fn attach(&mut self, root: u32, node: u32, at: i64) -> u32 {
        let mut cluster = self.clusters.remove(&root).unwrap_or_else(|| Cluster {
            id: String::new(),
            first: node,
            members: Vec::new(),
            raised: Vec::new(),
            resolved_at: None,
        });
        self.sets.union(root, node);
        let new_root = self.sets.find_mut(node);
        let pos = cluster.members.partition_point(|m| *m <= (at, node));
        cluster.members.insert(pos, (at, node));
        self.clusters.insert(new_root, cluster);
        new_root
    }

    /// Merge the clusters rooted at `a` and `b`; the older keeps its id. Returns (kept id, absorbed id, root).
    fn merge(&mut self, a: u32, b: u32) -> (String, String, u32) {
        let ca = self.clusters.remove(&a);
        let cb = self.clusters.remove(&b);
        let (Some(ca), Some(cb)) = (ca, cb) else {
            unreachable!("both roots name live clusters")
        };
        let (mut kept, absorbed) = if ca.first <= cb.first { (ca, cb) } else { (cb, ca) };
        self.sets.union(a, b);
        let root = self.sets.find_mut(a);
        kept.members.extend(absorbed.members.iter().copied());
        kept.members.sort_unstable();
        kept.raised.extend(absorbed.raised.iter().copied());
        kept.raised.sort_unstable();
        kept.resolved_at = kept.resolved_at.max(absorbed.resolved_at);
        let ids = (kept.id.clone(), absorbed.id.clone());
        self.clusters.insert(root, kept);
        (ids.0, ids.1, root)
    }

    /// Check the rules on `judged.cluster` after a clue at `at` joined it (or after a merge).
    /// Returns the warnings and the event time of the episode's last member (new clues up to it are covered).
    /// Windows ending from `at` up to a window after `last_new` (the latest clue of the batch) are checked.
    fn evaluate(&self, judged: &Judged<'_>, at: i64, last_new: i64, merged: bool) -> (Vec<Warning>, i64) {
        let Judged {
            cluster,
            rules,
            gap,
            raised,
        } = *judged;
        let members = &cluster.members;
        // The episode around `at`: the run of members with no gap longer than `gap`.
        let pos = members.partition_point(|m| m.0 < at);
        let mut start = pos.min(members.len().saturating_sub(1));
        while start > 0 && members[start].0 - members[start - 1].0 <= gap {
            start -= 1;
        }
        let mut end = pos;
        while end + 1 < members.len() && members[end + 1].0 - members[end].0 <= gap {
            end += 1;
        }
        let episode_members = &members[start..=end.min(members.len() - 1)];
        let episode_start = episode_members[0];
        let episode_number = 1
            + members[..start]
                .windows(2)
                .filter(|w| w[1].0 - w[0].0 > gap)
                .count()
            + usize::from(start > 0);
        let episode_end_at = episode_members[episode_members.len() - 1].0;
        let raised_in_episode: Option<WarningLevel> = raised
            .iter()
            .filter(|(_, r)| *r >= episode_start.0 && *r <= episode_end_at)
            .map(|(l, _)| *l)
            .max();

        // The earliest crossing of each rule whose level is above what the episode has raised.
        let mut crossings: Vec<(i64, WarningLevel, usize, usize, usize)> = Vec::new();
        for (rule_index, rule) in rules.iter().enumerate() {
            if raised_in_episode.is_some_and(|l| l >= rule.level) {
                continue;
            }
            let window = i64::from(rule.within_days) * DAY;
            // A rule on what came after the work order was resolved counts only those members.
            let counted_from = if rule.after_resolution {
                match cluster.resolved_at {
                    Some(resolved) => episode_members.partition_point(|m| m.0 <= resolved),
                    None => continue,
                }
            } else {
                0
            };
            // Window ends worth checking: every member from the new clue on (all of the episode after a merge).
            let from = if merged {
                0
            } else {
                episode_members.partition_point(|m| m.0 < at)
            };
            for end_i in from..episode_members.len() {
                let end_at = episode_members[end_i].0;
                if !merged && end_at >= last_new.max(at) + window {
                    break;
                }
                let begin_i = episode_members
                    .partition_point(|m| m.0 <= end_at - window)
                    .max(counted_from);
                // Members sharing the end's event time all belong to the window ending there.
                let mut last_i = end_i;
                while last_i + 1 < episode_members.len() && episode_members[last_i + 1].0 == end_at {
                    last_i += 1;
                }
                if begin_i > last_i {
                    continue;
                }
                let in_window = &episode_members[begin_i..=last_i];
                if in_window.len() < rule.occurrences as usize {
                    continue;
                }
                if rule.is_conditional() && !in_window.iter().any(|m| self.satisfies(rule, m.1)) {
                    continue;
                }
                // The crossing is at the clue that completed the count.
                let crossing_i = begin_i + rule.occurrences as usize - 1;
                let crossing_i = if rule.is_conditional() {
                    let first_sign = in_window
                        .iter()
                        .position(|m| self.satisfies(rule, m.1))
                        .unwrap_or(0);
                    crossing_i.max(begin_i + first_sign)
                } else {
                    crossing_i
                };
                let crossing_at = episode_members[crossing_i].0;
                crossings.push((crossing_at, rule.level, rule_index, begin_i, crossing_i));
                break;
            }
        }
        crossings.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        // A level only rises: a crossing is raised only if no higher level crossed at or before it.
        let mut warnings = Vec::new();
        let mut level_now = raised_in_episode;
        let highest_at = |level: WarningLevel| crossings.iter().filter(|c| c.1 > level).map(|c| c.0).min();
        let chosen: Vec<_> = crossings
            .iter()
            .filter(|c| highest_at(c.1).is_none_or(|h| c.0 < h))
            .copied()
            .collect();
        for (crossing_at, level, rule_index, begin_i, crossing_i) in chosen {
            if level_now.is_some_and(|l| l >= level) {
                continue;
            }
            level_now = Some(level);
            let rule = &rules[rule_index];
            let counted = &episode_members[begin_i..=crossing_i];
            let warning = self.warning(
                cluster,
                rule,
                crossing_at,
                counted,
                episode_number,
                episode_start.1,
            );
            warnings.push(warning);
        }
        (warnings, episode_end_at)
    }

    fn satisfies(&self, rule: &Rule, node: u32) -> bool {
        let p = &self.profiles[node as usize];
        rule.any_risk_flags.iter().any(|f| p.risk_flags.contains(f))
            || rule
                .people_at_least
                .is_some_and(|n| p.people.is_some_and(|m| m >= n))
    }

    fn warning(
        &self,
        cluster: &Cluster,
        rule: &Rule,
        at: i64,
        counted: &[(i64, u32)],
        episode: usize,
        episode_first: u32,
    ) -> Warning {
        let mut feeds = BTreeSet::new();
        let mut reporters = BTreeSet::new();
        let mut risk_flags = BTreeSet::new();
        let mut evidence = Vec::new();
        let (mut located, mut lng, mut lat) = (0u32, 0.0, 0.0);
        for &(_, node) in counted {
            let p = &self.profiles[node as usize];
            if let Some((x, y)) = p.location {
                located += 1;
                lng += x;
                lat += y;
            }
            let join = &self.joins[node as usize];
            feeds.insert(p.feed);
            // A report with no reporter key counts as a reporter of its own.
            reporters.insert(p.reporter.ok_or(node));
            risk_flags.extend(p.risk_flags.iter().copied());
            evidence.push(WarningEvidence {
                clue_id: p.clue_id.clone(),
                feed: p.feed,
                source_id: p.source_id.clone(),
                occurred_at: utc(p.at),
                matched: join.matched(),
                score: join.score,
                risk_flags: p.risk_flags.clone(),
                people_involved: p.people.map(|min| yujing_model::PeopleCount { min, max: None }),
            });
        }
        let episode_clue = &self.profiles[episode_first as usize].clue_id;
        Warning {
            warning_id: stable_id("w-", &[&cluster.id, rule.level.as_str(), episode_clue]),
            cluster_id: cluster.id.clone(),
            level: rule.level,
            rule: rule.name.clone(),
            raised_at: utc(at),
            occurrences: counted.len() as u32,
            window_days: rule.within_days,
            feeds: feeds.into_iter().collect(),
            reporters: reporters.len() as u32,
            episode: episode as u32,
            risk_flags,
            subject: self.subject_of(&cluster.id, counted),
            evidence,
            location: (located > 0).then(|| GeoPoint {
                lng: lng / f64::from(located),
                lat: lat / f64::from(located),
            }),
        }
    }

    /// The town, type and place most reported among `counted` (ties go to the earliest report): unknown towns
    /// and the type 其他 count only when nothing else was said.
    fn subject_of(&self, cluster_id: &str, counted: &[(i64, u32)]) -> DisputeSubject {
        fn most_common<'a>(values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for value in values {
                match counts.iter_mut().find(|(v, _)| *v == value) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((value, 1)),
                }
            }
            // max_by_key keeps the last maximum; reversing keeps the earliest.
            counts.into_iter().rev().max_by_key(|(_, n)| *n).map(|(v, _)| v)
        }
        let profiles: Vec<&ClueProfile> = counted.iter().map(|&(_, n)| &self.profiles[n as usize]).collect();
        let (towns, places) = (&self.symbols.towns, &self.symbols.places);
        let town_code = most_common(profiles.iter().filter_map(|p| p.town.map(|t| towns.resolve(t))))
            .unwrap_or(TownCode::UNKNOWN)
            .to_owned();
        let town_name = profiles
            .iter()
            .filter(|p| p.town.is_some_and(|t| towns.resolve(t) == town_code))
            .find_map(|p| p.town_name.map(|n| towns.resolve(n).to_owned()));
        let dispute_type = most_common(
            profiles
                .iter()
                .map(|p| p.dispute_type.name())
                .filter(|t| *t != DisputeType::Other.name()),
        )
        .and_then(DisputeType::from_name)
        .unwrap_or(DisputeType::Other);
        let named = |field: Field| {
            profiles
                .iter()
                .filter_map(move |p| field(p).map(|s| places.resolve(s)))
        };
        let place = most_common(named(|p| p.estate))
            .or_else(|| most_common(named(|p| p.village_group)))
            .or_else(|| most_common(named(|p| p.road)))
            .map(str::to_owned);
        DisputeSubject {
            cluster_id: cluster_id.to_owned(),
            town_code,
            town_name,
            dispute_type,
            place,
        }
    }

    /// The cluster of a clue id, when observed.
    pub fn cluster_of(&mut self, clue_id: &str) -> Option<String> {
        let node = self.node_of(clue_id)?;
        let root = self.sets.find_mut(node);
        self.clusters.get(&root).map(|c| c.id.clone())
    }

    /// The clue ids of cluster `cluster_id` (or of the cluster it was merged into), in the order observed;
    /// empty when the cluster is unknown.
    pub fn members(&mut self, cluster_id: &str) -> Vec<String> {
        let Some(&opened) = self.opened_by.get(cluster_id) else {
            return Vec::new();
        };
        let root = self.sets.find_mut(opened);
        let Some(cluster) = self.clusters.get(&root) else {
            return Vec::new();
        };
        let mut nodes: Vec<u32> = cluster.members.iter().map(|&(_, node)| node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
            .into_iter()
            .map(|node| self.profiles[node as usize].clue_id.clone())
            .collect()
    }

    /// Every observed clue with its current cluster, in the order observed.
    pub fn assignments(&mut self) -> Vec<Assignment> {
        (0..self.profiles.len() as u32)
            .map(|node| {
                let root = self.sets.find_mut(node);
                let p = &self.profiles[node as usize];
                Assignment {
                    feed: p.feed,
                    source_id: p.source_id.clone(),
                    cluster_id: self.clusters.get(&root).map(|c| c.id.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// One field of a profile (a building, a road…).
type Field = fn(&ClueProfile) -> Option<Sym>;

/// What the members near in time say of a field, against this clue's `mine`: `same` when one names it too,
/// `conflict` when some name it and none the same, nothing when none names it (or the clue does not).
fn known_level(near: &[&ClueProfile], mine: Option<Sym>, field: Field) -> Option<&'static str> {
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
mod tests {
    use super::*;
    use crate::config::CorrelateConfig;

    /// A report at `road` in the sample clue's town, with no estate, no position and no party: only the road,
    /// the type and the words can tie it to another.
    fn road_report(id: &str, hours: i64, dispute_type: DisputeType, road: &str, description: &str) -> Clue {
        let mut clue: Clue = serde_json::from_str(include_str!("../../yujing-model/tests/sample_clue.json"))
            .expect("the sample clue parses");
        clue.clue_id = format!("hotline12345:{id}");
        clue.feed = FeedId::Hotline12345;
        clue.source_id = id.to_owned();
        clue.occurred_at += chrono::Duration::hours(hours);
        clue.reported_at = clue.occurred_at;
        clue.dispute_type = dispute_type;
        clue.town.community_code = None;
        clue.town.community_name = None;
        clue.town.grid_code = None;
        clue.address = yujing_model::Address {
            text: format!("如城街道{road}"),
            normalized: "320682001".to_owned(),
            road: Some(road.to_owned()),
            ..yujing_model::Address::default()
        };
        clue.location = None;
        clue.parties.clear();
        clue.people_involved = None;
        clue.risk_flags.clear();
        clue.title = None;
        clue.description = description.to_owned();
        clue
    }

    fn correlator() -> Correlator {
        let orange = crate::config::RuleConfig {
            name: "orange".to_owned(),
            level: yujing_model::WarningLevel::Orange,
            occurrences: 5,
            within_days: 30,
            when: None,
            tests: vec![],
        };
        let config = CorrelateConfig {
            rules: vec![orange],
            ..CorrelateConfig::default()
        };
        Correlator::new(
            config
                .build()
                .expect("one rule and the built-in weights are valid"),
        )
    }

    fn candidates(correlator: &Correlator, clue: &Clue) -> Vec<String> {
        correlator
            .explain(clue)
            .into_iter()
            .map(|e| e.candidate_clue_id)
            .collect()
    }

    #[test]
    fn a_report_of_a_type_that_says_little_meets_the_roads_reports_of_any_type() {
        let mut correlator = correlator();
        let wages = road_report(
            "A",
            0,
            DisputeType::Labour,
            "中山路",
            "加班工资被克扣，要求给个说法",
        );
        correlator.observe(&wages);
        // `其他纠纷`, or a type guessed from the text, says too little to keep the report out of a typed key.
        let other = road_report("B", 2, DisputeType::Other, "中山路", "工资拖欠三个月");
        assert_eq!(candidates(&correlator, &other), vec!["hotline12345:A".to_owned()]);
        let mut guessed = road_report("C", 2, DisputeType::Consumer, "中山路", "工资拖欠三个月");
        guessed.category_guessed = true;
        assert_eq!(
            candidates(&correlator, &guessed),
            vec!["hotline12345:A".to_owned()]
        );
        // A mapped type keeps the road's other disputes out.
        let fees = road_report("D", 2, DisputeType::Consumer, "中山路", "商家不退款");
        assert!(candidates(&correlator, &fees).is_empty());
    }

    #[test]
    fn another_member_that_knows_the_road_says_what_the_best_member_did_not() {
        let text = "加班工资被克扣，双方发生口角，请求调解。老板一直拖着不给，工人们多次找过劳动监察大队都没有结果，希望政府尽快出面协调解决";
        let link = |road_of_the_new_report: &str| {
            let mut correlator = correlator();
            // One dispute in two reports, tied by the caller's phone: the first names the road, the second
            // does not.
            let mut first = road_report("A", 0, DisputeType::Labour, "纬二路", "工人讨薪");
            let phone = caller("caller");
            first.parties.push(phone.clone());
            let mut second = road_report("B", 1, DisputeType::Labour, "纬二路", text);
            second.address.road = None;
            second.address.text = "如城街道".to_owned();
            second.parties.push(phone);
            correlator.observe(&first);
            let joined = correlator.observe(&second);
            assert!(
                matches!(
                    &joined[0],
                    CorrelationEvent::Linked {
                        new_cluster: false,
                        ..
                    }
                ),
                "{joined:?}"
            );
            // The new report repeats the second's words: that pair is the best, and it says nothing of the road.
            let third = road_report("C", 2, DisputeType::Labour, road_of_the_new_report, text);
            match correlator.observe(&third).remove(0) {
                CorrelationEvent::Linked { score, matched, .. } => (score, matched),
                other => panic!("{other:?}"),
            }
        };
        let (same_road, matched) = link("纬二路");
        assert!(matched.contains(&"road".to_owned()), "{matched:?}");
        let (other_road, matched) = link("中山路");
        assert!(!matched.contains(&"road".to_owned()), "{matched:?}");
        assert!(same_road > other_road, "{same_road} vs {other_road}");
    }

    /// Two years of reports in batches of five days: a dispute on one road reported every other day, and a
    /// report a day on one of seven other roads.
    fn two_years() -> Vec<Vec<Clue>> {
        let roads = [
            "中山路",
            "纬二路",
            "解放路",
            "福寿路",
            "海阳路",
            "宁海路",
            "益寿路",
        ];
        let mut batches = Vec::new();
        for batch in 0..146 {
            let mut clues = Vec::new();
            for day in batch * 5..batch * 5 + 5 {
                let hours = i64::from(day) * 24;
                if day % 2 == 0 {
                    let mut report = road_report(
                        &format!("L{day}"),
                        hours,
                        DisputeType::Neighbour,
                        "长江路",
                        "楼下烧烤店油烟扰民，多次反映没有改善",
                    );
                    if day < 20 {
                        report.parties.push(caller("early-caller"));
                    }
                    clues.push(report);
                }
                let road = roads[day as usize % roads.len()];
                clues.push(road_report(
                    &format!("R{day}"),
                    hours + 3,
                    DisputeType::Neighbour,
                    road,
                    &format!("{road}第{day}号门前堆放杂物"),
                ));
            }
            batches.push(clues);
        }
        batches
    }

    fn caller(key: &str) -> yujing_model::Party {
        crate::profile::test_reporter(yujing_model::PartyKeyKind::Phone, key)
    }

    fn run_batches(
        correlator: &mut Correlator,
        batches: &[Vec<Clue>],
    ) -> (Vec<CorrelationEvent>, Vec<Warning>) {
        let (mut events, mut warnings) = (Vec::new(), Vec::new());
        for batch in batches {
            for clue in batch {
                events.extend(correlator.observe(clue));
            }
            events.extend(correlator.reconsider());
            warnings.extend(correlator.flush());
        }
        (events, warnings)
    }

    #[test]
    fn clues_past_the_window_are_compacted_and_decide_nothing_differently() {
        let batches = two_years();
        let mut compacting = correlator();
        let mut keeping = correlator();
        keeping.settings.blocking.late_days = 100_000;
        // About a month of this stream, as 1,024 clues are a week of a county's.
        compacting.watermark_span = 40;
        keeping.watermark_span = 40;
        let (events, warnings) = run_batches(&mut compacting, &batches);
        let (kept_events, kept_warnings) = run_batches(&mut keeping, &batches);
        assert_eq!(events, kept_events);
        assert_eq!(warnings, kept_warnings);
        assert!(!warnings.is_empty(), "the recurring dispute warns");
        // 730 days, of which the last 120 (horizon and lateness) are kept whole.
        let stats = compacting.stats();
        assert_eq!(keeping.stats().compacted, 0);
        assert!(
            stats.compacted > stats.clues * 3 / 5 && stats.compacted < stats.clues,
            "{stats:?}"
        );
        let entries = |c: &Correlator| c.index.values().map(VecDeque::len).sum::<usize>();
        assert!(entries(&compacting) < entries(&keeping));
        // A report of the old road dispute by its first caller, dated in its first days and arriving now, is
        // more than `late_days` late: it meets only what is kept whole. The correlator that kept everything
        // still finds the caller's reports (the road's key has long forgotten them in both).
        let mut late = road_report(
            "late",
            24,
            DisputeType::Neighbour,
            "长江路",
            "楼下烧烤店油烟扰民，多次反映没有改善",
        );
        late.parties.push(caller("early-caller"));
        assert!(candidates(&compacting, &late).is_empty());
        assert!(!candidates(&keeping, &late).is_empty());
        // And the compacted state survives a snapshot.
        let bytes = compacting.snapshot().expect("the snapshot encodes");
        let restored =
            Correlator::from_snapshot(compacting.settings.clone(), &bytes).expect("the snapshot loads");
        assert_eq!(restored.stats(), stats);
    }
}
