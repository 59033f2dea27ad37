use crate::facts::{is_public, DATASTORE_PORTS};
use crate::rules::{list, list_of, subject, subject_groups};
use crate::{declare_rule, AuditContext, Finding, Witness};
use netseg_engine::{Endpoint, PortSet};
use netseg_model::{Direction, Protocol};
use std::net::IpAddr;

declare_rule! {
    /// ## What it does
    /// Reports a datastore or admin port (Redis 6379, PostgreSQL 5432, MySQL 3306, MongoDB 27017,
    /// Elasticsearch 9200, memcached 11211, etcd 2379, Kafka 9092, ... and `sensitivePorts` from `.netseg.yaml`)
    /// that more than its clients can reach, and names who can reach it and why.
    ///
    /// - no ingress isolation: every pod in the cluster, and every address, may connect;
    /// - workloads in other namespaces can connect;
    /// - the internet can connect.
    ///
    /// When one of these holds and an internet-facing workload (behind a LoadBalancer or NodePort Service, or an
    /// Ingress) is among those that can connect, the finding says so: a compromised front end is then one hop
    /// from the data. A datastore that admits only named clients of its own namespace is segmented as far as
    /// NetworkPolicy can segment it, even when a client faces the internet, and is not reported; `netseg
    /// blast-radius --from internet` shows that two-hop path.
    /// On a cluster of more than 300 governed workloads, the datastores of one namespace that get the same answer are
    /// one finding, with their number, the first few names and one witness (see docs/architecture.md).
    ///
    /// ## Why it matters
    /// Datastores often trust the network: Redis and memcached ship without authentication, and the others hold
    /// the data an attacker came for. This is the lateral-movement path: take the WordPress pod, find Redis on
    /// 6379, read or rewrite the cache.
    ///
    /// ## Example
    /// ```yaml
    /// kind: Deployment
    /// metadata: {name: redis, namespace: blog}   # port 6379, no policy selects it
    /// ```
    ///
    /// ## How to fix
    /// Isolate the datastore for ingress and allow exactly its clients on its port:
    /// ```yaml
    /// spec:
    ///   podSelector: {matchLabels: {app: redis}}
    ///   ingress:
    ///   - from: [{podSelector: {matchLabels: {app: wordpress}}}]
    ///     ports: [{port: 6379}]
    /// ```
    pub static RULE = NS125 "sensitive-port-exposed" High;
}

