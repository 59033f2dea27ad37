//! ConfigMaps and Secrets, for the hosts an application is configured to talk to (issue #16).
//!
//! A ConfigMap keeps its `data` (not `binaryData`): a value consumed as an env variable or mounted as a file may
//! name a Service (`DB_URL: postgres://pg:5432/shop`). A Secret keeps its key names only: netseg never reads a
//! Secret's values, so none is in memory after its document is decoded, and none can be printed.

use crate::kube::Location;

/// Most ConfigMap data kept per ConfigMap: Kubernetes' own limit on an object's size (1 MiB). Keys past it are
/// dropped with a warning.
pub const MAX_CONFIG_MAP_BYTES: usize = 1 << 20;
/// Most ConfigMap data kept for the whole input (64 MiB). Keys past it are dropped with a warning.
pub const MAX_CONFIG_DATA_BYTES: u64 = 64 << 20;

/// A ConfigMap's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    pub namespace: String,
    pub name: String,
    /// In input order.
    pub data: Vec<ConfigValue>,
    pub location: Location,
}

/// One key of a ConfigMap's `data`, with the line its value was written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub key: String,
    pub value: String,
    pub line: u32,
}

impl ConfigMap {
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.data.iter().find(|v| v.key == key)
    }
}

/// A Secret, by its key names (`data` and `stringData`). Its values are never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeys {
    pub namespace: String,
    pub name: String,
    pub keys: Vec<String>,
    pub location: Location,
}

/// What a container reads from: a ConfigMap, or a Secret (whose values netseg never reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

/// How the container sees the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigUse {
    /// `env[].valueFrom.configMapKeyRef` (or `secretKeyRef`): the variable's name.
    Env(String),
    /// `envFrom[]`: every key, as a variable named `prefix` + key.
    EnvFrom { prefix: String },
    /// A volume (`configMap`, `secret`, or a `projected` source), each key a file.
    File { volume: String },
}

/// A container's reference to a ConfigMap or Secret in its pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRef {
    pub container: String,
    pub kind: ConfigKind,
    /// The ConfigMap's or Secret's name.
    pub name: String,
    /// The keys read; `None`: every key (`envFrom`, a volume without `items`).
    pub keys: Option<Vec<String>>,
    pub used_as: ConfigUse,
    /// Where the reference is written in the workload's file.
    pub line: u32,
}
