//! Errors talking to one engine.

use hyper::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid engine address {0:?}: expected tcp://HOST:PORT, HOST:PORT or unix:///PATH")]
    BadAddress(String),
    #[error("cannot connect to engine at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("engine at {addr} did not answer within {secs}s")]
    Timeout { addr: String, secs: u64 },
    #[error("http error talking to engine at {addr}: {source}")]
    Http { addr: String, source: hyper::Error },
    /// The engine answered with an error status; `message` is its own text.
    #[error("{message}")]
    Status { status: StatusCode, message: String },
    #[error("bad answer from engine at {addr} for {what}: {detail}")]
    Decode {
        addr: String,
        what: String,
        detail: String,
    },
    #[error("engine at {addr} refused: {reason}")]
    Refused { addr: String, reason: String },
}

impl EngineError {
    /// The HTTP status to give a client for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            EngineError::Status { status, .. } => *status,
            EngineError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            EngineError::BadAddress(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether this is the engine saying "no such thing".
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}
