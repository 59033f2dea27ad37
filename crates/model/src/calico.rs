//! Calico's own objects (`projectcalico.org/v3`, and `crd.projectcalico.org/v1` where the same objects are stored
//! as CRDs), as narrow structs: what the analysis needs of tiers, policies, network sets and host endpoints.

use crate::calico_selector::CalicoSelector;
use crate::cidr::Cidr;
use crate::kube::{Direction, Location, NetworkPolicy, Protocol, Suppression};
use crate::selector::Labels;
use std::net::IpAddr;

/// The tier every policy without `spec.tier` belongs to, and where Kubernetes NetworkPolicies sit.
pub const DEFAULT_TIER: &str = "default";
/// Where Calico (3.31 and later) puts AdminNetworkPolicies and Admin-tier ClusterNetworkPolicies.
pub const KUBE_ADMIN_TIER: &str = "kube-admin";
/// Where Calico (3.31 and later) puts the BaselineAdminNetworkPolicy and Baseline-tier ClusterNetworkPolicies.
pub const KUBE_BASELINE_TIER: &str = "kube-baseline";
/// The fixed orders of the three tiers Calico creates itself.
pub const KUBE_ADMIN_TIER_ORDER: f64 = 1_000.0;
pub const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;
pub const KUBE_BASELINE_TIER_ORDER: f64 = 10_000_000.0;
/// The order Calico gives every Kubernetes NetworkPolicy within the default tier, and the BaselineAdminNetworkPolicy
/// within kube-baseline.
pub const KUBERNETES_POLICY_ORDER: f64 = 1_000.0;

/// Labels Calico gives every workload endpoint, and the prefixes of the labels endpoints inherit from their
/// namespace and service account profiles.
pub const NAMESPACE_LABEL: &str = "projectcalico.org/namespace";
pub const ORCHESTRATOR_LABEL: &str = "projectcalico.org/orchestrator";
pub const SERVICE_ACCOUNT_LABEL: &str = "projectcalico.org/serviceaccount";
pub const NAME_LABEL: &str = "projectcalico.org/name";
pub const NAMESPACE_PREFIX: &str = "pcns.";
pub const SERVICE_ACCOUNT_PREFIX: &str = "pcsa.";

/// What a tier does with traffic that a policy of it selects but no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierDefault {
    Deny,
    Pass,
}

/// `Tier` (cluster-scoped).
#[derive(Debug, Clone, PartialEq)]
pub struct CalicoTier {
    pub name: String,
    /// `None`: applied after every tier with an order.
    pub order: Option<f64>,
    pub default_action: TierDefault,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CalicoPolicyKind {
    NetworkPolicy,
    GlobalNetworkPolicy,
    StagedNetworkPolicy,
    StagedGlobalNetworkPolicy,
}

impl CalicoPolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CalicoPolicyKind::NetworkPolicy => "NetworkPolicy",
            CalicoPolicyKind::GlobalNetworkPolicy => "GlobalNetworkPolicy",
            CalicoPolicyKind::StagedNetworkPolicy => "StagedNetworkPolicy",
            CalicoPolicyKind::StagedGlobalNetworkPolicy => "StagedGlobalNetworkPolicy",
        }
    }

    pub fn is_global(self) -> bool {
        matches!(self, CalicoPolicyKind::GlobalNetworkPolicy | CalicoPolicyKind::StagedGlobalNetworkPolicy)
    }

    pub fn is_staged(self) -> bool {
        matches!(self, CalicoPolicyKind::StagedNetworkPolicy | CalicoPolicyKind::StagedGlobalNetworkPolicy)
    }
}

/// `spec.stagedAction` of a staged policy: what applying it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StagedAction {
    Set,
    Delete,
    Learn,
    Ignore,
}

impl StagedAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StagedAction::Set => "Set",
            StagedAction::Delete => "Delete",
            StagedAction::Learn => "Learn",
            StagedAction::Ignore => "Ignore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalicoAction {
    Allow,
    Deny,
    /// Skip to the next tier that selects the endpoint.
    Pass,
    /// Log and go on with the next rule.
    Log,
}

impl CalicoAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CalicoAction::Allow => "Allow",
            CalicoAction::Deny => "Deny",
            CalicoAction::Pass => "Pass",
            CalicoAction::Log => "Log",
        }
    }
}

/// `protocol` / `notProtocol`: a name Calico knows or an IP protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalicoProtocol {
    /// TCP, UDP or SCTP (by name, or as 6, 17, 132): the protocols with ports that netseg answers about.
    Ported(Protocol),
    /// ICMP, ICMPv6, UDPLite or another number: traffic netseg's answers never contain.
    Other(u8),
}

