//! Holds the engine's mesh layer, composed with NetworkPolicies, against the brute-force evaluator of
//! `brute/mesh.rs` on random small clusters: Istio sidecar injection in and out, AuthorizationPolicies (every action,
//! selectors and the root namespace, principals and namespaces and their `not` forms, ports, methods),
//! PeerAuthentication (mesh, namespace, workload and port level), Linkerd injection, Servers, AuthorizationPolicies
//! with MeshTLSAuthentication and NetworkAuthentication, and the default inbound policies. The clusters are written as
//! YAML and read by the real loader; the engine is asked the way `netseg can` asks it (`query::verdict` with a port
//! and a request) and the way `reach` does (`Analysis::allowed`, a port when some request passes).

use netseg_engine::query::{self, PortQuery, Resolved};
use netseg_engine::request::{Layer, Request, RequestVerdict};
use netseg_engine::{Analysis, Endpoint};
use netseg_model::{load_bytes, Cluster, Inventory, Protocol};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

#[path = "brute/mesh.rs"]
mod mesh;
use mesh::*;

// ---------------------------------------------------------------------------------------------------------------
// Writing the spec out for the engine
// ---------------------------------------------------------------------------------------------------------------

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn namespace_name(namespace: Option<usize>) -> &'static str {
    namespace.map_or(ROOT, |n| NAMESPACES[n])
}

fn selector(app: Option<usize>) -> String {
    app.map(|a| format!("selector: {{matchLabels: {{app: {}}}}}, ", APPS[a])).unwrap_or_default()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Unset => "UNSET",
        Mode::Strict => "STRICT",
        Mode::Permissive => "PERMISSIVE",
        Mode::Disable => "DISABLE",
    }
}

fn source_yaml(source: &Source) -> String {
    let mut fields = Vec::new();
    for (name, value) in [
        ("principals", &source.principals),
        ("notPrincipals", &source.not_principals),
        ("namespaces", &source.namespaces),
        ("notNamespaces", &source.not_namespaces),
        ("ipBlocks", &source.ip_blocks),
        ("notIpBlocks", &source.not_ip_blocks),
    ] {
        if let Some(value) = value {
            fields.push(format!("{name}: {}", list(value)));
        }
    }
    format!("{{source: {{{}}}}}", fields.join(", "))
}

fn operation_yaml(op: &Operation) -> String {
    let mut fields = Vec::new();
    for (name, value) in [("ports", &op.ports), ("notPorts", &op.not_ports)] {
        if let Some(value) = value {
            fields.push(format!("{name}: {}", list(value)));
        }
    }
    for (name, value) in [("methods", &op.methods), ("notMethods", &op.not_methods)] {
        if let Some(value) = value {
            fields.push(format!("{name}: {}", list(value)));
        }
    }
    format!("{{operation: {{{}}}}}", fields.join(", "))
}

