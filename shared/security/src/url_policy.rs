//! Which webhook URLs Hookline may call (SSRF protection).
//!
//! A customer-supplied URL must never reach the platform's own network: loopback, private,
//! link-local (cloud metadata at 169.254.169.254), CGNAT, unspecified, multicast or reserved
//! addresses are refused in every spelling. The WHATWG parser in `url` already turns
//! `2130706433`, `0x7f.1` and `0177.0.0.1` into `127.0.0.1`. IPv6 prefixes that carry an IPv4
//! address are judged by the IPv4 address they carry (a translator or tunnel would deliver the
//! request there), also against the allowlist:
//!
//! - `::ffff:0:0/96` IPv4-mapped and `::/96` IPv4-compatible (deprecated): the last 32 bits,
//! - `::ffff:0:0:0/96` IPv4-translated (SIIT, RFC 7915/2765): the last 32 bits,
//! - `64:ff9b::/96` NAT64 well-known prefix (RFC 6052): the last 32 bits,
//! - `2002::/16` 6to4 (RFC 3056): bits 16..48,
//! - `2001::/32` Teredo (RFC 4380): the server in bits 32..64 and the client in the last 32
//!   bits XOR `0xffffffff`; both must be allowed.
//!
//! `64:ff9b:1::/48`, the local-use NAT64 prefix (RFC 8215), is refused as a whole: an operator
//! may embed the IPv4 address at any of RFC 6052's positions (prefix /48 to /96), so there is no
//! one place to read it from, and IANA lists the range as not globally reachable — no public
//! endpoint lives there.
//!
//! A URL is also refused when it carries credentials (`https://user:pass@host/`: they would be
//! sent as Basic auth and shown to anyone who may read the configuration, so each dialect has
//! its own auth setting instead) or a control character, literal or percent-encoded (the parser
//! silently drops tab and newline, so what was shown and what was requested would differ).
//! An accepted URL is returned parsed: callers store its serialisation, so what the API and the
//! attempt logs show is exactly what is requested.
//!
//! The check runs twice: when the URL is configured ([`UrlPolicy::check`], which also resolves
//! the host through the system resolver, unless the operator turned that off with
//! [`UrlPolicy::resolving_at_config`]: an air-gapped deployment may have no resolver for
//! customer hosts, or must not send customer-chosen names to it) and at connect time (delivery's DNS resolver calls [`UrlPolicy::ip_allowed`] on
//! every resolved address), so a DNS answer that changes after configuration (rebinding) cannot
//! reach a forbidden address either. When an operator routes delivery through an egress proxy,
//! the proxy resolves the host and owns that second check.
//!
//! IPv6 ranges the IANA special-purpose registry marks not globally reachable are refused as
//! well: unique local, link-local, site-local, documentation (`2001:db8::/32`, `3fff::/20`),
//! benchmarking (`2001:2::/48`), SRv6 SIDs (`5f00::/16`), discard-only (`100::/64`).
//!
//! Operators can allow CIDRs explicitly (tests allow `127.0.0.0/8` for loopback receivers).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Longest URL accepted; longer ones are refused rather than truncated.
pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid absolute URL")]
    Parse,
    #[error("URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("scheme `{0}` is not allowed (use https)")]
    Scheme(String),
    #[error("plain http is not allowed by this deployment (use https)")]
    HttpsRequired,
    #[error("URL has no host")]
    NoHost,
    #[error("URL must not contain credentials (user:password@host); use the webhook's auth settings")]
    Credentials,
    #[error("URL must not contain control characters (also percent-encoded ones such as %0A)")]
    ControlCharacter,
    #[error("URL targets a forbidden address ({0})")]
    ForbiddenAddress(IpAddr),
}

/// The operator's URL policy.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    allow_http: bool,
    allow_cidrs: Vec<IpNet>,
    /// Whether [`check`](Self::check) resolves host names (`HOOKLINE_URL_RESOLVE_AT_CONFIG`).
    resolve_at_config: bool,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self::new(false, vec![])
    }
}

impl UrlPolicy {
    pub fn new(allow_http: bool, allow_cidrs: Vec<IpNet>) -> Self {
        Self {
            allow_http,
            allow_cidrs,
            resolve_at_config: true,
        }
    }

    /// Whether configuring a URL resolves its host name (default: yes) to refuse a name that
    /// points at a forbidden address at once. Off, a name is judged at connect time only
    /// (delivery's resolver checks every address it resolves), and no customer-chosen name
    /// is sent to the API's system resolver.
    pub fn resolving_at_config(mut self, resolve: bool) -> Self {
        self.resolve_at_config = resolve;
        self
    }

