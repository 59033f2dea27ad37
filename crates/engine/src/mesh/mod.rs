//! The service meshes as one more layer of the engine: a connection passes only if the network lets its packets
//! through AND the destination's mesh proxy authorizes it.
//!
//! The mesh decides at the destination, so it narrows the destination's ingress side. For one client (a pod's
//! class, or an address outside the cluster) and one destination class, [`MeshLayer::answer`] cuts the TCP port
//! space at every port anything mesh-related names (policy ports, Servers, port-level mTLS, excluded ports,
//! Service ports whose protocol changes what a rule means) and decides each piece once:
//!
//! - the proxy does not see the port (no proxy, an excluded port): the mesh decides nothing;
//! - the mesh refuses the connection whatever it carries (STRICT mTLS and a plaintext client, a DENY rule with no
//!   request condition, no authorization at all);
//! - or a [`Decision`] over the requests: all pass, none pass, or only some (a restriction, listed by `can` and
//!   marked by `reach`).
//!
//! UDP and SCTP pass untouched: no mesh proxy captures them. Each mesh's semantics live in its own module.

mod consul;
pub mod decision;
mod istio;
mod linkerd;

use crate::classes::{ClassId, Classes, PodClass};
use crate::request::{Condition, Layer, PolicyRef, Request, RequestVerdict, Restriction};
use crate::PortSet;
pub use decision::{AllowPath, Decision, Outcome, Passability};
use netseg_model::mesh::{Dataplane, MeshKind};
use netseg_model::{Cluster, IpBlock, Location, Protocol};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Who opens a connection, as the destination's mesh sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    Class(ClassId),
    /// An address outside the cluster: no mesh, no identity.
    Address(IpAddr),
}

/// What the destination's mesh makes of one client's connections.
#[derive(Debug, Clone)]
pub struct MeshAnswer {
    /// The destination's mesh; `None` when no proxy stands in front of it.
    pub mesh: Option<MeshKind>,
    pub dataplane: Dataplane,
    /// Ports on which some connection passes the mesh (every UDP and SCTP port among them).
    pub passable: PortSet,
    /// The TCP ports in pieces, each decided once.
    pub segments: Vec<Segment>,
    /// Things worth saying that decide nothing: policies that select the pod but are not enforced on it.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Segment {
    /// TCP ports.
    pub ports: PortSet,
    pub verdict: Verdict,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    /// The proxy does not see these ports.
    Bypassed { why: String },
    /// Refused whatever the connection carries.
    Refused { why: String, by: Option<PolicyRef> },
    /// Decided request by request.
    Decided { decision: Arc<Decision>, passability: Passability },
}

/// What a mesh makes of one named request on some ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDecision {
    pub layer: Layer,
    /// The ports on which the mesh refuses the request.
    pub denied: PortSet,
    pub verdict: RequestVerdict,
}

/// A mesh as a layer of the shared vocabulary.
pub fn layer(mesh: MeshKind) -> Layer {
    match mesh {
        MeshKind::Istio => Layer::Istio,
        MeshKind::Linkerd => Layer::Linkerd,
        MeshKind::Consul => Layer::Consul,
    }
}

