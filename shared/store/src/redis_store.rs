//! The Redis backend: one Redis (one multiplexed connection, re-established automatically by
//! the connection manager when Redis restarts) or a Redis Cluster (the `redis` crate's cluster
//! client, which follows slot moves, and made again from the seed nodes when a node dies, so
//! failovers are followed too). Every script and every atomic pipeline
//! touches one hash slot ([`crate::compact`]); in a cluster, pipelines over several keys are
//! sent unwrapped (each command is still applied in order per node).

use crate::attempt_stats::HashWrites;
use crate::compact::{self, Bucket, Mode, Put, Slot};
use crate::StoreError;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
}

/// One Redis or a cluster, behind the `redis` crate's connection trait.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Arc<Cluster>),
}

/// A cluster connection that is made again when a node stops answering.
///
/// The `redis` crate's cluster client reloads the slot map on `MOVED`, but a node that died
/// (`kill -9` of a master) only makes it reconnect to the same address, so every command for
/// the dead master's slots keeps failing after its replica has taken them over. On such an
/// error the connection is made again from the seed nodes (at most once a second), which
/// reads the slot map the survivors have: Hookline's retries then reach the new master.
struct Cluster {
    client: redis::cluster::ClusterClient,
    conn: RwLock<ClusterConnection>,
    /// When the connection was last made again (and whether that is under way).
    renewed: Mutex<(Instant, bool)>,
}

impl Cluster {
    fn current(&self) -> ClusterConnection {
        self.conn.read().expect("cluster connection lock").clone()
    }

