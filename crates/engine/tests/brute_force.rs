//! Holds the engine against a deliberately simple brute-force evaluator on random small clusters.
//!
//! The evaluator below is written straight from the Kubernetes NetworkPolicy semantics and the network-policy-api
//! tier rules: for every pair it walks the admin policies in priority order and their rules in order, deciding
//! port by port, then every NetworkPolicy and rule, then the baseline policies, matching selectors, CIDRs and
//! nodes with its own code and keeping ports as a plain bitmap per protocol. It shares nothing with the engine but
//! the model types.

use netseg_engine::{Analysis, EngineOptions, PortSet, WorkloadConnection};
use netseg_model::cidr::Cidr;
use netseg_model::{
    AdminAction, AdminPeer, AdminPeerSelector, AdminPods, AdminPolicy, AdminPolicyKind, AdminPolicyPort, AdminPort,
    AdminRule, Cluster, ClusterNode, ContainerPort, Direction, IpBlock, LabelSelector, Labels, Location, Namespace,
    NetworkPolicy, Operator, Peer, PeerSelector, Pod, PodFacts, PolicyPort, PolicyRule, PortRef, Protocol, Requirement,
    Suppression, Tier, Workload, WorkloadKind, WorkloadRef, NAMESPACE_NAME_LABEL,
};
use proptest::prelude::*;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

#[path = "brute/evaluator.rs"]
mod evaluator;
use evaluator::*;

// ---------------------------------------------------------------------------------------------------------------
// Building clusters
// ---------------------------------------------------------------------------------------------------------------

fn loc() -> Location {
    Location { file: Arc::from("generated.yaml"), line: 1 }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn namespace(name: &str, extra: Labels) -> Namespace {
    let mut labels = extra;
    labels.insert(NAMESPACE_NAME_LABEL, name);
    Namespace {
        name: name.to_string(),
        ignore: Suppression::default(),
        labels,
        annotations: Labels::new(),
        location: None,
    }
}

fn facts(labels: Labels, host_network: bool, ports: Vec<ContainerPort>, ips: Vec<IpAddr>) -> PodFacts {
    PodFacts { labels, host_network, ports, ips, ..PodFacts::default() }
}

fn workload(namespace: &str, name: &str, pods: Vec<PodFacts>) -> Workload {
    Workload {
        id: WorkloadRef { namespace: namespace.to_string(), name: name.to_string(), kind: WorkloadKind::Deployment },
        selector: None,
        pods: pods
            .into_iter()
            .enumerate()
            .map(|(i, facts)| Pod { name: Some(format!("{name}-{i}")), facts, location: loc() })
            .collect(),
        ignore: Suppression::default(),
        location: loc(),
    }
}

fn policy(
    namespace: &str,
    name: &str,
    pod_selector: LabelSelector,
    types: Option<Vec<Direction>>,
    ingress: Vec<PolicyRule>,
    egress: Vec<PolicyRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        namespace: namespace.to_string(),
        name: name.to_string(),
        pod_selector,
        declared_policy_types: types,
        ingress,
        egress,
        ignore: Suppression::default(),
        location: loc(),
    }
}

fn rule(peers: Vec<PeerSelector>, ports: Vec<PolicyPort>) -> PolicyRule {
    PolicyRule { peers: peers.into_iter().map(|selector| Peer { selector, line: 1 }).collect(), ports, line: 1 }
}

fn cport(name: Option<&str>, port: u16, protocol: Protocol) -> ContainerPort {
    ContainerPort { name: name.map(str::to_string), port, protocol, host_port: None }
}

fn pport(protocol: Protocol, port: Option<PortRef>, end_port: Option<u16>) -> PolicyPort {
    PolicyPort { protocol, port, end_port, line: 1 }
}

fn cidr(text: &str) -> Cidr {
    text.parse().expect("test CIDRs are valid")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test addresses are valid")
}

/// Sorts and completes a hand-built cluster so it meets the engine's invariants.
fn finish(mut namespaces: Vec<Namespace>, mut workloads: Vec<Workload>, policies: Vec<NetworkPolicy>) -> Cluster {
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    workloads.sort_by(|a, b| a.id.cmp(&b.id));
    Cluster { namespaces, workloads, policies, ..Cluster::default() }
}

