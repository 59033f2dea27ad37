//! The engine against the brute-force evaluator (`crates/engine/tests/brute/evaluator.rs`, the property test's
//! oracle) on small clusters built from arbitrary bytes and loaded through the real loader: namespaces and pods
//! with labels from a small alphabet (so that selectors match), pod IPs, host-network pods, named container ports,
//! and NetworkPolicies with every kind of peer and port. Every ordered pair of pods and addresses must agree.
#![no_main]

#[path = "../../crates/engine/tests/brute/evaluator.rs"]
mod evaluator;

use arbitrary::Arbitrary;
use evaluator::{brute_allowed, End};
use libfuzzer_sys::fuzz_target;
use netseg_model::{load_bytes, Cluster, Inventory, Protocol};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

const KEYS: [&str; 3] = ["app", "tier", "team"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const NAMESPACES: [&str; 3] = ["n0", "n1", "n2"];
const CIDRS: [&str; 6] = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "0.0.0.0/0", "192.168.0.0/16", "10.1.2.3/32"];
const ADDRESSES: [&str; 5] = ["10.1.2.3", "10.1.9.9", "10.200.0.1", "192.168.1.1", "8.8.8.8"];
const PORT_NAMES: [&str; 2] = ["http", "dns"];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

#[derive(Debug, Arbitrary)]
struct Label(u8, u8);

impl Label {
    fn pair(&self) -> (String, Value) {
        (KEYS[self.0 as usize % 3].to_string(), json!(VALUES[self.1 as usize % 3]))
    }
}

fn labels(labels: &[Label]) -> Value {
    Value::Object(labels.iter().take(3).map(Label::pair).collect::<Map<_, _>>())
}

#[derive(Debug, Arbitrary)]
enum Expression {
    In(u8, Vec<u8>),
    NotIn(u8, Vec<u8>),
    Exists(u8),
    DoesNotExist(u8),
}

#[derive(Debug, Arbitrary)]
struct Selector {
    labels: Vec<Label>,
    expressions: Vec<Expression>,
}

impl Selector {
    fn value(&self) -> Value {
        let values = |v: &[u8]| -> Vec<Value> {
            let mut out: Vec<Value> = v.iter().take(2).map(|i| json!(VALUES[*i as usize % 3])).collect();
            if out.is_empty() {
                out.push(json!("a"));
            }
            out
        };
        let expressions: Vec<Value> = self
            .expressions
            .iter()
            .take(2)
            .map(|e| match e {
                Expression::In(k, v) => json!({"key": KEYS[*k as usize % 3], "operator": "In", "values": values(v)}),
                Expression::NotIn(k, v) => {
                    json!({"key": KEYS[*k as usize % 3], "operator": "NotIn", "values": values(v)})
                }
                Expression::Exists(k) => json!({"key": KEYS[*k as usize % 3], "operator": "Exists"}),
                Expression::DoesNotExist(k) => json!({"key": KEYS[*k as usize % 3], "operator": "DoesNotExist"}),
            })
            .collect();
        json!({"matchLabels": labels(&self.labels), "matchExpressions": expressions})
    }
}

#[derive(Debug, Arbitrary)]
enum Peer {
    Pods(Selector),
    Namespaces(Selector),
    Both(Selector, Selector),
    Block(u8, Vec<u8>),
}

impl Peer {
    fn value(&self) -> Value {
        match self {
            Peer::Pods(s) => json!({"podSelector": s.value()}),
            Peer::Namespaces(s) => json!({"namespaceSelector": s.value()}),
            Peer::Both(p, n) => json!({"podSelector": p.value(), "namespaceSelector": n.value()}),
            Peer::Block(cidr, except) => {
                let cidr_text = CIDRS[*cidr as usize % CIDRS.len()];
                let parsed: Option<(u32, u8)> = parse_cidr(cidr_text);
                // Only excepts strictly inside the block are valid; others are dropped rather than rejected.
                let excepts: Vec<Value> = except
                    .iter()
                    .take(2)
                    .map(|e| CIDRS[*e as usize % CIDRS.len()])
                    .filter(|e| strictly_inside(parse_cidr(e), parsed))
                    .map(|e| json!(e))
                    .collect();
                json!({"ipBlock": {"cidr": cidr_text, "except": excepts}})
            }
        }
    }
}

fn parse_cidr(text: &str) -> Option<(u32, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    Some((u32::from(addr), prefix.parse().ok()?))
}

fn strictly_inside(inner: Option<(u32, u8)>, outer: Option<(u32, u8)>) -> bool {
    let (Some((inner, inner_prefix)), Some((outer, outer_prefix))) = (inner, outer) else { return false };
    let mask = |p: u8| if p == 0 { 0 } else { u32::MAX << (32 - p) };
    inner_prefix > outer_prefix && inner & mask(outer_prefix) == outer & mask(outer_prefix)
}

#[derive(Debug, Arbitrary)]
enum Port {
    Number(u8, u16),
    Range(u8, u16, u8),
    Named(u8, u8),
    ProtocolOnly(u8),
}

