//! SMPP 3.4 delivery receipt text (Appendix B):
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`
//!
//! Carriers vary: keys in other case or order, ids longer than 10 characters, dates with
//! seconds (`YYMMDDhhmmss`), fields missing. The parser locates each known key at a word
//! boundary, takes `text:` as the rest of the line, and requires only `id` and `stat`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The fields of a receipt that Hookline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub id: String,
    pub stat: String,
    pub err: Option<String>,
    pub done_date: Option<DateTime<Utc>>,
    pub submit_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt has no `{0}:` field")]
    Missing(&'static str),
    #[error("receipt field `{0}` is empty")]
    Empty(&'static str),
    #[error("receipt `{field}` is not a YYMMDDhhmm[ss] date: `{value}`")]
    BadDate { field: &'static str, value: String },
}

const KEYS: [&str; 7] = ["id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:"];

pub fn parse(raw: &str) -> Result<Receipt, ReceiptError> {
    let lower = raw.to_ascii_lowercase();
    // Everything after `text:` is free text and may contain anything, keys included.
    let head_end = find_key(&lower, "text:", 0).unwrap_or(lower.len());
    let head = &lower[..head_end];

    let mut found: Vec<(usize, &str)> = KEYS
        .iter()
        .filter_map(|k| find_key(head, k, 0).map(|p| (p, *k)))
        .collect();
    found.sort();
    let value = |key: &str| -> Option<&str> {
        let i = found.iter().position(|(_, k)| *k == key)?;
        let start = found[i].0 + key.len();
        let end = found.get(i + 1).map(|(p, _)| *p).unwrap_or(head_end);
        Some(raw[start..end].trim())
    };

    let id = value("id:").ok_or(ReceiptError::Missing("id"))?;
    if id.is_empty() {
        return Err(ReceiptError::Empty("id"));
    }
    let stat = value("stat:").ok_or(ReceiptError::Missing("stat"))?;
    if stat.is_empty() {
        return Err(ReceiptError::Empty("stat"));
    }
    Ok(Receipt {
        id: id.to_string(),
        stat: stat.to_string(),
        err: value("err:").filter(|e| !e.is_empty()).map(str::to_string),
        done_date: value("done date:").map(|v| date("done date", v)).transpose()?,
        submit_date: value("submit date:").map(|v| date("submit date", v)).transpose()?,
    })
}

/// First occurrence of `key` at or after `from` that starts the string or follows whitespace.
fn find_key(hay: &str, key: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = hay[at..].find(key) {
        let pos = at + rel;
        if pos == 0 || hay.as_bytes()[pos - 1].is_ascii_whitespace() {
            return Some(pos);
        }
        at = pos + key.len();
    }
    None
}

/// SMPP dates carry no zone; carriers send UTC in practice, and Hookline treats them as UTC.
fn date(field: &'static str, v: &str) -> Result<DateTime<Utc>, ReceiptError> {
    let bad = || ReceiptError::BadDate {
        field,
        value: v.to_string(),
    };
    let fmt = match v.len() {
        10 => "%y%m%d%H%M",
        12 => "%y%m%d%H%M%S",
        _ => return Err(bad()),
    };
    NaiveDateTime::parse_from_str(v, fmt)
        .map(|d| d.and_utc())
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_the_spec_example() {
        let r = parse("id:0123456789 sub:001 dlvrd:001 submit date:2602131029 done date:2602131030 stat:DELIVRD err:000 text:Hello id:x stat:BAD").unwrap();
        assert_eq!(r.id, "0123456789");
        assert_eq!(r.stat, "DELIVRD");
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.done_date, Some(Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 0).unwrap()));
        assert_eq!(
            r.submit_date,
            Some(Utc.with_ymd_and_hms(2026, 2, 13, 10, 29, 0).unwrap())
        );
    }

    #[test]
    fn tolerates_case_order_seconds_and_missing_fields() {
        let r = parse("Stat:UNDELIV ID:abc-def-1234567890 Done Date:260213103004 err:0B1").unwrap();
        assert_eq!(r.id, "abc-def-1234567890");
        assert_eq!(r.stat, "UNDELIV");
        assert_eq!(r.err.as_deref(), Some("0B1"));
        assert_eq!(r.done_date, Some(Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 4).unwrap()));
    }

    #[test]
    fn typed_errors() {
        assert_eq!(parse("sub:001 stat:DELIVRD"), Err(ReceiptError::Missing("id")));
        assert_eq!(parse("id:1 sub:001"), Err(ReceiptError::Missing("stat")));
        assert_eq!(parse("id: stat:DELIVRD"), Err(ReceiptError::Empty("id")));
        assert!(matches!(
            parse("id:1 stat:DELIVRD done date:99"),
            Err(ReceiptError::BadDate { .. })
        ));
        assert_eq!(parse("garbage"), Err(ReceiptError::Missing("id")));
    }
}
