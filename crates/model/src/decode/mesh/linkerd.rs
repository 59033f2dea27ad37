//! Linkerd's policy objects, validated as their CRD schemas and Linkerd's policy admission webhook do. What the
//! policy controller would silently ignore (a route whose regular expression does not compile) is a warning.

use super::{strings, warn, Object, TOP_FIELDS};
use crate::cidr::Cidr;
use crate::decode::{join, truncate, validate_port_name, Ctx};
use crate::diag::DiagnosticCode;
use crate::kube::PortRef;
use crate::mesh::linkerd::*;
use crate::yaml::{Node, Value};
use std::str::FromStr;

const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

pub(crate) fn server(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> Server {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut server = Server {
        namespace: object.namespace,
        name: object.name,
        labels: object.labels.clone(),
        pod_selector: None,
        port: PortRef::Number(1),
        proxy_protocol: ProxyProtocol::Detect,
        access_policy: DefaultPolicy::Deny,
        ignore: object.ignore,
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a Server needs a spec");
        return server;
    };
    ctx.unknown_fields(
        spec,
        "spec",
        &["podSelector", "externalWorkloadSelector", "port", "proxyProtocol", "accessPolicy"],
    );
    match (spec.get("podSelector"), spec.get("externalWorkloadSelector")) {
        (Some(_), Some(_)) => ctx.error(
            DiagnosticCode::InvalidValue,
            spec.line,
            "spec",
            "a Server selects pods or external workloads, not both: set one of podSelector and externalWorkloadSelector",
        ),
        (Some(selector), None) => server.pod_selector = Some(ctx.selector(selector, "spec.podSelector")),
        (None, Some(selector)) => {
            ctx.selector(selector, "spec.externalWorkloadSelector");
        }
        (None, None) => ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.podSelector",
            "a Server needs a podSelector (or an externalWorkloadSelector)",
        ),
    }
    match spec.get("port") {
        Some(port) => match &port.value {
            Value::Int(_) => {
                if let Some(number) = ctx.port_number(port, "spec.port") {
                    server.port = PortRef::Number(number);
                }
            }
            Value::Str(name) => match validate_port_name(name) {
                Ok(()) => server.port = PortRef::Name(name.clone()),
                Err(why) => ctx.error(DiagnosticCode::InvalidValue, port.line, "spec.port", format!("`{name}`: {why}")),
            },
            _ => ctx.wrong_type(port, "spec.port", "a port number or name"),
        },
        None => ctx.error(DiagnosticCode::MissingField, spec.line, "spec.port", "a Server needs a port"),
    }
    if let Some(node) = spec.get("proxyProtocol") {
        if let Some(text) = ctx.string(node, "spec.proxyProtocol") {
            server.proxy_protocol = match text.as_str() {
                "unknown" => ProxyProtocol::Detect,
                "HTTP/1" => ProxyProtocol::Http1,
                "HTTP/2" => ProxyProtocol::Http2,
                "gRPC" => ProxyProtocol::Grpc,
                "opaque" => ProxyProtocol::Opaque,
                "TLS" => ProxyProtocol::Tls,
                other => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        node.line,
                        "spec.proxyProtocol",
                        format!("`{}` is not one of unknown, HTTP/1, HTTP/2, gRPC, opaque, TLS", truncate(other)),
                    );
                    ProxyProtocol::Detect
                }
            };
        }
    }
    if let Some(node) = spec.get("accessPolicy") {
        if let Some(policy) = default_policy(ctx, node, "spec.accessPolicy") {
            server.access_policy = policy;
        }
    }
    server
}

pub(crate) fn default_policy(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<DefaultPolicy> {
    let text = ctx.string(node, field)?;
    let policy = DefaultPolicy::parse(&text);
    if policy.is_none() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            format!("`{}` is not a policy: use {}", truncate(&text), DefaultPolicy::VALUES),
        );
    }
    policy
}

