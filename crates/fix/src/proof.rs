//! The proof: the input plus the generated YAML, read back through the loader, analysed again. Every needed
//! flow must still pass (else nothing is emitted), and the findings and connections that went away are the
//! evidence of what the policies close.

use crate::diff::{self, ConnectionChange};
use crate::generate::{source_endpoints, stand_in, with_stand_ins, Plan, OUTSIDE_CLIENT};
use crate::needs::{self, Destination, Need};
use netseg_audit::{audit_network, AuditOptions, Config, Finding};
use netseg_engine::{Analysis, Endpoint, Network, PortSet};
use netseg_model::{Cluster, Diagnostic, Direction, Labels, Location, NetworkPolicy, PeerSelector, PolicyRule};

#[derive(Debug, Clone)]
pub struct KeptFlow {
    pub need: Need,
    /// Whether the input already allowed it; `false` means the generated policies restore a flow the input cut.
    pub allowed_before: bool,
}

#[derive(Debug, Clone)]
pub struct CutFlow {
    pub need: Need,
    pub missing: PortSet,
    /// Why the mesh refuses it, when the mesh is what denies it (a caller outside the mesh has no identity).
    pub why: Option<String>,
}

/// A Service that every client would lose: nothing in the input says who calls it, so the policies admit nobody,
/// where the input let pods (or addresses) in.
#[derive(Debug, Clone)]
pub struct LostService {
    /// `namespace/name`.
    pub service: String,
    pub location: Location,
    /// The workloads behind it and their target ports.
    pub backends: Vec<(usize, PortSet)>,
}

/// An existing rule open to every peer in one direction, which no added NetworkPolicy can narrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRule {
    /// `namespace/name`.
    pub policy: String,
    pub direction: Direction,
    pub index: usize,
    pub location: Location,
    /// What the rule admits, in words (`every destination`, `every namespace`).
    pub admits: String,
}

/// Findings on one workload that the policies leave open, and the existing rules that keep them open.
#[derive(Debug, Clone)]
pub struct KeptOpen {
    pub workload: usize,
    /// Rule codes, e.g. `NS120`.
    pub findings: Vec<&'static str>,
    pub rules: Vec<OpenRule>,
}

#[derive(Debug, Clone, Default)]
pub struct Proof {
    pub kept: Vec<KeptFlow>,
    pub cut: Vec<CutFlow>,
    /// Workloads of segmented namespaces that would lose DNS.
    pub dns_cut: Vec<String>,
    /// Services whose every client the policies would deny.
    pub lost_services: Vec<LostService>,
    /// Findings that stay open because an existing rule admits every peer.
    pub kept_open: Vec<KeptOpen>,
    /// Declared flows, and workloads' DNS, that the input itself denies and the policies could not open: a
    /// warning, since nothing is cut by them.
    pub still_denied: Vec<CutFlow>,
    pub dns_still_denied: Vec<String>,
    /// Findings of the input that the generated policies close, and any they bring.
    pub closed: Vec<Finding>,
    pub appeared: Vec<Finding>,
    /// Findings that stay at another severity: (before, after).
    pub changed: Vec<(Finding, Finding)>,
    /// Connections whose ports change (the proof expects removals only, unless a cut flow is restored).
    pub connections: Vec<ConnectionChange>,
    /// The policies are analysed as enforced; this says when the CNI would not enforce them.
    pub notes: Vec<String>,
    /// `--mesh`: the undeclared meshed callers the written mesh objects refuse, and any they still admit.
    pub mesh: Option<crate::mesh_policy::proof::MeshProof>,
}

impl Proof {
    /// Nothing the input allows and the application needs is denied: no declared flow, no DNS, no Service's
    /// every client. Everything else the policies close is what they are for.
    pub fn holds(&self) -> bool {
        self.cut.is_empty() && self.dns_cut.is_empty() && self.lost_services.is_empty()
    }
}

/// Whether a peer admits every pod of every namespace, or every address.
fn admits_everyone(peer: &PeerSelector) -> Option<&'static str> {
    match peer {
        PeerSelector::Pods { namespaces: Some(ns), pods }
            if ns.is_empty() && pods.as_ref().is_none_or(|p| p.is_empty()) =>
        {
            Some("every pod of every namespace")
        }
        PeerSelector::IpBlock(block) if block.cidr.prefix == 0 && block.except.is_empty() => Some("every address"),
        _ => None,
    }
}

/// The rules of `policy` in `direction` open to every peer, for a workload it selects.
fn open_rules(policy: &NetworkPolicy, direction: Direction) -> Vec<OpenRule> {
    let rules: &[PolicyRule] = policy.rules(direction);
    let mut found = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let admits = if rule.peers.is_empty() {
            Some(if direction == Direction::Egress { "every destination" } else { "every source" })
        } else {
            rule.peers.iter().find_map(|p| admits_everyone(&p.selector))
        };
        if let Some(admits) = admits {
            let ports = if rule.ports.is_empty() { "" } else { " on its ports" };
            found.push(OpenRule {
                policy: format!("{}/{}", policy.namespace, policy.name),
                direction,
                index,
                location: Location { file: policy.location.file.clone(), line: rule.line },
                admits: format!("{admits}{ports}"),
            });
        }
    }
    found
}

