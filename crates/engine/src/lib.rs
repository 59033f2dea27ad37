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
use netseg_model::{Cluster, Direction, Tier};
use rules::{direction_slot, OrderedRule, Other, PolicyTier, RuleOrigin};
use std::collections::HashMap;
use std::net::IpAddr;

pub use portset::PortSet;
pub use rules::Action;

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

/// A rule of an ordered tier (admin or baseline) that decided some ports on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierHit {
    pub tier: Tier,
    /// `origin.policy` indexes `Cluster::admin_policies`.
    pub origin: RuleOrigin,
    pub action: Action,
    /// The index of the peer that matched.
    pub peer: Option<usize>,
    /// The ports this rule decided (those that no earlier rule had).
    pub ports: PortSet,
}

/// An admin or baseline rule that can never decide a port, and the earlier rules that take them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    pub tier: Tier,
    /// `origin.policy` indexes `Cluster::admin_policies`.
    pub origin: RuleOrigin,
    pub by: Vec<RuleOrigin>,
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
    /// Admin-tier rules that decided ports, in evaluation order (Pass included: it hands ports on).
    pub admin: Vec<TierHit>,
    /// The ports that reached the NetworkPolicy tier (not decided by an admin Allow or Deny).
    pub to_policies: PortSet,
    /// Baseline rules that decided ports, for a side that no NetworkPolicy isolates.
    pub baseline: Vec<TierHit>,
    /// The ports that no tier decided, allowed by the Kubernetes default.
    pub by_default: PortSet,
    pub allowed: PortSet,
}

/// What `side` records when asked why.
#[derive(Default)]
struct Trail {
    hits: Vec<RuleHit>,
    admin: Vec<TierHit>,
    to_policies: PortSet,
    baseline: Vec<TierHit>,
    by_default: PortSet,
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

/// One side being decided, as the ordered tiers see it.
struct TierSide<'a> {
    subject: ClassId,
    other: Other,
    direction: Direction,
    destination_ports: Option<&'a [netseg_model::ContainerPort]>,
}

