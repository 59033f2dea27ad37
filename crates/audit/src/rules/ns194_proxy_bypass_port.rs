use crate::{declare_rule, AuditContext, Finding};
use netseg_model::mesh::consul::{service_names as consul_services, IntentionAction};
use netseg_model::mesh::linkerd::DefaultPolicy;
use netseg_model::mesh::{Dataplane, MeshKind};
use netseg_model::{Cluster, Workload};

declare_rule! {
    /// ## What it does
    /// Reports a workload that a mesh policy protects (an Istio ALLOW or CUSTOM AuthorizationPolicy applies to it;
    /// a Linkerd Server selects it, or its default inbound policy is `deny`) while some of its inbound ports are
    /// excluded from the proxy: `traffic.sidecar.istio.io/excludeInboundPorts` (or an `includeInboundPorts`
    /// that leaves them out), Linkerd's `config.linkerd.io/skip-inbound-ports`, Consul's
    /// `consul.hashicorp.com/transparent-proxy-exclude-inbound-ports` (or `transparent-proxy: "false"`, which leaves
    /// every application port open). A Consul workload is protected when the default intention is deny, or when an
    /// intention about one of its services (its `connect-service` annotation, else the Services that select it,
    /// or `*`) denies some client or request.
    ///
    /// ## Why it matters
    /// Traffic to an excluded port never meets the proxy, so no mesh policy applies there: every client the
    /// network lets through reaches the port, with no identity check. Ports are usually excluded for a metrics
    /// scraper or a database protocol the proxy broke, and the policy's author does not know.
    ///
    /// ## Example
    /// ```yaml
    /// kind: Deployment
    /// metadata: {name: redis, namespace: shop}
    /// spec:
    ///   template:
    ///     metadata:
    ///       labels: {app: redis}
    ///       annotations: {traffic.sidecar.istio.io/excludeInboundPorts: "6379"}
    /// # ... with an AuthorizationPolicy that allows only the web principal to reach app: redis
    /// ```
    ///
    /// ## How to fix
    /// Remove the exclusion (and fix the protocol detection that made it necessary: name the Service port
    /// `tcp-redis`), or restrict the excluded port with a NetworkPolicy.
    pub static RULE = NS194 "proxy-bypass-port" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    for (index, workload) in cluster.workloads.iter().enumerate() {
        let (Some(pod), Some(plane)) = (workload.pods.first(), ctx.dataplane(index)) else { continue };
        if plane.bypassed.is_empty() {
            continue;
        }
        let Some(protection) = mesh_protection(cluster, workload, plane) else { continue };
        // The ports the pod declares that bypass the proxy; every excluded range when it declares none.
        let declared: Vec<u16> = pod.facts.ports.iter().map(|p| p.port).filter(|&p| !plane.captures(p)).collect();
        let ports = if declared.is_empty() && pod.facts.ports.is_empty() {
            plane.bypassed.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect()
        } else {
            declared.iter().map(u16::to_string).collect::<Vec<_>>()
        };
        if ports.is_empty() {
            continue;
        }
        let (resource, location) = ctx.workload_resource(index);
        let mesh = plane.mesh.map(MeshKind::as_str).unwrap_or_default();
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} is protected by {protection}, but inbound port(s) {} bypass the {mesh} proxy: no mesh policy applies there",
                    workload.id,
                    ports.join(", ")
                ))
                .evidence(plane.reason.clone())
                .remediation("remove the port exclusion, or restrict the excluded port(s) with a NetworkPolicy"),
        );
    }
}

