//! The keep-alive connections kept between requests, over all engines.
//!
//! One set for the whole process, so that one bound holds over all
//! engines. At the bound, checking a connection in closes the one checked
//! in most recently but not within `fresh`, of whichever engine: placing by
//! spread visits the engines in turn, so the engine used longest ago is the
//! one used next, and the one just finished with is the one needed last
//! (closing the oldest instead would miss every time once the engines
//! outnumber the bound). The fresh ones are spared: they belong to a
//! `docker run` still going (its create's connection serves its start a
//! moment later). When all are fresh, the oldest goes. Per engine, the
//! newest is handed out first, so the others age out. Closed connections
//! are dropped where they are met and never handed out; kept ones close
//! after `idle`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the set needs to know of a connection.
pub(crate) trait Conn {
    /// The connection is gone (the engine closed it, or it failed).
    fn is_closed(&self) -> bool;
    /// It takes a request now (its last answer was read).
    fn is_ready(&self) -> bool;
}

impl<B: Send + 'static> Conn for hyper::client::conn::http1::SendRequest<B> {
    fn is_closed(&self) -> bool {
        hyper::client::conn::http1::SendRequest::is_closed(self)
    }

    fn is_ready(&self) -> bool {
        hyper::client::conn::http1::SendRequest::is_ready(self)
    }
}

/// The bounds of a set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections kept per engine.
    pub per_engine: usize,
    /// Connections kept over all engines (until [`IdleSet::set_total`]).
    pub total: usize,
    /// A kept connection closes this long after it was checked in.
    pub idle: Duration,
    /// Connections checked in this recently are closed to make room only
    /// when all are this recent.
    pub fresh: Duration,
}

/// Idle (or still answering) connections of many engines, each engine
/// named by a number.
pub(crate) struct IdleSet<C> {
    limits: Limits,
    /// The bound over all engines (`limits.total` until set).
    total: AtomicUsize,
    inner: Mutex<Inner<C>>,
}

/// Where a kept connection stands in the check-in order: when, then the
/// check-in number (both only grow).
type Place = (Instant, u64);

struct Inner<C> {
    next: u64,
    /// The last check-in time given out (a later check-in never gets an
    /// earlier one, whatever its caller's clock read said).
    last: Option<Instant>,
    /// Per engine, in the order they were checked in (oldest first); an
    /// engine's queue stays, empty, until its client goes (`purge`).
    engines: HashMap<u64, VecDeque<Kept<C>>>,
    /// Every kept connection by its place (oldest first), with its engine:
    /// the front of an engine's queue is its first entry here.
    order: BTreeMap<Place, u64>,
}

struct Kept<C> {
    seq: u64,
    since: Instant,
    conn: C,
}

impl<C> Kept<C> {
    fn place(&self) -> Place {
        (self.since, self.seq)
    }
}

impl<C> Inner<C> {
    /// Takes the connection checked in first, of any engine.
    fn pop_oldest(&mut self) -> Option<C> {
        let (&place, &engine) = self.order.first_key_value()?;
        let kept = self.engines.get_mut(&engine).and_then(VecDeque::pop_front);
        self.order.remove(&place);
        debug_assert!(kept.as_ref().is_some_and(|k| k.place() == place));
        kept.map(|k| k.conn)
    }

    /// Takes one connection to make room: the newest checked in at or
    /// before `cutoff`, else (all newer) the oldest.
    fn pop_for_room(&mut self, cutoff: Option<Instant>) -> Option<C> {
        let stale = cutoff.and_then(|c| {
            self.order
                .range(..=(c, u64::MAX))
                .next_back()
                .map(|(&place, &engine)| (place, engine))
        });
        let Some((place, engine)) = stale else {
            return self.pop_oldest();
        };
        self.order.remove(&place);
        let queue = self.engines.get_mut(&engine)?;
        let at = queue.iter().position(|k| k.place() == place)?;
        queue.remove(at).map(|k| k.conn)
    }

