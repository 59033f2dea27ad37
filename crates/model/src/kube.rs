//! The narrow structs the analysis needs, one per kind read. Nothing else of the input is kept.

use crate::cidr::Cidr;
use crate::selector::{LabelSelector, Labels};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Where an object came from, for diagnostics and SARIF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Parses the exact, case-sensitive names the API server accepts.
    pub fn from_api(text: &str) -> Option<Protocol> {
        match text {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Parses a user's spelling on the command line (`tcp`, `TCP`).
    pub fn from_user(text: &str) -> Option<Protocol> {
        Self::from_api(&text.to_ascii_uppercase())
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Findings the object's owner chose to silence, from the `netseg.io/ignore` annotation (rule IDs or names,
/// comma-separated, or `all`) and the optional `netseg.io/ignore-reason`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppression {
    pub rules: Vec<String>,
    pub reason: Option<String>,
}

impl Suppression {
    pub const ANNOTATION: &'static str = "netseg.io/ignore";
    pub const REASON_ANNOTATION: &'static str = "netseg.io/ignore-reason";

    pub fn covers(&self, code: &str, name: &str) -> bool {
        self.rules.iter().any(|r| r == "all" || r.eq_ignore_ascii_case(code) || r == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub ignore: Suppression,
    /// Labels as stored, including `kubernetes.io/metadata.name`.
    pub labels: Labels,
    /// The annotations the meshes read (`linkerd.io/inject`, `config.linkerd.io/default-inbound-policy`, ...);
    /// no others are kept.
    pub annotations: Labels,
    /// `None` for a namespace that objects refer to but the input does not define.
    pub location: Option<Location>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    /// `nodes` peers of admin policies select nodes by these.
    pub labels: Labels,
    pub addresses: Vec<IpAddr>,
    pub pod_cidrs: Vec<Cidr>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    pub host_port: Option<u16>,
}

/// What a pod (or a workload's pod template) contributes to the analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodFacts {
    pub labels: Labels,
    /// The annotations the meshes read (injection, excluded ports, default policies); no others are kept.
    pub annotations: Labels,
    pub host_network: bool,
    pub ports: Vec<ContainerPort>,
    /// `status.podIPs` (or `status.podIP`); empty for templates and for pods not yet scheduled.
    pub ips: Vec<IpAddr>,
    /// Container and init-container images, for recognising CNI agents.
    pub images: Vec<Arc<str>>,
    /// `spec.nodeName`, where a host-network pod runs (admin `nodes` peers match it there).
    pub node_name: Option<String>,
    /// Literal strings of container `env[].value`, `args` and `command`, where an application names the
    /// Services it talks to (`WP_REDIS_HOST: redis`). Values from ConfigMaps are in `config_refs`.
    pub references: Vec<TextReference>,
    /// The ConfigMaps and Secrets the containers read (env, envFrom, mounted volumes).
    pub config_refs: Vec<crate::config::ConfigRef>,
    /// `serviceAccountName` (or the deprecated `serviceAccount`); `None` means the namespace's `default`.
    pub service_account: Option<String>,
    /// `automountServiceAccountToken` as written.
    pub automount_token: Option<bool>,
}

impl PodFacts {
    /// Runs as a ServiceAccount of its own with the token mounted: the mark of a client of the API server.
    pub fn api_client(&self) -> Option<&str> {
        let account = self.service_account.as_deref().filter(|a| *a != "default")?;
        (self.automount_token != Some(false)).then_some(account)
    }
}

/// One literal string of a container spec, with where it was written.
///
/// Every replica of a workload repeats its template's strings, so they are shared copies (see `intern`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextReference {
    pub container: Arc<str>,
    /// `env WP_REDIS_HOST`, `args[1]`, `command[0]`.
    pub source: Arc<str>,
    pub text: Arc<str>,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    Pod,
}

impl WorkloadKind {
    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        Some(match kind {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "ReplicationController" => WorkloadKind::ReplicationController,
            "Job" => WorkloadKind::Job,
            "CronJob" => WorkloadKind::CronJob,
            "Pod" => WorkloadKind::Pod,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }
}

/// `namespace/name[Kind]`, the name users give and see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadRef {
    pub namespace: String,
    pub name: String,
    pub kind: WorkloadKind,
}

impl std::fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}[{}]", self.namespace, self.name, self.kind.as_str())
    }
}

