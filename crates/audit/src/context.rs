//! What every rule reads: the cluster, the declared and the effective network, the CNI verdict, the sensitive
//! facts and the configuration, with the few queries several rules share.

use crate::config::Config;
use crate::facts::SensitiveFacts;
use crate::{Exemption, Finding, Resource, Witness};
use netseg_engine::{Analysis, Endpoint, Network, NetworkSetup, PortSet, WorkloadConnection};
use netseg_model::cni::CniVerdict;
use netseg_model::{Cidr, Cluster, Diagnostic, Direction, Location, Protocol, Suppression};
use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

/// A way into the cluster from outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub workload: usize,
    pub ports: PortSet,
    /// The Service or Ingress that exposes it, in words.
    pub via: String,
}

/// One end of a flow the application declares or was seen making.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEnd {
    /// An index into `cluster.workloads`.
    Workload(usize),
    /// An address outside the cluster.
    Address(IpAddr),
}

/// A flow the application declares (a Service named in env or args, a peer the input's own policies name, a
/// LoadBalancer) or was seen making (`--flows`), with where it was read. `netseg_fix` infers them; NS147 checks
/// them against the policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntendedFlow {
    pub src: FlowEnd,
    pub dst: FlowEnd,
    /// Ports on the destination pods (after a Service's DNAT), or the address's ports.
    pub ports: PortSet,
    /// Where it was declared or seen, in words, with file and line.
    pub origin: String,
}

/// Facts the input may lack (`--api-server`, `--node-cidr`), and the flows the application needs.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    pub api_server: Vec<Cidr>,
    pub node_cidrs: Vec<Cidr>,
    /// Declared and observed flows (NS147); empty unless the caller infers them.
    pub intent: Vec<IntendedFlow>,
}

pub struct AuditContext<'a> {
    /// How the network treats the policies (CNI verdict, enforcement, semantics, caveats).
    pub setup: &'a NetworkSetup,
    pub cluster: &'a Cluster,
    /// The policies as written.
    pub declared: &'a Analysis<'a>,
    /// What the network really does: `declared` when the CNI enforces, the allow-all network otherwise.
    pub effective: &'a Analysis<'a>,
    pub cni: &'a CniVerdict,
    pub config: &'a Config,
    pub diagnostics: &'a [Diagnostic],
    pub facts: SensitiveFacts,
    pub options: &'a AuditOptions,
    connections: OnceLock<Vec<WorkloadConnection>>,
    /// `incoming[dst]`: indexes into `connections` of the connections to `dst`.
    incoming: OnceLock<Vec<Vec<usize>>>,
    /// Namespaces with workloads, and with NetworkPolicies, for rules that ask per policy or per workload.
    populated: OnceLock<(HashSet<String>, HashSet<String>)>,
}

impl<'a> AuditContext<'a> {
    /// The context of one audit: the network (its cluster, CNI verdict and analyses), the configuration, the
    /// loader's diagnostics and the facts the user gave.
    pub fn new<'c: 'a>(
        network: &'a Network<'c>,
        config: &'a Config,
        diagnostics: &'a [Diagnostic],
        options: &'a AuditOptions,
    ) -> Self {
        let cluster = network.cluster;
        let facts = SensitiveFacts::gather(cluster, &options.api_server, &options.node_cidrs);
        AuditContext {
            setup: &network.setup,
            cluster,
            declared: network.declared(),
            effective: network.effective(),
            cni: network.cni(),
            config,
            diagnostics,
            facts,
            options,
            connections: OnceLock::new(),
            incoming: OnceLock::new(),
            populated: OnceLock::new(),
        }
    }

    /// Whether the policies take effect in the effective network.
    pub fn enforced(&self) -> bool {
        self.setup.enforced
    }

    /// Workload pairs of the effective network.
    pub fn connections(&self) -> &[WorkloadConnection] {
        self.connections.get_or_init(|| self.effective.workload_connections())
    }