    /// After `e`: makes the connection again in the background if `e` says a node is gone.
    fn after_error(self: &Arc<Self>, e: &redis::RedisError) {
        let node_gone = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || matches!(
                e.kind(),
                redis::ErrorKind::ClusterConnectionNotFound
                    | redis::ErrorKind::Server(
                        redis::ServerErrorKind::ClusterDown | redis::ServerErrorKind::MasterDown
                    )
            );
        if !node_gone {
            return;
        }
        {
            let mut renewed = self.renewed.lock().expect("cluster renewal lock");
            if renewed.1 || renewed.0.elapsed() < Duration::from_secs(1) {
                return;
            }
            *renewed = (Instant::now(), true);
        }
        let me = self.clone();
        tokio::spawn(async move {
            match me.client.get_async_connection().await {
                Ok(c) => {
                    *me.conn.write().expect("cluster connection lock") = c;
                    tracing::info!("redis cluster: connection made again from the seed nodes");
                }
                Err(e) => tracing::warn!(error = %e, "redis cluster: no seed node answers"),
            }
            *me.renewed.lock().expect("cluster renewal lock") = (Instant::now(), false);
        });
    }
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(cluster) => Box::pin(async move {
                let r = cluster.current().req_packed_command(cmd).await;
                if let Err(e) = &r {
                    cluster.after_error(e);
                }
                r
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => Box::pin(async move {
                let r = cluster.current().req_packed_commands(pipeline, offset, count).await;
                if let Err(e) = &r {
                    cluster.after_error(e);
                }
                r
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(_) => 0,
        }
    }
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn: Conn::Single(conn),
            prefix: prefix.to_string(),
        })
    }

    /// Connects to the Redis Cluster these nodes belong to (any one reachable is enough; the
    /// client learns the rest from it).
    pub async fn connect_cluster(nodes: &[String], prefix: &str) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(5))
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(Self {
            conn: Conn::Cluster(Arc::new(Cluster {
                client,
                conn: RwLock::new(conn),
                renewed: Mutex::new((Instant::now(), false)),
            })),
            prefix: prefix.to_string(),
        })
    }

    /// Whether this is a cluster: keys of the layout before [`crate::compact`] (a single
    /// Redis's) are not looked up there.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    fn key(&self, k: &str) -> String {
        format!("{}{}", self.prefix, k)
    }

    /// The entry at `slot`, if any: `(value, true)` when it came from the legacy key
    /// `legacy` (a plain key of the layout before [`crate::compact`]).
    pub async fn find(&self, slot: &Slot, legacy: Option<&str>) -> Result<Option<(Vec<u8>, bool)>, StoreError> {
        let mut inv = compact::find_script().prepare_invoke();
        inv.key(self.key(&slot.dir));
        if let Some(l) = legacy.filter(|_| !self.is_cluster()) {
            inv.key(self.key(l));
        }
        inv.arg(&slot.field[..]).arg(slot.sub);
        let (kind, value): (i64, Vec<u8>) = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(match kind {
            0 => None,
            k => Some((value, k == 2)),
        })
    }

    /// Writes `value` at `slot` for at least `ttl`, as `mode` allows (see [`Mode`]); `legacy`
    /// is the plain key of the layout before, checked the same way (a JSON message of
    /// `owner_ids` is the same owner's).
    pub async fn put(
        &self,
        slot: &Slot,
        value: &[u8],
        mode: Mode<'_>,
        ttl: Duration,
        legacy: Option<&str>,
        owner_ids: (&str, &str),
    ) -> Result<Put, StoreError> {
        let bucket = Bucket::at(SystemTime::now(), ttl);
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let (mode_name, owner): (&str, &[u8]) = match mode {
            Mode::Claim => ("claim", b""),
            Mode::Own(o) => ("own", o),
        };
        let mut inv = compact::put_script().prepare_invoke();
        inv.key(self.key(&slot.dir));
        if let Some(l) = legacy.filter(|_| !self.is_cluster()) {
            inv.key(self.key(l));
        }
        inv.arg(&slot.field[..])
            .arg(slot.sub)
            .arg(value)
            .arg(mode_name)
            .arg(owner)
            .arg(&bucket.name)
            .arg(bucket.end_ms)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(now_ms)
            .arg(owner_ids.0)
            .arg(owner_ids.1);
        let (kind, holder): (i64, Vec<u8>) = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(match kind {
            2 => Put::Refused(holder),
            k => Put::Written { replaced: k == 1 },
        })
    }

    /// Removes the entry at `slot` if it still holds `value`.
    pub async fn undo(&self, slot: &Slot, value: &[u8]) -> Result<(), StoreError> {
        let mut inv = compact::undo_script().prepare_invoke();
        inv.key(self.key(&slot.dir))
            .arg(&slot.field[..])
            .arg(slot.sub)
            .arg(value);
        inv.invoke_async::<i64>(&mut self.conn.clone()).await?;
        Ok(())
    }

    pub async fn set_ex(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
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
            // One key: atomic in a cluster too.
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
    /// [`crate::attempt_stats::KEEP`]): one atomic pipeline for all of them (per hash slot in
    /// a cluster).
    pub async fn push_capped_many(
        &self,
        lists: &[(String, Vec<&[u8]>)],
        keep: usize,
        hashes: &HashWrites,
    ) -> Result<(), StoreError> {
        let mut cmds = Vec::new();
        for (key, values) in lists {
            let k = self.key(key);
            let mut push = redis::cmd("LPUSH");
            push.arg(&k).arg(values.as_slice());
            let mut trim = redis::cmd("LTRIM");
            trim.arg(&k).arg(0).arg(keep.max(1) as i64 - 1);
            cmds.push((k.clone(), push));
            cmds.push((k, trim));
        }
        for (key, fields) in &hashes.incr {
            for (field, n) in fields {
                let mut c = redis::cmd("HINCRBY");
                c.arg(self.key(key)).arg(field).arg(*n);
                cmds.push((self.key(key), c));
            }
        }
        for (key, fields) in &hashes.set {
            for (field, value) in fields {
                let mut c = redis::cmd("HSET");
                c.arg(self.key(key)).arg(field).arg(value.as_slice());
                cmds.push((self.key(key), c));
            }
        }
        for key in hashes.keys() {
            let mut c = redis::cmd("EXPIRE");
            c.arg(self.key(key)).arg(crate::attempt_stats::KEEP.as_secs());
            cmds.push((self.key(key), c));
        }
        let mut runs = Vec::new();
        for pipe in self.pipelines(cmds) {
            let mut c = self.conn.clone();
            runs.push(async move { pipe.query_async::<()>(&mut c).await });
        }
        futures::future::try_join_all(runs).await?;
        Ok(())
    }

    /// Commands (each with the key it touches) as atomic pipelines: one on one Redis; one per
    /// hash slot in a cluster, which refuses a pipeline across slots. Order is kept per key.
    fn pipelines(&self, cmds: Vec<(String, redis::Cmd)>) -> Vec<redis::Pipeline> {
        let mut by_slot: Vec<(Option<redis::cluster_routing::Slot>, redis::Pipeline)> = Vec::new();
        for (key, cmd) in cmds {
            let slot = self
                .is_cluster()
                .then(|| redis::cluster_routing::Slot::for_key(key.as_bytes()));
            let i = match by_slot.iter().position(|(s, _)| *s == slot) {
                Some(i) => i,
                None => {
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    by_slot.push((slot, pipe));
                    by_slot.len() - 1
                }
            };
            by_slot[i].1.add_command(cmd).ignore();
        }
        by_slot.into_iter().map(|(_, p)| p).collect()
    }

    /// Every field of each hash (empty for a missing key), in one round trip (one per hash
    /// slot in a cluster, concurrently).
    pub async fn hgetall_many(&self, keys: &[String]) -> Result<Vec<HashMap<String, Vec<u8>>>, StoreError> {
        if self.is_cluster() {
            let reads = keys.iter().map(|key| {
                let mut c = self.conn.clone();
                let key = self.key(key);
                async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await }
            });
            return Ok(futures::future::try_join_all(reads).await?);
        }
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

    /// `SET key claimant NX PX ttl` on a plain key, returning the current holder when it was
    /// already set. A script rather than `SET … NX GET` so it works on Redis 6 too.
    pub async fn claim(&self, key: &str, claimant: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "local v = redis.call('GET', KEYS[1]) \
                 if v then return v end \
                 redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
                 return false",
            )
        });
        let mut inv = SCRIPT.prepare_invoke();
        inv.key(self.key(key)).arg(claimant).arg(ttl.as_millis().max(1) as u64);
        Ok(inv.invoke_async(&mut self.conn.clone()).await?)
    }
}
