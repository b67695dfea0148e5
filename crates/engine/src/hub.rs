//! The event hub: engines publish here, `GET /events` subscribers read here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use shoal_api_types::Event;
use tokio::sync::broadcast;

/// A broadcast of events plus a bounded history for `since` queries.
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
    history: Mutex<VecDeque<Arc<Event>>>,
    capacity: usize,
}

impl EventHub {
    /// A hub keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            history: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        // Sending under the history lock keeps subscribe() free of gaps and duplicates.
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        // freed once the lock is released
        let oldest = if h.len() >= self.capacity {
            h.pop_front()
        } else {
            None
        };
        h.push_back(event.clone());
        let _ = self.tx.send(event);
        drop(h);
        drop(oldest);
    }

    /// The kept events at or after `since_nano` (none when None) and a
    /// receiver for every later one.
    pub fn subscribe(
        &self,
        since_nano: Option<i64>,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nano {
            Some(since) => h.iter().filter(|e| e.time_nano >= since).cloned().collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: i64) -> Event {
        Event {
            time_nano: n,
            action: format!("a{n}"),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn history_then_live() {
        let hub = EventHub::new(2);
        hub.publish(ev(1));
        hub.publish(ev(2));
        hub.publish(ev(3));
        let (past, mut rx) = hub.subscribe(Some(2));
        assert_eq!(
            past.iter().map(|e| e.time_nano).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(hub.subscribe(None).0.is_empty());
        hub.publish(ev(4));
        assert_eq!(rx.recv().await.unwrap().time_nano, 4);
    }
}
