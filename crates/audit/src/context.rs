//! What every rule reads: the cluster, the declared and the effective network, the CNI verdict, the sensitive
//! facts and the configuration, with the few queries several rules share.

use crate::config::Config;
use crate::facts::SensitiveFacts;
use crate::{Exemption, Finding, Resource, Witness};
use netseg_engine::{Analysis, Endpoint, Network, NetworkSetup, PortSet};
use netseg_model::cni::CniVerdict;
use netseg_model::mesh::{dataplane, Dataplane};
use netseg_model::{Cidr, Cluster, Diagnostic, Direction, Location, Protocol, Suppression};
use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

/// The rules whose findings are about connectivity a policy could restrict: the ones a policy netseg does not
/// analyse can make narrower than they say.
const CONNECTIVITY_RULES: &[&str] =
    &["NS101", "NS102", "NS103", "NS120", "NS121", "NS122", "NS123", "NS124", "NS125", "NS126", "NS145", "NS160"];

/// What lets a workload send to an address, in words, and the allow-all rules among the causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressCause {
    pub words: String,
    /// `egress rule 0 of NetworkPolicy default/frontend (file:line)`: rules that name no destination.
    pub allow_all: Vec<String>,
}

/// A way into the cluster from outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub workload: usize,
    pub ports: PortSet,
    /// The Service or Ingress that exposes it, in words.
    pub via: String,
}

/// One end of a flow the application declares or was seen making.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowEnd {
    /// An index into `cluster.workloads`.
    Workload(usize),
    /// An address outside the cluster.
    Address(IpAddr),
}

/// A flow the application declares (a Service named in env or args, a peer the input's own policies name, a
/// LoadBalancer) or was seen making (`--flows`), with where it was read. `netseg_fix` infers them; NS147 checks
/// them against the policies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntendedFlow {
    pub src: FlowEnd,
    pub dst: FlowEnd,
    /// Ports on the destination pods (after a Service's DNAT), or the address's ports.
    pub ports: PortSet,
    /// Where it was declared or seen, in words, with file and line.
    pub origin: std::sync::Arc<str>,
}

/// Flows one declaration names between every workload of `sources` and every workload of `destinations` (a
/// policy peer choosing a whole tier): kept as the two lists, since their product can run into millions of pairs.
/// A workload is never its own peer: the pairs where both ends are the same workload are not part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredBlock {
    pub sources: std::sync::Arc<[usize]>,
    /// The destinations, grouped by the ports the declaration names on them (a named port resolves per
    /// destination).
    pub destinations: Vec<(PortSet, std::sync::Arc<[usize]>)>,
    pub origin: std::sync::Arc<str>,
}

impl DeclaredBlock {
    /// Its flows one by one, for the rules that read few of them.
    pub fn flows(&self) -> impl Iterator<Item = IntendedFlow> + '_ {
        self.sources.iter().flat_map(move |&src| {
            self.destinations.iter().flat_map(move |(ports, destinations)| {
                destinations.iter().filter(move |&&dst| dst != src).map(move |&dst| IntendedFlow {
                    src: FlowEnd::Workload(src),
                    dst: FlowEnd::Workload(dst),
                    ports: ports.clone(),
                    origin: self.origin.clone(),
                })
            })
        })
    }
}

/// What the application declares and was seen making: single flows, and blocks of flows that one declaration names.
#[derive(Debug, Clone, Default)]
pub struct Intent {
    pub flows: Vec<IntendedFlow>,
    pub blocks: Vec<DeclaredBlock>,
}

impl Intent {
    /// Every flow, blocks expanded.
    pub fn all_flows(&self) -> impl Iterator<Item = IntendedFlow> + '_ {
        self.flows.iter().cloned().chain(self.blocks.iter().flat_map(DeclaredBlock::flows))
    }
}

/// Facts the input may lack (`--api-server`, `--node-cidr`), and the flows the application needs.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    pub api_server: Vec<Cidr>,
    pub node_cidrs: Vec<Cidr>,
    /// Declared and observed flows (NS147); empty unless the caller infers them.
    pub intent: Intent,
    /// Whether `intent` is taken as everything the application needs (`audit --flows` or `--intent-only`): NS148
    /// judges the rules that admit more.
    pub judge_allowances: bool,
}

