use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::cilium::{CiliumEntity, CiliumPeerSelection};
use netseg_model::Direction;

declare_rule! {
    /// ## What it does
    /// Reports a Cilium egress allow rule to the whole internet on every port: `toEntities: [world]` (or `all`,
    /// `world-ipv4`, `world-ipv6`) or `toCIDR`/`toCIDRSet` `0.0.0.0/0` or `::/0`, without `toPorts`.
    ///
    /// ## Why it matters
    /// Such a rule lets the selected pods send anything anywhere outside the cluster: exfiltration and command
    /// and control are open, whatever the other rules restrict.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumNetworkPolicy
    /// metadata: {name: api-out, namespace: shop}
    /// spec:
    ///   endpointSelector: {matchLabels: {app: api}}
    ///   egress: [{toEntities: [world]}]
    /// ```
    ///
    /// ## How to fix
    /// Name the destinations (`toFQDNs` with a DNS rule, `toCIDRSet` for the ranges the workload needs) and the
    /// ports (`toPorts`).
    pub static RULE = NS183 "cilium-world-egress" Medium;
}

fn whole_internet(selection: &CiliumPeerSelection) -> bool {
    match selection {
        CiliumPeerSelection::Entity(entity) => {
            matches!(
                entity,
                CiliumEntity::World | CiliumEntity::WorldIpv4 | CiliumEntity::WorldIpv6 | CiliumEntity::All
            )
        }
        CiliumPeerSelection::Cidr(block) => block.cidr.prefix == 0 && block.except.is_empty(),
        _ => false,
    }
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for policy in &ctx.cluster.cilium_policies {
        for spec in &policy.rules {
            for rule in spec.rules(Direction::Egress, false) {
                if rule.ports.is_some() || !rule.peers.iter().any(|p| whole_internet(&p.selection)) {
                    continue;
                }
                let resource = Resource {
                    kind: policy.kind.as_str().into(),
                    namespace: policy.namespace.clone(),
                    name: policy.name.clone(),
                };
                let location = netseg_model::Location { file: policy.location.file.clone(), line: rule.line };
                out.push(
                    Finding::new(&RULE, resource, Some(location))
                        .message(format!(
                            "{} allows egress to every address outside the cluster on every port",
                            policy.display_name()
                        ))
                        .evidence(format!("{} at line {}, no toPorts", rule.peer_field.unwrap_or("egress"), rule.line))
                        .remediation("name the destinations (toFQDNs, toCIDRSet) and the ports (toPorts)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    fn policy(rule: &str) -> String {
        format!("{FLAT}---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: api-out, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: api}}}}\n  egress:\n  - {rule}\n")
    }

    #[test]
    fn world_on_every_port_fails() {
        assert_eq!(names(&audit_yaml(&policy("toEntities: [world]")), "NS183"), ["shop/api-out"]);
        assert_eq!(names(&audit_yaml(&policy("toCIDR: [0.0.0.0/0]")), "NS183"), ["shop/api-out"]);
    }

    #[test]
    fn ports_or_narrow_ranges_pass() {
        let https = "{toEntities: [world], toPorts: [{ports: [{port: '443', protocol: TCP}]}]}";
        assert!(names(&audit_yaml(&policy(https)), "NS183").is_empty());
        assert!(names(&audit_yaml(&policy("toCIDR: [203.0.113.0/24]")), "NS183").is_empty());
    }
}
