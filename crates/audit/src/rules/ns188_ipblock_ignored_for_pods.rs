use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::{Direction, Location, PeerSelector};

declare_rule! {
    /// ## What it does
    /// Reports a Kubernetes NetworkPolicy `ipBlock` that covers addresses of pods in the input, in a cluster whose
    /// CNI is Cilium. The NetworkPolicy API lets an `ipBlock` match pod addresses (behaviour it leaves to the
    /// implementation), and Cilium does not: it matches pods by identity only, so the `ipBlock` admits none of the
    /// pods in its range. This is a NetworkPolicy feature that the detected CNI does not enforce as the manifest
    /// reads.
    ///
    /// ## Why it matters
    /// A policy written (or tested) on a CNI that matches pod addresses admits those pods; moved to Cilium, the same
    /// manifest cuts them, or an `except` meant to keep some pods out does nothing because none were in.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: db, namespace: shop}
    /// spec:
    ///   podSelector: {matchLabels: {app: db}}
    ///   ingress:
    ///   - from: [{ipBlock: {cidr: 10.244.0.0/16}}]   # the pod network: Cilium admits no pod by it
    /// ```
    ///
    /// ## How to fix
    /// Select the pods with `podSelector`/`namespaceSelector`; keep `ipBlock` for addresses outside the cluster.
    pub static RULE = NS188 "ipblock-ignored-for-pods" Medium;
}

/// How many pods a finding names as examples.
const EXAMPLES: usize = 3;

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    // The engine's own switch, so that the rule reports exactly where the answers leave pods out of ipBlocks
    // (Cilium, detected or named with --cni).
    if ctx.setup.engine.ip_blocks_match_pods {
        return;
    }
    let cluster = ctx.cluster;
    let pod_addresses = super::PodAddresses::of(cluster);
    if pod_addresses.is_empty() {
        return;
    }
    for policy in &cluster.policies {
        for direction in [Direction::Ingress, Direction::Egress] {
            if !policy.applies_to(direction) {
                continue;
            }
            for rule in policy.rules(direction) {
                for peer in &rule.peers {
                    let PeerSelector::IpBlock(block) = &peer.selector else { continue };
                    let (covered, examples) = pod_addresses.covered_by(block, EXAMPLES);
                    if covered == 0 {
                        continue;
                    }
                    let resource = Resource {
                        kind: "NetworkPolicy".into(),
                        namespace: Some(policy.namespace.clone()),
                        name: policy.name.clone(),
                    };
                    let location = Location { file: policy.location.file.clone(), line: peer.line };
                    out.push(
                        Finding::new(&RULE, resource, Some(location))
                            .message(format!(
                                "NetworkPolicy {}/{} {} ipBlock {} covers {} pod address(es), but Cilium never matches \
                                 pods by address: it admits none of them",
                                policy.namespace,
                                policy.name,
                                direction.as_str(),
                                block.cidr,
                                covered
                            ))
                            .evidence(format!("pods in the range: {}", examples.join(", ")))
                            .remediation(
                                "select the pods with podSelector/namespaceSelector; keep ipBlock for addresses \
                                 outside the cluster",
                            ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const PODS: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, namespace: shop, labels: {app: db}}\nspec: {containers: [{name: db}]}\nstatus: {podIP: 10.244.1.7}\n";
    const CILIUM: &str = "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: cilium, namespace: kube-system}\nspec:\n  template:\n    metadata: {labels: {k8s-app: cilium}}\n    spec: {containers: [{name: cilium-agent, image: quay.io/cilium/cilium:v1.16.0}]}\n";

    fn policy(cidr: &str) -> String {
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: db, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: db}}}}\n  ingress: [{{from: [{{ipBlock: {{cidr: {cidr}}}}}]}}]\n")
    }

    #[test]
    fn an_ipblock_over_pod_addresses_under_cilium_is_reported() {
        let report = audit_yaml(&format!("{PODS}{CILIUM}{}", policy("10.244.0.0/16")));
        assert_eq!(names(&report, "NS188"), ["shop/db"]);
        let finding = &of(&report, "NS188")[0];
        assert!(finding.evidence.contains("shop/db-0") && finding.evidence.contains("10.244.1.7"), "{finding:?}");
    }

    #[test]
    fn an_ipblock_outside_the_pods_or_another_cni_passes() {
        assert!(names(&audit_yaml(&format!("{PODS}{CILIUM}{}", policy("192.0.2.0/24"))), "NS188").is_empty());
        assert!(names(&audit_yaml(&format!("{PODS}{}", policy("10.244.0.0/16"))), "NS188").is_empty());
    }
}
