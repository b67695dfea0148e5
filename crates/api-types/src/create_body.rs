//! A container create body (`POST /containers/create`) kept as the JSON
//! text the client sent. The top level and `HostConfig` are ordered lists
//! of (name, raw JSON text) found in one pass with serde_json's `RawValue`;
//! a member is decoded only when it is read, setting one replaces its text,
//! and the body is written for the engine by joining the texts (members
//! nobody changed are never encoded again; an untouched body is the text
//! that came in, byte for byte).
//!
//! Decoding the whole body (about 100 members from the docker CLI, most of
//! them under `HostConfig`) into a `serde_json::Value` tree, and writing
//! the tree back, was 7 % of the manager's CPU at 10,000 nodes; the few
//! members the manager reads are a small part of it.
//!
//! It reads as `serde_json::Value` did: a repeated name keeps its first
//! place and its last value (at the top level and in `HostConfig`), and
//! malformed JSON gets serde_json's own error for the body.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The member that holds the host configuration.
const HOST_CONFIG: &str = "HostConfig";

/// Why a body is not a create body.
#[derive(Debug, thiserror::Error)]
pub enum CreateBodyError {
    /// Nothing, white space or `null`.
    #[error("config cannot be empty in order to create a container")]
    Empty,
    /// Not JSON: the error serde_json gives when it reads the whole body.
    #[error("invalid JSON body: {0}")]
    Json(serde_json::Error),
    /// JSON, but not an object.
    #[error("container config must be a JSON object")]
    NotAnObject,
}

/// A create body: its text and where its members are in it.
#[derive(Debug, Clone)]
pub struct CreateBody {
    /// The body as it came.
    text: Box<str>,
    top: Members,
    /// `HostConfig`'s members, when it is an object.
    host: Option<Members>,
}

/// An object's members in order.
#[derive(Debug, Clone, Default)]
struct Members {
    list: Vec<Member>,
    /// A bit per name hash present (its top 7 bits).
    seen: u128,
    /// A member was set or a repeated one dropped: the object is written
    /// member by member, not as the text that came.
    changed: bool,
}

#[derive(Debug, Clone)]
struct Member {
    /// [`name_hash`] of the name: names are compared by it first.
    hash: u64,
    /// The name, decoded.
    name: Text,
    /// The value's raw JSON text.
    value: Text,
}

/// Some text: a part of the body as it came, or text set since.
#[derive(Debug, Clone)]
enum Text {
    Sent { start: usize, end: usize },
    Set(Box<str>),
}

impl Text {
    fn get<'a>(&'a self, body: &'a str) -> &'a str {
        match self {
            Text::Sent { start, end } => &body[*start..*end],
            Text::Set(s) => s,
        }
    }

    /// `part` as a span of `body` when it lies in it (serde_json borrows
    /// what needs no unescaping straight from the input), else a copy.
    fn of(body: &str, part: &str) -> Text {
        let base = body.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        if at >= base && at + part.len() <= base + body.len() {
            Text::Sent {
                start: at - base,
                end: at - base + part.len(),
            }
        } else {
            Text::Set(part.into())
        }
    }
}

/// FNV-1a of a member name: a lookup compares names only when their
/// hashes are equal, and a name not yet seen in an object is most often
/// known new from [`Members::seen`] alone (an object of about 70 members
/// would otherwise cost thousands of string comparisons to read).
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Members {
    fn find(&self, body: &str, name: &str) -> Option<usize> {
        self.find_hashed(body, name, name_hash(name))
    }

    fn find_hashed(&self, body: &str, name: &str, hash: u64) -> Option<usize> {
        self.list
            .iter()
            .position(|m| m.hash == hash && m.name.get(body) == name)
    }

    /// The bit of `seen` a hash sets.
    fn bit(hash: u64) -> u128 {
        1 << (hash >> 57)
    }

    /// Adds a member read from the text: a name seen before keeps its
    /// place and takes the new value, as `serde_json::Value` does.
    fn push(&mut self, body: &str, name: Text, value: Text) {
        let hash = name_hash(name.get(body));
        let known = self.seen & Self::bit(hash) != 0;
        match known
            .then(|| self.find_hashed(body, name.get(body), hash))
            .flatten()
        {
            Some(i) => {
                self.list[i].value = value;
                self.changed = true;
            }
            None => {
                self.seen |= Self::bit(hash);
                self.list.push(Member { hash, name, value });
            }
        }
    }

    fn set(&mut self, body: &str, name: &str, value: Box<str>) {
        let value = Text::Set(value);
        let hash = name_hash(name);
        match self.find_hashed(body, name, hash) {
            Some(i) => self.list[i].value = value,
            None => {
                self.seen |= Self::bit(hash);
                self.list.push(Member {
                    hash,
                    name: Text::Set(name.into()),
                    value,
                });
            }
        }
        self.changed = true;
    }

    fn get<'a>(&'a self, body: &'a str, name: &str) -> Option<&'a str> {
        self.find(body, name).map(|i| self.list[i].value.get(body))
    }

    /// The object as JSON text, member by member.
    fn write(&self, body: &str, out: &mut String) {
        out.push('{');
        for (i, m) in self.list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match &m.name {
                // taken from between the quotes: it needed no escapes
                Text::Sent { start, end } => {
                    out.push('"');
                    out.push_str(&body[*start..*end]);
                    out.push('"');
                }
                Text::Set(name) => out.push_str(&Value::from(&**name).to_string()),
            }
            out.push(':');
            out.push_str(m.value.get(body));
        }
        out.push('}');
    }
}

