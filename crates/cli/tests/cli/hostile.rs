//! Hostile input: every case sits beside a good file, must get a diagnostic naming the file (and the line and field
//! where there is one), the documented exit status, and must leave the good file's answer exactly as it is alone.

use super::*;
use serde_json::{json, Value};

use super::bad_input::GOOD;

/// What netseg answers for the good file alone.
fn good_answer() -> Value {
    let dir = tree(&[("good.yaml", GOOD)]);
    let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    json(&run.stdout)
}

struct Outcome {
    code: i32,
    stderr: String,
}

/// Runs `reach` on the good file beside `name` holding `bytes`, and checks that the good answer is unchanged.
fn beside_good(name: &str, bytes: &[u8], extra_args: &[&str]) -> Outcome {
    let dir = tree(&[("good.yaml", GOOD)]);
    std::fs::write(dir.path().join(name), bytes).expect("write hostile file");
    let path = dir.path().display().to_string();
    let mut args = vec!["reach", "-o", "json"];
    args.extend(extra_args);
    args.push(&path);
    let run = netseg(&args);
    assert_eq!(json(&run.stdout), good_answer(), "{name}: the good file's answer changed\n{}", run.stderr);
    Outcome { code: run.code, stderr: run.stderr }
}

fn assert_names(outcome: &Outcome, needles: &[&str]) {
    for needle in needles {
        assert!(outcome.stderr.contains(needle), "expected `{needle}` in:\n{}", outcome.stderr);
    }
}

