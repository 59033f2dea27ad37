//! `netseg diff` output: text, the `netseg.diff/v1` JSON schema, Markdown for pull-request comments, and SARIF
//! 2.1.0 with a result for every opened connection and every finding that appears.

use crate::audit::{
    finding_json, md, resource_name, sarif_level, sarif_locations, sarif_message, sarif_rule, security_severity,
};
use crate::graph::{EdgeStyle, Graph, Node, NodeKind};
use crate::{ranges_id, Style};
use netseg_audit::{Finding, Severity};
use netseg_fix::diff::{ChangeKind, ConnectionChange, Diff, DiffEndpoint};
use netseg_model::{Cluster, Location};
use serde_json::{json, Value};
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.diff/v1";

pub fn endpoint_id(endpoint: &DiffEndpoint) -> String {
    match endpoint {
        DiffEndpoint::Workload(id) => id.to_string(),
        DiffEndpoint::External(ranges) => ranges_id(ranges),
    }
}

fn counts(diff: &Diff) -> [(ChangeKind, usize); 3] {
    [ChangeKind::Added, ChangeKind::Removed, ChangeKind::Changed]
        .map(|kind| (kind, diff.connections.iter().filter(|c| c.kind() == kind).count()))
}

fn summary_line(diff: &Diff) -> String {
    let [(_, added), (_, removed), (_, changed)] = counts(diff);
    format!(
        "{added} connection(s) added, {removed} removed, {changed} changed; {} finding(s) appeared, {} disappeared, {} changed severity",
        diff.findings_appeared.len(),
        diff.findings_disappeared.len(),
        diff.findings_changed.len()
    )
}

fn change_ports(change: &ConnectionChange) -> String {
    match change.kind() {
        ChangeKind::Added => change.after.to_string(),
        ChangeKind::Removed => change.before.to_string(),
        ChangeKind::Changed => {
            let mut parts = Vec::new();
            if !change.opened().is_empty() {
                parts.push(format!("opens {}", change.opened()));
            }
            if !change.closed().is_empty() {
                parts.push(format!("closes {}", change.closed()));
            }
            parts.join("; ")
        }
    }
}

fn finding_line(finding: &Finding) -> String {
    let location = finding.location.as_ref().map(|l| format!("  {l}")).unwrap_or_default();
    format!("{} {} {}  {}{location}", finding.rule.code, finding.rule.name, resource_name(finding), finding.message)
}

pub fn text(diff: &Diff, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.strong(&format!("netseg diff: {}", summary_line(diff))));
    if diff.is_empty() {
        let _ = writeln!(out, "no change in connectivity or findings");
    }
    let broken = diff.broken_flows();
    if !broken.is_empty() {
        let _ = writeln!(out, "\n{}", style.bad("BROKEN FLOWS (declared or observed, denied after the change)"));
        for finding in &broken {
            let _ = writeln!(out, "  ✗ {}", finding.message);
            let _ = writeln!(out, "    {}", finding.evidence);
            if !finding.remediation.is_empty() {
                let _ = writeln!(out, "    fix: {}", finding.remediation);
            }
        }
    }
    for (kind, sign, title) in [
        (ChangeKind::Added, "+", "ADDED"),
        (ChangeKind::Changed, "~", "CHANGED"),
        (ChangeKind::Removed, "-", "REMOVED"),
    ] {
        let changes: Vec<&ConnectionChange> = diff.connections.iter().filter(|c| c.kind() == kind).collect();
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", style.strong(title));
        for change in changes {
            let line =
                format!("{sign} {} → {}  {}", endpoint_id(&change.src), endpoint_id(&change.dst), change_ports(change));
            let painted = if change.opened().is_empty() { style.good(&line) } else { style.bad(&line) };
            let _ = writeln!(out, "  {painted}");
        }
    }
    for (sign, title, findings) in
        [("+", "FINDINGS APPEARED", &diff.findings_appeared), ("-", "FINDINGS DISAPPEARED", &diff.findings_disappeared)]
    {
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", style.strong(title));
        for finding in findings {
            if sign == "+" && broken.iter().any(|b| std::ptr::eq(*b, finding)) {
                continue; // listed under BROKEN FLOWS
            }
            let _ = writeln!(out, "  {sign} {}", finding_line(finding));
        }
    }
    if !diff.findings_changed.is_empty() {
        let _ = writeln!(out, "\n{}", style.strong("FINDINGS CHANGED SEVERITY"));
        for (was, is) in &diff.findings_changed {
            let _ = writeln!(out, "  ~ {} → {}: {}", was.severity.as_str(), is.severity.as_str(), finding_line(is));
        }
    }
    out
}

