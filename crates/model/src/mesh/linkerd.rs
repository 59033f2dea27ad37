//! Linkerd's policy objects (`policy.linkerd.io`) and the cluster-wide settings from `linkerd-config`.

use crate::cidr::Cidr;
use crate::kube::{ContainerPort, Location, Namespace, PortRef, Suppression};
use crate::selector::{LabelSelector, Labels};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Linkerd {
    pub servers: Vec<Server>,
    pub server_authorizations: Vec<ServerAuthorization>,
    pub authorization_policies: Vec<AuthorizationPolicy>,
    pub mesh_tls_authentications: Vec<MeshTlsAuthentication>,
    pub network_authentications: Vec<NetworkAuthentication>,
    /// `policy.linkerd.io` HTTPRoutes, and Gateway API HTTPRoutes whose parent is a Linkerd Server.
    pub http_routes: Vec<HttpRoute>,
    pub config: LinkerdConfig,
}

/// What a port with no Server (or a Server's `accessPolicy`) admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefaultPolicy {
    AllUnauthenticated,
    AllAuthenticated,
    ClusterAuthenticated,
    ClusterUnauthenticated,
    Deny,
    /// Allows everything, flagging what a real policy would deny.
    Audit,
}

impl DefaultPolicy {
    pub fn parse(text: &str) -> Option<DefaultPolicy> {
        Some(match text {
            "all-unauthenticated" => DefaultPolicy::AllUnauthenticated,
            "all-authenticated" => DefaultPolicy::AllAuthenticated,
            "cluster-authenticated" => DefaultPolicy::ClusterAuthenticated,
            "cluster-unauthenticated" => DefaultPolicy::ClusterUnauthenticated,
            "deny" => DefaultPolicy::Deny,
            "audit" => DefaultPolicy::Audit,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::AllUnauthenticated => "all-unauthenticated",
            DefaultPolicy::AllAuthenticated => "all-authenticated",
            DefaultPolicy::ClusterAuthenticated => "cluster-authenticated",
            DefaultPolicy::ClusterUnauthenticated => "cluster-unauthenticated",
            DefaultPolicy::Deny => "deny",
            DefaultPolicy::Audit => "audit",
        }
    }

    pub const VALUES: &'static str =
        "all-unauthenticated, all-authenticated, cluster-authenticated, cluster-unauthenticated, deny or audit";
}

/// The annotation that sets the default inbound policy on a pod or a namespace.
/// The ConfigMap (in the `linkerd` namespace) that holds Linkerd's settings.
pub const LINKERD_CONFIG: &str = "linkerd-config";

pub const DEFAULT_INBOUND_POLICY_ANNOTATION: &str = "config.linkerd.io/default-inbound-policy";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkerdConfig {
    /// `proxy.defaultInboundPolicy`: what a port no Server selects admits, unless the pod or its namespace says.
    pub default_inbound_policy: DefaultPolicy,
    /// `identityTrustDomain`, the last part of every identity.
    pub trust_domain: String,
    /// `clusterNetworks`: where `cluster-*` policies admit clients from.
    pub cluster_networks: Vec<Cidr>,
    pub location: Option<Location>,
}

impl LinkerdConfig {
    /// What a port no Server selects admits on a pod with `pod_annotations` in `namespace`: the pod's annotation,
    /// else its namespace's, else the cluster's default; with where that came from, in words.
    pub fn default_policy_for(
        &self,
        pod_annotations: &Labels,
        namespace: Option<&Namespace>,
    ) -> (DefaultPolicy, String) {
        let annotated = |annotations: &Labels| {
            annotations.get(DEFAULT_INBOUND_POLICY_ANNOTATION).and_then(|v| DefaultPolicy::parse(v))
        };
        if let Some(policy) = annotated(pod_annotations) {
            return (policy, format!("the pod's {DEFAULT_INBOUND_POLICY_ANNOTATION} annotation"));
        }
        if let Some((policy, namespace)) = namespace.and_then(|n| Some((annotated(&n.annotations)?, n))) {
            return (policy, format!("namespace {}'s {DEFAULT_INBOUND_POLICY_ANNOTATION} annotation", namespace.name));
        }
        let source = match &self.location {
            Some(location) => format!("the cluster's default (linkerd-config, {location})"),
            None => "the cluster's default (Linkerd's own, all-unauthenticated)".into(),
        };
        (self.default_inbound_policy, source)
    }

    pub const DEFAULT_CLUSTER_NETWORKS: &'static [&'static str] =
        &["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"];
}

