//! The service meshes' objects, validated as their API servers and admission webhooks do: an object the CRD
//! schema or the mesh's validating webhook (istiod's, Linkerd's policy validator, Consul's) refuses is an error
//! and left out; one they accept but that cannot mean what it says (a principal that matches no identity, a path
//! that is not a path) is a warning and kept as stored.

pub(crate) mod config;
pub(crate) mod consul;
pub(crate) mod istio;
pub(crate) mod linkerd;
pub(crate) mod references;

use super::{join, Ctx};
use crate::diag::{DiagnosticCode, Severity};
use crate::kube::{Location, Suppression};
use crate::mesh::{consul as c, istio as i, linkerd as l};
use crate::yaml::Node;

/// One mesh object, decoded.
pub(crate) enum MeshObject {
    IstioAuthorization(i::AuthorizationPolicy),
    IstioPeerAuthentication(i::PeerAuthentication),
    LinkerdServer(l::Server),
    LinkerdServerAuthorization(l::ServerAuthorization),
    LinkerdAuthorization(l::AuthorizationPolicy),
    LinkerdMeshTls(l::MeshTlsAuthentication),
    LinkerdNetwork(l::NetworkAuthentication),
    LinkerdRoute(l::HttpRoute),
    ConsulIntentions(c::ServiceIntentions),
    ConsulServiceDefaults(c::ServiceDefaults),
    ConsulProxyDefaults(c::ServiceDefaults),
}

/// The mesh kinds netseg reads, by kind and API group (any served version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MeshKind {
    IstioAuthorization,
    IstioPeerAuthentication,
    LinkerdServer,
    LinkerdServerAuthorization,
    LinkerdAuthorization,
    LinkerdMeshTls,
    LinkerdNetwork,
    LinkerdRoute,
    GatewayRoute,
    ConsulIntentions,
    ConsulServiceDefaults,
    ConsulProxyDefaults,
}

impl MeshKind {
    /// The kind for `kind` of `apiVersion`, or `None` for kinds netseg does not read. Versions the mesh does
    /// not serve are `Err` with the versions it does.
    pub(crate) fn of(kind: &str, api_version: &str) -> Option<Result<MeshKind, &'static str>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (mesh_kind, served): (MeshKind, &'static [&'static str]) = match (group, kind) {
            ("security.istio.io", "AuthorizationPolicy") => (MeshKind::IstioAuthorization, &["v1", "v1beta1"]),
            ("security.istio.io", "PeerAuthentication") => (MeshKind::IstioPeerAuthentication, &["v1", "v1beta1"]),
            ("policy.linkerd.io", "Server") => {
                (MeshKind::LinkerdServer, &["v1alpha1", "v1beta1", "v1beta2", "v1beta3"])
            }
            ("policy.linkerd.io", "ServerAuthorization") => {
                (MeshKind::LinkerdServerAuthorization, &["v1alpha1", "v1beta1"])
            }
            ("policy.linkerd.io", "AuthorizationPolicy") => (MeshKind::LinkerdAuthorization, &["v1alpha1"]),
            ("policy.linkerd.io", "MeshTLSAuthentication") => (MeshKind::LinkerdMeshTls, &["v1alpha1"]),
            ("policy.linkerd.io", "NetworkAuthentication") => (MeshKind::LinkerdNetwork, &["v1alpha1"]),
            ("policy.linkerd.io", "HTTPRoute") => {
                (MeshKind::LinkerdRoute, &["v1alpha1", "v1beta1", "v1beta2", "v1beta3"])
            }
            ("gateway.networking.k8s.io", "HTTPRoute") => (MeshKind::GatewayRoute, &["v1", "v1beta1", "v1alpha2"]),
            ("consul.hashicorp.com", "ServiceIntentions") => (MeshKind::ConsulIntentions, &["v1alpha1"]),
            ("consul.hashicorp.com", "ServiceDefaults") => (MeshKind::ConsulServiceDefaults, &["v1alpha1"]),
            ("consul.hashicorp.com", "ProxyDefaults") => (MeshKind::ConsulProxyDefaults, &["v1alpha1"]),
            _ => return None,
        };
        Some(if served.contains(&version) { Ok(mesh_kind) } else { Err(served_list(served)) })
    }
}

