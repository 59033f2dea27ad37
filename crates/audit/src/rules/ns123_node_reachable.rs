use crate::context::tcp;
use crate::facts::{AddressSource, KUBELET_PORT};
use crate::rules::{egress_groups, subject};
use crate::{declare_rule, AuditContext, Finding};

declare_rule! {
    /// ## What it does
    /// Reports workloads that can reach a node's kubelet (TCP 10250). Node addresses come from the Node objects
    /// in the input or `--node-cidr`; without either, any address outside the pod network stands for a node and
    /// the report says so.
    /// On a cluster of more than 300 governed workloads, the workloads of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
    ///
    /// ## Why it matters
    /// The kubelet API runs commands in any pod on its node when authorization is weak, and node services are
    /// the step from a pod to the host. Application pods have no reason to talk to them.
    ///
    /// ## Example
    /// ```yaml
    /// egress:
    /// - to: [{ipBlock: {cidr: 10.0.0.0/8}}]   # the node network is inside
    /// ```
    ///
    /// ## How to fix
    /// Isolate egress, and keep node addresses out of broad ipBlocks with `except`.
    pub static RULE = NS123 "node-reachable" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let kubelet = tcp(KUBELET_PORT);
    let candidates = ctx.facts.node_candidates();
    let source = match &ctx.facts.nodes_source {
        AddressSource::Input(what) => format!("node addresses from {what}"),
        AddressSource::Flag(cidrs) => format!("node addresses from --node-cidr {cidrs}"),
        AddressSource::Unknown => {
            "node addresses unknown: any address outside the pod network was assumed (give --node-cidr)".into()
        }
    };
    for group in egress_groups(ctx, &RULE) {
        let w = group[0];
        let Some(witness) = ctx.witness_to_addresses(w, &candidates, &kubelet) else { continue };
        let why = match witness.to.parse() {
            Ok(addr) => ctx.why_egress_to(w, addr, &kubelet),
            Err(_) => String::new(),
        };
        let subject = subject(ctx, &group);
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(match ctx.facts.nodes_source {
                    AddressSource::Unknown => format!(
                        "{} can reach the kubelet port (TCP {KUBELET_PORT}) of any address outside the pod network, \
                         where the nodes are assumed to be ({}, for one)",
                        subject.words, witness.to
                    ),
                    _ => format!(
                        "{} can reach the kubelet on node address {} (TCP {KUBELET_PORT})",
                        subject.words, witness.to
                    ),
                })
                .evidence(format!("{source}; {}", why))
                .remediation("isolate egress and exclude node addresses from broad ipBlocks")
                .witness(Some(witness)),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const NODE: &str = "---\nkind: Node\napiVersion: v1\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 192.168.5.10}]}\n";

    #[test]
    fn open_egress_reaches_the_node() {
        let report = audit_yaml(&format!("{FLAT}{NODE}"));
        let findings = of(&report, "NS123");
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].witness.as_ref().map(|w| w.to.as_str()), Some("192.168.5.10"));
    }

    #[test]
    fn egress_isolation_passes() {
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{NODE}")), "NS123").is_empty());
    }
}
