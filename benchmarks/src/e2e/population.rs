//! The realistic scenario's population (`--real`), pure and seeded so runs are comparable:
//! workspaces over the three dialects with Zipf-distributed traffic plus an optional whale,
//! every subscription its own endpoint (host) with a class and a latency drawn once, and the
//! plan of input events with the webhook each one should produce.
//!
//! Nothing here does I/O; `real.rs` configures, loads and reports from it, `hosts.rs` serves
//! its endpoints.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What an endpoint is like, and which row of the report it counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The whale workspace's one endpoint (fixed latency, `--whale-latency-ms`).
    Whale,
    /// Answers after its own latency, drawn once from [`healthy_latency`].
    Healthy,
    /// Answers after [`SLOW_LATENCY`] (1 % of endpoints).
    Slow,
    /// Refuses connections (1 % of endpoints): a bound port that does not listen.
    Down,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Whale, Class::Healthy, Class::Slow, Class::Down];

    pub fn name(self) -> &'static str {
        match self {
            Class::Whale => "whale",
            Class::Healthy => "healthy",
            Class::Slow => "slow",
            Class::Down => "down",
        }
    }

    /// Whether "kept up" is judged on it: slow and down endpoints back up into retries by
    /// nature.
    pub fn judged(self) -> bool {
        matches!(self, Class::Whale | Class::Healthy)
    }
}

/// A slow endpoint's answer time: under every dialect's timeout (5 s, SMSEdge 10 s), so its
/// requests succeed, slowly.
pub const SLOW_LATENCY: Duration = Duration::from_secs(2);
/// Share of (non-whale) endpoints that are slow, and that are down.
pub const SLOW_SHARE: f64 = 0.01;
pub const DOWN_SHARE: f64 = 0.01;
/// Share of answers that are a 5xx (every class that answers).
pub const ERROR_SHARE: f64 = 0.005;

/// Median and 99th percentile of a healthy endpoint's latency (log-normal).
pub const LATENCY_MEDIAN_MS: f64 = 25.0;
pub const LATENCY_P99_MS: f64 = 250.0;
/// A drawn latency is capped here, so the far tail of the log-normal stays a healthy endpoint
/// (slow ones are their own class).
pub const LATENCY_CAP_MS: f64 = 1_000.0;

/// The standard normal's 99th percentile.
const Z99: f64 = 2.326_348;

/// A healthy endpoint's latency: log-normal with median [`LATENCY_MEDIAN_MS`] and 99th
/// percentile [`LATENCY_P99_MS`] (σ = ln(p99 / median) / z₀.₉₉ ≈ 0.99), capped at
/// [`LATENCY_CAP_MS`]; heavy-tailed like real receivers' answer times.
pub fn healthy_latency(rng: &mut impl Rng) -> Duration {
    let sigma = (LATENCY_P99_MS / LATENCY_MEDIAN_MS).ln() / Z99;
    let ms = (LATENCY_MEDIAN_MS.ln() + sigma * standard_normal(rng)).exp();
    Duration::from_secs_f64(ms.min(LATENCY_CAP_MS) / 1000.0)
}

/// Box–Muller (no `rand_distr` in the workspace).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Zipf shares of `n` ranks with exponent `s`: rank k (0-based) gets (k+1)^-s, normalised.
pub fn zipf_shares(n: usize, s: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|w| w / total).collect()
}

/// The configuration dialect of a workspace, with the variant of its subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One 23 Telecom subscription for delivery and click (and conversion when `true`), with
    /// `unique_clicks_only`.
    Telecom23 { conversions: bool },
    /// SMSEdge as its API configures it: `se-dlr` (Basic auth), `se-click`, and `se-inbound`
    /// when `true`; form bodies, 3 requests in flight.
    SmsEdge { inbound: bool },
    /// One named subscription: `SMS_STATUS` (every status: `sent`, `delivered`), plus
    /// `LINK_HIT` and `SMS_INBOUND` when `several`, batching when `batch`.
    Named { several: bool, batch: bool },
}

