use crate::rules::list;
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::Protocol;

declare_rule! {
    /// ## What it does
    /// Reports workloads outside `kube-system` that can reach `kube-system` pods on anything but DNS (port 53).
    ///
    /// ## Why it matters
    /// `kube-system` holds the cluster's most privileged components: CNI agents, CSI drivers, metrics servers,
    /// controllers with broad service accounts. Application pods need DNS from it and nothing else; every other
    /// open port is attack surface one hop away.
    ///
    /// ## Example
    /// ```yaml
    /// # No policy in kube-system, no egress isolation in `blog`: blog reaches metrics-server:10250.
    /// ```
    ///
    /// ## How to fix
    /// Isolate egress in application namespaces and allow only DNS to `kube-system`:
    /// ```yaml
    /// egress:
    /// - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
    ///         podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ///   ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
    /// ```
    pub static RULE = NS122 "kube-system-reachable" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let dns = PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]);
    let in_kube_system = |w: usize| ctx.cluster.workloads[w].id.namespace == "kube-system";
    // Who reaches each kube-system workload, asked of the answer, then gathered per source.
    let mut by_source: std::collections::BTreeMap<usize, Vec<(usize, PortSet)>> = std::collections::BTreeMap::new();
    let all = PortSet::all();
    for dst in (0..ctx.cluster.workloads.len()).filter(|&w| in_kube_system(w)) {
        for (src, allowed) in ctx.sources_of(dst, &all) {
            if in_kube_system(src) || ctx.host_network(src) {
                continue;
            }
            let beyond_dns = allowed.difference(&dns);
            if !beyond_dns.is_empty() {
                by_source.entry(src).or_default().push((dst, beyond_dns));
            }
        }
    }
    for (src, targets) in by_source {
        let names: Vec<String> =
            targets.iter().map(|(dst, ports)| format!("{} ({ports})", ctx.workload_name(*dst))).collect();
        let witness = ctx.witness_between(src, targets[0].0, &targets[0].1);
        let (resource, location) = ctx.workload_resource(src);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} can reach {} kube-system workload(s) beyond DNS",
                    ctx.workload_name(src),
                    targets.len()
                ))
                .evidence(format!("reachable: {}", list(&names, 4)))
                .remediation("isolate egress and allow only UDP/TCP 53 to kube-dns in kube-system")
                .witness(witness),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const KUBE_SYSTEM: &str = "---\nkind: Deployment\nmetadata: {name: metrics-server, namespace: kube-system}\nspec: {template: {metadata: {labels: {k8s-app: metrics-server}}}}\n---\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\nspec: {template: {metadata: {labels: {k8s-app: kube-dns}}}}\n";

    #[test]
    fn open_egress_fails() {
        let report = audit_yaml(&format!("{FLAT}{KUBE_SYSTEM}"));
        assert_eq!(names(&report, "NS122"), ["shop/redis", "shop/web"]);
    }

    #[test]
    fn dns_only_passes() {
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{KUBE_SYSTEM}")), "NS122").is_empty());
    }
}
