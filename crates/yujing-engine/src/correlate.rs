//! The correlation stage: the `clues` topic through the [`Correlator`] onto the `links` and `warnings` topics.
//!
//! The correlator's state is a projection of the log. The stage records in the store how far into `clues` (and
//! `workorders`, whose resolutions some rules look at) it has consumed, in the same atomic batch as the events it
//! wrote; when it is opened again it rebuilds the correlator by observing the consumed clues again in the same
//! order (writing nothing), then carries on with the new ones. So a crash at any moment resumes with nothing
//! lost and nothing applied twice, and the same log always gives the same clusters and warnings.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use yujing_correlate::{Correlator, Prepared, ProfileDraft, Settings, TopicLexicon};
use yujing_log::{Batch, Log, LogError, Offset, Record};
use yujing_model::{Clue, CorrelationEvent, OrderChange, Warning, WorkOrderEvent};

use crate::clock::Clock;
use crate::outbox::OutboxEvent;
use crate::read::{decoded_below, for_each_entry_below, ReadError};
use crate::topics::{CLUES, LINKS, OUTBOX, WARNINGS, WORKORDERS};

/// The segments consumed so far, as a JSON array of [`Segment`]s.
const SEGMENTS_KEY: &[u8] = b"correlate/segments";

/// A failure of the correlation stage.
#[derive(Debug, thiserror::Error)]
pub enum CorrelateError {
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// An event could not be encoded (a bug).
    #[error("encoding a correlation event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What a run of the stage did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrelationReport {
    /// Clue versions read from the log that were already consumed (replayed into state, no output).
    pub rebuilt: u64,
    /// Clue versions consumed in this run.
    pub consumed: u64,
    /// Links written.
    pub links: u64,
    /// Merges written.
    pub merges: u64,
    /// Warnings raised in this run, in the order raised.
    pub warnings: Vec<Warning>,
    /// For each warning with a report that arrived on the log, when the newest report it counted arrived
    /// (epoch milliseconds, the log's timestamp).
    pub arrivals: Vec<i64>,
}

/// The error of a record of `clues` at `offset` that is not a clue's JSON.
fn undecodable(offset: Offset) -> impl FnOnce(serde_json::Error) -> ReadError {
    move |e| ReadError::Decode {
        topic: CLUES.to_owned(),
        offset,
        reason: e.to_string(),
    }
}

/// A clue version read from the log and not decoded yet: what orders it in event time, and its JSON.
///
/// A segment is sorted in event time before it is observed, so all of it is read first; a bulk load's segment
/// is a million clues. Held as their JSON, each decoded just before it is observed and dropped after, they take
/// about half the memory decoded clues would, and that memory is handed back as the segment is worked through.
struct Undecoded {
    offset: Offset,
    occurred_at: chrono::DateTime<chrono::Utc>,
    clue_id: String,
    version: u32,
    /// When the record was appended to the log (epoch milliseconds).
    arrived_ms: i64,
    json: Box<[u8]>,
}

/// The fields of a clue's JSON that order it (see [`sort_in_event_time`]); the others are skipped unread.
#[derive(Deserialize)]
struct ClueOrder<'a> {
    #[serde(borrow)]
    clue_id: std::borrow::Cow<'a, str>,
    version: u32,
    occurred_at: chrono::DateTime<chrono::Utc>,
}

impl Undecoded {
    fn decode(&self) -> Result<Clue, ReadError> {
        serde_json::from_slice(&self.json).map_err(undecodable(self.offset))
    }
}

/// How many clues [`CorrelationStage::observe_in_order`] hands the second thread at a time.
const DRAFT_CHUNK: usize = 512;

/// How many chunks that thread may be ahead of the observer.
const DRAFT_AHEAD: usize = 2;

/// From this many clues a segment's blocking is handed to the drafting thread
/// ([`Correlator::hand_off_blocking`]): the correlator then copies its places table once, which a live tick's
/// few hundred clues would not repay.
const HAND_OFF_FROM: usize = DRAFT_CHUNK * 8;

/// Clues decoded with their profiles drafted, in order.
type Drafted = Vec<(Clue, ProfileDraft)>;

/// Decodes the clues of `chunk` and drafts their profiles with `lexicon`, in order, up to the first that does
/// not decode; its error comes second.
fn decode_and_draft(chunk: &[Undecoded], lexicon: &TopicLexicon) -> (Drafted, Option<ReadError>) {
    let mut drafted = Vec::with_capacity(chunk.len());
    for undecoded in chunk {
        match undecoded.decode() {
            Ok(clue) => {
                let draft = ProfileDraft::of(&clue, lexicon);
                drafted.push((clue, draft));
            }
            Err(error) => return (drafted, Some(error)),
        }
    }
    (drafted, None)
}

/// Whether [`read_undecoded`] keeps each clue's bytes (to decode it later) or only what orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The JSON too.
    Json,
    /// Only the order: a reader that asks for the offsets alone would otherwise copy a history's every clue
    /// (a million clues are over a gigabyte) to drop it straight after.
    OrderOnly,
}

/// From this many clues, [`read_undecoded`] reads the second half of its range on a second thread. Below it the
/// read takes under a second, and splitting costs memory: the second thread's allocator arena keeps the JSON
/// the first thread frees until the allocator's decay returns it (measured: +28 MB on the dense 60-day replay
/// of 166,670 clues, +6 MB on a county year ingested onto two years of history).
const READ_SPLIT_FROM: Offset = 200_000;

/// The clue versions of `clues` at offsets `from` to `to`, in log order, not decoded yet (`keep`: with their
/// JSON, or only what orders them).
///
/// A bulk load's segment (a million clues) is read back before anything else can start, while the second core
/// has nothing to do: a long range is read in two halves at once, each finding its clues' order in their JSON,
/// and joined in log order. The first error in log order is the one returned, as reading in one pass would.
fn read_undecoded<L: Log + ?Sized>(
    log: &L,
    from: Offset,
    to: Offset,
    keep: Keep,
) -> Result<Vec<Undecoded>, ReadError> {
    read_undecoded_split_from(log, from, to, keep, READ_SPLIT_FROM)
}

