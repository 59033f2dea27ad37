//! Calico's objects (`projectcalico.org/v3` and `crd.projectcalico.org/v1`): Tier, NetworkPolicy,
//! GlobalNetworkPolicy, their staged forms, NetworkSet, GlobalNetworkSet and HostEndpoint, validated as Calico's
//! API server and CRD schemas do (libcalico-go's validator and the CEL rules on the types). An object they would
//! refuse is an error and left out; an unknown field is a warning.

use super::{join, truncate, validate_dns_label, Ctx};
use crate::calico::*;
use crate::calico_selector::CalicoSelector;
use crate::cidr::Cidr;
use crate::diag::DiagnosticCode;
use crate::kube::*;
use crate::selector::Labels;
use crate::yaml::{Node, Value};
use std::net::IpAddr;
use std::str::FromStr;

const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
/// The CRDs' limits.
const MAX_RULES: usize = 1024;
const MAX_NETS: usize = 256;
const MAX_PORTS: usize = 50;
const MAX_HTTP_ITEMS: usize = 20;

fn number(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<f64> {
    match node.value {
        #[allow(clippy::cast_precision_loss)]
        Value::Int(n) => Some(n as f64),
        Value::Float(f) if f.is_finite() => Some(f),
        Value::Null => None,
        _ => {
            ctx.wrong_type(node, field, "a number");
            None
        }
    }
}

/// A selector field: parsed, with the column of a syntax error inside the expression.
fn selector(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CalicoSelector> {
    let text = ctx.string(node, field)?;
    match CalicoSelector::parse(&text) {
        Ok(selector) => Some(selector),
        Err(error) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                format!("invalid selector `{}`: at column {}: {}", truncate(&text), error.column, error.message),
            );
            None
        }
    }
}

/// `global()` may only appear, alone, in a rule's `namespaceSelector`.
fn no_global(ctx: &mut Ctx<'_>, selector: &CalicoSelector, line: u32, field: &str) {
    if selector.uses_global() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            line,
            field,
            "global() can only be used in a rule's namespaceSelector (source or destination)",
        );
    }
}

fn name_line(root: &Node) -> u32 {
    root.get("metadata").map_or(root.line, |m| m.get("name").map_or(m.line, |n| n.line))
}

fn tier_name_valid(name: &str) -> bool {
    validate_dns_label(name).is_ok()
}

pub(crate) fn calico_tier(ctx: &mut Ctx<'_>, root: &Node, name: String, location: Location) -> CalicoTier {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut tier = CalicoTier { name, order: None, default_action: TierDefault::Deny, location };
    if !tier_name_valid(&tier.name) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            name_line(root),
            "metadata.name",
            "a tier name must be 1-63 lowercase letters, digits and `-` (no dots: tier names are part of policy names)",
        );
    }
    let spec = root.get("spec").and_then(|s| ctx.map(s, "spec"));
    let mut order_line = root.line;
    if let Some(spec) = spec {
        ctx.unknown_fields(spec, "spec", &["order", "defaultAction"]);
        if let Some(node) = spec.get("order") {
            order_line = node.line;
            tier.order = number(ctx, node, "spec.order");
        }
        if let Some(node) = spec.get("defaultAction") {
            match ctx.string(node, "spec.defaultAction").as_deref() {
                Some("Deny") | None => {}
                Some("Pass") => tier.default_action = TierDefault::Pass,
                Some(other) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    "spec.defaultAction",
                    format!("`{}` is not a tier default action: use Deny or Pass", truncate(other)),
                ),
            }
        }
    }
    // The tiers Calico creates have fixed orders and default actions (CEL rules on Tier).
    let fixed = match tier.name.as_str() {
        DEFAULT_TIER => Some((DEFAULT_TIER_ORDER, TierDefault::Deny)),
        KUBE_ADMIN_TIER => Some((KUBE_ADMIN_TIER_ORDER, TierDefault::Pass)),
        KUBE_BASELINE_TIER => Some((KUBE_BASELINE_TIER_ORDER, TierDefault::Pass)),
        _ => None,
    };
    if let Some((order, action)) = fixed {
        if tier.order != Some(order) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                order_line,
                "spec.order",
                format!("the `{}` tier's order must be {order}", tier.name),
            );
        }
        if tier.default_action != action {
            ctx.error(
                DiagnosticCode::InvalidValue,
                order_line,
                "spec.defaultAction",
                format!("the `{}` tier's default action must be {action:?}", tier.name),
            );
        }
    }
    tier
}

/// `metadata.name` of a policy: a DNS label, optionally after one `<label>.` (a tier prefix); a namespaced one may
/// also be `knp.default.<name>` (a Kubernetes NetworkPolicy as Calico shows it).
fn policy_name_valid(kind: CalicoPolicyKind, name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let plain = match labels.as_slice() {
        [one] => validate_dns_label(one).is_ok(),
        [prefix, one] => validate_dns_label(prefix).is_ok() && validate_dns_label(one).is_ok(),
        _ => false,
    };
    let converted = !kind.is_global()
        && ["knp.default.", "ossg.default."].iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|rest| rest.split('.').all(|p| validate_dns_label(p).is_ok()))
        });
    plain || converted
}

fn policy_spec_fields(kind: CalicoPolicyKind) -> &'static [&'static str] {
    match kind {
        CalicoPolicyKind::NetworkPolicy => {
            &["tier", "order", "selector", "types", "ingress", "egress", "serviceAccountSelector", "performanceHints"]
        }
        CalicoPolicyKind::StagedNetworkPolicy => &[
            "stagedAction",
            "tier",
            "order",
            "selector",
            "types",
            "ingress",
            "egress",
            "serviceAccountSelector",
            "performanceHints",
        ],
        CalicoPolicyKind::GlobalNetworkPolicy => &[
            "tier",
            "order",
            "selector",
            "types",
            "ingress",
            "egress",
            "doNotTrack",
            "preDNAT",
            "applyOnForward",
            "serviceAccountSelector",
            "namespaceSelector",
            "performanceHints",
        ],
        CalicoPolicyKind::StagedGlobalNetworkPolicy => &[
            "stagedAction",
            "tier",
            "order",
            "selector",
            "types",
            "ingress",
            "egress",
            "doNotTrack",
            "preDNAT",
            "applyOnForward",
            "serviceAccountSelector",
            "namespaceSelector",
            "performanceHints",
        ],
    }
}

