//! The report of `netseg generate`, on stderr: what the policies close and what they keep, as the proof found it.

use crate::audit::resource_name;
use crate::diff::endpoint_id;
use crate::Style;
use netseg_fix::dialect::WrittenObject;
use netseg_fix::diff::ChangeKind;
use netseg_fix::needs::{Destination, Need, Source};
use netseg_fix::{Plan, Proof};
use netseg_model::{Cidr, Cluster};
use std::collections::BTreeSet;
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

pub fn summary(cluster: &Cluster, plan: &Plan, proof: &Proof, allow_cuts: bool, style: Style) -> String {
    let namespaces: Vec<&str> = {
        let mut names: Vec<&str> = plan.policies.iter().map(|p| p.namespace.as_str()).collect();
        names.dedup();
        names
    };
    let headline = format!(
        "netseg generate: {} polic{} in {} namespace(s){}",
        plan.policies.len(),
        if plan.policies.len() == 1 { "y" } else { "ies" },
        namespaces.len(),
        if namespaces.is_empty() { String::new() } else { format!(" ({})", namespaces.join(", ")) }
    );
    report(cluster, plan, proof, allow_cuts, style, &headline)
}

/// The report for policies written in a CNI's dialect: the headline counts its objects by kind, and the namespaces
/// they govern (a cluster-wide default-deny's included).
pub fn summary_written(
    cluster: &Cluster,
    plan: &Plan,
    written: &[WrittenObject],
    proof: &Proof,
    allow_cuts: bool,
    style: Style,
) -> String {
    let kinds: Vec<String> =
        count_kinds(written.iter().map(|o| o.kind)).iter().map(|(kind, count)| format!("{kind}: {count}")).collect();
    let namespaces: BTreeSet<&str> = written.iter().flat_map(|o| o.covers.iter().map(String::as_str)).collect();
    let headline = format!(
        "netseg generate: {} polic{}{} in {} namespace(s){}",
        written.len(),
        if written.len() == 1 { "y" } else { "ies" },
        if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) },
        namespaces.len(),
        if namespaces.is_empty() {
            String::new()
        } else {
            format!(" ({})", namespaces.into_iter().collect::<Vec<_>>().join(", "))
        }
    );
    report(cluster, plan, proof, allow_cuts, style, &headline)
}

