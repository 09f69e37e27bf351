//! Personal data: keyed hashing for matching, masking for display, redaction of free text.
//!
//! PIPL (art. 6, 28, 51) lets the engine use names, phone numbers and ID numbers to match reports, but never to
//! show, log or export them in clear. So every value is turned, as soon as it is decoded, into
//! - a [`PartyKey`]: HMAC-SHA256 over the normalized value, keyed with a secret the operator holds; the same
//!   person gets the same key in every feed, and nobody without the secret can test a guess against it;
//! - a masked display value (`赵**`, `139****5678`, `320682********1234`);
//! - and free text is [`redact`]ed: phone and ID numbers inside it are replaced by their masked forms.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use pinyin::ToPinyin;
use regex::Regex;
use sha2::Sha256;
use yujing_model::{NameTokens, PartyKey, PartyKeyKind};

type HmacSha256 = Hmac<Sha256>;

/// The smallest secret accepted, in bytes: shorter keys make the hashes guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// The fixed secret of demo mode. Hashes made with it protect nothing; demo mode says so loudly.
pub const DEMO_SECRET: &str = "yujing-demo-secret-not-for-production";

/// A secret that is too short to key party hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the party-key secret is {len} bytes long; at least {MIN_SECRET_LEN} are required")]
pub struct WeakSecret {
    /// The length of the rejected secret.
    pub len: usize,
}

/// Computes party keys: HMAC-SHA256 over normalized phone numbers, ID numbers and names.
#[derive(Clone)]
pub struct PartyHasher {
    mac: HmacSha256,
}

impl std::fmt::Debug for PartyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("PartyHasher { .. }")
    }
}

impl PartyHasher {
    /// A hasher keyed with `secret`, which must be at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<PartyHasher, WeakSecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(WeakSecret { len: secret.len() });
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| WeakSecret { len: secret.len() })?;
        Ok(PartyHasher { mac })
    }

    fn key(&self, kind: PartyKeyKind, normalized: &str) -> PartyKey {
        let mut mac = self.mac.clone();
        // The kind is part of the message so a phone and a name can never collide.
        let domain: &[u8] = match kind {
            PartyKeyKind::Phone => b"phone\0",
            PartyKeyKind::IdNumber => b"id\0",
            PartyKeyKind::Name => b"name\0",
            PartyKeyKind::Account => b"account\0",
        };
        mac.update(domain);
        mac.update(normalized.as_bytes());
        PartyKey {
            kind,
            hash: letters_hex(&mac.finalize().into_bytes()),
        }
    }

    /// The key of a phone number, or `None` when it is not a plausible phone number.
    pub fn phone_key(&self, phone: &str) -> Option<PartyKey> {
        normalize_phone(phone).map(|p| self.key(PartyKeyKind::Phone, &p))
    }

    /// The key of an ID number, or `None` when it is not an 18-character ID number.
    pub fn id_key(&self, id: &str) -> Option<PartyKey> {
        normalize_id_number(id).map(|i| self.key(PartyKeyKind::IdNumber, &i))
    }

    /// The key of a full personal name, or `None` for anonymous or partial names (`匿名`, `赵先生`, `赵某某`).
    pub fn name_key(&self, name: &str) -> Option<PartyKey> {
        normalize_full_name(name).map(|n| self.key(PartyKeyKind::Name, &n))
    }

    /// The key of a platform account id or openid (`A00087964`, `oUpF8uMuAJO_M2pxb1Q9`), or `None` when
    /// `account` does not look like one (see [`normalize_account`]).
    pub fn account_key(&self, account: &str) -> Option<PartyKey> {
        normalize_account(account).map(|a| self.key(PartyKeyKind::Account, &a))
    }

    /// The keys of the phone and ID numbers written anywhere in `text` (a description, a raw record's bytes),
    /// found as [`redact`] finds them, sorted and without repeats. A raw unit is sealed for these people too, so
    /// that erasing a person also covers the records that named them only in free text.
    pub fn keys_in(&self, text: &str) -> Vec<PartyKey> {
        let text = fold_width(text);
        if !enough_digits(&text) {
            return Vec::new();
        }
        let mut keys: Vec<PartyKey> = Vec::new();
        // The patterns run only over the stretches that could hold a number: a raw record is mostly text,
        // punctuation and short numbers (dates, rooms), and the patterns with their capture groups are slow.
        for run in number_runs(&text) {
            keys.extend(all_groups(run, id_pattern()).filter_map(|id| self.id_key(id)));
            keys.extend(all_groups(run, phone_pattern()).filter_map(|phone| self.phone_key(phone)));
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// A 32-byte key for `purpose`, derived from the deployment's secret (HMAC-SHA256 of the purpose, the
    /// expand step of HKDF with the secret as its key). Different purposes give unrelated keys, and none of them
    /// can be told from a party key.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(b"derive\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Per-character tokens of a full personal name (see [`NameTokens`]), or `None` for anonymous or partial
    /// names. Two spellings of one name (`张伟`, `张玮`) share their surname token and their sound tokens.
    pub fn name_tokens(&self, name: &str) -> Option<NameTokens> {
        let name = normalize_full_name(name)?;
        let token = |domain: &[u8], text: &str| {
            let mut mac = self.mac.clone();
            mac.update(domain);
            mac.update(text.as_bytes());
            // 32 bits: collisions between two characters of one county's names are rare, and a short token
            // keeps a clue small. A collision only makes two names look a little more alike.
            letters_hex(&mac.finalize().into_bytes()[..4])
        };
        let mut chars = Vec::new();
        let mut sounds = Vec::new();
        let mut buf = [0u8; 4];
        for c in name.chars() {
            let text: &str = c.encode_utf8(&mut buf);
            chars.push(token(b"namechar\0", text));
            let sound = c.to_pinyin().map(|p| p.plain()).unwrap_or(text);
            sounds.push(token(b"namesound\0", sound));
        }
        Some(NameTokens { chars, sounds })
    }
}

/// Bytes as "hex" written with the letters `a`–`p` (one per four bits).
///
/// A decimal-digit hex string can hold a run of 11 or 18 digits that a PII scanner would rightly flag as a
/// phone or ID number; keys written without digits can never be mistaken for one.
pub fn letters_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(b'a' + (byte >> 4)));
        out.push(char::from(b'a' + (byte & 0x0f)));
    }
    out
}