pub struct Analysis<'c> {
    pub cluster: &'c Cluster,
    classes: Classes,
    policy_tier: PolicyTier,
    /// Ordered by priority, then rule order (`rules::tier_order`).
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
        let ordered = rules::compile_ordered_tiers(cluster, &classes);
        Analysis { cluster, classes, policy_tier, admin: ordered.admin, baseline: ordered.baseline }
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

    /// The admin and baseline rules whose subject is this pod, in evaluation order, with their tier.
    pub fn tier_rules_of(&self, endpoint: Endpoint) -> Vec<(Tier, &OrderedRule)> {
        let Some(class) = self.class_of(endpoint) else { return Vec::new() };
        let admin = self.admin.iter().map(|r| (Tier::Admin, r));
        let baseline = self.baseline.iter().map(|r| (Tier::Baseline, r));
        admin.chain(baseline).filter(|(_, rule)| rule.subjects.contains(class)).collect()
    }

    /// Rules of the admin and baseline tiers that never decide anything: for every subject and peer they match,
    /// earlier rules of their tier (the same policy's, or a higher-priority policy's) have decided all their ports.
    /// Rules that match nothing at all are not listed (nothing shadows them; they select nothing).
    pub fn shadowed_rules(&self) -> Vec<Shadowed> {
        let atoms: Vec<Other> = addresses::atoms(self.cluster).iter().map(|a| Other::Address(a.start)).collect();
        let others: Vec<Other> = (0..self.classes.len()).map(Other::Class).chain(atoms).collect();
        let mut shadowed = Vec::new();
        for (tier, rules) in [(Tier::Admin, &self.admin), (Tier::Baseline, &self.baseline)] {
            for (k, rule) in rules.iter().enumerate() {
                if let Some(by) = self.shadowers(rules, k, &others) {
                    shadowed.push(Shadowed { tier, origin: rule.rule.origin, by });
                }
            }
        }
        shadowed
    }

    /// The earlier rules that together decide every port rule `k` matches, or `None` when some port is left to it
    /// (or it matches nothing).
    fn shadowers(&self, rules: &[OrderedRule], k: usize, others: &[Other]) -> Option<Vec<RuleOrigin>> {
        let rule = &rules[k];
        let mut by: Vec<RuleOrigin> = Vec::new();
        let mut matched_any = false;
        for subject in rule.subjects.ones() {
            for &other in others {
                if rule.rule.matching_peer(&self.classes, other).is_none() {
                    continue;
                }
                let destination_ports = self.destination_ports(subject, other, rule.direction);
                let mut left = rule.rule.ports.resolve(destination_ports);
                if left.is_empty() {
                    continue;
                }
                matched_any = true;
                for earlier in &rules[..k] {
                    if left.is_empty() {
                        break;
                    }
                    if earlier.direction != rule.direction
                        || !earlier.subjects.contains(subject)
                        || earlier.rule.matching_peer(&self.classes, other).is_none()
                    {
                        continue;
                    }
                    let taken = earlier.rule.ports.resolve(destination_ports).intersection(&left);
                    if !taken.is_empty() {
                        left = left.difference(&taken);
                        if !by.contains(&earlier.rule.origin) {
                            by.push(earlier.rule.origin);
                        }
                    }
                }
                if !left.is_empty() {
                    return None;
                }
            }
        }
        matched_any.then_some(by)
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
            admin: Vec::new(),
            to_policies: PortSet::all(),
            baseline: Vec::new(),
            by_default: PortSet::all(),
            allowed: PortSet::all(),
        };
        let (Some(class), Some(other)) = (self.class_of(subject), self.other_of(other)) else {
            trace.external = matches!(subject, Endpoint::Address(_));
            return trace;
        };
        trace.host_network = self.classes.classes[class].host_network;
        trace.isolating = self.policy_tier.isolating[direction_slot(direction)][class].clone();
        let mut trail = Trail::default();
        trace.allowed = self.side(class, other, direction, Some(&mut trail));
        trace.hits = trail.hits;
        trace.admin = trail.admin;
        trace.to_policies = trail.to_policies;
        trace.baseline = trail.baseline;
        trace.by_default = trail.by_default;
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

    /// The container ports of the connection's destination, on which named ports resolve (`None`: an address).
    fn destination_ports(
        &self,
        subject: ClassId,
        other: Other,
        direction: Direction,
    ) -> Option<&[netseg_model::ContainerPort]> {
        match (direction, other) {
            (Direction::Ingress, _) => Some(self.classes.classes[subject].ports.as_slice()),
            (Direction::Egress, Other::Class(class)) => Some(self.classes.classes[class].ports.as_slice()),
            (Direction::Egress, Other::Address(_)) => None,
        }
    }

    /// Decides one side by walking the tiers: admin, NetworkPolicy, baseline, default allow.
    fn side(&self, subject: ClassId, other: Other, direction: Direction, mut trail: Option<&mut Trail>) -> PortSet {
        let destination_ports = self.destination_ports(subject, other, direction);
        let mut undecided = PortSet::all();
        let mut allowed = PortSet::empty();

        let tier_side = TierSide { subject, other, direction, destination_ports };
        let passed = self.first_match(
            &self.admin,
            &tier_side,
            &mut undecided,
            &mut allowed,
            trail.as_deref_mut().map(|t| &mut t.admin),
        );
        undecided.union_with(&passed);

        let isolating = &self.policy_tier.isolating[direction_slot(direction)][subject];
        if let Some(trail) = trail.as_deref_mut() {
            trail.to_policies = undecided.clone();
        }
        if !isolating.is_empty() {
            let mut policy_allowed = PortSet::empty();
            for &policy in isolating {
                for rule in self.policy_tier.rules[policy].iter().filter(|r| r.origin.direction == direction) {
                    let Some(peer) = rule.matching_peer(&self.classes, other) else { continue };
                    let ports = rule.ports.resolve(destination_ports);
                    if let Some(trail) = trail.as_deref_mut() {
                        if !ports.is_empty() {
                            trail.hits.push(RuleHit { origin: rule.origin, peer, ports: ports.clone() });
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
            &tier_side,
            &mut undecided,
            &mut allowed,
            trail.as_deref_mut().map(|t| &mut t.baseline),
        );
        undecided.union_with(&passed);
        if let Some(trail) = trail {
            trail.by_default = undecided.clone();
        }
        allowed.union_with(&undecided);
        allowed
    }

    /// Applies an ordered tier: each port is decided by the first rule that matches it. Returns the passed ports.
    fn first_match(
        &self,
        tier: &[OrderedRule],
        side: &TierSide<'_>,
        undecided: &mut PortSet,
        allowed: &mut PortSet,
        mut hits: Option<&mut Vec<TierHit>>,
    ) -> PortSet {
        let mut passed = PortSet::empty();
        for ordered in tier {
            if undecided.is_empty() {
                break;
            }
            if ordered.direction != side.direction || !ordered.subjects.contains(side.subject) {
                continue;
            }
            let Some(peer) = ordered.rule.matching_peer(&self.classes, side.other) else { continue };
            let matched = ordered.rule.ports.resolve(side.destination_ports).intersection(undecided);
            if matched.is_empty() {
                continue;
            }
            match ordered.action {
                Action::Allow => allowed.union_with(&matched),
                Action::Deny => {}
                Action::Pass => passed.union_with(&matched),
            }
            *undecided = undecided.difference(&matched);
            if let Some(hits) = hits.as_deref_mut() {
                let tier = self.cluster.admin_policies.get(ordered.rule.origin.policy).map_or(Tier::Admin, |p| p.tier);
                hits.push(TierHit { tier, origin: ordered.rule.origin, action: ordered.action, peer, ports: matched });
            }
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
            endpoints.push(ReachEndpoint::External { ranges: addresses::merge_ranges(ranges) });
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

#[cfg(test)]
mod tests;
