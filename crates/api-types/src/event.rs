//! Events (`GET /events`), as engines send them and as the manager adds its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::null_default;

/// `Actor` of an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}

/// One event. The old-style `status`, `id`, `from` are kept when present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    #[serde(rename = "status", skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(rename = "id", skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "from", skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    #[serde(rename = "scope", skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where an event came from, as classic Swarm attached it (`node` object
/// plus `node.*` actor attributes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventNode {
    pub id: String,
    pub name: String,
    pub addr: String,
    pub ip: String,
}

impl Event {
    /// Stamps the node onto an engine event: a top-level `node` object and
    /// `node.name`, `node.id`, `node.addr`, `node.ip` actor attributes.
    pub fn with_node(mut self, node: &EventNode) -> Self {
        let attrs = &mut self.actor.attributes;
        attrs.insert("node.name".into(), node.name.clone());
        attrs.insert("node.id".into(), node.id.clone());
        attrs.insert("node.addr".into(), node.addr.clone());
        attrs.insert("node.ip".into(), node.ip.clone());
        self.extra.insert(
            "node".into(),
            serde_json::json!({"Name": node.name, "Id": node.id, "Addr": node.addr, "Ip": node.ip}),
        );
        self
    }

    /// A manager event about an engine (`engine_connect`, `engine_disconnect`,
    /// `engine_reconnect`), at `time_nano`.
    pub fn engine(action: &str, node: &EventNode, time_nano: i64) -> Self {
        Event {
            status: action.into(),
            kind: "engine".into(),
            action: action.into(),
            actor: EventActor {
                id: node.id.clone(),
                attributes: BTreeMap::new(),
            },
            time: time_nano / 1_000_000_000,
            time_nano,
            ..Default::default()
        }
        .with_node(node)
    }

    /// The node name stamped on this event, if any.
    pub fn node_name(&self) -> Option<&str> {
        self.actor.attributes.get("node.name").map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_event_carries_node() {
        let node = EventNode {
            id: "X".into(),
            name: "n1".into(),
            addr: "1.2.3.4:2375".into(),
            ip: "1.2.3.4".into(),
        };
        let e = Event::engine("engine_connect", &node, 1_500_000_000_123);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "engine");
        assert_eq!(v["status"], "engine_connect");
        assert_eq!(v["time"], 1500);
        assert_eq!(v["node"]["Name"], "n1");
        assert_eq!(v["Actor"]["Attributes"]["node.addr"], "1.2.3.4:2375");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back.node_name(), Some("n1"));
    }
}
