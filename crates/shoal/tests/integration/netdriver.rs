//! Shoal's overlay network on real engines without a cluster store: one
//! `shoal net-agent` per machine (inside the machine, so its plugin socket
//! is in that machine's /run/docker/plugins), state in the lab's etcd, the
//! `shoal` network created on every engine directly, and `shoal cni` driven
//! by CNI environment variables and stdin for namespaces on two machines.

use std::collections::HashSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::{docker, eventually, timeout, Lab, Machine, ManagerProcess, Run, SHOAL};
use crate::reschedule::node_status;

/// A `shoal net-agent` running inside a machine, killed (by its pid) when
/// dropped.
struct NetAgent {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl NetAgent {
    fn start(lab: &Lab, m: &Machine, store: &str, prefix: &str, extra: &[&str]) -> NetAgent {
        let log = lab.store().join(format!("net-agent-{}.log", m.name));
        let mut args = vec![
            "machine",
            "ssh",
            &m.name,
            "--",
            SHOAL,
            "net-agent",
            "--store",
            store,
            "--prefix",
            prefix,
        ];
        args.extend_from_slice(extra);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let child = Command::new(SHOAL)
            .args(&args)
            .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
            .env("RUST_LOG", "info,shoal_netdriver=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start shoal net-agent");
        let agent = NetAgent {
            child: Some(child),
            log,
        };
        eventually(
            &format!("net-agent socket on {}", m.name),
            timeout(20),
            || {
                lab.shoal(&[
                    "machine",
                    "ssh",
                    &m.name,
                    "--",
                    "test",
                    "-S",
                    "/run/docker/plugins/shoal.sock",
                ])
                .code
                    == 0
            },
        );
        agent
    }

