//! Semantics tests: each pins one rule of networking.k8s.io/v1 and fails if the engine gets it wrong.

use super::*;
use netseg_model::{load_bytes, Inventory, Protocol::*};
use std::sync::Arc;

/// A cluster from YAML text that must load without errors (shared by the engine's unit tests).
pub(crate) fn cluster(text: &str) -> Cluster {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
    assert!(!inventory.has_errors(), "{:?}", inventory.diagnostics);
    Cluster::from_inventory(inventory)
}

/// The first pod of the workload named `name`.
pub(crate) fn pod(cluster: &Cluster, name: &str) -> Endpoint {
    let workload = cluster.workloads.iter().position(|w| w.id.name == name).expect("workload in fixture");
    Endpoint::Pod { workload, pod: 0 }
}

fn ip(text: &str) -> Endpoint {
    Endpoint::Address(text.parse().expect("ip"))
}

const PODS: &str = "
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web}}
spec:
  containers:
  - ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]
---
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
---
kind: Pod
metadata: {name: other, namespace: b, labels: {app: client}}
";

fn with(policy: &str) -> Cluster {
    cluster(&format!("{PODS}---\nkind: Namespace\nmetadata: {{name: b, labels: {{team: x}}}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n{policy}"))
}

#[test]
fn no_policy_allows_everything() {
    let c = cluster(PODS);
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_all());
    assert!(a.allowed(pod(&c, "web"), ip("8.8.8.8")).is_all());
}

#[test]
fn default_deny_ingress_isolates_only_ingress() {
    let c = with("metadata: {name: deny, namespace: a}\nspec: {podSelector: {}}\n");
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
    assert!(a.allowed(pod(&c, "web"), ip("8.8.8.8")).is_all(), "egress is not isolated by an ingress-only policy");
    assert!(a.allowed(pod(&c, "web"), pod(&c, "web")).is_all(), "a pod can always reach itself");
}

#[test]
fn policy_types_default_to_egress_only_with_egress_rules() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress:\n  - ports: [{port: 443}]\n");
    let a = Analysis::new(&c);
    assert_eq!(a.allowed(pod(&c, "web"), ip("1.1.1.1")), PortSet::single(Tcp, 443));
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_empty(), "Ingress is always in the default policyTypes");
}

#[test]
fn rules_outside_policy_types_are_ignored() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  ingress:\n  - {}\n  egress:\n  - to: [{podSelector: {}}]\n");
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_all());
    assert!(a.allowed(pod(&c, "web"), ip("1.1.1.1")).is_empty());
}

#[test]
fn named_ports_resolve_on_the_destination_with_matching_protocol() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: http}, {port: dns}, {port: dns, protocol: UDP}]\n");
    let a = Analysis::new(&c);
    // `dns` with the default protocol TCP does not match the UDP container port.
    assert_eq!(a.allowed(pod(&c, "client"), pod(&c, "web")), PortSet::from_ranges(&[(Tcp, 8080, 8080), (Udp, 53, 53)]));
}

#[test]
fn named_egress_ports_mean_nothing_toward_addresses() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  egress:\n  - ports: [{port: http}]\n");
    let a = Analysis::new(&c);
    assert_eq!(a.allowed(pod(&c, "client"), pod(&c, "web")), PortSet::single(Tcp, 8080));
    assert!(a.allowed(pod(&c, "client"), ip("1.1.1.1")).is_empty());
}

#[test]
fn end_port_and_sctp_and_protocol_only_ports() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 8000, endPort: 8010}, {protocol: SCTP, port: 9}, {protocol: UDP}]\n");
    let a = Analysis::new(&c);
    assert_eq!(
        a.allowed(pod(&c, "client"), pod(&c, "web")),
        PortSet::from_ranges(&[(Tcp, 8000, 8010), (Sctp, 9, 9), (Udp, 1, 65535)])
    );
}

#[test]
fn empty_namespace_selector_means_all_namespaces_missing_means_own() {
    let own = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: client}}}]\n");
    let a = Analysis::new(&own);
    assert!(a.allowed(pod(&own, "client"), pod(&own, "web")).is_all());
    assert!(a.allowed(pod(&own, "other"), pod(&own, "web")).is_empty());

    let all = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}]\n");
    let a = Analysis::new(&all);
    assert!(a.allowed(pod(&all, "other"), pod(&all, "web")).is_all());
    assert!(a.allowed(ip("1.2.3.4"), pod(&all, "web")).is_empty(), "selectors never match addresses");
}