/// [`read_undecoded`], split from `split_from` clues.
fn read_undecoded_split_from<L: Log + ?Sized>(
    log: &L,
    from: Offset,
    to: Offset,
    keep: Keep,
    split_from: Offset,
) -> Result<Vec<Undecoded>, ReadError> {
    if to.saturating_sub(from) < split_from {
        return read_undecoded_in_one(log, from, to, keep);
    }
    let middle = from + (to - from) / 2;
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| read_undecoded_in_one(log, middle, to, keep));
        let first = read_undecoded_in_one(log, from, middle, keep);
        // The reading thread holds no lock and cannot be stopped half-way: its panic is a bug, passed on.
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    });
    let mut clues = first?;
    clues.extend(second?);
    Ok(clues)
}

/// [`read_undecoded`] on this thread alone.
fn read_undecoded_in_one<L: Log + ?Sized>(
    log: &L,
    from: Offset,
    to: Offset,
    keep: Keep,
) -> Result<Vec<Undecoded>, ReadError> {
    let mut clues = Vec::new();
    for_each_entry_below(log, CLUES, from, to, |entry| {
        let order: ClueOrder =
            serde_json::from_slice(&entry.record.value).map_err(undecodable(entry.offset))?;
        clues.push(Undecoded {
            offset: entry.offset,
            occurred_at: order.occurred_at,
            clue_id: order.clue_id.into_owned(),
            version: order.version,
            arrived_ms: entry.record.timestamp_ms,
            json: match keep {
                Keep::Json => entry.record.value.clone().into_boxed_slice(),
                Keep::OrderOnly => Box::default(),
            },
        });
        Ok(())
    })?;
    Ok(clues)
}

/// Event-time order: by `occurred_at`, then clue id, then version (stable, so equal keys keep log order).
fn sort_in_event_time(clues: &mut [Undecoded]) {
    clues.sort_by(|a, b| {
        a.occurred_at
            .cmp(&b.occurred_at)
            .then_with(|| a.clue_id.cmp(&b.clue_id))
            .then_with(|| a.version.cmp(&b.version))
    });
}

/// One consumed segment: the `clues` and `workorders` offsets it ended at (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Segment {
    /// Stores written before work orders existed recorded only the clues' end.
    CluesOnly(Offset),
    /// The clues' and the work orders' ends.
    Both {
        /// `clues` end.
        clues: Offset,
        /// `workorders` end.
        orders: Offset,
    },
}

impl Segment {
    fn from_pair((clues, orders): (Offset, Option<Offset>)) -> Segment {
        match orders {
            None => Segment::CluesOnly(clues),
            Some(orders) => Segment::Both { clues, orders },
        }
    }

    fn clues(self) -> Offset {
        match self {
            Segment::CluesOnly(clues) | Segment::Both { clues, .. } => clues,
        }
    }

    fn orders(self) -> Option<Offset> {
        match self {
            Segment::CluesOnly(_) => None,
            Segment::Both { orders, .. } => Some(orders),
        }
    }
}

fn read_segments<L: Log + ?Sized>(log: &L) -> Result<Vec<Segment>, CorrelateError> {
    Ok(match log.state(SEGMENTS_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes)?,
        None => Vec::new(),
    })
}

/// What a snapshot keeps of the [`CorrelationStage`] besides the correlator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StageSnapshot {
    /// The segments consumed: `clues` end and, when recorded, `workorders` end.
    segments: Vec<(Offset, Option<Offset>)>,
    orders_applied: Offset,
    order_clusters: Vec<(String, String)>,
    /// [`CorrelationStage::latest`], by the correlator's clue index.
    latest: Vec<(u32, Offset)>,
}

/// The correlation stage, kept in memory between runs: the correlator, the segments consumed, and the work
/// orders' resolutions applied so far.
pub struct CorrelationStage {
    correlator: Correlator,
    segments: Vec<Segment>,
    /// How far into `workorders` resolutions were applied.
    orders_applied: Offset,
    /// Order id → cluster id, from the `raised` events read so far.
    order_clusters: HashMap<String, String>,
    /// The warnings the rebuild derived again (they were written when the segments first ran).
    rederived: Vec<Warning>,
    /// The `warnings` offset `rederived` begins at.
    rederived_from: Offset,
    /// Each consumed clue's latest version and its `clues` offset, to fetch a cluster's evidence, by the
    /// correlator's index of the clue ([`Correlator::clue_index`]): the correlator holds each clue id once
    /// already, and a map of its own would hold a province's history of ids again.
    latest: Vec<(u32, Offset)>,
}

impl CorrelationStage {
    /// Rebuilds the stage from the log: each recorded segment is observed again in the same order, after the
    /// work-order resolutions that were on the log when it ran, writing nothing. Returns the stage and the number
    /// of clue versions replayed.
    pub fn open<L: Log + ?Sized>(
        log: &L,
        settings: &Settings,
    ) -> Result<(CorrelationStage, u64), CorrelateError> {
        let segments = read_segments(log)?;
        CorrelationStage::empty(settings.clone()).replay(log, segments)
    }

    /// A stage that has consumed nothing.
    fn empty(settings: Settings) -> CorrelationStage {
        CorrelationStage {
            correlator: Correlator::new(settings),
            segments: Vec::new(),
            orders_applied: 0,
            order_clusters: HashMap::new(),
            rederived: Vec::new(),
            rederived_from: 0,
            latest: Vec::new(),
        }
    }

