//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`) on fixtures written for netseg from the shape of
//! the upstream v1alpha2 conformance YAML (`tests/fixtures/v1alpha2`): tiers Admin and Baseline, `Accept`,
//! `protocols` with numbers, ranges and `destinationNamedPort`, `nodes` and `networks` peers.

use netseg_engine::query::resolve;
use netseg_engine::{Analysis, Endpoint, PortSet, TierId};
use netseg_model::{load_cluster, Cluster, Input, Protocol::*, Severity};
use std::path::Path;

fn fixture(files: &[&str]) -> Cluster {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1alpha2");
    let inputs: Vec<Input> = files.iter().map(|f| Input::Path(dir.join(f))).collect();
    let (cluster, diagnostics) = load_cluster(&inputs, None);
    let problems: Vec<String> =
        diagnostics.iter().filter(|d| d.severity != Severity::Note).map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    cluster
}

fn pod(cluster: &Cluster, name: &str) -> Endpoint {
    resolve(cluster, name).expect("fixture pod").endpoints[0]
}

fn allowed(analysis: &Analysis<'_>, from: &str, to: &str) -> PortSet {
    let cluster = analysis.cluster;
    let to = match to.parse() {
        Ok(addr) => Endpoint::Address(addr),
        Err(_) => pod(cluster, to),
    };
    analysis.allowed(pod(cluster, from), to)
}

#[test]
fn admin_tier_accept_wins_over_a_later_deny() {
    let cluster = fixture(&["cluster.yaml", "admin-gress.yaml"]);
    let analysis = Analysis::new(&cluster);
    assert!(allowed(&analysis, "gryffindor/harry", "ravenclaw/luna").is_all());
    assert_eq!(cluster.admin_policies.len(), 1);
}

#[test]
fn admin_pass_hands_the_named_port_to_network_policy() {
    let cluster = fixture(&["cluster.yaml", "admin-gress.yaml"]);
    let analysis = Analysis::new(&cluster);
    // No NetworkPolicy: the passed `web` (TCP 80) is allowed by default; the rest of slytherin is denied.
    let open = allowed(&analysis, "gryffindor/harry", "slytherin/draco");
    assert_eq!(open, PortSet::single(Tcp, 80));
    // With slytherin's own policy, TCP 80 is decided there: denied.
    let cluster = fixture(&["cluster.yaml", "admin-gress.yaml", "netpol.yaml"]);
    let analysis = Analysis::new(&cluster);
    assert!(allowed(&analysis, "gryffindor/harry", "slytherin/draco").is_empty());
}

#[test]
fn nodes_peer_matches_the_node_address_and_its_host_network_pods() {
    let cluster = fixture(&["cluster.yaml", "admin-gress.yaml"]);
    let analysis = Analysis::new(&cluster);
    let range = PortSet::from_ranges(&[(Tcp, 36363, 36364)]);
    assert_eq!(allowed(&analysis, "gryffindor/harry", "172.18.0.2"), range);
    // The host-network pod is the node: its IP is the node's, and the nodes peer matches it.
    assert_eq!(allowed(&analysis, "gryffindor/harry", "forest/centaur"), range);
    // The internet is denied by the networks peer.
    assert!(allowed(&analysis, "gryffindor/harry", "203.0.113.9").is_empty());
    // Other houses are not subjects: their egress is open.
    assert!(allowed(&analysis, "slytherin/draco", "203.0.113.9").is_all());
}

#[test]
fn baseline_tier_by_priority_where_no_network_policy_isolates() {
    let cluster = fixture(&["cluster.yaml", "baseline.yaml"]);
    let analysis = Analysis::new(&cluster);
    // ravenclaw-dns (priority 5) accepts UDP 53 before ravenclaw-closed (9) denies gryffindor.
    assert_eq!(allowed(&analysis, "gryffindor/harry", "ravenclaw/luna"), PortSet::single(Udp, 53));
    assert!(allowed(&analysis, "slytherin/draco", "ravenclaw/luna").is_all());
}

#[test]
fn explanation_names_the_deciding_rules_in_order() {
    let cluster = fixture(&["cluster.yaml", "admin-gress.yaml", "baseline.yaml"]);
    let analysis = Analysis::new(&cluster);
    let explanation = analysis.explain(pod(&cluster, "gryffindor/harry"), pod(&cluster, "ravenclaw/luna"));
    // Egress: accepted by the admin tier's first rule. Ingress: the baseline's DNS accept, then its deny.
    let egress: Vec<usize> = explanation.egress.hits(TierId::Admin).iter().map(|h| h.origin.rule).collect();
    assert_eq!(egress, [0]);
    let ingress: Vec<&str> = explanation
        .ingress
        .hits(TierId::Baseline)
        .iter()
        .map(|h| cluster.admin_policies[h.origin.policy].name.as_str())
        .collect();
    assert_eq!(ingress, ["ravenclaw-dns", "ravenclaw-closed"]);
    assert_eq!(explanation.allowed, PortSet::single(Udp, 53));
}
