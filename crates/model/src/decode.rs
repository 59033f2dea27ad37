//! Decodes document trees into the narrow structs, validating the way the API server does.
//!
//! An object that the API server would reject yields an error diagnostic and no struct. An object that it would
//! accept with warnings (unknown fields) yields the struct as the server would store it, plus a warning.

use crate::cidr::Cidr;
use crate::diag::{Diagnostic, DiagnosticCode, ObjectRef, Severity};
use crate::intern::intern;
use crate::kube::*;
use crate::selector::{LabelSelector, Labels, Operator, Requirement};
use crate::yaml::{Node, Value};
use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

mod admin;
mod calico;
mod cilium;
mod config;
pub(crate) mod mesh;
pub(crate) mod unread;
pub(crate) use admin::admin_policy;
pub(crate) use calico::{calico_policy, calico_tier, host_endpoint, network_set, staged_kubernetes_policy};
pub(crate) use cilium::{cilium_config, cilium_policy};
pub(crate) use config::{config_map, keep_within_budget, secret};

/// Where a value sits in its object (`spec.containers[0].ports[1].name`), spelled out only when a diagnostic names
/// it: a dump's pods are walked field by field hundreds of thousands of times, and almost never reported on.
pub(crate) trait Field {
    fn spell(&self) -> Cow<'_, str>;
}

impl Field for str {
    fn spell(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// A `&str` is sized, so it can stand for `&dyn Field` (as `&"spec.containers"`).
impl Field for &str {
    fn spell(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Field for String {
    fn spell(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// `parent.key`.
pub(crate) struct Key<'a>(pub &'a dyn Field, pub &'a str);

/// `parent[index]`.
pub(crate) struct Index<'a>(pub &'a dyn Field, pub usize);

impl Field for Key<'_> {
    fn spell(&self) -> Cow<'_, str> {
        Cow::Owned(join(&self.0.spell(), self.1))
    }
}

impl Field for Index<'_> {
    fn spell(&self) -> Cow<'_, str> {
        Cow::Owned(format!("{}[{}]", self.0.spell(), self.1))
    }
}

/// Collects the diagnostics of one object and remembers whether it must be left out.
pub(crate) struct Ctx<'a> {
    file: &'a Arc<str>,
    object: Option<ObjectRef>,
    pub diagnostics: Vec<Diagnostic>,
    pub rejected: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Arc<str>, object: Option<ObjectRef>) -> Self {
        Ctx { file, object, diagnostics: Vec::new(), rejected: false }
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        code: DiagnosticCode,
        line: u32,
        field: &(impl Field + ?Sized),
        message: String,
    ) {
        if severity == Severity::Error {
            self.rejected = true;
        }
        self.diagnostics.push(Diagnostic {
            severity,
            code,
            file: self.file.clone(),
            line: Some(line),
            object: self.object.clone(),
            field: Some(field.spell().into_owned()).filter(|field| !field.is_empty()),
            message,
            hint: None,
        });
    }

    pub fn error(
        &mut self,
        code: DiagnosticCode,
        line: u32,
        field: &(impl Field + ?Sized),
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, code, line, field, message.into());
    }

    /// How many errors so far: a part whose decoding added none was read whole.
    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    fn wrong_type(&mut self, node: &Node, field: &(impl Field + ?Sized), expected: &str) {
        let found = match &node.value {
            Value::Bool(b) => {
                format!("boolean `{b}` (YAML reads unquoted yes/no/on/off/true/false as booleans; quote it)")
            }
            Value::Int(i) => format!("integer `{i}`"),
            Value::Str(s) => format!("string `{}`", truncate(s)),
            _ => node.type_name().to_string(),
        };
        self.error(DiagnosticCode::WrongType, node.line, field, format!("expected {expected}, found {found}"));
    }

    /// Warns about keys the API server does not know, with a "did you mean" hint.
    fn unknown_fields(&mut self, node: &Node, path: &str, known: &[&str]) {
        let Value::Map(entries) = &node.value else { return };
        for (key, value) in entries {
            if known.contains(&key.as_str()) {
                continue;
            }
            let field = join(path, key);
            self.push(
                Severity::Warning,
                DiagnosticCode::UnknownField,
                value.line,
                &field,
                "unknown field: the API server drops it (with a warning) and stores the object without it".into(),
            );
            if let Some(hint) = did_you_mean(path, key, known) {
                if let Some(last) = self.diagnostics.last_mut() {
                    last.hint = Some(hint);
                }
            }
        }
    }

    fn map<'n>(&mut self, node: &'n Node, field: &(impl Field + ?Sized)) -> Option<&'n Node> {
        match node.value {
            Value::Map(_) => Some(node),
            Value::Null => None,
            _ => {
                self.wrong_type(node, field, "a mapping");
                None
            }
        }
    }

    fn seq<'n>(&mut self, node: &'n Node, field: &(impl Field + ?Sized)) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.wrong_type(node, field, "a list");
                &[]
            }
        }
    }

    fn string(&mut self, node: &Node, field: &(impl Field + ?Sized)) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                self.wrong_type(node, field, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, field: &(impl Field + ?Sized)) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            _ => {
                self.wrong_type(node, field, "true or false");
                None
            }
        }
    }

    fn port_number(&mut self, node: &Node, field: &(impl Field + ?Sized)) -> Option<u16> {
        match node.value {
            Value::Int(n) => match u16::try_from(n) {
                Ok(port) if port >= 1 => Some(port),
                _ => {
                    self.error(DiagnosticCode::InvalidValue, node.line, field, format!("port {n} is outside 1-65535"));
                    None
                }
            },
            Value::Null => None,
            _ => {
                self.wrong_type(node, field, "a port number");
                None
            }
        }
    }

    fn protocol(&mut self, node: Option<&Node>, field: &(impl Field + ?Sized)) -> Protocol {
        let Some(node) = node else { return Protocol::Tcp };
        match self.string(node, field) {
            None => Protocol::Tcp,
            Some(text) => Protocol::from_api(&text).unwrap_or_else(|| {
                self.error(
                    DiagnosticCode::InvalidValue,
                    node.line,
                    field,
                    format!("protocol `{text}` is not one of TCP, UDP, SCTP (case matters)"),
                );
                Protocol::Tcp
            }),
        }
    }

    fn labels(&mut self, node: Option<&Node>, field: &(impl Field + ?Sized)) -> Labels {
        let Some(node) = node.and_then(|n| self.map(n, field)) else { return Labels::new() };
        let Value::Map(entries) = &node.value else { return Labels::new() };
        let mut labels = Labels::with_capacity(entries.len());
        for (key, value) in entries {
            // The field's path is only spelled out for a diagnostic: most maps have none.
            if let Err(why) = validate_label_key(key) {
                self.error(
                    DiagnosticCode::InvalidValue,
                    value.line,
                    &join(&field.spell(), key),
                    format!("invalid label key `{key}`: {why}"),
                );
            }
            let text = match &value.value {
                Value::Str(s) => s.as_str(),
                Value::Null => "",
                _ => {
                    self.wrong_type(value, &join(&field.spell(), key), "a string label value");
                    continue;
                }
            };
            if let Err(why) = validate_label_value(text) {
                self.error(
                    DiagnosticCode::InvalidValue,
                    value.line,
                    &join(&field.spell(), key),
                    format!("invalid label value `{}`: {why}", truncate(text)),
                );
            }
            labels.insert(intern(key), intern(text));
        }
        labels
    }

    pub fn selector(&mut self, node: &Node, field: &str) -> LabelSelector {
        let mut selector = LabelSelector::default();
        let Some(node) = self.map(node, field) else { return selector };
        self.unknown_fields(node, field, &["matchLabels", "matchExpressions"]);
        selector.match_labels = self.labels(node.get("matchLabels"), &join(field, "matchLabels"));
        let expressions_field = join(field, "matchExpressions");
        if let Some(expressions) = node.get("matchExpressions") {
            for (index, item) in self.seq(expressions, &expressions_field).iter().enumerate() {
                let path = format!("{expressions_field}[{index}]");
                if let Some(requirement) = self.requirement(item, &path) {
                    selector.match_expressions.push(requirement);
                }
            }
        }
        selector
    }

    fn requirement(&mut self, node: &Node, field: &str) -> Option<Requirement> {
        let node = self.map(node, field)?;
        self.unknown_fields(node, field, &["key", "operator", "values"]);
        let key = node.get("key").and_then(|k| self.string(k, &join(field, "key")));
        let Some(key) = key else {
            self.error(
                DiagnosticCode::MissingField,
                node.line,
                &join(field, "key"),
                "a selector requirement needs a key",
            );
            return None;
        };
        if let Err(why) = validate_label_key(&key) {
            self.error(
                DiagnosticCode::InvalidValue,
                node.line,
                &join(field, "key"),
                format!("invalid label key `{key}`: {why}"),
            );
        }
        let operator_node = node.get("operator");
        let operator_text = operator_node.and_then(|o| self.string(o, &join(field, "operator")));
        let line = operator_node.map_or(node.line, |o| o.line);
        let operator = match operator_text.as_deref() {
            Some("In") => Operator::In,
            Some("NotIn") => Operator::NotIn,
            Some("Exists") => Operator::Exists,
            Some("DoesNotExist") => Operator::DoesNotExist,
            Some(other) => {
                let hint = ["In", "NotIn", "Exists", "DoesNotExist"]
                    .iter()
                    .find(|op| op.eq_ignore_ascii_case(other))
                    .map(|op| format!(" (did you mean `{op}`? operators are case-sensitive)"))
                    .unwrap_or_default();
                self.error(
                    DiagnosticCode::InvalidValue,
                    line,
                    &join(field, "operator"),
                    format!("`{other}` is not a valid operator: use In, NotIn, Exists or DoesNotExist{hint}"),
                );
                return None;
            }
            None => {
                self.error(
                    DiagnosticCode::MissingField,
                    line,
                    &join(field, "operator"),
                    "a selector requirement needs an operator",
                );
                return None;
            }
        };
        let values_field = join(field, "values");
        let mut values = Vec::new();
        if let Some(list) = node.get("values") {
            for (index, item) in self.seq(list, &values_field).iter().enumerate() {
                let path = format!("{values_field}[{index}]");
                if let Some(value) = self.string(item, &path) {
                    if let Err(why) = validate_label_value(&value) {
                        self.error(
                            DiagnosticCode::InvalidValue,
                            item.line,
                            &path,
                            format!("invalid label value `{}`: {why}", truncate(&value)),
                        );
                    }
                    values.push(value);
                }
            }
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => self.error(
                DiagnosticCode::InvalidValue,
                line,
                &values_field,
                format!("operator {operator:?} needs at least one value"),
            ),
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => self.error(
                DiagnosticCode::InvalidValue,
                line,
                &values_field,
                format!("operator {operator:?} takes no values"),
            ),
            _ => {}
        }
        Some(Requirement { key, operator, values })
    }

    fn cidr(&mut self, node: &Node, field: &str) -> Option<Cidr> {
        let text = self.string(node, field)?;
        match Cidr::from_str(text.trim()) {
            Ok(cidr) => Some(cidr),
            Err(error) => {
                self.error(DiagnosticCode::InvalidValue, node.line, field, error.to_string());
                None
            }
        }
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= 64 {
        text.to_string()
    } else {
        let head: String = text.chars().take(61).collect();
        format!("{head}...")
    }
}

