//! Consul's intentions, as its reference defines them:
//!
//! - A pod is the Consul service its `consul.hashicorp.com/connect-service` annotation names, else the
//!   Kubernetes Service that selects it.
//! - For a client service and a destination service, the matching source of highest precedence decides: an
//!   exact destination before `*`, then an exact source before `*`. An L4 source allows or denies the
//!   connection; an L7 source's permissions are tried in order and the first whose HTTP match holds decides. No
//!   intention, or no permission matching, gets the default intention (allow unless the server config's ACLs
//!   default to deny).
//! - A client outside the mesh sends plaintext, which the sidecar refuses unless the service's mTLS mode is
//!   `permissive` (ServiceDefaults, else the global ProxyDefaults): then plaintext passes and no intention
//!   applies to it.

use super::decision::{Attribute, Clause, Decision, Passability, Pred, Test};
use super::{reference, Client, Context, IdentityTest, Verdict};
use crate::classes::ClassId;
use netseg_model::mesh::consul::*;
use netseg_model::mesh::MeshKind;
use netseg_model::Cluster;
use std::sync::Arc;

pub(crate) fn destination_key(context: &Context<'_>, class: ClassId) -> String {
    if context.class(class).dataplane.mesh != Some(MeshKind::Consul) {
        return String::new();
    }
    format!("{:?}", context.facts[class].consul_services)
}

pub(crate) fn unenforced(context: &Context<'_>, class: ClassId) -> Vec<String> {
    let names = &context.facts[class].consul_services;
    context
        .cluster
        .mesh
        .consul
        .intentions
        .iter()
        .filter(|i| names.contains(&i.destination))
        .map(|i| {
            format!(
                "Consul ServiceIntentions {}/{} ({}) names this pod's service {}, but the pod has no Consul proxy ({}): \
                 it enforces nothing here",
                i.namespace,
                i.name,
                i.location,
                i.destination,
                context.class(class).dataplane.reason
            )
        })
        .collect()
}

pub(crate) fn identity_tests(cluster: &Cluster) -> Vec<IdentityTest> {
    cluster
        .mesh
        .consul
        .intentions
        .iter()
        .flat_map(|i| i.sources.iter().map(|s| IdentityTest::ConsulService(s.name.clone())))
        .collect()
}

/// The defaults in force for a service: its ServiceDefaults, else the global ProxyDefaults.
fn defaults<'c>(context: &'c Context<'_>, service: &str) -> Option<&'c ServiceDefaults> {
    let consul = &context.cluster.mesh.consul;
    consul.service_defaults.iter().find(|d| d.name == service).or(consul.proxy_defaults.as_ref())
}

pub(crate) fn verdict(context: &Context<'_>, client: Client, destination: ClassId, _port: u16) -> Verdict {
    let consul = &context.cluster.mesh.consul;
    let services = &context.facts[destination].consul_services;
    let client_services: Option<&Vec<String>> = match context.client_class(client) {
        Some((pod, facts)) if pod.dataplane.mesh == Some(MeshKind::Consul) => Some(&facts.consul_services),
        _ => None,
    };
    let Some(client_services) = client_services else {
        // Plaintext: only a permissive service takes it, and then no intention applies.
        let permissive: Vec<&String> =
            services.iter().filter(|s| defaults(context, s).is_some_and(|d| d.permissive_mtls)).collect();
        if let Some(service) = permissive.first() {
            let decision = Decision::allow(format!(
                "service {service} accepts plaintext (mutualTLSMode permissive), which no intention applies to"
            ));
            return Verdict::Decided { decision: Arc::new(decision), passability: Passability::All };
        }
        let who = match context.client_class(client) {
            None => "an address outside the cluster".to_string(),
            Some((pod, _)) => format!("outside the Consul mesh ({})", pod.dataplane.reason),
        };
        return Verdict::Refused {
            why: format!("the Consul sidecar accepts only mTLS from the mesh, and the client is {who}"),
            by: None,
        };
    };
    if services.is_empty() {
        let default = default_decision(consul, "the pod registers no Consul service");
        let passability = default.passability();
        return Verdict::Decided { decision: Arc::new(default), passability };
    }
    let ways: Vec<(String, Decision)> = services
        .iter()
        .map(|service| (format!("to service {service}"), service_decision(context, client_services, service)))
        .collect();
    let decision = if ways.len() == 1 {
        ways.into_iter().next().map(|(_, d)| d).unwrap_or_else(|| Decision::allow(""))
    } else {
        Decision::AnyOf(ways)
    };
    let passability = decision.passability();
    Verdict::Decided { decision: Arc::new(decision), passability }
}

fn default_decision(consul: &Consul, context: &str) -> Decision {
    let config = &consul.config;
    let why = format!("{context}: the default intention is {} ({})", config.default_intention.as_str(), config.source);
    match config.default_intention {
        IntentionAction::Allow => Decision::allow(why),
        IntentionAction::Deny => Decision::deny(None, why),
    }
}

