//! Cilium's own policies (`cilium.io/v2`): CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy, read into the
//! rules they hold, and the labels Cilium's selectors see on an endpoint.
//!
//! The structs hold each policy as Cilium's agent imports it: the namespace of a CiliumNetworkPolicy is already
//! part of its selectors (`k8s:io.kubernetes.pod.namespace`), the defaults of `enableDefaultDeny` are known, and
//! every regular expression of an L7 rule is compiled. What these rules mean for connectivity is the engine's.

use crate::cidr::Cidr;
use crate::kube::{Direction, IpBlock, Location, Protocol, Suppression};
use crate::selector::{Labels, Operator};
use std::fmt;

/// The label every pod carries with its namespace, and that Cilium's selectors name the namespace by.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// The label of a pod's ServiceAccount.
pub const SERVICE_ACCOUNT_LABEL: &str = "io.cilium.k8s.policy.serviceaccount";
/// The label of the cluster a pod runs in (`cluster-name` of the agent's configuration).
pub const CLUSTER_LABEL: &str = "io.cilium.k8s.policy.cluster";
/// Each label of a pod's namespace, under this prefix.
pub const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";
/// The cluster name when the configuration names none.
pub const DEFAULT_CLUSTER_NAME: &str = "default";
/// The ConfigMap (in `kube-system`) that holds the Cilium agent's configuration.
pub const CILIUM_CONFIG: &str = "cilium-config";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum CiliumPolicyKind {
    CiliumNetworkPolicy,
    CiliumClusterwideNetworkPolicy,
}

impl CiliumPolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CiliumPolicyKind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            CiliumPolicyKind::CiliumClusterwideNetworkPolicy => "CiliumClusterwideNetworkPolicy",
        }
    }

    pub fn from_kind(kind: &str) -> Option<CiliumPolicyKind> {
        match kind {
            "CiliumNetworkPolicy" => Some(CiliumPolicyKind::CiliumNetworkPolicy),
            "CiliumClusterwideNetworkPolicy" => Some(CiliumPolicyKind::CiliumClusterwideNetworkPolicy),
            _ => None,
        }
    }
}

/// A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy: its rules (`spec`, then each of `specs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumPolicy {
    pub kind: CiliumPolicyKind,
    /// `None` for a CiliumClusterwideNetworkPolicy.
    pub namespace: Option<String>,
    pub name: String,
    pub rules: Vec<CiliumRule>,
    pub ignore: Suppression,
    pub location: Location,
}

impl CiliumPolicy {
    /// `CiliumNetworkPolicy shop/api` or `CiliumClusterwideNetworkPolicy lockdown`, as explanations name it.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind.as_str(), self.name),
            None => format!("{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// One rule of a policy: what it selects, and its allow and deny rules per direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumRule {
    /// Where the rule is written: `spec` or `specs[2]`.
    pub field: String,
    pub subject: CiliumSubject,
    pub ingress: Vec<CiliumPeerRule>,
    pub ingress_deny: Vec<CiliumPeerRule>,
    pub egress: Vec<CiliumPeerRule>,
    pub egress_deny: Vec<CiliumPeerRule>,
    /// `enableDefaultDeny.ingress` as written.
    pub declared_default_deny_ingress: Option<bool>,
    /// `enableDefaultDeny.egress` as written.
    pub declared_default_deny_egress: Option<bool>,
    pub line: u32,
}

impl CiliumRule {
    /// The allow rules (`deny: false`) or deny rules of a direction.
    pub fn rules(&self, direction: Direction, deny: bool) -> &[CiliumPeerRule] {
        match (direction, deny) {
            (Direction::Ingress, false) => &self.ingress,
            (Direction::Ingress, true) => &self.ingress_deny,
            (Direction::Egress, false) => &self.egress,
            (Direction::Egress, true) => &self.egress_deny,
        }
    }

    /// Whether the rule puts what it selects into default deny in `direction`: `enableDefaultDeny` when written,
    /// otherwise whenever the rule has allow or deny rules in that direction (Cilium's `Rule.Sanitize`).
    pub fn default_deny(&self, direction: Direction) -> bool {
        let declared = match direction {
            Direction::Ingress => self.declared_default_deny_ingress,
            Direction::Egress => self.declared_default_deny_egress,
        };
        declared.unwrap_or_else(|| !self.rules(direction, false).is_empty() || !self.rules(direction, true).is_empty())
    }
}

/// What a rule applies to: endpoints (pods), or nodes (a host policy, CiliumClusterwideNetworkPolicy only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiliumSubject {
    Endpoints(CiliumSelector),
    Nodes(CiliumSelector),
}

