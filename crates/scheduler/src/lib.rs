//! shoal-scheduler
