use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_engine::Endpoint;
use netseg_model::Location;

declare_rule! {
    /// ## What it does
    /// Reports a Calico rule with `action: Pass` after which no later tier has a policy that applies to some of the
    /// endpoints it passes (in that direction). Only where Calico's tiers are evaluated.
    ///
    /// ## Why it matters
    /// Pass hands the decision to the next tier that selects the endpoint. When there is none, what was passed
    /// reaches the endpoint's profile, which allows it: a Pass meant as "let the application team decide" becomes
    /// an allow for every workload whose team wrote no policy.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: projectcalico.org/v3
    /// kind: GlobalNetworkPolicy
    /// metadata: {name: security.pass-internal}
    /// spec:
    ///   tier: security
    ///   selector: all()
    ///   ingress:
    ///   - action: Pass
    ///     source: {nets: [10.0.0.0/8]}   # no default-tier policy selects most pods: allowed
    /// ```
    ///
    /// ## How to fix
    /// Give the endpoints a policy in a later tier (a default deny in the `default` tier), or say in the rule what
    /// is allowed (Allow) instead of passing it on.
    pub static RULE = NS170 "calico-pass-to-profile" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for found in ctx.declared.calico_passes_to_profile() {
        let Some(policy) = ctx.cluster.calico.policies.get(found.origin.policy) else { continue };
        let Some(rule) = policy.rules(found.origin.direction).get(found.origin.rule) else { continue };
        let mut workloads: Vec<String> = found
            .endpoints
            .iter()
            .filter_map(|e| match e {
                Endpoint::Pod { workload, .. } => Some(ctx.workload_name(*workload)),
                Endpoint::Address(_) => None,
            })
            .collect();
        workloads.dedup();
        let resource = Resource {
            kind: netseg_model::load::calico_kind_name(policy.kind.as_str()),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
        };
        let location = Some(Location { file: policy.location.file.clone(), line: rule.line });
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} {} rule {} passes traffic that no later tier decides: the profile allows it",
                    policy.display_name(),
                    found.origin.direction.as_str(),
                    found.origin.rule
                ))
                .evidence(format!(
                    "no tier after `{}` has a policy that selects {} for {}",
                    policy.tier,
                    super::list(&workloads, 5),
                    found.origin.direction.as_str()
                ))
                .remediation("add a policy in a later tier (a default deny in `default`), or allow explicitly"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const TIER: &str =
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n---\n";
    const PASS: &str = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: security.pass}\n\
        spec: {tier: security, selector: all(), ingress: [{action: Pass}]}\n";

    #[test]
    fn a_pass_with_no_later_tier_fails() {
        let report = audit_yaml(&format!("{FLAT}---\n{TIER}{PASS}"));
        assert_eq!(names(&report, "NS170"), ["security.pass"]);
    }

    #[test]
    fn a_pass_to_a_default_deny_passes() {
        let deny = "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: deny}\n\
            spec: {selector: all(), types: [Ingress]}\n";
        assert!(names(&audit_yaml(&format!("{FLAT}---\n{TIER}{PASS}{deny}")), "NS170").is_empty());
    }
}
