//! Canonical types of yujing (预警).
//!
//! Every upstream record, whatever feed it came from, is normalized onto one [`Clue`]: the canonical event that
//! the rest of the engine correlates, counts and warns on. A record that cannot be normalized becomes a
//! [`DeadLetter`] instead, naming where it came from and why it was rejected.
//!
//! # Layout
//! - [`FeedId`]: the six upstream feeds.
//! - [`Clue`]: one normalized upstream record version, with its [`Party`]s, [`Address`], [`TownRef`],
//!   [`DisputeType`], [`RequestKind`], [`RiskFlag`]s and the [`RawPointer`] back to the exact bytes received.
//! - [`SourceLocation`]: where a record sat in the input (file, line, record index).
//! - [`DeadLetter`] and [`RejectKind`]: a rejected record and the reason.
//! - [`Warning`] (with its [`WarningEvidence`] and [`DisputeSubject`]) and [`CorrelationEvent`]: what correlation
//!   decides.
//! - [`WorkOrderEvent`]: one step of a work order ([`OrderChange`], by an [`Actor`] in a [`Role`]), the audit
//!   trail from warning to closure.
//!
//! All types serialize to JSON with `serde`; their JSON Schemas are generated with `schemars` and kept in the
//! repository's `schemas/` folder, where a test checks that the committed schemas match these types.
//!
//! Personal data never appears in clear in these types: names, phones and ID numbers are masked for display,
//! and matching uses keyed hashes ([`PartyKey`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod workorder;
pub use workorder::{
    Actor, Card, Deadline, DisputeSubject, EscalationTarget, OrderChange, OrderStatus, ReopenCause, Role,
    Satisfaction, WorkOrderEvent,
};

/// The six upstream feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedId {
    /// 12345 government service hotline work orders (JSON Lines, pinyin keys).
    Hotline12345,
    /// Grid service-management platform events (JSON Lines, epoch milliseconds).
    Grid,
    /// 110 call-dispatch dispute calls (GBK CSV).
    Police,
    /// Dispute screening ledgers (UTF-8 CSV with BOM).
    Screening,
    /// Provincial people's-mediation platform cases (XML).
    Justice,
    /// Government data-sharing exchange envelopes (JSON Lines, mapped per resource).
    Exchange,
}

impl FeedId {
    /// All feeds, in a fixed order.
    pub const ALL: [FeedId; 6] = [
        FeedId::Hotline12345,
        FeedId::Grid,
        FeedId::Police,
        FeedId::Screening,
        FeedId::Justice,
        FeedId::Exchange,
    ];

    /// The feed's identifier as used in file names, topics and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedId::Hotline12345 => "hotline12345",
            FeedId::Grid => "grid",
            FeedId::Police => "police",
            FeedId::Screening => "screening",
            FeedId::Justice => "justice",
            FeedId::Exchange => "exchange",
        }
    }
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown feed name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feed '{0}' (expected one of hotline12345, grid, police, screening, justice, exchange)")]
pub struct UnknownFeed(pub String);

impl FromStr for FeedId {
    type Err = UnknownFeed;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FeedId::ALL
            .into_iter()
            .find(|feed| feed.as_str() == s)
            .ok_or_else(|| UnknownFeed(s.to_owned()))
    }
}

/// The canonical dispute types of the people's-mediation statistics (人民调解统计), onto which every feed's own
/// category is mapped. Serialized as the Chinese name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DisputeType {
    /// 婚姻家庭
    #[serde(rename = "婚姻家庭")]
    MarriageFamily,
    /// 邻里
    #[serde(rename = "邻里")]
    Neighbour,
    /// 房屋宅基地
    #[serde(rename = "房屋宅基地")]
    HousingHomestead,
    /// 合同
    #[serde(rename = "合同")]
    Contract,
    /// 生产经营
    #[serde(rename = "生产经营")]
    Business,
    /// 损害赔偿
    #[serde(rename = "损害赔偿")]
    DamageCompensation,
    /// 山林土地
    #[serde(rename = "山林土地")]
    ForestLand,
    /// 征地拆迁
    #[serde(rename = "征地拆迁")]
    LandExpropriation,
    /// 环境污染
    #[serde(rename = "环境污染")]
    Pollution,
    /// 劳动争议
    #[serde(rename = "劳动争议")]
    Labour,
    /// 消费
    #[serde(rename = "消费")]
    Consumer,
    /// 医疗
    #[serde(rename = "医疗")]
    Medical,
    /// 道路交通事故
    #[serde(rename = "道路交通事故")]
    TrafficAccident,
    /// 物业
    #[serde(rename = "物业")]
    Property,
    /// 村务管理
    #[serde(rename = "村务管理")]
    VillageAffairs,
    /// 其他
    #[serde(rename = "其他")]
    Other,
}

