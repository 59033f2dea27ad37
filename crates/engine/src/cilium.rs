//! CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies as Cilium's agent enforces them, compiled into the
//! tiers every other policy kind uses.
//!
//! Cilium decides each side of a connection in three steps: a deny rule (`ingressDeny`/`egressDeny`) of any rule
//! that selects the endpoint wins over everything; otherwise an endpoint that is default-deny in the direction (a
//! CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy selects it with rules in that direction and no
//! `enableDefaultDeny: false`, a Kubernetes NetworkPolicy isolates it, or the agent enforces `always`) gets what
//! the union of every allow rule of every kind allows; an endpoint that is not default-deny gets everything. In
//! tiers: a deny tier first (ordered, default Pass), then the NetworkPolicy tier with the Cilium allow rules added
//! to its union, applying only where the endpoint is default-deny.

use crate::classes::{ClassId, Classes};
use crate::portset::PortSet;
use crate::request::{Condition, Layer, PolicyRef, Request, RequestVerdict, Restriction};
use crate::rules::{
    direction_slot, Action, CompiledRule, CompiledTier, PeerSet, PolicyKind, PortMatch, RuleOrigin, TierId, TierPolicy,
    TierRule,
};
use fixedbitset::FixedBitSet;
use netseg_model::cilium::L7Rules;
use netseg_model::cilium::{
    pod_identity_labels, CiliumEntity, CiliumIdentity, CiliumPeerRule, CiliumPeerSelection, CiliumPolicy,
    CiliumPortNumber, CiliumProtocol, CiliumRule, CiliumSelector, CiliumServiceRef, CiliumSubject,
    DEFAULT_CLUSTER_NAME,
};
use netseg_model::{Cidr, Cluster, Direction, IpBlock, Labels, PolicyEnforcement};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// One rule of a Cilium policy, found from the origin of a compiled rule.
#[derive(Debug, Clone, Copy)]
pub struct CiliumRuleRef<'c> {
    pub policy: &'c CiliumPolicy,
    /// The `spec` or `specs[i]` the rule is in.
    pub spec: &'c CiliumRule,
    /// `ingressDeny`/`egressDeny`.
    pub deny: bool,
    /// The index of the rule in its list (`egress[2]`).
    pub index: usize,
    pub rule: &'c CiliumPeerRule,
}

impl CiliumRuleRef<'_> {
    /// The field that holds the rule, as written: `specs[1].egressDeny[0]`.
    pub fn field(&self, direction: Direction) -> String {
        let list = match (direction, self.deny) {
            (Direction::Ingress, false) => "ingress",
            (Direction::Ingress, true) => "ingressDeny",
            (Direction::Egress, false) => "egress",
            (Direction::Egress, true) => "egressDeny",
        };
        format!("{}.{list}[{}]", self.spec.field, self.index)
    }
}

/// The rules of one policy in one direction in the order their origins number them: spec by spec, the allow rules
/// and then the deny rules.
fn flat_rules(policy: &CiliumPolicy, direction: Direction) -> impl Iterator<Item = (usize, usize, bool, usize)> + '_ {
    policy
        .rules
        .iter()
        .enumerate()
        .flat_map(move |(spec_index, spec)| {
            [false, true].into_iter().flat_map(move |deny| {
                (0..spec.rules(direction, deny).len()).map(move |index| (spec_index, deny, index))
            })
        })
        .enumerate()
        .map(|(flat, (spec, deny, index))| (flat, spec, deny, index))
}

/// The Cilium rule a compiled rule came from (`origin.kind` must be [`PolicyKind::Cilium`]).
pub fn rule_at(cluster: &Cluster, origin: RuleOrigin) -> Option<CiliumRuleRef<'_>> {
    if origin.kind != PolicyKind::Cilium {
        return None;
    }
    let policy = cluster.cilium_policies.get(origin.policy)?;
    let (_, spec, deny, index) = flat_rules(policy, origin.direction).find(|(flat, ..)| *flat == origin.rule)?;
    let spec = &policy.rules[spec];
    Some(CiliumRuleRef { policy, spec, deny, index, rule: &spec.rules(origin.direction, deny)[index] })
}

fn everything_v4() -> IpBlock {
    IpBlock { cidr: Cidr { network: IpAddr::V4(Ipv4Addr::UNSPECIFIED), prefix: 0 }, except: Vec::new() }
}

fn everything_v6() -> IpBlock {
    IpBlock { cidr: Cidr { network: IpAddr::V6(Ipv6Addr::UNSPECIFIED), prefix: 0 }, except: Vec::new() }
}

/// The API server's addresses as the input gives them: the endpoints of the `default/kubernetes` Service, which is
/// what Cilium's `kube-apiserver` entity stands for besides the API server's own pods.
fn api_server_addresses(cluster: &Cluster) -> impl Iterator<Item = IpAddr> + '_ {
    cluster
        .endpoints
        .iter()
        .filter(|e| e.namespace == "default" && e.service == "kubernetes")
        .flat_map(|e| e.addresses.iter().copied())
}