fn staged_action(ctx: &mut Ctx<'_>, spec: &Node) -> StagedAction {
    let Some(node) = spec.get("stagedAction") else { return StagedAction::Set };
    match ctx.string(node, "spec.stagedAction").as_deref() {
        Some("Set") | None => StagedAction::Set,
        Some("Delete") => StagedAction::Delete,
        Some("Learn") => StagedAction::Learn,
        Some("Ignore") => StagedAction::Ignore,
        Some(other) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                "spec.stagedAction",
                format!("`{}` is not a staged action: use Set, Delete, Learn or Ignore", truncate(other)),
            );
            StagedAction::Set
        }
    }
}

pub(crate) fn calico_policy(
    ctx: &mut Ctx<'_>,
    root: &Node,
    kind: CalicoPolicyKind,
    namespace: Option<String>,
    name: String,
    ignore: Suppression,
    location: Location,
) -> CalicoPolicy {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    if !policy_name_valid(kind, &name) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            name_line(root),
            "metadata.name",
            format!(
                "invalid {} name `{}`: use lowercase letters, digits and `-`, optionally after a tier prefix `tier.`",
                kind.as_str(),
                truncate(&name)
            ),
        );
    }
    let mut policy = CalicoPolicy {
        kind,
        namespace,
        name,
        tier: DEFAULT_TIER.to_string(),
        order: None,
        selector: CalicoSelector::all(),
        namespace_selector: None,
        service_account_selector: None,
        types: Vec::new(),
        declared_types: None,
        ingress: Vec::new(),
        egress: Vec::new(),
        do_not_track: false,
        pre_dnat: false,
        apply_on_forward: false,
        staged_action: kind.is_staged().then_some(StagedAction::Set),
        ignore,
        location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        // An empty spec is valid: it selects every endpoint with no rules, which denies their ingress.
        policy.types = vec![Direction::Ingress];
        return policy;
    };
    ctx.unknown_fields(spec, "spec", policy_spec_fields(kind));
    if kind.is_staged() {
        policy.staged_action = Some(staged_action(ctx, spec));
    }
    if let Some(node) = spec.get("tier") {
        if let Some(tier) = ctx.string(node, "spec.tier").filter(|t| !t.is_empty()) {
            if !tier_name_valid(&tier) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    "spec.tier",
                    format!("invalid tier name `{}`: 1-63 lowercase letters, digits and `-`", truncate(&tier)),
                );
            }
            policy.tier = tier;
        }
    }
    if let Some(node) = spec.get("order") {
        policy.order = number(ctx, node, "spec.order");
    }
    for (key, slot) in [("selector", 0), ("namespaceSelector", 1), ("serviceAccountSelector", 2)] {
        // A namespaced policy has no namespaceSelector: the unknown-field warning says so, and it is dropped.
        let Some(node) = spec.get(key).filter(|_| slot != 1 || kind.is_global()) else { continue };
        let field = join("spec", key);
        let Some(parsed) = selector(ctx, node, &field) else { continue };
        no_global(ctx, &parsed, node.line, &field);
        match slot {
            0 => policy.selector = parsed,
            1 => policy.namespace_selector = Some(parsed),
            _ => policy.service_account_selector = Some(parsed),
        }
    }
    if let Some(node) = spec.get("types") {
        let mut declared: Vec<Direction> = Vec::new();
        let items = ctx.seq(node, "spec.types");
        if items.len() > 2 {
            ctx.error(DiagnosticCode::InvalidValue, node.line, "spec.types", "at most two types: Ingress and Egress");
        }
        for (index, item) in items.iter().enumerate() {
            let field = format!("spec.types[{index}]");
            let direction = match ctx.string(item, &field).as_deref() {
                Some("Ingress") => Direction::Ingress,
                Some("Egress") => Direction::Egress,
                Some(other) => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &field,
                        format!("`{}` is not a policy type: use Ingress or Egress (case matters)", truncate(other)),
                    );
                    continue;
                }
                None => continue,
            };
            if declared.contains(&direction) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &field,
                    format!(
                        "'{}' type specified more than once",
                        if direction == Direction::Ingress { "Ingress" } else { "Egress" }
                    ),
                );
            }
            declared.push(direction);
        }
        if !declared.is_empty() {
            policy.declared_types = Some(declared);
        }
    }
    for (key, slot) in [("doNotTrack", 0), ("preDNAT", 1), ("applyOnForward", 2)] {
        let Some(node) = spec.get(key) else { continue };
        let value = ctx.boolean(node, &join("spec", key)).unwrap_or(false);
        match slot {
            0 => policy.do_not_track = value,
            1 => policy.pre_dnat = value,
            _ => policy.apply_on_forward = value,
        }
    }
    for direction in [Direction::Ingress, Direction::Egress] {
        let key = direction.as_str();
        let Some(list) = spec.get(key) else { continue };
        let field = join("spec", key);
        let items = ctx.seq(list, &field);
        if items.len() > MAX_RULES {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &field,
                format!("{} {key} rules; the CRD allows at most {MAX_RULES}", items.len()),
            );
        }
        let global = kind.is_global();
        let rules: Vec<CalicoRule> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| rule(ctx, item, &format!("{field}[{index}]"), direction, global))
            .collect();
        match direction {
            Direction::Ingress => policy.ingress = rules,
            Direction::Egress => policy.egress = rules,
        }
    }
    policy.types = match &policy.declared_types {
        Some(types) => types.clone(),
        // Calico's defaulting: Ingress when there are no egress rules; Egress alone when there are only egress
        // rules; both when there are both.
        None => match (policy.ingress.is_empty(), policy.egress.is_empty()) {
            (_, true) => vec![Direction::Ingress],
            (true, false) => vec![Direction::Egress],
            (false, false) => vec![Direction::Ingress, Direction::Egress],
        },
    };
    // The GlobalNetworkPolicy CEL rules on the special-processing flags.
    let flag_line = |key: &str| spec.get(key).map_or(spec.line, |n| n.line);
    if policy.do_not_track && policy.pre_dnat {
        ctx.error(
            DiagnosticCode::InvalidValue,
            flag_line("preDNAT"),
            "spec.preDNAT",
            "preDNAT and doNotTrack cannot both be true",
        );
    }
    if policy.pre_dnat && !policy.egress.is_empty() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            flag_line("egress"),
            "spec.egress",
            "a preDNAT policy cannot have egress rules",
        );
    }
    if policy.pre_dnat && policy.declared_types.as_ref().is_some_and(|t| t.contains(&Direction::Egress)) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            flag_line("types"),
            "spec.types",
            "a preDNAT policy cannot have the Egress type",
        );
    }
    if (policy.do_not_track || policy.pre_dnat) && !policy.apply_on_forward {
        let line = spec
            .get("applyOnForward")
            .or_else(|| spec.get(if policy.pre_dnat { "preDNAT" } else { "doNotTrack" }))
            .map_or(spec.line, |n| n.line);
        ctx.error(
            DiagnosticCode::InvalidValue,
            line,
            "spec.applyOnForward",
            "applyOnForward must be true if either preDNAT or doNotTrack is true",
        );
    }
    if policy.staged_action == Some(StagedAction::Delete)
        && (!policy.ingress.is_empty()
            || !policy.egress.is_empty()
            || !policy.selector.is_all()
            || policy.order.is_some()
            || policy.declared_types.is_some())
    {
        ctx.error(
            DiagnosticCode::InvalidValue,
            flag_line("stagedAction"),
            "spec",
            "with stagedAction Delete, every spec field but tier must be empty",
        );
    }
    policy
}

