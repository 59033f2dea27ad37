//! A brute-force evaluator of the service-mesh layer, written from the Istio and Linkerd documentation, for
//! random small clusters held as plain structs. It shares nothing with the engine: not the model, not the parser.
//!
//! What it reads from the docs:
//! - Istio sidecar injection: `istio-injection` on the namespace and `sidecar.istio.io/inject` on the pod; either
//!   saying no wins, then either saying yes injects ("Controlling the injection policy").
//! - Linkerd injection: `linkerd.io/inject` on the namespace, overridden by the pod's.
//! - Excluded inbound ports (`traffic.sidecar.istio.io/excludeInboundPorts`, `config.linkerd.io/skip-inbound-ports`)
//!   never reach the proxy.
//! - PeerAuthentication: the workload's policy (its port-level mode first), then the namespace's, then the mesh's
//!   (root namespace), each `UNSET` handing on to the next; PERMISSIVE when none says. An Istio client sends mTLS
//!   unless the destination's mode is DISABLE (auto mTLS); STRICT refuses plaintext; plaintext has no principal and
//!   no namespace.
//! - AuthorizationPolicy: policies in the pod's namespace and the root namespace whose selector matches; CUSTOM, then
//!   DENY, then ALLOW; an ALLOW policy that applies and matches nothing denies; no rules matches nothing;
//!   `principals` and `namespaces` need mTLS, their `not` forms match plaintext; on TCP traffic an ALLOW rule with an
//!   HTTP-only field (methods) is ignored and a DENY rule drops the HTTP-only field; an external authorizer's answer
//!   is unknown.
//! - Linkerd: a port no Server selects gets the default inbound policy (pod annotation, else namespace, else
//!   all-unauthenticated); a Server's port admits what an AuthorizationPolicy targeting it (or its namespace)
//!   authenticates, all of its required authentications at once, and nothing else (`accessPolicy` defaults to deny).
//! - The network: Kubernetes NetworkPolicies, egress of the source AND ingress of the destination; the mesh decides
//!   after that, at the destination.

pub const NAMESPACES: [&str; 2] = ["n0", "n1"];
pub const ROOT: &str = "istio-system";
pub const APPS: [&str; 2] = ["a", "b"];
pub const ACCOUNTS: [&str; 2] = ["s0", "s1"];
/// Declared by every Service as `http-web`: Istio treats it as HTTP.
pub const HTTP_PORT: u16 = 80;
/// Declared by every Service as `tcp-raw`: Istio treats it as TCP.
pub const TCP_PORT: u16 = 8080;
pub const PORTS: [u16; 2] = [HTTP_PORT, TCP_PORT];
/// Rules name only the first two; the third stands for every method no rule names.
pub const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
/// An address outside every cluster network.
pub const OUTSIDE: &str = "203.0.113.9";
pub const PRINCIPALS: [&str; 5] =
    ["cluster.local/ns/n0/sa/s0", "cluster.local/ns/n1/sa/s1", "*", "cluster.local/ns/n0/*", "*/sa/s1"];
