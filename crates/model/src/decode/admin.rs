//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (`policy.networking.k8s.io/v1alpha1`) and
//! ClusterNetworkPolicy (`v1alpha2`), validated as their CRD schemas do, into the one `AdminPolicy` model.
//!
//! The CRDs prune unknown fields before validating, so an unknown field is a warning, but a peer or port entry
//! left with no known field breaks the schema's "exactly one field" rule and the object is refused.

use super::{join, truncate, validate_port_name, Ctx};
use crate::diag::DiagnosticCode;
use crate::kube::*;
use crate::selector::LabelSelector;
use crate::yaml::{Node, Value};

/// What the three APIs do differently; everything else they share.
struct Api {
    kind: AdminPolicyKind,
    /// The schema's `MaxItems` on rules per direction, on peers per rule and on port entries per rule.
    max_rules: usize,
    max_peers: usize,
    max_ports: usize,
    ports_key: &'static str,
    allow_word: &'static str,
    spec_fields: &'static [&'static str],
}

const V1ALPHA1_LIMIT: usize = 100;
const V1ALPHA2_LIMIT: usize = 25;
/// `networks` and `domainNames` hold at most 25 entries in both versions.
const MAX_NETWORKS: usize = 25;
const MAX_RULE_NAME: usize = 100;
const MAX_PRIORITY: i64 = 1000;

impl Api {
    fn of(kind: AdminPolicyKind) -> Api {
        match kind {
            AdminPolicyKind::AdminNetworkPolicy => Api {
                kind,
                max_rules: V1ALPHA1_LIMIT,
                max_peers: V1ALPHA1_LIMIT,
                max_ports: V1ALPHA1_LIMIT,
                ports_key: "ports",
                allow_word: "Allow",
                spec_fields: &["priority", "subject", "ingress", "egress"],
            },
            AdminPolicyKind::BaselineAdminNetworkPolicy => Api {
                kind,
                max_rules: V1ALPHA1_LIMIT,
                max_peers: V1ALPHA1_LIMIT,
                max_ports: V1ALPHA1_LIMIT,
                ports_key: "ports",
                allow_word: "Allow",
                spec_fields: &["subject", "ingress", "egress"],
            },
            AdminPolicyKind::ClusterNetworkPolicy => Api {
                kind,
                max_rules: V1ALPHA2_LIMIT,
                max_peers: V1ALPHA2_LIMIT,
                max_ports: V1ALPHA2_LIMIT,
                ports_key: "protocols",
                allow_word: "Accept",
                spec_fields: &["tier", "priority", "subject", "ingress", "egress"],
            },
        }
    }

    fn v1alpha2(&self) -> bool {
        self.kind == AdminPolicyKind::ClusterNetworkPolicy
    }

    fn actions(&self) -> &'static str {
        match self.kind {
            AdminPolicyKind::AdminNetworkPolicy => "Allow, Deny or Pass",
            AdminPolicyKind::BaselineAdminNetworkPolicy => "Allow or Deny",
            AdminPolicyKind::ClusterNetworkPolicy => "Accept, Deny or Pass",
        }
    }

    fn action(&self, text: &str) -> Option<AdminAction> {
        match text {
            _ if text == self.allow_word => Some(AdminAction::Allow),
            "Deny" => Some(AdminAction::Deny),
            "Pass" if self.kind != AdminPolicyKind::BaselineAdminNetworkPolicy => Some(AdminAction::Pass),
            _ => None,
        }
    }
}

const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

