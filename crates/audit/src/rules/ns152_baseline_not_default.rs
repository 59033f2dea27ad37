use crate::{declare_rule, AuditContext, Finding};
use netseg_model::{AdminPolicy, AdminPolicyKind};

declare_rule! {
    /// ## What it does
    /// Reports a BaselineAdminNetworkPolicy (`policy.networking.k8s.io/v1alpha1`) whose name is not `default`.
    ///
    /// ## Why it matters
    /// A cluster has at most one baseline policy, and its CRD only accepts the name `default`: the API server
    /// refuses any other, so the baseline you wrote (often the cluster-wide default-deny) is not in effect and
    /// traffic falls through to "allow". netseg leaves such a policy out of the analysis, as the cluster would.
    /// (v1alpha2 ClusterNetworkPolicies of `tier: Baseline` may have any name.)
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: policy.networking.k8s.io/v1alpha1
    /// kind: BaselineAdminNetworkPolicy
    /// metadata: {name: cluster-baseline}   # refused: must be `default`
    /// ```
    ///
    /// ## How to fix
    /// Name it `default` (merging it with any existing `default`), or move to a ClusterNetworkPolicy with
    /// `tier: Baseline`.
    pub static RULE = NS152 "baseline-not-default" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.admin_policies.iter().enumerate() {
        if policy.kind != AdminPolicyKind::BaselineAdminNetworkPolicy || policy.in_effect() {
            continue;
        }
        let (resource, location) = ctx.admin_policy_resource(index);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "BaselineAdminNetworkPolicy `{}` is not named `{}`: the API server refuses it, so its rules do not apply",
                    policy.name,
                    AdminPolicy::BASELINE_NAME
                ))
                .evidence(format!(
                    "{} ingress and {} egress rule(s) left out of the analysis",
                    policy.ingress.len(),
                    policy.egress.len()
                ))
                .remediation(format!("rename it to `{}`", AdminPolicy::BASELINE_NAME)),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn banp(name: &str) -> String {
        format!("{FLAT}---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  subject: {{namespaces: {{}}}}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}]}}\n")
    }

    #[test]
    fn other_name_fails_and_does_not_segment() {
        let report = audit_yaml(&banp("cluster-baseline"));
        assert_eq!(names(&report, "NS152"), ["cluster-baseline"]);
        // Not in effect, so the namespace is still open.
        assert_eq!(names(&report, "NS101"), ["shop"]);
    }

    #[test]
    fn default_passes() {
        let report = audit_yaml(&banp("default"));
        assert!(names(&report, "NS152").is_empty());
        assert!(names(&report, "NS101").is_empty());
    }
}
