//! Building answers: JSON, errors, and the headers every answer carries.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use shoal_api_types::ErrorBody;
use shoal_engine::{body, Body};

pub type Reply = Response<Body>;

/// A JSON answer.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Reply {
    let text = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut r = Response::new(body::full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A Docker error answer: `{"message": ...}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(status, &ErrorBody::new(message))
}

pub fn status_only(status: StatusCode) -> Reply {
    let mut r = Response::new(body::empty());
    *r.status_mut() = status;
    r
}

pub fn not_found_route() -> Reply {
    error(StatusCode::NOT_FOUND, "page not found")
}

/// Headers that belong to one connection and are never forwarded.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
    )
}

/// Copies end-to-end headers.
pub fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !is_hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// The headers dockerd puts on every answer, which the CLI reads.
pub fn stamp(headers: &mut HeaderMap, cors: bool) {
    headers.insert(
        "api-version",
        HeaderValue::from_static(shoal_api_types::API_VERSION),
    );
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert(
        "server",
        HeaderValue::from_static(concat!("Shoal/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    if cors {
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(
                "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth",
            ),
        );
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("HEAD, GET, POST, DELETE, PUT, OPTIONS"),
        );
    }
}