#[test]
fn namespace_and_pod_selector_in_one_peer_are_anded_peers_are_ored() {
    let anded = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: x}}, podSelector: {matchLabels: {app: nope}}}]\n");
    let a = Analysis::new(&anded);
    assert!(a.allowed(pod(&anded, "other"), pod(&anded, "web")).is_empty());
    let ored = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: x}}}, {podSelector: {matchLabels: {app: nope}}}]\n");
    let a = Analysis::new(&ored);
    assert!(a.allowed(pod(&ored, "other"), pod(&ored, "web")).is_all());
}

#[test]
fn empty_pod_selector_selects_all_but_missing_peers_mean_everyone() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {}}]\n");
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_all());
    assert!(a.allowed(ip("1.2.3.4"), pod(&c, "web")).is_empty());
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 80}]\n");
    let a = Analysis::new(&c);
    assert_eq!(a.allowed(ip("1.2.3.4"), pod(&c, "web")), PortSet::single(Tcp, 80));
}

#[test]
fn ip_blocks_with_except_in_both_families() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  egress:\n  - to:\n    - ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}\n    - ipBlock: {cidr: 'fd00::/8', except: ['fd00:ec2::254/128']}\n");
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), ip("8.8.8.8")).is_all());
    assert!(a.allowed(pod(&c, "client"), ip("169.254.169.254")).is_empty());
    assert!(a.allowed(pod(&c, "client"), ip("fd00::1")).is_all());
    assert!(a.allowed(pod(&c, "client"), ip("fd00:ec2::254")).is_empty());
    assert!(a.allowed(pod(&c, "client"), ip("2001:db8::1")).is_empty());
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_empty(), "pods without known IPs never match ipBlocks");
}

#[test]
fn ip_blocks_match_pods_by_their_ips() {
    let c = cluster(
        "kind: Pod\nmetadata: {name: web, namespace: a, labels: {app: web}}\nstatus: {podIP: 10.0.0.5}\n---\n\
         kind: Pod\nmetadata: {name: client, namespace: a}\nstatus: {podIPs: [{ip: 10.0.1.7}]}\n---\n\
         kind: Pod\nmetadata: {name: far, namespace: a}\nstatus: {podIP: 10.9.0.1}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\n\
         spec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16}}]\n",
    );
    let a = Analysis::new(&c);
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_all());
    assert!(a.allowed(pod(&c, "far"), pod(&c, "web")).is_empty());
}

#[test]
fn cilium_semantics_do_not_match_pods_with_ip_blocks() {
    let c = cluster(
        "kind: Pod\nmetadata: {name: web, namespace: a, labels: {app: web}}\nstatus: {podIP: 10.0.0.5}\n---\n\
         kind: Pod\nmetadata: {name: client, namespace: a}\nstatus: {podIP: 10.0.1.7}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\n\
         spec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16}}]\n",
    );
    let a = Analysis::with_options(&c, &EngineOptions { ip_blocks_match_pods: false, ..EngineOptions::default() });
    assert!(a.allowed(pod(&c, "client"), pod(&c, "web")).is_empty());
    assert!(a.allowed(ip("10.0.1.7"), pod(&c, "web")).is_all(), "addresses still match");
}

#[test]
fn host_network_pods_are_outside_every_policy() {
    let c = cluster(
        "kind: Pod\nmetadata: {name: node-agent, namespace: a, labels: {app: web}}\nspec: {hostNetwork: true}\n---\n\
         kind: Pod\nmetadata: {name: client, namespace: a, labels: {app: client}}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\n\
         spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from: [{podSelector: {}}]\n  egress:\n  - to: [{podSelector: {}}]\n",
    );
    let a = Analysis::new(&c);
    // Not selected: its own ingress and egress are open.
    assert!(a.allowed(ip("1.2.3.4"), pod(&c, "node-agent")).is_all());
    // Not matched by `podSelector: {}` as a peer on either side.
    assert!(a.allowed(pod(&c, "client"), pod(&c, "node-agent")).is_empty());
    assert!(a.allowed(pod(&c, "node-agent"), pod(&c, "client")).is_empty());
    let explanation = a.explain(pod(&c, "node-agent"), pod(&c, "client"));
    assert!(explanation.egress.host_network);
    assert!(explanation.egress.isolating().is_empty());
}

