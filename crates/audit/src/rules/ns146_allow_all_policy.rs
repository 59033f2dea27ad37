use crate::{declare_rule, AuditContext, Finding};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a rule that allows everything in its direction: no peers and no ports (`- {}`).
    ///
    /// ## Why it matters
    /// Policies are additive. One allow-all rule selecting a pod undoes the namespace's default-deny for that
    /// pod in that direction, however carefully the other policies are written.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   podSelector: {}
    ///   egress:
    ///   - {}
    /// ```
    ///
    /// ## How to fix
    /// Replace it with the peers and ports the pods need. If it is deliberate (a temporary opening), annotate the
    /// policy with `netseg.io/ignore: NS146` and a reason.
    pub static RULE = NS146 "allow-all-policy" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            let Some((rule_index, rule)) =
                policy.rules(direction).iter().enumerate().find(|(_, r)| r.peers.is_empty() && r.ports.is_empty())
            else {
                continue;
            };
            let selected = ctx.declared.selected_pods(index).len();
            let (resource, location) = ctx.policy_resource(index);
            let location = location.map(|l| netseg_model::Location { line: rule.line, ..l });
            out.push(
                Finding::new(&RULE, resource, location)
                    .message(format!(
                        "{} rule {rule_index} of {}/{} allows all {} for the {selected} pod(s) it selects",
                        direction.as_str(),
                        policy.namespace,
                        policy.name,
                        direction.as_str()
                    ))
                    .evidence("the rule has no peers and no ports: every address, every port")
                    .remediation("list the peers and ports the pods need instead"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn empty_rule_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{}}\n  egress:\n  - {{}}\n");
        assert_eq!(names(&audit_yaml(&text), "NS146"), ["shop/p"]);
        assert!(names(&audit_yaml(SEGMENTED), "NS146").is_empty());
    }
}
