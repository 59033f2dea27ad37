//! The factored connectivity answer: who reaches whom, answered without listing pairs.
//!
//! A connection needs the source's egress and the destination's ingress. Each side is decided by `side` from two
//! things: what the subject is (the rules that apply to it, in every tier) and what the other end is (which of
//! those rules' peers match it, and for egress the container ports its named ports resolve on). So, per
//! direction:
//!
//! - profiles (`profiles.rs`: classes that no rule tells apart) are grouped into **situations**: profiles with the
//!   same [`SubjectKey`], which decide their side alike toward everything;
//! - each situation has a **row**: the profiles split into cells that its rules cannot tell apart (a partition by
//!   membership in the rules' peer sets, and by port names where they matter), one `side` evaluation per cell on
//!   representatives, cells with the same ports merged, cells that allow nothing dropped;
//! - identical (cell, ports) pairs across rows are one **entry**, which records the profiles whose row holds it
//!   (its *holders*).
//!
//! An egress entry is a rectangle: its holders may send its ports to its cell. An ingress entry is the mirror
//! image. Within a row the cells are disjoint, so every (source, destination) pair of profiles lies in at most one
//! egress entry and at most one ingress entry, and what is allowed is their ports' intersection. The allowed
//! pairs are therefore partitioned exactly into **blocks**, one per compatible (egress entry, ingress entry):
//! `(egress holders ∩ ingress cell) × (egress cell ∩ ingress holders)` on the ports both allow. Everything the
//! clients ask (who reaches X on port P, whom X reaches, the multi-hop closure, the number of allowed pairs, pair
//! counts per namespace) is composed from rows, entries and blocks with bitset operations; the cost follows the
//! number of situations, cells and entries, never the number of pod pairs. A flat cluster is one profile, one
//! situation per direction, one entry each and one block.
//!
//! The rows are built on `side` itself, evaluated on representatives, so every layer that `side` decides (the
//! admin tier, NetworkPolicy, the baseline tier, whatever else compiles into them) flows through unchanged.
//! [`Analysis::subject_key`] and [`Analysis::peer_inputs`] say what `side` reads; they are kept next to each other
//! here and the property test (`tests/brute_force.rs`) holds every query against a brute-force evaluator.

use crate::classes::ClassId;
use crate::profiles::ProfileId;
use crate::rules::{direction_slot, CompiledRule, Other, PeerSet};
use crate::{Analysis, PortSet};
use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt, HashSet};
use netseg_model::parallel::beside;
use netseg_model::{ContainerPort, Direction, Protocol};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

pub mod difference;

/// What `side` reads about its subject: two subjects with the same key decide their side alike toward every other
/// end. Built from the subject's class by [`Analysis::subject_key`].
#[derive(PartialEq, Eq, Hash, Clone, Debug)]
pub(crate) struct SubjectKey {
    /// Per tier, in evaluation order: the tier's policies that apply to the class in this direction.
    applying: Vec<Vec<usize>>,
    /// Ingress only: the subject's container ports, on which named ports resolve.
    ports: Option<Vec<ContainerPort>>,
    /// Where a rule that applies to the subject also asks something of the subject itself (Calico's conditions on
    /// the rule's own endpoint, its `ipVersion`), the policies alone do not decide the answer: the subject's
    /// profile, which tells apart every class those conditions read, keeps it exact.
    own_profile: Option<usize>,
}

/// The factored answer, built once per analysis on the first question that needs it.
pub(crate) struct Factored {
    /// `sides[direction_slot(direction)]`.
    sides: [Side; 2],
    profile_count: usize,
    /// The distinct profiles of each workload's pods, sorted.
    workload_profiles: Vec<Vec<ProfileId>>,
    /// The workloads with a pod in each profile, ascending.
    profile_workloads: Vec<Vec<usize>>,
    /// Pods per profile.
    profile_pods: Vec<u64>,
    /// The namespace of each workload, as an index into the cluster's distinct namespaces, and how many there are.
    workload_namespace: Vec<u32>,
    namespace_count: usize,
    /// Workloads whose pods all fall in this one profile, per profile.
    single: Vec<u64>,
    /// Workloads whose pods fall in several profiles (rare: a policy telling pods of one workload apart).
    spanning: Vec<usize>,
}

struct Side {
    /// The situation of each profile.
    situation_of: Vec<u32>,
    /// A class of each situation: any would answer alike.
    representative: Vec<ClassId>,
    /// Entry indexes of each situation's row; their cells are disjoint.
    rows: Vec<Vec<u32>>,
    entries: Vec<Entry>,
}

/// A cell of some rows with the ports those rows allow toward it.
struct Entry {
    /// The other ends: destinations of an egress entry, sources of an ingress entry.
    others: Arc<ProfileSet>,
    ports: PortSet,
    /// The profiles whose row holds this entry: sources of an egress entry, destinations of an ingress entry.
    holders: ProfileSet,
}

/// A set of profiles as a bitset, with its members listed when they are few, so that a sparse set meets any other
/// in as many bit tests as it has members rather than a scan of every word.
pub(crate) struct ProfileSet {
    bits: FixedBitSet,
    few: Option<Box<[u32]>>,
}

impl ProfileSet {
    fn new(bits: FixedBitSet) -> ProfileSet {
        let count = bits.count_ones(..);
        // A bit test per member against a word-parallel scan of the whole set.
        let few = (count * 128 <= bits.len().max(128))
            .then(|| bits.ones().map(|i| u32::try_from(i).unwrap_or(u32::MAX)).collect());
        ProfileSet { bits, few }
    }

    fn contains(&self, profile: ProfileId) -> bool {
        self.bits.contains(profile)
    }

