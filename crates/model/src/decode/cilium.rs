//! CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (`cilium.io/v2`), validated as Cilium's CRD schema and
//! its policy parser (`Rule.Sanitize`, `CiliumNetworkPolicy.Parse`) do, and imported as the agent imports them:
//! a CiliumNetworkPolicy's namespace becomes part of its selectors.
//!
//! Like the API server, the CRD prunes unknown fields (a warning). Like the agent, any rule that fails to parse
//! makes Cilium refuse the whole object: an error, and the object is left out.

use super::{join, truncate, validate_label_key, validate_label_value, Ctx};
use crate::cilium::*;
use crate::diag::{DiagnosticCode, Severity};
use crate::kube::{Direction, IpBlock, Location, Protocol, Suppression};
use crate::selector::Operator;
use crate::yaml::{Node, Value};

const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "specs", "status"];
const RULE_FIELDS: &[&str] = &[
    "endpointSelector",
    "nodeSelector",
    "ingress",
    "ingressDeny",
    "egress",
    "egressDeny",
    "labels",
    "description",
    "enableDefaultDeny",
    "log",
];
const INGRESS_PEERS: &[&str] = &["fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes", "fromGroups"];
const EGRESS_PEERS: &[&str] =
    &["toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toServices", "toFQDNs", "toNodes", "toGroups"];
/// Cilium's limit on the ports of one `toPorts` entry.
const MAX_PORTS: usize = 40;
/// The CRD's limit on a DNS name or pattern, a server name and a Kafka topic.
const MAX_NAME: usize = 255;
/// How large a compiled L7 regular expression may grow: far above any real path pattern, low enough that a hostile
/// one cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What the namespace of the object means for its selectors.
struct Scope {
    kind: CiliumPolicyKind,
    namespace: Option<String>,
}

impl Scope {
    fn clusterwide(&self) -> bool {
        self.kind == CiliumPolicyKind::CiliumClusterwideNetworkPolicy
    }
}

pub(crate) fn cilium_policy(
    ctx: &mut Ctx<'_>,
    root: &Node,
    kind: CiliumPolicyKind,
    namespace: Option<String>,
    name: String,
    ignore: Suppression,
    location: Location,
) -> CiliumPolicy {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let scope = Scope { kind, namespace: namespace.clone() };
    let mut policy = CiliumPolicy { kind, namespace, name, rules: Vec::new(), ignore, location };
    let spec = root.get("spec").filter(|s| !s.is_null());
    let specs = root.get("specs").filter(|s| !s.is_null());
    if spec.is_none() && specs.is_none() {
        ctx.error(
            DiagnosticCode::MissingField,
            root.line,
            "spec",
            format!("a {} needs `spec` or `specs`: Cilium refuses a policy with no rule", kind.as_str()),
        );
        return policy;
    }
    if let Some(spec) = spec {
        if let Some(rule) = rule(ctx, spec, "spec", &scope) {
            policy.rules.push(rule);
        }
    }
    if let Some(specs) = specs {
        let items = ctx.seq(specs, "specs");
        for (index, item) in items.iter().enumerate() {
            if let Some(rule) = rule(ctx, item, &format!("specs[{index}]"), &scope) {
                policy.rules.push(rule);
            }
        }
        if spec.is_some() {
            ctx.push(
                Severity::Warning,
                DiagnosticCode::InvalidValue,
                specs.line,
                "specs",
                format!(
                    "both `spec` and `specs` are set: Cilium enforces all {} rules together (its documentation says a \
                     policy holds one or the other, so check that this is meant)",
                    1 + items.len()
                ),
            );
        }
    }
    policy
}

fn rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, scope: &Scope) -> Option<CiliumRule> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, RULE_FIELDS);
    let endpoints = node.get("endpointSelector").filter(|n| !n.is_null());
    let nodes = node.get("nodeSelector").filter(|n| !n.is_null());
    let subject = match (endpoints, nodes) {
        (Some(_), Some(nodes)) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                nodes.line,
                &join(field, "nodeSelector"),
                "a rule cannot have both endpointSelector and nodeSelector",
            );
            return None;
        }
        (None, None) => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &join(field, "endpointSelector"),
                "a rule needs an endpointSelector (or, in a CiliumClusterwideNetworkPolicy, a nodeSelector)",
            );
            return None;
        }
        (Some(selector), None) => {
            let field = join(field, "endpointSelector");
            let mut selector = cilium_selector(ctx, selector, &field)?;
            if let Some(namespace) = &scope.namespace {
                subject_namespace(ctx, &mut selector, namespace, endpoints.map_or(node.line, |n| n.line), &field);
            }
            CiliumSubject::Endpoints(selector)
        }
        (None, Some(selector)) => {
            let field = join(field, "nodeSelector");
            if !scope.clusterwide() {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    selector.line,
                    &field,
                    "a CiliumNetworkPolicy cannot have a nodeSelector: host policies are \
                     CiliumClusterwideNetworkPolicies",
                );
                return None;
            }
            CiliumSubject::Nodes(cilium_selector(ctx, selector, &field)?)
        }
    };
    let host_policy = matches!(subject, CiliumSubject::Nodes(_));
    let mut lists: [Vec<CiliumPeerRule>; 4] = Default::default();
    let sections = [
        ("ingress", Direction::Ingress, false),
        ("ingressDeny", Direction::Ingress, true),
        ("egress", Direction::Egress, false),
        ("egressDeny", Direction::Egress, true),
    ];
    let mut failed = false;
    for (slot, (key, direction, deny)) in sections.into_iter().enumerate() {
        let Some(list) = node.get(key) else { continue };
        let list_field = join(field, key);
        for (index, item) in ctx.seq(list, &list_field).iter().enumerate() {
            let item_field = format!("{list_field}[{index}]");
            let section = Section { direction, deny, host_policy };
            match peer_rule(ctx, item, &item_field, section, scope) {
                Some(parsed) => lists[slot].push(parsed),
                None => failed = true,
            }
        }
    }
    if lists.iter().all(Vec::is_empty) && !failed {
        // Cilium's CRD (1.15 and later) requires one of the four, and its parser then refuses a rule with no entry
        // in any; older CRDs store it and it has no effect. Either way nothing is enforced: a warning, not an
        // error, since the outcome does not depend on which.
        ctx.push(
            Severity::Warning,
            DiagnosticCode::MissingField,
            node.line,
            field,
            "a rule with no entry in ingress, ingressDeny, egress or egressDeny has no effect (Cilium 1.15 and later \
             refuse it; an empty list or null counts as none): for a default-deny write `egress: [{}]`"
                .into(),
        );
        return None;
    }
    let (mut default_ingress, mut default_egress) = (None, None);
    if let Some(config) = node.get("enableDefaultDeny").filter(|n| !n.is_null()) {
        let config_field = join(field, "enableDefaultDeny");
        if let Some(config) = ctx.map(config, &config_field) {
            ctx.unknown_fields(config, &config_field, &["ingress", "egress"]);
            default_ingress = config.get("ingress").and_then(|v| ctx.boolean(v, &join(&config_field, "ingress")));
            default_egress = config.get("egress").and_then(|v| ctx.boolean(v, &join(&config_field, "egress")));
        }
    }
    if let Some(description) = node.get("description") {
        ctx.string(description, &join(field, "description"));
    }
    if let Some(labels) = node.get("labels") {
        ctx.seq(labels, &join(field, "labels"));
    }
    let [ingress, ingress_deny, egress, egress_deny] = lists;
    Some(CiliumRule {
        field: field.to_string(),
        subject,
        ingress,
        ingress_deny,
        egress,
        egress_deny,
        declared_default_deny_ingress: default_ingress,
        declared_default_deny_egress: default_egress,
        line: node.line,
    })
}

