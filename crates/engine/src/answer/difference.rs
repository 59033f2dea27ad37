//! The difference between two answers: which pairs of workloads (matched by `namespace/name[Kind]`) gain or lose
//! ports from one cluster to the other, found without listing either answer's pairs.
//!
//! Workloads are matched by id into *joint workloads* (present before, after, or both). Those whose pods lie in one
//! profile on each side where they are present are grouped by that pair of profiles into *joint classes*: within a
//! class every workload answers alike on both sides. For each joint class as a source, the rows of its two profiles
//! (`Answer::profile_targets`: destination profiles grouped by ports) are mapped onto joint classes, and their
//! product partition is compared cell by cell: cells whose ports differ are changes, each a set of sources times
//! a set of destinations. Workloads spanning several profiles on some side are compared workload by workload.

use super::{Answer, ProfileId};
use crate::{Analysis, PortSet};
use fixedbitset::FixedBitSet;
use netseg_model::WorkloadRef;
use std::collections::{BTreeMap, HashMap};

/// A workload of either cluster, by its index in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JointWorkload {
    pub before: Option<usize>,
    pub after: Option<usize>,
}

/// Every source of the group may send `before` to every destination of it in the first cluster, and `after` in
/// the second (not itself); the two differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGroup {
    /// Indexes into [`Difference::workloads`], ascending.
    pub srcs: Vec<usize>,
    pub dsts: Vec<usize>,
    pub before: PortSet,
    pub after: PortSet,
}

/// How connectivity between workloads changes from one analysis to another; each changed pair of workloads lies
/// in exactly one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The workloads of both clusters, sorted by id.
    pub workloads: Vec<JointWorkload>,
    pub groups: Vec<ChangeGroup>,
}

/// Maps sets of one side's profiles onto the joint classes that have a profile of them on that side, once per set.
struct ToJoint<'a> {
    /// Simple joint classes by the profile they have on this side.
    classes_of: &'a [Vec<usize>],
    count: usize,
    seen: HashMap<FixedBitSet, FixedBitSet>,
}

impl ToJoint<'_> {
    fn map(&mut self, profiles: &FixedBitSet) -> &FixedBitSet {
        let (classes_of, count) = (self.classes_of, self.count);
        self.seen.entry(profiles.clone()).or_insert_with(|| {
            let mut joint = FixedBitSet::with_capacity(count);
            for profile in profiles.ones() {
                for &class in &classes_of[profile] {
                    joint.insert(class);
                }
            }
            joint
        })
    }
}

/// The profile of a simple joint workload before and after (`None` where it is absent).
type JointKey = (Option<ProfileId>, Option<ProfileId>);