    fn is_disjoint(&self, other: &ProfileSet) -> bool {
        match (&self.few, &other.few) {
            (Some(few), _) => few.iter().all(|&i| !other.bits.contains(i as usize)),
            (None, Some(few)) => few.iter().all(|&i| !self.bits.contains(i as usize)),
            (None, None) => self.bits.is_disjoint(&other.bits),
        }
    }

    /// Whether the set shares a member with a plain bitset.
    fn meets(&self, other: &FixedBitSet) -> bool {
        match &self.few {
            Some(few) => few.iter().any(|&i| other.contains(i as usize)),
            None => !self.bits.is_disjoint(other),
        }
    }

    fn intersection(&self, other: &ProfileSet) -> FixedBitSet {
        let mut out = self.bits.clone();
        out.intersect_with(&other.bits);
        out
    }
}

impl Side {
    /// The entry of `subject`'s row whose cell holds `other`.
    fn lookup(&self, subject: ProfileId, other: ProfileId) -> Option<&Entry> {
        let row = &self.rows[self.situation_of[subject] as usize];
        row.iter().map(|&e| &self.entries[e as usize]).find(|entry| entry.others.contains(other))
    }
}

impl Analysis<'_> {
    /// What `side` reads about `subject` in `direction`; see [`SubjectKey`]. Keep in step with `side`.
    pub(crate) fn subject_key(&self, subject: ClassId, direction: Direction) -> SubjectKey {
        let slot = direction_slot(direction);
        let conditional = self.tiers.iter().any(|tier| {
            tier.applying[slot][subject]
                .iter()
                .any(|&policy| tier.policies[policy].rules.iter().any(|r| r.rule.condition.is_some()))
        });
        SubjectKey {
            applying: self.tiers.iter().map(|tier| tier.applying[slot][subject].clone()).collect(),
            ports: (direction == Direction::Ingress).then(|| self.classes.classes[subject].ports.clone()),
            // The mesh (on the destination's side) decides by the client's identity and the destination's own
            // facts, which neither the policies nor the cells see: every profile is its own subject then.
            own_profile: (conditional || self.mesh_decides(direction) || self.hbone_client(subject, direction))
                .then(|| self.profiles().of_class[subject]),
        }
    }

    /// Whether `side` also asks the mesh layer in this direction (the destination's proxy, so ingress only).
    fn mesh_decides(&self, direction: Direction) -> bool {
        direction == Direction::Ingress && self.mesh_active()
    }

    /// Whether `side` tunnels this subject's egress toward some pods (an Istio ambient client: toward Istio pods
    /// the network sees HBONE's port), which depends on the destination's dataplane, which the cells do not see.
    fn hbone_client(&self, subject: ClassId, direction: Direction) -> bool {
        let dataplane = &self.classes.classes[subject].dataplane;
        direction == Direction::Egress
            && self.mesh_active()
            && dataplane.ambient
            && dataplane.mesh == Some(netseg_model::mesh::MeshKind::Istio)
    }

    /// The rules `side` may walk for a subject with this key (a superset: a tier a Pass never reaches is listed
    /// too). Keep in step with `side`.
    fn rules_of<'a>(&'a self, key: &'a SubjectKey, direction: Direction) -> impl Iterator<Item = &'a CompiledRule> {
        self.tiers.iter().zip(&key.applying).flat_map(move |(tier, applying)| {
            applying.iter().flat_map(move |&policy| {
                tier.policies[policy].rules.iter().filter(move |r| r.direction() == direction).map(|r| &r.rule)
            })
        })
    }

    /// The factored answer, built on first use.
    pub(crate) fn factored(&self) -> &Factored {
        self.factored.get_or_init(|| self.build_factored())
    }

    fn build_factored(&self) -> Factored {
        let profiles = self.profiles();
        let count = profiles.len();
        let workload_profiles = self.workload_profiles();
        let mut profile_workloads = vec![Vec::new(); count];
        let mut single = vec![0u64; count];
        let mut spanning = Vec::new();
        for (workload, ids) in workload_profiles.iter().enumerate() {
            for &profile in ids {
                profile_workloads[profile].push(workload);
            }
            match ids.as_slice() {
                [only] => single[*only] += 1,
                [] => {}
                _ => spanning.push(workload),
            }
        }
        let mut namespace_of: HashMap<&str, u32> = HashMap::new();
        let workload_namespace: Vec<u32> = self
            .cluster
            .workloads
            .iter()
            .map(|w| {
                let next = u32::try_from(namespace_of.len()).unwrap_or(u32::MAX);
                *namespace_of.entry(w.id.namespace.as_str()).or_insert(next)
            })
            .collect();
        let namespace_count = namespace_of.len();
        let mut profile_pods = vec![0u64; count];
        for classes in &self.classes.pod_class {
            for &class in classes {
                profile_pods[profiles.of_class[class]] += 1;
            }
        }
        // Profiles grouped by their container ports, for rules whose named ports resolve on the other end.
        let mut port_groups: HashMap<&[ContainerPort], FixedBitSet> = HashMap::new();
        for (profile, &class) in profiles.representative.iter().enumerate() {
            port_groups
                .entry(self.classes.classes[class].ports.as_slice())
                .or_insert_with(|| FixedBitSet::with_capacity(count))
                .insert(profile);
        }
        let port_groups: Vec<(&[ContainerPort], FixedBitSet)> = port_groups.into_iter().collect();
        // The two directions read the same profiles and write nothing in common: each is built on a core. Where
        // the system refuses a thread, egress is built after ingress on this one.
        let sides = std::thread::scope(|scope| {
            let egress = beside(scope, || self.build_side(Direction::Egress, &port_groups));
            let ingress = self.build_side(Direction::Ingress, &port_groups);
            [ingress, egress.join()]
        });
        Factored {
            sides,
            profile_count: count,
            workload_profiles,
            profile_workloads,
            profile_pods,
            workload_namespace,
            namespace_count,
            single,
            spanning,
        }
    }

    fn build_side(&self, direction: Direction, port_groups: &[(&[ContainerPort], FixedBitSet)]) -> Side {
        // A rule's peers are one direction's, so each side keeps its own: its sets, by their address.
        let mut peer_profiles: HashMap<*const PeerSet, Arc<FixedBitSet>> = HashMap::new();
        let profiles = self.profiles();
        let count = profiles.len();
        let mut keys: HashMap<SubjectKey, u32> = HashMap::new();
        let mut situation_of = Vec::with_capacity(count);
        let mut representative: Vec<ClassId> = Vec::new();
        let mut situation_keys: Vec<SubjectKey> = Vec::new();
        for &class in &profiles.representative {
            let key = self.subject_key(class, direction);
            let id = match keys.get(&key) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(representative.len()).unwrap_or(u32::MAX);
                    representative.push(class);
                    situation_keys.push(key.clone());
                    keys.insert(key, id);
                    id
                }
            };
            situation_of.push(id);
        }
        let mut members: Vec<Vec<ProfileId>> = vec![Vec::new(); representative.len()];
        for (profile, &situation) in situation_of.iter().enumerate() {
            members[situation as usize].push(profile);
        }

        let all = Arc::new(profiles.all());
        let mut cells_seen: HashMap<Arc<FixedBitSet>, ()> = HashMap::new();
        let mut entry_of: HashMap<(Arc<FixedBitSet>, PortSet), u32> = HashMap::new();
        let mut entries: Vec<(Arc<FixedBitSet>, PortSet, FixedBitSet)> = Vec::new();
        let mut rows = Vec::with_capacity(representative.len());
        for (situation, key) in situation_keys.iter().enumerate() {
            // The peer sets the rules test, as profile sets, each once.
            let mut sets: Vec<Arc<FixedBitSet>> = Vec::new();
            let mut named: Vec<(&str, Option<Protocol>)> = Vec::new();
            for rule in self.rules_of(key, direction) {
                if direction == Direction::Egress {
                    // Names resolve on the destination (Calico's notPorts too), so they split the cells.
                    named.extend(
                        rule.ports
                            .named
                            .iter()
                            .chain(&rule.ports.except_named)
                            .map(|(name, protocol)| (name.as_str(), *protocol)),
                    );
                }
                for peer in rule.peers.iter().flatten() {
                    if matches!(peer, PeerSet::AnyAddress | PeerSet::Fqdn(_)) {
                        continue;
                    }
                    let set = peer_profiles
                        .entry(peer as *const PeerSet)
                        .or_insert_with(|| Arc::new(profiles.matched_by(peer)))
                        .clone();
                    if !sets.iter().any(|s| Arc::ptr_eq(s, &set) || **s == *set) {
                        sets.push(set);
                    }
                }
            }
            // A Calico condition (on the side's own endpoint and the connection: address families, the other
            // end's ports) is not a peer set: its rules are evaluated against every profile on its own (profiles
            // tell apart every class it reads), exact at the cost of the factoring. (A Calico peer is a set of whole
            // profiles, as `Profiles::matched_by` computes it, and factors like any other.)
            // So is every rule where the mesh decides too: the mesh reads the other end's identity (service account,
            // namespace, dataplane), which the cells do not tell apart; and the egress of an ambient client, which
            // the HBONE tunnel changes toward Istio pods only.
            let per_profile = self.mesh_decides(direction)
                || self.hbone_client(representative[situation], direction)
                || self.rules_of(key, direction).any(|rule| rule.condition.is_some());
            let mut cells: Vec<FixedBitSet> = vec![(*all).clone()];
            if per_profile {
                sets.clear();
                cells = (0..count)
                    .map(|profile| {
                        let mut cell = FixedBitSet::with_capacity(count);
                        cell.insert(profile);
                        cell
                    })
                    .collect();
            }
            for set in &sets {
                if set.is_clear() || set.count_ones(..) == count {
                    continue;
                }
                let mut next = Vec::with_capacity(cells.len() + 1);
                for cell in cells {
                    if cell.is_subset(set) || cell.is_disjoint(set) {
                        next.push(cell);
                        continue;
                    }
                    let mut inside = cell.clone();
                    inside.intersect_with(set);
                    let mut outside = cell;
                    outside.difference_with(set);
                    next.push(inside);
                    next.push(outside);
                }
                cells = next;
            }
            if !named.is_empty() {
                cells = split_by_port_names(cells, &named, port_groups, count);
            }
            // One evaluation per cell; cells that get the same ports are one.
            let subject = representative[situation];
            let mut by_ports: Vec<(PortSet, FixedBitSet)> = Vec::new();
            for cell in cells {
                let Some(other) = cell.ones().next() else { continue };
                let ports = self.side(subject, Other::Class(profiles.representative[other]), direction, None);
                if ports.is_empty() {
                    continue;
                }
                match by_ports.iter_mut().find(|(p, _)| *p == ports) {
                    Some((_, union)) => union.union_with(&cell),
                    None => by_ports.push((ports, cell)),
                }
            }
            let mut row = Vec::with_capacity(by_ports.len());
            for (ports, cell) in by_ports {
                let cell = if cell == *all {
                    all.clone()
                } else {
                    let cell = Arc::new(cell);
                    match cells_seen.get_key_value(&cell) {
                        Some((seen, ())) => seen.clone(),
                        None => {
                            cells_seen.insert(cell.clone(), ());
                            cell
                        }
                    }
                };
                let key = (cell, ports);
                let id = match entry_of.get(&key) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(entries.len()).unwrap_or(u32::MAX);
                        entries.push((key.0.clone(), key.1.clone(), FixedBitSet::with_capacity(count)));
                        entry_of.insert(key, id);
                        id
                    }
                };
                for &profile in &members[situation] {
                    entries[id as usize].2.insert(profile);
                }
                row.push(id);
            }
            rows.push(row);
        }
        // Cells shared by several entries stay shared.
        let mut shared: HashMap<*const FixedBitSet, Arc<ProfileSet>> = HashMap::new();
        let entries = entries
            .into_iter()
            .map(|(others, ports, holders)| {
                let others = shared
                    .entry(Arc::as_ptr(&others))
                    .or_insert_with(|| Arc::new(ProfileSet::new((*others).clone())))
                    .clone();
                Entry { others, ports, holders: ProfileSet::new(holders) }
            })
            .collect();
        Side { situation_of, representative, rows, entries }
    }

    /// The factored answer with the analysis, for questions.
    pub fn answer(&self) -> Answer<'_, '_> {
        Answer { analysis: self, factored: self.factored() }
    }
}

