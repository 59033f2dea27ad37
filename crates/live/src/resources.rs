//! Exactly the resource types netseg reads, where the API serves them, and what a 403 on each one costs.

use netseg_model::cilium::CILIUM_CONFIG;
use netseg_model::mesh::istio::ISTIO_CONFIG;
use netseg_model::mesh::linkerd::LINKERD_CONFIG;
use std::collections::BTreeSet;

/// What a resource type's absence does to the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// Without it the answers would be wrong, not just incomplete: a 403 stops the read.
    Required,
    /// The answers stay sound without it (a documented default stands in, or only a naming detail changes): a
    /// 403 is a warning that names what could not be seen.
    Forbiddable(&'static str),
    /// Read only where the API serves it (an optional API group); a 403 stops the read.
    IfServed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The API group; empty for the core group.
    pub group: &'static str,
    /// The versions netseg reads, preferred first.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// The kind in words, for messages.
    pub what: &'static str,
    pub tolerance: Tolerance,
    /// Read only when this group/version is not served (Endpoints stand in for EndpointSlices on old clusters).
    pub unless_served: Option<&'static str>,
}

const fn core(
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    what: &'static str,
    tolerance: Tolerance,
) -> Resource {
    Resource { group: "", versions: &["v1"], plural, kind, namespaced, what, tolerance, unless_served: None }
}

const fn grouped(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    what: &'static str,
    tolerance: Tolerance,
) -> Resource {
    Resource { group, versions: &["v1"], plural, kind, namespaced: true, what, tolerance, unless_served: None }
}

const OWNER_ONLY: &str =
    "pods are named after their nearest owner that could be read (a ReplicaSet instead of its Deployment, say)";

/// Every list netseg makes, in this order.
pub const RESOURCES: &[Resource] = &[
    core("namespaces", "Namespace", false, "Namespaces", Tolerance::Required),
    core(
        "nodes",
        "Node",
        false,
        "Nodes",
        Tolerance::Forbiddable(
            "node addresses: every address outside the pod network is taken for a node (NS123; --node-cidr gives them)",
        ),
    ),
    core("pods", "Pod", true, "Pods", Tolerance::Required),
    grouped("apps", "deployments", "Deployment", "Deployments", Tolerance::Forbiddable(OWNER_ONLY)),
    grouped("apps", "replicasets", "ReplicaSet", "ReplicaSets", Tolerance::Forbiddable(OWNER_ONLY)),
    grouped("apps", "statefulsets", "StatefulSet", "StatefulSets", Tolerance::Forbiddable(OWNER_ONLY)),
    // The CNI is recognised from its DaemonSets: without them an inert CNI would pass for an enforcing one.
    grouped("apps", "daemonsets", "DaemonSet", "DaemonSets", Tolerance::Required),
    core("replicationcontrollers", "ReplicationController", true, "ReplicationControllers", Tolerance::Forbiddable(OWNER_ONLY)),
    grouped("batch", "jobs", "Job", "Jobs", Tolerance::Forbiddable(OWNER_ONLY)),
    grouped("batch", "cronjobs", "CronJob", "CronJobs", Tolerance::Forbiddable(OWNER_ONLY)),
    core(
        "services",
        "Service",
        true,
        "Services",
        Tolerance::Forbiddable(
            "exposure through LoadBalancer and NodePort Services (blast-radius --from internet, NS125's internet exposure)",
        ),
    ),
    Resource {
        unless_served: Some("discovery.k8s.io/v1"),
        ..core(
            "endpoints",
            "Endpoints",
            true,
            "Endpoints",
            Tolerance::Forbiddable(
                "the API server's address: every address outside the pod network on TCP 443/6443 is taken for it (NS121; --api-server gives it)",
            ),
        )
    },
    grouped(
        "discovery.k8s.io",
        "endpointslices",
        "EndpointSlice",
        "EndpointSlices",
        Tolerance::Forbiddable(
            "the API server's address: every address outside the pod network on TCP 443/6443 is taken for it (NS121; --api-server gives it)",
        ),
    ),
    grouped(
        "networking.k8s.io",
        "ingresses",
        "Ingress",
        "Ingresses",
        Tolerance::Forbiddable("exposure through Ingresses (blast-radius --from internet, NS125's internet exposure)"),
    ),
    grouped("networking.k8s.io", "networkpolicies", "NetworkPolicy", "NetworkPolicies", Tolerance::Required),
    core(
        "serviceaccounts",
        "ServiceAccount",
        true,
        "ServiceAccounts",
        Tolerance::Forbiddable(
            "ServiceAccount labels: a Calico serviceAccountSelector that asks for a label matches no account",
        ),
    ),
    // Cilium's own policies, where the cluster serves its CRDs: once served, they restrict traffic, so a 403 stops
    // the read like one on NetworkPolicies.
    Resource {
        group: CILIUM_GROUP,
        versions: &["v2"],
        plural: "ciliumnetworkpolicies",
        kind: "CiliumNetworkPolicy",
        namespaced: true,
        what: "CiliumNetworkPolicies",
        tolerance: Tolerance::IfServed,
        unless_served: None,
    },
    Resource {
        group: CILIUM_GROUP,
        versions: &["v2"],
        plural: "ciliumclusterwidenetworkpolicies",
        kind: "CiliumClusterwideNetworkPolicy",
        namespaced: false,
        what: "CiliumClusterwideNetworkPolicies",
        tolerance: Tolerance::IfServed,
        unless_served: None,
    },
];

