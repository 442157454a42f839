//! The Redis backend. One multiplexed connection, re-established automatically by the
//! connection manager when Redis restarts.

use crate::attempt_stats::HashWrites;
use crate::StoreError;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    pub async fn set_ex(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.set_ex_all(&[key], value, ttl).await
    }

    /// Sets every key to `value` with `ttl` in one round trip (one atomic pipeline).
    pub async fn set_ex_all(&self, keys: &[&str], value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in keys {
            pipe.cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .ignore();
        }
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// Sets every key to `value` with `ttl` unless one already holds a message record of
    /// another owner (`workspace_id`, `message_id` differ, or it does not decode); then sets
    /// nothing and returns that key's index. One script, so two writers cannot interleave.
    pub async fn set_ex_owned(
        &self,
        keys: &[&str],
        value: &[u8],
        ttl: Duration,
        workspace_id: &str,
        message_id: &str,
    ) -> Result<Option<usize>, StoreError> {
        const SCRIPT: &str = "for i, k in ipairs(KEYS) do \
              local v = redis.call('GET', k) \
              if v then \
                local ok, d = pcall(cjson.decode, v) \
                if not ok or type(d) ~= 'table' or d.workspace_id ~= ARGV[3] or d.message_id ~= ARGV[4] then \
                  return i - 1 \
                end \
              end \
            end \
            for _, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) end \
            return -1";
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT).arg(keys.len());
        for key in keys {
            cmd.arg(self.key(key));
        }
        cmd.arg(value)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(workspace_id)
            .arg(message_id);
        let i: i64 = cmd.query_async(&mut c).await?;
        Ok(usize::try_from(i).ok())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GET").arg(self.key(key)).query_async(&mut c).await?)
    }

    pub async fn push_capped(&self, key: &str, value: &[u8], keep: usize) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        redis::pipe()
            .atomic()
            .cmd("LPUSH")
            .arg(&k)
            .arg(value)
            .ignore()
            .cmd("LTRIM")
            .arg(&k)
            .arg(0)
            .arg(keep.max(1) as i64 - 1)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// For each list, prepends its values (in order, so the last ends first) and trims it to
    /// `keep`, and makes the hash writes `hashes` (each key touched then lives
    /// [`crate::attempt_stats::KEEP`]): one atomic pipeline for all of them.
    pub async fn push_capped_many(
        &self,
        lists: &[(String, Vec<&[u8]>)],
        keep: usize,
        hashes: &HashWrites,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, values) in lists {
            let k = self.key(key);
            pipe.cmd("LPUSH").arg(&k).arg(values.as_slice()).ignore();
            pipe.cmd("LTRIM").arg(&k).arg(0).arg(keep.max(1) as i64 - 1).ignore();
        }
        for (key, fields) in &hashes.incr {
            for (field, n) in fields {
                pipe.cmd("HINCRBY").arg(self.key(key)).arg(field).arg(*n).ignore();
            }
        }
        for (key, fields) in &hashes.set {
            for (field, value) in fields {
                pipe.cmd("HSET")
                    .arg(self.key(key))
                    .arg(field)
                    .arg(value.as_slice())
                    .ignore();
            }
        }
        for key in hashes.keys() {
            pipe.cmd("EXPIRE")
                .arg(self.key(key))
                .arg(crate::attempt_stats::KEEP.as_secs())
                .ignore();
        }
        pipe.query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// Every field of each hash (empty for a missing key), in one round trip.
    pub async fn hgetall_many(&self, keys: &[String]) -> Result<Vec<HashMap<String, Vec<u8>>>, StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("HGETALL").arg(self.key(key));
        }
        Ok(pipe.query_async(&mut c).await?)
    }

    pub async fn range(&self, key: &str, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let mut c = self.conn.clone();
        Ok(redis::cmd("LRANGE")
            .arg(self.key(key))
            .arg(0)
            .arg(limit as i64 - 1)
            .query_async(&mut c)
            .await?)
    }

    pub async fn remove_one(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("LREM")
            .arg(self.key(key))
            .arg(1)
            .arg(value)
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    pub async fn del(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// `SET key claimant NX PX ttl`, returning the current holder when it was already set.
    /// A script rather than `SET … NX GET` so it works on Redis 6 too.
    pub async fn claim(&self, key: &str, claimant: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        const SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
            if v then return v end \
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
            return false";
        let mut c = self.conn.clone();
        Ok(redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.key(key))
            .arg(claimant)
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut c)
            .await?)
    }
}
