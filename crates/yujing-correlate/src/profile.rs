//! The compact comparison profile of a clue: what blocking and scoring look at, computed once per clue.

use std::collections::BTreeSet;

use pinyin::ToPinyin;
use yujing_model::{Clue, DisputeType, FeedId, PartyKeyKind, PartyKind, PartyRole, RiskFlag, TownCode};

use crate::symbols::{Sym, Symbols};

/// How many of a clue's first place mentions say where it happens (see [`ClueProfile::lead_places`]).
const LEAD_PLACES: usize = 3;

/// What is kept of a clue for as long as the correlator holds it: its identity and time, its town, type and
/// place fields, its counter-parties, its risk signs, people involved and reporter.
///
/// A clue past the blocking horizon is never a candidate again, but the members of a cluster still tell a new
/// report what they know of its place (`Correlator::refine`), and a warning counts, shows and locates every
/// member it counts. That is all this holds: a province's history is millions of clues, so the core is kept
/// small (no `Vec` headers, four-byte optional symbols, no allocation for an empty set), and everything only a
/// comparison with a new report needs lives in the [`ClueProfile`] around it, dropped with it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClueCore {
    /// The feed.
    pub feed: FeedId,
    /// What few clues have (counter-parties, risk signs, an upstream id of its own), out of line: eight bytes
    /// for the many that have none, where three lists' headers took 48.
    extras: Option<Box<CoreExtras>>,
    /// Event time, seconds since the epoch.
    pub at: i64,
    /// Town code (`towns`); `None` when unresolved.
    pub town: Option<Sym>,
    /// Town name (`towns`), when resolved.
    pub town_name: Option<Sym>,
    /// Canonical type.
    pub dispute_type: DisputeType,
    /// Whether the type is a guess from the text for an unmapped category word (then it never conflicts).
    pub type_guessed: bool,
    /// Community code (`places`).
    pub community: Option<Sym>,
    /// Estate name as written (`places`).
    pub estate: Option<Sym>,
    /// Estate name as toneless pinyin, so homophones (华庭/华廷) agree (`places`).
    pub estate_sound: Option<Sym>,
    /// Village group (`places`).
    pub village_group: Option<Sym>,
    /// Building number (`places`).
    pub building: Option<Sym>,
    /// Road (`places`).
    pub road: Option<Sym>,
    /// Position (longitude, latitude): see [`ClueCore::location`].
    location: Position,
    /// People involved (lower bound).
    pub people: Option<u32>,
    /// The reporter's identity for counting distinct reporters: a strong key, else a name key (`parties`).
    pub reporter: Option<Sym>,
    /// A hash of the estate name's first two characters: an estate is an abbreviation of another only when
    /// they begin alike ([`crate::score::estate_similarity`]); 0 without an estate. Derived from the estate,
    /// so not stored in a snapshot ([`ClueCore::derive`] again when loaded). Two heads with equal hashes are
    /// compared as text, so 32 bits decide nothing wrongly.
    #[serde(skip)]
    pub estate_head: u32,
    /// A hash of the estate name's first three characters, or 0 for a name of fewer: two names of three
    /// characters or more abbreviate one another only when they begin with the same three (an abbreviation
    /// keeps at least two, and one of exactly two is the other's head). Derived like `estate_head`; equal
    /// hashes are compared as text. It takes four bytes the core's alignment left unused.
    #[serde(skip)]
    pub estate_lead: u32,
}

/// A position or none in 16 bytes, where `Option<(f64, f64)>` takes 24 (an `f64` leaves the option no spare
/// value to use): a NaN longitude stands for none, since a position is never NaN (the feeds keep only
/// positions inside China's bounds, and a NaN given here is no position either). Stored in a snapshot as the
/// `Option` it stands for.
#[derive(Debug, Clone, Copy)]
struct Position([f64; 2]);

impl Position {
    fn new(location: Option<(f64, f64)>) -> Position {
        match location {
            Some((lng, lat)) if !lng.is_nan() && !lat.is_nan() => Position([lng, lat]),
            _ => Position([f64::NAN, f64::NAN]),
        }
    }

    #[inline]
    fn get(self) -> Option<(f64, f64)> {
        let [lng, lat] = self.0;
        (!lng.is_nan()).then_some((lng, lat))
    }
}

impl PartialEq for Position {
    fn eq(&self, other: &Position) -> bool {
        self.get() == other.get()
    }
}

impl serde::Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Position, D::Error> {
        Option::<(f64, f64)>::deserialize(deserializer).map(Position::new)
    }
}

/// The rare parts of a [`ClueCore`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct CoreExtras {
    /// The upstream id when it is not what follows the feed in `clue_id` (see [`ClueCore::source_id`]).
    source_id: Option<Box<str>>,
    /// Organisations named (counter-parties), normalized (`organisations`).
    organisations: Box<[Sym]>,
    /// Risk signs, sorted and distinct.
    risk_flags: Box<[RiskFlag]>,
}

impl ClueCore {
    /// The upstream id, given the clue's id (`<feed>:<source id>`, held by the correlator).
    pub fn source_id<'a>(&'a self, clue_id: &'a str) -> &'a str {
        match self.extras.as_ref().and_then(|e| e.source_id.as_deref()) {
            Some(id) => id,
            None => clue_id.split_once(':').map_or("", |(_, id)| id),
        }
    }

    /// Organisations named (counter-parties), normalized (`organisations`).
    pub fn organisations(&self) -> &[Sym] {
        self.extras.as_ref().map_or(&[], |e| &e.organisations)
    }

    /// Risk signs, sorted and distinct.
    pub fn risk_flags(&self) -> &[RiskFlag] {
        self.extras.as_ref().map_or(&[], |e| &e.risk_flags)
    }

    /// Set the rare parts; none of them leaves no allocation.
    pub(crate) fn set_extras(
        &mut self,
        source_id: Option<Box<str>>,
        organisations: Box<[Sym]>,
        risk_flags: Box<[RiskFlag]>,
    ) {
        let extras = CoreExtras {
            source_id,
            organisations,
            risk_flags,
        };
        self.extras = (extras != CoreExtras::default()).then(|| Box::new(extras));
    }

    /// Set the counter-parties, keeping the other rare parts.
    #[cfg(test)]
    pub(crate) fn set_organisations(&mut self, organisations: Box<[Sym]>) {
        let extras = self.extras.take().map(|e| *e).unwrap_or_default();
        self.set_extras(extras.source_id, organisations, extras.risk_flags);
    }

    /// Position (longitude, latitude), when known.
    #[inline]
    pub fn location(&self) -> Option<(f64, f64)> {
        self.location.get()
    }

    /// Set what is derived from the stored fields (the estate's head and lead), after building or loading
    /// the core.
    pub fn derive(&mut self, symbols: &Symbols) {
        let estate = self.estate.map(|e| symbols.places.resolve(e));
        self.estate_head = estate.map_or(0, estate_head_hash);
        self.estate_lead = estate.map_or(0, estate_lead_hash);
    }
}

/// What correlation knows of one clue while it can still be a candidate: its [`ClueCore`], and what only
/// comparing it with a new report needs (party keys, names, mentions, bigrams and their weights, topics).
///
/// Its towns, places, party keys, name tokens and counter-parties are [`Sym`]s of the correlator's
/// [`Symbols`]: comparing two profiles compares integers, and only profiles built with one `Symbols` compare.
/// A profile dereferences to its core, so what reads a clue's time or place reads a candidate's profile and a
/// past clue's core alike.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClueProfile {
    /// What is kept once the clue is past the horizon.
    pub core: ClueCore,
    /// Which kinds of strong key the clue has: bit 0 a phone, bit 1 an ID number. A phone and an ID number
    /// never match, so only keys of a kind both clues have can disagree.
    pub strong_kinds: u8,
    /// The parties' keys and names, in one allocation (see [`ClueProfile::strong_keys`],
    /// [`ClueProfile::name_keys`], [`ClueProfile::accounts`], [`ClueProfile::names`]).
    ///
    /// A profile's sets are a dozen small lists. Held one allocation each, the allocator's header and rounding
    /// cost more than the values (measured: 13.8 allocations per profile), for every clue in the window; so
    /// the lists of one kind share one allocation, and a few offsets say where each ends.
    keys: Box<[Sym]>,
    /// Where the strong keys, the name keys and the accounts end in `keys`; the names' tokens follow.
    key_ends: [u32; 3],
    /// The place mentions, the lead mentions and the specific lead mentions, one after the other (see
    /// [`ClueProfile::places`], [`ClueProfile::lead_places`], [`ClueProfile::specific_places`]).
    place_keys: Box<[u64]>,
    /// Where the mentions and the lead mentions end in `place_keys`.
    place_ends: [u32; 2],
    /// The bigrams (`bigram_count`), each name's token counts (`name_count` words: char tokens in the high
    /// half, sound tokens in the low), the topics (`topic_count`), and once weighed each bigram's weight (its
    /// bits) and its marks (sixteen to a word, two bits each): see [`ClueProfile::bigrams`], [`ClueProfile::topics`],
    /// [`ClueProfile::bigram_weight`], [`ClueProfile::is_place`].
    words: Box<[u32]>,
    /// How many bigrams `words` begins with.
    bigram_count: u32,
    /// How many names' token counts follow them.
    name_count: u32,
    /// How many topics follow those.
    topic_count: u32,
    /// Whether `words` holds the weights and marks ([`BigramFrequencies::weigh`]). Before, `words` may end
    /// with what weighing still needs (see [`ClueProfile::set_unweighed_words`]).
    weighed: bool,
    /// The sum of the bigrams' weights, and the same without the place bigrams (set with them).
    pub bigram_weight_sums: (f64, f64),
    /// What the sets above could share with another profile's (derived from them, so not stored in a
    /// snapshot: [`SetFilters::of`] again when loaded).
    #[serde(skip)]
    pub filters: SetFilters,
}

impl std::ops::Deref for ClueProfile {
    type Target = ClueCore;

    fn deref(&self) -> &ClueCore {
        &self.core
    }
}

impl std::ops::DerefMut for ClueProfile {
    fn deref_mut(&mut self) -> &mut ClueCore {
        &mut self.core
    }
}

/// A profile's bigrams with, once weighed, their weights' bits and their marks sixteen to a word (empty before).
#[derive(Clone, Copy)]
struct BigramView<'a> {
    bigrams: &'a [u32],
    weights: &'a [u32],
    marks: &'a [u32],
}

