//! Sensitive destinations: cloud metadata, the API server, node addresses, datastore ports. Where the input lacks a
//! fact, a documented default stands in and the report says so.

use netseg_engine::addresses;
use netseg_model::{Cidr, Cluster, Protocol};
use std::net::IpAddr;

/// Cloud metadata endpoints: AWS, GCP and Azure IMDS (IPv4), AWS IMDS (IPv6), Alibaba Cloud, Azure WireServer.
pub const METADATA_ADDRESSES: [&str; 4] = ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16"];

/// Ports of datastores and admin interfaces that should never be open to whoever asks.
pub const DATASTORE_PORTS: &[(u16, &str)] = &[
    (6379, "Redis"),
    (5432, "PostgreSQL"),
    (3306, "MySQL"),
    (27017, "MongoDB"),
    (9200, "Elasticsearch"),
    (11211, "memcached"),
    (2379, "etcd"),
    (9092, "Kafka"),
    (5672, "RabbitMQ"),
    (9042, "Cassandra"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (26257, "CockroachDB"),
    (2181, "ZooKeeper"),
    (5984, "CouchDB"),
    (8086, "InfluxDB"),
];

/// The kubelet's API port.
pub const KUBELET_PORT: u16 = 10250;

/// Addresses that stand for "somewhere outside the pod network" when the input does not say where a thing is.
const PLAUSIBLE_PRIVATE_ADDRESSES: [&str; 4] = ["10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1"];

/// Where a set of addresses came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSource {
    /// Read from the input; the words say from what.
    Input(String),
    /// Given on the command line.
    Flag(String),
    /// Not known: any address outside the pod network is assumed.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct SensitiveFacts {
    pub metadata: Vec<IpAddr>,
    pub api_server: Vec<IpAddr>,
    pub api_server_ports: Vec<u16>,
    pub api_server_source: AddressSource,
    pub nodes: Vec<Cidr>,
    pub nodes_source: AddressSource,
    /// Representative addresses outside the cluster, for facts that are unknown: one per address atom.
    pub outside: Vec<IpAddr>,
}

impl SensitiveFacts {
    pub fn gather(cluster: &Cluster, api_server_flag: &[Cidr], node_cidr_flag: &[Cidr]) -> SensitiveFacts {
        let metadata = METADATA_ADDRESSES.iter().filter_map(|a| a.parse().ok()).collect();
        let mut api_server = Vec::new();
        let mut api_server_ports = vec![443, 6443];
        let api_server_source = if !api_server_flag.is_empty() {
            api_server.extend(api_server_flag.iter().map(|c| c.network));
            AddressSource::Flag(api_server_flag.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        } else {
            let endpoints: Vec<_> =
                cluster.endpoints.iter().filter(|e| e.namespace == "default" && e.service == "kubernetes").collect();
            for endpoint in &endpoints {
                api_server.extend(endpoint.addresses.iter().copied());
                api_server_ports.extend(endpoint.ports.iter().filter(|(p, _)| *p == Protocol::Tcp).map(|(_, n)| *n));
            }
            if api_server.is_empty() {
                AddressSource::Unknown
            } else {
                AddressSource::Input(format!("default/kubernetes endpoints ({})", endpoints[0].location))
            }
        };
        api_server.sort();
        api_server.dedup();
        api_server_ports.sort_unstable();
        api_server_ports.dedup();

        let (nodes, nodes_source) = if !node_cidr_flag.is_empty() {
            let text = node_cidr_flag.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            (node_cidr_flag.to_vec(), AddressSource::Flag(text))
        } else {
            let nodes: Vec<Cidr> = cluster
                .nodes
                .iter()
                .flat_map(|n| &n.addresses)
                .map(|a| Cidr { network: *a, prefix: Cidr::max_prefix(*a) })
                .collect();
            if nodes.is_empty() {
                (nodes, AddressSource::Unknown)
            } else {
                let source = AddressSource::Input(format!("the addresses of {} Node object(s)", cluster.nodes.len()));
                (nodes, source)
            }
        };

        let mut outside: Vec<IpAddr> = PLAUSIBLE_PRIVATE_ADDRESSES.iter().filter_map(|a| a.parse().ok()).collect();
        for atom in addresses::atoms(cluster) {
            let start = atom.start;
            let unspecified = start.is_unspecified();
            if !unspecified && !outside.contains(&start) {
                outside.push(start);
            }
        }
        SensitiveFacts { metadata, api_server, api_server_ports, api_server_source, nodes, nodes_source, outside }
    }

    /// Sentences for the report: which defaults stood in for missing facts.
    pub fn assumptions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.api_server_source == AddressSource::Unknown {
            out.push(
                "the API server's address is not in the input (no default/kubernetes Endpoints or EndpointSlice) \
                 and no --api-server was given: any address outside the pod network on TCP 443/6443 is treated as \
                 the API server (NS121)"
                    .to_string(),
            );
        }
        if self.nodes_source == AddressSource::Unknown {
            out.push(
                "node addresses are not in the input (no Node objects) and no --node-cidr was given: any address \
                 outside the pod network on the kubelet port 10250 is treated as a node (NS123)"
                    .to_string(),
            );
        }
        out
    }

    /// Addresses that stand for the API server: the known ones, or representatives of "anywhere outside".
    pub fn api_server_candidates(&self) -> &[IpAddr] {
        if self.api_server.is_empty() {
            &self.outside
        } else {
            &self.api_server
        }
    }

    /// Addresses that stand for the nodes: one per known node CIDR, or representatives of "anywhere outside".
    pub fn node_candidates(&self) -> Vec<IpAddr> {
        if self.nodes.is_empty() {
            self.outside.clone()
        } else {
            self.nodes.iter().map(|c| c.network).collect()
        }
    }
}

/// Whether an address is on the public internet (not private, loopback, link-local, shared or documentation).
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
