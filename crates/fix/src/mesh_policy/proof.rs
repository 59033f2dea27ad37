//! The mesh's part of the proof: with the written mesh objects laid over the input (and the policies), every
//! meshed workload they protect is asked of the engine again, from every meshed caller that no declared flow
//! names: the mesh must refuse it on the protected ports. Declared flows are checked by the proof itself, whose
//! analysis includes the mesh layer; this module gives a cut flow the mesh's reason.

use super::{captured_tcp, meshed_dataplane, pods, MeshPlan, MeshTarget};
use crate::generate::Plan;
use crate::needs::{Destination, Source};
use netseg_engine::mesh::{Decision, MeshAnswer, Verdict};
use netseg_engine::{Analysis, Endpoint, PortSet};
use netseg_model::mesh::dataplane;
use netseg_model::Cluster;

/// One caller and one protected workload, as the mesh decides them after the written objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshCheck {
    pub caller: usize,
    pub destination: usize,
    /// The protected TCP ports asked (denied: all of them; admitted: those the mesh lets through).
    pub ports: PortSet,
    /// What decided, in words: the policy (and rule) with its file and line, or the mesh's reason.
    pub by: String,
}

#[derive(Debug, Clone)]
pub struct MeshProof {
    pub mesh: MeshTarget,
    /// Meshed callers no declared flow names, refused by the mesh on every protected port.
    pub denied: Vec<MeshCheck>,
    /// Meshed callers no declared flow names that the mesh still admits on some protected port (an
    /// authorization of the input's own, a default): a warning, the input's objects are not changed.
    pub admitted: Vec<MeshCheck>,
    /// Undeclared meshed (caller, workload) pairs past [`MAX_CALLERS_ASKED`] per workload, not asked.
    pub unasked: usize,
}

/// The most undeclared callers asked about per protected workload: each question is a mesh decision of its own
/// (every caller has its own identity), so asking all of them grows with the square of the workloads.
pub const MAX_CALLERS_ASKED: usize = 50;

/// A refusal in words, naming the deciding object once.
fn cite(by: Option<&netseg_engine::request::PolicyRef>, why: &str) -> String {
    match by {
        Some(by) if !why.contains(&by.to_string()) => format!("{by}: {why}"),
        _ => why.to_string(),
    }
}

/// The first refusal in a decision that lets nothing through: the deciding object, or the default, in words.
fn first_denial(decision: &Decision) -> Option<String> {
    match decision {
        Decision::Deny { by, why } => Some(cite(by.as_ref(), why)),
        Decision::Allow { .. } => None,
        Decision::External { then, .. } => first_denial(then),
        Decision::FirstMatch { clauses, otherwise } => {
            first_denial(otherwise).or_else(|| clauses.iter().find_map(|(_, d)| first_denial(d)))
        }
        Decision::AnyOf(ways) => {
            let all: Vec<String> =
                ways.iter().filter_map(|(way, d)| first_denial(d).map(|why| format!("{way}: {why}"))).collect();
            (!all.is_empty()).then(|| all.join("; "))
        }
    }
}

/// Why the mesh refuses `ports` of this connection, when it refuses some of them.
fn refused(answer: &MeshAnswer, ports: &PortSet) -> Option<String> {
    answer.segments.iter().filter(|s| !s.ports.intersection(ports).is_empty()).find_map(|segment| {
        match &segment.verdict {
            Verdict::Refused { why, by } => Some(cite(by.as_ref(), why)),
            Verdict::Decided { decision, passability: netseg_engine::mesh::Passability::None } => {
                first_denial(decision)
            }
            _ => None,
        }
    })
}

/// The mesh's reason for denying some of `ports` between these endpoints, if the mesh is what denies them.
pub fn refusal(
    analysis: &Analysis<'_>,
    sources: &[Endpoint],
    destinations: &[Endpoint],
    ports: &PortSet,
) -> Option<String> {
    for &src in sources {
        for &dst in destinations {
            let Some(answer) = analysis.mesh_answer(src, dst) else { continue };
            let refused_ports = ports.difference(&answer.passable);
            if refused_ports.is_empty() {
                continue;
            }
            if let Some(why) = refused(&answer, &refused_ports) {
                let mesh = answer.mesh.map_or("the mesh", |m| m.as_str());
                // A caller outside the destination's mesh has no identity to name: say so first.
                let outside = match src {
                    Endpoint::Pod { workload, pod } => {
                        let cluster = analysis.cluster;
                        let w = &cluster.workloads[workload];
                        let plane = dataplane(&w.pods[pod].facts, cluster.namespace(&w.id.namespace));
                        (plane.mesh != answer.mesh).then(|| {
                            format!("{} is outside the {mesh} mesh ({}), so it has no identity; ", w.id, plane.reason)
                        })
                    }
                    Endpoint::Address(addr) => {
                        Some(format!("{addr} is outside the cluster, so it has no {mesh} identity; "))
                    }
                };
                return Some(format!("{}{mesh}: {why}", outside.unwrap_or_default()));
            }
        }
    }
    None
}

