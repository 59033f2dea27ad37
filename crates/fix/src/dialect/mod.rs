//! The generated policies in the CNI's own language: `--dialect calico` writes `projectcalico.org/v3` objects,
//! `--dialect cilium` `cilium.io/v2` ones, `--dialect kubernetes` (the default) the NetworkPolicies of
//! [`crate::manifest`].
//!
//! The plan is the same for every dialect: its decisions are engine questions asked under the CNI's semantics with
//! a namespace-wide default-deny in place, and a Calico or Cilium default-deny isolates exactly the pods a
//! Kubernetes one does. What changes is how it is written: the per-namespace default-deny and DNS policies become
//! one cluster-wide object (a GlobalNetworkPolicy or a CiliumClusterwideNetworkPolicy) that also blocks the cloud
//! metadata endpoints, and each per-workload policy becomes the CNI's namespaced policy with the same rules. The
//! proof then reads these bytes back through the loader and analyses them under that CNI, so a translation that
//! did not mean the same would show up there as a cut flow.

pub mod calico;
pub mod cilium;

use crate::generate::{stand_in, with_stand_ins, Plan};
use crate::manifest::{GeneratedPolicy, MANAGED_BY, REASONS_ANNOTATION};
use netseg_audit::METADATA_ADDRESSES;
use netseg_engine::{Analysis, Endpoint, Network, NetworkChoice};
use netseg_model::cni::{CniVerdict, UnknownCni};
use netseg_model::{load_bytes, Cidr, Cluster, Inventory, Labels, Severity};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// The language the policies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `networking.k8s.io/v1` NetworkPolicies, which every enforcing CNI reads.
    #[default]
    Kubernetes,
    /// `projectcalico.org/v3` GlobalNetworkPolicy and NetworkPolicy.
    Calico,
    /// `cilium.io/v2` CiliumClusterwideNetworkPolicy and CiliumNetworkPolicy.
    Cilium,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Kubernetes => "kubernetes",
            Dialect::Calico => "calico",
            Dialect::Cilium => "cilium",
        }
    }

    /// The `--cni` name of the plugin that enforces the dialect's objects; `None` for NetworkPolicies, which every
    /// enforcing plugin reads.
    pub fn cni(self) -> Option<&'static str> {
        match self {
            Dialect::Kubernetes => None,
            Dialect::Calico => Some("calico"),
            Dialect::Cilium => Some("cilium"),
        }
    }

    /// Whether the CNI of `verdict` enforces the dialect's objects (canal is flannel with Calico's policy engine).
    pub fn enforced_by(self, verdict: &CniVerdict) -> bool {
        match self {
            Dialect::Kubernetes => true,
            Dialect::Calico => verdict.runs_calico(),
            Dialect::Cilium => verdict.runs("cilium"),
        }
    }

    /// The kinds the dialect writes, in words, for messages.
    pub fn kinds(self) -> &'static str {
        match self {
            Dialect::Kubernetes => "NetworkPolicies",
            Dialect::Calico => "Calico GlobalNetworkPolicies and NetworkPolicies",
            Dialect::Cilium => "CiliumClusterwideNetworkPolicies and CiliumNetworkPolicies",
        }
    }

    /// The comment at the top of the YAML stream.
    pub fn header(self) -> &'static str {
        match self {
            Dialect::Kubernetes => {
                "NetworkPolicies written by `netseg generate`: default-deny, DNS and the flows the workloads need.\n\
                 Each policy's netseg.io/reasons annotation says why each of its rules exists."
            }
            Dialect::Calico => {
                "Calico policies (projectcalico.org/v3) written by `netseg generate --dialect calico`: a \
                 GlobalNetworkPolicy\nwith the default-deny, DNS and the metadata block, and NetworkPolicies for the \
                 flows the workloads need.\nEach policy's netseg.io/reasons annotation says why each of its rules \
                 exists."
            }
            Dialect::Cilium => {
                "Cilium policies (cilium.io/v2) written by `netseg generate --dialect cilium`: a \
                 CiliumClusterwideNetworkPolicy\nwith the default-deny, DNS and the metadata block, and \
                 CiliumNetworkPolicies for the flows the workloads need.\nEach policy's netseg.io/reasons annotation \
                 says why each of its rules exists."
            }
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "kubernetes" => Ok(Dialect::Kubernetes),
            "calico" => Ok(Dialect::Calico),
            "cilium" => Ok(Dialect::Cilium),
            other => Err(format!("unknown dialect `{other}`: use kubernetes, calico or cilium")),
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    #[error(transparent)]
    UnknownCni(#[from] UnknownCni),
    /// The CNI (detected or named) would not enforce what the dialect writes.
    #[error(
        "--dialect {dialect} writes {kinds}, which only {cni} enforces, but the CNI {how} is {names}{evidence}: the \
         policies would change nothing. Use --cni {cni} if the CNI is really {cni}, or --dialect kubernetes"
    )]
    CniMismatch {
        dialect: Dialect,
        kinds: &'static str,
        cni: &'static str,
        /// `detected in the input` or `named with --cni`.
        how: &'static str,
        names: String,
        /// ` (kube-system/cilium[DaemonSet])`, when a workload gave it away.
        evidence: String,
    },
    /// No CNI in the input, but policies that only another CNI enforces: they say which CNI runs.
    #[error(
        "--dialect {dialect} assumes {cni} where the input shows no CNI, but the input holds {count} {foreign} \
         policies, which only {foreign} enforces: under {cni} they would be left out. Use --cni {cni} if the CNI is \
         really {cni}, or --dialect {other}"
    )]
    ForeignPolicies { dialect: Dialect, cni: &'static str, count: usize, foreign: &'static str, other: Dialect },
}

