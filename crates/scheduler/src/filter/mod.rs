//! Filters: each one decides, node by node, whether a node may take the
//! container. One file per filter, all behind [`Filter`].
//!
//! Every filter is a predicate on one node (it never looks at other nodes),
//! so the scheduler may evaluate them in any order on the fast path and
//! still get classic Swarm's answer; it replays them in the configured order
//! only to explain a failure.

use std::fmt;

use crate::error::ScheduleError;
use crate::expr::{Expr, RegexCache};
use crate::index::NodeRef;
use crate::request::ContainerRequest;

pub(crate) mod affinity;
pub(crate) mod constraint;
pub(crate) mod containerslots;
mod dependency;
mod health;
mod port;
mod whitelist;

pub use affinity::Affinity;
pub use constraint::Constraint;
pub use containerslots::ContainerSlots;
pub use dependency::Dependency;
pub use health::Health;
pub use port::Port;
pub use whitelist::Whitelist;

/// The filters, in their default order (also the order of `docker info`'s
/// `Filters:` line).
pub const DEFAULT_FILTERS: [&str; 7] = [
    "health",
    "port",
    "containerslots",
    "dependency",
    "affinity",
    "constraint",
    "whitelist",
];

/// A request with its expressions parsed and compiled, once per placement.
#[derive(Debug, Clone)]
pub struct PreparedRequest<'r> {
    /// The request itself.
    pub request: &'r ContainerRequest,
    /// Its constraints, compiled.
    pub constraints: Vec<Expr>,
    /// Its affinities, compiled.
    pub affinities: Vec<Expr>,
}

impl<'r> PreparedRequest<'r> {
    /// Parses and compiles the expressions of `request`.
    pub fn new(request: &'r ContainerRequest) -> Result<Self, ScheduleError> {
        Self::compile(request, None)
    }

    /// [`PreparedRequest::new`], with regular expressions from `cache`.
    pub fn with_cache(
        request: &'r ContainerRequest,
        cache: &RegexCache,
    ) -> Result<Self, ScheduleError> {
        Self::compile(request, Some(cache))
    }

    fn compile(
        request: &'r ContainerRequest,
        cache: Option<&RegexCache>,
    ) -> Result<Self, ScheduleError> {
        let compile = |kind: &'static str, list: &[String]| -> Result<Vec<Expr>, ScheduleError> {
            list.iter()
                .map(|text| {
                    let parsed = match cache {
                        Some(cache) => Expr::parse_cached(text, cache),
                        None => Expr::parse(text),
                    };
                    parsed.map_err(|source| ScheduleError::InvalidExpression {
                        kind,
                        text: text.clone(),
                        source,
                    })
                })
                .collect()
        };
        Ok(PreparedRequest {
            request,
            constraints: compile("constraint", &request.constraints)?,
            affinities: compile("affinity", &request.affinities)?,
        })
    }

    /// Whether any expression is soft (`~`), so that a failed placement is
    /// worth a second try without them.
    pub fn has_soft(&self) -> bool {
        self.constraints
            .iter()
            .chain(&self.affinities)
            .any(Expr::is_soft)
    }
}

/// The hard expressions of `exprs`, and the soft ones too when `soft` is set.
pub(crate) fn in_force(exprs: &[Expr], soft: bool) -> impl Iterator<Item = &Expr> {
    exprs.iter().filter(move |e| soft || !e.is_soft())
}

/// How much a filter costs per node, to order the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cost {
    /// Looks at the node's own fields and labels only.
    Node,
    /// Walks the node's containers or images.
    Containers,
}

/// One filter.
pub trait Filter: fmt::Debug + Send + Sync {
    /// The name used by `--filter` and shown by `docker info`.
    fn name(&self) -> &'static str;

    /// Whether this filter checks anything for this request. An inactive
    /// filter accepts every node and never fails, not even on a cluster with
    /// no node at all; an active one fails when no node is left after it.
    fn is_active(&self, request: &PreparedRequest<'_>, soft: bool) -> bool;

    /// Whether `node` may take the container. `soft` tells whether soft
    /// expressions are in force (first try) or dropped (second try).
    fn accepts(&self, request: &PreparedRequest<'_>, node: NodeRef<'_>, soft: bool) -> bool;

    /// The conditions this filter reads from the request, as listed in
    /// "Unable to find a node that satisfies the following conditions".
    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>);

    /// The cost class of [`Filter::accepts`].
    fn cost(&self) -> Cost {
        Cost::Node
    }
}
