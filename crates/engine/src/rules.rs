//! The tiered rule model every policy kind compiles into.
//!
//! A connection is decided on each side (the source's egress, the destination's ingress) by walking an ordered list
//! of tiers. Each tier holds policies in evaluation order; a policy applies to some classes in some directions and
//! has ordered rules, each with an action: Allow and Deny decide the ports they match, Pass hands them to the next
//! tier, Log decides nothing. A tier that no policy of which applies to the subject is skipped; one that applies
//! decides its rules' ports by first match and gives the ports no rule decided its default action (Deny, or Pass to
//! the next tier). Ports that no tier decides are allowed: the Kubernetes default, and Calico's namespace profile.
//!
//! Every policy language is an instance of this model. The Kubernetes model is three tiers: admin (ordered rules,
//! default Pass), NetworkPolicy (Allow rules only, so that first match is the union of the rules that select the
//! pod; default Deny, which is isolation) and baseline (ordered rules, default Pass). AdminNetworkPolicy,
//! BaselineAdminNetworkPolicy and ClusterNetworkPolicy compile into the admin and baseline tiers.

use crate::classes::{ClassId, Classes};
use crate::portset::PortSet;
use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt};
use netseg_model::cilium::FqdnSelector;
use netseg_model::{
    AdminAction, AdminPeerSelector, AdminPods, AdminPolicyPort, AdminPort, Cluster, ContainerPort, Direction,
    LabelSelector, NetworkPolicy, PeerSelector, PolicyPort, PolicyRule, PortRef, Protocol, Tier,
};
use std::net::IpAddr;
use std::sync::Arc;

/// The other end of a connection, seen from the side being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    Class(ClassId),
    Address(IpAddr),
}

/// An address outside the cluster known by its DNS name (`netseg can --to api.example.com`).
#[derive(Debug, Clone, Copy)]
pub struct DnsTarget<'a> {
    pub name: &'a str,
    /// Whether Cilium learns the name's addresses for the source: an L7 DNS rule of its egress lets its lookup of
    /// the name through the DNS proxy, whose answers are all `toFQDNs` ever matches.
    pub learnt: bool,
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
    /// A Cilium `toFQDNs` selector. Toward an address it stands for every address outside the cluster (netseg
    /// resolves no names; over-reporting is the safe side); toward a DNS name a question names, it matches by the
    /// name ([`CompiledRule::matching_peer_named`]).
    Fqdn(Arc<FqdnSelector>),
    /// A Calico `source` or `destination`: every condition it sets must hold.
    Calico(Arc<EndpointMatch>),
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
            (PeerSet::AnyAddress | PeerSet::Fqdn(_), Other::Class(_)) => false,
            (PeerSet::AnyAddress | PeerSet::Fqdn(_), Other::Address(_)) => true,
            (PeerSet::Calico(condition), other) => condition.matches(classes, other),
        }
    }
}

/// Endpoints and addresses a Calico selector picks: workload endpoints (and the host-network pods of selected host
/// endpoints) as classes; network sets' nets and host endpoints' addresses as address blocks, which also hold the
/// pods whose IPs fall in them (Calico matches by IP set).
#[derive(Debug, Clone)]
pub struct Selection {
    pub classes: Arc<FixedBitSet>,
    pub blocks: Vec<usize>,
}

impl Selection {
    pub fn matches(&self, classes: &Classes, other: Other) -> bool {
        match other {
            Other::Class(class) => {
                self.classes.contains(class) || classes.classes[class].ip_blocks.iter().any(|b| self.blocks.contains(b))
            }
            Other::Address(addr) => {
                self.blocks.iter().any(|b| classes.ip_blocks.get(*b).is_some_and(|block| block.contains(addr)))
            }
        }
    }
}

