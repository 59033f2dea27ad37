//! Pod classes: pods that no policy can tell apart share one class and one answer.
//!
//! Two pods are in the same class when they share the namespace, the labels, the host-network flag, the container
//! ports (named ports resolve on them), the set of address blocks their IPs fall in, for host-network pods the
//! node, and what the meshes tell apart: the service account (the mesh identity), the annotations the meshes
//! read and the dataplane (which proxy receives the pod's traffic, which ports bypass it). Every question the
//! engine answers depends on nothing else, so it evaluates classes, never pod pairs.

use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt};
use netseg_model::mesh::Dataplane;
use netseg_model::{Cluster, ContainerPort, IpBlock, LabelSelector, Labels, Operator};
use std::sync::Arc;

pub type ClassId = usize;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodClass {
    pub namespace: usize,
    pub labels: Labels,
    pub host_network: bool,
    pub ports: Vec<ContainerPort>,
    /// Indexes into [`Classes::ip_blocks`] of the blocks holding one of the pods' IPs.
    pub ip_blocks: Vec<usize>,
    /// The node a host-network pod runs on (`spec.nodeName`), which admin `nodes` peers match; `None` for pods
    /// on the pod network, so that placement never splits their classes.
    pub node: Option<String>,
    /// `serviceAccountName`, `default` when unset: the identity the meshes authenticate (and Calico's
    /// `serviceAccountSelector` and `serviceAccounts` tell apart).
    pub service_account: String,
    /// The annotations the meshes read (a pod's own default inbound policy, for one).
    pub annotations: Labels,
    pub dataplane: Dataplane,
    /// The IP families of the pods' addresses (bit 0: IPv4, bit 1: IPv6); 0 when the input has no pod IPs.
    pub families: u8,
}

impl PodClass {
    /// Whether the pods can use this IP family (4 or 6): one of theirs, or IPv4 when their addresses are unknown
    /// (Kubernetes' default single-stack IPv4).
    pub fn has_family(&self, version: u8) -> bool {
        match (self.families, version) {
            (0, 4) => true,
            (0, _) => false,
            (families, 4) => families & 1 != 0,
            (families, _) => families & 2 != 0,
        }
    }
}

/// The classes of a cluster and the indexes that let a selector find its classes without scanning them.
pub struct Classes {
    pub classes: Vec<PodClass>,
    /// `pod_class[workload][pod]`.
    pub pod_class: Vec<Vec<ClassId>>,
    /// Every distinct ipBlock of every policy.
    pub ip_blocks: Vec<IpBlock>,
    block_ids: HashMap<IpBlock, usize>,
    /// Classes of each namespace: classes are numbered namespace by namespace, so each is a range.
    namespace_ranges: Vec<(usize, usize)>,
    by_label: HashMap<Arc<str>, HashMap<Arc<str>, Members>>,
    by_key: HashMap<Arc<str>, FixedBitSet>,
    host_network: FixedBitSet,
}

/// The classes with one label value: a sorted list while they are few (most values, such as a workload's name,
/// pick a handful of thousands of classes), a bitset once the list would be larger.
#[derive(Debug, Clone)]
enum Members {
    Few(Vec<u32>),
    Many(FixedBitSet),
}

impl Members {
    fn of(ids: Vec<u32>, classes: usize) -> Members {
        // A list takes 32 bits per member, a bitset one bit per class.
        if ids.len().saturating_mul(32) < classes {
            Members::Few(ids)
        } else {
            let mut set = FixedBitSet::with_capacity(classes);
            set.extend(ids.iter().map(|&id| id as usize));
            Members::Many(set)
        }
    }
}

