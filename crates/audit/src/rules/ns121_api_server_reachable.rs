use crate::facts::AddressSource;
use crate::rules::{egress_groups, subject};
use crate::{declare_rule, AuditContext, Finding};
use netseg_engine::PortSet;
use netseg_model::Protocol;

declare_rule! {
    /// ## What it does
    /// Reports workloads that can open connections to the Kubernetes API server. The address comes from the
    /// `default/kubernetes` Endpoints or EndpointSlice in the input, or `--api-server CIDR`; without either, any
    /// address outside the pod network on TCP 443 or 6443 stands for it and the report says so.
    /// On a cluster of more than 300 governed workloads, the workloads of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
    ///
    /// ## Why it matters
    /// With a stolen or over-privileged service account token, the API server is the way from one pod to the
    /// whole cluster. Workloads that never talk to it should not be able to.
    ///
    /// ## Example
    /// ```yaml
    /// # No egress isolation: every pod reaches 10.0.0.1:6443.
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Ingress]
    /// ```
    ///
    /// ## How to fix
    /// Isolate egress, and allow the API server (its endpoint addresses, port 6443 or 443) only to the
    /// workloads that need it, such as operators and controllers.
    pub static RULE = NS121 "api-server-reachable" Medium;
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let ports =
        PortSet::from_ranges(&ctx.facts.api_server_ports.iter().map(|p| (Protocol::Tcp, *p, *p)).collect::<Vec<_>>());
    let source = match &ctx.facts.api_server_source {
        AddressSource::Input(what) => format!("API server address from {what}"),
        AddressSource::Flag(cidrs) => format!("API server address from --api-server {cidrs}"),
        AddressSource::Unknown => {
            "API server address unknown: any address outside the pod network was assumed (give --api-server)".into()
        }
    };
    for group in egress_groups(ctx, &RULE) {
        let w = group[0];
        let Some(witness) = ctx.witness_to_addresses(w, ctx.facts.api_server_candidates(), &ports) else { continue };
        let why = match witness.to.parse() {
            Ok(addr) => ctx.why_egress_to(w, addr, &ports),
            Err(_) => String::new(),
        };
        let subject = subject(ctx, &group);
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(match ctx.facts.api_server_source {
                    AddressSource::Unknown => format!(
                        "{} can reach the Kubernetes API server wherever it is: any address outside the pod network \
                         on {} {} ({}, for one)",
                        subject.words, witness.protocol, witness.port, witness.to
                    ),
                    _ => format!(
                        "{} can reach the Kubernetes API server ({} on {} {})",
                        subject.words, witness.to, witness.protocol, witness.port
                    ),
                })
                .evidence(format!("{source}; {}", why))
                .remediation("isolate egress and allow the API server only to the workloads that call it")
                .witness(Some(witness)),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const ENDPOINTS: &str = "---\nkind: Endpoints\napiVersion: v1\nmetadata: {name: kubernetes, namespace: default}\nsubsets: [{addresses: [{ip: 172.18.0.2}], ports: [{port: 6443}]}]\n";

    #[test]
    fn open_egress_reaches_the_known_api_server() {
        let report = audit_yaml(&format!("{FLAT}{ENDPOINTS}"));
        let findings = of(&report, "NS121");
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].witness.as_ref().map(|w| (w.to.as_str(), w.port)), Some(("172.18.0.2", 443)));
        assert!(findings[0].evidence.contains("default/kubernetes"));
    }

    #[test]
    fn unknown_address_is_assumed_and_said() {
        let report = audit_yaml(FLAT);
        assert!(of(&report, "NS121")[0].evidence.contains("unknown"));
        assert!(report.assumptions.iter().any(|a| a.contains("--api-server")));
    }

    #[test]
    fn egress_isolation_passes() {
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{ENDPOINTS}")), "NS121").is_empty());
    }
}
