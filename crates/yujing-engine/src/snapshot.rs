//! Snapshots of the pipeline's projections, kept beside the log, so that a restart does not re-correlate the
//! whole history.
//!
//! A snapshot is one file, `snapshot-<clues end>.yjs` in the log's [`Log::snapshot_dir`]:
//!
//! ```text
//! "YJSNAP\r\n" | header length (u32 LE) | header (JSON) | section … section
//! ```
//!
//! The header says which yujing wrote it, the layout ([`FORMAT`] and the correlator's
//! [`yujing_correlate::SNAPSHOT_FORMAT`]), the correlation settings' fingerprint, the end of every topic the
//! projections had read (`positions`), the digest of the last record below each end (`anchors`, so a snapshot
//! is never applied to another log than its own), and the length and SHA-256 of each section: the correlator
//! (postcard), the correlation stage (postcard) and the work-order stage (JSON, as its events are on the log).
//!
//! Loading checks all of it before anything is used; a missing, old, damaged or foreign snapshot is reported
//! and the caller rebuilds from the log. A snapshot is written to a temporary file, synced, then renamed, so a
//! crash leaves the previous one whole; the two newest are kept.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yujing_log::{Log, LogError, Offset};

use crate::correlate::StageSnapshot;
use crate::orders::OrderSnapshot;
use crate::topics::{CLUES, LINKS, WARNINGS, WORKORDERS};

/// The file layout. Raise it when the header or a section changes shape.
pub const FORMAT: u32 = 4;

const MAGIC: &[u8; 8] = b"YJSNAP\r\n";

/// How many snapshots are kept: the newest, and the one before in case the newest cannot be read.
const KEEP: usize = 2;

/// A failure to write a snapshot. The pipeline carries on without it.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotWriteError {
    /// The log has no snapshot directory (a read-only view of every shard).
    #[error("this log keeps no snapshots")]
    NoDirectory,
    /// Reading the log's ends or anchors failed.
    #[error("reading the log for a snapshot")]
    Log(#[from] LogError),
    /// Writing the file failed.
    #[error("writing the snapshot {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A section could not be encoded (a bug).
    #[error("encoding the snapshot: {0}")]
    Encode(String),
}

/// The end of each topic the projections had read when the snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    /// `clues` end.
    pub clues: Offset,
    /// `workorders` end.
    pub workorders: Offset,
    /// `warnings` end.
    pub warnings: Offset,
    /// `links` end.
    pub links: Offset,
}

impl Positions {
    /// The end of each topic of `log` now.
    pub(crate) fn at_end<L: Log + ?Sized>(log: &L) -> Result<Positions, LogError> {
        Ok(Positions {
            clues: log.end_offset(CLUES)?,
            workorders: log.end_offset(WORKORDERS)?,
            warnings: log.end_offset(WARNINGS)?,
            links: log.end_offset(LINKS)?,
        })
    }
}

/// The digest of the last record below a position: the same offset on another log holds another record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Anchor {
    topic: String,
    offset: Offset,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Section {
    name: String,
    len: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format: u32,
    correlator_format: u32,
    yujing: String,
    taken_at_ms: i64,
    settings: String,
    positions: Positions,
    anchors: Vec<Anchor>,
    sections: Vec<Section>,
}

/// What a snapshot holds, decoded.
pub(crate) struct Loaded {
    /// The file it came from.
    pub path: PathBuf,
    /// Where the projections had read to.
    pub positions: Positions,
    /// The file's bytes; the correlator's and the work orders' sections are ranges of them, checked and
    /// decoded on their own (two threads at a restart).
    bytes: Vec<u8>,
    correlator_at: (std::ops::Range<usize>, String),
    orders_at: (std::ops::Range<usize>, String),
    /// The correlation stage's own state.
    pub stage: StageSnapshot,
}

impl Loaded {
    /// The correlator's bytes ([`yujing_correlate::Correlator::from_snapshot`]), once their checksum holds.
    pub fn correlator(&self) -> Result<&[u8], String> {
        let (range, sha256) = &self.correlator_at;
        let bytes = &self.bytes[range.clone()];
        if sha256_hex(bytes) != *sha256 {
            return Err("section correlator is damaged (checksum)".to_owned());
        }
        Ok(bytes)
    }

    /// The work-order stage, and per feed when it last delivered (ms) as of `positions.clues`.
    pub fn orders(&self) -> Result<(OrderSnapshot, Vec<(String, i64)>), String> {
        let (range, sha256) = &self.orders_at;
        let bytes = &self.bytes[range.clone()];
        if sha256_hex(bytes) != *sha256 {
            return Err("section orders is damaged (checksum)".to_owned());
        }
        serde_json::from_slice(bytes).map_err(|e| format!("the work orders do not read: {e}"))
    }
}