impl DisputeType {
    /// All sixteen types, in the order of the statistics list.
    pub const ALL: [DisputeType; 16] = [
        DisputeType::MarriageFamily,
        DisputeType::Neighbour,
        DisputeType::HousingHomestead,
        DisputeType::Contract,
        DisputeType::Business,
        DisputeType::DamageCompensation,
        DisputeType::ForestLand,
        DisputeType::LandExpropriation,
        DisputeType::Pollution,
        DisputeType::Labour,
        DisputeType::Consumer,
        DisputeType::Medical,
        DisputeType::TrafficAccident,
        DisputeType::Property,
        DisputeType::VillageAffairs,
        DisputeType::Other,
    ];

    /// The Chinese canonical name, e.g. `物业`.
    pub fn name(self) -> &'static str {
        match self {
            DisputeType::MarriageFamily => "婚姻家庭",
            DisputeType::Neighbour => "邻里",
            DisputeType::HousingHomestead => "房屋宅基地",
            DisputeType::Contract => "合同",
            DisputeType::Business => "生产经营",
            DisputeType::DamageCompensation => "损害赔偿",
            DisputeType::ForestLand => "山林土地",
            DisputeType::LandExpropriation => "征地拆迁",
            DisputeType::Pollution => "环境污染",
            DisputeType::Labour => "劳动争议",
            DisputeType::Consumer => "消费",
            DisputeType::Medical => "医疗",
            DisputeType::TrafficAccident => "道路交通事故",
            DisputeType::Property => "物业",
            DisputeType::VillageAffairs => "村务管理",
            DisputeType::Other => "其他",
        }
    }

    /// The type whose canonical name is exactly `name`.
    pub fn from_name(name: &str) -> Option<DisputeType> {
        DisputeType::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for DisputeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the person reporting asked for, or how the record came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// 咨询
    Consultation,
    /// 求助
    HelpRequest,
    /// 投诉
    Complaint,
    /// 建议
    Suggestion,
    /// 举报
    Report,
    /// A grid member's patrol or station report.
    GridReport,
    /// A 110 call.
    PoliceCall,
    /// A row of a screening ledger.
    Screening,
    /// A mediation case, applied for by a party (申请).
    MediationApplication,
    /// A mediation case the committee took up itself (主动).
    MediationInitiative,
    /// A mediation case handed over (移交) or entrusted (委托) by another body.
    MediationReferral,
    /// A petition (信访).
    Petition,
    /// 其他, or a kind the feed does not state.
    Other,
}

impl RequestKind {
    /// The snake_case name used in JSON and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Consultation => "consultation",
            RequestKind::HelpRequest => "help_request",
            RequestKind::Complaint => "complaint",
            RequestKind::Suggestion => "suggestion",
            RequestKind::Report => "report",
            RequestKind::GridReport => "grid_report",
            RequestKind::PoliceCall => "police_call",
            RequestKind::Screening => "screening",
            RequestKind::MediationApplication => "mediation_application",
            RequestKind::MediationInitiative => "mediation_initiative",
            RequestKind::MediationReferral => "mediation_referral",
            RequestKind::Petition => "petition",
            RequestKind::Other => "other",
        }
    }
}

