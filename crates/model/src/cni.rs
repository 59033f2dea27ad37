//! Which CNI the cluster runs, from its agents' DaemonSets and Deployments, and whether it enforces NetworkPolicy.
//!
//! Policies are only as real as the plugin that enforces them: flannel alone, the AWS VPC CNI without its network
//! policy agent, or kindnet without kube-network-policies accept NetworkPolicies and enforce none of them.

use crate::cluster::{Cluster, Workload};
use crate::kube::{WorkloadKind, WorkloadRef};

/// One plugin that netseg recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CniPlugin {
    /// The name users pass to `--cni`.
    pub name: &'static str,
    /// Whether this plugin enforces NetworkPolicy by itself.
    pub enforces: bool,
    /// A caveat about how it enforces, shown with the verdict.
    pub caveat: Option<&'static str>,
}

/// Known plugins. Order matters: policy engines before the plain dataplanes they sit on.
pub const PLUGINS: &[CniPlugin] = &[
    CniPlugin { name: "canal", enforces: true, caveat: Some("flannel networking with Calico's policy engine") },
    CniPlugin { name: "calico", enforces: true, caveat: None },
    CniPlugin {
        name: "cilium",
        enforces: true,
        caveat: Some("Cilium's CIDR rules (ipBlock) do not match in-cluster endpoints, so ipBlocks that cover pod IPs do not allow pod traffic"),
    },
    CniPlugin { name: "weave", enforces: true, caveat: Some("enforced by weave-npc") },
    CniPlugin { name: "kube-router", enforces: true, caveat: None },
    CniPlugin { name: "antrea", enforces: true, caveat: None },
    CniPlugin { name: "ovn-kubernetes", enforces: true, caveat: None },
    CniPlugin { name: "kube-ovn", enforces: true, caveat: None },
    CniPlugin { name: "azure-npm", enforces: true, caveat: None },
    CniPlugin { name: "aws-network-policy-agent", enforces: true, caveat: None },
    CniPlugin { name: "kube-network-policies", enforces: true, caveat: None },
    CniPlugin { name: "flannel", enforces: false, caveat: None },
    CniPlugin { name: "aws-vpc-cni", enforces: false, caveat: Some("the AWS VPC CNI enforces policies only with its network policy agent enabled") },
    CniPlugin { name: "azure-cni", enforces: false, caveat: Some("Azure CNI enforces policies only with azure-npm or the Cilium dataplane") },
    CniPlugin { name: "kindnet", enforces: false, caveat: Some("kindnet enforces policies only together with kube-network-policies") },
    CniPlugin { name: "weave-without-npc", enforces: false, caveat: Some("Weave Net without its weave-npc container does not enforce policies") },
];

pub fn plugin(name: &str) -> Option<&'static CniPlugin> {
    PLUGINS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A plugin found in the input, and the workload that gave it away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub plugin: &'static CniPlugin,
    pub evidence: Option<WorkloadRef>,
}

/// A workload that is part of the CNI itself, and why netseg says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub workload: WorkloadRef,
    /// The plugin it belongs to.
    pub plugin: &'static str,
    /// In words, for the audit's list of exemptions: what the workload is and what showed it.
    pub reason: String,
}

/// What the input says about enforcement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniVerdict {
    pub detected: Vec<Detected>,
    /// The user named the plugin with `--cni`.
    pub overridden: bool,
    /// The CNI's own workloads: its agents (the workloads the detection rests on) and, in the agents' namespaces,
    /// the controllers and operators that run the same plugin's images. Platform infrastructure that needs the API
    /// server and the nodes by design; empty when no CNI agent is in the input.
    pub components: Vec<Component>,
}

impl CniVerdict {
    /// `Some(true)` when a detected plugin enforces, `Some(false)` when plugins were found and none enforces,
    /// `None` when the input shows no CNI at all.
    pub fn enforces(&self) -> Option<bool> {
        if self.detected.is_empty() {
            None
        } else {
            Some(self.detected.iter().any(|d| d.plugin.enforces))
        }
    }

