//! The compact comparison profile of a clue: what blocking and scoring look at, computed once per clue.

use std::collections::BTreeSet;

use pinyin::ToPinyin;
use yujing_model::{Clue, DisputeType, FeedId, PartyKeyKind, PartyKind, PartyRole, RiskFlag};

/// What correlation knows of one clue.
#[derive(Debug, Clone, PartialEq)]
pub struct ClueProfile {
    /// `<feed>:<source id>`.
    pub clue_id: String,
    /// The feed.
    pub feed: FeedId,
    /// The upstream id.
    pub source_id: String,
    /// Event time, seconds since the epoch.
    pub at: i64,
    /// Town code (`unknown` when unresolved).
    pub town: String,
    /// Canonical type.
    pub dispute_type: DisputeType,
    /// Community code.
    pub community: Option<String>,
    /// Estate name as written.
    pub estate: Option<String>,
    /// Estate name as toneless pinyin, so homophones (华庭/华廷) agree.
    pub estate_sound: Option<String>,
    /// Village group.
    pub village_group: Option<String>,
    /// Building number.
    pub building: Option<String>,
    /// Position (longitude, latitude).
    pub location: Option<(f64, f64)>,
    /// Phone and ID keys of all parties.
    pub strong_keys: Vec<String>,
    /// Full-name keys of all parties.
    pub name_keys: Vec<String>,
    /// Name tokens of persons: (char tokens, sound tokens).
    pub names: Vec<(Vec<String>, Vec<String>)>,
    /// Organisations named (counter-parties), as given.
    pub organisations: Vec<String>,
    /// Hashed character bigrams of the title and description, sorted and distinct.
    pub bigrams: Vec<u32>,
    /// Risk flags.
    pub risk_flags: BTreeSet<RiskFlag>,
    /// People involved (lower bound).
    pub people: Option<u32>,
    /// The reporter's identity for counting distinct reporters: a strong key, else a name key.
    pub reporter: Option<String>,
}

impl ClueProfile {
    /// The profile of `clue`.
    pub fn of(clue: &Clue) -> ClueProfile {
        let mut strong_keys = BTreeSet::new();
        let mut name_keys = BTreeSet::new();
        let mut names = Vec::new();
        let mut organisations = Vec::new();
        let mut reporter = None;
        for party in &clue.parties {
            for key in &party.keys {
                match key.kind {
                    PartyKeyKind::Phone | PartyKeyKind::IdNumber => strong_keys.insert(key.hash.clone()),
                    PartyKeyKind::Name => name_keys.insert(key.hash.clone()),
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
        let mut text = String::new();
        if let Some(title) = &clue.title {
            text.push_str(title);
            text.push(' ');
        }
        text.push_str(&clue.description);
        let estate = clue.address.estate.clone();
        ClueProfile {
            clue_id: clue.clue_id.clone(),
            feed: clue.feed,
            source_id: clue.source_id.clone(),
            at: clue.occurred_at.timestamp(),
            town: clue.town.town_code.0.clone(),
            dispute_type: clue.dispute_type,
            community: clue.town.community_code.clone(),
            estate_sound: estate.as_deref().map(sound_of),
            estate,
            village_group: clue.address.village_group.clone(),
            building: clue.address.building.clone(),
            location: clue.location.map(|p| (p.lng, p.lat)),
            strong_keys: strong_keys.into_iter().collect(),
            name_keys: name_keys.into_iter().collect(),
            names,
            organisations,
            bigrams: bigrams(&text),
            risk_flags: clue.risk_flags.clone(),
            people: clue.people_involved.map(|p| p.min),
            reporter,
        }
    }
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
    for prefix in ["江苏省", "南通市", "如皋市", "如皋"] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    for suffix in ["股份有限公司", "有限责任公司", "有限公司", "公司"] {
        s = s.strip_suffix(suffix).unwrap_or(s);
    }
    s = s.strip_suffix("服务").unwrap_or(s);
    s.to_owned()
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

/// The distinct hashed character bigrams of `text`, sorted (FNV-1a over the two characters).
pub fn bigrams(text: &str) -> Vec<u32> {
    // A masked name (`赵**`) keeps its surname, which says nothing about the dispute: drop it with the stars.
    let all: Vec<char> = text.chars().collect();
    let chars: Vec<char> = all
        .iter()
        .enumerate()
        .filter(|&(i, &c)| is_content_char(c) && all.get(i + 1) != Some(&'*'))
        .map(|(_, &c)| c)
        .collect();
    let mut out: Vec<u32> = chars
        .windows(2)
        .map(|w| {
            let mut h: u32 = 0x811c_9dc5;
            for c in w {
                for b in (*c as u32).to_le_bytes() {
                    h ^= u32::from(b);
                    h = h.wrapping_mul(0x0100_0193);
                }
            }
            h
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
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

    #[test]
    fn homophone_estates_sound_the_same() {
        assert_eq!(sound_of("锦绣华庭"), sound_of("锦绣华廷"));
        assert_ne!(sound_of("锦绣华庭"), sound_of("锦绣花园"));
    }

    #[test]
    fn organisations_compare_without_prefix_and_legal_form() {
        assert_eq!(normalize_org("如皋市安居物业服务有限公司"), "安居物业");
        assert_eq!(normalize_org("安居物业"), "安居物业");
    }

    #[test]
    fn dice_of_bigrams_ignores_punctuation_and_masks() {
        let a = bigrams("电梯坏了，物业不修。赵**");
        let b = bigrams("电梯坏了物业不修");
        assert!((dice(&a, &b) - 1.0).abs() < 1e-9);
        assert_eq!(dice(&a, &bigrams("拖欠工资")), 0.0);
    }
}
