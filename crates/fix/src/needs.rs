//! The flows the application needs, read from the manifests (and observed flows): each a source, a
//! destination, the ports, and the reason in words.

use crate::flows::{FlowEndpoint, ObservedFlow};
use crate::references;
use foldhash::{HashMap, HashMapExt};
use netseg_audit::{DeclaredBlock, FlowEnd, IntendedFlow, Intent};
use netseg_engine::PortSet;
use netseg_model::{
    Cidr, Cluster, ConfigKind, ConfigUse, ContainerPort, Direction, IngressBackend, LabelSelector, Labels,
    PeerSelector, PolicyRule, PortRef, Protocol, Service, Workload, NAMESPACE_NAME_LABEL,
};
use std::net::IpAddr;
use std::sync::Arc;

/// Who a flow comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Workload(usize),
    /// Any client at all: the internet through a LoadBalancer or NodePort Service.
    Anywhere,
    /// Any pod of a namespace (an ingress controller's); `members` are the controller workloads of the input.
    Namespace {
        name: String,
        members: Vec<usize>,
    },
    /// Any pod of any namespace: an ingress controller the input does not have.
    AllNamespaces,
    Address(IpAddr),
}

/// Where a flow goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Workload(usize),
    /// Addresses outside the cluster: one address as a host prefix, or a range given on the command line.
    Block(Cidr),
}

/// A flow the application needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub src: Source,
    pub dst: Destination,
    /// Container ports on the destination pods (after the Service's DNAT), or the address's ports.
    pub ports: PortSet,
    pub reason: Arc<str>,
}

/// The pods behind a Service: each selected workload with the target ports of the chosen Service ports,
/// resolved on its own containers (a named `targetPort` can mean different numbers on different pods).
pub fn backends(cluster: &Cluster, service: &Service, ports: &[&netseg_model::ServicePort]) -> Vec<(usize, PortSet)> {
    let mut found = Vec::new();
    for (index, workload) in cluster.workloads.iter().enumerate() {
        if workload.id.namespace != service.namespace {
            continue;
        }
        let pods: Vec<_> = workload.pods.iter().filter(|p| service.selects(&p.facts.labels)).collect();
        if pods.is_empty() {
            continue;
        }
        let ranges: Vec<(Protocol, u16, u16)> = ports
            .iter()
            .flat_map(|port| pods.iter().filter_map(|p| port.target_on(&p.facts)).map(|t| (port.protocol, t, t)))
            .collect();
        if !ranges.is_empty() {
            found.push((index, PortSet::from_ranges(&ranges)));
        }
    }
    found
}

fn service_ports(service: &Service) -> String {
    let ports: Vec<String> = service
        .ports
        .iter()
        .map(|p| match &p.target_port {
            Some(target) if target != &PortRef::Number(p.port) => format!("{} {}→{target}", p.protocol, p.port),
            _ => format!("{} {}", p.protocol, p.port),
        })
        .collect();
    ports.join(", ")
}

/// LoadBalancer and NodePort Services: from anywhere to their target ports.
pub fn exposed_services(cluster: &Cluster, out: &mut Vec<Need>) {
    for service in &cluster.services {
        if !matches!(service.service_type.as_str(), "LoadBalancer" | "NodePort") {
            continue;
        }
        let all: Vec<_> = service.ports.iter().collect();
        for (workload, ports) in backends(cluster, service, &all) {
            out.push(Need {
                src: Source::Anywhere,
                dst: Destination::Workload(workload),
                ports,
                reason: format!(
                    "{} Service {}/{} ({}, {})",
                    service.service_type,
                    service.namespace,
                    service.name,
                    service_ports(service),
                    service.location
                )
                .into(),
            });
        }
    }
}