/// What a Calico entity rule (`source` or `destination`) asks of one end: every field set must hold.
#[derive(Debug, Clone, Default)]
pub struct EndpointMatch {
    /// `selector`, with the namespace scope, `namespaceSelector` and `serviceAccounts` folded in as Calico does.
    pub selected: Option<Selection>,
    /// `notSelector`, over every endpoint of the cluster.
    pub not_selected: Option<Selection>,
    /// `services`: the Service's endpoints.
    pub services: Option<Selection>,
    /// `nets`: address blocks (pods by their IPs).
    pub nets: Option<Vec<usize>>,
    pub not_nets: Vec<usize>,
}

impl EndpointMatch {
    pub fn matches(&self, classes: &Classes, other: Other) -> bool {
        let in_blocks = |blocks: &[usize]| match other {
            Other::Class(class) => classes.classes[class].ip_blocks.iter().any(|b| blocks.contains(b)),
            Other::Address(addr) => {
                blocks.iter().any(|b| classes.ip_blocks.get(*b).is_some_and(|block| block.contains(addr)))
            }
        };
        self.selected.as_ref().is_none_or(|s| s.matches(classes, other))
            && self.not_selected.as_ref().is_none_or(|s| !s.matches(classes, other))
            && self.services.as_ref().is_none_or(|s| s.matches(classes, other))
            && self.nets.as_deref().is_none_or(in_blocks)
            && !in_blocks(&self.not_nets)
    }

    /// The class sets the match reads, which tell classes apart.
    pub fn class_sets(&self) -> impl Iterator<Item = &Arc<FixedBitSet>> + '_ {
        [&self.selected, &self.not_selected, &self.services].into_iter().flatten().map(|s| &s.classes)
    }
}

/// What a Calico rule asks beyond its peer: of the side's own endpoint (the destination of an ingress rule, the
/// source of an egress rule) and of the connection.
#[derive(Debug, Clone, Default)]
pub struct SideCondition {
    pub subject: Option<EndpointMatch>,
    /// `ipVersion`: the connection's address family.
    pub ip_version: Option<u8>,
    /// The rule never decides: it restricts the source port, which the client picks, and is not an Allow (the client
    /// can always pick a port it does not match).
    pub never: bool,
}

impl SideCondition {
    pub fn holds(&self, classes: &Classes, subject: ClassId, other: Other) -> bool {
        if self.never {
            return false;
        }
        if let Some(version) = self.ip_version {
            let subject_has = classes.classes[subject].has_family(version);
            let other_has = match other {
                Other::Class(class) => classes.classes[class].has_family(version),
                Other::Address(addr) => (addr.is_ipv4() && version == 4) || (addr.is_ipv6() && version == 6),
            };
            if !(subject_has && other_has) {
                return false;
            }
        }
        self.subject.as_ref().is_none_or(|m| m.matches(classes, Other::Class(subject)))
    }
}

/// The ports of a rule: numbers now, names once the destination pod is known.
#[derive(Debug, Clone)]
pub struct PortMatch {
    pub numeric: PortSet,
    /// A name with the protocol it must have (NetworkPolicy), or with whatever protocol the container port has
    /// (admin policies, which name no protocol).
    pub named: Vec<(String, Option<Protocol>)>,
    /// Ports taken out again (Calico's `notPorts`), after the names are resolved: numbers, and names resolved like
    /// `named`.
    pub except: PortSet,
    pub except_named: Vec<(String, Option<Protocol>)>,
    /// The protocols the rule matches at all (Calico's `protocol` and `notProtocol`): the answer is cut to them.
    pub protocols: PortSet,
}

impl PortMatch {
    /// An admin rule's ports: `None` is every port of every protocol.
    fn compile_admin(ports: Option<&[AdminPolicyPort]>) -> PortMatch {
        let Some(ports) = ports else { return PortMatch::new(PortSet::all(), Vec::new()) };
        let mut ranges = Vec::new();
        let mut named = Vec::new();
        for entry in ports {
            match &entry.port {
                AdminPort::Number { protocol, port } => ranges.push((*protocol, *port, *port)),
                AdminPort::Range { protocol, start, end } => ranges.push((*protocol, *start, *end)),
                AdminPort::Named(name) => named.push((name.clone(), None)),
            }
        }
        PortMatch::new(PortSet::from_ranges(&ranges), named)
    }

