//! netseg's engine: exact Kubernetes network policy semantics, evaluated over pod classes.
//!
//! The public surface is small: build an [`Analysis`] from a cluster, then ask [`Analysis::allowed`] for one pair,
//! [`Analysis::explain`] for why, [`Analysis::workload_connections`] or [`Analysis::reach`] for everything.

pub mod addresses;
mod answer;
pub mod answer_limit;
mod calico;
pub mod cilium;
mod classes;
pub mod mesh;
pub mod network;
pub mod portset;
mod profiles;
pub mod query;
pub mod request;
mod restricted;
pub mod rules;

use addresses::IpRange;
use classes::{ClassId, Classes};
use fixedbitset::FixedBitSet;
use netseg_model::{Cluster, Direction, IpBlock, Protocol, Tier};
pub use profiles::ProfileId;
use profiles::Profiles;
pub use restricted::ReachMarks;
use rules::{direction_slot, CompiledTier, DnsTarget, Other, RuleOrigin, TierRule};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

pub use answer::difference::{difference, ChangeGroup, Difference, JointWorkload};
pub use answer::{AdmitsAll, Answer, Block, Hop, PairCount, PeerSummary, Peers};
pub use calico::PassToProfile;
pub use network::{MeshChoice, Network, NetworkChoice, NetworkSetup};
pub use portset::PortSet;
pub use rules::{Action, PolicyKind, TierId};

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `cluster.workloads[workload].pods[pod]`.
    Pod { workload: usize, pod: usize },
    /// An address outside the cluster. Never treated as a pod, even where it equals a pod IP: resolve those first.
    Address(IpAddr),
}

/// A rule that decided some ports on one side: the first rule that matched them, or in a union tier
/// (NetworkPolicy), every rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierHit {
    pub origin: RuleOrigin,
    pub action: Action,
    /// The index of the peer that matched; `None` when the rule has no peers and so matches everyone.
    pub peer: Option<usize>,
    /// The ports the rule decided (in a union tier: all the ports it allows toward this destination, named ports
    /// resolved).
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

/// What one tier did on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierTrace {
    pub tier: TierId,
    /// How explanations name it (Calico's tier names where Calico's tiers are evaluated).
    pub name: std::sync::Arc<str>,
    /// Calico's `order` of the tier; `None` in the Kubernetes model (and for a Calico tier without one).
    pub order: Option<OrderedOrder>,
    /// The ports no earlier tier decided.
    pub reached: PortSet,
    /// The tier's policies that apply to the subject in this direction, in evaluation order; empty when the tier
    /// was skipped.
    pub applying: Vec<(PolicyKind, usize)>,
    /// The rules that decided ports, in evaluation order (Pass and Log included).
    pub hits: Vec<TierHit>,
    pub default_action: Action,
    /// The ports no rule of the tier decided, given the tier's default action (empty when the tier was skipped).
    pub at_end: PortSet,
}

/// A Calico `order`, comparable (it is never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedOrder(pub f64);

impl Eq for OrderedOrder {}

/// How one side (the source's egress or the destination's ingress) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideTrace {
    pub direction: Direction,
    /// Calico's tiers decided it: the tiers are Calico's, and what none decides is allowed by the endpoint's
    /// profile.
    pub calico: bool,
    /// The side's endpoint is an address outside the cluster: nothing here governs it.
    pub external: bool,
    /// The pod is on the host network: no NetworkPolicy selects it.
    pub host_network: bool,
    /// Every tier in evaluation order, with what it did (empty for an external or host-network side).
    pub tiers: Vec<TierTrace>,
    /// The ports that no tier decided, allowed by the Kubernetes default.
    pub by_default: PortSet,
    /// What the side allows the connection, on the application's ports.
    pub allowed: PortSet,
    /// Istio ambient: the network never sees the application's TCP port, only the HBONE tunnel's (see
    /// [`HBONE_PORT`]); `Some` holds what the tiers allow on the wire, as written, of which `allowed` keeps every
    /// TCP port when TCP 15008 is among them and none otherwise.
    pub hbone: Option<PortSet>,
}

/// Istio ambient's HBONE port: a meshed client's ztunnel carries each TCP connection to an Istio destination (ambient
/// or sidecar) inside an mTLS tunnel to this port of the destination pod, so NetworkPolicies (enforced outside the
/// pod) see TCP 15008, never the application's port.
pub const HBONE_PORT: u16 = 15008;

/// What the network allows a tunnelled connection, on the application's ports: UDP and SCTP as written (ztunnel
/// carries only TCP), every TCP port when the tunnel's port is allowed, none when it is not.
pub fn through_hbone(on_the_wire: &PortSet) -> PortSet {
    let tcp = PortSet::protocol(Protocol::Tcp);
    let mut carried = on_the_wire.difference(&tcp);
    if on_the_wire.contains(Protocol::Tcp, HBONE_PORT) {
        carried.union_with(&tcp);
    }
    carried
}

impl SideTrace {
    /// The ports the network's rules see for a connection on `wanted`: the tunnel's when it is tunnelled.
    pub fn on_the_wire(&self, wanted: &PortSet) -> PortSet {
        if self.hbone.is_none() || wanted.intersection(&PortSet::protocol(Protocol::Tcp)).is_empty() {
            return wanted.clone();
        }
        let mut seen = wanted.difference(&PortSet::protocol(Protocol::Tcp));
        seen.union_with(&PortSet::single(Protocol::Tcp, HBONE_PORT));
        seen
    }

    pub fn tier(&self, id: TierId) -> Option<&TierTrace> {
        self.tiers.iter().find(|t| t.tier == id)
    }

    /// The NetworkPolicies (indexes into `Cluster::policies`) that select the subject and isolate it in this
    /// direction; empty means not isolated.
    pub fn isolating(&self) -> Vec<usize> {
        self.tier(TierId::NetworkPolicy)
            .map(|t| t.applying.iter().filter(|(k, _)| *k == PolicyKind::NetworkPolicy).map(|(_, i)| *i).collect())
            .unwrap_or_default()
    }

