//! Integration tests: real engines on machines made by `shoal machine`.
