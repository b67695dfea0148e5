//! `shoal manage` in front of real engines, driven by the real docker CLI.
//!
//! Each test makes its own machines (a `Lab`) and its own manager, listening
//! on a unix socket inside the lab's store, with fast engine refreshes so a
//! dead engine is noticed in seconds.

use crate::harness::{docker, eventually, timeout, Lab, Machine, ManagerProcess, Run};
use std::process::{Command, Stdio};

/// Stops a process (SIGSTOP) and lets it go on (SIGCONT) when dropped,
/// also when the test fails.
struct Frozen(i64);

impl Frozen {
    fn new(pid: i64) -> Frozen {
        assert!(Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

fn two_nodes(lab: &Lab, tag: &str) -> (Machine, Machine) {
    (
        lab.create(&format!("{tag}-1"), &[]),
        lab.create(&format!("{tag}-2"), &[]),
    )
}

/// Walkthrough part 1 with nodes://: info, run -d, ps with node/name,
/// attached run, exec, rm -f; plus version, exit codes and piped stdin.
#[test]
fn manager_basic_flow() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mb");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);

    let v = m.ok(&["version"]).stdout;
    assert!(v.contains("API version:       1.41"), "{v}");
    let info = m.ok(&["info"]).stdout;
    for want in [
        "Strategy: spread",
        "Filters: health, port, containerslots, dependency, affinity, constraint, whitelist",
        "Nodes: 2",
        "└ Status: Healthy",
        "└ Reserved CPUs: 0 / ",
        "└ Reserved Memory: 0 B / ",
        "└ ServerVersion: ",
        &format!(" mb-1: {}:2376", a.ip),
    ] {
        assert!(info.contains(want), "info lacks {want:?}:\n{info}");
    }

    m.ok(&[
        "run",
        "-d",
        "--name",
        "swarm-busybox",
        "busybox",
        "sleep",
        "300",
    ]);
    let ps = m.ok(&["ps"]).stdout;
    assert!(
        ps.contains("mb-1/swarm-busybox") || ps.contains("mb-2/swarm-busybox"),
        "{ps}"
    );
    let out = m.ok(&["run", "--rm", "busybox", "echo", "hello-from-the-cluster"]);
    assert_eq!(out.stdout.trim(), "hello-from-the-cluster");
    let out = m.ok(&[
        "exec",
        "swarm-busybox",
        "sh",
        "-c",
        "echo exec-ok; echo to-stderr >&2",
    ]);
    assert_eq!(out.stdout.trim(), "exec-ok");
    assert_eq!(out.stderr.trim(), "to-stderr");

    // exit codes of run and exec are the container's
    assert_eq!(
        m.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .code,
        3
    );
    assert_eq!(
        m.docker(&["exec", "swarm-busybox", "sh", "-c", "exit 4"])
            .code,
        4
    );

    // -i with piped stdin: stdin EOF is a half-close, output still arrives
    let piped = Command::new("docker")
        .args([
            "-H",
            &m.host,
            "run",
            "--rm",
            "-i",
            "busybox",
            "sh",
            "-c",
            "cat; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"through-stdin\n")?;
            c.wait_with_output()
        })
        .expect("docker run -i");
    assert_eq!(
        String::from_utf8_lossy(&piped.stdout),
        "through-stdin\ndone\n"
    );

    // names are unique in the cluster
    let dup = m.docker(&["run", "-d", "--name", "swarm-busybox", "busybox", "true"]);
    assert_ne!(dup.code, 0);
    assert!(dup.stderr.contains("Conflict"), "{}", dup.stderr);

    // lookups: short ID, node/name, /name
    let id = m
        .ok(&["inspect", "-f", "{{.Id}}", "swarm-busybox"])
        .stdout
        .trim()
        .to_string();
    let node = m
        .ok(&["inspect", "-f", "{{.Node.Name}}", "swarm-busybox"])
        .stdout
        .trim()
        .to_string();
    assert!(node == "mb-1" || node == "mb-2", "{node}");
    let by_short = m.ok(&["inspect", "-f", "{{.Id}}", &id[..12]]).stdout;
    assert_eq!(by_short.trim(), id);
    let by_node_name = m
        .ok(&["inspect", "-f", "{{.Id}}", &format!("{node}/swarm-busybox")])
        .stdout;
    assert_eq!(by_node_name.trim(), id);

    let missing = m.docker(&["inspect", "--type", "container", "no-such-thing"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("No such container: no-such-thing"),
        "{}",
        missing.stderr
    );

    m.ok(&["rm", "-f", "swarm-busybox"]);
    assert!(!m.ok(&["ps", "-a"]).stdout.contains("swarm-busybox"));
}

/// Per-container commands on the container's engine.
#[test]
fn manager_container_commands() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mc");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);

    m.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 600",
    ]);
    eventually("logs show output", timeout(10), || {
        m.ok(&["logs", "web"]).stdout.contains("started")
    });

