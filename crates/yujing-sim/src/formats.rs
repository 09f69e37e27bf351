//! Writers of the six upstream formats: each report becomes a record of its feed, in files named and encoded
//! the way the feed exports them, with re-deliveries, non-dispute records and malformed records mixed in.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, TimeZone, Utc};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use yujing_model::{DisputeType, FeedId};

use crate::generate::{beijing, Report};
use crate::vocab;

const POLICE_HEADER: &str = "接警单编号,报警时间,报警人,联系电话,警情类别,警情细类,发案地址,简要案情,管辖单位,出动警力,是否现场调解,处警结果";
const SCREENING_HEADER: &str =
    "台账编号,排查日期,镇（区、街道）,村（社区）,纠纷类别,当事人,联系电话,涉及人数,纠纷简要情况,风险等级,化解情况,排查人";

/// One output file being built: its lines, and lines appended at the end (re-deliveries).
#[derive(Debug, Default)]
struct FileBuf {
    lines: Vec<String>,
    tail: Vec<String>,
}

/// An exchange record waiting for its envelope.
#[derive(Debug)]
struct ExchangeRecord {
    resource: &'static str,
    day: chrono::NaiveDate,
    record: serde_json::Value,
}

/// What the writers produced: the files by name, the noise records (feed, id) and the re-deliveries.
pub(crate) type Finished = (BTreeMap<String, Vec<u8>>, Vec<(FeedId, String)>, usize);

/// The writers of all six feeds.
#[derive(Debug, Default)]
pub(crate) struct Writers {
    files: BTreeMap<String, FileBuf>,
    serial: BTreeMap<String, u64>,
    justice: BTreeMap<String, Vec<String>>,
    exchange: Vec<ExchangeRecord>,
    noise: Vec<(FeedId, String)>,
    redeliveries: usize,
}

fn local(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    t.with_timezone(&beijing())
}

fn midnight_utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    let day = local(t).date_naive();
    beijing()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn week_name(t: DateTime<FixedOffset>) -> String {
    let w = local(t).iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes)
        .unwrap_or_default()
        .trim_end_matches('\n')
        .to_owned()
}

/// A deterministic position for an estate, near the county seat.
fn estate_position(estate: &str, town_code: &str) -> (f64, f64) {
    let h = format!("{town_code}{estate}")
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    let dx = f64::from(h % 2000) / 10_000.0 - 0.1;
    let dy = f64::from((h / 2000) % 2000) / 10_000.0 - 0.1;
    (120.57 + dx, 32.39 + dy)
}

