//! Holds the engine's Cilium semantics against a brute-force evaluator on random small clusters.
//!
//! The clusters are generated as plain structs, written out as YAML for the engine, and evaluated here straight
//! from Cilium's documented rules, port by port: a matching deny rule of a policy that selects the endpoint denies;
//! otherwise an endpoint that is default-deny in the direction (a NetworkPolicy isolates it, or a Cilium policy
//! selects it with rules in that direction and `enableDefaultDeny` does not say `false`) gets what any allow rule of
//! either kind allows; any other endpoint gets everything. The evaluator shares nothing with the engine, not even
//! the model: it reads its own structs.

use netseg_engine::network::{Network, NetworkChoice};
use netseg_engine::Endpoint;
use netseg_model::{load_bytes, Cluster, Inventory, Protocol};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

const NAMESPACES: [&str; 2] = ["n0", "n1"];
const APPS: [&str; 3] = ["a", "b", "c"];
const ADDRESSES: [&str; 2] = ["10.1.1.1", "8.8.8.8"];
const PROBES: [(Protocol, u16); 5] =
    [(Protocol::Tcp, 80), (Protocol::Tcp, 443), (Protocol::Udp, 53), (Protocol::Udp, 80), (Protocol::Tcp, 8080)];

#[derive(Debug, Clone)]
struct PodSpec {
    namespace: usize,
    app: usize,
}

