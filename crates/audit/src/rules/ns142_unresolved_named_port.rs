use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::rules::RuleOrigin;
use netseg_engine::Endpoint;
use netseg_model::{Direction, PortRef};

declare_rule! {
    /// ## What it does
    /// Reports a named port in a rule that no destination container declares with that name and protocol. For an
    /// ingress rule the destinations are the pods the policy selects; for an egress rule, the pods its peers match.
    ///
    /// ## Why it matters
    /// A named port resolves on the destination pod's container ports, and the rule's protocol (TCP by default)
    /// must match the container port's. When nothing matches, the entry allows nothing and the flow it was
    /// written for is silently blocked.
    ///
    /// ## Example
    /// ```yaml
    /// ports:
    /// - port: dns            # the container declares `dns` as UDP; this entry means TCP
    /// ```
    ///
    /// ## How to fix
    /// Use the container port's exact name and protocol (`{port: dns, protocol: UDP}`), or the number.
    pub static RULE = NS142 "unresolved-named-port" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (index, policy) in ctx.cluster.policies.iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            for (rule_index, rule) in policy.rules(direction).iter().enumerate() {
                if !rule.ports.iter().any(|p| matches!(p.port, Some(PortRef::Name(_)))) {
                    continue;
                }
                let destinations: Vec<Endpoint> = match direction {
                    Direction::Ingress => ctx.declared.selected_pods(index),
                    Direction::Egress if rule.peers.is_empty() => ctx
                        .cluster
                        .workloads
                        .iter()
                        .enumerate()
                        .flat_map(|(w, wl)| (0..wl.pods.len()).map(move |pod| Endpoint::Pod { workload: w, pod }))
                        .collect(),
                    Direction::Egress => (0..rule.peers.len())
                        .flat_map(|peer| {
                            ctx.declared.peer_pods(RuleOrigin::network_policy(index, direction, rule_index), peer)
                        })
                        .collect(),
                };
                if destinations.is_empty() {
                    continue;
                }
                for port in &rule.ports {
                    let Some(PortRef::Name(name)) = &port.port else { continue };
                    let declared = destinations.iter().any(|endpoint| match endpoint {
                        Endpoint::Pod { workload, pod } => ctx.cluster.workloads[*workload].pods[*pod]
                            .facts
                            .ports
                            .iter()
                            .any(|p| p.name.as_deref() == Some(name) && p.protocol == port.protocol),
                        Endpoint::Address(_) => false,
                    });
                    if declared {
                        continue;
                    }
                    let other_protocol = destinations.iter().any(|endpoint| match endpoint {
                        Endpoint::Pod { workload, pod } => ctx.cluster.workloads[*workload].pods[*pod]
                            .facts
                            .ports
                            .iter()
                            .any(|p| p.name.as_deref() == Some(name)),
                        Endpoint::Address(_) => false,
                    });
                    let (resource, location) = ctx.policy_resource(index);
                    let location = location.map(|l| netseg_model::Location { line: port.line, ..l });
                    out.push(
                        Finding::new(&RULE, resource, location)
                            .message(format!(
                                "named port `{name}` ({}) in {} rule {rule_index} of {}/{} resolves on none of its {} destination pod(s)",
                                port.protocol,
                                direction.as_str(),
                                policy.namespace,
                                policy.name,
                                destinations.len()
                            ))
                            .evidence(if other_protocol {
                                format!("the destinations declare `{name}` with another protocol; the rule's protocol must match")
                            } else {
                                format!("no destination container declares a port named `{name}`")
                            })
                            .remediation("use the container port's exact name and protocol, or its number"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn wrong_name_or_protocol_fails_right_one_passes() {
        let policy = |port: &str| {
            format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  ingress:\n  - ports: [{port}]\n")
        };
        assert_eq!(names(&audit_yaml(&policy("{port: rediss}")), "NS142"), ["shop/p"]);
        let udp = audit_yaml(&policy("{port: redis, protocol: UDP}"));
        assert!(of(&udp, "NS142")[0].evidence.contains("another protocol"));
        assert!(names(&audit_yaml(&policy("{port: redis}")), "NS142").is_empty());
    }
}