/// Ingress backends: from the ingress controller's namespace to the backend Service's target ports.
pub fn ingress_backends(cluster: &Cluster, controller: &Source, out: &mut Vec<Need>, notes: &mut Vec<String>) {
    for ingress in &cluster.ingresses {
        for IngressBackend { service: name, port } in &ingress.backends {
            let Some(service) = cluster.services.iter().find(|s| s.namespace == ingress.namespace && &s.name == name)
            else {
                notes.push(format!(
                    "Ingress {}/{} ({}) names Service `{name}`, which the input does not have: no rule for it",
                    ingress.namespace, ingress.name, ingress.location
                ));
                continue;
            };
            let chosen: Vec<_> = service
                .ports
                .iter()
                .filter(|p| match port {
                    None => true,
                    Some(PortRef::Number(n)) => p.port == *n,
                    Some(PortRef::Name(wanted)) => p.name.as_deref() == Some(wanted.as_str()),
                })
                .collect();
            for (workload, ports) in backends(cluster, service, &chosen) {
                let via = port.as_ref().map(|p| format!(" port {p}")).unwrap_or_default();
                out.push(Need {
                    src: controller.clone(),
                    dst: Destination::Workload(workload),
                    ports,
                    reason: format!(
                        "Ingress {}/{} ({}) → Service {}{via}",
                        ingress.namespace, ingress.name, ingress.location, service.name
                    )
                    .into(),
                });
            }
        }
    }
}

/// A string a container is configured with, and where it was read.
struct Configured<'a> {
    container: &'a str,
    /// `env WP_REDIS_HOST`, `args[1]`, `env DB_URL from ConfigMap shop/app key url`.
    source: String,
    text: &'a str,
    /// `file:line`, and for a ConfigMap's value the line of the workload's reference too.
    at: String,
    /// A ConfigMap key mounted as a file: only URLs and `host:port` count, not bare words of a config file.
    file: bool,
}

/// The ConfigMap `kube-root-ca.crt` that every pod mounts for its ServiceAccount token holds a CA bundle, no host.
const ROOT_CA: &str = "kube-root-ca.crt";

/// Secret key (or variable) names that suggest an address: `DB_URL`, `REDIS_HOST`, `KAFKA_BROKERS`.
fn names_an_address(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let word = name.rsplit(['_', '-', '.']).next().unwrap_or(&name);
    matches!(
        word,
        "host"
            | "hostname"
            | "url"
            | "uri"
            | "dsn"
            | "addr"
            | "address"
            | "endpoint"
            | "server"
            | "servers"
            | "brokers"
            | "nodes"
    ) || name.ends_with("connectionstring")
}

/// What one workload's containers are configured with: literal env values, args and commands, and the values of
/// the ConfigMaps they read. Secrets give no string: their values are never read. A Secret key whose name says
/// it holds an address is a note, since the flow it stands for cannot be declared from the input.
fn configured<'a>(cluster: &'a Cluster, workload: &'a Workload, notes: &mut Vec<String>) -> Vec<Configured<'a>> {
    let Some(pod) = workload.pods.first() else { return Vec::new() };
    let file = &pod.location.file;
    let mut out: Vec<Configured<'a>> = pod
        .facts
        .references
        .iter()
        .map(|r| Configured {
            container: &r.container,
            source: r.source.to_string(),
            text: &r.text,
            at: format!("{file}:{}", r.line),
            file: false,
        })
        .collect();
    let namespace = &workload.id.namespace;
    for reference in &pod.facts.config_refs {
        let keys = |all: Vec<&'a str>| -> Vec<&'a str> {
            match &reference.keys {
                Some(keys) => all.into_iter().filter(|k| keys.iter().any(|w| w == k)).collect(),
                None => all,
            }
        };
        match reference.kind {
            ConfigKind::Secret => {
                let all: Vec<&str> = match &reference.keys {
                    Some(keys) => keys.iter().map(String::as_str).collect(),
                    None => cluster
                        .secrets
                        .iter()
                        .find(|s| &s.namespace == namespace && s.name == reference.name)
                        .map(|s| s.keys.iter().map(String::as_str).collect())
                        .unwrap_or_default(),
                };
                for key in all {
                    let used = match &reference.used_as {
                        ConfigUse::Env(var) => format!("env {var}"),
                        ConfigUse::EnvFrom { prefix } => format!("env {prefix}{key}"),
                        ConfigUse::File { volume } => format!("file {key} of volume {volume}"),
                    };
                    let variable = match &reference.used_as {
                        ConfigUse::Env(var) => var.as_str(),
                        _ => key,
                    };
                    if names_an_address(key) || names_an_address(variable) {
                        notes.push(format!(
                            "{} container {} {used} takes key {key} of Secret {namespace}/{} ({file}:{}): netseg never \
                             reads Secret values, so the host it names is not a declared flow; list the flow in a \
                             --flows file to have it checked",
                            workload.id, reference.container, reference.name, reference.line
                        ));
                    }
                }
            }
            ConfigKind::ConfigMap => {
                if reference.name == ROOT_CA {
                    continue;
                }
                let Some(config) =
                    cluster.config_maps.iter().find(|c| &c.namespace == namespace && c.name == reference.name)
                else {
                    notes.push(format!(
                        "{} container {} reads ConfigMap {namespace}/{} ({file}:{}), which the input does not have: \
                         the hosts it names are not declared flows",
                        workload.id, reference.container, reference.name, reference.line
                    ));
                    continue;
                };
                for key in keys(config.data.iter().map(|v| v.key.as_str()).collect()) {
                    let Some(value) = config.get(key) else { continue };
                    let whence = format!("ConfigMap {namespace}/{} key {key}", config.name);
                    let (source, is_file) = match &reference.used_as {
                        ConfigUse::Env(var) => (format!("env {var} from {whence}"), false),
                        ConfigUse::EnvFrom { prefix } => (format!("env {prefix}{key} from {whence}"), false),
                        ConfigUse::File { volume } => (format!("file {key} of volume {volume} from {whence}"), true),
                    };
                    out.push(Configured {
                        container: &reference.container,
                        source,
                        text: &value.value,
                        at: format!("{}:{}, read at {file}:{}", config.location.file, value.line, reference.line),
                        file: is_file,
                    });
                }
            }
        }
    }
    out
}

