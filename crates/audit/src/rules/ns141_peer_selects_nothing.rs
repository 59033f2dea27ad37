use crate::rules::list;
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::rules::RuleOrigin;
use netseg_model::{Direction, LabelSelector, PeerSelector};
use std::collections::HashMap;

declare_rule! {
    /// ## What it does
    /// Reports a rule peer (`podSelector`, `namespaceSelector` or both) that matches no pod in the input, and says
    /// when it matches only host-network pods, which pod selectors never match (their traffic carries the node's
    /// address).
    ///
    /// ## Why it matters
    /// A peer that matches nothing allows nothing, so the flow it was written for is blocked, or it waits for pods
    /// that a typo will never produce. Peers whose namespaces have no workloads in the input (kube-dns in
    /// `kube-system`, when only the application is audited) are not judged.
    ///
    /// ## Example
    /// ```yaml
    /// ingress:
    /// - from:
    ///   - podSelector: {matchLabels: {app: wordpres}}
    /// ```
    ///
    /// ## How to fix
    /// Match the selectors to real labels; select namespaces by `kubernetes.io/metadata.name`.
    pub static RULE = NS141 "peer-selects-nothing" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if ctx.cluster.workloads.is_empty() {
        return;
    }
    // Policies repeat their namespace selectors; each is judged once.
    let mut judged_selectors: HashMap<&LabelSelector, bool> = HashMap::new();
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
                for (peer_index, peer) in rule.peers.iter().enumerate() {
                    let PeerSelector::Pods { namespaces, .. } = &peer.selector else { continue };
                    // Peers aimed at namespaces whose workloads are not in the input cannot be judged.
                    let judged = match namespaces {
                        Some(selector) => *judged_selectors.entry(selector).or_insert_with(|| {
                            ctx.cluster
                                .namespaces
                                .iter()
                                .any(|ns| selector.matches(&ns.labels) && ctx.namespace_has_workloads(&ns.name))
                        }),
                        None => ctx.namespace_has_workloads(&policy.namespace),
                    };
                    if !judged {
                        continue;
                    }
                    let origin = RuleOrigin::network_policy(index, direction, rule_index);
                    if ctx.declared.peer_matches_any_pod(origin, peer_index) {
                        continue;
                    }
                    let (resource, location) = ctx.policy_resource(index);
                    let location = location.map(|l| netseg_model::Location { line: peer.line, ..l });
                    let host_network = host_network_matches(ctx, &policy.namespace, &peer.selector);
                    let finding = Finding::new(&RULE, resource, location);
                    let finding = if host_network.is_empty() {
                        finding
                            .message(format!(
                                "peer {peer_index} of {} rule {rule_index} in {}/{} matches no pod in the input",
                                direction.as_str(),
                                policy.namespace,
                                policy.name
                            ))
                            .evidence(describe(&peer.selector))
                            .remediation("match the selector to existing labels, or remove the peer")
                    } else {
                        finding
                            .message(format!(
                                "peer {peer_index} of {} rule {rule_index} in {}/{} matches only host-network pods, which a pod selector never matches",
                                direction.as_str(),
                                policy.namespace,
                                policy.name
                            ))
                            .evidence(format!(
                                "{} matches the labels of {}, whose pods run with hostNetwork: true: their traffic carries the node's address, not a pod's",
                                describe(&peer.selector),
                                list(&host_network, 3)
                            ))
                            .remediation("the selector is right, the pods cannot be matched by it: allow them with an ipBlock of the node addresses (traffic from a pod's own node is always allowed)")
                    };
                    out.push(finding);
                }
            }
        }
    }
}

/// Workloads whose host-network pods a pod peer would match by labels, were they on the pod network.
fn host_network_matches(ctx: &AuditContext<'_>, policy_namespace: &str, selector: &PeerSelector) -> Vec<String> {
    let PeerSelector::Pods { namespaces, pods } = selector else { return Vec::new() };
    ctx.cluster
        .workloads
        .iter()
        .filter(|w| match namespaces {
            None => w.id.namespace == policy_namespace,
            Some(selector) => ctx.cluster.namespace(&w.id.namespace).is_some_and(|ns| selector.matches(&ns.labels)),
        })
        .filter(|w| {
            w.pods.iter().any(|p| p.facts.host_network && pods.as_ref().is_none_or(|s| s.matches(&p.facts.labels)))
        })
        .map(|w| w.id.to_string())
        .collect()
}

fn describe(selector: &PeerSelector) -> String {
    match selector {
        PeerSelector::Pods { namespaces, pods } => {
            let ns = namespaces.as_ref().map_or("the policy's namespace".to_string(), |s| format!("namespaces `{s}`"));
            let pods = pods.as_ref().map_or("all pods".to_string(), |s| format!("pods `{s}`"));
            format!("{pods} in {ns}")
        }
        PeerSelector::IpBlock(block) => format!("ipBlock {}", block.cidr),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn typo_in_peer_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  ingress:\n  - from: [{{podSelector: {{matchLabels: {{app: wbe}}}}}}]\n");
        let report = audit_yaml(&text);
        assert_eq!(names(&report, "NS141"), ["shop/p"]);
        assert_eq!(of(&report, "NS141")[0].location.as_ref().map(|l| l.line), Some(22));
        assert!(
            names(&audit_yaml(SEGMENTED), "NS141").iter().all(|n| n == "shop/default-deny"),
            "kube-dns is not in the input"
        );
    }

    /// Issue 12, failure 7: a peer that matches host-network pods (kube-prometheus's node-exporter, say) is not a
    /// selector that matches nothing.
    #[test]
    fn regression_a_peer_of_host_network_pods_is_told_apart() {
        let text = format!("{FLAT}---\nkind: DaemonSet\nmetadata: {{name: node-exporter, namespace: shop}}\nspec: {{template: {{metadata: {{labels: {{app: node-exporter}}}}, spec: {{hostNetwork: true}}}}}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  ingress:\n  - from: [{{podSelector: {{matchLabels: {{app: node-exporter}}}}}}]\n");
        let report = audit_yaml(&text);
        let found = of(&report, "NS141");
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("matches only host-network pods"), "{}", found[0].message);
        assert!(found[0].evidence.contains("shop/node-exporter[DaemonSet]"), "{}", found[0].evidence);
        assert!(found[0].remediation.contains("ipBlock of the node addresses"), "{}", found[0].remediation);
    }
}