fn yaml(spec: &Spec) -> String {
    let mut out = String::new();
    let _ = write!(out, "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ROOT}}}\n---\n");
    for (i, namespace) in spec.namespaces.iter().enumerate() {
        let mut labels = Vec::new();
        let mut annotations = Vec::new();
        match namespace.inject {
            Some((Mesh::Istio, on)) => {
                labels.push(format!("istio-injection: {}", if on { "enabled" } else { "disabled" }))
            }
            Some((Mesh::Linkerd, on)) => {
                annotations.push(format!("linkerd.io/inject: {}", if on { "enabled" } else { "disabled" }))
            }
            None => {}
        }
        if let Some(policy) = namespace.linkerd_default {
            annotations.push(format!("config.linkerd.io/default-inbound-policy: {}", policy.name()));
        }
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}, labels: {{{}}}, annotations: {{{}}}}}\n---\n",
            NAMESPACES[i],
            labels.join(", "),
            annotations.join(", ")
        );
    }
    for (i, pod) in spec.pods.iter().enumerate() {
        let mut labels = vec![format!("app: {}", APPS[pod.app])];
        let mut annotations = Vec::new();
        match pod.inject {
            Some((Mesh::Istio, on)) => labels.push(format!("sidecar.istio.io/inject: \"{on}\"")),
            Some((Mesh::Linkerd, on)) => {
                annotations.push(format!("linkerd.io/inject: {}", if on { "enabled" } else { "disabled" }))
            }
            None => {}
        }
        if pod.exclude_tcp {
            annotations.push(format!("traffic.sidecar.istio.io/excludeInboundPorts: \"{TCP_PORT}\""));
            annotations.push(format!("config.linkerd.io/skip-inbound-ports: \"{TCP_PORT}\""));
        }
        if let Some(policy) = pod.linkerd_default {
            annotations.push(format!("config.linkerd.io/default-inbound-policy: {}", policy.name()));
        }
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: {}, labels: {{{}}}, annotations: {{{}}}}}\n\
             spec: {{serviceAccountName: {}, containers: [{{name: app, ports: [{{containerPort: {HTTP_PORT}}}, {{containerPort: {TCP_PORT}}}]}}]}}\n\
             status: {{podIP: {}}}\n---\n",
            NAMESPACES[pod.namespace],
            labels.join(", "),
            annotations.join(", "),
            ACCOUNTS[pod.account],
            spec.ip(End::Pod(i)),
        );
    }
    for ns in NAMESPACES {
        for app_name in APPS {
            let _ = write!(
                out,
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {app_name}, namespace: {ns}}}\n\
                 spec: {{selector: {{app: {app_name}}}, ports: [{{name: http-web, port: {HTTP_PORT}}}, {{name: tcp-raw, port: {TCP_PORT}}}]}}\n---\n",
            );
        }
    }
    for (i, policy) in spec.authorization.iter().enumerate() {
        let action = match policy.action {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Custom => "CUSTOM, provider: {name: ext-authz}",
            Action::Audit => "AUDIT",
        };
        let rules = match &policy.rules {
            None => String::new(),
            Some(rules) => {
                let rules: Vec<String> = rules
                    .iter()
                    .map(|rule| {
                        let mut fields = Vec::new();
                        if let Some(from) = &rule.from {
                            fields.push(format!(
                                "from: [{}]",
                                from.iter().map(source_yaml).collect::<Vec<_>>().join(", ")
                            ));
                        }
                        if let Some(to) = &rule.to {
                            fields.push(format!(
                                "to: [{}]",
                                to.iter().map(operation_yaml).collect::<Vec<_>>().join(", ")
                            ));
                        }
                        format!("{{{}}}", fields.join(", "))
                    })
                    .collect();
                format!(", rules: [{}]", rules.join(", "))
            }
        };
        let _ = write!(
            out,
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: ap{i}, namespace: {}}}\n\
             spec: {{{}action: {action}{rules}}}\n---\n",
            namespace_name(policy.namespace),
            selector(policy.selector),
        );
    }
    for (i, pa) in spec.peer_authentication.iter().enumerate() {
        let mut fields = Vec::new();
        if let Some(app) = pa.selector {
            fields.push(format!("selector: {{matchLabels: {{app: {}}}}}", APPS[app]));
        }
        // UNSET is written both ways: as the mode, and as no mode at all.
        if pa.mode != Mode::Unset || i % 2 == 0 {
            fields.push(format!("mtls: {{mode: {}}}", mode_name(pa.mode)));
        }
        if let Some((port, mode)) = pa.port {
            fields.push(format!("portLevelMtls: {{{port}: {{mode: {}}}}}", mode_name(mode)));
        }
        let _ = write!(
            out,
            "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {{name: pa{i}, namespace: {}}}\n\
             spec: {{{}}}\n---\n",
            namespace_name(pa.namespace),
            fields.join(", ")
        );
    }
    for (i, server) in spec.servers.iter().enumerate() {
        let pods = server.selector.map(|a| format!("matchLabels: {{app: {}}}", APPS[a])).unwrap_or_default();
        let _ = write!(
            out,
            "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {{name: srv{i}, namespace: {}}}\n\
             spec: {{podSelector: {{{pods}}}, port: {}}}\n---\n",
            NAMESPACES[server.namespace], server.port
        );
    }
    for (i, policy) in spec.linkerd.iter().enumerate() {
        let namespace = NAMESPACES[policy.namespace];
        let target = match spec.linkerd_target(policy) {
            Some(server) => format!("{{group: policy.linkerd.io, kind: Server, name: srv{server}}}"),
            None => format!("{{kind: Namespace, name: {namespace}}}"),
        };
        let mut refs = Vec::new();
        for (j, authn) in policy.required.iter().enumerate() {
            let name = format!("authn{i}-{j}");
            match authn {
                Authentication::MeshTls(identities) => {
                    let mut plain = Vec::new();
                    let mut refs_out = Vec::new();
                    for identity in identities {
                        match *identity {
                            Identity::Any => plain.push("\"*\"".to_string()),
                            Identity::Exact { namespace, account } => plain.push(format!(
                                "\"{}.{}.serviceaccount.identity.linkerd.cluster.local\"",
                                ACCOUNTS[account], NAMESPACES[namespace]
                            )),
                            Identity::Ref { account, namespace } => refs_out.push(format!(
                                "{{kind: ServiceAccount, name: {}{}}}",
                                ACCOUNTS[account],
                                namespace.map(|n| format!(", namespace: {}", NAMESPACES[n])).unwrap_or_default()
                            )),
                        }
                    }
                    // A MeshTLSAuthentication takes one of the two lists.
                    let body = if refs_out.is_empty() {
                        format!("identities: [{}]", plain.join(", "))
                    } else {
                        format!("identityRefs: [{}]", refs_out.join(", "))
                    };
                    let _ = write!(
                        out,
                        "apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
                         spec: {{{body}}}\n---\n"
                    );
                    refs.push(format!("{{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: {name}}}"));
                }
                Authentication::Network(cidr) => {
                    let _ = write!(
                        out,
                        "apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
                         spec: {{networks: [{{cidr: {cidr}}}]}}\n---\n"
                    );
                    refs.push(format!("{{group: policy.linkerd.io, kind: NetworkAuthentication, name: {name}}}"));
                }
            }
        }
        let _ = write!(
            out,
            "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {{name: lap{i}, namespace: {namespace}}}\n\
             spec: {{targetRef: {target}, requiredAuthenticationRefs: [{}]}}\n---\n",
            refs.join(", ")
        );
    }
    for (i, netpol) in spec.netpols.iter().enumerate() {
        let types: Vec<&str> =
            ["Ingress", "Egress"].iter().zip(netpol.types).filter(|(_, on)| *on).map(|(name, _)| *name).collect();
        let _ = write!(
            out,
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: k{i}, namespace: {}}}\nspec:\n  podSelector: {{{}}}\n  policyTypes: [{}]\n",
            NAMESPACES[netpol.namespace],
            netpol.subject.map(|a| format!("matchLabels: {{app: {}}}", APPS[a])).unwrap_or_default(),
            types.join(", ")
        );
        for (rule, (name, peer_field)) in netpol.rules.iter().zip([("ingress", "from"), ("egress", "to")]) {
            let Some((app, port)) = rule else { continue };
            let selector = app.map(|a| format!("matchLabels: {{app: {}}}", APPS[a])).unwrap_or_default();
            let ports = port.map(|number| format!(", ports: [{{port: {number}, protocol: TCP}}]")).unwrap_or_default();
            let _ = writeln!(out, "  {name}: [{{{peer_field}: [{{podSelector: {{{selector}}}}}]{ports}}}]");
        }
        out.push_str("---\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------------------------

fn some_of<T: Clone + std::fmt::Debug + 'static>(pool: Vec<T>) -> impl Strategy<Value = Option<Vec<T>>> {
    prop::option::weighted(0.3, prop::sample::subsequence(pool.clone(), 1..=2.min(pool.len())))
}

