//! The generator: default-deny where a namespace lacks it, DNS, and least-privilege allows for the flows the
//! application needs, written only where the policies (with the default-deny in place) do not already allow them.

use crate::flows::ObservedFlow;
use crate::manifest::{namespace_selector, GeneratedPolicy, GeneratedRule};
use crate::needs::{self, Destination, Need, Source};
use netseg_audit::METADATA_ADDRESSES;
use netseg_engine::{Analysis, Endpoint, Network, PortSet};
use netseg_model::{
    load_bytes, Cidr, Cluster, ContainerPort, Direction, Inventory, IpBlock, LabelSelector, Labels, Namespace,
    NetworkPolicy, PeerSelector, Pod, PodFacts, Protocol, Suppression, Workload, WorkloadKind, WorkloadRef,
    NAMESPACE_NAME_LABEL,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// Namespaces of the cluster's own machinery: their agents talk to the API server and the nodes, whose
/// addresses manifests rarely hold, so a default-deny there breaks the cluster. They are left for a person.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Image names of ingress controllers, to find the namespace Ingress traffic comes from.
const INGRESS_CONTROLLER_IMAGES: [&str; 7] = [
    "ingress-nginx/controller",
    "nginx-ingress-controller",
    "nginx/nginx-ingress",
    "traefik",
    "haproxy-ingress",
    "kong/kubernetes-ingress-controller",
    "projectcontour/contour",
];

/// An address that stands for "a client outside the cluster" (TEST-NET-2, RFC 5737).
pub(crate) const OUTSIDE_CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
const PROBE_NAMESPACE: &str = "netseg-any-namespace";

/// Where the cluster DNS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsTarget {
    /// Pods with these labels in this namespace.
    Pods { namespace: String, labels: Labels },
    /// An address range (NodeLocal DNSCache's 169.254.20.10, or a DNS outside the cluster).
    Block(Cidr),
}

impl FromStr for DnsTarget {
    type Err = String;

    /// `NAMESPACE/KEY=VALUE[,KEY=VALUE...]` or an address / CIDR.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(addr) = text.parse::<IpAddr>() {
            let prefix = Cidr::max_prefix(addr);
            return Ok(DnsTarget::Block(Cidr { network: addr, prefix }));
        }
        if let Ok(cidr) = text.parse::<Cidr>() {
            return Ok(DnsTarget::Block(cidr));
        }
        let (namespace, selector) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: use NAMESPACE/KEY=VALUE[,KEY=VALUE] or an address or CIDR"))?;
        let mut labels = Labels::new();
        for pair in selector.split(',') {
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not KEY=VALUE"))?;
            labels.insert(key.trim(), value.trim());
        }
        if namespace.is_empty() || labels.is_empty() {
            return Err(format!("`{text}`: name the namespace and at least one label"));
        }
        Ok(DnsTarget::Pods { namespace: namespace.to_string(), labels })
    }
}

impl DnsTarget {
    /// The endpoints that answer DNS in `cluster`: the matching pods, or the address.
    pub fn servers(&self, cluster: &Cluster) -> Vec<Endpoint> {
        match self {
            DnsTarget::Block(cidr) => vec![Endpoint::Address(cidr.network)],
            DnsTarget::Pods { namespace, labels } => {
                let mut servers = Vec::new();
                for (w, workload) in cluster.workloads.iter().enumerate().filter(|(_, w)| &w.id.namespace == namespace)
                {
                    for (pod, facts) in workload.pods.iter().map(|p| &p.facts).enumerate() {
                        if labels.iter().all(|(k, v)| facts.labels.get(k) == Some(v)) {
                            servers.push(Endpoint::Pod { workload: w, pod });
                        }
                    }
                }
                servers
            }
        }
    }
}

