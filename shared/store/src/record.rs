//! The compact binary form of an [`AcceptedMessage`] kept in Redis for the DLR join: about a
//! third of its JSON (a canonical UUID message id in 16 bytes, lengths as one-byte varints, no
//! field names), and lossless, so every payload renders exactly as it did from the JSON.
//!
//! Layout (version 1): `[1] owner flags body`, where `owner` is the workspace id and the
//! message id: the bytes [`owner`] returns, which the store's ownership script compares
//! without decoding the rest (first writer wins, see `Store::put_message`).
//!
//! ```text
//! owner   = str(workspace_id) message_id
//! message_id = 0x00 uuid(16) | str
//! str     = varint(len + 1) bytes        (0 is the UUID marker above)
//! flags   = bit 0 workspace_feed, 1 carrier_connection, 2 broadcast_id, 3 send_path,
//!           4 details, 5 cost != 0, 6 num_parts != 1, 7 cost as f64
//! body    = [str(carrier_connection)] str(carrier_message_id) str(recipient) str(sender_id)
//!           [varint(num_parts)] [cost] zigzag(secs) varint(nanos) channel(u8)
//!           [str(broadcast_id)] [send_path(u8)] [str(details JSON)]
//! cost    = zigzag(mantissa) zigzag(exponent)   (its shortest decimal: 0.0085 is 85e-4)
//!         | f64 LE                              (flag 7)
//! ```

use chrono::{DateTime, Utc};
use hookline_model::{AcceptedMessage, Channel, SendPath};

const VERSION: u8 = 1;