const RULE_FIELDS: &[&str] =
    &["action", "ipVersion", "protocol", "notProtocol", "icmp", "notICMP", "source", "destination", "http", "metadata"];

fn action(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CalicoAction> {
    let Some(action_node) = node.get("action") else {
        ctx.error(DiagnosticCode::MissingField, node.line, &join(field, "action"), "a rule needs an action");
        return None;
    };
    let action_field = join(field, "action");
    let text = ctx.string(action_node, &action_field)?;
    let parsed = match text.as_str() {
        "Allow" => CalicoAction::Allow,
        "Deny" => CalicoAction::Deny,
        "Pass" => CalicoAction::Pass,
        "Log" => CalicoAction::Log,
        other => {
            let hint = ["Allow", "Deny", "Pass", "Log"]
                .iter()
                .find(|a| a.eq_ignore_ascii_case(other) || (other == "Accept" && **a == "Allow"))
                .map(|a| format!(" (did you mean `{a}`?)"))
                .unwrap_or_default();
            ctx.error(
                DiagnosticCode::InvalidValue,
                action_node.line,
                &action_field,
                format!("`{}` is not an action: use Allow, Deny, Pass or Log{hint}", truncate(other)),
            );
            return None;
        }
    };
    Some(parsed)
}

fn protocol_field(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CalicoProtocol> {
    let invalid = |ctx: &mut Ctx<'_>, what: String| {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("{what}: use TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite (case matters) or a number 1-255"),
        );
        None
    };
    match &node.value {
        Value::Int(n) => match u8::try_from(*n) {
            Ok(number) if number >= 1 => Some(CalicoProtocol::from_number(number)),
            _ => invalid(ctx, format!("protocol number {n} is outside 1-255")),
        },
        Value::Str(text) => {
            if let Some(known) = CalicoProtocol::from_name(text) {
                return Some(known);
            }
            match text.parse::<u8>() {
                Ok(number) if number >= 1 && !text.starts_with('+') => Some(CalicoProtocol::from_number(number)),
                _ => invalid(ctx, format!("`{}` is not a protocol", truncate(text))),
            }
        }
        Value::Null => None,
        _ => {
            ctx.wrong_type(node, field, "a protocol name or number");
            None
        }
    }
}

fn icmp(ctx: &mut Ctx<'_>, node: &Node, field: &str) {
    let Some(node) = ctx.map(node, field) else { return };
    ctx.unknown_fields(node, field, &["type", "code"]);
    let mut has_type = false;
    for (key, max) in [("type", 254), ("code", 255)] {
        let Some(value) = node.get(key) else { continue };
        let key_field = join(field, key);
        match value.value {
            Value::Int(n) if (0..=max).contains(&n) => has_type |= key == "type",
            Value::Int(n) => ctx.error(
                DiagnosticCode::InvalidValue,
                value.line,
                &key_field,
                format!("ICMP {key} {n} is outside 0-{max}"),
            ),
            _ => ctx.wrong_type(value, &key_field, "an integer"),
        }
    }
    if node.get("code").is_some() && !has_type {
        ctx.error(DiagnosticCode::InvalidValue, node.line, field, "ICMP code specified without an ICMP type");
    }
}

