//! Manager high availability: three `shoal manage --replication` over two
//! real machines, the leader lock in the etcd of a keystore machine. The
//! primary is killed (SIGKILL) while a client loop runs `docker ps` and
//! `docker run -d` through a replica: a replica becomes primary within
//! twice the replication ttl, no container is lost or created twice, and
//! the loop fails only between the kill and the new primary. Then the
//! store goes away: every manager demotes itself, until it is back.

use std::time::{Duration, Instant};

use crate::discovery::Proc;
use crate::harness::{docker, eventually, timeout, Lab, ManagerProcess, Run};

/// The leader lock's ttl: short, so the test takes seconds.
const TTL: Duration = Duration::from_secs(4);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A replicated manager on a loopback port.
struct Manager {
    proc: ManagerProcess,
    addr: String,
}

impl Manager {
    fn start(lab: &Lab, i: usize, url: &str) -> Manager {
        let addr = format!("127.0.0.1:{}", free_port());
        let ttl = format!("{}s", TTL.as_secs());
        let proc = ManagerProcess::spawn_on(
            lab,
            &format!("manager-{i}"),
            &format!("tcp://{addr}"),
            url,
            &[
                "--replication",
                "--advertise",
                &addr,
                "--replication-ttl",
                &ttl,
            ],
        );
        Manager { proc, addr }
    }

    fn host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    fn docker(&self, args: &[&str]) -> Run {
        docker(&self.host(), args)
    }

    /// (Role, Primary) from `docker info`.
    fn role(&self) -> Option<(String, Option<String>)> {
        let r = self.docker(&["info"]);
        if r.code != 0 {
            return None;
        }
        let line = |k: &str| {
            r.stdout
                .lines()
                .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_string()))
        };
        Some((line("Role:")?, line("Primary:")))
    }
}