impl std::fmt::Display for DnsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsTarget::Pods { namespace, labels } => {
                let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "pods {} in namespace {namespace}", pairs.join(","))
            }
            DnsTarget::Block(cidr) => write!(f, "{cidr}"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// `--dns`; detected from the input when `None`.
    pub dns: Option<DnsTarget>,
    /// `--ingress-namespace`; detected from the ingress controllers' images when empty.
    pub ingress_namespaces: Vec<String>,
    pub cluster_domain: String,
    pub flows: Vec<ObservedFlow>,
    /// `--api-server`: where API clients may go; read from `default/kubernetes` endpoints when empty.
    pub api_server: Vec<Cidr>,
}

/// What the generator decided, before the proof.
#[derive(Debug, Clone)]
pub struct Plan {
    pub policies: Vec<GeneratedPolicy>,
    pub needs: Vec<Need>,
    pub dns: DnsTarget,
    pub dns_ports: PortSet,
    /// Namespaces given a default-deny or found with one.
    pub segmented: Vec<String>,
    /// Defaults used and things left alone, in words.
    pub notes: Vec<String>,
    /// Workloads standing in for what the input lacks (the DNS pods, a pod of any namespace), for the proof.
    pub stand_ins: Vec<Workload>,
    /// `--mesh`: the mesh's authorization for the same flows, planned after the policies.
    pub mesh: Option<crate::mesh_policy::MeshPlan>,
}

/// The labels that say which workload a pod belongs to and survive a rollout: the controller's selector, else the
/// pod's labels without those the controllers stamp per revision or per pod.
pub fn stable_selector(workload: &Workload) -> LabelSelector {
    workload.stable_selector()
}

fn governed(workload: &Workload) -> bool {
    !workload.pods.is_empty() && !workload.pods.iter().all(|p| p.facts.host_network)
}

pub(crate) fn stand_in(namespace: &str, name: &str, labels: Labels, ports: Vec<ContainerPort>) -> Workload {
    let location = netseg_model::Location { file: Arc::from("<netseg stand-in>"), line: 0 };
    Workload {
        id: WorkloadRef { namespace: namespace.to_string(), name: name.to_string(), kind: WorkloadKind::Pod },
        selector: None,
        pods: vec![Pod {
            name: None,
            facts: PodFacts { labels, ports, ..PodFacts::default() },
            location: location.clone(),
        }],
        ignore: Suppression::default(),
        location,
    }
}

/// Adds stand-in workloads (and their namespaces) to a cluster, keeping the namespace list sorted.
pub fn with_stand_ins(cluster: &Cluster, stand_ins: &[Workload]) -> Cluster {
    let mut extended = cluster.clone();
    for workload in stand_ins {
        let ns = &workload.id.namespace;
        if extended.namespace(ns).is_none() {
            extended.namespaces.push(Namespace {
                name: ns.clone(),
                labels: Labels::from([(NAMESPACE_NAME_LABEL, ns.as_str())]),
                annotations: Labels::new(),
                ignore: Suppression::default(),
                location: None,
            });
            extended.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        }
        extended.workloads.push(workload.clone());
    }
    extended
}

/// Parses generated YAML back through the loader. The generator writes only what the loader reads cleanly, so
/// any diagnostic is a bug, reported as such.
pub fn read_back(yaml: &str) -> Result<Vec<NetworkPolicy>, String> {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("<generated>"), yaml.as_bytes(), false);
    if let Some(problem) = inventory.diagnostics.iter().find(|d| d.severity != netseg_model::Severity::Note) {
        return Err(format!("the generated YAML does not read back cleanly: {problem}"));
    }
    Ok(inventory.policies)
}