const FEED: u8 = 1;
const CONNECTION: u8 = 1 << 1;
const BROADCAST: u8 = 1 << 2;
const SEND_PATH: u8 = 1 << 3;
const DETAILS: u8 = 1 << 4;
const COST: u8 = 1 << 5;
const PARTS: u8 = 1 << 6;
/// The cost is 8 raw bytes, not a decimal (a value with no short decimal form).
const RAW_COST: u8 = 1 << 7;

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stored message record does not decode: {0}")]
pub struct RecordError(&'static str);

impl RecordError {
    pub(crate) fn new(what: &'static str) -> Self {
        Self(what)
    }
}

/// The encoded record.
pub fn encode(m: &AcceptedMessage) -> Vec<u8> {
    let mut out = owner(&m.workspace_id, &m.message_id);
    let decimal = decimal_cost(m.cost);
    let mut flags = 0;
    for (on, bit) in [
        (m.cost.to_bits() != 0 && decimal.is_none(), RAW_COST),
        (m.workspace_feed, FEED),
        (m.carrier_connection.is_some(), CONNECTION),
        (m.broadcast_id.is_some(), BROADCAST),
        (m.send_path.is_some(), SEND_PATH),
        (m.details.is_some(), DETAILS),
        (m.cost.to_bits() != 0, COST),
        (m.num_parts != 1, PARTS),
    ] {
        if on {
            flags |= bit;
        }
    }
    out.push(flags);
    if let Some(c) = &m.carrier_connection {
        put_str(&mut out, c);
    }
    put_str(&mut out, &m.carrier_message_id);
    put_str(&mut out, &m.recipient);
    put_str(&mut out, &m.sender_id);
    if flags & PARTS != 0 {
        put_varint(&mut out, u64::from(m.num_parts));
    }
    if flags & RAW_COST != 0 {
        out.extend_from_slice(&m.cost.to_le_bytes());
    } else if let (true, Some((mantissa, exponent))) = (flags & COST != 0, decimal) {
        put_varint(&mut out, zigzag(mantissa));
        put_varint(&mut out, zigzag(exponent));
    }
    put_varint(&mut out, zigzag(m.accepted_at.timestamp()));
    put_varint(&mut out, u64::from(m.accepted_at.timestamp_subsec_nanos()));
    out.push(channel_code(m.channel));
    if let Some(b) = &m.broadcast_id {
        put_str(&mut out, b);
    }
    if let Some(p) = m.send_path {
        out.push(send_path_code(p));
    }
    if let Some(d) = &m.details {
        // Rare and open-ended (the SMSEdge message record): JSON keeps it lossless.
        put_bytes(&mut out, &serde_json::to_vec(d).expect("message details serialize"));
    }
    out
}

/// The bytes a record of this owner starts with: the version, the workspace id and the message
/// id. Two records are the same message's exactly when these agree.
pub fn owner(workspace_id: &str, message_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(VERSION);
    put_str(&mut out, workspace_id);
    match uuid_bytes(message_id) {
        Some(u) => {
            out.push(0);
            out.extend_from_slice(&u);
        }
        None => put_str(&mut out, message_id),
    }
    out
}

/// Decodes a record [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<AcceptedMessage, RecordError> {
    let mut r = Reader(bytes);
    if r.byte()? != VERSION {
        return Err(RecordError("unknown version"));
    }
    let workspace_id = r.str()?;
    let message_id = if r.0.first() == Some(&0) {
        r.byte()?;
        uuid_string(r.take(16)?)
    } else {
        r.str()?
    };
    let flags = r.byte()?;
    let carrier_connection = (flags & CONNECTION != 0).then(|| r.str()).transpose()?;
    let carrier_message_id = r.str()?;
    let recipient = r.str()?;
    let sender_id = r.str()?;
    let num_parts = if flags & PARTS != 0 {
        u32::try_from(r.varint()?).map_err(|_| RecordError("num_parts"))?
    } else {
        1
    };
    let cost = if flags & RAW_COST != 0 {
        f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"))
    } else if flags & COST != 0 {
        let (mantissa, exponent) = (unzigzag(r.varint()?), unzigzag(r.varint()?));
        format!("{mantissa}e{exponent}")
            .parse()
            .map_err(|_| RecordError("cost"))?
    } else {
        0.0
    };
    let secs = unzigzag(r.varint()?);
    let nanos = u32::try_from(r.varint()?).map_err(|_| RecordError("nanos"))?;
    let accepted_at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos).ok_or(RecordError("accepted_at"))?;
    let channel = channel_of(r.byte()?)?;
    let broadcast_id = (flags & BROADCAST != 0).then(|| r.str()).transpose()?;
    let send_path = (flags & SEND_PATH != 0)
        .then(|| r.byte().and_then(send_path_of))
        .transpose()?;
    let details = (flags & DETAILS != 0)
        .then(|| {
            let raw = r.bytes()?;
            serde_json::from_slice(raw).map_err(|_| RecordError("details"))
        })
        .transpose()?;
    if !r.0.is_empty() {
        return Err(RecordError("trailing bytes"));
    }
    Ok(AcceptedMessage {
        message_id,
        carrier_message_id,
        carrier_connection,
        workspace_id,
        workspace_feed: flags & FEED != 0,
        recipient,
        sender_id,
        num_parts,
        cost,
        broadcast_id,
        send_path,
        accepted_at,
        channel,
        details,
    })
}