/// Every address block a Cilium policy tests: its CIDR rules, the address families of `world-ipv4` and
/// `world-ipv6`, and the API server's addresses where a rule names `kube-apiserver`.
pub fn policy_blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let mut blocks = Vec::new();
    for policy in &cluster.cilium_policies {
        for spec in &policy.rules {
            for direction in [Direction::Ingress, Direction::Egress] {
                for deny in [false, true] {
                    for peer in spec.rules(direction, deny).iter().flat_map(|r| &r.peers) {
                        match &peer.selection {
                            CiliumPeerSelection::Cidr(block) => blocks.push(block.clone()),
                            CiliumPeerSelection::Entity(CiliumEntity::WorldIpv4) => blocks.push(everything_v4()),
                            CiliumPeerSelection::Entity(CiliumEntity::WorldIpv6) => blocks.push(everything_v6()),
                            CiliumPeerSelection::Entity(CiliumEntity::KubeApiserver) => {
                                blocks.extend(api_server_addresses(cluster).map(crate::addresses::host_block))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    blocks
}

/// What the compiler needs of the cluster: each class's identity labels, and selector results cached.
struct Compiler<'a> {
    cluster: &'a Cluster,
    classes: &'a Classes,
    /// The `k8s` labels of each pod class as Cilium's identity has them (empty for host-network classes).
    identities: Vec<Labels>,
    selected: HashMap<CiliumSelector, Arc<FixedBitSet>>,
    empty: Arc<FixedBitSet>,
}

impl<'a> Compiler<'a> {
    fn new(cluster: &'a Cluster, classes: &'a Classes) -> Self {
        let cluster_name = cluster
            .cilium_config
            .as_ref()
            .and_then(|config| config.cluster_name.clone())
            .unwrap_or_else(|| DEFAULT_CLUSTER_NAME.to_string());
        let identities = classes
            .classes
            .iter()
            .map(|class| match cluster.namespaces.get(class.namespace) {
                Some(namespace) if !class.host_network => pod_identity_labels(
                    &class.labels,
                    &namespace.name,
                    &namespace.labels,
                    Some(class.service_account.as_str()),
                    &cluster_name,
                ),
                _ => Labels::new(),
            })
            .collect();
        let empty = Arc::new(classes.empty_set());
        Compiler { cluster, classes, identities, selected: HashMap::new(), empty }
    }

    fn identity(&self, class: ClassId) -> CiliumIdentity<'_> {
        if self.classes.classes[class].host_network {
            CiliumIdentity { k8s: None, reserved: &["host", "remote-node"] }
        } else {
            CiliumIdentity { k8s: Some(&self.identities[class]), reserved: &[] }
        }
    }

    fn set_where(&self, keep: impl Fn(ClassId) -> bool) -> Arc<FixedBitSet> {
        let mut set = self.classes.empty_set();
        for class in (0..self.classes.len()).filter(|&c| keep(c)) {
            set.insert(class);
        }
        Arc::new(set)
    }

    /// The classes an endpoint selector of a peer matches: pods by their identity labels, host-network pods as
    /// the `host` and `remote-node` reserved identities.
    fn peers(&mut self, selector: &CiliumSelector) -> Arc<FixedBitSet> {
        if let Some(found) = self.selected.get(selector) {
            return found.clone();
        }
        let set = self.set_where(|class| selector.matches(self.identity(class)));
        self.selected.insert(selector.clone(), set.clone());
        set
    }

    /// The endpoints (pods, never the host) a rule's `endpointSelector` selects; a host policy (`nodeSelector`)
    /// selects no pod.
    fn subjects(&mut self, subject: &CiliumSubject) -> Arc<FixedBitSet> {
        match subject {
            CiliumSubject::Endpoints(selector) => {
                let mut set = (*self.peers(selector)).clone();
                set.difference_with(self.classes.host_network());
                Arc::new(set)
            }
            CiliumSubject::Nodes(_) => self.empty.clone(),
        }
    }

    fn entity(&self, entity: CiliumEntity) -> Vec<PeerSet> {
        let block = |b: IpBlock| PeerSet::Block(self.classes.block_id(&b).unwrap_or(usize::MAX));
        match entity {
            CiliumEntity::All => vec![PeerSet::Classes(self.set_where(|_| true)), PeerSet::AnyAddress],
            CiliumEntity::World => vec![PeerSet::AnyAddress],
            CiliumEntity::WorldIpv4 => vec![block(everything_v4())],
            CiliumEntity::WorldIpv6 => vec![block(everything_v6())],
            CiliumEntity::Cluster => vec![PeerSet::Classes(self.set_where(|_| true))],
            CiliumEntity::Host | CiliumEntity::RemoteNode => {
                vec![PeerSet::Classes(Arc::new(self.classes.host_network().clone()))]
            }
            CiliumEntity::KubeApiserver => {
                let pods = PeerSet::Classes(self.set_where(|class| {
                    let class = &self.classes.classes[class];
                    self.cluster.namespaces.get(class.namespace).is_some_and(|ns| ns.name == "kube-system")
                        && class.labels.get("component").is_some_and(|c| &**c == "kube-apiserver")
                }));
                let mut peers = vec![pods];
                peers.extend(api_server_addresses(self.cluster).map(|addr| block(crate::addresses::host_block(addr))));
                peers
            }
            CiliumEntity::Ingress
            | CiliumEntity::Health
            | CiliumEntity::Init
            | CiliumEntity::Unmanaged
            | CiliumEntity::None => vec![PeerSet::Classes(self.empty.clone())],
        }
    }

    fn service(&self, service: &CiliumServiceRef) -> PeerSet {
        let CiliumServiceRef::Named { namespace, name } = service else {
            // Services by their labels: netseg does not keep a Service's labels.
            return PeerSet::Classes(self.empty.clone());
        };
        let backends: Vec<(&str, &Labels)> = self
            .cluster
            .services
            .iter()
            .filter(|s| &s.name == name && namespace.as_ref().is_none_or(|ns| *ns == s.namespace))
            .filter_map(|s| s.selector.as_ref().map(|selector| (s.namespace.as_str(), selector)))
            .collect();
        PeerSet::Classes(self.set_where(|class| {
            let class = &self.classes.classes[class];
            let in_namespace = |ns: &str| self.cluster.namespaces.get(class.namespace).is_some_and(|n| n.name == ns);
            !class.host_network
                && backends.iter().any(|(ns, selector)| {
                    in_namespace(ns) && selector.iter().all(|(k, v)| class.labels.get(k) == Some(v))
                })
        }))
    }

    fn nodes(&self, selector: &CiliumSelector) -> PeerSet {
        PeerSet::Classes(self.set_where(|class| {
            let class = &self.classes.classes[class];
            class.host_network
                && class.node.as_ref().is_some_and(|name| {
                    self.cluster.nodes.iter().any(|node| {
                        &node.name == name
                            && selector.matches(CiliumIdentity { k8s: Some(&node.labels), reserved: &[] })
                    })
                })
        }))
    }

    /// A rule's peers: `None` when it names none but ports (it matches every peer).
    fn rule_peers(&mut self, rule: &CiliumPeerRule, requires: &[CiliumSelector]) -> Option<Vec<PeerSet>> {
        if rule.any_peer() {
            return None;
        }
        let mut peers = Vec::new();
        for peer in &rule.peers {
            match &peer.selection {
                CiliumPeerSelection::Endpoints(selector) => {
                    let mut selector = selector.clone();
                    for required in requires {
                        selector.requirements.extend(required.requirements.iter().cloned());
                    }
                    peers.push(PeerSet::Classes(self.peers(&selector)));
                }
                CiliumPeerSelection::Entity(entity) => peers.extend(self.entity(*entity)),
                CiliumPeerSelection::Cidr(block) => {
                    peers.push(PeerSet::Block(self.classes.block_id(block).unwrap_or(usize::MAX)))
                }
                CiliumPeerSelection::Service(service) => peers.push(self.service(service)),
                CiliumPeerSelection::Fqdn(selector) => peers.push(PeerSet::Fqdn(Arc::new(selector.clone()))),
                CiliumPeerSelection::Nodes(selector) => peers.push(self.nodes(selector)),
                CiliumPeerSelection::CidrGroup(_) | CiliumPeerSelection::CloudGroup => {
                    peers.push(PeerSet::Classes(self.empty.clone()))
                }
            }
        }
        Some(peers)
    }
}

/// A rule's ports: every port when it names none; a rule that allows only ICMP allows no port.
pub fn rule_ports(rule: &CiliumPeerRule) -> PortMatch {
    let Some(port_rules) = &rule.ports else {
        if rule.icmps {
            return PortMatch::new(PortSet::empty(), Vec::new());
        }
        return PortMatch::new(PortSet::all(), Vec::new());
    };
    let mut ranges = Vec::new();
    let mut named = Vec::new();
    for port in port_rules.iter().flat_map(|p| &p.ports) {
        match &port.port {
            CiliumPortNumber::All => {
                ranges.extend(port.protocol.protocols().into_iter().map(|protocol| (protocol, 1, 65535)))
            }
            CiliumPortNumber::Number(start) => {
                let end = port.end_port.unwrap_or(*start).max(*start);
                ranges.extend(port.protocol.protocols().into_iter().map(|protocol| (protocol, *start, end)))
            }
            CiliumPortNumber::Named(name) => named.push((
                name.clone(),
                match port.protocol {
                    CiliumProtocol::Any => None,
                    CiliumProtocol::One(protocol) => Some(protocol),
                },
            )),
        }
    }
    PortMatch::new(PortSet::from_ranges(&ranges), named)
}

/// Adds Cilium's policies to the tiers `rules::compile_tiers` made: the deny tier in front, the allow rules into
/// the NetworkPolicy tier's union where the endpoint is default-deny.
pub fn extend_tiers(
    tiers: &mut Vec<CompiledTier>,
    cluster: &Cluster,
    classes: &Classes,
    enforcement: PolicyEnforcement,
) {
    let count = classes.len();
    let mut compiler = Compiler::new(cluster, classes);
    let Some(position) = tiers.iter().position(|t| t.id == TierId::NetworkPolicy) else { return };

    // Whom each rule selects.
    let subjects: Vec<Vec<Arc<FixedBitSet>>> = cluster
        .cilium_policies
        .iter()
        .map(|policy| policy.rules.iter().map(|spec| compiler.subjects(&spec.subject)).collect())
        .collect();

    // Who is default-deny in each direction.
    let mut pods = classes.empty_set();
    pods.insert_range(..);
    pods.difference_with(classes.host_network());
    let mut isolated = [classes.empty_set(), classes.empty_set()];
    for direction in [Direction::Ingress, Direction::Egress] {
        let slot = direction_slot(direction);
        if enforcement == PolicyEnforcement::Always {
            isolated[slot].union_with(&pods);
        }
        for policy in tiers[position].policies.iter().filter(|p| p.applies[slot]) {
            isolated[slot].union_with(&policy.subjects);
        }
        for (policy, specs) in cluster.cilium_policies.iter().zip(&subjects) {
            for (spec, selected) in policy.rules.iter().zip(specs) {
                if spec.default_deny(direction) {
                    isolated[slot].union_with(selected);
                }
            }
        }
    }

    let mut allows = Vec::new();
    let mut denies = Vec::new();
    for (index, policy) in cluster.cilium_policies.iter().enumerate() {
        for (spec_index, spec) in policy.rules.iter().enumerate() {
            let selected = &subjects[index][spec_index];
            let mut deny_rules = Vec::new();
            for direction in [Direction::Ingress, Direction::Egress] {
                let slot = direction_slot(direction);
                let requires: Vec<CiliumSelector> =
                    spec.rules(direction, false).iter().flat_map(|r| r.requires.iter().cloned()).collect();
                let mut allow_rules = Vec::new();
                for (flat, spec_at, deny, at) in flat_rules(policy, direction) {
                    if spec_at != spec_index {
                        continue;
                    }
                    let rule = &spec.rules(direction, deny)[at];
                    let compiled = CompiledRule {
                        origin: RuleOrigin { kind: PolicyKind::Cilium, policy: index, direction, rule: flat },
                        peers: compiler.rule_peers(rule, if deny { &[] } else { &requires }),
                        ports: rule_ports(rule),
                        condition: None,
                    };
                    if deny {
                        deny_rules.push(TierRule { action: Action::Deny, rule: compiled });
                    } else {
                        allow_rules.push(TierRule { action: Action::Allow, rule: compiled });
                    }
                }
                let mut applying = (**selected).clone();
                applying.intersect_with(&isolated[slot]);
                if applying.ones().next().is_none() {
                    continue;
                }
                let mut applies = [false, false];
                applies[slot] = true;
                allows.push(TierPolicy {
                    kind: PolicyKind::Cilium,
                    index,
                    subjects: Arc::new(applying),
                    applies,
                    rules: allow_rules,
                });
            }
            if !deny_rules.is_empty() {
                let applies =
                    [!spec.rules(Direction::Ingress, true).is_empty(), !spec.rules(Direction::Egress, true).is_empty()];
                denies.push(TierPolicy {
                    kind: PolicyKind::Cilium,
                    index,
                    subjects: selected.clone(),
                    applies,
                    rules: deny_rules,
                });
            }
        }
    }
    if enforcement == PolicyEnforcement::Always {
        allows.push(TierPolicy {
            kind: PolicyKind::CiliumEnforcement,
            index: 0,
            subjects: Arc::new(pods),
            applies: [true, true],
            rules: Vec::new(),
        });
    }

    let mut policies = std::mem::take(&mut tiers[position].policies);
    policies.extend(allows);
    tiers[position] = CompiledTier::new(TierId::NetworkPolicy, policies, count, Action::Deny, true);
    tiers.insert(0, CompiledTier::new(TierId::CiliumDeny, denies, count, Action::Pass, false));
}

/// The Cilium egress allow rules that apply to a pod class (its policies select it and it is default-deny in
/// egress), each with the rule it came from.
fn egress_allows<'a>(analysis: &'a crate::Analysis<'_>, class: ClassId) -> Vec<(RuleOrigin, CiliumRuleRef<'a>)> {
    let tier = analysis.network_policy_tier();
    let Some(applying) = tier.applying[direction_slot(Direction::Egress)].get(class) else { return Vec::new() };
    applying
        .iter()
        .map(|&p| &tier.policies[p])
        .filter(|policy| policy.kind == PolicyKind::Cilium)
        .flat_map(|policy| &policy.rules)
        .filter(|rule| rule.direction() == Direction::Egress)
        .filter_map(|rule| Some((rule.rule.origin, rule_at(analysis.cluster, rule.rule.origin)?)))
        .collect()
}

/// The egress rules of a pod class whose L7 DNS rules let its lookup of `name` through Cilium's DNS proxy: the
/// proxy answers only the queries a `dns` rule allows, and Cilium learns the addresses behind a name (all that a
/// `toFQDNs` rule ever matches) only from the answers it passes. Empty: the lookup does not pass the proxy, and no
/// `toFQDNs` rule matches the name for this pod.
pub(crate) fn lookup_rules(analysis: &crate::Analysis<'_>, class: ClassId, name: &str) -> Vec<RuleOrigin> {
    egress_allows(analysis, class)
        .into_iter()
        .filter(|(_, rule)| {
            rule.rule.ports.iter().flatten().any(|port_rule| match &port_rule.l7 {
                Some(L7Rules::Dns(selectors)) => selectors.iter().any(|selector| selector.matches(name)),
                _ => false,
            })
        })
        .map(|(origin, _)| origin)
        .collect()
}

/// What Cilium makes of a DNS name for one source pod: the `toFQDNs` rules of its egress whose selectors match the
/// name, and the rules whose L7 DNS rules let its lookup of the name through the DNS proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameLookup {
    pub fqdn_rules: Vec<RuleOrigin>,
    pub lookup_rules: Vec<RuleOrigin>,
}

/// [`NameLookup`] for a pod (`None` for an address, or where Cilium's policies are not evaluated).
pub fn name_lookup(analysis: &crate::Analysis<'_>, src: crate::Endpoint, name: &str) -> Option<NameLookup> {
    let class = analysis.class_of(src)?;
    if analysis.cluster.cilium_policies.is_empty() {
        return None;
    }
    let fqdn_rules = egress_allows(analysis, class)
        .into_iter()
        .filter(|(_, rule)| {
            rule.rule
                .peers
                .iter()
                .any(|peer| matches!(&peer.selection, CiliumPeerSelection::Fqdn(s) if s.matches(name)))
        })
        .map(|(origin, _)| origin)
        .collect();
    Some(NameLookup { fqdn_rules, lookup_rules: lookup_rules(analysis, class, name) })
}

/// The L7 rules of a rule's `toPorts` entries that cover some of `ports` (named ports always count: they resolve
/// only on the destination).
fn l7_on<'r>(rule: &'r CiliumPeerRule, ports: &PortSet) -> Vec<&'r netseg_model::cilium::CiliumPortRule> {
    rule.ports
        .iter()
        .flatten()
        .filter(|port_rule| {
            let single = CiliumPeerRule { ports: Some(vec![(*port_rule).clone()]), ..rule.clone() };
            let named = port_rule.ports.iter().any(|p| matches!(p.port, CiliumPortNumber::Named(_)));
            named || !rule_ports(&single).numeric.intersection(ports).is_empty()
        })
        .collect()
}