/// Service names in container env values, args and commands, and in the ConfigMap values the containers read.
pub fn service_references(cluster: &Cluster, cluster_domain: &str, out: &mut Vec<Need>, notes: &mut Vec<String>) {
    let services = references::Services::new(cluster);
    for (index, workload) in cluster.workloads.iter().enumerate() {
        for reference in configured(cluster, workload, notes) {
            for mention in references::mentions(reference.text) {
                if reference.file && mention.port.is_none() && mention.scheme.is_none() {
                    continue;
                }
                let Some(service) =
                    references::resolve(&services, &workload.id.namespace, &mention.host, cluster_domain)
                else {
                    continue;
                };
                let named = match mention.port {
                    Some(port) => format!("{}:{port}", mention.host),
                    None => mention.host.clone(),
                };
                let reason: std::sync::Arc<str> = format!(
                    "{} container {} {} names {named} ({}) → Service {}/{}",
                    workload.id, reference.container, reference.source, reference.at, service.namespace, service.name
                )
                .into();
                match reference_need(cluster, workload, index, service, &mention) {
                    Ok(needs) => out.extend(needs.into_iter().map(|(dst, ports)| Need {
                        src: Source::Workload(index),
                        dst: Destination::Workload(dst),
                        ports,
                        reason: reason.clone(),
                    })),
                    Err(why) => notes.push(format!("{reason}: {why}; no rule for it")),
                }
            }
        }
    }
}

fn reference_need(
    cluster: &Cluster,
    workload: &Workload,
    index: usize,
    service: &Service,
    mention: &references::HostMention,
) -> Result<Vec<(usize, PortSet)>, String> {
    if service.selector.is_none() {
        return Err("the Service has no selector (its endpoints are managed by hand)".into());
    }
    let port = mention.port.or_else(|| {
        let default = mention.scheme.as_deref().and_then(references::default_port)?;
        service.ports.iter().any(|p| p.port == default).then_some(default)
    });
    let all: Vec<_> = service.ports.iter().collect();
    let found = match port {
        // A headless name resolves to the pods themselves: the port written is the container port.
        Some(port) if service.headless => {
            let protocols: Vec<Protocol> =
                service.ports.iter().filter(|p| p.port == port).map(|p| p.protocol).collect();
            let ranges: Vec<_> = if protocols.is_empty() { vec![Protocol::Tcp] } else { protocols }
                .into_iter()
                .map(|protocol| (protocol, port, port))
                .collect();
            backends(cluster, service, &all).into_iter().map(|(w, _)| (w, PortSet::from_ranges(&ranges))).collect()
        }
        Some(port) => {
            let chosen: Vec<_> = service.ports.iter().filter(|p| p.port == port).collect();
            if chosen.is_empty() {
                return Err(format!("port {port} is not a port of the Service ({})", service_ports(service)));
            }
            backends(cluster, service, &chosen)
        }
        None => backends(cluster, service, &all),
    };
    let referrer_is_behind = workload.pods.iter().any(|p| service.selects(&p.facts.labels));
    // A workload naming its own Service (`SERVICE_NAME=web`) gets no rule: its pods are one template here.
    let found: Vec<_> = found.into_iter().filter(|(w, _)| *w != index).collect();
    if found.is_empty() && !referrer_is_behind {
        let selected = cluster
            .workloads
            .iter()
            .any(|w| w.id.namespace == service.namespace && w.pods.iter().any(|p| service.selects(&p.facts.labels)));
        return Err(if selected {
            "the Service's target port names no container port of the pods it selects".to_string()
        } else {
            format!("no workload of the input is behind Service {}/{}", service.namespace, service.name)
        });
    }
    Ok(found)
}

