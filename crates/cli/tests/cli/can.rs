use super::*;

#[test]
fn allowed_exits_zero_and_names_the_rule() {
    let run = netseg(&[
        "can",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/mysql",
        "--port",
        "3306",
        &example("misindented-selector"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("ALLOWED"));
    assert!(run.stdout.contains("allowed by ingress rule 0 of blog/mysql-from-wordpress"), "{}", run.stdout);
}

#[test]
fn denied_exits_one_and_names_the_isolating_policy() {
    let run = netseg(&[
        "can",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/redis[Deployment]",
        "--port",
        "6379",
        &example("misindented-selector"),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("DENIED"));
    assert!(run.stdout.contains("isolated for ingress by NetworkPolicy blog/mysql-from-wordpress"));
}

#[test]
fn json_follows_the_can_schema() {
    let run = netseg(&[
        "can",
        "-o",
        "json",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/mysql",
        "--port",
        "3306",
        &example("misindented-selector"),
    ]);
    insta::assert_json_snapshot!("can_wordpress_mysql", json(&run.stdout));
    let denied = json(
        &netseg(&[
            "can",
            "-o",
            "json",
            "--from",
            "monitoring/prometheus",
            "--to",
            "blog/mysql",
            &example("misindented-selector"),
            &example("host-network"),
        ])
        .stdout,
    );
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["steps"][0]["by"], serde_json::json!([]), "nothing isolates prometheus's egress");
    assert_eq!(denied["steps"][1]["by"][0]["rule"], serde_json::Value::Null);
}

#[test]
fn addresses_and_host_network_are_explained() {
    let run =
        netseg(&["can", "--from", "monitoring/node-exporter", "--to", "169.254.169.254", &example("host-network")]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("runs on the host network"), "{}", run.stdout);
    assert!(run.stdout.contains("uses hostNetwork"), "{}", run.stdout);
}

#[test]
fn pod_ip_resolves_to_the_pod() {
    let run = netseg(&["can", "--from", "10.244.2.7", "--to", "shop/api", "--port", "8080", &fixture("dump")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("shop/batch-7[Pod] (10.244.2.7)"));
    assert!(run.stdout.contains("addresses in 10.244.0.0/16"));
}

#[test]
fn unknown_and_ambiguous_endpoints_are_usage_errors() {
    let run = netseg(&["can", "--from", "blog/wordpres", "--to", "blog/mysql", &example("misindented-selector")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("did you mean blog/wordpress[Deployment]"), "{}", run.stderr);
    let dir = tree(&[(
        "a.yaml",
        "kind: Pod\nmetadata: {name: x, namespace: a}\n---\nkind: Pod\nmetadata: {name: x, namespace: b}\n",
    )]);
    let run = netseg(&["can", "--from", "x", "--to", "a/x", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("ambiguous"), "{}", run.stderr);
}

#[test]
fn bad_protocol_is_a_usage_error() {
    let run = netseg(&[
        "can",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/mysql",
        "--protocol",
        "ICMP",
        &example("misindented-selector"),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a protocol"));
}

/// The README's tiered example: the admin tier passes same-tenant traffic to the namespace's NetworkPolicy.
#[test]
fn tiered_verdict_shows_the_chain_across_tiers() {
    let args = ["can", "--from", "blog/web", "--to", "blog/api", "--port", "8080", "examples/tenant-isolation"];
    let run = netseg(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("can_tenant_isolation_pass_text", run.stdout);
    assert!(run.stdout.contains("admin `tenant-isolation` Pass → NetworkPolicy `blog/api` allows"), "{}", run.stdout);
    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    insta::assert_json_snapshot!("can_tenant_isolation_pass", json(&netseg(&json_args).stdout));

    // Another tenant is denied at the admin tier; a pod nothing isolates meets the baseline.
    let other =
        netseg(&["can", "--from", "shop/web", "--to", "blog/api", "--port", "8080", "examples/tenant-isolation"]);
    assert_eq!(other.code, 1);
    assert!(other.stdout.contains("rule 1 `other-tenants` (line 18) denies"), "{}", other.stdout);
    let baseline =
        netseg(&["can", "--from", "blog/web", "--to", "shop/web", "--port", "80", "examples/tenant-isolation"]);
    assert_eq!(baseline.code, 1);
    assert!(baseline.stdout.contains("no NetworkPolicy → baseline `default` Deny"), "{}", baseline.stdout);
}

/// Other tenants may not reach blog/api on any port; the verdict for the whole question is one admin Deny.
#[test]
fn tiered_json_by_entries_name_kind_rule_and_action() {
    let run = netseg(&["can", "-o", "json", "--from", "shop/web", "--to", "blog/api", "examples/tenant-isolation"]);
    assert_eq!(run.code, 1);
    let value = json(&run.stdout);
    let by = &value["steps"][1]["by"][0];
    assert_eq!(by["kind"], "AdminNetworkPolicy");
    assert_eq!(by["name"], "tenant-isolation");
    assert_eq!((by["rule"].as_u64(), by["action"].as_str()), (Some(1), Some("Deny")));
}

#[test]
fn a_request_is_echoed_and_said_to_be_undecided_when_nothing_decides_on_requests() {
    let args = [
        "can",
        "-o",
        "json",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/mysql",
        "--port",
        "3306",
        "--method",
        "POST",
        "--path",
        "/orders?id=7",
        "--host",
        "Shop.Example",
        "--header",
        "X-User:  alice ",
        "--header",
        "x-trace: 1",
        &example("misindented-selector"),
    ];
    let run = netseg(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer = json(&run.stdout);
    assert_eq!(
        answer["request"],
        serde_json::json!({"method": "POST", "path": "/orders", "query": "id=7", "host": "shop.example",
                           "headers": [{"name": "x-user", "value": "alice"}, {"name": "x-trace", "value": "1"}]})
    );
    let notes: Vec<&str> = answer["notes"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.starts_with("nothing in the input decides on requests")
            && n.contains("POST /orders?id=7 host shop.example x-user: alice x-trace: 1")),
        "{notes:?}"
    );
    // The same verdict as without a request: the request decides nothing yet.
    let plain =
        netseg(&args[..9].iter().copied().chain([example("misindented-selector").as_str()]).collect::<Vec<_>>());
    assert_eq!(json(&plain.stdout)["allowed"], answer["allowed"]);
    assert!(json(&plain.stdout).get("request").is_none(), "no request, no echo");

    let text = netseg(&[
        "can",
        "--from",
        "blog/wordpress",
        "--to",
        "blog/mysql",
        "--method",
        "GET",
        &example("misindented-selector"),
    ]);
    assert!(text.stdout.contains("\n  request: GET\n"), "{}", text.stdout);
    assert!(text.stdout.contains("nothing in the input decides on requests"), "{}", text.stdout);
}

#[test]
fn bad_request_fields_and_port_zero_are_usage_errors() {
    let cases: [(&[&str], &str); 9] = [
        (&["--method", "GE T"], "`GE T` is not an HTTP method"),
        (&["--method", ""], "is not an HTTP method"),
        (&["--path", "orders"], "`orders` is not a request path: it must start with `/`"),
        (&["--path", "/a b"], "percent-encode it as %20"),
        (&["--path", "/a#frag"], "a fragment (#...) is never sent"),
        (&["--host", "shop.example:8443"], "the port is --port"),
        (&["--header", "X-User alice"], "write it as `Name: value`"),
        (&["--header", "Host: shop"], "the host is --host"),
        (&["--port", "0"], "`0` is not a port: ports are 1 to 65535"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["can", "--from", "blog/wordpress", "--to", "blog/mysql"];
        args.extend_from_slice(flags);
        let input = example("misindented-selector");
        args.push(&input);
        let run = netseg(&args);
        assert_eq!(run.code, 2, "{flags:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{flags:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{flags:?}");
    }
    let reach = netseg(&["reach", "--port", "0", &example("misindented-selector")]);
    assert_eq!(reach.code, 2);
    assert!(reach.stderr.contains("`0` is not a port: ports are 1 to 65535"), "{}", reach.stderr);
}

/// A NetworkPolicy that lets `shop/app` send HTTPS anywhere but the private 10/8.
const EGRESS_EXCEPT_PRIVATE: &str = "kind: Pod
metadata: {name: app, namespace: shop, labels: {app: app}}
---
kind: Pod
metadata: {name: agent, namespace: kube-system, labels: {app: agent}}
spec: {hostNetwork: true}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
";

#[test]
fn to_takes_a_dns_name_as_an_address_outside_the_cluster_and_says_where_the_answer_differs() {
    let dir = tree(&[("p.yaml", EGRESS_EXCEPT_PRIVATE)]);
    let path = dir.path().display().to_string();
    let run = netseg(&["can", "--from", "shop/app", "--to", "api.github.com", "--port", "443", &path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("netseg does not resolve api.github.com"), "{}", run.stdout);
    assert!(
        run.stdout.contains("if api.github.com is in 10.0.0.0/8, the answer on TCP 443 is denied"),
        "{}",
        run.stdout
    );
    let json = json(
        &netseg(&["can", "-o", "json", "--from", "shop/app", "--to", "api.github.com", "--port", "443", &path]).stdout,
    );
    assert_eq!(json["outside"]["otherwise"][0]["addresses"][0], "10.0.0.0/8");
    assert!(json["outside"]["fqdn"].is_null(), "no Cilium policy: nothing about lookups");
    let denied = netseg(&["can", "--from", "shop/app", "--to", "world", "--port", "80", &path]);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    let host = netseg(&["can", "--from", "shop/app", "--to", "host", "--port", "443", &path]);
    assert!(host.stdout.contains("host (the host-network pods of the input)"), "{}", host.stdout);
}

#[test]
fn a_to_that_is_no_name_netseg_knows_is_an_error_naming_the_flag() {
    let dir = tree(&[("p.yaml", EGRESS_EXCEPT_PRIVATE)]);
    let path = dir.path().display().to_string();
    for (flag, value, message) in [
        ("--to", "nosuch", "names no workload, pod, IP address, DNS name or Cilium entity"),
        ("--to", "health", "which netseg does not model"),
        ("--to", "kube-apiserver", "but the input has none"),
        ("--from", "api.github.com", "only a destination can be one"),
    ] {
        let (from, to) = if flag == "--to" { ("shop/app", value) } else { (value, "shop/app") };
        let run = netseg(&["can", "--from", from, "--to", to, &path]);
        assert_eq!(run.code, 2, "{value}: {}", run.stdout);
        assert!(run.stderr.contains(&format!("{flag}: `{value}`")) && run.stderr.contains(message), "{}", run.stderr);
    }
}

#[test]
fn both_ends_outside_the_cluster_is_an_error() {
    let dir = tree(&[("p.yaml", EGRESS_EXCEPT_PRIVATE)]);
    let run = netseg(&["can", "--from", "world", "--to", "api.github.com", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("both outside the cluster"), "{}", run.stderr);
}
