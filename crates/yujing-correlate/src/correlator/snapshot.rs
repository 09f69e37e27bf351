//! The correlator's state as bytes, and back: what a restart loads instead of observing every clue again.
//!
//! The encoding is postcard (compact, not self-describing), so the layout is pinned by
//! [`SNAPSHOT_FORMAT`]: a change to any snapshotted type changes the number, and an older snapshot is refused
//! (the caller rebuilds from the log). Settings are not stored: the caller passes the ones in force, and a
//! snapshot taken under other settings (their [`Settings::fingerprint`]) is refused too, because the clusters
//! it holds are what the old weights and rules decided.

use std::collections::VecDeque;

use petgraph::unionfind::UnionFind;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Blocking, Cluster, ClusterId, Correlator, JoinInfo, KeyNodes};
use crate::chunked::ChunkedDeque;
use crate::clue_ids::ClueIds;
use crate::config::Settings;
use crate::profile::{BigramFrequencies, ClueCore, ClueProfile, PlaceFrequencies, TopicLexicon};
use crate::score::FEATURES;
use crate::symbols::Symbols;

/// The layout of the snapshot. Raise it whenever a snapshotted type changes shape.
pub const SNAPSHOT_FORMAT: u32 = 14;

/// Why a snapshot cannot be loaded. Each is a reason to rebuild from the log, not to stop.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Written by another version of yujing whose layout differs.
    #[error("the snapshot has format {found}, this yujing reads format {expected}")]
    Format {
        /// The format found.
        found: u32,
        /// The format this build reads.
        expected: u32,
    },
    /// Taken under other correlation settings (weights, thresholds, rules, topics).
    #[error("the snapshot was taken under other [correlate] settings")]
    SettingsChanged,
    /// The bytes do not decode, or decode to an impossible state.
    #[error("the snapshot is damaged: {0}")]
    Damaged(String),
    /// The correlator could not be encoded (a bug: no snapshot is written rather than an empty one).
    #[error("cannot encode the correlator: {0}")]
    Encode(String),
}

/// Everything of a [`Correlator`] that the clues decided, borrowed for writing.
#[derive(Serialize)]
struct StateRef<'a> {
    format: u32,
    fingerprint: String,
    symbols: &'a Symbols,
    frequencies: &'a BigramFrequencies,
    place_frequencies: &'a PlaceFrequencies,
    past: &'a ChunkedDeque<ClueCore>,
    live: &'a ChunkedDeque<ClueProfile>,
    ids: &'a ClueIds,
    joins: &'a [JoinInfo],
    /// Each node's cluster root: the union-find's partition, with the same roots.
    roots: Vec<u32>,
    clusters: &'a FxHashMap<u32, Cluster>,
    index: &'a FxHashMap<u64, KeyNodes>,
    pending: &'a [(u32, bool)],
    opened_by: &'a FxHashMap<ClusterId, u32>,
    reconsider_later: &'a [u32],
    recent: &'a VecDeque<i64>,
    warnings_raised: u64,
    merges: u64,
}

/// [`StateRef`], owned, for reading.
#[derive(Deserialize)]
struct State {
    /// Checked by [`FormatOnly`] before the rest is read.
    _format: u32,
    fingerprint: String,
    symbols: Symbols,
    frequencies: BigramFrequencies,
    place_frequencies: PlaceFrequencies,
    past: ChunkedDeque<ClueCore>,
    live: ChunkedDeque<ClueProfile>,
    ids: ClueIds,
    joins: Vec<JoinInfo>,
    roots: Vec<u32>,
    clusters: FxHashMap<u32, Cluster>,
    index: FxHashMap<u64, KeyNodes>,
    pending: Vec<(u32, bool)>,
    opened_by: FxHashMap<ClusterId, u32>,
    reconsider_later: Vec<u32>,
    recent: VecDeque<i64>,
    warnings_raised: u64,
    merges: u64,
}

