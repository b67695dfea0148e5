//! The few calls the agent makes to its own engine: which container holds
//! an endpoint (for its name). Over the engine's unix socket
//! (`DOCKER_HOST=unix://...` or /var/run/docker.sock), HTTP/1.1 through
//! hyper.

use std::path::PathBuf;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::NetError;

#[derive(Clone, Debug)]
pub struct EngineClient {
    socket: PathBuf,
}

impl EngineClient {
    pub fn new(socket: PathBuf) -> Self {
        EngineClient { socket }
    }

    /// From `DOCKER_HOST` when it is `unix://PATH`, else the default socket.
    pub fn from_docker_host(docker_host: Option<&str>) -> Self {
        let path = docker_host
            .and_then(|h| h.strip_prefix("unix://"))
            .unwrap_or("/var/run/docker.sock");
        EngineClient::new(PathBuf::from(path))
    }

    async fn get(&self, path: &str) -> Result<Value, NetError> {
        let sock = self.socket.display().to_string();
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| NetError::io(&sock, e))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| NetError::io(&sock, e))?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("Host", "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| NetError::io(path, e))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| NetError::io(path, e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| NetError::io(path, e))?
            .to_bytes();
        if !status.is_success() {
            return Err(NetError::io(path, format!("engine answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| NetError::io(path, e))
    }

    /// The name of the container whose endpoint `endpoint` is on network
    /// `network`, once the engine lists it.
    pub async fn endpoint_name(
        &self,
        network: &str,
        endpoint: &str,
    ) -> Result<Option<String>, NetError> {
        let v = self.get(&format!("/networks/{network}")).await?;
        Ok(v.get("Containers")
            .and_then(Value::as_object)
            .and_then(|c| {
                c.values()
                    .find(|e| e.get("EndpointID").and_then(Value::as_str) == Some(endpoint))
            })
            .and_then(|e| e.get("Name").and_then(Value::as_str))
            .map(str::to_string))
    }
}
