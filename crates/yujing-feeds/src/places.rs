//! Place mentions in free text: the estates, roads, villages, schools, companies and landmarks a report names,
//! wherever it names them.
//!
//! Real reports rarely fill an address field: the place is in the title or the text (`A2区丽发新城附近修建搅拌厂`,
//! `劳动东路魅力之城小区临街餐饮`, `省委党校后`). No list of a county's places is complete, so mentions are found
//! by shape, not looked up: the text is segmented into words with a real Chinese segmenter (jieba, with its
//! part-of-speech tags), and a mention is a run of name-like words ending in a place word (`…小区`, `…路`,
//! `…村`, `…学校`, `…公司`), a word the segmenter tags as a place name, or a run of name-like words before a
//! landmark word (`…附近`, `…旁`, `…对面`). Administrative prefixes (province, city, county, district, town)
//! are cut off, so `A7县星沙204路` and `星沙204路` mention the same thing.
//!
//! What makes a mention a *place* rather than a common phrase (`农村学校`) is learned downstream, from the
//! stream: correlation counts how many reports use each mention and trusts only the specific ones.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// Words that end a place name and belong to it, longest first where one ends another.
const PLACE_ENDINGS: &[&str] = &[
    "小区",
    "花园",
    "新城",
    "家园",
    "公寓",
    "大厦",
    "广场",
    "华庭",
    "华府",
    "名苑",
    "花苑",
    "佳苑",
    "新村",
    "社区",
    "大道",
    "路",
    "街",
    "巷",
    "桥",
    "村",
    "组",
    "苑",
    "城",
    "湾",
    "院",
    "学校",
    "小学",
    "中学",
    "大学",
    "学院",
    "幼儿园",
    "医院",
    "卫生院",
    "市场",
    "公园",
    "车站",
    "站",
    "公司",
    "厂",
    "驾校",
    "中心",
    "大楼",
    "酒店",
    "宾馆",
    "超市",
    "商场",
    "银行",
    "码头",
    "水库",
    "工地",
    "营业厅",
    "派出所",
    "物流园",
    "工业园",
    "产业园",
    "景区",
    "商城",
    "店",
    "号线",
    "农场",
    "菜场",
    "球场",
    "停车场",
    "养殖场",
    "屠宰场",
    "茶场",
    "林场",
    "渔场",
];

/// Place words that make a name of whatever words come before them: estates, villages, groups.
const ESTATE_ENDINGS: &[&str] = &[
    "小区", "花园", "新城", "家园", "公寓", "大厦", "华庭", "华府", "名苑", "花苑", "佳苑", "新村", "社区",
    "苑", "城", "湾", "庭", "村", "组",
];

/// Words after a place that mark it as a landmark (`X附近`): the words before them are the place.
const LANDMARK_WORDS: &[&str] = &[
    "附近", "旁", "旁边", "对面", "门口", "周边", "后面", "背后", "楼下", "隔壁",
];

/// Words that end an administrative unit: a prefix to cut, not a place to compare.
const ADMIN_ENDINGS: &[&str] = &["省", "市", "县", "区", "街道", "镇", "乡", "自治州", "地区"];

/// Words ending in `区` that are places, not administrative units.
const PLACE_AREAS: &[&str] = &[
    "小区",
    "社区",
    "园区",
    "景区",
    "片区",
    "城区",
    "新区",
    "校区",
    "厂区",
    "库区",
    "安置区",
];

/// Verbs and function words that are never the name before a place word (`反映…路`, `位于…村`).
const NOT_NAMES: &[&str] = &[
    "反映", "投诉", "举报", "请求", "希望", "咨询", "关于", "要求", "建议", "反对", "位于", "靠近", "居住",
    "修建", "建设", "前往", "经过", "路过", "住在", "来到", "进入", "一个", "这个", "那个", "我们", "他们",
    "整治", "解决",
];

/// A mention shorter than this (in characters) is too generic to anchor anything (`该村`, `新城`).
const MIN_CHARS: usize = 3;

