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
    /// The `Host` (HTTP/1.1) or `:authority` (HTTP/2) header, without a port.
    pub host: Option<String>,
    /// Other request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// No request named: every condition is listed, none decided.
    pub fn is_unspecified(&self) -> bool {
        self.method.is_none() && self.path.is_none() && self.host.is_none() && self.headers.is_empty()
    }
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