/// The controller that owns an object (`ownerReferences` with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A workload as read from one manifest: a controller with its pod template, or a bare pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadObject {
    pub id: WorkloadRef,
    pub owner: Option<Owner>,
    /// The controller's `spec.selector` (`None` for a bare Pod, and for Jobs and CronJobs, whose selectors the
    /// API server generates).
    pub selector: Option<LabelSelector>,
    /// The template for controllers; the pod itself for a Pod.
    /// Boxed: a dump holds a hundred thousand workloads, and the list that holds them grows by doubling.
    pub pod: Box<PodFacts>,
    pub ignore: Suppression,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    /// A number, or a container port name (`None` means the same as `port`).
    pub target_port: Option<PortRef>,
    pub node_port: Option<u16>,
    /// `appProtocol` (`http`, `kubernetes.io/h2c`, ...): how meshes read the traffic, before the port's name.
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub service_type: String,
    /// `None` for a Service without a selector (its endpoints are managed by hand).
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    pub cluster_ips: Vec<IpAddr>,
    /// `clusterIP: None`: the Service's name resolves to its pods' IPs, so clients use container ports directly.
    pub headless: bool,
    pub ignore: Suppression,
    pub location: Location,
}

impl Service {
    /// Whether the Service routes to a pod with these labels (a Service without a selector routes to none).
    pub fn selects(&self, labels: &Labels) -> bool {
        self.selector.as_ref().is_some_and(|selector| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

impl ServicePort {
    /// The container port that traffic to this Service port reaches on a pod: `targetPort` as a number, or the
    /// pod's container port of that name and protocol; `None` when the pod declares no such port.
    pub fn target_on(&self, pod: &PodFacts) -> Option<u16> {
        match &self.target_port {
            None => Some(self.port),
            Some(PortRef::Number(n)) => Some(*n),
            Some(PortRef::Name(name)) => pod
                .ports
                .iter()
                .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == self.protocol)
                .map(|c| c.port),
        }
    }
}

/// The addresses behind a Service, from Endpoints or EndpointSlices: where `default/kubernetes` tells the API
/// server's real address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpoints {
    pub namespace: String,
    pub service: String,
    pub addresses: Vec<IpAddr>,
    pub ports: Vec<(Protocol, u16)>,
    pub location: Location,
}

/// An Ingress: which Services it exposes to traffic from outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    pub namespace: String,
    pub name: String,
    pub backend_services: Vec<String>,
    /// Every backend as written: the Service and its port (`None` when the backend names no port).
    pub backends: Vec<IngressBackend>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IngressBackend {
    pub service: String,
    /// `port.number` or `port.name` of the Service.
    pub port: Option<PortRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(name) => f.write_str(name),
        }
    }
}

/// One entry of a rule's `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyPort {
    pub protocol: Protocol,
    /// `None`: every port of the protocol.
    pub port: Option<PortRef>,
    /// Inclusive; only with a numeric `port`.
    pub end_port: Option<u16>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpBlock {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl IpBlock {
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.cidr.contains(addr) && !self.except.iter().any(|e| e.contains(addr))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerSelector {
    /// Pods chosen by labels. `namespaces: None` means the policy's own namespace; `pods: None` means every pod.
    Pods {
        namespaces: Option<LabelSelector>,
        pods: Option<LabelSelector>,
    },
    IpBlock(IpBlock),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub selector: PeerSelector,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRule {
    /// `from`/`to`. Empty means every peer, whether the field was missing or an empty list.
    pub peers: Vec<Peer>,
    /// Empty means every port of every protocol.
    pub ports: Vec<PolicyPort>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    /// `policyTypes` as written, `None` when the field is absent.
    pub declared_policy_types: Option<Vec<Direction>>,
    pub ingress: Vec<PolicyRule>,
    pub egress: Vec<PolicyRule>,
    pub ignore: Suppression,
    pub location: Location,
}

impl NetworkPolicy {
    /// Whether the policy isolates its pods in `direction`, after `policyTypes` defaulting: Ingress always,
    /// Egress when there are egress rules.
    pub fn applies_to(&self, direction: Direction) -> bool {
        match &self.declared_policy_types {
            Some(types) => types.contains(&direction),
            None => match direction {
                Direction::Ingress => true,
                Direction::Egress => !self.egress.is_empty(),
            },
        }
    }

    /// The rules that take effect in `direction`: rules for a direction that `policyTypes` leaves out are ignored.
    pub fn rules(&self, direction: Direction) -> &[PolicyRule] {
        if !self.applies_to(direction) {
            return &[];
        }
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// Which API a cluster-scoped policy came from. v1alpha1's two kinds and v1alpha2's ClusterNetworkPolicy share
/// one model, so that one engine path serves them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AdminPolicyKind {
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy,
}

impl AdminPolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminPolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
            AdminPolicyKind::BaselineAdminNetworkPolicy => "BaselineAdminNetworkPolicy",
            AdminPolicyKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        }
    }
}

/// The tier a cluster-scoped policy sits in: Admin before NetworkPolicy, Baseline after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Tier {
    Admin,
    Baseline,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Admin => "admin",
            Tier::Baseline => "baseline",
        }
    }
}