pub(crate) fn admin_policy(
    ctx: &mut Ctx<'_>,
    root: &Node,
    kind: AdminPolicyKind,
    name: String,
    ignore: Suppression,
    location: Location,
) -> AdminPolicy {
    let api = Api::of(kind);
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let tier = if kind == AdminPolicyKind::BaselineAdminNetworkPolicy { Tier::Baseline } else { Tier::Admin };
    let mut policy = AdminPolicy {
        kind,
        tier,
        name,
        priority: 0,
        subject: AdminPods::Namespaces(LabelSelector::default()),
        ingress: Vec::new(),
        egress: Vec::new(),
        ignore,
        location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", format!("a {} needs a spec", kind.as_str()));
        return policy;
    };
    ctx.unknown_fields(spec, "spec", api.spec_fields);
    if api.v1alpha2() {
        match spec.get("tier").map(|t| (t, ctx.string(t, "spec.tier"))) {
            Some((_, Some(text))) if text == "Admin" => policy.tier = Tier::Admin,
            Some((_, Some(text))) if text == "Baseline" => policy.tier = Tier::Baseline,
            Some((node, Some(text))) => ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                "spec.tier",
                format!("`{}` is not a tier: use Admin or Baseline (case matters)", truncate(&text)),
            ),
            Some((_, None)) => {}
            None => {
                ctx.error(DiagnosticCode::MissingField, spec.line, "spec.tier", "a ClusterNetworkPolicy needs a tier")
            }
        }
    }
    if api.spec_fields.contains(&"priority") {
        policy.priority = priority(ctx, spec);
    }
    match spec.get("subject") {
        Some(node) => {
            if let Some(subject) = subject(ctx, &api, node) {
                policy.subject = subject;
            }
        }
        None => ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.subject",
            format!("a {} needs a subject", kind.as_str()),
        ),
    }
    for direction in [Direction::Ingress, Direction::Egress] {
        let key = direction.as_str();
        let Some(list) = spec.get(key) else { continue };
        let field = join("spec", key);
        let items = ctx.seq(list, &field);
        if items.len() > api.max_rules {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &field,
                format!("{} {key} rules; the schema allows at most {}", items.len(), api.max_rules),
            );
        }
        let rules: Vec<AdminRule> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| rule(ctx, &api, item, &format!("{field}[{index}]"), direction))
            .collect();
        match direction {
            Direction::Ingress => policy.ingress = rules,
            Direction::Egress => policy.egress = rules,
        }
    }
    policy
}

fn priority(ctx: &mut Ctx<'_>, spec: &Node) -> u32 {
    let Some(node) = spec.get("priority") else {
        ctx.error(DiagnosticCode::MissingField, spec.line, "spec.priority", "a priority (0-1000) is required");
        return 0;
    };
    match node.value {
        Value::Int(n) if (0..=MAX_PRIORITY).contains(&n) => u32::try_from(n).unwrap_or(0),
        Value::Int(n) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                "spec.priority",
                format!("priority {n} is outside 0-{MAX_PRIORITY}"),
            );
            0
        }
        _ => {
            ctx.wrong_type(node, "spec.priority", "an integer priority (0-1000)");
            0
        }
    }
}

/// The one field of a map that must set exactly one of `choices`, or `None` after saying why.
fn exactly_one<'n>(
    ctx: &mut Ctx<'_>,
    node: &'n Node,
    field: &str,
    choices: &[&'static str],
    what: &str,
) -> Option<(&'static str, &'n Node)> {
    ctx.unknown_fields(node, field, choices);
    let set: Vec<(&'static str, &Node)> =
        choices.iter().filter_map(|&key| node.get(key).filter(|v| !v.is_null()).map(|v| (key, v))).collect();
    match set.as_slice() {
        [one] => Some(*one),
        [] => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                format!("{what} must set exactly one of {}; it sets none", choices.join(", ")),
            );
            None
        }
        many => {
            let keys: Vec<&str> = many.iter().map(|(k, _)| *k).collect();
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                format!("{what} must set exactly one of {}; it sets {}", choices.join(", "), keys.join(" and ")),
            );
            None
        }
    }
}

fn subject(ctx: &mut Ctx<'_>, api: &Api, node: &Node) -> Option<AdminPods> {
    let node = ctx.map(node, "spec.subject")?;
    let (key, value) = exactly_one(ctx, node, "spec.subject", &["namespaces", "pods"], "the subject")?;
    pods_selection(ctx, api, key, value, &join("spec.subject", key))
}

/// `namespaces: <selector>` or `pods: {namespaceSelector, podSelector}`.
fn pods_selection(ctx: &mut Ctx<'_>, api: &Api, key: &str, node: &Node, field: &str) -> Option<AdminPods> {
    if key == "namespaces" {
        return Some(AdminPods::Namespaces(ctx.selector(node, field)));
    }
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["namespaceSelector", "podSelector"]);
    // v1alpha2 made namespaceSelector optional (absent: every namespace); v1alpha1 requires both.
    let namespaces = required_selector(ctx, node, field, "namespaceSelector", api.v1alpha2(), "namespace")?;
    let pods = required_selector(ctx, node, field, "podSelector", false, "pod")?;
    Some(AdminPods::Pods { namespaces, pods })
}

