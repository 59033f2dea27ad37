//! References between mesh objects that only the whole input can check: a Linkerd policy whose target or
//! authentication the input does not define authorizes nothing, which the policy controller does quietly.

use crate::diag::{Diagnostic, DiagnosticCode, ObjectRef, Severity};
use crate::kube::Location;
use crate::mesh::linkerd::{AuthenticationKind, AuthorizationTarget, Linkerd, ServerRef};

fn warning(
    kind: &str,
    namespace: &str,
    name: &str,
    location: &Location,
    line: u32,
    field: &str,
    message: String,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        code: DiagnosticCode::InvalidValue,
        file: location.file.clone(),
        line: Some(line),
        object: Some(ObjectRef { kind: kind.into(), namespace: Some(namespace.into()), name: name.into() }),
        field: Some(field.into()),
        message,
        hint: None,
    }
}

pub(crate) fn check(linkerd: &Linkerd) -> Vec<Diagnostic> {
    let server_exists =
        |namespace: &str, name: &str| linkerd.servers.iter().any(|s| s.namespace == namespace && s.name == name);
    let mut diagnostics = Vec::new();
    for policy in &linkerd.authorization_policies {
        let missing = match &policy.target {
            AuthorizationTarget::Server(name) if !server_exists(&policy.namespace, name) => Some(("Server", name)),
            AuthorizationTarget::HttpRoute(name)
                if !linkerd.http_routes.iter().any(|r| r.namespace == policy.namespace && r.name == *name) =>
            {
                Some(("HTTPRoute", name))
            }
            _ => None,
        };
        if let Some((kind, name)) = missing {
            diagnostics.push(warning(
                "AuthorizationPolicy",
                &policy.namespace,
                &policy.name,
                &policy.location,
                policy.target_line,
                "spec.targetRef.name",
                format!(
                    "targets {kind} `{name}`, which the input does not define in namespace {}: the policy authorizes \
                     nothing",
                    policy.namespace
                ),
            ));
        }
        for (index, reference) in policy.required.iter().enumerate() {
            let exists = match reference.kind {
                AuthenticationKind::MeshTls => linkerd
                    .mesh_tls_authentications
                    .iter()
                    .any(|a| a.namespace == reference.namespace && a.name == reference.name),
                AuthenticationKind::Network => linkerd
                    .network_authentications
                    .iter()
                    .any(|a| a.namespace == reference.namespace && a.name == reference.name),
                AuthenticationKind::ServiceAccount => true,
            };
            if !exists {
                let kind = match reference.kind {
                    AuthenticationKind::MeshTls => "MeshTLSAuthentication",
                    _ => "NetworkAuthentication",
                };
                diagnostics.push(warning(
                    "AuthorizationPolicy",
                    &policy.namespace,
                    &policy.name,
                    &policy.location,
                    reference.line,
                    &format!("spec.requiredAuthenticationRefs[{index}].name"),
                    format!(
                        "requires {kind} `{}/{}`, which the input does not define: Linkerd's policy controller ignores \
                         the policy, so it authorizes nobody",
                        reference.namespace, reference.name
                    ),
                ));
            }
        }
    }
    for authorization in &linkerd.server_authorizations {
        if let ServerRef::Name(name) = &authorization.server {
            if !server_exists(&authorization.namespace, name) {
                diagnostics.push(warning(
                    "ServerAuthorization",
                    &authorization.namespace,
                    &authorization.name,
                    &authorization.location,
                    authorization.server_line,
                    "spec.server.name",
                    format!("names Server `{name}`, which the input does not define: it authorizes nothing"),
                ));
            }
        }
    }
    for route in &linkerd.http_routes {
        for server in &route.servers {
            if !server_exists(&route.namespace, server) {
                diagnostics.push(warning(
                    "HTTPRoute",
                    &route.namespace,
                    &route.name,
                    &route.location,
                    route.location.line,
                    "spec.parentRefs",
                    format!("attaches to Server `{server}`, which the input does not define"),
                ));
            }
        }
    }
    diagnostics
}