pub struct AuditContext<'a> {
    /// How the network treats the policies (CNI verdict, enforcement, semantics, caveats).
    pub setup: &'a NetworkSetup,
    pub cluster: &'a Cluster,
    /// The policies as written.
    pub declared: &'a Analysis<'a>,
    /// What the network really does: `declared` when the CNI enforces, the allow-all network otherwise.
    pub effective: &'a Analysis<'a>,
    pub cni: &'a CniVerdict,
    pub config: &'a Config,
    pub diagnostics: &'a [Diagnostic],
    pub facts: SensitiveFacts,
    pub options: &'a AuditOptions,
    /// Namespaces with workloads, and with NetworkPolicies, for rules that ask per policy or per workload.
    populated: OnceLock<(HashSet<String>, HashSet<String>)>,
    /// Each workload's mesh dataplane, for the mesh rules.
    dataplanes: OnceLock<Vec<Option<Dataplane>>>,
    /// The objects whose annotation suppresses some rule (few, or none): a finding's object is looked up among
    /// them rather than among every workload, which made the audit quadratic.
    suppressing: OnceLock<Vec<Suppressing>>,
}

/// An object that suppresses some rule: its index in the cluster's list of its kind.
#[derive(Clone, Copy)]
enum Suppressing {
    Policy(usize),
    Admin(usize),
    Workload(usize),
}

/// An object as a finding names it: kind, namespace (`None`: cluster-scoped) and name.
struct ObjectName<'c> {
    kind: &'c str,
    namespace: Option<&'c str>,
    name: &'c str,
    ignore: &'c Suppression,
}

impl<'a> AuditContext<'a> {
    /// The context of one audit: the network (its cluster, CNI verdict and analyses), the configuration, the
    /// loader's diagnostics and the facts the user gave.
    pub fn new<'c: 'a>(
        network: &'a Network<'c>,
        config: &'a Config,
        diagnostics: &'a [Diagnostic],
        options: &'a AuditOptions,
    ) -> Self {
        let cluster = network.cluster;
        let facts = SensitiveFacts::gather(cluster, &options.api_server, &options.node_cidrs);
        AuditContext {
            setup: &network.setup,
            cluster,
            declared: network.declared(),
            effective: network.effective(),
            cni: network.cni(),
            config,
            diagnostics,
            facts,
            options,
            populated: OnceLock::new(),
            dataplanes: OnceLock::new(),
            suppressing: OnceLock::new(),
        }
    }

    /// Whether the policies take effect in the effective network.
    pub fn enforced(&self) -> bool {
        self.setup.enforced
    }

    /// The workloads that may send something in `ports` to `dst` in the effective network (never `dst` itself),
    /// in workload order, each with what it may send of `ports`: a question to the engine's factored answer, which
    /// lists no other pair.
    pub fn sources_of(&self, dst: usize, ports: &PortSet) -> Vec<(usize, PortSet)> {
        self.effective.answer().sources(dst, ports).workloads()
    }

    fn populated(&self) -> &(HashSet<String>, HashSet<String>) {
        self.populated.get_or_init(|| {
            (
                self.cluster.workloads.iter().map(|w| w.id.namespace.clone()).collect(),
                self.cluster.policies.iter().map(|p| p.namespace.clone()).collect(),
            )
        })
    }

    /// The workload's place in the meshes, from its first pod (a workload's pods share one template); worked out
    /// once per audit for every rule that asks. `None` for a workload without pods.
    pub fn dataplane(&self, workload: usize) -> Option<&Dataplane> {
        let cluster = self.cluster;
        self.dataplanes
            .get_or_init(|| {
                cluster
                    .workloads
                    .iter()
                    .map(|w| w.pods.first().map(|pod| dataplane(&pod.facts, cluster.namespace(&w.id.namespace))))
                    .collect()
            })
            .get(workload)?
            .as_ref()
    }