/// A YAML-ish description of a cluster, for failure messages.
fn describe(cluster: &Cluster) -> String {
    let mut out = String::new();
    let sel = |s: &LabelSelector| s.to_string();
    let opt = |s: &Option<LabelSelector>| s.as_ref().map_or("null".to_string(), |s| format!("{{{s}}}"));
    out.push_str("namespaces:\n");
    for ns in &cluster.namespaces {
        let _ = writeln!(out, "  - {} {:?}", ns.name, ns.labels);
    }
    out.push_str("workloads:\n");
    for (wi, w) in cluster.workloads.iter().enumerate() {
        let _ = writeln!(out, "  - [{wi}] {}/{}", w.id.namespace, w.id.name);
        for (pi, p) in w.pods.iter().enumerate() {
            let ports: Vec<String> = p
                .facts
                .ports
                .iter()
                .map(|c| format!("{}:{}/{}", c.name.as_deref().unwrap_or("-"), c.port, c.protocol))
                .collect();
            let _ = writeln!(
                out,
                "      pod[{pi}] labels={:?} hostNetwork={} ips={:?} ports=[{}]",
                p.facts.labels,
                p.facts.host_network,
                p.facts.ips,
                ports.join(", ")
            );
        }
    }
    out.push_str("nodes:\n");
    for n in &cluster.nodes {
        let _ = writeln!(out, "  - {} {:?} {:?}", n.name, n.labels, n.addresses);
    }
    out.push_str("admin policies:\n");
    for p in &cluster.admin_policies {
        let _ =
            writeln!(out, "  - {:?} {} {:?} priority={} subject={:?}", p.kind, p.name, p.tier, p.priority, p.subject);
        for (dir, rules) in [("ingress", &p.ingress), ("egress", &p.egress)] {
            for r in rules {
                let peers: Vec<String> = r.peers.iter().map(|peer| format!("{:?}", peer.selector)).collect();
                let ports: Vec<String> = r.ports.iter().flatten().map(|p| format!("{:?}", p.port)).collect();
                let _ = writeln!(out, "      {dir} {:?}: peers=[{}] ports={}", r.action, peers.join(", "), {
                    if r.ports.is_none() {
                        "all".to_string()
                    } else {
                        format!("[{}]", ports.join(", "))
                    }
                });
            }
        }
    }
    out.push_str("policies:\n");
    for p in &cluster.policies {
        let _ = writeln!(
            out,
            "  - {}/{} podSelector={{{}}} policyTypes={:?}",
            p.namespace,
            p.name,
            sel(&p.pod_selector),
            p.declared_policy_types
        );
        for (dir, rules) in [("ingress", &p.ingress), ("egress", &p.egress)] {
            for r in rules {
                let peers: Vec<String> = r
                    .peers
                    .iter()
                    .map(|peer| match &peer.selector {
                        PeerSelector::Pods { namespaces, pods } => {
                            format!("{{ns: {}, pods: {}}}", opt(namespaces), opt(pods))
                        }
                        PeerSelector::IpBlock(b) => {
                            let ex: Vec<String> = b.except.iter().map(|c| c.to_string()).collect();
                            format!("{{ipBlock: {} except [{}]}}", b.cidr, ex.join(", "))
                        }
                    })
                    .collect();
                let ports: Vec<String> = r
                    .ports
                    .iter()
                    .map(|pp| {
                        let mut s = pp.protocol.to_string();
                        if let Some(port) = &pp.port {
                            let _ = write!(s, "/{port}");
                        }
                        if let Some(end) = pp.end_port {
                            let _ = write!(s, "-{end}");
                        }
                        s
                    })
                    .collect();
                let _ = writeln!(out, "      {dir}: peers=[{}] ports=[{}]", peers.join(", "), ports.join(", "));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Unit tests of the brute-force evaluator itself
// ---------------------------------------------------------------------------------------------------------------

fn pod_end(workload: usize, pod: usize) -> End {
    End::Pod { workload, pod }
}

fn only(protocol: Protocol, ranges: &[(u16, u16)]) -> Bits {
    let mut bits = Bits::none();
    for (lo, hi) in ranges {
        bits.add_range(protocol, *lo, *hi);
    }
    bits
}

#[test]
fn bitmap_ranges_are_maximal() {
    let mut bits = Bits::none();
    bits.add_range(Protocol::Tcp, 1, 63);
    bits.add_range(Protocol::Tcp, 64, 64);
    bits.add_range(Protocol::Tcp, 70, 200);
    bits.add_range(Protocol::Tcp, 65535, 65535);
    bits.add_range(Protocol::Udp, 5, 5);
    assert_eq!(bits.ranges(Protocol::Tcp), vec![(1, 64), (70, 200), (65535, 65535)]);
    assert_eq!(bits.ranges(Protocol::Udp), vec![(5, 5)]);
    assert!(bits.ranges(Protocol::Sctp).is_empty());
    assert!(bits.has(Protocol::Tcp, 128) && !bits.has(Protocol::Tcp, 65) && !bits.has(Protocol::Tcp, 0));
    // Word-level filling agrees with setting bit by bit.
    for (lo, hi) in [(1u16, 65535u16), (63, 64), (64, 127), (100, 1000), (65472, 65535)] {
        let mut fast = Bits::none();
        fast.add_range(Protocol::Sctp, lo, hi);
        let mut slow = Bits::none();
        for p in lo..=hi {
            let p = usize::from(p);
            slow.words[2 * WORDS + p / 64] |= 1u64 << (p % 64);
        }
        assert_eq!(fast, slow);
        assert_eq!(fast.ranges(Protocol::Sctp), vec![(lo, hi)]);
    }
    assert_eq!(Bits::all().ranges(Protocol::Udp), vec![(1, 65535)]);
}

#[test]
fn selectors_and_cidrs_match_by_the_book() {
    let l = labels(&[("app", "x")]);
    let req = |key: &str, operator, values: &[&str]| Requirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    assert!(requirement_matches(&req("tier", Operator::NotIn, &["x"]), &l));
    assert!(!requirement_matches(&req("app", Operator::NotIn, &["x", "y"]), &l));
    assert!(!requirement_matches(&req("tier", Operator::In, &["x"]), &l));
    assert!(requirement_matches(&req("app", Operator::Exists, &[]), &l));
    assert!(requirement_matches(&req("tier", Operator::DoesNotExist, &[]), &l));
    let both = LabelSelector { match_labels: l.clone(), match_expressions: vec![req("tier", Operator::Exists, &[])] };
    assert!(!selector_matches(&both, &l));
    assert!(selector_matches(&LabelSelector::default(), &Labels::new()));

    assert!(cidr_has(&cidr("0.0.0.0/0"), ip("192.168.1.1")));
    assert!(!cidr_has(&cidr("0.0.0.0/0"), ip("fd00::1")));
    assert!(cidr_has(&cidr("::/0"), ip("fd00::9")));
    assert!(cidr_has(&cidr("fd00::/126"), ip("fd00::3")));
    assert!(!cidr_has(&cidr("fd00::/126"), ip("fd00::9")));
    assert!(cidr_has(&cidr("10.0.0.0/30"), ip("10.0.0.3")));
    assert!(!cidr_has(&cidr("10.0.0.0/30"), ip("10.0.0.4")));
}

#[test]
fn default_deny_ingress_blocks_only_ingress() {
    let cluster = finish(
        vec![namespace("a", Labels::new())],
        vec![
            workload("a", "web", vec![facts(labels(&[("app", "web")]), false, vec![], vec![])]),
            workload("a", "db", vec![facts(labels(&[("app", "db")]), false, vec![], vec![])]),
        ],
        vec![policy("a", "deny", labels_selector(&[("app", "db")]), None, vec![], vec![])],
    );
    let (db, web) = (pod_end(0, 0), pod_end(1, 0));
    assert!(brute_allowed(&cluster, web, db).is_empty());
    assert_eq!(brute_allowed(&cluster, db, web), Bits::all());
    assert!(brute_allowed(&cluster, End::Address(ip("10.0.0.9")), db).is_empty());
    assert_eq!(brute_allowed(&cluster, db, db), Bits::all());
    assert_eq!(brute_allowed(&cluster, End::Address(ip("10.0.0.9")), End::Address(ip("10.0.0.1"))), Bits::all());
}

fn labels_selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { match_labels: labels(pairs), match_expressions: vec![] }
}

#[test]
fn named_port_needs_the_same_protocol() {
    let dns_port = vec![cport(Some("dns"), 53, Protocol::Udp), cport(Some("dns"), 5353, Protocol::Tcp)];
    let cluster = finish(
        vec![namespace("a", Labels::new())],
        vec![
            workload("a", "client", vec![facts(Labels::new(), false, vec![], vec![])]),
            workload("a", "dns", vec![facts(labels(&[("app", "dns")]), false, dns_port, vec![])]),
        ],
        vec![policy(
            "a",
            "p",
            labels_selector(&[("app", "dns")]),
            Some(vec![Direction::Ingress]),
            vec![rule(vec![], vec![pport(Protocol::Sctp, Some(PortRef::Name("dns".into())), None)])],
            vec![],
        )],
    );
    let (client, dns) = (pod_end(0, 0), pod_end(1, 0));
    assert!(brute_allowed(&cluster, client, dns).is_empty());

    let mut udp = cluster.clone();
    udp.policies[0].ingress[0].ports[0].protocol = Protocol::Udp;
    assert_eq!(brute_allowed(&udp, client, dns), only(Protocol::Udp, &[(53, 53)]));

    // An egress rule resolves the name on the peer; toward an address it matches nothing.
    let egress = finish(
        cluster.namespaces.clone(),
        cluster.workloads.clone(),
        vec![policy(
            "a",
            "p",
            LabelSelector::default(),
            None,
            vec![rule(vec![], vec![])],
            vec![rule(vec![], vec![pport(Protocol::Tcp, Some(PortRef::Name("dns".into())), None)])],
        )],
    );
    assert_eq!(brute_allowed(&egress, client, dns), only(Protocol::Tcp, &[(5353, 5353)]));
    assert!(brute_allowed(&egress, client, End::Address(ip("10.0.0.1"))).is_empty());
    assert!(brute_allowed(&egress, dns, client).is_empty());
}

#[test]
fn except_carves_out_an_address_and_pod_ips() {
    let block = PeerSelector::IpBlock(IpBlock { cidr: cidr("10.0.0.0/30"), except: vec![cidr("10.0.0.2/32")] });
    let ports = vec![pport(Protocol::Tcp, Some(PortRef::Number(80)), Some(90)), pport(Protocol::Sctp, None, None)];
    let cluster = finish(
        vec![namespace("a", Labels::new())],
        vec![
            workload("a", "x", vec![facts(Labels::new(), false, vec![], vec![ip("10.0.0.1")])]),
            workload("a", "y", vec![facts(Labels::new(), false, vec![], vec![ip("10.0.0.2"), ip("fd00::1")])]),
        ],
        vec![policy(
            "a",
            "p",
            LabelSelector::default(),
            Some(vec![Direction::Egress]),
            vec![],
            vec![rule(vec![block], ports)],
        )],
    );
    let mut expected = only(Protocol::Tcp, &[(80, 90)]);
    expected.add_range(Protocol::Sctp, 1, 65535);
    let (x, y) = (pod_end(0, 0), pod_end(1, 0));
    assert_eq!(brute_allowed(&cluster, x, End::Address(ip("10.0.0.1"))), expected);
    assert_eq!(brute_allowed(&cluster, x, End::Address(ip("10.0.0.3"))), expected);
    assert!(brute_allowed(&cluster, x, End::Address(ip("10.0.0.2"))).is_empty());
    assert!(brute_allowed(&cluster, x, End::Address(ip("10.0.0.9"))).is_empty());
    assert!(brute_allowed(&cluster, x, End::Address(ip("fd00::1"))).is_empty());
    assert!(brute_allowed(&cluster, x, y).is_empty());
    assert_eq!(brute_allowed(&cluster, y, x), expected);
    // Ingress is not isolated: addresses reach in freely.
    assert_eq!(brute_allowed(&cluster, End::Address(ip("10.0.0.2")), x), Bits::all());
}

#[test]
fn host_network_pods_are_not_selected_and_only_ip_blocks_match_them() {
    let cluster = finish(
        vec![namespace("a", labels(&[("team", "a")]))],
        vec![
            workload("a", "agent", vec![facts(labels(&[("app", "x")]), true, vec![], vec![ip("10.0.0.3")])]),
            workload("a", "web", vec![facts(labels(&[("app", "x")]), false, vec![], vec![ip("10.0.0.1")])]),
        ],
        vec![
            // Deny everything for every pod in `a`.
            policy(
                "a",
                "deny",
                LabelSelector::default(),
                Some(vec![Direction::Ingress, Direction::Egress]),
                vec![],
                vec![],
            ),
            // Allow web from pods labelled app=x in namespaces with team=a, and from 10.0.0.3 on UDP.
            policy(
                "a",
                "allow",
                LabelSelector::default(),
                None,
                vec![
                    rule(
                        vec![PeerSelector::Pods {
                            namespaces: Some(labels_selector(&[("team", "a")])),
                            pods: Some(labels_selector(&[("app", "x")])),
                        }],
                        vec![pport(Protocol::Tcp, None, None)],
                    ),
                    rule(
                        vec![PeerSelector::IpBlock(IpBlock { cidr: cidr("10.0.0.3/32"), except: vec![] })],
                        vec![pport(Protocol::Udp, None, None)],
                    ),
                ],
                vec![],
            ),
        ],
    );
    let (agent, web) = (pod_end(0, 0), pod_end(1, 0));
    // web's egress is denied by `deny`, even toward the agent.
    assert!(brute_allowed(&cluster, web, agent).is_empty());
    // The agent is not selected by the select-all policies: it may send anything and receive anything.
    assert_eq!(side(&cluster, agent, web, Direction::Egress), Bits::all());
    assert_eq!(side(&cluster, agent, web, Direction::Ingress), Bits::all());
    // web receives from the agent only through the ipBlock rule, never through the pod selector.
    assert_eq!(brute_allowed(&cluster, agent, web), only(Protocol::Udp, &[(1, 65535)]));
    // The policy with egress rules absent and no policyTypes does not isolate egress by itself.
    assert_eq!(effective_types(&cluster.policies[1]), (true, false));
    assert_eq!(effective_types(&cluster.policies[0]), (true, true));
}

#[test]
fn policy_types_default_and_filter_rules() {
    let cluster = finish(
        vec![namespace("a", Labels::new()), namespace("b", labels(&[("env", "b")]))],
        vec![
            workload("a", "x", vec![facts(Labels::new(), false, vec![], vec![])]),
            workload("b", "y", vec![facts(Labels::new(), false, vec![], vec![])]),
        ],
        vec![
            // No policyTypes but egress rules: isolates egress, allowing TCP 443 to namespace env=b.
            policy(
                "a",
                "e",
                LabelSelector::default(),
                None,
                vec![],
                vec![rule(
                    vec![PeerSelector::Pods { namespaces: Some(labels_selector(&[("env", "b")])), pods: None }],
                    vec![pport(Protocol::Tcp, Some(PortRef::Number(443)), None)],
                )],
            ),
            // policyTypes [Ingress] in b: its egress rules are ignored, so b's egress stays open.
            policy(
                "b",
                "i",
                LabelSelector::default(),
                Some(vec![Direction::Ingress]),
                vec![rule(vec![], vec![])],
                vec![rule(vec![PeerSelector::IpBlock(IpBlock { cidr: cidr("::/0"), except: vec![] })], vec![])],
            ),
        ],
    );
    let (x, y) = (pod_end(0, 0), pod_end(1, 0));
    assert_eq!(brute_allowed(&cluster, x, y), only(Protocol::Tcp, &[(443, 443)]));
    assert!(brute_allowed(&cluster, x, End::Address(ip("192.168.1.1"))).is_empty());
    assert_eq!(brute_allowed(&cluster, y, End::Address(ip("192.168.1.1"))), Bits::all());
    // x's ingress is isolated by policy `e` (Ingress is always implied) with no ingress rules.
    assert!(brute_allowed(&cluster, y, x).is_empty());
    // A namespace selector of None means the policy's own namespace.
    let mut own = cluster.clone();
    own.policies[0].egress[0].peers[0].selector = PeerSelector::Pods { namespaces: None, pods: None };
    assert!(brute_allowed(&own, x, y).is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Random clusters
// ---------------------------------------------------------------------------------------------------------------

const PROTOCOLS: &[Protocol] = &Protocol::ALL;
const POD_KEYS: &[&str] = &["app", "tier"];
const POD_VALUES: &[&str] = &["x", "y"];
const NS_KEYS: &[&str] = &["team", "env", NAMESPACE_NAME_LABEL];
const NS_VALUES: &[&str] = &["a", "b", "n0", "n1"];
const NS_LABEL_KEYS: &[&str] = &["team", "env"];
const NS_LABEL_VALUES: &[&str] = &["a", "b"];
const PORT_NAMES: &[&str] = &["http", "dns", "db"];
const RULE_PORT_NAMES: &[&str] = &["http", "dns", "db", "nope"];
const CONTAINER_PORTS: &[u16] = &[53, 80, 443, 5432, 8080];
const RULE_PORTS: &[u16] = &[1, 53, 80, 443, 5432, 8080, 65535];
const END_DELTAS: &[u16] = &[0, 1, 27, 1000, 65535];
const IP_POOL: &[&str] = &["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "fd00::1", "fd00::2"];
const ADDRESSES: &[&str] = &["10.0.0.2", "10.0.0.9", "192.168.1.1", "fd00::1", "fd00::9", "172.18.0.2"];
/// Node addresses; host-network pods take one of them (or another pool address) as their IP.
const NODE_IPS: &[&str] = &["172.18.0.2", "172.18.0.3", "10.0.0.4"];
const NODE_KEYS: &[&str] = &["os", "role"];
const NODE_VALUES: &[&str] = &["linux", "infra"];
/// The first two are the generated nodes' names; `gone` names no node.
const NODE_NAMES: &[&str] = &["node-0", "node-1", "gone"];
const NETWORKS: &[&str] = &["0.0.0.0/0", "10.0.0.0/30", "10.0.0.2/32", "172.18.0.0/31", "::/0", "fd00::/127"];
const ADMIN_PRIORITIES: &[u32] = &[0, 1, 5];
const ADMIN_NAMES: &[&str] = &["default", "a", "b"];
/// ipBlock CIDRs, each with the excepts that lie strictly inside it.
const BLOCKS: &[(&str, &[&str])] = &[
    ("10.0.0.0/30", &["10.0.0.2/32", "10.0.0.0/31", "10.0.0.1/32", "10.0.0.2/31"]),
    ("10.0.0.2/32", &[]),
    ("0.0.0.0/0", &["10.0.0.0/30", "10.0.0.2/32", "10.0.0.0/8", "192.168.0.0/16"]),
    ("10.0.0.0/24", &["10.0.0.3/32", "10.0.0.0/30"]),
    ("fd00::/126", &["fd00::1/128", "fd00::2/127"]),
    ("::/0", &["fd00::/126", "fd00::2/128"]),
];

fn strings(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(items).prop_map(str::to_string)
}

fn shared(items: &'static [&'static str]) -> impl Strategy<Value = Arc<str>> {
    prop::sample::select(items).prop_map(Arc::from)
}

fn label_map(keys: &'static [&'static str], values: &'static [&'static str]) -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(shared(keys), shared(values), 0..=keys.len()).prop_map(Labels::from_iter)
}

fn requirement(keys: &'static [&'static str], values: &'static [&'static str]) -> impl Strategy<Value = Requirement> {
    (strings(keys), 0..4usize, prop::collection::vec(strings(values), 1..=2)).prop_map(|(key, op, values)| {
        let operator = [Operator::In, Operator::NotIn, Operator::Exists, Operator::DoesNotExist][op];
        let values = if op < 2 { values } else { Vec::new() };
        Requirement { key, operator, values }
    })
}