/// Splits cells so that in each, every profile resolves the given port names alike.
fn split_by_port_names(
    cells: Vec<FixedBitSet>,
    named: &[(&str, Option<Protocol>)],
    port_groups: &[(&[ContainerPort], FixedBitSet)],
    count: usize,
) -> Vec<FixedBitSet> {
    // Port groups that resolve every name alike, joined. The resolution is kept per name: two names that resolve
    // to the same number on different pods are still told apart, since different rules may name them.
    let mut by_resolution: HashMap<Vec<(usize, Protocol, u16)>, FixedBitSet> = HashMap::new();
    for (ports, profiles) in port_groups {
        let mut resolution: Vec<(usize, Protocol, u16)> = Vec::new();
        for (index, (name, protocol)) in named.iter().enumerate() {
            for port in ports.iter() {
                if port.name.as_deref() == Some(*name) && protocol.is_none_or(|p| p == port.protocol) {
                    resolution.push((index, port.protocol, port.port));
                }
            }
        }
        resolution.sort_unstable();
        resolution.dedup();
        by_resolution.entry(resolution).or_insert_with(|| FixedBitSet::with_capacity(count)).union_with(profiles);
    }
    if by_resolution.len() <= 1 {
        return cells;
    }
    let mut out = Vec::new();
    for cell in cells {
        for group in by_resolution.values() {
            let mut part = cell.clone();
            part.intersect_with(group);
            if !part.is_clear() {
                out.push(part);
            }
        }
    }
    out
}

