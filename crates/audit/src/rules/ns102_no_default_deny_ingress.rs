use crate::{declare_rule, AuditContext, Finding};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports workloads left open for ingress in a namespace that has NetworkPolicies: no policy selecting them
    /// has `Ingress` in its `policyTypes`.
    ///
    /// ## Why it matters
    /// A pod is isolated for ingress only when some policy selects it for ingress. Policies written for some pods
    /// leave every other pod accepting connections from anywhere; usually nobody meant that, and the gap grows
    /// with each new workload.
    ///
    /// ## Example
    /// ```yaml
    /// # `blog` has a policy for `api` only; `redis` in `blog` accepts everyone.
    /// spec:
    ///   podSelector: {matchLabels: {app: api}}
    /// ```
    ///
    /// ## How to fix
    /// Add a namespace-wide default-deny for ingress (`podSelector: {}`, `policyTypes: [Ingress]`) and allow
    /// each needed flow explicitly.
    pub static RULE = NS102 "no-default-deny-ingress" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    super::ns103_no_default_deny_egress::open_in_direction(ctx, out, &RULE, Direction::Ingress);
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn partially_covered_namespace_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web, namespace: shop}}\nspec: {{podSelector: {{matchLabels: {{app: web}}}}}}\n");
        assert_eq!(names(&audit_yaml(&text), "NS102"), ["shop/redis"]);
    }

    #[test]
    fn default_deny_passes_and_no_policy_is_ns101s_job() {
        assert!(names(&audit_yaml(SEGMENTED), "NS102").is_empty());
        assert!(names(&audit_yaml(FLAT), "NS102").is_empty());
    }
}
