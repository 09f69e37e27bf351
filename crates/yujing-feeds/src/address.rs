//! Address normalization: the estate, village group, building and road inside a free-text address.
//!
//! Feeds write the same place as `如皋市如城街道海阳南路锦绣华庭5幢`, `锦绣华庭小区物业办公室`, `海阳南路锦绣华廷`
//! or `磨头镇邓高社区6组`. The parts that identify a dispute's place are the estate (小区) or the village group, and
//! the building; the road, the city and the town are context. Similar-looking estate names (华庭/华廷) are left for
//! the correlation stage to compare: normalization only cuts the text into parts.

use std::sync::OnceLock;

use regex::Regex;
use yujing_model::{Address, TownRef};

use crate::gazetteer::Gazetteer;

fn building_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"([0-9]{1,3}|[一二三四五六七八九十]{1,3})\s*(?:号楼|幢|栋|号楼栋)").expect("valid regex")
    })
}

fn group_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"([0-9]{1,2}|[一二三四五六七八九十]{1,3})\s*(?:组|队)").expect("valid regex")
    })
}

fn road_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\p{Han}{1,8}?(?:东路|西路|南路|北路|中路|大道|路|街|巷)(?:[0-9]{1,4}号)?")
            .expect("valid regex")
    })
}

/// Words after which an estate name ends (they are not part of it).
const ESTATE_ENDS: &[&str] = &[
    "小区",
    "物业",
    "东门",
    "西门",
    "南门",
    "北门",
    "大门",
    "门口",
    "门卫",
    "业主",
    "办公室",
    "停车场",
    "电梯",
    "楼下",
    "附近",
    "内",
    "的",
    "，",
    ",",
    "。",
    " ",
];

/// Suffixes that make a name an estate even without 小区 (`华庭`, `花苑`, `新村`).
const ESTATE_SUFFIXES: &[&str] = &[
    "华庭", "华廷", "花园", "花苑", "家园", "新村", "新邨", "公寓", "名苑", "名都", "府", "苑", "园", "城",
    "庭", "湾", "广场", "大厦", "雅居", "佳苑",
];

fn chinese_number(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.trim_start_matches('0').to_owned();
    }
    let digit = |c: char| "零一二三四五六七八九".chars().position(|d| d == c);
    let chars: Vec<char> = text.chars().collect();
    let value = match chars.as_slice() {
        ['十'] => 10,
        ['十', d] => 10 + digit(*d).unwrap_or(0),
        [t, '十'] => digit(*t).unwrap_or(0) * 10,
        [t, '十', d] => digit(*t).unwrap_or(0) * 10 + digit(*d).unwrap_or(0),
        [d] => digit(*d).unwrap_or(0),
        _ => 0,
    };
    value.to_string()
}

/// Cuts an address (already redacted) into its parts, given the resolved town.
///
/// `estate_field` is an estate name a feed gives in its own field; it wins over what the text suggests.
pub fn normalize_address(
    text: &str,
    estate_field: Option<&str>,
    town: &TownRef,
    gazetteer: &Gazetteer,
) -> Address {
    // The province, city and county are context, not place; stripped repeatedly, since clerks write the county
    // twice (`如皋市如皋市经济开发区`).
    let mut rest = gazetteer.strip_context(text.trim()).to_owned();
    // Strip the town and community names the gazetteer knows.
    if let Some(town_entry) = gazetteer.town(town.town_code.as_str()) {
        // A town named with the county in its name (`如皋市经济开发区`) is written without it once the county
        // prefix is gone.
        let without_county = gazetteer.strip_context(&town_entry.name).to_owned();
        for name in std::iter::once(&town_entry.name)
            .chain(std::iter::once(&without_county))
            .chain(town_entry.aliases.iter())
            .chain(std::iter::once(&town_entry.short))
        {
            if !name.is_empty() {
                if let Some(stripped) = rest.strip_prefix(name.as_str()) {
                    rest = stripped.to_owned();
                    break;
                }
            }
        }
    }
    let road = road_pattern().find(&rest).and_then(|m| {
        // Only a road at the start is context; "海阳南路" inside an estate name is rare enough.
        (m.start() == 0).then(|| m.as_str().to_owned())
    });
    if let Some(road) = &road {
        rest = rest[road.len()..].to_owned();
    }
    let community = town
        .community_name
        .clone()
        .filter(|c| rest.starts_with(c.as_str()));
    if let Some(c) = &community {
        rest = rest[c.len()..].to_owned();
    }
    let village_group = group_pattern().captures(&rest).map(|caps| {
        let n = chinese_number(&caps[1]);
        match &town.community_name {
            Some(c) => format!("{c}{n}组"),
            None => format!("{n}组"),
        }
    });
    let building = building_in(&rest);
    let estate = estate_field
        .map(|e| clean_estate(e.trim()))
        .filter(|e| !e.is_empty())
        .or_else(|| estate_in(&rest));
    let mut parts = vec![town.town_code.to_string()];
    if let Some(c) = &town.community_code {
        parts.push(c.clone());
    }
    if let Some(e) = &estate {
        parts.push(e.clone());
    } else if let Some(g) = &village_group {
        parts.push(g.clone());
    }
    if let Some(b) = &building {
        parts.push(format!("{b}幢"));
    }
    Address {
        text: text.to_owned(),
        estate,
        village_group,
        building,
        road,
        normalized: parts.join("/"),
        places: Vec::new(),
    }
}