/// The longest mention kept, in characters: longer runs are sentences the segmenter could not cut.
const MAX_CHARS: usize = 12;

fn coded_units() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"[A-Za-z][0-9]*(?:省|市|县|区)").expect("valid regex"))
}

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Whether a part-of-speech tag is a name-like word that can be part of a place name: nouns, place and
/// organisation names, unknown words, numerals (`204路`, `3号线`), distinguishing words.
fn name_like(tag: &str) -> bool {
    matches!(
        tag,
        "n" | "nr"
            | "nrt"
            | "nrfg"
            | "ns"
            | "nt"
            | "nz"
            | "ng"
            | "x"
            | "eng"
            | "m"
            | "j"
            | "b"
            | "an"
            | "s"
            | "l"
            | "vn"
    )
}

/// Whether a part-of-speech tag marks a name rather than a common noun: person, place and organisation names,
/// other proper nouns, words the dictionary does not know. (A number names a place only right before its
/// place word: `204路`, `8号线`.)
fn proper_name(tag: &str) -> bool {
    matches!(tag, "nr" | "nrt" | "nrfg" | "ns" | "nt" | "nz" | "x" | "eng")
}

/// Measure words a number leaves before a place word (`5公里毛路`): not part of its name.
const MEASURES: &[&str] = &["公里", "千米", "米", "里", "家", "个", "条", "座", "处", "所"];

/// Place names too wide to tell one problem's place: the country, a whole province or city.
const NOT_PLACES: &[&str] = &["中华人民共和国", "中国", "全国", "全省", "全市", "全县", "国务院"];

/// A list of word endings, tested by the word's last character first. Every word the segmenter gives is
/// asked whether it ends a place or an administrative unit, most end in none of their characters, and
/// comparing each ending in turn was most of the time spent finding mentions.
struct Endings {
    list: &'static [&'static str],
    /// The last character of each ending, sorted and distinct.
    last_chars: Vec<char>,
}

impl Endings {
    fn of(list: &'static [&'static str]) -> Endings {
        let mut last_chars: Vec<char> = list.iter().filter_map(|e| e.chars().next_back()).collect();
        last_chars.sort_unstable();
        last_chars.dedup();
        Endings { list, last_chars }
    }

    /// Whether `word` ends with one of the endings.
    fn end(&self, word: &str) -> bool {
        word.chars()
            .next_back()
            .is_some_and(|last| self.last_chars.binary_search(&last).is_ok())
            && self.list.iter().any(|e| word.ends_with(e))
    }
}

fn place_endings() -> &'static Endings {
    static ENDINGS: OnceLock<Endings> = OnceLock::new();
    ENDINGS.get_or_init(|| Endings::of(PLACE_ENDINGS))
}

fn is_admin(word: &str) -> bool {
    static AREAS: OnceLock<Endings> = OnceLock::new();
    static UNITS: OnceLock<Endings> = OnceLock::new();
    // `A7县`, `西地省`, `如皋市`, `如城街道`: a word ending in an administrative unit, unless it is a place area.
    if AREAS.get_or_init(|| Endings::of(PLACE_AREAS)).end(word) {
        return false;
    }
    UNITS.get_or_init(|| Endings::of(ADMIN_ENDINGS)).end(word) || is_code(word)
}

/// An anonymised or coded unit (`A7`, `K`): letters and digits only.
fn is_code(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric())
        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The place mentions of `text`, normalized (see [`normalize_mention`]), distinct, in order of appearance.