fn policy_ref(rule: &CiliumRuleRef<'_>, direction: Direction) -> PolicyRef {
    PolicyRef {
        kind: rule.policy.kind.as_str().to_string(),
        namespace: rule.policy.namespace.clone(),
        name: rule.policy.name.clone(),
        rule: None,
        location: Some(netseg_model::Location { file: rule.policy.location.file.clone(), line: rule.rule.line }),
    }
    .with_field(rule.field(direction))
}

trait WithField {
    fn with_field(self, field: String) -> Self;
}

impl WithField for PolicyRef {
    /// The rule's field goes into the name, as `PolicyRef` numbers rules only.
    fn with_field(mut self, field: String) -> Self {
        self.name = format!("{} {field}", self.name);
        self
    }
}

/// Whether one HTTP rule admits the request: `Some(true)`/`Some(false)`, or `None` when the request does not
/// give a field the rule tests.
fn http_admits(rule: &netseg_model::cilium::HttpRule, request: &Request) -> Option<bool> {
    let mut unknown = false;
    let mut test = |pattern: &Option<netseg_model::cilium::HttpPattern>, value: Option<String>| match (pattern, value) {
        (None, _) => true,
        (Some(pattern), Some(value)) => pattern.matches(&value),
        (Some(_), None) => {
            unknown = true;
            true
        }
    };
    // Cilium matches the path regex against the path with its query string.
    let path = request.path.as_ref().map(|path| match &request.query {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    });
    let mut admits =
        test(&rule.method, request.method.clone()) && test(&rule.path, path) && test(&rule.host, request.host.clone());
    for header in &rule.headers {
        if header.mismatch.is_some() {
            continue;
        }
        let sent = request.headers.iter().find(|(name, _)| *name == header.name).map(|(_, value)| value);
        match (&header.value, sent) {
            _ if header.secret => unknown = true,
            (_, None) => admits = false,
            (Some(want), Some(value)) => admits &= want == value,
            (None, Some(_)) => {}
        }
    }
    if !admits {
        Some(false)
    } else if unknown {
        None
    } else {
        Some(true)
    }
}

