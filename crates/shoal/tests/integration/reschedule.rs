//! Rescheduling on node failure (issue 8): two real engines behind a real
//! `shoal manage`; an engine killed with SIGKILL (its pid from the machine
//! store), then started again with `shoal machine start`.

use std::process::Command;

use crate::harness::{docker, eventually, timeout, Lab, Machine, ManagerProcess};
use crate::netdriver::store_keys;

/// A node's status as `docker info` through the manager shows it.
pub(crate) fn node_status(manager: &str, node: &str) -> String {
    let info = docker(manager, &["info"]).stdout;
    info.split(&format!(" {node}: "))
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.contains("└ Status: ")))
        .map(|l| l.trim().trim_start_matches("└ Status: ").to_string())
        .unwrap_or_default()
}

/// `docker ps -a` lines through the manager as "node/name status".
fn ps_all(m: &ManagerProcess) -> Vec<String> {
    m.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

fn copies_of(lines: &[String], name: &str) -> Vec<String> {
    let suffix = format!("/{name}");
    lines
        .iter()
        .filter(|l| l.split(' ').next().is_some_and(|n| n.ends_with(&suffix)))
        .cloned()
        .collect()
}

/// Prints the manager logs when the test fails (the lab's folder, where
/// they are, goes with the lab).
struct LogsOnPanic(Vec<std::path::PathBuf>);

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for p in &self.0 {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                eprintln!("---- {} ----\n{text}", p.display());
            }
        }
    }
}

/// SIGKILL to the machine's dockerd (its pid from the machine store).
fn kill_engine(lab: &Lab, m: &Machine) {
    let pid = lab.inspect(&m.name)["Driver"]["EnginePid"]
        .as_i64()
        .expect("engine pid");
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
}

/// Names of the containers the engine itself has (not through the manager).
fn on_engine(m: &Machine) -> Vec<String> {
    docker(&m.engine(), &["ps", "-a", "--format", "{{.Names}}"])
        .ok("ps on the engine")
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_container_is_rescheduled_once_when_its_node_dies() {
    let lab = Lab::new();
    let a = lab.create("rs-a", &[]);
    let b = lab.create("rs-b", &[]);
    let _logs = LogsOnPanic(vec![lab.store().join("shoal-manager.log")]);
    let m = ManagerProcess::over(&lab, &[&a, &b], &["--engine-failure-retry", "2"]);
    let (dead, other) = run_reschedulable(&m, "rr", &a, &b);
    let swarm_id = m
        .ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.swarm.id\"}}",
            "rr",
        ])
        .stdout;
    // The policy as a label, and a container without any policy, both on
    // the same node.
    let on_dead = format!("constraint:node=={}", dead.name);
    // soft: kept when rescheduled, but it cannot hold a dead node
    let soft_dead = format!("constraint:node==~{}", dead.name);
    m.ok(&[
        "run",
        "-d",
        "--label",
        "com.docker.swarm.reschedule-policies=[\"on-node-failure\"]",
        "-e",
        &soft_dead,
        "--name",
        "rl",
        "busybox",
        "sleep",
        "1000",
    ]);
    m.ok(&[
        "run", "-d", "-e", &on_dead, "--name", "plain", "busybox", "sleep", "1000",
    ]);
    let rl_node = m.ok(&["inspect", "-f", "{{.Node.Name}}", "rl"]).stdout;
    assert_eq!(rl_node.trim(), dead.name);

    kill_engine(&lab, dead);
    eventually("the dead node turns Unhealthy", timeout(30), || {
        node_status(&m.host, &dead.name) == "Unhealthy"
    });
    for name in ["rr", "rl"] {
        eventually(
            &format!("{name} runs on {}", other.name),
            timeout(60),
            || {
                m.docker(&["inspect", "-f", "{{.Node.Name}} {{.State.Running}}", name])
                    .stdout
                    .trim()
                    == format!("{} true", other.name)
            },
        );
    }
    let again = m
        .ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.swarm.id\"}}",
            "rr",
        ])
        .stdout;
    assert_eq!(again, swarm_id, "the same swarm ID");
    let cmd = m.ok(&["inspect", "-f", "{{.Config.Cmd}}", "rr"]).stdout;
    assert_eq!(cmd.trim(), "[sleep 1000]");
    let ps = ps_all(&m);
    let r = copies_of(&ps, "rr");
    assert_eq!(r.len(), 1, "{ps:?}");
    assert!(r[0].starts_with(&format!("{}/rr Up", other.name)), "{ps:?}");
    let constraints = m
        .ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.swarm.constraints\"}}",
            "rl",
        ])
        .stdout;
    assert!(constraints.contains(&soft_dead[11..]), "{constraints}");
    // without the policy: not rescheduled, shown as Host Down
    let plain = copies_of(&ps, "plain");
    assert_eq!(
        plain,
        vec![format!("{}/plain Host Down", dead.name)],
        "{ps:?}"
    );
    assert!(!on_engine(other).contains(&"plain".to_string()));

    // The node comes back: Healthy, its stale copies removed, one of each.
    lab.shoal(&["machine", "start", &dead.name])
        .ok("machine start");
    eventually("the node is Healthy again", timeout(60), || {
        node_status(&m.host, &dead.name) == "Healthy"
    });
    eventually(
        "the stale copies are removed from the returning engine",
        timeout(30),
        || {
            let names = on_engine(dead);
            !names.contains(&"rr".to_string()) && !names.contains(&"rl".to_string())
        },
    );
    let ps = ps_all(&m);
    for name in ["rr", "rl"] {
        let copies = copies_of(&ps, name);
        assert_eq!(copies.len(), 1, "exactly one {name}: {ps:?}");
        assert!(
            copies[0].starts_with(&format!("{}/{name} Up", other.name)),
            "{ps:?}"
        );
    }
    let plain = copies_of(&ps, "plain");
    assert_eq!(plain.len(), 1, "{ps:?}");
    assert!(
        plain[0].starts_with(&format!("{}/plain", dead.name)),
        "{ps:?}"
    );
    assert!(!plain[0].contains("Host Down"), "{ps:?}");
    assert_eq!(
        on_engine(other).iter().filter(|n| *n == "rr").count(),
        1,
        "exactly one rr on {}",
        other.name
    );
}