/// `custom`: a CUSTOM rule's source, which Istio lets name addresses only.
fn source(custom: bool) -> impl Strategy<Value = Source> {
    (
        some_of(PRINCIPALS.to_vec()),
        prop::option::weighted(0.15, prop::sample::subsequence(PRINCIPALS.to_vec(), 1..=2)),
        some_of(NAMESPACE_PATTERNS.to_vec()),
        prop::option::weighted(0.15, prop::sample::subsequence(NAMESPACE_PATTERNS.to_vec(), 1..=2)),
        prop::option::weighted(0.2, prop::sample::subsequence(CIDRS.to_vec(), 1..=1)),
        prop::option::weighted(0.1, prop::sample::subsequence(CIDRS.to_vec(), 1..=1)),
    )
        .prop_map(move |(principals, not_principals, namespaces, not_namespaces, ip_blocks, not_ip_blocks)| {
            let mut source =
                Source { principals, not_principals, namespaces, not_namespaces, ip_blocks, not_ip_blocks };
            if custom {
                source =
                    Source { ip_blocks: source.ip_blocks, not_ip_blocks: source.not_ip_blocks, ..Source::default() };
            }
            // Istio refuses an empty `source`.
            let empty = source.principals.is_none()
                && source.not_principals.is_none()
                && source.namespaces.is_none()
                && source.not_namespaces.is_none()
                && source.ip_blocks.is_none()
                && source.not_ip_blocks.is_none();
            if empty && custom {
                source.ip_blocks = Some(vec![CIDRS[0]]);
            } else if empty {
                source.principals = Some(vec!["*"]);
            }
            source
        })
}