/// Risk signs found in a record's fields or text.
///
/// The severe ones ([`RiskFlag::is_severe`]) can raise a red warning early; the others are evidence only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskFlag {
    /// A fight or beating (打架, 殴打, 动手).
    Violence,
    /// A weapon was carried or used (持刀, 凶器).
    Weapon,
    /// Someone was hurt (受伤, 流血).
    Injury,
    /// A threat to kill (扬言杀, 弄死, 同归于尽).
    ThreatToKill,
    /// A threat of revenge (报复).
    Revenge,
    /// A threat or act of self-harm (自杀, 跳楼, 喝农药).
    SelfHarm,
    /// Another threat (扬言, 威胁, 恐吓).
    Threat,
    /// Shoving or pulling (推搡, 拉扯).
    Shoving,
    /// A crowd gathering or collective action (聚集, 集体, 围堵).
    Gathering,
    /// A threat to petition higher up (上访, 讨说法).
    Petition,
    /// A repeat petition (重复信访).
    RepeatPetition,
    /// Property was damaged (砸).
    PropertyDamage,
    /// A mediation attempt failed (调解不成功).
    MediationFailed,
    /// The screener assessed the risk as high (风险等级 高).
    AssessedHighRisk,
}

impl RiskFlag {
    /// Whether the flag alone is a severe sign (weapon, injury, threat to kill, revenge or self-harm).
    pub fn is_severe(self) -> bool {
        matches!(
            self,
            RiskFlag::Weapon
                | RiskFlag::Injury
                | RiskFlag::ThreatToKill
                | RiskFlag::Revenge
                | RiskFlag::SelfHarm
        )
    }
}

/// Where a record sat in the input it arrived in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceLocation {
    /// The file (or push) name the record came from.
    pub file: String,
    /// The 1-based line the record starts on, for line-oriented formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The 0-based index of the record within its file, envelope or push.
    pub record_index: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{} (record {})", self.file, line, self.record_index),
            None => write!(f, "{} (record {})", self.file, self.record_index),
        }
    }
}

/// A pointer from a clue back to the exact bytes received, in the raw log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RawPointer {
    /// The raw topic, `raw.<feed>`.
    pub topic: String,
    /// The offset of the raw record in that topic.
    pub offset: u64,
    /// Where the record sat in its input.
    pub location: SourceLocation,
}

/// A town code (9 digits, e.g. `320682001`), or `unknown` when no field or text resolved it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct TownCode(pub String);

impl TownCode {
    /// The code of a record whose town could not be resolved.
    pub const UNKNOWN: &'static str = "unknown";

    /// The unknown town.
    pub fn unknown() -> TownCode {
        TownCode(TownCode::UNKNOWN.to_owned())
    }

    /// Whether the town is unknown.
    pub fn is_unknown(&self) -> bool {
        self.0 == TownCode::UNKNOWN
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a clue's town was resolved: which evidence decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TownEvidence {
    /// The feed's town field named the town in full.
    FullName,
    /// The feed's town field used the short name (如城, 磨头).
    Abbreviation,
    /// The feed's town field used an alias or former name (城北街道).
    FormerName,
    /// The police station in charge (如城派出所).
    PoliceStation,
    /// The grid code's town digits.
    GridCode,
    /// The screening ledger id's town digits (`PC-320682001-…`).
    LedgerId,
    /// A mediation committee code's town digits (`320682001RT`).
    CommitteeCode,
    /// A town, former name or community named in the address or text.
    AddressText,
    /// Nothing resolved the town.
    Unresolved,
}

/// The administrative place of a clue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TownRef {
    /// The 9-digit town code, or `unknown`.
    pub town_code: TownCode,
    /// The town's full name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town_name: Option<String>,
    /// What decided the town.
    pub town_evidence: TownEvidence,
    /// The 12-digit community (village) code, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_code: Option<String>,
    /// The community (village) name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_name: Option<String>,
    /// The 15-digit grid code, when the feed gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_code: Option<String>,
}

/// An address as given, and its normalized parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    /// The address text as the feed gave it, with any phone or ID number redacted.
    pub text: String,
    /// The estate (小区) or compound named, without its suffix words (`锦绣华庭`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estate: Option<String>,
    /// The village group (村民小组), as `<community><n>组` (`邓高社区6组`) or `<n>组`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub village_group: Option<String>,
    /// The building number (`5` for 5幢, 5栋, 5号楼).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// The road named (`海阳南路`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub road: Option<String>,
    /// A compact key for matching: town code, community, estate or group, building, joined by `/`.
    pub normalized: String,
    /// The places the address, title and description mention (estates, roads, villages, schools, companies,
    /// landmarks), normalized: phases and the word 小区 dropped (`佳园星城`, `劳动东路`). Found by shape, not
    /// from a list, so places no gazetteer knows still tie reports together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<String>,
}