    /// The stage a snapshot holds (the correlator's bytes and [`StageSnapshot`]), brought up to date by
    /// observing only the segments recorded after it. `Ok(Err(reason))` when the snapshot does not fit this
    /// log or these settings: the caller rebuilds with [`CorrelationStage::open`].
    pub(crate) fn resume<L: Log + ?Sized>(
        log: &L,
        settings: &Settings,
        correlator: &[u8],
        snapshot: StageSnapshot,
        warnings_end: Offset,
    ) -> Result<Result<(CorrelationStage, u64), String>, CorrelateError> {
        let correlator = match Correlator::from_snapshot(settings.clone(), correlator) {
            Ok(correlator) => correlator,
            Err(refused) => return Ok(Err(refused.to_string())),
        };
        let taken: Vec<Segment> = snapshot.segments.iter().map(|&s| Segment::from_pair(s)).collect();
        let segments = read_segments(log)?;
        if segments.len() < taken.len() || segments[..taken.len()] != taken[..] {
            return Ok(Err(format!(
                "the log records {} correlated segment(s) that do not begin with the snapshot's {}",
                segments.len(),
                taken.len()
            )));
        }
        let stage = CorrelationStage {
            correlator,
            segments: taken,
            orders_applied: snapshot.orders_applied,
            order_clusters: snapshot.order_clusters.into_iter().collect(),
            rederived: Vec::new(),
            rederived_from: warnings_end,
            latest: snapshot.latest,
        };
        Ok(Ok(stage.replay(log, segments)?))
    }

    /// What a snapshot keeps of the stage besides the correlator ([`Correlator::snapshot`]).
    pub(crate) fn snapshot(&self) -> StageSnapshot {
        StageSnapshot {
            segments: self.segments.iter().map(|s| (s.clues(), s.orders())).collect(),
            orders_applied: self.orders_applied,
            order_clusters: self
                .order_clusters
                .iter()
                .map(|(order, cluster)| (order.clone(), cluster.clone()))
                .collect(),
            latest: self.latest.clone(),
        }
    }

    /// Observes again the `segments` after those the stage already holds, each after the work-order
    /// resolutions that were on the log when it ran, writing nothing; the stage then holds them all.
    fn replay<L: Log + ?Sized>(
        mut self,
        log: &L,
        segments: Vec<Segment>,
    ) -> Result<(CorrelationStage, u64), CorrelateError> {
        let held = self.segments.len();
        let start = self.consumed();
        let consumed = segments.last().map(|s| s.clues()).unwrap_or(0);
        let mut done = read_undecoded(log, start, consumed, Keep::Json)?;
        let read = done.len() as u64;
        let mut from = 0;
        for segment in &segments[held..] {
            if let Some(orders) = segment.orders() {
                self.apply_resolutions(log, orders)?;
            }
            // Offsets of earlier segments are all below the end, sorted or not: the partition holds.
            let to = done.partition_point(|clue| clue.offset < segment.clues());
            sort_in_event_time(&mut done[from..to]);
            self.observe_in_order(&mut done[from..to], |_, _| Ok(()))?;
            self.correlator.reconsider();
            let warnings = self.correlator.flush();
            self.rederived.extend(warnings);
            from = to;
        }
        self.segments = segments;
        Ok((self, read))
    }

    /// The warnings the rebuild derived again, in the order first raised. A deterministic rebuild derives
    /// exactly the warnings on the `warnings` topic from [`CorrelationStage::rederived_from`] on.
    pub fn rederived_warnings(&self) -> &[Warning] {
        &self.rederived
    }

    /// The `warnings` offset the re-derived warnings begin at: 0 after a full rebuild, the snapshot's end of
    /// `warnings` after a resume from one.
    pub fn rederived_from(&self) -> Offset {
        self.rederived_from
    }

