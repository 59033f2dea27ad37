//! Requests and the conditions on them: what the layers that decide on more than addresses and ports (Cilium's L7
//! rules, the service meshes' authorization) need from a question, and what they answer when the question does
//! not say enough.
//!
//! The L4 answer ([`crate::PortSet`]) stays the unit of reachability: a port is in it when *some* request may
//! pass. Where only some requests may pass, the layer that restricts them adds a [`Restriction`] on those ports,
//! and `can` lists its conditions (with no request given) or decides the request it was given. One definition
//! here, so that Cilium's L7 rules and every mesh speak the same language to `can`, `reach` and the renderers.

use crate::PortSet;
use netseg_model::Location;

/// The request a question names (`netseg can --method --path --host`). A field left `None` is not known, and a
/// condition on it is listed rather than decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Request {
    /// An HTTP method as sent (`GET`, `POST`); compared case-sensitively, as HTTP methods are.
    pub method: Option<String>,
    /// The request path, starting with `/`, without the query string.
    pub path: Option<String>,
    /// The query string after `?`, without the `?` (Cilium matches its path regex against path and query; Istio and
    /// the Gateway API match the path alone).
    pub query: Option<String>,
    /// The `Host` (HTTP/1.1) or `:authority` (HTTP/2) header, without a port.
    pub host: Option<String>,
    /// Other request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The name a DNS query asks about (`--dns-name`), lower case without the trailing dot: what Cilium's L7 DNS
    /// rules decide.
    pub dns_name: Option<String>,
}

impl Request {
    /// No request named: every condition is listed, none decided.
    pub fn is_unspecified(&self) -> bool {
        self.method.is_none()
            && self.path.is_none()
            && self.query.is_none()
            && self.host.is_none()
            && self.headers.is_empty()
            && self.dns_name.is_none()
    }

    /// The request in one line, as a person would write it: `GET /api?x=1 host shop.example x-user: alice`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.method.clone());
        match (&self.path, &self.query) {
            (Some(path), Some(query)) => parts.push(format!("{path}?{query}")),
            (Some(path), None) => parts.push(path.clone()),
            (None, Some(query)) => parts.push(format!("?{query}")),
            (None, None) => {}
        }
        if let Some(host) = &self.host {
            parts.push(format!("host {host}"));
        }
        parts.extend(self.headers.iter().map(|(name, value)| format!("{name}: {value}")));
        if let Some(name) = &self.dns_name {
            parts.push(format!("DNS query for {name}"));
        }
        parts.join(" ")
    }
}

/// A request field that HTTP would not carry as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "`{0}` is not an HTTP method: a method is one token of letters, digits and !#$%&'*+-.^_`|~ (GET, POST, PURGE)"
    )]
    Method(String),
    #[error("`{0}` is not a request path: it must start with `/` (such as /api/v1/orders)")]
    PathNotAbsolute(String),
    #[error("`{0}` is not a request path: {1}")]
    Path(String, &'static str),
    #[error("`{0}` is not a host: {1}")]
    Host(String, &'static str),
    #[error("`{0}` is not a header: {1}")]
    Header(String, &'static str),
    #[error("`{0}` is not a DNS name: labels of letters, digits, `-` and `_` (1 to 63 each, 253 in all), such as api.example.com")]
    DnsName(String),
}

/// The name a DNS query asks about: one or more labels of letters, digits, `-` and `_`, an optional trailing dot;
/// lower-cased and without the dot, as DNS compares names case-insensitively.
pub fn parse_dns_name(text: &str) -> Result<String, RequestError> {
    let name = text.strip_suffix('.').unwrap_or(text);
    let valid = name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(RequestError::DnsName(text.to_string()))
    }
}

/// RFC 9110 §5.6.2: `tchar`, the characters of a token (methods and header names are tokens).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_token_char)
}

/// An HTTP method (RFC 9110 §9.1: a token), kept as written: methods are case-sensitive.
pub fn parse_method(text: &str) -> Result<String, RequestError> {
    if is_token(text) {
        Ok(text.to_string())
    } else {
        Err(RequestError::Method(text.to_string()))
    }
}

/// A request target in origin form (RFC 9110 §7.1, RFC 3986 §3.3 and §3.4): the absolute path and the query after
/// `?`. Only visible ASCII is sent (anything else is percent-encoded first), and a fragment is never sent.
pub fn parse_target(text: &str) -> Result<(String, Option<String>), RequestError> {
    if !text.starts_with('/') {
        return Err(RequestError::PathNotAbsolute(text.to_string()));
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
        let why = if c == ' ' {
            "it has a space (percent-encode it as %20)"
        } else {
            "it has a character that is not visible ASCII (percent-encode it)"
        };
        return Err(RequestError::Path(text.to_string(), why));
    }
    if text.contains('#') {
        return Err(RequestError::Path(text.to_string(), "a fragment (#...) is never sent to the server"));
    }
    Ok(match text.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (text.to_string(), None),
    })
}