impl CalicoProtocol {
    pub fn from_number(number: u8) -> CalicoProtocol {
        match number {
            6 => CalicoProtocol::Ported(Protocol::Tcp),
            17 => CalicoProtocol::Ported(Protocol::Udp),
            132 => CalicoProtocol::Ported(Protocol::Sctp),
            other => CalicoProtocol::Other(other),
        }
    }

    /// The names the API accepts, case-sensitively.
    pub fn from_name(name: &str) -> Option<CalicoProtocol> {
        Some(match name {
            "TCP" => CalicoProtocol::Ported(Protocol::Tcp),
            "UDP" => CalicoProtocol::Ported(Protocol::Udp),
            "SCTP" => CalicoProtocol::Ported(Protocol::Sctp),
            "ICMP" => CalicoProtocol::Other(1),
            "ICMPv6" => CalicoProtocol::Other(58),
            "UDPLite" => CalicoProtocol::Other(136),
            _ => return None,
        })
    }

    /// Only TCP, UDP and SCTP have ports.
    pub fn has_ports(self) -> bool {
        matches!(self, CalicoProtocol::Ported(_))
    }
}

impl std::fmt::Display for CalicoProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalicoProtocol::Ported(protocol) => f.write_str(protocol.as_str()),
            CalicoProtocol::Other(1) => f.write_str("ICMP"),
            CalicoProtocol::Other(58) => f.write_str("ICMPv6"),
            CalicoProtocol::Other(136) => f.write_str("UDPLite"),
            CalicoProtocol::Other(number) => write!(f, "protocol {number}"),
        }
    }
}

/// One entry of `ports` / `notPorts`: `80`, `"1000:2000"` or a named port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CalicoPort {
    Range(u16, u16),
    Named(String),
}

impl std::fmt::Display for CalicoPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalicoPort::Range(a, b) if a == b => write!(f, "{a}"),
            CalicoPort::Range(a, b) => write!(f, "{a}:{b}"),
            CalicoPort::Named(name) => f.write_str(name),
        }
    }
}

/// `serviceAccounts`: names AND a selector over the service accounts' labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceAccountMatch {
    pub names: Vec<String>,
    pub selector: Option<CalicoSelector>,
}

/// `services`: a Kubernetes Service's endpoints (and, as a destination, their ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceMatch {
    pub name: String,
    /// `None`: the policy's own namespace.
    pub namespace: Option<String>,
}

/// `source` or `destination` of a rule: every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EntityRule {
    pub nets: Vec<Cidr>,
    pub not_nets: Vec<Cidr>,
    pub selector: Option<CalicoSelector>,
    pub not_selector: Option<CalicoSelector>,
    pub namespace_selector: Option<CalicoSelector>,
    pub ports: Vec<CalicoPort>,
    pub not_ports: Vec<CalicoPort>,
    pub service_accounts: Option<ServiceAccountMatch>,
    pub services: Option<ServiceMatch>,
    pub line: u32,
}

impl EntityRule {
    /// Whether the entity rule says nothing about endpoints or addresses (ports aside).
    pub fn matches_any_endpoint(&self) -> bool {
        self.nets.is_empty()
            && self.not_nets.is_empty()
            && self.selector.is_none()
            && self.not_selector.is_none()
            && self.namespace_selector.is_none()
            && self.service_accounts.is_none()
            && self.services.is_none()
    }
}

/// `http` (application layer policy): enforced by Calico's ALP (Envoy), not by the L3/L4 dataplane.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpMatch {
    pub methods: Vec<String>,
    /// `exact:` or `prefix:` paths, as written (`prefix:/api`).
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CalicoRule {
    pub action: CalicoAction,
    pub ip_version: Option<u8>,
    pub protocol: Option<CalicoProtocol>,
    pub not_protocol: Option<CalicoProtocol>,
    pub source: EntityRule,
    pub destination: EntityRule,
    pub http: Option<HttpMatch>,
    pub line: u32,
}

