//! The gazetteer: a county's towns and communities (Rugao's ship with yujing; any county's divisions file can
//! replace them), and town resolution.
//!
//! Feeds name a town in full (如城街道), abbreviated (如城, 开发区), by a former name (城北街道), through a police
//! station (如城派出所), through digits inside a grid code, ledger id or committee code, or not at all, leaving only
//! the address. [`Gazetteer::resolve`] tries the explicit evidence first, in the order the adapter gives it, then
//! searches the address and text for town, former-name and community names. A record nothing resolves keeps town
//! `unknown`: it is never dropped.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use yujing_model::{TownCode, TownEvidence, TownRef};

/// The division code of Rugao, the county whose divisions file ships with yujing.
pub const RUGAO_COUNTY_CODE: &str = "320682";

/// The names that enclose Rugao's towns (province, city, county), written before them in addresses.
pub const RUGAO_CONTEXT: &[&str] = &["江苏省", "南通市", "如皋市", "如皋"];

/// One town, zone or sub-district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Town {
    /// The 9-digit town code.
    pub code: String,
    /// The full name.
    pub name: String,
    /// The short name.
    pub short: String,
    /// Aliases and former names.
    pub aliases: Vec<String>,
    /// The police station in charge.
    pub police_station: String,
}

/// One village or community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    /// The 12-digit community code.
    pub code: String,
    /// The name.
    pub name: String,
    /// The 9-digit code of its town.
    pub town_code: String,
}

/// A gazetteer file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gazetteer line {line}: {reason}")]
pub struct GazetteerError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A piece of explicit evidence for the town, as an adapter found it in a record's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TownHint {
    /// A town field: full name, short name or former name.
    Name(String),
    /// A police station.
    PoliceStation(String),
    /// A 15-digit grid code.
    GridCode(String),
    /// A screening ledger id, `PC-<town code>-<date>-<n>`.
    LedgerId(String),
    /// A mediation committee code, `<town code><suffix>`.
    CommitteeCode(String),
    /// A community (village) name field.
    CommunityName(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needle {
    Town(usize, TownEvidence),
    Community(usize),
    Station(usize),
    Short(usize),
}

/// Towns and communities, with the indexes town resolution needs.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    towns: Vec<Town>,
    communities: Vec<Community>,
    town_by_code: HashMap<String, usize>,
    town_by_name: HashMap<String, (usize, TownEvidence)>,
    town_by_station: HashMap<String, usize>,
    community_by_code: HashMap<String, usize>,
    communities_by_name: HashMap<String, Vec<usize>>,
    text_search: AhoCorasick,
    needles: Vec<Needle>,
    /// The 6-digit county code every town code starts with.
    county_code: String,
    /// The province, city and county names written before a town in addresses, longest first.
    context: Vec<String>,
}

/// The Rugao divisions file shipped with yujing (`config/rugao-divisions.tsv`).
pub const RUGAO_DIVISIONS: &str = include_str!("../../../config/rugao-divisions.tsv");

impl Gazetteer {
    /// The gazetteer of the shipped Rugao divisions file.
    pub fn rugao() -> Gazetteer {
        Gazetteer::from_tsv(RUGAO_DIVISIONS)
            .expect("the shipped divisions file is valid")
            .with_context(RUGAO_CONTEXT.iter().map(|s| (*s).to_owned()).collect())
    }

    /// The same gazetteer with `names` as the enclosing province, city and county names (`江苏省`, `南通市`,
    /// `如皋市`): addresses written with them are read without them.
    pub fn with_context(mut self, mut names: Vec<String>) -> Gazetteer {
        names.retain(|n| !n.trim().is_empty());
        // Longest first, so `如皋市` is cut before `如皋`.
        names.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
        self.context = names;
        self
    }

    /// The 6-digit county code every town code starts with.
    pub fn county_code(&self) -> &str {
        &self.county_code
    }

    /// The enclosing province, city and county names, longest first.
    pub fn context(&self) -> &[String] {
        &self.context
    }

