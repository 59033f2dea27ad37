//! `parse-floor FILE`: the physical limit netseg's load is measured against.
//!
//! It reads the file and does the least any analysis must: for JSON, deserialize with serde_json, in one pass, only
//! the fields an analysis reads (kinds, names, namespaces, labels, owners, pod IPs, container ports, selectors,
//! policy rules) into plain structs, skipping the rest; for YAML, run the same YAML library netseg uses
//! (saphyr-parser) over every event of the stream, building nothing: the tokenize floor. No validation, no line
//! numbers, no diagnostics, one thread. It prints what it saw, so that the work cannot be optimised away.

use anyhow::{Context, Result};
use saphyr_parser::{Event, Parser};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<Object>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Object {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Option<Spec>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    owner_references: Vec<Owner>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Owner {
    kind: String,
    name: String,
}

/// The union of the spec fields of every kind read: workloads, pods, Services, NetworkPolicies.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Spec {
    #[serde(default)]
    template: Option<Template>,
    #[serde(default)]
    job_template: Option<Box<Object>>,
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    host_network: Option<bool>,
    /// A Service's label map, or a controller's label selector.
    #[serde(default)]
    selector: Option<serde_json::Value>,
    #[serde(default)]
    pod_selector: Option<Selector>,
    #[serde(default)]
    policy_types: Vec<String>,
    #[serde(default)]
    ingress: Vec<Rule>,
    #[serde(default)]
    egress: Vec<Rule>,
    #[serde(default)]
    ports: Vec<serde_json::Value>,
    #[serde(default, rename = "type")]
    service_type: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Template {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Option<Box<Spec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Container {
    #[serde(default)]
    image: String,
    #[serde(default)]
    ports: Vec<ContainerPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ContainerPort {
    #[serde(default)]
    name: Option<String>,
    container_port: u16,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    host_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Expression>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Expression {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Rule {
    #[serde(default, alias = "to")]
    from: Vec<Peer>,
    #[serde(default)]
    ports: Vec<PolicyPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Peer {
    #[serde(default)]
    pod_selector: Option<Selector>,
    #[serde(default)]
    namespace_selector: Option<Selector>,
    #[serde(default)]
    ip_block: Option<IpBlock>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct IpBlock {
    cidr: String,
    #[serde(default)]
    except: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct PolicyPort {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    port: Option<serde_json::Value>,
    #[serde(default)]
    end_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Status {
    #[serde(default, rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(default, rename = "podIPs")]
    pod_ips: Vec<PodIp>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PodIp {
    ip: String,
}

fn main() -> Result<()> {
    let path =
        std::env::args().nth(1).context("usage: parse-floor FILE (.json: serde floor; else YAML tokenize floor)")?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
    if path.ends_with(".json") {
        let list: List = serde_json::from_slice(&bytes).with_context(|| format!("{path}: not a JSON List"))?;
        let pods = list.items.iter().filter(|o| o.kind == "Pod").count();
        let policies = list.items.iter().filter(|o| o.kind == "NetworkPolicy").count();
        println!("json: {} bytes, {} objects, {pods} pods, {policies} policies", bytes.len(), list.items.len());
    } else {
        let text = std::str::from_utf8(&bytes).with_context(|| format!("{path}: not UTF-8"))?;
        let (mut events, mut documents) = (0usize, 0usize);
        for event in Parser::new_from_str(text) {
            let (event, _) = event.with_context(|| format!("{path}: YAML error"))?;
            events += 1;
            if matches!(event, Event::DocumentStart(_)) {
                documents += 1;
            }
        }
        println!("yaml: {} bytes, {documents} documents, {events} events", bytes.len());
    }
    Ok(())
}
