//! One object's tree to what it adds to the inventory, and then adding it.
//!
//! Decoding an object reads nothing the inventory gathers, so it can run on whichever thread holds the tree; it
//! yields [`Effect`]s. [`apply`] puts them in place in input order, which keeps whatever depends on order (a
//! duplicate replacing the earlier definition, the input's budget of ConfigMap data, the last mesh setting
//! winning) exactly as when one thread does both.

use super::Inventory;
use crate::calico::{CalicoPolicyKind, ServiceAccount};
use crate::cilium::{CiliumConfig, CiliumPolicy, CiliumPolicyKind, CILIUM_CONFIG};
use crate::config::{ConfigMap, MAX_CONFIG_DATA_BYTES};
use crate::decode::mesh::config::MeshSetting;
use crate::decode::{self, Ctx};
use crate::diag::{Diagnostic, DiagnosticCode, ObjectRef, Severity};
use crate::intern::intern;
use crate::kube::*;
use crate::selector::NAMESPACE_NAME_LABEL;
use crate::unmodelled::UnmodelledPolicy;
use crate::yaml::{Node, Value};
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;

/// What decoding one object does to the inventory.
pub(crate) enum Effect {
    Diagnostic(Box<Diagnostic>),
    Diagnostics(Vec<Diagnostic>),
    DocumentRead,
    ObjectRead,
    /// A namespaced object that names no namespace went to `default`.
    NamespaceDefaulted,
    Unmodelled(Box<UnmodelledPolicy>),
    MeshSetting(Box<MeshSetting>),
    /// A ConfigMap's valid data, the warning to give if the input's budget drops some of it, and where to store it
    /// (`None` when the object is rejected: its data still counts against the budget).
    ConfigMap(Box<(ConfigMap, Diagnostic, Option<Slot>)>),
    Store(Box<(Slot, Loaded)>),
}

/// What makes an object the same object: kind, namespace (empty for a cluster-scoped kind) and name. Kinds and
/// namespaces repeat across a dump's objects, so they are shared copies.
pub(crate) type ObjectKey = (Arc<str>, Arc<str>, Box<str>);

/// Where an object goes: its identity (kind, namespace, name), which a later definition replaces.
pub(crate) struct Slot {
    key: ObjectKey,
    cluster_scoped: bool,
    location: Location,
}

