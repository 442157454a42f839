//! An endpoint's request slots: a semaphore whose size changes while requests hold it.
//!
//! `tokio::sync::Semaphore` has a fixed number of permits (adding is possible, taking back
//! permits that are held is not), and an endpoint's limit ([`crate::concurrency`]) moves with
//! every answer. So the slots are a count of requests in flight against the current limit,
//! and a FIFO of waiters woken one per freed slot (or per slot the limit grew by). A request
//! arriving while others wait queues behind them: no barging, as with the semaphore before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The endpoint has as many requests waiting as it may queue.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

pub struct Slots {
    state: Mutex<State>,
    limit: AtomicUsize,
    freed: Notify,
}

#[derive(Default)]
struct State {
    in_flight: usize,
    waiting: usize,
}

/// A request's slot, freed on drop.
pub struct Slot {
    slots: Arc<Slots>,
    /// Requests in flight when this one took its slot, itself included.
    in_flight: usize,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("in_flight", &self.in_flight).finish()
    }
}

impl Slot {
    /// Requests in flight when this one took its slot, itself included.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.state.lock().expect("slots lock").in_flight -= 1;
        self.slots.freed.notify_one();
    }
}

impl Slots {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            limit: AtomicUsize::new(limit.max(1)),
            freed: Notify::new(),
        })
    }

    /// A slot: at once if one is free and nobody waits, after waiting if fewer than `queue`
    /// requests already wait, else [`Full`].
    pub async fn enter(self: &Arc<Self>, queue: usize) -> Result<Slot, Full> {
        {
            let mut st = self.state.lock().expect("slots lock");
            if st.waiting == 0 {
                if let Some(slot) = self.take(&mut st) {
                    return Ok(slot);
                }
            }
            if st.waiting >= queue {
                return Err(Full);
            }
            st.waiting += 1;
        }
        let _waiting = Waiting(self);
        loop {
            // Registered before the check, so a slot freed between the two wakes this waiter.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.take(&mut self.state.lock().expect("slots lock")) {
                return Ok(slot);
            }
            freed.await;
        }
    }

    fn take(self: &Arc<Self>, st: &mut State) -> Option<Slot> {
        (st.in_flight < self.limit.load(Ordering::Acquire)).then(|| {
            st.in_flight += 1;
            Slot {
                slots: self.clone(),
                in_flight: st.in_flight,
            }
        })
    }

    /// Changes the limit; requests already in flight above a lower one finish.
    pub fn set_limit(&self, limit: usize) {
        let limit = limit.max(1);
        let old = self.limit.swap(limit, Ordering::AcqRel);
        for _ in old..limit {
            self.freed.notify_one();
        }
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.state.lock().expect("slots lock").in_flight
    }
}

/// Counts a waiter until it has its slot or gives up (its future dropped).
struct Waiting<'a>(&'a Slots);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.state.lock().expect("slots lock").waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_get_freed_slots_and_slots_the_limit_grows_by() {
        let slots = Slots::new(2);
        let a = slots.enter(8).await.unwrap();
        let b = slots.enter(8).await.unwrap();
        assert_eq!((a.in_flight(), b.in_flight()), (1, 2));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = slots.clone();
                tokio::spawn(async move { s.enter(8).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(slots.in_flight(), 2);
        drop(a);
        slots.set_limit(4);
        let mut got = vec![];
        for w in waiters {
            got.push(
                tokio::time::timeout(Duration::from_secs(5), w)
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(slots.in_flight(), 4);
        let mut seen: Vec<usize> = got.iter().map(Slot::in_flight).collect();
        seen.sort();
        assert_eq!(seen, [2, 3, 4]);
    }

    #[tokio::test]
    async fn a_lower_limit_lets_requests_finish_and_admits_none_until_under_it() {
        let slots = Slots::new(3);
        let held: Vec<_> = futures::future::join_all((0..3).map(|_| slots.enter(0))).await;
        slots.set_limit(1);
        assert_eq!(slots.enter(0).await.err(), Some(Full), "no queue");
        let s = slots.clone();
        let waiter = tokio::spawn(async move { s.enter(1).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(slots.enter(1).await.err(), Some(Full), "queue of one taken");
        let mut held = held.into_iter();
        drop(held.next());
        drop(held.next());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one still in flight: at the limit");
        drop(held.next());
        assert!(tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let slots = Slots::new(1);
        let _a = slots.enter(1).await.unwrap();
        let gave_up = tokio::time::timeout(Duration::from_millis(10), slots.enter(1)).await;
        assert!(gave_up.is_err());
        let s = slots.clone();
        let next = tokio::spawn(async move { s.enter(1).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(_a);
        assert!(tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .unwrap()
            .unwrap());
    }
}