/// The API group of Cilium's CRDs.
pub const CILIUM_GROUP: &str = "cilium.io";

/// A kind of an optional API group (a CNI's or a mesh's CRDs), read where the cluster serves it, from the first of
/// `versions` whose discovery document offers it.
const fn optional(
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    what: &'static str,
) -> Resource {
    Resource { group, versions, plural, kind, namespaced, what, tolerance: Tolerance::IfServed, unless_served: None }
}

/// Calico's aggregated API (its API server), preferred where served.
pub const CALICO_API: &str = "projectcalico.org/v3";

/// Calico's kinds as its API server serves them: the same objects, under the names `kubectl get` and
/// `calicoctl` use.
const CALICO_KINDS: &[(&str, &str, bool, &str)] = &[
    ("tiers", "Tier", false, "Calico Tiers"),
    ("networkpolicies", "NetworkPolicy", true, "Calico NetworkPolicies"),
    ("globalnetworkpolicies", "GlobalNetworkPolicy", false, "Calico GlobalNetworkPolicies"),
    ("stagednetworkpolicies", "StagedNetworkPolicy", true, "Calico StagedNetworkPolicies"),
    ("stagedglobalnetworkpolicies", "StagedGlobalNetworkPolicy", false, "Calico StagedGlobalNetworkPolicies"),
    (
        "stagedkubernetesnetworkpolicies",
        "StagedKubernetesNetworkPolicy",
        true,
        "Calico StagedKubernetesNetworkPolicies",
    ),
    ("networksets", "NetworkSet", true, "Calico NetworkSets"),
    ("globalnetworksets", "GlobalNetworkSet", false, "Calico GlobalNetworkSets"),
    ("hostendpoints", "HostEndpoint", false, "Calico HostEndpoints"),
];

