//! netseg's live source: reads a running cluster through its API server, strictly read-only (discovery and
//! paginated `GET` lists), and hands every page to the model's own loader, so that a live object is validated and
//! folded exactly as the same object in a `kubectl get -o json` dump would be. Nothing here knows about
//! connectivity.

mod error;
mod resources;
mod target;

pub use error::LiveError;
pub use resources::{
    optional_resources, Resource, Tolerance, ADMIN_POLICY_GROUP, ADMIN_POLICY_PLURALS, CILIUM_GROUP, RESOURCES,
    SETTINGS_CONFIG_MAPS,
};
pub use target::{Target, TargetRequest};

use netseg_model::{load_api_list, Inventory};
use std::sync::Arc;

/// Objects per page: the size kubectl uses, small enough for the API server's memory, large enough to keep the
/// round trips of a 10k-pod cluster to a few dozen.
pub const PAGE_SIZE: usize = 500;

/// A resource type the cluster would not let netseg read, and what the answers cannot see because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unseen {
    /// The list path, such as `/apis/networking.k8s.io/v1/ingresses`.
    pub path: String,
    /// The kind in words, such as `Ingresses`.
    pub what: &'static str,
    /// The API server's message.
    pub message: String,
    /// What the answers miss without it.
    pub consequence: &'static str,
}

/// What was read from one cluster.
#[derive(Debug)]
pub struct ClusterRead {
    /// The kubeconfig context (or `in-cluster`): the name findings are tagged with.
    pub context: String,
    pub server: String,
    /// Resource types that could not be read; the analysis is still sound without them.
    pub unseen: Vec<Unseen>,
    /// Resource types the API server does not serve (an optional API group), in words.
    pub not_served: Vec<String>,
    /// How many GET requests were made.
    pub requests: usize,
    /// How many objects were read.
    pub objects: usize,
}

/// Where reading has got to, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub context: &'a str,
    /// The resource being listed, such as `pods`.
    pub resource: &'a str,
    /// Objects read from this cluster so far.
    pub objects: usize,
    /// Whether the read is over (the progress line can go).
    pub finished: bool,
}

/// Reads every resource netseg analyses from `target` into `inventory`; with `namespace`, namespaced resources are
/// read from that namespace only (cluster-scoped ones, Namespaces and Nodes, are always read whole).
pub fn read_cluster(
    target: &Target,
    namespace: Option<&str>,
    inventory: &mut Inventory,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ClusterRead, LiveError> {
    block_on(read_async(target, namespace, inventory, progress))?
}

/// Runs a future on a single-threaded runtime that lives only as long as the read: the rest of netseg is
/// synchronous, and one connection at a time is all a read needs.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, LiveError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| LiveError::Runtime(format!("cannot start the I/O runtime: {error}")))?;
    Ok(runtime.block_on(future))
}