/// Decodes the objects of one file into [`Effect`]s.
pub(crate) struct Decoder<'a> {
    file: &'a Arc<str>,
    /// Where objects that name no namespace go (`-n`); `default` when `None`.
    default_namespace: Option<&'a str>,
    pub(crate) effects: Vec<Effect>,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(file: &'a Arc<str>, default_namespace: Option<&'a str>) -> Self {
        Decoder { file, default_namespace, effects: Vec::new() }
    }

    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.effects.push(Effect::Diagnostic(Box::new(diagnostic)));
    }

    fn diagnostics(&mut self, diagnostics: Vec<Diagnostic>) {
        if !diagnostics.is_empty() {
            self.effects.push(Effect::Diagnostics(diagnostics));
        }
    }

    /// A Kustomize source (`kustomization.yaml`). One that only lists files beside it is a note: the files are read as
    /// they are, which is what it builds. One that transforms them or takes objects from elsewhere (`../base`, a URL)
    /// is an error: netseg would analyse something other than what is applied.
    fn kustomization(&mut self, node: &Node) {
        let dir = Path::new(self.file.as_ref()).parent().map_or_else(|| ".".to_string(), |d| d.display().to_string());
        let dir = if dir.is_empty() { ".".to_string() } else { dir };
        let mut reasons: Vec<String> =
            KUSTOMIZE_TRANSFORMS.iter().filter(|field| node.get(field).is_some()).map(|f| format!("`{f}`")).collect();
        if let Some(Value::Seq(resources)) = node.get("resources").map(|r| &r.value) {
            for resource in resources.iter().filter_map(Node::as_str) {
                if resource.starts_with("..") || resource.starts_with('/') || resource.contains("://") {
                    reasons.push(format!("resource `{resource}`"));
                }
            }
        }
        let render = format!("kustomize build {dir} | netseg COMMAND -");
        let (severity, code, message, hint) = if reasons.is_empty() {
            (
                Severity::Note,
                DiagnosticCode::SkippedDocument,
                "skipped: a Kustomize source that only lists files beside it, which netseg reads as they are"
                    .to_string(),
                None,
            )
        } else {
            (
                Severity::Error,
                DiagnosticCode::UnrenderedTemplate,
                format!(
                    "a Kustomize source: with {} the objects applied are not the files as they are",
                    reasons.join(", ")
                ),
                Some(format!("render it first: `{render}`")),
            )
        };
        self.diagnostic(Diagnostic {
            severity,
            code,
            file: self.file.clone(),
            line: Some(node.line),
            object: None,
            field: None,
            message,
            hint,
        });
    }

    /// An item of a list of kind `list_kind` (`PodList` implies its items are Pods).
    pub(crate) fn list_item(&mut self, item: &Node, list_kind: Option<&str>) {
        if matches!(item.value, Value::Map(_)) {
            let implied = list_kind.and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty());
            self.object(item, implied.map(|kind| (kind, "")));
        }
    }

    /// A document of a YAML stream, or a whole JSON text.
    pub(crate) fn document(&mut self, document: &Node) {
        self.effects.push(Effect::DocumentRead);
        match &document.value {
            Value::Null => {}
            Value::Map(_) => self.object(document, None),
            _ => self.note(document.line, "skipped: not a Kubernetes object (not a mapping)".into()),
        }
    }

    fn note(&mut self, line: u32, message: String) {
        self.diagnostic(Diagnostic {
            severity: Severity::Note,
            code: DiagnosticCode::SkippedDocument,
            file: self.file.clone(),
            line: Some(line),
            object: None,
            field: None,
            message,
            hint: None,
        });
    }

    fn unmodelled(&mut self, node: &Node, kind: &str, engine: &'static str) {
        let metadata = node.get("metadata");
        let name = metadata.and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
        let cluster_scoped =
            ["Global", "StagedGlobal", "Cluster", "CiliumClusterwide"].iter().any(|prefix| kind.starts_with(prefix));
        let namespace = (!cluster_scoped).then(|| {
            let given = metadata.and_then(|m| m.get("namespace")).and_then(Node::as_str);
            given.unwrap_or(self.default_namespace.unwrap_or("default")).to_string()
        });
        // Staged policies are never enforced: they restrict nothing a finding could leave out.
        if !kind.starts_with("Staged") {
            let api_version = node.get("apiVersion").and_then(Node::as_str).unwrap_or_default();
            self.effects.push(Effect::Unmodelled(Box::new(crate::unmodelled::UnmodelledPolicy {
                kind: kind.to_string(),
                namespace: namespace.clone(),
                name: name.to_string(),
                engine,
                location: Location { file: self.file.clone(), line: node.line },
                selection: crate::unmodelled::selection(kind, api_version, node.get("spec")),
            })));
        }
        self.diagnostic(Diagnostic {
            severity: Severity::Warning,
            code: DiagnosticCode::UnmodelledPolicy,
            file: self.file.clone(),
            line: Some(node.line),
            object: Some(ObjectRef { kind: kind.to_string(), namespace, name: name.into() }),
            field: None,
            message: format!(
                "not analysed: netseg does not model this kind yet, so the answers ignore what {engine} enforces \
                 with it and may show more connectivity than the cluster allows"
            ),
            hint: None,
        });
    }

    /// `implied` is the kind and apiVersion that the object's list gives it, for objects that name neither.
    /// A policy kind netseg reads, in an API version it does not: the policy still restricts traffic that the answers
    /// leave out, which is worth a warning, not a quiet note. `served` says which versions are read ("of `v1`").
    fn unread_version(&mut self, node: &Node, kind: &str, served: &str, api_version: &str) {
        let name = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
        self.diagnostic(Diagnostic {
            severity: Severity::Warning,
            code: DiagnosticCode::SkippedDocument,
            file: self.file.clone(),
            line: Some(node.line),
            object: Some(ObjectRef { kind: kind.to_string(), namespace: None, name: name.to_string() }),
            field: Some("apiVersion".into()),
            message: format!(
                "not analysed: netseg reads {kind} {served}, not `{api_version}`; the answers ignore what it restricts"
            ),
            hint: None,
        });
    }

    /// An object, with the kind and API version its list implies when it names none (an API list's items).
    pub(crate) fn object(&mut self, node: &Node, implied: Option<(&str, &str)>) {
        let kind = match node.get("kind").map(|k| &k.value) {
            Some(Value::Str(kind)) => kind.as_str(),
            _ => match implied {
                Some((kind, _)) => kind,
                None if is_kustomization_file(self.file) => {
                    self.kustomization(node);
                    return;
                }
                None => {
                    self.note(node.line, "skipped: a document with no `kind` is not a Kubernetes object".into());
                    return;
                }
            },
        };
        if kind == "List" || (kind.ends_with("List") && node.get("items").is_some()) {
            match node.get("items").map(|i| &i.value) {
                Some(Value::Seq(items)) => {
                    for item in items {
                        self.list_item(item, Some(kind));
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => self.note(node.line, format!("skipped: `{kind}` whose items is not a list")),
            }
            return;
        }
        let api_version =
            node.get("apiVersion").and_then(Node::as_str).or(implied.map(|(_, api_version)| api_version)).unwrap_or("");
        if api_version.starts_with("kustomize.config.k8s.io/")
            || (matches!(kind, "Kustomization" | "Component") && is_kustomization_file(self.file))
        {
            // Kustomize's own file, not a cluster object.
            self.kustomization(node);
            return;
        }
        self.effects.push(Effect::ObjectRead);
        if let Some(engine) = unmodelled_policy(kind, api_version) {
            self.unmodelled(node, kind, engine);
            return;
        }
        let calico = calico_kind(kind, api_version);
        let workload_kind = WorkloadKind::from_kind(kind).filter(|_| calico.is_none());
        let admin_kind = admin_policy_kind(kind);
        let mesh_kind = match decode::mesh::MeshKind::of(kind, api_version) {
            Some(Ok(mesh_kind)) => Some(mesh_kind),
            Some(Err(served)) => {
                // A mesh policy of a version netseg does not read still restricts traffic: a warning, not a note.
                let served = format!("of versions {served}");
                self.unread_version(node, kind, &served, api_version);
                return;
            }
            None => None,
        };
        let config_map_name = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("");
        let mesh_config = kind == "ConfigMap" && decode::mesh::config::is_mesh_config(config_map_name);
        let cilium_kind = CiliumPolicyKind::from_kind(kind).filter(|_| api_version.starts_with("cilium.io/"));
        let cilium_config = kind == "ConfigMap"
            && node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str) == Some(CILIUM_CONFIG);
        let read = matches!(
            kind,
            "Namespace"
                | "Node"
                | "Service"
                | "NetworkPolicy"
                | "Endpoints"
                | "EndpointSlice"
                | "Ingress"
                | "ServiceAccount"
                | "ConfigMap"
                | "Secret"
        ) || workload_kind.is_some()
            || admin_kind.is_some()
            || cilium_kind.is_some()
            || cilium_config
            || calico.is_some()
            || mesh_kind.is_some()
            || mesh_config;
        if !read {
            self.note(node.line, format!("skipped: kind `{kind}` is not read by netseg"));
            return;
        }
        if kind == "NetworkPolicy" && calico.is_none() && api_version != "networking.k8s.io/v1" {
            self.note(node.line,
                format!("skipped: NetworkPolicy of apiVersion `{api_version}`; only networking.k8s.io/v1 is served by Kubernetes"),
            );
            return;
        }
        if let Some(admin_kind) = admin_kind {
            let served = admin_api_version(admin_kind);
            if api_version != served {
                // Other projects (Antrea, for one) have kinds of the same name in their own API groups, and
                // network-policy-api has versions netseg does not read: either way the policy restricts traffic that
                // the answers leave out, which is worth a warning, not a quiet note.
                self.unread_version(node, kind, &format!("of `{served}`"), api_version);
                return;
            }
        }
        if cilium_kind.is_some() && api_version != CILIUM_API_VERSION {
            // Cilium serves its policies in v2 only; another version is not an object any cluster holds.
            self.unread_version(node, kind, &format!("of `{CILIUM_API_VERSION}`"), api_version);
            return;
        }
        let clusterwide = cilium_kind == Some(CiliumPolicyKind::CiliumClusterwideNetworkPolicy);
        let cluster_scoped = matches!(kind, "Namespace" | "Node")
            || admin_kind.is_some()
            || clusterwide
            || calico.is_some_and(CalicoKind::cluster_scoped);
        let name_guess = node.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?");
        let default_namespace = self.default_namespace.unwrap_or("default");
        let namespace_guess =
            node.get("metadata").and_then(|m| m.get("namespace")).and_then(Node::as_str).unwrap_or(default_namespace);
        let object_kind = if calico.is_some() { calico_kind_name(kind) } else { kind.to_string() };
        let object_ref = ObjectRef {
            kind: object_kind.clone(),
            namespace: (!cluster_scoped).then(|| namespace_guess.to_string()),
            name: name_guess.to_string(),
        };
        let mut ctx = Ctx::new(self.file, Some(object_ref.clone()));
        let location = Location { file: self.file.clone(), line: node.line };
        let Some(meta) = decode::metadata(&mut ctx, node) else {
            self.diagnostics(std::mem::take(&mut ctx.diagnostics));
            return;
        };
        if meta.namespace.is_none() && !cluster_scoped && self.default_namespace.is_none() {
            self.effects.push(Effect::NamespaceDefaulted);
        }
        let namespace = meta.namespace.clone().unwrap_or_else(|| default_namespace.to_string());
        let name = meta.name.clone();
        let key = (intern(&object_kind), intern(if cluster_scoped { "" } else { &namespace }), name.as_str().into());
        let loaded = match kind {
            _ if calico.is_some() => {
                let Some(calico) = calico else { return };
                let namespaced = (!cluster_scoped).then(|| namespace.clone());
                match calico {
                    CalicoKind::Tier => Loaded::CalicoTier(decode::calico_tier(&mut ctx, node, name, location.clone())),
                    CalicoKind::Policy(policy_kind) => Loaded::CalicoPolicy(decode::calico_policy(
                        &mut ctx,
                        node,
                        policy_kind,
                        namespaced,
                        name,
                        meta.ignore,
                        location.clone(),
                    )),
                    CalicoKind::StagedKubernetesNetworkPolicy => {
                        Loaded::StagedKubernetes(decode::staged_kubernetes_policy(
                            &mut ctx,
                            node,
                            namespace,
                            name,
                            meta.ignore,
                            location.clone(),
                        ))
                    }
                    CalicoKind::NetworkSet | CalicoKind::GlobalNetworkSet => Loaded::NetworkSet(decode::network_set(
                        &mut ctx,
                        node,
                        namespaced,
                        name,
                        meta.labels,
                        location.clone(),
                    )),
                    CalicoKind::HostEndpoint => {
                        Loaded::HostEndpoint(decode::host_endpoint(&mut ctx, node, name, meta.labels, location.clone()))
                    }
                }
            }
            "ServiceAccount" => Loaded::ServiceAccount(ServiceAccount {
                namespace,
                name,
                labels: meta.labels,
                location: location.clone(),
            }),
            "Namespace" => {
                let mut labels = meta.labels;
                labels.insert(NAMESPACE_NAME_LABEL, name.as_str());
                Loaded::Namespace(Namespace {
                    name,
                    labels,
                    annotations: meta.annotations,
                    ignore: meta.ignore,
                    location: Some(location.clone()),
                })
            }
            "Node" => Loaded::Node(decode::cluster_node(&mut ctx, node, name, meta.labels, location.clone())),
            "Service" => {
                Loaded::Service(decode::service(&mut ctx, node, namespace, name, meta.ignore, location.clone()))
            }
            "NetworkPolicy" => {
                Loaded::Policy(decode::network_policy(&mut ctx, node, namespace, name, meta.ignore, location.clone()))
            }
            "Endpoints" | "EndpointSlice" => {
                Loaded::Endpoints(decode::service_endpoints(&mut ctx, node, kind, &meta, namespace, location.clone()))
            }
            "Ingress" => Loaded::Ingress(decode::ingress(&mut ctx, node, namespace, name, location.clone())),
            _ if cilium_config => {
                Loaded::CiliumConfig(decode::cilium_config(&mut ctx, node, namespace, location.clone()))
            }
            _ if cilium_kind.is_some() => {
                let Some(cilium_kind) = cilium_kind else { return };
                let namespace = (!clusterwide).then_some(namespace);
                Loaded::Cilium(decode::cilium_policy(
                    &mut ctx,
                    node,
                    cilium_kind,
                    namespace,
                    name,
                    meta.ignore,
                    location.clone(),
                ))
            }
            "ConfigMap" => {
                if let Some(setting) = decode::mesh::config::config_map(&mut ctx, node, &name, &location) {
                    self.effects.push(Effect::MeshSetting(Box::new(setting)));
                }
                Loaded::ConfigMap(decode::config_map(&mut ctx, node, namespace, name, location.clone()))
            }
            "Secret" => Loaded::Secret(decode::secret(&mut ctx, node, namespace, name, location.clone())),
            _ if mesh_kind.is_some() => {
                let Some(mesh_kind) = mesh_kind else { return };
                let created = node
                    .get("metadata")
                    .and_then(|m| m.get("creationTimestamp"))
                    .and_then(Node::as_str)
                    .map(str::to_string);
                let object = decode::mesh::Object {
                    namespace,
                    name,
                    labels: &meta.labels,
                    created,
                    ignore: meta.ignore.clone(),
                    location: location.clone(),
                };
                match decode::mesh::decode(&mut ctx, mesh_kind, node, object) {
                    Some(object) => Loaded::Mesh(object),
                    None => {
                        self.diagnostics(std::mem::take(&mut ctx.diagnostics));
                        self.note(node.line, format!("skipped: {kind} `{name_guess}` attaches to no Linkerd Server"));
                        return;
                    }
                }
            }
            _ if admin_kind.is_some() => {
                let Some(admin_kind) = admin_kind else { return };
                Loaded::Admin(decode::admin_policy(&mut ctx, node, admin_kind, name, meta.ignore, location.clone()))
            }
            _ => {
                let Some(workload_kind) = workload_kind else { return };
                let pod = decode::pod_facts(&mut ctx, node, workload_kind, meta.labels, meta.annotations);
                let selector = decode::workload_selector(&mut ctx, node, workload_kind);
                Loaded::Workload(WorkloadObject {
                    id: WorkloadRef { namespace, name, kind: workload_kind },
                    owner: meta.owner,
                    selector,
                    pod: Box::new(pod),
                    ignore: meta.ignore,
                    location: location.clone(),
                })
            }
        };
        let rejected = ctx.rejected;
        self.diagnostics(std::mem::take(&mut ctx.diagnostics));
        let slot = Slot { key, cluster_scoped, location };
        match loaded {
            Loaded::ConfigMap(config_map) => {
                // Its data counts against the input's budget even when the object is rejected, as on one thread.
                let data_line = node.get("data").map_or(node.line, |d| d.line);
                let dropped_warning = Diagnostic {
                    severity: Severity::Warning,
                    code: DiagnosticCode::InvalidValue,
                    file: self.file.clone(),
                    line: Some(data_line),
                    object: Some(object_ref),
                    field: Some("data".into()),
                    message: String::new(),
                    hint: None,
                };
                let slot = (!rejected).then_some(slot);
                self.effects.push(Effect::ConfigMap(Box::new((config_map, dropped_warning, slot))));
            }
            loaded if !rejected => self.effects.push(Effect::Store(Box::new((slot, loaded)))),
            _ => {}
        }
    }
}

