//! Interned strings: every town, place name, party key, name token and counter-party a profile holds becomes a
//! [`Sym`], a `u32` into a table of its kind ([`Symbols`]).
//!
//! Why: a clue is compared with up to `max_candidates` others, and each comparison asks a dozen questions of
//! equality (the same phone key? the same building? a shared name token?). As strings, each is a `memcmp` of
//! up to 64 bytes behind a pointer, and each profile is some fifteen heap allocations; as symbols, each is one
//! integer compare, and a value met in ten thousand clues (a town, a busy estate, a party who calls every week)
//! is stored once. Equal strings of one kind always get the same symbol, so comparing symbols of one kind is
//! exactly comparing the strings.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An interned string of one [`Interner`]: equal strings of one table have equal symbols.
///
/// Held as its index plus one, so that an `Option<Sym>` (a profile's building, road, town…) takes four bytes
/// instead of eight: a profile has a dozen of them, kept for every clue of the history. Symbols order as their
/// indexes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sym(NonZeroU32);

impl Sym {
    /// The symbol of the table's `index`th string.
    fn from_index(index: u32) -> Sym {
        Sym(NonZeroU32::MIN.saturating_add(index))
    }

    /// The symbol as a number (its string's place in the table), for hashing into blocking keys.
    pub fn index(self) -> u32 {
        self.0.get() - 1
    }
}

/// One table of interned strings.
///
/// The strings are kept once, in the order first seen; the lookup map holds only a 32-bit hash of each (with
/// linear probing on a collision, [`SlotMap`]), so a table of a million 40-character names costs the names plus
/// about 12 bytes each rather than the names twice.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    names: Vec<Box<str>>,
    ids: SlotMap,
}

impl Interner {
    /// The symbol of `name`, added to the table when new.
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(sym) = self.get(name) {
            return sym;
        }
        let id = u32::try_from(self.names.len())
            .ok()
            .filter(|id| *id < u32::MAX)
            .expect("fewer than 2^32 - 1 distinct strings of one kind");
        self.ids.insert_new(name, id);
        self.names.push(name.into());
        Sym::from_index(id)
    }

    /// The symbol of `name` when it was interned before (nothing is added).
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.ids
            .find(name, |id| {
                self.names.get(id as usize).is_some_and(|n| **n == *name)
            })
            .map(Sym::from_index)
    }

    /// The string of a symbol of this table.
    pub fn resolve(&self, sym: Sym) -> &str {
        self.names.get(sym.index() as usize).map_or("", |n| n)
    }

    /// How many distinct strings the table holds.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The strings of the symbols from the `from`-th on, in order (none when `from` is past the last).
    pub fn names_from(&self, from: usize) -> &[Box<str>] {
        self.names.get(from..).unwrap_or_default()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// A table holding `names` with the symbols they had (their positions): what a snapshot stores, read back.
    pub fn from_names(names: Vec<Box<str>>) -> Interner {
        let mut ids = SlotMap::with_capacity(names.len());
        for (id, name) in names.iter().enumerate() {
            ids.insert_new(name, id as u32);
        }
        Interner { names, ids }
    }
}

impl Serialize for Interner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Interner, D::Error> {
        Vec::<Box<str>>::deserialize(deserializer).map(Interner::from_names)
    }
}

/// A table of strings that are only ever compared, never read back: each is held as a 128-bit digest (the
/// first half of its SHA-256), not as text.
///
/// Why: a party key is a 64-character keyed hash, and a province's year has about one distinct key per report;
/// as text, each costs its 64 bytes, a box and a slot (over 100 bytes), as a digest 20 bytes and a slot. Two
/// distinct keys share a digest with a probability of about n²/2¹²⁹, nil for any history (10⁻²⁴ at a billion
/// keys), and nobody can choose one to collide: SHA-256 is collision-resistant and the keys are keyed hashes.
#[derive(Debug, Clone, Default)]
pub struct DigestInterner {
    ids: HashMap<[u8; 16], u32, BuildHasherDefault<DigestHasher>>,
}

impl DigestInterner {
    fn digest(name: &str) -> [u8; 16] {
        let full = Sha256::digest(name.as_bytes());
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        digest
    }

    /// The symbol of `name`, added to the table when new.
    pub fn intern(&mut self, name: &str) -> Sym {
        let next = u32::try_from(self.ids.len())
            .ok()
            .filter(|id| *id < u32::MAX)
            .expect("fewer than 2^32 - 1 distinct strings of one kind");
        Sym::from_index(*self.ids.entry(DigestInterner::digest(name)).or_insert(next))
    }

    /// The symbol of `name` when it was interned before (nothing is added).
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.ids
            .get(&DigestInterner::digest(name))
            .copied()
            .map(Sym::from_index)
    }

    /// How many distinct strings the table holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl Serialize for DigestInterner {
    /// The digests in symbol order.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digests = vec![[0u8; 16]; self.ids.len()];
        for (digest, &id) in &self.ids {
            digests[id as usize] = *digest;
        }
        digests.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DigestInterner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DigestInterner, D::Error> {
        let digests = Vec::<[u8; 16]>::deserialize(deserializer)?;
        let mut ids = HashMap::with_capacity_and_hasher(digests.len(), BuildHasherDefault::default());
        for (id, digest) in digests.into_iter().enumerate() {
            if ids.insert(digest, id as u32).is_some() {
                return Err(serde::de::Error::custom("a digest appears twice in a table"));
            }
        }
        Ok(DigestInterner { ids })
    }
}

/// A digest's first eight bytes are already uniformly spread: they are its hash.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 16]` hashes as its bytes (after no length prefix: arrays have none); fold them in, the first
        // eight being enough.
        for byte in bytes.iter().take(8) {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
}

