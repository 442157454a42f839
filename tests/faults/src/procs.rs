//! The Hookline services as child processes of the test: started with a deployment's
//! environment and their own admin port, killed with SIGKILL or stopped with SIGTERM by PID,
//! restarted with the same settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The service binaries, next to the test binary's directory (`target/<profile>/`).
fn binary(service: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let bin = dir.join(format!("hookline-{service}"));
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (scripts/faults.sh does)",
        bin.display()
    );
    bin
}

/// One running (or stopped) service process.
struct Proc {
    service: &'static str,
    admin_port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: u32,
}

/// A set of named service processes: `"delivery"`, `"delivery-2"`, … each one of
/// `ingest`, `enrich`, `delivery`, `api`.
pub struct Processes {
    dir: PathBuf,
    env: Vec<(String, String)>,
    /// Give each process a `HOOKLINE_GROUP_INSTANCE_ID` of its own (static membership).
    static_membership: bool,
    procs: BTreeMap<String, Proc>,
    http: reqwest::Client,
}

impl Processes {
    /// Processes that get `env` (a deployment's), logging to `dir/<name>.log`.
    pub fn new(dir: &Path, env: Vec<(String, String)>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            env,
            static_membership: false,
            procs: BTreeMap::new(),
            http: reqwest::Client::new(),
        }
    }

    /// Adds `extra` to the environment of every process started from now on.
    pub fn with_env(mut self, extra: &[(&str, &str)]) -> Self {
        self.env
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Every process started from now on gets its own `group.instance.id` (its name in this
    /// run), kept across restarts.
    pub fn with_static_membership(mut self) -> Self {
        self.static_membership = true;
        self
    }

    /// Starts `name` running `service` with `extra` environment on top of the deployment's.
    pub fn start(&mut self, name: &str, service: &'static str, extra: &[(&str, &str)]) {
        let admin_port = crate::free_ports(1)[0];
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env.push(("HOOKLINE_ADMIN_ADDR".into(), format!("127.0.0.1:{admin_port}")));
        if self.static_membership {
            let run = self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            env.push(("HOOKLINE_GROUP_INSTANCE_ID".into(), format!("{run}-{name}")));
        }
        let mut p = Proc {
            service,
            admin_port,
            env,
            child: None,
            starts: 0,
        };
        self.spawn(name, &mut p);
        self.procs.insert(name.to_string(), p);
    }

    /// Starts `ingest`, `enrich`, `delivery` and `api`, each under its own name.
    pub fn start_all(&mut self) {
        for s in ["ingest", "enrich", "delivery", "api"] {
            self.start(s, s, &[]);
        }
    }

    fn spawn(&self, name: &str, p: &mut Proc) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .expect("service log");
        let child = Command::new(binary(p.service))
            .envs(p.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        p.child = Some(child);
        p.starts += 1;
    }

    fn get(&mut self, name: &str) -> &mut Proc {
        self.procs.get_mut(name).unwrap_or_else(|| panic!("no process {name}"))
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self, name: &str) {
        if let Some(mut c) = self.get(name).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; the exit status, or an error if it did not exit within `grace`.
    pub fn terminate(&mut self, name: &str, grace: Duration) -> anyhow::Result<ExitStatus> {
        let mut c = self
            .get(name)
            .child
            .take()
            .ok_or_else(|| anyhow::anyhow!("{name} is not running"))?;
        crate::terminate(&mut c, grace).map_err(|e| anyhow::anyhow!("{name}: {e}"))
    }

    /// Starts a stopped or killed process again with the same settings.
    pub fn restart(&mut self, name: &str) {
        let mut p = self.procs.remove(name).unwrap_or_else(|| panic!("no process {name}"));
        assert!(p.child.is_none(), "{name} still runs");
        self.spawn(name, &mut p);
        self.procs.insert(name.to_string(), p);
    }

    /// The PID of `name`'s running process (`None` once it is stopped or killed).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.get(name)?.child.as_ref().map(Child::id)
    }

    /// How many times `name` was started (1: never restarted).
    pub fn starts(&self, name: &str) -> u32 {
        self.procs.get(name).map_or(0, |p| p.starts)
    }

    /// Whether every process that should run still does (none exited by itself); the names
    /// of those that exited, with their status.
    pub fn exited(&mut self) -> Vec<String> {
        let mut out = vec![];
        for (name, p) in &mut self.procs {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    out.push(format!("{name} ({status})"));
                }
            }
        }
        out
    }

    /// Whether `name`'s `/readyz` answers 200 now.
    pub async fn is_ready(&mut self, name: &str) -> bool {
        let url = format!("http://127.0.0.1:{}/readyz", self.get(name).admin_port);
        match self.http.get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    }

    /// Waits until `name`'s `/readyz` answers 200.
    pub async fn wait_ready(&mut self, name: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let url = format!("http://127.0.0.1:{}/readyz", self.get(name).admin_port);
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(started.elapsed());
                }
            }
            if let Some(status) = self.get(name).child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                anyhow::bail!(
                    "{name} exited ({status}); see {}",
                    self.dir.join(format!("{name}.log")).display()
                );
            }
            anyhow::ensure!(started.elapsed() < timeout, "{name} not ready after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running process is ready.
    pub async fn wait_all_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let names: Vec<String> = self
            .procs
            .iter()
            .filter(|(_, p)| p.child.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            self.wait_ready(&n, timeout).await?;
        }
        Ok(())
    }

    /// `name`'s Prometheus text.
    pub async fn metrics(&mut self, name: &str) -> anyhow::Result<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.get(name).admin_port);
        Ok(self.http.get(&url).send().await?.text().await?)
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for p in self.procs.values_mut() {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