pub(crate) fn server_authorization(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> ServerAuthorization {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut authorization = ServerAuthorization {
        namespace: object.namespace,
        name: object.name,
        server: ServerRef::Name(String::new()),
        server_line: root.line,
        mesh_tls: Some(MeshTlsClients::default()),
        networks: None,
        ignore: object.ignore,
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a ServerAuthorization needs a spec");
        return authorization;
    };
    ctx.unknown_fields(spec, "spec", &["server", "client"]);
    match spec.get("server").and_then(|s| ctx.map(s, "spec.server")) {
        Some(server) => {
            authorization.server_line = server.get("name").map_or(server.line, |n| n.line);
            ctx.unknown_fields(server, "spec.server", &["name", "selector"]);
            match (server.get("name"), server.get("selector")) {
                (Some(name), None) => {
                    if let Some(name) = ctx.string(name, "spec.server.name") {
                        authorization.server = ServerRef::Name(name);
                    }
                }
                (None, Some(selector)) => {
                    authorization.server = ServerRef::Selector(ctx.selector(selector, "spec.server.selector"))
                }
                _ => ctx.error(
                    DiagnosticCode::InvalidValue,
                    server.line,
                    "spec.server",
                    "`server` must set exactly one of name and selector",
                ),
            }
        }
        None => {
            ctx.error(DiagnosticCode::MissingField, spec.line, "spec.server", "a ServerAuthorization needs a server")
        }
    }
    let Some(client) = spec.get("client").and_then(|c| ctx.map(c, "spec.client")) else {
        ctx.error(DiagnosticCode::MissingField, spec.line, "spec.client", "a ServerAuthorization needs a client");
        return authorization;
    };
    ctx.unknown_fields(client, "spec.client", &["meshTLS", "unauthenticated", "networks"]);
    let unauthenticated =
        client.get("unauthenticated").and_then(|u| ctx.boolean(u, "spec.client.unauthenticated")).unwrap_or(false);
    match (client.get("meshTLS"), unauthenticated) {
        (Some(_), true) | (None, false) => ctx.error(
            DiagnosticCode::InvalidValue,
            client.line,
            "spec.client",
            "`client` must set exactly one of meshTLS and `unauthenticated: true`",
        ),
        (None, true) => authorization.mesh_tls = None,
        (Some(tls), false) => {
            authorization.mesh_tls = mesh_tls(ctx, tls, "spec.client.meshTLS", &authorization.namespace);
        }
    }
    if let Some(list) = client.get("networks") {
        authorization.networks = Some(networks(ctx, list, "spec.client.networks"));
    }
    authorization
}

fn mesh_tls(ctx: &mut Ctx<'_>, node: &Node, field: &str, namespace: &str) -> Option<MeshTlsClients> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["unauthenticatedTLS", "identities", "serviceAccounts"]);
    let mut clients = MeshTlsClients::default();
    let set: Vec<&str> =
        ["unauthenticatedTLS", "identities", "serviceAccounts"].into_iter().filter(|k| node.get(k).is_some()).collect();
    if set.len() != 1 {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            "`meshTLS` must set exactly one of unauthenticatedTLS, identities and serviceAccounts",
        );
        return None;
    }
    if let Some(flag) = node.get("unauthenticatedTLS") {
        clients.unauthenticated_tls = ctx.boolean(flag, &join(field, "unauthenticatedTLS")).unwrap_or(false);
    }
    clients.identities = identities(ctx, node, field);
    if let Some(list) = node.get("serviceAccounts") {
        let list_field = join(field, "serviceAccounts");
        for (index, item) in ctx.seq(list, &list_field).iter().enumerate() {
            let item_field = format!("{list_field}[{index}]");
            let Some(item) = ctx.map(item, &item_field) else { continue };
            ctx.unknown_fields(item, &item_field, &["name", "namespace"]);
            let name = item.get("name").and_then(|n| ctx.string(n, &join(&item_field, "name")));
            let ns = item.get("namespace").and_then(|n| ctx.string(n, &join(&item_field, "namespace")));
            match name.filter(|n| !n.is_empty()) {
                Some(name) => clients.service_accounts.push((ns.unwrap_or_else(|| namespace.to_string()), name)),
                None => ctx.error(
                    DiagnosticCode::MissingField,
                    item.line,
                    &join(&item_field, "name"),
                    "a service account needs a name",
                ),
            }
        }
    }
    Some(clients)
}