async fn read_async(
    target: &Target,
    namespace: Option<&str>,
    inventory: &mut Inventory,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ClusterRead, LiveError> {
    // The namespace becomes part of a request path: only a valid namespace name may get there.
    if let Some(namespace) = namespace {
        let valid = !namespace.is_empty()
            && namespace.len() <= 63
            && namespace.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !namespace.starts_with('-')
            && !namespace.ends_with('-');
        if !valid {
            return Err(LiveError::InvalidNamespace(namespace.to_string()));
        }
    }
    let client = target.client()?;
    let mut read = ClusterRead {
        context: target.context.clone(),
        server: target.server.clone(),
        unseen: Vec::new(),
        not_served: Vec::new(),
        requests: 0,
        objects: 0,
    };
    let get = |path: String| {
        let client = client.clone();
        async move {
            let request = http::Request::get(&path)
                .header(http::header::ACCEPT, "application/json")
                .body(Vec::new())
                .map_err(kube::Error::HttpError);
            match request {
                Ok(request) => client.request_text(request).await.map_err(|error| (path, error)),
                Err(error) => Err((path, error)),
            }
        }
    };
    let served = {
        read.requests += 2;
        let core = get("/api".into()).await.map_err(|(path, e)| target.failure(&path, e))?;
        let groups = get("/apis".into()).await.map_err(|(path, e)| target.failure(&path, e))?;
        resources::Served::from_discovery(&core, &groups)
            .map_err(|message| LiveError::Discovery { context: target.context.clone(), message })?
    };
    let mut lists: Vec<(Resource, String)> = Vec::new();
    for resource in RESOURCES {
        match served.version_of(resource) {
            Some(version) => lists.push((*resource, version)),
            None if resource.tolerance == Tolerance::IfServed || served.stands_in(resource) => {}
            None => read.not_served.push(format!("{} ({})", resource.what, resource.group_versions())),
        }
    }
    // A CNI's or a mesh's kinds: read from the first version whose discovery document offers them (a CRD may
    // serve some of its group's versions only).
    let mut offered: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for resource in resources::optional_resources() {
        if served.stands_in(&resource) {
            continue;
        }
        for version in resource.versions {
            let group_version = format!("{}/{version}", resource.group);
            if !served.serves(&group_version) {
                continue;
            }
            if !offered.contains_key(&group_version) {
                read.requests += 1;
                let text = get(format!("/apis/{group_version}")).await.map_err(|(path, e)| target.failure(&path, e))?;
                offered.insert(group_version.clone(), resources::offered_plurals(&text));
            }
            if offered.get(&group_version).is_some_and(|plurals| plurals.iter().any(|p| p == resource.plural)) {
                lists.push((resource, group_version));
                break;
            }
        }
    }
    // The admin policy kinds live in an optional API group whose versions change; discovery says which it has.
    for group_version in served.admin_policy_versions() {
        read.requests += 1;
        let text = get(format!("/apis/{group_version}")).await.map_err(|(path, e)| target.failure(&path, e))?;
        for resource in resources::admin_policy_resources(&text) {
            lists.push((resource, group_version.clone()));
        }
    }
    let mut objects = 0usize;
    for (resource, group_version) in lists {
        let path = resource.list_path(&group_version, namespace);
        let source: Arc<str> = Arc::from(format!("cluster://{}{path}", target.context));
        let mut token: Option<String> = None;
        loop {
            progress(Progress { context: &target.context, resource: resource.plural, objects, finished: false });
            let url = match &token {
                None => format!("{path}?limit={PAGE_SIZE}"),
                Some(token) => format!("{path}?limit={PAGE_SIZE}&continue={}", percent_encode(token)),
            };
            read.requests += 1;
            let text = match get(url).await {
                Ok(text) => text,
                Err((_, kube::Error::Api(response))) if response.code == 403 && resource.forbidden_is_sound() => {
                    read.unseen.push(Unseen {
                        path: path.clone(),
                        what: resource.what,
                        message: response.message,
                        consequence: resource.consequence(),
                    });
                    break;
                }
                Err((_, kube::Error::Api(response))) if response.code == 404 && token.is_none() => {
                    // Discovery said it was served; a 404 now means an API removed in between, or a namespace
                    // (-n) that does not exist. Either way there is nothing to read.
                    read.not_served.push(format!("{} ({path}: {})", resource.what, response.message));
                    break;
                }
                Err((url, error)) => return Err(target.failure_for(&url, resource.what, error)),
            };
            let before = inventory.objects_read;
            token = load_api_list(inventory, source.clone(), &text, resource.kind, &group_version);
            objects += inventory.objects_read.saturating_sub(before);
            if token.is_none() {
                break;
            }
        }
    }
    // The CNI's and the meshes' settings, where they are: one `get` each, and a 403 or 404 leaves the documented
    // default in place, said as an assumption.
    for &(config_namespace, name, setting) in resources::SETTINGS_CONFIG_MAPS {
        if namespace.is_some_and(|asked| asked != config_namespace) {
            continue;
        }
        let path = format!("/api/v1/namespaces/{config_namespace}/configmaps/{name}");
        read.requests += 1;
        match get(path.clone()).await {
            Ok(text) => {
                // One object, handed to the loader as the one item of a list, as a list page would carry it.
                let list = format!(r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{}},"items":[{text}]}}"#);
                let source: Arc<str> = Arc::from(format!("cluster://{}{path}", target.context));
                let before = inventory.objects_read;
                load_api_list(inventory, source, &list, "ConfigMap", "v1");
                objects += inventory.objects_read.saturating_sub(before);
            }
            Err((_, kube::Error::Api(response))) if response.code == 404 => {}
            Err((_, kube::Error::Api(response))) if response.code == 403 => {
                read.unseen.push(Unseen { path, what: "ConfigMap", message: response.message, consequence: setting })
            }
            Err((url, error)) => return Err(target.failure_for(&url, "ConfigMaps", error)),
        }
    }
    progress(Progress { context: &target.context, resource: "", objects, finished: true });
    read.objects = objects;
    Ok(read)
}

/// Query-string encoding for a continue token (base64 and JSON characters): everything but RFC 3986's unreserved
/// characters is escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_escaped_for_the_query_string() {
        assert_eq!(percent_encode("eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ=="), "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ%3D%3D");
        assert_eq!(percent_encode("a+b/c&d"), "a%2Bb%2Fc%26d");
    }
}
