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
