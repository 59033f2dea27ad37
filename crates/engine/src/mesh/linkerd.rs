//! Linkerd's inbound policy, as its reference and its policy controller define it:
//!
//! - A port that no Server selects gets the default inbound policy: the pod's
//!   `config.linkerd.io/default-inbound-policy` annotation, else its namespace's, else the cluster's
//!   (`proxy.defaultInboundPolicy` in linkerd-config; `all-unauthenticated` unless set).
//! - A port a Server selects (its pods, its port by number or container port name) admits only what an
//!   authorization admits (ServerAuthorization, or AuthorizationPolicy on the Server or the namespace), and gives
//!   the rest its `accessPolicy` (`deny` unless set).
//! - HTTPRoutes attached to a Server split its HTTP traffic: a request matches one route (the most specific) and
//!   is admitted only by the authorizations of that route; a request no route matches is refused. Non-HTTP
//!   traffic, and every request when no route is attached, meets the Server's own authorizations.
//! - An authorization admits a client by network (its CIDRs, every address by default) and by authentication:
//!   any client, any meshed client (mTLS), or meshed clients of given identities
//!   (`SA.NS.serviceaccount.identity.linkerd.TRUST_DOMAIN`, `*`, `*.suffix`), service accounts or namespaces.

use super::decision::{Attribute, Clause, Decision, Passability, Pred, Test};
use super::{reference, Client, Context, IdentityTest, Verdict};
use crate::classes::ClassId;
use crate::request::PolicyRef;
use netseg_model::mesh::linkerd::*;
use netseg_model::mesh::{linkerd_identity, MeshKind};
use netseg_model::{Cluster, IpBlock, PortRef};
use std::sync::Arc;

pub(crate) fn address_blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let linkerd = &cluster.mesh.linkerd;
    // The cluster networks matter only to the default policies of meshed pods; without them they would cut the
    // address space (and bring IPv6 in) for nothing.
    let meshed = cluster.workloads.iter().any(|workload| {
        let namespace = cluster.namespace(&workload.id.namespace);
        workload
            .pods
            .iter()
            .any(|pod| netseg_model::mesh::dataplane(&pod.facts, namespace).mesh == Some(MeshKind::Linkerd))
    });
    let mut blocks: Vec<IpBlock> = Vec::new();
    if meshed {
        blocks.extend(linkerd.config.cluster_networks.iter().map(|cidr| IpBlock { cidr: *cidr, except: Vec::new() }));
    }
    let networks = linkerd
        .server_authorizations
        .iter()
        .filter_map(|a| a.networks.as_ref())
        .flatten()
        .chain(linkerd.network_authentications.iter().flat_map(|n| &n.networks));
    blocks.extend(networks.map(|n| IpBlock { cidr: n.cidr, except: n.except.clone() }));
    blocks
}

/// An identity pattern against a client's identity: `*`, `*.suffix` or exact.
pub(crate) fn identity_matches(pattern: &str, identity: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => identity.ends_with(suffix),
        None => pattern == identity,
    }
}

/// The Server for a pod's port: the first by name if several overlap (Linkerd's webhook refuses overlaps).
fn server_for<'c>(context: &'c Context<'_>, class: ClassId, port: u16) -> Option<(usize, &'c Server)> {
    let namespace = context.namespace_of(class);
    let pod = context.class(class);
    context
        .cluster
        .mesh
        .linkerd
        .servers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.selects(namespace, &pod.labels) && s.names_port(&pod.ports, port))
        .min_by(|(_, a), (_, b)| a.name.cmp(&b.name))
}

fn servers_of(context: &Context<'_>, class: ClassId) -> Vec<usize> {
    let namespace = context.namespace_of(class);
    let pod = context.class(class);
    let servers = &context.cluster.mesh.linkerd.servers;
    (0..servers.len()).filter(|&i| servers[i].selects(namespace, &pod.labels)).collect()
}

pub(crate) fn cut_points(context: &Context<'_>, class: ClassId) -> Vec<u16> {
    let pod = context.class(class);
    let mut ports = Vec::new();
    for index in servers_of(context, class) {
        match &context.cluster.mesh.linkerd.servers[index].port {
            PortRef::Number(n) => ports.push(*n),
            PortRef::Name(name) => {
                ports.extend(pod.ports.iter().filter(|p| p.name.as_deref() == Some(name.as_str())).map(|p| p.port))
            }
        }
    }
    ports
}

