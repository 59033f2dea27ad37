use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::PolicyEnforcement;

declare_rule! {
    /// ## What it does
    /// Reports a Cilium agent configured with policy enforcement mode `never` (`enable-policy: never` in the
    /// `cilium-config` ConfigMap, or `--policy-enforcement never`).
    ///
    /// ## Why it matters
    /// With `never`, Cilium enforces no policy at all: NetworkPolicies, CiliumNetworkPolicies and
    /// CiliumClusterwideNetworkPolicies are all inert and every pod reaches every other. netseg's reachability
    /// findings describe that flat network (`--assume-enforced` shows what the policies declare).
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: cilium-config, namespace: kube-system}
    /// data: {enable-policy: never}
    /// ```
    ///
    /// ## How to fix
    /// Set `enable-policy` to `default` (or `always`, which makes every pod default-deny) and restart the agents.
    pub static RULE = NS181 "cilium-enforcement-never" Critical;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if ctx.setup.cilium_mode != Some(PolicyEnforcement::Never) {
        return;
    }
    let (resource, location) = match &ctx.cluster.cilium_config {
        Some(config) if config.enforcement == Some(PolicyEnforcement::Never) => (
            Resource {
                kind: "ConfigMap".into(),
                namespace: Some(config.namespace.clone()),
                name: "cilium-config".into(),
            },
            Some(config.location.clone()),
        ),
        _ => (Resource { kind: "Cluster".into(), namespace: None, name: "cluster".into() }, None),
    };
    let policies = ctx.cluster.policies.len() + ctx.cluster.cilium_policies.len();
    out.push(
        Finding::new(&RULE, resource, location)
            .message(format!(
                "Cilium's policy enforcement mode is `never`: the {policies} policies in the input are inert"
            ))
            .evidence("enable-policy: never".to_string())
            .remediation("set enable-policy to default (or always) in cilium-config"),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const CONFIG: &str =
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\n";

    #[test]
    fn never_fails_and_flattens_the_network() {
        let report = audit_yaml(&format!("{SEGMENTED}{CONFIG}data: {{enable-policy: never}}\n"));
        assert_eq!(names(&report, "NS181"), ["kube-system/cilium-config"]);
        assert!(!report.enforced);
    }

    #[test]
    fn default_passes() {
        let report = audit_yaml(&format!("{SEGMENTED}{CONFIG}data: {{enable-policy: default}}\n"));
        assert!(names(&report, "NS181").is_empty());
        assert!(report.enforced);
    }
}