/// One entry of `ingress`, `ingressDeny`, `egress` or `egressDeny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumPeerRule {
    /// The one peer field the rule sets (`fromEndpoints`, `toCIDRSet`, ...); `None` when it sets none.
    pub peer_field: Option<&'static str>,
    /// The entries of that field. An empty list that was written matches nothing.
    pub peers: Vec<CiliumPeer>,
    /// `fromRequires`/`toRequires` (deprecated since Cilium 1.17, removed in 1.19): added to the `fromEndpoints` /
    /// `toEndpoints` selectors of every rule of this direction that selects the same endpoint.
    pub requires: Vec<CiliumSelector>,
    /// `toPorts`; `None` when the rule names no ports.
    pub ports: Option<Vec<CiliumPortRule>>,
    /// The rule has `icmps`: it allows (or denies) ICMP types, which netseg does not model.
    pub icmps: bool,
    /// `authentication.mode`, when the rule requires mutual authentication.
    pub authentication: Option<String>,
    pub line: u32,
}

impl CiliumPeerRule {
    /// Whether the rule matches every peer: no peer field, but ports (an L4-only rule).
    pub fn any_peer(&self) -> bool {
        self.peer_field.is_none() && (self.ports.is_some() || self.icmps)
    }
}

/// One peer of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumPeer {
    pub selection: CiliumPeerSelection,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiliumPeerSelection {
    /// `fromEndpoints`/`toEndpoints`, namespace already added as Cilium adds it.
    Endpoints(CiliumSelector),
    /// `fromEntities`/`toEntities`.
    Entity(CiliumEntity),
    /// `fromCIDR`/`toCIDR` (no exceptions) or `fromCIDRSet`/`toCIDRSet` with `except`.
    Cidr(IpBlock),
    /// A `cidrGroupRef` or `cidrGroupSelector`: CiliumCIDRGroup objects, which netseg does not read.
    CidrGroup(String),
    /// `toServices`.
    Service(CiliumServiceRef),
    /// `toFQDNs`.
    Fqdn(FqdnSelector),
    /// `fromNodes`/`toNodes`: nodes by their labels.
    Nodes(CiliumSelector),
    /// `fromGroups`/`toGroups`: cloud provider groups (AWS security groups), which netseg cannot resolve.
    CloudGroup,
}

/// A Kubernetes Service that a `toServices` entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiliumServiceRef {
    /// `k8sService`. `namespace: None` in a CiliumClusterwideNetworkPolicy means every namespace.
    Named { namespace: Option<String>, name: String },
    /// `k8sServiceSelector`: Services by their labels.
    Selector { namespace: Option<String>, selector: CiliumSelector },
}

impl fmt::Display for CiliumServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CiliumServiceRef::Named { namespace: Some(namespace), name } => write!(f, "Service {namespace}/{name}"),
            CiliumServiceRef::Named { namespace: None, name } => write!(f, "Services named {name}"),
            CiliumServiceRef::Selector { namespace: Some(namespace), selector } => {
                write!(f, "Services {selector} in {namespace}")
            }
            CiliumServiceRef::Selector { namespace: None, selector } => write!(f, "Services {selector}"),
        }
    }
}

/// Cilium's entities: classes of peers that have no labels of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CiliumEntity {
    All,
    World,
    WorldIpv4,
    WorldIpv6,
    Cluster,
    Host,
    RemoteNode,
    KubeApiserver,
    Ingress,
    Health,
    Init,
    Unmanaged,
    None,
}