impl MeshAnswer {
    /// What the mesh makes of `request` on `ports` (the asked ports the network lets through): the ports it
    /// refuses the request on, and its verdict. `None` when no mesh proxy decides anything on those ports.
    /// Allowed on some port wins (the answer lists the ports); else unknown (an external authorizer, an
    /// attribute the request does not give) wins over denied, so that reach is never under-reported.
    pub fn decide(&self, request: &Request, ports: &PortSet) -> Option<RequestDecision> {
        let layer = layer(self.mesh?);
        let mut denied = PortSet::empty();
        let mut passed = PortSet::empty();
        let (mut allowed_by, mut denied_by, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        let mut decided = false;
        for segment in &self.segments {
            let on = segment.ports.intersection(ports);
            if on.is_empty() {
                continue;
            }
            match &segment.verdict {
                Verdict::Bypassed { .. } => passed.union_with(&on),
                Verdict::Refused { why, by } => {
                    decided = true;
                    denied.union_with(&on);
                    match by {
                        Some(by) => denied_by.push(by.clone()),
                        None => denied_by.push(cite_default(why)),
                    }
                }
                Verdict::Decided { decision, .. } => {
                    decided = true;
                    match decision.decide(request) {
                        Outcome::Allowed { by, why } => {
                            passed.union_with(&on);
                            if by.is_empty() {
                                allowed_by.push(cite_default(&why));
                            }
                            allowed_by.extend(by);
                        }
                        Outcome::Denied { by, why } => {
                            denied.union_with(&on);
                            if by.is_empty() {
                                denied_by.push(cite_default(&why));
                            }
                            denied_by.extend(by);
                        }
                        Outcome::Unknown { why } => unknown.push(why),
                    }
                }
            }
        }
        if !decided {
            return None;
        }
        dedup(&mut allowed_by);
        dedup(&mut denied_by);
        unknown.dedup();
        let verdict = if !passed.is_empty() {
            RequestVerdict::Allowed { by: allowed_by }
        } else if !unknown.is_empty() {
            RequestVerdict::Unknown { reason: unknown.join("; ") }
        } else {
            RequestVerdict::Denied { by: denied_by }
        };
        Some(RequestDecision { layer, denied, verdict })
    }

    /// No mesh in front of the destination.
    fn open(dataplane: Dataplane, notes: Vec<String>) -> MeshAnswer {
        MeshAnswer { mesh: None, dataplane, passable: PortSet::all(), segments: Vec::new(), notes }
    }

    /// The ports on which only some requests pass, with what they must be, for the network-allowed `ports`.
    pub fn restrictions(&self, ports: &PortSet) -> Vec<Restriction> {
        let Some(mesh) = self.mesh else { return Vec::new() };
        let layer = layer(mesh);
        let mut restrictions: Vec<Restriction> = Vec::new();
        for segment in &self.segments {
            let Verdict::Decided { decision, passability: Passability::Some } = &segment.verdict else { continue };
            let on = segment.ports.intersection(ports);
            if on.is_empty() {
                continue;
            }
            let any_of: Vec<Condition> = decision
                .allow_paths()
                .into_iter()
                .map(|path| Condition {
                    layer,
                    by: path.citation().unwrap_or_else(|| default_ref(layer)),
                    admits: path.describe(),
                })
                .collect();
            match restrictions.iter_mut().find(|r| r.any_of == any_of) {
                Some(same) => same.ports.union_with(&on),
                None => restrictions.push(Restriction { ports: on, any_of }),
            }
        }
        restrictions
    }

    /// The verdict on one TCP port (`None` for ports no segment covers: UDP, SCTP, or no mesh).
    pub fn verdict(&self, protocol: Protocol, port: u16) -> Option<&Verdict> {
        if protocol != Protocol::Tcp {
            return None;
        }
        self.segments.iter().find(|s| s.ports.contains(protocol, port)).map(|s| &s.verdict)
    }
}

/// A refusal with no object to cite (a default) cites the default, in words.
fn cite_default(why: &str) -> PolicyRef {
    PolicyRef { kind: "the mesh's default:".into(), namespace: None, name: why.to_string(), rule: None, location: None }
}

fn dedup(refs: &mut Vec<PolicyRef>) {
    let mut seen = std::collections::HashSet::new();
    refs.retain(|r| seen.insert(r.clone()));
}

fn default_ref(layer: Layer) -> PolicyRef {
    PolicyRef {
        kind: format!("{} default", layer.as_str()),
        namespace: None,
        name: "policy".into(),
        rule: None,
        location: None,
    }
}

/// Facts of one class the meshes read, computed once.
pub(crate) struct ClassFacts {
    pub namespace: String,
    /// Consul service names: the `consul.hashicorp.com/connect-service` annotation, else the Services that select
    /// the pod.
    pub consul_services: Vec<String>,
    /// Indexes into `cluster.services` of the Services that select the class.
    pub services: Vec<usize>,
}

/// The compiled mesh layer.
pub struct MeshLayer {
    /// Some class is in a mesh; otherwise the layer never narrows anything.
    active: bool,
    facts: Vec<ClassFacts>,
    /// For each class, an id of everything the meshes tell apart about it as a destination and as a client.
    keys: Vec<u32>,
    cache: Mutex<HashMap<(Client, ClassId), Arc<MeshAnswer>>>,
}

/// What a mesh module needs to decide.
pub(crate) struct Context<'a> {
    pub cluster: &'a Cluster,
    pub classes: &'a Classes,
    pub facts: &'a [ClassFacts],
}