/// A CiliumNetworkPolicy's endpointSelector always applies in the policy's namespace: Cilium replaces a
/// namespace written in its `matchLabels` and adds the policy's.
fn subject_namespace(ctx: &mut Ctx<'_>, selector: &mut CiliumSelector, namespace: &str, line: u32, field: &str) {
    let written = selector.requirements.iter().position(|r| {
        r.source == LabelSource::K8s
            && r.key == POD_NAMESPACE_LABEL
            && r.operator == Operator::In
            && r.values.len() == 1
    });
    if let Some(index) = written {
        let removed = selector.requirements.remove(index);
        if removed.values[0] != namespace {
            ctx.push(
                Severity::Warning,
                DiagnosticCode::InvalidValue,
                line,
                field,
                format!(
                    "the endpointSelector names namespace `{}`, but a CiliumNetworkPolicy always applies in its own \
                     namespace `{namespace}`: Cilium drops the namespace it names",
                    truncate(&removed.values[0])
                ),
            );
        }
    }
    selector.requirements.push(namespace_requirement(Operator::In, vec![namespace.to_string()]));
}

fn namespace_requirement(operator: Operator, values: Vec<String>) -> CiliumRequirement {
    CiliumRequirement { source: LabelSource::K8s, key: POD_NAMESPACE_LABEL.to_string(), operator, values }
}

/// `fromEndpoints`/`toEndpoints`/`fromRequires` as Cilium imports them: a selector that names no namespace is
/// limited to the policy's own (a CiliumNetworkPolicy) or to pods of any namespace (a clusterwide policy); a
/// selector naming a `reserved:` label is left as written.
fn peer_namespace(selector: &mut CiliumSelector, scope: &Scope) {
    if selector.names_reserved() || selector.names_namespace() {
        return;
    }
    let requirement = match &scope.namespace {
        Some(namespace) => namespace_requirement(Operator::In, vec![namespace.clone()]),
        None => namespace_requirement(Operator::Exists, Vec::new()),
    };
    selector.requirements.push(requirement);
}

#[derive(Clone, Copy)]
struct Section {
    direction: Direction,
    deny: bool,
    host_policy: bool,
}

impl Section {
    fn peer_fields(self) -> &'static [&'static str] {
        match self.direction {
            Direction::Ingress => INGRESS_PEERS,
            Direction::Egress => EGRESS_PEERS,
        }
    }

    fn requires_key(self) -> &'static str {
        match self.direction {
            Direction::Ingress => "fromRequires",
            Direction::Egress => "toRequires",
        }
    }

    fn known_fields(self) -> Vec<&'static str> {
        let mut known: Vec<&'static str> = self.peer_fields().to_vec();
        if self.deny && self.direction == Direction::Egress {
            // Deny rules cannot name domain names.
            known.retain(|k| *k != "toFQDNs");
        }
        known.extend([self.requires_key(), "toPorts", "icmps"]);
        if !self.deny {
            known.push("authentication");
        }
        known
    }
}

