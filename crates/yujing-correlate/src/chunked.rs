//! [`ChunkedDeque`]: a queue of large values held in fixed-size chunks, so that growing it never doubles it.
//!
//! The correlator keeps every clue's profile (hundreds of bytes each) in arrival order, appends at the back
//! and drops from the front as the window moves. A `Vec` or `VecDeque` grows by doubling: right after it grows
//! half its slots are empty, and on average a quarter are, which for a province's window of profiles is
//! hundreds of megabytes held for nothing (measured: 262,144 slots for 166,670 profiles). Chunks of a fixed
//! number of values waste at most one partly used chunk at each end, and a chunk emptied at the front is freed
//! at once.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A double-ended queue in chunks of [`ChunkedDeque::CHUNK`] values: indexed access in constant time, pushes at
/// the back, pops at the front, and never more than two chunks' worth of unused slots.
///
/// Every chunk but the first and the last is full, and the first has lost only values from its front: so
/// value `i` is found from the first chunk's length without a search.
#[derive(Clone)]
pub struct ChunkedDeque<T> {
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
}

impl<T> Default for ChunkedDeque<T> {
    fn default() -> ChunkedDeque<T> {
        ChunkedDeque {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

/// Equal when they hold equal values in the same order, however they are chunked.
impl<T: PartialEq> PartialEq for ChunkedDeque<T> {
    fn eq(&self, other: &ChunkedDeque<T>) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: fmt::Debug> fmt::Debug for ChunkedDeque<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> ChunkedDeque<T> {
    /// Values per chunk: large enough that the chunk table is small, small enough that the slack of a
    /// partly used chunk is negligible beside a county's window.
    pub const CHUNK: usize = 1024;

    /// An empty queue; no chunk is allocated until the first push.
    pub fn new() -> ChunkedDeque<T> {
        ChunkedDeque::default()
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Append a value at the back.
    pub fn push_back(&mut self, value: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < Self::CHUNK => last.push_back(value),
            _ => {
                let mut chunk = VecDeque::with_capacity(Self::CHUNK);
                chunk.push_back(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Remove the front value; its chunk is freed once it has given up all of its values.
    pub fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let value = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        if value.is_some() {
            self.len -= 1;
        }
        value
    }

    /// The front value.
    pub fn front(&self) -> Option<&T> {
        self.chunks.front().and_then(|chunk| chunk.front())
    }

    /// The chunk and the position in it of value `index`, if there is one.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        let first = self.chunks.front().map_or(0, VecDeque::len);
        Some(if index < first {
            (0, index)
        } else {
            let rest = index - first;
            (1 + rest / Self::CHUNK, rest % Self::CHUNK)
        })
    }

    /// Value `index` (0 is the front).
    pub fn get(&self, index: usize) -> Option<&T> {
        let (chunk, at) = self.locate(index)?;
        self.chunks.get(chunk).and_then(|c| c.get(at))
    }

    /// The values, front to back.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// The values, front to back, to change.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> + '_ {
        self.chunks.iter_mut().flatten()
    }
}

impl<T> std::ops::Index<usize> for ChunkedDeque<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        match self.get(index) {
            Some(value) => value,
            None => panic!("index {index} out of range for a ChunkedDeque of {}", self.len),
        }
    }
}

impl<T> Extend<T> for ChunkedDeque<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, values: I) {
        for value in values {
            self.push_back(value);
        }
    }
}

impl<T> FromIterator<T> for ChunkedDeque<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> ChunkedDeque<T> {
        let mut deque = ChunkedDeque::new();
        deque.extend(values);
        deque
    }
}

/// A sequence, as a `Vec` or a `VecDeque` is.
impl<T: Serialize> Serialize for ChunkedDeque<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The length first: a flattened iterator does not know it, and a compact encoding needs it.
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for value in self.iter() {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

/// Read value by value into chunks, never into one buffer of the whole sequence.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for ChunkedDeque<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ChunkedDeque<T>, D::Error> {
        struct Values<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Values<T> {
            type Value = ChunkedDeque<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChunkedDeque<T>, A::Error> {
                let mut deque = ChunkedDeque::new();
                while let Some(value) = seq.next_element()? {
                    deque.push_back(value);
                }
                Ok(deque)
            }
        }

        deserializer.deserialize_seq(Values(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: usize = ChunkedDeque::<u32>::CHUNK;

    /// Pushes and pops in an uneven pattern, checked against a `VecDeque` after every step.
    #[test]
    fn it_behaves_as_a_vecdeque_across_chunk_boundaries() {
        let mut chunked = ChunkedDeque::new();
        let mut plain = VecDeque::new();
        let mut next = 0u32;
        for round in 0..12 {
            for _ in 0..(CHUNK / 3 + round * 97) {
                chunked.push_back(next);
                plain.push_back(next);
                next += 1;
            }
            for _ in 0..(CHUNK / 4 + round * 53) {
                assert_eq!(chunked.pop_front(), plain.pop_front());
            }
            assert_eq!(chunked.len(), plain.len());
            assert_eq!(chunked.front(), plain.front());
            for i in (0..plain.len())
                .step_by(37)
                .chain([plain.len().saturating_sub(1)])
            {
                assert_eq!(chunked.get(i), plain.get(i), "value {i} of round {round}");
            }
            assert_eq!(chunked.get(plain.len()), None);
            assert!(chunked.iter().eq(plain.iter()));
        }
        while let Some(v) = plain.pop_front() {
            assert_eq!(chunked.pop_front(), Some(v));
        }
        assert_eq!(chunked.len(), 0);
        assert_eq!(chunked.pop_front(), None);
        assert!(chunked.chunks.is_empty(), "an emptied queue holds no chunk");
    }

    #[test]
    fn it_holds_at_most_two_partly_used_chunks() {
        let mut chunked: ChunkedDeque<u32> = (0..(10 * CHUNK as u32 + 5)).collect();
        for _ in 0..(3 * CHUNK + 7) {
            chunked.pop_front();
        }
        let capacity: usize = chunked.chunks.iter().map(VecDeque::capacity).sum();
        assert!(
            capacity - chunked.len() < 2 * CHUNK,
            "capacity {capacity} for {}",
            chunked.len()
        );
        assert_eq!(chunked[0], 3 * CHUNK as u32 + 7);
    }

    #[test]
    fn it_encodes_as_the_sequence_it_holds() {
        let values: Vec<u32> = (0..(2 * CHUNK as u32 + 3)).collect();
        let mut chunked: ChunkedDeque<u32> = values.iter().copied().collect();
        chunked.pop_front();
        let bytes = postcard::to_stdvec(&chunked).expect("encodes");
        assert_eq!(bytes, postcard::to_stdvec(&values[1..]).expect("encodes"));
        let back: ChunkedDeque<u32> = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, chunked);
        assert!(back.iter().eq(values[1..].iter()));
    }
}
