//! A small Kubernetes API server for the live tests: HTTPS on 127.0.0.1 with a generated CA, discovery, list
//! responses paginated with `continue` the way the real one pages them, bearer-token checks, and 403s on the
//! resource types a test forbids. It records every request and stops when dropped.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A certificate authority of the tests' own.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    pub fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        Authority { issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate") }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
}

/// What the server serves.
#[derive(Debug, Clone)]
pub struct Contents {
    /// The bearer token it accepts.
    pub token: String,
    /// List path (`/api/v1/pods`) → items, without `kind` and `apiVersion`, as the API returns them.
    pub lists: BTreeMap<String, Vec<Value>>,
    /// List paths answered with 403.
    pub forbidden: BTreeSet<String>,
    /// Group versions served under `/apis`.
    pub group_versions: Vec<String>,
    /// The most items per page, whatever `limit` asks (so that small fixtures still page).
    pub page_cap: usize,
    /// Answer every continue token with 410 Gone, as a server does once a token has expired.
    pub expire_tokens: bool,
}

/// A cluster's objects (with `kind` and `apiVersion`, as in a dump) sorted into the lists the API serves.
pub fn contents_from_objects(token: &str, objects: &[Value]) -> Contents {
    // Every type a cluster serves, empty unless an object says otherwise: an empty list is not a 404.
    let mut lists: BTreeMap<String, Vec<Value>> = [
        "/api/v1/namespaces",
        "/api/v1/nodes",
        "/api/v1/pods",
        "/api/v1/services",
        "/api/v1/endpoints",
        "/api/v1/replicationcontrollers",
        "/api/v1/serviceaccounts",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/replicasets",
        "/apis/apps/v1/statefulsets",
        "/apis/apps/v1/daemonsets",
        "/apis/batch/v1/jobs",
        "/apis/batch/v1/cronjobs",
        "/apis/networking.k8s.io/v1/networkpolicies",
        "/apis/networking.k8s.io/v1/ingresses",
        "/apis/discovery.k8s.io/v1/endpointslices",
    ]
    .map(|path| (path.to_string(), Vec::new()))
    .into();
    for object in objects {
        let (kind, api_version) = (object["kind"].as_str().unwrap_or(""), object["apiVersion"].as_str().unwrap_or(""));
        let lower = kind.to_ascii_lowercase();
        let plural = match lower.as_str() {
            "endpoints" => lower.clone(),
            kind if kind.ends_with('y') => format!("{}ies", &kind[..kind.len() - 1]),
            kind if kind.ends_with("ss") => format!("{kind}es"),
            // ServiceIntentions, ServiceDefaults: already plural.
            kind if kind.ends_with('s') => kind.to_string(),
            kind => format!("{kind}s"),
        };
        let root = if api_version.contains('/') { "/apis" } else { "/api" };
        let mut item = object.clone();
        if let Some(map) = item.as_object_mut() {
            map.remove("kind");
            map.remove("apiVersion");
        }
        lists.entry(format!("{root}/{api_version}/{plural}")).or_default().push(item);
    }
    Contents {
        token: token.to_string(),
        lists,
        forbidden: BTreeSet::new(),
        group_versions: ["apps/v1", "batch/v1", "networking.k8s.io/v1", "discovery.k8s.io/v1"]
            .map(String::from)
            .to_vec(),
        page_cap: 2,
        expire_tokens: false,
    }
}

pub struct ApiServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Serves `contents` with a certificate for 127.0.0.1 signed by `authority`.
    pub fn start(authority: &Authority, contents: Contents) -> ApiServer {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let certificate = params.signed_by(&key, &authority.issuer).expect("server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![certificate.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("TLS config");
        let config = Arc::new(config);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // A client that refuses the certificate just closes the connection: nothing to answer.
                    let _ = serve_connection(stream, &config, &contents, &requests);
                }
            })
        };
        ApiServer { url: format!("https://127.0.0.1:{port}"), requests, stop, port, thread: Some(thread) }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_connection(
    tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    contents: &Contents,
    requests: &Mutex<Vec<Recorded>>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let connection = rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_string());
    let recorded = Recorded { method, target, authorization };
    if let Ok(mut log) = requests.lock() {
        log.push(recorded.clone());
    }
    let (status, body) = answer(&recorded, contents);
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        _ => "Method Not Allowed",
    };
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    stream.conn.send_close_notify();
    stream.flush()
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
               "reason": reason, "code": code}),
    )
}

