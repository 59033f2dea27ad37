//! NS147 declared-flow-blocked (issue #16): the flows the application declares (the inference `generate` uses)
//! or was seen making (`audit --flows`), checked against the policies in effect.

use super::*;

fn ns147(paths: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let run = netseg(&[&["audit", "-o", "json", "--fail-on", "high"], paths].concat());
    let findings = json(&run.stdout)["findings"].as_array().expect("findings").clone();
    let found = findings.into_iter().filter(|f| f["rule"] == "NS147").collect();
    (run, found)
}

/// An egress default-deny on Sock Shop without the egress its own ingress policies imply: front-end → catalogue
/// (admitted by catalogue-access) breaks. NS147 names the flow, where it was declared, and the rule to add; with
/// that rule, the finding goes and `can` allows the flow.
#[test]
fn an_egress_default_deny_breaks_flows_the_ingress_policies_declare() {
    let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress, namespace: sock-shop}\nspec: {podSelector: {}, policyTypes: [Egress]}\n";
    let dir = tree(&[("deny.yaml", deny)]);
    let deny = dir.path().join("deny.yaml").display().to_string();
    let input = fixture("policy-declared");
    let (run, found) = ns147(&[&input, &deny]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let catalogue = found
        .iter()
        .find(|f| {
            f["message"].as_str().is_some_and(|m| {
                m.starts_with("sock-shop/front-end[Deployment] → sock-shop/catalogue[Deployment] TCP 80")
            })
        })
        .unwrap_or_else(|| panic!("{found:?}"));
    let evidence = catalogue["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains("NetworkPolicy sock-shop/catalogue-access ingress[0] admits pods name=front-end"),
        "{evidence}"
    );
    assert!(
        evidence.contains("the egress of sock-shop/front-end[Deployment] is isolated by sock-shop/deny-egress"),
        "{evidence}"
    );
    // The egress default-deny also cuts DNS (no kube-dns in the input, no rule on port 53): the second change.
    let remediation = catalogue["remediation"].as_str().unwrap_or_default();
    assert!(
        remediation.starts_with(
            "add to sock-shop/front-end[Deployment]'s egress: {to: [{podSelector: {matchLabels: {name: catalogue}}}], ports: TCP 80}; "
        ),
        "{remediation}"
    );
    assert!(remediation.contains("k8s-app: kube-dns"), "{remediation}");
    assert_eq!(catalogue["witness"]["to"], "sock-shop/catalogue[Deployment]");

    // The change, applied.
    let allow = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: front-end-out, namespace: sock-shop}\nspec:\n  podSelector: {matchLabels: {name: front-end}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {name: catalogue}}}], ports: [{protocol: TCP, port: 80}]}]\n";
    let fixed = tree(&[("allow.yaml", allow)]);
    let allow = fixed.path().join("allow.yaml").display().to_string();
    let (_, after) = ns147(&[&input, &deny, &allow]);
    assert!(
        !after
            .iter()
            .any(|f| f["message"].as_str().is_some_and(|m| m.contains("→ sock-shop/catalogue[Deployment]")
                && m.ends_with("is declared but the policies deny it"))),
        "{after:?}"
    );
    let can = netseg(&[
        "can",
        "--from",
        "sock-shop/front-end",
        "--to",
        "sock-shop/catalogue",
        "--port",
        "80",
        &input,
        &deny,
        &allow,
    ]);
    assert_eq!(can.code, 0, "{}", can.stdout);
}

/// A selector typo: WordPress's env names redis; redis admits `app: wordpres`. NS147 names the label it missed.
#[test]
fn a_selector_typo_is_named_with_the_label_it_missed() {
    let typo = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: redis-in, namespace: blog}\nspec:\n  podSelector: {matchLabels: {app: redis}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: wordpres}}}], ports: [{port: 6379}]}]\n";
    let dir = tree(&[("typo.yaml", typo)]);
    let (run, found) = ns147(&[&example("wordpress-flat"), &dir.path().join("typo.yaml").display().to_string()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let redis = found.iter().find(|f| f["resource"]["name"] == "redis").unwrap_or_else(|| panic!("{found:?}"));
    let remediation = redis["remediation"].as_str().unwrap_or_default();
    assert!(remediation.contains("it wants app=wordpres (it has app=wordpress)"), "{remediation}");
    assert!(
        redis["evidence"]
            .as_str()
            .unwrap_or_default()
            .contains("env WP_REDIS_HOST names redis (examples/wordpress-flat/wordpress.yaml:"),
        "{redis}"
    );
}

/// `audit --flows`: an observed flow the segmented example denies is NS147, naming the flow file and line; a bad
/// row is an error naming file, line and column, and exits 2.
#[test]
fn observed_flows_the_policies_deny_are_findings() {
    let flows = tree(&[
        (
            "flows.csv",
            "src_namespace,src_workload,dst_namespace,dst_workload,port,protocol\nblog,mysql,blog,redis,6379,TCP\n",
        ),
        ("bad.csv", "blog,mysql,blog,redis,notaport,TCP\n"),
    ]);
    let csv = flows.path().join("flows.csv").display().to_string();
    let (run, found) = ns147(&["--flows", &csv, &example("wordpress-segmented")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let seen = found
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("blog/mysql[StatefulSet] → blog/redis[Deployment] TCP 6379"))
        })
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(seen["evidence"].as_str().unwrap_or_default().contains(&format!("observed flow {csv}:2")), "{seen}");
    let (without, _) = ns147(&[&example("wordpress-segmented")]);
    assert_eq!(without.code, 0, "nothing declared is blocked: {}", without.stdout);

    let bad = flows.path().join("bad.csv").display().to_string();
    let run = netseg(&["audit", "--flows", &bad, &example("wordpress-segmented")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("error: {bad}:1:")), "{}", run.stderr);
}

