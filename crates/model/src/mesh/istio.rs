//! Istio's security objects (`security.istio.io/v1` and `v1beta1`) and the mesh settings they depend on.

use super::StringMatch;
use crate::cidr::Cidr;
use crate::kube::{Location, PodFacts, Service, ServicePort, Suppression};
use crate::selector::Labels;
use crate::Protocol;

/// Everything Istio-specific the input holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Istio {
    pub authorization_policies: Vec<AuthorizationPolicy>,
    pub peer_authentications: Vec<PeerAuthentication>,
    /// From the `istio` ConfigMap's `mesh` key (the trust domain from `--trust-domain` when given); the defaults
    /// when absent.
    pub config: MeshConfig,
}

/// The parts of Istio's MeshConfig that change what a policy means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// Policies in this namespace apply mesh-wide. Istio's default is the control plane's namespace.
    pub root_namespace: String,
    /// The first segment of every principal.
    pub trust_domain: String,
    /// Other trust domains whose principals Istio treats as this one's.
    pub trust_domain_aliases: Vec<String>,
    /// Where these settings were read; `None` for the defaults.
    pub location: Option<Location>,
}

impl MeshConfig {
    pub const DEFAULT_ROOT_NAMESPACE: &'static str = "istio-system";
    pub const DEFAULT_TRUST_DOMAIN: &'static str = "cluster.local";
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            root_namespace: Self::DEFAULT_ROOT_NAMESPACE.into(),
            trust_domain: Self::DEFAULT_TRUST_DOMAIN.into(),
            trust_domain_aliases: Vec::new(),
            location: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationAction {
    Allow,
    Deny,
    /// Marks requests for auditing; never changes a verdict.
    Audit,
    /// Delegates to the named external authorizer, whose answer the input cannot tell.
    Custom {
        provider: String,
    },
}

impl AuthorizationAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthorizationAction::Allow => "ALLOW",
            AuthorizationAction::Deny => "DENY",
            AuthorizationAction::Audit => "AUDIT",
            AuthorizationAction::Custom { .. } => "CUSTOM",
        }
    }
}

/// Which workloads a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyTarget {
    /// No `selector` and no `targetRefs`: every workload of the namespace (of the mesh, in the root namespace).
    Namespace,
    /// `selector.matchLabels`: the workloads of the namespace (of the mesh, in the root namespace) with these
    /// labels. An empty map selects like [`PolicyTarget::Namespace`].
    Selector(Labels),
    /// `targetRef` or `targetRefs`: gateways, waypoints and the Services behind waypoints.
    TargetRefs(Vec<TargetRef>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetRef {
    /// `""` for the core group.
    pub group: String,
    pub kind: String,
    pub name: String,
    pub line: u32,
}

/// The ConfigMap (in Istio's namespace) that holds the mesh config: root namespace, trust domain.
pub const ISTIO_CONFIG: &str = "istio";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    pub namespace: String,
    pub name: String,
    pub action: AuthorizationAction,
    pub target: PolicyTarget,
    /// Empty: the policy matches nothing (an ALLOW policy with no rules allows nothing).
    pub rules: Vec<Rule>,
    /// `istio.io/dry-run: "true"`: evaluated for logs only, never enforced.
    pub dry_run: bool,
    pub ignore: Suppression,
    pub location: Location,
}

impl AuthorizationPolicy {
    /// Whether the policy, where it applies, limits who gets in: an enforced ALLOW (only what it matches passes)
    /// or CUSTOM (an external authorizer decides).
    pub fn restricts_clients(&self) -> bool {
        !self.dry_run && matches!(self.action, AuthorizationAction::Allow | AuthorizationAction::Custom { .. })
    }

    /// Whether the policy applies, at the pod's own proxy (sidecar or ztunnel), to a pod of `namespace` with
    /// `pod_labels`: by its namespace (every namespace from the root namespace) and its selector. `targetRefs`
    /// policies apply at waypoints and gateways only.
    pub fn applies_to(&self, root_namespace: &str, namespace: &str, pod_labels: &Labels) -> bool {
        if self.namespace != namespace && self.namespace != root_namespace {
            return false;
        }
        match &self.target {
            PolicyTarget::Namespace => true,
            PolicyTarget::Selector(labels) => labels.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
            PolicyTarget::TargetRefs(_) => false,
        }
    }
}

/// How Istio reads the traffic on a port: HTTP, opaque TCP, or detected per connection (a port no Service
/// declares, or one whose declaration names no protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProtocol {
    Http,
    Tcp,
    Detect,
}

