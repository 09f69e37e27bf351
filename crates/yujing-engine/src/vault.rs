//! Raw units sealed at rest under one key per person, so that a person can be erased: crypto-shredding.
//!
//! The raw topics keep every report exactly as delivered, names, phone and ID numbers included; they are the
//! evidence behind each clue. An append-only log cannot delete one person's records from the middle of a topic,
//! so instead each raw unit is encrypted before it is written, under a key that only exists while every person
//! it names does:
//! - Each **person key** (32 random bytes) belongs to one party key (a phone, an ID number, an account, a full
//!   name). It is kept in the log's state, itself encrypted under the **vault key**, which is derived from the
//!   deployment's secret and never stored. So the store's files alone (a stolen disk, a copied backup) reveal no
//!   raw unit.
//! - A **unit's key** is derived from the vault key and the person keys of every party the unit names: the
//!   parties of its clues, and every phone and ID number written anywhere in its bytes. A unit that names
//!   nobody is sealed under the vault key alone.
//! - **Erasing** a party ([`erase`]) deletes its person key and logs the erasure as an event on
//!   [`ERASURES`]. Every unit that named it can no longer be opened, by anyone, while the rest stay readable.
//!   The clues keep only masked values and keyed hashes, which the erasure does not touch.
//!
//! # Layout
//! ```text
//! sealed unit   "\0YJV\x01" | parties (u8) | per party: kind (u8), hash (32, the key's letters as bytes), key id (8)
//!               | nonce (24) | XChaCha20-Poly1305(unit key, nonce, unit bytes, aad = everything before the nonce)
//! unit key      HMAC-SHA256(vault key, "unit\0" | person key of each party, in the order listed)
//! person key    state vault/key/<kind>/<hash> → key id (8) | nonce (24)
//!               | XChaCha20-Poly1305(vault key, nonce, person key, aad = the state key)
//! erased        state vault/erased/<kind>/<hash> → offset of the erasure's event on `erasures`
//! ```
//! A raw unit never starts with a NUL byte (it is a JSON line, a CSV row, XML or an exchange envelope), so a
//! value without the magic is one written before sealing began and is read as it is.
//!
//! # Invariants
//! - No raw unit reaches the log unsealed: [`UnitSealer::seal`] is the only way the ingestor writes one.
//! - A person key is written in the same batch as the first unit sealed under it, so a unit on the log always
//!   has its keys beside it, until an erasure.
//! - A person key never leaves the state unwrapped, and is never logged or printed.

use foldhash::{HashMap, HashMapExt};
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use yujing_feeds::pii::PartyHasher;
use yujing_log::{Batch, Log, LogError, Offset, Record};
use yujing_model::{PartyKey, PartyKeyKind};

/// The topic of erasure events ([`Erasure`]): who was erased, when, by whom and why.
pub const ERASURES: &str = "erasures";

const MAGIC: &[u8] = b"\0YJV\x01";
const NONCE_LEN: usize = 24;
const KEY_ID_LEN: usize = 8;
/// A party key's HMAC, as bytes (its 64 letters `a`–`p` are four bits each).
const HASH_LEN: usize = 32;
const KEY_PREFIX: &str = "vault/key/";
const ERASED_PREFIX: &str = "vault/erased/";

/// What can go wrong sealing or opening a raw unit, or erasing a person.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The system's random source failed.
    #[error("no random bytes for a key or nonce: {0}")]
    Random(String),
    /// A sealed unit or a stored person key does not authenticate or is cut short.
    #[error("{what} is corrupt: {reason}")]
    Corrupt {
        /// The unit or key.
        what: String,
        /// Why.
        reason: String,
    },
    /// A sealed unit names a party whose key is missing, and no erasure of it is recorded.
    #[error("the key of party {kind:?} {hash} is missing, and no erasure of it is recorded")]
    MissingKey {
        /// The party key's kind.
        kind: PartyKeyKind,
        /// The party key's hash.
        hash: String,
    },
    /// A value given to name a person to erase is not one.
    #[error("{what} is not {expected}")]
    NotAParty {
        /// What was given, masked.
        what: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// An erasure names nobody.
    #[error(
        "name at least one person to erase: a party key, a phone, an ID number, an account or a full name"
    )]
    NobodyNamed,
    /// The erasures could not be read back.
    #[error(transparent)]
    Read(#[from] crate::read::ReadError),
    /// An erasure event could not be encoded.
    #[error("encoding an erasure event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A person's key: its id (which tells a key from the one made after an erasure) and its bytes.
#[derive(Clone)]
struct PersonKey {
    id: [u8; KEY_ID_LEN],
    key: [u8; 32],
}

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("PersonKey").field("id", &self.id).finish()
    }
}

