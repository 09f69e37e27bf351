//! Normalization: a decoded [`SourceRecord`] becomes a canonical [`Clue`].
//!
//! This is where personal data stops: names, phones and ID numbers are hashed into party keys and masked for
//! display; free text has phone and ID numbers redacted and the parties' names masked. It is also where the town
//! is resolved, the address is cut into parts, the category is mapped and the risk flags are found.

use std::collections::BTreeSet;

use yujing_model::{Clue, FeedId, Party, PartyKind, RawPointer, RejectKind, RiskFlag, SourceLocation};

use crate::address::normalize_address;
use crate::config::FeedRules;
use crate::gazetteer::Gazetteer;
use crate::pii::{self, PartyHasher};
use crate::record::{Category, Reject, SourceRecord};

/// Turns decoded records into clues. Pure: the same record and configuration give the same clue.
#[derive(Debug, Clone)]
pub struct Normalizer {
    gazetteer: Gazetteer,
    hasher: PartyHasher,
    rules: FeedRules,
}

impl Normalizer {
    /// A normalizer with this gazetteer, party hasher and feed rules.
    pub fn new(gazetteer: Gazetteer, hasher: PartyHasher, rules: FeedRules) -> Normalizer {
        Normalizer {
            gazetteer,
            hasher,
            rules,
        }
    }

    /// The party hasher (keyed with the deployment's secret).
    pub fn hasher(&self) -> &PartyHasher {
        &self.hasher
    }

    /// The feed rules.
    pub fn rules(&self) -> &FeedRules {
        &self.rules
    }

