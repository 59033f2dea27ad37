use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::{Direction, PortRef, Protocol};

declare_rule! {
    /// ## What it does
    /// Reports workloads isolated for egress with no DNS allowance: no egress rule of theirs allows port 53 (UDP
    /// or TCP) to the cluster DNS (pods labelled `k8s-app: kube-dns`, when the input has them) or, when the DNS
    /// pods are not in the input, to anything.
    ///
    /// ## Why it matters
    /// Without DNS, every lookup of a Service name fails: the application breaks in ways that look like network
    /// outages, and the usual "fix" is to drop the egress policy altogether.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Egress]      # and no rule for port 53
    /// ```
    ///
    /// ## How to fix
    /// ```yaml
    /// egress:
    /// - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ///   ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
    /// ```
    pub static RULE = NS145 "dns-blocked" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.enforced() {
        return;
    }
    let dns = PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]);
    let dns_servers: Vec<usize> = (0..ctx.cluster.workloads.len())
        .filter(|w| {
            let workload = &ctx.cluster.workloads[*w];
            workload.pods.iter().any(|p| p.facts.labels.get("k8s-app").is_some_and(|v| &**v == "kube-dns"))
        })
        .collect();
    // One pass over the connections, not one per workload: clusters have hundreds of thousands of them.
    let mut reaches_dns = vec![false; ctx.cluster.workloads.len()];
    if !dns_servers.is_empty() {
        for &server in &dns_servers {
            for (src, _) in ctx.sources_of(server, &dns) {
                reaches_dns[src] = true;
            }
        }
    }
    for w in ctx.governed_workloads() {
        if !ctx.isolated(w, Direction::Egress) || dns_servers.contains(&w) {
            continue;
        }
        let allowed = if dns_servers.is_empty() { rules_mention_dns(ctx, w) } else { reaches_dns[w] };
        if allowed {
            continue;
        }
        let (resource, location) = ctx.workload_resource(w);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("{} is isolated for egress and cannot reach DNS (port 53)", ctx.workload_name(w)))
                .evidence(if dns_servers.is_empty() {
                    "none of its egress rules allows UDP or TCP 53".to_string()
                } else {
                    format!("no egress rule allows port 53 to {}", ctx.workload_name(dns_servers[0]))
                })
                .remediation("allow UDP and TCP 53 to the kube-dns pods in kube-system"),
        );
    }
}

/// Without the DNS pods in the input: does any egress rule of the workload's policies allow port 53 at all?
/// Where Cilium enforces its policies, its egress allow rules that select the pod count too: they are one union
/// with the NetworkPolicies' (`generate --dialect cilium` allows DNS so).
pub(crate) fn rules_mention_dns(ctx: &AuditContext<'_>, workload: usize) -> bool {
    cilium_rules_mention_dns(ctx, workload)
        || ctx.pods(workload).any(|pod| {
            ctx.declared.isolating(pod, Direction::Egress).iter().any(|&policy| {
                ctx.cluster.policies[policy].rules(Direction::Egress).iter().any(|rule| {
                    rule.ports.is_empty()
                        || rule.ports.iter().any(|port| match &port.port {
                            None => true,
                            Some(PortRef::Number(start)) => *start <= 53 && 53 <= port.end_port.unwrap_or(*start),
                            Some(PortRef::Name(name)) => name == "dns" || name == "dns-tcp",
                        })
                })
            })
        })
}

/// Whether an egress allow rule of a Cilium policy that selects one of the workload's pods (by the pod's identity
/// labels) admits UDP or TCP 53.
fn cilium_rules_mention_dns(ctx: &AuditContext<'_>, workload: usize) -> bool {
    if ctx.setup.engine.cilium.is_none() || ctx.cluster.cilium_policies.is_empty() {
        return false;
    }
    let dns = PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]);
    let cluster_name = ctx
        .cluster
        .cilium_config
        .as_ref()
        .and_then(|c| c.cluster_name.as_deref())
        .unwrap_or(netseg_model::cilium::DEFAULT_CLUSTER_NAME);
    let w = &ctx.cluster.workloads[workload];
    let namespace_labels = ctx.cluster.namespace(&w.id.namespace).map(|n| n.labels.clone()).unwrap_or_default();
    w.pods.iter().any(|pod| {
        let labels = netseg_model::cilium::pod_identity_labels(
            &pod.facts.labels,
            &w.id.namespace,
            &namespace_labels,
            pod.facts.service_account.as_deref(),
            cluster_name,
        );
        let identity = netseg_model::cilium::CiliumIdentity { k8s: Some(&labels), reserved: &[] };
        ctx.cluster.cilium_policies.iter().flat_map(|p| &p.rules).any(|rule| {
            matches!(&rule.subject, netseg_model::cilium::CiliumSubject::Endpoints(s) if s.matches(identity))
                && rule.rules(Direction::Egress, false).iter().any(|allow| {
                    let ports = netseg_engine::cilium::rule_ports(allow);
                    !ports.numeric.intersection(&dns).is_empty()
                        || ports.named.iter().any(|(name, _)| name == "dns" || name == "dns-tcp")
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn egress_deny_without_dns_fails() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: shop}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n");
        assert_eq!(names(&audit_yaml(&text), "NS145"), ["shop/redis", "shop/web"]);
    }

    /// Cilium's allows are a union with the NetworkPolicies': a clusterwide policy's DNS rule allows DNS.
    #[test]
    fn a_cilium_dns_rule_passes_without_the_dns_pods() {
        let deny = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: shop}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n");
        let dns = "---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: dns}\nspec:\n  endpointSelector: {matchLabels: {\"k8s:io.kubernetes.pod.namespace\": shop}}\n  egress:\n  - toEndpoints:\n    - {matchLabels: {k8s-app: kube-dns, \"k8s:io.kubernetes.pod.namespace\": kube-system}}\n    toPorts:\n    - ports:\n      - {port: \"53\", protocol: UDP}\n";
        assert!(names(&audit_yaml(&format!("{deny}{dns}")), "NS145").is_empty());
        let web_only = dns.replace("\"k8s:io.kubernetes.pod.namespace\": shop", "app: web");
        assert_eq!(names(&audit_yaml(&format!("{deny}{web_only}")), "NS145"), ["shop/redis"]);
    }

    #[test]
    fn dns_allowance_passes_with_and_without_the_dns_pods() {
        assert!(names(&audit_yaml(SEGMENTED), "NS145").is_empty());
        let coredns = "---\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\nspec: {template: {metadata: {labels: {k8s-app: kube-dns}}}}\n";
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{coredns}")), "NS145").is_empty());
    }
}
