//! Auditing a large flat cluster: no pair limit on the audit's path, one NS101 finding per namespace with counts
//! and a witness that `netseg can` confirms.

use super::*;
use netseg_gen::{generate, Dialect, Form, JsonList, Shape, Spec};
use std::collections::BTreeSet;

/// Writes a generated cluster with no policy, as a `kubectl get -o json` dump, to `path`.
pub(crate) fn write_flat_dump(path: &std::path::Path, seed: u64, pods: usize, namespaces: usize, replicas: usize) {
    let spec = Spec {
        seed,
        pods,
        namespaces,
        policies: 0,
        replicas,
        form: Form::Dump,
        shape: Shape::Realistic,
        dialect: Dialect::NetworkPolicy,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut sink = JsonList::new(file).expect("start the list");
    generate(&spec, &mut sink).expect("generate");
    sink.finish().expect("finish the list");
}

#[test]
fn a_flat_cluster_of_20000_pods_is_audited_with_one_ns101_per_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flat.json");
    write_flat_dump(&path, 1, 20_000, 200, 3);
    let path = path.display().to_string();

    let run = netseg(&["audit", "-o", "json", &path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = json(&run.stdout);
    let findings = report["findings"].as_array().expect("findings");
    let ns101: Vec<&serde_json::Value> = findings.iter().filter(|f| f["rule"] == "NS101").collect();
    let namespaces: BTreeSet<&str> = ns101.iter().filter_map(|f| f["resource"]["name"].as_str()).collect();
    // Every namespace but the CNI's own has workloads; each is reported once.
    assert_eq!(namespaces.len(), ns101.len(), "one finding per namespace");
    assert!(ns101.len() >= 190, "{} NS101 findings", ns101.len());
    for finding in &ns101 {
        let message = finding["message"].as_str().unwrap_or_default();
        assert!(message.contains("is reachable from") && message.contains("namespace(s)"), "{message}");
        assert!(finding["witness"].is_object(), "no witness: {finding}");
    }
    // The witnesses hold: `netseg can` allows each of a few of them (each run loads the whole cluster).
    for finding in ns101.iter().step_by(ns101.len() / 3) {
        let witness = &finding["witness"];
        let port = witness["port"].as_u64().unwrap_or_default().to_string();
        let can = netseg(&[
            "can",
            "--from",
            witness["from"].as_str().unwrap_or_default(),
            "--to",
            witness["to"].as_str().unwrap_or_default(),
            "--protocol",
            witness["protocol"].as_str().unwrap_or_default(),
            "--port",
            &port,
            &path,
        ]);
        assert_eq!(can.code, 0, "{witness}: {}{}", can.stdout, can.stderr);
    }
}
