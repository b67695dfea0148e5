//! Issue 4 through the real docker CLI: placement by the scheduler on three
//! machines with engine labels, behind a `shoal manage`.
//!
//! Each test builds one cluster and runs a series of checks on it (a
//! machine costs seconds and parallel tests share two cores). Error texts
//! are classic Swarm's (crates/scheduler/README.md, "Behaviour").

use crate::harness::{docker, eventually, timeout, Lab, ManagerProcess, Run, SHOAL};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

const UNABLE: &str = "Unable to find a node that satisfies the following conditions ";
const GIB: i64 = 1 << 30;

/// The node a container was placed on, as the manager reports it.
fn node_of(m: &ManagerProcess, container: &str) -> String {
    m.ok(&["inspect", "-f", "{{.Node.Name}}", container])
        .stdout
        .trim()
        .to_string()
}

/// `docker run -d --name NAME [args...] busybox sleep 600` through `m`;
/// returns the node it landed on.
fn run_on(m: &ManagerProcess, name: &str, args: &[&str]) -> String {
    let mut full = vec!["run", "-d", "--name", name];
    full.extend_from_slice(args);
    full.extend_from_slice(&["busybox", "sleep", "600"]);
    m.ok(&full);
    node_of(m, name)
}

/// Asserts that `r` failed with exactly `message` as the daemon's error.
fn assert_refused(r: &Run, message: &str, what: &str) {
    assert_ne!(r.code, 0, "{what}: should be refused, got {}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("Error response from daemon: {message}\n")),
        "{what}: want the error {message:?}, got stderr:\n{}",
        r.stderr
    );
}

/// `docker run` through `m` that must be refused with `message`.
fn refused(m: &ManagerProcess, args: &[&str], message: &str) {
    let mut full = vec!["run", "-d"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["busybox", "sleep", "600"]);
    let r = m.docker(&full);
    assert_refused(&r, message, &format!("docker {full:?}"));
}

/// Per node of `docker info`: (`Reserved CPUs` value, `Reserved Memory` value).
fn reservations(info: &str) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in info.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(":2376")
        {
            let name = line
                .trim()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            out.insert(name.clone(), Default::default());
            current = Some(name);
        } else if let Some(node) = &current {
            let entry = out.get_mut(node).expect("node entry");
            if let Some(v) = line.trim().strip_prefix("└ Reserved CPUs: ") {
                entry.0 = v.to_string();
            } else if let Some(v) = line.trim().strip_prefix("└ Reserved Memory: ") {
                entry.1 = v.to_string();
            } else if !line.starts_with("   ") {
                current = None;
            }
        }
    }
    out
}

/// The engine ID of `node` as `docker info` lists it.
fn engine_id(info: &str, node: &str) -> String {
    let head = format!("  {node}: ");
    let mut lines = info.lines().skip_while(|l| !l.starts_with(&head));
    lines.next().expect("node in docker info");
    lines
        .find_map(|l| l.trim().strip_prefix("└ ID: ").map(str::to_string))
        .expect("└ ID line")
}

/// A second `shoal manage` (other socket than the harness's), killed by
/// its pid when dropped.
struct ExtraManager {
    child: Child,
    host: String,
}

impl ExtraManager {
    fn start(lab: &Lab, nodes: &[&crate::harness::Machine], sock: &str, extra: &[&str]) -> Self {
        let host = format!("unix://{}", lab.store().join(sock).display());
        let discovery = format!(
            "nodes://{}",
            nodes
                .iter()
                .map(|m| format!("{}:2376", m.ip))
                .collect::<Vec<_>>()
                .join(",")
        );
        let log = std::fs::File::create(lab.store().join(format!("{sock}.log"))).expect("log");
        let mut args = vec!["manage", "-H", &host, "--heartbeat", "1s"];
        args.extend_from_slice(extra);
        args.push(&discovery);
        let child = Command::new(SHOAL)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start shoal manage");
        let m = ExtraManager { child, host };
        let want = format!("Nodes: {}", nodes.len());
        eventually(
            "the second manager sees every node healthy",
            timeout(30),
            || {
                let info = docker(&m.host, &["info"]).stdout;
                info.contains(&want) && info.matches("└ Status: Healthy").count() == nodes.len()
            },
        );
        m
    }
}