fn selector(keys: &'static [&'static str], values: &'static [&'static str]) -> impl Strategy<Value = LabelSelector> {
    (
        prop::collection::btree_map(shared(keys), shared(values), 0..=1).prop_map(Labels::from_iter),
        prop::collection::vec(requirement(keys, values), 0..=2),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector { match_labels, match_expressions })
}

fn optional_selector(
    keys: &'static [&'static str],
    values: &'static [&'static str],
) -> impl Strategy<Value = Option<LabelSelector>> {
    prop_oneof![Just(None), Just(Some(LabelSelector::default())), selector(keys, values).prop_map(Some)]
}

fn peer() -> impl Strategy<Value = Peer> {
    let pods = (optional_selector(NS_KEYS, NS_VALUES), optional_selector(POD_KEYS, POD_VALUES))
        .prop_map(|(namespaces, pods)| PeerSelector::Pods { namespaces, pods });
    let block = (0..BLOCKS.len(), prop::collection::vec(any::<prop::sample::Index>(), 0..=2)).prop_map(|(b, picks)| {
        let (base, excepts) = BLOCKS[b];
        let except = if excepts.is_empty() {
            Vec::new()
        } else {
            picks.iter().map(|i| cidr(excepts[i.index(excepts.len())])).collect()
        };
        PeerSelector::IpBlock(IpBlock { cidr: cidr(base), except })
    });
    prop_oneof![3 => pods, 2 => block].prop_map(|selector| Peer { selector, line: 1 })
}

