//! Istio's AuthorizationPolicy and PeerAuthentication, validated as the CRD schema and istiod's validating webhook
//! (`pkg/config/validation`) do. What the webhook refuses is an error; what it accepts but can never match (a
//! principal with `spiffe://`, a lower-case method, a path not starting with `/`) is a warning.

use super::{annotation, strings, warn, Object, TOP_FIELDS};
use crate::cidr::Cidr;
use crate::decode::{join, truncate, Ctx};
use crate::diag::DiagnosticCode;
use crate::mesh::istio::*;
use crate::mesh::StringMatch;
use crate::selector::Labels;
use crate::yaml::{Node, Value};
use std::net::IpAddr;
use std::str::FromStr;

const SPEC_FIELDS: &[&str] = &["selector", "targetRef", "targetRefs", "rules", "action", "provider"];
const RULE_FIELDS: &[&str] = &["from", "to", "when"];
const SOURCE_FIELDS: &[&str] = &[
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "trustDomains",
    "notTrustDomains",
];
const OPERATION_FIELDS: &[&str] =
    &["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"];
/// The CRD's `maxItems` on rules, and on `from` entries per rule.
const MAX_RULES: usize = 512;
const MAX_TARGET_REFS: usize = 16;
const DRY_RUN: &str = "istio.io/dry-run";
/// Methods as HTTP defines them; Istio compares methods exactly, so `get` never matches a request.
const KNOWN_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

pub(crate) fn authorization_policy(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> AuthorizationPolicy {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut policy = AuthorizationPolicy {
        namespace: object.namespace,
        name: object.name,
        action: AuthorizationAction::Allow,
        target: PolicyTarget::Namespace,
        rules: Vec::new(),
        dry_run: false,
        ignore: object.ignore,
        location: object.location,
    };
    let spec = match root.get("spec") {
        Some(spec) => ctx.map(spec, "spec"),
        None => None,
    };
    // `spec: {}` and no spec at all are the same policy: ALLOW with no rules, which allows nothing.
    let empty = Node { value: Value::Map(Vec::new()), line: root.line };
    let spec = spec.unwrap_or(&empty);
    ctx.unknown_fields(spec, "spec", SPEC_FIELDS);

    let action_node = spec.get("action");
    let action_text = action_node.and_then(|a| ctx.string(a, "spec.action"));
    let provider = spec.get("provider").and_then(|p| ctx.map(p, "spec.provider"));
    let provider_name = provider.and_then(|p| p.get("name")).and_then(|n| ctx.string(n, "spec.provider.name"));
    if let Some(p) = provider {
        ctx.unknown_fields(p, "spec.provider", &["name"]);
    }
    let rules_node = spec.get("rules");
    let has_rules = rules_node.is_some_and(|r| matches!(&r.value, Value::Seq(items) if !items.is_empty()));
    policy.action = match action_text.as_deref() {
        None | Some("ALLOW") => AuthorizationAction::Allow,
        Some("DENY") => AuthorizationAction::Deny,
        Some("AUDIT") => AuthorizationAction::Audit,
        Some("CUSTOM") => AuthorizationAction::Custom { provider: provider_name.clone().unwrap_or_default() },
        Some(other) => {
            let line = action_node.map_or(spec.line, |a| a.line);
            let hint = ["ALLOW", "DENY", "AUDIT", "CUSTOM"]
                .iter()
                .find(|a| a.eq_ignore_ascii_case(other))
                .map(|a| format!(" (did you mean `{a}`? actions are upper case)"))
                .unwrap_or_default();
            ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                "spec.action",
                format!("`{}` is not an action: use ALLOW, DENY, AUDIT or CUSTOM{hint}", truncate(other)),
            );
            AuthorizationAction::Allow
        }
    };
    match &policy.action {
        AuthorizationAction::Custom { .. } if !has_rules => ctx.error(
            DiagnosticCode::InvalidValue,
            spec.line,
            "spec.rules",
            "a CUSTOM policy without rules is never triggered and istiod refuses it; add `rules: [{}]` to send every request to the provider",
        ),
        AuthorizationAction::Custom { .. } if provider_name.as_deref().is_none_or(str::is_empty) => ctx.error(
            DiagnosticCode::MissingField,
            provider.map_or(spec.line, |p| p.line),
            "spec.provider.name",
            "a CUSTOM policy must name its extension provider",
        ),
        AuthorizationAction::Deny if !has_rules => ctx.error(
            DiagnosticCode::InvalidValue,
            spec.line,
            "spec.rules",
            "a DENY policy without rules is never triggered and istiod refuses it; add `rules: [{}]` to deny every request",
        ),
        _ => {}
    }
    if provider.is_some() && !matches!(policy.action, AuthorizationAction::Custom { .. }) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            provider.map_or(spec.line, |p| p.line),
            "spec.provider",
            format!("`provider` is only for the CUSTOM action, not {}", policy.action.as_str()),
        );
    }

    policy.target = target(ctx, spec);

    if let Some(node) = annotation(root, DRY_RUN) {
        let field = format!("metadata.annotations.{DRY_RUN}");
        match node.as_str() {
            Some(text) => match parse_go_bool(text) {
                Some(value) if matches!(policy.action, AuthorizationAction::Allow | AuthorizationAction::Deny) => {
                    policy.dry_run = value
                }
                Some(_) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    &field,
                    format!("{DRY_RUN} is only supported on ALLOW and DENY policies, not {}", policy.action.as_str()),
                ),
                None => ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    &field,
                    format!("`{}` is not a boolean (use \"true\" or \"false\")", truncate(text)),
                ),
            },
            None => ctx.wrong_type(node, &field, "a string annotation value"),
        }
    }

    if let Some(list) = rules_node {
        let items = ctx.seq(list, "spec.rules");
        if items.len() > MAX_RULES {
            let message = format!("{} rules; the schema allows at most {MAX_RULES}", items.len());
            ctx.error(DiagnosticCode::InvalidValue, list.line, "spec.rules", message);
        }
        for (index, item) in items.iter().enumerate() {
            let field = format!("spec.rules[{index}]");
            if let Some(rule) = rule(ctx, item, &field, &policy) {
                policy.rules.push(rule);
            }
        }
    }
    policy
}