pub(crate) fn destination_key(context: &Context<'_>, class: ClassId) -> String {
    if context.class(class).dataplane.mesh != Some(MeshKind::Linkerd) {
        return String::new();
    }
    format!("{:?}{:?}", servers_of(context, class), default_policy(context, class))
}

pub(crate) fn unenforced(context: &Context<'_>, class: ClassId) -> Vec<String> {
    servers_of(context, class)
        .into_iter()
        .map(|i| {
            let server = &context.cluster.mesh.linkerd.servers[i];
            format!(
                "Linkerd Server {}/{} ({}) selects this pod, but the pod has no Linkerd proxy ({}): it enforces nothing here",
                server.namespace,
                server.name,
                server.location,
                context.class(class).dataplane.reason
            )
        })
        .collect()
}

pub(crate) fn identity_tests(cluster: &Cluster) -> Vec<IdentityTest> {
    let linkerd = &cluster.mesh.linkerd;
    let mut tests = Vec::new();
    let clients = linkerd
        .server_authorizations
        .iter()
        .filter_map(|a| a.mesh_tls.as_ref())
        .chain(linkerd.mesh_tls_authentications.iter().map(|m| &m.clients));
    for clients in clients {
        tests.extend(clients.identities.iter().map(|i| IdentityTest::LinkerdIdentity(i.clone())));
        tests.extend(
            clients.service_accounts.iter().map(|(ns, sa)| IdentityTest::LinkerdServiceAccount(ns.clone(), sa.clone())),
        );
        tests.extend(clients.namespaces.iter().map(|ns| IdentityTest::LinkerdNamespace(ns.clone())));
    }
    for policy in &linkerd.authorization_policies {
        for reference in policy.required.iter().filter(|r| r.kind == AuthenticationKind::ServiceAccount) {
            tests.push(IdentityTest::LinkerdServiceAccount(reference.namespace.clone(), reference.name.clone()));
        }
    }
    tests
}

/// The default inbound policy of a pod, and where it comes from.
fn default_policy(context: &Context<'_>, class: ClassId) -> (DefaultPolicy, String) {
    let pod = context.class(class);
    context
        .cluster
        .mesh
        .linkerd
        .config
        .default_policy_for(&pod.annotations, context.cluster.namespaces.get(pod.namespace))
}

/// The client as Linkerd's inbound proxy sees it.
struct Peer {
    /// The mTLS identity, for a meshed client.
    identity: Option<String>,
    namespace: Option<String>,
    service_account: Option<String>,
    meshed: bool,
}

fn peer(context: &Context<'_>, client: Client) -> Peer {
    match context.client_class(client) {
        Some((pod, facts)) if pod.dataplane.mesh == Some(MeshKind::Linkerd) => Peer {
            identity: Some(linkerd_identity(
                &context.cluster.mesh.linkerd.config.trust_domain,
                &facts.namespace,
                &pod.service_account,
            )),
            namespace: Some(facts.namespace.clone()),
            service_account: Some(pod.service_account.clone()),
            meshed: true,
        },
        _ => Peer { identity: None, namespace: None, service_account: None, meshed: false },
    }
}

/// Whether the client comes from the cluster's networks: a pod always does (its IP is in the pod network); an
/// address when it falls in `clusterNetworks`.
fn in_cluster_networks(context: &Context<'_>, client: Client) -> bool {
    match client {
        Client::Class(_) => true,
        Client::Address(addr) => context.cluster.mesh.linkerd.config.cluster_networks.iter().any(|c| c.contains(addr)),
    }
}

fn default_admits(context: &Context<'_>, client: Client, policy: DefaultPolicy) -> bool {
    let meshed = peer(context, client).meshed;
    match policy {
        DefaultPolicy::AllUnauthenticated | DefaultPolicy::Audit => true,
        DefaultPolicy::AllAuthenticated => meshed,
        DefaultPolicy::ClusterAuthenticated => meshed && in_cluster_networks(context, client),
        DefaultPolicy::ClusterUnauthenticated => in_cluster_networks(context, client),
        DefaultPolicy::Deny => false,
    }
}