/// The direction a finding is about, for the rules that exposes a workload: egress to the metadata endpoint, the
/// API server, kube-system, the nodes and the internet; ingress of sensitive ports and from every namespace.
fn finding_direction(code: &str) -> Option<Direction> {
    match code {
        "NS120" | "NS121" | "NS122" | "NS123" | "NS124" => Some(Direction::Egress),
        "NS125" | "NS126" => Some(Direction::Ingress),
        _ => None,
    }
}

/// The findings left on workloads of segmented namespaces, each with the input's rules that keep it open.
fn kept_open(cluster: &Cluster, plan: &Plan, after: &[Finding]) -> Vec<KeptOpen> {
    let mut out: Vec<KeptOpen> = Vec::new();
    for finding in after {
        let Some(direction) = finding_direction(finding.rule.code).filter(|_| finding.suppressed.is_none()) else {
            continue;
        };
        let Some(namespace) = finding.resource.namespace.as_deref() else { continue };
        if !plan.segmented.iter().any(|s| s == namespace) {
            continue;
        }
        let Some(index) = cluster.workloads.iter().position(|w| {
            w.id.namespace == namespace
                && w.id.name == finding.resource.name
                && w.id.kind.as_str() == finding.resource.kind
        }) else {
            continue;
        };
        let workload = &cluster.workloads[index];
        let rules: Vec<OpenRule> = cluster
            .policies
            .iter()
            .filter(|p| {
                p.namespace == namespace && workload.pods.iter().any(|pod| p.pod_selector.matches(&pod.facts.labels))
            })
            .flat_map(|p| open_rules(p, direction))
            .collect();
        if rules.is_empty() {
            continue;
        }
        match out.iter_mut().find(|k| k.workload == index) {
            Some(kept) => {
                if !kept.findings.contains(&finding.rule.code) {
                    kept.findings.push(finding.rule.code);
                }
                for rule in rules {
                    if !kept.rules.contains(&rule) {
                        kept.rules.push(rule);
                    }
                }
            }
            None => out.push(KeptOpen { workload: index, findings: vec![finding.rule.code], rules }),
        }
    }
    out
}

/// Services of segmented namespaces that no declared flow reaches, that some client reached before and none
/// reaches after: no pod of the input outside the Service's own workloads, no pod of a namespace the input does
/// not have (`elsewhere`), no address outside the cluster. A Service exists to be called; policies that leave it
/// no caller cut a flow the input allowed, one that nothing in the input names.
fn lost_services(
    cluster: &Cluster,
    plan: &Plan,
    before: &Analysis<'_>,
    after: &Analysis<'_>,
    elsewhere: usize,
) -> Vec<LostService> {
    let mut lost = Vec::new();
    for service in &cluster.services {
        if service.selector.is_none() || !plan.segmented.contains(&service.namespace) {
            continue;
        }
        let all: Vec<_> = service.ports.iter().collect();
        let backends = needs::backends(cluster, service, &all);
        if backends.is_empty() {
            continue;
        }
        let declared = plan.needs.iter().any(|need| {
            matches!(need.dst, Destination::Workload(w)
                if backends.iter().any(|(b, ports)| *b == w && !need.ports.intersection(ports).is_empty()))
        });
        if declared {
            continue;
        }
        let reaches = |analysis: &Analysis<'_>, src: Endpoint| {
            backends.iter().any(|(b, ports)| {
                (0..cluster.workloads[*b].pods.len()).any(|pod| {
                    !analysis.allowed(src, Endpoint::Pod { workload: *b, pod }).intersection(ports).is_empty()
                })
            })
        };
        let clients: Vec<Endpoint> = cluster
            .workloads
            .iter()
            .enumerate()
            .filter(|(w, _)| !backends.iter().any(|(b, _)| b == w))
            .flat_map(|(w, workload)| (0..workload.pods.len()).map(move |pod| Endpoint::Pod { workload: w, pod }))
            .chain([Endpoint::Pod { workload: elsewhere, pod: 0 }, Endpoint::Address(OUTSIDE_CLIENT)])
            .collect();
        if clients.iter().any(|&c| reaches(after, c)) || !clients.iter().any(|&c| reaches(before, c)) {
            continue;
        }
        lost.push(LostService {
            service: format!("{}/{}", service.namespace, service.name),
            location: service.location.clone(),
            backends,
        });
    }
    lost
}

/// The namespace of the stand-in client that the input cannot name.
const ELSEWHERE: &str = "netseg-elsewhere";

