use crate::rules::{list, workloads_by_namespace};
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a namespace with workloads that no NetworkPolicy selects at all, and that no admin-tier or
    /// baseline-tier policy (AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy) segments with
    /// a Deny rule either.
    /// The finding says, once per namespace at any cluster size, how many pods of how many workloads in how many
    /// namespaces reach its first workload, with one such pair as a witness that `netseg can` confirms.
    ///
    /// ## Why it matters
    /// Kubernetes networking is flat by default. Without a policy, every pod in the namespace accepts connections
    /// from every pod in the cluster and can open connections anywhere: an attacker who takes one pod can probe and
    /// reach all of them.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: redis, namespace: blog}   # and no NetworkPolicy in `blog`
    /// ```
    ///
    /// ## How to fix
    /// Start the namespace from default-deny for both directions, then allow the flows it needs:
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: default-deny, namespace: blog}
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Ingress, Egress]
    /// ```
    pub static RULE = NS101 "namespace-without-policy" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (namespace, workloads) in workloads_by_namespace(ctx) {
        let selected = workloads.iter().any(|&w| {
            [Direction::Ingress, Direction::Egress].iter().any(|&d| ctx.isolated(w, d) || ctx.tier_denies(w, d))
        });
        if selected {
            continue;
        }
        let names: Vec<String> = workloads.iter().map(|&w| ctx.workload_name(w)).collect();
        let (resource, location) = ctx.namespace_resource(&namespace);
        // Who reaches the namespace, in numbers: asked of the factored answer about its first workload, never
        // listed, so that a flat cluster of any size gets one readable finding per namespace.
        let mut exposure = String::new();
        let mut witness = None;
        if let Some(&subject) = workloads.first() {
            let summary = ctx.effective.answer().sources(subject, &PortSet::all()).summary();
            exposure = format!(
                "; {} is reachable from {} pod(s) of {} workload(s) in {} namespace(s)",
                ctx.workload_name(subject),
                summary.pods,
                summary.workloads,
                summary.namespaces
            );
            // The witness names a port the workload listens on when one is open to the source.
            witness = summary.first.and_then(|(src, ports)| {
                let listening = ctx.cluster.workloads[subject].pods.iter().flat_map(|p| &p.facts.ports);
                match listening.map(|p| (p.protocol, p.port)).find(|p| ports.contains(p.0, p.1)) {
                    Some((protocol, port)) => ctx.witness_between(src, subject, &PortSet::single(protocol, port)),
                    None => ctx.witness_between(src, subject, &ports),
                }
            });
        }
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("namespace `{namespace}` has {} workload(s) and no NetworkPolicy selects any of them{exposure}", names.len()))
                .witness(witness)
                .evidence(format!("unsegmented: {}", list(&names, 5)))
                .remediation(format!(
                    "add a default-deny NetworkPolicy (podSelector: {{}}, policyTypes: [Ingress, Egress]) to `{namespace}`, then allow the flows its workloads need"
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn flat_namespace_fails() {
        assert_eq!(names(&audit_yaml(FLAT), "NS101"), ["shop"]);
    }

    #[test]
    fn flat_namespace_says_how_many_reach_it_with_a_witness() {
        let report = audit_yaml(FLAT);
        let finding = &of(&report, "NS101")[0];
        assert!(finding.message.contains("is reachable from"), "{}", finding.message);
        let witness = finding.witness.as_ref().expect("a witness pair");
        assert!(witness.from.starts_with("shop/") && witness.to.starts_with("shop/"), "{witness:?}");
    }

    #[test]
    fn segmented_namespace_passes() {
        assert!(names(&audit_yaml(SEGMENTED), "NS101").is_empty());
    }

    #[test]
    fn namespace_segmented_by_an_admin_deny_passes() {
        let text = format!("{FLAT}---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: isolate}}\nspec:\n  priority: 5\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: shop}}}}}}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}]}}\n");
        assert!(names(&audit_yaml(&text), "NS101").is_empty());
        // An admin policy that only allows does not segment anything.
        let allow_only = text.replace("action: Deny", "action: Allow");
        assert_eq!(names(&audit_yaml(&allow_only), "NS101"), ["shop"]);
    }

    #[test]
    fn host_network_only_namespace_passes() {
        let report = audit_yaml("kind: DaemonSet\nmetadata: {name: agent, namespace: infra}\nspec: {template: {spec: {hostNetwork: true}}}\n");
        assert!(names(&report, "NS101").is_empty());
    }
}
