//! What delivery derives from a subscription's configuration and keeps between requests.
//!
//! An opened signing secret, an `Authorization` value, a checked URL: each depends only on one
//! configured string, and computing it per webhook (a decryption, an HMAC key schedule, a URL
//! parse and policy check) was a visible share of delivery's CPU. A [`Memo`] keeps the result
//! per string. A changed configuration is a different string and gets its own entry; the map
//! is emptied when it reaches [`MAX_ENTRIES`], which bounds memory when configurations churn.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before the map is emptied and refilled.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Results derived from configured strings, by string.
pub(crate) struct Memo<V> {
    map: Mutex<HashMap<String, V>>,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Self { map: Mutex::default() }
    }
}

impl<V: Clone> Memo<V> {
    /// The value for `key`, computed by `derive` the first time. Failures are not kept: the
    /// next call tries again.
    pub fn get_or_try<E>(&self, key: &str, derive: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(v.clone());
        }
        // Derived outside the lock; two requests racing on a new key both derive it, harmlessly.
        let v = derive()?;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), v.clone());
        Ok(v)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_once_keeps_no_failures_and_stays_bounded() {
        let memo: Memo<usize> = Memo::default();
        let mut calls = 0;
        for _ in 0..3 {
            let v = memo.get_or_try("a", || {
                calls += 1;
                Ok::<_, ()>(1)
            });
            assert_eq!(v, Ok(1));
        }
        assert_eq!(calls, 1);
        assert_eq!(memo.get_or_try("bad", || Err::<usize, _>("no")), Err("no"));
        assert_eq!(
            memo.get_or_try("bad", || Ok::<_, &str>(2)),
            Ok(2),
            "a failure is tried again"
        );
        for i in 0..MAX_ENTRIES {
            memo.get_or_try(&i.to_string(), || Ok::<_, ()>(i)).unwrap();
        }
        assert!(memo.len() <= MAX_ENTRIES);
    }
}