/// The mesh policy that restricts who reaches the workload at its proxy, in words: an Istio ALLOW or CUSTOM
/// AuthorizationPolicy that applies to it, a Linkerd Server that selects it, or Linkerd's `deny` default; Consul's
/// default intention deny, or a ServiceIntentions about one of the workload's Consul services that denies some
/// client (under the default allow, an intention that only allows refuses no one).
pub(super) fn mesh_protection(cluster: &Cluster, workload: &Workload, plane: &Dataplane) -> Option<String> {
    let pod = workload.pods.first()?;
    let namespace_name = workload.id.namespace.as_str();
    let (istio, linkerd) = (&cluster.mesh.istio, &cluster.mesh.linkerd);
    match plane.mesh {
        Some(MeshKind::Istio) => istio
            .authorization_policies
            .iter()
            .filter(|p| p.restricts_clients())
            .find(|p| p.applies_to(&istio.config.root_namespace, namespace_name, &pod.facts.labels))
            .map(|p| format!("AuthorizationPolicy {}/{}", p.namespace, p.name)),
        Some(MeshKind::Linkerd) => linkerd
            .servers
            .iter()
            .find(|s| s.selects(namespace_name, &pod.facts.labels))
            .map(|s| format!("Server {}/{}", s.namespace, s.name))
            .or_else(|| {
                let namespace = cluster.namespace(namespace_name);
                let (default, source) = linkerd.config.default_policy_for(&pod.facts.annotations, namespace);
                (default == DefaultPolicy::Deny).then(|| format!("the default inbound policy deny ({source})"))
            }),
        Some(MeshKind::Consul) => {
            let consul = &cluster.mesh.consul;
            if consul.config.default_intention == IntentionAction::Deny {
                return Some(format!("Consul's default intention deny ({})", consul.config.source));
            }
            let selecting =
                cluster.services.iter().filter(|s| s.namespace == namespace_name && s.selects(&pod.facts.labels));
            let services = consul_services(&pod.facts.annotations, selecting);
            consul
                .intentions
                .iter()
                .find(|i| i.covers(&services) && i.denies_some())
                .map(|i| format!("ServiceIntentions {}/{} (destination {})", i.namespace, i.name, i.destination))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const INJECTED: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
    const POLICY: &str = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: redis-clients, namespace: shop}\nspec:\n  selector: {matchLabels: {app: redis}}\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]\n";

    fn redis_excluding(ports: &str) -> String {
        format!("---\nkind: Deployment\nmetadata: {{name: redis, namespace: shop}}\nspec:\n  template:\n    metadata:\n      labels: {{app: redis}}\n      annotations: {{traffic.sidecar.istio.io/excludeInboundPorts: \"{ports}\"}}\n    spec: {{containers: [{{name: redis, ports: [{{containerPort: 6379}}, {{containerPort: 9121}}]}}]}}\n")
    }

    #[test]
    fn an_excluded_port_on_a_protected_workload_is_reported() {
        let report = audit_yaml(&format!("{INJECTED}{POLICY}{}", redis_excluding("6379")));
        assert_eq!(names(&report, "NS194"), ["shop/redis"]);
        let finding = &of(&report, "NS194")[0];
        assert!(finding.message.contains("port(s) 6379 bypass"), "{}", finding.message);
        assert!(finding.message.contains("redis-clients"), "{}", finding.message);
    }

    #[test]
    fn no_exclusion_or_no_protection_passes() {
        let plain = "---\nkind: Deployment\nmetadata: {name: redis, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: redis}}\n    spec: {containers: [{name: redis, ports: [{containerPort: 6379}]}]}\n";
        assert!(names(&audit_yaml(&format!("{INJECTED}{POLICY}{plain}")), "NS194").is_empty());
        assert!(names(&audit_yaml(&format!("{INJECTED}{}", redis_excluding("6379"))), "NS194").is_empty());
    }

    fn consul_redis(annotations: &str) -> String {
        format!("---\nkind: Deployment\nmetadata: {{name: redis, namespace: shop}}\nspec:\n  template:\n    metadata:\n      labels: {{app: redis}}\n      annotations: {{consul.hashicorp.com/connect-inject: \"true\", {annotations}}}\n    spec: {{containers: [{{name: redis, ports: [{{containerPort: 6379}}, {{containerPort: 9121}}]}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: redis, namespace: shop}}\nspec: {{selector: {{app: redis}}, ports: [{{port: 6379}}]}}\n")
    }

    const CONSUL_DENY_ALL: &str = "---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: redis, namespace: shop}\nspec: {destination: {name: redis}, sources: [{name: web, action: allow}, {name: \"*\", action: deny}]}\n";

    #[test]
    fn a_consul_excluded_port_under_a_denying_intention_is_reported() {
        let excluded = consul_redis("consul.hashicorp.com/transparent-proxy-exclude-inbound-ports: \"6379\"");
        let report = audit_yaml(&format!("{excluded}{CONSUL_DENY_ALL}"));
        assert_eq!(names(&report, "NS194"), ["shop/redis"]);
        let message = &of(&report, "NS194")[0].message;
        assert!(message.contains("ServiceIntentions shop/redis"), "{message}");
        assert!(message.contains("port(s) 6379 bypass the Consul proxy"), "{message}");
        // The default intention deny protects every Consul workload, with no intention at all.
        let server_config = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: consul-server-config, namespace: consul}\ndata: {server.json: \"{\\\"acl\\\": {\\\"enabled\\\": true, \\\"default_policy\\\": \\\"deny\\\"}}\"}\n";
        let report = audit_yaml(&format!("{excluded}{server_config}"));
        assert_eq!(names(&report, "NS194"), ["shop/redis"]);
        assert!(of(&report, "NS194")[0].message.contains("default intention deny"));
    }

    #[test]
    fn a_consul_exclusion_with_only_allowing_intentions_under_the_default_allow_passes() {
        let excluded = consul_redis("consul.hashicorp.com/transparent-proxy-exclude-inbound-ports: \"6379\"");
        let allow_only = "---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: redis, namespace: shop}\nspec: {destination: {name: redis}, sources: [{name: web, action: allow}]}\n";
        assert!(names(&audit_yaml(&format!("{excluded}{allow_only}")), "NS194").is_empty());
        // An intention about another service does not protect redis.
        let other = CONSUL_DENY_ALL.replace("destination: {name: redis}", "destination: {name: web}");
        assert!(names(&audit_yaml(&format!("{excluded}{other}")), "NS194").is_empty());
    }

    #[test]
    fn an_exclusion_of_a_port_the_pod_does_not_serve_passes() {
        assert!(names(&audit_yaml(&format!("{INJECTED}{POLICY}{}", redis_excluding("15090"))), "NS194").is_empty());
    }
}
