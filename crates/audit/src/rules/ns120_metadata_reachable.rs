use crate::context::tcp;
use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports workloads that can open connections to a cloud metadata endpoint: 169.254.169.254 (AWS, GCP,
    /// Azure), fd00:ec2::254 (AWS IPv6), 100.100.100.200 (Alibaba Cloud) or 168.63.129.16 (Azure WireServer).
    ///
    /// ## Why it matters
    /// The metadata endpoint hands out the node's cloud credentials and bootstrap secrets. A compromised pod that
    /// reaches it can often take over the node and move into the cloud account: the classic SSRF-to-cloud path.
    ///
    /// ## Example
    /// ```yaml
    /// egress:
    /// - to:
    ///   - ipBlock: {cidr: 0.0.0.0/0}      # includes 169.254.169.254
    /// ```
    ///
    /// ## How to fix
    /// Isolate egress and carve the metadata addresses out of every broad egress rule:
    /// ```yaml
    /// egress:
    /// - to:
    ///   - ipBlock:
    ///       cidr: 0.0.0.0/0
    ///       except: [169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32]
    /// ```
    pub static RULE = NS120 "metadata-reachable" High;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let http = tcp(80);
    for w in ctx.governed_workloads() {
        let reachable: Vec<String> = ctx
            .facts
            .metadata
            .iter()
            .filter(|addr| !ctx.to_address(w, **addr, &http).is_empty())
            .map(ToString::to_string)
            .collect();
        if reachable.is_empty() {
            continue;
        }
        let witness = ctx.witness_to_addresses(w, &ctx.facts.metadata, &http);
        let (resource, location) = ctx.workload_resource(w);
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!("{} can reach the cloud metadata endpoint ({}) on TCP 80", ctx.workload_name(w), reachable.join(", ")))
                .evidence(if ctx.isolated(w, netseg_model::Direction::Egress) {
                    "its egress policies allow an address range that includes the metadata endpoint".to_string()
                } else if ctx.tier_rule_applies(w, netseg_model::Direction::Egress, None) {
                    "admin or baseline egress rules apply to it, but none denies the metadata endpoint, and no NetworkPolicy isolates its egress".to_string()
                } else {
                    "it is not isolated for egress, so every address is allowed".to_string()
                })
                .remediation("isolate egress and add the metadata addresses (169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32, fd00:ec2::254/128) to the `except` of every broad ipBlock")
                .witness(witness),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn open_egress_fails() {
        let report = audit_yaml(FLAT);
        assert_eq!(names(&report, "NS120"), ["shop/redis", "shop/web"]);
        assert_eq!(of(&report, "NS120")[0].witness.as_ref().map(|w| w.to.as_str()), Some("169.254.169.254"));
    }

    #[test]
    fn except_passes() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: out, namespace: shop}}\nspec:\n  podSelector: {{}}\n  egress:\n  - to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: [169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32]}}}}]\n");
        assert!(names(&audit_yaml(&text), "NS120").is_empty());
        assert!(names(&audit_yaml(SEGMENTED), "NS120").is_empty());
    }
}
