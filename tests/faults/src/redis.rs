//! A Redis server of the fault test's own, on a loopback port of its own, so a test can stop,
//! restart or empty it without touching the Redis the rest of the suite shares.
//!
//! [`OwnRedis::persistent`] keeps an append-only file fsynced on every write (a stop and start
//! keeps every key, as a production Redis with persistence does); [`OwnRedis::cache`] keeps
//! nothing (a restart comes back empty, as a cache without persistence does).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct OwnRedis {
    pub port: u16,
    dir: PathBuf,
    persistent: bool,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts a Redis that keeps its data across a stop and start (AOF, `appendfsync always`).
    pub fn persistent(dir: &Path) -> anyhow::Result<Self> {
        Self::start_new(dir, true)
    }

    /// Starts a Redis that keeps nothing on disk: restarted, it is empty.
    pub fn cache(dir: &Path) -> anyhow::Result<Self> {
        Self::start_new(dir, false)
    }

    fn start_new(dir: &Path, persistent: bool) -> anyhow::Result<Self> {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir)?;
        let mut r = Self {
            port: crate::free_ports(1)[0],
            dir,
            persistent,
            child: None,
        };
        r.start()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and directory and waits until it answers PING.
    /// Fails, never skips, when `redis-server` is missing (scripts/test.sh installs it).
    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "redis on {} already runs", self.port);
        let (aof, save) = if self.persistent {
            (["--appendonly", "yes", "--appendfsync", "always"], "3600 1")
        } else {
            (["--appendonly", "no", "--appendfsync", "no"], "")
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(aof)
            .args(["--save", save])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("start redis-server (install Debian's redis-server): {e}"))?;
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "redis on {} not answering",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops the server with SIGTERM (it writes its append-only file first) and reaps it.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            crate::terminate(&mut c, Duration::from_secs(30))?;
        }
        Ok(())
    }

    /// Keys in the server (`DBSIZE`).
    pub fn dbsize(&self) -> anyhow::Result<i64> {
        let reply = self.command("DBSIZE")?;
        reply
            .trim()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("DBSIZE answered {reply:?}"))
    }

    fn answers(&self) -> bool {
        self.command("PING").is_ok_and(|r| r.starts_with("+PONG"))
    }

    /// One inline command and its one-line reply.
    fn command(&self, cmd: &str) -> anyhow::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(format!("{cmd}\r\n").as_bytes())?;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Redis Cluster of the fault test's own: six `redis-server` processes on loopback ports
/// (three masters, a replica each, formed by `redis-cli --cluster create`), nothing on disk,
/// a 2 s node timeout (a dead master's replica takes over a few seconds after it goes).
pub struct OwnRedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl OwnRedisCluster {
    /// Starts the six nodes, forms the cluster and waits until every node says
    /// `cluster_state:ok`. Fails, never skips, when `redis-server` or `redis-cli` is missing.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let ports = crate::free_ports(6);
        let mut children = Vec::new();
        for port in &ports {
            let dir = dir.join(format!("redis-cluster-{port}"));
            std::fs::create_dir_all(&dir)?;
            let log = std::fs::File::create(dir.join("redis.log"))?;
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "2000", "--appendonly", "no", "--save", ""])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|e| anyhow::anyhow!("start redis-server (install Debian's redis-server): {e}"))?;
            children.push(Some(child));
        }
        let me = Self { ports, children };
        for port in &me.ports {
            me.wait(Duration::from_secs(30), || {
                cli(*port, &["PING"]).is_ok_and(|r| r.contains("PONG"))
            })?;
        }
        let nodes: Vec<String> = me.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .map_err(|e| anyhow::anyhow!("redis-cli (Debian's redis-tools): {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for port in &me.ports {
            me.wait(Duration::from_secs(30), || state_ok(*port))?;
        }
        Ok(me)
    }

    /// The seed URLs, comma-separated (`HOOKLINE_REDIS_CLUSTER_NODES`).
    pub fn nodes(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The ports of the nodes that are masters now, as a live node sees them.
    pub fn masters(&self) -> anyhow::Result<Vec<u16>> {
        let live = self.live().next().ok_or_else(|| anyhow::anyhow!("no live node"))?;
        let nodes = cli(live, &["CLUSTER", "NODES"])?;
        Ok(nodes
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(2)
                    .is_some_and(|f| f.contains("master") && !f.contains("fail"))
            })
            .filter_map(|l| l.split(' ').nth(1)?.split(['@', ':']).nth(1)?.parse().ok())
            .collect())
    }

    /// kill -9 of the node on `port`.
    pub fn kill(&mut self, port: u16) -> anyhow::Result<()> {
        let i = self
            .ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster");
        if let Some(mut c) = self.children[i].take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Waits until every live node says `cluster_state:ok` and none still counts `dead` among
    /// the masters: its replica has taken over its slots.
    pub fn wait_failover(&self, dead: u16, timeout: Duration) -> anyhow::Result<()> {
        self.wait(timeout, || {
            self.live().all(state_ok) && self.masters().is_ok_and(|m| m.len() == 3 && !m.contains(&dead))
        })
    }

    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports
            .iter()
            .zip(&self.children)
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
    }

    fn wait(&self, timeout: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
        let started = Instant::now();
        while !ok() {
            anyhow::ensure!(
                started.elapsed() < timeout,
                "the Redis Cluster did not settle in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for OwnRedisCluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().filter_map(Option::take) {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `redis-cli -p <port> <args>`'s output.
fn cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("redis-cli (Debian's redis-tools): {e}"))?;
    anyhow::ensure!(out.status.success(), "redis-cli -p {port} {args:?} failed");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn state_ok(port: u16) -> bool {
    cli(port, &["CLUSTER", "INFO"]).is_ok_and(|i| i.contains("cluster_state:ok"))
}