impl Default for LinkerdConfig {
    fn default() -> Self {
        LinkerdConfig {
            default_inbound_policy: DefaultPolicy::AllUnauthenticated,
            trust_domain: "cluster.local".into(),
            cluster_networks: Self::DEFAULT_CLUSTER_NETWORKS.iter().filter_map(|c| c.parse().ok()).collect(),
            location: None,
        }
    }
}

impl Server {
    /// Whether the Server selects the pods of `namespace` with `pod_labels` (a Server selects in its own namespace).
    pub fn selects(&self, namespace: &str, pod_labels: &Labels) -> bool {
        self.namespace == namespace && self.pod_selector.as_ref().is_some_and(|s| s.matches(pod_labels))
    }

    /// Whether the Server's `port` is `port` of a pod with `container_ports`: by number, or by the name of a
    /// container port (only ports in the pod spec are considered).
    pub fn names_port(&self, container_ports: &[ContainerPort], port: u16) -> bool {
        match &self.port {
            PortRef::Number(n) => *n == port,
            PortRef::Name(name) => {
                container_ports.iter().any(|p| p.name.as_deref() == Some(name.as_str()) && p.port == port)
            }
        }
    }
}

/// `proxyProtocol`: whether the proxy reads HTTP on the port (and so whether routes can match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyProtocol {
    /// `unknown`: detected per connection.
    Detect,
    Http1,
    Http2,
    Grpc,
    Opaque,
    Tls,
}

impl ProxyProtocol {
    pub fn reads_http(self) -> bool {
        matches!(self, ProxyProtocol::Detect | ProxyProtocol::Http1 | ProxyProtocol::Http2 | ProxyProtocol::Grpc)
    }
}

/// Pods and one port (a number, or a container port name that may resolve to several) of the Server's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// `podSelector`; v1beta3's `externalWorkloadSelector` selects no pod and is `None`.
    pub pod_selector: Option<LabelSelector>,
    pub port: PortRef,
    pub proxy_protocol: ProxyProtocol,
    /// What traffic no authorization admits gets: `deny` unless written.
    pub access_policy: DefaultPolicy,
    pub ignore: Suppression,
    pub location: Location,
}

/// Clients by mTLS identity (with `*` and `*.suffix` forms) and by service account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshTlsClients {
    pub identities: Vec<String>,
    /// `(namespace, name)`.
    pub service_accounts: Vec<(String, String)>,
    /// Every service account of these namespaces (`identityRefs` of kind Namespace).
    pub namespaces: Vec<String>,
    /// TLS without an identity is enough (`unauthenticatedTLS`).
    pub unauthenticated_tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkMatch {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerRef {
    Name(String),
    Selector(LabelSelector),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAuthorization {
    pub namespace: String,
    pub name: String,
    pub server: ServerRef,
    pub server_line: u32,
    /// `None`: `unauthenticated: true`, any client.
    pub mesh_tls: Option<MeshTlsClients>,
    /// `None`: the default (every address).
    pub networks: Option<Vec<NetworkMatch>>,
    pub ignore: Suppression,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationTarget {
    Server(String),
    HttpRoute(String),
    /// Every Server and HTTPRoute of the policy's namespace.
    Namespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationKind {
    MeshTls,
    Network,
    ServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationRef {
    pub kind: AuthenticationKind,
    pub namespace: String,
    pub name: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    pub namespace: String,
    pub name: String,
    pub target: AuthorizationTarget,
    /// All must be satisfied.
    pub required: Vec<AuthenticationRef>,
    pub target_line: u32,
    pub ignore: Suppression,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshTlsAuthentication {
    pub namespace: String,
    pub name: String,
    pub clients: MeshTlsClients,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAuthentication {
    pub namespace: String,
    pub name: String,
    pub networks: Vec<NetworkMatch>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
    /// A regular expression over the whole path (validated when read).
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Lower-cased.
    pub name: String,
    pub value: String,
    /// `RegularExpression` rather than `Exact`.
    pub regex: bool,
}

/// One match of a route rule: every field set must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub path: Option<PathMatch>,
    pub method: Option<String>,
    pub headers: Vec<HeaderMatch>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub namespace: String,
    pub name: String,
    /// The names of the Linkerd Servers it attaches to (parents of other kinds are not inbound routes).
    pub servers: Vec<String>,
    /// `hostnames`; empty matches any.
    pub hostnames: Vec<String>,
    /// Every match of every rule; a request matches the route when it matches one. A rule with no matches
    /// stands for the match-all default (`PathPrefix /`).
    pub matches: Vec<RouteMatch>,
    pub location: Location,
}
