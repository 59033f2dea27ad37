use super::*;

#[test]
fn wordpress_example_json_matches_snapshot() {
    let run = netseg(&["reach", "-o", "json", &example("misindented-selector")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_json_snapshot!("wordpress_reach", json(&run.stdout));
}

#[test]
fn wordpress_example_text_matches_snapshot() {
    let run = netseg(&["reach", &example("misindented-selector")]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("wordpress_reach_text", run.stdout);
}

#[test]
fn every_format_renders_and_dot_is_wellformed() {
    for format in ["text", "json", "csv", "md", "markdown", "dot"] {
        let run = netseg(&["reach", "-o", format, &example("misindented-selector")]);
        assert_eq!(run.code, 0, "format {format}: {}", run.stderr);
        assert!(run.stdout.contains("blog/wordpress[Deployment]"), "format {format}");
    }
    let dot = netseg(&["reach", "-o", "dot", &example("misindented-selector")]).stdout;
    assert!(dot.starts_with("digraph netseg {") && dot.trim_end().ends_with('}'));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    assert!(dot.contains("subgraph \"cluster_blog\""));
    let csv = netseg(&["reach", "-o", "csv", &example("misindented-selector")]).stdout;
    assert!(csv.starts_with("src,dst,protocol,ports,restricted\n"));
    assert!(csv.contains("blog/wordpress[Deployment],blog/mysql[StatefulSet],TCP,3306,\n"));
}

#[test]
fn filters_narrow_to_endpoint_and_port() {
    let run =
        netseg(&["reach", "-o", "json", "--to", "blog/mysql", "--port", "3306", &example("misindented-selector")]);
    let reach = json(&run.stdout);
    assert_eq!(pairs(&reach), [("blog/wordpress[Deployment]".to_string(), "blog/mysql[StatefulSet]".to_string())]);
    let run = netseg(&["reach", "-o", "json", "--from", "8.8.8.8", &example("misindented-selector")]);
    assert!(pairs(&json(&run.stdout)).iter().all(|(src, _)| src == "0.0.0.0/0"));
}

#[test]
fn dump_folds_pods_into_deployments_and_matches_ip_blocks_by_pod_ip() {
    let run = netseg(&["reach", "-o", "json", &fixture("dump")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = json(&run.stdout);
    let ids: Vec<&str> =
        reach["endpoints"].as_array().expect("endpoints").iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&"shop/api[Deployment]"), "{ids:?}");
    assert!(!ids.iter().any(|id| id.contains("ReplicaSet")), "the ReplicaSet folds into its Deployment: {ids:?}");
    let pairs = pairs(&reach);
    let batch_to_api = ("shop/batch-7[Pod]".to_string(), "shop/api[Deployment]".to_string());
    let legacy_to_api = ("shop/legacy-1[Pod]".to_string(), "shop/api[Deployment]".to_string());
    assert!(pairs.contains(&batch_to_api), "10.244.2.7 is inside the ipBlock 10.244.0.0/16");
    assert!(!pairs.contains(&legacy_to_api), "10.99.0.3 is outside it");
    let allowed = &reach["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["src"] == "shop/batch-7[Pod]" && c["dst"] == "shop/api[Deployment]")
        .expect("pair")["allowed"];
    assert_eq!(allowed["TCP"], serde_json::json!([[8080, 8080]]), "the named port resolves on the pod");
}

#[test]
fn stdin_mixes_with_paths() {
    let extra = "kind: Pod\nmetadata: {name: intruder, namespace: blog}\n";
    let run = netseg_stdin(&["reach", "-o", "json", "-", &example("misindented-selector")], extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(pairs(&json(&run.stdout)).iter().any(|(src, _)| src == "blog/intruder[Pod]"));
}

#[test]
fn skipped_documents_are_listed_with_verbose_only() {
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: default}\n";
    let dir = tree(&[("role.yaml", role)]);
    let inputs = [fixture("dump"), dir.path().display().to_string()];
    let quiet = netseg(&["reach", &inputs[0], &inputs[1]]);
    assert!(!quiet.stderr.contains("Role"));
    let verbose = netseg(&["reach", "-v", &inputs[0], &inputs[1]]);
    assert!(verbose.stderr.contains("kind `Role` is not read"), "{}", verbose.stderr);
    assert_eq!(verbose.code, 0);
}

#[test]
fn namespace_flag_places_objects_that_name_none() {
    let dir = tree(&[(
        "a.yaml",
        "kind: Pod\nmetadata: {name: first}\n---\nkind: Pod\nmetadata: {name: second, namespace: other}\n",
    )]);
    let run = netseg(&["reach", "-o", "json", "-n", "argocd", &dir.path().display().to_string()]);
    let reach = json(&run.stdout);
    let ids: Vec<&str> =
        reach["endpoints"].as_array().expect("endpoints").iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&"argocd/first[Pod]") && ids.contains(&"other/second[Pod]"), "{ids:?}");
}

#[test]
fn graph_formats_match_snapshots() {
    let dot = netseg(&["reach", "-o", "dot", &example("wordpress-segmented")]);
    assert_eq!(dot.code, 0, "{}", dot.stderr);
    insta::assert_snapshot!("wordpress_segmented_dot", dot.stdout);
    let mermaid = netseg(&["reach", "-o", "mermaid", &example("wordpress-segmented")]);
    assert_eq!(mermaid.code, 0, "{}", mermaid.stderr);
    insta::assert_snapshot!("wordpress_segmented_mermaid", mermaid.stdout);
}

/// The shape GitHub's Mermaid needs: `flowchart LR`, every subgraph closed, every edge between declared `nN` ids.
#[test]
fn mermaid_is_well_formed_on_every_example() {
    for name in ["wordpress-flat", "wordpress-segmented", "flannel-cluster", "host-network", "misindented-selector"] {
        let run = netseg(&["reach", "-o", "mermaid", &example(name)]);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.first(), Some(&"flowchart LR"), "{name}");
        let opened = lines.iter().filter(|l| l.trim_start().starts_with("subgraph ")).count();
        let closed = lines.iter().filter(|l| l.trim() == "end").count();
        assert_eq!(opened, closed, "{name}: every subgraph ends");
        let declared: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.trim().split(['[', '(', '{']).next())
            .filter(|id| id.starts_with('n') && id[1..].chars().all(|c| c.is_ascii_digit()) && id.len() > 1)
            .collect();
        for line in lines.iter().filter(|l| l.contains("-->") || l.contains("-.->") || l.contains("==>")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (from, to) = (words[0], words[words.len() - 1]);
            assert!(declared.contains(&from) && declared.contains(&to), "{name}: {line}");
        }
        assert!(!run.stdout.contains('"') || run.stdout.matches('"').count() % 2 == 0, "{name}: quotes pair up");
    }
}

