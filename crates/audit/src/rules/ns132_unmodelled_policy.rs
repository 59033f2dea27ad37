use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::{DiagnosticCode, Location};

declare_rule! {
    /// ## What it does
    /// Reports policies of kinds netseg does not analyse yet: Antrea policies and multi-network policies.
    /// (Istio, Linkerd and Consul authorization is analysed: see docs/mesh.md; CiliumNetworkPolicy and
    /// CiliumClusterwideNetworkPolicy too: see docs/cilium.md; Calico's policies where Calico runs: see
    /// docs/calico.md.)
    ///
    /// ## Why it matters
    /// These policies do restrict traffic in the cluster, but netseg's answers leave them out. Every reachability
    /// finding, `reach`, `can` and `blast-radius` then shows the connectivity that the NetworkPolicies alone allow,
    /// which may be more than the cluster really allows. The findings stay on the safe side (nothing reachable is
    /// hidden), but some of them may be closed by these policies: review them with that in mind.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: crd.antrea.io/v1beta1
    /// kind: NetworkPolicy
    /// metadata: {name: database, namespace: shop}
    /// spec:
    ///   appliedTo: [{podSelector: {matchLabels: {app: database}}}]
    ///   ingress: [{action: Allow, from: [{podSelector: {matchLabels: {app: summary}}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Nothing is wrong with the policy itself. Where you can, express the same segmentation as a Kubernetes
    /// NetworkPolicy (or an AdminNetworkPolicy), which every conformant CNI enforces and netseg analyses; otherwise
    /// suppress this finding with `netseg.io/ignore: NS132` on the object once you have checked its effect.
    pub static RULE = NS132 "unmodelled-policy" Info;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for diagnostic in ctx.diagnostics.iter().filter(|d| d.code == DiagnosticCode::UnmodelledPolicy) {
        let Some(object) = &diagnostic.object else { continue };
        let resource =
            Resource { kind: object.kind.clone(), namespace: object.namespace.clone(), name: object.name.clone() };
        let location = Some(Location { file: diagnostic.file.clone(), line: diagnostic.line.unwrap_or(1) });
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("{object} is not analysed: the findings ignore what it restricts"))
                .evidence(diagnostic.message.clone())
                .remediation(
                    "check the reachability findings against this policy by hand, or express it as a NetworkPolicy",
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn calico_and_cilium_policies_are_analysed() {
        let text = format!(
            "{FLAT}---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: db}}\nspec: {{selector: app == 'redis'}}\n---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: rule1, namespace: shop}}\nspec: {{endpointSelector: {{}}, ingress: [{{}}]}}\n"
        );
        let report = audit_yaml(&text);
        assert!(names(&report, "NS132").is_empty(), "{:?}", names(&report, "NS132"));
    }

    #[test]
    fn mesh_authorization_is_analysed_and_not_reported() {
        let text = format!(
            "{FLAT}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: deny-all, namespace: shop}}\nspec: {{}}\n---\napiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {{name: web, namespace: shop}}\nspec: {{podSelector: {{}}, port: 80}}\n---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {{name: web, namespace: shop}}\nspec: {{destination: {{name: web}}, sources: [{{name: api, action: allow}}]}}\n"
        );
        assert!(names(&audit_yaml(&text), "NS132").is_empty());
    }

    #[test]
    fn kubernetes_network_policies_and_other_kinds_pass() {
        let text = format!("{SEGMENTED}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: shop}}\n");
        assert!(names(&audit_yaml(&text), "NS132").is_empty());
    }
}
