use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_engine::cilium::rule_at;
use netseg_engine::rules::RuleOrigin;
use netseg_engine::{Action, Endpoint, PolicyKind, PortSet, TierId};
use netseg_model::cilium::{CiliumEntity, CiliumPeerSelection};
use netseg_model::{Direction, Location};
use std::collections::HashSet;

declare_rule! {
    /// ## What it does
    /// Reports an allow rule (a CiliumNetworkPolicy's, a CiliumClusterwideNetworkPolicy's or a Kubernetes
    /// NetworkPolicy's) that explicitly allows a connection which a Cilium `ingressDeny` or `egressDeny` rule
    /// denies, naming both rules with their file and line and one connection that is cut.
    ///
    /// ## Why it matters
    /// In Cilium a deny rule wins over every allow of every kind: no policy a namespace owner writes can open
    /// what a cluster-wide deny closes. The allow reads as working and does nothing for those connections, and
    /// whoever wrote it learns so only when the traffic fails.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: cilium.io/v2
    /// kind: CiliumClusterwideNetworkPolicy
    /// metadata: {name: no-metadata}
    /// spec:
    ///   endpointSelector: {}
    ///   egressDeny: [{toCIDR: [169.254.169.254/32]}]
    /// ---
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: agent, namespace: ops}
    /// spec:
    ///   podSelector: {matchLabels: {app: agent}}
    ///   policyTypes: [Egress]
    ///   egress: [{to: [{ipBlock: {cidr: 169.254.169.254/32}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Remove the allow, or narrow the deny rule (its selector, peers or ports) so that it leaves out what the
    /// allow is meant for; an allow can never override it.
    pub static RULE = NS186 "cilium-deny-cuts-allow" Medium;
}

/// A compiled allow rule named for people: kind, name, rule and where it is written.
fn allow_words(ctx: &AuditContext<'_>, origin: RuleOrigin) -> Option<(Resource, Location, String)> {
    let cluster = ctx.cluster;
    match origin.kind {
        PolicyKind::NetworkPolicy => {
            let policy = cluster.policies.get(origin.policy)?;
            let rule = policy.rules(origin.direction).get(origin.rule)?;
            let location = Location { file: policy.location.file.clone(), line: rule.line };
            let words = format!(
                "{} rule {} of NetworkPolicy {}/{} ({location})",
                origin.direction.as_str(),
                origin.rule,
                policy.namespace,
                policy.name
            );
            let resource = Resource {
                kind: "NetworkPolicy".into(),
                namespace: Some(policy.namespace.clone()),
                name: policy.name.clone(),
            };
            Some((resource, location, words))
        }
        PolicyKind::Cilium => {
            let rule = rule_at(cluster, origin)?;
            let location = Location { file: rule.policy.location.file.clone(), line: rule.rule.line };
            let words = format!(
                "{} rule {} of {} ({location})",
                origin.direction.as_str(),
                rule.field(origin.direction),
                rule.policy.display_name()
            );
            let resource = Resource {
                kind: rule.policy.kind.as_str().into(),
                namespace: rule.policy.namespace.clone(),
                name: rule.policy.name.clone(),
            };
            Some((resource, location, words))
        }
        _ => None,
    }
}