#[test]
fn alias_bomb_inside_an_unknown_field_is_refused() {
    // The bomb hangs off a field the decoder would drop: it must be refused by the parser before anything looks.
    let mut bomb = String::from(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  extra:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for level in 1..12 {
        bomb.push_str(&format!("    a{level}: &a{level} [{}]\n", vec![format!("*a{}", level - 1); 10].join(", ")));
    }
    let outcome = beside_good("bomb.yaml", bomb.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["bomb.yaml:", "limit", "--max-alias-expansion"]);
}

#[test]
fn nesting_100k_levels_deep_is_refused_in_yaml_and_json() {
    let yaml = format!("kind: Pod\nmetadata: {{name: deep}}\nspec: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let outcome = beside_good("deep.yaml", yaml.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["deep.yaml:3:", "nested deeper than 255 levels"]);
    let json_text = format!("{{\"kind\": \"Pod\", \"spec\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let outcome = beside_good("deep.json", json_text.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["deep.json:1:", "nesting deeper than 512", "--max-depth"]);
}

#[test]
fn raising_the_depth_limit_lets_a_deep_document_through() {
    let deep = format!(
        "{{\"kind\": \"ConfigMap\", \"metadata\": {{\"name\": \"deep\"}}, \"binaryData\": {}{}}}",
        "[".repeat(600),
        "]".repeat(600)
    );
    assert_eq!(beside_good("deep.json", deep.as_bytes(), &[]).code, 2);
    let outcome = beside_good("deep.json", deep.as_bytes(), &["--max-depth", "1000"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // Block YAML nests as deep as the limit allows too.
    // (`binaryData`, which netseg does not read: `data` so deep would be a wrong type.)
    let mut block = String::from("kind: ConfigMap\nmetadata: {name: deep}\nbinaryData:\n");
    for level in 0..600 {
        block.push_str(&format!("{}k{level}:\n", "  ".repeat(level + 1)));
    }
    assert_eq!(beside_good("block.yaml", block.as_bytes(), &[]).code, 2);
    assert_eq!(beside_good("block.yaml", block.as_bytes(), &["--max-depth", "1000"]).code, 0);
}

#[test]
fn invalid_utf8_and_binary_garbage_are_errors_with_a_line() {
    let mut text = b"kind: Pod\nmetadata:\n  name: caf".to_vec();
    text.extend([0xC3, 0x28]);
    text.extend(b"\n");
    let outcome = beside_good("latin1.yaml", &text, &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["latin1.yaml:3:", "not UTF-8"]);
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let outcome = beside_good("garbage.json", &garbage, &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["garbage.json:"]);
}

#[test]
fn duplicate_keys_are_rejected_at_their_line() {
    let text = "kind: Pod\nmetadata:\n  name: twice\n  namespace: a\n  name: again\n";
    let outcome = beside_good("dup.yaml", text.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["dup.yaml:5:", "duplicate key `name`"]);
    let json_text = "{\"kind\": \"Pod\",\n \"metadata\": {\"name\": \"x\",\n \"name\": \"y\"}}";
    let outcome = beside_good("dup.json", json_text.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    assert_names(&outcome, &["dup.json:3:", "duplicate key `name`"]);
}

#[test]
fn documents_without_kind_are_skipped_and_say_so_with_v() {
    let text = "metadata: {name: nokind}\n---\n- just\n- a list\n---\n42\n";
    let outcome = beside_good("nokind.yaml", text.as_bytes(), &["-v"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_names(&outcome, &["nokind.yaml:1:", "no `kind`"]);
}

#[test]
fn huge_label_values_and_names_are_rejected_as_the_api_server_does() {
    let long = "x".repeat(64);
    let huge = "y".repeat(5_000_000);
    let cases = [
        (format!("kind: Pod\nmetadata:\n  name: p\n  labels:\n    app: {long}\n"), 5, "metadata.labels.app", "63"),
        (format!("kind: Pod\nmetadata:\n  name: p\n  labels:\n    app: {huge}\n"), 5, "metadata.labels.app", "63"),
        (format!("kind: Pod\nmetadata:\n  name: {}\n", "n".repeat(300)), 3, "metadata.name", "253"),
        (format!("kind: Pod\nmetadata:\n  name: p\n  annotations:\n    note: {huge}\n"), 4, "metadata.annotations", "262144"),
        (
            format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: a}}\nspec:\n  podSelector:\n    matchLabels: {{app: {long}}}\n"),
            6,
            "spec.podSelector.matchLabels.app",
            "63",
        ),
    ];
    for (text, line, field, limit) in cases {
        let outcome = beside_good("huge.yaml", text.as_bytes(), &[]);
        assert_eq!(outcome.code, 2, "{field}: {}", outcome.stderr);
        assert_names(&outcome, &[&format!("huge.yaml:{line}:"), &format!("`{field}`"), limit]);
    }
}

#[test]
fn a_200_mb_file_is_refused_by_the_input_limit_and_read_when_raised() {
    // One Pod whose annotation holds 200 MB: far over what the API server stores, and over a lowered input limit.
    let dir = tree(&[("good.yaml", GOOD)]);
    let big = dir.path().join("big.yaml");
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
        file.write_all(b"kind: Pod\nmetadata:\n  name: big\n  namespace: a\n  annotations:\n    blob: ")
            .expect("write");
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..200 {
            file.write_all(&chunk).expect("write");
        }
        file.write_all(b"\n").expect("write");
    }
    let path = dir.path().display().to_string();
    let limited = netseg(&["reach", "-o", "json", "--max-input-bytes", "100MB", &path]);
    assert_eq!(limited.code, 2);
    assert!(limited.stderr.contains("big.yaml") && limited.stderr.contains("--max-input-bytes"), "{}", limited.stderr);
    assert_eq!(json(&limited.stdout), good_answer());
    // Read in full, the Pod is rejected for its annotation size, as the API server would, and memory stays bounded.
    let capped = netseg_capped(&["reach", "-o", "json", &path], 2 << 30);
    assert_eq!(capped.code, 2, "{}", capped.stderr);
    assert!(capped.stderr.contains("metadata.annotations"), "{}", capped.stderr);
    assert_eq!(json(&capped.stdout), good_answer());
}

/// Runs netseg with its address space capped (`ulimit -v`, in KiB), as a hostile input would meet it in a
/// constrained CI runner: it must answer, not abort.
fn netseg_capped(args: &[&str], bytes: u64) -> Run {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    let script = format!("ulimit -v {} && exec '{}' {}", bytes / 1024, env!("CARGO_BIN_EXE_netseg"), quoted.join(" "));
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh");
    finish(output)
}

#[test]
fn alias_bomb_and_deep_nesting_stay_within_a_memory_cap() {
    let mut bomb =
        String::from("kind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
    for level in 1..15 {
        bomb.push_str(&format!("  a{level}: &a{level} [{}]\n", vec![format!("*a{}", level - 1); 10].join(", ")));
    }
    let deep = format!("kind: Pod\nspec: {}\n", "{a: ".repeat(200_000));
    let dir = tree(&[("good.yaml", GOOD), ("bomb.yaml", &bomb), ("deep.yaml", &deep)]);
    let run = netseg_capped(&["reach", "-o", "json", &dir.path().display().to_string()], 512 << 20);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bomb.yaml:") && run.stderr.contains("deep.yaml:"), "{}", run.stderr);
    assert_eq!(json(&run.stdout), good_answer());
}

#[test]
fn a_flood_of_bad_documents_keeps_a_bounded_number_of_diagnostics() {
    let flood = "kind: Pod\nmetadata: {name: p, labels: {app: [x]}}\n---\n".repeat(50_000);
    let outcome = beside_good("flood.yaml", flood.as_bytes(), &[]);
    assert_eq!(outcome.code, 2);
    let shown = outcome.stderr.lines().filter(|l| l.starts_with("error[")).count();
    assert_eq!(shown, 1_001, "the first 1,000 errors and one summary");
    assert_names(&outcome, &["flood.yaml", "more diagnostics", "--max-diagnostics"]);
}

/// A complete, valid NetworkPolicy, as JSON so that every field can be replaced by a value of the wrong type.
fn full_policy() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "full", "namespace": "a", "labels": {"team": "x"}, "annotations": {"why": "test"}},
        "spec": {
            "podSelector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{
                "from": [
                    {"podSelector": {"matchLabels": {"app": "client"}}, "namespaceSelector": {"matchLabels": {"team": "x"}}},
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
                ],
                "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}]
            }],
            "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": "http", "protocol": "TCP"}]}]
        }
    })
}