pub fn mentions_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // A mention is kept only when some word of it is a name (a place or person name, an organisation, a word
    // the dictionary does not know, a number): `火车站`, `人民医院` and `物业公司` are common nouns that every city
    // has, `丽发新城`, `仁爱医院` and `星沙204路` are places.
    let mut push = |words: &[(&str, bool)]| {
        let joined: String = words.iter().map(|(w, _)| *w).collect();
        // Estates and villages are named with common words (`佳园星城`, `锦绣华庭`): their words make a name
        // whatever they are. An institution or a road needs a name word: `人民医院`, `水泥路` are common nouns.
        let estate_like = ESTATE_ENDINGS.iter().any(|e| {
            joined
                .strip_suffix(e)
                .is_some_and(|head| chars(head) >= 2 && words.len() >= 2)
        });
        if !estate_like && !words.iter().any(|(_, proper)| *proper) {
            return;
        }
        // A common two-character noun that only ends in a place character (`农村`, `乡村`, `县城`) names no
        // place: its name would be one character. (A named village is a proper noun or a name and `村`.)
        if let Some((last, false)) = words.last() {
            if chars(last) == 2 && ESTATE_ENDINGS.iter().any(|e| chars(e) == 1 && last.ends_with(e)) {
                return;
            }
        }
        let name = normalize_mention(&joined);
        // A village group or an estate named with its village or road (`长龙村托塘组`): the lower unit is a place
        // of its own, as other reports write it alone.
        let tail = ["村", "社区", "路", "街"].iter().find_map(|unit| {
            let (_, after) = name.rsplit_once(unit)?;
            (chars(after) >= MIN_CHARS && place_endings().end(after)).then(|| after.to_owned())
        });
        // A building or group number alone (`5号楼`, `12组`) is part of an address, not a place of its own.
        let numbered = name
            .chars()
            .filter(|c| !c.is_ascii_digit() && !"一二三四五六七八九十百号".contains(*c))
            .count()
            <= 1;
        if !numbered
            && chars(&name) >= MIN_CHARS
            && chars(&name) <= MAX_CHARS
            && !name.contains('*')
            && !PLACE_ENDINGS.contains(&name.as_str())
            && !NOT_PLACES.contains(&name.as_str())
            && !out.contains(&name)
        {
            out.push(name);
        }
        if let Some(tail) = tail {
            if !out.contains(&tail) {
                out.push(tail);
            }
        }
    };
    // A coded unit (`A2区`, `K7县`, as anonymised data writes them) is cut before segmenting: the segmenter would
    // otherwise read its unit character as the start of the next word (`区丽发`).
    let text = coded_units().replace_all(text, "，");
    for piece in text.split(|c: char| !(c.is_alphanumeric())) {
        if piece.is_empty() {
            continue;
        }
        // The run of name-like words since the last boundary, each with whether it is a name.
        let mut run: Vec<(&str, bool)> = Vec::new();
        let mut previous: Option<&str> = None;
        for tag in jieba().tag(piece, true) {
            let word = tag.word;
            if is_admin(word) {
                run.clear();
                previous = None;
                continue;
            }
            if LANDMARK_WORDS.contains(&word) {
                push(&run);
                run.clear();
                previous = None;
                continue;
            }
            let ends_place = place_endings().end(word);
            // `之` joins the words of a name (`魅力之城`).
            let connector = word == "之" && !run.is_empty();
            if !name_like(tag.tag) && !connector && !ends_place {
                run.clear();
                // The segmenter's dictionary reads some name words as verbs (`丽发`); one such word right
                // before a place word is taken as the name.
                previous = (chars(word) >= 2
                    && word.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                    && !NOT_NAMES.contains(&word))
                .then_some(word);
                continue;
            }
            if run.is_empty() {
                if let Some(p) = previous.take() {
                    if ends_place && chars(word) <= 2 {
                        run.push((p, true));
                    }
                }
            }
            previous = None;
            // A name joined with `之` is a name, whatever its words.
            run.push((word, proper_name(tag.tag) || connector));
            // Keep the last few words: a place name is rarely more than three of them.
            if run.len() > 4 {
                run.remove(0);
            }
            if ends_place {
                // A number right before the place word names it (`204路`); numbers and measure words further
                // back (`5公里毛路`, `一家私营菜市场`) are not part of the name.
                let n = run.len();
                if n >= 2 && run[n - 2].0.chars().all(|c| c.is_ascii_digit()) {
                    run[n - 2].1 = true;
                }
                let first_name_word = run
                    .iter()
                    .position(|(w, _)| {
                        !(w.chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_digit() || "一两几每".contains(c))
                            || MEASURES.contains(w))
                    })
                    .unwrap_or(0);
                push(&run[first_name_word..]);
                run.clear();
            } else if tag.tag == "ns" && chars(word) >= 2 {
                push(&[(word, true)]);
            }
        }
    }
    out
}

