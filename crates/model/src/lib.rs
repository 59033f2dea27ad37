//! netseg's model: reads Kubernetes manifests (files, directories, stdin; YAML, JSON, Lists, dumps) into
//! validated, narrow structs that remember their file and line. Nothing here knows about connectivity.

pub mod calico;
pub mod calico_selector;
pub mod cidr;
pub mod cilium;
pub mod cluster;
pub mod cni;
pub mod config;
mod decode;
pub mod diag;
mod intern;
pub mod json;
pub mod kube;
mod labels;
pub mod load;
pub mod mesh;
pub mod parallel;
pub mod selector;
pub mod unmodelled;
pub mod yaml;

pub use calico::{CalicoObjects, CalicoPolicy, CalicoPolicyKind, ServiceAccount};
pub use calico_selector::CalicoSelector;
pub use cidr::Cidr;
pub use cilium::{CiliumConfig, CiliumPolicy, CiliumPolicyKind, PolicyEnforcement};
pub use cluster::{Cluster, Pod, Workload};
pub use config::{ConfigKind, ConfigMap, ConfigRef, ConfigUse, ConfigValue, SecretKeys};
pub use diag::{Diagnostic, DiagnosticCode, ObjectRef, Severity};
pub use kube::*;
pub use load::{
    load, load_api_list, load_bytes, load_embedded_object, load_inputs, load_json_in_parts, load_with, Input,
    Inventory, Limits,
};
pub use selector::{LabelSelector, Labels, Operator, Requirement, NAMESPACE_NAME_LABEL};
pub use unmodelled::{Selection, UnmodelledPolicy};
pub use yaml::ParseLimits;

/// Loads the inputs and assembles the cluster; the diagnostics say what was left out and why. Objects that name
/// no namespace go to `default_namespace` (`default` when `None`).
pub fn load_cluster(inputs: &[Input], default_namespace: Option<&str>) -> (Cluster, Vec<Diagnostic>) {
    load_cluster_with(inputs, default_namespace, Limits::default())
}

/// [`load_cluster`] under explicit limits.
pub fn load_cluster_with(
    inputs: &[Input],
    default_namespace: Option<&str>,
    limits: Limits,
) -> (Cluster, Vec<Diagnostic>) {
    let mut inventory = load_with(inputs, default_namespace, limits);
    let diagnostics = std::mem::take(&mut inventory.diagnostics);
    (Cluster::from_inventory(inventory), diagnostics)
}
