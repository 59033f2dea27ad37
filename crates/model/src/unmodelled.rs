//! Policies of kinds netseg does not analyse yet, kept with what they select, so that a finding about a workload one
//! of them governs can say so: netseg's answer leaves out what that policy restricts.

use crate::kube::Location;
use crate::selector::{LabelSelector, Labels, Operator, Requirement};
use crate::yaml::{Node, Value};

/// A policy netseg does not analyse (a `unmodelled-policy` warning), and which pods it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmodelledPolicy {
    pub kind: String,
    /// `None` for a cluster-wide policy.
    pub namespace: Option<String>,
    pub name: String,
    /// Who enforces it: `Calico`, `Cilium`, `the Istio mesh`, ...
    pub engine: &'static str,
    pub location: Location,
    pub selection: Selection,
}

/// Which pods an unmodelled policy applies to, as far as netseg can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The pods any of these Kubernetes label selectors match, in the policy's namespace (everywhere for a
    /// cluster-wide policy).
    Pods(Vec<LabelSelector>),
    /// A selector netseg does not evaluate (a Calico selector expression, a target reference): any pod in the
    /// policy's scope may be selected. The text says what the policy selects by, as written.
    Unknown(String),
    /// Nodes only (host firewall policies): no pod.
    Nodes,
}

impl UnmodelledPolicy {
    /// `Calico GlobalNetworkPolicy database` or `Cilium CiliumNetworkPolicy default/rule1`.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// Whether the policy is in scope of a pod of `namespace`, before its selector is asked.
    pub fn in_scope(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|own| own == namespace)
    }

    /// `Some(true)` when the policy selects a pod of `namespace` with `labels`, `Some(false)` when it does not,
    /// `None` when netseg cannot tell (it may).
    pub fn selects(&self, namespace: &str, labels: &Labels) -> Option<bool> {
        if !self.in_scope(namespace) {
            return Some(false);
        }
        match &self.selection {
            Selection::Pods(selectors) => Some(selectors.iter().any(|s| s.matches(labels))),
            Selection::Unknown(_) => None,
            Selection::Nodes => Some(false),
        }
    }
}