impl Context<'_> {
    pub fn class(&self, class: ClassId) -> &PodClass {
        &self.classes.classes[class]
    }

    /// Whether the client's address falls in a block (a pod's IPs through its class, as for ipBlocks; a pod
    /// with no known IP falls in none).
    pub fn client_in(&self, client: Client, block: &IpBlock) -> bool {
        match client {
            Client::Address(addr) => block.contains(addr),
            Client::Class(class) => {
                self.classes.block_id(block).is_some_and(|id| self.classes.classes[class].ip_blocks.contains(&id))
            }
        }
    }

    /// Whether the destination pod's address falls in a block.
    pub fn class_in(&self, class: ClassId, block: &IpBlock) -> bool {
        self.classes.block_id(block).is_some_and(|id| self.classes.classes[class].ip_blocks.contains(&id))
    }

    pub fn namespace_of(&self, class: ClassId) -> &str {
        &self.facts[class].namespace
    }

    /// The client's pod class facts, if it is a pod.
    pub fn client_class(&self, client: Client) -> Option<(&PodClass, &ClassFacts)> {
        match client {
            Client::Class(class) => Some((&self.classes.classes[class], &self.facts[class])),
            Client::Address(_) => None,
        }
    }
}

/// Every address block a mesh rule tests, so that classes record which hold their pods' IPs and the address
/// space is cut at them.
pub fn address_blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let mut blocks = istio::address_blocks(cluster);
    blocks.extend(linkerd::address_blocks(cluster));
    blocks
}

