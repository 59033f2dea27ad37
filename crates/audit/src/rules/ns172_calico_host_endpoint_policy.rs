use crate::{declare_rule, AuditContext, Finding, Resource};

declare_rule! {
    /// ## What it does
    /// Reports a Calico policy with `preDNAT`, `doNotTrack` or `applyOnForward`, which netseg reads but does not
    /// evaluate where it takes effect: on host endpoints (a node's interfaces).
    ///
    /// ## Why it matters
    /// Calico renders pre-DNAT and untracked policies only for host endpoints, never for a pod, whatever their
    /// selector matches: a `preDNAT` policy with `selector: all()` does not govern pod-to-pod traffic, though it
    /// reads as if it did. Where a host endpoint exists (HostEndpoint objects, or Calico's automatic ones), such a
    /// policy decides traffic entering the node before anything else, NodePort and external traffic to pods
    /// included, and `applyOnForward` makes a policy also decide traffic forwarded through the node. netseg
    /// answers for pods and addresses, not for a node's interfaces, so these decisions are not in its answers.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: projectcalico.org/v3
    /// kind: GlobalNetworkPolicy
    /// metadata: {name: nodeport-allowlist}
    /// spec:
    ///   selector: has(kubernetes-host)
    ///   preDNAT: true
    ///   applyOnForward: true
    ///   ingress: [{action: Deny, destination: {ports: [30000:32767]}}]
    /// ```
    ///
    /// ## How to fix
    /// Nothing to fix in the policy: check what it does at the nodes with Calico's own tools. To restrict pods,
    /// write a normal policy (without `preDNAT` and `doNotTrack`) that selects them.
    pub static RULE = NS172 "calico-host-endpoint-policy" Low;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.effective.calico() {
        return;
    }
    let cluster = ctx.cluster;
    for policy in cluster.calico.policies.iter().filter(|p| p.enforced() && p.special_processing()) {
        let mut flags = Vec::new();
        for (set, flag) in [
            (policy.pre_dnat, "preDNAT"),
            (policy.do_not_track, "doNotTrack"),
            (policy.apply_on_forward, "applyOnForward"),
        ] {
            if set {
                flags.push(flag);
            }
        }
        let what = if policy.host_endpoints_only() {
            "Calico applies it only to host endpoints (never to a pod, whatever its selector matches), and netseg \
             does not evaluate host endpoints: what it decides for traffic entering or leaving the nodes, NodePort \
             and external traffic to pods included, is not in netseg's answers"
        } else {
            "netseg evaluates it for the pods it selects, but not for the traffic it also decides at host \
             endpoints (forwarded through the nodes)"
        };
        let host_endpoints = cluster.calico.host_endpoints.len();
        let resource = Resource {
            kind: policy.kind.as_str().into(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
        };
        out.push(
            Finding::new(&RULE, resource, Some(policy.location.clone()))
                .message(format!("{} is {}: {what}", policy.display_name(), flags.join(", ")))
                .evidence(format!(
                    "{} set; {host_endpoints} HostEndpoint object(s) in the input (Calico may also create them \
                     automatically)",
                    flags.join(", ")
                ))
                .remediation(
                    "check its effect at the nodes with Calico's own tools; to restrict pods, write a normal policy \
                     that selects them",
                ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use netseg_engine::NetworkChoice;

    fn policy(flags: &str) -> String {
        format!(
            "{FLAT}---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: edge}}\nspec:\n  selector: all()\n{flags}  types: [Ingress]\n  ingress: [{{action: Deny}}]\n"
        )
    }

    fn calico() -> NetworkChoice {
        NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() }
    }

    #[test]
    fn pre_dnat_and_untracked_policies_fail_and_do_not_cut_pods() {
        let report = audit_yaml_choosing(&policy("  preDNAT: true\n  applyOnForward: true\n"), &calico());
        assert_eq!(names(&report, "NS172"), ["edge"]);
        let finding = of(&report, "NS172")[0];
        assert!(finding.message.contains("preDNAT, applyOnForward") && finding.message.contains("only to host"));
        // The Deny of `all()` would cut web → redis if it applied to pods; as a pre-DNAT policy it does not.
        let open = with_context(&policy("  preDNAT: true\n  applyOnForward: true\n"), |ctx| {
            let pod = |name: &str| {
                let workload = ctx.cluster.workloads.iter().position(|w| w.id.name == name).expect("workload");
                netseg_engine::Endpoint::Pod { workload, pod: 0 }
            };
            ctx.effective.calico() && ctx.effective.allowed(pod("web"), pod("redis")).is_all()
        });
        assert!(open, "a pre-DNAT policy does not govern pods");
        let normal = with_context(&policy(""), |ctx| {
            let web = ctx.cluster.workloads.iter().position(|w| w.id.name == "web").expect("web");
            let redis = ctx.cluster.workloads.iter().position(|w| w.id.name == "redis").expect("redis");
            ctx.effective
                .allowed(
                    netseg_engine::Endpoint::Pod { workload: web, pod: 0 },
                    netseg_engine::Endpoint::Pod { workload: redis, pod: 0 },
                )
                .is_empty()
        });
        assert!(normal, "the same policy without preDNAT denies");
        let untracked = audit_yaml_choosing(&policy("  doNotTrack: true\n  applyOnForward: true\n"), &calico());
        assert_eq!(names(&untracked, "NS172"), ["edge"]);
        let forward = audit_yaml_choosing(&policy("  applyOnForward: true\n"), &calico());
        assert!(of(&forward, "NS172")[0].message.contains("forwarded through the nodes"));
    }

    #[test]
    fn a_normal_policy_or_another_cni_passes() {
        assert!(names(&audit_yaml_choosing(&policy(""), &calico()), "NS172").is_empty());
        let cilium = NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() };
        assert!(names(&audit_yaml_choosing(&policy("  preDNAT: true\n  applyOnForward: true\n"), &cilium), "NS172")
            .is_empty());
    }
}
