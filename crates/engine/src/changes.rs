//! Which engines changed since a reader last looked: what lets the cluster
//! bring its per-engine views up to date at the cost of the engines that
//! changed, not of every engine (10,000 generation loads per placement).
//!
//! An engine given a log ([`crate::Engine::report_changes_to`]) puts its
//! serial there when its generation moves and it is not already there; the
//! reader drains the log, then for each engine clears that mark
//! ([`crate::Engine::clear_change_mark`]) before it reads the generation.
//! A change made after the clear puts the engine back; a change made before
//! it is seen by the generation read that follows. The log holds each
//! engine at most once, so it stays bounded when nobody reads it.

use std::sync::Mutex;

/// Serials of the engines changed since the last [`ChangeLog::drain`].
#[derive(Debug, Default)]
pub struct ChangeLog {
    changed: Mutex<Vec<u64>>,
}

impl ChangeLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&self, serial: u64) {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(serial);
    }

    /// The serials logged since the last drain (each engine once).
    pub fn drain(&self) -> Vec<u64> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
