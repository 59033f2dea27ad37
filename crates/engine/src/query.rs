//! Questions users ask by name: endpoints as `ns/name[Kind]`, pod names or IP addresses, and port filters.

use crate::addresses::IpRange;
use crate::cilium::NameLookup;
use crate::request::{Layer, Request, RequestVerdict};
use crate::{Analysis, Endpoint, Explanation, PortSet, ReachEndpoint};
use netseg_model::cilium::{normalize_dns_name, CiliumEntity};
use netseg_model::{Cluster, Protocol, WorkloadKind};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("`{0}` names no workload, pod or IP address in the input{1}")]
    Unknown(String, String),
    #[error("`{0}` is ambiguous: it could be {1}; write it as namespace/name[Kind]")]
    Ambiguous(String, String),
    #[error("`{0}` is not a protocol: use TCP, UDP or SCTP")]
    BadProtocol(String),
    #[error(
        "`{0}` names no workload, pod, IP address, DNS name or Cilium entity{1} (a DNS name has a dot, such as \
         api.example.com; the entities are world, world-ipv4, world-ipv6, cluster, host, remote-node, \
         kube-apiserver, all)"
    )]
    UnknownTarget(String, String),
    #[error("`{0}` is Cilium's `{1}` entity, which netseg does not model: {2}")]
    UnmodelledEntity(String, CiliumEntity, &'static str),
    #[error("`{0}` is Cilium's `{1}` entity, but the input has none: {2}")]
    NoEntityInInput(String, CiliumEntity, &'static str),
    #[error("`{0}` is a DNS name: only a destination can be one (Cilium's `toFQDNs` rules are egress rules)")]
    NameAsSource(String),
}

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The name to show: the workload id, `ns/pod[Pod]` of a workload's pod, or the address.
    pub display: String,
    /// A workload index, when the name is a workload or one of its pods.
    pub workload: Option<usize>,
    /// The pods it stands for (one for a pod or an address).
    pub endpoints: Vec<Endpoint>,
    /// The Cilium entity the name is, when it is one (`--to world`, `--to kube-apiserver`).
    pub entity: Option<CiliumEntity>,
    /// Besides `endpoints`, an address outside the cluster that the input does not give: a DNS name, or the
    /// `world` entities. [`verdict`] picks the address that stands for it.
    pub outside: Option<Outside>,
}

/// An address outside the cluster that a question names without giving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The DNS name, lower case without the trailing dot; `None` for an entity.
    pub name: Option<String>,
    /// IPv6 addresses only (`world-ipv6`); otherwise IPv4 (`world-ipv4`, `world`, a name).
    pub ipv6: bool,
}

/// Names and addresses indexed once, so that many questions about one cluster each cost a few lookups instead of a
/// scan of every pod.
pub struct Resolver<'c> {
    cluster: &'c Cluster,
    /// The first pod, in workload and pod order, holding each IP.
    by_ip: HashMap<IpAddr, (usize, usize)>,
    workloads_by_name: HashMap<&'c str, Vec<usize>>,
    pods_by_name: HashMap<&'c str, Vec<(usize, usize)>>,
}