/// Where the API server listens, after the `kubernetes` Service's DNAT: its endpoints' addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServer {
    pub blocks: Vec<Cidr>,
    pub ports: PortSet,
    /// Where the facts came from, in words.
    pub source: String,
}

impl ApiServer {
    /// `--api-server` CIDRs (on TCP 443 and 6443), else the `default/kubernetes` Endpoints or EndpointSlices.
    pub fn find(cluster: &Cluster, flag: &[Cidr]) -> Option<ApiServer> {
        if !flag.is_empty() {
            let ports = PortSet::from_ranges(&[(Protocol::Tcp, 443, 443), (Protocol::Tcp, 6443, 6443)]);
            return Some(ApiServer { blocks: flag.to_vec(), ports, source: "--api-server".into() });
        }
        let endpoints: Vec<_> =
            cluster.endpoints.iter().filter(|e| e.namespace == "default" && e.service == "kubernetes").collect();
        let mut blocks: Vec<Cidr> = endpoints
            .iter()
            .flat_map(|e| &e.addresses)
            .map(|&a| Cidr { network: a, prefix: Cidr::max_prefix(a) })
            .collect();
        blocks.sort_by_key(|c| c.network);
        blocks.dedup();
        let ranges: Vec<_> = endpoints.iter().flat_map(|e| &e.ports).map(|&(p, n)| (p, n, n)).collect();
        let first = endpoints.first()?;
        (!blocks.is_empty() && !ranges.is_empty()).then(|| ApiServer {
            blocks,
            ports: PortSet::from_ranges(&ranges),
            source: format!("default/kubernetes endpoints ({})", first.location),
        })
    }
}

/// Workloads that run as a ServiceAccount of their own with its token mounted call the API server (controllers,
/// operators, CI runners): egress to its real addresses and ports, when the input or `--api-server` tells them.
pub fn api_clients(
    cluster: &Cluster,
    api: &Option<ApiServer>,
    segmented: &[String],
    out: &mut Vec<Need>,
    notes: &mut Vec<String>,
) {
    let mut unknown = Vec::new();
    for (index, workload) in cluster.workloads.iter().enumerate() {
        if !segmented.contains(&workload.id.namespace) || workload.pods.iter().all(|p| p.facts.host_network) {
            continue;
        }
        let Some(account) = workload.pods.first().and_then(|p| p.facts.api_client()) else { continue };
        match api {
            Some(api) => out.extend(api.blocks.iter().map(|block| {
                Need {
                    src: Source::Workload(index),
                    dst: Destination::Block(*block),
                    ports: api.ports.clone(),
                    reason: format!(
                        "{} runs as ServiceAccount {account} with its token mounted: the API server, from {}",
                        workload.id, api.source
                    )
                    .into(),
                }
            })),
            None => unknown.push(format!("{} (ServiceAccount {account})", workload.id)),
        }
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "API clients get no egress to the API server, whose address the input does not have (no \
             default/kubernetes endpoints): {}; pass --api-server CIDR (`kubectl get endpoints kubernetes`) to allow it",
            unknown.join(", ")
        ));
    }
}

/// Whether a peer names specific pods: a non-empty `podSelector` or `namespaceSelector`. A peer open to every pod
/// of the policy's namespace (`podSelector: {}` alone) or of every namespace (`namespaceSelector: {}` alone) names
/// nobody in particular and declares no flow.
fn names_peers(namespaces: &Option<LabelSelector>, pods: &Option<LabelSelector>) -> bool {
    pods.as_ref().is_some_and(|p| !p.is_empty()) || namespaces.as_ref().is_some_and(|n| !n.is_empty())
}