/// `*`, `*.suffix` or an exact identity; anything else with a star is refused.
fn identities(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Vec<String> {
    let mut identities = Vec::new();
    for (text, line, item_field) in strings(ctx, node, "identities", field) {
        let star_ok = text == "*" || (text.starts_with("*.") && !text[1..].contains('*'));
        if text.is_empty() || (text.contains('*') && !star_ok) {
            ctx.error(
                DiagnosticCode::InvalidValue,
                line,
                &item_field,
                format!("`{}` is not an identity: use a name, `*.suffix` or `*`", truncate(&text)),
            );
            continue;
        }
        if text != "*" && !text.starts_with("*.") && !text.contains(".serviceaccount.identity.linkerd.") {
            warn(
                ctx,
                line,
                &item_field,
                format!(
                    "`{}` is not of the form SA.NAMESPACE.serviceaccount.identity.linkerd.TRUST_DOMAIN, so it matches no meshed pod",
                    truncate(&text)
                ),
            );
        }
        identities.push(text);
    }
    identities
}

fn networks(ctx: &mut Ctx<'_>, list: &Node, field: &str) -> Vec<NetworkMatch> {
    let mut networks = Vec::new();
    for (index, item) in ctx.seq(list, field).iter().enumerate() {
        let item_field = format!("{field}[{index}]");
        let Some(item) = ctx.map(item, &item_field) else { continue };
        ctx.unknown_fields(item, &item_field, &["cidr", "except"]);
        let cidr_field = join(&item_field, "cidr");
        let Some(cidr) = item.get("cidr").and_then(|c| ctx.cidr(c, &cidr_field)) else {
            if item.get("cidr").is_none() {
                ctx.error(DiagnosticCode::MissingField, item.line, &cidr_field, "a network needs a cidr");
            }
            continue;
        };
        let mut except = Vec::new();
        if let Some(list) = item.get("except") {
            let except_field = join(&item_field, "except");
            for (i, entry) in ctx.seq(list, &except_field).iter().enumerate() {
                let entry_field = format!("{except_field}[{i}]");
                if let Some(inner) = ctx.cidr(entry, &entry_field) {
                    if !cidr.contains(inner.network) {
                        let message = format!("`{inner}` is outside the network `{cidr}`");
                        ctx.error(DiagnosticCode::InvalidValue, entry.line, &entry_field, message);
                        continue;
                    }
                    except.push(inner);
                }
            }
        }
        networks.push(NetworkMatch { cidr, except });
    }
    networks
}

pub(crate) fn authorization_policy(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> AuthorizationPolicy {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut policy = AuthorizationPolicy {
        namespace: object.namespace.clone(),
        name: object.name,
        target: AuthorizationTarget::Namespace,
        required: Vec::new(),
        target_line: root.line,
        ignore: object.ignore,
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "an AuthorizationPolicy needs a spec");
        return policy;
    };
    ctx.unknown_fields(spec, "spec", &["targetRef", "requiredAuthenticationRefs"]);
    match spec.get("targetRef").and_then(|t| ctx.map(t, "spec.targetRef")) {
        Some(target) => {
            policy.target_line = target.line;
            ctx.unknown_fields(target, "spec.targetRef", &["group", "kind", "name", "namespace"]);
            let group = target.get("group").and_then(|g| ctx.string(g, "spec.targetRef.group")).unwrap_or_default();
            let kind = target.get("kind").and_then(|k| ctx.string(k, "spec.targetRef.kind")).unwrap_or_default();
            let name = target.get("name").and_then(|n| ctx.string(n, "spec.targetRef.name")).unwrap_or_default();
            if name.is_empty() {
                ctx.error(DiagnosticCode::MissingField, target.line, "spec.targetRef.name", "a targetRef needs a name");
            }
            match (group.as_str(), kind.as_str()) {
                ("policy.linkerd.io", "Server") => policy.target = AuthorizationTarget::Server(name),
                ("policy.linkerd.io" | "gateway.networking.k8s.io", "HTTPRoute") => {
                    policy.target = AuthorizationTarget::HttpRoute(name)
                }
                ("" | "core", "Namespace") => {
                    if name != object.namespace {
                        ctx.error(
                            DiagnosticCode::InvalidValue,
                            target.line,
                            "spec.targetRef.name",
                            format!("a Namespace target must be the policy's own namespace `{}`", object.namespace),
                        );
                    }
                    policy.target = AuthorizationTarget::Namespace;
                }
                _ => ctx.error(
                    DiagnosticCode::InvalidValue,
                    target.line,
                    "spec.targetRef.kind",
                    format!(
                        "`{}` of group `{}` is not a target Linkerd authorizes: use a Server, an HTTPRoute or the Namespace",
                        truncate(&kind),
                        truncate(&group)
                    ),
                ),
            }
        }
        None => ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.targetRef",
            "an AuthorizationPolicy needs a targetRef",
        ),
    }
    let refs_field = "spec.requiredAuthenticationRefs";
    let Some(list) = spec.get("requiredAuthenticationRefs") else {
        ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            refs_field,
            "an AuthorizationPolicy needs requiredAuthenticationRefs",
        );
        return policy;
    };
    for (index, item) in ctx.seq(list, refs_field).iter().enumerate() {
        let item_field = format!("{refs_field}[{index}]");
        let Some(item) = ctx.map(item, &item_field) else { continue };
        ctx.unknown_fields(item, &item_field, &["group", "kind", "name", "namespace"]);
        let group = item.get("group").and_then(|g| ctx.string(g, &join(&item_field, "group"))).unwrap_or_default();
        let kind_text = item.get("kind").and_then(|k| ctx.string(k, &join(&item_field, "kind"))).unwrap_or_default();
        let name = item.get("name").and_then(|n| ctx.string(n, &join(&item_field, "name"))).unwrap_or_default();
        let namespace = item
            .get("namespace")
            .and_then(|n| ctx.string(n, &join(&item_field, "namespace")))
            .unwrap_or_else(|| object.namespace.clone());
        let kind = match (group.as_str(), kind_text.as_str()) {
            ("policy.linkerd.io", "MeshTLSAuthentication") => AuthenticationKind::MeshTls,
            ("policy.linkerd.io", "NetworkAuthentication") => AuthenticationKind::Network,
            ("" | "core", "ServiceAccount") => AuthenticationKind::ServiceAccount,
            _ => {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &join(&item_field, "kind"),
                    format!(
                        "`{}` of group `{}` is not an authentication: use MeshTLSAuthentication, NetworkAuthentication \
                         (group policy.linkerd.io) or ServiceAccount",
                        truncate(&kind_text),
                        truncate(&group)
                    ),
                );
                continue;
            }
        };
        if name.is_empty() {
            ctx.error(DiagnosticCode::MissingField, item.line, &join(&item_field, "name"), "a reference needs a name");
            continue;
        }
        policy.required.push(AuthenticationRef { kind, namespace, name, line: item.line });
    }
    let identities = policy.required.iter().filter(|r| r.kind != AuthenticationKind::Network).count();
    let networks = policy.required.iter().filter(|r| r.kind == AuthenticationKind::Network).count();
    if identities > 1 || networks > 1 {
        ctx.error(
            DiagnosticCode::InvalidValue,
            list.line,
            refs_field,
            "at most one MeshTLSAuthentication or ServiceAccount, and at most one NetworkAuthentication, may be required",
        );
    }
    policy
}