/// The vault key and the operations under it. Derived from the deployment's secret; never stored.
///
/// It remembers the person keys it has read or written (an ingest meets the same people again and again), so
/// it is made for one ingest or one step, not kept: a key erased meanwhile could still be used for a unit of
/// the same step, which then reads as erased.
pub struct Vault {
    key: [u8; 32],
    /// Person keys known to be on the log. Keyed by keyed hashes already: foldhash (seeded per process) rather
    /// than SipHash, which an ingest paid several times per record.
    known: Mutex<HashMap<PartyRef, PersonKey>>,
}

impl Clone for Vault {
    fn clone(&self) -> Vault {
        Vault {
            key: self.key,
            known: Mutex::default(),
        }
    }
}

/// At most this many person keys are remembered; then the memory starts again.
const KNOWN_KEYS: usize = 200_000;

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault { .. }")
    }
}

/// A raw unit read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsealed {
    /// Sealed, and opened: the bytes as received.
    Opened(Vec<u8>),
    /// Written before sealing began: the bytes as received, never encrypted.
    Clear(Vec<u8>),
    /// It names a party that has been erased: it can no longer be read.
    Erased(Vec<PartyKey>),
}

/// An erasure, as logged on [`ERASURES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// When it was done (wall time).
    pub erased_at: DateTime<Utc>,
    /// The party keys erased.
    pub parties: Vec<PartyKey>,
    /// How many of them had a key, that is, had raw units sealed under them.
    pub keys_destroyed: usize,
    /// Who asked (an operator's name or the command line's user).
    pub actor: String,
    /// Why (redacted of phone and ID numbers).
    pub reason: String,
}

/// Who to erase, as an operator names them: party keys as yujing shows them (`yujing clues`, a cluster's
/// parties), or the values themselves, which are hashed with the deployment's secret and never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// Party keys.
    #[serde(default)]
    pub parties: Vec<PartyKey>,
    /// Phone numbers.
    #[serde(default)]
    pub phones: Vec<String>,
    /// 18-character ID numbers.
    #[serde(default)]
    pub id_numbers: Vec<String>,
    /// Platform account ids.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Full personal names (a weak key: every namesake's raw units are erased too).
    #[serde(default)]
    pub names: Vec<String>,
    /// Why (the person's request, its reference): logged with the erasure, redacted.
    #[serde(default)]
    pub reason: String,
}

