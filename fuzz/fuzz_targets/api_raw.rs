//! Raw bytes on a manager connection: whatever a client sends (garbage,
//! truncated requests, pipelined requests, odd framing), the manager's
//! connection task never panics and never spins (the pipe is closed after
//! the input, and everything must settle within a bounded virtual time).

#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    common::RUNTIME.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let server = common::serve(server);
        let client = async move {
            let mut answer = Vec::new();
            let (mut read, mut write) = tokio::io::split(&mut client);
            let writer = async {
                let _ = write.write_all(data).await;
                let _ = write.shutdown().await;
            };
            let reader = async {
                let _ = read.read_to_end(&mut answer).await;
            };
            tokio::join!(writer, reader);
            answer
        };
        let settled = tokio::time::timeout(Duration::from_secs(120), async {
            tokio::join!(server, client)
        })
        .await;
        if let Ok((_, answer)) = settled {
            assert!(
                answer.is_empty()
                    || answer.starts_with(b"HTTP/1.1 ")
                    || answer.starts_with(b"HTTP/1.0 "),
                "not an HTTP answer: {:?}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            );
        }
    });
});
