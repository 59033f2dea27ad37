//! The brute-force evaluator: Kubernetes NetworkPolicy semantics and the network-policy-api tier rules written out
//! as plainly as possible, sharing nothing with the engine but the model types. The property test
//! (`brute_force.rs`) and the engine fuzz target (`fuzz/fuzz_targets/engine.rs`) both hold the engine against it.

#![allow(dead_code)]

use netseg_engine::{Endpoint, PortSet};
use netseg_model::cidr::Cidr;
use netseg_model::*;
use std::net::IpAddr;

// ---------------------------------------------------------------------------------------------------------------
// Port bitmap
// ---------------------------------------------------------------------------------------------------------------

/// 65536 bits per protocol.
pub const WORDS: usize = 1024;

pub fn proto_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

/// Allowed ports: bit `port` of protocol `p` lives at word `p * WORDS + port / 64`, bit `port % 64`.
#[derive(Clone, PartialEq, Eq)]
pub struct Bits {
    pub words: Vec<u64>,
}

impl Bits {
    pub fn none() -> Bits {
        Bits { words: vec![0; 3 * WORDS] }
    }

    pub fn all() -> Bits {
        let mut bits = Bits::none();
        for protocol in Protocol::ALL {
            bits.add_range(protocol, 1, 65535);
        }
        bits
    }

    pub fn add_range(&mut self, protocol: Protocol, lo: u16, hi: u16) {
        let base = proto_index(protocol) * WORDS;
        let (hi, mut port) = (usize::from(hi), usize::from(lo));
        while port <= hi {
            let (word, bit) = (port / 64, port % 64);
            if bit == 0 && port + 63 <= hi {
                self.words[base + word] = u64::MAX;
                port += 64;
            } else {
                self.words[base + word] |= 1u64 << bit;
                port += 1;
            }
        }
    }

    pub fn has(&self, protocol: Protocol, port: u16) -> bool {
        let port = usize::from(port);
        self.words[proto_index(protocol) * WORDS + port / 64] >> (port % 64) & 1 == 1
    }

    pub fn union_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }

    pub fn intersect_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub fn minus(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !*b;
        }
    }

    /// Sorted, maximal, inclusive ranges of one protocol.
    pub fn ranges(&self, protocol: Protocol) -> Vec<(u16, u16)> {
        let base = proto_index(protocol) * WORDS;
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let mut port = 0usize;
        while port < 65536 {
            let word = self.words[base + port / 64];
            // Skip a whole word that does not change the current state.
            if port % 64 == 0 && ((word == 0 && start.is_none()) || (word == u64::MAX && start.is_some())) {
                port += 64;
                continue;
            }
            let set = word >> (port % 64) & 1 == 1;
            match (set, start) {
                (true, None) => start = Some(port),
                (false, Some(s)) => {
                    out.push((to_port(s), to_port(port - 1)));
                    start = None;
                }
                _ => {}
            }
            port += 1;
        }
        if let Some(s) = start {
            out.push((to_port(s), 65535));
        }
        out
    }
}

pub fn to_port(n: usize) -> u16 {
    u16::try_from(n).expect("ports are below 65536")
}

impl std::fmt::Debug for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_ranges(|p| self.ranges(p)))
    }
}

pub fn format_ranges(ranges: impl Fn(Protocol) -> Vec<(u16, u16)>) -> String {
    let mut parts = Vec::new();
    for protocol in Protocol::ALL {
        for (lo, hi) in ranges(protocol) {
            parts.push(if lo == hi { format!("{protocol}/{lo}") } else { format!("{protocol}/{lo}-{hi}") });
        }
    }
    if parts.is_empty() {
        "(nothing)".to_string()
    } else {
        parts.join(" ")
    }
}

pub fn engine_ranges(set: &PortSet) -> String {
    format_ranges(|p| set.ranges(p).to_vec())
}

// ---------------------------------------------------------------------------------------------------------------
// Brute-force evaluator
// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Pod { workload: usize, pod: usize },
    Address(IpAddr),
}

impl End {
    pub fn to_engine(self) -> Endpoint {
        match self {
            End::Pod { workload, pod } => Endpoint::Pod { workload, pod },
            End::Address(a) => Endpoint::Address(a),
        }
    }
}

