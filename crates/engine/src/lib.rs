//! shoal-engine