/// The network a dialect's policies are planned and proven under: the input's own (detected, or `--cni`) when its
/// CNI enforces them; with no CNI in the input, the dialect's CNI, named as with `--cni` (with a note saying so);
/// an error naming the CNI when another one runs, since the policies would be inert there.
pub fn network<'c>(
    dialect: Dialect,
    cluster: &'c Cluster,
    choice: &NetworkChoice,
) -> Result<(Network<'c>, Vec<String>), DialectError> {
    let network = Network::new(cluster, choice)?;
    let Some(cni) = dialect.cni() else { return Ok((network, Vec::new())) };
    let verdict = network.cni();
    if verdict.detected.is_empty() {
        // Calico's and Cilium's policies exist only where their CNI runs, and the engine takes them as its sign.
        let (foreign, count, other) = match dialect {
            Dialect::Calico => ("Cilium", cluster.cilium_policies.len(), Dialect::Cilium),
            _ => ("Calico", cluster.calico.enforced().count(), Dialect::Calico),
        };
        if count > 0 {
            return Err(DialectError::ForeignPolicies { dialect, cni, count, foreign, other });
        }
        let named = NetworkChoice { cni: Some(cni.to_string()), ..choice.clone() };
        let note = format!(
            "no CNI in the input: the {} are planned and proven as {cni} enforces them (--cni NAME to say which CNI \
             runs)",
            dialect.kinds()
        );
        return Ok((Network::new(cluster, &named)?, vec![note]));
    }
    if dialect.enforced_by(verdict) {
        return Ok((network, Vec::new()));
    }
    let evidence: Vec<String> =
        verdict.detected.iter().filter_map(|d| d.evidence.as_ref()).map(ToString::to_string).collect();
    Err(DialectError::CniMismatch {
        dialect,
        kinds: dialect.kinds(),
        cni,
        how: if verdict.overridden { "named with --cni" } else { "detected in the input" },
        names: verdict.names(),
        evidence: if evidence.is_empty() { String::new() } else { format!(" ({})", evidence.join(", ")) },
    })
}

/// One object the generator writes, in any dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenObject {
    /// `NetworkPolicy`, `GlobalNetworkPolicy`, `CiliumNetworkPolicy`, ...
    pub kind: &'static str,
    pub api_version: &'static str,
    /// `None` for the cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    /// The namespaces whose pods it governs: its own, or those a cluster-wide default-deny covers.
    pub covers: Vec<String>,
    /// The YAML document, without the `---` separator.
    pub yaml: String,
}

