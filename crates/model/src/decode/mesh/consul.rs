//! Consul's ServiceIntentions, ServiceDefaults and ProxyDefaults (`consul.hashicorp.com/v1alpha1`), validated as
//! consul-k8s's admission webhook validates them before they are written to Consul.

use super::{strings, warn, Object, TOP_FIELDS};
use crate::decode::{join, truncate, Ctx};
use crate::diag::DiagnosticCode;
use crate::mesh::consul::*;
use crate::yaml::Node;

const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

pub(crate) fn service_intentions(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> ServiceIntentions {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut intentions = ServiceIntentions {
        namespace: object.namespace,
        name: object.name,
        destination: String::new(),
        sources: Vec::new(),
        ignore: object.ignore,
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a ServiceIntentions needs a spec");
        return intentions;
    };
    ctx.unknown_fields(spec, "spec", &["destination", "sources", "jwt"]);
    match spec.get("destination").and_then(|d| ctx.map(d, "spec.destination")) {
        Some(destination) => {
            ctx.unknown_fields(destination, "spec.destination", &["name", "namespace", "partition"]);
            match destination.get("name").and_then(|n| ctx.string(n, "spec.destination.name")).filter(|n| !n.is_empty())
            {
                Some(name) => intentions.destination = name,
                None => ctx.error(
                    DiagnosticCode::MissingField,
                    destination.line,
                    "spec.destination.name",
                    "the destination needs a service name (or `*`)",
                ),
            }
        }
        None => ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.destination",
            "a ServiceIntentions needs a destination",
        ),
    }
    let Some(list) = spec.get("sources") else { return intentions };
    let mut seen: Vec<(String, u32)> = Vec::new();
    for (index, item) in ctx.seq(list, "spec.sources").iter().enumerate() {
        let field = format!("spec.sources[{index}]");
        let Some(item) = ctx.map(item, &field) else { continue };
        ctx.unknown_fields(
            item,
            &field,
            &["name", "peer", "namespace", "partition", "samenessGroup", "action", "permissions", "description"],
        );
        let Some(name) = item.get("name").and_then(|n| ctx.string(n, &join(&field, "name"))).filter(|n| !n.is_empty())
        else {
            ctx.error(
                DiagnosticCode::MissingField,
                item.line,
                &join(&field, "name"),
                "a source needs a service name (or `*`)",
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                item.line,
                &join(&field, "name"),
                format!("source `{}` is listed twice (first at line {first})", truncate(&name)),
            );
        }
        seen.push((name.clone(), item.line));
        let action = item.get("action").and_then(|a| ctx.string(a, &join(&field, "action")));
        let decision = match (action.as_deref(), item.get("permissions")) {
            (Some(_), Some(_)) => {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &field,
                    "a source sets either action (L4) or permissions (L7), not both",
                );
                continue;
            }
            (Some(text), None) => match intention_action(text) {
                Some(action) => SourceDecision::Action(action),
                None => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.get("action").map_or(item.line, |a| a.line),
                        &join(&field, "action"),
                        format!("`{}` is not an action: use allow or deny", truncate(text)),
                    );
                    continue;
                }
            },
            (None, Some(list)) => {
                let permissions_field = join(&field, "permissions");
                let mut permissions = Vec::new();
                for (p, permission) in ctx.seq(list, &permissions_field).iter().enumerate() {
                    if let Some(parsed) = self::permission(ctx, permission, &format!("{permissions_field}[{p}]")) {
                        permissions.push(parsed);
                    }
                }
                SourceDecision::Permissions(permissions)
            }
            (None, None) => {
                ctx.error(
                    DiagnosticCode::MissingField,
                    item.line,
                    &join(&field, "action"),
                    "a source needs an action (allow or deny) or L7 permissions",
                );
                continue;
            }
        };
        intentions.sources.push(IntentionSource { name, decision, line: item.line });
    }
    intentions
}

fn intention_action(text: &str) -> Option<IntentionAction> {
    match text {
        "allow" => Some(IntentionAction::Allow),
        "deny" => Some(IntentionAction::Deny),
        _ => None,
    }
}

