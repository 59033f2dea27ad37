//! One small graph model for every picture: nodes grouped by namespace, edges with a label and a style. `reach`
//! and `audit` build it from their answers; `to_dot`, `to_mermaid` and the HTML report draw it. A differ builds it
//! with [`EdgeStyle::Added`] and [`EdgeStyle::Removed`] edges and gets red and dashed edges in every format.

use crate::endpoint_id;
use netseg_audit::map::NetworkMap;
use netseg_engine::{Reach, ReachEndpoint, ReachMarks};
use netseg_model::Cluster;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Workload,
    /// A workload whose containers listen on a datastore port.
    Datastore,
    /// A sensitive address class: cloud metadata, the API server, the kubelets, the internet.
    Sensitive,
    /// Addresses outside the cluster.
    External,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Workload => "workload",
            NodeKind::Datastore => "datastore",
            NodeKind::Sensitive => "sensitive",
            NodeKind::External => "external",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeStyle {
    Normal,
    /// New in a change: drawn red.
    Added,
    /// Gone in a change: drawn dashed.
    Removed,
    /// Into a sensitive target: drawn bold.
    Sensitive,
    /// A declared or observed flow the policies deny (NS147): drawn red and dashed. Not a connection: nothing
    /// reaches anything along it.
    Broken,
    /// A connection only some requests may use (Cilium's L7 rules, a mesh's request-level rules): drawn dotted
    /// blue, labelled with the policies that restrict it.
    Restricted,
}

impl EdgeStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeStyle::Normal => "normal",
            EdgeStyle::Added => "added",
            EdgeStyle::Removed => "removed",
            EdgeStyle::Sensitive => "sensitive",
            EdgeStyle::Broken => "broken",
            EdgeStyle::Restricted => "restricted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique: `ns/name[Kind]`, a CIDR, or the name of a sensitive address class.
    pub id: String,
    /// What the picture shows.
    pub label: String,
    /// `None` for anything outside the cluster's namespaces.
    pub namespace: Option<String>,
    pub kind: NodeKind,
    /// Why it matters, in words ("Redis 6379"); may be empty.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Indexes into [`Graph::nodes`].
    pub from: usize,
    pub to: usize,
    /// The ports, as `TCP 80, UDP 53`.
    pub label: String,
    pub style: EdgeStyle,
}

/// Every node of `from` has an edge to every node of `to` (but itself), with one label and style: how a picture
/// of a large answer holds its edges without listing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeGroup {
    /// Indexes into [`Graph::nodes`], ascending.
    pub from: Vec<usize>,
    pub to: Vec<usize>,
    pub label: String,
    pub style: EdgeStyle,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Edges held as groups; the pictures drawn in the browser read them, DOT and Mermaid do not (their graphs
    /// are built from listed edges).
    pub groups: Vec<EdgeGroup>,
}

impl Graph {
    pub fn add_node(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn add_edge(&mut self, from: usize, to: usize, label: impl Into<String>, style: EdgeStyle) {
        self.edges.push(Edge { from, to, label: label.into(), style });
    }

    /// Namespaces in name order with their nodes, and the nodes outside every namespace.
    pub fn by_namespace(&self) -> (BTreeMap<&str, Vec<usize>>, Vec<usize>) {
        let mut grouped: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut outside = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            match &node.namespace {
                Some(namespace) => grouped.entry(namespace.as_str()).or_default().push(index),
                None => outside.push(index),
            }
        }
        (grouped, outside)
    }

    /// `netseg reach`: workloads and external address groups, every allowed connection; one that only some
    /// requests may use is [`EdgeStyle::Restricted`], its label naming the policies.
    pub fn from_reach(cluster: &Cluster, reach: &Reach, restricted: &ReachMarks<'_, '_>) -> Graph {
        let mut graph = Graph::default();
        for endpoint in &reach.endpoints {
            let id = endpoint_id(cluster, endpoint);
            let node = match endpoint {
                ReachEndpoint::Workload(w) => workload_node(cluster, *w, NodeKind::Workload, String::new()),
                ReachEndpoint::External { .. } => {
                    Node { label: id.clone(), id, namespace: None, kind: NodeKind::External, detail: String::new() }
                }
            };
            graph.add_node(node);
        }
        for c in &reach.connections {
            let marks = crate::reach::marks(&restricted.pair(c.src, c.dst, &c.allowed));
            if marks.is_empty() {
                graph.add_edge(c.src, c.dst, c.allowed.to_string(), EdgeStyle::Normal);
            } else {
                let label = format!("{}\n{}", c.allowed, crate::reach::marks_label(&marks));
                graph.add_edge(c.src, c.dst, label, EdgeStyle::Restricted);
            }
        }
        graph
    }