/// A selector field of `pods`; when absent, `{}` if `optional`, else an error.
fn required_selector(
    ctx: &mut Ctx<'_>,
    node: &Node,
    field: &str,
    key: &str,
    optional: bool,
    what: &str,
) -> Option<LabelSelector> {
    let key_field = join(field, key);
    match node.get(key) {
        Some(selector) => Some(ctx.selector(selector, &key_field)),
        None if optional => Some(LabelSelector::default()),
        None => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &key_field,
                format!("`pods` needs a {key} ({{}} selects every {what})"),
            );
            None
        }
    }
}

fn rule(ctx: &mut Ctx<'_>, api: &Api, node: &Node, field: &str, direction: Direction) -> Option<AdminRule> {
    let node = ctx.map(node, field)?;
    let peers_key = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    ctx.unknown_fields(node, field, &["name", "action", peers_key, api.ports_key]);
    let name = node.get("name").and_then(|n| ctx.string(n, &join(field, "name")));
    if let Some(text) = &name {
        if text.chars().count() > MAX_RULE_NAME {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "name"),
                format!("a rule name is at most {MAX_RULE_NAME} characters"),
            );
        }
    }
    let action_field = join(field, "action");
    let action = match node.get("action").map(|a| (a, ctx.string(a, &action_field))) {
        Some((a, Some(text))) => match api.action(&text) {
            Some(action) => Some(action),
            None => {
                let hint = match (api.kind, text.as_str()) {
                    (AdminPolicyKind::ClusterNetworkPolicy, "Allow") => " (v1alpha2 renamed Allow to Accept)",
                    (_, "Accept") => " (Accept is v1alpha2's word; v1alpha1 says Allow)",
                    (AdminPolicyKind::BaselineAdminNetworkPolicy, "Pass") => {
                        " (a baseline policy is the last tier: there is nothing to pass to)"
                    }
                    _ => "",
                };
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    a.line,
                    &action_field,
                    format!("`{}` is not an action: use {}{hint}", truncate(&text), api.actions()),
                );
                None
            }
        },
        Some((_, None)) => None,
        None => {
            ctx.error(DiagnosticCode::MissingField, node.line, &action_field, "a rule needs an action");
            None
        }
    };
    let peers_field = join(field, peers_key);
    let mut peers = Vec::new();
    match node.get(peers_key) {
        Some(list) => {
            let items = ctx.seq(list, &peers_field);
            check_count(ctx, list, &peers_field, items.len(), api.max_peers);
            for (index, item) in items.iter().enumerate() {
                if let Some(parsed) = peer(ctx, api, item, &format!("{peers_field}[{index}]"), direction) {
                    peers.push(parsed);
                }
            }
        }
        None => ctx.error(
            DiagnosticCode::MissingField,
            node.line,
            &peers_field,
            format!("a rule needs `{peers_key}` with at least one peer"),
        ),
    }
    let ports_field = join(field, api.ports_key);
    let ports = match node.get(api.ports_key).filter(|p| !p.is_null()) {
        None => None,
        Some(list) => {
            let items = ctx.seq(list, &ports_field);
            // An empty list is refused, not read as "every port": that is what leaving the field out means.
            check_count(ctx, list, &ports_field, items.len(), api.max_ports);
            let mut ports = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let item_field = format!("{ports_field}[{index}]");
                let parsed = if api.v1alpha2() {
                    protocol_entry(ctx, item, &item_field)
                } else {
                    port_entry(ctx, item, &item_field)
                };
                if let Some(port) = parsed {
                    ports.push(AdminPolicyPort { port, line: item.line });
                }
            }
            Some(ports)
        }
    };
    let addresses_only = peers.iter().any(|p| !matches!(p.selector, AdminPeerSelector::Pods(_)));
    let named = ports.iter().flatten().any(|p| matches!(p.port, AdminPort::Named(_)));
    if addresses_only && named {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            &ports_field,
            "a named port cannot be used with nodes, networks or domainNames peers: they have no named ports",
        );
    }
    let domain_names = peers.iter().any(|p| matches!(p.selector, AdminPeerSelector::DomainNames(_)));
    if domain_names && action != Some(AdminAction::Allow) && action.is_some() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            &action_field,
            "domainNames peers are only allowed in Accept rules",
        );
    }
    Some(AdminRule { name, action: action?, peers, ports, line: node.line })
}