fn peer_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, section: Section, scope: &Scope) -> Option<CiliumPeerRule> {
    let Some(node) = ctx.map(node, field) else {
        // `- ` with nothing after it is a null entry: the same as `{}`.
        return node.is_null().then(|| CiliumPeerRule {
            peer_field: None,
            peers: Vec::new(),
            requires: Vec::new(),
            ports: None,
            icmps: false,
            authentication: None,
            line: node.line,
        });
    };
    let known = section.known_fields();
    ctx.unknown_fields(node, field, &known);
    let errors_before = ctx.error_count();
    // The peer fields set, with whether they hold entries: Cilium refuses a rule that combines two.
    let present: Vec<(&'static str, &Node)> = section
        .peer_fields()
        .iter()
        .filter(|key| known.contains(key))
        .filter_map(|&key| node.get(key).filter(|v| !v.is_null()).map(|v| (key, v)))
        .collect();
    let filled: Vec<&str> = present
        .iter()
        .filter(|(_, v)| !matches!(&v.value, Value::Seq(items) if items.is_empty()))
        .map(|(k, _)| *k)
        .collect();
    if let [first, second, ..] = filled.as_slice() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("combining {first} and {second} in one rule is not supported by Cilium: write them as two rules"),
        );
        return None;
    }
    let mut rule = CiliumPeerRule {
        peer_field: None,
        peers: Vec::new(),
        requires: Vec::new(),
        ports: None,
        icmps: false,
        authentication: None,
        line: node.line,
    };
    // A field written as an empty list selects nothing, and Cilium lets it win over the others.
    let chosen = present
        .iter()
        .find(|(_, v)| matches!(&v.value, Value::Seq(items) if items.is_empty()))
        .or_else(|| present.first());
    if let Some(&(key, list)) = chosen {
        rule.peer_field = Some(key);
        rule.peers = peers(ctx, key, list, &join(field, key), scope);
    }
    let requires_key = section.requires_key();
    if let Some(list) = node.get(requires_key).filter(|v| !v.is_null()) {
        let requires_field = join(field, requires_key);
        ctx.push(
            Severity::Warning,
            DiagnosticCode::DeprecatedField,
            list.line,
            &requires_field,
            format!(
                "`{requires_key}` is deprecated since Cilium 1.17 and removed in 1.19; netseg applies it as Cilium \
                 1.18 does (to every {} selector of every rule selecting the same endpoint)",
                if section.direction == Direction::Ingress { "fromEndpoints" } else { "toEndpoints" }
            ),
        );
        for (index, item) in ctx.seq(list, &requires_field).iter().enumerate() {
            if let Some(mut selector) = cilium_selector(ctx, item, &format!("{requires_field}[{index}]")) {
                peer_namespace(&mut selector, scope);
                rule.requires.push(selector);
            }
        }
    }
    let ports_node = node.get("toPorts").filter(|v| !v.is_null());
    let icmps_node = node.get("icmps").filter(|v| !v.is_null());
    if let Some(list) = icmps_node {
        rule.icmps = !ctx.seq(list, &join(field, "icmps")).is_empty();
    }
    if let Some(list) = ports_node {
        let ports_field = join(field, "toPorts");
        let items = ctx.seq(list, &ports_field);
        if rule.icmps && !items.is_empty() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "icmps may only be present without toPorts: define a separate rule for toPorts",
            );
            return None;
        }
        if rule.peer_field == Some("toServices") && !items.is_empty() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "combining toServices and toPorts is not supported by Cilium (cilium/cilium#20067)",
            );
            return None;
        }
        let mut port_rules = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(parsed) = port_rule(ctx, item, &format!("{ports_field}[{index}]"), section) {
                port_rules.push(parsed);
            }
        }
        rule.ports = Some(port_rules);
    }
    if let Some(auth) = node.get("authentication").filter(|v| !v.is_null() && known.contains(&"authentication")) {
        let auth_field = join(field, "authentication");
        if let Some(auth) = ctx.map(auth, &auth_field) {
            ctx.unknown_fields(auth, &auth_field, &["mode"]);
            let mode_field = join(&auth_field, "mode");
            match auth.get("mode").and_then(|m| ctx.string(m, &mode_field)) {
                Some(mode) if mode == "disabled" => {}
                Some(mode) if mode == "required" || mode == "test-always-fail" => rule.authentication = Some(mode),
                Some(mode) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    auth.line,
                    &mode_field,
                    format!("`{}` is not an authentication mode: use disabled or required", truncate(&mode)),
                ),
                None => ctx.error(DiagnosticCode::MissingField, auth.line, &mode_field, "authentication needs a mode"),
            }
        }
    }
    (ctx.error_count() == errors_before).then_some(rule)
}

fn peers(ctx: &mut Ctx<'_>, key: &str, list: &Node, field: &str, scope: &Scope) -> Vec<CiliumPeer> {
    let mut peers = Vec::new();
    for (index, item) in ctx.seq(list, field).iter().enumerate() {
        let item_field = format!("{field}[{index}]");
        let selection = match key {
            "fromEndpoints" | "toEndpoints" => cilium_selector(ctx, item, &item_field).map(|mut selector| {
                peer_namespace(&mut selector, scope);
                CiliumPeerSelection::Endpoints(selector)
            }),
            "fromNodes" | "toNodes" => cilium_selector(ctx, item, &item_field).map(CiliumPeerSelection::Nodes),
            "fromEntities" | "toEntities" => entity(ctx, item, &item_field).map(CiliumPeerSelection::Entity),
            "fromCIDR" | "toCIDR" => {
                let text = ctx.string(item, &item_field);
                text.and_then(|text| match parse_cidr_or_address(text.trim()) {
                    Ok(cidr) => Some(CiliumPeerSelection::Cidr(IpBlock { cidr, except: Vec::new() })),
                    Err(error) => {
                        ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, error.to_string());
                        None
                    }
                })
            }
            "fromCIDRSet" | "toCIDRSet" => cidr_rule(ctx, item, &item_field),
            "toServices" => {
                let services = service_refs(ctx, item, &item_field, scope);
                for service in services {
                    peers.push(CiliumPeer { selection: CiliumPeerSelection::Service(service), line: item.line });
                }
                continue;
            }
            "toFQDNs" => fqdn_selector(ctx, item, &item_field).map(CiliumPeerSelection::Fqdn),
            _ => {
                ctx.map(item, &item_field);
                Some(CiliumPeerSelection::CloudGroup)
            }
        };
        if let Some(selection) = selection {
            peers.push(CiliumPeer { selection, line: item.line });
        }
    }
    peers
}

fn entity(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CiliumEntity> {
    let name = ctx.string(node, field)?;
    match CiliumEntity::from_name(&name) {
        Some(entity) => Some(entity),
        None => {
            let names: Vec<&str> = CiliumEntity::ALL.iter().map(|e| e.as_str()).collect();
            let hint = CiliumEntity::ALL
                .iter()
                .find(|e| {
                    e.as_str().eq_ignore_ascii_case(&name) || e.as_str().replace('-', "") == name.to_ascii_lowercase()
                })
                .map(|e| format!(" (did you mean `{}`?)", e.as_str()))
                .unwrap_or_default();
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                format!("unsupported entity `{}`: use one of {}{hint}", truncate(&name), names.join(", ")),
            );
            None
        }
    }
}

