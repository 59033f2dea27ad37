//! The tiered rule model every policy kind compiles into.
//!
//! A connection is decided on each side (the source's egress, the destination's ingress) by walking the tiers in
//! order: the admin tier (ordered rules, first match wins, with Allow, Deny and Pass), the NetworkPolicy tier
//! (isolation: an isolated pod gets the union of the rules that select it, a pod that nothing isolates falls
//! through), the baseline tier (ordered rules again), then the default: allow. Each tier decides some ports and
//! hands the rest on. AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy compile into the
//! [`OrderedRule`] lists of the admin and baseline tiers.

use crate::classes::{ClassId, Classes};
use crate::portset::PortSet;
use fixedbitset::FixedBitSet;
use netseg_model::{
    AdminAction, AdminPeerSelector, AdminPods, AdminPolicyPort, AdminPort, Cluster, ContainerPort, Direction,
    LabelSelector, NetworkPolicy, PeerSelector, PolicyPort, PolicyRule, PortRef, Protocol, Tier,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The other end of a connection, seen from the side being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    Class(ClassId),
    Address(IpAddr),
}

/// What one peer of a rule matches.
#[derive(Debug, Clone)]
pub enum PeerSet {
    /// Pods chosen by namespace and pod selectors (never host-network pods).
    Classes(Arc<FixedBitSet>),
    /// Addresses, and pods whose IPs fall in the block: an index into [`Classes::ip_blocks`].
    Block(usize),
    /// An admin `networks` peer: any of several blocks.
    Blocks(Vec<usize>),
    /// An admin `nodes` peer: the host-network classes on the selected nodes, and the nodes' addresses (blocks).
    Nodes { hosts: Arc<FixedBitSet>, addresses: Vec<usize> },
    /// A v1alpha2 `domainNames` peer. netseg resolves no names, so it stands for every address outside the cluster:
    /// such rules only accept traffic, and over-reporting is the safe side.
    AnyAddress,
}

impl PeerSet {
    pub fn matches(&self, classes: &Classes, other: Other) -> bool {
        match (self, other) {
            (PeerSet::Classes(set), Other::Class(class)) => set.contains(class),
            (PeerSet::Classes(_), Other::Address(_)) => false,
            (PeerSet::Block(block), Other::Class(class)) => classes.classes[class].ip_blocks.contains(block),
            (PeerSet::Block(block), Other::Address(addr)) => {
                classes.ip_blocks.get(*block).is_some_and(|b| b.contains(addr))
            }
            (PeerSet::Blocks(blocks), other) => blocks.iter().any(|b| PeerSet::Block(*b).matches(classes, other)),
            (PeerSet::Nodes { hosts, .. }, Other::Class(class)) => hosts.contains(class),
            (PeerSet::Nodes { addresses, .. }, Other::Address(_)) => {
                addresses.iter().any(|b| PeerSet::Block(*b).matches(classes, other))
            }
            (PeerSet::AnyAddress, Other::Class(_)) => false,
            (PeerSet::AnyAddress, Other::Address(_)) => true,
        }
    }
}

/// The ports of a rule: numbers now, names once the destination pod is known.
#[derive(Debug, Clone)]
pub struct PortMatch {
    pub numeric: PortSet,
    /// A name with the protocol it must have (NetworkPolicy), or with whatever protocol the container port has
    /// (admin policies, which name no protocol).
    pub named: Vec<(String, Option<Protocol>)>,
}

impl PortMatch {
    /// An admin rule's ports: `None` is every port of every protocol.
    fn compile_admin(ports: Option<&[AdminPolicyPort]>) -> PortMatch {
        let Some(ports) = ports else { return PortMatch { numeric: PortSet::all(), named: Vec::new() } };
        let mut ranges = Vec::new();
        let mut named = Vec::new();
        for entry in ports {
            match &entry.port {
                AdminPort::Number { protocol, port } => ranges.push((*protocol, *port, *port)),
                AdminPort::Range { protocol, start, end } => ranges.push((*protocol, *start, *end)),
                AdminPort::Named(name) => named.push((name.clone(), None)),
            }
        }
        PortMatch { numeric: PortSet::from_ranges(&ranges), named }
    }

