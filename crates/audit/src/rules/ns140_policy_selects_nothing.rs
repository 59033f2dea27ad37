use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports a NetworkPolicy whose `podSelector` matches no pod in the input.
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
    /// Match the selector to the labels of the pods' template, or delete the policy.
    pub static RULE = NS140 "policy-selects-nothing" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        if !ctx.namespace_has_workloads(&policy.namespace) || ctx.declared.selects_any_pod(index) {
            continue;
        }
        let (resource, location) = ctx.policy_resource(index);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("NetworkPolicy {}/{} selects no pod", policy.namespace, policy.name))
                .evidence(format!(
                    "podSelector `{}` matches no pod of namespace `{}` in the input",
                    policy.pod_selector, policy.namespace
                ))
                .remediation("fix the selector to match the intended pods' labels, or delete the policy"),
        );
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
    }
}