/// A `fromCIDRSet`/`toCIDRSet` entry: exactly one of `cidr`, `cidrGroupRef`, `cidrGroupSelector`, and `except`
/// prefixes inside the `cidr`.
fn cidr_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CiliumPeerSelection> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["cidr", "cidrGroupRef", "cidrGroupSelector", "except"]);
    let set: Vec<&str> = ["cidr", "cidrGroupRef", "cidrGroupSelector"]
        .into_iter()
        .filter(|key| node.get(key).is_some_and(|v| !v.is_null()))
        .collect();
    if set.len() != 1 {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!(
                "a CIDR rule must set exactly one of cidr, cidrGroupRef, cidrGroupSelector; it sets {}",
                if set.is_empty() { "none".to_string() } else { set.join(" and ") }
            ),
        );
        return None;
    }
    match set[0] {
        "cidrGroupRef" => {
            let name = node.get("cidrGroupRef").and_then(|n| ctx.string(n, &join(field, "cidrGroupRef")))?;
            Some(CiliumPeerSelection::CidrGroup(format!("CiliumCIDRGroup {name}")))
        }
        "cidrGroupSelector" => {
            let selector_field = join(field, "cidrGroupSelector");
            let selector = node.get("cidrGroupSelector").and_then(|n| cilium_selector(ctx, n, &selector_field))?;
            Some(CiliumPeerSelection::CidrGroup(format!("CiliumCIDRGroups {selector}")))
        }
        _ => {
            let cidr_field = join(field, "cidr");
            let cidr_node = node.get("cidr")?;
            let text = ctx.string(cidr_node, &cidr_field)?;
            // A CIDR rule takes only ADDRESS/PREFIX, unlike fromCIDR, which also takes a bare address.
            let cidr = match text.trim().parse::<crate::cidr::Cidr>() {
                Ok(cidr) => cidr,
                Err(error) => {
                    ctx.error(DiagnosticCode::InvalidValue, cidr_node.line, &cidr_field, error.to_string());
                    return None;
                }
            };
            let mut except = Vec::new();
            if let Some(list) = node.get("except") {
                let except_field = join(field, "except");
                for (index, item) in ctx.seq(list, &except_field).iter().enumerate() {
                    let item_field = format!("{except_field}[{index}]");
                    let Some(text) = ctx.string(item, &item_field) else { continue };
                    match text.trim().parse::<crate::cidr::Cidr>() {
                        Ok(inner) if cidr.contains(inner.network) => except.push(inner),
                        Ok(inner) => ctx.error(
                            DiagnosticCode::InvalidValue,
                            item.line,
                            &item_field,
                            format!("the CIDR `{cidr}` does not contain the excepted prefix `{inner}`"),
                        ),
                        Err(error) => {
                            ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, error.to_string())
                        }
                    }
                }
            }
            Some(CiliumPeerSelection::Cidr(IpBlock { cidr, except }))
        }
    }
}

/// A `toServices` entry: `k8sService` and `k8sServiceSelector` each name Services. An empty namespace is the
/// policy's own in a CiliumNetworkPolicy, and any namespace in a clusterwide one.
fn service_refs(ctx: &mut Ctx<'_>, node: &Node, field: &str, scope: &Scope) -> Vec<CiliumServiceRef> {
    let mut refs = Vec::new();
    let Some(node) = ctx.map(node, field) else { return refs };
    ctx.unknown_fields(node, field, &["k8sService", "k8sServiceSelector"]);
    let namespace_of = |ctx: &mut Ctx<'_>, node: &Node, field: &str| -> Option<String> {
        node.get("namespace")
            .and_then(|n| ctx.string(n, &join(field, "namespace")))
            .filter(|n| !n.is_empty())
            .or_else(|| scope.namespace.clone())
    };
    if let Some(named) = node.get("k8sService").filter(|v| !v.is_null()) {
        let named_field = join(field, "k8sService");
        if let Some(named) = ctx.map(named, &named_field) {
            ctx.unknown_fields(named, &named_field, &["serviceName", "namespace"]);
            let namespace = namespace_of(ctx, named, &named_field);
            match named.get("serviceName").and_then(|n| ctx.string(n, &join(&named_field, "serviceName"))) {
                Some(name) if !name.is_empty() => refs.push(CiliumServiceRef::Named { namespace, name }),
                _ => ctx.push(
                    Severity::Warning,
                    DiagnosticCode::MissingField,
                    named.line,
                    &join(&named_field, "serviceName"),
                    "k8sService names no service: it selects nothing".into(),
                ),
            }
        }
    }
    if let Some(by_labels) = node.get("k8sServiceSelector").filter(|v| !v.is_null()) {
        let selector_field = join(field, "k8sServiceSelector");
        if let Some(by_labels) = ctx.map(by_labels, &selector_field) {
            ctx.unknown_fields(by_labels, &selector_field, &["selector", "namespace"]);
            let namespace = namespace_of(ctx, by_labels, &selector_field);
            match by_labels.get("selector") {
                Some(selector) => {
                    if let Some(selector) = cilium_selector(ctx, selector, &join(&selector_field, "selector")) {
                        refs.push(CiliumServiceRef::Selector { namespace, selector });
                    }
                }
                None => ctx.error(
                    DiagnosticCode::MissingField,
                    by_labels.line,
                    &join(&selector_field, "selector"),
                    "k8sServiceSelector needs a selector",
                ),
            }
        }
    }
    if node.get("k8sService").is_none() && node.get("k8sServiceSelector").is_none() {
        ctx.push(
            Severity::Warning,
            DiagnosticCode::MissingField,
            node.line,
            field,
            "a toServices entry with neither k8sService nor k8sServiceSelector selects nothing".into(),
        );
    }
    refs
}

/// `matchName` or `matchPattern` (exactly one), as the CRD's patterns and Cilium's `FQDNSelector.sanitize` allow.
fn fqdn_selector(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<FqdnSelector> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["matchName", "matchPattern"]);
    let name = node.get("matchName").filter(|v| !v.is_null());
    let pattern = node.get("matchPattern").filter(|v| !v.is_null());
    let (key, value, wildcard) = match (name, pattern) {
        (Some(value), None) => ("matchName", value, false),
        (None, Some(value)) => ("matchPattern", value, true),
        (Some(_), Some(_)) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "only one of matchName or matchPattern is allowed in one entry",
            );
            return None;
        }
        (None, None) => {
            ctx.error(DiagnosticCode::MissingField, node.line, field, "an entry needs matchName or matchPattern");
            return None;
        }
    };
    let value_field = join(field, key);
    let text = ctx.string(value, &value_field)?;
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || (wildcard && c == '*');
    let well_formed = !text.is_empty()
        && text.chars().all(valid_char)
        && !text.starts_with('.')
        && !text.contains("..")
        && text.chars().count() <= MAX_NAME;
    if !well_formed {
        let allowed =
            if wildcard { "letters, digits, `-`, `_`, `.` and `*`" } else { "letters, digits, `-`, `_` and `.`" };
        ctx.error(
            DiagnosticCode::InvalidValue,
            value.line,
            &value_field,
            format!(
                "`{}` is not a DNS {}: use {allowed}, at most {MAX_NAME} characters",
                truncate(&text),
                if wildcard { "pattern" } else { "name" }
            ),
        );
        return None;
    }
    let normalized = normalize_dns_name(&text);
    Some(if wildcard { FqdnSelector::Pattern(normalized) } else { FqdnSelector::Name(normalized) })
}