/// The `strconv.ParseBool` spellings istiod accepts.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn target(ctx: &mut Ctx<'_>, spec: &Node) -> PolicyTarget {
    let set: Vec<&str> =
        ["selector", "targetRef", "targetRefs"].into_iter().filter(|k| spec.get(k).is_some()).collect();
    if set.len() > 1 {
        ctx.error(
            DiagnosticCode::InvalidValue,
            spec.line,
            &join("spec", set[1]),
            format!("only one of targetRefs or selector can be set (this policy sets {})", set.join(" and ")),
        );
    }
    if let Some(selector) = spec.get("selector") {
        return PolicyTarget::Selector(workload_selector(ctx, selector, "spec.selector"));
    }
    let mut refs = Vec::new();
    if let Some(single) = spec.get("targetRef") {
        refs.extend(target_ref(ctx, single, "spec.targetRef"));
    }
    if let Some(list) = spec.get("targetRefs") {
        let items = ctx.seq(list, "spec.targetRefs");
        if items.len() > MAX_TARGET_REFS {
            let message = format!("{} targetRefs; the schema allows at most {MAX_TARGET_REFS}", items.len());
            ctx.error(DiagnosticCode::InvalidValue, list.line, "spec.targetRefs", message);
        }
        for (index, item) in items.iter().enumerate() {
            refs.extend(target_ref(ctx, item, &format!("spec.targetRefs[{index}]")));
        }
    }
    if spec.get("targetRef").is_some() || spec.get("targetRefs").is_some() {
        PolicyTarget::TargetRefs(refs)
    } else {
        PolicyTarget::Namespace
    }
}

/// Istio's WorkloadSelector: `matchLabels` only, with no wildcard and no empty key.
pub(crate) fn workload_selector(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Labels {
    let Some(node) = ctx.map(node, field) else { return Labels::new() };
    ctx.unknown_fields(node, field, &["matchLabels"]);
    let labels_field = join(field, "matchLabels");
    let labels = ctx.labels(node.get("matchLabels"), &labels_field);
    for (key, value) in &labels {
        let line = node.get("matchLabels").and_then(|m| m.get(key)).map_or(node.line, |v| v.line);
        if key.contains('*') || value.contains('*') {
            ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                &join(&labels_field, key),
                "wildcards are not allowed in a workload selector",
            );
        }
    }
    labels
}