    pub fn namespace_has_workloads(&self, namespace: &str) -> bool {
        self.populated().0.contains(namespace)
    }

    pub fn namespace_has_policies(&self, namespace: &str) -> bool {
        self.populated().1.contains(namespace)
    }

    pub fn pods(&self, workload: usize) -> impl Iterator<Item = Endpoint> + '_ {
        (0..self.cluster.workloads[workload].pods.len()).map(move |pod| Endpoint::Pod { workload, pod })
    }

    /// Every pod of the workload is on the host network: it is the node, outside every NetworkPolicy.
    pub fn host_network(&self, workload: usize) -> bool {
        let pods = &self.cluster.workloads[workload].pods;
        !pods.is_empty() && pods.iter().all(|p| p.facts.host_network)
    }

    /// Whether the workload is part of a CNI (agent, controller, operator): platform infrastructure, which needs
    /// the host network by design.
    pub fn is_cni_component(&self, workload: usize) -> bool {
        self.cni.component(&self.cluster.workloads[workload].id).is_some()
    }

    /// Every workload some rules leave alone, and why: the CNI's own parts (found by what they are, see
    /// [`netseg_model::cni::components`]) and host-network workloads that `.netseg.yaml` allows.
    pub fn exemptions(&self) -> Vec<Exemption> {
        let mut exempt = Vec::new();
        for (w, workload) in self.cluster.workloads.iter().enumerate() {
            let (resource, location) = self.workload_resource(w);
            if let Some(component) = self.cni.component(&workload.id) {
                exempt.push(Exemption {
                    resource,
                    location,
                    rules: "the workload rules: segmentation (NS101-NS103), reachability (NS120-NS125), NS145, host network (NS110, NS111)".into(),
                    reason: format!("part of the CNI ({}): {}", component.plugin, component.reason),
                });
            } else if workload.pods.iter().any(|p| p.facts.host_network)
                && self.config.host_network_allowed(&workload.id.namespace, &workload.id.name)
            {
                let source = match &self.config.path {
                    Some(path) => format!("hostNetworkAllowed in {}", path.display()),
                    None => "hostNetworkAllowed, whose default allows kube-system/* (node agents live there)".into(),
                };
                exempt.push(Exemption {
                    resource,
                    location,
                    rules: "NS110 host-network, NS111 host-port".into(),
                    reason: format!("on the host network, allowed by {source}"),
                });
            }
        }
        exempt
    }

    /// Workloads the audit holds to segmentation, in order: those NetworkPolicies can govern (not on the host
    /// network) and that are not a CNI's own parts, which need the API server and the nodes by design and are
    /// installed without policies by every CNI vendor (reporting them would bury the application findings).
    pub fn governed_workloads(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.cluster.workloads.len()).filter(|w| !self.host_network(*w) && !self.is_cni_component(*w))
    }

    /// Whether every pod of the workload is default-deny in `direction` under the declared policies (isolated by
    /// a NetworkPolicy, or on Cilium by a Cilium policy or the enforcement mode).
    pub fn isolated(&self, workload: usize, direction: Direction) -> bool {
        self.pods(workload).all(|pod| self.declared.default_deny(pod, direction))
    }

    /// What the workload may send to an address in the effective network, restricted to `ports`.
    pub fn to_address(&self, workload: usize, addr: IpAddr, ports: &PortSet) -> PortSet {
        self.effective.answer().to_address(workload, addr).intersection(ports)
    }

    /// Why the workload may send to `addr` on some of `ports`, naming what decided: the CNI that enforces
    /// nothing, the admin or baseline rule, each NetworkPolicy rule (an allow-all rule, one with no `to`, is said to
    /// be one; an ipBlock peer is quoted), or the absence of egress isolation. For the reachability findings'
    /// evidence, so that the fix starts at the right rule.
    pub fn why_egress_to(&self, workload: usize, addr: IpAddr, ports: &PortSet) -> String {
        self.egress_cause(workload, addr, ports).words
    }

    /// [`Self::why_egress_to`], with the allow-all rules among the causes named apart: no other NetworkPolicy can
    /// take back what they allow, so the fix is to change them.
    pub fn egress_cause(&self, workload: usize, addr: IpAddr, ports: &PortSet) -> EgressCause {
        let mut cause = EgressCause::default();
        if !self.enforced() {
            cause.words =
                format!("the CNI ({}) does not enforce NetworkPolicy, so every address is allowed", self.cni.names());
            return cause;
        }
        let Some(pod) = self
            .pods(workload)
            .find(|&pod| !self.effective.allowed(pod, Endpoint::Address(addr)).intersection(ports).is_empty())
        else {
            cause.words = "no egress rule allows it".into();
            return cause;
        };
        let trace = self.effective.explain(pod, Endpoint::Address(addr)).egress;
        let mut reasons: Vec<String> = Vec::new();
        for tier in &trace.tiers {
            for hit in &tier.hits {
                if hit.action != netseg_engine::Action::Allow || hit.ports.intersection(ports).is_empty() {
                    continue;
                }
                match hit.origin.kind {
                    netseg_engine::PolicyKind::Admin => {
                        let Some(policy) = self.cluster.admin_policies.get(hit.origin.policy) else { continue };
                        let rule = policy.rules(hit.origin.direction).get(hit.origin.rule);
                        let name = rule.and_then(|r| r.name.as_deref()).map(|n| format!(" `{n}`")).unwrap_or_default();
                        let line = rule.map_or(policy.location.line, |r| r.line);
                        reasons.push(format!(
                            "egress rule {}{name} of {} ({}:{line}) allows it",
                            hit.origin.rule,
                            policy.display_name(),
                            policy.location.file
                        ));
                    }
                    netseg_engine::PolicyKind::Calico => {
                        let Some(policy) = self.cluster.calico.policies.get(hit.origin.policy) else { continue };
                        let rule = policy.rules(hit.origin.direction).get(hit.origin.rule);
                        let line = rule.map_or(policy.location.line, |r| r.line);
                        reasons.push(format!(
                            "egress rule {} of {} ({}:{line}) allows it",
                            hit.origin.rule,
                            policy.display_name(),
                            policy.location.file
                        ));
                    }
                    netseg_engine::PolicyKind::Cilium => {
                        let Some(rule) = netseg_engine::cilium::rule_at(self.cluster, hit.origin) else { continue };
                        reasons.push(format!(
                            "{} of {} ({}:{}) allows it",
                            rule.field(hit.origin.direction),
                            rule.policy.display_name(),
                            rule.policy.location.file,
                            rule.rule.line
                        ));
                    }
                    // The enforcement mode makes endpoints default-deny; it allows nothing itself.
                    netseg_engine::PolicyKind::CiliumEnforcement => {}
                    netseg_engine::PolicyKind::NetworkPolicy => {
                        let Some(policy) = self.cluster.policies.get(hit.origin.policy) else { continue };
                        let Some(rule) = policy.egress.get(hit.origin.rule) else { continue };
                        reasons.push(self.network_policy_egress(policy, rule, hit, addr, &mut cause));
                    }
                }
            }
        }
        if trace.isolating().is_empty() && !trace.by_default.intersection(ports).is_empty() {
            let tiers_decided =
                trace.tiers.iter().any(|t| t.tier != netseg_engine::TierId::NetworkPolicy && !t.hits.is_empty());
            reasons.push(if tiers_decided {
                "admin or baseline rules apply to it but leave these ports to the default, and no NetworkPolicy \
                 isolates its egress"
                    .to_string()
            } else {
                "no NetworkPolicy isolates it for egress, so every address is allowed".to_string()
            });
        }
        cause.words =
            if reasons.is_empty() { "its egress policies allow it".into() } else { crate::rules::list(&reasons, 3) };
        cause
    }

    /// One NetworkPolicy egress rule that allows traffic to `addr`, in words; an allow-all rule is also recorded
    /// in `cause`.
    fn network_policy_egress(
        &self,
        policy: &netseg_model::NetworkPolicy,
        rule: &netseg_model::PolicyRule,
        hit: &netseg_engine::TierHit,
        addr: IpAddr,
        cause: &mut EgressCause,
    ) -> String {
        let at = format!("{}:{}", policy.location.file, rule.line);
        let name = format!("NetworkPolicy {}/{}", policy.namespace, policy.name);
        let on = if rule.ports.is_empty() { "on every port".to_string() } else { format!("on {}", hit.ports) };
        let index = hit.origin.rule;
        let Some(peer) = hit.peer.and_then(|p| rule.peers.get(p)) else {
            cause.allow_all.push(format!("egress rule {index} of {name} ({at})"));
            return format!(
                "egress rule {index} of {name} ({at}) names no destination, so it allows every address {on} \
                 (an allow-all rule such as `egress: [{{}}]`)"
            );
        };
        match &peer.selector {
            netseg_model::PeerSelector::IpBlock(block) => {
                let except = if block.except.is_empty() {
                    String::new()
                } else {
                    let except: Vec<String> = block.except.iter().map(ToString::to_string).collect();
                    format!(" except {}", except.join(", "))
                };
                format!(
                    "egress rule {index} of {name} ({}:{}) allows ipBlock {}{except}, which includes {addr}, {on}",
                    policy.location.file, peer.line, block.cidr
                )
            }
            netseg_model::PeerSelector::Pods { .. } => format!("egress rule {index} of {name} ({at}) allows it {on}"),
        }
    }

    /// The first address of `candidates` the workload reaches on `ports`, as a witness.
    pub fn witness_to_addresses(&self, workload: usize, candidates: &[IpAddr], ports: &PortSet) -> Option<Witness> {
        candidates.iter().find_map(|addr| {
            let allowed = self.to_address(workload, *addr, ports);
            allowed.first().map(|(protocol, port)| Witness {
                from: self.workload_name(workload),
                to: addr.to_string(),
                protocol,
                port,
            })
        })
    }

    pub fn workload_name(&self, workload: usize) -> String {
        self.cluster.workloads[workload].id.to_string()
    }

    pub fn witness_between(&self, from: usize, to: usize, allowed: &PortSet) -> Option<Witness> {
        allowed.first().map(|(protocol, port)| Witness {
            from: self.workload_name(from),
            to: self.workload_name(to),
            protocol,
            port,
        })
    }

    pub fn workload_resource(&self, workload: usize) -> (Resource, Option<Location>) {
        let w = &self.cluster.workloads[workload];
        let resource = Resource {
            kind: w.id.kind.as_str().into(),
            namespace: Some(w.id.namespace.clone()),
            name: w.id.name.clone(),
        };
        (resource, Some(w.location.clone()))
    }

    pub fn policy_resource(&self, policy: usize) -> (Resource, Option<Location>) {
        let p = &self.cluster.policies[policy];
        let resource =
            Resource { kind: "NetworkPolicy".into(), namespace: Some(p.namespace.clone()), name: p.name.clone() };
        (resource, Some(p.location.clone()))
    }

    /// An AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy (cluster-scoped) as a resource.
    pub fn admin_policy_resource(&self, policy: usize) -> (Resource, Option<Location>) {
        let p = &self.cluster.admin_policies[policy];
        (Resource { kind: p.kind.as_str().into(), namespace: None, name: p.name.clone() }, Some(p.location.clone()))
    }

    /// Whether an admin or baseline rule that denies something applies to the workload's pods in `direction`.
    pub fn tier_denies(&self, workload: usize, direction: Direction) -> bool {
        self.tier_rule_applies(workload, direction, Some(netseg_engine::Action::Deny))
    }

    /// Whether any admin or baseline rule (of `action`, when given) has the workload's pods as subject in
    /// `direction`.
    pub fn tier_rule_applies(
        &self,
        workload: usize,
        direction: Direction,
        action: Option<netseg_engine::Action>,
    ) -> bool {
        self.pods(workload).any(|pod| {
            self.declared
                .tier_rules_applying(pod, direction)
                .iter()
                .any(|(_, rule)| action.is_none_or(|a| rule.action == a))
        })
    }

    /// A namespace as a resource; its location is its manifest, or the first workload in it when it has none.
    pub fn namespace_resource(&self, namespace: &str) -> (Resource, Option<Location>) {
        let location = self.cluster.namespace(namespace).and_then(|ns| ns.location.clone()).or_else(|| {
            self.cluster.workloads.iter().find(|w| w.id.namespace == namespace).map(|w| w.location.clone())
        });
        (Resource { kind: "Namespace".into(), namespace: None, name: namespace.to_string() }, location)
    }

    /// Workloads behind a LoadBalancer or NodePort Service or an Ingress: reachable from outside the cluster.
    pub fn internet_facing(&self) -> BTreeSet<usize> {
        self.entry_points().into_iter().map(|entry| entry.workload).collect()
    }

    /// How traffic from outside the cluster enters it: each workload selected by a LoadBalancer or NodePort
    /// Service or an Ingress backend, the ports it receives on (target ports resolved on its containers), and
    /// through what.
    pub fn entry_points(&self) -> Vec<EntryPoint> {
        let mut exposed: Vec<(&netseg_model::Service, String)> = Vec::new();
        for service in &self.cluster.services {
            if matches!(service.service_type.as_str(), "LoadBalancer" | "NodePort") {
                exposed.push((
                    service,
                    format!("{} Service {}/{}", service.service_type, service.namespace, service.name),
                ));
            }
        }
        for ingress in &self.cluster.ingresses {
            for backend in &ingress.backend_services {
                let service =
                    self.cluster.services.iter().find(|s| s.namespace == ingress.namespace && &s.name == backend);
                if let Some(service) = service {
                    exposed.push((service, format!("Ingress {}/{}", ingress.namespace, ingress.name)));
                }
            }
        }
        let mut entries: Vec<EntryPoint> = Vec::new();
        for (service, via) in exposed {
            for (index, workload) in self.cluster.workloads.iter().enumerate() {
                if workload.id.namespace != service.namespace {
                    continue;
                }
                let pods: Vec<_> = workload.pods.iter().filter(|p| service.selects(&p.facts.labels)).collect();
                if pods.is_empty() {
                    continue;
                }
                let ranges: Vec<_> = service
                    .ports
                    .iter()
                    .flat_map(|port| {
                        pods.iter().filter_map(|p| port.target_on(&p.facts)).map(|t| (port.protocol, t, t))
                    })
                    .collect();
                entries.push(EntryPoint { workload: index, ports: PortSet::from_ranges(&ranges), via: via.clone() });
            }
        }
        entries
    }

    /// For a finding about what a workload or namespace can reach or be reached by: the policies of kinds netseg
    /// does not analyse (Calico, Cilium, mesh authorization, ... while they are not modelled) that select it, or
    /// may, in words. The finding stays (netseg never hides what it cannot rule out), but it says what it leaves
    /// out.
    pub fn unmodelled_note(&self, finding: &Finding) -> Option<String> {
        if self.cluster.unmodelled.is_empty() || !CONNECTIVITY_RULES.contains(&finding.rule.code) {
            return None;
        }
        let resource = &finding.resource;
        let workloads: Vec<&netseg_model::Workload> = match resource.kind.as_str() {
            "Namespace" => self.cluster.workloads.iter().filter(|w| w.id.namespace == resource.name).collect(),
            kind => self
                .cluster
                .workloads
                .iter()
                .filter(|w| {
                    Some(&w.id.namespace) == resource.namespace.as_ref()
                        && w.id.name == resource.name
                        && w.id.kind.as_str() == kind
                })
                .collect(),
        };
        let mut selecting = Vec::new();
        for policy in &self.cluster.unmodelled {
            let verdicts = workloads.iter().flat_map(|w| {
                w.pods
                    .iter()
                    .filter(|p| !p.facts.host_network)
                    .map(|p| policy.selects(&w.id.namespace, &p.facts.labels))
            });
            let (mut selects, mut may) = (false, false);
            for verdict in verdicts {
                match verdict {
                    Some(true) => selects = true,
                    None => may = true,
                    Some(false) => {}
                }
            }
            let what = if resource.kind == "Namespace" { "workloads of it" } else { "it" };
            if selects {
                selecting.push(format!(
                    "{} {} ({}) selects {what}",
                    policy.engine,
                    policy.display_name(),
                    policy.location
                ));
            } else if may {
                let by = match &policy.selection {
                    netseg_model::Selection::Unknown(by) => format!("; {by} is not evaluated"),
                    _ => String::new(),
                };
                selecting.push(format!(
                    "{} {} ({}{by}) may select {what}",
                    policy.engine,
                    policy.display_name(),
                    policy.location
                ));
            }
        }
        if selecting.is_empty() {
            return None;
        }
        let count = selecting.len();
        Some(format!(
            "not analysed: {}; netseg does not model {}, so this finding leaves out what {} restrict{}",
            crate::rules::list(&selecting, 3),
            if count == 1 { "that kind" } else { "those kinds" },
            if count == 1 { "it" } else { "they" },
            if count == 1 { "s" } else { "" },
        ))
    }

    /// Why a finding is suppressed: an annotation on its object or namespace.
    /// The objects whose annotation suppresses some rule.
    fn suppressing(&self) -> impl Iterator<Item = ObjectName<'a>> + use<'_, 'a> {
        let cluster = self.cluster;
        let suppressing = self.suppressing.get_or_init(|| {
            let policies = cluster.policies.iter().enumerate().map(|(i, p)| (Suppressing::Policy(i), &p.ignore));
            let admin = cluster.admin_policies.iter().enumerate().map(|(i, p)| (Suppressing::Admin(i), &p.ignore));
            let workloads = cluster.workloads.iter().enumerate().map(|(i, w)| (Suppressing::Workload(i), &w.ignore));
            let all = policies.chain(admin).chain(workloads);
            all.filter(|(_, ignore)| !ignore.rules.is_empty()).map(|(object, _)| object).collect()
        });
        suppressing.iter().map(move |&object| match object {
            Suppressing::Policy(i) => {
                let p = &cluster.policies[i];
                ObjectName { kind: "NetworkPolicy", namespace: Some(&p.namespace), name: &p.name, ignore: &p.ignore }
            }
            Suppressing::Admin(i) => {
                let p = &cluster.admin_policies[i];
                ObjectName { kind: p.kind.as_str(), namespace: None, name: &p.name, ignore: &p.ignore }
            }
            Suppressing::Workload(i) => {
                let w = &cluster.workloads[i];
                ObjectName {
                    kind: w.id.kind.as_str(),
                    namespace: Some(&w.id.namespace),
                    name: &w.id.name,
                    ignore: &w.ignore,
                }
            }
        })
    }

    pub fn suppression(&self, finding: &Finding) -> Option<String> {
        let resource = &finding.resource;
        let on_object: Option<&Suppression> = match resource.kind.as_str() {
            "Namespace" => self.cluster.namespace(&resource.name).map(|ns| &ns.ignore),
            _ => self
                .suppressing()
                .find(|o| {
                    o.kind == resource.kind
                        && o.name == resource.name
                        && o.namespace.is_none_or(|ns| Some(ns) == resource.namespace.as_deref())
                })
                .map(|o| o.ignore),
        };
        let on_namespace = resource.namespace.as_deref().and_then(|ns| self.cluster.namespace(ns)).map(|ns| &ns.ignore);
        for (ignore, what) in [(on_object, "its own"), (on_namespace, "its namespace's")] {
            if let Some(ignore) = ignore.filter(|i| i.covers(finding.rule.code, finding.rule.name)) {
                let reason = ignore.reason.as_deref().unwrap_or("no reason given");
                return Some(format!("{what} {} annotation: {reason}", Suppression::ANNOTATION));
            }
        }
        None
    }
}