fn port_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, section: Section) -> Option<CiliumPortRule> {
    let node = ctx.map(node, field)?;
    let known: &[&str] = if section.deny {
        &["ports"]
    } else {
        &["ports", "rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"]
    };
    ctx.unknown_fields(node, field, known);
    let errors_before = ctx.error_count();
    let mut rule =
        CiliumPortRule { ports: Vec::new(), l7: None, server_names: Vec::new(), listener: None, line: node.line };
    if let Some(list) = node.get("ports") {
        let ports_field = join(field, "ports");
        let items = ctx.seq(list, &ports_field);
        if items.len() > MAX_PORTS {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &ports_field,
                format!("{} ports; Cilium allows at most {MAX_PORTS} in one entry", items.len()),
            );
        }
        for (index, item) in items.iter().enumerate() {
            if let Some(port) = port(ctx, item, &format!("{ports_field}[{index}]")) {
                rule.ports.push(port);
            }
        }
    }
    if section.deny {
        return (ctx.error_count() == errors_before).then_some(rule);
    }
    if let Some(rules) = node.get("rules").filter(|v| !v.is_null()) {
        rule.l7 = l7_rules(ctx, rules, &join(field, "rules"), section, &rule.ports);
    }
    if let Some(names) = node.get("serverNames").filter(|v| !v.is_null()) {
        let names_field = join(field, "serverNames");
        for (index, item) in ctx.seq(names, &names_field).iter().enumerate() {
            let item_field = format!("{names_field}[{index}]");
            let Some(name) = ctx.string(item, &item_field) else { continue };
            if name.is_empty() {
                ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, "an empty server name is not allowed");
            } else {
                rule.server_names.push(name.to_ascii_lowercase());
            }
        }
        let terminating = node.get("terminatingTLS").is_some_and(|v| !v.is_null());
        if !rule.server_names.is_empty() && node.get("rules").is_some_and(|v| !v.is_null()) && !terminating {
            ctx.error(
                DiagnosticCode::InvalidValue,
                names.line,
                &names_field,
                "serverNames are not allowed together with L7 rules unless the proxy terminates TLS (terminatingTLS)",
            );
        }
    }
    if let Some(listener) = node.get("listener").filter(|v| !v.is_null()) {
        let listener_field = join(field, "listener");
        if section.direction == Direction::Ingress {
            ctx.error(
                DiagnosticCode::InvalidValue,
                listener.line,
                &listener_field,
                "a listener is not allowed on ingress",
            );
        } else if node.get("rules").is_some_and(|v| !v.is_null()) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                listener.line,
                &listener_field,
                "a listener is not allowed with L7 rules",
            );
        } else if let Some(map) = ctx.map(listener, &listener_field) {
            ctx.unknown_fields(map, &listener_field, &["envoyConfig", "name", "priority"]);
            let name = map.get("name").and_then(|n| ctx.string(n, &join(&listener_field, "name")));
            match name.filter(|n| !n.is_empty()) {
                Some(name) => rule.listener = Some(name),
                None => ctx.error(
                    DiagnosticCode::MissingField,
                    map.line,
                    &join(&listener_field, "name"),
                    "a listener needs a name",
                ),
            }
        }
    }
    for tls in ["terminatingTLS", "originatingTLS"] {
        if let Some(context) = node.get(tls).filter(|v| !v.is_null()) {
            ctx.map(context, &join(field, tls));
        }
    }
    (ctx.error_count() == errors_before).then_some(rule)
}

/// An IANA service name as Cilium's `iana.IsSvcName` reads it: 1-15 letters, digits and single inner dashes,
/// with at least one letter. Anything else must be a number.
fn is_service_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 15
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && text.chars().any(|c| c.is_ascii_alphabetic())
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
}

/// Go's `strconv.ParseUint(text, 0, 16)` for the strings that are not service names: decimal, or octal with a
/// leading `0`, with `_` allowed between digits.
fn go_port_number(text: &str) -> Option<u16> {
    let (digits, radix) = match text.strip_prefix('0') {
        Some(rest) if !rest.is_empty() => (rest.strip_prefix('_').unwrap_or(rest), 8),
        _ => (text, 10),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if !cleaned.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u16::from_str_radix(&cleaned, radix).ok()
}

fn port(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CiliumPort> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["port", "endPort", "protocol"]);
    let port_field = join(field, "port");
    let port = match node.get("port").map(|p| (p, &p.value)) {
        Some((_, Value::Str(text))) if text.is_empty() => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &port_field,
                "a port must be specified (\"0\" means every port)",
            );
            None
        }
        Some((_, Value::Str(text))) if is_service_name(text) => {
            Some(CiliumPortNumber::Named(text.to_ascii_lowercase()))
        }
        Some((p, Value::Str(text))) => match go_port_number(text) {
            Some(0) => Some(CiliumPortNumber::All),
            Some(number) => Some(CiliumPortNumber::Number(number)),
            None => {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    p.line,
                    &port_field,
                    format!(
                        "`{}` is not a port: use a number 0-65535 (0 is every port) or a port name",
                        truncate(text)
                    ),
                );
                None
            }
        },
        Some((p, Value::Int(n))) => {
            ctx.error(
                DiagnosticCode::WrongType,
                p.line,
                &port_field,
                format!("expected a string, found integer `{n}`: Cilium's CRD wants ports quoted (port: \"{n}\")"),
            );
            None
        }
        Some((p, _)) => {
            ctx.wrong_type(p, &port_field, "a port as a string");
            None
        }
        None => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &port_field,
                "a port must be specified (\"0\" means every port)",
            );
            None
        }
    };
    let end_field = join(field, "endPort");
    let end_port = match node.get("endPort") {
        None => None,
        Some(end) => match end.value {
            Value::Null => None,
            Value::Int(n) if (0..=65535).contains(&n) => u16::try_from(n).ok(),
            Value::Int(n) => {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    end.line,
                    &end_field,
                    format!("endPort {n} is outside 0-65535"),
                );
                None
            }
            _ => {
                ctx.wrong_type(end, &end_field, "an integer endPort");
                None
            }
        },
    };
    let protocol_field = join(field, "protocol");
    let protocol = match node.get("protocol").map(|p| (p, ctx.string(p, &protocol_field))) {
        None | Some((_, None)) => CiliumProtocol::Any,
        Some((_, Some(text))) if text.is_empty() || text == "ANY" => CiliumProtocol::Any,
        Some((p, Some(text))) => match Protocol::from_api(&text) {
            Some(protocol) => CiliumProtocol::One(protocol),
            None => {
                let hint = if Protocol::from_user(&text).is_some() || text.eq_ignore_ascii_case("any") {
                    " (case matters)"
                } else {
                    ""
                };
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    p.line,
                    &protocol_field,
                    format!("protocol `{}` is not one of TCP, UDP, SCTP, ANY{hint}", truncate(&text)),
                );
                CiliumProtocol::Any
            }
        },
    };
    let port = port?;
    let end_port = match (&port, end_port) {
        (_, None | Some(0)) => None,
        (CiliumPortNumber::Number(start), Some(end)) if end > *start => Some(end),
        (CiliumPortNumber::Number(start), Some(end)) => {
            ctx.push(
                Severity::Warning,
                DiagnosticCode::InvalidValue,
                node.get("endPort").map_or(node.line, |e| e.line),
                &end_field,
                format!("endPort {end} is not above port {start}: Cilium uses port {start} alone"),
            );
            None
        }
        (_, Some(_)) => {
            ctx.push(
                Severity::Warning,
                DiagnosticCode::InvalidValue,
                node.get("endPort").map_or(node.line, |e| e.line),
                &end_field,
                "endPort is ignored with a named port or port 0".into(),
            );
            None
        }
    };
    Some(CiliumPort { port, end_port, protocol, line: node.line })
}

