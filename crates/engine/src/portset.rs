//! Per-protocol sets of inclusive port ranges: the unit every connection is measured in.

use netseg_model::Protocol;
use serde::Serialize;
use std::fmt;

/// Sorted, disjoint, maximal inclusive ranges of ports 1..=65535, one list per protocol (TCP, UDP, SCTP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSet {
    ranges: [Vec<(u16, u16)>; 3],
}

fn slot(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    pub fn all() -> PortSet {
        PortSet { ranges: [vec![(1, 65535)], vec![(1, 65535)], vec![(1, 65535)]] }
    }

    pub fn protocol(protocol: Protocol) -> PortSet {
        let mut set = PortSet::empty();
        set.ranges[slot(protocol)] = vec![(1, 65535)];
        set
    }

    pub fn single(protocol: Protocol, port: u16) -> PortSet {
        PortSet::from_ranges(&[(protocol, port, port)])
    }

    pub fn from_ranges(ranges: &[(Protocol, u16, u16)]) -> PortSet {
        let mut set = PortSet::empty();
        for &(protocol, start, end) in ranges {
            let (start, end) = (start.max(1), end);
            if start <= end {
                set.ranges[slot(protocol)].push((start, end));
            }
        }
        for list in &mut set.ranges {
            normalize(list);
        }
        set
    }

    pub fn ranges(&self, protocol: Protocol) -> &[(u16, u16)] {
        &self.ranges[slot(protocol)]
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.iter().all(Vec::is_empty)
    }

    pub fn is_all(&self) -> bool {
        *self == PortSet::all()
    }

    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        self.ranges(protocol).iter().any(|&(start, end)| start <= port && port <= end)
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        let mut result = self.clone();
        result.union_with(other);
        result
    }

    pub fn union_with(&mut self, other: &PortSet) {
        for (mine, theirs) in self.ranges.iter_mut().zip(&other.ranges) {
            if theirs.is_empty() {
                continue;
            }
            mine.extend_from_slice(theirs);
            normalize(mine);
        }
    }

    pub fn intersection(&self, other: &PortSet) -> PortSet {
        let mut result = PortSet::empty();
        for (index, (mine, theirs)) in self.ranges.iter().zip(&other.ranges).enumerate() {
            let (mut i, mut j) = (0, 0);
            while i < mine.len() && j < theirs.len() {
                let start = mine[i].0.max(theirs[j].0);
                let end = mine[i].1.min(theirs[j].1);
                if start <= end {
                    result.ranges[index].push((start, end));
                }
                if mine[i].1 < theirs[j].1 {
                    i += 1;
                } else {
                    j += 1;
                }
            }
        }
        result
    }

    pub fn difference(&self, other: &PortSet) -> PortSet {
        let mut result = PortSet::empty();
        for (index, (mine, theirs)) in self.ranges.iter().zip(&other.ranges).enumerate() {
            for &(start, end) in mine {
                let mut cursor = u32::from(start);
                for &(cut_start, cut_end) in theirs {
                    if u32::from(cut_end) < cursor || cut_start > end {
                        continue;
                    }
                    if u32::from(cut_start) > cursor {
                        result.ranges[index].push((to_port(cursor), cut_start - 1));
                    }
                    cursor = u32::from(cut_end) + 1;
                }
                if cursor <= u32::from(end) {
                    result.ranges[index].push((to_port(cursor), end));
                }
            }
        }
        result
    }

    /// The number of (protocol, port) pairs in the set.
    pub fn count(&self) -> u64 {
        self.ranges.iter().flatten().map(|&(s, e)| u64::from(e - s) + 1).sum()
    }

    /// The first (protocol, port) in the set, in TCP, UDP, SCTP order: a concrete witness.
    pub fn first(&self) -> Option<(Protocol, u16)> {
        Protocol::ALL.into_iter().find_map(|p| self.ranges(p).first().map(|&(start, _)| (p, start)))
    }
}

fn to_port(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

fn normalize(list: &mut Vec<(u16, u16)>) {
    list.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(list.len());
    for &(start, end) in list.iter() {
        match merged.last_mut() {
            Some(last) if u32::from(start) <= u32::from(last.1) + 1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *list = merged;
}

/// `All Connections`, or `TCP 80,443,UDP 53`: the form people read in reports.
impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all ports");
        }
        if self.is_empty() {
            return f.write_str("nothing");
        }
        let mut first = true;
        for protocol in Protocol::ALL {
            let ranges = self.ranges(protocol);
            if ranges.is_empty() {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{protocol} ")?;
            for (i, &(start, end)) in ranges.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                if (start, end) == (1, 65535) {
                    f.write_str("all")?;
                } else if start == end {
                    write!(f, "{start}")?;
                } else {
                    write!(f, "{start}-{end}")?;
                }
            }
        }
        Ok(())
    }
}

/// JSON form of the `netseg.reach/v1` schema: `{"TCP": [[80, 81]], "UDP": [], "SCTP": [[1, 65535]]}`.
impl Serialize for PortSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        for protocol in Protocol::ALL {
            let ranges: Vec<[u16; 2]> = self.ranges(protocol).iter().map(|&(s, e)| [s, e]).collect();
            map.serialize_entry(protocol.as_str(), &ranges)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Protocol::*;

    #[test]
    fn normalizes_overlaps_and_adjacency() {
        let set = PortSet::from_ranges(&[(Tcp, 80, 81), (Tcp, 82, 90), (Tcp, 85, 86), (Udp, 53, 53)]);
        assert_eq!(set.ranges(Tcp), &[(80, 90)]);
        assert_eq!(set.to_string(), "TCP 80-90, UDP 53");
    }

    #[test]
    fn set_algebra() {
        let a = PortSet::from_ranges(&[(Tcp, 1, 100)]);
        let b = PortSet::from_ranges(&[(Tcp, 50, 200), (Sctp, 1, 1)]);
        assert_eq!(a.intersection(&b), PortSet::from_ranges(&[(Tcp, 50, 100)]));
        assert_eq!(a.union(&b), PortSet::from_ranges(&[(Tcp, 1, 200), (Sctp, 1, 1)]));
        assert_eq!(a.difference(&b), PortSet::from_ranges(&[(Tcp, 1, 49)]));
        assert_eq!(PortSet::all().difference(&PortSet::single(Tcp, 80)).ranges(Tcp), &[(1, 79), (81, 65535)]);
        assert_eq!(PortSet::all().difference(&PortSet::all()), PortSet::empty());
    }

    #[test]
    fn port_zero_is_outside_the_model() {
        assert_eq!(PortSet::from_ranges(&[(Tcp, 0, 0)]), PortSet::empty());
    }
}