    /// Observes `clues` in order, recording each version ([`CorrelationStage::remember`]) and calling `each`
    /// with it and the events it caused; each clue's JSON is emptied once observed (its bytes are not needed
    /// again, and a bulk load's segment hands its memory back as it is worked through).
    ///
    /// Decoding a clue and drafting its profile ([`ProfileDraft`]) need nothing of the correlator's state but
    /// its lexicon, so for a segment of more than a chunk a second thread does them, a chunk or two ahead, on
    /// the core correlation leaves idle. From [`HAND_OFF_FROM`] clues that thread also prepares each new clue
    /// for its decision ([`Correlator::hand_off_blocking`]: its profile interned and weighed, its candidates
    /// found, itself indexed), which depends only on the clues before it, never on a link decision; this
    /// thread decides. The chunks travel between the two threads and back so that every block is freed on the
    /// thread that allocated it: the JSON here, the decoded clues and drafts there. glibc frees a block into
    /// the arena of the thread that allocated it, under that arena's lock, so freeing the other thread's blocks
    /// contends with its every allocation (see `History::read_ahead` in `yujing-tune`). (The prepared profiles
    /// stay here, in the correlator.)
    fn observe_in_order(
        &mut self,
        clues: &mut [Undecoded],
        mut each: impl FnMut(&Undecoded, Vec<CorrelationEvent>) -> Result<(), CorrelateError>,
    ) -> Result<(), CorrelateError> {
        if clues.len() <= DRAFT_CHUNK {
            // A live tick's few clues: a thread would cost more than it saves.
            let (drafted, failed) = decode_and_draft(clues, self.correlator.lexicon());
            return self.observe_drafted(clues, &drafted, None, failed, &mut each);
        }
        let lexicon = self.correlator.lexicon().clone();
        // Which clues are new to the correlator (each id's first version in the segment, unless observed
        // before): the ones blocking prepares. The others the correlator would pass over.
        let (mut ahead, fresh) = if clues.len() >= HAND_OFF_FROM {
            let mut seen: HashSet<&str> = HashSet::with_capacity(clues.len());
            let fresh: Vec<bool> = clues
                .iter()
                .map(|clue| !self.correlator.knows(&clue.clue_id) && seen.insert(&clue.clue_id))
                .collect();
            (Some(self.correlator.hand_off_blocking()), fresh)
        } else {
            (None, Vec::new())
        };
        let outcome = std::thread::scope(|scope| {
            type Decoded<'c> = (
                &'c mut [Undecoded],
                Drafted,
                Option<Vec<Option<Prepared>>>,
                Option<ReadError>,
            );
            let (to_decode, inbox) =
                std::sync::mpsc::sync_channel::<(&mut [Undecoded], &[bool])>(DRAFT_AHEAD);
            let (decoded_tx, decoded) = std::sync::mpsc::sync_channel::<Decoded<'_>>(DRAFT_AHEAD);
            let (give_back, used) = std::sync::mpsc::channel::<Drafted>();
            let lexicon = &lexicon;
            let ahead = &mut ahead;
            let drafter = scope.spawn(move || {
                for (chunk, fresh) in inbox {
                    let (drafted, failed) = decode_and_draft(chunk, lexicon);
                    let prepared = ahead.as_mut().map(|ahead| {
                        drafted
                            .iter()
                            .zip(fresh)
                            .map(|((clue, draft), &fresh)| fresh.then(|| ahead.prepare(clue, draft)))
                            .collect()
                    });
                    // What the observer is done with is freed here, where it was allocated.
                    used.try_iter().for_each(drop);
                    if decoded_tx.send((chunk, drafted, prepared, failed)).is_err() {
                        break;
                    }
                }
                drop(decoded_tx);
                used.iter().for_each(drop);
            });
            let mut fresh_chunks = fresh.chunks(DRAFT_CHUNK);
            let mut chunks = clues
                .chunks_mut(DRAFT_CHUNK)
                .map(|chunk| (chunk, fresh_chunks.next().unwrap_or_default()));
            // The drafter's inbox takes `DRAFT_AHEAD` chunks unread, so these sends never wait. (A send fails
            // only once the drafter is gone, which `decoded` then says.)
            for chunk in chunks.by_ref().take(DRAFT_AHEAD) {
                let _ = to_decode.send(chunk);
            }
            let mut to_decode = Some(to_decode);
            let mut outcome = Ok(());
            for (chunk, drafted, prepared, failed) in decoded.iter() {
                // One chunk back, one more out: no more than `DRAFT_AHEAD` are ever out. With none left to
                // send, the drafter is told so, and ends once it has sent back what it holds.
                match chunks.next() {
                    Some(next) => {
                        if let Some(sender) = &to_decode {
                            let _ = sender.send(next);
                        }
                    }
                    None => to_decode = None,
                }
                let observed = self.observe_drafted(chunk, &drafted, prepared, failed, &mut each);
                let _ = give_back.send(drafted);
                if let Err(error) = observed {
                    outcome = Err(error);
                    break;
                }
            }
            drop((to_decode, decoded, give_back));
            drafter
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            outcome
        });
        // After a failure blocking has prepared clues that were not decided: it is dropped, and the stage is
        // rebuilt from the log before it is used again (see `Pipeline::step`).
        if let (Ok(()), Some(ahead)) = (&outcome, ahead) {
            self.correlator.take_back_blocking(ahead);
        }
        outcome
    }

    /// Observes the clues of `chunk` that `drafted` holds (the first ones, in order), then fails with `failed`
    /// when decoding the next one did. With `prepared` (blocking handed off), each new clue is decided as
    /// prepared, and the others are passed over, as the correlator would.
    fn observe_drafted(
        &mut self,
        chunk: &mut [Undecoded],
        drafted: &Drafted,
        prepared: Option<Vec<Option<Prepared>>>,
        failed: Option<ReadError>,
        each: &mut impl FnMut(&Undecoded, Vec<CorrelationEvent>) -> Result<(), CorrelateError>,
    ) -> Result<(), CorrelateError> {
        let mut prepared = prepared.map(Vec::into_iter);
        for (undecoded, (clue, draft)) in chunk.iter_mut().zip(drafted) {
            let events = match prepared.as_mut().map(Iterator::next) {
                None => self.correlator.observe_drafted(clue, draft),
                Some(Some(Some(prepared))) => self.correlator.observe_prepared(clue, prepared),
                Some(_) => Vec::new(),
            };
            self.remember(&undecoded.clue_id, undecoded.version, undecoded.offset);
            undecoded.json = Box::default();
            each(undecoded, events)?;
        }
        match failed {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Record a version of an observed clue, unless a later one is known.
    fn remember(&mut self, clue_id: &str, version: u32, offset: Offset) {
        let Some(index) = self.correlator.clue_index(clue_id) else {
            return;
        };
        let index = index as usize;
        if self.latest.len() <= index {
            // A clue's first version to be remembered is at least version 0.
            self.latest.resize(index + 1, (0, 0));
        }
        let entry = &mut self.latest[index];
        if version >= entry.0 {
            *entry = (version, offset);
        }
    }

    /// How far into `clues` the stage has consumed.
    pub fn consumed(&self) -> Offset {
        self.segments.last().map(|s| s.clues()).unwrap_or(0)
    }

    /// The `clues` offset of the latest consumed version of `clue_id`.
    pub fn latest_offset(&self, clue_id: &str) -> Option<Offset> {
        let index = self.correlator.clue_index(clue_id)?;
        self.latest.get(index as usize).map(|(_, offset)| *offset)
    }

    /// The correlator, as of the last segment.
    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    /// The correlator, mutably (for queries that compress its cluster sets).
    pub fn correlator_mut(&mut self) -> &mut Correlator {
        &mut self.correlator
    }

    /// Takes the correlator out of the stage.
    pub fn into_correlator(self) -> Correlator {
        self.correlator
    }

    /// Applies the `resolved` work-order events in `workorders` up to `end` to the correlator, in log order, so
    /// rules that count only reports after a resolution see it.
    fn apply_resolutions<L: Log + ?Sized>(&mut self, log: &L, end: Offset) -> Result<(), CorrelateError> {
        if end <= self.orders_applied {
            return Ok(());
        }
        let events: Vec<(Offset, WorkOrderEvent)> = decoded_below(log, WORKORDERS, self.orders_applied, end)?;
        for (_, event) in events {
            match &event.change {
                OrderChange::Raised { subject, .. } => {
                    self.order_clusters
                        .insert(event.order_id.clone(), subject.cluster_id.clone());
                }
                OrderChange::Resolved { .. } => {
                    if let Some(cluster) = self.order_clusters.get(&event.order_id) {
                        self.correlator.resolved(cluster, event.at);
                    }
                }
                _ => {}
            }
        }
        self.orders_applied = end;
        Ok(())
    }

    /// Brings the stage up to date with the `clues` topic: the clues not consumed yet form one segment,
    /// correlated in event-time order (a late screening ledger lands where it happened) after the work orders'
    /// resolutions so far, and written as one atomic batch (links, warnings and their outbox entries) together
    /// with the segment's end.
    pub fn advance<L: Log + ?Sized>(
        &mut self,
        log: &L,
        clock: &dyn Clock,
    ) -> Result<CorrelationReport, CorrelateError> {
        let mut report = CorrelationReport::default();
        let consumed = self.segments.last().map(|s| s.clues()).unwrap_or(0);
        let end = log.end_offset(CLUES)?;
        if end <= consumed {
            return Ok(report);
        }
        let orders_end = log.end_offset(WORKORDERS)?;
        self.apply_resolutions(log, orders_end)?;
        let started = std::time::Instant::now();
        let mut fresh = read_undecoded(log, consumed, end, Keep::Json)?;
        let read = started.elapsed();
        // When each fresh clue arrived on the log, for the warnings' latency.
        let mut arrivals: HashMap<String, i64> = HashMap::with_capacity(fresh.len());
        for clue in &fresh {
            arrivals.insert(clue.clue_id.clone(), clue.arrived_ms);
        }
        sort_in_event_time(&mut fresh);
        let now = clock.now().timestamp_millis();
        let mut batch = Batch::new();
        self.observe_in_order(&mut fresh, |_, events| {
            for event in events {
                append_event(&mut batch, event, now, &mut report)?;
            }
            report.consumed += 1;
            Ok(())
        })?;
        drop(fresh);
        let observed = started.elapsed();
        for event in self.correlator.reconsider() {
            append_event(&mut batch, event, now, &mut report)?;
        }
        let reconsidered = started.elapsed();
        let warnings = self.correlator.flush();
        let flushed = started.elapsed();
        let encoded = encode_warnings(&warnings, now)?;
        for (warning, (record, entry)) in warnings.into_iter().zip(encoded) {
            batch.append(WARNINGS, record);
            batch.append(OUTBOX, entry);
            let arrived = warning
                .evidence
                .iter()
                .filter_map(|e| arrivals.get(e.clue_id.as_str()))
                .max();
            if let Some(arrived) = arrived {
                report.arrivals.push(*arrived);
            }
            report.warnings.push(warning);
        }
        self.segments.push(Segment::Both {
            clues: end,
            orders: orders_end,
        });
        batch.put_state(SEGMENTS_KEY, serde_json::to_vec(&self.segments)?);
        let encoded = started.elapsed();
        log.write(batch)?;
        // Where a segment's time goes, cumulatively: a bulk load's million clues spend it in stages of
        // seconds, some on one core (docs/PERFORMANCE.md).
        tracing::debug!(
            clues = report.consumed,
            warnings = report.warnings.len(),
            read_s = read.as_secs_f64(),
            observed_s = observed.as_secs_f64(),
            reconsidered_s = reconsidered.as_secs_f64(),
            flushed_s = flushed.as_secs_f64(),
            encoded_s = encoded.as_secs_f64(),
            written_s = started.elapsed().as_secs_f64(),
            "correlated a segment"
        );
        Ok(report)
    }
}

/// From this many warnings, a segment's are encoded on two threads ([`encode_warnings`]).
const ENCODE_SPLIT_FROM: usize = 2_048;

/// Each warning's record of the `warnings` topic and its outbox entry's, appended at `now`, in order.
///
/// A bulk load raises tens of thousands of warnings in one segment, each encoded twice (the outbox entry holds
/// the warning again), after the segment's clues are decided and while the second core has nothing to do: so
/// many are encoded in two halves at once. The first error in order is the one returned.
fn encode_warnings(warnings: &[Warning], now: i64) -> Result<Vec<(Record, Record)>, CorrelateError> {
    let encode = |part: &[Warning]| -> Result<Vec<(Record, Record)>, serde_json::Error> {
        part.iter()
            .map(|warning| {
                let record = Record {
                    key: warning.warning_id.clone().into_bytes(),
                    value: serde_json::to_vec(warning)?,
                    timestamp_ms: now,
                };
                Ok((record, OutboxEvent::warning(warning)?.record(now)?))
            })
            .collect()
    };
    if warnings.len() < ENCODE_SPLIT_FROM {
        return Ok(encode(warnings)?);
    }
    let (first, second) = warnings.split_at(warnings.len() / 2);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| encode(second));
        let mut encoded = encode(first)?;
        encoded.extend(
            later
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
        );
        Ok(encoded)
    })
}

