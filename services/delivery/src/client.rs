//! The HTTP client: pooled connections, no redirects, and a DNS resolver that applies the URL
//! policy to every address it returns, so a host name re-pointed at a private address after
//! it was configured (DNS rebinding) is never connected to.
//!
//! System proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, lower case too) are
//! ignored: reqwest would honour them by default, and a proxy resolves and connects on our
//! behalf, past that resolver. An operator who wants an egress proxy names it explicitly
//! (`HOOKLINE_EGRESS_PROXY`); every webhook request then goes through it and the proxy owns
//! the SSRF policy for the target (Smokescreen-style), since it is the proxy that resolves the
//! host. IP-literal targets are still refused before sending ([`UrlPolicy::check_syntax`]).

use hookline_security::UrlPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

struct PolicyResolver {
    policy: UrlPolicy,
    /// The egress proxy's host name: the operator's own, usually internal, so it is resolved
    /// without the policy. With a proxy every request goes to it, so this resolver is asked
    /// for no other name.
    proxy_host: Option<String>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let exempt = self.proxy_host.as_deref() == Some(name.as_str());
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved.filter(|a| exempt || policy.ip_allowed(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to forbidden addresses").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The client every webhook request uses. `egress_proxy`: the operator's proxy for all of
/// them (`HOOKLINE_EGRESS_PROXY`); `None` connects directly, whatever the environment says.
/// `idle_per_host`: connections kept for reuse per host (`HOOKLINE_DELIVERY_IDLE_CONNECTIONS_PER_HOST`).
pub fn build(
    policy: &UrlPolicy,
    egress_proxy: Option<&Url>,
    idle_per_host: usize,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        // 3xx is a failure, never followed: a redirect could lead anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PolicyResolver {
            policy: policy.clone(),
            proxy_host: egress_proxy.and_then(|p| p.host_str()).map(str::to_string),
        }))
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(idle_per_host)
        .tcp_nodelay(true);
    let builder = match egress_proxy {
        // `proxy` replaces the system proxies as well; `no_proxy` turns them off.
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str())?),
        None => builder.no_proxy(),
    };
    builder.build()
}

/// Parses `HOOKLINE_EGRESS_PROXY`: an absolute `http://` or `https://` URL with a host
/// (credentials for the proxy may be in it), nothing after the port.
pub fn parse_egress_proxy(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not supported (use http:// or https://)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL has no host".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("the proxy URL must be scheme://[user:pass@]host[:port] only".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::parse_egress_proxy;

    #[test]
    fn egress_proxy_urls() {
        assert!(parse_egress_proxy("http://smokescreen.internal:4750").is_ok());
        assert!(parse_egress_proxy("https://u:p@proxy.internal/").is_ok());
        for bad in [
            "smokescreen:4750",
            "socks5://proxy:1080",
            "http://proxy/path",
            "http://proxy/?x=1",
            "http:///",
        ] {
            assert!(parse_egress_proxy(bad).is_err(), "{bad}");
        }
    }
}
