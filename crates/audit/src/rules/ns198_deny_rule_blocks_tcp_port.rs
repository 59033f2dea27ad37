use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::mesh::istio::{AuthorizationAction, PolicyTarget, PortProtocol, Rule};
use netseg_model::mesh::MeshKind;
use netseg_model::{Location, Protocol};
use std::collections::BTreeSet;

declare_rule! {
    /// ## What it does
    /// Reports a DENY rule of an Istio AuthorizationPolicy that tests HTTP-only attributes (methods, paths,
    /// hosts, request principals, `request.*` conditions) while it applies to a sidecar workload's port that a
    /// Service declares as TCP (`appProtocol`, or a port name such as `tcp-db`, `redis-`, `mongo-`). TCP traffic
    /// has no method or path, and Istio applies such a DENY rule without its HTTP-only fields, so on that port the
    /// rule denies every connection its other fields match. netseg's `can` applies the rule that way too. Ambient
    /// workloads are NS195's.
    ///
    /// ## Why it matters
    /// The author meant "no DELETE from outside the namespace" and got "nothing from outside the namespace" on the
    /// database port: the service breaks for the clients the policy meant to leave alone, and the usual fix under
    /// pressure (deleting the policy) drops the intended protection too.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: no-delete, namespace: shop}
    /// spec:
    ///   action: DENY
    ///   rules: [{to: [{operation: {methods: [DELETE]}}]}]   # also applies to redis's tcp-redis port
    /// ```
    ///
    /// ## How to fix
    /// Limit the rule to the HTTP ports with `to.operation.ports` (or select only the HTTP workloads), and write
    /// what the TCP port needs as a rule without HTTP-only fields.
    pub static RULE = NS198 "deny-rule-blocks-tcp-port" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    let istio = &cluster.mesh.istio;
    let root = &istio.config.root_namespace;
    let sidecars: Vec<usize> = (0..cluster.workloads.len())
        .filter(|&w| ctx.dataplane(w).is_some_and(|plane| plane.mesh == Some(MeshKind::Istio) && !plane.ambient))
        .collect();
    if sidecars.is_empty() {
        return;
    }
    // Each sidecar workload's captured ports that Services declare as TCP, with the declaring Service port.
    let tcp_ports: Vec<Vec<(u16, String)>> = sidecars.iter().map(|&w| declared_tcp_ports(ctx, w)).collect();
    for policy in &istio.authorization_policies {
        if policy.dry_run
            || policy.action != AuthorizationAction::Deny
            || matches!(policy.target, PolicyTarget::TargetRefs(_))
        {
            continue;
        }
        for (index, rule) in policy.rules.iter().enumerate() {
            let fields = rule.http_fields();
            if fields.is_empty() {
                continue;
            }
            let mut hit: Vec<String> = Vec::new();
            for (&w, ports) in sidecars.iter().zip(&tcp_ports) {
                let workload = &cluster.workloads[w];
                let Some(pod) = workload.pods.first() else { continue };
                if !policy.applies_to(root, &workload.id.namespace, &pod.facts.labels) {
                    continue;
                }
                for (port, declared_by) in ports {
                    if rule_reaches_port(rule, *port) {
                        hit.push(format!("{}:{port} ({declared_by})", workload.id));
                    }
                }
            }
            if hit.is_empty() {
                continue;
            }
            let resource = Resource {
                kind: "AuthorizationPolicy".into(),
                namespace: Some(policy.namespace.clone()),
                name: policy.name.clone(),
            };
            let location = if rule.line > 0 {
                Location { file: policy.location.file.clone(), line: rule.line }
            } else {
                policy.location.clone()
            };
            out.push(
                Finding::new(&RULE, resource, Some(location))
                    .message(format!(
                        "DENY rule {index} of AuthorizationPolicy {}/{} tests {}, which TCP traffic does not carry: on {} TCP port(s) Istio applies it without them, so it denies every connection there that its other fields match",
                        policy.namespace,
                        policy.name,
                        fields.join(", "),
                        hit.len()
                    ))
                    .evidence(format!("TCP ports it applies to: {}", hit.join(", ")))
                    .remediation(
                        "limit the rule to the HTTP ports with to.operation.ports, and restrict the TCP port with a rule that has no HTTP-only fields",
                    ),
            );
        }
    }
}

/// The workload's TCP ports that its proxy captures and that the Services reaching it declare as TCP (not HTTP,
/// not left to detection), each with the Service port that says so.
fn declared_tcp_ports(ctx: &AuditContext<'_>, workload: usize) -> Vec<(u16, String)> {
    let cluster = ctx.cluster;
    let w = &cluster.workloads[workload];
    let (Some(pod), Some(plane)) = (w.pods.first(), ctx.dataplane(workload)) else { return Vec::new() };
    let services: Vec<_> =
        cluster.services.iter().filter(|s| s.namespace == w.id.namespace && s.selects(&pod.facts.labels)).collect();
    let mut ports = BTreeSet::new();
    for service in &services {
        for service_port in &service.ports {
            if service_port.protocol != Protocol::Tcp {
                continue;
            }
            let Some(target) = service_port.target_on(&pod.facts) else { continue };
            if !plane.captures(target)
                || PortProtocol::of_pod_port(services.iter().copied(), &pod.facts, target) != PortProtocol::Tcp
            {
                continue;
            }
            let name = service_port.name.clone().unwrap_or_else(|| service_port.port.to_string());
            ports.insert((target, format!("Service {}/{} port {name}", service.namespace, service.name)));
        }
    }
    // One Service port is enough to say why.
    let mut seen = BTreeSet::new();
    ports.into_iter().filter(|(port, _)| seen.insert(*port)).collect()
}

