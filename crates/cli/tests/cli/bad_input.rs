//! Every bad-input path of PRODUCT.md: the exit status, a message naming file, line and field, and the rest of the
//! input still analysed.

use super::*;

/// Good objects beside every bad one: `b/db` is isolated by a valid default-deny, `a/web` is open.
pub(crate) const GOOD: &str = "\
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
---
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
---
kind: Pod
metadata: {name: db, namespace: b, labels: {app: db}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: b}
spec: {podSelector: {}}
";

/// A policy that would isolate `a/web` if it were valid, with `{BAD}` replaced by the broken part.
fn policy(spec_tail: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: broken, namespace: a}}\nspec:\n  podSelector: {{matchLabels: {{app: web}}}}\n{spec_tail}"
    )
}

struct Case {
    name: &'static str,
    bad: String,
    line: u32,
    field: &'static str,
    message: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "invalid cidr", bad: policy("  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/33}\n"), line: 8, field: "spec.ingress[0].from[0].ipBlock.cidr", message: "prefix length" },
        Case { name: "cidr without prefix", bad: policy("  egress:\n  - to:\n    - ipBlock:\n        cidr: 10.1.2.3\n"), line: 9, field: "spec.egress[0].to[0].ipBlock.cidr", message: "not a CIDR" },
        Case { name: "except outside cidr", bad: policy("  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}\n"), line: 8, field: "spec.ingress[0].from[0].ipBlock.except[0]", message: "strict subset" },
        Case { name: "selector operator", bad: policy("  ingress:\n  - from:\n    - podSelector:\n        matchExpressions:\n        - {key: app, operator: Equals, values: [x]}\n"), line: 10, field: "spec.ingress[0].from[0].podSelector.matchExpressions[0].operator", message: "not a valid operator" },
        Case { name: "In without values", bad: policy("  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n        - {key: team, operator: In}\n"), line: 10, field: "matchExpressions[0].values", message: "at least one value" },
        Case { name: "port out of range", bad: policy("  ingress:\n  - ports:\n    - port: 0\n"), line: 8, field: "spec.ingress[0].ports[0].port", message: "outside 1-65535" },
        Case { name: "endPort below port", bad: policy("  ingress:\n  - ports:\n    - port: 8080\n      endPort: 80\n"), line: 9, field: "spec.ingress[0].ports[0].endPort", message: "below port" },
        Case { name: "endPort with named port", bad: policy("  ingress:\n  - ports:\n    - {port: http, endPort: 90}\n"), line: 8, field: "spec.ingress[0].ports[0].endPort", message: "named port" },
        Case { name: "bad protocol", bad: policy("  ingress:\n  - ports:\n    - {protocol: tcp, port: 80}\n"), line: 8, field: "spec.ingress[0].ports[0].protocol", message: "TCP, UDP, SCTP" },
        Case { name: "ipBlock mixed with selector", bad: policy("  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8}\n      namespaceSelector: {}\n"), line: 8, field: "spec.ingress[0].from[0]", message: "ipBlock together with" },
        Case { name: "empty peer", bad: policy("  ingress:\n  - from:\n    - {}\n"), line: 8, field: "spec.ingress[0].from[0]", message: "empty peer" },
        Case { name: "wrong type: ports is not a list", bad: policy("  ingress:\n  - ports: 80\n"), line: 7, field: "spec.ingress[0].ports", message: "expected a list" },
        Case { name: "wrong type: label value", bad: policy("  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {enabled: yes}\n"), line: 9, field: "matchLabels.enabled", message: "quote it" },
        Case { name: "bad policy type", bad: policy("  policyTypes: [ingress]\n"), line: 6, field: "spec.policyTypes[0]", message: "not a policy type" },
    ]
}

#[test]
fn invalid_objects_are_left_out_with_file_line_and_field() {
    for case in cases() {
        let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &case.bad)]);
        let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
        assert_eq!(run.code, 2, "{}: {}", case.name, run.stderr);
        let location = format!("bad.yaml:{}:", case.line);
        assert!(run.stderr.contains(&location), "{}: expected {location} in\n{}", case.name, run.stderr);
        assert!(run.stderr.contains(case.field), "{}: expected field {} in\n{}", case.name, case.field, run.stderr);
        assert!(run.stderr.contains(case.message), "{}: expected `{}` in\n{}", case.name, case.message, run.stderr);
        assert!(run.stderr.contains("NetworkPolicy a/broken"), "{}: {}", case.name, run.stderr);
        let pairs = pairs(&json(&run.stdout));
        let open = ("a/client[Pod]".to_string(), "a/web[Pod]".to_string());
        let isolated = ("a/client[Pod]".to_string(), "b/db[Pod]".to_string());
        assert!(pairs.contains(&open), "{}: the broken policy must be left out", case.name);
        assert!(!pairs.contains(&isolated), "{}: the good policy must still apply", case.name);
    }
}

/// An AdminNetworkPolicy that would deny a/client → a/web, broken in the ways its CRD schema refuses.
fn admin_policy(tail: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: broken}}\nspec:\n  subject: {{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: a}}}}}}\n{tail}"
    )
}