/// A point in WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeoPoint {
    /// Longitude, degrees east.
    pub lng: f64,
    /// Latitude, degrees north.
    pub lat: f64,
}

/// The role a party plays in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// The caller or person who reported (来电人, 报警人).
    Reporter,
    /// The applicant of a mediation (申请人).
    Applicant,
    /// The respondent of a mediation or complaint (被申请人, the property company).
    Respondent,
    /// A party without a stated side (当事人).
    Party,
    /// The complainant (投诉人).
    Complainant,
    /// The petitioner (信访人).
    Petitioner,
    /// The employer complained about.
    Employer,
}

/// Whether a party is a person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// A natural person: the name is personal data and is masked.
    Person,
    /// A company or body: its name is shown as given.
    Organisation,
}

/// What a party key was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyKeyKind {
    /// The normalized phone number.
    Phone,
    /// The normalized 18-character ID number.
    IdNumber,
    /// The normalized full name (a weak key: namesakes share it).
    Name,
    /// A platform account id or openid (a message board's user, a mini-program's caller): stable for one
    /// reporter, though one reporter may report several problems.
    Account,
}

/// A keyed hash (HMAC-SHA256, 64 letters `a`–`p`, four bits each) identifying a party without revealing them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PartyKey {
    /// What the key was computed from.
    pub kind: PartyKeyKind,
    /// The HMAC-SHA256 of the normalized value, four bits per letter `a`–`p` (no digits, so a key can never
    /// look like a phone or ID number).
    pub hash: String,
}

/// A party to a dispute, masked for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Party {
    /// The party's role in the record.
    pub role: PartyRole,
    /// Person or organisation.
    pub kind: PartyKind,
    /// The masked name (`赵**`), an organisation's name as given, or absent when anonymous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_masked: Option<String>,
    /// The masked phone (`139****1208`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_masked: Option<String>,
    /// The masked ID number (`320682********4415`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_masked: Option<String>,
    /// Keyed hashes for matching, sorted.
    pub keys: Vec<PartyKey>,
    /// Keyed per-character tokens of a full personal name, for fuzzy matching without the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_tokens: Option<NameTokens>,
}

/// A personal name as keyed tokens, one per character, so that names can be compared for similarity (a variant
/// character, a homophone) without ever being stored in clear.
///
/// Each token is a truncated HMAC (8 letters `a`–`p`). The first token is the surname's, which the masked name
/// already shows; the others reveal nothing without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NameTokens {
    /// One token per character of the name, in order.
    pub chars: Vec<String>,
    /// One token per character's toneless pinyin syllable, in order, so homophones (玮/伟) compare equal.
    pub sounds: Vec<String>,
}

/// The number of people involved, exact or as a band (`50-100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PeopleCount {
    /// The lower bound (the exact count when `max == min`).
    pub min: u32,
    /// The upper bound; absent for an open band (`100以上`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// One normalized upstream record version: the canonical event of yujing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Clue {
    /// The clue's identity, `<feed>:<source id>`; all versions of one record share it.
    pub clue_id: String,
    /// The feed it came from.
    pub feed: FeedId,
    /// The upstream record's id (工单编号, eventId, 接警单编号, 台账编号, CaseNo, or the exchange record id).
    pub source_id: String,
    /// 1 for the first content received of this record, one more for each changed re-delivery.
    pub version: u32,
    /// When the dispute was reported to the upstream system (call, patrol report, screening, acceptance), UTC.
    pub occurred_at: DateTime<Utc>,
    /// When the upstream system produced this version (update or push time), UTC.
    pub reported_at: DateTime<Utc>,
    /// Town, community and grid.
    pub town: TownRef,
    /// The address text and its normalized parts.
    pub address: Address,
    /// The position, when the feed gave a real one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    /// The canonical dispute type.
    pub dispute_type: DisputeType,
    /// The feed's own category, as given (`物业管理`, `JF-03 物业纠纷`).
    pub source_category: String,
    /// Whether no category table maps `source_category`, so `dispute_type` was inferred from the word and the
    /// text (`yujing vocab` lists such words for an operator to map).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub category_inferred: bool,
    /// Whether that inferred type is only a guess from the text (the word itself shares nothing with a mapped
    /// word): correlation then never takes a different type as a conflict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub category_guessed: bool,
    /// What was asked for, or how the record came in.
    pub request_kind: RequestKind,
    /// The upstream status of this version (`已派单`, `调解中`), when the feed has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_status: Option<String>,
    /// The parties, masked, with keyed hashes.
    pub parties: Vec<Party>,
    /// How many people are involved, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_involved: Option<PeopleCount>,
    /// Risk signs from the fields and the text, sorted.
    pub risk_flags: BTreeSet<RiskFlag>,
    /// A short title, when the feed has one, redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The description with phone and ID numbers redacted and party names masked.
    pub description: String,
    /// Where the exact bytes received are kept.
    pub raw: RawPointer,
}

