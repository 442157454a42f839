//! The pipeline as separate processes, and what each one costs: CPU seconds and peak RSS read
//! from `/proc`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // Linux on x86-64 and arm64 uses 100 (USER_HZ).
    100.0
}

/// Peak resident set size in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The pid of the first process whose command line contains `needle`.
pub fn find_pid(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains(needle) && pid != std::process::id()).then_some(pid)
    })
}

/// The pid of the Apache Kafka broker listening on `brokers` (one `host:port`, or a
/// comma-separated list, of which any one address is enough): a process whose command line runs
/// `kafka.Kafka` and whose configuration file, its last argument (`server.properties`, as
/// `scripts/kafka/node.sh` writes it), has `PLAINTEXT://<address>` among its `listeners`.
pub fn find_kafka_pid(brokers: &str) -> Option<u32> {
    let wanted: Vec<String> = brokers
        .split(',')
        .map(|b| format!("PLAINTEXT://{}", b.trim()))
        .collect();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.iter().any(|a| a == "kafka.Kafka") {
            return None;
        }
        let config = std::fs::read_to_string(args.last()?).ok()?;
        let listens = config
            .lines()
            .filter_map(|l| l.trim().strip_prefix("listeners="))
            .flat_map(|v| v.split(','))
            .any(|l| wanted.iter().any(|w| w == l.trim()));
        listens.then_some(pid)
    })
}

/// Commands Redis has processed since it started (`INFO stats`), through `redis-cli`; `None`
/// when it cannot be read. The difference over the timed phase is the pipeline's Redis round
/// trips (one pipeline or script counts its commands).
pub fn redis_commands(url: &str) -> Option<u64> {
    let out = Command::new("redis-cli")
        .args(["-u", url, "info", "stats"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("total_commands_processed:")?.parse().ok())
}

/// One running Hookline service.
pub struct Service {
    pub name: &'static str,
    pub child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hookline-<name>` (next to this binary) with `env`.
pub fn spawn(name: &'static str, env: &[(String, String)]) -> Service {
    let exe = std::env::current_exe().expect("current exe");
    let bin: PathBuf = exe.with_file_name(format!("hookline-{name}"));
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release --bins first",
        bin.display()
    );
    let child = Command::new(&bin)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn service");
    Service { name, child }
}

/// Starts floor stage `name` (this binary with `--floor-stage`; see `floor.rs`) with the
/// librdkafka `kafka_options` (`key=value,…`) a service would get.
pub fn spawn_floor_stage(
    name: &'static str,
    brokers: &str,
    prefix: &str,
    partitions: i32,
    target: &str,
    kafka_options: &str,
) -> Service {
    let exe = std::env::current_exe().expect("current exe");
    let child = Command::new(exe)
        .args(["--floor-stage", name, "--brokers", brokers, "--floor-prefix", prefix])
        .args(["--partitions", &partitions.to_string(), "--floor-target", target])
        .args(["--kafka-options", kafka_options])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn floor stage");
    Service { name, child }
}

/// What the processes of a run spend over its timed phase: CPU seconds and peak RSS of the
/// services, the broker (an Apache Kafka on this machine listening on the brokers' address),
/// Redis and this process, and Redis's commands.
pub struct Cost {
    pids: Vec<(String, u32)>,
    cpu_before: Vec<f64>,
    services: usize,
    redis: String,
    redis_before: Option<u64>,
}

/// [`Cost::finish`]'s figures.
pub struct Spent {
    pids: Vec<(String, u32)>,
    pub cpu: Vec<f64>,
    pub rss: Vec<f64>,
    services: usize,
    pub redis_commands: Option<u64>,
}

impl Cost {
    /// Starts counting (call at the start of the timed phase).
    pub fn start(services: &[Service], brokers: &str, redis: &str) -> Self {
        let pids: Vec<(String, u32)> = services
            .iter()
            .map(|s| (s.name.to_string(), s.child.id()))
            .chain(find_kafka_pid(brokers).map(|p| ("broker (Apache Kafka)".to_string(), p)))
            .chain(find_pid("redis-server").map(|p| ("redis".to_string(), p)))
            .chain([(
                "load generator and receiver (this process)".to_string(),
                std::process::id(),
            )])
            .collect();
        Self {
            cpu_before: pids.iter().map(|(_, p)| cpu_seconds(*p)).collect(),
            pids,
            services: services.len(),
            redis: redis.to_string(),
            redis_before: redis_commands(redis),
        }
    }

    /// What was spent since [`Cost::start`] (call before the services stop).
    pub fn finish(&self) -> Spent {
        Spent {
            cpu: self
                .pids
                .iter()
                .zip(&self.cpu_before)
                .map(|((_, p), before)| cpu_seconds(*p) - before)
                .collect(),
            rss: self.pids.iter().map(|(_, p)| peak_rss_mib(*p)).collect(),
            pids: self.pids.clone(),
            services: self.services,
            redis_commands: redis_commands(&self.redis).zip(self.redis_before).map(|(a, b)| a - b),
        }
    }
}

impl Spent {
    /// The table of CPU seconds per 1,000 of `events` and peak RSS per process, and the
    /// services' sum.
    pub fn print(&self, events: u64) {
        println!("\n| process | CPU s per 1,000 events | peak RSS MiB |");
        println!("| --- | --- | --- |");
        let per = events as f64 / 1000.0;
        for (((name, _), cpu), rss) in self.pids.iter().zip(&self.cpu).zip(&self.rss) {
            println!("| {name} | {:.3} | {:.0} |", cpu / per, rss);
        }
        let services: f64 = self.cpu.iter().take(self.services).sum();
        println!("| the four services together | {:.3} | |", services / per);
        println!("\n(Redis's peak RSS is the server's since it started, not this run's.)");
    }
}