#[derive(Debug, Clone)]
enum Peer {
    /// `fromEndpoints`/`toEndpoints` with `app`, in the policy's namespace or the one named.
    Endpoints {
        app: Option<usize>,
        namespace: Option<usize>,
    },
    Entity(&'static str),
    /// 10.0.0.0/8.
    Cidr,
}

#[derive(Debug, Clone)]
struct CiliumRuleSpec {
    /// `None`: no peer field (an L4-only rule when it has ports).
    peers: Option<Vec<Peer>>,
    /// `None`: no `toPorts`; `Some((port, protocol))`, protocol `None` for ANY.
    port: Option<(u16, Option<Protocol>)>,
}

#[derive(Debug, Clone)]
struct CiliumSpec {
    namespace: usize,
    /// The endpointSelector's `app`; `None`: every pod of the namespace.
    subject: Option<usize>,
    /// ingress, ingressDeny, egress, egressDeny.
    lists: [Vec<CiliumRuleSpec>; 4],
    /// `enableDefaultDeny` for ingress and egress as written.
    default_deny: [Option<bool>; 2],
}

/// A NetworkPolicy rule: peers by `app` in the policy's namespace (`None`: any pod of it), and a port.
type NetpolRule = (Option<usize>, Option<(u16, Protocol)>);

#[derive(Debug, Clone)]
struct NetpolSpec {
    namespace: usize,
    subject: Option<usize>,
    /// policyTypes Ingress, Egress.
    types: [bool; 2],
    /// One rule per direction at most: peers by `app` in the namespace (`None`: any pod of it), and a port.
    rules: [Option<NetpolRule>; 2],
}

#[derive(Debug, Clone)]
struct Spec {
    pods: Vec<PodSpec>,
    cilium: Vec<CiliumSpec>,
    netpols: Vec<NetpolSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Pod(usize),
    Address(&'static str),
}

fn in_cidr(address: &str) -> bool {
    address.starts_with("10.")
}

fn peer_matches(spec: &Spec, policy_namespace: usize, peer: &Peer, other: End) -> bool {
    match (peer, other) {
        (Peer::Endpoints { app, namespace }, End::Pod(p)) => {
            let pod = &spec.pods[p];
            pod.namespace == namespace.unwrap_or(policy_namespace) && app.is_none_or(|a| a == pod.app)
        }
        (Peer::Endpoints { .. }, End::Address(_)) => false,
        (Peer::Entity("all"), _) => true,
        (Peer::Entity("cluster"), other) => matches!(other, End::Pod(_)),
        (Peer::Entity("world"), other) => matches!(other, End::Address(_)),
        (Peer::Entity(_), _) => false,
        (Peer::Cidr, End::Address(address)) => in_cidr(address),
        (Peer::Cidr, End::Pod(_)) => false,
    }
}

fn cilium_rule_matches(
    spec: &Spec,
    namespace: usize,
    rule: &CiliumRuleSpec,
    other: End,
    probe: (Protocol, u16),
) -> bool {
    let peer_ok = match &rule.peers {
        None => rule.port.is_some(),
        Some(peers) => peers.iter().any(|peer| peer_matches(spec, namespace, peer, other)),
    };
    let port_ok = match rule.port {
        None => true,
        Some((port, protocol)) => port == probe.1 && protocol.is_none_or(|p| p == probe.0),
    };
    peer_ok && port_ok
}

fn selects(namespace: usize, subject: Option<usize>, pod: &PodSpec) -> bool {
    pod.namespace == namespace && subject.is_none_or(|app| app == pod.app)
}

/// One side, one probe port: Cilium's deny, default deny and allow union.
fn side(spec: &Spec, subject: usize, other: End, direction: usize, probe: (Protocol, u16)) -> bool {
    let pod = &spec.pods[subject];
    let (allow_list, deny_list) = if direction == 0 { (0, 1) } else { (2, 3) };
    // A rule with no entry in any list has no effect (Cilium 1.15 and later refuse it).
    let selecting: Vec<&CiliumSpec> = spec
        .cilium
        .iter()
        .filter(|c| c.lists.iter().any(|list| !list.is_empty()) && selects(c.namespace, c.subject, pod))
        .collect();
    for policy in &selecting {
        if policy.lists[deny_list].iter().any(|rule| cilium_rule_matches(spec, policy.namespace, rule, other, probe)) {
            return false;
        }
    }
    let netpols: Vec<&NetpolSpec> =
        spec.netpols.iter().filter(|n| n.types[direction] && selects(n.namespace, n.subject, pod)).collect();
    let cilium_isolates = selecting.iter().any(|policy| {
        policy.default_deny[direction]
            .unwrap_or(!policy.lists[allow_list].is_empty() || !policy.lists[deny_list].is_empty())
    });
    if netpols.is_empty() && !cilium_isolates {
        return true;
    }
    let by_cilium = selecting.iter().any(|policy| {
        policy.lists[allow_list].iter().any(|rule| cilium_rule_matches(spec, policy.namespace, rule, other, probe))
    });
    let by_netpol = netpols.iter().any(|netpol| match &netpol.rules[direction] {
        None => false,
        Some((app, port)) => {
            let peer_ok = match other {
                End::Pod(p) => spec.pods[p].namespace == netpol.namespace && app.is_none_or(|a| a == spec.pods[p].app),
                End::Address(_) => false,
            };
            peer_ok && port.is_none_or(|(number, protocol)| number == probe.1 && protocol == probe.0)
        }
    });
    by_cilium || by_netpol
}

fn brute(spec: &Spec, src: End, dst: End, probe: (Protocol, u16)) -> bool {
    if src == dst {
        return true;
    }
    let egress = match src {
        End::Pod(p) => side(spec, p, dst, 1, probe),
        End::Address(_) => true,
    };
    let ingress = match dst {
        End::Pod(p) => side(spec, p, src, 0, probe),
        End::Address(_) => true,
    };
    egress && ingress
}

// ---------------------------------------------------------------------------------------------------------------
// Writing the spec out for the engine
// ---------------------------------------------------------------------------------------------------------------

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn yaml(spec: &Spec) -> String {
    let mut out = String::new();
    for (i, pod) in spec.pods.iter().enumerate() {
        let _ = write!(
            out,
            "kind: Pod\nmetadata: {{name: p{i}, namespace: {}, labels: {{app: {}}}}}\nspec: {{containers: [{{ports: [{{containerPort: 80}}]}}]}}\n---\n",
            NAMESPACES[pod.namespace], APPS[pod.app]
        );
    }
    for (i, policy) in spec.cilium.iter().enumerate() {
        let _ = write!(
            out,
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: c{i}, namespace: {}}}\nspec:\n  endpointSelector: {{{}}}\n",
            NAMESPACES[policy.namespace],
            policy.subject.map(|a| format!("matchLabels: {{app: {}}}", APPS[a])).unwrap_or_default()
        );
        let flags: Vec<String> = ["ingress", "egress"]
            .iter()
            .zip(policy.default_deny)
            .filter_map(|(name, value)| value.map(|v| format!("{name}: {v}")))
            .collect();
        if !flags.is_empty() {
            let _ = writeln!(out, "  enableDefaultDeny: {{{}}}", flags.join(", "));
        }
        for (list, name) in policy.lists.iter().zip(["ingress", "ingressDeny", "egress", "egressDeny"]) {
            if list.is_empty() {
                continue;
            }
            let (endpoints, entities, cidr) = if name.starts_with("ingress") {
                ("fromEndpoints", "fromEntities", "fromCIDR")
            } else {
                ("toEndpoints", "toEntities", "toCIDR")
            };
            let _ = writeln!(out, "  {name}:");
            for rule in list {
                let mut fields = Vec::new();
                if let Some(peers) = &rule.peers {
                    // One peer field per rule: the first peer's kind decides which.
                    match peers.first() {
                        Some(Peer::Endpoints { .. }) | None => {
                            let selectors: Vec<String> = peers
                                .iter()
                                .filter_map(|peer| match peer {
                                    Peer::Endpoints { app, namespace } => {
                                        let mut labels = Vec::new();
                                        if let Some(app) = app {
                                            labels.push(format!("app: {}", APPS[*app]));
                                        }
                                        if let Some(ns) = namespace {
                                            labels
                                                .push(format!("k8s:io.kubernetes.pod.namespace: {}", NAMESPACES[*ns]));
                                        }
                                        Some(format!("{{matchLabels: {{{}}}}}", labels.join(", ")))
                                    }
                                    _ => None,
                                })
                                .collect();
                            fields.push(format!("{endpoints}: [{}]", selectors.join(", ")));
                        }
                        Some(Peer::Entity(_)) => {
                            let names: Vec<&str> = peers
                                .iter()
                                .filter_map(|peer| match peer {
                                    Peer::Entity(name) => Some(*name),
                                    _ => None,
                                })
                                .collect();
                            fields.push(format!("{entities}: [{}]", names.join(", ")));
                        }
                        Some(Peer::Cidr) => fields.push(format!("{cidr}: [10.0.0.0/8]")),
                    }
                }
                if let Some((port, protocol)) = rule.port {
                    let protocol = protocol.map_or("ANY", protocol_name);
                    fields.push(format!("toPorts: [{{ports: [{{port: '{port}', protocol: {protocol}}}]}}]"));
                }
                let _ = writeln!(out, "  - {{{}}}", fields.join(", "));
            }
        }
        out.push_str("---\n");
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
            let ports = port
                .map(|(number, protocol)| {
                    format!(", ports: [{{port: {number}, protocol: {}}}]", protocol_name(protocol))
                })
                .unwrap_or_default();
            let _ = writeln!(out, "  {name}: [{{{peer_field}: [{{podSelector: {{{selector}}}}}]{ports}}}]");
        }
        out.push_str("---\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------------------------

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        3 => (prop::option::of(0..3usize), prop::option::weighted(0.3, 0..2usize))
            .prop_map(|(app, namespace)| Peer::Endpoints { app, namespace }),
        1 => prop::sample::select(vec!["world", "cluster", "all"]).prop_map(Peer::Entity),
        1 => Just(Peer::Cidr),
    ]
}

