//! `netseg can` where Calico's tiers decide: each tier the side went through, the policy and rule that decided
//! the asked ports (file and line), the tier's default action, and the profile that allows what no tier decides.

use crate::can::{describe_admin_peer, describe_peer};
use netseg_engine::{Action, PolicyKind, PortSet, SideTrace, TierHit, TierTrace};
use netseg_model::calico::{CalicoPolicy, CalicoRule, EntityRule};
use netseg_model::{Cluster, Direction};
use serde_json::{json, Value};
use std::fmt::Write;

fn verb(action: Action) -> &'static str {
    match action {
        Action::Allow => "allows",
        Action::Deny => "denies",
        Action::Pass => "passes to the next tier",
        Action::Log => "logs",
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Allow => "Allow",
        Action::Deny => "Deny",
        Action::Pass => "Pass",
        Action::Log => "Log",
    }
}

/// A Calico entity rule in words: "selector `app == 'web'`, nets 10.0.0.0/8" ("anyone" when it sets nothing).
pub fn describe_entity(entity: &EntityRule) -> String {
    let mut parts = Vec::new();
    if let Some(selector) = &entity.namespace_selector {
        parts.push(format!("namespaceSelector `{selector}`"));
    }
    if let Some(selector) = &entity.selector {
        parts.push(format!("selector `{selector}`"));
    }
    if let Some(selector) = &entity.not_selector {
        parts.push(format!("notSelector `{selector}`"));
    }
    if let Some(accounts) = &entity.service_accounts {
        let mut words = Vec::new();
        if !accounts.names.is_empty() {
            words.push(accounts.names.join(", "));
        }
        if let Some(selector) = &accounts.selector {
            words.push(format!("`{selector}`"));
        }
        parts.push(format!("serviceAccounts {}", words.join(" and ")));
    }
    if let Some(service) = &entity.services {
        parts.push(format!("services {}", service.name));
    }
    let nets = |nets: &[netseg_model::Cidr]| nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    if !entity.nets.is_empty() {
        parts.push(format!("nets {}", nets(&entity.nets)));
    }
    if !entity.not_nets.is_empty() {
        parts.push(format!("notNets {}", nets(&entity.not_nets)));
    }
    if parts.is_empty() {
        "anyone".to_string()
    } else {
        parts.join(", ")
    }
}

fn calico_rule<'c>(cluster: &'c Cluster, hit: &TierHit) -> Option<(&'c CalicoPolicy, &'c CalicoRule)> {
    let policy = cluster.calico.policies.get(hit.origin.policy)?;
    let rule = policy.rules(hit.origin.direction).get(hit.origin.rule)?;
    Some((policy, rule))
}

/// The tiers that took part for the asked ports: those some policy of which applies, reached by the ports.
fn walked<'t>(side: &'t SideTrace, wanted: &'t PortSet) -> impl Iterator<Item = &'t TierTrace> + 't {
    side.tiers.iter().filter(move |t| !t.applying.is_empty() && !t.reached.intersection(wanted).is_empty())
}

fn tier_words(tier: &TierTrace) -> String {
    match tier.order {
        Some(order) => format!("tier `{}` (order {})", tier.name, order.0),
        None => format!("tier `{}`", tier.name),
    }
}