fn dns_target(cluster: &Cluster, options: &GenerateOptions, notes: &mut Vec<String>) -> (DnsTarget, PortSet) {
    let default_ports = PortSet::from_ranges(&[(Protocol::Udp, 53, 53), (Protocol::Tcp, 53, 53)]);
    if let Some(dns) = &options.dns {
        return (dns.clone(), default_ports);
    }
    let service = cluster.services.iter().find(|s| s.name == "kube-dns" && s.namespace == "kube-system");
    let server = cluster.workloads.iter().find(|w| {
        w.pods.iter().any(|p| {
            p.facts.labels.get("k8s-app").is_some_and(|v| &**v == "kube-dns")
                || service.is_some_and(|s| s.namespace == w.id.namespace && s.selects(&p.facts.labels))
        })
    });
    match server {
        Some(server) => {
            let ports = match service {
                Some(service) => {
                    let all: Vec<_> = service.ports.iter().collect();
                    needs::backends(cluster, service, &all).into_iter().map(|(_, p)| p).next().unwrap_or(default_ports)
                }
                None => default_ports,
            };
            let labels = stable_selector(server).match_labels;
            let labels = if labels.is_empty() { Labels::from([("k8s-app", "kube-dns")]) } else { labels };
            (DnsTarget::Pods { namespace: server.id.namespace.clone(), labels }, ports)
        }
        None => {
            notes.push(
                "assumed: the cluster DNS is not in the input; it is taken to be the pods labelled k8s-app=kube-dns \
                 in kube-system (kubeadm, EKS, GKE, AKS, k3s), on UDP and TCP 53 (--dns to say otherwise)"
                    .into(),
            );
            let labels = Labels::from([("k8s-app", "kube-dns")]);
            (DnsTarget::Pods { namespace: "kube-system".into(), labels }, default_ports)
        }
    }
}

fn ingress_source(cluster: &Cluster, options: &GenerateOptions, notes: &mut Vec<String>) -> Source {
    let controllers: Vec<usize> = (0..cluster.workloads.len())
        .filter(|&w| {
            cluster.workloads[w].pods.iter().flat_map(|p| &p.facts.images).any(|image| {
                let name = image.split('@').next().unwrap_or(image);
                INGRESS_CONTROLLER_IMAGES.iter().any(|known| name.contains(known))
            })
        })
        .collect();
    let namespaces: BTreeSet<String> = if options.ingress_namespaces.is_empty() {
        controllers.iter().map(|&w| cluster.workloads[w].id.namespace.clone()).collect()
    } else {
        options.ingress_namespaces.iter().cloned().collect()
    };
    match namespaces.len() {
        0 => {
            if !cluster.ingresses.is_empty() {
                notes.push(
                    "assumed: no ingress controller in the input and no --ingress-namespace: Ingress backends are \
                     opened to pods of every namespace"
                        .into(),
                );
            }
            Source::AllNamespaces
        }
        1 => {
            let name = namespaces.into_iter().next().unwrap_or_default();
            let members = controllers.into_iter().filter(|&w| cluster.workloads[w].id.namespace == name).collect();
            Source::Namespace { name, members }
        }
        _ => {
            notes.push(format!(
                "ingress controllers in several namespaces ({}): Ingress backends are opened to every namespace; \
                 --ingress-namespace picks one",
                namespaces.into_iter().collect::<Vec<_>>().join(", ")
            ));
            Source::AllNamespaces
        }
    }
}

/// Stricter than an ipBlock needs: no generated CIDR ever covers a cloud metadata endpoint.
pub fn block_without_metadata(cidr: Cidr) -> Option<IpBlock> {
    let metadata: Vec<Cidr> = METADATA_ADDRESSES
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(|addr| Cidr { network: addr, prefix: Cidr::max_prefix(addr) })
        .collect();
    if metadata.iter().any(|m| m == &cidr || (m.prefix == cidr.prefix && m.network == cidr.network)) {
        return None;
    }
    let except: Vec<Cidr> = metadata.into_iter().filter(|m| cidr.strictly_contains(m)).collect();
    Some(IpBlock { cidr, except })
}

fn host_block(addr: IpAddr) -> Option<IpBlock> {
    block_without_metadata(Cidr { network: addr, prefix: Cidr::max_prefix(addr) })
}

