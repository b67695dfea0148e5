//! What a `docker run` asks of the scheduler, and how the scheduling hints
//! are read out of a container's environment and labels.

use crate::error::HintError;
use crate::node::{Labels, PortBinding};

/// Label namespace of classic Swarm.
pub const SWARM_LABEL_NAMESPACE: &str = "com.docker.swarm";
/// Label holding the constraints, a JSON array of strings.
pub const CONSTRAINTS_LABEL: &str = "com.docker.swarm.constraints";
/// Label holding the affinities, a JSON array of strings.
pub const AFFINITIES_LABEL: &str = "com.docker.swarm.affinities";
pub use shoal_api_types::RESCHEDULE_POLICIES_LABEL;

/// One container to place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRequest {
    /// Image name as given to `docker run`.
    pub image: String,
    /// CPUs asked for (`-c`, a count of CPUs); 0 when not given.
    pub cpus: i64,
    /// Memory asked for in bytes (`-m`); 0 when not given.
    pub memory: i64,
    /// Constraint expressions (`region==us-*`, `node!=n1`, `storage==~ssd`).
    pub constraints: Vec<String>,
    /// Affinity expressions (`container==web`, `image==redis`, `app==db`).
    pub affinities: Vec<String>,
    /// Requested host port bindings (`-p`).
    pub port_bindings: Vec<PortBinding>,
    /// `HostConfig.NetworkMode`: `host`, `container:NAME`, a network name, or
    /// empty.
    pub network_mode: String,
    /// `Config.ExposedPorts` keys (`80/tcp`); used with host networking.
    pub exposed_ports: Vec<String>,
    /// `--link` entries (`name` or `name:alias`).
    pub links: Vec<String>,
    /// `--volumes-from` entries (`name` or `name:ro`).
    pub volumes_from: Vec<String>,
}

impl ContainerRequest {
    /// A request for `image` with nothing else asked.
    pub fn new(image: impl Into<String>) -> Self {
        ContainerRequest {
            image: image.into(),
            ..Default::default()
        }
    }

    /// Whether a hard `node==` constraint pins the container (classic Swarm's
    /// `HaveNodeConstraint`: then there is no image-affinity retry and no
    /// soft network constraint).
    pub fn has_node_constraint(&self) -> bool {
        self.constraints
            .iter()
            .any(|c| c.starts_with("node==") && !c.starts_with("node==~"))
    }

    /// Whether the container runs with host networking.
    pub fn host_network(&self) -> bool {
        self.network_mode == "host"
    }

    /// The container named by `--net=container:NAME`, if any.
    pub fn network_container(&self) -> Option<&str> {
        self.network_mode.strip_prefix("container:")
    }
}

/// Scheduling hints of a container, taken from its labels and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulingHints {
    /// Constraints: those of the label first, then those of the environment.
    pub constraints: Vec<String>,
    /// Affinities: those of the label first, then those of the environment.
    pub affinities: Vec<String>,
    /// Reschedule policies (`off`, `on-node-failure`).
    pub reschedule_policies: Vec<String>,
}

impl SchedulingHints {
    /// Reads the hints as classic Swarm did when a container is created:
    /// the JSON arrays of the `com.docker.swarm.constraints`,
    /// `com.docker.swarm.affinities` and `com.docker.swarm.reschedule-policies`
    /// labels, then every `constraint:EXPR`, `affinity:EXPR` and
    /// `reschedule:POLICY` environment entry. Those entries are removed from
    /// `env`, and the merged lists are written back into `labels` (as JSON
    /// arrays) so that the engine keeps them with the container.
    ///
    /// Unlike classic Swarm, which silently ignored a label that was not a JSON
    /// array of strings, such a label is an error naming the label.
    pub fn extract(env: &mut Vec<String>, labels: &mut Labels) -> Result<Self, HintError> {
        let mut hints = SchedulingHints {
            constraints: label_list(labels, CONSTRAINTS_LABEL)?,
            affinities: label_list(labels, AFFINITIES_LABEL)?,
            reschedule_policies: label_list(labels, RESCHEDULE_POLICIES_LABEL)?,
        };
        env.retain(|entry| {
            let Some((key, value)) = entry.split_once(':') else {
                return true;
            };
            let list = match key {
                "constraint" => &mut hints.constraints,
                "affinity" => &mut hints.affinities,
                "reschedule" => &mut hints.reschedule_policies,
                _ => return true,
            };
            list.push(value.to_string());
            false
        });
        store_list(labels, CONSTRAINTS_LABEL, &hints.constraints);
        store_list(labels, AFFINITIES_LABEL, &hints.affinities);
        store_list(
            labels,
            RESCHEDULE_POLICIES_LABEL,
            &hints.reschedule_policies,
        );
        Ok(hints)
    }

    /// Reads the hints from labels only (a container already created).
    pub fn from_labels(labels: &Labels) -> Result<Self, HintError> {
        Ok(SchedulingHints {
            constraints: label_list(labels, CONSTRAINTS_LABEL)?,
            affinities: label_list(labels, AFFINITIES_LABEL)?,
            reschedule_policies: label_list(labels, RESCHEDULE_POLICIES_LABEL)?,
        })
    }