impl MeshLayer {
    pub fn build(cluster: &Cluster, classes: &Classes) -> MeshLayer {
        // Services by namespace: a class is only tried against its own namespace's.
        let mut services_in: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, service) in cluster.services.iter().enumerate() {
            services_in.entry(service.namespace.as_str()).or_default().push(index);
        }
        let facts: Vec<ClassFacts> = classes
            .classes
            .iter()
            .map(|class| {
                let namespace = cluster.namespaces.get(class.namespace).map(|n| n.name.clone()).unwrap_or_default();
                let services: Vec<usize> = services_in
                    .get(namespace.as_str())
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&i| cluster.services[i].selects(&class.labels))
                    .collect();
                let consul_services = netseg_model::mesh::consul::service_names(
                    &class.annotations,
                    services.iter().map(|&s| &cluster.services[s]),
                );
                ClassFacts { namespace, consul_services, services }
            })
            .collect();
        let active = classes.classes.iter().any(|c| c.dataplane.in_mesh());
        let mut layer = MeshLayer { active, facts, keys: Vec::new(), cache: Mutex::new(HashMap::new()) };
        layer.keys = if active { layer.compute_keys(cluster, classes) } else { vec![0; classes.len()] };
        layer
    }

    /// Whether any pod is in a mesh.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Per class: classes with the same key are treated alike by every mesh, as destinations and as clients.
    pub fn keys(&self) -> &[u32] {
        &self.keys
    }

    fn compute_keys(&self, cluster: &Cluster, classes: &Classes) -> Vec<u32> {
        let context = Context { cluster, classes, facts: &self.facts };
        let identity_tests = identity_tests(cluster);
        let mut ids: HashMap<(String, Vec<bool>), u32> = HashMap::new();
        (0..classes.len())
            .map(|class| {
                let pod = &classes.classes[class];
                let destination = if pod.dataplane.in_mesh() {
                    format!(
                        "{:?}|{}|{:?}|{:?}|{}|{}|{}",
                        pod.dataplane,
                        self.facts[class].namespace,
                        self.facts[class].services,
                        pod.annotations,
                        istio::destination_key(&context, class),
                        linkerd::destination_key(&context, class),
                        consul::destination_key(&context, class),
                    )
                } else {
                    String::new()
                };
                let client = Client::Class(class);
                let mut source: Vec<bool> = identity_tests.iter().map(|test| test.holds(&context, client)).collect();
                source.push(pod.dataplane.mesh == Some(MeshKind::Istio));
                // An ambient client's connections to Istio pods reach the network as HBONE.
                source.push(pod.dataplane.ambient);
                source.push(pod.dataplane.mesh == Some(MeshKind::Linkerd));
                source.push(pod.dataplane.mesh == Some(MeshKind::Consul));
                let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                *ids.entry((destination, source)).or_insert(next)
            })
            .collect()
    }

    /// What the destination class's mesh makes of this client's connections; cached per pair.
    pub fn answer(
        &self,
        cluster: &Cluster,
        classes: &Classes,
        client: Client,
        destination: ClassId,
    ) -> Arc<MeshAnswer> {
        let key = (client, destination);
        if let Some(answer) = self.cache.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return answer;
        }
        let context = Context { cluster, classes, facts: &self.facts };
        let answer = Arc::new(compute(&context, client, destination));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, answer.clone());
        }
        answer
    }

    /// The ports on which some connection of the client passes the destination's mesh.
    pub fn passable(&self, cluster: &Cluster, classes: &Classes, client: Client, destination: ClassId) -> PortSet {
        if !self.active || !classes.classes[destination].dataplane.in_mesh() {
            return PortSet::all();
        }
        self.answer(cluster, classes, client, destination).passable.clone()
    }
}

fn compute(context: &Context<'_>, client: Client, destination: ClassId) -> MeshAnswer {
    let pod = context.class(destination);
    let dataplane = pod.dataplane.clone();
    let Some(mesh) = dataplane.mesh else {
        let mut notes = istio::unenforced(context, destination);
        notes.extend(linkerd::unenforced(context, destination));
        notes.extend(consul::unenforced(context, destination));
        return MeshAnswer::open(dataplane, notes);
    };
    let mut cuts: BTreeSet<u16> = BTreeSet::new();
    cuts.insert(1);
    let mut cut = |start: u16, end: u16| {
        cuts.insert(start);
        if let Some(next) = end.checked_add(1) {
            cuts.insert(next);
        }
    };
    for &(start, end) in &dataplane.bypassed {
        cut(start, end);
    }
    for port in &pod.ports {
        cut(port.port, port.port);
    }
    for &service in &context.facts[destination].services {
        for port in &context.cluster.services[service].ports {
            if let Some(target) = target_port(port, pod) {
                cut(target, target);
            }
        }
    }
    let mesh_cuts = match mesh {
        MeshKind::Istio => istio::cut_points(context, destination),
        MeshKind::Linkerd => linkerd::cut_points(context, destination),
        MeshKind::Consul => Vec::new(),
    };
    for port in mesh_cuts {
        cut(port, port);
    }
    let starts: Vec<u16> = cuts.into_iter().collect();
    let mut segments: Vec<Segment> = Vec::new();
    let mut signatures: Vec<String> = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(65535, |next| next - 1);
        let verdict = if !dataplane.captures(start) {
            Verdict::Bypassed { why: bypass_reason(mesh) }
        } else {
            match mesh {
                MeshKind::Istio => istio::verdict(context, client, destination, start),
                MeshKind::Linkerd => linkerd::verdict(context, client, destination, start),
                MeshKind::Consul => consul::verdict(context, client, destination, start),
            }
        };
        let ports = PortSet::from_ranges(&[(Protocol::Tcp, start, end)]);
        // Adjacent pieces decided the same way read as one.
        let signature = format!("{verdict:?}");
        if signatures.last() == Some(&signature) {
            if let Some(last) = segments.last_mut() {
                last.ports.union_with(&ports);
                continue;
            }
        }
        signatures.push(signature);
        segments.push(Segment { ports, verdict });
    }
    let mut passable = PortSet::all().difference(&PortSet::protocol(Protocol::Tcp));
    for segment in &segments {
        let passes = match &segment.verdict {
            Verdict::Bypassed { .. } => true,
            Verdict::Refused { .. } => false,
            Verdict::Decided { passability, .. } => *passability != Passability::None,
        };
        if passes {
            passable.union_with(&segment.ports);
        }
    }
    MeshAnswer { mesh: Some(mesh), dataplane, passable, segments, notes: Vec::new() }
}

