//! The feeds' configuration: category tables, risk words and exchange resource mappings.
//!
//! Following Vector's pattern, a [`FeedsConfig`] is plain serde data (unknown keys rejected) that
//! [`FeedsConfig::build`]s the runtime [`FeedRules`]; building checks everything and reports *every* problem in one
//! [`ConfigErrors`], so an operator fixes a configuration in one pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yujing_model::{DisputeType, PartyKind, PartyRole, RequestKind, RiskFlag};

/// The feeds' configuration, as read from `yujing.toml` (`[feeds]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsConfig {
    /// Category tables: a feed's own category words onto canonical dispute types.
    pub categories: CategoriesConfig,
    /// Risk words found in text.
    pub risk: RiskConfig,
    /// Exchange resources and how their fields map onto a clue.
    pub exchange: ExchangeConfig,
}

/// Category tables, local word → canonical type name (`物业管理 = "物业"`).
///
/// A feed's own table is tried first, then `common`, then the word itself and the word without a trailing
/// `纠纷`/`矛盾`/`问题` as a canonical name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategoriesConfig {
    /// Words shared by all feeds.
    pub common: BTreeMap<String, String>,
    /// The hotline's 诉求类别.
    pub hotline12345: BTreeMap<String, String>,
    /// The grid platform's event type codes (`JF-03`).
    pub grid: BTreeMap<String, String>,
    /// The prefix of the grid's dispute-class event codes; other classes are not disputes.
    pub grid_dispute_prefix: String,
    /// 110's 警情细类.
    pub police: BTreeMap<String, String>,
    /// The ledgers' 纠纷类别.
    pub screening: BTreeMap<String, String>,
    /// The mediation platform's DisputeType.
    pub justice: BTreeMap<String, String>,
    /// Category words of exchange resources.
    pub exchange: BTreeMap<String, String>,
    /// Words in a report's text that suggest a canonical type (`物业 = ["物业费", "电梯"]`), used with the
    /// tables above to infer the type of a category word no table maps.
    pub keywords: BTreeMap<String, Vec<String>>,
}

/// Risk words found in descriptions and outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Words per flag (`weapon = ["持刀", "凶器"]`).
    pub keywords: BTreeMap<String, Vec<String>>,
    /// Words that, right before a risk word, negate it (`未动手`).
    pub negations: Vec<String>,
    /// From this many people involved, the clue is flagged as a gathering.
    pub gathering_people: u32,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            keywords: BTreeMap::new(),
            negations: Vec::new(),
            gathering_people: 10,
        }
    }
}

/// The exchange's resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// Mappings by `resourceCode`.
    pub resources: BTreeMap<String, ResourceMapping>,
}

/// How one exchange resource's record fields map onto a clue. Every value is a field name of the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceMapping {
    /// The resource's name, for people reading the configuration.
    pub name: String,
    /// The field holding the record's id.
    pub source_id: String,
    /// The field holding the time or date the dispute was reported.
    pub occurred_at: String,
    /// The request kind of every record of this resource (`petition`, `complaint`).
    pub request_kind: String,
    /// A fixed canonical dispute type for every record (`物业`).
    pub dispute_type: Option<String>,
    /// A field holding a category word, mapped through the category tables.
    pub category: Option<String>,
    /// A field holding the town.
    pub town: Option<String>,
    /// Fields joined, in order, into the address.
    pub address: Vec<String>,
    /// A field holding the estate (小区) name.
    pub estate: Option<String>,
    /// Fields joined, in order, into the description.
    pub description: Vec<String>,
    /// A field holding the number of people involved.
    pub people_involved: Option<String>,
    /// The parties the record names.
    pub parties: Vec<PartyMapping>,
    /// Flags set for every record, or when a field has a value.
    pub flags: Vec<FlagMapping>,
}

