//! Words the generator writes with: names, estates, roads, issues and their paraphrases, risk phrases, and the
//! feeds' own category words.

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use yujing_model::{DisputeType, FeedId};

/// Common surnames of the county.
pub const SURNAMES: &[&str] = &[
    "张", "王", "李", "赵", "陈", "刘", "杨", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何",
    "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁", "邓", "许",
    "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "丁", "魏", "薛", "叶", "余", "潘", "杜", "戴", "夏",
    "钟", "汪", "田", "任", "姜", "范", "方", "石", "姚", "陆", "顾", "缪", "冒", "季", "严", "钱", "秦",
    "施", "储",
];

/// Given-name characters.
pub const GIVEN_MALE: &[&str] = &[
    "建", "国", "军", "伟", "强", "明", "华", "林", "平", "东", "海", "峰", "勇", "斌", "刚", "俊", "杰",
    "波", "辉", "磊", "涛", "鹏", "宏", "志", "文", "祥", "根", "长", "福", "忠", "德", "荣", "新", "春",
    "庆",
];

/// Given-name characters.
pub const GIVEN_FEMALE: &[&str] = &[
    "秀", "英", "兰", "芳", "红", "梅", "丽", "静", "敏", "燕", "霞", "玲", "萍", "娟", "琴", "云", "凤",
    "美", "玉", "珍", "华", "桂", "菊", "莉", "艳", "婷", "慧", "月", "春", "海",
];

/// Characters and a homophone spelling people (and clerks) use for them.
const HOMOPHONES: &[(&str, &str)] = &[
    ("伟", "玮"),
    ("华", "桦"),
    ("明", "铭"),
    ("军", "君"),
    ("英", "瑛"),
    ("兰", "岚"),
    ("红", "虹"),
    ("芳", "方"),
    ("静", "靖"),
    ("丽", "莉"),
    ("平", "萍"),
    ("建", "健"),
    ("林", "琳"),
    ("峰", "锋"),
    ("斌", "彬"),
    ("杰", "洁"),
    ("波", "博"),
    ("涛", "滔"),
    ("志", "智"),
    ("祥", "翔"),
    ("庆", "青"),
    ("玲", "琳"),
    ("娟", "鹃"),
    ("云", "芸"),
    ("凤", "风"),
    ("玉", "钰"),
    ("燕", "艳"),
    ("春", "纯"),
];

/// A homophone spelling of a character, when there is a common one.
pub fn homophone(c: &str) -> Option<&'static str> {
    HOMOPHONES.iter().find(|(a, _)| *a == c).map(|(_, b)| *b)
}

/// Clans of a community: a few surnames shared by many neighbours.
pub fn clan_surnames(community_code: &str) -> &'static [&'static str] {
    let h = community_code
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let start = (h as usize) % (SURNAMES.len() - 3);
    &SURNAMES[start..start + 3]
}

const ESTATE_HEADS: &[&str] = &[
    "锦绣", "阳光", "富康", "金色", "翠竹", "紫薇", "东方", "丽景", "江南", "幸福", "长安", "水绘", "雉水",
    "城南", "龙游", "福寿", "百合", "玉兰", "春江", "碧水", "中央", "御景", "凤凰", "文峰", "状元", "花园",
    "银河", "和平", "建设", "育才", "振兴", "康乐", "明珠", "天成", "新城", "滨河", "润泽", "华府", "海棠",
    "桂香",
];

/// (estate suffix, a homophone spelling of it).
const ESTATE_TAILS: &[(&str, &str)] = &[
    ("华庭", "华廷"),
    ("花苑", "花园"),
    ("家园", "佳园"),
    ("新村", "新邨"),
    ("名苑", "明苑"),
    ("佳苑", "家苑"),
    ("雅居", "雅苑"),
    // No common misspelling of 名都 that a clerk would still write as an estate name.
    ("名都", "名都"),
];

