use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::mesh::istio::{AuthorizationPolicy, PolicyTarget};
use netseg_model::mesh::linkerd::DefaultPolicy;
use netseg_model::mesh::MeshKind;
use std::collections::BTreeMap;

declare_rule! {
    /// ## What it does
    /// Reports a namespace whose workloads are in a service mesh that authorizes nothing for them: Istio
    /// workloads that no ALLOW (or CUSTOM) AuthorizationPolicy applies to, and Linkerd workloads with a port that
    /// no Server selects while their default inbound policy (pod, namespace or cluster) is not `deny`, and Consul
    /// workloads under the default intention allow with no ServiceIntentions about their services (their
    /// `connect-service` annotation, else the Services that select them, or `*`) that denies some client or request.
    /// One finding per namespace and mesh, naming the workloads.
    ///
    /// ## Why it matters
    /// A mesh is often taken for segmentation because it encrypts and identifies every connection. But without an
    /// authorization policy Istio allows every request, and Linkerd's default (`all-unauthenticated`) admits every
    /// client: the mesh then adds identity and nothing else. Consul's default intention is allow unless ACLs
    /// default to deny, and an intention that only allows refuses no one.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Namespace
    /// metadata: {name: shop, labels: {istio-injection: enabled}}
    /// # ... and no AuthorizationPolicy in shop or in istio-system
    /// ```
    ///
    /// ## How to fix
    /// Istio: an allow-nothing policy per namespace (`spec: {}`), then ALLOW policies per service from its callers'
    /// principals (`netseg generate` writes the NetworkPolicies for the same flows). Linkerd: set
    /// `config.linkerd.io/default-inbound-policy: deny` on the namespace and add a Server with an
    /// AuthorizationPolicy for each port.
    pub static RULE = NS193 "mesh-admits-every-client" Medium;
}

