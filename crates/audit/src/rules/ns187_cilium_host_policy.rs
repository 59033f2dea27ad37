use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::cilium::CiliumSubject;
use netseg_model::Location;

declare_rule! {
    /// ## What it does
    /// Reports a CiliumClusterwideNetworkPolicy rule with a `nodeSelector` (a host policy), which netseg reads but
    /// does not evaluate: it selects no pod in netseg's answers.
    ///
    /// ## Why it matters
    /// A host policy governs the nodes themselves (traffic to and from the host's own processes, host-network pods
    /// included, where the agent enables host firewalling). With rules in a direction it makes the selected nodes
    /// default-deny there: it can cut the kubelet, node ports, or pods' traffic to the host, none of which netseg's
    /// answers then show.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumClusterwideNetworkPolicy
    /// metadata: {name: host-fw}
    /// spec:
    ///   nodeSelector: {matchLabels: {node-role.kubernetes.io/worker: ""}}
    ///   ingress: [{fromEntities: [cluster], toPorts: [{ports: [{port: "10250"}]}]}]
    /// ```
    ///
    /// ## How to fix
    /// Nothing to fix in the policy: check its effect on the nodes with Cilium's tools (`cilium-dbg endpoint list`
    /// shows the host endpoint's policy), and keep in mind that netseg's answers leave it out.
    pub static RULE = NS187 "cilium-host-policy" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    // Inert Cilium policies are NS180's finding.
    if ctx.setup.cilium_mode.is_none() {
        return;
    }
    for policy in &ctx.cluster.cilium_policies {
        for spec in policy.rules.iter().filter(|spec| matches!(spec.subject, CiliumSubject::Nodes(_))) {
            let CiliumSubject::Nodes(selector) = &spec.subject else { continue };
            let resource = Resource {
                kind: policy.kind.as_str().into(),
                namespace: policy.namespace.clone(),
                name: policy.name.clone(),
            };
            let location = Location { file: policy.location.file.clone(), line: spec.line };
            out.push(
                Finding::new(&RULE, resource, Some(location))
                    .message(format!(
                        "{} {} is a host policy (nodeSelector `{selector}`): netseg does not model the nodes as its \
                         subjects, so what it allows or denies at the hosts is not in the answers",
                        policy.display_name(),
                        spec.field
                    ))
                    .evidence(format!("{}.nodeSelector `{selector}`", spec.field))
                    .remediation("check its effect on the nodes with Cilium's own tools"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use netseg_engine::NetworkChoice;

    const HOST: &str = "---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: host-fw}
specs:
- endpointSelector: {}
  ingress: [{fromEntities: [cluster]}]
- nodeSelector: {matchLabels: {role: worker}}
  ingress: [{fromEntities: [cluster], toPorts: [{ports: [{port: '10250'}]}]}]
";

    #[test]
    fn a_host_policy_fails_at_its_spec() {
        let choice = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        let report = audit_yaml_choosing(&format!("{FLAT}{HOST}"), &choice);
        assert_eq!(names(&report, "NS187"), ["host-fw"]);
        let finding = of(&report, "NS187")[0];
        assert!(
            finding.message.contains("specs[1] is a host policy (nodeSelector `role=worker`)"),
            "{}",
            finding.message
        );
        assert_eq!(finding.location.as_ref().map(|l| l.line as usize), Some(FLAT.lines().count() + 8));
    }

    #[test]
    fn endpoint_policies_and_inert_ones_pass() {
        let choice = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        let endpoints = HOST.replace("- nodeSelector: {matchLabels: {role: worker}}", "- endpointSelector: {}");
        assert!(names(&audit_yaml_choosing(&format!("{FLAT}{endpoints}"), &choice), "NS187").is_empty());
        let calico = NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() };
        assert!(names(&audit_yaml_choosing(&format!("{FLAT}{HOST}"), &calico), "NS187").is_empty());
    }
}
