//! `--cluster`: the real binary against the tests' own HTTPS API server (see `apiserver.rs`).

use crate::apiserver::{contents_from_objects, kubeconfig, ApiServer, Authority, Contents};
use crate::{finish, Run};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "netseg-test-token";

/// Runs netseg with a clean environment: no KUBECONFIG, a HOME without ~/.kube, not in a pod.
fn netseg_in(home: &Path, args: &[&str]) -> Run {
    netseg_as(env!("CARGO_BIN_EXE_netseg").as_ref(), home, args)
}

fn netseg_as(binary: &Path, home: &Path, args: &[&str]) -> Run {
    let output = Command::new(binary)
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("run netseg");
    let run = finish(output);
    crate::schemas::check_json_output(args, &run);
    run
}

fn owner(kind: &str, name: &str) -> Value {
    let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
    json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}])
}

fn pod(namespace: &str, name: &str, labels: Value, owners: Value, ip: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": labels, "ownerReferences": owners},
           "spec": {"containers": [{"name": "main", "image": "example/app:1", "ports": [{"containerPort": port}]}]},
           "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
}

fn controller(kind: &str, namespace: &str, name: &str, labels: Value, port: u16, owners: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind,
           "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners},
           "spec": {"selector": {"matchLabels": labels.clone()},
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"containers": [{"name": "main", "image": "example/app:1",
                                                          "ports": [{"containerPort": port}]}]}}}})
}

/// A small live cluster: WordPress, MySQL and Redis with their controllers' pods (owner references, IPs), a
/// Node, the API server's EndpointSlice, an Ingress, one policy, and Calico's agent.
fn live_objects() -> Vec<Value> {
    let wordpress = json!({"app": "wordpress"});
    let redis = json!({"app": "redis"});
    let mysql = json!({"app": "mysql"});
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "blog", "labels": {"team": "web"}}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.10"}]}}),
        controller("Deployment", "blog", "wordpress", wordpress.clone(), 80, json!([])),
        controller("ReplicaSet", "blog", "wordpress-6d8f", wordpress.clone(), 80, owner("Deployment", "wordpress")),
        pod("blog", "wordpress-6d8f-a1", wordpress.clone(), owner("ReplicaSet", "wordpress-6d8f"), "10.244.1.5", 80),
        pod("blog", "wordpress-6d8f-b2", wordpress, owner("ReplicaSet", "wordpress-6d8f"), "10.244.2.5", 80),
        controller("Deployment", "blog", "redis", redis.clone(), 6379, json!([])),
        controller("ReplicaSet", "blog", "redis-77c4", redis.clone(), 6379, owner("Deployment", "redis")),
        pod("blog", "redis-77c4-c3", redis, owner("ReplicaSet", "redis-77c4"), "10.244.1.6", 6379),
        controller("StatefulSet", "blog", "mysql", mysql.clone(), 3306, json!([])),
        pod("blog", "mysql-0", mysql, owner("StatefulSet", "mysql"), "10.244.2.6", 3306),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wordpress", "namespace": "blog"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "wordpress"},
                        "ports": [{"port": 80, "targetPort": 80}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "mysql-from-wordpress", "namespace": "blog"},
               "spec": {"podSelector": {"matchLabels": {"app": "mysql"}},
                        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "wordpress"}}}],
                                     "ports": [{"port": 3306}]}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "blog"},
               "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "wordpress", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "kubernetes"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["172.18.0.2"]}],
               "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}),
        {
            let mut agent = controller(
                "DaemonSet",
                "kube-system",
                "calico-node",
                json!({"k8s-app": "calico-node"}),
                9099,
                json!([]),
            );
            agent["spec"]["template"]["spec"]["containers"][0]["image"] = json!("quay.io/calico/node:v3.28.1");
            agent["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
            agent
        },
    ]
}

struct Live {
    dir: tempfile::TempDir,
    server: ApiServer,
}

impl Live {
    fn start(contents: Contents) -> Live {
        let authority = Authority::new("netseg test CA");
        let server = ApiServer::start(&authority, contents);
        let dir = tempfile::tempdir().expect("tempdir");
        kubeconfig(dir.path(), &[("test-a", &server.url, &authority.pem(), TOKEN)]);
        Live { dir, server }
    }