/// The decision for the client's services toward one destination service.
fn service_decision(context: &Context<'_>, client_services: &[String], service: &str) -> Decision {
    let consul = &context.cluster.mesh.consul;
    let http_service = defaults(context, service).and_then(ServiceDefaults::http);
    // Matching sources, by precedence: exact destination first, then exact source.
    let mut matching: Vec<(u8, &ServiceIntentions, usize, &IntentionSource)> = Vec::new();
    for intentions in &consul.intentions {
        let exact_destination = intentions.destination == service;
        if !exact_destination && intentions.destination != "*" {
            continue;
        }
        // A ServiceIntentions with L7 permissions toward a service Consul knows is not HTTP is refused by Consul.
        let l7 = intentions.sources.iter().any(|s| matches!(s.decision, SourceDecision::Permissions(_)));
        if l7 && http_service == Some(false) {
            continue;
        }
        for (index, source) in intentions.sources.iter().enumerate() {
            let exact_source = client_services.contains(&source.name);
            if !exact_source && source.name != "*" {
                continue;
            }
            let precedence = (u8::from(!exact_destination) << 1) | u8::from(!exact_source);
            matching.push((precedence, intentions, index, source));
        }
    }
    matching.sort_by_key(|(precedence, _, _, _)| *precedence);
    let Some((_, intentions, index, source)) = matching.first() else {
        return default_decision(consul, &format!("no intention matches the client toward {service}"));
    };
    let location = netseg_model::Location { file: intentions.location.file.clone(), line: source.line };
    let by = reference("ServiceIntentions", &intentions.namespace, &intentions.name, Some(*index), &location);
    match &source.decision {
        SourceDecision::Action(IntentionAction::Allow) => {
            Decision::Allow { by: Some(by.clone()), why: format!("allowed by {by} (source {})", source.name) }
        }
        SourceDecision::Action(IntentionAction::Deny) => {
            Decision::deny(Some(by.clone()), format!("denied by {by} (source {})", source.name))
        }
        SourceDecision::Permissions(permissions) => Decision::FirstMatch {
            clauses: permissions
                .iter()
                .enumerate()
                .map(|(p, permission)| {
                    let location =
                        netseg_model::Location { file: intentions.location.file.clone(), line: permission.line };
                    let by = reference(
                        "ServiceIntentions",
                        &intentions.namespace,
                        &intentions.name,
                        Some(*index),
                        &location,
                    );
                    let decision = match permission.action {
                        IntentionAction::Allow => {
                            Decision::Allow { by: Some(by.clone()), why: format!("allowed by {by}") }
                        }
                        IntentionAction::Deny => Decision::deny(Some(by.clone()), format!("denied by {by}")),
                    };
                    let text = format!("{} (permission {p})", describe_http(&permission.http));
                    (Clause { by, pred: http_pred(&permission.http), text }, decision)
                })
                .collect(),
            otherwise: Box::new(default_decision(consul, &format!("no permission of {by} matches the request"))),
        },
    }
}

fn http_pred(http: &HttpMatch) -> Pred {
    let mut parts = Vec::new();
    match &http.path {
        Some(PathMatch::Exact(p)) => parts.push(Pred::test(Attribute::Path, Test::Exact(p.clone()))),
        Some(PathMatch::Prefix(p)) => parts.push(Pred::test(Attribute::Path, Test::Prefix(p.clone()))),
        Some(PathMatch::Regex(p)) => match regex::Regex::new(p) {
            Ok(re) => parts.push(Pred::test(Attribute::Path, Test::Regex(re))),
            Err(_) => return Pred::False,
        },
        None => {}
    }
    if !http.methods.is_empty() {
        parts.push(Pred::any(
            http.methods.iter().map(|m| Pred::test(Attribute::Method, Test::Exact(m.clone()))).collect(),
        ));
    }
    for header in &http.headers {
        let attribute = Attribute::Header(header.name.clone());
        let test = match &header.test {
            HeaderTest::Present => Test::Present,
            HeaderTest::Exact(v) => Test::Exact(v.clone()),
            HeaderTest::Prefix(v) => Test::Prefix(v.clone()),
            HeaderTest::Suffix(v) => Test::Suffix(v.clone()),
            HeaderTest::Regex(v) => match regex::Regex::new(v) {
                Ok(re) => Test::Regex(re),
                Err(_) => return Pred::False,
            },
        };
        let pred = Pred::test(attribute, test);
        parts.push(if header.invert { Pred::negate(pred) } else { pred });
    }
    Pred::all(parts)
}

fn describe_http(http: &HttpMatch) -> String {
    let mut words = Vec::new();
    if !http.methods.is_empty() {
        words.push(http.methods.join(" or "));
    }
    match &http.path {
        Some(PathMatch::Exact(p)) => words.push(p.clone()),
        Some(PathMatch::Prefix(p)) => words.push(format!("{p}*")),
        Some(PathMatch::Regex(p)) => words.push(format!("path ~ {p}")),
        None => {}
    }
    for header in &http.headers {
        let test = match &header.test {
            HeaderTest::Present => "present".to_string(),
            HeaderTest::Exact(v) => format!("= {v}"),
            HeaderTest::Prefix(v) => format!("starts with {v}"),
            HeaderTest::Suffix(v) => format!("ends with {v}"),
            HeaderTest::Regex(v) => format!("~ {v}"),
        };
        words.push(format!("header {} {}{test}", header.name, if header.invert { "not " } else { "" }));
    }
    if words.is_empty() {
        "any request".into()
    } else {
        words.join(" ")
    }
}
