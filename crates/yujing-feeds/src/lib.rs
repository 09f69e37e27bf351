//! The six upstream feeds of yujing, decoded and normalized onto canonical clues.
//!
//! # Layout
//! - [`adapters`]: one module per feed (`hotline12345`, `grid`, `police`, `screening`, `justice`, `exchange`),
//!   each decoding its real format into [`RawUnit`]s (the exact bytes received) and [`Decoded`] records;
//!   [`adapters::decode`] dispatches, [`adapters::detect_feed`] reads a feed from a file name.
//! - [`Normalizer`]: a decoded [`SourceRecord`] → a [`Clue`](yujing_model::Clue): town resolution through the
//!   [`Gazetteer`], address parts, category mapping, risk flags, party keys and masking.
//! - [`CountyOutline`]: the county's boundary (GeoJSON), the backdrop of the command centre's map.
//! - [`places`]: place mentions in free text (estates, roads, villages, landmarks), found with the jieba
//!   segmenter rather than from lists.
//! - [`pii`]: HMAC party keys ([`PartyHasher`]), masking and [`pii::redact`]ion of free text.
//! - [`FeedsConfig`] → [`FeedRules`]: category tables, risk words and exchange resource mappings, checked with
//!   every error reported at once.
//! - [`time`]: the feeds' local times and epoch milliseconds as UTC instants.
//!
//! Everything here is pure: no I/O, no clock, no async. The same bytes and configuration always give the same
//! records and clues, which is what makes a replay of the log reproduce its projections exactly.

pub mod adapters;
mod address;
pub mod config;
pub mod gazetteer;
mod normalize;
pub mod outline;
pub mod pii;
pub mod places;
mod record;
pub mod time;

pub use address::normalize_address;
pub use config::{ConfigErrors, FeedRules, FeedsConfig, Inferred};
pub use gazetteer::{Gazetteer, GazetteerError, TownHint};
pub use normalize::{clue_id, detached_pointer, Normalizer};
pub use outline::{CountyOutline, OutlineError};
pub use pii::PartyHasher;
pub use record::{
    parse_people_count, Category, Decoded, DecodedInput, Outcome, RawUnit, Reject, SourceParty, SourceRecord,
    MAX_FIELD_BYTES, MAX_LINE_BYTES, OVERSIZED_HEAD_BYTES,
};