/// What changes from `before` to `after`.
pub fn difference(before: &Analysis<'_>, after: &Analysis<'_>) -> Difference {
    let (old, new) = (before.answer(), after.answer());
    let ids = |analysis: &Analysis<'_>| -> BTreeMap<WorkloadRef, usize> {
        analysis.cluster.workloads.iter().enumerate().map(|(i, w)| (w.id.clone(), i)).collect()
    };
    let (old_ids, new_ids) = (ids(before), ids(after));
    let mut joint: BTreeMap<&WorkloadRef, JointWorkload> = BTreeMap::new();
    for (id, &i) in &old_ids {
        joint.entry(id).or_insert(JointWorkload { before: None, after: None }).before = Some(i);
    }
    for (id, &i) in &new_ids {
        joint.entry(id).or_insert(JointWorkload { before: None, after: None }).after = Some(i);
    }
    let workloads: Vec<JointWorkload> = joint.into_values().collect();

    // Joint classes of the simple joint workloads; the others are compared one by one.
    let profiles_of = |answer: &Answer<'_, '_>, index: Option<usize>| -> Option<Option<ProfileId>> {
        match index {
            None => Some(None),
            Some(w) => match answer.factored.workload_profiles[w].as_slice() {
                [only] => Some(Some(*only)),
                _ => None,
            },
        }
    };
    let mut class_of_key: HashMap<JointKey, usize> = HashMap::new();
    let mut classes: Vec<(JointKey, Vec<usize>)> = Vec::new();
    let mut class_of: Vec<Option<usize>> = vec![None; workloads.len()];
    let mut spanning: Vec<usize> = Vec::new();
    for (j, w) in workloads.iter().enumerate() {
        match (profiles_of(&old, w.before), profiles_of(&new, w.after)) {
            (Some(b), Some(a)) => {
                let class = *class_of_key.entry((b, a)).or_insert_with(|| {
                    classes.push(((b, a), Vec::new()));
                    classes.len() - 1
                });
                classes[class].1.push(j);
                class_of[j] = Some(class);
            }
            _ => spanning.push(j),
        }
    }
    let count = classes.len();
    let mut by_old = vec![Vec::new(); old.factored.profile_count];
    let mut by_new = vec![Vec::new(); new.factored.profile_count];
    for (class, ((b, a), _)) in classes.iter().enumerate() {
        if let Some(b) = b {
            by_old[*b].push(class);
        }
        if let Some(a) = a {
            by_new[*a].push(class);
        }
    }
    let mut old_joint = ToJoint { classes_of: &by_old, count, seen: HashMap::new() };
    let mut new_joint = ToJoint { classes_of: &by_new, count, seen: HashMap::new() };

    let all = PortSet::all();
    let mut groups: Vec<ChangeGroup> = Vec::new();
    let members = |set: &FixedBitSet, except: Option<usize>| -> Vec<usize> {
        let mut out: Vec<usize> = set.ones().flat_map(|c| classes[c].1.iter().copied()).collect();
        out.sort_unstable();
        out.retain(|&j| Some(j) != except);
        out
    };
    for (source, ((b, a), sources)) in classes.iter().enumerate() {
        let rows = |answer: &Answer<'_, '_>, profile: Option<ProfileId>, map: &mut ToJoint<'_>| {
            let groups = profile.map(|p| answer.profile_targets(p, &all)).unwrap_or_default();
            groups.into_iter().map(|(profiles, ports)| (map.map(&profiles).clone(), ports)).collect::<Vec<_>>()
        };
        let was = rows(&old, *b, &mut old_joint);
        let is = rows(&new, *a, &mut new_joint);
        let mut cells: Vec<(FixedBitSet, PortSet, PortSet)> = Vec::new();
        let mut covered_was = FixedBitSet::with_capacity(count);
        let mut covered_is = FixedBitSet::with_capacity(count);
        for (set, _) in &was {
            covered_was.union_with(set);
        }
        for (set, _) in &is {
            covered_is.union_with(set);
        }
        for (was_set, was_ports) in &was {
            for (is_set, is_ports) in &is {
                if was_ports != is_ports && !was_set.is_disjoint(is_set) {
                    let mut both = was_set.clone();
                    both.intersect_with(is_set);
                    cells.push((both, was_ports.clone(), is_ports.clone()));
                }
            }
            let mut gone = was_set.clone();
            gone.difference_with(&covered_is);
            if !gone.is_clear() {
                cells.push((gone, was_ports.clone(), PortSet::empty()));
            }
        }
        for (is_set, is_ports) in &is {
            let mut new_only = is_set.clone();
            new_only.difference_with(&covered_was);
            if !new_only.is_clear() {
                cells.push((new_only, PortSet::empty(), is_ports.clone()));
            }
        }
        for (set, was, is) in cells {
            // A workload is never its own peer: alone in its class, it is left out of its own destinations.
            let dsts = members(&set, (sources.len() == 1).then(|| sources[0]));
            if dsts.is_empty() {
                continue;
            }
            if sources.len() > 1 && set.contains(source) {
                // Workloads of one class reach each other but not themselves: one group per source.
                for &s in sources {
                    let dsts: Vec<usize> = dsts.iter().copied().filter(|&d| d != s).collect();
                    if !dsts.is_empty() {
                        groups.push(ChangeGroup { srcs: vec![s], dsts, before: was.clone(), after: is.clone() });
                    }
                }
            } else {
                groups.push(ChangeGroup { srcs: sources.clone(), dsts, before: was, after: is });
            }
        }
    }

    // Workloads spanning several profiles: their own rows, workload by workload, as source and as destination.
    let rows_of = |answer: &Answer<'_, '_>, index: Option<usize>, outgoing: bool, to_joint: &dyn Fn(usize) -> usize| {
        let mut row: BTreeMap<usize, PortSet> = BTreeMap::new();
        if let Some(w) = index {
            let peers = if outgoing { answer.targets(w, &all) } else { answer.sources(w, &all) };
            for (peer, ports) in peers.workloads() {
                row.insert(to_joint(peer), ports);
            }
        }
        row
    };
    let old_to_joint: Vec<usize> = joint_index(&workloads, |w| w.before, before.cluster.workloads.len());
    let new_to_joint: Vec<usize> = joint_index(&workloads, |w| w.after, after.cluster.workloads.len());
    let is_spanning = |j: usize| class_of[j].is_none();
    for &x in &spanning {
        for outgoing in [true, false] {
            let was = rows_of(&old, workloads[x].before, outgoing, &|i| old_to_joint[i]);
            let is = rows_of(&new, workloads[x].after, outgoing, &|i| new_to_joint[i]);
            let mut peers: Vec<usize> = was.keys().chain(is.keys()).copied().collect();
            peers.sort_unstable();
            peers.dedup();
            for peer in peers {
                // Pairs of two spanning workloads are compared once, from the source.
                if !outgoing && is_spanning(peer) {
                    continue;
                }
                let empty = PortSet::empty();
                let (w, i) = (was.get(&peer).unwrap_or(&empty), is.get(&peer).unwrap_or(&empty));
                if w != i {
                    let (srcs, dsts) = if outgoing { (vec![x], vec![peer]) } else { (vec![peer], vec![x]) };
                    groups.push(ChangeGroup { srcs, dsts, before: w.clone(), after: i.clone() });
                }
            }
        }
    }
    groups.sort_by(|a, b| (&a.srcs, &a.dsts).cmp(&(&b.srcs, &b.dsts)));
    Difference { workloads, groups }
}

/// For each workload of one cluster, its joint index.
fn joint_index(
    workloads: &[JointWorkload],
    side: impl Fn(&JointWorkload) -> Option<usize>,
    count: usize,
) -> Vec<usize> {
    let mut index = vec![0; count];
    for (j, w) in workloads.iter().enumerate() {
        if let Some(i) = side(w) {
            index[i] = j;
        }
    }
    index
}