impl CiliumEntity {
    pub const ALL: [CiliumEntity; 13] = [
        CiliumEntity::All,
        CiliumEntity::World,
        CiliumEntity::WorldIpv4,
        CiliumEntity::WorldIpv6,
        CiliumEntity::Cluster,
        CiliumEntity::Host,
        CiliumEntity::RemoteNode,
        CiliumEntity::KubeApiserver,
        CiliumEntity::Ingress,
        CiliumEntity::Health,
        CiliumEntity::Init,
        CiliumEntity::Unmanaged,
        CiliumEntity::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CiliumEntity::All => "all",
            CiliumEntity::World => "world",
            CiliumEntity::WorldIpv4 => "world-ipv4",
            CiliumEntity::WorldIpv6 => "world-ipv6",
            CiliumEntity::Cluster => "cluster",
            CiliumEntity::Host => "host",
            CiliumEntity::RemoteNode => "remote-node",
            CiliumEntity::KubeApiserver => "kube-apiserver",
            CiliumEntity::Ingress => "ingress",
            CiliumEntity::Health => "health",
            CiliumEntity::Init => "init",
            CiliumEntity::Unmanaged => "unmanaged",
            CiliumEntity::None => "none",
        }
    }

    /// The exact, case-sensitive names Cilium accepts.
    pub fn from_name(name: &str) -> Option<CiliumEntity> {
        CiliumEntity::ALL.into_iter().find(|entity| entity.as_str() == name)
    }
}

impl fmt::Display for CiliumEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a label comes from, as the prefix of a selector's key says (`k8s:app`, `reserved:host`, `app`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelSource {
    /// No prefix, or `any:`: a label of any source.
    Any,
    /// `k8s:`: the labels of pods (and those Cilium derives for them: namespace, ServiceAccount, ...).
    K8s,
    /// `reserved:`: the labels of Cilium's reserved identities (`host`, `world`, `remote-node`, ...).
    Reserved,
    /// Any other source (`container:`, `cidr:`, `unspec:`): none of these labels is on a pod.
    Other(String),
}

impl LabelSource {
    pub fn prefix(&self) -> &str {
        match self {
            LabelSource::Any => "",
            LabelSource::K8s => "k8s:",
            LabelSource::Reserved => "reserved:",
            LabelSource::Other(source) => source,
        }
    }
}

/// One requirement of a Cilium selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CiliumRequirement {
    pub source: LabelSource,
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// A Cilium endpoint selector: Kubernetes' label selector over labels that carry a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CiliumSelector {
    /// `matchLabels` (as `In` with one value), then `matchExpressions`, and what Cilium adds on import.
    pub requirements: Vec<CiliumRequirement>,
}

/// The labels of one security identity, as Cilium's selectors see them: the `k8s` labels of a pod (its own and
/// those Cilium derives), or the `reserved` labels of an entity.
#[derive(Debug, Clone, Copy)]
pub struct CiliumIdentity<'a> {
    pub k8s: Option<&'a Labels>,
    pub reserved: &'a [&'a str],
}

impl CiliumSelector {
    /// Whether the selector names a `reserved:` label: Cilium then leaves it as written (no namespace is added).
    pub fn names_reserved(&self) -> bool {
        self.requirements.iter().any(|r| r.source == LabelSource::Reserved)
    }

    /// Whether it constrains the namespace itself (`io.kubernetes.pod.namespace` with the `k8s:` or no prefix).
    pub fn names_namespace(&self) -> bool {
        self.requirements
            .iter()
            .any(|r| r.key == POD_NAMESPACE_LABEL && matches!(r.source, LabelSource::K8s | LabelSource::Any))
    }