fn target_ref(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<TargetRef> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["group", "kind", "name", "namespace"]);
    let group = node.get("group").and_then(|g| ctx.string(g, &join(field, "group"))).unwrap_or_default();
    let kind = node.get("kind").and_then(|k| ctx.string(k, &join(field, "kind")));
    let name = node.get("name").and_then(|n| ctx.string(n, &join(field, "name")));
    if let Some(namespace) = node.get("namespace").and_then(|n| ctx.string(n, &join(field, "namespace"))) {
        if !namespace.is_empty() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "namespace"),
                "cross-namespace targetRefs are not supported: the target must be in the policy's namespace",
            );
        }
    }
    let (Some(kind), Some(name)) = (kind.filter(|k| !k.is_empty()), name.filter(|n| !n.is_empty())) else {
        ctx.error(DiagnosticCode::MissingField, node.line, field, "a targetRef needs a kind and a name");
        return None;
    };
    Some(TargetRef { group, kind, name, line: node.line })
}

fn rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, policy: &AuthorizationPolicy) -> Option<Rule> {
    if node.is_null() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            "a rule must not be null (write `{}` to match every request)",
        );
        return None;
    }
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, RULE_FIELDS);
    let custom = matches!(policy.action, AuthorizationAction::Custom { .. });
    let mut rule = Rule { from: Vec::new(), to: Vec::new(), when: Vec::new(), line: node.line };
    if let Some(list) = node.get("from") {
        let from_field = join(field, "from");
        let items = ctx.seq(list, &from_field);
        if items.is_empty() && !list.is_null() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &from_field,
                "`from` must not be empty; leave it out to match any source",
            );
        }
        if items.len() > MAX_RULES {
            let message = format!("{} sources; the schema allows at most {MAX_RULES}", items.len());
            ctx.error(DiagnosticCode::InvalidValue, list.line, &from_field, message);
        }
        for (index, item) in items.iter().enumerate() {
            let item_field = format!("{from_field}[{index}]");
            let Some(item) = ctx.map(item, &item_field) else {
                ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, "`from` entries must not be null");
                continue;
            };
            ctx.unknown_fields(item, &item_field, &["source"]);
            let source_field = join(&item_field, "source");
            match item.get("source").filter(|s| !s.is_null()) {
                Some(source_node) => {
                    if let Some(parsed) = source(ctx, source_node, &source_field, &policy.namespace, custom) {
                        rule.from.push(parsed);
                    }
                }
                None => ctx.error(DiagnosticCode::MissingField, item.line, &source_field, "`from.source` must be set"),
            }
        }
    }
    if let Some(list) = node.get("to") {
        let to_field = join(field, "to");
        let items = ctx.seq(list, &to_field);
        if items.is_empty() && !list.is_null() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                list.line,
                &to_field,
                "`to` must not be empty; leave it out to match any operation",
            );
        }
        for (index, item) in items.iter().enumerate() {
            let item_field = format!("{to_field}[{index}]");
            let Some(item) = ctx.map(item, &item_field) else {
                ctx.error(DiagnosticCode::InvalidValue, item.line, &item_field, "`to` entries must not be null");
                continue;
            };
            ctx.unknown_fields(item, &item_field, &["operation"]);
            let operation_field = join(&item_field, "operation");
            match item.get("operation").filter(|o| !o.is_null()) {
                Some(operation_node) => {
                    if let Some(parsed) = operation(ctx, operation_node, &operation_field) {
                        rule.to.push(parsed);
                    }
                }
                None => {
                    ctx.error(DiagnosticCode::MissingField, item.line, &operation_field, "`to.operation` must be set")
                }
            }
        }
    }
    if let Some(list) = node.get("when") {
        let when_field = join(field, "when");
        for (index, item) in ctx.seq(list, &when_field).iter().enumerate() {
            if let Some(condition) = condition(ctx, item, &format!("{when_field}[{index}]"), custom) {
                rule.when.push(condition);
            }
        }
    }
    let http = rule.http_fields();
    // istiod's warning: a DENY rule whose only conditions are HTTP attributes denies every TCP connection it
    // is applied to (Istio treats the attributes it cannot read on TCP traffic as matching).
    let tcp_in_from = rule.from.iter().any(|s| {
        s.names_identities() || s.negates_identities() || !s.ip_blocks.is_empty() || !s.not_ip_blocks.is_empty()
    });
    let tcp_in_to = rule.to.iter().any(|o| !o.ports.is_empty() || !o.not_ports.is_empty());
    let only_http =
        (!rule.from.is_empty() && rule.to.is_empty() && !tcp_in_from) || (!rule.to.is_empty() && !tcp_in_to);
    if policy.action == AuthorizationAction::Deny && only_http && !http.is_empty() {
        warn(
            ctx,
            rule.line,
            field,
            format!(
                "this DENY rule matches on HTTP attributes only ({}): on TCP traffic Istio ignores them, so it denies \
                 every TCP connection to the workloads it applies to; scope it with `ports`",
                http.join(", ")
            ),
        );
    }
    Some(rule)
}

