//! Profiles: pod classes that every compiled rule treats alike, as a subject and as a peer.
//!
//! Classes differ by labels, yet most labels are never named by a policy: two classes that the same policies
//! isolate, that fall in the same peer sets and ipBlocks and declare the same ports get the same answer toward
//! everything and from everything. The factored answer (`answer.rs`) is built over profiles, one representative
//! each, so that its cost follows the number of distinct answers, not the square of the pod count.

use crate::classes::{ClassId, Classes};
use crate::rules::{CompiledTier, PeerSet};
use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use netseg_model::ContainerPort;
use std::sync::Arc;

pub type ProfileId = usize;

pub struct Profiles {
    /// `of_class[class]`.
    pub of_class: Vec<ProfileId>,
    /// One class of each profile; any other would give the same answers.
    pub representative: Vec<ClassId>,
    /// Profiles holding a class whose IPs fall in each ipBlock, by block index.
    by_block: Vec<FixedBitSet>,
    /// Class sets of peers and subjects, by the address of their shared `Arc` (see [`set_address`]), as profile
    /// sets.
    by_set: HashMap<usize, FixedBitSet>,
}

/// A shared class set's identity: the address of its `Arc`, as a number so that the profiles can be built on one
/// thread and read on another. The compiled rules hold every set looked up, so no address is reused meanwhile.
fn set_address(set: &Arc<FixedBitSet>) -> usize {
    Arc::as_ptr(set) as usize
}

/// What tells two classes apart for every rule.
#[derive(PartialEq, Eq, Hash)]
struct Signature<'a> {
    host_network: bool,
    node: Option<&'a str>,
    /// Per tier and direction, the tier's policies that apply to the class.
    applying: Vec<&'a [usize]>,
    ports: &'a [ContainerPort],
    ip_blocks: &'a [usize],
    /// Only where a rule asks for an IP family.
    families: u8,
    member_of: Vec<u32>,
    /// What the meshes tell apart (as destination and as client).
    mesh: u32,
}

impl Profiles {
    pub fn build(classes: &Classes, tiers: &[CompiledTier], mesh_keys: &[u32]) -> Profiles {
        // Peers (and Calico's conditions on the side's own endpoint) tell classes apart through the class sets they
        // read; address peers through `ip_blocks` alone. Subjects tell classes apart through the tiers' `applying`.
        // The meshes tell classes apart through `mesh_keys`.
        let mut sets: Vec<&Arc<FixedBitSet>> = Vec::new();
        let mut seen: HashSet<usize> = HashSet::new();
        let mut families_matter = false;
        for (_, rule) in tiers.iter().flat_map(|t| t.rules()) {
            families_matter |= rule.rule.condition.as_ref().is_some_and(|c| c.ip_version.is_some());
            for set in rule.rule.class_sets() {
                if seen.insert(set_address(set)) {
                    sets.push(set);
                }
            }
        }

        let mut member_of: Vec<Vec<u32>> = vec![Vec::new(); classes.len()];
        for (index, set) in sets.iter().enumerate() {
            for class in set.ones() {
                if let Some(list) = member_of.get_mut(class) {
                    list.push(u32::try_from(index).unwrap_or(u32::MAX));
                }
            }
        }
        let mut ids: HashMap<Signature<'_>, ProfileId> = HashMap::new();
        let mut of_class = Vec::with_capacity(classes.len());
        let mut representative = Vec::new();
        for (class, member_of) in member_of.into_iter().enumerate() {
            let pod_class = &classes.classes[class];
            let signature = Signature {
                host_network: pod_class.host_network,
                node: pod_class.node.as_deref(),
                applying: tiers
                    .iter()
                    .flat_map(|t| [t.applying[0][class].as_slice(), t.applying[1][class].as_slice()])
                    .collect(),
                ports: &pod_class.ports,
                ip_blocks: &pod_class.ip_blocks,
                families: if families_matter { pod_class.families } else { 0 },
                member_of,
                mesh: mesh_keys.get(class).copied().unwrap_or(0),
            };
            let id = *ids.entry(signature).or_insert_with(|| {
                representative.push(class);
                representative.len() - 1
            });
            of_class.push(id);
        }

        let count = representative.len();
        let mut by_block = vec![FixedBitSet::with_capacity(count); classes.ip_blocks.len()];
        for (profile, &class) in representative.iter().enumerate() {
            for &block in &classes.classes[class].ip_blocks {
                if let Some(set) = by_block.get_mut(block) {
                    set.insert(profile);
                }
            }
        }
        let by_set = sets
            .iter()
            .map(|set| {
                let mut profiles = FixedBitSet::with_capacity(count);
                for class in set.ones() {
                    profiles.insert(of_class[class]);
                }
                (set_address(set), profiles)
            })
            .collect();
        Profiles { of_class, representative, by_block, by_set }
    }

