//! The Calico dialect of the realistic cluster: the same namespaces, workloads and random stream, segmented with
//! Calico's own objects (`projectcalico.org/v3`) instead of Kubernetes NetworkPolicies.
//!
//! - Tier `security` (order 100, default Deny) with the GlobalNetworkPolicy `security.baseline` over every
//!   application namespace: Deny to the cloud metadata address, Allow DNS to kube-dns, Pass the rest to later tiers.
//! - Tier `platform` (order 200, default Pass) with `platform.monitoring` (Allow the metrics port from Prometheus
//!   and from the scrapers' NetworkSet) and `platform.ingress-controller` (Allow `http` from the ingress controller
//!   to frontends).
//! - GlobalNetworkSets `partner-0`..`partner-7`, one /24 each, which the partner egress rules name by label.
//! - In each application namespace, one Calico NetworkPolicy (the `default` tier) for each NetworkPolicy the
//!   Kubernetes dialect writes there, translated rule by rule, so both dialects allow the same in that tier.

use crate::Sink;
use serde_json::{json, Map, Value};
use std::io;

const API: &str = "projectcalico.org/v3";
/// The partner networks the Kubernetes dialect names as ipBlocks: `203.0.{113 + i}.0/24`.
const PARTNERS: usize = 8;
const PARTNER_BASE: usize = 113;
/// Application namespaces are the ones with a `team` label; the system ones have none.
const APP_NAMESPACES: &str = "has(team)";

/// The cluster-wide objects: tiers, their GlobalNetworkPolicies, and the network sets.
pub fn cluster_wide(sink: &mut dyn Sink) -> io::Result<()> {
    sink.object(&json!({"apiVersion": API, "kind": "Tier", "metadata": {"name": "security"},
                        "spec": {"order": 100, "defaultAction": "Deny"}}))?;
    sink.object(&json!({"apiVersion": API, "kind": "Tier", "metadata": {"name": "platform"},
                        "spec": {"order": 200, "defaultAction": "Pass"}}))?;
    let dns = |protocol: &str| {
        json!({"action": "Allow", "protocol": protocol,
               "destination": {"namespaceSelector": "projectcalico.org/name == 'kube-system'",
                               "selector": "k8s-app == 'kube-dns'", "ports": [53]}})
    };
    // The security team decides only these; the final Pass leaves everything else to the application tiers, so the
    // tier's Deny default never takes traffic of the endpoints it selects.
    sink.object(&json!({"apiVersion": API, "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "security.baseline"},
        "spec": {"tier": "security", "order": 10, "namespaceSelector": APP_NAMESPACES, "selector": "all()",
                 "types": ["Ingress", "Egress"],
                 "ingress": [{"action": "Pass"}],
                 "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}},
                            dns("UDP"), dns("TCP"), {"action": "Pass"}]}}))?;
    sink.object(&json!({"apiVersion": API, "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "platform.monitoring"},
        "spec": {"tier": "platform", "order": 10, "namespaceSelector": APP_NAMESPACES, "selector": "all()",
                 "types": ["Ingress"],
                 "ingress": [
                     {"action": "Allow", "protocol": "TCP",
                      "source": {"namespaceSelector": "projectcalico.org/name == 'monitoring'", "selector": "app == 'prometheus'"},
                      "destination": {"ports": ["metrics"]}},
                     {"action": "Allow", "protocol": "TCP",
                      "source": {"namespaceSelector": "projectcalico.org/name == 'monitoring'", "selector": "role == 'scraper'"},
                      "destination": {"ports": ["metrics"]}}]}}))?;
    sink.object(&json!({"apiVersion": API, "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "platform.ingress-controller"},
        "spec": {"tier": "platform", "order": 20, "namespaceSelector": APP_NAMESPACES, "selector": "tier == 'frontend'",
                 "types": ["Ingress"],
                 "ingress": [{"action": "Allow", "protocol": "TCP",
                              "source": {"namespaceSelector": "projectcalico.org/name == 'ingress-nginx'",
                                         "selector": "app == 'ingress-nginx'"},
                              "destination": {"ports": ["http"]}}]}}))?;
    sink.object(&json!({"apiVersion": API, "kind": "NetworkSet",
        "metadata": {"name": "external-scrapers", "namespace": "monitoring", "labels": {"role": "scraper"}},
        "spec": {"nets": ["198.51.100.0/28"]}}))?;
    for i in 0..PARTNERS {
        sink.object(&json!({"apiVersion": API, "kind": "GlobalNetworkSet",
            "metadata": {"name": format!("partner-{i}"), "labels": {"role": "partner", "partner": format!("p{i}")}},
            "spec": {"nets": [format!("203.0.{}.0/24", PARTNER_BASE + i)]}}))?;
    }
    Ok(())
}