impl Classes {
    /// Classes of the cluster's pods, told apart by the address blocks `ip_blocks` (the policies' ipBlocks, which
    /// hold pod IPs only where `ip_blocks_match_pods`).
    pub fn build(cluster: &Cluster, ip_blocks: Vec<IpBlock>, ip_blocks_match_pods: bool) -> Classes {
        let block_index: HashMap<IpBlock, usize> =
            ip_blocks.iter().enumerate().map(|(i, block)| (block.clone(), i)).collect();

        let namespace_of: HashMap<&str, usize> =
            cluster.namespaces.iter().enumerate().map(|(i, ns)| (ns.name.as_str(), i)).collect();
        // Pods in namespace order, so that class ids come out namespace by namespace; a class is keyed by
        // borrowed labels and copied once per class, not once per pod.
        let mut pods: Vec<(usize, usize, usize)> = Vec::new();
        for (w, workload) in cluster.workloads.iter().enumerate() {
            let namespace = namespace_of.get(workload.id.namespace.as_str()).copied().unwrap_or(0);
            pods.extend((0..workload.pods.len()).map(|p| (namespace, w, p)));
        }
        pods.sort_by_key(|&(namespace, _, _)| namespace);

        type Key<'c> = (
            usize,
            &'c Labels,
            bool,
            Vec<ContainerPort>,
            Vec<usize>,
            Option<&'c str>,
            &'c str,
            &'c Labels,
            Dataplane,
            u8,
        );
        let mut classes: Vec<PodClass> = Vec::new();
        let mut ids: HashMap<Key<'_>, ClassId> = HashMap::new();
        let mut pod_class: Vec<Vec<ClassId>> = cluster.workloads.iter().map(|w| vec![0; w.pods.len()]).collect();
        for (namespace, w, p) in pods {
            let pod = &cluster.workloads[w].pods[p];
            let mut ports = pod.facts.ports.clone();
            ports.sort();
            ports.dedup();
            let ip_blocks = if pod.facts.ips.is_empty() || !ip_blocks_match_pods {
                Vec::new()
            } else {
                ip_blocks
                    .iter()
                    .enumerate()
                    .filter(|(_, block)| pod.facts.ips.iter().any(|ip| block.contains(*ip)))
                    .map(|(i, _)| i)
                    .collect()
            };
            // Placement only tells host-network pods apart (admin `nodes` peers match them by node).
            let node = pod.facts.node_name.as_deref().filter(|_| pod.facts.host_network);
            let account = Cluster::service_account(&pod.facts);
            let dataplane = netseg_model::mesh::dataplane(&pod.facts, cluster.namespaces.get(namespace));
            let families = pod.facts.ips.iter().fold(0u8, |f, ip| f | if ip.is_ipv4() { 1 } else { 2 });
            let key = (
                namespace,
                &pod.facts.labels,
                pod.facts.host_network,
                ports,
                ip_blocks,
                node,
                account,
                &pod.facts.annotations,
                dataplane,
                families,
            );
            let id = match ids.get(&key) {
                Some(&id) => id,
                None => {
                    let (
                        namespace,
                        labels,
                        host_network,
                        ports,
                        ip_blocks,
                        node,
                        account,
                        annotations,
                        dataplane,
                        families,
                    ) = key.clone();
                    let node = node.map(str::to_string);
                    classes.push(PodClass {
                        namespace,
                        labels: labels.clone(),
                        host_network,
                        ports,
                        ip_blocks,
                        node,
                        service_account: account.to_string(),
                        annotations: annotations.clone(),
                        dataplane,
                        families,
                    });
                    ids.insert(key, classes.len() - 1);
                    classes.len() - 1
                }
            };
            pod_class[w][p] = id;
        }