/// `n` distinct estate names (at most as many as the name parts allow).
pub fn estate_names(rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
    let n = n.min(ESTATE_HEADS.len() * ESTATE_TAILS.len());
    let mut names = std::collections::BTreeSet::new();
    while names.len() < n {
        let head = ESTATE_HEADS.choose(rng).copied().unwrap_or("锦绣");
        let tail = ESTATE_TAILS.choose(rng).map(|t| t.0).unwrap_or("华庭");
        names.insert(format!("{head}{tail}"));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    // Shuffle deterministically so estate 0 of each town differs.
    for i in (1..names.len()).rev() {
        let j = rng.random_range(0..=i);
        names.swap(i, j);
    }
    names
}

/// An estate written with its homophone suffix (锦绣华庭 → 锦绣华廷), when it has one.
pub fn estate_homophone(estate: &str) -> Option<String> {
    ESTATE_TAILS
        .iter()
        .find(|(tail, _)| estate.ends_with(tail))
        .map(|(tail, variant)| format!("{}{variant}", &estate[..estate.len() - tail.len()]))
}

/// Roads.
pub const ROADS: &[&str] = &[
    "海阳南路",
    "海阳北路",
    "中山路",
    "解放路",
    "益寿路",
    "福寿路",
    "宁海路",
    "城北街",
    "深圳路",
    "万寿路",
    "惠政路",
    "文峰路",
    "大司马路",
    "兴源大道",
    "迎春路",
    "镇中路",
    "纬二路",
    "工业路",
    "建设路",
    "人民路",
];

/// Organisation names: `如皋市<two characters><trade>`.
pub fn org_name(rng: &mut ChaCha8Rng, trade: &str) -> String {
    const HEADS: &[&str] = &[
        "安居", "恒信", "锦程", "华宇", "金盾", "祥和", "永安", "鑫源", "宏达", "嘉禾", "万家", "盛世",
        "天诚", "联创", "合力", "新华", "富民", "长江", "亚太", "中兴", "瑞丰", "东升", "广源", "银都",
    ];
    let head = HEADS.choose(rng).copied().unwrap_or("安居");
    format!("如皋市{head}{trade}")
}

/// The property company of an estate: fixed per estate.
pub fn estate_company(town: usize, estate: &str) -> String {
    const HEADS: &[&str] = &[
        "安居", "恒信", "华宇", "祥和", "永安", "万家", "嘉禾", "天诚", "瑞丰", "银都",
    ];
    let h = estate.bytes().fold(town as u32 ^ 0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("如皋市{}物业服务有限公司", HEADS[(h as usize) % HEADS.len()])
}

/// One issue a dispute is about, in several wordings.
#[derive(Debug)]
pub struct Issue {
    /// Ways people put it.
    pub phrasings: &'static [&'static str],
}

macro_rules! issues {
    ($($p:expr),* $(,)?) => {
        &[$(Issue { phrasings: $p }),*]
    };
}

const PROPERTY: &[Issue] = issues![
    &[
        "电梯坏了一直没修",
        "电梯故障长期未修",
        "电梯停运无人维修",
        "电梯经常困人物业不管"
    ],
    &["物业乱收停车费", "停车费上涨业主不满", "物业擅自上调停车费"],
    &["楼顶漏水物业不管", "房屋漏水多次报修未果", "屋顶渗水无人维修"],
    &["绿化带被占用种菜", "公共绿地被侵占", "小区绿化被毁物业不管"],
    &["垃圾清运不及时", "垃圾堆放发臭无人清理", "生活垃圾长期堆积"],
    &["门禁损坏外人随意进出", "门禁系统坏了没人修", "小区大门道闸损坏"],
    &["物业费上涨业主不满", "物业乱收费", "物业服务差还涨价"],
    &["监控坏了车辆被划", "小区监控长期损坏", "电动车被盗监控不能用"],
    &["地下室积水严重", "地下车库积水", "车库排水不畅"],
    &["外墙瓷砖脱落", "外墙皮掉落危险", "楼体外墙开裂"],
];

const NEIGHBOUR: &[Issue] = issues![
    &["公共通道堆放杂物", "楼道堆放杂物影响通行", "通道被杂物堵塞"],
    &["楼上装修噪音扰民", "深夜噪音影响休息", "邻居家噪音大"],
    &["楼上漏水到楼下", "卫生间漏水殃及邻居", "邻居家渗水到我家"],
    &["排水沟被堵", "下水道堵塞互相推诿", "屋后排水不畅"],
    &["树木遮挡采光", "邻居种树越界", "树枝伸到院内"],
    &["养狗扰民", "邻居家狗乱叫", "狗咬伤邻居家鸡"],
    &["违章搭建挡路", "邻居私自搭棚", "占用公共场地搭建"],
];

const FAMILY: &[Issue] = issues![
    &["离婚财产分割", "夫妻财产分割争议", "离婚后房产归属"],
    &["子女抚养问题", "孩子抚养费不给", "抚养权争议"],
    &["老人赡养问题", "子女不赡养老人", "兄弟间赡养分担不均"],
    &["彩礼返还纠纷", "退婚要求返还彩礼", "彩礼钱不退"],
    &["夫妻经常吵架", "夫妻感情不和长期争吵", "婆媳关系紧张"],
];

const LABOUR: &[Issue] = issues![
    &["老板拖欠工资", "拖欠三个月工资", "工资一直不发"],
    &["工伤赔偿不到位", "工伤后老板不管", "工伤医疗费不报"],
    &["社保一直未缴", "公司不交社保", "社保断缴"],
    &["违法辞退不给补偿", "被无故辞退", "解除合同不给经济补偿"],
    &["加班费不给", "长期加班没有加班费", "加班工资被克扣"],
];

const LAND: &[Issue] = issues![
    &["承包地界线争议", "承包地边界不清", "地界被移动"],
    &["土地流转费未付", "流转费拖欠", "土地租金不给"],
    &["承包地被占用", "责任田被他人耕种", "自家地被占"],
    &["灌溉用水争执", "放水灌溉起争执", "水渠被堵影响灌溉"],
];

const HOUSING: &[Issue] = issues![
    &["宅基地界址争议", "宅基地边界不清", "宅基地被占"],
    &["翻建房屋占地", "建房越界", "新房挡住老屋"],
    &["房屋买卖纠纷", "卖房后反悔", "房款未付清"],
    &["老宅继承分割", "祖屋分配不均", "兄弟争房"],
];

const DAMAGE: &[Issue] = issues![
    &["车辆剐蹭赔偿", "电动车被撞赔偿", "停车被撞对方不赔"],
    &["装修损坏赔偿", "施工损坏邻居房屋", "装修砸坏管道"],
    &["宠物伤人赔偿", "被狗咬伤医药费", "狗咬人不赔"],
];

const CONTRACT: &[Issue] = issues![
    &["借款到期不还", "借钱不还", "欠款一直拖着"],
    &["工程款拖欠", "装修款不结", "包工头欠款"],
    &["货款拖欠", "供货后不付款", "货款结算争议"],
];

const POLLUTION: &[Issue] = issues![
    &["工厂排放异味", "厂里气味刺鼻", "夜间偷排废气"],
    &["养殖场污水横流", "猪场臭味扰民", "养殖污水排入河道"],
    &["工厂噪声扰民", "机器噪音日夜不停", "夜间施工噪声"],
];

const CONSUMER: &[Issue] = issues![
    &["预付卡退费难", "健身卡不给退", "充值卡商家跑路"],
    &["商品质量问题不退换", "买到假货", "家电质量差商家不管"],
];

const OTHER: &[Issue] = issues![
    &["村里分红不公", "分红分配不公平"],
    &["集资款不退", "集资款一直不还"],
    &["公共设施损坏无人管", "路灯坏了没人修"],
];

/// The issues of a dispute type.
pub fn issues_of(t: DisputeType) -> &'static [Issue] {
    match t {
        DisputeType::Property => PROPERTY,
        DisputeType::Neighbour => NEIGHBOUR,
        DisputeType::MarriageFamily => FAMILY,
        DisputeType::Labour => LABOUR,
        DisputeType::ForestLand => LAND,
        DisputeType::HousingHomestead => HOUSING,
        DisputeType::DamageCompensation => DAMAGE,
        DisputeType::Contract => CONTRACT,
        DisputeType::Pollution => POLLUTION,
        DisputeType::Consumer => CONSUMER,
        _ => OTHER,
    }
}