/// A host as the `Host` header or `:authority` names it, without a port (the port is the question's), lower-cased:
/// host names are case-insensitive (RFC 9110 §4.2.3, RFC 3986 §3.2.2).
pub fn parse_host(text: &str) -> Result<String, RequestError> {
    let bad = |why| Err(RequestError::Host(text.to_string(), why));
    if text.is_empty() {
        return bad("it is empty");
    }
    if text.parse::<std::net::Ipv6Addr>().is_ok() || text.starts_with('[') {
        let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
        return match inner.map(str::parse::<std::net::Ipv6Addr>) {
            Some(Ok(_)) => Ok(text.to_ascii_lowercase()),
            _ => bad("an IPv6 address is written in brackets, such as [fd00::1], without a port"),
        };
    }
    if text.contains(':') {
        return bad("it has a port; give the host alone (the port is --port)");
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
    if !text.chars().all(name_char) || text.starts_with('.') || text.contains("..") {
        return bad("a host is a DNS name or an IP address (letters, digits, `-`, `.`)");
    }
    Ok(text.to_ascii_lowercase())
}

/// A header as `Name: value` (RFC 9110 §5: the name a token, compared case-insensitively and so lower-cased; the
/// value without the spaces around it). `Host` and the pseudo-headers (`:path`, `:authority`) have flags of their
/// own, so neither is taken here.
pub fn parse_header(text: &str) -> Result<(String, String), RequestError> {
    let bad = |why| Err(RequestError::Header(text.to_string(), why));
    let Some((name, value)) = text.split_once(':') else {
        return bad("write it as `Name: value`");
    };
    if name.is_empty() && value.contains(':') {
        return bad("pseudo-headers such as :path and :authority are --path and --host");
    }
    if !is_token(name) {
        return bad("the name must be one token of letters, digits and !#$%&'*+-.^_`|~ (write it as `Name: value`)");
    }
    let value = value.trim_matches([' ', '\t']);
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return bad("the value has a control character");
    }
    let name = name.to_ascii_lowercase();
    if name == "host" {
        return bad("the host is --host");
    }
    Ok((name, value.to_string()))
}

/// The layer a policy belongs to, for explanations and renderers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// Kubernetes NetworkPolicy, the admin tiers, and the CNI's own L3/L4 policies.
    Network,
    /// Cilium's L7 rules (HTTP, Kafka, DNS), enforced by its proxy.
    CiliumL7,
    Istio,
    Linkerd,
    Consul,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Network => "network",
            Layer::CiliumL7 => "Cilium L7",
            Layer::Istio => "Istio",
            Layer::Linkerd => "Linkerd",
            Layer::Consul => "Consul",
        }
    }
}

/// A policy (of any kind) and one of its rules, named for people: what `can` cites.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRef {
    /// The object's kind as written (`CiliumNetworkPolicy`, `AuthorizationPolicy`, `ServiceIntentions`).
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// The rule's index within the policy, where the policy has rules.
    pub rule: Option<usize>,
    /// Where the object (or the rule, when known) is written.
    pub location: Option<Location>,
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name)?,
            None => write!(f, "{} {}", self.kind, self.name)?,
        }
        if let Some(rule) = self.rule {
            write!(f, " rule {rule}")?;
        }
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        Ok(())
    }
}

/// One way a request may pass: the rule that admits it and what it admits, in words
/// ("POST only, from principal cluster.local/ns/default/sa/inventory-sa").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Condition {
    pub layer: Layer,
    pub by: PolicyRef,
    pub admits: String,
}

/// Ports on which only some requests pass: a request passes when it meets any one of `any_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub ports: PortSet,
    pub any_of: Vec<Condition>,
}