fn endpoint_words(ctx: &AuditContext<'_>, endpoint: Endpoint) -> String {
    match endpoint {
        Endpoint::Pod { workload, .. } => ctx.cluster.workloads[workload].id.to_string(),
        Endpoint::Address(addr) => addr.to_string(),
    }
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    // Inert Cilium policies are NS180's finding.
    if ctx.setup.cilium_mode.is_none() {
        return;
    }
    let cluster = ctx.cluster;
    let has_deny = cluster.cilium_policies.iter().flat_map(|p| &p.rules).any(|spec| {
        !spec.rules(Direction::Ingress, true).is_empty() || !spec.rules(Direction::Egress, true).is_empty()
    });
    if !has_deny {
        return;
    }
    let analysis = ctx.declared;
    // One pod per workload, and one per distinct namespace and labels: pods alike answer alike.
    let mut alike = HashSet::new();
    let pods: Vec<Endpoint> = cluster
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.pods.is_empty())
        .filter(|(_, w)| {
            let facts = &w.pods[0].facts;
            alike.insert((&w.id.namespace, facts.host_network, &facts.labels))
        })
        .map(|(workload, _)| Endpoint::Pod { workload, pod: 0 })
        .collect();
    let outside: Vec<Endpoint> = analysis
        .atoms()
        .iter()
        .map(|atom| if atom.start.is_unspecified() { atom.end } else { atom.start })
        .map(Endpoint::Address)
        .collect();
    let mut reported: HashSet<(RuleOrigin, RuleOrigin)> = HashSet::new();
    for &subject in &pods {
        let mut denies: Vec<RuleOrigin> = analysis
            .tier_rules_of(subject)
            .into_iter()
            .filter(|(tier, rule)| *tier == TierId::CiliumDeny && rule.action == Action::Deny)
            .map(|(_, rule)| rule.rule.origin)
            .collect();
        denies.dedup();
        for deny in denies {
            let Some(deny_rule) = rule_at(cluster, deny) else { continue };
            // The peers the deny can cut: the pods its peers match (everyone's, when it names none), and the
            // outside addresses where it names any.
            let mut peers: Vec<Endpoint> = match analysis.peer_count(deny) {
                None => pods.clone(),
                Some(count) => {
                    let mut matched: Vec<Endpoint> = (0..count).flat_map(|i| analysis.peer_pods(deny, i)).collect();
                    matched.sort_by_key(|e| match e {
                        Endpoint::Pod { workload, pod } => (*workload, *pod),
                        Endpoint::Address(_) => (usize::MAX, 0),
                    });
                    matched.dedup_by_key(|e| match e {
                        Endpoint::Pod { workload, .. } => *workload,
                        Endpoint::Address(_) => usize::MAX,
                    });
                    matched
                }
            };
            let addresses = deny_rule.rule.peer_field.is_none()
                || deny_rule.rule.peers.iter().any(|peer| {
                    matches!(
                        peer.selection,
                        CiliumPeerSelection::Cidr(_)
                            | CiliumPeerSelection::Entity(
                                CiliumEntity::World
                                    | CiliumEntity::WorldIpv4
                                    | CiliumEntity::WorldIpv6
                                    | CiliumEntity::All
                            )
                    )
                });
            if addresses {
                peers.extend(outside.iter().copied());
            }
            for peer in peers {
                let (src, dst) = match deny.direction {
                    Direction::Egress => (subject, peer),
                    Direction::Ingress => (peer, subject),
                };
                if src == dst {
                    continue;
                }
                let explanation = analysis.explain(src, dst);
                let side = match deny.direction {
                    Direction::Egress => &explanation.egress,
                    Direction::Ingress => &explanation.ingress,
                };
                let mut denied = PortSet::empty();
                for hit in side.hits(TierId::CiliumDeny).iter().filter(|hit| hit.origin == deny) {
                    denied.union_with(&hit.ports);
                }
                if denied.is_empty() {
                    continue;
                }
                // The union tier records every allow rule that matches, with all the ports it allows, also the
                // ports an earlier deny took.
                for hit in side.hits(TierId::NetworkPolicy).iter().filter(|hit| hit.action == Action::Allow) {
                    let cut = hit.ports.intersection(&denied);
                    if cut.is_empty() || !reported.insert((hit.origin, deny)) {
                        continue;
                    }
                    let Some((resource, location, allow)) = allow_words(ctx, hit.origin) else { continue };
                    let deny_words = format!(
                        "{} of {} ({}:{})",
                        deny_rule.field(deny.direction),
                        deny_rule.policy.display_name(),
                        deny_rule.policy.location.file,
                        deny_rule.rule.line
                    );
                    out.push(
                        Finding::new(&RULE, resource, Some(location))
                            .message(format!(
                                "{allow} allows {} → {} on {cut}, but {deny_words} denies it: Cilium's deny rules \
                                 win over every allow, so this allow is dead there",
                                endpoint_words(ctx, src),
                                endpoint_words(ctx, dst),
                            ))
                            .evidence(format!("allow: {allow}; deny: {deny_words}"))
                            .remediation(
                                "remove the allow, or narrow the deny rule so that it leaves out what the allow is \
                                 meant for",
                            ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use netseg_engine::NetworkChoice;

    const DENY: &str = "---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: no-redis}
spec:
  endpointSelector: {matchLabels: {app: redis}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: '6379', protocol: TCP}]}]
";

    fn cilium() -> NetworkChoice {
        NetworkChoice { cni: Some("cilium".into()), ..NetworkChoice::default() }
    }

    #[test]
    fn an_allow_that_a_deny_cuts_fails_naming_both_rules() {
        let allow = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: redis}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 6379}]}]
";
        let report = audit_yaml_choosing(&format!("{FLAT}{DENY}{allow}"), &cilium());
        assert_eq!(names(&report, "NS186"), ["shop/redis-from-web"]);
        let finding = of(&report, "NS186")[0];
        assert!(finding.message.contains("ingress rule 0 of NetworkPolicy shop/redis-from-web"), "{}", finding.message);
        assert!(
            finding.message.contains("spec.ingressDeny[0] of CiliumClusterwideNetworkPolicy no-redis (test.yaml:"),
            "{}",
            finding.message
        );
        assert!(finding.message.contains("shop/web[Deployment] → shop/redis[Deployment] on TCP 6379"));
        // A Cilium allow is cut the same way.
        let cilium_allow = "---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: redis, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: redis}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]
";
        let report = audit_yaml_choosing(&format!("{FLAT}{DENY}{cilium_allow}"), &cilium());
        assert_eq!(names(&report, "NS186"), ["shop/redis"]);
    }

    #[test]
    fn an_allow_the_deny_leaves_alone_passes_and_inert_policies_are_not_judged() {
        let other_port = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-admin, namespace: shop}
spec:
  podSelector: {matchLabels: {app: redis}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 16379}]}]
";
        assert!(names(&audit_yaml_choosing(&format!("{FLAT}{DENY}{other_port}"), &cilium()), "NS186").is_empty());
        let allow = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: redis}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
";
        let calico = NetworkChoice { cni: Some("calico".into()), ..NetworkChoice::default() };
        assert!(names(&audit_yaml_choosing(&format!("{FLAT}{DENY}{allow}"), &calico), "NS186").is_empty());
    }

    #[test]
    fn an_egress_deny_to_an_address_cuts_an_ip_block_allow() {
        let text = format!(
            "{FLAT}---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {{name: no-metadata}}
spec:
  endpointSelector: {{}}
  egressDeny: [{{toCIDR: [169.254.169.254/32]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  policyTypes: [Egress]
  egress: [{{to: [{{ipBlock: {{cidr: 169.254.0.0/16}}}}]}}]
"
        );
        let report = audit_yaml_choosing(&text, &cilium());
        assert_eq!(names(&report, "NS186"), ["shop/web"]);
        assert!(of(&report, "NS186")[0].message.contains("→ 169.254.169.254"), "{}", of(&report, "NS186")[0].message);
    }
}
