//! `shoal machine` against the real kernel and real dockerd engines.

use std::path::Path;

use crate::harness::{docker, eventually, timeout, Lab, SHOAL};

/// What a machine leaves on the box, read from its inspect before removal.
struct Footprint {
    /// Every process the machine recorded (pid, command line then).
    processes: Vec<(String, String)>,
    netns: String,
    veth: String,
    id: String,
    store_dir: String,
}

impl Footprint {
    fn of(lab: &Lab, name: &str) -> Footprint {
        let i = lab.inspect(name);
        let cgroup = i["EngineOptions"]["CgroupParent"]
            .as_str()
            .unwrap()
            .to_string();
        let store_dir = i["Driver"]["StorePath"].as_str().unwrap().to_string();
        let mut processes = vec![];
        for entry in std::fs::read_dir(&store_dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "pid") {
                let pid = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let pid = pid.trim().to_string();
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                processes.push((pid, String::from_utf8_lossy(&cmd).into_owned()));
            }
        }
        Footprint {
            processes,
            netns: i["Driver"]["Netns"].as_str().unwrap().to_string(),
            veth: i["Driver"]["Veth"].as_str().unwrap().to_string(),
            id: cgroup.trim_start_matches("shoal-").to_string(),
            store_dir: i["Driver"]["StorePath"].as_str().unwrap().to_string(),
        }
    }

    fn assert_gone(&self) {
        // the engine, keystore, agent, manager and network agent it ran
        for (pid, then) in &self.processes {
            let now = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let now = String::from_utf8_lossy(&now);
            assert!(
                then.is_empty() || *now != **then,
                "process {pid} left: {now}"
            );
        }
        assert!(
            !Path::new("/run/netns").join(&self.netns).exists(),
            "namespace {} left",
            self.netns
        );
        assert!(
            !Path::new("/sys/class/net").join(&self.veth).exists(),
            "veth {} left",
            self.veth
        );
        assert!(
            !Path::new("/run/shoal/ns").join(&self.id).exists(),
            "ns files of {} left",
            self.id
        );
        assert!(
            !Path::new("/run/shoal/exec").join(&self.id).exists(),
            "exec root of {} left",
            self.id
        );
        assert!(
            !Path::new(&self.store_dir).exists(),
            "store folder {} left",
            self.store_dir
        );
        for h in ["pids", "memory", "cpu", "devices"] {
            let cg = Path::new("/sys/fs/cgroup")
                .join(h)
                .join(format!("shoal-{}", self.id));
            assert!(!cg.exists(), "cgroup {} left", cg.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&self.store_dir),
            "a mount under {} left",
            self.store_dir
        );
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                let ours = cmd.contains(&self.store_dir);
                assert!(
                    !ours,
                    "process {} left: {cmd}",
                    p.file_name().to_string_lossy()
                );
            }
        }
    }
}

/// The bridge goes with the last machine of the whole box (other tests'
/// labs share it while they run). Read under the lab's lock, as `rm` and
/// `create` change both together under it.
fn assert_bridge_gone_if_unused() {
    let out = Command::new("flock")
        .args(["/run/shoal/lock", "-c"])
        .arg("ls /run/shoal/ips | wc -l; test -e /sys/class/net/shoal0 && echo bridge || true")
        .output()
        .expect("flock (util-linux)");
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let allocated: usize = out
        .lines()
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap_or(0);
    if allocated == 0 {
        assert!(
            !out.contains("bridge"),
            "bridge shoal0 left behind the last machine"
        );
    }
}