fn policy_port() -> impl Strategy<Value = PolicyPort> {
    (
        prop::sample::select(PROTOCOLS),
        0..4usize,
        prop::sample::select(RULE_PORTS),
        prop::sample::select(END_DELTAS),
        strings(RULE_PORT_NAMES),
    )
        .prop_map(|(protocol, kind, n, delta, name)| match kind {
            0 => pport(protocol, None, None),
            1 => pport(protocol, Some(PortRef::Number(n)), None),
            2 => pport(protocol, Some(PortRef::Number(n)), Some(n.saturating_add(delta))),
            _ => pport(protocol, Some(PortRef::Name(name)), None),
        })
}

fn policy_rule() -> impl Strategy<Value = PolicyRule> {
    (prop::collection::vec(peer(), 0..=3), prop::collection::vec(policy_port(), 0..=3))
        .prop_map(|(peers, ports)| PolicyRule { peers, ports, line: 1 })
}

fn container_port() -> impl Strategy<Value = ContainerPort> {
    (
        prop::option::of(prop::sample::select(PORT_NAMES)),
        prop::sample::select(CONTAINER_PORTS),
        prop::sample::select(PROTOCOLS),
    )
        .prop_map(|(name, port, protocol)| cport(name, port, protocol))
}

fn pod_facts() -> impl Strategy<Value = PodFacts> {
    (
        label_map(POD_KEYS, POD_VALUES),
        prop::bool::weighted(0.2),
        prop::collection::vec(container_port(), 0..=3),
        prop::sample::subsequence(IP_POOL, 0..=2),
        prop::option::of(prop::sample::select(NODE_NAMES)),
        prop::option::of(prop::sample::select(NODE_IPS)),
    )
        .prop_map(|(labels, host_network, ports, ips, node, node_ip)| {
            let mut ips: Vec<IpAddr> = ips.into_iter().map(ip).collect();
            let mut facts_ = facts(labels, host_network, ports, Vec::new());
            if host_network {
                // A host-network pod's IP is its node's (or unknown); where it runs may be written or not.
                ips = node_ip.map(ip).into_iter().collect();
                facts_.node_name = node.map(str::to_string);
            }
            facts_.ips = ips;
            facts_
        })
}