/// What the engine says of one need in `cluster` (with the stand-ins appended).
fn missing(analysis: &Analysis<'_>, need: &Need, probe: Option<usize>) -> PortSet {
    let sources = source_endpoints(analysis.cluster, &need.src, probe);
    let destinations: Vec<Endpoint> = match need.dst {
        Destination::Workload(w) => {
            (0..analysis.cluster.workloads[w].pods.len()).map(|pod| Endpoint::Pod { workload: w, pod }).collect()
        }
        Destination::Block(cidr) => vec![Endpoint::Address(cidr.network)],
    };
    let mut allowed = need.ports.clone();
    for &src in &sources {
        for &dst in &destinations {
            allowed = allowed.intersection(&analysis.allowed(src, dst));
        }
    }
    if sources.is_empty() {
        return need.ports.clone();
    }
    need.ports.difference(&allowed)
}

/// Proves the plan on the network's cluster: under the same CNI, its policies taken as enforced.
pub fn prove(
    network: &Network<'_>,
    diagnostics: &[Diagnostic],
    plan: &Plan,
    yaml: &str,
    config: &Config,
    options: &AuditOptions,
) -> Result<Proof, String> {
    let cluster = network.cluster;
    // NetworkPolicies, or the Calico or Cilium objects of another dialect, and the mesh objects of `--mesh`, laid
    // over the input as `netseg audit INPUT OUTPUT` would read them.
    let after = crate::dialect::lay_over(cluster, yaml)?;
    let mut proof = Proof::default();
    if !network.enforced() {
        proof.notes.push(format!(
            "the CNI ({}) enforces no NetworkPolicy: this proof describes the policies as they would be enforced",
            network.cni().names()
        ));
    }
    let enforced = network.setup.assuming_enforced();
    let engine = &enforced.engine;
    let probe = plan.stand_ins.iter().position(|w| w.id.name == "any-pod").map(|i| cluster.workloads.len() + i);
    // A pod of a namespace the input does not have, last: a client the input cannot name.
    let mut stand_ins = plan.stand_ins.clone();
    stand_ins.push(stand_in(ELSEWHERE, "any-client", Labels::new(), Vec::new()));
    let elsewhere = cluster.workloads.len() + stand_ins.len() - 1;
    let before_work = with_stand_ins(cluster, &stand_ins);
    let after_work = with_stand_ins(&after, &stand_ins);
    let before_analysis = Analysis::with_options(&before_work, engine);
    let after_analysis = Analysis::with_options(&after_work, engine);
    for need in &plan.needs {
        let missing_after = missing(&after_analysis, need, probe);
        let missing_before = missing(&before_analysis, need, probe);
        if missing_after.is_empty() {
            proof.kept.push(KeptFlow { need: need.clone(), allowed_before: missing_before.is_empty() });
        } else if missing_after.difference(&missing_before).is_empty() {
            // The input already denies these ports; the policies cut nothing, but the flow is still broken.
            proof.still_denied.push(CutFlow { need: need.clone(), missing: missing_after, why: None });
        } else {
            let missing = missing_after.difference(&missing_before);
            let sources = source_endpoints(&after_work, &need.src, probe);
            let destinations = match need.dst {
                Destination::Workload(w) => crate::mesh_policy::pods(&after_work, w),
                Destination::Block(_) => Vec::new(),
            };
            let why = crate::mesh_policy::proof::refusal(&after_analysis, &sources, &destinations, &missing);
            proof.cut.push(CutFlow { need: need.clone(), missing, why });
        }
    }
    if let Some(mesh) = &plan.mesh {
        proof.mesh = Some(crate::mesh_policy::proof::check(cluster, plan, mesh, &after_analysis));
    }
    proof.lost_services = lost_services(cluster, plan, &before_analysis, &after_analysis, elsewhere);
    let dns_servers = plan.dns.servers(&after_work);
    let resolves = |analysis: &Analysis<'_>, workload: usize| {
        (0..cluster.workloads[workload].pods.len()).all(|pod| {
            dns_servers.iter().any(|&server| {
                let allowed = analysis.allowed(Endpoint::Pod { workload, pod }, server);
                allowed.intersection(&plan.dns_ports) == plan.dns_ports
            })
        })
    };
    for (index, workload) in cluster.workloads.iter().enumerate() {
        if !plan.segmented.contains(&workload.id.namespace) || workload.pods.iter().all(|p| p.facts.host_network) {
            continue;
        }
        if !resolves(&after_analysis, index) {
            if resolves(&before_analysis, index) {
                proof.dns_cut.push(workload.id.to_string());
            } else {
                proof.dns_still_denied.push(workload.id.to_string());
            }
        }
    }

    // What the policies close, as `audit` and `diff` would report it on the input and on the input with them.
    let before_network = Network::with_setup(cluster, enforced.clone());
    let after_network = Network::with_setup(&after, enforced);
    let before_report = audit_network(&before_network, diagnostics, config, options);
    let after_report = audit_network(&after_network, diagnostics, config, options);
    proof.kept_open = kept_open(cluster, plan, &after_report.findings);
    let findings = diff::findings(&before_report, &after_report);
    (proof.appeared, proof.closed, proof.changed) = (findings.appeared, findings.disappeared, findings.changed);
    proof.connections = diff::connections(before_network.effective(), after_network.effective());
    Ok(proof)
}
