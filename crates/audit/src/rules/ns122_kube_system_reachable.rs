use crate::rules::{list, subject, subject_groups};
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::Protocol;

declare_rule! {
    /// ## What it does
    /// Reports workloads outside `kube-system` that can reach `kube-system` pods on anything but DNS (port 53).
    /// On a cluster of more than 300 governed workloads, the workloads of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
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
    let beyond_dns = PortSet::all().difference(&dns);
    let in_kube_system = |w: usize| ctx.cluster.workloads[w].id.namespace == "kube-system";
    // Who reaches each kube-system workload beyond DNS, asked of the answer once per target and never listed:
    // each group of sources is then looked up in it.
    let answer = ctx.effective.answer();
    let targets: Vec<(usize, netseg_engine::Peers<'_, '_>)> = (0..ctx.cluster.workloads.len())
        .filter(|&w| in_kube_system(w))
        .map(|dst| (dst, answer.sources(dst, &beyond_dns)))
        .filter(|(_, peers)| !peers.is_empty())
        .collect();
    if targets.is_empty() {
        return;
    }
    let reached = |src: usize| -> Vec<(usize, PortSet)> {
        targets.iter().map(|(dst, peers)| (*dst, peers.ports_of(src))).filter(|(_, ports)| !ports.is_empty()).collect()
    };
    let sources = (0..ctx.cluster.workloads.len()).filter(|&w| !in_kube_system(w) && !ctx.host_network(w));
    // Sources of a namespace that reach the same kube-system workloads on the same ports are one group at scale.
    for group in subject_groups(ctx, &RULE, sources, reached) {
        let src = group[0];
        let reached = reached(src);
        let Some((first, first_ports)) = reached.first() else { continue };
        let names: Vec<String> =
            reached.iter().map(|(dst, ports)| format!("{} ({ports})", ctx.workload_name(*dst))).collect();
        let witness = ctx.witness_between(src, *first, first_ports);
        let subject = subject(ctx, &group);
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(format!("{} can reach {} kube-system workload(s) beyond DNS", subject.words, reached.len()))
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