    /// Whether the subject is default-deny in this direction: a NetworkPolicy isolates it, or (on Cilium) a Cilium
    /// policy or the enforcement mode `always` makes it so.
    pub fn default_deny(&self) -> bool {
        self.tier(TierId::NetworkPolicy).is_some_and(|t| !t.applying.is_empty())
    }

    /// The Cilium policies (indexes into `Cluster::cilium_policies`) that make the subject default-deny in this
    /// direction, each once; and whether the enforcement mode `always` does.
    pub fn cilium_default_deny(&self) -> (Vec<usize>, bool) {
        let Some(tier) = self.tier(TierId::NetworkPolicy) else { return (Vec::new(), false) };
        let mut policies: Vec<usize> =
            tier.applying.iter().filter(|(k, _)| *k == PolicyKind::Cilium).map(|(_, i)| *i).collect();
        policies.dedup();
        (policies, tier.applying.iter().any(|(k, _)| *k == PolicyKind::CiliumEnforcement))
    }

    /// The rules of one tier that decided ports (none when the side never reached the tier).
    pub fn hits(&self, id: TierId) -> &[TierHit] {
        self.tier(id).map_or(&[], |t| t.hits.as_slice())
    }

    /// The ports that reached one tier.
    pub fn reached(&self, id: TierId) -> PortSet {
        self.tier(id).map_or_else(PortSet::all, |t| t.reached.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Explanation {
    pub egress: SideTrace,
    pub ingress: SideTrace,
    /// What the destination's mesh makes of the connection; `None` when the destination is not a pod.
    pub mesh: Option<std::sync::Arc<mesh::MeshAnswer>>,
    /// A pod talking to itself, which no policy can block.
    pub same_pod: bool,
    /// What the network (both sides) and the mesh together allow.
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

/// Every source reaches every destination of the group on `allowed`, except itself (a workload paired with itself
/// is never implied). Indexes are into [`GroupedReach::endpoints`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachGroup {
    pub srcs: Vec<usize>,
    pub dsts: Vec<usize>,
    pub allowed: PortSet,
}

/// Who reaches whom as groups, whose size follows the number of distinct answers rather than the pairs: a flat
/// cluster of 50k workloads is one group. Each pair is in at most one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupedReach {
    pub endpoints: Vec<ReachEndpoint>,
    pub groups: Vec<ReachGroup>,
}

impl GroupedReach {
    /// How many (source, destination) pairs the groups stand for.
    pub fn pairs(&self) -> u64 {
        self.groups
            .iter()
            .map(|g| {
                let both = sorted_overlap(&g.srcs, &g.dsts);
                (g.srcs.len() as u64 * g.dsts.len() as u64).saturating_sub(both)
            })
            .sum()
    }

    /// Only the sources and destinations that the predicates keep, and only the ports in `wanted`.
    pub fn filter(
        &self,
        src: impl Fn(&ReachEndpoint) -> bool,
        dst: impl Fn(&ReachEndpoint) -> bool,
        wanted: &PortSet,
    ) -> GroupedReach {
        let groups = self
            .groups
            .iter()
            .filter_map(|g| {
                let srcs: Vec<usize> = g.srcs.iter().copied().filter(|&e| src(&self.endpoints[e])).collect();
                let dsts: Vec<usize> = g.dsts.iter().copied().filter(|&e| dst(&self.endpoints[e])).collect();
                let allowed = g.allowed.intersection(wanted);
                let only_self = srcs.len() == 1 && dsts == srcs;
                (!srcs.is_empty() && !dsts.is_empty() && !allowed.is_empty() && !only_self).then_some(ReachGroup {
                    srcs,
                    dsts,
                    allowed,
                })
            })
            .collect();
        GroupedReach { endpoints: self.endpoints.clone(), groups }
    }

    /// The pairs, one connection each, sorted: what [`Analysis::reach`] answers.
    pub fn expand(&self) -> Reach {
        let connections = self
            .listing()
            .map(|(src, dst, group)| ReachConnection { src, dst, allowed: self.groups[group].allowed.clone() })
            .collect();
        Reach { endpoints: self.endpoints.clone(), connections }
    }

    /// Every pair the groups stand for, sorted by (source, destination), produced one source at a time: what it
    /// holds follows the groups and one source's destinations, never the pairs, so a listing of billions of pairs
    /// can be written as it is read. Each pair comes with the index of its group, whose `allowed` are its ports
    /// (a writer renders each group's ports once).
    pub fn listing(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let mut groups_of_src: Vec<Vec<usize>> = vec![Vec::new(); self.endpoints.len()];
        for (index, group) in self.groups.iter().enumerate() {
            for &src in &group.srcs {
                groups_of_src[src].push(index);
            }
        }
        groups_of_src.into_iter().enumerate().flat_map(move |(src, groups)| {
            let mut row: Vec<(usize, usize)> = groups
                .iter()
                .flat_map(|&g| self.groups[g].dsts.iter().filter(move |&&dst| dst != src).map(move |&dst| (dst, g)))
                .collect();
            row.sort_unstable();
            row.into_iter().map(move |(dst, g)| (src, dst, g))
        })
    }
}

/// How many items two sorted lists share.
fn sorted_overlap(a: &[usize], b: &[usize]) -> u64 {
    let (mut i, mut j, mut both) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both
}

/// How the network treats the policies: where CNIs differ from the Kubernetes reference semantics, and whether
/// they are enforced at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Kubernetes matches pods by their IPs in ipBlocks; Cilium's CIDR rules never match in-cluster endpoints.
    pub ip_blocks_match_pods: bool,
    /// `false`: the CNI enforces no policy of any tier (it enforces admin policies no more than NetworkPolicies),
    /// so the analysis answers for the allow-all network, whatever the cluster declares.
    pub policies_enforced: bool,
    /// `Some`: Cilium enforces its own policies (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy) beside the
    /// NetworkPolicies, under this policy enforcement mode. `None`: they are inert.
    pub cilium: Option<netseg_model::PolicyEnforcement>,
    /// Calico enforces the policies: its tiers, policies and network sets take part (`calico` module), and the
    /// Kubernetes policies sit where Calico places them.
    pub calico: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { ip_blocks_match_pods: true, policies_enforced: true, cilium: None, calico: false }
    }
}

