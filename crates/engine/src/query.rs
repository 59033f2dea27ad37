//! Questions users ask by name: endpoints as `ns/name[Kind]`, pod names or IP addresses, and port filters.

use crate::request::{Layer, Request, RequestVerdict};
use crate::{Analysis, Endpoint, Explanation, PortSet, ReachEndpoint};
use netseg_model::{Cluster, Protocol, WorkloadKind};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("`{0}` names no workload, pod or IP address in the input{1}")]
    Unknown(String, String),
    #[error("`{0}` is ambiguous: it could be {1}; write it as namespace/name[Kind]")]
    Ambiguous(String, String),
    #[error("`{0}` is not a protocol: use TCP, UDP or SCTP")]
    BadProtocol(String),
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
            });
        }
        return Ok(Resolved { display: addr.to_string(), workload: None, endpoints: vec![Endpoint::Address(addr)] });
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
pub fn verdict(analysis: &Analysis<'_>, from: Resolved, to: Resolved, query: PortQuery, request: Request) -> Verdict {
    let wanted = query.ports();
    let mut allowed_ports = PortSet::empty();
    let mut witness: Option<(Explanation, Vec<(Layer, RequestVerdict)>)> = None;
    let mut first: Option<(Explanation, Vec<(Layer, RequestVerdict)>)> = None;
    let mut answers = Vec::new();
    // Pods of one class answer alike: explain each distinct pair of classes once, however many replicas.
    let mut seen = std::collections::HashSet::new();
    for &src in &from.endpoints {
        for &dst in &to.endpoints {
            let key = (analysis.class_key(src), analysis.class_key(dst), src == dst);
            if !seen.insert(key) {
                continue;
            }
            let explanation = analysis.explain(src, dst);
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
                witness = Some((explanation.clone(), request_verdicts.clone()));
            }
            if first.is_none() {
                first = Some((explanation, request_verdicts));
            }
        }
    }
    let differing_pods = answers.windows(2).any(|w| w[0] != w[1]);
    let (explanation, mut request_verdicts) = witness.or(first).unwrap_or_else(|| {
        let nowhere = Endpoint::Address(IpAddr::from([0, 0, 0, 0]));
        (analysis.explain(nowhere, nowhere), Vec::new())
    });
    // Cilium's L7 rules decide in the network, before the destination's mesh sees the request.
    if let Some(cilium) = crate::cilium::request_verdict(analysis.cluster, &explanation, &allowed_ports, &request) {
        request_verdicts.insert(0, (Layer::CiliumL7, cilium));
    }
    Verdict { from, to, query, allowed_ports, explanation, differing_pods, request, request_verdicts }
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