    m.ok(&["stop", "-t", "1", "web"]);
    let state = m.ok(&["inspect", "-f", "{{.State.Status}}", "web"]).stdout;
    assert_eq!(state.trim(), "exited");
    let ps = m.ok(&["ps", "-a", "--filter", "status=exited"]).stdout;
    assert!(ps.contains("/web") && ps.contains("Exited"), "{ps}");
    assert!(!m.ok(&["ps"]).stdout.contains("/web"));
    m.ok(&["start", "web"]);
    m.ok(&["restart", "-t", "1", "web"]);
    m.ok(&["pause", "web"]);
    assert!(m.ok(&["ps"]).stdout.contains("(Paused)"));
    m.ok(&["unpause", "web"]);
    m.ok(&["kill", "web"]);
    m.ok(&["start", "web"]);
    m.ok(&["rename", "web", "web2"]);
    let ps = m.ok(&["ps", "--filter", "name=web2"]).stdout;
    assert!(ps.contains("/web2"), "{ps}");
    let top = m.ok(&["top", "web2"]).stdout;
    assert!(top.contains("sleep 600"), "{top}");
    let stats = m.ok(&["stats", "--no-stream", "web2"]).stdout;
    assert!(stats.contains("web2"), "{stats}");

    // cp both ways, through a temp dir of the lab
    let src = lab.store().join("cp-in.txt");
    std::fs::write(&src, "copied-in\n").unwrap();
    m.ok(&["cp", src.to_str().unwrap(), "web2:/tmp/cp-in.txt"]);
    let dst = lab.store().join("cp-out.txt");
    m.ok(&["cp", "web2:/tmp/cp-in.txt", dst.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "copied-in\n");
    let diff = m.ok(&["diff", "web2"]).stdout;
    assert!(diff.contains("/tmp/cp-in.txt"), "{diff}");

    // export streams a tar of the filesystem
    let tar = lab.store().join("web2.tar");
    m.ok(&["export", "-o", tar.to_str().unwrap(), "web2"]);
    let list = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout)
        .lines()
        .any(|l| l == "bin/busybox" || l == "./bin/busybox"));

    // logs -f ends when the container does
    m.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    let follow = m.ok(&["logs", "-f", "talker"]).stdout;
    assert_eq!(follow, "line1\nline2\nline3\n");

    m.ok(&["rm", "-f", "web2", "talker"]);
    assert!(!m.ok(&["ps", "-a"]).stdout.contains("web2"));
}

/// `run -it` and `exec -it` with a real TTY (under `script`).
#[test]
fn manager_tty() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mt");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    m.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "600"]);
    let in_tty = |cmd: &str| {
        let out = Command::new("script")
            .args(["-qec", &format!("docker -H {} {cmd}", m.host), "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("script");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = in_tty("run -it --rm busybox sh -c 'tty; echo tty-ok; exit 5'");
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("/dev/pts/") && out.contains("tty-ok\r\n"),
        "{out:?}"
    );
    let (code, out) = in_tty("exec -it box sh -c 'tty && echo exec-tty-ok'");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("/dev/pts/") && out.contains("exec-tty-ok\r\n"),
        "{out:?}"
    );
}