    pub fn len(&self) -> usize {
        self.representative.len()
    }

    pub fn all(&self) -> FixedBitSet {
        let mut all = FixedBitSet::with_capacity(self.len());
        all.insert_range(..);
        all
    }

    fn add_block(&self, block: usize, into: &mut FixedBitSet) {
        if let Some(profiles) = self.by_block.get(block) {
            into.union_with(profiles);
        }
    }

    /// The profiles one peer of a rule matches as the other end of a connection.
    pub fn matched_by(&self, peer: &PeerSet) -> FixedBitSet {
        let mut into = FixedBitSet::with_capacity(self.len());
        match peer {
            PeerSet::Classes(set) => self.add_classes(set, &mut into),
            PeerSet::Block(block) => self.add_block(*block, &mut into),
            PeerSet::Blocks(blocks) => blocks.iter().for_each(|block| self.add_block(*block, &mut into)),
            // As `PeerSet::matches` has it: a `nodes` peer matches pods only as host-network pods on the nodes;
            // its addresses are for addresses outside the cluster.
            PeerSet::Nodes { hosts, .. } => self.add_classes(hosts, &mut into),
            PeerSet::AnyAddress | PeerSet::Fqdn(_) => {}
            // A Calico peer is a function of several class sets and of address blocks (pods by their IPs); the
            // classes of a profile agree on every one of those, so the peer matches whole profiles, composed
            // from the profile sets of its parts.
            PeerSet::Calico(m) => {
                let selection = |s: &crate::rules::Selection| {
                    let mut profiles = FixedBitSet::with_capacity(self.len());
                    self.add_classes(&s.classes, &mut profiles);
                    s.blocks.iter().for_each(|&block| self.add_block(block, &mut profiles));
                    profiles
                };
                let blocks = |blocks: &[usize]| {
                    let mut profiles = FixedBitSet::with_capacity(self.len());
                    blocks.iter().for_each(|&block| self.add_block(block, &mut profiles));
                    profiles
                };
                // `EndpointMatch::matches`, as profile sets: every field set must hold.
                into.insert_range(..);
                if let Some(s) = &m.selected {
                    into.intersect_with(&selection(s));
                }
                if let Some(s) = &m.not_selected {
                    into.difference_with(&selection(s));
                }
                if let Some(s) = &m.services {
                    into.intersect_with(&selection(s));
                }
                if let Some(nets) = &m.nets {
                    into.intersect_with(&blocks(nets));
                }
                into.difference_with(&blocks(&m.not_nets));
            }
        }
        into
    }

    /// The profiles of a class set: looked up when the set was seen while building (every compiled rule's are),
    /// else mapped class by class.
    fn add_classes(&self, set: &Arc<FixedBitSet>, into: &mut FixedBitSet) {
        match self.by_set.get(&set_address(set)) {
            Some(profiles) => into.union_with(profiles),
            None => set.ones().for_each(|class| into.insert(self.of_class[class])),
        }
    }
}