/// Kustomize's fields that change, add or take objects from elsewhere: what netseg would miss by reading the
/// listed files as they are.
const KUSTOMIZE_TRANSFORMS: &[&str] = &[
    "namespace",
    "namePrefix",
    "nameSuffix",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "helmCharts",
    "configMapGenerator",
    "secretGenerator",
    "generators",
    "transformers",
    "replacements",
    "vars",
    "bases",
    "components",
];

fn is_kustomization_file(file: &str) -> bool {
    Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "kustomization.yaml" | "kustomization.yml" | "Kustomization"))
}

/// Policy kinds that restrict traffic but that netseg does not analyse yet, by API group, with who enforces them.
const UNMODELLED_POLICIES: &[(&str, &[&str], &str)] = &[
    ("crd.antrea.io/", &["NetworkPolicy", "ClusterNetworkPolicy"], "Antrea"),
    ("k8s.cni.cncf.io/", &["MultiNetworkPolicy"], "a multi-network plugin"),
];

/// Who enforces the policy, when it is of a kind netseg does not analyse.
fn unmodelled_policy(kind: &str, api_version: &str) -> Option<&'static str> {
    UNMODELLED_POLICIES
        .iter()
        .find(|(group, kinds, _)| api_version.starts_with(group) && kinds.contains(&kind))
        .map(|(_, _, engine)| *engine)
}