pub(crate) fn mesh_tls_authentication(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> MeshTlsAuthentication {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut authentication = MeshTlsAuthentication {
        namespace: object.namespace.clone(),
        name: object.name,
        clients: MeshTlsClients::default(),
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a MeshTLSAuthentication needs a spec");
        return authentication;
    };
    ctx.unknown_fields(spec, "spec", &["identities", "identityRefs"]);
    match (spec.get("identities"), spec.get("identityRefs")) {
        (Some(_), Some(_)) | (None, None) => ctx.error(
            DiagnosticCode::InvalidValue,
            spec.line,
            "spec",
            "a MeshTLSAuthentication sets exactly one of identities and identityRefs",
        ),
        _ => {}
    }
    authentication.clients.identities = identities(ctx, spec, "spec");
    if let Some(list) = spec.get("identityRefs") {
        for (index, item) in ctx.seq(list, "spec.identityRefs").iter().enumerate() {
            let item_field = format!("spec.identityRefs[{index}]");
            let Some(item) = ctx.map(item, &item_field) else { continue };
            ctx.unknown_fields(item, &item_field, &["group", "kind", "name", "namespace"]);
            let kind = item.get("kind").and_then(|k| ctx.string(k, &join(&item_field, "kind"))).unwrap_or_default();
            let name = item.get("name").and_then(|n| ctx.string(n, &join(&item_field, "name"))).unwrap_or_default();
            let namespace = item
                .get("namespace")
                .and_then(|n| ctx.string(n, &join(&item_field, "namespace")))
                .unwrap_or_else(|| object.namespace.clone());
            match kind.as_str() {
                "ServiceAccount" if !name.is_empty() => authentication.clients.service_accounts.push((namespace, name)),
                // `name: "*"` of kind Namespace means every namespace: every meshed identity.
                "Namespace" if name == "*" => authentication.clients.identities.push("*".into()),
                "Namespace" if !name.is_empty() => authentication.clients.namespaces.push(name),
                _ => ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &item_field,
                    "an identityRef names a ServiceAccount or a Namespace, by name",
                ),
            }
        }
    }
    authentication
}