    /// Numbers and names, of any protocol.
    pub fn new(numeric: PortSet, named: Vec<(String, Option<Protocol>)>) -> PortMatch {
        PortMatch { numeric, named, except: PortSet::empty(), except_named: Vec::new(), protocols: PortSet::all() }
    }

    fn compile(ports: &[PolicyPort]) -> PortMatch {
        if ports.is_empty() {
            return PortMatch::new(PortSet::all(), Vec::new());
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
        PortMatch::new(PortSet::from_ranges(&ranges), named)
    }

    /// The ports this rule opens toward a destination with these container ports (`None`: an address, where
    /// names mean nothing).
    pub fn resolve(&self, destination_ports: Option<&[ContainerPort]>) -> PortSet {
        if self.named.is_empty() && self.except.is_empty() && self.except_named.is_empty() && self.protocols.is_all() {
            return self.numeric.clone();
        }
        let names = |named: &[(String, Option<Protocol>)]| {
            let mut ranges = Vec::new();
            for (name, protocol) in named {
                for port in destination_ports.unwrap_or_default() {
                    if port.name.as_deref() == Some(name.as_str()) && protocol.is_none_or(|p| p == port.protocol) {
                        ranges.push((port.protocol, port.port, port.port));
                    }
                }
            }
            PortSet::from_ranges(&ranges)
        };
        let mut ports = self.numeric.union(&names(&self.named)).difference(&self.except);
        if !self.except_named.is_empty() {
            ports = ports.difference(&names(&self.except_named));
        }
        ports.intersection(&self.protocols)
    }
}

/// Which list of the cluster a policy index points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// `Cluster::policies`.
    NetworkPolicy,
    /// `Cluster::admin_policies`.
    Admin,
    /// `Cluster::cilium_policies`; a rule's index is its place among the policy's rules of that direction, spec by
    /// spec, allow rules before deny rules (`crate::cilium::rule_at`).
    Cilium,
    /// The Cilium agent's policy enforcement mode `always`, which makes every endpoint default-deny; index 0.
    CiliumEnforcement,
    /// `Cluster::calico.policies`.
    Calico,
}

/// Where a compiled rule came from, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleOrigin {
    pub kind: PolicyKind,
    /// Index into the cluster's list of policies of that kind.
    pub policy: usize,
    pub direction: Direction,
    /// Index of the rule within the policy's `ingress` or `egress`.
    pub rule: usize,
}

impl RuleOrigin {
    /// A rule of `Cluster::policies[policy]`.
    pub fn network_policy(policy: usize, direction: Direction, rule: usize) -> RuleOrigin {
        RuleOrigin { kind: PolicyKind::NetworkPolicy, policy, direction, rule }
    }
}

#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub origin: RuleOrigin,
    /// `None`: every peer.
    pub peers: Option<Vec<PeerSet>>,
    pub ports: PortMatch,
    /// What the rule asks of the side's own endpoint and of the connection (Calico); `None`: nothing.
    pub condition: Option<Arc<SideCondition>>,
}

impl CompiledRule {
    /// Whether the rule's conditions on the side's own endpoint and the connection hold.
    pub fn condition_holds(&self, classes: &Classes, subject: ClassId, other: Other) -> bool {
        self.condition.as_ref().is_none_or(|c| c.holds(classes, subject, other))
    }

