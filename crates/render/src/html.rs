//! The self-contained HTML report: one file, its script and style inlined, its data embedded as JSON. It opens
//! from disk, works offline, and asks no other host for anything: its Content-Security-Policy allows no request at
//! all, and only the report's own script (by its SHA-256) may run.
//!
//! Text from the manifests (names, annotations, file names) reaches the page in two places, and is escaped in both:
//! the few strings in markup are HTML-escaped, and the embedded JSON has `<`, `>`, `&`, U+2028 and U+2029 written
//! as `\u` escapes, so nothing in it can close its `<script>` element. The script only ever sets `textContent` and
//! attributes, never markup.

use crate::audit::finding_json;
use crate::graph::{EdgeStyle, Graph};
use base64::Engine as _;
use netseg_audit::map::NamespaceSegmentation;
use netseg_audit::Report;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

pub const SCHEMA: &str = "netseg.report/v1";

const SCRIPT: &str = include_str!("html/report.js");
const STYLE: &str = include_str!("html/report.css");

/// What the report is about, for its heading.
pub struct ReportMeta<'a> {
    /// The paths the user gave.
    pub inputs: &'a [String],
    /// `netseg 0.1.0`.
    pub generator: &'a str,
}

/// `netseg audit -o html`: the summary, the findings and the graph of the effective network.
pub fn audit_report(
    report: &Report,
    graph: &Graph,
    namespaces: &[NamespaceSegmentation],
    meta: &ReportMeta<'_>,
) -> String {
    let mut counts = serde_json::Map::new();
    for (severity, count) in report.counts() {
        counts.insert(severity.as_str().to_string(), json!(count));
    }
    let namespaces: Vec<Value> = namespaces
        .iter()
        .map(|n| {
            json!({"name": n.name, "workloads": n.workloads, "ingressIsolated": n.ingress_isolated,
                   "egressIsolated": n.egress_isolated, "hostNetwork": n.host_network, "segmented": n.segmented()})
        })
        .collect();
    let data = json!({
        "schema": SCHEMA,
        "report": "audit",
        "inputs": meta.inputs,
        "generator": meta.generator,
        "summary": {
            "counts": counts,
            "suppressed": report.suppressed(),
            "cni": {"name": report.cni, "enforced": report.enforced},
            "assumptions": report.assumptions,
            "exempt": report.exempt,
        },
        "namespaces": namespaces,
        "findings": report.findings.iter().map(|f| finding_json(f, report.cluster.as_deref(), &report.input)).collect::<Vec<_>>(),
        "graph": graph_data(&with_broken_flows(graph, report)),
    });
    page(&format!("netseg audit: {}", meta.inputs.join(" ")), &data)
}

/// The rule whose findings are flows the application declares (or was seen making) that the policies deny.
const BROKEN_FLOW_RULE: &str = "NS147";

/// The graph with an [`EdgeStyle::Broken`] edge for each unsuppressed NS147 finding between two of its nodes:
/// the flows the policies break, drawn beside the connections they allow.
pub fn with_broken_flows(graph: &Graph, report: &Report) -> Graph {
    let mut graph = graph.clone();
    let index: HashMap<&str, usize> = graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut broken = Vec::new();
    for finding in report.findings.iter().filter(|f| f.rule.code == BROKEN_FLOW_RULE && f.suppressed.is_none()) {
        let Some(witness) = &finding.witness else { continue };
        if let (Some(&from), Some(&to)) = (index.get(witness.from.as_str()), index.get(witness.to.as_str())) {
            broken.push((from, to, format!("{} {} denied", witness.protocol, witness.port)));
        }
    }
    for (from, to, label) in broken {
        graph.add_edge(from, to, label, EdgeStyle::Broken);
    }
    graph
}

/// A page with the graph alone (a `netseg diff` draws its added and removed edges this way).
pub fn graph_report(title: &str, graph: &Graph, meta: &ReportMeta<'_>) -> String {
    let data = json!({
        "schema": SCHEMA,
        "report": "graph",
        "title": title,
        "inputs": meta.inputs,
        "generator": meta.generator,
        "graph": graph_data(graph),
    });
    page(title, &data)
}

