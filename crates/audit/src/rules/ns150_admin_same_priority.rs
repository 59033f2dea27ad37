use crate::{declare_rule, AuditContext, Finding};
use netseg_model::Tier;

declare_rule! {
    /// ## What it does
    /// Reports admin-tier policies (AdminNetworkPolicy, or ClusterNetworkPolicy with `tier: Admin`) that share a
    /// priority, and baseline-tier ClusterNetworkPolicies that do.
    ///
    /// ## Why it matters
    /// Policies of one tier are evaluated by ascending priority. When two have the same priority and both match a
    /// connection, the API leaves the outcome undefined: an implementation may apply either, and a Deny in one and
    /// an Allow in the other can come out differently from one CNI (or one upgrade) to the next. netseg answers
    /// deterministically (by kind, then name), but the cluster may not.
    ///
    /// ## Example
    /// ```yaml
    /// kind: AdminNetworkPolicy
    /// metadata: {name: deny-legacy}
    /// spec: {priority: 10, ...}
    /// ---
    /// kind: AdminNetworkPolicy
    /// metadata: {name: allow-monitoring}
    /// spec: {priority: 10, ...}   # same priority: which one wins is undefined
    /// ```
    ///
    /// ## How to fix
    /// Give every policy of a tier its own priority, in the order you mean them to apply.
    pub static RULE = NS150 "admin-same-priority" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for tier in [Tier::Admin, Tier::Baseline] {
        let order = netseg_engine::rules::tier_order(ctx.cluster, tier);
        for (position, &index) in order.iter().enumerate() {
            let policy = &ctx.cluster.admin_policies[index];
            let earlier: Vec<&netseg_model::AdminPolicy> = order[..position]
                .iter()
                .map(|&i| &ctx.cluster.admin_policies[i])
                .filter(|other| other.priority == policy.priority)
                .collect();
            // One finding per tie, on each later policy, naming the ones it ties with.
            let Some(first) = earlier.first() else { continue };
            let names: Vec<String> = earlier.iter().map(|p| p.display_name()).collect();
            let (resource, location) = ctx.admin_policy_resource(index);
            out.push(
                Finding::new(&RULE, resource, location)
                    .message(format!(
                        "{} has priority {}, as {} does: which of them applies first is undefined",
                        policy.display_name(),
                        policy.priority,
                        names.join(" and ")
                    ))
                    .evidence(format!(
                        "{} tier, priority {}; netseg evaluates {} first (by kind, then name), a cluster may not ({})",
                        tier.as_str(),
                        policy.priority,
                        first.display_name(),
                        first.location
                    ))
                    .remediation(format!(
                        "give {} a priority of its own, above or below {}",
                        policy.display_name(),
                        policy.priority
                    )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn anp(name: &str, priority: u32) -> String {
        format!("---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  priority: {priority}\n  subject: {{namespaces: {{}}}}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}]}}\n")
    }

    #[test]
    fn tied_priorities_fail() {
        let report = audit_yaml(&format!("{FLAT}{}{}{}", anp("b", 10), anp("a", 10), anp("c", 20)));
        assert_eq!(names(&report, "NS150"), ["b"]);
        assert!(of(&report, "NS150")[0].message.contains("AdminNetworkPolicy a"));
    }

    #[test]
    fn distinct_priorities_pass() {
        assert!(names(&audit_yaml(&format!("{FLAT}{}{}", anp("a", 10), anp("b", 11))), "NS150").is_empty());
    }
}