impl PortProtocol {
    /// A Service port's protocol as Istio reads it: `appProtocol`, else the port name's prefix (`http-web`,
    /// `tcp-db`), per Istio's "Explicit protocol selection".
    pub fn of_service_port(port: &ServicePort) -> PortProtocol {
        if port.protocol != Protocol::Tcp {
            return PortProtocol::Tcp;
        }
        let declared = port
            .app_protocol
            .clone()
            .or_else(|| port.name.as_ref().map(|n| n.split('-').next().unwrap_or("").to_string()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        match declared.as_str() {
            "http" | "http2" | "grpc" | "grpc-web" | "h2c" | "kubernetes.io/h2c" => PortProtocol::Http,
            "tcp" | "tls" | "https" | "mongo" | "mysql" | "redis" | "udp" | "kubernetes.io/ws"
            | "kubernetes.io/wss" => PortProtocol::Tcp,
            _ => PortProtocol::Detect,
        }
    }

    /// The protocol of a pod's TCP `port` from the Services that reach it: what they agree on, else detected.
    pub fn of_pod_port<'s>(services: impl IntoIterator<Item = &'s Service>, pod: &PodFacts, port: u16) -> PortProtocol {
        let mut found: Option<PortProtocol> = None;
        for service in services {
            for service_port in &service.ports {
                if service_port.protocol != Protocol::Tcp || service_port.target_on(pod) != Some(port) {
                    continue;
                }
                let protocol = PortProtocol::of_service_port(service_port);
                found = Some(match found {
                    None => protocol,
                    Some(earlier) if earlier == protocol => protocol,
                    Some(_) => PortProtocol::Detect,
                });
            }
        }
        found.unwrap_or(PortProtocol::Detect)
    }
}

/// A match occurs when one source, one operation and every condition match; an empty list matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub from: Vec<Source>,
    pub to: Vec<Operation>,
    pub when: Vec<Condition>,
    pub line: u32,
}

impl Rule {
    /// The fields of this rule that only an HTTP request has, as `field` names: on TCP traffic to a sidecar, an
    /// ALLOW rule with one of them never matches, and a DENY rule is applied without them (so it denies more).
    pub fn http_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for source in &self.from {
            fields.extend(source.http_fields());
        }
        for operation in &self.to {
            fields.extend(operation.http_fields());
        }
        for condition in &self.when {
            if condition.key.http_only() {
                fields.push(condition.key.field_name());
            }
        }
        fields.sort_unstable();
        fields.dedup();
        fields
    }

    /// The fields ztunnel (Istio ambient without a waypoint) cannot enforce: the HTTP fields, and also
    /// `remoteIpBlocks` and the `when` keys beyond source.ip, source.namespace, source.principal, destination.ip
    /// and destination.port.
    pub fn ztunnel_unsupported_fields(&self) -> Vec<&'static str> {
        let mut fields = self.http_fields();
        for source in &self.from {
            if !source.remote_ip_blocks.is_empty() {
                fields.push("remoteIpBlocks");
            }
            if !source.not_remote_ip_blocks.is_empty() {
                fields.push("notRemoteIpBlocks");
            }
        }
        for condition in &self.when {
            if !condition.key.ztunnel_supported() {
                fields.push(condition.key.field_name());
            }
        }
        fields.sort_unstable();
        fields.dedup();
        fields
    }
}

/// Where a request comes from. The fields are ANDed; the values of one field are ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub principals: Vec<StringMatch>,
    pub not_principals: Vec<StringMatch>,
    pub request_principals: Vec<StringMatch>,
    pub not_request_principals: Vec<StringMatch>,
    /// Globs: `*` anywhere stands for any run of characters.
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
    /// `namespace/name`, or `name` for the policy's own namespace (already qualified here).
    pub service_accounts: Vec<(String, String)>,
    pub not_service_accounts: Vec<(String, String)>,
    pub ip_blocks: Vec<Cidr>,
    pub not_ip_blocks: Vec<Cidr>,
    pub remote_ip_blocks: Vec<Cidr>,
    pub not_remote_ip_blocks: Vec<Cidr>,
    pub trust_domains: Vec<StringMatch>,
    pub not_trust_domains: Vec<StringMatch>,
    pub line: u32,
}