impl EngineOptions {
    /// The semantics of the CNI of `verdict`, its policies enforced.
    pub fn for_cni(verdict: &netseg_model::cni::CniVerdict) -> EngineOptions {
        EngineOptions {
            ip_blocks_match_pods: verdict.ip_blocks_match_pods(),
            policies_enforced: true,
            cilium: None,
            calico: verdict.runs_calico(),
        }
    }
}

/// What `side` records when asked why.
#[derive(Default)]
struct Trail {
    tiers: Vec<TierTrace>,
    by_default: PortSet,
}

/// One side being decided, as the tiers see it.
struct TierSide<'a> {
    subject: ClassId,
    other: Other,
    direction: Direction,
    destination_ports: Option<&'a [netseg_model::ContainerPort]>,
    /// The DNS name of the address `other`, when the question named one.
    dns: Option<DnsTarget<'a>>,
}

/// Per policy of the input (kind, index): its compiled forms, as (tier, position in the tier).
type CompiledAt = HashMap<(PolicyKind, usize), Vec<(usize, usize)>>;

pub struct Analysis<'c> {
    pub cluster: &'c Cluster,
    classes: Classes,
    /// In evaluation order (`rules::compile_tiers`).
    tiers: Vec<CompiledTier>,
    /// The position of the NetworkPolicy tier in `tiers`.
    policy_tier: usize,
    /// Built on the first all-pairs question; `can` never needs it.
    profiles: OnceLock<Profiles>,
    /// The pods of each class, built on first use.
    class_pods: OnceLock<Vec<Vec<Endpoint>>>,
    /// Where each policy of the input sits in `tiers` (tier, position), built on the first question about one
    /// rule: the audit asks about every peer of every policy, and a scan of the tiers each time is quadratic.
    compiled_at: OnceLock<CompiledAt>,
    /// Istio, Linkerd and Consul: what the destination's proxy authorizes.
    mesh: mesh::MeshLayer,
    /// The factored answer (`answer.rs`), built on the first question that needs it.
    factored: OnceLock<answer::Factored>,
    policies_enforced: bool,
    /// Calico's tiers are evaluated (`EngineOptions::calico`, policies enforced).
    calico: bool,
    /// Cilium's policies are evaluated and some allow rule has L7 rules.
    cilium_l7: bool,
}