/// What is written: borrowed from the running pipeline.
pub(crate) struct ToWrite {
    pub positions: Positions,
    pub settings_fingerprint: String,
    pub correlator: Vec<u8>,
    pub stage: StageSnapshot,
    pub orders: OrderSnapshot,
    pub feed_last: Vec<(String, i64)>,
    pub now_ms: i64,
}

/// A snapshot taken and anchored to its log, not yet written: what the pipeline's lock is needed for is done.
/// [`Taken::write`] encodes, checksums and writes it, and may run on a thread of its own while the pipeline
/// goes on.
pub(crate) struct Taken {
    dir: PathBuf,
    anchors: Vec<Anchor>,
    snapshot: ToWrite,
}

/// Takes `snapshot` of the stages of `log`: reads the anchors (the last record below each position), which must
/// be done while nothing writes the log.
pub(crate) fn take<L: Log + ?Sized>(log: &L, snapshot: ToWrite) -> Result<Taken, SnapshotWriteError> {
    let dir = log.snapshot_dir().ok_or(SnapshotWriteError::NoDirectory)?;
    Ok(Taken {
        dir,
        anchors: anchors(log, &snapshot.positions)?,
        snapshot,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn anchors<L: Log + ?Sized>(log: &L, positions: &Positions) -> Result<Vec<Anchor>, LogError> {
    let mut anchors = Vec::new();
    for (topic, end) in [
        (CLUES, positions.clues),
        (WORKORDERS, positions.workorders),
        (WARNINGS, positions.warnings),
        (LINKS, positions.links),
    ] {
        // The last record below the end. On Kafka a transaction's marker takes an offset too, so look a
        // little way back rather than at `end - 1` alone.
        let from = end.saturating_sub(8);
        let last = log.read(topic, from, 8)?.into_iter().rfind(|e| e.offset < end);
        if let Some(entry) = last {
            let mut sha = Sha256::new();
            sha.update(&entry.record.key);
            sha.update([0]);
            sha.update(&entry.record.value);
            anchors.push(Anchor {
                topic: topic.to_owned(),
                offset: entry.offset,
                sha256: sha.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
    }
    Ok(anchors)
}

fn file_name(positions: &Positions) -> String {
    format!("snapshot-{:020}.yjs", positions.clues)
}

impl Taken {
    /// Writes the snapshot into the log's snapshot directory; returns its path. Keeps the [`KEEP`] newest.
    pub(crate) fn write(self) -> Result<PathBuf, SnapshotWriteError> {
        let Taken {
            dir,
            anchors,
            snapshot,
        } = self;
        write_at(&dir, anchors, &snapshot)
    }
}

/// Encodes `snapshot` and writes it into `dir`: a temporary file, synced, then renamed.
fn write_at(dir: &Path, anchors: Vec<Anchor>, snapshot: &ToWrite) -> Result<PathBuf, SnapshotWriteError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SnapshotWriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stage =
        postcard::to_stdvec(&snapshot.stage).map_err(|e| SnapshotWriteError::Encode(e.to_string()))?;
    let orders = serde_json::to_vec(&(&snapshot.orders, &snapshot.feed_last))
        .map_err(|e| SnapshotWriteError::Encode(e.to_string()))?;
    let sections = [
        ("correlator", snapshot.correlator.as_slice()),
        ("correlation-stage", stage.as_slice()),
        ("orders", orders.as_slice()),
    ];
    let header = Header {
        format: FORMAT,
        correlator_format: yujing_correlate::SNAPSHOT_FORMAT,
        yujing: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at_ms: snapshot.now_ms,
        settings: snapshot.settings_fingerprint.clone(),
        positions: snapshot.positions,
        anchors,
        sections: sections
            .iter()
            .map(|(name, bytes)| Section {
                name: (*name).to_owned(),
                len: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| SnapshotWriteError::Encode(e.to_string()))?;
    let path = dir.join(file_name(&snapshot.positions));
    let temporary = dir.join(format!(".{}.tmp", file_name(&snapshot.positions)));
    {
        let file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io(&temporary))?;
        out.write_all(&(header.len() as u32).to_le_bytes())
            .map_err(io(&temporary))?;
        out.write_all(&header).map_err(io(&temporary))?;
        for (_, bytes) in sections {
            out.write_all(bytes).map_err(io(&temporary))?;
        }
        let file = out.into_inner().map_err(|e| SnapshotWriteError::Io {
            path: temporary.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&temporary))?;
    }
    std::fs::rename(&temporary, &path).map_err(io(&path))?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    for old in snapshot_files(dir).into_iter().skip(KEEP) {
        if let Err(error) = std::fs::remove_file(&old) {
            tracing::warn!(file = %old.display(), %error, "cannot remove an old snapshot");
        }
    }
    Ok(path)
}

/// The snapshot files in `dir`, newest (highest `clues` end) first.
fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(".yjs"))
        })
        .collect();
    files.sort();
    files.reverse();
    files
}

/// Why no snapshot was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSnapshot {
    /// The log keeps none, or none was written yet.
    None,
    /// Every snapshot found was refused; the reasons, newest first (`file: reason`).
    Refused(Vec<String>),
}

/// Tries the snapshots of `log`, newest first, until `restore` accepts one: each must be whole, of this
/// layout, taken under `settings_fingerprint` and of this very log, and `restore` may still refuse it (a
/// section that fails its checksum when decoded) with a reason. Returns what `restore` made, or why no
/// snapshot was used.
pub(crate) fn restore_newest<L: Log + ?Sized, T, E>(
    log: &L,
    settings_fingerprint: &str,
    mut restore: impl FnMut(Loaded) -> Result<Result<T, String>, E>,
) -> Result<Result<T, NoSnapshot>, E> {
    let Some(dir) = log.snapshot_dir() else {
        return Ok(Err(NoSnapshot::None));
    };
    let files = snapshot_files(&dir);
    if files.is_empty() {
        return Ok(Err(NoSnapshot::None));
    }
    let mut refused = Vec::new();
    for path in files {
        let outcome = match read_one(log, &path, settings_fingerprint) {
            Ok(loaded) => restore(loaded)?,
            Err(reason) => Err(reason),
        };
        match outcome {
            Ok(restored) => return Ok(Ok(restored)),
            Err(reason) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                refused.push(format!("{name}: {reason}"));
            }
        }
    }
    Ok(Err(NoSnapshot::Refused(refused)))
}

