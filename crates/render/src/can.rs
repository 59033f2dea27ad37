//! `netseg can`: one verdict and why, in plain words or as `netseg.can/v1` JSON.

use crate::can_cilium as cilium;
use crate::Style;
use netseg_engine::addresses::IpRange;
use netseg_engine::cilium::rule_at;
use netseg_engine::mesh::{MeshAnswer, Outcome, Passability, Verdict as MeshVerdict};
use netseg_engine::query::{OutsideAnswer, Verdict};
use netseg_engine::request::{Layer, PolicyRef, Request, RequestVerdict};
use netseg_engine::{Action, Endpoint, PolicyKind, PortSet, SideTrace, TierHit, TierId, HBONE_PORT};
use netseg_model::{
    AdminPeer, AdminPeerSelector, AdminPods, AdminPolicy, AdminPolicyKind, Cluster, Direction, LabelSelector, Peer,
    PeerSelector, Tier,
};
use serde_json::{json, Value};
use std::fmt::Write;

pub const SCHEMA: &str = "netseg.can/v1";

fn selector_words(selector: &LabelSelector) -> String {
    if selector.is_empty() {
        String::new()
    } else {
        format!(" matching `{selector}`")
    }
}

/// A peer in words: "pods matching `app=web` in namespace blog".
pub fn describe_peer(peer: &Peer, policy_namespace: &str) -> String {
    match &peer.selector {
        PeerSelector::Pods { namespaces, pods } => {
            let pods = match pods {
                Some(selector) if !selector.is_empty() => format!("pods{}", selector_words(selector)),
                _ => "every pod".to_string(),
            };
            let namespaces = match namespaces {
                None => format!("in namespace {policy_namespace}"),
                Some(selector) if selector.is_empty() => "in every namespace".to_string(),
                Some(selector) => format!("in namespaces{}", selector_words(selector)),
            };
            format!("{pods} {namespaces}")
        }
        PeerSelector::IpBlock(block) => {
            let except: Vec<String> = block.except.iter().map(ToString::to_string).collect();
            if except.is_empty() {
                format!("addresses in {}", block.cidr)
            } else {
                format!("addresses in {} except {}", block.cidr, except.join(", "))
            }
        }
    }
}

/// An admin-tier peer in words.
pub fn describe_admin_peer(peer: &AdminPeer) -> String {
    let namespaces = |selector: &LabelSelector| {
        if selector.is_empty() {
            "in every namespace".to_string()
        } else {
            format!("in namespaces{}", selector_words(selector))
        }
    };
    match &peer.selector {
        AdminPeerSelector::Pods(AdminPods::Namespaces(selector)) => format!("every pod {}", namespaces(selector)),
        AdminPeerSelector::Pods(AdminPods::Pods { namespaces: ns, pods }) => {
            let pods = if pods.is_empty() { "every pod".to_string() } else { format!("pods{}", selector_words(pods)) };
            format!("{pods} {}", namespaces(ns))
        }
        AdminPeerSelector::Nodes(selector) => {
            let nodes = if selector.is_empty() {
                "every node".to_string()
            } else {
                format!("nodes{}", selector_words(selector))
            };
            format!("{nodes} (their addresses and host-network pods)")
        }
        AdminPeerSelector::Networks(cidrs) => {
            let cidrs: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
            format!("addresses in {}", cidrs.join(", "))
        }
        AdminPeerSelector::DomainNames(names) => {
            format!("domain names {} (not resolved: taken as every address outside the cluster)", names.join(", "))
        }
    }
}

/// A BaselineAdminNetworkPolicy has no priority (there is only one).
fn priority(policy: &AdminPolicy) -> Option<u32> {
    (policy.kind != AdminPolicyKind::BaselineAdminNetworkPolicy).then_some(policy.priority)
}

/// The action as the policy's own API spells it (v1alpha2 says Accept where v1alpha1 says Allow).
fn action_word(policy: &AdminPolicy, action: Action) -> &'static str {
    match (action, policy.kind) {
        (Action::Allow, AdminPolicyKind::ClusterNetworkPolicy) => "Accept",
        (Action::Allow, _) => "Allow",
        (Action::Deny, _) => "Deny",
        (Action::Pass, _) => "Pass",
        (Action::Log, _) => "Log",
    }
}