/// Who an authorization admits.
struct Authorization {
    by: PolicyRef,
    /// `None`: any client; `Some`: meshed clients matching these (empty: any meshed client).
    clients: Option<MeshTlsClients>,
    /// `None`: every address.
    networks: Option<Vec<NetworkMatch>>,
}

impl Authorization {
    fn admits(&self, context: &Context<'_>, client: Client) -> bool {
        let peer = peer(context, client);
        let network_ok = match &self.networks {
            None => true,
            Some(networks) => {
                networks.iter().any(|n| context.client_in(client, &IpBlock { cidr: n.cidr, except: n.except.clone() }))
            }
        };
        let identity_ok = match &self.clients {
            None => true,
            Some(_) if !peer.meshed => false,
            Some(clients) => {
                let any = clients.identities.is_empty()
                    && clients.service_accounts.is_empty()
                    && clients.namespaces.is_empty();
                any || clients
                    .identities
                    .iter()
                    .any(|pattern| peer.identity.as_deref().is_some_and(|id| identity_matches(pattern, id)))
                    || clients.service_accounts.iter().any(|(ns, sa)| {
                        peer.namespace.as_deref() == Some(ns.as_str())
                            && peer.service_account.as_deref() == Some(sa.as_str())
                    })
                    || clients.namespaces.iter().any(|ns| peer.namespace.as_deref() == Some(ns.as_str()))
            }
        };
        network_ok && identity_ok
    }
}

/// The authorizations of an AuthorizationPolicy, or `None` when Linkerd ignores it (an authentication it
/// requires does not exist).
fn policy_authorization(context: &Context<'_>, policy: &AuthorizationPolicy) -> Option<Authorization> {
    let linkerd = &context.cluster.mesh.linkerd;
    let mut clients: Option<MeshTlsClients> = None;
    let mut networks: Option<Vec<NetworkMatch>> = None;
    for required in &policy.required {
        match required.kind {
            AuthenticationKind::MeshTls => {
                let found = linkerd
                    .mesh_tls_authentications
                    .iter()
                    .find(|a| a.namespace == required.namespace && a.name == required.name)?;
                clients = Some(found.clients.clone());
            }
            AuthenticationKind::ServiceAccount => {
                clients = Some(MeshTlsClients {
                    service_accounts: vec![(required.namespace.clone(), required.name.clone())],
                    ..MeshTlsClients::default()
                });
            }
            AuthenticationKind::Network => {
                let found = linkerd
                    .network_authentications
                    .iter()
                    .find(|a| a.namespace == required.namespace && a.name == required.name)?;
                networks = Some(found.networks.clone());
            }
        }
    }
    let location = netseg_model::Location { file: policy.location.file.clone(), line: policy.location.line };
    Some(Authorization {
        by: reference("AuthorizationPolicy", &policy.namespace, &policy.name, None, &location),
        clients,
        networks,
    })
}

/// The Server's own authorizations: ServerAuthorizations that select it and AuthorizationPolicies that target it
/// or its namespace.
fn server_authorizations(context: &Context<'_>, server: &Server) -> Vec<Authorization> {
    let linkerd = &context.cluster.mesh.linkerd;
    let mut authorizations = Vec::new();
    for authorization in linkerd.server_authorizations.iter().filter(|a| a.namespace == server.namespace) {
        let selects = match &authorization.server {
            ServerRef::Name(name) => *name == server.name,
            ServerRef::Selector(selector) => selector.matches(&server.labels),
        };
        if selects {
            authorizations.push(Authorization {
                by: reference(
                    "ServerAuthorization",
                    &authorization.namespace,
                    &authorization.name,
                    None,
                    &authorization.location,
                ),
                clients: authorization.mesh_tls.clone(),
                networks: authorization.networks.clone(),
            });
        }
    }
    for policy in linkerd.authorization_policies.iter().filter(|p| p.namespace == server.namespace) {
        let targets = match &policy.target {
            AuthorizationTarget::Server(name) => *name == server.name,
            AuthorizationTarget::Namespace => true,
            AuthorizationTarget::HttpRoute(_) => false,
        };
        if targets {
            authorizations.extend(policy_authorization(context, policy));
        }
    }
    authorizations
}

