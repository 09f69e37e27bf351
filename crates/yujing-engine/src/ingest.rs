//! Ingestion: upstream export files onto the log.
//!
//! For each input the [`Ingestor`] decodes the feed's format, then writes, in one atomic batch per chunk:
//! every raw unit exactly as received to `raw.<feed>`; each record's clue to `clues` when it is new or changed;
//! each rejected record to `deadletter`; and the small state that makes this idempotent, keyed by
//! (feed, source id): the content fingerprints already logged. So a file ingested twice adds no clue, a re-delivery
//! with a new status becomes version n+1 of the same clue, and a crash mid-file leaves nothing half-written.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use foldhash::{HashMap as FastMap, HashMapExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yujing_feeds::adapters::LinePosition;
use yujing_feeds::{adapters, pii, DecodedInput, Normalizer, Outcome, RawUnit, Reject};
use yujing_log::{Batch, Log, LogError, Record, ShardId};
use yujing_model::{Clue, DeadLetter, FeedId, RawPointer, RejectKind, SourceLocation};

use crate::clock::Clock;
use crate::route::Router;
use crate::shard::Shard;
use crate::topics::{raw_topic, CLUES, DEADLETTER};
use crate::vault::{PartyRef, UnitSealer, Vault};

/// Raw units per atomic batch: bounds memory and the number of fsyncs.
const UNITS_PER_BATCH: usize = 1000;

/// What can stop an ingest (bad records never do: they go to the dead-letter store).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// An input could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A path's feed is unknown and none was given.
    #[error("cannot tell the feed of {0}: name it <feed>.….<ext> (e.g. police-20260611.csv) or pass --feed")]
    UnknownFeed(PathBuf),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record could not be encoded for the log (a bug: nothing is written rather than an empty record).
    #[error("cannot encode {what} for the log")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// A raw unit could not be sealed.
    #[error("cannot seal a raw unit")]
    Seal(#[from] crate::vault::VaultError),
    /// A routed part could not be sealed or read.
    #[error("cannot route an input to its shards")]
    Route(#[from] crate::route::RouteError),
    /// A state entry could not be decoded.
    #[error("corrupt ingest state for {key}: {reason}")]
    CorruptState {
        /// The state key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl IngestError {
    /// What makes an I/O error at `path` an [`IngestError::Read`] (for `map_err`).
    fn reading(path: &Path) -> impl Fn(std::io::Error) -> IngestError + Copy + '_ {
        move |source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What ingesting one input did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The input's name.
    pub file: String,
    /// Its feed.
    pub feed: Option<FeedId>,
    /// Raw units newly logged (a unit already in the raw log, byte for byte, is not logged again).
    pub raw_units: u64,
    /// Records found.
    pub records: u64,
    /// Clues logged for records not seen before.
    pub new_clues: u64,
    /// New versions logged for records seen before with other content.
    pub new_versions: u64,
    /// Records already logged with the same content (re-deliveries, repeated files).
    pub duplicates: u64,
    /// Records that are not disputes.
    pub not_disputes: u64,
    /// Records rejected (new dead letters and repeats of known ones).
    pub rejected: u64,
    /// Rejections by kind.
    pub rejected_by_kind: BTreeMap<String, u64>,
    /// Clues logged (new or new versions) whose category word no table maps, so their type was inferred.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub category_inferred: u64,
    /// Records left to the other shards of a sharded store (their town, or their bytes, belong there).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_shards: u64,
    /// Records decoded here once and handed to the partition of the shard that keeps them (the router of a
    /// sharded store, [`crate::route`]): that shard ingests them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub routed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FileReport {
    pub(crate) fn add(&mut self, other: &FileReport) {
        self.raw_units += other.raw_units;
        self.records += other.records;
        self.other_shards += other.other_shards;
        self.routed += other.routed;
        self.new_clues += other.new_clues;
        self.new_versions += other.new_versions;
        self.category_inferred += other.category_inferred;
        self.duplicates += other.duplicates;
        self.not_disputes += other.not_disputes;
        self.rejected += other.rejected;
        for (kind, n) in &other.rejected_by_kind {
            *self.rejected_by_kind.entry(kind.clone()).or_default() += n;
        }
    }
}

/// What ingesting several inputs did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// One report per input, in the order ingested.
    pub files: Vec<FileReport>,
    /// Files in the directories given that belong to no feed, skipped.
    pub skipped: Vec<String>,
    /// The sums over all inputs.
    pub total: FileReport,
}

/// Progress of a long ingest, in bytes of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of input finished.
    pub done: u64,
    /// Bytes of input in all.
    pub total: u64,
}

/// The ingest state of one (feed, source id): the content fingerprints of its logged versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RecordState {
    fingerprints: Vec<String>,
}

/// Writes inputs onto the log. One ingestor writes a store at a time (the embedded log is locked per process).
pub struct Ingestor<'a, L: Log + ?Sized> {
    log: &'a L,
    normalizer: &'a Normalizer,
    clock: &'a dyn Clock,
    shard: Shard,
    part_bytes: usize,
    /// Seals each raw unit before it is written.
    vault: Vault,
    /// When set, inputs are routed to their shards rather than written ([`Ingestor::routing`]).
    router: Option<Router>,
    /// Whether [`Ingestor::ingest_paths`] writes on a second thread ([`Ingestor::on_two_threads`]).
    two_threads: bool,
}

/// A JSON Lines file larger than this is read, decoded and written a part at a time (at line breaks), so memory
/// follows the part, not the file: a file of a gigabyte no longer takes several gigabytes to ingest.
pub const PART_BYTES: usize = 16 << 20;

/// What one shard of a sharded store keeps of a chunk of an input (see [`Ingestor::claims`]).
struct Claims {
    /// By unit of the chunk: whether to log it.
    units: Vec<bool>,
    /// The records to keep, by index in the input.
    records: HashSet<usize>,
}

/// The export files found under the paths given to an ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Files to ingest, with their feed, in order.
    pub files: Vec<(PathBuf, FeedId)>,
    /// Files in the directories given that belong to no feed.
    pub skipped: Vec<String>,
}

