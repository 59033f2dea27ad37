//! The generated policies and their YAML. The YAML is the generator's product, not a report format: the proof
//! reads back exactly these bytes through netseg's own loader, so the writer lives here, next to the proof.

use netseg_engine::PortSet;
use netseg_model::{Direction, IpBlock, LabelSelector, Labels, PeerSelector, Protocol, NAMESPACE_NAME_LABEL};

/// The annotation that says why each rule exists.
pub const REASONS_ANNOTATION: &str = "netseg.io/reasons";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "netseg");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRule {
    /// Empty: every peer (from anywhere).
    pub peers: Vec<PeerSelector>,
    pub ports: PortSet,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    pub policy_types: Vec<Direction>,
    pub ingress: Vec<GeneratedRule>,
    pub egress: Vec<GeneratedRule>,
    /// What the policy is for, as its first reason line.
    pub purpose: String,
}

/// The selector of one namespace by its immutable name label.
pub fn namespace_selector(name: &str) -> LabelSelector {
    LabelSelector { match_labels: Labels::from([(NAMESPACE_NAME_LABEL, name)]), ..LabelSelector::default() }
}

/// A plain YAML scalar when it cannot be read as anything but a string, else a double-quoted one (JSON string
/// syntax is valid YAML).
pub(crate) fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "nan" | "inf"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::Value::String(text.to_string()).to_string()
    }
}

fn labels(map: &Labels) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", scalar(k), scalar(v))).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A label selector in flow-style YAML (`{matchLabels: {...}, matchExpressions: [...]}`), `{}` when empty: the
/// same in NetworkPolicies, Cilium's and Linkerd's objects.
pub(crate) fn selector_yaml(selector: &LabelSelector) -> String {
    let mut parts = Vec::new();
    if !selector.match_labels.is_empty() {
        parts.push(format!("matchLabels: {}", labels(&selector.match_labels)));
    }
    if !selector.match_expressions.is_empty() {
        let expressions: Vec<String> = selector
            .match_expressions
            .iter()
            .map(|r| {
                let values: Vec<String> = r.values.iter().map(|v| scalar(v)).collect();
                let values =
                    if values.is_empty() { String::new() } else { format!(", values: [{}]", values.join(", ")) };
                format!("{{key: {}, operator: {:?}{values}}}", scalar(&r.key), r.operator)
            })
            .collect();
        parts.push(format!("matchExpressions: [{}]", expressions.join(", ")));
    }
    format!("{{{}}}", parts.join(", "))
}

fn peer(out: &mut String, peer: &PeerSelector) {
    match peer {
        PeerSelector::Pods { namespaces, pods } => {
            let mut first = "    - ";
            if let Some(namespaces) = namespaces {
                out.push_str(&format!("{first}namespaceSelector: {}\n", selector_yaml(namespaces)));
                first = "      ";
            }
            if let Some(pods) = pods {
                out.push_str(&format!("{first}podSelector: {}\n", selector_yaml(pods)));
            }
        }
        PeerSelector::IpBlock(IpBlock { cidr, except }) => {
            out.push_str(&format!("    - ipBlock:\n        cidr: {cidr}\n"));
            if !except.is_empty() {
                let except: Vec<String> = except.iter().map(ToString::to_string).collect();
                out.push_str(&format!("        except: [{}]\n", except.join(", ")));
            }
        }
    }
}

fn ports(out: &mut String, ports: &PortSet) {
    out.push_str("    ports:\n");
    for protocol in Protocol::ALL {
        for &(start, end) in ports.ranges(protocol) {
            if start == end {
                out.push_str(&format!("    - {{protocol: {protocol}, port: {start}}}\n"));
            } else {
                out.push_str(&format!("    - {{protocol: {protocol}, port: {start}, endPort: {end}}}\n"));
            }
        }
    }
}

/// The reasons, one line per rule, as a literal block (or a quoted string when a line would not survive one).
fn reasons_annotation(policy: &GeneratedPolicy) -> String {
    let mut lines = vec![policy.purpose.clone()];
    for (key, rules) in [("ingress", &policy.ingress), ("egress", &policy.egress)] {
        for (index, rule) in rules.iter().enumerate() {
            for reason in &rule.reasons {
                lines.push(format!("{key}[{index}]: {reason}"));
            }
        }
    }
    reasons_block(&lines)
}

/// Lines as the value of the reasons annotation: a literal block, or a quoted string when a line would not survive
/// one.
pub(crate) fn reasons_block(lines: &[String]) -> String {
    let safe = lines.iter().all(|l| !l.starts_with(' ') && !l.ends_with(' ') && !l.chars().any(char::is_control));
    if safe {
        let body: Vec<String> = lines.iter().map(|l| format!("      {l}")).collect();
        format!("|-\n{}", body.join("\n"))
    } else {
        serde_json::Value::String(lines.join("\n")).to_string()
    }
}

impl GeneratedPolicy {
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        out.push_str("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n");
        out.push_str(&format!("  name: {}\n  namespace: {}\n", scalar(&self.name), scalar(&self.namespace)));
        out.push_str(&format!("  labels: {{{}: {}}}\n", MANAGED_BY.0, MANAGED_BY.1));
        out.push_str(&format!("  annotations:\n    {REASONS_ANNOTATION}: {}\n", reasons_annotation(self)));
        out.push_str(&format!("spec:\n  podSelector: {}\n", selector_yaml(&self.pod_selector)));
        let types: Vec<&str> =
            self.policy_types.iter().map(|d| if *d == Direction::Ingress { "Ingress" } else { "Egress" }).collect();
        out.push_str(&format!("  policyTypes: [{}]\n", types.join(", ")));
        for (key, peers_key, rules) in [("ingress", "from", &self.ingress), ("egress", "to", &self.egress)] {
            if rules.is_empty() {
                continue;
            }
            out.push_str(&format!("  {key}:\n"));
            for rule in rules {
                let mut body = String::new();
                if !rule.peers.is_empty() {
                    body.push_str(&format!("    {peers_key}:\n"));
                    for p in &rule.peers {
                        peer(&mut body, p);
                    }
                }
                ports(&mut body, &rule.ports);
                // The first line of a list item carries the dash.
                out.push_str(&format!("  - {}", &body[4..]));
            }
        }
        out
    }
}

/// Policies as one multi-document YAML stream, with a header comment.
pub fn to_yaml_stream(policies: &[GeneratedPolicy], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    for (index, policy) in policies.iter().enumerate() {
        if index > 0 || !header.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&policy.to_yaml());
    }
    out
}
