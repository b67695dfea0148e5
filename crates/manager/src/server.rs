//! Listeners and connections.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, UnixListener};

use crate::Api;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid listen address {0:?}: expected tcp://HOST:PORT or unix:///PATH")]
    BadAddress(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A bound listener.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
    /// TCP with TLS ([`crate::tls`]).
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
}

impl Listener {
    /// Binds `tcp://HOST:PORT` (or bare `HOST:PORT`) or `unix:///PATH` (a
    /// stale socket file is replaced).
    pub async fn bind(addr: &str) -> Result<Self, ServerError> {
        if let Some(path) = addr.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(ServerError::BadAddress(addr.into()));
            }
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|source| ServerError::Bind {
                addr: addr.into(),
                source,
            })?;
            return Ok(Listener::Unix(l, PathBuf::from(path)));
        }
        let hp = addr.strip_prefix("tcp://").unwrap_or(addr);
        if !hp.contains(':') || hp.contains('/') {
            return Err(ServerError::BadAddress(addr.into()));
        }
        let l = TcpListener::bind(hp)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.into(),
                source,
            })?;
        Ok(Listener::Tcp(l))
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => l
                .local_addr()
                .map(|a| format!("tcp://{a}"))
                .unwrap_or_default(),
            Listener::Unix(_, p) => format!("unix://{}", p.display()),
        }
    }
}

/// Serves the API on `listener` until the task is dropped or the shutdown
/// begins ([`crate::shutdown`]): then the listener is closed and the
/// function returns, connections finishing on their own.
pub async fn serve(api: Arc<Api>, listener: Listener) {
    let stop = api.shutdown.begun();
    tokio::pin!(stop);
    loop {
        let accepted = async {
            match &listener {
                Listener::Tcp(l) => match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        spawn_conn(api.clone(), TokioIo::new(s));
                    }
                    Err(e) => accept_error(e).await,
                },
                Listener::Unix(l, _) => match l.accept().await {
                    Ok((s, _)) => spawn_conn(api.clone(), TokioIo::new(s)),
                    Err(e) => accept_error(e).await,
                },
                Listener::Tls(l, tls) => match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        // the handshake must not hold up the next accept
                        let (api, tls) = (api.clone(), tls.clone());
                        tokio::spawn(async move {
                            if let Some(s) = crate::tls::accept(&tls, s).await {
                                spawn_conn(api, TokioIo::new(s));
                            }
                        });
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        };
        tokio::select! {
            _ = accepted => {}
            _ = &mut stop => return,
        }
    }
}

async fn accept_error(e: std::io::Error) {
    tracing::warn!("accept failed: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

fn spawn_conn<IO>(api: Arc<Api>, io: TokioIo<IO>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let open = api.shutdown.connection();
    let stop = api.shutdown.begun();
    tokio::spawn(async move {
        let svc = {
            let api = api.clone();
            service_fn(move |req: Request<Incoming>| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(crate::gate::handle(api, req).await) }
            })
        };
        // Header names as Go's net/http writes them (`Api-Version`): some
        // clients compare them as they come.
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .title_case_headers(true)
            .serve_connection(io, svc)
            .with_upgrades();
        tokio::pin!(conn, stop);
        let mut stopping = false;
        let ended = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = &mut stop, if !stopping => {
                    // finish the request in flight, take no other
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!("client connection ended: {e}");
        }
        drop(open);
    });
}
