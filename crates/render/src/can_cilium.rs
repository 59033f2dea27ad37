//! `netseg can`: the lines and JSON entries for Cilium's policies (deny rules, default deny, allow rules and the
//! L7 conditions on what they allow).

use netseg_engine::cilium::{rule_at, CiliumRuleRef, NameLookup};
use netseg_engine::rules::RuleOrigin;
use netseg_engine::{PolicyKind, PortSet, SideTrace, TierId};
use netseg_model::cilium::{CiliumPeerRule, CiliumPeerSelection};
use netseg_model::{Cluster, Direction};
use serde_json::{json, Value};
use std::fmt::Write;

/// The peers of a rule in words: "fromEndpoints org=empire", "toEntities world", "anyone". `name`: the DNS name
/// the question asks about, which `toFQDNs` selectors are matched against.
pub fn describe_peers(rule: &CiliumPeerRule, name: Option<&str>) -> String {
    let Some(field) = rule.peer_field else {
        return if rule.any_peer() { "anyone (the rule names only ports)".into() } else { "no one".into() };
    };
    if rule.peers.is_empty() {
        return format!("{field} [] (no one)");
    }
    let peers: Vec<String> = rule
        .peers
        .iter()
        .map(|peer| match &peer.selection {
            CiliumPeerSelection::Endpoints(selector) => format!("`{selector}`"),
            CiliumPeerSelection::Entity(entity) => entity.to_string(),
            CiliumPeerSelection::Cidr(block) if block.except.is_empty() => block.cidr.to_string(),
            CiliumPeerSelection::Cidr(block) => {
                let except: Vec<String> = block.except.iter().map(ToString::to_string).collect();
                format!("{} except {}", block.cidr, except.join(", "))
            }
            CiliumPeerSelection::CidrGroup(name) => format!("CIDR group {name} (not read: matches nothing)"),
            CiliumPeerSelection::Service(service) => service.to_string(),
            CiliumPeerSelection::Fqdn(fqdn) => match name {
                Some(name) if fqdn.matches(name) => format!("{fqdn} (matches {name})"),
                Some(name) => format!("{fqdn} (does not match {name})"),
                None => format!("{fqdn} (names are not resolved: any address outside the cluster)"),
            },
            CiliumPeerSelection::Nodes(selector) => format!("nodes `{selector}`"),
            CiliumPeerSelection::CloudGroup => "cloud provider groups (not resolved: match nothing)".into(),
        })
        .collect();
    format!("{field} {}", peers.join(", "))
}

/// What the L7 rules of a rule admit on some of `ports`, one condition each: the request must match one of
/// them.
pub fn conditions(rule: &CiliumPeerRule, ports: &PortSet) -> Vec<String> {
    let mut conditions = Vec::new();
    for port_rule in rule.ports.iter().flatten() {
        let single = CiliumPeerRule { ports: Some(vec![port_rule.clone()]), ..rule.clone() };
        if netseg_engine::cilium::rule_ports(&single).numeric.intersection(ports).is_empty()
            && port_rule.ports.iter().all(|p| !matches!(p.port, netseg_model::cilium::CiliumPortNumber::Named(_)))
        {
            continue;
        }
        conditions.extend(netseg_engine::cilium::l7_conditions(port_rule).unwrap_or_default());
        if !port_rule.server_names.is_empty() {
            conditions.push(format!("TLS server name {}", port_rule.server_names.join(" or ")));
        }
    }
    conditions
}

/// The L7 conditions under an allow line, indented.
pub fn condition_lines(rule: &CiliumPeerRule, ports: &PortSet, out: &mut String) {
    let conditions = conditions(rule, ports);
    if conditions.is_empty() {
        return;
    }
    let _ = writeln!(out, "    only requests that match one of (Cilium's L7 proxy decides):");
    for condition in conditions {
        let _ = writeln!(out, "      - {condition}");
    }
}

fn direction_word(direction: Direction) -> &'static str {
    if direction == Direction::Egress {
        "to"
    } else {
        "from"
    }
}

/// The Cilium deny rules that decided some of the queried ports.
pub fn deny_lines(cluster: &Cluster, side: &SideTrace, wanted: &PortSet, out: &mut String) {
    for hit in side.hits(TierId::CiliumDeny) {
        let ports = hit.ports.intersection(wanted);
        let Some(rule) = rule_at(cluster, hit.origin).filter(|_| !ports.is_empty()) else { continue };
        let _ = writeln!(
            out,
            "  denied by {} rule {} of {} (line {}), which no allow overrides: {} {}, on {ports}",
            side.direction.as_str(),
            rule.field(side.direction),
            rule.policy.display_name(),
            rule.rule.line,
            direction_word(side.direction),
            describe_peers(rule.rule, None),
        );
    }
}

