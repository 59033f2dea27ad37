use crate::{declare_rule, AuditContext, Finding, Resource};

declare_rule! {
    /// ## What it does
    /// Notes that the input shows no CNI, so netseg cannot tell whether the NetworkPolicies are enforced; it
    /// analyses them as enforced.
    ///
    /// ## Why it matters
    /// Whether policies mean anything depends on the CNI. Manifests of one application rarely include the CNI's
    /// DaemonSet, so this is informational: confirm the cluster's CNI enforces policies, or pass `--cni NAME`.
    ///
    /// ## Example
    /// ```yaml
    /// # An application's manifests only: no calico-node, cilium or kube-flannel DaemonSet.
    /// ```
    ///
    /// ## How to fix
    /// Pass `--cni calico` (or the plugin the cluster runs), or audit a dump that includes `kube-system`.
    pub static RULE = NS131 "cni-unknown" Info;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if ctx.cni.enforces().is_some() {
        return;
    }
    out.push(
        Finding::new(&RULE, Resource { kind: "Cluster".into(), namespace: None, name: "cluster".into() }, None)
            .message("no CNI in the input: the NetworkPolicies were analysed as enforced")
            .evidence(
                "no DaemonSet or Deployment of a known CNI (calico, cilium, flannel, weave, antrea, ...) was found",
            )
            .remediation("pass --cni NAME, or include the cluster's kube-system workloads in the input"),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn manifests_without_cni_are_noted() {
        assert_eq!(names(&audit_yaml(FLAT), "NS131"), ["cluster"]);
        let calico = format!("{FLAT}---\nkind: DaemonSet\nmetadata: {{name: calico-node, namespace: kube-system}}\nspec: {{template: {{spec: {{containers: [{{name: n, image: calico/node:v3}}]}}}}}}\n");
        assert!(names(&audit_yaml(&calico), "NS131").is_empty());
    }
}