fn admin_pods() -> impl Strategy<Value = AdminPods> {
    prop_oneof![
        selector(NS_KEYS, NS_VALUES).prop_map(AdminPods::Namespaces),
        (selector(NS_KEYS, NS_VALUES), selector(POD_KEYS, POD_VALUES))
            .prop_map(|(namespaces, pods)| AdminPods::Pods { namespaces, pods }),
    ]
}

fn admin_peer(direction: Direction) -> BoxedStrategy<AdminPeerSelector> {
    let pods = admin_pods().prop_map(AdminPeerSelector::Pods);
    match direction {
        Direction::Ingress => pods.boxed(),
        Direction::Egress => prop_oneof![
            3 => pods,
            2 => prop::sample::subsequence(NETWORKS, 1..=2)
                .prop_map(|c| AdminPeerSelector::Networks(c.into_iter().map(cidr).collect())),
            2 => selector(NODE_KEYS, NODE_VALUES).prop_map(AdminPeerSelector::Nodes),
            1 => Just(AdminPeerSelector::DomainNames(vec!["example.com".into()])),
        ]
        .boxed(),
    }
}

fn admin_port() -> impl Strategy<Value = AdminPort> {
    (prop::sample::select(PROTOCOLS), 0..3usize, prop::sample::select(RULE_PORTS), 1..2000u16, strings(RULE_PORT_NAMES))
        .prop_map(|(protocol, kind, port, span, name)| match kind {
            0 => AdminPort::Number { protocol, port },
            1 => AdminPort::Range { protocol, start: port.min(65534), end: port.min(65534).saturating_add(span) },
            _ => AdminPort::Named(name),
        })
}

fn admin_rule(direction: Direction, actions: &'static [AdminAction]) -> impl Strategy<Value = AdminRule> {
    (
        prop::sample::select(actions),
        prop::collection::vec(admin_peer(direction), 1..=2),
        prop::option::of(prop::collection::vec(admin_port(), 1..=2)),
    )
        .prop_map(|(action, peers, ports)| {
            // The CRDs refuse named ports beside nodes/networks peers, and domainNames outside Accept rules.
            let addresses = peers.iter().any(|p| !matches!(p, AdminPeerSelector::Pods(_)));
            let ports = ports.map(|ports| {
                ports
                    .into_iter()
                    .filter(|p| !(addresses && matches!(p, AdminPort::Named(_))))
                    .map(|port| AdminPolicyPort { port, line: 1 })
                    .collect::<Vec<_>>()
            });
            let peers = peers
                .into_iter()
                .filter(|p| action == AdminAction::Allow || !matches!(p, AdminPeerSelector::DomainNames(_)))
                .map(|selector| AdminPeer { selector, line: 1 })
                .collect();
            AdminRule { name: None, action, peers, ports: ports.filter(|p| !p.is_empty()), line: 1 }
        })
}

const ALL_ACTIONS: &[AdminAction] = &[AdminAction::Allow, AdminAction::Deny, AdminAction::Pass];
const BANP_ACTIONS: &[AdminAction] = &[AdminAction::Allow, AdminAction::Deny];

fn admin_policy() -> impl Strategy<Value = AdminPolicy> {
    (0..4usize, prop::sample::select(ADMIN_NAMES), prop::sample::select(ADMIN_PRIORITIES), admin_pods())
        .prop_flat_map(|(kind, name, priority, subject)| {
            let actions = if kind == 1 { BANP_ACTIONS } else { ALL_ACTIONS };
            (
                Just((kind, name, priority, subject)),
                prop::collection::vec(admin_rule(Direction::Ingress, actions), 0..=3),
                prop::collection::vec(admin_rule(Direction::Egress, actions), 0..=3),
            )
        })
        .prop_map(|((kind, name, priority, subject), ingress, egress)| {
            let (kind, tier) = match kind {
                0 => (AdminPolicyKind::AdminNetworkPolicy, Tier::Admin),
                1 => (AdminPolicyKind::BaselineAdminNetworkPolicy, Tier::Baseline),
                2 => (AdminPolicyKind::ClusterNetworkPolicy, Tier::Admin),
                _ => (AdminPolicyKind::ClusterNetworkPolicy, Tier::Baseline),
            };
            let priority = if kind == AdminPolicyKind::BaselineAdminNetworkPolicy { 0 } else { priority };
            AdminPolicy {
                kind,
                tier,
                name: name.to_string(),
                priority,
                subject,
                ingress,
                egress,
                ignore: Suppression::default(),
                location: loc(),
            }
        })
}

/// Nodes are named `node-<index>` (names are unique in a cluster); pods may name a node that is not there.
fn cluster_node() -> impl Strategy<Value = ClusterNode> {
    (label_map(NODE_KEYS, NODE_VALUES), prop::sample::subsequence(NODE_IPS, 0..=2)).prop_map(|(labels, ips)| {
        ClusterNode {
            name: String::new(),
            labels,
            addresses: ips.into_iter().map(ip).collect(),
            pod_cidrs: Vec::new(),
            location: loc(),
        }
    })
}

