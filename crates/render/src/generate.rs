//! The report of `netseg generate`, on stderr: what the policies close and what they keep, as the proof found it.

use crate::audit::resource_name;
use crate::diff::endpoint_id;
use crate::Style;
use netseg_fix::diff::ChangeKind;
use netseg_fix::needs::{Destination, Need, Source};
use netseg_fix::{Plan, Proof};
use netseg_model::{Cidr, Cluster};
use std::fmt::Write;

pub fn source_name(cluster: &Cluster, source: &Source) -> String {
    match source {
        Source::Workload(w) => cluster.workloads[*w].id.to_string(),
        Source::Anywhere => "anywhere".into(),
        Source::Namespace { name, .. } => format!("pods of namespace {name}"),
        Source::AllNamespaces => "pods of every namespace".into(),
        Source::Address(addr) => addr.to_string(),
    }
}

pub fn destination_name(cluster: &Cluster, destination: &Destination) -> String {
    match destination {
        Destination::Workload(w) => cluster.workloads[*w].id.to_string(),
        Destination::Block(cidr) if cidr.prefix == Cidr::max_prefix(cidr.network) => cidr.network.to_string(),
        Destination::Block(cidr) => cidr.to_string(),
    }
}

fn need_line(cluster: &Cluster, need: &Need) -> String {
    format!(
        "{} → {} {}: {}",
        source_name(cluster, &need.src),
        destination_name(cluster, &need.dst),
        need.ports,
        need.reason
    )
}

fn finding_code(style: Style, was: &netseg_audit::Finding, is: &netseg_audit::Finding) -> String {
    if is.severity < was.severity {
        style.good(is.rule.code)
    } else {
        style.bad(is.rule.code)
    }
}

pub fn summary(cluster: &Cluster, plan: &Plan, proof: &Proof, style: Style) -> String {
    let mut out = String::new();
    let namespaces: Vec<&str> = {
        let mut names: Vec<&str> = plan.policies.iter().map(|p| p.namespace.as_str()).collect();
        names.dedup();
        names
    };
    let _ = writeln!(
        out,
        "{}",
        style.strong(&format!(
            "netseg generate: {} polic{} in {} namespace(s){}",
            plan.policies.len(),
            if plan.policies.len() == 1 { "y" } else { "ies" },
            namespaces.len(),
            if namespaces.is_empty() { String::new() } else { format!(" ({})", namespaces.join(", ")) }
        ))
    );
    for note in plan.notes.iter().chain(&proof.notes) {
        let _ = writeln!(out, "{}", style.dim(&format!("note: {note}")));
    }
    if !proof.holds() {
        let _ = writeln!(out, "\n{}", style.bad("CUT (no policy was written: these declared flows would be denied)"));
        for cut in &proof.cut {
            let _ = writeln!(out, "  ✗ {} (denied: {})", need_line(cluster, &cut.need), cut.missing);
        }
        for workload in &proof.dns_cut {
            let _ = writeln!(out, "  ✗ {workload} → the cluster DNS {}: {}", plan.dns_ports, plan.dns);
        }
        return out;
    }
    if !proof.still_denied.is_empty() || !proof.dns_still_denied.is_empty() {
        let _ =
            writeln!(out, "\n{}", style.bad("STILL DENIED (by the input's own policies; these could not open them)"));
        for denied in &proof.still_denied {
            let _ = writeln!(out, "  ! {} (denied: {})", need_line(cluster, &denied.need), denied.missing);
        }
        for workload in &proof.dns_still_denied {
            let _ = writeln!(out, "  ! {workload} → the cluster DNS {}: {}", plan.dns_ports, plan.dns);
        }
    }
    let _ = writeln!(out, "\n{}", style.strong("CLOSED"));
    if proof.closed.is_empty() {
        let _ = writeln!(out, "  no finding of the input is closed");
    }
    for finding in &proof.closed {
        let _ = writeln!(out, "  {} {} {}", style.good(finding.rule.code), finding.rule.name, resource_name(finding));
    }
    for (was, is) in &proof.changed {
        let _ = writeln!(
            out,
            "  {} {} {}: {} → {}",
            finding_code(style, was, is),
            is.rule.name,
            resource_name(is),
            was.severity.as_str(),
            is.severity.as_str()
        );
    }
    let mut removed = 0;
    for change in &proof.connections {
        if change.closed().is_empty() {
            continue;
        }
        removed += 1;
        let what =
            if change.kind() == ChangeKind::Removed { String::new() } else { " (now only what is needed)".into() };
        let _ =
            writeln!(out, "  - {} → {}  {}{what}", endpoint_id(&change.src), endpoint_id(&change.dst), change.closed());
    }
    let _ = writeln!(out, "  {removed} connection(s) lose ports");
    let opened: Vec<_> = proof.connections.iter().filter(|c| !c.opened().is_empty()).collect();
    if !opened.is_empty() {
        let _ = writeln!(out, "\n{}", style.strong("OPENED (declared flows that the input denied)"));
        for change in opened {
            let _ =
                writeln!(out, "  + {} → {}  {}", endpoint_id(&change.src), endpoint_id(&change.dst), change.opened());
        }
    }
    if !proof.appeared.is_empty() {
        let _ = writeln!(out, "\n{}", style.strong("NEW FINDINGS"));
        for finding in &proof.appeared {
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                finding.rule.code,
                finding.rule.name,
                resource_name(finding),
                finding.message
            );
        }
    }
    let _ = writeln!(out, "\n{}", style.strong("KEPT (checked with the engine on the input plus these policies)"));
    if proof.kept.is_empty() {
        let _ = writeln!(out, "  no declared flow");
    }
    for kept in &proof.kept {
        let restored = if kept.allowed_before { "" } else { " (restored: the input denied it)" };
        let _ = writeln!(out, "  ✓ {}{restored}", need_line(cluster, &kept.need));
    }
    if !plan.segmented.is_empty() {
        let _ =
            writeln!(out, "  ✓ DNS ({}, {}) from every pod of {}", plan.dns, plan.dns_ports, plan.segmented.join(", "));
    }
    out
}