    /// The gazetteer.
    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    /// The clue of `record`, version `version`, whose raw bytes are at `raw`; or why it cannot be one.
    ///
    /// A bug that panics on one record makes that record an `internal` dead letter; the others go on.
    pub fn normalize(&self, record: &SourceRecord, version: u32, raw: RawPointer) -> Result<Clue, Reject> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.normalize_unguarded(record, version, raw)
        }))
        .unwrap_or_else(|panic| {
            Err(Reject::new(
                RejectKind::Internal,
                format!(
                    "normalizing the record failed inside yujing ({}): report it with the record",
                    pii::panic_message(panic.as_ref())
                ),
            ))
        })
    }

    fn normalize_unguarded(
        &self,
        record: &SourceRecord,
        version: u32,
        raw: RawPointer,
    ) -> Result<Clue, Reject> {
        let fields = record
            .texts
            .iter()
            .map(|t| ("text", t.as_str()))
            .chain(record.title.as_deref().map(|t| ("title", t)))
            .chain([("address", record.address.as_str())]);
        for (field, text) in fields {
            if text.len() > crate::record::MAX_FIELD_BYTES {
                return Err(Reject::new(
                    RejectKind::TooLarge,
                    format!(
                        "the {field} is {} bytes; the limit is {} bytes a field",
                        text.len(),
                        crate::record::MAX_FIELD_BYTES
                    ),
                ));
            }
        }
        // A word no table maps is not a bad record: the type is inferred and the clue flagged, so the report
        // still counts (`yujing vocab` lists such words for an operator to map).
        let (dispute_type, category_inferred, category_guessed) = match &record.category {
            Category::Known(t) => (*t, false, false),
            Category::Word(word) => match self.rules.dispute_type(record.feed.as_str(), word) {
                Some(t) => (t, false, false),
                None => {
                    let mut texts: Vec<&str> = record.texts.iter().map(String::as_str).collect();
                    texts.extend(record.title.as_deref());
                    texts.push(&record.address);
                    let inferred = self.rules.infer(word, &texts);
                    (inferred.dispute_type, true, !inferred.from_word)
                }
            },
        };
        let person_names: Vec<&str> = record
            .parties
            .iter()
            .filter(|p| p.kind == PartyKind::Person)
            .filter_map(|p| p.name.as_deref())
            .collect();
        let clean =
            |text: &str| pii::mask_names_in(&pii::redact(text.replace("\r\n", "\n").trim()), &person_names);
        let texts: Vec<&str> = record.texts.iter().map(String::as_str).collect();
        let mut search_texts = texts.clone();
        if let Some(title) = &record.title {
            search_texts.push(title);
        }
        let town = self
            .gazetteer
            .resolve(&record.town_hints, &record.address, &search_texts);
        let address_text = clean(&record.address);
        let mut address = normalize_address(&address_text, record.estate.as_deref(), &town, &self.gazetteer);
        if let (Some(estate), None, Some(text)) = (&address.estate, &address.building, texts.first()) {
            // The building is often in the text rather than the address (`锦绣华庭5幢电梯…`).
            let text = clean(text);
            if let Some(at) = text.find(estate.as_str()) {
                if let Some(b) = crate::address::building_at_start(&text[at + estate.len()..]) {
                    address.normalized.push_str(&format!("/{b}幢"));
                    address.building = Some(b);
                }
            }
        }
        if address.estate.is_none() && address.village_group.is_none() {
            // Ledgers give only the village; the estate is often the first words of the summary.
            if let Some(text) = texts.first() {
                let text = clean(text);
                if let Some(estate) = crate::address::estate_in(&text) {
                    let building = address.building.or_else(|| crate::address::building_in(&text));
                    address = normalize_address(&address_text, Some(&estate), &town, &self.gazetteer);
                    if address.building.is_none() {
                        if let Some(b) = building {
                            address.normalized.push_str(&format!("/{b}幢"));
                            address.building = Some(b);
                        }
                    }
                } else if let Some(community) = &town.community_name {
                    // Or the village group, written after the village's name.
                    if let Some(group) = crate::address::village_group_in(&text, community) {
                        address.normalized.push('/');
                        address.normalized.push_str(&group);
                        address.village_group = Some(group);
                    }
                }
            }
        }
        let mut risk_flags = record.flags.clone();
        for text in &search_texts {
            risk_flags.extend(self.risk_flags_in(text));
        }
        if record
            .people_involved
            .is_some_and(|p| p.max.unwrap_or(u32::MAX).max(p.min) >= self.rules.gathering_people)
        {
            risk_flags.insert(RiskFlag::Gathering);
        }
        // Places named anywhere in the record: the address first, then the title and the text.
        // Places are named early; the first few hundred characters of each field keep segmentation cheap on
        // long (or hostile) texts.
        const PLACE_CHARS: usize = 600;
        let mut place_text: String = address_text.chars().take(PLACE_CHARS).collect();
        for text in search_texts.iter().rev() {
            place_text.push('\n');
            let head: String = text.chars().take(PLACE_CHARS).collect();
            place_text.push_str(&clean(&head));
        }
        address.places = crate::places::mentions_in(&self.gazetteer.without_divisions(&place_text));
        // An estate read from a free-text address field takes the words before it (`咨询星沙东城名苑`): the
        // segmenter's mention at its end is the estate.
        if let Some(estate) = address.estate.clone() {
            let better = address
                .places
                .iter()
                .filter(|m| m.chars().count() >= 2 && estate.ends_with(m.as_str()) && **m != estate)
                .max_by_key(|m| m.len());
            if let Some(better) = better {
                address.normalized = address.normalized.replace(&estate, better);
                address.estate = Some(better.clone());
            }
        }
        let description = texts
            .iter()
            .map(|t| clean(t))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Clue {
            clue_id: clue_id(record.feed, &record.source_id),
            feed: record.feed,
            source_id: pii::redact(&record.source_id),
            version,
            occurred_at: record.occurred_at,
            reported_at: record.updated_at.unwrap_or(record.occurred_at),
            town,
            address,
            location: record.location,
            dispute_type,
            // Category and status words are free text too: an upstream system may put a number in them.
            source_category: pii::redact(&record.source_category),
            category_inferred,
            category_guessed,
            request_kind: record.request_kind,
            source_status: record.status.as_deref().map(pii::redact),
            parties: record
                .parties
                .iter()
                .map(|p| self.party(p))
                // An anonymous party with no phone tells nothing.
                .filter(|p| p.name_masked.is_some() || p.phone_masked.is_some() || p.id_masked.is_some())
                .collect(),
            people_involved: record.people_involved,
            risk_flags,
            title: record.title.as_deref().map(clean),
            description,
            raw,
        })
    }

    fn party(&self, party: &crate::record::SourceParty) -> Party {
        let mut keys = BTreeSet::new();
        let person = party.kind == PartyKind::Person;
        // A message board or an app gives an account id where a hotline gives a name or a number: it is a
        // stable identifier of the reporter, keyed like the others and shown masked.
        let name_is_account = party
            .name
            .as_deref()
            .is_some_and(|n| pii::normalize_account(n).is_some());
        let account = party.name.as_deref().filter(|_| name_is_account).or_else(|| {
            party
                .phones
                .iter()
                .map(String::as_str)
                .find(|p| pii::normalize_phone(p).is_none() && pii::normalize_account(p).is_some())
        });
        if let Some(key) = account.and_then(|a| self.hasher.account_key(a)) {
            keys.insert(key);
        }
        let name_tokens = if person && !name_is_account {
            party.name.as_deref().and_then(|n| self.hasher.name_tokens(n))
        } else {
            None
        };
        let name_masked = party.name.as_deref().and_then(|n| {
            if name_is_account {
                pii::mask_account(n)
            } else if person {
                if let Some(k) = self.hasher.name_key(n) {
                    keys.insert(k);
                }
                pii::mask_name(n)
            } else {
                pii::non_empty_org(n)
            }
        });
        // An account given in the number field is shown, masked, in place of a missing name.
        let name_masked = name_masked.or_else(|| account.and_then(pii::mask_account));
        let mut phone_masked = Vec::new();
        for phone in &party.phones {
            if let Some(k) = self.hasher.phone_key(phone) {
                keys.insert(k);
            }
            if let Some(m) = pii::mask_phone(phone) {
                phone_masked.push(m);
            }
        }
        let id_masked = party.id_number.as_deref().and_then(|id| {
            if let Some(k) = self.hasher.id_key(id) {
                keys.insert(k);
            }
            pii::mask_id_number(id)
        });
        Party {
            role: party.role,
            kind: party.kind,
            name_masked,
            phone_masked: (!phone_masked.is_empty()).then(|| phone_masked.join("/")),
            id_masked,
            keys: keys.into_iter().collect(),
            name_tokens,
        }
    }

    /// The risk flags whose words appear in `text`, skipping negated mentions.
    pub fn risk_flags_in(&self, text: &str) -> BTreeSet<RiskFlag> {
        let negated = |at: usize| {
            let before = &text[..at];
            // A negation right before the word, or one character before it ("未再动手").
            let one_back = before.char_indices().next_back().map(|(i, _)| &before[..i]);
            self.rules
                .negations
                .iter()
                .any(|n| before.ends_with(n.as_str()) || one_back.is_some_and(|b| b.ends_with(n.as_str())))
        };
        let mut flags = BTreeSet::new();
        for found in self.rules.risk_matcher.find_overlapping_iter(text) {
            let flag = self.rules.risk_flag_of_pattern[found.pattern().as_usize()];
            if !flags.contains(&flag) && !negated(found.start()) {
                flags.insert(flag);
            }
        }
        flags
    }
}

/// The identity of every version of a record: `<feed>:<source id>`.
pub fn clue_id(feed: FeedId, source_id: &str) -> String {
    format!("{feed}:{}", pii::redact(source_id))
}

/// A placeholder pointer for tests and previews: no raw record behind it.
pub fn detached_pointer(feed: FeedId, location: SourceLocation) -> RawPointer {
    RawPointer {
        topic: format!("raw.{feed}"),
        offset: 0,
        location,
    }
}
