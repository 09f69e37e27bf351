//! Shards: how a store on Kafka splits the work by town.
//!
//! With `[store.kafka] partitions = N`, every topic has N partitions and partition p of each is shard p's log.
//! A clue belongs to the shard of its town, so one town's reports, clusters, warnings and work orders stay in one
//! partition and one instance; a record without a town (a rejected record, one that is not a dispute) belongs to
//! the shard its raw bytes hash to, so exactly one shard keeps it. The choice is a pure function of the bytes, so
//! the instances agree without talking: shard 0's router decodes each streamed input once and hands each record
//! to its shard ([`crate::route`]), and a shard given an input itself (an HTTP push, which every shard receives)
//! keeps what belongs to it. The instance running a shard records its address on the `owners` topic, so the
//! others can forward API requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yujing_log::{Batch, Log, Record, ShardId};

use crate::read::{for_each_decoded, ReadError};
use crate::topics::OWNERS;

/// A record of the `owners` topic: shard `shard` runs on the instance reached at `url` from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OwnerClaim {
    shard: ShardId,
    url: String,
}

/// Records on `shard_log` (the shard's own log, so in its own transaction: a fenced writer cannot claim it back)
/// that the shard runs on the instance reached at `url`; `now_ms` stamps the record.
pub fn claim_shard(shard_log: &dyn Log, shard: Shard, url: &str, now_ms: i64) -> Result<(), ReadError> {
    let claim = OwnerClaim {
        shard: shard.index,
        url: url.to_owned(),
    };
    let mut batch = Batch::new();
    batch.append(
        OWNERS,
        Record {
            key: shard.index.to_string().into_bytes(),
            value: serde_json::to_vec(&claim).map_err(|source| ReadError::Encode {
                what: "a shard's owner claim",
                source,
            })?,
            timestamp_ms: now_ms,
        },
    );
    shard_log.write(batch)?;
    Ok(())
}

/// Where each shard runs, by the last claim of each: shard → the instance's base URL. `log` reads every shard
/// (a read-only log over a sharded store).
pub fn shard_owners(log: &dyn Log) -> Result<BTreeMap<ShardId, String>, ReadError> {
    let mut owners = BTreeMap::new();
    for_each_decoded(log, OWNERS, 0, |_, claim: OwnerClaim| {
        owners.insert(claim.shard, claim.url);
    })?;
    Ok(owners)
}

/// One shard of a store, or the whole of an unsharded one ([`Shard::WHOLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: ShardId,
    /// How many shards the store has.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::WHOLE
    }
}

impl Shard {
    /// The whole store: one shard that claims everything.
    pub const WHOLE: Shard = Shard {
        index: ShardId(0),
        count: 1,
    };

    /// Shard `index` of `count`.
    pub fn new(index: ShardId, count: u32) -> Shard {
        Shard {
            index,
            count: count.max(1),
        }
    }

    /// Whether this is the whole store.
    pub fn is_whole(&self) -> bool {
        self.count <= 1
    }

    /// The shard `key` belongs to among `count`: SHA-256, so every instance and every version of yujing agrees
    /// (the standard library's hasher is seeded per process).
    pub fn of(key: &[u8], count: u32) -> ShardId {
        if count <= 1 {
            return ShardId(0);
        }
        let digest = Sha256::digest(key);
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        ShardId((u64::from_be_bytes(head) % u64::from(count)) as u32)
    }

    /// Whether a clue of town `town_code` (`unknown` included: all unresolved towns go to one shard) is this
    /// shard's.
    pub fn claims_town(&self, town_code: &str) -> bool {
        self.is_whole() || Shard::of(town_code.as_bytes(), self.count) == self.index
    }

    /// Whether a record without a town, received as `unit_bytes`, is this shard's.
    pub fn claims_unit(&self, unit_bytes: &[u8]) -> bool {
        self.is_whole() || Shard::of(unit_bytes, self.count) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_belongs_to_exactly_one_shard_and_always_the_same() {
        for count in [1u32, 2, 3, 8] {
            for town in ["320682001", "320682104", "unknown", ""] {
                let owners: Vec<ShardId> = (0..count)
                    .map(ShardId)
                    .filter(|i| Shard::new(*i, count).claims_town(town))
                    .collect();
                assert_eq!(owners.len(), 1, "{town} among {count}");
                assert_eq!(owners[0], Shard::of(town.as_bytes(), count));
            }
        }
        // Fixed values: a change of the function would move towns between the shards of existing stores.
        assert_eq!(Shard::of(b"320682001", 4), ShardId(2));
        assert_eq!(Shard::of(b"320682104", 4), ShardId(1));
        assert_eq!(Shard::of(b"unknown", 2), ShardId(1));
        let spread: std::collections::BTreeSet<ShardId> = (1..=20)
            .map(|n| Shard::of(format!("320682{n:03}").as_bytes(), 4))
            .collect();
        assert_eq!(spread.len(), 4, "twenty towns reach all four shards");
    }
}
