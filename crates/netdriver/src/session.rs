//! One host's connection to the store: the store, the key layout, the
//! host's VTEP address and its current lease (renewed by the agent; a new
//! one replaces it if it ever expired).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::kv::Kv;
use crate::layout::Layout;

#[derive(Clone)]
pub struct Session {
    pub kv: Arc<dyn Kv>,
    pub layout: Layout,
    pub host: Ipv4Addr,
    lease: Arc<AtomicI64>,
}

impl Session {
    pub fn new(kv: Arc<dyn Kv>, layout: Layout, host: Ipv4Addr, lease: i64) -> Self {
        Session {
            kv,
            layout,
            host,
            lease: Arc::new(AtomicI64::new(lease)),
        }
    }

    pub fn lease(&self) -> i64 {
        self.lease.load(Ordering::SeqCst)
    }

    pub fn set_lease(&self, lease: i64) {
        self.lease.store(lease, Ordering::SeqCst)
    }
}