/// One line per ordered-tier rule that decided some of the queried ports.
fn tier_lines(cluster: &Cluster, side: &SideTrace, tier: TierId, wanted: &PortSet, out: &mut String) {
    let direction_word = if side.direction == Direction::Egress { "to" } else { "from" };
    for hit in side.hits(tier) {
        let ports = hit.ports.intersection(wanted);
        let Some(policy) = cluster.admin_policies.get(hit.origin.policy) else { continue };
        let Some(rule) = policy.rules(side.direction).get(hit.origin.rule) else { continue };
        if ports.is_empty() {
            continue;
        }
        let verb = match (hit.action, policy.tier) {
            (Action::Allow, _) => "allows",
            (Action::Deny, _) => "denies",
            (Action::Pass, Tier::Admin) => "passes to the NetworkPolicy tier",
            (Action::Pass, Tier::Baseline) => "passes to the default",
            (Action::Log, _) => "logs",
        };
        let name = rule.name.as_deref().map(|n| format!(" `{n}`")).unwrap_or_default();
        let peer = hit.peer.and_then(|p| rule.peers.get(p)).map(describe_admin_peer).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {} `{}` ({}{}) {} rule {}{name} (line {}) {verb}: {direction_word} {peer}, on {ports}",
            policy.tier.as_str(),
            policy.kind.as_str(),
            policy.name,
            priority(policy).map(|p| format!("priority {p}, ")).unwrap_or_default(),
            policy.location,
            side.direction.as_str(),
            hit.origin.rule,
            rule.line,
        );
    }
}

/// The tiers a side went through, in one line: "admin `tenant-isolation` Pass → NetworkPolicy `blog/api` allows".
/// `None` when no admin or baseline rule took part, where the NetworkPolicy lines say it all.
pub fn chain(cluster: &Cluster, verdict: &Verdict, side: &SideTrace) -> Option<String> {
    let wanted = side.on_the_wire(&verdict.query.ports());
    if side.calico {
        return crate::can_calico::chain(cluster, side, &wanted);
    }
    let decided = |hits: &[TierHit]| -> Vec<String> {
        hits.iter()
            .filter(|hit| !hit.ports.intersection(&wanted).is_empty())
            .filter_map(|hit| {
                let policy = cluster.admin_policies.get(hit.origin.policy)?;
                Some(format!("{} `{}` {}", policy.tier.as_str(), policy.name, action_word(policy, hit.action)))
            })
            .collect()
    };
    let admin = decided(side.hits(TierId::Admin));
    let baseline = decided(side.hits(TierId::Baseline));
    if admin.is_empty() && baseline.is_empty() {
        return None;
    }
    let mut steps = admin;
    if !side.reached(TierId::NetworkPolicy).intersection(&wanted).is_empty() {
        if side.isolating().is_empty() {
            steps.push("no NetworkPolicy".to_string());
            steps.extend(baseline);
            if !side.by_default.intersection(&wanted).is_empty() {
                steps.push("default allows".to_string());
            }
        } else {
            let names: Vec<String> = side
                .isolating()
                .iter()
                .map(|&i| format!("`{}/{}`", cluster.policies[i].namespace, cluster.policies[i].name))
                .collect();
            let verb = if side_verdict(verdict, side) { "allows" } else { "denies" };
            steps.push(format!("NetworkPolicy {} {verb}", names.join(", ")));
        }
    }
    Some(steps.join(" → "))
}

fn side_verdict(verdict: &Verdict, side: &SideTrace) -> bool {
    !side.allowed.intersection(&verdict.query.ports()).is_empty()
}