/// How many workloads a finding names before it counts the rest.
const NAMED: usize = 10;

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let cluster = ctx.cluster;
    let istio = &cluster.mesh.istio;
    let linkerd = &cluster.mesh.linkerd;
    let root = &istio.config.root_namespace;
    let mut open: BTreeMap<(&str, MeshKind), Vec<String>> = BTreeMap::new();
    for (index, workload) in cluster.workloads.iter().enumerate() {
        let (Some(pod), Some(plane)) = (workload.pods.first(), ctx.dataplane(index)) else { continue };
        let namespace_name = workload.id.namespace.as_str();
        let namespace = cluster.namespace(namespace_name);
        match plane.mesh {
            Some(MeshKind::Istio) => {
                let restricts = |policy: &&AuthorizationPolicy| {
                    policy.restricts_clients()
                        && !policy.rules.iter().any(|r| r.from.is_empty() && r.to.is_empty() && r.when.is_empty())
                };
                let at_pod = istio
                    .authorization_policies
                    .iter()
                    .filter(restricts)
                    .any(|p| p.applies_to(root, namespace_name, &pod.facts.labels));
                // Requests through an ambient waypoint meet its `targetRefs` policies, which this rule does not
                // resolve: a namespace with any is given the benefit of the doubt.
                let at_waypoint = plane.waypoint.is_some()
                    && istio.authorization_policies.iter().filter(restricts).any(|p| {
                        matches!(p.target, PolicyTarget::TargetRefs(_))
                            && (p.namespace == namespace_name || p.namespace == *root)
                    });
                if !at_pod && !at_waypoint {
                    open.entry((namespace_name, MeshKind::Istio)).or_default().push(workload.id.to_string());
                }
            }
            Some(MeshKind::Linkerd) => {
                let (default, source) = linkerd.config.default_policy_for(&pod.facts.annotations, namespace);
                if default == DefaultPolicy::Deny {
                    continue;
                }
                let servers: Vec<_> =
                    linkerd.servers.iter().filter(|s| s.selects(namespace_name, &pod.facts.labels)).collect();
                let served = |port: &netseg_model::ContainerPort| {
                    servers.iter().any(|server| server.names_port(&pod.facts.ports, port.port))
                };
                let unserved: Vec<String> =
                    pod.facts.ports.iter().filter(|p| !served(p)).map(|p| p.port.to_string()).collect();
                if servers.is_empty() || !unserved.is_empty() {
                    let ports =
                        if servers.is_empty() { String::new() } else { format!(" ports {}", unserved.join(", ")) };
                    open.entry((namespace_name, MeshKind::Linkerd)).or_default().push(format!(
                        "{}{ports} ({}, {source})",
                        workload.id,
                        default.as_str()
                    ));
                }
            }
            Some(MeshKind::Consul)
                if super::ns194_proxy_bypass_port::mesh_protection(cluster, workload, plane).is_none() =>
            {
                open.entry((namespace_name, MeshKind::Consul)).or_default().push(workload.id.to_string());
            }
            Some(MeshKind::Consul) | None => {}
        }
    }
    for ((namespace, mesh), workloads) in open {
        let location = cluster.namespace(namespace).and_then(|n| n.location.clone());
        let resource = Resource { kind: "Namespace".into(), namespace: None, name: namespace.into() };
        let named = super::list(&workloads, NAMED);
        let (what, fix) = match mesh {
            MeshKind::Istio => (
                "no ALLOW AuthorizationPolicy applies to them, so Istio allows every request",
                "add an allow-nothing AuthorizationPolicy (`spec: {}`) in the namespace, then ALLOW policies per service from its callers' principals",
            ),
            MeshKind::Consul => (
                "the default intention is allow and no ServiceIntentions about their services denies anyone, so Consul admits every client",
                "add a ServiceIntentions per service that allows its callers and denies `*`, or set the default intention to deny (acl.default_policy deny)",
            ),
            MeshKind::Linkerd => (
                "they have ports no Linkerd Server selects, under a default inbound policy that admits clients",
                "set config.linkerd.io/default-inbound-policy: deny on the namespace, and add a Server and an AuthorizationPolicy for each port",
            ),
        };
        out.push(
            Finding::new(&RULE, resource, location)
                .message(format!(
                    "{} workload(s) of namespace {namespace} are in the {} mesh, but {what}",
                    workloads.len(),
                    mesh.as_str()
                ))
                .evidence(format!("not restricted by the mesh: {named}"))
                .remediation(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const INJECTED: &str =
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n";

    #[test]
    fn a_meshed_namespace_without_authorization_is_reported_once() {
        let report = audit_yaml(&format!("{FLAT}{INJECTED}"));
        assert_eq!(names(&report, "NS193"), ["shop"]);
        let finding = &of(&report, "NS193")[0];
        assert!(finding.evidence.contains("shop/redis[Deployment]"), "{}", finding.evidence);
        assert!(finding.message.contains("Istio"), "{}", finding.message);
    }

    #[test]
    fn an_allow_nothing_policy_in_the_namespace_or_the_root_passes() {
        for namespace in ["shop", "istio-system"] {
            let policy = format!("---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: allow-nothing, namespace: {namespace}}}\nspec: {{}}\n");
            let report = audit_yaml(&format!("{FLAT}{INJECTED}{policy}"));
            assert!(names(&report, "NS193").is_empty(), "{namespace}");
        }
    }

    #[test]
    fn an_allow_everything_policy_or_a_deny_only_policy_still_fails() {
        let allow_all = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: all, namespace: shop}\nspec: {rules: [{}]}\n";
        let deny = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-delete, namespace: shop}\nspec: {action: DENY, rules: [{to: [{operation: {methods: [DELETE]}}]}]}\n";
        for policy in [allow_all, deny] {
            assert_eq!(names(&audit_yaml(&format!("{FLAT}{INJECTED}{policy}")), "NS193"), ["shop"]);
        }
    }

    #[test]
    fn linkerd_fails_under_the_default_policy_and_passes_under_deny() {
        let injected =
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, annotations: {linkerd.io/inject: enabled}}\n";
        let report = audit_yaml(&format!("{FLAT}{injected}"));
        assert_eq!(names(&report, "NS193"), ["shop"]);
        assert!(of(&report, "NS193")[0].evidence.contains("all-unauthenticated"));
        let denied = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, annotations: {linkerd.io/inject: enabled, config.linkerd.io/default-inbound-policy: deny}}\n";
        assert!(names(&audit_yaml(&format!("{FLAT}{denied}")), "NS193").is_empty());
    }

    #[test]
    fn workloads_outside_every_mesh_are_not_this_rules_business() {
        assert!(names(&audit_yaml(FLAT), "NS193").is_empty());
    }

    #[test]
    fn consul_fails_under_the_default_allow_and_passes_with_a_denying_intention() {
        let consul = FLAT.replace(
            "metadata: {labels: {app: redis}}",
            "metadata: {labels: {app: redis}, annotations: {consul.hashicorp.com/connect-inject: \"true\"}}",
        );
        let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: redis, namespace: shop}\nspec: {selector: {app: redis}, ports: [{port: 6379}]}\n";
        let report = audit_yaml(&format!("{consul}{service}"));
        assert_eq!(names(&report, "NS193"), ["shop"]);
        let finding = &of(&report, "NS193")[0];
        assert!(finding.message.contains("Consul mesh"), "{}", finding.message);
        assert_eq!(finding.evidence, "not restricted by the mesh: shop/redis[Deployment]");
        // An intention that only allows refuses no one under the default allow.
        let allow_only = "---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: redis, namespace: shop}\nspec: {destination: {name: redis}, sources: [{name: web, action: allow}]}\n";
        assert_eq!(names(&audit_yaml(&format!("{consul}{service}{allow_only}")), "NS193"), ["shop"]);
        // A `*` intention that denies covers every service.
        let deny_all = "---\napiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceIntentions\nmetadata: {name: default-deny, namespace: consul}\nspec: {destination: {name: \"*\"}, sources: [{name: \"*\", action: deny}]}\n";
        assert!(names(&audit_yaml(&format!("{consul}{service}{deny_all}")), "NS193").is_empty());
    }
}