impl BigramView<'_> {
    /// The weight of bigram `i` (1 before weighing).
    #[inline]
    fn weight(&self, i: usize) -> f32 {
        self.weights.get(i).map_or(1.0, |&bits| f32::from_bits(bits))
    }

    /// The [`BigramMarks`] of bigram `i` (none before weighing).
    #[inline]
    fn marks(&self, i: usize) -> u8 {
        self.marks
            .get(i / MARKS_PER_WORD)
            .map_or(0, |word| ((word >> (2 * (i % MARKS_PER_WORD))) & 0b11) as u8)
    }

    /// Whether bigram `i` is one of the places'.
    #[inline]
    fn is_place(&self, i: usize) -> bool {
        self.marks(i) & BigramMarks::PLACE != 0
    }

    /// Whether bigram `i` is part of what the headline says happens.
    #[inline]
    fn is_headline_subject(&self, i: usize) -> bool {
        self.marks(i) & BigramMarks::HEADLINE_SUBJECT != 0
    }

    /// The bigrams `keep` keeps (by index), with their weights, in order.
    fn weighted<'s>(&'s self, keep: impl Fn(usize) -> bool + 's) -> impl Iterator<Item = (u32, f32)> + 's {
        self.bigrams
            .iter()
            .enumerate()
            .filter(move |&(i, _)| keep(i))
            .map(|(i, &b)| (b, self.weight(i)))
    }
}

/// The parts of a profile's `words`, apart (tests change one part of a built profile).
#[cfg(test)]
struct WordParts {
    bigrams: Vec<u32>,
    name_counts: Vec<u32>,
    topics: Vec<u32>,
    /// The weights and marks, parallel to the bigrams, once weighed.
    weighed: Option<(Vec<f32>, Vec<u8>)>,
}

/// How many bigrams' [`BigramMarks`] (two bits each) one word of `words` holds.
const MARKS_PER_WORD: usize = 16;

/// Append the weights' bits and the marks, sixteen to a word, to a profile's `words`.
fn push_weighing(words: &mut Vec<u32>, weights: &[f32], marks: &[u8]) {
    words.extend(weights.iter().map(|w| w.to_bits()));
    words.extend(marks.chunks(MARKS_PER_WORD).map(|sixteen| {
        sixteen
            .iter()
            .enumerate()
            .fold(0u32, |word, (k, &m)| word | u32::from(m & 0b11) << (2 * k))
    }));
}

/// A profile's `keys` and the ends of its parts, and its names' token counts (see [`ClueProfile::set_keys`]).
fn pack_keys(
    strong_keys: &[Sym],
    name_keys: &[Sym],
    accounts: &[Sym],
    names: &[(Vec<Sym>, Vec<Sym>)],
) -> (Box<[Sym]>, [u32; 3], Vec<u32>) {
    let mut keys = Vec::with_capacity(
        strong_keys.len()
            + name_keys.len()
            + accounts.len()
            + names.iter().map(|(c, s)| c.len() + s.len()).sum::<usize>(),
    );
    let mut ends = [0; 3];
    for (end, part) in ends.iter_mut().zip([strong_keys, name_keys, accounts]) {
        keys.extend_from_slice(part);
        *end = to_u32(keys.len());
    }
    let mut counts = Vec::with_capacity(names.len());
    for (chars, sounds) in names {
        let (chars, sounds) = (&chars[..to_u16(chars.len())], &sounds[..to_u16(sounds.len())]);
        keys.extend_from_slice(chars);
        keys.extend_from_slice(sounds);
        counts.push(to_u32(chars.len()) << 16 | to_u32(sounds.len()));
    }
    (keys.into(), ends, counts)
}

/// A length as a profile's offset. A clue's sets are bounded by its text, far below 2³².
fn to_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// How many of a name's tokens are kept: its count is half of a word. A name has a handful of tokens; a
/// longer list is cut to 65,535.
fn to_u16(len: usize) -> usize {
    len.min(0xffff)
}

/// The marks of a profile's bigrams ([`ClueProfile::is_place`]).
pub struct BigramMarks;

impl BigramMarks {
    /// The bigram is one of the places' (mentions, estate, road, group).
    pub const PLACE: u8 = 1;
    /// The bigram is one of the headline's and not a place's: part of what the headline says happens.
    pub const HEADLINE_SUBJECT: u8 = 2;
}

/// What [`BigramFrequencies::weigh`] needs of a new profile besides its bigrams, and nothing later does.
#[derive(Debug, Clone, PartialEq, Default)]
struct WeighingInput {
    /// Hashed character bigrams of the headline (the title, or an address field that is free text rather
    /// than an address): they weigh double, since a headline carries most of what a report is about.
    headline: Vec<u32>,
    /// The bigrams of the places the clue names (mentions, estate, road, group), sorted: left out when what
    /// two reports say about a place is compared (see [`subject_similarity`]).
    place_bigrams: Vec<u32>,
}

/// A 32-bit Bloom filter of each small set a comparison asks about, inside the profile (32 bits rather than 64:
/// a set holds one to three elements, and the filters are kept for every clue in the window).
///
/// Each set of a profile is a heap allocation of its own, so reading a candidate's costs a cache miss per set,
/// and a clue is compared with a hundred candidates, most of which share nothing with it. Two sets whose
/// filters share no bit share no element, so a comparison reads the sets themselves only when the filters
/// overlap: the answer is the same, without the misses. The default lets every set meet every other (a profile
/// whose filters were never computed is compared in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetFilters {
    /// `strong_keys`.
    pub strong_keys: u32,
    /// `name_keys`.
    pub name_keys: u32,
    /// The first character token and the first sound token of each of `names` (two names can only be alike
    /// when one of them agrees: [`crate::score::name_similarity`]).
    pub name_heads: u32,
    /// `accounts`.
    pub accounts: u32,
    /// `organisations`.
    pub organisations: u32,
    /// `topics`.
    pub topics: u32,
    /// `places`.
    pub places: u32,
    /// `lead_places`, and so `specific_places`, which are some of them.
    pub lead_places: u32,
}

impl Default for SetFilters {
    fn default() -> SetFilters {
        SetFilters {
            strong_keys: u32::MAX,
            name_keys: u32::MAX,
            name_heads: u32::MAX,
            accounts: u32::MAX,
            organisations: u32::MAX,
            topics: u32::MAX,
            places: u32::MAX,
            lead_places: u32::MAX,
        }
    }
}

impl SetFilters {
    /// The filters of `p`'s sets.
    pub fn of(p: &ClueProfile) -> SetFilters {
        let syms = |set: &[Sym]| set.iter().fold(0, |bits, s| bits | bit(u64::from(s.index())));
        let hashes = |set: &[u64]| set.iter().fold(0, |bits, h| bits | bit(*h));
        SetFilters {
            strong_keys: syms(p.strong_keys()),
            name_keys: syms(p.name_keys()),
            name_heads: p.names().fold(0, |bits, (chars, sounds)| {
                // Two names without sound tokens have that in common (their first sounds are both none).
                let head = |tokens: &[Sym]| {
                    tokens
                        .first()
                        .map_or(bit(u64::MAX), |s| bit(u64::from(s.index())))
                };
                bits | head(chars) | head(sounds)
            }),
            accounts: syms(p.accounts()),
            organisations: syms(p.organisations()),
            topics: p.topics().iter().fold(0, |bits, t| bits | bit(u64::from(*t))),
            places: hashes(p.places()),
            lead_places: hashes(p.lead_places()) | hashes(p.specific_places()),
        }
    }
}

/// What an estate's abbreviations keep of its name: its first two characters (锦绣 of 锦绣华庭).
pub fn estate_head(estate: &str) -> &str {
    estate
        .char_indices()
        .nth(2)
        .map_or(estate, |(end, _)| &estate[..end])
}

/// The filter bit of a value: its top five bits after a multiplicative mix (symbols are small consecutive
/// integers; place hashes are mixed again, which costs nothing).
fn bit(value: u64) -> u32 {
    1 << (value.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59)
}

/// Whether two sets can share an element, by their filters.
#[inline]
pub fn may_share(a: u32, b: u32) -> bool {
    a & b != 0
}

/// Calls `$then!` with the fields [`ClueProfile::prefetch_inline`] asks for: no more than 64 bytes apart from
/// the first byte to the last eight, so that each line the profile spans holds one of them wherever it begins.
/// One list for the method and the test that checks it against the compiled layout.
macro_rules! prefetched_fields {
    ($then:ident $(, $profile:expr)?) => {
        $then!($($profile;)? core, core.building, place_keys, place_ends, key_ends, weighed)
    };
}

impl ClueProfile {
    /// The total weight of the bigrams, and the same without the place bigrams: the stored sums once the
    /// profile is weighed ([`BigramFrequencies::weigh`]), else one per bigram.
    pub fn weight_sums(&self) -> (f64, f64) {
        let n = self.bigram_count as usize;
        if self.weighed && n > 0 {
            self.bigram_weight_sums
        } else {
            let subject = n - (0..n).filter(|&i| self.is_place(i)).count();
            (n as f64, subject as f64)
        }
    }

    /// Whether the packed sets' offsets and counts fit what they index: always for a profile built here; a
    /// snapshot's are checked with this before a profile is used, so that no damage the checksum missed can
    /// make an accessor slice out of range.
    pub(crate) fn layout_is_sound(&self) -> bool {
        let [strong, names, accounts] = self.key_ends.map(|e| e as usize);
        let keys_fit = strong <= names && names <= accounts && accounts <= self.keys.len();
        let [places, lead] = self.place_ends.map(|e| e as usize);
        let places_fit = places <= lead && lead <= self.place_keys.len();
        let (n, m, t) = (
            self.bigram_count as usize,
            self.name_count as usize,
            self.topic_count as usize,
        );
        let weighing = if self.weighed {
            n + n.div_ceil(MARKS_PER_WORD)
        } else {
            0
        };
        let words_fit = n + m + t + weighing == self.words.len();
        let name_tokens: usize = if words_fit {
            self.words[n..n + m]
                .iter()
                .map(|c| (c >> 16) as usize + (c & 0xffff) as usize)
                .sum()
        } else {
            0
        };
        keys_fit && places_fit && words_fit && accounts + name_tokens == self.keys.len()
    }

    /// Phone and ID keys of all parties (`parties`), in the keys' text order.
    pub fn strong_keys(&self) -> &[Sym] {
        &self.keys[..self.key_ends[0] as usize]
    }