fn served_list(served: &'static [&'static str]) -> &'static str {
    match served {
        ["v1", "v1beta1"] => "v1 and v1beta1",
        ["v1alpha1"] => "v1alpha1",
        ["v1alpha1", "v1beta1"] => "v1alpha1 and v1beta1",
        ["v1", "v1beta1", "v1alpha2"] => "v1, v1beta1 and v1alpha2",
        _ => "v1alpha1 to v1beta3",
    }
}

/// The fields every object has at its top.
pub(crate) const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// What a mesh decoder needs of the object besides its tree.
pub(crate) struct Object<'a> {
    pub namespace: String,
    pub name: String,
    pub labels: &'a crate::selector::Labels,
    pub created: Option<String>,
    pub ignore: Suppression,
    pub location: Location,
}

pub(crate) fn decode(ctx: &mut Ctx<'_>, kind: MeshKind, root: &Node, object: Object<'_>) -> Option<MeshObject> {
    Some(match kind {
        MeshKind::IstioAuthorization => MeshObject::IstioAuthorization(istio::authorization_policy(ctx, root, object)),
        MeshKind::IstioPeerAuthentication => {
            MeshObject::IstioPeerAuthentication(istio::peer_authentication(ctx, root, object))
        }
        MeshKind::LinkerdServer => MeshObject::LinkerdServer(linkerd::server(ctx, root, object)),
        MeshKind::LinkerdServerAuthorization => {
            MeshObject::LinkerdServerAuthorization(linkerd::server_authorization(ctx, root, object))
        }
        MeshKind::LinkerdAuthorization => {
            MeshObject::LinkerdAuthorization(linkerd::authorization_policy(ctx, root, object))
        }
        MeshKind::LinkerdMeshTls => MeshObject::LinkerdMeshTls(linkerd::mesh_tls_authentication(ctx, root, object)),
        MeshKind::LinkerdNetwork => MeshObject::LinkerdNetwork(linkerd::network_authentication(ctx, root, object)),
        MeshKind::LinkerdRoute => MeshObject::LinkerdRoute(linkerd::http_route(ctx, root, object, false)?),
        MeshKind::GatewayRoute => MeshObject::LinkerdRoute(linkerd::http_route(ctx, root, object, true)?),
        MeshKind::ConsulIntentions => MeshObject::ConsulIntentions(consul::service_intentions(ctx, root, object)),
        MeshKind::ConsulServiceDefaults => {
            MeshObject::ConsulServiceDefaults(consul::service_defaults(ctx, root, object, false))
        }
        MeshKind::ConsulProxyDefaults => {
            MeshObject::ConsulProxyDefaults(consul::service_defaults(ctx, root, object, true))
        }
    })
}

/// A warning about a field the mesh accepts but that cannot do what it seems to.
pub(crate) fn warn(ctx: &mut Ctx<'_>, line: u32, field: &str, message: impl Into<String>) {
    ctx.push(Severity::Warning, DiagnosticCode::InvalidValue, line, field, message.into());
}

/// A list of strings, each with its line and its field path (`spec.rules[0].from[0].source.principals[1]`).
pub(crate) fn strings(ctx: &mut Ctx<'_>, parent: &Node, key: &str, field: &str) -> Vec<(String, u32, String)> {
    let Some(list) = parent.get(key) else { return Vec::new() };
    let list_field = join(field, key);
    let mut values = Vec::new();
    for (index, item) in ctx.seq(list, &list_field).iter().enumerate() {
        let item_field = format!("{list_field}[{index}]");
        if let Some(text) = ctx.string(item, &item_field) {
            values.push((text, item.line, item_field));
        }
    }
    values
}

/// `metadata.annotations` of an object, whatever their prefix (the mesh decoders read a few of their own).
pub(crate) fn annotation<'n>(root: &'n Node, key: &str) -> Option<&'n Node> {
    root.get("metadata").and_then(|m| m.get("annotations")).and_then(|a| a.get(key))
}

#[cfg(test)]
mod tests;