/// Known misplacements first (the mis-indented selector of the OWASP Kubernetes Top Ten K07:2022 example), then
/// close spellings.
fn did_you_mean(path: &str, key: &str, known: &[&str]) -> Option<String> {
    let parent = path.rsplit('.').next().unwrap_or(path);
    let misplaced = match (parent, key) {
        ("spec", "matchLabels" | "matchExpressions") => Some(format!("spec.podSelector.{key}")),
        ("spec", "from" | "to" | "ports") => {
            Some(format!("spec.{}[0].{key}", if key == "to" { "egress" } else { "ingress" }))
        }
        (_, "matchLabels" | "matchExpressions") if known.contains(&"podSelector") => {
            Some(format!("{path}.podSelector.{key}"))
        }
        (_, "podSelector" | "namespaceSelector" | "ipBlock") if known.contains(&"from") => {
            Some(format!("{path}.from[0].{key}"))
        }
        (_, "podSelector" | "namespaceSelector" | "ipBlock") if known.contains(&"to") => {
            Some(format!("{path}.to[0].{key}"))
        }
        _ => None,
    };
    if let Some(place) = misplaced {
        return Some(format!(
            "did you mean `{place}`? As written, `{key}` is ignored and the object behaves as if it were absent"
        ));
    }
    known
        .iter()
        .find(|candidate| candidate.eq_ignore_ascii_case(key) || edit_distance(candidate, key) <= 2)
        .map(|candidate| format!("did you mean `{}`?", join(path, candidate)))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A qualified label key: an optional DNS-subdomain prefix and a `/`, then a name of at most 63 characters.
fn validate_label_key(key: &str) -> Result<(), &'static str> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 {
                return Err("the prefix must be a DNS subdomain of 1-253 characters");
            }
            let valid_prefix = prefix.split('.').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
            if !valid_prefix {
                return Err("the prefix must be a lowercase DNS subdomain");
            }
            name
        }
        None => key,
    };
    if name.is_empty() || name.len() > 63 {
        return Err("the name part must be 1-63 characters");
    }
    validate_label_value(name)
}

