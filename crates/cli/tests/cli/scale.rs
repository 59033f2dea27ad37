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

/// Regression: where the system starts no thread (a container's process limit), the loader, the factored answer
/// and NS147 each panicked spawning one (exit 101). Each now does the work on the calling thread, and the report is
/// the one a run with threads gives. An unprivileged user under `prlimit --nproc=1` gets no thread, so the test
/// needs root (to switch to `nobody`) and util-linux's `prlimit`; elsewhere it says it is skipped.
#[test]
fn audit_with_no_thread_to_spare_gives_the_report_a_run_with_threads_gives() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root || Command::new("prlimit").arg("--version").output().is_err() {
        println!("needs root and prlimit to run netseg without threads: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("cluster.json");
    // Large enough to be read on every core (256 KiB and more), with policies and the flows they declare.
    let spec = Spec {
        seed: 7,
        pods: 2_000,
        namespaces: 40,
        policies: 600,
        replicas: 2,
        form: Form::Dump,
        shape: Shape::Realistic,
        dialect: Dialect::NetworkPolicy,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut sink = JsonList::new(file).expect("start the list");
    generate(&spec, &mut sink).expect("generate");
    sink.finish().expect("finish the list");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(std::fs::metadata(&path).expect("size").len() > 256 << 10);
    let path = path.display().to_string();

    let with_threads = netseg(&["audit", "-o", "json", &path]);
    let without = Command::new("prlimit")
        .args(["--nproc=1", env!("CARGO_BIN_EXE_netseg"), "audit", "-o", "json", &path])
        .uid(65534)
        .gid(65534)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run netseg under prlimit");
    let without = finish(without);
    assert_eq!(without.code, with_threads.code, "{}", without.stderr);
    assert!(json(&with_threads.stdout)["findings"].as_array().is_some_and(|f| f.iter().any(|f| f["rule"] == "NS147")));
    assert_eq!(without.stdout, with_threads.stdout);
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
