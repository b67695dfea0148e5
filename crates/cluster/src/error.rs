//! Errors of cluster operations, each with the HTTP status a client gets.

use hyper::StatusCode;
use shoal_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    #[error("No such node: {0}")]
    NoSuchNode(String),
    #[error("Multiple containers found with name or ID prefix {0}: use a longer ID or node/name")]
    Ambiguous(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{by}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, by: String },
    #[error("{0}")]
    Schedule(#[from] shoal_scheduler::ScheduleError),
    #[error("{0}")]
    Hint(#[from] shoal_scheduler::HintError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
}

impl ClusterError {
    pub fn status(&self) -> StatusCode {
        match self {
            ClusterError::NoSuchContainer(_)
            | ClusterError::NoSuchExec(_)
            | ClusterError::NoSuchNode(_) => StatusCode::NOT_FOUND,
            ClusterError::Ambiguous(_) | ClusterError::BadRequest(_) | ClusterError::Hint(_) => {
                StatusCode::BAD_REQUEST
            }
            ClusterError::NameInUse { .. } => StatusCode::CONFLICT,
            // a request that can never be placed is the client's to fix
            ClusterError::Schedule(shoal_scheduler::ScheduleError::InvalidExpression {
                ..
            }) => StatusCode::BAD_REQUEST,
            // classic Swarm answered 500 for "no node fits": clients rely on it
            ClusterError::Schedule(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ClusterError::Engine(e) => e.status(),
        }
    }
}
