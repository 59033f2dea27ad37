use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports a rule of an AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy that can never
    /// decide anything: for every subject, peer and port it matches, an earlier rule of the same policy, or a rule
    /// of a policy evaluated before it (a lower priority number), has already decided.
    ///
    /// ## Why it matters
    /// Within a tier the first matching rule wins. A shadowed rule reads like protection (or like an exception) but
    /// has no effect: a Deny written after a broader Allow denies nothing; an Allow after a broader Deny opens
    /// nothing. The conformance suite swaps rules to prove that order matters.
    ///
    /// ## Example
    /// ```yaml
    /// egress:
    /// - {name: allow-all-to-db, action: Allow, to: [{namespaces: {matchLabels: {team: db}}}]}
    /// - {name: deny-db-admin-port, action: Deny, to: [{namespaces: {matchLabels: {team: db}}}],
    ///    ports: [{portNumber: {port: 5433}}]}      # never applies: the Allow above took TCP 5433
    /// ```
    ///
    /// ## How to fix
    /// Move the narrower rule above the broader one (or into a policy with a lower priority number), or delete it.
    pub static RULE = NS151 "shadowed-admin-rule" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for shadowed in ctx.declared.shadowed_rules() {
        let index = shadowed.origin.policy;
        let policy = &ctx.cluster.admin_policies[index];
        let Some(rule) = policy.rules(shadowed.origin.direction).get(shadowed.origin.rule) else { continue };
        let describe = |origin: &netseg_engine::rules::RuleOrigin| {
            let by = &ctx.cluster.admin_policies[origin.policy];
            let name = by.rules(origin.direction).get(origin.rule).and_then(|r| r.name.as_deref());
            let rule_name = name.map(|n| format!(" `{n}`")).unwrap_or_default();
            let place = if origin.policy == index { "this policy's".to_string() } else { by.display_name() };
            format!("{place} {} rule {}{rule_name}", origin.direction.as_str(), origin.rule)
        };
        let by: Vec<String> = shadowed.by.iter().map(describe).collect();
        // A shadow cast across a priority tie rests on netseg's tie-break, not on the API's order.
        let tied = shadowed
            .by
            .iter()
            .any(|o| o.policy != index && ctx.cluster.admin_policies[o.policy].priority == policy.priority);
        let tie_note = if tied { " (partly through a priority tie, whose order is undefined: see NS150)" } else { "" };
        let rule_name = rule.name.as_deref().map(|n| format!(" `{n}`")).unwrap_or_default();
        let (resource, mut location) = ctx.admin_policy_resource(index);
        if let Some(location) = location.as_mut() {
            location.line = rule.line;
        }
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} rule {}{rule_name} of {} ({:?}) never applies: earlier rules decide everything it matches",
                    shadowed.origin.direction.as_str(),
                    shadowed.origin.rule,
                    policy.display_name(),
                    rule.action
                ))
                .evidence(format!("shadowed by {}{tie_note}", by.join(", ")))
                .remediation(
                    "move the rule above the rules that shadow it (or to a policy evaluated earlier), or delete it",
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn policy(rules: &str) -> String {
        format!("{FLAT}---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: guard}}\nspec:\n  priority: 5\n  subject: {{namespaces: {{}}}}\n  ingress:\n{rules}")
    }

    #[test]
    fn narrower_rule_after_a_broader_one_fails() {
        let report = audit_yaml(&policy(
            "  - {name: all, action: Allow, from: [{namespaces: {}}]}\n  - {name: redis, action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 6379}}]}\n",
        ));
        let findings = of(&report, "NS151");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("rule 1 `redis`"), "{}", findings[0].message);
        assert!(findings[0].evidence.contains("this policy's ingress rule 0 `all`"));
    }

    #[test]
    fn rules_in_the_right_order_pass() {
        let report = audit_yaml(&policy(
            "  - {name: redis, action: Deny, from: [{namespaces: {}}], ports: [{portNumber: {port: 6379}}]}\n  - {name: all, action: Allow, from: [{namespaces: {}}]}\n",
        ));
        assert!(names(&report, "NS151").is_empty());
    }
}