fn side_lines(cluster: &Cluster, verdict: &Verdict, side: &SideTrace, style: Style, out: &mut String) {
    let (subject, other, word) = match side.direction {
        Direction::Egress => (&verdict.from.display, &verdict.to.display, "egress"),
        Direction::Ingress => (&verdict.to.display, &verdict.from.display, "ingress"),
    };
    let allowed = side_verdict(verdict, side);
    let verdict_word = if allowed { style.good("allowed") } else { style.bad("denied") };
    let _ = writeln!(out, "\n{} of {subject}: {verdict_word}", style.strong(word));
    if side.external {
        let _ = writeln!(out, "  {subject} is outside the cluster: no policy governs its side");
        return;
    }
    if side.host_network {
        let _ = writeln!(
            out,
            "  {subject} runs on the host network: no NetworkPolicy or admin policy selects it, so its {word} is open"
        );
        return;
    }
    let wanted = side.on_the_wire(&verdict.query.ports());
    if tunnelled(verdict, side) {
        let _ = writeln!(
            out,
            "  Istio ambient tunnels the connection over HBONE: the network sees it on TCP {HBONE_PORT}, not on the \
             application's port"
        );
    }
    if let Some(chain) = chain(cluster, verdict, side) {
        let _ = writeln!(out, "  {chain}");
    }
    if side.calico {
        crate::can_calico::side_lines(cluster, side, &wanted, word, out);
        return;
    }
    cilium::deny_lines(cluster, side, &wanted, out);
    tier_lines(cluster, side, TierId::Admin, &wanted, out);
    if side.reached(TierId::NetworkPolicy).intersection(&wanted).is_empty() {
        // The admin tier decided every queried port.
        return;
    }
    if !side.default_deny() {
        let types = if side.direction == Direction::Egress { "Egress" } else { "Ingress" };
        let baseline = side.hits(TierId::Baseline).iter().any(|hit| !hit.ports.intersection(&wanted).is_empty());
        if !baseline && side.hits(TierId::Admin).is_empty() {
            let _ = writeln!(
                out,
                "  not isolated for {word}: no NetworkPolicy selects it with policyTypes {types}, so all {word} is allowed"
            );
            return;
        }
        let _ = writeln!(out, "  not isolated for {word}: no NetworkPolicy selects it with policyTypes {types}");
        tier_lines(cluster, side, TierId::Baseline, &wanted, out);
        let open = side.by_default.intersection(&wanted);
        if !open.is_empty() {
            let _ = writeln!(out, "  no tier decides {open}: allowed by default");
        }
        return;
    }
    for &index in &side.isolating() {
        let policy = &cluster.policies[index];
        let _ = writeln!(
            out,
            "  isolated for {word} by NetworkPolicy {}/{} ({})",
            policy.namespace, policy.name, policy.location
        );
    }
    let (cilium_policies, always) = side.cilium_default_deny();
    for &index in &cilium_policies {
        let policy = &cluster.cilium_policies[index];
        let _ = writeln!(out, "  default-deny for {word} by {} ({})", policy.display_name(), policy.location);
    }
    if always {
        let _ = writeln!(out, "  default-deny for {word}: Cilium's policy enforcement mode is `always`");
    }
    let mut any = false;
    for hit in side.hits(TierId::NetworkPolicy) {
        let ports = hit.ports.intersection(&wanted);
        if ports.is_empty() {
            continue;
        }
        any = true;
        let direction_word = if side.direction == Direction::Egress { "to" } else { "from" };
        if hit.origin.kind == PolicyKind::Cilium {
            if let Some(rule) = rule_at(cluster, hit.origin) {
                let _ = writeln!(
                    out,
                    "  allowed by {word} rule {} of {} (line {}): {direction_word} {}, on {ports}",
                    rule.field(side.direction),
                    rule.policy.display_name(),
                    rule.rule.line,
                    cilium::describe_peers(rule.rule, verdict.outside.as_ref().and_then(|o| o.name.as_deref()))
                );
                cilium::condition_lines(rule.rule, &ports, out);
            }
            continue;
        }
        let policy = &cluster.policies[hit.origin.policy];
        let rules = policy.rules(side.direction);
        let rule = &rules[hit.origin.rule];
        let peer = match hit.peer {
            Some(peer) => describe_peer(&rule.peers[peer], &policy.namespace),
            None => "anyone (the rule names no peers)".to_string(),
        };
        let _ = writeln!(
            out,
            "  allowed by {word} rule {} of {}/{} (line {}): {direction_word} {peer}, on {ports}",
            hit.origin.rule, policy.namespace, policy.name, rule.line
        );
    }
    if !any {
        let count: usize =
            side.isolating().iter().map(|&i| cluster.policies[i].rules(side.direction).len()).sum::<usize>()
                + cilium_policies
                    .iter()
                    .flat_map(|&i| &cluster.cilium_policies[i].rules)
                    .map(|spec| spec.rules(side.direction, false).len())
                    .sum::<usize>();
        let on = if tunnelled(verdict, side) { format!("TCP {HBONE_PORT}") } else { verdict.query.to_string() };
        let _ = writeln!(out, "  no {word} rule of these policies ({count} in all) allows {other} on {on}");
    }
}