/// The one version Cilium serves its policies in.
const CILIUM_API_VERSION: &str = "cilium.io/v2";

/// The API versions Calico serves its objects at: the aggregated API server, and the CRDs it stores them in.
const CALICO_API_VERSIONS: &[&str] = &["projectcalico.org/v3", "crd.projectcalico.org/v1"];

/// A Calico kind netseg reads, when `api_version` is Calico's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CalicoKind {
    Tier,
    Policy(CalicoPolicyKind),
    StagedKubernetesNetworkPolicy,
    NetworkSet,
    GlobalNetworkSet,
    HostEndpoint,
}

fn calico_kind(kind: &str, api_version: &str) -> Option<CalicoKind> {
    if !CALICO_API_VERSIONS.contains(&api_version) {
        return None;
    }
    Some(match kind {
        "Tier" => CalicoKind::Tier,
        "NetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::NetworkPolicy),
        "GlobalNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::GlobalNetworkPolicy),
        "StagedNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::StagedNetworkPolicy),
        "StagedGlobalNetworkPolicy" => CalicoKind::Policy(CalicoPolicyKind::StagedGlobalNetworkPolicy),
        "StagedKubernetesNetworkPolicy" => CalicoKind::StagedKubernetesNetworkPolicy,
        "NetworkSet" => CalicoKind::NetworkSet,
        "GlobalNetworkSet" => CalicoKind::GlobalNetworkSet,
        "HostEndpoint" => CalicoKind::HostEndpoint,
        _ => return None,
    })
}

