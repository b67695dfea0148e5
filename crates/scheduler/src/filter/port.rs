//! `port`: a requested host port excludes the nodes where a container
//! (running or not, or being created) already binds it on the same address
//! or on all interfaces. With host networking, the exposed ports of the
//! request are compared with those of the node's host-networked containers.
//!
//! Better than classic Swarm: the protocol counts, so `53/udp` and `53/tcp`
//! do not conflict (the engine allows both on one host).

use super::{Cost, Filter, PreparedRequest};
use crate::index::NodeRef;
use crate::node::{ContainerView, PortBinding};

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

    fn accepts(&self, request: &PreparedRequest<'_>, node: NodeRef<'_>, _: bool) -> bool {
        let index = node.index();
        let rest = node.unindexed_containers();
        if request.request.host_network() {
            return request.request.exposed_ports.iter().all(|port| {
                !index.is_some_and(|i| i.host_exposed().any(|p| same_exposed_port(p, port)))
                    && !rest.clone().any(|c| exposes(c, port))
            });
        }
        requested(request).all(|wanted| {
            !index.is_some_and(|i| {
                i.may_bind(wanted.host_port, wanted.protocol())
                    && i.bindings().iter().any(|b| conflicts(wanted, b))
            }) && !rest
                .clone()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn with_bindings(bindings: &[(&str, u16, &str)]) -> crate::request::ContainerRequest {
        let mut req = request(&[], &[]);
        req.port_bindings = bindings
            .iter()
            .map(|&(ip, port, proto)| PortBinding {
                host_ip: ip.into(),
                host_port: port,
                protocol: proto.into(),
            })
            .collect();
        req
    }

    #[test]
    fn a_bound_port_excludes_the_node() {
        let nodes = [
            node("busy").with(container("web").bind("", 8080, "tcp")),
            node("free").with(container("other").bind("0.0.0.0", 9090, "tcp")),
            node("empty"),
        ];
        assert_eq!(
            accepted(&Port, &with_bindings(&[("", 8080, "")]), &nodes, true),
            ["free", "empty"]
        );
        assert_eq!(
            accepted(
                &Port,
                &with_bindings(&[("", 8080, ""), ("", 9090, "")]),
                &nodes,
                true
            ),
            ["empty"]
        );
    }

    #[test]
    fn interfaces_conflict_when_equal_or_when_one_binds_all() {
        let nodes = [
            node("ip1").with(container("a").bind("10.0.0.1", 80, "tcp")),
            node("all").with(container("b").bind("0.0.0.0", 80, "tcp")),
            node("none"),
        ];
        assert_eq!(
            accepted(
                &Port,
                &with_bindings(&[("10.0.0.1", 80, "tcp")]),
                &nodes,
                true
            ),
            ["none"]
        );
        assert_eq!(
            accepted(
                &Port,
                &with_bindings(&[("10.0.0.2", 80, "tcp")]),
                &nodes,
                true
            ),
            ["ip1", "none"]
        );
        assert_eq!(
            accepted(&Port, &with_bindings(&[("", 80, "tcp")]), &nodes, true),
            ["none"]
        );
    }

    #[test]
    fn protocols_do_not_conflict_with_each_other() {
        let nodes = [node("dns").with(container("dns").bind("", 53, "udp"))];
        assert_eq!(
            accepted(&Port, &with_bindings(&[("", 53, "tcp")]), &nodes, true),
            ["dns"]
        );
        assert!(accepted(&Port, &with_bindings(&[("", 53, "udp")]), &nodes, true).is_empty());
    }

    #[test]
    fn unnamed_host_ports_never_conflict() {
        let nodes = [node("n").with(container("a").bind("", 0, "tcp"))];
        assert_eq!(
            accepted(&Port, &with_bindings(&[("", 0, "tcp")]), &nodes, true),
            ["n"]
        );
        let prepared_req = with_bindings(&[("", 0, "tcp")]);
        assert!(!Port.is_active(&PreparedRequest::new(&prepared_req).unwrap(), true));
    }

    #[test]
    fn host_networking_compares_exposed_ports() {
        let nodes = [
            node("host80").with(container("a").host_exposing(&["80/tcp"])),
            node("bridge80").with(container("b").bind("", 80, "tcp")),
            node("exposed-not-host").with(ContainerView {
                exposed_ports: ["80/tcp".into()].into(),
                ..container("c")
            }),
        ];
        let mut req = request(&[], &[]);
        req.network_mode = "host".into();
        req.exposed_ports = vec!["80".into()];
        assert_eq!(
            accepted(&Port, &req, &nodes, true),
            ["bridge80", "exposed-not-host"]
        );
        assert_eq!(conditions(&Port, &req), ["port 80 (Host mode)"]);
    }

    #[test]
    fn lists_requested_ports() {
        assert_eq!(
            conditions(
                &Port,
                &with_bindings(&[("", 8080, ""), ("10.0.0.1", 443, "tcp")])
            ),
            ["port 8080 (Bridge mode)", "port 443 (Bridge mode)"]
        );
    }
}
