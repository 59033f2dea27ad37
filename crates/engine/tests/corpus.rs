//! Conformance against netpol-analyzer's expected connectivity lists.
//!
//! The corpus is third-party data (np-guard/netpol-analyzer `tests/` inputs and `test_outputs/connlist/` answers,
//! Apache-2.0) kept outside the repository, at `corpus/netpol-analyzer` in the folder `NETSEG_SHARED_DIR` names
//! (`shared_data`). It is read in place, never copied. Without it the test passes with a note, unless
//! `NETSEG_REQUIRE_CORPUS=1`.
//!
//! For every scenario whose default connectivity list (`options: {}`) has a `.txt` answer, netseg loads the
//! scenario's directory and computes:
//! - workload pairs, from `Analysis::workload_connections`;
//! - pairs between a workload and each external address range that netpol-analyzer distinguishes (the disjoint
//!   refinement of the policies' ingress `from` ipBlocks, resp. egress `to` ipBlocks, plus 0.0.0.0/0), by asking
//!   `Analysis::allowed` with the range's first address, union over the workload's pods. Every range of the
//!   refinement is checked against every workload, so a pair netseg allows but the answer leaves out is found too.
//!
//! Both are compared as sets of `(src, dst) -> port set`, with netseg's workloads renamed to netpol-analyzer's node
//! names where they differ (owner-named pods). AdminNetworkPolicy / BaselineAdminNetworkPolicy dirs are compared
//! like the rest. Left out, counted by reason: multi-network dirs, `example_pods_w_same_owner_*`, dirs whose Go test expects an
//! error, dirs with other unmodelled kinds. `{ingress-controller}` lines (Ingress/Route) are dropped. The 13
//! hostNetwork-dependent dirs are counted as skipped and, in addition, compared with every pair that has a
//! hostNetwork end left out. Deliberate divergences from Kubernetes are allow-listed below, with reasons, and
//! printed. Run with `-- --nocapture` to see the summary.

mod connlist;
mod shared_data;

use connlist::{parse_line, parse_ports, ports_text};
use netseg_engine::{Analysis, Endpoint, PortSet};
use netseg_model::{
    AdminPeerSelector, Cidr, Cluster, Input, Inventory, IpBlock, PeerSelector, PolicyRule, Protocol, Severity,
    WorkloadKind,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The 13 dirs whose expected answers depend on netpol-analyzer treating hostNetwork pods as ordinary pods that
/// policies select and isolate (corpus/README.md, "Where netpol-analyzer's answers differ"). netseg follows
/// Kubernetes: no NetworkPolicy selects a hostNetwork pod.
const HOST_NETWORK_DIRS: &[&str] = &[
    "ipblockstest",
    "ipblockstest_2",
    "ipblockstest_3",
    "ipblockstest_4",
    "multiple_topology_resources_1",
    "multiple_topology_resources_2",
    "semanticDiff-same-topologies-old1",
    "semanticDiff-same-topologies-old2",
    "semanticDiff-same-topologies-old3",
    "semanticDiff-same-topologies-new1",
    "semanticDiff-same-topologies-new1a",
    "semanticDiff-same-topologies-new2",
    "semanticDiff-same-topologies-new3",
];

/// OpenShift multi-network scenarios (UDN/CUDN/NAD, KubeVirt VMs): outside the plain NetworkPolicy model.
const MULTI_NETWORK_PREFIXES: &[&str] = &["udn_", "cudn_", "nad_"];
const MULTI_NETWORK_DIRS: &[&str] = &["virtual_machines_example", "vm_example"];

/// netpol-analyzer collapses replicas of one owner into one node and aborts when their labels differ: a
/// tool-specific limitation these scenarios exercise.
const SAME_OWNER_PREFIX: &str = "example_pods_w_same_owner_";

/// Kinds that change connectivity in netpol-analyzer but that netseg does not model. (Ingress and Route only add
/// the `{ingress-controller}` source node; those lines are filtered out instead.)
const UNMODELLED_KINDS: &[&str] = &[
    "MultiNetworkPolicy",
    "UserDefinedNetwork",
    "ClusterUserDefinedNetwork",
    "NetworkAttachmentDefinition",
    "VirtualMachine",
    "VirtualMachineInstance",
];

/// Index keys of an `errors` entry that tie it to non-default options (so it says nothing about the default list).
const OPTION_KEYS: &[&str] = &[
    "focusWorkloads",
    "focusWorkloadPeers",
    "focusDirection",
    "focusConn",
    "exposureAnalysis",
    "explain",
    "explainOnly",
];

/// Compared scenarios whose answer deliberately departs from Kubernetes semantics, with the reason. They are
/// still compared and their mismatches printed, but they do not fail the test. Keep this list short and exact.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[
    (
        "anp_test_named_ports_multiple_peers",
        "AdminNetworkPolicy egress-peer-1 puts `namedPort: dns` in a rule with a `networks` peer; the CRD's \
         validation rule (no named ports with nodes/networks peers) makes the API server refuse it, and netseg \
         leaves it out, while netpol-analyzer keeps it: every pair the policy decides differs",
    ),
    (
        "netpol_named_port_test_2",
        "pod-a's second container port is spelled `containerport`; the API server rejects the Deployment (unknown \
     field; containerPort is required) and so does netseg, while netpol-analyzer's lenient decoding (Go's \
     encoding/json matches field names case-insensitively) keeps pod-a: its 3 pairs cannot match",
    ),
];