fn source(ctx: &mut Ctx<'_>, node: &Node, field: &str, namespace: &str, custom: bool) -> Option<Source> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, SOURCE_FIELDS);
    let mut source = Source { line: node.line, ..Source::default() };
    let present: Vec<&str> = SOURCE_FIELDS.iter().copied().filter(|k| node.get(k).is_some()).collect();
    if present.is_empty() {
        ctx.error(DiagnosticCode::InvalidValue, node.line, field, "`from.source` must not be empty");
        return None;
    }
    let identity = ["principals", "notPrincipals", "namespaces", "notNamespaces"];
    let accounts = ["serviceAccounts", "notServiceAccounts"];
    if present.iter().any(|k| identity.contains(k)) && present.iter().any(|k| accounts.contains(k)) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            "cannot set serviceAccounts with namespaces or principals",
        );
    }
    if custom {
        for key in present
            .iter()
            .filter(|k| !matches!(**k, "ipBlocks" | "notIpBlocks" | "remoteIpBlocks" | "notRemoteIpBlocks"))
        {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, key),
                format!("`{key}` is not supported with the CUSTOM action"),
            );
        }
    }
    source.principals = principals(ctx, node, "principals", field);
    source.not_principals = principals(ctx, node, "notPrincipals", field);
    source.request_principals = matches(ctx, node, "requestPrincipals", field);
    source.not_request_principals = matches(ctx, node, "notRequestPrincipals", field);
    source.namespaces = non_empty(ctx, node, "namespaces", field);
    source.not_namespaces = non_empty(ctx, node, "notNamespaces", field);
    source.service_accounts = service_accounts(ctx, node, "serviceAccounts", field, namespace);
    source.not_service_accounts = service_accounts(ctx, node, "notServiceAccounts", field, namespace);
    source.ip_blocks = ip_blocks(ctx, node, "ipBlocks", field);
    source.not_ip_blocks = ip_blocks(ctx, node, "notIpBlocks", field);
    source.remote_ip_blocks = ip_blocks(ctx, node, "remoteIpBlocks", field);
    source.not_remote_ip_blocks = ip_blocks(ctx, node, "notRemoteIpBlocks", field);
    source.trust_domains = trust_domains(ctx, node, "trustDomains", field);
    source.not_trust_domains = trust_domains(ctx, node, "notTrustDomains", field);
    Some(source)
}

fn non_empty(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, format!("empty value not allowed in {key}"));
            continue;
        }
        values.push(text);
    }
    values
}

fn matches(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<StringMatch> {
    non_empty(ctx, node, key, field).iter().map(|text| StringMatch::parse(text)).collect()
}

/// Principals are kept as written; one that cannot be an Istio identity is a warning, since Istio accepts it
/// and it simply never matches.
fn principals(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<StringMatch> {
    let mut values = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, format!("empty value not allowed in {key}"));
            continue;
        }
        if let Some(why) = malformed_principal(&text) {
            warn(ctx, line, &item_field, format!("principal `{}` {why}, so it matches no workload", truncate(&text)));
        }
        values.push(StringMatch::parse(&text));
    }
    values
}