    pub fn matches(&self, identity: CiliumIdentity<'_>) -> bool {
        self.requirements.iter().all(|requirement| {
            let k8s = || identity.k8s.and_then(|labels| labels.get(requirement.key.as_str())).map(|v| &**v);
            let reserved = || identity.reserved.contains(&requirement.key.as_str()).then_some("");
            let value = match requirement.source {
                LabelSource::Any => k8s().or_else(reserved),
                LabelSource::K8s => k8s(),
                LabelSource::Reserved => reserved(),
                LabelSource::Other(_) => None,
            };
            match requirement.operator {
                Operator::In => value.is_some_and(|v| requirement.values.iter().any(|want| want == v)),
                Operator::NotIn => value.is_none_or(|v| !requirement.values.iter().any(|want| want == v)),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for CiliumSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("{} (everything)");
        }
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let key = format!("{}{}", r.source.prefix(), r.key);
                match r.operator {
                    Operator::In if r.values.len() == 1 => format!("{key}={}", r.values[0]),
                    Operator::In => format!("{key} in ({})", r.values.join(",")),
                    Operator::NotIn => format!("{key} notin ({})", r.values.join(",")),
                    Operator::Exists => key,
                    Operator::DoesNotExist => format!("!{key}"),
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A `matchName` or `matchPattern`, of `toFQDNs` or of an L7 DNS rule, normalised as Cilium does (lower case,
/// with the trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FqdnSelector {
    Name(String),
    Pattern(String),
}

impl FqdnSelector {
    /// Whether a DNS name matches: `matchName` exactly; `matchPattern` with `*` standing for any run of DNS
    /// characters within one label, `**.` at the start for one or more whole labels, and `*` alone for every
    /// name. Case does not matter and the trailing dot is optional.
    pub fn matches(&self, name: &str) -> bool {
        let name = normalize_dns_name(name);
        match self {
            FqdnSelector::Name(want) => *want == name,
            FqdnSelector::Pattern(pattern) if pattern == "*." || pattern == "*" => !name.is_empty(),
            FqdnSelector::Pattern(pattern) => match pattern.strip_prefix("**.") {
                Some(rest) => {
                    // One or more labels, then the rest.
                    let mut labels_end = 0;
                    let bytes = name.as_bytes();
                    while let Some(dot) = name[labels_end..].find('.') {
                        let label = &name[labels_end..labels_end + dot];
                        if label.is_empty() || !label.bytes().all(is_dns_char) {
                            return false;
                        }
                        labels_end += dot + 1;
                        if labels_end < bytes.len() && glob_match(rest.as_bytes(), &bytes[labels_end..]) {
                            return true;
                        }
                    }
                    false
                }
                None => glob_match(pattern.as_bytes(), name.as_bytes()),
            },
        }
    }

    pub fn text(&self) -> &str {
        match self {
            FqdnSelector::Name(text) | FqdnSelector::Pattern(text) => text,
        }
    }
}

impl fmt::Display for FqdnSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FqdnSelector::Name(name) => write!(f, "matchName {name}"),
            FqdnSelector::Pattern(pattern) => write!(f, "matchPattern {pattern}"),
        }
    }
}

fn is_dns_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// A pattern where `*` matches any run of DNS characters (never a dot) against a name, both lower case.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    // Classic two-pointer wildcard matching with backtracking to the last star; linear in practice and never
    // worse than the product of the lengths (both at most 255 bytes).
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            // The star takes one more character, which must be a DNS character.
            if !is_dns_char(name[star_n]) {
                return false;
            }
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, n));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Lower case with one trailing dot, as Cilium compares DNS names.
pub fn normalize_dns_name(name: &str) -> String {
    let mut name = name.trim().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// One entry of `toPorts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumPortRule {
    /// `ports`; a rule with none allows nothing.
    pub ports: Vec<CiliumPort>,
    /// `rules`: the L7 rules that restrict the requests on these ports.
    pub l7: Option<L7Rules>,
    /// `serverNames`: the TLS SNIs a connection must present.
    pub server_names: Vec<String>,
    /// `listener.name`: traffic redirected to a custom Envoy listener (CiliumEnvoyConfig, not read).
    pub listener: Option<String>,
    pub line: u32,
}

/// One port of a `toPorts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CiliumPort {
    pub port: CiliumPortNumber,
    /// Inclusive; only with a number above `port`.
    pub end_port: Option<u16>,
    pub protocol: CiliumProtocol,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CiliumPortNumber {
    /// `"0"`: every port.
    All,
    Number(u16),
    /// A container port name, lower-cased (Cilium compares names case-insensitively).
    Named(String),
}

/// `protocol`: `ANY` (or none) is TCP, UDP and SCTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CiliumProtocol {
    Any,
    One(Protocol),
}

impl CiliumProtocol {
    pub fn protocols(self) -> Vec<Protocol> {
        match self {
            CiliumProtocol::Any => Protocol::ALL.to_vec(),
            CiliumProtocol::One(protocol) => vec![protocol],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CiliumProtocol::Any => "ANY",
            CiliumProtocol::One(protocol) => protocol.as_str(),
        }
    }
}

/// The L7 rules of one port rule: exactly one protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L7Rules {
    Http(Vec<HttpRule>),
    Kafka(Vec<KafkaRule>),
    Dns(Vec<FqdnSelector>),
    /// `l7proto` with `l7` key-value rules, for a proxylib parser netseg does not know.
    Generic {
        proto: String,
        rules: usize,
    },
}

