//! Warnings as CAP 1.2 alerts (OASIS Common Alerting Protocol, the format China's national early-warning
//! release system builds on): `GET /api/v1/warnings/{id}` with `Accept: application/cap+xml`, and webhooks with
//! `format = "cap"`.
//!
//! How a warning maps: the warning id is the `identifier` (stable across replays, so a receiver drops
//! repeats), the dispute's cluster is the `incidents` (alerts about the same dispute group together), the
//! level gives `urgency` and `severity` (red: Immediate and Severe; orange: Expected and Moderate), the reports
//! are `Observed`, and the `scope` is `Restricted` to the governance system: the alerts are internal. The area
//! is the town and place, with the town's division code as a `geocode` and, when the reports gave points,
//! a `circle` around their average. Only what the API serves goes in: subject, counts, feeds and times, never a
//! report's text or a party.

use crate::config::CapConfig;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use yujing_model::{Warning, WarningLevel};

/// The media type of a CAP alert.
pub const MEDIA_TYPE: &str = "application/cap+xml";

/// The CAP 1.2 namespace.
pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// CAP's date-time: seconds and a numeric offset, in China Standard Time.
fn cap_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&yujing_feeds::time::shanghai())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Whether a request's `Accept` header asks for CAP.
pub fn wanted(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().map(str::trim) == Some(MEDIA_TYPE))
}

/// `warning` as a CAP 1.2 alert from `sender`.
pub fn alert(warning: &Warning, sender: &CapConfig) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = write_alert(&mut writer, warning, sender);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

fn write_alert(writer: &mut Writer<Vec<u8>>, warning: &Warning, sender: &CapConfig) -> std::io::Result<()> {
    let subject = &warning.subject;
    let town = subject.town_name.clone().unwrap_or_else(|| "未定镇街".to_owned());
    let place = subject.place.clone().unwrap_or_default();
    let kind = subject.dispute_type.name();
    let (level_zh, urgency, severity) = match warning.level {
        WarningLevel::Orange => ("橙色", "Expected", "Moderate"),
        WarningLevel::Red => ("红色", "Immediate", "Severe"),
    };
    let headline = format!(
        "{level_zh}预警：{town}{}{kind}纠纷，{} 天内 {} 次",
        if place.is_empty() {
            String::new()
        } else {
            format!(" {place} ")
        },
        warning.window_days,
        warning.occurrences
    );
    let feeds: Vec<&str> = warning.feeds.iter().map(|f| f.as_str()).collect();
    let first = warning.evidence.first().map(|e| cap_time(e.occurred_at));
    let last = warning.evidence.last().map(|e| cap_time(e.occurred_at));
    let description = format!(
        "同一纠纷在 {} 天内被反映 {} 次（{} 个来源渠道：{}；{} 名反映人），首次 {}，最近 {}。触发规则：{}。",
        warning.window_days,
        warning.occurrences,
        feeds.len(),
        feeds.join("、"),
        warning.reporters,
        first.as_deref().unwrap_or("-"),
        last.as_deref().unwrap_or("-"),
        warning.rule
    );
    let text = |writer: &mut Writer<Vec<u8>>, name: &str, value: &str| -> std::io::Result<()> {
        writer
            .create_element(name)
            .write_text_content(BytesText::new(value))
            .map(|_| ())
    };
    let pair =
        |writer: &mut Writer<Vec<u8>>, element: &str, name: &str, value: &str| -> std::io::Result<()> {
            writer
                .create_element(element)
                .write_inner_content(|w| {
                    text(w, "valueName", name)?;
                    text(w, "value", value)
                })
                .map(|_| ())
        };
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("alert")
        .with_attribute(("xmlns", NAMESPACE))
        .write_inner_content(|w| {
            text(w, "identifier", &warning.warning_id)?;
            text(w, "sender", &sender.sender)?;
            text(w, "sent", &cap_time(warning.raised_at))?;
            text(w, "status", "Actual")?;
            text(w, "msgType", "Alert")?;
            text(w, "scope", "Restricted")?;
            text(w, "restriction", "仅限社会治理指挥体系内部使用")?;
            text(w, "incidents", &warning.cluster_id)?;
            w.create_element("info").write_inner_content(|w| {
                text(w, "language", "zh-CN")?;
                text(w, "category", "Safety")?;
                text(w, "event", &format!("{kind}纠纷"))?;
                text(w, "responseType", "Assess")?;
                text(w, "urgency", urgency)?;
                text(w, "severity", severity)?;
                text(w, "certainty", "Observed")?;
                pair(w, "eventCode", "yujing:level", warning.level.as_str())?;
                text(w, "effective", &cap_time(warning.raised_at))?;
                text(w, "senderName", &sender.sender_name)?;
                text(w, "headline", &headline)?;
                text(w, "description", &description)?;
                text(w, "instruction", "已生成工单，请属地镇街核查化解，指挥中心督办。")?;
                pair(w, "parameter", "occurrences", &warning.occurrences.to_string())?;
                pair(w, "parameter", "window_days", &warning.window_days.to_string())?;
                pair(w, "parameter", "reporters", &warning.reporters.to_string())?;
                pair(w, "parameter", "feeds", &feeds.join(","))?;
                pair(w, "parameter", "rule", &warning.rule)?;
                pair(w, "parameter", "episode", &warning.episode.to_string())?;
                for flag in &warning.risk_flags {
                    let name = serde_json::to_value(flag).ok();
                    pair(
                        w,
                        "parameter",
                        "risk_flag",
                        name.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
                    )?;
                }
                w.create_element("area").write_inner_content(|w| {
                    let desc = [town.as_str(), place.as_str()]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" ");
                    text(w, "areaDesc", &desc)?;
                    if let Some(point) = warning.location {
                        // A point as a circle of radius 0 km: "lat,lon radius".
                        text(w, "circle", &format!("{:.6},{:.6} 0", point.lat, point.lng))?;
                    }
                    if subject.town_code.len() == 9 && subject.town_code.chars().all(|c| c.is_ascii_digit()) {
                        pair(w, "geocode", "行政区划代码", &subject.town_code)?;
                    }
                    Ok(())
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}
