//! The life of an engine: validate, watch events, refresh, count failures.
//!
//! pending --(/info + /version answer, NCPU and MemTotal > 0)--> healthy
//! healthy --(engine-failure-retry failures in a row)--> unhealthy
//! unhealthy --(one good refresh)--> healthy (engine_reconnect)
//!
//! The cache follows the event stream; a full refresh (info and every list)
//! comes at validation, after the stream broke, and otherwise every
//! `FULL_EVERY` refresh intervals (spread at random over engines). The
//! checks in between are a `_ping`.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use shoal_api_types::{ContainerSummary, Event, NodeStatus};

use crate::cache::CachedContainer;
use crate::engine::{now_nanos, now_secs, Engine};
use crate::error::EngineError;

/// A full refresh at least every this many refresh intervals.
const FULL_EVERY: u32 = 10;

pub(crate) async fn supervise(engine: Arc<Engine>) {
    let mut backoff = Duration::from_secs(1);
    let mut events: Option<tokio::task::JoinHandle<()>> = None;
    let mut next_full = Instant::now();
    loop {
        let (validated, healthy) = {
            let s = engine.read();
            (s.connected_once, s.status == NodeStatus::Healthy)
        };
        let streaming = events.as_ref().is_some_and(|h| !h.is_finished());
        // taken first: a validation (a full load too) settles the ask
        let asked = engine.needs_full.swap(false, Ordering::AcqRel);
        let full = asked || !healthy || !streaming || Instant::now() >= next_full;
        let result = if !validated {
            validate(&engine).await
        } else if full {
            refresh_all(&engine).await
        } else {
            engine.client.ping().await
        };
        if full && result.is_ok() {
            next_full = Instant::now()
                + random_between(
                    engine.opts.refresh_min * FULL_EVERY,
                    engine.opts.refresh_max * FULL_EVERY,
                );
        } else if full {
            engine.needs_full.store(true, Ordering::Release);
        }
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
    // one after the other, on one pooled connection: thousands of engines
    // validated at once must not each open several
    let info = engine.client.info().await?;
    let version = engine.client.version().await?;
    if info.ncpu == 0 || info.mem_total == 0 {
        return Err(EngineError::Refused {
            addr: engine.addr.clone(),
            reason: "it reports 0 CPUs or 0 memory (is this a swarm manager?)".into(),
        });
    }
    {
        let mut s = engine.write();
        s.version = version;
        s.set_info(info);
    }
    refresh_all(engine).await
}

/// Reloads everything: info, containers (inspecting new or changed ones),
/// images, networks, volumes. Containers listed in the state the cache
/// has are kept as they are (compared in place, nothing cloned).
pub(crate) async fn refresh_all(engine: &Arc<Engine>) -> Result<(), EngineError> {
    let c = &engine.client;
    let started = Instant::now();
    let stamp = engine.inserts.load(Ordering::Acquire);
    // in turn on one pooled connection (see validate)
    let info = c.info().await?;
    let list = c.containers().await?;
    let images = c.images().await?;
    let networks = c.networks().await?;
    let volumes = c.volumes().await?;
    let mut listed = HashSet::with_capacity(list.len());
    let mut to_inspect: Vec<ContainerSummary> = Vec::new();
    {
        let s = engine.read();
        for summary in list {
            let same =
                s.cache.containers.get(&summary.id).is_some_and(|prev| {
                    prev.is_inspected() && prev.state().as_str() == summary.state
                });
            listed.insert(summary.id.clone());
            if !same {
                to_inspect.push(summary);
            }
        }
    }
    let fresh: Vec<CachedContainer> = futures_util::stream::iter(to_inspect)
        .map(|summary| async move {
            match c.inspect_record(&summary.id).await {
                Ok(record) => record,
                Err(_) => CachedContainer::from_summary(&summary),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut s = engine.write();
    // Gone from the list: dropped, unless the cache learnt of it (through
    // a create or an event) after this refresh began listing.
    let gone: Vec<String> = s
        .cache
        .containers
        .iter()
        .filter(|(id, c)| !listed.contains(*id) && c.stamp <= stamp)
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        s.drop_container(&id);
    }
    for c in fresh {
        if !s.removed_since(c.id(), started) {
            engine.inserted(&mut s, c);
        }
    }
    s.set_images(images);
    s.cache.networks = networks;
    s.cache.volumes = volumes;
    if info.ncpu > 0 && info.mem_total > 0 {
        s.set_info(info);
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
        // events may be lost across the break: the next check reloads all
        engine.needs_full.store(true, Ordering::Release);
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
        &ev.id
    } else {
        &ev.actor.id
    };
    let action = ev.action.split(':').next().unwrap_or("");
    match ev.kind.as_str() {
        "container" => match action {
            "destroy" => engine.forget_container(id),
            a if a.starts_with("exec_") => {}
            "attach" | "detach" | "resize" | "top" | "export" | "archive-path"
            | "extract-to-dir" | "copy" => {}
            "commit" => spawn_refresh(engine, Refresh::Images),
            a if engine.already_shows(id, a) => {}
            a => engine.refresh_soon(id.clone(), a),
        },
        "image" => spawn_refresh(engine, Refresh::Images),
        "network" => {
            spawn_refresh(engine, Refresh::Networks);
            if let Some(c) = ev.actor.attributes.get("container") {
                engine.refresh_soon(c.clone(), "network");
            }
        }
        "volume" => spawn_refresh(engine, Refresh::Volumes),
        "daemon" if action == "reload" => {
            engine.needs_full.store(true, Ordering::Release);
            engine.check_soon();
        }
        _ => {}
    }
    engine
        .hub
        .publish(ev.with_shared_node(engine.shared_node()));
}

enum Refresh {
    Images,
    Networks,
    Volumes,
}

fn spawn_refresh(engine: &Arc<Engine>, what: Refresh) {
    let e = engine.clone();
    let h = tokio::spawn(async move {
        let r = match what {
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
