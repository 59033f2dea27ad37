//! Conformance against the AdminNetworkPolicy / BaselineAdminNetworkPolicy answer sets in `corpus/anp` of
//! the folder `NETSEG_SHARED_DIR` names (Apache-2.0 third-party data, read in place, never copied; see its
//! README.md):
//!
//! - `conformance-v1alpha1/`: the network-policy-api conformance suite's 289 pokes. Each subtest lists the
//!   policies in effect at the time of its pokes; with `model.yaml` (namespaces, nodes, pods with IPs, host-network
//!   `centaur` pods), a poke `from -> to_ip:port/protocol` must be allowed exactly when `expect_connect`.
//! - `netpol-analyzer-parsed-resources/`: netpol-analyzer's 38 ANP/BANP cases, each a manifest and the full
//!   connectivity list, compared on every ordered pair of pods and between each pod and the outside.
//!
//! Without the corpus the tests pass with a note, unless `NETSEG_REQUIRE_CORPUS=1`. Run with `-- --nocapture` for
//! the numbers.

mod connlist;
mod shared_data;

use netseg_engine::query::resolve;
use netseg_engine::{Analysis, Endpoint, PortSet};
use netseg_model::yaml::{parse_all, Node, Value};
use netseg_model::{load_bytes, load_embedded_object, Cluster, Inventory, Protocol, Severity};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

fn anp_corpus() -> Option<PathBuf> {
    shared_data::shared_set("corpus/anp", "README.md")
}

fn text<'n>(node: &'n Node, key: &str) -> &'n str {
    node.get(key).and_then(Node::as_str).unwrap_or_default()
}

fn items<'n>(node: &'n Node, key: &str) -> &'n [Node] {
    match node.get(key).map(|n| &n.value) {
        Some(Value::Seq(items)) => items,
        _ => &[],
    }
}

fn errors(inventory: &Inventory) -> Vec<String> {
    inventory.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(ToString::to_string).collect()
}

/// The one pod a name or address stands for.
fn pod(cluster: &Cluster, name: &str) -> Result<Endpoint, String> {
    let resolved = resolve(cluster, name).map_err(|e| e.to_string())?;
    match resolved.endpoints.as_slice() {
        [endpoint @ Endpoint::Pod { .. }] => Ok(*endpoint),
        other => Err(format!("`{name}` is not one pod but {other:?}")),
    }
}