/// The workloads of each namespace with the namespace's labels (the name label alone for a namespace the input
/// lacks), built once: a selector is matched against each namespace once, not once per workload.
struct WorkloadsByNamespace {
    /// Sorted by name.
    namespaces: Vec<(String, Labels, Vec<usize>)>,
    /// Policies repeat their peers (a tier label, an environment's namespaces): each distinct peer is matched once.
    #[allow(clippy::type_complexity)]
    peers: std::cell::RefCell<HashMap<(Option<String>, Option<LabelSelector>, Option<LabelSelector>), Arc<[usize]>>>,
}

impl WorkloadsByNamespace {
    fn new(cluster: &Cluster) -> WorkloadsByNamespace {
        let mut index: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
        for (w, workload) in cluster.workloads.iter().enumerate() {
            index.entry(workload.id.namespace.as_str()).or_default().push(w);
        }
        let namespaces = index
            .into_iter()
            .map(|(name, workloads)| {
                let labels = cluster
                    .namespace(name)
                    .map(|ns| ns.labels.clone())
                    .unwrap_or_else(|| Labels::from([(NAMESPACE_NAME_LABEL, name)]));
                (name.to_string(), labels, workloads)
            })
            .collect();
        WorkloadsByNamespace { namespaces, peers: Default::default() }
    }

    /// The workloads (not on the host network, which no policy selects) that a peer of a policy in `own` chooses,
    /// in index order.
    fn peers(
        &self,
        cluster: &Cluster,
        own: &str,
        namespaces: &Option<LabelSelector>,
        pods: &Option<LabelSelector>,
    ) -> Arc<[usize]> {
        // Without a namespaceSelector the peer is in the policy's own namespace.
        let key = (namespaces.is_none().then(|| own.to_string()), namespaces.clone(), pods.clone());
        if let Some(known) = self.peers.borrow().get(&key) {
            return known.clone();
        }
        // Without a namespaceSelector, the one namespace is looked up, not found by a scan of thousands.
        let own_only = match namespaces {
            None => self.namespaces.binary_search_by(|(name, _, _)| name.as_str().cmp(own)).ok().map(|at| at..at + 1),
            Some(_) => None,
        };
        let candidates = match (namespaces, own_only) {
            (None, Some(range)) => &self.namespaces[range],
            (None, None) => &[],
            (Some(_), _) => &self.namespaces[..],
        };
        let mut chosen: Vec<usize> = candidates
            .iter()
            .filter(|(_, labels, _)| namespaces.as_ref().is_none_or(|selector| selector.matches(labels)))
            .flat_map(|(_, _, workloads)| workloads.iter().copied())
            .filter(|&w| {
                cluster.workloads[w].pods.iter().any(|p| {
                    !p.facts.host_network && pods.as_ref().is_none_or(|selector| selector.matches(&p.facts.labels))
                })
            })
            .collect();
        chosen.sort_unstable();
        let chosen: Arc<[usize]> = chosen.into();
        self.peers.borrow_mut().insert(key, chosen.clone());
        chosen
    }
}

/// A rule's ports on the destination pods, as a flow: named ports resolve on their containers; a rule open to
/// every port of a protocol (or to every port) declares the ports the destination's containers listen on, since
/// "any port" names no flow (with none declared, nothing); numbered ports are kept where the destination's
/// containers listen, when they declare their ports.
fn rule_ports(rule: &PolicyRule, destination: &Workload) -> PortSet {
    let listening: Vec<(Protocol, u16, u16)> =
        destination.pods.iter().flat_map(|p| &p.facts.ports).map(|c| (c.protocol, c.port, c.port)).collect();
    let on = |protocol: Protocol| -> Vec<(Protocol, u16, u16)> {
        listening.iter().copied().filter(|(p, _, _)| *p == protocol).collect()
    };
    if rule.ports.is_empty() {
        return PortSet::from_ranges(&listening);
    }
    let mut ranges = Vec::new();
    for port in &rule.ports {
        match &port.port {
            None => ranges.extend(on(port.protocol)),
            Some(PortRef::Number(n)) => ranges.push((port.protocol, *n, port.end_port.unwrap_or(*n).max(*n))),
            Some(PortRef::Name(name)) => ranges.extend(
                destination
                    .pods
                    .iter()
                    .flat_map(|p| &p.facts.ports)
                    .filter(|c| c.protocol == port.protocol && c.name.as_deref() == Some(name.as_str()))
                    .map(|c| (c.protocol, c.port, c.port)),
            ),
        }
    }
    let written = PortSet::from_ranges(&ranges);
    // `ports: [6379, 5432]` toward cache and db declares 6379 to the cache and 5432 to the db, when they say so.
    if listening.is_empty() {
        written
    } else {
        written.intersection(&PortSet::from_ranges(&listening))
    }
}