/// images, import (to every engine), tag, rmi.
#[test]
fn manager_images() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mi");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    assert!(m.ok(&["images"]).stdout.contains("busybox"));
    m.ok(&["run", "--name", "src", "busybox", "true"]);
    let tar = lab.store().join("src.tar");
    m.ok(&["export", "-o", tar.to_str().unwrap(), "src"]);
    let import = m
        .ok(&["import", tar.to_str().unwrap(), "imported:1"])
        .stdout;
    assert!(
        import.contains("mi-1: sha256:") && import.contains("mi-2: sha256:"),
        "{import}"
    );
    for node in [&a, &b] {
        let direct = docker(&node.engine(), &["images", "imported"])
            .ok("images on one engine")
            .stdout;
        assert!(direct.contains("imported"), "{direct}");
    }
    m.ok(&["tag", "imported:1", "imported:2"]);
    let images = m.ok(&["images", "imported"]).stdout;
    assert_eq!(images.matches("imported ").count(), 4, "{images}");
    let out = m.ok(&["rmi", "imported:2"]).stdout;
    assert!(out.contains("Untagged: imported:2"), "{out}");
    m.ok(&["rmi", "imported:1"]);
    assert!(!m.ok(&["images"]).stdout.contains("imported"));
    let missing = m.docker(&["rmi", "never-was:1"]);
    assert_ne!(missing.code, 0);
    // a build runs on one node; a run of its image goes there
    let ctx = lab.store().join("build-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo built-here > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n",
    )
    .unwrap();
    let build = Command::new("docker")
        .args([
            "-H",
            &m.host,
            "build",
            "-t",
            "built:1",
            ctx.to_str().unwrap(),
        ])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .expect("docker build");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let out = m.ok(&["run", "--rm", "built:1"]).stdout;
    assert_eq!(out.trim(), "built-here");
    // a pull of an image no registry has fails cleanly (no registry here)
    let pull = m.docker(&["pull", "127.0.0.1:1/nothing:here"]);
    assert_ne!(pull.code, 0);
}

/// network ls/create/inspect/connect/rm and volume ls/create/inspect/rm.
#[test]
fn manager_networks_and_volumes() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mn");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let ls = m.ok(&["network", "ls"]).stdout;
    assert!(
        ls.contains("mn-1/bridge") && ls.contains("mn-2/bridge"),
        "{ls}"
    );

    m.ok(&["network", "create", "mn-2/pinned"]);
    let ls = m.ok(&["network", "ls"]).stdout;
    assert!(
        ls.contains("mn-2/pinned") && !ls.contains("mn-1/pinned"),
        "{ls}"
    );
    let driver = m
        .ok(&["network", "inspect", "-f", "{{.Driver}}", "pinned"])
        .stdout;
    assert_eq!(driver.trim(), "bridge");
    m.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "-e",
        "constraint:node==mn-2",
        "busybox",
        "sleep",
        "600",
    ]);
    // a container on a network that only one node has goes to that node
    for i in 0..2 {
        let name = format!("on-pinned-{i}");
        m.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "pinned",
            "busybox",
            "sleep",
            "600",
        ]);
        assert_eq!(
            m.ok(&["inspect", "-f", "{{.Node.Name}}", &name])
                .stdout
                .trim(),
            "mn-2"
        );
        m.ok(&["rm", "-f", &name]);
    }
    m.ok(&["network", "connect", "pinned", "c2"]);
    let nets = m
        .ok(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "c2",
        ])
        .stdout;
    assert!(nets.contains("pinned"), "{nets}");
    m.ok(&["network", "disconnect", "pinned", "c2"]);
    m.ok(&["rm", "-f", "c2"]);
    m.ok(&["network", "rm", "mn-2/pinned"]);
    assert!(!m.ok(&["network", "ls"]).stdout.contains("pinned"));

    m.ok(&["volume", "create", "data"]);
    let ls = m.ok(&["volume", "ls"]).stdout;
    assert!(ls.contains("mn-1/data") && ls.contains("mn-2/data"), "{ls}");
    let name = m
        .ok(&["volume", "inspect", "-f", "{{.Name}}", "data"])
        .stdout;
    assert_eq!(name.trim(), "data");
    m.ok(&["volume", "rm", "data"]);
    assert!(!m.ok(&["volume", "ls"]).stdout.contains("data"));
}