impl<'c> Analysis<'c> {
    pub fn new(cluster: &'c Cluster) -> Analysis<'c> {
        Analysis::with_options(cluster, &EngineOptions::default())
    }

    pub fn with_options(cluster: &'c Cluster, options: &EngineOptions) -> Analysis<'c> {
        // Policies that are not enforced are not read at all: not even their ipBlocks tell pods or addresses apart.
        let calico = options.policies_enforced && options.calico;
        // Cilium's policies extend the Kubernetes tiers; Calico's tiers replace them (one CNI enforces either).
        let cilium = options.cilium.filter(|_| options.policies_enforced && !calico);
        let mut blocks = if options.policies_enforced { addresses::policy_blocks(cluster) } else { Vec::new() };
        let extra = match (calico, cilium.is_some()) {
            (true, _) => calico::blocks(cluster),
            (false, true) => cilium::policy_blocks(cluster),
            (false, false) => Vec::new(),
        };
        if !extra.is_empty() {
            let mut seen: std::collections::HashSet<IpBlock> = blocks.iter().cloned().collect();
            blocks.extend(extra.into_iter().filter(|b| seen.insert(b.clone())));
        }
        // The meshes' blocks count either way: a mesh enforces its own policies whatever the CNI does.
        addresses::add_blocks(&mut blocks, mesh::address_blocks(cluster));
        let classes = Classes::build(cluster, blocks, options.ip_blocks_match_pods);
        let mut tiers = if calico {
            calico::compile_tiers(cluster, &classes)
        } else if options.policies_enforced {
            rules::compile_tiers(cluster, &classes)
        } else {
            rules::empty_tiers(classes.len())
        };
        if let Some(enforcement) = cilium {
            cilium::extend_tiers(&mut tiers, cluster, &classes, enforcement);
        }
        let policy_tier = tiers.iter().position(|t| t.id == TierId::NetworkPolicy).unwrap_or(0);
        let mesh = mesh::MeshLayer::build(cluster, &classes);
        let cilium_l7 = cilium.is_some() && cilium::has_l7_rules(cluster);
        Analysis {
            cluster,
            mesh,
            classes,
            tiers,
            policy_tier,
            profiles: OnceLock::new(),
            class_pods: OnceLock::new(),
            compiled_at: OnceLock::new(),
            factored: OnceLock::new(),
            policies_enforced: options.policies_enforced,
            calico,
            cilium_l7,
        }
    }

    fn network_policy_tier(&self) -> &CompiledTier {
        &self.tiers[self.policy_tier]
    }

    /// Whether anything but the NetworkPolicy tier's allow rules takes part: then a side's answer depends on more
    /// than the NetworkPolicies that isolate it, and the shortcuts that rest on that are off.
    fn ordered_rules(&self) -> bool {
        self.calico
            || self.tiers.iter().enumerate().any(|(position, tier)| {
                if position == self.policy_tier {
                    tier.rules().any(|(_, rule)| rule.action != Action::Allow)
                } else {
                    tier.has_rules()
                }
            })
    }

    /// The NetworkPolicies (indexes into `Cluster::policies`) that select a pod and isolate it in `direction`;
    /// empty when it is not isolated.
    pub fn isolating(&self, endpoint: Endpoint, direction: Direction) -> Vec<usize> {
        let Some(class) = self.class_of(endpoint) else { return Vec::new() };
        let tier = self.network_policy_tier();
        tier.applying[direction_slot(direction)][class]
            .iter()
            .map(|&p| &tier.policies[p])
            .filter(|p| p.kind == PolicyKind::NetworkPolicy)
            .map(|p| p.index)
            .collect()
    }

    /// Whether Calico's tiers are evaluated (the CNI is Calico and the policies are enforced).
    pub fn calico(&self) -> bool {
        self.calico
    }

    /// The tiers in evaluation order, with their names and default actions (Calico's, or the Kubernetes three).
    pub fn tiers(&self) -> impl Iterator<Item = (TierId, &str, Action)> + '_ {
        self.tiers.iter().map(|t| (t.id, &*t.name, t.default_action))
    }

    /// The endpoints a Calico policy selects (`index` into `Cluster::calico.policies`; empty where Calico's
    /// tiers are not evaluated).
    pub fn calico_selected_pods(&self, index: usize) -> Vec<Endpoint> {
        match self.compiled_policy(PolicyKind::Calico, index).next() {
            Some(policy) => self.pods_in(policy.subjects.ones()),
            None => Vec::new(),
        }
    }

    /// Whether a pod is default-deny in `direction`: isolated by a NetworkPolicy or, on Cilium, made default-deny
    /// by a Cilium policy or the enforcement mode. (Calico's policies in the same tier do not count: Calico's tiers
    /// decide by their own order, so `isolating` and this read the Kubernetes and Cilium kinds only.)
    pub fn default_deny(&self, endpoint: Endpoint, direction: Direction) -> bool {
        let Some(class) = self.class_of(endpoint) else { return false };
        let tier = self.network_policy_tier();
        tier.applying[direction_slot(direction)][class].iter().any(|&p| tier.policies[p].kind != PolicyKind::Calico)
    }

    /// The pods (as endpoints) that a policy selects.
    pub fn selected_pods(&self, policy: usize) -> Vec<Endpoint> {
        let Some(selected) = self.network_policy_tier().policies.get(policy) else { return Vec::new() };
        self.pods_in(selected.subjects.ones())
    }

    /// Whether a policy selects any pod: `!selected_pods(policy).is_empty()` without listing them.
    pub fn selects_any_pod(&self, policy: usize) -> bool {
        // Every class has at least one pod.
        self.network_policy_tier().policies.get(policy).is_some_and(|p| p.subjects.ones().next().is_some())
    }

    /// The compiled forms of the input's policy `index` of `kind` (none when it was not compiled).
    fn compiled_policy(&self, kind: PolicyKind, index: usize) -> impl Iterator<Item = &rules::TierPolicy> + '_ {
        let compiled_at = self.compiled_at.get_or_init(|| {
            let mut at = CompiledAt::new();
            for (tier, compiled) in self.tiers.iter().enumerate() {
                for (position, policy) in compiled.policies.iter().enumerate() {
                    at.entry((policy.kind, policy.index)).or_default().push((tier, position));
                }
            }
            at
        });
        let at = compiled_at.get(&(kind, index)).map(Vec::as_slice).unwrap_or_default();
        at.iter().map(|&(tier, position)| &self.tiers[tier].policies[position])
    }

    /// The compiled rule that `origin` names, if the policy was compiled.
    fn compiled_rule(&self, origin: RuleOrigin) -> Option<&rules::CompiledRule> {
        self.compiled_policy(origin.kind, origin.policy)
            .flat_map(|policy| &policy.rules)
            .map(|r| &r.rule)
            .find(|rule| rule.origin == origin)
    }

    fn peer_set(&self, origin: RuleOrigin, peer: usize) -> Option<&rules::PeerSet> {
        self.compiled_rule(origin)?.peers.as_ref()?.get(peer)
    }

    fn peer_classes(&self, peer: &rules::PeerSet) -> Vec<ClassId> {
        match peer {
            rules::PeerSet::Classes(set) => set.ones().collect(),
            _ => (0..self.classes.len()).filter(|&class| peer.matches(&self.classes, Other::Class(class))).collect(),
        }
    }

    /// How many compiled peers a rule has (`None`: it names none and matches every peer; also for an unknown
    /// rule): [`Analysis::peer_pods`] takes `0..count`.
    pub fn peer_count(&self, origin: RuleOrigin) -> Option<usize> {
        self.compiled_rule(origin)?.peers.as_ref().map(Vec::len)
    }

    /// The pods that one peer of a rule matches (ipBlock peers: the pods whose IPs fall in the block).
    pub fn peer_pods(&self, origin: RuleOrigin, peer: usize) -> Vec<Endpoint> {
        match self.peer_set(origin, peer) {
            Some(peer) => self.pods_in(self.peer_classes(peer).into_iter()),
            None => Vec::new(),
        }
    }

    /// Whether one peer of a rule matches any pod: `!peer_pods(..).is_empty()` without listing them.
    pub fn peer_matches_any_pod(&self, origin: RuleOrigin, peer: usize) -> bool {
        match self.peer_set(origin, peer) {
            Some(rules::PeerSet::Classes(set)) => set.ones().next().is_some(),
            Some(block) => (0..self.classes.len()).any(|class| block.matches(&self.classes, Other::Class(class))),
            None => false,
        }
    }