/// One peer of a policy rule that names its pods: a declaration that the workloads on one end talk to those on the
/// other.
struct PeerDeclaration<'c> {
    rule: &'c PolicyRule,
    direction: Direction,
    /// The workloads the policy selects.
    selected: Arc<[usize]>,
    /// The workloads the peer chooses.
    chosen: Arc<[usize]>,
    /// The declaration in words, with file and line.
    reason: Arc<str>,
}

impl PeerDeclaration<'_> {
    /// (sources, destinations): who sends and who receives.
    fn ends(&self) -> (&Arc<[usize]>, &Arc<[usize]>) {
        match self.direction {
            Direction::Ingress => (&self.chosen, &self.selected),
            Direction::Egress => (&self.selected, &self.chosen),
        }
    }
}

/// The peers of the input's own NetworkPolicies that name pods: an ingress rule that lets chosen pods in, an egress
/// rule that lets its pods out to chosen pods. Whoever wrote `from: [{podSelector: {name: front-end}}]` on catalogue
/// declared that front-end calls catalogue, as surely as an env value naming the Service. A rule open to every peer
/// names nobody and declares nothing.
fn peer_declarations<'c>(cluster: &'c Cluster, mut each: impl FnMut(PeerDeclaration<'c>)) {
    let by_namespace = WorkloadsByNamespace::new(cluster);
    for policy in &cluster.policies {
        let selected = by_namespace.peers(cluster, &policy.namespace, &None, &Some(policy.pod_selector.clone()));
        for direction in [Direction::Ingress, Direction::Egress] {
            let key = if direction == Direction::Ingress { "ingress" } else { "egress" };
            for (index, rule) in policy.rules(direction).iter().enumerate() {
                for peer in &rule.peers {
                    let PeerSelector::Pods { namespaces, pods } = &peer.selector else { continue };
                    if !names_peers(namespaces, pods) {
                        continue;
                    }
                    let mut chosen = Vec::new();
                    if let Some(pods) = pods.as_ref().filter(|p| !p.is_empty()) {
                        chosen.push(format!("pods {pods}"));
                    }
                    match namespaces {
                        Some(ns) if ns.is_empty() => chosen.push("in every namespace".into()),
                        Some(ns) => chosen.push(format!("in namespaces {ns}")),
                        None => {}
                    }
                    if pods.as_ref().is_none_or(LabelSelector::is_empty) {
                        chosen.insert(0, "every pod".into());
                    }
                    let verb = if direction == Direction::Ingress { "admits" } else { "lets out to" };
                    let reason: Arc<str> = format!(
                        "NetworkPolicy {}/{} {key}[{index}] {verb} {} ({}:{})",
                        policy.namespace,
                        policy.name,
                        chosen.join(" "),
                        policy.location.file,
                        peer.line
                    )
                    .into();
                    each(PeerDeclaration {
                        rule,
                        direction,
                        selected: selected.clone(),
                        chosen: by_namespace.peers(cluster, &policy.namespace, namespaces, pods),
                        reason,
                    });
                }
            }
        }
    }
}

/// The flows the input's own NetworkPolicies declare by naming their peers (see [`peer_declarations`]), one by one:
/// what `generate` writes rules from.
pub fn policy_allowances(cluster: &Cluster, out: &mut Vec<Need>) {
    for block in policy_blocks(cluster) {
        // Each source's destinations in the order the peer chose them (by workload), not grouped by ports.
        let mut destinations: Vec<(usize, &PortSet)> =
            block.destinations.iter().flat_map(|(ports, group)| group.iter().map(move |&dst| (dst, ports))).collect();
        destinations.sort_unstable_by_key(|&(dst, _)| dst);
        for &src in block.sources.iter() {
            for &(dst, ports) in destinations.iter().filter(|&&(dst, _)| dst != src) {
                // (A workload and itself are one template: its pods reach each other as the input says.)
                out.push(Need {
                    src: Source::Workload(src),
                    dst: Destination::Workload(dst),
                    ports: ports.clone(),
                    reason: block.origin.clone(),
                });
            }
        }
    }
}