impl CalicoKind {
    fn cluster_scoped(self) -> bool {
        match self {
            CalicoKind::Tier | CalicoKind::GlobalNetworkSet | CalicoKind::HostEndpoint => true,
            CalicoKind::Policy(kind) => kind.is_global(),
            CalicoKind::StagedKubernetesNetworkPolicy | CalicoKind::NetworkSet => false,
        }
    }
}

/// The kind as diagnostics and findings name it: Calico's NetworkPolicy is told apart from Kubernetes' by its group.
pub fn calico_kind_name(kind: &str) -> String {
    if kind == "NetworkPolicy" {
        "projectcalico.org/NetworkPolicy".to_string()
    } else {
        kind.to_string()
    }
}

fn admin_policy_kind(kind: &str) -> Option<AdminPolicyKind> {
    match kind {
        "AdminNetworkPolicy" => Some(AdminPolicyKind::AdminNetworkPolicy),
        "BaselineAdminNetworkPolicy" => Some(AdminPolicyKind::BaselineAdminNetworkPolicy),
        "ClusterNetworkPolicy" => Some(AdminPolicyKind::ClusterNetworkPolicy),
        _ => None,
    }
}

fn admin_api_version(kind: AdminPolicyKind) -> &'static str {
    match kind {
        AdminPolicyKind::AdminNetworkPolicy | AdminPolicyKind::BaselineAdminNetworkPolicy => {
            "policy.networking.k8s.io/v1alpha1"
        }
        AdminPolicyKind::ClusterNetworkPolicy => "policy.networking.k8s.io/v1alpha2",
    }
}