    /// Every class set the rule reads (peers and conditions): what tells classes apart for it.
    pub fn class_sets(&self) -> Vec<&Arc<FixedBitSet>> {
        let mut sets = Vec::new();
        for peer in self.peers.iter().flatten() {
            match peer {
                PeerSet::Classes(set) | PeerSet::Nodes { hosts: set, .. } => sets.push(set),
                PeerSet::Calico(m) => sets.extend(m.class_sets()),
                PeerSet::Block(_) | PeerSet::Blocks(_) | PeerSet::AnyAddress | PeerSet::Fqdn(_) => {}
            }
        }
        if let Some(subject) = self.condition.as_ref().and_then(|c| c.subject.as_ref()) {
            sets.extend(subject.class_sets());
        }
        sets
    }

    /// The index of the first peer that matches (`Some(None)` when the rule has no peers and so matches all).
    pub fn matching_peer(&self, classes: &Classes, other: Other) -> Option<Option<usize>> {
        match &self.peers {
            None => Some(None),
            Some(peers) => peers.iter().position(|p| p.matches(classes, other)).map(Some),
        }
    }

    /// [`CompiledRule::matching_peer`] toward an address known by a DNS name: a `toFQDNs` peer matches only when
    /// its selector matches the name and Cilium learns the name's addresses (the source's lookup passes its DNS
    /// proxy); every other peer matches as it does the address.
    pub fn matching_peer_named(&self, classes: &Classes, other: Other, name: &DnsTarget<'_>) -> Option<Option<usize>> {
        match &self.peers {
            None => Some(None),
            Some(peers) => peers
                .iter()
                .position(|p| match p {
                    PeerSet::Fqdn(selector) => name.learnt && selector.matches(name.name),
                    _ => p.matches(classes, other),
                })
                .map(Some),
        }
    }
}

/// What a rule does with the traffic it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    /// Hand the decision to the next tier.
    Pass,
    /// Decide nothing: evaluation goes on with the next rule (Calico's `Log`).
    Log,
}

/// A rule of a tier, with what it does.
#[derive(Debug, Clone)]
pub struct TierRule {
    pub action: Action,
    pub rule: CompiledRule,
}

impl TierRule {
    pub fn direction(&self) -> Direction {
        self.rule.origin.direction
    }
}

/// One policy of a tier: whom it applies to, in which directions, and its rules in order.
#[derive(Debug, Clone)]
pub struct TierPolicy {
    pub kind: PolicyKind,
    /// Index into the cluster's list of policies of `kind`.
    pub index: usize,
    /// The classes the policy selects.
    pub subjects: Arc<FixedBitSet>,
    /// `applies[direction_slot(d)]`: whether the policy governs direction `d` of its subjects.
    pub applies: [bool; 2],
    /// Ingress rules in order, then egress rules in order.
    pub rules: Vec<TierRule>,
}

/// Which tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TierId {
    /// The `ingressDeny`/`egressDeny` rules of CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies: they
    /// win over every allow, of every kind.
    CiliumDeny,
    /// AdminNetworkPolicies and ClusterNetworkPolicies of the Admin tier.
    Admin,
    /// Kubernetes NetworkPolicies, and on Cilium the allow rules of Cilium's policies (one union).
    NetworkPolicy,
    /// The BaselineAdminNetworkPolicy and ClusterNetworkPolicies of the Baseline tier.
    Baseline,
    /// Another of Calico's tiers: the index among them in evaluation order.
    Calico(usize),
}

/// A tier, compiled.
pub struct CompiledTier {
    pub id: TierId,
    /// How explanations name it: `admin`, `NetworkPolicy` and `baseline` in the Kubernetes model; Calico's tier names
    /// (`kube-admin`, `default`, `kube-baseline`, ...) in Calico's.
    pub name: Arc<str>,
    /// Calico's `order` (`None`: after every tier with one); `None` in the Kubernetes model.
    pub order: Option<f64>,
    /// In evaluation order.
    pub policies: Vec<TierPolicy>,
    /// `applying[direction_slot(d)][class]`: indexes into `policies` of those that apply to the class in `d`,
    /// ascending (evaluation order). A class with none skips the tier.
    pub applying: [Vec<Vec<usize>>; 2],
    /// What the tier does with the ports no rule decided, for a subject some policy of the tier applies to: Deny
    /// (isolation, Calico's implicit end-of-tier deny) or Pass (hand them on).
    pub default_action: Action,
    /// Every rule allows and their order does not matter (NetworkPolicy): explanations name every rule that
    /// matches, not only the first.
    pub union: bool,
}