/// The plan's policies as the dialect's objects: NetworkPolicies one for one, or a cluster-wide default-deny and
/// the CNI's namespaced policies.
pub fn write(dialect: Dialect, network: &Network<'_>, plan: &Plan) -> Result<Vec<WrittenObject>, String> {
    match dialect {
        Dialect::Kubernetes => Ok(plan
            .policies
            .iter()
            .map(|p| WrittenObject {
                kind: "NetworkPolicy",
                api_version: "networking.k8s.io/v1",
                namespace: Some(p.namespace.clone()),
                name: p.name.clone(),
                covers: vec![p.namespace.clone()],
                yaml: p.to_yaml(),
            })
            .collect()),
        Dialect::Calico => Ok(calico::write(network.cluster, plan, &default_deny_namespaces(network, plan))),
        Dialect::Cilium => Ok(cilium::write(network.cluster, plan, &default_deny_namespaces(network, plan))),
    }
}

/// Objects as one multi-document YAML stream with a header comment (for NetworkPolicies, byte for byte what
/// [`crate::manifest::to_yaml_stream`] writes).
pub fn to_yaml_stream(objects: &[WrittenObject], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    for (index, object) in objects.iter().enumerate() {
        if index > 0 || !header.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&object.yaml);
    }
    out
}

/// The input with the generated YAML laid over it, read back through the loader: NetworkPolicies, Calico's and
/// Cilium's policies alike. The generator writes only what the loader reads cleanly, so any diagnostic is a bug.
pub fn lay_over(cluster: &Cluster, yaml: &str) -> Result<Cluster, String> {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("<generated>"), yaml.as_bytes(), false);
    if let Some(problem) = inventory.diagnostics.iter().find(|d| d.severity != Severity::Note) {
        return Err(format!("the generated YAML does not read back cleanly: {problem}"));
    }
    let mut after = cluster.clone();
    after.policies.extend(inventory.policies);
    after.calico.policies.extend(inventory.calico.policies);
    after.cilium_policies.extend(inventory.cilium_policies);
    crate::mesh_policy::lay_over(&mut after, inventory.mesh);
    Ok(after)
}

/// The namespace of the stand-in peer that the coverage check measures against.
const FAR_NAMESPACE: &str = "netseg-coverage-peer";

/// The segmented namespaces the cluster-wide default-deny covers: those where a pod is not yet default-deny in
/// both directions (a new pod, which no policy names, or one of the input's), and those the plan gives DNS. A
/// namespace the input (or an earlier run's output) already isolates both ways and lets resolve is left out, so
/// that running `generate` again on its own output writes nothing. Each check is a question to the engine, under
/// the CNI's semantics, whatever kind isolates the pods.
pub(crate) fn default_deny_namespaces(network: &Network<'_>, plan: &Plan) -> Vec<String> {
    let cluster = network.cluster;
    let dns_namespaces: BTreeSet<&str> =
        plan.policies.iter().filter(|p| role(p) == Role::Dns).map(|p| p.namespace.as_str()).collect();
    let mut stand_ins = plan.stand_ins.clone();
    let first_probe = cluster.workloads.len() + stand_ins.len();
    for ns in &plan.segmented {
        stand_ins.push(stand_in(ns, "netseg-coverage-probe", Labels::new(), Vec::new()));
    }
    stand_ins.push(stand_in(FAR_NAMESPACE, "any-pod", Labels::new(), Vec::new()));
    let far = Endpoint::Pod { workload: cluster.workloads.len() + stand_ins.len() - 1, pod: 0 };
    let work = with_stand_ins(cluster, &stand_ins);
    let engine = network.setup.assuming_enforced().engine;
    let analysis = Analysis::with_options(&work, &engine);
    let mut covered = Vec::new();
    for (index, ns) in plan.segmented.iter().enumerate() {
        let mut pods = vec![Endpoint::Pod { workload: first_probe + index, pod: 0 }];
        for (w, workload) in cluster.workloads.iter().enumerate().filter(|(_, w)| &w.id.namespace == ns) {
            for (pod, p) in workload.pods.iter().enumerate() {
                if !p.facts.host_network {
                    pods.push(Endpoint::Pod { workload: w, pod });
                }
            }
        }
        let isolated = pods.iter().all(|&pod| {
            !analysis.explain(pod, far).egress.allowed.is_all() && !analysis.explain(far, pod).ingress.allowed.is_all()
        });
        if !isolated || dns_namespaces.contains(ns.as_str()) {
            covered.push(ns.clone());
        }
    }
    covered
}

