//! Leader election for replicated managers (`shoal manage --replication`):
//! candidates take turns holding one lock, `<prefix>/docker/swarm/leader`,
//! whose value is the holder's advertised address.
//!
//! - etcd: the key is created in a transaction only if absent
//!   (`create_revision == 0`), on a lease of ttl seconds; the holder keeps
//!   the lease alive; when the holder dies its lease, and the key, expire
//!   after the ttl;
//! - ZooKeeper: an ephemeral node of a session whose timeout is the ttl;
//!   when the holder's session expires, the node goes;
//! - Consul: the key acquired by a session of the ttl (10 s at least,
//!   `Behavior: delete`), renewed every round.
//!
//! [`Discovery::campaign`](crate::Discovery::campaign) starts a task that
//! runs one round every third of the ttl: take the lock if it is free,
//! renew it if it is ours, else read who holds it. A round that fails (the
//! store is unreachable, slower than a third of the ttl) makes the state
//! [`Leadership::Unknown`] at once: a primary that cannot renew demotes
//! itself before its lock can expire and pass to another manager.

use std::time::Duration;

use tokio::sync::watch;

use crate::DiscoveryError;

/// The lock's path under the prefix.
pub const LEADER_PATH: &str = "docker/swarm/leader";

/// Who holds the lock, as one candidate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// Not known (yet, or the store cannot be reached): act as no one's
    /// primary and forward nothing.
    Unknown(String),
    /// This candidate holds the lock.
    Primary,
    /// Another candidate holds it, at this address.
    Replica(String),
}

/// One backend's lock, one round at a time.
#[async_trait::async_trait]
pub(crate) trait LeaderLock: Send + Sync + 'static {
    /// Takes the lock for `me` if it is free, renews it if `me` holds it;
    /// returns the holder's address (None: no holder could be read).
    async fn round(&self, me: &str, ttl: Duration) -> Result<Option<String>, DiscoveryError>;

    /// Gives the lock up if `me` holds it (best effort).
    async fn resign(&self, me: &str);
}

/// A running campaign: follow [`Campaign::leadership`]; dropping it stops
/// the campaign and gives the lock up.
#[derive(Debug)]
pub struct Campaign {
    rx: watch::Receiver<Leadership>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Campaign {
    /// The state now and its changes.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.rx.clone()
    }

    /// Stops campaigning and gives the lock up, waiting for it.
    pub async fn resign(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Campaign {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// How often a round runs: a third of the ttl (at least 100 ms).
pub fn round_period(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(100))
}

/// Starts the campaign task on the current runtime.
pub(crate) fn spawn(lock: impl LeaderLock, me: String, ttl: Duration) -> Campaign {
    let (tx, rx) = watch::channel(Leadership::Unknown("not elected yet".into()));
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
    let period = round_period(ttl);
    let task = tokio::spawn(async move {
        loop {
            let state = match tokio::time::timeout(period, lock.round(&me, ttl)).await {
                Ok(Ok(Some(holder))) if holder == me => Leadership::Primary,
                Ok(Ok(Some(holder))) => Leadership::Replica(holder),
                Ok(Ok(None)) => Leadership::Unknown("no primary yet".into()),
                Ok(Err(e)) => Leadership::Unknown(e.to_string()),
                Err(_) => Leadership::Unknown(format!(
                    "the store did not answer within {} ms",
                    period.as_millis()
                )),
            };
            tx.send_if_modified(|cur| {
                if *cur == state {
                    return false;
                }
                match &state {
                    Leadership::Primary => tracing::info!("leader election: primary"),
                    Leadership::Replica(p) => {
                        tracing::info!("leader election: replica of {p}")
                    }
                    Leadership::Unknown(why) => {
                        tracing::warn!("leader election: no primary known: {why}")
                    }
                }
                *cur = state;
                true
            });
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = &mut stop_rx => break,
            }
        }
        let _ = tokio::time::timeout(period, lock.resign(&me)).await;
        tx.send_replace(Leadership::Unknown("resigned".into()));
    });
    Campaign {
        rx,
        stop: Some(stop_tx),
        task: Some(task),
    }
}
