//! shoal-machine
