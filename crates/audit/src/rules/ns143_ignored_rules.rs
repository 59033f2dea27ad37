use crate::{declare_rule, AuditContext, Finding};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports rules for a direction that the policy's `policyTypes` leaves out: Kubernetes ignores them.
    ///
    /// ## Why it matters
    /// `policyTypes: [Ingress]` with `egress:` rules looks like an egress policy and is not one: the egress
    /// rules are dropped without a warning and the pods' egress stays open.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   podSelector: {matchLabels: {app: api}}
    ///   policyTypes: [Ingress]
    ///   egress:                  # ignored
    ///   - to: [{podSelector: {matchLabels: {app: db}}}]
    /// ```
    ///
    /// ## How to fix
    /// Add the direction to `policyTypes` (here `[Ingress, Egress]`), or delete the rules.
    pub static RULE = NS143 "ignored-rules" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        for (direction, rules, name) in
            [(Direction::Ingress, &policy.ingress, "Ingress"), (Direction::Egress, &policy.egress, "Egress")]
        {
            if rules.is_empty() || policy.applies_to(direction) {
                continue;
            }
            let (resource, location) = ctx.policy_resource(index);
            let location = location.map(|l| netseg_model::Location { line: rules[0].line, ..l });
            out.push(
                Finding::new(&RULE, resource, location)
                    .message(format!(
                        "{} {} rule(s) of {}/{} are ignored: policyTypes leaves out {name}",
                        rules.len(),
                        direction.as_str(),
                        policy.namespace,
                        policy.name
                    ))
                    .evidence(format!("policyTypes is {:?}", policy.declared_policy_types.clone().unwrap_or_default()))
                    .remediation(format!("add {name} to policyTypes, or delete the {} rules", direction.as_str())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn egress_rules_under_ingress_only_fail() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n  egress:\n  - to: [{{podSelector: {{}}}}]\n");
        assert_eq!(names(&audit_yaml(&text), "NS143"), ["shop/p"]);
        assert!(names(&audit_yaml(SEGMENTED), "NS143").is_empty());
    }
}
