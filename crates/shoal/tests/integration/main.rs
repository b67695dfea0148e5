//! Integration tests: real engines on machines made by `shoal machine`,
//! driven with the real `docker` CLI. One test binary (one link step).

mod discovery;
mod ha;
mod harness;
mod hostile;
mod machine;
mod manager;
mod netdriver;
mod network;
mod operations;
mod reschedule;
mod scheduling;
mod tls;
