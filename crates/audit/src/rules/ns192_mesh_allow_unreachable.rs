use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_engine::{Endpoint, PortSet};
use netseg_model::mesh::istio::{AuthorizationAction, PolicyTarget};
use netseg_model::mesh::{istio_principal, StringMatch};
use netseg_model::{Cluster, Location, Protocol};

declare_rule! {
    /// ## What it does
    /// Reports an Istio ALLOW rule whose `principals` name clients that the network (NetworkPolicies, admin
    /// tiers) never lets reach the workloads the policy selects, on any TCP port: the mesh allows a flow the
    /// packets cannot make. Only exact principals of workloads in the input are judged.
    ///
    /// ## Why it matters
    /// Mesh authorization and NetworkPolicies are written by different people for the same flows. When they
    /// disagree, the flow the mesh policy was written for is broken (and someone will "fix" it by opening the
    /// network wide), or the mesh rule is stale and grants more than anyone remembers.
    ///
    /// ## Example
    /// ```yaml
    /// # shop has a default-deny ingress NetworkPolicy and nothing allows web → redis
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: redis-clients, namespace: shop}
    /// spec:
    ///   selector: {matchLabels: {app: redis}}
    ///   rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Allow the flow in a NetworkPolicy too (`netseg generate` writes one), or remove the stale mesh rule.
    pub static RULE = NS192 "mesh-allow-unreachable" Medium;
}

/// The workloads a label selector picks in a namespace (the root namespace: everywhere).
fn selected(cluster: &Cluster, namespace: &str, root: &str, labels: &netseg_model::Labels) -> Vec<usize> {
    (0..cluster.workloads.len())
        .filter(|&w| {
            let workload = &cluster.workloads[w];
            (workload.id.namespace == namespace || namespace == root)
                && workload.pods.iter().any(|p| labels.iter().all(|(k, v)| p.facts.labels.get(k) == Some(v)))
        })
        .collect()
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    if !ctx.enforced() {
        return;
    }
    let cluster = ctx.cluster;
    let config = &cluster.mesh.istio.config;
    let tcp = PortSet::protocol(Protocol::Tcp);
    for policy in cluster.mesh.istio.authorization_policies.iter().filter(|p| !p.dry_run) {
        if policy.action != AuthorizationAction::Allow {
            continue;
        }
        let PolicyTarget::Selector(labels) = &policy.target else { continue };
        let destinations = selected(cluster, &policy.namespace, &config.root_namespace, labels);
        if destinations.is_empty() {
            continue;
        }
        for (number, rule) in policy.rules.iter().enumerate() {
            for principal in rule.from.iter().flat_map(|s| &s.principals) {
                let StringMatch::Exact(principal) = principal else { continue };
                let clients: Vec<usize> = (0..cluster.workloads.len())
                    .filter(|&w| {
                        let workload = &cluster.workloads[w];
                        workload.pods.iter().any(|p| {
                            let account = Cluster::service_account(&p.facts);
                            istio_principal(&config.trust_domain, &workload.id.namespace, account) == *principal
                        })
                    })
                    .collect();
                if clients.is_empty() {
                    continue;
                }
                let reaches = clients.iter().any(|&src| {
                    destinations.iter().any(|&dst| {
                        src != dst && {
                            let explanation = ctx.declared.explain(
                                Endpoint::Pod { workload: src, pod: 0 },
                                Endpoint::Pod { workload: dst, pod: 0 },
                            );
                            let network = explanation.egress.allowed.intersection(&explanation.ingress.allowed);
                            !network.intersection(&tcp).is_empty()
                        }
                    })
                });
                if reaches {
                    continue;
                }
                let resource = Resource {
                    kind: "AuthorizationPolicy".into(),
                    namespace: Some(policy.namespace.clone()),
                    name: policy.name.clone(),
                };
                let location = Location { file: policy.location.file.clone(), line: rule.line };
                let names = |ws: &[usize]| ws.iter().map(|&w| cluster.workloads[w].id.to_string()).collect::<Vec<_>>();
                out.push(
                    Finding::new(&RULE, resource, Some(location))
                        .message(format!(
                            "rule {number} of AuthorizationPolicy {}/{} allows {principal}, but the network never lets \
                             its workloads reach the selected ones on TCP",
                            policy.namespace, policy.name
                        ))
                        .evidence(format!(
                            "clients {} → selected {}: no TCP port allowed by the NetworkPolicies",
                            names(&clients).join(", "),
                            names(&destinations).join(", ")
                        ))
                        .remediation("allow the flow in a NetworkPolicy too, or remove the stale mesh rule"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const MESH_ALLOW: &str = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: redis-clients, namespace: shop}\nspec:\n  selector: {matchLabels: {app: redis}}\n  rules:\n  - from: [{source: {principals: [cluster.local/ns/shop/sa/default]}}]\n";
    const DENY_INGRESS: &str = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n";

    #[test]
    fn a_mesh_allow_the_network_blocks_is_reported() {
        let report = audit_yaml(&format!("{FLAT}{MESH_ALLOW}{DENY_INGRESS}"));
        assert_eq!(names(&report, "NS192"), ["shop/redis-clients"]);
        let finding = &of(&report, "NS192")[0];
        assert!(finding.evidence.contains("shop/web[Deployment]"), "{}", finding.evidence);
    }

    #[test]
    fn a_mesh_allow_the_network_carries_passes() {
        assert!(names(&audit_yaml(&format!("{FLAT}{MESH_ALLOW}")), "NS192").is_empty());
    }
}
