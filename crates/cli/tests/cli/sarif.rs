//! SARIF that GitHub code scanning ingests. The official schema allows results that code scanning refuses (a result
//! with no location rejects the whole upload: "locationFromSarifResult: expected at least one location",
//! github/codeql-action#1738 and #2459), so these tests hold every SARIF netseg writes to GitHub's own ingestion
//! rules as its documentation lists them ("SARIF support for code scanning": required properties, the upload
//! limits) on every example and every real-world set.

use super::{example, json, netseg, shared_set};
use serde_json::Value;
use std::collections::HashSet;

/// Runs per file, results per run, rules per run, locations per result and tags per rule that an upload may hold.
const MAX_RUNS: usize = 20;
const MAX_RESULTS: usize = 25_000;
const MAX_RULES: usize = 25_000;
const MAX_LOCATIONS: usize = 1_000;
const MAX_TAGS: usize = 20;

fn text_of<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.pointer(field).and_then(Value::as_str).filter(|t| !t.trim().is_empty())
}

/// Whether `uri` is an RFC 3986 URI reference (what the upload's schema check means by format `uri-reference`),
/// with no scheme other than `file` (code scanning rejects absolute URIs whose scheme differs from the checkout's).
fn uri_problem(uri: &str) -> Option<String> {
    let bytes = uri.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            if hex.is_none() {
                return Some(format!("`{uri}`: `%` not followed by two hex digits"));
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b)) {
            return Some(format!("`{uri}`: character {:?} must be percent-encoded", char::from(b)));
        }
        i += 1;
    }
    let first_segment = uri.split(['/', '?', '#']).next().unwrap_or_default();
    match first_segment.split_once(':') {
        Some(("file", _)) if uri.starts_with("file:///") => None,
        Some((scheme, _)) => Some(format!("`{uri}`: scheme `{scheme}` is not the checkout's file://")),
        None => None,
    }
}

/// Every reason code scanning would refuse this SARIF, or show a result badly; empty when it ingests it whole.
pub fn github_ingestion_problems(sarif: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if text_of(sarif, "/$schema").is_none() {
        problems.push("no $schema".into());
    }
    if sarif["version"] != "2.1.0" {
        problems.push(format!("version {} is not 2.1.0", sarif["version"]));
    }
    let Some(runs) = sarif["runs"].as_array() else {
        problems.push("no runs".into());
        return problems;
    };
    if runs.len() > MAX_RUNS {
        problems.push(format!("{} runs, more than {MAX_RUNS}", runs.len()));
    }
    for (r, run) in runs.iter().enumerate() {
        if text_of(run, "/tool/driver/name").is_none() {
            problems.push(format!("run {r}: tool.driver.name missing"));
        }
        let rules = run.pointer("/tool/driver/rules").and_then(Value::as_array).cloned().unwrap_or_default();
        if rules.len() > MAX_RULES {
            problems.push(format!("run {r}: {} rules, more than {MAX_RULES}", rules.len()));
        }
        let mut ids = HashSet::new();
        for rule in &rules {
            let id = rule["id"].as_str().unwrap_or_default();
            if id.is_empty() || !ids.insert(id.to_string()) {
                problems.push(format!("run {r}: rule id `{id}` empty or repeated"));
            }
            for field in ["/shortDescription/text", "/fullDescription/text", "/help/text"] {
                match text_of(rule, field) {
                    None => problems.push(format!("run {r}: rule {id} has no {field}")),
                    Some(text) if field.contains("Description") && text.chars().count() > 1024 => {
                        problems.push(format!("run {r}: rule {id} {field} is over 1024 characters"))
                    }
                    Some(_) => {}
                }
            }
            if rule["name"].as_str().is_some_and(|n| n.chars().count() > 255) {
                problems.push(format!("run {r}: rule {id} name over 255 characters"));
            }
            if let Some(level) = rule.pointer("/defaultConfiguration/level") {
                if !matches!(level.as_str(), Some("note" | "warning" | "error")) {
                    problems.push(format!("run {r}: rule {id} default level {level}"));
                }
            }
            if let Some(tags) = rule.pointer("/properties/tags").and_then(Value::as_array) {
                if tags.len() > MAX_TAGS {
                    problems.push(format!("run {r}: rule {id} has {} tags", tags.len()));
                }
            }
            if let Some(score) = rule.pointer("/properties/security-severity") {
                let parsed = score.as_str().and_then(|s| s.parse::<f64>().ok());
                if !parsed.is_some_and(|s| s > 0.0 && s <= 10.0) {
                    problems.push(format!("run {r}: rule {id} security-severity {score} is not a score in (0, 10]"));
                }
            }
        }
        let Some(results) = run["results"].as_array() else {
            problems.push(format!("run {r}: no results array"));
            continue;
        };
        if results.len() > MAX_RESULTS {
            problems.push(format!("run {r}: {} results, more than {MAX_RESULTS}", results.len()));
        }
        for (n, result) in results.iter().enumerate() {
            let at = format!("run {r} result {n} ({})", result["ruleId"]);
            let rule_id = result["ruleId"].as_str().unwrap_or_default();
            if !ids.contains(rule_id) {
                problems.push(format!("{at}: ruleId not defined in tool.driver.rules"));
            }
            if let Some(index) = result["ruleIndex"].as_u64() {
                let indexed = usize::try_from(index).ok().and_then(|i| rules.get(i));
                if indexed.and_then(|rule| rule["id"].as_str()) != Some(rule_id) {
                    problems.push(format!("{at}: ruleIndex {index} is not the rule {rule_id}"));
                }
            }
            match text_of(result, "/message/text") {
                None => problems.push(format!("{at}: no message text")),
                Some(text) if !text.trim_end().ends_with(['.', '!', '?']) => {
                    problems.push(format!("{at}: the message is not a full sentence: {text}"))
                }
                Some(_) => {}
            }
            if let Some(level) = result.get("level") {
                if !matches!(level.as_str(), Some("none" | "note" | "warning" | "error")) {
                    problems.push(format!("{at}: level {level}"));
                }
            }
            if result["partialFingerprints"].as_object().is_none_or(|f| f.is_empty()) {
                problems.push(format!("{at}: no partialFingerprints"));
            }
            let locations = result["locations"].as_array().cloned().unwrap_or_default();
            if locations.is_empty() {
                problems.push(format!("{at}: expected at least one location"));
            }
            if locations.len() > MAX_LOCATIONS {
                problems.push(format!("{at}: {} locations", locations.len()));
            }
            for location in &locations {
                match text_of(location, "/physicalLocation/artifactLocation/uri") {
                    None => problems.push(format!("{at}: expected a physical location with an artifact URI")),
                    Some(uri) => problems.extend(uri_problem(uri).map(|p| format!("{at}: {p}"))),
                }
                let line = location.pointer("/physicalLocation/region/startLine").and_then(Value::as_u64);
                if line.is_none_or(|l| l < 1) {
                    problems.push(format!("{at}: region.startLine missing or below 1"));
                }
            }
        }
    }
    problems
}