impl Source {
    pub fn http_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if !self.request_principals.is_empty() {
            fields.push("requestPrincipals");
        }
        if !self.not_request_principals.is_empty() {
            fields.push("notRequestPrincipals");
        }
        fields
    }

    /// Whether the source names who the client is (what only mTLS tells).
    pub fn names_identities(&self) -> bool {
        !self.principals.is_empty()
            || !self.namespaces.is_empty()
            || !self.service_accounts.is_empty()
            || !self.trust_domains.is_empty()
    }

    /// Whether the source excludes identities, which a plaintext client (with none) always passes.
    pub fn negates_identities(&self) -> bool {
        !self.not_principals.is_empty()
            || !self.not_namespaces.is_empty()
            || !self.not_service_accounts.is_empty()
            || !self.not_trust_domains.is_empty()
    }
}

/// What a request does. The fields are ANDed; the values of one field are ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    pub hosts: Vec<StringMatch>,
    pub not_hosts: Vec<StringMatch>,
    pub ports: Vec<u16>,
    pub not_ports: Vec<u16>,
    pub methods: Vec<StringMatch>,
    pub not_methods: Vec<StringMatch>,
    pub paths: Vec<PathPattern>,
    pub not_paths: Vec<PathPattern>,
    pub line: u32,
}

impl Operation {
    pub fn http_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for (set, name) in [
            (!self.hosts.is_empty(), "hosts"),
            (!self.not_hosts.is_empty(), "notHosts"),
            (!self.methods.is_empty(), "methods"),
            (!self.not_methods.is_empty(), "notMethods"),
            (!self.paths.is_empty(), "paths"),
            (!self.not_paths.is_empty(), "notPaths"),
        ] {
            if set {
                fields.push(name);
            }
        }
        fields
    }
}

/// An operation's path: Istio's string forms, or an Envoy URI template (`/foo/{*}/bar/{**}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    String(StringMatch),
    Template(Vec<TemplateToken>),
}

/// A URI template cut at its operators: literal text (slashes included), `{*}` and `{**}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateToken {
    Literal(String),
    /// `{*}`: one non-empty path segment.
    One,
    /// `{**}`: any run of characters, slashes included, possibly empty.
    Rest,
}

impl PathPattern {
    /// Cuts a template at its operators; whether it is a valid template is the decoder's business.
    pub fn template(text: &str) -> PathPattern {
        let mut tokens = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = [("{**}", TemplateToken::Rest), ("{*}", TemplateToken::One)]
                .into_iter()
                .filter_map(|(operator, token)| rest.find(operator).map(|at| (at, operator.len(), token)))
                .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, len, token)) => {
                    if at > 0 {
                        tokens.push(TemplateToken::Literal(rest[..at].to_string()));
                    }
                    tokens.push(token);
                    rest = &rest[at + len..];
                }
                None => {
                    tokens.push(TemplateToken::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        PathPattern::Template(tokens)
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::String(string) => string.matches(path),
            PathPattern::Template(tokens) => template_matches(tokens, path),
        }
    }
}

