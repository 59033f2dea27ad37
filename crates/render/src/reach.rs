//! `netseg reach` output in every format.

use crate::graph::Graph;
use crate::{endpoint_id, JsonDocument, Style};
use netseg_engine::request::{Layer, PolicyRef, Restriction};
use netseg_engine::{GroupedReach, PortSet, Reach, ReachEndpoint, ReachMarks};
use netseg_model::{Cluster, Protocol};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{self, Write};

pub const SCHEMA: &str = "netseg.reach/v1";

/// Each endpoint's id, and how many are workloads and how many groups of outside addresses.
fn endpoint_ids(cluster: &Cluster, endpoints: &[ReachEndpoint]) -> (Vec<String>, usize, usize) {
    let ids: Vec<String> = endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let workloads = endpoints.iter().filter(|e| matches!(e, ReachEndpoint::Workload(_))).count();
    (ids, workloads, endpoints.len() - workloads)
}

/// One policy that restricts the requests on an edge: who (`by`), on which ports, and what it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The layer and the policy, as `Istio AuthorizationPolicy default/shoes-writer` or
    /// `CiliumNetworkPolicy default/rule1 ingress[0]`.
    pub by: String,
    pub ports: String,
    /// What the policy admits, its alternatives joined by `; or `.
    pub conditions: String,
}

/// The policy a condition cites, without its file and line: one name per policy, whatever rule admits.
fn policy_words(layer: Layer, by: &PolicyRef) -> String {
    let name = match &by.namespace {
        Some(namespace) => format!("{} {namespace}/{}", by.kind, by.name),
        None => format!("{} {}", by.kind, by.name),
    };
    // Cilium's kinds name themselves; a mesh's AuthorizationPolicy needs its mesh.
    if layer == Layer::CiliumL7 || by.kind.starts_with(layer.as_str()) {
        name
    } else {
        format!("{} {name}", layer.as_str())
    }
}

/// The restrictions of an edge, one mark per restriction and policy.
pub fn marks(restrictions: &[Restriction]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    for restriction in restrictions {
        let ports = restriction.ports.to_string();
        let mut by_policy: Vec<(String, Vec<&str>)> = Vec::new();
        for condition in &restriction.any_of {
            let by = policy_words(condition.layer, &condition.by);
            match by_policy.iter_mut().find(|(b, _)| *b == by) {
                Some((_, admits)) if !admits.contains(&condition.admits.as_str()) => admits.push(&condition.admits),
                Some(_) => {}
                None => by_policy.push((by, vec![&condition.admits])),
            }
        }
        for (by, admits) in by_policy {
            let mark = Mark { by, ports: ports.clone(), conditions: admits.join("; or ") };
            if !marks.contains(&mark) {
                marks.push(mark);
            }
        }
    }
    marks
}

/// The marks in one line: `request-restricted by Istio AuthorizationPolicy default/shoes-writer: POST only`.
pub fn marks_text(marks: &[Mark]) -> String {
    let each: Vec<String> = marks.iter().map(|m| format!("{} on {}: {}", m.by, m.ports, m.conditions)).collect();
    format!("request-restricted by {}", each.join(" | "))
}

/// The policies alone, for a graph's edge label.
pub fn marks_label(marks: &[Mark]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for mark in marks {
        if !names.contains(&mark.by.as_str()) {
            names.push(&mark.by);
        }
    }
    format!("requests restricted by {}", names.join(", "))
}

fn marks_json(marks: &[Mark]) -> Value {
    Value::Array(marks.iter().map(|m| json!({"by": m.by, "ports": m.ports, "conditions": m.conditions})).collect())
}

/// Every allowed pair on its own line under its source, written as the pairs are produced; a pair on which only
/// some requests pass says by what after its ports.
pub fn write_text(
    out: &mut dyn Write,
    cluster: &Cluster,
    reach: &GroupedReach,
    restricted: &ReachMarks<'_, '_>,
    style: Style,
) -> io::Result<()> {
    let (ids, workloads, externals) = endpoint_ids(cluster, &reach.endpoints);
    writeln!(
        out,
        "{} workloads, {} external address groups, {} allowed connections",
        workloads,
        externals,
        reach.pairs()
    )?;
    let ports: Vec<String> = reach
        .groups
        .iter()
        .map(|g| if g.allowed.is_all() { style.bad(&g.allowed.to_string()) } else { g.allowed.to_string() })
        .collect();
    let width = listed_destinations(reach).map(|dst| ids[dst].chars().count()).max().unwrap_or(0);
    let mut current: Option<usize> = None;
    for (src, dst, group) in reach.listing() {
        if current != Some(src) {
            current = Some(src);
            writeln!(out, "\n{}", style.strong(&ids[src]))?;
        }
        let found = marks(&restricted.pair(src, dst, &reach.groups[group].allowed));
        if found.is_empty() {
            writeln!(out, "  → {:<width$}  {}", ids[dst], ports[group])?;
        } else {
            writeln!(out, "  → {:<width$}  {}  {}", ids[dst], ports[group], marks_text(&found))?;
        }
    }
    if current.is_none() {
        out.write_all(b"\nnothing can reach anything else\n")?;
    }
    Ok(())
}

/// The destinations that appear in at least one pair (a group whose only source is the destination itself lists
/// nothing for it), known from the groups without listing the pairs.
fn listed_destinations(reach: &GroupedReach) -> impl Iterator<Item = usize> + '_ {
    reach.groups.iter().flat_map(|g| {
        g.dsts.iter().copied().filter(move |&dst| g.srcs.len() > 1 || g.srcs.first().is_some_and(|&src| src != dst))
    })
}

