use crate::{declare_rule, AuditContext, Finding, Resource, Witness};
use netseg_engine::cilium::{cancelled_l7, rule_at, rule_ports};
use netseg_engine::request::PolicyRef;
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
    ///
    /// Within one policy the rules are compared as written. An allow of another policy (another Cilium policy,
    /// or a NetworkPolicy, which Cilium unions with its own) cancels an L7 rule too: those are found by asking
    /// the engine, pair by pair of the L7 rule's subjects and the workloads they talk to, which ports an allow
    /// without L7 rules opens; one finding per L7 rule, with the first pair as the witness and the count.
    /// (Beyond 200,000 such pairs that second check is skipped.)
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
    across_policies(ctx, out);
}

/// Beyond this many (subject, other workload) pairs the check across policies is skipped: it explains each.
const MAX_PAIRS: usize = 200_000;

/// An L7 rule that another policy's allow cancels, pair by pair.
fn across_policies(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.effective.requests_decided() {
        return;
    }
    let cluster = ctx.cluster;
    let workloads: Vec<usize> = ctx.governed_workloads().collect();
    // The workloads some Cilium rule with L7 rules applies to, per direction.
    let mut subjects: Vec<(usize, Direction)> = Vec::new();
    for &workload in &workloads {
        let Some(pod) = ctx.pods(workload).next() else { continue };
        for direction in [Direction::Ingress, Direction::Egress] {
            if l7_applies(ctx, pod, direction) {
                subjects.push((workload, direction));
            }
        }
    }
    if subjects.is_empty() || subjects.len().saturating_mul(workloads.len()) > MAX_PAIRS {
        return;
    }
    let mut found: Vec<(PolicyRef, Finding, usize)> = Vec::new();
    for &(subject, direction) in &subjects {
        for &other in workloads.iter().filter(|&&w| w != subject) {
            let (src, dst) = if direction == Direction::Ingress { (other, subject) } else { (subject, other) };
            let (Some(src_pod), Some(dst_pod)) = (ctx.pods(src).next(), ctx.pods(dst).next()) else { continue };
            if ctx.effective.allowed(src_pod, dst_pod).is_empty() {
                continue;
            }
            let explanation = ctx.effective.explain(src_pod, dst_pod);
            for cancelled in cancelled_l7(cluster, &explanation, &explanation.allowed) {
                let same_object = |by: &PolicyRef| {
                    by.kind == cancelled.restricting.kind
                        && by.namespace == cancelled.restricting.namespace
                        && by.name == cancelled.restricting.name
                };
                if cancelled.direction != direction || cancelled.opened_by.iter().all(same_object) {
                    continue;
                }
                if let Some((_, _, count)) = found.iter_mut().find(|(by, ..)| *by == cancelled.restricting) {
                    *count += 1;
                    continue;
                }
                let openers: Vec<String> =
                    cancelled.opened_by.iter().filter(|by| !same_object(by)).map(ToString::to_string).collect();
                let (protocol, port) = cancelled.ports.first().unwrap_or((netseg_model::Protocol::Tcp, 0));
                let resource = Resource {
                    kind: cancelled.restricting.kind.clone(),
                    namespace: cancelled.restricting.namespace.clone(),
                    name: cancelled.restricting.name.clone(),
                };
                let finding = Finding::new(&RULE, resource, cancelled.restricting.location.clone())
                    .message(format!(
                        "{}: its L7 rule restricts nothing for {} → {} on {}: {} allows it without L7 rules, so \
                         every request passes",
                        cancelled.restricting,
                        ctx.workload_name(src),
                        ctx.workload_name(dst),
                        cancelled.ports,
                        openers.join(", ")
                    ))
                    .remediation("give the other allow the same L7 rules, or narrow it so that it does not admit these peers on these ports")
                    .witness(Some(Witness {
                        from: ctx.workload_name(src),
                        to: ctx.workload_name(dst),
                        protocol,
                        port,
                    }));
                found.push((cancelled.restricting.clone(), finding, 1));
            }
        }
    }
    for (_, mut finding, count) in found {
        finding.evidence = format!("{count} workload pair(s) of the rule's subject reach each other this way");
        out.push(finding);
    }
}

/// Whether a Cilium rule with L7 rules applies to the pod in `direction`.
fn l7_applies(ctx: &AuditContext<'_>, pod: netseg_engine::Endpoint, direction: Direction) -> bool {
    ctx.effective.union_rules_applying(pod, direction).into_iter().any(|origin| {
        rule_at(ctx.cluster, origin)
            .is_some_and(|rule| rule.rule.ports.iter().flatten().any(|port_rule| port_rule.l7.is_some()))
    })
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

    /// The allow that cancels the L7 rule is in a NetworkPolicy, which Cilium unions with its own policies.
    #[test]
    fn an_allow_of_another_policy_fails_with_a_witness() {
        let web =
            "  - fromEndpoints: [{matchLabels: {app: web}}]\n    toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n";
        let api = "---\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, ports: [{containerPort: 80}]}]}\n";
        let network_policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: api-http, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]\n";
        let report = audit_yaml(&format!("{}{api}{network_policy}", policy(web)));
        let found = of(&report, "NS184");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].message.contains("shop/web[Deployment] → shop/api[Deployment] on TCP 80"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.contains("NetworkPolicy shop/api-http"), "{}", found[0].message);
        assert_eq!(found[0].witness.as_ref().map(|w| (w.to.as_str(), w.port)), Some(("shop/api[Deployment]", 80)));
        // The same NetworkPolicy on another port cancels nothing.
        let elsewhere = network_policy.replace("ports: [{port: 80}]", "ports: [{port: 8443}]");
        assert!(of(&audit_yaml(&format!("{}{api}{elsewhere}", policy(web))), "NS184").is_empty());
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