fn entry(rule: &CiliumRuleRef<'_>, direction: Direction, action: &str, ports: PortSet) -> Value {
    let conditions = if action == "Allow" { conditions(rule.rule, &ports) } else { Vec::new() };
    json!({
        "kind": rule.policy.kind.as_str(),
        "namespace": rule.policy.namespace,
        "name": rule.policy.name,
        "rule": rule.field(direction),
        "action": action,
        "ports": ports,
        "conditions": conditions,
        "file": rule.policy.location.file,
        "line": rule.rule.line,
    })
}

pub fn deny_json(cluster: &Cluster, side: &SideTrace, wanted: &PortSet) -> Vec<Value> {
    side.hits(TierId::CiliumDeny)
        .iter()
        .filter_map(|hit| {
            let ports = hit.ports.intersection(wanted);
            let rule = rule_at(cluster, hit.origin).filter(|_| !ports.is_empty())?;
            Some(entry(&rule, side.direction, "Deny", ports))
        })
        .collect()
}

pub fn allow_json(cluster: &Cluster, side: &SideTrace, wanted: &PortSet) -> Vec<Value> {
    side.hits(TierId::NetworkPolicy)
        .iter()
        .filter(|hit| hit.origin.kind == PolicyKind::Cilium)
        .filter_map(|hit| {
            let ports = hit.ports.intersection(wanted);
            let rule = rule_at(cluster, hit.origin).filter(|_| !ports.is_empty())?;
            Some(entry(&rule, side.direction, "Allow", ports))
        })
        .collect()
}

/// Denied: the Cilium policies (and the enforcement mode) that make the endpoint default-deny.
pub fn default_deny_json(cluster: &Cluster, side: &SideTrace) -> Vec<Value> {
    let (policies, always) = side.cilium_default_deny();
    let mut entries: Vec<Value> = policies
        .iter()
        .filter_map(|&i| cluster.cilium_policies.get(i))
        .map(|policy| {
            json!({"kind": policy.kind.as_str(), "namespace": policy.namespace, "name": policy.name, "rule": null,
                   "action": null, "file": policy.location.file, "line": policy.location.line})
        })
        .collect();
    if always {
        entries.push(json!({"kind": "CiliumPolicyEnforcement", "mode": "always"}));
    }
    entries
}

/// A Cilium rule named for people: `egress rule spec.egress[1] of CiliumNetworkPolicy shop/api (line 12)`.
fn rule_words(cluster: &Cluster, origin: RuleOrigin) -> Option<String> {
    let rule = rule_at(cluster, origin)?;
    Some(format!(
        "{} rule {} of {} (line {})",
        origin.direction.as_str(),
        rule.field(origin.direction),
        rule.policy.display_name(),
        rule.rule.line
    ))
}

/// Under the egress side, toward a DNS name: whether Cilium's DNS proxy lets the source's lookup of the name
/// through, which is all that makes its `toFQDNs` rules match.
pub fn lookup_lines(cluster: &Cluster, name: &str, source: &str, lookup: &NameLookup, out: &mut String) {
    let words = |origins: &[RuleOrigin]| -> String {
        origins.iter().filter_map(|&o| rule_words(cluster, o)).collect::<Vec<_>>().join("; ")
    };
    if lookup.fqdn_rules.is_empty() {
        if !lookup.lookup_rules.is_empty() {
            let _ = writeln!(
                out,
                "  {source}'s lookup of {name} passes Cilium's DNS proxy ({}), but no toFQDNs rule of its egress \
                 names {name}",
                words(&lookup.lookup_rules)
            );
        }
        return;
    }
    if lookup.lookup_rules.is_empty() {
        let _ = writeln!(
            out,
            "  {} names {name} (toFQDNs), but no L7 DNS rule of {source}'s egress lets its lookup of {name} through \
             Cilium's DNS proxy: Cilium never learns the name's addresses from it, so the rule allows nothing \
             (Cilium gathers names per node: another pod on the same node whose lookup passes the proxy would make \
             them known)",
            words(&lookup.fqdn_rules)
        );
    } else {
        let _ = writeln!(
            out,
            "  {source}'s lookup of {name} passes Cilium's DNS proxy ({}), so Cilium learns its addresses for the \
             toFQDNs rules that name it ({})",
            words(&lookup.lookup_rules),
            words(&lookup.fqdn_rules)
        );
    }
}

fn origin_json(cluster: &Cluster, origin: RuleOrigin) -> Option<Value> {
    let rule = rule_at(cluster, origin)?;
    Some(json!({
        "kind": rule.policy.kind.as_str(),
        "namespace": rule.policy.namespace,
        "name": rule.policy.name,
        "rule": rule.field(origin.direction),
        "file": rule.policy.location.file,
        "line": rule.rule.line,
    }))
}

/// `lookup_lines` in `netseg.can/v1` JSON.
pub fn lookup_json(cluster: &Cluster, lookup: &NameLookup) -> Value {
    let refs = |origins: &[RuleOrigin]| origins.iter().filter_map(|&o| origin_json(cluster, o)).collect::<Vec<_>>();
    json!({
        "fqdn_rules": refs(&lookup.fqdn_rules),
        "lookup_rules": refs(&lookup.lookup_rules),
        "learnt": !lookup.lookup_rules.is_empty(),
    })
}