    /// Full-name keys of all parties (`parties`), in the keys' text order.
    pub fn name_keys(&self) -> &[Sym] {
        &self.keys[self.key_ends[0] as usize..self.key_ends[1] as usize]
    }

    /// Account keys of all parties (a message board's user id, an openid; `parties`), in the keys' text order.
    pub fn accounts(&self) -> &[Sym] {
        &self.keys[self.key_ends[1] as usize..self.key_ends[2] as usize]
    }

    /// How many persons' names the clue gives.
    pub fn name_count(&self) -> usize {
        self.name_count as usize
    }

    /// Name tokens of persons (`name_tokens`): (char tokens, sound tokens) of each.
    pub fn names(&self) -> impl Iterator<Item = (&[Sym], &[Sym])> + '_ {
        let counts = &self.words[self.bigram_count as usize..][..self.name_count as usize];
        let mut rest = &self.keys[self.key_ends[2] as usize..];
        counts.iter().map(move |&count| {
            let (chars, tail) = rest.split_at((count >> 16) as usize);
            let (sounds, tail) = tail.split_at((count & 0xffff) as usize);
            rest = tail;
            (chars, sounds)
        })
    }

    /// Set the parties' keys and names (each name's token lists shorter than 65,536).
    #[cfg(test)]
    pub(crate) fn set_keys(
        &mut self,
        strong_keys: &[Sym],
        name_keys: &[Sym],
        accounts: &[Sym],
        names: &[(Vec<Sym>, Vec<Sym>)],
    ) {
        let (keys, ends, counts) = pack_keys(strong_keys, name_keys, accounts, names);
        self.keys = keys;
        self.key_ends = ends;
        let mut parts = self.word_parts();
        parts.name_counts = counts;
        self.set_word_parts(parts);
    }

    /// The places the clue mentions (`Address::places`), as hashes of their toneless pinyin so homophone
    /// spellings agree; sorted and distinct.
    pub fn places(&self) -> &[u64] {
        &self.place_keys[..self.place_ends[0] as usize]
    }

    /// The first few places the clue names (the address's, the title's, the lead sentence's), sorted: what the
    /// report is about, where a long text may name many more places in passing.
    pub fn lead_places(&self) -> &[u64] {
        &self.place_keys[self.place_ends[0] as usize..self.place_ends[1] as usize]
    }

    /// The lead mentions that were specific when the clue arrived (see [`PlaceFrequencies`]), sorted.
    pub fn specific_places(&self) -> &[u64] {
        &self.place_keys[self.place_ends[1] as usize..]
    }

    /// Set the specific lead mentions (sorted and distinct), keeping the mentions and the lead mentions.
    fn set_specific_places(&mut self, specific_places: &[u64]) {
        let kept = &self.place_keys[..self.place_ends[1] as usize];
        self.place_keys = [kept, specific_places].concat().into();
    }

    /// Set the mentions, the lead mentions and the specific lead mentions (each sorted and distinct).
    pub(crate) fn set_places(&mut self, places: &[u64], lead_places: &[u64], specific_places: &[u64]) {
        self.place_keys = [places, lead_places, specific_places].concat().into();
        self.place_ends = [to_u32(places.len()), to_u32(places.len() + lead_places.len())];
    }

    /// Start loading every cache line of the profile: a glance at it reads its core, its sets' filters and
    /// sizes, all over its 224 bytes (see `score::may_anchor_at_a_glance` and `score::most_at_a_glance`), so
    /// that a clue's candidates are fetched together rather than one miss after another. Changes nothing.
    #[inline]
    pub(crate) fn prefetch_inline(&self) {
        macro_rules! ask_for {
            ($profile:expr; $($($field:ident).+),*) => { $(crate::prefetch::prefetch(&$profile.$($field).+);)* };
        }
        prefetched_fields!(ask_for, self);
    }

    /// Hashed character bigrams of the title and description, sorted and distinct.
    pub fn bigrams(&self) -> &[u32] {
        &self.words[..self.bigram_count as usize]
    }

    /// Topics of the lexicon the title and description mention, by index, sorted.
    pub fn topics(&self) -> &[u32] {
        let from = (self.bigram_count + self.name_count) as usize;
        &self.words[from..from + self.topic_count as usize]
    }

    /// Set the topics (sorted and distinct).
    #[cfg(test)]
    pub(crate) fn set_topics(&mut self, topics: &[u32]) {
        let mut parts = self.word_parts();
        parts.topics = topics.to_vec();
        self.set_word_parts(parts);
    }

    /// Where the weights begin in `words` (the marks follow them).
    fn weights_at(&self) -> usize {
        (self.bigram_count + self.name_count + self.topic_count) as usize
    }

    /// The bigrams with their weights and marks, as slices of `words` read once: a comparison walks them.
    fn bigram_view(&self) -> BigramView<'_> {
        let n = self.bigram_count as usize;
        let (weights, marks): (&[u32], &[u32]) = if self.weighed {
            let rest = &self.words[self.weights_at()..];
            let (weights, marks) = rest.split_at(n.min(rest.len()));
            (weights, marks)
        } else {
            (&[], &[])
        };
        BigramView {
            bigrams: self.bigrams(),
            weights,
            marks,
        }
    }

    /// The weight (IDF) of bigram `i` when the clue arrived, doubled for the headline's; 1 before weighing.
    pub fn bigram_weight(&self, i: usize) -> f32 {
        self.bigram_view().weight(i)
    }

    /// What `words` holds, taken apart (to be changed and assembled again).
    #[cfg(test)]
    fn word_parts(&self) -> WordParts {
        let n = self.bigram_count as usize;
        let from = n;
        let name_counts = self.words[from..from + self.name_count as usize].to_vec();
        let weighed = self.weighed.then(|| {
            (
                (0..n).map(|i| self.bigram_weight(i)).collect(),
                (0..n).map(|i| self.bigram_view().marks(i)).collect(),
            )
        });
        WordParts {
            bigrams: self.bigrams().to_vec(),
            name_counts,
            topics: self.topics().to_vec(),
            weighed,
        }
    }

    /// Assemble `words` from its parts: the bigrams, the names' token counts, the topics, and once weighed the
    /// weights' bits and the marks sixteen to a word.
    #[cfg(test)]
    fn set_word_parts(&mut self, parts: WordParts) {
        let WordParts {
            bigrams,
            name_counts,
            topics,
            weighed,
        } = parts;
        let n = bigrams.len();
        let mut words =
            Vec::with_capacity(2 * n + name_counts.len() + topics.len() + n.div_ceil(MARKS_PER_WORD));
        words.extend_from_slice(&bigrams);
        words.extend_from_slice(&name_counts);
        words.extend_from_slice(&topics);
        if let Some((weights, marks)) = &weighed {
            push_weighing(&mut words, weights, marks);
        }
        self.words = words.into();
        self.bigram_count = to_u32(n);
        self.name_count = to_u32(name_counts.len());
        self.topic_count = to_u32(topics.len());
        self.weighed = weighed.is_some();
    }

    /// Assemble `words` of a profile not yet weighed, in one allocation: the bigrams, the names' token counts
    /// and the topics, then what weighing them needs (the headline's and the places' bigrams) until
    /// [`BigramFrequencies::weigh`] reads it: the two lists and their lengths. Only the weights and the marks
    /// derived from them are compared, and a profile is kept for two months, so weighing drops them; held in
    /// `words` rather than a box of their own, they cost an unweighed profile no pointer and a weighed one
    /// nothing.
    fn set_unweighed_words(
        &mut self,
        bigrams: &[u32],
        name_counts: &[u32],
        topics: &[u32],
        headline: &[u32],
        place_bigrams: &[u32],
    ) {
        let mut words = Vec::with_capacity(
            bigrams.len() + name_counts.len() + topics.len() + headline.len() + place_bigrams.len() + 2,
        );
        for part in [bigrams, name_counts, topics, headline, place_bigrams] {
            words.extend_from_slice(part);
        }
        words.push(to_u32(headline.len()));
        words.push(to_u32(place_bigrams.len()));
        self.words = words.into();
        self.bigram_count = to_u32(bigrams.len());
        self.name_count = to_u32(name_counts.len());
        self.topic_count = to_u32(topics.len());
        self.weighed = false;
    }

    /// What [`ClueProfile::set_unweighed_words`] keeps for weighing, or nothing for a profile weighed already
    /// (or built without it).
    fn to_weigh(&self) -> WeighingInput {
        let kept = self.weights_at();
        let rest = self.words.get(kept..).unwrap_or_default();
        if self.weighed || rest.len() < 2 {
            return WeighingInput::default();
        }
        let (lists, lengths) = rest.split_at(rest.len() - 2);
        let (headline, place) = (lengths[0] as usize, lengths[1] as usize);
        if headline.checked_add(place) != Some(lists.len()) {
            return WeighingInput::default();
        }
        let (headline, place_bigrams) = lists.split_at(headline);
        WeighingInput {
            headline: headline.to_vec(),
            place_bigrams: place_bigrams.to_vec(),
        }
    }

    /// Set the bigrams' weights and marks (parallel to them), in place of any before: `words` is assembled
    /// once, its bigrams, names' token counts and topics kept as they are (what weighing needed is dropped).
    fn set_weighing(&mut self, weights: &[f32], marks: &[u8]) {
        let kept = self.weights_at();
        let mut words = Vec::with_capacity(kept + weights.len() + marks.len().div_ceil(MARKS_PER_WORD));
        words.extend_from_slice(&self.words[..kept]);
        push_weighing(&mut words, weights, marks);
        self.words = words.into();
        self.weighed = true;
    }

    /// Whether bigram `i` is one of the places' (false before weighing).
    pub fn is_place(&self, i: usize) -> bool {
        self.bigram_view().is_place(i)
    }

    /// The profile of `clue` with no topic lexicon, its values interned in one table per test thread (so the
    /// profiles a test builds compare with each other).
    #[cfg(test)]
    pub fn of(clue: &Clue) -> ClueProfile {
        TEST_SYMBOLS
            .with(|symbols| ClueProfile::new(clue, &TopicLexicon::default(), &mut symbols.borrow_mut()))
    }

    /// The profile of `clue`, its topics found with `lexicon`, its values interned in `symbols`.
    pub fn new(clue: &Clue, lexicon: &TopicLexicon, symbols: &mut Symbols) -> ClueProfile {
        ClueProfile::from_draft(clue, &ProfileDraft::of(clue, lexicon), symbols)
    }

    /// The profile of `clue` from its [`ProfileDraft`], its values interned in `symbols`: what
    /// [`ClueProfile::new`] gives.
    pub fn from_draft(clue: &Clue, draft: &ProfileDraft, symbols: &mut Symbols) -> ClueProfile {
        let ProfileDraft {
            strong_kinds,
            strong_keys,
            name_keys,
            accounts,
            names,
            organisations,
            reporter,
            estate_sound,
            road,
            estate_head,
            estate_lead,
            places,
            lead_places,
            bigrams,
            topics,
            headline,
            place_bigrams,
        } = draft;
        let estate = clue.address.estate.as_deref();
        let Symbols {
            towns,
            places: place_names,
            parties,
            name_tokens,
            organisations: organisation_names,
        } = symbols;
        let town_code = clue.town.town_code.0.as_str();
        let mut core = ClueCore {
            feed: clue.feed,
            extras: None,
            at: clue.occurred_at.timestamp(),
            town: (town_code != TownCode::UNKNOWN).then(|| towns.intern(town_code)),
            town_name: clue.town.town_name.as_deref().map(|n| towns.intern(n)),
            dispute_type: clue.dispute_type,
            type_guessed: clue.category_guessed,
            community: clue.town.community_code.as_deref().map(|c| place_names.intern(c)),
            estate_sound: estate_sound.as_deref().map(|e| place_names.intern(e)),
            estate: estate.map(|e| place_names.intern(e)),
            village_group: clue
                .address
                .village_group
                .as_deref()
                .map(|g| place_names.intern(g)),
            building: clue.address.building.as_deref().map(|b| place_names.intern(b)),
            road: road.as_deref().map(|r| place_names.intern(r)),
            location: Position::new(clue.location.map(|p| (p.lng, p.lat))),
            people: clue.people_involved.map(|p| p.min),
            reporter: reporter.as_deref().map(|r| parties.intern(r)),
            estate_head: *estate_head,
            estate_lead: *estate_lead,
        };
        // Kept apart only when the clue id does not end with it (a test's hand-made id).
        let source_id =
            (core.source_id(&clue.clue_id) != clue.source_id).then(|| clue.source_id.as_str().into());
        core.set_extras(
            source_id,
            organisations
                .iter()
                .map(|o| organisation_names.intern(o))
                .collect(),
            clue.risk_flags.iter().copied().collect(),
        );
        let mut profile = ClueProfile {
            core,
            strong_kinds: *strong_kinds,
            keys: Box::default(),
            key_ends: [0; 3],
            place_keys: Box::default(),
            place_ends: [0; 2],
            words: Box::default(),
            bigram_count: 0,
            name_count: 0,
            topic_count: 0,
            weighed: false,
            bigram_weight_sums: (0.0, 0.0),
            filters: SetFilters::default(),
        };
        let intern_all = |keys: &BTreeSet<String>, parties: &mut crate::symbols::DigestInterner| {
            keys.iter().map(|k| parties.intern(k)).collect::<Vec<Sym>>()
        };
        let names: Vec<(Vec<Sym>, Vec<Sym>)> = names
            .iter()
            .map(|(chars, sounds): &(Vec<String>, Vec<String>)| {
                (
                    chars.iter().map(|t| name_tokens.intern(t)).collect(),
                    sounds.iter().map(|t| name_tokens.intern(t)).collect(),
                )
            })
            .collect();
        // Each packed set is assembled once.
        let (keys, key_ends, name_counts) = pack_keys(
            &intern_all(strong_keys, parties),
            &intern_all(name_keys, parties),
            &intern_all(accounts, parties),
            &names,
        );
        profile.keys = keys;
        profile.key_ends = key_ends;
        profile.set_unweighed_words(bigrams, &name_counts, topics, headline, place_bigrams);
        profile.set_places(places, lead_places, &[]);
        profile.filters = SetFilters::of(&profile);
        profile
    }
}