/// Ports of one protocol, for checks such as "TCP 80".
pub fn tcp(port: u16) -> PortSet {
    PortSet::single(Protocol::Tcp, port)
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const ANTREA: &str = "---\napiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: redis-only, namespace: shop}\nspec:\n  appliedTo: [{podSelector: {matchLabels: {app: redis}}}]\n  ingress: [{action: Allow, from: [{podSelector: {matchLabels: {app: web}}}]}]\n---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: by-namespace}\nspec:\n  appliedTo: [{namespaceSelector: {matchLabels: {env: prod}}}]\n";

    /// The annotation on a workload, a NetworkPolicy or an admin policy suppresses that object's findings only,
    /// not those of an object of the same kind and name elsewhere.
    #[test]
    fn an_objects_own_annotation_suppresses_its_findings_and_no_others() {
        let ignore = |rule: &str| format!("annotations: {{netseg.io/ignore: {rule}, netseg.io/ignore-reason: agreed}}");
        let host = |ns: &str, annotations: &str| {
            format!("---\nkind: Deployment\nmetadata: {{name: agent, namespace: {ns}, {annotations}}}\nspec: {{template: {{metadata: {{labels: {{app: agent}}}}, spec: {{hostNetwork: true, containers: [{{name: c, image: agent}}]}}}}}}\n")
        };
        let open = |ns: &str, annotations: &str| {
            format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: everyone, namespace: {ns}, {annotations}}}\nspec: {{podSelector: {{}}, ingress: [{{}}]}}\n")
        };
        // Two admin policies of one priority: NS150 reports the later one.
        let admin = |name: &str, priority: u32, annotations: &str| {
            format!("---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: {name}, {annotations}}}\nspec: {{priority: {priority}, subject: {{namespaces: {{}}}}, ingress: [{{action: Allow, from: [{{namespaces: {{}}}}]}}]}}\n")
        };
        let text = [
            host("shop", &ignore("NS110")),
            host("lab", "labels: {}"),
            open("shop", &ignore("all")),
            open("lab", "labels: {}"),
            admin("a", 10, "labels: {}"),
            admin("b-quiet", 10, &ignore("NS150")),
            admin("c", 20, "labels: {}"),
            admin("d-loud", 20, "labels: {}"),
        ]
        .concat();
        let report = audit_yaml(&text);
        let suppressed = |code: &str| -> Vec<(String, bool)> {
            let mut out: Vec<(String, bool)> = of(&report, code)
                .into_iter()
                .map(|f| {
                    let name = format!("{}/{}", f.resource.namespace.as_deref().unwrap_or("-"), f.resource.name);
                    (
                        name,
                        f.suppressed
                            .as_deref()
                            .is_some_and(|why| why.starts_with("its own") && why.ends_with("agreed")),
                    )
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(suppressed("NS110"), [("lab/agent".to_string(), false), ("shop/agent".to_string(), true)]);
        let policies = suppressed("NS146");
        assert!(policies.contains(&("shop/everyone".to_string(), true)), "{policies:?}");
        assert!(policies.contains(&("lab/everyone".to_string(), false)), "{policies:?}");
        assert_eq!(suppressed("NS150"), [("-/b-quiet".to_string(), true), ("-/d-loud".to_string(), false)]);
    }

    #[test]
    fn findings_say_which_unanalysed_policies_select_their_workload() {
        let report = audit_yaml(&format!("{FLAT}{ANTREA}"));
        let redis = of(&report, "NS120").into_iter().find(|f| f.resource.name == "redis").expect("redis");
        assert!(redis.evidence.contains("Antrea NetworkPolicy shop/redis-only (test.yaml:"), "{}", redis.evidence);
        assert!(redis.evidence.contains(") selects it"), "{}", redis.evidence);
        // The cluster-wide one picks namespaces by labels netseg does not read: it may apply, and says so.
        assert!(redis.evidence.contains("ClusterNetworkPolicy by-namespace (test.yaml:"), "{}", redis.evidence);
        assert!(redis.evidence.contains("appliedTo is not evaluated) may select it"), "{}", redis.evidence);
        let web = of(&report, "NS120").into_iter().find(|f| f.resource.name == "web").expect("web");
        assert!(!web.evidence.contains("redis-only"), "{}", web.evidence);
        // Rules about policy objects, not connectivity, carry no such note.
        assert!(of(&report, "NS132").iter().all(|f| !f.evidence.contains("selects it")));
    }
}