fn l7_rules(ctx: &mut Ctx<'_>, node: &Node, field: &str, section: Section, ports: &[CiliumPort]) -> Option<L7Rules> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["http", "kafka", "dns", "l7proto", "l7"]);
    let kinds: Vec<&str> =
        ["http", "kafka", "dns", "l7proto"].into_iter().filter(|k| node.get(k).is_some_and(|v| !v.is_null())).collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] if node.get("l7").is_some_and(|v| !v.is_null()) => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &join(field, "l7proto"),
                "'l7' may only be specified when a 'l7proto' is also specified",
            );
            return None;
        }
        [] => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "rules must set exactly one of http, kafka, dns, l7proto; it sets none",
            );
            return None;
        }
        many => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                format!("multiple L7 protocol rule types in one rule ({}): Cilium allows one", many.join(" and ")),
            );
            return None;
        }
    };
    let kind_field = join(field, kind);
    if kind == "dns" {
        if section.direction == Direction::Ingress {
            ctx.error(DiagnosticCode::InvalidValue, node.line, &kind_field, "DNS rules are not allowed on ingress");
            return None;
        }
        if ports.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, node.line, &kind_field, "port 53 must be specified for DNS rules");
            return None;
        }
        if ports.iter().any(|p| p.end_port.is_some()) {
            ctx.error(DiagnosticCode::InvalidValue, node.line, &kind_field, "DNS rules do not support port ranges");
            return None;
        }
    } else {
        if section.host_policy {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &kind_field,
                "host policies (nodeSelector) support only DNS L7 rules",
            );
            return None;
        }
        if let Some(bad) = ports.iter().find(|p| p.protocol != CiliumProtocol::One(Protocol::Tcp)) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                bad.line,
                &kind_field,
                format!(
                    "L7 rules can only apply to TCP (not {}) except for DNS rules: set `protocol: TCP`",
                    bad.protocol.as_str()
                ),
            );
            return None;
        }
    }
    if ports.iter().any(|p| p.port == CiliumPortNumber::All) {
        ctx.error(DiagnosticCode::InvalidValue, node.line, &kind_field, "L7 rules cannot be used when a port is 0");
        return None;
    }
    let list = node.get(kind)?;
    let errors_before = ctx.error_count();
    let rules = match kind {
        "http" => L7Rules::Http(each(ctx, list, &kind_field, http_rule)),
        "kafka" => L7Rules::Kafka(each(ctx, list, &kind_field, kafka_rule)),
        "dns" => L7Rules::Dns(each(ctx, list, &kind_field, fqdn_selector)),
        _ => {
            let proto = ctx.string(list, &kind_field).unwrap_or_default();
            let rules = node.get("l7").map_or(0, |l7| ctx.seq(l7, &join(field, "l7")).len());
            L7Rules::Generic { proto, rules }
        }
    };
    (ctx.error_count() == errors_before).then_some(rules)
}

