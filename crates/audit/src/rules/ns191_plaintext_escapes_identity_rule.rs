use crate::{declare_rule, AuditContext, Finding, Resource};
use netseg_model::mesh::istio::{AuthorizationAction, MtlsMode, PeerAuthentication, Rule};
use netseg_model::Location;

declare_rule! {
    /// ## What it does
    /// Reports Istio AuthorizationPolicy rules on client identities that a plaintext client escapes, where mTLS
    /// is not STRICT (PERMISSIVE, Istio's default, or DISABLE): an ALLOW rule with `notPrincipals` or
    /// `notNamespaces`, and a DENY rule with `principals` or `namespaces`. The mode is the namespace's
    /// PeerAuthentication, else the mesh-wide one in the root namespace; a namespace with a workload-level STRICT
    /// PeerAuthentication is not judged.
    ///
    /// ## Why it matters
    /// Under PERMISSIVE mTLS a client outside the mesh connects in plaintext and has no principal and no
    /// namespace. "Any principal but X" then matches it, so the ALLOW rule admits anyone who can reach the pod
    /// (Istio's security bulletin ISTIO-SECURITY-2021-004), and "deny principal X" does not match it, so the DENY
    /// rule stops nobody who drops mTLS.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: not-from-test, namespace: shop}
    /// spec:
    ///   rules: [{from: [{source: {notNamespaces: [test]}}]}]
    /// ```
    ///
    /// ## How to fix
    /// Set a STRICT PeerAuthentication on the namespace (or mesh-wide), or write the ALLOW rule with positive
    /// `principals`/`namespaces`, and back a DENY rule with `notPrincipals: ["*"]` coverage or STRICT mTLS.
    pub static RULE = NS191 "plaintext-escapes-identity-rule" Medium;
}

/// The identity fields of a rule that a plaintext client escapes under this action.
fn escaped(action: &AuthorizationAction, rule: &Rule) -> Vec<&'static str> {
    let mut fields = Vec::new();
    for source in &rule.from {
        match action {
            AuthorizationAction::Allow => {
                if !source.not_principals.is_empty() {
                    fields.push("notPrincipals");
                }
                if !source.not_namespaces.is_empty() {
                    fields.push("notNamespaces");
                }
            }
            AuthorizationAction::Deny => {
                if !source.principals.is_empty() {
                    fields.push("principals");
                }
                if !source.namespaces.is_empty() {
                    fields.push("namespaces");
                }
            }
            _ => {}
        }
    }
    fields.sort_unstable();
    fields.dedup();
    fields
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    let istio = &ctx.cluster.mesh.istio;
    let root = &istio.config.root_namespace;
    let wide = |namespace: &str| {
        istio
            .peer_authentications
            .iter()
            .find(|p| p.namespace == namespace && p.selector.as_ref().is_none_or(|s| s.is_empty()))
    };
    for policy in istio.authorization_policies.iter().filter(|p| !p.dry_run) {
        let workload_strict = istio.peer_authentications.iter().any(|p| {
            p.namespace == policy.namespace
                && p.selector.as_ref().is_some_and(|s| !s.is_empty())
                && p.mode == Some(MtlsMode::Strict)
        });
        if workload_strict {
            continue;
        }
        let in_force: Option<&PeerAuthentication> =
            [wide(&policy.namespace), wide(root)].into_iter().flatten().find(|p| p.mode.is_some());
        let mode = in_force.and_then(|p| p.mode).unwrap_or(MtlsMode::Permissive);
        if mode == MtlsMode::Strict {
            continue;
        }
        let mode_words = match in_force {
            Some(p) => format!("{} by PeerAuthentication {}/{} ({})", mode_name(mode), p.namespace, p.name, p.location),
            None => "PERMISSIVE (Istio's default: no PeerAuthentication sets a mode)".to_string(),
        };
        for (number, rule) in policy.rules.iter().enumerate() {
            let fields = escaped(&policy.action, rule);
            if fields.is_empty() {
                continue;
            }
            let resource = Resource {
                kind: "AuthorizationPolicy".into(),
                namespace: Some(policy.namespace.clone()),
                name: policy.name.clone(),
            };
            let location = Location { file: policy.location.file.clone(), line: rule.line };
            let effect = if policy.action == AuthorizationAction::Allow {
                "admits plaintext clients, which have no principal or namespace"
            } else {
                "does not stop plaintext clients, which have no principal or namespace"
            };
            out.push(
                Finding::new(&RULE, resource, Some(location))
                    .message(format!(
                        "rule {number} of AuthorizationPolicy {}/{} tests {} and {effect}",
                        policy.namespace,
                        policy.name,
                        fields.join(" and ")
                    ))
                    .evidence(format!("mTLS is {mode_words}"))
                    .remediation("set mTLS to STRICT for these workloads, or test positive identities in ALLOW rules"),
            );
        }
    }
}

fn mode_name(mode: MtlsMode) -> &'static str {
    match mode {
        MtlsMode::Strict => "STRICT",
        MtlsMode::Permissive => "PERMISSIVE",
        MtlsMode::Disable => "DISABLE",
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;

    const NOT_TEST: &str = "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: not-from-test, namespace: shop}\nspec:\n  rules:\n  - from: [{source: {notNamespaces: [test]}}]\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: from-shop, namespace: shop}\nspec:\n  rules:\n  - from: [{source: {namespaces: [shop]}}]\n";

    #[test]
    fn negative_identities_in_allow_rules_under_permissive_mtls_are_reported() {
        let report = audit_yaml(&format!("{FLAT}{NOT_TEST}"));
        assert_eq!(names(&report, "NS191"), ["shop/not-from-test"], "positive ALLOW identities are safe");
        let finding = &of(&report, "NS191")[0];
        assert!(finding.evidence.contains("PERMISSIVE"), "{}", finding.evidence);
        assert_eq!(finding.location.as_ref().map(|l| l.line as usize), Some(FLAT.lines().count() + 7));
    }

    #[test]
    fn strict_mtls_passes() {
        let strict = "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n";
        assert!(names(&audit_yaml(&format!("{FLAT}{NOT_TEST}{strict}")), "NS191").is_empty());
    }
}