/// The mesh's segments that the question is about: the asked ports the network lets through.
fn mesh_segments<'a>(verdict: &Verdict, answer: &'a MeshAnswer) -> Vec<(PortSet, &'a MeshVerdict)> {
    let network = verdict.explanation.egress.allowed.intersection(&verdict.explanation.ingress.allowed);
    let asked = verdict.query.ports().intersection(&network);
    answer
        .segments
        .iter()
        .map(|segment| (segment.ports.intersection(&asked), &segment.verdict))
        .filter(|(ports, _)| !ports.is_empty())
        .collect()
}

fn mesh_restricted(verdict: &Verdict) -> bool {
    // A named request is decided, not restricted.
    if !verdict.request.is_unspecified() {
        return false;
    }
    let Some(answer) = &verdict.explanation.mesh else { return false };
    mesh_segments(verdict, answer)
        .iter()
        .any(|(_, v)| matches!(v, MeshVerdict::Decided { passability: Passability::Some, .. }))
}

/// What one piece of the mesh's answer says (about the named request, when the question names one): its verdict
/// word, why, and who decided.
fn mesh_outcome(verdict: &MeshVerdict, request: &Request) -> (&'static str, String, Vec<PolicyRef>) {
    match verdict {
        MeshVerdict::Bypassed { why } => ("bypassed", why.clone(), Vec::new()),
        MeshVerdict::Refused { why, by } => ("denied", why.clone(), by.iter().cloned().collect()),
        MeshVerdict::Decided { decision, .. } if !request.is_unspecified() => match decision.decide(request) {
            Outcome::Allowed { by, why } => ("allowed", why, by),
            Outcome::Denied { by, why } => ("denied", why, by),
            Outcome::Unknown { why } => ("unknown", why, Vec::new()),
        },
        MeshVerdict::Decided { decision, passability } => match (passability, decision.decide(&Request::default())) {
            (Passability::None, Outcome::Denied { by, why }) => ("denied", why, by),
            (Passability::None, _) => ("denied", "no request passes".into(), Vec::new()),
            (_, Outcome::Allowed { by, why }) => ("allowed", why, by),
            (_, Outcome::Unknown { why }) if why.contains("external authorizer") => ("unknown", why, Vec::new()),
            (Passability::All, _) => ("allowed", "every request passes".into(), Vec::new()),
            _ => ("restricted", "only some requests pass".into(), Vec::new()),
        },
    }
}

fn dataplane_words(answer: &MeshAnswer) -> String {
    let plane = &answer.dataplane;
    match plane.mesh {
        None => format!("no mesh proxy: {}", plane.reason),
        Some(mesh) => {
            let kind = if plane.ambient {
                match &plane.waypoint {
                    Some(waypoint) => format!("ambient, waypoint {waypoint}"),
                    None => "ambient, no waypoint".into(),
                }
            } else if mesh == netseg_model::mesh::MeshKind::Istio {
                "sidecar".into()
            } else {
                "proxy".into()
            };
            format!("{} {kind}: {}", mesh.as_str(), plane.reason)
        }
    }
}