/// The digits of a phone number: an 11-digit mobile (`+86`/`86` dropped) or a landline with area code.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let digits: String = fold_width(phone).chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.len() == 13 && digits.starts_with("86") {
        digits[2..].to_owned()
    } else {
        digits
    };
    let is_mobile = digits.len() == 11 && digits.starts_with('1');
    let is_landline = (10..=12).contains(&digits.len()) && digits.starts_with('0');
    (is_mobile || is_landline).then_some(digits)
}

/// An 18-character ID number, upper-cased, when `id` is one (spaces and hyphens between its digits, and
/// full-width digits, are allowed: `320682 19780512 6617`).
pub fn normalize_id_number(id: &str) -> Option<String> {
    let id: String = fold_width(id.trim())
        .chars()
        .filter(|c| !is_digit_separator(*c))
        .collect::<String>()
        .to_ascii_uppercase();
    // Checked on bytes: a string of 18 bytes may end inside a multi-byte character (`320682197805126号`).
    let bytes = id.as_bytes();
    let valid = bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && matches!(bytes[17], b'0'..=b'9' | b'X');
    valid.then_some(id)
}

/// Whether `c` may stand between the digits of a number written by hand: a space or a hyphen.
fn is_digit_separator(c: char) -> bool {
    matches!(c, ' ' | '-')
}