fn validate_label_value(value: &str) -> Result<(), &'static str> {
    if value.len() > 63 {
        return Err("label values are at most 63 characters");
    }
    if value.is_empty() {
        return Ok(());
    }
    let first_last_alnum =
        value.starts_with(|c: char| c.is_ascii_alphanumeric()) && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !first_last_alnum || !value.chars().all(is_name_char) {
        return Err("use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit");
    }
    Ok(())
}

/// The API server's limit on all of an object's annotations together (keys and values), in bytes.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// Annotations are a map of strings, at most 256 KiB together, as the API server validates them.
fn annotations_within_limit(ctx: &mut Ctx<'_>, annotations: &Node) {
    let Some(map) = ctx.map(annotations, "metadata.annotations") else { return };
    let Value::Map(entries) = &map.value else { return };
    let mut total = 0usize;
    for (key, value) in entries {
        total += key.len();
        match &value.value {
            Value::Str(text) => total += text.len(),
            Value::Null => {}
            _ => ctx.wrong_type(value, &join("metadata.annotations", key), "a string annotation value"),
        }
    }
    if total > MAX_ANNOTATION_BYTES {
        let message =
            format!("annotations total {total} bytes; the API server allows at most {MAX_ANNOTATION_BYTES} (256 KiB)");
        ctx.error(DiagnosticCode::InvalidValue, annotations.line, "metadata.annotations", message);
    }
}

/// Names as the API server validates them: Namespaces are DNS labels, Services DNS-1035 labels, everything else
/// netseg reads a DNS subdomain.
fn validate_object_name(kind: &str, name: &str) -> Result<(), &'static str> {
    match kind {
        "Namespace" => validate_dns_label(name),
        "Service" => {
            validate_dns_label(name)?;
            if name.starts_with(|c: char| c.is_ascii_digit()) {
                return Err("a Service name must start with a letter");
            }
            Ok(())
        }
        _ => {
            if name.len() > 253 {
                return Err("names are at most 253 characters");
            }
            if name.split('.').all(|part| validate_dns_label(part).is_ok()) {
                Ok(())
            } else {
                Err("use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit")
            }
        }
    }
}

/// An RFC 1123 label: 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit.
fn validate_dns_label(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 63 {
        return Err("must be 1-63 characters");
    }
    let valid = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err("use lowercase letters, digits and `-`, starting and ending with a letter or digit")
    }
}

/// An IANA service name, as named ports must be: 1-15 lowercase letters, digits and `-`, with a letter.
fn validate_port_name(name: &str) -> Result<(), &'static str> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err("a port name must be 1-15 lowercase letters, digits and single dashes, with at least one letter")
    }
}

/// `metadata.name`, `metadata.namespace`, labels and the controller owner of any object.
pub(crate) struct Metadata {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: Labels,
    /// The annotations the meshes read; see [`crate::mesh::is_mesh_annotation`].
    pub annotations: Labels,
    pub owner: Option<Owner>,
    pub ignore: Suppression,
}

pub(crate) fn metadata(ctx: &mut Ctx<'_>, root: &Node) -> Option<Metadata> {
    let Some(meta) = root.get("metadata").and_then(|m| ctx.map(m, "metadata")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "metadata", "the object has no metadata");
        return None;
    };
    let name = meta.get("name").and_then(|n| ctx.string(n, "metadata.name"));
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        ctx.error(DiagnosticCode::MissingField, meta.line, "metadata.name", "the object has no name");
        return None;
    };
    let name_node = meta.get("name").map_or(meta.line, |n| n.line);
    let kind = root.get("kind").and_then(Node::as_str).unwrap_or("");
    if let Err(why) = validate_object_name(kind, &name) {
        ctx.error(
            DiagnosticCode::InvalidValue,
            name_node,
            "metadata.name",
            format!("invalid name `{}`: {why}", truncate(&name)),
        );
    }
    let namespace = meta.get("namespace").and_then(|n| ctx.string(n, "metadata.namespace")).filter(|n| !n.is_empty());
    if let Some(namespace) = &namespace {
        if let Err(why) = validate_dns_label(namespace) {
            let line = meta.get("namespace").map_or(meta.line, |n| n.line);
            let message = format!("invalid namespace `{}`: {why}", truncate(namespace));
            ctx.error(DiagnosticCode::InvalidValue, line, "metadata.namespace", message);
        }
    }
    if let Some(annotations) = meta.get("annotations") {
        annotations_within_limit(ctx, annotations);
    }
    let labels = ctx.labels(meta.get("labels"), "metadata.labels");
    let mut owner = None;
    if let Some(refs) = meta.get("ownerReferences") {
        for (index, item) in ctx.seq(refs, "metadata.ownerReferences").iter().enumerate() {
            let path = format!("metadata.ownerReferences[{index}]");
            let controller = item.get("controller").and_then(|c| ctx.boolean(c, &join(&path, "controller")));
            if controller != Some(true) {
                continue;
            }
            let kind = item.get("kind").and_then(|k| ctx.string(k, &join(&path, "kind")));
            let owner_name = item.get("name").and_then(|n| ctx.string(n, &join(&path, "name")));
            if let (Some(kind), Some(name)) = (kind, owner_name) {
                owner = Some(Owner { kind, name });
            }
        }
    }
    let annotations =
        meta.get("annotations").map(|a| mesh_annotations(ctx, a, &"metadata.annotations")).unwrap_or_default();
    let mut ignore = Suppression::default();
    if let Some(annotations) = meta.get("annotations") {
        let annotation = |key: &str| annotations.get(key).and_then(Node::as_str);
        if let Some(list) = annotation(Suppression::ANNOTATION) {
            ignore.rules = list.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).collect();
        }
        ignore.reason = annotation(Suppression::REASON_ANNOTATION).map(str::to_string);
    }
    Some(Metadata { name, namespace, labels, annotations, owner, ignore })
}

