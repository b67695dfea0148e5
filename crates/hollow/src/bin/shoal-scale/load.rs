//! Filling the cluster: `docker run -d`-equivalent requests (create, then
//! start) from several clients at once, each timed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;

use crate::client::Client;

/// One finished `run`: when it finished (in order), create and whole-run
/// times in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub create_us: u32,
    pub run_us: u32,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// In order of completion.
    pub samples: Vec<Sample>,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub elapsed: Duration,
    pub stopped_early: bool,
}

/// What docker CLI 28 sends for `docker run -d [--name NAME] busybox sleep 1000000`
/// (API 1.41), about 1.7 KB.
pub fn create_body(memory: i64) -> Bytes {
    let v = serde_json::json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
        "Cmd": ["sleep", "1000000"], "Image": "busybox", "Volumes": {}, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": {},
        "HostConfig": {
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
            "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0],
            "CapAdd": null, "CapDrop": null, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
            "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null, "OomScoreAdj": 0,
            "PidMode": "", "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false,
            "SecurityOpt": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
            "CpuShares": 0, "Memory": memory, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
            "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
            "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
            "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
            "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": false, "PidsLimit": null,
            "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "MaskedPaths": null, "ReadonlyPaths": null
        },
        "NetworkingConfig": {"EndpointsConfig": {}}
    });
    Bytes::from(v.to_string())
}

pub struct Plan {
    pub addr: String,
    pub containers: u64,
    pub concurrency: usize,
    pub named: bool,
    pub memory: i64,
    pub deadline: Instant,
}

/// Progress the reporter reads while the fill runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub errors: AtomicU64,
}

pub async fn fill(plan: Plan, progress: Arc<Progress>) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(plan.containers as usize)));
    let first_errors = Arc::new(Mutex::new(Vec::new()));
    let body = create_body(plan.memory);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.concurrency.max(1) {
        let (next, stop, samples, first_errors, progress) = (
            next.clone(),
            stop.clone(),
            samples.clone(),
            first_errors.clone(),
            progress.clone(),
        );
        let body = body.clone();
        let addr = plan.addr.clone();
        let (total, named, deadline) = (plan.containers, plan.named, plan.deadline);
        workers.push(tokio::spawn(async move {
            let mut client = Client::new(&addr, Duration::from_secs(120));
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if Instant::now() >= deadline {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    return;
                }
                let path = if named {
                    format!("/v1.41/containers/create?name=scale-{k}")
                } else {
                    "/v1.41/containers/create".to_string()
                };
                let t0 = Instant::now();
                let r = async {
                    let (bytes, took) = client.ok(Method::POST, &path, Some(body.clone())).await?;
                    let v: Value = serde_json::from_slice(&bytes)?;
                    let id = v["Id"].as_str().unwrap_or_default().to_string();
                    if id.is_empty() {
                        anyhow::bail!("create answered without Id: {v}");
                    }
                    client
                        .ok(Method::POST, &format!("/v1.41/containers/{id}/start"), None)
                        .await?;
                    Ok::<_, anyhow::Error>(took)
                }
                .await;
                match r {
                    Ok(create) => {
                        let run = t0.elapsed();
                        samples
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Sample {
                                create_us: create.as_micros().min(u32::MAX as u128) as u32,
                                run_us: run.as_micros().min(u32::MAX as u128) as u32,
                            });
                        progress.done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let n = progress.errors.fetch_add(1, Ordering::Relaxed);
                        if n < 10 {
                            first_errors
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(format!("{e:#}"));
                        }
                        if n > 1000 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    let first_errors = std::mem::take(&mut *first_errors.lock().unwrap_or_else(|p| p.into_inner()));
    Outcome {
        stopped_early: (samples.len() as u64) < plan.containers,
        samples,
        errors: progress.errors.load(Ordering::Relaxed),
        first_errors,
        elapsed: start.elapsed(),
    }
}
