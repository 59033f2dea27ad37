//! Model validation on structured input: NetworkPolicies and pods assembled from arbitrary fields (selectors,
//! operators, CIDRs, ports, policy types, labels), written as JSON and loaded. The validator must either reject
//! an object with a diagnostic naming a field, or keep it; a kept policy must analyse without panicking.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use netseg_model::{load_bytes, Cluster, Inventory, Severity};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Arbitrary)]
enum Scalar {
    Text(String),
    Number(i64),
    Bool(bool),
    Null,
    Cidr(u8, u8, u8, u8, u8),
    Cidr6(u16, u16, u8),
    Port(u16),
    Named(Word),
}

/// A word the validator cares about: protocols, operators, policy types, port names.
#[derive(Debug)]
struct Word(&'static str);

const WORDS: &[&str] = &[
    "TCP",
    "UDP",
    "SCTP",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Ingress",
    "Egress",
    "http",
    "dns",
    "app",
    "web",
    "kubernetes.io/metadata.name",
    "",
];

impl Scalar {
    fn value(&self) -> Value {
        match self {
            Scalar::Text(text) => json!(text),
            Scalar::Number(n) => json!(n),
            Scalar::Bool(b) => json!(b),
            Scalar::Null => Value::Null,
            Scalar::Cidr(a, b, c, d, prefix) => json!(format!("{a}.{b}.{c}.{d}/{}", prefix % 40)),
            Scalar::Cidr6(a, b, prefix) => json!(format!("{a:x}:{b:x}::/{prefix}")),
            Scalar::Port(p) => json!(p),
            Scalar::Named(word) => json!(word.0),
        }
    }
}

impl<'a> Arbitrary<'a> for Word {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Word(WORDS[u.choose_index(WORDS.len())?]))
    }
}

#[derive(Debug, Arbitrary)]
struct Selector {
    labels: Vec<(Word, Scalar)>,
    expressions: Vec<(Scalar, Scalar, Vec<Scalar>)>,
    omit: bool,
}

impl Selector {
    fn value(&self) -> Value {
        let labels: serde_json::Map<String, Value> =
            self.labels.iter().map(|(k, v)| (k.0.to_string(), v.value())).collect();
        let expressions: Vec<Value> = self
            .expressions
            .iter()
            .map(|(key, op, values)| {
                json!({"key": key.value(), "operator": op.value(), "values": values.iter().map(Scalar::value).collect::<Vec<_>>()})
            })
            .collect();
        json!({"matchLabels": labels, "matchExpressions": expressions})
    }
}

#[derive(Debug, Arbitrary)]
enum Peer {
    Pods(Selector),
    Namespaces(Selector),
    Both(Selector, Selector),
    Block(Scalar, Vec<Scalar>),
    Raw(Scalar),
}

#[derive(Debug, Arbitrary)]
struct PolicyPort {
    protocol: Option<Scalar>,
    port: Option<Scalar>,
    end_port: Option<Scalar>,
}

#[derive(Debug, Arbitrary)]
struct Rule {
    peers: Option<Vec<Peer>>,
    ports: Option<Vec<PolicyPort>>,
}

