//! `constraint`: expressions on the node. Key `node` matches the node's ID or
//! name; any other key matches the node label of that (lower-cased) name:
//! the standard labels `storagedriver`, `kernelversion`, `operatingsystem`,
//! `ostype`, and the engine's own `--label` pairs. A node without the label
//! offers the empty string, so `region!=us` accepts it and `region==*` too.

use super::{in_force, Filter, PreparedRequest};
use crate::expr::Expr;
use crate::node::NodeView;

/// The `constraint` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraint;

/// Whether `node` satisfies `expr`, read as a constraint.
pub(crate) fn node_matches(expr: &Expr, node: &NodeView) -> bool {
    match expr.key() {
        "node" => expr.matches([node.id.as_str(), node.name.as_str()]),
        key => expr.matches([node.label(key).unwrap_or("")]),
    }
}

impl Filter for Constraint {
    fn name(&self) -> &'static str {
        "constraint"
    }

    fn is_active(&self, request: &PreparedRequest<'_>, soft: bool) -> bool {
        in_force(&request.constraints, soft).next().is_some()
    }

    fn accepts(&self, request: &PreparedRequest<'_>, node: &NodeView, soft: bool) -> bool {
        in_force(&request.constraints, soft).all(|expr| node_matches(expr, node))
    }

    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>) {
        out.extend(request.constraints.iter().map(Expr::condition));
    }
}