/// The Calico NetworkPolicy that does in the `default` tier what the Kubernetes NetworkPolicy `spec` does.
///
/// Covers what the generator writes: pod and namespace selectors (matchLabels; matchExpressions In, NotIn,
/// Exists), ipBlocks with excepts, numbered and named ports, endPort ranges. A peer of a partner network becomes
/// the partner's GlobalNetworkSet. Each (peer, protocol) of a Kubernetes rule becomes one Allow rule, since a
/// Calico rule has one protocol and one source and destination.
pub fn translate(namespace: &str, name: &str, spec: &Value) -> Value {
    let types = spec["policyTypes"].clone();
    let mut calico = Map::new();
    calico.insert("order".into(), json!(1000));
    calico.insert("selector".into(), json!(selector(&spec["podSelector"]).unwrap_or_else(|| "all()".into())));
    calico.insert("types".into(), types);
    for (direction, peers_key, peer_side) in [("ingress", "from", "source"), ("egress", "to", "destination")] {
        let Some(rules) = spec[direction].as_array() else { continue };
        let mut out = Vec::new();
        for rule in rules {
            let peers: Vec<Map<String, Value>> = match rule[peers_key].as_array() {
                Some(peers) if !peers.is_empty() => peers.iter().map(peer).collect(),
                _ => vec![Map::new()],
            };
            for (protocol, ports) in ports_by_protocol(&rule["ports"]) {
                for entity in &peers {
                    let mut calico_rule = Map::new();
                    calico_rule.insert("action".into(), json!("Allow"));
                    if let Some(protocol) = &protocol {
                        calico_rule.insert("protocol".into(), json!(protocol));
                    }
                    let mut destination = if peer_side == "destination" { entity.clone() } else { Map::new() };
                    if !ports.is_empty() {
                        destination.insert("ports".into(), json!(ports));
                    }
                    if peer_side == "source" && !entity.is_empty() {
                        calico_rule.insert("source".into(), Value::Object(entity.clone()));
                    }
                    if !destination.is_empty() {
                        calico_rule.insert("destination".into(), Value::Object(destination));
                    }
                    out.push(Value::Object(calico_rule));
                }
            }
        }
        calico.insert(direction.into(), Value::Array(out));
    }
    json!({"apiVersion": API, "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace, "labels": {"managed-by": "platform"}},
           "spec": calico})
}

/// A Kubernetes label selector in Calico's selector language; `None` for the empty selector (everything).
fn selector(k8s: &Value) -> Option<String> {
    let mut terms = Vec::new();
    if let Some(labels) = k8s["matchLabels"].as_object() {
        for (key, value) in labels {
            let key = if key == "kubernetes.io/metadata.name" { "projectcalico.org/name" } else { key };
            terms.push(format!("{key} == '{}'", value.as_str().unwrap_or_default()));
        }
    }
    if let Some(expressions) = k8s["matchExpressions"].as_array() {
        for e in expressions {
            let key = e["key"].as_str().unwrap_or_default();
            let values = || {
                let quoted: Vec<String> = e["values"]
                    .as_array()
                    .map(|v| v.iter().map(|v| format!("'{}'", v.as_str().unwrap_or_default())).collect())
                    .unwrap_or_default();
                quoted.join(", ")
            };
            terms.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{key} in {{{}}}", values()),
                "NotIn" => format!("{key} not in {{{}}}", values()),
                "Exists" => format!("has({key})"),
                _ => format!("!has({key})"),
            });
        }
    }
    (!terms.is_empty()).then(|| terms.join(" && "))
}

/// A NetworkPolicy peer as a Calico rule entity (without ports).
fn peer(k8s: &Value) -> Map<String, Value> {
    let mut entity = Map::new();
    if let Some(block) = k8s.get("ipBlock") {
        let cidr = block["cidr"].as_str().unwrap_or_default();
        let partner = (0..PARTNERS).find(|i| cidr == format!("203.0.{}.0/24", PARTNER_BASE + i));
        match partner {
            Some(i) => {
                entity.insert("namespaceSelector".into(), json!("global()"));
                entity.insert("selector".into(), json!(format!("role == 'partner' && partner == 'p{i}'")));
            }
            None => {
                entity.insert("nets".into(), json!([cidr]));
                if let Some(except) = block["except"].as_array().filter(|e| !e.is_empty()) {
                    entity.insert("notNets".into(), Value::Array(except.clone()));
                }
            }
        }
        return entity;
    }
    if let Some(namespaces) = k8s.get("namespaceSelector") {
        entity.insert("namespaceSelector".into(), json!(selector(namespaces).unwrap_or_else(|| "all()".into())));
    }
    if let Some(pods) = k8s.get("podSelector") {
        entity.insert("selector".into(), json!(selector(pods).unwrap_or_else(|| "all()".into())));
    }
    entity
}

/// A rule's ports grouped by protocol (Kubernetes' default TCP), as Calico's `ports` items: numbers, names and
/// `"first:last"` ranges. No ports: one group without a protocol (every protocol, every port).
fn ports_by_protocol(k8s: &Value) -> Vec<(Option<String>, Vec<Value>)> {
    let Some(ports) = k8s.as_array().filter(|p| !p.is_empty()) else { return vec![(None, Vec::new())] };
    let mut groups: Vec<(Option<String>, Vec<Value>)> = Vec::new();
    for port in ports {
        let protocol = port["protocol"].as_str().unwrap_or("TCP").to_string();
        let item = match (&port["port"], port["endPort"].as_u64()) {
            (Value::Number(first), Some(last)) => json!(format!("{first}:{last}")),
            (Value::Null, _) => Value::Null,
            (value, _) => value.clone(),
        };
        let group = match groups.iter().position(|(p, _)| p.as_deref() == Some(protocol.as_str())) {
            Some(index) => &mut groups[index].1,
            None => {
                groups.push((Some(protocol), Vec::new()));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        group.push(item);
    }
    // An entry with a protocol and no port opens every port of that protocol, whatever the others list.
    for (_, items) in &mut groups {
        if items.iter().any(Value::is_null) {
            items.clear();
        }
    }
    groups
}