/// The village group named in `text` right after the community's name (`白李社区4组` → `白李社区4组`), for
/// records whose address field names only the village.
pub(crate) fn village_group_in(text: &str, community: &str) -> Option<String> {
    let at = text.find(community)?;
    let rest = &text[at + community.len()..];
    let caps = group_pattern().captures(rest)?;
    let whole = caps.get(0)?;
    (whole.start() == 0).then(|| format!("{community}{}组", chinese_number(&caps[1])))
}

/// The building number `text` starts with (after an optional 小区): `5幢电梯…` → `5`.
pub(crate) fn building_at_start(text: &str) -> Option<String> {
    let text = text.strip_prefix("小区").unwrap_or(text);
    let caps = building_pattern().captures(text)?;
    (caps.get(0)?.start() == 0).then(|| chinese_number(&caps[1]))
}

/// The building number named in `text` (`5` for 5幢, 五号楼).
pub(crate) fn building_in(text: &str) -> Option<String> {
    building_pattern()
        .captures(text)
        .map(|caps| chinese_number(&caps[1]))
}

fn clean_estate(name: &str) -> String {
    strip_phase(name.strip_suffix("小区").unwrap_or(name)).to_owned()
}

/// An estate name without its phase (`锦绣华庭二期` → `锦绣华庭`, `凯旋名门1期` → `凯旋名门`): the phases of one
/// estate are one place to its residents and to the property company.
pub(crate) fn strip_phase(name: &str) -> &str {
    let Some(stripped) = name.strip_suffix('期') else {
        return name;
    };
    let head = stripped.trim_end_matches(|c: char| c.is_ascii_digit() || "一二三四五六七八九十".contains(c));
    if head.len() < stripped.len() && head.chars().count() >= 2 {
        head
    } else {
        name
    }
}

/// The estate name at the start of `rest`, if it looks like one.
pub(crate) fn estate_in(rest: &str) -> Option<String> {
    let mut end = rest.len();
    if let Some(m) = building_pattern().find(rest) {
        end = end.min(m.start());
    }
    if let Some(m) = group_pattern().find(rest) {
        end = end.min(m.start());
    }
    for word in ESTATE_ENDS {
        if let Some(i) = rest.find(word) {
            end = end.min(i);
        }
    }
    let candidate: String = strip_phase(&rest[..end])
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '号')
        .collect();
    let len = candidate.chars().count();
    let explicit = rest[end..].starts_with("小区");
    let looks_like_estate = ESTATE_SUFFIXES.iter().any(|s| candidate.ends_with(s));
    ((2..=10).contains(&len) && (explicit || looks_like_estate)).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gazetteer::TownHint;

    fn norm(town: &str, text: &str) -> Address {
        let g = Gazetteer::rugao();
        let town = g.resolve(&[TownHint::Name(town.into())], text, &[]);
        normalize_address(text, None, &town, &g)
    }

    #[test]
    fn finds_estate_and_building() {
        let a = norm("如城街道", "如皋市如城街道海阳南路锦绣华庭5幢");
        assert_eq!(a.estate.as_deref(), Some("锦绣华庭"));
        assert_eq!(a.building.as_deref(), Some("5"));
        assert_eq!(a.road.as_deref(), Some("海阳南路"));
        assert_eq!(a.normalized, "320682001/锦绣华庭/5幢");
        assert_eq!(
            norm("如城", "锦绣华庭小区物业办公室").estate.as_deref(),
            Some("锦绣华庭")
        );
        assert_eq!(
            norm("如城", "海阳南路锦绣华廷").estate.as_deref(),
            Some("锦绣华廷")
        );
        assert_eq!(norm("如城", "锦绣华庭东门").estate.as_deref(), Some("锦绣华庭"));
        assert_eq!(norm("如城", "锦绣华庭五号楼").building.as_deref(), Some("5"));
    }

    #[test]
    fn an_estate_and_its_phases_are_one_place() {
        let a = norm("如城街道", "如皋市如城街道海阳南路锦绣华庭二期5幢");
        assert_eq!(a.estate.as_deref(), Some("锦绣华庭"));
        assert_eq!(a.building.as_deref(), Some("5"));
        assert_eq!(
            norm("如城", "锦绣华庭3期小区").estate.as_deref(),
            Some("锦绣华庭")
        );
        assert_eq!(strip_phase("二期"), "二期");
    }

    #[test]
    fn finds_a_village_group_in_free_text_after_the_community() {
        assert_eq!(
            village_group_in("白李社区4组，邻居私自搭棚", "白李社区").as_deref(),
            Some("白李社区4组")
        );
        assert_eq!(village_group_in("白李社区的4组", "白李社区"), None);
        assert_eq!(village_group_in("邻居私自搭棚", "白李社区"), None);
    }

    #[test]
    fn the_county_written_twice_and_a_town_named_with_the_county_are_stripped() {
        let a = norm("如皋市经济开发区", "如皋市如皋市经济开发区福寿路中央花苑");
        assert_eq!(a.estate.as_deref(), Some("中央花苑"));
        assert_eq!(a.road.as_deref(), Some("福寿路"));
        let a = norm("如皋高新技术产业开发区", "如皋高新技术产业开发区工业园区建设路");
        assert_eq!(a.road.as_deref(), Some("工业园区建设路"));
    }

    #[test]
    fn finds_village_groups() {
        let a = norm("磨头镇", "磨头镇邓高社区6组");
        assert_eq!(a.village_group.as_deref(), Some("邓高社区6组"));
        assert_eq!(a.estate, None);
        assert_eq!(a.normalized, "320682014/320682014018/邓高社区6组");
        assert_eq!(
            norm("长江镇", "长江镇永平社区十二组").village_group.as_deref(),
            Some("永平社区12组")
        );
    }
}
