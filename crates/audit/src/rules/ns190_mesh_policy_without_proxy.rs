use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::mesh::istio::PolicyTarget;
use netseg_model::mesh::{dataplane, MeshKind};
use netseg_model::Location;

declare_rule! {
    /// ## What it does
    /// Reports an Istio AuthorizationPolicy whose `selector` selects workloads that have no Istio proxy (not
    /// injected, opted out, on the host network), and a Linkerd Server whose `podSelector` selects workloads
    /// without a Linkerd proxy.
    ///
    /// ## Why it matters
    /// A mesh policy is enforced by the proxy in front of the pod. A pod outside the mesh has none, so the policy
    /// protects nothing there: every client the network lets through reaches it, whatever the policy says. This
    /// is usually a namespace that lost its injection label, or a pod that opted out.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: shoes-writer, namespace: default}   # default has no istio-injection label
    /// spec:
    ///   selector: {matchLabels: {app: shoes}}
    ///   rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/inventory-sa]}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Put the workloads in the mesh (`istio-injection=enabled` or `linkerd.io/inject: enabled` on the namespace,
    /// then restart them), or protect them with a NetworkPolicy instead.
    pub static RULE = NS190 "mesh-policy-without-proxy" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    // The workloads whose pods a namespace-and-labels test selects, with those lacking the mesh's proxy.
    let outside = |mesh: MeshKind, selects: &dyn Fn(&str, &netseg_model::Labels) -> bool| -> (usize, Vec<String>) {
        let mut selected = 0;
        let mut without = Vec::new();
        for workload in &cluster.workloads {
            let namespace = cluster.namespace(&workload.id.namespace);
            let pods: Vec<_> =
                workload.pods.iter().filter(|p| selects(&workload.id.namespace, &p.facts.labels)).collect();
            if pods.is_empty() {
                continue;
            }
            selected += 1;
            if let Some(pod) = pods.iter().find(|p| dataplane(&p.facts, namespace).mesh != Some(mesh)) {
                without.push(format!("{} ({})", workload.id, dataplane(&pod.facts, namespace).reason));
            }
        }
        (selected, without)
    };
    let root = &cluster.mesh.istio.config.root_namespace;
    for policy in &cluster.mesh.istio.authorization_policies {
        let PolicyTarget::Selector(labels) = &policy.target else { continue };
        if labels.is_empty() || policy.dry_run {
            continue;
        }
        let selects = |namespace: &str, pod: &netseg_model::Labels| {
            (policy.namespace == namespace || policy.namespace == *root)
                && labels.iter().all(|(k, v)| pod.get(k) == Some(v))
        };
        let (_, without) = outside(MeshKind::Istio, &selects);
        if !without.is_empty() {
            report(out, "AuthorizationPolicy", &policy.namespace, &policy.name, &policy.location, "Istio", &without);
        }
    }
    for server in &cluster.mesh.linkerd.servers {
        let Some(selector) = &server.pod_selector else { continue };
        let selects =
            |namespace: &str, pod: &netseg_model::Labels| server.namespace == namespace && selector.matches(pod);
        let (_, without) = outside(MeshKind::Linkerd, &selects);
        if !without.is_empty() {
            report(out, "Server", &server.namespace, &server.name, &server.location, "Linkerd", &without);
        }
    }
}

fn report(
    out: &mut Vec<Finding>,
    kind: &str,
    namespace: &str,
    name: &str,
    location: &Location,
    mesh: &str,
    without: &[String],
) {
    let resource = Resource { kind: kind.into(), namespace: Some(namespace.into()), name: name.into() };
    out.push(
        Finding::new(&RULE, resource, Some(location.clone()))
            .message(format!(
                "{kind} {namespace}/{name} selects workloads without a {mesh} proxy: it protects nothing there"
            ))
            .evidence(format!("no {mesh} proxy: {}", without.join(", ")))
            .remediation(format!("inject the {mesh} proxy into these workloads, or protect them with a NetworkPolicy")),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const POLICY: &str = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: redis-clients, namespace: shop}\nspec:\n  selector: {matchLabels: {app: redis}}\n  rules: [{from: [{source: {namespaces: [shop]}}]}]\n";

    #[test]
    fn a_policy_on_pods_outside_the_mesh_is_reported() {
        let report = audit_yaml(&format!("{FLAT}{POLICY}"));
        assert_eq!(names(&report, "NS190"), ["shop/redis-clients"]);
        let finding = &of(&report, "NS190")[0];
        assert!(finding.evidence.contains("shop/redis[Deployment]"), "{}", finding.evidence);
        assert_eq!(finding.location.as_ref().map(|l| l.line as usize), Some(FLAT.lines().count() + 2));
    }

    #[test]
    fn a_policy_on_injected_pods_passes() {
        let namespace =
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
        let report = audit_yaml(&format!("{FLAT}{namespace}{POLICY}"));
        assert!(names(&report, "NS190").is_empty());
    }
}
