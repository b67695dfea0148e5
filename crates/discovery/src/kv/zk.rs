//! `zk://h1,h2/prefix`: ZooKeeper, through the zookeeper-client crate (async,
//! tokio, kept up to date; speaks ZooKeeper's own protocol, TLS included).
//!
//! A node is an ephemeral znode `/<prefix>/<kv.path>/<ADDR>` holding `ADDR`,
//! owned by the agent's session: it vanishes when the session expires, that
//! is when the agent has been silent for the session timeout, which is the
//! ttl (bounded by the server). The parent path is made persistent on first
//! use. The manager watches the children of that path.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use zookeeper_client as zk;

use super::Layout;
use crate::http::TlsFiles;
use crate::{validate_addr, Discovery, DiscoveryError, DiscoveryOpts, KvUrl, Watch};

/// Session timeout of the sessions used only for reading and watching.
const READER_SESSION: Duration = Duration::from_secs(10);

/// Nodes kept in ZooKeeper.
#[derive(Clone, Debug)]
pub struct ZkDiscovery {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    /// `host:port,host:port`
    cluster: String,
    /// `/prefix/docker/swarm/nodes`
    dir: String,
    tls: Option<zk::TlsOptions>,
    connect_timeout: Duration,
    /// The session that owns our ephemeral node, with its requested timeout.
    writer: Mutex<Option<(zk::Client, Duration)>>,
    /// A session for fetches.
    reader: Mutex<Option<zk::Client>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkDiscovery")
            .field("cluster", &self.cluster)
            .field("dir", &self.dir)
            .finish()
    }
}

fn zk_tls(files: &TlsFiles) -> Result<Option<zk::TlsOptions>, DiscoveryError> {
    if !files.enabled() {
        return Ok(None);
    }
    // zookeeper-client builds its rustls config with the process-wide crypto
    // provider; two are compiled in (ring for reqwest, aws-lc for this crate),
    // so pick one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad = |option: &str, e: zk::Error| DiscoveryError::InvalidOption {
        option: option.into(),
        reason: e.to_string(),
    };
    let text = |option: &str, path: &str| -> Result<String, DiscoveryError> {
        String::from_utf8(crate::http::read_file(option, path)?).map_err(|_| {
            DiscoveryError::InvalidOption {
                option: format!("{option}={path}"),
                reason: "not pem text".into(),
            }
        })
    };
    let mut opts = match &files.ca {
        Some(ca) => zk::TlsOptions::new()
            .with_pem_ca(&text("kv.cacertfile", ca)?)
            .map_err(|e| bad("kv.cacertfile", e))?,
        None => zk::TlsOptions::new(),
    };
    if let (Some(cert), Some(key)) = (&files.cert, &files.key) {
        opts = opts
            .with_pem_identity(&text("kv.certfile", cert)?, &text("kv.keyfile", key)?)
            .map_err(|e| bad("kv.certfile", e))?;
    }
    Ok(Some(opts))
}

impl ZkDiscovery {
    /// A backend for the parsed URL; contacts nothing yet.
    pub fn new(url: &str, kv: KvUrl, opts: &DiscoveryOpts) -> Result<Self, DiscoveryError> {
        let tls = zk_tls(&TlsFiles::from_opts(opts)?)?;
        let layout = Layout::new(url, kv, opts);
        Ok(ZkDiscovery {
            inner: Arc::new(Inner {
                cluster: layout.endpoints.join(","),
                dir: format!("/{}", layout.dir),
                tls,
                connect_timeout: opts.request_timeout(),
                writer: Mutex::new(None),
                reader: Mutex::new(None),
                layout,
            }),
        })
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> DiscoveryError {
        DiscoveryError::backend("zookeeper", &self.inner.cluster, format!("{what}: {e}"))
    }

    async fn connect(&self, session: Duration) -> Result<zk::Client, DiscoveryError> {
        let mut c = zk::Client::connector()
            .with_session_timeout(session)
            .with_connection_timeout(self.inner.connect_timeout.min(session))
            // Give up once every server has refused: retrying is the caller's
            // business (every heartbeat), and `list` should fail fast.
            .with_fail_eagerly();
        if let Some(tls) = &self.inner.tls {
            c = c.with_tls(tls.clone());
        }
        let connecting = async {
            if self.inner.tls.is_some() {
                c.secure_connect(&self.inner.cluster).await
            } else {
                c.connect(&self.inner.cluster).await
            }
        };
        match tokio::time::timeout(self.inner.connect_timeout, connecting).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(self.err("connect", e)),
            Err(_) => Err(self.err("connect", "timed out")),
        }
    }

