//! Holds the engine's Calico evaluation against the brute-force evaluator of `brute/calico.rs` on random small
//! clusters, written as YAML and read by the real loader: tiers with random orders and default actions, Calico
//! NetworkPolicies and GlobalNetworkPolicies with random selectors, rules, actions, ports and protocols, a
//! GlobalNetworkSet, service accounts and Kubernetes NetworkPolicies in the default tier.

use netseg_engine::{Analysis, Endpoint, EngineOptions};
use netseg_model::load::{load_bytes, Inventory};
use netseg_model::{Cluster, Protocol, Severity};
use proptest::prelude::*;
use std::sync::Arc;

#[path = "brute/calico.rs"]
mod calico;
use calico::*;

const SELECTORS: &[&str] = &[
    "all()",
    "app == 'a'",
    "app in {'a', 'b'}",
    "has(role)",
    "!has(role)",
    "role != 'x'",
    "projectcalico.org/namespace == 'n0'",
    "pcns.team == 'red'",
    "projectcalico.org/serviceaccount == 'robot'",
    "pcsa.tier == 'backend'",
    "kind == 'partner'",
];
const NAMESPACE_SELECTORS: &[&str] = &["all()", "team == 'red'", "projectcalico.org/name == 'n1'", "global()"];
const NETS: &[&str] = &["203.0.113.0/24", "10.0.0.0/30", "10.0.0.4/32"];
const PORTS: &[&str] = &["80", "'80:443'", "http", "53"];
const TIERS: &[&str] = &["default", "t0", "t1"];
const ACTIONS: &[&str] = &["Allow", "Deny", "Pass", "Log"];
const PROBES: &[(Protocol, u16)] = &[
    (Protocol::Tcp, 80),
    (Protocol::Tcp, 81),
    (Protocol::Tcp, 443),
    (Protocol::Tcp, 1),
    (Protocol::Udp, 53),
    (Protocol::Udp, 80),
    (Protocol::Sctp, 80),
];

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(pool)
}

/// An entity rule (`source` or `destination`) in flow style; `ports` only where the rule has a protocol.
fn entity(with_ports: bool) -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.5, pick(SELECTORS)),
        prop::option::weighted(0.15, pick(SELECTORS)),
        prop::option::weighted(0.2, pick(NAMESPACE_SELECTORS)),
        prop::option::weighted(0.15, prop::bool::ANY),
        prop::option::weighted(0.15, pick(NETS)),
        prop::option::weighted(0.1, pick(NETS)),
        prop::option::weighted(0.5, pick(PORTS)),
        prop::option::weighted(0.15, pick(PORTS)),
    )
        .prop_map(
            move |(selector, not_selector, namespace_selector, accounts, nets, not_nets, ports, not_ports)| {
                let (ports, not_ports) = if with_ports { (ports, not_ports) } else { (None, None) };
                let mut fields = Vec::new();
                if let Some(s) = selector {
                    fields.push(format!("selector: \"{s}\""));
                }
                if let Some(s) = not_selector {
                    fields.push(format!("notSelector: \"{s}\""));
                }
                if let Some(s) = namespace_selector {
                    fields.push(format!("namespaceSelector: \"{s}\""));
                }
                match accounts {
                    Some(true) => fields.push("serviceAccounts: {names: [robot]}".into()),
                    Some(false) => fields.push("serviceAccounts: {selector: \"tier == 'backend'\"}".into()),
                    None => {}
                }
                if let Some(n) = nets {
                    fields.push(format!("nets: [{n}]"));
                }
                if let Some(n) = not_nets {
                    fields.push(format!("notNets: [{n}]"));
                }
                if let Some(p) = ports {
                    fields.push(format!("ports: [{p}]"));
                }
                if let Some(p) = not_ports {
                    fields.push(format!("notPorts: [{p}]"));
                }
                format!("{{{}}}", fields.join(", "))
            },
        )
}

fn rule() -> impl Strategy<Value = String> {
    (
        pick(ACTIONS),
        prop::option::weighted(0.5, pick(&["TCP", "UDP", "ICMP"])),
        prop::option::weighted(0.1, pick(&["TCP", "UDP"])),
    )
        .prop_flat_map(|(action, protocol, not_protocol)| {
            let ported = matches!(protocol, Some("TCP" | "UDP"));
            (Just(action), Just(protocol), Just(not_protocol), entity(false), entity(ported))
        })
        .prop_map(|(action, protocol, not_protocol, source, destination)| {
            let mut fields = vec![format!("action: {action}")];
            if let Some(p) = protocol {
                fields.push(format!("protocol: {p}"));
            }
            if let Some(p) = not_protocol {
                fields.push(format!("notProtocol: {p}"));
            }
            fields.push(format!("source: {source}"));
            fields.push(format!("destination: {destination}"));
            format!("{{{}}}", fields.join(", "))
        })
}

