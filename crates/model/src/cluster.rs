//! Assembles what was loaded into a cluster: workloads with their pods, every namespace that anything refers to.

use crate::calico::{CalicoObjects, ServiceAccount};
use crate::cilium::{CiliumConfig, CiliumPolicy};
use crate::kube::*;
use crate::load::Inventory;
use crate::selector::{LabelSelector, Labels, NAMESPACE_NAME_LABEL};
use foldhash::HashMap;
use std::collections::BTreeMap;

/// A pod of a workload: a real pod from a dump, or the workload's template standing for its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// `None` for a template.
    pub name: Option<String>,
    pub facts: PodFacts,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub id: WorkloadRef,
    /// The controller's `spec.selector`, when the input has the controller and it has one.
    pub selector: Option<LabelSelector>,
    pub pods: Vec<Pod>,
    pub ignore: Suppression,
    pub location: Location,
}

impl Workload {
    /// The labels that say which pods belong to the workload and survive a rollout: the controller's selector,
    /// else the pod's labels without those the controllers stamp per revision or per pod. `generate` selects
    /// workloads by it, and NS148 proposes peers with it.
    pub fn stable_selector(&self) -> LabelSelector {
        if let Some(selector) = &self.selector {
            return selector.clone();
        }
        const PER_REVISION: [&str; 9] = [
            "pod-template-hash",
            "controller-revision-hash",
            "pod-template-generation",
            "statefulset.kubernetes.io/pod-name",
            "apps.kubernetes.io/pod-index",
            "controller-uid",
            "batch.kubernetes.io/controller-uid",
            "job-name",
            "batch.kubernetes.io/job-name",
        ];
        let mut labels = self.pods.first().map(|p| p.facts.labels.clone()).unwrap_or_default();
        labels.retain(|k, _| !PER_REVISION.contains(&k.as_ref()));
        LabelSelector { match_labels: labels, ..LabelSelector::default() }
    }
}

/// The validated cluster that the engine analyses.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Sorted by name; includes namespaces that are referenced but not defined.
    pub namespaces: Vec<Namespace>,
    /// Sorted by id.
    pub workloads: Vec<Workload>,
    pub nodes: Vec<ClusterNode>,
    pub services: Vec<Service>,
    pub policies: Vec<NetworkPolicy>,
    /// AdminNetworkPolicies, BaselineAdminNetworkPolicies and ClusterNetworkPolicies, in input order.
    pub admin_policies: Vec<AdminPolicy>,
    /// CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies, in input order.
    pub cilium_policies: Vec<CiliumPolicy>,
    /// The `cilium-config` ConfigMap, when the input has one.
    pub cilium_config: Option<CiliumConfig>,
    pub endpoints: Vec<ServiceEndpoints>,
    pub ingresses: Vec<Ingress>,
    /// Calico's tiers, policies, network sets and host endpoints.
    pub calico: CalicoObjects,
    /// ServiceAccounts, for their labels (Calico selects pods by them).
    pub service_accounts: Vec<ServiceAccount>,
    /// The files (and API lists) the objects were read from, in the order they were read.
    pub sources: Vec<std::sync::Arc<str>>,
    /// Policies of kinds netseg does not analyse, with what they select: findings on the workloads they govern
    /// say that the answer leaves them out.
    pub unmodelled: Vec<crate::unmodelled::UnmodelledPolicy>,
    /// Istio, Linkerd and Consul authorization. A CNI that enforces nothing leaves it in force: the meshes'
    /// proxies enforce it, not the CNI.
    pub mesh: crate::mesh::Meshes,
    /// Namespaced objects that named no namespace and were put in `default` (no `-n` given).
    pub namespace_defaulted: usize,
    /// ConfigMaps' `data`, for the hosts the application is configured with.
    pub config_maps: Vec<crate::config::ConfigMap>,
    /// Secrets, by their key names only.
    pub secrets: Vec<crate::config::SecretKeys>,
}

impl Cluster {
    /// The same cluster without Calico's policies and tiers: what a CNI other than Calico enforces.
    pub fn without_calico_policies(&self) -> Cluster {
        let calico = CalicoObjects {
            policies: Vec::new(),
            staged_kubernetes: Vec::new(),
            tiers: Vec::new(),
            ..self.calico.clone()
        };
        Cluster { calico, ..self.clone() }
    }

    /// The service account a pod runs as: the one it names, or its namespace's `default` (the API server sets it).
    pub fn service_account(facts: &PodFacts) -> &str {
        facts.service_account.as_deref().filter(|name| !name.is_empty()).unwrap_or("default")
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.binary_search_by(|ns| ns.name.as_str().cmp(name)).ok().map(|i| &self.namespaces[i])
    }