impl Port {
    fn value(&self) -> Value {
        let protocol = |p: &u8| PROTOCOLS[*p as usize % 3];
        let number = |n: &u16| 1 + n % 100;
        match self {
            Port::Number(p, n) => json!({"protocol": protocol(p), "port": number(n)}),
            Port::Range(p, n, width) => {
                json!({"protocol": protocol(p), "port": number(n), "endPort": number(n) + u16::from(*width % 20)})
            }
            Port::Named(p, name) => json!({"protocol": protocol(p), "port": PORT_NAMES[*name as usize % 2]}),
            Port::ProtocolOnly(p) => json!({"protocol": protocol(p)}),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Rule {
    peers: Option<Vec<Peer>>,
    ports: Option<Vec<Port>>,
}

impl Rule {
    fn value(&self, peers_key: &str) -> Value {
        let mut rule = Map::new();
        if let Some(peers) = &self.peers {
            rule.insert(peers_key.into(), Value::Array(peers.iter().take(3).map(Peer::value).collect()));
        }
        if let Some(ports) = &self.ports {
            rule.insert("ports".into(), Value::Array(ports.iter().take(3).map(Port::value).collect()));
        }
        Value::Object(rule)
    }
}

#[derive(Debug, Arbitrary)]
struct Policy {
    namespace: u8,
    selector: Selector,
    /// None: defaulted from the rules; bit 0 Ingress, bit 1 Egress.
    types: Option<u8>,
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

#[derive(Debug, Arbitrary)]
struct PodSpec {
    namespace: u8,
    labels: Vec<Label>,
    ip: Option<u8>,
    host_network: bool,
    ports: Vec<(u8, u16, u8)>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    namespace_labels: [Vec<Label>; 3],
    pods: Vec<PodSpec>,
    policies: Vec<Policy>,
}

fn cluster_json(input: &Input) -> Value {
    let mut items = Vec::new();
    for (name, labels_of) in NAMESPACES.iter().zip(&input.namespace_labels) {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels(labels_of)}}));
    }
    for (index, pod) in input.pods.iter().take(5).enumerate() {
        let mut ports = Vec::new();
        for (name, number, protocol) in pod.ports.iter().take(2) {
            ports.push(json!({
                "name": PORT_NAMES[*name as usize % 2],
                "containerPort": 1 + number % 100,
                "protocol": PROTOCOLS[*protocol as usize % 3]
            }));
        }
        let mut status = Map::new();
        if let Some(ip) = pod.ip {
            status.insert("podIP".into(), json!(ADDRESSES[ip as usize % ADDRESSES.len()]));
        }
        items.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p{index}"), "namespace": NAMESPACES[pod.namespace as usize % 3], "labels": labels(&pod.labels)},
            "spec": {"hostNetwork": pod.host_network, "containers": [{"name": "c", "ports": ports}]},
            "status": status
        }));
    }
    for (index, policy) in input.policies.iter().take(4).enumerate() {
        let mut spec = Map::new();
        spec.insert("podSelector".into(), policy.selector.value());
        if let Some(types) = policy.types {
            let mut list = Vec::new();
            if types & 1 == 1 {
                list.push(json!("Ingress"));
            }
            if types & 2 == 2 || list.is_empty() {
                list.push(json!("Egress"));
            }
            spec.insert("policyTypes".into(), Value::Array(list));
        }
        if let Some(rules) = &policy.ingress {
            spec.insert("ingress".into(), Value::Array(rules.iter().take(2).map(|r| r.value("from")).collect()));
        }
        if let Some(rules) = &policy.egress {
            spec.insert("egress".into(), Value::Array(rules.iter().take(2).map(|r| r.value("to")).collect()));
        }
        items.push(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("np{index}"), "namespace": NAMESPACES[policy.namespace as usize % 3]},
            "spec": spec
        }));
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fuzz_target!(|input: Input| {
    let text = serde_json::to_string(&cluster_json(&input)).unwrap_or_default();
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("fuzz.json"), text.as_bytes(), true);
    let cluster = Cluster::from_inventory(inventory);
    let analysis = netseg_engine::Analysis::new(&cluster);
    let mut ends: Vec<End> = Vec::new();
    for (workload, w) in cluster.workloads.iter().enumerate() {
        for pod in 0..w.pods.len() {
            ends.push(End::Pod { workload, pod });
        }
    }
    // Addresses that are no pod's IP: the engine resolves a pod's IP to the pod before it asks.
    let pod_ips: Vec<IpAddr> = cluster.workloads.iter().flat_map(|w| &w.pods).flat_map(|p| p.facts.ips.clone()).collect();
    for address in ADDRESSES {
        let address: IpAddr = address.parse().expect("a fixed address");
        if !pod_ips.contains(&address) {
            ends.push(End::Address(address));
        }
    }
    for &src in &ends {
        for &dst in &ends {
            let expected = brute_allowed(&cluster, src, dst);
            let actual = analysis.allowed(src.to_engine(), dst.to_engine());
            for protocol in Protocol::ALL {
                assert_eq!(
                    expected.ranges(protocol),
                    actual.ranges(protocol).to_vec(),
                    "{src:?} -> {dst:?} on {protocol}\n{text}"
                );
            }
        }
    }
});