    /// `text` with every town, town alias, police station and enclosing name replaced by `，`, leaving the
    /// communities and everything else: what place mentions are looked for in (a town is resolved, not
    /// compared as a place, and a segmenter would glue its name to the next word).
    pub fn without_divisions(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for found in self.text_search.find_iter(text) {
            if matches!(self.needles[found.pattern().as_usize()], Needle::Community(_)) {
                continue;
            }
            out.push_str(&text[at..found.start()]);
            out.push('，');
            at = found.end();
        }
        out.push_str(&text[at..]);
        for name in &self.context {
            if out.contains(name.as_str()) {
                out = out.replace(name.as_str(), "，");
            }
        }
        out
    }

    /// `text` without the enclosing names written before it (repeatedly: clerks write the county twice).
    pub fn strip_context<'a>(&self, text: &'a str) -> &'a str {
        let mut rest = text.trim_start();
        while let Some(stripped) = self.context.iter().find_map(|p| rest.strip_prefix(p.as_str())) {
            rest = stripped;
        }
        rest
    }

    /// Reads a divisions file: a header, then `town_code town short aliases police_station community_code
    /// community`, tab-separated, aliases separated by `|`.
    pub fn from_tsv(text: &str) -> Result<Gazetteer, GazetteerError> {
        let mut towns: Vec<Town> = Vec::new();
        let mut communities = Vec::new();
        let mut town_by_code = HashMap::new();
        let mut county_code: Option<String> = None;
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            if index == 0 || line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
            let err = |reason: String| GazetteerError {
                line: line_no,
                reason,
            };
            if cols.len() != 7 {
                return Err(err(format!(
                    "expected 7 tab-separated columns, found {}",
                    cols.len()
                )));
            }
            let (town_code, community_code) = (cols[0], cols[5]);
            if town_code.len() != 9 || !town_code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!("town code '{town_code}' is not 9 digits")));
            }
            // The county is the file's: every town of it must share the first town's county code.
            let county = county_code.get_or_insert_with(|| town_code[..6].to_owned());
            if !town_code.starts_with(county.as_str()) {
                return Err(err(format!(
                    "town code '{town_code}' is not in county {county}, the county of the file's first town"
                )));
            }
            if community_code.len() != 12 || !community_code.starts_with(town_code) {
                return Err(err(format!(
                    "community code '{community_code}' is not 12 digits starting with its town code"
                )));
            }
            let town_index = *town_by_code.entry(town_code.to_owned()).or_insert_with(|| {
                towns.push(Town {
                    code: town_code.to_owned(),
                    name: cols[1].to_owned(),
                    short: cols[2].to_owned(),
                    aliases: cols[3]
                        .split('|')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    police_station: cols[4].to_owned(),
                });
                towns.len() - 1
            });
            communities.push(Community {
                code: community_code.to_owned(),
                name: cols[6].to_owned(),
                town_code: towns[town_index].code.clone(),
            });
        }
        if towns.is_empty() {
            return Err(GazetteerError {
                line: 0,
                reason: "the file lists no towns".to_owned(),
            });
        }
        let county_code = county_code.unwrap_or_default();
        Ok(Gazetteer::index(towns, communities, town_by_code, county_code))
    }

    fn index(
        towns: Vec<Town>,
        communities: Vec<Community>,
        town_by_code: HashMap<String, usize>,
        county_code: String,
    ) -> Gazetteer {
        let mut town_by_name = HashMap::new();
        let mut town_by_station = HashMap::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut needles = Vec::new();
        for (i, town) in towns.iter().enumerate() {
            town_by_name.insert(town.name.clone(), (i, TownEvidence::FullName));
            patterns.push(town.name.clone());
            needles.push(Needle::Town(i, TownEvidence::FullName));
            for alias in &town.aliases {
                town_by_name
                    .entry(alias.clone())
                    .or_insert((i, TownEvidence::FormerName));
                patterns.push(alias.clone());
                needles.push(Needle::Town(i, TownEvidence::FormerName));
            }
            if !town.short.is_empty() {
                town_by_name
                    .entry(town.short.clone())
                    .or_insert((i, TownEvidence::Abbreviation));
                patterns.push(town.short.clone());
                needles.push(Needle::Short(i));
            }
            town_by_station.insert(town.police_station.clone(), i);
            patterns.push(town.police_station.clone());
            needles.push(Needle::Station(i));
        }
        let mut community_by_code = HashMap::new();
        let mut communities_by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, community) in communities.iter().enumerate() {
            community_by_code.insert(community.code.clone(), i);
            communities_by_name
                .entry(community.name.clone())
                .or_default()
                .push(i);
            patterns.push(community.name.clone());
            needles.push(Needle::Community(i));
        }
        // Leftmost-longest: "城南社区" (a community of 如城街道) wins over "城南" (the high-tech zone's alias).
        let text_search = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("gazetteer names build an automaton");
        Gazetteer {
            towns,
            communities,
            town_by_code,
            town_by_name,
            town_by_station,
            community_by_code,
            communities_by_name,
            text_search,
            needles,
            county_code,
            context: Vec::new(),
        }
    }

    /// The towns, in file order.
    pub fn towns(&self) -> &[Town] {
        &self.towns
    }

    /// The communities, in file order.
    pub fn communities(&self) -> &[Community] {
        &self.communities
    }

    /// The town with this 9-digit code.
    pub fn town(&self, code: &str) -> Option<&Town> {
        self.town_by_code.get(code).map(|&i| &self.towns[i])
    }

    /// The town a name, short name or former name stands for (`如城`, `城北街道`), with the kind of name it was.
    pub fn town_by_name(&self, name: &str) -> Option<(&Town, TownEvidence)> {
        let name = self.strip_context(name.trim());
        self.town_by_name
            .get(name)
            .map(|&(i, evidence)| (&self.towns[i], evidence))
    }

    /// Resolves the town and community of a record from its explicit hints, in order, then from its address and
    /// other text.
    pub fn resolve(&self, hints: &[TownHint], address: &str, texts: &[&str]) -> TownRef {
        let mut town: Option<(usize, TownEvidence)> = None;
        let mut community: Option<usize> = None;
        let mut grid_code = None;
        let mut community_names = Vec::new();
        for hint in hints {
            match hint {
                TownHint::Name(name) => {
                    if town.is_none() {
                        town = self.town_by_name.get(self.strip_context(name.trim())).copied();
                    }
                }
                TownHint::PoliceStation(station) => {
                    if town.is_none() {
                        town = self
                            .town_by_station
                            .get(station.trim())
                            .map(|&i| (i, TownEvidence::PoliceStation));
                    }
                }
                TownHint::GridCode(code) => {
                    let code = code.trim();
                    if code.len() == 15 && code.bytes().all(|b| b.is_ascii_digit()) {
                        grid_code = Some(code.to_owned());
                        if let Some(&c) = self.community_by_code.get(&code[..12]) {
                            community = community.or(Some(c));
                        }
                        if town.is_none() {
                            town = self
                                .town_by_code
                                .get(&code[..9])
                                .map(|&i| (i, TownEvidence::GridCode));
                        }
                    }
                }
                TownHint::LedgerId(id) => {
                    if town.is_none() {
                        town = id
                            .split('-')
                            .find(|part| part.len() == 9 && part.starts_with(self.county_code.as_str()))
                            .and_then(|code| self.town_by_code.get(code))
                            .map(|&i| (i, TownEvidence::LedgerId));
                    }
                }
                TownHint::CommitteeCode(code) => {
                    if town.is_none() {
                        town = code
                            .get(..9)
                            .and_then(|c| self.town_by_code.get(c))
                            .map(|&i| (i, TownEvidence::CommitteeCode));
                    }
                }
                TownHint::CommunityName(name) => community_names.push(name.trim().to_owned()),
            }
        }
        // The address and text: towns, former names, stations and communities named in them.
        let mut text_town = None;
        let mut leading_short = None;
        let mut text_communities = Vec::new();
        let address_body = address.trim_start();
        let address_body = self.strip_context(address_body);
        let body_offset = address.len() - address_body.len();
        for (n, text) in std::iter::once(address).chain(texts.iter().copied()).enumerate() {
            for found in self.text_search.find_iter(text) {
                match self.needles[found.pattern().as_usize()] {
                    Needle::Town(i, _) | Needle::Station(i) => {
                        text_town = text_town.or(Some((i, TownEvidence::AddressText)))
                    }
                    Needle::Community(c) => text_communities.push(c),
                    // A bare short name (长江, 九华) is too common a word to trust inside free text; at the very
                    // start of the address field (吴窑海棠花苑) it is how clerks write the town.
                    Needle::Short(i) => {
                        if n == 0 && found.start() == body_offset {
                            leading_short = leading_short.or(Some((i, TownEvidence::Abbreviation)));
                        }
                    }
                }
            }
        }
        if town.is_none() {
            town = text_town.or(leading_short);
        }
        if town.is_none() {
            // A community named in the text, if its name is unique in the county, tells the town.
            town = text_communities
                .iter()
                .find(|&&c| self.communities_by_name[&self.communities[c].name].len() == 1)
                .and_then(|&c| self.town_by_code.get(&self.communities[c].town_code))
                .map(|&i| (i, TownEvidence::AddressText));
        }
        let Some((town_index, evidence)) = town else {
            return TownRef {
                town_code: TownCode::unknown(),
                town_name: None,
                town_evidence: TownEvidence::Unresolved,
                community_code: None,
                community_name: None,
                grid_code,
            };
        };
        let town = &self.towns[town_index];
        // The community must belong to the resolved town: a named field first, then the text.
        let in_town = |c: &usize| self.communities[*c].town_code == town.code;
        let community = community.filter(in_town).or_else(|| {
            community_names
                .iter()
                .filter_map(|name| self.communities_by_name.get(name))
                .flatten()
                .copied()
                .find(in_town)
                .or_else(|| text_communities.iter().copied().find(in_town))
        });
        TownRef {
            town_code: TownCode(town.code.clone()),
            town_name: Some(town.name.clone()),
            town_evidence: evidence,
            community_code: community.map(|c| self.communities[c].code.clone()),
            community_name: community.map(|c| self.communities[c].name.clone()),
            grid_code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(hints: &[TownHint], address: &str) -> (String, TownEvidence, Option<String>) {
        let r = Gazetteer::rugao().resolve(hints, address, &[]);
        (r.town_code.0, r.town_evidence, r.community_name)
    }

    #[test]
    fn loads_the_fourteen_towns() {
        let g = Gazetteer::rugao();
        assert_eq!(g.towns().len(), 14);
        assert!(g.communities().len() > 300);
    }

    #[test]
    fn resolves_every_kind_of_evidence() {
        use TownEvidence::*;
        let name = |s: &str| TownHint::Name(s.to_owned());
        assert_eq!(resolve(&[name("如城街道")], "").0, "320682001");
        assert_eq!(resolve(&[name("如城")], "").1, Abbreviation);
        assert_eq!(
            resolve(&[name("城北街道")], ""),
            ("320682002".into(), FormerName, None)
        );
        assert_eq!(
            resolve(&[TownHint::PoliceStation("磨头派出所".into())], "").1,
            PoliceStation
        );
        assert_eq!(
            resolve(&[TownHint::GridCode("320682001006002".into())], ""),
            ("320682001".into(), GridCode, Some("城南社区".into()))
        );
        assert_eq!(
            resolve(&[TownHint::LedgerId("PC-320682005-20260611-012".into())], "").0,
            "320682005"
        );
        assert_eq!(
            resolve(&[TownHint::CommitteeCode("320682001RT".into())], "").1,
            CommitteeCode
        );
        // A county-level committee code names no town; the address decides.
        assert_eq!(
            resolve(
                &[TownHint::CommitteeCode("320682000JS".into())],
                "如城街道花园社区8组"
            ),
            ("320682001".into(), AddressText, Some("花园社区".into()))
        );
        assert_eq!(resolve(&[name("")], "海阳南路锦绣华廷").1, Unresolved);
        assert_eq!(resolve(&[], "海阳南路锦绣华廷").0, "unknown");
        // A short name opening the address field is the town; inside free text it is not trusted.
        assert_eq!(
            resolve(&[], "吴窑海棠花苑18栋"),
            ("320682011".into(), Abbreviation, None)
        );
        assert_eq!(resolve(&[], "如皋市丁堰振兴家园").1, Abbreviation);
        assert_eq!(resolve(&[], "海棠花苑吴窑路").0, "unknown");
    }

    #[test]
    fn a_community_named_like_a_former_town_name_stays_a_community() {
        // 城南社区 is in 如城街道; 城南 alone is the high-tech zone's former name.
        let (town, _, community) = resolve(&[name_hint("如城")], "城南社区");
        assert_eq!(town, "320682001");
        assert_eq!(community.as_deref(), Some("城南社区"));
    }

    fn name_hint(s: &str) -> TownHint {
        TownHint::Name(s.to_owned())
    }
}
