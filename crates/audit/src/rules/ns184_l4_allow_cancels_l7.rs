use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_engine::cilium::rule_ports;
use netseg_model::cilium::CiliumPeerRule;
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a Cilium allow rule with L7 rules (`toPorts.rules`) on a port that another allow rule of the same
    /// policy, for the same endpoints and the same or broader peers, allows without L7 rules.
    ///
    /// ## Why it matters
    /// Cilium's allows are a union: a connection that an L4 rule allows is not sent to the L7 proxy's rules at
    /// all, so the L7 rule restricts nothing. The HTTP methods and paths it was meant to limit are all open.
    /// (netseg checks rules within one policy; allows from other policies can cancel an L7 rule too, and `can`
    /// shows them.)
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumNetworkPolicy
    /// metadata: {name: api, namespace: shop}
    /// spec:
    ///   endpointSelector: {matchLabels: {app: api}}
    ///   ingress:
    ///   - fromEndpoints: [{matchLabels: {app: web}}]
    ///     toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
    ///   - fromEndpoints: [{matchLabels: {app: web}}]
    ///     toPorts: [{ports: [{port: "80", protocol: TCP}]}]
    /// ```
    ///
    /// ## How to fix
    /// Remove the L4 allow of that port, or give it the same L7 rules.
    pub static RULE = NS184 "l4-allow-cancels-l7" High;
}

/// Whether `broad` matches every peer that `narrow` matches, as far as the text says: no peer field (with ports),
/// or the same peers.
fn covers_peers(broad: &CiliumPeerRule, narrow: &CiliumPeerRule) -> bool {
    let selections = |rule: &CiliumPeerRule| rule.peers.iter().map(|p| p.selection.clone()).collect::<Vec<_>>();
    broad.any_peer()
        || (broad.peer_field == narrow.peer_field
            && selections(broad) == selections(narrow)
            && broad.requires == narrow.requires)
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for policy in &ctx.cluster.cilium_policies {
        for direction in [Direction::Ingress, Direction::Egress] {
            let rules: Vec<(&netseg_model::cilium::CiliumRule, &CiliumPeerRule)> = policy
                .rules
                .iter()
                .flat_map(|spec| spec.rules(direction, false).iter().map(move |rule| (spec, rule)))
                .collect();
            for (spec, l7_rule) in &rules {
                for port_rule in l7_rule.ports.iter().flatten().filter(|p| p.l7.is_some()) {
                    let single = CiliumPeerRule { ports: Some(vec![port_rule.clone()]), ..(*l7_rule).clone() };
                    let restricted = rule_ports(&single).numeric;
                    let cancelling = rules.iter().find(|(other_spec, other)| {
                        other_spec.subject == spec.subject
                            && !std::ptr::eq(*other, *l7_rule)
                            && covers_peers(other, l7_rule)
                            && match &other.ports {
                                None => !other.icmps,
                                Some(port_rules) => port_rules.iter().filter(|p| p.l7.is_none()).any(|p| {
                                    let plain = CiliumPeerRule { ports: Some(vec![p.clone()]), ..(*other).clone() };
                                    !rule_ports(&plain).numeric.intersection(&restricted).is_empty()
                                }),
                            }
                    });
                    let Some((_, other)) = cancelling else { continue };
                    let resource = Resource {
                        kind: policy.kind.as_str().into(),
                        namespace: policy.namespace.clone(),
                        name: policy.name.clone(),
                    };
                    let location = netseg_model::Location { file: policy.location.file.clone(), line: port_rule.line };
                    out.push(
                        Finding::new(&RULE, resource, Some(location))
                            .message(format!(
                                "{}: the {} rule at line {} allows the port of the L7 rule at line {} without L7 \
                                 rules, so every request passes",
                                policy.display_name(),
                                direction.as_str(),
                                other.line,
                                port_rule.line
                            ))
                            .evidence(format!(
                                "{} L7 rules on {restricted}",
                                port_rule.l7.as_ref().map_or("", |l| l.protocol())
                            ))
                            .remediation("remove the L4 allow of that port, or give it the same L7 rules"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn policy(second: &str) -> String {
        format!("{FLAT}---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: api, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: api}}}}\n  ingress:\n  - fromEndpoints: [{{matchLabels: {{app: web}}}}]\n    toPorts: [{{ports: [{{port: '80', protocol: TCP}}], rules: {{http: [{{method: GET}}]}}}}]\n{second}")
    }

    #[test]
    fn an_l4_allow_of_the_same_port_fails() {
        let plain =
            "  - fromEndpoints: [{matchLabels: {app: web}}]\n    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n";
        assert_eq!(names(&audit_yaml(&policy(plain)), "NS184"), ["shop/api"]);
        let any_peer = "  - toPorts: [{ports: [{port: '80', protocol: ANY}]}]\n";
        assert_eq!(names(&audit_yaml(&policy(any_peer)), "NS184"), ["shop/api"]);
    }

    #[test]
    fn another_port_or_another_peer_passes() {
        let other_port =
            "  - fromEndpoints: [{matchLabels: {app: web}}]\n    toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n";
        assert!(names(&audit_yaml(&policy(other_port)), "NS184").is_empty());
        let other_peer =
            "  - fromEndpoints: [{matchLabels: {app: admin}}]\n    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n";
        assert!(names(&audit_yaml(&policy(other_peer)), "NS184").is_empty());
        assert!(names(&audit_yaml(&policy("")), "NS184").is_empty());
    }
}