    /// The audit's picture: workloads (datastores marked), the sensitive addresses that some workload reaches, and
    /// the effective connections as groups; edges into a datastore port or a sensitive address are
    /// [`EdgeStyle::Sensitive`]; those only some requests may use (`restricted`, between the workloads) are
    /// [`EdgeStyle::Restricted`], labelled with the policies.
    pub fn from_network_map(cluster: &Cluster, map: &NetworkMap, restricted: &ReachMarks<'_, '_>) -> Graph {
        let mut graph = Graph::default();
        for (w, datastores) in map.datastores.iter().enumerate() {
            let (kind, detail) = if datastores.is_empty() {
                (NodeKind::Workload, String::new())
            } else {
                let words: Vec<String> = datastores.iter().map(|(port, name)| format!("{name} {port}")).collect();
                (NodeKind::Datastore, words.join(", "))
            };
            graph.add_node(workload_node(cluster, w, kind, detail));
        }
        let mut address_nodes: BTreeMap<usize, usize> = BTreeMap::new();
        for reach in &map.to_addresses {
            if let std::collections::btree_map::Entry::Vacant(slot) = address_nodes.entry(reach.target) {
                let target = &map.addresses[reach.target];
                let label = target.sensitivity.label().to_string();
                slot.insert(graph.add_node(Node {
                    id: label.clone(),
                    label,
                    namespace: None,
                    kind: NodeKind::Sensitive,
                    detail: target.addresses.clone(),
                }));
            }
        }
        for group in &map.groups {
            for (dsts, restrictions) in restricted.split(group) {
                if !restrictions.is_empty() {
                    let marks = crate::reach::marks(&restrictions);
                    let label = format!("{}\n{}", group.allowed, crate::reach::marks_label(&marks));
                    graph.groups.push(EdgeGroup {
                        from: group.srcs.clone(),
                        to: dsts,
                        label,
                        style: EdgeStyle::Restricted,
                    });
                    continue;
                }
                // Destinations reached on one of their datastore ports are drawn apart, as sensitive.
                let (sensitive, normal): (Vec<usize>, Vec<usize>) =
                    dsts.iter().partition(|&&dst| map.reaches_datastore(dst, &group.allowed));
                let label = group.allowed.to_string();
                for (to, style) in [(normal, EdgeStyle::Normal), (sensitive, EdgeStyle::Sensitive)] {
                    if !to.is_empty() {
                        graph.groups.push(EdgeGroup { from: group.srcs.clone(), to, label: label.clone(), style });
                    }
                }
            }
        }
        // Workloads reaching a sensitive address on the same ports, together.
        let mut into_address: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        for reach in &map.to_addresses {
            if let Some(&node) = address_nodes.get(&reach.target) {
                into_address.entry((node, reach.ports.to_string())).or_default().push(reach.workload);
            }
        }
        for ((node, label), from) in into_address {
            graph.groups.push(EdgeGroup { from, to: vec![node], label, style: EdgeStyle::Sensitive });
        }
        graph
    }