/// The tables of a correlator, one per kind of value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Symbols {
    /// Town codes and names.
    pub towns: Interner,
    /// Estates (and their sounds), village groups, buildings, roads, communities.
    pub places: Interner,
    /// Keyed party hashes: phone, ID number, full name, account. Only ever compared, never read back, so held
    /// as digests.
    pub parties: DigestInterner,
    /// The keyed per-character and per-syllable tokens of persons' names.
    pub name_tokens: Interner,
    /// Counter-parties (organisations), normalized.
    pub organisations: Interner,
}

/// Strings to numbers by a keyed hash of each string and linear probing on a collision: the strings
/// themselves live elsewhere (an [`Interner`]'s names, the correlator's profiles), which the caller compares
/// against. The key is random per process (the standard library's SipHash), so text an upstream system sends
/// cannot be crafted to collide; the map is never stored, only rebuilt.
///
/// Slots are 32 bits: nine bytes an entry where 64-bit slots took thirteen (one entry per clue). Two strings
/// on one slot, which a million strings make about a hundred times, cost one more probe each.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotMap {
    state: RandomState,
    pub(crate) slots: HashMap<u32, u32, BuildHasherDefault<IdentityHasher>>,
}

impl SlotMap {
    pub(crate) fn with_capacity(capacity: usize) -> SlotMap {
        SlotMap {
            state: RandomState::new(),
            slots: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
        }
    }

    /// The first slot of `text`.
    pub(crate) fn hash_of(&self, text: &str) -> u32 {
        // The hash's high half: SipHash's bits are all equally good.
        (self.state.hash_one(text) >> 32) as u32
    }

    /// Map `text`, known not to be in the map, to `value`.
    pub(crate) fn insert_new(&mut self, text: &str, value: u32) {
        let mut slot = self.hash_of(text);
        while self.slots.contains_key(&slot) {
            slot = slot.wrapping_add(1);
        }
        self.slots.insert(slot, value);
    }

    /// The value of `text`: the first value along its slots for which `is_it` says the value stands for it.
    pub(crate) fn find(&self, text: &str, is_it: impl Fn(u32) -> bool) -> Option<u32> {
        let mut slot = self.hash_of(text);
        loop {
            let &value = self.slots.get(&slot)?;
            if is_it(value) {
                return Some(value);
            }
            slot = slot.wrapping_add(1);
        }
    }
}

/// The map's keys are already hashes: use them as they are (a 32-bit one spread over the 64 bits).
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key is a u64); fold anything else in so the hasher stays correct.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write_u32(&mut self, n: u32) {
        // A 32-bit key spread over the 64 bits: the table reads its control byte from the top bits.
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_get_equal_symbols_and_resolve_back() {
        let mut table = Interner::default();
        let a = table.intern("锦绣华庭");
        let b = table.intern("玉兰佳苑");
        assert_ne!(a, b);
        assert_eq!(table.intern("锦绣华庭"), a);
        assert_eq!(table.resolve(a), "锦绣华庭");
        assert_eq!(table.get("玉兰佳苑"), Some(b));
        assert_eq!(table.get("丽景新城"), None);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn colliding_hashes_still_give_distinct_symbols() {
        // Force two strings onto one slot: a table whose map already holds the first string's hash for
        // another id must probe on and keep both apart.
        let mut table = Interner::default();
        let first = table.intern("a");
        let slot = table.ids.hash_of("b");
        table.ids.slots.insert(slot, first.index());
        let b = table.intern("b");
        assert_ne!(b, first);
        assert_eq!(table.get("b"), Some(b));
        assert_eq!(table.resolve(b), "b");
    }

    #[test]
    fn a_digest_table_gives_equal_strings_equal_symbols_and_reads_back_the_same() {
        let mut table = DigestInterner::default();
        let keys: Vec<String> = (0..1_000).map(|i| format!("key-{i}")).collect();
        let syms: Vec<Sym> = keys.iter().map(|k| table.intern(k)).collect();
        assert_eq!(table.len(), 1_000);
        for (i, (key, sym)) in keys.iter().zip(&syms).enumerate() {
            assert_eq!(sym.index(), i as u32, "symbols in the order first seen");
            assert_eq!(table.intern(key), *sym);
            assert_eq!(table.get(key), Some(*sym));
        }
        assert_eq!(table.get("key-1000"), None);
        let bytes = postcard::to_stdvec(&table).expect("serialize");
        let mut back: DigestInterner = postcard::from_bytes(&bytes).expect("deserialize");
        for (key, sym) in keys.iter().zip(&syms) {
            assert_eq!(back.get(key), Some(*sym));
        }
        assert_eq!(back.intern("another").index(), 1_000);
        // A table naming one digest twice is refused, not read with two symbols for one key.
        let twice = postcard::to_stdvec(&vec![[7u8; 16], [7u8; 16]]).expect("serialize");
        assert!(postcard::from_bytes::<DigestInterner>(&twice).is_err());
    }

    #[test]
    fn a_table_rebuilt_from_its_names_gives_the_same_symbols() {
        let mut table = Interner::default();
        let syms: Vec<Sym> = ["x", "y", "z", "x"].iter().map(|s| table.intern(s)).collect();
        let bytes = postcard::to_stdvec(&table).expect("serialize");
        let mut back: Interner = postcard::from_bytes(&bytes).expect("deserialize");
        for (name, sym) in ["x", "y", "z", "x"].iter().zip(&syms) {
            assert_eq!(back.get(name), Some(*sym));
            assert_eq!(back.intern(name), *sym);
        }
        assert_eq!(back.intern("w").index(), 3);
    }
}