    /// Kills the agent the hard way (a host that vanished).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NetAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A unique key prefix per test run, so runs never see each other's state.
fn prefix(test: &str) -> String {
    format!("/shoal-it/{test}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Keys under `prefix` in the lab's etcd (v3 API, through etcdctl).
pub(crate) fn store_keys(keystore: &Machine, prefix: &str) -> Vec<String> {
    let out = Command::new("etcdctl")
        .args([
            "--endpoints",
            &format!("http://{}:2379", keystore.ip),
            "get",
            "--prefix",
            "--keys-only",
            &format!("{prefix}/"),
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .expect("run etcdctl");
    assert!(
        out.status.success(),
        "etcdctl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn in_machine(lab: &Lab, m: &Machine, cmd: &[&str]) -> Run {
    let mut args = vec!["machine", "ssh", &m.name, "--"];
    args.extend_from_slice(cmd);
    lab.shoal(&args)
}

fn ip_of(host: &str, container: &str) -> String {
    docker(
        host,
        &[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            container,
        ],
    )
    .ok("inspect")
    .stdout
    .trim()
    .to_string()
}

fn create_network(m: &Machine, name: &str, subnet: &str, vni: &str) {
    docker(
        &m.engine(),
        &[
            "network",
            "create",
            "-d",
            "shoal",
            "--ipam-driver",
            "shoal",
            "--subnet",
            subnet,
            "-o",
            &format!("vni={vni}"),
            name,
        ],
    )
    .ok(&format!("network create on {}", m.name));
}

/// The engine's own `/info` (the docker CLI no longer shows the field)
/// names no cluster store.
fn assert_no_cluster_store(m: &Machine) {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://{}:2376/info", m.ip)])
        .output()
        .expect("curl");
    let info: Value = serde_json::from_slice(&out.stdout).expect("engine /info JSON");
    assert!(info["NCPU"].as_i64().unwrap_or(0) > 0, "{info}");
    assert_eq!(
        info["ClusterStore"].as_str().unwrap_or_default(),
        "",
        "{} has a cluster store",
        m.name
    );
}

/// `n` containers on network `web` started at once (`docker run -d`, named
/// `PREFIXi`, through `hosts[i % len]`): their addresses.
fn concurrent_runs(hosts: &[String], prefix: &str, n: usize) -> Vec<String> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let host = hosts[i % hosts.len()].clone();
            let name = format!("{prefix}{i}");
            std::thread::spawn(move || {
                docker(
                    &host,
                    &[
                        "run", "-d", "--name", &name, "--net", "web", "busybox", "sleep", "600",
                    ],
                )
                .ok(&format!("run {name}"));
                ip_of(&host, &name)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("run thread"))
        .collect()
}

fn pings(host: &str, container: &str, ip: &str) -> bool {
    docker(host, &["exec", container, "ping", "-c", "1", "-W", "1", ip]).code == 0
}

#[test]
fn shoal_network_across_three_engines_without_cluster_store() {
    let lab = Lab::new();
    let n1 = lab.create("nd1", &["--keystore", "etcd"]);
    let n2 = lab.create("nd2", &[]);
    let n3 = lab.create("nd3", &[]);
    let machines = [&n1, &n2, &n3];
    let store = format!("etcd://{}:2379", n1.ip);
    let prefix = prefix("three");
    let agents: Vec<NetAgent> = machines
        .iter()
        .map(|m| NetAgent::start(&lab, m, &store, &prefix, &[]))
        .collect();

    // No cluster store on any engine: the network is created on each.
    for m in machines {
        assert_no_cluster_store(m);
        create_network(m, "web", "10.77.0.0/24", "7077");
    }
    let mut ips = Vec::new();
    for (i, m) in machines.iter().enumerate() {
        let name = format!("c{}", i + 1);
        docker(
            &m.engine(),
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--net",
                "web",
                "--dns",
                "10.77.0.1",
                "busybox",
                "sleep",
                "600",
            ],
        )
        .ok(&format!("run {name}"));
        ips.push(ip_of(&m.engine(), &name));
    }
    assert_eq!(ips.iter().collect::<HashSet<_>>().len(), 3, "{ips:?}");
    for (i, m) in machines.iter().enumerate() {
        let name = format!("c{}", i + 1);
        for (j, ip) in ips.iter().enumerate() {
            if i != j {
                eventually(
                    &format!("{name} on {} pings {ip}", m.name),
                    timeout(20),
                    || pings(&m.engine(), &name, ip),
                );
            }
        }
        // By name across engines: the engine's embedded DNS forwards names
        // it does not know to --dns, the agent's responder on the gateway.
        let other = format!("c{}", (i + 1) % 3 + 1);
        eventually(
            &format!("{name} on {} pings {other} by name", m.name),
            timeout(20),
            || pings(&m.engine(), &name, &other),
        );
        let looked_up = docker(&m.engine(), &["exec", &name, "nslookup", &other]);
        assert!(
            looked_up.stdout.contains(&ips[(i + 1) % 3]),
            "nslookup {other}: {}",
            looked_up.stdout
        );
        // MTU: the underlay's 1500 minus the 50 bytes of VXLAN.
        let mtu = docker(
            &m.engine(),
            &["exec", &name, "cat", "/sys/class/net/eth0/mtu"],
        )
        .ok("mtu");
        assert_eq!(mtu.stdout.trim(), "1450");
    }
    // A packet of exactly that MTU crosses hosts.
    let big = docker(
        &n1.engine(),
        &[
            "exec", "c1", "ping", "-c", "1", "-W", "2", "-s", "1422", &ips[1],
        ],
    );
    assert_eq!(
        big.code, 0,
        "1450-byte packets across hosts: {}",
        big.stdout
    );

    // 20 concurrent runs across the three engines: no address twice.
    let hosts: Vec<String> = machines.iter().map(|m| m.engine()).collect();
    let mut all = concurrent_runs(&hosts, "par", 20);
    all.extend(ips.iter().cloned());
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 23, "addresses collided: {all:?}");
    let allocated = store_keys(&n1, &prefix)
        .into_iter()
        .filter(|k| k.contains("/ipam/"))
        .count();
    assert_eq!(allocated, 23, "one store key per address");
    // One of the parallel containers reaches one on another engine.
    let (par0, par1) = (all[0].clone(), all[1].clone());
    eventually("par0 pings par1 across engines", timeout(20), || {
        pings(&n1.engine(), "par0", &par1)
    });
    assert!(!par0.is_empty());

    // Removal: containers, then the network on every engine.
    for m in machines {
        let ids = docker(&m.engine(), &["ps", "-aq"]).ok("ps").stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        docker(&m.engine(), &args).ok("rm");
        docker(&m.engine(), &["network", "rm", "web"]).ok("network rm");
    }
    for m in machines {
        let link = in_machine(&lab, m, &["ip", "link", "show", "svx7077"]);
        assert_ne!(link.code, 0, "vxlan device left on {}", m.name);
        let br = in_machine(&lab, m, &["ip", "link", "show", "sbr7077"]);
        assert_ne!(br.code, 0, "bridge left on {}", m.name);
        for table in ["filter", "raw"] {
            let rules = in_machine(&lab, m, &["iptables", "-t", table, "-S"]).ok("iptables -S");
            assert!(
                !rules.stdout.contains("sbr7077"),
                "iptables rules left on {}: {}",
                m.name,
                rules.stdout
            );
        }
    }
    let left: Vec<String> = store_keys(&n1, &prefix)
        .into_iter()
        .filter(|k| !k.starts_with(&format!("{prefix}/hosts/")))
        .collect();
    assert!(
        left.is_empty(),
        "store keys left: {left:?}\n{}",
        agents[0].log_text()
    );
}

#[test]
fn a_vanished_host_is_cleaned_from_the_others() {
    let lab = Lab::new();
    let n1 = lab.create("ns1", &["--keystore", "etcd"]);
    let n2 = lab.create("ns2", &[]);
    let store = format!("etcd://{}:2379", n1.ip);
    let prefix = prefix("stale");
    let _a1 = NetAgent::start(&lab, &n1, &store, &prefix, &["--ttl", "3"]);
    let mut a2 = NetAgent::start(&lab, &n2, &store, &prefix, &["--ttl", "3"]);
    for m in [&n1, &n2] {
        create_network(m, "stale", "10.78.0.0/24", "7078");
    }
    docker(
        &n2.engine(),
        &[
            "run", "-d", "--name", "s2", "--net", "stale", "busybox", "sleep", "600",
        ],
    )
    .ok("run");
    let ip = ip_of(&n2.engine(), "s2");
    let mac = format!(
        "02:42:{}",
        ip.split('.')
            .map(|o| format!("{:02x}", o.parse::<u8>().unwrap()))
            .collect::<Vec<_>>()
            .join(":")
    );
    let fdb_has = |mac: &str| {
        in_machine(&lab, &n1, &["bridge", "fdb", "show", "dev", "svx7078"])
            .stdout
            .contains(mac)
    };
    eventually("n1 programs s2's MAC behind n2", timeout(20), || {
        fdb_has(&mac)
    });
    let neigh = in_machine(&lab, &n1, &["ip", "neigh", "show", "dev", "svx7078"]).stdout;
    assert!(neigh.contains(&ip), "{neigh}");

    a2.kill();
    eventually(
        "n2's lease expires and n1 drops its entries",
        timeout(30),
        || !fdb_has(&mac),
    );
    let keys = store_keys(&n1, &prefix);
    assert!(
        !keys
            .iter()
            .any(|k| k.contains(&n2.ip) || k.ends_with(&format!("/{ip}"))),
        "n2's keys outlived its lease: {keys:?}"
    );

    // The agent comes back: from its state file it publishes s2 again, and
    // n1 programs it again.
    let _a2 = NetAgent::start(&lab, &n2, &store, &prefix, &["--ttl", "3"]);
    eventually(
        "n1 programs s2 again after n2's agent restarts",
        timeout(20),
        || fdb_has(&mac),
    );
    docker(
        &n1.engine(),
        &[
            "run", "-d", "--name", "s1", "--net", "stale", "busybox", "sleep", "600",
        ],
    )
    .ok("run s1");
    eventually("s1 pings s2 again", timeout(20), || {
        pings(&n1.engine(), "s1", &ip)
    });
    docker(&n2.engine(), &["rm", "-f", "s2"]).ok("rm s2");
    docker(&n1.engine(), &["rm", "-f", "s1"]).ok("rm s1");
}

/// Runs `shoal cni` inside `m` the way a CNI runtime does.
fn cni(lab: &Lab, m: &Machine, command: &str, container: &str, netns: &str, conf: &str) -> Run {
    let mut child = Command::new(SHOAL)
        .args(["machine", "ssh", &m.name, "--", "env"])
        .arg(format!("CNI_COMMAND={command}"))
        .arg(format!("CNI_CONTAINERID={container}"))
        .arg(format!("CNI_NETNS={netns}"))
        .arg("CNI_IFNAME=eth0")
        .arg(format!("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME={container}"))
        .arg("CNI_PATH=/opt/cni/bin")
        .args([SHOAL, "cni"])
        .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shoal cni");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(conf.as_bytes())
        .expect("write config");
    let out = child.wait_with_output().expect("shoal cni output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Network namespaces made inside machines, deleted when dropped.
struct Netns<'a> {
    lab: &'a Lab,
    made: Vec<(&'a Machine, String)>,
}

impl<'a> Netns<'a> {
    fn add(&mut self, m: &'a Machine, name: &str) -> String {
        in_machine(self.lab, m, &["ip", "netns", "add", name]).ok("ip netns add");
        self.made.push((m, name.to_string()));
        format!("/run/netns/{name}")
    }
}

impl Drop for Netns<'_> {
    fn drop(&mut self) {
        for (m, name) in &self.made {
            let _ = in_machine(self.lab, m, &["ip", "netns", "del", name]);
        }
    }
}

#[test]
fn cni_plugin_attaches_namespaces_on_two_machines() {
    let lab = Lab::new();
    let n1 = lab.create("nc1", &["--keystore", "etcd"]);
    let n2 = lab.create("nc2", &[]);
    let store = format!("etcd://{}:2379", n1.ip);
    let prefix = prefix("cni");
    let _a1 = NetAgent::start(&lab, &n1, &store, &prefix, &[]);
    let _a2 = NetAgent::start(&lab, &n2, &store, &prefix, &[]);
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "pods", "type": "shoal", "store": store,
        "prefix": prefix, "subnet": "10.79.0.0/24", "vni": 7079
    });
    let conf_text = conf.to_string();
    let tag = std::process::id();
    let mut ns = Netns {
        lab: &lab,
        made: Vec::new(),
    };
    let p1 = ns.add(&n1, &format!("shoal-it-pod-a-{tag}"));
    let p2 = ns.add(&n2, &format!("shoal-it-pod-b-{tag}"));

    let version = cni(&lab, &n1, "VERSION", "", "", "{\"cniVersion\":\"1.0.0\"}").ok("cni VERSION");
    let v: Value = serde_json::from_str(&version.stdout).expect("VERSION prints JSON");
    assert!(v["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&"1.0.0".into()));

    let r1 = cni(&lab, &n1, "ADD", "pod-a", &p1, &conf_text).ok("cni ADD pod-a");
    let r2 = cni(&lab, &n2, "ADD", "pod-b", &p2, &conf_text).ok("cni ADD pod-b");
    let res1: Value = serde_json::from_str(&r1.stdout).expect("ADD prints a result");
    let res2: Value = serde_json::from_str(&r2.stdout).expect("ADD prints a result");
    assert_eq!(res1["cniVersion"], "1.0.0");
    let a1 = res1["ips"][0]["address"].as_str().unwrap().to_string();
    let a2 = res2["ips"][0]["address"].as_str().unwrap().to_string();
    assert_ne!(a1, a2);
    let ip1 = a1.split('/').next().unwrap().to_string();
    let ip2 = a2.split('/').next().unwrap().to_string();
    // The interface is really there, with the address and the overlay MTU.
    let shown = in_machine(
        &lab,
        &n1,
        &[
            "ip",
            "-n",
            &format!("shoal-it-pod-a-{tag}"),
            "addr",
            "show",
            "eth0",
        ],
    );
    assert!(
        shown.stdout.contains(&a1) && shown.stdout.contains("mtu 1450"),
        "{}",
        shown.stdout
    );
    for (m, ns_name, ip) in [
        (&n1, format!("shoal-it-pod-a-{tag}"), &ip2),
        (&n2, format!("shoal-it-pod-b-{tag}"), &ip1),
    ] {
        eventually(&format!("{ns_name} pings {ip}"), timeout(20), || {
            in_machine(
                &lab,
                m,
                &[
                    "ip", "netns", "exec", &ns_name, "busybox", "ping", "-c", "1", "-W", "1", ip,
                ],
            )
            .code
                == 0
        });
    }

    // Pods find each other by name (K8S_POD_NAME) through the agent's DNS
    // on the gateway, which the result names as nameserver.
    assert_eq!(res2["dns"]["nameservers"][0], "10.79.0.1");
    let ns_b = format!("shoal-it-pod-b-{tag}");
    eventually("pod-b looks up pod-a", timeout(20), || {
        in_machine(
            &lab,
            &n2,
            &[
                "ip",
                "netns",
                "exec",
                &ns_b,
                "busybox",
                "nslookup",
                "pod-a",
                "10.79.0.1",
            ],
        )
        .stdout
        .contains(&ip1)
    });

    // CHECK: fine as set up, drift reported once the MTU is changed.
    let mut with_prev = conf.clone();
    with_prev["prevResult"] = res1.clone();
    let with_prev = with_prev.to_string();
    cni(&lab, &n1, "CHECK", "pod-a", &p1, &with_prev).ok("cni CHECK");
    in_machine(
        &lab,
        &n1,
        &[
            "ip",
            "-n",
            &format!("shoal-it-pod-a-{tag}"),
            "link",
            "set",
            "eth0",
            "mtu",
            "1400",
        ],
    )
    .ok("mtu");
    let drift = cni(&lab, &n1, "CHECK", "pod-a", &p1, &with_prev);
    assert_ne!(drift.code, 0, "CHECK missed the drift");
    let err: Value = serde_json::from_str(&drift.stdout).expect("CNI error JSON on stdout");
    assert_eq!(err["code"], 100);
    assert!(err["msg"].as_str().unwrap().contains("mtu 1400"), "{err}");

    // DEL frees the address (and is idempotent).
    cni(&lab, &n1, "DEL", "pod-a", &p1, &conf_text).ok("cni DEL");
    cni(&lab, &n1, "DEL", "pod-a", &p1, &conf_text).ok("cni DEL again");
    let keys = store_keys(&n1, &prefix);
    assert!(
        !keys.iter().any(|k| k.ends_with(&format!("/{ip1}"))),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.ends_with(&format!("/{ip2}"))),
        "{keys:?}"
    );
    let after = cni(&lab, &n1, "CHECK", "pod-a", &p1, &with_prev);
    assert_ne!(after.code, 0);
    cni(&lab, &n2, "DEL", "pod-b", &p2, &conf_text).ok("cni DEL pod-b");
}

/// Restarts only the engine of `m` (SIGTERM, wait, the same command line
/// again inside the machine), as `systemctl restart docker` would: the
/// agent keeps running. (`shoal machine restart` ends every process of the
/// machine, the agent too.)
fn restart_engine(lab: &Lab, m: &Machine) {
    let pid_file = lab.store().join(&m.name).join("dockerd.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("dockerd.pid")
        .trim()
        .parse()
        .expect("pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("dockerd cmdline");
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    eventually("dockerd exits", timeout(30), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lab.store().join(&m.name).join("dockerd.log"))
        .expect("dockerd log");
    let mut args = vec![
        "machine".to_string(),
        "ssh".into(),
        m.name.clone(),
        "--".into(),
    ];
    args.extend(argv);
    // Detached: the machine's own stop (on Lab drop) ends it by its pid
    // file; a thread reaps the process when it exits.
    let mut engine = Command::new("setsid")
        .arg(SHOAL)
        .args(&args)
        .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start dockerd again");
    std::thread::spawn(move || engine.wait());
    eventually("the engine answers again", timeout(40), || {
        docker(&m.engine(), &["version"]).code == 0
    });
}

#[test]
fn an_engine_restarted_keeps_its_containers_connected() {
    let lab = Lab::new();
    let n1 = lab.create("nr1", &["--keystore", "etcd"]);
    let n2 = lab.create("nr2", &[]);
    let store = format!("etcd://{}:2379", n1.ip);
    let prefix = prefix("restart");
    let _a1 = NetAgent::start(&lab, &n1, &store, &prefix, &[]);
    let _a2 = NetAgent::start(&lab, &n2, &store, &prefix, &[]);
    for m in [&n1, &n2] {
        create_network(m, "rs", "10.76.0.0/24", "7076");
    }

    // Without a subnet, a pool named by --ipam-opt gives every engine the
    // same subnet (and so the same VNI).
    let mut subnets = Vec::new();
    for m in [&n1, &n2] {
        docker(
            &m.engine(),
            &[
                "network",
                "create",
                "-d",
                "shoal",
                "--ipam-driver",
                "shoal",
                "--ipam-opt",
                "network=auto",
                "auto",
            ],
        )
        .ok("network create auto");
        let subnet = docker(
            &m.engine(),
            &[
                "network",
                "inspect",
                "-f",
                "{{(index .IPAM.Config 0).Subnet}}",
                "auto",
            ],
        )
        .ok("inspect auto");
        subnets.push(subnet.stdout.trim().to_string());
    }
    assert_eq!(subnets[0], subnets[1]);
    assert!(subnets[0].starts_with("10.24"), "{subnets:?}");
    docker(
        &n1.engine(),
        &[
            "run", "-d", "--name", "x1", "--net", "auto", "busybox", "sleep", "600",
        ],
    )
    .ok("run x1");
    docker(
        &n2.engine(),
        &[
            "run", "-d", "--name", "x2", "--net", "auto", "busybox", "sleep", "600",
        ],
    )
    .ok("run x2");
    let x2 = ip_of(&n2.engine(), "x2");
    eventually("x1 pings x2 on the auto network", timeout(20), || {
        pings(&n1.engine(), "x1", &x2)
    });
    for (m, c) in [(&n1, "x1"), (&n2, "x2")] {
        docker(&m.engine(), &["rm", "-f", c]).ok("rm");
        docker(&m.engine(), &["network", "rm", "auto"]).ok("network rm auto");
    }
    let left: Vec<String> = store_keys(&n1, &prefix)
        .into_iter()
        .filter(|k| k.contains("/pool-names/") || k.contains(&subnets[0].replace('/', "-")))
        .collect();
    assert!(left.is_empty(), "auto pool left: {left:?}");

    docker(
        &n1.engine(),
        &[
            "run", "-d", "--name", "r1", "--net", "rs", "busybox", "sleep", "600",
        ],
    )
    .ok("run r1");
    docker(
        &n2.engine(),
        &[
            "run",
            "-d",
            "--restart",
            "always",
            "--name",
            "r2",
            "--net",
            "rs",
            "busybox",
            "sleep",
            "600",
        ],
    )
    .ok("run r2");
    let ip2 = ip_of(&n2.engine(), "r2");
    eventually("r1 pings r2", timeout(20), || {
        pings(&n1.engine(), "r1", &ip2)
    });

    restart_engine(&lab, &n2);
    eventually("r2 runs again", timeout(40), || {
        docker(&n2.engine(), &["inspect", "-f", "{{.State.Running}}", "r2"])
            .stdout
            .trim()
            == "true"
    });
    let ip2 = ip_of(&n2.engine(), "r2");
    let ip1 = ip_of(&n1.engine(), "r1");
    eventually("r1 pings r2 after the restart", timeout(20), || {
        pings(&n1.engine(), "r1", &ip2)
    });
    eventually("r2 pings r1 after the restart", timeout(20), || {
        pings(&n2.engine(), "r2", &ip1)
    });
    for (m, c) in [(&n1, "r1"), (&n2, "r2")] {
        docker(&m.engine(), &["rm", "-f", c]).ok("rm");
    }
}

/// `ip link` names of the overlay's devices (VXLAN `svx*`, bridges `sbr*`)
/// inside a machine.
fn overlay_devices(lab: &Lab, m: &Machine) -> Vec<String> {
    in_machine(lab, m, &["ip", "-o", "link", "show"])
        .ok("ip link")
        .stdout
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("svx") || n.starts_with("sbr"))
        .collect()
}

fn subnet_on(m: &Machine, net: &str) -> Run {
    docker(
        &m.engine(),
        &[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{(index .IPAM.Config 0).Subnet}}",
            net,
        ],
    )
}

/// Issue 7's "done when" through the manager: three swarm machines on etcd
/// discovery (each runs `shoal net-agent`, no engine has a cluster store),
/// one `docker network create -d shoal web` through `shoal manage`.
#[test]
fn shoal_network_through_the_manager_on_three_engines() {
    let lab = Lab::new();
    let ks = lab.create("mk", &["--keystore", "etcd"]);
    let disc = format!("etcd://{}:2379/shoal", ks.ip);
    let swarm = ["--swarm", "--swarm-discovery", disc.as_str()];
    let nodes: Vec<Machine> = ["mn1", "mn2", "mn3"]
        .iter()
        .map(|n| lab.create(n, &swarm))
        .collect();
    let all: Vec<&Machine> = nodes.iter().collect();
    let m = ManagerProcess::over(&lab, &all, &["--engine-failure-retry", "2"]);
    for n in &nodes {
        assert_no_cluster_store(n);
    }

    // Created while mn3 is down: mn3 gets it when it comes back.
    lab.shoal(&["machine", "stop", "mn3"]).ok("stop mn3");
    eventually("mn3 unhealthy", timeout(30), || {
        node_status(&m.host, "mn3") == "Unhealthy"
    });
    m.ok(&["network", "create", "-d", "shoal", "web"]);
    let subnet = subnet_on(&nodes[0], "web").ok("inspect on mn1").stdout;
    let subnet = subnet.trim().to_string();
    assert!(subnet.starts_with("shoal 10.24"), "{subnet}");
    assert_eq!(
        subnet_on(&nodes[1], "web")
            .ok("inspect on mn2")
            .stdout
            .trim(),
        subnet
    );
    lab.shoal(&["machine", "start", "mn3"]).ok("start mn3");
    eventually("mn3 healthy again", timeout(60), || {
        node_status(&m.host, "mn3") == "Healthy"
    });
    eventually("mn3 gets web with the same subnet", timeout(30), || {
        subnet_on(&nodes[2], "web").stdout.trim() == subnet
    });

    // Listed once, as a global network; inspect through the manager works
    // by name and by the listed ID.
    let ls = m
        .ok(&[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
        ])
        .stdout;
    let webs: Vec<&str> = ls.lines().filter(|l| l.contains("web")).collect();
    assert_eq!(webs, vec!["web shoal global"], "{ls}");
    let id = m
        .ok(&["network", "ls", "-q", "--filter", "name=web"])
        .stdout
        .trim()
        .to_string();
    let by_id = m.ok(&["network", "inspect", "-f", "{{.Name}}", &id]).stdout;
    assert_eq!(by_id.trim(), "web");

    // One container per node, by constraint; the manager gives them the
    // gateway as DNS server, so names resolve across engines.
    let mut ips = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let name = format!("w{}", i + 1);
        let constraint = format!("constraint:node=={}", n.name);
        m.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--net",
            "web",
            "-e",
            &constraint,
            "busybox",
            "sleep",
            "600",
        ]);
        ips.push(ip_of(&m.host, &name));
    }
    assert_eq!(ips.iter().collect::<HashSet<_>>().len(), 3, "{ips:?}");
    let gateway = m
        .ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "web",
        ])
        .stdout;
    let dns = m.ok(&["inspect", "-f", "{{.HostConfig.Dns}}", "w1"]).stdout;
    assert_eq!(dns.trim(), format!("[{}]", gateway.trim()));
    for i in 0..3 {
        let name = format!("w{}", i + 1);
        let next = (i + 1) % 3;
        let other = format!("w{}", next + 1);
        eventually(&format!("{name} pings {other} by IP"), timeout(20), || {
            pings(&m.host, &name, &ips[next])
        });
        eventually(
            &format!("{name} pings {other} by name"),
            timeout(20),
            || pings(&m.host, &name, &other),
        );
    }
    let merged = m
        .ok(&["network", "inspect", "-f", "{{len .Containers}}", "web"])
        .stdout;
    assert_eq!(
        merged.trim(),
        "3",
        "inspect merges every engine's containers"
    );
    // connect by the listed ID, whichever engine's copy it names: the
    // container's own engine's copy is used
    for n in &nodes {
        let name = format!("late-{}", n.name);
        let constraint = format!("constraint:node=={}", n.name);
        m.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            &constraint,
            "busybox",
            "sleep",
            "600",
        ]);
        m.ok(&["network", "connect", &id, &name]);
        let fmt = "{{(index .NetworkSettings.Networks \"web\").IPAddress}}";
        let ip = m.ok(&["inspect", "-f", fmt, &name]).stdout;
        eventually(&format!("{name} pings w1 by IP"), timeout(20), || {
            pings(&m.host, &name, &ips[0])
        });
        assert!(!ips.contains(&ip.trim().to_string()), "{ip}");
    }

    // 20 concurrent runs through the manager: no address twice.
    let mut every = concurrent_runs(std::slice::from_ref(&m.host), "mpar", 20);
    every.extend(ips.iter().cloned());
    assert_eq!(
        every.iter().collect::<HashSet<_>>().len(),
        23,
        "addresses collided: {every:?}"
    );

    // Removal: refused while containers are attached, then from every
    // engine: networks, devices, store keys.
    let busy = m.docker(&["network", "rm", "web"]);
    assert_ne!(busy.code, 0, "rm with attached containers must fail");
    assert!(busy.stderr.contains("active endpoints"), "{}", busy.stderr);
    let ids = m.ok(&["ps", "-aq"]).stdout;
    let mut args = vec!["rm", "-f"];
    args.extend(ids.split_whitespace());
    m.ok(&args);
    m.ok(&["network", "rm", "web"]);
    for n in &nodes {
        let ls = docker(&n.engine(), &["network", "ls", "--format", "{{.Name}}"]).ok("ls");
        assert!(
            !ls.stdout.lines().any(|l| l == "web"),
            "web left on {}",
            n.name
        );
        assert_eq!(
            overlay_devices(&lab, n),
            Vec::<String>::new(),
            "devices left on {}",
            n.name
        );
    }
    let left: Vec<String> = store_keys(&ks, "/shoal/net")
        .into_iter()
        .filter(|k| !k.starts_with("/shoal/net/hosts/"))
        .collect();
    assert!(left.is_empty(), "store keys left: {left:?}");
    let ls = m.ok(&["network", "ls"]).stdout;
    assert!(!ls.contains("web"), "{ls}");
}

