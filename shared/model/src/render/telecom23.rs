//! The 23 Telecom payload: a flat object of the chosen fields.

use crate::event::Event;
use crate::fields;

/// Renders the selected fields of `event` as a JSON object, in the order given (the stored
/// lists are in catalogue order, so the bytes are deterministic, which keeps signatures
/// reproducible in tests and logs).
pub fn render(event: &Event, selected: &[&str]) -> Vec<u8> {
    super::write_object(fields::pairs(event, selected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    #[test]
    fn renders_reference_example_bytes() {
        let event = Event::sample(EventKind::Delivery, "ws_1");
        let body = render(&event, &fields::defaults(EventKind::Delivery));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"message_id":"api_42","recipient":"+14155551234","sender_id":"MyApp","status":"DELIVRD","status_code":"000","num_parts":1,"cost":0.0085,"timestamp":"2026-02-13T10:30:04Z"}"#
        );
    }

    #[test]
    fn opt_in_workspace_id() {
        let body = render(
            &Event::sample(EventKind::Delivery, "ws_1"),
            &["message_id", "workspace_id"],
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"message_id":"api_42","workspace_id":"ws_1"}"#
        );
    }
}