fn peer(ctx: &mut Ctx<'_>, api: &Api, node: &Node, field: &str, direction: Direction) -> Option<AdminPeer> {
    let node = ctx.map(node, field)?;
    let choices: &[&'static str] = match (direction, api.v1alpha2()) {
        (Direction::Ingress, _) => &["namespaces", "pods"],
        (Direction::Egress, false) => &["namespaces", "pods", "nodes", "networks"],
        (Direction::Egress, true) => &["namespaces", "pods", "nodes", "networks", "domainNames"],
    };
    let (key, value) = exactly_one(ctx, node, field, choices, "a peer")?;
    let value_field = join(field, key);
    let selector = match key {
        "nodes" => AdminPeerSelector::Nodes(ctx.selector(value, &value_field)),
        "networks" => {
            let items = ctx.seq(value, &value_field);
            check_count(ctx, value, &value_field, items.len(), MAX_NETWORKS);
            let cidrs: Vec<_> = items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| ctx.cidr(item, &format!("{value_field}[{index}]")))
                .collect();
            AdminPeerSelector::Networks(cidrs)
        }
        "domainNames" => {
            let items = ctx.seq(value, &value_field);
            check_count(ctx, value, &value_field, items.len(), MAX_NETWORKS);
            let mut names = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let item_field = format!("{value_field}[{index}]");
                let Some(name) = ctx.string(item, &item_field) else { continue };
                if !valid_domain_name(&name) {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &item_field,
                        format!("`{}` is not a domain name (a `*.` wildcard may only lead)", truncate(&name)),
                    );
                }
                names.push(name);
            }
            AdminPeerSelector::DomainNames(names)
        }
        _ => AdminPeerSelector::Pods(pods_selection(ctx, api, key, value, &value_field)?),
    };
    Some(AdminPeer { selector, line: node.line })
}

fn check_count(ctx: &mut Ctx<'_>, node: &Node, field: &str, count: usize, max: usize) {
    if count == 0 || count > max {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("{count} entries; the schema wants 1 to {max}"),
        );
    }
}

/// The CRD's pattern: dot-separated labels of letters, digits, `-` and `_`, optionally led by `*.`.
fn valid_domain_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && label.starts_with(|c: char| c.is_ascii_alphanumeric())
                && label.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

