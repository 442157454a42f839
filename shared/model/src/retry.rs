//! Retry policy, in one place: the built-in policies (the delays between attempts) and the
//! default delay tiers that carry retries (`<retry topic>.<secs>s`, see `hookline-config`).
//! Delivery schedules a retry due in `d` seconds on the largest tier not above `d`, so every
//! built-in delay is a tier: a policy's retry then waits in a tier of its own delay, not in a
//! shorter one that re-parks it.

use crate::subscription::Dialect;
use serde::{Deserialize, Serialize};

/// The default retry tiers in seconds, as `HOOKLINE_RETRY_TIERS_SECS` takes them (the
/// default of that setting).
pub const DEFAULT_TIERS: &str = "10,30,60,300,1800,3600,21600";

/// [`DEFAULT_TIERS`] as numbers, shortest first.
pub fn default_tiers_secs() -> Vec<u64> {
    DEFAULT_TIERS
        .split(',')
        .map(|t| t.parse().expect("DEFAULT_TIERS is a list of numbers"))
        .collect()
}

/// Delays between attempts. `delays_secs.len() + 1` attempts in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub delays_secs: Vec<u64>,
}

impl RetryPolicy {
    /// 23 Telecom: 3 attempts in total, 10 s then 30 s apart.
    pub fn telecom23() -> Self {
        Self {
            delays_secs: vec![10, 30],
        }
    }

    /// SMSEdge: 3 attempts in total, 6 h apart.
    pub fn smsedge() -> Self {
        Self {
            delays_secs: vec![6 * 3600, 6 * 3600],
        }
    }

    /// No retry: the single attempt of a test send.
    pub fn none() -> Self {
        Self { delays_secs: vec![] }
    }

    /// The policy a new subscription of `dialect` gets: named subscriptions use 23 Telecom's.
    pub fn of(dialect: Dialect) -> Self {
        match dialect {
            Dialect::Telecom23 | Dialect::Named | Dialect::Operational => Self::telecom23(),
            Dialect::SmsEdge => Self::smsedge(),
        }
    }

    /// Every built-in policy, named.
    pub fn built_in() -> [(&'static str, Self); 4] {
        [
            ("23 Telecom", Self::of(Dialect::Telecom23)),
            ("SMSEdge", Self::of(Dialect::SmsEdge)),
            ("named", Self::of(Dialect::Named)),
            ("test send", Self::none()),
        ]
    }

    pub fn max_attempts(&self) -> u32 {
        self.delays_secs.len() as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_delay_is_a_default_tier() {
        let tiers = default_tiers_secs();
        assert!(tiers.windows(2).all(|w| w[0] < w[1]), "ascending: {tiers:?}");
        for (name, policy) in RetryPolicy::built_in() {
            for d in &policy.delays_secs {
                assert!(
                    tiers.contains(d),
                    "{name}: a delay of {d} s has no tier in {DEFAULT_TIERS}"
                );
            }
        }
    }

    #[test]
    fn attempts_per_policy() {
        let attempts = RetryPolicy::built_in().map(|(name, p)| (name, p.max_attempts()));
        assert_eq!(
            attempts,
            [("23 Telecom", 3), ("SMSEdge", 3), ("named", 3), ("test send", 1)]
        );
    }
}
