//! The life of an engine: validate, watch events, refresh, count failures.
//!
//! pending --(/info + /version answer, NCPU and MemTotal > 0)--> healthy
//! healthy --(engine-failure-retry failures in a row)--> unhealthy
//! unhealthy --(one good refresh)--> healthy (engine_reconnect)

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use shoal_api_types::{ContainerInspect, Event, NodeStatus};

use crate::cache::{CachedContainer, EngineCache};
use crate::engine::{now_nanos, now_secs, Engine};
use crate::error::EngineError;

pub(crate) async fn supervise(engine: Arc<Engine>) {
    let mut backoff = Duration::from_secs(1);
    let mut events: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let validated = engine.read().connected_once;
        let result = if validated {
            refresh_all(&engine).await
        } else {
            validate(&engine).await
        };
        let wait = match result {
            Ok(()) => {
                backoff = Duration::from_secs(1);
                {
                    let mut s = engine.write();
                    let was = s.status;
                    let first = !s.connected_once;
                    s.status = NodeStatus::Healthy;
                    s.failures = 0;
                    s.error.clear();
                    s.updated_at = now_secs();
                    s.connected_once = true;
                    let action = match (first, was) {
                        (true, _) => Some("engine_connect"),
                        (false, NodeStatus::Healthy) => None,
                        (false, _) => Some("engine_reconnect"),
                    };
                    // Published under the state lock: whoever sees the new
                    // status can already replay the event.
                    if let Some(action) = action {
                        tracing::info!(engine = %engine.addr, name = %s.info.name, "{action}");
                        engine.hub.publish(Event::engine(
                            action,
                            &engine.event_node_of(&s),
                            now_nanos(),
                        ));
                    }
                }
                if events.as_ref().is_none_or(|h| h.is_finished()) {
                    let h = tokio::spawn(watch_events(engine.clone()));
                    events = Some(h);
                }
                random_between(engine.opts.refresh_min, engine.opts.refresh_max)
            }
            Err(err) => {
                {
                    let mut s = engine.write();
                    s.failures += 1;
                    s.error = err.to_string();
                    tracing::warn!(engine = %engine.addr, "engine check failed: {err}");
                    if s.status == NodeStatus::Healthy
                        && s.failures >= engine.opts.failure_retry.max(1)
                    {
                        s.status = NodeStatus::Unhealthy;
                        tracing::warn!(engine = %engine.addr, "engine_disconnect: marked unhealthy");
                        engine.hub.publish(Event::engine(
                            "engine_disconnect",
                            &engine.event_node_of(&s),
                            now_nanos(),
                        ));
                    }
                }
                let wait = backoff;
                let cap = if validated {
                    engine.opts.refresh_min
                } else {
                    engine.opts.refresh_max
                };
                backoff = (backoff * 2).min(cap.max(Duration::from_secs(1)));
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = engine.kick.notified() => {}
        }
    }
}

fn random_between(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let ms = rand::thread_rng().gen_range(min.as_millis() as u64..=max.as_millis() as u64);
    Duration::from_millis(ms)
}

/// First contact: /info and /version, refusing engines with no CPU or
/// memory (classic Swarm's "is this a swarm manager?"), then a full load.
async fn validate(engine: &Arc<Engine>) -> Result<(), EngineError> {
    let (info, version) = tokio::try_join!(engine.client.info(), engine.client.version())?;
    if info.ncpu == 0 || info.mem_total == 0 {
        return Err(EngineError::Refused {
            addr: engine.addr.clone(),
            reason: "it reports 0 CPUs or 0 memory (is this a swarm manager?)".into(),
        });
    }
    {
        let mut s = engine.write();
        s.version = version;
        s.info = info;
    }
    refresh_all(engine).await
}