/// events --since/--until replay what happened, with the node.
#[test]
fn manager_events() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "me");
    // something happens on an engine before the manager exists
    docker(&a.engine(), &["run", "--name", "before", "busybox", "true"]).ok("run straight on me-1");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    // `--until 0s` is whole seconds: poll until the die is a second old
    let mut old = String::new();
    eventually(
        "events of 'before' from the engine's records",
        timeout(10),
        || {
            old = m
                .ok(&[
                    "events",
                    "--since",
                    "5m",
                    "--until",
                    "0s",
                    "--filter",
                    "container=before",
                ])
                .stdout;
            old.contains("container die")
        },
    );
    let die = old.lines().find(|l| l.contains("container die")).unwrap();
    assert!(die.contains("node.name=me-1"), "{die}");
    assert_eq!(
        old.lines().filter(|l| l.contains("container die")).count(),
        1,
        "each event once:\n{old}"
    );
    m.ok(&["run", "--rm", "--name", "evt", "busybox", "true"]);
    let mut events = String::new();
    eventually("events replayed", timeout(10), || {
        events = m.ok(&["events", "--since", "2m", "--until", "0s"]).stdout;
        events.contains("container destroy")
    });
    assert!(events.contains("engine engine_connect"), "{events}");
    let start = events
        .lines()
        .find(|l| l.contains("container start") && l.contains("name=evt"))
        .expect("a start event of evt");
    assert!(
        start.contains("name=evt") && start.contains("node.name=me-"),
        "{start}"
    );
    let only = m
        .ok(&[
            "events",
            "--since",
            "2m",
            "--until",
            "0s",
            "--filter",
            "event=die",
        ])
        .stdout;
    assert!(
        only.lines().count() >= 1 && only.lines().all(|l| l.contains(" die ")),
        "{only}"
    );
}

/// A dead engine: its node turns unhealthy, its containers show `Host
/// Down`, everything about the other node keeps working; then it comes back.
#[test]
fn manager_dead_engine() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "md");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    m.ok(&[
        "run",
        "-d",
        "--name",
        "on-a",
        "-e",
        "constraint:node==md-1",
        "busybox",
        "sleep",
        "600",
    ]);
    m.ok(&[
        "run",
        "-d",
        "--name",
        "on-b",
        "-e",
        "constraint:node==md-2",
        "busybox",
        "sleep",
        "600",
    ]);

    // A frozen engine (SIGSTOP: it accepts connections, answers nothing)
    // holds up nothing about the other node, and ps still lists its
    // containers from the cache.
    let pid = lab.inspect("md-2")["Driver"]["EnginePid"]
        .as_i64()
        .expect("engine pid");
    {
        let _frozen = Frozen::new(pid);
        let ps = m.ok(&["ps"]).stdout;
        assert!(ps.contains("md-1/on-a") && ps.contains("md-2/on-b"), "{ps}");
        m.ok(&["exec", "on-a", "true"]);
        m.ok(&["inspect", "on-a"]);
        m.ok(&["info"]);
        m.ok(&["stop", "-t", "1", "on-a"]);
        m.ok(&["start", "on-a"]);
    }
    eventually("md-2 answers again", timeout(30), || {
        docker(&b.engine(), &["ps"]).code == 0
    });

    // SIGKILL the engine of md-2 (its pid, from our own machine's record)
    let pid = lab.inspect("md-2")["Driver"]["EnginePid"]
        .as_i64()
        .expect("engine pid");
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    // SIGKILL is delivered at once but the engine's sockets close only when
    // the process is torn down: until then its port still accepts, and a
    // create sent there fails mid-request instead of being refused
    eventually(
        "md-2's engine port refuses connections",
        timeout(30),
        || std::net::TcpStream::connect((b.ip.as_str(), 2376)).is_err(),
    );
    // before the manager has noticed, creates placed on the dead engine
    // go elsewhere (it cannot be reached, so nothing was created there)
    for i in 0..3 {
        let out = m
            .ok(&["run", "--rm", "busybox", "echo", &format!("placed-{i}")])
            .stdout;
        assert_eq!(out.trim(), format!("placed-{i}"));
    }

    eventually("md-2 unhealthy", timeout(30), || {
        let info = m.ok(&["info"]).stdout;
        info.split(" md-2: ")
            .nth(1)
            .is_some_and(|s| s.contains("└ Status: Unhealthy"))
    });
    let ps = m.ok(&["ps"]).stdout;
    let line = ps
        .lines()
        .find(|l| l.contains("md-2/on-b"))
        .expect("on-b listed");
    assert!(line.contains("Host Down"), "{ps}");
    // the other node keeps working
    m.ok(&["exec", "on-a", "true"]);
    let out = m
        .ok(&["run", "--rm", "busybox", "echo", "still-here"])
        .stdout;
    assert_eq!(out.trim(), "still-here");
    m.ok(&["stop", "-t", "1", "on-a"]);
    m.ok(&["start", "on-a"]);
    eventually("engine_disconnect in the events", timeout(10), || {
        m.ok(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "type=engine",
        ])
        .stdout
        .contains("engine_disconnect")
    });

    // back again
    lab.shoal(&["machine", "start", "md-2"])
        .ok("machine start md-2");
    eventually("md-2 healthy again", timeout(60), || {
        let info = m.ok(&["info"]).stdout;
        info.split(" md-2: ")
            .nth(1)
            .is_some_and(|s| s.contains("└ Status: Healthy"))
    });
    eventually("engine_reconnect event", timeout(10), || {
        let events = m
            .ok(&[
                "events",
                "--since",
                "5m",
                "--until",
                "0s",
                "--filter",
                "type=engine",
            ])
            .stdout;
        events.contains("engine_reconnect")
    });

    // a clean stop (SIGTERM) is noticed the same way
    lab.shoal(&["machine", "stop", "md-2"])
        .ok("machine stop md-2");
    eventually("md-2 unhealthy after a clean stop", timeout(30), || {
        let info = m.ok(&["info"]).stdout;
        info.split(" md-2: ")
            .nth(1)
            .is_some_and(|s| s.contains("└ Status: Unhealthy"))
    });
    let ps = m.ok(&["ps", "-a"]).stdout;
    assert!(
        ps.lines()
            .any(|l| l.contains("md-2/on-b") && l.contains("Host Down")),
        "{ps}"
    );
    m.ok(&["exec", "on-a", "true"]);
}

