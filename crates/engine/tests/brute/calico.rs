//! A brute-force evaluator of Calico's policy model, written from Calico's documented semantics as plainly as
//! possible and sharing nothing with the engine but the model types (and the model's selector evaluation): for one
//! pair and one port it walks the tiers by order, each tier's policies by order then name, their rules in order,
//! and decides with the first Allow, Deny or Pass; a tier that selects the endpoint and decides nothing applies
//! its default action; an endpoint no tier decides for is allowed by its profile.
//!
//! It covers what the generator of `calico_brute_force.rs` produces: Calico policies with selectors, namespace
//! selectors, service accounts, nets, ports and protocols, GlobalNetworkSets, and Kubernetes NetworkPolicies whose
//! peers are pod selectors in their own namespace.

use netseg_model::calico::*;
use netseg_model::calico_selector::CalicoSelector;
use netseg_model::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Pod(usize),
    Address(IpAddr),
}

/// A flattened pod: namespace, labels, service account, IPs, ports.
pub struct PodView<'c> {
    pub namespace: &'c str,
    pub facts: &'c PodFacts,
}

pub fn pods(cluster: &Cluster) -> Vec<PodView<'_>> {
    cluster
        .workloads
        .iter()
        .flat_map(|w| w.pods.iter().map(move |p| PodView { namespace: &w.id.namespace, facts: &p.facts }))
        .collect()
}

fn account<'c>(pod: &PodView<'c>) -> &'c str {
    pod.facts.service_account.as_deref().filter(|s| !s.is_empty()).unwrap_or("default")
}

/// The model's shared label strings as plain ones, which this evaluator adds its own labels to.
fn owned(labels: &netseg_model::Labels) -> BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn namespace_labels(cluster: &Cluster, name: &str) -> BTreeMap<String, String> {
    let mut labels = cluster.namespaces.iter().find(|n| n.name == name).map(|n| owned(&n.labels)).unwrap_or_default();
    labels.insert("projectcalico.org/name".into(), name.into());
    labels
}

fn account_labels(cluster: &Cluster, namespace: &str, name: &str) -> BTreeMap<String, String> {
    let mut labels = cluster
        .service_accounts
        .iter()
        .find(|sa| sa.namespace == namespace && sa.name == name)
        .map(|sa| owned(&sa.labels))
        .unwrap_or_default();
    labels.insert("projectcalico.org/name".into(), name.into());
    labels
}

/// Every label Calico gives a workload endpoint.
pub fn pod_labels(cluster: &Cluster, pod: &PodView<'_>) -> BTreeMap<String, String> {
    let mut labels = owned(&pod.facts.labels);
    for (k, v) in namespace_labels(cluster, pod.namespace) {
        labels.insert(format!("pcns.{k}"), v);
    }
    for (k, v) in account_labels(cluster, pod.namespace, account(pod)) {
        labels.insert(format!("pcsa.{k}"), v);
    }
    labels.insert("projectcalico.org/namespace".into(), pod.namespace.into());
    labels.insert("projectcalico.org/orchestrator".into(), "k8s".into());
    labels.insert("projectcalico.org/serviceaccount".into(), account(pod).into());
    labels
}

fn set_labels(cluster: &Cluster, set: &NetworkSet) -> BTreeMap<String, String> {
    let mut labels = owned(&set.labels);
    if let Some(namespace) = &set.namespace {
        for (k, v) in namespace_labels(cluster, namespace) {
            labels.insert(format!("pcns.{k}"), v);
        }
        labels.insert("projectcalico.org/namespace".into(), namespace.clone());
    }
    labels
}

fn matches(selector: &CalicoSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches(|key| labels.get(key).map(String::as_str))
}

fn in_cidr(cidr: &Cidr, addr: IpAddr) -> bool {
    match (cidr.network, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if cidr.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(cidr.prefix)) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if cidr.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(cidr.prefix)) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn end_ips(cluster: &Cluster, end: End) -> Vec<IpAddr> {
    match end {
        End::Pod(i) => pods(cluster)[i].facts.ips.clone(),
        End::Address(addr) => vec![addr],
    }
}

/// Whether a namespaced or global thing is in the scope a rule gives its selector.
fn in_scope(cluster: &Cluster, entity: &EntityRule, policy_namespace: Option<&str>, namespace: Option<&str>) -> bool {
    match (&entity.namespace_selector, namespace) {
        (Some(selector), None) => selector.is_global(),
        (Some(selector), Some(ns)) => {
            !selector.is_global() && (selector.is_all() || matches(selector, &namespace_labels(cluster, ns)))
        }
        (None, Some(ns)) => policy_namespace.is_none_or(|p| p == ns),
        (None, None) => policy_namespace.is_none(),
    }
}

