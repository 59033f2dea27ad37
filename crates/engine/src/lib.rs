//! netseg's engine: exact Kubernetes network policy semantics, evaluated over pod classes.
//!
//! The public surface is small: build an [`Analysis`] from a cluster, then ask [`Analysis::allowed`] for one pair,
//! [`Analysis::explain`] for why, [`Analysis::workload_connections`] or [`Analysis::reach`] for everything.

pub mod addresses;
mod classes;
pub mod portset;
pub mod query;
pub mod rules;

use addresses::IpRange;
use classes::{ClassId, Classes};
use netseg_model::{Cluster, Direction};
use rules::{direction_slot, Action, OrderedRule, Other, PolicyTier, RuleOrigin};
use std::collections::HashMap;
use std::net::IpAddr;

pub use portset::PortSet;

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `cluster.workloads[workload].pods[pod]`.
    Pod { workload: usize, pod: usize },
    /// An address outside the cluster. Never treated as a pod, even where it equals a pod IP: resolve those first.
    Address(IpAddr),
}

/// A rule that allowed some ports on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    pub origin: RuleOrigin,
    /// The index of the peer that matched; `None` when the rule has no peers and so matches everyone.
    pub peer: Option<usize>,
    /// The ports this rule allows toward this destination (named ports resolved).
    pub ports: PortSet,
}

/// How one side (the source's egress or the destination's ingress) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideTrace {
    pub direction: Direction,
    /// The side's endpoint is an address outside the cluster: nothing here governs it.
    pub external: bool,
    /// The pod is on the host network: no NetworkPolicy selects it.
    pub host_network: bool,
    /// Indexes of the policies that select the pod and isolate it in this direction; empty means not isolated.
    pub isolating: Vec<usize>,
    /// The rules of those policies that match the other end, with their ports.
    pub hits: Vec<RuleHit>,
    pub allowed: PortSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub egress: SideTrace,
    pub ingress: SideTrace,
    /// A pod talking to itself, which no policy can block.
    pub same_pod: bool,
    pub allowed: PortSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadConnection {
    pub src: usize,
    pub dst: usize,
    pub allowed: PortSet,
}

/// An endpoint of the reachability answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReachEndpoint {
    /// An index into `cluster.workloads`.
    Workload(usize),
    /// Addresses outside the cluster that every policy treats alike.
    External { ranges: Vec<IpRange> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachConnection {
    pub src: usize,
    pub dst: usize,
    pub allowed: PortSet,
}

/// Who reaches whom: endpoints (workloads, then external address groups) and the non-empty connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub endpoints: Vec<ReachEndpoint>,
    pub connections: Vec<ReachConnection>,
}

/// Where CNIs differ from the Kubernetes reference semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Kubernetes matches pods by their IPs in ipBlocks; Cilium's CIDR rules never match in-cluster endpoints.
    pub ip_blocks_match_pods: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { ip_blocks_match_pods: true }
    }
}

pub struct Analysis<'c> {
    pub cluster: &'c Cluster,
    classes: Classes,
    policy_tier: PolicyTier,
    /// Ordered by priority; empty until cluster-scoped policies are read.
    admin: Vec<OrderedRule>,
    baseline: Vec<OrderedRule>,
}