    pub fn from_inventory(mut inventory: Inventory) -> Cluster {
        // Only loading needs it, and the cluster is assembled beside the inventory, when both are at their largest.
        inventory.drop_index();
        let Inventory {
            namespaces,
            nodes,
            workloads,
            services,
            policies,
            admin_policies,
            cilium_policies,
            cilium_config,
            endpoints,
            ingresses,
            calico,
            service_accounts,
            sources,
            unmodelled,
            mesh,
            namespace_defaulted,
            config_maps,
            secrets,
            ..
        } = inventory;
        let workloads = assemble_workloads(workloads);
        let mut by_name: BTreeMap<String, Namespace> = namespaces.into_iter().map(|ns| (ns.name.clone(), ns)).collect();
        let referenced = workloads
            .iter()
            .map(|w| &w.id.namespace)
            .chain(policies.iter().map(|p| &p.namespace))
            .chain(cilium_policies.iter().filter_map(|p| p.namespace.as_ref()))
            .chain(services.iter().map(|s| &s.namespace))
            .chain(calico.policies.iter().filter_map(|p| p.namespace.as_ref()))
            .chain(calico.network_sets.iter().filter_map(|s| s.namespace.as_ref()));
        for name in referenced {
            by_name.entry(name.clone()).or_insert_with(|| Namespace {
                name: name.clone(),
                labels: Labels::from([(NAMESPACE_NAME_LABEL, name.as_str())]),
                annotations: Labels::new(),
                ignore: Suppression::default(),
                location: None,
            });
        }
        Cluster {
            namespaces: by_name.into_values().collect(),
            workloads,
            nodes,
            services,
            policies,
            admin_policies,
            cilium_policies,
            cilium_config,
            endpoints,
            ingresses,
            calico,
            service_accounts,
            sources,
            unmodelled,
            mesh,
            namespace_defaulted,
            config_maps,
            secrets,
        }
    }
}

impl Cluster {
    /// The same cluster with every named pod (from a dump) as a workload of its own, `ns/pod[Pod]`, for answers at
    /// pod granularity; a template, which stands for pods that have no names yet, stays its workload.
    pub fn per_pod(&self) -> Cluster {
        let mut workloads: Vec<Workload> = Vec::new();
        for workload in &self.workloads {
            if workload.pods.iter().all(|p| p.name.is_none()) {
                workloads.push(workload.clone());
                continue;
            }
            for pod in &workload.pods {
                let name = pod.name.clone().unwrap_or_else(|| workload.id.name.clone());
                workloads.push(Workload {
                    id: WorkloadRef { namespace: workload.id.namespace.clone(), name, kind: WorkloadKind::Pod },
                    selector: None,
                    pods: vec![pod.clone()],
                    ignore: workload.ignore.clone(),
                    location: pod.location.clone(),
                });
            }
        }
        workloads.sort_by(|a, b| a.id.cmp(&b.id));
        Cluster { workloads, ..self.clone() }
    }
}

