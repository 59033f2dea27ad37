//! Connectivity and findings between two versions of the manifests: which workload pairs (and address ranges)
//! gain or lose ports, and which findings appear or disappear.
//!
//! Workloads are matched by `namespace/name[Kind]`. Addresses outside the cluster are cut at every ipBlock
//! boundary of both versions, so that each piece answers alike in each, and adjacent pieces with the same change
//! are merged back.

use netseg_audit::{Finding, Report};
use netseg_engine::addresses::{self, IpRange};
use netseg_engine::{Analysis, Endpoint, PortSet};
use netseg_model::{Cluster, WorkloadRef};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffEndpoint {
    Workload(WorkloadRef),
    External(Vec<IpRange>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    /// Both before and after allow something, not the same.
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionChange {
    pub src: DiffEndpoint,
    pub dst: DiffEndpoint,
    pub before: PortSet,
    pub after: PortSet,
}

impl ConnectionChange {
    pub fn kind(&self) -> ChangeKind {
        match (self.before.is_empty(), self.after.is_empty()) {
            (true, _) => ChangeKind::Added,
            (_, true) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        }
    }

    pub fn opened(&self) -> PortSet {
        self.after.difference(&self.before)
    }

    pub fn closed(&self) -> PortSet {
        self.before.difference(&self.after)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub connections: Vec<ConnectionChange>,
    pub findings_appeared: Vec<Finding>,
    pub findings_disappeared: Vec<Finding>,
    /// The same rule on the same object at another severity: (before, after).
    pub findings_changed: Vec<(Finding, Finding)>,
}

impl Diff {
    /// Whether any connection gained a port.
    pub fn opens_anything(&self) -> bool {
        self.connections.iter().any(|c| !c.opened().is_empty())
    }

    /// Declared or observed flows that the change breaks: NS147 findings that appear.
    pub fn broken_flows(&self) -> Vec<&Finding> {
        self.findings_appeared.iter().filter(|f| f.rule.code == BLOCKED_FLOW).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
            && self.findings_appeared.is_empty()
            && self.findings_disappeared.is_empty()
            && self.findings_changed.is_empty()
    }
}

/// The changes of connectivity from `before` to `after`: workload pairs from the engine's difference of the two
/// factored answers (no answer's pairs are listed, only the changed ones), then address ranges.
pub fn connections(before: &Analysis<'_>, after: &Analysis<'_>) -> Vec<ConnectionChange> {
    let difference = netseg_engine::difference(before, after);
    // A joint workload is in one cluster at least.
    let id = |j: usize| -> Option<&WorkloadRef> {
        let joint = difference.workloads[j];
        let from_before = joint.before.map(|i| &before.cluster.workloads[i].id);
        from_before.or_else(|| joint.after.map(|i| &after.cluster.workloads[i].id))
    };
    let mut pairs: Vec<(&WorkloadRef, &WorkloadRef, &PortSet, &PortSet)> = Vec::new();
    for group in &difference.groups {
        for &src in &group.srcs {
            for &dst in group.dsts.iter().filter(|&&dst| dst != src) {
                if let (Some(s), Some(d)) = (id(src), id(dst)) {
                    pairs.push((s, d, &group.before, &group.after));
                }
            }
        }
    }
    pairs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut changes: Vec<ConnectionChange> = pairs
        .into_iter()
        .map(|(src, dst, was, is)| ConnectionChange {
            src: DiffEndpoint::Workload(src.clone()),
            dst: DiffEndpoint::Workload(dst.clone()),
            before: was.clone(),
            after: is.clone(),
        })
        .collect();
    changes.extend(external_changes(before, after));
    changes
}

/// Per workload and direction, what it may send to / receive from each piece of the address space.
fn external_changes(before: &Analysis<'_>, after: &Analysis<'_>) -> Vec<ConnectionChange> {
    // Only the policies each analysis evaluates cut the address space (none where the CNI enforces none).
    fn evaluated<'c>(analysis: &Analysis<'c>) -> &'c [netseg_model::NetworkPolicy] {
        if analysis.policies_enforced() {
            &analysis.cluster.policies
        } else {
            &[]
        }
    }
    let both = Cluster {
        policies: evaluated(before).iter().chain(evaluated(after)).cloned().collect(),
        workloads: before.cluster.workloads.iter().chain(&after.cluster.workloads).cloned().collect(),
        ..Cluster::default()
    };
    let atoms = addresses::atoms(&both);
    let ids: BTreeSet<&WorkloadRef> =
        before.cluster.workloads.iter().chain(&after.cluster.workloads).map(|w| &w.id).collect();
    let toward = |analysis: &Analysis<'_>, id: &WorkloadRef, atom: &IpRange, egress: bool| -> PortSet {
        let Some(index) = analysis.cluster.workloads.iter().position(|w| &w.id == id) else { return PortSet::empty() };
        let mut allowed = PortSet::empty();
        for pod in 0..analysis.cluster.workloads[index].pods.len() {
            let pod = Endpoint::Pod { workload: index, pod };
            let address = Endpoint::Address(atom.start);
            let (src, dst) = if egress { (pod, address) } else { (address, pod) };
            allowed.union_with(&analysis.allowed(src, dst));
        }
        allowed
    };
    // (workload, egress?, before, after) → the pieces of address space with that change.
    let mut grouped: BTreeMap<(WorkloadRef, bool, PortSet, PortSet), Vec<IpRange>> = BTreeMap::new();
    for id in ids {
        for egress in [true, false] {
            for atom in &atoms {
                let was = toward(before, id, atom, egress);
                let is = toward(after, id, atom, egress);
                if was == is {
                    continue;
                }
                grouped.entry((id.clone(), egress, was, is)).or_default().push(*atom);
            }
        }
    }
    grouped
        .into_iter()
        .map(|((id, egress, was, is), ranges)| {
            let external = DiffEndpoint::External(addresses::merge_ranges(ranges));
            let workload = DiffEndpoint::Workload(id);
            let (src, dst) = if egress { (workload, external) } else { (external, workload) };
            ConnectionChange { src, dst, before: was, after: is }
        })
        .collect()
}