impl<'c> Resolver<'c> {
    pub fn new(cluster: &'c Cluster) -> Resolver<'c> {
        let mut resolver = Resolver {
            cluster,
            by_ip: HashMap::new(),
            workloads_by_name: HashMap::new(),
            pods_by_name: HashMap::new(),
        };
        for (w, workload) in cluster.workloads.iter().enumerate() {
            resolver.workloads_by_name.entry(workload.id.name.as_str()).or_default().push(w);
            for (p, pod) in workload.pods.iter().enumerate() {
                for ip in &pod.facts.ips {
                    resolver.by_ip.entry(*ip).or_insert((w, p));
                }
                if let Some(name) = &pod.name {
                    resolver.pods_by_name.entry(name.as_str()).or_default().push((w, p));
                }
            }
        }
        resolver
    }

    /// What [`resolve`] answers.
    pub fn resolve(&self, text: &str) -> Result<Resolved, QueryError> {
        resolve_with(self.cluster, text, Some(self))
    }
}

/// Resolves `ns/name[Kind]`, `ns/name`, `name`, a pod name from a dump, or an IP address (a pod's IP finds the pod).
pub fn resolve(cluster: &Cluster, text: &str) -> Result<Resolved, QueryError> {
    resolve_with(cluster, text, None)
}

fn resolve_with(cluster: &Cluster, text: &str, index: Option<&Resolver<'_>>) -> Result<Resolved, QueryError> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        let found = match index {
            Some(index) => index.by_ip.get(&addr).copied(),
            None => cluster.workloads.iter().enumerate().find_map(|(w, workload)| {
                workload.pods.iter().position(|pod| pod.facts.ips.contains(&addr)).map(|p| (w, p))
            }),
        };
        if let Some((w, p)) = found {
            let workload = &cluster.workloads[w];
            let name = workload.pods[p].name.clone().unwrap_or_else(|| workload.id.name.clone());
            return Ok(Resolved {
                display: format!("{}/{name}[Pod] ({addr})", workload.id.namespace),
                workload: Some(w),
                endpoints: vec![Endpoint::Pod { workload: w, pod: p }],
                entity: None,
                outside: None,
            });
        }
        return Ok(Resolved {
            display: addr.to_string(),
            workload: None,
            endpoints: vec![Endpoint::Address(addr)],
            entity: None,
            outside: None,
        });
    }
    let (path, kind) = match text.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((path, kind)) => (path, Some(kind)),
        None => (text, None),
    };
    let (namespace, name) = match path.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, path),
    };
    let kind_matches = |k: WorkloadKind| kind.is_none_or(|want| want.eq_ignore_ascii_case(k.as_str()));
    let ns_matches = |ns: &str| namespace.is_none_or(|want| want == ns);
    let candidates: Vec<usize> = match index {
        Some(index) => index.workloads_by_name.get(name).cloned().unwrap_or_default(),
        None => (0..cluster.workloads.len()).collect(),
    };
    let workloads: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            let w = &cluster.workloads[i];
            w.id.name == name && ns_matches(&w.id.namespace) && kind_matches(w.id.kind)
        })
        .collect();
    match workloads.as_slice() {
        [one] => {
            let workload = &cluster.workloads[*one];
            return Ok(Resolved {
                display: workload.id.to_string(),
                workload: Some(*one),
                endpoints: (0..workload.pods.len()).map(|pod| Endpoint::Pod { workload: *one, pod }).collect(),
                entity: None,
                outside: None,
            });
        }
        [] => {}
        many => {
            let names: Vec<String> = many.iter().map(|i| cluster.workloads[*i].id.to_string()).collect();
            return Err(QueryError::Ambiguous(text.to_string(), names.join(" or ")));
        }
    }
    // A pod of a workload, by the pod's own name (dumps carry them).
    if kind.is_none_or(|k| k.eq_ignore_ascii_case("Pod")) {
        let named: Vec<(usize, usize)> = match index {
            Some(index) => index.pods_by_name.get(name).cloned().unwrap_or_default(),
            None => cluster
                .workloads
                .iter()
                .enumerate()
                .flat_map(|(w, workload)| (0..workload.pods.len()).map(move |p| (w, p)))
                .filter(|&(w, p)| cluster.workloads[w].pods[p].name.as_deref() == Some(name))
                .collect(),
        };
        let pods: Vec<(usize, usize)> =
            named.into_iter().filter(|&(w, _)| ns_matches(&cluster.workloads[w].id.namespace)).collect();
        if let [(w, p)] = pods.as_slice() {
            let workload = &cluster.workloads[*w];
            return Ok(Resolved {
                display: format!("{}/{name}[Pod] of {}", workload.id.namespace, workload.id),
                workload: Some(*w),
                endpoints: vec![Endpoint::Pod { workload: *w, pod: *p }],
                entity: None,
                outside: None,
            });
        }
    }
    let close: Vec<String> = cluster
        .workloads
        .iter()
        .filter(|w| w.id.name.contains(name) || name.contains(&w.id.name))
        .take(5)
        .map(|w| w.id.to_string())
        .collect();
    let hint = if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(", ")) };
    Err(QueryError::Unknown(text.to_string(), hint))
}