fn mesh_lines(verdict: &Verdict, style: Style, out: &mut String) {
    let Some(answer) = &verdict.explanation.mesh else { return };
    if answer.mesh.is_none() && answer.notes.is_empty() {
        return;
    }
    let segments = mesh_segments(verdict, answer);
    let overall = if answer.mesh.is_none() {
        style.good("not enforced")
    } else if segments.is_empty() {
        "nothing to decide (the network allows none of the asked ports)".to_string()
    } else if segments.iter().all(|(_, v)| mesh_outcome(v, &verdict.request).0 == "denied") {
        style.bad("denied")
    } else if segments.iter().any(|(_, v)| mesh_outcome(v, &verdict.request).0 == "unknown") {
        style.bad("unknown for this request")
    } else if mesh_restricted(verdict) {
        style.good("allowed for some requests only")
    } else {
        style.good("allowed")
    };
    let _ = writeln!(
        out,
        "
{} at {} ({}): {overall}",
        style.strong("mesh"),
        verdict.to.display,
        dataplane_words(answer)
    );
    for note in &answer.notes {
        let _ = writeln!(out, "  {note}");
    }
    for (ports, segment) in segments {
        let (word, why, by) = mesh_outcome(segment, &verdict.request);
        let cited: Vec<String> = by.iter().map(ToString::to_string).collect();
        let cited = if cited.is_empty() || why.contains(&cited.join(", ")) {
            String::new()
        } else {
            format!(" [{}]", cited.join(", "))
        };
        if word == "restricted" {
            let _ = writeln!(out, "  {ports}: only requests that match one of:");
            for restriction in answer.restrictions(&ports) {
                for condition in restriction.any_of {
                    let _ = writeln!(out, "    - {} — {}", condition.admits, condition.by);
                }
            }
        } else {
            let _ = writeln!(out, "  {ports}: {word}: {why}{cited}");
        }
    }
}

/// One layer's verdict on the named request: Cilium's L7 rules in their own words (a refusal there means no L7
/// rule admits it), a mesh's as the policies that allowed or denied it.
fn request_line(layer: Layer, request_verdict: &RequestVerdict, style: Style) -> String {
    let cite =
        |by: &[PolicyRef], separator: &str| by.iter().map(ToString::to_string).collect::<Vec<_>>().join(separator);
    let line = match (layer, request_verdict) {
        (Layer::CiliumL7, RequestVerdict::Allowed { by }) => format!("the request is admitted by {}", cite(by, "; ")),
        (Layer::CiliumL7, RequestVerdict::Denied { by }) => {
            format!("the request is refused: no L7 rule of {} admits it", cite(by, "; "))
        }
        (Layer::CiliumL7, RequestVerdict::Unknown { reason }) => format!("the request cannot be decided: {reason}"),
        (_, RequestVerdict::Allowed { by }) if by.is_empty() => style.good("allowed"),
        (_, RequestVerdict::Allowed { by }) => format!("{} by {}", style.good("allowed"), cite(by, ", ")),
        (_, RequestVerdict::Denied { by }) => format!("{} by {}", style.bad("denied"), cite(by, ", ")),
        (_, RequestVerdict::Unknown { reason }) => format!("{}: {reason}", style.bad("unknown")),
    };
    format!("{}: {line}", layer.as_str())
}

fn policy_ref_json(reference: &PolicyRef) -> Value {
    json!({"kind": reference.kind, "namespace": reference.namespace, "name": reference.name, "rule": reference.rule,
           "file": reference.location.as_ref().map(|l| l.file.to_string()),
           "line": reference.location.as_ref().map(|l| l.line)})
}

fn mesh_json(verdict: &Verdict) -> Option<Value> {
    let answer = verdict.explanation.mesh.as_ref()?;
    if answer.mesh.is_none() && answer.notes.is_empty() {
        return None;
    }
    let segments: Vec<Value> = mesh_segments(verdict, answer)
        .into_iter()
        .map(|(ports, segment)| {
            let (word, why, by) = mesh_outcome(segment, &verdict.request);
            let conditions: Vec<Value> = answer
                .restrictions(&ports)
                .into_iter()
                .flat_map(|r| r.any_of)
                .map(|c| json!({"layer": c.layer.as_str(), "by": policy_ref_json(&c.by), "admits": c.admits}))
                .collect();
            json!({"ports": ports, "verdict": word, "why": why, "by": by.iter().map(policy_ref_json).collect::<Vec<_>>(),
                   "conditions": conditions})
        })
        .collect();
    let plane = &answer.dataplane;
    Some(json!({
        "mesh": plane.mesh.map(|m| m.as_str()),
        "dataplane": match (plane.mesh, plane.ambient) {
            (None, _) => "none",
            (Some(_), true) => "ambient",
            (Some(netseg_model::mesh::MeshKind::Istio), false) => "sidecar",
            (Some(_), false) => "proxy",
        },
        "waypoint": plane.waypoint,
        "reason": plane.reason,
        "restricted": mesh_restricted(verdict),
        "segments": segments,
        "notes": answer.notes,
    }))
}

