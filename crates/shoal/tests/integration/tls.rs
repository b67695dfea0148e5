//! TLS like Docker: machines made with `--tls` (a CA per store, certificates
//! per machine, as docker-machine made them), their engines and swarm
//! master serving TLS with client certificates, driven by the real docker
//! CLI with what `shoal machine env` exports; refused without certificates,
//! with a certificate from another CA, and in plain HTTP.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// `export K="V"` lines of `machine env` as a map.
fn exports(env: &str) -> BTreeMap<String, String> {
    env.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// The docker CLI with exactly these DOCKER_* variables.
fn docker_env(vars: &BTreeMap<String, String>, args: &[&str]) -> Run {
    let mut c = Command::new("docker");
    c.args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(std::process::Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.output().expect("run the docker CLI");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One plain-text HTTP request to a lab address; what came back.
fn plain_http(ip: &str, port: u16) -> String {
    let mut s = std::net::TcpStream::connect((ip, port)).expect("connect");
    s.set_read_timeout(Some(timeout(10))).unwrap();
    s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").unwrap();
    let mut out = vec![];
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A folder with `ca.pem` of the cluster but the client certificate and
/// key of another store's CA: the docker CLI trusts the manager, the
/// manager must not trust it.
fn foreign_client(lab: &Lab, trusted_ca: &Path) -> (tempfile::TempDir, PathBuf) {
    let other = tempfile::tempdir().expect("temp dir");
    let dir = other.path().join("intruder");
    shoal_machine::certs::ensure_machine(other.path(), &dir, "intruder", "127.0.0.1")
        .expect("another CA");
    let mixed = lab.store().join("foreign-client");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(trusted_ca, mixed.join("ca.pem")).unwrap();
    std::fs::copy(dir.join("cert.pem"), mixed.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("key.pem"), mixed.join("key.pem")).unwrap();
    (other, mixed)
}

#[test]
fn tls_swarm_master_serves_the_docker_cli_with_certificates_only() {
    let lab = Lab::new();
    let ks = lab.create("ks", &["--keystore", "etcd"]);
    let disc = format!("etcd://{}:2379/shoal-tls", ks.ip);
    let master = lab.create(
        "master",
        &[
            "--tls",
            "--swarm",
            "--swarm-master",
            "--swarm-discovery",
            &disc,
        ],
    );
    let node = lab.create("node", &["--tls", "--swarm", "--swarm-discovery", &disc]);

    // docker-machine's files, keys private
    let certs = lab.store().join("certs");
    let mdir = lab.store().join("master");
    for f in ["ca.pem", "ca-key.pem", "cert.pem", "key.pem"] {
        assert!(certs.join(f).is_file(), "store certs/{f}");
    }
    for f in [
        "ca.pem",
        "cert.pem",
        "key.pem",
        "server.pem",
        "server-key.pem",
    ] {
        assert!(mdir.join(f).is_file(), "master/{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    for key in [certs.join("ca-key.pem"), mdir.join("server-key.pem")] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }

    // what eval $(shoal machine env --swarm master) sets
    let env = lab
        .shoal(&["machine", "env", "--swarm", "master"])
        .ok("env --swarm")
        .stdout;
    let vars = exports(&env);
    assert_eq!(vars["DOCKER_TLS_VERIFY"], "1", "{env}");
    assert_eq!(
        vars["DOCKER_HOST"],
        format!("tcp://{}:3376", master.ip),
        "{env}"
    );
    assert_eq!(Path::new(&vars["DOCKER_CERT_PATH"]), mdir, "{env}");
    let unset = lab
        .shoal(&["machine", "env", "--unset"])
        .ok("env --unset")
        .stdout;
    for v in ["DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_HOST"] {
        assert!(unset.contains(&format!("unset {v}")), "{unset}");
    }

    // the docker CLI in a shell that evaluated it: both nodes, a container
    let shell = |cmd: &str| {
        let out = Command::new("bash")
            .args([
                "-c",
                &format!("eval \"$({SHOAL} machine env --swarm master)\" && {cmd}"),
            ])
            .env("SHOAL_MACHINE_STORAGE_PATH", lab.store())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    eventually(
        "the TLS manager sees both TLS engines healthy",
        timeout(30),
        || {
            let info = shell("docker info").stdout;
            info.contains("Nodes: 2") && info.matches("└ Status: Healthy").count() == 2
        },
    );
    let out =
        shell("docker run --rm -e constraint:node==node busybox echo tls-ok").ok("run over TLS");
    assert_eq!(out.stdout.trim(), "tls-ok", "{}", out.stderr);
    let id = shell("docker run -d busybox sleep 300").ok("run -d").stdout;
    let ps = shell("docker ps --no-trunc").ok("ps").stdout;
    assert!(ps.contains(id.trim()), "{ps}");

    // without certificates: refused, and told why
    let manager = vars["DOCKER_HOST"].clone();
    let plain = docker(&manager, &["info"]);
    assert_ne!(
        plain.code, 0,
        "plain docker info got through: {}",
        plain.stdout
    );
    assert!(
        plain.stderr.contains("HTTP request to an HTTPS server"),
        "{}",
        plain.stderr
    );
    // TLS that trusts the manager but has no client certificate
    let mut no_cert = BTreeMap::new();
    no_cert.insert("DOCKER_HOST".to_string(), manager.clone());
    let ca_only = lab.store().join("ca-only");
    std::fs::create_dir_all(&ca_only).unwrap();
    std::fs::copy(mdir.join("ca.pem"), ca_only.join("ca.pem")).unwrap();
    let r = docker_env(
        &no_cert,
        &[
            "--tls",
            "--tlscacert",
            &ca_only.join("ca.pem").to_string_lossy(),
            "ps",
        ],
    );
    assert_ne!(r.code, 0, "no client certificate got through: {}", r.stdout);
    assert!(r.stderr.contains("certificate required"), "{}", r.stderr);
    // a client certificate from another CA
    let (_other, foreign) = foreign_client(&lab, &mdir.join("ca.pem"));
    let mut foreign_vars = vars.clone();
    foreign_vars.insert(
        "DOCKER_CERT_PATH".into(),
        foreign.to_string_lossy().into_owned(),
    );
    let r = docker_env(&foreign_vars, &["ps"]);
    assert_ne!(r.code, 0, "a foreign certificate got through: {}", r.stdout);
    // (same CA name, another key: the CLI sends it, the manager's
    // signature check fails the handshake)
    assert!(r.stderr.contains("remote error: tls:"), "{}", r.stderr);
    // the right certificates still work (nothing above broke the manager)
    docker_env(&vars, &["ps"]).ok("ps with the right certificates");

    // plain HTTP to the TLS ports: the manager and the engines refuse
    let answer = plain_http(&master.ip, 3376);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"message\""), "{answer}");
    let answer = plain_http(&node.ip, 2376);
    assert!(answer.contains("400"), "{answer}");

    // the engine itself, as `machine env node` points at it
    let node_vars = exports(&lab.shoal(&["machine", "env", "node"]).ok("env node").stdout);
    assert_eq!(node_vars["DOCKER_HOST"], node.engine());
    let v = docker_env(&node_vars, &["version", "--format", "{{.Server.Version}}"])
        .ok("engine over TLS");
    assert!(!v.stdout.trim().is_empty());
    assert_ne!(
        docker(&node.engine(), &["version"]).code,
        0,
        "plain TCP to a TLS engine"
    );
}

/// `shoal manage --tlsverify` run by hand over TLS engines: it presents the
/// store's client certificate to the engines and verifies theirs.
#[test]
fn manage_with_tlsverify_talks_tls_to_engines() {
    let lab = Lab::new();
    let a = lab.create("a", &["--tls"]);
    let b = lab.create("b", &["--tls"]);
    let certs = lab.store().join("certs");
    let auth = &lab.inspect("a")["HostOptions"]["AuthOptions"];
    assert_eq!(auth["TLS"], true, "{auth}");
    assert_eq!(
        auth["ServerCertPath"],
        lab.store().join("a/server.pem").to_string_lossy().as_ref(),
        "{auth}"
    );
    let f = |n: &str| certs.join(n).to_string_lossy().into_owned();
    let (ca, cert, key) = (f("ca.pem"), f("cert.pem"), f("key.pem"));
    let m = ManagerProcess::over(
        &lab,
        &[&a, &b],
        &[
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    );
    let out = m.ok(&[
        "run",
        "--rm",
        "-e",
        "constraint:node==b",
        "busybox",
        "echo",
        "via-tls",
    ]);
    assert_eq!(out.stdout.trim(), "via-tls");

    // a manager whose CA did not sign the engines' certificates gets nowhere
    let other = tempfile::tempdir().unwrap();
    let odir = other.path().join("x");
    shoal_machine::certs::ensure_machine(other.path(), &odir, "x", "127.0.0.1").unwrap();
    let o = |n: &str| odir.join(n).to_string_lossy().into_owned();
    let foreign = ManagerProcess::spawn(
        &lab,
        "foreign-manager",
        &format!("nodes://{}:2376", a.ip),
        &[
            "--tlsverify",
            "--tlscacert",
            &o("ca.pem"),
            "--tlscert",
            &o("cert.pem"),
            "--tlskey",
            &o("key.pem"),
        ],
    );
    eventually(
        "the foreign manager answers and shows its engine's error",
        timeout(30),
        || {
            let info = foreign.docker(&["info"]).stdout;
            info.contains("Nodes: 1") && info.contains("certificate")
        },
    );
    assert_eq!(foreign.healthy_nodes(), 0, "{}", foreign.log_text());
}
