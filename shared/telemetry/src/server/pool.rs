//! Who holds a server's connection slots, and who gives one up when they run out.
//!
//! A slot cap alone lets one client keep a port unavailable: connections that send one request
//! and then idle hold their slots for the whole keep-alive idle timeout (4,150 of them once
//! kept a 4,096-slot API full, refilled at ~68 connections/s). So the pool
//! - caps the slots of one **client** (a source address; an IPv6 client is its /64, the block
//!   one subscriber gets) at `max_connections_per_client`, and
//! - when a cap is reached, **evicts** a connection that is doing nothing to make room,
//!   instead of refusing the newcomer: the one idle longest between requests first, else the
//!   one that has been reading a request head the longest (at least [`EVICT_HEAD_AFTER`]).
//!   A client at its own cap evicts one of its own connections; a full server evicts anyone's.
//!   A connection running a request is never evicted, so only when every slot is busy (or
//!   the client's are) is the newcomer refused with `503`.
//!
//! Envoy's overload manager shortens idle timeouts as a cap nears; evicting on demand does
//! the same where it matters (the newcomer is served at once, not after a shortened timeout)
//! and leaves idle connections alone while there is room.

use super::conn::{ConnState, NOT_READING};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A connection still reading a request head is evictable only after this long: a client that
/// has just connected is about to send one, a slow-loris never will.
pub(super) const EVICT_HEAD_AFTER: Duration = Duration::from_secs(1);

/// Whom a connection counts against: its IPv4 address (IPv4-mapped IPv6 included), or the /64
/// of its IPv6 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// Why a connection was evicted (the `state` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evicted {
    /// Idle between requests on a keep-alive connection.
    Idle,
    /// Still reading a request head after [`EVICT_HEAD_AFTER`].
    Header,
}

impl Evicted {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Header => "header",
        }
    }
}

/// Why a connection was refused (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// `max_connections` open, none of them evictable.
    Full,
    /// The client has `max_connections_per_client` open, none of them evictable.
    PerClient,
}

impl Refused {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::PerClient => "per_client",
        }
    }
}

pub(super) struct Pool {
    max: usize,
    /// 0: no per-client cap.
    per_client: usize,
    inner: Mutex<Inner>,
}

/// How long after a search found nothing to evict among a set of connections (every one busy)
/// the next newcomer over that cap is refused without searching again. A flood against a full
/// server would otherwise cost a scan of every connection per accept (it used to cost one
/// semaphore check); an idle connection is noticed at most this much later.
const FUTILE_SEARCH_BACKOFF: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Every connection holding a slot, by id (an evicted one gives its slot up at once).
    conns: HashMap<u64, (IpAddr, Arc<ConnState>)>,
    clients: HashMap<IpAddr, Client>,
    /// Until when a full server refuses without searching (see [`FUTILE_SEARCH_BACKOFF`]).
    full_until: Option<Instant>,
}

/// One client's connections.
#[derive(Default)]
struct Client {
    conns: HashMap<u64, Arc<ConnState>>,
    /// Until when this client, at its cap, is refused without searching.
    full_until: Option<Instant>,
}

/// A held slot; dropping it (the connection ended) gives it back.
pub(super) struct Slot {
    pool: Arc<Pool>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.pool.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.release(self.id);
    }
}

impl Pool {
    pub(super) fn new(max: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_client,
            inner: Mutex::default(),
        })
    }

    /// A slot for a new connection of `client`, making room by evicting (the evicted
    /// connections' states are cancelled, their kinds returned), or why it cannot have one.
    pub(super) fn admit(
        self: &Arc<Self>,
        client: IpAddr,
        state: Arc<ConnState>,
    ) -> Result<(Slot, Vec<Evicted>), Refused> {
        let client = client_key(client);
        let now = Instant::now();
        let mut evicted = vec![];
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if self.per_client > 0 {
            if let Some(c) = inner
                .clients
                .get_mut(&client)
                .filter(|c| c.conns.len() >= self.per_client)
            {
                if c.full_until.is_some_and(|t| now < t) {
                    return Err(Refused::PerClient);
                }
                let Some(victim) = victim(c.conns.iter(), now) else {
                    c.full_until = Some(now + FUTILE_SEARCH_BACKOFF);
                    return Err(Refused::PerClient);
                };
                evicted.push(inner.evict(victim));
            }
        }
        if inner.conns.len() >= self.max {
            if inner.full_until.is_some_and(|t| now < t) {
                return Err(Refused::Full);
            }
            let all = inner.conns.iter().map(|(id, (_, s))| (id, s));
            let Some(victim) = victim(all, now) else {
                inner.full_until = Some(now + FUTILE_SEARCH_BACKOFF);
                return Err(Refused::Full);
            };
            evicted.push(inner.evict(victim));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(id, (client, state.clone()));
        inner.clients.entry(client).or_default().conns.insert(id, state);
        Ok((Slot { pool: self.clone(), id }, evicted))
    }
}

