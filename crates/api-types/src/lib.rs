//! shoal-api-types