fn bypass_reason(mesh: MeshKind) -> String {
    format!("the port bypasses the {} proxy (excluded from its inbound capture)", mesh.as_str())
}

/// The container port a Service port reaches on a pod of this class.
pub(crate) fn target_port(port: &netseg_model::ServicePort, pod: &PodClass) -> Option<u16> {
    match &port.target_port {
        None => Some(port.port),
        Some(netseg_model::PortRef::Number(n)) => Some(*n),
        Some(netseg_model::PortRef::Name(name)) => pod
            .ports
            .iter()
            .find(|c| c.name.as_deref() == Some(name.as_str()) && c.protocol == port.protocol)
            .map(|c| c.port),
    }
}

/// A test of who a client is, as some mesh rule makes it: classes that pass the same tests are told apart by no
/// mesh rule as clients.
pub(crate) enum IdentityTest {
    IstioPrincipal(netseg_model::mesh::StringMatch),
    IstioNamespace(String),
    IstioServiceAccount(String, String),
    IstioTrustDomain(netseg_model::mesh::StringMatch),
    LinkerdIdentity(String),
    LinkerdServiceAccount(String, String),
    LinkerdNamespace(String),
    ConsulService(String),
}

impl IdentityTest {
    fn holds(&self, context: &Context<'_>, client: Client) -> bool {
        let Some((pod, facts)) = context.client_class(client) else { return false };
        let config = &context.cluster.mesh;
        match self {
            IdentityTest::IstioPrincipal(m) => m.matches(&netseg_model::mesh::istio_principal(
                &config.istio.config.trust_domain,
                &facts.namespace,
                &pod.service_account,
            )),
            IdentityTest::IstioNamespace(glob) => netseg_model::mesh::glob_matches(glob, &facts.namespace),
            IdentityTest::IstioServiceAccount(ns, sa) | IdentityTest::LinkerdServiceAccount(ns, sa) => {
                *ns == facts.namespace && *sa == pod.service_account
            }
            IdentityTest::IstioTrustDomain(m) => m.matches(&config.istio.config.trust_domain),
            IdentityTest::LinkerdIdentity(identity) => linkerd::identity_matches(
                identity,
                &netseg_model::mesh::linkerd_identity(
                    &config.linkerd.config.trust_domain,
                    &facts.namespace,
                    &pod.service_account,
                ),
            ),
            IdentityTest::LinkerdNamespace(ns) => *ns == facts.namespace,
            IdentityTest::ConsulService(name) => name == "*" || facts.consul_services.contains(name),
        }
    }
}

fn identity_tests(cluster: &Cluster) -> Vec<IdentityTest> {
    let mut tests = istio::identity_tests(cluster);
    tests.extend(linkerd::identity_tests(cluster));
    tests.extend(consul::identity_tests(cluster));
    tests
}

/// A reference to a mesh object or one of its rules, for explanations.
pub(crate) fn reference(
    kind: &str,
    namespace: &str,
    name: &str,
    rule: Option<usize>,
    location: &Location,
) -> PolicyRef {
    PolicyRef {
        kind: kind.to_string(),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        rule,
        location: Some(location.clone()),
    }
}

#[cfg(test)]
mod tests;