    /// The reader session, reconnected if it ended.
    async fn reader(&self) -> Result<zk::Client, DiscoveryError> {
        let mut guard = self.inner.reader.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
        }
        let c = self.connect(READER_SESSION).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn ensure_dir(&self, client: &zk::Client) -> Result<(), DiscoveryError> {
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client
            .mkdir(&self.inner.dir, &opts)
            .await
            .map_err(|e| self.err(&format!("creating {}", self.inner.dir), e))
    }

    async fn children(&self, client: &zk::Client) -> Result<Vec<String>, DiscoveryError> {
        match client.list_children(&self.inner.dir).await {
            Ok(names) => Ok(super::addresses(names, &self.inner.layout.url)),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(self.err(&format!("listing {}", self.inner.dir), e)),
        }
    }

    /// One round of watching: the list now, then waits for a change.
    async fn watch_once(
        &self,
        client: &zk::Client,
    ) -> Result<(Vec<String>, zk::OneshotWatcher), DiscoveryError> {
        loop {
            match client.get_and_watch_children(&self.inner.dir).await {
                Ok((names, _, watcher)) => {
                    return Ok((super::addresses(names, &self.inner.layout.url), watcher))
                }
                Err(zk::Error::NoNode) => self.ensure_dir(client).await?,
                Err(e) => return Err(self.err(&format!("watching {}", self.inner.dir), e)),
            }
        }
    }
}

#[async_trait::async_trait]
impl Discovery for ZkDiscovery {
    fn scheme(&self) -> &'static str {
        "zk"
    }

    async fn fetch(&self) -> Result<Vec<String>, DiscoveryError> {
        let client = self.reader().await?;
        self.children(&client).await
    }

    fn watch(&self, heartbeat: Duration) -> Watch {
        let me = self.clone();
        let retry = heartbeat.max(Duration::from_millis(100));
        Watch::spawn(move |tx| async move {
            let mut last: Option<Vec<String>> = None;
            loop {
                let round = async {
                    let client = me.reader().await?;
                    loop {
                        let (list, watcher) = me.watch_once(&client).await?;
                        if last.as_ref() != Some(&list) {
                            last = Some(list.clone());
                            if tx.send(Ok(list)).await.is_err() {
                                return Ok::<bool, DiscoveryError>(false);
                            }
                        }
                        // Wait for the children to change, telling the
                        // receiver when the connection drops meanwhile (the
                        // client reconnects by itself and keeps the watch).
                        let mut states = client.state_watcher();
                        let changed = watcher.changed();
                        tokio::pin!(changed);
                        loop {
                            tokio::select! {
                                ev = &mut changed => {
                                    if ev.event_type == zk::EventType::Session && ev.session_state.is_terminated() {
                                        return Err(me.err("session", format!("{:?}", ev.session_state).to_lowercase()));
                                    }
                                    break;
                                }
                                state = states.changed() => {
                                    if state.is_terminated() {
                                        return Err(me.err("session", format!("{state:?}").to_lowercase()));
                                    }
                                    if state == zk::SessionState::Disconnected {
                                        let e = me.err("connection", "lost, reconnecting");
                                        if tx.send(Err(e)).await.is_err() {
                                            return Ok(false);
                                        }
                                    }
                                }
                            }
                        }
                    }
                };
                let outcome = tokio::select! {
                    r = round => r,
                    _ = tx.closed() => return,
                };
                match outcome {
                    Ok(_) => return,
                    Err(e) => {
                        if !crate::watch::fail_then_wait(&tx, e, retry).await {
                            return;
                        }
                    }
                }
            }
        })
    }

    fn campaign(
        &self,
        me: &str,
        ttl: Duration,
    ) -> Result<crate::election::Campaign, DiscoveryError> {
        validate_addr(me)?;
        let lock = ZkLock {
            d: self.clone(),
            path: format!("/{}", self.inner.layout.leader),
            session: Mutex::new(None),
        };
        Ok(crate::election::spawn(lock, me.to_string(), ttl))
    }

    async fn register(&self, addr: &str, ttl: Duration) -> Result<(), DiscoveryError> {
        validate_addr(addr)?;
        let mut guard = self.inner.writer.lock().await;
        let reuse = match guard.as_ref() {
            Some((c, t)) => *t == ttl && !c.state().is_terminated(),
            None => false,
        };
        if !reuse {
            let client = self.connect(ttl).await?;
            tracing::debug!(session = ?client.session_id(), timeout = ?client.session_timeout(), "zookeeper session");
            *guard = Some((client, ttl));
        }
        let client = guard
            .as_ref()
            .map(|(c, _)| c.clone())
            .expect("writer session set above");
        drop(guard);

        let path = format!("{}/{addr}", self.inner.dir);
        let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        for _ in 0..3 {
            match client.create(&path, addr.as_bytes(), &ephemeral).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => self.ensure_dir(&client).await?,
                Err(zk::Error::NodeExists) => match client.check_stat(&path).await {
                    Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {
                        return Ok(())
                    }
                    // Left by an earlier session of this address (an agent
                    // restarted before its old session expired): take it over.
                    Ok(Some(_)) => match client.delete(&path, None).await {
                        Ok(()) | Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(self.err(&format!("replacing {path}"), e)),
                    },
                    Ok(None) => {}
                    Err(e) => return Err(self.err(&format!("checking {path}"), e)),
                },
                Err(e) => {
                    if client.state().is_terminated() {
                        *self.inner.writer.lock().await = None;
                    }
                    return Err(self.err(&format!("creating {path}"), e));
                }
            }
        }
        Err(self.err(&format!("creating {path}"), "the node keeps changing"))
    }
}

