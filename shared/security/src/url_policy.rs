//! Which webhook URLs Hookline may call (SSRF protection).
//!
//! A customer-supplied URL must never reach the platform's own network: loopback, private,
//! link-local (cloud metadata at 169.254.169.254), CGNAT, unspecified, multicast or reserved
//! addresses are refused in every spelling. The WHATWG parser in `url` already turns
//! `2130706433`, `0x7f.1` and `0177.0.0.1` into `127.0.0.1`; IPv4-mapped, -compatible and
//! NAT64 IPv6 forms are unwrapped here. The check runs twice: when the URL is configured
//! ([`UrlPolicy::check`], which also resolves the host) and at connect time (delivery's DNS
//! resolver calls [`UrlPolicy::ip_allowed`] on every resolved address), so a DNS answer that
//! changes after configuration (rebinding) cannot reach a forbidden address either.
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
    #[error("URL targets a forbidden address ({0})")]
    ForbiddenAddress(IpAddr),
}

/// The operator's URL policy.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    allow_http: bool,
    allow_cidrs: Vec<IpNet>,
}

impl UrlPolicy {
    pub fn new(allow_http: bool, allow_cidrs: Vec<IpNet>) -> Self {
        Self {
            allow_http,
            allow_cidrs,
        }
    }

    /// Checks scheme, length and (for IP literals) the address, without DNS.
    pub fn check_syntax(&self, raw: &str) -> Result<Url, UrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| UrlError::Parse)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(UrlError::HttpsRequired),
            other => return Err(UrlError::Scheme(other.to_string())),
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

    /// [`check_syntax`](Self::check_syntax), then resolves a host name and refuses it if any
    /// address it resolves to is forbidden. A name that does not resolve now is accepted: it
    /// may be created later, and the connect-time check still guards it.
    pub async fn check(&self, raw: &str) -> Result<Url, UrlError> {
        let url = self.check_syntax(raw)?;
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
            IpAddr::V6(v6) => match embedded_v4(v6) {
                // Judge the embedded IPv4 address, also against the allowlist.
                Some(v4) => self.ip_allowed(IpAddr::V4(v4)),
                None => is_public_v6(v6),
            },
        }
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    None
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
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only 100::/64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> UrlPolicy {
        UrlPolicy::new(false, vec![])
    }

    #[test]
    fn refuses_every_spelling_of_internal_addresses() {
        let p = UrlPolicy::new(true, vec![]);
        for raw in [
            "http://127.0.0.1/x",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://169.254.169.254/latest/meta-data",
            "http://[fd00:ec2::254]/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.100.100.200/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
        ] {
            assert!(
                matches!(p.check_syntax(raw), Err(UrlError::ForbiddenAddress(_))),
                "{raw} was accepted: {:?}",
                p.check_syntax(raw)
            );
        }
    }

    #[test]
    fn schemes_and_https() {
        assert_eq!(
            strict().check_syntax("ftp://example.com/"),
            Err(UrlError::Scheme("ftp".into()))
        );
        assert_eq!(
            strict().check_syntax("file:///etc/passwd"),
            Err(UrlError::Scheme("file".into()))
        );
        assert_eq!(
            strict().check_syntax("http://example.com/"),
            Err(UrlError::HttpsRequired)
        );
        assert_eq!(strict().check_syntax("not a url"), Err(UrlError::Parse));
        assert!(strict().check_syntax("https://example.com/hook").is_ok());
        assert!(strict().check_syntax("https://8.8.8.8/hook").is_ok());
        assert!(strict().check_syntax("https://[2606:4700::1111]/").is_ok());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(strict().check_syntax(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn allowlist_opens_a_range_only() {
        let p = UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(p.check_syntax("http://127.0.0.1:8080/").is_ok());
        assert!(p.check_syntax("http://[::ffff:127.0.0.1]/").is_ok());
        assert!(p.check_syntax("http://10.0.0.1/").is_err());
        assert!(p.check_syntax("http://[::1]/").is_err());
    }

    #[tokio::test]
    async fn resolves_names() {
        assert!(matches!(
            UrlPolicy::new(true, vec![]).check("http://localhost:9/").await,
            Err(UrlError::ForbiddenAddress(_))
        ));
        // Unresolvable names are accepted; connect time decides.
        assert!(strict().check("https://hookline-test.invalid/").await.is_ok());
    }
}