fn rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, direction: Direction, global: bool) -> Option<CalicoRule> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, RULE_FIELDS);
    let action = action(ctx, node, field);
    let ip_version = node.get("ipVersion").and_then(|v| match v.value {
        Value::Int(4) => Some(4u8),
        Value::Int(6) => Some(6u8),
        Value::Int(n) => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                v.line,
                &join(field, "ipVersion"),
                format!("ipVersion {n}: use 4 or 6"),
            );
            None
        }
        _ => {
            ctx.wrong_type(v, &join(field, "ipVersion"), "4 or 6");
            None
        }
    });
    let protocol_node = node.get("protocol");
    let protocol = protocol_node.and_then(|p| protocol_field(ctx, p, &join(field, "protocol")));
    let not_protocol = node.get("notProtocol").and_then(|p| protocol_field(ctx, p, &join(field, "notProtocol")));
    for key in ["icmp", "notICMP"] {
        let Some(fields) = node.get(key) else { continue };
        icmp(ctx, fields, &join(field, key));
        if key == "icmp" && !matches!(protocol, Some(CalicoProtocol::Other(1 | 58))) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                fields.line,
                &join(field, key),
                "ICMP fields require protocol ICMP or ICMPv6",
            );
        }
    }
    for (key, proto) in [("protocol", protocol), ("notProtocol", not_protocol)] {
        let family = match proto {
            Some(CalicoProtocol::Other(1)) => Some(4),
            Some(CalicoProtocol::Other(58)) => Some(6),
            _ => None,
        };
        if let (Some(family), Some(version)) = (family, ip_version) {
            if family != version {
                let line = node.get(key).map_or(node.line, |n| n.line);
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    line,
                    &join(field, key),
                    format!(
                        "protocol {} requires ipVersion {family}",
                        proto.map(|p| p.to_string()).unwrap_or_default()
                    ),
                );
            }
        }
    }
    let source = node.get("source").map(|s| entity_rule(ctx, s, &join(field, "source"))).unwrap_or_default();
    let destination =
        node.get("destination").map(|d| entity_rule(ctx, d, &join(field, "destination"))).unwrap_or_default();
    // Ports need a protocol that has them; named ports alone take any protocol.
    for (entity, side) in [(&source, "source"), (&destination, "destination")] {
        for (ports, key) in [(&entity.ports, "ports"), (&entity.not_ports, "notPorts")] {
            if ports.is_empty() {
                continue;
            }
            let numeric = ports.iter().any(|p| matches!(p, CalicoPort::Range(..)));
            let ports_field = format!("{field}.{side}.{key}");
            let line = node.get(side).and_then(|e| e.get(key)).map_or(entity.line, |n| n.line);
            match protocol {
                None if numeric => ctx.error(
                    DiagnosticCode::InvalidValue,
                    line,
                    &ports_field,
                    "port numbers need a protocol: set the rule's protocol to TCP, UDP or SCTP",
                ),
                Some(p) if !p.has_ports() => ctx.error(
                    DiagnosticCode::InvalidValue,
                    line,
                    &ports_field,
                    format!("protocol {p} has no ports: only TCP, UDP and SCTP do"),
                ),
                _ => {}
            }
        }
    }
    // Nets: valid CIDRs of one IP family, matching ipVersion; no catch-all in a negation.
    let mut families = Vec::new();
    for (entity, side) in [(&source, "source"), (&destination, "destination")] {
        for (nets, key) in [(&entity.nets, "nets"), (&entity.not_nets, "notNets")] {
            let nets_field = format!("{field}.{side}.{key}");
            let line = node.get(side).and_then(|e| e.get(key)).map_or(entity.line, |n| n.line);
            for cidr in nets.iter() {
                let family = if cidr.network.is_ipv4() { 4 } else { 6 };
                if !families.contains(&family) {
                    families.push(family);
                }
                if key == "notNets" && cidr.prefix == 0 {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        line,
                        &nets_field,
                        format!("catch-all CIDR {cidr} in a negation matches no traffic"),
                    );
                }
                if ip_version.is_some_and(|v| v != family) {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        line,
                        &nets_field,
                        format!("{cidr} does not match the rule's ipVersion"),
                    );
                }
            }
        }
    }
    if families.len() > 1 {
        ctx.error(DiagnosticCode::InvalidValue, node.line, field, "the rule contains both IPv4 and IPv6 CIDRs");
    }
    // Services: a destination on egress rules, a source on ingress rules; never with ports at the destination.
    let services_misplaced = match direction {
        Direction::Ingress => destination.services.is_some().then_some("destination"),
        Direction::Egress => source.services.is_some().then_some("source"),
    };
    if let Some(side) = services_misplaced {
        let line = node.get(side).and_then(|e| e.get("services")).map_or(node.line, |n| n.line);
        ctx.error(
            DiagnosticCode::InvalidValue,
            line,
            &format!("{field}.{side}.services"),
            format!("services are not allowed in the {side} of {} rules", direction.as_str()),
        );
    }
    if destination.services.is_some() && (!destination.ports.is_empty() || !destination.not_ports.is_empty()) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            destination.line,
            &format!("{field}.destination"),
            "ports and notPorts cannot be specified with services",
        );
    }
    for (entity, side) in [(&source, "source"), (&destination, "destination")] {
        if let Some(services) = &entity.services {
            if global && services.namespace.is_none() {
                let line = node.get(side).and_then(|e| e.get("services")).map_or(entity.line, |n| n.line);
                ctx.error(
                    DiagnosticCode::MissingField,
                    line,
                    &format!("{field}.{side}.services.namespace"),
                    "a global policy's services must name a namespace",
                );
            }
        }
    }
    let http = node.get("http").and_then(|h| http(ctx, h, &join(field, "http")));
    if let Some(h) = node.get("http") {
        if action.is_some_and(|a| a != CalicoAction::Allow) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                h.line,
                &join(field, "http"),
                "HTTP match is only valid on Allow rules",
            );
        }
        if protocol.is_some_and(|p| p != CalicoProtocol::Ported(Protocol::Tcp)) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                h.line,
                &join(field, "http"),
                "rules with HTTP match must have protocol TCP or unset",
            );
        }
        if direction == Direction::Egress {
            ctx.error(
                DiagnosticCode::InvalidValue,
                h.line,
                &join(field, "http"),
                "HTTP match is not allowed in egress rules",
            );
        }
    }
    Some(CalicoRule { action: action?, ip_version, protocol, not_protocol, source, destination, http, line: node.line })
}

