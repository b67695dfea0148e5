//! The plugin socket: every call is a POST with a JSON body, answered with
//! JSON (`{"Err": "..."}` and status 500 on failure, which Docker shows to
//! the user).

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::UnixListener;

use super::api::CONTENT_TYPE;
use crate::agent::Agent;
use crate::NetError;

/// Binds `socket` (replacing a stale one) and serves until the task ends.
pub async fn serve(agent: Arc<Agent>, socket: &Path) -> Result<(), NetError> {
    let p = socket.display().to_string();
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(dir.display().to_string(), e))?;
    }
    if socket.exists() {
        std::fs::remove_file(socket).map_err(|e| NetError::io(&p, e))?;
    }
    let listener = UnixListener::bind(socket).map_err(|e| NetError::io(&p, e))?;
    tracing::info!("plugin listening on {p}");
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| NetError::io(&p, e))?;
        let agent = agent.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(agent.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("plugin connection: {e}");
            }
        });
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", CONTENT_TYPE)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, NetError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        NetError::invalid(
            "request body",
            String::from_utf8_lossy(body)
                .chars()
                .take(200)
                .collect::<String>(),
            e.to_string(),
        )
    })
}

fn ok<T: Serialize>(v: T) -> Result<Value, NetError> {
    Ok(serde_json::to_value(v).unwrap_or(Value::Null))
}

async fn handle(
    agent: Arc<Agent>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                json!({"Err": e.to_string()}),
            ))
        }
    };
    tracing::debug!("{path} {}", String::from_utf8_lossy(&body));
    let result = dispatch(&agent, &path, &body).await;
    Ok(match result {
        Some(Ok(v)) => reply(StatusCode::OK, v),
        Some(Err(e)) => {
            tracing::warn!("{path}: {e}");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"Err": e.to_string()}),
            )
        }
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"Err": format!("{path}: not implemented")}),
        ),
    })
}

/// Routes one call; None for a path this plugin does not implement.
pub async fn dispatch(
    agent: &Arc<Agent>,
    path: &str,
    body: &[u8],
) -> Option<Result<Value, NetError>> {
    let r = match path {
        "/Plugin.Activate" => Ok(json!({"Implements": ["NetworkDriver", "IpamDriver"]})),
        "/NetworkDriver.GetCapabilities" => {
            Ok(json!({"Scope": "local", "ConnectivityScope": "global"}))
        }
        "/NetworkDriver.CreateNetwork" => match parse(body) {
            Ok(r) => agent.create_network(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        "/NetworkDriver.DeleteNetwork" => match parse(body) {
            Ok(r) => agent.delete_network(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        "/NetworkDriver.CreateEndpoint" => match parse(body) {
            Ok(r) => agent.create_endpoint(r).await.and_then(ok),
            Err(e) => Err(e),
        },
        "/NetworkDriver.DeleteEndpoint" => match parse(body) {
            Ok(r) => agent.delete_endpoint(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        "/NetworkDriver.EndpointOperInfo" => Ok(json!({"Value": {}})),
        "/NetworkDriver.Join" => match parse(body) {
            Ok(r) => agent.join(r).await.and_then(ok),
            Err(e) => Err(e),
        },
        "/NetworkDriver.Leave" => match parse(body) {
            Ok(r) => agent.leave(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        "/NetworkDriver.DiscoverNew"
        | "/NetworkDriver.DiscoverDelete"
        | "/NetworkDriver.ProgramExternalConnectivity"
        | "/NetworkDriver.RevokeExternalConnectivity"
        | "/NetworkDriver.AllocateNetwork"
        | "/NetworkDriver.FreeNetwork" => Ok(json!({})),
        "/IpamDriver.GetCapabilities" => {
            Ok(json!({"RequiresMACAddress": false, "RequiresRequestReplay": false}))
        }
        "/IpamDriver.GetDefaultAddressSpaces" => Ok(json!({
            "LocalDefaultAddressSpace": "shoal-local",
            "GlobalDefaultAddressSpace": "shoal-global"
        })),
        "/IpamDriver.RequestPool" => match parse(body) {
            Ok(r) => agent.request_pool(r).await.and_then(ok),
            Err(e) => Err(e),
        },
        "/IpamDriver.ReleasePool" => match parse(body) {
            Ok(r) => agent.release_pool(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        "/IpamDriver.RequestAddress" => match parse(body) {
            Ok(r) => agent.request_address(r).await.and_then(ok),
            Err(e) => Err(e),
        },
        "/IpamDriver.ReleaseAddress" => match parse(body) {
            Ok(r) => agent.release_address(r).await.and_then(|_| ok(json!({}))),
            Err(e) => Err(e),
        },
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::agent::AgentConfig;
    use crate::dataplane::Dataplane;
    use crate::kv::MemKv;
    use crate::layout::Layout;
    use crate::netlink::FakeNetlink;
    use crate::session::Session;

    async fn agent() -> Arc<Agent> {
        let host = Ipv4Addr::new(10, 210, 0, 2);
        let nl = Arc::new(FakeNetlink::new(host, 1500));
        let session = Session::new(Arc::new(MemKv::new()), Layout::new("/t"), host, 0);
        let cfg = AgentConfig {
            name: "n".into(),
            ttl: Duration::from_secs(10),
            mtu: None,
            state_file: None,
            engine: None,
            tunnel_port: 0,
        };
        Agent::start(session, Dataplane::new(nl, host, 4789), cfg)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn routes_docker_calls() {
        let a = agent().await;
        let v = dispatch(&a, "/Plugin.Activate", b"")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v["Implements"], json!(["NetworkDriver", "IpamDriver"]));
        let caps = dispatch(&a, "/NetworkDriver.GetCapabilities", b"{}")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(caps["Scope"], "local");
        assert_eq!(caps["ConnectivityScope"], "global");
        let pool = dispatch(
            &a,
            "/IpamDriver.RequestPool",
            br#"{"AddressSpace":"shoal-local","Pool":"10.5.0.0/24","Options":null,"V6":false}"#,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(pool["PoolID"], "10.5.0.0/24");
        assert_eq!(pool["Data"]["com.docker.network.gateway"], "10.5.0.1/24");
        let gw = dispatch(
            &a,
            "/IpamDriver.RequestAddress",
            br#"{"PoolID":"10.5.0.0/24","Address":"","Options":{"RequestAddressType":"com.docker.network.gateway"}}"#,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(gw["Address"], "10.5.0.1/24");
        // A network on an unknown endpoint: a plugin error, not a crash.
        let err = dispatch(
            &a,
            "/NetworkDriver.Join",
            br#"{"NetworkID":"x","EndpointID":"y"}"#,
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(err.to_string().contains("endpoint y"), "{err}");
        let bad = dispatch(&a, "/NetworkDriver.CreateNetwork", b"{not json")
            .await
            .unwrap();
        assert!(bad.is_err());
        assert!(dispatch(&a, "/NetworkDriver.Nope", b"{}").await.is_none());
        let v6 = dispatch(&a, "/IpamDriver.RequestPool", br#"{"V6":true}"#)
            .await
            .unwrap();
        assert!(v6.unwrap_err().to_string().contains("ipv6"));
    }
}
