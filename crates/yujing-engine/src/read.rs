//! Reading the log back: clues, dead letters and raw records.

use yujing_log::{Entry, Log, LogError, Offset};
use yujing_model::{Clue, DeadLetter, Warning};

use crate::topics::{CLUES, DEADLETTER, WARNINGS};

/// Entries read per call to the log.
const PAGE: usize = 1000;

/// A stored event that no longer decodes (a bug or a foreign writer), with where it sits.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
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
    /// A record's JSON does not decode into its type.
    #[error("topic '{topic}' offset {offset}: {reason}")]
    Decode {
        /// The topic.
        topic: String,
        /// The offset.
        offset: Offset,
        /// What is wrong.
        reason: String,
    },
}

/// Calls `each` with every entry of `topic`, in order, from offset `from`.
pub fn for_each_entry<L: Log + ?Sized>(
    log: &L,
    topic: &str,
    from: Offset,
    each: impl FnMut(&Entry) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    // No entry is written at the last offset there is.
    for_each_entry_below(log, topic, from, Offset::MAX, each)
}

/// Calls `each` with every entry of `topic`, in order, from offset `from` up to (not including) `end`; what
/// was written at `end` or after is not read.
pub fn for_each_entry_below<L: Log + ?Sized>(
    log: &L,
    topic: &str,
    from: Offset,
    end: Offset,
    mut each: impl FnMut(&Entry) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut next = from;
    while next < end {
        let wanted = usize::try_from(end - next).map_or(PAGE, |left| left.min(PAGE));
        let page = log.read(topic, next, wanted)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        next = last.offset + 1;
        for entry in page.iter().take_while(|entry| entry.offset < end) {
            each(entry)?;
        }
    }
    Ok(())
}

/// Calls `each` with every record of `topic` from offset `from`, decoded as `T`, with its offset.
pub fn for_each_decoded<L: Log + ?Sized, T: serde::de::DeserializeOwned>(
    log: &L,
    topic: &str,
    from: Offset,
    mut each: impl FnMut(Offset, T),
) -> Result<(), ReadError> {
    for_each_entry(log, topic, from, |entry| {
        each(entry.offset, decode(topic, entry)?);
        Ok(())
    })
}

/// The records of `topic` from offset `from` up to (not including) `end`, decoded, with their offsets, in log
/// order. Records at `end` or after (written since a snapshot's positions were taken) are not decoded.
pub fn decoded_below<L: Log + ?Sized, T: serde::de::DeserializeOwned>(
    log: &L,
    topic: &str,
    from: Offset,
    end: Offset,
) -> Result<Vec<(Offset, T)>, ReadError> {
    let mut out = Vec::new();
    for_each_entry_below(log, topic, from, end, |entry| {
        out.push((entry.offset, decode(topic, entry)?));
        Ok(())
    })?;
    Ok(out)
}

/// The records of `topic` at `offsets`, decoded, in the order given. The offsets are read in ascending order, a
/// run of consecutive ones in one read, so asking for a whole topic's worth is one pass over it. An offset the
/// topic does not hold is an error naming it.
pub fn read_at<L: Log + ?Sized, T: serde::de::DeserializeOwned>(
    log: &L,
    topic: &str,
    offsets: &[Offset],
) -> Result<Vec<T>, ReadError> {
    let mut ascending: Vec<(Offset, usize)> = offsets.iter().copied().zip(0..).collect();
    ascending.sort_unstable();
    let mut decoded: Vec<Option<T>> = std::iter::repeat_with(|| None).take(offsets.len()).collect();
    let mut rest = ascending.as_slice();
    while let Some(&(first, _)) = rest.first() {
        // A run: offsets each equal to, or one past, the one before (an offset asked for twice is read once).
        let run = 1 + rest
            .windows(2)
            .take_while(|pair| pair[1].0 <= pair[0].0 + 1)
            .count();
        let last = rest[run - 1].0;
        let span = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        let entries = log.read(topic, first, span)?;
        for &(offset, index) in &rest[..run] {
            let entry = entries
                .binary_search_by_key(&offset, |e| e.offset)
                .ok()
                .and_then(|at| entries.get(at))
                .ok_or_else(|| ReadError::Decode {
                    topic: topic.to_owned(),
                    offset,
                    reason: "no record at this offset".to_owned(),
                })?;
            decoded[index] = Some(decode(topic, entry)?);
        }
        rest = &rest[run..];
    }
    Ok(decoded.into_iter().flatten().collect())
}

/// `entry`'s record decoded as `T` (which may borrow from it), or an error naming the topic and offset.
pub(crate) fn decode<'e, T: serde::Deserialize<'e>>(topic: &str, entry: &'e Entry) -> Result<T, ReadError> {
    serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
        topic: topic.to_owned(),
        offset: entry.offset,
        reason: e.to_string(),
    })
}

/// Calls `each` with every clue version in the log, in log order.
pub fn for_each_clue<L: Log + ?Sized>(log: &L, mut each: impl FnMut(Clue)) -> Result<(), ReadError> {
    for_each_entry(log, CLUES, 0, |entry| {
        each(decode(CLUES, entry)?);
        Ok(())
    })
}

