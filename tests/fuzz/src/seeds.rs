//! Seed corpora, taken from the project itself: the string literals of the parsers' own unit
//! tests and of the integration tests, and the examples of `README.md` (its ```json blocks,
//! the JSON bodies of its curl commands, its inline code spans), read at compile time so the
//! seeds follow the docs and tests as they change. A few examples that only exist as
//! `json!` values (the OpenAPI examples of ingest's `http.rs` and the api's `routes.rs`) or
//! in doc comments are repeated here as bytes, each saying where it comes from.

/// Sources whose literals and examples seed the targets.
pub const README: &str = include_str!("../../../README.md");
pub const SMPP_RS: &str = include_str!("../../../services/ingest/src/smpp.rs");
pub const NORMALISE_RS: &str = concat!(
    include_str!("../../../services/ingest/src/normalise.rs"),
    include_str!("../../../services/ingest/src/normalise/tests.rs")
);
pub const TELECOM23_RS: &str = include_str!("../../../services/api/src/telecom23.rs");
pub const SMSEDGE_RS: &str = include_str!("../../../services/api/src/smsedge.rs");
pub const NAMED_RS: &str = include_str!("../../../services/api/src/named.rs");
pub const URL_POLICY_RS: &str = concat!(
    include_str!("../../../shared/security/src/url_policy.rs"),
    include_str!("../../../shared/security/src/url_policy/tests.rs")
);
pub const RETRY_RS: &str = include_str!("../../../services/delivery/src/retry.rs");
pub const ENGAGEMENT_RS: &str = include_str!("../../../tests/tests/engagement.rs");
pub const EDGE_SECURITY_RS: &str = include_str!("../../../tests/tests/edge_security.rs");
pub const DELIVERY_E2E_RS: &str = include_str!("../../../tests/tests/delivery_e2e.rs");

/// The string literals of Rust source `src` (`"…"` with its escapes decoded, `r"…"`,
/// `r#"…"#`, and their `b` forms), comments skipped. Literals of `format!` strings keep
/// their `{placeholders}` with `{{`/`}}` turned into braces.
pub fn rust_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{85}') or a lifetime.
                if b.get(i + 1) == Some(&b'\\') {
                    i = b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map_or(b.len(), |n| i + 2 + n + 1);
                } else if let Some(c) = src[i + 1..].chars().next() {
                    let after = i + 1 + c.len_utf8();
                    i = if b.get(after) == Some(&b'\'') { after + 1 } else { i + 1 };
                } else {
                    i += 1;
                }
            }
            b'r' if !ident_before(b, i) && matches!(b.get(i + 1), Some(b'"' | b'#')) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                match src[open + 1..].find(&close) {
                    Some(n) => {
                        out.push(src[open + 1..open + 1 + n].to_string());
                        i = open + 1 + n + close.len();
                    }
                    None => i = b.len(),
                }
            }
            b'"' => {
                let (lit, end) = cooked(src, i + 1);
                out.push(lit);
                i = end;
            }
            _ => i += 1,
        }
    }
    out.into_iter().map(|s| unformat(&s)).collect()
}

fn ident_before(b: &[u8], i: usize) -> bool {
    // An identifier character before `r`, unless it is the `b` of a `br"…"` literal.
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') && (b[i - 1] != b'b' || ident_before(b, i - 1))
}