    fn compile(ports: &[PolicyPort]) -> PortMatch {
        if ports.is_empty() {
            return PortMatch { numeric: PortSet::all(), named: Vec::new() };
        }
        let mut ranges = Vec::new();
        let mut named = Vec::new();
        for port in ports {
            match &port.port {
                None => ranges.push((port.protocol, 1, 65535)),
                Some(PortRef::Number(start)) => ranges.push((port.protocol, *start, port.end_port.unwrap_or(*start))),
                Some(PortRef::Name(name)) => named.push((name.clone(), Some(port.protocol))),
            }
        }
        PortMatch { numeric: PortSet::from_ranges(&ranges), named }
    }

    /// The ports this rule opens toward a destination with these container ports (`None`: an address, where
    /// names mean nothing).
    pub fn resolve(&self, destination_ports: Option<&[ContainerPort]>) -> PortSet {
        if self.named.is_empty() {
            return self.numeric.clone();
        }
        let mut ranges = Vec::new();
        for (name, protocol) in &self.named {
            for port in destination_ports.unwrap_or_default() {
                if port.name.as_deref() == Some(name.as_str()) && protocol.is_none_or(|p| p == port.protocol) {
                    ranges.push((port.protocol, port.port, port.port));
                }
            }
        }
        self.numeric.union(&PortSet::from_ranges(&ranges))
    }
}

/// Where a compiled rule came from, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleOrigin {
    /// Index into `Cluster::policies`; for the rules of the ordered tiers, into `Cluster::admin_policies`.
    pub policy: usize,
    pub direction: Direction,
    /// Index of the rule within the policy's `ingress` or `egress`.
    pub rule: usize,
}

#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub origin: RuleOrigin,
    /// `None`: every peer.
    pub peers: Option<Vec<PeerSet>>,
    pub ports: PortMatch,
}

impl CompiledRule {
    /// The index of the first peer that matches (`Some(None)` when the rule has no peers and so matches all).
    pub fn matching_peer(&self, classes: &Classes, other: Other) -> Option<Option<usize>> {
        match &self.peers {
            None => Some(None),
            Some(peers) => peers.iter().position(|p| p.matches(classes, other)).map(Some),
        }
    }
}

/// An action of an ordered (admin or baseline) rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    /// Hand the decision to the next tier.
    Pass,
}

/// A rule of an ordered tier: the first rule that matches a port decides it.
#[derive(Debug, Clone)]
pub struct OrderedRule {
    pub subjects: Arc<FixedBitSet>,
    pub direction: Direction,
    pub action: Action,
    pub rule: CompiledRule,
}

/// The NetworkPolicy tier, compiled.
pub struct PolicyTier {
    /// `isolating[direction][class]`: the policies that select the class and apply in that direction.
    pub isolating: [Vec<Vec<usize>>; 2],
    /// `rules[policy]`: the policy's effective rules of both directions.
    pub rules: Vec<Vec<CompiledRule>>,
    /// The classes each policy selects.
    pub selected: Vec<Arc<FixedBitSet>>,
}

impl PolicyTier {
    /// No NetworkPolicy: what a CNI that enforces none leaves.
    pub fn none(classes: usize) -> PolicyTier {
        PolicyTier {
            isolating: [vec![Vec::new(); classes], vec![Vec::new(); classes]],
            rules: Vec::new(),
            selected: Vec::new(),
        }
    }
}

pub fn direction_slot(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// Evaluates selectors once per distinct (scope, selector), since policies repeat them heavily.
pub struct SelectorCache<'a> {
    cluster: &'a Cluster,
    classes: &'a Classes,
    namespaces: HashMap<LabelSelector, Vec<usize>>,
    peers: HashMap<(Option<LabelSelector>, usize, Option<LabelSelector>), Arc<FixedBitSet>>,
}

impl<'a> SelectorCache<'a> {
    pub fn new(cluster: &'a Cluster, classes: &'a Classes) -> Self {
        SelectorCache { cluster, classes, namespaces: HashMap::new(), peers: HashMap::new() }
    }