/// What a layer makes of one named request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    Allowed {
        by: Vec<PolicyRef>,
    },
    Denied {
        by: Vec<PolicyRef>,
    },
    /// The layer cannot decide from the input (an external authorizer, a field the request does not give).
    Unknown {
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_any_field_is_specified() {
        assert!(Request::default().is_unspecified());
        let post = Request { method: Some("POST".into()), ..Request::default() };
        assert!(!post.is_unspecified());
    }

    #[test]
    fn methods_are_tokens_kept_as_written() {
        assert_eq!(parse_method("GET"), Ok("GET".into()));
        assert_eq!(parse_method("purge"), Ok("purge".into()), "methods are case-sensitive; lower case is a token");
        for bad in ["", "GET POST", "GE(T", "G\u{cb}T", "GET/"] {
            assert!(matches!(parse_method(bad), Err(RequestError::Method(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_target_is_an_absolute_path_and_an_optional_query() {
        assert_eq!(parse_target("/api/v1"), Ok(("/api/v1".into(), None)));
        assert_eq!(parse_target("/search?q=a&x"), Ok(("/search".into(), Some("q=a&x".into()))));
        assert_eq!(parse_target("/?"), Ok(("/".into(), Some(String::new()))));
        for relative in ["api/v1", "*", ""] {
            assert!(matches!(parse_target(relative), Err(RequestError::PathNotAbsolute(_))), "{relative:?}");
        }
        let spaced = parse_target("/a b").expect_err("a space is not sent");
        assert!(spaced.to_string().contains("%20"), "{spaced}");
        assert!(parse_target("/a#top").expect_err("fragment").to_string().contains("never sent"));
        assert!(parse_target("/caf\u{e9}").is_err());
        assert!(parse_target("/a\tb").is_err());
    }

    #[test]
    fn hosts_are_names_or_addresses_without_a_port() {
        assert_eq!(parse_host("Shop.Example"), Ok("shop.example".into()));
        assert_eq!(parse_host("10.0.0.7"), Ok("10.0.0.7".into()));
        assert_eq!(parse_host("[FD00::1]"), Ok("[fd00::1]".into()));
        assert!(parse_host("fd00::1").expect_err("bare v6").to_string().contains("brackets"));
        assert!(parse_host("shop.example:8080").expect_err("port").to_string().contains("--port"));
        for bad in ["", "shop example", "a/b", ".shop", "a..b", "user@shop", "[fd00::1]:80"] {
            assert!(matches!(parse_host(bad), Err(RequestError::Host(..))), "{bad:?}");
        }
    }

    #[test]
    fn headers_are_a_token_name_and_a_trimmed_value() {
        assert_eq!(parse_header("X-User: alice"), Ok(("x-user".into(), "alice".into())));
        assert_eq!(parse_header("x-empty:"), Ok(("x-empty".into(), String::new())));
        assert_eq!(parse_header("a: b: c"), Ok(("a".into(), "b: c".into())));
        assert!(parse_header("no colon").expect_err("no colon").to_string().contains("Name: value"));
        assert!(parse_header("X User: a").is_err());
        assert!(parse_header(":path: /x").expect_err("pseudo").to_string().contains("--path"));
        assert!(parse_header("Host: a").expect_err("host").to_string().contains("--host"));
        assert!(parse_header("x: a\u{7}b").is_err());
    }

    #[test]
    fn dns_names_are_labels_lower_cased_without_the_dot() {
        assert_eq!(parse_dns_name("API.GitHub.com."), Ok("api.github.com".into()));
        assert_eq!(parse_dns_name("kubernetes"), Ok("kubernetes".into()));
        for bad in ["", "a..b", "a b", "*.github.com", "a/b", "."] {
            assert!(matches!(parse_dns_name(bad), Err(RequestError::DnsName(_))), "{bad:?}");
        }
        let query = Request { dns_name: Some("api.github.com".into()), ..Request::default() };
        assert!(!query.is_unspecified());
        assert_eq!(query.describe(), "DNS query for api.github.com");
    }

    #[test]
    fn a_request_describes_itself_in_one_line() {
        let request = Request {
            method: Some("GET".into()),
            path: Some("/api".into()),
            query: Some("x=1".into()),
            host: Some("shop.example".into()),
            headers: vec![("x-user".into(), "alice".into())],
            dns_name: None,
        };
        assert_eq!(request.describe(), "GET /api?x=1 host shop.example x-user: alice");
        assert!(!request.is_unspecified());
    }

    #[test]
    fn a_policy_reference_reads_as_kind_name_rule_and_place() {
        let reference = PolicyRef {
            kind: "AuthorizationPolicy".into(),
            namespace: Some("default".into()),
            name: "shoes-writer".into(),
            rule: Some(0),
            location: Some(Location { file: "mesh.yaml".into(), line: 3 }),
        };
        assert_eq!(reference.to_string(), "AuthorizationPolicy default/shoes-writer rule 0 (mesh.yaml:3)");
    }
}
