use super::*;

#[test]
fn accepted_message_validation() {
    let ok = br#"{"message_id":"m1","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","num_parts":2,"cost":0.01,"accepted_at":"2026-02-13T10:30:00Z","extra":"ignored"}"#;
    assert_eq!(accepted_message(ok).unwrap().num_parts, 2);
    let missing = br#"{"message_id":"","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","accepted_at":"2026-02-13T10:30:00Z"}"#;
    assert_eq!(
        accepted_message(missing).unwrap_err().reason(),
        QuarantineReason::MissingField
    );
    assert_eq!(
        accepted_message(b"{").unwrap_err().reason(),
        QuarantineReason::InvalidJson
    );
    assert_eq!(
        accepted_message(b"  ").unwrap_err().reason(),
        QuarantineReason::EmptyRecord
    );
    let neg = br#"{"message_id":"m","carrier_message_id":"c1","workspace_id":"w","recipient":"+1","sender_id":"S","cost":-1,"accepted_at":"2026-02-13T10:30:00Z"}"#;
    assert_eq!(
        accepted_message(neg).unwrap_err().reason(),
        QuarantineReason::InvalidField
    );
}

#[test]
fn clicks_and_conversions() {
    let now = Utc::now();
    let c = click(br#"{"short_url":"https://hkl.ink/a","message_id":"m1","recipient":"+1","broadcast_id":"b1","user_agent":"Mozilla"}"#, now).unwrap();
    assert_eq!(
        (c.link_type, c.click_id.starts_with("clk_")),
        (LinkType::Broadcast, true)
    );
    let again = click(br#"{"short_url":"https://hkl.ink/a","message_id":"m1","recipient":"+1","broadcast_id":"b1","user_agent":"Mozilla"}"#, now).unwrap();
    assert_eq!(c.click_id, again.click_id, "derived ids are stable");
    assert_eq!(
        click(br#"{"url":"u","recipient":"+1"}"#, now)
            .unwrap_err()
            .reason()
            .as_str(),
        "missing_field"
    );
    let api = click(br#"{"url":"u","message_id":"m","recipient":"+1","click_id":"k1"}"#, now).unwrap();
    assert_eq!((api.link_type, api.click_id.as_str()), (LinkType::Api, "k1"));

    let q: Map<String, Value> = serde_json::from_str(
        r#"{"click_id":"k1","event":"purchase","value":"19.90","currency":"usd","transaction_id":"{transaction_id}"}"#,
    )
    .unwrap();
    let conv = conversion(&q, now).unwrap();
    assert_eq!(
        (conv.value, conv.currency.as_deref(), conv.transaction_id),
        (Some(19.9), Some("USD"), None)
    );
    let bad: Map<String, Value> = serde_json::from_str(r#"{"message_id":"m","value":"lots"}"#).unwrap();
    assert_eq!(
        conversion(&bad, now).unwrap_err().reason(),
        QuarantineReason::InvalidField
    );
    assert_eq!(
        conversion(&Map::new(), now).unwrap_err().reason(),
        QuarantineReason::MissingField
    );
}

#[test]
fn dlr_json_and_smpp() {
    let now = Utc::now();
    let j = carrier_dlr(
        br#"{"carrier_message_id":"c1","status":"delivered","err":"000","done_at":"2026-02-13T10:30:04Z"}"#,
        now,
    )
    .unwrap();
    assert_eq!(j.status, DlrStatus::Delivered);
    assert_eq!(j.status_code, "000");
    let s = carrier_dlr(
        b"id:c2 sub:001 dlvrd:000 submit date:2602131029 done date:2602131030 stat:REJECTD err:0B text:x",
        now,
    )
    .unwrap();
    assert_eq!(
        (s.carrier_message_id.as_str(), s.status, s.status_code.as_str()),
        ("c2", DlrStatus::Rejected, "0B")
    );
    let no_code = carrier_dlr(br#"{"id":"c3","stat":"EXPIRED"}"#, now).unwrap();
    assert_eq!((no_code.status_code.as_str(), no_code.done_at), ("000", now));
    assert_eq!(
        carrier_dlr(br#"{"id":"c3","stat":"WHAT"}"#, now)
            .unwrap_err()
            .reason()
            .as_str(),
        "unknown_status"
    );
    assert_eq!(
        carrier_dlr(br#"{"stat":"DELIVRD"}"#, now)
            .unwrap_err()
            .reason()
            .as_str(),
        "missing_field"
    );
    assert_eq!(
        carrier_dlr(b"hello", now).unwrap_err().reason(),
        QuarantineReason::InvalidSmppReceipt
    );
    assert_eq!(
        carrier_dlr(&[0xff, 0xfe], now).unwrap_err().reason(),
        QuarantineReason::InvalidUtf8
    );
}
/// Every string field is bounded, and the refusal names the field and the limit (a 1 MB
/// `workspace_id` once reached the producer and came back as Kafka's size error, `503`).
#[test]
fn oversized_fields_are_invalid_and_named() {
    let now = Utc::now();
    let huge = "w".repeat(1_000_000);
    let msg = |ws: &str, text: &str| {
        serde_json::to_vec(
            &serde_json::json!({"message_id": "m1", "carrier_message_id": "c1", "workspace_id": ws,
            "recipient": "+1", "sender_id": "S", "accepted_at": "2026-02-13T10:30:00Z", "details": {"text": text}}),
        )
        .unwrap()
    };
    let e = accepted_message(&msg(&huge, "hi")).unwrap_err();
    assert_eq!(e.reason(), QuarantineReason::InvalidField);
    assert!(
        e.to_string().contains("workspace_id") && e.to_string().contains("1-64"),
        "{e}"
    );
    let e = accepted_message(&msg("acme corp", "hi")).unwrap_err();
    assert!(e.to_string().contains("workspace_id"), "{e}");
    let e = accepted_message(&msg("acme", &"x".repeat(MAX_TEXT_CHARS + 1))).unwrap_err();
    assert_eq!(
        (e.reason().as_str(), e.to_string().contains("details.text")),
        ("invalid_field", true),
        "{e}"
    );
    assert!(e.to_string().contains(&MAX_TEXT_CHARS.to_string()), "{e}");
    // At the limit (in characters, not bytes: 4,096 two-byte characters pass).
    assert!(accepted_message(&msg(&"w".repeat(64), &"é".repeat(MAX_TEXT_CHARS))).is_ok());

    let e = carrier_dlr(format!(r#"{{"id":"c1","stat":"{}"}}"#, "D".repeat(300)).as_bytes(), now).unwrap_err();
    assert_eq!(
        (e.reason().as_str(), e.to_string().contains("status")),
        ("invalid_field", true),
        "{e}"
    );
    let e = click(
        format!(
            r#"{{"url":"u","message_id":"m","recipient":"+1","user_agent":"{}"}}"#,
            "a".repeat(1025)
        )
        .as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("user_agent"), "{e}");
    let e = click(
        format!(
            r#"{{"url":"https://x/{}","message_id":"m","recipient":"+1"}}"#,
            "a".repeat(2048)
        )
        .as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("`url`"), "{e}");
    let e = inbound(
        format!(
            r#"{{"workspace_id":"w","from":"+1","to":"+2","text":"{}"}}"#,
            "t".repeat(5000)
        )
        .as_bytes(),
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("`text`"), "{e}");
    let q: Map<String, Value> = serde_json::from_value(serde_json::json!({"click_id": "k".repeat(257)})).unwrap();
    assert!(conversion(&q, now).unwrap_err().to_string().contains("click_id"));
    assert_eq!(
        check_record_size(&vec![b' '; MAX_RECORD_BYTES + 1])
            .unwrap_err()
            .reason()
            .as_str(),
        "record_too_large"
    );
}

#[test]
fn revocations_get_the_workspace_rule_and_the_id_bound() {
    let ok = revocation(br#"{"workspace_id":"w-1","message_id":"m1","source":"campaign"}"#).unwrap();
    assert_eq!((ok.workspace_id.as_str(), ok.message_id.as_str()), ("w-1", "m1"));
    for (raw, reason, field) in [
        (
            r#"{"workspace_id":"a:b/../c d","message_id":"m","source":"api"}"#.to_string(),
            QuarantineReason::InvalidField,
            "workspace_id",
        ),
        (
            format!(
                r#"{{"workspace_id":"{}","message_id":"m","source":"api"}}"#,
                "w".repeat(65)
            ),
            QuarantineReason::InvalidField,
            "workspace_id",
        ),
        (
            format!(
                r#"{{"workspace_id":"w","message_id":"{}","source":"api"}}"#,
                "m".repeat(257)
            ),
            QuarantineReason::InvalidField,
            "message_id",
        ),
        (
            r#"{"workspace_id":" ","message_id":"m","source":"api"}"#.to_string(),
            QuarantineReason::MissingField,
            "workspace_id",
        ),
        (
            r#"{"workspace_id":"w","message_id":"","source":"api"}"#.to_string(),
            QuarantineReason::MissingField,
            "message_id",
        ),
    ] {
        let e = revocation(raw.as_bytes()).unwrap_err();
        assert_eq!(e.reason(), reason, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    assert_eq!(revocation(b" ").unwrap_err().reason(), QuarantineReason::EmptyRecord);
}