/// `diff --flows`: segmenting the flat example only removes connectivity, but it breaks an observed flow
/// (mysql → redis, which nothing declares): the flow is named under BROKEN FLOWS and the gate fails.
#[test]
fn diff_fails_a_change_that_breaks_an_observed_flow() {
    let flows = tree(&[("flows.csv", "blog,mysql,blog,redis,6379,TCP\n")]);
    let csv = flows.path().join("flows.csv").display().to_string();
    let (old, new) = (example("wordpress-flat"), example("wordpress-segmented"));
    let run = netseg(&["diff", "--flows", &csv, &old, &new]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("BROKEN FLOWS (declared or observed, denied after the change)\n  ✗ blog/mysql[StatefulSet] → blog/redis[Deployment] TCP 6379 is declared but the policies deny it\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("observed flow {csv}:1")), "{}", run.stdout);
    let json_run = netseg(&["diff", "-o", "json", "--flows", &csv, &old, &new]);
    assert_eq!(json_run.code, 1);
    assert!(json_run.stdout.contains("\"NS147\""), "{}", json_run.stdout);
    // Without the flow, the same change keeps every declared flow and passes.
    let plain = netseg(&["diff", &old, &new]);
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    assert!(!plain.stdout.contains("BROKEN"), "{}", plain.stdout);
}

/// Secrets' values never appear in any output: a distinctive value planted in a Secret (`data` and `stringData`)
/// and as the password of a connection string in env is in no format of audit, generate, diff or reach.
#[test]
fn secret_values_never_appear_in_any_output() {
    const PLANTED: &str = "Zq7planted-secret-9Xw";
    let encoded = "WnE3cGxhbnRlZC1zZWNyZXQtOVh3"; // base64 of PLANTED
    let app = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\ndata: {{password: {encoded}}}\nstringData: {{url: \"postgres://app:{PLANTED}@pg:5432/shop\"}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: example/web\n        env:\n        - {{name: DB_URL, value: \"postgres://app:{PLANTED}@pg:5432/shop\"}}\n        - name: DB_PASSWORD\n          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: pg, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: pg}}}}\n  template:\n    metadata: {{labels: {{app: pg}}}}\n    spec: {{containers: [{{name: pg, image: postgres, ports: [{{containerPort: 5432}}]}}]}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: pg, namespace: shop}}\nspec: {{selector: {{app: pg}}, ports: [{{port: 5432}}]}}\n"
    );
    let dir = tree(&[("app.yaml", app.as_str())]);
    let input = dir.path().display().to_string();
    let (generate, out) = {
        let run = netseg(&["generate", &input]);
        let out = tree(&[("generated.yaml", run.stdout.as_str())]);
        (run, out)
    };
    assert_eq!(generate.code, 0, "{}", generate.stderr);
    assert!(generate.stderr.contains("env DB_URL names pg:5432"), "the reference is used: {}", generate.stderr);
    let generated = out.path().join("generated.yaml").display().to_string();
    let mut runs = vec![generate];
    for format in ["text", "json", "sarif", "markdown", "html"] {
        runs.push(netseg(&["audit", "-o", format, "--fail-on", "none", "-v", &input]));
    }
    for format in ["text", "json", "sarif", "markdown", "mermaid", "dot", "html"] {
        runs.push(netseg(&["diff", "-o", format, &input, &generated]));
    }
    runs.push(netseg(&["reach", "-o", "json", &input]));
    runs.push(netseg(&["reach", &input]));
    for run in &runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(PLANTED) && !text.contains(encoded), "a Secret value leaked:\n{text}");
        }
    }
}