/// Namespaces are given as indexes modulo the number of namespaces.
type PolicySpec = (usize, LabelSelector, usize, Vec<PolicyRule>, Vec<PolicyRule>);

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        0..4usize,
        prop_oneof![1 => Just(LabelSelector::default()), 2 => selector(POD_KEYS, POD_VALUES)],
        0..4usize,
        prop::collection::vec(policy_rule(), 0..=3),
        prop::collection::vec(policy_rule(), 0..=3),
    )
}

fn cluster_strategy() -> impl Strategy<Value = Cluster> {
    (
        prop::collection::vec(label_map(NS_LABEL_KEYS, NS_LABEL_VALUES), 1..=4),
        prop::collection::vec((0..4usize, prop::collection::vec(pod_facts(), 1..=2)), 1..=6),
        prop::collection::vec(policy_spec(), 0..=5),
        prop::collection::vec(admin_policy(), 0..=3),
        prop::collection::vec(cluster_node(), 0..=2),
    )
        .prop_map(|(ns_labels, workload_specs, policy_specs, admin_policies, nodes)| {
            let n = ns_labels.len();
            let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let namespaces = ns_labels.into_iter().enumerate().map(|(i, l)| namespace(&names[i], l)).collect();
            let workloads = workload_specs
                .into_iter()
                .enumerate()
                .map(|(i, (ns, pods))| workload(&names[ns % n], &format!("w{i}"), pods))
                .collect();
            let policies = policy_specs
                .into_iter()
                .enumerate()
                .map(|(i, (ns, pod_selector, types, ingress, egress))| {
                    let types = match types {
                        0 => None,
                        1 => Some(vec![Direction::Ingress]),
                        2 => Some(vec![Direction::Egress]),
                        _ => Some(vec![Direction::Ingress, Direction::Egress]),
                    };
                    policy(&names[ns % n], &format!("p{i}"), pod_selector, types, ingress, egress)
                })
                .collect();
            let mut cluster = finish(namespaces, workloads, policies);
            cluster.admin_policies = admin_policies;
            cluster.nodes = nodes
                .into_iter()
                .enumerate()
                .map(|(i, node)| ClusterNode { name: NODE_NAMES[i].to_string(), ..node })
                .collect();
            cluster
        })
}

fn endpoints(cluster: &Cluster) -> Vec<End> {
    let mut out = Vec::new();
    for (w, workload) in cluster.workloads.iter().enumerate() {
        for p in 0..workload.pods.len() {
            out.push(End::Pod { workload: w, pod: p });
        }
    }
    out.extend(ADDRESSES.iter().map(|a| End::Address(ip(a))));
    out
}

fn check_cluster(cluster: &Cluster) -> Result<(), TestCaseError> {
    let analysis = Analysis::new(cluster);
    let ends = endpoints(cluster);
    let n = cluster.workloads.len();
    let mut by_workload: Vec<Vec<Option<Bits>>> = vec![vec![None; n]; n];
    let mut brute: Vec<Vec<Bits>> = Vec::with_capacity(ends.len());
    for &src in &ends {
        let mut row = Vec::with_capacity(ends.len());
        for &dst in &ends {
            let expected = brute_allowed(cluster, src, dst);
            row.push(expected.clone());
            let actual = analysis.allowed(src.to_engine(), dst.to_engine());
            for protocol in Protocol::ALL {
                if expected.ranges(protocol) != actual.ranges(protocol) {
                    return Err(TestCaseError::fail(format!(
                        "allowed({src:?} -> {dst:?}) differs on {protocol}\n  engine:      {}\n  brute force: {:?}\n{}",
                        engine_ranges(&actual),
                        expected,
                        describe(cluster)
                    )));
                }
            }
            if let (End::Pod { workload: ws, .. }, End::Pod { workload: wd, .. }) = (src, dst) {
                if ws != wd {
                    by_workload[ws][wd].get_or_insert_with(Bits::none).union_with(&expected);
                }
            }
        }
        brute.push(row);
    }
    check_factored(cluster, &analysis, &ends, &brute, &by_workload)?;
    let mut expected = Vec::new();
    for (s, row) in by_workload.iter().enumerate() {
        for (d, bits) in row.iter().enumerate() {
            if let Some(bits) = bits.as_ref().filter(|b| !b.is_empty()) {
                expected.push((s, d, format!("{bits:?}")));
            }
        }
    }
    let actual: Vec<(usize, usize, String)> = analysis
        .workload_connections()
        .iter()
        .map(|c: &WorkloadConnection| (c.src, c.dst, engine_ranges(&c.allowed)))
        .collect();
    prop_assert_eq!(&actual, &expected, "workload_connections differ\n{}", describe(cluster));
    // The grouped answer stands for exactly the pairs of the per-pair one, each once.
    let grouped = analysis.reach_groups();
    let reach = analysis.reach();
    prop_assert_eq!(grouped.pairs(), reach.connections.len() as u64, "group pair count\n{}", describe(cluster));
    prop_assert_eq!(grouped.expand(), reach, "reach_groups().expand() differs from reach()\n{}", describe(cluster));
    Ok(())
}

/// Port filters the factored questions are asked with: everything, and ports the random rules and containers use.
fn filters() -> Vec<PortSet> {
    vec![
        PortSet::all(),
        PortSet::single(Protocol::Tcp, 80),
        PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]),
        PortSet::from_ranges(&[(Protocol::Tcp, 5000, 9000), (Protocol::Sctp, 1, 100)]),
    ]
}

fn bits_of(set: &PortSet) -> Bits {
    let mut bits = Bits::none();
    for protocol in Protocol::ALL {
        for &(lo, hi) in set.ranges(protocol) {
            bits.add_range(protocol, lo, hi);
        }
    }
    bits
}

fn same(bits: &Bits, set: &PortSet) -> bool {
    Protocol::ALL.iter().all(|&p| bits.ranges(p) == set.ranges(p))
}