/// A decoded object, by the list of the inventory it goes to.
pub(crate) enum Loaded {
    Mesh(decode::mesh::MeshObject),
    Namespace(Namespace),
    Node(ClusterNode),
    Workload(WorkloadObject),
    Service(Service),
    Policy(NetworkPolicy),
    Admin(AdminPolicy),
    Cilium(CiliumPolicy),
    CiliumConfig(CiliumConfig),
    ConfigMap(crate::config::ConfigMap),
    Secret(crate::config::SecretKeys),
    Endpoints(ServiceEndpoints),
    Ingress(Ingress),
    ServiceAccount(ServiceAccount),
    CalicoTier(crate::calico::CalicoTier),
    CalicoPolicy(crate::calico::CalicoPolicy),
    StagedKubernetes(crate::calico::StagedKubernetesPolicy),
    NetworkSet(crate::calico::NetworkSet),
    HostEndpoint(crate::calico::HostEndpoint),
}

/// Puts decoded objects in place, in the order they were read.
pub(crate) fn apply(inventory: &mut Inventory, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Diagnostic(diagnostic) => inventory.diagnostics.push(*diagnostic),
            Effect::Diagnostics(mut diagnostics) => inventory.diagnostics.append(&mut diagnostics),
            Effect::DocumentRead => inventory.documents_read += 1,
            Effect::ObjectRead => inventory.objects_read += 1,
            Effect::NamespaceDefaulted => inventory.namespace_defaulted += 1,
            Effect::Unmodelled(policy) => {
                // A later definition replaces an earlier one, as `kubectl apply` would.
                inventory
                    .unmodelled
                    .retain(|p| !(p.kind == policy.kind && p.name == policy.name && p.namespace == policy.namespace));
                inventory.unmodelled.push(*policy);
            }
            Effect::MeshSetting(setting) => setting.put_into(&mut inventory.mesh),
            Effect::ConfigMap(config_map) => {
                let (mut config_map, mut dropped_warning, slot) = *config_map;
                let mut budget = MAX_CONFIG_DATA_BYTES.saturating_sub(inventory.config_bytes);
                let before = budget;
                if let Some(message) = decode::keep_within_budget(&mut config_map, &mut budget) {
                    dropped_warning.message = message;
                    inventory.diagnostics.push(dropped_warning);
                }
                inventory.config_bytes += before - budget;
                if let Some(slot) = slot {
                    store(inventory, slot, Loaded::ConfigMap(config_map));
                }
            }
            Effect::Store(stored) => {
                let (slot, loaded) = *stored;
                store(inventory, slot, loaded);
            }
        }
    }
}