    /// The pods of the given classes, in workload and pod order; the cost follows the classes asked for, not the
    /// cluster, since audit rules ask once per policy and peer.
    pub(crate) fn pods_in(&self, classes: impl Iterator<Item = ClassId>) -> Vec<Endpoint> {
        let pods_of = self.class_pods.get_or_init(|| {
            let mut pods_of = vec![Vec::new(); self.classes.len()];
            for (workload, classes) in self.classes.pod_class.iter().enumerate() {
                for (pod, &class) in classes.iter().enumerate() {
                    pods_of[class].push(Endpoint::Pod { workload, pod });
                }
            }
            pods_of
        });
        let mut pods: Vec<Endpoint> = classes.flat_map(|class| pods_of[class].iter().copied()).collect();
        pods.sort_unstable_by_key(|p| match p {
            Endpoint::Pod { workload, pod } => (*workload, *pod),
            Endpoint::Address(_) => (usize::MAX, usize::MAX),
        });
        pods
    }

    /// The rules of the ordered tiers (every tier but the NetworkPolicy one) whose policy selects this pod, in
    /// evaluation order, with their tier.
    pub fn tier_rules_of(&self, endpoint: Endpoint) -> Vec<(TierId, &TierRule)> {
        let Some(class) = self.class_of(endpoint) else { return Vec::new() };
        self.tiers
            .iter()
            .filter(|t| !t.union)
            .flat_map(|t| t.rules().map(move |(subjects, rule)| (t.id, subjects, rule)))
            .filter(|(_, subjects, _)| subjects.contains(class))
            .map(|(id, _, rule)| (id, rule))
            .collect()
    }

    /// The `direction` rules of the ordered tiers' policies that apply to this pod in `direction`, in evaluation
    /// order: through the tiers' per-class lists, without walking every rule of the cluster.
    pub fn tier_rules_applying(&self, endpoint: Endpoint, direction: Direction) -> Vec<(TierId, &TierRule)> {
        self.rules_applying(endpoint, direction, false).collect()
    }

    /// The origins of the `direction` rules of the union tiers' policies (NetworkPolicies and, on Cilium, Cilium's
    /// allows) that apply to this pod in `direction`.
    pub fn union_rules_applying(&self, endpoint: Endpoint, direction: Direction) -> Vec<RuleOrigin> {
        self.rules_applying(endpoint, direction, true).map(|(_, rule)| rule.rule.origin).collect()
    }

