//! shoal-cluster