    pub fn names(&self) -> String {
        let names: Vec<&str> = self.detected.iter().map(|d| d.plugin.name).collect();
        if names.is_empty() {
            "unknown".into()
        } else {
            names.join(" + ")
        }
    }

    /// Whether ipBlocks select in-cluster pods by their IPs, as the Kubernetes reference semantics say. Cilium
    /// matches pods by identity and its CIDR rules only addresses outside the cluster, so with Cilium they never do.
    pub fn ip_blocks_match_pods(&self) -> bool {
        !self.runs("cilium")
    }

    /// Caveats about how the detected plugins read the policies, for answers that rest on them.
    pub fn semantics_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.ip_blocks_match_pods() {
            notes.push("Cilium: ipBlocks do not match in-cluster pods, only addresses outside the cluster".into());
        }
        notes
    }

    /// Whether Calico's policy engine enforces the policies (Calico itself, or canal's flannel with Calico).
    pub fn runs_calico(&self) -> bool {
        self.runs("calico") || self.runs("canal")
    }

    /// Whether `plugin` (`cilium`, `calico`, ...) is among the detected or named plugins.
    pub fn runs(&self, plugin: &str) -> bool {
        self.detected.iter().any(|d| d.plugin.name == plugin)
    }

    /// The verdict for `--cni NAME` when the user names the plugin (its components still found in the cluster),
    /// else detected from the cluster.
    pub fn decide(cluster: &Cluster, named: Option<&str>) -> Result<CniVerdict, UnknownCni> {
        match named {
            Some(name) => {
                let mut verdict = CniVerdict::from_name(name).ok_or_else(|| UnknownCni {
                    name: name.to_string(),
                    known: PLUGINS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
                })?;
                verdict.components = components(cluster);
                Ok(verdict)
            }
            None => Ok(detect(cluster)),
        }
    }

    pub fn from_name(name: &str) -> Option<CniVerdict> {
        plugin(name).map(|plugin| CniVerdict {
            detected: vec![Detected { plugin, evidence: None }],
            overridden: true,
            components: Vec::new(),
        })
    }

    /// The component record of a workload, when it is part of the CNI.
    pub fn component(&self, workload: &WorkloadRef) -> Option<&Component> {
        self.components.iter().find(|c| &c.workload == workload)
    }

    /// The namespaces the CNI's agents run in (`kube-system`, `kube-flannel`, `calico-system`, ...), sorted.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut namespaces: Vec<&str> = self.components.iter().map(|c| c.workload.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        namespaces
    }
}

/// `--cni` named a plugin netseg does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CNI `{name}`; known: {known}")]
pub struct UnknownCni {
    pub name: String,
    /// The names netseg knows, comma-separated.
    pub known: String,
}

/// Image repositories of each plugin's parts (agents, controllers, operators, relays), by plugin name.
const FAMILY_IMAGES: &[(&str, &[&str])] = &[
    ("canal", &["calico/", "tigera/", "flannel"]),
    ("calico", &["calico/", "tigera/"]),
    ("cilium", &["cilium/"]),
    ("weave", &["weaveworks/weave"]),
    ("weave-without-npc", &["weaveworks/weave"]),
    ("kube-router", &["kube-router"]),
    ("antrea", &["antrea"]),
    ("ovn-kubernetes", &["ovn-kubernetes", "ovnkube"]),
    ("kube-ovn", &["kube-ovn"]),
    ("azure-npm", &["azure-npm"]),
    ("azure-cni", &["azure-cns", "azure-vnet"]),
    ("aws-network-policy-agent", &["amazon-k8s-cni", "aws-network-policy-agent"]),
    ("aws-vpc-cni", &["amazon-k8s-cni", "aws-network-policy-agent"]),
    ("kube-network-policies", &["kube-network-policies"]),
    ("kindnet", &["kindnetd"]),
    ("flannel", &["flannel"]),
];

fn family(plugin: &str) -> &'static [&'static str] {
    FAMILY_IMAGES.iter().find(|(name, _)| *name == plugin).map_or(&[], |(_, images)| images)
}