/// Whether some operation of the rule (there being none means any) lets it apply on `port`.
fn rule_reaches_port(rule: &Rule, port: u16) -> bool {
    rule.to.is_empty()
        || rule.to.iter().any(|op| (op.ports.is_empty() || op.ports.contains(&port)) && !op.not_ports.contains(&port))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const SIDECARS: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";

    fn services(redis_port_name: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: redis, namespace: shop}}\nspec: {{selector: {{app: redis}}, ports: [{{name: {redis_port_name}, port: 6379}}]}}\n\
             ---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec: {{selector: {{app: web}}, ports: [{{name: http-web, port: 8080}}]}}\n"
        )
    }

    fn policy(action: &str, selector: &str, operation: &str) -> String {
        format!(
            "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: no-delete, namespace: shop}}\nspec:\n  action: {action}\n  {selector}\n  rules:\n  - to: [{{operation: {operation}}}]\n"
        )
    }

    #[test]
    fn a_deny_rule_on_methods_over_a_tcp_port_is_reported() {
        let text = format!("{FLAT}{SIDECARS}{}{}", services("tcp-redis"), policy("DENY", "", "{methods: [DELETE]}"));
        let report = audit_yaml(&text);
        assert_eq!(names(&report, "NS198"), ["shop/no-delete"]);
        let finding = of(&report, "NS198")[0];
        assert!(finding.message.contains("DENY rule 0"), "{}", finding.message);
        assert!(finding.message.contains("tests methods"), "{}", finding.message);
        // Only redis's port is TCP; web's is HTTP, where the rule means what it says.
        assert_eq!(
            finding.evidence,
            "TCP ports it applies to: shop/redis[Deployment]:6379 (Service shop/redis port tcp-redis)"
        );
        assert_eq!(finding.location.as_ref().map(|l| l.line), Some(text.lines().count() as u32));
        // appProtocol says TCP as well as the name does.
        let app_protocol = format!(
            "{FLAT}{SIDECARS}---\napiVersion: v1\nkind: Service\nmetadata: {{name: redis, namespace: shop}}\nspec: {{selector: {{app: redis}}, ports: [{{name: db, appProtocol: redis, port: 6379}}]}}\n{}",
            policy("DENY", "selector: {matchLabels: {app: redis}}", "{paths: [/admin]}")
        );
        assert_eq!(names(&audit_yaml(&app_protocol), "NS198"), ["shop/no-delete"]);
    }

    #[test]
    fn http_ports_allow_rules_other_ports_and_undeclared_protocols_pass() {
        let cases = [
            // The port is HTTP: the rule means what it says.
            format!("{FLAT}{SIDECARS}{}{}", services("http-redis"), policy("DENY", "", "{methods: [DELETE]}")),
            // No protocol declared: detected per connection, not judged.
            format!("{FLAT}{SIDECARS}{}{}", services("db"), policy("DENY", "", "{methods: [DELETE]}")),
            // ALLOW rules with HTTP fields never match on TCP: another problem, not this one.
            format!("{FLAT}{SIDECARS}{}{}", services("tcp-redis"), policy("ALLOW", "", "{methods: [GET]}")),
            // The rule is limited to the HTTP port.
            format!(
                "{FLAT}{SIDECARS}{}{}",
                services("tcp-redis"),
                policy("DENY", "", "{methods: [DELETE], ports: [\"8080\"]}")
            ),
            // Only the web workload is selected.
            format!(
                "{FLAT}{SIDECARS}{}{}",
                services("tcp-redis"),
                policy("DENY", "selector: {matchLabels: {app: web}}", "{methods: [DELETE]}")
            ),
            // No sidecar: nothing enforces it (NS190's business).
            format!("{FLAT}{}{}", services("tcp-redis"), policy("DENY", "", "{methods: [DELETE]}")),
        ];
        for text in cases {
            assert!(names(&audit_yaml(&text), "NS198").is_empty(), "{text}");
        }
    }

    #[test]
    fn a_port_excluded_from_the_sidecar_is_not_judged() {
        let excluded = FLAT.replace(
            "metadata: {labels: {app: redis}}",
            "metadata: {labels: {app: redis}, annotations: {traffic.sidecar.istio.io/excludeInboundPorts: \"6379\"}}",
        );
        let text =
            format!("{excluded}{SIDECARS}{}{}", services("tcp-redis"), policy("DENY", "", "{methods: [DELETE]}"));
        assert!(names(&audit_yaml(&text), "NS198").is_empty());
    }
}