/// Profiles and the ports they get: the answer to "who reaches X" or "whom X reaches", as disjoint groups per
/// profile of X, before mapping to workloads.
type Groups = Vec<(FixedBitSet, PortSet)>;

/// The factored answer and the analysis it answers for.
#[derive(Clone, Copy)]
pub struct Answer<'a, 'c> {
    analysis: &'a Analysis<'c>,
    factored: &'a Factored,
}

/// Workloads that reach, or are reached by, the one asked about, each with the ports, without listing them until
/// asked: counts come from the profiles.
pub struct Peers<'a, 'c> {
    answer: Answer<'a, 'c>,
    groups: Groups,
    /// The workload asked about, which is never its own peer.
    exclude: Option<usize>,
}

/// How many (source, destination) pairs are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PairCount {
    /// Ordered pairs of distinct workloads.
    pub workloads: u64,
    /// Ordered pairs of distinct pods.
    pub pods: u64,
}

/// Every source profile of a block may send `ports` to every destination profile of it (distinct pods); each
/// allowed pair of profiles lies in exactly one block.
pub struct Block {
    sources: FixedBitSet,
    destinations: FixedBitSet,
    pub ports: PortSet,
}

/// Whether pairs of profiles are admitted on every port of one port set. Each side's answer for a situation is a
/// bitset of the other ends (the cells of its row whose ports cover the set), built once: the pairs of millions of
/// declared flows then cost two bit tests each, not a scan of a row.
pub struct AdmitsAll<'a, 'c> {
    answer: Answer<'a, 'c>,
    ports: PortSet,
    /// Per egress situation: the destination profiles sent every port.
    egress: Vec<Option<Cow<'a, FixedBitSet>>>,
    /// Per ingress situation: the source profiles let in on every port.
    ingress: Vec<Option<Cow<'a, FixedBitSet>>>,
}

impl<'a> AdmitsAll<'a, '_> {
    /// Whether a pod of profile `a` may send every port of the set to another pod of profile `b`; the same as
    /// `ports ⊆ profile_allowed(a, b)`.
    pub fn pair(&mut self, a: ProfileId, b: ProfileId) -> bool {
        let (egress, ingress) = (self.answer.egress(), self.answer.ingress());
        let ports = &self.ports;
        let out = self.egress[egress.situation_of[a] as usize]
            .get_or_insert_with(|| covering(egress, egress.situation_of[a], ports));
        if !out.contains(b) {
            return false;
        }
        self.ingress[ingress.situation_of[b] as usize]
            .get_or_insert_with(|| covering(ingress, ingress.situation_of[b], ports))
            .contains(a)
    }
}

