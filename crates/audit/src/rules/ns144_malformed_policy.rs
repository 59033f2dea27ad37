use crate::{declare_rule, AuditContext, Finding, Resource, Severity};
use netseg_model::{Diagnostic, DiagnosticCode, Location, Severity as DiagnosticSeverity};

declare_rule! {
    /// ## What it does
    /// Reports input the API server would reject or silently change: an invalid CIDR, selector operator, port or
    /// `endPort`, a peer that mixes `ipBlock` with selectors, a wrong type, a YAML error (high: the object never
    /// exists, so the protection it describes is missing); and unknown or misplaced fields, which the API server
    /// drops (medium, or high when a dropped selector makes the policy select every pod).
    ///
    /// ## Why it matters
    /// The policy a reviewer reads is not the policy the cluster runs. A mis-indented selector is the classic:
    /// `matchLabels` one level too far out becomes an unknown field of `spec`, `podSelector` is empty, and the
    /// policy selects every pod in the namespace: every pod loses its ingress, while the pods it was meant for
    /// are no better protected than before.
    ///
    /// ## Example
    /// ```yaml
    /// spec:
    ///   matchLabels:             # should be under podSelector
    ///     app: mysql
    ///   ingress:
    ///   - from: [{podSelector: {matchLabels: {app: wordpress}}}]
    /// ```
    ///
    /// ## How to fix
    /// Follow the hint: here, indent `matchLabels` under `podSelector:`. Validate manifests with
    /// `kubectl apply --dry-run=server` before merging.
    pub static RULE = NS144 "malformed-policy" High;
}

/// The severity and the consequence of a loader diagnostic that this rule reports, or `None` for one it leaves to
/// stderr (notes, warnings about other things, and errors about the input as a whole, which every command reports
/// as `error[...]` and exit 2).
pub fn classify(diagnostic: &Diagnostic) -> Option<(Severity, &'static str)> {
    let about_policy = diagnostic.object.as_ref().is_some_and(|o| o.kind == "NetworkPolicy");
    match (diagnostic.severity, diagnostic.code) {
        (DiagnosticSeverity::Error, code) if code.about_input() => None,
        (DiagnosticSeverity::Error, _) => Some((Severity::High, "rejected: the object never exists in the cluster")),
        (DiagnosticSeverity::Warning, DiagnosticCode::UnknownField) if about_policy => {
            let dropped_selector =
                matches!(diagnostic.field.as_deref(), Some("spec.matchLabels" | "spec.matchExpressions"));
            Some(if dropped_selector {
                (Severity::High, "dropped by the API server: the policy selects every pod in its namespace")
            } else {
                (Severity::Medium, "dropped by the API server")
            })
        }
        _ => None,
    }
}

pub fn check(ctx: &AuditContext<'_>, out: &mut Vec<Finding>) {
    for diagnostic in ctx.diagnostics {
        let Some((severity, what)) = classify(diagnostic) else { continue };
        let resource = match &diagnostic.object {
            Some(object) => {
                Resource { kind: object.kind.clone(), namespace: object.namespace.clone(), name: object.name.clone() }
            }
            None => Resource { kind: "File".into(), namespace: None, name: diagnostic.file.to_string() },
        };
        let location = Some(Location { file: diagnostic.file.clone(), line: diagnostic.line.unwrap_or(1) });
        let field = diagnostic.field.as_deref().map(|f| format!("`{f}`: ")).unwrap_or_default();
        out.push(
            Finding::new(&RULE, resource, location)
                .severity(severity)
                .message(format!("{field}{}", diagnostic.message))
                .evidence(format!("{what} ({})", diagnostic.code.as_str()))
                .remediation(diagnostic.hint.clone().unwrap_or_else(|| "correct the field as the message says".into())),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::Severity;

    #[test]
    fn misindented_selector_is_high_with_the_hint() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  matchLabels: {{app: redis}}\n");
        let report = audit_yaml(&text);
        let findings = of(&report, "NS144");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::High);
        assert!(findings[0].remediation.contains("spec.podSelector.matchLabels"));
        assert_eq!(findings[0].location.as_ref().map(|l| l.line), Some(20));
    }

    #[test]
    fn rejected_policy_is_reported_and_valid_one_passes() {
        let text = format!("{FLAT}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - from: [{{ipBlock: {{cidr: 10.0.0.0/40}}}}]\n");
        assert_eq!(names(&audit_yaml(&text), "NS144"), ["shop/p"]);
        assert!(names(&audit_yaml(SEGMENTED), "NS144").is_empty());
    }
}
