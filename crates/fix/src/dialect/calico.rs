//! `--dialect calico`: one GlobalNetworkPolicy for the default-deny, DNS and the metadata block, and a Calico
//! NetworkPolicy (`projectcalico.org/v3`) per workload and direction, in the `default` tier.
//!
//! How Calico evaluates them: the default tier holds the Kubernetes NetworkPolicies (order 1000) and every Calico
//! policy without `spec.tier`; policies go by `order`, an Allow or Deny rule ends the walk, and an endpoint that a
//! policy of the tier selects but no rule matches is denied at the end of the tier. So the GlobalNetworkPolicy
//! needs no catch-all rule: selecting the pods of the covered namespaces for Ingress and Egress is the default-deny.
//! It comes at order 100, before the Kubernetes policies: its Deny of the metadata endpoints wins over any later
//! allow (an input's `egress: [{}]` included), and its DNS Allow over any later Deny. The per-workload policies
//! sit at order 1000, where Kubernetes NetworkPolicies sit, so they mean what the Kubernetes output means.

use super::{metadata, metadata_blocks, role, Names, Role, WrittenObject};
use crate::generate::{block_without_metadata, DnsTarget, Plan};
use crate::manifest::{GeneratedPolicy, GeneratedRule};
use netseg_engine::PortSet;
use netseg_model::calico::{CalicoPolicyKind, NAME_LABEL};
use netseg_model::{Cidr, Cluster, Direction, IpBlock, LabelSelector, Operator, PeerSelector, Protocol};

pub const API_VERSION: &str = "projectcalico.org/v3";
/// Before the Kubernetes NetworkPolicies (1000), leaving 0-99 for what must come before the generated policies.
pub const DEFAULT_DENY_ORDER: u32 = 100;
/// Where Calico puts every Kubernetes NetworkPolicy.
pub const WORKLOAD_ORDER: u32 = 1000;
pub const DEFAULT_DENY_NAME: &str = "netseg-default-deny";

/// A label value or a namespace name in a selector, single-quoted (label values never hold quotes).
fn quoted(value: &str) -> String {
    if value.contains('\'') {
        format!("\"{value}\"")
    } else {
        format!("'{value}'")
    }
}

/// A Kubernetes label selector in Calico's selector language: `app == 'web' && tier in {'a', 'b'}`; empty is
/// `all()`.
pub fn selector(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector.match_labels.iter().map(|(k, v)| format!("{k} == {}", quoted(v))).collect();
    for requirement in &selector.match_expressions {
        let values: Vec<String> = requirement.values.iter().map(|v| quoted(v)).collect();
        let key = &requirement.key;
        terms.push(match requirement.operator {
            Operator::In => format!("{key} in {{{}}}", values.join(", ")),
            Operator::NotIn => format!("{key} not in {{{}}}", values.join(", ")),
            Operator::Exists => format!("has({key})"),
            Operator::DoesNotExist => format!("!has({key})"),
        });
    }
    if terms.is_empty() {
        "all()".into()
    } else {
        terms.join(" && ")
    }
}

/// A string YAML reads as a string whatever it holds (JSON string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A policy name Calico accepts: a DNS label (no dots: a dot would read as a tier prefix), short enough for the
/// `netseg-` prefix and a counter.
fn calico_name(base: &str) -> String {
    let mut name: String =
        base.chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' }).collect();
    name.truncate(50);
    let name = name.trim_matches('-');
    if name.is_empty() {
        "policy".into()
    } else {
        name.to_string()
    }
}

/// The fields of a rule's `source` or `destination` that say which endpoints or addresses, at `indent`.
fn peer_fields(peer: Option<&PeerSelector>, indent: &str) -> Vec<String> {
    match peer {
        None => Vec::new(),
        Some(PeerSelector::Pods { namespaces, pods }) => {
            let mut fields = Vec::new();
            match (namespaces, pods) {
                (None, pods) => fields.push(format!(
                    "{indent}selector: {}",
                    yaml_string(&selector(pods.as_ref().unwrap_or(&LabelSelector::default())))
                )),
                (Some(namespaces), pods) => {
                    if let Some(pods) = pods {
                        fields.push(format!("{indent}selector: {}", yaml_string(&selector(pods))));
                    }
                    fields.push(format!("{indent}namespaceSelector: {}", yaml_string(&selector(namespaces))));
                }
            }
            fields
        }
        Some(PeerSelector::IpBlock(IpBlock { cidr, except })) => {
            let mut fields = vec![format!("{indent}nets: [{cidr}]")];
            if !except.is_empty() {
                let except: Vec<String> = except.iter().map(ToString::to_string).collect();
                fields.push(format!("{indent}notNets: [{}]", except.join(", ")));
            }
            fields
        }
    }
}

/// `ports:` of one protocol's ranges: `53`, `"1000:2000"`.
fn ports_field(ranges: &[(u16, u16)], indent: &str) -> String {
    let ports: Vec<String> =
        ranges.iter().map(|&(s, e)| if s == e { s.to_string() } else { format!("\"{s}:{e}\"") }).collect();
    format!("{indent}ports: [{}]", ports.join(", "))
}