/// What the policy selects, read leniently (its kind's own validation is not netseg's to do): label selectors
/// where the kind uses Kubernetes label selectors, else the selector's text.
pub fn selection(kind: &str, api_version: &str, spec: Option<&Node>) -> Selection {
    let Some(spec) = spec else { return Selection::Unknown("no spec".into()) };
    let group = api_version.split('/').next().unwrap_or_default();
    match group {
        "cilium.io" => {
            let specs: Vec<&Node> = match spec.get("specs").map(|s| &s.value) {
                Some(Value::Seq(items)) => items.iter().collect(),
                _ => vec![spec],
            };
            let mut selectors = Vec::new();
            for spec in specs {
                if let Some(endpoints) = spec.get("endpointSelector") {
                    match cilium_selector(endpoints) {
                        Some(selector) => selectors.push(selector),
                        None => return Selection::Unknown(format!("endpointSelector {}", summary(endpoints))),
                    }
                }
            }
            if selectors.is_empty() {
                // Only `nodeSelector`: a host firewall policy.
                Selection::Nodes
            } else {
                Selection::Pods(selectors)
            }
        }
        "projectcalico.org" | "crd.projectcalico.org" => {
            match spec.get("selector").and_then(Node::as_str).map(str::trim) {
                None | Some("") => Selection::Pods(vec![LabelSelector::default()]),
                Some(expression) => match calico_conjunction(expression) {
                    Some(selector) => Selection::Pods(vec![selector]),
                    None => Selection::Unknown(format!("selector `{expression}`")),
                },
            }
        }
        "security.istio.io" => match (spec.get("selector"), spec.get("targetRef").or(spec.get("targetRefs"))) {
            (_, Some(target)) => Selection::Unknown(format!("targetRef {}", summary(target))),
            (Some(selector), None) => match label_selector(selector, false) {
                Some(selector) => Selection::Pods(vec![selector]),
                None => Selection::Unknown(format!("selector {}", summary(selector))),
            },
            (None, None) => Selection::Pods(vec![LabelSelector::default()]),
        },
        "policy.linkerd.io" if kind == "Server" => match spec.get("podSelector") {
            Some(selector) => match label_selector(selector, false) {
                Some(selector) => Selection::Pods(vec![selector]),
                None => Selection::Unknown(format!("podSelector {}", summary(selector))),
            },
            None => Selection::Unknown("no podSelector".into()),
        },
        "crd.antrea.io" => {
            // `appliedTo` peers that pick pods by labels alone; any other kind of peer is not read.
            let applied: Option<Vec<LabelSelector>> = match spec.get("appliedTo").map(|a| &a.value) {
                Some(Value::Seq(peers)) => peers
                    .iter()
                    .map(|peer| match (&peer.value, peer.get("podSelector")) {
                        (Value::Map(entries), Some(selector)) if entries.len() == 1 => label_selector(selector, false),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            };
            match applied {
                Some(selectors) if !selectors.is_empty() => Selection::Pods(selectors),
                _ => Selection::Unknown("appliedTo".into()),
            }
        }
        "k8s.cni.cncf.io" => match spec.get("podSelector").and_then(|s| label_selector(s, false)) {
            Some(selector) => Selection::Pods(vec![selector]),
            None => Selection::Unknown("podSelector".into()),
        },
        _ => {
            let by =
                ["targetRef", "appliedTo", "destination", "server"].into_iter().find(|key| spec.get(key).is_some());
            Selection::Unknown(match by {
                Some(key) => format!("{key} {}", summary(spec.get(key).unwrap_or(spec))),
                None => "its spec".into(),
            })
        }
    }
}

/// The simplest Calico selectors, the ones a label selector can say exactly: `all()`, or terms joined by `&&`, each
/// `k == 'v'`, `k != 'v'` (also true without the label), `has(k)` or `!has(k)`. Anything else (`||`, `in`,
/// `contains`, parentheses) is `None`: left to the Calico model, not guessed.
fn calico_conjunction(expression: &str) -> Option<LabelSelector> {
    let mut selector = LabelSelector::default();
    if expression == "all()" {
        return Some(selector);
    }
    let unquote = |text: &str| -> Option<String> {
        let text = text.trim();
        let quoted = (text.starts_with('\'') && text.ends_with('\'')) || (text.starts_with('"') && text.ends_with('"'));
        (quoted && text.len() >= 2).then(|| text[1..text.len() - 1].to_string())
    };
    let is_key = |key: &str| !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    for term in expression.split("&&").map(str::trim) {
        if term.contains("||") || term.contains('(') && !term.contains("has(") {
            return None;
        }
        if let Some(key) = term.strip_prefix("!has(").and_then(|t| t.strip_suffix(')')).map(str::trim) {
            if !is_key(key) {
                return None;
            }
            let requirement = Requirement { key: key.into(), operator: Operator::DoesNotExist, values: Vec::new() };
            selector.match_expressions.push(requirement);
        } else if let Some(key) = term.strip_prefix("has(").and_then(|t| t.strip_suffix(')')).map(str::trim) {
            if !is_key(key) {
                return None;
            }
            let requirement = Requirement { key: key.into(), operator: Operator::Exists, values: Vec::new() };
            selector.match_expressions.push(requirement);
        } else if let Some((key, value)) = term.split_once("!=") {
            let (key, value) = (key.trim(), unquote(value)?);
            if !is_key(key) {
                return None;
            }
            selector.match_expressions.push(Requirement {
                key: key.into(),
                operator: Operator::NotIn,
                values: vec![value],
            });
        } else if let Some((key, value)) = term.split_once("==") {
            let (key, value) = (key.trim(), unquote(value)?);
            if !is_key(key) || selector.match_labels.get(key).is_some_and(|v| **v != *value) {
                return None;
            }
            selector.match_labels.insert(key, value);
        } else {
            return None;
        }
    }
    Some(selector)
}

/// A Cilium endpoint selector as a Kubernetes one: the `k8s:` and `any:` source prefixes dropped. Keys Cilium
/// derives from the namespace or its own identity (`io.kubernetes.pod.namespace`, `io.cilium.*`, `reserved:`) are
/// not pod labels: `None`, the selector is not read.
fn cilium_selector(node: &Node) -> Option<LabelSelector> {
    label_selector(node, true)
}

fn label_key(raw: &str, cilium: bool) -> Option<String> {
    if !cilium {
        return Some(raw.to_string());
    }
    let key = raw.strip_prefix("k8s:").or_else(|| raw.strip_prefix("any:")).unwrap_or(raw);
    let derived = key.contains(':') || key.starts_with("io.kubernetes.pod.") || key.starts_with("io.cilium.");
    (!derived).then(|| key.to_string())
}

fn label_selector(node: &Node, cilium: bool) -> Option<LabelSelector> {
    let mut selector = LabelSelector::default();
    match &node.value {
        Value::Null => return Some(selector),
        Value::Map(_) => {}
        _ => return None,
    }
    if let Some(labels) = node.get("matchLabels") {
        match &labels.value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    let value = scalar(value)?;
                    selector.match_labels.insert(label_key(key, cilium)?, value);
                }
            }
            Value::Null => {}
            _ => return None,
        }
    }
    if let Some(expressions) = node.get("matchExpressions") {
        let Value::Seq(items) = &expressions.value else { return None };
        for item in items {
            let key = label_key(item.get("key").and_then(Node::as_str)?, cilium)?;
            let operator = match item.get("operator").and_then(Node::as_str)? {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                _ => return None,
            };
            let values = match item.get("values").map(|v| &v.value) {
                Some(Value::Seq(values)) => values.iter().map(scalar).collect::<Option<Vec<_>>>()?,
                _ => Vec::new(),
            };
            selector.match_expressions.push(Requirement { key, operator, values });
        }
    }
    Some(selector)
}