fn http(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<HttpMatch> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["methods", "paths"]);
    let mut result = HttpMatch { methods: Vec::new(), paths: Vec::new() };
    if let Some(list) = node.get("methods") {
        let methods_field = join(field, "methods");
        let items = ctx.seq(list, &methods_field);
        if items.len() > MAX_HTTP_ITEMS {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &methods_field,
                format!("at most {MAX_HTTP_ITEMS} methods"),
            );
        }
        for (index, item) in items.iter().enumerate() {
            let Some(method) = ctx.string(item, &format!("{methods_field}[{index}]")) else { continue };
            if result.methods.contains(&method) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &format!("{methods_field}[{index}]"),
                    format!("method `{}` is listed twice", truncate(&method)),
                );
            }
            result.methods.push(method);
        }
    }
    if let Some(list) = node.get("paths") {
        let paths_field = join(field, "paths");
        let items = ctx.seq(list, &paths_field);
        if items.len() > MAX_HTTP_ITEMS {
            ctx.error(DiagnosticCode::InvalidValue, list.line, &paths_field, format!("at most {MAX_HTTP_ITEMS} paths"));
        }
        for (index, item) in items.iter().enumerate() {
            let item_field = format!("{paths_field}[{index}]");
            let Some(item) = ctx.map(item, &item_field) else { continue };
            ctx.unknown_fields(item, &item_field, &["exact", "prefix"]);
            let exact = item.get("exact").and_then(|v| ctx.string(v, &join(&item_field, "exact")));
            let prefix = item.get("prefix").and_then(|v| ctx.string(v, &join(&item_field, "prefix")));
            let (kind, path) = match (exact.filter(|e| !e.is_empty()), prefix.filter(|p| !p.is_empty())) {
                (Some(_), Some(_)) => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &item_field,
                        "set either exact or prefix, not both",
                    );
                    continue;
                }
                (None, None) => {
                    ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, "set exact or prefix");
                    continue;
                }
                (Some(exact), None) => ("exact", exact),
                (None, Some(prefix)) => ("prefix", prefix),
            };
            if !path.starts_with('/') || path.contains(['?', ' ', '#']) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &join(&item_field, kind),
                    format!(
                        "invalid path `{}`: it must start with `/` and contain no `?`, `#` or space",
                        truncate(&path)
                    ),
                );
                continue;
            }
            result.paths.push(format!("{kind}:{path}"));
        }
    }
    Some(result)
}

const ENTITY_FIELDS: &[&str] = &[
    "nets",
    "notNets",
    "selector",
    "notSelector",
    "namespaceSelector",
    "ports",
    "notPorts",
    "serviceAccounts",
    "services",
];

fn entity_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> EntityRule {
    let mut entity = EntityRule { line: node.line, ..EntityRule::default() };
    let Some(node) = ctx.map(node, field) else { return entity };
    ctx.unknown_fields(node, field, ENTITY_FIELDS);
    for (key, negated) in [("nets", false), ("notNets", true)] {
        let Some(list) = node.get(key) else { continue };
        let nets_field = join(field, key);
        let items = ctx.seq(list, &nets_field);
        if items.len() > MAX_NETS {
            ctx.error(DiagnosticCode::InvalidValue, list.line, &nets_field, format!("at most {MAX_NETS} nets"));
        }
        for (index, item) in items.iter().enumerate() {
            let Some(cidr) = ctx.cidr(item, &format!("{nets_field}[{index}]")) else { continue };
            if negated {
                entity.not_nets.push(cidr);
            } else {
                entity.nets.push(cidr);
            }
        }
    }
    if let Some(n) = node.get("selector") {
        let selector_field = join(field, "selector");
        entity.selector = selector(ctx, n, &selector_field);
        if let Some(parsed) = &entity.selector {
            no_global(ctx, parsed, n.line, &selector_field);
        }
    }
    if let Some(n) = node.get("notSelector") {
        entity.not_selector = selector(ctx, n, &join(field, "notSelector"));
    }
    if let Some(n) = node.get("namespaceSelector") {
        let namespace_field = join(field, "namespaceSelector");
        entity.namespace_selector = selector(ctx, n, &namespace_field);
        if let Some(parsed) = &entity.namespace_selector {
            if parsed.uses_global() && !parsed.is_global() {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    n.line,
                    &namespace_field,
                    "global() must be the whole namespaceSelector when it is used",
                );
            }
        }
    }
    for (key, negated) in [("ports", false), ("notPorts", true)] {
        let Some(list) = node.get(key) else { continue };
        let ports_field = join(field, key);
        let items = ctx.seq(list, &ports_field);
        if items.len() > MAX_PORTS {
            ctx.error(DiagnosticCode::InvalidValue, list.line, &ports_field, format!("at most {MAX_PORTS} ports"));
        }
        for (index, item) in items.iter().enumerate() {
            let Some(port) = calico_port(ctx, item, &format!("{ports_field}[{index}]")) else { continue };
            if negated {
                entity.not_ports.push(port);
            } else {
                entity.ports.push(port);
            }
        }
    }
    if let Some(n) = node.get("serviceAccounts") {
        let accounts_field = join(field, "serviceAccounts");
        if let Some(n) = ctx.map(n, &accounts_field) {
            ctx.unknown_fields(n, &accounts_field, &["names", "selector"]);
            let mut names = Vec::new();
            if let Some(list) = n.get("names") {
                for (index, item) in ctx.seq(list, &join(&accounts_field, "names")).iter().enumerate() {
                    if let Some(name) = ctx.string(item, &format!("{accounts_field}.names[{index}]")) {
                        names.push(name);
                    }
                }
            }
            let selector = n.get("selector").and_then(|s| selector(ctx, s, &join(&accounts_field, "selector")));
            entity.service_accounts = Some(ServiceAccountMatch { names, selector });
        }
    }
    if let Some(n) = node.get("services") {
        let services_field = join(field, "services");
        if let Some(n) = ctx.map(n, &services_field) {
            ctx.unknown_fields(n, &services_field, &["name", "namespace"]);
            let name = n.get("name").and_then(|v| ctx.string(v, &join(&services_field, "name")));
            let namespace = n
                .get("namespace")
                .and_then(|v| ctx.string(v, &join(&services_field, "namespace")))
                .filter(|ns| !ns.is_empty());
            match name.filter(|name| !name.is_empty()) {
                Some(name) => entity.services = Some(ServiceMatch { name, namespace }),
                None => ctx.error(
                    DiagnosticCode::MissingField,
                    n.line,
                    &join(&services_field, "name"),
                    "services must specify a service name",
                ),
            }
            let conflicts: Vec<&str> =
                ["selector", "notSelector", "namespaceSelector", "nets", "notNets", "serviceAccounts"]
                    .into_iter()
                    .filter(|key| node.get(key).is_some_and(|v| !v.is_null()))
                    .collect();
            if !conflicts.is_empty() {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    n.line,
                    &services_field,
                    format!("services cannot be combined with {}", conflicts.join(", ")),
                );
            }
        }
    }
    entity
}