/// Only the format, read first so an old layout is told apart from damage.
#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl Correlator {
    /// The state as bytes: clue profiles, term and place counts, clusters, the blocking index, what is pending
    /// for the next flush. [`Correlator::from_snapshot`] under the same settings gives a correlator that
    /// decides exactly as this one would.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let state = StateRef {
            format: SNAPSHOT_FORMAT,
            fingerprint: self.settings.fingerprint(),
            symbols: &self.blocking.symbols,
            frequencies: &self.blocking.frequencies,
            place_frequencies: &self.blocking.place_frequencies,
            past: &self.past,
            live: &self.live,
            ids: &self.ids,
            joins: &self.joins,
            roots: self.sets.clone().into_labeling(),
            clusters: &self.clusters,
            index: &self.blocking.index,
            pending: &self.pending,
            opened_by: &self.opened_by,
            reconsider_later: &self.reconsider_later,
            recent: &self.recent,
            warnings_raised: self.warnings_raised,
            merges: self.merges,
        };
        postcard::to_stdvec(&state).map_err(|e| SnapshotError::Encode(e.to_string()))
    }

    /// The correlator a [`Correlator::snapshot`] was taken of, running with `settings`, which must be those
    /// it was taken under.
    pub fn from_snapshot(settings: Settings, bytes: &[u8]) -> Result<Correlator, SnapshotError> {
        let format = postcard::take_from_bytes::<FormatOnly>(bytes)
            .map_err(|e| SnapshotError::Damaged(e.to_string()))?
            .0
            .format;
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                found: format,
                expected: SNAPSHOT_FORMAT,
            });
        }
        let state: State = postcard::from_bytes(bytes).map_err(|e| SnapshotError::Damaged(e.to_string()))?;
        if state.fingerprint != settings.fingerprint() {
            return Err(SnapshotError::SettingsChanged);
        }
        let nodes = state.past.len() + state.live.len();
        let damaged = |what: &str| SnapshotError::Damaged(format!("{what} (of {nodes} clues)"));
        if state.joins.len() != nodes || state.roots.len() != nodes || state.ids.len() != nodes {
            return Err(damaged("ids, joins or cluster roots do not match the clues"));
        }
        let in_range = |node: u32| (node as usize) < nodes;
        if !state.roots.iter().all(|&r| in_range(r))
            || !state
                .clusters
                .keys()
                .all(|&r| in_range(r) && state.roots[r as usize] == r)
            || !state.index.values().flat_map(KeyNodes::iter).all(in_range)
            || !state.pending.iter().all(|&(n, _)| in_range(n))
            || !state.reconsider_later.iter().all(|&n| in_range(n))
            || !state.opened_by.values().all(|&n| in_range(n))
            || !state
                .clusters
                .values()
                .all(|c| in_range(c.first) && c.members.iter().all(|&(_, n)| in_range(n)))
        {
            return Err(damaged("a node out of range, or a cluster not at its root"));
        }
        if !state.live.iter().all(ClueProfile::layout_is_sound) {
            return Err(damaged("a profile whose packed sets do not fit their offsets"));
        }
        if state.joins.iter().any(|join| join.matched >> FEATURES.len() != 0) {
            return Err(damaged("a matched feature unknown to this build"));
        }
        let joins = state.joins;
        // The same partition with the same roots: each node is joined under its root, and a root that is
        // the first argument of a union stays the root.
        let mut sets = UnionFind::new(nodes);
        for (node, &root) in state.roots.iter().enumerate() {
            if root as usize != node {
                sets.union(root, node as u32);
            }
        }
        let mut by_clue = crate::symbols::SlotMap::with_capacity(nodes);
        let (mut past, mut live) = (state.past, state.live);
        let mut times = Vec::with_capacity(nodes);
        let cores = past.iter_mut().chain(live.iter_mut().map(|p| &mut p.core));
        for ((node, core), id) in cores.enumerate().zip(state.ids.iter()) {
            core.derive(&state.symbols);
            by_clue.insert_new(id, node as u32);
            times.push(core.at);
        }
        for p in live.iter_mut() {
            p.filters = crate::profile::SetFilters::of(p);
        }
        Ok(Correlator {
            lexicon: TopicLexicon::new(&settings.topics),
            blocking: Blocking {
                config: settings.blocking.clone(),
                symbols: state.symbols,
                frequencies: state.frequencies,
                place_frequencies: state.place_frequencies,
                index: state.index,
                times,
            },
            settings,
            past,
            live,
            joins,
            ids: state.ids,
            by_clue,
            sets,
            clusters: state.clusters,
            pending: state.pending,
            opened_by: state.opened_by,
            reconsider_later: state.reconsider_later,
            recent: state.recent,
            watermark_span: super::WATERMARK_SPAN,
            pairs: None,
            warnings_raised: state.warnings_raised,
            merges: state.merges,
        })
    }
}
