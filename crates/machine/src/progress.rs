/// Where `create`, `start` and `rm` report what they are doing. The CLI
/// shows a spinner on a terminal and plain lines otherwise.
pub trait Progress {
    fn step(&self, message: &str);
}

/// Reports nothing (for library callers and tests).
pub struct SilentProgress;

impl Progress for SilentProgress {
    fn step(&self, _message: &str) {}
}