/// `cost` as `mantissa × 10^exponent` with the fewest digits that still parse back to the
/// same `f64`, if it has such a form (not for -0, infinities, NaN).
fn decimal_cost(cost: f64) -> Option<(i64, i64)> {
    // `{:e}` is the shortest representation that round-trips: `8.5e-3`.
    let text = format!("{cost:e}");
    let (digits, exponent) = text.split_once('e')?;
    let negative = digits.starts_with('-');
    let digits = digits.trim_start_matches('-');
    let fraction = digits.split_once('.').map_or(0, |(_, f)| f.len());
    let mantissa: i64 = digits.replace('.', "").parse().ok()?;
    let mantissa = if negative { -mantissa } else { mantissa };
    let exponent = exponent.parse::<i64>().ok()? - fraction as i64;
    let back: f64 = format!("{mantissa}e{exponent}").parse().ok()?;
    (back.to_bits() == cost.to_bits()).then_some((mantissa, exponent))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn channel_code(c: Channel) -> u8 {
    match c {
        Channel::Sms => 0,
        Channel::Mms => 1,
        Channel::Whatsapp => 2,
        Channel::Rcs => 3,
    }
}

fn channel_of(b: u8) -> Result<Channel, RecordError> {
    Ok(match b {
        0 => Channel::Sms,
        1 => Channel::Mms,
        2 => Channel::Whatsapp,
        3 => Channel::Rcs,
        _ => return Err(RecordError("channel")),
    })
}

fn send_path_code(p: SendPath) -> u8 {
    match p {
        SendPath::ApiSingle => 0,
        SendPath::ApiBatch => 1,
        SendPath::Broadcast => 2,
    }
}

fn send_path_of(b: u8) -> Result<SendPath, RecordError> {
    Ok(match b {
        0 => SendPath::ApiSingle,
        1 => SendPath::ApiBatch,
        2 => SendPath::Broadcast,
        _ => return Err(RecordError("send_path")),
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64 + 1);
    out.extend_from_slice(b);
}

/// A canonical lowercase UUID's 16 bytes (anything else is stored as text).
fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn uuid_string(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError("varint"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let n = self.varint()?.checked_sub(1).ok_or(RecordError("length"))?;
        self.take(usize::try_from(n).map_err(|_| RecordError("length"))?)
    }

    fn str(&mut self) -> Result<String, RecordError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| RecordError("utf-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_model::MessageDetails;

    fn sample() -> AcceptedMessage {
        AcceptedMessage {
            message_id: "0d1f7c2e-9a4b-4c3d-a1b2-00000000002a".into(),
            carrier_message_id: "5bd1e99500c0ffee".into(),
            carrier_connection: Some("smpp-eu-1".into()),
            workspace_id: "ws-0042".into(),
            workspace_feed: false,
            recipient: "+14155550142".into(),
            sender_id: "Hookline".into(),
            num_parts: 1,
            cost: 0.0085,
            broadcast_id: None,
            send_path: None,
            accepted_at: DateTime::from_timestamp(1_796_000_000, 123_456_789).unwrap(),
            channel: Channel::Sms,
            details: None,
        }
    }

    #[test]
    fn a_typical_message_round_trips_in_a_third_of_its_json() {
        let m = sample();
        let bytes = encode(&m);
        assert_eq!(decode(&bytes).unwrap(), m);
        let json = serde_json::to_vec(&m).unwrap().len();
        assert!(bytes.len() * 3 <= json + 30, "{} bytes vs {json} of JSON", bytes.len());
        assert!(bytes.starts_with(&owner("ws-0042", &m.message_id)));
    }

    #[test]
    fn every_optional_field_and_odd_ids_round_trip() {
        let mut m = sample();
        m.message_id = "MSG-not-a-uuid:ü".into();
        m.carrier_connection = None;
        m.workspace_feed = true;
        m.broadcast_id = Some("b-7".into());
        m.send_path = Some(SendPath::Broadcast);
        m.num_parts = 300;
        m.cost = -1.5e-7;
        m.channel = Channel::Whatsapp;
        m.accepted_at = DateTime::from_timestamp(-86_400, 0).unwrap();
        m.details = Some(MessageDetails {
            text: Some("x".repeat(300)),
            ..Default::default()
        });
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        // An uppercase UUID is not canonical: kept as text, so it comes back as sent.
        m.message_id = "0D1F7C2E-9A4B-4C3D-A1B2-00000000002A".into();
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn costs_round_trip_bit_for_bit() {
        let mut m = sample();
        for cost in [
            0.0085,
            1.0,
            12345.678,
            1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            -0.0,
            0.1 + 0.2,
            f64::INFINITY,
        ] {
            m.cost = cost;
            assert_eq!(decode(&encode(&m)).unwrap().cost.to_bits(), cost.to_bits(), "{cost:e}");
        }
        m.cost = 0.0085;
        let short = encode(&m).len();
        m.cost = 0.1 + 0.2;
        assert!(encode(&m).len() > short, "17 digits take more bytes than 2");
    }

    #[test]
    fn owners_differ_when_either_id_does() {
        let a = owner("ws", "m1");
        assert_ne!(a, owner("ws", "m2"));
        assert_ne!(a, owner("ws2", "m1"));
        // Length-prefixed, so the boundary between the ids cannot move.
        assert_ne!(owner("ab", "c"), owner("a", "bc"));
        let m = sample();
        assert!(!encode(&m).starts_with(&owner("ws-004", &m.message_id)));
    }

    #[test]
    fn damaged_bytes_are_an_error_never_a_panic() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated at {n}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
        assert!(decode(b"{\"message_id\":\"m\"}").is_err());
    }
}
