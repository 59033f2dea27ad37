//! The service meshes on the real binary: `can` with the mesh's word, bad mesh objects, every command seeing it.

use super::*;

fn shoes() -> String {
    fixture("mesh/shoes-writer")
}

#[test]
fn shoes_writer_denies_storefront_and_names_the_policy() {
    let run = netseg(&["can", "--from", "default/storefront", "--to", "default/shoes", "--port", "8080", &shoes()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("DENIED"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "mesh at default/shoes[Deployment] (Istio sidecar: namespace label istio-injection=enabled): denied"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("default/shoes-writer"), "{}", run.stdout);
    assert!(run.stdout.contains("cluster.local/ns/default/sa/default"), "the client's principal: {}", run.stdout);
    assert!(!run.stderr.contains("unmodelled-policy"), "the mesh is analysed now: {}", run.stderr);
}

#[test]
fn shoes_writer_lets_inventory_post_and_lists_the_condition() {
    let run = netseg(&["can", "--from", "default/inventory", "--to", "default/shoes", "--port", "8080", &shoes()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("ALLOWED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("POST only, from principal cluster.local/ns/default/sa/inventory-sa — AuthorizationPolicy default/shoes-writer rule 0"),
        "{}",
        run.stdout
    );
    let value = json(
        &netseg(&[
            "can",
            "-o",
            "json",
            "--from",
            "default/inventory",
            "--to",
            "default/shoes",
            "--port",
            "8080",
            &shoes(),
        ])
        .stdout,
    );
    assert_eq!(value["allowed"], true);
    assert_eq!(value["mesh"]["restricted"], true);
    let condition = &value["mesh"]["segments"][0]["conditions"][0];
    assert_eq!(condition["by"]["name"], "shoes-writer");
    assert_eq!(condition["by"]["line"], 60);
    assert_eq!(condition["admits"], "POST only, from principal cluster.local/ns/default/sa/inventory-sa");
}

#[test]
fn reach_and_audit_see_the_mesh() {
    let run = netseg(&["reach", "-o", "json", &shoes()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value = json(&run.stdout);
    let tcp_to_shoes = |from: &str| {
        value["connections"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["src"] == from && c["dst"] == "default/shoes[Deployment]"))
            .map(|c| c["allowed"]["TCP"].clone())
    };
    assert_eq!(tcp_to_shoes("default/storefront[Deployment]"), Some(serde_json::json!([])), "only UDP and SCTP");
    assert_eq!(tcp_to_shoes("default/inventory[Deployment]"), Some(serde_json::json!([[1, 65535]])));
}

/// The factored all-pairs answer agrees with `can` pair by pair: the mesh decides by the client's identity,
/// which the answer's cells alone do not tell apart.
#[test]
fn reach_agrees_with_can_on_every_pair() {
    let value = json(&netseg(&["reach", "-o", "json", &shoes()]).stdout);
    let workloads = ["default/shoes", "default/storefront", "default/inventory"];
    for from in workloads {
        for to in workloads.iter().copied().filter(|&to| to != from) {
            let reached = value["connections"]
                .as_array()
                .and_then(|all| {
                    all.iter()
                        .find(|c| c["src"] == format!("{from}[Deployment]") && c["dst"] == format!("{to}[Deployment]"))
                })
                .and_then(|c| c["allowed"]["TCP"].as_array().cloned())
                .is_some_and(|ranges| {
                    ranges.iter().any(|r| r[0].as_u64() <= Some(8080) && r[1].as_u64() >= Some(8080))
                });
            let can = netseg(&["can", "--from", from, "--to", to, "--port", "8080", &shoes()]);
            assert_eq!(can.code == 0, reached, "{from} -> {to}: can says {}, reach says {reached}", can.stdout);
        }
    }
}

#[test]
fn a_bad_mesh_object_is_left_out_with_file_line_and_field_and_the_rest_is_analysed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: broken, namespace: default}\nspec:\n  selector: {matchLabels: {app: shoes}}\n  targetRefs: [{kind: Service, name: shoes}]\n  rules:\n  - from:\n    - source: {ipBlocks: [10.0.0.0/33]}\n";
    std::fs::write(dir.path().join("bad.yaml"), bad).expect("write");
    let path = dir.path().join("bad.yaml").display().to_string();
    let run =
        netseg(&["can", "--from", "default/storefront", "--to", "default/shoes", "--port", "8080", &shoes(), &path]);
    assert_eq!(run.code, 2, "an object Istio refuses is an input error: {}", run.stderr);
    assert!(
        run.stderr.contains("bad.yaml:4: AuthorizationPolicy default/broken field `spec.targetRefs`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "bad.yaml:9: AuthorizationPolicy default/broken field `spec.rules[0].from[0].source.ipBlocks[0]`"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("DENIED"), "the rest is still analysed: {}", run.stdout);
}

/// The done-when example: the storefront's POST is denied, explained with the policy's file and line.
#[test]
fn a_named_request_is_decided_by_the_mesh_with_file_and_line() {
    let can = |from: &str, method: &str| {
        netseg(&["can", "--from", from, "--to", "default/shoes", "--port", "8080", "--method", method, &shoes()])
    };
    let storefront = can("default/storefront", "POST");
    assert_eq!(storefront.code, 1, "{}\n{}", storefront.stdout, storefront.stderr);
    assert!(storefront.stdout.starts_with("DENIED"), "{}", storefront.stdout);
    assert!(
        storefront.stdout.contains("Istio: denied by AuthorizationPolicy default/shoes-writer (")
            && storefront.stdout.contains("shop.yaml:50)"),
        "{}",
        storefront.stdout
    );
    let post = can("default/inventory", "POST");
    assert_eq!(post.code, 0, "{}", post.stdout);
    assert!(
        post.stdout.contains("Istio: allowed by AuthorizationPolicy default/shoes-writer rule 0"),
        "{}",
        post.stdout
    );
    assert!(post.stdout.contains("shop.yaml:60)"), "{}", post.stdout);
    let get = can("default/inventory", "GET");
    assert_eq!(get.code, 1, "GET and PUT are denied: {}", get.stdout);
    assert!(!get.stdout.contains("nothing in the input decides on requests"), "{}", get.stdout);

    let value = json(
        &netseg(&[
            "can",
            "-o",
            "json",
            "--from",
            "default/inventory",
            "--to",
            "default/shoes",
            "--port",
            "8080",
            "--method",
            "PUT",
            &shoes(),
        ])
        .stdout,
    );
    super::schemas::assert_matches_schema(&value);
    assert_eq!(value["allowed"], false);
    assert_eq!(value["request"]["method"], "PUT");
    let verdict = &value["request_verdicts"][0];
    assert_eq!((verdict["layer"].as_str(), verdict["verdict"].as_str()), (Some("Istio"), Some("denied")));
    assert_eq!(verdict["by"][0]["name"], "shoes-writer");
    assert_eq!(verdict["by"][0]["line"], 50);
}

/// With no request named, the JSON lists the conditions and matches the schema.
#[test]
fn the_conditions_of_a_restricted_connection_match_the_schema() {
    let run = netseg(&["can", "-o", "json", "--from", "default/inventory", "--to", "default/shoes", &shoes()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value = json(&run.stdout);
    super::schemas::assert_matches_schema(&value);
    assert!(value.get("request_verdicts").is_none());
}

/// Consul's "REST access" intentions with ACLs defaulting to deny: the outcomes its reference states.
#[test]
fn consul_intentions_decide_requests_as_the_reference_states() {
    let dir = fixture("mesh/consul-intentions");
    let can = |from: &str, method: &str, path: &str| {
        let from = format!("shop/{from}");
        netseg(&[
            "can", "--from", &from, "--to", "shop/api", "--port", "9090", "--method", method, "--path", path, &dir,
        ])
    };
    for (from, method, path, allowed) in [
        ("web", "DELETE", "/anything", true),
        ("admin-dashboard", "PUT", "/v2/users", true),
        ("admin-dashboard", "PATCH", "/v2/users", false),
        ("admin-dashboard", "GET", "/v1/users", false),
        ("report-generator", "GET", "/v2/widgets/7", true),
        ("report-generator", "GET", "/v2/users", false),
        ("report-generator", "POST", "/v2/widgets", false),
        ("batch", "GET", "/v2/widgets", false),
    ] {
        let run = can(from, method, path);
        assert_eq!(run.code, if allowed { 0 } else { 1 }, "{from} {method} {path}:\n{}\n{}", run.stdout, run.stderr);
    }
    let denied = can("batch", "GET", "/");
    assert!(denied.stdout.contains("the default intention is deny (acl.default_policy deny"), "{}", denied.stdout);
    let admin = can("admin-dashboard", "GET", "/v2/x");
    assert!(admin.stdout.contains("Consul: allowed by ServiceIntentions shop/api rule 1 ("), "{}", admin.stdout);
    assert!(admin.stdout.contains("app.yaml:99)"), "{}", admin.stdout);
}

/// Linkerd: a Server with an AuthorizationPolicy requiring one service account's identity, in a namespace whose
/// default inbound policy is deny.
#[test]
fn linkerd_servers_authorizations_and_default_policies() {
    let dir = fixture("mesh/linkerd-authz");
    let can = |from: &str, port: &str| netseg(&["can", "--from", from, "--to", "shop/web", "--port", port, &dir]);
    let frontend = can("shop/frontend", "8080");
    assert_eq!(frontend.code, 0, "{}", frontend.stdout);
    assert!(
        frontend.stdout.contains("authorized by AuthorizationPolicy shop/web-from-frontend ("),
        "{}",
        frontend.stdout
    );
    let batch = can("shop/batch", "8080");
    assert_eq!(batch.code, 1, "another meshed identity: {}", batch.stdout);
    assert!(batch.stdout.contains("Server shop/web-http ("), "{}", batch.stdout);
    let legacy = can("outside/legacy", "8080");
    assert_eq!(legacy.code, 1, "same service account name, but no proxy and no mTLS: {}", legacy.stdout);
    let admin = can("shop/frontend", "9990");
    assert_eq!(admin.code, 1, "no Server: the namespace's default deny: {}", admin.stdout);
    assert!(admin.stdout.contains("default inbound policy deny"), "{}", admin.stdout);
    let request = netseg(&[
        "can",
        "--from",
        "shop/frontend",
        "--to",
        "shop/web",
        "--port",
        "8080",
        "--method",
        "GET",
        "--path",
        "/",
        &dir,
    ]);
    assert_eq!(request.code, 0, "{}", request.stdout);
    assert!(
        request.stdout.contains("Linkerd: allowed by AuthorizationPolicy shop/web-from-frontend"),
        "{}",
        request.stdout
    );
}

/// A Linkerd AuthorizationPolicy whose targetRef names nothing: a warning naming file, line and field, as the
/// policy controller ignores it; the rest is analysed.
#[test]
fn a_linkerd_policy_targeting_nothing_is_a_warning_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: dangling, namespace: shop}\nspec:\n  targetRef: {group: policy.linkerd.io, kind: Server, name: nope}\n  requiredAuthenticationRefs:\n  - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: frontend-only}\n";
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad).expect("write");
    let run = netseg(&[
        "can",
        "--from",
        "shop/frontend",
        "--to",
        "shop/web",
        "--port",
        "8080",
        &fixture("mesh/linkerd-authz"),
        &path.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("bad.yaml:5: AuthorizationPolicy shop/dangling field `spec.targetRef.name`"),
        "{}",
        run.stderr
    );
}

/// The mesh rules judge Consul too: under ACLs that default to deny every Consul workload is protected by the
/// mesh, and with no NetworkPolicy under it NS197 names each; no namespace is open to every client (NS193).
#[test]
fn audit_judges_consul_workloads_by_the_default_intention() {
    let run = netseg(&["audit", "-o", "json", &fixture("mesh/consul-intentions")]);
    let findings = json(&run.stdout)["findings"].as_array().cloned().unwrap_or_default();
    let of = |rule: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .filter_map(|f| f["message"].as_str().map(str::to_string))
            .collect()
    };
    let only_mesh = of("NS197");
    assert!(
        only_mesh.iter().any(|m| m.starts_with("shop/api[Deployment] is protected by Consul's default intention deny")),
        "{only_mesh:?}"
    );
    assert!(of("NS193").is_empty(), "{:?}", of("NS193"));
}

/// A DENY rule on methods that also applies to a port a Service declares as TCP denies every connection there:
/// `can` says so, and the audit names the rule, the workload and the port.
#[test]
fn a_deny_rule_with_http_fields_over_a_tcp_port_is_applied_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n---\n\
        kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web}]}\n---\n\
        kind: Deployment\nmetadata: {name: redis, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: redis}}\n    spec: {containers: [{name: redis, ports: [{containerPort: 6379}]}]}\n---\n\
        apiVersion: v1\nkind: Service\nmetadata: {name: redis, namespace: shop}\nspec: {selector: {app: redis}, ports: [{name: tcp-redis, port: 6379}]}\n---\n\
        apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-delete, namespace: shop}\nspec:\n  action: DENY\n  rules:\n  - to: [{operation: {methods: [DELETE]}}]\n";
    std::fs::write(dir.path().join("shop.yaml"), text).expect("write");
    let path = dir.path().display().to_string();
    let can = netseg(&["can", "--from", "shop/web", "--to", "shop/redis", "--port", "6379", &path]);
    assert_eq!(can.code, 1, "the whole TCP port is denied: {}\n{}", can.stdout, can.stderr);
    let audit = netseg(&["audit", "-o", "json", &path]);
    let findings = json(&audit.stdout)["findings"].as_array().cloned().unwrap_or_default();
    let finding = findings.iter().find(|f| f["rule"] == "NS198").expect("NS198 fires");
    assert_eq!(finding["resource"]["name"], "no-delete");
    // The rule's own line.
    assert_eq!(finding["location"]["line"], 30, "{finding}");
    assert!(finding["location"]["file"].as_str().is_some_and(|f| f.ends_with("shop.yaml")), "{finding}");
    assert!(finding["evidence"].as_str().is_some_and(|e| e.contains("shop/redis[Deployment]:6379")), "{finding}");
}