impl L7Rules {
    pub fn protocol(&self) -> &str {
        match self {
            L7Rules::Http(_) => "HTTP",
            L7Rules::Kafka(_) => "Kafka",
            L7Rules::Dns(_) => "DNS",
            L7Rules::Generic { proto, .. } => proto,
        }
    }
}

/// A regular expression of an HTTP rule, matched against the whole value as Envoy matches it.
#[derive(Debug, Clone)]
pub struct HttpPattern {
    pub text: String,
    regex: regex::Regex,
}

impl HttpPattern {
    pub(crate) fn new(text: String, regex: regex::Regex) -> HttpPattern {
        HttpPattern { text, regex }
    }

    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl PartialEq for HttpPattern {
    fn eq(&self, other: &HttpPattern) -> bool {
        self.text == other.text
    }
}

impl Eq for HttpPattern {}

/// One entry of `rules.http`: a request passes when it meets every field the entry sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub method: Option<HttpPattern>,
    pub path: Option<HttpPattern>,
    pub host: Option<HttpPattern>,
    /// `headers` (`X-Token` for presence, `X-Token: value` for an exact value) and `headerMatches`.
    pub headers: Vec<HeaderMatch>,
    pub line: u32,
}

impl HttpRule {
    /// The rule in words: `POST /v1/request-landing`, `GET on host api\.example\.com with header x-token`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(self.method.as_ref().map_or_else(|| "any method".to_string(), |m| m.text.clone()));
        parts.push(self.path.as_ref().map_or_else(|| "any path".to_string(), |p| p.text.clone()));
        if let Some(host) = &self.host {
            parts.push(format!("host {}", host.text));
        }
        for header in &self.headers {
            parts.push(match &header.value {
                Some(value) => format!("header {}: {value}", header.name),
                None if header.secret => format!("header {} (value from a Secret)", header.name),
                None => format!("header {} present", header.name),
            });
        }
        parts.join(" ")
    }
}

/// A header an HTTP rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Lower case: HTTP header names are case-insensitive.
    pub name: String,
    /// The exact value required; `None`: presence only (or a value from a Secret, see `secret`).
    pub value: Option<String>,
    /// The value is read from a Secret, which netseg does not see.
    pub secret: bool,
    /// `mismatch`: `LOG`, `ADD`, `DELETE` or `REPLACE` let a request through whatever the header holds.
    pub mismatch: Option<String>,
}

/// One entry of `rules.kafka`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRule {
    pub role: Option<String>,
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    pub client_id: Option<String>,
    pub topic: Option<String>,
    pub line: u32,
}

impl KafkaRule {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(role) = &self.role {
            parts.push(format!("role {role}"));
        }
        if let Some(key) = &self.api_key {
            parts.push(format!("apiKey {key}"));
        }
        if let Some(version) = &self.api_version {
            parts.push(format!("apiVersion {version}"));
        }
        if let Some(client) = &self.client_id {
            parts.push(format!("clientID {client}"));
        }
        if let Some(topic) = &self.topic {
            parts.push(format!("topic {topic}"));
        }
        if parts.is_empty() {
            "any Kafka request".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The agent's policy enforcement mode (`enable-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEnforcement {
    /// Endpoints a rule selects are default-deny in that rule's directions; all others allow everything.
    Default,
    /// Every endpoint is default-deny in both directions, selected or not.
    Always,
    /// Nothing is enforced: every policy is inert.
    Never,
}

impl PolicyEnforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyEnforcement::Default => "default",
            PolicyEnforcement::Always => "always",
            PolicyEnforcement::Never => "never",
        }
    }

    /// The agent lower-cases the value before checking it.
    pub fn from_config(text: &str) -> Option<PolicyEnforcement> {
        match text.trim().to_ascii_lowercase().as_str() {
            "default" => Some(PolicyEnforcement::Default),
            "always" => Some(PolicyEnforcement::Always),
            "never" => Some(PolicyEnforcement::Never),
            _ => None,
        }
    }
}