/// The other ends of a situation's row whose cells allow every port of `ports` (the row's cells are disjoint, so an
/// end lies in at most one of them).
///
/// Nearly always one cell or none allows them all (at tiers L and XL, every time), so that cell's own set is lent,
/// not copied: copies of a profile-wide set per situation were 45 MB of tier L's peak.
fn covering<'a>(side: &'a Side, situation: u32, ports: &PortSet) -> Cow<'a, FixedBitSet> {
    let mut covering = side.rows[situation as usize]
        .iter()
        .map(|&e| &side.entries[e as usize])
        .filter(|entry| ports.difference(&entry.ports).is_empty())
        .map(|entry| &entry.others.bits);
    let Some(first) = covering.next() else { return Cow::Owned(FixedBitSet::new()) };
    let mut ends = Cow::Borrowed(first);
    for more in covering {
        ends.to_mut().union_with(more); // grows the set as needed
    }
    ends
}

/// One workload reached by a closure: how many hops from the start, from which workload, on which ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub depth: usize,
    /// `None` for the start, or for a workload entered directly from outside.
    pub from: Option<usize>,
    /// What the last hop allows (empty for the start).
    pub ports: PortSet,
}

impl<'a, 'c> Answer<'a, 'c> {
    fn egress(&self) -> &'a Side {
        &self.factored.sides[direction_slot(Direction::Egress)]
    }

    fn ingress(&self) -> &'a Side {
        &self.factored.sides[direction_slot(Direction::Ingress)]
    }

    /// How many profiles, and situations and entries per direction (ingress, egress): the size of the answer.
    pub fn size(&self) -> (usize, [usize; 2], [usize; 2]) {
        let f = self.factored;
        (
            f.profile_count,
            [f.sides[0].rows.len(), f.sides[1].rows.len()],
            [f.sides[0].entries.len(), f.sides[1].entries.len()],
        )
    }

    /// What a pod of profile `a` may send to another pod of profile `b` (profiles as [`Answer::profiles_of`] gives
    /// them): every pair of distinct pods with these profiles gets exactly this.
    pub fn profile_allowed(&self, a: ProfileId, b: ProfileId) -> PortSet {
        let Some(out) = self.egress().lookup(a, b) else { return PortSet::empty() };
        let Some(into) = self.ingress().lookup(b, a) else { return PortSet::empty() };
        out.ports.intersection(&into.ports)
    }

    /// The sources that may send something in `wanted` to profile `b`, grouped, disjoint.
    fn profile_sources(&self, b: ProfileId, wanted: &PortSet) -> Groups {
        let (egress, ingress) = (self.egress(), self.ingress());
        let mut groups = Vec::new();
        let row = &ingress.rows[ingress.situation_of[b] as usize];
        let toward_b: Vec<&Entry> = egress.entries.iter().filter(|e| e.others.contains(b)).collect();
        for &j in row {
            let into = &ingress.entries[j as usize];
            let ports = into.ports.intersection(wanted);
            if ports.is_empty() {
                continue;
            }
            for out in &toward_b {
                let both = ports.intersection(&out.ports);
                if both.is_empty() || into.others.is_disjoint(&out.holders) {
                    continue;
                }
                groups.push((into.others.intersection(&out.holders), both));
            }
        }
        groups
    }

    /// The destinations that profile `a` may send something in `wanted` to, grouped, disjoint.
    fn profile_targets(&self, a: ProfileId, wanted: &PortSet) -> Groups {
        let (egress, ingress) = (self.egress(), self.ingress());
        let mut groups = Vec::new();
        let row = &egress.rows[egress.situation_of[a] as usize];
        let from_a: Vec<&Entry> = ingress.entries.iter().filter(|e| e.others.contains(a)).collect();
        for &k in row {
            let out = &egress.entries[k as usize];
            let ports = out.ports.intersection(wanted);
            if ports.is_empty() {
                continue;
            }
            for into in &from_a {
                let both = ports.intersection(&into.ports);
                if both.is_empty() || out.others.is_disjoint(&into.holders) {
                    continue;
                }
                groups.push((out.others.intersection(&into.holders), both));
            }
        }
        groups
    }

    /// Everything one workload's pods may send to another's (none for a workload and itself).
    pub fn workload_allowed(&self, src: usize, dst: usize) -> PortSet {
        let mut allowed = PortSet::empty();
        if src == dst {
            return allowed;
        }
        let profiles = &self.factored.workload_profiles;
        for &a in &profiles[src] {
            for &b in &profiles[dst] {
                allowed.union_with(&self.profile_allowed(a, b));
            }
        }
        allowed
    }

    /// Asks, pair of profiles by pair, whether a pod of one may send every port of `ports` to another pod of the
    /// other: a bit test per side once each situation's answer is built (see [`AdmitsAll`]).
    pub fn admits_all(&self, ports: &PortSet) -> AdmitsAll<'a, 'c> {
        AdmitsAll {
            answer: *self,
            ports: ports.clone(),
            egress: vec![None; self.egress().rows.len()],
            ingress: vec![None; self.ingress().rows.len()],
        }
    }

    /// The profiles of the workload's pods, sorted. Workloads with the same profiles get the same answer to every
    /// question about them (apart from each being left out of its own peers): what the audit groups them by.
    pub fn profiles_of(&self, workload: usize) -> &'a [ProfileId] {
        &self.factored.workload_profiles[workload]
    }

    /// The situations of the workload's profiles in `direction`, sorted. Workloads with the same egress situations
    /// send the same to every address, for the same reasons.
    pub fn situations_of(&self, workload: usize, direction: Direction) -> Vec<u32> {
        let side = &self.factored.sides[direction_slot(direction)];
        let mut out: Vec<u32> =
            self.factored.workload_profiles[workload].iter().map(|&p| side.situation_of[p]).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The workloads whose pods may send something in `wanted` to a pod of `dst`.
    pub fn sources(&self, dst: usize, wanted: &PortSet) -> Peers<'a, 'c> {
        let groups = self.factored.workload_profiles[dst].iter().flat_map(|&b| self.profile_sources(b, wanted));
        Peers { answer: *self, groups: groups.collect(), exclude: Some(dst) }
    }

    /// The workloads to whose pods a pod of `src` may send something in `wanted`.
    pub fn targets(&self, src: usize, wanted: &PortSet) -> Peers<'a, 'c> {
        let groups = self.factored.workload_profiles[src].iter().flat_map(|&a| self.profile_targets(a, wanted));
        Peers { answer: *self, groups: groups.collect(), exclude: Some(src) }
    }

    /// What the workload's pods may send to an address (the union over its pods).
    pub fn to_address(&self, workload: usize, addr: IpAddr) -> PortSet {
        self.address(workload, addr, Direction::Egress)
    }

    /// What an address may send to the workload's pods (the union over its pods).
    pub fn from_address(&self, addr: IpAddr, workload: usize) -> PortSet {
        self.address(workload, addr, Direction::Ingress)
    }

    /// Asked of each situation of the workload's profiles, each once. Not kept: a memo of these answers (by
    /// situation and address) was rarely asked twice, and cost more than it saved: the adversarial tier's audit
    /// took 19 s and 890 MiB with it, 13.5 s and 530 MiB without.
    fn address(&self, workload: usize, addr: IpAddr, direction: Direction) -> PortSet {
        let side = &self.factored.sides[direction_slot(direction)];
        let profiles = &self.factored.workload_profiles[workload];
        let mut allowed = PortSet::empty();
        for (index, &profile) in profiles.iter().enumerate() {
            let situation = side.situation_of[profile];
            if profiles[..index].iter().any(|&earlier| side.situation_of[earlier] == situation) {
                continue;
            }
            let class = side.representative[situation as usize];
            allowed.union_with(&self.analysis.side(class, Other::Address(addr), direction, None));
        }
        allowed
    }

    /// Every pair of profiles with something allowed, as disjoint blocks.
    pub fn blocks(&self) -> impl Iterator<Item = Block> + 'a {
        self.blocks_where(None)
    }

    /// The blocks whose sources meet `from` (all of them for `None`), with their sources narrowed to it.
    fn blocks_where(&self, from: Option<&'a FixedBitSet>) -> impl Iterator<Item = Block> + 'a {
        let (egress, ingress) = (self.egress(), self.ingress());
        egress.entries.iter().filter(move |out| from.is_none_or(|from| out.holders.meets(from))).flat_map(move |out| {
            ingress.entries.iter().filter_map(move |into| {
                // The sets rule out most pairs of entries more cheaply than the ports.
                if out.holders.is_disjoint(&into.others) || out.others.is_disjoint(&into.holders) {
                    return None;
                }
                let mut sources = out.holders.intersection(&into.others);
                if let Some(from) = from {
                    sources.intersect_with(from);
                    if sources.is_clear() {
                        return None;
                    }
                }
                let ports = out.ports.intersection(&into.ports);
                if ports.is_empty() {
                    return None;
                }
                Some(Block { sources, destinations: out.others.intersection(&into.holders), ports })
            })
        })
    }

    /// How many pairs of distinct workloads, and of distinct pods, may send each other something in `wanted`.
    pub fn pair_count(&self, wanted: &PortSet) -> PairCount {
        let f = self.factored;
        let mut count = PairCount::default();
        let sum = |weights: &[u64], set: &FixedBitSet| -> u64 { set.ones().map(|p| weights[p]).sum() };
        for block in self.blocks() {
            if !wanted.is_all() && block.ports.intersection(wanted).is_empty() {
                continue;
            }
            let mut both = block.sources.clone();
            both.intersect_with(&block.destinations);
            count.pods += sum(&f.profile_pods, &block.sources) * sum(&f.profile_pods, &block.destinations)
                - sum(&f.profile_pods, &both);
            count.workloads +=
                sum(&f.single, &block.sources) * sum(&f.single, &block.destinations) - sum(&f.single, &both);
        }
        // Pairs with a workload whose pods fall in several profiles: counted from its own rows, once.
        let spanning: HashSet<usize> = f.spanning.iter().copied().collect();
        for &workload in &f.spanning {
            let targets = self.targets(workload, wanted);
            count.workloads += targets.workload_count();
            let sources = self.sources(workload, wanted);
            count.workloads += sources.workloads_where(|w| !spanning.contains(&w));
        }
        count
    }

    /// The workloads of each profile whose pods all lie in it, ascending.
    fn single_workloads(&self) -> Vec<Vec<usize>> {
        let f = self.factored;
        f.profile_workloads
            .iter()
            .map(|workloads| workloads.iter().copied().filter(|&w| f.workload_profiles[w].len() == 1).collect())
            .collect()
    }

    /// Workload-to-workload groups: every source reaches every destination of its group on its ports, except
    /// itself; each pair of distinct workloads with something allowed lies in exactly one group. Blocks give the
    /// pairs of workloads whose pods lie in one profile each; a workload spanning several profiles gets groups of
    /// its own, from its own rows. Groups with the same sources and ports are joined.
    pub fn workload_groups(&self) -> Vec<crate::ReachGroup> {
        let f = self.factored;
        let single = self.single_workloads();
        let workloads_in = |profiles: &FixedBitSet| -> Vec<usize> {
            let mut out: Vec<usize> = profiles.ones().flat_map(|p| single[p].iter().copied()).collect();
            out.sort_unstable();
            out
        };
        let mut groups: Vec<crate::ReachGroup> = Vec::new();
        let mut index_of: HashMap<(Vec<usize>, PortSet), usize> = HashMap::new();
        let mut add = |srcs: Vec<usize>, dsts: Vec<usize>, allowed: PortSet| {
            if srcs.is_empty() || dsts.is_empty() || (srcs.len() == 1 && dsts == srcs) {
                return;
            }
            let key = (srcs, allowed);
            match index_of.get(&key) {
                Some(&i) => {
                    let group: &mut crate::ReachGroup = &mut groups[i];
                    group.dsts.extend(dsts);
                }
                None => {
                    index_of.insert(key.clone(), groups.len());
                    groups.push(crate::ReachGroup { srcs: key.0, dsts, allowed: key.1 });
                }
            }
        };
        for block in self.blocks() {
            add(workloads_in(&block.sources), workloads_in(&block.destinations), block.ports);
        }
        let all = PortSet::all();
        for &w in &f.spanning {
            for (dsts, allowed) in crate::by_ports(self.targets(w, &all).workloads()) {
                add(vec![w], dsts, allowed);
            }
            let sources: Vec<(usize, PortSet)> = self
                .sources(w, &all)
                .workloads()
                .into_iter()
                .filter(|(src, _)| f.workload_profiles[*src].len() == 1)
                .collect();
            for (srcs, allowed) in crate::by_ports(sources) {
                add(srcs, vec![w], allowed);
            }
        }
        for group in &mut groups {
            group.dsts.sort_unstable();
        }
        groups
    }

    /// Breadth-first over workloads: from `start` (each at depth 0, or 1 with the ports it was entered on), what
    /// each reachable workload is reached from, within `max_hops`. Level by level, every profile of the level's
    /// workloads is expanded at once, through the blocks.
    pub fn closure(&self, start: &[(usize, usize, PortSet)], max_hops: usize) -> Vec<Option<Hop>> {
        let f = self.factored;
        let mut reached: Vec<Option<Hop>> = vec![None; f.workload_profiles.len()];
        let mut level: Vec<usize> = Vec::new();
        for (workload, depth, ports) in start {
            if reached[*workload].is_none() {
                reached[*workload] = Some(Hop { depth: *depth, from: None, ports: ports.clone() });
                level.push(*workload);
            }
        }
        // The start may mix depths (an origin at 0, entries at 1): expand in depth order.
        level.sort_unstable_by_key(|&w| (reached[w].as_ref().map_or(0, |h| h.depth), w));
        let mut levels: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
        for w in level {
            levels.entry(reached[w].as_ref().map_or(0, |h| h.depth)).or_default().push(w);
        }
        let mut expanded = FixedBitSet::with_capacity(f.profile_count);
        while let Some((depth, workloads)) = levels.pop_first() {
            if depth >= max_hops {
                continue;
            }
            // The profiles this level adds, each with the first workload of the level that holds it.
            let mut frontier = FixedBitSet::with_capacity(f.profile_count);
            let mut holder: HashMap<ProfileId, usize> = HashMap::new();
            for &w in &workloads {
                for &a in &f.workload_profiles[w] {
                    if !expanded.put(a) {
                        frontier.insert(a);
                        holder.entry(a).or_insert(w);
                    }
                }
            }
            if frontier.is_clear() {
                continue;
            }
            let mut next: Vec<usize> = Vec::new();
            for block in self.blocks_where(Some(&frontier)) {
                let Some(source) = block.sources.ones().next() else { continue };
                let from = holder.get(&source).copied();
                for b in block.destinations.ones() {
                    for &w in &f.profile_workloads[b] {
                        if reached[w].is_none() {
                            let ports = from.map_or_else(PortSet::empty, |from| self.workload_allowed(from, w));
                            reached[w] = Some(Hop { depth: depth + 1, from, ports });
                            next.push(w);
                        }
                    }
                }
            }
            if !next.is_empty() {
                levels.entry(depth + 1).or_default().extend(next);
            }
        }
        reached
    }
}