/// The items of a list that decode, each read at its own field (`rules.http[2]`).
fn each<T>(
    ctx: &mut Ctx<'_>,
    list: &Node,
    field: &str,
    decode: impl Fn(&mut Ctx<'_>, &Node, &str) -> Option<T>,
) -> Vec<T> {
    let items = ctx.seq(list, field);
    items.iter().enumerate().filter_map(|(i, item)| decode(ctx, item, &format!("{field}[{i}]"))).collect()
}

fn http_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<HttpRule> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["method", "path", "host", "headers", "headerMatches"]);
    let mut rule = HttpRule { method: None, path: None, host: None, headers: Vec::new(), line: node.line };
    for key in ["method", "path", "host"] {
        let Some(value) = node.get(key) else { continue };
        let key_field = join(field, key);
        let Some(text) = ctx.string(value, &key_field).filter(|t| !t.is_empty()) else { continue };
        let Some(pattern) = http_pattern(ctx, &text, value.line, &key_field) else { continue };
        match key {
            "method" => rule.method = Some(pattern),
            "path" => rule.path = Some(pattern),
            _ => rule.host = Some(pattern),
        }
    }
    if let Some(list) = node.get("headers") {
        let headers_field = join(field, "headers");
        for (index, item) in ctx.seq(list, &headers_field).iter().enumerate() {
            let Some(text) = ctx.string(item, &format!("{headers_field}[{index}]")) else { continue };
            // Cilium splits at the first space: `X-Token: abc` needs the value, `X-Token` only the header.
            let header = match text.trim().split_once(' ') {
                Some((name, value)) => HeaderMatch {
                    name: name.trim_end_matches(':').to_ascii_lowercase(),
                    value: Some(value.to_string()),
                    secret: false,
                    mismatch: None,
                },
                None => {
                    HeaderMatch { name: text.trim().to_ascii_lowercase(), value: None, secret: false, mismatch: None }
                }
            };
            rule.headers.push(header);
        }
    }
    if let Some(list) = node.get("headerMatches") {
        let matches_field = join(field, "headerMatches");
        for (index, item) in ctx.seq(list, &matches_field).iter().enumerate() {
            let item_field = format!("{matches_field}[{index}]");
            let Some(item) = ctx.map(item, &item_field) else { continue };
            ctx.unknown_fields(item, &item_field, &["name", "value", "secret", "mismatch"]);
            let name =
                item.get("name").and_then(|n| ctx.string(n, &join(&item_field, "name"))).filter(|n| !n.is_empty());
            let Some(name) = name else {
                ctx.error(DiagnosticCode::MissingField, item.line, &join(&item_field, "name"), "header name missing");
                continue;
            };
            let value = item.get("value").and_then(|v| ctx.string(v, &join(&item_field, "value")));
            let mismatch_field = join(&item_field, "mismatch");
            let mismatch = item.get("mismatch").and_then(|m| ctx.string(m, &mismatch_field)).filter(|m| !m.is_empty());
            if let Some(action) = &mismatch {
                if !matches!(action.as_str(), "LOG" | "ADD" | "DELETE" | "REPLACE") {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &mismatch_field,
                        format!("invalid header action `{}`: use LOG, ADD, DELETE or REPLACE", truncate(action)),
                    );
                }
            }
            let mut secret = false;
            if let Some(reference) = item.get("secret").filter(|s| !s.is_null()) {
                let secret_field = join(&item_field, "secret");
                if let Some(reference) = ctx.map(reference, &secret_field) {
                    ctx.unknown_fields(reference, &secret_field, &["name", "namespace"]);
                    let secret_name = reference.get("name").and_then(|n| ctx.string(n, &join(&secret_field, "name")));
                    if secret_name.is_none_or(|n| n.is_empty()) {
                        ctx.error(
                            DiagnosticCode::MissingField,
                            reference.line,
                            &join(&secret_field, "name"),
                            "secret name missing",
                        );
                    }
                    secret = true;
                }
            }
            rule.headers.push(HeaderMatch { name: name.to_ascii_lowercase(), value, secret, mismatch });
        }
    }
    Some(rule)
}

/// Compiles an HTTP rule's regular expression as one that must match the whole value, as Envoy matches it.
///
/// Cilium validates `path` and `method` with Go's RE2 package and Envoy matches all three with Google's RE2; the
/// `regex` crate reads the same syntax except that it has no `\Q...\E` (rewritten here into escaped text), and
/// that its `\d`, `\w`, `\s` and `\b` are Unicode-aware where RE2's are ASCII (an ASCII request path answers
/// alike).
fn http_pattern(ctx: &mut Ctx<'_>, text: &str, line: u32, field: &str) -> Option<HttpPattern> {
    let source = expand_quoted_literals(text);
    let built = regex::RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build();
    match built {
        Ok(regex) => Some(HttpPattern::new(text.to_string(), regex)),
        Err(error) => {
            let reason = match &error {
                regex::Error::CompiledTooBig(_) => {
                    format!("larger than netseg's limit of {REGEX_SIZE_LIMIT} bytes compiled")
                }
                _ => error.to_string().lines().last().unwrap_or("invalid").trim().to_string(),
            };
            ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                field,
                format!("`{}` is not a valid regular expression: {reason}", truncate(text)),
            );
            None
        }
    }
}

/// RE2's `\Q...\E` quoting, which the `regex` crate lacks, as escaped literal text.
fn expand_quoted_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\\Q") {
        // A `\\Q` is an escaped backslash followed by Q, not a quote.
        let backslashes = rest[..start].chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 1 {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 2..];
        let (literal, after) = match quoted.find("\\E") {
            Some(end) => (&quoted[..end], &quoted[end + 2..]),
            None => (quoted, ""),
        };
        out.push_str(&regex::escape(literal));
        rest = after;
    }
    out.push_str(rest);
    out
}

fn kafka_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<KafkaRule> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["role", "apiKey", "apiVersion", "clientID", "topic"]);
    let mut get = |key: &str| node.get(key).and_then(|v| ctx.string(v, &join(field, key))).filter(|v| !v.is_empty());
    let rule = KafkaRule {
        role: get("role"),
        api_key: get("apiKey"),
        api_version: get("apiVersion"),
        client_id: get("clientID"),
        topic: get("topic"),
        line: node.line,
    };
    if let Some(role) = &rule.role {
        if !matches!(role.to_ascii_lowercase().as_str(), "produce" | "consume") {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "role"),
                format!("invalid Kafka role `{}`: use produce or consume", truncate(role)),
            );
        }
        if rule.api_key.is_some() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "apiKey"),
                "apiKey and role cannot both be set",
            );
        }
    }
    if let Some(version) = &rule.api_version {
        if version.parse::<i16>().is_err() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "apiVersion"),
                format!("apiVersion `{}` is not a number", truncate(version)),
            );
        }
    }
    if let Some(topic) = &rule.topic {
        let valid =
            topic.len() <= MAX_NAME && topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "topic"),
                format!(
                    "`{}` is not a Kafka topic: at most {MAX_NAME} letters, digits, `.`, `_` and `-`",
                    truncate(topic)
                ),
            );
        }
    }
    Some(rule)
}