    /// Checks length, characters, scheme, credentials and (for IP literals) the address,
    /// without DNS. The returned URL is the one to store and request: its serialisation is
    /// normalised (lower-case scheme and host, default port dropped, dot segments resolved).
    pub fn check_syntax(&self, raw: &str) -> Result<Url, UrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        if has_control_character(raw) {
            return Err(UrlError::ControlCharacter);
        }
        let url = Url::parse(raw).map_err(|_| UrlError::Parse)?;
        // Normalising can lengthen a URL (percent-encoding, punycode); the stored form is bounded.
        if url.as_str().len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(UrlError::HttpsRequired),
            other => return Err(UrlError::Scheme(other.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        match url.host() {
            None => return Err(UrlError::NoHost),
            Some(Host::Ipv4(ip)) => self.require_allowed(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.require_allowed(IpAddr::V6(ip))?,
            Some(Host::Domain("")) => return Err(UrlError::NoHost),
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// [`check_syntax`](Self::check_syntax), then resolves a host name (through the system
    /// resolver, unless [`resolving_at_config`](Self::resolving_at_config) is off) and
    /// refuses it if any address it resolves to is forbidden. A name that does not resolve
    /// now is accepted: it may be created later, and the connect-time check still guards it.
    pub async fn check(&self, raw: &str) -> Result<Url, UrlError> {
        let url = self.check_syntax(raw)?;
        if !self.resolve_at_config {
            return Ok(url);
        }
        if let Some(Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            if let Ok(addrs) = tokio::net::lookup_host((name, port)).await {
                for addr in addrs {
                    self.require_allowed(addr.ip())?;
                }
            }
        }
        Ok(url)
    }

    fn require_allowed(&self, ip: IpAddr) -> Result<(), UrlError> {
        if self.ip_allowed(ip) {
            Ok(())
        } else {
            Err(UrlError::ForbiddenAddress(ip))
        }
    }

    /// Whether Hookline may connect to `ip`: in an allowed CIDR, or a public address.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        if self.allow_cidrs.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        match ip {
            IpAddr::V4(v4) => is_public_v4(v4),
            IpAddr::V6(v6) => {
                let embedded = embedded_v4(v6);
                if embedded.is_empty() {
                    is_public_v6(v6)
                } else {
                    // Judge the embedded IPv4 addresses, also against the allowlist.
                    embedded.into_iter().all(|v4| self.ip_allowed(IpAddr::V4(v4)))
                }
            }
        }
    }
}

/// Whether `raw` holds a control character (C0, DEL, C1), literally or percent-encoded.
fn has_control_character(raw: &str) -> bool {
    if raw.chars().any(char::is_control) {
        return true;
    }
    // Decode %XX escapes (others are kept as they are) and look again; C1 characters are
    // two-byte UTF-8 sequences, so the decoded bytes are read as UTF-8.
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                decoded.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).chars().any(char::is_control)
}

/// The IPv4 addresses inside an IPv6 address of a prefix that embeds IPv4 (see the module
/// doc); empty for every other address.
fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => vec![v4(hi, lo)],
        // IPv4-translated (SIIT) ::ffff:0:a.b.c.d
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => vec![v4(hi, lo)],
        // IPv4-compatible ::a.b.c.d; `::` and `::1` are IPv6's own unspecified and loopback.
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_loopback() && !v6.is_unspecified() => vec![v4(s[6], s[7])],
        // NAT64 well-known prefix 64:ff9b::a.b.c.d
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => vec![v4(hi, lo)],
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        // Teredo 2001:0:SERVER:flags:port:CLIENT (client and port obfuscated by XOR)
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
            vec![v4(server_hi, server_lo), v4(!client_hi, !client_lo)]
        }
        _ => vec![],
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const BLOCKED: &[(u8, u8, u8, u8, u8)] = &[
        (0, 0, 0, 0, 8),       // "this network", unspecified
        (10, 0, 0, 0, 8),      // private
        (100, 64, 0, 0, 10),   // CGNAT (also Alibaba metadata 100.100.100.200)
        (127, 0, 0, 0, 8),     // loopback
        (169, 254, 0, 0, 16),  // link-local, cloud metadata 169.254.169.254
        (172, 16, 0, 0, 12),   // private
        (192, 0, 0, 0, 24),    // IETF protocol assignments
        (192, 0, 2, 0, 24),    // TEST-NET-1
        (192, 88, 99, 0, 24),  // 6to4 relay anycast
        (192, 168, 0, 0, 16),  // private
        (198, 18, 0, 0, 15),   // benchmarking
        (198, 51, 100, 0, 24), // TEST-NET-2
        (203, 0, 113, 0, 24),  // TEST-NET-3
        (224, 0, 0, 0, 4),     // multicast
        (240, 0, 0, 0, 4),     // reserved, broadcast
    ];
    let bits = u32::from(ip);
    !BLOCKED.iter().any(|&(a, b, c, d, len)| {
        let net = u32::from(Ipv4Addr::new(a, b, c, d));
        let mask = u32::MAX << (32 - len as u32);
        bits & mask == net
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x3fff && s[1] & 0xf000 == 0) // documentation 3fff::/20
        || s[0] == 0x5f00 // SRv6 SIDs 5f00::/16
        || s[..3] == [0x2001, 0x0002, 0] // benchmarking 2001:2::/48
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48 (module doc)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only 100::/64
}

#[cfg(test)]
mod tests;
