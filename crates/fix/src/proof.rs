//! The proof: the input plus the generated YAML, read back through the loader, analysed again. Every needed
//! flow must still pass (else nothing is emitted), and the findings and connections that went away are the
//! evidence of what the policies close.

use crate::diff::{self, ConnectionChange};
use crate::generate::{read_back, source_endpoints, with_stand_ins, Plan};
use crate::needs::{Destination, Need};
use netseg_audit::{audit_network, AuditOptions, Config, Finding};
use netseg_engine::{Analysis, Endpoint, Network, PortSet};
use netseg_model::{Cluster, Diagnostic};

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
}

#[derive(Debug, Clone, Default)]
pub struct Proof {
    pub kept: Vec<KeptFlow>,
    pub cut: Vec<CutFlow>,
    /// Workloads of segmented namespaces that would lose DNS.
    pub dns_cut: Vec<String>,
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
}

impl Proof {
    pub fn holds(&self) -> bool {
        self.cut.is_empty() && self.dns_cut.is_empty()
    }
}

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
    let generated = read_back(yaml)?;
    let after = Cluster { policies: cluster.policies.iter().cloned().chain(generated).collect(), ..cluster.clone() };
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
    let before_work = with_stand_ins(cluster, &plan.stand_ins);
    let after_work = with_stand_ins(&after, &plan.stand_ins);
    let before_analysis = Analysis::with_options(&before_work, engine);
    let after_analysis = Analysis::with_options(&after_work, engine);
    for need in &plan.needs {
        let missing_after = missing(&after_analysis, need, probe);
        let missing_before = missing(&before_analysis, need, probe);
        if missing_after.is_empty() {
            proof.kept.push(KeptFlow { need: need.clone(), allowed_before: missing_before.is_empty() });
        } else if missing_after.difference(&missing_before).is_empty() {
            // The input already denies these ports; the policies cut nothing, but the flow is still broken.
            proof.still_denied.push(CutFlow { need: need.clone(), missing: missing_after });
        } else {
            proof.cut.push(CutFlow { need: need.clone(), missing: missing_after.difference(&missing_before) });
        }
    }
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
    let findings = diff::findings(&before_report, &after_report);
    (proof.appeared, proof.closed, proof.changed) = (findings.appeared, findings.disappeared, findings.changed);
    proof.connections = diff::connections(before_network.effective(), after_network.effective());
    Ok(proof)
}