/// What netseg reads of the `cilium-config` ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumConfig {
    pub namespace: String,
    /// `enable-policy`.
    pub enforcement: Option<PolicyEnforcement>,
    /// `cluster-name`: the value of every pod's `io.cilium.k8s.policy.cluster` label.
    pub cluster_name: Option<String>,
    /// `policy-cidr-match-mode: nodes`: CIDR rules also match node addresses.
    pub cidr_match_nodes: bool,
    /// `enable-l7-proxy` (on unless `false`): without the proxy, policies with L7 rules or `toFQDNs` are refused.
    pub l7_proxy: bool,
    /// `allow-localhost` (`auto` unless set): `policy` makes traffic from the local host subject to policy.
    pub allow_localhost: Option<String>,
    /// `labels`: a custom set of identity-relevant labels.
    pub identity_labels: Option<String>,
    pub location: Location,
}

/// Label keys that are not identity-relevant by default: Cilium's selectors never see them. Each is a regular
/// expression anchored at the start of the key (Cilium's documented defaults, "Limiting Identity-Relevant
/// Labels").
const IDENTITY_IRRELEVANT: &[&str] = &[
    r"io\.kubernetes",
    r"kubernetes\.io",
    r"statefulset\.kubernetes\.io/pod-name",
    r"apps\.kubernetes\.io/pod-index",
    r"batch\.kubernetes\.io/job-completion-index",
    r"batch\.kubernetes\.io/controller-uid",
    r"beta\.kubernetes\.io",
    r"k8s\.io",
    r"pod-template-generation",
    r"pod-template-hash",
    r"controller-revision-hash",
    r"annotation.*",
    r"controller-uid",
    r"etcd_node",
];

/// Whether Cilium keeps a pod label in the pod's identity under the default label filter. Labels under
/// `io.cilium.k8s.` are Cilium's own and never taken from the pod.
pub fn identity_relevant(key: &str) -> bool {
    if key.starts_with("io.cilium.k8s.") {
        return false;
    }
    !IDENTITY_IRRELEVANT.iter().any(|pattern| anchored_prefix_match(pattern, key))
}

/// Matches the small regular expressions of [`IDENTITY_IRRELEVANT`] (literals with `\.` and a trailing `.*`) at
/// the start of `key`.
fn anchored_prefix_match(pattern: &str, key: &str) -> bool {
    let literal = pattern.strip_suffix(".*").unwrap_or(pattern).replace("\\.", ".");
    key.starts_with(&literal)
}

/// The `k8s` labels Cilium gives a pod's identity: its own identity-relevant labels, its namespace, each label of
/// its namespace, its ServiceAccount and the cluster name.
pub fn pod_identity_labels(
    pod_labels: &Labels,
    namespace: &str,
    namespace_labels: &Labels,
    service_account: Option<&str>,
    cluster_name: &str,
) -> Labels {
    let mut labels: Labels =
        pod_labels.iter().filter(|(key, _)| identity_relevant(key)).map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(POD_NAMESPACE_LABEL, namespace);
    for (key, value) in namespace_labels {
        labels.insert(format!("{NAMESPACE_LABELS_PREFIX}{key}"), value.clone());
    }
    labels.insert(SERVICE_ACCOUNT_LABEL, service_account.unwrap_or("default"));
    labels.insert(CLUSTER_LABEL, cluster_name);
    labels
}

