//! `generate --mesh istio|linkerd`: the mesh's own authorization for the flows the plan declares, written next to
//! the NetworkPolicies and proven with them.
//!
//! The network plan decides *which* flows the application needs; this module decides who may make them as the
//! mesh sees it: by the caller's mTLS identity (its service account), on the destination's ports. First the
//! allow-nothing part is laid over the input (Istio: an ALLOW policy without rules per namespace; Linkerd: a
//! Server on every port of every meshed workload, which denies what no authorization admits); then, for each
//! declared flow into a meshed workload, the engine is asked whether the mesh still lets the caller through, and
//! only the ports it refuses get an authorization, naming the caller's identity. A caller the mesh cannot
//! identify (outside the mesh, an address, a pod of any namespace) gets none: the proof reports the flow as CUT,
//! with the mesh's reason.

pub mod istio;
pub mod linkerd;
pub mod proof;

use crate::generate::{read_back, source_endpoints, with_stand_ins, Plan};
use crate::needs::{Destination, Source};
use netseg_engine::{Analysis, Endpoint, Network, PortSet};
use netseg_model::mesh::{dataplane, Dataplane, MeshKind, Meshes};
use netseg_model::{load_bytes, Cluster, Inventory, Protocol, Workload};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Ports of a mesh proxy itself, never an application's: a Server or rule on them would govern the proxy.
const PROXY_PORTS: &[(u16, u16)] = &[(4143, 4143), (4190, 4191), (15000, 15099)];

/// More ports than this in one destination's allowance are not spelled out one by one (Istio and Linkerd name
/// single ports, not ranges).
pub(crate) const MAX_LISTED_PORTS: u64 = 64;

/// The mesh whose authorization `generate --mesh` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshTarget {
    Istio,
    Linkerd,
}

impl MeshTarget {
    pub fn kind(self) -> MeshKind {
        match self {
            MeshTarget::Istio => MeshKind::Istio,
            MeshTarget::Linkerd => MeshKind::Linkerd,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }
}

/// One written mesh object: its YAML document (without the `---`), and what it is for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshDocument {
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
    pub yaml: String,
}

/// A meshed caller of a protected workload, on the ports it needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub workload: usize,
    /// TCP ports on the destination's pods.
    pub ports: PortSet,
    pub reasons: Vec<String>,
}

/// A meshed workload the written objects protect, with the callers they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub workload: usize,
    pub callers: Vec<Caller>,
    /// Every TCP port its objects cover (declared callers' ports; for Linkerd, every Server's port).
    pub ports: PortSet,
}

/// What `--mesh` adds to the plan.
#[derive(Debug, Clone)]
pub struct MeshPlan {
    pub mesh: MeshTarget,
    /// The namespaces given an allow-nothing.
    pub namespaces: Vec<String>,
    /// In the order they are written: per namespace, the allow-nothing part first.
    pub documents: Vec<MeshDocument>,
    pub protected: Vec<Protected>,
    /// Defaults used, advice and things left alone, in words.
    pub notes: Vec<String>,
}

impl MeshPlan {
    /// The mesh objects as the tail of a YAML stream that already holds documents (or a header): each document
    /// after a `---`, the first one opened by a comment that says what the section is.
    pub fn to_yaml_section(&self, namespace: Option<&str>) -> String {
        let documents: Vec<&MeshDocument> =
            self.documents.iter().filter(|d| namespace.is_none_or(|ns| d.namespace == ns)).collect();
        let mut out = String::new();
        for (index, document) in documents.iter().enumerate() {
            out.push_str("---\n");
            if index == 0 {
                for line in self.section_comment().lines() {
                    out.push_str(&format!("# {line}\n"));
                }
            }
            out.push_str(&document.yaml);
        }
        out
    }

    fn section_comment(&self) -> String {
        let what = match self.mesh {
            MeshTarget::Istio => {
                "Istio authorization (netseg generate --mesh istio): an allow-nothing AuthorizationPolicy per\n\
                 namespace, then per workload an ALLOW policy naming its callers' principals and ports."
            }
            MeshTarget::Linkerd => {
                "Linkerd authorization (netseg generate --mesh linkerd): a Server per port of every meshed\n\
                 workload (a port with a Server denies what no authorization admits), and for each port with\n\
                 callers a MeshTLSAuthentication naming their identities and an AuthorizationPolicy on the Server."
            }
        };
        format!(
            "----------------------------------------------------------------------------------------------------\n\
             {what}\nThese objects need the {} CRDs; each one's netseg.io/reasons annotation says why it exists.",
            self.mesh.as_str()
        )
    }
}