/// A mention in the form compared: phases (`二期`, `3期`) and the generic `小区` dropped, so `佳园星城小区` and
/// `佳园星城二期` are one place.
pub fn normalize_mention(name: &str) -> String {
    let mut name = name.trim().to_owned();
    loop {
        let before = name.clone();
        for suffix in ["小区", "片区", "一带"] {
            if let Some(stripped) = name.strip_suffix(suffix) {
                if chars(stripped) >= 2 {
                    name = stripped.to_owned();
                }
            }
        }
        name = crate::address::strip_phase(&name).to_owned();
        if name == before {
            return name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last-character gate decides as comparing every ending does: over every ending, every ending with a
    /// character before it, words that end in a place character without ending in a place word, and others.
    #[test]
    fn endings_tested_by_their_last_character_decide_as_the_whole_list() {
        let lists: [&'static [&'static str]; 3] = [PLACE_ENDINGS, ADMIN_ENDINGS, PLACE_AREAS];
        let mut words: Vec<String> = [
            "",
            "路",
            "公路口",
            "锦绣华庭",
            "区政府",
            "城区",
            "如城街道",
            "街",
            "A7县",
            "反映",
        ]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
        for list in lists {
            for ending in list {
                words.push((*ending).to_owned());
                words.push(format!("丽发{ending}"));
                words.push(format!("{ending}门口"));
                // Its last character alone, after a name: shares the gate's character, maybe not the ending.
                let last = ending.chars().next_back().map(String::from).unwrap_or_default();
                words.push(format!("丽{last}"));
            }
        }
        let mut gated_out = 0;
        for list in lists {
            let endings = Endings::of(list);
            for word in &words {
                let whole = list.iter().any(|e| word.ends_with(e));
                assert_eq!(endings.end(word), whole, "{word:?}");
                gated_out += usize::from(!whole);
            }
        }
        assert!(gated_out > 0);
    }

    #[test]
    fn the_countryside_is_no_place() {
        assert_eq!(
            mentions_in("2018年农村合作医疗保险费逐年增加"),
            Vec::<String>::new()
        );
        assert_eq!(
            mentions_in("咨询M市2018年农村医保的收费标准"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn finds_estates_roads_and_landmarks_in_free_text() {
        let found = mentions_in("A2区丽发新城附近修建搅拌厂，噪音扰民");
        assert!(found.iter().any(|m| m == "丽发新城"), "{found:?}");
        let found = mentions_in("劳动东路魅力之城小区临街餐饮油烟扰民");
        assert!(found.iter().any(|m| m.ends_with("魅力之城")), "{found:?}");
        assert!(found.iter().any(|m| m == "劳动东路"), "{found:?}");
    }

    #[test]
    fn administrative_prefixes_are_cut_off() {
        let a = mentions_in("强烈反对A7县星沙204路公交线的调整");
        let b = mentions_in("反对星沙204路调整线路");
        assert!(a.iter().any(|m| b.contains(m)), "{a:?} / {b:?}");
        assert!(a.iter().all(|m| !m.contains('县')), "{a:?}");
    }

    #[test]
    fn phases_and_the_estate_word_do_not_make_another_place() {
        assert_eq!(normalize_mention("佳园星城小区"), "佳园星城");
        assert_eq!(normalize_mention("木水清华二期"), "木水清华");
        assert_eq!(normalize_mention("凯旋名门1期"), "凯旋名门");
        assert_eq!(normalize_mention("锦绣华庭"), "锦绣华庭");
    }

    #[test]
    fn masked_names_and_bare_place_words_are_no_mentions() {
        let found = mentions_in("赵**家门口的小区");
        assert!(found.iter().all(|m| !m.contains('*')), "{found:?}");
        assert!(!found.contains(&"小区".to_owned()));
    }
}