impl<'c> Analysis<'c> {
    pub fn new(cluster: &'c Cluster) -> Analysis<'c> {
        Analysis::with_options(cluster, &EngineOptions::default())
    }

    pub fn with_options(cluster: &'c Cluster, options: &EngineOptions) -> Analysis<'c> {
        let classes = Classes::build(cluster, options.ip_blocks_match_pods);
        let policy_tier = rules::compile_policy_tier(cluster, &classes);
        Analysis { cluster, classes, policy_tier, admin: Vec::new(), baseline: Vec::new() }
    }

    /// The policies that select a pod and isolate it in `direction`; empty when it is not isolated.
    pub fn isolating(&self, endpoint: Endpoint, direction: Direction) -> &[usize] {
        match self.class_of(endpoint) {
            Some(class) => &self.policy_tier.isolating[direction_slot(direction)][class],
            None => &[],
        }
    }

    /// The pods (as endpoints) that a policy selects.
    pub fn selected_pods(&self, policy: usize) -> Vec<Endpoint> {
        let Some(selected) = self.policy_tier.selected.get(policy) else { return Vec::new() };
        self.pods_in(|class| selected.contains(class))
    }

    /// The pods that one peer of a rule matches (ipBlock peers: the pods whose IPs fall in the block).
    pub fn peer_pods(&self, origin: RuleOrigin, peer: usize) -> Vec<Endpoint> {
        let rule = self.policy_tier.rules.get(origin.policy).and_then(|rules| {
            rules.iter().find(|r| r.origin.direction == origin.direction && r.origin.rule == origin.rule)
        });
        let Some(peer) = rule.and_then(|r| r.peers.as_ref()).and_then(|peers| peers.get(peer)) else {
            return Vec::new();
        };
        self.pods_in(|class| peer.matches(&self.classes, Other::Class(class)))
    }

    fn pods_in(&self, wanted: impl Fn(ClassId) -> bool) -> Vec<Endpoint> {
        let mut pods = Vec::new();
        for (workload, classes) in self.classes.pod_class.iter().enumerate() {
            for (pod, &class) in classes.iter().enumerate() {
                if wanted(class) {
                    pods.push(Endpoint::Pod { workload, pod });
                }
            }
        }
        pods
    }

    /// How many pod classes the cluster's pods fall into.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// Everything `src` may send to `dst`: the source's egress AND the destination's ingress.
    pub fn allowed(&self, src: Endpoint, dst: Endpoint) -> PortSet {
        match (src, dst) {
            _ if src == dst => PortSet::all(),
            (Endpoint::Pod { .. }, Endpoint::Pod { .. }) => {
                self.class_allowed(self.class_of(src).unwrap_or(0), self.class_of(dst).unwrap_or(0))
            }
            (Endpoint::Pod { .. }, Endpoint::Address(addr)) => match self.class_of(src) {
                Some(class) => self.side(class, Other::Address(addr), Direction::Egress, None),
                None => PortSet::empty(),
            },
            (Endpoint::Address(addr), Endpoint::Pod { .. }) => match self.class_of(dst) {
                Some(class) => self.side(class, Other::Address(addr), Direction::Ingress, None),
                None => PortSet::empty(),
            },
            (Endpoint::Address(_), Endpoint::Address(_)) => PortSet::all(),
        }
    }

    /// The verdict for one pair with the policies and rules behind it, side by side.
    pub fn explain(&self, src: Endpoint, dst: Endpoint) -> Explanation {
        let egress = self.trace(src, dst, Direction::Egress);
        let ingress = self.trace(dst, src, Direction::Ingress);
        let same_pod = src == dst && matches!(src, Endpoint::Pod { .. });
        let allowed = if same_pod { PortSet::all() } else { egress.allowed.intersection(&ingress.allowed) };
        Explanation { egress, ingress, same_pod, allowed }
    }

    fn trace(&self, subject: Endpoint, other: Endpoint, direction: Direction) -> SideTrace {
        let mut trace = SideTrace {
            direction,
            external: false,
            host_network: false,
            isolating: Vec::new(),
            hits: Vec::new(),
            allowed: PortSet::all(),
        };
        let (Some(class), Some(other)) = (self.class_of(subject), self.other_of(other)) else {
            trace.external = matches!(subject, Endpoint::Address(_));
            return trace;
        };
        trace.host_network = self.classes.classes[class].host_network;
        trace.isolating = self.policy_tier.isolating[direction_slot(direction)][class].clone();
        let mut hits = Vec::new();
        trace.allowed = self.side(class, other, direction, Some(&mut hits));
        trace.hits = hits;
        trace
    }

    fn class_of(&self, endpoint: Endpoint) -> Option<ClassId> {
        match endpoint {
            Endpoint::Pod { workload, pod } => self.classes.pod_class.get(workload)?.get(pod).copied(),
            Endpoint::Address(_) => None,
        }
    }

    fn other_of(&self, endpoint: Endpoint) -> Option<Other> {
        match endpoint {
            Endpoint::Pod { .. } => self.class_of(endpoint).map(Other::Class),
            Endpoint::Address(addr) => Some(Other::Address(addr)),
        }
    }

    fn class_allowed(&self, src: ClassId, dst: ClassId) -> PortSet {
        let egress = self.side(src, Other::Class(dst), Direction::Egress, None);
        if egress.is_empty() {
            return egress;
        }
        egress.intersection(&self.side(dst, Other::Class(src), Direction::Ingress, None))
    }

    /// Decides one side by walking the tiers: admin, NetworkPolicy, baseline, default allow.
    fn side(
        &self,
        subject: ClassId,
        other: Other,
        direction: Direction,
        mut hits: Option<&mut Vec<RuleHit>>,
    ) -> PortSet {
        let destination_ports = match (direction, other) {
            (Direction::Ingress, _) => Some(self.classes.classes[subject].ports.as_slice()),
            (Direction::Egress, Other::Class(class)) => Some(self.classes.classes[class].ports.as_slice()),
            (Direction::Egress, Other::Address(_)) => None,
        };
        let mut undecided = PortSet::all();
        let mut allowed = PortSet::empty();

        let passed =
            self.first_match(&self.admin, subject, other, direction, destination_ports, &mut undecided, &mut allowed);
        undecided.union_with(&passed);

        let isolating = &self.policy_tier.isolating[direction_slot(direction)][subject];
        if !isolating.is_empty() {
            let mut policy_allowed = PortSet::empty();
            for &policy in isolating {
                for rule in self.policy_tier.rules[policy].iter().filter(|r| r.origin.direction == direction) {
                    let Some(peer) = rule.matching_peer(&self.classes, other) else { continue };
                    let ports = rule.ports.resolve(destination_ports);
                    if let Some(hits) = hits.as_deref_mut() {
                        if !ports.is_empty() {
                            hits.push(RuleHit { origin: rule.origin, peer, ports: ports.clone() });
                        }
                    }
                    policy_allowed.union_with(&ports);
                }
            }
            allowed.union_with(&policy_allowed.intersection(&undecided));
            return allowed;
        }

        // A baseline Pass has nowhere further to hand over to but the default.
        let passed = self.first_match(
            &self.baseline,
            subject,
            other,
            direction,
            destination_ports,
            &mut undecided,
            &mut allowed,
        );
        undecided.union_with(&passed);
        allowed.union_with(&undecided);
        allowed
    }

    /// Applies an ordered tier: each port is decided by the first rule that matches it. Returns the passed ports.
    #[allow(clippy::too_many_arguments)]
    fn first_match(
        &self,
        tier: &[OrderedRule],
        subject: ClassId,
        other: Other,
        direction: Direction,
        destination_ports: Option<&[netseg_model::ContainerPort]>,
        undecided: &mut PortSet,
        allowed: &mut PortSet,
    ) -> PortSet {
        let mut passed = PortSet::empty();
        for ordered in tier {
            if undecided.is_empty() {
                break;
            }
            if ordered.direction != direction
                || !ordered.subjects.contains(subject)
                || ordered.rule.matching_peer(&self.classes, other).is_none()
            {
                continue;
            }
            let matched = ordered.rule.ports.resolve(destination_ports).intersection(undecided);
            match ordered.action {
                Action::Allow => allowed.union_with(&matched),
                Action::Deny => {}
                Action::Pass => passed.union_with(&matched),
            }
            *undecided = undecided.difference(&matched);
        }
        passed
    }

    fn workload_classes(&self, workload: usize) -> Vec<ClassId> {
        let mut classes = self.classes.pod_class[workload].clone();
        classes.sort_unstable();
        classes.dedup();
        classes
    }

    /// Workload pairs with something allowed, `src != dst`, sorted; each the union over the two workloads' pods.
    pub fn workload_connections(&self) -> Vec<WorkloadConnection> {
        let workload_classes: Vec<Vec<ClassId>> =
            (0..self.cluster.workloads.len()).map(|w| self.workload_classes(w)).collect();
        // A class pair recurs only when one of its classes belongs to several workloads; memoising every pair
        // would hold one entry per pair of workloads (25 million at 5,000 workloads of one class each).
        let mut owners = vec![0usize; self.classes.classes.len()];
        for classes in &workload_classes {
            for &class in classes {
                owners[class] += 1;
            }
        }
        let mut memo: HashMap<(ClassId, ClassId), PortSet> = HashMap::new();
        let mut connections = Vec::new();
        for (src, src_classes) in workload_classes.iter().enumerate() {
            for (dst, dst_classes) in workload_classes.iter().enumerate() {
                if src == dst {
                    continue;
                }
                let mut allowed = PortSet::empty();
                for &a in src_classes {
                    for &b in dst_classes {
                        if owners[a] * owners[b] > 1 {
                            let pair = memo.entry((a, b)).or_insert_with(|| self.class_allowed(a, b));
                            allowed.union_with(pair);
                        } else {
                            allowed.union_with(&self.class_allowed(a, b));
                        }
                    }
                }
                if !allowed.is_empty() {
                    connections.push(WorkloadConnection { src, dst, allowed });
                }
            }
        }
        connections
    }

    /// Workloads and external address groups, and every non-empty connection between them.
    pub fn reach(&self) -> Reach {
        let workload_count = self.cluster.workloads.len();
        let mut endpoints: Vec<ReachEndpoint> = (0..workload_count).map(ReachEndpoint::Workload).collect();
        let mut connections: Vec<ReachConnection> = self
            .workload_connections()
            .into_iter()
            .map(|c| ReachConnection { src: c.src, dst: c.dst, allowed: c.allowed })
            .collect();

        // Atoms with the same connectivity in both directions are one endpoint.
        let workload_classes: Vec<Vec<ClassId>> = (0..workload_count).map(|w| self.workload_classes(w)).collect();
        // (to each workload, from each workload) of an address group.
        type Rows = (Vec<PortSet>, Vec<PortSet>);
        let mut groups: Vec<(Rows, Vec<IpRange>)> = Vec::new();
        let mut group_of: HashMap<Rows, usize> = HashMap::new();
        for atom in addresses::atoms(self.cluster) {
            let other = Other::Address(atom.start);
            let row = |direction: Direction| -> Vec<PortSet> {
                workload_classes
                    .iter()
                    .map(|classes| {
                        let mut allowed = PortSet::empty();
                        for &class in classes {
                            allowed.union_with(&self.side(class, other, direction, None));
                        }
                        allowed
                    })
                    .collect()
            };
            let key = (row(Direction::Egress), row(Direction::Ingress));
            match group_of.get(&key) {
                Some(&index) => groups[index].1.push(atom),
                None => {
                    group_of.insert(key.clone(), groups.len());
                    groups.push((key, vec![atom]));
                }
            }
        }
        for ((to_external, from_external), ranges) in groups {
            let index = endpoints.len();
            endpoints.push(ReachEndpoint::External { ranges: merge_ranges(ranges) });
            for (workload, allowed) in to_external.into_iter().enumerate() {
                if !allowed.is_empty() {
                    connections.push(ReachConnection { src: workload, dst: index, allowed });
                }
            }
            for (workload, allowed) in from_external.into_iter().enumerate() {
                if !allowed.is_empty() {
                    connections.push(ReachConnection { src: index, dst: workload, allowed });
                }
            }
        }
        connections.sort_by_key(|c| (c.src, c.dst));
        Reach { endpoints, connections }
    }
}

/// Joins adjacent atoms, so that a group reads as few ranges as possible.
fn merge_ranges(mut ranges: Vec<IpRange>) -> Vec<IpRange> {
    ranges.sort();
    let mut merged: Vec<IpRange> = Vec::new();
    for range in ranges {
        if let Some(last) = merged.last_mut() {
            let adjacent = match (last.end, range.start) {
                (IpAddr::V4(end), IpAddr::V4(start)) => u32::from(end).checked_add(1) == Some(u32::from(start)),
                (IpAddr::V6(end), IpAddr::V6(start)) => u128::from(end).checked_add(1) == Some(u128::from(start)),
                _ => false,
            };
            if adjacent {
                last.end = range.end;
                continue;
            }
        }
        merged.push(range);
    }
    merged
}

#[cfg(test)]
mod tests;
