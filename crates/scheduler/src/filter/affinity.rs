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
use crate::index::{is_id_prefix, NodeRef};
use crate::node::{short_id, ContainerView, ImageView};

/// The `affinity` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Affinity;

/// What a container offers to `container==`: its name (without `/`; the
/// likeliest hit, so first), its ID and its short ID. A container without a
/// name offers nothing.
pub(crate) fn container_names(container: &ContainerView) -> impl Iterator<Item = &str> {
    container
        .name()
        .into_iter()
        .flat_map(|name| [Some(name), Some(&*container.id), short_id(&container.id)])
        .flatten()
}

pub(crate) fn container_matches(expr: &Expr, container: &ContainerView) -> bool {
    container_names(container).any(|name| expr.pattern_matches(name))
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

/// The ID of `image` without `sha256:`.
pub(crate) fn bare_id(image: &ImageView) -> &str {
    image.id.strip_prefix("sha256:").unwrap_or(&image.id)
}

/// What an image offers to `image==`: its ID with and without `sha256:`,
/// each `repo:tag` and each repository.
pub(crate) fn image_names(image: &ImageView) -> impl Iterator<Item = &str> {
    [image.id.as_str(), bare_id(image)].into_iter().chain(
        image
            .repo_tags
            .iter()
            .flat_map(|tag| [tag.as_str(), repository(tag)]),
    )
}

fn image_matches(expr: &Expr, image: &ImageView) -> bool {
    image_names(image).any(|name| expr.pattern_matches(name))
        || expr
            .plain_value()
            .is_some_and(|plain| is_id_prefix(plain) && bare_id(image).starts_with(plain))
}

pub(crate) fn label_matches(expr: &Expr, container: &ContainerView) -> bool {
    expr.pattern_matches(expr.label_by(|k| container.labels.get(k)).unwrap_or(""))
}

/// Whether `node` satisfies `expr`, read as an affinity: through the node's
/// index when it has one, for the containers it covers.
pub(crate) fn node_matches(expr: &Expr, node: NodeRef<'_>) -> bool {
    let index = node.index();
    let matched = match expr.key() {
        "container" => match index.and_then(|i| i.any_container(expr)) {
            Some(matched) => {
                matched
                    || node
                        .unindexed_containers()
                        .any(|c| container_matches(expr, c))
            }
            None => node.containers().any(|c| container_matches(expr, c)),
        },
        "image" => match index.and_then(|i| i.any_image(node.view(), expr)) {
            Some(matched) => matched,
            None => node.view().images.iter().any(|i| image_matches(expr, i)),
        },
        _ => match index.and_then(|i| i.any_label(expr)) {
            Some(matched) => matched || node.unindexed_containers().any(|c| label_matches(expr, c)),
            None => node.containers().any(|c| label_matches(expr, c)),
        },
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

    fn accepts(&self, request: &PreparedRequest<'_>, node: NodeRef<'_>, soft: bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    const REDIS_ID: &str =
        "sha256:4f7ad1a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd";

    fn nodes() -> Vec<NodeView> {
        vec![
            node("n1")
                .with(container("web-1").label("app", "web"))
                .image(REDIS_ID, &["redis:6", "redis:latest"]),
            node("n2")
                .with(container("db").label("app", "db"))
                .image("sha256:0011", &["localhost:5000/test:v1"]),
            node("n3"),
        ]
    }

    fn accept(affinities: &[&str]) -> Vec<String> {
        let nodes = nodes();
        accepted(&Affinity, &request(&[], affinities), &nodes, true)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn container_by_name_id_short_id_and_glob() {
        let id = hex_id("web-1");
        assert_eq!(accept(&["container==web-1"]), ["n1"]);
        assert_eq!(accept(&[&format!("container=={id}")]), ["n1"]);
        assert_eq!(accept(&[&format!("container=={}", &id[..12])]), ["n1"]);
        assert_eq!(accept(&["container==web-*"]), ["n1"]);
        assert_eq!(accept(&["container!=web-1"]), ["n2", "n3"]);
        assert!(accept(&["container==web"]).is_empty());
    }

    #[test]
    fn image_by_id_prefix_tag_and_repository() {
        assert_eq!(accept(&["image==redis"]), ["n1"]);
        assert_eq!(accept(&["image==redis:6"]), ["n1"]);
        assert_eq!(accept(&["image==redis:latest"]), ["n1"]);
        assert!(accept(&["image==redis:7"]).is_empty());
        assert_eq!(accept(&[&format!("image=={REDIS_ID}")]), ["n1"]);
        assert_eq!(accept(&["image==4f7ad1a1b2c3"]), ["n1"]);
        assert_eq!(accept(&["image==localhost:5000/test"]), ["n2"]);
        assert_eq!(accept(&["image==localhost:5000/test:v1"]), ["n2"]);
        assert_eq!(accept(&["image!=redis"]), ["n2", "n3"]);
        assert_eq!(accept(&["image==redis*"]), ["n1"]);
    }

    #[test]
    fn container_labels() {
        assert_eq!(accept(&["app==web"]), ["n1"]);
        assert_eq!(accept(&["app!=web"]), ["n2", "n3"]);
        assert_eq!(accept(&["app==*"]), ["n1", "n2"]);
        // A container without the label offers "", a node without containers nothing.
        assert_eq!(accept(&["tier==*"]), ["n1", "n2"]);
        assert_eq!(accept(&["APP==db"]), ["n2"]);
    }

    #[test]
    fn repository_of_a_name() {
        assert_eq!(repository("redis:6"), "redis");
        assert_eq!(repository("redis"), "redis");
        assert_eq!(repository("localhost:5000/test"), "localhost:5000/test");
        assert_eq!(repository("localhost:5000/test:v1"), "localhost:5000/test");
        assert_eq!(repository("busybox@sha256:abcd"), "busybox");
    }

    #[test]
    fn soft_affinities_are_dropped_on_the_second_try() {
        let nodes = nodes();
        let req = request(&[], &["image==~not_exist", "image==redis"]);
        assert!(accepted(&Affinity, &req, &nodes, true).is_empty());
        assert_eq!(accepted(&Affinity, &req, &nodes, false), ["n1"]);
    }

    #[test]
    fn lists_affinities_with_their_softness() {
        assert_eq!(
            conditions(
                &Affinity,
                &request(&[], &["test.label!=true", "image==~redis"])
            ),
            ["test.label!=true (soft=false)", "image==redis (soft=true)"]
        );
    }
}