/// The connection among `conns` to evict: the one idle longest, else the one reading a head
/// longest (past [`EVICT_HEAD_AFTER`]); never one running a request.
fn victim<'a>(conns: impl Iterator<Item = (&'a u64, &'a Arc<ConnState>)>, now: Instant) -> Option<(u64, Evicted)> {
    let mut idle: Option<(Instant, u64)> = None;
    let mut reading: Option<(Instant, u64)> = None;
    for (&id, s) in conns {
        if s.in_flight.load(Ordering::Acquire) > 0 {
            continue;
        }
        let head = s.head_started.load(Ordering::Acquire);
        let (since, best) = if head == NOT_READING {
            let last = s.last_activity.load(Ordering::Relaxed);
            (s.at(last), &mut idle)
        } else {
            let since = s.at(head);
            if now.saturating_duration_since(since) < EVICT_HEAD_AFTER {
                continue;
            }
            (since, &mut reading)
        };
        if best.is_none_or(|(t, _)| since < t) {
            *best = Some((since, id));
        }
    }
    idle.map(|(_, id)| (id, Evicted::Idle))
        .or(reading.map(|(_, id)| (id, Evicted::Header)))
}

impl Inner {
    /// Takes `id`'s slot away and tells its connection to close.
    fn evict(&mut self, (id, why): (u64, Evicted)) -> Evicted {
        if let Some((_, state)) = self.conns.get(&id) {
            state.evicted.cancel();
        }
        self.release(id);
        why
    }

    fn release(&mut self, id: u64) {
        let Some((client, _)) = self.conns.remove(&id) else {
            return; // evicted earlier
        };
        // A slot is free: the next newcomer need not search.
        self.full_until = None;
        if let Some(c) = self.clients.get_mut(&client) {
            c.conns.remove(&id);
            c.full_until = None;
            if c.conns.is_empty() {
                self.clients.remove(&client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_slash_64() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    /// Two connections served within the same millisecond, the older one answered last: the
    /// other one has been idle longer and goes first (whole milliseconds once made them tie,
    /// and the tie went to the older connection).
    #[test]
    fn the_connection_idle_longest_goes_first_at_sub_millisecond_spacing() {
        let older = Arc::new(ConnState::new());
        let newer = Arc::new(ConnState::new());
        for s in [&older, &newer] {
            s.request_started();
        }
        newer.request_done();
        std::thread::sleep(Duration::from_micros(200));
        older.request_done();
        let conns = [(0u64, older), (1u64, newer)];
        let now = Instant::now();
        let picked = victim(conns.iter().map(|(id, s)| (id, s)), now);
        assert_eq!(picked, Some((1, Evicted::Idle)));
    }

    /// A connection running a request is never picked; one reading a head only after
    /// [`EVICT_HEAD_AFTER`].
    #[test]
    fn busy_and_fresh_connections_are_not_evicted() {
        let busy = Arc::new(ConnState::new());
        busy.request_started();
        let fresh = Arc::new(ConnState::new());
        let conns = [(0u64, busy), (1u64, fresh)];
        assert_eq!(victim(conns.iter().map(|(id, s)| (id, s)), Instant::now()), None);
        let later = Instant::now() + EVICT_HEAD_AFTER;
        assert_eq!(
            victim(conns.iter().map(|(id, s)| (id, s)), later),
            Some((1, Evicted::Header))
        );
    }
}
