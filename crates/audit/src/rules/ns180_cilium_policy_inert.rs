use crate::{declare_rule, AuditContext, Finding, Resource};

declare_rule! {
    /// ## What it does
    /// Reports each CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy in a cluster whose CNI is not Cilium
    /// (detected from the input, or named with `--cni`).
    ///
    /// ## Why it matters
    /// The API server stores Cilium's policies wherever their CRDs are installed, but only Cilium's agent enforces
    /// them. Under Calico, flannel or any other CNI they change nothing: the isolation they describe does not
    /// exist, and netseg's answers leave them out.
    ///
    /// ## Example
    /// ```yaml
    /// # calico-node runs the network; this policy is inert.
    /// apiVersion: cilium.io/v2
    /// kind: CiliumNetworkPolicy
    /// metadata: {name: db, namespace: shop}
    /// spec:
    ///   endpointSelector: {matchLabels: {app: db}}
    ///   ingress: [{fromEndpoints: [{matchLabels: {app: api}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Write the segmentation in a language the CNI enforces (NetworkPolicy, or the CNI's own policies), or
    /// delete the Cilium policies so that nobody relies on them. If Cilium is the CNI, say so with `--cni cilium`.
    pub static RULE = NS180 "cilium-policy-inert" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if ctx.setup.cilium_mode.is_some() {
        return;
    }
    for policy in &ctx.cluster.cilium_policies {
        let resource = Resource {
            kind: policy.kind.as_str().into(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
        };
        out.push(
            Finding::new(&RULE, resource, Some(policy.location.clone()))
                .message(format!(
                    "{} is inert: the CNI ({}) does not enforce Cilium's policies",
                    policy.display_name(),
                    ctx.cni.names()
                ))
                .evidence(format!("{} rule(s) that netseg leaves out of every answer", policy.rules.len()))
                .remediation("express it as a NetworkPolicy or in the CNI's own policy language, or remove it"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use netseg_engine::NetworkChoice;

    const POLICY: &str = "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: db, namespace: shop}\nspec:\n  endpointSelector: {matchLabels: {app: db}}\n  ingress: [{}]\n";

    #[test]
    fn another_cni_makes_cilium_policies_inert() {
        let calico = NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() };
        let report = audit_yaml_choosing(&format!("{FLAT}{POLICY}"), &calico);
        assert_eq!(names(&report, "NS180"), ["shop/db"]);
    }

    #[test]
    fn cilium_or_no_cni_enforces_them() {
        let cilium = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        assert!(names(&audit_yaml_choosing(&format!("{FLAT}{POLICY}"), &cilium), "NS180").is_empty());
        assert!(names(&audit_yaml(&format!("{FLAT}{POLICY}")), "NS180").is_empty());
    }
}