fn scalar(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short rendering of a node for people: `kind/name` of a target reference, else its type.
fn summary(node: &Node) -> String {
    let field = |key: &str| node.get(key).and_then(Node::as_str);
    match (field("kind"), field("name")) {
        (Some(kind), Some(name)) => format!("{kind}/{name}"),
        (None, Some(name)) => name.to_string(),
        _ => format!("({})", node.type_name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_all;

    fn spec(text: &str) -> Node {
        let (documents, error) = parse_all(text);
        assert!(error.is_none(), "{error:?}");
        documents.into_iter().next().expect("a document")
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn cilium_endpoint_selectors_are_read_without_their_source_prefix() {
        let node = spec("endpointSelector: {matchLabels: {'k8s:org': empire, class: deathstar}}\n");
        let read = selection("CiliumNetworkPolicy", "cilium.io/v2", Some(&node));
        let Selection::Pods(selectors) = &read else { panic!("{read:?}") };
        assert!(selectors[0].matches(&labels(&[("org", "empire"), ("class", "deathstar")])));
        assert!(!selectors[0].matches(&labels(&[("org", "alliance"), ("class", "deathstar")])));
        let namespaced = spec("endpointSelector: {matchLabels: {'k8s:io.kubernetes.pod.namespace': ns1}}\n");
        assert!(matches!(selection("CiliumNetworkPolicy", "cilium.io/v2", Some(&namespaced)), Selection::Unknown(_)));
        let host = spec("nodeSelector: {}\ningress: []\n");
        assert_eq!(selection("CiliumClusterwideNetworkPolicy", "cilium.io/v2", Some(&host)), Selection::Nodes);
    }

    #[test]
    fn calico_conjunctions_are_read_and_other_expressions_are_not_guessed() {
        let node = spec("selector: app == 'database' && has(tier) && env != \"dev\"\n");
        let read = selection("GlobalNetworkPolicy", "projectcalico.org/v3", Some(&node));
        let Selection::Pods(selectors) = &read else { panic!("{read:?}") };
        assert!(selectors[0].matches(&labels(&[("app", "database"), ("tier", "db")])));
        assert!(!selectors[0].matches(&labels(&[("app", "database"), ("tier", "db"), ("env", "dev")])));
        assert!(!selectors[0].matches(&labels(&[("app", "database")])));
        let node = spec("selector: app == 'a' || app == 'b'\n");
        let read = selection("GlobalNetworkPolicy", "projectcalico.org/v3", Some(&node));
        assert_eq!(read, Selection::Unknown("selector `app == 'a' || app == 'b'`".into()));
        for unread in ["app in {'a'}", "app contains 'x'", "(app == 'a')", "app == a", "app == 'a' && app == 'b'"] {
            assert_eq!(calico_conjunction(unread), None, "{unread}");
        }
        let all = spec("order: 10\n");
        assert_eq!(
            selection("NetworkPolicy", "projectcalico.org/v3", Some(&all)),
            Selection::Pods(vec![LabelSelector::default()])
        );
    }

    #[test]
    fn scope_and_selection_decide_together() {
        let policy = UnmodelledPolicy {
            kind: "AuthorizationPolicy".into(),
            namespace: Some("shop".into()),
            name: "db".into(),
            engine: "the Istio mesh",
            location: Location { file: "a.yaml".into(), line: 1 },
            selection: selection(
                "AuthorizationPolicy",
                "security.istio.io/v1",
                Some(&spec("selector: {matchLabels: {app: db}}\n")),
            ),
        };
        assert_eq!(policy.selects("shop", &labels(&[("app", "db")])), Some(true));
        assert_eq!(policy.selects("shop", &labels(&[("app", "web")])), Some(false));
        assert_eq!(policy.selects("other", &labels(&[("app", "db")])), Some(false));
        assert_eq!(policy.display_name(), "AuthorizationPolicy shop/db");
    }
}