/// What Cilium's L7 rules make of `request` on `ports` for one explained pair: `None` when no L7 rule restricts
/// those ports on either side (an allow without L7 rules, Cilium's or a NetworkPolicy's, lets every request
/// through), or when no request is named (then `can` lists the conditions).
pub fn request_verdict(
    cluster: &Cluster,
    explanation: &crate::Explanation,
    ports: &PortSet,
    request: &Request,
) -> Option<RequestVerdict> {
    if request.is_unspecified() {
        return None;
    }
    let mut verdicts = Vec::new();
    for side in [&explanation.egress, &explanation.ingress] {
        let hits: Vec<_> =
            side.hits(TierId::NetworkPolicy).iter().filter(|hit| !hit.ports.intersection(ports).is_empty()).collect();
        let mut restricting = Vec::new();
        let mut open = hits.is_empty();
        for hit in hits {
            let Some(rule) = rule_at(cluster, hit.origin) else {
                open = true;
                continue;
            };
            // A `toPorts` entry without L7 rules on these ports lets every request through.
            let l7 = l7_on(rule.rule, &hit.ports.intersection(ports));
            if l7.is_empty() || l7.iter().any(|p| p.l7.is_none()) {
                open = true;
            } else {
                restricting.push((rule, l7));
            }
        }
        if open || restricting.is_empty() {
            continue;
        }
        let mut admitted = Vec::new();
        let mut denied_by = Vec::new();
        let mut unknown = None;
        for (rule, port_rules) in restricting {
            let reference = policy_ref(&rule, side.direction);
            for port_rule in port_rules {
                match &port_rule.l7 {
                    Some(L7Rules::Http(rules)) => {
                        let answers: Vec<Option<bool>> = rules.iter().map(|r| http_admits(r, request)).collect();
                        if answers.contains(&Some(true)) {
                            admitted.push(reference.clone());
                        } else if answers.contains(&None) {
                            unknown = Some(format!(
                                "{reference} tests a request field the question does not give (--method, --path, \
                                 --host, --header), or a header value held in a Secret"
                            ));
                        } else {
                            denied_by.push(reference.clone());
                        }
                    }
                    // The DNS proxy answers a query when one of the rule's names or patterns matches it.
                    Some(L7Rules::Dns(selectors)) => match &request.dns_name {
                        Some(name) if selectors.iter().any(|s| s.matches(name)) => admitted.push(reference.clone()),
                        Some(_) => denied_by.push(reference.clone()),
                        None => {
                            unknown = Some(format!(
                                "{reference} restricts DNS queries by the name they ask about (--dns-name)"
                            ))
                        }
                    },
                    Some(other) => {
                        unknown = Some(format!(
                            "{reference} restricts {} requests, which a question cannot name",
                            other.protocol()
                        ))
                    }
                    None => admitted.push(reference.clone()),
                }
            }
        }
        verdicts.push(if !admitted.is_empty() {
            RequestVerdict::Allowed { by: admitted }
        } else if let Some(reason) = unknown {
            RequestVerdict::Unknown { reason }
        } else {
            RequestVerdict::Denied { by: denied_by }
        });
    }
    // Both sides must admit the request.
    let denied: Vec<PolicyRef> = verdicts
        .iter()
        .filter_map(|v| match v {
            RequestVerdict::Denied { by } => Some(by.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    if verdicts.is_empty() {
        return None;
    }
    if !denied.is_empty() || verdicts.iter().any(|v| matches!(v, RequestVerdict::Denied { .. })) {
        return Some(RequestVerdict::Denied { by: denied });
    }
    if let Some(RequestVerdict::Unknown { reason }) =
        verdicts.iter().find(|v| matches!(v, RequestVerdict::Unknown { .. }))
    {
        return Some(RequestVerdict::Unknown { reason: reason.clone() });
    }
    let by: Vec<PolicyRef> = verdicts
        .into_iter()
        .filter_map(|v| match v {
            RequestVerdict::Allowed { by } => Some(by),
            _ => None,
        })
        .flatten()
        .collect();
    Some(RequestVerdict::Allowed { by })
}

/// Whether any Cilium allow rule has L7 rules: without one, no Cilium rule restricts requests and
/// [`restrictions`] need never be asked.
pub fn has_l7_rules(cluster: &Cluster) -> bool {
    cluster.cilium_policies.iter().flat_map(|p| &p.rules).any(|rule| {
        [Direction::Ingress, Direction::Egress].into_iter().any(|direction| {
            rule.rules(direction, false).iter().flat_map(|peer| peer.ports.iter().flatten()).any(|p| p.l7.is_some())
        })
    })
}

/// What one `toPorts` entry's L7 rules admit, one condition each (a request must match one): `None` when the
/// entry has no L7 rules and so lets every request through.
pub fn l7_conditions(port_rule: &netseg_model::cilium::CiliumPortRule) -> Option<Vec<String>> {
    Some(match port_rule.l7.as_ref()? {
        L7Rules::Http(rules) => rules.iter().map(|r| format!("HTTP {} (line {})", r.describe(), r.line)).collect(),
        L7Rules::Kafka(rules) => rules.iter().map(|r| format!("Kafka {} (line {})", r.describe(), r.line)).collect(),
        L7Rules::Dns(rules) => rules.iter().map(|r| format!("DNS query {r}")).collect(),
        L7Rules::Generic { proto, rules } => vec![format!("{proto} ({rules} rules of a parser netseg does not model)")],
    })
}

/// The ports of `ports` on which Cilium's L7 rules let only some requests through, for one explained pair, with
/// what the requests must be: the `can` answer with no request named, for every port at once. On each side, a
/// port is restricted when every allow rule that lets it through does so with L7 rules (one allow without them,
/// Cilium's or a NetworkPolicy's, lets every request through, as [`request_verdict`] decides); the two sides
/// give separate restrictions, since a request must pass both.
pub fn restrictions(cluster: &Cluster, explanation: &crate::Explanation, ports: &PortSet) -> Vec<Restriction> {
    let mut restrictions: Vec<Restriction> = Vec::new();
    for side in [&explanation.egress, &explanation.ingress] {
        let l7 = side_l7(cluster, side, ports);
        let open = l7.open();
        let mut side_restrictions: Vec<Restriction> = Vec::new();
        for (these, condition) in l7.restricted {
            let these = these.difference(&open);
            if these.is_empty() {
                continue;
            }
            match side_restrictions.iter_mut().find(|r| r.ports == these) {
                Some(same) if !same.any_of.contains(&condition) => same.any_of.push(condition),
                Some(_) => {}
                None => side_restrictions.push(Restriction { ports: these, any_of: vec![condition] }),
            }
        }
        restrictions.extend(side_restrictions);
    }
    restrictions
}

/// An L7 rule that restricts nothing for one pair: an allow without L7 rules lets every request through on some
/// of the ports the L7 rule was meant to restrict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledL7 {
    pub direction: Direction,
    /// The Cilium rule with the L7 rules.
    pub restricting: PolicyRef,
    pub ports: PortSet,
    /// The allows without L7 rules that open those ports (Cilium rules or NetworkPolicies, as Cilium unions them).
    pub opened_by: Vec<PolicyRef>,
}

/// Where, for one explained pair, an allow without L7 rules cancels a Cilium L7 rule on `ports`: the other half of
/// [`restrictions`], for the audit.
pub fn cancelled_l7(cluster: &Cluster, explanation: &crate::Explanation, ports: &PortSet) -> Vec<CancelledL7> {
    let mut cancelled = Vec::new();
    for side in [&explanation.egress, &explanation.ingress] {
        let l7 = side_l7(cluster, side, ports);
        let mut seen: Vec<PolicyRef> = Vec::new();
        for (these, condition) in &l7.restricted {
            if seen.contains(&condition.by) {
                continue;
            }
            seen.push(condition.by.clone());
            let opened_by: Vec<PolicyRef> = l7
                .opened
                .iter()
                .filter(|(open, _)| !open.intersection(these).is_empty())
                .map(|(_, by)| by.clone())
                .collect();
            let on = these.intersection(&l7.open());
            if !on.is_empty() {
                cancelled.push(CancelledL7 {
                    direction: side.direction,
                    restricting: condition.by.clone(),
                    ports: on,
                    opened_by,
                });
            }
        }
    }
    cancelled
}

/// One side's allows on `ports`, split into those that let every request through (with who opened them) and
/// those with L7 conditions.
struct SideL7 {
    opened: Vec<(PortSet, PolicyRef)>,
    restricted: Vec<(PortSet, Condition)>,
}

impl SideL7 {
    fn open(&self) -> PortSet {
        let mut open = PortSet::empty();
        for (ports, _) in &self.opened {
            open.union_with(ports);
        }
        open
    }
}

fn side_l7(cluster: &Cluster, side: &crate::SideTrace, ports: &PortSet) -> SideL7 {
    let mut l7 = SideL7 { opened: Vec::new(), restricted: Vec::new() };
    for hit in side.hits(TierId::NetworkPolicy) {
        let on = hit.ports.intersection(ports);
        if on.is_empty() {
            continue;
        }
        let Some(rule) = rule_at(cluster, hit.origin) else {
            l7.opened.push((on, network_policy_ref(cluster, hit.origin)));
            continue;
        };
        let by = policy_ref(&rule, side.direction);
        let mut covered = PortSet::empty();
        for port_rule in rule.rule.ports.iter().flatten() {
            let single = CiliumPeerRule { ports: Some(vec![port_rule.clone()]), ..rule.rule.clone() };
            // A named port is resolved per pod when the rule is compiled: the hit's ports are its numbers.
            let named = port_rule.ports.iter().any(|p| matches!(p.port, CiliumPortNumber::Named(_)));
            let these = if named { on.clone() } else { rule_ports(&single).numeric.intersection(&on) };
            if these.is_empty() {
                continue;
            }
            covered.union_with(&these);
            match l7_conditions(port_rule) {
                None => l7.opened.push((these, by.clone())),
                Some(conditions) => l7.restricted.extend(
                    conditions
                        .into_iter()
                        .map(|admits| (these.clone(), Condition { layer: Layer::CiliumL7, by: by.clone(), admits })),
                ),
            }
        }
        // Ports the rule allows outside every `toPorts` entry (a rule without `toPorts` allows them all).
        let outside = on.difference(&covered);
        if !outside.is_empty() {
            l7.opened.push((outside, by));
        }
    }
    l7
}

/// A NetworkPolicy's rule as a citation (what else allows in the tier Cilium unions its policies with).
fn network_policy_ref(cluster: &Cluster, origin: RuleOrigin) -> PolicyRef {
    match cluster.policies.get(origin.policy).filter(|_| origin.kind == PolicyKind::NetworkPolicy) {
        Some(policy) => PolicyRef {
            kind: "NetworkPolicy".into(),
            namespace: Some(policy.namespace.clone()),
            name: policy.name.clone(),
            rule: Some(origin.rule),
            location: Some(policy.location.clone()),
        },
        None => PolicyRef {
            kind: "policy".into(),
            namespace: None,
            name: format!("{:?}", origin.kind),
            rule: Some(origin.rule),
            location: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::network::{Network, NetworkChoice};
    use crate::tests::{cluster, pod};
    use crate::{Endpoint, PortSet};
    use netseg_model::{Cluster, PolicyEnforcement, Protocol};

    fn ip(text: &str) -> Endpoint {
        Endpoint::Address(text.parse().expect("ip"))
    }

    fn tcp(port: u16) -> PortSet {
        PortSet::from_ranges(&[(Protocol::Tcp, port, port)])
    }

    fn cilium(c: &Cluster) -> Network<'_> {
        Network::new(c, &NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() }).expect("known")
    }

    /// Cilium's Star Wars demo (http-sw-app): a deathstar Service that the empire's ships may land on.
    const STAR_WARS: &str = "
kind: Pod
metadata: {name: deathstar, namespace: default, labels: {org: empire, class: deathstar}}
spec: {containers: [{ports: [{containerPort: 80}]}]}
---
kind: Pod
metadata: {name: tiefighter, namespace: default, labels: {org: empire, class: tiefighter}}
---
kind: Pod
metadata: {name: xwing, namespace: default, labels: {org: alliance, class: xwing}}
---
";

    /// The demo's L3/L4 rule (sw_l3_l4_policy): only `org: empire` reaches the deathstar, on TCP 80.
    const L3_L4: &str = "apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: default}
spec:
  endpointSelector: {matchLabels: {org: empire, class: deathstar}}
  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts: [{ports: [{port: '80', protocol: TCP}]}]
";

    #[test]
    fn star_wars_the_empire_lands_and_the_alliance_is_dropped() {
        let c = cluster(&format!("{STAR_WARS}{L3_L4}"));
        let network = cilium(&c);
        let a = network.effective();
        assert_eq!(a.allowed(pod(&c, "tiefighter"), pod(&c, "deathstar")), tcp(80));
        assert!(a.allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_empty());
        // Only the deathstar's ingress is default-deny.
        assert!(a.allowed(pod(&c, "deathstar"), pod(&c, "xwing")).is_all());
        assert!(a.allowed(pod(&c, "deathstar"), ip("1.1.1.1")).is_all());
    }

    #[test]
    fn cilium_policies_are_inert_where_another_cni_enforces() {
        let c = cluster(&format!("{STAR_WARS}{L3_L4}"));
        let network =
            Network::new(&c, &NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() }).expect("known");
        assert!(network.effective().allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_all());
        assert!(network.notes().iter().any(|n| n.contains("does not enforce CiliumNetworkPolicy")));
        // No CNI in the input: the Cilium policies are taken as enforced, as NetworkPolicies are.
        let network = Network::new(&c, &NetworkChoice::default()).expect("no CNI");
        assert!(network.effective().allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_empty());
    }

    #[test]
    fn deny_rules_win_over_every_allow_of_every_kind() {
        let c = cluster(&format!(
            "{STAR_WARS}apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: open, namespace: default}}
spec: {{podSelector: {{}}, ingress: [{{}}]}}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {{name: no-xwing}}
spec:
  endpointSelector: {{matchLabels: {{class: deathstar}}}}
  enableDefaultDeny: {{ingress: false}}
  ingressDeny:
  - fromEndpoints: [{{matchLabels: {{org: alliance}}}}]
"
        ));
        let network = cilium(&c);
        let a = network.effective();
        assert!(a.allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_empty());
        assert!(a.allowed(pod(&c, "tiefighter"), pod(&c, "deathstar")).is_all());
        let explanation = a.explain(pod(&c, "xwing"), pod(&c, "deathstar"));
        let hit = &explanation.ingress.hits(crate::TierId::CiliumDeny)[0];
        let rule = super::rule_at(&c, hit.origin).expect("the deny rule");
        assert!(rule.deny && rule.field(netseg_model::Direction::Ingress) == "spec.ingressDeny[0]");
    }

    #[test]
    fn allows_are_the_union_of_network_policies_and_cilium_policies() {
        let c = cluster(&format!(
            "{STAR_WARS}apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: xwing-443, namespace: default}}
spec:
  podSelector: {{matchLabels: {{class: deathstar}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{org: alliance}}}}}}], ports: [{{port: 443}}]}}]