/// `eventually`, with the managers' logs in the panic message.
fn with_logs(managers: &[Manager], what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > within {
            let logs: Vec<String> = managers.iter().map(|m| m.proc.log_text()).collect();
            panic!(
                "not true within {within:?}: {what}\nmanager logs:\n{}",
                logs.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One client operation and how it went.
struct Op {
    started: Instant,
    at: Instant,
    what: String,
    ok: bool,
    err: String,
}

#[test]
fn ha_failover_under_a_client_loop() {
    let lab = Lab::new();
    let ks = lab.create("ha-ks", &["--keystore", "etcd"]);
    let n1 = lab.create("ha-1", &[]);
    let n2 = lab.create("ha-2", &[]);
    let url = format!("etcd://{}:2379/shoal-ha", ks.ip);
    let _agents: Vec<Proc> = [&n1, &n2]
        .iter()
        .map(|m| {
            let adv = format!("{}:2376", m.ip);
            Proc::spawn(
                &[
                    "join",
                    "--advertise",
                    &adv,
                    "--heartbeat",
                    "1s",
                    "--ttl",
                    "3s",
                    &url,
                ],
                &lab.store().join(format!("agent-{}.log", m.name)),
            )
        })
        .collect();
    let mut managers: Vec<Manager> = (0..3).map(|i| Manager::start(&lab, i, &url)).collect();

    // One primary, two replicas naming it; every manager sees both nodes.
    let mut primary = usize::MAX;
    with_logs(
        &managers,
        "one primary and two replicas of it",
        timeout(30),
        || {
            let roles: Vec<_> = managers.iter().map(Manager::role).collect();
            let Some(p) = roles
                .iter()
                .position(|r| r.as_ref().is_some_and(|(role, _)| role == "primary"))
            else {
                return false;
            };
            primary = p;
            roles.iter().enumerate().all(|(i, r)| {
                i == p
                    || r.as_ref().is_some_and(|(role, prim)| {
                        role == "replica" && prim.as_deref() == Some(managers[p].addr.as_str())
                    })
            })
        },
    );
    eventually("every manager sees both nodes healthy", timeout(30), || {
        managers.iter().all(|m| m.proc.healthy_nodes() == 2)
    });
    let client = (primary + 1) % 3;
    let other = (primary + 2) % 3;
    let via_host = managers[client].host();
    let via = |args: &[&str]| docker(&via_host, args);
    println!(
        "primary {} (manager {primary}), client talks to replica {}",
        managers[primary].addr, managers[client].addr
    );

    // Through a replica: hijacked attach (docker run without -d), exec, and
    // a followed log.
    let out = via(&["run", "--rm", "busybox", "echo", "through-the-replica"]);
    assert_eq!(
        out.code,
        0,
        "{}\n{}",
        out.stderr,
        managers[client].proc.log_text()
    );
    assert!(out.stdout.contains("through-the-replica"), "{}", out.stdout);
    via(&["run", "-d", "--name", "ha-exec", "busybox", "sleep", "600"])
        .ok("run -d through the replica");
    let ex = via(&["exec", "ha-exec", "echo", "exec-ok"]).ok("exec");
    assert!(ex.stdout.contains("exec-ok"), "{}", ex.stdout);
    // a long stream through the replica: logs followed to the container's end
    via(&[
        "run",
        "-d",
        "--name",
        "ha-log",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ])
    .ok("run -d through the replica");
    let logs = via(&["logs", "-f", "ha-log"]).ok("logs -f through the replica");
    assert_eq!(logs.stdout, "one\ntwo\n");

    // The client loop, on a thread: ps and run -d, one after the other.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let host = via_host.clone();
    let loop_stop = stop.clone();
    let client_loop = std::thread::spawn(move || {
        let mut ops = Vec::new();
        let mut n = 0;
        while !loop_stop.load(std::sync::atomic::Ordering::SeqCst) {
            let started = Instant::now();
            let r = docker(&host, &["ps"]);
            ops.push(Op {
                started,
                at: Instant::now(),
                what: "ps".into(),
                ok: r.code == 0,
                err: r.stderr,
            });
            n += 1;
            let name = format!("ha-c{n}");
            let started = Instant::now();
            let r = docker(
                &host,
                &["run", "-d", "--name", &name, "busybox", "sleep", "600"],
            );
            ops.push(Op {
                started,
                at: Instant::now(),
                what: name,
                ok: r.code == 0,
                err: r.stderr,
            });
        }
        ops
    });
    eventually("the loop has run a few containers", timeout(30), || {
        via(&["ps", "-q"]).stdout.lines().count() >= 4
    });

    // SIGKILL the primary; a replica must be primary within 2x the ttl.
    let killed_addr = managers[primary].addr.clone();
    let killed_at = Instant::now();
    managers[primary].proc.kill();
    let survivors = [client, other];
    let mut new_primary = usize::MAX;
    eventually(
        "a replica becomes primary",
        timeout(2 * TTL.as_secs()),
        || {
            for &i in &survivors {
                if managers[i].role().is_some_and(|(r, _)| r == "primary") {
                    new_primary = i;
                    return true;
                }
            }
            false
        },
    );
    let failover = killed_at.elapsed();
    let survivor = if new_primary == client { other } else { client };
    eventually(
        "the other survivor follows the new primary",
        timeout(2 * TTL.as_secs()),
        || {
            managers[survivor].role()
                == Some(("replica".into(), Some(managers[new_primary].addr.clone())))
        },
    );
    let settled = Instant::now();
    // the loop goes on past the failover: what it starts now must succeed
    let running = via(&["ps", "-q"]).stdout.lines().count();
    eventually("a few more loop rounds", timeout(30), || {
        via(&["ps", "-q"]).stdout.lines().count() >= running + 4
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let ops = client_loop.join().expect("client loop");

    let failures: Vec<&Op> = ops.iter().filter(|o| !o.ok).collect();
    println!(
        "failover: {:?} from SIGKILL of {killed_addr} to {} primary (ttl {:?}); client ops: {}, failures: {}",
        failover,
        managers[new_primary].addr,
        TTL,
        ops.len(),
        failures.len()
    );
    for f in &failures {
        println!(
            "  failed at +{:?}: {}: {}",
            f.at.saturating_duration_since(killed_at),
            f.what,
            f.err.trim()
        );
    }
    for f in &failures {
        assert!(
            f.at > killed_at,
            "a failure before the kill: {}: {}",
            f.what,
            f.err
        );
        assert!(
            f.started < settled,
            "a failure after the failover settled: {}: {}",
            f.what,
            f.err
        );
    }
    assert!(
        ops.iter().any(|o| o.started > settled && o.ok),
        "the loop ran after the failover"
    );

    // No container lost or created twice.
    let names = managers[new_primary]
        .docker(&["ps", "-a", "--format", "{{.Names}}"])
        .ok("ps -a on the new primary")
        .stdout;
    let names: Vec<&str> = names
        .lines()
        .map(|l| l.rsplit('/').next().unwrap_or(l))
        .collect();
    for op in ops.iter().filter(|o| o.what.starts_with("ha-c")) {
        let copies = names.iter().filter(|n| **n == op.what).count();
        if op.ok {
            assert_eq!(copies, 1, "{} was created: exactly one copy", op.what);
        } else {
            assert!(copies <= 1, "{} failed: at most one copy", op.what);
        }
    }
    assert_eq!(names.iter().filter(|n| **n == "ha-exec").count(), 1);

    // The store unreachable: the primary cannot renew its lock and demotes
    // itself; nobody is primary until the store is back.
    let outage = Instant::now();
    lab.shoal(&["machine", "stop", "ha-ks"])
        .ok("stop the keystore machine");
    println!("keystore stopped in {:?}", outage.elapsed());
    eventually("every manager demoted", timeout(2 * TTL.as_secs()), || {
        survivors.iter().all(|&i| {
            managers[i]
                .role()
                .is_some_and(|(r, p)| r == "replica" && p.is_some_and(|p| p.starts_with("none")))
        })
    });
    println!(
        "everyone demoted {:?} after the outage began",
        outage.elapsed()
    );
    lab.shoal(&["machine", "start", "ha-ks"])
        .ok("start the keystore machine");
    println!(
        "keystore started again {:?} after the outage began",
        outage.elapsed()
    );
    eventually(
        "a primary again once the store is back",
        timeout(30),
        || {
            survivors
                .iter()
                .any(|&i| managers[i].role().is_some_and(|(r, _)| r == "primary"))
        },
    );
}