/// What [`ClueProfile::new`] derives from a clue before interning anything: its keys and names as text, its
/// places' keys, its bigrams and topics. It needs no [`Symbols`], so a caller with a core to spare drafts the
/// profiles of the clues to come on it (a tuning sweep does, on the thread that decodes them) while the
/// correlator interns and compares; [`ClueProfile::from_draft`], given the same clue, finishes it exactly as
/// `new` would. Its topics are those of the lexicon it was drafted with, which must be the correlator's
/// ([`Correlator::lexicon`](crate::Correlator::lexicon)).
#[derive(Debug, Clone)]
pub struct ProfileDraft {
    strong_kinds: u8,
    strong_keys: BTreeSet<String>,
    name_keys: BTreeSet<String>,
    accounts: BTreeSet<String>,
    names: Vec<(Vec<String>, Vec<String>)>,
    organisations: Vec<String>,
    reporter: Option<String>,
    /// The estate's sound (toneless pinyin).
    estate_sound: Option<String>,
    /// The road's name as compared.
    road: Option<String>,
    estate_head: u32,
    estate_lead: u32,
    places: Vec<u64>,
    lead_places: Vec<u64>,
    bigrams: Vec<u32>,
    topics: Vec<u32>,
    headline: Vec<u32>,
    place_bigrams: Vec<u32>,
}

impl ProfileDraft {
    /// The draft of `clue`'s profile, its topics found with `lexicon`.
    pub fn of(clue: &Clue, lexicon: &TopicLexicon) -> ProfileDraft {
        let mut strong_keys = BTreeSet::new();
        let mut strong_kinds = 0u8;
        let mut name_keys = BTreeSet::new();
        let mut accounts = BTreeSet::new();
        let mut names = Vec::new();
        let mut organisations = Vec::new();
        let mut reporter = None;
        for party in &clue.parties {
            for key in &party.keys {
                match key.kind {
                    PartyKeyKind::Phone => {
                        strong_kinds |= 1;
                        strong_keys.insert(key.hash.clone())
                    }
                    PartyKeyKind::IdNumber => {
                        strong_kinds |= 2;
                        strong_keys.insert(key.hash.clone())
                    }
                    PartyKeyKind::Name => name_keys.insert(key.hash.clone()),
                    PartyKeyKind::Account => accounts.insert(key.hash.clone()),
                };
            }
            if let Some(tokens) = &party.name_tokens {
                names.push((tokens.chars.clone(), tokens.sounds.clone()));
            }
            if party.kind == PartyKind::Organisation {
                if let Some(name) = &party.name_masked {
                    organisations.push(normalize_org(name));
                }
            }
            if reporter.is_none() && is_reporting_role(party.role) {
                reporter = party
                    .keys
                    .iter()
                    .find(|k| k.kind != PartyKeyKind::Name)
                    .or_else(|| party.keys.first())
                    .map(|k| k.hash.clone());
            }
        }
        let mut text = String::with_capacity(
            clue.title.as_ref().map_or(0, |t| t.len() + 1)
                + clue.address.text.len()
                + 1
                + clue.description.len(),
        );
        if let Some(title) = &clue.title {
            text.push_str(title);
            text.push(' ');
        }
        let address = &clue.address;
        // An address field that yields no address part is free text (a message board's title put there): it
        // is part of what the report says.
        let free_address = is_free_text_address(clue);
        let mut headline_text = clue.title.clone().unwrap_or_default();
        if free_address {
            headline_text.push(' ');
            headline_text.push_str(&address.text);
            text.push_str(&address.text);
            text.push(' ');
        }
        if headline_text.trim().is_empty() {
            // No title anywhere: the lead sentence of the text is the report's own headline.
            let lead: String = clue
                .description
                .split(['。', '！', '？', '\n'])
                .next()
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect();
            headline_text = lead;
        }
        text.push_str(&clue.description);
        // The bigrams of every place the clue names, so what is said about a place can be compared apart
        // from the place itself.
        let mut place_text = address.places.join(" ");
        for part in [&address.estate, &address.road, &address.village_group]
            .into_iter()
            .flatten()
        {
            place_text.push(' ');
            place_text.push_str(part);
        }
        let place_bigrams = bigrams(&place_text);
        // The road, group and community have features of their own: a mention of them adds nothing new (and a
        // village's name is shared by all its neighbours' disputes). The estate stays: another report may name
        // it only in its text, and `compare` does not count it twice.
        let mut structured: Vec<u64> = [&address.road, &address.village_group, &clue.town.community_name]
            .into_iter()
            .flatten()
            .map(|p| place_key(p))
            .collect();
        for org in organisations_in(&text) {
            if !organisations.contains(&org) {
                organisations.push(org);
            }
        }
        // Each mention's key once (its pinyin is the costly part), in the order the clue names them. A company
        // named is the counter-party's feature (an employer is shared by its workers' separate disputes).
        let keyed: Vec<u64> = address
            .places
            .iter()
            .map(|p| {
                let key = place_key(p);
                // The segmenter may give a village or community without its `村`/`社区`: still the community.
                let names_community = clue
                    .town
                    .community_name
                    .as_deref()
                    .and_then(|c| c.strip_prefix(p.as_str()))
                    .is_some_and(|suffix| suffix.chars().count() <= 3);
                if names_community || organisations.contains(&normalize_org(p)) {
                    structured.push(key);
                }
                key
            })
            .collect();
        let mut lead_places: Vec<u64> = keyed
            .iter()
            .take(LEAD_PLACES)
            .copied()
            .filter(|k| !structured.contains(k))
            .collect();
        lead_places.sort_unstable();
        lead_places.dedup();
        let mut places: Vec<u64> = keyed.into_iter().filter(|k| !structured.contains(k)).collect();
        places.sort_unstable();
        places.dedup();
        let estate = clue.address.estate.as_deref();
        ProfileDraft {
            strong_kinds,
            strong_keys,
            name_keys,
            accounts,
            names,
            organisations,
            reporter,
            estate_sound: estate.map(sound_of),
            road: clue.address.road.as_deref().map(road_name),
            estate_head: estate.map_or(0, estate_head_hash),
            estate_lead: estate.map_or(0, estate_lead_hash),
            places,
            lead_places,
            bigrams: bigrams(&text),
            topics: lexicon.topics_in(&text),
            headline: bigrams(&headline_text),
            place_bigrams,
        }
    }
}

/// The hash of an estate name's head ([`estate_head`]) that [`ClueCore::estate_head`] holds: never 0, which
/// stands for no estate.
fn estate_head_hash(estate: &str) -> u32 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(estate_head(estate), &mut hasher);
    // The low half: a hash's bits are alike, and equal halves only send a pair to compare the names.
    (std::hash::Hasher::finish(&hasher) as u32) | 1
}

