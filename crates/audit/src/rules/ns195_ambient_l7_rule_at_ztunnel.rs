use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::mesh::istio::{AuthorizationAction, PolicyTarget};
use netseg_model::mesh::MeshKind;

declare_rule! {
    /// ## What it does
    /// Reports an Istio AuthorizationPolicy that selects ambient workloads by `selector` (or by namespace) while
    /// its rules use attributes that only an HTTP proxy can read (methods, paths, hosts, request principals,
    /// headers, `remoteIpBlocks`, ...). Such a policy is enforced by ztunnel, which reads L4 only: an ALLOW rule with
    /// those attributes never matches, and a DENY rule denies the whole connection. A waypoint does not change
    /// that: only policies attached to it with `targetRefs` run there.
    ///
    /// ## Why it matters
    /// The policy means "GET only" or "not /admin" and does something else: an ALLOW policy blocks every client
    /// the author meant to admit (the app breaks), a DENY policy blocks the whole port.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: shoes-writer, namespace: default}   # default has istio.io/dataplane-mode=ambient
    /// spec:
    ///   selector: {matchLabels: {app: shoes}}
    ///   rules: [{to: [{operation: {methods: [POST]}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Deploy a waypoint for the namespace (`istioctl waypoint apply -n NS --enroll-namespace`) and attach the
    /// policy to it with `targetRefs` (the Service or the waypoint Gateway) instead of `selector`; keep the L4 part
    /// (principals, ports) in a selector policy if you want ztunnel to enforce it too.
    pub static RULE = NS195 "ambient-l7-rule-at-ztunnel" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    let istio = &cluster.mesh.istio;
    let root = &istio.config.root_namespace;
    let ambient: Vec<usize> = (0..cluster.workloads.len())
        .filter(|&w| ctx.dataplane(w).is_some_and(|plane| plane.mesh == Some(MeshKind::Istio) && plane.ambient))
        .collect();
    if ambient.is_empty() {
        return;
    }
    for policy in &istio.authorization_policies {
        if policy.dry_run
            || matches!(policy.target, PolicyTarget::TargetRefs(_))
            || !matches!(policy.action, AuthorizationAction::Allow | AuthorizationAction::Deny)
        {
            continue;
        }
        let mut fields: Vec<&str> = policy.rules.iter().flat_map(|r| r.ztunnel_unsupported_fields()).collect();
        fields.sort_unstable();
        fields.dedup();
        if fields.is_empty() {
            continue;
        }
        let selected: Vec<String> = ambient
            .iter()
            .map(|&w| &cluster.workloads[w])
            .filter(|w| w.pods.first().is_some_and(|pod| policy.applies_to(root, &w.id.namespace, &pod.facts.labels)))
            .map(|w| w.id.to_string())
            .collect();
        if selected.is_empty() {
            continue;
        }
        let effect = match policy.action {
            AuthorizationAction::Allow => "its ALLOW rules with them never match, so it denies the clients it names",
            _ => "its DENY rules deny the whole connection, not just the requests they describe",
        };
        let resource = Resource {
            kind: "AuthorizationPolicy".into(),
            namespace: Some(policy.namespace.clone()),
            name: policy.name.clone(),
        };
        out.push(
            Finding::new(&RULE, resource, Some(policy.location.clone()))
                .message(format!(
                    "AuthorizationPolicy {}/{} uses {} on ambient workloads, where ztunnel enforces L4 only: {effect}",
                    policy.namespace,
                    policy.name,
                    fields.join(", ")
                ))
                .evidence(format!("ambient workloads it selects: {}", selected.join(", ")))
                .remediation(
                    "attach the policy to a waypoint with targetRefs (istioctl waypoint apply -n NAMESPACE --enroll-namespace) instead of selector",
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const AMBIENT: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}\n";

    fn policy(action: &str, target: &str, operation: &str) -> String {
        format!("---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: redis-rule, namespace: shop}}\nspec:\n  action: {action}\n  {target}\n  rules: [{{to: [{{operation: {operation}}}]}}]\n")
    }

    #[test]
    fn an_l7_selector_policy_on_ambient_workloads_is_reported() {
        let text =
            format!("{FLAT}{AMBIENT}{}", policy("ALLOW", "selector: {matchLabels: {app: redis}}", "{methods: [GET]}"));
        let report = audit_yaml(&text);
        assert_eq!(names(&report, "NS195"), ["shop/redis-rule"]);
        assert!(of(&report, "NS195")[0].message.contains("never match"));
        let deny =
            format!("{FLAT}{AMBIENT}{}", policy("DENY", "selector: {matchLabels: {app: redis}}", "{paths: [/admin]}"));
        assert!(of(&audit_yaml(&deny), "NS195")[0].message.contains("whole connection"));
    }

    #[test]
    fn l4_rules_waypoint_policies_and_sidecars_pass() {
        let l4 = format!(
            "{FLAT}{AMBIENT}{}",
            policy("ALLOW", "selector: {matchLabels: {app: redis}}", "{ports: [\"6379\"]}")
        );
        assert!(names(&audit_yaml(&l4), "NS195").is_empty());
        let waypoint = format!(
            "{FLAT}{AMBIENT}{}",
            policy("ALLOW", "targetRefs: [{kind: Service, group: \"\", name: redis}]", "{methods: [GET]}")
        );
        assert!(names(&audit_yaml(&waypoint), "NS195").is_empty());
        let sidecar =
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
        let text =
            format!("{FLAT}{sidecar}{}", policy("ALLOW", "selector: {matchLabels: {app: redis}}", "{methods: [GET]}"));
        assert!(names(&audit_yaml(&text), "NS195").is_empty());
    }
}
