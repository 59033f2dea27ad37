use crate::{declare_rule, AuditContext, Finding};
use netseg_model::{Direction, PeerSelector};

declare_rule! {
    /// ## What it does
    /// Reports ingress rules whose peer selects every namespace (`namespaceSelector: {}`), so that pods from any
    /// namespace, including every other tenant's, may connect.
    ///
    /// ## Why it matters
    /// `namespaceSelector: {}` reads like "my namespaces" but means all of them, present and future. One
    /// compromised workload anywhere in the cluster can then reach the selected pods.
    ///
    /// ## Example
    /// ```yaml
    /// ingress:
    /// - from:
    ///   - namespaceSelector: {}
    /// ```
    ///
    /// ## How to fix
    /// Name the namespaces that need access, by label:
    /// ```yaml
    /// - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}
    /// ```
    pub static RULE = NS126 "open-to-all-namespaces" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        for (rule_index, rule) in policy.rules(Direction::Ingress).iter().enumerate() {
            let everywhere = rule.peers.iter().position(
                |peer| matches!(&peer.selector, PeerSelector::Pods { namespaces: Some(ns), .. } if ns.is_empty()),
            );
            let Some(peer_index) = everywhere else { continue };
            let (resource, location) = ctx.policy_resource(index);
            let location = location.map(|l| netseg_model::Location { line: rule.peers[peer_index].line, ..l });
            out.push(
                Finding::new(&RULE, resource, location)
                    .message(format!(
                        "ingress rule {rule_index} of {}/{} admits pods from every namespace",
                        policy.namespace, policy.name
                    ))
                    .evidence(format!("peer {peer_index} has `namespaceSelector: {{}}`, which selects all namespaces"))
                    .remediation("select the namespaces that need access by label, e.g. kubernetes.io/metadata.name"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn empty_namespace_selector_fails_named_one_passes() {
        let open = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - from: [{{namespaceSelector: {{}}}}]\n");
        assert_eq!(names(&audit_yaml(&open), "NS126"), ["shop/p"]);
        let named = open.replace("namespaceSelector: {}", "namespaceSelector: {matchLabels: {team: a}}");
        assert!(names(&audit_yaml(&named), "NS126").is_empty());
    }
}