/// The hash of an estate name's first three characters that [`ClueCore::estate_lead`] holds: never 0, which
/// stands for a name of fewer than three (or no estate).
fn estate_lead_hash(estate: &str) -> u32 {
    let mut chars = estate.char_indices();
    if chars.nth(2).is_none() {
        return 0;
    }
    let lead = chars.next().map_or(estate, |(end, _)| &estate[..end]);
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(lead, &mut hasher);
    (std::hash::Hasher::finish(&hasher) as u32) | 1
}

#[cfg(test)]
thread_local! {
    /// The tables [`ClueProfile::of`] interns into: one per test thread.
    static TEST_SYMBOLS: std::cell::RefCell<Symbols> = std::cell::RefCell::new(Symbols::default());
}

/// A copy of the tables the profiles of [`ClueProfile::of`] were interned into, for comparing them.
#[cfg(test)]
pub(crate) fn test_symbols() -> Symbols {
    TEST_SYMBOLS.with(|symbols| symbols.borrow().clone())
}

/// A reporting person known only by one key of `kind` (`key` stands for its keyed hash), for tests.
#[cfg(test)]
pub(crate) fn test_reporter(kind: PartyKeyKind, key: &str) -> yujing_model::Party {
    yujing_model::Party {
        role: PartyRole::Reporter,
        kind: PartyKind::Person,
        name_masked: None,
        phone_masked: None,
        id_masked: None,
        keys: vec![yujing_model::PartyKey {
            kind,
            hash: key.to_owned(),
        }],
        name_tokens: None,
    }
}

/// The topic lexicon compiled for search: every word of every topic in one Aho–Corasick automaton.
#[derive(Debug, Clone, Default)]
pub struct TopicLexicon {
    search: Option<aho_corasick::AhoCorasick>,
    topic_of_word: Vec<u16>,
}

impl TopicLexicon {
    /// Compile `(topic, words)` pairs.
    pub fn new(topics: &[(String, Vec<String>)]) -> TopicLexicon {
        let mut words = Vec::new();
        let mut topic_of_word = Vec::new();
        for (i, (_, ws)) in topics.iter().enumerate() {
            for w in ws {
                words.push(w.clone());
                topic_of_word.push(u16::try_from(i).unwrap_or(u16::MAX));
            }
        }
        let search = (!words.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&words).ok())
            .flatten();
        TopicLexicon {
            search,
            topic_of_word,
        }
    }

    /// The topics `text` mentions, sorted and distinct.
    pub fn topics_in(&self, text: &str) -> Vec<u32> {
        let Some(search) = &self.search else {
            return Vec::new();
        };
        let mut out: Vec<u32> = search
            .find_overlapping_iter(text)
            .map(|m| u32::from(self.topic_of_word[m.pattern().as_usize()]))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether a clue's address field holds more than an address: what is left of it without the town, the
/// community, the road, the estate, the group, the building and address words is four characters or more
/// (`丽景新城旁搅拌站粉尘扰民`, a message board's title put in the address field), not a leftover `小区`.
fn is_free_text_address(clue: &Clue) -> bool {
    let address = &clue.address;
    let mut rest = address.text.clone();
    let parts = [
        clue.town.town_name.as_deref(),
        clue.town.community_name.as_deref(),
        address.road.as_deref(),
        address.estate.as_deref(),
        address.village_group.as_deref(),
    ];
    for part in parts.into_iter().flatten() {
        rest = rest.replace(part, "");
    }
    let leftover = rest
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .filter(|c| {
            !"省市县区镇乡街道村组社小幢栋号楼室单元期一二三四五六七八九十工业园开发经济技术高新产"
                .contains(*c)
        })
        .count();
    leftover >= 4
}

/// The key of a place mention: the hash of its toneless pinyin, so `华庭`/`华廷` spellings are one place.
pub fn place_key(mention: &str) -> u64 {
    sound_key(&sound_of(mention))
}

/// The key of a place already written as toneless pinyin (see [`sound_of`]).
pub fn sound_key(sound: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sound.hash(&mut h);
    h.finish()
}

/// How many clues mention each place, learned from the recent stream: a mention many reports share (a
/// district, `农村学校`) says little about which dispute a report is; a rare one shared by two reports ties them.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PlaceFrequencies {
    counts: WindowedCounts<u64>,
}

impl PlaceFrequencies {
    /// The share of clues beyond which a mention is common, not specific.
    const COMMON_SHARE: f64 = 0.02;
    /// A mention used by at most this many clues is specific however few clues were seen.
    const SPECIFIC_FLOOR: u32 = 8;

    /// Counts over the last `window_days` to twice that (see [`WindowedCounts`]).
    pub fn new(window_days: u32) -> PlaceFrequencies {
        PlaceFrequencies {
            counts: WindowedCounts::new(window_days),
        }
    }

    /// Count one clue's mentions, at its event time.
    pub fn add(&mut self, at: i64, places: &[u64]) {
        self.counts.add(at, places.iter().copied());
    }

    /// Whether a mention is specific: used by few of the clues before `at`, in the window.
    pub fn is_specific(&self, at: i64, place: u64) -> bool {
        let (documents, df) = (self.counts.documents(at), self.counts.count(at, place));
        df <= Self::SPECIFIC_FLOOR || f64::from(df) <= Self::COMMON_SHARE * f64::from(documents)
    }

    /// Keep only the specific lead mentions of a profile, in `specific_places`.
    pub fn weigh(&self, profile: &mut ClueProfile) {
        let specific: Vec<u64> = profile
            .lead_places()
            .iter()
            .copied()
            .filter(|p| self.is_specific(profile.at, *p))
            .collect();
        profile.set_specific_places(&specific);
    }
}

/// Organisations named in free text (`永安服饰有限公司，…`), normalized like party organisations.
fn organisations_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("公司") {
        let before: Vec<char> = text[..at].chars().collect();
        let start = before
            .iter()
            .rposition(|c| !('\u{4e00}'..='\u{9fff}').contains(c))
            .map(|p| p + 1)
            .unwrap_or(0);
        let name: String = before[start.max(before.len().saturating_sub(14))..]
            .iter()
            .collect();
        let org = normalize_org(&format!("{name}公司"));
        if org.chars().count() >= 2 && !out.contains(&org) {
            out.push(org);
        }
    }
    out
}

fn is_reporting_role(role: PartyRole) -> bool {
    matches!(
        role,
        PartyRole::Reporter | PartyRole::Applicant | PartyRole::Complainant | PartyRole::Petitioner
    )
}

/// An organisation's name without the county prefix and the legal-form suffix, so `如皋市安居物业服务有限公司`
/// and `安居物业` compare equal.
pub fn normalize_org(name: &str) -> String {
    let mut s: &str = name.trim();
    // Any county's: a province, city or county written first (`江苏省`, `南通市`, `如皋市`), repeatedly.
    while let Some(rest) = strip_division_prefix(s) {
        s = rest;
    }
    s = s.strip_prefix("如皋").unwrap_or(s);
    for suffix in ["股份有限公司", "有限责任公司", "有限公司", "公司"] {
        s = s.strip_suffix(suffix).unwrap_or(s);
    }
    s = s.strip_suffix("服务").unwrap_or(s);
    s.to_owned()
}

/// `name` without a leading division name of two or three characters and its unit (`南通市`, `长沙县`),
/// when what follows is still a name; `超市`, `市场` and the like are not divisions.
fn strip_division_prefix(name: &str) -> Option<&str> {
    let chars: Vec<(usize, char)> = name.char_indices().collect();
    for len in [3, 4] {
        let (at, unit) = *chars.get(len - 1)?;
        if !"省市县".contains(unit) {
            continue;
        }
        let before = chars[len - 2].1;
        let after = chars.get(len).map(|c| c.1);
        if "超门夜集菜黑".contains(before) || after == Some('场') {
            return None;
        }
        let rest = &name[at + unit.len_utf8()..];
        return (rest.chars().count() >= 2).then_some(rest);
    }
    None
}

/// A road's own name, without an area written before it (`工业园区海阳北路` → `海阳北路`).
pub fn road_name(road: &str) -> String {
    for area in ["工业园区", "开发区", "园区", "工业区"] {
        if let Some((_, rest)) = road.rsplit_once(area) {
            if !rest.is_empty() {
                return rest.to_owned();
            }
        }
    }
    road.to_owned()
}

/// Text as toneless pinyin syllables; characters without a reading are kept as they are.
pub fn sound_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (c, py) in text.chars().zip(text.to_pinyin()) {
        match py {
            Some(p) => out.push_str(p.plain()),
            None => out.push(c),
        }
        out.push(' ');
    }
    out.pop();
    out
}

/// Characters that carry no content for matching: punctuation, digits, masking stars, spaces.
fn is_content_char(c: char) -> bool {
    !(c.is_ascii_punctuation()
        || c.is_ascii_digit()
        || c.is_whitespace()
        || c == '*'
        || ('\u{3000}'..='\u{303f}').contains(&c)
        || ('\u{ff00}'..='\u{ff20}').contains(&c)
        || "，。、；：？！“”‘’（）《》【】—…·".contains(c))
}

/// Two MinHash signatures of a bigram set (the least of two independent permutations of the bigram hashes):
/// two texts share each with a probability equal to their Jaccard similarity, so a text posted again finds
/// its earlier copy through them however little else it says.
pub fn minhashes(bigrams: &[u32]) -> [u32; 2] {
    let permute = |b: u32, seed: u32| (b ^ seed).wrapping_mul(0x9e37_79b1).rotate_left(13) ^ seed;
    let mut out = [u32::MAX; 2];
    for &b in bigrams {
        out[0] = out[0].min(permute(b, 0x85eb_ca6b));
        out[1] = out[1].min(permute(b, 0xc2b2_ae35));
    }
    out
}