fn ls_state(lab: &Lab, name: &str) -> String {
    let ls = lab.shoal(&["machine", "ls"]).ok("machine ls").stdout;
    let line = ls
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_default()
        .to_string();
    line.split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn two_machines_run_containers_and_reach_each_other() {
    let lab = Lab::new();
    let a = lab.create("a", &[]);
    let b = lab.create("b", &["--engine-label", "zone=b"]);
    assert_ne!(a.ip, b.ip);

    let ls = lab.shoal(&["machine", "ls"]).ok("ls").stdout;
    let header: Vec<&str> = ls.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        &header[..6],
        ["NAME", "ACTIVE", "DRIVER", "STATE", "URL", "SWARM"]
    );
    assert_eq!(ls_state(&lab, "a"), "Running");
    assert_eq!(ls_state(&lab, "b"), "Running");
    assert!(ls.contains(&format!("tcp://{}:2376", a.ip)), "{ls}");

    // each host has its own hostname, engine ID and busybox image
    let out = docker(
        &a.engine(),
        &["run", "--rm", "busybox", "echo", "hello-from-a"],
    )
    .ok("run on a");
    assert_eq!(out.stdout.trim(), "hello-from-a");
    let host_a = lab
        .shoal(&["machine", "ssh", "a", "hostname"])
        .ok("ssh a")
        .stdout;
    assert_eq!(host_a.trim(), "a");
    let id_a = docker(&a.engine(), &["info", "--format", "{{.ID}}"])
        .ok("info a")
        .stdout;
    let id_b = docker(&b.engine(), &["info", "--format", "{{.ID}}"])
        .ok("info b")
        .stdout;
    assert_ne!(id_a, id_b, "engines must not share /etc/docker/key.json");
    let labels = docker(&b.engine(), &["info", "--format", "{{.Labels}}"])
        .ok("info b")
        .stdout;
    assert!(labels.contains("zone=b"), "engine label missing: {labels}");

    // host to host over the lab subnet, and container on a to host b
    lab.shoal(&[
        "machine", "ssh", "a", "--", "busybox", "ping", "-c1", "-W2", &b.ip,
    ])
    .ok("host a pings host b");
    docker(
        &a.engine(),
        &["run", "--rm", "busybox", "ping", "-c1", "-W2", &b.ip],
    )
    .ok("container on a pings host b");
    // a container on b serves; a container on a fetches it through b's published port
    docker(
        &b.engine(),
        &[
            "run", "-d", "--name", "web", "-p", "8080:80", "busybox", "httpd", "-f", "-p", "80",
        ],
    )
    .ok("httpd on b");
    let url = format!("http://{}:8080/", b.ip);
    eventually(
        "a container on a reaches b's published port",
        timeout(20),
        || {
            let r = docker(
                &a.engine(),
                &["run", "--rm", "busybox", "wget", "-q", "-O", "-", &url],
            );
            r.stderr.contains("404") || r.code == 0
        },
    );

    // nothing routes out of the lab
    let routes = lab
        .shoal(&["machine", "ssh", "a", "--", "ip", "route"])
        .ok("ip route")
        .stdout;
    assert!(
        !routes.contains("default"),
        "a machine must have no default route: {routes}"
    );

    let fa = Footprint::of(&lab, "a");
    let fb = Footprint::of(&lab, "b");
    lab.shoal(&["machine", "rm", "-f", "a", "b"])
        .ok("rm -f a b");
    fa.assert_gone();
    fb.assert_gone();
    assert_bridge_gone_if_unused();
    assert!(lab
        .shoal(&["machine", "ls", "-q"])
        .ok("ls")
        .stdout
        .trim()
        .is_empty());
}

