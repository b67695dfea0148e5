//! Refreshes of containers that events said changed, each due a moment
//! after its first event: one queue and one task for all the engines made
//! from one [`EngineOpts`](crate::EngineOpts) (a cluster's), instead of a
//! task and a timer per event. At thousands of `docker run` a second,
//! every create event schedules one (the record made from the create
//! request is not inspected yet), and nearly all of them find the
//! manager's own inspect after `start` has made them moot.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use crate::engine::Engine;

/// The refreshes waiting for their time, in the order they fall due.
#[derive(Default)]
pub struct RefreshQueue {
    due: Mutex<VecDeque<Due>>,
    /// A task serves the queue (reset when it ends or is dropped).
    serving: AtomicBool,
}

impl std::fmt::Debug for RefreshQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshQueue")
            .field("waiting", &self.len())
            .finish()
    }
}

struct Due {
    at: Instant,
    engine: Weak<Engine>,
    id: String,
}

/// Resets `serving` when the serving task is dropped (its runtime ends)
/// while armed.
struct Serving {
    queue: Arc<RefreshQueue>,
    armed: bool,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.armed {
            self.queue.serving.store(false, Ordering::Release);
        }
    }
}

impl RefreshQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Due>> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refreshes waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Has `engine` look at container `id` again at `at` (see
    /// [`Engine::refresh_due`]). The delay is the same for every entry, so
    /// the queue stays in due order. Needs a tokio runtime (the task).
    pub(crate) fn push(self: &Arc<Self>, engine: &Arc<Engine>, id: String, at: Instant) {
        self.lock().push_back(Due {
            at,
            engine: Arc::downgrade(engine),
            id,
        });
        if !self.serving.swap(true, Ordering::AcqRel) {
            tokio::spawn(Self::serve(Serving {
                queue: self.clone(),
                armed: true,
            }));
        }
    }

    /// Takes the entries due at `now`; when the next one falls due.
    fn take_due(&self, now: Instant, out: &mut Vec<Due>) -> Option<Instant> {
        let mut q = self.lock();
        while q.front().is_some_and(|d| d.at <= now) {
            out.extend(q.pop_front());
        }
        q.front().map(|d| d.at)
    }

    async fn serve(mut flag: Serving) {
        let queue = flag.queue.clone();
        let mut ready = Vec::new();
        loop {
            let next = queue.take_due(Instant::now(), &mut ready);
            for d in ready.drain(..) {
                if let Some(engine) = d.engine.upgrade() {
                    engine.refresh_due(d.id);
                }
            }
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => {
                    flag.armed = false;
                    queue.serving.store(false, Ordering::Release);
                    // a push between the last look and the reset spawned
                    // no task: serve it here
                    if queue.is_empty() || queue.serving.swap(true, Ordering::AcqRel) {
                        return;
                    }
                    flag.armed = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{EngineOpts, EventHub};

    fn dirty(e: &Engine) -> usize {
        e.dirty.lock().unwrap().len()
    }

    /// Events about one container wait once; the queue is served when due
    /// (not before), empties, and is served again after its task ended.
    #[tokio::test]
    async fn refreshes_wait_once_and_are_served_when_due() {
        let opts = EngineOpts::default();
        let queue = opts.refreshes.clone();
        let hub = Arc::new(EventHub::new(4));
        // nothing listens there: a refresh that runs fails, harmlessly
        let a = Arc::new(Engine::new("127.0.0.1:9", opts.clone(), hub.clone()).unwrap());
        let b = Arc::new(Engine::new("127.0.0.1:10", opts, hub).unwrap());
        a.refresh_soon("c1".into(), "create");
        a.refresh_soon("c1".into(), "start");
        b.refresh_soon("c2".into(), "create");
        assert_eq!(queue.len(), 2);
        assert_eq!(
            a.dirty.lock().unwrap().get("c1").map(String::as_str),
            Some("start")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!((queue.len(), dirty(&a), dirty(&b)), (2, 1, 1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((queue.len(), dirty(&a), dirty(&b)), (0, 0, 0));
        // served again later, by a new task
        a.refresh_soon("c3".into(), "die");
        assert_eq!(queue.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((queue.len(), dirty(&a)), (0, 0));
    }
}