#[derive(Debug, Arbitrary)]
struct Policy {
    selector: Selector,
    types: Option<Vec<Scalar>>,
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

#[derive(Debug, Arbitrary)]
struct PodSpec {
    labels: Vec<(Word, Scalar)>,
    ports: Vec<(Option<Scalar>, Scalar, Option<Scalar>)>,
    host_network: bool,
    ip: Option<Scalar>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    policies: Vec<Policy>,
    pods: Vec<PodSpec>,
}

fn rules(rules: &Option<Vec<Rule>>, peers_key: &str) -> Value {
    let Some(rules) = rules else { return Value::Null };
    Value::Array(
        rules
            .iter()
            .map(|rule| {
                let mut object = serde_json::Map::new();
                if let Some(peers) = &rule.peers {
                    let peers: Vec<Value> = peers
                        .iter()
                        .map(|peer| match peer {
                            Peer::Pods(s) => json!({"podSelector": s.value()}),
                            Peer::Namespaces(s) => json!({"namespaceSelector": s.value()}),
                            Peer::Both(p, n) => json!({"podSelector": p.value(), "namespaceSelector": n.value()}),
                            Peer::Block(cidr, except) => json!({"ipBlock": {"cidr": cidr.value(), "except": except.iter().map(Scalar::value).collect::<Vec<_>>()}}),
                            Peer::Raw(value) => value.value(),
                        })
                        .collect();
                    object.insert(peers_key.to_string(), Value::Array(peers));
                }
                if let Some(ports) = &rule.ports {
                    let ports: Vec<Value> = ports
                        .iter()
                        .map(|p| {
                            let mut port = serde_json::Map::new();
                            for (key, value) in [("protocol", &p.protocol), ("port", &p.port), ("endPort", &p.end_port)] {
                                if let Some(value) = value {
                                    port.insert(key.to_string(), value.value());
                                }
                            }
                            Value::Object(port)
                        })
                        .collect();
                    object.insert("ports".to_string(), Value::Array(ports));
                }
                Value::Object(object)
            })
            .collect(),
    )
}

fuzz_target!(|input: Input| {
    let mut items = Vec::new();
    for (index, policy) in input.policies.iter().take(8).enumerate() {
        let mut spec = serde_json::Map::new();
        spec.insert("podSelector".into(), if policy.selector.omit { Value::Null } else { policy.selector.value() });
        if let Some(types) = &policy.types {
            spec.insert("policyTypes".into(), Value::Array(types.iter().map(Scalar::value).collect()));
        }
        spec.insert("ingress".into(), rules(&policy.ingress, "from"));
        spec.insert("egress".into(), rules(&policy.egress, "to"));
        items.push(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("p{index}"), "namespace": "fuzz"}, "spec": spec
        }));
    }
    for (index, pod) in input.pods.iter().take(8).enumerate() {
        let labels: serde_json::Map<String, Value> =
            pod.labels.iter().map(|(k, v)| (k.0.to_string(), v.value())).collect();
        let ports: Vec<Value> = pod
            .ports
            .iter()
            .map(|(name, port, protocol)| {
                json!({"name": name.as_ref().map(Scalar::value), "containerPort": port.value(), "protocol": protocol.as_ref().map(Scalar::value)})
            })
            .collect();
        let mut status = serde_json::Map::new();
        if let Some(ip) = &pod.ip {
            status.insert("podIP".into(), ip.value());
        }
        items.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod{index}"), "namespace": "fuzz", "labels": labels},
            "spec": {"hostNetwork": pod.host_network, "containers": [{"name": "c", "ports": ports}]},
            "status": status
        }));
    }
    let text =
        serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap_or_default();
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("fuzz.json"), text.as_bytes(), true);
    let rejected = inventory.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    // Every error names the object and, below the top level, the field it is about.
    // (Errors about the input as a whole, such as an unreadable file, have no object to name.)
    for diagnostic in inventory.diagnostics.iter().filter(|d| d.severity == Severity::Error && !d.code.about_input()) {
        assert!(diagnostic.object.is_some(), "{diagnostic}");
        assert!(diagnostic.field.is_some(), "{diagnostic}");
    }
    // A rejected object is left out, a kept one is there: nothing else disappears.
    let kept = inventory.policies.len() + inventory.workloads.len();
    assert!(kept + rejected >= input.policies.len().min(8) + input.pods.len().min(8), "objects vanished:\n{text}");
    let cluster = Cluster::from_inventory(inventory);
    let analysis = netseg_engine::Analysis::new(&cluster);
    for connection in analysis.workload_connections() {
        let _ = connection.allowed.first();
    }
});
