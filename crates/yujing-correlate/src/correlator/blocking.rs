//! Blocking: the keys a clue is indexed under (strong keys, places, roads, names, grid cells), the candidates
//! they find, and forgetting clues past the window. A candidate is only ever a clue that shares a key.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use yujing_model::DisputeType;

use super::*;
use crate::config::BlockingConfig;
use crate::prefetch::prefetch;
use crate::score::{compare_before_texts, may_anchor_at_a_glance, most_at_a_glance, BeforeTexts, Glance};

/// What a candidate cluster must be able to score for its pairs to be compared in full (see
/// [`Correlator::scored_candidates`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkBar {
    /// The score a pair must reach.
    pub(super) at_least: f64,
    /// Whether the pair's comparison is refined with the cluster's other members before it is judged (see
    /// [`Correlator::refine`]), which may raise its score.
    pub(super) refined: bool,
}

/// Per candidate cluster (by root; a few dozen a clue at most, so a list), the most any of its pairs could
/// score.
#[derive(Debug, Default)]
struct ClusterReach(Vec<(u32, f64)>);

impl ClusterReach {
    /// Count a pair of the cluster rooted at `root` that could score `most`.
    fn raise(&mut self, root: u32, most: f64) {
        match self.0.iter_mut().find(|(r, _)| *r == root) {
            Some((_, reached)) => *reached = reached.max(most),
            None => self.0.push((root, most)),
        }
    }

    /// Keep only the clusters that could reach `at_least`. The margin absorbs rounding: a bound sums the same
    /// weights as the exact score in another order.
    fn keep_reaching(&mut self, at_least: f64) {
        self.0.retain(|&(_, most)| most >= at_least - 1e-6);
    }

    /// Whether the cluster rooted at `root` is kept.
    fn holds(&self, root: u32) -> bool {
        self.0.iter().any(|&(r, _)| r == root)
    }
}

/// The nodes a clue's candidate search has taken: a small open-addressed set, since the same node is listed
/// under several keys and a clue meets a few hundred listed nodes. (Searching the list taken so far instead
/// grew with the square of the candidates: a fifth of `scored_candidates`' own time at a million open
/// clusters, docs/PERFORMANCE.md stop 42.)
struct NodeSet {
    slots: Vec<u32>,
}

impl NodeSet {
    /// No node is `u32::MAX`: a clue's node is its index among at most `u32::MAX` clues.
    const EMPTY: u32 = u32::MAX;

    /// A set for up to `count` nodes, at most half full so that probes stay short.
    fn for_at_most(count: usize) -> NodeSet {
        let size = (count.max(8) * 2).next_power_of_two();
        NodeSet {
            slots: vec![Self::EMPTY; size],
        }
    }

