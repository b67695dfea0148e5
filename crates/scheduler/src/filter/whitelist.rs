//! `whitelist`: an allow list of nodes set by the operator, not by the
//! container: `--cluster-opt swarm.whitelist=ENTRY` (repeatable).
//!
//! Each entry is an expression in constraint syntax, on the node's name or ID
//! (`node==web-*`) or on its engine labels (`role==worker`); an entry without
//! an operator is a node name (`node-1` means `node==node-1`). A node is
//! allowed when it satisfies at least one entry. With no entry the filter
//! allows every node, so it costs nothing in the default filter list.
//!
//! Example: `shoal manage --cluster-opt swarm.whitelist=role==worker
//! --cluster-opt swarm.whitelist=node==build-1 token://...` places containers
//! on the workers and on `build-1` only.

use super::{Filter, PreparedRequest};
use crate::error::ConfigError;
use crate::expr::Expr;
use crate::filter::constraint::node_matches;
use crate::index::NodeRef;

/// The `whitelist` filter.
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    entries: Vec<Expr>,
}

impl Whitelist {
    /// Builds the allow list from `swarm.whitelist` entries.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, ConfigError> {
        let entries = entries
            .iter()
            .map(|entry| {
                let text = entry.as_ref();
                let expr = if text.contains("==") || text.contains("!=") {
                    Expr::parse(text)
                } else {
                    Expr::parse(&format!("node=={text}"))
                };
                expr.map_err(|source| ConfigError::InvalidWhitelist {
                    text: text.to_string(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Whitelist { entries })
    }

    /// The entries, parsed.
    pub fn entries(&self) -> &[Expr] {
        &self.entries
    }
}

impl Filter for Whitelist {
    fn name(&self) -> &'static str {
        "whitelist"
    }

    fn is_active(&self, _: &PreparedRequest<'_>, _: bool) -> bool {
        !self.entries.is_empty()
    }

    fn accepts(&self, _: &PreparedRequest<'_>, node: NodeRef<'_>, _: bool) -> bool {
        self.entries.is_empty()
            || self
                .entries
                .iter()
                .any(|entry| node_matches(entry, node.view()))
    }

    fn conditions(&self, _: &PreparedRequest<'_>, out: &mut Vec<String>) {
        if !self.entries.is_empty() {
            let entries: Vec<String> = self.entries.iter().map(Expr::condition).collect();
            out.push(format!("whitelist {}", entries.join(" or ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn nodes() -> Vec<NodeView> {
        vec![
            node("build-1"),
            node("w1").label("role", "worker"),
            node("w2").label("role", "worker"),
            node("db"),
        ]
    }

    #[test]
    fn empty_list_allows_every_node_and_is_inactive() {
        let filter = Whitelist::new::<&str>(&[]).unwrap();
        let req = request(&[], &[]);
        assert_eq!(accepted(&filter, &req, &nodes(), true).len(), 4);
        assert!(!filter.is_active(&PreparedRequest::new(&req).unwrap(), true));
        assert!(conditions(&filter, &req).is_empty());
    }

    #[test]
    fn any_entry_allows_a_node() {
        let filter = Whitelist::new(&["role==worker", "node==build-*", "db"]).unwrap();
        assert_eq!(
            accepted(&filter, &request(&[], &[]), &nodes(), true),
            ["build-1", "w1", "w2", "db"]
        );
        let filter = Whitelist::new(&["role==worker", "build-1"]).unwrap();
        assert_eq!(
            accepted(&filter, &request(&[], &[]), &nodes(), true),
            ["build-1", "w1", "w2"]
        );
        assert_eq!(
            conditions(&filter, &request(&[], &[])),
            ["whitelist role==worker or node==build-1"]
        );
    }

    #[test]
    fn refuses_bad_entries() {
        let err = Whitelist::new(&["r==x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid whitelist entry \"r==x\": key \"r\" is invalid: a key is 2 or more characters matching ^[a-z_][a-z0-9-_.]+$ (case-insensitive)"
        );
        assert!(Whitelist::new(&["bad,name"]).is_err());
    }
}
