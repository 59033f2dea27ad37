use crate::rules::list;
use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports a NetworkPolicy whose `podSelector` matches no pod in the input, and says when it matches only pods
    /// on the host network (which no NetworkPolicy can select: `hostNetwork: true` pods share the node's network).
    ///
    /// ## Why it matters
    /// A policy that selects nothing protects nothing. Usually a label drifted (`app: api` against
    /// `app.kubernetes.io/name: api`) and the pods it was written for are open.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   podSelector: {matchLabels: {app: reddis}}   # the pods are labelled app: redis
    /// ```
    ///
    /// ## How to fix
    /// Match the selector to the labels of the pods' template, or delete the policy. When the pods it matches run on
    /// the host network, the selector is right and no NetworkPolicy can govern them: protect their ports with a host
    /// firewall (Calico HostEndpoint, Cilium host policy, the cloud's node firewall).
    pub static RULE = NS140 "policy-selects-nothing" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        if !ctx.namespace_has_workloads(&policy.namespace) || ctx.declared.selects_any_pod(index) {
            continue;
        }
        let (resource, location) = ctx.policy_resource(index);
        // The selector may match the labels of pods that run on the host network: no policy can select those,
        // and the fix is not the selector.
        let host_network: Vec<String> = ctx
            .cluster
            .workloads
            .iter()
            .filter(|w| w.id.namespace == policy.namespace)
            .filter(|w| w.pods.iter().any(|p| p.facts.host_network && policy.pod_selector.matches(&p.facts.labels)))
            .map(|w| w.id.to_string())
            .collect();
        let finding = if host_network.is_empty() {
            Finding::new(&RULE, resource, location)
                .message(format!("NetworkPolicy {}/{} selects no pod", policy.namespace, policy.name))
                .evidence(format!(
                    "podSelector `{}` matches no pod of namespace `{}` in the input",
                    policy.pod_selector, policy.namespace
                ))
                .remediation("fix the selector to match the intended pods' labels, or delete the policy")
        } else {
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "NetworkPolicy {}/{} selects only host-network pods, which no NetworkPolicy governs: it has no effect",
                    policy.namespace, policy.name
                ))
                .evidence(format!(
                    "podSelector `{}` matches the labels of {}, whose pods run with hostNetwork: true: they share the node's network, so no NetworkPolicy selects them",
                    policy.pod_selector,
                    list(&host_network, 3)
                ))
                .remediation("the selector is right, the pods cannot be selected: restrict their ports with a host firewall (Calico HostEndpoint, Cilium host policy, the cloud's node firewall), or run them on the pod network if they do not need the host's; keep the policy only as documentation")
        };
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn typo_in_selector_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec: {{podSelector: {{matchLabels: {{app: reddis}}}}}}\n");
        assert_eq!(names(&audit_yaml(&text), "NS140"), ["shop/p"]);
        assert!(names(&audit_yaml(SEGMENTED), "NS140").is_empty());
        assert!(of(&audit_yaml(&text), "NS140")[0].remediation.starts_with("fix the selector"));
    }

    /// Issue 12, failure 7: kube-prometheus's node-exporter policy was told to "fix the selector or delete the
    /// policy", but the selector matches: the pods are on the host network.
    #[test]
    fn regression_host_network_selection_is_told_apart_from_a_selector_that_matches_nothing() {
        let text = "kind: DaemonSet\nmetadata: {name: node-exporter, namespace: monitoring}\nspec:\n  selector: {matchLabels: {app.kubernetes.io/name: node-exporter}}\n  template:\n    metadata: {labels: {app.kubernetes.io/name: node-exporter}}\n    spec: {hostNetwork: true, containers: [{name: e, image: quay.io/prometheus/node-exporter, ports: [{containerPort: 9100}]}]}\n---\nkind: Deployment\nmetadata: {name: grafana, namespace: monitoring}\nspec: {template: {metadata: {labels: {app: grafana}}}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: node-exporter, namespace: monitoring}\nspec:\n  podSelector: {matchLabels: {app.kubernetes.io/name: node-exporter}}\n  ingress: [{from: [{podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}}], ports: [{port: 9100}]}]\n";
        let report = audit_yaml(text);
        let found = of(&report, "NS140");
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("selects only host-network pods"), "{}", found[0].message);
        assert!(found[0].evidence.contains("monitoring/node-exporter[DaemonSet]"), "{}", found[0].evidence);
        assert!(!found[0].remediation.contains("fix the selector"), "{}", found[0].remediation);
    }
}
