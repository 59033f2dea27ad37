//! The tiered rule model every policy kind compiles into.
//!
//! A connection is decided on each side (the source's egress, the destination's ingress) by walking the tiers in
//! order: the admin tier (ordered rules, first match wins, with Allow, Deny and Pass), the NetworkPolicy tier
//! (isolation: an isolated pod gets the union of the rules that select it, a pod that nothing isolates falls
//! through), the baseline tier (ordered rules again), then the default: allow. Each tier decides some ports and
//! hands the rest on. Only the NetworkPolicy tier has sources today; AdminNetworkPolicy, BaselineAdminNetworkPolicy
//! and ClusterNetworkPolicy compile into [`OrderedRule`] lists of the other two.

use crate::classes::{ClassId, Classes};
use crate::portset::PortSet;
use fixedbitset::FixedBitSet;
use netseg_model::{
    Cluster, ContainerPort, Direction, LabelSelector, NetworkPolicy, PeerSelector, PolicyPort, PolicyRule, PortRef,
    Protocol,
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
        }
    }
}

/// The ports of a rule: numbers now, names once the destination pod is known.
#[derive(Debug, Clone)]
pub struct PortMatch {
    pub numeric: PortSet,
    pub named: Vec<(String, Protocol)>,
}

impl PortMatch {
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
                Some(PortRef::Name(name)) => named.push((name.clone(), port.protocol)),
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
                if port.name.as_deref() == Some(name.as_str()) && port.protocol == *protocol {
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
    /// Index into `Cluster::policies`.
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
