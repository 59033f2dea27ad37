//! Runs the real `netseg` binary on fixture trees: exit statuses, output contracts, diagnostics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod apiserver;
mod audit;
mod bad_input;
mod browser;
mod calico;
mod can;
mod ci;
mod cilium;
mod completions;
mod diff;
mod docs;
mod generate;
mod generate_cuts;
mod generate_dialect;
mod generate_mesh;
mod hostile;
mod input_errors;
mod intent;
mod intent_fixtures;
mod live;
mod mesh;
mod nca;
mod platform;
mod reach;
mod realworld;
mod sarif;
mod scale;
mod schemas;
mod synthetic;
mod witness;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the third-party test data is: `relative` under the folder named by `NETSEG_SHARED_DIR` (holding
/// `corpus/` and `realworld/`), else under a folder `shared` beside the checkout, when `marker` (a file in it) is
/// there. Otherwise a note and `None`, or a failure when `NETSEG_REQUIRE_CORPUS=1` (CI) requires the data. The
/// engine's conformance tests find it the same way (`crates/engine/tests/shared_data`).
fn shared_set(relative: &str, marker: &str) -> Option<PathBuf> {
    let shared = std::env::var_os("NETSEG_SHARED_DIR").map_or_else(|| repo_root().join("../shared"), PathBuf::from);
    let dir = shared.join(relative);
    let dir = dir.canonicalize().unwrap_or(dir);
    if dir.join(marker).is_file() {
        return Some(dir);
    }
    let missing =
        format!("{} not found (NETSEG_SHARED_DIR names the folder holding corpus/ and realworld/)", dir.display());
    assert!(
        std::env::var("NETSEG_REQUIRE_CORPUS").map_or(true, |v| v != "1"),
        "{missing}, and NETSEG_REQUIRE_CORPUS=1 requires it"
    );
    println!("{missing}: skipped");
    None
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

/// Relative to the repository root, where the binary runs, so that paths in snapshots do not depend on the checkout.
fn example(name: &str) -> String {
    format!("examples/{name}")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn netseg(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_netseg"))
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run netseg");
    let run = finish(output);
    schemas::check_json_output(args, &run);
    run
}

fn netseg_stdin(args: &[&str], input: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netseg"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netseg");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let run = finish(child.wait_with_output().expect("wait"));
    schemas::check_json_output(args, &run);
    run
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The `src -> dst` pairs of a reach JSON answer.
fn pairs(reach: &serde_json::Value) -> Vec<(String, String)> {
    reach["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| (c["src"].as_str().unwrap_or_default().to_string(), c["dst"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Writes files into a fresh directory: `[(relative path, contents)]`.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, contents) in files {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, contents).expect("write fixture");
    }
    dir
}

/// Validates SARIF against the official 2.1.0 schema, which `.ci/run` fetches from npm
/// (`@microsoft/jest-sarif` ships it) and names in NETSEG_SARIF_SCHEMA.
fn assert_valid_sarif(sarif: &serde_json::Value) {
    let Some(schema_path) = std::env::var_os("NETSEG_SARIF_SCHEMA") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_SARIF_SCHEMA");
        eprintln!("NETSEG_SARIF_SCHEMA not set: SARIF schema validation skipped (.ci/run sets it)");
        return;
    };
    // The official schema's `run.language` pattern has a stray `]`: a literal in ECMAScript regexes, an error in
    // Rust's. Escaping it keeps its meaning.
    let text =
        std::fs::read_to_string(schema_path).expect("read schema").replace(r"[a-zA-Z]{2}]?$", r"[a-zA-Z]{2}\\]?$");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let errors: Vec<String> = validator.iter_errors(sarif).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken), "the validator must reject an invalid level");
}