    /// The rules of the union tiers (`union`) or of the ordered ones that apply to the pod in `direction`.
    fn rules_applying(
        &self,
        endpoint: Endpoint,
        direction: Direction,
        union: bool,
    ) -> impl Iterator<Item = (TierId, &TierRule)> + '_ {
        let class = self.class_of(endpoint);
        let slot = direction_slot(direction);
        self.tiers.iter().filter(move |t| t.union == union).flat_map(move |t| {
            let applying = class.map_or(&[][..], |class| t.applying[slot][class].as_slice());
            applying.iter().flat_map(move |&policy| {
                t.policies[policy].rules.iter().filter(move |r| r.direction() == direction).map(move |r| (t.id, r))
            })
        })
    }

    /// Rules of the admin and baseline tiers that never decide anything: for every subject and peer they match,
    /// earlier rules of their tier (the same policy's, or a higher-priority policy's) have decided all their ports.
    /// Rules that match nothing at all are not listed (nothing shadows them; they select nothing).
    pub fn shadowed_rules(&self) -> Vec<Shadowed> {
        let atoms: Vec<Other> = self.atoms().iter().map(|a| Other::Address(a.start)).collect();
        let others: Vec<Other> = (0..self.classes.len()).map(Other::Class).chain(atoms).collect();
        let mut shadowed = Vec::new();
        for tier in &self.tiers {
            let model_tier = match tier.id {
                TierId::Admin => Tier::Admin,
                TierId::Baseline => Tier::Baseline,
                TierId::NetworkPolicy | TierId::CiliumDeny | TierId::Calico(_) => continue,
            };
            let rules: Vec<(&std::sync::Arc<FixedBitSet>, &TierRule)> =
                tier.rules().filter(|(_, rule)| rule.rule.origin.kind == PolicyKind::Admin).collect();
            for (k, (_, rule)) in rules.iter().enumerate() {
                if let Some(by) = self.shadowers(&rules, k, &others) {
                    shadowed.push(Shadowed { tier: model_tier, origin: rule.rule.origin, by });
                }
            }
        }
        shadowed
    }

    /// The earlier rules that together decide every port rule `k` matches, or `None` when some port is left to it
    /// (or it matches nothing).
    fn shadowers(
        &self,
        rules: &[(&std::sync::Arc<FixedBitSet>, &TierRule)],
        k: usize,
        others: &[Other],
    ) -> Option<Vec<RuleOrigin>> {
        let (subjects, rule) = rules[k];
        let mut by: Vec<RuleOrigin> = Vec::new();
        let mut matched_any = false;
        for subject in subjects.ones() {
            for &other in others {
                if rule.rule.matching_peer(&self.classes, other).is_none() {
                    continue;
                }
                let destination_ports = self.destination_ports(subject, other, rule.direction());
                let mut left = rule.rule.ports.resolve(destination_ports);
                if left.is_empty() {
                    continue;
                }
                matched_any = true;
                for (earlier_subjects, earlier) in &rules[..k] {
                    if left.is_empty() {
                        break;
                    }
                    if earlier.direction() != rule.direction()
                        || !earlier_subjects.contains(subject)
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

    /// The atoms of the address space, cut at the address blocks of the policies this analysis evaluates.
    pub fn atoms(&self) -> Vec<IpRange> {
        addresses::atoms_at(self.cluster, &self.classes.ip_blocks)
    }

    /// Whether the analysis evaluates the cluster's policies (`false`: the allow-all network of a CNI that
    /// enforces none).
    pub fn policies_enforced(&self) -> bool {
        self.policies_enforced
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
        self.explain_named(src, dst, None)
    }

    /// [`Analysis::explain`] where the destination is an address known by a DNS name (`dst` an address standing
    /// for it): Cilium's `toFQDNs` rules match by the name.
    pub fn explain_named(&self, src: Endpoint, dst: Endpoint, name: Option<&str>) -> Explanation {
        let egress = self.trace(src, dst, Direction::Egress, name);
        let ingress = self.trace(dst, src, Direction::Ingress, None);
        let same_pod = src == dst && matches!(src, Endpoint::Pod { .. });
        let mesh = if same_pod { None } else { self.mesh_answer(src, dst) };
        let mut allowed = if same_pod { PortSet::all() } else { egress.allowed.intersection(&ingress.allowed) };
        if let Some(answer) = &mesh {
            allowed = allowed.intersection(&answer.passable);
        }
        Explanation { egress, ingress, mesh, same_pod, allowed }
    }

    /// What the destination's mesh makes of the source's connections; `None` when the destination is not a pod
    /// (the meshes authorize at the destination's proxy, never at an address).
    pub fn mesh_answer(&self, src: Endpoint, dst: Endpoint) -> Option<std::sync::Arc<mesh::MeshAnswer>> {
        let destination = self.class_of(dst)?;
        let client = match src {
            Endpoint::Pod { .. } => mesh::Client::Class(self.class_of(src)?),
            Endpoint::Address(addr) => mesh::Client::Address(addr),
        };
        Some(self.mesh.answer(self.cluster, &self.classes, client, destination))
    }

    /// The allowed ports between two endpoints on which only some requests pass, with what they must be: every
    /// layer that decides on more than addresses and ports contributes, Cilium's L7 rules (which decide in the
    /// network) first, then the destination's mesh.
    pub fn restrictions(&self, src: Endpoint, dst: Endpoint) -> Vec<request::Restriction> {
        if src == dst {
            return Vec::new();
        }
        let explanation = self.explain(src, dst);
        let mut restrictions = cilium::restrictions(self.cluster, &explanation, &explanation.allowed);
        if let Some(answer) = &explanation.mesh {
            restrictions.extend(answer.restrictions(&explanation.allowed));
        }
        restrictions
    }

    /// Whether anything in the input decides on requests (a mesh, a Cilium L7 rule): without, no connection is
    /// request-restricted and [`Analysis::restrictions`] need not be asked.
    pub fn requests_decided(&self) -> bool {
        self.mesh.active() || self.cilium_l7
    }

    /// Whether any pod is in a mesh, so that request-level restrictions can exist.
    pub fn mesh_active(&self) -> bool {
        self.mesh.active()
    }

    /// What a pod may send to an address known by the DNS name `name` (`addr` standing for its address).
    pub fn allowed_to_name(&self, src: Endpoint, addr: IpAddr, name: &str) -> PortSet {
        match self.class_of(src) {
            Some(class) => self.network_side(class, Other::Address(addr), Direction::Egress, None, Some(name)),
            None => PortSet::all(),
        }
    }

    fn trace(&self, subject: Endpoint, other: Endpoint, direction: Direction, name: Option<&str>) -> SideTrace {
        let mut trace = SideTrace {
            direction,
            calico: self.calico,
            external: false,
            host_network: false,
            tiers: Vec::new(),
            by_default: PortSet::all(),
            allowed: PortSet::all(),
            hbone: None,
        };
        let (Some(class), Some(other)) = (self.class_of(subject), self.other_of(other)) else {
            trace.external = matches!(subject, Endpoint::Address(_));
            return trace;
        };
        trace.host_network = self.classes.classes[class].host_network;
        let mut trail = Trail::default();
        trace.allowed = self.network_side(class, other, direction, Some(&mut trail), name);
        if self.tunnelled(class, other, direction) {
            let on_the_wire = std::mem::replace(&mut trace.allowed, PortSet::empty());
            trace.allowed = through_hbone(&on_the_wire);
            trace.hbone = Some(on_the_wire);
        }
        trace.tiers = trail.tiers;
        trace.by_default = trail.by_default;
        trace
    }

    /// What decides an endpoint's answers: its class, or the address itself.
    pub(crate) fn class_key(&self, endpoint: Endpoint) -> Result<ClassId, IpAddr> {
        match endpoint {
            Endpoint::Address(addr) => Err(addr),
            Endpoint::Pod { .. } => self.class_of(endpoint).ok_or(IpAddr::from([0, 0, 0, 0])),
        }
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

    /// Decides one side: the network's tiers, and on the destination's side its mesh too (the proxy authorizes
    /// at the destination). Explanations trace the network alone and show the mesh beside it.
    fn side(&self, subject: ClassId, other: Other, direction: Direction, trail: Option<&mut Trail>) -> PortSet {
        let mut network = self.network_side(subject, other, direction, trail, None);
        if self.tunnelled(subject, other, direction) {
            network = through_hbone(&network);
        }
        if direction == Direction::Egress || !self.mesh.active() || network.is_empty() {
            return network;
        }
        let client = match other {
            Other::Class(class) => mesh::Client::Class(class),
            Other::Address(addr) => mesh::Client::Address(addr),
        };
        network.intersection(&self.mesh.passable(self.cluster, &self.classes, client, subject))
    }

    /// Whether a connection between the side's subject and a pod travels in Istio ambient's HBONE tunnel: the
    /// client is an ambient pod and the destination is in Istio's mesh (ambient, or a sidecar that accepts
    /// HBONE). (A pod's connections to itself never leave it; the callers answer those before asking.)
    fn tunnelled(&self, subject: ClassId, other: Other, direction: Direction) -> bool {
        let Other::Class(other) = other else { return false };
        if !self.mesh.active() {
            return false;
        }
        let (client, destination) = match direction {
            Direction::Egress => (subject, other),
            Direction::Ingress => (other, subject),
        };
        let client = &self.classes.classes[client].dataplane;
        let destination = &self.classes.classes[destination].dataplane;
        client.ambient
            && client.mesh == Some(netseg_model::mesh::MeshKind::Istio)
            && destination.mesh == Some(netseg_model::mesh::MeshKind::Istio)
    }

    /// Decides one side by walking the tiers in order; what none decides is allowed.
    fn network_side(
        &self,
        subject: ClassId,
        other: Other,
        direction: Direction,
        mut trail: Option<&mut Trail>,
        name: Option<&str>,
    ) -> PortSet {
        let destination_ports = self.destination_ports(subject, other, direction);
        let dns = name
            .filter(|_| direction == Direction::Egress)
            .map(|name| DnsTarget { name, learnt: !cilium::lookup_rules(self, subject, name).is_empty() });
        let tier_side = TierSide { subject, other, direction, destination_ports, dns };
        let slot = direction_slot(direction);
        let mut undecided = PortSet::all();
        let mut allowed = PortSet::empty();
        for tier in &self.tiers {
            let applying = &tier.applying[slot][subject];
            let mut trace = trail.as_ref().map(|_| TierTrace {
                tier: tier.id,
                name: tier.name.clone(),
                order: tier.order.map(OrderedOrder),
                reached: undecided.clone(),
                applying: applying.iter().map(|&p| (tier.policies[p].kind, tier.policies[p].index)).collect(),
                hits: Vec::new(),
                default_action: tier.default_action,
                at_end: PortSet::empty(),
            });
            if !applying.is_empty() {
                let mut passed =
                    self.first_match(tier, applying, &tier_side, &mut undecided, &mut allowed, trace.as_mut());
                if let Some(trace) = trace.as_mut() {
                    trace.at_end = undecided.clone();
                }
                // The end of a tier that applies: its default action takes what no rule decided.
                if tier.default_action == Action::Pass {
                    passed.union_with(&undecided);
                }
                undecided = passed;
            }
            if let (Some(trail), Some(trace)) = (trail.as_deref_mut(), trace) {
                trail.tiers.push(trace);
            }
        }
        if let Some(trail) = trail {
            trail.by_default = undecided.clone();
        }
        allowed.union_with(&undecided);
        allowed
    }

    /// Applies one tier's policies that apply to the subject: each port is decided by the first rule that matches
    /// it (in a union tier, explanations record every matching rule). Returns the passed ports.
    fn first_match(
        &self,
        tier: &CompiledTier,
        applying: &[usize],
        side: &TierSide<'_>,
        undecided: &mut PortSet,
        allowed: &mut PortSet,
        mut trace: Option<&mut TierTrace>,
    ) -> PortSet {
        let mut passed = PortSet::empty();
        for &policy in applying {
            for ordered in tier.policies[policy].rules.iter().filter(|r| r.direction() == side.direction) {
                if undecided.is_empty() && (!tier.union || trace.is_none()) {
                    return passed;
                }
                let peer = match &side.dns {
                    Some(name) => ordered.rule.matching_peer_named(&self.classes, side.other, name),
                    None => ordered.rule.matching_peer(&self.classes, side.other),
                };
                let Some(peer) = peer else { continue };
                if !ordered.rule.condition_holds(&self.classes, side.subject, side.other) {
                    continue;
                }
                let ports = ordered.rule.ports.resolve(side.destination_ports);
                let matched = ports.intersection(undecided);
                if let Some(trace) = trace.as_deref_mut() {
                    let recorded = if tier.union { ports } else { matched.clone() };
                    if !recorded.is_empty() {
                        trace.hits.push(TierHit {
                            origin: ordered.rule.origin,
                            action: ordered.action,
                            peer,
                            ports: recorded,
                        });
                    }
                }
                if matched.is_empty() {
                    continue;
                }
                match ordered.action {
                    Action::Allow => allowed.union_with(&matched),
                    Action::Deny => {}
                    Action::Pass => passed.union_with(&matched),
                    Action::Log => continue,
                }
                *undecided = undecided.difference(&matched);
            }
        }
        passed
    }

    fn profiles(&self) -> &Profiles {
        self.profiles.get_or_init(|| Profiles::build(&self.classes, &self.tiers, self.mesh.keys()))
    }

    /// How many profiles (classes that every rule treats alike) the classes fall into.
    pub fn profile_count(&self) -> usize {
        self.profiles().len()
    }

    /// The distinct profiles of each workload's pods, sorted.
    fn workload_profiles(&self) -> Vec<Vec<ProfileId>> {
        let profiles = self.profiles();
        self.classes
            .pod_class
            .iter()
            .map(|classes| {
                let mut ids: Vec<ProfileId> = classes.iter().map(|&c| profiles.of_class[c]).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect()
    }

    /// Workload pairs with something allowed, `src != dst`, sorted; each the union over the two workloads' pods.
    pub fn workload_connections(&self) -> Vec<WorkloadConnection> {
        let workloads = self.cluster.workloads.len();
        self.reach_groups()
            .expand()
            .connections
            .into_iter()
            .filter(|c| c.src < workloads && c.dst < workloads)
            .map(|c| WorkloadConnection { src: c.src, dst: c.dst, allowed: c.allowed })
            .collect()
    }

    /// Workloads and external address groups, and every non-empty connection between them.
    pub fn reach(&self) -> Reach {
        self.reach_groups().expand()
    }

    /// The same answer as [`Analysis::reach`], grouped: built from the factored answer's blocks (profiles that
    /// reach profiles on one port set), so that its size follows the distinct answers, not the pairs; sources
    /// with the same ports toward several destination sets share one group.
    pub fn reach_groups(&self) -> GroupedReach {
        let mut groups = self.answer().workload_groups();
        let mut endpoints: Vec<ReachEndpoint> =
            (0..self.cluster.workloads.len()).map(ReachEndpoint::Workload).collect();
        for (ranges, to_external, from_external) in self.external_groups() {
            let index = endpoints.len();
            endpoints.push(ReachEndpoint::External { ranges });
            for (workloads, allowed) in by_ports(to_external) {
                groups.push(ReachGroup { srcs: workloads, dsts: vec![index], allowed });
            }
            for (workloads, allowed) in by_ports(from_external) {
                groups.push(ReachGroup { srcs: vec![index], dsts: workloads, allowed });
            }
        }
        groups.sort_by(|a, b| (&a.srcs, &a.dsts).cmp(&(&b.srcs, &b.dsts)));
        GroupedReach { endpoints, groups }
    }

    /// Address atoms with the same connectivity in both directions, joined into one endpoint each: its ranges, what
    /// each workload may send to it and receive from it (sorted by workload, non-empty only).
    #[allow(clippy::type_complexity)]
    fn external_groups(&self) -> Vec<(Vec<IpRange>, Vec<(usize, PortSet)>, Vec<(usize, PortSet)>)> {
        let profiles = self.profiles();
        let workload_profiles = self.workload_profiles();
        // Toward an address, a side depends only on the policies isolating the subject (with ordered tiers or a
        // mesh, on the whole profile): evaluate each distinct one once per atom.
        let ordered_tiers = self.ordered_rules() || self.mesh.active();
        let subjects = |direction: Direction| {
            let slot = direction_slot(direction);
            let mut key_of: HashMap<&[usize], usize> = HashMap::new();
            let mut representative: Vec<ClassId> = Vec::new();
            let of_profile: Vec<usize> = profiles
                .representative
                .iter()
                .enumerate()
                .map(|(profile, &class)| {
                    let key: &[usize] = if ordered_tiers {
                        std::slice::from_ref(&profiles.representative[profile])
                    } else {
                        &self.network_policy_tier().applying[slot][class]
                    };
                    *key_of.entry(key).or_insert_with(|| {
                        representative.push(class);
                        representative.len() - 1
                    })
                })
                .collect();
            let workload_keys: Vec<Vec<usize>> = workload_profiles
                .iter()
                .map(|ps| {
                    let mut keys: Vec<usize> = ps.iter().map(|&p| of_profile[p]).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    keys
                })
                .collect();
            let workloads_of = members(&workload_keys, representative.len());
            (representative, workloads_of)
        };
        let (egress_subjects, egress_workloads) = subjects(Direction::Egress);
        let (ingress_subjects, ingress_workloads) = subjects(Direction::Ingress);

        // Grouped by what each workload gets, as that is what the answer shows.
        type Row = Vec<(usize, PortSet)>;
        let mut union = Union::new(workload_profiles.len());
        let mut groups: Vec<((Row, Row), Vec<IpRange>)> = Vec::new();
        let mut group_of: HashMap<(Row, Row), usize> = HashMap::new();
        for atom in self.atoms() {
            let other = Other::Address(atom.start);
            let mut row = |subjects: &[ClassId], workloads_of: &[Vec<usize>], direction: Direction| -> Row {
                let sides: Vec<(usize, PortSet)> = subjects
                    .iter()
                    .enumerate()
                    .map(|(key, &class)| (key, self.side(class, other, direction, None)))
                    .collect();
                union.collect(sides.iter().map(|(k, p)| (*k, p)), workloads_of, None)
            };
            let key = (
                row(&egress_subjects, &egress_workloads, Direction::Egress),
                row(&ingress_subjects, &ingress_workloads, Direction::Ingress),
            );
            match group_of.get(&key) {
                Some(&index) => groups[index].1.push(atom),
                None => {
                    group_of.insert(key.clone(), groups.len());
                    groups.push((key, vec![atom]));
                }
            }
        }
        groups.into_iter().map(|((to, from), ranges)| (addresses::merge_ranges(ranges), to, from)).collect()
    }
}

/// Endpoints that get the same ports, together, in order of first appearance.
pub(crate) fn by_ports(entries: Vec<(usize, PortSet)>) -> Vec<(Vec<usize>, PortSet)> {
    let mut groups: Vec<(Vec<usize>, PortSet)> = Vec::new();
    let mut index_of: HashMap<PortSet, usize> = HashMap::new();
    for (endpoint, ports) in entries {
        match index_of.get(&ports) {
            Some(&i) => groups[i].0.push(endpoint),
            None => {
                index_of.insert(ports.clone(), groups.len());
                groups.push((vec![endpoint], ports));
            }
        }
    }
    groups
}

/// `members(sets, n)[i]`: the indexes of the sets that hold `i`, ascending.
fn members(sets: &[Vec<usize>], n: usize) -> Vec<Vec<usize>> {
    let mut members = vec![Vec::new(); n];
    for (index, set) in sets.iter().enumerate() {
        for &item in set {
            members[item].push(index);
        }
    }
    members
}

/// Unions port sets per target without a map: a dense slot per target and the list of slots touched.
struct Union {
    slots: Vec<Option<PortSet>>,
    touched: Vec<usize>,
}

impl Union {
    fn new(targets: usize) -> Union {
        Union { slots: vec![None; targets], touched: Vec::new() }
    }

    /// For every `(key, ports)`, adds `ports` to each target that `targets_of[key]` lists (but `skip`); returns the
    /// non-empty unions, sorted by target.
    fn collect<'p>(
        &mut self,
        entries: impl Iterator<Item = (usize, &'p PortSet)>,
        targets_of: &[Vec<usize>],
        skip: Option<usize>,
    ) -> Vec<(usize, PortSet)> {
        for (key, ports) in entries {
            for &target in &targets_of[key] {
                if Some(target) == skip {
                    continue;
                }
                match &mut self.slots[target] {
                    Some(union) => union.union_with(ports),
                    slot @ None => {
                        *slot = Some(ports.clone());
                        self.touched.push(target);
                    }
                }
            }
        }
        self.touched.sort_unstable();
        let mut result = Vec::with_capacity(self.touched.len());
        for target in self.touched.drain(..) {
            if let Some(union) = self.slots[target].take() {
                if !union.is_empty() {
                    result.push((target, union));
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests;