/// Every optional kind netseg reads where served: Calico's (from its API server, else from the CRDs it stores them
/// in, never both: they are the same objects), and the meshes' authorization kinds.
pub fn optional_resources() -> Vec<Resource> {
    let mut resources = Vec::new();
    for &(plural, kind, namespaced, what) in CALICO_KINDS {
        resources.push(optional("projectcalico.org", &["v3"], plural, kind, namespaced, what));
        resources.push(Resource {
            unless_served: Some(CALICO_API),
            ..optional("crd.projectcalico.org", &["v1"], plural, kind, namespaced, what)
        });
    }
    const ISTIO: &[&str] = &["v1", "v1beta1"];
    const LINKERD_ROUTES: &[&str] = &["v1beta3", "v1beta2", "v1beta1", "v1alpha1"];
    resources.extend([
        optional(
            "security.istio.io",
            ISTIO,
            "authorizationpolicies",
            "AuthorizationPolicy",
            true,
            "Istio AuthorizationPolicies",
        ),
        optional(
            "security.istio.io",
            ISTIO,
            "peerauthentications",
            "PeerAuthentication",
            true,
            "Istio PeerAuthentications",
        ),
        optional("policy.linkerd.io", LINKERD_ROUTES, "servers", "Server", true, "Linkerd Servers"),
        optional(
            "policy.linkerd.io",
            &["v1beta1", "v1alpha1"],
            "serverauthorizations",
            "ServerAuthorization",
            true,
            "Linkerd ServerAuthorizations",
        ),
        optional(
            "policy.linkerd.io",
            &["v1alpha1"],
            "authorizationpolicies",
            "AuthorizationPolicy",
            true,
            "Linkerd AuthorizationPolicies",
        ),
        optional(
            "policy.linkerd.io",
            &["v1alpha1"],
            "meshtlsauthentications",
            "MeshTLSAuthentication",
            true,
            "Linkerd MeshTLSAuthentications",
        ),
        optional(
            "policy.linkerd.io",
            &["v1alpha1"],
            "networkauthentications",
            "NetworkAuthentication",
            true,
            "Linkerd NetworkAuthentications",
        ),
        optional("policy.linkerd.io", LINKERD_ROUTES, "httproutes", "HTTPRoute", true, "Linkerd HTTPRoutes"),
        // Linkerd authorizes per route on Gateway API HTTPRoutes too.
        optional(
            "gateway.networking.k8s.io",
            &["v1", "v1beta1"],
            "httproutes",
            "HTTPRoute",
            true,
            "Gateway API HTTPRoutes",
        ),
        optional(
            "consul.hashicorp.com",
            &["v1alpha1"],
            "serviceintentions",
            "ServiceIntentions",
            true,
            "Consul ServiceIntentions",
        ),
        optional(
            "consul.hashicorp.com",
            &["v1alpha1"],
            "servicedefaults",
            "ServiceDefaults",
            true,
            "Consul ServiceDefaults",
        ),
        optional("consul.hashicorp.com", &["v1alpha1"], "proxydefaults", "ProxyDefaults", true, "Consul ProxyDefaults"),
    ]);
    resources
}

/// The ConfigMaps that hold a CNI's or a mesh's settings, read one by one (`get` on these names only): the Cilium
/// agent's policy enforcement mode, Istio's root namespace and trust domain, Linkerd's default inbound policy.
pub const SETTINGS_CONFIG_MAPS: &[(&str, &str, &str)] = &[
    ("kube-system", CILIUM_CONFIG, "the Cilium agent's policy enforcement mode (`default` is assumed)"),
    (
        "istio-system",
        ISTIO_CONFIG,
        "Istio's root namespace and trust domain (istio-system and cluster.local are assumed)",
    ),
    (
        "linkerd",
        LINKERD_CONFIG,
        "Linkerd's default inbound policy and trust domain (all-unauthenticated and cluster.local are assumed)",
    ),
];

/// The cluster-scoped admin policy kinds of `policy.networking.k8s.io`, by plural.
const ADMIN_POLICIES: &[(&str, &str, &str)] = &[
    (ADMIN_POLICY_PLURALS[0], "AdminNetworkPolicy", "AdminNetworkPolicies"),
    (ADMIN_POLICY_PLURALS[1], "BaselineAdminNetworkPolicy", "BaselineAdminNetworkPolicies"),
    (ADMIN_POLICY_PLURALS[2], "ClusterNetworkPolicy", "ClusterNetworkPolicies"),
];

/// The admin policy resources netseg lists where the API serves them.
pub const ADMIN_POLICY_PLURALS: [&str; 3] =
    ["adminnetworkpolicies", "baselineadminnetworkpolicies", "clusternetworkpolicies"];

pub const ADMIN_POLICY_GROUP: &str = "policy.networking.k8s.io";

impl Resource {
    /// Whether the analysis stays sound when the cluster forbids listing it.
    pub fn forbidden_is_sound(&self) -> bool {
        matches!(self.tolerance, Tolerance::Forbiddable(_))
    }