pub const NAMESPACE_PATTERNS: [&str; 4] = ["n0", "n1", "*", "*1"];
pub const CIDRS: [&str; 3] = ["0.0.0.0/0", "203.0.113.0/24", "10.1.0.0/16"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    Istio,
    Linkerd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPolicy {
    AllUnauthenticated,
    AllAuthenticated,
    ClusterAuthenticated,
    ClusterUnauthenticated,
    Deny,
}

impl DefaultPolicy {
    pub fn name(self) -> &'static str {
        match self {
            DefaultPolicy::AllUnauthenticated => "all-unauthenticated",
            DefaultPolicy::AllAuthenticated => "all-authenticated",
            DefaultPolicy::ClusterAuthenticated => "cluster-authenticated",
            DefaultPolicy::ClusterUnauthenticated => "cluster-unauthenticated",
            DefaultPolicy::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NamespaceSpec {
    /// `istio-injection: enabled|disabled` or `linkerd.io/inject: enabled|disabled`.
    pub inject: Option<(Mesh, bool)>,
    pub linkerd_default: Option<DefaultPolicy>,
}

#[derive(Debug, Clone)]
pub struct PodSpec {
    pub namespace: usize,
    pub app: usize,
    pub account: usize,
    /// `sidecar.istio.io/inject: "true"|"false"` (label) or `linkerd.io/inject: enabled|disabled` (annotation).
    pub inject: Option<(Mesh, bool)>,
    /// The TCP port is excluded from the proxy's inbound capture.
    pub exclude_tcp: bool,
    pub linkerd_default: Option<DefaultPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Custom,
    Audit,
}

#[derive(Debug, Clone, Default)]
pub struct Source {
    pub principals: Option<Vec<&'static str>>,
    pub not_principals: Option<Vec<&'static str>>,
    pub namespaces: Option<Vec<&'static str>>,
    pub not_namespaces: Option<Vec<&'static str>>,
    /// The client's address in one of these blocks.
    pub ip_blocks: Option<Vec<&'static str>>,
    pub not_ip_blocks: Option<Vec<&'static str>>,
}

#[derive(Debug, Clone, Default)]
pub struct Operation {
    pub ports: Option<Vec<u16>>,
    pub not_ports: Option<Vec<u16>>,
    pub methods: Option<Vec<&'static str>>,
    pub not_methods: Option<Vec<&'static str>>,
}

impl Operation {
    fn has_http_field(&self) -> bool {
        self.methods.is_some() || self.not_methods.is_some()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub from: Option<Vec<Source>>,
    pub to: Option<Vec<Operation>>,
}

#[derive(Debug, Clone)]
pub struct AuthorizationPolicy {
    /// `None`: the root namespace.
    pub namespace: Option<usize>,
    pub selector: Option<usize>,
    pub action: Action,
    /// `None`: no `rules` field.
    pub rules: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unset,
    Strict,
    Permissive,
    Disable,
}

#[derive(Debug, Clone)]
pub struct PeerAuthentication {
    /// `None`: the root namespace (mesh-wide; never with a selector here).
    pub namespace: Option<usize>,
    pub selector: Option<usize>,
    pub mode: Mode,
    /// `portLevelMtls` for one port (only with a selector, as Istio requires).
    pub port: Option<(u16, Mode)>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub namespace: usize,
    pub selector: Option<usize>,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub enum Identity {
    /// `identities: ["*"]`.
    Any,
    /// `identities: [SA.NS.serviceaccount.identity.linkerd.cluster.local]`.
    Exact { namespace: usize, account: usize },
    /// `identityRefs: [{kind: ServiceAccount, name, namespace?}]`.
    Ref { account: usize, namespace: Option<usize> },
}

#[derive(Debug, Clone)]
pub enum Authentication {
    MeshTls(Vec<Identity>),
    Network(&'static str),
}

#[derive(Debug, Clone)]
pub struct LinkerdPolicy {
    pub namespace: usize,
    /// `Some(k)`: the k-th Server of the namespace (modulo their number); `None`, or no Server: the Namespace.
    pub server: Option<usize>,
    pub required: Vec<Authentication>,
}

/// A NetworkPolicy rule: peers by `app` in the policy's namespace (`None`: any pod of it), and a TCP port.
pub type NetpolRule = (Option<usize>, Option<u16>);

#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    pub namespace: usize,
    pub subject: Option<usize>,
    /// policyTypes Ingress, Egress.
    pub types: [bool; 2],
    pub rules: [Option<NetpolRule>; 2],
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub namespaces: [NamespaceSpec; 2],
    pub pods: Vec<PodSpec>,
    pub authorization: Vec<AuthorizationPolicy>,
    pub peer_authentication: Vec<PeerAuthentication>,
    pub servers: Vec<Server>,
    pub linkerd: Vec<LinkerdPolicy>,
    pub netpols: Vec<NetworkPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Pod(usize),
    Outside,
}

/// What a request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    /// An external authorizer decides.
    Unknown,
}

impl Spec {
    pub fn mesh_of(&self, pod: usize) -> Option<Mesh> {
        let pod = &self.pods[pod];
        let namespace = &self.namespaces[pod.namespace];
        let says = |mesh: Mesh, inject: Option<(Mesh, bool)>| inject.filter(|(m, _)| *m == mesh).map(|(_, on)| on);
        let (ns_istio, pod_istio) = (says(Mesh::Istio, namespace.inject), says(Mesh::Istio, pod.inject));
        if ns_istio != Some(false) && pod_istio != Some(false) && (ns_istio == Some(true) || pod_istio == Some(true)) {
            return Some(Mesh::Istio);
        }
        let linkerd = says(Mesh::Linkerd, pod.inject).or(says(Mesh::Linkerd, namespace.inject));
        (linkerd == Some(true)).then_some(Mesh::Linkerd)
    }

    pub fn ip(&self, end: End) -> String {
        match end {
            End::Pod(p) => format!("10.1.0.{}", p + 1),
            End::Outside => OUTSIDE.to_string(),
        }
    }

    fn selects(&self, namespace: Option<usize>, selector: Option<usize>, pod: usize) -> bool {
        let pod = &self.pods[pod];
        namespace.is_none_or(|ns| ns == pod.namespace) && selector.is_none_or(|app| app == pod.app)
    }

    // -------------------------------------------------------------------------------------------------------------
    // The network
    // -------------------------------------------------------------------------------------------------------------

    fn network_side(&self, subject: usize, other: End, direction: usize, port: u16) -> bool {
        let pod = &self.pods[subject];
        let policies: Vec<&NetworkPolicy> = self
            .netpols
            .iter()
            .filter(|n| n.types[direction] && n.namespace == pod.namespace && n.subject.is_none_or(|a| a == pod.app))
            .collect();
        if policies.is_empty() {
            return true;
        }
        policies.iter().any(|n| match n.rules[direction] {
            None => false,
            Some((app, rule_port)) => {
                let peer = match other {
                    End::Pod(o) => self.pods[o].namespace == n.namespace && app.is_none_or(|a| a == self.pods[o].app),
                    End::Outside => false,
                };
                peer && rule_port.is_none_or(|p| p == port)
            }
        })
    }

    pub fn network(&self, src: End, dst: usize, port: u16) -> bool {
        let egress = match src {
            End::Pod(s) => self.network_side(s, End::Pod(dst), 1, port),
            End::Outside => true,
        };
        egress && self.network_side(dst, src, 0, port)
    }

    // -------------------------------------------------------------------------------------------------------------
    // The mesh
    // -------------------------------------------------------------------------------------------------------------

    /// Whether the destination's proxy sees the port at all.
    pub fn captured(&self, dst: usize, port: u16) -> bool {
        self.mesh_of(dst).is_some() && !(port == TCP_PORT && self.pods[dst].exclude_tcp)
    }

    /// What the destination's mesh makes of one request (`None` for a TCP port or a request not named).
    pub fn mesh(&self, src: End, dst: usize, port: u16, method: Option<&str>) -> Outcome {
        if !self.captured(dst, port) {
            return Outcome::Allowed;
        }
        match self.mesh_of(dst) {
            Some(Mesh::Istio) => self.istio(src, dst, port, method),
            Some(Mesh::Linkerd) => self.linkerd(src, dst, port),
            None => Outcome::Allowed,
        }
    }

    /// Whether some request passes the mesh (an unknown one counts: it may).
    pub fn passable(&self, src: End, dst: usize, port: u16) -> bool {
        if port == HTTP_PORT {
            METHODS.iter().any(|m| self.mesh(src, dst, port, Some(m)) != Outcome::Denied)
        } else {
            self.mesh(src, dst, port, None) != Outcome::Denied
        }
    }

    fn mtls_mode(&self, dst: usize, port: u16) -> Mode {
        let pod = &self.pods[dst];
        let workload = self.peer_authentication.iter().find(|p| {
            p.namespace == Some(pod.namespace) && p.selector.is_some() && self.selects(p.namespace, p.selector, dst)
        });
        let namespace =
            self.peer_authentication.iter().find(|p| p.namespace == Some(pod.namespace) && p.selector.is_none());
        let mesh = self.peer_authentication.iter().find(|p| p.namespace.is_none());
        let mut modes = Vec::new();
        if let Some(w) = workload {
            if let Some((p, mode)) = w.port {
                if p == port {
                    modes.push(mode);
                }
            }
            modes.push(w.mode);
        }
        modes.extend(namespace.map(|p| p.mode));
        modes.extend(mesh.map(|p| p.mode));
        modes.into_iter().find(|m| *m != Mode::Unset).unwrap_or(Mode::Permissive)
    }

    fn istio(&self, src: End, dst: usize, port: u16, method: Option<&str>) -> Outcome {
        let mode = self.mtls_mode(dst, port);
        // The client's identity as the destination's sidecar sees it: only over Istio mTLS.
        let peer = match src {
            End::Pod(s) if self.mesh_of(s) == Some(Mesh::Istio) && mode != Mode::Disable => {
                let pod = &self.pods[s];
                Some((NAMESPACES[pod.namespace], ACCOUNTS[pod.account]))
            }
            _ => None,
        };
        if mode == Mode::Strict && peer.is_none() {
            return Outcome::Denied;
        }
        let http = port == HTTP_PORT;
        let method = if http { method } else { None };
        let applying: Vec<&AuthorizationPolicy> =
            self.authorization.iter().filter(|p| self.selects(p.namespace, p.selector, dst)).collect();
        let address = self.ip(src);
        let hits = |action: Action| {
            applying.iter().filter(|p| p.action == action).any(|p| {
                p.rules
                    .iter()
                    .flatten()
                    .any(|rule| istio_rule_matches(rule, action, peer, &address, port, http, method))
            })
        };
        let rest = if hits(Action::Deny) {
            Outcome::Denied
        } else if !applying.iter().any(|p| p.action == Action::Allow) || hits(Action::Allow) {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        if hits(Action::Custom) && rest != Outcome::Denied {
            Outcome::Unknown
        } else {
            rest
        }
    }

    fn linkerd(&self, src: End, dst: usize, port: u16) -> Outcome {
        let peer = match src {
            End::Pod(s) if self.mesh_of(s) == Some(Mesh::Linkerd) => {
                Some((self.pods[s].namespace, self.pods[s].account))
            }
            _ => None,
        };
        // Pods hold addresses in the pod network, which the default cluster networks contain.
        let in_cluster = matches!(src, End::Pod(_));
        let pod = &self.pods[dst];
        let server = self.servers.iter().position(|s| {
            s.port == port && s.namespace == pod.namespace && self.selects(Some(s.namespace), s.selector, dst)
        });
        let Some(server) = server else {
            let policy = pod
                .linkerd_default
                .or(self.namespaces[pod.namespace].linkerd_default)
                .unwrap_or(DefaultPolicy::AllUnauthenticated);
            let admitted = match policy {
                DefaultPolicy::AllUnauthenticated => true,
                DefaultPolicy::AllAuthenticated => peer.is_some(),
                DefaultPolicy::ClusterAuthenticated => peer.is_some() && in_cluster,
                DefaultPolicy::ClusterUnauthenticated => in_cluster,
                DefaultPolicy::Deny => false,
            };
            return if admitted { Outcome::Allowed } else { Outcome::Denied };
        };
        let namespace = self.servers[server].namespace;
        let authorized = self.linkerd.iter().any(|policy| {
            policy.namespace == namespace
                && self.linkerd_target(policy).is_none_or(|target| target == server)
                && policy.required.iter().all(|authn| match authn {
                    Authentication::MeshTls(identities) => peer.is_some_and(|(ns, sa)| {
                        identities.iter().any(|identity| match *identity {
                            Identity::Any => true,
                            Identity::Exact { namespace, account } => namespace == ns && account == sa,
                            Identity::Ref { account, namespace } => {
                                account == sa && namespace.unwrap_or(policy.namespace) == ns
                            }
                        })
                    }),
                    Authentication::Network(cidr) => cidr_contains(cidr, &self.ip(src)),
                })
        });
        if authorized {
            Outcome::Allowed
        } else {
            Outcome::Denied
        }
    }

    /// The Server a Linkerd policy targets; `None`: its namespace.
    pub fn linkerd_target(&self, policy: &LinkerdPolicy) -> Option<usize> {
        let servers: Vec<usize> =
            (0..self.servers.len()).filter(|&s| self.servers[s].namespace == policy.namespace).collect();
        let k = policy.server?;
        (!servers.is_empty()).then(|| servers[k % servers.len()])
    }

    /// The full answer for one named request (or, for `None`, a connection that carries no HTTP).
    pub fn expected(&self, src: End, dst: usize, port: u16, method: Option<&str>) -> Outcome {
        if !self.network(src, dst, port) {
            return Outcome::Denied;
        }
        self.mesh(src, dst, port, method)
    }
}

/// Istio's string match: exact, `prefix*`, `*suffix`, `*`.
fn istio_matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    pattern == value
}

fn istio_rule_matches(
    rule: &Rule,
    action: Action,
    peer: Option<(&str, &str)>,
    address: &str,
    port: u16,
    http: bool,
    method: Option<&str>,
) -> bool {
    let http_fields = rule.to.iter().flatten().any(Operation::has_http_field);
    if !http && http_fields && action == Action::Allow {
        return false;
    }
    let principal = peer.map(|(ns, sa)| format!("cluster.local/ns/{ns}/sa/{sa}"));
    let namespace = peer.map(|(ns, _)| ns);
    let any = |list: &Option<Vec<&str>>, value: Option<&str>| {
        list.as_ref().map(|list| value.is_some_and(|v| list.iter().any(|p| istio_matches(p, v))))
    };
    let in_blocks = |list: &Option<Vec<&str>>| list.as_ref().map(|list| list.iter().any(|b| cidr_contains(b, address)));
    let source_matches = |source: &Source| {
        in_blocks(&source.ip_blocks).unwrap_or(true)
            && !in_blocks(&source.not_ip_blocks).unwrap_or(false)
            && any(&source.principals, principal.as_deref()).unwrap_or(true)
            && !any(&source.not_principals, principal.as_deref()).unwrap_or(false)
            && any(&source.namespaces, namespace).unwrap_or(true)
            && !any(&source.not_namespaces, namespace).unwrap_or(false)
    };
    let method_in = |list: &Vec<&str>| method.is_some_and(|m| list.contains(&m));
    let operation_matches = |op: &Operation| {
        op.ports.as_ref().is_none_or(|ports| ports.contains(&port))
            && !op.not_ports.as_ref().is_some_and(|ports| ports.contains(&port))
            // On TCP traffic a DENY (or CUSTOM) rule drops the HTTP-only fields.
            && (!http || op.methods.as_ref().is_none_or(method_in))
            && (!http || !op.not_methods.as_ref().is_some_and(method_in))
    };
    rule.from.as_ref().is_none_or(|sources| sources.iter().any(source_matches))
        && rule.to.as_ref().is_none_or(|ops| ops.iter().any(operation_matches))
}

fn cidr_contains(cidr: &str, address: &str) -> bool {
    let parse =
        |text: &str| -> u32 { text.split('.').fold(0u32, |acc, octet| (acc << 8) | octet.parse::<u32>().unwrap_or(0)) };
    let (base, bits) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let bits: u32 = bits.parse().unwrap_or(32);
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    parse(base) & mask == parse(address) & mask
}