    /// Takes the connections kept for `idle` or longer.
    fn expire(&mut self, now: Instant, idle: Duration, out: &mut Vec<C>) {
        while let Some((_, &engine)) = self.order.first_key_value() {
            let old = self
                .engines
                .get(&engine)
                .and_then(VecDeque::front)
                .is_none_or(|k| now.saturating_duration_since(k.since) >= idle);
            if !old {
                return;
            }
            out.extend(self.pop_oldest());
        }
    }

    /// A check-in time for a connection checked in at `now`: never before
    /// the last one.
    fn stamp(&mut self, now: Instant) -> Instant {
        let since = self.last.map_or(now, |l| l.max(now));
        self.last = Some(since);
        since
    }
}

impl<C: Conn> IdleSet<C> {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            total: AtomicUsize::new(limits.total),
            inner: Mutex::new(Inner {
                next: 0,
                last: None,
                engines: HashMap::new(),
                order: BTreeMap::new(),
            }),
        }
    }

    /// Sets the bound over all engines (kept connections past it close at
    /// the next check-ins).
    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// The bound over all engines.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<C>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest ready connection of `engine`. Closed and expired ones
    /// met on the way are dropped; busy ones stay.
    pub fn checkout(&self, engine: u64, now: Instant) -> Option<C> {
        // dropped once the lock is released
        let mut gone = Vec::new();
        let mut inner = self.lock();
        inner.expire(now, self.limits.idle, &mut gone);
        let Inner { engines, order, .. } = &mut *inner;
        let queue = engines.get_mut(&engine)?;
        let mut found = None;
        // newest first; a removal at i leaves the ones below i in place
        let mut i = queue.len();
        while i > 0 && found.is_none() {
            i -= 1;
            let closed = queue[i].conn.is_closed();
            if closed || queue[i].conn.is_ready() {
                let kept = queue.remove(i).expect("index in range");
                order.remove(&kept.place());
                if closed {
                    gone.push(kept.conn);
                } else {
                    found = Some(kept.conn);
                }
            }
        }
        drop(inner);
        drop(gone);
        found
    }

    /// Keeps `conn` of `engine` for a later request; a closed one is
    /// dropped. At a bound, the oldest connection of the engine (per-engine
    /// bound) or the one the module comment names (total bound) is closed
    /// to make room.
    pub fn checkin(&self, engine: u64, conn: C, now: Instant) {
        if conn.is_closed() {
            return;
        }
        let mut gone = Vec::new();
        let mut inner = self.lock();
        inner.expire(now, self.limits.idle, &mut gone);
        let full = inner
            .engines
            .get(&engine)
            .is_some_and(|q| q.len() >= self.limits.per_engine.max(1));
        if full {
            let queue = inner.engines.get_mut(&engine).expect("checked above");
            let oldest = queue.pop_front().expect("a full queue");
            inner.order.remove(&oldest.place());
            gone.push(oldest.conn);
        }
        let total = self.total().max(1);
        let cutoff = now.checked_sub(self.limits.fresh);
        while inner.order.len() >= total {
            match inner.pop_for_room(cutoff) {
                Some(c) => gone.push(c),
                None => break,
            }
        }
        let seq = inner.next;
        inner.next += 1;
        let since = inner.stamp(now);
        inner.order.insert((since, seq), engine);
        inner
            .engines
            .entry(engine)
            .or_default()
            .push_back(Kept { seq, since, conn });
        drop(inner);
        drop(gone);
    }

    /// Closes the connections kept for the limit's idle time or longer;
    /// when the next one is due, or None when none is kept.
    pub fn expire(&self, now: Instant) -> Option<Instant> {
        let mut gone = Vec::new();
        let mut inner = self.lock();
        inner.expire(now, self.limits.idle, &mut gone);
        let (_, &engine) = inner.order.first_key_value()?;
        let next = inner.engines.get(&engine).and_then(VecDeque::front)?;
        let due = next.since + self.limits.idle;
        drop(inner);
        drop(gone);
        Some(due)
    }

    /// Drops every connection of `engine` (its client is gone).
    pub fn purge(&self, engine: u64) {
        let mut inner = self.lock();
        let Some(queue) = inner.engines.remove(&engine) else {
            return;
        };
        for k in &queue {
            inner.order.remove(&k.place());
        }
        drop(inner);
        drop(queue);
    }

    /// Connections kept (of `engine`, or of all).
    pub fn len(&self, engine: Option<u64>) -> usize {
        let inner = self.lock();
        match engine {
            Some(e) => inner.engines.get(&e).map_or(0, VecDeque::len),
            None => inner.order.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A connection whose state a test sets.
    struct Fake {
        name: &'static str,
        closed: Arc<AtomicBool>,
        busy: Arc<AtomicBool>,
    }

    impl Conn for Fake {
        fn is_closed(&self) -> bool {
            self.closed.load(Ordering::Relaxed)
        }
        fn is_ready(&self) -> bool {
            !self.busy.load(Ordering::Relaxed)
        }
    }

    fn fake(name: &'static str) -> Fake {
        Fake {
            name,
            closed: Arc::default(),
            busy: Arc::default(),
        }
    }

    fn set(per_engine: usize, total: usize) -> IdleSet<Fake> {
        IdleSet::new(Limits {
            per_engine,
            total,
            idle: Duration::from_secs(10),
            fresh: Duration::from_millis(100),
        })
    }

    fn name(c: Option<Fake>) -> Option<&'static str> {
        c.map(|c| c.name)
    }

    #[test]
    fn at_the_total_bound_the_oldest_of_any_engine_goes() {
        let s = set(8, 3);
        let t = Instant::now();
        s.checkin(1, fake("a"), t);
        s.checkin(2, fake("b"), t);
        s.checkin(1, fake("c"), t);
        assert_eq!(s.len(None), 3);
        // the newest is kept; engine 1's oldest ("a") makes room
        s.checkin(3, fake("d"), t);
        assert_eq!(s.len(None), 3);
        assert_eq!(s.len(Some(1)), 1);
        assert_eq!(name(s.checkout(1, t)), Some("c"));
        assert_eq!(name(s.checkout(1, t)), None);
        // the checkout made room for one; then engine 2's goes, checked in
        // before engine 3's
        s.checkin(4, fake("e"), t);
        s.checkin(4, fake("f"), t);
        assert_eq!(name(s.checkout(2, t)), None);
        assert_eq!(s.len(Some(3)), 1);
        assert_eq!(s.len(Some(4)), 2);
        s.checkin(5, fake("g"), t);
        assert_eq!(name(s.checkout(3, t)), None);
        assert_eq!(name(s.checkout(4, t)), Some("f"));
    }

    #[test]
    fn at_the_total_bound_the_newest_past_fresh_goes() {
        let s = set(8, 3);
        let t = Instant::now();
        let ms = Duration::from_millis;
        s.checkin(1, fake("a"), t);
        s.checkin(2, fake("b"), t + ms(10));
        s.checkin(3, fake("c"), t + ms(150));
        // at t+200 "c" is fresh (50 ms); of "a" and "b", "b" is newer
        s.checkin(4, fake("d"), t + ms(200));
        assert_eq!(s.len(None), 3);
        assert_eq!(s.len(Some(2)), 0);
        assert_eq!(name(s.checkout(1, t + ms(200))), Some("a"));
        assert_eq!(name(s.checkout(3, t + ms(200))), Some("c"));
        assert_eq!(name(s.checkout(4, t + ms(200))), Some("d"));
    }

    #[test]
    fn engines_visited_in_turn_mostly_find_a_connection() {
        // 1,000 engines visited in turn, one run every ms, room for 900:
        // closing the oldest at the bound would find none kept, ever
        let s = set(8, 900);
        let t = Instant::now();
        let (mut hits, mut runs) = (0, 0);
        for round in 0..5u64 {
            for e in 0..1000u64 {
                let now = t + Duration::from_millis(round * 1000 + e);
                let conn = s.checkout(e, now);
                if round > 0 {
                    runs += 1;
                    hits += usize::from(conn.is_some());
                }
                s.checkin(e, conn.unwrap_or_else(|| fake("new")), now);
            }
        }
        // about (900 - the 100 fresh) of 1,000
        assert!(hits * 4 >= runs * 3, "{hits} of {runs} runs found one");
    }

    #[test]
    fn a_lower_total_closes_the_excess_at_the_next_check_ins() {
        let s = set(8, 10);
        let t = Instant::now();
        for e in 0..10 {
            s.checkin(e, fake("a"), t);
        }
        assert_eq!(s.total(), 10);
        s.set_total(4);
        s.checkin(10, fake("b"), t);
        assert_eq!(s.len(None), 4);
        assert_eq!(name(s.checkout(10, t)), Some("b"));
    }

    #[test]
    fn per_engine_bound_drops_that_engines_oldest() {
        let s = set(2, 100);
        let t = Instant::now();
        s.checkin(1, fake("a"), t);
        s.checkin(2, fake("x"), t);
        s.checkin(1, fake("b"), t);
        s.checkin(1, fake("c"), t);
        assert_eq!(s.len(Some(1)), 2);
        assert_eq!(s.len(Some(2)), 1);
        // newest first
        assert_eq!(name(s.checkout(1, t)), Some("c"));
        assert_eq!(name(s.checkout(1, t)), Some("b"));
        assert_eq!(name(s.checkout(1, t)), None);
        assert_eq!(name(s.checkout(2, t)), Some("x"));
        assert_eq!(s.len(None), 0);
    }

    #[test]
    fn closed_connections_are_never_handed_out() {
        let s = set(8, 100);
        let t = Instant::now();
        // closed before the check-in: not kept
        let dead = fake("dead");
        dead.closed.store(true, Ordering::Relaxed);
        s.checkin(1, dead, t);
        assert_eq!(s.len(None), 0);
        // closed while kept: dropped when met, the next one handed out
        let a = fake("a");
        let b = fake("b");
        let b_closed = b.closed.clone();
        s.checkin(1, a, t);
        s.checkin(1, b, t);
        b_closed.store(true, Ordering::Relaxed);
        assert_eq!(name(s.checkout(1, t)), Some("a"));
        assert_eq!(s.len(None), 0);
        // all closed: nothing, and nothing left
        let c = fake("c");
        let c_flag = c.closed.clone();
        s.checkin(1, c, t);
        c_flag.store(true, Ordering::Relaxed);
        assert_eq!(name(s.checkout(1, t)), None);
        assert_eq!(s.len(None), 0);
    }

    #[test]
    fn busy_connections_stay_until_ready() {
        let s = set(8, 100);
        let t = Instant::now();
        let a = fake("a");
        let busy = a.busy.clone();
        busy.store(true, Ordering::Relaxed);
        s.checkin(1, a, t);
        assert_eq!(name(s.checkout(1, t)), None);
        assert_eq!(s.len(Some(1)), 1);
        busy.store(false, Ordering::Relaxed);
        assert_eq!(name(s.checkout(1, t)), Some("a"));
    }

    #[test]
    fn kept_connections_expire_after_the_idle_time() {
        let s = set(8, 100);
        let t = Instant::now();
        let idle = Duration::from_secs(10);
        s.checkin(1, fake("a"), t);
        s.checkin(2, fake("b"), t + idle / 2);
        assert_eq!(s.expire(t), Some(t + idle));
        // "a" is due, "b" not yet
        assert_eq!(s.expire(t + idle), Some(t + idle / 2 + idle));
        assert_eq!(s.len(Some(1)), 0);
        assert_eq!(name(s.checkout(2, t + idle)), Some("b"));
        // a checkout past the idle time finds nothing
        s.checkin(3, fake("c"), t);
        assert_eq!(name(s.checkout(3, t + idle * 2)), None);
        assert_eq!(s.expire(t + idle * 2), None);
    }

    #[test]
    fn purge_drops_one_engine() {
        let s = set(8, 100);
        let t = Instant::now();
        s.checkin(1, fake("a"), t);
        s.checkin(2, fake("b"), t);
        s.checkin(1, fake("c"), t);
        s.purge(1);
        assert_eq!(s.len(None), 1);
        // the order stays consistent: the bound still evicts correctly
        let small = set(8, 1);
        small.checkin(1, fake("a"), t);
        small.purge(1);
        small.checkin(2, fake("b"), t);
        assert_eq!(name(small.checkout(2, t)), Some("b"));
        assert_eq!(name(s.checkout(2, t)), Some("b"));
    }
}