/// v1alpha1: `portNumber: {protocol, port}`, `namedPort: name` or `portRange: {protocol, start, end}`.
fn port_entry(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<AdminPort> {
    let node = ctx.map(node, field)?;
    let (key, value) = exactly_one(ctx, node, field, &["portNumber", "namedPort", "portRange"], "a port entry")?;
    let value_field = join(field, key);
    match key {
        "namedPort" => named_port(ctx, value, &value_field),
        "portNumber" => {
            let value = ctx.map(value, &value_field)?;
            ctx.unknown_fields(value, &value_field, &["protocol", "port"]);
            let protocol = ctx.protocol(value.get("protocol"), &join(&value_field, "protocol"));
            let port = required_port(ctx, value, &value_field, "port")?;
            Some(AdminPort::Number { protocol, port })
        }
        _ => {
            let value = ctx.map(value, &value_field)?;
            ctx.unknown_fields(value, &value_field, &["protocol", "start", "end"]);
            let protocol = ctx.protocol(value.get("protocol"), &join(&value_field, "protocol"));
            port_range(ctx, value, &value_field, protocol)
        }
    }
}

/// v1alpha2: `{tcp|udp|sctp: {destinationPort: {number} | {range: {start, end}}}}` or `destinationNamedPort`.
fn protocol_entry(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<AdminPort> {
    let node = ctx.map(node, field)?;
    let (key, value) =
        exactly_one(ctx, node, field, &["tcp", "udp", "sctp", "destinationNamedPort"], "a protocol entry")?;
    let value_field = join(field, key);
    let protocol = match key {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => return named_port(ctx, value, &value_field),
    };
    let value = ctx.map(value, &value_field)?;
    ctx.unknown_fields(value, &value_field, &["destinationPort"]);
    let Some(destination) = value.get("destinationPort") else {
        ctx.error(
            DiagnosticCode::MissingField,
            value.line,
            &join(&value_field, "destinationPort"),
            "a protocol match needs a destinationPort (leave `protocols` out to match every port)",
        );
        return None;
    };
    let destination_field = join(&value_field, "destinationPort");
    let destination = ctx.map(destination, &destination_field)?;
    let (which, inner) = exactly_one(ctx, destination, &destination_field, &["number", "range"], "a destinationPort")?;
    if which == "number" {
        let port = ctx.port_number(inner, &join(&destination_field, "number"))?;
        return Some(AdminPort::Number { protocol, port });
    }
    let range_field = join(&destination_field, "range");
    let inner = ctx.map(inner, &range_field)?;
    ctx.unknown_fields(inner, &range_field, &["start", "end"]);
    port_range(ctx, inner, &range_field, protocol)
}

fn named_port(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<AdminPort> {
    let name = ctx.string(node, field)?;
    if let Err(why) = validate_port_name(&name) {
        ctx.error(DiagnosticCode::InvalidValue, node.line, field, format!("`{}`: {why}", truncate(&name)));
        return None;
    }
    Some(AdminPort::Named(name))
}

fn required_port(ctx: &mut Ctx<'_>, node: &Node, field: &str, key: &str) -> Option<u16> {
    let key_field = join(field, key);
    match node.get(key) {
        Some(value) => ctx.port_number(value, &key_field),
        None => {
            ctx.error(DiagnosticCode::MissingField, node.line, &key_field, format!("`{key}` is required"));
            None
        }
    }
}

/// `start` and `end`, with the schema's rule that start is strictly below end.
fn port_range(ctx: &mut Ctx<'_>, node: &Node, field: &str, protocol: Protocol) -> Option<AdminPort> {
    let start = required_port(ctx, node, field, "start");
    let end = required_port(ctx, node, field, "end");
    let (start, end) = (start?, end?);
    if start >= end {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("start {start} must be below end {end} (use a single port for one port)"),
        );
        return None;
    }
    Some(AdminPort::Range { protocol, start, end })
}

#[cfg(test)]
mod tests {
    use crate::diag::{DiagnosticCode, Severity};
    use crate::kube::*;
    use crate::load::{load_bytes, Inventory};
    use std::sync::Arc;

    fn load(text: &str) -> Inventory {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("admin.yaml"), text.as_bytes(), false);
        inventory
    }

    fn errors(inventory: &Inventory) -> Vec<(u32, String, String)> {
        inventory
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.line.unwrap_or(0), d.field.clone().unwrap_or_default(), d.message.clone()))
            .collect()
    }

    const ANP: &str = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: a}\n";
    const CNP: &str =
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\n";

    #[test]
    fn v1alpha1_reads_every_peer_and_port_form() {
        let inventory = load(&format!(
            "{ANP}spec:\n  priority: 7\n  subject: {{pods: {{namespaceSelector: {{}}, podSelector: {{matchLabels: {{app: x}}}}}}}}\n  egress:\n  - name: r\n    action: Pass\n    to: [{{nodes: {{}}}}, {{networks: [10.0.0.0/8, \"fd00::/8\"]}}]\n    ports: [{{portNumber: {{port: 80}}}}, {{portRange: {{protocol: UDP, start: 5000, end: 6000}}}}]\n  - {{action: Allow, to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{}}}}}}], ports: [{{namedPort: web}}]}}\n"
        ));
        assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
        let policy = &inventory.admin_policies[0];
        assert_eq!((policy.kind, policy.tier, policy.priority), (AdminPolicyKind::AdminNetworkPolicy, Tier::Admin, 7));
        let rule = &policy.egress[0];
        assert_eq!((rule.action, rule.line), (AdminAction::Pass, 8));
        assert!(matches!(rule.peers[1].selector, AdminPeerSelector::Networks(ref cidrs) if cidrs.len() == 2));
        let ports: Vec<AdminPort> = rule.ports.iter().flatten().map(|p| p.port.clone()).collect();
        assert_eq!(
            ports,
            [
                AdminPort::Number { protocol: Protocol::Tcp, port: 80 },
                AdminPort::Range { protocol: Protocol::Udp, start: 5000, end: 6000 }
            ]
        );
        assert_eq!(policy.egress[1].ports.as_deref().map(|p| p[0].port.clone()), Some(AdminPort::Named("web".into())));
    }

    #[test]
    fn schema_violations_name_line_and_field_and_drop_the_object() {
        let cases = [
            ("spec:\n  priority: 1001\n  subject: {namespaces: {}}\n", "spec.priority", "outside 0-1000"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}\n", "spec.subject", "exactly one"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n  - {action: Allow, from: [{networks: [10.0.0.0/8]}]}\n", "spec.ingress[0].from[0]", "exactly one"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Accept, to: [{namespaces: {}}]}\n", "spec.egress[0].action", "v1alpha2's word"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Deny, to: [{networks: [10.0.0.0/33]}]}\n", "spec.egress[0].to[0].networks[0]", ""),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Deny, to: [{namespaces: {}}], ports: [{portRange: {start: 90, end: 80}}]}\n", "spec.egress[0].ports[0].portRange", "below end"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Deny, to: [{nodes: {}}], ports: [{namedPort: web}]}\n", "spec.egress[0].ports", "named port"),
            ("spec:\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n  - {action: Deny, to: []}\n", "spec.egress[0].to", "1 to 100"),
        ];
        for (spec, field, words) in cases {
            let inventory = load(&format!("{ANP}{spec}"));
            let found = errors(&inventory);
            assert!(
                found.iter().any(|(line, f, message)| f == field && message.contains(words) && *line > 3),
                "{spec}: {found:?}"
            );
            assert!(inventory.admin_policies.is_empty(), "{spec}: the object must be left out");
        }
    }

    #[test]
    fn too_many_rules_is_an_error() {
        let rules: String = (0..26).map(|_| "  - {action: Deny, from: [{namespaces: {}}]}\n").collect();
        let inventory = load(&format!(
            "{CNP}spec:\n  tier: Admin\n  priority: 1\n  subject: {{namespaces: {{}}}}\n  ingress:\n{rules}"
        ));
        assert!(errors(&inventory).iter().any(|(_, f, m)| f == "spec.ingress" && m.contains("at most 25")));
    }

    #[test]
    fn unknown_fields_warn_and_keep_the_object() {
        let inventory = load(&format!(
            "{ANP}spec:\n  priority: 1\n  subject: {{namespaces: {{}}}}\n  ingress:\n  - {{action: Deny, from: [{{namespaces: {{}}}}], port: []}}\n"
        ));
        assert!(errors(&inventory).is_empty());
        let warning = inventory.diagnostics.iter().find(|d| d.code == DiagnosticCode::UnknownField).expect("warning");
        assert_eq!(warning.field.as_deref(), Some("spec.ingress[0].port"));
        assert_eq!(inventory.admin_policies.len(), 1);
    }

    #[test]
    fn v1alpha2_reads_tiers_protocols_and_domain_names() {
        let inventory = load(&format!(
            "{CNP}spec:\n  tier: Baseline\n  priority: 3\n  subject: {{pods: {{podSelector: {{}}}}}}\n  egress:\n  - action: Accept\n    to: [{{domainNames: [\"*.example.com\"]}}]\n    protocols: [{{tcp: {{destinationPort: {{number: 443}}}}}}, {{udp: {{destinationPort: {{range: {{start: 1000, end: 2000}}}}}}}}]\n"
        ));
        assert!(errors(&inventory).is_empty(), "{:?}", inventory.diagnostics);
        let policy = &inventory.admin_policies[0];
        assert_eq!((policy.tier, policy.egress[0].action), (Tier::Baseline, AdminAction::Allow));
        assert_eq!(policy.egress[0].ports.as_ref().map(Vec::len), Some(2));
        // domainNames only in Accept rules; v1alpha1 words are refused.
        for (bad, words) in [
            ("  - {action: Deny, to: [{domainNames: [example.com]}]}\n", "only allowed in Accept"),
            ("  - {action: Allow, to: [{namespaces: {}}]}\n", "renamed Allow to Accept"),
        ] {
            let inventory = load(&format!(
                "{CNP}spec:\n  tier: Admin\n  priority: 1\n  subject: {{namespaces: {{}}}}\n  egress:\n{bad}"
            ));
            assert!(errors(&inventory).iter().any(|(_, _, m)| m.contains(words)), "{bad}: {:?}", inventory.diagnostics);
        }
        let inventory = load(&format!("{CNP}spec:\n  priority: 1\n  subject: {{namespaces: {{}}}}\n"));
        assert!(errors(&inventory).iter().any(|(_, f, _)| f == "spec.tier"));
    }

    #[test]
    fn other_api_groups_of_the_same_kind_are_skipped() {
        let inventory =
            load("apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: x}\nspec: {}\n");
        assert!(inventory.admin_policies.is_empty() && errors(&inventory).is_empty());
    }
}
