use super::*;

/// The flat example, and the same with the policies `generate` writes for it.
fn before_and_after() -> tempfile::TempDir {
    let run = netseg(&["generate", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let root = repo_root().join("examples/wordpress-flat");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("example")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = format!("after/{}", p.file_name().unwrap_or_default().to_string_lossy());
            (name, std::fs::read_to_string(&p).expect("read"))
        })
        .collect();
    files.push(("after/generated.yaml".into(), run.stdout));
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    tree(&borrowed)
}

#[test]
fn before_to_after_only_removes_and_passes() {
    let dir = before_and_after();
    let after = dir.path().join("after").display().to_string();
    let run = netseg(&["diff", "-o", "json", &example("wordpress-flat"), &after]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let diff = json(&run.stdout);
    assert_eq!(diff["schema"], "netseg.diff/v1");
    let changes = diff["connections"].as_array().expect("connections");
    assert!(!changes.is_empty());
    for change in changes {
        assert_ne!(change["change"], "added", "{change}");
        assert_eq!(change["opened"], serde_json::json!({"TCP": [], "UDP": [], "SCTP": []}), "{change}");
    }
    assert_eq!(diff["summary"]["opens"], false);
    assert_eq!(diff["findings_appeared"], serde_json::json!([]));
    let gone: Vec<&str> =
        diff["findings_disappeared"].as_array().expect("gone").iter().filter_map(|f| f["rule"].as_str()).collect();
    for rule in ["NS101", "NS120", "NS125"] {
        assert!(gone.contains(&rule), "{rule} disappears: {gone:?}");
    }
    assert_eq!(diff["findings_changed"], serde_json::json!([]));
    // Redis loses every client but WordPress, and WordPress keeps only the Redis port.
    let redis_from_mysql =
        changes.iter().find(|c| c["src"] == "blog/mysql[StatefulSet]" && c["dst"] == "blog/redis[Deployment]");
    assert_eq!(redis_from_mysql.map(|c| c["change"].clone()), Some(serde_json::json!("removed")));
    let wordpress_redis = changes
        .iter()
        .find(|c| c["src"] == "blog/wordpress[Deployment]" && c["dst"] == "blog/redis[Deployment]")
        .expect("changed");
    assert_eq!(wordpress_redis["after"], serde_json::json!({"TCP": [[6379, 6379]], "UDP": [], "SCTP": []}));
    assert_eq!(netseg(&["diff", "--fail-on", "any", &example("wordpress-flat"), &after]).code, 1);
}

#[test]
fn after_to_before_opens_and_fails() {
    let dir = before_and_after();
    let after = dir.path().join("after").display().to_string();
    let run = netseg(&["diff", &after, &example("wordpress-flat")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains("\nADDED\n  + blog/mysql[StatefulSet] → blog/redis[Deployment]  all ports\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("FINDINGS APPEARED\n  + NS101 namespace-without-policy"), "{}", run.stdout);
    assert_eq!(netseg(&["diff", "--fail-on", "none", &after, &example("wordpress-flat")]).code, 0);
    let markdown = netseg(&["diff", "-o", "markdown", &after, &example("wordpress-flat")]);
    assert!(markdown.stdout.starts_with("### netseg diff\n"), "{}", markdown.stdout);
    assert!(
        markdown.stdout.contains("| added | `blog/mysql[StatefulSet]` | `blog/redis[Deployment]` | all ports |"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn unchanged_manifests_diff_to_nothing() {
    let run = netseg(&["diff", &example("wordpress-segmented"), &example("wordpress-segmented")]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("diff_unchanged", run.stdout);
}

#[test]
fn a_widened_port_is_a_change_that_opens() {
    let old = "kind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n---\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\n---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: b, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: b}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 80}]}]\n";
    let new = old.replace("[{port: 80}]", "[{port: 80, endPort: 90}]");
    let dir = tree(&[("new.yaml", new.as_str())]);
    let run = netseg_stdin(&["diff", "-o", "json", "-", &dir.path().join("new.yaml").display().to_string()], old);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let diff = json(&run.stdout);
    let change = diff["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["src"] == "x/a[Pod]")
        .expect("a → b")
        .clone();
    assert_eq!(change["change"], "changed");
    assert_eq!(change["opened"], serde_json::json!({"TCP": [[81, 90]], "UDP": [], "SCTP": []}));
    let both_stdin = netseg(&["diff", "-", "-"]);
    assert_eq!(both_stdin.code, 2);
}

#[test]
fn an_opened_address_range_is_reported_as_such() {
    let old = "kind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n---\nkind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: a, namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]\n";
    let new = old.replace("cidr: 10.0.0.0/8", "cidr: 0.0.0.0/0, except: [169.254.169.254/32]");
    let dir = tree(&[("old.yaml", old), ("new.yaml", new.as_str())]);
    let run = netseg(&[
        "diff",
        "-o",
        "json",
        &dir.path().join("old.yaml").display().to_string(),
        &dir.path().join("new.yaml").display().to_string(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let diff = json(&run.stdout);
    let dsts: Vec<&str> = diff["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|c| c["change"] == "added")
        .filter_map(|c| c["dst"].as_str())
        .collect();
    assert_eq!(dsts, ["0.0.0.0-9.255.255.255,11.0.0.0-169.254.169.253,169.254.169.255-255.255.255.255"]);
}

#[test]
fn diff_sarif_validates_against_the_official_schema() {
    let dir = before_and_after();
    let after = dir.path().join("after").display().to_string();
    let run = netseg(&["diff", "-o", "sarif", &after, &example("wordpress-flat")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sarif = json(&run.stdout);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(results.iter().any(|r| r["ruleId"] == "NSD001"));
    assert!(results.iter().any(|r| r["ruleId"] == "NS101"));
    assert!(
        results
            .iter()
            .filter(|r| r["ruleId"] == "NSD001")
            .all(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("examples/wordpress-flat/"))),
        "{results:#?}"
    );
    assert_valid_sarif(&sarif);
    crate::sarif::assert_github_ingests(&sarif, "diff");
}

#[test]
fn a_missing_side_is_an_error() {
    let run = netseg(&["diff", "no/such/dir", &example("wordpress-flat")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no/such/dir"), "{}", run.stderr);
}

#[test]
fn before_to_after_text_matches_snapshot() {
    let dir = before_and_after();
    let after = dir.path().join("after").display().to_string();
    let run = netseg(&["diff", &example("wordpress-flat"), &after]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("diff_flat_before_after", run.stdout.replace(&after, "<after>"));
}

/// The change as a picture: opened connections red, closed ones dashed, in Mermaid, DOT (which Graphviz accepts)
/// and a self-contained HTML page.
#[test]
fn graphs_draw_opened_connections_red_and_closed_ones_dashed() {
    let dir = before_and_after();
    let after = dir.path().join("after").display().to_string();
    let opened = netseg(&["diff", "-o", "mermaid", &after, &example("wordpress-flat")]);
    assert_eq!(opened.code, 1, "{}", opened.stderr);
    assert!(opened.stdout.starts_with("flowchart LR\n"), "{}", opened.stdout);
    assert!(opened.stdout.contains("|\"+ all ports\"|"), "{}", opened.stdout);
    assert!(opened.stdout.contains("stroke:#d62728"), "opened edges are red:\n{}", opened.stdout);
    let closed = netseg(&["diff", "-o", "mermaid", &example("wordpress-flat"), &after]);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    assert!(closed.stdout.contains(" -.->|\"- all ports\"| "), "{}", closed.stdout);
    assert!(!closed.stdout.contains("stroke:#d62728"), "nothing opens:\n{}", closed.stdout);
    let dot = netseg(&["diff", "-o", "dot", &after, &example("wordpress-flat")]);
    assert!(dot.stdout.contains("color=\"#d62728\""), "{}", dot.stdout);
    if let Some(graphviz) = super::reach::graphviz() {
        super::reach::svg_from_graphviz(&graphviz, &dot.stdout, "diff -o dot");
    }
    let html = netseg(&["diff", "-o", "html", &after, &example("wordpress-flat")]);
    assert_eq!(html.code, 1, "{}", html.stderr);
    assert!(html.stdout.starts_with("<!DOCTYPE html>"), "{:.200}", html.stdout);
    assert!(!html.stdout.contains("src=\"http") && !html.stdout.contains("href=\"http"), "self-contained");
    assert!(html.stdout.contains("\"added\""), "the embedded graph carries the edge styles");
}