/// What the receivers tell webhooks apart by (with the message or inbound id): the
/// `X-Webhook-Event` header for 23 Telecom and SMSEdge, the envelope's `type` (and a status's
/// `status`) for named subscriptions. `hosts.rs` derives the same strings from requests.
pub mod tag {
    pub const DELIVERY: &str = "delivery";
    pub const CLICK: &str = "click";
    pub const CONVERSION: &str = "conversion";
    pub const INBOUND: &str = "inbound";
    pub const STATUS_DELIVERED: &str = "SMS_STATUS:delivered";
    pub const STATUS_SENT: &str = "SMS_STATUS:sent";
    pub const LINK_HIT: &str = "LINK_HIT";
    pub const SMS_INBOUND: &str = "SMS_INBOUND";
}

/// One subscription of the population: its id in the workspace, its endpoint (index into
/// [`Population::endpoints`]) and the tags of the webhooks it gets.
#[derive(Debug, Clone)]
pub struct Sub {
    pub id: &'static str,
    pub endpoint: usize,
    pub takes: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub shape: Shape,
    pub subs: Vec<Sub>,
    /// Share of the offered events.
    pub share: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub class: Class,
    pub latency: Duration,
}

/// An input record of the timed phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A final carrier DLR (`DELIVRD`) of a message loaded before the timed phase.
    Dlr,
    /// A new accepted message: its `sent` status (named subscriptions only get a webhook).
    Sent,
    /// A human click on a loaded message's broadcast link, the first of its recipient.
    Click,
    /// A crawler's click (link preview): filtered, no webhook.
    BotClick,
    /// A second human click of an earlier click's recipient on the same link: 23 Telecom's
    /// `unique_clicks_only` and SMSEdge's first-click rule drop it, no webhook. Only planned
    /// for those two dialects (named `LINK_HIT` gets every human click).
    RepeatClick,
    /// An SMS received on the workspace's number, answering a loaded message.
    Inbound,
    /// A conversion of a loaded message.
    Conversion,
}

/// Input mix in percent (sums to 100): DLRs most, as on an SMS platform.
pub const MIX: [(Kind, f64); 7] = [
    (Kind::Dlr, 70.0),
    (Kind::Sent, 10.0),
    (Kind::Click, 12.0),
    (Kind::BotClick, 1.5),
    (Kind::RepeatClick, 1.5),
    (Kind::Inbound, 3.0),
    (Kind::Conversion, 2.0),
];

/// A planned event: its kind, workspace, the message it refers to (its own index, or an
/// earlier click's for a repeat), and the webhook it should produce, if any: (tag, endpoint).
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    pub kind: Kind,
    pub workspace: usize,
    pub message: u64,
    pub expect: Option<(&'static str, usize)>,
}

impl Kind {
    /// Whether the event needs its message loaded before the timed phase.
    pub fn needs_message(self) -> bool {
        !matches!(self, Kind::Sent | Kind::RepeatClick)
    }
}

#[derive(Debug, Clone)]
pub struct Population {
    pub workspaces: Vec<Workspace>,
    pub endpoints: Vec<Endpoint>,
    /// The whale's workspace index, when there is one (the last).
    pub whale: Option<usize>,
}

/// Settings of [`Population::new`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub workspaces: usize,
    pub zipf_s: f64,
    /// Percent of all events for the whale; 0: none.
    pub whale_percent: f64,
    pub whale_latency: Duration,
    pub seed: u64,
}

impl Population {
    /// `workspaces` ranked by Zipf share (rank 0 the largest), dialects drawn 60 / 20 / 20
    /// (23 Telecom, SMSEdge, named) with their variants, classes drawn per endpoint; then the
    /// whale (a 23 Telecom workspace, delivery and click) with `whale_percent` of the events,
    /// the others sharing the rest.
    pub fn new(s: Settings) -> Self {
        let mut rng = StdRng::seed_from_u64(s.seed);
        let whale_share = (s.whale_percent / 100.0).clamp(0.0, 1.0);
        let shares = zipf_shares(s.workspaces, s.zipf_s);
        let mut p = Population {
            workspaces: vec![],
            endpoints: vec![],
            whale: None,
        };
        for (rank, share) in shares.into_iter().enumerate() {
            let u: f64 = rng.gen();
            let shape = if u < 0.6 {
                Shape::Telecom23 {
                    conversions: rng.gen_bool(0.3),
                }
            } else if u < 0.8 {
                Shape::SmsEdge {
                    inbound: rng.gen_bool(0.5),
                }
            } else {
                let v: f64 = rng.gen();
                Shape::Named {
                    several: v >= 0.5,
                    batch: v >= 0.8,
                }
            };
            let id = format!("w{rank}");
            p.push(id, shape, share * (1.0 - whale_share), draw_class, &mut rng);
        }
        if whale_share > 0.0 {
            let latency = s.whale_latency;
            p.push(
                "whale".into(),
                Shape::Telecom23 { conversions: false },
                whale_share,
                |_| (Class::Whale, latency),
                &mut rng,
            );
            p.whale = Some(p.workspaces.len() - 1);
        }
        p
    }