/// Bring the correlation projection up to date with the `clues` topic (see [`CorrelationStage`]). Returns the
/// correlator (its state after every clue) and what this run did.
pub fn correlate<L: Log + ?Sized>(
    log: &L,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(Correlator, CorrelationReport), CorrelateError> {
    let (mut stage, rebuilt) = CorrelationStage::open(log, settings)?;
    let mut report = stage.advance(log, clock)?;
    report.rebuilt = rebuilt;
    Ok((stage.into_correlator(), report))
}

fn append_event(
    batch: &mut Batch,
    event: CorrelationEvent,
    now: i64,
    report: &mut CorrelationReport,
) -> Result<(), CorrelateError> {
    let key = match &event {
        CorrelationEvent::Linked { cluster_id, .. } => {
            report.links += 1;
            cluster_id.clone()
        }
        CorrelationEvent::Merged { cluster_id, .. } => {
            report.merges += 1;
            cluster_id.clone()
        }
    };
    batch.append(
        LINKS,
        Record {
            key: key.into_bytes(),
            value: serde_json::to_vec(&event)?,
            timestamp_ms: now,
        },
    );
    Ok(())
}

/// Every clue version on the log, in event-time order (as a replay correlates them).
pub fn clues_in_event_time<L: Log + ?Sized>(log: &L) -> Result<Vec<Clue>, CorrelateError> {
    clues_in_range(log, &ClueRange::default())
}

/// How the clue `clue_id` compares with its candidates, as when it was correlated: the log's clues before it
/// (in event-time order) are correlated with `settings`, then it is explained, best candidate first. `None`
/// when the log has no such clue.
pub fn explain_clue<L: Log + ?Sized>(
    log: &L,
    settings: &Settings,
    clue_id: &str,
) -> Result<Option<(Clue, Vec<yujing_correlate::Explanation>)>, CorrelateError> {
    let clues = clues_in_event_time(log)?;
    let Some(target) = clues.iter().position(|c| c.clue_id == clue_id) else {
        return Ok(None);
    };
    let mut correlator = Correlator::new(settings.clone());
    for clue in &clues[..target] {
        correlator.observe(clue);
    }
    let explained = correlator.explain(&clues[target]);
    Ok(Some((clues[target].clone(), explained)))
}

/// A part of the stored clues to replay: by position on the `clues` topic (a Kafka offset, or the embedded
/// log's sequence number) and by event time. Every bound is optional; an empty range is the whole log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClueRange {
    /// The first offset of the `clues` topic to read.
    pub from_offset: Option<Offset>,
    /// The offset to stop before.
    pub to_offset: Option<Offset>,
    /// The first event time to keep.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The event time to stop before.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// `, clues offsets A to B, event time S to U` for what the range bounds; empty for the whole log.
impl std::fmt::Display for ClueRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offset = |o: Option<Offset>| o.map_or_else(|| "…".to_owned(), |o| o.to_string());
        let time =
            |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or_else(|| "…".to_owned(), |t| t.to_rfc3339());
        if self.from_offset.is_some() || self.to_offset.is_some() {
            write!(
                f,
                ", clues offsets {} to {}",
                offset(self.from_offset),
                offset(self.to_offset)
            )?;
        }
        if self.since.is_some() || self.until.is_some() {
            write!(f, ", event time {} to {}", time(self.since), time(self.until))?;
        }
        Ok(())
    }
}