fn permission(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<Permission> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["action", "http", "jwt"]);
    let action_field = join(field, "action");
    let action = match node.get("action").and_then(|a| ctx.string(a, &action_field)) {
        Some(text) => match intention_action(&text) {
            Some(action) => action,
            None => {
                let message = format!("`{}` is not an action: use allow or deny", truncate(&text));
                ctx.error(DiagnosticCode::InvalidValue, node.line, &action_field, message);
                return None;
            }
        },
        None => {
            ctx.error(DiagnosticCode::MissingField, node.line, &action_field, "a permission needs an action");
            return None;
        }
    };
    let mut http = HttpMatch::default();
    if let Some(node) = node.get("http").and_then(|h| ctx.map(h, &join(field, "http"))) {
        let http_field = join(field, "http");
        ctx.unknown_fields(node, &http_field, &["pathExact", "pathPrefix", "pathRegex", "methods", "header"]);
        let paths: Vec<&str> =
            ["pathExact", "pathPrefix", "pathRegex"].into_iter().filter(|k| node.get(k).is_some()).collect();
        if paths.len() > 1 {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &http_field,
                format!(
                    "at most one of pathExact, pathPrefix and pathRegex may be set (this sets {})",
                    paths.join(" and ")
                ),
            );
            return None;
        }
        if let Some(key) = paths.first() {
            let path_field = join(&http_field, key);
            let value_node = node.get(key)?;
            let value = ctx.string(value_node, &path_field).unwrap_or_default();
            if *key != "pathRegex" && !value.starts_with('/') {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    value_node.line,
                    &path_field,
                    format!("`{}` must begin with `/`", truncate(&value)),
                );
                return None;
            }
            http.path = Some(match *key {
                "pathExact" => PathMatch::Exact(value),
                "pathPrefix" => PathMatch::Prefix(value),
                _ => {
                    check_regex(ctx, &value, value_node.line, &path_field);
                    PathMatch::Regex(value)
                }
            });
        }
        let methods = strings(ctx, node, "methods", &http_field);
        for (index, (method, line, method_field)) in methods.iter().enumerate() {
            if !HTTP_METHODS.contains(&method.as_str()) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    *line,
                    method_field,
                    format!("`{}` is not an HTTP method: use one of {}", truncate(method), HTTP_METHODS.join(", ")),
                );
            } else if methods[..index].iter().any(|(m, _, _)| m == method) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    *line,
                    method_field,
                    format!("method `{method}` is listed twice"),
                );
            }
        }
        http.methods = methods.into_iter().map(|(m, _, _)| m).collect();
        if let Some(list) = node.get("header") {
            let headers_field = join(&http_field, "header");
            for (index, header) in ctx.seq(list, &headers_field).iter().enumerate() {
                let header_field = format!("{headers_field}[{index}]");
                if let Some(parsed) = header_match(ctx, header, &header_field) {
                    http.headers.push(parsed);
                }
            }
        }
    }
    Some(Permission { action, http, line: node.line })
}

fn header_match(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<HeaderMatch> {
    let node = ctx.map(node, field)?;
    const TESTS: &[&str] = &["present", "exact", "prefix", "suffix", "regex"];
    ctx.unknown_fields(node, field, &["name", "present", "exact", "prefix", "suffix", "regex", "invert"]);
    let name = node.get("name").and_then(|n| ctx.string(n, &join(field, "name"))).filter(|n| !n.is_empty());
    let Some(name) = name else {
        ctx.error(DiagnosticCode::MissingField, node.line, &join(field, "name"), "a header match needs a name");
        return None;
    };
    let set: Vec<&str> = TESTS
        .iter()
        .copied()
        .filter(|k| match node.get(k) {
            Some(value) if *k == "present" => matches!(value.value, crate::yaml::Value::Bool(true)),
            Some(value) => !value.is_null(),
            None => false,
        })
        .collect();
    if set.len() != 1 {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("a header match sets exactly one of {}", TESTS.join(", ")),
        );
        return None;
    }
    let text =
        |ctx: &mut Ctx<'_>, key: &str| node.get(key).and_then(|v| ctx.string(v, &join(field, key))).unwrap_or_default();
    let test = match set[0] {
        "present" => HeaderTest::Present,
        "exact" => HeaderTest::Exact(text(ctx, "exact")),
        "prefix" => HeaderTest::Prefix(text(ctx, "prefix")),
        "suffix" => HeaderTest::Suffix(text(ctx, "suffix")),
        _ => {
            let value = text(ctx, "regex");
            check_regex(ctx, &value, node.line, &join(field, "regex"));
            HeaderTest::Regex(value)
        }
    };
    let invert = node.get("invert").and_then(|i| ctx.boolean(i, &join(field, "invert"))).unwrap_or(false);
    Some(HeaderMatch { name: name.to_ascii_lowercase(), test, invert })
}

fn check_regex(ctx: &mut Ctx<'_>, value: &str, line: u32, field: &str) {
    if let Err(error) = regex::Regex::new(value) {
        warn(
            ctx,
            line,
            field,
            format!("not a regular expression Envoy compiles ({error}); the permission never matches"),
        );
    }
}

/// A ServiceDefaults, or the global ProxyDefaults (whose protocol sits in `spec.config`).
pub(crate) fn service_defaults(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>, proxy: bool) -> ServiceDefaults {
    let mut defaults =
        ServiceDefaults { name: object.name, protocol: None, permissive_mtls: false, location: object.location };
    if proxy && defaults.name != "global" {
        ctx.error(DiagnosticCode::InvalidValue, root.line, "metadata.name", "a ProxyDefaults must be named `global`");
    }
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else { return defaults };
    let protocol = if proxy { spec.get("config").and_then(|c| c.get("protocol")) } else { spec.get("protocol") };
    if let Some(node) = protocol {
        if let Some(text) = node.as_str() {
            match text {
                "tcp" | "http" | "http2" | "grpc" => defaults.protocol = Some(text.to_string()),
                other => ctx.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    if proxy { "spec.config.protocol" } else { "spec.protocol" },
                    format!("`{}` is not a protocol: use tcp, http, http2 or grpc", truncate(other)),
                ),
            }
        }
    }
    if let Some(node) = spec.get("mutualTLSMode") {
        match node.as_str() {
            Some("" | "strict") => {}
            Some("permissive") => defaults.permissive_mtls = true,
            _ => ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                "spec.mutualTLSMode",
                "mutualTLSMode is `strict` or `permissive`",
            ),
        }
    }
    defaults
}
