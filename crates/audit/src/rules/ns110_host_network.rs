use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports workloads that run on the host network (`hostNetwork: true`), outside the namespaces and names
    /// allowed for it (`kube-system` and the agents of a detected CNI by default; `hostNetworkAllowed` in
    /// `.netseg.yaml`).
    ///
    /// ## Why it matters
    /// A host-network pod is the node: no NetworkPolicy selects it, pod and namespace selectors never match it,
    /// and it can reach the kubelet, the metadata endpoint and every pod. A compromise of it is a compromise of
    /// the node's network identity.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   template:
    ///     spec:
    ///       hostNetwork: true
    /// ```
    ///
    /// ## How to fix
    /// Run the workload on the pod network and expose it with a Service. If it really must be on the host
    /// network (a CNI agent, a node exporter), allow it in `.netseg.yaml` or annotate it with
    /// `netseg.io/ignore: NS110` and a `netseg.io/ignore-reason`.
    pub static RULE = NS110 "host-network" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for (w, workload) in ctx.cluster.workloads.iter().enumerate() {
        if !workload.pods.iter().any(|p| p.facts.host_network)
            || ctx.config.host_network_allowed(&workload.id.namespace, &workload.id.name)
            || ctx.is_cni_component(w)
        {
            continue;
        }
        let (resource, location) = ctx.workload_resource(w);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("{} runs on the host network, outside every NetworkPolicy", ctx.workload_name(w)))
                .evidence("hostNetwork: true: no policy selects it, and selectors in other policies do not match it")
                .remediation("run it on the pod network behind a Service; if it must stay, allow it in .netseg.yaml (hostNetworkAllowed) with a reason"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::Config;

    const AGENT: &str = "kind: DaemonSet\nmetadata: {name: exporter, namespace: monitoring}\nspec: {template: {spec: {hostNetwork: true}}}\n---\nkind: DaemonSet\nmetadata: {name: cni, namespace: kube-system}\nspec: {template: {spec: {hostNetwork: true}}}\n";

    #[test]
    fn host_network_outside_kube_system_fails() {
        assert_eq!(names(&audit_yaml(AGENT), "NS110"), ["monitoring/exporter"]);
    }

    #[test]
    fn allowed_by_config_passes() {
        let config = Config::parse("hostNetworkAllowed: [kube-system/*, monitoring/exporter]\n").expect("config");
        assert!(names(&audit_yaml_with(AGENT, &config, &Default::default()), "NS110").is_empty());
    }
}