/// The annotations the meshes read, with a warning for a port list their injectors would not understand.
fn mesh_annotations(ctx: &mut Ctx<'_>, node: &Node, field: &dyn Field) -> Labels {
    let mut kept = Labels::new();
    let Value::Map(entries) = &node.value else { return kept };
    for (key, value) in entries {
        if !crate::mesh::is_mesh_annotation(key) {
            continue;
        }
        let Some(text) = value.as_str() else { continue };
        if PORT_LIST_ANNOTATIONS.contains(&key.as_str()) && !(key.ends_with("includeInboundPorts") && text == "*") {
            if let Err(why) = crate::mesh::parse_port_list(text) {
                ctx.push(
                    Severity::Warning,
                    DiagnosticCode::InvalidValue,
                    value.line,
                    &Key(field, key),
                    format!("{why}: the mesh's injector refuses this value; netseg reads it as no port"),
                );
            }
        }
        kept.insert(intern(key), intern(text));
    }
    kept
}

/// Annotations holding port lists that decide which inbound ports bypass a mesh proxy.
const PORT_LIST_ANNOTATIONS: &[&str] = &[
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "config.linkerd.io/skip-inbound-ports",
    "consul.hashicorp.com/transparent-proxy-exclude-inbound-ports",
];

pub(crate) fn service_endpoints(
    ctx: &mut Ctx<'_>,
    root: &Node,
    kind: &str,
    meta: &Metadata,
    namespace: String,
    location: Location,
) -> ServiceEndpoints {
    let mut endpoints =
        ServiceEndpoints { namespace, service: meta.name.clone(), addresses: Vec::new(), ports: Vec::new(), location };
    let mut address_nodes: Vec<(&Node, String)> = Vec::new();
    let mut port_nodes: Vec<(&Node, String)> = Vec::new();
    if kind == "EndpointSlice" {
        if let Some(service) = meta.labels.get("kubernetes.io/service-name") {
            endpoints.service = service.to_string();
        }
        if let Some(list) = root.get("endpoints") {
            for (i, endpoint) in ctx.seq(list, "endpoints").iter().enumerate() {
                if let Some(addresses) = endpoint.get("addresses") {
                    let field = format!("endpoints[{i}].addresses");
                    address_nodes.extend(ctx.seq(addresses, &field).iter().map(|a| (a, field.clone())));
                }
            }
        }
        if let Some(list) = root.get("ports") {
            port_nodes.extend(ctx.seq(list, "ports").iter().map(|p| (p, "ports".to_string())));
        }
    } else if let Some(subsets) = root.get("subsets") {
        for (i, subset) in ctx.seq(subsets, "subsets").iter().enumerate() {
            if let Some(addresses) = subset.get("addresses") {
                let field = format!("subsets[{i}].addresses");
                for address in ctx.seq(addresses, &field) {
                    if let Some(ip) = address.get("ip") {
                        address_nodes.push((ip, field.clone()));
                    }
                }
            }
            if let Some(ports) = subset.get("ports") {
                let field = format!("subsets[{i}].ports");
                port_nodes.extend(ctx.seq(ports, &field).iter().map(|p| (p, field.clone())));
            }
        }
    }
    for (node, field) in address_nodes {
        if let Some(text) = ctx.string(node, &field) {
            match IpAddr::from_str(&text) {
                Ok(ip) => endpoints.addresses.push(ip),
                Err(_) => {
                    ctx.error(DiagnosticCode::InvalidValue, node.line, &field, format!("`{text}` is not an IP address"))
                }
            }
        }
    }
    for (node, field) in port_nodes {
        let protocol = ctx.protocol(node.get("protocol"), &join(&field, "protocol"));
        if let Some(port) = node.get("port").and_then(|p| ctx.port_number(p, &join(&field, "port"))) {
            endpoints.ports.push((protocol, port));
        }
    }
    endpoints
}

pub(crate) fn ingress(ctx: &mut Ctx<'_>, root: &Node, namespace: String, name: String, location: Location) -> Ingress {
    let mut backends = Vec::new();
    let spec = root.get("spec");
    let backend_of = |backend: Option<&Node>| {
        let service = backend.and_then(|b| b.get("service"))?;
        let name = service.get("name").and_then(Node::as_str)?.to_string();
        let port = service.get("port").and_then(|p| match (p.get("number").map(|n| &n.value), p.get("name")) {
            (Some(Value::Int(n)), _) => u16::try_from(*n).ok().map(PortRef::Number),
            (_, Some(name)) => name.as_str().map(|n| PortRef::Name(n.to_string())),
            _ => None,
        });
        Some(IngressBackend { service: name, port })
    };
    backends.extend(backend_of(spec.and_then(|s| s.get("defaultBackend"))));
    if let Some(rules) = spec.and_then(|s| s.get("rules")) {
        for rule in ctx.seq(rules, "spec.rules") {
            let Some(paths) = rule.get("http").and_then(|h| h.get("paths")) else { continue };
            for path in ctx.seq(paths, "spec.rules[].http.paths") {
                backends.extend(backend_of(path.get("backend")));
            }
        }
    }
    backends.sort();
    backends.dedup();
    let mut backend_services: Vec<String> = backends.iter().map(|b| b.service.clone()).collect();
    backend_services.dedup();
    Ingress { namespace, name, backend_services, backends, location }
}

pub(crate) fn cluster_node(
    ctx: &mut Ctx<'_>,
    root: &Node,
    name: String,
    labels: Labels,
    location: Location,
) -> ClusterNode {
    let mut addresses = Vec::new();
    let mut pod_cidrs = Vec::new();
    if let Some(list) = root.get("status").and_then(|s| s.get("addresses")) {
        for (index, item) in ctx.seq(list, "status.addresses").iter().enumerate() {
            let path = format!("status.addresses[{index}].address");
            let kind = item.get("type").and_then(Node::as_str);
            if !matches!(kind, Some("InternalIP" | "ExternalIP")) {
                continue;
            }
            if let Some(text) = item.get("address").and_then(|a| ctx.string(a, &path)) {
                match IpAddr::from_str(&text) {
                    Ok(addr) => addresses.push(addr),
                    Err(_) => ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &path,
                        format!("`{text}` is not an IP address"),
                    ),
                }
            }
        }
    }
    let spec = root.get("spec");
    let mut cidr_texts: Vec<&Node> = Vec::new();
    if let Some(list) = spec.and_then(|s| s.get("podCIDRs")) {
        cidr_texts.extend(ctx.seq(list, "spec.podCIDRs"));
    } else if let Some(single) = spec.and_then(|s| s.get("podCIDR")) {
        cidr_texts.push(single);
    }
    for node in cidr_texts {
        if let Some(cidr) = ctx.cidr(node, "spec.podCIDRs") {
            pod_cidrs.push(cidr);
        }
    }
    ClusterNode { name, labels, addresses, pod_cidrs, location }
}