fn route_authorizations(context: &Context<'_>, route: &HttpRoute) -> Vec<Authorization> {
    context
        .cluster
        .mesh
        .linkerd
        .authorization_policies
        .iter()
        .filter(|p| p.namespace == route.namespace)
        .filter(|p| match &p.target {
            AuthorizationTarget::HttpRoute(name) => *name == route.name,
            AuthorizationTarget::Namespace => true,
            AuthorizationTarget::Server(_) => false,
        })
        .filter_map(|p| policy_authorization(context, p))
        .collect()
}

pub(crate) fn verdict(context: &Context<'_>, client: Client, destination: ClassId, port: u16) -> Verdict {
    let Some((_, server)) = server_for(context, destination, port) else {
        let (policy, source) = default_policy(context, destination);
        return if default_admits(context, client, policy) {
            let decision = Decision::allow(format!(
                "no Server selects the port; the default inbound policy {} ({source}) admits the client",
                policy.as_str()
            ));
            Verdict::Decided { decision: Arc::new(decision), passability: Passability::All }
        } else {
            Verdict::Refused {
                why: format!(
                    "no Server selects the port, and the default inbound policy {} ({source}) does not admit the client{}",
                    policy.as_str(),
                    client_words(context, client)
                ),
                by: None,
            }
        };
    };
    let server_ref = reference("Server", &server.namespace, &server.name, None, &server.location);
    let tcp = connection_decision(context, client, server, &server_authorizations(context, server));
    let routes: Vec<&HttpRoute> = context
        .cluster
        .mesh
        .linkerd
        .http_routes
        .iter()
        .filter(|r| r.namespace == server.namespace && r.servers.contains(&server.name))
        .collect();
    let decision = if routes.is_empty() || !server.proxy_protocol.reads_http() {
        tcp
    } else {
        let http = routes_decision(context, client, server, &server_ref, routes);
        match server.proxy_protocol {
            ProxyProtocol::Detect => Decision::FirstMatch {
                clauses: vec![(
                    Clause {
                        by: server_ref.clone(),
                        pred: Pred::test(Attribute::Protocol, Test::Exact("http".into())),
                        text: "over HTTP".into(),
                    },
                    http,
                )],
                otherwise: Box::new(tcp),
            },
            _ => http,
        }
    };
    let passability = decision.passability();
    Verdict::Decided { decision: Arc::new(decision), passability }
}

fn client_words(context: &Context<'_>, client: Client) -> String {
    match context.client_class(client) {
        None => " (an address outside the cluster)".into(),
        Some((pod, _)) if pod.dataplane.mesh == Some(MeshKind::Linkerd) => String::new(),
        Some((pod, _)) => format!(" (it has no Linkerd proxy: {})", pod.dataplane.reason),
    }
}

/// Traffic on the Server that no route splits: admitted by an authorization, else the Server's accessPolicy.
fn connection_decision(
    context: &Context<'_>,
    client: Client,
    server: &Server,
    authorizations: &[Authorization],
) -> Decision {
    if let Some(authorization) = authorizations.iter().find(|a| a.admits(context, client)) {
        return Decision::Allow {
            by: Some(authorization.by.clone()),
            why: format!("authorized by {}", authorization.by),
        };
    }
    let server_ref = reference("Server", &server.namespace, &server.name, None, &server.location);
    if default_admits(context, client, server.access_policy) {
        return Decision::Allow {
            by: Some(server_ref.clone()),
            why: format!(
                "no authorization admits the client, and {server_ref} has accessPolicy {}",
                server.access_policy.as_str()
            ),
        };
    }
    let tried = if authorizations.is_empty() {
        "no authorization targets it".to_string()
    } else {
        format!(
            "none of its authorizations ({}) admits the client{}",
            names(authorizations),
            client_words(context, client)
        )
    };
    Decision::deny(Some(server_ref.clone()), format!("{server_ref} selects the port and {tried}"))
}

fn names(authorizations: &[Authorization]) -> String {
    authorizations.iter().map(|a| format!("{} {}", a.by.kind, a.by.name)).collect::<Vec<_>>().join(", ")
}

