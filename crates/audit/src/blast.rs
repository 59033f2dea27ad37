//! Everything a compromised workload can reach, directly and in several hops, sensitive targets first.
//!
//! Hops follow the effective network: from the origin to what it reaches, then to what those reach, and so on
//! (breadth first, so each target comes with a shortest path), through the engine's factored answer, so that the
//! cost follows the distinct policy situations, not the pairs. Sensitive addresses (metadata, API server, kubelet,
//! the internet) are checked from every workload on the way.

use crate::context::tcp;
use crate::facts::{is_public, DATASTORE_PORTS, KUBELET_PORT};
use crate::AuditContext;
use netseg_engine::PortSet;
use netseg_model::Protocol;
use serde::Serialize;
use std::net::IpAddr;

/// How bad it is to reach a target; lower sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    CloudMetadata,
    ApiServer,
    Kubelet,
    KubeSystem,
    Datastore,
    Internet,
    Workload,
}

impl Sensitivity {
    pub fn label(self) -> &'static str {
        match self {
            Sensitivity::CloudMetadata => "cloud metadata",
            Sensitivity::ApiServer => "API server",
            Sensitivity::Kubelet => "kubelet",
            Sensitivity::KubeSystem => "kube-system",
            Sensitivity::Datastore => "datastore",
            Sensitivity::Internet => "internet",
            Sensitivity::Workload => "workload",
        }
    }

    pub fn is_sensitive(self) -> bool {
        self != Sensitivity::Workload
    }
}

/// One step of a path: `from` may send `ports` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub from: String,
    pub to: String,
    pub ports: PortSet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub name: String,
    pub sensitivity: Sensitivity,
    /// What makes it sensitive, in words ("Redis 6379", "169.254.169.254").
    pub detail: String,
    pub hops: usize,
    pub path: Vec<Hop>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlastRadius {
    pub origin: String,
    pub targets: Vec<Target>,
}

/// Where the attacker starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Workload(usize),
    /// An address outside the cluster, subject to the policies' ipBlocks (a compromised VM in the VPC, say).
    Address(IpAddr),
    /// The internet, which enters only through LoadBalancer and NodePort Services and Ingresses, on their target
    /// ports, where the policies let it in.
    Internet,
}

pub fn blast_radius(ctx: &AuditContext<'_>, origin: Origin, max_hops: usize) -> BlastRadius {
    let count = ctx.cluster.workloads.len();
    let origin_name = match origin {
        Origin::Workload(w) => ctx.workload_name(w),
        Origin::Address(addr) => addr.to_string(),
        Origin::Internet => "the internet".to_string(),
    };
    // Where the attacker starts: the workload itself, or the workloads entered from outside, one hop in, with the
    // ports they are entered on.
    let answer = ctx.effective.answer();
    let start: Vec<(usize, usize, PortSet)> = match origin {
        Origin::Workload(w) => vec![(w, 0, PortSet::empty())],
        Origin::Address(addr) => (0..count)
            .filter_map(|w| {
                let allowed = answer.from_address(addr, w);
                (!allowed.is_empty()).then_some((w, 1, allowed))
            })
            .collect(),
        Origin::Internet => {
            let public: IpAddr = IpAddr::from([203, 0, 113, 7]);
            let mut entered: Vec<(usize, usize, PortSet)> = Vec::new();
            for entry in ctx.entry_points() {
                let allowed = answer.from_address(public, entry.workload).intersection(&entry.ports);
                if allowed.is_empty() {
                    continue;
                }
                match entered.iter_mut().find(|(w, _, _)| *w == entry.workload) {
                    Some((_, _, ports)) => ports.union_with(&allowed),
                    None => entered.push((entry.workload, 1, allowed)),
                }
            }
            entered
        }
    };
    // Breadth first over the effective network, through the factored answer (no pair is listed).
    let reached: Vec<Option<(Option<usize>, PortSet, usize)>> = answer
        .closure(&start, max_hops)
        .into_iter()
        .map(|hop| hop.map(|hop| (hop.from, hop.ports, hop.depth)))
        .collect();

    let path_to = |w: usize| -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut current = w;
        while let Some((Some(previous), ports, _)) = &reached[current] {
            hops.push(Hop { from: ctx.workload_name(*previous), to: ctx.workload_name(current), ports: ports.clone() });
            current = *previous;
        }
        if let (Origin::Address(_) | Origin::Internet, Some((None, ports, _))) = (origin, &reached[current]) {
            hops.push(Hop { from: origin_name.clone(), to: ctx.workload_name(current), ports: ports.clone() });
        }
        hops.reverse();
        hops
    };

    let mut targets = Vec::new();
    for (w, slot) in reached.iter().enumerate() {
        let Some((_, ports, depth)) = slot else { continue };
        if *depth == 0 {
            continue;
        }
        let workload = &ctx.cluster.workloads[w];
        let datastores: Vec<String> = DATASTORE_PORTS
            .iter()
            .filter(|(port, _)| {
                ports.contains(Protocol::Tcp, *port)
                    && workload.pods.iter().flat_map(|p| &p.facts.ports).any(|c| c.port == *port)
            })
            .map(|(port, name)| format!("{name} {port}"))
            .collect();
        let (sensitivity, detail) = if workload.id.namespace == "kube-system" {
            (Sensitivity::KubeSystem, format!("kube-system on {ports}"))
        } else if !datastores.is_empty() {
            (Sensitivity::Datastore, datastores.join(", "))
        } else {
            (Sensitivity::Workload, ports.to_string())
        };
        targets.push(Target { name: ctx.workload_name(w), sensitivity, detail, hops: *depth, path: path_to(w) });
    }

    // Sensitive addresses, from the nearest workload that reaches each.
    let mut order: Vec<usize> = (0..count).filter(|w| reached[*w].is_some()).collect();
    order.sort_by_key(|w| reached[*w].as_ref().map_or(usize::MAX, |r| r.2));
    let checks = address_checks(ctx);
    for (sensitivity, addresses, ports) in checks {
        let addresses = addresses.as_slice();
        let found = order.iter().find_map(|&w| {
            addresses.iter().find_map(|addr| {
                let allowed = ctx.to_address(w, *addr, &ports);
                (!allowed.is_empty()).then_some((w, *addr, allowed))
            })
        });
        let Some((w, addr, allowed)) = found else { continue };
        let mut path = path_to(w);
        path.push(Hop { from: ctx.workload_name(w), to: addr.to_string(), ports: allowed.clone() });
        let hops = reached[w].as_ref().map_or(0, |r| r.2) + 1;
        targets.push(Target {
            name: addr.to_string(),
            sensitivity,
            detail: format!("{} on {allowed}", sensitivity.label()),
            hops,
            path,
        });
    }
    targets.sort_by(|a, b| (a.sensitivity, a.hops, &a.name).cmp(&(b.sensitivity, b.hops, &b.name)));
    BlastRadius { origin: origin_name, targets }
}