/// One party of an exchange record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartyMapping {
    /// The role (`complainant`, `petitioner`, `respondent`, `employer`, …).
    pub role: String,
    /// `person` (masked) or `organisation` (shown as given).
    pub kind: String,
    /// The field holding the name.
    pub name: Option<String>,
    /// The field holding the phone number.
    pub phone: Option<String>,
    /// The field holding the ID number.
    pub id_number: Option<String>,
}

/// A risk flag set by an exchange resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagMapping {
    /// The flag (`petition`, `repeat_petition`).
    pub flag: String,
    /// The field to test; without one the flag is always set.
    pub field: Option<String>,
    /// The value (as text) that sets the flag.
    pub equals: Option<String>,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration error(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

/// The runtime form of [`FeedsConfig`]: checked and typed.
#[derive(Debug, Clone)]
pub struct FeedRules {
    pub(crate) categories: BTreeMap<&'static str, BTreeMap<String, DisputeType>>,
    pub(crate) grid_dispute_prefix: String,
    /// All risk words in one automaton (overlapping matches), and the flag of each pattern.
    pub(crate) risk_matcher: aho_corasick::AhoCorasick,
    pub(crate) risk_flag_of_pattern: Vec<RiskFlag>,
    pub(crate) negations: Vec<String>,
    pub(crate) gathering_people: u32,
    pub(crate) resources: BTreeMap<String, Resource>,
    /// Every word of every table and every canonical name, with its type: what an unknown word is compared
    /// with.
    pub(crate) known_words: Vec<(Vec<char>, DisputeType)>,
    /// The type keywords in one automaton, and the type of each pattern.
    pub(crate) type_matcher: Option<aho_corasick::AhoCorasick>,
    pub(crate) type_of_keyword: Vec<DisputeType>,
}

/// A checked exchange resource mapping.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) mapping: ResourceMapping,
    pub(crate) request_kind: RequestKind,
    pub(crate) dispute_type: Option<DisputeType>,
    pub(crate) parties: Vec<(PartyRole, PartyKind, PartyMapping)>,
    pub(crate) flags: Vec<(RiskFlag, FlagMapping)>,
}

fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

