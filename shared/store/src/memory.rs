//! The in-memory backend of the embedded mode. Same semantics as Redis (TTL, capped lists),
//! nothing survives the process.

use crate::attempt_stats::HashWrites;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    values: HashMap<String, (Vec<u8>, Instant)>,
    lists: HashMap<String, VecDeque<Vec<u8>>>,
    hashes: HashMap<String, (HashMap<String, Vec<u8>>, Instant)>,
    writes: u64,
    /// Hashes read ([`MemoryStore::hgetall`]): the `HGETALL`s Redis would have served.
    hash_reads: u64,
}

impl MemoryStore {
    pub fn set_ex(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let mut g = self.inner.lock().expect("memory store lock");
        let now = Instant::now();
        g.values.insert(key.to_string(), (value, now + ttl));
        // Expired entries are swept every 4096 writes so memory stays bounded by the TTL.
        g.writes += 1;
        if g.writes.is_multiple_of(4096) {
            g.values.retain(|_, (_, exp)| *exp > now);
        }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let g = self.inner.lock().expect("memory store lock");
        g.values
            .get(key)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(v, _)| v.clone())
    }

    pub fn del(&self, key: &str) {
        self.inner.lock().expect("memory store lock").values.remove(key);
    }

    /// The holder of `key` if it has one, else sets it to `claimant` and returns `None`.
    pub fn claim(&self, key: &str, claimant: &str, ttl: Duration) -> Option<String> {
        let mut g = self.inner.lock().expect("memory store lock");
        let now = Instant::now();
        if let Some((v, exp)) = g.values.get(key) {
            if *exp > now {
                return Some(String::from_utf8_lossy(v).into_owned());
            }
        }
        g.values
            .insert(key.to_string(), (claimant.as_bytes().to_vec(), now + ttl));
        None
    }

    /// Sets every key to `value` for `ttl` unless one of them holds a live value that `ours`
    /// does not accept; then sets nothing and returns that key's index. One lock, so it is as
    /// atomic as the Redis script it stands in for.
    pub fn set_ex_owned(
        &self,
        keys: &[&str],
        value: &[u8],
        ttl: Duration,
        ours: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        let mut g = self.inner.lock().expect("memory store lock");
        let now = Instant::now();
        for (i, key) in keys.iter().enumerate() {
            if let Some((v, exp)) = g.values.get(*key) {
                if *exp > now && !ours(v) {
                    return Some(i);
                }
            }
        }
        for key in keys {
            g.values.insert(key.to_string(), (value.to_vec(), now + ttl));
        }
        None
    }

    pub fn push_capped(&self, key: &str, value: Vec<u8>, keep: usize) {
        let mut g = self.inner.lock().expect("memory store lock");
        let list = g.lists.entry(key.to_string()).or_default();
        list.push_front(value);
        list.truncate(keep.max(1));
    }

    pub fn remove_one(&self, key: &str, value: &[u8]) {
        let mut g = self.inner.lock().expect("memory store lock");
        if let Some(list) = g.lists.get_mut(key) {
            if let Some(i) = list.iter().position(|v| v == value) {
                list.remove(i);
            }
        }
    }

    /// Makes the hash writes, each key touched then living `ttl` (Redis's `HINCRBY`, `HSET`,
    /// `EXPIRE`).
    pub fn write_hashes(&self, w: &HashWrites, ttl: Duration) {
        let mut g = self.inner.lock().expect("memory store lock");
        let now = Instant::now();
        for key in w.keys() {
            let (hash, exp) = g.hashes.entry(key.clone()).or_insert_with(|| (HashMap::new(), now));
            if *exp <= now {
                hash.clear();
            }
            *exp = now + ttl;
            for (field, n) in w.incr.get(key).into_iter().flatten() {
                let v = hash.entry(field.clone()).or_default();
                let old: i64 = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
                *v = (old + n).to_string().into_bytes();
            }
            for (field, value) in w.set.get(key).into_iter().flatten() {
                hash.insert(field.clone(), value.clone());
            }
        }
        // Expired hashes are swept like expired values.
        g.writes += 1;
        if g.writes.is_multiple_of(4096) {
            g.hashes.retain(|_, (_, exp)| *exp > now);
        }
    }

    /// Every field of a hash; empty when it is missing or expired.
    pub fn hgetall(&self, key: &str) -> HashMap<String, Vec<u8>> {
        let mut g = self.inner.lock().expect("memory store lock");
        g.hash_reads += 1;
        g.hashes
            .get(key)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(h, _)| h.clone())
            .unwrap_or_default()
    }

    /// How many hashes were read so far: what the same reads would cost Redis in `HGETALL`s,
    /// for tests that bound a request's store work.
    pub fn hash_reads(&self) -> u64 {
        self.inner.lock().expect("memory store lock").hash_reads
    }

    pub fn range(&self, key: &str, limit: usize) -> Vec<Vec<u8>> {
        let g = self.inner.lock().expect("memory store lock");
        g.lists
            .get(key)
            .map(|l| l.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_cap() {
        let m = MemoryStore::default();
        m.set_ex("a", b"1".to_vec(), Duration::from_millis(0));
        assert_eq!(m.get("a"), None);
        m.set_ex("b", b"2".to_vec(), Duration::from_secs(60));
        assert_eq!(m.get("b"), Some(b"2".to_vec()));
        for i in 0..5u8 {
            m.push_capped("l", vec![i], 3);
        }
        assert_eq!(m.range("l", 10), vec![vec![4], vec![3], vec![2]]);
    }
}