/// A CIDR as `fromCIDR` reads it: a prefix, or a single address.
pub fn parse_cidr_or_address(text: &str) -> Result<Cidr, crate::cidr::CidrError> {
    match text.parse::<std::net::IpAddr>() {
        Ok(addr) => Ok(Cidr { network: addr, prefix: Cidr::max_prefix(addr) }),
        Err(_) => text.parse::<Cidr>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn requirement(source: LabelSource, key: &str, operator: Operator, values: &[&str]) -> CiliumRequirement {
        CiliumRequirement { source, key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn sources_decide_which_labels_a_requirement_sees() {
        let pod = labels(&[("app", "web")]);
        let pod_identity = CiliumIdentity { k8s: Some(&pod), reserved: &[] };
        let host = CiliumIdentity { k8s: None, reserved: &["host"] };
        let any_app =
            CiliumSelector { requirements: vec![requirement(LabelSource::Any, "app", Operator::In, &["web"])] };
        let k8s_app =
            CiliumSelector { requirements: vec![requirement(LabelSource::K8s, "app", Operator::In, &["web"])] };
        let container_app = CiliumSelector {
            requirements: vec![requirement(LabelSource::Other("container:".into()), "app", Operator::Exists, &[])],
        };
        let reserved_host =
            CiliumSelector { requirements: vec![requirement(LabelSource::Reserved, "host", Operator::Exists, &[])] };
        assert!(any_app.matches(pod_identity) && k8s_app.matches(pod_identity));
        assert!(!container_app.matches(pod_identity));
        assert!(reserved_host.matches(host) && !reserved_host.matches(pod_identity));
        // NotIn and DoesNotExist hold for a label of another source.
        let not_host = CiliumSelector {
            requirements: vec![requirement(LabelSource::Reserved, "host", Operator::DoesNotExist, &[])],
        };
        assert!(not_host.matches(pod_identity));
        assert!(CiliumSelector::default().matches(host));
    }

    #[test]
    fn fqdn_patterns_follow_ciliums_wildcards() {
        let pattern = |p: &str| FqdnSelector::Pattern(normalize_dns_name(p));
        assert!(pattern("*.cilium.io").matches("sub.cilium.io"));
        assert!(!pattern("*.cilium.io").matches("cilium.io"));
        assert!(!pattern("*.cilium.io").matches("sub.sub.cilium.io"));
        assert!(
            pattern("part*ial.com").matches("partial.com") && pattern("part*ial.com").matches("part-extra-ial.com")
        );
        assert!(pattern("*cilium.io").matches("cilium.io") && pattern("*cilium.io").matches("subcilium.io"));
        assert!(!pattern("*cilium.io").matches("www.cilium.io"));
        assert!(pattern("**.cilium.io").matches("app.cilium.io") && pattern("**.cilium.io").matches("a.b.cilium.io"));
        assert!(!pattern("**.cilium.io").matches("cilium.io"));
        assert!(pattern("*").matches("anything.example.com."));
        assert!(pattern("special*service.api.cilium.io").matches("special-region1-service.api.cilium.io"));
        assert!(!pattern("special*service.api.cilium.io").matches("region1-service.api.cilium.io"));
        let name = FqdnSelector::Name(normalize_dns_name("My-Remote-Service.com"));
        assert!(name.matches("my-remote-service.com.") && name.matches("MY-REMOTE-SERVICE.COM"));
        assert!(!name.matches("x.my-remote-service.com"));
    }

    #[test]
    fn identity_labels_drop_what_cilium_filters_and_add_what_it_derives() {
        let pod = labels(&[("app", "web"), ("pod-template-hash", "abc"), ("io.cilium.k8s.x", "y")]);
        let namespace = labels(&[("kubernetes.io/metadata.name", "shop"), ("team", "a")]);
        let identity = pod_identity_labels(&pod, "shop", &namespace, Some("api"), "c1");
        assert_eq!(identity.get("app").map(|v| &**v), Some("web"));
        assert!(!identity.contains_key("pod-template-hash") && !identity.contains_key("io.cilium.k8s.x"));
        assert_eq!(identity.get(POD_NAMESPACE_LABEL).map(|v| &**v), Some("shop"));
        assert_eq!(identity.get("io.cilium.k8s.namespace.labels.team").map(|v| &**v), Some("a"));
        assert_eq!(identity.get(SERVICE_ACCOUNT_LABEL).map(|v| &**v), Some("api"));
        assert_eq!(identity.get(CLUSTER_LABEL).map(|v| &**v), Some("c1"));
        assert!(!identity_relevant("kubernetes.io/hostname") && identity_relevant("app.kubernetes.io/name"));
    }

    #[test]
    fn default_deny_follows_the_directions_that_have_rules() {
        let rule = CiliumRule {
            field: "spec".into(),
            subject: CiliumSubject::Endpoints(CiliumSelector::default()),
            ingress: Vec::new(),
            ingress_deny: vec![CiliumPeerRule {
                peer_field: None,
                peers: Vec::new(),
                requires: Vec::new(),
                ports: None,
                icmps: false,
                authentication: None,
                line: 1,
            }],
            egress: Vec::new(),
            egress_deny: Vec::new(),
            declared_default_deny_ingress: None,
            declared_default_deny_egress: None,
            line: 1,
        };
        assert!(rule.default_deny(Direction::Ingress) && !rule.default_deny(Direction::Egress));
        let broad = CiliumRule { declared_default_deny_ingress: Some(false), ..rule };
        assert!(!broad.default_deny(Direction::Ingress));
    }
}