/// One Calico rule: `action`, `protocol`, then `source` and `destination`.
struct Rule {
    action: &'static str,
    protocol: Option<Protocol>,
    source: Vec<String>,
    destination: Vec<String>,
}

impl Rule {
    fn yaml(&self) -> String {
        let mut out = format!("  - action: {}\n", self.action);
        if let Some(protocol) = self.protocol {
            out.push_str(&format!("    protocol: {protocol}\n"));
        }
        for (key, fields) in [("source", &self.source), ("destination", &self.destination)] {
            if !fields.is_empty() {
                out.push_str(&format!("    {key}:\n"));
                for field in fields {
                    out.push_str(&format!("{field}\n"));
                }
            }
        }
        out
    }
}

/// An Allow rule per peer and protocol: Calico's rules name one protocol (ports need one) and one source or
/// destination.
fn allow_rules(direction: Direction, rule: &GeneratedRule) -> Vec<Rule> {
    let peers: Vec<Option<&PeerSelector>> =
        if rule.peers.is_empty() { vec![None] } else { rule.peers.iter().map(Some).collect() };
    let mut out = Vec::new();
    for peer in peers {
        for protocol in Protocol::ALL {
            let ranges = rule.ports.ranges(protocol);
            if ranges.is_empty() {
                continue;
            }
            let fields = peer_fields(peer, "      ");
            let ports = ports_field(ranges, "      ");
            let (source, destination) = match direction {
                Direction::Ingress => (fields, vec![ports]),
                Direction::Egress => (Vec::new(), [fields, vec![ports]].concat()),
            };
            out.push(Rule { action: "Allow", protocol: Some(protocol), source, destination });
        }
    }
    out
}

/// The rules of a direction, and a reasons line per rule: `ingress[2]: ...`.
fn rules_yaml(key: &str, rules: &[(Rule, Vec<String>)], reasons: &mut Vec<String>) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut out = format!("  {key}:\n");
    for (index, (rule, why)) in rules.iter().enumerate() {
        out.push_str(&rule.yaml());
        reasons.extend(why.iter().map(|w| format!("{key}[{index}]: {w}")));
    }
    out
}

/// The DNS rules of the default-deny: to the cluster DNS on its ports, a rule per protocol.
fn dns_rules(dns: &DnsTarget, ports: &PortSet) -> Vec<Rule> {
    let peer = match dns {
        DnsTarget::Pods { namespace, labels } => PeerSelector::Pods {
            namespaces: Some(LabelSelector {
                match_labels: [(NAME_LABEL, namespace.as_str())].into(),
                ..LabelSelector::default()
            }),
            pods: Some(LabelSelector { match_labels: labels.clone(), ..LabelSelector::default() }),
        },
        DnsTarget::Block(cidr) => match block_without_metadata(*cidr) {
            Some(block) => PeerSelector::IpBlock(block),
            // The plan refuses a metadata address as the DNS before it gets here.
            None => return Vec::new(),
        },
    };
    let rule = GeneratedRule { peers: vec![peer], ports: ports.clone(), reasons: Vec::new() };
    allow_rules(Direction::Egress, &rule)
}

/// The GlobalNetworkPolicy: the covered namespaces' pods, for Ingress and Egress, the metadata endpoints denied,
/// DNS allowed.
fn default_deny(plan: &Plan, covered: &[String], names: &mut Names) -> WrittenObject {
    let name = names.unique(None, DEFAULT_DENY_NAME);
    let (v4, v6): (Vec<Cidr>, Vec<Cidr>) = metadata_blocks().into_iter().partition(|c| c.network.is_ipv4());
    let mut egress: Vec<(Rule, Vec<String>)> = Vec::new();
    for (family, blocks) in [("IPv4", v4), ("IPv6", v6)] {
        if blocks.is_empty() {
            continue;
        }
        let nets: Vec<String> = blocks.iter().map(ToString::to_string).collect();
        let rule = Rule {
            action: "Deny",
            protocol: None,
            source: Vec::new(),
            destination: vec![format!("      nets: [{}]", nets.join(", "))],
        };
        let why = format!(
            "the cloud metadata endpoints ({family}) stay closed, before any allow of the Kubernetes or Calico \
             policies of the default tier"
        );
        egress.push((rule, vec![why]));
    }
    for rule in dns_rules(&plan.dns, &plan.dns_ports) {
        egress.push((rule, vec![format!("the cluster DNS: {}", plan.dns)]));
    }
    let namespaces: Vec<String> = covered.iter().map(|ns| quoted(ns)).collect();
    let mut reasons = vec![format!(
        "default-deny ingress and egress for every pod of {}: only what the policies allow gets through (the end of \
         the default tier denies the rest); every pod may resolve names",
        covered.join(", ")
    )];
    let rules = rules_yaml("egress", &egress, &mut reasons);
    let mut yaml = format!("apiVersion: {API_VERSION}\nkind: GlobalNetworkPolicy\n");
    yaml.push_str(&metadata(&name, None, &reasons));
    yaml.push_str(&format!("spec:\n  order: {DEFAULT_DENY_ORDER}\n"));
    yaml.push_str(&format!(
        "  namespaceSelector: {}\n",
        yaml_string(&format!("{NAME_LABEL} in {{{}}}", namespaces.join(", ")))
    ));
    yaml.push_str("  types: [Ingress, Egress]\n");
    yaml.push_str(&rules);
    WrittenObject {
        kind: CalicoPolicyKind::GlobalNetworkPolicy.as_str(),
        api_version: API_VERSION,
        namespace: None,
        name,
        covers: covered.to_vec(),
        yaml,
    }
}