impl ErasureRequest {
    /// The party keys named, hashed with `hasher`; fails naming (masked) a value that is not what it claims.
    pub fn party_keys(&self, hasher: &PartyHasher) -> Result<Vec<PartyKey>, VaultError> {
        use yujing_feeds::pii;
        let mut keys = self.parties.clone();
        let not = |what: String, expected| VaultError::NotAParty { what, expected };
        for phone in &self.phones {
            keys.push(
                hasher
                    .phone_key(phone)
                    .ok_or_else(|| not(pii::redact(phone), "a phone number"))?,
            );
        }
        for id in &self.id_numbers {
            keys.push(
                hasher
                    .id_key(id)
                    .ok_or_else(|| not(pii::redact(id), "an 18-character ID number"))?,
            );
        }
        for account in &self.accounts {
            keys.push(
                hasher
                    .account_key(account)
                    .ok_or_else(|| not(pii::mask_account(account).unwrap_or_default(), "an account id"))?,
            );
        }
        for name in &self.names {
            keys.push(
                hasher
                    .name_key(name)
                    .ok_or_else(|| not(pii::mask_name(name).unwrap_or_default(), "a full personal name"))?,
            );
        }
        if keys.is_empty() {
            return Err(VaultError::NobodyNamed);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// A party key written `KIND:HASH` (`phone:abc…`), the kinds as the clues' JSON names them (`phone`,
/// `id_number`, `name`, `account`) and the hash 64 letters `a`–`p`.
pub fn parse_party(text: &str) -> Result<PartyKey, VaultError> {
    let not = || VaultError::NotAParty {
        what: yujing_feeds::pii::redact(text),
        expected: "a party key KIND:HASH (phone, id_number, name or account, then 64 letters a-p)",
    };
    let (kind, hash) = text.split_once(':').ok_or_else(not)?;
    let kind = [
        PartyKeyKind::Phone,
        PartyKeyKind::IdNumber,
        PartyKeyKind::Name,
        PartyKeyKind::Account,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == kind)
    .ok_or_else(not)?;
    if hash_bytes(hash).is_none() {
        return Err(not());
    }
    Ok(PartyKey {
        kind,
        hash: hash.to_owned(),
    })
}

impl std::fmt::Display for Erasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parties = self.parties.len();
        writeln!(
            f,
            "erased {parties} part{} ({} key{} destroyed): no raw unit naming {} can be opened again",
            if parties == 1 { "y" } else { "ies" },
            self.keys_destroyed,
            if self.keys_destroyed == 1 { "" } else { "s" },
            if parties == 1 { "it" } else { "them" },
        )?;
        for party in &self.parties {
            writeln!(f, "  {}:{}", kind_name(party.kind), party.hash)?;
        }
        if self.keys_destroyed < parties {
            writeln!(
                f,
                "  ({} had no key: no raw unit named {}; the erasure is recorded anyway)",
                parties - self.keys_destroyed,
                if parties - self.keys_destroyed == 1 {
                    "it"
                } else {
                    "them"
                },
            )?;
        }
        Ok(())
    }
}

/// A party a raw unit is sealed for: a party key as its kind and 32 bytes, which costs no allocation to copy,
/// compare or hash (an ingest handles several per unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyRef {
    kind: PartyKeyKind,
    hash: [u8; HASH_LEN],
}

impl PartyRef {
    /// The party of `key`; `None` when it is not a party key yujing made (64 letters `a`–`p`).
    pub fn of(key: &PartyKey) -> Option<PartyRef> {
        Some(PartyRef {
            kind: key.kind,
            hash: hash_bytes(&key.hash)?,
        })
    }

    /// Its kind's code and its hash, as a routed message carries it ([`crate::route`]).
    pub(crate) fn to_parts(self) -> (u8, [u8; HASH_LEN]) {
        (kind_code(self.kind), self.hash)
    }

    /// The party of [`PartyRef::to_parts`]; `None` for an unknown kind code.
    pub(crate) fn from_parts(kind: u8, hash: [u8; HASH_LEN]) -> Option<PartyRef> {
        Some(PartyRef {
            kind: kind_of(kind)?,
            hash,
        })
    }

    /// The party key it stands for.
    pub fn key(&self) -> PartyKey {
        PartyKey {
            kind: self.kind,
            hash: yujing_feeds::pii::letters_hex(&self.hash),
        }
    }
}

/// A party key's letters (`a`–`p`, four bits each) as its 32 bytes; `None` when it is not 64 such letters.
fn hash_bytes(letters: &str) -> Option<[u8; HASH_LEN]> {
    let letters = letters.as_bytes();
    if letters.len() != 2 * HASH_LEN || !letters.iter().all(|b| (b'a'..=b'p').contains(b)) {
        return None;
    }
    let mut out = [0u8; HASH_LEN];
    for (byte, pair) in out.iter_mut().zip(letters.chunks_exact(2)) {
        *byte = ((pair[0] - b'a') << 4) | (pair[1] - b'a');
    }
    Some(out)
}

fn kind_code(kind: PartyKeyKind) -> u8 {
    match kind {
        PartyKeyKind::Phone => 1,
        PartyKeyKind::IdNumber => 2,
        PartyKeyKind::Name => 3,
        PartyKeyKind::Account => 4,
    }
}