fn template_matches(tokens: &[TemplateToken], path: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else { return path.is_empty() };
    match first {
        TemplateToken::Literal(text) => path.strip_prefix(text.as_str()).is_some_and(|p| template_matches(rest, p)),
        TemplateToken::One => {
            let segment = path.find('/').unwrap_or(path.len());
            (1..=segment).any(|end| template_matches(rest, &path[end..]))
        }
        TemplateToken::Rest => {
            (0..=path.len()).filter(|end| path.is_char_boundary(*end)).any(|end| template_matches(rest, &path[end..]))
        }
    }
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathPattern::String(string) => write!(f, "{string}"),
            PathPattern::Template(tokens) => {
                for token in tokens {
                    match token {
                        TemplateToken::Literal(text) => f.write_str(text)?,
                        TemplateToken::One => f.write_str("{*}")?,
                        TemplateToken::Rest => f.write_str("{**}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// A `when` condition's attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConditionKey {
    /// `request.headers[NAME]`, the name lower-cased.
    RequestHeader(String),
    SourceIp,
    RemoteIp,
    SourceNamespace,
    SourceServiceAccount,
    SourcePrincipal,
    SourceTrustDomain,
    RequestAuthPrincipal,
    RequestAuthAudiences,
    RequestAuthPresenter,
    /// `request.auth.claims[NAME]`.
    RequestAuthClaim(String),
    DestinationIp,
    DestinationPort,
    ConnectionSni,
    /// `experimental.envoy.filters.*`: Envoy metadata netseg cannot see.
    Experimental(String),
}

impl ConditionKey {
    /// Attributes only an HTTP request has (Istio's generators refuse them for TCP filter chains).
    pub fn http_only(&self) -> bool {
        matches!(
            self,
            ConditionKey::RequestHeader(_)
                | ConditionKey::RequestAuthPrincipal
                | ConditionKey::RequestAuthAudiences
                | ConditionKey::RequestAuthPresenter
                | ConditionKey::RequestAuthClaim(_)
        )
    }

    /// The keys ztunnel enforces.
    pub fn ztunnel_supported(&self) -> bool {
        matches!(
            self,
            ConditionKey::SourceIp
                | ConditionKey::SourceNamespace
                | ConditionKey::SourcePrincipal
                | ConditionKey::DestinationIp
                | ConditionKey::DestinationPort
        )
    }

    pub fn field_name(&self) -> &'static str {
        match self {
            ConditionKey::RequestHeader(_) => "when request.headers",
            ConditionKey::SourceIp => "when source.ip",
            ConditionKey::RemoteIp => "when remote.ip",
            ConditionKey::SourceNamespace => "when source.namespace",
            ConditionKey::SourceServiceAccount => "when source.serviceAccount",
            ConditionKey::SourcePrincipal => "when source.principal",
            ConditionKey::SourceTrustDomain => "when source.trustDomain",
            ConditionKey::RequestAuthPrincipal => "when request.auth.principal",
            ConditionKey::RequestAuthAudiences => "when request.auth.audiences",
            ConditionKey::RequestAuthPresenter => "when request.auth.presenter",
            ConditionKey::RequestAuthClaim(_) => "when request.auth.claims",
            ConditionKey::DestinationIp => "when destination.ip",
            ConditionKey::DestinationPort => "when destination.port",
            ConditionKey::ConnectionSni => "when connection.sni",
            ConditionKey::Experimental(_) => "when experimental.envoy.filters",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub key: ConditionKey,
    /// The key as written, for explanations.
    pub key_text: String,
    pub values: Vec<String>,
    pub not_values: Vec<String>,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MtlsMode {
    /// Only mTLS: plaintext connections are refused.
    Strict,
    /// mTLS and plaintext both accepted (Istio's default).
    Permissive,
    /// No mTLS: clients send plaintext, and carry no identity.
    Disable,
}

impl MtlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Disable => "DISABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthentication {
    pub namespace: String,
    pub name: String,
    /// `selector.matchLabels`; `None` (or empty) for a namespace- or mesh-wide policy.
    pub selector: Option<Labels>,
    /// `None`: UNSET, inherit from the parent (workload → namespace → mesh → PERMISSIVE).
    pub mode: Option<MtlsMode>,
    /// `portLevelMtls`, by workload (container) port; `None` is UNSET.
    pub port_level: Vec<(u16, Option<MtlsMode>)>,
    /// `metadata.creationTimestamp` as written: among several workload policies the oldest wins.
    pub created: Option<String>,
    pub ignore: Suppression,
    pub location: Location,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> PathPattern {
        PathPattern::template(text)
    }

    fn service_port(name: Option<&str>, app_protocol: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.map(str::to_string),
            port: 80,
            protocol: Protocol::Tcp,
            target_port: None,
            node_port: None,
            app_protocol: app_protocol.map(str::to_string),
        }
    }

    #[test]
    fn a_service_port_declares_its_protocol_by_app_protocol_then_name_prefix() {
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("http-web"), None)), PortProtocol::Http);
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("grpc"), None)), PortProtocol::Http);
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("tcp-db"), None)), PortProtocol::Tcp);
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("redis"), None)), PortProtocol::Tcp);
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("web"), None)), PortProtocol::Detect);
        assert_eq!(PortProtocol::of_service_port(&service_port(None, None)), PortProtocol::Detect);
        // appProtocol wins over the name.
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("http-web"), Some("tcp"))), PortProtocol::Tcp);
        assert_eq!(PortProtocol::of_service_port(&service_port(Some("db"), Some("HTTP"))), PortProtocol::Http);
    }

    #[test]
    fn uri_templates_match_as_the_istio_reference_says() {
        assert!(template("/foo/{*}").matches("/foo/bar"));
        assert!(!template("/foo/{*}").matches("/foo/bar/baz"));
        assert!(template("/foo/{*}/bar/{**}").matches("/foo/buzz/bar/"));
        assert!(template("/foo/{*}/bar/{**}").matches("/foo/buzz/bar/baz"));
        assert!(template("/foo/{**}").matches("/foo/bar/baz.txt"));
        assert!(!template("/foo/{*}").matches("/foo/"));
        assert!(template("/foo/{**}/").matches("/foo/bar/"));
        assert!(template("/foo/{**}/").matches("/foo//"));
        assert!(!template("/foo/{**}/").matches("/foo/bar"));
        assert_eq!(template("/foo/{*}/bar/{**}").to_string(), "/foo/{*}/bar/{**}");
    }
}