fn change_json(change: &ConnectionChange) -> Value {
    json!({
        "change": change.kind().as_str(),
        "src": endpoint_id(&change.src),
        "dst": endpoint_id(&change.dst),
        "before": change.before,
        "after": change.after,
        "opened": change.opened(),
        "closed": change.closed(),
    })
}

pub fn json(diff: &Diff) -> Value {
    let [(_, added), (_, removed), (_, changed)] = counts(diff);
    json!({
        "schema": SCHEMA,
        "connections": diff.connections.iter().map(change_json).collect::<Vec<_>>(),
        "findings_appeared": diff.findings_appeared.iter().map(|f| finding_json(f, None, &[])).collect::<Vec<_>>(),
        "findings_disappeared": diff.findings_disappeared.iter().map(|f| finding_json(f, None, &[])).collect::<Vec<_>>(),
        "findings_changed": diff.findings_changed.iter().map(|(was, is)| {
            let mut entry = finding_json(is, None, &[]);
            entry["previous_severity"] = json!(was.severity.as_str());
            entry
        }).collect::<Vec<_>>(),
        "summary": {
            "added": added, "removed": removed, "changed": changed,
            "opens": diff.opens_anything(),
            "findings_appeared": diff.findings_appeared.len(),
            "findings_disappeared": diff.findings_disappeared.len(),
            "findings_changed": diff.findings_changed.len(),
        },
    })
}

pub fn markdown(diff: &Diff) -> String {
    let mut out = String::from("### netseg diff\n\n");
    let _ = writeln!(out, "{}\n", summary_line(diff));
    if !diff.connections.is_empty() {
        out.push_str("| change | from | to | ports |\n|---|---|---|---|\n");
        let mut ordered: Vec<&ConnectionChange> = diff.connections.iter().collect();
        ordered.sort_by_key(|c| c.kind());
        for change in ordered {
            let _ = writeln!(
                out,
                "| {} | `{}` | `{}` | {} |",
                change.kind().as_str(),
                md(&endpoint_id(&change.src)),
                md(&endpoint_id(&change.dst)),
                md(&change_ports(change))
            );
        }
    }
    for (title, findings) in
        [("Findings that appear", &diff.findings_appeared), ("Findings that disappear", &diff.findings_disappeared)]
    {
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n**{title}**\n");
        for finding in findings {
            let _ = writeln!(
                out,
                "- {} `{}` {}: {}",
                finding.severity.as_str(),
                finding.rule.code,
                md(&resource_name(finding)),
                md(&finding.message)
            );
        }
    }
    if !diff.findings_changed.is_empty() {
        let _ = writeln!(out, "\n**Findings that change severity**\n");
        for (was, is) in &diff.findings_changed {
            let _ = writeln!(
                out,
                "- {} → {} `{}` {}: {}",
                was.severity.as_str(),
                is.severity.as_str(),
                is.rule.code,
                md(&resource_name(is)),
                md(&is.message)
            );
        }
    }
    out
}

const OPENED_RULE: &str = "NSD001";

/// Where to point a reviewer for an opened connection: the destination's manifest (its ingress decides), or the
/// source's when the destination is outside the cluster.
fn change_location(cluster: &Cluster, change: &ConnectionChange) -> Option<Location> {
    let find = |endpoint: &DiffEndpoint| match endpoint {
        DiffEndpoint::Workload(id) => cluster.workloads.iter().find(|w| &w.id == id).map(|w| w.location.clone()),
        DiffEndpoint::External(_) => None,
    };
    find(&change.dst).or_else(|| find(&change.src))
}