/// NetworkPolicy, GlobalNetworkPolicy, StagedNetworkPolicy or StagedGlobalNetworkPolicy of Calico.
#[derive(Debug, Clone, PartialEq)]
pub struct CalicoPolicy {
    pub kind: CalicoPolicyKind,
    /// `None` for the global kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub tier: String,
    /// `None`: applied after every policy of the tier with an order.
    pub order: Option<f64>,
    /// `spec.selector` (absent: `all()`).
    pub selector: CalicoSelector,
    /// `spec.namespaceSelector` (global kinds only).
    pub namespace_selector: Option<CalicoSelector>,
    pub service_account_selector: Option<CalicoSelector>,
    /// `spec.types` after Calico's defaulting: Ingress, plus Egress when there are egress rules; Egress alone
    /// when there are egress rules and no ingress rules.
    pub types: Vec<Direction>,
    /// `spec.types` as written (`None` when absent).
    pub declared_types: Option<Vec<Direction>>,
    pub ingress: Vec<CalicoRule>,
    pub egress: Vec<CalicoRule>,
    pub do_not_track: bool,
    pub pre_dnat: bool,
    pub apply_on_forward: bool,
    /// For the staged kinds: what applying the policy would do.
    pub staged_action: Option<StagedAction>,
    pub ignore: Suppression,
    pub location: Location,
}

impl CalicoPolicy {
    pub fn applies_to(&self, direction: Direction) -> bool {
        self.types.contains(&direction)
    }

    /// The rules in effect for `direction`: a direction `types` leaves out has none.
    pub fn rules(&self, direction: Direction) -> &[CalicoRule] {
        if !self.applies_to(direction) {
            return &[];
        }
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// `GlobalNetworkPolicy deny-all` or `NetworkPolicy shop/api`, as explanations name it.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind.as_str(), self.name),
            None => format!("{} {}", self.kind.as_str(), self.name),
        }
    }

    /// Whether Calico enforces it: staged policies are only previewed.
    pub fn enforced(&self) -> bool {
        !self.kind.is_staged()
    }

    /// `preDNAT`, `doNotTrack` or `applyOnForward`: evaluated apart from normal policy, on host endpoints.
    pub fn special_processing(&self) -> bool {
        self.do_not_track || self.pre_dnat || self.apply_on_forward
    }

    /// `preDNAT` or `doNotTrack`: Felix renders such a policy only for host endpoints (before DNAT, or before
    /// connection tracking), never for a workload endpoint, whatever its selector matches. (`applyOnForward`
    /// alone leaves a policy normal: it adds forwarded traffic through host endpoints.)
    pub fn host_endpoints_only(&self) -> bool {
        self.do_not_track || self.pre_dnat
    }
}

/// `StagedKubernetesNetworkPolicy`: a Kubernetes NetworkPolicy previewed, never enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedKubernetesPolicy {
    pub policy: NetworkPolicy,
    pub staged_action: StagedAction,
}

/// NetworkSet (namespaced) or GlobalNetworkSet: labelled addresses that rule selectors match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSet {
    /// `None` for a GlobalNetworkSet.
    pub namespace: Option<String>,
    pub name: String,
    pub labels: Labels,
    pub nets: Vec<Cidr>,
    pub location: Location,
}

impl NetworkSet {
    pub fn kind(&self) -> &'static str {
        if self.namespace.is_some() {
            "NetworkSet"
        } else {
            "GlobalNetworkSet"
        }
    }
}

/// A named port of a host endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// HostEndpoint: a node's interface (or all of them, `interfaceName: "*"`) under Calico policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEndpoint {
    pub name: String,
    pub labels: Labels,
    pub node: String,
    pub interface_name: Option<String>,
    pub expected_ips: Vec<IpAddr>,
    pub profiles: Vec<String>,
    pub ports: Vec<EndpointPort>,
    pub location: Location,
}

/// Every Calico object of the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalicoObjects {
    pub tiers: Vec<CalicoTier>,
    /// Enforced and staged policies, in input order.
    pub policies: Vec<CalicoPolicy>,
    pub staged_kubernetes: Vec<StagedKubernetesPolicy>,
    pub network_sets: Vec<NetworkSet>,
    pub host_endpoints: Vec<HostEndpoint>,
}

impl CalicoObjects {
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
            && self.policies.is_empty()
            && self.staged_kubernetes.is_empty()
            && self.network_sets.is_empty()
            && self.host_endpoints.is_empty()
    }

    /// The policies Calico enforces (staged ones left out).
    pub fn enforced(&self) -> impl Iterator<Item = (usize, &CalicoPolicy)> + '_ {
        self.policies.iter().enumerate().filter(|(_, p)| p.enforced())
    }

    pub fn tier(&self, name: &str) -> Option<&CalicoTier> {
        self.tiers.iter().find(|t| t.name == name)
    }
}

/// A ServiceAccount: Calico selects pods by their service account's labels (`serviceAccountSelector`,
/// `serviceAccounts.selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub location: Location,
}
