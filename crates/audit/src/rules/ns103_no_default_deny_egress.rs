use crate::{declare_rule, AuditContext, Finding, RuleMeta};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports workloads left open for egress in a namespace that has NetworkPolicies: no policy selecting them
    /// has `Egress` in its `policyTypes`.
    ///
    /// ## Why it matters
    /// Egress isolation is what stops a compromised pod from scanning the cluster, reaching the cloud metadata
    /// endpoint or calling home. Ingress-only policies leave all of that open.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Ingress]     # egress stays open
    /// ```
    ///
    /// ## How to fix
    /// Add `Egress` to the default-deny's `policyTypes`, allow DNS, and allow each needed destination.
    pub static RULE = NS103 "no-default-deny-egress" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    open_in_direction(ctx, out, &RULE, Direction::Egress);
}

/// Workloads not isolated in `direction` in namespaces that have at least one policy (NS101 covers the others).
/// An admin or baseline Deny that applies to the workload in `direction` counts as segmentation: "all is allowed"
/// would be false there, and NS160 and the reachability rules judge what is left open.
pub(super) fn open_in_direction(
    ctx: &AuditContext<'_>,
    out: &mut Vec<Finding>,
    rule: &'static RuleMeta,
    direction: Direction,
) {
    let word = direction.as_str();
    for w in ctx.governed_workloads() {
        let namespace = &ctx.cluster.workloads[w].id.namespace;
        if !ctx.namespace_has_policies(namespace) || ctx.isolated(w, direction) || ctx.tier_denies(w, direction) {
            continue;
        }
        let (resource, location) = ctx.workload_resource(w);
        let types = if direction == Direction::Ingress { "Ingress" } else { "Egress" };
        out.push(
            Finding::new(rule, resource, location)
                .message(format!("{} is not isolated for {word}: all {word} is allowed", ctx.workload_name(w)))
                .evidence(format!(
                    "namespace `{namespace}` has NetworkPolicies, but none selects this workload with policyTypes {types}"
                ))
                .remediation(format!(
                    "add a default-deny for {word} to `{namespace}` (podSelector: {{}}, policyTypes: [{types}]) and allow the needed flows"
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn ingress_only_default_deny_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: shop}}\nspec: {{podSelector: {{}}}}\n");
        assert_eq!(names(&audit_yaml(&text), "NS103"), ["shop/redis", "shop/web"]);
    }

    #[test]
    fn egress_default_deny_passes() {
        assert!(names(&audit_yaml(SEGMENTED), "NS103").is_empty());
    }
}