/// HTTP traffic on a Server with routes: the most specific matching route decides; no route, no request.
fn routes_decision(
    context: &Context<'_>,
    client: Client,
    server: &Server,
    server_ref: &PolicyRef,
    routes: Vec<&HttpRoute>,
) -> Decision {
    // Every match of every route, most specific first (Gateway API precedence: exact paths, then longer
    // prefixes, then a method, then more headers).
    let mut matches: Vec<(&HttpRoute, &RouteMatch)> =
        routes.iter().flat_map(|r| r.matches.iter().map(move |m| (*r, m))).collect();
    matches.sort_by_key(|(route, m)| {
        let (kind, length) = match &m.path {
            Some(PathMatch::Exact(p)) => (0, usize::MAX - p.len()),
            Some(PathMatch::Prefix(p)) => (1, usize::MAX - p.len()),
            Some(PathMatch::Regex(p)) => (2, usize::MAX - p.len()),
            None => (1, usize::MAX - 1),
        };
        (kind, length, m.method.is_none(), usize::MAX - m.headers.len(), route.name.clone())
    });
    let clauses = matches
        .into_iter()
        .map(|(route, m)| {
            let location = netseg_model::Location { file: route.location.file.clone(), line: m.line };
            let by = reference("HTTPRoute", &route.namespace, &route.name, None, &location);
            let pred = route_match_pred(route, m);
            let authorizations = route_authorizations(context, route);
            let decision = match authorizations.iter().find(|a| a.admits(context, client)) {
                Some(a) => Decision::Allow { by: Some(a.by.clone()), why: format!("authorized by {} on {by}", a.by) },
                None => Decision::deny(
                    Some(by.clone()),
                    if authorizations.is_empty() {
                        format!("no authorization targets {by}")
                    } else {
                        format!(
                            "none of {by}'s authorizations ({}) admits the client{}",
                            names(&authorizations),
                            client_words(context, client)
                        )
                    },
                ),
            };
            (Clause { by, pred, text: describe_match(m) }, decision)
        })
        .collect();
    let _ = server;
    Decision::FirstMatch {
        clauses,
        otherwise: Box::new(Decision::deny(
            Some(server_ref.clone()),
            format!("no HTTPRoute of {server_ref} matches the request (404)"),
        )),
    }
}

fn route_match_pred(route: &HttpRoute, m: &RouteMatch) -> Pred {
    let mut parts = Vec::new();
    if !route.hostnames.is_empty() {
        parts.push(Pred::any(
            route
                .hostnames
                .iter()
                .map(|h| match h.strip_prefix('*') {
                    Some(suffix) => Pred::test(Attribute::Host, Test::Suffix(suffix.to_string())),
                    None => Pred::test(Attribute::Host, Test::Exact(h.clone())),
                })
                .collect(),
        ));
    }
    match &m.path {
        Some(PathMatch::Exact(p)) => parts.push(Pred::test(Attribute::Path, Test::Exact(p.clone()))),
        Some(PathMatch::Prefix(p)) => parts.push(Pred::test(Attribute::Path, Test::PathElements(p.clone()))),
        Some(PathMatch::Regex(p)) => match regex::Regex::new(p) {
            Ok(re) => parts.push(Pred::test(Attribute::Path, Test::Regex(re))),
            // Linkerd ignores a route whose expression does not compile.
            Err(_) => return Pred::False,
        },
        None => {}
    }
    if let Some(method) = &m.method {
        parts.push(Pred::test(Attribute::Method, Test::Exact(method.clone())));
    }
    for header in &m.headers {
        let test = if header.regex {
            match regex::Regex::new(&header.value) {
                Ok(re) => Test::Regex(re),
                Err(_) => return Pred::False,
            }
        } else {
            Test::Exact(header.value.clone())
        };
        parts.push(Pred::test(Attribute::Header(header.name.clone()), test));
    }
    Pred::all(parts)
}

fn describe_match(m: &RouteMatch) -> String {
    let mut words = Vec::new();
    if let Some(method) = &m.method {
        words.push(method.clone());
    }
    match &m.path {
        Some(PathMatch::Exact(p)) => words.push(p.clone()),
        Some(PathMatch::Prefix(p)) => words.push(format!("{p}*")),
        Some(PathMatch::Regex(p)) => words.push(format!("path ~ {p}")),
        None => {}
    }
    for header in &m.headers {
        words.push(format!("{}: {}", header.name, header.value));
    }
    if words.is_empty() {
        "any request".into()
    } else {
        words.join(" ")
    }
}