/// Reloads everything: info, containers (inspecting new or changed ones),
/// images, networks, volumes.
pub(crate) async fn refresh_all(engine: &Arc<Engine>) -> Result<(), EngineError> {
    let c = &engine.client;
    let started = std::time::Instant::now();
    let (info, list, images, networks, volumes) = tokio::try_join!(
        c.info(),
        c.containers(),
        c.images(),
        c.networks(),
        c.volumes()
    )?;
    let old: EngineCache = engine.with_cache(Clone::clone);
    let mut fresh = std::collections::BTreeMap::new();
    let mut to_inspect = Vec::new();
    for summary in list {
        match old.containers.get(&summary.id) {
            Some(prev) if prev.inspect.is_some() && prev.summary.state == summary.state => {
                fresh.insert(
                    summary.id.clone(),
                    CachedContainer {
                        summary,
                        inspect: prev.inspect.clone(),
                    },
                );
            }
            _ => to_inspect.push(summary),
        }
    }
    let inspected: Vec<(shoal_api_types::ContainerSummary, Option<ContainerInspect>)> =
        futures_util::stream::iter(to_inspect)
            .map(|summary| async move {
                let i = c.inspect(&summary.id).await.ok();
                (summary, i)
            })
            .buffer_unordered(8)
            .collect()
            .await;
    for (summary, inspect) in inspected {
        fresh.insert(summary.id.clone(), CachedContainer { summary, inspect });
    }
    let mut s = engine.write();
    fresh.retain(|id, _| !s.removed_since(id, started));
    // Containers the cache learnt of (through a create or an event) while
    // this refresh was listing stay: the next event or refresh settles them.
    for (id, c) in &s.cache.containers {
        if !old.containers.contains_key(id) && !fresh.contains_key(id) {
            fresh.insert(id.clone(), c.clone());
        }
    }
    s.cache = EngineCache {
        containers: fresh,
        images,
        networks,
        volumes,
    };
    if info.ncpu > 0 && info.mem_total > 0 {
        s.info = info;
    }
    s.updated_at = now_secs();
    Ok(())
}

/// Follows the engine's /events stream: keeps the cache current and
/// publishes each event, stamped with the node, to the hub. When the stream
/// breaks, asks the supervisor to check the engine and reopens it.
async fn watch_events(engine: Arc<Engine>) {
    loop {
        let last = engine.last_event_nano.load(Ordering::Relaxed);
        let since =
            (last > 0).then(|| format!("{}.{:09}", last / 1_000_000_000, last % 1_000_000_000));
        match engine.client.events(since.as_deref()).await {
            Ok(mut reader) => loop {
                match reader.next_line().await {
                    Ok(Some(line)) => match serde_json::from_slice::<Event>(&line) {
                        Ok(ev) => handle_event(&engine, ev),
                        Err(e) => tracing::debug!(engine = %engine.addr, "unreadable event: {e}"),
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(engine = %engine.addr, "event stream broke: {e}");
                        break;
                    }
                }
            },
            Err(e) => tracing::debug!(engine = %engine.addr, "cannot open event stream: {e}"),
        }
        engine.check_soon();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if engine.status() != NodeStatus::Healthy {
            // The supervisor restarts this watcher once the engine is back.
            return;
        }
    }
}

fn handle_event(engine: &Arc<Engine>, ev: Event) {
    if ev.time_nano != 0 && ev.time_nano <= engine.last_event_nano.load(Ordering::Relaxed) {
        return;
    }
    engine
        .last_event_nano
        .fetch_max(ev.time_nano, Ordering::Relaxed);
    let id = if ev.actor.id.is_empty() {
        ev.id.clone()
    } else {
        ev.actor.id.clone()
    };
    let action = ev.action.split(':').next().unwrap_or("").to_string();
    match ev.kind.as_str() {
        "container" => match action.as_str() {
            "destroy" => engine.forget_container(&id),
            a if a.starts_with("exec_") => {}
            "attach" | "detach" | "resize" | "top" | "export" | "archive-path"
            | "extract-to-dir" | "copy" => {}
            "commit" => spawn_refresh(engine, Refresh::Images),
            _ => spawn_refresh(engine, Refresh::Container(id)),
        },
        "image" => spawn_refresh(engine, Refresh::Images),
        "network" => {
            spawn_refresh(engine, Refresh::Networks);
            if let Some(c) = ev.actor.attributes.get("container") {
                spawn_refresh(engine, Refresh::Container(c.clone()));
            }
        }
        "volume" => spawn_refresh(engine, Refresh::Volumes),
        _ => {}
    }
    engine.hub.publish(ev.with_node(&engine.event_node()));
}

enum Refresh {
    Container(String),
    Images,
    Networks,
    Volumes,
}

fn spawn_refresh(engine: &Arc<Engine>, what: Refresh) {
    let e = engine.clone();
    let h = tokio::spawn(async move {
        let r = match what {
            Refresh::Container(id) => e.refresh_container(&id).await.map(|_| ()),
            Refresh::Images => e.refresh_images().await,
            Refresh::Networks => e.refresh_networks().await,
            Refresh::Volumes => e.refresh_volumes().await,
        };
        if let Err(err) = r {
            tracing::debug!(engine = %e.addr, "refresh after event failed: {err}");
        }
    });
    engine.add_task(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_interval_in_bounds() {
        let (a, b) = (Duration::from_millis(10), Duration::from_millis(20));
        for _ in 0..100 {
            let d = random_between(a, b);
            assert!(d >= a && d <= b);
        }
        assert_eq!(random_between(b, a), b);
    }
}