/// A dispute type, weighted like a county's caseload.
pub fn pick_type(rng: &mut ChaCha8Rng) -> DisputeType {
    const WEIGHTED: &[(DisputeType, u32)] = &[
        (DisputeType::Property, 26),
        (DisputeType::Neighbour, 20),
        (DisputeType::MarriageFamily, 12),
        (DisputeType::Labour, 12),
        (DisputeType::ForestLand, 7),
        (DisputeType::HousingHomestead, 7),
        (DisputeType::DamageCompensation, 6),
        (DisputeType::Contract, 5),
        (DisputeType::Pollution, 3),
        (DisputeType::Consumer, 2),
    ];
    let total: u32 = WEIGHTED.iter().map(|w| w.1).sum();
    let mut roll = rng.random_range(0..total);
    for (t, w) in WEIGHTED {
        if roll < *w {
            return *t;
        }
        roll -= w;
    }
    DisputeType::Other
}

/// How many distinct reports a dispute gets: mostly one or two, a tail that recurs past the thresholds.
pub fn report_count(rng: &mut ChaCha8Rng) -> usize {
    let roll: f64 = rng.random();
    match roll {
        r if r < 0.40 => 1,
        r if r < 0.60 => 2,
        r if r < 0.72 => 3,
        r if r < 0.81 => 4,
        r if r < 0.87 => 5,
        r if r < 0.91 => 6,
        r if r < 0.94 => 7,
        _ => rng.random_range(8..=12),
    }
}