/// Accumulates the rules of one policy per workload and direction, one rule per peer.
#[derive(Default)]
struct Rules {
    /// (workload, direction) → rules in order.
    slots: Vec<((usize, Direction), Vec<GeneratedRule>)>,
}

impl Rules {
    fn add(&mut self, workload: usize, direction: Direction, peer: Option<PeerSelector>, ports: PortSet, reason: &str) {
        let slot = match self.slots.iter().position(|(key, _)| *key == (workload, direction)) {
            Some(index) => &mut self.slots[index].1,
            None => {
                self.slots.push(((workload, direction), Vec::new()));
                let last = self.slots.len() - 1;
                &mut self.slots[last].1
            }
        };
        let peers: Vec<PeerSelector> = peer.into_iter().collect();
        match slot.iter_mut().find(|rule| rule.peers == peers) {
            Some(rule) => {
                rule.ports.union_with(&ports);
                if !rule.reasons.iter().any(|r| r == reason) {
                    rule.reasons.push(reason.to_string());
                }
            }
            None => slot.push(GeneratedRule { peers, ports, reasons: vec![reason.to_string()] }),
        }
    }
}

/// Policy names that clash with nothing in the namespace: `base`, else `netseg-base`, `netseg-base-2`, ...
pub(crate) fn unique_name(taken: &mut BTreeSet<(String, String)>, namespace: &str, base: &str) -> String {
    // Object names are DNS subdomains of at most 253 characters; keep room for the prefix and a counter.
    let base = base.get(..230).map_or(base, |cut| cut.trim_end_matches(['-', '.']));
    let mut candidates = vec![base.to_string(), format!("netseg-{base}")];
    candidates.extend((2..).take(1000).map(|n| format!("netseg-{base}-{n}")));
    let name =
        candidates.into_iter().find(|c| !taken.contains(&(namespace.to_string(), c.clone()))).unwrap_or_default();
    taken.insert((namespace.to_string(), name.clone()));
    name
}