    pub fn consequence(&self) -> &'static str {
        match self.tolerance {
            Tolerance::Forbiddable(consequence) => consequence,
            Tolerance::Required | Tolerance::IfServed => "",
        }
    }

    /// `group/version` pairs this resource may be read from, in words.
    pub fn group_versions(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|v| if self.group.is_empty() { v.to_string() } else { format!("{}/{v}", self.group) })
            .collect();
        versions.join(", ")
    }

    /// The list path: `/api/v1/pods`, `/apis/apps/v1/namespaces/shop/deployments`.
    pub fn list_path(&self, group_version: &str, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() { "/api" } else { "/apis" };
        match namespace.filter(|_| self.namespaced) {
            Some(namespace) => format!("{root}/{group_version}/namespaces/{namespace}/{}", self.plural),
            None => format!("{root}/{group_version}/{}", self.plural),
        }
    }
}

/// The group versions the API server serves, from discovery (`/api` and `/apis`).
#[derive(Debug, Default)]
pub struct Served {
    group_versions: BTreeSet<String>,
}

impl Served {
    pub fn from_discovery(core: &str, groups: &str) -> Result<Served, String> {
        let mut served = Served::default();
        let core: serde_json::Value =
            serde_json::from_str(core).map_err(|error| format!("/api is not an APIVersions object: {error}"))?;
        let groups: serde_json::Value =
            serde_json::from_str(groups).map_err(|error| format!("/apis is not an APIGroupList: {error}"))?;
        for version in core["versions"].as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
            served.group_versions.insert(version.to_string());
        }
        for group in groups["groups"].as_array().into_iter().flatten() {
            for version in group["versions"].as_array().into_iter().flatten() {
                if let Some(group_version) = version["groupVersion"].as_str() {
                    served.group_versions.insert(group_version.to_string());
                }
            }
        }
        if !served.group_versions.contains("v1") {
            return Err("the API server does not serve the core v1 API (/api lists no v1)".into());
        }
        Ok(served)
    }

    /// The version to read `resource` from, if the API serves one that netseg reads.
    pub fn version_of(&self, resource: &Resource) -> Option<String> {
        if resource.unless_served.is_some_and(|gv| self.group_versions.contains(gv)) {
            return None;
        }
        resource.versions.iter().find_map(|version| {
            let group_version =
                if resource.group.is_empty() { version.to_string() } else { format!("{}/{version}", resource.group) };
            self.group_versions.contains(&group_version).then_some(group_version)
        })
    }

    /// Every served version of the admin policy group (`policy.networking.k8s.io/v1alpha1`, ...).
    pub fn admin_policy_versions(&self) -> Vec<String> {
        let prefix = format!("{ADMIN_POLICY_GROUP}/");
        self.group_versions.iter().filter(|gv| gv.starts_with(&prefix)).cloned().collect()
    }

    pub fn serves(&self, group_version: &str) -> bool {
        self.group_versions.contains(group_version)
    }

    /// Whether only a resource type that stands in for a missing one was left out (not a gap worth a note).
    pub fn stands_in(&self, resource: &Resource) -> bool {
        resource.unless_served.is_some_and(|gv| self.group_versions.contains(gv))
    }
}

/// The resource names an `APIResourceList` (a group version's discovery document) offers; nothing for a document
/// that is not one.
pub fn offered_plurals(resource_list: &str) -> Vec<String> {
    let Ok(list) = serde_json::from_str::<serde_json::Value>(resource_list) else { return Vec::new() };
    list["resources"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).map(String::from).collect()
}