#[test]
fn a_killed_engine_shows_stopped_and_start_brings_it_back() {
    let lab = Lab::new();
    let m = lab.create("k", &[]);
    docker(
        &m.engine(),
        &["run", "-d", "--name", "survivor", "busybox", "sleep", "600"],
    )
    .ok("run");
    let pid = lab.inspect("k")["Driver"]["EnginePid"]
        .as_i64()
        .expect("engine pid");
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    eventually("ls shows the killed machine Stopped", timeout(10), || {
        ls_state(&lab, "k") == "Stopped"
    });
    assert!(
        lab.shoal(&["machine", "env", "k"]).code != 0,
        "env of a stopped machine must fail"
    );

    lab.shoal(&["machine", "start", "k"]).ok("start");
    assert_eq!(ls_state(&lab, "k"), "Running");
    let ps = docker(&m.engine(), &["ps", "-a", "--format", "{{.Names}}"])
        .ok("ps")
        .stdout;
    assert!(
        ps.contains("survivor"),
        "the engine's state survives a kill: {ps}"
    );
    docker(&m.engine(), &["run", "--rm", "busybox", "true"]).ok("run after restart");

    // a clean stop, then start again
    lab.shoal(&["machine", "stop", "k"]).ok("stop");
    assert_eq!(ls_state(&lab, "k"), "Stopped");
    lab.shoal(&["machine", "restart", "k"]).ok("restart");
    assert_eq!(ls_state(&lab, "k"), "Running");
    let again = lab
        .shoal(&["machine", "start", "k"])
        .ok("start a running machine");
    assert!(again.stderr.contains("already running"), "{}", again.stderr);
}

use std::process::Command;

#[test]
fn half_created_and_broken_machines_are_removable() {
    let lab = Lab::new();
    lab.create("half", &[]);
    let f = Footprint::of(&lab, "half");
    // As if create had been killed midway: config not complete, engine dead.
    let cfg_path = lab.store().join("half/config.json");
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("\"complete\": true", "\"complete\": false");
    std::fs::write(&cfg_path, cfg).unwrap();
    let pid = lab.inspect("half")["Driver"]["EnginePid"].as_i64().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert_eq!(ls_state(&lab, "half"), "Error");
    lab.shoal(&["machine", "rm", "-f", "half"]).ok("rm -f half");
    f.assert_gone();

    // A folder whose config is garbage shows as Error and goes with rm -f.
    std::fs::create_dir_all(lab.store().join("junk")).unwrap();
    std::fs::write(lab.store().join("junk/config.json"), "{not json").unwrap();
    assert_eq!(ls_state(&lab, "junk"), "Error");
    assert!(
        lab.shoal(&["machine", "rm", "-y", "junk"]).code != 0,
        "rm without -f refuses an unreadable machine"
    );
    lab.shoal(&["machine", "rm", "-f", "junk"]).ok("rm -f junk");
    assert!(!lab.store().join("junk").exists());
}

#[test]
fn bad_input_gets_one_line_errors_and_creates_nothing() {
    let lab = Lab::new();
    let cases: [(&[&str], &str); 6] = [
        (
            &["machine", "create", "bad_name"],
            "invalid machine name \"bad_name\"",
        ),
        (
            &["machine", "create", "-d", "virtualbox", "x1"],
            "unknown driver \"virtualbox\"",
        ),
        (
            &["machine", "create", "--keystore", "redis", "x2"],
            "unknown keystore \"redis\"",
        ),
        (
            &["machine", "create", "--engine-opt", "novalue", "x3"],
            "malformed --engine-opt \"novalue\"",
        ),
        (
            &["machine", "ip", "ghost"],
            "machine \"ghost\" does not exist",
        ),
        (
            &["machine", "rm", "-f", "ghost"],
            "machine \"ghost\" does not exist",
        ),
    ];
    for (args, want) in cases {
        let r = lab.shoal(args);
        assert_ne!(r.code, 0, "{args:?} must fail");
        assert!(
            r.stderr.contains(want),
            "{args:?}: expected {want:?} in {:?}",
            r.stderr
        );
        assert!(
            r.stderr.lines().filter(|l| l.starts_with("shoal:")).count() == 1,
            "{args:?}: one error line: {}",
            r.stderr
        );
    }
    assert!(
        lab.shoal(&["machine", "ls", "-q"])
            .ok("ls")
            .stdout
            .trim()
            .is_empty(),
        "nothing was created"
    );

    lab.create("taken", &[]);
    let r = lab.shoal(&["machine", "create", "taken"]);
    assert!(
        r.code != 0 && r.stderr.contains("machine \"taken\" already exists"),
        "{}",
        r.stderr
    );
    let r = lab.shoal(&["machine", "env", "--swarm", "taken"]);
    assert!(
        r.code != 0 && r.stderr.contains("not a swarm master"),
        "{}",
        r.stderr
    );
}

