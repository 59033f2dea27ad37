use super::ns194_proxy_bypass_port::mesh_protection;
use crate::{declare_rule, AuditContext, Finding};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a workload that a mesh policy protects (an Istio ALLOW or CUSTOM AuthorizationPolicy, a Linkerd
    /// Server or a `deny` default inbound policy, Consul's default intention deny or a ServiceIntentions about its
    /// service that denies some client) while no NetworkPolicy (or other network tier) isolates its ingress: the
    /// mesh is the only control in front of it.
    ///
    /// ## Why it matters
    /// The mesh decides inside the pod, at a proxy that the pod's own traffic rules send connections to. Anything
    /// that gets around the proxy (a port excluded from capture, a pod with NET_ADMIN, a node-level client, a
    /// sidecar that is not ready yet at start-up, a mesh upgrade that drops injection) meets an open network.
    /// Defence in depth, as the Kubernetes and Istio security guides recommend, pairs mesh authorization with
    /// NetworkPolicies for the same flows.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: redis-clients, namespace: shop}
    /// spec:
    ///   selector: {matchLabels: {app: redis}}
    ///   rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]
    /// # ... and no NetworkPolicy selects app: redis
    /// ```
    ///
    /// ## How to fix
    /// Add a NetworkPolicy for the same clients (`netseg generate` writes one from the declared flows).
    pub static RULE = NS197 "mesh-only-control" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    for index in ctx.governed_workloads() {
        let workload = &cluster.workloads[index];
        let Some(plane) = ctx.dataplane(index) else { continue };
        let Some(protection) = mesh_protection(cluster, workload, plane) else { continue };
        if ctx.isolated(index, Direction::Ingress) {
            continue;
        }
        let (resource, location) = ctx.workload_resource(index);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} is protected by {protection} only: no network policy isolates its ingress, so a client that bypasses the proxy meets an open network",
                    workload.id
                ))
                .evidence(plane.reason.clone())
                .remediation("add a NetworkPolicy that admits the same clients (netseg generate writes one)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const INJECTED: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
    const POLICY: &str = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: redis-clients, namespace: shop}\nspec:\n  selector: {matchLabels: {app: redis}}\n  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]\n";

    #[test]
    fn a_mesh_policy_with_no_network_policy_under_it_is_reported() {
        let report = audit_yaml(&format!("{FLAT}{INJECTED}{POLICY}"));
        assert_eq!(names(&report, "NS197"), ["shop/redis"]);
    }

    #[test]
    fn a_network_policy_under_it_passes() {
        let report = audit_yaml(&format!("{SEGMENTED}{INJECTED}{POLICY}"));
        assert!(names(&report, "NS197").is_empty());
    }

    #[test]
    fn a_consul_service_protected_by_a_denying_intention_alone_is_reported() {
        let consul = "---\nkind: Deployment\nmetadata: {name: redis, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: redis}, annotations: {consul.hashicorp.com/connect-inject: \"true\"}}\n    spec: {containers: [{name: redis, ports: [{containerPort: 6379}]}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: redis, namespace: shop}\nspec: {selector: {app: redis}, ports: [{port: 6379}]}\n";
        let intention = "---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: redis, namespace: shop}\nspec: {destination: {name: redis}, sources: [{name: web, action: allow}, {name: \"*\", action: deny}]}\n";
        let report = audit_yaml(&format!("{consul}{intention}"));
        assert_eq!(names(&report, "NS197"), ["shop/redis"]);
        assert!(of(&report, "NS197")[0].message.contains("ServiceIntentions shop/redis"));
        // Under a NetworkPolicy too, it passes.
        let isolated = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: redis, namespace: shop}\nspec: {podSelector: {matchLabels: {app: redis}}, policyTypes: [Ingress]}\n";
        assert!(names(&audit_yaml(&format!("{consul}{intention}{isolated}")), "NS197").is_empty());
    }
}