/// Full-width digits, `Ｘ`, `＋`, the full-width hyphen and the ideographic space in their ASCII forms, so that
/// `１３９６２７５１２０８` is found and masked like `13962751208`. Every other character is kept.
pub fn fold_width(text: &str) -> std::borrow::Cow<'_, str> {
    let folded = |c: char| match c {
        '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
        'Ｘ' => Some('X'),
        'ｘ' => Some('x'),
        '＋' => Some('+'),
        '－' => Some('-'),
        '\u{3000}' => Some(' '),
        _ => None,
    };
    if text.chars().any(|c| folded(c).is_some()) {
        std::borrow::Cow::Owned(text.chars().map(|c| folded(c).unwrap_or(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A platform account id or openid as written, when `value` is one: 4 to 64 ASCII letters, digits and `_-.@:`,
/// with at least one letter and at least one digit or an underscore. Digits alone are not an account (a phone
/// number written wrong would pass for one), and neither is an English word.
pub fn normalize_account(value: &str) -> Option<String> {
    let value = value.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.@:".contains(c);
    let valid = (4..=64).contains(&value.len())
        && value.chars().all(allowed)
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.chars().any(|c| c.is_ascii_digit() || c == '_');
    valid.then(|| value.to_owned())
}

/// The display form of an account id: its first two and last two characters (`A0****64`).
pub fn mask_account(account: &str) -> Option<String> {
    let account = normalize_account(account)?;
    let chars: Vec<char> = account.chars().collect();
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    Some(format!("{head}****{tail}"))
}

/// Words that stand in for a name without being one.
const ANONYMOUS: &[&str] = &["匿名", "无", "不详", "未知", "保密", "市民", "群众"];

/// A full personal name, whitespace removed, when `name` is one; `None` for anonymous or partial names.
pub fn normalize_full_name(name: &str) -> Option<String> {
    let name: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    let count = name.chars().count();
    let partial = ["先生", "女士", "小姐", "师傅", "某", "阿姨", "大爷", "老板"]
        .iter()
        .any(|w| name.contains(w));
    ((2..=6).contains(&count) && !partial && !ANONYMOUS.contains(&name.as_str())).then_some(name)
}

/// Whether `name` stands for an anonymous party.
pub fn is_anonymous(name: &str) -> bool {
    let name = name.trim();
    name.is_empty() || ANONYMOUS.contains(&name)
}

/// The display form of a personal name: the surname, then one `*` per further character (`赵**`).
/// Honorific forms (`赵先生`) keep their honorific, which identifies nobody.
pub fn mask_name(name: &str) -> Option<String> {
    let name = name.trim();
    if is_anonymous(name) {
        return None;
    }
    for honorific in ["先生", "女士", "小姐", "师傅", "阿姨", "大爷"] {
        if let Some(surname) = name.strip_suffix(honorific) {
            if surname.chars().count() <= 2 {
                return Some(name.to_owned());
            }
        }
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    let rest = chars.count();
    Some(format!("{first}{}", "*".repeat(rest.max(1))))
}

/// The display form of a phone number: `139****5678`, `0513-****1234`; `None` when it is no phone number.
pub fn mask_phone(phone: &str) -> Option<String> {
    let digits = normalize_phone(phone)?;
    Some(mask_phone_digits(&digits))
}

fn mask_phone_digits(digits: &str) -> String {
    if digits.starts_with('1') {
        format!("{}****{}", &digits[..3], &digits[digits.len() - 4..])
    } else {
        let area = if digits.starts_with("010") || digits.starts_with("02") {
            3
        } else {
            4
        };
        format!("{}-****{}", &digits[..area], &digits[digits.len() - 4..])
    }
}

/// The display form of an ID number: `320682********1234`; `None` when it is no ID number.
pub fn mask_id_number(id: &str) -> Option<String> {
    let id = normalize_id_number(id)?;
    Some(format!("{}********{}", &id[..6], &id[14..]))
}

fn id_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // 18-character ID numbers, not inside a longer run of digits; a space or hyphen may stand between any
    // two of their characters (`320682 19780512 6617`).
    RE.get_or_init(|| {
        Regex::new(r"(?:^|[^0-9])([1-9](?:[- ]?[0-9]){16}[- ]?[0-9Xx])(?:[^0-9A-Za-z]|$)")
            .expect("valid regex")
    })
}

fn phone_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Mobiles (optionally +86) and landlines with an area code, not inside a longer run of digits; a space or
    // hyphen may stand between their digits (`139-6275-1208`, `139 6275 1208`).
    RE.get_or_init(|| {
        Regex::new(
            r"(?:^|[^0-9])((?:\+?86[- ]?)?1[3-9](?:[- ]?[0-9]){9}|0[1-9][0-9]{1,2}[- ]?[2-9](?:[- ]?[0-9]){6,7})(?:[^0-9]|$)",
        )
        .expect("valid regex")
    })
}

/// Free text with every phone and ID number replaced by its masked form.
///
/// Runs before any text leaves the raw log: descriptions, addresses, titles, category and status words,
/// dead-letter reasons and operators' reasons. Full-width digits are read as digits (and written back as ASCII).
pub fn redact(text: &str) -> String {
    let text = fold_width(text);
    if !enough_digits(&text) {
        // Most texts hold a few digits at most (a date, a room): no number to find, so no regex to run.
        return text.into_owned();
    }
    let text = replace_group(&text, id_pattern(), |m| {
        mask_id_number(m).unwrap_or_else(|| "******************".to_owned())
    });
    replace_group(&text, phone_pattern(), |m| {
        mask_phone(m).unwrap_or_else(|| "***********".to_owned())
    })
}

/// The longest stretches of `text` made only of what a phone or ID number is written with (digits, spaces,
/// hyphens, `+`, `X`) that hold enough digits to be one. A number never spans anything else, and the
/// characters around a stretch are none of these, so the patterns find the same numbers in the stretches as in
/// the whole text (an ID number directly followed by a letter is found here, where the whole text's pattern
/// refuses it: one party key more, never one fewer).
fn number_runs(text: &str) -> impl Iterator<Item = &str> {
    let in_number = |b: u8| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'+' | b'X' | b'x');
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            while at < bytes.len() && !in_number(bytes[at]) {
                at += 1;
            }
            let start = at;
            while at < bytes.len() && in_number(bytes[at]) {
                at += 1;
            }
            // Only ASCII bytes were taken, so both ends are character boundaries.
            let run = &text[start..at];
            if enough_digits(run) {
                return Some(run);
            }
        }
        None
    })
}

