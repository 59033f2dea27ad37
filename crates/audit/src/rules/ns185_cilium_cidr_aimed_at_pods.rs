use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::cilium::CiliumPeerSelection;
use netseg_model::{Direction, Location};

declare_rule! {
    /// ## What it does
    /// Reports a Cilium policy's `fromCIDR`/`toCIDR`/`fromCIDRSet`/`toCIDRSet` entry that covers addresses of
    /// pods in the input. Cilium matches CIDR rules against traffic from and to outside the cluster only: a pod is
    /// matched by its identity (labels), never by its address, so the entry neither admits nor denies those pods.
    ///
    /// ## Why it matters
    /// A rule meant to admit "everything in 10.0.0.0/8" admits no pod in that range, and an `ingressDeny` meant to
    /// block a pod range blocks nothing from those pods: the policy does less, or something else, than it reads.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumNetworkPolicy
    /// metadata: {name: db, namespace: shop}
    /// spec:
    ///   endpointSelector: {matchLabels: {app: db}}
    ///   ingress: [{fromCIDR: [10.244.0.0/16]}]     # the pod network
    /// ```
    ///
    /// ## How to fix
    /// Select the pods with `fromEndpoints`/`toEndpoints` (or the `cluster` entity); keep CIDR entries for
    /// addresses outside the cluster.
    pub static RULE = NS185 "cilium-cidr-aimed-at-pods" Medium;
}

/// How many pods a finding names as examples.
const EXAMPLES: usize = 3;

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    // Inert Cilium policies are NS180's finding.
    if ctx.setup.cilium_mode.is_none() {
        return;
    }
    let cluster = ctx.cluster;
    let pod_addresses = super::PodAddresses::of(cluster);
    if pod_addresses.is_empty() {
        return;
    }
    for policy in &cluster.cilium_policies {
        for rule in &policy.rules {
            for direction in [Direction::Ingress, Direction::Egress] {
                for deny in [false, true] {
                    for peer_rule in rule.rules(direction, deny) {
                        for peer in &peer_rule.peers {
                            let CiliumPeerSelection::Cidr(block) = &peer.selection else { continue };
                            let (covered, examples) = pod_addresses.covered_by(block, EXAMPLES);
                            if covered == 0 {
                                continue;
                            }
                            let resource = Resource {
                                kind: policy.kind.as_str().into(),
                                namespace: policy.namespace.clone(),
                                name: policy.name.clone(),
                            };
                            let verb = if deny { "deny" } else { "admit" };
                            out.push(
                                Finding::new(&RULE, resource, Some(Location { file: policy.location.file.clone(), line: peer.line }))
                                    .message(format!(
                                        "{} {} CIDR {} covers {} pod address(es), but Cilium never matches pods by address: it does not {verb} them",
                                        policy.display_name(),
                                        direction.as_str(),
                                        block.cidr,
                                        covered
                                    ))
                                    .evidence(format!("pods in the range: {}", examples.join(", ")))
                                    .remediation("select the pods with fromEndpoints/toEndpoints (or the cluster entity) instead of their addresses"),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const PODS: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, namespace: shop, labels: {app: db}}\nspec: {containers: [{name: db}]}\nstatus: {podIP: 10.244.1.7}\n";

    fn policy(cidr: &str) -> String {
        format!("---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: db, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: db}}}}\n  ingress: [{{fromCIDR: [{cidr}]}}]\n")
    }

    #[test]
    fn a_cidr_over_pod_addresses_is_reported() {
        let report = audit_yaml(&format!("{PODS}{}", policy("10.244.0.0/16")));
        assert_eq!(names(&report, "NS185"), ["shop/db"]);
        assert!(of(&report, "NS185")[0].evidence.contains("10.244.1.7"));
    }

    #[test]
    fn a_cidr_outside_the_pods_passes() {
        assert!(names(&audit_yaml(&format!("{PODS}{}", policy("192.0.2.0/24"))), "NS185").is_empty());
    }
}