    fn namespaces_matching(&mut self, selector: &LabelSelector) -> Vec<usize> {
        let cluster = self.cluster;
        self.namespaces
            .entry(selector.clone())
            .or_insert_with(|| {
                cluster
                    .namespaces
                    .iter()
                    .enumerate()
                    .filter(|(_, ns)| selector.matches(&ns.labels))
                    .map(|(i, _)| i)
                    .collect()
            })
            .clone()
    }

    /// Pods (never host-network ones) chosen by an optional namespace selector (`None`: `own_namespace`) and an
    /// optional pod selector (`None`: all).
    pub fn pods(
        &mut self,
        namespaces: Option<&LabelSelector>,
        own_namespace: usize,
        pods: Option<&LabelSelector>,
    ) -> Arc<FixedBitSet> {
        let key = (namespaces.cloned(), if namespaces.is_some() { usize::MAX } else { own_namespace }, pods.cloned());
        if let Some(found) = self.peers.get(&key) {
            return found.clone();
        }
        let namespace_ids = match namespaces {
            Some(selector) => self.namespaces_matching(selector),
            None => vec![own_namespace],
        };
        let scope = self.classes.in_namespaces(namespace_ids);
        let mut set = match pods {
            Some(selector) => self.classes.select(scope, selector),
            None => scope,
        };
        set.difference_with(self.classes.host_network());
        let set = Arc::new(set);
        self.peers.insert(key, set.clone());
        set
    }
}

pub fn compile_policy_tier(cluster: &Cluster, classes: &Classes) -> PolicyTier {
    let mut cache = SelectorCache::new(cluster, classes);
    let namespace_of: HashMap<&str, usize> =
        cluster.namespaces.iter().enumerate().map(|(i, ns)| (ns.name.as_str(), i)).collect();
    let mut isolating = [vec![Vec::new(); classes.len()], vec![Vec::new(); classes.len()]];
    let mut rules = Vec::with_capacity(cluster.policies.len());
    let mut selected = Vec::with_capacity(cluster.policies.len());
    for (index, policy) in cluster.policies.iter().enumerate() {
        let own = namespace_of.get(policy.namespace.as_str()).copied().unwrap_or(0);
        let subjects = cache.pods(None, own, Some(&policy.pod_selector));
        for direction in [Direction::Ingress, Direction::Egress] {
            if policy.applies_to(direction) {
                for class in subjects.ones() {
                    isolating[direction_slot(direction)][class].push(index);
                }
            }
        }
        rules.push(compile_rules(&mut cache, policy, index, own));
        selected.push(subjects);
    }
    PolicyTier { isolating, rules, selected }
}

fn compile_rules(cache: &mut SelectorCache<'_>, policy: &NetworkPolicy, index: usize, own: usize) -> Vec<CompiledRule> {
    let mut compiled = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
            compiled.push(CompiledRule {
                origin: RuleOrigin { policy: index, direction, rule: rule_index },
                peers: compile_peers(cache, rule, own),
                ports: PortMatch::compile(&rule.ports),
            });
        }
    }
    compiled
}

fn compile_peers(cache: &mut SelectorCache<'_>, rule: &PolicyRule, own: usize) -> Option<Vec<PeerSet>> {
    if rule.peers.is_empty() {
        return None;
    }
    let peers = rule
        .peers
        .iter()
        .map(|peer| match &peer.selector {
            PeerSelector::Pods { namespaces, pods } => {
                PeerSet::Classes(cache.pods(namespaces.as_ref(), own, pods.as_ref()))
            }
            PeerSelector::IpBlock(block) => PeerSet::Block(cache.classes.block_id(block).unwrap_or(usize::MAX)),
        })
        .collect();
    Some(peers)
}

/// The admin and baseline tiers, compiled: each an [`OrderedRule`] list in evaluation order.
pub struct OrderedTiers {
    pub admin: Vec<OrderedRule>,
    pub baseline: Vec<OrderedRule>,
}

/// The order in which a tier's policies are evaluated: ascending priority. Policies of equal priority have no
/// defined order upstream; netseg breaks the tie by kind, then name, so that its answer is at least stable (and
/// the audit reports the tie, NS150).
pub fn tier_order(cluster: &Cluster, tier: Tier) -> Vec<usize> {
    let mut order: Vec<usize> = cluster
        .admin_policies
        .iter()
        .enumerate()
        .filter(|(_, p)| p.tier == tier && p.in_effect())
        .map(|(i, _)| i)
        .collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&cluster.admin_policies[a], &cluster.admin_policies[b]);
        (a.priority, a.kind, &a.name).cmp(&(b.priority, b.kind, &b.name))
    });
    order
}

