//! The HTTP client: pooled connections, no redirects, and a DNS resolver that applies the URL
//! policy to every address it returns, so a host name re-pointed at a private address after
//! it was configured (DNS rebinding) is never connected to.

use hookline_security::UrlPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

struct PolicyResolver {
    policy: UrlPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved.filter(|a| policy.ip_allowed(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to forbidden addresses").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

pub fn build(policy: &UrlPolicy) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        // 3xx is a failure, never followed: a redirect could lead anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PolicyResolver { policy: policy.clone() }))
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
}