/// `tcpdump` on a machine's underlay (`eth0` inside its namespace) writing
/// every packet at once to a pcap file; killed (by its pid) when dropped.
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(lab: &Lab, m: &Machine) -> Capture {
        let file = lab.store().join(format!("{}.pcap", m.name));
        let log = lab.store().join(format!("{}.tcpdump.log", m.name));
        let err = std::fs::File::create(&log).expect("tcpdump log");
        // `machine ssh` execs nsenter, which execs tcpdump: the child's pid
        // is tcpdump's.
        let child = Command::new(SHOAL)
            .args(["machine", "ssh", &m.name, "--", "tcpdump"])
            .args(["-i", "eth0", "-n", "-U", "-Z", "root", "-s", "0", "-w"])
            .arg(&file)
            .arg("udp")
            .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start tcpdump (apt-get install -y tcpdump)");
        eventually("tcpdump listens", timeout(20), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("listening on eth0")
        });
        Capture { child, file }
    }

    /// The captured bytes so far.
    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.file).unwrap_or_default()
    }

    fn contains(&self, marker: &str) -> bool {
        self.bytes()
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
    }

    /// One line per captured packet, as `tcpdump -r` prints them.
    fn summary(&self) -> String {
        let out = Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&self.file)
            .output()
            .expect("tcpdump -r");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The VNIs of a machine's VXLAN devices, split by whether the device sends
