//! The manager's real request handler (`shoal_manager::handlers::handle`)
//! served by hyper over an in-memory pipe, on a cluster without engines: no
//! network, and every route that needs no engine answers for real.
//!
//! The runtime's clock is paused: when every task waits, time jumps to the
//! next timer, so a stream that never ends (`/events`) costs no real time.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use shoal_cluster::{Cluster, ClusterOpts};
use shoal_manager::Api;
use shoal_scheduler::Scheduler;
use tokio::io::DuplexStream;

pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
});

pub static API: LazyLock<Arc<Api>> = LazyLock::new(|| {
    let cluster = Cluster::new(Scheduler::default(), ClusterOpts::default());
    Api::new(cluster, false)
});

/// Serves one connection the way `shoal_manager::server` does.
pub async fn serve(io: DuplexStream) {
    let api = API.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(shoal_manager::handlers::handle(api, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}