fn kind_of(code: u8) -> Option<PartyKeyKind> {
    Some(match code {
        1 => PartyKeyKind::Phone,
        2 => PartyKeyKind::IdNumber,
        3 => PartyKeyKind::Name,
        4 => PartyKeyKind::Account,
        _ => return None,
    })
}

fn kind_name(kind: PartyKeyKind) -> &'static str {
    match kind {
        PartyKeyKind::Phone => "phone",
        PartyKeyKind::IdNumber => "id_number",
        PartyKeyKind::Name => "name",
        PartyKeyKind::Account => "account",
    }
}

fn key_state_key(party: &PartyKey) -> Vec<u8> {
    format!("{KEY_PREFIX}{}/{}", kind_name(party.kind), party.hash).into_bytes()
}

fn erased_state_key(party: &PartyKey) -> Vec<u8> {
    format!("{ERASED_PREFIX}{}/{}", kind_name(party.kind), party.hash).into_bytes()
}

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(bytes)
}

impl Vault {
    /// The vault of the deployment whose party keys `hasher` makes (both come from its secret).
    pub fn new(hasher: &PartyHasher) -> Vault {
        Vault {
            key: hasher.derive_key("yujing raw vault v1"),
            known: Mutex::default(),
        }
    }

    fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(key.into())
    }

    fn unit_key(&self, keys: &[PersonKey]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"unit\0");
        for key in keys {
            mac.update(&key.key);
        }
        mac.finalize().into_bytes().into()
    }

    fn wrap(&self, party: &PartyKey, key: &PersonKey, nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, VaultError> {
        let aad = key_state_key(party);
        let sealed = Vault::cipher(&self.key)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &key.key,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Random("sealing a person key failed".to_owned()))?;
        let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap_key(&self, party: &PartyKey, stored: &[u8]) -> Result<PersonKey, VaultError> {
        let corrupt = |reason: &str| VaultError::Corrupt {
            what: format!("the stored key of party {:?} {}", party.kind, party.hash),
            reason: reason.to_owned(),
        };
        if stored.len() < KEY_ID_LEN + NONCE_LEN {
            return Err(corrupt("cut short"));
        }
        let (id, rest) = stored.split_at(KEY_ID_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = key_state_key(party);
        let key = Vault::cipher(&self.key)
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| corrupt("it does not authenticate under this deployment's secret"))?;
        Ok(PersonKey {
            id: id.try_into().expect("split at its length"),
            key: key.try_into().map_err(|_| corrupt("not 32 bytes"))?,
        })
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<PartyRef, PersonKey>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers keys now on the log.
    fn remember(&self, keys: impl IntoIterator<Item = (PartyRef, PersonKey)>) {
        let mut known = self.known();
        if known.len() > KNOWN_KEYS {
            known.clear();
        }
        known.extend(keys);
    }

    /// A person key as stored in `log`'s state, if any.
    fn stored_key<L: Log + ?Sized>(
        &self,
        log: &L,
        party: &PartyKey,
    ) -> Result<Option<PersonKey>, VaultError> {
        log.state(&key_state_key(party))?
            .map(|stored| self.unwrap_key(party, &stored))
            .transpose()
    }

    /// Opens a raw unit's value as stored on `log`.
    pub fn open<L: Log + ?Sized>(&self, log: &L, value: &[u8]) -> Result<Unsealed, VaultError> {
        let Some(body) = value.strip_prefix(MAGIC) else {
            return Ok(Unsealed::Clear(value.to_vec()));
        };
        let corrupt = |reason: &str| VaultError::Corrupt {
            what: "a sealed raw unit".to_owned(),
            reason: reason.to_owned(),
        };
        let (&count, mut rest) = body.split_first().ok_or_else(|| corrupt("cut short"))?;
        let mut listed = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let [code, tail @ ..] = rest else {
                return Err(corrupt("cut short in its parties"));
            };
            let kind = kind_of(*code).ok_or_else(|| corrupt("an unknown party kind"))?;
            if tail.len() < HASH_LEN + KEY_ID_LEN {
                return Err(corrupt("cut short in its parties"));
            }
            let hash = yujing_feeds::pii::letters_hex(&tail[..HASH_LEN]);
            let id: [u8; KEY_ID_LEN] = tail[HASH_LEN..HASH_LEN + KEY_ID_LEN]
                .try_into()
                .expect("sliced to its length");
            listed.push((PartyKey { kind, hash }, id));
            rest = &tail[HASH_LEN + KEY_ID_LEN..];
        }
        if rest.len() < NONCE_LEN {
            return Err(corrupt("cut short before its nonce"));
        }
        let header_len = value.len() - rest.len();
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let mut keys = Vec::with_capacity(listed.len());
        let mut erased = Vec::new();
        for (party, id) in listed {
            match self.stored_key(log, &party)? {
                Some(key) if key.id == id => keys.push(key),
                // No key, or the key made after an erasure: erased, if the erasure is on record.
                _ if log.state(&erased_state_key(&party))?.is_some() => erased.push(party),
                _ => {
                    return Err(VaultError::MissingKey {
                        kind: party.kind,
                        hash: party.hash,
                    })
                }
            }
        }
        if !erased.is_empty() {
            return Ok(Unsealed::Erased(erased));
        }
        let opened = Vault::cipher(&self.unit_key(&keys))
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &value[..header_len],
                },
            )
            .map_err(|_| corrupt("it does not authenticate"))?;
        Ok(Unsealed::Opened(opened))
    }

    /// A sealer of the raw units of one batch written to `log`; [`UnitSealer::written`] once the batch is.
    pub fn sealer<'a, L: Log + ?Sized>(&'a self, log: &'a L) -> Result<UnitSealer<'a, L>, VaultError> {
        Ok(UnitSealer {
            vault: self,
            log,
            created: HashMap::new(),
            fetched: HashMap::new(),
            // One draw from the system per batch; the nonces and keys of its units come from a ChaCha20 stream.
            random: ChaCha20Rng::from_seed(random()?),
        })
    }
}