impl ClueRange {
    /// Whether the clue at `offset` is in the range.
    pub fn contains(&self, offset: Offset, clue: &Clue) -> bool {
        self.holds(offset, clue.occurred_at)
    }

    fn holds(&self, offset: Offset, occurred_at: chrono::DateTime<chrono::Utc>) -> bool {
        self.from_offset.is_none_or(|from| offset >= from)
            && self.to_offset.is_none_or(|to| offset < to)
            && self.since.is_none_or(|since| occurred_at >= since)
            && self.until.is_none_or(|until| occurred_at < until)
    }
}

/// The offsets on `clues` of the clue versions `range` holds, in the event-time order [`clues_in_range`] gives
/// them: for a reader that decodes each clue only when it comes to it ([`crate::read_at`]), so a long history
/// is not held decoded.
pub fn clue_offsets_in_range<L: Log + ?Sized>(
    log: &L,
    range: &ClueRange,
) -> Result<Vec<Offset>, CorrelateError> {
    Ok(undecoded_in_range(log, range, Keep::OrderOnly)?
        .into_iter()
        .map(|clue| clue.offset)
        .collect())
}

/// The clue versions of `range`, in event-time order.
pub fn clues_in_range<L: Log + ?Sized>(log: &L, range: &ClueRange) -> Result<Vec<Clue>, CorrelateError> {
    Ok(undecoded_in_range(log, range, Keep::Json)?
        .into_iter()
        .map(|clue| clue.decode())
        .collect::<Result<_, _>>()?)
}