/// Error diagnostics that a selected scenario is expected to produce: (scenario, file name, why it is fine).
const EXPECTED_LOAD_ERRORS: &[(&str, &str, &str)] = &[
    (
        "anp_test_named_ports_multiple_peers",
        "policies.yaml",
        "a rule with a `networks` peer names a port (`namedPort: dns`): the CRD's validation rule forbids named ports \
         with nodes/networks peers, so the API server refuses AdminNetworkPolicy egress-peer-1 (see KNOWN_DIVERGENCES)",
    ),
    (
        "netpol_named_port_test",
        "pods.yaml",
        "Deployment pod-a spells `containerport`: invalid for the API server; pod-a has no connections anyway",
    ),
    (
        "netpol_named_port_test_2",
        "pods.yaml",
        "Deployment pod-a spells `containerport`: invalid for the API server (see KNOWN_DIVERGENCES)",
    ),
];

/// netpol-analyzer's admin-policy scenarios often write a `pods` peer with only a `namespaceSelector`. The CRD
/// requires `podSelector` there, so the API server refuses those policies, and netseg does too; netpol-analyzer
/// decodes the missing selector as `{}` (every pod). Such dirs are compared with the selector set to `{}`, which
/// is what their answers mean, after recording netseg's refusal as expected.
const MISSING_POD_SELECTOR: &str = "the CRD requires `pods.podSelector`; netpol-analyzer reads it as `{}`, and the \
     dir is compared with `{}` filled in";

fn is_missing_pod_selector(diagnostic: &netseg_model::Diagnostic) -> bool {
    diagnostic.severity == Severity::Error
        && diagnostic.object.as_ref().is_some_and(|o| o.kind.contains("AdminNetworkPolicy"))
        && diagnostic.field.as_deref().is_some_and(|f| f.ends_with(".pods.podSelector"))
}

/// Loads the dir's YAML with every admin `pods` selection that lacks `podSelector` given `podSelector: {}`.
fn load_with_pod_selectors_defaulted(dir: &Path) -> Inventory {
    use netseg_model::yaml::{Node, Value};
    fn patch(node: &mut Node) {
        match &mut node.value {
            Value::Map(entries) => {
                for (key, value) in entries.iter_mut() {
                    if key == "pods" {
                        if let Value::Map(fields) = &mut value.value {
                            if !fields.iter().any(|(k, _)| k == "podSelector") {
                                let line = value.line;
                                fields.push(("podSelector".into(), Node { value: Value::Map(Vec::new()), line }));
                            }
                        }
                    }
                    patch(value);
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(patch),
            _ => {}
        }
    }
    let mut inventory = Inventory::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (documents, _) = netseg_model::yaml::parse_all(&text);
        let file: std::sync::Arc<str> = std::sync::Arc::from(path.display().to_string());
        for mut document in documents {
            // The admin-policy dirs hold plain objects, one a document; lists are not among them.
            if !matches!(document.value, Value::Map(_)) || document.get("items").is_some() {
                continue;
            }
            patch(&mut document);
            netseg_model::load_embedded_object(&mut inventory, file.clone(), &document);
        }
    }
    inventory
}

const INGRESS_CONTROLLER: &str = "{ingress-controller}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    ExpectsError,
    MultiNetwork,
    SameOwner,
    HostNetwork,
    UnmodelledKinds,
}

impl Skip {
    fn reason(self) -> &'static str {
        match self {
            Skip::ExpectsError => "the Go test expects an error for the default list",
            Skip::MultiNetwork => "multi-network (udn_/cudn_/nad_/VM): outside plain NetworkPolicy",
            Skip::SameOwner => "example_pods_w_same_owner_*: netpol-analyzer replica-collapsing quirk",
            Skip::HostNetwork => "answer depends on netpol-analyzer selecting hostNetwork pods (README)",
            Skip::UnmodelledKinds => "contains other connectivity kinds netseg does not model",
        }
    }
}

/// One directed pair of netpol-analyzer node names.
type Pair = (String, String);
type Pairs = BTreeMap<Pair, PortSet>;
/// An inclusive IPv4 range, as numbers.
type Range = (u32, u32);

#[derive(Default)]
struct Tally {
    /// Pairs listed by either side.
    compared: usize,
    matched: usize,
}

struct Outcome {
    name: String,
    workload: Tally,
    external: Tally,
    /// Ordered workload pairs and (workload, external range) pairs evaluated.
    workload_pairs_evaluated: usize,
    external_pairs_evaluated: usize,
    mismatches: Vec<String>,
    renames: Vec<String>,
    unexpected_errors: Vec<String>,
    expected_errors: Vec<String>,
    ingress_controller_lines: usize,
}

impl Outcome {
    fn new(name: &str) -> Outcome {
        Outcome {
            name: name.to_string(),
            workload: Tally::default(),
            external: Tally::default(),
            workload_pairs_evaluated: 0,
            external_pairs_evaluated: 0,
            mismatches: Vec::new(),
            renames: Vec::new(),
            unexpected_errors: Vec::new(),
            expected_errors: Vec::new(),
            ingress_controller_lines: 0,
        }
    }

    fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.unexpected_errors.is_empty()
    }
}

/// The JSON reader drops what no decoder reads of a pod or a workload (probes, resources, most of its status)
/// without building it: on every JSON input of the corpus (`kubectl` dumps and API lists of pods, namespaces and
/// policies), what it reads must be what the whole read gives.
#[test]
fn json_inputs_read_alike_with_what_no_decoder_reads_dropped() {
    let Some(root) = shared_data::shared_set("corpus/netpol-analyzer", "index.json") else { return };
    let mut files = Vec::new();
    let mut dirs = vec![root.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a corpus folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "the corpus holds JSON inputs: {}", files.len());
    let mut workloads = 0;
    for path in &files {
        let bytes = std::fs::read(path).expect("read a corpus file");
        let read = |whole_json_objects| {
            let mut inventory = Inventory::default();
            inventory.limits.parse.whole_json_objects = whole_json_objects;
            netseg_model::load_bytes(&mut inventory, path.display().to_string().into(), &bytes, true);
            let i = &inventory;
            let read = format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                i.namespaces, i.workloads, i.services, i.policies, i.config_maps, i.unmodelled, i.diagnostics
            );
            (read, i.workloads.len())
        };
        let (narrow, count) = read(false);
        assert_eq!(narrow, read(true).0, "{}", path.display());
        workloads += count;
    }
    assert!(workloads > 100, "the corpus's JSON inputs hold pods: {workloads}");
}

#[test]
fn netpol_analyzer_connlist_conformance() {
    let Some(root) = shared_data::shared_set("corpus/netpol-analyzer", "index.json") else { return };
    let index_path = root.join("index.json");
    let index_text = std::fs::read_to_string(&index_path).expect("read index.json");
    let index: Value = serde_json::from_str(&index_text).expect("index.json is JSON");
    let scenarios = index["scenarios"].as_object().expect("index.json has scenarios");
    let mut names: Vec<&String> = scenarios.keys().collect();
    names.sort();

    let mut considered = 0usize;
    let mut skipped: BTreeMap<Skip, Vec<String>> = BTreeMap::new();
    let mut jobs = Vec::new();
    for name in names {
        let scenario = &scenarios[name.as_str()];
        let Some(expected_txt) = default_connlist_txt(scenario) else { continue };
        considered += 1;
        let dir = root.join("tests").join(name);
        if let Some(skip) = skip_reason(name, scenario, &dir) {
            skipped.entry(skip).or_default().push(name.clone());
            if skip == Skip::HostNetwork {
                // What does not depend on hostNetwork pods is still comparable, and compared apart.
                jobs.push(Job {
                    name: name.clone(),
                    dir,
                    expected: root.join(expected_txt),
                    without_host_network: true,
                });
            }
            continue;
        }
        jobs.push(Job { name: name.clone(), dir, expected: root.join(expected_txt), without_host_network: false });
    }
    let (mut outcomes, mut partial) = (Vec::new(), Vec::new());
    for (outcome, job) in run_all(&jobs).into_iter().zip(&jobs) {
        if job.without_host_network {
            partial.push(outcome);
        } else {
            outcomes.push(outcome);
        }
    }

    print_report(considered, &skipped, &outcomes, &partial);

    let unexpected: Vec<&str> = outcomes
        .iter()
        .chain(&partial)
        .filter(|o| !o.passed() && known_divergence(&o.name).is_none())
        .map(|o| o.name.as_str())
        .collect();
    assert!(!outcomes.is_empty(), "no scenario was compared: is the corpus complete?");
    assert!(unexpected.is_empty(), "{} scenario(s) differ from netpol-analyzer: {unexpected:?}", unexpected.len());
}

fn known_divergence(name: &str) -> Option<&'static str> {
    KNOWN_DIVERGENCES.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

struct Job {
    name: String,
    dir: PathBuf,
    expected: PathBuf,
    without_host_network: bool,
}

/// Runs the jobs on all cores (a few large ipBlock scenarios dominate); outcomes in job order.
fn run_all(jobs: &[Job]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let outcome = run_scenario(&job.name, &job.dir, &job.expected, job.without_host_network);
                results.lock().expect("no worker panicked")[i] = Some(outcome);
            });
        }
    });
    results.into_inner().expect("no worker panicked").into_iter().map(|o| o.expect("every job ran")).collect()
}

