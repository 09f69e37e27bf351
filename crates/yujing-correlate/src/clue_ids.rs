//! [`ClueIds`]: the id of every clue the correlator observed, by node, in a few large buffers.
//!
//! Every clue keeps its id for as long as the correlator runs (a warning names its evidence by clue id, and
//! a re-delivered clue is recognised by it). Held as one `String` or `Box<str>` each, an id of 25–40 bytes
//! costs its 16-byte pointer and a 48-byte allocation (the allocator's header and rounding): measured, 64
//! bytes per clue for 29 bytes of text. Here the ids of [`ClueIds::CHUNK`] consecutive nodes share one
//! buffer, and each costs its text and a 4-byte end.

use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Clue ids by node (0, 1, 2, … in the order observed), appended and never removed.
#[derive(Clone, Default)]
pub(crate) struct ClueIds {
    chunks: Vec<IdChunk>,
    len: usize,
}

/// The ids of up to [`ClueIds::CHUNK`] consecutive nodes.
#[derive(Clone)]
struct IdChunk {
    /// The ids one after the other.
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<u32>,
}

impl ClueIds {
    /// Nodes per buffer: large enough that a buffer's own overhead is nothing per id, small enough that a
    /// buffer grows by copying a few tens of kilobytes.
    pub(crate) const CHUNK: usize = 1024;

    /// How many ids are held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Append the id of the next node.
    pub(crate) fn push(&mut self, id: &str) {
        let start_new = self.chunks.last().is_none_or(|c| c.ends.len() == Self::CHUNK);
        if start_new {
            if let Some(full) = self.chunks.last_mut() {
                // A full buffer never grows again: give back what doubling left over.
                full.text.shrink_to_fit();
            }
            self.chunks.push(IdChunk {
                text: String::with_capacity(id.len() * Self::CHUNK),
                ends: Vec::with_capacity(Self::CHUNK),
            });
        }
        let chunk = self
            .chunks
            .last_mut()
            .expect("a chunk with room was just ensured");
        chunk.text.push_str(id);
        // A chunk's text stays far below 4 GiB (a thousand ids).
        chunk
            .ends
            .push(u32::try_from(chunk.text.len()).unwrap_or(u32::MAX));
        self.len += 1;
    }

    /// The id of `node`, if observed.
    pub(crate) fn get(&self, node: usize) -> Option<&str> {
        let chunk = self.chunks.get(node / Self::CHUNK)?;
        let at = node % Self::CHUNK;
        let end = *chunk.ends.get(at)? as usize;
        let start = match at {
            0 => 0,
            _ => chunk.ends[at - 1] as usize,
        };
        chunk.text.get(start..end)
    }

    /// Every id, by node.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        (0..self.len).map(|node| &self[node])
    }
}

impl std::ops::Index<usize> for ClueIds {
    type Output = str;

    fn index(&self, node: usize) -> &str {
        self.get(node).expect("the node was observed")
    }
}

/// Stored as the sequence of ids, by node (of known length: postcard writes it first).
impl Serialize for ClueIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ClueIds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClueIds, D::Error> {
        struct Ids;

        impl<'de> Visitor<'de> for Ids {
            type Value = ClueIds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of clue ids")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClueIds, A::Error> {
                let mut ids = ClueIds::default();
                // Borrowed from the snapshot's bytes: no allocation per id on the way in.
                while let Some(id) = seq.next_element::<&'de str>()? {
                    ids.push(id);
                }
                Ok(ids)
            }
        }

        deserializer.deserialize_seq(Ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids of every length read back by node across buffer boundaries, and survive a round trip.
    #[test]
    fn ids_read_back_by_node_across_buffers_and_through_bytes() {
        let ids: Vec<String> = (0..ClueIds::CHUNK * 2 + 7)
            .map(|i| match i % 5 {
                0 => String::new(),
                1 => format!("hotline12345:{i}"),
                2 => format!("网格:事件-{i}"),
                3 => "x".repeat(i % 97),
                _ => format!("grid:{i}"),
            })
            .collect();
        let mut held = ClueIds::default();
        for id in &ids {
            held.push(id);
        }
        assert_eq!(held.len(), ids.len());
        assert!(held.iter().eq(ids.iter().map(String::as_str)));
        assert_eq!(&held[ClueIds::CHUNK], ids[ClueIds::CHUNK].as_str());
        assert_eq!(held.get(ids.len()), None);
        let bytes = postcard::to_stdvec(&held).expect("ids encode");
        let back: ClueIds = postcard::from_bytes(&bytes).expect("ids decode");
        assert!(back.iter().eq(ids.iter().map(String::as_str)));
        // The same bytes as the plain list of strings they stand for.
        assert_eq!(bytes, postcard::to_stdvec(&ids).expect("strings encode"));
    }
}