/// `http`: the operation may name methods (CUSTOM rules do not: what an external authorizer gets on TCP is not
/// something the docs settle).
fn operation(http: bool) -> impl Strategy<Value = Operation> {
    (
        some_of(PORTS.to_vec()),
        prop::option::weighted(0.15, prop::sample::subsequence(PORTS.to_vec(), 1..=1)),
        some_of(METHODS[..2].to_vec()),
        prop::option::weighted(0.15, prop::sample::subsequence(METHODS[..2].to_vec(), 1..=1)),
    )
        .prop_map(move |(ports, not_ports, methods, not_methods)| {
            let mut op = Operation {
                ports,
                not_ports,
                methods: methods.filter(|_| http),
                not_methods: not_methods.filter(|_| http),
            };
            // Istio refuses an empty `operation`.
            if op.ports.is_none() && op.not_ports.is_none() && op.methods.is_none() && op.not_methods.is_none() {
                op.ports = Some(vec![HTTP_PORT]);
            }
            op
        })
}

fn rule(http: bool) -> impl Strategy<Value = Rule> {
    (
        prop::option::weighted(0.6, prop::collection::vec(source(!http), 1..=2)),
        prop::option::weighted(0.5, prop::collection::vec(operation(http), 1..=2)),
    )
        .prop_map(|(from, to)| Rule { from, to })
}