/// A workload's allows as a Calico NetworkPolicy with the same selector, direction and rules.
fn workload_policy(policy: &GeneratedPolicy, names: &mut Names) -> WrittenObject {
    let name = names.unique(Some(&policy.namespace), &calico_name(&policy.name));
    let mut reasons = vec![policy.purpose.clone()];
    let mut body = String::new();
    let mut types = Vec::new();
    for (direction, key, rules) in
        [(Direction::Ingress, "ingress", &policy.ingress), (Direction::Egress, "egress", &policy.egress)]
    {
        if !policy.policy_types.contains(&direction) {
            continue;
        }
        types.push(if direction == Direction::Ingress { "Ingress" } else { "Egress" });
        let expanded: Vec<(Rule, Vec<String>)> = rules
            .iter()
            .flat_map(|rule| allow_rules(direction, rule).into_iter().map(|r| (r, rule.reasons.clone())))
            .collect();
        body.push_str(&rules_yaml(key, &expanded, &mut reasons));
    }
    let mut yaml = format!("apiVersion: {API_VERSION}\nkind: NetworkPolicy\n");
    yaml.push_str(&metadata(&name, Some(&policy.namespace), &reasons));
    yaml.push_str(&format!("spec:\n  order: {WORKLOAD_ORDER}\n"));
    yaml.push_str(&format!("  selector: {}\n", yaml_string(&selector(&policy.pod_selector))));
    yaml.push_str(&format!("  types: [{}]\n", types.join(", ")));
    yaml.push_str(&body);
    WrittenObject {
        kind: CalicoPolicyKind::NetworkPolicy.as_str(),
        api_version: API_VERSION,
        namespace: Some(policy.namespace.clone()),
        name,
        covers: vec![policy.namespace.clone()],
        yaml,
    }
}

/// The plan in Calico's objects: the GlobalNetworkPolicy over `covered` (none when it is empty), then the
/// workloads' NetworkPolicies in the plan's order.
pub(crate) fn write(cluster: &Cluster, plan: &Plan, covered: &[String]) -> Vec<WrittenObject> {
    let mut names = Names::new(cluster.calico.policies.iter().map(|p| {
        let namespace = if p.kind.is_global() { None } else { p.namespace.clone() };
        (namespace, p.name.clone())
    }));
    let mut objects = Vec::new();
    if !covered.is_empty() {
        objects.push(default_deny(plan, covered, &mut names));
    }
    for policy in plan.policies.iter().filter(|p| role(p) == Role::Workload) {
        objects.push(workload_policy(policy, &mut names));
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{Labels, Requirement};

    #[test]
    fn label_selectors_read_as_calico_selectors() {
        let selector_of = |labels: &[(&str, &str)], expressions: Vec<Requirement>| LabelSelector {
            match_labels: labels.iter().map(|(k, v)| (*k, *v)).collect::<Labels>(),
            match_expressions: expressions,
        };
        assert_eq!(selector(&LabelSelector::default()), "all()");
        assert_eq!(
            selector(&selector_of(&[("app", "web"), ("tier", "front")], vec![])),
            "app == 'web' && tier == 'front'"
        );
        let expressions = vec![
            Requirement { key: "env".into(), operator: Operator::In, values: vec!["a".into(), "b".into()] },
            Requirement { key: "x".into(), operator: Operator::NotIn, values: vec!["c".into()] },
            Requirement { key: "app.kubernetes.io/name".into(), operator: Operator::Exists, values: vec![] },
            Requirement { key: "canary".into(), operator: Operator::DoesNotExist, values: vec![] },
        ];
        assert_eq!(
            selector(&selector_of(&[], expressions)),
            "env in {'a', 'b'} && x not in {'c'} && has(app.kubernetes.io/name) && !has(canary)"
        );
    }

    #[test]
    fn names_are_dns_labels_without_dots() {
        assert_eq!(calico_name("web.v2-ingress"), "web-v2-ingress");
        assert_eq!(calico_name(&"a".repeat(80)).len(), 50);
        let mut names = Names::new([(Some("a".to_string()), "web-ingress".to_string())]);
        assert_eq!(names.unique(Some("a"), "web-ingress"), "netseg-web-ingress");
        assert_eq!(names.unique(Some("b"), "web-ingress"), "web-ingress");
    }
}
