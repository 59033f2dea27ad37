//! Istio's authorization, exactly as its reference documents it (and `pilot/pkg/security/authz` builds it):
//!
//! - A policy applies to the workloads of its namespace that its `selector` selects (all of them without one);
//!   in the root namespace, to the workloads of every namespace. `targetRefs` policies apply at waypoints (and
//!   gateways), never at sidecars. `istio.io/dry-run` policies are never enforced.
//! - CUSTOM first (an external authorizer whose verdict netseg cannot know), then DENY, then ALLOW: a request a
//!   DENY rule matches is denied; if no ALLOW policy applies it is allowed; if one does, it is allowed only when
//!   some ALLOW rule matches (`spec: {}` allows nothing, `rules: [{}]` everything). AUDIT changes nothing.
//! - On TCP traffic (a port declared TCP, or non-HTTP traffic on a port Istio detects), an ALLOW rule that uses
//!   an HTTP attribute never matches, and a DENY rule is applied without its HTTP attributes, so it denies more.
//! - PeerAuthentication: the workload's policy (the oldest, if several), else the namespace's, else the mesh's
//!   (root namespace), else PERMISSIVE; `portLevelMtls` per container port; UNSET inherits. A client without an
//!   Istio proxy sends plaintext (STRICT refuses it; PERMISSIVE accepts it with no principal and no namespace);
//!   under DISABLE every client sends plaintext.
//! - Ambient: ztunnel enforces the L4 part (an ALLOW rule with an L7 attribute never matches; a DENY rule drops
//!   it, and a source or operation left empty matches nothing), and ignores CUSTOM and AUDIT. With a waypoint,
//!   requests through it meet the waypoint's (`targetRefs`) policies with full L7 semantics, and the pod's ztunnel
//!   sees the waypoint's identity; a client may also connect to the pod's address directly.

use super::decision::{Attribute, Clause, Decision, Passability, Pred, Test};
use super::{reference, Client, Context, IdentityTest, Verdict};
use crate::classes::ClassId;
use crate::request::PolicyRef;
use netseg_model::mesh::istio::*;
use netseg_model::mesh::{glob_matches, istio_principal, MeshKind, StringMatch};
use netseg_model::{Cidr, Cluster, IpBlock, Location};
use std::sync::Arc;

const KIND: &str = "AuthorizationPolicy";

fn block(cidr: Cidr) -> IpBlock {
    IpBlock { cidr, except: Vec::new() }
}

/// The addresses Istio rules test: source, remote and destination blocks.
pub(crate) fn address_blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let mut blocks = Vec::new();
    for policy in &cluster.mesh.istio.authorization_policies {
        for rule in &policy.rules {
            for source in &rule.from {
                let all =
                    [&source.ip_blocks, &source.not_ip_blocks, &source.remote_ip_blocks, &source.not_remote_ip_blocks];
                blocks.extend(all.into_iter().flatten().copied().map(block));
            }
            for condition in &rule.when {
                if matches!(
                    condition.key,
                    ConditionKey::SourceIp | ConditionKey::RemoteIp | ConditionKey::DestinationIp
                ) {
                    let values = condition.values.iter().chain(&condition.not_values);
                    blocks.extend(values.filter_map(|v| ip_or_cidr(v)).map(block));
                }
            }
        }
    }
    blocks
}

fn ip_or_cidr(text: &str) -> Option<Cidr> {
    if text.contains('/') {
        text.parse().ok()
    } else {
        let addr: std::net::IpAddr = text.parse().ok()?;
        Some(Cidr { network: addr, prefix: Cidr::max_prefix(addr) })
    }
}

/// Whether a policy applies to the class by its namespace and selector (not `targetRefs`).
fn selects(context: &Context<'_>, policy: &AuthorizationPolicy, class: ClassId) -> bool {
    let root = &context.cluster.mesh.istio.config.root_namespace;
    policy.applies_to(root, context.namespace_of(class), &context.class(class).labels)
}

