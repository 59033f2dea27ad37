//! The picture of the effective network that graphs draw: who reaches whom, which workloads are datastores, which
//! workloads reach the sensitive addresses (cloud metadata, the API server, the kubelets, the internet), and how
//! far each namespace is segmented. The same answers as the rules and the blast radius, gathered once per workload.
//! Who reaches whom comes as groups (sets of workloads reaching sets of workloads on one port set) from the
//! engine's factored answer, so that a flat cluster of 50,000 pods is a handful of groups, not a billion pairs.

use crate::blast::{address_checks, Sensitivity};
use crate::facts::DATASTORE_PORTS;
use crate::AuditContext;
use netseg_engine::{PortSet, ReachGroup};
use netseg_model::{Direction, Protocol};
use std::collections::BTreeMap;

/// An address class that no workload should reach without a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveAddress {
    pub sensitivity: Sensitivity,
    /// The addresses that stand for it, in words (`169.254.169.254, fd00:ec2::254`, `any address outside the pod
    /// network`).
    pub addresses: String,
}

/// `workload` may send `ports` to the sensitive address `target` (an index into [`NetworkMap::addresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressReach {
    pub workload: usize,
    pub target: usize,
    pub ports: PortSet,
}

/// How far a namespace is segmented, counted over the workloads that NetworkPolicies can govern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSegmentation {
    pub name: String,
    pub workloads: usize,
    pub ingress_isolated: usize,
    pub egress_isolated: usize,
    /// Workloads on the host network, which no NetworkPolicy governs.
    pub host_network: usize,
}

impl NamespaceSegmentation {
    /// Every governed workload is isolated in both directions (and there is at least one).
    pub fn segmented(&self) -> bool {
        let governed = self.workloads - self.host_network;
        governed > 0 && self.ingress_isolated == governed && self.egress_isolated == governed
    }
}

pub struct NetworkMap {
    /// Who reaches whom in the effective network: every source workload of a group reaches every destination of
    /// it on its ports, except itself; each pair of workloads lies in one group at most.
    pub groups: Vec<ReachGroup>,
    /// Per workload, the datastore ports its containers listen on (`(6379, "Redis")`).
    pub datastores: Vec<Vec<(u16, &'static str)>>,
    pub addresses: Vec<SensitiveAddress>,
    pub to_addresses: Vec<AddressReach>,
    /// Namespaces with workloads, by name.
    pub namespaces: Vec<NamespaceSegmentation>,
}

impl NetworkMap {
    /// Whether a connection into `dst` allowing `ports` reaches one of its datastore ports.
    pub fn reaches_datastore(&self, dst: usize, ports: &PortSet) -> bool {
        self.datastores[dst].iter().any(|(port, _)| ports.contains(Protocol::Tcp, *port))
    }
}

pub fn network_map(ctx: &AuditContext<'_>) -> NetworkMap {
    let workloads = &ctx.cluster.workloads;
    let datastores = workloads
        .iter()
        .map(|workload| {
            let mut ports: Vec<(u16, &'static str)> = DATASTORE_PORTS
                .iter()
                .filter(|(port, _)| {
                    workload
                        .pods
                        .iter()
                        .flat_map(|p| &p.facts.ports)
                        .any(|c| c.port == *port && c.protocol == Protocol::Tcp)
                })
                .copied()
                .collect();
            ports.dedup();
            ports
        })
        .collect();

    let checks = address_checks(ctx);
    let mut addresses = Vec::new();
    let mut to_addresses = Vec::new();
    for (target, (sensitivity, candidates, ports)) in checks.iter().enumerate() {
        let listed = candidates.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let words = if candidates.as_slice() == ctx.facts.outside.as_slice() {
            "any address outside the pod network".to_string()
        } else if *sensitivity == Sensitivity::Internet {
            format!("public addresses (tried {listed})")
        } else {
            listed
        };
        addresses.push(SensitiveAddress { sensitivity: *sensitivity, addresses: words });
        for workload in 0..workloads.len() {
            let mut allowed = PortSet::empty();
            for addr in candidates {
                allowed.union_with(&ctx.to_address(workload, *addr, ports));
            }
            if !allowed.is_empty() {
                to_addresses.push(AddressReach { workload, target, ports: allowed });
            }
        }
    }

    let mut namespaces: BTreeMap<&str, NamespaceSegmentation> = BTreeMap::new();
    for (index, workload) in workloads.iter().enumerate() {
        let namespace = workload.id.namespace.as_str();
        let entry = namespaces.entry(namespace).or_insert_with(|| NamespaceSegmentation {
            name: namespace.to_string(),
            workloads: 0,
            ingress_isolated: 0,
            egress_isolated: 0,
            host_network: 0,
        });
        entry.workloads += 1;
        if ctx.host_network(index) {
            entry.host_network += 1;
            continue;
        }
        entry.ingress_isolated += usize::from(ctx.isolated(index, Direction::Ingress));
        entry.egress_isolated += usize::from(ctx.isolated(index, Direction::Egress));
    }
    let namespaces = namespaces.into_values().collect();

    let groups = ctx.effective.answer().workload_groups();
    NetworkMap { groups, datastores, addresses, to_addresses, namespaces }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{with_context, FLAT, SEGMENTED};

    fn index(ctx: &AuditContext<'_>, name: &str) -> usize {
        ctx.cluster.workloads.iter().position(|w| w.id.name == name).expect("workload")
    }

    #[test]
    fn flat_network_reaches_every_sensitive_address_and_marks_the_datastore() {
        with_context(FLAT, |ctx| {
            let map = network_map(ctx);
            let web = index(ctx, "web");
            let redis = index(ctx, "redis");
            assert_eq!(map.datastores[redis], [(6379, "Redis")]);
            assert!(map.datastores[web].is_empty());
            let reached: Vec<Sensitivity> = map
                .to_addresses
                .iter()
                .filter(|r| r.workload == web)
                .map(|r| map.addresses[r.target].sensitivity)
                .collect();
            assert_eq!(
                reached,
                [Sensitivity::CloudMetadata, Sensitivity::ApiServer, Sensitivity::Kubelet, Sensitivity::Internet]
            );
            let shop = map.namespaces.iter().find(|n| n.name == "shop").expect("shop");
            assert!(!shop.segmented());
            assert_eq!((shop.ingress_isolated, shop.egress_isolated), (0, 0));
        });
    }

    #[test]
    fn segmented_namespace_counts_as_segmented_and_keeps_metadata_out() {
        with_context(SEGMENTED, |ctx| {
            let map = network_map(ctx);
            let shop = map.namespaces.iter().find(|n| n.name == "shop").expect("shop");
            assert!(shop.segmented(), "{shop:?}");
            assert!(!map
                .to_addresses
                .iter()
                .any(|r| map.addresses[r.target].sensitivity == Sensitivity::CloudMetadata));
            let redis = index(ctx, "redis");
            let web = index(ctx, "web");
            let into_redis = map
                .groups
                .iter()
                .find(|g| g.srcs.contains(&web) && g.dsts.contains(&redis))
                .expect("web reaches redis");
            assert!(map.reaches_datastore(redis, &into_redis.allowed));
        });
    }
}