/// The same flows as [`policy_allowances`], one block per declaration: a peer choosing a tier of a thousand
/// workloads for a tier of a thousand names a million flows, which the audit checks without listing them.
pub fn policy_blocks(cluster: &Cluster) -> Vec<DeclaredBlock> {
    // A rule's ports on a destination depend only on the ports its containers declare: computed once per rule and
    // set of container ports, not once per destination of every declaration.
    let mut shapes: HashMap<Vec<&ContainerPort>, usize> = HashMap::new();
    let shape_of: Vec<usize> = cluster
        .workloads
        .iter()
        .map(|workload| {
            let ports: Vec<&ContainerPort> = workload.pods.iter().flat_map(|p| &p.facts.ports).collect();
            let next = shapes.len();
            *shapes.entry(ports).or_insert(next)
        })
        .collect();
    let mut blocks = Vec::new();
    // Per set of container ports: the declaration that last met it and the group of its destinations with those
    // ports (none: no port named there). An array stamped per declaration, since tier L looks it up 7 million times.
    let mut group_of_shape: Vec<(usize, Option<usize>)> = vec![(usize::MAX, None); shapes.len()];
    let mut stamp = 0;
    // The group of each destination of the current declaration.
    let mut group_of_destination: Vec<Option<usize>> = Vec::new();
    peer_declarations(cluster, |declaration| {
        let (sources, destinations) = declaration.ends();
        let mut grouped: Vec<PortSet> = Vec::new();
        stamp += 1;
        group_of_destination.clear();
        for &dst in destinations.iter() {
            let slot = &mut group_of_shape[shape_of[dst]];
            if slot.0 != stamp {
                let ports = rule_ports(declaration.rule, &cluster.workloads[dst]);
                let group = (!ports.is_empty()).then(|| {
                    let existing = grouped.iter().position(|p| *p == ports);
                    existing.unwrap_or_else(|| {
                        grouped.push(ports);
                        grouped.len() - 1
                    })
                });
                *slot = (stamp, group);
            }
            group_of_destination.push(slot.1);
        }
        if sources.is_empty() || grouped.is_empty() {
            return;
        }
        // Most declarations name the same ports on every destination: their one group is the peer's own list,
        // shared rather than copied (tier L holds 22,000 declarations).
        let destinations = if grouped.len() == 1 && group_of_destination.iter().all(Option::is_some) {
            vec![(grouped.swap_remove(0), destinations.clone())]
        } else {
            let members = |at: usize| -> Arc<[usize]> {
                let of_group = destinations.iter().zip(&group_of_destination).filter(|(_, g)| **g == Some(at));
                of_group.map(|(&dst, _)| dst).collect()
            };
            grouped.into_iter().enumerate().map(|(at, ports)| (ports, members(at))).collect()
        };
        blocks.push(DeclaredBlock { sources: sources.clone(), destinations, origin: declaration.reason });
    });
    blocks
}

/// Observed flows, as they were seen.
pub fn observed(flows: &[ObservedFlow], out: &mut Vec<Need>, notes: &mut Vec<String>) {
    for flow in flows {
        let src = match flow.src {
            FlowEndpoint::Workload(w) => Source::Workload(w),
            FlowEndpoint::Address(a) => Source::Address(a),
        };
        let dst = match flow.dst {
            FlowEndpoint::Workload(w) => Destination::Workload(w),
            FlowEndpoint::Address(a) => Destination::Block(Cidr { network: a, prefix: Cidr::max_prefix(a) }),
        };
        if let (Source::Address(_), Destination::Block(_)) = (&src, &dst) {
            notes.push(format!(
                "flow {} is between two addresses outside the cluster: not for NetworkPolicy",
                flow.origin
            ));
            continue;
        }
        if matches!((&src, &dst), (Source::Workload(a), Destination::Workload(b)) if a == b) {
            continue; // within one workload: its pods are one template here, and a pod always reaches itself
        }
        out.push(Need {
            src,
            dst,
            ports: PortSet::single(flow.protocol, flow.port),
            reason: format!("observed flow {} ({} {})", flow.origin, flow.protocol, flow.port).into(),
        });
    }
}