/// The peers of one workload in numbers, with one of them as a witness: what a finding says at any scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    pub workloads: u64,
    pub pods: u64,
    /// The distinct namespaces of the peer workloads.
    pub namespaces: u64,
    /// The first peer workload (lowest index), with what it may send or receive (restricted to the ports asked).
    pub first: Option<(usize, PortSet)>,
}

impl Peers<'_, '_> {
    /// Counts of the peers (workloads, pods, namespaces) and the first of them, in one pass over the peer
    /// profiles' workloads, none listed.
    pub fn summary(&self) -> PeerSummary {
        let f = self.answer.factored;
        let union = self.union();
        let mut namespaces = FixedBitSet::with_capacity(f.namespace_count);
        let mut first: Option<usize> = None;
        for profile in union.ones() {
            for &workload in &f.profile_workloads[profile] {
                if Some(workload) != self.exclude {
                    namespaces.insert(f.workload_namespace[workload] as usize);
                    first = Some(first.map_or(workload, |w| w.min(workload)));
                }
            }
        }
        let first = first.map(|w| {
            let mut ports = PortSet::empty();
            for (profiles, allowed) in &self.groups {
                if f.workload_profiles[w].iter().any(|&p| profiles.contains(p)) {
                    ports.union_with(allowed);
                }
            }
            (w, ports)
        });
        PeerSummary {
            workloads: self.workload_count(),
            pods: self.pod_count(),
            namespaces: namespaces.count_ones(..) as u64,
            first,
        }
    }