impl CompiledTier {
    pub(crate) fn new(
        id: TierId,
        policies: Vec<TierPolicy>,
        classes: usize,
        default_action: Action,
        union: bool,
    ) -> Self {
        let name: Arc<str> = Arc::from(match id {
            TierId::Admin => "admin",
            TierId::NetworkPolicy => "NetworkPolicy",
            TierId::Baseline => "baseline",
            TierId::Calico(_) => "calico",
            TierId::CiliumDeny => "Cilium deny",
        });
        Self::named(id, name, None, policies, classes, default_action, union)
    }

    pub(crate) fn named(
        id: TierId,
        name: Arc<str>,
        order: Option<f64>,
        policies: Vec<TierPolicy>,
        classes: usize,
        default_action: Action,
        union: bool,
    ) -> Self {
        let mut applying = [vec![Vec::new(); classes], vec![Vec::new(); classes]];
        for (index, policy) in policies.iter().enumerate() {
            for (lists, applies) in applying.iter_mut().zip(policy.applies) {
                if applies {
                    for class in policy.subjects.ones() {
                        lists[class].push(index);
                    }
                }
            }
        }
        CompiledTier { id, name, order, policies, applying, default_action, union }
    }

    /// Whether any policy of the tier has a rule.
    pub fn has_rules(&self) -> bool {
        self.policies.iter().any(|p| !p.rules.is_empty())
    }

    /// Every rule of the tier, with its policy's subjects, in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = (&Arc<FixedBitSet>, &TierRule)> + '_ {
        self.policies.iter().flat_map(|p| p.rules.iter().map(move |r| (&p.subjects, r)))
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
    pub(crate) cluster: &'a Cluster,
    pub(crate) classes: &'a Classes,
    namespace_of: HashMap<&'a str, usize>,
    namespaces: HashMap<LabelSelector, Vec<usize>>,
    peers: HashMap<(Option<LabelSelector>, usize, Option<LabelSelector>), Arc<FixedBitSet>>,
}

impl<'a> SelectorCache<'a> {
    pub fn new(cluster: &'a Cluster, classes: &'a Classes) -> Self {
        let namespace_of = cluster.namespaces.iter().enumerate().map(|(i, ns)| (ns.name.as_str(), i)).collect();
        SelectorCache { cluster, classes, namespace_of, namespaces: HashMap::new(), peers: HashMap::new() }
    }