pub fn requirement_matches(req: &Requirement, labels: &Labels) -> bool {
    let value = labels.get(req.key.as_str()).map(|v| &**v);
    match req.operator {
        Operator::In => match value {
            Some(v) => req.values.iter().any(|x| x == v),
            None => false,
        },
        Operator::NotIn => match value {
            Some(v) => !req.values.iter().any(|x| x == v),
            None => true,
        },
        Operator::Exists => value.is_some(),
        Operator::DoesNotExist => value.is_none(),
    }
}

pub fn selector_matches(sel: &LabelSelector, labels: &Labels) -> bool {
    for (k, v) in &sel.match_labels {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    for req in &sel.match_expressions {
        if !requirement_matches(req, labels) {
            return false;
        }
    }
    true
}

pub fn ip_bits(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(v4) => (true, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (false, u128::from(v6)),
    }
}

pub fn cidr_has(cidr: &Cidr, addr: IpAddr) -> bool {
    let (cidr_v4, network) = ip_bits(cidr.network);
    let (addr_v4, value) = ip_bits(addr);
    if cidr_v4 != addr_v4 {
        return false;
    }
    let width: u32 = if cidr_v4 { 32 } else { 128 };
    let host_bits = width - u32::from(cidr.prefix);
    if host_bits >= 128 {
        return true;
    }
    (network >> host_bits) == (value >> host_bits)
}

pub fn block_has(block: &IpBlock, addr: IpAddr) -> bool {
    if !cidr_has(&block.cidr, addr) {
        return false;
    }
    for except in &block.except {
        if cidr_has(except, addr) {
            return false;
        }
    }
    true
}

pub fn pod_of(cluster: &Cluster, workload: usize, pod: usize) -> (&str, &PodFacts) {
    let w = &cluster.workloads[workload];
    (w.id.namespace.as_str(), &w.pods[pod].facts)
}

pub fn namespace_labels<'a>(cluster: &'a Cluster, name: &str) -> Option<&'a Labels> {
    cluster.namespaces.iter().find(|ns| ns.name == name).map(|ns| &ns.labels)
}

/// policyTypes defaulting, written out: absent means Ingress, plus Egress when there are egress rules.
pub fn effective_types(policy: &NetworkPolicy) -> (bool, bool) {
    match &policy.declared_policy_types {
        Some(types) => (types.contains(&Direction::Ingress), types.contains(&Direction::Egress)),
        None => (true, !policy.egress.is_empty()),
    }
}

pub fn policy_selects(cluster: &Cluster, policy: &NetworkPolicy, workload: usize, pod: usize) -> bool {
    let (namespace, facts) = pod_of(cluster, workload, pod);
    !facts.host_network && policy.namespace == namespace && selector_matches(&policy.pod_selector, &facts.labels)
}

pub fn peer_matches(cluster: &Cluster, policy: &NetworkPolicy, peer: &Peer, other: End) -> bool {
    match (&peer.selector, other) {
        (PeerSelector::Pods { .. }, End::Address(_)) => false,
        (PeerSelector::Pods { namespaces, pods }, End::Pod { workload, pod }) => {
            let (namespace, facts) = pod_of(cluster, workload, pod);
            if facts.host_network {
                return false;
            }
            let namespace_ok = match namespaces {
                None => namespace == policy.namespace,
                Some(sel) => match namespace_labels(cluster, namespace) {
                    Some(labels) => selector_matches(sel, labels),
                    None => panic!("namespace {namespace} missing from the cluster"),
                },
            };
            let pod_ok = match pods {
                None => true,
                Some(sel) => selector_matches(sel, &facts.labels),
            };
            namespace_ok && pod_ok
        }
        (PeerSelector::IpBlock(block), End::Address(a)) => block_has(block, a),
        (PeerSelector::IpBlock(block), End::Pod { workload, pod }) => {
            let (_, facts) = pod_of(cluster, workload, pod);
            facts.ips.iter().any(|ip| block_has(block, *ip))
        }
    }
}

