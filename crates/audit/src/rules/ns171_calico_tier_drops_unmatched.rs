use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_engine::Endpoint;
use netseg_model::calico::{CalicoAction, CalicoRule, TierDefault, DEFAULT_TIER};
use netseg_model::Direction;
use std::collections::BTreeSet;

declare_rule! {
    /// ## What it does
    /// Reports a Calico tier other than `default`, with `defaultAction: Deny` (the default), whose policies select
    /// endpoints in a direction without ending in a rule that matches all remaining traffic (a final `Pass`,
    /// `Allow` or `Deny` with no conditions). Traffic of those endpoints that no rule of the tier matches is
    /// dropped at the end of the tier instead of going on to the next one.
    ///
    /// ## Why it matters
    /// Tiers are usually added for a narrow purpose (a security team's blocklist, a platform tier for DNS) by
    /// people who expect everything else to continue to the application's policies. One policy in such a tier
    /// that selects `all()` makes the tier decide every packet of every endpoint: what it does not allow or pass
    /// is silently denied, and the application's own policies in later tiers never see it.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: projectcalico.org/v3
    /// kind: GlobalNetworkPolicy
    /// metadata: {name: security.block-bad-nets}
    /// spec:
    ///   tier: security
    ///   selector: all()
    ///   ingress: [{action: Deny, source: {nets: [203.0.113.0/24]}}]   # no final Pass
    /// ```
    ///
    /// ## How to fix
    /// End the tier's policies with `- action: Pass` (in each direction they apply to), or set the tier's
    /// `defaultAction: Pass`; keep the Deny default only where the tier is meant to be the last word.
    pub static RULE = NS171 "calico-tier-drops-unmatched" Medium;
}

/// A rule that matches every packet: no protocol, address, selector, port or application-layer condition.
fn catches_all(rule: &CalicoRule) -> bool {
    rule.protocol.is_none()
        && rule.not_protocol.is_none()
        && rule.ip_version.is_none()
        && rule.http.is_none()
        && [&rule.source, &rule.destination]
            .iter()
            .all(|side| side.matches_any_endpoint() && side.ports.is_empty() && side.not_ports.is_empty())
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let calico = &ctx.cluster.calico;
    for tier in calico.tiers.iter().filter(|t| t.name != DEFAULT_TIER && t.default_action == TierDefault::Deny) {
        for direction in [Direction::Ingress, Direction::Egress] {
            let mut selected: BTreeSet<usize> = BTreeSet::new();
            let mut decided: BTreeSet<usize> = BTreeSet::new();
            let mut policies: Vec<String> = Vec::new();
            for (index, policy) in calico.policies.iter().enumerate() {
                if policy.tier != tier.name || !policy.enforced() || !policy.applies_to(direction) {
                    continue;
                }
                let workloads: BTreeSet<usize> = ctx
                    .declared
                    .calico_selected_pods(index)
                    .into_iter()
                    .filter_map(|e| match e {
                        Endpoint::Pod { workload, .. } => Some(workload),
                        Endpoint::Address(_) => None,
                    })
                    .collect();
                if workloads.is_empty() {
                    continue;
                }
                let ends = policy.rules(direction).last().is_some_and(|r| {
                    catches_all(r) && matches!(r.action, CalicoAction::Pass | CalicoAction::Allow | CalicoAction::Deny)
                });
                if ends {
                    decided.extend(&workloads);
                } else {
                    policies.push(policy.display_name());
                }
                selected.extend(workloads);
            }
            let dropped: Vec<String> = selected.difference(&decided).map(|&w| ctx.workload_name(w)).collect();
            if dropped.is_empty() {
                continue;
            }
            let resource = Resource { kind: "Tier".into(), namespace: None, name: tier.name.clone() };
            out.push(
                Finding::new(&RULE, resource, Some(tier.location.clone()))
                    .message(format!(
                        "Calico tier {} denies the {} traffic of {} workload(s) that none of its rules match: it never reaches the later tiers",
                        tier.name,
                        direction.as_str(),
                        dropped.len()
                    ))
                    .evidence(format!(
                        "selected by {} with no final catch-all rule: {}",
                        policies.join(", "),
                        super::list(&dropped, 5)
                    ))
                    .remediation(format!(
                        "end the tier's {} rules with `- action: Pass`, or set the tier's defaultAction: Pass",
                        direction.as_str()
                    )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const TIER: &str =
        "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n";

    fn block(last: &str) -> String {
        format!("---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: security.block}}\nspec:\n  tier: security\n  selector: all()\n  types: [Ingress]\n  ingress: [{{action: Deny, source: {{nets: [203.0.113.0/24]}}}}{last}]\n")
    }

    #[test]
    fn a_tier_without_a_final_pass_is_reported() {
        let report = audit_yaml(&format!("{FLAT}{TIER}{}", block("")));
        assert_eq!(names(&report, "NS171"), ["security"]);
        let finding = &of(&report, "NS171")[0];
        assert!(finding.message.contains("ingress"), "{}", finding.message);
        assert!(finding.evidence.contains("security.block"), "{}", finding.evidence);
    }

    #[test]
    fn a_final_pass_or_a_pass_default_passes() {
        assert!(names(&audit_yaml(&format!("{FLAT}{TIER}{}", block(", {action: Pass}"))), "NS171").is_empty());
        let pass_tier = "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100, defaultAction: Pass}\n";
        assert!(names(&audit_yaml(&format!("{FLAT}{pass_tier}{}", block(""))), "NS171").is_empty());
    }
}