/// The datastore and admin ports a workload's pods listen on, each with its name, in the pods' order.
fn sensitive_ports(ctx: &AuditContext<'_>, workload: usize) -> Vec<(Protocol, u16, String)> {
    let mut sensitive: Vec<(Protocol, u16, String)> = Vec::new();
    for port in ctx.cluster.workloads[workload].pods.iter().flat_map(|p| &p.facts.ports) {
        let label = DATASTORE_PORTS
            .iter()
            .find(|(n, _)| *n == port.port)
            .map(|(_, name)| name.to_string())
            .or_else(|| ctx.config.sensitive_ports.contains(&port.port).then(|| "sensitive port".to_string()));
        if let Some(label) = label {
            if !sensitive.iter().any(|(p, n, _)| *p == port.protocol && *n == port.port) {
                sensitive.push((port.protocol, port.port, label));
            }
        }
    }
    sensitive
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let facing = ctx.internet_facing();
    let mut public: Vec<IpAddr> = ["1.1.1.1", "8.8.8.8"].iter().filter_map(|a| a.parse().ok()).collect();
    public.extend(ctx.facts.outside.iter().copied().filter(|a| is_public(*a)));
    let answer = ctx.effective.answer();
    // Namespaces as numbers, and each namespace's workloads (ascending): the sources from another namespace are
    // every source but those, counted without a pass over every source.
    let mut namespace_ids: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let namespace_of: Vec<usize> = ctx
        .cluster
        .workloads
        .iter()
        .map(|w| {
            let next = namespace_ids.len();
            *namespace_ids.entry(w.id.namespace.as_str()).or_insert(next)
        })
        .collect();
    let mut namespace_workloads: Vec<Vec<usize>> = vec![Vec::new(); namespace_ids.len()];
    for (w, &namespace) in namespace_of.iter().enumerate() {
        namespace_workloads[namespace].push(w);
    }
    let datastores = ctx.governed_workloads().filter(|&w| !sensitive_ports(ctx, w).is_empty());
    // At scale, the datastores of a namespace with the same ports and the same profiles (so the same sources, each
    // apart from itself) are one group.
    let verdict = |w: usize| (sensitive_ports(ctx, w), answer.profiles_of(w));
    for group in subject_groups(ctx, &RULE, datastores, verdict) {
        let dst = group[0];
        let sensitive = sensitive_ports(ctx, dst);
        let ports = PortSet::from_ranges(&sensitive.iter().map(|(p, n, _)| (*p, *n, *n)).collect::<Vec<_>>());
        // Who reaches it, in numbers and the first few names: asked of the answer, never listed whole.
        let peers = answer.sources(dst, &ports);
        let (source_count, first_sources) = peers.sample_except(&[], 6);
        let from_internet = public.iter().find_map(|addr| {
            let mut allowed = PortSet::empty();
            for pod in ctx.pods(dst) {
                allowed.union_with(&ctx.effective.allowed(Endpoint::Address(*addr), pod).intersection(&ports));
            }
            (!allowed.is_empty()).then_some((*addr, allowed))
        });
        // An admin or baseline Deny on its ingress means not "every pod may connect"; who can is listed below.
        // Isolated by a NetworkPolicy or, on Cilium, made default-deny by a Cilium policy.
        let not_isolated = ctx.pods(dst).any(|pod| !ctx.effective.default_deny(pod, Direction::Ingress))
            && (!ctx.enforced() || !ctx.tier_denies(dst, Direction::Ingress));
        let (other_count, other_first) = peers.sample_except(&namespace_workloads[namespace_of[dst]], 4);
        let facing_sources: Vec<String> =
            facing.iter().filter(|&&src| !peers.ports_of(src).is_empty()).map(|&src| ctx.workload_name(src)).collect();

        let mut reasons = Vec::new();
        if not_isolated {
            reasons.push(format!(
                "no NetworkPolicy isolates {} for ingress: every pod and address may connect",
                if group.len() > 1 { "them" } else { "it" }
            ));
        }
        if other_count > 0 {
            let names: Vec<String> = other_first.iter().map(|(src, _)| ctx.workload_name(*src)).collect();
            reasons.push(format!("open to other namespaces: {}", list_of(&names, other_count)));
        }
        if let Some((addr, _)) = &from_internet {
            if !not_isolated {
                reasons.push(format!("open to the internet ({addr}, for one)"));
            }
        }
        if reasons.is_empty() {
            continue;
        }
        if !facing_sources.is_empty() {
            reasons.push(format!("reachable from internet-facing {}", list(&facing_sources, 4)));
        }
        let witness = match (first_sources.first(), &from_internet) {
            (Some((src, allowed)), _) => ctx.witness_between(*src, dst, allowed),
            (None, Some((addr, allowed))) => allowed.first().map(|(protocol, port)| Witness {
                from: addr.to_string(),
                to: ctx.workload_name(dst),
                protocol,
                port,
            }),
            (None, None) => None,
        };
        let port_names: Vec<String> = sensitive.iter().map(|(p, n, label)| format!("{p} {n} ({label})")).collect();
        let who: Vec<String> =
            first_sources.iter().map(|(src, allowed)| format!("{} on {allowed}", ctx.workload_name(*src))).collect();
        let subject = subject(ctx, &group);
        out.push(
            Finding::new(&RULE, subject.resource, subject.location)
                .message(format!(
                    "{} {} {}: {}",
                    subject.words,
                    if subject.plural { "expose" } else { "exposes" },
                    port_names.join(", "),
                    reasons.join("; ")
                ))
                .evidence(if who.is_empty() {
                    "no workload in the input reaches it, but addresses outside the cluster do".to_string()
                } else {
                    format!("can connect: {}", list_of(&who, source_count))
                })
                .remediation(format!(
                    "isolate {} for ingress and allow only {} clients, on {}",
                    if subject.plural { "them".to_string() } else { ctx.workload_name(dst) },
                    if subject.plural { "their" } else { "its" },
                    port_names.join(", ")
                ))
                .witness(witness),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::Severity;

    #[test]
    fn unisolated_redis_fails_and_names_its_clients() {
        let report = audit_yaml(FLAT);
        let findings = of(&report, "NS125");
        assert_eq!(names(&report, "NS125"), ["shop/redis"]);
        assert!(findings[0].message.contains("TCP 6379 (Redis)"));
        assert!(findings[0].evidence.contains("shop/web[Deployment]"));
        assert_eq!(findings[0].severity, Severity::High);
    }

    #[test]
    fn redis_open_only_to_its_client_passes() {
        assert!(names(&audit_yaml(SEGMENTED), "NS125").is_empty());
    }

    const LOAD_BALANCER: &str = "---\nkind: Service\napiVersion: v1\nmetadata: {name: web, namespace: shop}\nspec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}\n";

    #[test]
    fn an_internet_facing_client_alone_passes() {
        // Least privilege: only the front end may connect. Nothing more to close with NetworkPolicy.
        assert!(names(&audit_yaml(&format!("{SEGMENTED}{LOAD_BALANCER}")), "NS125").is_empty());
    }

    #[test]
    fn an_open_datastore_names_its_internet_facing_client() {
        let report = audit_yaml(&format!("{FLAT}{LOAD_BALANCER}"));
        let findings = of(&report, "NS125");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::High);
        assert!(findings[0].message.contains("internet-facing shop/web[Deployment]"), "{}", findings[0].message);
    }
}