    fn push(
        &mut self,
        id: String,
        shape: Shape,
        share: f64,
        mut class: impl FnMut(&mut StdRng) -> (Class, Duration),
        rng: &mut StdRng,
    ) {
        use tag::*;
        let subs: Vec<(&'static str, Vec<&'static str>)> = match shape {
            Shape::Telecom23 { conversions } => {
                let mut takes = vec![DELIVERY, CLICK];
                if conversions {
                    takes.push(CONVERSION);
                }
                vec![("t23", takes)]
            }
            Shape::SmsEdge { inbound } => {
                let mut subs = vec![("se-dlr", vec![DELIVERY]), ("se-click", vec![CLICK])];
                if inbound {
                    subs.push(("se-inbound", vec![INBOUND]));
                }
                subs
            }
            Shape::Named { several, .. } => {
                let mut takes = vec![STATUS_DELIVERED, STATUS_SENT];
                if several {
                    takes.extend([LINK_HIT, SMS_INBOUND]);
                }
                vec![("named", takes)]
            }
        };
        let subs = subs
            .into_iter()
            .map(|(sub_id, takes)| {
                let (class, latency) = class(rng);
                self.endpoints.push(Endpoint { class, latency });
                Sub {
                    id: sub_id,
                    endpoint: self.endpoints.len() - 1,
                    takes,
                }
            })
            .collect();
        self.workspaces.push(Workspace { id, shape, subs, share });
    }

    /// The webhook an event of `kind` on workspace `ws` produces: its tag and endpoint.
    pub fn expect(&self, kind: Kind, ws: usize) -> Option<(&'static str, usize)> {
        let w = &self.workspaces[ws];
        let named = matches!(w.shape, Shape::Named { .. });
        let wanted = match kind {
            Kind::Dlr if named => tag::STATUS_DELIVERED,
            Kind::Dlr => tag::DELIVERY,
            Kind::Sent if named => tag::STATUS_SENT,
            Kind::Click if named => tag::LINK_HIT,
            Kind::Click => tag::CLICK,
            Kind::Inbound if named => tag::SMS_INBOUND,
            Kind::Inbound => tag::INBOUND,
            Kind::Conversion if !named => tag::CONVERSION,
            Kind::Sent | Kind::Conversion | Kind::BotClick | Kind::RepeatClick => return None,
        };
        w.subs
            .iter()
            .find(|s| s.takes.contains(&wanted))
            .map(|s| (wanted, s.endpoint))
    }

    /// `total` events: each one's workspace drawn by share and kind by [`MIX`]. A repeat
    /// click refers to the latest first click of its workspace at least `min_gap` events
    /// earlier (so it is processed after it), and is a first click when there is none or the
    /// workspace is named.
    pub fn plan(&self, total: u64, min_gap: u64, seed: u64) -> Vec<Planned> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let cumulative: Vec<f64> = self
            .workspaces
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w.share;
                Some(*acc)
            })
            .collect();
        let sum = cumulative.last().copied().unwrap_or(1.0);
        let mix_total: f64 = MIX.iter().map(|(_, w)| w).sum();
        let mut clicks: Vec<Vec<u64>> = vec![vec![]; self.workspaces.len()];
        (0..total)
            .map(|i| {
                let x = rng.gen::<f64>() * sum;
                let ws = cumulative.partition_point(|c| *c <= x).min(self.workspaces.len() - 1);
                let mut y = rng.gen::<f64>() * mix_total;
                let mut kind = Kind::Dlr;
                for (k, w) in MIX {
                    if y < w {
                        kind = k;
                        break;
                    }
                    y -= w;
                }
                let mut message = i;
                if kind == Kind::RepeatClick {
                    let named = matches!(self.workspaces[ws].shape, Shape::Named { .. });
                    let earlier = clicks[ws].iter().rev().find(|j| **j + min_gap <= i).copied();
                    match earlier {
                        Some(j) if !named => message = j,
                        _ => kind = Kind::Click,
                    }
                }
                if kind == Kind::Click {
                    clicks[ws].push(i);
                }
                Planned {
                    kind,
                    workspace: ws,
                    message,
                    expect: self.expect(kind, ws),
                }
            })
            .collect()
    }
}