/// Why a principal can never be a workload's identity (`TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`), if it
/// cannot. Wildcard forms are checked on their literal part.
pub(crate) fn malformed_principal(text: &str) -> Option<String> {
    if text == "*" {
        return None;
    }
    if text.starts_with("spiffe://") {
        return Some("starts with spiffe://, which Istio principals leave out".into());
    }
    if text.matches('*').count() > 1 || (text.contains('*') && !text.starts_with('*') && !text.ends_with('*')) {
        return Some("has a `*` that is neither leading nor trailing, which Istio reads as a literal star".into());
    }
    let literal = text.trim_matches('*');
    let parts: Vec<&str> = literal.split('/').collect();
    if text.starts_with('*') || text.ends_with('*') {
        // A partial principal; it must at least not contradict the shape.
        let shape_ok = parts.iter().all(|p| !p.contains(' '));
        return (!shape_ok).then(|| "contains a space".into());
    }
    let well_formed = parts.len() == 5
        && !parts[0].is_empty()
        && parts[1] == "ns"
        && !parts[2].is_empty()
        && parts[3] == "sa"
        && !parts[4].is_empty();
    (!well_formed).then(|| "is not of the form TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT".into())
}

fn service_accounts(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str, namespace: &str) -> Vec<(String, String)> {
    let values = strings(ctx, node, key, field);
    if values.len() > 16 {
        ctx.error(DiagnosticCode::InvalidValue, node.line, &join(field, key), "may not have more than 16 values");
    }
    let mut accounts = Vec::new();
    for (text, line, item_field) in values {
        let invalid =
            |why: &str| format!("`{}` {why}: expected `serviceAccount` or `namespace/serviceAccount`", truncate(&text));
        if text.is_empty() || text.contains('*') || text.matches('/').count() > 1 || text.len() > 320 {
            let why = if text.contains('*') { "has a wildcard, which is not allowed" } else { "is malformed" };
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, invalid(why));
            continue;
        }
        match text.split_once('/') {
            Some((ns, sa)) if !ns.is_empty() && !sa.is_empty() => accounts.push((ns.to_string(), sa.to_string())),
            Some(_) => ctx.error(DiagnosticCode::InvalidValue, line, &item_field, invalid("has an empty part")),
            None => accounts.push((namespace.to_string(), text.clone())),
        }
    }
    accounts
}

fn trust_domains(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<StringMatch> {
    let mut values = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        let stars = text.matches('*').count();
        let bad = if text.is_empty() {
            Some("empty value not allowed".to_string())
        } else if stars > 1 || (stars == 1 && text != "*" && !text.starts_with('*') && !text.ends_with('*')) {
            Some("a wildcard is only allowed once, at the start or the end".to_string())
        } else if text.contains('/') {
            Some("a trust domain must not contain `/`".to_string())
        } else {
            None
        };
        match bad {
            Some(why) => ctx.error(DiagnosticCode::InvalidValue, line, &item_field, why),
            None => values.push(StringMatch::parse(&text)),
        }
    }
    values
}

/// A single IP or a CIDR, as istiod's `ValidateIPs` reads them (Go's netip: no leading zeros, no zone).
pub(crate) fn ip_or_cidr(text: &str) -> Result<Cidr, String> {
    if text.contains('/') {
        Cidr::from_str(text).map_err(|e| format!("bad CIDR range: {e}"))
    } else {
        let addr = IpAddr::from_str(text).map_err(|_| format!("bad IP address `{}`", truncate(text)))?;
        Ok(Cidr { network: addr, prefix: Cidr::max_prefix(addr) })
    }
}

fn ip_blocks(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<Cidr> {
    let mut blocks = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, format!("empty value not allowed in {key}"));
            continue;
        }
        match ip_or_cidr(&text) {
            Ok(cidr) => blocks.push(cidr),
            Err(why) => ctx.error(DiagnosticCode::InvalidValue, line, &item_field, why),
        }
    }
    blocks
}

fn operation(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<Operation> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, OPERATION_FIELDS);
    if !OPERATION_FIELDS.iter().any(|k| node.get(k).is_some()) {
        ctx.error(DiagnosticCode::InvalidValue, node.line, field, "`to.operation` must not be empty");
        return None;
    }
    let mut operation = Operation { line: node.line, ..Operation::default() };
    operation.hosts = matches(ctx, node, "hosts", field);
    operation.not_hosts = matches(ctx, node, "notHosts", field);
    operation.ports = ports(ctx, node, "ports", field);
    operation.not_ports = ports(ctx, node, "notPorts", field);
    operation.methods = methods(ctx, node, "methods", field);
    operation.not_methods = methods(ctx, node, "notMethods", field);
    operation.paths = paths(ctx, node, "paths", field);
    operation.not_paths = paths(ctx, node, "notPaths", field);
    Some(operation)
}

