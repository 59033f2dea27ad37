use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::mesh::MeshKind;
use netseg_model::Protocol;

declare_rule! {
    /// ## What it does
    /// Reports an Istio workload (ambient, or with a sidecar) that the NetworkPolicies (and the other network
    /// tiers) let ambient workloads reach on its own ports but not on TCP 15008, the HBONE port. In ambient mode a
    /// meshed client's ztunnel tunnels every connection to an Istio destination pod on 15008, so the policies must admit 15008
    /// wherever they admit the application's ports, on both the client's egress and the destination's ingress.
    ///
    /// ## Why it matters
    /// The policies look right and every meshed connection still fails: the application port is never used on
    /// the wire between two ambient pods. The usual "fix" under pressure is to remove the policy.
    ///
    /// ## Example
    /// ```yaml
    /// # shop has istio.io/dataplane-mode=ambient
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: redis, namespace: shop}
    /// spec:
    ///   podSelector: {matchLabels: {app: redis}}
    ///   ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 6379}]}]
    /// ```
    ///
    /// ## How to fix
    /// Add `{port: 15008, protocol: TCP}` to each rule that admits meshed clients (ingress at the destination,
    /// egress at the client).
    pub static RULE = NS196 "ambient-hbone-blocked" High;
}

/// HBONE: ztunnel's mTLS tunnel port.
const HBONE: u16 = netseg_engine::HBONE_PORT;

/// Beyond this many ambient workloads the pairwise check is skipped (it asks the network about every pair).
const MAX_AMBIENT: usize = 2_000;

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    let istio: Vec<usize> = ctx
        .governed_workloads()
        .filter(|&w| ctx.dataplane(w).is_some_and(|plane| plane.mesh == Some(MeshKind::Istio)))
        .collect();
    // Ambient clients tunnel to every Istio pod, sidecars included (they accept HBONE too).
    let ambient: Vec<usize> =
        istio.iter().copied().filter(|&w| ctx.dataplane(w).is_some_and(|plane| plane.ambient)).collect();
    if ambient.is_empty() || istio.len() < 2 || istio.len() > MAX_AMBIENT {
        return;
    }
    let hbone = PortSet::single(Protocol::Tcp, HBONE);
    for &dst in &istio {
        let Some(dst_pod) = ctx.pods(dst).next() else { continue };
        let app_ports = PortSet::from_ranges(
            &cluster.workloads[dst].pods[0]
                .facts
                .ports
                .iter()
                .filter(|p| p.protocol == Protocol::Tcp && p.port != HBONE)
                .map(|p| (Protocol::Tcp, p.port, p.port))
                .collect::<Vec<_>>(),
        );
        if app_ports.is_empty() {
            continue;
        }
        let mut cut: Vec<String> = Vec::new();
        for &src in ambient.iter().filter(|&&src| src != dst) {
            let Some(src_pod) = ctx.pods(src).next() else { continue };
            let explanation = ctx.effective.explain(src_pod, dst_pod);
            // The rules as written, on the wire: the engine's verdict already counts the application's ports
            // as cut where 15008 is.
            let as_written =
                |side: &netseg_engine::SideTrace| side.hbone.clone().unwrap_or_else(|| side.allowed.clone());
            let network = as_written(&explanation.egress).intersection(&as_written(&explanation.ingress));
            let app = network.intersection(&app_ports);
            if !app.is_empty() && network.intersection(&hbone).is_empty() {
                cut.push(cluster.workloads[src].id.to_string());
            }
        }
        if cut.is_empty() {
            continue;
        }
        let (resource, location) = ctx.workload_resource(dst);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} is {}, and the network lets {} ambient workload(s) reach its ports but not TCP {HBONE} (HBONE), where ztunnel delivers their connections: those flows fail",
                    cluster.workloads[dst].id,
                    if ctx.dataplane(dst).is_some_and(|plane| plane.ambient) { "ambient" } else { "in Istio's mesh (sidecar)" },
                    cut.len()
                ))
                .evidence(format!("admitted on the application port(s) only: {}", cut.join(", ")))
                .remediation(format!(
                    "admit TCP {HBONE} wherever the policies admit these clients (their egress and this workload's ingress)"
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const AMBIENT: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}\n";

    fn redis_policy(ports: &str) -> String {
        format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: redis, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: web}}}}}}], ports: [{ports}]}}]\n")
    }

    #[test]
    fn a_policy_without_the_hbone_port_is_reported() {
        let report = audit_yaml(&format!("{FLAT}{AMBIENT}{}", redis_policy("{port: 6379}")));
        assert_eq!(names(&report, "NS196"), ["shop/redis"]);
        assert!(of(&report, "NS196")[0].evidence.contains("shop/web[Deployment]"));
    }

    #[test]
    fn admitting_15008_or_no_policy_or_sidecars_pass() {
        let with_hbone = format!("{FLAT}{AMBIENT}{}", redis_policy("{port: 6379}, {port: 15008}"));
        assert!(names(&audit_yaml(&with_hbone), "NS196").is_empty());
        assert!(names(&audit_yaml(&format!("{FLAT}{AMBIENT}")), "NS196").is_empty());
        let sidecar =
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
        assert!(names(&audit_yaml(&format!("{FLAT}{sidecar}{}", redis_policy("{port: 6379}"))), "NS196").is_empty());
    }

    /// Istio: "Sidecar workloads receiving traffic will also need to allow inbound traffic on port 15008".
    #[test]
    fn a_sidecar_destination_of_ambient_clients_needs_15008_too() {
        let web_ambient =
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";
        let yaml = format!("{FLAT}{web_ambient}{}", redis_policy("{port: 6379}")).replace(
            "metadata: {labels: {app: web}}",
            "metadata: {labels: {app: web, istio.io/dataplane-mode: ambient, sidecar.istio.io/inject: 'false'}}",
        );
        let report = audit_yaml(&yaml);
        assert_eq!(names(&report, "NS196"), ["shop/redis"], "{:#?}", of(&report, "NS196"));
        assert!(of(&report, "NS196")[0].message.contains("sidecar"));
    }
}