/// The `targetRefs` policies enforced by the class's waypoint: those naming the waypoint Gateway, a Service that
/// selects the pod, or (in the root namespace) the `istio-waypoint` GatewayClass.
fn waypoint_policies(context: &Context<'_>, class: ClassId) -> Vec<usize> {
    let Some(waypoint) = &context.class(class).dataplane.waypoint else { return Vec::new() };
    let (waypoint_ns, waypoint_name) = waypoint.split_once('/').unwrap_or(("", waypoint));
    let namespace = context.namespace_of(class);
    let services: Vec<&str> =
        context.facts[class].services.iter().map(|&s| context.cluster.services[s].name.as_str()).collect();
    let root = &context.cluster.mesh.istio.config.root_namespace;
    let policies = &context.cluster.mesh.istio.authorization_policies;
    (0..policies.len())
        .filter(|&index| {
            let policy = &policies[index];
            let PolicyTarget::TargetRefs(refs) = &policy.target else { return false };
            refs.iter().any(|r| match (r.group.as_str(), r.kind.as_str()) {
                ("gateway.networking.k8s.io", "Gateway") => policy.namespace == waypoint_ns && r.name == waypoint_name,
                ("gateway.networking.k8s.io", "GatewayClass") => {
                    policy.namespace == *root && r.name == "istio-waypoint"
                }
                ("" | "core", "Service") => policy.namespace == namespace && services.contains(&r.name.as_str()),
                _ => false,
            })
        })
        .collect()
}

fn applicable(context: &Context<'_>, class: ClassId) -> Vec<usize> {
    let policies = &context.cluster.mesh.istio.authorization_policies;
    (0..policies.len()).filter(|&i| selects(context, &policies[i], class)).collect()
}

pub(crate) fn destination_key(context: &Context<'_>, class: ClassId) -> String {
    if context.class(class).dataplane.mesh != Some(MeshKind::Istio) {
        return String::new();
    }
    let peers: Vec<usize> = peer_policies(context, class).iter().flatten().map(|(i, _)| *i).collect();
    format!("{:?}{:?}{:?}", applicable(context, class), waypoint_policies(context, class), peers)
}

pub(crate) fn cut_points(context: &Context<'_>, class: ClassId) -> Vec<u16> {
    let policies = &context.cluster.mesh.istio.authorization_policies;
    let mut ports = Vec::new();
    for index in applicable(context, class).into_iter().chain(waypoint_policies(context, class)) {
        for rule in &policies[index].rules {
            for operation in &rule.to {
                ports.extend(operation.ports.iter().chain(&operation.not_ports));
            }
            for condition in rule.when.iter().filter(|c| c.key == ConditionKey::DestinationPort) {
                ports
                    .extend(condition.values.iter().chain(&condition.not_values).filter_map(|v| v.parse::<u16>().ok()));
            }
        }
    }
    for (_, policy) in peer_policies(context, class).iter().flatten() {
        ports.extend(policy.port_level.iter().map(|(port, _)| *port));
    }
    ports.retain(|p| *p > 0);
    ports
}

/// Policies that select a pod outside the mesh, which enforce nothing there.
pub(crate) fn unenforced(context: &Context<'_>, class: ClassId) -> Vec<String> {
    let policies = &context.cluster.mesh.istio.authorization_policies;
    applicable(context, class)
        .into_iter()
        .filter(|&i| matches!(policies[i].target, PolicyTarget::Selector(ref labels) if !labels.is_empty()))
        .map(|i| {
            let policy = &policies[i];
            format!(
                "Istio {KIND} {}/{} ({}) selects this pod, but the pod has no Istio proxy ({}): it enforces nothing here",
                policy.namespace,
                policy.name,
                policy.location,
                context.class(class).dataplane.reason
            )
        })
        .collect()
}