/// A Cilium endpoint selector: a label selector whose keys may carry a source (`k8s:app`, `reserved:host`,
/// `any:app`, or `$host` for `reserved:host`). Keys and values are validated as Cilium validates them, on the key
/// with its source (`k8s.app`).
pub(crate) fn cilium_selector(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CiliumSelector> {
    let Some(node) = ctx.map(node, field) else {
        // `{}` written as null: every endpoint, as an empty selector.
        return node.is_null().then(CiliumSelector::default);
    };
    ctx.unknown_fields(node, field, &["matchLabels", "matchExpressions"]);
    let errors_before = ctx.error_count();
    let mut selector = CiliumSelector::default();
    if let Some(labels) = node.get("matchLabels").filter(|l| !l.is_null()) {
        let labels_field = join(field, "matchLabels");
        if let Some(labels) = ctx.map(labels, &labels_field) {
            if let Value::Map(entries) = &labels.value {
                for (key, value) in entries {
                    let path = join(&labels_field, key);
                    let Some((source, name)) = label_key(ctx, key, value.line, &path) else { continue };
                    let text = match &value.value {
                        Value::Str(s) => s.clone(),
                        Value::Null => String::new(),
                        _ => {
                            ctx.wrong_type(value, &path, "a string label value");
                            continue;
                        }
                    };
                    if let Err(why) = validate_label_value(&text) {
                        ctx.error(
                            DiagnosticCode::InvalidValue,
                            value.line,
                            &path,
                            format!("invalid label value `{}`: {why}", truncate(&text)),
                        );
                    }
                    selector.requirements.push(CiliumRequirement {
                        source,
                        key: name,
                        operator: Operator::In,
                        values: vec![text],
                    });
                }
            }
        }
    }
    if let Some(expressions) = node.get("matchExpressions") {
        let expressions_field = join(field, "matchExpressions");
        for (index, item) in ctx.seq(expressions, &expressions_field).iter().enumerate() {
            let item_field = format!("{expressions_field}[{index}]");
            if let Some(requirement) = cilium_requirement(ctx, item, &item_field) {
                selector.requirements.push(requirement);
            }
        }
    }
    (ctx.error_count() == errors_before).then_some(selector)
}

/// Splits a selector key into its source and name, as Cilium's `GetExtendedKeyFrom` does, and validates the key as
/// Cilium stores it (`source.name`).
fn label_key(ctx: &mut Ctx<'_>, key: &str, line: u32, field: &str) -> Option<(LabelSource, String)> {
    let (source, name) = if let Some(rest) = key.strip_prefix('$') {
        (LabelSource::Reserved, rest)
    } else {
        match key.split_once(':') {
            None => (LabelSource::Any, key),
            Some(("any", rest)) => (LabelSource::Any, rest),
            Some(("k8s", rest)) => (LabelSource::K8s, rest),
            Some(("reserved", rest)) => (LabelSource::Reserved, rest),
            Some((other, rest)) => (LabelSource::Other(format!("{other}:")), rest),
        }
    };
    let stored = match &source {
        LabelSource::Any => format!("any.{name}"),
        LabelSource::K8s => format!("k8s.{name}"),
        LabelSource::Reserved => format!("reserved.{name}"),
        LabelSource::Other(prefix) => format!("{}.{name}", prefix.trim_end_matches(':')),
    };
    if let Err(why) = validate_label_key(&stored) {
        ctx.error(DiagnosticCode::InvalidValue, line, field, format!("invalid label key `{}`: {why}", truncate(key)));
        return None;
    }
    Some((source, name.to_string()))
}

fn cilium_requirement(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CiliumRequirement> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["key", "operator", "values"]);
    let key_field = join(field, "key");
    let Some(key) = node.get("key").and_then(|k| ctx.string(k, &key_field)) else {
        ctx.error(DiagnosticCode::MissingField, node.line, &key_field, "a selector requirement needs a key");
        return None;
    };
    let (source, name) = label_key(ctx, &key, node.line, &key_field)?;
    let operator_field = join(field, "operator");
    let operator = match node.get("operator").and_then(|o| ctx.string(o, &operator_field)).as_deref() {
        Some("In") => Operator::In,
        Some("NotIn") => Operator::NotIn,
        Some("Exists") => Operator::Exists,
        Some("DoesNotExist") => Operator::DoesNotExist,
        Some(other) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &operator_field,
                format!(
                    "`{}` is not a valid operator: use In, NotIn, Exists or DoesNotExist (case matters)",
                    truncate(other)
                ),
            );
            return None;
        }
        None => {
            ctx.error(
                DiagnosticCode::MissingField,
                node.line,
                &operator_field,
                "a selector requirement needs an operator",
            );
            return None;
        }
    };
    let values_field = join(field, "values");
    let mut values = Vec::new();
    if let Some(list) = node.get("values") {
        for (index, item) in ctx.seq(list, &values_field).iter().enumerate() {
            let item_field = format!("{values_field}[{index}]");
            if let Some(value) = ctx.string(item, &item_field) {
                if let Err(why) = validate_label_value(&value) {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &item_field,
                        format!("invalid label value `{}`: {why}", truncate(&value)),
                    );
                }
                values.push(value);
            }
        }
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &values_field,
                format!("operator {operator:?} needs at least one value"),
            );
            return None;
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &values_field,
                format!("operator {operator:?} takes no values"),
            );
            return None;
        }
        _ => {}
    }
    Some(CiliumRequirement { source, key: name, operator, values })
}

/// The parts of the `cilium-config` ConfigMap that change what policies mean.
pub(crate) fn cilium_config(ctx: &mut Ctx<'_>, root: &Node, namespace: String, location: Location) -> CiliumConfig {
    let mut config = CiliumConfig {
        namespace,
        enforcement: None,
        cluster_name: None,
        cidr_match_nodes: false,
        l7_proxy: true,
        allow_localhost: None,
        identity_labels: None,
        location,
    };
    let Some(data) = root.get("data").and_then(|d| ctx.map(d, "data")) else { return config };
    let mut values = std::collections::HashMap::new();
    for key in
        ["enable-policy", "cluster-name", "policy-cidr-match-mode", "enable-l7-proxy", "allow-localhost", "labels"]
    {
        if let Some(node) = data.get(key) {
            if let Some(value) = ctx.string(node, &join("data", key)) {
                values.insert(key, (value, node.line));
            }
        }
    }
    let get = |key: &str| values.get(key).cloned();
    if let Some((value, line)) = get("enable-policy") {
        match PolicyEnforcement::from_config(&value) {
            Some(mode) => config.enforcement = Some(mode),
            None => ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                "data.enable-policy",
                format!("`{}` is not a policy enforcement mode: use default, always or never (the agent refuses to start otherwise)", truncate(&value)),
            ),
        }
    }
    config.cluster_name = get("cluster-name").map(|(v, _)| v).filter(|v| !v.is_empty());
    if let Some((value, _)) = get("policy-cidr-match-mode") {
        config.cidr_match_nodes = value.split([',', ' ']).any(|mode| mode.trim() == "nodes");
    }
    if let Some((value, _)) = get("enable-l7-proxy") {
        config.l7_proxy = !value.trim().eq_ignore_ascii_case("false");
    }
    config.allow_localhost = get("allow-localhost").map(|(v, _)| v).filter(|v| !v.is_empty());
    config.identity_labels = get("labels").map(|(v, _)| v).filter(|v| !v.trim().is_empty());
    config
}

#[cfg(test)]
mod tests;
