//! The members of a `POST /containers/create` body that a hollow engine
//! keeps, decoded without building the rest: the ~1.7 KB body the docker
//! CLI sends holds some 80 members, most of them zero, that are skipped.
//!
//! Each kept member stays a [`Value`], read as leniently as before (a
//! member of an unexpected type counts as absent).

use serde::Deserialize;
use serde_json::Value;

use crate::error::HollowError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    pub image: Value,
    pub cmd: Value,
    pub entrypoint: Value,
    pub env: Value,
    pub labels: Value,
    pub tty: Value,
    pub open_stdin: Value,
    pub exposed_ports: Value,
    pub host_config: HostConfigBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigBody {
    pub port_bindings: Value,
    pub network_mode: Value,
    pub nano_cpus: Value,
    pub cpu_shares: Value,
    pub memory: Value,
}

impl CreateBody {
    /// Decodes a body: an empty one or `null` is refused as dockerd
    /// refuses it.
    pub fn parse(text: &[u8]) -> Result<Self, HollowError> {
        let blank = text.iter().all(u8::is_ascii_whitespace);
        if blank || text.trim_ascii() == b"null" {
            return Err(HollowError::BadRequest(
                "config cannot be empty in order to create a container".into(),
            ));
        }
        serde_json::from_slice(text)
            .map_err(|e| HollowError::BadRequest(format!("invalid JSON: {e}")))
    }

    /// A body given as a value (tests, tools).
    pub fn from_value(v: &Value) -> Result<Self, HollowError> {
        Self::parse(&serde_json::to_vec(v).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_it_reads_and_skips_the_rest() {
        let b = CreateBody::parse(
            br#"{"Hostname":"","Image":"busybox","Cmd":["sleep","1"],"Labels":{"a":"b"},
                "Volumes":{},"HostConfig":{"Memory":5,"Binds":null,"NetworkMode":"host",
                "PortBindings":{"80/tcp":[{"HostPort":"8080"}]}},"NetworkingConfig":{"EndpointsConfig":{}}}"#,
        )
        .unwrap();
        assert_eq!(b.image, "busybox");
        assert_eq!(b.cmd, json!(["sleep", "1"]));
        assert_eq!(b.labels, json!({"a": "b"}));
        assert_eq!(b.host_config.memory, 5);
        assert_eq!(b.host_config.network_mode, "host");
        assert_eq!(b.host_config.port_bindings["80/tcp"][0]["HostPort"], "8080");
        assert!(b.entrypoint.is_null() && b.env.is_null() && b.tty.is_null());
    }

    #[test]
    fn refuses_empty_and_broken_bodies() {
        for text in [&b""[..], b"  \n", b"null"] {
            match CreateBody::parse(text) {
                Err(HollowError::BadRequest(m)) => assert!(m.contains("cannot be empty"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        match CreateBody::parse(b"{\"Image\":") {
            Err(HollowError::BadRequest(m)) => assert!(m.starts_with("invalid JSON"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
