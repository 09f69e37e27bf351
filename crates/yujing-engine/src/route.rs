//! The router of a sharded store: each record is decoded and normalized once, then handed to the shard that
//! keeps it, as Kafka Streams repartitions a stream through a topic.
//!
//! Without it every shard decoded every input and kept its part, so two shards did the decoding twice. With it,
//! the shard that reads an input (the upstream topics and the drop directory are read by shard 0's instance)
//! decodes it, splits it by owner (`PreparedInput::owner`: the clue's town, else the unit's bytes) and appends
//! each shard's part to that shard's partition of [`REPARTITION`], in the same transaction as where the input
//! stands. Each shard consumes its own partition ([`crate::Pipeline::ingest_routed`]) and ingests the parts
//! exactly as if it had decoded them: the same raw units, clues and dead letters, the same idempotency.
//!
//! # What a routed message holds
//! A part of one input for one shard: its raw units as received, with the parties each names, and per record its
//! location, source id and outcome (its clue as the clues topic holds it, or why it was refused). The decoded
//! fields in clear are not in it. The raw units are personal data, so the message is sealed for transport:
//! ```text
//! message   "\0YJR\x01" | nonce (24) | XChaCha20-Poly1305(route key, nonce, postcard(part),
//!                                                          aad = magic | shard (u32, big-endian))
//! route key derived from the deployment's secret ("yujing repartition v1"), never stored
//! ```
//! The shard in the associated data means a message appended to the wrong partition does not open. A shard
//! deletes what it has consumed ([`crate::Pipeline::purge_routed`]), so a sealed copy lives on the broker only
//! until its shard has logged the units under their person keys (see [`crate::vault`]).
//!
//! # Invariants
//! - A record goes to exactly one shard, and the shard that ingests a routed part keeps exactly what it was
//!   sent: both ask `PreparedInput::owner`.
//! - A shard's position in its partition is written in the same transaction as what it ingested from it, so a
//!   crash re-reads nothing twice and loses nothing; the router's position in its inputs likewise.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use yujing_feeds::pii::PartyHasher;
use yujing_feeds::{RawUnit, Reject};
use yujing_log::{Batch, Log, Record, ShardId};
use yujing_model::{Clue, FeedId, RejectKind, SourceLocation};

use crate::ingest::{FileReport, IngestError, Prepared, PreparedInput, PreparedRecord, ALREADY_WRITTEN};
use crate::vault::PartyRef;

pub use yujing_log::REPARTITION;

/// The state key of a shard's position in its partition of [`REPARTITION`] (the next offset to read).
pub const POSITION_KEY: &[u8] = b"route/position";

/// Raw-unit bytes a routed part gathers before the next part starts: its clues' JSON adds about as much again.
const MESSAGE_UNIT_BYTES: usize = 256 * 1024;

/// A part that encodes to more than this is halved ([`halve`]), down to a single record: under the Kafka
/// producer's and broker's message limit of 1 MB. A single record of a larger unit goes as it is, and the broker
/// refuses it, as it refuses such a unit on a raw topic (raising the producer's `message.max.bytes` lost whole
/// batches of a transaction silently on this machine; docs/PERFORMANCE.md).
const MESSAGE_BYTES: usize = 900 * 1024;

const MAGIC: &[u8] = b"\0YJR\x01";
const NONCE_LEN: usize = 24;

/// Why a routed message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// It does not authenticate, is cut short or does not decode: damage, or a router with another secret.
    #[error(
        "a routed message is unreadable: {0} (is every instance configured with the same party-key secret?)"
    )]
    Corrupt(String),
    /// The system's random source failed.
    #[error("no random bytes for a nonce: {0}")]
    Random(String),
    /// A part could not be encoded.
    #[error("cannot encode a routed part: {0}")]
    Encode(String),
}

/// Splits prepared inputs by shard and seals each part for its shard's partition; opens what a shard reads.
#[derive(Clone)]
pub struct Router {
    count: u32,
    key: [u8; 32],
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// The router of a store of `count` shards whose party keys `hasher` makes (the route key comes from the
    /// same secret).
    pub fn new(hasher: &PartyHasher, count: u32) -> Router {
        Router {
            count: count.max(1),
            key: hasher.derive_key("yujing repartition v1"),
        }
    }