/// Which end of a connection a name is for: a DNS name can only be a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Source,
    Destination,
}

/// What `--from` and `--to` take: everything [`resolve`] does (which comes first, so a workload named `world`
/// is still the workload), then a Cilium entity name (also as `reserved:NAME`, which is never a workload), then a
/// DNS name (for a destination).
pub fn resolve_target(cluster: &Cluster, text: &str, end: End) -> Result<Resolved, QueryError> {
    let trimmed = text.trim();
    let explicit_entity = trimmed.strip_prefix("reserved:");
    let hint = match explicit_entity {
        Some(_) => String::new(),
        None => match resolve(cluster, trimmed) {
            Ok(resolved) => return Ok(resolved),
            Err(QueryError::Unknown(_, hint)) => hint,
            Err(other) => return Err(other),
        },
    };
    if let Some(entity) = CiliumEntity::from_name(explicit_entity.unwrap_or(trimmed)) {
        return resolve_entity(cluster, trimmed, entity);
    }
    if explicit_entity.is_none() && is_dns_name(trimmed) {
        if end == End::Source {
            return Err(QueryError::NameAsSource(trimmed.to_string()));
        }
        let name = normalize_dns_name(trimmed).trim_end_matches('.').to_string();
        return Ok(Resolved {
            display: format!("{name} (a DNS name)"),
            workload: None,
            endpoints: Vec::new(),
            entity: None,
            outside: Some(Outside { name: Some(name), ipv6: false }),
        });
    }
    Err(QueryError::UnknownTarget(trimmed.to_string(), hint))
}

/// A DNS name as a question would give one: two or more labels of letters, digits, `-` and `_` (1 to 63 each,
/// 253 in all), an optional trailing dot, and not an address.
fn is_dns_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        // A last label of digits is an address that did not parse (`10.0.0.300`), not a name.
        && !labels.last().is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()))
}

/// The pods and addresses a Cilium entity stands for, as netseg models it (docs/cilium.md).
fn resolve_entity(cluster: &Cluster, text: &str, entity: CiliumEntity) -> Result<Resolved, QueryError> {
    let pods_where = |keep: &dyn Fn(&netseg_model::Workload, &netseg_model::Pod) -> bool| -> Vec<Endpoint> {
        let mut pods = Vec::new();
        for (w, workload) in cluster.workloads.iter().enumerate() {
            for (p, pod) in workload.pods.iter().enumerate() {
                if keep(workload, pod) {
                    pods.push(Endpoint::Pod { workload: w, pod: p });
                }
            }
        }
        pods
    };
    let resolved = |display: String, endpoints: Vec<Endpoint>, outside: Option<Outside>| {
        let workload = match endpoints.as_slice() {
            [Endpoint::Pod { workload, .. }, rest @ ..]
                if rest.iter().all(|e| matches!(e, Endpoint::Pod { workload: w, .. } if w == workload)) =>
            {
                Some(*workload)
            }
            _ => None,
        };
        Ok(Resolved { display, workload, endpoints, entity: Some(entity), outside })
    };
    let world = |ipv6| Some(Outside { name: None, ipv6 });
    match entity {
        CiliumEntity::World | CiliumEntity::WorldIpv4 => {
            resolved(format!("{entity} (an address outside the cluster)"), Vec::new(), world(false))
        }
        CiliumEntity::WorldIpv6 => {
            resolved(format!("{entity} (an IPv6 address outside the cluster)"), Vec::new(), world(true))
        }
        CiliumEntity::Cluster => resolved(format!("{entity} (every pod of the input)"), pods_where(&|_, _| true), None),
        CiliumEntity::All => resolved(
            format!("{entity} (every pod of the input and an address outside the cluster)"),
            pods_where(&|_, _| true),
            world(false),
        ),
        CiliumEntity::Host | CiliumEntity::RemoteNode => {
            let hosts = pods_where(&|_, pod| pod.facts.host_network);
            if hosts.is_empty() {
                return Err(QueryError::NoEntityInInput(
                    text.to_string(),
                    entity,
                    "netseg stands for the nodes by their host-network pods, and the input has no pod with \
                     hostNetwork: true; ask about a node's address with its IP",
                ));
            }
            resolved(format!("{entity} (the host-network pods of the input)"), hosts, None)
        }
        CiliumEntity::KubeApiserver => {
            let pods = pods_where(&|workload, pod| {
                workload.id.namespace == "kube-system"
                    && pod.facts.labels.get("component").is_some_and(|c| &**c == "kube-apiserver")
            });
            if !pods.is_empty() {
                return resolved(format!("{entity} (the kube-apiserver pods in kube-system)"), pods, None);
            }
            let addresses: Vec<Endpoint> = cluster
                .endpoints
                .iter()
                .filter(|e| e.namespace == "default" && e.service == "kubernetes")
                .flat_map(|e| &e.addresses)
                .map(|addr| match resolve(cluster, &addr.to_string()) {
                    Ok(Resolved { endpoints, .. }) => endpoints.first().copied().unwrap_or(Endpoint::Address(*addr)),
                    Err(_) => Endpoint::Address(*addr),
                })
                .collect();
            if addresses.is_empty() {
                return Err(QueryError::NoEntityInInput(
                    text.to_string(),
                    entity,
                    "no pod labelled component: kube-apiserver in kube-system and no default/kubernetes \
                     Endpoints; ask about the API server's address with its IP",
                ));
            }
            resolved(format!("{entity} (the default/kubernetes endpoints)"), addresses, None)
        }
        CiliumEntity::Ingress => Err(QueryError::UnmodelledEntity(
            text.to_string(),
            entity,
            "Cilium's own Envoy ingress (its Ingress and Gateway API controller) is not a pod netseg sees",
        )),
        CiliumEntity::Health | CiliumEntity::Init | CiliumEntity::Unmanaged | CiliumEntity::None => {
            Err(QueryError::UnmodelledEntity(
                text.to_string(),
                entity,
                "it stands for Cilium's own health endpoints, endpoints still starting, pods Cilium does not \
                 manage, or nothing, none of which is in the input",
            ))
        }
    }
}