/// The plugins whose agent this workload is, by its images and name (the most stable signals).
fn agent_of(workload: &Workload) -> Vec<&'static str> {
    // Each name once: a workload's pods repeat its images, and every plugin's needles are tried on each.
    let mut images: Vec<&str> = workload.pods.iter().flat_map(|p| &p.facts.images).map(|i| image_name(i)).collect();
    images.sort_unstable();
    images.dedup();
    let has = |needle: &str| images.iter().any(|image| image.contains(needle));
    let name = workload.id.name.as_str();
    let mut plugins = Vec::new();
    let calico = has("calico/node") || has("calico-node") || has("tigera/operator");
    let flannel = has("flannel") && !has("flannel-cni-plugin") || name.contains("flannel");
    if name == "canal" || (calico && flannel) {
        plugins.push("canal");
    } else if calico {
        plugins.push("calico");
    } else if flannel {
        plugins.push("flannel");
    }
    // The agent, or the operator that runs beside it (`operator-generic`, `operator-aws`, ...).
    if has("cilium/cilium") || has("cilium/cilium-agent") || has("cilium/operator") || name == "cilium" {
        plugins.push("cilium");
    }
    if has("weave-kube") || name == "weave-net" {
        plugins.push(if has("weave-npc") { "weave" } else { "weave-without-npc" });
    }
    if has("kube-router") {
        plugins.push("kube-router");
    }
    if has("antrea-agent") || has("antrea/antrea") {
        plugins.push("antrea");
    }
    if has("ovn-kubernetes") || name.starts_with("ovnkube-node") {
        plugins.push("ovn-kubernetes");
    }
    if has("kube-ovn") {
        plugins.push("kube-ovn");
    }
    if has("azure-npm") {
        plugins.push("azure-npm");
    }
    if has("azure-cns") || has("azure-vnet") || name == "azure-cns" {
        plugins.push("azure-cni");
    }
    if has("aws-network-policy-agent") {
        plugins.push("aws-network-policy-agent");
    }
    if has("amazon-k8s-cni") || name == "aws-node" {
        plugins.push("aws-vpc-cni");
    }
    if has("kube-network-policies") {
        plugins.push("kube-network-policies");
    }
    if has("kindnetd") || name == "kindnet" {
        plugins.push("kindnet");
    }
    plugins
}