fn policy(index: usize) -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        0..2usize,
        pick(TIERS),
        prop::option::weighted(0.7, 0..4u32),
        pick(SELECTORS),
        prop::option::weighted(0.2, pick(&["all()", "team == 'red'"])),
        prop::option::weighted(0.1, Just("tier == 'backend'")),
        prop::option::weighted(0.3, pick(&["[Ingress]", "[Egress]", "[Ingress, Egress]"])),
        prop::collection::vec(rule(), 0..=2),
        prop::collection::vec(rule(), 0..=2),
    )
        .prop_map(move |(global, ns, tier, order, selector, ns_selector, sa_selector, types, ingress, egress)| {
            let kind = if global { "GlobalNetworkPolicy" } else { "NetworkPolicy" };
            let name = if tier == "default" { format!("p{index}") } else { format!("{tier}.p{index}") };
            let meta = if global { format!("{{name: {name}}}") } else { format!("{{name: {name}, namespace: n{ns}}}") };
            let mut spec = vec![format!("selector: \"{selector}\"")];
            if tier != "default" {
                spec.push(format!("tier: {tier}"));
            }
            if let Some(order) = order {
                spec.push(format!("order: {}", order * 500));
            }
            if global {
                if let Some(s) = ns_selector {
                    spec.push(format!("namespaceSelector: \"{s}\""));
                }
            }
            if let Some(s) = sa_selector {
                spec.push(format!("serviceAccountSelector: \"{s}\""));
            }
            if let Some(t) = types {
                spec.push(format!("types: {t}"));
            }
            if !ingress.is_empty() {
                spec.push(format!("ingress: [{}]", ingress.join(", ")));
            }
            if !egress.is_empty() {
                spec.push(format!("egress: [{}]", egress.join(", ")));
            }
            format!("apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {meta}\nspec: {{{}}}\n", spec.join(", "))
        })
}

fn k8s_policy(index: usize) -> impl Strategy<Value = String> {
    (0..2usize, pick(&["a", "b"]), prop::option::of(pick(&["a", "c"])), prop::option::of(Just(80u16)))
        .prop_map(move |(ns, app, from, port)| {
            let from = from.map(|f| format!("from: [{{podSelector: {{matchLabels: {{app: {f}}}}}}}], ")).unwrap_or_default();
            let ports = port.map(|p| format!("ports: [{{port: {p}}}]")).unwrap_or_default();
            format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: k{index}, namespace: n{ns}}}\n\
                 spec: {{podSelector: {{matchLabels: {{app: {app}}}}}, ingress: [{{{from}{ports}}}]}}\n"
            )
        })
}

fn pod(index: usize) -> impl Strategy<Value = String> {
    (0..2usize, pick(&["a", "b", "c"]), prop::option::of(pick(&["x", "w"])), prop::bool::ANY, prop::bool::ANY).prop_map(
        move |(ns, app, role, robot, http)| {
            let role = role.map(|r| format!(", role: {r}")).unwrap_or_default();
            let account = if robot { "serviceAccountName: robot, " } else { "" };
            let ports = if http { "ports: [{name: http, containerPort: 80}]" } else { "ports: []" };
            format!(
                "kind: Pod\nmetadata: {{name: pod{index}, namespace: n{ns}, labels: {{app: {app}{role}}}}}\n\
                 spec: {{{account}containers: [{{name: c, {ports}}}]}}\nstatus: {{podIP: 10.0.0.{}}}\n",
                index + 1
            )
        },
    )
}

fn tier(name: &'static str) -> impl Strategy<Value = String> {
    (prop::option::weighted(0.8, 0..3u32), prop::bool::ANY).prop_map(move |(order, pass)| {
        let order = order.map(|o| format!("order: {}, ", o * 100)).unwrap_or_default();
        let action = if pass { "Pass" } else { "Deny" };
        format!("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{{order}defaultAction: {action}}}\n")
    })
}

const FIXED: &str = "kind: Namespace\nmetadata: {name: n0, labels: {team: red}}\n---\n\
    kind: Namespace\nmetadata: {name: n1, labels: {team: blue}}\n---\n\
    kind: ServiceAccount\nmetadata: {name: robot, namespace: n0, labels: {tier: backend}}\n---\n\
    kind: ServiceAccount\nmetadata: {name: robot, namespace: n1}\n---\n\
    apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: partners, labels: {kind: partner}}\n\
    spec: {nets: [203.0.113.0/24]}\n";

fn input() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(0..1usize, 2..=4).prop_flat_map(|v| {
            let n = v.len();
            (0..n).map(pod).collect::<Vec<_>>()
        }),
        tier("t0"),
        tier("t1"),
        prop::collection::vec(0..1usize, 0..=4).prop_flat_map(|v| (0..v.len()).map(policy).collect::<Vec<_>>()),
        prop::collection::vec(0..1usize, 0..=2).prop_flat_map(|v| (0..v.len()).map(k8s_policy).collect::<Vec<_>>()),
    )
        .prop_map(|(pods, t0, t1, policies, k8s)| {
            let mut docs = vec![FIXED.to_string(), t0, t1];
            docs.extend(pods);
            docs.extend(policies);
            docs.extend(k8s);
            docs.join("---\n")
        })
}