/// A non-whale endpoint's class and latency.
fn draw_class(rng: &mut StdRng) -> (Class, Duration) {
    let u: f64 = rng.gen();
    let latency = healthy_latency(rng);
    if u < SLOW_SHARE {
        (Class::Slow, SLOW_LATENCY)
    } else if u < SLOW_SHARE + DOWN_SHARE {
        (Class::Down, Duration::ZERO)
    } else {
        (Class::Healthy, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(whale_percent: f64) -> Settings {
        Settings {
            workspaces: 1000,
            zipf_s: 1.1,
            whale_percent,
            whale_latency: Duration::from_millis(50),
            seed: 29,
        }
    }

    #[test]
    fn zipf_largest_share_is_15_to_25_percent() {
        let shares = zipf_shares(1000, 1.1);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((0.15..=0.25).contains(&shares[0]), "largest {}", shares[0]);
        assert!(shares.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn latency_quantiles_are_near_25_and_250_ms() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut ms: Vec<f64> = (0..100_000)
            .map(|_| healthy_latency(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (ms[50_000], ms[99_000]);
        assert!((22.0..=28.0).contains(&p50), "p50 {p50}");
        assert!((215.0..=290.0).contains(&p99), "p99 {p99}");
        assert!(ms.last().unwrap() <= &LATENCY_CAP_MS);
    }

    #[test]
    fn dialects_classes_and_whale() {
        let p = Population::new(settings(40.0));
        assert_eq!(p.workspaces.len(), 1001);
        let whale = p.whale.unwrap();
        assert!((p.workspaces[whale].share - 0.4).abs() < 1e-9);
        assert!((p.workspaces.iter().map(|w| w.share).sum::<f64>() - 1.0).abs() < 1e-9);
        let count = |f: fn(&Shape) -> bool| p.workspaces[..1000].iter().filter(|w| f(&w.shape)).count();
        let t23 = count(|s| matches!(s, Shape::Telecom23 { .. }));
        let named = count(|s| matches!(s, Shape::Named { .. }));
        assert!((540..=660).contains(&t23), "{t23} 23 Telecom");
        assert!((150..=250).contains(&named), "{named} named");
        let class = |c: Class| p.endpoints.iter().filter(|e| e.class == c).count();
        assert_eq!(class(Class::Whale), 1);
        let n = p.endpoints.len() as f64;
        for c in [Class::Slow, Class::Down] {
            let share = class(c) as f64 / n;
            assert!((0.003..=0.02).contains(&share), "{c:?} {share}");
        }
        // Same seed, same population.
        let q = Population::new(settings(40.0));
        assert!(p
            .endpoints
            .iter()
            .zip(&q.endpoints)
            .all(|(a, b)| a.latency == b.latency && a.class == b.class));
        assert!(Population::new(settings(0.0)).whale.is_none());
    }

    #[test]
    fn plan_follows_shares_and_mix() {
        let p = Population::new(settings(40.0));
        let plan = p.plan(100_000, 1000, 7);
        let whale = plan.iter().filter(|e| Some(e.workspace) == p.whale).count() as f64 / 1e5;
        assert!((0.38..=0.42).contains(&whale), "whale {whale}");
        let dlr = plan.iter().filter(|e| e.kind == Kind::Dlr).count() as f64 / 1e5;
        assert!((0.68..=0.72).contains(&dlr), "DLRs {dlr}");
        for (i, e) in plan.iter().enumerate() {
            match e.kind {
                Kind::RepeatClick => {
                    assert!(e.message + 1000 <= i as u64 && e.expect.is_none());
                    assert_eq!(plan[e.message as usize].kind, Kind::Click);
                    assert_eq!(plan[e.message as usize].workspace, e.workspace);
                }
                Kind::BotClick => assert!(e.expect.is_none()),
                Kind::Dlr => assert!(e.expect.is_some()),
                _ => {}
            }
            if let Some((_, endpoint)) = e.expect {
                assert!(p.workspaces[e.workspace].subs.iter().any(|s| s.endpoint == endpoint));
            }
        }
    }
}