fn page(title: &str, data: &Value) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    let mut out = String::with_capacity(SCRIPT.len() + STYLE.len() + 4096);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-{hash}'; \
         style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n"
    ));
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n", escape_html(title)));
    out.push_str(
        "<noscript><p class=\"noscript\">This report draws itself with its inlined script; allow scripts for this \
         file to see it.</p></noscript>\n<main id=\"app\"></main>\n",
    );
    out.push_str("<script type=\"application/json\" id=\"netseg-data\">");
    out.push_str(&embed_json(data));
    out.push_str("</script>\n<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// JSON that is safe inside a `<script>` element and in any HTML context: `<`, `>` and `&` (which can only occur
/// inside strings) become `\u003c`, `\u003e`, `\u0026`, and U+2028/U+2029 become `\u2028`/`\u2029`.
pub fn embed_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Which end of a compact edge is a whole namespace.
const NODE_TO_NODE: u8 = 0;
const NODE_TO_NAMESPACE: u8 = 1;
const NAMESPACE_TO_NODE: u8 = 2;
const NAMESPACE_TO_NAMESPACE: u8 = 3;

/// The graph as compact JSON, losslessly; edge groups as runs of node indexes. A flat cluster has an edge for nearly every pair of workloads (25
/// million at 5,000 workloads), so edges that cover a whole namespace with one label and style are written once:
/// `[3, from_ns, to_ns, label, style]` when every workload of one namespace reaches every workload of the other,
/// `[1, node, to_ns, ...]` or `[2, from_ns, node, ...]` when one workload reaches, or is reached by, a whole
/// namespace, `[0, node, node, ...]` otherwise. A workload is never its own peer, so "every workload" of its own
/// namespace means every other one.
pub fn graph_data(graph: &Graph) -> Value {
    let (grouped, _) = graph.by_namespace();
    let namespace_names: Vec<&str> = grouped.keys().copied().collect();
    let mut namespace_of: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    let mut members: Vec<&[usize]> = Vec::new();
    for (index, nodes) in grouped.values().enumerate() {
        for &node in nodes {
            namespace_of[node] = Some(index);
        }
        members.push(nodes);
    }
    let styles = [
        EdgeStyle::Normal,
        EdgeStyle::Added,
        EdgeStyle::Removed,
        EdgeStyle::Sensitive,
        EdgeStyle::Broken,
        EdgeStyle::Restricted,
    ];
    let mut labels: Vec<&str> = Vec::new();
    let mut label_index: HashMap<&str, usize> = HashMap::new();
    let mut edges: Vec<Value> = Vec::new();
    // (from ns, to ns, label, style) → (from, to) pairs.
    type Block = (usize, usize, usize, usize);
    let mut blocks: BTreeMap<Block, Vec<(usize, usize)>> = BTreeMap::new();
    for edge in &graph.edges {
        let label = *label_index.entry(edge.label.as_str()).or_insert_with(|| {
            labels.push(edge.label.as_str());
            labels.len() - 1
        });
        let style = styles.iter().position(|s| *s == edge.style).unwrap_or(0);
        match (namespace_of[edge.from], namespace_of[edge.to]) {
            (Some(a), Some(b)) => blocks.entry((a, b, label, style)).or_default().push((edge.from, edge.to)),
            _ => edges.push(json!([NODE_TO_NODE, edge.from, edge.to, label, style])),
        }
    }
    for ((a, b, label, style), mut pairs) in blocks {
        pairs.sort_unstable();
        pairs.dedup();
        let (sources, targets) = (members[a], members[b]);
        let peers_in =
            |node: usize, side: &[usize]| side.len() - usize::from(namespace_of[node] == namespace_of[side[0]]);
        let full = sources.iter().map(|&s| peers_in(s, targets)).sum::<usize>();
        if pairs.len() == full {
            edges.push(json!([NAMESPACE_TO_NAMESPACE, a, b, label, style]));
            continue;
        }
        let by_source = compact_side(&pairs, |&(s, _)| s, |s| peers_in(s, targets));
        let mut flipped: Vec<(usize, usize)> = pairs.iter().map(|&(s, t)| (t, s)).collect();
        flipped.sort_unstable();
        let by_target = compact_side(&flipped, |&(t, _)| t, |t| peers_in(t, sources));
        if by_source.len() <= by_target.len() {
            for (whole, node, other) in by_source {
                edges.push(match whole {
                    true => json!([NODE_TO_NAMESPACE, node, b, label, style]),
                    false => json!([NODE_TO_NODE, node, other, label, style]),
                });
            }
        } else {
            for (whole, node, other) in by_target {
                edges.push(match whole {
                    true => json!([NAMESPACE_TO_NODE, a, node, label, style]),
                    false => json!([NODE_TO_NODE, other, node, label, style]),
                });
            }
        }
    }
    // Groups: `[from, to, label, style]`, each side as runs `[start, length, start, length, ...]` of node indexes
    // (a namespace's workloads are consecutive, so a group of whole namespaces is a few runs).
    let groups: Vec<Value> = graph
        .groups
        .iter()
        .map(|group| {
            let label = *label_index.entry(group.label.as_str()).or_insert_with(|| {
                labels.push(group.label.as_str());
                labels.len() - 1
            });
            let style = styles.iter().position(|s| *s == group.style).unwrap_or(0);
            json!([runs(&group.from), runs(&group.to), label, style])
        })
        .collect();
    let nodes: Vec<Value> = graph
        .nodes
        .iter()
        .zip(&namespace_of)
        .map(|(node, namespace)| {
            json!([namespace.map_or(-1, |n| n as i64), node.id, node.label, node.kind.as_str(), node.detail])
        })
        .collect();
    json!({
        "namespaces": namespace_names,
        "nodes": nodes,
        "labels": labels,
        "styles": styles.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "edges": edges,
        "groups": groups,
    })
}

/// Ascending indexes as runs: `[start, length, start, length, ...]`.
fn runs(indexes: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &index in indexes {
        let n = out.len();
        if n >= 2 && out[n - 2] + out[n - 1] == index {
            out[n - 1] += 1;
        } else {
            out.push(index);
            out.push(1);
        }
    }
    out
}

/// Pairs sorted by their first element, grouped by it: `(true, key, _)` where the key's group covers all
/// `whole(key)` peers, else one `(false, key, peer)` per pair.
fn compact_side(
    pairs: &[(usize, usize)],
    key: impl Fn(&(usize, usize)) -> usize,
    whole: impl Fn(usize) -> usize,
) -> Vec<(bool, usize, usize)> {
    let mut out = Vec::new();
    for run in pairs.chunk_by(|x, y| key(x) == key(y)) {
        let node = key(&run[0]);
        if run.len() > 1 && run.len() == whole(node) {
            out.push((true, node, 0));
        } else {
            out.extend(run.iter().map(|&(k, other)| (false, k, other)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Node, NodeKind};

    fn node(id: &str, namespace: &str) -> Node {
        Node {
            id: id.into(),
            label: id.into(),
            namespace: Some(namespace.into()),
            kind: NodeKind::Workload,
            detail: String::new(),
        }
    }

    /// Expands the compact edges back into node pairs, as the report's script does.
    fn expand(data: &Value) -> Vec<(usize, usize, String, String)> {
        let nodes = data["nodes"].as_array().expect("nodes");
        let in_ns = |ns: &Value| -> Vec<usize> { (0..nodes.len()).filter(|&i| nodes[i][0] == *ns).collect() };
        let mut out = Vec::new();
        for edge in data["edges"].as_array().expect("edges") {
            let from: Vec<usize> = match edge[0].as_u64() {
                Some(2 | 3) => in_ns(&edge[1]),
                _ => vec![edge[1].as_u64().expect("node") as usize],
            };
            let to: Vec<usize> = match edge[0].as_u64() {
                Some(1 | 3) => in_ns(&edge[2]),
                _ => vec![edge[2].as_u64().expect("node") as usize],
            };
            let label = data["labels"][edge[3].as_u64().expect("label") as usize].as_str().expect("str").to_string();
            let style = data["styles"][edge[4].as_u64().expect("style") as usize].as_str().expect("str").to_string();
            for &f in &from {
                for &t in &to {
                    if f != t {
                        out.push((f, t, label.clone(), style.clone()));
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn compact_edges_expand_to_exactly_the_graph() {
        let mut graph = Graph::default();
        let a: Vec<usize> = (0..4).map(|i| graph.add_node(node(&format!("a/w{i}[Pod]"), "a"))).collect();
        let b: Vec<usize> = (0..3).map(|i| graph.add_node(node(&format!("b/w{i}[Pod]"), "b"))).collect();
        // a is flat inside; every a reaches every b on 80; only a0 reaches b's ... ; b0 is reached by all of a on 53.
        for &x in &a {
            for &y in &a {
                if x != y {
                    graph.add_edge(x, y, "TCP 1-65535", EdgeStyle::Normal);
                }
            }
            for &y in &b {
                graph.add_edge(x, y, "TCP 80", EdgeStyle::Normal);
            }
            graph.add_edge(x, b[0], "UDP 53", EdgeStyle::Added);
        }
        graph.add_edge(b[1], a[2], "TCP 8080", EdgeStyle::Removed);
        graph.add_edge(b[2], b[0], "TCP 6379", EdgeStyle::Sensitive);
        let data = graph_data(&graph);
        let mut expected: Vec<(usize, usize, String, String)> =
            graph.edges.iter().map(|e| (e.from, e.to, e.label.clone(), e.style.as_str().to_string())).collect();
        expected.sort();
        assert_eq!(expand(&data), expected);
        let kinds: Vec<u64> = data["edges"].as_array().expect("edges").iter().filter_map(|e| e[0].as_u64()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == NAMESPACE_TO_NAMESPACE as u64).count(), 2, "a→a and a→b: {data}");
        assert!(kinds.contains(&(NAMESPACE_TO_NODE as u64)), "all of a → b0 on UDP 53: {data}");
        assert!(data["edges"].as_array().expect("edges").len() <= 5);
    }

    #[test]
    fn broken_flows_are_a_style_of_their_own_after_the_others() {
        let mut graph = Graph::default();
        let a = graph.add_node(node("a/w0[Pod]", "a"));
        let b = graph.add_node(node("a/w1[Pod]", "a"));
        graph.add_edge(a, b, "TCP 80", EdgeStyle::Normal);
        graph.add_edge(b, a, "TCP 5432 denied", EdgeStyle::Broken);
        let data = graph_data(&graph);
        // The earlier styles keep their indexes: reports and the script read them by position.
        assert_eq!(data["styles"], json!(["normal", "added", "removed", "sensitive", "broken", "restricted"]));
        let mut expected: Vec<(usize, usize, String, String)> =
            graph.edges.iter().map(|e| (e.from, e.to, e.label.clone(), e.style.as_str().to_string())).collect();
        expected.sort();
        assert_eq!(expand(&data), expected);
        assert!(graph.to_dot().contains("[label=\"TCP 5432 denied\", style=dashed, color=\"#d62728\""));
        assert!(graph.to_mermaid().contains("n1 -.->|\"TCP 5432 denied\"| n0"));
    }

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let value = json!({"name": "</script><script>alert(1)</script>", "x": "a&b>c\u{2028}\u{2029}"});
        let text = embed_json(&value);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'), "{text}");
        assert!(!text.contains('\u{2028}') && !text.contains('\u{2029}'));
        assert_eq!(serde_json::from_str::<Value>(&text).expect("still JSON"), value);
    }

    #[test]
    fn the_policy_allows_exactly_the_inlined_script() {
        let html = graph_report("t", &Graph::default(), &ReportMeta { inputs: &[], generator: "netseg test" });
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        assert!(html.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        // The SVG namespace is a name, not an address the page loads; nothing else may look like one.
        let without_namespace = html.replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !without_namespace.contains("http:") && !without_namespace.contains("https:"),
            "no address of any host"
        );
    }
}
