//! shoal-discovery