impl Writers {
    fn next(&mut self, key: &str) -> u64 {
        let n = self.serial.entry(key.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    fn file(&mut self, name: String) -> &mut FileBuf {
        self.files.entry(name).or_default()
    }

    /// Write one report; returns its source id (as the clue will carry it) and its event time as parsed.
    pub fn write(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        match r.feed {
            FeedId::Hotline12345 => self.hotline(rng, r),
            FeedId::Grid => self.grid(rng, r),
            FeedId::Police => self.police(rng, r),
            FeedId::Screening => self.screening(rng, r),
            FeedId::Justice => self.justice(rng, r),
            FeedId::Exchange => self.exchange(rng, r),
        }
    }

    fn hotline(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let day = t.format("%Y%m%d").to_string();
        let id = format!("RG{day}{:05}", self.next(&format!("hotline{day}")));
        let at = t.format("%Y-%m-%d %H:%M:%S").to_string();
        let kind = ["投诉", "求助", "投诉", "举报"]
            .choose(rng)
            .copied()
            .unwrap_or("投诉");
        let town = if rng.random_bool(0.7) {
            &r.town_name
        } else {
            &r.town_short
        };
        let category = vocab::category_label(rng, FeedId::Hotline12345, r.dispute_type);
        // One in ten comes through the web or the app: an account id instead of a name and a number.
        let (caller, number) = match r.reporter_phone.as_deref().filter(|_| rng.random_bool(0.1)) {
            Some(phone) => (account_of(phone), String::new()),
            None => (
                r.reporter_name.clone().unwrap_or_else(|| "匿名".to_owned()),
                r.reporter_phone.clone().unwrap_or_default(),
            ),
        };
        // One in ten estate reports names the place only in the text, as a landmark, with no address.
        let (content, address, town) = match r.estate.as_deref().filter(|_| rng.random_bool(0.1)) {
            Some(estate) => {
                let landmark = ["附近", "门口", "对面", "旁边"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("附近");
                let town = if rng.random_bool(0.5) { town.as_str() } else { "" };
                (
                    format!("{estate}{landmark}，{}", r.description),
                    String::new(),
                    town,
                )
            }
            None => (r.description.clone(), r.address.clone(), town.as_str()),
        };
        let mut record = json!({
            "gdbh": id, "ldsj": at, "gxsj": at,
            "ldrxm": caller,
            "ldhm": number,
            "sqlx": kind, "sqlb": category,
            "sqnr": content, "sjdz": address, "ssjd": town, "blzt": "待派单"
        });
        let name = format!("hotline12345-{}.jsonl", t.format("%Y-%m"));
        if rng.random_bool(0.0025) {
            // A line cut short in transfer.
            let line = record.to_string();
            let cut: String = line.chars().take(line.chars().count() / 2).collect();
            let bad_id = format!("RG{day}{:05}", self.next(&format!("hotline{day}")));
            self.file(name.clone()).lines.push(cut.replace(&id, &bad_id));
            self.noise.push((FeedId::Hotline12345, bad_id));
        }
        self.file(name.clone()).lines.push(record.to_string());
        if rng.random_bool(0.08) {
            // Re-delivered after dispatch: same work order, new status and update time.
            let later = t + Duration::hours(rng.random_range(1..30));
            record["gxsj"] = json!(later.format("%Y-%m-%d %H:%M:%S").to_string());
            record["blzt"] = json!("已派单");
            self.file(name).tail.push(record.to_string());
            self.redeliveries += 1;
        }
        (id, r.at.with_timezone(&Utc))
    }

    fn grid(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let day = t.format("%Y%m%d").to_string();
        let id = format!("WG{day}{:06}", self.next(&format!("grid{day}")));
        let millis = r.at.timestamp_millis();
        let grid_no = rng.random_range(1..=6);
        let (code, code_name) = vocab::grid_code(r.dispute_type);
        let (lng, lat) = match &r.estate {
            Some(estate) if rng.random_bool(0.8) => {
                let (x, y) = estate_position(estate.trim_end_matches(['廷', '园', '邨', '苑']), &r.town_code);
                (
                    x + rng.random_range(-0.0008..0.0008),
                    y + rng.random_range(-0.0008..0.0008),
                )
            }
            _ => (0.0, 0.0),
        };
        let mut parties: Vec<serde_json::Value> = Vec::new();
        for (name, phone, _) in &r.parties {
            if rng.random_bool(0.8) {
                let phone = if rng.random_bool(0.6) {
                    phone.clone()
                } else {
                    String::new()
                };
                parties.push(json!({"name": name, "phone": phone}));
            }
        }
        if let Some(counter) = &r.counter_person {
            parties.push(json!({"name": counter, "phone": ""}));
        }
        let mut record = json!({
            "eventId": id, "reportTime": millis, "updateTime": millis,
            "gridCode": format!("{}{grid_no:03}", r.community_code),
            "gridName": format!("{}第{grid_no}网格", r.community_name),
            "reporter": {"name": "网格员", "memberId": format!("WGY{:04}", rng.random_range(1..3000))},
            "eventType": code, "eventTypeName": code_name, "title": r.title, "description": r.description,
            "address": r.address, "lng": lng, "lat": lat,
            "partiesCount": r.people.unwrap_or(parties.len() as u32), "parties": parties, "status": "上报"
        });
        let name = format!("grid-{}.jsonl", t.format("%Y-%m"));
        if rng.random_bool(0.03) {
            // A city-appearance event: decoded, kept in raw, not a dispute.
            let other = format!("WG{day}{:06}", self.next(&format!("grid{day}")));
            let noise = json!({
                "eventId": other, "reportTime": millis, "updateTime": millis,
                "gridCode": format!("{}{grid_no:03}", r.community_code), "gridName": "网格",
                "reporter": {"name": "网格员", "memberId": "WGY0001"}, "eventType": "SR-02",
                "eventTypeName": "市容环境", "title": "垃圾桶满溢", "description": "垃圾桶满溢，已通知保洁。",
                "address": r.address, "lng": 0, "lat": 0, "partiesCount": 0, "parties": [], "status": "办结"
            });
            self.file(name.clone()).lines.push(noise.to_string());
            self.noise.push((FeedId::Grid, other));
        }
        self.file(name.clone()).lines.push(record.to_string());
        if rng.random_bool(0.04) {
            record["updateTime"] = json!(millis + rng.random_range(3_600_000..86_400_000));
            record["status"] = json!("处置中");
            self.file(name).tail.push(record.to_string());
            self.redeliveries += 1;
        }
        (id, r.at.with_timezone(&Utc))
    }

    fn police(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let day = t.format("%Y%m%d").to_string();
        let id = format!("J320682{day}{:05}", self.next(&format!("police{day}")));
        let at = format!("{}/{}/{} {}", t.year(), t.month(), t.day(), t.format("%H:%M:%S"));
        let name = format!("police-{}.csv", t.format("%Y-%m"));
        let category = vocab::category_label(rng, FeedId::Police, r.dispute_type);
        let row = |id: &str, at: &str| {
            csv_line(&[
                id.to_owned(),
                at.to_owned(),
                r.reporter_name.clone().unwrap_or_else(|| "匿名".to_owned()),
                r.reporter_phone.clone().unwrap_or_default(),
                "纠纷".to_owned(),
                category.clone(),
                r.address.clone(),
                r.description.clone(),
                r.police_station.clone(),
                "2".to_owned(),
                "是".to_owned(),
                "经现场调解双方暂时平息。".to_owned(),
            ])
        };
        if rng.random_bool(0.0025) {
            let bad = format!("J320682{day}{:05}", self.next(&format!("police{day}")));
            let line = row(&bad, &format!("{}/2/30 10:00:00", t.year()));
            self.file(name.clone()).lines.push(line);
            self.noise.push((FeedId::Police, bad));
        }
        let line = row(&id, &at);
        self.file(name).lines.push(line);
        (id, r.at.with_timezone(&Utc))
    }

    fn screening(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let day = t.format("%Y%m%d").to_string();
        let n = self.next(&format!("screening{}{day}", r.town_code));
        let id = format!("PC-{}-{day}-{n:03}", r.town_code);
        let date = if rng.random_bool(0.8) {
            t.format("%Y-%m-%d").to_string()
        } else {
            format!("{}年{}月{}日", t.year(), t.month(), t.day())
        };
        let mut names: Vec<String> = r.parties.iter().map(|p| p.0.clone()).collect();
        if let Some(c) = &r.counter_person {
            names.push(c.clone());
        }
        let phones: Vec<String> = r
            .parties
            .iter()
            .filter(|_| rng.random_bool(0.7))
            .map(|p| p.1.clone())
            .collect();
        let risk = if r.severe {
            "高"
        } else {
            ["低", "中", "低"].choose(rng).copied().unwrap_or("低")
        };
        // Ledgers are compiled weekly and sent the week after: the file is named after the week it arrives.
        let name = format!("screening-{}.csv", week_name(r.at + Duration::days(7)));
        let category = vocab::category_label(rng, FeedId::Screening, r.dispute_type);
        let row = |id: &str| {
            csv_line(&[
                id.to_owned(),
                date.clone(),
                if rng_free_pick(&r.town_code) {
                    r.town_name.clone()
                } else {
                    r.town_short.clone()
                },
                r.community_name.clone(),
                category.clone(),
                names.join("、"),
                phones.join("/"),
                r.people.unwrap_or(names.len() as u32).to_string(),
                r.description.clone(),
                risk.to_owned(),
                "化解中".to_owned(),
                "排查员".to_owned(),
            ])
        };
        if rng.random_bool(0.003) {
            let line = row("");
            self.file(name.clone()).lines.push(line);
            self.noise.push((FeedId::Screening, String::new()));
        }
        let line = row(&id);
        self.file(name).lines.push(line);
        (id, midnight_utc(r.at))
    }

    fn justice(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let n = self.next(&format!("justice{}", t.year()));
        let id = format!("苏通皋调〔{}〕{n:04}号", t.year());
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut parties = String::new();
        for (i, (name, phone, id_number)) in r.parties.iter().enumerate() {
            let name = if i == 0 {
                r.reporter_name.clone().unwrap_or_else(|| name.clone())
            } else {
                name.clone()
            };
            let id_tag = if rng.random_bool(0.5) {
                format!("<IdNumber>{id_number}</IdNumber>")
            } else {
                String::new()
            };
            parties.push_str(&format!(
                "      <Party role=\"申请人\" kind=\"个人\"><Name>{}</Name>{id_tag}<Phone>{phone}</Phone></Party>\n",
                esc(&name)
            ));
        }
        if let Some(org) = &r.counter_org {
            parties.push_str(&format!(
                "      <Party role=\"被申请人\" kind=\"单位\"><Name>{}</Name></Party>\n",
                esc(org)
            ));
        } else if let Some(p) = &r.counter_person {
            parties.push_str(&format!(
                "      <Party role=\"被申请人\" kind=\"个人\"><Name>{}</Name></Party>\n",
                esc(p)
            ));
        }
        let source = ["申请", "主动", "移交"].choose(rng).copied().unwrap_or("申请");
        let case = format!(
            "  <MediationCase>\n    <CaseNo>{id}</CaseNo>\n    <AcceptDate>{}</AcceptDate>\n    <Source>{source}</Source>\n    <DisputeType>{}</DisputeType>\n    <Committee code=\"{}RT\">{}人民调解委员会</Committee>\n    <Town>{}</Town>\n    <Address>{}</Address>\n    <Parties>\n{parties}    </Parties>\n    <Summary>{}</Summary>\n    <Status>调解中</Status>\n  </MediationCase>\n",
            t.format("%Y-%m-%d"),
            r.dispute_type.name(),
            r.town_code,
            esc(&r.town_name),
            esc(&r.town_name),
            esc(&r.address),
            esc(&r.description),
        );
        // The platform pushes weekly.
        self.justice.entry(week_name(r.at)).or_default().push(case);
        (id, midnight_utc(r.at))
    }

    fn exchange(&mut self, rng: &mut ChaCha8Rng, r: &Report) -> (String, DateTime<Utc>) {
        let t = local(r.at);
        let day = t.format("%Y%m%d").to_string();
        let (resource, id, record, at) = match r.dispute_type {
            DisputeType::Property => {
                let id = format!("ZJTS{day}{:05}", self.next(&format!("zj{day}")));
                let record = json!({
                    "tsbh": id, "tssj": t.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "tsr": r.reporter_name.clone().unwrap_or_else(|| "匿名".to_owned()),
                    "tsrdh": r.reporter_phone.clone().unwrap_or_default(),
                    "xqmc": r.estate.clone().unwrap_or_default(),
                    "xqdz": format!("如皋市{}", r.town_name),
                    "wyqy": r.counter_org.clone().unwrap_or_default(), "tsnr": r.description
                });
                ("ZJ-002", id, record, r.at.with_timezone(&Utc))
            }
            DisputeType::Labour => {
                let id = format!("RSJC{}-{:05}", t.year(), self.next(&format!("rs{}", t.year())));
                let record = json!({
                    "ajbh": id, "slrq": t.format("%Y-%m-%d").to_string(),
                    "tsrxm": r.reporter_name.clone().unwrap_or_else(|| "匿名".to_owned()),
                    "tsrsfzh": r.reporter_id.clone().unwrap_or_default(),
                    "dwmc": r.counter_org.clone().unwrap_or_default(),
                    "dwdz": r.address, "qxje": rng.random_range(5..200) * 1000,
                    "sjrs": r.people.unwrap_or(1), "tsqk": r.description
                });
                ("RS-003", id, record, midnight_utc(r.at))
            }
            _ => {
                let id = format!("XF320682{day}{:05}", self.next(&format!("xf{day}")));
                let record = json!({
                    "xfjbh": id, "djrq": day,
                    "xfrxm": r.reporter_name.clone().unwrap_or_else(|| "匿名".to_owned()),
                    "sfzh": r.reporter_id.clone().unwrap_or_default(),
                    "lxdh": r.reporter_phone.clone().unwrap_or_default(),
                    "xfxs": "来访", "wtsd": r.address, "zysq": r.description,
                    "wtfl": vocab::category_label(rng, FeedId::Exchange, r.dispute_type),
                    "rs": r.people.unwrap_or(1), "sfjf": "0"
                });
                ("XF-001", id, record, midnight_utc(r.at))
            }
        };
        if rng.random_bool(0.03) {
            // The exchange pushes the same record again in a later envelope.
            self.exchange.push(ExchangeRecord {
                resource,
                day: t.date_naive() + Duration::days(rng.random_range(1..4)),
                record: record.clone(),
            });
            self.redeliveries += 1;
        }
        self.exchange.push(ExchangeRecord {
            resource,
            day: t.date_naive(),
            record,
        });
        (format!("{resource}/{id}"), at)
    }

    /// The files, the noise records and the number of re-deliveries.
    pub fn finish(mut self) -> Finished {
        let mut out = BTreeMap::new();
        for (name, buf) in std::mem::take(&mut self.files) {
            let mut text = String::new();
            if name.starts_with("police") {
                text.push_str(POLICE_HEADER);
                text.push_str("\r\n");
            } else if name.starts_with("screening") {
                text.push('\u{feff}');
                text.push_str(SCREENING_HEADER);
                text.push_str("\r\n");
            }
            let csv = name.ends_with(".csv");
            for line in buf.lines.iter().chain(&buf.tail) {
                text.push_str(line);
                text.push_str(if csv { "\r\n" } else { "\n" });
            }
            let bytes = if name.starts_with("police") {
                encoding_rs::GBK.encode(&text).0.into_owned()
            } else {
                text.into_bytes()
            };
            out.insert(name, bytes);
        }
        for (week, cases) in std::mem::take(&mut self.justice) {
            let mut xml =
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediationCases pushTime=\"{week}\">\n");
            for case in cases {
                xml.push_str(&case);
            }
            xml.push_str("</MediationCases>\n");
            out.insert(format!("justice-{week}.xml"), xml.into_bytes());
        }
        // Envelopes: one per resource and day, in files per month.
        let mut envelopes: BTreeMap<(chrono::NaiveDate, &'static str), Vec<serde_json::Value>> =
            BTreeMap::new();
        for r in std::mem::take(&mut self.exchange) {
            envelopes.entry((r.day, r.resource)).or_default().push(r.record);
        }
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for (n, ((day, resource), records)) in envelopes.into_iter().enumerate() {
            let (name, dept) = match resource {
                "ZJ-002" => ("物业投诉", "如皋市住房和城乡建设局"),
                "RS-003" => ("劳动保障监察投诉", "如皋市人力资源和社会保障局"),
                _ => ("信访事项", "如皋市信访局"),
            };
            let envelope = json!({
                "msgId": format!("EX-{}-{n:06}", day.format("%Y%m%d")),
                "resourceCode": resource, "resourceName": name, "sourceDept": dept,
                "pushTime": format!("{}T02:00:00+08:00", (day + Duration::days(1)).format("%Y-%m-%d")),
                "records": records
            });
            let file = files
                .entry(format!("exchange-{}.jsonl", day.format("%Y-%m")))
                .or_default();
            file.push_str(&envelope.to_string());
            file.push('\n');
        }
        for (name, text) in files {
            out.insert(name, text.into_bytes());
        }
        (out, self.noise, self.redeliveries)
    }
}

/// Whether a ledger writes the town's full name (most do) or its short name: fixed per town, like a habit.
/// The account id a caller's web or app channel gives: stable for one person, written without the digits of
/// their phone.
fn account_of(phone: &str) -> String {
    let letters: String = phone
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| char::from(b'a' + (d - b'0')))
        .collect();
    format!("wx_{letters}")
}

fn rng_free_pick(town_code: &str) -> bool {
    !town_code.ends_with('3') && !town_code.ends_with('7')
}