/// The distinct hashed character bigrams of `text`, sorted (FNV-1a over the two characters).
pub fn bigrams(text: &str) -> Vec<u32> {
    // One pass, no list of characters: called three times a clue (text, headline, places), and collecting the
    // characters first cost nine allocations a call as the lists grew.
    let mut out: Vec<u32> = Vec::with_capacity(text.len() / 3 + 1);
    let mut chars = text.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        // A masked name (`赵**`) keeps its surname, which says nothing about the dispute: drop it with the stars.
        if !is_content_char(c) || chars.peek() == Some(&'*') {
            continue;
        }
        if let Some(p) = previous {
            out.push(bigram_hash(p, c));
        }
        previous = Some(c);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The FNV-1a hash of two characters' code points (little-endian), the one a bigram is known by.
fn bigram_hash(first: char, second: char) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for c in [first, second] {
        for b in (c as u32).to_le_bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// How many clues carried each key, over a sliding event-time window: two buckets of `span`, the current and
/// the one before, so a count covers the last `span` to `2 × span`. Old buckets are dropped whole, so memory
/// follows the window, not the history. A clue later than the current bucket opens a new one; a late clue
/// (event time before the current bucket) is counted in the current one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: serde::Serialize + std::hash::Hash + Eq",
    deserialize = "K: serde::Deserialize<'de> + std::hash::Hash + Eq"
))]
pub struct WindowedCounts<K> {
    span: i64,
    /// Where the current bucket starts (a multiple of `span` since the epoch); `None` before the first clue.
    start: Option<i64>,
    /// Clues counted in the current and the previous bucket.
    documents: (u32, u32),
    /// Per key, its clues in the current and the previous bucket: one lookup answers for the window (a
    /// clue's every bigram is looked up when it arrives).
    counts: std::collections::HashMap<K, (u32, u32)>,
}

impl<K> Default for WindowedCounts<K> {
    /// Buckets of 30 days: half the default blocking horizon.
    fn default() -> Self {
        WindowedCounts::new(30)
    }
}

impl<K> WindowedCounts<K> {
    /// Buckets of `span_days` (at least one day).
    pub fn new(span_days: u32) -> WindowedCounts<K> {
        WindowedCounts {
            span: i64::from(span_days.max(1)) * 86_400,
            start: None,
            documents: (0, 0),
            counts: std::collections::HashMap::new(),
        }
    }

    /// Which buckets count at `at`: both, only the current one (the previous is out of the window), or none.
    fn buckets_at(&self, at: i64) -> (u32, u32) {
        let Some(start) = self.start else {
            return (0, 0);
        };
        let bucket = at.div_euclid(self.span) * self.span;
        if bucket <= start {
            (1, 1)
        } else if bucket == start + self.span {
            (1, 0)
        } else {
            (0, 0)
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy> WindowedCounts<K> {
    /// Count one clue's keys (each key once per clue is the caller's business) at event time `at`.
    pub fn add(&mut self, at: i64, keys: impl Iterator<Item = K>) {
        let bucket = at.div_euclid(self.span) * self.span;
        match self.start {
            Some(start) if bucket <= start => {}
            Some(start) if bucket == start + self.span => {
                // The current bucket becomes the previous one; keys seen only before it are dropped.
                self.documents = (0, self.documents.0);
                self.counts.retain(|_, c| {
                    *c = (0, c.0);
                    c.1 > 0
                });
                self.start = Some(bucket);
            }
            _ => {
                self.documents = (0, 0);
                self.counts.clear();
                self.start = Some(bucket);
            }
        }
        self.documents.0 += 1;
        for key in keys {
            self.counts.entry(key).or_insert((0, 0)).0 += 1;
        }
    }

    /// How many clues of the window at `at` were counted.
    pub fn documents(&self, at: i64) -> u32 {
        let (current, previous) = self.buckets_at(at);
        current * self.documents.0 + previous * self.documents.1
    }

    /// How many clues of the window at `at` carried `key`.
    pub fn count(&self, at: i64, key: K) -> u32 {
        let (current, previous) = self.buckets_at(at);
        self.counts
            .get(&key)
            .map_or(0, |c| current * c.0 + previous * c.1)
    }
}

/// Document frequencies of description bigrams over the recent clues, for weighting: a bigram every report
/// uses (`要求`, `协调`, `解决`) says little about which dispute it is; a rare one (`道闸`, `彩礼`) says much.
/// Updated as clues arrive, so the weights depend only on the clues before, in order, and only on those of the
/// window: what the county talks about this month, not over the years the store holds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BigramFrequencies {
    counts: WindowedCounts<u32>,
}

impl BigramFrequencies {
    /// Counts over the last `window_days` to twice that (see [`WindowedCounts`]).
    pub fn new(window_days: u32) -> BigramFrequencies {
        BigramFrequencies {
            counts: WindowedCounts::new(window_days),
        }
    }

    /// Count one clue's bigrams, at its event time.
    pub fn add(&mut self, at: i64, bigrams: &[u32]) {
        self.counts.add(at, bigrams.iter().copied());
    }

    /// The inverse document frequency of a bigram among the clues of the window before `at`,
    /// `ln((N + 1) / (df + 1)) + 1`: 1 for a bigram in every clue, more for rarer ones.
    pub fn idf(&self, at: i64, bigram: u32) -> f64 {
        let (documents, df) = (self.counts.documents(at), self.counts.count(at, bigram));
        (f64::from(documents + 1) / f64::from(df + 1)).ln() + 1.0
    }

    /// Weigh a profile's bigrams by their IDF among the clues counted so far. The weights are kept with the
    /// profile, so comparing two clues costs a merge of two sorted lists, with no lookups.
    ///
    /// Weighing takes what the profile kept for it (its headline's and places' bigrams): a profile is weighed once, when it is built. One
    /// weighed again (or loaded from a snapshot) has no headline or place bigrams left to mark.
    pub fn weigh(&self, profile: &mut ClueProfile) {
        let WeighingInput {
            headline,
            place_bigrams: place,
        } = profile.to_weigh();
        let at = profile.at;
        let bigrams = profile.bigrams();
        let weights: Vec<f32> = bigrams
            .iter()
            .map(|&b| {
                let w = self.idf(at, b) as f32;
                if headline.binary_search(&b).is_ok() {
                    2.0 * w
                } else {
                    w
                }
            })
            .collect();
        // What is said without the places' names, for `subject_similarity`: derived once per clue here, so a
        // pair costs two merges. A headline's bigrams are all bigrams of the text, which holds the headline.
        let marks: Vec<u8> = bigrams
            .iter()
            .map(|b| {
                if place.binary_search(b).is_ok() {
                    BigramMarks::PLACE
                } else if headline.binary_search(b).is_ok() {
                    BigramMarks::HEADLINE_SUBJECT
                } else {
                    0
                }
            })
            .collect();
        profile.bigram_weight_sums =
            weights
                .iter()
                .zip(&marks)
                .fold((0.0, 0.0), |(all, subject), (&w, &marks)| {
                    let w = f64::from(w);
                    let place = marks & BigramMarks::PLACE != 0;
                    (all + w, if place { subject } else { subject + w })
                });
        profile.set_weighing(&weights, &marks);
    }
}

/// Dice similarity of two clues' bigram sets, each bigram weighted (see [`BigramFrequencies::weigh`]): twice
/// the weight of what they share over the weight of both.
pub fn weighted_dice(a: &ClueProfile, b: &ClueProfile) -> f64 {
    let (a, b) = (a.bigram_view(), b.bigram_view());
    weighted_dice_of(a.weighted(|_| true), b.weighted(|_| true))
}

/// How alike two clues are in what they say happens, leaving out the places they name: the more alike of
/// their headlines (titles, free-text address fields, lead sentences) and their whole texts, each by weighted
/// Dice over bigrams without the bigrams of each clue's own places. Two reports at one place share its name;
/// this tells whether they share the problem.
pub fn subject_similarity(a: &ClueProfile, b: &ClueProfile) -> f64 {
    let (_, text) = description_and_subject(a, b);
    subject_with_text(a, b, text)
}

/// [`subject_similarity`] given the whole texts' part, from [`description_and_subject`].
pub fn subject_with_text(a: &ClueProfile, b: &ClueProfile, text: f64) -> f64 {
    headline_subject_dice(a, b).max(text)
}

/// Weighted Dice of what two clues' headlines say happens: [`weighted_dice_of`] the bigrams marked
/// [`BigramMarks::HEADLINE_SUBJECT`], with their weights.
fn headline_subject_dice(a: &ClueProfile, b: &ClueProfile) -> f64 {
    let (a, b) = (a.bigram_view(), b.bigram_view());
    weighted_dice_of(
        a.weighted(|i| a.is_headline_subject(i)),
        b.weighted(|i| b.is_headline_subject(i)),
    )
}

/// The weighted Dice of two clues' descriptions ([`weighted_dice`]) and the same without each clue's place
/// bigrams, in one walk over both.
///
/// Called for every candidate pair, so the walk does only what depends on both: each profile's total weights
/// are summed once when it is weighed ([`ClueProfile::weight_sums`]), and the walk adds up what the two share.
pub fn description_and_subject(a: &ClueProfile, b: &ClueProfile) -> (f64, f64) {
    let (x, y) = (a.bigrams(), b.bigrams());
    if x.is_empty() || y.is_empty() {
        return (0.0, 0.0);
    }
    let ((total_a, subject_a), (total_b, subject_b)) = (a.weight_sums(), b.weight_sums());
    let (a, b) = (a.bigram_view(), b.bigram_view());
    let weight = |p: &BigramView<'_>, i: usize| f64::from(p.weight(i));
    let is_place = |p: &BigramView<'_>, i: usize| p.is_place(i);
    let (mut i, mut j) = (0, 0);
    let (mut common, mut subject_common, mut subject_total) = (0.0_f64, 0.0_f64, subject_a + subject_b);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let (wa, wb) = (weight(&a, i), weight(&b, j));
                common += wa + wb;
                // A bigram shared as a place name on one side only leaves the other side's subject as well.
                match (is_place(&a, i), is_place(&b, j)) {
                    (false, false) => subject_common += wa + wb,
                    (true, false) => subject_total -= wb,
                    (false, true) => subject_total -= wa,
                    (true, true) => {}
                }
                i += 1;
                j += 1;
            }
        }
    }
    let ratio = |c: f64, t: f64| if t > 0.0 { c / t } else { 0.0 };
    (
        ratio(common, total_a + total_b),
        ratio(subject_common, subject_total),
    )
}

/// Weighted Dice of two sorted, distinct sets of (element, weight): twice the weight of what they share over
/// the weight of both, summed in one order (the merge, then each side's rest), so equal inputs give equal bits.
fn weighted_dice_of(x: impl Iterator<Item = (u32, f32)>, y: impl Iterator<Item = (u32, f32)>) -> f64 {
    let (mut x, mut y) = (x.peekable(), y.peekable());
    if x.peek().is_none() || y.peek().is_none() {
        return 0.0;
    }
    let (mut common, mut total) = (0.0, 0.0);
    while let (Some(&(a, wa)), Some(&(b, wb))) = (x.peek(), y.peek()) {
        match a.cmp(&b) {
            std::cmp::Ordering::Less => {
                total += f64::from(wa);
                x.next();
            }
            std::cmp::Ordering::Greater => {
                total += f64::from(wb);
                y.next();
            }
            std::cmp::Ordering::Equal => {
                let w = f64::from(wa) + f64::from(wb);
                common += w;
                total += w;
                x.next();
                y.next();
            }
        }
    }
    total += x.map(|(_, w)| f64::from(w)).sum::<f64>();
    total += y.map(|(_, w)| f64::from(w)).sum::<f64>();
    if total > 0.0 {
        common / total
    } else {
        0.0
    }
}