/// The feed a report comes through, by dispute type.
pub fn pick_feed(rng: &mut ChaCha8Rng, t: DisputeType) -> FeedId {
    let weights: [u32; 6] = match t {
        // hotline, grid, police, screening, justice, exchange
        DisputeType::Property => [35, 20, 10, 15, 5, 15],
        DisputeType::Labour => [35, 10, 5, 15, 10, 25],
        _ => [40, 20, 15, 15, 5, 5],
    };
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (feed, w) in FeedId::ALL.iter().zip(weights) {
        if roll < w {
            return *feed;
        }
        roll -= w;
    }
    FeedId::Hotline12345
}

/// Severe signs, each certain to be flagged (weapon, injury, threat to kill, revenge, self-harm).
pub const SEVERE: &[&str] = &[
    "对方扬言要同归于尽",
    "一方持刀威胁",
    "争执中有人受伤",
    "当事人扬言要跳楼",
    "扬言要报复对方",
];

/// Lesser signs: flags and evidence, never a red alone.
pub const LESSER: &[&str] = &["双方发生推搡", "部分群众聚集", "扬言要去上访", "双方发生口角"];

/// Words that say nothing about which dispute it is.
pub const FILLERS: &[&str] = &[
    "多次反映无果",
    "问题一直没有解决",
    "双方各执一词",
    "情绪比较激动",
    "已经持续一段时间",
    "协商未果",
    "反映人称已找过社区",
];

/// What the reporter asks for.
pub const REQUESTS: &[&str] = &[
    "要求尽快处理。",
    "希望有关部门协调解决。",
    "请求调解。",
    "要求给个说法。",
    "希望尽快解决。",
];

/// Category labels clerks and platforms also use, drawn from government complaint taxonomies, that the built-in
/// category tables do not list: a report labelled with one must still count (its type is inferred).
const LABEL_VARIANTS: &[(DisputeType, &[&str])] = &[
    (
        DisputeType::Property,
        &["小区管理", "物业收费", "业委会", "住宅小区", "物业维修"],
    ),
    (
        DisputeType::Neighbour,
        &["邻里矛盾", "相邻关系", "邻里噪声", "楼上漏水"],
    ),
    (
        DisputeType::MarriageFamily,
        &["家庭矛盾", "婚姻纠葛", "赡养抚养", "家事"],
    ),
    (
        DisputeType::Labour,
        &["劳动关系", "工资报酬", "农民工工资", "用工纠纷", "劳务报酬"],
    ),
    (
        DisputeType::ForestLand,
        &["土地流转", "农村土地", "承包经营权", "耕地占用"],
    ),
    (
        DisputeType::HousingHomestead,
        &["宅基地使用", "农村建房", "房屋产权", "违法建设"],
    ),
    (
        DisputeType::DamageCompensation,
        &["人身伤害", "财产损害", "侵权赔偿"],
    ),
    (
        DisputeType::Contract,
        &["民间借贷", "合同履行", "债务清偿", "经济往来"],
    ),
    (
        DisputeType::Pollution,
        &["大气污染", "水污染", "生态环境", "油烟扰民"],
    ),
    (
        DisputeType::Consumer,
        &["消费投诉", "商品质量", "服务质量", "价格收费"],
    ),
    (
        DisputeType::LandExpropriation,
        &["征收补偿", "拆迁补偿", "房屋征收"],
    ),
    (DisputeType::Medical, &["医患关系", "医疗服务"]),
    (DisputeType::TrafficAccident, &["交通安全", "道路事故"]),
    (DisputeType::VillageAffairs, &["村级事务", "村务公开", "集体经济"]),
    (DisputeType::Business, &["经营管理", "商户经营"]),
];

/// The label a feed writes for a type this time: usually its own word, sometimes (one in five) a label of the
/// wider vocabulary that no table maps.
pub fn category_label(rng: &mut ChaCha8Rng, feed: FeedId, t: DisputeType) -> String {
    if feed != FeedId::Grid && rng.random_bool(0.2) {
        if let Some(words) = LABEL_VARIANTS.iter().find(|(x, _)| *x == t).map(|(_, w)| *w) {
            if let Some(word) = words.choose(rng) {
                return (*word).to_owned();
            }
        }
    }
    category_word(feed, t)
}

