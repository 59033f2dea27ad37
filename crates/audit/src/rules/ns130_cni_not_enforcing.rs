use crate::{declare_rule, AuditContext, Finding, Resource};

declare_rule! {
    /// ## What it does
    /// Reports a cluster whose CNI does not enforce NetworkPolicy: flannel alone, the AWS VPC CNI without its
    /// network policy agent, Azure CNI without azure-npm, kindnet without kube-network-policies, Weave without
    /// weave-npc. The CNI is detected from its agents in the input, or named with `--cni`.
    ///
    /// ## Why it matters
    /// The API server accepts NetworkPolicies whatever the CNI does with them. Here they are inert: every pod
    /// reaches every other, whatever the policies say. netseg's reachability findings describe that effective
    /// network (`--assume-enforced` shows what the policies declare).
    ///
    /// ## Example
    /// ```yaml
    /// kind: DaemonSet
    /// metadata: {name: kube-flannel-ds, namespace: kube-flannel}
    /// spec: {template: {spec: {containers: [{image: docker.io/flannel/flannel:v0.25.6}]}}}
    /// ```
    ///
    /// ## How to fix
    /// Use a CNI that enforces policies (Calico, Cilium, Antrea, ...), or add a policy engine on top of the
    /// current one (canal: flannel with Calico's policy engine; the AWS network policy agent).
    pub static RULE = NS130 "cni-not-enforcing" Critical;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if ctx.cni.enforces() != Some(false) {
        return;
    }
    let detected = &ctx.cni.detected[0];
    let (resource, location) = match &detected.evidence {
        Some(id) => match ctx.cluster.workloads.iter().position(|w| &w.id == id) {
            Some(w) => ctx.workload_resource(w),
            None => (Resource { kind: "Cluster".into(), namespace: None, name: "cluster".into() }, None),
        },
        None => (Resource { kind: "Cluster".into(), namespace: None, name: "cluster".into() }, None),
    };
    let how =
        if ctx.cni.overridden { "named with --cni".to_string() } else { format!("detected from {}", resource.name) };
    let caveats: Vec<&str> = ctx.cni.detected.iter().filter_map(|d| d.plugin.caveat).collect();
    out.push(
        Finding::new(&RULE, resource, location)
            .message(match ctx.cluster.policies.len() {
                0 => format!(
                    "the CNI ({}) does not enforce NetworkPolicy: no policy applied to this cluster would take effect",
                    ctx.cni.names()
                ),
                count => format!(
                    "the CNI ({}) does not enforce NetworkPolicy: the {count} policies in the input are inert",
                    ctx.cni.names()
                ),
            })
            .evidence(if caveats.is_empty() { how } else { format!("{how}; {}", caveats.join("; ")) })
            .remediation("switch to a CNI that enforces NetworkPolicy, or add a policy engine (canal, the AWS network policy agent)"),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use netseg_engine::NetworkChoice;

    const FLANNEL: &str = "---\nkind: DaemonSet\nmetadata: {name: kube-flannel-ds, namespace: kube-flannel}\nspec: {template: {spec: {hostNetwork: true, containers: [{name: f, image: docker.io/flannel/flannel:v0.25.6}]}}}\n";

    #[test]
    fn flannel_fails_and_turns_the_network_flat() {
        let report = audit_yaml(&format!("{SEGMENTED}{FLANNEL}"));
        assert_eq!(names(&report, "NS130"), ["kube-flannel/kube-flannel-ds"]);
        assert!(!report.enforced);
        assert_eq!(names(&report, "NS125"), ["shop/redis"], "redis is open on the effective network");
    }

    #[test]
    fn assume_enforced_analyses_the_declared_policies() {
        let choice = NetworkChoice { assume_enforced: true, ..Default::default() };
        let report = audit_yaml_choosing(&format!("{SEGMENTED}{FLANNEL}"), &choice);
        assert_eq!(names(&report, "NS130"), ["kube-flannel/kube-flannel-ds"]);
        assert!(names(&report, "NS125").is_empty());
    }

    #[test]
    fn calico_passes() {
        let calico = "---\nkind: DaemonSet\nmetadata: {name: calico-node, namespace: kube-system}\nspec: {template: {spec: {containers: [{name: n, image: quay.io/calico/node:v3.28.1}]}}}\n";
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{calico}")), "NS130").is_empty());
    }
}