fn cilium_rule() -> impl Strategy<Value = CiliumRuleSpec> {
    (
        prop::option::weighted(0.8, prop::collection::vec(peer(), 1..=2)),
        prop::option::of((
            prop::sample::select(vec![53u16, 80, 443]),
            prop::option::of(prop::sample::select(vec![Protocol::Tcp, Protocol::Udp])),
        )),
    )
        .prop_map(|(peers, port)| {
            // Keep one kind of peer per rule, as the YAML writes one field.
            let peers = peers.map(|peers| {
                let first = std::mem::discriminant(&peers[0]);
                peers.into_iter().filter(|p| std::mem::discriminant(p) == first).collect::<Vec<_>>()
            });
            // A rule with neither peers nor ports is written as `{}`: it matches nothing in Cilium.
            CiliumRuleSpec { peers, port }
        })
}

fn cilium_spec() -> impl Strategy<Value = CiliumSpec> {
    let list = || prop::collection::vec(cilium_rule(), 0..=2);
    (
        0..2usize,
        prop::option::of(0..3usize),
        [list(), list(), list(), list()],
        [prop::option::weighted(0.3, any::<bool>()), prop::option::weighted(0.3, any::<bool>())],
    )
        .prop_map(|(namespace, subject, lists, default_deny)| CiliumSpec {
            namespace,
            subject,
            lists,
            default_deny,
        })
}