/// One line per rule that decided some of the asked ports, the tier's default action, and the profile.
pub fn side_lines(cluster: &Cluster, side: &SideTrace, wanted: &PortSet, word: &str, out: &mut String) {
    let towards = if side.direction == Direction::Egress { "to" } else { "from" };
    let mut any = false;
    for tier in walked(side, wanted) {
        any = true;
        for hit in &tier.hits {
            let ports = hit.ports.intersection(wanted);
            if ports.is_empty() {
                continue;
            }
            let what = match hit.origin.kind {
                // Cilium's policies never sit in Calico's tiers (one CNI enforces either).
                PolicyKind::Cilium | PolicyKind::CiliumEnforcement => None,
                PolicyKind::Calico => calico_rule(cluster, hit).map(|(policy, rule)| {
                    let peer = match side.direction {
                        Direction::Ingress => &rule.source,
                        Direction::Egress => &rule.destination,
                    };
                    format!(
                        "{} ({}) {word} rule {} (line {}) {}: {towards} {}",
                        policy.display_name(),
                        policy.location,
                        hit.origin.rule,
                        rule.line,
                        verb(hit.action),
                        describe_entity(peer)
                    )
                }),
                PolicyKind::NetworkPolicy => cluster.policies.get(hit.origin.policy).and_then(|policy| {
                    let rule = policy.rules(side.direction).get(hit.origin.rule)?;
                    let peer = match hit.peer {
                        Some(peer) => describe_peer(&rule.peers[peer], &policy.namespace),
                        None => "anyone (the rule names no peers)".to_string(),
                    };
                    Some(format!(
                        "NetworkPolicy {}/{} ({}) {word} rule {} (line {}) allows: {towards} {peer}",
                        policy.namespace, policy.name, policy.location, hit.origin.rule, rule.line
                    ))
                }),
                PolicyKind::Admin => cluster.admin_policies.get(hit.origin.policy).and_then(|policy| {
                    let rule = policy.rules(side.direction).get(hit.origin.rule)?;
                    let peer = hit.peer.and_then(|p| rule.peers.get(p)).map(describe_admin_peer).unwrap_or_default();
                    Some(format!(
                        "{} `{}` ({}) {word} rule {} (line {}) {}: {towards} {peer}",
                        policy.kind.as_str(),
                        policy.name,
                        policy.location,
                        hit.origin.rule,
                        rule.line,
                        verb(hit.action)
                    ))
                }),
            };
            if let Some(what) = what {
                let _ = writeln!(out, "  {}: {what}, on {ports}", tier_words(tier));
            }
        }
        let at_end = tier.at_end.intersection(wanted);
        if !at_end.is_empty() {
            let end = match tier.default_action {
                Action::Pass => "passes them to the next tier",
                _ => "denies them",
            };
            let _ = writeln!(out, "  {}: no rule matches {at_end}; the tier's default action {end}", tier_words(tier));
        }
    }
    let open = side.by_default.intersection(wanted);
    if !any {
        let _ =
            writeln!(out, "  no Calico tier has a policy that selects it for {word}: its profile allows all {word}");
    } else if !open.is_empty() {
        let _ = writeln!(out, "  no tier decides {open}: allowed by the endpoint's profile");
    }
}

/// The tiers walked, in one line: "tier security: GlobalNetworkPolicy x Pass → tier default: denied".
pub fn chain(cluster: &Cluster, side: &SideTrace, wanted: &PortSet) -> Option<String> {
    let mut steps = Vec::new();
    for tier in walked(side, wanted) {
        for hit in tier.hits.iter().filter(|h| !h.ports.intersection(wanted).is_empty()) {
            let name = match hit.origin.kind {
                // Cilium's policies never sit in Calico's tiers (one CNI enforces either).
                PolicyKind::Cilium | PolicyKind::CiliumEnforcement => None,
                PolicyKind::Calico => cluster.calico.policies.get(hit.origin.policy).map(CalicoPolicy::display_name),
                PolicyKind::NetworkPolicy => {
                    cluster.policies.get(hit.origin.policy).map(|p| format!("NetworkPolicy {}/{}", p.namespace, p.name))
                }
                PolicyKind::Admin => {
                    cluster.admin_policies.get(hit.origin.policy).map(|p| format!("{} {}", p.kind.as_str(), p.name))
                }
            };
            if let Some(name) = name {
                steps.push(format!("{} `{name}` {}", tier.name, action_word(hit.action)));
            }
        }
        if !tier.at_end.intersection(wanted).is_empty() {
            steps.push(format!("{} default {}", tier.name, action_word(tier.default_action)));
        }
    }
    if steps.is_empty() {
        return None;
    }
    if !side.by_default.intersection(wanted).is_empty() {
        steps.push("profile allows".to_string());
    }
    Some(steps.join(" → "))
}

