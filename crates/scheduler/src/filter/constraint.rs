//! `constraint`: expressions on the node. Key `node` matches the node's ID or
//! name; any other key matches the node label of that name (see
//! [`Expr::label_in`]):
//! the standard labels `storagedriver`, `kernelversion`, `operatingsystem`,
//! `ostype`, and the engine's own `--label` pairs. A node without the label
//! offers the empty string, so `region!=us` accepts it and `region==*` too.

use super::{in_force, Filter, PreparedRequest};
use crate::expr::Expr;
use crate::index::NodeRef;
use crate::node::NodeView;

/// The `constraint` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraint;

/// Whether `node` satisfies `expr`, read as a constraint.
pub(crate) fn node_matches(expr: &Expr, node: &NodeView) -> bool {
    match expr.key() {
        "node" => expr.matches([node.id.as_str(), node.name.as_str()]),
        _ => expr.matches([expr.label_in(&node.labels).unwrap_or("")]),
    }
}

impl Filter for Constraint {
    fn name(&self) -> &'static str {
        "constraint"
    }

    fn is_active(&self, request: &PreparedRequest<'_>, soft: bool) -> bool {
        in_force(&request.constraints, soft).next().is_some()
    }

    fn accepts(&self, request: &PreparedRequest<'_>, node: NodeRef<'_>, soft: bool) -> bool {
        in_force(&request.constraints, soft).all(|expr| node_matches(expr, node.view()))
    }

    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>) {
        out.extend(request.constraints.iter().map(Expr::condition));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn cluster() -> Vec<NodeView> {
        vec![
            node("node-1")
                .label("region", "us-east")
                .label("storage", "ssd")
                .label("kernelversion", "3.16.0-4-amd64"),
            node("node-2")
                .label("region", "us-west")
                .label("storage", "disk")
                .label("kernelversion", "4.19.0"),
            node("other").label("region", "eu-west"),
        ]
    }

    fn accept(constraints: &[&str]) -> Vec<String> {
        let nodes = cluster();
        accepted(&Constraint, &request(constraints, &[]), &nodes, true)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn node_key_matches_name_or_id() {
        assert_eq!(accept(&["node==node-1"]), ["node-1"]);
        assert_eq!(accept(&["node==ID-NODE-2"]), ["node-2"]);
        assert_eq!(accept(&["node!=node-1"]), ["node-2", "other"]);
        assert_eq!(accept(&["NODE==node-*"]), ["node-1", "node-2"]);
    }

    #[test]
    fn labels_equal_not_equal_glob_and_regex() {
        assert_eq!(accept(&["region==us-east"]), ["node-1"]);
        assert_eq!(accept(&["region!=us-east"]), ["node-2", "other"]);
        assert_eq!(accept(&["region==us-*"]), ["node-1", "node-2"]);
        assert_eq!(accept(&["region==*-west"]), ["node-2", "other"]);
        // A glob is anchored, a regex is not.
        assert_eq!(accept(&["region==west"]), Vec::<String>::new());
        assert_eq!(accept(&["region==/west/"]), ["node-2", "other"]);
        assert_eq!(
            accept(&["region==/^us-(east|west)$/"]),
            ["node-1", "node-2"]
        );
        assert_eq!(accept(&["kernelversion==3.16*"]), ["node-1"]);
        // All constraints must hold.
        assert_eq!(accept(&["region==us-*", "storage==ssd"]), ["node-1"]);
    }

    #[test]
    fn a_missing_label_offers_the_empty_string() {
        assert_eq!(accept(&["storage==ssd"]), ["node-1"]);
        assert_eq!(accept(&["storage!=ssd"]), ["node-2", "other"]);
        assert_eq!(accept(&["storage==*"]), ["node-1", "node-2", "other"]);
        assert_eq!(accept(&["storage==/./"]), ["node-1", "node-2"]);
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert_eq!(accept(&["Region==us-east"]), ["node-1"]);
        let nodes = [node("n").label("Zone", "a"), node("m").label("zone", "b")];
        let accept_on = |c: &str| accepted(&Constraint, &request(&[c], &[]), &nodes, true);
        assert_eq!(accept_on("Zone==a"), ["n"]);
        assert_eq!(accept_on("ZONE==b"), ["m"]);
        // As classic Swarm: a lower-case key does not find an upper-case label.
        assert!(accept_on("zone==a").is_empty());
    }

    #[test]
    fn soft_constraints_count_only_on_the_first_try() {
        let nodes = cluster();
        let req = request(&["region==~mars"], &[]);
        assert!(accepted(&Constraint, &req, &nodes, true).is_empty());
        assert_eq!(
            accepted(&Constraint, &req, &nodes, false),
            ["node-1", "node-2", "other"]
        );
    }

    #[test]
    fn lists_constraints_without_the_soft_marker() {
        assert_eq!(
            conditions(&Constraint, &request(&["region==us-*", "node!=~n1"], &[])),
            ["region==us-*", "node!=n1"]
        );
    }
}
