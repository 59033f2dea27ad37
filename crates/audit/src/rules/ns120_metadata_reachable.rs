use crate::context::{tcp, EgressCause};
use crate::rules::{egress_groups, subject};
use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports workloads that can open connections to a cloud metadata endpoint: 169.254.169.254 (AWS, GCP,
    /// Azure), fd00:ec2::254 (AWS IPv6), 100.100.100.200 (Alibaba Cloud) or 168.63.129.16 (Azure WireServer).
    /// On a cluster of more than 300 governed workloads, the workloads of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
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
    for group in egress_groups(ctx, &RULE) {
        let w = group[0];
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
        let cause = match witness.as_ref().and_then(|w| w.to.parse().ok()) {
            Some(addr) => ctx.egress_cause(w, addr, &http),
            None => EgressCause::default(),
        };
        let remediation = if cause.allow_all.is_empty() {
            "isolate egress and add the metadata addresses (169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32, fd00:ec2::254/128) to the `except` of every broad ipBlock".to_string()
        } else {
            format!(
                "replace {} with rules that name the destinations the workload needs (an ipBlock such as 0.0.0.0/0 with `except: [169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32]` where it needs the internet): NetworkPolicies only add allowances, so no other policy can close what an allow-all rule opens",
                cause.allow_all.join(" and ")
            )
        };
        let subject = subject(ctx, &group);
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(format!(
                    "{} can reach the cloud metadata endpoint ({}) on TCP 80",
                    subject.words,
                    reachable.join(", ")
                ))
                .evidence(cause.words)
                .remediation(remediation)
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
        assert_eq!(
            of(&report, "NS120")[0].evidence,
            "no NetworkPolicy isolates it for egress, so every address is allowed"
        );
    }

    /// Issue 12, failure 7: online-boutique's `egress: [{}]` was cited as "an address range", naming no policy.
    #[test]
    fn regression_the_allow_all_rule_that_decides_is_named() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: redis, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: redis}}}}\n  policyTypes: [Egress]\n  egress:\n  - {{}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web, namespace: shop}}\nspec:\n  podSelector: {{matchLabels: {{app: web}}}}\n  egress:\n  - to: [{{podSelector: {{}}}}]\n  - to: [{{ipBlock: {{cidr: 169.254.0.0/16}}}}]\n    ports: [{{port: 80}}]\n");
        let report = audit_yaml(&text);
        let redis = of(&report, "NS120").into_iter().find(|f| f.resource.name == "redis").expect("redis");
        assert!(
            redis.evidence.starts_with("egress rule 0 of NetworkPolicy shop/redis (test.yaml:"),
            "{}",
            redis.evidence
        );
        assert!(
            redis.evidence.contains("names no destination, so it allows every address on every port"),
            "{}",
            redis.evidence
        );
        assert!(
            redis.remediation.starts_with("replace egress rule 0 of NetworkPolicy shop/redis"),
            "{}",
            redis.remediation
        );
        let web = of(&report, "NS120").into_iter().find(|f| f.resource.name == "web").expect("web");
        assert!(web.evidence.contains("egress rule 1 of NetworkPolicy shop/web"), "{}", web.evidence);
        assert!(
            web.evidence.contains("allows ipBlock 169.254.0.0/16, which includes 169.254.169.254, on TCP 80"),
            "{}",
            web.evidence
        );
    }

    #[test]
    fn except_passes() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: out, namespace: shop}}\nspec:\n  podSelector: {{}}\n  egress:\n  - to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: [169.254.169.254/32, 100.100.100.200/32, 168.63.129.16/32]}}}}]\n");
        assert!(names(&audit_yaml(&text), "NS120").is_empty());
        assert!(names(&audit_yaml(SEGMENTED), "NS120").is_empty());
    }
}
