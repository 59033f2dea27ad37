//! Addresses outside the cluster: the address space cut into atoms at every ipBlock boundary, so that each atom
//! is either wholly inside or wholly outside every ipBlock and one address answers for all of it.

use netseg_model::{AdminPeerSelector, Cidr, Cluster, IpBlock, PeerSelector};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl IpRange {
    /// The CIDRs that exactly cover the range.
    pub fn cidrs(&self) -> Vec<Cidr> {
        let (bits, mut start, end) = match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => (32u32, u128::from(u32::from(s)), u128::from(u32::from(e))),
            (IpAddr::V6(s), IpAddr::V6(e)) => (128u32, u128::from(s), u128::from(e)),
            _ => return Vec::new(),
        };
        let mut result = Vec::new();
        loop {
            // The largest aligned block that starts at `start` and stays within `end`.
            let mut size_bits = if start == 0 { bits } else { start.trailing_zeros().min(bits) };
            while size_bits > 0 && block_end(start, size_bits) > end {
                size_bits -= 1;
            }
            let prefix = u8::try_from(bits - size_bits).unwrap_or(0);
            result.push(Cidr { network: to_addr(start, bits == 32), prefix });
            let last = block_end(start, size_bits);
            if last >= end {
                break;
            }
            start = last + 1;
        }
        result
    }
}

fn block_end(start: u128, size_bits: u32) -> u128 {
    if size_bits >= 128 {
        u128::MAX
    } else {
        start | ((1u128 << size_bits) - 1)
    }
}

fn to_addr(value: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

/// Every address block some policy tests: NetworkPolicy ipBlocks, admin `networks`, and (when an admin policy
/// has a `nodes` peer) each node address as a one-address block. Classes record which of them hold a pod's IP.
pub fn policy_blocks(cluster: &Cluster) -> Vec<IpBlock> {
    let mut blocks: Vec<IpBlock> = Vec::new();
    for policy in &cluster.policies {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for peer in &rule.peers {
                if let PeerSelector::IpBlock(block) = &peer.selector {
                    blocks.push(block.clone());
                }
            }
        }
    }
    let mut nodes_peer = false;
    for policy in cluster.admin_policies.iter().filter(|p| p.in_effect()) {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for peer in &rule.peers {
                match &peer.selector {
                    AdminPeerSelector::Networks(cidrs) => {
                        blocks.extend(cidrs.iter().map(|cidr| IpBlock { cidr: *cidr, except: Vec::new() }));
                    }
                    AdminPeerSelector::Nodes(_) => nodes_peer = true,
                    _ => {}
                }
            }
        }
    }
    if nodes_peer {
        blocks.extend(cluster.nodes.iter().flat_map(|n| &n.addresses).map(|addr| host_block(*addr)));
    }
    let mut seen = std::collections::HashSet::new();
    blocks.retain(|block| seen.insert(block.clone()));
    blocks
}

/// Adds the blocks `blocks` does not hold yet, in order.
pub fn add_blocks(blocks: &mut Vec<IpBlock>, more: Vec<IpBlock>) {
    for block in more {
        if !blocks.contains(&block) {
            blocks.push(block);
        }
    }
}

/// A block holding exactly one address.
pub fn host_block(addr: IpAddr) -> IpBlock {
    IpBlock { cidr: Cidr { network: addr, prefix: Cidr::max_prefix(addr) }, except: Vec::new() }
}

/// The atoms of the address space: IPv4 always, IPv6 when the input mentions an IPv6 address anywhere.
pub fn atoms(cluster: &Cluster) -> Vec<IpRange> {
    atoms_at(cluster, &policy_blocks(cluster))
}

/// The atoms of the address space cut at the boundaries of `blocks` (IPv6 when a block or a pod has an IPv6
/// address).
pub fn atoms_at(cluster: &Cluster, blocks: &[IpBlock]) -> Vec<IpRange> {
    let mut cuts_v4: Vec<u128> = vec![0];
    let mut cuts_v6: Vec<u128> = vec![0];
    let mut ipv6_seen = false;
    let mut add = |cidr: &Cidr, v6_seen: &mut bool| {
        let (start, end) = cidr.bounds();
        let cuts = if cidr.network.is_ipv4() {
            &mut cuts_v4
        } else {
            *v6_seen = true;
            &mut cuts_v6
        };
        cuts.push(start);
        if let Some(next) = end.checked_add(1) {
            cuts.push(next);
        }
    };
    for block in blocks {
        add(&block.cidr, &mut ipv6_seen);
        for except in &block.except {
            add(except, &mut ipv6_seen);
        }
    }
    ipv6_seen |= cluster.workloads.iter().flat_map(|w| &w.pods).flat_map(|p| &p.facts.ips).any(IpAddr::is_ipv6);
    let mut result = ranges_between(cuts_v4, u128::from(u32::MAX), true);
    if ipv6_seen {
        result.extend(ranges_between(cuts_v6, u128::MAX, false));
    }
    result
}

fn ranges_between(mut cuts: Vec<u128>, max: u128, v4: bool) -> Vec<IpRange> {
    cuts.retain(|c| *c <= max);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = cuts.get(i + 1).map_or(max, |next| next - 1);
            IpRange { start: to_addr(start, v4), end: to_addr(end, v4) }
        })
        .collect()
}

/// Joins adjacent atoms, so that a group reads as few ranges as possible.
pub fn merge_ranges(mut ranges: Vec<IpRange>) -> Vec<IpRange> {
    ranges.sort();
    let mut merged: Vec<IpRange> = Vec::new();
    for range in ranges {
        if let Some(last) = merged.last_mut() {
            let adjacent = match (last.end, range.start) {
                (IpAddr::V4(end), IpAddr::V4(start)) => u32::from(end).checked_add(1) == Some(u32::from(start)),
                (IpAddr::V6(end), IpAddr::V6(start)) => u128::from(end).checked_add(1) == Some(u128::from(start)),
                _ => false,
            };
            if adjacent {
                last.end = range.end;
                continue;
            }
        }
        merged.push(range);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_decompose_into_exact_cidrs() {
        let range = IpRange { start: "10.0.0.0".parse().expect("ip"), end: "10.0.0.5".parse().expect("ip") };
        let cidrs: Vec<String> = range.cidrs().iter().map(ToString::to_string).collect();
        assert_eq!(cidrs, ["10.0.0.0/30", "10.0.0.4/31"]);
        let all = IpRange { start: "0.0.0.0".parse().expect("ip"), end: "255.255.255.255".parse().expect("ip") };
        assert_eq!(all.cidrs().len(), 1);
        let all6 = IpRange { start: "::".parse().expect("ip"), end: Ipv6Addr::from(u128::MAX).into() };
        assert_eq!(all6.cidrs()[0].to_string(), "::/0");
    }
}
