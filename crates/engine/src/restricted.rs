//! Which edges of the reachability answer only some requests may use: the restrictions `can` lists for one pair
//! (Cilium's L7 rules, a mesh's request-level rules), asked for the pairs and groups `reach` shows.
//!
//! Pods of one profile answer alike for every rule, meshes included, so each distinct (source profile,
//! destination profile) pair is explained once, however many workloads and groups share it. With nothing in the
//! input that decides on requests, nothing is asked at all.

use crate::profiles::ProfileId;
use crate::request::Restriction;
use crate::{Analysis, Endpoint, GroupedReach, PortSet, ReachEndpoint, ReachGroup};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

/// What tells reach endpoints apart for restrictions: a pod's profile, or an outside address group's address.
type Key = Result<ProfileId, IpAddr>;

/// The restrictions on reach edges, explained once per pair of profiles and remembered.
pub struct ReachMarks<'a, 'c> {
    analysis: Option<&'a Analysis<'c>>,
    endpoints: &'a [ReachEndpoint],
    /// Per workload, its pods' distinct profiles, each with one pod that has it.
    workload_keys: Vec<Vec<(Key, Endpoint)>>,
    cache: RefCell<HashMap<(Key, Key), Vec<Restriction>>>,
}

impl<'a, 'c> ReachMarks<'a, 'c> {
    /// Marks for `reach`, an answer (or a filtered one) of `analysis`. Free when nothing in the input decides on
    /// requests: every question then answers "no restriction" without explaining anything.
    pub fn new(analysis: &'a Analysis<'c>, reach: &'a GroupedReach) -> ReachMarks<'a, 'c> {
        ReachMarks::for_endpoints(analysis, &reach.endpoints)
    }

    /// Marks between `endpoints` (a reach answer's, or the workloads alone).
    pub fn for_endpoints(analysis: &'a Analysis<'c>, endpoints: &'a [ReachEndpoint]) -> ReachMarks<'a, 'c> {
        if !analysis.requests_decided() {
            return ReachMarks { analysis: None, endpoints, workload_keys: Vec::new(), cache: RefCell::default() };
        }
        let profiles = analysis.profiles();
        let workload_keys = analysis
            .classes
            .pod_class
            .iter()
            .enumerate()
            .map(|(workload, classes)| {
                let mut keys: Vec<(Key, Endpoint)> = Vec::new();
                for (pod, &class) in classes.iter().enumerate() {
                    let key = Ok(profiles.of_class[class]);
                    if !keys.iter().any(|(k, _)| *k == key) {
                        keys.push((key, Endpoint::Pod { workload, pod }));
                    }
                }
                keys
            })
            .collect();
        ReachMarks { analysis: Some(analysis), endpoints, workload_keys, cache: RefCell::default() }
    }

    /// No marks: for inputs, or callers, without request-level rules.
    pub fn none(reach: &'a GroupedReach) -> ReachMarks<'a, 'c> {
        ReachMarks { analysis: None, endpoints: &reach.endpoints, workload_keys: Vec::new(), cache: RefCell::default() }
    }

    /// Whether any edge can be marked at all.
    pub fn active(&self) -> bool {
        self.analysis.is_some()
    }

    fn keys(&self, endpoint: usize) -> Vec<(Key, Endpoint)> {
        match &self.endpoints[endpoint] {
            ReachEndpoint::Workload(workload) => self.workload_keys.get(*workload).cloned().unwrap_or_default(),
            // Every address of an outside group is treated alike by every rule: its first stands for it.
            ReachEndpoint::External { ranges } => {
                ranges.first().map(|range| (Err(range.start), Endpoint::Address(range.start))).into_iter().collect()
            }
        }
    }

    /// The restrictions on the ports `allowed` from reach endpoint `src` to `dst` (indexes into the answer's
    /// endpoints): where some of their pods may only send some requests, on which ports, and by what rule.
    pub fn pair(&self, src: usize, dst: usize, allowed: &PortSet) -> Vec<Restriction> {
        if self.analysis.is_none() || src == dst {
            return Vec::new();
        }
        let (srcs, dsts) = (self.keys(src), self.keys(dst));
        let mut out = Vec::new();
        for (src_key, src_pod) in &srcs {
            for (dst_key, dst_pod) in &dsts {
                self.add((*src_key, *src_pod), (*dst_key, *dst_pod), allowed, &mut out);
            }
        }
        out
    }