/// Whether `selector` (scoped or not) picks the end: the pod itself, or a network set holding its address.
fn picks(
    cluster: &Cluster,
    end: End,
    selector: &CalicoSelector,
    scope: Option<(&EntityRule, Option<&str>)>,
    accounts: Option<&ServiceAccountMatch>,
) -> bool {
    if let End::Pod(i) = end {
        let pod = &pods(cluster)[i];
        let scoped = scope.is_none_or(|(e, p)| in_scope(cluster, e, p, Some(pod.namespace)));
        let by_account = accounts.is_none_or(|m| {
            (m.names.is_empty() || m.names.iter().any(|n| n == account(pod)))
                && m.selector.as_ref().is_none_or(|s| matches(s, &account_labels(cluster, pod.namespace, account(pod))))
        });
        if scoped && by_account && matches(selector, &pod_labels(cluster, pod)) {
            return true;
        }
    }
    if accounts.is_some() {
        return false;
    }
    let ips = end_ips(cluster, end);
    cluster.calico.network_sets.iter().any(|set| {
        scope.is_none_or(|(e, p)| in_scope(cluster, e, p, set.namespace.as_deref()))
            && matches(selector, &set_labels(cluster, set))
            && set.nets.iter().any(|net| ips.iter().any(|ip| in_cidr(net, *ip)))
    })
}

fn entity_matches(cluster: &Cluster, entity: &EntityRule, policy_namespace: Option<&str>, end: End) -> bool {
    // Only a rule with something positive to match (a selector, service accounts, or a namespace scope: a
    // namespaceSelector, or a namespaced policy's own namespace) is limited to what it picks; a global policy's
    // `notSelector` alone also matches addresses outside every endpoint.
    let positive = entity.selector.is_some()
        || entity.namespace_selector.is_some()
        || entity.service_accounts.is_some()
        || (entity.not_selector.is_some() && policy_namespace.is_some());
    if positive {
        let all = CalicoSelector::all();
        let selector = entity.selector.as_ref().unwrap_or(&all);
        if !picks(cluster, end, selector, Some((entity, policy_namespace)), entity.service_accounts.as_ref()) {
            return false;
        }
    }
    if let Some(not) = &entity.not_selector {
        if picks(cluster, end, not, None, None) {
            return false;
        }
    }
    let ips = end_ips(cluster, end);
    if !entity.nets.is_empty() && !entity.nets.iter().any(|n| ips.iter().any(|ip| in_cidr(n, *ip))) {
        return false;
    }
    !entity.not_nets.iter().any(|n| ips.iter().any(|ip| in_cidr(n, *ip)))
}

fn port_listed(
    ports: &[CalicoPort],
    protocol: Protocol,
    port: u16,
    named: Option<Protocol>,
    dst: Option<&PodFacts>,
) -> bool {
    ports.iter().any(|p| match p {
        CalicoPort::Range(lo, hi) => (*lo..=*hi).contains(&port),
        CalicoPort::Named(name) => dst.is_some_and(|facts| {
            facts.ports.iter().any(|c| {
                c.name.as_deref() == Some(name.as_str())
                    && c.port == port
                    && c.protocol == protocol
                    && named.is_none_or(|n| n == protocol)
            })
        }),
    })
}

#[allow(clippy::too_many_arguments)]
fn calico_rule_matches(
    cluster: &Cluster,
    policy: &CalicoPolicy,
    rule: &CalicoRule,
    direction: Direction,
    subject: End,
    other: End,
    protocol: Protocol,
    port: u16,
) -> bool {
    let named = match rule.protocol {
        Some(CalicoProtocol::Ported(p)) if p != protocol => return false,
        Some(CalicoProtocol::Other(_)) => return false,
        Some(CalicoProtocol::Ported(p)) => Some(p),
        None => None,
    };
    if rule.not_protocol == Some(CalicoProtocol::Ported(protocol)) {
        return false;
    }
    let (source, destination) = match direction {
        Direction::Ingress => (other, subject),
        Direction::Egress => (subject, other),
    };
    let all = pods(cluster);
    let dst_facts = match destination {
        End::Pod(i) => Some(all[i].facts),
        End::Address(_) => None,
    };
    if !rule.destination.ports.is_empty() && !port_listed(&rule.destination.ports, protocol, port, named, dst_facts) {
        return false;
    }
    if port_listed(&rule.destination.not_ports, protocol, port, named, dst_facts) {
        return false;
    }
    let namespace = policy.namespace.as_deref();
    entity_matches(cluster, &rule.source, namespace, source)
        && entity_matches(cluster, &rule.destination, namespace, destination)
}

fn calico_selects(cluster: &Cluster, policy: &CalicoPolicy, pod: &PodView<'_>) -> bool {
    if pod.facts.host_network {
        return false;
    }
    if policy.namespace.as_deref().is_some_and(|ns| ns != pod.namespace) {
        return false;
    }
    if let Some(selector) = &policy.namespace_selector {
        if !(selector.is_all() || matches(selector, &namespace_labels(cluster, pod.namespace))) {
            return false;
        }
    }
    if let Some(selector) = &policy.service_account_selector {
        if !matches(selector, &account_labels(cluster, pod.namespace, account(pod))) {
            return false;
        }
    }
    matches(&policy.selector, &pod_labels(cluster, pod))
}