/// Dice similarity of two sorted, distinct sets.
pub fn dice(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields [`ClueProfile::prefetch_inline`] asks for hold a byte of every cache line a profile spans,
    /// wherever (at its alignment) it begins: a field moved by the compiler or added would otherwise leave a
    /// line to a miss of its own, silently.
    #[test]
    fn prefetching_a_profile_asks_for_every_line_it_spans() {
        use std::mem::{align_of, offset_of, size_of};
        macro_rules! offsets {
            ($($($field:ident).+),*) => { [$(offset_of!(ClueProfile, $($field).+)),*] };
        }
        let asked = prefetched_fields!(offsets);
        let size = size_of::<ClueProfile>();
        for start in (0..64).step_by(align_of::<ClueProfile>()) {
            for line in start / 64..=(start + size - 1) / 64 {
                assert!(
                    asked.iter().any(|&field| (start + field) / 64 == line),
                    "a profile beginning {start} bytes into a line: its line {line} is not asked for ({asked:?})"
                );
            }
        }
    }

    #[test]
    fn homophone_estates_sound_the_same() {
        assert_eq!(sound_of("锦绣华庭"), sound_of("锦绣华廷"));
        assert_ne!(sound_of("锦绣华庭"), sound_of("锦绣花园"));
    }

    #[test]
    fn organisations_compare_without_prefix_and_legal_form() {
        assert_eq!(normalize_org("如皋市安居物业服务有限公司"), "安居物业");
        assert_eq!(normalize_org("安居物业"), "安居物业");
        assert_eq!(normalize_org("长沙县星沙物业有限公司"), "星沙物业");
        assert_eq!(normalize_org("华润超市有限公司"), "华润超市");
        assert_eq!(
            organisations_in("永安服饰有限公司，加班费不给"),
            vec!["永安服饰".to_owned()]
        );
        assert_eq!(organisations_in("在白蒲镇某服装厂打工"), Vec::<String>::new());
    }

    /// The one-pass bigrams are those of the characters listed first, kept, then paired (the form before stop
    /// 36), on texts with masked names, stars, punctuation, Latin letters and digits.
    #[test]
    fn bigrams_in_one_pass_are_the_bigrams_of_the_kept_characters() {
        fn listed(text: &str) -> Vec<u32> {
            let all: Vec<char> = text.chars().collect();
            let kept: Vec<char> = all
                .iter()
                .enumerate()
                .filter(|&(i, &c)| is_content_char(c) && all.get(i + 1) != Some(&'*'))
                .map(|(_, &c)| c)
                .collect();
            let mut out: Vec<u32> = kept.windows(2).map(|w| bigram_hash(w[0], w[1])).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
        for text in [
            "",
            "电",
            "电梯",
            "赵**说电梯坏了，物业不修！",
            "*赵*钱**孙李*",
            "A座3单元 502室 漏水 water leak 12345",
            "锦绣华庭锦绣华庭，锦绣华庭",
            "**",
            "王*",
        ] {
            assert_eq!(bigrams(text), listed(text), "{text}");
        }
    }

    /// A profile finished from a draft made on another thread is the profile `new` makes, symbols and all,
    /// for clues with and without names, places, topics and a headline.
    #[test]
    fn a_profile_drafted_on_another_thread_is_the_profile_new_makes() {
        let lexicon = TopicLexicon::new(&[("电梯".to_owned(), vec!["电梯".to_owned()])]);
        let mut titled = yujing_model_clue("电梯又坏了，物业一直不修");
        titled.title = Some("锦绣华庭电梯故障".to_owned());
        let mut bare = yujing_model_clue("");
        bare.parties.clear();
        bare.address = yujing_model::Address::default();
        let clues = [yujing_model_clue("电梯坏了物业不修，业主多次反映"), titled, bare];
        let drafts: Vec<ProfileDraft> = std::thread::scope(|scope| {
            scope
                .spawn(|| clues.iter().map(|c| ProfileDraft::of(c, &lexicon)).collect())
                .join()
                .expect("the drafting thread ends")
        });
        let (mut by_new, mut by_draft) = (Symbols::default(), Symbols::default());
        for (clue, draft) in clues.iter().zip(&drafts) {
            let expected = ClueProfile::new(clue, &lexicon, &mut by_new);
            assert_eq!(ClueProfile::from_draft(clue, draft, &mut by_draft), expected);
            assert_eq!(expected.filters, SetFilters::of(&expected));
        }
        assert_eq!(by_draft.places.len(), by_new.places.len());
        assert!(!by_new.places.is_empty(), "the clues name places");
    }

    #[test]
    fn topics_are_found_through_any_of_their_words() {
        let lexicon = TopicLexicon::new(&[
            ("排水".to_owned(), vec!["排水".to_owned(), "下水道".to_owned()]),
            ("狗".to_owned(), vec!["狗".to_owned()]),
        ]);
        assert_eq!(lexicon.topics_in("下水道堵塞互相推诿，邻居家狗乱叫"), vec![0, 1]);
        assert_eq!(lexicon.topics_in("电梯坏了"), Vec::<u32>::new());
    }

    #[test]
    fn counts_cover_the_window_and_forget_what_is_older() {
        let day = 86_400;
        let mut counts: WindowedCounts<u32> = WindowedCounts::new(30);
        counts.add(day, [1, 2].into_iter());
        counts.add(10 * day, [1].into_iter());
        assert_eq!((counts.documents(20 * day), counts.count(20 * day, 1)), (2, 2));
        // The next bucket: the previous one still counts.
        counts.add(35 * day, [1].into_iter());
        assert_eq!((counts.documents(40 * day), counts.count(40 * day, 1)), (3, 3));
        // Read from a clue two buckets on: only the bucket before it counts.
        assert_eq!((counts.documents(65 * day), counts.count(65 * day, 2)), (1, 0));
        // A late clue counts in the current bucket.
        counts.add(5 * day, [2].into_iter());
        assert_eq!(counts.count(40 * day, 2), 2);
        // A clue after a long pause starts afresh.
        counts.add(200 * day, [3].into_iter());
        assert_eq!((counts.documents(200 * day), counts.count(200 * day, 1)), (1, 0));
        assert_eq!(counts.documents(500 * day), 0);
    }

    #[test]
    fn boilerplate_bigrams_weigh_less_than_rare_ones() {
        let mut freq = BigramFrequencies::default();
        let at = ClueProfile::of(&yujing_model_clue("")).at;
        for _ in 0..50 {
            freq.add(at, &bigrams("希望有关部门协调解决"));
        }
        let profile = |text: &str, freq: &BigramFrequencies| {
            let mut p = ClueProfile::of(&yujing_model_clue(text));
            freq.weigh(&mut p);
            p
        };
        let a = profile("道闸损坏，希望有关部门协调解决", &freq);
        let b = profile("彩礼不退，希望有关部门协调解决", &freq);
        let c = profile("道闸坏了", &freq);
        let plain = dice(a.bigrams(), b.bigrams());
        assert!(plain > 0.5, "plain Dice is fooled by the boilerplate");
        assert!(weighted_dice(&a, &b) < plain * 0.8);
        assert!(weighted_dice(&a, &c) > dice(a.bigrams(), c.bigrams()));
        // Unweighed profiles compare by plain Dice.
        let empty = BigramFrequencies::default();
        let (a, b) = (
            profile("道闸损坏，希望解决", &empty),
            profile("彩礼不退，希望解决", &empty),
        );
        assert!((weighted_dice(&a, &b) - dice(a.bigrams(), b.bigrams())).abs() < 1e-6);
    }

    #[test]
    fn the_subject_is_compared_without_the_places_named() {
        let profile = |text: &str| {
            let mut clue = yujing_model_clue(text);
            clue.address.places = vec!["丽景新城".to_owned()];
            let mut p = ClueProfile::of(&clue);
            BigramFrequencies::default().weigh(&mut p);
            p
        };
        let dust = profile("丽景新城附近搅拌站粉尘太大");
        let dust_again = profile("丽景新城旁边的搅拌站粉尘依旧");
        let parking = profile("丽景新城物业乱收停车费");
        // The estate's name makes the whole texts look alike; without it, only the plant and its dust do.
        assert!(description_and_subject(&dust, &parking).0 > 0.1);
        assert!(
            subject_similarity(&dust, &parking) < 0.05,
            "{}",
            subject_similarity(&dust, &parking)
        );
        assert!(
            subject_similarity(&dust, &dust_again) >= 0.2,
            "{}",
            subject_similarity(&dust, &dust_again)
        );
        let (d, _) = description_and_subject(&dust, &dust_again);
        assert!((d - weighted_dice(&dust, &dust_again)).abs() < 1e-9);
    }

    /// The sets that share one allocation read back as they were set, whichever is set last, and weighing
    /// keeps the names and places while it adds weights and marks.
    #[test]
    fn the_packed_sets_read_back_as_set_before_and_after_weighing() {
        let mut symbols = Symbols::default();
        let mut sym = |s: &str| symbols.name_tokens.intern(s);
        let (a, b, c, d, e) = (sym("a"), sym("b"), sym("c"), sym("d"), sym("e"));
        let names = vec![(vec![a, b], vec![c]), (vec![], vec![d, e]), (vec![e], vec![])];
        let mut p = ClueProfile::of(&yujing_model_clue("电梯坏了物业不修，业主多次反映"));
        let text_bigrams = p.bigrams().to_vec();
        p.set_keys(&[a], &[b, c], &[d], &names);
        p.set_places(&[1, 2, 3], &[2], &[2]);
        p.set_topics(&[3, 7]);
        let read_names = |p: &ClueProfile| -> Vec<(Vec<Sym>, Vec<Sym>)> {
            p.names().map(|(x, y)| (x.to_vec(), y.to_vec())).collect()
        };
        let check = |p: &ClueProfile| {
            assert_eq!(
                (p.strong_keys(), p.name_keys(), p.accounts()),
                (&[a][..], &[b, c][..], &[d][..])
            );
            assert_eq!(read_names(p), names);
            assert_eq!(p.name_count(), 3);
            assert_eq!(
                (p.places(), p.lead_places(), p.specific_places()),
                (&[1, 2, 3][..], &[2][..], &[2][..])
            );
            assert_eq!(p.bigrams(), &text_bigrams[..]);
            assert_eq!(p.topics(), &[3, 7]);
        };
        check(&p);
        assert!((0..text_bigrams.len()).all(|i| p.bigram_weight(i) == 1.0 && !p.is_place(i)));
        let mut freq = BigramFrequencies::default();
        freq.add(p.at, &bigrams("电梯坏了"));
        freq.weigh(&mut p);
        check(&p);
        let weights: Vec<f32> = (0..text_bigrams.len()).map(|i| p.bigram_weight(i)).collect();
        // The bigrams counted before weigh less than the others.
        let (low, high) = weights
            .iter()
            .fold((f32::MAX, 0.0_f32), |(l, h), &w| (l.min(w), h.max(w)));
        assert!(low < high, "{weights:?}");
        // Setting the keys again keeps the weights.
        p.set_keys(&[a], &[b, c], &[d], &names);
        assert!((0..text_bigrams.len()).all(|i| p.bigram_weight(i) == weights[i]));
        let bytes = postcard::to_stdvec(&p).expect("encodes");
        let back: ClueProfile = postcard::from_bytes(&bytes).expect("decodes");
        check(&back);
        assert!(p.layout_is_sound() && back.layout_is_sound());
        let mut damaged = back.clone();
        damaged.key_ends[2] += 1;
        assert!(!damaged.layout_is_sound());
        let mut damaged = back.clone();
        damaged.name_count += 1;
        assert!(!damaged.layout_is_sound());
        let mut damaged = back.clone();
        damaged.place_ends = [3, 2];
        assert!(!damaged.layout_is_sound());
        assert_eq!(back.bigram_weight(1), weights[1]);
    }

    /// A profile is held for every clue in the window and a core for every clue ever seen: their sizes are
    /// what `docs/PERFORMANCE.md` measures per clue, so a field that grows them should be a decision.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_profile_and_a_core_keep_their_size() {
        assert_eq!(std::mem::size_of::<ClueCore>(), 88);
        assert_eq!(std::mem::size_of::<ClueProfile>(), 224);
        assert_eq!(std::mem::size_of::<Position>(), 16);
    }

    /// The rare parts of a core take no allocation when absent and read back when present.
    #[test]
    fn a_core_keeps_its_rare_parts_out_of_line() {
        let mut clue = yujing_model_clue("电梯坏了物业不修");
        clue.parties.retain(|party| party.kind != PartyKind::Organisation);
        clue.risk_flags.clear();
        let mut p = ClueProfile::of(&clue);
        assert!(p.extras.is_none(), "{:?}", p.extras);
        assert_eq!((p.organisations(), p.risk_flags()), (&[][..], &[][..]));
        assert_eq!(p.source_id(&clue.clue_id), clue.source_id);
        clue.risk_flags = [RiskFlag::Injury].into();
        clue.source_id = "another".to_owned();
        p = ClueProfile::of(&clue);
        assert_eq!(p.risk_flags(), &[RiskFlag::Injury]);
        assert_eq!(p.source_id(&clue.clue_id), "another");
        let org = TEST_SYMBOLS.with(|symbols| symbols.borrow_mut().organisations.intern("安居物业"));
        p.core.set_organisations(Box::new([org]));
        assert_eq!(
            (
                p.organisations().len(),
                p.risk_flags().len(),
                p.source_id(&clue.clue_id)
            ),
            (1, 1, "another")
        );
    }

    fn yujing_model_clue(description: &str) -> Clue {
        let mut clue: Clue = serde_json::from_str(include_str!("../../yujing-model/tests/sample_clue.json"))
            .expect("the sample clue parses");
        clue.title = None;
        clue.description = description.to_owned();
        clue
    }

    #[test]
    fn the_same_short_text_again_from_one_account_is_a_near_duplicate_and_from_two_is_not() {
        let posted_by = |account: &str| {
            let mut clue = yujing_model_clue("咨询本市婚假政策，请问婚假有几天");
            clue.parties = vec![test_reporter(PartyKeyKind::Account, account)];
            ClueProfile::of(&clue)
        };
        let (first, again, someone_else) = (posted_by("u1"), posted_by("u1"), posted_by("u2"));
        assert!(first.bigrams().len() < crate::score::NEAR_DUPLICATE_MIN_BIGRAMS);
        let reposted = crate::score::compare(&again, &first, 300.0, &test_symbols());
        assert_eq!(reposted.level("account"), Some("same"));
        assert_eq!(reposted.level("near_duplicate"), Some("yes"));
        let common_phrase = crate::score::compare(&someone_else, &first, 300.0, &test_symbols());
        assert_eq!(common_phrase.level("near_duplicate"), Some("no"));
    }

    #[test]
    fn a_pair_no_place_or_person_ties_is_not_scored_and_an_anchored_pair_scores_as_in_full() {
        let weights = crate::score::FeatureWeights::from_table(&Default::default()).expect("empty table");
        let here = ClueProfile::of(&yujing_model_clue("电梯坏了，多次反映无人处理"));
        // Another report of the same words, nowhere and by no one: no anchor can agree.
        let mut nowhere_clue = yujing_model_clue("电梯坏了，多次反映无人处理");
        nowhere_clue.address = yujing_model::Address::default();
        nowhere_clue.town.community_code = None;
        nowhere_clue.town.community_name = None;
        nowhere_clue.location = None;
        nowhere_clue.parties.clear();
        let nowhere = ClueProfile::of(&nowhere_clue);
        let symbols = test_symbols();
        let full = crate::score::score(&here, &nowhere, &weights, 300.0, &symbols);
        assert!(!full.anchored(), "{:?}", full.comparison.agreements());
        assert_eq!(
            crate::score::score_if_anchored(&here, &nowhere, &weights, 300.0, &symbols),
            None
        );
        // The same estate and phone: anchored, and every level as the full comparison gives it.
        let again = ClueProfile::of(&yujing_model_clue("电梯又坏了"));
        let symbols = test_symbols();
        let full = crate::score::score(&here, &again, &weights, 300.0, &symbols);
        assert!(full.anchored());
        assert_eq!(
            crate::score::score_if_anchored(&here, &again, &weights, 300.0, &symbols),
            Some(full)
        );
    }

    #[test]
    fn a_namesake_estate_in_another_town_is_another_place() {
        let here = ClueProfile::of(&yujing_model_clue("电梯坏了"));
        let mut there_clue = yujing_model_clue("电梯坏了");
        there_clue.town.town_code = yujing_model::TownCode("320682002".to_owned());
        there_clue.town.community_code = None;
        there_clue.town.community_name = None;
        let there = ClueProfile::of(&there_clue);
        let same_town = crate::score::compare(&here, &here.clone(), 300.0, &test_symbols());
        assert_eq!(same_town.level("estate"), Some("same"));
        assert_eq!(same_town.level("building"), Some("same"));
        let other_town = crate::score::compare(&here, &there, 300.0, &test_symbols());
        assert_eq!(other_town.level("town"), Some("conflict"));
        assert_eq!(other_town.level("estate"), Some("conflict"));
        assert_eq!(other_town.level("building"), Some("conflict"));
        // The same caller still ties them (the sample clue's phone): only the place no longer does.
        let agreements = other_town.agreements();
        assert!(
            !agreements
                .iter()
                .any(|f| ["estate", "building", "mention", "place_topic"].contains(f)),
            "{agreements:?}"
        );
    }

    #[test]
    fn the_one_walk_gives_what_two_plain_walks_give() {
        // The walk adds up only what two clues share, from sums kept per profile; check it against the
        // definition (weighted Dice over all bigrams, and over the bigrams that are no place on either side),
        // with places that are a place on one side only.
        let mut freq = BigramFrequencies::default();
        let texts = [
            "锦绣华庭门口修建搅拌厂，粉尘很大",
            "丽发新城附近搅拌厂粉尘扰民，锦绣华庭也受影响",
            "锦绣华庭停车费上涨",
        ];
        let mut profiles: Vec<ClueProfile> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let mut clue = yujing_model_clue(text);
            clue.address.estate = None;
            clue.address.places = vec![["锦绣华庭", "丽发新城", "锦绣华庭"][i].to_owned()];
            let mut p = ClueProfile::of(&clue);
            freq.weigh(&mut p);
            freq.add(p.at, p.bigrams());
            profiles.push(p);
        }
        // A bigram that names a place on either side is left out on both.
        let plain = |a: &ClueProfile, b: &ClueProfile, without_places: bool| {
            let place = |x: &u32| {
                let of = |p: &ClueProfile| {
                    p.bigrams()
                        .iter()
                        .position(|y| y == x)
                        .is_some_and(|i| p.is_place(i))
                };
                without_places && (of(a) || of(b))
            };
            let (mut common, mut total) = (0.0, 0.0);
            for (i, x) in a.bigrams().iter().enumerate().filter(|(_, x)| !place(x)) {
                let w = f64::from(a.bigram_weight(i));
                total += w;
                if let Some(j) = b.bigrams().iter().position(|y| y == x) {
                    common += w + f64::from(b.bigram_weight(j));
                }
            }
            for (j, _) in b.bigrams().iter().enumerate().filter(|(_, x)| !place(x)) {
                total += f64::from(b.bigram_weight(j));
            }
            if total > 0.0 {
                common / total
            } else {
                0.0
            }
        };
        // `锦绣华庭` is the place of the first report and only words in the second.
        assert!((0..profiles[0].bigrams().len()).any(|i| profiles[0].is_place(i)));
        for a in &profiles {
            for b in &profiles {
                let (text, subject) = description_and_subject(a, b);
                assert!((text - plain(a, b, false)).abs() < 1e-9, "{text}");
                assert!((subject - plain(a, b, true)).abs() < 1e-9, "{subject}");
            }
        }
    }

    #[test]
    fn dice_of_bigrams_ignores_punctuation_and_masks() {
        let a = bigrams("电梯坏了，物业不修。赵**");
        let b = bigrams("电梯坏了物业不修");
        assert!((dice(&a, &b) - 1.0).abs() < 1e-9);
        assert_eq!(dice(&a, &bigrams("拖欠工资")), 0.0);
    }
}