/// Each clue's last version, at the position of its first version: what `yujing clues --latest` prints.
pub fn latest_versions(clues: Vec<Clue>) -> Vec<Clue> {
    let mut position = std::collections::HashMap::new();
    let mut kept: Vec<Clue> = Vec::new();
    for clue in clues {
        match position.get(&clue.clue_id) {
            Some(&i) => kept[i] = clue,
            None => {
                position.insert(clue.clue_id.clone(), kept.len());
                kept.push(clue);
            }
        }
    }
    kept
}

/// Calls `each` with every dead letter in the log, in log order.
pub fn for_each_dead_letter<L: Log + ?Sized>(
    log: &L,
    mut each: impl FnMut(DeadLetter),
) -> Result<(), ReadError> {
    for_each_entry(log, DEADLETTER, 0, |entry| {
        each(decode(DEADLETTER, entry)?);
        Ok(())
    })
}

/// Calls `each` with every warning in the log, in the order raised.
pub fn for_each_warning<L: Log + ?Sized>(log: &L, mut each: impl FnMut(Warning)) -> Result<(), ReadError> {
    for_each_entry(log, WARNINGS, 0, |entry| {
        each(decode(WARNINGS, entry)?);
        Ok(())
    })
}

/// Whether a consumer at `position` of `topic` has read every record: none lies between it and the end. Not
/// `position == end`: on Kafka the offset after a batch's last record holds its commit marker, never read.
pub fn caught_up<L: Log + ?Sized>(log: &L, topic: &str, position: Offset) -> Result<bool, LogError> {
    Ok(position >= log.end_offset(topic)? || log.read(topic, position, 1)?.is_empty())
}

#[cfg(test)]
mod tests {
    use yujing_log::{Batch, EmbeddedLog, Record};

    use super::*;

    /// A log in `dir` whose `warnings` topic holds the numbers below `count`, each at its own offset.
    fn numbered_warnings(dir: &std::path::Path, count: u32) -> EmbeddedLog {
        let log = EmbeddedLog::open(dir).expect("open");
        let mut batch = Batch::new();
        for n in 0..count {
            batch.append(
                "warnings",
                Record {
                    key: Vec::new(),
                    value: serde_json::to_vec(&n).expect("encode"),
                    timestamp_ms: 0,
                },
            );
        }
        log.write(batch).expect("write");
        log
    }

    #[test]
    fn records_at_offsets_come_back_in_the_order_asked_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = numbered_warnings(dir.path(), 10);
        let read: Vec<u32> = read_at(&log, "warnings", &[7, 2, 3, 3, 9, 0]).expect("read");
        assert_eq!(read, [7, 2, 3, 3, 9, 0]);
        let none: Vec<u32> = read_at(&log, "warnings", &[]).expect("read");
        assert!(none.is_empty());
        match read_at::<_, u32>(&log, "warnings", &[4, 42]) {
            Err(ReadError::Decode { topic, offset, .. }) => {
                assert_eq!((topic.as_str(), offset), ("warnings", 42))
            }
            other => panic!("expected the missing offset named, got {other:?}"),
        }
    }

    /// A log that counts the entries it hands out.
    struct Counting<'a> {
        log: &'a EmbeddedLog,
        handed_out: std::sync::atomic::AtomicUsize,
    }

    impl Log for Counting<'_> {
        fn write(&self, batch: Batch) -> Result<Vec<Offset>, LogError> {
            self.log.write(batch)
        }

        fn read(&self, topic: &str, from: Offset, max: usize) -> Result<Vec<Entry>, LogError> {
            let page = self.log.read(topic, from, max)?;
            self.handed_out
                .fetch_add(page.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(page)
        }

        fn end_offset(&self, topic: &str) -> Result<Offset, LogError> {
            self.log.end_offset(topic)
        }

        fn state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LogError> {
            self.log.state(key)
        }
    }

    /// Reading below an end gives the entries from the start up to it, in order, over several pages, and
    /// reads nothing past it: a bulk load's first half does not read the second.
    #[test]
    fn reading_below_an_end_reads_nothing_past_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = numbered_warnings(dir.path(), PAGE as u32 * 3);
        for (from, end) in [(0, 0), (5, 6), (10, PAGE as Offset + 17), (PAGE as Offset, 5_000)] {
            let counting = Counting {
                log: &log,
                handed_out: Default::default(),
            };
            let mut offsets = Vec::new();
            for_each_entry_below(&counting, "warnings", from, end, |entry| {
                offsets.push(entry.offset);
                Ok(())
            })
            .expect("read");
            let expected: Vec<Offset> = (from..end.min(PAGE as Offset * 3)).collect();
            assert_eq!(offsets, expected, "{from}..{end}");
            assert_eq!(
                counting.handed_out.into_inner(),
                expected.len(),
                "{from}..{end}: read past the end"
            );
        }
    }
}
