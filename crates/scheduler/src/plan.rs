//! One placement's filters compiled against its request: what every node is
//! checked against, worked out once per selection instead of once per node.
//!
//! - A plain value (no glob or regex character) is hashed once; an indexed
//!   node answers from hashes laid out when it was indexed (a Bloom filter,
//!   then sorted hashes) and a hit is confirmed on the node's own strings,
//!   so a node without the value costs no string comparison at all.
//! - A glob or regex on node labels is evaluated once per distinct label
//!   value met during the selection (regions, kernel versions: a handful in
//!   a whole cluster), not once per node.
//! - Built-in filters are called directly; filters of your own (given to
//!   [`Scheduler::from_parts`](crate::Scheduler::from_parts)) through their
//!   [`Filter::accepts`].
//!
//! Nodes without an index are checked by the filters' own code. Placements
//! are the same either way (property-tested against plain views).

use std::cell::{Cell, RefCell};

use crate::expr::{Expr, Operator};
use crate::filter::affinity::{self, container_matches, label_matches};
use crate::filter::constraint;
use crate::filter::{in_force, Filter, PreparedRequest};
use crate::hashing::{hash_pair, hash_str};
use crate::index::{is_id_prefix, ImageNames, NodeIndex, NodeRef};
use crate::node_labels::{same_bytes, tag, value_hash, NodeLabels};

/// The built-in filters, as the scheduler knows them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Health,
    Port,
    ContainerSlots,
    Dependency,
    Affinity,
    Constraint,
    Whitelist,
}

impl Kind {
    /// The built-in filter called `name`.
    pub(crate) fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "health" => Kind::Health,
            "port" => Kind::Port,
            "containerslots" => Kind::ContainerSlots,
            "dependency" => Kind::Dependency,
            "affinity" => Kind::Affinity,
            "constraint" => Kind::Constraint,
            "whitelist" => Kind::Whitelist,
            _ => return None,
        })
    }
}

/// How many distinct values a glob or regex remembers its answer for.
const MEMO_LIMIT: usize = 32;

/// How many sets of node labels a check remembers its answer for.
const LABEL_SETS: usize = 16;