pub(crate) fn identity_tests(cluster: &Cluster) -> Vec<IdentityTest> {
    let mut tests = Vec::new();
    for policy in &cluster.mesh.istio.authorization_policies {
        for rule in &policy.rules {
            for source in &rule.from {
                for m in source.principals.iter().chain(&source.not_principals) {
                    tests.push(IdentityTest::IstioPrincipal(m.clone()));
                }
                for glob in source.namespaces.iter().chain(&source.not_namespaces) {
                    tests.push(IdentityTest::IstioNamespace(glob.clone()));
                }
                for (ns, sa) in source.service_accounts.iter().chain(&source.not_service_accounts) {
                    tests.push(IdentityTest::IstioServiceAccount(ns.clone(), sa.clone()));
                }
                for m in source.trust_domains.iter().chain(&source.not_trust_domains) {
                    tests.push(IdentityTest::IstioTrustDomain(m.clone()));
                }
            }
            for condition in &rule.when {
                for value in condition.values.iter().chain(&condition.not_values) {
                    match condition.key {
                        ConditionKey::SourcePrincipal => {
                            tests.push(IdentityTest::IstioPrincipal(StringMatch::parse(value)))
                        }
                        ConditionKey::SourceNamespace => tests.push(IdentityTest::IstioNamespace(value.clone())),
                        ConditionKey::SourceServiceAccount => {
                            let (ns, sa) = value.split_once('/').unwrap_or((&policy.namespace, value));
                            tests.push(IdentityTest::IstioServiceAccount(ns.to_string(), sa.to_string()));
                        }
                        ConditionKey::SourceTrustDomain => {
                            tests.push(IdentityTest::IstioTrustDomain(StringMatch::parse(value)))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    tests
}

/// The PeerAuthentications in force for a class: workload (oldest of those selecting it), namespace, mesh.
fn peer_policies<'c>(context: &'c Context<'_>, class: ClassId) -> [Option<(usize, &'c PeerAuthentication)>; 3] {
    let istio = &context.cluster.mesh.istio;
    let namespace = context.namespace_of(class);
    let labels = &context.class(class).labels;
    let oldest = |candidates: Vec<(usize, &'c PeerAuthentication)>| {
        candidates.into_iter().min_by(|(_, a), (_, b)| (&a.created, &a.name).cmp(&(&b.created, &b.name)))
    };
    let all = istio.peer_authentications.iter().enumerate();
    let workload = oldest(
        all.clone()
            .filter(|(_, p)| {
                p.namespace == namespace
                    && p.selector.as_ref().is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
            })
            .collect(),
    );
    let namespace_wide =
        oldest(all.clone().filter(|(_, p)| p.namespace == namespace && p.selector.is_none()).collect());
    let mesh_wide =
        oldest(all.filter(|(_, p)| p.namespace == istio.config.root_namespace && p.selector.is_none()).collect());
    [workload, namespace_wide, mesh_wide]
}

/// The mTLS mode on a port of the class, and the PeerAuthentication that set it.
pub(crate) fn peer_mode(context: &Context<'_>, class: ClassId, port: u16) -> (MtlsMode, Option<PolicyRef>) {
    let cite = |p: &PeerAuthentication| reference("PeerAuthentication", &p.namespace, &p.name, None, &p.location);
    let [workload, namespace, mesh] = peer_policies(context, class);
    if let Some((_, policy)) = workload {
        if let Some((_, Some(mode))) = policy.port_level.iter().find(|(p, _)| *p == port) {
            return (*mode, Some(cite(policy)));
        }
        if let Some(mode) = policy.mode {
            return (mode, Some(cite(policy)));
        }
    }
    for (_, policy) in [namespace, mesh].into_iter().flatten() {
        if let Some(mode) = policy.mode {
            return (mode, Some(cite(policy)));
        }
    }
    (MtlsMode::Permissive, None)
}

/// How Istio reads traffic on a port: from the Services that reach it (what they agree on); a port no Service
/// declares is detected per connection.
fn port_protocol(context: &Context<'_>, class: ClassId, port: u16) -> PortProtocol {
    let pod = context.class(class);
    let mut found: Option<PortProtocol> = None;
    for &service in &context.facts[class].services {
        for service_port in &context.cluster.services[service].ports {
            if service_port.protocol != netseg_model::Protocol::Tcp
                || super::target_port(service_port, pod) != Some(port)
            {
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

/// Who the client is to Istio: its principal over mTLS, or nothing over plaintext.
struct Identity {
    principal: String,
    /// The principal with each trust domain alias in place of the trust domain.
    aliases: Vec<String>,
    namespace: String,
    service_account: String,
    trust_domain: String,
}

fn identity(context: &Context<'_>, namespace: &str, service_account: &str) -> Identity {
    let config = &context.cluster.mesh.istio.config;
    Identity {
        principal: istio_principal(&config.trust_domain, namespace, service_account),
        aliases: config.trust_domain_aliases.iter().map(|td| istio_principal(td, namespace, service_account)).collect(),
        namespace: namespace.to_string(),
        service_account: service_account.to_string(),
        trust_domain: config.trust_domain.clone(),
    }
}

impl Identity {
    fn principal_matches(&self, m: &StringMatch) -> bool {
        m.matches(&self.principal) || self.aliases.iter().any(|alias| m.matches(alias))
    }
}

/// Where a rule is enforced, which decides what its fields mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enforcer {
    /// A sidecar or a waypoint reading HTTP.
    Http,
    /// A sidecar on TCP traffic: HTTP attributes cannot be read.
    Tcp,
    /// ztunnel: the L4 attributes only, and empty matches match nothing.
    Ztunnel,
}

/// Everything about one connection that the rules test before any request attribute.
struct Connection<'a> {
    context: &'a Context<'a>,
    client: Client,
    identity: Option<Identity>,
    destination: ClassId,
    port: u16,
}

pub(crate) fn verdict(context: &Context<'_>, client: Client, destination: ClassId, port: u16) -> Verdict {
    let pod = context.class(destination);
    let (mode, mode_by) = peer_mode(context, destination, port);
    // Ambient ignores DISABLE: ztunnel always speaks mTLS between meshed pods.
    let effective = if pod.dataplane.ambient && mode == MtlsMode::Disable { MtlsMode::Permissive } else { mode };
    let client_meshed = context.client_class(client).is_some_and(|(c, _)| c.dataplane.mesh == Some(MeshKind::Istio));
    let mtls = client_meshed && effective != MtlsMode::Disable;
    if effective == MtlsMode::Strict && !mtls {
        let who = match context.client_class(client) {
            None => "an address outside the cluster".to_string(),
            Some((c, _)) if c.dataplane.in_mesh() => {
                format!("in the {} mesh, not Istio's", c.dataplane.mesh.map_or("", MeshKind::as_str))
            }
            Some((c, _)) => format!("outside the mesh ({})", c.dataplane.reason),
        };
        let by = mode_by.as_ref().map_or("the default".to_string(), |r| r.to_string());
        return Verdict::Refused {
            why: format!("STRICT mTLS ({by}) refuses plaintext, and the client is {who}"),
            by: mode_by,
        };
    }
    let identity = match context.client_class(client) {
        Some((c, facts)) if mtls => Some(identity(context, &facts.namespace, &c.service_account)),
        _ => None,
    };
    let connection = Connection { context, client, identity, destination, port };
    let decision = if pod.dataplane.ambient {
        ambient(&connection)
    } else {
        let policies = applicable(context, destination);
        by_protocol(&connection, &policies)
    };
    let passability = decision.passability();
    Verdict::Decided { decision: Arc::new(decision), passability }
}

/// The sidecar's (or waypoint's) decision, as the port's protocol makes it.
fn by_protocol(connection: &Connection<'_>, policies: &[usize]) -> Decision {
    match port_protocol(connection.context, connection.destination, connection.port) {
        PortProtocol::Http => decide(connection, policies, Enforcer::Http),
        PortProtocol::Tcp => decide(connection, policies, Enforcer::Tcp),
        PortProtocol::Detect => Decision::FirstMatch {
            clauses: vec![(
                Clause {
                    by: PolicyRef {
                        kind: "Istio protocol detection".into(),
                        namespace: None,
                        name: format!("port {}", connection.port),
                        rule: None,
                        location: None,
                    },
                    pred: Pred::test(Attribute::Protocol, Test::Exact("http".into())),
                    text: "over HTTP".into(),
                },
                decide(connection, policies, Enforcer::Http),
            )],
            otherwise: Box::new(decide(connection, policies, Enforcer::Tcp)),
        },
    }
}

fn ambient(connection: &Connection<'_>) -> Decision {
    let context = connection.context;
    let ztunnel_policies = applicable(context, connection.destination);
    let direct = decide(connection, &ztunnel_policies, Enforcer::Ztunnel);
    let Some(waypoint) = &context.class(connection.destination).dataplane.waypoint else { return direct };
    let (waypoint_ns, waypoint_name) = waypoint.split_once('/').unwrap_or(("", waypoint));
    // Behind the waypoint, the pod's ztunnel sees the waypoint's identity (its ServiceAccount is named after the
    // Gateway).
    let waypoint_hop = Connection {
        context,
        client: connection.client,
        identity: Some(identity(context, waypoint_ns, waypoint_name)),
        destination: connection.destination,
        port: connection.port,
    };
    let at_pod = decide(&waypoint_hop, &ztunnel_policies, Enforcer::Ztunnel);
    let at_waypoint = by_protocol(connection, &waypoint_policies(context, connection.destination));
    let through = match at_pod.passability() {
        Passability::None => at_pod,
        _ => at_waypoint,
    };
    Decision::AnyOf(vec![
        (format!("through the waypoint {waypoint}"), through),
        ("to the pod's address directly".to_string(), direct),
    ])
}

/// CUSTOM, then DENY, then ALLOW, over the rules of `policies` as `enforcer` reads them.
fn decide(connection: &Connection<'_>, policies: &[usize], enforcer: Enforcer) -> Decision {
    let all = &connection.context.cluster.mesh.istio.authorization_policies;
    let mut customs: Vec<(Clause, String)> = Vec::new();
    let mut denies: Vec<Clause> = Vec::new();
    let mut allows: Vec<Clause> = Vec::new();
    let mut allow_policies: Vec<(String, PolicyRef)> = Vec::new();
    for &index in policies {
        let policy = &all[index];
        if policy.dry_run {
            continue;
        }
        // ztunnel enforces neither CUSTOM nor AUDIT.
        if enforcer == Enforcer::Ztunnel && matches!(policy.action, AuthorizationAction::Custom { .. }) {
            continue;
        }
        if policy.action == AuthorizationAction::Allow {
            let cite = reference(KIND, &policy.namespace, &policy.name, None, &policy.location);
            allow_policies.push((format!("{}/{}", policy.namespace, policy.name), cite));
        }
        for (number, rule) in policy.rules.iter().enumerate() {
            let location = Location { file: policy.location.file.clone(), line: rule.line };
            let by = reference(KIND, &policy.namespace, &policy.name, Some(number), &location);
            let pred = rule_pred(connection, policy, rule, enforcer);
            let clause = Clause { by, pred, text: describe_rule(rule) };
            match &policy.action {
                AuthorizationAction::Allow => allows.push(clause),
                AuthorizationAction::Deny => denies.push(clause),
                AuthorizationAction::Custom { provider } => customs.push((clause, provider.clone())),
                AuthorizationAction::Audit => {}
            }
        }
    }
    let allows = if allow_policies.is_empty() {
        Decision::allow("no ALLOW policy applies to the workload")
    } else {
        Decision::FirstMatch {
            clauses: allows
                .into_iter()
                .map(|clause| {
                    let allow = Decision::Allow {
                        by: Some(clause.by.clone()),
                        why: format!("allowed by the ALLOW rule {}", clause.by),
                    };
                    (clause, allow)
                })
                .collect(),
            otherwise: Box::new(Decision::deny(
                allow_policies.first().map(|(_, cite)| cite.clone()),
                format!(
                    "ALLOW policies apply to the workload ({}) and none of their rules match the request from {}",
                    allow_policies.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", "),
                    client_words(connection)
                ),
            )),
        }
    };
    let rest = Decision::FirstMatch {
        clauses: denies
            .into_iter()
            .map(|clause| {
                let deny = Decision::deny(Some(clause.by.clone()), format!("denied by the DENY rule {}", clause.by));
                (clause, deny)
            })
            .collect(),
        otherwise: Box::new(allows),
    };
    if customs.is_empty() {
        return rest;
    }
    Decision::FirstMatch {
        clauses: customs
            .into_iter()
            .map(|(clause, provider)| {
                let external = Decision::External { provider, by: clause.by.clone(), then: Box::new(rest.clone()) };
                (clause, external)
            })
            .collect(),
        otherwise: Box::new(rest),
    }
}

/// Who the client is, in the words a denial needs.
fn client_words(connection: &Connection<'_>) -> String {
    match (&connection.identity, connection.client) {
        (Some(identity), _) => format!("the client {} (mTLS)", identity.principal),
        (None, Client::Address(addr)) => format!("a plaintext client at {addr}, with no principal or namespace"),
        (None, Client::Class(_)) => "a plaintext client, with no principal or namespace".into(),
    }
}

/// The rule as a predicate over the request, the connection's facts already decided.
fn rule_pred(connection: &Connection<'_>, policy: &AuthorizationPolicy, rule: &Rule, enforcer: Enforcer) -> Pred {
    let unsupported = match enforcer {
        Enforcer::Http => Vec::new(),
        Enforcer::Tcp => rule.http_fields(),
        Enforcer::Ztunnel => rule.ztunnel_unsupported_fields(),
    };
    // An ALLOW rule that needs what the enforcer cannot read never matches.
    if policy.action == AuthorizationAction::Allow && !unsupported.is_empty() {
        return Pred::False;
    }
    let from = if rule.from.is_empty() {
        Pred::True
    } else {
        Pred::any(rule.from.iter().map(|source| source_pred(connection, source, enforcer)).collect())
    };
    let to = if rule.to.is_empty() {
        Pred::True
    } else {
        Pred::any(rule.to.iter().map(|operation| operation_pred(connection, operation, enforcer)).collect())
    };
    let mut parts = vec![from, to];
    parts.extend(rule.when.iter().map(|condition| condition_pred(connection, policy, condition, enforcer)));
    Pred::all(parts)
}

/// `values` (any) and `not_values` (none), each given as a predicate per value.
fn one_of<T>(values: &[T], not_values: &[T], test: impl Fn(&T) -> Pred) -> Vec<Pred> {
    let mut parts = Vec::new();
    if !values.is_empty() {
        parts.push(Pred::any(values.iter().map(&test).collect()));
    }
    if !not_values.is_empty() {
        parts.push(Pred::negate(Pred::any(not_values.iter().map(&test).collect())));
    }
    parts
}

fn known(value: bool) -> Pred {
    if value {
        Pred::True
    } else {
        Pred::False
    }
}

fn source_pred(connection: &Connection<'_>, source: &Source, enforcer: Enforcer) -> Pred {
    let context = connection.context;
    let id = connection.identity.as_ref();
    let http = enforcer == Enforcer::Http;
    let mut parts = Vec::new();
    parts.extend(one_of(&source.principals, &source.not_principals, |m| {
        known(id.is_some_and(|i| i.principal_matches(m)))
    }));
    if http {
        let jwt = |m: &StringMatch| Pred::test(Attribute::JwtPrincipal, Test::Istio(m.clone()));
        parts.extend(one_of(&source.request_principals, &source.not_request_principals, jwt));
    }
    parts.extend(one_of(&source.namespaces, &source.not_namespaces, |glob| {
        known(id.is_some_and(|i| glob_matches(glob, &i.namespace)))
    }));
    parts.extend(one_of(&source.service_accounts, &source.not_service_accounts, |(ns, sa)| {
        known(id.is_some_and(|i| i.namespace == *ns && i.service_account == *sa))
    }));
    // ztunnel does not read trust domains.
    if enforcer != Enforcer::Ztunnel {
        parts.extend(one_of(&source.trust_domains, &source.not_trust_domains, |m| {
            known(id.is_some_and(|i| m.matches(&i.trust_domain)))
        }));
    }
    let from_ip = |cidr: &Cidr| known(context.client_in(connection.client, &block(*cidr)));
    parts.extend(one_of(&source.ip_blocks, &source.not_ip_blocks, from_ip));
    // Without trusted proxies in front, the remote address of a direct connection is its source address.
    if enforcer != Enforcer::Ztunnel {
        parts.extend(one_of(&source.remote_ip_blocks, &source.not_remote_ip_blocks, from_ip));
    }
    if parts.is_empty() {
        // Every field was one the enforcer cannot read: Envoy applies the source as "any"; ztunnel's empty match
        // matches nothing.
        return known(enforcer != Enforcer::Ztunnel);
    }
    Pred::all(parts)
}

fn operation_pred(connection: &Connection<'_>, operation: &Operation, enforcer: Enforcer) -> Pred {
    let port = connection.port;
    let mut parts = Vec::new();
    parts.extend(one_of(&operation.ports, &operation.not_ports, |p| known(*p == port)));
    if enforcer == Enforcer::Http {
        let host = |m: &StringMatch| Pred::test(Attribute::Host, Test::IstioNoCase(m.clone()));
        parts.extend(one_of(&operation.hosts, &operation.not_hosts, host));
        let method = |m: &StringMatch| Pred::test(Attribute::Method, Test::Istio(m.clone()));
        parts.extend(one_of(&operation.methods, &operation.not_methods, method));
        let path = |p: &PathPattern| Pred::test(Attribute::Path, Test::IstioPath(p.clone()));
        parts.extend(one_of(&operation.paths, &operation.not_paths, path));
    }
    if parts.is_empty() {
        return known(enforcer != Enforcer::Ztunnel);
    }
    Pred::all(parts)
}

fn condition_pred(
    connection: &Connection<'_>,
    policy: &AuthorizationPolicy,
    condition: &Condition,
    enforcer: Enforcer,
) -> Pred {
    let readable = match enforcer {
        Enforcer::Http => true,
        Enforcer::Tcp => !condition.key.http_only(),
        Enforcer::Ztunnel => condition.key.ztunnel_supported(),
    };
    if !readable {
        // Envoy drops what it cannot read from a DENY rule (it matches more); ztunnel's empty match matches
        // nothing.
        return known(enforcer == Enforcer::Tcp);
    }
    let context = connection.context;
    let id = connection.identity.as_ref();
    let test = |value: &String| -> Pred {
        match &condition.key {
            ConditionKey::RequestHeader(name) => {
                Pred::test(Attribute::Header(name.clone()), Test::Istio(StringMatch::parse(value)))
            }
            ConditionKey::SourceIp | ConditionKey::RemoteIp => {
                known(ip_or_cidr(value).is_some_and(|c| context.client_in(connection.client, &block(c))))
            }
            ConditionKey::DestinationIp => {
                known(ip_or_cidr(value).is_some_and(|c| context.class_in(connection.destination, &block(c))))
            }
            ConditionKey::SourceNamespace => known(id.is_some_and(|i| glob_matches(value, &i.namespace))),
            ConditionKey::SourceServiceAccount => {
                let (ns, sa) = value.split_once('/').unwrap_or((&policy.namespace, value));
                known(id.is_some_and(|i| i.namespace == ns && i.service_account == sa))
            }
            ConditionKey::SourcePrincipal => known(id.is_some_and(|i| i.principal_matches(&StringMatch::parse(value)))),
            ConditionKey::SourceTrustDomain => {
                known(id.is_some_and(|i| StringMatch::parse(value).matches(&i.trust_domain)))
            }
            ConditionKey::RequestAuthPrincipal => {
                Pred::test(Attribute::JwtPrincipal, Test::Istio(StringMatch::parse(value)))
            }
            ConditionKey::RequestAuthAudiences => {
                Pred::test(Attribute::JwtClaim("aud".into()), Test::Istio(StringMatch::parse(value)))
            }
            ConditionKey::RequestAuthPresenter => {
                Pred::test(Attribute::JwtClaim("azp".into()), Test::Istio(StringMatch::parse(value)))
            }
            ConditionKey::RequestAuthClaim(name) => {
                Pred::test(Attribute::JwtClaim(name.clone()), Test::Istio(StringMatch::parse(value)))
            }
            ConditionKey::DestinationPort => known(value.parse::<u16>().ok() == Some(connection.port)),
            ConditionKey::ConnectionSni => Pred::test(Attribute::Sni, Test::Istio(StringMatch::parse(value))),
            ConditionKey::Experimental(key) => {
                Pred::test(Attribute::Metadata(key.clone()), Test::Istio(StringMatch::parse(value)))
            }
        }
    };
    Pred::all(one_of(&condition.values, &condition.not_values, test))
}

/// A rule in words: "POST only, from principal cluster.local/ns/default/sa/inventory-sa".
pub(crate) fn describe_rule(rule: &Rule) -> String {
    let or = |items: Vec<String>| items.join(" or ");
    let strings = |items: &[StringMatch]| or(items.iter().map(ToString::to_string).collect());
    let mut parts = Vec::new();
    let operations: Vec<String> = rule
        .to
        .iter()
        .map(|o| {
            let mut words = Vec::new();
            let only_methods = !o.methods.is_empty()
                && o.paths.is_empty()
                && o.hosts.is_empty()
                && o.ports.is_empty()
                && o.not_paths.is_empty()
                && o.not_hosts.is_empty()
                && o.not_ports.is_empty()
                && o.not_methods.is_empty();
            if !o.methods.is_empty() {
                words.push(if only_methods { format!("{} only", strings(&o.methods)) } else { strings(&o.methods) });
            }
            if !o.not_methods.is_empty() {
                words.push(format!("not {}", strings(&o.not_methods)));
            }
            if !o.paths.is_empty() {
                words.push(format!("path {}", or(o.paths.iter().map(ToString::to_string).collect())));
            }
            if !o.not_paths.is_empty() {
                words.push(format!("path not {}", or(o.not_paths.iter().map(ToString::to_string).collect())));
            }
            if !o.hosts.is_empty() {
                words.push(format!("host {}", strings(&o.hosts)));
            }
            if !o.not_hosts.is_empty() {
                words.push(format!("host not {}", strings(&o.not_hosts)));
            }
            if !o.ports.is_empty() {
                words.push(format!("port {}", or(o.ports.iter().map(ToString::to_string).collect())));
            }
            if !o.not_ports.is_empty() {
                words.push(format!("port not {}", or(o.not_ports.iter().map(ToString::to_string).collect())));
            }
            words.join(" ")
        })
        .collect();
    if !operations.is_empty() {
        parts.push(operations.join("; or "));
    }
    let sources: Vec<String> = rule
        .from
        .iter()
        .map(|s| {
            let mut words = Vec::new();
            let plural =
                |items: usize, one: &str, many: &str| if items == 1 { one.to_string() } else { many.to_string() };
            if !s.principals.is_empty() {
                words.push(format!(
                    "from {} {}",
                    plural(s.principals.len(), "principal", "principals"),
                    strings(&s.principals)
                ));
            }
            if !s.not_principals.is_empty() {
                words.push(format!("from a principal other than {}", strings(&s.not_principals)));
            }
            if !s.namespaces.is_empty() {
                words.push(format!("from namespace {}", or(s.namespaces.clone())));
            }
            if !s.not_namespaces.is_empty() {
                words.push(format!("from a namespace other than {}", or(s.not_namespaces.clone())));
            }
            if !s.service_accounts.is_empty() {
                let accounts = s.service_accounts.iter().map(|(ns, sa)| format!("{ns}/{sa}")).collect();
                words.push(format!("from service account {}", or(accounts)));
            }
            if !s.not_service_accounts.is_empty() {
                let accounts = s.not_service_accounts.iter().map(|(ns, sa)| format!("{ns}/{sa}")).collect();
                words.push(format!("from a service account other than {}", or(accounts)));
            }
            if !s.trust_domains.is_empty() {
                words.push(format!("from trust domain {}", strings(&s.trust_domains)));
            }
            if !s.ip_blocks.is_empty() {
                words.push(format!("from {}", or(s.ip_blocks.iter().map(ToString::to_string).collect())));
            }
            if !s.not_ip_blocks.is_empty() {
                words.push(format!("not from {}", or(s.not_ip_blocks.iter().map(ToString::to_string).collect())));
            }
            if !s.remote_ip_blocks.is_empty() {
                words.push(format!("from remote {}", or(s.remote_ip_blocks.iter().map(ToString::to_string).collect())));
            }
            if !s.request_principals.is_empty() {
                words.push(format!("with a JWT of {}", strings(&s.request_principals)));
            }
            if !s.not_request_principals.is_empty() {
                words.push(format!("without a JWT of {}", strings(&s.not_request_principals)));
            }
            words.join(" ")
        })
        .collect();
    if !sources.is_empty() {
        parts.push(sources.join("; or "));
    }
    for condition in &rule.when {
        let mut words = Vec::new();
        if !condition.values.is_empty() {
            words.push(format!("{} is {}", condition.key_text, condition.values.join(" or ")));
        }
        if !condition.not_values.is_empty() {
            words.push(format!("{} is not {}", condition.key_text, condition.not_values.join(" or ")));
        }
        parts.push(format!("when {}", words.join(" and ")));
    }
    if parts.is_empty() {
        "any request".into()
    } else {
        parts.join(", ")
    }
}