/// Ports are strings of digits (istiod refuses anything else and anything above 65535). Port 0 is accepted and
/// matches no connection.
fn ports(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    let Some(list) = node.get(key) else { return ports };
    let list_field = join(field, key);
    for (index, item) in ctx.seq(list, &list_field).iter().enumerate() {
        let item_field = format!("{list_field}[{index}]");
        let text = match &item.value {
            Value::Str(text) => text.clone(),
            // The CRD types ports as strings; an unquoted number is a type error the API server refuses.
            _ => {
                ctx.wrong_type(item, &item_field, "a port number as a string (quote it: \"8080\")");
                continue;
            }
        };
        match text.parse::<u32>() {
            Ok(port) if port <= 65535 && text.chars().all(|c| c.is_ascii_digit()) => {
                if port == 0 {
                    warn(ctx, item.line, &item_field, "port 0 matches no connection");
                }
                ports.push(port as u16);
            }
            _ => ctx.error(
                DiagnosticCode::InvalidValue,
                item.line,
                &item_field,
                format!("bad port `{}`", truncate(&text)),
            ),
        }
    }
    ports
}

fn methods(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<StringMatch> {
    let mut values = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, format!("empty value not allowed in {key}"));
            continue;
        }
        if text != "*" && !text.contains('*') && !KNOWN_METHODS.contains(&text.as_str()) {
            let hint = if KNOWN_METHODS.contains(&text.to_ascii_uppercase().as_str()) {
                format!("; methods are case-sensitive, did you mean `{}`?", text.to_ascii_uppercase())
            } else {
                String::new()
            };
            warn(ctx, line, &item_field, format!("`{}` is not an HTTP method{hint}", truncate(&text)));
        }
        values.push(StringMatch::parse(&text));
    }
    values
}

fn paths(ctx: &mut Ctx<'_>, node: &Node, key: &str, field: &str) -> Vec<PathPattern> {
    let mut values = Vec::new();
    for (text, line, item_field) in strings(ctx, node, key, field) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, line, &item_field, format!("empty value not allowed in {key}"));
            continue;
        }
        if text.contains("{*}") || text.contains("{**}") {
            match check_template(&text) {
                Ok(()) => values.push(PathPattern::template(&text)),
                Err(why) => ctx.error(DiagnosticCode::InvalidValue, line, &item_field, why),
            }
            continue;
        }
        if text.contains('{') || text.contains('}') {
            ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                &item_field,
                format!("`{}` has `{{` or `}}` outside a path template operator", truncate(&text)),
            );
            continue;
        }
        if !text.starts_with('/') && !text.starts_with('*') {
            warn(
                ctx,
                line,
                &item_field,
                format!("path `{}` does not start with `/`, so it matches no request", truncate(&text)),
            );
        } else if text.contains('?') || text.contains('#') {
            warn(
                ctx,
                line,
                &item_field,
                format!("path `{}` has a query or fragment, which Istio strips before matching", truncate(&text)),
            );
        }
        values.push(PathPattern::String(StringMatch::parse(&text)));
    }
    values
}

