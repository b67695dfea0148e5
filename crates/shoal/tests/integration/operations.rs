//! What an operator sees of a running `shoal manage` over real machines:
//! `/metrics` parsed by a Prometheus text-format parser, `/_ping` when no
//! engine is healthy, and a graceful stop on SIGTERM.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::harness::{docker, eventually, timeout, Lab, ManagerProcess};

/// An answer read whole: status, headers (lower-case names), body.
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// One HTTP/1.0 request on the manager's unix socket (`unix:///path`).
pub fn http(host: &str, method: &str, path: &str) -> std::io::Result<Answer> {
    let sock = host.strip_prefix("unix://").unwrap_or(host);
    let mut s = UnixStream::connect(Path::new(sock))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: shoal\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(*v),
            _ => None,
        })
}

fn scrape(host: &str) -> prometheus_parse::Scrape {
    let a = http(host, "GET", "/metrics").expect("GET /metrics");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        a.headers
    );
    let lines = a.body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("a Prometheus text exposition")
}

/// After a `docker run -d` through a real manager over a real machine, the
/// placement counter, the engine gauge and the request counter say so.
#[test]
fn metrics_count_placements_engines_and_requests() {
    let lab = Lab::new();
    let m1 = lab.create("om-1", &[]);
    let manager = ManagerProcess::over(&lab, &[&m1], &[]);

    let before = scrape(&manager.host);
    assert_eq!(
        sample(&before, "shoal_placements_total", &[("outcome", "placed")]),
        None,
        "nothing placed yet"
    );
    assert_eq!(
        sample(&before, "shoal_engines", &[("state", "healthy")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&before, "shoal_engines", &[("state", "unhealthy")]),
        Some(0.0)
    );

    manager.ok(&["run", "-d", "--name", "om-web", "busybox", "sleep", "300"]);
    // a create that no node can take
    let refused = manager.docker(&[
        "run",
        "-d",
        "-e",
        "constraint:node==nowhere",
        "busybox",
        "true",
    ]);
    assert_ne!(refused.code, 0);

    let after = scrape(&manager.host);
    assert_eq!(
        sample(&after, "shoal_placements_total", &[("outcome", "placed")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "shoal_placements_total", &[("outcome", "no_node")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "shoal_engines", &[("state", "healthy")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            "shoal_api_requests_total",
            &[
                ("route", "/containers/create"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &after,
            "shoal_api_requests_total",
            &[("route", "/containers/:id/start"), ("status", "204")]
        )
        .is_some(),
        "start is counted by its route template"
    );
    let placed_hist = after
        .samples
        .iter()
        .find(|s| s.metric == "shoal_placement_duration_seconds")
        .expect("placement histogram");
    match &placed_hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let total = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(total, 2.0, "two creates observed: {buckets:?}");
        }
        other => panic!("placement latency is a histogram: {other:?}"),
    }
    manager.ok(&["rm", "-f", "om-web"]);
}

/// A manager on `discovery`, once it answers.
fn manage(lab: &Lab, tag: &str, discovery: &str, extra: &[&str]) -> ManagerProcess {
    let m = ManagerProcess::spawn(lab, tag, discovery, extra);
    eventually("the manager answers", timeout(10), || {
        http(&m.host, "GET", "/version").is_ok_and(|a| a.status == 200)
    });
    m
}

/// A loopback port where nothing listens: an engine that is down.
fn dead_engine() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("127.0.0.1:{port}")
}

/// `/_ping` answers `OK` in every state, with `Shoal-Health`: `degraded`
/// (200) while one of two engines is down, `unavailable` (503) when none is
/// healthy; the docker CLI still works against the latter (it reads the
/// negotiation headers of a failed ping).
#[test]
fn ping_reports_degraded_and_unavailable() {
    let lab = Lab::new();
    let m1 = lab.create("op-1", &[]);
    let half = manage(
        &lab,
        "half",
        &format!("nodes://{}:2376,{}", m1.ip, dead_engine()),
        &["--engine-failure-retry", "1"],
    );
    eventually("one engine healthy, the other not", timeout(30), || {
        let p = http(&half.host, "GET", "/_ping").expect("ping");
        p.headers.get("shoal-health").map(String::as_str) == Some("degraded")
    });
    let p = http(&half.host, "GET", "/_ping").expect("ping");
    assert_eq!((p.status, p.body.as_str()), (200, "OK"));
    let head = http(&half.host, "HEAD", "/_ping").expect("ping");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers.get("api-version").map(String::as_str),
        Some("1.41")
    );

    let none = manage(&lab, "none", &format!("nodes://{}", dead_engine()), &[]);
    let p = http(&none.host, "GET", "/_ping").expect("ping");
    assert_eq!(p.status, 503, "{}", none.log_text());
    assert_eq!(p.body, "OK");
    assert_eq!(
        p.headers.get("shoal-health").map(String::as_str),
        Some("unavailable")
    );
    assert_eq!(
        p.headers.get("api-version").map(String::as_str),
        Some("1.41")
    );
    let ps = docker(&none.host, &["ps"]);
    assert_eq!(
        ps.code, 0,
        "docker ps with an unavailable ping: {}",
        ps.stderr
    );
    let info = docker(&none.host, &["info"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
}

/// SIGTERM: the listener closes at once, a `docker wait` in flight gets its
/// answer, `docker events` ends cleanly, the manager exits 0.
#[test]
fn sigterm_finishes_requests_in_flight_and_exits_zero() {
    let lab = Lab::new();
    let m1 = lab.create("os-1", &[]);
    let mut m = manage(
        &lab,
        "graceful",
        &format!("nodes://{}:2376", m1.ip),
        &["--shutdown-grace", "60s"],
    );
    eventually("the engine is healthy", timeout(30), || {
        http(&m.host, "GET", "/_ping")
            .is_ok_and(|p| p.headers.get("shoal-health").map(String::as_str) == Some("healthy"))
    });
    docker(
        &m.host,
        &["run", "-d", "--name", "os-sleep", "busybox", "sleep", "10"],
    )
    .ok("docker run -d");
    let spawn = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &m.host)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker")
    };
    let waiter = spawn(&["wait", "os-sleep"]);
    let mut events = spawn(&["events"]);
    // both requests have reached the manager (their headers are answered at once)
    eventually("wait and events in flight", timeout(10), || {
        let text = http(&m.host, "GET", "/metrics")
            .map(|a| a.body)
            .unwrap_or_default();
        text.contains("route=\"/containers/:id/wait\"") && text.contains("route=\"/events\"")
    });

    m.terminate();
    eventually("the listener is closed", timeout(5), || {
        http(&m.host, "GET", "/_ping").is_err()
    });
    assert!(m.running(), "the manager waits for the request in flight");
    let ev = events.wait().expect("docker events");
    assert!(ev.success(), "docker events ends cleanly: {ev:?}");

    let out = waiter.wait_with_output().expect("docker wait");
    assert!(
        out.status.success(),
        "docker wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert_eq!(m.exit_code(timeout(20)), Some(0), "{}", m.log_text());
}