/// The `.txt` answer of the scenario's default connectivity list, if it has one.
fn default_connlist_txt(scenario: &Value) -> Option<&str> {
    scenario["connlist"]
        .as_array()?
        .iter()
        .filter(|c| c["options"].as_object().is_some_and(|o| o.is_empty()))
        .flat_map(|c| c["expected"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .find(|path| path.ends_with(".txt"))
}

fn skip_reason(name: &str, scenario: &Value, dir: &Path) -> Option<Skip> {
    if expects_error(name, scenario) {
        return Some(Skip::ExpectsError);
    }
    if MULTI_NETWORK_PREFIXES.iter().any(|p| name.starts_with(p)) || MULTI_NETWORK_DIRS.contains(&name) {
        return Some(Skip::MultiNetwork);
    }
    if name.starts_with(SAME_OWNER_PREFIX) {
        return Some(Skip::SameOwner);
    }
    if HOST_NETWORK_DIRS.contains(&name) {
        return Some(Skip::HostNetwork);
    }
    let kinds = kinds_in(dir);
    if UNMODELLED_KINDS.iter().any(|k| kinds.contains(*k)) {
        return Some(Skip::UnmodelledKinds);
    }
    None
}

/// Whether the Go tests expect the default list of this dir to fail (a fatal error, or an empty result).
fn expects_error(name: &str, scenario: &Value) -> bool {
    scenario["errors"].as_array().into_iter().flatten().any(|error| {
        let this_dir = error["dirName"].as_str().is_none_or(|d| d == name);
        let default_options = OPTION_KEYS.iter().all(|k| error.get(*k).is_none())
            && error["multipleNetworksEnabled"].as_bool() != Some(true);
        let fails = error["kind"].as_str().is_some_and(|k| k.starts_with("fatal"))
            || error["empty_result"].as_bool() == Some(true);
        this_dir && default_options && fails
    })
}

/// Every `kind: X` / `"kind": "X"` value in the dir's YAML and JSON files (a cheap text scan, owner references
/// included, which is harmless for the kinds looked for).
fn kinds_in(dir: &Path) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
            continue;
        }
        let is_input = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"));
        if !is_input {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let mut rest: &str = &text;
        while let Some(at) = rest.find("kind") {
            let before = rest[..at].chars().next_back();
            let after = rest[at + 4..].trim_start_matches(['"', '\'']).trim_start();
            rest = &rest[at + 4..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            let Some(value) = after.strip_prefix(':') else { continue };
            let value = value.trim_start().trim_start_matches(['"', '\'']);
            let end = value.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(value.len());
            if end > 0 {
                kinds.insert(value[..end].to_string());
            }
        }
    }
    kinds
}

/// `without_host_network`: leave out every pair with an end that has a hostNetwork pod (for the dirs whose answers
/// rely on netpol-analyzer's policy selection of such pods).
fn run_scenario(name: &str, dir: &Path, expected_path: &Path, without_host_network: bool) -> Outcome {
    let mut outcome = Outcome::new(name);
    let (mut cluster, mut diagnostics) = netseg_model::load_cluster(&[Input::Path(dir.to_path_buf())], None);
    // The answer was computed as if the missing selector were `{}`; so is this comparison, once the refusal is
    // recorded as expected.
    let mut inventory = netseg_model::load(&[Input::Path(dir.to_path_buf())], None);
    if diagnostics.iter().any(is_missing_pod_selector) {
        for diagnostic in diagnostics.iter().filter(|d| is_missing_pod_selector(d)) {
            outcome.expected_errors.push(format!("{diagnostic}\n    expected: {MISSING_POD_SELECTOR}"));
        }
        inventory = load_with_pod_selectors_defaulted(dir);
        diagnostics = std::mem::take(&mut inventory.diagnostics);
        cluster = Cluster::from_inventory(load_with_pod_selectors_defaulted(dir));
    }
    for diagnostic in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
        let file = Path::new(diagnostic.file.as_ref()).file_name().and_then(|f| f.to_str()).unwrap_or("");
        let text = diagnostic.to_string();
        match EXPECTED_LOAD_ERRORS.iter().find(|(n, f, _)| *n == name && *f == file) {
            Some((_, _, why)) => outcome.expected_errors.push(format!("{text}\n    expected: {why}")),
            None => outcome.unexpected_errors.push(text),
        }
    }
    // The owners of the objects read, which the cluster no longer carries, to name workloads as netpol-analyzer does.
    let names = analyzer_names(&cluster, &inventory, &mut outcome);

    let text = match std::fs::read_to_string(expected_path) {
        Ok(text) => text,
        Err(error) => {
            outcome.mismatches.push(format!("cannot read {}: {error}", expected_path.display()));
            return outcome;
        }
    };
    let mut expected_workload = Pairs::new();
    let mut expected_external = Pairs::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok((src, _, _)) if src == INGRESS_CONTROLLER => outcome.ingress_controller_lines += 1,
            Ok((src, dst, ports)) => {
                let target = if is_external(&src) || is_external(&dst) {
                    &mut expected_external
                } else {
                    &mut expected_workload
                };
                target.insert((src, dst), ports);
            }
            Err(error) => outcome.mismatches.push(format!("expected line {}: {error}: `{line}`", number + 1)),
        }
    }

    let known: BTreeSet<&str> = names.iter().flatten().map(String::as_str).collect();
    let unknown: BTreeSet<&String> = expected_workload
        .keys()
        .chain(expected_external.keys())
        .flat_map(|(src, dst)| [src, dst])
        .filter(|node| !is_external(node) && !known.contains(node.as_str()))
        .collect();
    for node in unknown {
        outcome.mismatches.push(format!("the answer names workload {node}, which netseg does not have"));
    }

    let analysis = Analysis::new(&cluster);
    let compared: Vec<usize> = (0..cluster.workloads.len())
        .filter(|&w| !without_host_network || !cluster.workloads[w].pods.iter().any(|p| p.facts.host_network))
        .collect();
    let left_out: BTreeSet<&String> = (0..cluster.workloads.len())
        .filter(|w| !compared.contains(w))
        .flat_map(|w| &names[w])
        .filter(|name| !compared.iter().any(|&c| names[c].contains(name)))
        .collect();
    let keep = |(src, dst): &Pair, _: &mut PortSet| !left_out.contains(src) && !left_out.contains(dst);

    outcome.workload_pairs_evaluated = compared.len() * compared.len().saturating_sub(1);
    let mut actual_workload = Pairs::new();
    for connection in analysis.workload_connections() {
        record(&mut actual_workload, &names[connection.src], &names[connection.dst], &connection.allowed);
    }
    expected_workload.retain(keep);
    actual_workload.retain(keep);
    outcome.workload = compare("workload", &expected_workload, &actual_workload, &mut outcome.mismatches);

    let (sources, destinations) = external_nodes(&cluster);
    let refinement: BTreeSet<String> =
        sources.iter().chain(&destinations).map(|&(start, end)| external_name(start, end)).collect();
    let strays: BTreeSet<&String> = expected_external
        .keys()
        .flat_map(|(src, dst)| [src, dst])
        .filter(|node| is_external(node) && !refinement.contains(*node))
        .collect();
    for node in strays {
        outcome.mismatches.push(format!("the answer's external node {node} is not in the computed ipBlock refinement"));
    }
    outcome.external_pairs_evaluated = compared.len() * (sources.len() + destinations.len());
    let mut actual_external = Pairs::new();
    for &w in &compared {
        let pods = 0..cluster.workloads[w].pods.len();
        for &(start, end) in &destinations {
            let address = Endpoint::Address(IpAddr::V4(Ipv4Addr::from(start)));
            let allowed = pods.clone().fold(PortSet::empty(), |acc, pod| {
                acc.union(&analysis.allowed(Endpoint::Pod { workload: w, pod }, address))
            });
            record(&mut actual_external, &names[w], &[external_name(start, end)], &allowed);
        }
        for &(start, end) in &sources {
            let address = Endpoint::Address(IpAddr::V4(Ipv4Addr::from(start)));
            let allowed = pods.clone().fold(PortSet::empty(), |acc, pod| {
                acc.union(&analysis.allowed(address, Endpoint::Pod { workload: w, pod }))
            });
            record(&mut actual_external, &[external_name(start, end)], &names[w], &allowed);
        }
    }
    expected_external.retain(keep);
    actual_external.retain(keep);
    outcome.external = compare("external", &expected_external, &actual_external, &mut outcome.mismatches);
    outcome
}

