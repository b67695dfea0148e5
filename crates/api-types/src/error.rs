//! The error body every Docker API error carries.

use serde::{Deserialize, Serialize};

/// `{"message": "..."}`: what the docker CLI prints after `Error response from daemon: `.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The JSON text of this error.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"message\":\"internal error\"}".into())
    }
}