fn authorization_policy() -> impl Strategy<Value = AuthorizationPolicy> {
    (
        prop::option::weighted(0.8, 0..2usize),
        prop::option::weighted(0.6, 0..2usize),
        prop::sample::select(vec![
            Action::Allow,
            Action::Allow,
            Action::Deny,
            Action::Deny,
            Action::Custom,
            Action::Audit,
        ]),
    )
        .prop_flat_map(|(namespace, selector, action)| {
            let http = action != Action::Custom;
            (
                Just(namespace),
                Just(selector),
                Just(action),
                prop::option::weighted(0.85, prop::collection::vec(rule(http), 0..=2)),
            )
        })
        .prop_map(|(namespace, selector, action, rules)| {
            // istiod refuses a DENY, CUSTOM or AUDIT policy without rules: only ALLOW means something by it.
            let rules = match rules {
                Some(rules) if rules.is_empty() && action != Action::Allow => Some(vec![Rule::default()]),
                None if action != Action::Allow => Some(vec![Rule::default()]),
                other => other,
            };
            AuthorizationPolicy { namespace, selector, action, rules }
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop::sample::select(vec![Mode::Unset, Mode::Strict, Mode::Permissive, Mode::Disable])
}

/// At most one PeerAuthentication per level and scope, so that "the oldest wins" never has to decide.
fn peer_authentications() -> impl Strategy<Value = Vec<PeerAuthentication>> {
    let scopes: Vec<(Option<usize>, Option<usize>)> = vec![
        (None, None),
        (Some(0), None),
        (Some(1), None),
        (Some(0), Some(0)),
        (Some(0), Some(1)),
        (Some(1), Some(0)),
    ];
    (
        prop::sample::subsequence(scopes, 0..=3),
        prop::collection::vec((mode(), prop::option::weighted(0.4, (prop::sample::select(PORTS.to_vec()), mode()))), 3),
    )
        .prop_map(|(scopes, modes)| {
            scopes
                .into_iter()
                .zip(modes)
                .map(|((namespace, selector), (mode, port))| PeerAuthentication {
                    namespace,
                    selector,
                    mode,
                    port: port.filter(|_| selector.is_some()).filter(|(_, m)| *m != Mode::Unset),
                })
                .collect()
        })
}

/// At most one Server per namespace and port, so that no two Servers claim the same pod port.
fn servers() -> impl Strategy<Value = Vec<Server>> {
    let slots: Vec<(usize, u16)> = vec![(0, HTTP_PORT), (0, TCP_PORT), (1, HTTP_PORT), (1, TCP_PORT)];
    (prop::sample::subsequence(slots, 0..=3), prop::collection::vec(prop::option::weighted(0.6, 0..2usize), 3))
        .prop_map(|(slots, selectors)| {
            slots
                .into_iter()
                .zip(selectors)
                .map(|((namespace, port), selector)| Server { namespace, selector, port })
                .collect()
        })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        1 => Just(Identity::Any),
        2 => (0..2usize, 0..2usize).prop_map(|(namespace, account)| Identity::Exact { namespace, account }),
        2 => (0..2usize, prop::option::of(0..2usize)).prop_map(|(account, namespace)| Identity::Ref { account, namespace }),
    ]
}

fn mesh_tls() -> impl Strategy<Value = Authentication> {
    prop::collection::vec(identity(), 1..=2).prop_map(|ids| {
        // One list per MeshTLSAuthentication: references alone, or names alone.
        let refs: Vec<Identity> = ids.iter().filter(|i| matches!(i, Identity::Ref { .. })).cloned().collect();
        if refs.is_empty() || refs.len() == ids.len() {
            Authentication::MeshTls(ids)
        } else {
            Authentication::MeshTls(refs)
        }
    })
}

/// Linkerd requires at most one MeshTLSAuthentication and at most one NetworkAuthentication per policy.
fn linkerd_policy() -> impl Strategy<Value = LinkerdPolicy> {
    (
        0..2usize,
        prop::option::weighted(0.8, 0..3usize),
        prop::option::weighted(0.75, mesh_tls()),
        prop::option::weighted(0.4, prop::sample::select(CIDRS.to_vec()).prop_map(Authentication::Network)),
    )
        .prop_map(|(namespace, server, tls, network)| {
            let mut required: Vec<Authentication> = tls.into_iter().chain(network).collect();
            if required.is_empty() {
                required.push(Authentication::MeshTls(vec![Identity::Any]));
            }
            LinkerdPolicy { namespace, server, required }
        })
}

fn default_policy() -> impl Strategy<Value = Option<DefaultPolicy>> {
    prop::option::weighted(
        0.4,
        prop::sample::select(vec![
            DefaultPolicy::AllUnauthenticated,
            DefaultPolicy::AllAuthenticated,
            DefaultPolicy::ClusterAuthenticated,
            DefaultPolicy::ClusterUnauthenticated,
            DefaultPolicy::Deny,
        ]),
    )
}

fn inject() -> impl Strategy<Value = Option<(Mesh, bool)>> {
    prop::option::weighted(0.7, (prop::sample::select(vec![Mesh::Istio, Mesh::Linkerd]), prop::bool::weighted(0.75)))
}

fn netpol() -> impl Strategy<Value = NetworkPolicy> {
    let rule =
        || prop::option::of((prop::option::of(0..2usize), prop::option::of(prop::sample::select(PORTS.to_vec()))));
    (0..2usize, prop::option::of(0..2usize), [any::<bool>(), any::<bool>()], [rule(), rule()]).prop_map(
        |(namespace, subject, types, rules)| NetworkPolicy {
            namespace,
            subject,
            types: if types == [false, false] { [true, false] } else { types },
            rules,
        },
    )
}

fn spec() -> impl Strategy<Value = Spec> {
    let namespace =
        || (inject(), default_policy()).prop_map(|(inject, linkerd_default)| NamespaceSpec { inject, linkerd_default });
    let pod = (
        0..2usize,
        0..2usize,
        0..2usize,
        prop::option::weighted(0.4, (prop::sample::select(vec![Mesh::Istio, Mesh::Linkerd]), any::<bool>())),
        prop::bool::weighted(0.2),
        default_policy(),
    )
        .prop_map(|(namespace, app, account, inject, exclude_tcp, linkerd_default)| PodSpec {
            namespace,
            app,
            account,
            inject,
            exclude_tcp,
            linkerd_default,
        });
    (
        [namespace(), namespace()],
        prop::collection::vec(pod, 2..=5),
        prop::collection::vec(authorization_policy(), 0..=4),
        peer_authentications(),
        servers(),
        prop::collection::vec(linkerd_policy(), 0..=3),
        prop::collection::vec(netpol(), 0..=2),
    )
        .prop_map(|(namespaces, mut pods, authorization, peer_authentication, servers, linkerd, netpols)| {
            // A pod names only its namespace's mesh, if the namespace names one: two meshes' injectors on one
            // pod is not a configuration either documents.
            for pod in &mut pods {
                if let (Some((ns_mesh, _)), Some((pod_mesh, on))) = (namespaces[pod.namespace].inject, pod.inject) {
                    if ns_mesh != pod_mesh {
                        pod.inject = Some((ns_mesh, on));
                    }
                }
            }
            Spec { namespaces, pods, authorization, peer_authentication, servers, linkerd, netpols }
        })
}

// ---------------------------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------------------------

fn verdict_kind(verdict: &RequestVerdict) -> Outcome {
    match verdict {
        RequestVerdict::Allowed { .. } => Outcome::Allowed,
        RequestVerdict::Denied { .. } => Outcome::Denied,
        RequestVerdict::Unknown { .. } => Outcome::Unknown,
    }
}

fn check(spec: &Spec) -> Result<(), TestCaseError> {
    let text = yaml(spec);
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("mesh.yaml"), text.as_bytes(), false);
    prop_assert!(!inventory.has_errors(), "{:?}\n{text}", inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    let analysis = Analysis::new(&cluster);
    let workload_of: BTreeMap<String, usize> =
        cluster.workloads.iter().enumerate().map(|(i, w)| (w.id.name.clone(), i)).collect();
    let endpoint = |end: End| match end {
        End::Pod(p) => Endpoint::Pod { workload: workload_of[&format!("p{p}")], pod: 0 },
        End::Outside => Endpoint::Address(OUTSIDE.parse::<IpAddr>().expect("address")),
    };
    let resolved = |end: End| Resolved {
        display: format!("{end:?}"),
        workload: match end {
            End::Pod(p) => Some(workload_of[&format!("p{p}")]),
            End::Outside => None,
        },
        endpoints: vec![endpoint(end)],
        entity: None,
        outside: None,
    };
    let sources: Vec<End> = (0..spec.pods.len()).map(End::Pod).chain([End::Outside]).collect();
    for &src in &sources {
        for dst in 0..spec.pods.len() {
            if src == End::Pod(dst) {
                continue;
            }
            let allowed = analysis.allowed(endpoint(src), endpoint(End::Pod(dst)));
            for port in PORTS {
                let reach = spec.network(src, dst, port) && spec.passable(src, dst, port);
                prop_assert_eq!(
                    allowed.contains(Protocol::Tcp, port),
                    reach,
                    "reach {:?} -> p{} on TCP {}\n{}",
                    src,
                    dst,
                    port,
                    text
                );
                let methods: Vec<Option<&str>> = METHODS.iter().map(|m| Some(*m)).collect();
                for method in methods {
                    // A named method on a TCP port is still TCP traffic to the proxy.
                    let asked = if port == HTTP_PORT { method } else { None };
                    let expected = spec.expected(src, dst, port, asked);
                    let request = Request { method: method.map(String::from), ..Request::default() };
                    let verdict = query::verdict(
                        &analysis,
                        resolved(src),
                        resolved(End::Pod(dst)),
                        PortQuery { protocol: Some(Protocol::Tcp), port: Some(port) },
                        request,
                    );
                    prop_assert_eq!(
                        verdict.allowed(),
                        expected != Outcome::Denied,
                        "can {:?} -> p{} on TCP {} {:?}: expected {:?}, engine {:?}\n{}",
                        src,
                        dst,
                        port,
                        method,
                        expected,
                        verdict.request_verdicts,
                        text
                    );
                    let mesh_verdicts: Vec<Outcome> = verdict
                        .request_verdicts
                        .iter()
                        .filter(|(layer, _)| matches!(layer, Layer::Istio | Layer::Linkerd))
                        .map(|(_, v)| verdict_kind(v))
                        .collect();
                    let decides = spec.network(src, dst, port) && spec.captured(dst, port);
                    let wanted: Vec<Outcome> = if decides { vec![expected] } else { Vec::new() };
                    prop_assert_eq!(
                        mesh_verdicts,
                        wanted,
                        "the mesh's verdict {:?} -> p{} on TCP {} {:?}\n{}",
                        src,
                        dst,
                        port,
                        method,
                        text
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mesh_and_network_match_the_brute_force(spec in spec()) {
        check(&spec)?;
    }
}
