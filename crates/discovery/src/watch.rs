//! [`Watch`]: the receiving end of [`crate::Discovery::watch`].

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::DiscoveryError;

/// One item of a watch: the full list of nodes, or a failure (the watch goes on).
pub type WatchItem = Result<Vec<String>, DiscoveryError>;

/// A running watch on a discovery backend. Dropping it stops the task behind it.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<WatchItem>,
    task: JoinHandle<()>,
}

impl Watch {
    /// Spawns `body` with the sending end of a new watch.
    pub(crate) fn spawn<F, Fut>(body: F) -> Watch
    where
        F: FnOnce(mpsc::Sender<WatchItem>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(body(tx));
        Watch { rx, task }
    }

    /// The next full list (or failure); `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<WatchItem> {
        self.rx.recv().await
    }

    /// The channel itself, for `select!` loops (`watch.receiver().recv()`).
    pub fn receiver(&mut self) -> &mut mpsc::Receiver<WatchItem> {
        &mut self.rx
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `e` to the watcher, then waits `retry` before the next try; false
/// once the watcher has gone (the watch task should end).
pub(crate) async fn fail_then_wait(
    tx: &mpsc::Sender<WatchItem>,
    e: DiscoveryError,
    retry: Duration,
) -> bool {
    if tx.send(Err(e)).await.is_err() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(retry) => true,
        _ = tx.closed() => false,
    }
}

/// A watch that calls `fetch` every `heartbeat` and sends the list the first
/// time and whenever it changes; failures are sent every time they happen.
pub(crate) fn poll<F, Fut>(heartbeat: Duration, fetch: F) -> Watch
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = WatchItem> + Send,
{
    let heartbeat = heartbeat.max(Duration::from_millis(100));
    Watch::spawn(move |tx| async move {
        let mut last: Option<Vec<String>> = None;
        loop {
            let item = fetch().await;
            let send = match &item {
                Ok(list) => last.as_ref() != Some(list),
                Err(_) => true,
            };
            if let Ok(list) = &item {
                last = Some(list.clone());
            }
            if send && tx.send(item).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(heartbeat) => {}
                _ = tx.closed() => return,
            }
        }
    })
}