    /// Appends `input`'s parts to their shards' partitions through `log` (one batch), stamped `now_ms`, and
    /// counts its records in `report`.
    pub(crate) fn route<L: Log + ?Sized>(
        &self,
        input: PreparedInput,
        now_ms: i64,
        log: &L,
        report: &mut FileReport,
    ) -> Result<(), IngestError> {
        let records = input.records.len() as u64;
        let feed = input.feed;
        let mut batch = Batch::new();
        for (shard, value) in self.seal_parts(input)? {
            batch.route(
                shard,
                Record {
                    key: feed.as_str().as_bytes().to_vec(),
                    value,
                    timestamp_ms: now_ms,
                },
            );
        }
        report.records += records;
        report.routed += records;
        if !batch.is_empty() {
            log.write(batch)?;
        }
        Ok(())
    }

    /// `input` split into the parts each shard keeps, each sealed for its shard: the messages the router appends
    /// (in shard order, and in input order within a shard).
    pub fn seal_parts(&self, input: PreparedInput) -> Result<Vec<(ShardId, Vec<u8>)>, RouteError> {
        let mut out = Vec::new();
        for (shard, part) in split(input, self.count) {
            self.seal_within(shard, part, &mut out)?;
        }
        Ok(out)
    }

    /// Seals `part` for `shard` into `out`, halved (and the halves halved) until each message is at most
    /// [`MESSAGE_BYTES`] or holds a single record.
    fn seal_within(
        &self,
        shard: ShardId,
        part: PreparedInput,
        out: &mut Vec<(ShardId, Vec<u8>)>,
    ) -> Result<(), RouteError> {
        let plain =
            postcard::to_allocvec(&Wire::of(&part)?).map_err(|e| RouteError::Encode(e.to_string()))?;
        if plain.len() > MESSAGE_BYTES {
            if let Some((first, second)) = halve(part) {
                self.seal_within(shard, first, out)?;
                return self.seal_within(shard, second, out);
            }
        }
        out.push((shard, self.seal(shard, &plain)?));
        Ok(())
    }