fn answer(request: &Recorded, contents: &Contents) -> (u16, Value) {
    if request.authorization.as_deref() != Some(format!("Bearer {}", contents.token).as_str()) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if request.method != "GET" {
        return status(405, "MethodNotAllowed", "the test server answers GET only");
    }
    let (path, query) = request.target.split_once('?').unwrap_or((request.target.as_str(), ""));
    let parameters: BTreeMap<&str, String> =
        query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k, percent_decode(v))).collect();
    match path {
        "/api" => return (200, json!({"kind": "APIVersions", "versions": ["v1"]})),
        "/apis" => {
            let mut groups: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for group_version in &contents.group_versions {
                let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
                groups.entry(group).or_default().push(json!({"groupVersion": group_version, "version": version}));
            }
            let groups: Vec<Value> =
                groups.into_iter().map(|(name, versions)| json!({"name": name, "versions": versions})).collect();
            return (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
        }
        _ => {}
    }
    if let Some(group_version) = path.strip_prefix("/apis/").filter(|gv| gv.matches('/').count() == 1) {
        let prefix = format!("/apis/{group_version}/");
        let resources: Vec<Value> = contents
            .lists
            .keys()
            .filter_map(|list| list.strip_prefix(&prefix))
            .map(|plural| json!({"name": plural, "namespaced": false}))
            .collect();
        return (200, json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}));
    }
    // A namespaced list (`/api/v1/namespaces/blog/pods`) is the cluster-wide list filtered.
    let (list_path, namespace) = match path.split_once("/namespaces/") {
        Some((root, rest)) if rest.contains('/') => {
            let (namespace, plural) = rest.split_once('/').unwrap_or((rest, ""));
            (format!("{root}/{plural}"), Some(namespace.to_string()))
        }
        _ => (path.to_string(), None),
    };
    // One object (`/api/v1/namespaces/kube-system/configmaps/cilium-config`): the item of that name.
    let segments = list_path.split('/').count();
    let single =
        (list_path.starts_with("/api/") && segments == 5) || (list_path.starts_with("/apis/") && segments == 6);
    if let Some((plural_path, name)) = list_path.rsplit_once('/').filter(|_| single) {
        if contents.forbidden.contains(&list_path) {
            return status(403, "Forbidden", &format!("{list_path} is forbidden: User \"test\" cannot get it"));
        }
        if let Some(items) = contents.lists.get(plural_path) {
            let found = items.iter().find(|item| {
                item["metadata"]["name"].as_str() == Some(name)
                    && namespace.as_deref().is_none_or(|ns| item["metadata"]["namespace"].as_str() == Some(ns))
            });
            if let Some(item) = found {
                return (200, item.clone());
            }
        }
        return status(404, "NotFound", &format!("{name} not found"));
    }
    if contents.forbidden.contains(&list_path) {
        return status(403, "Forbidden", &format!("{list_path} is forbidden: User \"test\" cannot list this resource"));
    }
    let Some(items) = contents.lists.get(&list_path) else {
        return status(404, "NotFound", "the server could not find the requested resource");
    };
    let items: Vec<&Value> = items
        .iter()
        .filter(|item| namespace.as_deref().is_none_or(|ns| item["metadata"]["namespace"].as_str() == Some(ns)))
        .collect();
    let limit = parameters.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let page = limit.min(contents.page_cap).max(1);
    // Tokens hold characters that must be escaped in a query string, as the real (base64) ones do.
    let offset = match parameters.get("continue") {
        Some(_) if contents.expire_tokens => {
            return status(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result.",
            )
        }
        Some(token) => match token.strip_prefix("offset/").and_then(|t| t.strip_suffix("==")) {
            Some(n) => n.parse::<usize>().unwrap_or(usize::MAX),
            None => return status(410, "Expired", "the continue token is not one this server issued"),
        },
        None => 0,
    };
    let end = offset.saturating_add(page).min(items.len());
    let start = offset.min(end);
    let next = if end < items.len() { format!("offset/{end}==") } else { String::new() };
    (
        200,
        json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1", "continue": next}, "items": &items[start..end]}),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A kubeconfig with one context per server, each with its CA file and token; `current-context` is the first.
pub fn kubeconfig(dir: &std::path::Path, entries: &[(&str, &str, &str, &str)]) -> std::path::PathBuf {
    // (context, server URL, CA PEM, token)
    let mut clusters = String::new();
    let mut users = String::new();
    let mut contexts = String::new();
    for (context, server, ca, token) in entries {
        let ca_file = dir.join(format!("{context}-ca.pem"));
        std::fs::write(&ca_file, ca).expect("write CA");
        clusters.push_str(&format!(
            "- name: {context}\n  cluster:\n    server: {server}\n    certificate-authority: {}\n",
            ca_file.display()
        ));
        users.push_str(&format!("- name: {context}\n  user:\n    token: {token}\n"));
        contexts.push_str(&format!("- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n"));
    }
    let current = entries.first().map(|e| e.0).unwrap_or_default();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: {current}\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}