fn report(cluster: &Cluster, plan: &Plan, proof: &Proof, allow_cuts: bool, style: Style, headline: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.strong(headline));
    if let Some(mesh) = &plan.mesh {
        let kinds: Vec<String> = count_kinds(mesh.documents.iter().map(|d| d.kind))
            .iter()
            .map(|(kind, count)| format!("{count} {kind}"))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            style.strong(&format!(
                "and {} {} object(s) in {} namespace(s){}{}",
                mesh.documents.len(),
                mesh.mesh.as_str(),
                mesh.namespaces.len(),
                if mesh.namespaces.is_empty() { String::new() } else { format!(" ({})", mesh.namespaces.join(", ")) },
                if kinds.is_empty() { String::new() } else { format!(": {}", kinds.join(", ")) }
            ))
        );
    }
    let mesh_notes = plan.mesh.iter().flat_map(|m| &m.notes);
    for note in plan.notes.iter().chain(mesh_notes).chain(&proof.notes) {
        let _ = writeln!(out, "{}", style.dim(&format!("note: {note}")));
    }
    if !proof.holds() {
        let heading = if allow_cuts {
            "CUT (intended: --allow-cuts; the input allows these, the policies deny them)"
        } else {
            "CUT (no policy was written: the input allows these, the policies would deny them)"
        };
        let _ = writeln!(out, "\n{}", style.bad(heading));
        for cut in &proof.cut {
            let _ = writeln!(out, "  ✗ {} (denied: {})", need_line(cluster, &cut.need), cut.missing);
            if let Some(why) = &cut.why {
                let _ = writeln!(out, "      refused by the mesh: {why}");
            }
        }
        for workload in &proof.dns_cut {
            let _ = writeln!(out, "  ✗ {workload} → the cluster DNS {}: {}", plan.dns_ports, plan.dns);
        }
        for lost in &proof.lost_services {
            let behind: Vec<String> =
                lost.backends.iter().map(|(w, ports)| format!("{} {ports}", cluster.workloads[*w].id)).collect();
            let _ = writeln!(
                out,
                "  ✗ every client → Service {} ({}): {}; nothing in the input says who calls it",
                lost.service,
                lost.location,
                behind.join(", ")
            );
        }
        if !proof.lost_services.is_empty() && !allow_cuts {
            let _ = writeln!(
                out,
                "  declare a Service's clients with --flows (CSV `src_namespace,src_workload,dst_namespace,dst_workload,port,protocol`),"
            );
            let _ = writeln!(out, "  name it in the clients' env, or pass --allow-cuts if nothing should call it");
        } else if !allow_cuts {
            let _ = writeln!(out, "  pass --allow-cuts if these cuts are intended");
        }
        if !allow_cuts {
            return out;
        }
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
    if !proof.kept_open.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            style.bad(
                "STILL OPEN (existing rules admit every peer; NetworkPolicies only add, so no policy can narrow them)"
            )
        );
        for kept in &proof.kept_open {
            let _ =
                writeln!(out, "  ! {}: {} stay open", cluster.workloads[kept.workload].id, kept.findings.join(", "));
            for rule in &kept.rules {
                let key = if rule.direction == netseg_model::Direction::Egress { "egress" } else { "ingress" };
                let _ = writeln!(
                    out,
                    "    {key}[{}] of NetworkPolicy {} ({}) admits {}: replace it with rules naming the peers it needs",
                    rule.index, rule.policy, rule.location, rule.admits
                );
            }
        }
    }
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
    // One line per flow; a flow declared in several places lists its other reasons under it.
    let mut shown: Vec<usize> = Vec::new();
    for (index, kept) in proof.kept.iter().enumerate() {
        if shown.contains(&index) {
            continue;
        }
        let restored = if kept.allowed_before { "" } else { " (restored: the input denied it)" };
        let _ = writeln!(out, "  ✓ {}{restored}", need_line(cluster, &kept.need));
        for (other, also) in proof.kept.iter().enumerate().skip(index + 1) {
            let same = (&also.need.src, &also.need.dst, &also.need.ports)
                == (&kept.need.src, &kept.need.dst, &kept.need.ports);
            if same && !shown.contains(&other) {
                shown.push(other);
                let _ = writeln!(out, "      also: {}", also.need.reason);
            }
        }
    }
    if !plan.segmented.is_empty() {
        let _ =
            writeln!(out, "  ✓ DNS ({}, {}) from every pod of {}", plan.dns, plan.dns_ports, plan.segmented.join(", "));
    }
    if let Some(mesh) = &proof.mesh {
        mesh_section(&mut out, cluster, mesh, style);
    }
    out
}

/// The most callers listed one by one in each part of the mesh section.
const MESH_LINES: usize = 20;

fn mesh_section(out: &mut String, cluster: &Cluster, mesh: &netseg_fix::mesh_policy::proof::MeshProof, style: Style) {
    let _ = writeln!(
        out,
        "\n{}",
        style.strong(&format!(
            "MESH ({}: undeclared meshed callers of the protected workloads, checked with the engine)",
            mesh.mesh.as_str()
        ))
    );
    if mesh.denied.is_empty() && mesh.admitted.is_empty() {
        let _ = writeln!(out, "  no meshed caller other than the declared ones");
    }
    for check in mesh.admitted.iter().take(MESH_LINES) {
        let _ = writeln!(
            out,
            "  {} {} → {} {}: still admitted by {}",
            style.bad("!"),
            cluster.workloads[check.caller].id,
            cluster.workloads[check.destination].id,
            check.ports,
            check.by
        );
    }
    if mesh.admitted.len() > MESH_LINES {
        let _ = writeln!(out, "  ! and {} more still admitted", mesh.admitted.len() - MESH_LINES);
    }
    for check in mesh.denied.iter().take(MESH_LINES) {
        let _ = writeln!(
            out,
            "  ✓ {} → {} {}: refused — {}",
            cluster.workloads[check.caller].id, cluster.workloads[check.destination].id, check.ports, check.by
        );
    }
    if mesh.denied.len() > MESH_LINES {
        let _ = writeln!(out, "  ✓ and {} more refused", mesh.denied.len() - MESH_LINES);
    }
    if mesh.unasked > 0 {
        let _ = writeln!(
            out,
            "  {} more undeclared (caller, workload) pair(s) not asked: at most {} callers per workload",
            mesh.unasked,
            netseg_fix::mesh_policy::proof::MAX_CALLERS_ASKED
        );
    }
}

/// How many objects of each kind, in the order the kinds first appear.
fn count_kinds<'k>(kinds: impl Iterator<Item = &'k str>) -> Vec<(&'k str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for kind in kinds {
        match counts.iter_mut().find(|(seen, _)| *seen == kind) {
            Some((_, count)) => *count += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
}