/// What the verdict on an address outside the cluster that the question did not give stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideAnswer {
    /// The DNS name, when the question named one.
    pub name: Option<String>,
    /// The addresses the verdict speaks for: the largest part of the address space (of the family asked about)
    /// that every policy treats alike. netseg resolves no name, so this is the answer for an address that no
    /// address rule of the input singles out.
    pub ranges: Vec<IpRange>,
    /// The other addresses, where the answer on the queried ports differs: what they allow.
    pub otherwise: Vec<(Vec<IpRange>, PortSet)>,
    /// What Cilium makes of the name for the source of the explanation (`None` without a name, a pod source or
    /// Cilium's policies).
    pub lookup: Option<NameLookup>,
}

/// The address that stands for `outside`, and what the answer is elsewhere: the atoms of the address space (of
/// its family) grouped by what the pods of `pods` send to them (or, as a source, receive from them) on `wanted`.
fn outside_answer(
    analysis: &Analysis<'_>,
    outside: &Outside,
    pods: &[Endpoint],
    end: End,
    wanted: &PortSet,
) -> (IpAddr, OutsideAnswer) {
    let mut atoms: Vec<IpRange> =
        analysis.atoms().into_iter().filter(|atom| atom.start.is_ipv6() == outside.ipv6).collect();
    if atoms.is_empty() {
        atoms.push(IpRange { start: Ipv6Addr::UNSPECIFIED.into(), end: Ipv6Addr::from(u128::MAX).into() });
    }
    let mut representatives = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &pod in pods {
        if seen.insert(analysis.class_key(pod)) {
            representatives.push(pod);
        }
    }
    let mut groups: Vec<(PortSet, Vec<IpRange>, u128)> = Vec::new();
    for atom in atoms {
        let addr = atom.start;
        let mut ports = PortSet::empty();
        for &pod in &representatives {
            let allowed = match (end, &outside.name) {
                (End::Destination, Some(name)) => analysis.allowed_to_name(pod, addr, name),
                (End::Destination, None) => analysis.allowed(pod, Endpoint::Address(addr)),
                (End::Source, _) => analysis.allowed(Endpoint::Address(addr), pod),
            };
            ports.union_with(&allowed.intersection(wanted));
        }
        let size = netseg_model::cidr::ip_to_u128(atom.end) - netseg_model::cidr::ip_to_u128(atom.start);
        match groups.iter_mut().find(|(p, ..)| *p == ports) {
            Some(group) => {
                group.1.push(atom);
                group.2 = group.2.saturating_add(size);
            }
            None => groups.push((ports, vec![atom], size)),
        }
    }
    // The largest group; ties go to the first, which starts lowest.
    let main = (0..groups.len()).fold(0, |best, i| if groups[i].2 > groups[best].2 { i } else { best });
    let (_, ranges, _) = groups.remove(main);
    let first = ranges[0];
    // Any address of an atom answers alike; the unspecified address is not one a connection goes to.
    let addr = if first.start.is_unspecified() { first.end } else { first.start };
    let answer = OutsideAnswer {
        name: outside.name.clone(),
        ranges: crate::addresses::merge_ranges(ranges),
        otherwise: groups
            .into_iter()
            .map(|(ports, ranges, _)| (crate::addresses::merge_ranges(ranges), ports))
            .collect(),
        lookup: None,
    };
    (addr, answer)
}

