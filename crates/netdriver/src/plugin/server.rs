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
