//! `batch` on named subscriptions (issue 17).

use super::*;

/// Issue 17: `batch` is off unless asked for, checked last (`INVALID_BATCH`), shown, changed
/// as a whole by a patch and turned off by `null`.
#[tokio::test]
async fn batch_is_checked_shown_and_cleared() {
    for (extra, code_) in [
        (r#""batch":{"max_events":1,"max_wait_ms":100}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":1001,"max_wait_ms":100}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":10,"max_wait_ms":0}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":10,"max_wait_ms":10001}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":10}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":10,"max_wait_ms":100,"x":1}"#, "INVALID_BATCH"),
        (r#""batch":{"max_events":"10","max_wait_ms":100}"#, "INVALID_BATCH"),
        (r#""batch":10"#, "INVALID_BATCH"),
        // The documented order: the failover threshold before the batch.
        (r#""failover_after":0,"batch":10"#, "INVALID_FAILOVER_AFTER"),
    ] {
        assert_eq!(code(&with(extra)).await, code_, "{extra}");
    }
    let (ws, out) = create(&WorkspaceConfig::new("w"), &with(r#""rate_limit":0"#))
        .await
        .unwrap();
    assert_eq!(out["batch"], Value::Null, "off by default");
    let id = out["id"].as_str().unwrap();
    let (ws, v) = apply_patch(&ws, id, br#"{"batch":{"max_events":10,"max_wait_ms":200}}"#, &policy())
        .await
        .unwrap();
    assert_eq!(v["batch"], json!({"max_events": 10, "max_wait_ms": 200}));
    let sub = ws.subscription(id).unwrap();
    assert_eq!(sub.batch.map(|b| (b.max_events, b.max_wait_ms)), Some((10, 200)));
    let (ws, v) = apply_patch(&ws, id, br#"{"rate_limit":5}"#, &policy()).await.unwrap();
    assert_eq!(v["batch"]["max_events"], 10, "kept by a patch that does not send it");
    let (ws, v) = apply_patch(&ws, id, br#"{"batch":null}"#, &policy()).await.unwrap();
    assert_eq!(v["batch"], Value::Null);
    assert_eq!(ws.subscription(id).unwrap().batch, None);
}
