//! `dependency`: `--volumes-from`, `--link` and `--net=container:X` put the new
//! container on the node that holds X. Each named container must be on the
//! node (found by ID, name or unique prefix, as everywhere in the cluster).

use super::{Cost, Filter, PreparedRequest};
use crate::node::NodeView;
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

    fn accepts(&self, request: &PreparedRequest<'_>, node: &NodeView, _: bool) -> bool {
        dependencies(request.request).all(|name| node.find_container(name).is_some())
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