---
{L3_L4}"
        ));
        let network = cilium(&c);
        let a = network.effective();
        assert_eq!(a.allowed(pod(&c, "tiefighter"), pod(&c, "deathstar")), tcp(80));
        assert_eq!(a.allowed(pod(&c, "xwing"), pod(&c, "deathstar")), tcp(443));
        // The NetworkPolicy index is still the cluster's, the Cilium policy not among them.
        assert_eq!(a.isolating(pod(&c, "deathstar"), netseg_model::Direction::Ingress), &[0]);
    }

    #[test]
    fn enable_default_deny_false_adds_allows_without_isolating() {
        let c = cluster(&format!(
            "{STAR_WARS}apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: additive, namespace: default}}
spec:
  endpointSelector: {{matchLabels: {{class: deathstar}}}}
  enableDefaultDeny: {{ingress: false, egress: false}}
  ingress:
  - fromEndpoints: [{{matchLabels: {{org: empire}}}}]
"
        ));
        let network = cilium(&c);
        assert!(network.effective().allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_all());
    }

    #[test]
    fn enforcement_always_denies_what_no_rule_allows_and_never_enforces_nothing() {
        let c = cluster(&format!("{STAR_WARS}{L3_L4}"));
        let always = NetworkChoice {
            cni: Some("cilium".into()),
            cilium_enforcement: Some(PolicyEnforcement::Always),
            ..NetworkChoice::default()
        };
        let network = Network::new(&c, &always).expect("known");
        let a = network.effective();
        assert!(a.allowed(pod(&c, "xwing"), pod(&c, "tiefighter")).is_empty());
        assert!(a.allowed(pod(&c, "tiefighter"), pod(&c, "deathstar")).is_empty(), "tiefighter's egress is closed");
        let never = NetworkChoice { cilium_enforcement: Some(PolicyEnforcement::Never), ..always };
        let network = Network::new(&c, &never).expect("known");
        assert!(!network.enforced());
        assert!(network.effective().allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_all());
        assert!(network.declared().allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_empty());
    }

    const FQDN: &str = "kind: Pod