/// The pods' dataplane when every pod of the workload is in `mesh` (a workload half in the mesh is not treated as
/// in it: its pods outside would present no identity and enforce nothing).
pub(crate) fn meshed_dataplane(cluster: &Cluster, workload: &Workload, mesh: MeshKind) -> Option<Dataplane> {
    let namespace = cluster.namespace(&workload.id.namespace);
    let planes: Vec<Dataplane> = workload.pods.iter().map(|p| dataplane(&p.facts, namespace)).collect();
    let first = planes.first()?.clone();
    planes.iter().all(|p| p.mesh == Some(mesh)).then_some(first)
}

/// The TCP ports of `ports` that the proxy captures, and not the proxy's own.
pub(crate) fn captured_tcp(plane: &Dataplane, ports: &PortSet) -> PortSet {
    let mut tcp = ports.intersection(&PortSet::protocol(Protocol::Tcp));
    for &(start, end) in plane.bypassed.iter().chain(PROXY_PORTS) {
        tcp = tcp.difference(&PortSet::from_ranges(&[(Protocol::Tcp, start, end)]));
    }
    tcp
}

/// The single TCP ports of a set, when there are few enough to list.
pub(crate) fn listed_ports(ports: &PortSet) -> Option<Vec<u16>> {
    if ports.count() > MAX_LISTED_PORTS {
        return None;
    }
    Some(ports.ranges(Protocol::Tcp).iter().flat_map(|&(start, end)| start..=end).collect())
}

/// Parses generated mesh objects back through the loader; like the policies, any diagnostic is a bug.
pub fn read_back_mesh(yaml: &str) -> Result<Meshes, String> {
    let mut inventory = Inventory::default();
    load_bytes(&mut inventory, Arc::from("<generated>"), yaml.as_bytes(), false);
    if let Some(problem) = inventory.diagnostics.iter().find(|d| d.severity != netseg_model::Severity::Note) {
        return Err(format!("the generated mesh objects do not read back cleanly: {problem}"));
    }
    Ok(inventory.mesh)
}

/// Adds mesh objects to a cluster's own; the cluster's mesh settings (trust domain, defaults) stay.
pub fn lay_over(cluster: &mut Cluster, objects: Meshes) {
    let (istio, linkerd) = (objects.istio, objects.linkerd);
    cluster.mesh.istio.authorization_policies.extend(istio.authorization_policies);
    cluster.mesh.istio.peer_authentications.extend(istio.peer_authentications);
    let mine = &mut cluster.mesh.linkerd;
    mine.servers.extend(linkerd.servers);
    mine.server_authorizations.extend(linkerd.server_authorizations);
    mine.authorization_policies.extend(linkerd.authorization_policies);
    mine.mesh_tls_authentications.extend(linkerd.mesh_tls_authentications);
    mine.network_authentications.extend(linkerd.network_authentications);
    mine.http_routes.extend(linkerd.http_routes);
    cluster.mesh.consul.intentions.extend(objects.consul.intentions);
}

fn documents_yaml(documents: &[MeshDocument]) -> String {
    documents.iter().map(|d| format!("---\n{}", d.yaml)).collect()
}

/// Names no object of the same kind in the namespace has: `base`, else `netseg-base`, `netseg-base-2`, ...
pub(crate) fn unique_name(taken: &mut BTreeSet<(String, String)>, namespace: &str, base: &str) -> String {
    crate::generate::unique_name(taken, namespace, base)
}