    /// Up to two endpoints per key among `members`, from different reach endpoints, so that a profile on both
    /// sides of a group has a pair of distinct pods to explain.
    fn gather(&self, members: &[usize]) -> Vec<(Key, Vec<(usize, Endpoint)>)> {
        let mut found: Vec<(Key, Vec<(usize, Endpoint)>)> = Vec::new();
        for &member in members {
            for (key, pod) in self.keys(member) {
                match found.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, pods)) if pods.len() < 2 => pods.push((member, pod)),
                    Some(_) => {}
                    None => found.push((key, vec![(member, pod)])),
                }
            }
        }
        found
    }

    fn between(
        &self,
        srcs: &[(Key, Vec<(usize, Endpoint)>)],
        dsts: &[(Key, Vec<(usize, Endpoint)>)],
        allowed: &PortSet,
    ) -> Vec<Restriction> {
        let mut out = Vec::new();
        for (src_key, src_pods) in srcs {
            for (dst_key, dst_pods) in dsts {
                let chosen = src_pods
                    .iter()
                    .flat_map(|s| dst_pods.iter().map(move |d| (s, d)))
                    .find(|((src_member, _), (dst_member, _))| src_member != dst_member);
                if let Some(((_, src_pod), (_, dst_pod))) = chosen {
                    self.add((*src_key, *src_pod), (*dst_key, *dst_pod), allowed, &mut out);
                }
            }
        }
        out
    }

    /// The restrictions anywhere in a group: over each distinct pair of profiles among its sources and
    /// destinations, so the cost follows the profiles, not the pairs.
    pub fn group(&self, group: &ReachGroup) -> Vec<Restriction> {
        if self.analysis.is_none() {
            return Vec::new();
        }
        self.between(&self.gather(&group.srcs), &self.gather(&group.dsts), &group.allowed)
    }

    /// A group's destinations parted by what restricts the requests from the group's sources to them (the first
    /// part, when nothing does, with no restrictions), for a picture that draws the restricted ones apart. The
    /// sources are gathered by profile once: the cost is the sources plus the destinations times the profiles.
    pub fn split(&self, group: &ReachGroup) -> Vec<(Vec<usize>, Vec<Restriction>)> {
        if self.analysis.is_none() || self.group(group).is_empty() {
            return vec![(group.dsts.clone(), Vec::new())];
        }
        let srcs = self.gather(&group.srcs);
        let mut parts: Vec<(Vec<usize>, Vec<Restriction>)> = vec![(Vec::new(), Vec::new())];
        for &dst in &group.dsts {
            let found = self.between(&srcs, &self.gather(&[dst]), &group.allowed);
            match parts.iter_mut().find(|(_, r)| *r == found) {
                Some((dsts, _)) => dsts.push(dst),
                None => parts.push((vec![dst], found)),
            }
        }
        parts.retain(|(dsts, _)| !dsts.is_empty());
        parts
    }

    fn add(&self, src: (Key, Endpoint), dst: (Key, Endpoint), allowed: &PortSet, out: &mut Vec<Restriction>) {
        let Some(analysis) = self.analysis else { return };
        let mut cache = self.cache.borrow_mut();
        let found = cache.entry((src.0, dst.0)).or_insert_with(|| analysis.restrictions(src.1, dst.1));
        for restriction in found.iter() {
            let ports = restriction.ports.intersection(allowed);
            if ports.is_empty() {
                continue;
            }
            let restriction = Restriction { ports, any_of: restriction.any_of.clone() };
            if !out.contains(&restriction) {
                out.push(restriction);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::cluster;
    use crate::Analysis;

    const SHOP: &str = "kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
---
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
";

    #[test]
    fn without_a_mesh_or_l7_rules_nothing_is_asked() {
        let c = cluster(SHOP);
        let analysis = Analysis::new(&c);
        let reach = analysis.reach_groups();
        let marks = super::ReachMarks::new(&analysis, &reach);
        assert!(!marks.active());
        assert!(reach.groups.iter().all(|g| marks.group(g).is_empty() && marks.split(g).len() == 1));
    }

    #[test]
    fn an_istio_method_rule_marks_its_pair_only_and_groups_and_pairs_agree() {
        let mesh = format!(
            "{SHOP}---
kind: Namespace
metadata: {{name: shop, labels: {{istio-injection: enabled}}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: api-get, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  rules: [{{to: [{{operation: {{methods: [GET]}}}}]}}]
"
        );
        let c = cluster(&mesh);
        let analysis = Analysis::new(&c);
        let reach = analysis.reach_groups();
        let marks = super::ReachMarks::new(&analysis, &reach);
        assert!(marks.active());
        let id = |name: &str| c.workloads.iter().position(|w| w.id.name == name).expect(name);
        let (web, api) = (id("web"), id("api"));
        let mut marked = Vec::new();
        for (src, dst, group) in reach.listing() {
            let found = marks.pair(src, dst, &reach.groups[group].allowed);
            if !found.is_empty() {
                assert!(found.iter().all(|r| r.any_of.iter().all(|c| c.by.name == "api-get")), "{found:?}");
                assert!(!marks.group(&reach.groups[group]).is_empty(), "the group holding a marked pair is marked");
                marked.push((src, dst));
            }
        }
        assert!(marked.contains(&(web, api)), "{marked:?}");
        assert!(marked.iter().all(|&(_, dst)| dst == api), "only edges into api: {marked:?}");
    }
}
