//! Helpers for the rules' own passing and failing cases.

use crate::{audit, AuditContext, AuditOptions, Config, Finding, Report};
use netseg_engine::{Network, NetworkChoice};
use netseg_model::{load_bytes, Cluster, Inventory};
use std::sync::Arc;

/// Audits manifests given as YAML text, with the default configuration.
pub fn audit_yaml(text: &str) -> Report {
    audit_yaml_with(text, &Config::default(), &AuditOptions::default())
}

pub fn audit_yaml_with(text: &str, config: &Config, options: &AuditOptions) -> Report {
    with_context_and(text, config, options, &NetworkChoice::default(), audit)
}

/// Audits manifests given as YAML text under the user's choice of CNI and enforcement.
pub fn audit_yaml_choosing(text: &str, choice: &NetworkChoice) -> Report {
    with_context_and(text, &Config::default(), &AuditOptions::default(), choice, audit)
}

/// Runs `f` on the audit context of manifests given as YAML text.
pub fn with_context<T>(text: &str, f: impl FnOnce(&AuditContext<'_>) -> T) -> T {
    with_context_and(text, &Config::default(), &AuditOptions::default(), &NetworkChoice::default(), f)
}

fn with_context_and<T>(
    text: &str,
    config: &Config,
    options: &AuditOptions,
    choice: &NetworkChoice,
    f: impl FnOnce(&AuditContext<'_>) -> T,
) -> T {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("test.yaml"), text.as_bytes(), false);
    let diagnostics = std::mem::take(&mut inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    let network = Network::new(&cluster, choice).expect("the tests name known CNIs");
    f(&AuditContext::new(&network, config, &diagnostics, options))
}

/// The findings of one rule.
pub fn of<'r>(report: &'r Report, code: &str) -> Vec<&'r Finding> {
    report.findings.iter().filter(|f| f.rule.code == code).collect()
}

/// Resource names of one rule's findings, as `namespace/name` or `name`.
pub fn names(report: &Report, code: &str) -> Vec<String> {
    of(report, code)
        .iter()
        .map(|f| match &f.resource.namespace {
            Some(ns) => format!("{ns}/{}", f.resource.name),
            None => f.resource.name.clone(),
        })
        .collect()
}

pub const FLAT: &str = "
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
---
kind: Deployment
metadata: {name: redis, namespace: shop}
spec:
  template:
    metadata: {labels: {app: redis}}
    spec: {containers: [{name: redis, ports: [{name: redis, containerPort: 6379}]}]}
";

/// A namespace closed by default-deny both ways, with DNS and exactly web → redis:6379 allowed.
pub const SEGMENTED: &str = "
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
---
kind: Deployment
metadata: {name: redis, namespace: shop}
spec:
  template:
    metadata: {labels: {app: redis}}
    spec: {containers: [{name: redis, ports: [{name: redis, containerPort: 6379}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-to-redis, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: redis}}}]
    ports: [{port: 6379}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-anywhere, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: redis-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: redis}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: redis}]
";