#[test]
fn conformance_v1alpha1_pokes() {
    let Some(root) = anp_corpus() else { return };
    let suite = root.join("conformance-v1alpha1");
    let model = std::fs::read(suite.join("model.yaml")).expect("read model.yaml");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(suite.join("cases"))
        .expect("cases dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();

    let (mut total, mut passed) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut per_case: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in &cases {
        let case_text = std::fs::read_to_string(case).expect("read case");
        let (documents, error) = parse_all(&case_text);
        assert!(error.is_none(), "{}: {error:?}", case.display());
        let document = documents.first().expect("a case document");
        let short = text(document, "shortName").to_string();
        let file: Arc<str> = Arc::from(case.display().to_string());
        for subtest in items(document, "subtests") {
            let mut inventory = Inventory::default();
            load_bytes(&mut inventory, Arc::from("model.yaml"), &model, false);
            for policy in items(subtest, "policies_in_effect") {
                load_embedded_object(&mut inventory, file.clone(), policy);
            }
            let load_errors = errors(&inventory);
            assert!(load_errors.is_empty(), "{short} / {}: {load_errors:#?}", text(subtest, "name"));
            let cluster = Cluster::from_inventory(inventory);
            let analysis = Analysis::new(&cluster);
            for poke in items(subtest, "pokes") {
                total += 1;
                let entry = per_case.entry(short.clone()).or_default();
                entry.1 += 1;
                let protocol = Protocol::from_api(text(poke, "protocol")).expect("poke protocol");
                let port = match poke.get("port").map(|p| &p.value) {
                    Some(Value::Int(n)) => u16::try_from(*n).expect("poke port"),
                    _ => panic!("poke without a port"),
                };
                let expect = matches!(poke.get("expect_connect").map(|v| &v.value), Some(Value::Bool(true)));
                let from = pod(&cluster, text(poke, "from")).expect("poke source");
                // The suite targets the server by its pod IP, which for host-network pods is the node's.
                let to = pod(&cluster, text(poke, "to_ip")).expect("poke destination");
                let allowed = analysis.allowed(from, to).contains(protocol, port);
                if allowed == expect {
                    passed += 1;
                    entry.0 += 1;
                } else {
                    failures.push(format!(
                        "{short} / {}: {} -> {} ({}) {protocol} {port}: expected {}, netseg {}",
                        text(subtest, "name"),
                        text(poke, "from"),
                        text(poke, "to"),
                        text(poke, "to_ip"),
                        if expect { "connect" } else { "drop" },
                        if allowed { "allows" } else { "denies" },
                    ));
                }
            }
        }
    }
    println!("--- conformance-v1alpha1 ---");
    for (case, (ok, all)) in &per_case {
        println!("  {case:<55} {ok:>3}/{all}");
    }
    println!("expectations passed: {passed}/{total}");
    for failure in &failures {
        println!("FAILED {failure}");
    }
    assert_eq!(total, 289, "the suite has 289 pokes; is the corpus complete?");
    assert!(failures.is_empty(), "{} of {total} conformance expectations differ", failures.len());
}

/// The cases' YAML (translated from Go literals) writes the namespace `y` bare, which YAML 1.1, and so kubectl,
/// reads as the boolean true: the API server would refuse those objects. The Go inputs meant the string, so the
/// harness quotes a bare `y` value before loading.
fn quote_y(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_suffix(": y") {
            Some(head) => format!("{head}: \"y\"\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

/// Every ordered pair of pods (and each pod with the outside, `0.0.0.0-255.255.255.255[External]`) and what
/// netpol-analyzer says is allowed between them; pairs it does not list have nothing allowed.
#[test]
fn netpol_analyzer_parsed_admin_cases() {
    let Some(root) = anp_corpus() else { return };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("netpol-analyzer-parsed-resources"))
        .expect("parsed resources dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("manifests.yaml").is_file())
        .collect();
    dirs.sort();
    const EXTERNAL: &str = "0.0.0.0-255.255.255.255[External]";
    // No case has networks peers, so any address stands for the whole outside.
    let outside: IpAddr = "203.0.113.1".parse().expect("address");

    let (mut pairs, mut agreed, mut strings) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let manifests = std::fs::read_to_string(dir.join("manifests.yaml")).expect("manifests.yaml");
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from(format!("{name}/manifests.yaml")), quote_y(&manifests).as_bytes(), false);
        let load_errors = errors(&inventory);
        assert!(load_errors.is_empty(), "{name}: {load_errors:#?}");
        let cluster = Cluster::from_inventory(inventory);
        let analysis = Analysis::new(&cluster);

        let expected_text = std::fs::read_to_string(dir.join("expected.yaml")).expect("expected.yaml");
        let (documents, _) = parse_all(&expected_text);
        let expected = documents.first().expect("expected document");
        let connlist_file = text(expected, "connlist_expected_file");
        let connlist_text = std::fs::read_to_string(dir.join(connlist_file)).expect("connlist file");
        let mut listed: BTreeMap<(String, String), PortSet> = BTreeMap::new();
        for line in connlist_text.lines().filter(|l| !l.trim().is_empty()) {
            let (src, dst, ports) = connlist::parse_line(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            listed.insert((src, dst), ports);
        }

        let mut ends: Vec<(String, Endpoint)> = (0..cluster.workloads.len())
            .map(|w| (cluster.workloads[w].id.to_string(), Endpoint::Pod { workload: w, pod: 0 }))
            .collect();
        ends.push((EXTERNAL.to_string(), Endpoint::Address(outside)));
        let mut actual: BTreeMap<(String, String), PortSet> = BTreeMap::new();
        for (src_name, src) in &ends {
            for (dst_name, dst) in &ends {
                if src_name == dst_name || (src_name == EXTERNAL && dst_name == EXTERNAL) {
                    continue;
                }
                let allowed = analysis.allowed(*src, *dst);
                let key = (src_name.clone(), dst_name.clone());
                pairs += 1;
                let want = listed.get(&key).cloned().unwrap_or_default();
                if want == allowed {
                    agreed += 1;
                } else {
                    failures.push(format!(
                        "{name}: {} => {}: expected `{}`, netseg `{}`",
                        key.0,
                        key.1,
                        connlist::ports_text(&want),
                        connlist::ports_text(&allowed)
                    ));
                }
                actual.insert(key, allowed);
            }
        }
        // The pod-pair strings of expected.yaml must say the same as the list (they are one answer, twice).
        for expectation in items(expected, "pod_pair_expectations") {
            let node = |key: &str| match text(expectation, key) {
                "0.0.0.0/0" => EXTERNAL.to_string(),
                pod => format!("{pod}[Pod]"),
            };
            let key = (node("src"), node("dst"));
            let want = connlist::parse_ports(text(expectation, "allowed")).expect("connection string");
            strings += 1;
            if actual.get(&key) != Some(&want) {
                failures.push(format!("{name}: pod_pair_expectations {} => {}: expected `{}`", key.0, key.1, {
                    connlist::ports_text(&want)
                }));
            }
        }
    }
    println!("--- netpol-analyzer parsed ANP/BANP cases ---");
    println!("cases: {}; pairs agreed: {agreed}/{pairs}; pod-pair strings checked: {strings}", dirs.len());
    for failure in &failures {
        println!("FAILED {failure}");
    }
    assert_eq!(dirs.len(), 38, "netpol-analyzer has 38 parsed ANP/BANP cases; is the corpus complete?");
    assert!(failures.is_empty(), "{} disagreement(s)", failures.len());
}
