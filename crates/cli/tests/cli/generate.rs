use super::*;

const FLAT_FAILURES: [&str; 6] = ["NS101", "NS102", "NS103", "NS120", "NS125", "NS145"];

/// Runs `generate` and writes its YAML to `generated.yaml` in a fresh directory.
fn generated(args: &[&str]) -> (Run, tempfile::TempDir) {
    let run = netseg(&[&["generate"], args].concat());
    let dir = tree(&[("generated.yaml", run.stdout.as_str())]);
    (run, dir)
}

fn path_in(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

fn audit_rules(paths: &[&str]) -> Vec<serde_json::Value> {
    let run = netseg(&[&["audit", "-o", "json", "--fail-on", "none"], paths].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    json(&run.stdout)["findings"].as_array().expect("findings").clone()
}

#[test]
fn flat_example_generated_policies_close_the_gaps() {
    let (run, dir) = generated(&[&example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let before = audit_rules(&[&example("wordpress-flat")]);
    for rule in ["NS101", "NS120", "NS125"] {
        assert!(before.iter().any(|f| f["rule"] == rule), "the flat example has {rule}");
    }
    let after = audit_rules(&[&example("wordpress-flat"), &generated]);
    for finding in &after {
        let rule = finding["rule"].as_str().unwrap_or_default();
        assert!(!FLAT_FAILURES.contains(&rule), "{rule} is left: {finding}");
    }
    assert!(!after.iter().any(|f| f["severity"] == "high" || f["severity"] == "critical"));
}

#[test]
fn declared_flows_still_pass_and_undeclared_ones_are_denied() {
    let (run, dir) = generated(&[&example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let can = |from: &str, to: &str, port: &str, protocol: &str| {
        let run = netseg(&[
            "can",
            "--from",
            from,
            "--to",
            to,
            "--port",
            port,
            "--protocol",
            protocol,
            &example("wordpress-flat"),
            &generated,
        ]);
        run.code
    };
    // Declared: WordPress's env names mysql.blog.svc.cluster.local:3306 and redis; the LoadBalancer serves port 80.
    assert_eq!(can("blog/wordpress", "blog/mysql", "3306", "TCP"), 0);
    assert_eq!(can("blog/wordpress", "blog/redis", "6379", "TCP"), 0);
    assert_eq!(can("203.0.113.9", "blog/wordpress", "80", "TCP"), 0);
    // Undeclared: every other pair, port and address.
    assert_eq!(can("blog/mysql", "blog/redis", "6379", "TCP"), 1);
    assert_eq!(can("blog/redis", "blog/mysql", "3306", "TCP"), 1);
    assert_eq!(can("blog/wordpress", "blog/redis", "22", "TCP"), 1);
    assert_eq!(can("blog/wordpress", "blog/mysql", "3306", "UDP"), 1);
    assert_eq!(can("blog/wordpress", "169.254.169.254", "80", "TCP"), 1);
    assert_eq!(can("blog/wordpress", "1.1.1.1", "443", "TCP"), 1);
    assert_eq!(can("203.0.113.9", "blog/mysql", "3306", "TCP"), 1);
    assert_eq!(can("203.0.113.9", "blog/wordpress", "22", "TCP"), 1);
}

/// Least privilege, all of it: after the policies, the network is exactly the declared flows and nothing else.
#[test]
fn after_the_policies_the_flat_network_is_exactly_the_declared_flows() {
    let (run, dir) = generated(&[&example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = netseg(&["reach", "-o", "json", &example("wordpress-flat"), &path_in(&dir, "generated.yaml")]);
    let reach = json(&reach.stdout);
    let connections: Vec<String> = reach["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| {
            format!(
                "{} → {} {}",
                c["src"].as_str().unwrap_or_default(),
                c["dst"].as_str().unwrap_or_default(),
                c["allowed"]
            )
        })
        .collect();
    assert_eq!(
        connections,
        [
            r#"blog/wordpress[Deployment] → blog/mysql[StatefulSet] {"TCP":[[3306,3306]],"UDP":[],"SCTP":[]}"#,
            r#"blog/wordpress[Deployment] → blog/redis[Deployment] {"TCP":[[6379,6379]],"UDP":[],"SCTP":[]}"#,
            r#"0.0.0.0/0 → blog/wordpress[Deployment] {"TCP":[[80,80]],"UDP":[],"SCTP":[]}"#,
        ]
    );
}

#[test]
fn flat_example_policies_and_proof() {
    let run = netseg(&["generate", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("generate_flat_yaml", run.stdout);
    insta::assert_snapshot!("generate_flat_proof", run.stderr);
}

/// What the API server accepts and stores as written: the loader validates like it and warns where it would.
#[test]
fn generated_yaml_reads_back_through_the_loader_without_a_warning() {
    let (run, dir) = generated(&[
        &example("wordpress-flat"),
        &fixture("ingress"),
        &fixture("flows/manifests"),
        "--flows",
        &fixture("flows/hubble.json"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let policies = run.stdout.matches("\nkind: NetworkPolicy\n").count();
    assert!(policies >= 10, "{}", run.stdout);
    assert_eq!(run.stdout.matches("apiVersion: networking.k8s.io/v1\n").count(), policies);
    let read = netseg(&["-v", "reach", "-o", "json", &path_in(&dir, "generated.yaml")]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    let problems: Vec<&str> = read.stderr.lines().filter(|l| !l.starts_with("note: no CNI in the input")).collect();
    assert_eq!(problems, Vec::<&str>::new(), "the generated YAML must read back silently");
    assert!(run.stdout.contains("netseg.io/reasons"));
}

#[test]
fn generating_again_adds_nothing() {
    let (first, dir) = generated(&[&example("wordpress-flat")]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = netseg(&["generate", &example("wordpress-flat"), &path_in(&dir, "generated.yaml")]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stdout.contains("kind: NetworkPolicy"), "{}", again.stdout);
    assert!(again.stderr.starts_with("netseg generate: 0 policies"), "{}", again.stderr);
    // The hand-written segmentation of the same application already allows exactly the declared flows.
    let segmented = netseg(&["generate", &example("wordpress-segmented")]);
    assert_eq!(segmented.code, 0, "{}", segmented.stderr);
    assert!(!segmented.stdout.contains("kind: NetworkPolicy"), "{}", segmented.stdout);
}

#[test]
fn hubble_flows_become_rules_and_the_metadata_endpoint_stays_closed() {
    let manifests = [example("wordpress-flat"), fixture("flows/manifests")];
    let (run, dir) = generated(&[&manifests[0], &manifests[1], "--flows", &fixture("flows/hubble.json")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("169.254.169.254 is a cloud metadata endpoint; it stays closed"), "{}", run.stderr);
    assert!(run.stderr.contains("hubble.json:7: destination: pod kube-system/coredns"), "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let can = |from: &str, to: &str, port: &str| {
        netseg(&["can", "--from", from, "--to", to, "--port", port, &manifests[0], &manifests[1], &generated]).code
    };
    assert_eq!(can("monitoring/prometheus", "blog/wordpress", "9117"), 0, "observed at line 1");
    assert_eq!(can("blog/wordpress", "93.184.216.34", "443"), 0, "observed at line 3");
    assert_eq!(can("blog/wordpress", "169.254.169.254", "80"), 1, "observed, but metadata");
    assert_eq!(can("blog/redis", "blog/mysql", "3306"), 1, "dropped at line 5: not a flow to allow");
    assert_eq!(can("blog/wordpress", "monitoring/prometheus", "51234"), 1, "a reply at line 2");
    assert_eq!(can("203.0.113.9", "blog/wordpress", "80"), 0, "the LoadBalancer serves everyone on 80");
    assert_eq!(
        can("monitoring/prometheus", "blog/wordpress", "80"),
        1,
        "but Prometheus's egress allows what it was seen doing"
    );
    assert_eq!(can("monitoring/prometheus", "blog/mysql", "3306"), 1);
}

#[test]
fn csv_flows_become_rules_without_duplicating_declared_ones() {
    let manifests = [example("wordpress-flat"), fixture("flows/manifests")];
    let (run, dir) = generated(&[&manifests[0], &manifests[1], "--flows", &fixture("flows/flows.csv")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let can = |from: &str, to: &str, port: &str| {
        netseg(&["can", "--from", from, "--to", to, "--port", port, &manifests[0], &manifests[1], &generated]).code
    };
    assert_eq!(can("monitoring/prometheus", "blog/wordpress", "9117"), 0);
    assert_eq!(can("blog/wordpress", "93.184.216.34", "443"), 0);
    assert_eq!(can("blog/wordpress", "93.184.216.35", "443"), 1);
    // WordPress → MySQL 3306 is declared by the env and observed again: one rule, with both reasons.
    assert_eq!(
        run.stdout.matches("matchLabels: {app: mysql}}\n    ports:\n    - {protocol: TCP, port: 3306}").count(),
        1,
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("flows.csv:6"), "{}", run.stdout);
    // Prometheus's own egress is written in its namespace, with the peer's namespace named.
    assert!(run.stdout.contains("namespace: monitoring"), "{}", run.stdout);
    assert!(
        run.stdout.contains("namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: blog}}"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_flow_rows_are_errors_naming_file_line_and_column() {
    let dir = tree(&[(
        "flows.csv",
        "blog,wordpress,blog,mysql,3306,TCP\nblog,wordpress,blog,mysql,99999,TCP\nblog,wordpress,blog\n",
    )]);
    let run = netseg(&["generate", &example("wordpress-flat"), "--flows", &path_in(&dir, "flows.csv")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("flows.csv:2: port: `99999` is not a port 1-65535"), "{}", run.stderr);
    assert!(run.stderr.contains("flows.csv:3: row: expected the columns"), "{}", run.stderr);
    assert!(run.stdout.contains("kind: NetworkPolicy"), "the rest is still generated");
    let missing = netseg(&["generate", &example("wordpress-flat"), "--flows", "no/such/flows.csv"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("--flows no/such/flows.csv"), "{}", missing.stderr);
}

#[test]
fn ingress_backends_open_from_the_controller_namespace_on_their_target_ports() {
    let (run, dir) = generated(&[&fixture("ingress")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("namespace ingress-nginx is left as it is"), "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let can = |from: &str, to: &str, port: &str| {
        netseg(&["can", "--from", from, "--to", to, "--port", port, &fixture("ingress"), &generated]).code
    };
    assert_eq!(can("ingress-nginx/ingress-nginx-controller", "shop/web", "8080"), 0);
    assert_eq!(can("ingress-nginx/ingress-nginx-controller", "shop/api", "3000"), 0);
    assert_eq!(
        can("ingress-nginx/ingress-nginx-controller", "shop/api", "9464"),
        1,
        "the Ingress names api's http port only"
    );
    // web's env names http://api.shop.svc.cluster.local/v1: the scheme's port 80 is the Service port, 3000 the pods'.
    assert_eq!(can("shop/web", "shop/api", "3000"), 0);
    assert_eq!(can("shop/web", "shop/api", "80"), 1, "80 is the Service's port; after DNAT the pods see 3000");
    assert_eq!(can("shop/web", "shop/api", "9464"), 1);
    assert_eq!(can("shop/api", "shop/web", "8080"), 1);
    assert!(run.stdout.contains("namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}"));
}

#[test]
fn refuses_to_write_policies_that_would_cut_a_declared_flow() {
    // A host-network agent names the Service: no pod selector matches the node, so the rule cannot let it in.
    let dir = tree(&[(
        "app.yaml",
        concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: app}\n",
            "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n",
            "    spec:\n      containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]\n---\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n---\n",
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: app}\n",
            "spec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n",
            "    spec:\n      hostNetwork: true\n      containers: [{name: agent, image: agent, args: [\"--target=web.app:80\"]}]\n",
        ),
    )]);
    let run = netseg(&["generate", &dir.path().display().to_string()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stdout, "", "nothing is emitted");
    assert!(run.stderr.contains("CUT"), "{}", run.stderr);
    assert!(run.stderr.contains("app/agent[DaemonSet] → app/web[Deployment] TCP 8080"), "{}", run.stderr);
}

#[test]
fn out_dir_gets_one_file_per_namespace() {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("policies");
    let run = netseg(&[
        "generate",
        &example("wordpress-flat"),
        &fixture("flows/manifests"),
        "--flows",
        &fixture("flows/flows.csv"),
        "--out",
        &target.display().to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let mut files: Vec<String> = std::fs::read_dir(&target)
        .expect("out dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["blog.yaml", "monitoring.yaml"]);
    let blog = std::fs::read_to_string(target.join("blog.yaml")).expect("blog.yaml");
    assert!(blog.contains("namespace: blog") && !blog.contains("namespace: monitoring"));
}

#[test]
fn dns_flag_and_detection() {
    let node_local = netseg(&["generate", "--dns", "169.254.20.10", &example("wordpress-flat")]);
    assert_eq!(node_local.code, 0, "{}", node_local.stderr);
    assert!(node_local.stdout.contains("cidr: 169.254.20.10/32"), "{}", node_local.stdout);
    let wide = netseg(&["generate", "--dns", "169.254.0.0/16", &example("wordpress-flat")]);
    assert!(wide.stdout.contains("cidr: 169.254.0.0/16\n        except: [169.254.169.254/32]"), "{}", wide.stdout);
    let metadata = netseg(&["generate", "--dns", "169.254.169.254", &example("wordpress-flat")]);
    assert_eq!(metadata.code, 2);
    let bad = netseg(&["generate", "--dns", "kube-dns", &example("wordpress-flat")]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--dns"), "{}", bad.stderr);
    // CoreDNS in the input is found by its Service and labels.
    let dir = tree(&[(
        "dns.yaml",
        concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\n",
            "spec:\n  selector: {matchLabels: {k8s-app: kube-dns}}\n  template:\n    metadata: {labels: {k8s-app: kube-dns}}\n",
            "    spec:\n      containers: [{name: coredns, image: coredns/coredns:1.11.3, ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}]}]\n---\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: kube-system}\n",
            "spec: {selector: {k8s-app: kube-dns}, ports: [{name: dns, port: 53, protocol: UDP, targetPort: dns}, {name: dns-tcp, port: 53, targetPort: dns-tcp}]}\n",
        ),
    )]);
    let detected = netseg(&["generate", &example("wordpress-flat"), &dir.path().display().to_string()]);
    assert_eq!(detected.code, 0, "{}", detected.stderr);
    assert!(!detected.stderr.contains("assumed: the cluster DNS"), "{}", detected.stderr);
    assert!(detected.stderr.contains("namespace kube-system is left as it is"), "{}", detected.stderr);
    let (_, generated_dir) = generated(&[&example("wordpress-flat"), &dir.path().display().to_string()]);
    let resolves = netseg(&[
        "can",
        "--from",
        "blog/redis",
        "--to",
        "kube-system/coredns",
        "--port",
        "53",
        "--protocol",
        "UDP",
        &example("wordpress-flat"),
        &dir.path().display().to_string(),
        &path_in(&generated_dir, "generated.yaml"),
    ]);
    assert_eq!(resolves.code, 0, "{}", resolves.stdout);
}

/// Every public project of the real-world sets gets policies that read back cleanly and keep what it declares.
#[test]
fn realworld_manifests_get_policies_that_read_back_and_keep_their_flows() {
    let Some(root) = super::shared_set("realworld", "README.md") else { return };
    let entries = std::fs::read_dir(&root).expect("read the real-world sets");
    let mut projects: Vec<std::path::PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    projects.sort();
    assert!(projects.len() >= 5);
    for project in projects {
        let project = project.display().to_string();
        // A set whose Services nothing in it names (guestbook, yaobank) is refused: the cuts must be intended.
        let (mut run, mut dir) = generated(&[&project]);
        if run.code == 2 && run.stderr.contains("nothing in the input says who calls it") {
            let cuts: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("  ✗ ")).collect();
            assert!(cuts.iter().all(|l| l.contains("every client → Service")), "{project}: {}", run.stderr);
            assert_eq!(run.stdout, "", "{project}: nothing is written");
            (run, dir) = generated(&["--allow-cuts", &project]);
        }
        assert_eq!(run.code, 0, "{project}: {}", run.stderr);
        let generated = std::fs::read_to_string(path_in(&dir, "generated.yaml")).unwrap_or_default();
        if !generated.contains("kind:") {
            // Nothing to add: a file with no object, which every command refuses as input (error[no-objects]).
            continue;
        }
        let read = netseg(&["reach", "-o", "json", &path_in(&dir, "generated.yaml")]);
        assert_eq!(read.code, 0, "{project}: {}", read.stderr);
        assert!(!read.stderr.contains("warning") && !read.stderr.contains("error"), "{project}: {}", read.stderr);
        if let Some((valid, report)) = openapi_check(&run.stdout) {
            assert!(valid, "{project}: {report}");
        }
    }
}

#[test]
fn api_clients_reach_the_api_server_endpoints_after_dnat() {
    let dir = tree(&[(
        "ops.yaml",
        concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: operator, namespace: ops}\n",
            "spec:\n  selector: {matchLabels: {app: operator}}\n  template:\n    metadata: {labels: {app: operator}}\n",
            "    spec:\n      serviceAccountName: operator\n      containers: [{name: operator, image: example/operator}]\n---\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: batch, namespace: ops}\n",
            "spec:\n  selector: {matchLabels: {app: batch}}\n  template:\n    metadata: {labels: {app: batch}}\n",
            "    spec:\n      serviceAccountName: batch\n      automountServiceAccountToken: false\n      containers: [{name: batch, image: example/batch}]\n---\n",
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes, namespace: default}\n",
            "subsets: [{addresses: [{ip: 172.18.0.2}], ports: [{name: https, port: 6443, protocol: TCP}]}]\n",
        ),
    )]);
    let input = dir.path().display().to_string();
    let (run, out) = generated(&[&input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("cidr: 172.18.0.2/32"), "{}", run.stdout);
    let generated = path_in(&out, "generated.yaml");
    let can = |from: &str, to: &str, port: &str| {
        netseg(&["can", "--from", from, "--to", to, "--port", port, &input, &generated]).code
    };
    assert_eq!(can("ops/operator", "172.18.0.2", "6443"), 0, "the endpoint's port, after the Service's DNAT");
    assert_eq!(can("ops/operator", "172.18.0.2", "443"), 1);
    assert_eq!(can("ops/batch", "172.18.0.2", "6443"), 1, "no token mounted: not an API client");
    // Without the endpoints the report says which workloads lose the API server, and how to give it.
    let bare = tree(&[(
        "ops.yaml",
        std::fs::read_to_string(dir.path().join("ops.yaml"))
            .expect("read")
            .split("---\napiVersion: v1\nkind: Endpoints")
            .next()
            .unwrap_or_default(),
    )]);
    let unknown = netseg(&["generate", &bare.path().display().to_string()]);
    assert!(
        unknown.stderr.contains("ops/operator[Deployment] (ServiceAccount operator); pass --api-server CIDR"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_flow_from_a_metadata_address_never_becomes_an_open_rule() {
    let dir =
        tree(&[("flows.csv", ",169.254.169.254,blog,wordpress,9117,TCP\n,203.0.113.20,blog,wordpress,9117,TCP\n")]);
    let (run, out) = generated(&[&example("wordpress-flat"), "--flows", &path_in(&dir, "flows.csv")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("169.254.169.254 is a cloud metadata endpoint; it stays closed"), "{}", run.stderr);
    let generated = path_in(&out, "generated.yaml");
    let can = |from: &str| {
        netseg(&[
            "can",
            "--from",
            from,
            "--to",
            "blog/wordpress",
            "--port",
            "9117",
            &example("wordpress-flat"),
            &generated,
        ])
        .code
    };
    assert_eq!(can("203.0.113.20"), 0);
    assert_eq!(can("169.254.169.254"), 1);
    assert_eq!(can("198.51.100.1"), 1, "the observed source only, not anywhere");
}

/// Checks a YAML stream against the Kubernetes OpenAPI schema of NetworkPolicy (`kubernetes-models`, which
/// `.ci/run` installs and names in NETSEG_K8S_MODELS): `None` when it is not installed (outside CI).
fn openapi_check(yaml: &str) -> Option<(bool, String)> {
    let Some(models) = std::env::var_os("NETSEG_K8S_MODELS") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_K8S_MODELS");
        eprintln!("NETSEG_K8S_MODELS not set: OpenAPI validation skipped (.ci/run sets it)");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s/validate-networkpolicies.js");
    let mut child = Command::new("node")
        .arg(&script)
        .env("NETSEG_K8S_MODELS", &models)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node");
    child.stdin.take().expect("stdin").write_all(yaml.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("wait");
    Some((output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// The structural half of "valid for the API server": every generated document against the OpenAPI schema. The
/// loader test above is the semantic half.
#[test]
fn generated_yaml_matches_the_kubernetes_openapi_schema() {
    let run = netseg(&[
        "generate",
        &example("wordpress-flat"),
        &fixture("ingress"),
        &fixture("flows/manifests"),
        "--flows",
        &fixture("flows/hubble.json"),
        "--dns",
        "169.254.0.0/16",
        "--api-server",
        "172.18.0.0/28",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let Some((valid, report)) = openapi_check(&run.stdout) else { return };
    assert!(valid, "{report}");
    assert!(report.contains("invalid 0") && !report.contains("checked 0,"), "{report}");
    let broken = run.stdout.replacen("policyTypes: [Ingress, Egress]", "policyTypes: Ingress", 1);
    assert_eq!(openapi_check(&broken).map(|(valid, _)| valid), Some(false), "a policyTypes that is not a list");
}

/// The OWASP K07:2022 example's mis-indented selector cuts WordPress off from Redis; the manifests still declare
/// the flow.
#[test]
fn a_declared_flow_the_input_cuts_is_restored_and_reported_as_opened() {
    let (run, dir) = generated(&[&example("misindented-selector")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("→ Service blog/redis (restored: the input denied it)"), "{}", run.stderr);
    assert!(run.stderr.contains("OPENED (declared flows that the input denied)\n  + blog/wordpress[Deployment] → blog/redis[Deployment]  TCP 6379\n"), "{}", run.stderr);
    let generated = path_in(&dir, "generated.yaml");
    let can = |from: &str, to: &str, port: &str| {
        netseg(&["can", "--from", from, "--to", to, "--port", port, &example("misindented-selector"), &generated]).code
    };
    assert_eq!(can("blog/wordpress", "blog/redis", "6379"), 0);
    assert_eq!(can("blog/mysql", "blog/redis", "6379"), 1);
}

#[test]
fn flows_can_come_from_stdin() {
    let hubble = std::fs::read_to_string(fixture("flows/hubble.json")).expect("fixture");
    let run =
        netseg_stdin(&["generate", &example("wordpress-flat"), &fixture("flows/manifests"), "--flows", "-"], &hubble);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("observed flow <stdin>:3 (TCP 443)"), "{}", run.stdout);
    let both = netseg_stdin(&["generate", "-", "--flows", "-"], "");
    assert_eq!(both.code, 2);
    assert!(both.stderr.contains("cannot both read stdin"), "{}", both.stderr);
}

/// The DNS pods' own policy admits nothing on 53: the input breaks DNS, not the generated policies, so the run
/// succeeds and says so; the DNS's namespace is left alone.
#[test]
fn flows_the_input_already_denies_are_warnings_not_cuts() {
    let dir = tree(&[(
        "cluster.yaml",
        concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: dns}\n",
            "spec:\n  selector: {matchLabels: {k8s-app: kube-dns}}\n  template:\n    metadata: {labels: {k8s-app: kube-dns}}\n",
            "    spec:\n      containers: [{name: coredns, image: coredns/coredns:1.11.3, ports: [{containerPort: 53, protocol: UDP}]}]\n---\n",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: only-5353, namespace: dns}\n",
            "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 5353, protocol: UDP}]}]\n---\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: app}\n",
            "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n",
            "    spec:\n      containers: [{name: web, image: nginx}]\n",
        ),
    )]);
    let run = netseg(&["generate", &dir.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("namespace dns is left as it is: the cluster DNS runs there"), "{}", run.stderr);
    assert!(run.stderr.contains("STILL DENIED (by the input's own policies; these could not open them)\n  ! app/web[Deployment] → the cluster DNS"), "{}", run.stderr);
    assert!(run.stdout.contains("name: allow-dns\n  namespace: app"), "{}", run.stdout);
}

#[test]
fn ingress_without_a_controller_in_the_input() {
    let shop = std::fs::read_to_string(Path::new(&fixture("ingress")).join("shop.yaml")).expect("fixture");
    let without_controller: Vec<&str> =
        shop.split("\n---\n").filter(|doc| !doc.contains("name: ingress-nginx-controller")).collect();
    let dir = tree(&[("shop.yaml", without_controller.join("\n---\n").as_str())]);
    let input = dir.path().display().to_string();
    let (run, out) = generated(&[&input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("no ingress controller in the input and no --ingress-namespace"), "{}", run.stderr);
    assert!(
        run.stdout.contains("- namespaceSelector: {}\n    ports:\n    - {protocol: TCP, port: 8080}"),
        "{}",
        run.stdout
    );
    let generated = path_in(&out, "generated.yaml");
    let stranger = tree(&[("other.yaml", "kind: Pod\nmetadata: {name: p, namespace: elsewhere}\n")]);
    let from_elsewhere = netseg(&[
        "can",
        "--from",
        "elsewhere/p",
        "--to",
        "shop/web",
        "--port",
        "8080",
        &input,
        &generated,
        &stranger.path().display().to_string(),
    ]);
    assert_eq!(from_elsewhere.code, 0, "{}", from_elsewhere.stdout);
    let named = netseg(&["generate", "--ingress-namespace", "traefik", &input]);
    assert_eq!(named.code, 0, "{}", named.stderr);
    assert!(
        named.stdout.contains("namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: traefik}}"),
        "{}",
        named.stdout
    );
    assert!(!named.stdout.contains("namespaceSelector: {}"), "{}", named.stdout);
}