/// Which ports a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortQuery {
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
}

impl PortQuery {
    /// `--protocol` defaults to TCP when a port is given.
    pub fn new(protocol: Option<&str>, port: Option<u16>) -> Result<PortQuery, QueryError> {
        let protocol = match protocol {
            Some(text) => Some(Protocol::from_user(text).ok_or_else(|| QueryError::BadProtocol(text.to_string()))?),
            None => port.map(|_| Protocol::Tcp),
        };
        Ok(PortQuery { protocol, port })
    }

    pub fn ports(&self) -> PortSet {
        match (self.protocol, self.port) {
            (Some(protocol), Some(port)) => PortSet::single(protocol, port),
            (Some(protocol), None) => PortSet::protocol(protocol),
            (None, _) => PortSet::all(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.protocol.is_none() && self.port.is_none()
    }
}

impl std::fmt::Display for PortQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.protocol, self.port) {
            (Some(protocol), Some(port)) => write!(f, "{protocol} {port}"),
            (Some(protocol), None) => write!(f, "any {protocol} port"),
            (None, _) => f.write_str("any port"),
        }
    }
}

/// The answer to `can`: the verdict on the queried ports and the explanation of one representative pod pair.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub from: Resolved,
    pub to: Resolved,
    pub query: PortQuery,
    /// The queried ports that are allowed (for workloads: between any of their pods).
    pub allowed_ports: PortSet,
    pub explanation: Explanation,
    /// Pairs of pods that answered differently, when a workload's pods differ.
    pub differing_pods: bool,
    /// The request the question names (`--method`, `--path`, `--host`, `--header`); unspecified when none.
    pub request: Request,
    /// What each layer that decides on requests (Cilium's L7 rules, a mesh) made of `request`. Empty when nothing
    /// in the input decides on requests: the verdict is then the network's, the same for any request on the port.
    pub request_verdicts: Vec<(Layer, RequestVerdict)>,
    /// Where one end is an address outside the cluster that the question did not give (a DNS name, `world`):
    /// which addresses the verdict speaks for, and what the others get.
    pub outside: Option<OutsideAnswer>,
}

impl Verdict {
    /// Some queried port is allowed, and no layer that decides on requests denies the named request.
    pub fn allowed(&self) -> bool {
        !self.allowed_ports.is_empty()
            && !self.request_verdicts.iter().any(|(_, verdict)| matches!(verdict, RequestVerdict::Denied { .. }))
    }
}