/// Plans the policies for the network's cluster. Every check asks the engine with the CNI's semantics and the
/// policies enforced: the plan describes what they do once a CNI enforces them.
pub fn plan(network: &Network<'_>, options: &GenerateOptions) -> Result<Plan, String> {
    let cluster = network.cluster;
    let engine = &network.setup.engine;
    let mut notes = Vec::new();
    let (dns, dns_ports) = dns_target(cluster, options, &mut notes);
    let controller = ingress_source(cluster, options, &mut notes);
    let mut taken: BTreeSet<(String, String)> =
        cluster.policies.iter().map(|p| (p.namespace.clone(), p.name.clone())).collect();

    // Which namespaces to segment.
    let mut skipped: BTreeSet<String> = SYSTEM_NAMESPACES.iter().map(|s| s.to_string()).collect();
    if let Source::Namespace { name, .. } = &controller {
        skipped.insert(name.clone());
    }
    // The DNS pods need the API server and the upstream resolvers; segmenting them would cut every name lookup.
    let dns_namespace = match &dns {
        DnsTarget::Pods { namespace, .. } if !dns.servers(cluster).is_empty() => Some(namespace.clone()),
        _ => None,
    };
    skipped.extend(dns_namespace.clone());
    let namespaces: BTreeSet<String> =
        cluster.workloads.iter().filter(|w| governed(w)).map(|w| w.id.namespace.clone()).collect();
    for ns in namespaces.intersection(&skipped) {
        notes.push(format!(
            "namespace {ns} is left as it is: {}",
            if SYSTEM_NAMESPACES.contains(&ns.as_str()) {
                "its agents need the API server and the nodes, whose addresses the input does not pin down"
            } else if dns_namespace.as_ref() == Some(ns) {
                "the cluster DNS runs there and needs the API server and the upstream resolvers"
            } else {
                "the ingress controller runs there and needs the API server"
            }
        ));
    }
    let segmented: Vec<String> = namespaces.difference(&skipped).cloned().collect();

    // Stand-ins for what the input lacks, so that every check below is a question to the engine.
    let mut stand_ins = Vec::new();
    if let DnsTarget::Pods { namespace, labels } = &dns {
        if dns.servers(cluster).is_empty() {
            let ports = Protocol::ALL
                .iter()
                .flat_map(|&protocol| {
                    dns_ports.ranges(protocol).iter().map(move |&(s, _)| ContainerPort {
                        name: None,
                        port: s,
                        protocol,
                        host_port: None,
                    })
                })
                .collect();
            stand_ins.push(stand_in(namespace, "cluster-dns", labels.clone(), ports));
        }
    }
    if controller == Source::AllNamespaces
        || matches!(&controller, Source::Namespace { members, .. } if members.is_empty())
    {
        let ns = match &controller {
            Source::Namespace { name, .. } => name.as_str(),
            _ => PROBE_NAMESPACE,
        };
        stand_ins.push(stand_in(ns, "any-pod", Labels::new(), Vec::new()));
    }
    let stand_in_index =
        |name: &str| stand_ins.iter().position(|w| w.id.name == name).map(|i| cluster.workloads.len() + i);
    let probe_index = stand_in_index("any-pod");

    // The default-deny policies and DNS come first: every other rule is decided with them in place.
    let mut policies = Vec::new();
    for ns in &segmented {
        let covered = |direction: Direction| {
            cluster.policies.iter().any(|p| &p.namespace == ns && p.pod_selector.is_empty() && p.applies_to(direction))
        };
        let missing: Vec<Direction> =
            [Direction::Ingress, Direction::Egress].into_iter().filter(|d| !covered(*d)).collect();
        if missing.is_empty() {
            continue;
        }
        let base = match missing.as_slice() {
            [Direction::Ingress] => "default-deny-ingress",
            [Direction::Egress] => "default-deny-egress",
            _ => "default-deny",
        };
        let what: Vec<&str> = missing.iter().map(|d| d.as_str()).collect();
        policies.push(GeneratedPolicy {
            namespace: ns.clone(),
            name: unique_name(&mut taken, ns, base),
            pod_selector: LabelSelector::default(),
            policy_types: missing.clone(),
            ingress: Vec::new(),
            egress: Vec::new(),
            purpose: format!(
                "default-deny {} for every pod of {ns}: only what other policies allow gets through",
                what.join(" and ")
            ),
        });
    }
    let mut work = with_stand_ins(cluster, &stand_ins);
    work.policies.extend(read_back(&crate::manifest::to_yaml_stream(&policies, ""))?);

    let dns_peer = match &dns {
        DnsTarget::Pods { namespace, labels } => PeerSelector::Pods {
            namespaces: Some(namespace_selector(namespace)),
            pods: Some(LabelSelector { match_labels: labels.clone(), ..LabelSelector::default() }),
        },
        DnsTarget::Block(cidr) => PeerSelector::IpBlock(
            block_without_metadata(*cidr).ok_or_else(|| format!("--dns {cidr} is a cloud metadata address"))?,
        ),
    };
    {
        let analysis = Analysis::with_options(&work, engine);
        let servers = dns.servers(&work);
        let mut dns_policies = Vec::new();
        for ns in &segmented {
            let lacking = (0..cluster.workloads.len())
                .filter(|&w| &cluster.workloads[w].id.namespace == ns && governed(&cluster.workloads[w]))
                .any(|w| {
                    (0..cluster.workloads[w].pods.len()).any(|pod| {
                        servers.iter().all(|&server| {
                            let egress = analysis.explain(Endpoint::Pod { workload: w, pod }, server).egress.allowed;
                            egress.intersection(&dns_ports) != dns_ports
                        })
                    })
                });
            if lacking {
                dns_policies.push(GeneratedPolicy {
                    namespace: ns.clone(),
                    name: unique_name(&mut taken, ns, "allow-dns"),
                    pod_selector: LabelSelector::default(),
                    policy_types: vec![Direction::Egress],
                    ingress: Vec::new(),
                    egress: vec![GeneratedRule {
                        peers: vec![dns_peer.clone()],
                        ports: dns_ports.clone(),
                        reasons: vec![format!("the cluster DNS: {dns}")],
                    }],
                    purpose: format!("every pod of {ns} may resolve names"),
                });
            }
        }
        drop(analysis);
        work.policies.extend(read_back(&crate::manifest::to_yaml_stream(&dns_policies, ""))?);
        policies.extend(dns_policies);
    }

    // The flows the application needs.
    let mut wanted = Vec::new();
    needs::exposed_services(cluster, &mut wanted);
    needs::ingress_backends(cluster, &controller, &mut wanted, &mut notes);
    needs::service_references(cluster, &options.cluster_domain, &mut wanted, &mut notes);
    needs::policy_allowances(cluster, &mut wanted);
    needs::observed(&options.flows, &mut wanted, &mut notes);
    let api_server = needs::ApiServer::find(cluster, &options.api_server);
    needs::api_clients(cluster, &api_server, &segmented, &mut wanted, &mut notes);
    // A metadata endpoint is never opened, and never opened up to: as a flow's end it cannot become a rule.
    wanted.retain(|need| {
        let metadata = match (&need.src, need.dst) {
            (_, Destination::Block(cidr)) if block_without_metadata(cidr).is_none() => Some(cidr.network),
            (Source::Address(addr), _) if host_block(*addr).is_none() => Some(*addr),
            _ => None,
        };
        if let Some(addr) = metadata {
            notes.push(format!("{}: {addr} is a cloud metadata endpoint; it stays closed", need.reason));
        }
        metadata.is_none()
    });

    // A string that names a Service three times (`command: [sh, -c, "until curl frontend; ...frontend"]`) is one
    // reason, not three.
    let mut unique: Vec<Need> = Vec::with_capacity(wanted.len());
    for need in wanted {
        if !unique.contains(&need) {
            unique.push(need);
        }
    }
    let wanted = unique;

    let analysis = Analysis::with_options(&work, engine);
    let mut rules = Rules::default();
    let mut hbone_noted = false;
    for need in &wanted {
        let sources = source_endpoints(&work, &need.src, probe_index);
        let destinations = match need.dst {
            Destination::Workload(w) => pods_of(&work, w),
            Destination::Block(cidr) => vec![Endpoint::Address(cidr.network)],
        };
        let mut egress_ok = need.ports.clone();
        let mut ingress_ok = need.ports.clone();
        // Istio ambient carries TCP between meshed pods in HBONE: the network sees the tunnel's port.
        let mut tunnelled = false;
        for &src in &sources {
            for &dst in &destinations {
                let explanation = analysis.explain(src, dst);
                egress_ok = egress_ok.intersection(&explanation.egress.allowed);
                ingress_ok = ingress_ok.intersection(&explanation.ingress.allowed);
                tunnelled |= explanation.egress.hbone.is_some();
            }
        }
        let on_the_wire = |missing: PortSet| {
            if tunnelled && !missing.intersection(&PortSet::protocol(Protocol::Tcp)).is_empty() {
                let mut ports = missing;
                ports.union_with(&PortSet::single(Protocol::Tcp, netseg_engine::HBONE_PORT));
                ports
            } else {
                missing
            }
        };
        if tunnelled && !hbone_noted {
            hbone_noted = true;
            notes.push(format!(
                "Istio ambient tunnels TCP between meshed pods over HBONE: the rules between them also admit TCP {}, \
                 the port the network sees",
                netseg_engine::HBONE_PORT
            ));
        }
        if let Source::Workload(src) = need.src {
            let missing = on_the_wire(need.ports.difference(&egress_ok));
            if !missing.is_empty() {
                let peer = match need.dst {
                    Destination::Workload(dst) => Some(pods_peer(cluster, dst, &cluster.workloads[src].id.namespace)),
                    Destination::Block(cidr) => block_without_metadata(cidr).map(PeerSelector::IpBlock),
                };
                // `None` would mean every peer; only an explicit "from anywhere" below may ask for that.
                if let Some(peer) = peer {
                    rules.add(src, Direction::Egress, Some(peer), missing, &need.reason);
                }
            }
        }
        if let Destination::Workload(dst) = need.dst {
            let missing = on_the_wire(need.ports.difference(&ingress_ok));
            if !missing.is_empty() {
                let own = &cluster.workloads[dst].id.namespace;
                let peer = match &need.src {
                    Source::Workload(src) => Some(pods_peer(cluster, *src, own)),
                    Source::Anywhere => None,
                    Source::Namespace { name, .. } => {
                        Some(PeerSelector::Pods { namespaces: Some(namespace_selector(name)), pods: None })
                    }
                    Source::AllNamespaces => {
                        Some(PeerSelector::Pods { namespaces: Some(LabelSelector::default()), pods: None })
                    }
                    Source::Address(addr) => match host_block(*addr) {
                        Some(block) => Some(PeerSelector::IpBlock(block)),
                        None => continue,
                    },
                };
                rules.add(dst, Direction::Ingress, peer, missing, &need.reason);
            }
        }
    }

    let mut slots = rules.slots;
    slots.sort_by(|a, b| (&cluster.workloads[a.0 .0].id, a.0 .1).cmp(&(&cluster.workloads[b.0 .0].id, b.0 .1)));
    for ((workload, direction), rules) in slots {
        let w = &cluster.workloads[workload];
        let selector = stable_selector(w);
        if selector.is_empty() {
            notes.push(format!("{} has no labels to select it by: no policy can allow its flows alone", w.id));
            continue;
        }
        let others: Vec<String> = cluster
            .workloads
            .iter()
            .filter(|o| o.id != w.id && o.id.namespace == w.id.namespace)
            .filter(|o| o.pods.iter().any(|p| selector.matches(&p.facts.labels)))
            .map(|o| o.id.to_string())
            .collect();
        if !others.is_empty() {
            notes.push(format!(
                "the selector of {} ({selector}) also selects {}: its rules apply to them too",
                w.id,
                others.join(", ")
            ));
        }
        let suffix = if direction == Direction::Ingress { "ingress" } else { "egress" };
        let clash = cluster
            .workloads
            .iter()
            .any(|o| o.id != w.id && o.id.namespace == w.id.namespace && o.id.name == w.id.name);
        let base = if clash {
            format!("{}-{}-{suffix}", w.id.name, w.id.kind.as_str().to_ascii_lowercase())
        } else {
            format!("{}-{suffix}", w.id.name)
        };
        let (ingress, egress) = if direction == Direction::Ingress { (rules, Vec::new()) } else { (Vec::new(), rules) };
        policies.push(GeneratedPolicy {
            namespace: w.id.namespace.clone(),
            name: unique_name(&mut taken, &w.id.namespace, &base),
            pod_selector: selector,
            policy_types: vec![direction],
            ingress,
            egress,
            purpose: format!("what {} needs, {}", w.id, if direction == Direction::Ingress { "in" } else { "out" }),
        });
    }
    // One namespace after the other; within one, default-deny, DNS, then the workloads (a stable sort).
    policies.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    Ok(Plan { policies, needs: wanted, dns, dns_ports, segmented, notes, stand_ins, mesh: None })
}