/// Capture group 1 of every match of `re` in `text`, searched as [`replace_group`] searches.
fn all_groups<'t>(text: &'t str, re: &'static Regex) -> impl Iterator<Item = &'t str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let caps = re.captures(rest)?;
        let group = caps.get(1)?;
        let found = &rest[group.start()..group.end()];
        rest = &rest[group.end()..];
        Some(found)
    })
}

/// Replaces capture group 1 of every match, keeping the delimiters the pattern consumed around it.
/// Matches are searched repeatedly so adjacent numbers sharing a delimiter are all found.
fn replace_group(text: &str, re: &Regex, mask: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(caps) = re.captures(rest) {
        let Some(group) = caps.get(1) else { break };
        out.push_str(&rest[..group.start()]);
        out.push_str(&mask(group.as_str()));
        rest = &rest[group.end()..];
    }
    out.push_str(rest);
    out
}

/// The message of a caught panic, redacted: a panic's message may quote the input it failed on (a slice
/// boundary inside `320682197805126号` quotes the whole string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    redact(&message)
}

/// Whether `text` still holds anything that looks like a clear phone or ID number.
///
/// Used by tests and by the engine's own guard before output is written.
pub fn contains_clear_pii(text: &str) -> bool {
    let text = fold_width(text);
    enough_digits(&text) && (id_pattern().is_match(&text) || phone_pattern().is_match(&text))
}

/// Whether `text` (width-folded) holds as many digits as the shortest number the patterns find: a landline
/// with its area code has ten.
fn enough_digits(text: &str) -> bool {
    const FEWEST: usize = 10;
    text.bytes().filter(u8::is_ascii_digit).take(FEWEST).count() >= FEWEST
}

/// An organisation's name for display: shown as given (it is not personal data), with numbers redacted.
pub fn non_empty_org(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()).then(|| redact(name))
}