/// What admits the caller on `ports`: the allowing objects the engine names.
fn admitted_by(answer: &MeshAnswer, ports: &PortSet) -> String {
    let mut by: Vec<String> = Vec::new();
    for segment in answer.segments.iter().filter(|s| !s.ports.intersection(ports).is_empty()) {
        let words = match &segment.verdict {
            Verdict::Bypassed { why } => why.clone(),
            Verdict::Decided { decision, .. } => {
                let paths = decision.allow_paths();
                let cited: Vec<String> = paths
                    .iter()
                    .map(|p| match p.citation() {
                        Some(by) => format!("{by} ({})", p.describe()),
                        None => p.describe(),
                    })
                    .collect();
                cited.join("; ")
            }
            Verdict::Refused { .. } => continue,
        };
        if !by.contains(&words) {
            by.push(words);
        }
    }
    by.join("; ")
}

/// Holds the written mesh objects against every undeclared meshed caller of the workloads they protect.
pub fn check(cluster: &Cluster, plan: &Plan, mesh: &MeshPlan, after: &Analysis<'_>) -> MeshProof {
    let kind = mesh.mesh.kind();
    let planes: Vec<_> = cluster.workloads.iter().map(|w| meshed_dataplane(cluster, w, kind)).collect();
    let mut proof = MeshProof { mesh: mesh.mesh, denied: Vec::new(), admitted: Vec::new(), unasked: 0 };
    for (destination, workload) in cluster.workloads.iter().enumerate() {
        let Some(plane) = &planes[destination] else { continue };
        if !mesh.namespaces.contains(&workload.id.namespace) {
            continue;
        }
        let mut ports = PortSet::empty();
        for port in workload.pods.iter().flat_map(|p| &p.facts.ports) {
            ports.union_with(&PortSet::single(port.protocol, port.port));
        }
        let declared: Vec<usize> = plan
            .needs
            .iter()
            .filter(|n| n.dst == Destination::Workload(destination))
            .flat_map(|n| {
                ports.union_with(&n.ports);
                match &n.src {
                    Source::Workload(w) => vec![*w],
                    Source::Namespace { members, .. } => members.clone(),
                    _ => Vec::new(),
                }
            })
            .collect();
        let ports = captured_tcp(plane, &ports);
        if ports.is_empty() {
            continue;
        }
        let mut callers: Vec<usize> = (0..cluster.workloads.len())
            .filter(|&c| c != destination && planes[c].is_some() && !declared.contains(&c))
            .collect();
        // Its own namespace first (the neighbours a flat namespace lets in), then by name.
        callers
            .sort_by_key(|&c| (cluster.workloads[c].id.namespace != workload.id.namespace, &cluster.workloads[c].id));
        proof.unasked += callers.len().saturating_sub(MAX_CALLERS_ASKED);
        for caller in callers.into_iter().take(MAX_CALLERS_ASKED) {
            let (Some(&src), Some(&dst)) = (pods(cluster, caller).first(), pods(cluster, destination).first()) else {
                continue;
            };
            let Some(answer) = after.mesh_answer(src, dst) else { continue };
            let through = answer.passable.intersection(&ports);
            if through.is_empty() {
                let by = refused(&answer, &ports).unwrap_or_else(|| "the mesh refuses it".into());
                proof.denied.push(MeshCheck { caller, destination, ports: ports.clone(), by });
            } else {
                let by = admitted_by(&answer, &through);
                proof.admitted.push(MeshCheck { caller, destination, ports: through, by });
            }
        }
    }
    proof
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_engine::request::PolicyRef;

    fn policy(name: &str) -> PolicyRef {
        PolicyRef {
            kind: "AuthorizationPolicy".into(),
            namespace: Some("a".into()),
            name: name.into(),
            rule: None,
            location: None,
        }
    }

    #[test]
    fn a_denial_names_its_object_once() {
        assert_eq!(cite(Some(&policy("x")), "nothing matches"), "AuthorizationPolicy a/x: nothing matches");
        assert_eq!(
            cite(Some(&policy("x")), "AuthorizationPolicy a/x selects the port"),
            "AuthorizationPolicy a/x selects the port"
        );
        assert_eq!(cite(None, "the default refuses"), "the default refuses");
    }

    #[test]
    fn every_way_to_an_ambient_pod_is_named_in_the_denial() {
        let decision = Decision::AnyOf(vec![
            ("through the waypoint".into(), Decision::deny(Some(policy("w")), "no rule matches")),
            ("directly".into(), Decision::deny(None, "the default refuses")),
        ]);
        assert_eq!(
            first_denial(&decision).as_deref(),
            Some("through the waypoint: AuthorizationPolicy a/w: no rule matches; directly: the default refuses")
        );
        assert_eq!(first_denial(&Decision::allow("open")), None);
    }
}