impl Drop for ExtraManager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Constraints by node (name and ID) and by engine and standard labels with
/// `==`, `!=`, anchored globs, unanchored `/regex/`, soft `~` that falls
/// back, the JSON-array label form; affinities to a container, a container
/// label and an image (and the image fallback); classic error texts.
#[test]
fn scheduling_constraints_and_affinities() {
    let lab = Lab::new();
    let a = lab.create(
        "sc-1",
        &[
            "--engine-label",
            "storage=ssd",
            "--engine-label",
            "zone=eu-west",
        ],
    );
    let b = lab.create(
        "sc-2",
        &[
            "--engine-label",
            "storage=disk",
            "--engine-label",
            "zone=eu-east",
        ],
    );
    let c = lab.create(
        "sc-3",
        &[
            "--engine-label",
            "storage=ssd",
            "--engine-label",
            "zone=us-east",
        ],
    );
    let m = ManagerProcess::over(&lab, &[&a, &b, &c], &[]);

    // by node name, by node ID
    assert_eq!(
        run_on(&m, "by-name", &["-e", "constraint:node==sc-2"]),
        "sc-2"
    );
    let id = engine_id(&m.ok(&["info"]).stdout, "sc-3");
    let by_id = format!("constraint:node=={id}");
    assert_eq!(run_on(&m, "by-id", &["-e", &by_id]), "sc-3");
    // node names by glob and by /regex/
    assert_eq!(
        run_on(&m, "by-glob", &["-e", "constraint:node==*-3"]),
        "sc-3"
    );
    let n = run_on(&m, "by-regex", &["-e", "constraint:node==/^sc-[12]$/"]);
    assert!(n == "sc-1" || n == "sc-2", "node==/^sc-[12]$/ on {n}");
    // sc-1 is empty, so spread alone would pick it
    for i in 0..2 {
        let n = run_on(&m, &format!("not-1-{i}"), &["-e", "constraint:node!=sc-1"]);
        assert_ne!(n, "sc-1", "node!=sc-1");
    }
    let env = m
        .ok(&["inspect", "-f", "{{json .Config.Env}}", "not-1-0"])
        .stdout;
    assert!(!env.contains("constraint:"), "hint left in the env: {env}");

    // engine labels: == and !=
    for i in 0..3 {
        let n = run_on(&m, &format!("ssd-{i}"), &["-e", "constraint:storage==ssd"]);
        assert!(n == "sc-1" || n == "sc-3", "storage==ssd on {n}");
    }
    assert_eq!(
        run_on(&m, "not-ssd", &["-e", "constraint:storage!=ssd"]),
        "sc-2"
    );
    // two constraints at once
    assert_eq!(
        run_on(
            &m,
            "ssd-eu",
            &[
                "-e",
                "constraint:storage==ssd",
                "-e",
                "constraint:zone==eu-*"
            ]
        ),
        "sc-1"
    );

    // globs, anchored at both ends
    for i in 0..2 {
        let n = run_on(&m, &format!("eu-{i}"), &["-e", "constraint:zone==eu-*"]);
        assert!(n == "sc-1" || n == "sc-2", "zone==eu-* on {n}");
        let n = run_on(&m, &format!("east-{i}"), &["-e", "constraint:zone==*east"]);
        assert!(n == "sc-2" || n == "sc-3", "zone==*east on {n}");
    }
    refused(
        &m,
        &["-e", "constraint:zone==east"],
        &format!("{UNABLE}\n[available container slots]\n[zone==east]"),
    );
    // /regex/, unanchored
    assert_eq!(
        run_on(&m, "re-west", &["-e", "constraint:zone==/west/"]),
        "sc-1"
    );
    assert_eq!(
        run_on(&m, "re-us", &["-e", "constraint:zone==/^us-/"]),
        "sc-3"
    );
    assert_eq!(
        run_on(&m, "re-not", &["-e", "constraint:zone!=/east/"]),
        "sc-1"
    );
    // standard labels
    let n = run_on(
        &m,
        "std",
        &[
            "-e",
            "constraint:ostype==linux",
            "-e",
            "constraint:storagedriver==overlay*",
        ],
    );
    assert!(n.starts_with("sc-"), "{n}");
    refused(
        &m,
        &["-e", "constraint:ostype==windows"],
        &format!("{UNABLE}\n[available container slots]\n[ostype==windows]"),
    );
    // soft: honoured when it can be, dropped when nothing matches
    assert_eq!(
        run_on(&m, "soft-us", &["-e", "constraint:zone==~us-east"]),
        "sc-3"
    );
    let n = run_on(&m, "soft-nvme", &["-e", "constraint:storage==~nvme"]);
    assert!(n.starts_with("sc-"), "{n}");
    refused(
        &m,
        &["-e", "constraint:storage==nvme"],
        &format!("{UNABLE}\n[available container slots]\n[storage==nvme]"),
    );
    // the label form (JSON array)
    assert_eq!(
        run_on(
            &m,
            "by-label",
            &[
                "--label",
                r#"com.docker.swarm.constraints=["zone==eu-east"]"#
            ]
        ),
        "sc-2"
    );

    // affinity to a container (by name) and to a container label
    assert_eq!(
        run_on(
            &m,
            "db",
            &["-e", "constraint:node==sc-3", "--label", "app=db"]
        ),
        "sc-3"
    );
    for i in 0..2 {
        let n = run_on(
            &m,
            &format!("near-db-{i}"),
            &["-e", "affinity:container==db"],
        );
        assert_eq!(n, "sc-3", "container==db");
        let n = run_on(
            &m,
            &format!("far-db-{i}"),
            &["-e", "affinity:container!=db"],
        );
        assert_ne!(n, "sc-3", "container!=db");
        let n = run_on(&m, &format!("app-db-{i}"), &["-e", "affinity:app==db"]);
        assert_eq!(n, "sc-3", "app==db");
        let n = run_on(&m, &format!("no-app-db-{i}"), &["-e", "affinity:app!=db"]);
        assert_ne!(n, "sc-3", "app!=db");
    }
    assert_eq!(
        run_on(
            &m,
            "app-db-label",
            &["--label", r#"com.docker.swarm.affinities=["app==db"]"#]
        ),
        "sc-3"
    );
    refused(
        &m,
        &["-e", "affinity:container==nosuch"],
        &format!("{UNABLE}\n[available container slots]\n[container==nosuch (soft=false)]"),
    );
    let n = run_on(&m, "soft-aff", &["-e", "affinity:container==~nosuch"]);
    assert!(n.starts_with("sc-"), "{n}");

    // affinity to an image that only sc-2 holds (tagged on its engine directly)
    docker(&b.engine(), &["tag", "busybox:latest", "local/only-on-2:1"]).ok("tag on sc-2");
    eventually("the manager sees the image of sc-2", timeout(15), || {
        m.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .stdout
            .lines()
            .any(|l| l.trim() == "local/only-on-2:1")
    });
    for i in 0..2 {
        let n = run_on(
            &m,
            &format!("img-{i}"),
            &["-e", "affinity:image==local/only-on-2:1"],
        );
        assert_eq!(n, "sc-2", "image==local/only-on-2:1");
        let n = run_on(
            &m,
            &format!("no-img-{i}"),
            &["-e", "affinity:image!=local/only-on-2:1"],
        );
        assert_ne!(n, "sc-2", "image!=local/only-on-2:1");
    }
    // the image itself, no hint: it can only be created where it is. Ballast
    // first, so that spread alone would not pick sc-2 (most containers).
    let count = |node: &str| {
        m.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{node}/")))
            .count()
    };
    let mut ballast = 0;
    while count("sc-2") <= count("sc-1").max(count("sc-3")) {
        let name = format!("ballast-{ballast}");
        assert_eq!(run_on(&m, &name, &["-e", "constraint:node==sc-2"]), "sc-2");
        ballast += 1;
    }
    m.ok(&[
        "run",
        "-d",
        "--name",
        "img-only",
        "local/only-on-2:1",
        "sleep",
        "600",
    ]);
    assert_eq!(node_of(&m, "img-only"), "sc-2");

    // replicas spread by name anti-affinity, three `docker run`s at once
    let mut spread = concurrent_replicas(&m, "api", &["-e", "affinity:container!=api-*"]);
    spread.sort();
    assert_eq!(spread, ["sc-1", "sc-2", "sc-3"], "one api replica per node");
    refused(
        &m,
        &["--name", "api-3", "-e", "affinity:container!=api-*"],
        &format!("{UNABLE}\n[available container slots]\n[container!=api-* (soft=false)]"),
    );
    let n = run_on(&m, "api-4", &["-e", "affinity:container!=~api-*"]);
    assert!(n.starts_with("sc-"), "a fourth soft replica starts: {n}");
}

/// `docker run -d --name PREFIX-i [args] busybox sleep 600` three times at
/// once through `m`; the nodes they landed on, in order.
fn concurrent_replicas(m: &ManagerProcess, prefix: &str, args: &[&str]) -> Vec<String> {
    let runs: Vec<_> = (0..3)
        .map(|i| {
            let host = m.host.clone();
            let mut full: Vec<String> = vec!["run".into(), "-d".into(), "--name".into()];
            full.push(format!("{prefix}-{i}"));
            full.extend(args.iter().map(|a| a.to_string()));
            full.extend(["busybox", "sleep", "600"].map(String::from));
            std::thread::spawn(move || {
                let refs: Vec<&str> = full.iter().map(String::as_str).collect();
                docker(&host, &refs)
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap().ok("replica");
    }
    (0..3)
        .map(|i| node_of(m, &format!("{prefix}-{i}")))
        .collect()
}

/// Replicas spread by label anti-affinity (the README's example), three
/// `docker run`s at once: each lands on a node with no container of its
/// service, in-flight ones included, although spread alone would put them
/// all on sl-1 (the emptiest); a fourth is refused, a soft fourth starts.
/// Three rounds (three services), each a chance for a race.
#[test]
fn scheduling_concurrent_replicas_spread_by_label() {
    let lab = Lab::new();
    let a = lab.create("sl-1", &["--engine-label", "role=a"]);
    let b = lab.create("sl-2", &["--engine-label", "role=b"]);
    let c = lab.create("sl-3", &["--engine-label", "role=c"]);
    let m = ManagerProcess::over(&lab, &[&a, &b, &c], &[]);
    for (i, node) in ["sl-2", "sl-2", "sl-3", "sl-3"].iter().enumerate() {
        let pin = format!("constraint:node=={node}");
        assert_eq!(run_on(&m, &format!("ballast-{i}"), &["-e", &pin]), *node);
    }
    for service in ["web", "db", "cache"] {
        let anti = format!("affinity:service!={service}");
        let label = format!("service={service}");
        let hint = ["-e", anti.as_str(), "--label", label.as_str()];
        let mut spread = concurrent_replicas(&m, service, &hint);
        spread.sort();
        assert_eq!(
            spread,
            ["sl-1", "sl-2", "sl-3"],
            "one {service} replica per node"
        );
        refused(
            &m,
            &hint,
            &format!("{UNABLE}\n[available container slots]\n[service!={service} (soft=false)]"),
        );
        let soft = format!("affinity:service!=~{service}");
        let n = run_on(
            &m,
            &format!("{service}-3"),
            &["-e", &soft, "--label", &label],
        );
        assert!(
            n.starts_with("sl-"),
            "a fourth soft {service} replica starts: {n}"
        );
    }
}

/// Port conflicts on `-p 8080:80` (the fourth refused on three nodes),
/// dependencies (`--link`, `--volumes-from`, `--net=container:X`) placing
/// a container with what it depends on, and `containerslots=4` capping
/// every node.
#[test]
fn scheduling_ports_dependencies_and_slots() {
    let lab = Lab::new();
    let slots = ["--engine-label", "containerslots=4"];
    let a = lab.create("sd-1", &slots);
    let b = lab.create("sd-2", &slots);
    let c = lab.create("sd-3", &slots);
    let m = ManagerProcess::over(&lab, &[&a, &b, &c], &[]);

    // ports: one 8080 per node
    let mut nodes: Vec<String> = (1..=3)
        .map(|i| run_on(&m, &format!("web-{i}"), &["-p", "8080:80"]))
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["sd-1", "sd-2", "sd-3"],
        "one host port 8080 per node"
    );
    refused(
        &m,
        &["--name", "web-4", "-p", "8080:80"],
        &format!("{UNABLE}\n[port 8080 (Bridge mode)]"),
    );

    // dependencies: sd-1 has the fewest containers from here on, so spread
    // alone would choose it every time
    assert_eq!(run_on(&m, "db", &["-e", "constraint:node==sd-3"]), "sd-3");
    assert_eq!(
        run_on(&m, "vol", &["-e", "constraint:node==sd-2", "-v", "/data"]),
        "sd-2"
    );
    assert_eq!(run_on(&m, "linked", &["--link", "db:db"]), "sd-3");
    assert_eq!(run_on(&m, "sharing", &["--volumes-from", "vol"]), "sd-2");
    assert_eq!(run_on(&m, "in-db-net", &["--net", "container:db"]), "sd-3");
    let ping = m.docker(&["exec", "linked", "ping", "-c", "1", "-W", "2", "db"]);
    assert_eq!(
        ping.code, 0,
        "the link works: {}{}",
        ping.stdout, ping.stderr
    );
    refused(
        &m,
        &["--link", "nosuch:x"],
        &format!("{UNABLE}\n[available container slots]\n[--link=nosuch:x]"),
    );

    // slots: sd-3 now holds 4 (web, db, linked, in-db-net), sd-2 3, sd-1 1
    refused(
        &m,
        &["-e", "constraint:node==sd-3"],
        &format!("{UNABLE}\n[available container slots]\n[node==sd-3]"),
    );
    refused(
        &m,
        &["--volumes-from", "db"],
        &format!("{UNABLE}\n[available container slots]\n[--volumes-from=db]"),
    );
    for i in 0..4 {
        let n = run_on(&m, &format!("fill-{i}"), &[]);
        assert_ne!(n, "sd-3", "sd-3 has no slot left");
    }
    refused(
        &m,
        &["--name", "one-too-many"],
        &format!("{UNABLE}\n[available container slots]"),
    );
    let ps = m.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    for node in ["sd-1", "sd-2", "sd-3"] {
        let count = ps
            .lines()
            .filter(|l| {
                l.split(',')
                    .next()
                    .unwrap_or("")
                    .starts_with(&format!("{node}/"))
            })
            .count();
        assert_eq!(count, 4, "{node} holds exactly its 4 slots:\n{ps}");
    }

    // -f replaces the default filters: without containerslots, sd-3 takes
    // a fifth container
    let only = ExtraManager::start(
        &lab,
        &[&a, &b, &c],
        "filters.sock",
        &["-f", "port", "-f", "constraint"],
    );
    let info = docker(&only.host, &["info"]).ok("info").stdout;
    assert!(info.contains(" Filters: port, constraint\n"), "{info}");
    docker(
        &only.host,
        &[
            "run",
            "-d",
            "--name",
            "fifth",
            "-e",
            "constraint:node==sd-3",
            "busybox",
            "sleep",
            "600",
        ],
    )
    .ok("a fifth container on sd-3 without the containerslots filter");
    let r = docker(
        &only.host,
        &["run", "-d", "-p", "8080:80", "busybox", "sleep", "600"],
    );
    assert_refused(
        &r,
        &format!("{UNABLE}\n[port 8080 (Bridge mode)]"),
        "port filter still on",
    );
}

/// Reservation lines for every node, as `docker info` should show them
/// when `reserved` GiB (whole) sit on each node.
fn expect_memory_lines(
    info: &str,
    total: &BTreeMap<String, String>,
    reserved_gib: &BTreeMap<String, i64>,
    what: &str,
) {
    let got = reservations(info);
    for (node, total) in total {
        let gib = reserved_gib.get(node).copied().unwrap_or(0);
        let used = if gib == 0 {
            "0 B".to_string()
        } else {
            format!("{gib} GiB")
        };
        assert_eq!(
            got.get(node).map(|r| r.1.as_str()),
            Some(format!("{used} / {total}").as_str()),
            "{what}: Reserved Memory of {node} in\n{info}"
        );
    }
}

/// Spread and binpack order with `-m`, one manager of each over the same
/// three nodes: spread deals containers round the nodes, binpack then fills
/// one node before the next; once full, both refuse; `docker info` shows
/// each node's reserved memory after every run. A container made straight
/// on an engine reserves too.
#[test]
fn scheduling_spread_then_binpack_with_memory() {
    let lab = Lab::new();
    let a = lab.create("sb-1", &["--engine-label", "role=a"]);
    let b = lab.create("sb-2", &["--engine-label", "role=b"]);
    let c = lab.create("sb-3", &["--engine-label", "role=c"]);
    let spread = ManagerProcess::over(&lab, &[&a, &b, &c], &[]);
    let binpack = ExtraManager::start(
        &lab,
        &[&a, &b, &c],
        "binpack.sock",
        &["--strategy", "binpack"],
    );
    let binpack_info = || docker(&binpack.host, &["info"]).ok("info").stdout;

    let info = spread.ok(&["info"]).stdout;
    assert!(info.contains(" Strategy: spread\n"), "{info}");
    assert!(binpack_info().contains(" Strategy: binpack\n"));
    let before = reservations(&info);
    assert_eq!(before.len(), 3, "{info}");
    let totals: BTreeMap<String, String> = before
        .iter()
        .map(|(n, (_, mem))| {
            let (used, total) = mem.split_once(" / ").expect("used / total");
            assert_eq!(used, "0 B", "{n}: {mem}");
            (n.clone(), total.to_string())
        })
        .collect();
    // Nodes share the host's memory: four containers of `each` whole GiB
    // fit one node (+5 % overcommit), five do not.
    let cluster_mem: i64 = spread
        .ok(&["info", "-f", "{{.MemTotal}}"])
        .stdout
        .trim()
        .parse()
        .expect("MemTotal");
    let node_mem = cluster_mem / 3;
    let room = node_mem + node_mem * 5 / 100;
    let each = room / 4 / GIB;
    assert!(
        each >= 1 && each * 5 * GIB > room,
        "{each} GiB: the host is too small for this test"
    );
    let m_arg = format!("{each}g");

    // a container made on an engine, not through a manager, reserves too
    docker(
        &a.engine(),
        &["create", "--name", "direct", "-m", "1g", "busybox", "true"],
    )
    .ok("create on sb-1's engine");
    let one_gib: BTreeMap<String, i64> = [("sb-1".to_string(), 1)].into();
    eventually(
        "the engine's own container reserves 1 GiB",
        timeout(15),
        || {
            let info = docker(&binpack.host, &["info"]).stdout;
            reservations(&info).get("sb-1").map(|r| r.1.clone())
                == Some(format!("1 GiB / {}", totals["sb-1"]))
        },
    );
    expect_memory_lines(&binpack_info(), &totals, &one_gib, "direct create");
    expect_memory_lines(&spread.ok(&["info"]).stdout, &totals, &one_gib, "direct");
    docker(&a.engine(), &["rm", "direct"]).ok("rm on sb-1's engine");
    for host in [&spread.host, &binpack.host] {
        eventually("its reservation is released", timeout(15), || {
            reservations(&docker(host, &["info"]).stdout)
                .values()
                .all(|(_, mem)| mem.starts_with("0 B / "))
        });
    }

    // spread: two rounds over the three nodes
    let mut reserved: BTreeMap<String, i64> = BTreeMap::new();
    let mut order = Vec::new();
    for i in 0..6 {
        let n = run_on(&spread, &format!("s-{i}"), &["-m", &m_arg]);
        *reserved.entry(n.clone()).or_default() += each;
        order.push(n);
        let info = spread.ok(&["info"]).stdout;
        expect_memory_lines(&info, &totals, &reserved, &format!("spread run {i}"));
    }
    let mut first: Vec<_> = order[..3].to_vec();
    first.sort();
    let mut second: Vec<_> = order[3..].to_vec();
    second.sort();
    assert_eq!(first, ["sb-1", "sb-2", "sb-3"], "spread order {order:?}");
    assert_eq!(second, ["sb-1", "sb-2", "sb-3"], "spread order {order:?}");
    eventually("the binpack manager sees the same", timeout(15), || {
        let info = docker(&binpack.host, &["info"]).stdout;
        reservations(&info)
            .values()
            .all(|(_, mem)| mem.starts_with(&format!("{} GiB / ", 2 * each)))
    });

    // binpack, from nodes equally half full: fills one, then the next
    let mut order = Vec::new();
    for i in 0..6 {
        let name = format!("b-{i}");
        docker(
            &binpack.host,
            &[
                "run", "-d", "--name", &name, "-m", &m_arg, "busybox", "sleep", "600",
            ],
        )
        .ok(&format!("binpack run {i}"));
        let n = docker(&binpack.host, &["inspect", "-f", "{{.Node.Name}}", &name])
            .ok("inspect")
            .stdout
            .trim()
            .to_string();
        *reserved.entry(n.clone()).or_default() += each;
        order.push(n);
        expect_memory_lines(
            &binpack_info(),
            &totals,
            &reserved,
            &format!("binpack run {i}"),
        );
    }
    assert_eq!(order[0], order[1], "binpack fills a node first: {order:?}");
    assert_eq!(order[2], order[3], "binpack order {order:?}");
    assert_eq!(order[4], order[5], "binpack order {order:?}");
    let mut used: Vec<_> = vec![order[0].clone(), order[2].clone(), order[4].clone()];
    used.sort();
    assert_eq!(used, ["sb-1", "sb-2", "sb-3"], "binpack order {order:?}");
    let r = docker(
        &binpack.host,
        &[
            "run", "-d", "--name", "b-6", "-m", &m_arg, "busybox", "sleep", "600",
        ],
    );
    assert_refused(
        &r,
        "no resources available to schedule container",
        "binpack, full",
    );
    eventually(
        "the spread manager sees every node full",
        timeout(15),
        || {
            let info = spread.ok(&["info"]).stdout;
            reservations(&info)
                .values()
                .all(|(_, mem)| mem.starts_with(&format!("{} GiB / ", 4 * each)))
        },
    );
    refused(
        &spread,
        &["--name", "s-6", "-m", &m_arg],
        "no resources available to schedule container",
    );
}

/// `docker rm -f` of running containers through the manager releases
/// their reservations: `docker info` is back to `0 B` and no container.
#[test]
fn scheduling_rm_f_releases_reservations() {
    let lab = Lab::new();
    let a = lab.create("sr-1", &[]);
    let b = lab.create("sr-2", &[]);
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let names: Vec<String> = (0..6).map(|i| format!("r-{i}")).collect();
    for name in &names {
        run_on(&m, name, &["-m", "1g"]);
    }
    let info = m.ok(&["info"]).stdout;
    for (node, (_, mem)) in reservations(&info) {
        assert!(mem.starts_with("3 GiB / "), "{node}: {mem}");
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    m.ok(&rm);
    let mut last = String::new();
    let start = std::time::Instant::now();
    loop {
        let info = m.ok(&["info"]).stdout;
        let released = reservations(&info)
            .values()
            .all(|(_, mem)| mem.starts_with("0 B / "));
        if released && info.contains("\n Containers: 0\n") {
            break;
        }
        assert!(
            start.elapsed() < timeout(10),
            "reservations and containers still listed 10s after rm -f:\n{last}"
        );
        last = info;
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// `-c N` is a count of CPUs: reserved per node, shown as `Reserved CPUs:
/// X / 2` after every run, turned into CPU shares on the engine (classic
/// Swarm: ceil(N * 1024 / NCPU)), and the container runs.
#[test]
fn scheduling_cpu_reservations_with_dash_c() {
    let lab = Lab::new();
    let a = lab.create("sp-1", &["--engine-label", "role=a"]);
    let b = lab.create("sp-2", &["--engine-label", "role=b"]);
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let info = m.ok(&["info"]).stdout;
    let ncpu: i64 = m
        .ok(&["info", "-f", "{{.NCPU}}"])
        .stdout
        .trim()
        .parse()
        .expect("NCPU");
    let per_node = ncpu / 2;
    assert!(per_node >= 1, "{info}");
    for (node, (cpus, _)) in reservations(&info) {
        assert_eq!(cpus, format!("0 / {per_node}"), "{node}");
    }
    let mut reserved: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..(2 * per_node) {
        let name = format!("cpu-{i}");
        let n = run_on(&m, &name, &["-c", "1", "-m", "1g"]);
        *reserved.entry(n.clone()).or_default() += 1;
        let running = m.ok(&["inspect", "-f", "{{.State.Running}}", &name]).stdout;
        assert_eq!(running.trim(), "true", "{name} runs");
        let engine = if n == "sp-1" { a.engine() } else { b.engine() };
        let shares = docker(
            &engine,
            &["inspect", "-f", "{{.HostConfig.CpuShares}}", &name],
        )
        .ok("inspect on the engine")
        .stdout;
        assert_eq!(
            shares.trim(),
            ((1024 + per_node - 1) / per_node).to_string(),
            "CPU shares of {name} on its engine"
        );
        let got = reservations(&m.ok(&["info"]).stdout);
        for node in ["sp-1", "sp-2"] {
            let want = reserved.get(node).copied().unwrap_or(0);
            let line = &got[node];
            assert_eq!(
                line.0,
                format!("{want} / {per_node}"),
                "run {i}: CPUs of {node}"
            );
            let mem = if want == 0 {
                "0 B".to_string()
            } else {
                format!("{want} GiB")
            };
            assert!(
                line.1.starts_with(&format!("{mem} / ")),
                "run {i}: memory of {node}: {}",
                line.1
            );
        }
    }
    refused(
        &m,
        &["--name", "cpu-last", "-c", "1"],
        "no resources available to schedule container",
    );
}

/// Unknown filters and strategies, and a bad overcommit, are refused at
/// start with one line naming the valid choices; nothing listens.
#[test]
fn scheduling_manage_refuses_bad_settings() {
    let dir = tempfile::Builder::new()
        .prefix("shoal-it-sched.")
        .tempdir()
        .expect("temp dir");
    let sock = dir.path().join("x.sock");
    let host = format!("unix://{}", sock.display());
    let cases: [(&[&str], &str); 3] = [
        (
            &["-f", "health", "-f", "nosuch"],
            "unknown filter \"nosuch\": valid filters are health, port, containerslots, dependency, affinity, constraint, whitelist",
        ),
        (
            &["--strategy", "nosuch"],
            "unknown strategy \"nosuch\": valid strategies are spread, binpack, random",
        ),
        (
            &["--cluster-opt", "swarm.overcommit=abc"],
            "swarm.overcommit=abc",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["manage", "-H", &host];
        args.extend_from_slice(flags);
        args.push("nodes://127.0.0.1:1");
        let mut child = Command::new(SHOAL)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run shoal manage");
        let start = std::time::Instant::now();
        while child.try_wait().expect("try_wait").is_none() {
            if start.elapsed() > timeout(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("shoal {args:?} kept running");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "shoal {args:?} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(message), "shoal {args:?}: {stderr:?}");
        assert!(!sock.exists(), "shoal {args:?} listened");
    }
}