/// Concurrent creates never overbook: with memory asked for, a node takes
/// only as many containers as its memory holds, whatever the concurrency.
#[test]
fn manager_concurrent_creates_respect_reservations() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mr");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let mem_total: i64 = m
        .ok(&["info", "-f", "{{.MemTotal}}"])
        .stdout
        .trim()
        .parse()
        .expect("MemTotal");
    // Each node holds two of these (totals +5% overcommit), never three.
    let per_node = mem_total / 2;
    let each = per_node * 45 / 100;
    let each = format!("{}b", each);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let host = m.host.clone();
            let each = each.clone();
            std::thread::spawn(move || {
                docker(
                    &host,
                    &[
                        "create",
                        "--name",
                        &format!("r{i}"),
                        "-m",
                        &each,
                        "busybox",
                        "true",
                    ],
                )
            })
        })
        .collect();
    let results: Vec<Run> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.code == 0).count();
    assert_eq!(
        ok,
        4,
        "{:?}",
        results.iter().map(|r| r.stderr.clone()).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.code != 0) {
        assert!(r.stderr.contains("no resources available"), "{}", r.stderr);
    }
    let ps = m.ok(&["ps", "-a"]).stdout;
    assert_eq!(ps.matches("mr-1/r").count(), 2, "{ps}");
    assert_eq!(ps.matches("mr-2/r").count(), 2, "{ps}");
}

/// docker-compose 1.29 (Debian's) through the manager: up -d, ps, logs,
/// scale, down on a two-service file.
#[test]
fn manager_docker_compose() {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED manager_docker_compose: docker-compose is not installed (apt-get install docker-compose)");
        return;
    }
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mo");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let file = lab.store().join("docker-compose.yml");
    std::fs::write(
        &file,
        "version: \"2\"\nservices:\n  web:\n    image: busybox\n    command: sh -c \"echo web-up; sleep 600\"\n  \
         worker:\n    image: busybox\n    command: sh -c \"echo worker-up; sleep 600\"\n",
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = Command::new("docker-compose")
            .args(["-p", "proj", "-f", file.to_str().unwrap()])
            .args(args)
            .env("DOCKER_HOST", &m.host)
            .stdin(Stdio::null())
            .output()
            .expect("docker-compose");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed:\n{text}\nmanager log:\n{}",
            m.log_text()
        );
        text
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps"]);
    assert_eq!(ps.lines().filter(|l| l.contains(" Up")).count(), 2, "{ps}");
    eventually("compose logs show both services", timeout(10), || {
        let logs = compose(&["logs"]);
        logs.contains("web-up") && logs.contains("worker-up")
    });
    compose(&["up", "-d", "--scale", "worker=3"]);
    let ps = compose(&["ps"]);
    assert_eq!(
        ps.lines()
            .filter(|l| l.contains("proj_worker_") && l.contains(" Up"))
            .count(),
        3,
        "{ps}"
    );
    let nodes = m
        .ok(&["ps", "--filter", "label=com.docker.compose.project=proj"])
        .stdout;
    assert!(
        nodes.contains("mo-1/proj_") && nodes.contains("mo-2/proj_"),
        "spread over both nodes:\n{nodes}"
    );
    compose(&["down"]);
    let left = m
        .ok(&[
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project=proj",
            "-q",
        ])
        .stdout;
    assert!(left.trim().is_empty(), "{left}");
    assert!(!m.ok(&["network", "ls"]).stdout.contains("proj_default"));
}