/// Graphviz's SVG of `text`, which it must accept without a warning.
pub(crate) fn svg_from_graphviz(dot: &std::path::Path, text: &str, what: &str) -> String {
    let mut child = Command::new(dot)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dot");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write dot");
    let output = child.wait_with_output().expect("dot");
    assert!(output.status.success(), "{what}: dot rejected it: {}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{what}: dot warned: {}", String::from_utf8_lossy(&output.stderr));
    let svg = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(svg.contains("<svg"), "{what}: no SVG");
    svg
}

pub(crate) fn graphviz() -> Option<PathBuf> {
    let found = ["/usr/bin/dot", "/usr/local/bin/dot"].map(PathBuf::from).into_iter().find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var("NETSEG_REQUIRE_GRAPHVIZ").is_ok_and(|v| v == "1");
        assert!(!required, "NETSEG_REQUIRE_GRAPHVIZ=1 but no Graphviz `dot` (apt-get install graphviz)");
        eprintln!("skipped: no Graphviz `dot` (apt-get install graphviz)");
    }
    found
}

/// Graphviz itself accepts every example's DOT and draws one cluster per namespace.
#[test]
fn dot_renders_with_graphviz() {
    let Some(dot) = graphviz() else { return };
    for name in ["wordpress-flat", "wordpress-segmented", "flannel-cluster", "host-network", "misindented-selector"] {
        let run = netseg(&["reach", "-o", "dot", &example(name)]);
        let svg = svg_from_graphviz(&dot, &run.stdout, name);
        assert!(svg.contains("<title>cluster_"), "{name}: no namespace cluster in\n{svg:.400}");
    }
}

/// The expanded pairs of a grouped reach answer (`groups` of `src` and `dst` lists, a workload never with itself).
fn group_pairs(reach: &serde_json::Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for group in reach["groups"].as_array().expect("groups") {
        for src in group["src"].as_array().expect("src") {
            for dst in group["dst"].as_array().expect("dst") {
                if src != dst {
                    let id = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                    pairs.push((id(src), id(dst)));
                }
            }
        }
    }
    pairs.sort();
    pairs
}

#[test]
fn grouped_reach_stands_for_exactly_the_listed_pairs() {
    let listed = json(&netseg(&["reach", "-o", "json", "--group", "never", &example("wordpress-segmented")]).stdout);
    let grouped = json(&netseg(&["reach", "-o", "json", "--group", "always", &example("wordpress-segmented")]).stdout);
    let mut expected = pairs(&listed);
    expected.sort();
    assert_eq!(group_pairs(&grouped), expected);
    assert_eq!(grouped["pairs"].as_u64(), Some(expected.len() as u64));
    // A reader that only knows `connections` must not read a grouped answer as "nothing is allowed".
    assert!(grouped.get("connections").is_none());
}