impl FeedsConfig {
    /// Checks the configuration and builds the runtime rules, or returns every problem found.
    pub fn build(&self) -> Result<FeedRules, ConfigErrors> {
        let mut errors = Vec::new();
        let c = &self.categories;
        let mut categories = BTreeMap::new();
        for (feed, table) in [
            ("common", &c.common),
            ("hotline12345", &c.hotline12345),
            ("grid", &c.grid),
            ("police", &c.police),
            ("screening", &c.screening),
            ("justice", &c.justice),
            ("exchange", &c.exchange),
        ] {
            let mut typed = BTreeMap::new();
            for (word, target) in table {
                match DisputeType::from_name(target) {
                    Some(t) => {
                        typed.insert(word.clone(), t);
                    }
                    None => errors.push(format!(
                        "feeds.categories.{feed}: '{word}' maps to '{target}', which is not one of the 16 canonical dispute types"
                    )),
                }
            }
            categories.insert(feed, typed);
        }
        let mut keyword_list = Vec::new();
        for (target, words) in &c.keywords {
            match DisputeType::from_name(target) {
                Some(t) => keyword_list.extend(words.iter().map(|w| (w.clone(), t))),
                None => errors.push(format!(
                    "feeds.categories.keywords: '{target}' is not one of the 16 canonical dispute types"
                )),
            }
            if words.iter().any(|w| w.trim().is_empty()) {
                errors.push(format!(
                    "feeds.categories.keywords.{target}: contains an empty word"
                ));
            }
        }
        let type_matcher = if keyword_list.is_empty() {
            None
        } else {
            match aho_corasick::AhoCorasick::new(keyword_list.iter().map(|(w, _)| w.as_str())) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.push(format!(
                        "feeds.categories.keywords: cannot build the word matcher: {e}"
                    ));
                    None
                }
            }
        };
        let mut known_words: Vec<(Vec<char>, DisputeType)> = DisputeType::ALL
            .iter()
            .filter(|t| **t != DisputeType::Other)
            .map(|t| (t.name().chars().collect(), *t))
            .collect();
        for table in categories.values() {
            for (word, t) in table {
                if *t != DisputeType::Other && !word.is_ascii() {
                    known_words.push((word.chars().collect(), *t));
                }
            }
        }
        if c.grid_dispute_prefix.is_empty() {
            errors.push("feeds.categories.grid_dispute_prefix is empty".to_owned());
        }
        let mut risk_words = Vec::new();
        for (flag, words) in &self.risk.keywords {
            match parse_enum::<RiskFlag>(flag) {
                Some(f) => risk_words.extend(words.iter().map(|w| (w.clone(), f))),
                None => errors.push(format!("feeds.risk.keywords: '{flag}' is not a risk flag")),
            }
            if words.iter().any(|w| w.trim().is_empty()) {
                errors.push(format!("feeds.risk.keywords.{flag}: contains an empty word"));
            }
        }
        // One pass over a text finds every risk word, overlapping ones included ("持刀" and "刀").
        let risk_matcher = aho_corasick::AhoCorasick::new(risk_words.iter().map(|(w, _)| w.as_str()));
        let risk_matcher = match risk_matcher {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(format!("feeds.risk.keywords: cannot build the word matcher: {e}"));
                None
            }
        };
        if self.risk.gathering_people == 0 {
            errors.push("feeds.risk.gathering_people must be at least 1".to_owned());
        }
        let mut resources = BTreeMap::new();
        for (code, mapping) in &self.exchange.resources {
            if let Some(resource) = build_resource(code, mapping, &mut errors) {
                resources.insert(code.clone(), resource);
            }
        }
        match risk_matcher {
            Some(risk_matcher) if errors.is_empty() => Ok(FeedRules {
                categories,
                grid_dispute_prefix: c.grid_dispute_prefix.clone(),
                risk_matcher,
                risk_flag_of_pattern: risk_words.into_iter().map(|(_, f)| f).collect(),
                negations: self.risk.negations.clone(),
                gathering_people: self.risk.gathering_people,
                resources,
                known_words,
                type_of_keyword: keyword_list.into_iter().map(|(_, t)| t).collect(),
                type_matcher,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

fn build_resource(code: &str, m: &ResourceMapping, errors: &mut Vec<String>) -> Option<Resource> {
    let at = format!("feeds.exchange.resources.\"{code}\"");
    let before = errors.len();
    if m.source_id.trim().is_empty() {
        errors.push(format!("{at}: source_id names no field"));
    }
    if m.occurred_at.trim().is_empty() {
        errors.push(format!("{at}: occurred_at names no field"));
    }
    let request_kind = parse_enum::<RequestKind>(&m.request_kind);
    if request_kind.is_none() {
        errors.push(format!(
            "{at}: request_kind '{}' is not a request kind",
            m.request_kind
        ));
    }
    let dispute_type = m.dispute_type.as_deref().and_then(|t| {
        let typed = DisputeType::from_name(t);
        if typed.is_none() {
            errors.push(format!(
                "{at}: dispute_type '{t}' is not a canonical dispute type"
            ));
        }
        typed
    });
    if m.dispute_type.is_none() && m.category.is_none() {
        errors.push(format!(
            "{at}: set dispute_type (fixed) or category (a field to map)"
        ));
    }
    let mut parties = Vec::new();
    for (i, p) in m.parties.iter().enumerate() {
        let role = parse_enum::<PartyRole>(&p.role);
        let kind = parse_enum::<PartyKind>(&p.kind);
        if role.is_none() {
            errors.push(format!(
                "{at}.parties[{i}]: role '{}' is not a party role",
                p.role
            ));
        }
        if kind.is_none() {
            errors.push(format!(
                "{at}.parties[{i}]: kind '{}' is not person or organisation",
                p.kind
            ));
        }
        if p.name.is_none() && p.phone.is_none() && p.id_number.is_none() {
            errors.push(format!(
                "{at}.parties[{i}]: names no field (name, phone or id_number)"
            ));
        }
        if let (Some(role), Some(kind)) = (role, kind) {
            parties.push((role, kind, p.clone()));
        }
    }
    let mut flags = Vec::new();
    for (i, f) in m.flags.iter().enumerate() {
        match parse_enum::<RiskFlag>(&f.flag) {
            Some(flag) => flags.push((flag, f.clone())),
            None => errors.push(format!("{at}.flags[{i}]: '{}' is not a risk flag", f.flag)),
        }
        if f.field.is_some() != f.equals.is_some() {
            errors.push(format!("{at}.flags[{i}]: set both field and equals, or neither"));
        }
    }
    (errors.len() == before).then(|| Resource {
        mapping: m.clone(),
        request_kind: request_kind.unwrap_or(RequestKind::Other),
        dispute_type,
        parties,
        flags,
    })
}

impl FeedRules {
    /// The canonical type of a feed's category word, or `None` when no table or canonical name matches it.
    pub fn dispute_type(&self, feed: &str, word: &str) -> Option<DisputeType> {
        let word = word.trim();
        let lookup = |w: &str| {
            self.categories
                .get(feed)
                .and_then(|t| t.get(w))
                .or_else(|| self.categories.get("common").and_then(|t| t.get(w)))
                .copied()
                .or_else(|| DisputeType::from_name(w))
        };
        lookup(word).or_else(|| {
            ["纠纷", "矛盾", "问题", "类"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .and_then(lookup)
        })
    }

    /// The canonical type of a category word that no table maps, inferred from the word and the report's
    /// texts; [`DisputeType::Other`] when nothing suggests one.
    ///
    /// The word is compared with every mapped word and canonical name: each shares its longest common run of
    /// characters (`劳动保障` and `劳动争议` share `劳动`, `人身损害赔偿` contains the mapped `人身损害`), and a
    /// run of two characters or more votes for that word's type, weighted by its length. The texts add one vote
    /// per distinct type keyword they contain (`[feeds.categories.keywords]`). Category words are short
    /// labels that reuse the vocabulary of the tables, so a shared run is strong evidence; the text decides
    /// when the word shares nothing (`城乡建设` with a text about a property fee).
    pub fn infer_type(&self, word: &str, texts: &[&str]) -> DisputeType {
        self.infer(word, texts).dispute_type
    }

    /// [`FeedRules::infer_type`], and whether the word itself pointed to the type (rather than only the text,
    /// or nothing): a type the word points to is nearly as good as a mapped one; one the text suggests is a
    /// guess.
    pub fn infer(&self, word: &str, texts: &[&str]) -> Inferred {
        let word: Vec<char> = word.trim().chars().collect();
        let mut votes = [0.0_f64; DisputeType::ALL.len()];
        let slot = |t: DisputeType| DisputeType::ALL.iter().position(|x| *x == t).unwrap_or(0);
        let mut by_word = [0usize; DisputeType::ALL.len()];
        for (known, t) in &self.known_words {
            let run = longest_common_run(&word, known);
            if run >= 2 {
                let i = slot(*t);
                by_word[i] = by_word[i].max(run);
            }
        }
        for (i, run) in by_word.iter().enumerate() {
            votes[i] += 2.0 * *run as f64;
        }
        if let Some(matcher) = &self.type_matcher {
            let mut seen = std::collections::BTreeSet::new();
            for text in texts {
                for found in matcher.find_overlapping_iter(*text) {
                    let pattern = found.pattern().as_usize();
                    if seen.insert(pattern) {
                        votes[slot(self.type_of_keyword[pattern])] += 1.0;
                    }
                }
            }
        }
        let mut best = (DisputeType::Other, 0.0);
        for (i, v) in votes.iter().enumerate() {
            // Ties keep the earlier type of the statistics list: the same inputs always give the same type.
            if *v > best.1 {
                best = (DisputeType::ALL[i], *v);
            }
        }
        Inferred {
            dispute_type: best.0,
            from_word: by_word
                .iter()
                .enumerate()
                .any(|(i, run)| *run > 0 && DisputeType::ALL[i] == best.0),
        }
    }

    /// Whether the configuration maps this exchange resource.
    pub fn maps_resource(&self, code: &str) -> bool {
        self.resources.contains_key(code)
    }

    /// The codes of the mapped exchange resources.
    pub fn resource_codes(&self) -> impl Iterator<Item = &str> {
        self.resources.keys().map(String::as_str)
    }
}

/// A type inferred for a category word no table maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inferred {
    /// The type.
    pub dispute_type: DisputeType,
    /// Whether the word shares a run of characters with a word mapped to this type (or with its name).
    pub from_word: bool,
}

/// The length of the longest run of characters `a` and `b` share.
fn longest_common_run(a: &[char], b: &[char]) -> usize {
    let mut best = 0;
    let mut previous = vec![0usize; b.len() + 1];
    for x in a {
        let mut current = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            if x == y {
                current[j + 1] = previous[j] + 1;
                best = best.max(current[j + 1]);
            }
        }
        previous = current;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_rules() -> FeedRules {
        let text = include_str!("../../../config/yujing.toml");
        let table: toml::Table = toml::from_str(text).expect("the default configuration parses");
        let feeds: FeedsConfig = table["feeds"].clone().try_into().expect("[feeds] is valid");
        feeds.build().expect("the default rules build")
    }

    #[test]
    fn unmapped_category_words_get_the_type_their_words_and_text_suggest() {
        let rules = default_rules();
        for (word, expected) in [
            ("劳动保障", DisputeType::Labour),
            ("人身损害赔偿", DisputeType::DamageCompensation),
            ("道路交通", DisputeType::TrafficAccident),
            ("环境保护", DisputeType::Pollution),
            ("拆迁安置", DisputeType::LandExpropriation),
            ("消费维权", DisputeType::Consumer),
            ("医疗卫生", DisputeType::Medical),
            ("噪音污染", DisputeType::Pollution),
            ("企业经营", DisputeType::Business),
        ] {
            assert_eq!(
                rules.dispute_type("hotline12345", word),
                None,
                "{word} is mapped already"
            );
            assert_eq!(rules.infer_type(word, &[]), expected, "{word}");
        }
        // A word that shares nothing with the tables: the text decides.
        assert_eq!(
            rules.infer_type("网络问政", &["小区物业乱收停车费，电梯坏了没人修"]),
            DisputeType::Property
        );
        assert_eq!(
            rules.infer_type("网络问政", &["丽发新城附近修建搅拌厂，粉尘和噪音扰民"]),
            DisputeType::Pollution
        );
        // Nothing to go on: 其他.
        assert_eq!(rules.infer_type("外星人入侵", &["无"]), DisputeType::Other);
    }

    #[test]
    fn collects_every_error_at_once() {
        let mut config = FeedsConfig::default();
        config.categories.grid_dispute_prefix = "JF-".into();
        config
            .categories
            .common
            .insert("物业管理".into(), "物业管理".into());
        config.risk.keywords.insert("weapons".into(), vec!["持刀".into()]);
        config.exchange.resources.insert(
            "XX-1".into(),
            ResourceMapping {
                request_kind: "petitions".into(),
                ..ResourceMapping::default()
            },
        );
        let errors = config.build().expect_err("invalid").0;
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("'物业管理' maps to '物业管理'")));
        assert!(errors.iter().any(|e| e.contains("'weapons' is not a risk flag")));
        assert!(errors.iter().any(|e| e.contains("source_id names no field")));
    }
}
