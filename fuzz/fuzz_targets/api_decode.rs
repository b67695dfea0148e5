//! The manager's request decoding, function by function: the path with or
//! without `/vX.Y` (`shoal_manager::route::Path`), the query
//! (`route::Query`), the `filters` parameter (`shoal_api_types::Filters`),
//! and the create body as the API types read it.
//!
//! Input: `PATH\0QUERY\0FILTERS\0BODY` (the first three UTF-8, the body
//! bytes). Checked: nothing panics; versions compare as a total order;
//! queries and filters survive a round trip through their encodings; the
//! engine prefix is empty or `/vX.Y` no newer than the manager's version.
//!
//! `shoal_cluster`'s create-body reader (`request_from_body`) is not public,
//! so the body is read here only through the public API types; the
//! `api_request` target reaches `request_from_body` through the HTTP
//! handler.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shoal_api_types::container::{split_port_key, ContainerConfig, HostConfig};
use shoal_api_types::lenient::from_value_or_default;
use shoal_api_types::{ContainerInspect, Filters, API_VERSION};
use shoal_manager::route::{version_le, Path, Query};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let mut text = || std::str::from_utf8(parts.next().unwrap_or_default()).ok();
    let (Some(path), Some(query), Some(filters)) = (text(), text(), text()) else {
        return;
    };
    let body = parts.next().unwrap_or_default();

    // Paths.
    let p = Path::parse(path);
    let prefix = p.engine_prefix();
    if let Some(v) = &p.version {
        assert!(prefix.starts_with("/v"), "{path:?} -> {prefix:?}");
        assert!(
            version_le(&prefix[2..], API_VERSION),
            "{path:?} -> {prefix:?}"
        );
        assert!(v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        assert!(version_le(v, v));
        assert!(version_le(v, API_VERSION) || version_le(API_VERSION, v));
    } else {
        assert!(prefix.is_empty());
    }
    assert!(p.strs().iter().all(|s| !s.is_empty()));
    let q = Query::parse(Some(path));
    let _ = (version_le(path, query), version_le(query, path));

    // Queries.
    let mut q2 = Query::parse(Some(query));
    let again = Query::parse(Some(&q2.encode()));
    assert_eq!(q2.0, again.0, "query {query:?} does not survive encoding");
    for (k, _) in q.0.iter().chain(q2.0.clone().iter()) {
        let _ = (q2.get(k), q2.flag(k));
    }
    let flag_of = |v: &str| Query(vec![("all".into(), v.into())]).flag("all");
    assert!(!flag_of("0") && !flag_of("false") && !flag_of("") && flag_of("1"));
    q2.set("all", "1");
    assert!(q2.flag("all"));
    q2.remove("all");
    assert!(q2.get("all").is_none());
    let suffix = q2.suffix();
    assert!(suffix.is_empty() || suffix.starts_with('?'));

    // Filters (as the list handlers read them, and as they pass them on).
    if let Ok(f) = Filters::parse(filters) {
        let json = f.to_json();
        let back = Filters::parse(&json)
            .unwrap_or_else(|e| panic!("filters {filters:?} print as {json:?}, refused: {e}"));
        // Values are sets: the JSON form keeps each once, in key order.
        let as_sets = |f: &Filters| -> Vec<(String, std::collections::BTreeSet<String>)> {
            f.0.iter()
                .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                .collect()
        };
        assert_eq!(
            as_sets(&back),
            as_sets(&f),
            "filters {filters:?} do not survive a round trip"
        );
        let labels = [("a".to_string(), "b".to_string())].into();
        let _ = f.labels_match(&labels);
        let _ = f.is_empty();
    }

    // The create body as the API types read it.
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let config: ContainerConfig = from_value_or_default(&v);
        let host: HostConfig = from_value_or_default(v.get("HostConfig").unwrap_or(&Value::Null));
        for key in config.exposed_ports.keys().chain(host.port_bindings.keys()) {
            let _ = split_port_key(key);
        }
        let mut inspect: ContainerInspect = from_value_or_default(&v);
        inspect.host_config = host;
        inspect.config = config;
        for ncpu in [0, 1, 2, i64::MAX] {
            let cpus = inspect.reserved_cpus(ncpu);
            assert!(cpus >= 0, "negative CPUs reserved: {cpus}");
        }
        let _ = inspect.to_summary(1_700_000_000);
        let _ = serde_json::to_vec(&inspect);
    }
});
