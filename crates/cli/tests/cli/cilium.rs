//! Cilium's policies on the real binary: bad input named by file, line and field, and the rest still analysed.

use super::*;
use crate::bad_input::GOOD;

/// A CiliumNetworkPolicy that would isolate `a/web` if it were valid, with the broken part appended.
fn cilium_policy(tail: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: broken, namespace: a}}\nspec:\n  endpointSelector: {{matchLabels: {{app: web}}}}\n{tail}"
    )
}

#[test]
fn invalid_cilium_policies_are_left_out_with_file_line_and_field() {
    let cases = [
        (cilium_policy("  egress:\n  - toEntities: [internet]\n"), 7, "spec.egress[0].toEntities[0]", "unsupported entity"),
        (cilium_policy("  ingress:\n  - fromCIDR: [10.0.0.0/33]\n"), 7, "spec.ingress[0].fromCIDR[0]", "prefix length"),
        (
            cilium_policy("  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: TCP}]\n      rules:\n        http:\n        - path: \"/api/(v1\"\n"),
            11,
            "spec.ingress[0].toPorts[0].rules.http[0].path",
            "not a valid regular expression",
        ),
        (
            cilium_policy("  ingress:\n  - toPorts:\n    - ports:\n      - port: \"99999\"\n"),
            9,
            "spec.ingress[0].toPorts[0].ports[0].port",
            "not a port",
        ),
        (cilium_policy("  ingress:\n  - toPorts:\n    - ports:\n      - port: 80\n"), 9, "spec.ingress[0].toPorts[0].ports[0].port", "quoted"),
        (
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: broken, namespace: a}\n".to_string(),
            1,
            "spec",
            "needs `spec` or `specs`",
        ),
    ];
    for (bad, line, field, message) in cases {
        let dir = tree(&[("good.yaml", GOOD), ("bad.yaml", &bad)]);
        let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
        assert_eq!(run.code, 2, "{field}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("bad.yaml:{line}:")), "{field}: expected line {line} in\n{}", run.stderr);
        assert!(run.stderr.contains(field) && run.stderr.contains(message), "{field}: {}", run.stderr);
        assert!(run.stderr.contains("CiliumNetworkPolicy a/broken"), "{}", run.stderr);
        let pairs = pairs(&json(&run.stdout));
        assert!(pairs.contains(&("a/client[Pod]".to_string(), "a/web[Pod]".to_string())), "{field}: left out");
        assert!(!pairs.contains(&("a/client[Pod]".to_string(), "b/db[Pod]".to_string())), "{field}: rest analysed");
    }
}

#[test]
fn spec_and_specs_together_warn_and_do_not_fail() {
    let both = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: both, namespace: a}\nspec:\n  endpointSelector: {}\n  ingress: [{}]\nspecs:\n- endpointSelector: {}\n  egress: [{}]\n";
    let dir = tree(&[("good.yaml", GOOD), ("both.yaml", both)]);
    let run = netseg(&["reach", "-o", "json", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("both.yaml:7:") && run.stderr.contains("both `spec` and `specs`"), "{}", run.stderr);
}