    fn kubeconfig(&self) -> String {
        self.dir.path().join("kubeconfig").display().to_string()
    }

    fn run(&self, args: &[&str]) -> Run {
        let kubeconfig = self.kubeconfig();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", &kubeconfig]);
        netseg_in(self.dir.path(), &all)
    }
}

fn findings(stdout: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(stdout).expect("audit JSON");
    report["findings"].as_array().cloned().unwrap_or_default()
}

/// A finding without what names its source (file and line, or cluster; `source` where the evidence cites it):
/// what must agree between the two modes.
fn substance(finding: &Value, source: &str) -> Value {
    let mut finding = finding.clone();
    if let Some(map) = finding.as_object_mut() {
        map.remove("location");
        map.remove("cluster");
        // The `check:` command repeats the input, which differs by design (--cluster or the dump's path).
        if let Some(witness) = map.get_mut("witness").and_then(Value::as_object_mut) {
            witness.remove("command");
        }
        if let Some(evidence) = map.get("evidence").and_then(Value::as_str) {
            let evidence = evidence.replace(source, "SOURCE");
            map.insert("evidence".into(), json!(evidence));
        }
    }
    finding
}

#[test]
fn a_live_cluster_gives_the_same_findings_as_its_dump() {
    let objects = live_objects();
    let live = Live::start(contents_from_objects(TOKEN, &objects));
    let cluster = live.run(&["audit", "--cluster", "-o", "json", "--fail-on", "none"]);
    assert_eq!(cluster.code, 0, "{}", cluster.stderr);
    let dump = live.dir.path().join("dump.json");
    std::fs::write(&dump, json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string()).expect("dump");
    let file = netseg_in(live.dir.path(), &["audit", "-o", "json", "--fail-on", "none", &dump.display().to_string()]);
    assert_eq!(file.code, 0, "{}", file.stderr);
    let slices = "cluster://test-a/apis/discovery.k8s.io/v1/endpointslices:1";
    let from_cluster: Vec<Value> = findings(&cluster.stdout).iter().map(|f| substance(f, slices)).collect();
    let dump_line = format!("{}:1", dump.display());
    let from_file: Vec<Value> = findings(&file.stdout).iter().map(|f| substance(f, &dump_line)).collect();
    assert!(!from_cluster.is_empty());
    assert_eq!(from_cluster, from_file);
    // The manifests alone (no pods, no ReplicaSets: the controllers' templates stand in) give the same findings:
    // live pods add addresses, not workloads.
    let manifests: Vec<&Value> =
        objects.iter().filter(|o| !matches!(o["kind"].as_str(), Some("Pod" | "ReplicaSet"))).collect();
    let manifests_file = live.dir.path().join("manifests.json");
    std::fs::write(&manifests_file, json!({"apiVersion": "v1", "kind": "List", "items": manifests}).to_string())
        .expect("write");
    let manifests_run = netseg_in(
        live.dir.path(),
        &["audit", "-o", "json", "--fail-on", "none", &manifests_file.display().to_string()],
    );
    let manifests_line = format!("{}:1", manifests_file.display());
    let from_manifests: Vec<Value> =
        findings(&manifests_run.stdout).iter().map(|f| substance(f, &manifests_line)).collect();
    assert_eq!(from_cluster, from_manifests);
    // Pods are folded into their owners: findings name the Deployment, never a ReplicaSet or a pod.
    let resources: Vec<String> =
        findings(&cluster.stdout).iter().map(|f| f["resource"]["name"].as_str().unwrap_or("").to_string()).collect();
    assert!(resources.iter().any(|r| r == "redis"), "{resources:?}");
    assert!(resources.iter().all(|r| !r.contains("6d8f") && !r.contains("77c4")), "{resources:?}");
    // Every finding says which cluster it is about and where the object came from.
    let report: Value = serde_json::from_str(&cluster.stdout).expect("json");
    assert_eq!(report["cluster"], "test-a");
    assert!(findings(&cluster.stdout).iter().all(|f| f["cluster"] == "test-a"));
    let located = findings(&cluster.stdout).into_iter().find(|f| f["resource"]["name"] == "redis").expect("redis");
    assert_eq!(located["location"]["file"], "cluster://test-a/apis/apps/v1/deployments");
    // The live facts were used: the API server and node addresses are known, Calico was detected.
    assert_eq!(report["cni"]["name"], "calico");
    assert!(report["assumptions"].as_array().is_some_and(|a| a.is_empty()), "{}", report["assumptions"]);
}

