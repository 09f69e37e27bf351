//! Pairwise comparison of two clue profiles: a score and the features that agreed.

use yujing_model::DisputeType;

use crate::config::Weights;
use crate::profile::{BigramFrequencies, ClueProfile};

/// The result of comparing two clues.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    /// The summed weights.
    pub score: f64,
    /// The features that agreed, by name (`phone_or_id`, `estate`…), in a fixed order.
    pub matched: Vec<&'static str>,
}

/// Features that tie two reports to one place or one person. Wording and type alone cannot: a county has many
/// disputes about noise, unpaid wages or a broken gate at the same time.
pub const ANCHORS: &[&str] = &[
    "phone_or_id",
    "name",
    "similar_name",
    "estate",
    "village_group",
    "community",
    "road",
    "counterparty",
    "near",
];

impl PairScore {
    /// Whether a feature that ties the two to one place or person agreed.
    pub fn anchored(&self) -> bool {
        self.matched.iter().any(|m| ANCHORS.contains(m))
    }
}

/// Names sharing fewer than this similarity are not evidence.
const NAME_SIMILARITY_FLOOR: f64 = 0.9;

/// The similarity of two names given as keyed per-character tokens, tuned for 2–3-character Chinese names.
///
/// Jaro–Winkler over the character tokens rewards a shared surname and given-name prefix; the same over the
/// sound tokens catches homophone spellings (张玮/张伟), scored a little below an exact spelling. A name of a
/// different length or with a different surname scores low: for names this short, one differing character in
/// three is often a different person (a brother, a neighbour of the same surname).
pub fn name_similarity(a: &(Vec<String>, Vec<String>), b: &(Vec<String>, Vec<String>)) -> f64 {
    if a.0.is_empty() || b.0.is_empty() {
        return 0.0;
    }
    if a.0.first() != b.0.first() && a.1.first() != b.1.first() {
        return 0.0;
    }
    let by_chars = strsim::generic_jaro_winkler(&a.0, &b.0);
    let by_sound = 0.95 * strsim::generic_jaro_winkler(&a.1, &b.1);
    by_chars.max(by_sound)
}

/// The similarity of two estate names: 1 for the same name or a homophone, less for a near spelling or an
/// abbreviation (`锦绣` for `锦绣华庭`), 0 for different estates.
pub fn estate_similarity(a: &ClueProfile, b: &ClueProfile) -> Option<f64> {
    let (ea, eb) = (a.estate.as_deref()?, b.estate.as_deref()?);
    if ea == eb || a.estate_sound == b.estate_sound {
        return Some(1.0);
    }
    let (short, long) = if ea.chars().count() <= eb.chars().count() {
        (ea, eb)
    } else {
        (eb, ea)
    };
    if short.chars().count() >= 2 && long.contains(short) {
        return Some(0.8);
    }
    let jw = strsim::jaro_winkler(ea, eb);
    Some(if jw >= 0.88 { jw * 0.9 } else { 0.0 })
}

fn shares(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

/// Metres between two WGS-84 positions (equirectangular; exact enough within a county).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let lat = ((a.1 + b.1) / 2.0).to_radians();
    let dx = (a.0 - b.0).to_radians() * lat.cos() * 6_371_000.0;
    let dy = (a.1 - b.1).to_radians() * 6_371_000.0;
    (dx * dx + dy * dy).sqrt()
}