pub(crate) fn network_authentication(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>) -> NetworkAuthentication {
    ctx.unknown_fields(root, "", TOP_FIELDS);
    let mut authentication = NetworkAuthentication {
        namespace: object.namespace,
        name: object.name,
        networks: Vec::new(),
        location: object.location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a NetworkAuthentication needs a spec");
        return authentication;
    };
    ctx.unknown_fields(spec, "spec", &["networks"]);
    match spec.get("networks") {
        Some(list) => {
            authentication.networks = networks(ctx, list, "spec.networks");
            if authentication.networks.is_empty() && !ctx.rejected {
                ctx.error(DiagnosticCode::InvalidValue, list.line, "spec.networks", "at least one network is required");
            }
        }
        None => ctx.error(
            DiagnosticCode::MissingField,
            spec.line,
            "spec.networks",
            "a NetworkAuthentication needs networks",
        ),
    }
    authentication
}

/// An HTTPRoute, when it attaches to a Linkerd Server; `None` (with a note) for a Gateway API route of an
/// ingress or other gateway, which decides nothing about inbound authorization.
pub(crate) fn http_route(ctx: &mut Ctx<'_>, root: &Node, object: Object<'_>, gateway_api: bool) -> Option<HttpRoute> {
    let spec = root.get("spec").and_then(|s| ctx.map(s, "spec"));
    let mut route = HttpRoute {
        namespace: object.namespace,
        name: object.name,
        servers: Vec::new(),
        hostnames: Vec::new(),
        matches: Vec::new(),
        location: object.location,
    };
    let Some(spec) = spec else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "an HTTPRoute needs a spec");
        return Some(route);
    };
    let mut other_parents = false;
    if let Some(list) = spec.get("parentRefs") {
        for (index, item) in ctx.seq(list, "spec.parentRefs").iter().enumerate() {
            let item_field = format!("spec.parentRefs[{index}]");
            let Some(item) = ctx.map(item, &item_field) else { continue };
            let group = item.get("group").and_then(Node::as_str).unwrap_or("gateway.networking.k8s.io");
            let kind = item.get("kind").and_then(Node::as_str).unwrap_or("Gateway");
            let name = item.get("name").and_then(|n| ctx.string(n, &join(&item_field, "name")));
            match (group, kind, name) {
                ("policy.linkerd.io", "Server", Some(name)) => route.servers.push(name),
                _ => other_parents = true,
            }
        }
    }
    if route.servers.is_empty() && (gateway_api || other_parents) {
        return None;
    }
    ctx.unknown_fields(root, "", TOP_FIELDS);
    for (text, _, _) in strings(ctx, spec, "hostnames", "spec") {
        route.hostnames.push(text.to_ascii_lowercase());
    }
    let rules = spec.get("rules").map(|r| ctx.seq(r, "spec.rules")).unwrap_or_default();
    if rules.is_empty() {
        // No rules: the route matches every request (`PathPrefix /`).
        route.matches.push(RouteMatch { path: None, method: None, headers: Vec::new(), line: spec.line });
    }
    for (index, rule) in rules.iter().enumerate() {
        let rule_field = format!("spec.rules[{index}]");
        let Some(rule) = ctx.map(rule, &rule_field) else { continue };
        let matches = rule.get("matches").map(|m| ctx.seq(m, &join(&rule_field, "matches"))).unwrap_or_default();
        if matches.is_empty() {
            route.matches.push(RouteMatch { path: None, method: None, headers: Vec::new(), line: rule.line });
        }
        for (m, item) in matches.iter().enumerate() {
            let match_field = format!("{rule_field}.matches[{m}]");
            if let Some(parsed) = route_match(ctx, item, &match_field) {
                route.matches.push(parsed);
            }
        }
    }
    Some(route)
}

