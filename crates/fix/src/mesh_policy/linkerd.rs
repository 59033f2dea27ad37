//! Linkerd's part of `generate --mesh linkerd`: a `Server` on every port of every meshed workload (with a Server
//! on a port, Linkerd refuses what no authorization admits: `accessPolicy: deny`), and for each port with callers
//! a `MeshTLSAuthentication` listing their identities (`SA.NS.serviceaccount.identity.linkerd.TRUST_DOMAIN`, the
//! trust domain from `linkerd-config`) and an `AuthorizationPolicy` that targets the Server and requires it.
//!
//! Ports no container declares have no Server and keep the default inbound policy. That default is an
//! annotation on the namespace (or the pods), which a generated object cannot set: the report advises
//! `config.linkerd.io/default-inbound-policy: deny` where the default admits clients.

use super::{captured_tcp, listed_ports, metadata, unique_name, MeshDocument, Protected, Writer};
use crate::generate::{stable_selector, Plan};
use crate::manifest::{scalar, selector_yaml};
use crate::needs::Destination;
use netseg_engine::PortSet;
use netseg_model::mesh::linkerd::{DefaultPolicy, DEFAULT_INBOUND_POLICY_ANNOTATION};
use netseg_model::mesh::{linkerd_identity, Dataplane};
use netseg_model::{Cluster, Protocol};
use std::collections::{BTreeMap, BTreeSet};

const API_GROUP: &str = "policy.linkerd.io";

pub(crate) struct LinkerdWriter {
    servers_taken: BTreeSet<(String, String)>,
    policies_taken: BTreeSet<(String, String)>,
    authentications_taken: BTreeSet<(String, String)>,
    trust_domain: String,
    /// (workload, port) → the name of the Server written for it.
    servers: BTreeMap<(usize, u16), String>,
}

impl LinkerdWriter {
    pub(crate) fn new(cluster: &Cluster) -> LinkerdWriter {
        let linkerd = &cluster.mesh.linkerd;
        let names = |items: Vec<(&String, &String)>| -> BTreeSet<(String, String)> {
            items.into_iter().map(|(ns, name)| (ns.clone(), name.clone())).collect()
        };
        LinkerdWriter {
            servers_taken: names(linkerd.servers.iter().map(|s| (&s.namespace, &s.name)).collect()),
            policies_taken: names(linkerd.authorization_policies.iter().map(|p| (&p.namespace, &p.name)).collect()),
            authentications_taken: names(
                linkerd.mesh_tls_authentications.iter().map(|a| (&a.namespace, &a.name)).collect(),
            ),
            trust_domain: linkerd.config.trust_domain.clone(),
            servers: BTreeMap::new(),
        }
    }
}

/// The Linkerd identities of a workload's pods: one per service account they run as.
pub(crate) fn identities(cluster: &Cluster, trust_domain: &str, workload: usize) -> Vec<String> {
    let w = &cluster.workloads[workload];
    let accounts: BTreeSet<&str> = w.pods.iter().map(|p| Cluster::service_account(&p.facts)).collect();
    accounts.into_iter().map(|sa| linkerd_identity(trust_domain, &w.id.namespace, sa)).collect()
}

