use super::*;
use serde_json::json;

/// What docker CLI 28 sends for `docker run -d busybox sleep 1000000`
/// (the shape of `shoal-scale`'s body), as Go writes it: compact, in
/// Go's field order, a newline at the end.
const DOCKER_CLI: &str = include_str!("../../testdata/docker-cli-create.json");

/// Every top-level and HostConfig member of `body` reads as the same
/// value as in `v` (the whole body parsed as a tree).
fn assert_members_are(body: &CreateBody, v: &Value) {
    for (name, value) in v.as_object().unwrap() {
        let raw = body.get(name).unwrap();
        assert_eq!(
            &serde_json::from_str::<Value>(raw).unwrap(),
            value,
            "{name}"
        );
    }
    for (name, value) in v["HostConfig"].as_object().unwrap() {
        let raw = body.host_get(name).unwrap();
        assert_eq!(
            &serde_json::from_str::<Value>(raw).unwrap(),
            value,
            "{name}"
        );
    }
}

fn parse(text: &str) -> CreateBody {
    CreateBody::parse(text.as_bytes()).expect("a create body")
}

/// The names of an object's members in the order of its text.
fn names(text: &str) -> Vec<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let members = de
        .deserialize_map(MembersVisitor {
            body: text,
            part_len: text.len(),
        })
        .expect("an object");
    members
        .list
        .iter()
        .map(|m| m.name.get(text).to_string())
        .collect()
}

#[test]
fn an_untouched_body_is_the_text_that_came() {
    let body = parse(DOCKER_CLI);
    assert_eq!(body.to_text(), DOCKER_CLI);
    let spaced = "  { \"Image\" : \"busybox\" ,\n \"HostConfig\": {\"Memory\": 1.0e3} }\n";
    assert_eq!(parse(spaced).to_text(), spaced);
}