    /// Graphviz: one cluster subgraph per namespace, everything else outside them, edges labelled with ports and
    /// styled (added red, removed dashed, sensitive bold red); datastores are cylinders, sensitive addresses
    /// octagons, external addresses dashed ellipses.
    pub fn to_dot(&self) -> String {
        let (grouped, outside) = self.by_namespace();
        let mut out = String::from(
            "digraph netseg {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
        );
        for (namespace, members) in &grouped {
            let _ = writeln!(
                out,
                "  subgraph {} {{\n    label={};",
                dot_string(&format!("cluster_{namespace}")),
                dot_string(&format!("namespace {namespace}"))
            );
            for &index in members {
                let _ = writeln!(out, "    {}", dot_node(&self.nodes[index]));
            }
            out.push_str("  }\n");
        }
        for index in outside {
            let _ = writeln!(out, "  {}", dot_node(&self.nodes[index]));
        }
        for edge in &self.edges {
            let style = match edge.style {
                EdgeStyle::Normal => "",
                EdgeStyle::Added => ", color=\"#d62728\", fontcolor=\"#d62728\", penwidth=2",
                EdgeStyle::Removed => ", style=dashed, color=\"#7f7f7f\", fontcolor=\"#7f7f7f\"",
                EdgeStyle::Sensitive => ", color=\"#c0392b\", penwidth=2",
                EdgeStyle::Broken => ", style=dashed, color=\"#d62728\", fontcolor=\"#d62728\", penwidth=2",
                EdgeStyle::Restricted => ", style=dotted, color=\"#1f77b4\", fontcolor=\"#1f77b4\", penwidth=2",
            };
            let _ = writeln!(
                out,
                "  {} -> {} [label={}{style}];",
                dot_string(&self.nodes[edge.from].id),
                dot_string(&self.nodes[edge.to].id),
                dot_string(&edge.label)
            );
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid for GitHub: `flowchart LR`, one subgraph per namespace, node ids `n0`, `n1`, ... (so no name can
    /// collide with Mermaid's syntax or keywords), labels quoted with `"`, `<`, `>`, `&` and `#` as entity codes;
    /// added edges red, removed edges dotted, sensitive edges thick, request-restricted edges dotted blue.
    pub fn to_mermaid(&self) -> String {
        let (grouped, outside) = self.by_namespace();
        let mut out = String::from("flowchart LR\n");
        for (group, (namespace, members)) in grouped.iter().enumerate() {
            let _ = writeln!(out, "  subgraph ns{group}[\"{}\"]", mermaid_text(&format!("namespace {namespace}")));
            for &index in members {
                let _ = writeln!(out, "    {}", mermaid_node(index, &self.nodes[index]));
            }
            out.push_str("  end\n");
        }
        for index in outside {
            let _ = writeln!(out, "  {}", mermaid_node(index, &self.nodes[index]));
        }
        let mut styled: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (number, edge) in self.edges.iter().enumerate() {
            let arrow = match edge.style {
                EdgeStyle::Normal | EdgeStyle::Added => "-->",
                EdgeStyle::Removed | EdgeStyle::Broken | EdgeStyle::Restricted => "-.->",
                EdgeStyle::Sensitive => "==>",
            };
            let _ = writeln!(out, "  n{} {arrow}|\"{}\"| n{}", edge.from, mermaid_text(&edge.label), edge.to);
            match edge.style {
                EdgeStyle::Added => styled.entry("stroke:#d62728,stroke-width:2px,color:#d62728").or_default(),
                EdgeStyle::Removed => styled.entry("stroke:#7f7f7f,stroke-dasharray:5 5,color:#7f7f7f").or_default(),
                EdgeStyle::Sensitive => styled.entry("stroke:#c0392b").or_default(),
                EdgeStyle::Broken => styled.entry("stroke:#d62728,stroke-dasharray:5 5,color:#d62728").or_default(),
                EdgeStyle::Restricted => styled.entry("stroke:#1f77b4,stroke-dasharray:2 3,color:#1f77b4").or_default(),
                EdgeStyle::Normal => continue,
            }
            .push(number);
        }
        for (style, numbers) in styled {
            let numbers: Vec<String> = numbers.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  linkStyle {} {style}", numbers.join(","));
        }
        let mut classes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (index, node) in self.nodes.iter().enumerate() {
            if node.kind != NodeKind::Workload {
                classes.entry(node.kind.as_str()).or_default().push(format!("n{index}"));
            }
        }
        for (class, members) in &classes {
            let style = match *class {
                "datastore" => "fill:#fdecea,stroke:#c0392b",
                "sensitive" => "fill:#c0392b,stroke:#7b241c,color:#ffffff",
                _ => "fill:#ffffff,stroke:#7f7f7f,stroke-dasharray:4 4",
            };
            let _ = writeln!(out, "  classDef {class} {style}");
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
        out
    }
}

fn workload_node(cluster: &Cluster, workload: usize, kind: NodeKind, detail: String) -> Node {
    let id = &cluster.workloads[workload].id;
    Node {
        id: id.to_string(),
        label: format!("{}\n{}", id.name, id.kind.as_str()),
        namespace: Some(id.namespace.clone()),
        kind,
        detail,
    }
}

fn dot_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

fn dot_node(node: &Node) -> String {
    let label = if node.detail.is_empty() { node.label.clone() } else { format!("{}\n{}", node.label, node.detail) };
    let shape = match node.kind {
        NodeKind::Workload => "",
        NodeKind::Datastore => ", shape=cylinder, style=\"filled\", fillcolor=\"#fdecea\", color=\"#c0392b\"",
        NodeKind::Sensitive => {
            ", shape=octagon, style=\"filled,bold\", fillcolor=\"#c0392b\", fontcolor=\"#ffffff\", color=\"#7b241c\""
        }
        NodeKind::External => ", shape=ellipse, style=dashed",
    };
    format!("{} [label={}{shape}];", dot_string(&node.id), dot_string(&label))
}

/// Text inside a quoted Mermaid label: Mermaid reads `#name;` and `#number;` as entity codes, so the characters
/// that would end the label or become markup are written that way.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_node(index: usize, node: &Node) -> String {
    let label = if node.detail.is_empty() { node.label.clone() } else { format!("{}\n{}", node.label, node.detail) };
    let text = mermaid_text(&label);
    match node.kind {
        NodeKind::Workload => format!("n{index}[\"{text}\"]"),
        NodeKind::Datastore => format!("n{index}[(\"{text}\")]"),
        NodeKind::Sensitive => format!("n{index}{{{{\"{text}\"}}}}"),
        NodeKind::External => format!("n{index}([\"{text}\"])"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a differ would build: one edge kept, one added, one removed, across two namespaces.
    fn change() -> Graph {
        let mut graph = Graph::default();
        let node = |id: &str, namespace: Option<&str>, kind| Node {
            id: id.to_string(),
            label: id.to_string(),
            namespace: namespace.map(str::to_string),
            kind,
            detail: String::new(),
        };
        let web = graph.add_node(node("shop/web[Deployment]", Some("shop"), NodeKind::Workload));
        let redis = graph.add_node(node("shop/redis[Deployment]", Some("shop"), NodeKind::Datastore));
        let api = graph.add_node(node("pay/api[Deployment]", Some("pay"), NodeKind::Workload));
        graph.add_edge(web, redis, "TCP 6379", EdgeStyle::Normal);
        graph.add_edge(web, api, "TCP 8443", EdgeStyle::Added);
        graph.add_edge(api, redis, "TCP 6379", EdgeStyle::Removed);
        graph
    }

    #[test]
    fn dot_draws_added_edges_red_and_removed_edges_dashed() {
        let dot = change().to_dot();
        assert!(dot.contains(
            "\"shop/web[Deployment]\" -> \"pay/api[Deployment]\" [label=\"TCP 8443\", color=\"#d62728\", fontcolor=\"#d62728\", penwidth=2];"
        ), "{dot}");
        assert!(dot.contains("\"pay/api[Deployment]\" -> \"shop/redis[Deployment]\" [label=\"TCP 6379\", style=dashed"));
        assert!(dot.contains("\"shop/web[Deployment]\" -> \"shop/redis[Deployment]\" [label=\"TCP 6379\"];"));
        assert!(dot.contains("subgraph \"cluster_pay\"") && dot.contains("subgraph \"cluster_shop\""));
    }

    #[test]
    fn mermaid_styles_added_and_removed_edges_by_their_number() {
        let mermaid = change().to_mermaid();
        let lines: Vec<&str> = mermaid.lines().collect();
        assert_eq!(lines[0], "flowchart LR");
        // Edges are numbered in the order they are written: kept 0, added 1, removed 2.
        assert!(lines.contains(&"  n0 -->|\"TCP 6379\"| n1"), "{mermaid}");
        assert!(lines.contains(&"  n0 -->|\"TCP 8443\"| n2"));
        assert!(lines.contains(&"  n2 -.->|\"TCP 6379\"| n1"));
        assert!(lines.contains(&"  linkStyle 1 stroke:#d62728,stroke-width:2px,color:#d62728"));
        assert!(lines.contains(&"  linkStyle 2 stroke:#7f7f7f,stroke-dasharray:5 5,color:#7f7f7f"));
        assert!(lines.contains(&"  subgraph ns0[\"namespace pay\"]"));
        assert!(lines.contains(&"    n1[(\"shop/redis[Deployment]\")]"));
    }

    #[test]
    fn mermaid_labels_cannot_break_out_of_their_quotes() {
        let mut graph = Graph::default();
        graph.add_node(Node {
            id: "x".into(),
            label: "a\"] --> evil[\"<b>&#".into(),
            namespace: None,
            kind: NodeKind::Workload,
            detail: String::new(),
        });
        let mermaid = graph.to_mermaid();
        assert!(mermaid.contains("n0[\"a#quot;] --#gt; evil[#quot;#lt;b#gt;#amp;#35;\"]"), "{mermaid}");
        assert!(!mermaid.contains('<'));
    }
}
