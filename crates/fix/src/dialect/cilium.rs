//! `--dialect cilium`: one CiliumClusterwideNetworkPolicy for the default-deny, DNS and the metadata block, and a
//! CiliumNetworkPolicy (`cilium.io/v2`) per workload and direction.
//!
//! How Cilium evaluates them: a rule that selects an endpoint with rules in a direction makes that direction
//! default-deny, the allows of every rule and NetworkPolicy are one union, and `egressDeny` wins over every allow.
//! So the clusterwide policy's `ingress: [{}]` (a rule that allows nothing: Cilium's own deny-all-ingress) and its
//! DNS egress rule make the covered namespaces' pods default-deny both ways; its `egressDeny` keeps the metadata
//! endpoints closed whatever any other policy allows. The DNS rule carries the L7 rule `dns: [{matchPattern: "*"}]`:
//! it admits every name, and it sends lookups through the agent's DNS proxy, without which a `toFQDNs` rule (the
//! input's, or one added later) never matches anything.

use super::{metadata, metadata_blocks, role, Names, Role, WrittenObject};
use crate::generate::{block_without_metadata, DnsTarget, Plan};
use crate::manifest::{scalar, selector_yaml, GeneratedPolicy, GeneratedRule};
use netseg_engine::PortSet;
use netseg_model::cilium::{CiliumPolicyKind, NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL};
use netseg_model::NAMESPACE_NAME_LABEL;
use netseg_model::{Cluster, Direction, IpBlock, LabelSelector, Operator, PeerSelector, Protocol, Requirement};

pub const API_VERSION: &str = "cilium.io/v2";
pub const DEFAULT_DENY_NAME: &str = "netseg-default-deny";
/// Cilium's CRD allows at most 40 entries in one `toPorts[].ports`.
const MAX_PORTS: usize = 40;

/// The label of a pod's namespace, as Cilium's selectors name it.
fn namespace_key() -> String {
    format!("k8s:{POD_NAMESPACE_LABEL}")
}

/// The endpoints a NetworkPolicy peer of pods names, as one Cilium endpoint selector: the pod labels as they are,
/// the namespace as Cilium labels it. A namespace named by its name label is `k8s:io.kubernetes.pod.namespace`;
/// other namespace labels are `k8s:io.cilium.k8s.namespace.labels.<key>`, with the namespace label required to
/// exist so that Cilium does not narrow the selector to the policy's own namespace.
fn endpoints_selector(namespaces: Option<&LabelSelector>, pods: Option<&LabelSelector>) -> LabelSelector {
    let mut selector = pods.cloned().unwrap_or_default();
    let Some(namespaces) = namespaces else { return selector };
    let name = namespaces.match_labels.get(NAMESPACE_NAME_LABEL);
    if let (Some(name), 1, true) = (name, namespaces.match_labels.len(), namespaces.match_expressions.is_empty()) {
        selector.match_labels.insert(namespace_key(), name.clone());
        return selector;
    }
    for (key, value) in &namespaces.match_labels {
        selector.match_labels.insert(format!("k8s:{NAMESPACE_LABELS_PREFIX}{key}"), value.clone());
    }
    for requirement in &namespaces.match_expressions {
        selector.match_expressions.push(Requirement {
            key: format!("k8s:{NAMESPACE_LABELS_PREFIX}{}", requirement.key),
            ..requirement.clone()
        });
    }
    selector.match_expressions.push(Requirement { key: namespace_key(), operator: Operator::Exists, values: vec![] });
    selector
}

/// `toPorts` of a port set: its ranges per protocol, at most [`MAX_PORTS`] to an entry, and the L7 `rules` under
/// each entry when given.
fn to_ports(ports: &PortSet, rules: Option<&str>) -> Vec<String> {
    let entries: Vec<String> = Protocol::ALL
        .iter()
        .flat_map(|&protocol| {
            ports.ranges(protocol).iter().map(move |&(s, e)| {
                if s == e {
                    format!("{{port: \"{s}\", protocol: {protocol}}}")
                } else {
                    format!("{{port: \"{s}\", endPort: {e}, protocol: {protocol}}}")
                }
            })
        })
        .collect();
    let mut out = vec!["    toPorts:".to_string()];
    for chunk in entries.chunks(MAX_PORTS) {
        out.push("    - ports:".into());
        out.extend(chunk.iter().map(|entry| format!("      - {entry}")));
        if let Some(rules) = rules {
            out.push(format!("      rules: {rules}"));
        }
    }
    out
}

