//! Istio's part of `generate --mesh istio`: an allow-nothing `AuthorizationPolicy` (`spec: {}`) per namespace,
//! then per destination workload an ALLOW policy whose rules name the callers' principals
//! (`TRUST_DOMAIN/ns/NS/sa/SA`, the trust domain from the input's mesh config) and the destination's ports.
//!
//! `security.istio.io/v1`: an ALLOW policy with no rules denies every request to the workloads it applies to,
//! and the ALLOW policies of one workload are a union, so the allow-nothing policy and the per-workload ones
//! together admit exactly the named callers. A principal exists only over mTLS: a caller outside the mesh is
//! refused whatever the PeerAuthentication mode (under PERMISSIVE it connects in plaintext, with no principal).

use super::{listed_ports, metadata, unique_name, MeshDocument, Protected, Writer};
use crate::generate::{stable_selector, Plan};
use crate::manifest::scalar;
use netseg_model::mesh::istio::{AuthorizationAction, MtlsMode, PolicyTarget};
use netseg_model::mesh::{istio_principal, Dataplane};
use netseg_model::{Cluster, Labels};
use std::collections::BTreeSet;

const KIND: &str = "AuthorizationPolicy";
const API_VERSION: &str = "security.istio.io/v1";

/// One rule of an ALLOW policy being written: the ports (`None`: too many to list), the callers' principals and
/// the reasons.
struct RuleDraft {
    ports: Option<Vec<u16>>,
    principals: Vec<String>,
    reasons: Vec<String>,
}

/// The `rules:` items of an ALLOW policy, and its reasons (after `reasons`): one rule per draft, with `also` (a
/// waypoint's principal) among the principals.
fn allow_rules(rules: &[RuleDraft], also: Option<&str>, mut reasons: Vec<String>) -> (String, Vec<String>) {
    let mut body = String::new();
    for (index, rule) in rules.iter().enumerate() {
        let mut principals = rule.principals.clone();
        principals.extend(also.map(str::to_string));
        principals.sort();
        principals.dedup();
        body.push_str(&format!("  - from:\n    - source:\n        principals: {}\n", quoted_list(&principals)));
        if let Some(ports) = &rule.ports {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            body.push_str(&format!("    to:\n    - operation:\n        ports: {}\n", quoted_list(&ports)));
        }
        reasons.extend(rule.reasons.iter().map(|r| format!("rules[{index}]: {r}")));
        if let Some(also) = also {
            reasons.push(format!("rules[{index}]: the waypoint, as {also}, forwarding those callers' requests"));
        }
    }
    (body, reasons)
}

pub(crate) struct IstioWriter {
    taken: BTreeSet<(String, String)>,
    trust_domain: String,
}

impl IstioWriter {
    pub(crate) fn new(cluster: &Cluster) -> IstioWriter {
        let istio = &cluster.mesh.istio;
        IstioWriter {
            taken: istio.authorization_policies.iter().map(|p| (p.namespace.clone(), p.name.clone())).collect(),
            trust_domain: istio.config.trust_domain.clone(),
        }
    }
}

/// The principals of a workload's pods: one per service account they run as.
pub(crate) fn principals(cluster: &Cluster, trust_domain: &str, workload: usize) -> Vec<String> {
    let w = &cluster.workloads[workload];
    let accounts: BTreeSet<&str> = w.pods.iter().map(|p| Cluster::service_account(&p.facts)).collect();
    accounts.into_iter().map(|sa| istio_principal(trust_domain, &w.id.namespace, sa)).collect()
}

fn quoted_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| serde_json::Value::String(i.clone()).to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn match_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{}: {}", scalar(k), scalar(v))).collect();
    format!("{{{}}}", pairs.join(", "))
}