    /// What the peer workload may send or receive, empty when it is no peer.
    pub fn ports_of(&self, workload: usize) -> PortSet {
        let f = self.answer.factored;
        let mut ports = PortSet::empty();
        if Some(workload) == self.exclude {
            return ports;
        }
        for (profiles, allowed) in &self.groups {
            if f.workload_profiles[workload].iter().any(|&p| profiles.contains(p)) {
                ports.union_with(allowed);
            }
        }
        ports
    }

    /// The peer workloads that `keep` keeps: how many, and the first `limit` of them (lowest index first) with the
    /// ports, in one pass over the peer profiles' workloads, none listed beyond `limit`.
    pub fn sample_where(&self, keep: impl Fn(usize) -> bool, limit: usize) -> (u64, Vec<(usize, PortSet)>) {
        let f = self.answer.factored;
        let union = self.union();
        let mut count = 0u64;
        let mut first: Vec<usize> = Vec::new();
        for profile in union.ones() {
            for &workload in &f.profile_workloads[profile] {
                if Some(workload) == self.exclude || !keep(workload) {
                    continue;
                }
                // A workload in several peer profiles is met once, at the first of them.
                let profiles = &f.workload_profiles[workload];
                if profiles.len() > 1 && profiles.iter().find(|&&p| union.contains(p)) != Some(&profile) {
                    continue;
                }
                count += 1;
                if first.len() < limit || first.last().is_some_and(|&last| workload < last) {
                    let at = first.partition_point(|&w| w < workload);
                    first.insert(at, workload);
                    first.truncate(limit);
                }
            }
        }
        (count, first.into_iter().map(|w| (w, self.ports_of(w))).collect())
    }