#[test]
fn members_read_as_from_a_value() {
    let body = parse(DOCKER_CLI);
    let v: Value = serde_json::from_str(DOCKER_CLI).unwrap();
    assert_eq!(body.get("Image"), Some("\"busybox\""));
    assert_eq!(body.read::<String>("Image").as_deref(), Some("busybox"));
    assert_eq!(
        body.read::<Vec<String>>("Cmd").unwrap(),
        ["sleep", "1000000"]
    );
    assert_eq!(body.get("Env"), Some("null"));
    assert_eq!(body.get("Nope"), None);
    assert_eq!(body.host_get("NetworkMode"), Some("\"default\""));
    assert_eq!(body.host_read::<i64>("Memory"), Some(0));
    assert_eq!(
        body.host_read::<Value>("RestartPolicy").unwrap(),
        v["HostConfig"]["RestartPolicy"]
    );
    // every member, in the client's order, each its own text
    assert_members_are(&body, &v);
    assert!(body.has_host_config());
    assert_eq!(body.to_value(), v);
    // a member not of the type asked reads as missing, as Value::as_i64
    assert_eq!(body.host_read::<i64>("NetworkMode"), None);
    assert_eq!(
        parse(r#"{"HostConfig":{"NanoCpus":1.5}}"#).host_read::<i64>("NanoCpus"),
        None
    );
}

#[test]
fn a_set_member_keeps_its_place_and_the_others_their_text() {
    let text = r#"{"Image":"busybox","Labels":{"a":"b"},"Memory":1.0e3,"Name":"caf\u00e9","HostConfig":{"CpuShares":1,"Dns":[]},"Tail":true}"#;
    let mut body = parse(text);
    body.set("Labels", &json!({"a": "b", "com.docker.swarm.id": "x"}));
    body.set("Env", &json!(["A=1"]));
    let out = body.to_text();
    assert_eq!(
        out,
        r#"{"Image":"busybox","Labels":{"a":"b","com.docker.swarm.id":"x"},"Memory":1.0e3,"Name":"caf\u00e9","HostConfig":{"CpuShares":1,"Dns":[]},"Tail":true,"Env":["A=1"]}"#
    );
    assert!(body.host_set("CpuShares", &json!(512)));
    assert!(body.host_set("Dns", &json!(["10.0.0.1"])));
    assert!(body.host_set("Memory", &json!(5)));
    assert_eq!(body.host_read::<i64>("CpuShares"), Some(512));
    assert_eq!(
        body.get("HostConfig"),
        Some(r#"{"CpuShares":512,"Dns":["10.0.0.1"],"Memory":5}"#)
    );
    let out = body.to_text();
    assert_eq!(
        names(&out),
        [
            "Image",
            "Labels",
            "Memory",
            "Name",
            "HostConfig",
            "Tail",
            "Env"
        ]
    );
    assert!(
        out.contains(r#""Memory":1.0e3,"Name":"caf\u00e9""#),
        "{out}"
    );
    // a HostConfig that is not an object takes no member
    let mut bare = parse(r#"{"Image":"x","HostConfig":null}"#);
    assert!(!bare.host_set("Dns", &json!(["10.0.0.1"])));
    assert!(!bare.has_host_config());
    assert_eq!(bare.to_text(), r#"{"Image":"x","HostConfig":null}"#);
}

#[test]
fn a_new_host_config_is_read_again() {
    let mut body = parse(r#"{"Image":"x"}"#);
    assert_eq!(body.host_get("Memory"), None);
    body.set("HostConfig", &json!({"Memory": 7, "CpuShares": 2}));
    assert_eq!(body.host_read::<i64>("Memory"), Some(7));
    assert!(body.host_set("Memory", &json!(8)));
    assert_eq!(
        body.to_value(),
        json!({"Image": "x", "HostConfig": {"Memory": 8, "CpuShares": 2}})
    );
}

#[test]
fn a_repeated_name_keeps_its_first_place_and_its_last_value() {
    let text =
        r#"{"Image":"a","Labels":{},"Image":"b","HostConfig":{"Memory":1,"Dns":[],"Memory":2}}"#;
    let body = parse(text);
    assert_eq!(body.read::<String>("Image").as_deref(), Some("b"));
    assert_eq!(body.host_read::<i64>("Memory"), Some(2));
    let out = body.to_text();
    assert_eq!(
        out,
        r#"{"Image":"b","Labels":{},"HostConfig":{"Memory":2,"Dns":[]}}"#
    );
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        serde_json::from_str::<Value>(text).unwrap(),
        "what serde_json's Value keeps"
    );
}

#[test]
fn escaped_names_are_found_and_written_escaped() {
    let text = r#"{"Im\u0061ge":"x","quote\"d":1}"#;
    let mut body = parse(text);
    assert_eq!(body.read::<String>("Image").as_deref(), Some("x"));
    assert_eq!(body.get("quote\"d"), Some("1"));
    body.set("Env", &Value::Null);
    let out = body.to_text();
    assert_eq!(out, r#"{"Image":"x","quote\"d":1,"Env":null}"#);
}

/// serde_json's own error for the whole body, as the manager gave it.
#[test]
fn malformed_json_gets_serde_json_s_error() {
    let bad: &[&[u8]] = &[
        b"{",
        b"{\"Image\":",
        b"{\"Image\":\"busybox\"",
        b"{\"Image\":\"busybox\",}",
        b"{\"Image\" \"busybox\"}",
        b"{\"Image\":\"busybox\"} x",
        b"{\"Image\":\"busybox\"}{}",
        b"{\"HostConfig\":{\"Memory\":01}}",
        b"{\"HostConfig\":{\"Memory\":[1,}}",
        b"{\"Labels\":{\"a\":\"\\q\"}}",
        b"{\"Image\":\"bus\xffbox\"}",
        b"{\"Im\xc3age\":1}",
        b"{1:2}",
        b"{\"Env\":[tru]}",
        b"[1,",
        b"nul",
        b"\"open",
        b"x",
    ];
    for text in bad {
        let want = serde_json::from_slice::<Value>(text)
            .unwrap_err()
            .to_string();
        match CreateBody::parse(text) {
            Err(CreateBodyError::Json(e)) => {
                assert_eq!(e.to_string(), want, "{}", String::from_utf8_lossy(text))
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(text)),
        }
    }
    let e = CreateBody::parse(b"{\"Image\":}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid JSON body: expected value at line 1 column 10"
    );
}

#[test]
fn bodies_that_are_not_objects() {
    for empty in ["", "  \n", "null", " null "] {
        assert!(
            matches!(
                CreateBody::parse(empty.as_bytes()),
                Err(CreateBodyError::Empty)
            ),
            "{empty:?}"
        );
    }
    for other in ["[]", "[{\"Image\":\"x\"}]", "\"x\"", "5", "true"] {
        let e = CreateBody::parse(other.as_bytes()).unwrap_err();
        assert!(matches!(e, CreateBodyError::NotAnObject), "{other}");
        assert_eq!(e.to_string(), "container config must be a JSON object");
    }
    assert!(matches!(
        CreateBody::from_value(&json!([1])),
        Err(CreateBodyError::NotAnObject)
    ));
    assert!(matches!(
        CreateBody::from_value(&Value::Null),
        Err(CreateBodyError::Empty)
    ));
}

#[derive(Debug, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Lean {
    image: String,
    labels: Option<std::collections::BTreeMap<String, String>>,
    cmd: Option<Vec<String>>,
}

#[derive(Debug, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct LeanHost {
    memory: i64,
    network_mode: String,
}

#[test]
fn structs_decode_as_from_a_value() {
    let texts = [
        DOCKER_CLI,
        r#"{"Image":"x","Labels":{"a":"b"},"Cmd":null,"HostConfig":{"Memory":5,"NetworkMode":"n"}}"#,
        r#"{"Image":"x","Labels":{"a":1},"HostConfig":{"Memory":null}}"#,
        r#"{"Image":7,"HostConfig":"text"}"#,
        r#"{"Image":"x","HostConfig":[5,"n"]}"#,
        r#"{"Image":"x","HostConfig":null}"#,
        r#"{"Image":"x"}"#,
    ];
    for text in texts {
        let body = parse(text);
        let v: Value = serde_json::from_str(text).unwrap();
        // (an error's text may name a position in the member's own text)
        let want = Lean::deserialize(&v).ok();
        assert_eq!(body.decode::<Lean>().ok(), want, "{text}");
        let host = v.get("HostConfig").filter(|h| !h.is_null());
        let want = host.map(|h| LeanHost::deserialize(h).ok());
        assert_eq!(
            body.decode_host::<LeanHost>().map(Result::ok),
            want,
            "{text}"
        );
    }
    let body = parse(DOCKER_CLI);
    assert_eq!(
        body.decode::<std::collections::BTreeMap<String, Value>>()
            .unwrap()
            .len(),
        19,
        "a map reads every member"
    );
}

/// More names than the bits that tell a new name at once: every one is
/// still found, and each repeated one keeps its last value.
#[test]
fn many_names_and_repeats_read_as_a_value_does() {
    let mut text = String::from("{");
    for i in 0..300 {
        text.push_str(&format!("\"m{i}\":{i},"));
    }
    for i in (0..300).step_by(7) {
        text.push_str(&format!("\"m{i}\":\"again {i}\","));
    }
    text.push_str("\"HostConfig\":{");
    for i in 0..200 {
        text.push_str(&format!("\"h{}\":{i},", i % 150));
    }
    text.push_str("\"last\":true}}");
    let body = parse(&text);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_members_are(&body, &v);
    assert_eq!(body.to_value(), v);
    assert_eq!(body.get("m300"), None);
    assert_eq!(names(&body.to_text()).len(), 301);
}
