//! The published output schemas, `schemas/netseg.<name>.v1.json`, hold every JSON output netseg writes.
//!
//! Every JSON document names its schema (`"schema": "netseg.audit/v1"`), and that name is the file's
//! (`schemas/netseg.audit.v1.json`). Each run of the binary in this test suite that asks for `-o json` is
//! validated against the schema its output names (`check_json_output`, called by the suite's runners), so the
//! whole suite, live clusters and hostile input included, holds the schemas; this file adds the runs that cover
//! every example with every argument shape, the HTML pages' embedded data, and the schemas' own checks.

use super::{example, json, netseg, repo_root, Run};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Every `netseg.*/v1` schema the renderers write (`netseg.report/v1` is the HTML pages' embedded data): a new one
/// needs its file in `schemas/` and its line here.
const SCHEMAS: &[&str] = &[
    "netseg.audit/v1",
    "netseg.reach/v1",
    "netseg.can/v1",
    "netseg.blast-radius/v1",
    "netseg.diff/v1",
    "netseg.report/v1",
];

/// `netseg.audit/v1` → `schemas/netseg.audit.v1.json`.
fn schema_path(name: &str) -> PathBuf {
    repo_root().join("schemas").join(format!("{}.json", name.replace('/', ".")))
}

fn load_schema(name: &str) -> Value {
    let path = schema_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn validator(name: &str) -> Arc<jsonschema::Validator> {
    static COMPILED: OnceLock<Mutex<BTreeMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut compiled = COMPILED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    compiled
        .entry(name.to_string())
        .or_insert_with(|| {
            let schema = load_schema(name);
            Arc::new(
                jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: the schema is invalid: {e}")),
            )
        })
        .clone()
}

fn schema_errors(value: &Value) -> Vec<String> {
    let Some(name) = value["schema"].as_str() else { return vec!["no `schema` string at the top".into()] };
    validator(name).iter_errors(value).map(|e| format!("{e} at `{}`", e.instance_path())).collect()
}

/// Fails unless `value` validates against the published schema it names.
pub fn assert_matches_schema(value: &Value) {
    let errors = schema_errors(value);
    assert!(errors.is_empty(), "{} does not match its schema:\n{}", value["schema"], errors.join("\n"));
}

/// Validates the output of a run that asked for JSON (`-o json`, `--output json`, `-ojson`, `--output=json`)
/// against the schema it names. Runs with nothing on stdout (usage errors) have nothing to check.
pub fn check_json_output(args: &[&str], run: &Run) {
    let asks_json = args.windows(2).any(|w| matches!(w[0], "-o" | "--output") && w[1] == "json")
        || args.iter().any(|a| matches!(*a, "-ojson" | "--output=json"));
    if asks_json && !run.stdout.trim().is_empty() {
        assert_matches_schema(&json(&run.stdout));
    }
}

/// The data an HTML page embeds in `<script type="application/json" id="netseg-data">`.
pub(crate) fn embedded_data(html: &str) -> Value {
    let start = html.find("id=\"netseg-data\">").expect("the page embeds its data") + "id=\"netseg-data\">".len();
    let end = start + html[start..].find("</script>").expect("the data ends");
    json(&html[start..end])
}

fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `--config FILE` when the example ships a `.netseg.yaml`.
fn config_args(name: &str) -> Vec<String> {
    let config = format!("examples/{name}/.netseg.yaml");
    if repo_root().join(&config).is_file() {
        vec!["--config".into(), config]
    } else {
        Vec::new()
    }
}

fn run(args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = netseg(&args);
    assert_ne!(run.code, 2, "netseg {}: {}", args.join(" "), run.stderr);
    run
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What the runs below exercised, so that a schema branch no example reaches is noticed.
#[derive(Default)]
struct Seen {
    shapes: BTreeSet<&'static str>,
}

fn can_shapes(can: &Value, seen: &mut Seen) {
    seen.shapes.insert(if can["allowed"] == true { "can allowed" } else { "can denied" });
    for entry in can["steps"].as_array().into_iter().flatten().flat_map(|s| s["by"].as_array().into_iter().flatten()) {
        seen.shapes.insert(match (entry["kind"].as_str(), entry["rule"].is_null()) {
            (Some("NetworkPolicy"), true) => "can: an isolating NetworkPolicy",
            (Some("NetworkPolicy"), false) => "can: a NetworkPolicy rule",
            _ => "can: an admin or baseline rule",
        });
    }
}

/// Every example with every argument shape of every command that writes JSON: audit, reach in pairs and in
/// groups, can allowed and denied with and without a port, blast-radius from a workload, an address and the
/// internet, diff between examples, and the HTML pages' data.
#[test]
fn every_json_output_of_every_example_matches_its_published_schema() {
    let mut seen = Seen::default();
    let names = examples();
    assert!(names.len() >= 6, "{names:?}");
    for (index, name) in names.iter().enumerate() {
        let dir = example(name);
        let config = config_args(name);

        let audit =
            run(&[strings(&["audit", "-o", "json", "--fail-on", "none"]), config.clone(), vec![dir.clone()]].concat());
        assert_matches_schema(&json(&audit.stdout));
        let html = run(&[strings(&["audit", "-o", "html", "--fail-on", "none"]), config, vec![dir.clone()]].concat());
        assert_matches_schema(&embedded_data(&html.stdout));

        let reach = json(&run(&strings(&["reach", "-o", "json", "--group", "never", &dir])).stdout);
        assert_matches_schema(&reach);
        for group in ["always", "auto"] {
            assert_matches_schema(&json(&run(&strings(&["reach", "-o", "json", "--group", group, &dir])).stdout));
        }
        assert_matches_schema(&json(&run(&strings(&["reach", "-o", "json", "--granularity", "pod", &dir])).stdout));

        // `can` on an allowed pair (with and without its first port), on a pair the answer leaves out, and
        // toward the metadata address.
        let workloads: Vec<String> = reach["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter(|e| e["kind"] != "External")
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect();
        let connected: BTreeSet<(String, String)> = super::pairs(&reach).into_iter().collect();
        let mut questions: Vec<Vec<String>> = Vec::new();
        if let Some((src, dst)) = connected.iter().find(|(s, d)| workloads.contains(s) && workloads.contains(d)) {
            questions.push(strings(&["--from", src, "--to", dst]));
            let allowed = reach["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["src"] == src.as_str() && c["dst"] == dst.as_str())
                .map(|c| c["allowed"].clone())
                .unwrap_or_default();
            if let Some((protocol, first)) =
                ["TCP", "UDP", "SCTP"].iter().find_map(|p| allowed[p][0][0].as_u64().map(|port| (*p, port.to_string())))
            {
                questions.push(strings(&["--from", src, "--to", dst, "--protocol", protocol, "--port", &first]));
                questions.push(strings(&["--from", src, "--to", dst, "--protocol", protocol]));
            }
        }
        let unconnected = workloads
            .iter()
            .flat_map(|a| workloads.iter().map(move |b| (a, b)))
            .find(|(a, b)| a != b && !connected.contains(&((*a).clone(), (*b).clone())));
        if let Some((src, dst)) = unconnected {
            questions.push(strings(&["--from", src, "--to", dst, "--port", "443"]));
        }
        if let Some(first) = workloads.first() {
            questions.push(strings(&["--from", first, "--to", "169.254.169.254", "--port", "80"]));
        }
        for question in questions {
            let can = run(&[strings(&["can", "-o", "json"]), question, vec![dir.clone()]].concat());
            let can = json(&can.stdout);
            assert_matches_schema(&can);
            can_shapes(&can, &mut seen);
        }

        let origins: Vec<String> =
            workloads.first().cloned().into_iter().chain(strings(&["internet", "203.0.113.7"])).collect();
        for origin in origins {
            let blast = run(&strings(&["blast-radius", "-o", "json", "--from", &origin, &dir]));
            assert_matches_schema(&json(&blast.stdout));
        }

        let next = example(&names[(index + 1) % names.len()]);
        for (old, new) in [(&dir, &next), (&next, &dir), (&dir, &dir)] {
            let diff = json(&run(&strings(&["diff", "-o", "json", old, new])).stdout);
            assert_matches_schema(&diff);
            for kind in ["findings_appeared", "findings_disappeared", "findings_changed", "connections"] {
                if diff[kind].as_array().is_some_and(|a| !a.is_empty()) {
                    seen.shapes.insert(match kind {
                        "findings_changed" => "diff: a finding changed severity",
                        "connections" => "diff: a connection changed",
                        _ => "diff: a finding appeared or disappeared",
                    });
                }
            }
        }
        let page = run(&strings(&["diff", "-o", "html", &dir, &next]));
        assert_matches_schema(&embedded_data(&page.stdout));
    }
    let expected = [
        "can allowed",
        "can denied",
        "can: an isolating NetworkPolicy",
        "can: a NetworkPolicy rule",
        "can: an admin or baseline rule",
        "diff: a connection changed",
        "diff: a finding appeared or disappeared",
    ];
    let missing: Vec<&&str> = expected.iter().filter(|s| !seen.shapes.contains(**s)).collect();
    assert!(missing.is_empty(), "no example exercised {missing:?}");
}

/// A dump (pods with IPs and owners), per-pod endpoints, IPv6 and a finding that changes severity: the shapes the
/// examples do not have.
#[test]
fn dumps_pods_ipv6_and_severity_changes_match_their_schemas() {
    let dump = super::fixture("dump");
    for args in [
        vec!["audit", "-o", "json", "--fail-on", "none", &dump],
        vec!["reach", "-o", "json", "--granularity", "pod", &dump],
        vec!["reach", "-o", "json", "--group", "always", "--granularity", "pod", &dump],
        vec!["blast-radius", "-o", "json", "--from", "internet", &dump],
    ] {
        let out = netseg(&args);
        assert_ne!(out.code, 2, "{}", out.stderr);
        let value = json(&out.stdout);
        assert_matches_schema(&value);
        if args[0] == "reach" {
            assert!(value["endpoints"].as_array().into_iter().flatten().any(|e| e["kind"] == "Pod"), "pod endpoints");
        }
    }
    let ipv6 = super::tree(&[(
        "policy.yaml",
        "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: out, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8:1::/48']}\n---\nkind: Pod\napiVersion: v1\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c}]}\n",
    )]);
    let reach = netseg(&["reach", "-o", "json", &ipv6.path().display().to_string()]);
    let reach = json(&reach.stdout);
    assert_matches_schema(&reach);
    let cidrs = reach["endpoints"].to_string();
    assert!(cidrs.contains("2001:db8::/48") || cidrs.contains("2001:db8:"), "{cidrs}");

    // The same policy with a dropped selector (NS144 high), then with a dropped field that changes nothing (medium).
    let policy = |extra: &str| {
        format!("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {{name: p, namespace: a}}\nspec:\n  podSelector: {{}}\n  {extra}\n")
    };
    let old = super::tree(&[("p.yaml", &policy("matchLabels: {app: x}"))]);
    let new = super::tree(&[("p.yaml", &policy("colour: blue"))]);
    let diff = netseg(&["diff", "-o", "json", &old.path().display().to_string(), &new.path().display().to_string()]);
    let diff = json(&diff.stdout);
    assert_matches_schema(&diff);
    assert_eq!(diff["findings_changed"][0]["previous_severity"], "high", "{diff}");
}

/// Each schema is valid JSON Schema 2020-12, rejects what it must (the checks that make it catch drift), and
/// the `$defs` shared between schemas say the same everywhere.
#[test]
fn the_schemas_are_valid_2020_12_and_closed() {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("schemas"))
        .expect("schemas/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = SCHEMAS.iter().map(|n| format!("{}.json", n.replace('/', "."))).collect();
    expected.sort();
    assert_eq!(files, expected, "one file per schema in SCHEMAS");
    let mut shared: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for name in SCHEMAS {
        let schema = load_schema(name);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid schema: {e}");
        }
        assert_eq!(schema["properties"]["schema"]["const"], *name, "{name} names itself");
        assert_eq!(schema["additionalProperties"], false, "{name}: the top level is closed");
        for (def, body) in schema["$defs"].as_object().expect("$defs") {
            match shared.get(def) {
                Some((first, seen)) => assert_eq!(seen, body, "`$defs/{def}` differs between {first} and {name}"),
                None => {
                    shared.insert(def.clone(), (name.to_string(), body.clone()));
                }
            }
        }
    }

    // Drift the schemas must catch, each on a real output.
    let audit = json(&netseg(&["audit", "-o", "json", &example("wordpress-flat")]).stdout);
    assert_matches_schema(&audit);
    let broken = |path: &[&str], value: Value| {
        let mut copy = audit.clone();
        let mut at = &mut copy;
        for key in &path[..path.len() - 1] {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        let last = path[path.len() - 1];
        if value.is_null() {
            at.as_object_mut().expect("object").remove(last);
        } else {
            at[last] = value;
        }
        copy
    };
    for (what, copy) in [
        ("an unknown top-level field", broken(&["extra"], json!(1))),
        ("an unknown finding field", broken(&["findings", "0", "extra"], json!("x"))),
        ("a severity outside the five", broken(&["findings", "0", "severity"], json!("severe"))),
        ("a rule id outside NSnnn", broken(&["findings", "0", "rule"], json!("X1"))),
        ("a missing message", broken(&["findings", "0", "message"], Value::Null)),
        ("a witness protocol outside TCP/UDP/SCTP", broken(&["findings", "1", "witness", "protocol"], json!("ICMP"))),
        ("a port above 65535", broken(&["findings", "1", "witness", "port"], json!(70000))),
        ("another schema's name", broken(&["schema"], json!("netseg.audit/v2"))),
        ("a missing summary count", broken(&["summary", "info"], Value::Null)),
    ] {
        assert!(!validator("netseg.audit/v1").is_valid(&copy), "the audit schema accepts {what}");
    }
    let reach = json(&netseg(&["reach", "-o", "json", &example("wordpress-flat")]).stdout);
    let mut both = reach.clone();
    both["groups"] = json!([]);
    both["pairs"] = json!(0);
    assert!(!schema_errors(&both).is_empty(), "reach: connections and groups together");
    let mut range = reach.clone();
    range["connections"][0]["allowed"]["TCP"] = json!([[1, 2, 3]]);
    assert!(!schema_errors(&range).is_empty(), "reach: a port range of three numbers");
}

/// `--help` of each command that writes JSON names the schema it writes, and no other.
#[test]
fn each_command_s_help_names_its_own_schema() {
    for (command, own) in [
        ("audit", "netseg.audit/v1"),
        ("reach", "netseg.reach/v1"),
        ("can", "netseg.can/v1"),
        ("blast-radius", "netseg.blast-radius/v1"),
        ("diff", "netseg.diff/v1"),
    ] {
        let help = netseg(&[command, "--help"]);
        assert_eq!(help.code, 0, "{}", help.stderr);
        assert!(help.stdout.contains(own), "`netseg {command} --help` does not name {own}:\n{}", help.stdout);
        let file = format!("schemas/{}.json", own.replace('/', "."));
        assert!(help.stdout.contains(&file), "`netseg {command} --help` does not point at {file}");
        for other in SCHEMAS.iter().filter(|n| **n != own && **n != "netseg.report/v1") {
            assert!(!help.stdout.contains(other), "`netseg {command} --help` names {other}:\n{}", help.stdout);
        }
    }
}

/// The schemas hold in a second, independent validator too (Python's `jsonschema`, through check-jsonschema), so
/// that what teams validate with works as the Rust validator here says: one real output per schema and form.
#[test]
fn the_schemas_work_in_check_jsonschema() {
    let Some(dir) =
        std::env::var_os("NETSEG_CI_TOOLS").map(PathBuf::from).filter(|d| d.join("check-jsonschema").is_file())
    else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_CI_TOOLS with check-jsonschema");
        eprintln!("skipped: check-jsonschema is not installed (.ci/run installs it and sets NETSEG_CI_TOOLS)");
        return;
    };
    let flat = example("wordpress-flat");
    let tenants = example("tenant-isolation");
    let outputs: Vec<Value> = [
        vec!["audit", "-o", "json", &flat],
        vec!["reach", "-o", "json", &flat],
        vec!["reach", "-o", "json", "--group", "always", &flat],
        vec!["can", "-o", "json", "--from", "blog/web", "--to", "blog/api", "--port", "8080", &tenants],
        vec!["blast-radius", "-o", "json", "--from", "internet", &flat],
        vec!["diff", "-o", "json", &flat, &example("wordpress-segmented")],
    ]
    .iter()
    .map(|args| json(&netseg(args).stdout))
    .chain(std::iter::once(embedded_data(&netseg(&["audit", "-o", "html", &flat]).stdout)))
    .collect();
    let files = tempfile::tempdir().expect("tempdir");
    let check = |name: &str, instances: &[PathBuf]| {
        std::process::Command::new(dir.join("check-jsonschema"))
            .arg("--schemafile")
            .arg(schema_path(name))
            .args(instances)
            .output()
            .expect("check-jsonschema")
    };
    let mut by_schema: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for (n, output) in outputs.iter().enumerate() {
        let instance = files.path().join(format!("{n}.json"));
        std::fs::write(&instance, output.to_string()).expect("write");
        by_schema.entry(output["schema"].as_str().expect("schema")).or_default().push(instance);
    }
    assert_eq!(by_schema.len(), SCHEMAS.len(), "one output of every schema");
    for (name, instances) in &by_schema {
        let valid = check(name, instances);
        assert!(valid.status.success(), "{name}: {}", String::from_utf8_lossy(&valid.stdout));
    }
    let mut broken = outputs[0].clone();
    broken["findings"][0]["severity"] = json!("severe");
    let broken_instance = files.path().join("broken.json");
    std::fs::write(&broken_instance, broken.to_string()).expect("write");
    let rejected = check("netseg.audit/v1", &[broken_instance]);
    assert!(!rejected.status.success(), "check-jsonschema accepts a severity outside the five");
}