/// For each netseg workload, the netpol-analyzer node names of the objects it stands for. netpol-analyzer names a
/// pod with a controller owner after that owner (`ns/web-5d9f[ReplicaSet]`, even when the ReplicaSet's Deployment
/// is in the input) and a workload manifest after itself; netseg folds pods and ReplicaSets into the top owner
/// found in the input.
fn analyzer_names(cluster: &Cluster, inventory: &Inventory, outcome: &mut Outcome) -> Vec<Vec<String>> {
    let mut names: Vec<BTreeSet<String>> = vec![BTreeSet::new(); cluster.workloads.len()];
    let by_id: HashMap<String, usize> =
        cluster.workloads.iter().enumerate().map(|(i, w)| (w.id.to_string(), i)).collect();
    let by_pod: HashMap<(&str, &str), usize> = cluster
        .workloads
        .iter()
        .enumerate()
        .flat_map(|(i, w)| w.pods.iter().filter_map(move |p| Some(((w.id.namespace.as_str(), p.name.as_deref()?), i))))
        .collect();
    let objects: HashMap<(String, String, String), usize> = inventory
        .workloads
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.id.namespace.clone(), o.id.kind.as_str().to_string(), o.id.name.clone()), i))
        .collect();
    for object in &inventory.workloads {
        let namespace = &object.id.namespace;
        let (analyzer_name, netseg) = if object.id.kind == WorkloadKind::Pod {
            let analyzer_name = match &object.owner {
                Some(owner) if owner.kind != "Node" => format!("{namespace}/{}[{}]", owner.name, owner.kind),
                _ => object.id.to_string(),
            };
            (analyzer_name, by_pod.get(&(namespace.as_str(), object.id.name.as_str())).copied())
        } else {
            // Follow the owners present in the input to the top, as netseg does (bounded against cycles).
            let mut top = object;
            for _ in 0..8 {
                let next = top
                    .owner
                    .as_ref()
                    .and_then(|owner| objects.get(&(namespace.clone(), owner.kind.clone(), owner.name.clone())));
                match next {
                    Some(&i) if inventory.workloads[i].id != top.id => top = &inventory.workloads[i],
                    _ => break,
                }
            }
            (object.id.to_string(), by_id.get(&top.id.to_string()).copied())
        };
        match netseg {
            Some(w) => {
                names[w].insert(analyzer_name);
            }
            None => outcome.mismatches.push(format!("{analyzer_name}: no netseg workload found for it")),
        }
    }
    let mut owners: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (w, set) in names.iter_mut().enumerate() {
        let id = cluster.workloads[w].id.to_string();
        if set.is_empty() {
            set.insert(id.clone());
        }
        if set.len() != 1 || !set.contains(&id) {
            outcome.renames.push(format!("{id} <- {}", set.iter().cloned().collect::<Vec<_>>().join(", ")));
        }
        for name in set.iter() {
            owners.entry(name).or_default().push(id.clone());
        }
    }
    for (name, ids) in owners.iter().filter(|(_, ids)| ids.len() > 1) {
        outcome.renames.push(format!("{name} -> {} (netseg keeps them apart)", ids.join(", ")));
    }
    names.into_iter().map(|set| set.into_iter().collect()).collect()
}