/// A finding's identity across versions: its rule and the object it is about (messages carry details that
/// change with unrelated edits).
/// A finding's identity across two reports: its rule and object, and for a blocked flow (NS147, several on one
/// object) the flow's ends.
fn identity(finding: &Finding) -> (&'static str, &netseg_audit::Resource, Option<(&str, &str)>) {
    let flow = (finding.rule.code == BLOCKED_FLOW)
        .then(|| finding.witness.as_ref().map(|w| (w.from.as_str(), w.to.as_str())))
        .flatten();
    (finding.rule.code, &finding.resource, flow)
}

/// The rule of a declared or observed flow that the policies deny.
const BLOCKED_FLOW: &str = "NS147";

/// How the unsuppressed findings differ between two reports.
#[derive(Debug, Clone, Default)]
pub struct FindingChanges {
    pub appeared: Vec<Finding>,
    pub disappeared: Vec<Finding>,
    /// Same rule and object, another severity (before, after).
    pub changed: Vec<(Finding, Finding)>,
}

pub fn findings(before: &Report, after: &Report) -> FindingChanges {
    let live = |report: &Report| -> Vec<Finding> {
        report.findings.iter().filter(|f| f.suppressed.is_none()).cloned().collect()
    };
    let (old, new) = (live(before), live(after));
    let find = |list: &[Finding], f: &Finding| list.iter().find(|o| identity(o) == identity(f)).cloned();
    let mut changes = FindingChanges::default();
    for finding in &new {
        match find(&old, finding) {
            None => changes.appeared.push(finding.clone()),
            Some(was) if was.severity != finding.severity => changes.changed.push((was, finding.clone())),
            Some(_) => {}
        }
    }
    changes.disappeared = old.iter().filter(|f| find(&new, f).is_none()).cloned().collect();
    changes
}

/// The whole difference.
pub fn diff(before: &Analysis<'_>, after: &Analysis<'_>, before_report: &Report, after_report: &Report) -> Diff {
    let FindingChanges { appeared, disappeared, changed } = findings(before_report, after_report);
    Diff {
        connections: connections(before, after),
        findings_appeared: appeared,
        findings_disappeared: disappeared,
        findings_changed: changed,
    }
}