pub fn assert_github_ingests(sarif: &Value, what: &str) {
    let problems = github_ingestion_problems(sarif);
    assert!(problems.is_empty(), "{what}: GitHub code scanning would refuse this SARIF:\n{problems:#?}");
}

#[test]
fn the_checker_catches_what_github_refuses() {
    let good = json(&netseg(&["audit", "-o", "sarif", &example("wordpress-flat")]).stdout);
    assert!(github_ingestion_problems(&good).is_empty());
    let mut no_location = good.clone();
    no_location["runs"][0]["results"][0].as_object_mut().map(|r| r.remove("locations"));
    assert!(github_ingestion_problems(&no_location).iter().any(|p| p.contains("expected at least one location")));
    let mut logical_only = good.clone();
    logical_only["runs"][0]["results"][0]["locations"][0].as_object_mut().map(|l| l.remove("physicalLocation"));
    assert!(github_ingestion_problems(&logical_only).iter().any(|p| p.contains("physical location")));
    let mut undefined_rule = good.clone();
    undefined_rule["runs"][0]["results"][0]["ruleId"] = serde_json::json!("NS999");
    assert!(github_ingestion_problems(&undefined_rule).iter().any(|p| p.contains("not defined")));
    let mut bad_uri = good;
    bad_uri["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
        serde_json::json!("cluster://ctx/api/v1/pods");
    assert!(github_ingestion_problems(&bad_uri).iter().any(|p| p.contains("scheme `cluster`")));
    assert!(uri_problem("a dir/x.yaml").is_some() && uri_problem("a%20dir/x.yaml").is_none());
}

/// Issue 12, failure 3: NS131 (no CNI in the input) had no location, and GitHub refused the whole upload; it
/// appeared on 7 of the 8 real-world sets.
#[test]
fn regression_github_ingests_the_sarif_of_every_example_and_real_world_set() {
    let mut inputs: Vec<(String, Vec<String>)> = Vec::new();
    for entry in std::fs::read_dir(super::repo_root().join("examples")).expect("examples").flatten() {
        if entry.path().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            inputs.push((name.clone(), vec![example(&name)]));
        }
    }
    if let Some(root) = shared_set("realworld", "README.md") {
        for scenario in super::realworld::scenarios(&root) {
            let path = scenario.display().to_string();
            let mut args = Vec::new();
            if path.ends_with("argo-cd") {
                args.extend(["-n".to_string(), "argocd".to_string()]);
            }
            args.push(path.clone());
            inputs.push((path, args));
        }
    }
    assert!(inputs.len() > 6, "{inputs:?}");
    let mut with_cluster_wide = 0;
    for (name, paths) in &inputs {
        let mut args = vec!["audit", "-o", "sarif", "--fail-on", "none"];
        args.extend(paths.iter().map(String::as_str));
        let run = netseg(&args);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let sarif = json(&run.stdout);
        assert_github_ingests(&sarif, name);
        let results = sarif["runs"][0]["results"].as_array().expect("results");
        with_cluster_wide += usize::from(results.iter().any(|r| r["ruleId"] == "NS131"));
    }
    assert!(with_cluster_wide > 0, "NS131, the finding that had no location, was exercised");
}

#[test]
fn github_ingests_the_sarif_of_diff() {
    let pairs = [("wordpress-flat", "wordpress-segmented"), ("wordpress-segmented", "wordpress-flat")];
    for (old, new) in pairs {
        let run = netseg(&["diff", "-o", "sarif", &example(old), &example(new)]);
        assert_ne!(run.code, 2, "{}", run.stderr);
        assert_github_ingests(&json(&run.stdout), &format!("diff {old} {new}"));
    }
}