fn netpol_spec() -> impl Strategy<Value = NetpolSpec> {
    let rule = || {
        prop::option::of((
            prop::option::of(0..3usize),
            prop::option::of((
                prop::sample::select(vec![53u16, 80, 443]),
                prop::sample::select(vec![Protocol::Tcp, Protocol::Udp]),
            )),
        ))
    };
    (0..2usize, prop::option::of(0..3usize), [any::<bool>(), any::<bool>()], [rule(), rule()])
        // An empty policyTypes means the default; write at least one.
        .prop_map(|(namespace, subject, types, rules)| NetpolSpec {
            namespace,
            subject,
            types: if types == [false, false] { [true, false] } else { types },
            rules,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec((0..2usize, 0..3usize).prop_map(|(namespace, app)| PodSpec { namespace, app }), 1..=5),
        prop::collection::vec(cilium_spec(), 0..=3),
        prop::collection::vec(netpol_spec(), 0..=2),
    )
        .prop_map(|(pods, cilium, netpols)| Spec { pods, cilium, netpols })
}

fn check(spec: &Spec) -> Result<(), TestCaseError> {
    let text = yaml(spec);
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("brute.yaml"), text.as_bytes(), false);
    prop_assert!(!inventory.has_errors(), "{:?}\n{text}", inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    let choice = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
    let network = Network::new(&cluster, &choice).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let analysis = network.effective();
    let workload_of: BTreeMap<String, usize> =
        cluster.workloads.iter().enumerate().map(|(i, w)| (w.id.name.clone(), i)).collect();
    let engine_end = |end: End| match end {
        End::Pod(p) => Endpoint::Pod { workload: workload_of[&format!("p{p}")], pod: 0 },
        End::Address(address) => Endpoint::Address(address.parse::<IpAddr>().expect("address")),
    };
    let ends: Vec<End> = (0..spec.pods.len()).map(End::Pod).chain(ADDRESSES.iter().map(|a| End::Address(a))).collect();
    for &src in &ends {
        for &dst in &ends {
            if matches!((src, dst), (End::Address(_), End::Address(_))) {
                continue;
            }
            let allowed = analysis.allowed(engine_end(src), engine_end(dst));
            for probe in PROBES {
                let expected = brute(spec, src, dst, probe);
                prop_assert_eq!(
                    allowed.contains(probe.0, probe.1),
                    expected,
                    "{:?} -> {:?} on {:?}\n{}",
                    src,
                    dst,
                    probe,
                    text
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn cilium_semantics_match_the_brute_force(spec in spec()) {
        check(&spec)?;
    }
}