fn read_one<L: Log + ?Sized>(log: &L, path: &Path, settings_fingerprint: &str) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a yujing snapshot (no magic)")?;
    let (length, rest) = rest.split_at_checked(4).ok_or("cut short in its header")?;
    let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
    let (header, mut body) = rest.split_at_checked(length).ok_or("cut short in its header")?;
    let header: Header =
        serde_json::from_slice(header).map_err(|e| format!("its header does not read: {e}"))?;
    if header.format != FORMAT || header.correlator_format != yujing_correlate::SNAPSHOT_FORMAT {
        return Err(format!(
            "written by yujing {} in format {}/{}; this yujing reads {FORMAT}/{}",
            header.yujing,
            header.format,
            header.correlator_format,
            yujing_correlate::SNAPSHOT_FORMAT
        ));
    }
    if header.settings != settings_fingerprint {
        return Err("taken under other [correlate] settings".to_owned());
    }
    let mut start = MAGIC.len() + 4 + length;
    let mut sections = Vec::new();
    for section in &header.sections {
        let (_, after) = body
            .split_at_checked(section.len as usize)
            .ok_or_else(|| format!("cut short in section {}", section.name))?;
        let end = start + section.len as usize;
        sections.push((start..end, section.sha256.clone()));
        start = end;
        body = after;
    }
    if !body.is_empty() || sections.len() != 3 {
        return Err("its sections do not match its header".to_owned());
    }
    // Of this log: each topic reaches as far as the snapshot read, and holds the same last record there.
    let ends = Positions::at_end(log).map_err(|e| format!("cannot read the log's ends: {e}"))?;
    let p = header.positions;
    if ends.clues < p.clues
        || ends.workorders < p.workorders
        || ends.warnings < p.warnings
        || ends.links < p.links
    {
        return Err("it covers more of the log than the log holds (a snapshot of another store?)".to_owned());
    }
    let found = anchors(log, &p).map_err(|e| format!("cannot read the log: {e}"))?;
    if found != header.anchors {
        return Err("the log's records at its positions differ (a snapshot of another store)".to_owned());
    }
    let (stage_at, stage_sha256) = &sections[1];
    let stage_bytes = &bytes[stage_at.clone()];
    if sha256_hex(stage_bytes) != *stage_sha256 {
        return Err("section correlation-stage is damaged (checksum)".to_owned());
    }
    let stage: StageSnapshot =
        postcard::from_bytes(stage_bytes).map_err(|e| format!("the correlation stage does not read: {e}"))?;
    let orders_at = sections.pop().unwrap_or_default();
    let correlator_at = sections.swap_remove(0);
    Ok(Loaded {
        path: path.to_owned(),
        positions: p,
        bytes,
        correlator_at,
        orders_at,
        stage,
    })
}