/// The factored answer's questions against the brute-force pairs: per-workload verdicts, who reaches each workload
/// and whom each reaches (with counts), addresses, pair counts and the multi-hop closure.
fn check_factored(
    cluster: &Cluster,
    analysis: &Analysis<'_>,
    ends: &[End],
    brute: &[Vec<Bits>],
    by_workload: &[Vec<Option<Bits>>],
) -> Result<(), TestCaseError> {
    let answer = analysis.answer();
    let n = cluster.workloads.len();
    let pods: Vec<(usize, usize)> = ends
        .iter()
        .filter_map(|e| match e {
            End::Pod { workload, pod } => Some((*workload, *pod)),
            End::Address(_) => None,
        })
        .collect();
    let none = Bits::none();
    let between = |s: usize, d: usize| by_workload[s][d].as_ref().unwrap_or(&none);
    for s in 0..n {
        for d in 0..n {
            let actual = answer.workload_allowed(s, d);
            let expected = if s == d { &none } else { between(s, d) };
            prop_assert!(
                same(expected, &actual),
                "workload_allowed({s}, {d}): {} vs {expected:?}\n{}",
                engine_ranges(&actual),
                describe(cluster)
            );
        }
    }
    // Whether every pod pair of two workloads is admitted on every wanted port, asked pair of profiles by pair.
    for wanted in filters() {
        let mask = bits_of(&wanted);
        let mut admits = answer.admits_all(&wanted);
        for s in 0..n {
            for d in (0..n).filter(|&d| d != s) {
                let actual =
                    answer.profiles_of(s).iter().all(|&a| answer.profiles_of(d).iter().all(|&b| admits.pair(a, b)));
                let expected = pods.iter().enumerate().filter(|(_, (w, _))| *w == s).all(|(i, _)| {
                    pods.iter().enumerate().filter(|(_, (w, _))| *w == d).all(|(j, _)| {
                        let mut bits = brute[i][j].clone();
                        bits.intersect_with(&mask);
                        bits == mask
                    })
                });
                prop_assert_eq!(
                    actual,
                    expected,
                    "admits_all({}) from {} to {}\n{}",
                    engine_ranges(&wanted),
                    s,
                    d,
                    describe(cluster)
                );
            }
        }
    }
    for wanted in filters() {
        let mask = bits_of(&wanted);
        let narrowed = |bits: &Bits| {
            let mut bits = bits.clone();
            bits.intersect_with(&mask);
            bits
        };
        for w in 0..n {
            // Who reaches w, and whom w reaches, as workloads with ports.
            for (peers, incoming) in [(answer.sources(w, &wanted), true), (answer.targets(w, &wanted), false)] {
                let actual: Vec<(usize, String)> =
                    peers.workloads().into_iter().map(|(p, ports)| (p, engine_ranges(&ports))).collect();
                let expected: Vec<(usize, String)> = (0..n)
                    .filter(|&p| p != w)
                    .map(|p| (p, narrowed(if incoming { between(p, w) } else { between(w, p) })))
                    .filter(|(_, bits)| !bits.is_empty())
                    .map(|(p, bits)| (p, format!("{bits:?}")))
                    .collect();
                prop_assert_eq!(
                    &actual,
                    &expected,
                    "{} of {} on {}\n{}",
                    if incoming { "sources" } else { "targets" },
                    w,
                    engine_ranges(&wanted),
                    describe(cluster)
                );
                prop_assert_eq!(
                    peers.workload_count(),
                    expected.len() as u64,
                    "workload count of {}\n{}",
                    w,
                    describe(cluster)
                );
                // The sample: the first peers of those `keep` keeps (odd workloads), their count, and each peer's ports.
                let (count, first) = peers.sample_where(|p| p % 2 == 1, 2);
                let odd: Vec<(usize, String)> = actual.iter().filter(|(p, _)| p % 2 == 1).cloned().collect();
                prop_assert_eq!(count, odd.len() as u64, "sample count of {}\n{}", w, describe(cluster));
                let first: Vec<(usize, String)> =
                    first.into_iter().map(|(p, ports)| (p, engine_ranges(&ports))).collect();
                prop_assert_eq!(&first[..], &odd[..odd.len().min(2)], "sample of {}\n{}", w, describe(cluster));
                // The same, keeping all but a listed few (the even workloads), without a pass over every peer.
                let even: Vec<usize> = (0..n).filter(|p| p % 2 == 0).collect();
                let (count, first) = peers.sample_except(&even, 2);
                prop_assert_eq!(count, odd.len() as u64, "sample_except count of {}\n{}", w, describe(cluster));
                let first: Vec<(usize, String)> =
                    first.into_iter().map(|(p, ports)| (p, engine_ranges(&ports))).collect();
                prop_assert_eq!(&first[..], &odd[..odd.len().min(2)], "sample_except of {}\n{}", w, describe(cluster));
                let (count, first) = peers.sample_except(&[], 3);
                prop_assert_eq!(
                    count,
                    actual.len() as u64,
                    "sample_except(none) count of {}\n{}",
                    w,
                    describe(cluster)
                );
                let first: Vec<(usize, String)> =
                    first.into_iter().map(|(p, ports)| (p, engine_ranges(&ports))).collect();
                prop_assert_eq!(
                    &first[..],
                    &actual[..actual.len().min(3)],
                    "sample_except(none) of {}\n{}",
                    w,
                    describe(cluster)
                );
                for p in 0..n {
                    let ports = engine_ranges(&peers.ports_of(p));
                    let listed = actual
                        .iter()
                        .find(|(q, _)| *q == p)
                        .map_or(engine_ranges(&PortSet::empty()), |(_, r)| r.clone());
                    prop_assert_eq!(ports, listed, "ports_of({}) among the peers of {}\n{}", p, w, describe(cluster));
                }
                // Peer pods: pods of other workloads with something allowed toward (or from) some pod of w.
                let peer_pods = pods
                    .iter()
                    .enumerate()
                    .filter(|(_, (pw, _))| *pw != w)
                    .filter(|(i, _)| {
                        pods.iter().enumerate().filter(|(_, (ow, _))| *ow == w).any(|(j, _)| {
                            let bits = if incoming { &brute[*i][j] } else { &brute[j][*i] };
                            !narrowed(bits).is_empty()
                        })
                    })
                    .count();
                prop_assert_eq!(peers.pod_count(), peer_pods as u64, "pod count of {}\n{}", w, describe(cluster));
            }
        }
        // Pair counts.
        let workload_pairs = (0..n)
            .flat_map(|s| (0..n).map(move |d| (s, d)))
            .filter(|&(s, d)| s != d && !narrowed(between(s, d)).is_empty())
            .count();
        let pod_pairs = (0..pods.len())
            .flat_map(|i| (0..pods.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| i != j && !narrowed(&brute[i][j]).is_empty())
            .count();
        let count = answer.pair_count(&wanted);
        prop_assert_eq!(
            (count.workloads, count.pods),
            (workload_pairs as u64, pod_pairs as u64),
            "pair count on {}\n{}",
            engine_ranges(&wanted),
            describe(cluster)
        );
    }
    // Addresses, both ways, the union over a workload's pods.
    for (a, end) in ends.iter().enumerate() {
        let End::Address(addr) = end else { continue };
        for w in 0..n {
            let mut to = Bits::none();
            let mut from = Bits::none();
            for (i, (pw, _)) in pods.iter().enumerate() {
                if *pw == w {
                    to.union_with(&brute[i][a]);
                    from.union_with(&brute[a][i]);
                }
            }
            prop_assert!(same(&to, &answer.to_address(w, *addr)), "to_address({w}, {addr})\n{}", describe(cluster));
            prop_assert!(
                same(&from, &answer.from_address(*addr, w)),
                "from_address({addr}, {w})\n{}",
                describe(cluster)
            );
        }
    }
    // The closure from each workload: breadth-first depths over the brute-force workload graph; every hop real.
    for origin in 0..n {
        for max_hops in [1, n] {
            let mut depth: Vec<Option<usize>> = vec![None; n];
            depth[origin] = Some(0);
            let mut queue = std::collections::VecDeque::from([origin]);
            while let Some(w) = queue.pop_front() {
                let d = depth[w].unwrap_or(0);
                if d >= max_hops {
                    continue;
                }
                let next: Vec<usize> =
                    (0..n).filter(|&x| depth[x].is_none() && x != w && !between(w, x).is_empty()).collect();
                for x in next {
                    depth[x] = Some(d + 1);
                    queue.push_back(x);
                }
            }
            let reached = answer.closure(&[(origin, 0, PortSet::empty())], max_hops);
            let actual: Vec<Option<usize>> = reached.iter().map(|h| h.as_ref().map(|h| h.depth)).collect();
            prop_assert_eq!(&actual, &depth, "closure from {} within {}\n{}", origin, max_hops, describe(cluster));
            for (w, hop) in reached.iter().enumerate() {
                let Some(hop) = hop else { continue };
                match hop.from {
                    None => prop_assert_eq!(w, origin),
                    Some(from) => {
                        prop_assert_eq!(
                            depth[from],
                            Some(hop.depth - 1),
                            "the hop into {} comes from the level before",
                            w
                        );
                        prop_assert!(
                            same(between(from, w), &hop.ports),
                            "hop {from} -> {w} ports\n{}",
                            describe(cluster)
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// A CNI that enforces nothing: the analysis that leaves the policies out must answer exactly as the brute force
/// does on the cluster with no policy of any tier, per pair and in every all-pairs answer.
fn check_unenforced(cluster: &Cluster) -> Result<(), TestCaseError> {
    let open = Cluster { policies: Vec::new(), admin_policies: Vec::new(), ..cluster.clone() };
    let options = EngineOptions { policies_enforced: false, ..EngineOptions::default() };
    let unenforced = Analysis::with_options(cluster, &options);
    let reference = Analysis::new(&open);
    let ends = endpoints(cluster);
    for &src in &ends {
        for &dst in &ends {
            let expected = brute_allowed(&open, src, dst);
            let actual = unenforced.allowed(src.to_engine(), dst.to_engine());
            for protocol in Protocol::ALL {
                prop_assert_eq!(
                    expected.ranges(protocol),
                    actual.ranges(protocol),
                    "unenforced allowed({:?} -> {:?}) on {}\n{}",
                    src,
                    dst,
                    protocol,
                    describe(cluster)
                );
            }
            prop_assert!(unenforced.explain(src.to_engine(), dst.to_engine()).ingress.isolating().is_empty());
        }
    }
    prop_assert_eq!(unenforced.reach(), reference.reach(), "reach\n{}", describe(cluster));
    prop_assert_eq!(unenforced.reach_groups(), reference.reach_groups(), "reach_groups\n{}", describe(cluster));
    prop_assert_eq!(unenforced.atoms(), reference.atoms(), "atoms\n{}", describe(cluster));
    prop_assert!(unenforced.shadowed_rules().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_brute_force(cluster in cluster_strategy()) {
        check_cluster(&cluster)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn unenforced_policies_answer_as_no_policies(cluster in cluster_strategy()) {
        check_unenforced(&cluster)?;
    }
}

/// The difference of two factored answers against the pairs of each, compared one by one: the cluster, and the
/// cluster with its first NetworkPolicy dropped and its last workload renamed (so that one workload is only
/// before and one only after).
fn check_difference(cluster: &Cluster) -> Result<(), TestCaseError> {
    let mut changed = cluster.clone();
    if !changed.policies.is_empty() {
        changed.policies.remove(0);
    }
    if let Some(last) = changed.workloads.last_mut() {
        last.id.name.push_str("-renamed");
    }
    let (before, after) = (Analysis::new(cluster), Analysis::new(&changed));
    let pairs = |analysis: &Analysis<'_>| -> std::collections::BTreeMap<(String, String), String> {
        let workloads = &analysis.cluster.workloads;
        analysis
            .workload_connections()
            .into_iter()
            .map(|c| ((workloads[c.src].id.to_string(), workloads[c.dst].id.to_string()), engine_ranges(&c.allowed)))
            .collect()
    };
    let (old, new) = (pairs(&before), pairs(&after));
    let mut expected: Vec<((String, String), String, String)> = Vec::new();
    for key in old.keys().chain(new.keys()).collect::<std::collections::BTreeSet<_>>() {
        let none = engine_ranges(&PortSet::empty());
        let (was, is) = (old.get(key).unwrap_or(&none), new.get(key).unwrap_or(&none));
        if was != is {
            expected.push((key.clone(), was.clone(), is.clone()));
        }
    }
    let difference = netseg_engine::difference(&before, &after);
    let name = |j: usize| -> String {
        let joint = difference.workloads[j];
        match (joint.before, joint.after) {
            (Some(i), _) => cluster.workloads[i].id.to_string(),
            (None, Some(i)) => changed.workloads[i].id.to_string(),
            (None, None) => String::from("?"),
        }
    };
    let mut actual: Vec<((String, String), String, String)> = Vec::new();
    for group in &difference.groups {
        prop_assert_ne!(&group.before, &group.after, "a change group that changes nothing");
        for &src in &group.srcs {
            for &dst in group.dsts.iter().filter(|&&d| d != src) {
                actual.push(((name(src), name(dst)), engine_ranges(&group.before), engine_ranges(&group.after)));
            }
        }
    }
    actual.sort();
    let before_len = actual.len();
    actual.dedup();
    prop_assert_eq!(before_len, actual.len(), "a changed pair lies in two groups\n{}", describe(cluster));
    prop_assert_eq!(actual, expected, "difference\n{}", describe(cluster));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_difference_of_two_answers_is_the_changed_pairs(cluster in cluster_strategy()) {
        check_difference(&cluster)?;
    }
}
