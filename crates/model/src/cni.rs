//! Which CNI the cluster runs, from its agents' DaemonSets and Deployments, and whether it enforces NetworkPolicy.
//!
//! Policies are only as real as the plugin that enforces them: flannel alone, the AWS VPC CNI without its network
//! policy agent, or kindnet without kube-network-policies accept NetworkPolicies and enforce none of them.

use crate::cluster::Cluster;
use crate::kube::WorkloadRef;

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

/// What the input says about enforcement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CniVerdict {
    pub detected: Vec<Detected>,
    /// The user named the plugin with `--cni`.
    pub overridden: bool,
    /// Every workload that is part of a CNI (agents, controllers, operators), found by image whatever the
    /// verdict: platform infrastructure that needs the API server and the nodes by design.
    pub components: Vec<WorkloadRef>,
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

    pub fn from_name(name: &str) -> Option<CniVerdict> {
        plugin(name).map(|plugin| CniVerdict {
            detected: vec![Detected { plugin, evidence: None }],
            overridden: true,
            components: Vec::new(),
        })
    }
}

/// Image repositories of CNI parts that are not the agent the verdict rests on: controllers, operators, relays.
const COMPONENT_IMAGES: &[&str] = &[
    "calico/",
    "tigera/",
    "cilium/",
    "flannel",
    "weaveworks/",
    "kube-router",
    "antrea",
    "ovn-kubernetes",
    "kube-ovn",
    "azure-npm",
    "azure-cns",
    "azure-vnet",
    "amazon-k8s-cni",
    "aws-network-policy-agent",
    "kube-network-policies",
    "kindnetd",
];

/// Whether any container of the workload runs an image of a CNI.
pub fn is_component_image(image: &str) -> bool {
    let name = image_name(image);
    COMPONENT_IMAGES.iter().any(|family| name.contains(family))
}

/// Every workload of the cluster that runs a CNI image (see [`CniVerdict::components`]).
pub fn components(cluster: &Cluster) -> Vec<WorkloadRef> {
    cluster
        .workloads
        .iter()
        .filter(|w| w.pods.iter().flat_map(|p| &p.facts.images).any(|image| is_component_image(image)))
        .map(|w| w.id.clone())
        .collect()
}

/// Recognises plugins by their agents' images (the most stable signal) and workload names.
pub fn detect(cluster: &Cluster) -> CniVerdict {
    let mut detected: Vec<Detected> = Vec::new();
    let mut found = |name: &str, evidence: &WorkloadRef| {
        if let Some(plugin) = plugin(name) {
            if !detected.iter().any(|d| d.plugin.name == plugin.name) {
                detected.push(Detected { plugin, evidence: Some(evidence.clone()) });
            }
        }
    };
    for workload in &cluster.workloads {
        let images: Vec<&str> = workload.pods.iter().flat_map(|p| &p.facts.images).map(String::as_str).collect();
        let has = |needle: &str| images.iter().any(|image| image_name(image).contains(needle));
        let name = workload.id.name.as_str();
        let id = &workload.id;
        let calico = has("calico/node") || has("calico-node") || has("tigera/operator");
        let flannel = has("flannel") && !has("flannel-cni-plugin") || name.contains("flannel");
        if name == "canal" || (calico && flannel) {
            found("canal", id);
        } else if calico {
            found("calico", id);
        } else if flannel {
            found("flannel", id);
        }
        // The agent, or the operator that runs beside it (`operator-generic`, `operator-aws`, ...).
        if has("cilium/cilium") || has("cilium/cilium-agent") || has("cilium/operator") || name == "cilium" {
            found("cilium", id);
        }
        if has("weave-kube") || name == "weave-net" {
            found(if has("weave-npc") { "weave" } else { "weave-without-npc" }, id);
        }
        if has("kube-router") {
            found("kube-router", id);
        }
        if has("antrea-agent") || has("antrea/antrea") {
            found("antrea", id);
        }
        if has("ovn-kubernetes") || name.starts_with("ovnkube-node") {
            found("ovn-kubernetes", id);
        }
        if has("kube-ovn") {
            found("kube-ovn", id);
        }
        if has("azure-npm") {
            found("azure-npm", id);
        }
        if has("azure-cns") || has("azure-vnet") || name == "azure-cns" {
            found("azure-cni", id);
        }
        if has("aws-network-policy-agent") {
            found("aws-network-policy-agent", id);
        }
        if has("amazon-k8s-cni") || name == "aws-node" {
            found("aws-vpc-cni", id);
        }
        if has("kube-network-policies") {
            found("kube-network-policies", id);
        }
        if has("kindnetd") || name == "kindnet" {
            found("kindnet", id);
        }
    }
    // The agent's ConfigMap tells Cilium is installed even where its DaemonSet is not in the input.
    if cluster.cilium_config.is_some() && !detected.iter().any(|d| d.plugin.name == "cilium") {
        if let Some(plugin) = plugin("cilium") {
            detected.push(Detected { plugin, evidence: None });
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
        let mut names: Vec<&str> = v.components.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["calico-kube-controllers", "calico-node"]);
        assert!(verdict(&daemonset("web", &["nginx:1.27"])).components.is_empty());
    }

    #[test]
    fn cilium_is_recognised_by_its_operator_and_its_config_map() {
        let operator = daemonset("cilium-operator", &["quay.io/cilium/operator-generic:v1.16.1@sha256:abc"]);
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
}