/// `--trust-domain` is laid over the input's mesh config: the principals the policy names are in another trust
/// domain, so the inventory's POST no longer matches; the client's principal is shown in the flag's domain.
#[test]
fn the_trust_domain_flag_changes_every_principal() {
    let shoes = shoes();
    let can = |extra: &[&str]| {
        let mut all = vec!["can", "--from", "default/inventory", "--to", "default/shoes", "--port", "8080"];
        all.extend_from_slice(extra);
        all.extend_from_slice(&["--method", "POST", shoes.as_str()]);
        netseg(&all)
    };
    assert_eq!(can(&[]).code, 0);
    let run = can(&["--trust-domain", "example.org"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("example.org/ns/default/sa/inventory-sa"), "{}", run.stdout);
    let bad = can(&["--trust-domain", "a/b"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--trust-domain") && bad.stderr.contains("cannot contain '/'"), "{}", bad.stderr);
}

/// `--consul-default-intention` wins over the server config's ACL default (deny in the fixture): batch, which no
/// intention names, gets in under allow, and the answer cites the flag.
#[test]
fn the_consul_default_intention_flag_wins_over_the_server_config() {
    let dir = fixture("mesh/consul-intentions");
    let can = |extra: &[&str]| {
        let mut all = vec!["can", "--from", "shop/batch", "--to", "shop/api", "--port", "9090", "--method", "GET"];
        all.extend_from_slice(extra);
        all.push(dir.as_str());
        netseg(&all)
    };
    assert_eq!(can(&[]).code, 1);
    let allowed = can(&["--consul-default-intention", "allow"]);
    assert_eq!(allowed.code, 0, "{}\n{}", allowed.stdout, allowed.stderr);
    assert!(allowed.stdout.contains("--consul-default-intention allow"), "{}", allowed.stdout);
    assert_eq!(can(&["--consul-default-intention", "deny"]).code, 1);
    let bad = can(&["--consul-default-intention", "maybe"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // The audit sees the same setting: under allow, the intentions that only allow refuse no one.
    let audit = netseg(&["audit", "-o", "json", "--consul-default-intention", "allow", &dir]);
    let findings = json(&audit.stdout)["findings"].as_array().cloned().unwrap_or_default();
    assert!(findings.iter().any(|f| f["rule"] == "NS193" && f["resource"]["name"] == "shop"), "{}", audit.stdout);
}

/// `reach` marks the edge that only some requests may use (inventory may only POST to shoes) and names the
/// policy, in every format; edges the mesh leaves open carry no mark.
#[test]
fn reach_marks_the_request_restricted_edge_and_names_the_policy() {
    let run = netseg(&["reach", "-o", "json", &shoes()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = json(&run.stdout);
    super::schemas::assert_matches_schema(&reach);
    let connection = |src: &str, dst: &str| {
        reach["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .find(|c| c["src"] == src && c["dst"] == dst)
            .cloned()
            .unwrap_or_else(|| panic!("{src} -> {dst} in {}", run.stdout))
    };
    let restricted = connection("default/inventory[Deployment]", "default/shoes[Deployment]");
    let marks = restricted["restricted"].as_array().expect("the inventory -> shoes edge is marked");
    let on_8080 = marks.iter().find(|m| m["ports"] == "TCP 8080").expect("port 8080 is restricted");
    assert_eq!(on_8080["by"], "Istio AuthorizationPolicy default/shoes-writer");
    assert!(
        on_8080["conditions"]
            .as_str()
            .is_some_and(|c| c.starts_with("POST only") && c.contains("cluster.local/ns/default/sa/inventory-sa")),
        "{on_8080}"
    );
    // Shoes calls inventory, which no authorization policy selects: every request passes.
    let open = connection("default/shoes[Deployment]", "default/inventory[Deployment]");
    assert!(open.get("restricted").is_none(), "{open}");
    // Storefront keeps only UDP and SCTP to shoes, which the mesh does not see: no mark either.
    let udp = connection("default/storefront[Deployment]", "default/shoes[Deployment]");
    assert!(udp.get("restricted").is_none(), "{udp}");
    assert!(
        reach["connections"].as_array().expect("connections").iter().filter(|c| c.get("restricted").is_some()).count()
            == 1
    );

    let text = netseg(&["reach", "--from", "default/inventory", "--to", "default/shoes", &shoes()]).stdout;
    let line = text.lines().find(|l| l.contains("→ default/shoes[Deployment]")).expect("the pair");
    assert!(line.contains("all ports  request-restricted by Istio AuthorizationPolicy default/shoes-writer"), "{text}");
    assert!(line.contains("default/shoes-writer on TCP 8080: POST only"), "{text}");
    let csv = netseg(&["reach", "-o", "csv", &shoes()]).stdout;
    assert!(csv.starts_with("src,dst,protocol,ports,restricted\n"), "{csv}");
    assert!(csv.contains("default/shoes[Deployment],default/inventory[Deployment],TCP,1-65535,\n"), "{csv}");
    assert!(
        csv.lines().any(|l| l.starts_with("default/inventory[Deployment],default/shoes[Deployment],TCP,1-65535,\"")
            && l.contains("shoes-writer")),
        "{csv}"
    );
    let md = netseg(&["reach", "-o", "md", &shoes()]).stdout;
    assert!(
        md.contains(
            "| default/inventory[Deployment] | default/shoes[Deployment] | all ports (request-restricted by Istio"
        ),
        "{md}"
    );
    let grouped = json(&netseg(&["reach", "-o", "json", "--group", "always", &shoes()]).stdout);
    super::schemas::assert_matches_schema(&grouped);
    let marked: Vec<&serde_json::Value> =
        grouped["groups"].as_array().expect("groups").iter().filter(|g| g.get("restricted").is_some()).collect();
    assert!(
        !marked.is_empty()
            && marked
                .iter()
                .all(|g| g["dst"].as_array().is_some_and(|d| d.iter().any(|d| d == "default/shoes[Deployment]"))),
        "{grouped}"
    );

    let dot = netseg(&["reach", "-o", "dot", &shoes()]).stdout;
    assert!(
        dot.contains("\"default/inventory[Deployment]\" -> \"default/shoes[Deployment]\" [label=\"all ports\\nrequests restricted by Istio AuthorizationPolicy default/shoes-writer\", style=dotted"),
        "{dot}"
    );
    assert_eq!(dot.matches("style=dotted").count(), 1, "{dot}");
    if let Some(graphviz) = super::reach::graphviz() {
        let svg = super::reach::svg_from_graphviz(&graphviz, &dot, "shoes-writer");
        assert!(svg.contains("shoes&#45;writer") || svg.contains("shoes-writer"), "{svg}");
    }
    let mermaid = netseg(&["reach", "-o", "mermaid", &shoes()]).stdout;
    assert!(
        mermaid
            .contains("-.->|\"all ports<br/>requests restricted by Istio AuthorizationPolicy default/shoes-writer\"|"),
        "{mermaid}"
    );
    assert!(mermaid.contains("stroke:#1f77b4,stroke-dasharray:2 3"), "{mermaid}");

    // The HTML report draws the edge in a style of its own.
    let html = netseg(&["audit", "-o", "html", &shoes()]).stdout;
    let data = super::schemas::embedded_data(&html);
    let styles = data["graph"]["styles"].as_array().expect("styles");
    let restricted_style = styles.iter().position(|s| s == "restricted").expect("a restricted style");
    let labels = data["graph"]["labels"].as_array().expect("labels");
    let drawn = data["graph"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(data["graph"]["groups"].as_array().into_iter().flatten())
        .filter(|e| {
            let e = e.as_array().expect("an edge");
            e.last() == Some(&serde_json::json!(restricted_style))
                && e[e.len() - 2]
                    .as_u64()
                    .and_then(|l| labels[l as usize].as_str())
                    .is_some_and(|l| l.contains("shoes-writer"))
        })
        .count();
    assert_eq!(drawn, 1, "{}", data["graph"]);
}

fn ambient_shop() -> String {
    std::fs::read_to_string(format!("{}/shop.yaml", fixture("mesh/ambient-hbone"))).expect("ambient fixture")
}

/// Istio's "Ambient and Kubernetes NetworkPolicy": between ambient pods the network sees the HBONE tunnel's TCP
/// 15008, so a policy that admits only the application's port cuts the flow (it used to be judged on 6379 and
/// reported ALLOWED).
#[test]
fn ambient_pods_are_judged_on_hbone_15008_not_the_application_port() {
    let dir = fixture("mesh/ambient-hbone");
    let run = netseg(&["can", "--from", "shop/web", "--to", "shop/redis", "--port", "6379", &dir]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("DENIED"), "{}", run.stdout);
    assert!(run.stdout.contains("the network sees it on TCP 15008"), "{}", run.stdout);
    assert!(run.stdout.contains("allows shop/web[Deployment] on TCP 15008"), "{}", run.stdout);
    let value = json(
        &netseg(&["can", "-o", "json", "--from", "shop/web", "--to", "shop/redis", "--port", "6379", &dir]).stdout,
    );
    assert_eq!(value["allowed"], false);
    let ingress = &value["steps"][1];
    assert_eq!(ingress["side"], "ingress");
    assert_eq!(ingress["verdict"], "denied");
    assert_eq!(ingress["tunnel"]["port"], 15008);

    // A client outside the mesh is not tunnelled: the application port decides, as written.
    let plain = netseg(&["can", "--from", "legacy/batch", "--to", "shop/redis", "--port", "6379", &dir]);
    assert_eq!(plain.code, 0, "{}\n{}", plain.stdout, plain.stderr);
    assert!(!plain.stdout.contains("HBONE"), "{}", plain.stdout);
    // UDP is never tunnelled (ztunnel carries TCP only).
    let udp = netseg(&["can", "--from", "shop/web", "--to", "shop/redis", "--protocol", "UDP", "--port", "6379", &dir]);
    assert!(!udp.stdout.contains("HBONE"), "{}", udp.stdout);
}

#[test]
fn admitting_15008_admits_every_tcp_port_of_the_ambient_client_and_reach_agrees() {
    let fixed = ambient_shop().replace(
        "ports: [{port: 6379, protocol: TCP}]",
        "ports: [{port: 6379, protocol: TCP}, {port: 15008, protocol: TCP}]",
    );
    let dir = tree(&[("shop.yaml", &fixed)]);
    let path = dir.path().to_str().expect("utf-8 path");
    let run = netseg(&["can", "--from", "shop/web", "--to", "shop/redis", "--port", "6379", path]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The application port in the policy no longer narrows tunnelled traffic: only the mesh's rules could.
    let other_port = netseg(&["can", "--from", "shop/web", "--to", "shop/redis", "--port", "9999", path]);
    assert_eq!(other_port.code, 0, "{}\n{}", other_port.stdout, other_port.stderr);
    let outsider = netseg(&["can", "--from", "legacy/batch", "--to", "shop/redis", "--port", "9999", path]);
    assert_eq!(outsider.code, 1, "{}", outsider.stdout);

    let connection = |reach: &serde_json::Value, src: &str, dst: &str| -> Option<serde_json::Value> {
        reach["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .find(|c| c["src"] == src && c["dst"] == dst)
            .cloned()
    };
    let reach = json(&netseg(&["reach", "-o", "json", "--group", "never", path]).stdout);
    let web_to_redis = connection(&reach, "shop/web[Deployment]", "shop/redis[Deployment]").expect("web reaches redis");
    assert_eq!(web_to_redis["allowed"]["TCP"], serde_json::json!([[1, 65535]]), "every TCP port, tunnelled");
    assert_eq!(web_to_redis["allowed"]["UDP"], serde_json::json!([]), "UDP as written");
    let batch_to_redis = connection(&reach, "legacy/batch[Deployment]", "shop/redis[Deployment]").expect("batch");
    assert_eq!(batch_to_redis["allowed"]["TCP"], serde_json::json!([[6379, 6379], [15008, 15008]]));
    let broken = json(&netseg(&["reach", "-o", "json", "--group", "never", &fixture("mesh/ambient-hbone")]).stdout);
    assert_eq!(connection(&broken, "shop/web[Deployment]", "shop/redis[Deployment]"), None, "without 15008: nothing");
}

/// `generate` on an ambient namespace: the rules between meshed pods admit TCP 15008 beside the application's
/// port, and the proof (the same engine, judging HBONE) keeps the flow; without it the flow would be cut.
#[test]
fn generate_admits_hbone_between_ambient_pods() {
    let shop = ambient_shop();
    let without_policy = shop.split("---\napiVersion: networking.k8s.io/v1").next().expect("fixture");
    let app = without_policy.replace(
        "ports: [{containerPort: 8080}]}]",
        "ports: [{containerPort: 8080}], env: [{name: REDIS_HOST, value: redis}]}]",
    ) + "---\napiVersion: v1\nkind: Service\nmetadata: {name: redis, namespace: shop}\nspec: {selector: {app: redis}, ports: [{port: 6379}]}\n";
    let dir = tree(&[("shop.yaml", &app)]);
    let path = dir.path().to_str().expect("utf-8 path");
    let run = netseg(&["generate", path]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("KEPT") || run.stdout.contains("KEPT"), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("admit TCP 15008"), "{}", run.stderr);
    let policies: Vec<serde_yaml::Value> = run
        .stdout
        .split("\n---\n")
        .filter_map(|document| serde_yaml::from_str::<serde_yaml::Value>(document).ok())
        .filter(|document| document["kind"] == "NetworkPolicy")
        .collect();
    let rule_ports = |name: &str, direction: &str| -> Vec<i64> {
        let policy = policies.iter().find(|p| p["metadata"]["name"] == name && p["metadata"]["namespace"] == "shop");
        let policy = policy.unwrap_or_else(|| panic!("policy {name}: {}", run.stdout));
        policy["spec"][direction]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|rule| rule["ports"].as_sequence().cloned().unwrap_or_default())
            .filter_map(|port| port["port"].as_i64())
            .collect()
    };
    assert_eq!(rule_ports("redis-ingress", "ingress"), [6379, 15008], "{}", run.stdout);
    assert!(rule_ports("web-egress", "egress").contains(&15008), "{}", run.stdout);
}