/// Where the pod spec sits in each workload kind.
pub(crate) fn pod_spec_path(kind: WorkloadKind) -> &'static [&'static str] {
    match kind {
        WorkloadKind::Pod => &["spec"],
        WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    }
}

pub(crate) fn pod_facts(
    ctx: &mut Ctx<'_>,
    root: &Node,
    kind: WorkloadKind,
    own_labels: Labels,
    own_annotations: Labels,
) -> PodFacts {
    let path_parts = pod_spec_path(kind);
    // The same path spelled out, for diagnostics.
    let (template_field, spec_field) = match kind {
        WorkloadKind::Pod => ("", "spec"),
        WorkloadKind::CronJob => ("spec.jobTemplate.spec.template", "spec.jobTemplate.spec.template.spec"),
        _ => ("spec.template", "spec.template.spec"),
    };
    let (labels, annotations) = if kind == WorkloadKind::Pod {
        (own_labels, own_annotations)
    } else {
        let template_path = &path_parts[..path_parts.len() - 1];
        let template_meta = walk(root, template_path).and_then(|t| t.get("metadata"));
        let labels = ctx.labels(template_meta.and_then(|m| m.get("labels")), &Key(&template_field, "metadata.labels"));
        let field = Key(&template_field, "metadata.annotations");
        let annotations = template_meta
            .and_then(|m| m.get("annotations"))
            .map(|a| mesh_annotations(ctx, a, &field))
            .unwrap_or_default();
        (labels, annotations)
    };
    let spec = walk(root, path_parts);
    let ips = if kind == WorkloadKind::Pod { pod_ips(ctx, root) } else { Vec::new() };
    let mut facts = PodFacts {
        labels,
        annotations,
        host_network: false,
        ports: Vec::new(),
        ips,
        images: Vec::new(),
        references: Vec::new(),
        config_refs: Vec::new(),
        service_account: None,
        automount_token: None,
        node_name: None,
    };
    let Some(spec) = spec.and_then(|s| ctx.map(s, spec_field)) else { return facts };
    facts.config_refs = config::pod_config_refs(spec);
    facts.node_name = spec.get("nodeName").and_then(|n| ctx.string(n, &Key(&spec_field, "nodeName")));
    if let Some(flag) = spec.get("hostNetwork") {
        facts.host_network = ctx.boolean(flag, &Key(&spec_field, "hostNetwork")).unwrap_or(false);
    }
    facts.service_account = ["serviceAccountName", "serviceAccount"]
        .iter()
        .find_map(|key| spec.get(key).and_then(Node::as_str).filter(|a| !a.is_empty()))
        .map(str::to_string);
    if let Some(flag) = spec.get("automountServiceAccountToken") {
        facts.automount_token = ctx.boolean(flag, &Key(&spec_field, "automountServiceAccountToken"));
    }
    for list_name in ["containers", "initContainers"] {
        let list_field = Key(&spec_field, list_name);
        let Some(list) = spec.get(list_name) else { continue };
        for (index, container) in ctx.seq(list, &list_field).iter().enumerate() {
            let container_field = Index(&list_field, index);
            if let Some(image) = container.get("image").and_then(Node::as_str) {
                facts.images.push(intern(image));
            }
            facts.references.extend(container_references(container));
            let Some(ports) = container.get("ports") else { continue };
            let ports_field = Key(&container_field, "ports");
            for (port_index, port) in ctx.seq(ports, &ports_field).iter().enumerate() {
                if let Some(parsed) = container_port(ctx, port, &Index(&ports_field, port_index)) {
                    facts.ports.push(parsed);
                }
            }
        }
    }
    facts
}

/// The literal strings where a container names what it talks to. Wrong types here are the API server's business
/// and change no connectivity, so they are skipped rather than reported.
fn container_references(container: &Node) -> Vec<TextReference> {
    let name = intern(container.get("name").and_then(Node::as_str).unwrap_or("?"));
    let mut references = Vec::new();
    let mut push = |source: &str, node: &Node| {
        if let Some(text) = node.as_str() {
            let (container, source, text) = (name.clone(), intern(source), intern(text));
            references.push(TextReference { container, source, text, line: node.line });
        }
    };
    if let Some(Value::Seq(env)) = container.get("env").map(|e| &e.value) {
        for variable in env {
            if let (Some(key), Some(value)) = (variable.get("name").and_then(Node::as_str), variable.get("value")) {
                push(&format!("env {key}"), value);
            }
        }
    }
    for list in ["command", "args"] {
        if let Some(Value::Seq(items)) = container.get(list).map(|l| &l.value) {
            for (index, item) in items.iter().enumerate() {
                push(&format!("{list}[{index}]"), item);
            }
        }
    }
    references
}

/// `spec.selector` of a controller: a label selector, or a plain map for a ReplicationController. Jobs and
/// CronJobs are left out: the API server generates their selectors from a uid no manifest knows.
pub(crate) fn workload_selector(ctx: &mut Ctx<'_>, root: &Node, kind: WorkloadKind) -> Option<LabelSelector> {
    let node = root.get("spec").and_then(|s| s.get("selector"))?;
    match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet | WorkloadKind::ReplicaSet => {
            let selector = ctx.selector(node, "spec.selector");
            (!selector.is_empty()).then_some(selector)
        }
        WorkloadKind::ReplicationController => {
            let labels = ctx.labels(Some(node), "spec.selector");
            (!labels.is_empty()).then(|| LabelSelector { match_labels: labels, ..LabelSelector::default() })
        }
        WorkloadKind::Job | WorkloadKind::CronJob | WorkloadKind::Pod => None,
    }
}