/// The admin policy kinds an `APIResourceList` of the admin policy group offers.
pub fn admin_policy_resources(resource_list: &str) -> Vec<Resource> {
    let offered = offered_plurals(resource_list);
    ADMIN_POLICIES
        .iter()
        .filter(|(plural, _, _)| offered.iter().any(|name| name == plural))
        .map(|(plural, kind, what)| Resource {
            group: ADMIN_POLICY_GROUP,
            versions: &[],
            plural,
            kind,
            namespaced: false,
            what,
            tolerance: Tolerance::IfServed,
            unless_served: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = r#"{"kind":"APIVersions","versions":["v1"]}"#;

    fn groups(versions: &[&str]) -> String {
        let groups: Vec<String> = versions
            .iter()
            .map(|gv| {
                let (name, version) = gv.split_once('/').unwrap_or((gv, ""));
                format!(r#"{{"name":"{name}","versions":[{{"groupVersion":"{gv}","version":"{version}"}}]}}"#)
            })
            .collect();
        format!(r#"{{"kind":"APIGroupList","groups":[{}]}}"#, groups.join(","))
    }

    #[test]
    fn endpoint_slices_replace_endpoints_where_served() {
        let all = ["apps/v1", "batch/v1", "networking.k8s.io/v1", "discovery.k8s.io/v1"];
        let served = Served::from_discovery(CORE, &groups(&all)).expect("discovery");
        let read: Vec<&str> = RESOURCES.iter().filter(|r| served.version_of(r).is_some()).map(|r| r.plural).collect();
        assert!(read.contains(&"endpointslices") && !read.contains(&"endpoints"));
        let old = Served::from_discovery(CORE, &groups(&all[..3])).expect("discovery");
        let read: Vec<&str> = RESOURCES.iter().filter(|r| old.version_of(r).is_some()).map(|r| r.plural).collect();
        assert!(read.contains(&"endpoints") && !read.contains(&"endpointslices"));
    }

    #[test]
    fn admin_policies_come_from_discovery_and_a_missing_group_is_no_error() {
        let served = Served::from_discovery(CORE, &groups(&["apps/v1"])).expect("discovery");
        assert!(served.admin_policy_versions().is_empty());
        let served = Served::from_discovery(
            CORE,
            &groups(&["policy.networking.k8s.io/v1alpha1", "policy.networking.k8s.io/v1alpha2"]),
        )
        .expect("discovery");
        assert_eq!(served.admin_policy_versions().len(), 2);
        let list = r#"{"groupVersion":"policy.networking.k8s.io/v1alpha1","resources":[{"name":"adminnetworkpolicies","kind":"AdminNetworkPolicy"},{"name":"adminnetworkpolicies/status","kind":"AdminNetworkPolicy"}]}"#;
        let found = admin_policy_resources(list);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].list_path("policy.networking.k8s.io/v1alpha1", Some("shop")),
            "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies"
        );
    }

    #[test]
    fn cilium_policies_are_listed_only_where_cilium_io_v2_is_served() {
        let cilium = |served: &Served| -> Vec<&str> {
            RESOURCES
                .iter()
                .filter(|r| r.group == CILIUM_GROUP && served.version_of(r).is_some())
                .map(|r| r.plural)
                .collect()
        };
        let without = Served::from_discovery(CORE, &groups(&["apps/v1"])).expect("discovery");
        assert!(cilium(&without).is_empty());
        let with = Served::from_discovery(CORE, &groups(&["apps/v1", "cilium.io/v2", "cilium.io/v2alpha1"]))
            .expect("discovery");
        assert_eq!(cilium(&with), ["ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"]);
        let clusterwide = RESOURCES.iter().find(|r| r.plural == "ciliumclusterwidenetworkpolicies").expect("ccnp");
        assert_eq!(
            clusterwide.list_path("cilium.io/v2", Some("shop")),
            "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies"
        );
        let namespaced = RESOURCES.iter().find(|r| r.plural == "ciliumnetworkpolicies").expect("cnp");
        assert_eq!(
            namespaced.list_path("cilium.io/v2", Some("shop")),
            "/apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies"
        );
    }

    #[test]
    fn namespaced_lists_follow_the_namespace() {
        let pods = RESOURCES.iter().find(|r| r.plural == "pods").expect("pods");
        assert_eq!(pods.list_path("v1", Some("shop")), "/api/v1/namespaces/shop/pods");
        let nodes = RESOURCES.iter().find(|r| r.plural == "nodes").expect("nodes");
        assert_eq!(nodes.list_path("v1", Some("shop")), "/api/v1/nodes");
    }

    #[test]
    fn discovery_without_core_v1_is_refused() {
        assert!(Served::from_discovery(r#"{"versions":[]}"#, &groups(&[])).is_err());
        assert!(Served::from_discovery("<html>", &groups(&[])).is_err());
    }
}