/// Seals raw units for one batch: finds each party's person key in the log's state, or makes it and adds it to
/// the batch (see the module documentation).
pub struct UnitSealer<'a, L: Log + ?Sized> {
    vault: &'a Vault,
    log: &'a L,
    /// Keys made for this batch: not on the log until the batch is written.
    created: HashMap<PartyRef, PersonKey>,
    /// Keys looked up ahead ([`UnitSealer::look_up`]): `None` for a party with no key on the log yet.
    fetched: HashMap<PartyRef, Option<PersonKey>>,
    random: ChaCha20Rng,
}

impl<L: Log + ?Sized> std::fmt::Debug for UnitSealer<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitSealer")
            .field("created", &self.created.len())
            .finish()
    }
}

impl<L: Log + ?Sized> UnitSealer<'_, L> {
    fn person_key(&mut self, party: PartyRef, batch: &mut Batch) -> Result<PersonKey, VaultError> {
        let known = self.vault.known().get(&party).cloned();
        if let Some(key) = self.created.get(&party).cloned().or(known) {
            return Ok(key);
        }
        let named = party.key();
        let stored = match self.fetched.remove(&party) {
            Some(looked_up) => looked_up,
            None => self.vault.stored_key(self.log, &named)?,
        };
        if let Some(key) = stored {
            self.vault.remember([(party, key.clone())]);
            return Ok(key);
        }
        let mut key = PersonKey {
            id: [0; KEY_ID_LEN],
            key: [0; 32],
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill_bytes(&mut key.id);
        self.random.fill_bytes(&mut key.key);
        self.random.fill_bytes(&mut nonce);
        batch.put_state(key_state_key(&named), self.vault.wrap(&named, &key, nonce)?);
        self.created.insert(party, key.clone());
        Ok(key)
    }

    /// Looks up, in one call to the log, the stored keys of those of `parties` the vault does not remember, so
    /// that sealing a batch's units for them reads nothing more from the log. A bulk ingest meets mostly new
    /// people: asked one by one, their absent keys were a fifth of its writing thread (docs/PERFORMANCE.md,
    /// stop 45).
    pub fn look_up(&mut self, parties: impl IntoIterator<Item = PartyRef>) -> Result<(), VaultError> {
        let mut wanted: Vec<PartyRef> = {
            let known = self.vault.known();
            parties
                .into_iter()
                .filter(|party| {
                    !known.contains_key(party)
                        && !self.created.contains_key(party)
                        && !self.fetched.contains_key(party)
                })
                .collect()
        };
        wanted.sort_unstable();
        wanted.dedup();
        let named: Vec<PartyKey> = wanted.iter().map(PartyRef::key).collect();
        let keys: Vec<Vec<u8>> = named.iter().map(key_state_key).collect();
        let stored = self.log.states(&keys)?;
        for ((party, named), stored) in wanted.into_iter().zip(&named).zip(stored) {
            let key = stored
                .map(|stored| self.vault.unwrap_key(named, &stored))
                .transpose()?;
            self.fetched.insert(party, key);
        }
        Ok(())
    }

    /// The batch was written: the keys made for it are on the log, and are remembered.
    pub fn written(self) {
        self.vault.remember(self.created);
    }

    /// `bytes` sealed for `parties` (sorted, without repeats); a key made for a party is added to `batch`.
    pub fn seal(
        &mut self,
        bytes: &[u8],
        parties: &[PartyRef],
        batch: &mut Batch,
    ) -> Result<Vec<u8>, VaultError> {
        // At most 255 parties fit the header; a unit naming more is sealed for the first 255, which is still
        // sealed, but erasing a later one would not reach it. No feed's record comes near.
        let parties = &parties[..parties.len().min(u8::MAX as usize)];
        let mut keys = Vec::with_capacity(parties.len());
        let mut out = Vec::with_capacity(bytes.len() + 64 + parties.len() * (1 + HASH_LEN + KEY_ID_LEN));
        out.extend_from_slice(MAGIC);
        out.push(parties.len() as u8);
        for &party in parties {
            let key = self.person_key(party, batch)?;
            out.push(kind_code(party.kind));
            out.extend_from_slice(&party.hash);
            out.extend_from_slice(&key.id);
            keys.push(key);
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill_bytes(&mut nonce);
        let sealed = Vault::cipher(&self.vault.unit_key(&keys))
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: bytes,
                    aad: &out,
                },
            )
            .map_err(|_| VaultError::Random("sealing a raw unit failed".to_owned()))?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

/// Erases `parties`: deletes their person keys, so that no raw unit naming any of them can be opened again, and
/// logs the erasure on [`ERASURES`], in one batch; then purges the deleted keys from the log's files
/// ([`Log::purge_deleted_state`]). Returns the event and its offset. A party without a key (no unit named it)
/// is recorded too, so that a later unit sealed under a new key is not taken for a lost one.
pub fn erase<L: Log + ?Sized>(
    log: &L,
    parties: &[PartyKey],
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(Erasure, Offset), VaultError> {
    let mut parties = parties.to_vec();
    parties.sort();
    parties.dedup();
    let mut batch = Batch::new();
    let mut keys_destroyed = 0;
    let offset = log.end_offset(ERASURES)?;
    for party in &parties {
        if log.state(&key_state_key(party))?.is_some() {
            keys_destroyed += 1;
            batch.delete_state(key_state_key(party));
        }
        batch.put_state(erased_state_key(party), offset.to_be_bytes().to_vec());
    }
    let erasure = Erasure {
        erased_at: now,
        parties,
        keys_destroyed,
        actor: yujing_feeds::pii::redact(actor),
        reason: yujing_feeds::pii::redact(reason),
    };
    batch.append(
        ERASURES,
        Record {
            key: Vec::new(),
            value: serde_json::to_vec(&erasure)?,
            timestamp_ms: now.timestamp_millis(),
        },
    );
    let offsets = log.write(batch)?;
    log.purge_deleted_state()?;
    Ok((erasure, offsets.first().copied().unwrap_or(offset)))
}

/// Every erasure logged, in order.
pub fn erasures<L: Log + ?Sized>(log: &L) -> Result<Vec<(Offset, Erasure)>, VaultError> {
    let mut out = Vec::new();
    crate::read::for_each_decoded(log, ERASURES, 0, |offset, erasure| out.push((offset, erasure)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yujing_log::EmbeddedLog;

    fn hasher() -> PartyHasher {
        PartyHasher::new(b"0123456789abcdef-vault-test").expect("long enough")
    }

    fn sealed(log: &EmbeddedLog, vault: &Vault, bytes: &[u8], parties: &[PartyKey]) -> Vec<u8> {
        let parties: Vec<PartyRef> = parties.iter().filter_map(PartyRef::of).collect();
        let parties = parties.as_slice();
        let mut batch = Batch::new();
        let mut sealer = vault.sealer(log).expect("sealer");
        let value = sealer.seal(bytes, parties, &mut batch).expect("sealed");
        log.write(batch).expect("keys written");
        sealer.written();
        value
    }

    #[test]
    fn a_sealed_unit_opens_until_one_of_its_parties_is_erased() {
        let dir = tempfile::tempdir().expect("dir");
        let log = EmbeddedLog::open(dir.path()).expect("log");
        let hasher = hasher();
        let vault = Vault::new(&hasher);
        let phone = hasher.phone_key("13962751208").expect("phone");
        let id = hasher.id_key("320682197805126617").expect("id");
        let record = "来电人13962751208，身份证320682197805126617".as_bytes();
        let both = sealed(&log, &vault, record, &[phone.clone(), id.clone()]);
        let only_id = sealed(&log, &vault, b"id only", std::slice::from_ref(&id));
        let nobody = sealed(&log, &vault, b"nobody", &[]);
        assert!(!both.windows(11).any(|w| w == b"13962751208"), "sealed");
        assert_eq!(
            vault.open(&log, &both).expect("open"),
            Unsealed::Opened(record.to_vec())
        );
        assert_eq!(
            vault.open(&log, b"{\"legacy\":1}").expect("open"),
            Unsealed::Clear(b"{\"legacy\":1}".to_vec())
        );

        let (erasure, _) = erase(
            &log,
            std::slice::from_ref(&phone),
            "管理员",
            "本人申请",
            Utc::now(),
        )
        .expect("erase");
        assert_eq!(erasure.keys_destroyed, 1);
        assert_eq!(
            vault.open(&log, &both).expect("open"),
            Unsealed::Erased(vec![phone.clone()])
        );
        assert_eq!(
            vault.open(&log, &only_id).expect("open"),
            Unsealed::Opened(b"id only".to_vec())
        );
        assert_eq!(
            vault.open(&log, &nobody).expect("open"),
            Unsealed::Opened(b"nobody".to_vec())
        );
        assert_eq!(erasures(&log).expect("read").len(), 1);

        // A later report by the same person (a later step, with a vault of its own) gets a new key; the old units
        // stay erased.
        let vault = Vault::new(&hasher);
        let later = sealed(&log, &vault, b"later", std::slice::from_ref(&phone));
        assert_eq!(
            vault.open(&log, &later).expect("open"),
            Unsealed::Opened(b"later".to_vec())
        );
        assert_eq!(
            vault.open(&log, &both).expect("open"),
            Unsealed::Erased(vec![phone])
        );
    }

    #[test]
    fn keys_looked_up_ahead_seal_as_keys_found_one_at_a_time() {
        let dir = tempfile::tempdir().expect("dir");
        let log = EmbeddedLog::open(dir.path()).expect("log");
        let hasher = hasher();
        let phone = hasher.phone_key("13962751208").expect("phone");
        let id = hasher.id_key("320682197805126617").expect("id");
        let earlier = sealed(
            &log,
            &Vault::new(&hasher),
            b"earlier",
            std::slice::from_ref(&phone),
        );

        // A later batch, by a vault that remembers nothing: the person with a key on the log and a new one,
        // looked up together (twice over, and once more than sealed for).
        let vault = Vault::new(&hasher);
        let parties: Vec<PartyRef> = [&phone, &id, &phone]
            .into_iter()
            .filter_map(PartyRef::of)
            .collect();
        let mut batch = Batch::new();
        let mut sealer = vault.sealer(&log).expect("sealer");
        sealer.look_up(parties.iter().copied()).expect("looked up");
        let mut both = parties[..2].to_vec();
        both.sort();
        let later = sealer.seal(b"later", &both, &mut batch).expect("sealed");
        log.write(batch).expect("keys written");
        sealer.written();

        // The stored key was used, not replaced: the earlier unit still opens, with a vault that remembers
        // nothing either.
        let fresh = Vault::new(&hasher);
        assert_eq!(
            fresh.open(&log, &earlier).expect("open"),
            Unsealed::Opened(b"earlier".to_vec())
        );
        assert_eq!(
            fresh.open(&log, &later).expect("open"),
            Unsealed::Opened(b"later".to_vec())
        );
    }

    /// Whether any file under `dir` holds `needle`.
    fn on_disk(dir: &std::path::Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).expect("dir").any(|entry| {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                return on_disk(&path, needle);
            }
            let bytes = std::fs::read(&path).expect("read");
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    }

    #[test]
    fn an_erased_key_is_gone_from_the_disk_not_only_hidden() {
        let dir = tempfile::tempdir().expect("dir");
        let log = EmbeddedLog::open(dir.path()).expect("log");
        let hasher = hasher();
        let vault = Vault::new(&hasher);
        let phone = hasher.phone_key("13962751208").expect("phone");
        let unit = sealed(&log, &vault, b"a report", std::slice::from_ref(&phone));
        // The wrapped key (random bytes, which no compression shortens) is in the write-ahead log.
        let stored = log.state(&key_state_key(&phone)).expect("state").expect("key");
        let wrapped = &stored[KEY_ID_LEN..];
        assert!(on_disk(dir.path(), wrapped), "the key is written");
        // Also flushed to a table file, where a deletion alone would only hide it.
        log.purge_deleted_state().expect("flush");
        assert!(on_disk(dir.path(), wrapped), "the key is in a table file");
        let request = ErasureRequest {
            phones: vec!["139-6275-1208".to_owned()],
            reason: "本人申请删除，电话13962751208".to_owned(),
            ..ErasureRequest::default()
        };
        let parties = request.party_keys(&hasher).expect("keys");
        assert_eq!(parties, vec![phone]);
        let (erasure, _) = erase(&log, &parties, "admin", &request.reason, Utc::now()).expect("erase");
        assert!(!erasure.reason.contains("13962751208"), "{}", erasure.reason);
        assert!(!on_disk(dir.path(), wrapped), "the erased key is still on disk");
        assert!(matches!(vault.open(&log, &unit), Ok(Unsealed::Erased(_))));
        let err = ErasureRequest {
            phones: vec!["12".to_owned()],
            ..ErasureRequest::default()
        }
        .party_keys(&hasher)
        .expect_err("not a phone");
        assert!(err.to_string().contains("is not a phone number"), "{err}");
        assert!(matches!(
            ErasureRequest::default().party_keys(&hasher),
            Err(VaultError::NobodyNamed)
        ));
    }

    #[test]
    fn a_flipped_byte_or_another_secret_is_refused_not_misread() {
        let dir = tempfile::tempdir().expect("dir");
        let log = EmbeddedLog::open(dir.path()).expect("log");
        let hasher = hasher();
        let vault = Vault::new(&hasher);
        let phone = hasher.phone_key("13962751208").expect("phone");
        let value = sealed(&log, &vault, b"a report", std::slice::from_ref(&phone));
        for at in [MAGIC.len() + 3, value.len() - 1, value.len() - 20] {
            let mut flipped = value.clone();
            flipped[at] ^= 1;
            assert!(vault.open(&log, &flipped).is_err(), "byte {at} flipped");
        }
        assert!(vault.open(&log, &value[..value.len() - 30]).is_err(), "cut short");
        let other = Vault::new(&PartyHasher::new(b"another-secret-of-16-bytes").expect("long enough"));
        let err = other.open(&log, &value).expect_err("another secret");
        assert!(err.to_string().contains("does not authenticate"), "{err}");
        // A missing key with no erasure on record is an error, not an erasure.
        let mut batch = Batch::new();
        batch.delete_state(key_state_key(&phone));
        log.write(batch).expect("deleted");
        assert!(matches!(
            vault.open(&log, &value),
            Err(VaultError::MissingKey { .. })
        ));
    }
}