impl CreateBody {
    /// Reads a create body. Errors are those the manager always gave: an
    /// empty body (or `null`), serde_json's error for text that is not
    /// JSON, and JSON that is not an object.
    pub fn parse(bytes: &[u8]) -> Result<CreateBody, CreateBodyError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            None => Err(CreateBodyError::Empty),
            Some(b'{') => match Self::parse_object(bytes) {
                Some(body) => Ok(body),
                // the error (and its position) serde_json gives for the
                // whole body, as before
                None => match serde_json::from_slice::<Value>(bytes) {
                    Err(e) => Err(CreateBodyError::Json(e)),
                    Ok(v) => Self::from_value(&v),
                },
            },
            Some(_) => match serde_json::from_slice::<Value>(bytes) {
                Err(e) => Err(CreateBodyError::Json(e)),
                Ok(Value::Null) => Err(CreateBodyError::Empty),
                Ok(_) => Err(CreateBodyError::NotAnObject),
            },
        }
    }

    /// The body of a JSON object (from a `Value`: off the hot path).
    pub fn from_value(v: &Value) -> Result<CreateBody, CreateBodyError> {
        match v {
            Value::Object(_) => {
                Self::parse_object(v.to_string().as_bytes()).ok_or(CreateBodyError::NotAnObject)
            }
            Value::Null => Err(CreateBodyError::Empty),
            _ => Err(CreateBodyError::NotAnObject),
        }
    }

    /// One pass over an object's text; none when it is not a valid one.
    fn parse_object(bytes: &[u8]) -> Option<CreateBody> {
        let text: Box<str> = std::str::from_utf8(bytes).ok()?.into();
        let top = members_of(&text, &text)?;
        let host = match top.get(&text, HOST_CONFIG) {
            Some(raw) if raw.starts_with('{') => Some(members_of(&text, raw)?),
            _ => None,
        };
        let mut body = CreateBody { text, top, host };
        if body.host.as_ref().is_some_and(|h| h.changed) {
            body.rewrite_host();
        }
        Some(body)
    }

    /// `HostConfig`'s text written again from its members.
    fn rewrite_host(&mut self) {
        let Some(host) = &self.host else {
            return;
        };
        let mut out = String::new();
        host.write(&self.text, &mut out);
        self.top.set(&self.text, HOST_CONFIG, out.into());
    }

    /// The raw JSON text of a top-level member.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.top.get(&self.text, name)
    }

    /// The raw JSON text of a member of `HostConfig` (none when
    /// `HostConfig` is not an object).
    pub fn host_get(&self, name: &str) -> Option<&str> {
        self.host.as_ref()?.get(&self.text, name)
    }

    /// A top-level member decoded as `T`; none when missing, `null` or not
    /// a `T` (as `Value::as_str` and its kin read).
    pub fn read<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        decoded(self.get(name)?)
    }

    /// A member of `HostConfig` decoded as `T`; none when missing, `null`
    /// or not a `T`.
    pub fn host_read<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        decoded(self.host_get(name)?)
    }

    /// Whether `HostConfig` is an object.
    pub fn has_host_config(&self) -> bool {
        self.host.is_some()
    }

    /// Sets a top-level member (added last when it is new).
    pub fn set(&mut self, name: &str, value: &Value) {
        if name == HOST_CONFIG {
            // its members are found again in the new text
            self.top.set(&self.text, name, value.to_string().into());
            if let Some(body) = Self::parse_object(self.to_text().as_bytes()) {
                *self = body;
            }
            return;
        }
        self.top.set(&self.text, name, value.to_string().into());
    }

    /// Sets a member of `HostConfig` when it is an object (says whether
    /// it is).
    pub fn host_set(&mut self, name: &str, value: &Value) -> bool {
        let Some(host) = &mut self.host else {
            return false;
        };
        host.set(&self.text, name, value.to_string().into());
        self.rewrite_host();
        true
    }

    /// The body as JSON text for the engine: the text that came when
    /// nothing changed, else the members' texts joined.
    pub fn to_text(&self) -> String {
        if !self.top.changed {
            return self.text.to_string();
        }
        let mut out = String::with_capacity(self.text.len() + 128);
        self.top.write(&self.text, &mut out);
        out
    }

    /// The body as a `Value` (off the hot path: rescheduling intents).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.to_text()).unwrap_or_default()
    }

    /// Decodes `T` from the top-level object, reading only the members a
    /// struct names (`T` must not deny unknown fields: it reads as from a
    /// `Value` of the body).
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        T::deserialize(MembersDe {
            body: &self.text,
            members: &self.top,
        })
    }

    /// Decodes `T` from `HostConfig` (as [`CreateBody::decode`]); none when
    /// it is missing or `null`.
    pub fn decode_host<'a, T: Deserialize<'a>>(&'a self) -> Option<Result<T, serde_json::Error>> {
        match &self.host {
            Some(members) => Some(T::deserialize(MembersDe {
                body: &self.text,
                members,
            })),
            None => self
                .get(HOST_CONFIG)
                .filter(|raw| *raw != "null")
                .map(serde_json::from_str),
        }
    }
}