/// `80`, `"80"`, `"1000:2000"` or a port name (`^[a-zA-Z0-9_.-]{1,128}$`), as numorstring.Port reads them.
fn calico_port(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<CalicoPort> {
    let out_of_range = |ctx: &mut Ctx<'_>, text: String| {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!(
                "port {text} is invalid: port numbers are 1-65535 and a range is written `min:max` with min <= max"
            ),
        );
        None
    };
    match &node.value {
        Value::Int(n) => match u16::try_from(*n) {
            Ok(port) if port >= 1 => Some(CalicoPort::Range(port, port)),
            _ => out_of_range(ctx, n.to_string()),
        },
        Value::Str(text) => {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if digits(text) {
                return match text.parse::<u16>() {
                    Ok(port) if port >= 1 => Some(CalicoPort::Range(port, port)),
                    _ => out_of_range(ctx, format!("`{}`", truncate(text))),
                };
            }
            if let Some((low, high)) = text.split_once(':') {
                if digits(low) && digits(high) {
                    return match (low.parse::<u16>(), high.parse::<u16>()) {
                        (Ok(low), Ok(high)) if low >= 1 && low <= high => Some(CalicoPort::Range(low, high)),
                        _ => out_of_range(ctx, format!("`{}`", truncate(text))),
                    };
                }
            }
            let name_ok = !text.is_empty()
                && text.len() <= 128
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if name_ok {
                Some(CalicoPort::Named(text.clone()))
            } else {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    field,
                    format!(
                        "`{}` is not a port: write a number, a range `min:max`, or a port name (letters, digits, \
                         `_`, `.`, `-`)",
                        truncate(text)
                    ),
                );
                None
            }
        }
        _ => {
            ctx.wrong_type(node, field, "a port number, range or name");
            None
        }
    }
}

/// NetworkSet (namespaced) or GlobalNetworkSet.
pub(crate) fn network_set(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: Option<String>,
    name: String,
    labels: Labels,
    location: Location,
) -> NetworkSet {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    if labels.contains_key(NAMESPACE_LABEL) {
        let line = root.get("metadata").and_then(|m| m.get("labels")).map_or(root.line, |n| n.line);
        ctx.error(
            DiagnosticCode::InvalidValue,
            line,
            "metadata.labels",
            format!("{NAMESPACE_LABEL} is not a valid label name on a network set (Calico sets it itself)"),
        );
    }
    let mut set = NetworkSet { namespace, name, labels, nets: Vec::new(), location };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else { return set };
    ctx.unknown_fields(spec, "spec", &["nets", "allowedEgressDomains"]);
    if let Some(list) = spec.get("nets") {
        for (index, item) in ctx.seq(list, "spec.nets").iter().enumerate() {
            let field = format!("spec.nets[{index}]");
            let Some(text) = ctx.string(item, &field) else { continue };
            // Network sets also take plain addresses.
            let parsed = match IpAddr::from_str(text.trim()) {
                Ok(addr) => Ok(Cidr { network: addr, prefix: Cidr::max_prefix(addr) }),
                Err(_) => Cidr::from_str(text.trim()),
            };
            match parsed {
                Ok(cidr) => set.nets.push(cidr),
                Err(error) => ctx.error(DiagnosticCode::InvalidValue, item.line, &field, error.to_string()),
            }
        }
    }
    set
}

