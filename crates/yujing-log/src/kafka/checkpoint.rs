//! A checkpoint of the state a Kafka log keeps in memory, so that opening the log reads only the tail of the
//! compacted state topic, as a Kafka Streams task restores its store from a `.checkpoint` and the changelog after
//! it.
//!
//! One file, `state.yjc`, in the log's snapshot directory (which is already one store's, one partition's):
//!
//! ```text
//! "YJSTATE\n" | header length (u32 LE) | header (JSON) | body: (key length u32 LE, key, value length u32 LE, value)*
//! ```
//!
//! The header names the state topic and partition, the offset the body covers (every committed state record
//! below it is folded in), when it was written, the number of keys and the body's SHA-256. Reading the topic
//! from an offset at or below the true one is always right (a record applied twice sets the same value), so the
//! offset is read after the state is copied, under the producer's lock. A checkpoint is refused — and the whole
//! topic read — when it is damaged, of another topic or partition, covers more than the topic holds, or is older
//! than the topic's `delete.retention.ms` (compaction may since have dropped a tombstone that deletes one of its
//! keys). It is written to a temporary file, synced and renamed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Offset;

/// The layout; raise it when the header or the body changes shape.
const FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"YJSTATE\n";
const FILE: &str = "state.yjc";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    topic: String,
    partition: i32,
    offset: Offset,
    written_ms: i64,
    keys: usize,
    sha256: String,
}

/// A checkpoint read back.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    /// The state topic offset it covers: read the topic from here.
    pub offset: Offset,
    /// When it was written (epoch milliseconds).
    pub written_ms: i64,
    /// The state.
    pub state: HashMap<Vec<u8>, Vec<u8>>,
}

/// Writes the checkpoint of `state` covering the state topic `topic` partition `partition` below `offset`.
pub(crate) fn write(
    dir: &Path,
    topic: &str,
    partition: i32,
    offset: Offset,
    state: &HashMap<Vec<u8>, Vec<u8>>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut keys: Vec<(&Vec<u8>, &Vec<u8>)> = state.iter().collect();
    keys.sort();
    let mut body = Vec::with_capacity(keys.iter().map(|(k, v)| k.len() + v.len() + 8).sum());
    for (key, value) in &keys {
        body.extend_from_slice(&(key.len() as u32).to_le_bytes());
        body.extend_from_slice(key);
        body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        body.extend_from_slice(value);
    }
    let header = Header {
        format: FORMAT,
        topic: topic.to_owned(),
        partition,
        offset,
        written_ms: chrono::Utc::now().timestamp_millis(),
        keys: keys.len(),
        sha256: hex(&Sha256::digest(&body)),
    };
    let header = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    let path = dir.join(FILE);
    let temporary = dir.join(format!(".{FILE}.tmp"));
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&(header.len() as u32).to_le_bytes())?;
        file.write_all(&header)?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, &path)?;
    if let Ok(directory) = std::fs::File::open(dir) {
        directory.sync_all()?;
    }
    Ok(path)
}

/// The checkpoint in `dir` for `topic` partition `partition`: `Ok(None)` when there is none, `Err(reason)` when
/// it cannot be used.
pub(crate) fn read(dir: &Path, topic: &str, partition: i32) -> Result<Option<Checkpoint>, String> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("reading {}: {error}", path.display())),
    };
    let damaged = |what: &str| format!("{} is damaged: {what}", path.display());
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| damaged("not a state checkpoint"))?;
    let (length, rest) = rest.split_at_checked(4).ok_or_else(|| damaged("cut short"))?;
    let length = u32::from_le_bytes(length.try_into().map_err(|_| damaged("cut short"))?) as usize;
    let (header, body) = rest
        .split_at_checked(length)
        .ok_or_else(|| damaged("cut short"))?;
    let header: Header = serde_json::from_slice(header).map_err(|e| damaged(&e.to_string()))?;
    if header.format != FORMAT {
        return Err(format!(
            "{} has layout {}, this yujing reads {FORMAT}",
            path.display(),
            header.format
        ));
    }
    if header.topic != topic || header.partition != partition {
        return Err(format!(
            "{} is of {} partition {}, not of {topic} partition {partition}",
            path.display(),
            header.topic,
            header.partition
        ));
    }
    if hex(&Sha256::digest(body)) != header.sha256 {
        return Err(damaged("its checksum does not match"));
    }
    let mut state = HashMap::with_capacity(header.keys);
    let mut rest = body;
    let take = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let (length, after) = rest.split_at_checked(4)?;
        let length = u32::from_le_bytes(length.try_into().ok()?) as usize;
        let (value, after) = after.split_at_checked(length)?;
        *rest = after;
        Some(value.to_vec())
    };
    while !rest.is_empty() {
        let key = take(&mut rest).ok_or_else(|| damaged("a key is cut short"))?;
        let value = take(&mut rest).ok_or_else(|| damaged("a value is cut short"))?;
        state.insert(key, value);
    }
    if state.len() != header.keys {
        return Err(damaged("it holds another number of keys than its header says"));
    }
    Ok(Some(Checkpoint {
        offset: header.offset,
        written_ms: header.written_ms,
        state,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> HashMap<Vec<u8>, Vec<u8>> {
        HashMap::from([
            (b"rec/a".to_vec(), b"1".to_vec()),
            (b"raw/b".to_vec(), Vec::new()),
            (Vec::new(), b"empty key".to_vec()),
        ])
    }

    #[test]
    fn a_checkpoint_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "y.state", 3, 42, &state()).unwrap();
        let read = read(dir.path(), "y.state", 3).unwrap().unwrap();
        assert_eq!(read.offset, 42);
        assert_eq!(read.state, state());
        assert!(read.written_ms > 0);
    }

    #[test]
    fn none_is_none_and_a_damaged_or_foreign_checkpoint_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), "y.state", 0).unwrap().is_none());
        let path = write(dir.path(), "y.state", 0, 7, &state()).unwrap();
        let refused = read(dir.path(), "y.state", 1).unwrap_err();
        assert!(
            refused.contains("partition 0, not of y.state partition 1"),
            "{refused}"
        );
        let refused = read(dir.path(), "z.state", 0).unwrap_err();
        assert!(refused.contains("not of z.state"), "{refused}");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let refused = read(dir.path(), "y.state", 0).unwrap_err();
        assert!(refused.contains("checksum"), "{refused}");
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert!(read(dir.path(), "y.state", 0).is_err());
    }
}