/// Latency of `docker ps`, `docker info` and `docker run --rm busybox true`
/// through the manager versus straight to one engine, in one run, as
/// medians and ratios. Run it with:
/// `cargo test -p shoal --release --test integration manager_benchmark -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: run on demand, prints numbers"]
fn manager_benchmark() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "bn");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    let rounds: usize = std::env::var("SHOAL_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let median = |host: &str, args: &[&str]| {
        docker(host, args).ok("warm-up");
        let mut times: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = std::time::Instant::now();
                docker(host, args).ok("benchmark command");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(|x, y| x.total_cmp(y));
        times[times.len() / 2]
    };
    let direct = a.engine();
    println!("manager benchmark: {rounds} rounds each, median wall time of the docker CLI");
    println!(
        "{:<34} {:>10} {:>10} {:>7}",
        "command", "engine ms", "manager ms", "ratio"
    );
    for args in [
        &["ps"][..],
        &["info"][..],
        &["run", "--rm", "busybox", "true"][..],
    ] {
        let d = median(&direct, args);
        let through = median(&m.host, args);
        println!(
            "{:<34} {:>10.1} {:>10.1} {:>7.2}",
            format!("docker {}", args.join(" ")),
            d,
            through,
            through / d
        );
    }
}

/// Placement: ports never bound twice on a node, constraints and
/// affinities honoured, a condition no node meets refused.
#[test]
fn manager_placement_rules() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mp");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    m.ok(&[
        "run", "-d", "--name", "p1", "-p", "18080:80", "busybox", "sleep", "600",
    ]);
    m.ok(&[
        "run", "-d", "--name", "p2", "-p", "18080:80", "busybox", "sleep", "600",
    ]);
    let n1 = m.ok(&["inspect", "-f", "{{.Node.Name}}", "p1"]).stdout;
    let n2 = m.ok(&["inspect", "-f", "{{.Node.Name}}", "p2"]).stdout;
    assert_ne!(n1, n2, "one host port, two nodes");
    let third = m.docker(&[
        "run", "-d", "--name", "p3", "-p", "18080:80", "busybox", "sleep", "600",
    ]);
    assert_ne!(third.code, 0);
    assert!(
        third
            .stderr
            .contains("Unable to find a node that satisfies the following conditions"),
        "{}",
        third.stderr
    );

    m.ok(&[
        "run",
        "-d",
        "--name",
        "pinned",
        "-e",
        "constraint:node==mp-2",
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(
        m.ok(&["inspect", "-f", "{{.Node.Name}}", "pinned"])
            .stdout
            .trim(),
        "mp-2"
    );
    let env = m
        .ok(&["inspect", "-f", "{{json .Config.Env}}", "pinned"])
        .stdout;
    assert!(
        !env.contains("constraint:"),
        "hints are taken out of the env: {env}"
    );
    let swarm_id = m
        .ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.docker.swarm.id\"}}",
            "pinned",
        ])
        .stdout;
    assert_eq!(swarm_id.trim().len(), 64, "{swarm_id}");
    for i in 0..3 {
        let name = format!("near-{i}");
        m.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            "affinity:container==pinned",
            "busybox",
            "sleep",
            "600",
        ]);
        assert_eq!(
            m.ok(&["inspect", "-f", "{{.Node.Name}}", &name])
                .stdout
                .trim(),
            "mp-2"
        );
    }
    // the swarm ID finds the container too
    let by_swarm_id = m
        .ok(&["inspect", "-f", "{{.Name}}", swarm_id.trim()])
        .stdout;
    assert_eq!(by_swarm_id.trim(), "/pinned");
    let none = m.docker(&[
        "run",
        "-d",
        "-e",
        "constraint:node==nowhere",
        "busybox",
        "true",
    ]);
    assert_ne!(none.code, 0);
    assert!(
        none.stderr.contains("Unable to find a node"),
        "{}",
        none.stderr
    );
}

