//! `dependency`: `--volumes-from`, `--link` and `--net=container:X` put the new
//! container on the node that holds X. Each named container must be on the
//! node (found by ID, name or unique prefix, as everywhere in the cluster).

use super::{Cost, Filter, PreparedRequest};
use crate::index::NodeRef;
use crate::request::ContainerRequest;

/// The `dependency` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dependency;

/// `name` of `name:alias` or `name:ro`.
fn name_part(entry: &str) -> &str {
    entry.split(':').next().unwrap_or("")
}

/// The containers the request depends on: the name part of `--volumes-from`
/// (`name:ro`) and `--link` (`name:alias`) entries, and the container of
/// `--net=container:NAME`. Empty names are skipped.
fn dependencies(request: &ContainerRequest) -> impl Iterator<Item = &str> {
    request
        .volumes_from
        .iter()
        .map(|v| name_part(v))
        .chain(request.links.iter().map(|v| name_part(v)))
        .chain(request.network_container())
        .filter(|name| !name.is_empty())
}

impl Filter for Dependency {
    fn name(&self) -> &'static str {
        "dependency"
    }

    fn is_active(&self, request: &PreparedRequest<'_>, _: bool) -> bool {
        dependencies(request.request).next().is_some()
    }

    fn accepts(&self, request: &PreparedRequest<'_>, node: NodeRef<'_>, _: bool) -> bool {
        dependencies(request.request).all(|name| node.has_container(name))
    }

    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>) {
        let request = request.request;
        out.extend(
            request
                .volumes_from
                .iter()
                .map(|v| format!("--volumes-from={v}")),
        );
        out.extend(request.links.iter().map(|l| format!("--link={l}")));
        if request.network_container().is_some() {
            out.push(format!("--net={}", request.network_mode));
        }
    }

    fn cost(&self) -> Cost {
        Cost::Containers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::SWARM_ID_LABEL;
    use crate::testing::*;

    fn nodes() -> Vec<NodeView> {
        vec![
            node("n1").with(container("db")).with(container("data")),
            node("n2").with(container("cache").label(SWARM_ID_LABEL, "swarmid0123456789")),
            node("n3"),
        ]
    }

    fn deps(volumes_from: &[&str], links: &[&str], net: &str) -> ContainerRequest {
        let mut req = request(&[], &[]);
        req.volumes_from = volumes_from.iter().map(|s| s.to_string()).collect();
        req.links = links.iter().map(|s| s.to_string()).collect();
        req.network_mode = net.to_string();
        req
    }

    #[test]
    fn follows_links_volumes_and_network_containers() {
        let nodes = nodes();
        assert_eq!(
            accepted(&Dependency, &deps(&["data:ro"], &[], ""), &nodes, true),
            ["n1"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&[], &["db:database"], ""), &nodes, true),
            ["n1"]
        );
        assert_eq!(
            accepted(
                &Dependency,
                &deps(&[], &[], "container:cache"),
                &nodes,
                true
            ),
            ["n2"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&["data"], &["db"], ""), &nodes, true),
            ["n1"]
        );
        assert!(accepted(&Dependency, &deps(&["data"], &["cache"], ""), &nodes, true).is_empty());
    }

    #[test]
    fn finds_containers_by_names_of_any_length() {
        let long = "l".repeat(200);
        let nodes = vec![
            node("n1").with(container(&long)),
            node("n2").with(container("short")),
        ];
        for (name, on) in [(long.as_str(), "n1"), ("short", "n2"), ("/short", "n2")] {
            assert_eq!(
                accepted(&Dependency, &deps(&[name], &[], ""), &nodes, true),
                [on]
            );
        }
        // by name on its node, `NODE/name`
        let on_node = format!("n1/{long}");
        assert_eq!(
            accepted(&Dependency, &deps(&[], &[&on_node], ""), &nodes, true),
            ["n1"]
        );
        assert!(accepted(&Dependency, &deps(&[&long[1..]], &[], ""), &nodes, true).is_empty());
    }

    #[test]
    fn finds_containers_by_id_prefix_and_swarm_id() {
        let nodes = nodes();
        let db_id = hex_id("db");
        assert_eq!(
            accepted(&Dependency, &deps(&[], &[&db_id[..12]], ""), &nodes, true),
            ["n1"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&[], &[&db_id[..5]], ""), &nodes, true),
            ["n1"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&["swarmid0123"], &[], ""), &nodes, true),
            ["n2"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&["n1/db"], &[], ""), &nodes, true),
            ["n1"]
        );
        assert_eq!(
            accepted(&Dependency, &deps(&["/db"], &[], ""), &nodes, true),
            ["n1"]
        );
    }

    #[test]
    fn an_id_prefix_must_be_unique_on_the_node() {
        let mut twin = container("twin");
        twin.id = format!("{}{}", &hex_id("db")[..20], "0".repeat(44)).into();
        let nodes = vec![node("n1").with(container("db")).with(twin), node("n2")];
        let db_id = hex_id("db");
        assert!(accepted(&Dependency, &deps(&[], &[&db_id[..20]], ""), &nodes, true).is_empty());
        assert_eq!(
            accepted(&Dependency, &deps(&[], &[&db_id], ""), &nodes, true),
            ["n1"]
        );
        // an ID and a Swarm ID of one container with the prefix count twice
        let same = container("same").label(SWARM_ID_LABEL, &hex_id("same"));
        let nodes = vec![node("n1").with(same)];
        let prefix = &hex_id("same")[..8];
        assert!(accepted(&Dependency, &deps(&[], &[prefix], ""), &nodes, true).is_empty());
    }

    #[test]
    fn without_dependencies_it_is_inactive_and_accepts_all() {
        let nodes = nodes();
        let req = deps(&[], &[], "bridge");
        assert_eq!(accepted(&Dependency, &req, &nodes, true).len(), 3);
        assert!(!Dependency.is_active(&PreparedRequest::new(&req).unwrap(), true));
    }

    #[test]
    fn lists_dependencies_as_flags() {
        assert_eq!(
            conditions(
                &Dependency,
                &deps(&["data:ro"], &["db:database"], "container:cache")
            ),
            [
                "--volumes-from=data:ro",
                "--link=db:database",
                "--net=container:cache"
            ]
        );
    }
}