/// Plans the mesh objects for the network plan's flows.
pub fn plan(network: &Network<'_>, plan: &Plan, mesh: MeshTarget) -> Result<MeshPlan, String> {
    let cluster = network.cluster;
    let kind = mesh.kind();
    let mut notes = Vec::new();
    let planes: Vec<Option<Dataplane>> = cluster.workloads.iter().map(|w| meshed_dataplane(cluster, w, kind)).collect();
    let excluded = excluded_namespaces(cluster, mesh);
    let mut namespaces = Vec::new();
    for ns in &plan.segmented {
        if !cluster.workloads.iter().zip(&planes).any(|(w, p)| &w.id.namespace == ns && p.is_some()) {
            continue;
        }
        if let Some(why) = excluded.iter().find(|(name, _)| name == ns).map(|(_, why)| why) {
            notes.push(format!("{} namespace {ns} is left as it is: {why}", mesh.as_str()));
            continue;
        }
        namespaces.push(ns.clone());
    }
    let in_scope = |w: usize| planes[w].is_some() && namespaces.contains(&cluster.workloads[w].id.namespace);
    let mut writer: Box<dyn Writer> = match mesh {
        MeshTarget::Istio => Box::new(istio::IstioWriter::new(cluster)),
        MeshTarget::Linkerd => Box::new(linkerd::LinkerdWriter::new(cluster)),
    };
    let targets: Vec<usize> = (0..cluster.workloads.len()).filter(|&w| in_scope(w)).collect();
    let mut documents = writer.allow_nothing(cluster, &namespaces, &targets, &planes, plan, &mut notes);

    // Every check below sees the network plan's policies and the allow-nothing part, as they will be applied.
    let mut work = with_stand_ins(cluster, &plan.stand_ins);
    work.policies.extend(read_back(&crate::manifest::to_yaml_stream(&plan.policies, ""))?);
    lay_over(&mut work, read_back_mesh(&documents_yaml(&documents))?);
    let analysis = Analysis::with_options(&work, &network.setup.engine);
    let probe = plan.stand_ins.iter().position(|w| w.id.name == "any-pod").map(|i| cluster.workloads.len() + i);

    let mut protected: Vec<Protected> = Vec::new();
    for need in &plan.needs {
        let Destination::Workload(dst) = need.dst else { continue };
        let Some(plane) = planes[dst].as_ref().filter(|_| in_scope(dst)) else { continue };
        let wanted = captured_tcp(plane, &need.ports);
        if wanted.is_empty() {
            continue;
        }
        let sources = source_endpoints(&work, &need.src, probe);
        let mut passing = wanted.clone();
        for &src in &sources {
            for pod in 0..cluster.workloads[dst].pods.len() {
                let answer = analysis.mesh_answer(src, Endpoint::Pod { workload: dst, pod });
                passing = passing.intersection(&answer.map_or_else(PortSet::all, |a| a.passable.clone()));
            }
        }
        let missing = if sources.is_empty() { wanted } else { wanted.difference(&passing) };
        if missing.is_empty() {
            continue;
        }
        // Only a caller the mesh identifies can be named; every other one is left to the proof, which reports the
        // flow as cut, with the mesh's reason.
        let callers: Vec<usize> = match &need.src {
            Source::Workload(src) if planes[*src].is_some() => vec![*src],
            Source::Namespace { members, .. }
                if !members.is_empty() && members.iter().all(|m| planes[*m].is_some()) =>
            {
                members.clone()
            }
            _ => continue,
        };
        let entry = match protected.iter().position(|p| p.workload == dst) {
            Some(index) => &mut protected[index],
            None => {
                protected.push(Protected { workload: dst, callers: Vec::new(), ports: PortSet::empty() });
                let last = protected.len() - 1;
                &mut protected[last]
            }
        };
        entry.ports.union_with(&missing);
        for caller in callers {
            match entry.callers.iter_mut().find(|c| c.workload == caller) {
                Some(known) => {
                    known.ports.union_with(&missing);
                    if !known.reasons.iter().any(|r| **r == *need.reason) {
                        known.reasons.push(need.reason.to_string());
                    }
                }
                None => entry.callers.push(Caller {
                    workload: caller,
                    ports: missing.clone(),
                    reasons: vec![need.reason.to_string()],
                }),
            }
        }
    }
    drop(analysis);
    protected.sort_by(|a, b| cluster.workloads[a.workload].id.cmp(&cluster.workloads[b.workload].id));
    for entry in &mut protected {
        entry.callers.sort_by(|a, b| cluster.workloads[a.workload].id.cmp(&cluster.workloads[b.workload].id));
    }
    documents.extend(writer.allows(cluster, &mut protected, &planes, &mut notes));
    writer.advise(cluster, &namespaces, &mut notes);
    // One namespace after the other, each with its allow-nothing part first (a stable sort).
    documents.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    Ok(MeshPlan { mesh, namespaces, documents, protected, notes })
}

/// Namespaces where a mesh's objects would reach beyond one namespace, or where its own control plane runs.
fn excluded_namespaces(cluster: &Cluster, mesh: MeshTarget) -> Vec<(String, String)> {
    match mesh {
        MeshTarget::Istio => {
            let root = &cluster.mesh.istio.config.root_namespace;
            vec![(
                root.clone(),
                "it is Istio's root namespace, where a policy without a selector applies to every namespace of the mesh"
                    .into(),
            )]
        }
        MeshTarget::Linkerd => ["linkerd", "linkerd-viz", "linkerd-jaeger", "linkerd-multicluster"]
            .iter()
            .map(|ns| (ns.to_string(), "Linkerd's own control plane runs there".into()))
            .collect(),
    }
}