fn pods_of(cluster: &Cluster, workload: usize) -> Vec<Endpoint> {
    (0..cluster.workloads[workload].pods.len()).map(|pod| Endpoint::Pod { workload, pod }).collect()
}

/// The pods that stand for a need's source in the engine.
pub(crate) fn source_endpoints(cluster: &Cluster, source: &Source, probe: Option<usize>) -> Vec<Endpoint> {
    match source {
        Source::Workload(w) => pods_of(cluster, *w),
        Source::Anywhere => vec![Endpoint::Address(OUTSIDE_CLIENT)],
        Source::Address(addr) => vec![Endpoint::Address(*addr)],
        Source::Namespace { members, .. } if !members.is_empty() => {
            members.iter().flat_map(|&w| pods_of(cluster, w)).collect()
        }
        Source::Namespace { .. } | Source::AllNamespaces => probe.map(|p| pods_of(cluster, p)).unwrap_or_default(),
    }
}

/// The pods of a workload as a peer of a policy in `policy_namespace`.
fn pods_peer(cluster: &Cluster, workload: usize, policy_namespace: &str) -> PeerSelector {
    let w = &cluster.workloads[workload];
    PeerSelector::Pods {
        namespaces: (w.id.namespace != policy_namespace).then(|| namespace_selector(&w.id.namespace)),
        pods: Some(stable_selector(w)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_selector_prefers_the_controller_and_drops_per_revision_labels() {
        let labels = Labels::from([
            ("app", "web"),
            ("pod-template-hash", "7d9c8b6f5"),
            ("statefulset.kubernetes.io/pod-name", "web-0"),
        ]);
        let mut workload = stand_in("x", "web", labels, Vec::new());
        assert_eq!(stable_selector(&workload).to_string(), "app=web");
        let controller = LabelSelector { match_labels: Labels::from([("tier", "front")]), ..Default::default() };
        workload.selector = Some(controller.clone());
        assert_eq!(stable_selector(&workload), controller);
    }

    #[test]
    fn no_generated_block_covers_a_metadata_endpoint() {
        let cidr = |text: &str| text.parse::<Cidr>().expect("cidr");
        let all = block_without_metadata(cidr("0.0.0.0/0")).expect("block");
        let except: Vec<String> = all.except.iter().map(ToString::to_string).collect();
        assert_eq!(except, ["169.254.169.254/32", "100.100.100.200/32", "168.63.129.16/32"]);
        let v6 = block_without_metadata(cidr("fd00::/8")).expect("block");
        assert_eq!(v6.except.iter().map(ToString::to_string).collect::<Vec<_>>(), ["fd00:ec2::254/128"]);
        assert_eq!(block_without_metadata(cidr("169.254.169.254/32")), None);
        assert_eq!(block_without_metadata(cidr("10.0.0.0/8")).map(|b| b.except.len()), Some(0));
    }

    #[test]
    fn names_never_replace_an_existing_policy() {
        let mut taken = BTreeSet::from([("a".to_string(), "allow-dns".to_string())]);
        assert_eq!(unique_name(&mut taken, "a", "allow-dns"), "netseg-allow-dns");
        assert_eq!(unique_name(&mut taken, "a", "allow-dns"), "netseg-allow-dns-2");
        assert_eq!(unique_name(&mut taken, "b", "allow-dns"), "allow-dns");
        let long = format!("{}-egress", "w".repeat(250));
        assert!(unique_name(&mut taken, "b", &long).len() <= 253);
    }

    #[test]
    fn dns_targets_parse() {
        assert_eq!(
            "kube-system/k8s-app=kube-dns".parse::<DnsTarget>().map(|d| d.to_string()).as_deref(),
            Ok("pods k8s-app=kube-dns in namespace kube-system")
        );
        assert_eq!("169.254.20.10".parse::<DnsTarget>().map(|d| d.to_string()).as_deref(), Ok("169.254.20.10/32"));
        assert!("kube-dns".parse::<DnsTarget>().is_err());
        assert!("kube-system/".parse::<DnsTarget>().is_err());
    }
}