/// Each feed's own word for a dispute type (as the feeds' category tables expect).
pub fn category_word(feed: FeedId, t: DisputeType) -> String {
    match feed {
        FeedId::Hotline12345 => match t {
            DisputeType::Property => "物业管理",
            DisputeType::Neighbour => "邻里关系",
            DisputeType::MarriageFamily => "婚姻",
            DisputeType::Labour => "劳资欠薪",
            DisputeType::ForestLand => "土地承包",
            DisputeType::HousingHomestead => "宅基地",
            DisputeType::DamageCompensation => "损害",
            DisputeType::Contract => "借贷",
            DisputeType::Pollution => "环境",
            DisputeType::Consumer => "消费者权益",
            other => other.name(),
        }
        .to_owned(),
        FeedId::Grid => grid_code(t).0.to_owned(),
        FeedId::Police => match t {
            DisputeType::MarriageFamily => "家庭纠纷".to_owned(),
            DisputeType::Labour => "劳资纠纷".to_owned(),
            DisputeType::ForestLand => "土地纠纷".to_owned(),
            DisputeType::HousingHomestead => "宅基地纠纷".to_owned(),
            DisputeType::Contract => "经济纠纷".to_owned(),
            DisputeType::Consumer => "消费纠纷".to_owned(),
            other => format!("{}纠纷", other.name()),
        },
        FeedId::Screening => match t {
            DisputeType::Property => "物业管理纠纷".to_owned(),
            other => format!("{}纠纷", other.name()),
        },
        FeedId::Justice => t.name().to_owned(),
        FeedId::Exchange => match t {
            DisputeType::ForestLand => "土地承包",
            DisputeType::Property => "物业管理",
            DisputeType::Labour => "劳资",
            DisputeType::HousingHomestead => "宅基地",
            DisputeType::Neighbour => "邻里关系",
            DisputeType::MarriageFamily => "婚姻",
            DisputeType::Pollution => "环境",
            DisputeType::Contract => "借贷",
            DisputeType::DamageCompensation => "损害",
            DisputeType::Consumer => "消费者权益",
            other => other.name(),
        }
        .to_owned(),
    }
}

/// The grid platform's event code and name for a type; types it has no code for are `JF-09 其他纠纷`.
pub fn grid_code(t: DisputeType) -> (&'static str, &'static str) {
    match t {
        DisputeType::MarriageFamily => ("JF-01", "婚姻家庭纠纷"),
        DisputeType::Neighbour => ("JF-02", "邻里纠纷"),
        DisputeType::Property => ("JF-03", "物业纠纷"),
        DisputeType::ForestLand => ("JF-04", "山林土地纠纷"),
        DisputeType::Labour => ("JF-05", "劳资纠纷"),
        DisputeType::LandExpropriation => ("JF-06", "征地拆迁纠纷"),
        DisputeType::HousingHomestead => ("JF-07", "房屋宅基地纠纷"),
        DisputeType::Pollution => ("JF-08", "环境污染纠纷"),
        _ => ("JF-09", "其他纠纷"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every issue's wordings share a topic of the built-in lexicon: otherwise two reports of one dispute,
    /// worded differently, would look like two subjects. (The lexicon is configuration; this keeps the
    /// simulator's vocabulary and the shipped lexicon in step.)
    #[test]
    fn the_default_topic_lexicon_covers_every_issue_in_all_its_wordings() {
        let config: toml::Table =
            toml::from_str(include_str!("../../../config/yujing.toml")).expect("yujing.toml parses");
        let topics = config["correlate"]["topics"]
            .as_table()
            .expect("[correlate.topics]");
        let lexicon: Vec<(String, Vec<String>)> = topics
            .iter()
            .map(|(t, words)| {
                let words = words
                    .as_array()
                    .expect("a list of words")
                    .iter()
                    .filter_map(|w| w.as_str().map(str::to_owned))
                    .collect();
                (t.clone(), words)
            })
            .collect();
        let lexicon = yujing_correlate::TopicLexicon::new(&lexicon);
        let mut gaps = Vec::new();
        for t in DisputeType::ALL {
            for issue in issues_of(t) {
                let sets: Vec<Vec<u32>> = issue.phrasings.iter().map(|p| lexicon.topics_in(p)).collect();
                let shared = sets[0].iter().any(|topic| sets.iter().all(|s| s.contains(topic)));
                if !shared {
                    gaps.push(format!("{t}: {:?} -> {sets:?}", issue.phrasings));
                }
            }
        }
        assert!(
            gaps.is_empty(),
            "issues whose wordings share no topic:\n{}",
            gaps.join("\n")
        );
    }
}