impl Writer for IstioWriter {
    fn allow_nothing(
        &mut self,
        cluster: &Cluster,
        namespaces: &[String],
        _targets: &[usize],
        _planes: &[Option<Dataplane>],
        _plan: &Plan,
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument> {
        let mut documents = Vec::new();
        for ns in namespaces {
            let existing = cluster.mesh.istio.authorization_policies.iter().find(|p| {
                &p.namespace == ns
                    && p.action == AuthorizationAction::Allow
                    && !p.dry_run
                    && p.rules.is_empty()
                    && match &p.target {
                        PolicyTarget::Namespace => true,
                        PolicyTarget::Selector(labels) => labels.is_empty(),
                        PolicyTarget::TargetRefs(_) => false,
                    }
            });
            if let Some(existing) = existing {
                notes.push(format!(
                    "Istio namespace {ns} already allows nothing by default ({KIND} {ns}/{}, {}): no allow-nothing is written",
                    existing.name, existing.location
                ));
                continue;
            }
            let name = unique_name(&mut self.taken, ns, "allow-nothing");
            let reasons = [format!(
                "allow-nothing for every workload of {ns}: an ALLOW policy without rules matches no request, so only \
                 what the other ALLOW policies name gets through"
            )];
            let yaml =
                format!("apiVersion: {API_VERSION}\nkind: {KIND}\n{}spec: {{}}\n", metadata(&name, ns, &reasons));
            documents.push(MeshDocument { namespace: ns.clone(), kind: KIND, name, yaml });
        }
        documents
    }

    fn allows(
        &mut self,
        cluster: &Cluster,
        protected: &mut Vec<Protected>,
        planes: &[Option<Dataplane>],
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument> {
        let mut documents = Vec::new();
        protected.retain(|entry| {
            let w = &cluster.workloads[entry.workload];
            let selector = stable_selector(w);
            // Istio's workload selector has matchLabels only.
            if selector.match_labels.is_empty() || !selector.match_expressions.is_empty() {
                notes.push(format!(
                    "{} cannot be selected by an Istio workload selector (matchLabels only; its selector is {selector}): \
                     no ALLOW policy names its callers",
                    w.id
                ));
                return false;
            }
            // One rule per port set, naming every caller that needs exactly those ports.
            let mut rules: Vec<RuleDraft> = Vec::new();
            for caller in &entry.callers {
                let ports = listed_ports(&caller.ports);
                if ports.is_none() {
                    notes.push(format!(
                        "{} calls {} on {}: too many ports to list, so its rule names no port",
                        cluster.workloads[caller.workload].id, w.id, caller.ports
                    ));
                }
                let principals = principals(cluster, &self.trust_domain, caller.workload);
                let caller_id = &cluster.workloads[caller.workload].id;
                let reasons: Vec<String> = caller
                    .reasons
                    .iter()
                    .map(|r| format!("{caller_id} as {}: {r}", principals.join(", ")))
                    .collect();
                match rules.iter_mut().find(|rule| rule.ports == ports) {
                    Some(rule) => {
                        rule.principals.extend(principals);
                        rule.reasons.extend(reasons);
                    }
                    None => rules.push(RuleDraft { ports, principals, reasons }),
                }
            }
            let ns = &w.id.namespace;
            // Behind an ambient waypoint, requests through it reach the pod with the waypoint's identity and meet
            // the waypoint's own (targetRefs) policies: the callers are named there, and the pod's ztunnel admits
            // the waypoint (and the callers' direct connections).
            let waypoint = planes[entry.workload].as_ref().and_then(|p| p.waypoint.clone());
            let services: Vec<String> = cluster
                .services
                .iter()
                .filter(|s| &s.namespace == ns && w.pods.iter().any(|p| s.selects(&p.facts.labels)))
                .map(|s| s.name.clone())
                .collect();
            let mut via = None;
            if let Some(waypoint) = &waypoint {
                if services.is_empty() {
                    notes.push(format!(
                        "{} is served by the ambient waypoint {waypoint}, but no Service selects it, so no request \
                         goes through the waypoint: only its callers' direct connections are admitted",
                        w.id
                    ));
                } else {
                    let (waypoint_ns, waypoint_name) = waypoint.split_once('/').unwrap_or((ns, waypoint));
                    via = Some(istio_principal(&self.trust_domain, waypoint_ns, waypoint_name));
                }
            }
            let name = unique_name(&mut self.taken, ns, &format!("{}-allow", w.id.name));
            let purpose = match &waypoint {
                Some(waypoint) if via.is_some() => format!(
                    "who may call {} directly at its ztunnel, and on which ports; the ambient waypoint {waypoint} \
                     is admitted on the same ports, to forward what its own policy admits",
                    w.id
                ),
                _ => format!("who may call {} through its Istio proxy, and on which ports", w.id),
            };
            let at_pod = allow_rules(&rules, via.as_deref(), vec![purpose]);
            let yaml = format!(
                "apiVersion: {API_VERSION}\nkind: {KIND}\n{}spec:\n  selector:\n    matchLabels: {}\n  action: ALLOW\n  rules:\n{}",
                metadata(&name, ns, &at_pod.1),
                match_labels(&selector.match_labels),
                at_pod.0
            );
            documents.push(MeshDocument { namespace: ns.clone(), kind: KIND, name, yaml });
            if let (Some(waypoint), Some(_)) = (&waypoint, &via) {
                let name = unique_name(&mut self.taken, ns, &format!("{}-waypoint-allow", w.id.name));
                let purpose = format!(
                    "who may call {} through the ambient waypoint {waypoint} (attached to its Services), and on \
                     which ports",
                    w.id
                );
                let at_waypoint = allow_rules(&rules, None, vec![purpose]);
                let refs: Vec<String> =
                    services.iter().map(|s| format!("  - {{group: \"\", kind: Service, name: {}}}\n", scalar(s))).collect();
                let yaml = format!(
                    "apiVersion: {API_VERSION}\nkind: {KIND}\n{}spec:\n  targetRefs:\n{}  action: ALLOW\n  rules:\n{}",
                    metadata(&name, ns, &at_waypoint.1),
                    refs.concat(),
                    at_waypoint.0
                );
                documents.push(MeshDocument { namespace: ns.clone(), kind: KIND, name, yaml });
            }
            true
        });
        documents
    }

    fn advise(&self, cluster: &Cluster, namespaces: &[String], notes: &mut Vec<String>) {
        let istio = &cluster.mesh.istio;
        let root = &istio.config.root_namespace;
        let wide = |ns: &str| {
            istio
                .peer_authentications
                .iter()
                .filter(|p| p.namespace == ns && p.selector.as_ref().is_none_or(|s| s.is_empty()))
                .find_map(|p| p.mode)
        };
        for ns in namespaces {
            let mode = wide(ns).or_else(|| wide(root));
            if mode == Some(MtlsMode::Strict) {
                continue;
            }
            if mode == Some(MtlsMode::Disable) {
                notes.push(format!(
                    "mTLS in Istio namespace {ns} is DISABLE: no caller presents a principal, so the principal rules \
                     admit nobody (sidecars; ambient ignores DISABLE); a PeerAuthentication with mtls.mode STRICT \
                     for {ns} is advisable"
                ));
                continue;
            }
            let now = mode.map_or("PERMISSIVE (no PeerAuthentication sets it)", MtlsMode::as_str);
            notes.push(format!(
                "mTLS in Istio namespace {ns} is {now}: the principal rules refuse plaintext callers, which carry no \
                 principal, but a PeerAuthentication with mtls.mode STRICT for {ns} is advisable (it refuses them \
                 before any policy, and keeps refusing them if a policy is loosened); netseg does not write one"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_json_quoted_so_ports_stay_strings() {
        assert_eq!(
            quoted_list(&["9080".into(), "cluster.local/ns/a/sa/b".into()]),
            r#"["9080", "cluster.local/ns/a/sa/b"]"#
        );
    }
}