/// The ports a rule opens toward `destination`.
pub fn rule_ports(cluster: &Cluster, rule: &PolicyRule, destination: End) -> Bits {
    if rule.ports.is_empty() {
        return Bits::all();
    }
    let mut bits = Bits::none();
    for entry in &rule.ports {
        match (&entry.port, entry.end_port) {
            (None, _) => bits.add_range(entry.protocol, 1, 65535),
            (Some(PortRef::Number(n)), Some(end)) => bits.add_range(entry.protocol, *n, end),
            (Some(PortRef::Number(n)), None) => bits.add_range(entry.protocol, *n, *n),
            (Some(PortRef::Name(name)), _) => {
                if let End::Pod { workload, pod } = destination {
                    let (_, facts) = pod_of(cluster, workload, pod);
                    for cp in &facts.ports {
                        if cp.name.as_deref() == Some(name.as_str()) && cp.protocol == entry.protocol {
                            bits.add_range(entry.protocol, cp.port, cp.port);
                        }
                    }
                }
            }
        }
    }
    bits
}

/// What `subject` (a pod) allows in `direction` with `other`; the destination of the traffic is the subject for
/// ingress and `other` for egress.
pub fn side(cluster: &Cluster, subject: End, other: End, direction: Direction) -> Bits {
    let End::Pod { workload, pod } = subject else {
        return Bits::all();
    };
    let destination = match direction {
        Direction::Ingress => subject,
        Direction::Egress => other,
    };
    if pod_of(cluster, workload, pod).1.host_network {
        // The node: no NetworkPolicy and no admin policy has it as subject.
        return Bits::all();
    }
    // Ports are decided one tier at a time; what a tier leaves (or passes) goes on.
    let mut undecided = Bits::all();
    let mut decided_allowed = Bits::none();
    ordered_tier(cluster, Tier::Admin, subject, other, direction, &mut undecided, &mut decided_allowed);
    let mut isolated = false;
    let mut allowed = Bits::none();
    for policy in &cluster.policies {
        if !policy_selects(cluster, policy, workload, pod) {
            continue;
        }
        let (ingress, egress) = effective_types(policy);
        let (applies, rules) = match direction {
            Direction::Ingress => (ingress, &policy.ingress),
            Direction::Egress => (egress, &policy.egress),
        };
        if !applies {
            continue;
        }
        isolated = true;
        for rule in rules {
            let peers_ok = rule.peers.is_empty() || rule.peers.iter().any(|p| peer_matches(cluster, policy, p, other));
            if peers_ok {
                allowed.union_with(&rule_ports(cluster, rule, destination));
            }
        }
    }
    if isolated {
        allowed.intersect_with(&undecided);
        decided_allowed.union_with(&allowed);
        return decided_allowed;
    }
    ordered_tier(cluster, Tier::Baseline, subject, other, direction, &mut undecided, &mut decided_allowed);
    decided_allowed.union_with(&undecided);
    decided_allowed
}

/// One ordered tier: policies by (priority, kind, name), stable; rules in order; the first rule that matches a port
/// decides it. Allow adds to `allowed`; Deny drops it; Pass leaves it undecided for the next tier.
pub fn ordered_tier(
    cluster: &Cluster,
    tier: Tier,
    subject: End,
    other: End,
    direction: Direction,
    undecided: &mut Bits,
    allowed: &mut Bits,
) {
    let End::Pod { workload, pod } = subject else { return };
    let mut policies: Vec<&AdminPolicy> = cluster
        .admin_policies
        .iter()
        .filter(|p| p.tier == tier)
        .filter(|p| p.kind != AdminPolicyKind::BaselineAdminNetworkPolicy || p.name == "default")
        .collect();
    policies.sort_by(|a, b| (a.priority, a.kind, &a.name).cmp(&(b.priority, b.kind, &b.name)));
    let mut passed = Bits::none();
    for policy in policies {
        if !admin_pods_match(cluster, &policy.subject, workload, pod) {
            continue;
        }
        let rules = match direction {
            Direction::Ingress => &policy.ingress,
            Direction::Egress => &policy.egress,
        };
        for rule in rules {
            if !rule.peers.iter().any(|peer| admin_peer_matches(cluster, &peer.selector, other)) {
                continue;
            }
            let destination = match direction {
                Direction::Ingress => subject,
                Direction::Egress => other,
            };
            let mut ports = admin_rule_ports(cluster, rule, destination);
            ports.intersect_with(undecided);
            match rule.action {
                AdminAction::Allow => allowed.union_with(&ports),
                AdminAction::Deny => {}
                AdminAction::Pass => passed.union_with(&ports),
            }
            undecided.minus(&ports);
        }
    }
    undecided.union_with(&passed);
}

