use crate::facts::is_public;
use crate::rules::{egress_groups, subject};
use crate::{declare_rule, AuditContext, Finding, Witness};
use netseg_engine::PortSet;
use netseg_model::Protocol;
use std::net::IpAddr;

declare_rule! {
    /// ## What it does
    /// Reports workloads with unrestricted egress to the internet: some public address accepts every TCP port
    /// from them.
    /// On a cluster of more than 300 governed workloads, the workloads of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
    ///
    /// ## Why it matters
    /// Unrestricted egress is how a compromised pod downloads tooling, opens a reverse shell and exfiltrates data.
    /// Workloads that need the internet usually need a few ports to a few destinations.
    ///
    /// ## Example
    /// ```yaml
    /// egress:
    /// - {}          # everything, everywhere
    /// ```
    ///
    /// ## How to fix
    /// Isolate egress and allow only the destinations and ports the workload needs (for example TCP 443 to the
    /// ranges of its API provider), or send it through an egress proxy.
    pub static RULE = NS124 "internet-egress" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let all_tcp = PortSet::protocol(Protocol::Tcp);
    let mut candidates: Vec<IpAddr> = ["1.1.1.1", "8.8.8.8"].iter().filter_map(|a| a.parse().ok()).collect();
    candidates.extend(ctx.facts.outside.iter().copied().filter(|a| is_public(*a)));
    for group in egress_groups(ctx, &RULE) {
        let w = group[0];
        let Some(addr) = candidates.iter().find(|a| ctx.to_address(w, **a, &all_tcp) == all_tcp) else { continue };
        let subject = subject(ctx, &group);
        let witness = Witness { from: ctx.workload_name(w), to: addr.to_string(), protocol: Protocol::Tcp, port: 443 };
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(format!(
                    "{} {} unrestricted egress to the internet (every TCP port of {addr}, for one)",
                    subject.words,
                    if subject.plural { "have" } else { "has" }
                ))
                .evidence(ctx.why_egress_to(w, *addr, &all_tcp))
                .remediation("isolate egress and allow only the destinations and ports it needs")
                .witness(Some(witness)),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    #[test]
    fn open_egress_fails_and_port_restricted_egress_passes() {
        assert_eq!(names(&audit_yaml(FLAT), "NS124"), ["shop/redis", "shop/web"]);
        let https = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: out, namespace: shop}}\nspec:\n  podSelector: {{}}\n  egress:\n  - ports: [{{port: 443}}]\n");
        assert!(names(&audit_yaml(&https), "NS124").is_empty());
    }
}