/// Every field below `metadata` and `spec` with its path as netseg names it (`spec.ingress[0].from[1].ipBlock`).
fn field_paths(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                out.push(child_path.clone());
                field_paths(child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let child_path = format!("{path}[{index}]");
                out.push(child_path.clone());
                field_paths(child, &child_path, out);
            }
        }
        _ => {}
    }
}

fn field_mut<'v>(value: &'v mut Value, path: &str) -> &'v mut Value {
    let mut current = value;
    for part in path.split('.') {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        current = &mut current[key];
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let index: usize = index.trim_end_matches(']').parse().expect("index");
            current = &mut current[index];
        }
    }
    current
}

/// Labels and annotations are maps of strings, so `{team: 7}` is also a wrong type; for everything else a value of
/// another JSON type stands in.
fn wrong_type_for(original: &Value) -> Value {
    const MARKER: i64 = 987_654_321;
    match original {
        Value::Object(_) | Value::Array(_) | Value::String(_) => json!(MARKER),
        Value::Number(_) | Value::Bool(_) | Value::Null => json!({"marker": MARKER}),
    }
}

#[test]
fn a_wrong_type_at_every_level_of_a_network_policy_names_its_field_and_line() {
    let mut paths = Vec::new();
    field_paths(&full_policy(), "", &mut paths);
    let paths: Vec<String> =
        paths.into_iter().filter(|p| p.starts_with("metadata.") || p.starts_with("spec.")).collect();
    assert!(paths.len() > 35, "{paths:?}");
    let mut failures = Vec::new();
    for path in &paths {
        let mut policy = full_policy();
        let target = field_mut(&mut policy, path);
        let replacement = wrong_type_for(target);
        *target = replacement;
        let text = serde_json::to_string_pretty(&policy).expect("serialise");
        let marker_line = text.lines().position(|l| l.contains("987654321")).expect("marker") + 1;
        // A map replacement opens on the key's line, one above the marker.
        let line = if target_is_map_marker(&text, marker_line) { marker_line - 1 } else { marker_line };
        let outcome = beside_good("policy.json", text.as_bytes(), &[]);
        let expected_place = format!("policy.json:{line}:");
        let named = outcome
            .stderr
            .lines()
            .any(|l| l.starts_with("error[") && l.contains(&expected_place) && l.contains(&format!("`{path}`")));
        if outcome.code != 2 || !named {
            failures.push(format!(
                "{path} (want {expected_place}): {}",
                outcome.stderr.lines().next().unwrap_or("no diagnostic")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} fields:\n{}", failures.len(), paths.len(), failures.join("\n"));
}

fn target_is_map_marker(text: &str, marker_line: usize) -> bool {
    text.lines().nth(marker_line - 1).is_some_and(|l| l.trim_start().starts_with("\"marker\""))
}