    /// [`Peers::sample_where`] keeping every peer but `dropped` (ascending, without repeats, and few: one
    /// namespace's workloads), without a pass over every peer: the count from the profiles' sizes, the first ones
    /// from the head of each profile's ascending list. A rule asking this of each of a thousand datastores that a
    /// flat cluster of 50,000 workloads reaches does not walk the 50,000 each time.
    pub fn sample_except(&self, dropped: &[usize], limit: usize) -> (u64, Vec<(usize, PortSet)>) {
        let f = self.answer.factored;
        let union = self.union();
        let is_peer = |w: usize| Some(w) != self.exclude && f.workload_profiles[w].iter().any(|&p| union.contains(p));
        let count = self.count_in(&union) - dropped.iter().filter(|&&w| is_peer(w)).count() as u64;
        let mut first: Vec<usize> = Vec::new();
        for profile in union.ones().take_while(|_| limit > 0) {
            for &workload in &f.profile_workloads[profile] {
                if first.len() == limit && first.last().is_some_and(|&last| workload > last) {
                    break; // the rest of this profile's list comes later still
                }
                if Some(workload) == self.exclude || dropped.binary_search(&workload).is_ok() {
                    continue;
                }
                let at = first.partition_point(|&w| w < workload);
                if first.get(at) != Some(&workload) {
                    first.insert(at, workload); // a workload in several profiles is met more than once
                    first.truncate(limit);
                }
            }
        }
        (count, first.into_iter().map(|w| (w, self.ports_of(w))).collect())
    }

    /// Each peer workload with the ports, in workload order.
    pub fn workloads(&self) -> Vec<(usize, PortSet)> {
        let f = self.answer.factored;
        let mut found: Vec<(usize, usize)> = Vec::new();
        for (index, (profiles, _)) in self.groups.iter().enumerate() {
            for profile in profiles.ones() {
                for &workload in &f.profile_workloads[profile] {
                    if Some(workload) != self.exclude {
                        found.push((workload, index));
                    }
                }
            }
        }
        found.sort_unstable();
        let mut out: Vec<(usize, PortSet)> = Vec::new();
        for (workload, group) in found {
            let ports = &self.groups[group].1;
            match out.last_mut() {
                Some((last, union)) if *last == workload => union.union_with(ports),
                _ => out.push((workload, ports.clone())),
            }
        }
        out
    }

    fn union(&self) -> FixedBitSet {
        let mut union = FixedBitSet::with_capacity(self.answer.factored.profile_count);
        for (profiles, _) in &self.groups {
            union.union_with(profiles);
        }
        union
    }

    /// How many peer workloads.
    pub fn workload_count(&self) -> u64 {
        self.count_in(&self.union())
    }

    /// How many peer workloads, given the union of the peer profiles: those wholly in one of them, and those
    /// spanning several (few) with one pod in them.
    fn count_in(&self, union: &FixedBitSet) -> u64 {
        let f = self.answer.factored;
        let mut count: u64 = union.ones().map(|p| f.single[p]).sum();
        let spanning = f.spanning.iter().filter(|&&w| f.workload_profiles[w].iter().any(|&p| union.contains(p)));
        count += spanning.count() as u64;
        if let Some(excluded) = self.exclude {
            count -= u64::from(f.workload_profiles[excluded].iter().any(|&p| union.contains(p)));
        }
        count
    }

    /// How many peer workloads `keep` keeps.
    fn workloads_where(&self, keep: impl Fn(usize) -> bool) -> u64 {
        let f = self.answer.factored;
        let union = self.union();
        let mut found: Vec<usize> = union
            .ones()
            .flat_map(|p| f.profile_workloads[p].iter().copied())
            .filter(|&w| Some(w) != self.exclude && keep(w))
            .collect();
        found.sort_unstable();
        found.dedup();
        found.len() as u64
    }

    /// How many pods of peer workloads.
    pub fn pod_count(&self) -> u64 {
        let f = self.answer.factored;
        let union = self.union();
        let mut count: u64 = union.ones().map(|p| f.profile_pods[p]).sum();
        if let Some(excluded) = self.exclude {
            let classes = &self.answer.analysis.classes.pod_class[excluded];
            let profiles = &self.answer.analysis.profiles().of_class;
            count -= classes.iter().filter(|&&class| union.contains(profiles[class])).count() as u64;
        }
        count
    }

    pub fn is_empty(&self) -> bool {
        self.workload_count() == 0
    }
}