/// A member's text decoded as `T` (`null`, common in create bodies, is
/// none without the cost of an error).
fn decoded<'a, T: Deserialize<'a>>(raw: &'a str) -> Option<T> {
    if raw == "null" {
        return None;
    }
    serde_json::from_str(raw).ok()
}

/// The members of the object whose text is `part` (a part of `body`).
fn members_of(body: &str, part: &str) -> Option<Members> {
    let mut de = serde_json::Deserializer::from_str(part);
    let members = de
        .deserialize_map(MembersVisitor {
            body,
            part_len: part.len(),
        })
        .and_then(|m| de.end().map(|()| m))
        .ok()?;
    Some(members)
}

/// A member's name: borrowed from the text when it needed no unescaping.
enum Name<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Name<'de>, E> {
                Ok(Name::Borrowed(s))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Name<'de>, E> {
                Ok(Name::Owned(s.to_string()))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

struct MembersVisitor<'b> {
    body: &'b str,
    /// The length of the object's text.
    part_len: usize,
}

impl<'de> Visitor<'de> for MembersVisitor<'_> {
    type Value = Members;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Members {
            // about 17 bytes a member in what the docker CLI sends
            list: Vec::with_capacity((self.part_len / 16).min(128)),
            ..Members::default()
        };
        while let Some(name) = map.next_key::<Name<'de>>()? {
            let raw: &'de RawValue = map.next_value()?;
            let name = match name {
                Name::Borrowed(s) => Text::of(self.body, s),
                Name::Owned(s) => Text::Set(s.into()),
            };
            members.push(self.body, name, Text::of(self.body, raw.get()));
        }
        Ok(members)
    }
}

/// An object's members as a serde map: each value is decoded from its own
/// text, and a struct reads only the members it names.
struct MembersDe<'a> {
    body: &'a str,
    members: &'a Members,
}

impl<'de> Deserializer<'de> for MembersDe<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(MembersAccess {
            body: self.body,
            members: self.members.list.iter(),
            fields: None,
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(MembersAccess {
            body: self.body,
            members: self.members.list.iter(),
            fields: Some(fields),
            value: None,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

struct MembersAccess<'de> {
    body: &'de str,
    members: std::slice::Iter<'de, Member>,
    /// A struct's field names: the other members are not read.
    fields: Option<&'static [&'static str]>,
    /// The raw text of the value whose name was just given.
    value: Option<&'de str>,
}

impl<'de> MapAccess<'de> for MembersAccess<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for m in self.members.by_ref() {
            let name = m.name.get(self.body);
            if self.fields.is_some_and(|f| !f.contains(&name)) {
                continue;
            }
            self.value = Some(m.value.get(self.body));
            let key = de::value::BorrowedStrDeserializer::<serde_json::Error>::new(name);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let raw = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked before its name"))?;
        seed.deserialize(&mut serde_json::Deserializer::from_str(raw))
    }
}

#[cfg(test)]
mod tests;