fn container_port(ctx: &mut Ctx<'_>, node: &Node, field: &dyn Field) -> Option<ContainerPort> {
    let node = ctx.map(node, field)?;
    let port_field = Key(field, "containerPort");
    let Some(port) = node.get("containerPort").and_then(|p| ctx.port_number(p, &port_field)) else {
        if node.get("containerPort").is_none() {
            ctx.error(DiagnosticCode::MissingField, node.line, &port_field, "a container port needs containerPort");
        }
        return None;
    };
    let name = node.get("name").and_then(|n| ctx.string(n, &Key(field, "name")));
    if let Some(name) = &name {
        if let Err(why) = validate_port_name(name) {
            ctx.error(DiagnosticCode::InvalidValue, node.line, &Key(field, "name"), format!("`{name}`: {why}"));
        }
    }
    let protocol = ctx.protocol(node.get("protocol"), &Key(field, "protocol"));
    let host_port = node.get("hostPort").and_then(|p| ctx.port_number(p, &Key(field, "hostPort")));
    Some(ContainerPort { name, port, protocol, host_port })
}

fn pod_ips(ctx: &mut Ctx<'_>, root: &Node) -> Vec<IpAddr> {
    let Some(status) = root.get("status") else { return Vec::new() };
    // Each address with its line and, for an item of `podIPs`, its index there.
    let mut texts: Vec<(String, u32, Option<usize>)> = Vec::new();
    if let Some(list) = status.get("podIPs") {
        for (index, item) in ctx.seq(list, "status.podIPs").iter().enumerate() {
            if let Some(ip) = item.get("ip").and_then(|n| ctx.string(n, &Key(&Index(&"status.podIPs", index), "ip"))) {
                texts.push((ip, item.line, Some(index)));
            }
        }
    }
    if texts.is_empty() {
        if let Some(node) = status.get("podIP") {
            if let Some(ip) = ctx.string(node, "status.podIP") {
                texts.push((ip, node.line, None));
            }
        }
    }
    let mut ips = Vec::new();
    for (text, line, index) in texts {
        match IpAddr::from_str(&text) {
            Ok(ip) => ips.push(ip),
            Err(_) => {
                let message = format!("`{text}` is not an IP address");
                match index {
                    Some(index) => ctx.error(
                        DiagnosticCode::InvalidValue,
                        line,
                        &Key(&Index(&"status.podIPs", index), "ip"),
                        message,
                    ),
                    None => ctx.error(DiagnosticCode::InvalidValue, line, "status.podIP", message),
                }
            }
        }
    }
    ips
}

fn walk<'n>(root: &'n Node, path: &[&str]) -> Option<&'n Node> {
    path.iter().try_fold(root, |node, key| node.get(key))
}

pub(crate) fn service(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: String,
    name: String,
    ignore: Suppression,
    location: Location,
) -> Service {
    let spec = root.get("spec").and_then(|s| ctx.map(s, "spec"));
    let mut service = Service {
        namespace,
        name,
        service_type: "ClusterIP".into(),
        selector: None,
        ports: Vec::new(),
        cluster_ips: Vec::new(),
        headless: false,
        ignore,
        location,
    };
    let Some(spec) = spec else { return service };
    if let Some(kind) = spec.get("type").and_then(|t| ctx.string(t, "spec.type")) {
        service.service_type = kind;
    }
    if let Some(selector) = spec.get("selector") {
        let labels = ctx.labels(Some(selector), "spec.selector");
        service.selector = (!labels.is_empty()).then_some(labels);
    }
    if let Some(ports) = spec.get("ports") {
        for (index, port) in ctx.seq(ports, "spec.ports").iter().enumerate() {
            let field = format!("spec.ports[{index}]");
            let Some(port) = ctx.map(port, &field) else { continue };
            let Some(number) = port.get("port").and_then(|p| ctx.port_number(p, &join(&field, "port"))) else {
                continue;
            };
            let target_port = port.get("targetPort").and_then(|t| match &t.value {
                Value::Int(_) => ctx.port_number(t, &join(&field, "targetPort")).map(PortRef::Number),
                Value::Str(s) => Some(PortRef::Name(s.clone())),
                _ => None,
            });
            service.ports.push(ServicePort {
                name: port.get("name").and_then(Node::as_str).map(str::to_string),
                port: number,
                protocol: ctx.protocol(port.get("protocol"), &join(&field, "protocol")),
                target_port,
                node_port: port.get("nodePort").and_then(|p| ctx.port_number(p, &join(&field, "nodePort"))),
                app_protocol: port.get("appProtocol").and_then(Node::as_str).map(str::to_string),
            });
        }
    }
    let mut ip_nodes: Vec<&Node> = Vec::new();
    if let Some(list) = spec.get("clusterIPs") {
        ip_nodes.extend(ctx.seq(list, "spec.clusterIPs"));
    } else if let Some(single) = spec.get("clusterIP") {
        ip_nodes.push(single);
    }
    service.headless = ip_nodes.iter().any(|n| n.as_str() == Some("None"));
    service.cluster_ips = ip_nodes.iter().filter_map(|n| n.as_str()).filter_map(|t| IpAddr::from_str(t).ok()).collect();
    service
}

const POLICY_TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const POLICY_SPEC: &[&str] = &["podSelector", "policyTypes", "ingress", "egress"];

pub(crate) fn network_policy(
    ctx: &mut Ctx<'_>,
    root: &Node,
    namespace: String,
    name: String,
    ignore: Suppression,
    location: Location,
) -> NetworkPolicy {
    ctx.unknown_fields(root, "", POLICY_TOP);
    let mut policy = NetworkPolicy {
        namespace,
        name,
        pod_selector: LabelSelector::default(),
        declared_policy_types: None,
        ingress: Vec::new(),
        egress: Vec::new(),
        ignore,
        location,
    };
    let Some(spec) = root.get("spec").and_then(|s| ctx.map(s, "spec")) else {
        ctx.error(DiagnosticCode::MissingField, root.line, "spec", "a NetworkPolicy needs a spec");
        return policy;
    };
    ctx.unknown_fields(spec, "spec", POLICY_SPEC);
    if let Some(selector) = spec.get("podSelector") {
        policy.pod_selector = ctx.selector(selector, "spec.podSelector");
    }
    if let Some(types) = spec.get("policyTypes") {
        let mut declared = Vec::new();
        for (index, item) in ctx.seq(types, "spec.policyTypes").iter().enumerate() {
            let field = format!("spec.policyTypes[{index}]");
            match ctx.string(item, &field).as_deref() {
                Some("Ingress") => declared.push(Direction::Ingress),
                Some("Egress") => declared.push(Direction::Egress),
                Some(other) => ctx.error(
                    DiagnosticCode::InvalidValue,
                    item.line,
                    &field,
                    format!("`{other}` is not a policy type: use Ingress or Egress (case matters)"),
                ),
                None => {}
            }
        }
        // An empty list is stored as absent, so the defaulting rules apply.
        if !declared.is_empty() {
            policy.declared_policy_types = Some(declared);
        }
    }
    for (direction, key, peers_key) in [(Direction::Ingress, "ingress", "from"), (Direction::Egress, "egress", "to")] {
        let Some(rules) = spec.get(key) else { continue };
        let field = join("spec", key);
        for (index, rule) in ctx.seq(rules, &field).iter().enumerate() {
            let rule_field = format!("{field}[{index}]");
            let parsed = policy_rule(ctx, rule, &rule_field, peers_key);
            match direction {
                Direction::Ingress => policy.ingress.push(parsed),
                Direction::Egress => policy.egress.push(parsed),
            }
        }
    }
    policy
}