/// One Cilium rule for one peer of a generated rule (no peers: every peer, `fromEntities: [all]`).
fn allow_rule(direction: Direction, peer: Option<&PeerSelector>, ports: &PortSet) -> String {
    let (endpoints, cidrs, entities) = match direction {
        Direction::Ingress => ("fromEndpoints", "fromCIDRSet", "fromEntities"),
        Direction::Egress => ("toEndpoints", "toCIDRSet", "toEntities"),
    };
    let mut lines = match peer {
        None => vec![format!("  - {entities}: [all]")],
        Some(PeerSelector::Pods { namespaces, pods }) => {
            let selector = endpoints_selector(namespaces.as_ref(), pods.as_ref());
            vec![format!("  - {endpoints}:"), format!("    - {}", selector_yaml(&selector))]
        }
        Some(PeerSelector::IpBlock(IpBlock { cidr, except })) => {
            let except: Vec<String> = except.iter().map(ToString::to_string).collect();
            let except = if except.is_empty() { String::new() } else { format!(", except: [{}]", except.join(", ")) };
            vec![format!("  - {cidrs}:"), format!("    - {{cidr: {cidr}{except}}}")]
        }
    };
    lines.extend(to_ports(ports, None));
    lines.join("\n") + "\n"
}

fn allow_rules(direction: Direction, rule: &GeneratedRule) -> Vec<String> {
    if rule.peers.is_empty() {
        return vec![allow_rule(direction, None, &rule.ports)];
    }
    rule.peers.iter().map(|peer| allow_rule(direction, Some(peer), &rule.ports)).collect()
}

/// The rules of a direction under `key`, and a reasons line per rule: `egress[2]: ...`.
fn rules_yaml(key: &str, rules: &[(String, Vec<String>)], reasons: &mut Vec<String>) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut out = format!("  {key}:\n");
    for (index, (rule, why)) in rules.iter().enumerate() {
        out.push_str(rule);
        reasons.extend(why.iter().map(|w| format!("{key}[{index}]: {w}")));
    }
    out
}

/// The DNS rule: to the cluster DNS on its ports, with the L7 rule that admits every name.
fn dns_rule(dns: &DnsTarget, ports: &PortSet) -> Option<String> {
    let mut lines = match dns {
        DnsTarget::Pods { namespace, labels } => {
            let mut selector = LabelSelector { match_labels: labels.clone(), ..LabelSelector::default() };
            selector.match_labels.insert(namespace_key(), namespace.as_str());
            vec!["  - toEndpoints:".to_string(), format!("    - {}", selector_yaml(&selector))]
        }
        DnsTarget::Block(cidr) => {
            let block = block_without_metadata(*cidr)?;
            let except: Vec<String> = block.except.iter().map(ToString::to_string).collect();
            let except = if except.is_empty() { String::new() } else { format!(", except: [{}]", except.join(", ")) };
            vec!["  - toCIDRSet:".to_string(), format!("    - {{cidr: {}{except}}}", block.cidr)]
        }
    };
    lines.extend(to_ports(ports, Some("{dns: [{matchPattern: \"*\"}]}")));
    Some(lines.join("\n") + "\n")
}

/// The CiliumClusterwideNetworkPolicy: the covered namespaces' pods default-deny both ways, DNS allowed, the
/// metadata endpoints denied.
fn default_deny(plan: &Plan, covered: &[String], names: &mut Names) -> WrittenObject {
    let name = names.unique(None, DEFAULT_DENY_NAME);
    let mut reasons = vec![format!(
        "default-deny ingress and egress for every pod of {}: only what the policies allow gets through; every pod \
         may resolve names; the cloud metadata endpoints stay closed whatever any policy allows",
        covered.join(", ")
    )];
    let ingress = rules_yaml(
        "ingress",
        &[("  - {}\n".to_string(), vec!["allows nothing: it makes the pods default-deny for ingress".to_string()])],
        &mut reasons,
    );
    let egress: Vec<(String, Vec<String>)> = dns_rule(&plan.dns, &plan.dns_ports)
        .map(|rule| {
            (
                rule,
                vec![format!(
                    "the cluster DNS: {}; the L7 rule admits every name and lets toFQDNs rules see the answers",
                    plan.dns
                )],
            )
        })
        .into_iter()
        .collect();
    let egress = rules_yaml("egress", &egress, &mut reasons);
    let blocks: Vec<String> = metadata_blocks().iter().map(|c| format!("    - {{cidr: {c}}}")).collect();
    let deny = format!("  - toCIDRSet:\n{}\n", blocks.join("\n"));
    let egress_deny = rules_yaml(
        "egressDeny",
        &[(deny, vec!["the cloud metadata endpoints: denied over every allow, of any policy".to_string()])],
        &mut reasons,
    );
    let namespaces: Vec<String> = covered.iter().map(|ns| scalar(ns)).collect();
    let mut yaml = format!("apiVersion: {API_VERSION}\nkind: CiliumClusterwideNetworkPolicy\n");
    yaml.push_str(&metadata(&name, None, &reasons));
    yaml.push_str("spec:\n  endpointSelector:\n");
    yaml.push_str(&format!(
        "    matchExpressions: [{{key: {}, operator: In, values: [{}]}}]\n",
        scalar(&namespace_key()),
        namespaces.join(", ")
    ));
    yaml.push_str(&ingress);
    yaml.push_str(&egress);
    yaml.push_str(&egress_deny);
    WrittenObject {
        kind: CiliumPolicyKind::CiliumClusterwideNetworkPolicy.as_str(),
        api_version: API_VERSION,
        namespace: None,
        name,
        covers: covered.to_vec(),
        yaml,
    }
}