metadata: {name: app, namespace: shop, labels: {app: app}}
---
kind: Pod
metadata: {name: blind, namespace: shop, labels: {app: blind}}
---
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-github, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: app}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: '53', protocol: ANY}], rules: {dns: [{matchPattern: '*.github.com'}]}}]
  - toFQDNs: [{matchName: api.github.com}, {matchPattern: '*.githubusercontent.com'}]
    toPorts: [{ports: [{port: '443', protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: blind, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: blind}}
  egress:
  - toFQDNs: [{matchName: api.github.com}]
";

    #[test]
    fn to_fqdns_matches_a_name_only_when_the_dns_proxy_sees_its_lookup() {
        let c = cluster(FQDN);
        let network = cilium(&c);
        let a = network.effective();
        let somewhere: std::net::IpAddr = "140.82.112.5".parse().expect("ip");
        let app = pod(&c, "app");
        assert_eq!(a.allowed_to_name(app, somewhere, "api.github.com"), tcp(443));
        assert_eq!(a.allowed_to_name(app, somewhere, "API.GitHub.com."), tcp(443), "case and the dot do not matter");
        assert!(a.allowed_to_name(app, somewhere, "gist.github.com").is_empty(), "the lookup passes, no toFQDNs");
        // The pattern matches, but the proxy refuses the lookup (the DNS rule allows only *.github.com).
        assert!(a.allowed_to_name(app, somewhere, "raw.githubusercontent.com").is_empty());
        let lookup = super::name_lookup(a, app, "raw.githubusercontent.com").expect("cilium");
        assert_eq!((lookup.fqdn_rules.len(), lookup.lookup_rules.len()), (1, 0));
        let lookup = super::name_lookup(a, app, "api.github.com").expect("cilium");
        assert_eq!((lookup.fqdn_rules.len(), lookup.lookup_rules.len()), (1, 1));
        // No DNS rule at all: nothing is learnt and the rule allows nothing.
        assert!(a.allowed_to_name(pod(&c, "blind"), somewhere, "api.github.com").is_empty());
        // Toward an address whose name netseg does not know, a toFQDNs rule stands for every outside address.
        assert_eq!(a.allowed(app, Endpoint::Address(somewhere)), tcp(443));
    }

    #[test]
    fn kube_apiserver_is_its_pods_and_the_kubernetes_service_endpoints() {
        let c = cluster(
            "kind: Pod
metadata: {name: app, namespace: shop, labels: {app: app}}
---
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets: [{addresses: [{ip: 172.18.0.2}], ports: [{name: https, port: 6443, protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: app, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: app}}
  egress:
  - toEntities: [kube-apiserver]
",
        );
        let network = cilium(&c);
        let a = network.effective();
        assert!(a.allowed(pod(&c, "app"), ip("172.18.0.2")).is_all());
        assert!(a.allowed(pod(&c, "app"), ip("172.18.0.3")).is_empty());
    }

    #[test]
    fn entities_cidrs_and_namespaces_select_as_cilium_does() {
        let c = cluster(&format!(
            "{STAR_WARS}kind: Pod
metadata: {{name: probe, namespace: ops, labels: {{app: probe}}}}
spec: {{serviceAccountName: prober}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: egress, namespace: default}}
spec:
  endpointSelector: {{matchLabels: {{class: tiefighter}}}}
  egress:
  - toEntities: [world]
    toPorts: [{{ports: [{{port: '443'}}]}}]
  - toCIDRSet: [{{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: from-ops, namespace: default}}
spec:
  endpointSelector: {{matchLabels: {{class: deathstar}}}}
  ingress:
  - fromEndpoints:
    - matchLabels: {{k8s:io.kubernetes.pod.namespace: ops, io.cilium.k8s.policy.serviceaccount: prober}}
"
        ));
        let network = cilium(&c);
        let a = network.effective();
        let tie = pod(&c, "tiefighter");
        assert_eq!(
            a.allowed(tie, ip("8.8.8.8")),
            tcp(443).union(&PortSet::from_ranges(&[(Protocol::Udp, 443, 443)])).union(&PortSet::from_ranges(&[(
                Protocol::Sctp,
                443,
                443
            )]))
        );
        assert!(a.allowed(tie, ip("10.2.3.4")).is_all());
        assert_eq!(a.allowed(tie, ip("10.1.2.3")), a.allowed(tie, ip("8.8.8.8")));
        assert!(a.allowed(tie, pod(&c, "deathstar")).is_empty(), "world is not the cluster");
        assert!(a.allowed(pod(&c, "probe"), pod(&c, "deathstar")).is_all());
        assert!(a.allowed(pod(&c, "xwing"), pod(&c, "deathstar")).is_empty(), "not the namespace it names");
    }
}