/// from an inner (tunnel, 100.64.0.0/10) address: (plain, encrypted).
fn vnis_by_encryption(lab: &Lab, m: &Machine) -> (Vec<String>, Vec<String>) {
    let out = in_machine(lab, m, &["ip", "-o", "-d", "link", "show", "type", "vxlan"])
        .ok("ip link show type vxlan")
        .stdout;
    let mut plain = Vec::new();
    let mut sealed = Vec::new();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .map(|s| s.to_string())
        };
        let (Some(vni), Some(local)) = (after("id"), after("local")) else {
            continue;
        };
        let first: u8 = local.split('.').next().unwrap_or("0").parse().unwrap_or(0);
        let second: u8 = local.split('.').nth(1).unwrap_or("0").parse().unwrap_or(0);
        if first == 100 && (64..128).contains(&second) {
            sealed.push(vni);
        } else {
            plain.push(vni);
        }
    }
    (plain, sealed)
}

/// Issue 7's encryption through the manager: `--opt encrypted` on a shoal
/// network seals the VXLAN traffic between hosts (agents' tunnel over UDP
/// between the lab addresses), while a plain shoal network beside it still
/// shows its payload on the wire; a capture on the underlay tells them apart.
#[test]
fn an_encrypted_network_hides_its_payload_on_the_underlay() {
    let lab = Lab::new();
    let ks = lab.create("ek", &["--keystore", "etcd"]);
    let disc = format!("etcd://{}:2379/shoal", ks.ip);
    let swarm = ["--swarm", "--swarm-discovery", disc.as_str()];
    let nodes: Vec<Machine> = ["en1", "en2"]
        .iter()
        .map(|n| lab.create(n, &swarm))
        .collect();
    let (en1, en2) = (&nodes[0], &nodes[1]);
    let all: Vec<&Machine> = nodes.iter().collect();
    let m = ManagerProcess::over(&lab, &all, &[]);
    for n in &nodes {
        assert_no_cluster_store(n);
    }
    m.ok(&[
        "network",
        "create",
        "-d",
        "shoal",
        "--opt",
        "encrypted",
        "sealed",
    ]);
    m.ok(&["network", "create", "-d", "shoal", "open"]);
    for net in ["sealed", "open"] {
        // A web server on en1 (its 404 page proves a request arrived), a
        // client on en2.
        m.ok(&[
            "run",
            "-d",
            "--name",
            &format!("rx-{net}"),
            "--net",
            net,
            "-e",
            "constraint:node==en1",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
        ]);
        m.ok(&[
            "run",
            "-d",
            "--name",
            &format!("tx-{net}"),
            "--net",
            net,
            "-e",
            "constraint:node==en2",
            "busybox",
            "sleep",
            "600",
        ]);
    }
    for n in &nodes {
        let tun = in_machine(&lab, n, &["ip", "-o", "addr", "show", "shoaltun0"]);
        assert_eq!(tun.code, 0, "no tunnel device on {}", n.name);
        assert!(tun.stdout.contains("inet 100."), "{}", tun.stdout);
    }
    let rx_ip = ip_of(&m.host, "rx-sealed");
    let tx_ip = ip_of(&m.host, "tx-sealed");
    eventually("tx-sealed pings rx-sealed by IP", timeout(30), || {
        pings(&m.host, "tx-sealed", &rx_ip)
    });
    eventually("rx-sealed pings tx-sealed by IP", timeout(20), || {
        pings(&m.host, "rx-sealed", &tx_ip)
    });
    eventually("tx-sealed pings rx-sealed by name", timeout(20), || {
        pings(&m.host, "tx-sealed", "rx-sealed")
    });
    eventually("rx-sealed pings tx-sealed by name", timeout(20), || {
        pings(&m.host, "rx-sealed", "tx-sealed")
    });
    // MTU: 1500 - 50 (VXLAN) - 56 (outer IPv4 and UDP, header, tag) on the
    // encrypted network; a packet of exactly that size crosses.
    let mtu = |c: &str| {
        m.ok(&["exec", c, "cat", "/sys/class/net/eth0/mtu"])
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(mtu("tx-sealed"), "1394");
    assert_eq!(mtu("tx-open"), "1450");
    let big = m.docker(&[
        "exec",
        "tx-sealed",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "-s",
        "1366",
        &rx_ip,
    ]);
    assert_eq!(big.code, 0, "1394-byte packets: {}", big.stdout);

    // A marker sent across each network, seen from en1's underlay.
    let (plain_vnis, sealed_vnis) = vnis_by_encryption(&lab, en1);
    assert_eq!(
        (plain_vnis.len(), sealed_vnis.len()),
        (1, 1),
        "{plain_vnis:?} {sealed_vnis:?}"
    );
    let capture = Capture::start(&lab, en1);
    let tag = rand_suffix();
    // (busybox wget crashes in these images: an HTTP request by nc.)
    let send = |net: &str, marker: &str| {
        let ip = ip_of(&m.host, &format!("rx-{net}"));
        let request = format!("printf 'GET /{marker} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 8080");
        let r = m.docker(&["exec", &format!("tx-{net}"), "sh", "-c", &request]);
        r.stdout.contains("404 Not Found")
    };
    let plain_marker = format!("SHOAL-PLAIN-{tag}");
    let sealed_marker = format!("SHOAL-SEALED-{tag}");
    eventually("the plain marker reaches rx-open", timeout(20), || {
        send("open", &plain_marker)
    });
    eventually("the capture shows the plain marker", timeout(10), || {
        capture.contains(&plain_marker)
    });
    for _ in 0..3 {
        assert!(
            send("sealed", &sealed_marker),
            "the sealed marker did not reach rx-sealed"
        );
    }
    let tunnel = format!("IP {}.4801 > {}.4801: UDP", en2.ip, en1.ip);
    eventually(
        "the capture shows tunnel packets from en2 to en1",
        timeout(10),
        || capture.summary().contains(&tunnel),
    );
    let summary = capture.summary();
    assert!(
        !capture.contains(&sealed_marker),
        "the encrypted network's marker is readable on the underlay"
    );
    assert!(
        summary.contains(&format!("vni {}", plain_vnis[0])),
        "plain VXLAN not seen:\n{summary}"
    );
    assert!(
        !summary.contains(&format!("vni {}", sealed_vnis[0])),
        "the encrypted network's VXLAN is on the underlay:\n{summary}"
    );
    drop(capture);

    // Removal: the encrypted network first (the tunnel goes on both nodes,
    // the plain network stays), then the plain one; store keys go.
    for c in ["rx-sealed", "tx-sealed"] {
        m.ok(&["rm", "-f", c]);
    }
    m.ok(&["network", "rm", "sealed"]);
    for n in &nodes {
        let tun = in_machine(&lab, n, &["ip", "link", "show", "shoaltun0"]);
        assert_ne!(tun.code, 0, "tunnel device left on {}", n.name);
        let vx = format!("svx{}", sealed_vnis[0]);
        assert!(
            !overlay_devices(&lab, n).contains(&vx),
            "{vx} left on {}",
            n.name
        );
    }
    eventually(
        "the plain network still carries traffic",
        timeout(20),
        || pings(&m.host, "tx-open", &ip_of(&m.host, "rx-open")),
    );
    for c in ["rx-open", "tx-open"] {
        m.ok(&["rm", "-f", c]);
    }
    m.ok(&["network", "rm", "open"]);
    for n in &nodes {
        assert_eq!(overlay_devices(&lab, n), Vec::<String>::new());
    }
    let left: Vec<String> = store_keys(&ks, "/shoal/net")
        .into_iter()
        .filter(|k| !k.starts_with("/shoal/net/hosts/"))
        .collect();
    assert!(left.is_empty(), "store keys left: {left:?}");
}
