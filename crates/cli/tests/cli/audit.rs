use super::*;

fn findings(run: &Run) -> Vec<serde_json::Value> {
    json(&run.stdout)["findings"].as_array().expect("findings").clone()
}

fn rules(findings: &[serde_json::Value]) -> Vec<String> {
    let mut rules: Vec<String> = findings.iter().filter_map(|f| f["rule"].as_str()).map(str::to_string).collect();
    rules.dedup();
    rules
}

#[test]
fn flat_example_reports_the_lateral_movement_paths_and_fails() {
    let run = netseg(&["audit", "-o", "json", &example("wordpress-flat")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let findings = findings(&run);
    let rules = rules(&findings);
    for rule in ["NS101", "NS120", "NS125"] {
        assert!(rules.iter().any(|r| r == rule), "{rule} missing from {rules:?}");
    }
    let exposed: Vec<&str> =
        findings.iter().filter(|f| f["rule"] == "NS125").filter_map(|f| f["message"].as_str()).collect();
    assert!(exposed.iter().any(|m| m.contains("TCP 6379 (Redis)")), "{exposed:?}");
    assert!(exposed.iter().any(|m| m.contains("TCP 3306 (MySQL)")), "{exposed:?}");
    assert_eq!(json(&run.stdout)["schema"], "netseg.audit/v1");
}

#[test]
fn segmented_example_has_nothing_high_and_passes() {
    let run = netseg(&["audit", "-o", "json", &example("wordpress-segmented")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let summary = &json(&run.stdout)["summary"];
    assert_eq!((summary["critical"].as_u64(), summary["high"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn flannel_makes_policies_inert() {
    let run = netseg(&["audit", "-o", "json", &example("flannel-cluster")]);
    let report = json(&run.stdout);
    assert_eq!(report["cni"]["enforced"], false);
    assert!(rules(&findings(&run)).contains(&"NS130".to_string()));
    let assumed = netseg(&["audit", "-o", "json", "--assume-enforced", &example("flannel-cluster")]);
    assert!(
        !findings(&assumed).iter().any(|f| f["rule"] == "NS125"),
        "postgres is closed when the policies are enforced"
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    assert_eq!(netseg(&["audit", "--fail-on", "critical", &example("wordpress-flat")]).code, 0);
    assert_eq!(netseg(&["audit", "--fail-on", "none", &example("flannel-cluster")]).code, 0);
    assert_eq!(netseg(&["audit", "--fail-on", "medium", &example("wordpress-segmented")]).code, 0);
    assert_eq!(
        netseg(&["audit", "--fail-on", "info", &example("wordpress-segmented")]).code,
        1,
        "NS131: the CNI is unknown"
    );
}

/// Every witness is a connection that `netseg can` confirms on the same input.
#[test]
fn every_witness_is_confirmed_by_can() {
    let mut confirmed = 0;
    for name in ["wordpress-flat", "wordpress-segmented", "flannel-cluster", "host-network", "misindented-selector"] {
        let run = netseg(&["audit", "-o", "json", &example(name)]);
        for finding in findings(&run) {
            let Some(witness) = finding.get("witness") else { continue };
            let port = witness["port"].to_string();
            let args = [
                "can",
                "--from",
                witness["from"].as_str().expect("from"),
                "--to",
                witness["to"].as_str().expect("to"),
                "--protocol",
                witness["protocol"].as_str().expect("protocol"),
                "--port",
                &port,
                &example(name),
            ];
            let can = netseg(&args);
            // NS147's witness is a declared flow the policies deny: `can` confirms it with DENIED.
            let expected = if finding["rule"] == "NS147" { 1 } else { 0 };
            assert_eq!(
                can.code, expected,
                "{name}: {} witness {witness} not confirmed:\n{}",
                finding["rule"], can.stdout
            );
            confirmed += 1;
        }
    }
    assert!(confirmed > 20, "only {confirmed} witnesses");
}

#[test]
fn input_errors_become_ns144_findings_not_exit_2() {
    let dir = tree(&[(
        "bad.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 90, endPort: 80}]\n",
    )]);
    let run = netseg(&["audit", "-o", "json", &dir.path().display().to_string()]);
    assert_eq!(run.code, 1);
    let ns144: Vec<_> = findings(&run).into_iter().filter(|f| f["rule"] == "NS144").collect();
    assert_eq!(ns144.len(), 1);
    assert_eq!(ns144[0]["location"]["line"], 7);
}

#[test]
fn suppressions_are_counted_not_dropped() {
    let dir = tree(&[(
        "a.yaml",
        "kind: Namespace\napiVersion: v1\nmetadata:\n  name: lab\n  annotations: {netseg.io/ignore: NS101, netseg.io/ignore-reason: scratch namespace}\n---\nkind: Pod\nmetadata: {name: p, namespace: lab}\n",
    )]);
    let run = netseg(&["audit", "-o", "json", &dir.path().display().to_string()]);
    let report = json(&run.stdout);
    assert_eq!(report["summary"]["suppressed"].as_u64(), Some(1));
    let ns101 = findings(&run).into_iter().find(|f| f["rule"] == "NS101").expect("still listed");
    assert!(ns101["suppressed"].as_str().unwrap_or_default().contains("scratch namespace"));
}

#[test]
fn config_file_overrides_severity_and_bad_config_is_a_usage_error() {
    let dir = tree(&[(".netseg.yaml", "rules:\n  NS101: {severity: low}\n  NS120: {enabled: false}\n")]);
    let config = dir.path().join(".netseg.yaml").display().to_string();
    let run = netseg(&["audit", "-o", "json", "--config", &config, &example("wordpress-flat")]);
    let findings = findings(&run);
    assert!(findings.iter().filter(|f| f["rule"] == "NS101").all(|f| f["severity"] == "low"));
    assert!(!findings.iter().any(|f| f["rule"] == "NS120"));
    let bad = tree(&[(".netseg.yaml", "rules:\n  NS999: {enabled: false}\n")]);
    let run = netseg(&[
        "audit",
        "--config",
        &bad.path().join(".netseg.yaml").display().to_string(),
        &example("wordpress-flat"),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(".netseg.yaml:2") && run.stderr.contains("NS999"), "{}", run.stderr);
}

#[test]
fn text_report_matches_snapshot() {
    let run = netseg(&["audit", &example("wordpress-flat")]);
    insta::assert_snapshot!("audit_flat_text", run.stdout);
}

#[test]
fn markdown_report_is_a_table() {
    let run = netseg(&["audit", "-o", "markdown", &example("wordpress-flat")]);
    assert!(run.stdout.starts_with("### netseg audit"));
    assert!(run.stdout.contains("| severity | rule | resource | location | finding | fix |"));
}

/// Validates against the official SARIF 2.1.0 schema.
#[test]
fn sarif_validates_against_the_official_schema() {
    let run = netseg(&["audit", "-o", "sarif", &example("wordpress-flat"), &example("misindented-selector")]);
    let sarif = json(&run.stdout);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(results.iter().all(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .is_none_or(|uri| uri.starts_with("examples/"))));
    assert_valid_sarif(&sarif);
}

#[test]
fn blast_radius_lists_sensitive_targets_first_with_paths() {
    let run = netseg(&["blast-radius", "-o", "json", "--from", "blog/wordpress", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let radius = json(&run.stdout);
    assert_eq!(radius["schema"], "netseg.blast-radius/v1");
    let targets = radius["targets"].as_array().expect("targets");
    assert_eq!(targets[0]["sensitivity"], "cloud-metadata");
    let redis = targets.iter().find(|t| t["name"] == "blog/redis[Deployment]").expect("redis");
    assert_eq!(redis["detail"], "Redis 6379");
}

#[test]
fn blast_radius_from_the_internet_follows_hops_to_the_datastores() {
    let run = netseg(&["blast-radius", "--from", "203.0.113.7", &example("wordpress-segmented")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("path: 203.0.113.7 —TCP 80→ blog/wordpress[Deployment] —TCP 6379→ blog/redis[Deployment]"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("cloud metadata"), "the segmented example closes the metadata endpoint");
}

#[test]
fn blast_radius_from_the_internet_on_the_flat_example_shows_the_multi_hop_path() {
    let run = netseg(&["blast-radius", "--from", "internet", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("path: the internet —TCP 80→ blog/wordpress[Deployment] —all ports→ blog/redis[Deployment]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[cloud metadata]"), "{}", run.stdout);
}

/// The report's embedded data is the audit's: every finding, the summary, and a graph with every workload.
#[test]
fn html_report_embeds_the_audit_and_the_graph() {
    let run = netseg(&["audit", "-o", "html", &example("wordpress-flat")]);
    assert_eq!(run.code, 1, "exit status follows --fail-on as in every format: {}", run.stderr);
    let html = run.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"));
    let start = html.find("<script type=\"application/json\" id=\"netseg-data\">").expect("data block");
    let data = &html[start..].split_once('>').expect("tag").1;
    let data = json(data.split("</script>").next().expect("end of data"));
    let audit = json(&netseg(&["audit", "-o", "json", &example("wordpress-flat")]).stdout);
    assert_eq!(data["schema"], "netseg.report/v1");
    assert_eq!(data["findings"], audit["findings"]);
    assert_eq!(data["summary"]["counts"]["high"], audit["summary"]["high"]);
    assert_eq!(data["namespaces"][0]["name"], "blog");
    assert_eq!(data["namespaces"][0]["segmented"], false);
    let ids: Vec<&str> =
        data["graph"]["nodes"].as_array().expect("nodes").iter().filter_map(|n| n[1].as_str()).collect();
    for id in ["blog/wordpress[Deployment]", "blog/mysql[StatefulSet]", "cloud metadata", "API server"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

/// Issue 12, failure 8: every open workload got four near-identical blocks (NS120/NS121/NS123/NS124). Text output
/// shows one block per workload with one line per reachable sensitive destination and no repeated line; JSON keeps
/// one finding per rule.
#[test]
fn sensitive_egress_is_one_block_per_workload_in_text_and_one_finding_per_rule_in_json() {
    let text = netseg(&["audit", "--fail-on", "none", &example("wordpress-flat")]).stdout;
    let headers: Vec<&str> = text.lines().filter(|l| l.contains("sensitive-egress")).collect();
    assert_eq!(headers.len(), 3, "one block per workload:\n{text}");
    for workload in ["blog/redis[Deployment]", "blog/wordpress[Deployment]", "blog/mysql[StatefulSet]"] {
        assert_eq!(headers.iter().filter(|h| h.contains(workload)).count(), 1, "{workload}");
        let metadata_lines =
            text.lines().filter(|l| l.contains(&format!("NS120 metadata-reachable: {workload}"))).count();
        assert_eq!(metadata_lines, 1, "{workload}:\n{text}");
    }
    // Within a block, no line twice.
    for block in text.split("sensitive-egress").skip(1) {
        let lines: Vec<&str> = block.lines().take_while(|l| l.starts_with("      ")).collect();
        let mut unique = lines.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), lines.len(), "repeated lines in:\n{block}");
    }
    let run = netseg(&["audit", "-o", "json", "--fail-on", "none", &example("wordpress-flat")]);
    let per_rule = findings(&run).into_iter().filter(|f| f["rule"] == "NS124").count();
    assert_eq!(per_rule, 3, "JSON keeps one finding per rule and workload");
}