/// The verdict on `query` between `from` and `to`, for `request`: a layer that decides on requests (a mesh)
/// takes away the ports on which it refuses the named request, and says what it made of it.
pub fn verdict(
    analysis: &Analysis<'_>,
    mut from: Resolved,
    mut to: Resolved,
    query: PortQuery,
    request: Request,
) -> Verdict {
    let wanted = query.ports();
    // An address outside the cluster that the question names without giving it: one address stands for it (the
    // destination's when both ends are).
    let mut outside = None;
    let mut named: Option<(Endpoint, String)> = None;
    if let Some(target) = to.outside.clone() {
        let (addr, answer) = outside_answer(analysis, &target, &from.endpoints, End::Destination, &wanted);
        if let Some(name) = &target.name {
            named = Some((Endpoint::Address(addr), name.clone()));
        }
        to.endpoints.push(Endpoint::Address(addr));
        outside = Some(answer);
    } else if let Some(target) = from.outside.clone() {
        let (addr, answer) = outside_answer(analysis, &target, &to.endpoints, End::Source, &wanted);
        from.endpoints.push(Endpoint::Address(addr));
        outside = Some(answer);
    }
    let mut allowed_ports = PortSet::empty();
    type Explained = (Explanation, Vec<(Layer, RequestVerdict)>, Endpoint);
    let mut witness: Option<Explained> = None;
    let mut first: Option<Explained> = None;
    let mut answers = Vec::new();
    // Pods of one class answer alike: explain each distinct pair of classes once, however many replicas.
    let mut seen = std::collections::HashSet::new();
    // An entity that stands for many pods (`cluster`, `all`) asks about the other pods, not the source itself.
    let entity = from.entity.is_some() || to.entity.is_some();
    for &src in &from.endpoints {
        for &dst in &to.endpoints {
            if entity && src == dst && from.endpoints.len() + to.endpoints.len() > 2 {
                continue;
            }
            let key = (analysis.class_key(src), analysis.class_key(dst), src == dst);
            if !seen.insert(key) {
                continue;
            }
            let name = named.as_ref().filter(|(address, _)| *address == dst).map(|(_, name)| name.as_str());
            let explanation = analysis.explain_named(src, dst, name);
            let mut on_query = explanation.allowed.intersection(&wanted);
            let mut request_verdicts = Vec::new();
            if !request.is_unspecified() {
                if let Some(answer) = &explanation.mesh {
                    let network = explanation.egress.allowed.intersection(&explanation.ingress.allowed);
                    if let Some(decision) = answer.decide(&request, &network.intersection(&wanted)) {
                        on_query = on_query.difference(&decision.denied);
                        request_verdicts.push((decision.layer, decision.verdict));
                    }
                }
            }
            answers.push(on_query.is_empty());
            allowed_ports.union_with(&on_query);
            if witness.is_none() && !on_query.is_empty() {
                witness = Some((explanation.clone(), request_verdicts.clone(), src));
            }
            if first.is_none() {
                first = Some((explanation, request_verdicts, src));
            }
        }
    }
    let differing_pods = answers.windows(2).any(|w| w[0] != w[1]);
    let (explanation, mut request_verdicts, explained_src) = witness.or(first).unwrap_or_else(|| {
        let nowhere = Endpoint::Address(IpAddr::from([0, 0, 0, 0]));
        (analysis.explain(nowhere, nowhere), Vec::new(), nowhere)
    });
    if let (Some(answer), Some((_, name))) = (outside.as_mut(), &named) {
        answer.lookup = crate::cilium::name_lookup(analysis, explained_src, name);
    }
    // Cilium's L7 rules decide in the network, before the destination's mesh sees the request.
    if let Some(cilium) = crate::cilium::request_verdict(analysis.cluster, &explanation, &allowed_ports, &request) {
        request_verdicts.insert(0, (Layer::CiliumL7, cilium));
    }
    Verdict { from, to, query, allowed_ports, explanation, differing_pods, request, request_verdicts, outside }
}