/// What a rule of a cluster-scoped policy does with the traffic it matches. v1alpha2's `Accept` is `Allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AdminAction {
    Allow,
    Deny,
    /// Skip the rest of the tier: the next tier decides.
    Pass,
}

/// Pods chosen by namespace labels alone, or by namespace and pod labels (`pods`). Never host-network pods.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdminPods {
    Namespaces(LabelSelector),
    Pods { namespaces: LabelSelector, pods: LabelSelector },
}

/// One peer of a cluster-scoped rule: exactly one kind of selection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdminPeerSelector {
    Pods(AdminPods),
    /// Egress only: the nodes' addresses and the host-network pods on those nodes.
    Nodes(LabelSelector),
    /// Egress only: addresses, including pod IPs.
    Networks(Vec<Cidr>),
    /// Egress only (v1alpha2, Accept rules only): names netseg cannot resolve.
    DomainNames(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminPeer {
    pub selector: AdminPeerSelector,
    pub line: u32,
}

/// One port entry of a cluster-scoped rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdminPort {
    /// `portNumber`, or v1alpha2 `destinationPort.number`.
    Number { protocol: Protocol, port: u16 },
    /// `portRange`, or v1alpha2 `destinationPort.range`; inclusive.
    Range { protocol: Protocol, start: u16, end: u16 },
    /// `namedPort` / `destinationNamedPort`: a container port name on the destination, with that port's protocol.
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminPolicyPort {
    pub port: AdminPort,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminRule {
    pub name: Option<String>,
    pub action: AdminAction,
    /// `from`/`to`: never empty (the API server requires at least one peer).
    pub peers: Vec<AdminPeer>,
    /// `None`: every port of every protocol (the field is absent).
    pub ports: Option<Vec<AdminPolicyPort>>,
    pub line: u32,
}

/// AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPolicy {
    pub kind: AdminPolicyKind,
    pub tier: Tier,
    pub name: String,
    /// 0-1000, lower first. A BaselineAdminNetworkPolicy has none and reads as 0.
    pub priority: u32,
    pub subject: AdminPods,
    pub ingress: Vec<AdminRule>,
    pub egress: Vec<AdminRule>,
    pub ignore: Suppression,
    pub location: Location,
}

impl AdminPolicy {
    /// The one name v1alpha1 accepts for a BaselineAdminNetworkPolicy.
    pub const BASELINE_NAME: &'static str = "default";

    pub fn rules(&self, direction: Direction) -> &[AdminRule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Whether the policy takes part in the analysis. A v1alpha1 BaselineAdminNetworkPolicy not named `default`
    /// is refused by the CRD's validation, so it never exists in a cluster; netseg keeps it only so the audit can
    /// say so (NS152).
    pub fn in_effect(&self) -> bool {
        self.kind != AdminPolicyKind::BaselineAdminNetworkPolicy || self.name == Self::BASELINE_NAME
    }

    /// `AdminNetworkPolicy tenant-isolation`, as explanations name it.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.name)
    }
}
