//! Forwarding one request to one engine, streaming both bodies.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use shoal_engine::{body, Body, Engine, EngineError};

use crate::reply::{self, copy_headers, Reply};

/// The request to send upstream: the client's method, end-to-end headers and
/// streaming body, on `path_and_query`.
pub fn upstream_request(
    parts: &hyper::http::request::Parts,
    path_and_query: &str,
    body: Body,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(parts.method.clone())
        .uri(path_and_query);
    if let Some(h) = b.headers_mut() {
        copy_headers(&parts.headers, h);
        // The body may be a rewritten one: hyper sets the length from it.
        h.remove(hyper::header::CONTENT_LENGTH);
    }
    b.body(body).unwrap_or_else(|_| Request::new(body::empty()))
}

/// An engine answer passed on as is, body streaming.
pub fn pass_response(resp: Response<Incoming>) -> Reply {
    let (parts, incoming) = resp.into_parts();
    let mut out = Response::new(body::boxed(incoming));
    *out.status_mut() = parts.status;
    copy_headers(&parts.headers, out.headers_mut());
    out
}

/// Sends `req` (body and all) to `engine` at `path_and_query` and streams
/// the answer back.
pub async fn forward(engine: &Engine, req: Request<Incoming>, path_and_query: &str) -> Reply {
    let (parts, incoming) = req.into_parts();
    let up = upstream_request(&parts, path_and_query, body::boxed(incoming));
    match engine.client().send(up).await {
        Ok(resp) => pass_response(resp),
        Err(e) => engine_error(engine, &e),
    }
}

/// The answer for a failed engine call; connection-level failures also ask
/// the engine's lifecycle to check it now.
pub fn engine_error(engine: &Engine, e: &EngineError) -> Reply {
    match e {
        EngineError::Status { status, message } => reply::error(*status, message.clone()),
        _ => {
            engine.check_soon();
            reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}