fn load(text: &str) -> Result<Cluster, String> {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("generated.yaml"), text.as_bytes(), false);
    let errors: Vec<String> = inventory
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.line.unwrap_or(0), d.message))
        .collect();
    if errors.is_empty() {
        Ok(Cluster::from_inventory(inventory))
    } else {
        Err(errors.join("\n"))
    }
}

fn engine_end(cluster: &Cluster, end: End) -> Endpoint {
    match end {
        End::Pod(i) => {
            let mut left = i;
            for (workload, w) in cluster.workloads.iter().enumerate() {
                if left < w.pods.len() {
                    return Endpoint::Pod { workload, pod: left };
                }
                left -= w.pods.len();
            }
            unreachable!("pod index in range")
        }
        End::Address(addr) => Endpoint::Address(addr),
    }
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let cluster = match load(text) {
        Ok(cluster) => cluster,
        Err(errors) => return Err(TestCaseError::fail(format!("generated input refused:\n{errors}\n{text}"))),
    };
    let options = EngineOptions { calico: true, ..EngineOptions::default() };
    let analysis = Analysis::with_options(&cluster, &options);
    let mut ends: Vec<End> = (0..pods(&cluster).len()).map(End::Pod).collect();
    ends.extend(["203.0.113.7", "198.51.100.1"].iter().map(|a| End::Address(a.parse().expect("ip"))));
    for &src in &ends {
        for &dst in &ends {
            if matches!((src, dst), (End::Address(_), End::Address(_))) {
                continue;
            }
            let actual = analysis.allowed(engine_end(&cluster, src), engine_end(&cluster, dst));
            for &(protocol, port) in PROBES {
                let expected = calico_allowed(&cluster, src, dst, protocol, port);
                prop_assert_eq!(
                    actual.contains(protocol, port),
                    expected,
                    "{:?} -> {:?} on {} {}\n{}",
                    src,
                    dst,
                    protocol,
                    port,
                    text
                );
            }
        }
    }
    // The all-pairs answer (the factored one) agrees with the per-pair one, pair by pair, the pairs it leaves out
    // included.
    let reach = analysis.reach();
    let mut listed = std::collections::HashMap::new();
    for connection in &reach.connections {
        if let (netseg_engine::ReachEndpoint::Workload(s), netseg_engine::ReachEndpoint::Workload(d)) =
            (&reach.endpoints[connection.src], &reach.endpoints[connection.dst])
        {
            listed.insert((*s, *d), connection.allowed.clone());
        }
    }
    for (s, source) in cluster.workloads.iter().enumerate() {
        for (d, destination) in cluster.workloads.iter().enumerate() {
            if s == d {
                continue;
            }
            let mut pair = netseg_engine::PortSet::empty();
            for a in 0..source.pods.len() {
                for b in 0..destination.pods.len() {
                    pair.union_with(
                        &analysis.allowed(Endpoint::Pod { workload: s, pod: a }, Endpoint::Pod { workload: d, pod: b }),
                    );
                }
            }
            let from_reach = listed.get(&(s, d)).cloned().unwrap_or_else(netseg_engine::PortSet::empty);
            prop_assert_eq!(&pair, &from_reach, "reach differs from allowed for {} -> {}\n{}", s, d, text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_calico_brute_force(text in input()) {
        check(&text)?;
    }
}

/// Regression: once Calico peers factored, a `notPorts` naming a port (`http`, resolved on each destination) did
/// not split the factored answer's cells, and reach gave pod0 → pod1 every TCP port where the rule's Pass and the
/// tier's end cut TCP 80.
#[test]
fn a_named_not_port_splits_the_factored_answer_by_destination() {
    let text = "\
kind: Namespace
metadata: {name: n0, labels: {team: red}}
---
kind: Namespace
metadata: {name: n1, labels: {team: blue}}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: t0}
spec: {defaultAction: Deny}
---
kind: Pod
metadata: {name: pod0, namespace: n0, labels: {app: a, role: x}}
spec: {containers: [{name: c, ports: []}]}
status: {podIP: 10.0.0.1}
---
kind: Pod
metadata: {name: pod1, namespace: n0, labels: {app: a}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p0, namespace: n0}
spec: {selector: \"all()\", egress: [{action: Pass, protocol: TCP, source: {}, destination: {notPorts: [http]}}]}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p1, namespace: n0}
spec: {selector: \"!has(role)\"}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k0, namespace: n1}
spec: {podSelector: {matchLabels: {app: a}}, ingress: [{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k1, namespace: n0}
spec: {podSelector: {matchLabels: {app: a}}, ingress: [{}]}
";
    if let Err(failure) = check(text) {
        panic!("{failure}");
    }
}