/// The `by` entries of a side: each deciding rule, each tier default that took ports, and the profile.
pub fn side_json(cluster: &Cluster, side: &SideTrace, wanted: &PortSet) -> Vec<Value> {
    let mut by = Vec::new();
    for tier in walked(side, wanted) {
        for hit in &tier.hits {
            let ports = hit.ports.intersection(wanted);
            if ports.is_empty() {
                continue;
            }
            let entry = match hit.origin.kind {
                // Cilium's policies never sit in Calico's tiers (one CNI enforces either).
                PolicyKind::Cilium | PolicyKind::CiliumEnforcement => None,
                PolicyKind::Calico => calico_rule(cluster, hit).map(|(policy, rule)| {
                    json!({"kind": netseg_model::load::calico_kind_name(policy.kind.as_str()), "tier": &*tier.name,
                           "namespace": policy.namespace, "name": policy.name, "order": policy.order,
                           "rule": hit.origin.rule, "action": action_word(hit.action), "ports": ports,
                           "file": policy.location.file, "line": rule.line})
                }),
                PolicyKind::NetworkPolicy => cluster.policies.get(hit.origin.policy).and_then(|policy| {
                    let rule = policy.rules(side.direction).get(hit.origin.rule)?;
                    Some(json!({"kind": "NetworkPolicy", "namespace": policy.namespace, "name": policy.name,
                                "rule": hit.origin.rule, "peer": hit.peer, "ports": ports,
                                "file": policy.location.file, "line": rule.line}))
                }),
                PolicyKind::Admin => cluster.admin_policies.get(hit.origin.policy).and_then(|policy| {
                    let rule = policy.rules(side.direction).get(hit.origin.rule)?;
                    Some(json!({"kind": policy.kind.as_str(), "tier": policy.tier.as_str(), "name": policy.name,
                                "priority": (policy.kind != netseg_model::AdminPolicyKind::BaselineAdminNetworkPolicy)
                                    .then_some(policy.priority),
                                "rule": hit.origin.rule, "rule_name": rule.name, "action": action_word(hit.action),
                                "peer": hit.peer, "ports": ports, "file": policy.location.file, "line": rule.line}))
                }),
            };
            by.extend(entry);
        }
        let at_end = tier.at_end.intersection(wanted);
        if !at_end.is_empty() {
            by.push(json!({"kind": "TierDefault", "tier": &*tier.name, "action": action_word(tier.default_action),
                           "ports": at_end}));
        }
    }
    let open = side.by_default.intersection(wanted);
    if !open.is_empty() {
        by.push(json!({"kind": "Profile", "action": "Allow", "ports": open}));
    }
    by
}

/// Calico's policies that decide at host endpoints (`preDNAT`, `doNotTrack`, `applyOnForward`), which netseg does
/// not evaluate there: named where the connection may pass a node's interface, that is where one end is outside
/// the cluster or on the host network (NS172).
pub fn host_endpoint_notes(cluster: &Cluster, verdict: &netseg_engine::query::Verdict) -> Vec<String> {
    let explanation = &verdict.explanation;
    if !explanation.egress.calico {
        return Vec::new();
    }
    let through_node =
        [&explanation.egress, &explanation.ingress].iter().any(|side| side.external || side.host_network)
            || verdict.outside.is_some();
    if !through_node {
        return Vec::new();
    }
    cluster
        .calico
        .policies
        .iter()
        .filter(|p| p.enforced() && p.special_processing())
        .map(|policy| {
            let mut flags = Vec::new();
            for (set, flag) in [
                (policy.pre_dnat, "preDNAT"),
                (policy.do_not_track, "doNotTrack"),
                (policy.apply_on_forward, "applyOnForward"),
            ] {
                if set {
                    flags.push(flag);
                }
            }
            format!(
                "{} ({}) is {}: it decides at host endpoints, which netseg does not evaluate; where this connection \
                 passes a node interface it selects, it decides there too (NS172)",
                policy.display_name(),
                policy.location,
                flags.join(", ")
            )
        })
        .collect()
}