fn policy_rule(ctx: &mut Ctx<'_>, node: &Node, field: &str, peers_key: &str) -> PolicyRule {
    let mut rule = PolicyRule { peers: Vec::new(), ports: Vec::new(), line: node.line };
    let Some(node) = ctx.map(node, field) else { return rule };
    ctx.unknown_fields(node, field, &[peers_key, "ports"]);
    if let Some(peers) = node.get(peers_key) {
        let peers_field = join(field, peers_key);
        for (index, peer) in ctx.seq(peers, &peers_field).iter().enumerate() {
            if let Some(parsed) = policy_peer(ctx, peer, &format!("{peers_field}[{index}]")) {
                rule.peers.push(parsed);
            }
        }
    }
    if let Some(ports) = node.get("ports") {
        let ports_field = join(field, "ports");
        for (index, port) in ctx.seq(ports, &ports_field).iter().enumerate() {
            if let Some(parsed) = policy_port(ctx, port, &format!("{ports_field}[{index}]")) {
                rule.ports.push(parsed);
            }
        }
    }
    rule
}

fn policy_peer(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<Peer> {
    let Some(node) = ctx.map(node, field) else {
        if node.is_null() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "an empty peer: set podSelector, namespaceSelector or ipBlock",
            );
        }
        return None;
    };
    ctx.unknown_fields(node, field, &["podSelector", "namespaceSelector", "ipBlock"]);
    let pods = node.get("podSelector").map(|s| ctx.selector(s, &join(field, "podSelector")));
    let namespaces = node.get("namespaceSelector").map(|s| ctx.selector(s, &join(field, "namespaceSelector")));
    let ip_block = node.get("ipBlock");
    if let Some(block) = ip_block {
        if pods.is_some() || namespaces.is_some() {
            ctx.error(
                DiagnosticCode::InvalidValue,
                node.line,
                field,
                "a peer may not set ipBlock together with podSelector or namespaceSelector; write them as two peers",
            );
            return None;
        }
        let block_field = join(field, "ipBlock");
        let block = ctx.map(block, &block_field)?;
        ctx.unknown_fields(block, &block_field, &["cidr", "except"]);
        let cidr_field = join(&block_field, "cidr");
        let Some(cidr_node) = block.get("cidr") else {
            ctx.error(DiagnosticCode::MissingField, block.line, &cidr_field, "an ipBlock needs a cidr");
            return None;
        };
        let cidr = ctx.cidr(cidr_node, &cidr_field)?;
        let mut except = Vec::new();
        if let Some(list) = block.get("except") {
            let except_field = join(&block_field, "except");
            for (index, item) in ctx.seq(list, &except_field).iter().enumerate() {
                let item_field = format!("{except_field}[{index}]");
                let Some(inner) = ctx.cidr(item, &item_field) else { continue };
                if !cidr.strictly_contains(&inner) {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        item.line,
                        &item_field,
                        format!("`{inner}` must be a strict subset of the cidr `{cidr}`"),
                    );
                    continue;
                }
                except.push(inner);
            }
        }
        return Some(Peer { selector: PeerSelector::IpBlock(IpBlock { cidr, except }), line: node.line });
    }
    if pods.is_none() && namespaces.is_none() {
        ctx.error(
            DiagnosticCode::InvalidValue,
            node.line,
            field,
            "an empty peer: set podSelector, namespaceSelector or ipBlock",
        );
        return None;
    }
    Some(Peer { selector: PeerSelector::Pods { namespaces, pods }, line: node.line })
}

