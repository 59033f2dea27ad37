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

/// Cilium's Star Wars demo with its L3/L4/L7 rule: the empire may only request a landing.
const STAR_WARS_L7: &str = "kind: Pod
metadata: {name: deathstar, namespace: default, labels: {org: empire, class: deathstar}}
spec: {containers: [{ports: [{containerPort: 80}]}]}
---
kind: Pod
metadata: {name: tiefighter, namespace: default, labels: {org: empire, class: tiefighter}}
---
kind: Pod
metadata: {name: xwing, namespace: default, labels: {org: alliance, class: xwing}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: default}
spec:
  endpointSelector: {matchLabels: {org: empire, class: deathstar}}
  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: '80', protocol: TCP}]
      rules:
        http: [{method: POST, path: /v1/request-landing}]
";

#[test]
fn can_lists_the_l7_conditions_and_decides_a_named_request() {
    let dir = tree(&[("sw.yaml", STAR_WARS_L7)]);
    let path = dir.path().display().to_string();
    let can = |extra: &[&str]| {
        let mut args = vec!["can", "--cni", "cilium", "--from", "default/tiefighter", "--to", "default/deathstar"];
        args.extend_from_slice(&["--port", "80"]);
        args.extend_from_slice(extra);
        args.push(&path);
        netseg(&args)
    };
    // No request named: the port is allowed, with the conditions listed.
    let open = can(&[]);
    assert_eq!(open.code, 0, "{}{}", open.stdout, open.stderr);
    assert!(
        open.stdout.contains("allowed by ingress rule spec.ingress[0] of CiliumNetworkPolicy default/rule1 (line 17)"),
        "{}",
        open.stdout
    );
    assert!(open.stdout.contains("HTTP POST /v1/request-landing"), "{}", open.stdout);
    let json = serde_json::from_str::<serde_json::Value>(&can(&["-o", "json"]).stdout).expect("json");
    let entry = &json["steps"][1]["by"][0];
    assert_eq!(
        (entry["kind"].as_str(), entry["rule"].as_str()),
        (Some("CiliumNetworkPolicy"), Some("spec.ingress[0]"))
    );
    assert!(entry["conditions"][0].as_str().is_some_and(|c| c.starts_with("HTTP POST /v1/request-landing")));
    // The landing request passes; the exhaust port does not (Cilium answers 403 Access denied).
    let landing = can(&["--method", "POST", "--path", "/v1/request-landing"]);
    assert_eq!(landing.code, 0, "{}", landing.stdout);
    assert!(
        landing.stdout.contains("Cilium L7: the request is admitted by CiliumNetworkPolicy default/rule1"),
        "{}",
        landing.stdout
    );
    let exhaust = can(&["--method", "PUT", "--path", "/v1/exhaust-port", "-o", "json"]);
    assert_eq!(exhaust.code, 1, "{}", exhaust.stdout);
    let json = serde_json::from_str::<serde_json::Value>(&exhaust.stdout).expect("json");
    assert_eq!(json["request_verdicts"][0]["verdict"], "denied");
    assert_eq!(json["allowed"], false);
    // A request that gives no path: the rule tests it, so the request cannot be decided.
    let unknown = can(&["--method", "POST"]);
    assert!(unknown.stdout.contains("the request cannot be decided"), "{}", unknown.stdout);
    // The alliance is dropped at L3.
    let xwing = netseg(&["can", "--cni", "cilium", "--from", "default/xwing", "--to", "default/deathstar", &path]);
    assert_eq!(xwing.code, 1, "{}", xwing.stdout);
}