/// Stores an object; one of the same kind, namespace and name read earlier is replaced, with a warning.
fn store(inventory: &mut Inventory, slot: Slot, loaded: Loaded) {
    let Slot { key, cluster_scoped, location } = slot;
    // One lookup of the key: a dump holds hundreds of thousands of objects.
    let place = match inventory.seen.entry(key) {
        Entry::Occupied(earlier) => {
            let (key, (index, first_at)) = (earlier.key(), earlier.get());
            inventory.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                code: DiagnosticCode::DuplicateObject,
                file: location.file.clone(),
                line: Some(location.line),
                object: Some(ObjectRef {
                    kind: key.0.to_string(),
                    namespace: (!cluster_scoped).then(|| key.1.to_string()),
                    name: key.2.to_string(),
                }),
                field: None,
                message: format!(
                    "defined again (first at {first_at}); the later definition is used, as `kubectl apply` would"
                ),
                hint: None,
            });
            Err(*index)
        }
        Entry::Vacant(vacant) => Ok(vacant),
    };
    macro_rules! store {
        ($list:expr, $value:expr) => {{
            match place {
                Err(index) => $list[index] = $value,
                Ok(vacant) => {
                    vacant.insert(($list.len(), location));
                    $list.push($value);
                }
            }
        }};
    }
    match loaded {
        Loaded::Namespace(v) => store!(inventory.namespaces, v),
        Loaded::Node(v) => store!(inventory.nodes, v),
        Loaded::Workload(v) => store!(inventory.workloads, v),
        Loaded::Service(v) => store!(inventory.services, v),
        Loaded::Policy(v) => store!(inventory.policies, v),
        Loaded::Admin(v) => store!(inventory.admin_policies, v),
        Loaded::Cilium(v) => store!(inventory.cilium_policies, v),
        Loaded::CiliumConfig(v) => inventory.cilium_config = Some(v),
        Loaded::ConfigMap(v) => store!(inventory.config_maps, v),
        Loaded::Secret(v) => store!(inventory.secrets, v),
        Loaded::Endpoints(v) => store!(inventory.endpoints, v),
        Loaded::Ingress(v) => store!(inventory.ingresses, v),
        Loaded::ServiceAccount(v) => store!(inventory.service_accounts, v),
        Loaded::CalicoTier(v) => store!(inventory.calico.tiers, v),
        Loaded::CalicoPolicy(v) => store!(inventory.calico.policies, v),
        Loaded::StagedKubernetes(v) => store!(inventory.calico.staged_kubernetes, v),
        Loaded::NetworkSet(v) => store!(inventory.calico.network_sets, v),
        Loaded::HostEndpoint(v) => store!(inventory.calico.host_endpoints, v),
        Loaded::Mesh(object) => {
            use decode::mesh::MeshObject;
            match object {
                MeshObject::IstioAuthorization(v) => store!(inventory.mesh.istio.authorization_policies, v),
                MeshObject::IstioPeerAuthentication(v) => store!(inventory.mesh.istio.peer_authentications, v),
                MeshObject::LinkerdServer(v) => store!(inventory.mesh.linkerd.servers, v),
                MeshObject::LinkerdServerAuthorization(v) => store!(inventory.mesh.linkerd.server_authorizations, v),
                MeshObject::LinkerdAuthorization(v) => store!(inventory.mesh.linkerd.authorization_policies, v),
                MeshObject::LinkerdMeshTls(v) => store!(inventory.mesh.linkerd.mesh_tls_authentications, v),
                MeshObject::LinkerdNetwork(v) => store!(inventory.mesh.linkerd.network_authentications, v),
                MeshObject::LinkerdRoute(v) => store!(inventory.mesh.linkerd.http_routes, v),
                MeshObject::ConsulIntentions(v) => store!(inventory.mesh.consul.intentions, v),
                MeshObject::ConsulServiceDefaults(v) => store!(inventory.mesh.consul.service_defaults, v),
                MeshObject::ConsulProxyDefaults(v) => {
                    // There is one, `global`: a later one replaces it.
                    if let Ok(vacant) = place {
                        vacant.insert((0, location));
                    }
                    inventory.mesh.consul.proxy_defaults = Some(v);
                }
            }
        }
    }
}