pub(crate) fn host_endpoint(
    ctx: &mut Ctx<'_>,
    root: &Node,
    name: String,
    labels: Labels,
    location: Location,
) -> HostEndpoint {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut endpoint = HostEndpoint {
        name,
        labels,
        node: String::new(),
        interface_name: None,
        expected_ips: Vec::new(),
        profiles: Vec::new(),
        ports: Vec::new(),
        location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a HostEndpoint needs a spec with its node");
        return endpoint;
    };
    ctx.unknown_fields(spec, "spec", &["node", "interfaceName", "expectedIPs", "profiles", "ports"]);
    endpoint.node = spec.get("node").and_then(|n| ctx.string(n, "spec.node")).unwrap_or_default();
    if endpoint.node.is_empty() {
        ctx.error(DiagnosticCode::MissingField, spec.line, "spec.node", "node must be specified");
    }
    endpoint.interface_name =
        spec.get("interfaceName").and_then(|n| ctx.string(n, "spec.interfaceName")).filter(|i| !i.is_empty());
    if let Some(list) = spec.get("expectedIPs") {
        for (index, item) in ctx.seq(list, "spec.expectedIPs").iter().enumerate() {
            let field = format!("spec.expectedIPs[{index}]");
            let Some(text) = ctx.string(item, &field) else { continue };
            match IpAddr::from_str(text.trim()) {
                Ok(ip) => endpoint.expected_ips.push(ip),
                Err(_) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &field,
                    format!("`{}` is not an IP address", truncate(&text)),
                ),
            }
        }
    }
    if endpoint.interface_name.is_none() && endpoint.expected_ips.is_empty() && spec.get("expectedIPs").is_none() {
        ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.interfaceName",
            "at least one of interfaceName or expectedIPs must be specified",
        );
    }
    if let Some(list) = spec.get("profiles") {
        for (index, item) in ctx.seq(list, "spec.profiles").iter().enumerate() {
            if let Some(profile) = ctx.string(item, &format!("spec.profiles[{index}]")) {
                endpoint.profiles.push(profile);
            }
        }
    }
    if let Some(list) = spec.get("ports") {
        for (index, item) in ctx.seq(list, "spec.ports").iter().enumerate() {
            let field = format!("spec.ports[{index}]");
            let Some(item) = ctx.map(item, &field) else { continue };
            ctx.unknown_fields(item, &field, &["name", "protocol", "port"]);
            let name = item.get("name").and_then(|n| ctx.string(n, &join(&field, "name")));
            let port = item.get("port").and_then(|p| ctx.port_number(p, &join(&field, "port")));
            let proto = item.get("protocol").and_then(|p| protocol_field(ctx, p, &join(&field, "protocol")));
            match (name, port, proto) {
                (Some(name), Some(port), Some(CalicoProtocol::Ported(protocol))) => {
                    endpoint.ports.push(EndpointPort { name, protocol, port })
                }
                (Some(_), Some(_), Some(other)) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &join(&field, "protocol"),
                    format!("protocol {other} has no ports"),
                ),
                _ => ctx.error(
                    DiagnosticCode::MissingField,
                    item.line,
                    &field,
                    "a port needs a name, a port and a protocol",
                ),
            }
        }
    }
    endpoint
}

/// StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy spec with `stagedAction`, previewed and never
/// enforced.
pub(crate) fn staged_kubernetes_policy(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: String,
    name: String,
    ignore: Suppression,
    location: Location,
) -> StagedKubernetesPolicy {
    let action = root.get("spec").filter(|s| matches!(s.value, Value::Map(_))).map(|spec| staged_action(ctx, spec));
    // The Kubernetes decoder reads the spec; `stagedAction` is ours, so the spec is read without it.
    let mut stripped = root.clone();
    if let Value::Map(entries) = &mut stripped.value {
        for (key, value) in entries.iter_mut() {
            if key == "spec" {
                if let Value::Map(spec) = &mut value.value {
                    spec.retain(|(k, _)| k != "stagedAction");
                }
            }
        }
    }
    let policy = super::network_policy(ctx, &stripped, namespace, name, ignore, location);
    StagedKubernetesPolicy { policy, staged_action: action.unwrap_or(StagedAction::Set) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_all;
    use std::sync::Arc;

    fn decode(kind: CalicoPolicyKind, text: &str) -> (CalicoPolicy, Vec<crate::diag::Diagnostic>, bool) {
        let (docs, error) = parse_all(text);
        assert_eq!(error, None);
        let file: Arc<str> = Arc::from("p.yaml");
        let mut ctx = Ctx::new(&file, None);
        let location = Location { file: file.clone(), line: 1 };
        let namespace = (!kind.is_global()).then(|| "ns".to_string());
        let policy = calico_policy(&mut ctx, &docs[0], kind, namespace, "p".into(), Suppression::default(), location);
        (policy, ctx.diagnostics, ctx.rejected)
    }

    fn gnp(text: &str) -> (CalicoPolicy, Vec<crate::diag::Diagnostic>, bool) {
        decode(CalicoPolicyKind::GlobalNetworkPolicy, text)
    }

    fn rejected_at(text: &str, field: &str, line: u32) -> String {
        let (_, diagnostics, rejected) = gnp(text);
        assert!(rejected, "{text} was accepted");
        let found = diagnostics.iter().find(|d| d.field.as_deref() == Some(field)).unwrap_or_else(|| {
            panic!("no diagnostic on {field}: {diagnostics:?}");
        });
        assert_eq!(found.line, Some(line), "{found}");
        found.message.clone()
    }

    #[test]
    fn a_full_policy_decodes() {
        let (policy, diagnostics, rejected) = gnp(concat!(
            "spec:\n",
            "  tier: security\n",
            "  order: 100.5\n",
            "  selector: app == 'db'\n",
            "  namespaceSelector: team in {'a', 'b'}\n",
            "  ingress:\n",
            "  - action: Allow\n",
            "    protocol: TCP\n",
            "    source:\n",
            "      selector: role == 'api'\n",
            "      nets: [10.0.0.0/8]\n",
            "      notNets: [10.1.0.0/16]\n",
            "    destination:\n",
            "      ports: [5432, '6000:6010', metrics]\n",
            "      notPorts: ['6005']\n",
            "  - action: Deny\n",
            "  egress:\n",
            "  - action: Pass\n",
            "    notProtocol: 17\n",
            "    destination: {serviceAccounts: {names: [x], selector: tier == 'y'}}\n",
            "  - action: Log\n",
        ));
        assert!(!rejected && diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!((policy.tier.as_str(), policy.order), ("security", Some(100.5)));
        assert_eq!(policy.types, [Direction::Ingress, Direction::Egress]);
        let rule = &policy.ingress[0];
        assert_eq!(rule.protocol, Some(CalicoProtocol::Ported(Protocol::Tcp)));
        assert_eq!(
            rule.destination.ports,
            [CalicoPort::Range(5432, 5432), CalicoPort::Range(6000, 6010), CalicoPort::Named("metrics".into())]
        );
        assert_eq!(rule.destination.not_ports, [CalicoPort::Range(6005, 6005)]);
        assert_eq!(rule.line, 7);
        assert_eq!(policy.egress[0].not_protocol, Some(CalicoProtocol::Ported(Protocol::Udp)));
        assert_eq!(policy.egress[1].action, CalicoAction::Log);
    }

    #[test]
    fn types_default_as_calico_defaults_them() {
        assert_eq!(gnp("spec: {}\n").0.types, [Direction::Ingress]);
        assert_eq!(gnp("spec: {egress: [{action: Allow}]}\n").0.types, [Direction::Egress]);
        assert_eq!(gnp("spec: {ingress: [{action: Allow}]}\n").0.types, [Direction::Ingress]);
        let both = gnp("spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}\n").0;
        assert_eq!(both.types, [Direction::Ingress, Direction::Egress]);
        let declared = gnp("spec: {types: [Egress], ingress: [{action: Allow}]}\n").0;
        assert_eq!(declared.types, [Direction::Egress]);
        assert!(declared.rules(Direction::Ingress).is_empty());
    }

    #[test]
    fn a_selector_error_names_the_field_and_the_column() {
        let message = rejected_at("spec:\n  selector: app = 'db'\n", "spec.selector", 2);
        assert!(message.contains("column 5"), "{message}");
        let message = rejected_at(
            "spec:\n  ingress:\n  - action: Allow\n    source:\n      selector: \"a == 'x' &&\"\n",
            "spec.ingress[0].source.selector",
            5,
        );
        assert!(message.contains("column 12"), "{message}");
    }

    #[test]
    fn invalid_port_ranges_and_names_are_rejected() {
        let base = "spec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination:\n      ports: [";
        for bad in ["'2000:1000'", "0", "70000", "'0:80'", "'80:'", "'a b'", "'1:2:3'"] {
            let message = rejected_at(&format!("{base}{bad}]\n"), "spec.ingress[0].destination.ports[0]", 6);
            assert!(message.contains("port"), "{bad}: {message}");
        }
        // Port numbers need a protocol with ports; names alone do not.
        let message = rejected_at(
            "spec:\n  ingress:\n  - action: Allow\n    destination:\n      ports: [80]\n",
            "spec.ingress[0].destination.ports",
            5,
        );
        assert!(message.contains("protocol"), "{message}");
        assert!(!gnp("spec:\n  ingress:\n  - action: Allow\n    destination: {ports: [http]}\n").2);
        rejected_at(
            "spec:\n  ingress:\n  - action: Allow\n    protocol: ICMP\n    destination:\n      ports: [80]\n",
            "spec.ingress[0].destination.ports",
            6,
        );
    }

    #[test]
    fn bad_cidrs_actions_and_protocols_are_rejected() {
        rejected_at(
            "spec:\n  egress:\n  - action: Allow\n    destination:\n      nets: [10.0.0.0/33]\n",
            "spec.egress[0].destination.nets[0]",
            5,
        );
        rejected_at(
            "spec:\n  egress:\n  - action: Allow\n    destination:\n      nets: [10.0.0.1]\n",
            "spec.egress[0].destination.nets[0]",
            5,
        );
        let message = rejected_at("spec:\n  egress:\n  - action: allow\n", "spec.egress[0].action", 3);
        assert!(message.contains("did you mean `Allow`"), "{message}");
        rejected_at("spec:\n  egress:\n  - {}\n", "spec.egress[0].action", 3);
        rejected_at("spec:\n  egress:\n  - action: Allow\n    protocol: tcp\n", "spec.egress[0].protocol", 4);
        rejected_at("spec:\n  egress:\n  - action: Allow\n    protocol: 256\n", "spec.egress[0].protocol", 4);
        rejected_at(
            "spec:\n  egress:\n  - action: Allow\n    destination: {notNets: [0.0.0.0/0]}\n",
            "spec.egress[0].destination.notNets",
            4,
        );
        rejected_at(
            "spec:\n  egress:\n  - action: Allow\n    source: {nets: [10.0.0.0/8]}\n    destination: {nets: ['fd00::/8']}\n",
            "spec.egress[0]",
            3,
        );
        rejected_at("spec:\n  types: [Ingress, Ingress]\n", "spec.types[1]", 2);
        rejected_at("spec:\n  tier: Security\n", "spec.tier", 2);
        rejected_at("spec:\n  preDNAT: true\n", "spec.applyOnForward", 2);
        rejected_at(
            "spec:\n  ingress:\n  - action: Allow\n    source: {namespaceSelector: global() && a == 'b'}\n",
            "spec.ingress[0].source.namespaceSelector",
            4,
        );
        rejected_at("spec:\n  selector: global()\n", "spec.selector", 2);
        rejected_at("spec:\n  ingress:\n  - action: Deny\n    http: {methods: [GET]}\n", "spec.ingress[0].http", 4);
        rejected_at(
            "spec:\n  egress:\n  - action: Allow\n    destination: {services: {name: db}}\n",
            "spec.egress[0].destination.services.namespace",
            4,
        );
    }

    #[test]
    fn a_namespaced_policy_has_no_namespace_selector() {
        let (policy, diagnostics, rejected) =
            decode(CalicoPolicyKind::NetworkPolicy, "spec:\n  namespaceSelector: all()\n  selector: app == 'x'\n");
        assert!(!rejected);
        assert!(policy.namespace_selector.is_none());
        assert_eq!(diagnostics[0].code, DiagnosticCode::UnknownField);
    }

    #[test]
    fn http_matches_are_read() {
        let (policy, diagnostics, rejected) = gnp(
            "spec:\n  ingress:\n  - action: Allow\n    http: {methods: [GET], paths: [{exact: /a}, {prefix: /b}]}\n",
        );
        assert!(!rejected, "{diagnostics:?}");
        let http = policy.ingress[0].http.as_ref().expect("http");
        assert_eq!(http.methods, ["GET"]);
        assert_eq!(http.paths, ["exact:/a", "prefix:/b"]);
    }
}