/// What a planned NetworkPolicy is for: the plan writes default-deny and DNS policies with an empty pod selector,
/// and a workload's allows with its own (never empty) selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    DefaultDeny,
    Dns,
    Workload,
}

pub(crate) fn role(policy: &GeneratedPolicy) -> Role {
    if !policy.pod_selector.is_empty() {
        Role::Workload
    } else if policy.ingress.is_empty() && policy.egress.is_empty() {
        Role::DefaultDeny
    } else {
        Role::Dns
    }
}

/// The cloud metadata endpoints as host blocks, IPv4 first.
pub(crate) fn metadata_blocks() -> Vec<Cidr> {
    METADATA_ADDRESSES
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|addr| Cidr { network: addr, prefix: Cidr::max_prefix(addr) })
        .collect()
}

/// Names already taken by the dialect's namespaced (or, with `namespace` `None`, cluster-scoped) kind.
pub(crate) struct Names {
    taken: BTreeSet<(Option<String>, String)>,
}

impl Names {
    pub(crate) fn new(existing: impl IntoIterator<Item = (Option<String>, String)>) -> Names {
        Names { taken: existing.into_iter().collect() }
    }

    /// `base` (already a valid name, short enough for the prefix and a counter), else `netseg-base`,
    /// `netseg-base-2`, ...
    pub(crate) fn unique(&mut self, namespace: Option<&str>, base: &str) -> String {
        let mut candidates = vec![base.to_string()];
        if !base.starts_with("netseg-") {
            candidates.push(format!("netseg-{base}"));
        }
        candidates.extend((2..1000).map(|n| format!("netseg-{base}-{n}")));
        let key = |name: &str| (namespace.map(str::to_string), name.to_string());
        let name = candidates.into_iter().find(|c| !self.taken.contains(&key(c))).unwrap_or_default();
        self.taken.insert(key(&name));
        name
    }
}

