//! The service meshes' own authorization: Istio, Linkerd and Consul objects as narrow structs, the mesh settings
//! read from their ConfigMaps (or given as flags), and which pods each mesh's proxy stands in front of.
//!
//! Nothing here decides a connection; the engine's mesh layer does. What is kept is what that layer needs: the
//! policies with their rules, the identities they name, and each pod's dataplane (sidecar, ambient, none) with
//! the ports its proxy does not capture.

pub mod consul;
pub mod istio;
pub mod linkerd;
mod membership;
mod strings;

pub use membership::{dataplane, parse_port_list, Dataplane, MeshKind};
pub use strings::{glob_matches, StringMatch};

/// Every mesh object read, and the settings they are evaluated under.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meshes {
    pub istio: istio::Istio,
    pub linkerd: linkerd::Linkerd,
    pub consul: consul::Consul,
}

impl Meshes {
    /// Whether the input holds any mesh policy object (settings alone do not count).
    pub fn has_policies(&self) -> bool {
        !self.istio.authorization_policies.is_empty()
            || !self.istio.peer_authentications.is_empty()
            || !self.linkerd.servers.is_empty()
            || !self.linkerd.server_authorizations.is_empty()
            || !self.linkerd.authorization_policies.is_empty()
            || !self.consul.intentions.is_empty()
    }
}

/// The annotation prefixes the meshes read on pods and namespaces; other annotations are not kept.
pub const ANNOTATION_PREFIXES: &[&str] = &[
    "sidecar.istio.io/",
    "traffic.sidecar.istio.io/",
    "istio.io/",
    "ambient.istio.io/",
    "linkerd.io/",
    "config.linkerd.io/",
    "consul.hashicorp.com/",
];

/// Whether an annotation is one the mesh layer reads.
pub fn is_mesh_annotation(key: &str) -> bool {
    ANNOTATION_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

/// A Kubernetes ServiceAccount's mesh identities, as each mesh spells them.
pub fn istio_principal(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("{trust_domain}/ns/{namespace}/sa/{service_account}")
}

pub fn linkerd_identity(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("{service_account}.{namespace}.serviceaccount.identity.linkerd.{trust_domain}")
}