/// Adds a netseg connection under every netpol-analyzer name of its ends (union where names coincide).
fn record(pairs: &mut Pairs, sources: &[String], destinations: &[String], allowed: &PortSet) {
    if allowed.is_empty() {
        return;
    }
    for src in sources {
        for dst in destinations.iter().filter(|d| *d != src) {
            let entry = pairs.entry((src.clone(), dst.clone())).or_default();
            *entry = entry.union(allowed);
        }
    }
}

fn compare(what: &str, expected: &Pairs, actual: &Pairs, mismatches: &mut Vec<String>) -> Tally {
    let keys: BTreeSet<&Pair> = expected.keys().chain(actual.keys()).collect();
    let mut tally = Tally { compared: keys.len(), matched: 0 };
    for key @ (src, dst) in keys {
        match (expected.get(key), actual.get(key)) {
            (Some(e), Some(a)) if e == a => tally.matched += 1,
            (Some(e), Some(a)) => mismatches.push(format!(
                "{what} {src} => {dst}: expected `{}`, netseg `{}`",
                ports_text(e),
                ports_text(a)
            )),
            (Some(e), None) => {
                mismatches.push(format!("{what} {src} => {dst}: expected `{}`, netseg allows nothing", ports_text(e)))
            }
            (None, Some(a)) => {
                mismatches.push(format!("{what} {src} => {dst}: not expected, netseg `{}`", ports_text(a)))
            }
            (None, None) => unreachable!("key from one of the maps"),
        }
    }
    tally
}

/// `src => dst : conns`.
fn is_external(node: &str) -> bool {
    node.ends_with("[External]")
}

fn external_name(start: u32, end: u32) -> String {
    format!("{}-{}[External]", Ipv4Addr::from(start), Ipv4Addr::from(end))
}

/// The external nodes netpol-analyzer lists: the disjoint refinement of every IPv4 ipBlock in the policies'
/// ingress `from` (sources), resp. egress `to` (destinations), plus 0.0.0.0/0, as contiguous ranges. Rules are
/// taken as written, whatever `policyTypes` says.
fn external_nodes(cluster: &Cluster) -> (Vec<Range>, Vec<Range>) {
    let blocks = |rules: fn(&netseg_model::NetworkPolicy) -> &[PolicyRule]| -> Vec<&IpBlock> {
        cluster
            .policies
            .iter()
            .flat_map(|p| rules(p).iter())
            .flat_map(|r| r.peers.iter())
            .filter_map(|peer| match &peer.selector {
                PeerSelector::IpBlock(block) => Some(block),
                PeerSelector::Pods { .. } => None,
            })
            .collect()
    };
    // Admin `networks` peers are egress-only; netpol-analyzer refines its destinations by them as by ipBlocks.
    let networks: Vec<IpBlock> = cluster
        .admin_policies
        .iter()
        .flat_map(|p| &p.egress)
        .flat_map(|r| &r.peers)
        .filter_map(|peer| match &peer.selector {
            AdminPeerSelector::Networks(cidrs) => Some(cidrs),
            _ => None,
        })
        .flatten()
        .map(|cidr| IpBlock { cidr: *cidr, except: Vec::new() })
        .collect();
    let mut egress = blocks(|p| &p.egress);
    egress.extend(networks.iter());
    (refine(&blocks(|p| &p.ingress)), refine(&egress))
}

fn refine(blocks: &[&IpBlock]) -> Vec<Range> {
    let mut cuts: BTreeSet<u64> = BTreeSet::from([0]);
    for block in blocks {
        for (start, end) in block_ranges(block) {
            cuts.insert(start);
            cuts.insert(end + 1);
        }
    }
    let cuts: Vec<u64> = cuts.into_iter().filter(|&c| c <= u64::from(u32::MAX)).collect();
    cuts.iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = cuts.get(i + 1).map_or(u64::from(u32::MAX), |next| next - 1);
            (u32::try_from(start).expect("IPv4"), u32::try_from(end).expect("IPv4"))
        })
        .collect()
}