/// Why a record was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// The record is cut short (an unterminated JSON line, a CSV row with too few fields).
    Truncated,
    /// The bytes are not valid in the feed's encoding.
    InvalidEncoding,
    /// The record is not well-formed in the feed's format (JSON, CSV, XML).
    Malformed,
    /// The source id is missing or empty.
    MissingId,
    /// A required field is missing or empty.
    MissingField,
    /// A date or time is impossible or unreadable.
    InvalidDate,
    /// The feed's category maps to no canonical dispute type.
    UnknownCategory,
    /// A field has a value of the wrong form.
    InvalidValue,
    /// An exchange envelope's resource has no mapping in the configuration.
    UnmappedResource,
    /// The record, one of its fields or its nesting exceeds a limit (the reason names it).
    TooLarge,
    /// yujing failed on the record (a bug, caught): the reason says where.
    Internal,
}

impl RejectKind {
    /// Every kind.
    pub const ALL: [RejectKind; 11] = [
        RejectKind::Truncated,
        RejectKind::InvalidEncoding,
        RejectKind::Malformed,
        RejectKind::MissingId,
        RejectKind::MissingField,
        RejectKind::InvalidDate,
        RejectKind::UnknownCategory,
        RejectKind::InvalidValue,
        RejectKind::UnmappedResource,
        RejectKind::TooLarge,
        RejectKind::Internal,
    ];

    /// The snake_case name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Truncated => "truncated",
            RejectKind::InvalidEncoding => "invalid_encoding",
            RejectKind::Malformed => "malformed",
            RejectKind::MissingId => "missing_id",
            RejectKind::MissingField => "missing_field",
            RejectKind::InvalidDate => "invalid_date",
            RejectKind::UnknownCategory => "unknown_category",
            RejectKind::InvalidValue => "invalid_value",
            RejectKind::UnmappedResource => "unmapped_resource",
            RejectKind::TooLarge => "too_large",
            RejectKind::Internal => "internal",
        }
    }
}

/// A record that could not be normalized, kept aside with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// The feed it came from.
    pub feed: FeedId,
    /// Where it sat in its input.
    pub location: SourceLocation,
    /// The source id, when it could be read (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The kind of problem.
    pub kind: RejectKind,
    /// A sentence saying what is wrong, never quoting personal data in clear.
    pub reason: String,
    /// Where the exact bytes received are kept, when they were logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawPointer>,
    /// When yujing rejected it.
    pub rejected_at: DateTime<Utc>,
}

/// The level of a warning: orange (橙色预警) or red (红色预警). Red is the higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WarningLevel {
    /// 橙色预警: a dispute keeps recurring.
    Orange,
    /// 红色预警: a dispute recurs often, or recurs with signs of violence, self-harm or a large crowd.
    Red,
}

impl WarningLevel {
    /// `orange` or `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningLevel::Orange => "orange",
            WarningLevel::Red => "red",
        }
    }
}

impl fmt::Display for WarningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One clue counted towards a warning, as evidence an operator can check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WarningEvidence {
    /// The clue's id, `<feed>:<source id>`.
    pub clue_id: String,
    /// The feed it came from.
    pub feed: FeedId,
    /// The upstream record's id.
    pub source_id: String,
    /// When the dispute was reported (event time).
    pub occurred_at: DateTime<Utc>,
    /// The features that matched it to the cluster (`phone`, `estate`, `description`…), empty for the first.
    pub matched: Vec<String>,
    /// The match score it joined with (0 for the clue that opened the cluster).
    pub score: f64,
    /// The clue's risk signs.
    pub risk_flags: BTreeSet<RiskFlag>,
    /// How many people the clue said were involved, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_involved: Option<PeopleCount>,
}