/// file:// discovery: nodes come and go with the file.
#[test]
fn manager_follows_file_discovery() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mf");
    let file = lab.store().join("cluster");
    std::fs::write(&file, format!("# the cluster\n{}:2376\n", a.ip)).unwrap();
    let url = format!("file://{}", file.display());
    let m = ManagerProcess::spawn(&lab, "manager", &url, &[]);
    m.wait_healthy(1);
    std::fs::write(&file, format!("{}:2376\n{}:2376 # added\n", a.ip, b.ip)).unwrap();
    eventually("second node joins", timeout(30), || {
        let info = m.ok(&["info"]).stdout;
        info.contains("Nodes: 2") && info.matches("└ Status: Healthy").count() == 2
    });
    std::fs::write(&file, format!("{}:2376\n", b.ip)).unwrap();
    eventually("first node leaves", timeout(30), || {
        let info = m.ok(&["info"]).stdout;
        info.contains("Nodes: 1") && info.contains(" mf-2: ") && !info.contains(" mf-1: ")
    });
    // `--until 0s` is whole seconds (as with dockerd): poll past this one
    eventually(
        "engine_disconnect of mf-1 in the events",
        timeout(10),
        || {
            m.ok(&[
                "events",
                "--since",
                "5m",
                "--until",
                "0s",
                "--filter",
                "type=engine",
            ])
            .stdout
            .lines()
            .any(|l| l.contains("engine_disconnect") && l.contains("node.name=mf-1"))
        },
    );
}

/// `docker ps` is answered from the manager's caches: the same columns as
/// the engine's own list, and a container stopped or started straight on
/// its engine (not through the manager) shows so once the engine's events
/// reach the manager.
#[test]
fn manager_ps_from_cache_follows_the_engine() {
    let lab = Lab::new();
    let (a, b) = two_nodes(&lab, "mp");
    let m = ManagerProcess::over(&lab, &[&a, &b], &[]);
    m.ok(&[
        "run",
        "-d",
        "--name",
        "direct",
        "-l",
        "tier=web",
        "-p",
        "8080:80",
        "-e",
        "constraint:node==mp-1",
        "busybox",
        "sleep",
        "600",
    ]);
    // `{{.CreatedAt}}`, not `{{.RunningFor}}`: the same `Created` field, but
    // absolute, so two lists a moment apart cannot straddle "Less than a
    // second ago" / "1 second ago"
    let cols = "{{.ID}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Ports}}|{{.Networks}}|{{.Label \"tier\"}}|{{.CreatedAt}}";
    let ours = m.ok(&["ps", "--no-trunc", "--format", cols]).stdout;
    let engine = docker(&a.engine(), &["ps", "--no-trunc", "--format", cols]);
    assert_eq!(engine.code, 0, "{}", engine.stderr);
    assert_eq!(ours, engine.stdout);
    assert!(
        ours.contains("|running|") && ours.contains("8080->80/tcp"),
        "{ours}"
    );
    let names = m.ok(&["ps", "--format", "{{.Names}}"]).stdout;
    assert_eq!(names.trim(), "mp-1/direct");
    assert!(m
        .ok(&["ps", "-q", "--filter", "label=tier=web"])
        .stdout
        .contains(&ours[..12]));
    assert!(m
        .ok(&["ps", "-q", "--filter", "label=tier=db"])
        .stdout
        .is_empty());

    // stopped on the engine itself: the manager hears it from the events
    let r = docker(&a.engine(), &["stop", "-t", "1", "direct"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    eventually("ps shows it exited", timeout(15), || {
        let ps = m.ok(&["ps", "-a", "--filter", "status=exited"]).stdout;
        ps.contains("mp-1/direct") && ps.contains("Exited (")
    });
    assert!(!m.ok(&["ps"]).stdout.contains("direct"));
    let r = docker(&a.engine(), &["start", "direct"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    eventually("ps shows it up again", timeout(15), || {
        let ps = m.ok(&["ps"]).stdout;
        ps.contains("mp-1/direct") && ps.contains(" Up ")
    });
    // removed on the engine: gone from the list
    let r = docker(&a.engine(), &["rm", "-f", "direct"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    eventually("ps forgets it", timeout(15), || {
        !m.ok(&["ps", "-a"]).stdout.contains("direct")
    });
}
