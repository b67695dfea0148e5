//! Multi-host networking through the manager (issue 6): overlay networks
//! of engines with an etcd cluster store, on three real machines.

use crate::harness::{docker, eventually, timeout, Lab, Machine, ManagerProcess};

/// A keystore and three engines sharing it as their cluster store.
fn overlay_cluster(lab: &Lab) -> (Machine, Vec<Machine>) {
    let ks = lab.create("ks", &["--keystore", "etcd"]);
    let store = format!("cluster-store=etcd://{}:2379", ks.ip);
    let opts = [
        "--engine-opt",
        store.as_str(),
        "--engine-opt",
        "cluster-advertise=eth0:2376",
    ];
    let nodes = ["n1", "n2", "n3"]
        .iter()
        .map(|n| lab.create(n, &opts))
        .collect();
    (ks, nodes)
}

fn ip_on(m: &ManagerProcess, container: &str, net: &str) -> String {
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    m.ok(&["inspect", "-f", &fmt, container])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn overlay_across_three_nodes_through_the_manager() {
    let lab = Lab::new();
    let (_ks, nodes) = overlay_cluster(&lab);
    let m = ManagerProcess::over(&lab, &nodes.iter().collect::<Vec<_>>(), &[]);

    // an API client that names no driver gets overlay in a cluster (the
    // docker CLI always sends one, "bridge" unless told otherwise)
    let sock = m.host.trim_start_matches("unix://").to_string();
    let body = r#"{"Name":"nodriver","CheckDuplicate":true}"#;
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--unix-socket",
            &sock,
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
        .arg("http://shoal/v1.41/networks/create")
        .output()
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"Id\""),
        "{out:?}"
    );
    let drv = m
        .ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{.Scope}}",
            "nodriver",
        ])
        .stdout;
    assert_eq!(drv.trim(), "overlay global");
    m.ok(&["network", "rm", "nodriver"]);

    // an overlay network is created once, listed once, seen by every engine
    m.ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.131.0.0/24",
        "appnet",
    ]);
    let ls = m
        .ok(&[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
        ])
        .stdout;
    let lines: Vec<&str> = ls.lines().filter(|l| l.starts_with("appnet ")).collect();
    assert_eq!(lines, ["appnet overlay global"], "{ls}");
    for n in &nodes {
        eventually(&format!("{} sees appnet", n.name), timeout(20), || {
            docker(&n.engine(), &["network", "ls"])
                .stdout
                .contains("appnet")
        });
    }

    // one container on each node
    for (i, n) in nodes.iter().enumerate() {
        let c = format!("c{}", i + 1);
        let constraint = format!("constraint:node=={}", n.name);
        m.ok(&[
            "run",
            "-d",
            "--name",
            &c,
            "--net",
            "appnet",
            "-e",
            &constraint,
            "busybox",
            "sleep",
            "600",
        ]);
    }
    let ps = m.ok(&["ps", "--format", "{{.Names}}"]).stdout;
    for want in ["n1/c1", "n2/c2", "n3/c3"] {
        assert!(ps.lines().any(|l| l == want), "{want} not in {ps}");
    }
    // by name and by IP, every pair across hosts
    for (from, to) in [("c1", "c2"), ("c2", "c3"), ("c3", "c1")] {
        m.ok(&["exec", from, "ping", "-c1", "-W2", to]);
        let ip = ip_on(&m, to, "appnet");
        m.ok(&["exec", from, "ping", "-c1", "-W2", &ip]);
    }

    // inspect through the manager lists the containers of every node
    let inspect = m
        .ok(&[
            "network",
            "inspect",
            "appnet",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
        ])
        .stdout;
    for c in ["c1", "c2", "c3"] {
        assert!(
            inspect.split_whitespace().any(|n| n == c),
            "{c} missing from {inspect}"
        );
    }

    // connect a running container of n3 that is on no overlay: reachable; disconnect: not
    m.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "-e",
        "constraint:node==n3",
        "busybox",
        "sleep",
        "600",
    ]);
    m.ok(&["network", "connect", "appnet", "late"]);
    m.ok(&["exec", "c1", "ping", "-c1", "-W2", "late"]);
    let late_ip = ip_on(&m, "late", "appnet");
    m.ok(&["network", "disconnect", "appnet", "late"]);
    let r = m.docker(&["exec", "c1", "ping", "-c1", "-W2", &late_ip]);
    assert_ne!(
        r.code, 0,
        "a disconnected container must be unreachable: {}",
        r.stdout
    );

    // rm with containers attached fails with the engine's message
    let r = m.docker(&["network", "rm", "appnet"]);
    assert_ne!(r.code, 0, "network rm with endpoints must fail");
    assert!(
        r.stderr.contains("active endpoints"),
        "engine's message expected: {}",
        r.stderr
    );
    m.ok(&["rm", "-f", "c1", "c2", "c3", "late"]);
    m.ok(&["network", "rm", "appnet"]);
    for n in &nodes {
        eventually(&format!("appnet gone from {}", n.name), timeout(20), || {
            !docker(&n.engine(), &["network", "ls"])
                .stdout
                .contains("appnet")
        });
    }
}

#[test]
fn local_networks_are_node_scoped() {
    let lab = Lab::new();
    let a = lab.create("la", &[]);
    let b = lab.create("lb", &[]);
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);

    // node/name pins a local network to that node; it is listed as node/name
    m.ok(&["network", "create", "-d", "bridge", "lb/backend"]);
    let ls = m.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout;
    assert!(ls.lines().any(|l| l == "lb/backend"), "{ls}");
    assert!(docker(&b.engine(), &["network", "ls"])
        .stdout
        .contains("backend"));
    assert!(!docker(&a.engine(), &["network", "ls"])
        .stdout
        .contains("backend"));
    // every engine's own bridge network is listed per node
    assert!(
        ls.lines().any(|l| l == "la/bridge") && ls.lines().any(|l| l == "lb/bridge"),
        "{ls}"
    );

    // --net to a local network lands on its node, whatever the strategy says
    for i in 0..3 {
        let name = format!("svc{i}");
        m.ok(&[
            "run", "-d", "--name", &name, "--net", "backend", "busybox", "sleep", "600",
        ]);
        let ps = m.ok(&["ps", "--format", "{{.Names}}"]).stdout;
        assert!(
            ps.lines().any(|l| l == format!("lb/{name}")),
            "{name} not on lb: {ps}"
        );
    }

    // an overlay network on engines without a cluster store gets a clear error
    let r = m.docker(&["network", "create", "-d", "overlay", "nostore"]);
    assert_ne!(r.code, 0, "overlay without a cluster store must fail");
    assert!(!r.stderr.trim().is_empty());
}
