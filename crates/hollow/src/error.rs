//! Errors a hollow engine answers with, as dockerd words them.

use hyper::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HollowError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// Nothing to do (start of a running container, stop of a stopped one).
    #[error("not modified")]
    NotModified,
}

impl HollowError {
    pub fn status(&self) -> StatusCode {
        match self {
            HollowError::NotFound(_) => StatusCode::NOT_FOUND,
            HollowError::Conflict(_) => StatusCode::CONFLICT,
            HollowError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HollowError::NotModified => StatusCode::NOT_MODIFIED,
        }
    }

    pub fn no_such_container(query: &str) -> Self {
        HollowError::NotFound(format!("No such container: {query}"))
    }
}