#[test]
fn only_get_requests_are_made_with_the_bearer_token_and_lists_are_paged() {
    let live = Live::start(contents_from_objects(TOKEN, &live_objects()));
    let run = live.run(&["reach", "--cluster", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = live.server.requests();
    assert!(requests.len() > 10, "{requests:?}");
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    let bearer = format!("Bearer {TOKEN}");
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some(bearer.as_str())), "{requests:?}");
    // Four pods at two a page: two requests, the second with the escaped continue token.
    let pods: Vec<&str> =
        requests.iter().map(|r| r.target.as_str()).filter(|t| t.starts_with("/api/v1/pods")).collect();
    assert_eq!(pods, ["/api/v1/pods?limit=500", "/api/v1/pods?limit=500&continue=offset%2F2%3D%3D"]);
    // EndpointSlices are served, so the deprecated Endpoints are not read.
    assert!(requests.iter().all(|r| !r.target.starts_with("/api/v1/endpoints")));
    let reach: Value = serde_json::from_str(&run.stdout).expect("reach JSON");
    let ids: Vec<&str> = reach["endpoints"].as_array().into_iter().flatten().filter_map(|e| e["id"].as_str()).collect();
    assert!(ids.contains(&"blog/wordpress[Deployment]") && ids.contains(&"blog/mysql[StatefulSet]"), "{ids:?}");
}