/// A workload's allows as a CiliumNetworkPolicy with the same selector and rules.
fn workload_policy(policy: &GeneratedPolicy, names: &mut Names) -> WrittenObject {
    let name = names.unique(Some(&policy.namespace), &policy.name);
    let mut reasons = vec![policy.purpose.clone()];
    let mut body = String::new();
    for (direction, key, rules) in
        [(Direction::Ingress, "ingress", &policy.ingress), (Direction::Egress, "egress", &policy.egress)]
    {
        let expanded: Vec<(String, Vec<String>)> = rules
            .iter()
            .flat_map(|rule| allow_rules(direction, rule).into_iter().map(|r| (r, rule.reasons.clone())))
            .collect();
        body.push_str(&rules_yaml(key, &expanded, &mut reasons));
    }
    let mut yaml = format!("apiVersion: {API_VERSION}\nkind: CiliumNetworkPolicy\n");
    yaml.push_str(&metadata(&name, Some(&policy.namespace), &reasons));
    yaml.push_str(&format!("spec:\n  endpointSelector: {}\n", selector_yaml(&policy.pod_selector)));
    yaml.push_str(&body);
    WrittenObject {
        kind: CiliumPolicyKind::CiliumNetworkPolicy.as_str(),
        api_version: API_VERSION,
        namespace: Some(policy.namespace.clone()),
        name,
        covers: vec![policy.namespace.clone()],
        yaml,
    }
}

/// The plan in Cilium's objects: the clusterwide policy over `covered` (none when it is empty), then the
/// workloads' CiliumNetworkPolicies in the plan's order.
pub(crate) fn write(cluster: &Cluster, plan: &Plan, covered: &[String]) -> Vec<WrittenObject> {
    let mut names = Names::new(cluster.cilium_policies.iter().map(|p| (p.namespace.clone(), p.name.clone())));
    let mut objects = Vec::new();
    if !covered.is_empty() {
        objects.push(default_deny(plan, covered, &mut names));
    }
    for policy in plan.policies.iter().filter(|p| role(p) == Role::Workload) {
        objects.push(workload_policy(policy, &mut names));
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::namespace_selector;
    use netseg_model::Labels;

    fn labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: pairs.iter().map(|(k, v)| (*k, *v)).collect::<Labels>(),
            ..LabelSelector::default()
        }
    }

    #[test]
    fn a_namespace_named_by_name_is_the_pod_namespace_label() {
        let selector = endpoints_selector(Some(&namespace_selector("shop")), Some(&labels(&[("app", "api")])));
        assert_eq!(selector_yaml(&selector), "{matchLabels: {app: api, \"k8s:io.kubernetes.pod.namespace\": shop}}");
    }

    #[test]
    fn other_namespace_labels_keep_the_selector_cluster_wide() {
        let selector = endpoints_selector(Some(&labels(&[("team", "a")])), None);
        assert_eq!(
            selector_yaml(&selector),
            "{matchLabels: {\"k8s:io.cilium.k8s.namespace.labels.team\": a}, matchExpressions: [{key: \
             \"k8s:io.kubernetes.pod.namespace\", operator: Exists}]}"
        );
        // Every namespace: only the namespace label must exist.
        let every = endpoints_selector(Some(&LabelSelector::default()), None);
        assert_eq!(
            selector_yaml(&every),
            "{matchExpressions: [{key: \"k8s:io.kubernetes.pod.namespace\", operator: Exists}]}"
        );
    }

    #[test]
    fn ports_are_strings_with_end_ports_and_at_most_forty_to_an_entry() {
        let ranges: Vec<(Protocol, u16, u16)> = (0..45).map(|i| (Protocol::Tcp, 1000 + 2 * i, 1000 + 2 * i)).collect();
        let mut ports = PortSet::from_ranges(&ranges);
        ports.union_with(&PortSet::from_ranges(&[(Protocol::Udp, 5000, 5010)]));
        let lines = to_ports(&ports, None);
        assert_eq!(lines.iter().filter(|l| l.trim() == "- ports:").count(), 2);
        assert!(lines.contains(&"      - {port: \"1000\", protocol: TCP}".to_string()));
        assert!(lines.contains(&"      - {port: \"5000\", endPort: 5010, protocol: UDP}".to_string()));
    }
}
