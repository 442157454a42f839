//! Fault tests against a real, durable Apache Kafka, with the four services as separate
//! processes: what only a broker that restarts, fails over and compacts can show.
//!
//! - [`kafka`]: Apache Kafka nodes (one, or a three-node KRaft cluster) started by this
//!   process through `scripts/kafka/node.sh`, each on its own loopback ports and log directory,
//!   killed with SIGKILL or stopped with SIGTERM by PID and restarted on the same log.
//! - [`procs`]: the Hookline services (`hookline-ingest`, `-enrich`, `-delivery`, `-api`, built
//!   next to the test binary) as child processes, with known admin and HTTP ports.
//! - [`deployment`]: one run's topics, groups, Redis prefix, sealing key and workspaces, and
//!   the environment every service gets.
//! - [`load`]: accepted messages and carrier DLRs produced through the test's own idempotent
//!   producer, which outlives a broker outage; human clicks on broadcast links.
//! - [`mixed`]: the mixed load: workspaces of all three dialects configured through their
//!   APIs, inbound SMS, revoked clicks and conversion postbacks, and reading any dialect's
//!   payload.
//! - [`redis`]: a Redis server of the test's own, to stop, restart or empty.
//! - [`statuses`]: a status webhook rightly never sent (superseded by a later status of its
//!   message) told apart from a lost one, by the dispatch and attempts topics.
//! - [`check`]: what every fault test asserts about what the receivers got: every event by id,
//!   duplicates only with the same `X-Webhook-Id`.
//! - [`raw_receivers`]: receivers that misbehave at the TCP level (never answer, a byte a
//!   second, a 1 GiB body, a redirect to a private address) and count what they sent.
//!
//! The tests themselves are in `tests/faults.rs` and `tests/receivers.rs`; `scripts/faults.sh`
//! runs them one at a time (each starts its own broker; two at once would only share two
//! cores).

pub mod check;
pub mod deployment;
pub mod kafka;
pub mod load;
pub mod mixed;
pub mod procs;
pub mod raw_receivers;
pub mod redis;
pub mod statuses;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// The cache directory (`HOOKLINE_CACHE`, default `~/.cache/hookline`) where brokers' logs and
/// services' logs go: `faults/<run>/`.
pub fn run_dir(run: &str) -> PathBuf {
    let cache = std::env::var("HOOKLINE_CACHE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())).join(".cache/hookline")
    });
    let dir = cache.join("faults").join(run);
    std::fs::create_dir_all(&dir).expect("create the run directory");
    dir
}

/// Loopback ports nobody listens on, below Linux's ephemeral range (32768+), so that a
/// client's outgoing connection can never take a broker's port while it is down.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20000 + (std::process::id() % 60) as u16 * 200;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let port = base + NEXT.fetch_add(1, Ordering::SeqCst) % 200;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            out.push(port);
        }
    }
    out
}

/// Stops `child` with SIGTERM and reaps it. If it has not exited within `grace` it is killed
/// (SIGKILL) and reaped, and the error says so: every process a fault test stops (brokers,
/// Redis, services) goes through here.
pub fn terminate(child: &mut Child, grace: Duration) -> anyhow::Result<ExitStatus> {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("process {} did not exit within {grace:?} of SIGTERM", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