/// The leader lock in ZooKeeper: an ephemeral node of a session whose
/// timeout is the ttl.
struct ZkLock {
    d: ZkDiscovery,
    /// `/prefix/docker/swarm/leader`
    path: String,
    /// The session that owns (or would own) the node.
    session: Mutex<Option<zk::Client>>,
}

#[async_trait::async_trait]
impl crate::election::LeaderLock for ZkLock {
    async fn round(&self, me: &str, ttl: Duration) -> Result<Option<String>, DiscoveryError> {
        let mut guard = self.session.lock().await;
        let client = match guard.as_ref() {
            Some(c) if !c.state().is_terminated() => c.clone(),
            _ => {
                let c = self.d.connect(ttl).await?;
                *guard = Some(c.clone());
                c
            }
        };
        drop(guard);
        // Disconnected, the session may expire any moment without our
        // knowing: a holder must not count on its node.
        if client.state() != zk::SessionState::SyncConnected {
            return Err(self
                .d
                .err("session", format!("{:?}", client.state()).to_lowercase()));
        }
        let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        for _ in 0..3 {
            match client.create(&self.path, me.as_bytes(), &ephemeral).await {
                Ok(_) => return Ok(Some(me.to_string())),
                Err(zk::Error::NoNode) => {
                    let parent = self.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
                    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                    client
                        .mkdir(parent, &opts)
                        .await
                        .map_err(|e| self.d.err(&format!("creating {parent}"), e))?;
                }
                Err(zk::Error::NodeExists) => match client.get_data(&self.path).await {
                    Ok((data, stat)) => {
                        if stat.ephemeral_owner == client.session_id().0 {
                            return Ok(Some(me.to_string()));
                        }
                        let holder = String::from_utf8_lossy(&data).into_owned();
                        // Our address from an earlier session: it goes when
                        // that session expires.
                        return Ok(Some(holder).filter(|h| h != me && !h.is_empty()));
                    }
                    Err(zk::Error::NoNode) => continue,
                    Err(e) => return Err(self.d.err(&format!("reading {}", self.path), e)),
                },
                Err(e) => return Err(self.d.err(&format!("creating {}", self.path), e)),
            }
        }
        Ok(None)
    }

    async fn resign(&self, _me: &str) {
        if let Some(c) = self.session.lock().await.take() {
            // Delete our node now (another manager takes over at its next
            // round); dropping the last client closes the session.
            if let Ok(Some(stat)) = c.check_stat(&self.path).await {
                if stat.ephemeral_owner == c.session_id().0 {
                    let _ = c.delete(&self.path, None).await;
                }
            }
        }
    }
}