        let count = classes.len();
        let mut namespace_ranges = vec![(0, 0); cluster.namespaces.len()];
        let mut by_label: HashMap<Arc<str>, HashMap<Arc<str>, Vec<u32>>> = HashMap::new();
        let mut by_key: HashMap<Arc<str>, FixedBitSet> = HashMap::new();
        let mut host_network = FixedBitSet::with_capacity(count);
        for (id, class) in classes.iter().enumerate() {
            let range = &mut namespace_ranges[class.namespace];
            if range.1 == range.0 {
                *range = (id, id + 1);
            } else {
                range.1 = id + 1;
            }
            let member = u32::try_from(id).unwrap_or(u32::MAX);
            for (key, value) in &class.labels {
                by_key.entry(key.clone()).or_insert_with(|| FixedBitSet::with_capacity(count)).insert(id);
                by_label.entry(key.clone()).or_default().entry(value.clone()).or_default().push(member);
            }
            if class.host_network {
                host_network.insert(id);
            }
        }
        Classes {
            classes,
            pod_class,
            ip_blocks,
            block_ids: block_index,
            namespace_ranges,
            by_label: by_label
                .into_iter()
                .map(|(key, values)| {
                    let values = values.into_iter().map(|(value, ids)| (value, Members::of(ids, count))).collect();
                    (key, values)
                })
                .collect(),
            by_key,
            host_network,
        }
    }

    pub fn block_id(&self, block: &IpBlock) -> Option<usize> {
        self.block_ids.get(block).copied()
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    pub fn empty_set(&self) -> FixedBitSet {
        FixedBitSet::with_capacity(self.classes.len())
    }

    pub fn host_network(&self) -> &FixedBitSet {
        &self.host_network
    }

    /// The classes of the given namespaces.
    pub fn in_namespaces(&self, namespaces: impl IntoIterator<Item = usize>) -> FixedBitSet {
        let mut set = self.empty_set();
        for namespace in namespaces {
            let (start, end) = self.namespace_ranges[namespace];
            set.insert_range(start..end);
        }
        set
    }

    /// Narrows `scope` to the classes whose labels the selector matches, using the label index.
    pub fn select(&self, scope: FixedBitSet, selector: &LabelSelector) -> FixedBitSet {
        let mut result = scope;
        for requirement in selector.requirements() {
            let matching_values = || {
                let mut union = self.empty_set();
                if let Some(values) = self.by_label.get(requirement.key.as_str()) {
                    for value in &requirement.values {
                        match values.get(value.as_str()) {
                            Some(Members::Few(ids)) => ids.iter().for_each(|&id| union.insert(id as usize)),
                            Some(Members::Many(set)) => union.union_with(set),
                            None => {}
                        }
                    }
                }
                union
            };
            match requirement.operator {
                Operator::In => result.intersect_with(&matching_values()),
                Operator::NotIn => result.difference_with(&matching_values()),
                Operator::Exists => match self.by_key.get(requirement.key.as_str()) {
                    Some(set) => result.intersect_with(set),
                    None => result.clear(),
                },
                Operator::DoesNotExist => {
                    if let Some(set) = self.by_key.get(requirement.key.as_str()) {
                        result.difference_with(set);
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{load_bytes, Inventory, LabelSelector, Operator, Requirement};
    use std::sync::Arc;

    #[test]
    fn a_label_value_of_few_classes_selects_as_one_of_many() {
        // 200 pods, each its own `app` (one class in 200: kept as a list), one in ten `tier: db` (a bitset).
        let mut text = String::new();
        for i in 0..200 {
            let tier = if i % 10 == 0 { "db" } else { "web" };
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: a, labels: {{app: a{i}, tier: {tier}}}}}\n\
                 spec: {{containers: [{{name: c, image: x}}]}}\n"
            ));
        }
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        let cluster = Cluster::from_inventory(inventory);
        let classes = Classes::build(&cluster, Vec::new(), false);
        assert!(matches!(classes.by_label["app"]["a3"], Members::Few(_)));
        assert!(matches!(classes.by_label["tier"]["db"], Members::Many(_)));
        let requirement = |key: &str, operator, values: &[&str]| Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let selectors = [
            vec![requirement("app", Operator::In, &["a3", "a17", "a150", "none"])],
            vec![requirement("app", Operator::NotIn, &["a3", "a4"])],
            vec![requirement("tier", Operator::In, &["db"]), requirement("app", Operator::In, &["a10", "a11"])],
            vec![requirement("tier", Operator::NotIn, &["db"]), requirement("app", Operator::NotIn, &["a1"])],
        ];
        for expressions in selectors {
            let selector = LabelSelector { match_expressions: expressions, ..LabelSelector::default() };
            let all = classes.in_namespaces(0..cluster.namespaces.len());
            let selected: Vec<usize> = classes.select(all, &selector).ones().collect();
            let expected: Vec<usize> =
                (0..classes.len()).filter(|&id| selector.matches(&classes.classes[id].labels)).collect();
            assert_eq!(selected, expected, "{selector:?}");
            assert!(!expected.is_empty(), "{selector:?}");
        }
    }
}