/// The `metadata` block every generated object carries: name, namespace, the managed-by label and the reasons.
pub(crate) fn metadata(name: &str, namespace: Option<&str>, reasons: &[String]) -> String {
    let mut out = String::from("metadata:\n");
    out.push_str(&format!("  name: {}\n", crate::manifest::scalar(name)));
    if let Some(namespace) = namespace {
        out.push_str(&format!("  namespace: {}\n", crate::manifest::scalar(namespace)));
    }
    out.push_str(&format!("  labels: {{{}: {}}}\n", MANAGED_BY.0, MANAGED_BY.1));
    out.push_str(&format!("  annotations:\n    {REASONS_ANNOTATION}: {}\n", crate::manifest::reasons_block(reasons)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{plan, GenerateOptions};
    use netseg_engine::PortSet;
    use netseg_model::Protocol;

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        assert!(inventory.diagnostics.iter().all(|d| d.severity == Severity::Note), "{:?}", inventory.diagnostics);
        Cluster::from_inventory(inventory)
    }

    /// Two pods that talk to nobody by name: the plan is a default-deny and DNS, and no allow.
    const TWO_PODS: &str = "kind: Pod\nmetadata: {name: web, namespace: a, labels: {app: web}}\n---\n\
        kind: Pod\nmetadata: {name: client, namespace: a, labels: {app: client}}\n";

    fn pod(c: &Cluster, name: &str) -> Endpoint {
        let workload = c.workloads.iter().position(|w| w.id.name == name).expect("fixture pod");
        Endpoint::Pod { workload, pod: 0 }
    }

    fn options() -> GenerateOptions {
        GenerateOptions { cluster_domain: "cluster.local".into(), ..GenerateOptions::default() }
    }

    /// The cluster-wide object alone must deny: Calico's end-of-tier deny for what its GlobalNetworkPolicy selects,
    /// Cilium's default deny for what its clusterwide policy selects; the metadata endpoint is denied, and the
    /// cluster DNS (a stand-in, as the plan adds it) stays open.
    #[test]
    fn the_cluster_wide_default_deny_really_denies() {
        let input = cluster(TWO_PODS);
        for dialect in [Dialect::Calico, Dialect::Cilium] {
            let (network, notes) = super::network(dialect, &input, &NetworkChoice::default()).expect("no CNI");
            assert!(notes[0].starts_with("no CNI in the input"), "{notes:?}");
            let plan = plan(&network, &options()).expect("plan");
            let objects = write(dialect, &network, &plan).expect("write");
            assert_eq!(objects.len(), 1, "{dialect}: only the default-deny: {objects:?}");
            assert_eq!(objects[0].covers, ["a"]);
            let laid = lay_over(&input, &to_yaml_stream(&objects, "")).expect("reads back");
            let after = with_stand_ins(&laid, &plan.stand_ins);
            let engine = network.setup.assuming_enforced().engine;
            let analysis = Analysis::with_options(&after, &engine);
            assert!(analysis.allowed(pod(&after, "client"), pod(&after, "web")).is_empty(), "{dialect}");
            let metadata = Endpoint::Address("169.254.169.254".parse().expect("address"));
            assert!(analysis.allowed(pod(&after, "web"), metadata).is_empty(), "{dialect}");
            let dns = PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]);
            let allowed = analysis.allowed(pod(&after, "web"), pod(&after, "cluster-dns"));
            assert_eq!(allowed.intersection(&dns), dns, "{dialect}");
            assert_eq!(allowed.difference(&dns), PortSet::empty(), "{dialect}: DNS only");
            // Without it the two pods are open to each other: the default-deny is what denies.
            let before = with_stand_ins(&input, &plan.stand_ins);
            let open = Analysis::with_options(&before, &engine);
            assert!(open.allowed(pod(&input, "client"), pod(&input, "web")).is_all(), "{dialect}");
        }
    }

    #[test]
    fn roles_tell_the_plans_policies_apart() {
        let input = cluster(&format!(
            "{TWO_PODS}---\nkind: Pod\nmetadata: {{name: app, namespace: a, labels: {{app: app}}}}\n\
             spec: {{containers: [{{name: c, image: x, env: [{{name: URL, value: \"http://web-svc:80\"}}]}}]}}\n---\n\
             kind: Service\nmetadata: {{name: web-svc, namespace: a}}\nspec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}\n"
        ));
        let (network, _) = super::network(Dialect::Kubernetes, &input, &NetworkChoice::default()).expect("network");
        let plan = plan(&network, &options()).expect("plan");
        let roles: Vec<Role> = plan.policies.iter().map(role).collect();
        assert_eq!(roles, [Role::DefaultDeny, Role::Dns, Role::Workload, Role::Workload], "{:?}", plan.policies);
    }

    #[test]
    fn a_cni_that_does_not_read_the_dialect_is_an_error_and_its_own_is_not() {
        let flannel = "kind: DaemonSet\nmetadata: {name: kube-flannel-ds, namespace: kube-flannel}\n\
            spec: {template: {spec: {containers: [{name: f, image: \"docker.io/flannel/flannel:v0.25.6\"}]}}}\n---\n";
        let input = cluster(&format!("{flannel}{TWO_PODS}"));
        let error = super::network(Dialect::Cilium, &input, &NetworkChoice::default()).err().expect("flannel");
        assert!(matches!(&error, DialectError::CniMismatch { names, .. } if names == "flannel"), "{error}");
        assert!(error.to_string().contains("(kube-flannel/kube-flannel-ds[DaemonSet])"), "{error}");
        let named = NetworkChoice { cni: Some("canal".into()), ..NetworkChoice::default() };
        let (network, notes) = super::network(Dialect::Calico, &input, &named).expect("canal runs Calico");
        assert!(network.setup.engine.calico && notes.is_empty());
        let unknown = NetworkChoice { cni: Some("nope".into()), ..NetworkChoice::default() };
        assert!(matches!(super::network(Dialect::Calico, &input, &unknown), Err(DialectError::UnknownCni(_))));
    }

    #[test]
    fn the_kubernetes_dialect_writes_the_manifest_bytes() {
        let input = cluster(TWO_PODS);
        let (network, _) = super::network(Dialect::Kubernetes, &input, &NetworkChoice::default()).expect("network");
        let plan = plan(&network, &options()).expect("plan");
        let objects = write(Dialect::Kubernetes, &network, &plan).expect("write");
        let header = Dialect::Kubernetes.header();
        assert_eq!(to_yaml_stream(&objects, header), crate::manifest::to_yaml_stream(&plan.policies, header));
    }
}