pub fn compile_ordered_tiers(cluster: &Cluster, classes: &Classes) -> OrderedTiers {
    let mut cache = SelectorCache::new(cluster, classes);
    let mut compile = |tier: Tier| -> Vec<OrderedRule> {
        let mut rules = Vec::new();
        for index in tier_order(cluster, tier) {
            let policy = &cluster.admin_policies[index];
            let subjects = admin_pods(&mut cache, &policy.subject);
            for direction in [Direction::Ingress, Direction::Egress] {
                for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
                    let peers = rule.peers.iter().map(|peer| admin_peer(&mut cache, cluster, &peer.selector)).collect();
                    rules.push(OrderedRule {
                        subjects: subjects.clone(),
                        direction,
                        action: match rule.action {
                            AdminAction::Allow => Action::Allow,
                            AdminAction::Deny => Action::Deny,
                            AdminAction::Pass => Action::Pass,
                        },
                        rule: CompiledRule {
                            origin: RuleOrigin { policy: index, direction, rule: rule_index },
                            peers: Some(peers),
                            ports: PortMatch::compile_admin(rule.ports.as_deref()),
                        },
                    });
                }
            }
        }
        rules
    };
    let admin = compile(Tier::Admin);
    let baseline = compile(Tier::Baseline);
    OrderedTiers { admin, baseline }
}

fn admin_pods(cache: &mut SelectorCache<'_>, pods: &AdminPods) -> Arc<FixedBitSet> {
    match pods {
        AdminPods::Namespaces(namespaces) => cache.pods(Some(namespaces), 0, None),
        AdminPods::Pods { namespaces, pods } => cache.pods(Some(namespaces), 0, Some(pods)),
    }
}

fn admin_peer(cache: &mut SelectorCache<'_>, cluster: &Cluster, peer: &AdminPeerSelector) -> PeerSet {
    let classes = cache.classes;
    match peer {
        AdminPeerSelector::Pods(pods) => PeerSet::Classes(admin_pods(cache, pods)),
        AdminPeerSelector::Networks(cidrs) => PeerSet::Blocks(
            cidrs
                .iter()
                .filter_map(|cidr| classes.block_id(&netseg_model::IpBlock { cidr: *cidr, except: Vec::new() }))
                .collect(),
        ),
        AdminPeerSelector::DomainNames(_) => PeerSet::AnyAddress,
        AdminPeerSelector::Nodes(selector) => {
            let selected: Vec<&netseg_model::ClusterNode> =
                cluster.nodes.iter().filter(|node| selector.matches(&node.labels)).collect();
            let addresses: Vec<usize> = selected
                .iter()
                .flat_map(|node| &node.addresses)
                .filter_map(|addr| classes.block_id(&crate::addresses::host_block(*addr)))
                .collect();
            let known = |name: &str| cluster.nodes.iter().any(|node| node.name == name);
            let mut hosts = classes.empty_set();
            for (id, class) in classes.classes.iter().enumerate().filter(|(_, c)| c.host_network) {
                let on_selected = match &class.node {
                    Some(name) if known(name) => selected.iter().any(|node| &node.name == name),
                    // Placement unknown: by its IP when that is a node address, else on any selected node.
                    _ => {
                        let by_ip = class.ip_blocks.iter().any(|b| addresses.contains(b));
                        let on_some_node = class.ip_blocks.iter().any(|b| {
                            cluster
                                .nodes
                                .iter()
                                .flat_map(|n| &n.addresses)
                                .any(|addr| classes.block_id(&crate::addresses::host_block(*addr)) == Some(*b))
                        });
                        by_ip || (!on_some_node && (selector.is_empty() || !selected.is_empty()))
                    }
                };
                if on_selected {
                    hosts.insert(id);
                }
            }
            PeerSet::Nodes { hosts: Arc::new(hosts), addresses }
        }
    }
}
