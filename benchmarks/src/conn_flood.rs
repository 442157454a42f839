//! A connection flood against one HTTP port, for `benchmarks/conn_flood.sh`: opens
//! `--connections` TCP connections (spread over `--sources` loopback addresses, so one
//! destination port is not limited by one source address's ephemeral ports), sends nothing,
//! half a request head (`--partial`) or a request head one byte a second (`--drip`, a
//! Slowloris), holds each until the server closes it or `--hold-secs` pass, then prints one
//! line of what happened. Loopback only; stops by itself.
//!
//! One process holds at most its `nofile` limit of sockets: the script runs several.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    /// The port under attack (loopback only).
    #[arg(long)]
    target: SocketAddr,
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Source addresses, comma separated (127.0.0.x).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    sources: Vec<IpAddr>,
    /// How long each connection is held at most.
    #[arg(long, default_value_t = 20)]
    hold_secs: u64,
    /// Send half a request head instead of nothing.
    #[arg(long, default_value_t = false)]
    partial: bool,
    /// Send a request head one byte a second, never finishing it.
    #[arg(long, default_value_t = false)]
    drip: bool,
    /// Connects in progress at once (more overflow the listen backlog and wait for SYN
    /// retries).
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
}

/// What became of one connection.
enum Fate {
    ConnectFailed,
    /// Closed by the server after this long from connect (with a `503` if `refused`).
    Closed {
        after: Duration,
        refused: bool,
    },
    /// Still open at the end of the hold.
    Held,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.target.ip().is_loopback(), "--target must be a loopback address");
    anyhow::ensure!(
        args.sources.iter().all(IpAddr::is_loopback),
        "--sources must be loopback addresses"
    );
    let t0 = Instant::now();
    let hold_until = tokio::time::Instant::now() + Duration::from_secs(args.hold_secs);
    let connecting = Arc::new(Semaphore::new(args.connect_concurrency));
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let source = args.sources[i % args.sources.len()];
        let (target, partial, drip, connecting) = (args.target, args.partial, args.drip, connecting.clone());
        tasks.push(tokio::spawn(async move {
            let permit = connecting.acquire_owned().await.expect("semaphore");
            let socket = match TcpSocket::new_v4() {
                Ok(s) => s,
                Err(_) => return Fate::ConnectFailed,
            };
            if socket.bind(SocketAddr::new(source, 0)).is_err() {
                return Fate::ConnectFailed;
            }
            let connect = tokio::time::timeout(Duration::from_secs(10), socket.connect(target));
            let Ok(Ok(mut stream)) = connect.await else {
                return Fate::ConnectFailed;
            };
            drop(permit);
            let opened = Instant::now();
            if partial
                && stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: flood\r\nX-Slow: ")
                    .await
                    .is_err()
            {
                return Fate::Closed {
                    after: opened.elapsed(),
                    refused: false,
                };
            }
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            // The drip's bytes: a request head that never ends.
            let head = b"GET / HTTP/1.1\r\nHost: flood\r\nX-Slow: ";
            let mut sent = 0usize;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let (mut rd, mut wr) = stream.split();
            loop {
                tokio::select! {
                    read = tokio::time::timeout_at(hold_until, rd.read(&mut buf)) => match read {
                        Err(_) => return Fate::Held,
                        Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                        Ok(_) => {
                            return Fate::Closed {
                                after: opened.elapsed(),
                                refused: got.starts_with(b"HTTP/1.1 503"),
                            }
                        }
                    },
                    _ = tick.tick(), if drip => {
                        let byte = head.get(sent).copied().unwrap_or(b'a');
                        sent += 1;
                        if wr.write_all(&[byte]).await.is_err() {
                            return Fate::Closed { after: opened.elapsed(), refused: false };
                        }
                    }
                }
            }
        }));
    }
    let (mut failed, mut refused, mut timed_out, mut held) = (0, 0, 0, 0);
    let mut closed_after = Vec::new();
    for t in tasks {
        match t.await? {
            Fate::ConnectFailed => failed += 1,
            Fate::Closed { refused: true, .. } => refused += 1,
            Fate::Closed { after, .. } => {
                timed_out += 1;
                closed_after.push(after);
            }
            Fate::Held => held += 1,
        }
    }
    closed_after.sort();
    let median = closed_after
        .get(closed_after.len() / 2)
        .map_or("-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
    println!(
        "flood {} -> {}: {} connections: {refused} refused at once (503), {timed_out} closed by the server later (median after {median}), {held} still open after {} s, {failed} connect failures; took {:.1} s",
        args.sources.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        args.target,
        args.connections,
        args.hold_secs,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
