//! Request paths: the optional `/vX.Y` prefix, then the route.

/// A request path split into its API version (if any) and segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// `1.41` for `/v1.41/...`.
    pub version: Option<String>,
    /// Percent-decoded segments of the rest of the path.
    pub segments: Vec<String>,
}

impl Path {
    pub fn parse(path: &str) -> Self {
        let mut segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        let mut version = None;
        if let Some(first) = segs.first() {
            if let Some(v) = first.strip_prefix('v') {
                if !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && v.contains('.')
                {
                    version = Some(v.to_string());
                    segs.remove(0);
                }
            }
        }
        Path {
            version,
            segments: segs,
        }
    }

    /// The prefix to use on the engine: the client's version, capped at the
    /// version the manager advertises.
    pub fn engine_prefix(&self) -> String {
        match &self.version {
            Some(v) if version_le(v, shoal_api_types::API_VERSION) => format!("/v{v}"),
            Some(_) => format!("/v{}", shoal_api_types::API_VERSION),
            None => String::new(),
        }
    }

    pub fn strs(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// Whether API version `a` <= `b` (numeric, per component).
pub fn version_le(a: &str, b: &str) -> bool {
    let p = |s: &str| {
        s.split('.')
            .map(|x| x.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    p(a) <= p(b)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters, decoded.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            q.map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Docker's boolean parameters: `1`, `true`, `True` are true; absent, `0`, `false` false.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value.to_string()));
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// Back to a query string (without `?`).
    pub fn encode(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// `?query` or nothing.
    pub fn suffix(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("?{}", self.encode())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_segments() {
        let p = Path::parse("/v1.41/containers/abc/json");
        assert_eq!(p.version.as_deref(), Some("1.41"));
        assert_eq!(p.strs(), ["containers", "abc", "json"]);
        assert_eq!(p.engine_prefix(), "/v1.41");
        let p = Path::parse("/containers/json");
        assert_eq!(p.version, None);
        assert_eq!(p.engine_prefix(), "");
        assert_eq!(Path::parse("/v1.50/info").engine_prefix(), "/v1.41");
        assert_eq!(Path::parse("/v1.24/info").engine_prefix(), "/v1.24");
        assert_eq!(Path::parse("/volumes/vx").strs(), ["volumes", "vx"]);
        assert_eq!(
            Path::parse("/images/a%2Fb%3A1/json").strs(),
            ["images", "a/b:1", "json"]
        );
        assert!(version_le("1.9", "1.41"));
        // odd escapes never panic
        assert_eq!(Path::parse("/x/%a\u{e9}/%").strs(), ["x", "%a\u{e9}", "%"]);
        assert!(!version_le("1.50", "1.41"));
    }

    #[test]
    fn queries() {
        let mut q = Query::parse(Some("all=1&filters=%7B%22a%22%3A1%7D&x=false"));
        assert!(q.flag("all"));
        assert!(!q.flag("x"));
        assert!(!q.flag("none"));
        assert_eq!(q.get("filters"), Some("{\"a\":1}"));
        q.set("all", "0");
        q.remove("x");
        assert_eq!(
            Query::parse(Some(&q.encode())).get("filters"),
            Some("{\"a\":1}")
        );
    }
}
