//! Consul's intentions (`consul.hashicorp.com/v1alpha1` ServiceIntentions), the service protocols they depend on
//! (ServiceDefaults, ProxyDefaults) and the default intention behaviour.

use crate::kube::{Location, Service, Suppression};
use crate::selector::Labels;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consul {
    pub intentions: Vec<ServiceIntentions>,
    /// `ServiceDefaults` by service name: the protocol and the mTLS mode of each service.
    pub service_defaults: Vec<ServiceDefaults>,
    /// The `global` ProxyDefaults: the protocol and mTLS mode of services with no ServiceDefaults.
    pub proxy_defaults: Option<ServiceDefaults>,
    pub config: ConsulConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentionAction {
    Allow,
    Deny,
}

impl IntentionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentionAction::Allow => "allow",
            IntentionAction::Deny => "deny",
        }
    }
}

/// What a connection no intention matches gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulConfig {
    pub default_intention: IntentionAction,
    /// Where it was read, or `None` for the default (ACLs disabled: allow) or a flag.
    pub location: Option<Location>,
    /// Said how it was decided, for explanations ("acl.default_policy deny in consul-server-config").
    pub source: String,
}

impl Default for ConsulConfig {
    fn default() -> Self {
        ConsulConfig {
            default_intention: IntentionAction::Allow,
            location: None,
            source: "Consul's default with ACLs disabled (a consul-server-config ConfigMap with acl.default_policy deny changes it)".into(),
        }
    }
}

/// A ServiceDefaults (per service) or the global ProxyDefaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDefaults {
    /// The service name; `global` for ProxyDefaults.
    pub name: String,
    /// `protocol` (`tcp`, `http`, `http2`, `grpc`); `None` when unset.
    pub protocol: Option<String>,
    /// `mutualTLSMode: permissive`: plaintext clients are admitted too, and intentions do not apply to them.
    pub permissive_mtls: bool,
    pub location: Location,
}

impl ServiceDefaults {
    pub fn http(&self) -> Option<bool> {
        self.protocol.as_deref().map(|p| matches!(p, "http" | "http2" | "grpc"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIntentions {
    /// The Kubernetes namespace of the object (Consul's own namespaces are an Enterprise feature).
    pub namespace: String,
    pub name: String,
    /// `destination.name`: a service name, or `*` for every service.
    pub destination: String,
    pub sources: Vec<IntentionSource>,
    pub ignore: Suppression,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentionSource {
    /// A service name, or `*`.
    pub name: String,
    pub decision: SourceDecision,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceDecision {
    /// An L4 intention.
    Action(IntentionAction),
    /// L7: the first permission that matches the request decides; none matching falls to the default.
    Permissions(Vec<Permission>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub action: IntentionAction,
    pub http: HttpMatch,
    pub line: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpMatch {
    pub path: Option<PathMatch>,
    /// Empty: any method.
    pub methods: Vec<String>,
    pub headers: Vec<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Lower-cased.
    pub name: String,
    pub test: HeaderTest,
    pub invert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderTest {
    Present,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(String),
}

/// The annotation naming the Consul service a pod registers as.
pub const SERVICE_ANNOTATION: &str = "consul.hashicorp.com/connect-service";

/// The Consul service names a pod registers as: its `consul.hashicorp.com/connect-service` annotation (a comma-
/// separated list), else the names of the Kubernetes Services that select it (`selecting`).
pub fn service_names<'s>(annotations: &Labels, selecting: impl IntoIterator<Item = &'s Service>) -> Vec<String> {
    match annotations.get(SERVICE_ANNOTATION) {
        Some(names) => names.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect(),
        None => selecting.into_iter().map(|s| s.name.clone()).collect(),
    }
}

impl ServiceIntentions {
    /// Whether the intention is about one of these services (`*` is about every service).
    pub fn covers(&self, services: &[String]) -> bool {
        self.destination == "*" || services.contains(&self.destination)
    }

    /// Whether some client or request meets a deny here: an L4 source with action deny, or an L7 permission with
    /// action deny. Under the default intention allow, only these refuse anything.
    pub fn denies_some(&self) -> bool {
        self.sources.iter().any(|source| match &source.decision {
            SourceDecision::Action(action) => *action == IntentionAction::Deny,
            SourceDecision::Permissions(permissions) => permissions.iter().any(|p| p.action == IntentionAction::Deny),
        })
    }
}
