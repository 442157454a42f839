//! What happens after a failed attempt: the next attempt's due time and tier, or the
//! dead-letter topic.

use hookline_model::RetryPolicy;
use std::time::Duration;

/// Where a failed attempt's record goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Attempt `attempt` at `due_ms` (Unix ms), via the tier of `tier_secs`.
    Retry { attempt: u32, due_ms: i64, tier_secs: u64 },
    /// The policy is exhausted.
    Dead,
}

/// Retry scheduling settings.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Tier delays in seconds, ascending.
    pub tiers_secs: Vec<u64>,
    /// Multiplies every delay and tier (tests run a 6 h policy in seconds); 1.0 in production.
    pub scale: f64,
}

impl Schedule {
    /// The step after attempt `attempt` (1-based) failed at `now_ms`. A `Retry-After` from a
    /// 429 or 503 pushes the next attempt later, but never beyond the time the policy's
    /// remaining delays add up to.
    pub fn after_failure(
        &self,
        policy: &RetryPolicy,
        attempt: u32,
        retry_after: Option<Duration>,
        now_ms: i64,
    ) -> Next {
        let Some(&delay_secs) = policy.delays_secs.get(attempt.saturating_sub(1) as usize) else {
            return Next::Dead;
        };
        let mut delay = self.scaled(delay_secs);
        if let Some(ra) = retry_after {
            // Delays come from the config topic, unbounded: the sum saturates.
            let window = policy.delays_secs[attempt.saturating_sub(1) as usize..]
                .iter()
                .fold(0u64, |sum, d| sum.saturating_add(*d));
            delay = delay.max(ra.min(self.scaled(window)));
        }
        Next::Retry {
            attempt: attempt + 1,
            due_ms: now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            tier_secs: self.tier_for(delay),
        }
    }

    /// A later try of the same attempt (endpoint saturated or rate limited): the tier for
    /// `wait`.
    pub fn tier_for(&self, wait: Duration) -> u64 {
        let first = self.tiers_secs.first().copied().unwrap_or(0);
        self.tiers_secs
            .iter()
            .copied()
            .filter(|t| self.scaled(*t) <= wait)
            .max()
            .unwrap_or(first)
    }

    /// `secs` times the scale; a delay longer than a `Duration` holds (a policy of the config
    /// topic may say anything up to `u64::MAX` seconds) is `Duration::MAX`, never a panic.
    fn scaled(&self, secs: u64) -> Duration {
        Duration::try_from_secs_f64(secs as f64 * self.scale).unwrap_or(Duration::MAX)
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(scale: f64) -> Schedule {
        Schedule {
            tiers_secs: hookline_model::retry::default_tiers_secs(),
            scale,
        }
    }

    #[test]
    fn telecom23_schedule() {
        let p = RetryPolicy::telecom23();
        let s = schedule(1.0);
        assert_eq!(
            s.after_failure(&p, 1, None, 0),
            Next::Retry {
                attempt: 2,
                due_ms: 10_000,
                tier_secs: 10
            }
        );
        assert_eq!(
            s.after_failure(&p, 2, None, 0),
            Next::Retry {
                attempt: 3,
                due_ms: 30_000,
                tier_secs: 30
            }
        );
        assert_eq!(s.after_failure(&p, 3, None, 0), Next::Dead);
    }

    #[test]
    fn retry_after_is_honoured_within_the_window() {
        let p = RetryPolicy::telecom23();
        let s = schedule(1.0);
        let ra = |secs| Some(Duration::from_secs(secs));
        // Longer than the policy delay: honoured.
        assert_eq!(
            s.after_failure(&p, 1, ra(25), 0),
            Next::Retry {
                attempt: 2,
                due_ms: 25_000,
                tier_secs: 10
            }
        );
        // Beyond the remaining window (10 + 30 s): capped to it.
        assert_eq!(
            s.after_failure(&p, 1, ra(3600), 0),
            Next::Retry {
                attempt: 2,
                due_ms: 40_000,
                tier_secs: 30
            }
        );
        // Shorter than the policy delay: the policy wins.
        assert_eq!(
            s.after_failure(&p, 2, ra(1), 0),
            Next::Retry {
                attempt: 3,
                due_ms: 30_000,
                tier_secs: 30
            }
        );
    }

    #[test]
    fn scaled_smsedge_policy_uses_the_scaled_tier() {
        let p = RetryPolicy::smsedge();
        let s = schedule(0.001);
        assert_eq!(
            s.after_failure(&p, 1, None, 0),
            Next::Retry {
                attempt: 2,
                due_ms: 21_600,
                tier_secs: 21600
            }
        );
        assert_eq!(s.tier_for(Duration::from_millis(1)), 10);
    }

    /// Found by the fuzz target `config_record` (tests/fuzz): a subscription of the config
    /// topic whose retry policy has a delay of `u64::MAX` seconds made delivery panic
    /// (`Duration::from_secs_f64` of 2^64 s, and the window's sum overflowing) on the first
    /// failed attempt. Such delays now saturate: the next attempt is due at the end of time.
    #[test]
    fn absurd_delays_from_a_config_record_saturate_instead_of_panicking() {
        let record = br#"{"workspace_id":"w","subscriptions":[{"id":"s","workspace_id":"w","dialect":"sms_edge","url":"","event_kinds":["inbound"],"schema":"sms_edge","format":"form_sms","retry":{"delays_secs":[18446744073709551615,2]},"timeout_ms":1,"enabled":true}],"version":3}"#;
        let mut st = hookline_model::ConfigState::default();
        st.apply("workspace:w", Some(record)).unwrap();
        let policy = st.subscription("w", "s").unwrap().retry;
        for s in [schedule(1.0), schedule(0.001)] {
            for ra in [None, Some(Duration::MAX), Some(Duration::from_secs(u64::MAX))] {
                for now_ms in [0, 1_770_978_600_000, i64::MAX] {
                    match s.after_failure(&policy, 1, ra, now_ms) {
                        Next::Retry {
                            attempt,
                            due_ms,
                            tier_secs,
                        } => {
                            assert_eq!((attempt, tier_secs), (2, 21600));
                            assert!(due_ms >= now_ms);
                        }
                        Next::Dead => panic!("the policy has two more attempts"),
                    }
                    assert!(matches!(
                        s.after_failure(&policy, 2, ra, now_ms),
                        Next::Retry { attempt: 3, .. }
                    ));
                    assert_eq!(s.after_failure(&policy, 3, ra, now_ms), Next::Dead);
                }
            }
        }
    }

    /// Every built-in policy's retry waits in the tier of its own delay (at any scale), which
    /// holds because every one of its delays is a default tier.
    #[test]
    fn built_in_policies_retry_in_the_tier_of_their_delay() {
        for s in [schedule(1.0), schedule(0.001)] {
            for (name, p) in RetryPolicy::built_in() {
                for (i, delay) in p.delays_secs.iter().enumerate() {
                    let attempt = i as u32 + 1;
                    match s.after_failure(&p, attempt, None, 0) {
                        Next::Retry { tier_secs, .. } => assert_eq!(tier_secs, *delay, "{name} #{attempt}"),
                        Next::Dead => panic!("{name} #{attempt}"),
                    }
                }
                assert_eq!(s.after_failure(&p, p.max_attempts(), None, 0), Next::Dead, "{name}");
            }
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
