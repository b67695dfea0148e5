//! `affinity`: expressions on what is already on the node.
//!
//! - `container==X` matches the ID or the name of any container on the node
//!   (also its 12-character short ID, which classic Swarm did not accept);
//! - `image==X` matches any image on the node by ID (with or without
//!   `sha256:`), by `repo:tag`, or by repository alone (so `image==redis`
//!   takes any tag of `redis`); a plain hexadecimal value of 3 or more
//!   characters also matches as an ID prefix, as image lookups do;
//! - any other key is a container label: `KEY==VALUE` holds when a container
//!   on the node carries the label with a matching value (a container without
//!   the label offers the empty string).
//!
//! `!=` holds when nothing on the node matches, so `container!=web` keeps
//! replicas apart.

use super::{in_force, Cost, Filter, PreparedRequest};
use crate::expr::Expr;
use crate::node::{ContainerView, ImageView, NodeView, SHORT_ID_LEN};

/// The `affinity` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Affinity;

fn container_matches(expr: &Expr, container: &ContainerView) -> bool {
    let Some(name) = container.name() else {
        return false;
    };
    expr.pattern_matches(&container.id)
        || expr.pattern_matches(name)
        || (container.id.len() > SHORT_ID_LEN
            && expr.pattern_matches(&container.id[..SHORT_ID_LEN]))
}

/// The repository of `repo:tag`: what precedes the last `:` unless that `:`
/// belongs to a registry's `host:port` (a `/` follows it). A digest
/// (`repo@sha256:...`) is cut at the `@`.
pub(crate) fn repository(name: &str) -> &str {
    if let Some((repo, _)) = name.split_once('@') {
        return repo;
    }
    match name.rfind(':') {
        Some(colon) if !name[colon + 1..].contains('/') => &name[..colon],
        _ => name,
    }
}

fn image_matches(expr: &Expr, image: &ImageView) -> bool {
    let bare_id = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
    if expr.pattern_matches(&image.id) || expr.pattern_matches(bare_id) {
        return true;
    }
    if let Some(plain) = expr.plain_value() {
        if plain.len() >= 3
            && plain.bytes().all(|b| b.is_ascii_hexdigit())
            && bare_id.starts_with(plain)
        {
            return true;
        }
    }
    image
        .repo_tags
        .iter()
        .any(|tag| expr.pattern_matches(tag) || expr.pattern_matches(repository(tag)))
}

/// Whether `node` satisfies `expr`, read as an affinity.
pub(crate) fn node_matches(expr: &Expr, node: &NodeView) -> bool {
    let matched = match expr.key() {
        "container" => node.containers.iter().any(|c| container_matches(expr, c)),
        "image" => node.images.iter().any(|i| image_matches(expr, i)),
        key => node
            .containers
            .iter()
            .any(|c| expr.pattern_matches(c.labels.get(key).map_or("", String::as_str))),
    };
    expr.holds(matched)
}

impl Filter for Affinity {
    fn name(&self) -> &'static str {
        "affinity"
    }

    fn is_active(&self, request: &PreparedRequest<'_>, soft: bool) -> bool {
        in_force(&request.affinities, soft).next().is_some()
    }

    fn accepts(&self, request: &PreparedRequest<'_>, node: &NodeView, soft: bool) -> bool {
        in_force(&request.affinities, soft).all(|expr| node_matches(expr, node))
    }

    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>) {
        out.extend(
            request
                .affinities
                .iter()
                .map(|e| format!("{} (soft={})", e.condition(), e.is_soft())),
        );
    }

    fn cost(&self) -> Cost {
        Cost::Containers
    }
}
