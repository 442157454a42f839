//! Apache Kafka nodes owned by the test: started through `scripts/kafka/node.sh` (KRaft,
//! combined broker + controller), killed or stopped by their own PID, restarted on the same
//! log directory.

use crate::free_ports;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn node_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka/node.sh")
}

/// One node of a cluster.
pub struct KafkaNode {
    pub id: u32,
    pub port: u16,
    controller_port: u16,
    dir: PathBuf,
    voters: String,
    cluster_id: String,
    settings: Vec<String>,
    heap: String,
    child: Option<Child>,
}

impl KafkaNode {
    /// Starts the node (formatting its log directory the first time) and waits until it
    /// accepts connections.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_listening()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "node {} already runs", self.id);
        // node.sh execs java once the log directory is formatted: the child's PID is the JVM.
        let child = Command::new("bash")
            .arg(node_script())
            .arg(&self.dir)
            .arg(self.id.to_string())
            .arg(self.port.to_string())
            .arg(self.controller_port.to_string())
            .arg(&self.voters)
            .arg(&self.cluster_id)
            .args(&self.settings)
            .env("KAFKA_HEAP", &self.heap)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait()? {
                self.child = None;
                anyhow::bail!(
                    "Kafka node {} exited ({status}); see {}/server.log",
                    self.id,
                    self.dir.display()
                );
            }
            anyhow::ensure!(Instant::now() < deadline, "Kafka node {} did not listen", self.id);
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// SIGKILL: the broker dies mid-write, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (a controlled shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A broker that ignores SIGTERM for a minute is killed: the test goes on.
            let _ = crate::terminate(&mut c, Duration::from_secs(60));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for KafkaNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A KRaft cluster of combined nodes, each its own voter.
pub struct KafkaCluster {
    pub nodes: Vec<KafkaNode>,
}

impl KafkaCluster {
    /// Starts `n` nodes under `dir` with extra broker `settings` (`key=value`), each with a
    /// bounded heap, and waits until every one of them is in the cluster's metadata.
    pub fn start(dir: &Path, n: usize, settings: &[&str]) -> anyhow::Result<Self> {
        let ports = free_ports(2 * n);
        let voters = (0..n)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
        };
        let heap = if n > 1 { "384m" } else { "512m" };
        let mut nodes: Vec<KafkaNode> = (0..n)
            .map(|i| KafkaNode {
                id: i as u32 + 1,
                port: ports[2 * i],
                controller_port: ports[2 * i + 1],
                dir: dir.join(format!("kafka-{}", i + 1)),
                voters: voters.clone(),
                cluster_id: cluster_id.clone(),
                settings: settings.iter().map(|s| s.to_string()).collect(),
                heap: heap.into(),
                child: None,
            })
            .collect();
        // A quorum of more than one voter elects a leader only once a majority runs, so every
        // node is started before waiting for any.
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_listening()?;
        }
        let cluster = Self { nodes };
        cluster.wait_brokers(n, Duration::from_secs(120))?;
        Ok(cluster)
    }

    /// `bootstrap.servers` for every node.
    pub fn brokers(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until the metadata lists `n` live brokers.
    pub fn wait_brokers(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", self.brokers()).create()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(md) = consumer.fetch_metadata(None, Duration::from_secs(5)) {
                if md.brokers().len() >= n {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "fewer than {n} brokers after {timeout:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