/// The CNI's own workloads, found by what they are: every agent the detection recognises, then, in each agent's
/// namespace, the controllers and operators (not bare pods or jobs) that run an image of the same plugin. An image
/// name alone never makes a component: a demo application whose images happen to come from a CNI vendor's
/// registry (Calico's `stars`, Cilium's `starwars`) is an application like any other, and with no agent in the
/// input nothing is a component.
pub fn components(cluster: &Cluster) -> Vec<Component> {
    let mut agents: Vec<(usize, &'static str)> = Vec::new();
    for (index, workload) in cluster.workloads.iter().enumerate() {
        for plugin in agent_of(workload) {
            agents.push((index, plugin));
        }
    }
    let mut components: Vec<Component> = Vec::new();
    for &(index, plugin) in &agents {
        let workload = &cluster.workloads[index];
        if components.iter().any(|c| c.workload == workload.id) {
            continue;
        }
        components.push(Component {
            workload: workload.id.clone(),
            plugin,
            reason: format!(
                "the {} the {plugin} CNI was detected by (it runs {})",
                workload.id.kind.as_str(),
                images_of(workload)
            ),
        });
    }
    for &(agent, plugin) in &agents {
        let agent = &cluster.workloads[agent];
        for workload in cluster.workloads.iter().filter(|w| w.id.namespace == agent.id.namespace) {
            if components.iter().any(|c| c.workload == workload.id)
                || matches!(workload.id.kind, WorkloadKind::Pod | WorkloadKind::Job | WorkloadKind::CronJob)
            {
                continue;
            }
            let image = workload
                .pods
                .iter()
                .flat_map(|p| &p.facts.images)
                .find(|image| family(plugin).iter().any(|f| image_name(image).contains(f)));
            if let Some(image) = image {
                components.push(Component {
                    workload: workload.id.clone(),
                    plugin,
                    reason: format!(
                        "runs {plugin}'s image {image} in {}, the namespace of its agent {}",
                        agent.id.namespace, agent.id
                    ),
                });
            }
        }
    }
    components.sort_by(|a, b| a.workload.cmp(&b.workload));
    components
}

fn images_of(workload: &Workload) -> String {
    let mut images: Vec<&str> = workload.pods.iter().flat_map(|p| &p.facts.images).map(|image| &**image).collect();
    images.sort_unstable();
    images.dedup();
    images.join(", ")
}

/// Recognises plugins by their agents' images (the most stable signal) and workload names.
pub fn detect(cluster: &Cluster) -> CniVerdict {
    let mut detected: Vec<Detected> = Vec::new();
    for workload in &cluster.workloads {
        for name in agent_of(workload) {
            if let Some(plugin) = plugin(name) {
                if !detected.iter().any(|d| d.plugin.name == plugin.name) {
                    detected.push(Detected { plugin, evidence: Some(workload.id.clone()) });
                }
            }
        }
    }
    // Cilium's operator runs beside its agent; with the agent's DaemonSet missing from the input, the operator
    // (`operator-generic`, `operator-aws`, ...) or the agent's ConfigMap still tells Cilium is installed.
    if !detected.iter().any(|d| d.plugin.name == "cilium") {
        let operator = cluster.workloads.iter().find(|w| {
            w.pods.iter().flat_map(|p| &p.facts.images).any(|image| image_name(image).contains("cilium/operator"))
        });
        if let Some(plugin) = plugin("cilium").filter(|_| operator.is_some() || cluster.cilium_config.is_some()) {
            detected.push(Detected { plugin, evidence: operator.map(|w| w.id.clone()) });
        }
    }
    CniVerdict { detected, overridden: false, components: components(cluster) }
}

/// The repository part of an image reference, without registry host, tag or digest.
fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let tag_colon = without_digest[last_slash..].find(':').map(|i| i + last_slash);
    let repository = &without_digest[..tag_colon.unwrap_or(without_digest.len())];
    // Drop a registry host (has a dot or a port) so that `quay.io/cilium/cilium` reads as `cilium/cilium`.
    match repository.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => rest,
        _ => repository,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{load_bytes, Inventory};
    use std::sync::Arc;

    fn verdict(text: &str) -> CniVerdict {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        detect(&Cluster::from_inventory(inventory))
    }

    fn daemonset(name: &str, images: &[&str]) -> String {
        let containers: Vec<String> = images.iter().map(|i| format!("{{name: c, image: \"{i}\"}}")).collect();
        format!(
            "kind: DaemonSet\nmetadata: {{name: {name}, namespace: kube-system}}\nspec: {{template: {{spec: {{containers: [{}]}}}}}}\n",
            containers.join(", ")
        )
    }

    #[test]
    fn flannel_alone_enforces_nothing() {
        let v = verdict(&daemonset("kube-flannel-ds", &["docker.io/flannel/flannel:v0.25.6"]));
        assert_eq!(v.names(), "flannel");
        assert_eq!(v.enforces(), Some(false));
    }

    #[test]
    fn canal_and_calico_enforce() {
        let v = verdict(&daemonset("canal", &["docker.io/calico/node:v3.28.1", "docker.io/flannel/flannel:v0.24.4"]));
        assert_eq!(v.names(), "canal");
        assert_eq!(v.enforces(), Some(true));
        assert_eq!(verdict(&daemonset("calico-node", &["quay.io/calico/node:v3.28.1"])).names(), "calico");
    }

    #[test]
    fn aws_vpc_cni_depends_on_its_agent() {
        let plain =
            verdict(&daemonset("aws-node", &["602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18"]));
        assert_eq!(plain.enforces(), Some(false));
        let agent = verdict(&daemonset(
            "aws-node",
            &["x.amazonaws.com/amazon-k8s-cni:v1.18", "x.amazonaws.com/amazon/aws-network-policy-agent:v1.1"],
        ));
        assert_eq!(agent.enforces(), Some(true));
    }

    #[test]
    fn controllers_and_operators_are_components_but_not_evidence() {
        let text = format!(
            "{}---\n{}",
            daemonset("calico-node", &["quay.io/calico/node:v3.28.1"]),
            daemonset("calico-kube-controllers", &["quay.io/calico/kube-controllers:v3.28.1"])
        );
        let v = verdict(&text);
        assert_eq!(v.names(), "calico");
        let names: Vec<&str> = v.components.iter().map(|c| c.workload.name.as_str()).collect();
        assert_eq!(names, ["calico-kube-controllers", "calico-node"]);
        assert!(v.components[0].reason.contains("the namespace of its agent kube-system/calico-node"), "{v:?}");
        assert!(verdict(&daemonset("web", &["nginx:1.27"])).components.is_empty());
    }

    fn deployment(namespace: &str, name: &str, image: &str) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec: {{template: {{spec: {{containers: [{{name: c, image: \"{image}\"}}]}}}}}}\n"
        )
    }

    /// calico-stars and Cilium's starwars demo run images from the vendors' registries; they are applications.
    #[test]
    fn regression_demo_apps_with_cni_vendor_images_are_not_components() {
        let demo = format!(
            "{}---\n{}",
            deployment("stars", "backend", "calico/star-probe:v0.1.0"),
            deployment("default", "deathstar", "quay.io/cilium/starwars:v2.1")
        );
        let v = verdict(&demo);
        assert_eq!(v.enforces(), None, "no agent: the CNI is unknown");
        assert!(v.components.is_empty(), "{:?}", v.components);
        // With the agents present, only their own namespace's controllers join them.
        let with_agents = format!(
            "{demo}---\n{}---\n{}---\n{}",
            daemonset("cilium", &["quay.io/cilium/cilium:v1.16.1"]),
            deployment("kube-system", "cilium-operator", "quay.io/cilium/operator-generic:v1.16.1"),
            deployment("kube-system", "web", "nginx:1.27"),
        );
        let v = verdict(&with_agents);
        let names: Vec<String> = v.components.iter().map(|c| c.workload.to_string()).collect();
        assert_eq!(names, ["kube-system/cilium[DaemonSet]", "kube-system/cilium-operator[Deployment]"]);
        assert_eq!(v.namespaces(), ["kube-system"]);
    }

    #[test]
    fn cilium_is_recognised_by_its_operator_and_its_config_map() {
        let operator =
            deployment("kube-system", "cilium-operator", "quay.io/cilium/operator-generic:v1.16.1@sha256:abc");
        assert_eq!(verdict(&operator).names(), "cilium");
        let config = verdict(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\ndata: {enable-policy: default}\n",
        );
        assert_eq!((config.names(), config.enforces()), ("cilium".to_string(), Some(true)));
        assert_eq!(config.detected[0].evidence, None);
    }

    #[test]
    fn nothing_found_is_unknown() {
        assert_eq!(verdict("kind: Pod\nmetadata: {name: p}\n").enforces(), None);
    }

    #[test]
    fn image_names_drop_registry_tag_and_digest() {
        assert_eq!(image_name("quay.io/cilium/cilium:v1.16.1@sha256:abc"), "cilium/cilium");
        assert_eq!(image_name("calico/node:v3"), "calico/node");
        assert_eq!(image_name("localhost:5000/kindest/kindnetd"), "kindest/kindnetd");
    }

    #[test]
    fn a_named_cni_keeps_the_clusters_components_and_an_unknown_one_is_an_error() {
        let mut inventory = Inventory::default();
        let text = daemonset("calico-node", &["quay.io/calico/node:v3.28.1"]);
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        let cluster = Cluster::from_inventory(inventory);
        let named = CniVerdict::decide(&cluster, Some("Cilium")).expect("cilium is known");
        assert!(named.overridden && named.names() == "cilium" && named.components.len() == 1);
        assert!(!named.ip_blocks_match_pods() && named.semantics_notes().len() == 1);
        let detected = CniVerdict::decide(&cluster, None).expect("detection cannot fail");
        assert!(!detected.overridden && detected.ip_blocks_match_pods() && detected.semantics_notes().is_empty());
        let error = CniVerdict::decide(&cluster, Some("calcio")).expect_err("a typo is no CNI");
        assert!(error.to_string().starts_with("unknown CNI `calcio`; known: canal, calico,"), "{error}");
    }
}