#[test]
fn keystore_and_engine_opts_give_an_overlay_across_machines() {
    let lab = Lab::new();
    let ks = lab.create("ks", &["--keystore", "etcd"]);
    // etcd answers v2 (dockerd's cluster store) and v3 (our discovery)
    let v2 = http(&ks.ip, 2379, "PUT", "/v2/keys/probe", "value=1");
    assert!(v2.contains("\"value\":\"1\""), "etcd v2: {v2}");
    let v3 = http(
        &ks.ip,
        2379,
        "POST",
        "/v3/kv/range",
        "{\"key\":\"cHJvYmU=\"}",
    );
    assert!(v3.contains("\"header\""), "etcd v3: {v3}");

    let store = format!("cluster-store=etcd://{}:2379", ks.ip);
    let opts = [
        "--engine-opt",
        store.as_str(),
        "--engine-opt",
        "cluster-advertise=eth0:2376",
    ];
    let n1 = lab.create("n1", &opts);
    let n2 = lab.create("n2", &opts);
    docker(
        &n1.engine(),
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--subnet",
            "10.99.7.0/24",
            "ov",
        ],
    )
    .ok("overlay");
    docker(
        &n1.engine(),
        &[
            "run", "-d", "--name", "c1", "--net", "ov", "busybox", "sleep", "600",
        ],
    )
    .ok("c1 on n1");
    eventually("n2 sees the overlay network", timeout(20), || {
        docker(&n2.engine(), &["network", "ls"])
            .stdout
            .contains(" ov ")
    });
    docker(
        &n2.engine(),
        &[
            "run", "--rm", "--net", "ov", "busybox", "ping", "-c2", "-W2", "c1",
        ],
    )
    .ok("c2 on n2 pings c1 on n1 by name across the overlay");
}