/// The sensitive addresses and the ports that matter on each: cloud metadata on TCP 80, the API server on its
/// ports, the kubelet on 10250, the internet on any TCP port. Unknown addresses stand in as the facts say.
pub(crate) fn address_checks(ctx: &AuditContext<'_>) -> [(Sensitivity, Vec<IpAddr>, PortSet); 4] {
    let api_ports =
        PortSet::from_ranges(&ctx.facts.api_server_ports.iter().map(|p| (Protocol::Tcp, *p, *p)).collect::<Vec<_>>());
    let public: Vec<IpAddr> =
        ["1.1.1.1", "8.8.8.8"].iter().filter_map(|a| a.parse().ok()).filter(|a: &IpAddr| is_public(*a)).collect();
    [
        (Sensitivity::CloudMetadata, ctx.facts.metadata.clone(), tcp(80)),
        (Sensitivity::ApiServer, ctx.facts.api_server_candidates().to_vec(), api_ports),
        (Sensitivity::Kubelet, ctx.facts.node_candidates(), tcp(KUBELET_PORT)),
        (Sensitivity::Internet, public, PortSet::protocol(Protocol::Tcp)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::with_context;

    #[test]
    fn flat_network_reaches_everything_directly_sensitive_first() {
        with_context(crate::testing::FLAT, |ctx| {
            let web = ctx.cluster.workloads.iter().position(|w| w.id.name == "web").expect("web");
            let radius = blast_radius(ctx, Origin::Workload(web), 5);
            assert_eq!(radius.targets[0].sensitivity, Sensitivity::CloudMetadata);
            let redis = radius.targets.iter().find(|t| t.name == "shop/redis[Deployment]").expect("redis");
            assert_eq!(
                (redis.sensitivity, redis.hops, redis.detail.as_str()),
                (Sensitivity::Datastore, 1, "Redis 6379")
            );
        });
    }

    #[test]
    fn the_internet_enters_through_the_load_balancer_only() {
        let lb = format!("{}---\nkind: Service\napiVersion: v1\nmetadata: {{name: web, namespace: shop}}\nspec: {{type: LoadBalancer, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n", crate::testing::FLAT);
        with_context(&lb, |ctx| {
            let radius = blast_radius(ctx, Origin::Internet, 5);
            let web = radius.targets.iter().find(|t| t.name == "shop/web[Deployment]").expect("web");
            assert_eq!((web.hops, web.detail.as_str()), (1, "TCP 8080"));
            let redis = radius.targets.iter().find(|t| t.name == "shop/redis[Deployment]").expect("redis");
            assert_eq!(redis.hops, 2, "the internet reaches redis through web, not directly");
        });
    }

    #[test]
    fn the_internet_reaches_the_datastore_through_the_front_end() {
        with_context(crate::testing::SEGMENTED, |ctx| {
            let radius = blast_radius(ctx, Origin::Address("203.0.113.7".parse().expect("ip")), 5);
            let redis = radius.targets.iter().find(|t| t.name == "shop/redis[Deployment]").expect("redis");
            assert_eq!(redis.hops, 2);
            let steps: Vec<(&str, &str)> = redis.path.iter().map(|h| (h.from.as_str(), h.to.as_str())).collect();
            assert_eq!(
                steps,
                [("203.0.113.7", "shop/web[Deployment]"), ("shop/web[Deployment]", "shop/redis[Deployment]")]
            );
            assert!(!radius.targets.iter().any(|t| t.sensitivity == Sensitivity::CloudMetadata));
        });
    }
}