#[test]
fn a_forbidden_optional_kind_is_a_warning_and_a_forbidden_policy_list_is_an_error() {
    let mut contents = contents_from_objects(TOKEN, &live_objects());
    contents.forbidden.insert("/apis/networking.k8s.io/v1/ingresses".into());
    let live = Live::start(contents.clone());
    let run = live.run(&["audit", "--cluster", "-o", "json", "--fail-on", "none"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("warning: Ingresses of cluster test-a not read"), "{}", run.stderr);
    assert!(run.stderr.contains("exposure through Ingresses"), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    let assumptions = report["assumptions"].to_string();
    assert!(assumptions.contains("Ingresses of cluster test-a not read"), "{assumptions}");

    contents.forbidden.insert("/apis/networking.k8s.io/v1/networkpolicies".into());
    let live = Live::start(contents);
    let run = live.run(&["audit", "--cluster"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("listing NetworkPolicies is forbidden (403"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn an_expired_continue_token_says_to_run_again() {
    let mut contents = contents_from_objects(TOKEN, &live_objects());
    contents.expire_tokens = true;
    let live = Live::start(contents);
    let run = live.run(&["audit", "--cluster"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("410 Gone") && run.stderr.contains("run again"), "{}", run.stderr);
}

#[test]
fn a_certificate_not_signed_by_the_kubeconfig_s_ca_is_refused() {
    let live = Live::start(contents_from_objects(TOKEN, &live_objects()));
    let other = Authority::new("someone else's CA");
    kubeconfig(live.dir.path(), &[("test-a", &live.server.url, &other.pem(), TOKEN)]);
    let run = live.run(&["audit", "--cluster"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("context test-a: TLS failure talking to https://127.0.0.1:"), "{}", run.stderr);
    assert!(live.server.requests().is_empty(), "nothing may be sent over an unverified connection");
}

#[test]
fn an_expired_token_is_a_clear_401_message() {
    let live = Live::start(contents_from_objects("the-new-token", &live_objects()));
    let run = live.run(&["audit", "--cluster"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("rejected the credentials (401 Unauthorized"), "{}", run.stderr);
    assert!(run.stderr.contains("expired or invalid"), "{}", run.stderr);
}

#[test]
fn an_unreachable_server_and_insecure_skip_tls_verify_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://127.0.0.1:{}", closed.local_addr().expect("addr").port());
    drop(closed);
    let authority = Authority::new("ca");
    let config = kubeconfig(dir.path(), &[("gone", &url, &authority.pem(), TOKEN)]);
    let config = config.display().to_string();
    let run = netseg_in(dir.path(), &["reach", "--kubeconfig", &config]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("context gone: cannot reach the API server at https://127.0.0.1:"), "{}", run.stderr);

    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace("    server:", "    insecure-skip-tls-verify: true\n    server:");
    std::fs::write(&config, text).expect("write");
    let run = netseg_in(dir.path(), &["reach", "--kubeconfig", &config]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("sets insecure-skip-tls-verify"), "{}", run.stderr);

    let run = netseg_in(dir.path(), &["audit", "--kubeconfig", &config, "--context", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no context `nope` (contexts: gone)"), "{}", run.stderr);
}

#[test]
fn several_contexts_give_one_report_tagged_by_cluster() {
    let authority = Authority::new("netseg test CA");
    let a = ApiServer::start(&authority, contents_from_objects(TOKEN, &live_objects()));
    // Cluster b runs flannel, which enforces nothing.
    let mut objects = live_objects();
    let last = objects.len() - 1;
    objects[last]["metadata"]["name"] = json!("kube-flannel-ds");
    objects[last]["spec"]["template"]["spec"]["containers"][0]["image"] = json!("docker.io/flannel/flannel:v0.25.5");
    let b = ApiServer::start(&authority, contents_from_objects(TOKEN, &objects));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = authority.pem();
    let config = kubeconfig(dir.path(), &[("a", &a.url, &ca, TOKEN), ("b", &b.url, &ca, TOKEN)]);
    let config = config.display().to_string();
    let run =
        netseg_in(dir.path(), &["audit", "--kubeconfig", &config, "--context", "a", "--context", "b", "-o", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    let all = findings(&run.stdout);
    assert!(all.iter().any(|f| f["cluster"] == "a") && all.iter().any(|f| f["cluster"] == "b"));
    assert!(all.iter().any(|f| f["cluster"] == "b" && f["rule"] == "NS130"), "flannel's cluster b has NS130");
    assert!(!all.iter().any(|f| f["cluster"] == "a" && f["rule"] == "NS130"));
    assert_eq!(report["clusters"][1]["cni"]["name"], "flannel");
    let total: u64 =
        ["critical", "high", "medium", "low", "info"].iter().filter_map(|s| report["summary"][s].as_u64()).sum();
    assert_eq!(total as usize, all.iter().filter(|f| f.get("suppressed").is_none()).count());

    let text = netseg_in(dir.path(), &["audit", "--kubeconfig", &config, "--context", "a", "--context", "b"]);
    assert!(text.stdout.starts_with("netseg audit of 2 clusters:"), "{}", text.stdout);
    assert!(text.stdout.contains("=== cluster a ===") && text.stdout.contains("=== cluster b ==="));
    assert!(text.stdout.contains("--context b --kubeconfig"), "witnesses name their cluster");
    assert!(text.stdout.contains("  cluster://b/apis/apps/v1/deployments\n"), "{}", text.stdout);

    let sarif =
        netseg_in(dir.path(), &["audit", "--kubeconfig", &config, "--context", "a", "--context", "b", "-o", "sarif"]);
    let sarif: Value = serde_json::from_str(&sarif.stdout).expect("SARIF");
    let runs: Vec<&Value> = sarif["runs"].as_array().into_iter().flatten().collect();
    assert_eq!(runs.iter().map(|r| r["properties"]["cluster"].clone()).collect::<Vec<_>>(), [json!("a"), json!("b")]);
    crate::assert_valid_sarif(&sarif);
    crate::sarif::assert_github_ingests(&sarif, "a live cluster's audit");

    let reach = netseg_in(dir.path(), &["reach", "--kubeconfig", &config, "--context", "a", "--context", "b"]);
    assert_eq!(reach.code, 2);
    assert!(reach.stderr.contains("`reach` answers about one cluster"), "{}", reach.stderr);
}

#[test]
fn a_namespace_limits_the_read_and_files_overlay_the_cluster() {
    let live = Live::start(contents_from_objects(TOKEN, &live_objects()));
    // A default-deny about to be applied to blog, checked against what runs there now.
    let policy = live.dir.path().join("deny.yaml");
    std::fs::write(&policy, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n").expect("write");
    let policy = policy.display().to_string();
    let run =
        live.run(&["can", "-n", "blog", "--from", "blog/wordpress", "--to", "blog/redis", "--port", "6379", &policy]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let targets: Vec<String> = live.server.requests().into_iter().map(|r| r.target).collect();
    assert!(targets.iter().any(|t| t.starts_with("/api/v1/namespaces/blog/pods?")), "{targets:?}");
    assert!(targets.iter().any(|t| t.starts_with("/api/v1/nodes?")), "cluster-scoped kinds are read whole");
    assert!(!targets.iter().any(|t| t.starts_with("/api/v1/pods?")), "{targets:?}");
    // Without the file, the cluster as it runs allows it.
    let run = live.run(&["can", "-n", "blog", "--from", "blog/wordpress", "--to", "blog/redis", "--port", "6379"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn admin_policies_are_read_where_the_api_serves_them() {
    let mut objects = live_objects();
    // Denies every pod's ingress from every pod: WordPress can no longer reach Redis where it is enforced.
    objects.push(json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
                        "metadata": {"name": "guard"},
                        "spec": {"priority": 10, "subject": {"namespaces": {}},
                                 "ingress": [{"name": "deny-all", "action": "Deny", "from": [{"namespaces": {}}]}]}}));
    let mut contents = contents_from_objects(TOKEN, &objects);
    contents.group_versions.push("policy.networking.k8s.io/v1alpha1".into());
    let live = Live::start(contents);
    let run = live.run(&["can", "--cluster", "--from", "blog/wordpress", "--to", "blog/redis", "--port", "6379"]);
    let targets: Vec<String> = live.server.requests().into_iter().map(|r| r.target).collect();
    assert!(targets.iter().any(|t| t == "/apis/policy.networking.k8s.io/v1alpha1"), "{targets:?}");
    assert!(targets.iter().any(|t| t.starts_with("/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies?")));
    // The list's items carry no apiVersion; the request's is theirs. The policy reached the loader, so it is
    // either enforced (denied) or named as not modelled: never silently missed.
    let unmodelled = run.stderr.contains("AdminNetworkPolicy guard") && run.stderr.contains("unmodelled-policy");
    assert!(run.code == 1 || (run.code == 0 && unmodelled), "exit {}\n{}\n{}", run.code, run.stdout, run.stderr);
}

#[test]
fn cilium_policies_are_read_where_the_cluster_serves_cilium_io() {
    let mut objects = live_objects();
    objects.push(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                        "metadata": {"name": "redis-ingress", "namespace": "blog"},
                        "spec": {"endpointSelector": {"matchLabels": {"app": "redis"}}, "ingress": [{}]}}));
    objects.push(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
                        "metadata": {"name": "lockdown"},
                        "spec": {"endpointSelector": {}, "ingressDeny": [{"fromEntities": ["world"]}]}}));
    // Without cilium.io in discovery nothing of it is requested, and nothing is missing.
    let live = Live::start(contents_from_objects(TOKEN, &objects));
    let run = live.run(&["reach", "--cluster", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!live.server.requests().iter().any(|r| r.target.contains("cilium.io")));
    // Served: both lists are read, the namespaced one within the namespace asked for.
    let mut contents = contents_from_objects(TOKEN, &objects);
    contents.group_versions.push("cilium.io/v2".into());
    let live = Live::start(contents);
    let run = live.run(&["reach", "--cluster", "-n", "blog", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let targets: Vec<String> = live.server.requests().into_iter().map(|r| r.target).collect();
    assert!(targets.iter().any(|t| t.starts_with("/apis/cilium.io/v2/namespaces/blog/ciliumnetworkpolicies?")));
    assert!(targets.iter().any(|t| t.starts_with("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies?")));
    // The items carry no kind or apiVersion; the request's are theirs, and both policies reach the engine.
    let can = |from: &str, to: &str| live.run(&["can", "--cluster", "-n", "blog", "--from", from, "--to", to]);
    let redis = can("blog/wordpress", "blog/redis");
    assert_eq!(redis.code, 1, "{}{}", redis.stdout, redis.stderr);
    assert!(redis.stdout.contains("CiliumNetworkPolicy blog/redis-ingress"), "{}", redis.stdout);
    let world = can("8.8.8.8", "blog/wordpress");
    assert_eq!(world.code, 1, "{}{}", world.stdout, world.stderr);
    assert!(world.stdout.contains("CiliumClusterwideNetworkPolicy lockdown"), "{}", world.stdout);
    // A 403 on a served policy list stops the read: the answers would miss what it restricts.
    let mut contents = contents_from_objects(TOKEN, &objects);
    contents.group_versions.push("cilium.io/v2".into());
    contents.forbidden.insert("/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies".into());
    let live = Live::start(contents);
    let run = live.run(&["reach", "--cluster"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("CiliumClusterwideNetworkPolicies"), "{}", run.stderr);
}

/// The requests a live run made, by target.
fn targets_of(live: &Live) -> Vec<String> {
    live.server.requests().into_iter().map(|r| r.target).collect()
}

#[test]
fn calico_policies_are_read_from_its_api_server_else_from_its_crds_never_both() {
    let deny_redis = |api_version: &str| {
        json!({"apiVersion": api_version, "kind": "GlobalNetworkPolicy", "metadata": {"name": "deny-redis"},
               "spec": {"selector": "app == 'redis'", "types": ["Ingress"], "ingress": [{"action": "Deny"}]}})
    };
    let with = |api_versions: &[&str]| {
        let mut objects = live_objects();
        objects.extend(api_versions.iter().map(|v| deny_redis(v)));
        let mut contents = contents_from_objects(TOKEN, &objects);
        contents.group_versions.extend(api_versions.iter().map(|v| v.to_string()));
        Live::start(contents)
    };
    let can = ["can", "--cluster", "--from", "blog/wordpress", "--to", "blog/redis", "--port", "6379"];
    // Both served (Calico's API server over its CRDs): the API server's objects only.
    let live = with(&["projectcalico.org/v3", "crd.projectcalico.org/v1"]);
    let run = live.run(&can);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("GlobalNetworkPolicy deny-redis"), "{}", run.stdout);
    let targets = targets_of(&live);
    assert!(targets.iter().any(|t| t.starts_with("/apis/projectcalico.org/v3/globalnetworkpolicies?")), "{targets:?}");
    assert!(!targets.iter().any(|t| t.contains("crd.projectcalico.org")), "{targets:?}");
    // The CRDs alone (no Calico API server): read from them.
    let live = with(&["crd.projectcalico.org/v1"]);
    let run = live.run(&can);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(targets_of(&live).iter().any(|t| t.starts_with("/apis/crd.projectcalico.org/v1/globalnetworkpolicies?")));
    // Kinds the group does not offer are not asked for: no 404, no note.
    assert!(!targets_of(&live).iter().any(|t| t.contains("/tiers")));
    assert!(!run.stderr.contains("does not serve"), "{}", run.stderr);
}

/// Istio's shoes-writer shape on the live cluster: only the inventory account may reach Redis.
fn meshed_objects(trust_domain: &str) -> Vec<Value> {
    let mut objects = live_objects();
    for object in &mut objects {
        if object["kind"] == "Namespace" && object["metadata"]["name"] == "blog" {
            object["metadata"]["labels"]["istio-injection"] = json!("enabled");
        }
    }
    objects.push(json!({"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
                        "metadata": {"name": "redis-writer", "namespace": "blog"},
                        "spec": {"selector": {"matchLabels": {"app": "redis"}},
                                 "rules": [{"from": [{"source": {"principals":
                                     [format!("{trust_domain}/ns/blog/sa/default")]}}]}]}}));
    objects
}

#[test]
fn mesh_policies_are_read_from_the_version_that_offers_them() {
    let mut contents = contents_from_objects(TOKEN, &meshed_objects("cluster.local"));
    // v1 is served but offers no AuthorizationPolicies here; v1beta1 does.
    contents.group_versions.extend(["security.istio.io/v1".into(), "security.istio.io/v1beta1".into()]);
    let live = Live::start(contents);
    let can = |from: &str| live.run(&["can", "--cluster", "--from", from, "--to", "blog/redis", "--port", "6379"]);
    let meshed = can("blog/wordpress");
    assert_eq!(meshed.code, 0, "{}{}", meshed.stdout, meshed.stderr);
    let outside = can("kube-system/calico-node");
    assert_eq!(outside.code, 1, "{}{}", outside.stdout, outside.stderr);
    assert!(outside.stdout.contains("redis-writer"), "{}", outside.stdout);
    let targets = targets_of(&live);
    assert!(targets.iter().any(|t| t.starts_with("/apis/security.istio.io/v1beta1/authorizationpolicies?")));
    assert!(!targets.iter().any(|t| t.starts_with("/apis/security.istio.io/v1/authorizationpolicies")));
}

#[test]
fn the_mesh_settings_come_from_its_config_map_and_a_forbidden_one_is_said() {
    let istio = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                       "data": {"mesh": "trustDomain: corp.example\n"}});
    let start = |with_config: bool, forbidden: bool| {
        let mut objects = meshed_objects("corp.example");
        if with_config {
            objects.push(istio.clone());
        }
        let mut contents = contents_from_objects(TOKEN, &objects);
        contents.group_versions.push("security.istio.io/v1beta1".into());
        if forbidden {
            contents.forbidden.insert("/api/v1/configmaps/istio".into());
        }
        Live::start(contents)
    };
    let can = ["can", "--cluster", "--from", "blog/wordpress", "--to", "blog/redis", "--port", "6379"];
    // Read: the principal is in the corp.example trust domain, and the policy admits WordPress.
    let live = start(true, false);
    let run = live.run(&can);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(targets_of(&live).iter().any(|t| t == "/api/v1/namespaces/istio-system/configmaps/istio"));
    // Absent (404): the default trust domain, cluster.local, and the principal no longer matches. No warning.
    let run = start(false, false).run(&can);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("ConfigMap"), "{}", run.stderr);
    // Forbidden: the same default, and a warning that says what was assumed.
    let run = start(true, true).run(&can);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("ConfigMap of cluster") && run.stderr.contains("cluster.local are assumed"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_binary_runs_as_the_kubectl_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("kubectl-netseg");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_netseg"), &plugin).expect("symlink");
    let run = netseg_as(&plugin, dir.path(), &["audit", "--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Usage: kubectl netseg audit"), "{}", run.stdout);
    assert!(run.stdout.contains("--cluster") && run.stdout.contains("--context <NAME>"));
}

/// The load time of a 10k-pod cluster from the test server: run by hand with
/// `cargo test --release -p netseg --test cli -- --ignored --nocapture ten_thousand_pods`.
#[test]
#[ignore = "a measurement, run by hand"]
fn ten_thousand_pods_load_time() {
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})];
    for d in 0..100 {
        let labels = json!({"app": format!("app-{d}")});
        let deployment = format!("app-{d}");
        let replica_set = format!("app-{d}-5f9c");
        objects.push(controller("Deployment", "load", &deployment, labels.clone(), 8080, json!([])));
        objects.push(controller(
            "ReplicaSet",
            "load",
            &replica_set,
            labels.clone(),
            8080,
            owner("Deployment", &deployment),
        ));
        for p in 0..100 {
            let ip = format!("10.{}.{}.{}", 100 + d / 100, d % 100, p + 1);
            objects.push(pod(
                "load",
                &format!("{replica_set}-{p}"),
                labels.clone(),
                owner("ReplicaSet", &replica_set),
                &ip,
                8080,
            ));
        }
    }
    let mut contents = contents_from_objects(TOKEN, &objects);
    // The server pages as netseg asks (500 a page), as a real API server does.
    contents.page_cap = 500;
    let live = Live::start(contents);
    let started = std::time::Instant::now();
    let run = live.run(&["reach", "--cluster", "--from", "load/app-0", "--to", "load/app-1", "-o", "json"]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pages = live.server.requests().iter().filter(|r| r.target.starts_with("/api/v1/pods")).count();
    println!("10,000 pods in {pages} pages: netseg reach --cluster took {:.2} s", elapsed.as_secs_f64());
}

/// deploy/rbac.yaml grants get and list on exactly what netseg lists, and get on exactly the ConfigMaps it reads,
/// by name: no more, no less.
#[test]
fn the_rbac_manifest_grants_exactly_the_lists_netseg_makes() {
    let text = std::fs::read_to_string(crate::repo_root().join("deploy/rbac.yaml")).expect("deploy/rbac.yaml");
    let mut granted = std::collections::BTreeSet::new();
    let (mut groups, mut plurals, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().map(str::trim) {
        let list = |rest: &str| -> Vec<String> {
            rest.trim_matches(['[', ']']).split(',').map(|s| s.trim().trim_matches('"').to_string()).collect()
        };
        if let Some(rest) = line.strip_prefix("- apiGroups:") {
            (groups, names) = (list(rest.trim()), Vec::new());
        } else if let Some(rest) = line.strip_prefix("resources:") {
            plurals = list(rest.trim());
        } else if let Some(rest) = line.strip_prefix("resourceNames:") {
            names = list(rest.trim());
        } else if let Some(rest) = line.strip_prefix("verbs:") {
            let verbs = list(rest.trim());
            for group in &groups {
                for plural in &plurals {
                    if names.is_empty() {
                        assert_eq!(verbs, ["get", "list"], "read-only verbs only");
                        granted.insert(format!("{group}/{plural}"));
                    } else {
                        assert_eq!(verbs, ["get"], "named objects are read one by one");
                        granted.extend(names.iter().map(|name| format!("{group}/{plural}/{name}")));
                    }
                }
            }
        }
    }
    let mut read: std::collections::BTreeSet<String> =
        netseg_live::RESOURCES.iter().map(|r| format!("{}/{}", r.group, r.plural)).collect();
    read.extend(netseg_live::ADMIN_POLICY_PLURALS.iter().map(|p| format!("{}/{p}", netseg_live::ADMIN_POLICY_GROUP)));
    read.extend(netseg_live::optional_resources().iter().map(|r| format!("{}/{}", r.group, r.plural)));
    read.extend(netseg_live::SETTINGS_CONFIG_MAPS.iter().map(|(_, name, _)| format!("/configmaps/{name}")));
    assert_eq!(granted, read);
    // The deploy manifests are themselves valid input.
    let run = crate::netseg(&["audit", "deploy", "-o", "json", "--fail-on", "none"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("NS144"), "{}", run.stdout);
}

/// `KUBECONFIG` names several files, merged as kubectl merges them, and an exec plugin supplies the token.
#[test]
fn kubeconfig_files_are_merged_and_exec_credentials_are_used() {
    let authority = Authority::new("netseg test CA");
    let server = ApiServer::start(&authority, contents_from_objects("token-from-exec", &live_objects()));
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::create_dir_all(&first).expect("mkdir");
    std::fs::create_dir_all(&second).expect("mkdir");
    kubeconfig(&first, &[("elsewhere", "https://127.0.0.1:9", &authority.pem(), "unused")]);
    let config = kubeconfig(&second, &[("test-a", &server.url, &authority.pem(), "unused")]);
    let plugin = dir.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"token-from-exec\"}}'\n",
    )
    .expect("plugin");
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        plugin.display()
    );
    let text = std::fs::read_to_string(&config).expect("read").replace("    token: unused\n", &exec);
    std::fs::write(&config, text).expect("write");
    // A listed file that does not exist is skipped, as kubectl skips it.
    let missing = dir.path().join("no-such-kubeconfig");
    let paths = std::env::join_paths([first.join("kubeconfig"), missing, second.join("kubeconfig")]).expect("join");
    let output = Command::new(env!("CARGO_BIN_EXE_netseg"))
        .args(["reach", "--context", "test-a", "-o", "json"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("KUBECONFIG", paths)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run netseg");
    let run = finish(output);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some("Bearer token-from-exec")), "{requests:?}");
}
