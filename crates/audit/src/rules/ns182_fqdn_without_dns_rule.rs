use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::cilium::{CiliumPeerSelection, L7Rules};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy with a `toFQDNs` rule whose policy has no
    /// egress rule with an L7 DNS rule (`toPorts.rules.dns`).
    ///
    /// ## Why it matters
    /// Cilium learns the addresses behind a `toFQDNs` name only from the DNS answers its DNS proxy sees, and the
    /// proxy sees only the queries an L7 DNS rule sends through it. Without one, the name never maps to an
    /// address and the rule allows nothing: the workload's calls to the service fail. (netseg does not resolve
    /// names and takes such a rule as any address outside the cluster, the safe side.)
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumNetworkPolicy
    /// metadata: {name: to-api, namespace: shop}
    /// spec:
    ///   endpointSelector: {matchLabels: {app: api}}
    ///   egress:
    ///   - toFQDNs: [{matchName: api.example.com}]
    /// ```
    ///
    /// ## How to fix
    /// Add an egress rule to kube-dns on port 53 with `rules: {dns: [{matchPattern: "*"}]}` to the same policy.
    pub static RULE = NS182 "fqdn-without-dns-rule" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for policy in &ctx.cluster.cilium_policies {
        let egress = || policy.rules.iter().flat_map(|spec| spec.rules(Direction::Egress, false));
        let fqdn = egress().find(|rule| rule.peers.iter().any(|p| matches!(p.selection, CiliumPeerSelection::Fqdn(_))));
        let Some(fqdn) = fqdn else { continue };
        let dns_rule = egress()
            .flat_map(|rule| rule.ports.iter().flatten())
            .any(|port_rule| matches!(port_rule.l7, Some(L7Rules::Dns(_))));
        if dns_rule {
            continue;
        }
        let resource = Resource {
            kind: policy.kind.as_str().into(),
            namespace: policy.namespace.clone(),
            name: policy.name.clone(),
        };
        let location = netseg_model::Location { file: policy.location.file.clone(), line: fqdn.line };
        out.push(
            Finding::new(&RULE, resource, Some(location))
                .message(format!(
                    "{} allows egress by DNS name (toFQDNs) but has no L7 DNS rule: Cilium never learns the names' \
                     addresses, so the rule allows nothing",
                    policy.display_name()
                ))
                .evidence(format!("toFQDNs at line {}; no egress toPorts with rules.dns", fqdn.line))
                .remediation("add an egress rule to kube-dns on port 53 with rules: {dns: [{matchPattern: \"*\"}]}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn policy(extra: &str) -> String {
        format!("{FLAT}---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: to-api, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: api}}}}\n  egress:\n  - toFQDNs: [{{matchName: api.example.com}}]\n{extra}")
    }

    #[test]
    fn fqdn_without_dns_rule_fails() {
        let report = audit_yaml(&policy(""));
        assert_eq!(names(&report, "NS182"), ["shop/to-api"]);
        assert_eq!(of(&report, "NS182")[0].location.as_ref().map(|l| l.line as usize), Some(FLAT.lines().count() + 8));
    }

    #[test]
    fn with_the_dns_rule_passes() {
        let dns = "  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]\n    toPorts: [{ports: [{port: '53', protocol: ANY}], rules: {dns: [{matchPattern: '*'}]}}]\n";
        assert!(names(&audit_yaml(&policy(dns)), "NS182").is_empty());
    }
}