impl Writer for LinkerdWriter {
    fn allow_nothing(
        &mut self,
        cluster: &Cluster,
        _namespaces: &[String],
        targets: &[usize],
        planes: &[Option<Dataplane>],
        plan: &Plan,
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument> {
        let mut documents = Vec::new();
        for &target in targets {
            let Some(plane) = &planes[target] else { continue };
            let w = &cluster.workloads[target];
            let selector = stable_selector(w);
            if selector.is_empty() {
                notes.push(format!("{} has no labels to select it by: no Linkerd Server is written for it", w.id));
                continue;
            }
            // The ports its containers declare and the ports declared flows reach.
            let mut ports = PortSet::empty();
            for port in w.pods.iter().flat_map(|p| &p.facts.ports) {
                ports.union_with(&PortSet::single(port.protocol, port.port));
            }
            for need in &plan.needs {
                if need.dst == Destination::Workload(target) {
                    ports.union_with(&need.ports);
                }
            }
            let ports = captured_tcp(plane, &ports);
            let Some(list) = listed_ports(&ports) else {
                notes.push(format!(
                    "{} has too many ports for a Server each ({ports}): they keep Linkerd's default inbound policy",
                    w.id
                ));
                continue;
            };
            for port in list {
                let existing = cluster.mesh.linkerd.servers.iter().find(|s| {
                    w.pods
                        .iter()
                        .any(|p| s.selects(&w.id.namespace, &p.facts.labels) && s.names_port(&p.facts.ports, port))
                });
                if let Some(existing) = existing {
                    notes.push(format!(
                        "{} port {port} already has Linkerd Server {}/{} ({}): its authorizations are the input's",
                        w.id, existing.namespace, existing.name, existing.location
                    ));
                    continue;
                }
                let name = unique_name(&mut self.servers_taken, &w.id.namespace, &format!("{}-{port}", w.id.name));
                let reasons = [format!(
                    "{} TCP {port}: with a Server on the port, Linkerd refuses every client no authorization admits",
                    w.id
                )];
                let yaml = format!(
                    "apiVersion: {API_GROUP}/v1beta3\nkind: Server\n{}spec:\n  podSelector: {}\n  port: {port}\n  accessPolicy: deny\n",
                    metadata(&name, &w.id.namespace, &reasons),
                    selector_yaml(&selector)
                );
                self.servers.insert((target, port), name.clone());
                documents.push(MeshDocument { namespace: w.id.namespace.clone(), kind: "Server", name, yaml });
            }
        }
        documents
    }

    fn allows(
        &mut self,
        cluster: &Cluster,
        protected: &mut Vec<Protected>,
        _planes: &[Option<Dataplane>],
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument> {
        let mut documents = Vec::new();
        for entry in protected.iter_mut() {
            let w = &cluster.workloads[entry.workload];
            let ns = &w.id.namespace;
            // Every port with a Server is covered: those without callers deny everyone.
            for (&(_, port), _) in self.servers.iter().filter(|((t, _), _)| *t == entry.workload) {
                entry.ports.union_with(&PortSet::single(Protocol::Tcp, port));
            }
            let ports: Vec<u16> = listed_ports(&entry.ports).unwrap_or_default();
            for port in ports {
                let callers: Vec<_> = entry.callers.iter().filter(|c| c.ports.contains(Protocol::Tcp, port)).collect();
                if callers.is_empty() {
                    continue;
                }
                let Some(server) = self.servers.get(&(entry.workload, port)).cloned() else {
                    notes.push(format!(
                        "{} port {port}: no Server was written for it, so no authorization names its callers",
                        w.id
                    ));
                    continue;
                };
                let mut identities: Vec<String> = callers
                    .iter()
                    .flat_map(|c| super::linkerd::identities(cluster, &self.trust_domain, c.workload))
                    .collect();
                identities.sort();
                identities.dedup();
                let mut reasons = vec![format!("the clients of {} on TCP {port} (Server {server})", w.id)];
                for caller in &callers {
                    let id = &cluster.workloads[caller.workload].id;
                    reasons.extend(caller.reasons.iter().map(|r| format!("{id}: {r}")));
                }
                let authentication = unique_name(&mut self.authentications_taken, ns, &server);
                let listed: Vec<String> =
                    identities.iter().map(|i| format!("  - {}\n", serde_json::Value::String(i.clone()))).collect();
                let yaml = format!(
                    "apiVersion: {API_GROUP}/v1alpha1\nkind: MeshTLSAuthentication\n{}spec:\n  identities:\n{}",
                    metadata(&authentication, ns, &reasons),
                    listed.concat()
                );
                documents.push(MeshDocument {
                    namespace: ns.clone(),
                    kind: "MeshTLSAuthentication",
                    name: authentication.clone(),
                    yaml,
                });
                let policy = unique_name(&mut self.policies_taken, ns, &server);
                let yaml = format!(
                    "apiVersion: {API_GROUP}/v1alpha1\nkind: AuthorizationPolicy\n{}spec:\n  targetRef: {{group: {API_GROUP}, kind: Server, name: {}}}\n  requiredAuthenticationRefs:\n  - {{group: {API_GROUP}, kind: MeshTLSAuthentication, name: {}}}\n",
                    metadata(&policy, ns, &reasons),
                    scalar(&server),
                    scalar(&authentication)
                );
                documents.push(MeshDocument { namespace: ns.clone(), kind: "AuthorizationPolicy", name: policy, yaml });
            }
        }
        // Workloads that only have Servers (no caller) are protected too: every port of theirs denies.
        let mut bare: Vec<usize> = self.servers.keys().map(|(w, _)| *w).collect();
        bare.dedup();
        for workload in bare {
            if protected.iter().any(|p| p.workload == workload) {
                continue;
            }
            let mut ports = PortSet::empty();
            for (_, port) in self.servers.keys().filter(|(w, _)| *w == workload) {
                ports.union_with(&PortSet::single(Protocol::Tcp, *port));
            }
            protected.push(Protected { workload, callers: Vec::new(), ports });
        }
        protected.sort_by(|a, b| cluster.workloads[a.workload].id.cmp(&cluster.workloads[b.workload].id));
        documents
    }

    fn advise(&self, cluster: &Cluster, namespaces: &[String], notes: &mut Vec<String>) {
        let config = &cluster.mesh.linkerd.config;
        for ns in namespaces {
            let (policy, source) = config.default_policy_for(&Default::default(), cluster.namespace(ns));
            if policy == DefaultPolicy::Deny {
                continue;
            }
            notes.push(format!(
                "Linkerd namespace {ns}: ports without a Server (those no container declares) keep the default inbound \
                 policy {} ({source}); annotate the namespace with {DEFAULT_INBOUND_POLICY_ANNOTATION}: deny (and \
                 restart its pods) to deny them too; a generated object cannot set a namespace's annotation",
                policy.as_str()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{LabelSelector, Operator, Requirement};

    #[test]
    fn a_server_selects_with_expressions_too() {
        let selector = LabelSelector {
            match_labels: [("app", "web")].into(),
            match_expressions: vec![Requirement {
                key: "tier".into(),
                operator: Operator::In,
                values: vec!["front".into()],
            }],
        };
        assert_eq!(
            selector_yaml(&selector),
            "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [front]}]}"
        );
    }
}