pub fn admin_pods_match(cluster: &Cluster, pods: &AdminPods, workload: usize, pod: usize) -> bool {
    let (namespace, facts) = pod_of(cluster, workload, pod);
    if facts.host_network {
        return false;
    }
    let Some(namespace_labels) = namespace_labels(cluster, namespace) else { return false };
    match pods {
        AdminPods::Namespaces(ns) => selector_matches(ns, namespace_labels),
        AdminPods::Pods { namespaces, pods } => {
            selector_matches(namespaces, namespace_labels) && selector_matches(pods, &facts.labels)
        }
    }
}

pub fn admin_peer_matches(cluster: &Cluster, peer: &AdminPeerSelector, other: End) -> bool {
    match (peer, other) {
        (AdminPeerSelector::Pods(pods), End::Pod { workload, pod }) => admin_pods_match(cluster, pods, workload, pod),
        (AdminPeerSelector::Pods(_), End::Address(_)) => false,
        (AdminPeerSelector::Networks(cidrs), End::Address(a)) => cidrs.iter().any(|c| cidr_has(c, a)),
        (AdminPeerSelector::Networks(cidrs), End::Pod { workload, pod }) => {
            pod_of(cluster, workload, pod).1.ips.iter().any(|ip| cidrs.iter().any(|c| cidr_has(c, *ip)))
        }
        (AdminPeerSelector::Nodes(sel), End::Address(a)) => {
            cluster.nodes.iter().any(|n| selector_matches(sel, &n.labels) && n.addresses.contains(&a))
        }
        (AdminPeerSelector::Nodes(sel), End::Pod { workload, pod }) => {
            let facts = pod_of(cluster, workload, pod).1;
            if !facts.host_network {
                return false;
            }
            let named = facts.node_name.as_ref().and_then(|name| cluster.nodes.iter().find(|n| &n.name == name));
            if let Some(node) = named {
                return selector_matches(sel, &node.labels);
            }
            // Placement unknown: the nodes whose address the pod has; with none, any node.
            let by_ip: Vec<_> =
                cluster.nodes.iter().filter(|n| n.addresses.iter().any(|a| facts.ips.contains(a))).collect();
            if by_ip.is_empty() {
                sel.is_empty() || cluster.nodes.iter().any(|n| selector_matches(sel, &n.labels))
            } else {
                by_ip.iter().any(|n| selector_matches(sel, &n.labels))
            }
        }
        (AdminPeerSelector::DomainNames(_), End::Address(_)) => true,
        (AdminPeerSelector::DomainNames(_), End::Pod { .. }) => false,
    }
}

/// An admin rule's ports toward `destination`: names resolve on its container ports, whatever their protocol.
pub fn admin_rule_ports(cluster: &Cluster, rule: &AdminRule, destination: End) -> Bits {
    let Some(entries) = &rule.ports else { return Bits::all() };
    let mut bits = Bits::none();
    for entry in entries {
        match &entry.port {
            AdminPort::Number { protocol, port } => bits.add_range(*protocol, *port, *port),
            AdminPort::Range { protocol, start, end } => bits.add_range(*protocol, *start, *end),
            AdminPort::Named(name) => {
                if let End::Pod { workload, pod } = destination {
                    for cp in &pod_of(cluster, workload, pod).1.ports {
                        if cp.name.as_deref() == Some(name.as_str()) {
                            bits.add_range(cp.protocol, cp.port, cp.port);
                        }
                    }
                }
            }
        }
    }
    bits
}

pub fn brute_allowed(cluster: &Cluster, src: End, dst: End) -> Bits {
    if src == dst {
        if let End::Pod { .. } = src {
            return Bits::all();
        }
    }
    if let (End::Address(_), End::Address(_)) = (src, dst) {
        return Bits::all();
    }
    let mut allowed = side(cluster, src, dst, Direction::Egress);
    if allowed.is_empty() {
        return allowed;
    }
    allowed.intersect_with(&side(cluster, dst, src, Direction::Ingress));
    allowed
}
