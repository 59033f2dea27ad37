//! `netseg reach` output in every format.

use crate::graph::Graph;
use crate::{endpoint_id, Style};
use netseg_engine::{GroupedReach, PortSet, Reach, ReachEndpoint};
use netseg_model::{Cluster, Protocol};
use serde_json::{json, Value};
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.reach/v1";

/// Each endpoint's id, and how many are workloads and how many groups of outside addresses.
fn endpoint_ids(cluster: &Cluster, endpoints: &[ReachEndpoint]) -> (Vec<String>, usize, usize) {
    let ids: Vec<String> = endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let workloads = endpoints.iter().filter(|e| matches!(e, ReachEndpoint::Workload(_))).count();
    (ids, workloads, endpoints.len() - workloads)
}

pub fn text(cluster: &Cluster, reach: &Reach, style: Style) -> String {
    let (ids, workloads, externals) = endpoint_ids(cluster, &reach.endpoints);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} workloads, {} external address groups, {} allowed connections",
        workloads,
        externals,
        reach.connections.len()
    );
    let mut current: Option<usize> = None;
    let width = reach.connections.iter().map(|c| ids[c.dst].chars().count()).max().unwrap_or(0);
    for connection in &reach.connections {
        if current != Some(connection.src) {
            current = Some(connection.src);
            let _ = writeln!(out, "\n{}", style.strong(&ids[connection.src]));
        }
        let ports = connection.allowed.to_string();
        let ports = if connection.allowed.is_all() { style.bad(&ports) } else { ports };
        let _ = writeln!(out, "  → {:<width$}  {}", ids[connection.dst], ports);
    }
    if reach.connections.is_empty() {
        out.push_str("\nnothing can reach anything else\n");
    }
    out
}

/// The grouped answer: each group's sources, destinations and ports, sources and destinations one per line.
pub fn text_groups(cluster: &Cluster, reach: &GroupedReach, style: Style) -> String {
    let (ids, workloads, externals) = endpoint_ids(cluster, &reach.endpoints);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} workloads, {} external address groups, {} allowed connections in {} groups \
         (every source reaches every destination of its group, except itself)",
        workloads,
        externals,
        reach.pairs(),
        reach.groups.len()
    );
    for (index, group) in reach.groups.iter().enumerate() {
        let ports = group.allowed.to_string();
        let ports = if group.allowed.is_all() { style.bad(&ports) } else { ports };
        let _ = writeln!(
            out,
            "\n{}  {} sources → {} destinations  {}",
            style.strong(&format!("group {}", index + 1)),
            group.srcs.len(),
            group.dsts.len(),
            ports
        );
        for &src in &group.srcs {
            let _ = writeln!(out, "  from {}", ids[src]);
        }
        for &dst in &group.dsts {
            let _ = writeln!(out, "    → {}", ids[dst]);
        }
    }
    if reach.groups.is_empty() {
        out.push_str("\nnothing can reach anything else\n");
    }
    out
}

/// `netseg.reach/v1` with `groups` in place of `connections`, which is left out so that a reader that only knows
/// `connections` fails instead of reading "nothing is allowed".
pub fn json_groups(cluster: &Cluster, reach: &GroupedReach) -> Value {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let groups: Vec<Value> = reach
        .groups
        .iter()
        .map(|g| {
            let srcs: Vec<&str> = g.srcs.iter().map(|&e| ids[e].as_str()).collect();
            let dsts: Vec<&str> = g.dsts.iter().map(|&e| ids[e].as_str()).collect();
            json!({"src": srcs, "dst": dsts, "allowed": g.allowed})
        })
        .collect();
    json!({"schema": SCHEMA, "endpoints": endpoints_json(cluster, &reach.endpoints, &ids), "pairs": reach.pairs(),
           "groups": groups})
}

pub fn json(cluster: &Cluster, reach: &Reach) -> Value {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let endpoints = endpoints_json(cluster, &reach.endpoints, &ids);
    let connections: Vec<Value> =
        reach.connections.iter().map(|c| json!({"src": ids[c.src], "dst": ids[c.dst], "allowed": c.allowed})).collect();
    json!({"schema": SCHEMA, "endpoints": endpoints, "connections": connections})
}

fn endpoints_json(cluster: &Cluster, endpoints: &[ReachEndpoint], ids: &[String]) -> Vec<Value> {
    endpoints
        .iter()
        .zip(ids)
        .map(|(endpoint, id)| match endpoint {
            ReachEndpoint::Workload(index) => {
                let workload = &cluster.workloads[*index];
                json!({"id": id, "kind": workload.id.kind.as_str(), "namespace": workload.id.namespace,
                       "name": workload.id.name})
            }
            ReachEndpoint::External { ranges } => {
                let cidrs: Vec<String> = ranges.iter().flat_map(|r| r.cidrs()).map(|c| c.to_string()).collect();
                json!({"id": id, "kind": "External", "cidrs": cidrs})
            }
        })
        .collect()
}

/// Ports of one protocol as `80,443,8000-8080`.
fn port_list(set: &PortSet, protocol: Protocol) -> String {
    set.ranges(protocol)
        .iter()
        .map(|&(s, e)| if s == e { s.to_string() } else { format!("{s}-{e}") })
        .collect::<Vec<_>>()
        .join(",")
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One row per connection and protocol: `src,dst,protocol,ports`.
pub fn csv(cluster: &Cluster, reach: &Reach) -> String {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let mut out = String::from("src,dst,protocol,ports\n");
    for connection in &reach.connections {
        for protocol in Protocol::ALL {
            let ports = port_list(&connection.allowed, protocol);
            if ports.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "{},{},{},{}",
                csv_field(&ids[connection.src]),
                csv_field(&ids[connection.dst]),
                protocol,
                csv_field(&ports)
            );
        }
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(cluster: &Cluster, reach: &Reach) -> String {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let mut out = String::from("| Source | Destination | Allowed |\n|---|---|---|\n");
    for c in &reach.connections {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            md_cell(&ids[c.src]),
            md_cell(&ids[c.dst]),
            md_cell(&c.allowed.to_string())
        );
    }
    out
}

/// Graphviz: one cluster subgraph per namespace, external addresses outside them, edges labelled with ports.
pub fn dot(cluster: &Cluster, reach: &Reach) -> String {
    Graph::from_reach(cluster, reach).to_dot()
}

/// Mermaid (`flowchart LR`), one subgraph per namespace, as GitHub renders it.
pub fn mermaid(cluster: &Cluster, reach: &Reach) -> String {
    Graph::from_reach(cluster, reach).to_mermaid()
}