    /// `plain`, an encoded part, sealed for `shard`.
    fn seal(&self, shard: ShardId, plain: &[u8]) -> Result<Vec<u8>, RouteError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| RouteError::Random(e.to_string()))?;
        let aad = associated(shard);
        let sealed = XChaCha20Poly1305::new((&self.key).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| RouteError::Encode("the cipher refused the part".to_owned()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The part sealed for `shard` in `value`.
    pub fn open(&self, shard: ShardId, value: &[u8]) -> Result<PreparedInput, RouteError> {
        let rest = value
            .strip_prefix(MAGIC)
            .ok_or_else(|| RouteError::Corrupt("it does not start as a routed message".to_owned()))?;
        if rest.len() < NONCE_LEN {
            return Err(RouteError::Corrupt("it is cut short".to_owned()));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = associated(shard);
        let plain = XChaCha20Poly1305::new((&self.key).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                RouteError::Corrupt(format!("it does not authenticate as a message for shard {shard}"))
            })?;
        let wire: Wire = postcard::from_bytes(&plain).map_err(|e| RouteError::Corrupt(e.to_string()))?;
        wire.into_prepared()
    }
}

fn associated(shard: ShardId) -> Vec<u8> {
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(&shard.0.to_be_bytes());
    aad
}

/// `input` split into the parts each shard of `count` keeps, in shard order and, within a shard, in input
/// order, each part at most about [`MESSAGE_UNIT_BYTES`] of raw units. A unit goes to every shard that keeps one
/// of its records (an exchange envelope may carry two towns), with only that shard's records; a unit that
/// yielded no record goes to the shard its bytes hash to.
pub(crate) fn split(input: PreparedInput, count: u32) -> Vec<(ShardId, PreparedInput)> {
    let owners: Vec<ShardId> = input.records.iter().map(|r| input.owner(r, count)).collect();
    let mut unit_shards: Vec<Vec<ShardId>> = vec![Vec::new(); input.units.len()];
    let mut unit_records: Vec<Vec<usize>> = vec![Vec::new(); input.units.len()];
    for (index, (record, owner)) in input.records.iter().zip(&owners).enumerate() {
        if let Some(shards) = unit_shards.get_mut(record.unit) {
            if !shards.contains(owner) {
                shards.push(*owner);
            }
            unit_records[record.unit].push(index);
        }
    }
    for (unit, shards) in unit_shards.iter_mut().enumerate() {
        if shards.is_empty() {
            shards.push(input.unit_owner(unit, count));
        }
    }
    let PreparedInput {
        feed,
        file,
        units,
        records,
        unit_parties,
        ..
    } = input;
    let mut records: Vec<Option<PreparedRecord>> = records.into_iter().map(Some).collect();
    // Per shard: its finished parts, and the part being filled with the bytes of its units.
    type Parts = (Vec<PreparedInput>, Option<(PreparedInput, usize)>);
    let mut parts: Vec<Parts> = (0..count.max(1)).map(|_| (Vec::new(), None)).collect();
    for (unit_index, unit) in units.into_iter().enumerate() {
        let parties = unit_parties.get(unit_index).cloned().unwrap_or_default();
        let shards = &unit_shards[unit_index];
        let unit_bytes = unit.bytes.len();
        // A unit is copied only for the shards before the last that keep it (most go to one shard).
        let mut unit = Some(unit);
        for (nth, shard) in shards.iter().enumerate() {
            let (done, open) = &mut parts[shard.0 as usize];
            if open.as_ref().is_some_and(|(part, bytes)| {
                !part.units.is_empty() && bytes + unit_bytes > MESSAGE_UNIT_BYTES
            }) {
                if let Some((part, _)) = open.take() {
                    done.push(part);
                }
            }
            let (part, bytes) = open.get_or_insert_with(|| {
                (
                    PreparedInput {
                        feed,
                        file: file.clone(),
                        units: Vec::new(),
                        records: Vec::new(),
                        unit_parties: Vec::new(),
                        written: Vec::new(),
                    },
                    0,
                )
            });
            let new_index = part.units.len();
            let copy = if nth + 1 == shards.len() {
                unit.take()
            } else {
                unit.clone()
            };
            part.units.extend(copy);
            part.unit_parties.push(parties.clone());
            *bytes += unit_bytes;
            for &index in &unit_records[unit_index] {
                if owners[index] != *shard {
                    continue;
                }
                if let Some(mut record) = records[index].take() {
                    record.unit = new_index;
                    part.records.push(record);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (shard, (done, open)) in parts.into_iter().enumerate() {
        for part in done.into_iter().chain(open.map(|(part, _)| part)) {
            out.push((ShardId(shard as u32), part));
        }
    }
    out
}

/// `part` as two parts that together hold what it holds, in order: its units split in the middle, or, for a
/// single unit, its records split with the unit in both (the shard logs a unit once and points the second
/// half's records at it); `None` for a single record.
fn halve(part: PreparedInput) -> Option<(PreparedInput, PreparedInput)> {
    let empty = |part: &PreparedInput| PreparedInput {
        feed: part.feed,
        file: part.file.clone(),
        units: Vec::new(),
        records: Vec::new(),
        unit_parties: Vec::new(),
        written: Vec::new(),
    };
    let (mut first, mut second) = (empty(&part), empty(&part));
    if part.units.len() > 1 {
        let middle = part.units.len() / 2;
        let mut units = part.units;
        let mut parties = part.unit_parties;
        second.units = units.split_off(middle);
        second.unit_parties = parties.split_off(middle.min(parties.len()));
        first.units = units;
        first.unit_parties = parties;
        for mut record in part.records {
            if record.unit < middle {
                first.records.push(record);
            } else {
                record.unit -= middle;
                second.records.push(record);
            }
        }
        return Some((first, second));
    }
    if part.records.len() > 1 {
        let middle = part.records.len() / 2;
        let mut records = part.records;
        second.records = records.split_off(middle);
        first.records = records;
        first.units = part.units.clone();
        second.units = part.units;
        first.unit_parties = part.unit_parties.clone();
        second.unit_parties = part.unit_parties;
        return Some((first, second));
    }
    None
}

/// A routed part as it travels (postcard: every field in order, no names).
#[derive(Serialize, Deserialize)]
struct Wire {
    feed: FeedId,
    file: String,
    units: Vec<WireUnit>,
    records: Vec<WireRecord>,
}

#[derive(Serialize, Deserialize)]
struct WireUnit {
    location: WireLocation,
    bytes: Vec<u8>,
    /// The parties it names: kind code and hash.
    parties: Vec<(u8, [u8; 32])>,
}

/// A [`SourceLocation`] field by field (its JSON form skips an absent line, which postcard cannot).
#[derive(Serialize, Deserialize)]
struct WireLocation {
    file: String,
    line: Option<u64>,
    record_index: u64,
}

#[derive(Serialize, Deserialize)]
struct WireRecord {
    unit: u32,
    location: WireLocation,
    source_id: Option<String>,
    outcome: WireOutcome,
}

#[derive(Serialize, Deserialize)]
enum WireOutcome {
    NotADispute,
    Rejected {
        kind: RejectKind,
        reason: String,
    },
    /// The clue as JSON, as the clues topic holds it.
    Clue(Vec<u8>),
    /// Normalization refused it.
    Refused {
        kind: RejectKind,
        reason: String,
    },
}

impl WireLocation {
    fn of(location: &SourceLocation) -> WireLocation {
        WireLocation {
            file: location.file.clone(),
            line: location.line,
            record_index: location.record_index,
        }
    }

    fn into_location(self) -> SourceLocation {
        SourceLocation {
            file: self.file,
            line: self.line,
            record_index: self.record_index,
        }
    }
}

impl Wire {
    fn of(part: &PreparedInput) -> Result<Wire, RouteError> {
        let units = part
            .units
            .iter()
            .enumerate()
            .map(|(index, unit)| WireUnit {
                location: WireLocation::of(&unit.location),
                bytes: unit.bytes.clone(),
                parties: part
                    .unit_parties
                    .get(index)
                    .map(|parties| parties.iter().copied().map(PartyRef::to_parts).collect())
                    .unwrap_or_default(),
            })
            .collect();
        let records = part
            .records
            .iter()
            .map(|record| {
                let outcome = match &record.outcome {
                    Prepared::NotADispute => WireOutcome::NotADispute,
                    Prepared::Rejected(reject) => WireOutcome::Rejected {
                        kind: reject.kind,
                        reason: reject.reason.clone(),
                    },
                    Prepared::Normalized(Some(Ok(clue))) => WireOutcome::Clue(
                        serde_json::to_vec(clue).map_err(|e| RouteError::Encode(e.to_string()))?,
                    ),
                    Prepared::Normalized(Some(Err(reject))) => WireOutcome::Refused {
                        kind: reject.kind,
                        reason: reject.reason.clone(),
                    },
                    Prepared::Normalized(None) => WireOutcome::Refused {
                        kind: RejectKind::Internal,
                        reason: ALREADY_WRITTEN.to_owned(),
                    },
                };
                Ok(WireRecord {
                    unit: record.unit as u32,
                    location: WireLocation::of(&record.location),
                    source_id: record.source_id.clone(),
                    outcome,
                })
            })
            .collect::<Result<_, RouteError>>()?;
        Ok(Wire {
            feed: part.feed,
            file: part.file.clone(),
            units,
            records,
        })
    }

    fn into_prepared(self) -> Result<PreparedInput, RouteError> {
        let mut units = Vec::with_capacity(self.units.len());
        let mut unit_parties = Vec::with_capacity(self.units.len());
        for unit in self.units {
            let parties = unit
                .parties
                .iter()
                .map(|&(kind, hash)| {
                    PartyRef::from_parts(kind, hash)
                        .ok_or_else(|| RouteError::Corrupt(format!("unknown party kind {kind}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            units.push(RawUnit {
                location: unit.location.into_location(),
                bytes: unit.bytes,
            });
            unit_parties.push(parties);
        }
        let mut records = Vec::with_capacity(self.records.len());
        for record in self.records {
            let unit = record.unit as usize;
            if unit >= units.len() {
                return Err(RouteError::Corrupt(format!(
                    "a record names unit {unit} of {}",
                    units.len()
                )));
            }
            let outcome = match record.outcome {
                WireOutcome::NotADispute => Prepared::NotADispute,
                WireOutcome::Rejected { kind, reason } => Prepared::Rejected(Reject::new(kind, reason)),
                WireOutcome::Clue(json) => {
                    let clue: Clue = serde_json::from_slice(&json)
                        .map_err(|e| RouteError::Corrupt(format!("a clue does not decode: {e}")))?;
                    Prepared::Normalized(Some(Ok(clue)))
                }
                WireOutcome::Refused { kind, reason } => {
                    Prepared::Normalized(Some(Err(Reject::new(kind, reason))))
                }
            };
            records.push(PreparedRecord {
                unit,
                location: record.location.into_location(),
                source_id: record.source_id,
                outcome,
            });
        }
        Ok(PreparedInput {
            feed: self.feed,
            file: self.file,
            units,
            records,
            unit_parties,
            written: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOTLINE: &[u8] = include_bytes!("../../../docs/feeds/hotline12345.sample.jsonl");

    #[test]
    fn a_large_input_travels_in_bounded_parts_that_keep_every_record_once_and_in_order() {
        let mut config = crate::EngineConfig::defaults();
        config.pii.secret = "route-test-secret-0123456789".to_owned();
        let built = config.check().expect("configuration builds");
        // About 1.5 MB of reports, each line a distinct record.
        let sample = String::from_utf8_lossy(HOTLINE);
        let mut bytes = String::new();
        for n in 0..1_000 {
            for line in sample.lines() {
                bytes.push_str(&line.replace("RG2026060300417", &format!("RG{n:013}")));
                bytes.push('\n');
            }
        }
        let input = PreparedInput::new(
            &built.normalizer,
            FeedId::Hotline12345,
            "hotline12345-big.jsonl",
            bytes.as_bytes(),
        );
        let (units, records) = (input.units.len(), input.records.len());
        assert!(
            bytes.len() > 4 * MESSAGE_UNIT_BYTES && units == records,
            "{units} units"
        );
        let owners: Vec<ShardId> = input.records.iter().map(|r| input.owner(r, 2)).collect();
        // Sealed, no message is over the bound (a little more for the magic, nonce and tag).
        let router = Router::new(built.normalizer.hasher(), 2);
        let again = PreparedInput::new(
            &built.normalizer,
            FeedId::Hotline12345,
            "hotline12345-big.jsonl",
            bytes.as_bytes(),
        );
        for (shard, message) in router.seal_parts(again).expect("sealed") {
            assert!(message.len() <= MESSAGE_BYTES + 64, "{} bytes", message.len());
            assert!(router.open(shard, &message).is_ok());
        }
        let parts = split(input, 2);
        assert!(parts.len() > 4, "{} parts", parts.len());
        let mut seen = Vec::new();
        for (shard, part) in &parts {
            let part_bytes: usize = part.units.iter().map(|u| u.bytes.len()).sum();
            assert!(
                part.units.len() == 1 || part_bytes <= MESSAGE_UNIT_BYTES,
                "{part_bytes} bytes"
            );
            assert_eq!(part.units.len(), part.unit_parties.len());
            for record in &part.records {
                assert_eq!(part.owner(record, 2), *shard, "each record in its owner's part");
                assert!(record.unit < part.units.len());
                seen.push((record.location.record_index, *shard));
            }
        }
        // Within a shard, input order; across shards, every record exactly once, with its owner.
        for shard in [ShardId(0), ShardId(1)] {
            let order: Vec<u64> = seen
                .iter()
                .filter(|(_, s)| *s == shard)
                .map(|(i, _)| *i)
                .collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "shard {shard} in order");
        }
        seen.sort();
        let expected: Vec<(u64, ShardId)> = owners.iter().enumerate().map(|(i, s)| (i as u64, *s)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn halving_splits_units_in_the_middle_or_one_unit_by_its_records_and_stops_at_one_record() {
        let mut config = crate::EngineConfig::defaults();
        config.pii.secret = "route-test-secret-0123456789".to_owned();
        let built = config.check().expect("configuration builds");
        let input = PreparedInput::new(&built.normalizer, FeedId::Hotline12345, "h.jsonl", HOTLINE);
        let (units, records) = (input.units.len(), input.records.len());
        let (first, second) = halve(input).expect("halved");
        assert_eq!(
            (
                first.units.len() + second.units.len(),
                first.records.len() + second.records.len()
            ),
            (units, records)
        );
        assert!(second.records.iter().all(|r| r.unit < second.units.len()));
        // One unit with several records (as an exchange envelope): both halves carry the unit.
        let mut one = first;
        one.units.truncate(1);
        one.unit_parties.truncate(1);
        for record in &mut one.records {
            record.unit = 0;
        }
        let held = one.records.len();
        assert!(held > 1);
        let (a, b) = halve(one).expect("halved by records");
        assert_eq!(
            (a.units.len(), b.units.len(), a.records.len() + b.records.len()),
            (1, 1, held)
        );
        let mut single = a;
        single.records.truncate(1);
        assert!(halve(single).is_none(), "a single record is not halved");
    }
}