/// istiod's `CheckValidPathTemplate`: `{*}` and `{**}` as whole segments, `{**}` last, nothing else in braces,
/// and only RFC 3986 path characters in the other segments.
fn check_template(path: &str) -> Result<(), String> {
    let mut rest_seen = false;
    for segment in path.trim_matches('/').split('/') {
        match segment {
            "{*}" | "{**}" if rest_seen => {
                return Err(format!("`{}`: `{{**}}` must be the last operator", truncate(path)))
            }
            "{*}" => {}
            "{**}" => rest_seen = true,
            _ if segment.contains('{') || segment.contains('}') => {
                return Err(format!("`{}` has `{{` or `}}` beyond a supported path template operator", truncate(path)))
            }
            _ if segment.is_empty() || !segment.chars().all(is_path_literal) => {
                return Err(format!("`{}` has a segment `{segment}` that is not a valid path literal", truncate(path)))
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_path_literal(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~%!$&'()+,;:@=".contains(c)
}

fn condition(ctx: &mut Ctx<'_>, node: &Node, field: &str, custom: bool) -> Option<Condition> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["key", "values", "notValues"]);
    let key_field = join(field, "key");
    let Some(key_text) = node.get("key").and_then(|k| ctx.string(k, &key_field)).filter(|k| !k.is_empty()) else {
        ctx.error(DiagnosticCode::MissingField, node.line, &key_field, "`key` must not be empty");
        return None;
    };
    let values: Vec<(String, u32, String)> = strings(ctx, node, "values", field);
    let not_values: Vec<(String, u32, String)> = strings(ctx, node, "notValues", field);
    if values.is_empty() && not_values.is_empty() {
        ctx.error(
            DiagnosticCode::MissingField,
            node.line,
            field,
            format!("at least one of `values` or `notValues` must be set for key {key_text}"),
        );
        return None;
    }
    let map_key = |prefix: &str| -> Option<String> {
        let inner = key_text.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
        (!inner.is_empty()).then(|| inner.to_string())
    };
    let key = match key_text.as_str() {
        "source.ip" => ConditionKey::SourceIp,
        "remote.ip" => ConditionKey::RemoteIp,
        "source.namespace" => ConditionKey::SourceNamespace,
        "source.serviceAccount" => ConditionKey::SourceServiceAccount,
        "source.principal" => ConditionKey::SourcePrincipal,
        "source.trustDomain" => ConditionKey::SourceTrustDomain,
        "request.auth.principal" => ConditionKey::RequestAuthPrincipal,
        "request.auth.audiences" => ConditionKey::RequestAuthAudiences,
        "request.auth.presenter" => ConditionKey::RequestAuthPresenter,
        "destination.ip" => ConditionKey::DestinationIp,
        "destination.port" => ConditionKey::DestinationPort,
        "connection.sni" => ConditionKey::ConnectionSni,
        text if text.starts_with("request.headers") => match map_key("request.headers") {
            Some(name) => ConditionKey::RequestHeader(name.to_ascii_lowercase()),
            None => return bad_key(ctx, node, &key_field, &key_text, "should have the form request.headers[NAME]"),
        },
        text if text.starts_with("request.auth.claims") => match map_key("request.auth.claims") {
            Some(name) => ConditionKey::RequestAuthClaim(name),
            None => return bad_key(ctx, node, &key_field, &key_text, "should have the form request.auth.claims[NAME]"),
        },
        text if text.starts_with("experimental.envoy.filters.") => ConditionKey::Experimental(text.to_string()),
        "destination.namespace" => {
            return bad_key(ctx, node, &key_field, &key_text, "is replaced by metadata.namespace")
        }
        text if text.starts_with("destination.labels") => {
            return bad_key(ctx, node, &key_field, &key_text, "is replaced by the workload selector")
        }
        "destination.name" | "destination.user" => {
            return bad_key(ctx, node, &key_field, &key_text, "is deprecated: only supported in v1alpha1")
        }
        _ => return bad_key(ctx, node, &key_field, &key_text, "is not an Istio attribute"),
    };
    if custom
        && matches!(
            key,
            ConditionKey::SourceNamespace
                | ConditionKey::SourceServiceAccount
                | ConditionKey::SourceTrustDomain
                | ConditionKey::SourcePrincipal
                | ConditionKey::RequestAuthPrincipal
                | ConditionKey::RequestAuthAudiences
                | ConditionKey::RequestAuthPresenter
                | ConditionKey::RequestAuthClaim(_)
        )
    {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            &key_field,
            format!("{key_text} is not supported with the CUSTOM action"),
        );
    }
    for (text, line, item_field) in values.iter().chain(&not_values) {
        if text.is_empty() {
            ctx.error(DiagnosticCode::InvalidValue, *line, item_field, "empty value not allowed");
            continue;
        }
        let problem = match key {
            ConditionKey::SourceIp | ConditionKey::RemoteIp | ConditionKey::DestinationIp => ip_or_cidr(text).err(),
            ConditionKey::DestinationPort => match text.parse::<u32>() {
                Ok(port) if port <= 65535 => None,
                _ => Some(format!("bad port `{}`", truncate(text))),
            },
            _ => None,
        };
        if let Some(why) = problem {
            ctx.error(DiagnosticCode::InvalidValue, *line, item_field, why);
        }
        if key == ConditionKey::SourcePrincipal {
            if let Some(why) = malformed_principal(text) {
                warn(
                    ctx,
                    *line,
                    item_field,
                    format!("principal `{}` {why}, so it matches no workload", truncate(text)),
                );
            }
        }
    }
    Some(Condition {
        key,
        key_text,
        values: values.into_iter().map(|(v, _, _)| v).collect(),
        not_values: not_values.into_iter().map(|(v, _, _)| v).collect(),
        line: node.line,
    })
}

fn bad_key(ctx: &mut Ctx<'_>, node: &Node, field: &str, key: &str, why: &str) -> Option<Condition> {
    ctx.error(DiagnosticCode::InvalidValue, node.line, field, format!("attribute `{}` {why}", truncate(key)));
    None
}

pub(crate) fn peer_authentication(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> PeerAuthentication {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut policy = PeerAuthentication {
        namespace: object.namespace,
        name: object.name,
        selector: None,
        mode: None,
        port_level: Vec::new(),
        created: object.created,
        ignore: object.ignore,
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else { return policy };
    ctx.unknown_fields(spec, "spec", &["selector", "mtls", "portLevelMtls"]);
    if let Some(selector) = spec.get("selector") {
        let labels = workload_selector(ctx, selector, "spec.selector");
        policy.selector = (!labels.is_empty()).then_some(labels);
    }
    if let Some(mtls) = spec.get("mtls") {
        policy.mode = mtls_mode(ctx, mtls, "spec.mtls");
    }
    if let Some(ports) = spec.get("portLevelMtls") {
        let field = "spec.portLevelMtls";
        let Some(map) = ctx.map(ports, field) else { return policy };
        let Value::Map(entries) = &map.value else { return policy };
        if entries.is_empty() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                map.line,
                field,
                "port level mTLS, if defined, must have at least one element",
            );
        }
        if policy.selector.is_none() && !entries.is_empty() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                map.line,
                field,
                "a mesh- or namespace-wide PeerAuthentication (no selector) cannot have port level mTLS",
            );
        }
        for (key, value) in entries {
            let entry_field = join(field, key);
            match key.parse::<u32>() {
                Ok(port) if (1..=65535).contains(&port) => {
                    let mode = mtls_mode(ctx, value, &entry_field);
                    policy.port_level.push((port as u16, mode));
                }
                _ => ctx.error(
                    DiagnosticCode::InvalidValue,
                    value.line,
                    &entry_field,
                    format!("`{}` is not a port: port must be in range 1..65535", truncate(key)),
                ),
            }
        }
    }
    policy
}

fn mtls_mode(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<MtlsMode> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["mode"]);
    let mode_field = join(field, "mode");
    let mode_node = node.get("mode")?;
    match ctx.string(mode_node, &mode_field)?.as_str() {
        "UNSET" => None,
        "STRICT" => Some(MtlsMode::Strict),
        "PERMISSIVE" => Some(MtlsMode::Permissive),
        "DISABLE" => Some(MtlsMode::Disable),
        other => {
            ctx.error(
                DiagnosticCode::InvalidValue,
                mode_node.line,
                &mode_field,
                format!("`{}` is not an mTLS mode: use UNSET, DISABLE, PERMISSIVE or STRICT", truncate(other)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_that_cannot_match() {
        assert_eq!(malformed_principal("cluster.local/ns/default/sa/inventory-sa"), None);
        assert_eq!(malformed_principal("*"), None);
        assert_eq!(malformed_principal("cluster.local/ns/default/*"), None);
        assert!(malformed_principal("spiffe://cluster.local/ns/a/sa/b").is_some());
        assert!(malformed_principal("default/inventory-sa").is_some());
        assert!(malformed_principal("cluster.local/ns/*/sa/b").is_some());
    }

    #[test]
    fn templates() {
        assert!(check_template("/foo/{*}/bar/{**}").is_ok());
        assert!(check_template("/{**}/foo/{*}").is_err());
        assert!(check_template("/foo/{*}.txt").is_err());
    }
}