/// Compare two clues; description bigrams are weighted by their frequency among the clues seen so far.
pub fn score(a: &ClueProfile, b: &ClueProfile, w: &Weights, frequencies: &BigramFrequencies) -> PairScore {
    let mut score = 0.0;
    let mut matched = Vec::new();
    if shares(&a.strong_keys, &b.strong_keys) {
        score += w.strong_key;
        matched.push("phone_or_id");
    }
    if shares(&a.name_keys, &b.name_keys) {
        score += w.name_key;
        matched.push("name");
    } else {
        let best = a
            .names
            .iter()
            .flat_map(|x| b.names.iter().map(move |y| name_similarity(x, y)))
            .fold(0.0_f64, f64::max);
        if best >= NAME_SIMILARITY_FLOOR {
            score += w.name_similar * best;
            matched.push("similar_name");
        }
    }
    if a.town != "unknown" && b.town != "unknown" && a.town != b.town {
        score += w.town_conflict;
    }
    if a.dispute_type == b.dispute_type {
        score += w.type_same;
        matched.push("type");
    } else if a.dispute_type != DisputeType::Other && b.dispute_type != DisputeType::Other {
        score += w.type_conflict;
    }
    match estate_similarity(a, b) {
        Some(s) if s > 0.0 => {
            score += w.estate_same * s;
            matched.push("estate");
        }
        Some(_) => score += w.estate_conflict,
        None => {}
    }
    match (&a.village_group, &b.village_group) {
        (Some(x), Some(y)) if x == y => {
            score += w.village_group_same;
            matched.push("village_group");
        }
        (Some(_), Some(_)) => score += w.village_group_conflict,
        _ => {}
    }
    match (&a.building, &b.building) {
        (Some(x), Some(y)) if x == y => {
            score += w.building_same;
            matched.push("building");
        }
        (Some(_), Some(_)) => score += w.building_conflict,
        _ => {}
    }
    match (&a.community, &b.community) {
        (Some(x), Some(y)) if x == y => {
            score += w.community_same;
            matched.push("community");
        }
        (Some(_), Some(_)) => score += w.community_conflict,
        _ => {}
    }
    let only_estate = |p: &ClueProfile| p.estate.is_some() && p.village_group.is_none();
    let only_group = |p: &ClueProfile| p.estate.is_none() && p.village_group.is_some();
    let estate_vs_group = (only_estate(a) && only_group(b)) || (only_group(a) && only_estate(b));
    if estate_vs_group {
        score += w.place_kind_conflict;
    }
    if let (Some(x), Some(y)) = (a.location, b.location) {
        if distance_m(x, y) <= w.near_meters {
            score += w.geo_near;
            matched.push("near");
        }
    }
    if !a.organisations.is_empty() && !b.organisations.is_empty() {
        if a.organisations.iter().any(|o| b.organisations.contains(o)) {
            score += w.counterparty_same;
            matched.push("counterparty");
        } else {
            score += w.counterparty_conflict;
        }
    }
    match (&a.road, &b.road) {
        (Some(x), Some(y)) if x == y => {
            score += w.road_same;
            matched.push("road");
        }
        (Some(_), Some(_)) => score += w.road_conflict,
        _ => {}
    }
    // What the reports are about: their wording (bigram Dice) and their topics (the lexicon). Paraphrases share
    // topics but few bigrams, so wording that shares nothing only counts against a pair whose topics do not
    // meet either.
    let mut shared_topic = false;
    if !a.topics.is_empty() && !b.topics.is_empty() {
        let shared = a.topics.iter().filter(|t| b.topics.contains(t)).count();
        if shared == 0 {
            score += w.topic_conflict;
        } else {
            shared_topic = true;
            let union = a.topics.len() + b.topics.len() - shared;
            score += w.topic_same * shared as f64 / union as f64;
            matched.push("topic");
        }
    }
    let d = frequencies.weighted_dice(&a.bigrams, &b.bigrams);
    if d < 0.1 {
        if !shared_topic {
            score += w.description_conflict;
        }
    } else {
        score += w.description * d;
        if d >= 0.25 {
            matched.push("description");
        }
    }
    let days = (a.at - b.at).unsigned_abs() as f64 / 86_400.0;
    score -= w.time_gap_per_30_days * days / 30.0;
    PairScore { score, matched }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(chars: &[&str], sounds: &[&str]) -> (Vec<String>, Vec<String>) {
        (
            chars.iter().map(|s| s.to_string()).collect(),
            sounds.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn homophone_names_are_similar_and_brothers_are_not() {
        let zhang_wei = tokens(&["zh", "we"], &["zhang", "wei"]);
        let zhang_wei2 = tokens(&["zh", "wX"], &["zhang", "wei"]);
        assert!(name_similarity(&zhang_wei, &zhang_wei2) >= NAME_SIMILARITY_FLOOR);
        let he_changgen = tokens(&["he", "ch", "ge"], &["he", "chang", "gen"]);
        let he_changlin = tokens(&["he", "ch", "li"], &["he", "chang", "lin"]);
        assert!(name_similarity(&he_changgen, &he_changlin) < NAME_SIMILARITY_FLOOR);
        let wang_wei = tokens(&["wa", "we"], &["wang", "wei"]);
        assert_eq!(name_similarity(&zhang_wei, &wang_wei), 0.0);
    }

    #[test]
    fn distances_are_in_metres() {
        let d = distance_m((120.5689, 32.3874), (120.5689, 32.3884));
        assert!((d - 111.2).abs() < 1.0, "{d}");
    }
}