#[test]
fn explain_names_the_rule_and_peer() {
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: nope}}}]\n  - from: [{ipBlock: {cidr: 1.0.0.0/8}}, {podSelector: {matchLabels: {app: client}}}]\n    ports: [{port: http}]\n");
    let a = Analysis::new(&c);
    let explanation = a.explain(pod(&c, "client"), pod(&c, "web"));
    assert_eq!(explanation.ingress.isolating(), vec![0]);
    assert_eq!(explanation.ingress.hits(TierId::NetworkPolicy).len(), 1);
    let hit = &explanation.ingress.hits(TierId::NetworkPolicy)[0];
    assert_eq!((hit.origin.rule, hit.peer), (1, Some(1)));
    assert_eq!(hit.ports, PortSet::single(Tcp, 8080));
    assert!(explanation.egress.isolating().is_empty());
    assert_eq!(explanation.allowed, PortSet::single(Tcp, 8080));
}

#[test]
fn ordered_tiers_decide_first_match_and_pass_hands_over() {
    use rules::{CompiledRule, CompiledTier, PolicyKind, PortMatch, TierPolicy, TierRule};
    let c = with("metadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 80}, {port: 81}]\n");
    let mut a = Analysis::new(&c);
    let everyone = Arc::new({
        let mut set = a.classes.empty_set();
        set.insert_range(..);
        set
    });
    let rule = |ports: PortSet, action: Action| TierRule {
        action,
        rule: CompiledRule {
            origin: RuleOrigin { kind: PolicyKind::Admin, policy: 0, direction: Direction::Ingress, rule: 0 },
            peers: None,
            ports: PortMatch::new(ports, Vec::new()),
            condition: None,
        },
    };
    let policy = |rules: Vec<TierRule>| TierPolicy {
        kind: PolicyKind::Admin,
        index: 0,
        subjects: everyone.clone(),
        applies: [true, true],
        rules,
    };
    let admin = policy(vec![
        rule(PortSet::single(Tcp, 22), Action::Allow),
        rule(PortSet::from_ranges(&[(Tcp, 22, 80)]), Action::Deny),
        rule(PortSet::single(Tcp, 81), Action::Pass),
    ]);
    let classes = a.classes.len();
    a.tiers[0] = CompiledTier::new(TierId::Admin, vec![admin], classes, Action::Pass, false);
    let baseline = policy(vec![rule(PortSet::protocol(Udp), Action::Deny)]);
    a.tiers[2] = CompiledTier::new(TierId::Baseline, vec![baseline], classes, Action::Pass, false);
    // 22 allowed by admin despite the later deny; 80 denied by admin despite the NetworkPolicy; 81 passed to the
    // NetworkPolicy, which allows it; everything else the NetworkPolicy does not allow.
    assert_eq!(a.allowed(pod(&c, "client"), pod(&c, "web")), PortSet::from_ranges(&[(Tcp, 22, 22), (Tcp, 81, 81)]));
    // `client` is not isolated by any NetworkPolicy: baseline denies UDP, the default allows the rest.
    let open = a.allowed(pod(&c, "web"), pod(&c, "client"));
    assert!(!open.contains(Udp, 53));
    assert!(open.contains(Sctp, 53));
    assert!(!open.contains(Tcp, 80), "admin deny applies before everything");
}

#[test]
fn the_name_index_resolves_what_the_scan_resolves() {
    let c = cluster(concat!(
        "kind: Deployment\nmetadata: {name: web, namespace: a}\nspec: {template: {metadata: {labels: {app: web}}}}\n---\n",
        "kind: Pod\nmetadata: {name: web-x, namespace: a, ownerReferences: [{kind: Deployment, name: web, controller: true}]}\nstatus: {podIP: 10.0.0.5}\n---\n",
        "kind: Pod\nmetadata: {name: web-x, namespace: b}\nstatus: {podIP: 10.0.0.6}\n---\n",
        "kind: Deployment\nmetadata: {name: web, namespace: b}\nspec: {template: {metadata: {labels: {app: web}}}}\n",
    ));
    let index = query::Resolver::new(&c);
    for name in
        ["a/web", "web", "web-x", "a/web-x", "b/web-x[Pod]", "10.0.0.5", "10.0.0.6", "192.0.2.1", "nope", "b/web"]
    {
        assert_eq!(index.resolve(name), query::resolve(&c, name), "{name}");
    }
    assert!(matches!(index.resolve("web"), Err(query::QueryError::Ambiguous(..))));
}