/// Caveats that change how far the verdict can be trusted: host networking, unknown pod IPs.
pub fn notes(cluster: &Cluster, verdict: &Verdict, network_notes: &[String]) -> Vec<String> {
    let mut notes = network_notes.to_vec();
    let explanation = &verdict.explanation;
    if explanation.same_pod {
        notes.push("a pod can always reach itself; no policy can block that".to_string());
    }
    for (resolved, side) in [(&verdict.from, &explanation.egress), (&verdict.to, &explanation.ingress)] {
        if side.host_network {
            notes.push(format!(
                "{} uses hostNetwork: it is the node, so NetworkPolicies do not select it and pod or namespace \
                 selectors do not match it as a peer; only ipBlocks that contain its node's IP do",
                resolved.display
            ));
        }
    }
    let policies_have_ip_blocks = [&explanation.egress, &explanation.ingress].iter().any(|side| {
        side.isolating().iter().any(|&i| {
            let policy = &cluster.policies[i];
            policy
                .ingress
                .iter()
                .chain(&policy.egress)
                .flat_map(|r| &r.peers)
                .any(|p| matches!(p.selector, PeerSelector::IpBlock(_)))
        })
    });
    if policies_have_ip_blocks {
        for resolved in [&verdict.from, &verdict.to] {
            let ip_unknown = resolved.endpoints.iter().any(|e| match e {
                Endpoint::Pod { workload, pod } => cluster.workloads[*workload].pods[*pod].facts.ips.is_empty(),
                Endpoint::Address(_) => false,
            });
            if ip_unknown {
                notes.push(format!(
                    "the pod IPs of {} are not in the input, so ipBlock peers were not matched against it (Kubernetes \
                     matches pods by IP); analyse a `kubectl get pods -o yaml` dump to include them",
                    resolved.display
                ));
            }
        }
    }
    if !verdict.request.is_unspecified() && verdict.request_verdicts.is_empty() {
        notes.push(format!(
            "nothing in the input decides on requests (Cilium L7 rules, service-mesh authorization): the request ({}) \
             gets the network's verdict, the same as any request on {}",
            verdict.request.describe(),
            verdict.query
        ));
    }
    if verdict.differing_pods {
        notes
            .push("the pods behind these names do not all answer alike; the explanation shows one allowed pair".into());
    }
    if let Some(outside) = &verdict.outside {
        notes.extend(outside_notes(verdict, outside));
    }
    notes.extend(crate::can_calico::host_endpoint_notes(cluster, verdict));
    notes
}

/// Up to four CIDRs of some ranges, and how many more.
fn ranges_words(ranges: &[IpRange]) -> String {
    let cidrs: Vec<String> = ranges.iter().flat_map(IpRange::cidrs).map(|c| c.to_string()).collect();
    match cidrs.len() {
        0..=4 => cidrs.join(", "),
        n => format!("{} and {} more", cidrs[..4].join(", "), n - 4),
    }
}

/// What an address outside the cluster that the question did not give stands for, and where the answer differs.
fn outside_notes(verdict: &Verdict, outside: &OutsideAnswer) -> Vec<String> {
    let mut notes = Vec::new();
    let what = match &outside.name {
        Some(name) => format!("netseg does not resolve {name}: the verdict is for an address outside the cluster"),
        None => "the verdict is for an address outside the cluster".to_string(),
    };
    if outside.otherwise.is_empty() {
        notes.push(format!("{what}; every such address gets the same answer"));
        return notes;
    }
    notes.push(format!(
        "{what} that no address rule singles out, the largest part of the address space that answers alike ({})",
        ranges_words(&outside.ranges)
    ));
    let target = outside.name.as_deref().unwrap_or("the address");
    for (ranges, ports) in &outside.otherwise {
        let answer = if ports.is_empty() {
            "denied".to_string()
        } else if *ports == verdict.query.ports() {
            "allowed".to_string()
        } else {
            format!("allowed on {ports} only")
        };
        notes.push(format!(
            "if {target} is in {}, the answer on {} is {answer}: ask with --to ADDRESS to decide exactly",
            ranges_words(ranges),
            verdict.query
        ));
    }
    notes
}