/// The answers of a check's expressions on node labels, per set of labels
/// met (by [`NodeLabels::fingerprint`], the last one met in each of
/// [`LABEL_SETS`] places): nodes mostly share their labels (a region, a
/// kernel, a storage driver), and a node whose labels were met costs one
/// comparison of its label bytes instead of one lookup per expression. A
/// hash never decides: the bytes are compared.
#[derive(Debug)]
struct LabelMemo<'n> {
    seen: RefCell<[Option<(&'n NodeLabels, bool)>; LABEL_SETS]>,
}

impl<'n> LabelMemo<'n> {
    fn new() -> Self {
        LabelMemo {
            seen: RefCell::new([None; LABEL_SETS]),
        }
    }

    /// The answer for `labels`, remembered or from `answer`.
    #[inline]
    fn get_or(&self, labels: &'n NodeLabels, answer: impl FnOnce() -> bool) -> bool {
        let at = (labels.fingerprint() % LABEL_SETS as u64) as usize;
        if let Some((seen, known)) = self.seen.borrow()[at] {
            if std::ptr::eq(seen, labels) || seen.same_labels(labels) {
                return known;
            }
        }
        let known = answer();
        self.seen.borrow_mut()[at] = Some((labels, known));
        known
    }
}

/// Constraint or whitelist expressions, compiled, with the answers of
/// those on labels remembered per set of labels.
#[derive(Debug)]
struct NodeExprs<'e, 'n> {
    exprs: Vec<NodeExpr<'e, 'n>>,
    /// Whether any is on the node's name or ID (not on labels).
    any_on_node: bool,
    memo: LabelMemo<'n>,
}

impl<'e, 'n> NodeExprs<'e, 'n> {
    fn new(exprs: impl Iterator<Item = &'e Expr>) -> Self {
        let exprs: Vec<NodeExpr<'e, 'n>> = exprs.map(NodeExpr::new).collect();
        NodeExprs {
            any_on_node: exprs.iter().any(|e| e.on_node),
            exprs,
            memo: LabelMemo::new(),
        }
    }

    /// The labels of `node`, when its index has them inline.
    #[inline]
    fn labels(node: NodeRef<'n>) -> Option<&'n NodeLabels> {
        node.raw_index().and_then(|index| index.node_labels())
    }

    /// Whether every expression holds (constraints).
    #[inline]
    fn all_hold(&self, node: NodeRef<'n>) -> bool {
        let Some(labels) = Self::labels(node) else {
            return self.exprs.iter().all(|e| e.holds(node));
        };
        self.exprs
            .iter()
            .filter(|e| e.on_node)
            .all(|e| e.holds(node))
            && self.memo.get_or(labels, || {
                self.exprs
                    .iter()
                    .filter(|e| !e.on_node)
                    .all(|e| e.holds(node))
            })
    }

    /// Whether there is no expression or any holds (whitelist entries).
    #[inline]
    fn none_or_any_holds(&self, node: NodeRef<'n>) -> bool {
        if self.exprs.is_empty() {
            return true;
        }
        match Self::labels(node) {
            Some(labels) if !self.any_on_node => self
                .memo
                .get_or(labels, || self.exprs.iter().any(|e| e.holds(node))),
            _ => self.exprs.iter().any(|e| e.holds(node)),
        }
    }
}

/// A constraint or whitelist expression, compiled.
#[derive(Debug)]
struct NodeExpr<'e, 'n> {
    expr: &'e Expr,
    /// `node==`: on the node's name and ID, not a label.
    on_node: bool,
    /// The plain value and its hash.
    plain: Option<(&'e str, u64)>,
    /// The [`value_hash`] of the plain value.
    plain_hash: u32,
    /// Whether the pattern matches "" (what a node without the label offers).
    matches_empty: bool,
    /// The [`tag`]s of the key and of the key as written.
    tags: (u8, u8),
    /// Where the key was found on the last node.
    hint: Cell<u8>,
    /// Values already seen, with their [`value_hash`] and the pattern's
    /// answer.
    memo: RefCell<Vec<(u32, &'n [u8], bool)>>,
}

impl<'e, 'n> NodeExpr<'e, 'n> {
    fn new(expr: &'e Expr) -> Self {
        NodeExpr {
            expr,
            on_node: expr.key() == "node",
            plain: expr.plain_value().map(|v| (v, hash_str(v))),
            plain_hash: expr.plain_value().map_or(0, value_hash),
            matches_empty: expr.pattern_matches(""),
            tags: (tag(expr.key()), expr.written_key().map_or(0, tag)),
            hint: Cell::new(0),
            memo: RefCell::new(Vec::new()),
        }
    }

    /// [`constraint::node_matches`], through the node's index when it has
    /// one.
    fn holds(&self, node: NodeRef<'n>) -> bool {
        let view = node.view();
        let Some(index) = node.raw_index() else {
            return constraint::node_matches(self.expr, view);
        };
        let expr = self.expr;
        if self.on_node {
            let matched = match self.plain {
                Some((value, hash)) => {
                    let (name_hash, id_hash) = index.identity_hashes();
                    (id_hash == hash && view.id == value)
                        || (name_hash == hash && view.name == value)
                }
                None => expr.pattern_matches(&view.id) || expr.pattern_matches(&view.name),
            };
            return expr.holds(matched);
        }
        let Some(labels) = index.node_labels() else {
            return constraint::node_matches(expr, view);
        };
        let found = labels.get(expr.key(), self.tags.0, &self.hint).or_else(|| {
            expr.written_key()
                .and_then(|key| labels.get(key, self.tags.1, &self.hint))
        });
        let matched = match (found, self.plain) {
            (None, _) => self.matches_empty,
            (Some((found, hash)), Some((value, _))) => {
                hash == self.plain_hash && same_bytes(found, value.as_bytes())
            }
            (Some((found, hash)), None) => self.pattern_matches(found, hash),
        };
        expr.holds(matched)
    }

    fn pattern_matches(&self, value: &'n [u8], hash: u32) -> bool {
        let mut memo = self.memo.borrow_mut();
        if let Some(&(_, _, matched)) = memo
            .iter()
            .find(|(h, v, _)| *h == hash && same_bytes(v, value))
        {
            return matched;
        }
        // the bytes of a `str` laid out whole: always UTF-8
        let matched = std::str::from_utf8(value).is_ok_and(|v| self.expr.pattern_matches(v));
        if memo.len() < MEMO_LIMIT {
            memo.push((hash, value, matched));
        }
        matched
    }
}

/// What an affinity looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Container,
    Image,
    Label,
}

/// An affinity expression, compiled.
#[derive(Debug)]
struct AffinityExpr<'e, 'n> {
    expr: &'e Expr,
    target: Target,
    /// The plain value and its hash (of the label pair for a label), when
    /// the index can answer by hash: not for patterns, image ID prefixes or
    /// keys written with upper-case letters.
    plain: Option<(&'e str, u64)>,
    /// What every string the pattern matches starts with.
    prefix: Vec<u8>,
    /// For an image: the answer per shared image names met (the last one
    /// met in each of [`IMAGE_SETS`] places, by address).
    images: RefCell<[Option<(&'n ImageNames, bool)>; IMAGE_SETS]>,
}

/// How many sets of image names an image affinity remembers its answer
/// for.
const IMAGE_SETS: usize = 8;

impl<'e, 'n> AffinityExpr<'e, 'n> {
    fn new(expr: &'e Expr) -> Self {
        let target = match expr.key() {
            "container" => Target::Container,
            "image" => Target::Image,
            _ => Target::Label,
        };
        let plain = expr.plain_value().and_then(|value| match target {
            Target::Container => Some((value, hash_str(value))),
            Target::Image => (!is_id_prefix(value)).then(|| (value, hash_str(value))),
            Target::Label => {
                (!expr.has_written_key()).then(|| (value, hash_pair(expr.key(), value)))
            }
        });
        AffinityExpr {
            expr,
            target,
            plain,
            prefix: expr.literal_prefix(),
            images: RefCell::new([None; IMAGE_SETS]),
        }
    }

    /// Whether the index answers it by hash and it most likely refuses most
    /// nodes: `container==X` or `LABEL==X` (a container somewhere to join),
    /// not `!=` (spreading: most nodes pass) nor images (usually on many
    /// nodes). Those run before anything else but health and slots.
    fn is_selective(&self) -> bool {
        self.plain.is_some() && self.expr.operator() == Operator::Eq && self.target != Target::Image
    }

    /// Whether a string of the node's index matches the pattern.
    fn pattern_matches(&self, text: &[u8]) -> bool {
        text.len() >= self.prefix.len()
            && same_bytes(&text[..self.prefix.len()], &self.prefix)
            && std::str::from_utf8(text).is_ok_and(|t| self.expr.pattern_matches(t))
    }

    /// A `container` glob or regex, over the names of the node's index.
    fn container_pattern_holds(&self, node: NodeRef<'_>) -> bool {
        let expr = self.expr;
        let names = node
            .index()
            .and_then(|i| i.container_names_with_prefix(&self.prefix));
        let Some(mut names) = names else {
            return affinity::node_matches(expr, node);
        };
        let matched = names.any(|name| self.pattern_matches(name))
            || node
                .unindexed_containers()
                .any(|c| container_matches(expr, c));
        expr.holds(matched)
    }

    /// [`affinity::node_matches`], through the node's index when it can
    /// answer by hash; for an image, remembered per shared image names
    /// (nodes mostly have the same images: the answer depends on nothing
    /// else).
    #[inline]
    fn holds(&self, node: NodeRef<'n>) -> bool {
        let images = match self.target {
            Target::Image => node.index().and_then(NodeIndex::image_names),
            _ => None,
        };
        let Some(images) = images else {
            return self.holds_on(node);
        };
        let at = (images as *const ImageNames as usize >> 6) % IMAGE_SETS;
        if let Some((seen, known)) = self.images.borrow()[at] {
            if std::ptr::eq(seen, images) {
                return known;
            }
        }
        let known = self.holds_on(node);
        self.images.borrow_mut()[at] = Some((images, known));
        known
    }

    /// [`AffinityExpr::holds`], not remembered.
    fn holds_on(&self, node: NodeRef<'_>) -> bool {
        let expr = self.expr;
        let (Some(index), Some((value, hash))) = (node.index(), self.plain) else {
            if self.target == Target::Container {
                return self.container_pattern_holds(node);
            }
            return affinity::node_matches(expr, node);
        };
        let known = match self.target {
            Target::Container => index.has_container_name(value, hash),
            Target::Image => index.has_image_name(value, hash),
            Target::Label => index.has_label_pair(expr.key(), value, hash),
        };
        let Some(known) = known else {
            return affinity::node_matches(expr, node);
        };
        let matched = known
            || match self.target {
                Target::Container => node
                    .unindexed_containers()
                    .any(|c| container_matches(expr, c)),
                Target::Image => false,
                Target::Label => node.unindexed_containers().any(|c| label_matches(expr, c)),
            };
        expr.holds(matched)
    }
}

/// One active filter, compiled.
#[derive(Debug)]
enum Check<'s, 'p, 'n> {
    Health,
    ContainerSlots,
    Port,
    Dependency,
    Constraint(NodeExprs<'p, 'n>),
    Whitelist(NodeExprs<'s, 'n>),
    Affinity(Vec<AffinityExpr<'p, 'n>>),
    Custom(&'s dyn Filter),
}

/// The active filters of one selection, compiled.
#[derive(Debug)]
pub(crate) struct Plan<'s, 'p, 'n> {
    request: &'p PreparedRequest<'p>,
    soft: bool,
    /// In the configured order, with each filter's position in it.
    checks: Vec<(usize, Check<'s, 'p, 'n>)>,
    /// What the fast path runs before weighing a node, after health and
    /// slots (`health`, `slots`): the selective affinities (see
    /// `AffinityExpr::is_selective`: a Bloom filter in the index), the
    /// other filters on the node's own fields and labels.
    cheap: Vec<Step>,
    /// What it runs after, on a node that would be chosen: the filters on
    /// containers and images.
    costly: Vec<Step>,
    /// The positions of the health and container slots filters when they
    /// are active: checked inline first, out of `cheap`.
    health: Option<usize>,
    slots: Option<usize>,
}

/// Whether `node` has a container slot left (or no cap).
#[inline(always)]
fn slots_left(node: NodeRef<'_>) -> bool {
    match node.container_slots() {
        Some(slots) => (node.container_count() as i64) < slots,
        None => true,
    }
}

/// One step of the fast path: a check of `checks`, or the first or the
/// other expressions of the affinity check.
#[derive(Debug, Clone, Copy)]
enum Step {
    Whole(usize),
    Head(usize, usize),
    Tail(usize, usize),
}

impl<'s, 'p, 'n> Plan<'s, 'p, 'n> {
    /// Compiles `filters` (each with its built-in kind, if it is one) for
    /// `request`; `fast_order` lists the filters cheapest first, `whitelist`
    /// is the whitelist filter's entries.
    pub(crate) fn new(
        filters: &'s [(Box<dyn Filter>, Option<Kind>)],
        fast_order: &[usize],
        whitelist: &'s [Expr],
        request: &'p PreparedRequest<'p>,
        soft: bool,
    ) -> Self {
        let mut checks = Vec::new();
        for (position, (filter, kind)) in filters.iter().enumerate() {
            if !filter.is_active(request, soft) {
                continue;
            }
            let check = match kind {
                Some(Kind::Health) => Check::Health,
                Some(Kind::ContainerSlots) => Check::ContainerSlots,
                Some(Kind::Port) => Check::Port,
                Some(Kind::Dependency) => Check::Dependency,
                Some(Kind::Constraint) => {
                    Check::Constraint(NodeExprs::new(in_force(&request.constraints, soft)))
                }
                Some(Kind::Whitelist) => Check::Whitelist(NodeExprs::new(whitelist.iter())),
                Some(Kind::Affinity) => {
                    let mut exprs: Vec<AffinityExpr<'p, 'n>> = in_force(&request.affinities, soft)
                        .map(AffinityExpr::new)
                        .collect();
                    // a conjunction: any order answers alike
                    exprs.sort_by_key(|e| !e.is_selective());
                    Check::Affinity(exprs)
                }
                None => Check::Custom(filter.as_ref()),
            };
            checks.push((position, check));
        }
        let early = checks
            .iter()
            .enumerate()
            .find_map(|(at, (_, check))| match check {
                Check::Affinity(exprs) => {
                    let selective = exprs.iter().take_while(|e| e.is_selective()).count();
                    (selective > 0).then_some((at, selective))
                }
                _ => None,
            });
        let (mut cheap, mut costly) = (Vec::new(), Vec::new());
        for &position in fast_order {
            let Some(at) = checks.iter().position(|(p, _)| *p == position) else {
                continue;
            };
            match (filters[position].0.cost(), early) {
                (crate::filter::Cost::Node, _) => cheap.push(Step::Whole(at)),
                (crate::filter::Cost::Containers, Some((early, n))) if early == at => {
                    costly.push(Step::Tail(at, n))
                }
                (crate::filter::Cost::Containers, _) => costly.push(Step::Whole(at)),
            }
        }
        if let Some((at, n)) = early {
            let cheapest = cheap
                .iter()
                .take_while(|step| {
                    matches!(step, Step::Whole(at) if matches!(checks[*at].1, Check::Health | Check::ContainerSlots))
                })
                .count();
            cheap.insert(cheapest, Step::Head(at, n));
        }
        // health and slots, a field or two of the node: inline, first
        let position = |wanted: fn(&Check<'s, 'p, 'n>) -> bool| {
            checks
                .iter()
                .find(|(_, check)| wanted(check))
                .map(|(position, _)| *position)
        };
        let health = position(|c| matches!(c, Check::Health));
        let slots = position(|c| matches!(c, Check::ContainerSlots));
        cheap.retain(|step| {
            !matches!(step, Step::Whole(at) if matches!(checks[*at].1, Check::Health | Check::ContainerSlots))
        });
        Plan {
            request,
            soft,
            checks,
            cheap,
            costly,
            health,
            slots,
        }
    }

    /// The health and container slots filters, when active: the position
    /// of the one refusing `node`.
    #[inline(always)]
    fn node_fields_check(&self, node: NodeRef<'n>) -> Result<(), usize> {
        if let Some(position) = self.health {
            if !node.healthy() {
                return Err(position);
            }
        }
        if let Some(position) = self.slots {
            if !slots_left(node) {
                return Err(position);
            }
        }
        Ok(())
    }

    /// Whether the affinity expressions of check `at` before `split` (or
    /// from it on, `early` false) hold.
    #[inline]
    fn affinities_hold(&self, at: usize, split: usize, early: bool, node: NodeRef<'n>) -> bool {
        let Check::Affinity(exprs) = &self.checks[at].1 else {
            return true;
        };
        let (head, tail) = exprs.split_at(split.min(exprs.len()));
        let exprs = if early { head } else { tail };
        exprs.iter().all(|e| e.holds(node))
    }

    #[inline]
    fn accepts(&self, check: &Check<'s, 'p, 'n>, node: NodeRef<'n>) -> bool {
        let request = self.request;
        match check {
            Check::Health => node.healthy(),
            Check::ContainerSlots => slots_left(node),
            Check::Port => crate::filter::Port.accepts(request, node, self.soft),
            Check::Dependency => crate::filter::Dependency.accepts(request, node, self.soft),
            Check::Constraint(exprs) => exprs.all_hold(node),
            Check::Whitelist(entries) => entries.none_or_any_holds(node),
            Check::Affinity(exprs) => exprs.iter().all(|e| e.holds(node)),
            Check::Custom(filter) => filter.accepts(request, node, self.soft),
        }
    }

    /// The request compiled for.
    pub(crate) fn request(&self) -> &'p PreparedRequest<'p> {
        self.request
    }

    #[inline]
    fn step_accepts(&self, step: Step, node: NodeRef<'n>) -> bool {
        match step {
            Step::Whole(at) => self.accepts(&self.checks[at].1, node),
            Step::Head(at, n) => self.affinities_hold(at, n, true, node),
            Step::Tail(at, n) => self.affinities_hold(at, n, false, node),
        }
    }

    /// Whether the filters that look at the node alone (and the selective
    /// affinities) accept it.
    #[inline]
    pub(crate) fn cheap_accepts(&self, node: NodeRef<'n>) -> bool {
        self.node_fields_check(node).is_ok()
            && self.cheap.iter().all(|&step| self.step_accepts(step, node))
    }

    /// Whether the filters that look at its containers and images accept it.
    #[inline]
    pub(crate) fn costly_accepts(&self, node: NodeRef<'n>) -> bool {
        self.costly
            .iter()
            .all(|&step| self.step_accepts(step, node))
    }

    /// [`Plan::cheap_accepts`], refusing with the position (in the
    /// configured order) of the filter that refused.
    #[inline(always)]
    pub(crate) fn cheap_check(&self, node: NodeRef<'n>) -> Result<(), usize> {
        self.node_fields_check(node)?;
        if self.cheap.is_empty() {
            return Ok(());
        }
        self.first_refusal(&self.cheap, node)
    }

    /// [`Plan::costly_accepts`], refusing with the position of the filter
    /// that refused.
    #[inline]
    pub(crate) fn costly_check(&self, node: NodeRef<'n>) -> Result<(), usize> {
        self.first_refusal(&self.costly, node)
    }

    #[inline]
    fn first_refusal(&self, steps: &[Step], node: NodeRef<'n>) -> Result<(), usize> {
        match steps.iter().find(|&&step| !self.step_accepts(step, node)) {
            None => Ok(()),
            Some(Step::Whole(at) | Step::Head(at, _) | Step::Tail(at, _)) => {
                Err(self.checks[*at].0)
            }
        }
    }

    /// The active filters in the configured order: each one's position and
    /// a test of it.
    pub(crate) fn in_order(
        &self,
    ) -> impl Iterator<Item = (usize, impl Fn(NodeRef<'n>) -> bool + '_)> {
        self.checks
            .iter()
            .map(move |(position, check)| (*position, move |node| self.accepts(check, node)))
    }
}
