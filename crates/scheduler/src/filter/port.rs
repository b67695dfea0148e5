//! `port`: a requested host port excludes the nodes where a container
//! (running or not, or being created) already binds it on the same address
//! or on all interfaces. With host networking, the exposed ports of the
//! request are compared with those of the node's host-networked containers.
//!
//! Better than classic Swarm: the protocol counts, so `53/udp` and `53/tcp`
//! do not conflict (the engine allows both on one host).

use super::{Cost, Filter, PreparedRequest};
use crate::node::{ContainerView, NodeView, PortBinding};

/// The `port` filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Port;

/// `80/tcp` as (`80`, `tcp`), `80` too.
fn normal_port(port: &str) -> (&str, &str) {
    port.split_once('/').unwrap_or((port, "tcp"))
}

/// `80` and `80/tcp` are the same exposed port.
fn same_exposed_port(a: &str, b: &str) -> bool {
    normal_port(a) == normal_port(b)
}

/// The requested bindings that name a host port.
fn requested<'a>(request: &'a PreparedRequest<'_>) -> impl Iterator<Item = &'a PortBinding> {
    request
        .request
        .port_bindings
        .iter()
        .filter(|b| b.host_port != 0)
}

fn conflicts(requested: &PortBinding, existing: &PortBinding) -> bool {
    existing.host_port == requested.host_port
        && existing.protocol() == requested.protocol()
        && (existing.host_ip == requested.host_ip
            || existing.binds_all_interfaces()
            || requested.binds_all_interfaces())
}

fn exposes(container: &ContainerView, port: &str) -> bool {
    container.host_network
        && container
            .exposed_ports
            .iter()
            .any(|p| same_exposed_port(p, port))
}

impl Filter for Port {
    fn name(&self) -> &'static str {
        "port"
    }

    fn is_active(&self, request: &PreparedRequest<'_>, _: bool) -> bool {
        if request.request.host_network() {
            !request.request.exposed_ports.is_empty()
        } else {
            requested(request).next().is_some()
        }
    }

    fn accepts(&self, request: &PreparedRequest<'_>, node: &NodeView, _: bool) -> bool {
        if request.request.host_network() {
            return request
                .request
                .exposed_ports
                .iter()
                .all(|port| !node.containers.iter().any(|c| exposes(c, port)));
        }
        requested(request).all(|wanted| {
            !node
                .containers
                .iter()
                .any(|c| c.port_bindings.iter().any(|b| conflicts(wanted, b)))
        })
    }

    fn conditions(&self, request: &PreparedRequest<'_>, out: &mut Vec<String>) {
        if request.request.host_network() {
            out.extend(
                request
                    .request
                    .exposed_ports
                    .iter()
                    .map(|p| format!("port {p} (Host mode)")),
            );
        } else {
            out.extend(requested(request).map(|b| format!("port {} (Bridge mode)", b.host_port)));
        }
    }

    fn cost(&self) -> Cost {
        Cost::Containers
    }
}