/// A manager on a discovery URL (log `manager-<tag>.log`), failing an
/// engine after two missed checks.
fn manage(lab: &Lab, discovery: &str, tag: &str, extra: &[&str]) -> ManagerProcess {
    let mut flags = vec!["--engine-failure-retry", "2"];
    flags.extend_from_slice(extra);
    ManagerProcess::spawn(lab, &format!("manager-{tag}"), discovery, &flags)
}

/// Runs a reschedulable `busybox sleep` named `name` through `m`; returns
/// the machine it landed on and the other one.
fn run_reschedulable<'a>(
    m: &ManagerProcess,
    name: &str,
    a: &'a Machine,
    b: &'a Machine,
) -> (&'a Machine, &'a Machine) {
    m.ok(&[
        "run",
        "-d",
        "-e",
        "reschedule:on-node-failure",
        "--name",
        name,
        "busybox",
        "sleep",
        "1000",
    ]);
    let node = m.ok(&["inspect", "-f", "{{.Node.Name}}", name]).stdout;
    let node = node.trim();
    assert!(node == a.name || node == b.name, "{name} on {node:?}");
    if node == a.name {
        (a, b)
    } else {
        (b, a)
    }
}

fn status(m: &ManagerProcess, node: &str) -> String {
    node_status(&m.host, node)
}

/// The intent is kept in etcd: a manager started while the node is down
/// (it never saw that node's containers) still reschedules, once.
#[test]
fn a_manager_started_while_the_node_is_down_reschedules_from_the_store() {
    restarted_manager_reschedules("etcd");
}

/// The same with ZooKeeper discovery (the intent as a persistent znode).
#[test]
fn a_manager_started_while_the_node_is_down_reschedules_from_zookeeper() {
    restarted_manager_reschedules("zookeeper");
}

