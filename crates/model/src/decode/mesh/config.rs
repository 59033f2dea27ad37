//! The meshes' settings from their ConfigMaps: Istio's `istio` (the `mesh` key: root namespace, trust domain),
//! Linkerd's `linkerd-config` (the `values` key: default inbound policy, trust domain, cluster networks) and
//! Consul's server config (`acl.default_policy`, which decides the default intention).

use super::linkerd::parse_cidr;
use super::warn;
use crate::decode::{join, Ctx};
use crate::kube::Location;
use crate::mesh::consul::{ConsulConfig, IntentionAction};
use crate::mesh::istio::{MeshConfig, ISTIO_CONFIG};
use crate::mesh::linkerd::LINKERD_CONFIG;
use crate::mesh::linkerd::{DefaultPolicy, LinkerdConfig};
use crate::mesh::Meshes;
use crate::yaml::{parse_all, Node, Value};

/// Which mesh setting a ConfigMap holds, by its name.
pub(crate) fn is_mesh_config(name: &str) -> bool {
    name == ISTIO_CONFIG || name == LINKERD_CONFIG || name.ends_with("consul-server-config")
}

/// A mesh setting read from a ConfigMap, to be put in place in input order (a later one replaces an earlier one).
#[derive(Debug)]
pub(crate) enum MeshSetting {
    Istio(MeshConfig),
    Linkerd(LinkerdConfig),
    Consul(ConsulConfig),
}

impl MeshSetting {
    pub(crate) fn put_into(self, meshes: &mut Meshes) {
        match self {
            MeshSetting::Istio(config) => meshes.istio.config = config,
            MeshSetting::Linkerd(config) => meshes.linkerd.config = config,
            MeshSetting::Consul(config) => meshes.consul.config = config,
        }
    }
}

/// Reads a mesh ConfigMap's settings; what cannot be read is a warning and keeps the defaults (`None`).
pub(crate) fn config_map(ctx: &mut Ctx<'_>, root: &Node, name: &str, location: &Location) -> Option<MeshSetting> {
    let data = root.get("data")?;
    if name == ISTIO_CONFIG {
        istio_mesh_config(ctx, data.get("mesh")?, location).map(MeshSetting::Istio)
    } else if name == LINKERD_CONFIG {
        linkerd_config(ctx, data.get("values")?, location).map(MeshSetting::Linkerd)
    } else if let Value::Map(entries) = &data.value {
        // Every value is read (and warned about); the last one that reads wins, as when each was put in place.
        let mut setting = None;
        for (key, value) in entries {
            if let Some(config) = consul_config(ctx, value, &join("data", key), location) {
                setting = Some(MeshSetting::Consul(config));
            }
        }
        setting
    } else {
        None
    }
}

/// The embedded YAML (or JSON) of a ConfigMap value, or `None` after a warning.
fn embedded(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<Node> {
    let text = node.as_str()?;
    let (documents, error) = parse_all(text);
    if let Some(error) = error {
        warn(
            ctx,
            node.line,
            field,
            format!("cannot read the embedded configuration ({}); netseg uses the defaults", error.message),
        );
        return None;
    }
    documents.into_iter().next().filter(|d| matches!(d.value, Value::Map(_)))
}

fn istio_mesh_config(ctx: &mut Ctx<'_>, node: &Node, location: &Location) -> Option<MeshConfig> {
    let mesh = embedded(ctx, node, "data.mesh")?;
    let mut config = MeshConfig { location: Some(location.clone()), ..MeshConfig::default() };
    if let Some(root) = mesh.get("rootNamespace").and_then(Node::as_str).filter(|r| !r.is_empty()) {
        config.root_namespace = root.to_string();
    }
    if let Some(domain) = mesh.get("trustDomain").and_then(Node::as_str).filter(|d| !d.is_empty()) {
        config.trust_domain = domain.to_string();
    }
    if let Some(Value::Seq(aliases)) = mesh.get("trustDomainAliases").map(|a| &a.value) {
        config.trust_domain_aliases = aliases.iter().filter_map(Node::as_str).map(str::to_string).collect();
    }
    Some(config)
}

fn linkerd_config(ctx: &mut Ctx<'_>, node: &Node, location: &Location) -> Option<LinkerdConfig> {
    let values = embedded(ctx, node, "data.values")?;
    let mut config = LinkerdConfig { location: Some(location.clone()), ..LinkerdConfig::default() };
    let policy = values
        .get("proxy")
        .and_then(|p| p.get("defaultInboundPolicy"))
        .or_else(|| values.get("policyController").and_then(|p| p.get("defaultAllowPolicy")))
        .and_then(Node::as_str);
    if let Some(text) = policy {
        match DefaultPolicy::parse(text) {
            Some(parsed) => config.default_inbound_policy = parsed,
            None => warn(
                ctx,
                node.line,
                "data.values",
                format!(
                    "default inbound policy `{text}` is not one of {}; netseg uses all-unauthenticated",
                    DefaultPolicy::VALUES
                ),
            ),
        }
    }
    if let Some(domain) = values.get("identityTrustDomain").and_then(Node::as_str).filter(|d| !d.is_empty()) {
        config.trust_domain = domain.to_string();
    }
    if let Some(networks) = values.get("clusterNetworks").and_then(Node::as_str) {
        let parsed: Vec<_> = networks.split(',').filter(|n| !n.trim().is_empty()).map(|n| (n, parse_cidr(n))).collect();
        if let Some((bad, _)) = parsed.iter().find(|(_, cidr)| cidr.is_none()) {
            warn(
                ctx,
                node.line,
                "data.values",
                format!("clusterNetworks entry `{}` is not a CIDR; netseg uses the defaults", bad.trim()),
            );
        } else if !parsed.is_empty() {
            config.cluster_networks = parsed.into_iter().filter_map(|(_, cidr)| cidr).collect();
        }
    }
    Some(config)
}

fn consul_config(ctx: &mut Ctx<'_>, node: &Node, field: &str, location: &Location) -> Option<ConsulConfig> {
    let text = node.as_str()?;
    if !text.contains("\"acl\"") && !text.contains("acl:") && !text.contains("acl {") {
        return None;
    }
    let config = embedded(ctx, node, field)?;
    let acl = config.get("acl")?;
    let enabled = matches!(acl.get("enabled").map(|e| &e.value), Some(Value::Bool(true)));
    let policy = acl.get("default_policy").and_then(Node::as_str).unwrap_or("allow");
    let (default_intention, source) = if !enabled {
        (IntentionAction::Allow, format!("ACLs disabled in {field}: intentions default to allow"))
    } else if policy == "deny" {
        (IntentionAction::Deny, format!("acl.default_policy deny in {field}"))
    } else {
        (IntentionAction::Allow, format!("acl.default_policy {policy} in {field}"))
    };
    Some(ConsulConfig { default_intention, location: Some(location.clone()), source })
}