/// The inputs under `paths`: files as given, directories walked in name order.
pub fn collect_inputs(paths: &[PathBuf], feed: Option<FeedId>) -> Result<Inputs, IngestError> {
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files, &mut BTreeSet::new())?;
            files.sort();
            for file in files {
                let detected = adapters::detect_feed(&file);
                let has_extension = |f: FeedId| {
                    file.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case(adapters::extension(f)))
                };
                // With --feed, a directory's files of that feed's format count (unless named for another feed).
                let chosen = match (feed, detected) {
                    (None, detected) => detected,
                    (Some(f), Some(d)) => (d == f).then_some(f),
                    (Some(f), None) => has_extension(f).then_some(f),
                };
                match chosen {
                    Some(f) => inputs.push((file, f)),
                    None => skipped.push(file.display().to_string()),
                }
            }
        } else {
            let f = feed
                .or_else(|| adapters::detect_feed(path))
                .ok_or_else(|| IngestError::UnknownFeed(path.clone()))?;
            if !path.exists() {
                return Err(IngestError::Read {
                    path: path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            inputs.push((path.clone(), f));
        }
    }
    Ok(Inputs {
        files: inputs,
        skipped,
    })
}

/// The files under `dir`. Each directory is entered once, by its canonical path, however many links lead to
/// it: a link to a parent (`a -> .`) would otherwise make the walk exponential. A linked file is read where it
/// is; one reached twice is read once.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, visited: &mut BTreeSet<PathBuf>) -> Result<(), IngestError> {
    let read = IngestError::reading(dir);
    if !visited.insert(std::fs::canonicalize(dir).map_err(read)?) {
        return Ok(());
    }
    // In name order, so that which of two names of one file is read does not depend on the file system.
    let mut entries = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<PathBuf>, _>>()
        .map_err(read)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out, visited)?;
        } else if path.is_file() {
            // A dangling link or a socket is nothing to ingest.
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if visited.insert(canonical) {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// `value` as JSON for the log, or an error naming `what` it is.
fn encode<T: Serialize + ?Sized>(what: &'static str, value: &T) -> Result<Vec<u8>, IngestError> {
    serde_json::to_vec(value).map_err(|source| IngestError::Encode { what, source })
}

/// A clue version's content fingerprint (what the ingest state compares), and the content's JSON it digests.
fn fingerprint(clue: &mut Clue) -> Result<(String, Vec<u8>), IngestError> {
    // The content of a version: everything but where and when it was delivered and its version number. Those
    // are set aside while the clue is encoded and put back after, rather than the clue cloned (its texts and
    // parties are most of a record's bytes).
    let version = std::mem::take(&mut clue.version);
    let reported_at = std::mem::replace(&mut clue.reported_at, UNREPORTED);
    let raw = std::mem::replace(&mut clue.raw, undelivered());
    let json = encode("a clue's content", &*clue);
    (clue.version, clue.reported_at, clue.raw) = (version, reported_at, raw);
    let json = json?;
    Ok((pii::letters_hex(&Sha256::digest(&json)), json))
}

/// The report time a clue's content holds in place of its own (see [`fingerprint`]).
const UNREPORTED: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// Appends `before`, `value` as JSON and `after` to `out`.
fn spell<T: Serialize + ?Sized>(out: &mut Vec<u8>, before: &[u8], value: &T, after: &[u8]) -> Option<()> {
    out.extend_from_slice(before);
    serde_json::to_writer(&mut *out, value).ok()?;
    out.extend_from_slice(after);
    Some(())
}

/// How a clue's content JSON spells its emptied delivery fields, made from the values [`fingerprint`] puts in
/// their places: the version and the field after it, the report time and the comma after it, the raw pointer
/// and the clue's closing brace (the content's end).
fn content_marks() -> Option<&'static [Vec<u8>; 3]> {
    static MARKS: std::sync::OnceLock<Option<[Vec<u8>; 3]>> = std::sync::OnceLock::new();
    MARKS
        .get_or_init(|| {
            let (mut version, mut reported, mut raw_end) = (Vec::new(), Vec::new(), Vec::new());
            spell(&mut version, br#","version":"#, &0u32, br#","occurred_at":"#)?;
            spell(&mut reported, br#","reported_at":"#, &UNREPORTED, b",")?;
            spell(&mut raw_end, br#","raw":"#, &undelivered(), b"}")?;
            Some([version, reported, raw_end])
        })
        .as_ref()
}

/// The clue's JSON for the log, made from its content's JSON (see [`fingerprint`]) by putting its version, its
/// report time and its raw pointer in the places the content holds empty; `None` if the content does not hold
/// them where a clue's JSON does (then the clue is encoded whole).
///
/// Why: every clue was encoded twice, once for its fingerprint and once for the log, and a bulk load's two
/// threads are both busy (docs/PERFORMANCE.md, stop 43).
///
/// The places are found exactly: the fields before each are strings, and a quote inside a JSON string is
/// escaped, so the first `,"version":0,"occurred_at":` is the field's and nothing a report says; the raw
/// pointer is the last field, so its empty pointer is the content's end.
fn delivered_json(content: &[u8], clue: &Clue) -> Option<Vec<u8>> {
    let [version, reported, raw_end] = content_marks()?;
    let find = |from: usize, what: &[u8]| {
        content
            .get(from..)?
            .windows(what.len())
            .position(|w| w == what)
            .map(|at| from + at)
    };
    let version_at = find(0, version)?;
    let reported_at = find(version_at + version.len(), reported)?;
    let raw_at = content.len().checked_sub(raw_end.len())?;
    if reported_at + reported.len() > raw_at || !content.ends_with(raw_end) {
        return None;
    }
    let mut out = Vec::with_capacity(content.len() + 96 + clue.raw.location.file.len());
    out.extend_from_slice(&content[..version_at]);
    spell(&mut out, br#","version":"#, &clue.version, br#","occurred_at":"#)?;
    out.extend_from_slice(&content[version_at + version.len()..reported_at]);
    spell(&mut out, br#","reported_at":"#, &clue.reported_at, b",")?;
    out.extend_from_slice(&content[reported_at + reported.len()..raw_at]);
    spell(&mut out, br#","raw":"#, &clue.raw, b"}")?;
    Some(out)
}

/// The pointer of a clue's content: no topic, offset or file.
fn undelivered() -> RawPointer {
    RawPointer {
        topic: String::new(),
        offset: 0,
        location: SourceLocation {
            file: String::new(),
            line: None,
            record_index: 0,
        },
    }
}

fn state_key(clue_id: &str) -> Vec<u8> {
    format!("rec/{clue_id}").into_bytes()
}

/// An input the writer of [`Ingestor::ingest_paths`] hands back, with what writing it did.
type Written = (PreparedInput, Result<FileReport, IngestError>);

/// A file of [`Ingestor::ingest_paths`] whose inputs are not all written yet.
struct PendingFile {
    feed: FeedId,
    size: u64,
    report: FileReport,
    /// Inputs sent to the writer.
    sent: usize,
    /// Inputs back from the writer.
    back: usize,
    /// Whether the whole file has been prepared (no more inputs will be sent).
    prepared: bool,
}

/// The files of [`Ingestor::ingest_paths`] in order, reported once the last of their inputs is written.
struct FilesDone<'a> {
    pending: std::collections::VecDeque<PendingFile>,
    report: &'a mut IngestReport,
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(Progress),
}

impl FilesDone<'_> {
    /// A file whose inputs come next.
    fn begin(&mut self, feed: FeedId, name: &str, size: u64) {
        self.pending.push_back(PendingFile {
            feed,
            size,
            report: FileReport {
                file: name.to_owned(),
                feed: Some(feed),
                ..FileReport::default()
            },
            sent: 0,
            back: 0,
            prepared: false,
        });
    }

    /// One more input of the last file begun is on its way to the writer.
    fn sent(&mut self) {
        if let Some(file) = self.pending.back_mut() {
            file.sent += 1;
        }
    }

    /// The last file begun is prepared whole: it is reported once its inputs are all written.
    fn prepared(&mut self) {
        if let Some(file) = self.pending.back_mut() {
            file.prepared = true;
        }
        self.report_finished();
    }

    /// Counts a written input to the oldest file still waiting for one (inputs come back in the order sent),
    /// frees it here, and reports the files it completes.
    fn absorb(&mut self, (input, result): Written) -> Result<(), IngestError> {
        drop(input);
        let written = result?;
        if let Some(file) = self.pending.iter_mut().find(|f| f.back < f.sent) {
            file.back += 1;
            file.report.add(&written);
        }
        self.report_finished();
        Ok(())
    }

    /// Reports, in order, the files prepared whole whose inputs are all written.
    fn report_finished(&mut self) {
        while self
            .pending
            .front()
            .is_some_and(|f| f.prepared && f.back == f.sent)
        {
            let Some(file) = self.pending.pop_front() else {
                break;
            };
            let PendingFile {
                feed,
                size,
                report: file_report,
                ..
            } = file;
            tracing::info!(
                file = %file_report.file,
                feed = %feed,
                records = file_report.records,
                new_clues = file_report.new_clues,
                new_versions = file_report.new_versions,
                duplicates = file_report.duplicates,
                rejected = file_report.rejected,
                "ingested"
            );
            self.report.total.add(&file_report);
            self.report.files.push(file_report);
            self.done += size;
            (self.progress)(Progress {
                done: self.done,
                total: self.total,
            });
        }
    }
}

/// Decodes and normalizes the file at `path`, handing each input to `emit` in order: the file whole, or a part
/// at a time when it is a large JSON Lines or CSV file (each part decoded from where the last ended, so lines,
/// locations and record indices are those of the whole file). Stops early, without error, when `emit` says
/// no one wants more.
fn prepare_file(
    normalizer: &Normalizer,
    part_bytes: usize,
    path: &Path,
    feed: FeedId,
    name: &str,
    emit: &mut dyn FnMut(PreparedInput) -> bool,
) -> Result<(), IngestError> {
    use std::io::Read;
    let failed = IngestError::reading(path);
    let file = std::fs::File::open(path).map_err(failed)?;
    let size = file.metadata().map_err(failed)?.len();
    let in_parts = adapters::is_line_oriented(feed) || adapters::is_csv(feed);
    if !in_parts || size <= part_bytes as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(failed)?;
        emit(PreparedInput::new(normalizer, feed, name, &bytes));
        return Ok(());
    }
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    if adapters::is_csv(feed) {
        return prepare_csv_parts(normalizer, part_bytes, &mut reader, path, feed, name, emit);
    }
    let mut start = LinePosition::START;
    let mut part = Vec::with_capacity(part_bytes + (1 << 16));
    loop {
        part.clear();
        // Whole lines, up to about `part_bytes`: a line is never split between two parts. A line over the
        // line limit is not held: it ends the part, and is read past on its own.
        let mut long = None;
        while part.len() < part_bytes {
            let at_file_start = start.lines == 0 && part.is_empty();
            match read_line_bounded(&mut reader, &mut part, at_file_start).map_err(failed)? {
                BoundedLine::End => break,
                BoundedLine::Read => {}
                BoundedLine::Long(line) => {
                    long = Some(line);
                    break;
                }
            }
        }
        if part.is_empty() && long.is_none() {
            return Ok(());
        }
        if !part.is_empty() {
            if !emit(PreparedInput::from_position(normalizer, feed, name, &part, start)) {
                return Ok(());
            }
            start.advance(&part);
        }
        match long {
            None => {}
            Some(LongLine::Blank) => start.lines += 1,
            Some(LongLine::Oversized { head, len }) => {
                let decoded = adapters::oversized_line(name, &head, len, start);
                if !emit(PreparedInput::from_decoded(normalizer, feed, name, decoded)) {
                    return Ok(());
                }
                start.lines += 1;
                start.records += 1;
            }
        }
    }
}

/// Decodes and normalizes a CSV file a part at a time (see [`prepare_file`]): about `part_bytes` of whole lines
/// are added to what the last part left (a row its bytes did not settle, such as a quoted field that goes on),
/// and the rows they settle are handed on, numbered as in the whole file ([`adapters::decode_csv_from`]). A row
/// that is still not settled after [`CSV_ROW_LIMIT`] bytes (a quote that never closes, in a file of gigabytes)
/// is settled at a line break there, so memory stays bounded whatever the file holds.
fn prepare_csv_parts(
    normalizer: &Normalizer,
    part_bytes: usize,
    reader: &mut impl std::io::BufRead,
    path: &Path,
    feed: FeedId,
    name: &str,
    emit: &mut dyn FnMut(PreparedInput) -> bool,
) -> Result<(), IngestError> {
    let failed = IngestError::reading(path);
    let mut at = adapters::CsvPosition::START;
    let mut carry: Vec<u8> = Vec::with_capacity(part_bytes + (1 << 16));
    loop {
        let before = carry.len();
        let mut at_end = false;
        while carry.len() - before < part_bytes {
            // Whole lines, but never more than a part of one: a line of gigabytes is read a part at a time.
            let room = (part_bytes - (carry.len() - before)) as u64;
            let read =
                std::io::BufRead::read_until(&mut std::io::Read::take(&mut *reader, room), b'\n', &mut carry)
                    .map_err(failed)?;
            if read == 0 {
                at_end = true;
                break;
            }
        }
        let settle_all = at_end || carry.len() > CSV_ROW_LIMIT;
        let part = adapters::decode_csv_from(feed, name, &carry, normalizer.rules(), &at, settle_all);
        if !part.decoded.units.is_empty()
            && !emit(PreparedInput::from_decoded(normalizer, feed, name, part.decoded))
        {
            return Ok(());
        }
        carry.drain(..part.consumed.min(carry.len()));
        at = part.next;
        if at_end {
            return Ok(());
        }
    }
}

fn raw_state_key(feed: FeedId, bytes: &[u8]) -> Vec<u8> {
    format!("raw/{feed}/{}", pii::letters_hex(&Sha256::digest(bytes))).into_bytes()
}

fn dead_letter_key(feed: FeedId, unit_bytes: &[u8], record_index: u64, kind: RejectKind) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(feed.as_str());
    hasher.update(record_index.to_be_bytes());
    hasher.update(kind.as_str());
    hasher.update(unit_bytes);
    format!("dl/{}", pii::letters_hex(&hasher.finalize())).into_bytes()
}

/// An input decoded and its records normalized: the pure part of ingesting it. It needs no log, so it may run on
/// another thread while the pipeline writes, correlates and commits the input before it
/// ([`Ingestor::ingest_prepared`]); ingesting it then only writes. A decoded record is kept only as its clue (or
/// why it was refused): the fields in clear are dropped once normalized, so a prepared input may be routed to
/// another shard ([`crate::route`]) holding personal data only in its raw units.
#[derive(Debug)]
pub struct PreparedInput {
    pub(crate) feed: FeedId,
    pub(crate) file: String,
    /// The raw units, in input order.
    pub(crate) units: Vec<RawUnit>,
    /// The records, in input order.
    pub(crate) records: Vec<PreparedRecord>,
    /// Per unit: the parties it names (its clues' and the numbers in its bytes), sorted, which its sealed form
    /// is for (see [`crate::vault`]).
    pub(crate) unit_parties: Vec<Vec<PartyRef>>,
    /// The clues written, kept until the input is dropped: a bulk ingest frees an input on the thread that
    /// prepared it (see [`Ingestor::ingest_paths`]).
    pub(crate) written: Vec<Clue>,
}

/// One record of a [`PreparedInput`].
#[derive(Debug)]
pub(crate) struct PreparedRecord {
    /// The index of its raw unit in [`PreparedInput::units`].
    pub(crate) unit: usize,
    /// Where it sat.
    pub(crate) location: SourceLocation,
    /// The source id, when it could be read.
    pub(crate) source_id: Option<String>,
    /// What became of it.
    pub(crate) outcome: Prepared,
}

/// Why a record of a [`PreparedInput`] taken a second time is refused (a bug, said rather than skipped).
pub(crate) const ALREADY_WRITTEN: &str = "the record was already written";

/// What became of a record of a [`PreparedInput`].
// Nearly every record is normalized: boxing the clue would cost an allocation for each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Well-formed, but not a dispute: no clue.
    NotADispute,
    /// Rejected while decoding.
    Rejected(Reject),
    /// Decoded and normalized: its clue (its raw pointer still to be set) or why normalization refused it;
    /// `None` once written.
    Normalized(Option<Result<Clue, Reject>>),
}

impl PreparedInput {
    /// An input of `feed` named `file` that holds nothing.
    pub(crate) fn empty(feed: FeedId, file: &str) -> PreparedInput {
        PreparedInput {
            feed,
            file: file.to_owned(),
            units: Vec::new(),
            records: Vec::new(),
            unit_parties: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Decodes `bytes`, an input of `feed` named `file`, and normalizes its records.
    pub fn new(normalizer: &Normalizer, feed: FeedId, file: &str, bytes: &[u8]) -> PreparedInput {
        PreparedInput::from_position(normalizer, feed, file, bytes, LinePosition::START)
    }

    /// [`PreparedInput::new`] of a part of a JSON Lines file that starts at `start` within it.
    pub fn from_position(
        normalizer: &Normalizer,
        feed: FeedId,
        file: &str,
        bytes: &[u8],
        start: LinePosition,
    ) -> PreparedInput {
        let decoded = adapters::decode_from(feed, file, bytes, normalizer.rules(), start);
        PreparedInput::from_decoded(normalizer, feed, file, decoded)
    }

    /// An input decoded beforehand, its records normalized.
    fn from_decoded(
        normalizer: &Normalizer,
        feed: FeedId,
        file: &str,
        decoded: DecodedInput,
    ) -> PreparedInput {
        let DecodedInput { units, records } = decoded;
        let records: Vec<PreparedRecord> = records
            .into_iter()
            .map(|record| {
                let outcome = match &record.outcome {
                    Outcome::Record(source) => {
                        // The raw offset is known only when the unit is logged: set then.
                        let placeholder = RawPointer {
                            topic: String::new(),
                            offset: 0,
                            location: record.location.clone(),
                        };
                        Prepared::Normalized(Some(normalizer.normalize(source, 0, placeholder)))
                    }
                    Outcome::NotADispute { .. } => Prepared::NotADispute,
                    Outcome::Rejected(reject) => Prepared::Rejected(reject.clone()),
                };
                PreparedRecord {
                    unit: record.unit,
                    location: record.location,
                    source_id: record.source_id,
                    outcome,
                }
            })
            .collect();
        let unit_parties = unit_parties(normalizer, &units, &records);
        PreparedInput {
            feed,
            file: file.to_owned(),
            units,
            records,
            unit_parties,
            written: Vec::new(),
        }
    }

    /// The input's feed.
    pub fn feed(&self) -> FeedId {
        self.feed
    }

    /// The input's name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The shard of `count` that keeps `record`: a clue's town's, else the one its raw unit's bytes hash to
    /// ([`Shard`]). The router ([`crate::route`]) and each shard ([`Ingestor::for_shard`]) both ask this, so they
    /// agree.
    pub(crate) fn owner(&self, record: &PreparedRecord, count: u32) -> ShardId {
        match &record.outcome {
            Prepared::Normalized(Some(Ok(clue))) => Shard::of(clue.town.town_code.as_str().as_bytes(), count),
            _ => self.unit_owner(record.unit, count),
        }
    }

    /// The shard of `count` that keeps unit `unit` when none of its records decides (one that yielded none).
    pub(crate) fn unit_owner(&self, unit: usize, count: u32) -> ShardId {
        self.units
            .get(unit)
            .map_or(ShardId(0), |u| Shard::of(&u.bytes, count))
    }
}

/// A CSV row not settled after this many bytes is settled at a line break there (see
/// [`prepare_csv_parts`]): far beyond any real row, and it bounds what a part holds.
const CSV_ROW_LIMIT: usize = 64 << 20;

/// What [`read_line_bounded`] read.
enum BoundedLine {
    /// The end of the input: nothing was read.
    End,
    /// A line, appended with its line break (the last line of the input may have none).
    Read,
    /// A line longer than any the line limit allows: read past, not appended.
    Long(LongLine),
}

/// A line read past without being held.
enum LongLine {
    /// Only blanks: the decoder skips such a line (no record).
    Blank,
    /// Over [`yujing_feeds::MAX_LINE_BYTES`]: its first [`yujing_feeds::OVERSIZED_HEAD_BYTES`] bytes, and its
    /// length without its line break (and a carriage return before it), as the decoder measures a line.
    Oversized { head: Vec<u8>, len: u64 },
}

/// Appends the next line of `reader` to `out`, unless it is longer than any line the limit allows: then it is
/// read to its end without being held, so a line of gigabytes takes no more memory than the limit.
/// `at_file_start`: a byte-order mark before the line is not part of it.
fn read_line_bounded(
    reader: &mut impl std::io::BufRead,
    out: &mut Vec<u8>,
    at_file_start: bool,
) -> std::io::Result<BoundedLine> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    // The most a line the decoder would accept may take: the limit, a byte-order mark, a CR and the LF.
    let most = yujing_feeds::MAX_LINE_BYTES + BOM.len() + 2;
    let begin = out.len();
    let mut complete = false;
    while out.len() - begin < most {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            complete = true;
            break;
        }
        let room = most - (out.len() - begin);
        match buffer.iter().position(|&b| b == b'\n') {
            Some(i) if i < room => {
                out.extend_from_slice(&buffer[..=i]);
                reader.consume(i + 1);
                complete = true;
                break;
            }
            _ => {
                let n = buffer.len().min(room);
                out.extend_from_slice(&buffer[..n]);
                reader.consume(n);
            }
        }
    }
    if out.len() == begin {
        return Ok(BoundedLine::End);
    }
    if complete {
        // The decoder judges its length (and rejects it, keeping its head, if it is over the limit).
        return Ok(BoundedLine::Read);
    }
    let line = &out[begin..];
    let bom = if at_file_start && line.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    let mut blank_so_far = line[bom..].iter().all(u8::is_ascii_whitespace);
    let head = line[bom..bom + yujing_feeds::OVERSIZED_HEAD_BYTES].to_vec();
    let mut len = (line.len() - bom) as u64;
    let mut last = line.last().copied();
    out.truncate(begin);
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        let end = buffer.iter().position(|&b| b == b'\n');
        let body = &buffer[..end.unwrap_or(buffer.len())];
        blank_so_far = blank_so_far && body.iter().all(u8::is_ascii_whitespace);
        len += body.len() as u64;
        if let Some(&byte) = body.last() {
            last = Some(byte);
        }
        let used = end.map_or(buffer.len(), |i| i + 1);
        reader.consume(used);
        if end.is_some() {
            break;
        }
    }
    if blank_so_far {
        return Ok(BoundedLine::Long(LongLine::Blank));
    }
    if last == Some(b'\r') {
        len -= 1;
    }
    Ok(BoundedLine::Long(LongLine::Oversized { head, len }))
}

/// The parties each of `units` names: those of its records' clues, and every phone and ID number written in its
/// bytes (a rejected record, a number in free text), sorted and without repeats.
fn unit_parties(
    normalizer: &Normalizer,
    units: &[RawUnit],
    records: &[PreparedRecord],
) -> Vec<Vec<PartyRef>> {
    let mut parties: Vec<Vec<PartyRef>> = units
        .iter()
        .map(|unit| {
            let text = String::from_utf8_lossy(&unit.bytes);
            normalizer
                .hasher()
                .keys_in(&text)
                .iter()
                .filter_map(PartyRef::of)
                .collect()
        })
        .collect();
    for record in records {
        if let (Prepared::Normalized(Some(Ok(clue))), Some(keys)) =
            (&record.outcome, parties.get_mut(record.unit))
        {
            keys.extend(
                clue.parties
                    .iter()
                    .flat_map(|p| p.keys.iter().filter_map(PartyRef::of)),
            );
        }
    }
    for keys in &mut parties {
        keys.sort_unstable();
        keys.dedup();
    }
    parties
}

impl<'a, L: Log + ?Sized> Ingestor<'a, L> {
    /// An ingestor writing to `log`, normalizing with `normalizer`, stamping times from `clock`.
    pub fn new(log: &'a L, normalizer: &'a Normalizer, clock: &'a dyn Clock) -> Ingestor<'a, L> {
        Ingestor {
            log,
            normalizer,
            clock,
            shard: Shard::WHOLE,
            part_bytes: PART_BYTES,
            vault: Vault::new(normalizer.hasher()),
            router: None,
            two_threads: false,
        }
    }

    /// Reads JSON Lines files in parts of about `bytes` (at least one line each) instead of [`PART_BYTES`].
    pub fn with_part_bytes(mut self, bytes: usize) -> Ingestor<'a, L> {
        self.part_bytes = bytes.max(1);
        self
    }

    /// Keeps only what belongs to `shard` of a sharded store (clues of its towns; raw units, dead letters and
    /// not-disputes that hash to it); the rest is counted in [`FileReport::other_shards`] and left to the other
    /// shards, which are given the same input (an HTTP push) or their own part of it ([`Ingestor::routing`]).
    pub fn for_shard(mut self, shard: Shard) -> Ingestor<'a, L> {
        self.shard = shard;
        self
    }

    /// Routes every input to the shards `router` splits it between instead of writing it: each record decoded
    /// and normalized here once, sealed for transport and appended to its shard's partition of the repartition
    /// topic, which that shard consumes ([`crate::route`]).
    pub fn routing(mut self, router: Router) -> Ingestor<'a, L> {
        self.router = Some(router);
        self
    }

    /// Makes [`Ingestor::ingest_paths`] write on a second thread while this one decodes and normalizes the
    /// next input: the same log, written about a third faster on two cores (the million-record year's ingest
    /// stage 63 → 43 s). Under glibc's malloc it cost memory the process kept afterwards (the writer's
    /// allocations stayed in that thread's arena, about 200 MB for a dense county's two months); under
    /// jemalloc, the binary's allocator, the million-record load's peak rose by 2 % (docs/PERFORMANCE.md,
    /// stop 37). A store's bulk ingest ([`crate::Pipeline::ingest_paths`]) and a tuning sweep take it.
    pub fn on_two_threads(mut self) -> Ingestor<'a, L> {
        self.two_threads = true;
        self
    }

    /// Ingests every input under `paths` (files, or directories whose files are named after their feed).
    pub fn ingest_paths(
        &self,
        paths: &[PathBuf],
        feed: Option<FeedId>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IngestReport, IngestError> {
        let Inputs {
            files: inputs,
            skipped,
        } = collect_inputs(paths, feed)?;
        let sizes: Vec<u64> = inputs
            .iter()
            .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        let total: u64 = sizes.iter().sum();
        let mut report = IngestReport {
            skipped,
            ..IngestReport::default()
        };
        let files: Vec<(PathBuf, FeedId, String, u64)> = inputs
            .into_iter()
            .zip(sizes)
            .map(|((path, feed), size)| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                (path, feed, name, size)
            })
            .collect();
        let mut files_done = FilesDone {
            pending: std::collections::VecDeque::new(),
            report: &mut report,
            done: 0,
            total,
            progress,
        };
        if self.two_threads {
            self.ingest_files_beside(&files, &mut files_done)?;
        } else {
            for (path, feed, name, size) in &files {
                files_done.begin(*feed, name, *size);
                let mut write_failed = None;
                let mut emit = |mut input: PreparedInput| {
                    let result = self.write_input(&mut input);
                    files_done.sent();
                    match files_done.absorb((input, result)) {
                        Ok(()) => true,
                        Err(error) => {
                            write_failed = Some(error);
                            false
                        }
                    }
                };
                let prepared = prepare_file(self.normalizer, self.part_bytes, path, *feed, name, &mut emit);
                if let Some(error) = write_failed {
                    return Err(error);
                }
                prepared?;
                files_done.prepared();
            }
        }
        Ok(report)
    }

    /// [`Ingestor::ingest_paths`] on two threads ([`Ingestor::on_two_threads`]): decoding and normalizing
    /// stay on this thread while a second one writes, an input behind. Inputs are written in the order
    /// prepared, so the log is the one a single thread writes, and the reports and progress are this
    /// thread's. Each input comes back once written and is freed here, where it was allocated: glibc's malloc
    /// frees a block into the arena of the thread that allocated it, under that arena's lock, so the writer
    /// freeing the inputs would contend with every allocation of this thread (a first version that did gained
    /// 5 % instead of a third).
    fn ingest_files_beside(
        &self,
        files: &[(PathBuf, FeedId, String, u64)],
        files_done: &mut FilesDone<'_>,
    ) -> Result<(), IngestError> {
        std::thread::scope(|scope| {
            let (to_write, inputs) = std::sync::mpsc::sync_channel::<PreparedInput>(1);
            let (written_tx, written) = std::sync::mpsc::channel::<Written>();
            scope.spawn(move || {
                for mut input in inputs {
                    let result = self.write_input(&mut input);
                    let failed = result.is_err();
                    if written_tx.send((input, result)).is_err() || failed {
                        return;
                    }
                }
            });
            let mut outcome = Ok(());
            for (path, feed, name, size) in files {
                files_done.begin(*feed, name, *size);
                let (mut write_failed, mut writer_gone) = (None, false);
                let mut emit = |input: PreparedInput| {
                    // Take back what has been written, before allocating more.
                    for back in written.try_iter() {
                        if let Err(error) = files_done.absorb(back) {
                            write_failed = Some(error);
                            return false;
                        }
                    }
                    files_done.sent();
                    writer_gone = to_write.send(input).is_err();
                    !writer_gone
                };
                let prepared = prepare_file(self.normalizer, self.part_bytes, path, *feed, name, &mut emit);
                if let Some(error) = write_failed {
                    outcome = Err(error);
                    break;
                }
                if writer_gone {
                    // It failed: its error is among what comes back, below.
                    break;
                }
                if let Err(error) = prepared {
                    // What was sent before is written first, then the ingest stops with this.
                    outcome = Err(error);
                    break;
                }
                files_done.prepared();
            }
            drop(to_write);
            // The writer ends once it has written what it was sent (or failed): take the rest back.
            for back in written {
                files_done.absorb(back)?;
            }
            outcome
        })
    }

    /// Writes `input` (or routes it, when routing; it is then taken, and left empty).
    fn write_input(&self, input: &mut PreparedInput) -> Result<FileReport, IngestError> {
        if self.router.is_some() {
            let empty = PreparedInput::empty(input.feed, &input.file);
            return self.ingest_prepared(std::mem::replace(input, empty));
        }
        self.write_prepared(input)
    }

    /// Ingests one input of `feed`, named `file`.
    pub fn ingest_bytes(&self, feed: FeedId, file: &str, bytes: &[u8]) -> Result<FileReport, IngestError> {
        self.ingest_prepared(PreparedInput::new(self.normalizer, feed, file, bytes))
    }

    /// Ingests an input decoded and normalized beforehand ([`PreparedInput::new`], with the same normalizer).
    pub fn ingest_prepared(&self, mut input: PreparedInput) -> Result<FileReport, IngestError> {
        let mut report = FileReport {
            file: input.file.clone(),
            feed: Some(input.feed),
            ..FileReport::default()
        };
        if let Some(router) = &self.router {
            router.route(input, self.clock.now().timestamp_millis(), self.log, &mut report)?;
            return Ok(report);
        }
        self.write_prepared(&mut input)
    }

    /// Writes `input` onto the log (not routed), a chunk of units at a time. What it allocated stays in it, the
    /// clues written included, to be freed by its owner.
    fn write_prepared(&self, input: &mut PreparedInput) -> Result<FileReport, IngestError> {
        let mut report = FileReport {
            file: input.file.clone(),
            feed: Some(input.feed),
            ..FileReport::default()
        };
        let mut start = 0;
        while start < input.units.len() {
            let end = (start + UNITS_PER_BATCH).min(input.units.len());
            self.write_chunk(input, start..end, &mut report)?;
            start = end;
        }
        Ok(report)
    }

    /// Which units and records of `units` this shard keeps: `None` for the whole store, which keeps everything.
    /// A shard keeps the clues of its towns and the records without a town whose unit hashes to it
    /// ([`PreparedInput::owner`]); it logs a unit when it keeps one of its records.
    fn claims(&self, input: &PreparedInput, units: std::ops::Range<usize>) -> Option<Claims> {
        if self.shard.is_whole() {
            return None;
        }
        let mut claims = Claims {
            units: vec![false; units.len()],
            records: HashSet::new(),
        };
        let mut has_records = vec![false; units.len()];
        for (index, record) in input
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| units.contains(&r.unit))
        {
            let unit = record.unit - units.start;
            has_records[unit] = true;
            if input.owner(record, self.shard.count) == self.shard.index {
                claims.records.insert(index);
                claims.units[unit] = true;
            }
        }
        // A unit that yielded no record (a header, a blank export) is kept by the shard its bytes hash to.
        for (unit, has) in has_records.iter().enumerate() {
            if !has && input.unit_owner(units.start + unit, self.shard.count) == self.shard.index {
                claims.units[unit] = true;
            }
        }
        Some(claims)
    }

    fn record_state(
        &self,
        pending: &FastMap<String, RecordState>,
        clue_id: &str,
    ) -> Result<RecordState, IngestError> {
        if let Some(state) = pending.get(clue_id) {
            return Ok(state.clone());
        }
        match self.log.state(&state_key(clue_id))? {
            None => Ok(RecordState::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| IngestError::CorruptState {
                key: clue_id.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the raw units `units` of `input` and the clues and dead letters of their records, in one batch.
    fn write_chunk(
        &self,
        input: &mut PreparedInput,
        units: std::ops::Range<usize>,
        report: &mut FileReport,
    ) -> Result<(), IngestError> {
        let claims = self.claims(input, units.clone());
        let PreparedInput {
            feed,
            units: raw_units,
            records,
            unit_parties,
            written,
            ..
        } = input;
        let feed = *feed;
        let mut chunk = Chunk {
            feed,
            units: raw_units,
            unit_parties,
            now: self.clock.now(),
            topic: raw_topic(feed),
            batch: Batch::new(),
            pending: FastMap::new(),
            pending_dead: Vec::new(),
        };
        let owned = claims.as_ref().map(|c| c.units.as_slice());
        let mut sealer = self.vault.sealer(self.log)?;
        let raw_offsets = self.log_raw_units(&mut chunk, &mut sealer, units.clone(), owned, report)?;
        for (index, record) in records
            .iter_mut()
            .enumerate()
            .filter(|(_, r)| units.contains(&r.unit))
        {
            report.records += 1;
            if claims.as_ref().is_some_and(|c| !c.records.contains(&index)) {
                // On a shard: another shard's record.
                report.other_shards += 1;
                continue;
            }
            // A span per record: feed, position and source id (redacted, in case a bad record put a phone there).
            let _span = tracing::debug_span!(
                "record",
                feed = %feed,
                at = %record.location,
                source_id = %yujing_feeds::pii::redact(record.source_id.as_deref().unwrap_or("")),
            )
            .entered();
            let raw = RawPointer {
                topic: chunk.topic.clone(),
                offset: raw_offsets[record.unit - units.start],
                location: record.location.clone(),
            };
            let reject = match &mut record.outcome {
                Prepared::NotADispute => {
                    report.not_disputes += 1;
                    continue;
                }
                Prepared::Rejected(reject) => reject.clone(),
                Prepared::Normalized(outcome) => match outcome.take() {
                    Some(Ok(mut clue)) => {
                        // Normalized before the raw offsets were known: point it now.
                        clue.raw = raw;
                        self.write_clue(&mut chunk, &mut clue, report)?;
                        written.push(clue);
                        continue;
                    }
                    Some(Err(reject)) => reject,
                    // Each record is written once: a second time would be a bug, said rather than skipped.
                    None => Reject::new(RejectKind::Internal, ALREADY_WRITTEN),
                },
            };
            report.rejected += 1;
            *report
                .rejected_by_kind
                .entry(reject.kind.as_str().to_owned())
                .or_default() += 1;
            self.dead_letter(&mut chunk, record, &reject, raw)?;
        }
        // A chunk that brought nothing new (a re-read input, or only other shards' records) costs no write: on
        // Kafka every write is a transaction.
        if !chunk.batch.is_empty() {
            self.log.write(chunk.batch)?;
        }
        sealer.written();
        Ok(())
    }

    /// Appends the raw units `units` not logged before (`owned`: on a shard, which of them it keeps) and returns
    /// each unit's raw offset. Each distinct unit is logged once per feed; a unit received again points at its
    /// first receipt, so a drop directory read every few minutes does not grow the raw log.
    fn log_raw_units(
        &self,
        chunk: &mut Chunk<'_>,
        sealer: &mut UnitSealer<'_, L>,
        units: std::ops::Range<usize>,
        owned: Option<&[bool]>,
        report: &mut FileReport,
    ) -> Result<Vec<u64>, IngestError> {
        let mut next_raw = self.log.end_offset(&chunk.topic)?;
        let mut raw_offsets = Vec::with_capacity(units.len());
        let mut pending_raw: FastMap<Vec<u8>, u64> = FastMap::new();
        let first = units.start;
        // The units' keys and the offsets logged under them, looked up together; then the keys of the people
        // the units not logged before name, together too (see `Log::states`). A unit not `kept` has no record
        // that is this shard's: the shard that keeps them logs it.
        let kept: Vec<bool> = (0..units.len())
            .map(|index| owned.is_none_or(|owned| owned[index]))
            .collect();
        let asked: Vec<Vec<u8>> = chunk.units[units.clone()]
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| **kept)
            .map(|(unit, _)| raw_state_key(chunk.feed, &unit.bytes))
            .collect();
        let answers = self.log.states(&asked)?;
        let mut answered = asked.into_iter().zip(answers).map(|(key, bytes)| {
            let logged = bytes
                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
                .map(u64::from_be_bytes);
            (key, logged)
        });
        let looked_up: Vec<Option<(Vec<u8>, Option<u64>)>> = kept
            .iter()
            .map(|&kept| if kept { answered.next() } else { None })
            .collect();
        sealer.look_up(
            looked_up
                .iter()
                .enumerate()
                .filter(|(_, looked_up)| matches!(looked_up, Some((_, None))))
                .filter_map(|(index, _)| chunk.unit_parties.get(first + index))
                .flatten()
                .copied(),
        )?;
        for ((index, unit), looked_up) in chunk.units[units].iter().enumerate().zip(looked_up) {
            let Some((key, logged)) = looked_up else {
                raw_offsets.push(0);
                continue;
            };
            let known = pending_raw.get(&key).copied().or(logged);
            let offset = match known {
                Some(offset) => offset,
                None => {
                    let parties = chunk
                        .unit_parties
                        .get(first + index)
                        .map_or(&[][..], Vec::as_slice);
                    let value = sealer.seal(&unit.bytes, parties, &mut chunk.batch)?;
                    chunk.batch.append(
                        chunk.topic.clone(),
                        Record {
                            key: encode("a raw unit's location", &unit.location)?,
                            value,
                            timestamp_ms: chunk.now.timestamp_millis(),
                        },
                    );
                    chunk
                        .batch
                        .put_state(key.clone(), next_raw.to_be_bytes().to_vec());
                    report.raw_units += 1;
                    next_raw += 1;
                    next_raw - 1
                }
            };
            pending_raw.insert(key, offset);
            raw_offsets.push(offset);
        }
        Ok(raw_offsets)
    }

    /// Appends `clue` as its record's next version, unless the record delivered this content before.
    fn write_clue(
        &self,
        chunk: &mut Chunk<'_>,
        clue: &mut Clue,
        report: &mut FileReport,
    ) -> Result<(), IngestError> {
        let mut state = self.record_state(&chunk.pending, &clue.clue_id)?;
        // The fingerprint is taken here, where the content's JSON it digests becomes the clue's JSON for the
        // log. Taken where the record is normalized, on a bulk load's other thread, and the JSON handed over with
        // the clue, it measured the same and held more memory in flight (docs/PERFORMANCE.md, stop 43).
        let (print, content) = fingerprint(clue)?;
        if state.fingerprints.contains(&print) {
            report.duplicates += 1;
            return Ok(());
        }
        if state.fingerprints.is_empty() {
            report.new_clues += 1;
        } else {
            report.new_versions += 1;
        }
        if clue.category_inferred {
            report.category_inferred += 1;
        }
        state.fingerprints.push(print);
        clue.version = state.fingerprints.len() as u32;
        chunk.batch.append(
            CLUES,
            Record {
                key: clue.clue_id.clone().into_bytes(),
                value: match delivered_json(&content, clue) {
                    Some(json) => json,
                    None => encode("a clue", &*clue)?,
                },
                timestamp_ms: chunk.now.timestamp_millis(),
            },
        );
        chunk
            .batch
            .put_state(state_key(&clue.clue_id), encode("a clue's ingest state", &state)?);
        chunk.pending.insert(clue.clue_id.clone(), state);
        Ok(())
    }

    /// Appends `record`'s dead letter, unless the same bad record is in the dead-letter store already.
    fn dead_letter(
        &self,
        chunk: &mut Chunk<'_>,
        record: &PreparedRecord,
        reject: &Reject,
        raw: RawPointer,
    ) -> Result<(), IngestError> {
        let feed = chunk.feed;
        let key = dead_letter_key(
            feed,
            &chunk.units[record.unit].bytes,
            record.location.record_index,
            reject.kind,
        );
        if chunk.pending_dead.contains(&key) || self.log.state(&key)?.is_some() {
            // The same bad record, received again: already in the dead-letter store.
            return Ok(());
        }
        let letter = DeadLetter {
            feed,
            location: record.location.clone(),
            source_id: record.source_id.as_deref().map(pii::redact),
            kind: reject.kind,
            reason: pii::redact(&reject.reason),
            raw: Some(raw),
            rejected_at: chunk.now,
        };
        tracing::warn!(
            feed = %feed,
            at = %letter.location,
            kind = letter.kind.as_str(),
            reason = %letter.reason,
            "record rejected"
        );
        chunk.batch.append(
            DEADLETTER,
            Record {
                key: feed.as_str().as_bytes().to_vec(),
                value: encode("a dead letter", &letter)?,
                timestamp_ms: chunk.now.timestamp_millis(),
            },
        );
        chunk.batch.put_state(key.clone(), b"1".to_vec());
        chunk.pending_dead.push(key);
        Ok(())
    }
}

/// What one chunk's write is building: the batch, and what it has pending for the records after.
struct Chunk<'a> {
    feed: FeedId,
    units: &'a [RawUnit],
    /// The parties each of `units` names (see [`PreparedInput`]).
    unit_parties: &'a [Vec<PartyRef>],
    /// When the chunk is written (every record's append time).
    now: DateTime<Utc>,
    /// The feed's raw topic.
    topic: String,
    batch: Batch,
    /// The ingest state of records written in this batch, by clue id. This map, the raw units' keys of a chunk
    /// and the unit of work's state keys are hashed with foldhash (seeded per process): with SipHash, hashing
    /// was an eighth of the ingest's writing thread (docs/PERFORMANCE.md, stop 45).
    pending: FastMap<String, RecordState>,
    /// The dead-letter keys written in this batch.
    pending_dead: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clues of the hotline's golden file, as its decoder and normalizer give them.
    fn golden_clues() -> Vec<Clue> {
        clues_of_golden(include_str!(
            "../../yujing-feeds/tests/fixtures/hotline12345.good.jsonl.golden.json"
        ))
    }

    /// The clues of a feed's golden file (its text).
    fn clues_of_golden(text: &str) -> Vec<Clue> {
        let golden: serde_json::Value = serde_json::from_str(text).expect("the golden file is JSON");
        golden["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter_map(|record| record.get("clue"))
            .map(|clue| serde_json::from_value(clue.clone()).expect("a clue"))
            .collect()
    }

    /// The clue's JSON for the log made from its content's is byte for byte the clue encoded whole: for each
    /// feed's golden clues, delivered at any version, with and without a line, and for texts that spell the
    /// very fields the places are found by.
    #[test]
    fn a_clue_made_from_its_content_is_the_clue_encoded_whole() {
        let golden = [
            include_str!("../../yujing-feeds/tests/fixtures/hotline12345.good.jsonl.golden.json"),
            include_str!("../../yujing-feeds/tests/fixtures/grid.good.jsonl.golden.json"),
            include_str!("../../yujing-feeds/tests/fixtures/police.good.csv.golden.json"),
            include_str!("../../yujing-feeds/tests/fixtures/screening.good.csv.golden.json"),
            include_str!("../../yujing-feeds/tests/fixtures/justice.good.xml.golden.json"),
            include_str!("../../yujing-feeds/tests/fixtures/exchange.good.jsonl.golden.json"),
        ];
        let mut clues: Vec<Clue> = golden.iter().flat_map(|text| clues_of_golden(text)).collect();
        assert!(clues.len() >= 12, "{} golden clues", clues.len());
        let mut tricky = clues[0].clone();
        tricky.source_id = r#"a","version":0,"occurred_at":"x\"#.to_owned();
        tricky.description = r#","reported_at":"1970-01-01T00:00:00Z","raw":{"topic":"","offset":0,"location":{"file":"","record_index":0}}}"#.to_owned();
        tricky.title = Some(r#"\",\"version\":0,"#.to_owned());
        clues.push(tricky);
        for (i, mut clue) in clues.into_iter().enumerate() {
            for (version, line) in [(1, None), (2, Some(7)), (4_000_000_000, Some(u64::MAX))] {
                clue.version = version;
                clue.raw = RawPointer {
                    topic: format!("raw.{}", clue.feed),
                    offset: 1_000_000 + i as u64,
                    location: SourceLocation {
                        file: "导出/2026-03 \"台账\".xlsx".to_owned(),
                        line,
                        record_index: 42,
                    },
                };
                let whole = serde_json::to_vec(&clue).expect("encodes");
                let (_, content) = fingerprint(&mut clue).expect("encodes");
                assert_eq!(
                    delivered_json(&content, &clue).map(String::from_utf8),
                    Some(String::from_utf8(whole)),
                    "clue {i} at version {version}"
                );
            }
        }
        // Content that does not hold the places is refused, not spliced wrong.
        assert_eq!(delivered_json(b"{}", &golden_clues()[0]), None);
        assert_eq!(delivered_json(br#"{"version":0}"#, &golden_clues()[0]), None);
    }

    /// A version's fingerprint is what the stored state of every existing log compares against: setting the
    /// delivery fields aside in place gives exactly the digest of the content copied with them emptied (the
    /// definition it replaced), the clue comes back as it was, and the definition has not moved.
    #[test]
    fn a_fingerprint_is_the_digest_of_the_content_and_leaves_the_clue_as_it_was() {
        let clues = golden_clues();
        assert!(clues.len() >= 3);
        let mut prints = Vec::new();
        for mut clue in clues {
            let mut content = clue.clone();
            content.version = 0;
            content.reported_at = DateTime::<Utc>::UNIX_EPOCH;
            content.raw = undelivered();
            let copied = pii::letters_hex(&Sha256::digest(serde_json::to_vec(&content).expect("encodes")));
            let before = serde_json::to_vec(&clue).expect("encodes");
            let (print, _) = fingerprint(&mut clue).expect("encodes");
            assert_eq!(print, copied);
            assert_eq!(serde_json::to_vec(&clue).expect("encodes"), before);
            prints.push(print);
        }
        assert_eq!(
            prints[0],
            "pkadelneodngdhfeloeoogopoidjcljoimmjhmncloneimpnmpkhdplogoafondg"
        );
    }
}