/// Decodes a normal string literal starting after its opening quote; returns it and the
/// index after the closing quote.
fn cooked(src: &str, start: usize) -> (String, usize) {
    let mut out = String::new();
    let mut chars = src[start..].char_indices();
    while let Some((n, c)) = chars.next() {
        match c {
            '"' => return (out, start + n + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '0')) => out.push('\0'),
                Some((_, 'x')) => {
                    let hex: String = [chars.next(), chars.next()].iter().flatten().map(|(_, c)| *c).collect();
                    if let Some(ch) = u8::from_str_radix(&hex, 16).ok().map(char::from) {
                        out.push(ch);
                    }
                }
                Some((_, 'u')) => {
                    let mut hex = String::new();
                    for (_, c) in chars.by_ref() {
                        match c {
                            '{' => {}
                            '}' => break,
                            c => hex.push(c),
                        }
                    }
                    if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(ch);
                    }
                }
                Some((_, '\n')) => {
                    // A line continuation: the next line's leading whitespace is skipped.
                    let rest = &src[start..];
                    while let Some((m, c)) = chars.clone().next() {
                        if c.is_whitespace() && m < rest.len() {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                Some((_, c)) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    (out, src.len())
}

/// A `format!` string's literal form: `{{`/`}}` become braces, placeholders stay as they
/// are (a seed need not be valid; mutation goes from there). Other strings are unchanged.
fn unformat(s: &str) -> String {
    if s.contains("{{") || s.contains("}}") {
        s.replace("{{", "{").replace("}}", "}")
    } else {
        s.to_string()
    }
}

/// README examples: the bodies of ```json blocks, the single-quoted bodies of its curl
/// commands (`-d '…'`), and its inline code spans (line breaks inside a span read as spaces).
pub fn readme_examples() -> Vec<String> {
    let mut out = vec![];
    let mut in_json = false;
    let mut block = String::new();
    for line in README.lines() {
        if line.starts_with("```") {
            if in_json {
                out.push(std::mem::take(&mut block));
            }
            in_json = line.trim() == "```json";
            continue;
        }
        if in_json {
            block.push_str(line);
            block.push('\n');
        }
    }
    // curl bodies may span lines.
    let mut rest = README;
    while let Some(n) = rest.find("-d '") {
        rest = &rest[n + 4..];
        if let Some(end) = rest.find('\'') {
            out.push(rest[..end].replace("\n  ", ""));
            rest = &rest[end..];
        }
    }
    // Inline code spans.
    let flat = README.replace("```", "\u{1}");
    for (i, span) in flat.split('`').enumerate() {
        if i % 2 == 1 && !span.contains('\u{1}') && span.len() < 600 {
            out.push(span.replace('\n', " "));
        }
    }
    out
}

fn bytes(v: impl IntoIterator<Item = String>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![];
    for s in v {
        let b = s.into_bytes();
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

fn literals_of(sources: &[&str]) -> Vec<String> {
    sources.iter().flat_map(|s| rust_literals(s)).collect()
}

fn json_with(candidates: &[String], keys: &[&str]) -> Vec<String> {
    candidates
        .iter()
        .filter(|s| s.trim_start().starts_with('{') && keys.iter().all(|k| s.contains(&format!("\"{k}\""))))
        .cloned()
        .collect()
}

fn all_candidates() -> Vec<String> {
    let mut v = readme_examples();
    v.extend(literals_of(&[
        NORMALISE_RS,
        SMPP_RS,
        TELECOM23_RS,
        SMSEDGE_RS,
        NAMED_RS,
        ENGAGEMENT_RS,
        EDGE_SECURITY_RS,
        DELIVERY_E2E_RS,
    ]));
    v
}

/// SMPP receipt texts: the README's example, smpp.rs's tests (good and bad), the receipts the
/// integration tests send.
pub fn smpp() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = rust_literals(SMPP_RS)
        .into_iter()
        .filter(|s| s.contains(':') || s == "garbage")
        .collect();
    v.extend(
        all_candidates()
            .into_iter()
            .filter(|s| s.starts_with("id:") && s.to_ascii_lowercase().contains("stat:")),
    );
    bytes(v)
}

/// Carrier DLRs: SMPP texts and the JSON form (README, normalise.rs's tests).
pub fn dlr() -> Vec<Vec<u8>> {
    let c = all_candidates();
    let mut v: Vec<String> = smpp().into_iter().map(|b| String::from_utf8(b).unwrap()).collect();
    v.extend(
        json_with(&c, &["carrier_message_id"])
            .into_iter()
            .filter(|s| !s.contains("sender_id")),
    );
    v.extend(json_with(&c, &["id", "stat"]));
    v.extend(json_with(&c, &["stat"]));
    bytes(v)
}

/// Accepted messages (README, normalise.rs's tests).
pub fn accepted_message() -> Vec<Vec<u8>> {
    bytes(json_with(
        &all_candidates(),
        &["message_id", "carrier_message_id", "sender_id"],
    ))
}

/// Clicks (README, normalise.rs's tests).
pub fn click() -> Vec<Vec<u8>> {
    let c = all_candidates();
    let mut v = json_with(&c, &["short_url", "recipient"]);
    v.extend(json_with(&c, &["url", "message_id", "recipient"]));
    bytes(v)
}

/// Inbound SMS: normalise.rs's tests, and the OpenAPI example of ingest's `POST /v1/inbound`
/// (`services/ingest/src/http.rs`) with the README's optional fields.
pub fn inbound() -> Vec<Vec<u8>> {
    let mut v = json_with(&all_candidates(), &["workspace_id", "from", "to"]);
    v.push(r#"{"workspace_id": "acme", "from": "+14155551234", "to": "+14155550000", "text": "STOP"}"#.into());
    v.push(
        r#"{"inbound_id": "in-1", "workspace_id": "acme", "from": "+14155551234", "to": "+14155550000", "message": "Hi", "last_message_id": "api_42_1", "received": "2026-02-13T10:30:00Z", "channel": "whatsapp"}"#
            .into(),
    );
    bytes(v)
}

/// Conversions as JSON (`POST /v1/actions`, `POST /track`): normalise.rs's tests and the
/// OpenAPI examples of ingest's `/v1/actions` and `/track`.
pub fn conversion_json() -> Vec<Vec<u8>> {
    let mut v = json_with(&all_candidates(), &["click_id"]);
    v.extend(json_with(&all_candidates(), &["message_id", "value"]));
    v.push(r#"{"message_id": "api_42_1", "event": "signup", "transaction_id": "tx-2"}"#.into());
    v.push(r#"{"token": "hki_x", "click_id": "k-81", "event": "purchase", "value": 19.99, "currency": "USD", "transaction_id": "tx-1", "occurred_at": "2026-02-13T10:35:00Z"}"#.into());
    bytes(v)
}

/// `/track` query strings: the integration tests' postbacks and the README's postback URL
/// (with its unfilled `{placeholders}`).
pub fn track_query() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = all_candidates()
        .into_iter()
        .filter_map(|s| {
            if let Some((_, q)) = s.split_once("/track?") {
                Some(q.to_string())
            } else if s.contains('=') && s.contains('&') && !s.contains(' ') && !s.contains("_url") {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    v.push("token=hki_x&click_id=k-81&event=purchase&value=19.99&currency=USD&transaction_id=tx-1".into());
    bytes(v)
}

/// Revoked clicks: the OpenAPI example of ingest's `POST /v1/revocations` and the README's
/// `source` values.
pub fn revocation() -> Vec<Vec<u8>> {
    bytes([
        r#"{"workspace_id": "acme", "message_id": "api_42_1", "source": "api"}"#.to_string(),
        r#"{"workspace_id":"acme","message_id":"m-9","source":"campaign"}"#.to_string(),
    ])
}

/// 23 Telecom `PUT /api/v1/user/webhooks` bodies: telecom23.rs's tests and the README's curl.
pub fn telecom23() -> Vec<Vec<u8>> {
    let c: Vec<String> = rust_literals(TELECOM23_RS)
        .into_iter()
        .chain(readme_examples())
        .filter(|s| {
            s.trim_start().starts_with('{')
                && (s.contains("_url") || s.contains("secret") || s.contains("_fields") || s.contains("unique"))
        })
        .collect();
    bytes(c)
}

/// SMSEdge `set-webhook` bodies, form and JSON: smsedge.rs's tests and the OpenAPI examples.
pub fn smsedge() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = rust_literals(SMSEDGE_RS)
        .into_iter()
        .filter(|s| s.contains("_url") || s.starts_with("auth=") || s.contains("\"auth\""))
        .collect();
    v.push(
        "dlr_url=https%3A%2F%2Fexample.com%2Fdlr&click_url=https%3A%2F%2Fexample.com%2Fclick&inbound_url=&revoke_click_url=https%3A%2F%2Fexample.com%2Frevoke&auth=myuser%3Amypass"
            .into(),
    );
    v.push(r#"{"dlr_url": "https://example.com/dlr", "auth": "myuser:mypass"}"#.into());
    bytes(v)
}

/// Named-subscription create/patch bodies: named.rs's tests and the OpenAPI examples.
pub fn named() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = rust_literals(NAMED_RS)
        .into_iter()
        .filter(|s| s.trim_start().starts_with('{') && s.len() > 2)
        .collect();
    v.push(r#"{"name": "Delivered SMS", "url": "https://example.com/hooks", "event_types": ["SMS_STATUS"], "filter": {"status": ["delivered"]}, "rate_limit": 50}"#.into());
    v.push(r#"{"rate_limit": 100}"#.into());
    bytes(v)
}

/// Operator bodies: `POST /admin/v1/api-keys`, `/admin/v1/ingest-keys` and
/// `/admin/v1/dead-letters/resend`, from the OpenAPI examples (`services/api/src/routes.rs`)
/// and admin.rs's doc comment.
pub fn admin() -> Vec<Vec<u8>> {
    bytes([
        r#"{"workspace_id": "acme", "permissions": ["webhooks.read", "webhooks.write"]}"#.to_string(),
        r#"{"name": "acme-telco DLR callbacks", "kinds": ["dlr"], "carrier_connection": "acme-telco"}"#.to_string(),
        r#"{"kinds": ["messages", "inbound", "clicks"]}"#.to_string(),
        r#"{"kinds": ["conversions"], "workspace_id": "acme"}"#.to_string(),
        r#"{"workspace_id": "acme", "subscription_id": "t23-delivery", "from": "2026-02-13T00:00:00Z", "to": "2026-02-14T00:00:00Z"}"#.to_string(),
        r#"{"type": "delivery"}"#.to_string(),
    ])
}

/// Query strings of the API's `GET`s: `?limit=` (logs, dead letters), `?workspace_id=`
/// (key listings).
pub fn api_query() -> Vec<Vec<u8>> {
    bytes(
        [
            "limit=5",
            "limit=1000",
            "limit=0",
            "workspace_id=acme",
            "limit=abc&limit=2",
        ]
        .map(String::from),
    )
}

/// Webhook URLs: every URL literal of url_policy.rs's tests (every spelling of internal
/// addresses it refuses, the public ones it accepts) and of the README.
pub fn urls() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = rust_literals(URL_POLICY_RS)
        .into_iter()
        .chain(rust_literals(TELECOM23_RS))
        .chain(rust_literals(SMSEDGE_RS))
        .chain(readme_examples())
        .filter(|s| s.contains("://") && s.len() < 300 && !s.contains(' '))
        .collect();
    v.push("https://example.com/hook?x=1#frag".into());
    bytes(v)
}

/// `Retry-After` values: retry.rs's tests and RFC 9110's forms.
pub fn retry_after() -> Vec<Vec<u8>> {
    let mut v: Vec<String> = rust_literals(RETRY_RS)
        .into_iter()
        .filter(|s| s.len() < 64 && (s.chars().all(|c| c.is_ascii_digit()) || s.contains("GMT") || s == "soon"))
        .collect();
    v.extend(
        [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "0",
            "  120  ",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ]
        .map(String::from),
    );
    bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_decoded() {
        let src = r####"let a = "x\"y\n"; // "comment"
            let b = r#"{"k":"v"}"#; let c = '"'; let d = br#"raw"#; let e = "\u{85}"; fn f<'a>() {}
            let g = format!(r#"{{"n":{n}}}"#);"####;
        assert_eq!(
            rust_literals(src),
            vec!["x\"y\n", r#"{"k":"v"}"#, "raw", "\u{85}", r#"{"n":{n}}"#]
        );
    }

    #[test]
    fn every_target_has_seeds_from_the_project() {
        for (name, seeds, at_least) in [
            ("smpp", smpp(), 5),
            ("dlr", dlr(), 8),
            ("accepted_message", accepted_message(), 3),
            ("click", click(), 3),
            ("inbound", inbound(), 3),
            ("conversion_json", conversion_json(), 3),
            ("track_query", track_query(), 4),
            ("telecom23", telecom23(), 10),
            ("smsedge", smsedge(), 8),
            ("named", named(), 8),
            ("urls", urls(), 60),
            ("retry_after", retry_after(), 4),
        ] {
            assert!(seeds.len() >= at_least, "{name}: {} seeds: {seeds:?}", seeds.len());
        }
    }
}
