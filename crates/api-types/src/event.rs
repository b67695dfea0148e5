//! Events (`GET /events`), as engines send them and as the manager adds its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
///
/// Decoded by hand (see [`Event`]'s `Deserialize`): known keys straight
/// into their fields, only unknown ones into `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// The node the manager stamped on the event (shown as the `node`
    /// object), shared by every event of that node.
    #[serde(
        rename = "node",
        skip_serializing_if = "Option::is_none",
        serialize_with = "node_object"
    )]
    pub node: Option<Arc<EventNode>>,
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

/// `node` as classic Swarm shows it (keys in the order a JSON map of them
/// had: sorted).
fn node_object<S: Serializer>(node: &Option<Arc<EventNode>>, ser: S) -> Result<S::Ok, S::Error> {
    let Some(node) = node else {
        return ser.serialize_none();
    };
    let mut m = ser.serialize_map(Some(4))?;
    m.serialize_entry("Addr", &node.addr)?;
    m.serialize_entry("Id", &node.id)?;
    m.serialize_entry("Ip", &node.ip)?;
    m.serialize_entry("Name", &node.name)?;
    m.end()
}

impl Event {
    /// Stamps the node onto an engine event: a top-level `node` object and
    /// `node.name`, `node.id`, `node.addr`, `node.ip` actor attributes.
    pub fn with_node(self, node: &EventNode) -> Self {
        self.with_shared_node(Arc::new(node.clone()))
    }

    /// [`Event::with_node`] with a node shared with other events (nothing
    /// of it copied but the attributes).
    pub fn with_shared_node(mut self, node: Arc<EventNode>) -> Self {
        let attrs = &mut self.actor.attributes;
        attrs.insert("node.name".into(), node.name.clone());
        attrs.insert("node.id".into(), node.id.clone());
        attrs.insert("node.addr".into(), node.addr.clone());
        attrs.insert("node.ip".into(), node.ip.clone());
        // a `node` the event came with (decoded into extra) is replaced
        if !self.extra.is_empty() {
            self.extra.remove("node");
        }
        self.node = Some(node);
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

/// The keys of an event, told apart without allocating (unknown ones are
/// kept, for `extra`).
enum Key {
    Status,
    Id,
    From,
    Kind,
    Action,
    Actor,
    Scope,
    Time,
    TimeNano,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event field name")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "status" => Key::Status,
                    "id" => Key::Id,
                    "from" => Key::From,
                    "Type" => Key::Kind,
                    "Action" => Key::Action,
                    "Actor" => Key::Actor,
                    "scope" => Key::Scope,
                    "time" => Key::Time,
                    "timeNano" => Key::TimeNano,
                    other => Key::Other(other.to_string()),
                })
            }
        }
        de.deserialize_identifier(KeyVisitor)
    }
}

/// A field that may be `null` (Go's zero value): the default then.
fn lenient<'de, A: MapAccess<'de>, T: Default + Deserialize<'de>>(
    map: &mut A,
) -> Result<T, A::Error> {
    Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = Event;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
                let mut e = Event::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Status => e.status = lenient(&mut map)?,
                        Key::Id => e.id = lenient(&mut map)?,
                        Key::From => e.from = lenient(&mut map)?,
                        Key::Kind => e.kind = lenient(&mut map)?,
                        Key::Action => e.action = lenient(&mut map)?,
                        Key::Actor => e.actor = lenient(&mut map)?,
                        Key::Scope => e.scope = lenient(&mut map)?,
                        Key::Time => e.time = lenient(&mut map)?,
                        Key::TimeNano => e.time_nano = lenient(&mut map)?,
                        Key::Other(k) => {
                            let v: Value = map.next_value()?;
                            e.extra.insert(k, v);
                        }
                    }
                }
                Ok(e)
            }
        }
        de.deserialize_map(EventVisitor)
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

    /// What an engine sends, as the manager shows it: every field read,
    /// unknown ones kept, `null`s as zero values, the node stamped once.
    #[test]
    fn engine_event_decoded_and_stamped() {
        let line = br#"{"status":"start","id":"abc","from":"busybox","Type":"container",
            "Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},
            "scope":"local","time":1500,"timeNano":1500000000123,"extra":{"k":[1]},"scope2":null}"#;
        let e: Event = serde_json::from_slice(line).unwrap();
        assert_eq!(
            (e.status.as_str(), e.id.as_str(), e.from.as_str()),
            ("start", "abc", "busybox")
        );
        assert_eq!((e.kind.as_str(), e.action.as_str()), ("container", "start"));
        assert_eq!(e.actor.id, "abc");
        assert_eq!(e.actor.attributes["name"], "web");
        assert_eq!(
            (e.scope.as_str(), e.time, e.time_nano),
            ("local", 1500, 1500000000123)
        );
        assert_eq!(e.extra.len(), 2);
        let node = Arc::new(EventNode {
            id: "X".into(),
            name: "n1".into(),
            addr: "1.2.3.4:2375".into(),
            ip: "1.2.3.4".into(),
        });
        let v = serde_json::to_value(e.with_shared_node(node.clone())).unwrap();
        let mut want: Value = serde_json::from_slice(line).unwrap();
        want["node"] =
            serde_json::json!({"Name": "n1", "Id": "X", "Addr": "1.2.3.4:2375", "Ip": "1.2.3.4"});
        let attrs = &mut want["Actor"]["Attributes"];
        attrs["node.name"] = "n1".into();
        attrs["node.id"] = "X".into();
        attrs["node.addr"] = "1.2.3.4:2375".into();
        attrs["node.ip"] = "1.2.3.4".into();
        assert_eq!(v, want);

        // nulls are zero values; a `node` the event had is replaced
        let odd =
            br#"{"status":null,"Type":"image","Actor":null,"time":null,"node":{"Name":"old"}}"#;
        let e: Event = serde_json::from_slice(odd).unwrap();
        assert_eq!(
            (e.status.as_str(), e.kind.as_str(), e.time),
            ("", "image", 0)
        );
        assert_eq!(e.extra["node"]["Name"], "old");
        let text = serde_json::to_string(&e.with_shared_node(node)).unwrap();
        assert_eq!(text.matches(r#""node":"#).count(), 1);
        assert!(text.contains(r#""Name":"n1""#) && !text.contains("old"));

        assert!(serde_json::from_slice::<Event>(b"[1]").is_err());
        assert!(serde_json::from_slice::<Event>(br#"{"time":"x"}"#).is_err());
    }
}