#[test]
fn invalid_admin_policies_are_left_out_with_file_line_and_field() {
    let deny = "  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}\n";
    let cases = [
        (admin_policy(&format!("  priority: 1001\n{deny}")), 6, "spec.priority", "outside 0-1000"),
        (
            admin_policy("  priority: 1\n  ingress:\n  - {action: Reject, from: [{namespaces: {}}]}\n"),
            8,
            "spec.ingress[0].action",
            "not an action",
        ),
        (
            admin_policy("  priority: 1\n  egress:\n  - {action: Deny, to: [{networks: [10.0.0.0/40]}]}\n"),
            8,
            "spec.egress[0].to[0].networks[0]",
            "prefix length",
        ),
        (
            admin_policy(&format!(
                "  priority: 1\n{}",
                deny.replace("{namespaces: {}}", "{namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}")
            )),
            8,
            "spec.ingress[0].from[0]",
            "exactly one of namespaces, pods",
        ),
    ];
    for (bad, line, field, message) in cases {
        let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &bad)]);
        let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
        assert_eq!(run.code, 2, "{field}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("bad.yaml:{line}:")), "{field}: {}", run.stderr);
        assert!(run.stderr.contains(field) && run.stderr.contains(message), "{field}: {}", run.stderr);
        assert!(run.stderr.contains("AdminNetworkPolicy broken"), "{}", run.stderr);
        let pairs = pairs(&json(&run.stdout));
        assert!(pairs.contains(&("a/client[Pod]".to_string(), "a/web[Pod]".to_string())), "{field}: left out");
        assert!(!pairs.contains(&("a/client[Pod]".to_string(), "b/db[Pod]".to_string())), "{field}: rest analysed");
    }
    // The same policy, valid, denies it: the harness can tell.
    let valid = admin_policy(&format!("  priority: 1\n{deny}"));
    let run = netseg(&[
        "reach",
        "-o",
        "json",
        &tree(&[("good.yaml", GOOD), ("ok.yaml", &valid)]).path().display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!pairs(&json(&run.stdout)).contains(&("a/client[Pod]".to_string(), "a/web[Pod]".to_string())));
}

#[test]
fn invalid_yaml_loses_only_its_own_document() {
    let bad =
        "kind: Pod\nmetadata: {name: broken, namespace: a\n---\nkind: Pod\nmetadata: {name: after, namespace: a}\n";
    let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", bad)]);
    let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yaml:2:") && run.stderr.contains("invalid YAML"), "{}", run.stderr);
    let reach = json(&run.stdout);
    assert!(pairs(&reach).iter().any(|(src, _)| src == "a/after[Pod]"), "the next document is still read");
}

#[test]
fn invalid_json_file_is_reported() {
    let dir = tree(&[("good.yaml", GOOD), ("bad.json", "{\"kind\": \"Pod\",\n \"metadata\": {\"name\": \"x\"\n")]);
    let run = netseg(&["reach", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.json:"), "{}", run.stderr);
    assert!(run.stdout.contains("a/client[Pod]"));
}

#[test]
fn unknown_fields_warn_and_are_analysed_as_stored() {
    let bad = policy("  ingres:\n  - {}\n");
    let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &bad)]);
    let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "a warning is not an error: {}", run.stderr);
    assert!(run.stderr.contains("bad.yaml:6:") && run.stderr.contains("did you mean `spec.ingress`"), "{}", run.stderr);
    // Stored without `ingres`: the policy isolates a/web with no ingress rule.
    let pairs = pairs(&json(&run.stdout));
    assert!(!pairs.contains(&("a/client[Pod]".to_string(), "a/web[Pod]".to_string())));
}

#[test]
fn missing_path_is_an_error_and_the_rest_is_read() {
    let dir = tree(&[("good.yaml", GOOD)]);
    let run = netseg(&["reach", "/nonexistent/netseg/input.yaml", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/netseg/input.yaml") && run.stderr.contains("cannot read"));
    assert!(run.stdout.contains("a/client[Pod]"));
}

#[test]
fn alias_bomb_is_refused_and_names_the_limit() {
    let mut bomb = String::from(
        "kind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..10 {
        let prev = level - 1;
        bomb.push_str(&format!("  a{level}: &a{level} [{}]\n", vec![format!("*a{prev}"); 9].join(", ")));
    }
    let dir = tree(&[("good.yaml", GOOD), ("bomb.yaml", &bomb)]);
    let run = netseg(&["reach", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bomb.yaml:") && run.stderr.contains("limit"), "{}", run.stderr);
    assert!(run.stdout.contains("a/client[Pod]"));
}

#[test]
fn deep_nesting_and_binary_garbage_are_refused() {
    let deep = format!("kind: Pod\nmetadata: {{name: deep}}\nspec: {}\n", "[".repeat(50_000));
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let dir = tree(&[("good.yaml", GOOD), ("deep.yaml", &deep)]);
    std::fs::write(dir.path().join("garbage.yaml"), garbage).expect("write");
    let run = netseg(&["reach", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("deep.yaml:3:") && run.stderr.contains("nested deeper"), "{}", run.stderr);
    assert!(run.stderr.contains("garbage.yaml"), "{}", run.stderr);
    assert!(run.stdout.contains("a/client[Pod]"));
}

#[test]
fn non_kubernetes_documents_are_skipped_without_error() {
    let dir = tree(&[
        ("good.yaml", GOOD),
        ("values.yaml", "replicaCount: 3\nimage: {tag: latest}\n"),
        ("list.yaml", "- a\n- b\n"),
    ]);
    let run = netseg(&["reach", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn non_canonical_cidr_means_the_masked_network() {
    let allow = policy("  ingress:\n  - from:\n    - ipBlock: {cidr: 10.244.1.10/4}\n");
    let dir = tree(&[("good.yaml", GOOD), ("p.yaml", &allow)]);
    let run = netseg(&["can", "--from", "15.0.0.1", "--to", "a/web", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("addresses in 0.0.0.0/4"), "{}", run.stdout);
}