/// The flows the application declares and was seen making, as the audit checks them (NS147): Service names in
/// env, args and command, the peers the input's own policies name, LoadBalancer and NodePort Services (from an
/// address outside the cluster) and observed flows. The same inference `generate` writes its rules from.
pub fn intent(cluster: &Cluster, cluster_domain: &str, flows: &[ObservedFlow]) -> Intent {
    let mut needs = Vec::new();
    let mut notes = Vec::new();
    exposed_services(cluster, &mut needs);
    service_references(cluster, cluster_domain, &mut needs, &mut notes);
    observed(flows, &mut needs, &mut notes);
    let mut out: Vec<IntendedFlow> = Vec::with_capacity(needs.len());
    for need in needs {
        let src = match need.src {
            Source::Workload(w) => FlowEnd::Workload(w),
            Source::Anywhere => FlowEnd::Address(crate::generate::OUTSIDE_CLIENT),
            Source::Address(a) => FlowEnd::Address(a),
            Source::Namespace { .. } | Source::AllNamespaces => continue,
        };
        let dst = match need.dst {
            Destination::Workload(w) => FlowEnd::Workload(w),
            Destination::Block(cidr) => FlowEnd::Address(cidr.network),
        };
        out.push(IntendedFlow { src, dst, ports: need.ports, origin: need.reason });
    }
    // Duplicates go by hashing, without copying a flow.
    let keep: Vec<bool> = {
        let mut seen: std::collections::HashSet<&IntendedFlow> = std::collections::HashSet::with_capacity(out.len());
        out.iter().map(|flow| seen.insert(flow)).collect()
    };
    let mut keep = keep.into_iter();
    out.retain(|_| keep.next().unwrap_or(false));
    Intent { flows: out, blocks: policy_blocks(cluster) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{load_bytes, Inventory};
    use std::sync::Arc;

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        Cluster::from_inventory(inventory)
    }

    fn pod(name: &str, ns: &str, port: u16) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}\n\
             spec: {{containers: [{{name: c, image: i, ports: [{{name: web, containerPort: {port}}}]}}]}}\n---\n"
        )
    }

    fn flows(c: &Cluster) -> Vec<String> {
        let mut out = Vec::new();
        policy_allowances(c, &mut out);
        let name = |w: usize| c.workloads[w].id.name.clone();
        out.iter()
            .map(|n| match (&n.src, n.dst) {
                (Source::Workload(s), Destination::Workload(d)) => format!("{} → {} {}", name(*s), name(d), n.ports),
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn policies_naming_peers_declare_flows_on_both_sides() {
        let text = [
            pod("web", "a", 8080),
            pod("db", "a", 5432),
            pod("job", "b", 9000),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b, labels: {team: jobs}}\n---\n".to_string(),
            // Ingress naming a pod, with a named port resolved on the destination.
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432}]}]\n---\n".into(),
            // Egress naming a namespace, all ports.
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress: [{to: [{namespaceSelector: {matchLabels: {team: jobs}}}]}]\n---\n".into(),
            // Open to every peer: declares nothing.
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{}, {from: [{namespaceSelector: {}}]}, {from: [{podSelector: {}}]}]\n".into(),
        ]
        .concat();
        let c = cluster(&text);
        assert_eq!(
            flows(&c),
            ["web → db TCP 5432", "web → job TCP 9000"],
            "no ports: the ports the destination listens on"
        );
        let mut out = Vec::new();
        policy_allowances(&c, &mut out);
        assert!(
            out[0].reason.starts_with("NetworkPolicy a/db ingress[0] admits pods app=web (t.yaml:"),
            "{}",
            out[0].reason
        );
        assert!(out[1].reason.contains("egress[0] lets out to every pod in namespaces team=jobs"), "{}", out[1].reason);
    }

    #[test]
    fn named_ports_resolve_on_the_destination_and_host_network_pods_are_left_out() {
        let text = [
            pod("web", "a", 8080),
            pod("lb", "a", 1),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: a, labels: {app: agent}}\nspec: {hostNetwork: true, containers: [{name: c, image: i}]}\n---\n".into(),
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [lb, agent]}]}}], ports: [{port: web}]}]\n".into(),
        ]
        .concat();
        assert_eq!(flows(&cluster(&text)), ["lb → web TCP 8080"]);
    }
}