#[test]
fn a_flat_cluster_beyond_the_pair_limit_is_shown_as_groups() {
    let workloads: String = (0..120)
        .map(|i| {
            format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: ns-{}}}\n\
                 spec: {{template: {{metadata: {{labels: {{app: app-{i}}}}}}}}}\n",
                i % 7
            )
        })
        .collect();
    let dir = tree(&[("flat.yaml", &workloads)]);
    let path = dir.path().to_string_lossy().to_string();
    let run = netseg(&["reach", "-o", "json", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("--group never lists every pair"), "{}", run.stderr);
    let reach = json(&run.stdout);
    // Every workload reaches every other and the outside, and is reached from it: one group each way.
    assert_eq!(reach["pairs"].as_u64(), Some(120 * 119 + 2 * 120));
    assert_eq!(reach["groups"].as_array().map(Vec::len), Some(3));
    // Filtered, the same cluster is short enough to list pair by pair.
    let run = netseg(&["reach", "-o", "json", "--from", "ns-0/app-0", &path]);
    assert_eq!(pairs(&json(&run.stdout)).len(), 120);
}

#[test]
fn pod_granularity_lists_each_pod_of_a_dump() {
    let run = netseg(&["reach", "-o", "json", "--granularity", "pod", &fixture("dump")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = json(&run.stdout);
    let ids: Vec<&str> =
        reach["endpoints"].as_array().expect("endpoints").iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&"shop/api-5d8f-abcde[Pod]"), "{ids:?}");
    assert!(!ids.contains(&"shop/api[Deployment]"), "{ids:?}");
    assert!(pairs(&reach).contains(&("shop/batch-7[Pod]".to_string(), "shop/api-5d8f-abcde[Pod]".to_string())));
}

#[test]
fn timings_name_every_phase_on_stderr() {
    let run = netseg(&["--timings", "audit", &example("wordpress-flat")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.stderr.lines().find(|l| l.starts_with("timings: ")).unwrap_or_default();
    for phase in ["parse ", "model ", "engine ", "audit ", "output ", "total "] {
        assert!(line.contains(phase), "no {phase}in `{line}`");
    }
    assert!(!netseg(&["audit", &example("wordpress-flat")]).stderr.contains("timings:"));
}

#[test]
fn only_a_graph_of_every_pair_beyond_the_limit_is_refused_with_its_size() {
    let workloads: String = (0..4)
        .map(|i| format!("---\nkind: Deployment\nmetadata: {{name: app-{i}}}\nspec: {{template: {{metadata: {{labels: {{app: a{i}}}}}}}}}\n"))
        .collect();
    let dir = tree(&[("flat.yaml", &workloads)]);
    let path = dir.path().to_string_lossy().to_string();
    let run = |args: &[&str]| {
        finish(
            Command::new(env!("CARGO_BIN_EXE_netseg"))
                .args(args)
                .current_dir(repo_root())
                .env("NETSEG_MAX_PAIRS", "11")
                .output()
                .expect("run netseg"),
        )
    };
    // Four workloads that no rule tells apart: twelve workload pairs, and each to and from the outside (20). The audit, the blast radius and the grouped
    // answer question the factored answer and have no limit.
    let audit = run(&["audit", &path]);
    assert_eq!(audit.code, 1, "{}", audit.stderr);
    let blast = run(&["blast-radius", "--from", "default/app-0", &path]);
    assert_eq!(blast.code, 0, "{}", blast.stderr);
    let grouped = run(&["reach", "--group", "always", "-o", "json", &path]);
    assert_eq!(grouped.code, 0, "{}", grouped.stderr);
    // A listing in text, JSON, CSV or Markdown is written as the pairs are produced, so no limit applies to it.
    for format in ["text", "json", "csv", "md"] {
        let listed = run(&["reach", "--group", "never", "-o", format, &path]);
        assert_eq!(listed.code, 0, "-o {format}: {}", listed.stderr);
    }
    let listed = run(&["reach", "--group", "never", "-o", "json", &path]);
    let answer: serde_json::Value = serde_json::from_str(&listed.stdout).expect("reach JSON");
    assert_eq!(answer["connections"].as_array().map(Vec::len), Some(20), "{}", listed.stdout);
    // A graph is laid out whole: drawing every pair is refused, with how many and what to ask instead.
    let listed = run(&["reach", "--group", "never", "-o", "dot", &path]);
    assert_eq!(listed.code, 2, "{}", listed.stderr);
    assert!(
        listed.stderr.contains("too large to list pair by pair: 20 allowed pairs, more than the limit of 11"),
        "{}",
        listed.stderr
    );
    assert!(listed.stderr.contains("--group auto") && listed.stderr.contains("netseg can"), "{}", listed.stderr);
}