/// Replaces each of `names` (full personal names) inside `text` by its masked form.
pub fn mask_names_in(text: &str, names: &[&str]) -> String {
    let mut text = text.to_owned();
    for name in names {
        if normalize_full_name(name).is_some() {
            if let Some(masked) = mask_name(name) {
                text = text.replace(name, &masked);
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PartyHasher {
        PartyHasher::new(b"0123456789abcdef-test").expect("long enough")
    }

    #[test]
    fn masks_display_values() {
        assert_eq!(mask_name("赵国庆").as_deref(), Some("赵**"));
        assert_eq!(mask_name("欧阳娜娜").as_deref(), Some("欧***"));
        assert_eq!(mask_name("赵先生").as_deref(), Some("赵先生"));
        assert_eq!(mask_name("匿名"), None);
        assert_eq!(mask_phone("13962751208").as_deref(), Some("139****1208"));
        assert_eq!(mask_phone("0513-87651234").as_deref(), Some("0513-****1234"));
        assert_eq!(
            mask_id_number("32068219650307441x").as_deref(),
            Some("320682********441X")
        );
        assert_eq!(mask_phone("12"), None);
    }

    #[test]
    fn redacts_numbers_inside_text() {
        let text = "来电人电话13962751208。身份证号320682197805126617，座机0513-87651234，房号1201室";
        let red = redact(text);
        assert_eq!(
            red,
            "来电人电话139****1208。身份证号320682********6617，座机0513-****1234，房号1201室"
        );
        assert!(!contains_clear_pii(&red));
        assert!(contains_clear_pii(text));
        assert_eq!(redact("13962751208/15851309977"), "139****1208/158****9977");
    }

    #[test]
    fn redacts_numbers_written_with_separators_or_full_width_digits() {
        for (text, expected) in [
            ("电话139-6275-1208，", "电话139****1208，"),
            ("电话139 6275 1208", "电话139****1208"),
            ("电话１３９６２７５１２０８", "电话139****1208"),
            ("+86 139 6275 1208", "139****1208"),
            ("座机0513-8765 1234", "座机0513-****1234"),
            ("身份证320682 19780512 6617。", "身份证320682********6617。"),
            ("身份证320682-19780512-661X", "身份证320682********661X"),
            (
                "身份证３２０６８２１９７８０５１２６６１７",
                "身份证320682********6617",
            ),
        ] {
            let red = redact(text);
            assert_eq!(red, expected, "{text}");
            assert!(contains_clear_pii(text), "{text}");
            assert!(!contains_clear_pii(&red), "{red}");
        }
        // Dates, times, amounts and room numbers are no phone or ID number.
        for text in [
            "2026-01-28 04:10:00",
            "欠款 12000 元，房号 1201 室",
            "2026年3月5日 14:30",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn finds_the_keys_of_the_numbers_in_a_text() {
        let hasher = hasher();
        let text = "来电人电话139-6275-1208，身份证３２０６８２１９７８０５１２６６１７，又拨13962751208；房号1201室";
        let keys = hasher.keys_in(text);
        let phone = hasher.phone_key("13962751208").expect("phone");
        let id = hasher.id_key("320682197805126617").expect("id");
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&phone) && keys.contains(&id));
        assert!(hasher.keys_in("2026-01-28 房号1201室").is_empty());
        assert_ne!(hasher.derive_key("a"), hasher.derive_key("b"));
        assert_eq!(hasher.derive_key("a"), hasher.derive_key("a"));
    }

    #[test]
    fn a_caught_panic_reads_without_the_numbers_it_quoted() {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = std::panic::catch_unwind(|| {
            let record = "身份证320682197805126617，电话139 6275 1208";
            panic!("cannot read {record}");
        });
        std::panic::set_hook(quiet);
        let message = panic_message(caught.expect_err("it panicked").as_ref());
        assert_eq!(message, "cannot read 身份证320682********6617，电话139****1208");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(42_u8));
        assert_eq!(
            panic_message(caught.expect_err("it panicked").as_ref()),
            "a panic without a message"
        );
    }

    #[test]
    fn an_id_number_that_ends_inside_a_character_is_no_id_number_and_does_not_panic() {
        // 17 digits and a three-byte character: 18 characters' worth of bytes would end inside `号`.
        assert_eq!(normalize_id_number("320682197805126号"), None);
        assert_eq!(mask_id_number("32068219780512661号"), None);
        assert_eq!(redact("身份证320682197805126号"), "身份证320682197805126号");
        assert_eq!(
            normalize_id_number("320682 19780512 661x").as_deref(),
            Some("32068219780512661X")
        );
    }

    #[test]
    fn keys_are_stable_keyed_and_normalized() {
        let h = hasher();
        assert_eq!(h.phone_key("139 6275 1208"), h.phone_key("+8613962751208"));
        assert_eq!(h.id_key("32068219650307441x"), h.id_key("32068219650307441X"));
        assert_ne!(
            h.phone_key("13962751208"),
            PartyHasher::new(b"another-secret-0123")
                .expect("long")
                .phone_key("13962751208")
        );
        assert_eq!(h.name_key("匿名"), None);
        assert_eq!(h.name_key("赵先生"), None);
        assert!(h.name_key("赵国庆").is_some());
        assert!(PartyHasher::new(b"short").is_err());
        let key = h.phone_key("13962751208").expect("phone");
        assert_eq!(key.hash.len(), 64);
        assert!(key.hash.bytes().all(|b| (b'a'..=b'p').contains(&b)));
        assert!(!key.hash.contains("13962751208"));
    }

    #[test]
    fn masks_party_names_in_text() {
        assert_eq!(
            mask_names_in("业主代表赵国庆申请调解", &["赵国庆", "匿名"]),
            "业主代表赵**申请调解"
        );
    }
}