/// The clue versions of `range`, not decoded yet, in event-time order.
fn undecoded_in_range<L: Log + ?Sized>(
    log: &L,
    range: &ClueRange,
    keep: Keep,
) -> Result<Vec<Undecoded>, ReadError> {
    let end = log.end_offset(CLUES)?;
    let to = range.to_offset.map_or(end, |to| to.min(end));
    let mut clues = read_undecoded(log, range.from_offset.unwrap_or(0), to, keep)?;
    clues.retain(|clue| range.holds(clue.offset, clue.occurred_at));
    sort_in_event_time(&mut clues);
    Ok(clues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yujing_correlate::{CorrelateConfig, RuleConfig};

    fn settings() -> Settings {
        let orange = RuleConfig::recurring("orange", yujing_model::WarningLevel::Orange, 3, 30);
        CorrelateConfig {
            rules: vec![orange],
            ..CorrelateConfig::default()
        }
        .build()
        .expect("one rule and the built-in weights are valid")
    }

    /// `count` reports, an hour apart, of 40 disputes at 40 buildings of one estate: each dispute's reports
    /// link, and some warn.
    fn clues(count: usize) -> Vec<Clue> {
        let sample: Clue = serde_json::from_str(include_str!("../../yujing-model/tests/sample_clue.json"))
            .expect("the sample clue parses");
        (0..count)
            .map(|i| {
                let mut clue = sample.clone();
                let dispute = i % 40;
                clue.clue_id = format!("grid:R{i}");
                clue.source_id = format!("R{i}");
                clue.occurred_at += chrono::Duration::hours(i as i64);
                clue.reported_at = clue.occurred_at;
                clue.address.building = Some(dispute.to_string());
                clue.parties.clear();
                clue.description = format!("{dispute}幢业主反映电梯故障长期未修，第{}次反映", i / 40);
                clue
            })
            .collect()
    }

    /// Warnings encoded on two threads are those encoded one at a time, in order: each warning's record, then
    /// its outbox entry's, over more warnings than are split (copies of a raised warning, each its own).
    #[test]
    fn warnings_encoded_in_two_halves_are_those_encoded_one_at_a_time() {
        let mut correlator = Correlator::new(settings());
        for clue in clues(120) {
            correlator.observe(&clue);
        }
        let raised = correlator.flush();
        assert!(!raised.is_empty(), "the disputes warn");
        let warnings: Vec<Warning> = (0..ENCODE_SPLIT_FROM + 3)
            .map(|i| {
                let mut warning = raised[i % raised.len()].clone();
                warning.warning_id = format!("w-{i:06}");
                warning.occurrences += i as u32;
                warning
            })
            .collect();
        let encoded = encode_warnings(&warnings, 17).expect("warnings encode");
        assert_eq!(encoded.len(), warnings.len());
        for (warning, (record, entry)) in warnings.iter().zip(&encoded) {
            let alone = Record {
                key: warning.warning_id.clone().into_bytes(),
                value: serde_json::to_vec(warning).expect("a warning encodes"),
                timestamp_ms: 17,
            };
            assert_eq!(record, &alone);
            let entry_alone = OutboxEvent::warning(warning)
                .and_then(|event| event.record(17))
                .expect("an outbox entry encodes");
            assert_eq!(entry, &entry_alone);
        }
    }

    fn undecoded(clues: &[Clue]) -> Vec<Undecoded> {
        clues
            .iter()
            .enumerate()
            .map(|(offset, clue)| Undecoded {
                offset: offset as Offset,
                occurred_at: clue.occurred_at,
                clue_id: clue.clue_id.clone(),
                version: clue.version,
                arrived_ms: 0,
                json: serde_json::to_vec(clue)
                    .expect("a clue encodes")
                    .into_boxed_slice(),
            })
            .collect()
    }

    /// [`clues`] at estates that change every few days, some named alike (the estates a segment brings are new
    /// to the places table when they come), some abbreviated; every 7th clue gives a caller's phone, one for two disputes (so
    /// that clusters merge); every 50th clue comes again later as its next version.
    fn clues_at_estates(count: usize) -> Vec<Clue> {
        const ESTATES: [&str; 6] = [
            "锦绣华庭",
            "锦绣花园",
            "玉兰佳苑",
            "玉兰苑",
            "城南新村",
            "城南新村二期",
        ];
        let sample: Clue = serde_json::from_str(include_str!("../../yujing-model/tests/sample_clue.json"))
            .expect("the sample clue parses");
        let mut clues = clues(count);
        for (i, clue) in clues.iter_mut().enumerate() {
            let name = ESTATES[(i / 97) % ESTATES.len()];
            // Every fifth report abbreviates the estate (its first three characters) and says little else,
            // so it links only when the names are read: the full name is new to the places table.
            let estate = match i % 5 {
                2 => {
                    clue.description = format!("{}幢电梯坏了", i % 40);
                    name.chars().take(3).collect()
                }
                _ => format!("{name}{}", i / 600),
            };
            clue.address.text = format!("如城街道{estate}{}幢", i % 40);
            clue.address.estate = Some(estate);
            if i % 7 == 0 {
                let mut caller = sample.parties[0].clone();
                caller.keys.truncate(1);
                caller.keys[0].hash = format!("{:064x}", i % 40 / 2);
                clue.parties.push(caller);
            }
        }
        let again: Vec<Clue> = clues
            .iter()
            .step_by(50)
            .map(|clue| {
                let mut clue = clue.clone();
                clue.version += 1;
                clue.occurred_at += chrono::Duration::minutes(30);
                clue
            })
            .collect();
        for (n, clue) in again.into_iter().enumerate() {
            let at = (n * 50 + 7).min(clues.len());
            clues.insert(at + n, clue);
        }
        clues
    }

    /// Observes `held` on `stage` in order: each clue's id and the events it caused.
    fn observed(
        stage: &mut CorrelationStage,
        held: &mut [Undecoded],
    ) -> Vec<(String, Vec<CorrelationEvent>)> {
        let mut events = Vec::new();
        stage
            .observe_in_order(held, |undecoded, caused| {
                events.push((undecoded.clue_id.clone(), caused));
                Ok(())
            })
            .expect("every clue decodes");
        events
    }

    /// Observed with the decoding and drafting on a second thread (several chunks and a part), the clues give
    /// the events, warnings and recorded versions of observing them one by one on this thread; each clue's
    /// JSON is emptied once observed.
    #[test]
    fn observing_beside_a_drafting_thread_decides_as_observing_alone() {
        let clues = clues(DRAFT_CHUNK * 3 + 77);
        assert!(clues.len() < HAND_OFF_FROM, "blocking stays with the correlator");
        let mut alone = Correlator::new(settings());
        let expected: Vec<Vec<CorrelationEvent>> = clues.iter().map(|c| alone.observe(c)).collect();
        let mut stage = CorrelationStage::empty(settings());
        let mut held = undecoded(&clues);
        let events = observed(&mut stage, &mut held);
        assert_eq!(events.len(), clues.len());
        for ((id, caused), (clue, wanted)) in events.iter().zip(clues.iter().zip(&expected)) {
            assert_eq!((id, caused), (&clue.clue_id, wanted));
        }
        assert!(expected.iter().flatten().any(|e| matches!(
            e,
            CorrelationEvent::Linked {
                new_cluster: false,
                ..
            }
        )));
        let warnings = stage.correlator.flush();
        assert!(!warnings.is_empty());
        assert_eq!(warnings, alone.flush());
        assert_eq!(stage.latest_offset("grid:R1000"), Some(1000));
        assert!(held.iter().all(|u| u.json.is_empty()));
    }

    /// With blocking handed to the drafting thread, two segments (the second on a correlator that has
    /// forgotten the clues past its window, and holding clues of the first again) give the events, warnings
    /// and counts of observing every clue one by one on this thread, and blocking taken back decides the
    /// clues after them alike.
    #[test]
    fn blocking_a_chunk_ahead_decides_as_observing_alone() {
        let clues = clues_at_estates(HAND_OFF_FROM + DRAFT_CHUNK * 2 + 77);
        let split = HAND_OFF_FROM / 2;
        let (first, second) = clues.split_at(split);
        let mut alone = Correlator::new(settings());
        let mut stage = CorrelationStage::empty(settings());
        for segment in [first, &[first[..40].to_vec(), second.to_vec()].concat()] {
            let expected: Vec<Vec<CorrelationEvent>> = segment.iter().map(|c| alone.observe(c)).collect();
            let events = observed(&mut stage, &mut undecoded(segment));
            assert_eq!(events.len(), segment.len());
            for ((id, caused), (clue, wanted)) in events.iter().zip(segment.iter().zip(&expected)) {
                assert_eq!((id, caused), (&clue.clue_id, wanted));
            }
            assert_eq!(stage.correlator.reconsider(), alone.reconsider());
            assert_eq!(stage.correlator.flush(), alone.flush());
        }
        assert!(
            stage.correlator.stats().compacted > 0,
            "the second segment starts past a window"
        );
        assert!(alone.stats().merges > 0 && alone.stats().warnings > 0);
        assert_eq!(stage.correlator.stats(), alone.stats());
        // Blocking, taken back, decides the clues after as the one that never left: the same index, times,
        // frequencies and symbols. (A snapshot's bytes would not tell: its frequency maps are in a random order.)
        let after: Vec<Clue> = clues_at_estates(600)
            .into_iter()
            .map(|mut clue| {
                clue.clue_id = format!("{}-after", clue.clue_id);
                clue.occurred_at += chrono::Duration::hours(clues.len() as i64);
                clue
            })
            .collect();
        for clue in &after {
            assert_eq!(stage.correlator.observe(clue), alone.observe(clue));
        }
        assert_eq!(stage.correlator.flush(), alone.flush());
        assert_eq!(stage.correlator.stats(), alone.stats());
    }

    /// A clue that does not decode, in the third chunk: the clues before it are observed, in order, and its
    /// error names its offset; none after it is.
    #[test]
    fn read_back_split_and_in_one_pass_agree_on_clues_and_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = yujing_log::EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        for (i, clue) in clues(301).iter().enumerate() {
            // Two clues that do not decode, one in each half of the range read below.
            let value = if i == 120 || i == 250 {
                b"{\"clue_id\": 7}".to_vec()
            } else {
                serde_json::to_vec(clue).expect("a clue encodes")
            };
            batch.append(
                CLUES,
                yujing_log::Record {
                    key: Vec::new(),
                    value,
                    timestamp_ms: i as i64,
                },
            );
        }
        log.write(batch).expect("write");
        // Everything an undecoded clue holds, to compare.
        type Fields = (Offset, String, u32, i64, Box<[u8]>);
        let fields = |clues: Vec<Undecoded>| -> Vec<Fields> {
            clues
                .into_iter()
                .map(|c| (c.offset, c.clue_id, c.version, c.arrived_ms, c.json))
                .collect()
        };
        for keep in [Keep::Json, Keep::OrderOnly] {
            for (from, to) in [(0, 120), (121, 250), (251, 301), (3, 3)] {
                let one = read_undecoded_in_one(&log, from, to, keep).expect("reads");
                let split = read_undecoded_split_from(&log, from, to, keep, 10).expect("reads");
                assert_eq!(one.len() as Offset, to - from);
                assert_eq!(fields(split), fields(one), "{from}..{to}");
            }
            // The first bad clue in log order is named, whichever half it is in.
            for (from, to, bad) in [(0, 301, 120), (121, 301, 250), (0, 200, 120), (100, 240, 120)] {
                let Err(error) = read_undecoded_split_from(&log, from, to, keep, 10) else {
                    panic!("{from}..{to}: the bad clue at {bad} fails the read");
                };
                assert!(error.to_string().contains(&format!("offset {bad}:")), "{error}");
            }
        }
    }

    #[test]
    fn a_clue_that_does_not_decode_stops_the_observing_after_the_clues_before_it() {
        let clues = clues(DRAFT_CHUNK * 3);
        let bad = DRAFT_CHUNK * 2 + 5;
        let mut held = undecoded(&clues);
        held[bad].json = b"{\"clue_id\": 7}".to_vec().into_boxed_slice();
        let mut stage = CorrelationStage::empty(settings());
        let mut observed = Vec::new();
        let error = stage
            .observe_in_order(&mut held, |undecoded, _| {
                observed.push(undecoded.offset);
                Ok(())
            })
            .expect_err("the bad clue fails");
        assert_eq!(observed, (0..bad as Offset).collect::<Vec<_>>());
        assert_eq!(stage.correlator.stats().clues, bad as u64);
        assert!(error.to_string().contains(&format!("offset {bad}")), "{error}");
    }
}