fn restarted_manager_reschedules(keystore: &str) {
    let etcd = keystore == "etcd";
    let lab = Lab::new();
    let ks = lab.create("rk", &["--keystore", keystore]);
    let disc = if etcd {
        format!("etcd://{}:2379/rsd", ks.ip)
    } else {
        format!("zk://{}:2181/rsd", ks.ip)
    };
    let swarm = ["--swarm", "--swarm-discovery", disc.as_str()];
    let a = lab.create("rk-a", &swarm);
    let b = lab.create("rk-b", &swarm);
    let _logs = LogsOnPanic(
        ["first", "second"]
            .iter()
            .map(|t| lab.store().join(format!("manager-{t}.log")))
            .collect(),
    );
    let first = manage(&lab, &disc, "first", &[]);
    eventually("both nodes healthy", timeout(30), || {
        status(&first, &a.name) == "Healthy" && status(&first, &b.name) == "Healthy"
    });
    let (dead, other) = run_reschedulable(&first, "rk", &a, &b);
    let dir = "rsd/docker/swarm/reschedule";
    // (the create answers once the intent is stored; etcd is checked here)
    if etcd {
        assert_eq!(store_keys(&ks, dir).len(), 1, "the intent is in etcd");
    }
    drop(first);

    kill_engine(&lab, dead);
    let second = manage(&lab, &disc, "second", &[]);
    eventually(&format!("rk runs on {}", other.name), timeout(60), || {
        second
            .docker(&["inspect", "-f", "{{.Node.Name}} {{.State.Running}}", "rk"])
            .stdout
            .trim()
            == format!("{} true", other.name)
    });
    assert_ne!(status(&second, &dead.name), "Healthy");

    lab.shoal(&["machine", "start", &dead.name])
        .ok("machine start");
    eventually("the node is Healthy again", timeout(60), || {
        status(&second, &dead.name) == "Healthy"
    });
    eventually("the stale copy is removed", timeout(30), || {
        !on_engine(dead).contains(&"rk".to_string())
    });
    let ps = second.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    let copies: Vec<&str> = ps.lines().filter(|l| l.ends_with("/rk")).collect();
    assert_eq!(copies, vec![format!("{}/rk", other.name)], "{ps}");

    // removed by the user: the intent leaves the store too
    second.ok(&["rm", "-f", "rk"]);
    if etcd {
        eventually("the intent is deleted from etcd", timeout(30), || {
            store_keys(&ks, dir).is_empty()
        });
    }
}

/// Two replicated managers (etcd leader lock): only the primary
/// reschedules, so the container is created again exactly once.
#[test]
fn replicated_managers_reschedule_once() {
    let lab = Lab::new();
    let ks = lab.create("rh", &["--keystore", "etcd"]);
    let disc = format!("etcd://{}:2379/rsh", ks.ip);
    let swarm = ["--swarm", "--swarm-discovery", disc.as_str()];
    let a = lab.create("rh-a", &swarm);
    let b = lab.create("rh-b", &swarm);
    let _logs = LogsOnPanic(
        ["m0", "m1"]
            .iter()
            .map(|t| lab.store().join(format!("manager-{t}.log")))
            .collect(),
    );
    let managers: Vec<ManagerProcess> = ["m0", "m1"]
        .iter()
        .map(|tag| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let addr = format!("127.0.0.1:{port}");
            let tcp = format!("tcp://{addr}");
            manage(
                &lab,
                &disc,
                tag,
                &[
                    "-H",
                    &tcp,
                    "--replication",
                    "--advertise",
                    &addr,
                    "--replication-ttl",
                    "4s",
                ],
            )
        })
        .collect();
    let roles = || -> Vec<String> {
        managers
            .iter()
            .map(|m| {
                m.docker(&["info"])
                    .stdout
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Role:").map(|r| r.trim().to_string()))
                    .unwrap_or_default()
            })
            .collect()
    };
    eventually("one primary, one replica", timeout(30), || {
        let mut r = roles();
        r.sort();
        r == ["primary", "replica"]
    });
    let m = &managers[0];
    eventually("both nodes healthy", timeout(30), || {
        status(m, &a.name) == "Healthy" && status(m, &b.name) == "Healthy"
    });
    let (dead, other) = run_reschedulable(m, "rh", &a, &b);
    kill_engine(&lab, dead);
    eventually(&format!("rh runs on {}", other.name), timeout(60), || {
        m.docker(&["inspect", "-f", "{{.Node.Name}} {{.State.Running}}", "rh"])
            .stdout
            .trim()
            == format!("{} true", other.name)
    });
    lab.shoal(&["machine", "start", &dead.name])
        .ok("machine start");
    eventually("the node is Healthy again", timeout(60), || {
        status(m, &dead.name) == "Healthy"
    });
    eventually("the stale copy is removed", timeout(30), || {
        !on_engine(dead).contains(&"rh".to_string())
    });
    // both managers watched the failure for seconds: the primary alone
    // rescheduled, one copy was made
    let r = roles();
    for (i, role) in r.iter().enumerate() {
        let log = std::fs::read_to_string(lab.store().join(format!("manager-m{i}.log")))
            .unwrap_or_default();
        let made = log.matches("rescheduled on node failure").count();
        let want = usize::from(role == "primary");
        assert_eq!(made, want, "m{i} ({role}) rescheduled {made} time(s)");
    }
    assert_eq!(
        on_engine(other).iter().filter(|n| *n == "rh").count(),
        1,
        "exactly one rh on {}",
        other.name
    );
    for m in &managers {
        let ps = m.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
        let copies: Vec<&str> = ps.lines().filter(|l| l.ends_with("/rh")).collect();
        assert_eq!(copies, vec![format!("{}/rh", other.name)], "{ps}");
    }
}