/// Groups pods under the controller that owns them, following ReplicaSet → Deployment and Job → CronJob where
/// the owner is in the input, so that a `kubectl get -A` dump names workloads as their manifests do.
fn assemble_workloads(objects: Vec<WorkloadObject>) -> Vec<Workload> {
    // Keyed by the objects' own strings: a dump holds hundreds of thousands of pods, each looked up by owner.
    let index: HashMap<(&str, &str, &str), usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.id.namespace.as_str(), o.id.kind.as_str(), o.id.name.as_str()), i))
        .collect();
    let owner_of = |object: &WorkloadObject| -> Option<usize> {
        let owner = object.owner.as_ref()?;
        index.get(&(object.id.namespace.as_str(), owner.kind.as_str(), owner.name.as_str())).copied()
    };
    // The top of each ownership chain; the bound keeps a cycle in hostile input from looping.
    let root_of = |start: usize| -> usize {
        let mut current = start;
        for _ in 0..8 {
            match owner_of(&objects[current]) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    };

    // Where each object goes, decided while every object can still be looked at; then the objects are moved, not
    // copied, into their workloads (a dump's pods are most of what a large cluster holds). A workload is found by
    // its name's own strings, and named (its `WorkloadRef`) once; it starts from the top of the chain of the first
    // object placed in it.
    type Group = (Location, Option<PodFacts>, Vec<Pod>, Suppression, Option<LabelSelector>);
    let mut groups: Vec<(WorkloadRef, Group)> = Vec::new();
    let mut group_of: HashMap<(&str, &str, WorkloadKind), usize> = HashMap::default();
    let placed: Vec<(usize, usize)> = (0..objects.len())
        .map(|i| {
            let (object, root) = (&objects[i], root_of(i));
            let (namespace, name, kind) = if object.id.kind == WorkloadKind::Pod && root == i {
                // A pod whose controller is not in the input is named after that controller, when it is a workload kind.
                match object.owner.as_ref().and_then(|o| WorkloadKind::from_kind(&o.kind).map(|k| (k, &o.name))) {
                    Some((kind, name)) if kind != WorkloadKind::Pod => (&object.id.namespace, name, kind),
                    _ => (&object.id.namespace, &object.id.name, object.id.kind),
                }
            } else {
                let id = &objects[root].id;
                (&id.namespace, &id.name, id.kind)
            };
            let group = *group_of.entry((namespace.as_str(), name.as_str(), kind)).or_insert_with(|| {
                let (id, top) =
                    (WorkloadRef { namespace: namespace.clone(), name: name.clone(), kind }, &objects[root]);
                groups.push((id, (top.location.clone(), None, Vec::new(), top.ignore.clone(), top.selector.clone())));
                groups.len() - 1
            });
            (group, root)
        })
        .collect();
    drop(group_of);
    for (i, (object, (group, root))) in objects.into_iter().zip(placed).enumerate() {
        let entry = &mut groups[group].1;
        if object.id.kind == WorkloadKind::Pod {
            entry.2.push(Pod { name: Some(object.id.name), facts: *object.pod, location: object.location });
        } else if root == i {
            entry.0 = object.location;
            entry.1 = Some(*object.pod);
        }
    }
    // In the order of their names, as the rest of netseg lists workloads (names are unique, so the order is total);
    // the groups are large, so their indices are sorted, not they.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_unstable_by(|&a, &b| groups[a].0.cmp(&groups[b].0));
    let mut groups: Vec<Option<(WorkloadRef, Group)>> = groups.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|index| groups[index].take())
        .map(|(id, (location, template, pods, ignore, selector))| {
            let pods = if pods.is_empty() {
                template.map(|facts| Pod { name: None, facts, location: location.clone() }).into_iter().collect()
            } else {
                pods
            };
            Workload { id, selector, pods, ignore, location }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{load_bytes, Inventory};
    use std::sync::Arc;

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        Cluster::from_inventory(inventory)
    }

    #[test]
    fn dump_pods_fold_into_their_deployment() {
        let c = cluster(concat!(
            "kind: Deployment\nmetadata: {name: web, namespace: a}\nspec: {template: {metadata: {labels: {app: web}}}}\n---\n",
            "kind: ReplicaSet\nmetadata: {name: web-1, namespace: a, ownerReferences: [{kind: Deployment, name: web, controller: true}]}\n---\n",
            "kind: Pod\nmetadata: {name: web-1-x, namespace: a, labels: {app: web}, ownerReferences: [{kind: ReplicaSet, name: web-1, controller: true}]}\nstatus: {podIP: 10.0.0.5}\n",
        ));
        assert_eq!(c.workloads.len(), 1);
        assert_eq!(c.workloads[0].id.to_string(), "a/web[Deployment]");
        assert_eq!(c.workloads[0].pods.len(), 1);
        assert_eq!(c.workloads[0].pods[0].facts.ips.len(), 1);
    }

    #[test]
    fn per_pod_splits_dump_pods_and_keeps_templates() {
        let c = cluster(concat!(
            "kind: Deployment\nmetadata: {name: web, namespace: a}\nspec: {template: {metadata: {labels: {app: web}}}}\n---\n",
            "kind: Pod\nmetadata: {name: web-x, namespace: a, ownerReferences: [{kind: Deployment, name: web, controller: true}]}\n---\n",
            "kind: Pod\nmetadata: {name: web-y, namespace: a, ownerReferences: [{kind: Deployment, name: web, controller: true}]}\n---\n",
            "kind: StatefulSet\nmetadata: {name: db, namespace: a}\nspec: {template: {metadata: {labels: {app: db}}}}\n",
        ));
        let ids: Vec<String> = c.per_pod().workloads.iter().map(|w| w.id.to_string()).collect();
        assert_eq!(ids, ["a/db[StatefulSet]", "a/web-x[Pod]", "a/web-y[Pod]"]);
    }

    #[test]
    fn orphan_pods_are_named_by_their_owner() {
        let c = cluster(
            "kind: Pod\nmetadata: {name: f-x, ownerReferences: [{kind: ReplicaSet, name: f-99, controller: true}]}\n",
        );
        assert_eq!(c.workloads[0].id.to_string(), "default/f-99[ReplicaSet]");
    }

    #[test]
    fn referenced_namespaces_exist_with_their_name_label() {
        let c = cluster("kind: Pod\nmetadata: {name: p, namespace: ghost}\n");
        let ns = c.namespace("ghost").expect("implicit namespace");
        assert_eq!(ns.labels.get(NAMESPACE_NAME_LABEL).map(|v| &**v), Some("ghost"));
        assert!(ns.location.is_none());
    }
}