/// What each mesh writes.
pub(crate) trait Writer {
    /// The allow-nothing part: what denies every caller of the targets until an authorization admits it.
    fn allow_nothing(
        &mut self,
        cluster: &Cluster,
        namespaces: &[String],
        targets: &[usize],
        planes: &[Option<Dataplane>],
        plan: &Plan,
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument>;

    /// The authorizations of the protected workloads' callers. A workload the mesh cannot express is dropped
    /// from `protected` with a note.
    fn allows(
        &mut self,
        cluster: &Cluster,
        protected: &mut Vec<Protected>,
        planes: &[Option<Dataplane>],
        notes: &mut Vec<String>,
    ) -> Vec<MeshDocument>;

    /// Advice for what no generated object can do.
    fn advise(&self, cluster: &Cluster, namespaces: &[String], notes: &mut Vec<String>);
}

/// The `netseg.io/reasons` annotation of a mesh object: its purpose, then one line per rule's reason.
pub(crate) fn reasons_annotation(lines: &[String]) -> String {
    let safe = lines.iter().all(|l| !l.starts_with(' ') && !l.ends_with(' ') && !l.chars().any(char::is_control));
    if safe {
        let body: Vec<String> = lines.iter().map(|l| format!("      {l}")).collect();
        format!("|-\n{}", body.join("\n"))
    } else {
        serde_json::Value::String(lines.join("\n")).to_string()
    }
}

/// `metadata` of a generated mesh object.
pub(crate) fn metadata(name: &str, namespace: &str, reasons: &[String]) -> String {
    use crate::manifest::{scalar, MANAGED_BY, REASONS_ANNOTATION};
    format!(
        "metadata:\n  name: {}\n  namespace: {}\n  labels: {{{}: {}}}\n  annotations:\n    {REASONS_ANNOTATION}: {}\n",
        scalar(name),
        scalar(namespace),
        MANAGED_BY.0,
        MANAGED_BY.1,
        reasons_annotation(reasons)
    )
}

/// Pods of a workload, for the engine.
pub(crate) fn pods(cluster: &Cluster, workload: usize) -> Vec<Endpoint> {
    (0..cluster.workloads[workload].pods.len()).map(|pod| Endpoint::Pod { workload, pod }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_and_bypassed_ports_are_never_governed() {
        let plane = Dataplane { mesh: Some(MeshKind::Istio), bypassed: vec![(9090, 9090)], ..Dataplane::default() };
        let ports = PortSet::from_ranges(&[
            (Protocol::Tcp, 9080, 9080),
            (Protocol::Tcp, 9090, 9090),
            (Protocol::Tcp, 15006, 15006),
            (Protocol::Udp, 53, 53),
        ]);
        assert_eq!(captured_tcp(&plane, &ports), PortSet::single(Protocol::Tcp, 9080));
    }

    #[test]
    fn the_section_opens_with_its_comment_in_each_file() {
        let document = |namespace: &str, name: &str| MeshDocument {
            namespace: namespace.into(),
            kind: "AuthorizationPolicy",
            name: name.into(),
            yaml: format!("kind: AuthorizationPolicy\nmetadata: {{name: {name}}}\n"),
        };
        let plan = MeshPlan {
            mesh: MeshTarget::Istio,
            namespaces: vec!["a".into(), "b".into()],
            documents: vec![document("a", "one"), document("a", "two"), document("b", "three")],
            protected: Vec::new(),
            notes: Vec::new(),
        };
        let all = plan.to_yaml_section(None);
        assert_eq!(all.lines().filter(|l| *l == "---").count(), 3, "one document each: {all}");
        assert!(all.starts_with("---\n# ---"), "{all}");
        assert_eq!(all.matches("# Istio authorization").count(), 1);
        let b = plan.to_yaml_section(Some("b"));
        assert!(b.starts_with("---\n# ---") && b.contains("name: three") && !b.contains("name: one"), "{b}");
        assert_eq!(plan.to_yaml_section(Some("c")), "");
    }

    #[test]
    fn many_ports_are_not_listed() {
        assert_eq!(listed_ports(&PortSet::from_ranges(&[(Protocol::Tcp, 80, 81)])), Some(vec![80, 81]));
        assert_eq!(listed_ports(&PortSet::from_ranges(&[(Protocol::Tcp, 1000, 2000)])), None);
    }
}