/// A Kubernetes NetworkPolicy of the generated shape: match labels only, peers in its own namespace.
fn k8s_selects(policy: &NetworkPolicy, pod: &PodView<'_>) -> bool {
    !pod.facts.host_network
        && policy.namespace == pod.namespace
        && policy.pod_selector.match_labels.iter().all(|(k, v)| pod.facts.labels.get(k) == Some(v))
}

fn k8s_rule_allows(
    cluster: &Cluster,
    policy: &NetworkPolicy,
    rule: &PolicyRule,
    other: End,
    protocol: Protocol,
    port: u16,
) -> bool {
    let port_ok = rule.ports.is_empty()
        || rule.ports.iter().any(|p| {
            p.protocol == protocol
                && match &p.port {
                    None => true,
                    Some(PortRef::Number(n)) => *n == port,
                    Some(PortRef::Name(_)) => false,
                }
        });
    let peer_ok = rule.peers.is_empty()
        || rule.peers.iter().any(|peer| match (&peer.selector, other) {
            (PeerSelector::Pods { namespaces: None, pods: selector }, End::Pod(i)) => {
                let pod = &pods(cluster)[i];
                !pod.facts.host_network
                    && pod.namespace == policy.namespace
                    && selector
                        .as_ref()
                        .is_none_or(|s| s.match_labels.iter().all(|(k, v)| pod.facts.labels.get(k) == Some(v)))
            }
            _ => false,
        });
    port_ok && peer_ok
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Allow,
    Deny,
    Pass,
}

/// One policy of a tier as the walk sees it.
struct Entry<'c> {
    order: Option<f64>,
    name: String,
    decide: Box<dyn Fn() -> Option<Outcome> + 'c>,
}

fn side(cluster: &Cluster, subject: usize, other: End, direction: Direction, protocol: Protocol, port: u16) -> bool {
    let all = pods(cluster);
    let pod = &all[subject];
    if pod.facts.host_network {
        return true;
    }
    // Tiers: (order, name, default action is Pass).
    let mut tiers: Vec<(Option<f64>, String, bool)> = vec![(Some(1_000_000.0), "default".into(), false)];
    for tier in &cluster.calico.tiers {
        if tier.name != "default" {
            tiers.push((tier.order, tier.name.clone(), tier.default_action == TierDefault::Pass));
        }
    }
    let key = |o: Option<f64>| (o.is_none(), o.unwrap_or(0.0));
    tiers.sort_by(|a, b| key(a.0).partial_cmp(&key(b.0)).expect("no NaN").then(a.1.cmp(&b.1)));
    for (_, tier, passes) in tiers {
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for policy in cluster.calico.policies.iter().filter(|p| p.enforced() && p.tier == tier) {
            if !policy.applies_to(direction) || !calico_selects(cluster, policy, pod) {
                continue;
            }
            entries.push(Entry {
                order: policy.order,
                name: policy.name.clone(),
                decide: Box::new(move || {
                    for rule in policy.rules(direction) {
                        if calico_rule_matches(
                            cluster,
                            policy,
                            rule,
                            direction,
                            End::Pod(subject),
                            other,
                            protocol,
                            port,
                        ) {
                            match rule.action {
                                CalicoAction::Allow => return Some(Outcome::Allow),
                                CalicoAction::Deny => return Some(Outcome::Deny),
                                CalicoAction::Pass => return Some(Outcome::Pass),
                                CalicoAction::Log => {}
                            }
                        }
                    }
                    None
                }),
            });
        }
        if tier == "default" {
            for policy in &cluster.policies {
                if !policy.applies_to(direction) || !k8s_selects(policy, pod) {
                    continue;
                }
                entries.push(Entry {
                    order: Some(1000.0),
                    name: format!("knp.default.{}", policy.name),
                    decide: Box::new(move || {
                        policy
                            .rules(direction)
                            .iter()
                            .any(|rule| k8s_rule_allows(cluster, policy, rule, other, protocol, port))
                            .then_some(Outcome::Allow)
                    }),
                });
            }
        }
        if entries.is_empty() {
            continue;
        }
        entries.sort_by(|a, b| key(a.order).partial_cmp(&key(b.order)).expect("no NaN").then(a.name.cmp(&b.name)));
        let mut outcome = None;
        for entry in &entries {
            if let Some(decided) = (entry.decide)() {
                outcome = Some(decided);
                break;
            }
        }
        match outcome {
            Some(Outcome::Allow) => return true,
            Some(Outcome::Deny) => return false,
            Some(Outcome::Pass) => continue,
            None if passes => continue,
            None => return false,
        }
    }
    true
}

/// Whether `src` may send to `dst` on one port: the source's egress and the destination's ingress.
pub fn calico_allowed(cluster: &Cluster, src: End, dst: End, protocol: Protocol, port: u16) -> bool {
    if src == dst {
        return true;
    }
    let egress = match src {
        End::Pod(i) => side(cluster, i, dst, Direction::Egress, protocol, port),
        End::Address(_) => true,
    };
    let ingress = match dst {
        End::Pod(i) => side(cluster, i, src, Direction::Ingress, protocol, port),
        End::Address(_) => true,
    };
    egress && ingress
}