fn policy_port(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<PolicyPort> {
    let node = ctx.map(node, field)?;
    ctx.unknown_fields(node, field, &["protocol", "port", "endPort"]);
    let protocol = ctx.protocol(node.get("protocol"), &join(field, "protocol"));
    let port_field = join(field, "port");
    let port = match node.get("port") {
        None => None,
        Some(p) => match &p.value {
            Value::Null => None,
            Value::Int(_) => Some(PortRef::Number(ctx.port_number(p, &port_field)?)),
            Value::Str(name) => {
                if let Err(why) = validate_port_name(name) {
                    ctx.error(DiagnosticCode::InvalidValue, p.line, &port_field, format!("`{name}`: {why}"));
                    return None;
                }
                Some(PortRef::Name(name.clone()))
            }
            _ => {
                ctx.wrong_type(p, &port_field, "a port number or name");
                return None;
            }
        },
    };
    let end_field = join(field, "endPort");
    let end_port = match node.get("endPort") {
        None => None,
        Some(e) => {
            let end = ctx.port_number(e, &end_field)?;
            match &port {
                Some(PortRef::Number(start)) if end < *start => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        e.line,
                        &end_field,
                        format!("endPort {end} is below port {start}; the range is empty"),
                    );
                    return None;
                }
                Some(PortRef::Number(_)) => Some(end),
                Some(PortRef::Name(_)) => {
                    ctx.error(
                        DiagnosticCode::InvalidValue,
                        e.line,
                        &end_field,
                        "endPort may not be used with a named port",
                    );
                    return None;
                }
                None => {
                    ctx.error(DiagnosticCode::InvalidValue, e.line, &end_field, "endPort needs a numeric port");
                    return None;
                }
            }
        }
    };
    Some(PolicyPort { protocol, port, end_port, line: node.line })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_all;

    fn decode(text: &str) -> (NetworkPolicy, Vec<Diagnostic>, bool) {
        let (docs, error) = parse_all(text);
        assert_eq!(error, None);
        let file: Arc<str> = Arc::from("p.yaml");
        let mut ctx = Ctx::new(&file, None);
        let location = Location { file: file.clone(), line: 1 };
        let policy = network_policy(&mut ctx, &docs[0], "ns".into(), "p".into(), Suppression::default(), location);
        (policy, ctx.diagnostics, ctx.rejected)
    }

    /// The fields a pod spec's diagnostics name, in each place a pod spec sits: spelled out only on a diagnostic,
    /// so only a diagnostic shows that they are spelled right.
    #[test]
    fn pod_spec_diagnostics_name_the_field_where_the_spec_sits() {
        let spec =
            "containers:\n- name: web\n  ports:\n  - {containerPort: 80}\n  - {containerPort: 0, name: Bad_Name, \
                    protocol: tcp, hostPort: x}\nhostNetwork: maybe\n";
        let indent =
            |text: &str, by: usize| text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect::<String>();
        let cases = [
            (
                WorkloadKind::Pod,
                format!("metadata: {{name: p}}\nspec:\n{}status:\n  podIPs: [{{ip: 10.0.0.1}}, {{ip: nope}}]\n", indent(spec, 2)),
                "spec",
            ),
            (
                WorkloadKind::Deployment,
                format!("spec:\n  template:\n    metadata:\n      labels: {{app: -bad}}\n    spec:\n{}", indent(spec, 6)),
                "spec.template.spec",
            ),
            (
                WorkloadKind::CronJob,
                format!(
                    "spec:\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels: {{app: -bad}}\n        \
                     spec:\n{}",
                    indent(spec, 10)
                ),
                "spec.jobTemplate.spec.template.spec",
            ),
        ];
        for (kind, text, spec_field) in cases {
            let (docs, error) = parse_all(&text);
            assert_eq!(error, None, "{text}");
            let file: Arc<str> = Arc::from("w.yaml");
            let mut ctx = Ctx::new(&file, None);
            let facts = pod_facts(&mut ctx, &docs[0], kind, Labels::new(), Labels::new());
            assert_eq!(facts.ports.len(), 1, "{kind:?}: the good port is kept, the one out of range is not");
            let fields: Vec<&str> = ctx.diagnostics.iter().filter_map(|d| d.field.as_deref()).collect();
            let port = format!("{spec_field}.containers[0].ports[1]");
            let mut expected = vec![format!("{spec_field}.hostNetwork"), format!("{port}.containerPort")];
            if kind == WorkloadKind::Pod {
                expected.push("status.podIPs[1].ip".to_string());
            } else {
                let template = spec_field.strip_suffix(".spec").unwrap_or(spec_field);
                expected.push(format!("{template}.metadata.labels.app"));
            }
            for field in &expected {
                assert!(fields.contains(&field.as_str()), "{kind:?}: no diagnostic on {field} in {fields:?}");
            }
            // Port 0 leaves the port out before its other fields are read.
            assert!(!fields.iter().any(|f| f.ends_with(".name") || f.ends_with(".protocol")), "{fields:?}");
        }
    }

    #[test]
    fn a_container_port_names_each_bad_field() {
        let text = "spec:\n  containers:\n  - name: web\n    ports:\n    - {containerPort: 80, name: Bad_Name, protocol: tcp, \
                    hostPort: x}\n";
        let (docs, error) = parse_all(text);
        assert_eq!(error, None);
        let file: Arc<str> = Arc::from("w.yaml");
        let mut ctx = Ctx::new(&file, None);
        pod_facts(&mut ctx, &docs[0], WorkloadKind::Pod, Labels::new(), Labels::new());
        let fields: Vec<&str> = ctx.diagnostics.iter().filter_map(|d| d.field.as_deref()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].ports[0].name",
                "spec.containers[0].ports[0].protocol",
                "spec.containers[0].ports[0].hostPort"
            ]
        );
    }

    #[test]
    fn misindented_selector_is_a_warning_with_a_hint() {
        let (policy, diagnostics, rejected) = decode("spec:\n  matchLabels:\n    app: db\n");
        assert!(!rejected);
        assert!(policy.pod_selector.is_empty(), "stored without the unknown field: selects every pod");
        let warning = &diagnostics[0];
        assert_eq!(warning.field.as_deref(), Some("spec.matchLabels"));
        assert_eq!(warning.line, Some(2));
        assert!(warning.hint.as_deref().unwrap_or_default().contains("spec.podSelector.matchLabels"));
    }

    #[test]
    fn end_port_below_port_is_rejected() {
        let (_, diagnostics, rejected) = decode("spec:\n  ingress:\n  - ports:\n    - port: 90\n      endPort: 80\n");
        assert!(rejected);
        assert_eq!(diagnostics[0].field.as_deref(), Some("spec.ingress[0].ports[0].endPort"));
        assert_eq!(diagnostics[0].line, Some(5));
    }

    #[test]
    fn ipblock_with_selector_is_rejected() {
        let (_, diagnostics, rejected) =
            decode("spec:\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8}\n      podSelector: {}\n");
        assert!(rejected);
        assert!(diagnostics[0].message.contains("ipBlock"));
    }

    #[test]
    fn bad_operator_and_port_are_rejected() {
        let (_, diagnostics, rejected) = decode(
            "spec:\n  podSelector:\n    matchExpressions:\n    - {key: a, operator: in, values: [x]}\n  ingress:\n  - ports:\n    - port: 70000\n",
        );
        assert!(rejected);
        assert!(diagnostics.iter().any(|d| d.message.contains("did you mean `In`")));
        assert!(diagnostics.iter().any(|d| d.field.as_deref() == Some("spec.ingress[0].ports[0].port")));
    }

    #[test]
    fn policy_types_default() {
        let (policy, _, _) = decode("spec:\n  egress:\n  - {}\n");
        assert!(policy.applies_to(Direction::Ingress));
        assert!(policy.applies_to(Direction::Egress));
        let (policy, _, _) = decode("spec:\n  policyTypes: [Egress]\n  ingress:\n  - {}\n");
        assert!(!policy.applies_to(Direction::Ingress));
        assert!(policy.rules(Direction::Ingress).is_empty());
        let (policy, _, _) = decode("spec:\n  podSelector: {}\n");
        assert!(!policy.applies_to(Direction::Egress));
    }

    #[test]
    fn quoted_numeric_port_is_not_a_port_name() {
        let (_, diagnostics, rejected) = decode("spec:\n  ingress:\n  - ports:\n    - port: \"80\"\n");
        assert!(rejected);
        assert!(diagnostics[0].message.contains("port name"));
    }
}