    /// Checks the reschedule policies as classic Swarm did: at most one, and
    /// that one `off` or `on-node-failure`.
    pub fn validate_reschedule_policies(&self) -> Result<(), HintError> {
        match self.reschedule_policies.as_slice() {
            [] => Ok(()),
            [one] if one == "off" || one == "on-node-failure" => Ok(()),
            [one] => Err(HintError::InvalidReschedulePolicy(one.clone())),
            _ => Err(HintError::TooManyReschedulePolicies),
        }
    }
}

fn label_list(labels: &Labels, label: &'static str) -> Result<Vec<String>, HintError> {
    match labels.get(label) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str::<Option<Vec<String>>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|err| HintError::BadLabel {
                label,
                value: text.clone(),
                reason: err.to_string(),
            }),
    }
}

fn store_list(labels: &mut Labels, label: &str, list: &[String]) {
    if !list.is_empty() {
        let json = serde_json::to_string(list).expect("a list of strings always serializes");
        labels.insert(label.to_string(), json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn strips_hints_from_env_and_stores_them_in_labels() {
        let mut env = strings(&[
            "PATH=/bin",
            "constraint:region==us-*",
            "affinity:container==db",
            "reschedule:on-node-failure",
            "constraint:node!=n1",
            "URL=http://x:80",
            "NOCOLON",
        ]);
        let mut labels = Labels::new();
        labels.insert(CONSTRAINTS_LABEL.into(), r#"["storage==ssd"]"#.into());
        labels.insert("app".into(), "web".into());
        let hints = SchedulingHints::extract(&mut env, &mut labels).unwrap();
        assert_eq!(
            hints.constraints,
            strings(&["storage==ssd", "region==us-*", "node!=n1"])
        );
        assert_eq!(hints.affinities, strings(&["container==db"]));
        assert_eq!(hints.reschedule_policies, strings(&["on-node-failure"]));
        assert_eq!(env, strings(&["PATH=/bin", "URL=http://x:80", "NOCOLON"]));
        assert_eq!(
            labels[CONSTRAINTS_LABEL],
            r#"["storage==ssd","region==us-*","node!=n1"]"#
        );
        assert_eq!(labels[AFFINITIES_LABEL], r#"["container==db"]"#);
        assert_eq!(labels[RESCHEDULE_POLICIES_LABEL], r#"["on-node-failure"]"#);
        assert_eq!(labels["app"], "web");
        assert_eq!(SchedulingHints::from_labels(&labels).unwrap(), hints);
    }

    #[test]
    fn env_keys_are_exact() {
        let mut env = strings(&[
            "Constraint:region==us",
            "constraints:region==us",
            "constraint=region==us",
        ]);
        let mut labels = Labels::new();
        let hints = SchedulingHints::extract(&mut env, &mut labels).unwrap();
        assert!(hints.constraints.is_empty());
        assert_eq!(env.len(), 3);
        assert!(labels.is_empty());
    }

    #[test]
    fn label_arrays_must_be_json_arrays_of_strings() {
        let mut labels = Labels::new();
        labels.insert(
            AFFINITIES_LABEL.into(),
            r#"["image==redis", "container!=web"]"#.into(),
        );
        labels.insert(CONSTRAINTS_LABEL.into(), "null".into());
        let hints = SchedulingHints::from_labels(&labels).unwrap();
        assert_eq!(
            hints.affinities,
            strings(&["image==redis", "container!=web"])
        );
        assert!(hints.constraints.is_empty());

        labels.insert(CONSTRAINTS_LABEL.into(), "region==us".into());
        let err = SchedulingHints::from_labels(&labels).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "label com.docker.swarm.constraints must be a JSON array of strings, got \"region==us\":"
            ),
            "{err}"
        );
        labels.insert(CONSTRAINTS_LABEL.into(), "[1, 2]".into());
        assert!(matches!(
            SchedulingHints::from_labels(&labels),
            Err(HintError::BadLabel { .. })
        ));
    }

    #[test]
    fn reschedule_policies_are_checked() {
        let hints = |p: &[&str]| SchedulingHints {
            reschedule_policies: strings(p),
            ..Default::default()
        };
        assert_eq!(hints(&[]).validate_reschedule_policies(), Ok(()));
        assert_eq!(hints(&["off"]).validate_reschedule_policies(), Ok(()));
        assert_eq!(
            hints(&["on-node-failure"]).validate_reschedule_policies(),
            Ok(())
        );
        assert_eq!(
            hints(&["always"])
                .validate_reschedule_policies()
                .unwrap_err()
                .to_string(),
            "invalid reschedule policy: always"
        );
        assert_eq!(
            hints(&["off", "off"])
                .validate_reschedule_policies()
                .unwrap_err()
                .to_string(),
            "too many reschedule policies"
        );
    }

    #[test]
    fn node_constraints_and_network_modes() {
        let mut req = ContainerRequest::new("busybox");
        req.constraints = strings(&["node==~n1", "region==us"]);
        assert!(!req.has_node_constraint());
        req.constraints.push("node==n2".into());
        assert!(req.has_node_constraint());
        req.network_mode = "container:db".into();
        assert_eq!(req.network_container(), Some("db"));
        assert!(!req.host_network());
    }
}