/// The block as disjoint, non-adjacent IPv4 ranges (cidr minus excepts); empty for IPv6.
fn block_ranges(block: &IpBlock) -> Vec<(u64, u64)> {
    let v4 = |cidr: &Cidr| -> Option<(u64, u64)> {
        let (start, end) = cidr.bounds();
        cidr.network.is_ipv4().then(|| (u64::try_from(start).expect("IPv4"), u64::try_from(end).expect("IPv4")))
    };
    let Some(whole) = v4(&block.cidr) else { return Vec::new() };
    let mut ranges = vec![whole];
    for (cut_start, cut_end) in block.except.iter().filter_map(v4) {
        ranges = ranges
            .into_iter()
            .flat_map(|(s, e)| {
                let mut left = Vec::new();
                if cut_end < s || cut_start > e {
                    left.push((s, e));
                } else {
                    if s < cut_start {
                        left.push((s, cut_start - 1));
                    }
                    if cut_end < e {
                        left.push((cut_end + 1, e));
                    }
                }
                left
            })
            .collect();
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 + 1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

fn print_report(considered: usize, skipped: &BTreeMap<Skip, Vec<String>>, outcomes: &[Outcome], partial: &[Outcome]) {
    let mut out = String::new();
    let _ = writeln!(out, "\n=== netpol-analyzer connlist conformance ===");
    for outcome in outcomes.iter().chain(partial) {
        if outcome.unexpected_errors.is_empty() && outcome.expected_errors.is_empty() {
            continue;
        }
        let _ = writeln!(out, "load errors in {}:", outcome.name);
        for error in &outcome.unexpected_errors {
            let _ = writeln!(out, "  UNEXPECTED {error}");
        }
        for error in &outcome.expected_errors {
            let _ = writeln!(out, "  {error}");
        }
    }
    let renamed: Vec<&Outcome> = outcomes.iter().chain(partial).filter(|o| !o.renames.is_empty()).collect();
    if !renamed.is_empty() {
        let _ =
            writeln!(out, "naming: netseg names these workloads differently; pairs were mapped (netseg <- analyzer):");
        for outcome in &renamed {
            let _ = writeln!(out, "  {}:", outcome.name);
            for rename in &outcome.renames {
                let _ = writeln!(out, "    {rename}");
            }
        }
    }
    for outcome in outcomes.iter().chain(partial).filter(|o| !o.passed()) {
        let label = match known_divergence(&outcome.name) {
            Some(why) => format!("KNOWN DIVERGENCE, allow-listed ({why})"),
            None => "FAILED".to_string(),
        };
        let _ = writeln!(out, "{label}: {} ({} mismatches)", outcome.name, outcome.mismatches.len());
        for mismatch in outcome.mismatches.iter().take(25) {
            let _ = writeln!(out, "  {mismatch}");
        }
        if outcome.mismatches.len() > 25 {
            let _ = writeln!(out, "  ... and {} more", outcome.mismatches.len() - 25);
        }
        for error in &outcome.unexpected_errors {
            let _ = writeln!(out, "  unexpected load error: {}", error.lines().next().unwrap_or(""));
        }
    }
    for (name, file, _) in EXPECTED_LOAD_ERRORS {
        if outcomes.iter().chain(partial).any(|o| o.name == *name && o.expected_errors.is_empty()) {
            let _ = writeln!(out, "note: the load error expected in {name}/{file} did not occur; update the list");
        }
    }
    for (name, why) in KNOWN_DIVERGENCES {
        if outcomes.iter().chain(partial).any(|o| o.name == *name && o.passed()) {
            let _ = writeln!(out, "note: {name} is allow-listed ({why}) but passes now; remove it from the list");
        }
    }

    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let allowed = outcomes.iter().filter(|o| !o.passed() && known_divergence(&o.name).is_some()).count();
    let skipped_total: usize = skipped.values().map(Vec::len).sum();
    let _ = writeln!(out, "\n--- summary ---");
    let _ = writeln!(out, "scenarios considered (default connlist with a .txt answer) {considered:>5}");
    let _ = writeln!(out, "  compared                                                {:>5}", outcomes.len());
    let _ = writeln!(out, "    passed                                                {:>5}", outcomes.len() - failed);
    let _ = writeln!(out, "    failed                                                {failed:>5}");
    let _ = writeln!(out, "      of which allow-listed divergences                   {allowed:>5}");
    let _ = writeln!(out, "  skipped                                                 {skipped_total:>5}");
    for skip in [Skip::ExpectsError, Skip::MultiNetwork, Skip::SameOwner, Skip::HostNetwork, Skip::UnmodelledKinds] {
        let names = skipped.get(&skip).map_or(&[][..], Vec::as_slice);
        let _ = writeln!(out, "    {:<70} {:>5}", skip.reason(), names.len());
        if !names.is_empty() {
            let _ = writeln!(out, "      {}", names.join(", "));
        }
    }
    let mut pairs_table = |label: &str, outcomes: &[Outcome]| {
        let sum = |f: fn(&Outcome) -> usize| -> usize { outcomes.iter().map(f).sum() };
        let _ = writeln!(
            out,
            "{label}\n  workload pairs: {:>6} evaluated, {:>5} listed by either side, {:>5} matched\n  \
             external pairs: {:>6} evaluated, {:>5} listed by either side, {:>5} matched",
            sum(|o| o.workload_pairs_evaluated),
            sum(|o| o.workload.compared),
            sum(|o| o.workload.matched),
            sum(|o| o.external_pairs_evaluated),
            sum(|o| o.external.compared),
            sum(|o| o.external.matched),
        );
    };
    pairs_table("compared scenarios:", outcomes);
    let partial_failed = partial.iter().filter(|o| !o.passed()).count();
    pairs_table(
        &format!(
            "hostNetwork scenarios, pairs with a hostNetwork end left out ({} compared, {} passed, {} failed):",
            partial.len(),
            partial.len() - partial_failed,
            partial_failed
        ),
        partial,
    );
    let ingress_lines: usize = outcomes.iter().map(|o| o.ingress_controller_lines).sum();
    let _ = writeln!(out, "`{INGRESS_CONTROLLER}` lines filtered out (Ingress/Route not modelled): {ingress_lines}");
    let _ = writeln!(out, "scenarios with workloads named differently (mapped): {}", renamed.len());
    print!("{out}");
}

// ---------------------------------------------------------------------------------------------------------------
// The harness's own pieces
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn connection_strings_parse_as_format_md_describes() {
    let parse = |text: &str| parse_ports(text).expect(text);
    assert_eq!(parse("All Connections"), PortSet::all());
    assert_eq!(parse("TCP 8080,UDP 80,5000-6000"), {
        PortSet::from_ranges(&[(Protocol::Tcp, 8080, 8080), (Protocol::Udp, 80, 80), (Protocol::Udp, 5000, 6000)])
    });
    let all_but_tcp_80 = parse("SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535");
    assert!(!all_but_tcp_80.contains(Protocol::Tcp, 80) && all_but_tcp_80.contains(Protocol::Udp, 80));
    assert_eq!(ports_text(&all_but_tcp_80), "SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535");
    assert_eq!(ports_text(&parse("TCP 10053-10054,UDP 10053")), "TCP 10053-10054,UDP 10053");
    assert!(parse_ports("8080").is_err() && parse_ports("TCP 0").is_err() && parse_ports("ICMP 1").is_err());
    let line = parse_line("0.0.0.0-9.255.255.255[External] => default/a[Deployment] : TCP 80").expect("line");
    assert_eq!(line.1, "default/a[Deployment]");
}

#[test]
fn external_nodes_are_the_contiguous_ranges_of_the_refinement() {
    let block = |cidr: &str, except: &[&str]| IpBlock {
        cidr: cidr.parse().expect("cidr"),
        except: except.iter().map(|e| e.parse().expect("cidr")).collect(),
    };
    let a = block("10.0.0.0/8", &["10.10.0.0/16"]);
    let b = block("10.0.0.0/16", &[]);
    let names: Vec<String> = refine(&[&a, &b]).into_iter().map(|(s, e)| external_name(s, e)).collect();
    assert_eq!(
        names,
        [
            "0.0.0.0-9.255.255.255[External]",
            "10.0.0.0-10.0.255.255[External]",
            "10.1.0.0-10.9.255.255[External]",
            "10.10.0.0-10.10.255.255[External]",
            "10.11.0.0-10.255.255.255[External]",
            "11.0.0.0-255.255.255.255[External]",
        ]
    );
    // Adjacent excepts leave one hole, not two.
    let c = block("10.0.0.0/8", &["10.0.0.0/16", "10.1.0.0/16"]);
    assert_eq!(refine(&[&c]).len(), 3);
    assert_eq!(refine(&[]), [(0, u32::MAX)]);
}

#[test]
fn owner_named_pods_map_to_the_workload_netseg_folds_them_into() {
    let text = concat!(
        "kind: Deployment\nmetadata: {name: web, namespace: a}\nspec: {template: {metadata: {labels: {app: web}}}}\n",
        "---\nkind: ReplicaSet\nmetadata: {name: web-1, namespace: a, ",
        "ownerReferences: [{kind: Deployment, name: web, controller: true}]}\n",
        "---\nkind: Pod\nmetadata: {name: web-1-x, namespace: a, labels: {app: web}, ",
        "ownerReferences: [{kind: ReplicaSet, name: web-1, controller: true}]}\n",
        "---\nkind: Pod\nmetadata: {name: db-7-y, namespace: a, ",
        "ownerReferences: [{kind: ReplicaSet, name: db-7, controller: true}]}\n",
        "---\nkind: Pod\nmetadata: {name: etcd-node1, namespace: kube-system, ",
        "ownerReferences: [{kind: Node, name: node1, controller: true}]}\n",
    );
    let inventory = || {
        let mut inventory = Inventory::default();
        netseg_model::load_bytes(&mut inventory, std::sync::Arc::from("t.yaml"), text.as_bytes(), false);
        inventory
    };
    let cluster = Cluster::from_inventory(inventory());
    let mut outcome = Outcome::new("t");
    let names = analyzer_names(&cluster, &inventory(), &mut outcome);
    let by_id: BTreeMap<String, Vec<String>> = cluster.workloads.iter().map(|w| w.id.to_string()).zip(names).collect();
    assert_eq!(by_id["a/web[Deployment]"], ["a/web-1[ReplicaSet]", "a/web[Deployment]"]);
    assert_eq!(by_id["a/db-7[ReplicaSet]"], ["a/db-7[ReplicaSet]"]);
    assert_eq!(by_id["kube-system/etcd-node1[Pod]"], ["kube-system/etcd-node1[Pod]"]);
    assert!(outcome.mismatches.is_empty(), "{:?}", outcome.mismatches);
    assert_eq!(outcome.renames, ["a/web[Deployment] <- a/web-1[ReplicaSet], a/web[Deployment]"]);
}