/// One plain HTTP/1.0 request to a lab address (no client crate needed).
fn http(ip: &str, port: u16, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((ip, port)).expect("connect");
    let ctype = if body.starts_with('{') {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn swarm_machines_on_a_zookeeper_keystore_form_a_cluster() {
    let lab = Lab::new();
    let zk = lab.create("zk", &["--keystore", "zookeeper"]);
    let disc = format!("zk://{}:2181/shoal", zk.ip);
    let master = lab.create(
        "master",
        &["--swarm", "--swarm-master", "--swarm-discovery", &disc],
    );
    let node = lab.create(
        "node",
        &[
            "--swarm",
            "--swarm-discovery",
            &disc,
            "--swarm-strategy",
            "binpack",
        ],
    );
    let ls = lab.shoal(&["machine", "ls"]).ok("ls").stdout;
    assert!(ls.contains("master (master)"), "{ls}");
    let env = lab
        .shoal(&["machine", "env", "--swarm", "master"])
        .ok("env --swarm")
        .stdout;
    assert!(
        env.contains(&format!("export DOCKER_HOST=\"tcp://{}:3376\"", master.ip)),
        "{env}"
    );
    // as old tutorials wrote it, unquoted, in a shell left pointing at a
    // TLS host: the plain master's address wins and TLS is off
    let shell = Command::new("bash")
        .args([
            "-c",
            &format!("eval $({SHOAL} machine env --swarm master) && echo \"$DOCKER_HOST|$DOCKER_TLS_VERIFY|$DOCKER_CERT_PATH\""),
        ])
        .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", "/nowhere")
        .output()
        .expect("bash");
    assert_eq!(
        String::from_utf8_lossy(&shell.stdout).trim(),
        format!("tcp://{}:3376||", master.ip),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );

    let manager = format!("tcp://{}:3376", master.ip);
    eventually(
        "the manager on the master sees both nodes",
        timeout(30),
        || docker(&manager, &["info"]).stdout.contains("Nodes: 2"),
    );
    let listed = lab.shoal(&["list", &disc]).ok("list").stdout;
    for m in [&master, &node] {
        assert!(
            listed.lines().any(|l| l == format!("{}:2376", m.ip)),
            "{listed}"
        );
    }
    let out = docker(
        &manager,
        &[
            "run",
            "--rm",
            "-e",
            "constraint:node==node",
            "busybox",
            "hostname",
        ],
    )
    .ok("run");
    assert_eq!(
        out.stdout.trim().len(),
        12,
        "a container id as hostname: {}",
        out.stdout
    );

    // the machines' network agents keep their state in the same ZooKeeper:
    // a shoal network across both engines, a name resolved across them
    docker(&manager, &["network", "create", "-d", "shoal", "zknet"]).ok("network create");
    docker(
        &manager,
        &[
            "run",
            "-d",
            "--name",
            "zk-db",
            "--net",
            "zknet",
            "-e",
            "constraint:node==master",
            "busybox",
            "sleep",
            "600",
        ],
    )
    .ok("run on master");
    let ping = docker(
        &manager,
        &[
            "run",
            "--rm",
            "--net",
            "zknet",
            "-e",
            "constraint:node==node",
            "busybox",
            "ping",
            "-c1",
            "-W3",
            "zk-db",
        ],
    )
    .ok("ping across by name");
    assert!(
        ping.stdout.contains("1 packets received"),
        "{}",
        ping.stdout
    );
    let zk_keys = Command::new("/usr/share/zookeeper/bin/zkCli.sh")
        .args(["-server", &format!("{}:2181", zk.ip), "ls", "/shoal-net"])
        .output()
        .expect("zkCli");
    let zk_keys = String::from_utf8_lossy(&zk_keys.stdout);
    assert!(
        zk_keys.lines().any(|l| l.starts_with('[') && l.len() > 2),
        "the agents' keys under /shoal-net: {zk_keys}"
    );
    docker(&manager, &["rm", "-f", "zk-db"]).ok("rm");
    docker(&manager, &["network", "rm", "zknet"]).ok("network rm");

    // stop ends the agent and manager too; start brings them back
    let fm = Footprint::of(&lab, "master");
    lab.shoal(&["machine", "stop", "master"]).ok("stop master");
    assert!(
        docker(&manager, &["info"]).code != 0,
        "the manager stops with its machine"
    );
    lab.shoal(&["machine", "start", "master"])
        .ok("start master");
    eventually("the manager is back with both nodes", timeout(30), || {
        docker(&manager, &["info"]).stdout.contains("Nodes: 2")
    });
    lab.shoal(&["machine", "rm", "-f", "master"])
        .ok("rm master");
    fm.assert_gone();
}

#[test]
fn swarm_machines_on_etcd_run_the_network_agent() {
    let lab = Lab::new();
    let ks = lab.create("ks", &["--keystore", "etcd"]);
    let disc = format!("etcd://{}:2379/shoal", ks.ip);
    // no cluster-store engine option: the overlay is Shoal's own
    let a = lab.create("na", &["--swarm", "--swarm-discovery", &disc]);
    let b = lab.create("nb", &["--swarm", "--swarm-discovery", &disc]);
    for m in [&a, &b] {
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
                "10.79.0.0/24",
                "-o",
                "vni=7079",
                "flat",
            ],
        )
        .ok("shoal network");
    }
    docker(
        &a.engine(),
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--net",
            "flat",
            "--dns",
            "10.79.0.1",
            "busybox",
            "sleep",
            "600",
        ],
    )
    .ok("srv on na");
    docker(
        &b.engine(),
        &[
            "run",
            "--rm",
            "--net",
            "flat",
            "--dns",
            "10.79.0.1",
            "busybox",
            "ping",
            "-c2",
            "-W2",
            "srv",
        ],
    )
    .ok("a container on nb pings srv on na by name over Shoal's overlay");
    let f = Footprint::of(&lab, "na");
    lab.shoal(&["machine", "rm", "-f", "na"]).ok("rm na");
    f.assert_gone();
}