    /// The index of a namespace in `Cluster::namespaces` (every namespace anything refers to is there).
    pub fn namespace_index(&self, name: &str) -> usize {
        self.namespace_of.get(name).copied().unwrap_or(0)
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

/// The tiers of a cluster in evaluation order: admin, NetworkPolicy, baseline. Each is there even when empty, so
/// that every explanation walks the same tiers.
pub fn compile_tiers(cluster: &Cluster, classes: &Classes) -> Vec<CompiledTier> {
    let mut cache = SelectorCache::new(cluster, classes);
    let admin = compile_ordered_tier(&mut cache, cluster, Tier::Admin);
    let policies = compile_network_policies(&mut cache, cluster);
    let baseline = compile_ordered_tier(&mut cache, cluster, Tier::Baseline);
    assemble_tiers(admin, policies, baseline, classes.len())
}

/// The tiers of a network whose policies are not enforced: every side falls through to the default allow.
pub fn empty_tiers(classes: usize) -> Vec<CompiledTier> {
    assemble_tiers(Vec::new(), Vec::new(), Vec::new(), classes)
}

fn assemble_tiers(
    admin: Vec<TierPolicy>,
    policies: Vec<TierPolicy>,
    baseline: Vec<TierPolicy>,
    classes: usize,
) -> Vec<CompiledTier> {
    vec![
        CompiledTier::new(TierId::Admin, admin, classes, Action::Pass, false),
        CompiledTier::new(TierId::NetworkPolicy, policies, classes, Action::Deny, true),
        CompiledTier::new(TierId::Baseline, baseline, classes, Action::Pass, false),
    ]
}

/// The three tiers with no policy: what a CNI that enforces none leaves.
pub fn no_tiers(classes: usize) -> Vec<CompiledTier> {
    vec![
        CompiledTier::new(TierId::Admin, Vec::new(), classes, Action::Pass, false),
        CompiledTier::new(TierId::NetworkPolicy, Vec::new(), classes, Action::Deny, true),
        CompiledTier::new(TierId::Baseline, Vec::new(), classes, Action::Pass, false),
    ]
}

/// NetworkPolicies in cluster order (the tier's union makes order irrelevant, and keeps its policy indexes the
/// cluster's).
fn compile_network_policies(cache: &mut SelectorCache<'_>, cluster: &Cluster) -> Vec<TierPolicy> {
    (0..cluster.policies.len()).map(|index| compile_network_policy(cache, index)).collect()
}

/// One NetworkPolicy: every rule allows, and it applies in the directions its `policyTypes` give.
pub(crate) fn compile_network_policy(cache: &mut SelectorCache<'_>, index: usize) -> TierPolicy {
    let policy = &cache.cluster.policies[index];
    let own = cache.namespace_index(&policy.namespace);
    let subjects = cache.pods(None, own, Some(&policy.pod_selector));
    let applies = [policy.applies_to(Direction::Ingress), policy.applies_to(Direction::Egress)];
    let rules = compile_rules(cache, policy, index, own)
        .into_iter()
        .map(|rule| TierRule { action: Action::Allow, rule })
        .collect();
    TierPolicy { kind: PolicyKind::NetworkPolicy, index, subjects, applies, rules }
}

fn compile_rules(cache: &mut SelectorCache<'_>, policy: &NetworkPolicy, index: usize, own: usize) -> Vec<CompiledRule> {
    let mut compiled = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
            compiled.push(CompiledRule {
                origin: RuleOrigin::network_policy(index, direction, rule_index),
                peers: compile_peers(cache, rule, own),
                ports: PortMatch::compile(&rule.ports),
                condition: None,
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

/// The admin or baseline policies in evaluation order.
fn compile_ordered_tier(cache: &mut SelectorCache<'_>, cluster: &Cluster, tier: Tier) -> Vec<TierPolicy> {
    tier_order(cluster, tier).into_iter().map(|index| compile_admin_policy(cache, index)).collect()
}

/// One admin or baseline policy. It applies to its subjects in both directions: what no rule decides passes on
/// either way.
pub(crate) fn compile_admin_policy(cache: &mut SelectorCache<'_>, index: usize) -> TierPolicy {
    let cluster = cache.cluster;
    let policy = &cluster.admin_policies[index];
    let subjects = admin_pods(cache, &policy.subject);
    let mut rules = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
            let peers = rule.peers.iter().map(|peer| admin_peer(cache, cluster, &peer.selector)).collect();
            rules.push(TierRule {
                action: match rule.action {
                    AdminAction::Allow => Action::Allow,
                    AdminAction::Deny => Action::Deny,
                    AdminAction::Pass => Action::Pass,
                },
                rule: CompiledRule {
                    origin: RuleOrigin { kind: PolicyKind::Admin, policy: index, direction, rule: rule_index },
                    peers: Some(peers),
                    ports: PortMatch::compile_admin(rule.ports.as_deref()),
                    condition: None,
                },
            });
        }
    }
    TierPolicy { kind: PolicyKind::Admin, index, subjects, applies: [true, true], rules }
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