    /// The connections to one workload, in source order.
    pub fn connections_to(&self, dst: usize) -> impl Iterator<Item = &WorkloadConnection> + '_ {
        let connections = self.connections();
        let incoming = self.incoming.get_or_init(|| {
            let mut incoming = vec![Vec::new(); self.cluster.workloads.len()];
            for (index, connection) in connections.iter().enumerate() {
                incoming[connection.dst].push(index);
            }
            incoming
        });
        incoming.get(dst).into_iter().flatten().map(move |&index| &connections[index])
    }

    fn populated(&self) -> &(HashSet<String>, HashSet<String>) {
        self.populated.get_or_init(|| {
            (
                self.cluster.workloads.iter().map(|w| w.id.namespace.clone()).collect(),
                self.cluster.policies.iter().map(|p| p.namespace.clone()).collect(),
            )
        })
    }

    pub fn namespace_has_workloads(&self, namespace: &str) -> bool {
        self.populated().0.contains(namespace)
    }

    pub fn namespace_has_policies(&self, namespace: &str) -> bool {
        self.populated().1.contains(namespace)
    }

    pub fn pods(&self, workload: usize) -> impl Iterator<Item = Endpoint> + '_ {
        (0..self.cluster.workloads[workload].pods.len()).map(move |pod| Endpoint::Pod { workload, pod })
    }

    /// Every pod of the workload is on the host network: it is the node, outside every NetworkPolicy.
    pub fn host_network(&self, workload: usize) -> bool {
        let pods = &self.cluster.workloads[workload].pods;
        !pods.is_empty() && pods.iter().all(|p| p.facts.host_network)
    }

    /// Whether the workload is part of a CNI (agent, controller, operator): platform infrastructure, which needs
    /// the host network by design.
    pub fn is_cni_component(&self, workload: usize) -> bool {
        self.cni.component(&self.cluster.workloads[workload].id).is_some()
    }

    /// Every workload some rules leave alone, and why: the CNI's own parts (found by what they are, see
    /// [`netseg_model::cni::components`]) and host-network workloads that `.netseg.yaml` allows.
    pub fn exemptions(&self) -> Vec<Exemption> {
        let mut exempt = Vec::new();
        for (w, workload) in self.cluster.workloads.iter().enumerate() {
            let (resource, location) = self.workload_resource(w);
            if let Some(component) = self.cni.component(&workload.id) {
                exempt.push(Exemption {
                    resource,
                    location,
                    rules: "the workload rules: segmentation (NS101-NS103), reachability (NS120-NS125), NS145, host network (NS110, NS111)".into(),
                    reason: format!("part of the CNI ({}): {}", component.plugin, component.reason),
                });
            } else if workload.pods.iter().any(|p| p.facts.host_network)
                && self.config.host_network_allowed(&workload.id.namespace, &workload.id.name)
            {
                let source = match &self.config.path {
                    Some(path) => format!("hostNetworkAllowed in {}", path.display()),
                    None => "hostNetworkAllowed, whose default allows kube-system/* (node agents live there)".into(),
                };
                exempt.push(Exemption {
                    resource,
                    location,
                    rules: "NS110 host-network, NS111 host-port".into(),
                    reason: format!("on the host network, allowed by {source}"),
                });
            }
        }
        exempt
    }

    /// Workloads the audit holds to segmentation, in order: those NetworkPolicies can govern (not on the host
    /// network) and that are not a CNI's own parts, which need the API server and the nodes by design and are
    /// installed without policies by every CNI vendor (reporting them would bury the application findings).
    pub fn governed_workloads(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.cluster.workloads.len()).filter(|w| !self.host_network(*w) && !self.is_cni_component(*w))
    }

    /// Whether any pod of the workload is isolated in `direction` by the declared policies.
    pub fn isolated(&self, workload: usize, direction: Direction) -> bool {
        self.pods(workload).all(|pod| !self.declared.isolating(pod, direction).is_empty())
    }

    /// What the workload may send to an address in the effective network, restricted to `ports`.
    pub fn to_address(&self, workload: usize, addr: IpAddr, ports: &PortSet) -> PortSet {
        let mut allowed = PortSet::empty();
        for pod in self.pods(workload) {
            allowed.union_with(&self.effective.allowed(pod, Endpoint::Address(addr)).intersection(ports));
        }
        allowed
    }

    /// The first address of `candidates` the workload reaches on `ports`, as a witness.
    pub fn witness_to_addresses(&self, workload: usize, candidates: &[IpAddr], ports: &PortSet) -> Option<Witness> {
        candidates.iter().find_map(|addr| {
            let allowed = self.to_address(workload, *addr, ports);
            allowed.first().map(|(protocol, port)| Witness {
                from: self.workload_name(workload),
                to: addr.to_string(),
                protocol,
                port,
            })
        })
    }

    pub fn workload_name(&self, workload: usize) -> String {
        self.cluster.workloads[workload].id.to_string()
    }

    pub fn witness_between(&self, from: usize, to: usize, allowed: &PortSet) -> Option<Witness> {
        allowed.first().map(|(protocol, port)| Witness {
            from: self.workload_name(from),
            to: self.workload_name(to),
            protocol,
            port,
        })
    }

    pub fn workload_resource(&self, workload: usize) -> (Resource, Option<Location>) {
        let w = &self.cluster.workloads[workload];
        let resource = Resource {
            kind: w.id.kind.as_str().into(),
            namespace: Some(w.id.namespace.clone()),
            name: w.id.name.clone(),
        };
        (resource, Some(w.location.clone()))
    }

    pub fn policy_resource(&self, policy: usize) -> (Resource, Option<Location>) {
        let p = &self.cluster.policies[policy];
        let resource =
            Resource { kind: "NetworkPolicy".into(), namespace: Some(p.namespace.clone()), name: p.name.clone() };
        (resource, Some(p.location.clone()))
    }

    /// An AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy (cluster-scoped) as a resource.
    pub fn admin_policy_resource(&self, policy: usize) -> (Resource, Option<Location>) {
        let p = &self.cluster.admin_policies[policy];
        (Resource { kind: p.kind.as_str().into(), namespace: None, name: p.name.clone() }, Some(p.location.clone()))
    }

    /// Whether an admin or baseline rule that denies something applies to the workload's pods in `direction`.
    pub fn tier_denies(&self, workload: usize, direction: Direction) -> bool {
        self.tier_rule_applies(workload, direction, Some(netseg_engine::Action::Deny))
    }

    /// Whether any admin or baseline rule (of `action`, when given) has the workload's pods as subject in
    /// `direction`.
    pub fn tier_rule_applies(
        &self,
        workload: usize,
        direction: Direction,
        action: Option<netseg_engine::Action>,
    ) -> bool {
        self.pods(workload).any(|pod| {
            self.declared
                .tier_rules_of(pod)
                .iter()
                .any(|(_, rule)| rule.direction() == direction && action.is_none_or(|a| rule.action == a))
        })
    }

    /// A namespace as a resource; its location is its manifest, or the first workload in it when it has none.
    pub fn namespace_resource(&self, namespace: &str) -> (Resource, Option<Location>) {
        let location = self.cluster.namespace(namespace).and_then(|ns| ns.location.clone()).or_else(|| {
            self.cluster.workloads.iter().find(|w| w.id.namespace == namespace).map(|w| w.location.clone())
        });
        (Resource { kind: "Namespace".into(), namespace: None, name: namespace.to_string() }, location)
    }

    /// Workloads behind a LoadBalancer or NodePort Service or an Ingress: reachable from outside the cluster.
    pub fn internet_facing(&self) -> BTreeSet<usize> {
        self.entry_points().into_iter().map(|entry| entry.workload).collect()
    }

    /// How traffic from outside the cluster enters it: each workload selected by a LoadBalancer or NodePort
    /// Service or an Ingress backend, the ports it receives on (target ports resolved on its containers), and
    /// through what.
    pub fn entry_points(&self) -> Vec<EntryPoint> {
        let mut exposed: Vec<(&netseg_model::Service, String)> = Vec::new();
        for service in &self.cluster.services {
            if matches!(service.service_type.as_str(), "LoadBalancer" | "NodePort") {
                exposed.push((
                    service,
                    format!("{} Service {}/{}", service.service_type, service.namespace, service.name),
                ));
            }
        }
        for ingress in &self.cluster.ingresses {
            for backend in &ingress.backend_services {
                let service =
                    self.cluster.services.iter().find(|s| s.namespace == ingress.namespace && &s.name == backend);
                if let Some(service) = service {
                    exposed.push((service, format!("Ingress {}/{}", ingress.namespace, ingress.name)));
                }
            }
        }
        let mut entries: Vec<EntryPoint> = Vec::new();
        for (service, via) in exposed {
            for (index, workload) in self.cluster.workloads.iter().enumerate() {
                if workload.id.namespace != service.namespace {
                    continue;
                }
                let pods: Vec<_> = workload.pods.iter().filter(|p| service.selects(&p.facts.labels)).collect();
                if pods.is_empty() {
                    continue;
                }
                let ranges: Vec<_> = service
                    .ports
                    .iter()
                    .flat_map(|port| {
                        pods.iter().filter_map(|p| port.target_on(&p.facts)).map(|t| (port.protocol, t, t))
                    })
                    .collect();
                entries.push(EntryPoint { workload: index, ports: PortSet::from_ranges(&ranges), via: via.clone() });
            }
        }
        entries
    }

    /// Why a finding is suppressed: an annotation on its object or namespace.
    pub fn suppression(&self, finding: &Finding) -> Option<String> {
        let resource = &finding.resource;
        let on_object: Option<&Suppression> = match resource.kind.as_str() {
            "Namespace" => self.cluster.namespace(&resource.name).map(|ns| &ns.ignore),
            "NetworkPolicy" => self
                .cluster
                .policies
                .iter()
                .find(|p| Some(&p.namespace) == resource.namespace.as_ref() && p.name == resource.name)
                .map(|p| &p.ignore),
            "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" | "ClusterNetworkPolicy" => self
                .cluster
                .admin_policies
                .iter()
                .find(|p| p.kind.as_str() == resource.kind && p.name == resource.name)
                .map(|p| &p.ignore),
            _ => self
                .cluster
                .workloads
                .iter()
                .find(|w| {
                    Some(&w.id.namespace) == resource.namespace.as_ref()
                        && w.id.name == resource.name
                        && w.id.kind.as_str() == resource.kind
                })
                .map(|w| &w.ignore),
        };
        let on_namespace = resource.namespace.as_deref().and_then(|ns| self.cluster.namespace(ns)).map(|ns| &ns.ignore);
        for (ignore, what) in [(on_object, "its own"), (on_namespace, "its namespace's")] {
            if let Some(ignore) = ignore.filter(|i| i.covers(finding.rule.code, finding.rule.name)) {
                let reason = ignore.reason.as_deref().unwrap_or("no reason given");
                return Some(format!("{what} {} annotation: {reason}", Suppression::ANNOTATION));
            }
        }
        None
    }
}

/// Ports of one protocol, for checks such as "TCP 80".
pub fn tcp(port: u16) -> PortSet {
    PortSet::single(Protocol::Tcp, port)
}