    /// Add `node`; whether it was not there yet. Never called with more distinct nodes than the set was made
    /// for (each one added is a candidate taken, and the search stops at the most it takes).
    fn insert(&mut self, node: u32) -> bool {
        let mask = self.slots.len() - 1;
        // Fibonacci hashing: consecutive nodes (clues that arrived together) spread over the slots.
        let mut slot = ((u64::from(node).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & mask;
        loop {
            match self.slots[slot] {
                Self::EMPTY => {
                    self.slots[slot] = node;
                    return true;
                }
                taken if taken == node => return false,
                _ => slot = (slot + 1) & mask,
            }
        }
    }
}

/// The blocking key of a kind (`strong`, `road`…) and values that are symbols, numbers or hashes.
pub(super) fn block_key(kind: &str, parts: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    parts.hash(&mut h);
    h.finish()
}

/// The blocking key of a kind and a text (an estate's first characters).
pub(super) fn text_key(kind: &str, text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    kind.hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

/// The nodes a blocking key lists, oldest first.
///
/// Most keys list one clue (a caller's phone, an estate reported once), so one node is held inline, without
/// an allocation of its own; more are a `VecDeque` (which allocates nothing while empty).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum KeyNodes {
    /// One node.
    One(u32),
    /// Any number of nodes.
    Many(VecDeque<u32>),
}

impl KeyNodes {
    /// How many nodes it lists.
    pub(super) fn len(&self) -> usize {
        match self {
            KeyNodes::One(_) => 1,
            KeyNodes::Many(nodes) => nodes.len(),
        }
    }

    /// Whether it lists none.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest node.
    pub(super) fn front(&self) -> Option<u32> {
        match self {
            KeyNodes::One(node) => Some(*node),
            KeyNodes::Many(nodes) => nodes.front().copied(),
        }
    }

    /// The nodes, oldest first.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        let (one, many) = match self {
            KeyNodes::One(node) => (Some(*node), None),
            KeyNodes::Many(nodes) => (None, Some(nodes.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// List `node` after the others.
    pub(super) fn push_back(&mut self, node: u32) {
        match self {
            KeyNodes::One(first) => *self = KeyNodes::Many(VecDeque::from([*first, node])),
            KeyNodes::Many(nodes) if nodes.is_empty() => *self = KeyNodes::One(node),
            KeyNodes::Many(nodes) => nodes.push_back(node),
        }
    }

    /// Start loading the first cache line of the nodes (a hint: see [`prefetch`]); a list holds at most
    /// `max_per_key` of them, a few lines that the processor's own prefetcher follows.
    pub(super) fn prefetch(&self) {
        match self {
            KeyNodes::One(_) => {}
            KeyNodes::Many(nodes) => {
                if let Some(first) = nodes.front() {
                    prefetch(first);
                }
            }
        }
    }

    /// Forget the oldest node.
    pub(super) fn pop_front(&mut self) -> Option<u32> {
        match self {
            KeyNodes::One(node) => {
                let node = *node;
                *self = KeyNodes::Many(VecDeque::new());
                Some(node)
            }
            KeyNodes::Many(nodes) => nodes.pop_front(),
        }
    }
}

impl Default for KeyNodes {
    fn default() -> KeyNodes {
        KeyNodes::Many(VecDeque::new())
    }
}

/// A symbol, or a town left unresolved, as a blocking key's part.
pub(super) fn part(sym: Option<Sym>) -> u64 {
    sym.map_or(u64::MAX, |s| u64::from(s.index()))
}

/// Everything a clue's candidates are found with: the symbol tables its profile is interned into, the term and
/// place frequencies it is weighed by, the blocking index and every node's event time.
///
/// # Invariant
/// Only the sequence of clues observed changes it (and forgetting clues past the window, between segments),
/// never a link decision. So a clue can be prepared ([`Blocking::prepare`]) before the clues ahead of it are
/// decided, on another thread ([`BlockingAhead`]), and the decisions are those of preparing and deciding each
/// clue in turn.
#[derive(Debug, Clone)]
pub(super) struct Blocking {
    pub(super) config: BlockingConfig,
    /// The interned towns, places, party keys, name tokens and counter-parties of every profile.
    pub(super) symbols: Symbols,
    pub(super) frequencies: BigramFrequencies,
    pub(super) place_frequencies: PlaceFrequencies,
    pub(super) index: FxHashMap<u64, KeyNodes>,
    /// Each node's event time, beside its profile: blocking tests the horizon of every node a key lists, and a
    /// dense array of times is read from a few cache lines where the profiles would cost a miss each.
    pub(super) times: Vec<i64>,
}

/// A clue as blocking prepared it for its decision ([`Correlator::observe_prepared`]).
#[derive(Debug)]
pub struct Prepared {
    /// Its profile, interned and weighed.
    pub(super) profile: ClueProfile,
    /// Its candidates, most specific keys first.
    pub(super) candidates: Vec<u32>,
    /// The places its profile added to the places table, in order (their symbols follow the table's last):
    /// the deciding thread compares estates by name, so its copy of the table must know them.
    pub(super) new_places: Vec<Box<str>>,
    /// Whether `candidates` holds only those that may anchor at a glance (see [`Glances`]).
    pub(super) glanced: bool,
}

/// A [`Glance`] of every node from `first` on, for [`BlockingAhead`] to leave out the candidates that could
/// share no anchor with the clue (`may_anchor_at_a_glance`) on its own thread: the glance is most of what
/// deciding spends on a candidate that cannot link, a cache miss on its profile each, and the preparing thread
/// does not hold the profiles.
#[derive(Debug)]
struct Glances {
    first: u32,
    of: Vec<Glance>,
    near_meters: f64,
}

/// Blocking handed to another thread for a segment of clues ([`Correlator::hand_off_blocking`]): it prepares
/// each new clue of the segment, in order, while the correlator decides the ones before; given back with
/// [`Correlator::take_back_blocking`] once the segment is decided.
#[derive(Debug)]
pub struct BlockingAhead {
    blocking: Blocking,
    /// The first node still whole: no clue is forgotten within a segment.
    past: u32,
    /// The node the next clue prepared will be.
    next: u32,
    /// When deciding leaves out the candidates that cannot anchor (an anchor is required, and pairs are not
    /// recorded), the glances they are told by.
    glances: Option<Glances>,
}

impl BlockingAhead {
    /// `blocking` handed off by a correlator whose whole profiles are `live` (nodes `past` on), the next clue
    /// to be node `next`.
    pub(super) fn new(
        blocking: Blocking,
        past: u32,
        next: u32,
        live: Option<(&ChunkedDeque<ClueProfile>, f64)>,
    ) -> BlockingAhead {
        let glances = live.map(|(live, near_meters)| Glances {
            first: past,
            of: live.iter().map(Glance::of).collect(),
            near_meters,
        });
        BlockingAhead {
            blocking,
            past,
            next,
            glances,
        }
    }

    pub(super) fn into_blocking(self) -> Blocking {
        self.blocking
    }

    /// Prepares the next new clue of the segment (one the correlator has not observed, each at most once,
    /// in the order they will be decided), its profile drafted with the correlator's lexicon.
    pub fn prepare(&mut self, clue: &Clue, draft: &ProfileDraft) -> Prepared {
        let known = self.blocking.symbols.places.len();
        let mut prepared = self.blocking.prepare(clue, draft, self.past, self.next);
        prepared.new_places = self.blocking.symbols.places.names_from(known).to_vec();
        if let Some(glances) = &mut self.glances {
            let mine = Glance::of(&prepared.profile);
            let glance = |node: u32| &glances.of[(node - glances.first) as usize];
            // Every candidate's glance asked for before the first is read (see `Blocking::candidates`).
            for &node in &prepared.candidates {
                prefetch(glance(node));
            }
            prepared
                .candidates
                .retain(|&node| may_anchor_at_a_glance(&mine, glance(node), glances.near_meters));
            prepared.glanced = true;
            glances.of.push(mine);
        }
        self.next += 1;
        prepared
    }
}

impl Blocking {
    pub(super) fn new(config: &BlockingConfig) -> Blocking {
        Blocking {
            config: config.clone(),
            symbols: Symbols::default(),
            // Term and place weights are learned over the window of clues that can still be candidates.
            frequencies: BigramFrequencies::new(config.horizon_days / 2),
            place_frequencies: PlaceFrequencies::new(config.horizon_days / 2),
            index: FxHashMap::default(),
            times: Vec::new(),
        }
    }

    /// Prepares the clue that will be node `node` (nodes below `past` are past the window): its profile
    /// interned and weighed, its candidates found; then it is counted in the frequencies and indexed, as
    /// every clue is whatever it is decided to be.
    pub(super) fn prepare(&mut self, clue: &Clue, draft: &ProfileDraft, past: u32, node: u32) -> Prepared {
        debug_assert_eq!(node as usize, self.times.len());
        let mut profile = ClueProfile::from_draft(clue, draft, &mut self.symbols);
        self.frequencies.weigh(&mut profile);
        self.place_frequencies.weigh(&mut profile);
        let keys = self.keys_of(&profile);
        let candidates = self.candidates(&profile, &keys, past);
        self.frequencies.add(profile.at, profile.bigrams());
        self.place_frequencies.add(profile.at, profile.places());
        self.times.push(profile.at);
        self.index_node(node, &keys, profile.location());
        Prepared {
            profile,
            candidates,
            new_places: Vec::new(),
            glanced: false,
        }
    }

    /// The blocking keys a profile is indexed under, specific ones first.
    pub(super) fn keys_of(&self, p: &ClueProfile) -> Vec<u64> {
        let mut keys = Vec::new();
        for k in p.strong_keys() {
            keys.push(block_key("strong", &[part(Some(*k))]));
        }
        for k in p.name_keys() {
            keys.push(block_key("name", &[part(Some(*k))]));
        }
        for k in p.accounts() {
            keys.push(block_key("account", &[part(Some(*k))]));
        }
        // A text posted again: found by its MinHash signatures, whatever else it shares.
        if p.bigrams().len() >= crate::score::NEAR_DUPLICATE_MIN_BIGRAMS {
            for (i, h) in crate::profile::minhashes(p.bigrams()).iter().enumerate() {
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
        for place in p.specific_places() {
            let key = block_key("place", &[*place]);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if let Some(estate) = p.estate {
            // Abbreviations keep the first two characters (锦绣 for 锦绣华庭).
            let estate = self.symbols.places.resolve(estate);
            keys.push(text_key("estate-head", crate::profile::estate_head(estate)));
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
        for org in p.organisations() {
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

    pub(super) fn geo_cell(&self, (lng, lat): (f64, f64)) -> (i64, i64) {
        let side = self.config.geo_cell_meters;
        let x = (lng * 111_320.0 * lat.to_radians().cos() / side).floor() as i64;
        let y = (lat * 110_540.0 / side).floor() as i64;
        (x, y)
    }

    pub(super) fn geo_key(cell: (i64, i64)) -> u64 {
        block_key("geo", &[cell.0 as u64, cell.1 as u64])
    }

    /// Candidate nodes for `p` (found under `keys`; the nodes below `past` are past the window), most specific
    /// keys first, within the horizon, at most `max_candidates`.
    pub(super) fn candidates(&self, p: &ClueProfile, keys: &[u64], past: u32) -> Vec<u32> {
        let horizon = i64::from(self.config.horizon_days) * DAY;
        let max = self.config.max_candidates;
        let mut cells = Vec::new();
        if let Some(loc) = p.location() {
            let (x, y) = self.geo_cell(loc);
            // The nine cells around the position, looked up first, last cell first (the order they always had).
            for dx in (-1..=1).rev() {
                for dy in (-1..=1).rev() {
                    cells.push(Self::geo_key((x + dx, y + dy)));
                }
            }
        }
        // Keys list a few dozen nodes each and share many: a node is taken once (`taken`), and only once its time
        // is within the horizon, so the set never holds more than the candidates taken. The times are read from
        // their dense array (see `times`), not from the profiles.
        let mut out: Vec<u32> = Vec::with_capacity(max.min(256));
        let mut taken = NodeSet::for_at_most(max);
        // The keys' lists first, then every listed node's time asked for before any is read: a clue's candidates
        // are scattered over the window, a cache miss each, and asked for together the misses overlap instead
        // of following one another (with the profiles below, the bulk load's correlation −17 to −28 %:
        // docs/PERFORMANCE.md, stop 41).
        let lists: Vec<&KeyNodes> = cells
            .iter()
            .chain(keys)
            .filter_map(|key| self.index.get(key))
            .collect();
        lists.iter().for_each(|nodes| nodes.prefetch());
        for nodes in &lists {
            for node in nodes.iter().filter(|&node| node >= past) {
                prefetch(&self.times[node as usize]);
            }
        }
        'keys: for nodes in lists {
            for node in nodes.iter().rev() {
                if node < past || (self.times[node as usize] - p.at).abs() > horizon || !taken.insert(node) {
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

    /// Index `node` under `keys` and the grid cell of its `location`.
    pub(super) fn index_node(&mut self, node: u32, keys: &[u64], location: Option<(f64, f64)>) {
        let max = self.config.max_per_key;
        let mut all = keys.to_vec();
        if let Some(loc) = location {
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
}

impl Correlator {
    /// The candidates blocking finds for `p` now.
    pub(super) fn candidates_now(&self, p: &ClueProfile) -> Vec<u32> {
        let keys = self.blocking.keys_of(p);
        self.blocking.candidates(p, &keys, self.compacted_below())
    }

    /// Every candidate of `candidates` (found by blocking for `p`; `glanced_ahead`: only those that may anchor
    /// at a glance, already told): its node, its cluster's root and how the pair compares.
    ///
    /// With a `bar`, only the candidates that could take part in a link, when an anchor is required (recording
    /// pairs for `yujing fit` keeps them all, and so does `yujing explain`, which passes none):
    /// - a pair without an anchor is left out before its texts are compared (the costliest part of a
    ///   comparison; most candidates of a busy town and type share no place or person);
    /// - so is every candidate of a cluster none of whose pairs could reach the bar, each counted at the most
    ///   it could score once its texts are compared ([`BeforeTexts::most_score`]) and, with `bar.refined`,
    ///   with what [`Correlator::refine`] could add ([`Correlator::most_refined`]). Both bounds are exact, so
    ///   the links are those of comparing every pair in full; most candidate clusters of a busy community
    ///   share its name and nothing else, and their members' texts and neighbours are never read.
    pub(super) fn scored_candidates(
        &self,
        p: &ClueProfile,
        candidates: Vec<u32>,
        glanced_ahead: bool,
        bar: Option<LinkBar>,
    ) -> Vec<(u32, u32, PairScore)> {
        let near_meters = self.settings.scoring.near_meters;
        let weights = &self.settings.weights;
        let bar = bar.filter(|_| self.settings.scoring.require_anchor && self.pairs.is_none());
        debug_assert!(
            !glanced_ahead || bar.is_some(),
            "candidates glanced at only for a bar"
        );
        let Some(bar) = bar else {
            return candidates
                .into_iter()
                .map(|n| {
                    let pair = score(p, self.profile(n), weights, near_meters, &self.blocking.symbols);
                    (n, self.sets.find(n), pair)
                })
                .collect();
        };
        // First at a glance: the candidates that may anchor, and per cluster (by root, a few dozen at most) the
        // most any of them could score by what their profiles hold inline (`most_at_a_glance`, which counts
        // what a refinement could add). A cluster that cannot reach the bar so is left out whole, its
        // members' sets never read; the bound is above the one below, so the same clusters remain.
        let mut glanced: Vec<(u32, u32)> = Vec::with_capacity(candidates.len());
        let mut reach_at_a_glance = ClusterReach::default();
        // Every candidate's profile asked for before the first is read (see `candidates`).
        for &n in &candidates {
            self.profile(n).prefetch_inline();
        }
        let may_anchor: Vec<u32> = if glanced_ahead {
            candidates
        } else {
            candidates
                .into_iter()
                .filter(|&n| may_anchor_at_a_glance(p, self.profile(n), near_meters))
                .collect()
        };
        // The clusters' roots in a loop of their own: a root is a load or two from the union-find's parents,
        // a cache miss that no other root waits for, so a short loop lets the processor overlap them.
        let roots: Vec<u32> = may_anchor.iter().map(|&n| self.sets.find(n)).collect();
        for (n, root) in may_anchor.into_iter().zip(roots) {
            let candidate = self.profile(n);
            let most = most_at_a_glance(p, candidate, weights, near_meters);
            reach_at_a_glance.raise(root, most);
            glanced.push((n, root));
        }
        reach_at_a_glance.keep_reaching(bar.at_least);
        // The pairs that may anchor, compared up to their texts, and per cluster the most any of its pairs
        // could score.
        let mut untexted: Vec<(u32, u32, BeforeTexts)> = Vec::with_capacity(glanced.len());
        let mut reach = ClusterReach::default();
        for (n, root) in glanced {
            if !reach_at_a_glance.holds(root) {
                continue;
            }
            let candidate = self.profile(n);
            let pair = compare_before_texts(p, candidate, near_meters, &self.blocking.symbols);
            if !pair.may_anchor() {
                continue;
            }
            let mut most = pair.most_score(weights);
            if bar.refined {
                most += self.most_refined(p, pair.comparison());
            }
            reach.raise(root, most);
            untexted.push((n, root, pair));
        }
        reach.keep_reaching(bar.at_least);
        untexted
            .into_iter()
            .filter(|(_, root, _)| reach.holds(*root))
            .filter_map(|(n, root, pair)| {
                let pair = pair.score_if_anchored(p, self.profile(n), weights)?;
                Some((n, root, pair))
            })
            .collect()
    }

    /// Compact the clues no report to come can have as a candidate: those further back than the horizon plus
    /// `late_days` from the watermark (the oldest of the most recent event times observed). They go in the
    /// order observed, up to the first that is still in the window: each keeps only its core (see
    /// [`ClueCore`]), its blocking keys forget it, and a key left with none is dropped. Called by
    /// [`Correlator::flush`], after [`Correlator::reconsider`] has looked at the batch's lone clues with every
    /// candidate still whole.
    pub(super) fn compact_past_window(&mut self) {
        let Some(&watermark) = self.recent.iter().min() else {
            return;
        };
        let blocking = &self.settings.blocking;
        let keep = (i64::from(blocking.horizon_days) + i64::from(blocking.late_days)) * DAY;
        let cutoff = watermark.saturating_sub(keep);
        while self.live.front().is_some_and(|profile| profile.at < cutoff) {
            let Some(profile) = self.live.pop_front() else {
                break;
            };
            let mut keys = self.blocking.keys_of(&profile);
            if let Some(loc) = profile.location() {
                keys.push(Blocking::geo_key(self.blocking.geo_cell(loc)));
            }
            self.past.push_back(profile.core);
            let past = self.compacted_below();
            for key in keys {
                let Some(list) = self.blocking.index.get_mut(&key) else {
                    continue;
                };
                // Only from the front (the oldest): the rest of the key's list keeps its place, so the key
                // forgets its oldest clues exactly as later arrivals would have pushed them out.
                while list.front().is_some_and(|n| n < past) {
                    list.pop_front();
                }
                if list.is_empty() {
                    self.blocking.index.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CorrelateConfig;
    use yujing_model::DisputeType;

    /// The set of taken nodes answers as a search of the list taken so far did, for the nodes of one cluster
    /// (consecutive), of many (spread) and repeated, up to the most it is made for.
    #[test]
    fn the_taken_nodes_answer_as_the_list_did() {
        for (max, stride) in [(1, 1), (8, 1), (160, 1), (160, 7919), (160, 1 << 20), (1000, 3)] {
            let mut set = NodeSet::for_at_most(max);
            let mut list: Vec<u32> = Vec::new();
            // Each distinct node is offered three times, interleaved, until `max` are taken.
            let mut offered = 0u32;
            while list.len() < max {
                for back in [0, 1, 2] {
                    let node = offered.saturating_sub(back).wrapping_mul(stride);
                    let was_new = !list.contains(&node);
                    assert_eq!(set.insert(node), was_new, "node {node} at max {max}");
                    if was_new {
                        list.push(node);
                    }
                    if list.len() == max {
                        break;
                    }
                }
                offered += 1;
            }
            assert_eq!(set.slots.iter().filter(|&&n| n != NodeSet::EMPTY).count(), max);
        }
    }

    /// A key's list behaves as the `VecDeque` it replaces, and holding one node inline costs no room in the map.
    #[test]
    fn a_key_list_is_a_deque_with_one_node_inline() {
        assert_eq!(
            std::mem::size_of::<KeyNodes>(),
            std::mem::size_of::<VecDeque<u32>>()
        );
        let (mut list, mut plain) = (KeyNodes::default(), VecDeque::new());
        // Pushes and pops in a fixed uneven pattern, through empty, one and many.
        for (step, pushes) in [1, 0, 2, 1, 0, 3, 1, 1, 0, 5].into_iter().enumerate() {
            for k in 0..pushes {
                let node = (step * 10 + k) as u32;
                list.push_back(node);
                plain.push_back(node);
            }
            assert!(list.iter().eq(plain.iter().copied()));
            assert!(list.iter().rev().eq(plain.iter().rev().copied()));
            assert_eq!(
                (list.len(), list.front(), list.is_empty()),
                (plain.len(), plain.front().copied(), plain.is_empty())
            );
            assert_eq!(list.pop_front(), plain.pop_front());
        }
        assert!(KeyNodes::default().iter().next().is_none());
    }

    /// A report at `road` in the sample clue's town, with no estate, no position and no party: only the road,
    /// the type and the words can tie it to another.
    fn road_report(id: &str, hours: i64, dispute_type: DisputeType, road: &str, description: &str) -> Clue {
        let mut clue: Clue =
            serde_json::from_str(include_str!("../../../yujing-model/tests/sample_clue.json"))
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
        let orange =
            crate::config::RuleConfig::recurring("orange", yujing_model::WarningLevel::Orange, 5, 30);
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

    /// Six disputes in one community, on three roads, each about its own thing, reported over five weeks, some
    /// by a caller who calls again: every report meets the community's other disputes as candidates.
    fn one_community() -> Vec<Clue> {
        let issues = [
            "楼下烧烤店油烟扰民，多次反映没有改善",
            "楼上住户装修噪音扰民，晚上十点以后还在施工",
            "公共通道堆放杂物，存在消防隐患",
            "小区电梯故障长期未修，老人上下楼很不方便",
            "物业公司擅自上涨停车费，业主不同意",
            "邻居家的狗夜里一直叫，影响休息",
        ];
        let roads = ["中山路", "纬二路", "解放路"];
        let endings = ["，希望有关部门尽快协调解决", "，已经持续一个多月了", ""];
        let mut clues = Vec::new();
        for day in 0..35usize {
            for (dispute, issue) in issues.iter().enumerate() {
                // Every third day, and the last dispute every fifth: pairs days and a week apart.
                let every = if dispute == 5 { 5 } else { 3 };
                if (day + dispute) % every != 0 {
                    continue;
                }
                // Said whole or only its first half, with one of three endings: texts alike or half alike.
                let said = if day % 4 == 1 {
                    issue.split('，').next().unwrap_or(issue)
                } else {
                    issue
                };
                let mut clue = road_report(
                    &format!("D{dispute}-{day}"),
                    day as i64 * 24 + dispute as i64,
                    DisputeType::Neighbour,
                    roads[dispute % roads.len()],
                    &format!("{said}{}", endings[day % endings.len()]),
                );
                clue.town.community_code = Some("320682001006".to_owned());
                // Half the disputes call from one phone. A third name their road only every other day: a
                // report that does not is often the best match of one that does, and the road comes from
                // the cluster's other members (the refinement).
                if dispute % 2 == 0 {
                    clue.parties.push(caller(&format!("caller-{dispute}")));
                }
                if dispute % 3 == 2 && day % 2 == 0 {
                    clue.address.road = None;
                }
                clues.push(clue);
            }
        }
        clues
    }

    /// The events and warnings of observing `clues` a day at a time.
    fn observe_days(correlator: &mut Correlator, clues: &[Clue]) -> (Vec<CorrelationEvent>, Vec<Warning>) {
        let (mut events, mut warnings) = (Vec::new(), Vec::new());
        for day in clues.chunk_by(|a, b| a.occurred_at.date_naive() == b.occurred_at.date_naive()) {
            for clue in day {
                events.extend(correlator.observe(clue));
            }
            events.extend(correlator.reconsider());
            warnings.extend(correlator.flush());
            correlator.take_pairs();
        }
        (events, warnings)
    }

    /// A correlator leaves out the candidate clusters whose pairs could not reach the link threshold, their
    /// texts uncompared: it decides exactly what comparing every pair in full decides (a correlator that
    /// records pairs for `yujing fit` compares every one), with the built-in weights and with seeded random
    /// ones and thresholds (whose scores fall near the threshold far more often), and it does leave some out.
    #[test]
    fn clusters_that_cannot_link_are_left_out_and_decide_nothing_differently() {
        use rand::{Rng, SeedableRng};
        let clues = one_community();
        let built_in = CorrelateConfig {
            rules: vec![crate::config::RuleConfig::recurring(
                "orange",
                yujing_model::WarningLevel::Orange,
                5,
                30,
            )],
            ..CorrelateConfig::default()
        };
        let mut configs = vec![built_in.clone()];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
        for table in 0..12 {
            let mut config = built_in.clone();
            for weight in config.scoring.weights.values_mut() {
                // Half the tables the built-in weights moved a little, half drawn anew.
                let noise = rng.random_range(-4.0..4.0);
                *weight = if table % 2 == 0 {
                    *weight + noise
                } else {
                    2.0 * noise
                };
            }
            config.scoring.link_threshold = rng.random_range(4.0..16.0);
            config.scoring.merge_threshold = config.scoring.link_threshold + rng.random_range(0.0..6.0);
            configs.push(config);
        }
        let mut linked = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            let settings = config.build().expect("valid settings");
            let (mut pruning, mut comparing_all) =
                (Correlator::new(settings.clone()), Correlator::new(settings));
            comparing_all.record_pairs();
            let decided = observe_days(&mut pruning, &clues);
            assert_eq!(decided, observe_days(&mut comparing_all, &clues), "weights {i}");
            linked.push(
                decided
                    .0
                    .iter()
                    .filter(|e| {
                        matches!(
                            e,
                            CorrelationEvent::Linked {
                                new_cluster: false,
                                ..
                            }
                        )
                    })
                    .count(),
            );
        }
        assert!(
            linked.iter().filter(|&&n| n > 0).count() > linked.len() / 2,
            "{linked:?}"
        );
        let mut pruning = correlator();
        let (_, warnings) = observe_days(&mut pruning, &clues);
        assert!(!warnings.is_empty(), "the recurring disputes warn");
        // A new report of the first dispute meets the community's other disputes, anchored by the community,
        // and compares in full only the pairs of the clusters that could take it.
        let mut again = clues[0].clone();
        again.clue_id = "hotline12345:again".to_owned();
        again.occurred_at += chrono::Duration::days(35);
        let mut symbols = pruning.blocking.symbols.clone();
        let mut profile = ClueProfile::new(&again, &pruning.lexicon, &mut symbols);
        pruning.blocking.frequencies.weigh(&mut profile);
        pruning.blocking.place_frequencies.weigh(&mut profile);
        let clusters = |scored: Vec<(u32, u32, PairScore)>| {
            let mut roots: Vec<u32> = scored
                .into_iter()
                .filter(|(_, _, pair)| pair.anchored())
                .map(|(_, root, _)| root)
                .collect();
            roots.sort_unstable();
            roots.dedup();
            roots.len()
        };
        let bar = LinkBar {
            at_least: pruning.settings.scoring.link_threshold,
            refined: true,
        };
        let candidates = pruning.candidates_now(&profile);
        let compared = clusters(pruning.scored_candidates(&profile, candidates.clone(), false, Some(bar)));
        let anchored = clusters(pruning.scored_candidates(&profile, candidates, false, None));
        assert!(compared >= 1 && compared < anchored, "{compared} of {anchored}");
    }

    /// Blocking handed off prepares a whole segment before any of it is decided (as far ahead as it can
    /// be): the decisions are those of observing each clue in turn, the deciding correlator reads the
    /// estates new to the segment by name, and blocking taken back decides the clues after alike.
    #[test]
    fn clues_prepared_ahead_are_decided_as_clues_observed_in_turn() {
        let mut clues = one_community();
        for (i, clue) in clues.iter_mut().enumerate() {
            // Each dispute at an estate of its own, named whole or abbreviated.
            let estate = ["锦绣华庭", "玉兰佳苑", "城南新村"][i % 6 / 2];
            clue.address.estate = Some(match i % 3 {
                0 => estate.chars().take(3).collect(),
                _ => estate.to_owned(),
            });
        }
        let (segment, after) = clues.split_at(clues.len() - 20);
        let (mut handed, mut alone) = (correlator(), correlator());
        let mut ahead = handed.hand_off_blocking();
        let prepared: Vec<Prepared> = segment
            .iter()
            .map(|clue| ahead.prepare(clue, &ProfileDraft::of(clue, &handed.lexicon)))
            .collect();
        for (clue, prepared) in segment.iter().zip(prepared) {
            let estate = prepared.profile.estate.expect("every report names its estate");
            assert_eq!(handed.observe_prepared(clue, prepared), alone.observe(clue));
            let names = |c: &Correlator| c.blocking.symbols.places.resolve(estate).to_owned();
            assert_eq!(names(&handed), names(&alone));
        }
        handed.take_back_blocking(ahead);
        assert_eq!(handed.reconsider(), alone.reconsider());
        assert_eq!(handed.flush(), alone.flush());
        for clue in after {
            assert_eq!(handed.observe(clue), alone.observe(clue));
        }
        assert_eq!(handed.flush(), alone.flush());
        assert_eq!(handed.stats(), alone.stats());
        assert!(alone.stats().warnings > 0);
    }

    /// [`Correlator::reconsider`] as it was before its clues' candidates were told ahead on two threads: each
    /// clue's candidates found and compared at its turn, after the decisions before it, with its own bar.
    fn reconsider_one_at_a_time(correlator: &mut Correlator) -> Vec<CorrelationEvent> {
        let mut nodes: Vec<u32> = correlator
            .pending
            .iter()
            .map(|(n, _)| *n)
            .chain(correlator.reconsider_later.drain(..))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let link = correlator.settings.scoring.link_threshold;
        let mut events = Vec::new();
        let past = correlator.compacted_below();
        for node in nodes.into_iter().filter(|&node| node >= past) {
            let own_root = correlator.sets.find_mut(node);
            let size = correlator
                .clusters
                .get(&own_root)
                .map_or(usize::MAX, |c| c.members.len());
            if size > FRAGMENT {
                continue;
            }
            let profile = correlator.profile(node);
            let candidates = correlator.candidates_now(profile);
            let bar = if size == 1 { link } else { link + FRAGMENT_MARGIN };
            let linkable = LinkBar {
                at_least: bar,
                refined: false,
            };
            let mut best: BTreeMap<u32, f64> = BTreeMap::new();
            for (_, root, pair) in correlator.scored_candidates(profile, candidates, false, Some(linkable)) {
                let unanchored = correlator.settings.scoring.require_anchor && !pair.anchored();
                if root == own_root || pair.score < bar || unanchored {
                    continue;
                }
                let entry = best.entry(root).or_insert(f64::MIN);
                *entry = entry.max(pair.score);
            }
            let chosen = best.into_iter().max_by(|a, b| {
                a.1.total_cmp(&b.1).then_with(|| {
                    correlator.clusters[&b.0]
                        .first
                        .cmp(&correlator.clusters[&a.0].first)
                })
            });
            if let Some((target, _)) = chosen {
                let clue_id = correlator.ids[node as usize].to_owned();
                let (kept, absorbed, _) = correlator.merge(target, own_root);
                correlator.merges += 1;
                correlator.pending.push((node, true));
                events.push(CorrelationEvent::Merged {
                    cluster_id: kept,
                    merged: absorbed,
                    by_clue_id: clue_id,
                });
            }
        }
        events
    }

    /// A segment of many clues has their second chances told on two threads, then decided in turn: the merges,
    /// warnings and clusters are those of deciding each clue with its candidates compared at its turn
    /// ([`reconsider_one_at_a_time`]), over more clues than are split and with merges that change the roots
    /// of clusters other clues' candidates belong to.
    #[test]
    fn second_chances_told_on_two_threads_decide_as_one_at_a_time() {
        // Reports on a few roads, of a few things, some by a few callers, over two months, drawn at random
        // (seeded); blocking keeps few candidates per key, so a report often misses one it matches that its
        // match then finds: many clues are left alone, and their second chances interact (a merge moves the
        // roots of other clues' candidates, and grows fragments past reconsidering).
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
        let texts = [
            "楼下烧烤店油烟扰民，多次反映没有改善",
            "邻居家的狗夜里一直叫，影响休息",
            "公共通道堆放杂物，存在消防隐患",
            "小区电梯故障长期未修，老人上下楼很不方便",
        ];
        let mut clues: Vec<Clue> = (0..4_400)
            .map(|i| {
                let road = format!("{}号路", rng.random_range(0..40));
                let text = texts[rng.random_range(0..texts.len())];
                let mut clue = road_report(
                    &format!("R{i}"),
                    rng.random_range(0..60 * 24),
                    DisputeType::Neighbour,
                    &road,
                    text,
                );
                if rng.random_bool(0.4) {
                    clue.parties
                        .push(caller(&format!("caller-{}", rng.random_range(0..300))));
                }
                clue
            })
            .collect();
        clues.sort_by_key(|clue| clue.occurred_at);
        assert!(clues.len() >= SECOND_CHANCES_SPLIT_FROM, "{} clues", clues.len());
        let few_candidates = || {
            let mut config = CorrelateConfig {
                rules: vec![crate::config::RuleConfig::recurring(
                    "orange",
                    yujing_model::WarningLevel::Orange,
                    5,
                    30,
                )],
                ..CorrelateConfig::default()
            };
            config.blocking.max_per_key = 3;
            config.blocking.max_candidates = 6;
            Correlator::new(config.build().expect("valid blocking"))
        };
        let (mut told, mut one_at_a_time) = (few_candidates(), few_candidates());
        for clue in &clues {
            assert_eq!(told.observe(clue), one_at_a_time.observe(clue));
        }
        let merges = reconsider_one_at_a_time(&mut one_at_a_time);
        assert_eq!(told.reconsider(), merges);
        // 556 when written.
        assert!(merges.len() >= 200, "{} merges", merges.len());
        assert_eq!(told.flush(), one_at_a_time.flush());
        assert_eq!(told.stats(), one_at_a_time.stats());
    }

    /// The refinement never raises a pair's score past what [`Correlator::most_refined`] says it could: the
    /// bound that lets a cluster be left out uncompared. Checked on every candidate pair of every report of
    /// the community, before it is observed.
    #[test]
    fn the_refinement_stays_within_its_bound() {
        let mut correlator = correlator();
        let weights = correlator.settings.weights.clone();
        let (mut pairs, mut raised) = (0, 0);
        for clue in one_community() {
            let mut symbols = correlator.blocking.symbols.clone();
            let mut profile = ClueProfile::new(&clue, &correlator.lexicon, &mut symbols);
            correlator.blocking.frequencies.weigh(&mut profile);
            correlator.blocking.place_frequencies.weigh(&mut profile);
            let candidates = correlator.candidates_now(&profile);
            for (_, root, pair) in correlator.scored_candidates(&profile, candidates, false, None) {
                let mut refined = pair.comparison;
                correlator.refine(&profile, root, &mut refined);
                let gained = weights.score(&refined) - pair.score;
                let most = correlator.most_refined(&profile, &pair.comparison);
                assert!(gained <= most + 1e-9, "{gained} > {most}: {refined:?}");
                pairs += 1;
                raised += usize::from(gained > 0.0);
            }
            correlator.observe(&clue);
            correlator.reconsider();
            correlator.flush();
        }
        assert!(raised > 0 && raised < pairs, "{raised} of {pairs} pairs raised");
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
        let entries = |c: &Correlator| c.blocking.index.values().map(KeyNodes::len).sum::<usize>();
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