/// The grouped answer: each group's sources, destinations and ports, sources and destinations one per line.
pub fn text_groups(cluster: &Cluster, reach: &GroupedReach, restricted: &ReachMarks<'_, '_>, style: Style) -> String {
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
        let found = marks(&restricted.group(group));
        if !found.is_empty() {
            let _ = writeln!(out, "  {} (on some or all of its pairs)", marks_text(&found));
        }
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
pub fn json_groups(cluster: &Cluster, reach: &GroupedReach, restricted: &ReachMarks<'_, '_>) -> Value {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let groups: Vec<Value> = reach
        .groups
        .iter()
        .map(|g| {
            let srcs: Vec<&str> = g.srcs.iter().map(|&e| ids[e].as_str()).collect();
            let dsts: Vec<&str> = g.dsts.iter().map(|&e| ids[e].as_str()).collect();
            let mut group = json!({"src": srcs, "dst": dsts, "allowed": g.allowed});
            let found = marks(&restricted.group(g));
            if !found.is_empty() {
                group["restricted"] = marks_json(&found);
            }
            group
        })
        .collect();
    json!({"schema": SCHEMA, "endpoints": endpoints_json(cluster, &reach.endpoints, &ids), "pairs": reach.pairs(),
           "groups": groups})
}

/// `netseg.reach/v1` with one `connections` item per pair, written as the pairs are produced: each endpoint's
/// id and each group's ports are serialised once, so a pair costs two copies and a few bytes.
pub fn write_json(
    out: &mut dyn Write,
    cluster: &Cluster,
    reach: &GroupedReach,
    restricted: &ReachMarks<'_, '_>,
) -> io::Result<()> {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| endpoint_id(cluster, e)).collect();
    let quoted: Vec<String> = ids.iter().map(|id| Value::String(id.clone()).to_string()).collect();
    let allowed: Vec<String> = reach.groups.iter().map(|g| json!(g.allowed).to_string()).collect();
    let mut document = JsonDocument::start(out)?;
    document.field("schema", &SCHEMA)?;
    document.values("endpoints", endpoints_json(cluster, &reach.endpoints, &ids))?;
    document.list("connections", reach.listing(), |out, (src, dst, group)| {
        write!(out, "{{\"src\":{},\"dst\":{},\"allowed\":{}", quoted[src], quoted[dst], allowed[group])?;
        let found = marks(&restricted.pair(src, dst, &reach.groups[group].allowed));
        if !found.is_empty() {
            write!(out, ",\"restricted\":{}", marks_json(&found))?;
        }
        out.write_all(b"}")
    })?;
    document.finish()
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

/// One row per connection and protocol: `src,dst,protocol,ports,restricted`, written as the pairs are produced;
/// `restricted` is empty unless only some requests may use the connection.
pub fn write_csv(
    out: &mut dyn Write,
    cluster: &Cluster,
    reach: &GroupedReach,
    restricted: &ReachMarks<'_, '_>,
) -> io::Result<()> {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| csv_field(&endpoint_id(cluster, e))).collect();
    let rows: Vec<Vec<(Protocol, String)>> = reach
        .groups
        .iter()
        .map(|g| {
            Protocol::ALL
                .into_iter()
                .map(|protocol| (protocol, port_list(&g.allowed, protocol)))
                .filter(|(_, ports)| !ports.is_empty())
                .map(|(protocol, ports)| (protocol, csv_field(&ports)))
                .collect()
        })
        .collect();
    out.write_all(b"src,dst,protocol,ports,restricted\n")?;
    for (src, dst, group) in reach.listing() {
        let found = marks(&restricted.pair(src, dst, &reach.groups[group].allowed));
        let mark = if found.is_empty() { String::new() } else { csv_field(&marks_text(&found)) };
        for (protocol, ports) in &rows[group] {
            writeln!(out, "{},{},{},{},{mark}", ids[src], ids[dst], protocol, ports)?;
        }
    }
    Ok(())
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A Markdown table, one row per pair, written as the pairs are produced; a pair on which only some requests pass
/// has what restricts them after its ports.
pub fn write_markdown(
    out: &mut dyn Write,
    cluster: &Cluster,
    reach: &GroupedReach,
    restricted: &ReachMarks<'_, '_>,
) -> io::Result<()> {
    let ids: Vec<String> = reach.endpoints.iter().map(|e| md_cell(&endpoint_id(cluster, e))).collect();
    let ports: Vec<String> = reach.groups.iter().map(|g| md_cell(&g.allowed.to_string())).collect();
    out.write_all(b"| Source | Destination | Allowed |\n|---|---|---|\n")?;
    for (src, dst, group) in reach.listing() {
        let found = marks(&restricted.pair(src, dst, &reach.groups[group].allowed));
        if found.is_empty() {
            writeln!(out, "| {} | {} | {} |", ids[src], ids[dst], ports[group])?;
        } else {
            writeln!(out, "| {} | {} | {} ({}) |", ids[src], ids[dst], ports[group], md_cell(&marks_text(&found)))?;
        }
    }
    Ok(())
}

/// Graphviz: one cluster subgraph per namespace, external addresses outside them, edges labelled with ports.
pub fn dot(cluster: &Cluster, reach: &Reach, restricted: &ReachMarks<'_, '_>) -> String {
    Graph::from_reach(cluster, reach, restricted).to_dot()
}

/// Mermaid (`flowchart LR`), one subgraph per namespace, as GitHub renders it.
pub fn mermaid(cluster: &Cluster, reach: &Reach, restricted: &ReachMarks<'_, '_>) -> String {
    Graph::from_reach(cluster, reach, restricted).to_mermaid()
}