pub fn text(cluster: &Cluster, verdict: &Verdict, network_notes: &[String], style: Style) -> String {
    let mut out = String::new();
    let head = if verdict.allowed() { style.good("ALLOWED") } else { style.bad("DENIED") };
    let restricted = mesh_restricted(verdict);
    let qualifier = if verdict.allowed() && restricted { " (only some requests: see the mesh below)" } else { "" };
    let _ = writeln!(out, "{head}  {} → {} on {}{qualifier}", verdict.from.display, verdict.to.display, verdict.query);
    if verdict.allowed() && !verdict.query.ports().eq(&verdict.allowed_ports) {
        let _ = writeln!(out, "  allowed: {}", verdict.allowed_ports);
    }
    if !verdict.request.is_unspecified() {
        let _ = writeln!(out, "  request: {}", verdict.request.describe());
        for (layer, request_verdict) in &verdict.request_verdicts {
            let _ = writeln!(out, "  {}", request_line(*layer, request_verdict, style));
        }
    }
    side_lines(cluster, verdict, &verdict.explanation.egress, style, &mut out);
    if let Some((name, lookup)) = verdict.outside.as_ref().and_then(|o| Some((o.name.as_deref()?, o.lookup.as_ref()?)))
    {
        cilium::lookup_lines(cluster, name, &verdict.from.display, lookup, &mut out);
    }
    side_lines(cluster, verdict, &verdict.explanation.ingress, style, &mut out);
    mesh_lines(verdict, style, &mut out);
    let notes = notes(cluster, verdict, network_notes);
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

fn tier_json(cluster: &Cluster, side: &SideTrace, tier: TierId, wanted: &PortSet) -> Vec<Value> {
    side.hits(tier)
        .iter()
        .filter(|hit| !hit.ports.intersection(wanted).is_empty())
        .filter_map(|hit| {
            let policy = cluster.admin_policies.get(hit.origin.policy)?;
            let rule = policy.rules(side.direction).get(hit.origin.rule)?;
            Some(json!({"kind": policy.kind.as_str(), "tier": policy.tier.as_str(), "name": policy.name,
                        "priority": priority(policy), "rule": hit.origin.rule, "rule_name": rule.name,
                        "action": action_word(policy, hit.action), "peer": hit.peer,
                        "ports": hit.ports.intersection(wanted), "file": policy.location.file, "line": rule.line}))
        })
        .collect()
}

fn side_json(cluster: &Cluster, verdict: &Verdict, side: &SideTrace) -> Value {
    let allowed = side_verdict(verdict, side);
    let wanted = side.on_the_wire(&verdict.query.ports());
    if side.calico {
        let mut step = json!({
            "side": side.direction.as_str(),
            "verdict": if allowed { "allowed" } else { "denied" },
            "isolated": side.tiers.iter().any(|t| !t.applying.is_empty()),
            "by": crate::can_calico::side_json(cluster, side, &wanted),
        });
        if let Some(chain) = chain(cluster, verdict, side) {
            step["chain"] = Value::String(chain);
        }
        hbone_json(verdict, side, &mut step);
        return step;
    }
    // The chain in evaluation order: admin rules, then the NetworkPolicy tier, then baseline rules.
    let mut by = cilium::deny_json(cluster, side, &wanted);
    by.extend(tier_json(cluster, side, TierId::Admin, &wanted));
    let reached_policies = !side.reached(TierId::NetworkPolicy).intersection(&wanted).is_empty();
    if reached_policies && allowed {
        by.extend(cilium::allow_json(cluster, side, &wanted));
        by.extend(
            side.hits(TierId::NetworkPolicy)
                .iter()
                .filter(|hit| hit.origin.kind == PolicyKind::NetworkPolicy)
                .filter(|hit| !hit.ports.intersection(&wanted).is_empty())
                .map(|hit| {
                    let policy = &cluster.policies[hit.origin.policy];
                    json!({"kind": "NetworkPolicy", "namespace": policy.namespace, "name": policy.name,
                   "rule": hit.origin.rule, "peer": hit.peer, "ports": hit.ports.intersection(&wanted),
                   "file": policy.location.file, "line": policy.rules(side.direction)[hit.origin.rule].line})
                }),
        );
    } else if reached_policies {
        // Denied: the policies that isolate the endpoint, none of whose rules matched.
        by.extend(side.isolating().iter().map(|&i| {
            let policy = &cluster.policies[i];
            json!({"kind": "NetworkPolicy", "namespace": policy.namespace, "name": policy.name, "rule": null,
                   "file": policy.location.file, "line": policy.location.line})
        }));
        by.extend(cilium::default_deny_json(cluster, side));
    }
    if reached_policies && !side.default_deny() {
        by.extend(tier_json(cluster, side, TierId::Baseline, &wanted));
    }
    let mut step = json!({
        "side": side.direction.as_str(),
        "verdict": if allowed { "allowed" } else { "denied" },
        "isolated": side.default_deny(),
        "by": by,
    });
    if let Some(chain) = chain(cluster, verdict, side) {
        step["chain"] = Value::String(chain);
    }
    hbone_json(verdict, side, &mut step);
    step
}

/// Whether the question's ports reach this side's rules through Istio ambient's HBONE tunnel (its TCP ports).
fn tunnelled(verdict: &Verdict, side: &SideTrace) -> bool {
    let asked = verdict.query.ports();
    side.hbone.is_some() && side.on_the_wire(&asked) != asked
}

/// Where Istio ambient tunnels the connection, the port the network judged.
fn hbone_json(verdict: &Verdict, side: &SideTrace, step: &mut Value) {
    if tunnelled(verdict, side) {
        step["tunnel"] = json!({"kind": "hbone", "protocol": "TCP", "port": HBONE_PORT});
    }
}

/// The request as the question named it, field by field (only the fields given).
fn request_json(request: &Request) -> Value {
    let mut value = json!({});
    for (key, field) in [
        ("method", &request.method),
        ("path", &request.path),
        ("query", &request.query),
        ("host", &request.host),
        ("dns_name", &request.dns_name),
    ] {
        if let Some(text) = field {
            value[key] = json!(text);
        }
    }
    if !request.headers.is_empty() {
        value["headers"] =
            request.headers.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Value>();
    }
    value
}

pub fn json(cluster: &Cluster, verdict: &Verdict, network_notes: &[String]) -> Value {
    let explanation = &verdict.explanation;
    let mut value = json!({
        "schema": SCHEMA,
        "from": verdict.from.display,
        "to": verdict.to.display,
        "protocol": verdict.query.protocol.map(|p| p.as_str()),
        "port": verdict.query.port,
        "allowed": verdict.allowed(),
        "allowed_ports": verdict.allowed_ports,
        "steps": [side_json(cluster, verdict, &explanation.egress), side_json(cluster, verdict, &explanation.ingress)],
        "notes": notes(cluster, verdict, network_notes),
    });
    if let Some(mesh) = mesh_json(verdict) {
        value["mesh"] = mesh;
    }
    if !verdict.request.is_unspecified() {
        value["request"] = request_json(&verdict.request);
    }
    if let Some(outside) = &verdict.outside {
        let cidrs =
            |ranges: &[IpRange]| ranges.iter().flat_map(IpRange::cidrs).map(|c| c.to_string()).collect::<Vec<_>>();
        let entity = verdict.to.entity.or(verdict.from.entity).map(|e| e.as_str());
        let mut entry = json!({
            "name": outside.name,
            "entity": entity,
            "addresses": cidrs(&outside.ranges),
            "otherwise": outside.otherwise.iter().map(|(ranges, ports)| json!({"addresses": cidrs(ranges), "allowed_ports": ports})).collect::<Vec<_>>(),
        });
        if let Some(lookup) = &outside.lookup {
            entry["fqdn"] = cilium::lookup_json(cluster, lookup);
        }
        value["outside"] = entry;
    }
    if !verdict.request_verdicts.is_empty() {
        value["request_verdicts"] = verdict
            .request_verdicts
            .iter()
            .map(|(layer, request_verdict)| {
                let (word, by, reason) = match request_verdict {
                    RequestVerdict::Allowed { by } => ("allowed", by.as_slice(), None),
                    RequestVerdict::Denied { by } => ("denied", by.as_slice(), None),
                    RequestVerdict::Unknown { reason } => ("unknown", &[][..], Some(reason)),
                };
                json!({"layer": layer.as_str(), "verdict": word, "by": by.iter().map(policy_ref_json).collect::<Vec<_>>(),
                       "reason": reason})
            })
            .collect::<Value>();
    }
    value
}