fn route_match(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<RouteMatch> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["path", "headers", "queryParams", "method"]);
    let mut parsed = RouteMatch { path: None, method: None, headers: Vec::new(), line: node.line };
    if let Some(path) = node.get("path").and_then(|p| ctx.map(p, &join(field, "path"))) {
        let path_field = join(field, "path");
        ctx.unknown_fields(path, &path_field, &["type", "value"]);
        let kind = path.get("type").and_then(|t| ctx.string(t, &join(&path_field, "type")));
        let value =
            path.get("value").and_then(|v| ctx.string(v, &join(&path_field, "value"))).unwrap_or_else(|| "/".into());
        let kind = kind.unwrap_or_else(|| "PathPrefix".into());
        if kind != "RegularExpression" && !value.starts_with('/') {
            ctx.error(
                DiagnosticCode::InvalidValue,
                path.line,
                &join(&path_field, "value"),
                format!("`{}` must start with `/`", truncate(&value)),
            );
            return None;
        }
        parsed.path = Some(match kind.as_str() {
            "Exact" => PathMatch::Exact(value),
            "PathPrefix" => PathMatch::Prefix(value),
            "RegularExpression" => {
                if let Err(error) = regex::Regex::new(&value) {
                    warn(
                        ctx,
                        path.line,
                        &join(&path_field, "value"),
                        format!("not a regular expression Linkerd compiles ({error}); the policy controller ignores this route"),
                    );
                }
                PathMatch::Regex(value)
            }
            other => {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    path.line,
                    &join(&path_field, "type"),
                    format!(
                        "`{}` is not a path match type: use Exact, PathPrefix or RegularExpression",
                        truncate(other)
                    ),
                );
                return None;
            }
        });
    }
    if let Some(method) = node.get("method") {
        let method_field = join(field, "method");
        if let Some(text) = ctx.string(method, &method_field) {
            if !HTTP_METHODS.contains(&text.as_str()) {
                ctx.error(
                    DiagnosticCode::InvalidValue,
                    method.line,
                    &method_field,
                    format!("`{}` is not one of {}", truncate(&text), HTTP_METHODS.join(", ")),
                );
                return None;
            }
            parsed.method = Some(text);
        }
    }
    if let Some(list) = node.get("headers") {
        let headers_field = join(field, "headers");
        for (index, header) in ctx.seq(list, &headers_field).iter().enumerate() {
            let header_field = format!("{headers_field}[{index}]");
            let Some(header) = ctx.map(header, &header_field) else { continue };
            ctx.unknown_fields(header, &header_field, &["type", "name", "value"]);
            let kind = header.get("type").and_then(|t| ctx.string(t, &join(&header_field, "type")));
            let name = header.get("name").and_then(|n| ctx.string(n, &join(&header_field, "name")));
            let value = header.get("value").and_then(|v| ctx.string(v, &join(&header_field, "value")));
            let (Some(name), Some(value)) = (name, value) else {
                ctx.error(
                    DiagnosticCode::MissingField,
                    header.line,
                    &header_field,
                    "a header match needs a name and a value",
                );
                continue;
            };
            let regex = match kind.as_deref() {
                None | Some("Exact") => false,
                Some("RegularExpression") => true,
                Some(other) => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        header.line,
                        &join(&header_field, "type"),
                        format!("`{}` is not a header match type: use Exact or RegularExpression", truncate(other)),
                    );
                    continue;
                }
            };
            parsed.headers.push(HeaderMatch { name: name.to_ascii_lowercase(), value, regex });
        }
    }
    Some(parsed)
}

/// One CIDR of linkerd-config's comma-separated `clusterNetworks`.
pub(crate) fn parse_cidr(text: &str) -> Option<Cidr> {
    Cidr::from_str(text.trim()).ok()
}