/// A warning: a cluster of clues crossed a rule's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// A deterministic id (from the cluster, the level and the episode), so downstream systems can drop repeats.
    pub warning_id: String,
    /// The cluster (dispute) warned about.
    pub cluster_id: String,
    /// Orange or red.
    pub level: WarningLevel,
    /// The name of the rule that fired.
    pub rule: String,
    /// The event time at which the threshold was crossed: the time of the clue that completed it.
    pub raised_at: DateTime<Utc>,
    /// Distinct upstream records counted in the rule's window.
    pub occurrences: u32,
    /// The rule's window, in days.
    pub window_days: u32,
    /// The distinct feeds among them.
    pub feeds: Vec<FeedId>,
    /// The distinct reporters among them (by keyed party hash; anonymous reports count as one each).
    pub reporters: u32,
    /// The cluster's episode (1 for the first run of reports; a new one starts after a quiet period).
    pub episode: u32,
    /// Risk signs across the counted clues.
    pub risk_flags: BTreeSet<RiskFlag>,
    /// The town, dispute type and place most reported among the counted clues: what routing looks at.
    pub subject: DisputeSubject,
    /// The counted clues, in event-time order.
    pub evidence: Vec<WarningEvidence>,
    /// Where the counted clues that gave a point were, on average (absent when none gave one): the command
    /// centre's map draws the warning here; without it, the map counts it under its town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

/// What correlation decided about a clue, written to the `links` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CorrelationEvent {
    /// A clue joined a cluster (or opened a new one).
    Linked {
        /// The clue.
        clue_id: String,
        /// The cluster it joined.
        cluster_id: String,
        /// Whether the clue opened the cluster.
        new_cluster: bool,
        /// The best match score (0 for a new cluster).
        score: f64,
        /// The features that matched.
        matched: Vec<String>,
        /// The clue's event time.
        occurred_at: DateTime<Utc>,
    },
    /// A clue matched two clusters, which are now one: `merged` joins `cluster_id`.
    Merged {
        /// The cluster that remains (the older one).
        cluster_id: String,
        /// The cluster absorbed into it.
        merged: String,
        /// The clue that bridged them.
        by_clue_id: String,
    },
}

/// The JSON Schemas of the canonical events, by file name in `schemas/`.
pub fn json_schemas() -> Result<Vec<(&'static str, serde_json::Value)>, serde_json::Error> {
    Ok(vec![
        (
            "clue.schema.json",
            serde_json::to_value(schemars::schema_for!(Clue))?,
        ),
        (
            "deadletter.schema.json",
            serde_json::to_value(schemars::schema_for!(DeadLetter))?,
        ),
        (
            "warning.schema.json",
            serde_json::to_value(schemars::schema_for!(Warning))?,
        ),
        (
            "link.schema.json",
            serde_json::to_value(schemars::schema_for!(CorrelationEvent))?,
        ),
        (
            "workorder-event.schema.json",
            serde_json::to_value(schemars::schema_for!(WorkOrderEvent))?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_ids_round_trip_through_their_names() {
        for feed in FeedId::ALL {
            assert_eq!(feed.as_str().parse::<FeedId>(), Ok(feed));
            let json = serde_json::to_string(&feed).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, format!("\"{}\"", feed.as_str()));
        }
        assert!("hotline".parse::<FeedId>().is_err());
    }

    #[test]
    fn dispute_types_serialize_as_their_chinese_names() {
        assert_eq!(DisputeType::ALL.len(), 16);
        for t in DisputeType::ALL {
            assert_eq!(DisputeType::from_name(t.name()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap_or_else(|e| panic!("{e}")),
                format!("\"{}\"", t.name())
            );
        }
    }

    #[test]
    fn only_the_severe_flags_are_severe() {
        assert!(RiskFlag::Weapon.is_severe());
        assert!(!RiskFlag::Shoving.is_severe());
        assert!(!RiskFlag::Gathering.is_severe());
    }
}