/// SARIF 2.1.0 for code scanning: what the change opens, as results on the NEW manifests.
pub fn sarif(diff: &Diff, new: &Cluster, version: &str) -> Value {
    let opened_help =
        "A connection (a workload pair or an address range), or ports on one, that the change allows and \
        the base did not. Review that each is intended: a new rule, a wider selector or a removed policy can open more \
        than it meant to. `netseg diff OLD NEW` lists them; `netseg can` explains any one.";
    let mut rules = vec![json!({
        "id": OPENED_RULE,
        "name": "connection-opened",
        "shortDescription": {"text": "The change allows a connection (or ports) that the base did not."},
        "fullDescription": {"text": "Connectivity that the change adds: a new workload pair or address range, or new ports on one. Review that it is intended."},
        "help": {"text": opened_help, "markdown": opened_help},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"security-severity": security_severity(Severity::Medium), "tags": ["security", "kubernetes", "network-segmentation"]},
    })];
    let first_input = new.sources.first().map(|file| Location { file: file.clone(), line: 1 });
    let mut results = Vec::new();
    for change in diff.connections.iter().filter(|c| !c.opened().is_empty()) {
        let (src, dst) = (endpoint_id(&change.src), endpoint_id(&change.dst));
        let mut result = json!({
            "ruleId": OPENED_RULE,
            "ruleIndex": 0,
            "level": "warning",
            "message": {"text": format!("The change opens {} from {src} to {dst}.", change.opened())},
            "partialFingerprints": {"netsegDiff/v1": format!("{src}→{dst}")},
        });
        result["locations"] = sarif_locations(change_location(new, change).as_ref(), first_input.as_ref(), &dst);
        results.push(result);
    }
    let raised = diff.findings_changed.iter().filter(|(was, is)| is.severity > was.severity).map(|(_, is)| is);
    for finding in diff.findings_appeared.iter().chain(raised) {
        let index = match rules.iter().position(|r| r["id"] == finding.rule.code) {
            Some(index) => index,
            None => {
                rules.push(sarif_rule(finding.rule));
                rules.len() - 1
            }
        };
        let mut result = json!({
            "ruleId": finding.rule.code,
            "ruleIndex": index,
            "level": sarif_level(finding.severity),
            "message": {"text": sarif_message(&finding.message, &finding.evidence, &finding.remediation)},
            "partialFingerprints": {"netsegFinding/v1": format!("{}:{}", finding.rule.code, resource_name(finding))},
        });
        result["locations"] = sarif_locations(finding.location.as_ref(), first_input.as_ref(), &resource_name(finding));
        results.push(result);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "netseg", "version": version, "semanticVersion": version, "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

/// The change as a picture: every endpoint a change touches, an [`EdgeStyle::Added`] edge (red) for the ports a
/// change opens and an [`EdgeStyle::Removed`] edge (dashed) for the ports it closes; a pair that gains some ports
/// and loses others gets both. Connections the change leaves alone are not drawn.
pub fn graph(diff: &Diff) -> Graph {
    let mut graph = Graph::default();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut node = |graph: &mut Graph, endpoint: &DiffEndpoint| -> usize {
        let id = endpoint_id(endpoint);
        *index.entry(id.clone()).or_insert_with(|| {
            let (namespace, label, kind) = match endpoint {
                DiffEndpoint::Workload(w) => {
                    (Some(w.namespace.clone()), format!("{}\n{}", w.name, w.kind.as_str()), NodeKind::Workload)
                }
                DiffEndpoint::External(_) => (None, id.clone(), NodeKind::External),
            };
            graph.add_node(Node { id, label, namespace, kind, detail: String::new() })
        })
    };
    for change in &diff.connections {
        let (src, dst) = (node(&mut graph, &change.src), node(&mut graph, &change.dst));
        let (opened, closed) = (change.opened(), change.closed());
        if !opened.is_empty() {
            graph.add_edge(src, dst, format!("+ {opened}"), EdgeStyle::Added);
        }
        if !closed.is_empty() {
            graph.add_edge(src, dst, format!("- {closed}"), EdgeStyle::Removed);
        }
    }
    graph
}

#[cfg(test)]
mod graph_tests {
    use super::*;
    use netseg_engine::PortSet;
    use netseg_model::{Protocol, WorkloadKind, WorkloadRef};

    fn workload(name: &str) -> DiffEndpoint {
        DiffEndpoint::Workload(WorkloadRef {
            namespace: "blog".into(),
            name: name.into(),
            kind: WorkloadKind::Deployment,
        })
    }

    #[test]
    fn opened_ports_are_red_and_closed_ones_dashed() {
        let tcp = |port| PortSet::from_ranges(&[(Protocol::Tcp, port, port)]);
        let diff = Diff {
            connections: vec![
                ConnectionChange {
                    src: workload("web"),
                    dst: workload("redis"),
                    before: PortSet::empty(),
                    after: tcp(6379),
                },
                ConnectionChange { src: workload("web"), dst: workload("db"), before: tcp(3306), after: tcp(5432) },
            ],
            ..Diff::default()
        };
        let graph = graph(&diff);
        assert_eq!(graph.nodes.len(), 3, "web appears once");
        let styles: Vec<(EdgeStyle, &str)> = graph.edges.iter().map(|e| (e.style, e.label.as_str())).collect();
        assert_eq!(
            styles,
            [(EdgeStyle::Added, "+ TCP 6379"), (EdgeStyle::Added, "+ TCP 5432"), (EdgeStyle::Removed, "- TCP 3306")]
        );
        let mermaid = graph.to_mermaid();
        assert!(mermaid.contains("-.->") || mermaid.contains("-.-"), "removed edges are dashed:\n{mermaid}");
    }
}