/// Whether a reach endpoint is the one a filter names.
pub fn endpoint_matches(reach_endpoint: &ReachEndpoint, resolved: &Resolved) -> bool {
    match reach_endpoint {
        ReachEndpoint::Workload(index) => resolved.workload == Some(*index),
        ReachEndpoint::External { ranges } => resolved.endpoints.iter().any(|endpoint| match endpoint {
            Endpoint::Address(addr) => ranges.iter().any(|range| {
                let value = netseg_model::cidr::ip_to_u128(*addr);
                range.start.is_ipv4() == addr.is_ipv4()
                    && netseg_model::cidr::ip_to_u128(range.start) <= value
                    && value <= netseg_model::cidr::ip_to_u128(range.end)
            }),
            Endpoint::Pod { .. } => false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::cluster;

    const PODS: &str = "kind: Pod
metadata: {name: app, namespace: shop, labels: {app: app}}
---
kind: Pod
metadata: {name: world, namespace: shop, labels: {app: world}}
---
kind: Pod
metadata: {name: node-agent, namespace: kube-system, labels: {app: agent}}
spec: {hostNetwork: true}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
";

    #[test]
    fn dns_names_have_two_labels_of_dns_characters_and_are_not_addresses() {
        for name in ["api.github.com", "API.GitHub.com.", "a-b_c.example", "x.y"] {
            assert!(is_dns_name(name), "{name}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        for bad in ["localhost", "10.0.0.300", "a..b", ".a.b", "a b.com", "shop/app", "*.github.com", &long_label] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn workloads_come_first_then_entities_then_names() {
        let c = cluster(PODS);
        let world = resolve_target(&c, "world", End::Destination).expect("the workload");
        assert_eq!((world.entity, world.outside.is_none()), (None, true), "a workload named world stays the workload");
        let entity = resolve_target(&c, "reserved:world", End::Destination).expect("the entity");
        assert_eq!(entity.entity, Some(CiliumEntity::World));
        assert_eq!(entity.outside, Some(Outside { name: None, ipv6: false }));
        let name = resolve_target(&c, "API.GitHub.com.", End::Destination).expect("a name");
        assert_eq!(name.outside, Some(Outside { name: Some("api.github.com".into()), ipv6: false }));
        assert!(name.endpoints.is_empty());
        let hosts = resolve_target(&c, "host", End::Destination).expect("host-network pods");
        assert_eq!(hosts.endpoints.len(), 1);
        assert_eq!(resolve_target(&c, "cluster", End::Destination).expect("pods").endpoints.len(), 3);
        assert!(matches!(resolve_target(&c, "api.github.com", End::Source), Err(QueryError::NameAsSource(_))));
        assert!(matches!(resolve_target(&c, "health", End::Destination), Err(QueryError::UnmodelledEntity(..))));
        assert!(matches!(
            resolve_target(&c, "kube-apiserver", End::Destination),
            Err(QueryError::NoEntityInInput(_, CiliumEntity::KubeApiserver, _))
        ));
        let unknown = resolve_target(&c, "nosuch", End::Destination).expect_err("neither");
        assert!(matches!(unknown, QueryError::UnknownTarget(..)) && unknown.to_string().contains("DNS name"));
        // IP addresses and workloads answer exactly as `resolve` does.
        assert_eq!(resolve_target(&c, "8.8.8.8", End::Destination), resolve(&c, "8.8.8.8"));
        assert_eq!(resolve_target(&c, "shop/app", End::Source), resolve(&c, "shop/app"));
    }

    #[test]
    fn an_outside_address_is_answered_for_the_largest_part_of_the_space_and_the_rest_is_listed() {
        let c = cluster(PODS);
        let analysis = Analysis::new(&c);
        let ask = |to: &str, port: u16| {
            let from = resolve(&c, "shop/app").expect("app");
            let to = resolve_target(&c, to, End::Destination).expect("target");
            verdict(&analysis, from, to, PortQuery::new(None, Some(port)).expect("port"), Request::default())
        };
        let github = ask("api.github.com", 443);
        assert!(github.allowed());
        let outside = github.outside.as_ref().expect("outside");
        assert_eq!(outside.name.as_deref(), Some("api.github.com"));
        assert_eq!(outside.otherwise.len(), 1);
        let (ranges, ports) = &outside.otherwise[0];
        assert_eq!(ranges[0].cidrs()[0].to_string(), "10.0.0.0/8");
        assert!(ports.is_empty(), "the except is denied");
        assert!(!ask("reserved:world", 80).allowed());
        // Every address answers alike on a port no rule names.
        assert!(ask("world-ipv4", 80).outside.expect("outside").otherwise.is_empty());
    }
}