/// A pod that may reach api.github.com by name, with the L7 DNS rule that lets its lookups of `*.github.com`
/// through Cilium's DNS proxy, and a pod with the toFQDNs rule but no DNS rule.
const FQDN: &str = "kind: Pod
metadata: {name: app, namespace: shop, labels: {app: app}}
---
kind: Pod
metadata: {name: blind, namespace: shop, labels: {app: blind}}
---
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-github, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: app}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: '53', protocol: ANY}], rules: {dns: [{matchPattern: '*.github.com'}]}}]
  - toFQDNs: [{matchName: api.github.com}, {matchPattern: '*.githubusercontent.com'}]
    toPorts: [{ports: [{port: '443', protocol: TCP}]}]
  - toEntities: [kube-apiserver]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: blind, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: blind}}
  egress:
  - toFQDNs: [{matchName: api.github.com}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets: [{addresses: [{ip: 172.18.0.2}], ports: [{name: https, port: 6443, protocol: TCP}]}]
";

#[test]
fn can_decides_to_fqdns_by_the_name_and_says_when_the_dns_proxy_never_sees_the_lookup() {
    let dir = tree(&[("fqdn.yaml", FQDN)]);
    let path = dir.path().display().to_string();
    let can = |from: &str, to: &str, port: &str, extra: &[&str]| {
        let mut args = vec!["can", "--cni", "cilium", "--from", from, "--to", to, "--port", port];
        args.extend_from_slice(extra);
        args.push(&path);
        netseg(&args)
    };
    let allowed = can("shop/app", "API.GitHub.com.", "443", &[]);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(allowed.stdout.starts_with("ALLOWED  shop/app[Pod] → api.github.com (a DNS name) on TCP 443"));
    assert!(allowed.stdout.contains("matchName api.github.com. (matches api.github.com)"), "{}", allowed.stdout);
    assert!(
        allowed.stdout.contains("lookup of api.github.com passes Cilium's DNS proxy (egress rule spec.egress[0]"),
        "{}",
        allowed.stdout
    );
    // The pattern names the host, but the DNS rule refuses its lookup: Cilium never learns its addresses.
    let refused = can("shop/app", "raw.githubusercontent.com", "443", &["-o", "json"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let answer = json(&refused.stdout);
    assert_eq!(answer["outside"]["name"], "raw.githubusercontent.com");
    assert_eq!(answer["outside"]["fqdn"]["learnt"], false);
    assert_eq!(answer["outside"]["fqdn"]["fqdn_rules"][0]["rule"], "spec.egress[1]");
    assert_eq!(answer["outside"]["fqdn"]["fqdn_rules"][0]["line"], 18);
    let blind = can("shop/blind", "api.github.com", "443", &[]);
    assert_eq!(blind.code, 1, "{}", blind.stdout);
    assert!(blind.stdout.contains("no L7 DNS rule of shop/blind[Pod]'s egress lets its lookup"), "{}", blind.stdout);
    // Entities: the API server by its endpoints, and the world, where the toFQDNs rule does not count.
    let api = can("shop/app", "kube-apiserver", "6443", &[]);
    assert_eq!(api.code, 0, "{}", api.stdout);
    assert!(api.stdout.contains("to toEntities kube-apiserver, on TCP 6443"), "{}", api.stdout);
    let world = can("shop/app", "world", "443", &["-o", "json"]);
    assert_eq!(world.code, 0, "a toFQDNs peer stands for any address when no name is given: {}", world.stdout);
    assert_eq!(json(&world.stdout)["outside"]["entity"], "world");
}

#[test]
fn audit_names_an_allow_that_a_clusterwide_deny_cuts_with_both_rules() {
    let text = "kind: Pod
metadata: {name: agent, namespace: ops, labels: {app: agent}}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: no-metadata}
spec:
  endpointSelector: {}
  egressDeny: [{toCIDR: [169.254.169.254/32]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent, namespace: ops}
spec:
  podSelector: {matchLabels: {app: agent}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 169.254.169.254/32}}]
";
    let dir = tree(&[("deny.yaml", text)]);
    let run = netseg(&["audit", "--cni", "cilium", "-o", "json", &dir.path().display().to_string()]);
    let findings = json(&run.stdout)["findings"].as_array().expect("findings").clone();
    let ns186: Vec<&serde_json::Value> = findings.iter().filter(|f| f["rule"] == "NS186").collect();
    assert_eq!(ns186.len(), 1, "{}", run.stdout);
    assert_eq!(ns186[0]["location"]["line"], 18, "the allow rule's line");
    let message = ns186[0]["message"].as_str().expect("message");
    assert!(message.contains("egress rule 0 of NetworkPolicy ops/agent"), "{message}");
    assert!(message.contains("spec.egressDeny[0] of CiliumClusterwideNetworkPolicy no-metadata"), "{message}");
    assert!(message.contains("deny.yaml:9"), "{message}");
}

#[test]
fn can_decides_a_dns_query_against_the_l7_dns_rule() {
    let dir = tree(&[("fqdn.yaml", FQDN)]);
    let path = dir.path().display().to_string();
    let ask = |name: &str| {
        netseg(&[
            "can",
            "--cni",
            "cilium",
            "--from",
            "shop/app",
            "--to",
            "kube-system/coredns",
            "--port",
            "53",
            "--protocol",
            "UDP",
            "--dns-name",
            name,
            "-o",
            "json",
            &path,
        ])
    };
    let admitted = ask("API.github.com.");
    assert_eq!(admitted.code, 0, "{}{}", admitted.stdout, admitted.stderr);
    let answer = json(&admitted.stdout);
    assert_eq!(answer["request"]["dns_name"], "api.github.com");
    assert_eq!(answer["request_verdicts"][0]["verdict"], "allowed");
    let refused = ask("example.com");
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert_eq!(json(&refused.stdout)["request_verdicts"][0]["verdict"], "denied");
    let bad = ask("*.github.com");
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--dns-name") && bad.stderr.contains("is not a DNS name"), "{}", bad.stderr);
}

/// `reach` marks the tiefighter's edge to the deathstar, which Cilium's L7 rule restricts to landing requests,
/// and names the rule; the edges no L7 rule restricts carry no mark; Graphviz draws the marked edge.
#[test]
fn reach_marks_the_l7_restricted_edge() {
    let dir = tree(&[("sw.yaml", STAR_WARS_L7)]);
    let path = dir.path().display().to_string();
    let run = netseg(&["reach", "--cni", "cilium", "-o", "json", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = json(&run.stdout);
    super::schemas::assert_matches_schema(&reach);
    let connections = reach["connections"].as_array().expect("connections");
    let marked: Vec<&serde_json::Value> = connections.iter().filter(|c| c.get("restricted").is_some()).collect();
    assert_eq!(marked.len(), 1, "{}", run.stdout);
    assert_eq!(
        (marked[0]["src"].as_str(), marked[0]["dst"].as_str()),
        (Some("default/tiefighter[Pod]"), Some("default/deathstar[Pod]"))
    );
    let mark = &marked[0]["restricted"][0];
    assert_eq!(mark["by"], "CiliumNetworkPolicy default/rule1 spec.ingress[0]");
    assert_eq!(mark["ports"], "TCP 80");
    assert!(mark["conditions"].as_str().is_some_and(|c| c.starts_with("HTTP POST /v1/request-landing")), "{mark}");
    let open = connections
        .iter()
        .find(|c| c["src"] == "default/tiefighter[Pod]" && c["dst"] == "default/xwing[Pod]")
        .expect("tiefighter -> xwing");
    assert!(open.get("restricted").is_none(), "{open}");
    // Without Cilium enforcing its policies, no L7 rule restricts anything.
    let unenforced = json(&netseg(&["reach", "--cni", "flannel", "-o", "json", &path]).stdout);
    assert!(unenforced["connections"].as_array().expect("connections").iter().all(|c| c.get("restricted").is_none()));
    let dot = netseg(&["reach", "--cni", "cilium", "-o", "dot", &path]).stdout;
    assert!(
        dot.contains("\"default/tiefighter[Pod]\" -> \"default/deathstar[Pod]\" [label=\"TCP 80\\nrequests restricted by CiliumNetworkPolicy default/rule1 spec.ingress[0]\", style=dotted"),
        "{dot}"
    );
    if let Some(graphviz) = super::reach::graphviz() {
        super::reach::svg_from_graphviz(&graphviz, &dot, "star wars L7");
    }
}
