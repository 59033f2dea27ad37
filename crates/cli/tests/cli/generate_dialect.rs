//! `generate --dialect calico|cilium`: the fixes in the CNI's own objects, checked as a user would check them:
//! the YAML laid over the input, read by `netseg can`, `audit` and `reach` under that CNI.

use super::*;

const DIALECTS: [(&str, &str, &str); 2] = [
    ("calico", "\nkind: GlobalNetworkPolicy\n", "\nkind: NetworkPolicy\n"),
    ("cilium", "\nkind: CiliumClusterwideNetworkPolicy\n", "\nkind: CiliumNetworkPolicy\n"),
];

/// Runs `generate --dialect DIALECT ARGS` and writes its YAML to `generated.yaml` in a fresh directory.
fn generated(dialect: &str, args: &[&str]) -> (Run, tempfile::TempDir, String) {
    let run = netseg(&[&["generate", "--dialect", dialect], args].concat());
    let dir = tree(&[("generated.yaml", run.stdout.as_str())]);
    let path = dir.path().join("generated.yaml").display().to_string();
    (run, dir, path)
}

fn can(args: &[&str], from: &str, to: &str, port: &str, protocol: &str) -> Run {
    netseg(&[&["can", "--from", from, "--to", to, "--port", port, "--protocol", protocol], args].concat())
}

#[test]
fn flat_example_in_each_dialect_keeps_the_declared_flows_and_denies_the_rest() {
    for (dialect, cluster_kind, namespaced_kind) in DIALECTS {
        let (run, _dir, path) = generated(dialect, &[&example("wordpress-flat")]);
        assert_eq!(run.code, 0, "{dialect}: {}", run.stderr);
        assert_eq!(run.stdout.matches(cluster_kind).count(), 1, "{dialect}: one cluster-wide default-deny");
        assert_eq!(run.stdout.matches(namespaced_kind).count(), 4, "{dialect}: {}", run.stdout);
        assert!(!run.stdout.contains("networking.k8s.io"), "{dialect}: no NetworkPolicy in another dialect");
        let input = [example("wordpress-flat"), path.clone()];
        let input: Vec<&str> = input.iter().map(String::as_str).collect();
        let verdict = |from: &str, to: &str, port: &str, protocol: &str| can(&input, from, to, port, protocol).code;
        // Declared: WordPress's env names MySQL on 3306 and Redis; the LoadBalancer serves port 80.
        assert_eq!(verdict("blog/wordpress", "blog/mysql", "3306", "TCP"), 0, "{dialect}");
        assert_eq!(verdict("blog/wordpress", "blog/redis", "6379", "TCP"), 0, "{dialect}");
        assert_eq!(verdict("203.0.113.9", "blog/wordpress", "80", "TCP"), 0, "{dialect}");
        // Undeclared: other pairs, ports, the internet, and the metadata endpoint.
        assert_eq!(verdict("blog/mysql", "blog/redis", "6379", "TCP"), 1, "{dialect}");
        assert_eq!(verdict("blog/wordpress", "blog/redis", "22", "TCP"), 1, "{dialect}");
        assert_eq!(verdict("blog/wordpress", "blog/mysql", "3306", "UDP"), 1, "{dialect}");
        assert_eq!(verdict("blog/wordpress", "1.1.1.1", "443", "TCP"), 1, "{dialect}");
        assert_eq!(verdict("203.0.113.9", "blog/mysql", "3306", "TCP"), 1, "{dialect}");
        let metadata = can(&input, "blog/wordpress", "169.254.169.254", "80", "TCP");
        assert_eq!(metadata.code, 1, "{dialect}: {}", metadata.stdout);
        // The metadata block is the generated default-deny's own rule, which `can` names.
        assert!(metadata.stdout.contains("netseg-default-deny"), "{dialect}: {}", metadata.stdout);
    }
}

/// Least privilege, in the CNI's own objects too: after them, the flat network is exactly the declared flows.
#[test]
fn after_the_dialect_policies_the_flat_network_is_exactly_the_declared_flows() {
    for (dialect, _, _) in DIALECTS {
        let (run, _dir, path) = generated(dialect, &[&example("wordpress-flat")]);
        assert_eq!(run.code, 0, "{dialect}: {}", run.stderr);
        let reach = netseg(&["reach", "-o", "json", &example("wordpress-flat"), &path]);
        assert_eq!(reach.code, 0, "{dialect}: {}", reach.stderr);
        // Calico's IPv6 metadata block cuts the address space at IPv6 too: "0.0.0.0/0,::/0" is every address.
        let mut found: Vec<(String, String)> = pairs(&json(&reach.stdout))
            .into_iter()
            .map(|(src, dst)| (if src == "0.0.0.0/0,::/0" { "0.0.0.0/0".into() } else { src }, dst))
            .collect();
        found.sort();
        let expected = [
            ("0.0.0.0/0", "blog/wordpress[Deployment]"),
            ("blog/wordpress[Deployment]", "blog/mysql[StatefulSet]"),
            ("blog/wordpress[Deployment]", "blog/redis[Deployment]"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(found, expected, "{dialect}");
    }
}

#[test]
fn audit_of_the_input_with_the_dialect_policies_finds_no_namespace_gaps() {
    let rules_of = |paths: &[&str]| -> Vec<(String, String)> {
        let run = netseg(&[&["audit", "-o", "json", "--fail-on", "none"], paths].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
        json(&run.stdout)["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                let namespace = f["resource"]["namespace"].as_str().or(f["resource"]["name"].as_str());
                (f["rule"].as_str().unwrap_or_default().to_string(), namespace.unwrap_or_default().to_string())
            })
            .collect()
    };
    let gaps = ["NS101", "NS102", "NS103", "NS120"];
    let before = rules_of(&[&example("wordpress-flat")]);
    for rule in ["NS101", "NS120"] {
        assert!(before.iter().any(|(r, ns)| r == rule && ns == "blog"), "the flat example has {rule}: {before:?}");
    }
    for (dialect, _, _) in DIALECTS {
        let (run, _dir, path) = generated(dialect, &[&example("wordpress-flat")]);
        assert_eq!(run.code, 0, "{dialect}: {}", run.stderr);
        let after = rules_of(&[&example("wordpress-flat"), &path]);
        for rule in gaps {
            assert!(!after.iter().any(|(r, _)| r == rule), "{dialect}: {rule} is left: {after:?}");
        }
        if dialect == "cilium" {
            // Cilium's isolation and its DNS rule count in NS125 and NS145 too: nothing is left but the unknown CNI.
            assert_eq!(after, [("NS131".to_string(), "cluster".to_string())], "{dialect}");
        }
    }
}

/// Cross-namespace peers (the ingress controller's namespace, Prometheus in `monitoring`), an observed flow to an
/// address, Ingress backends: every declared flow is kept under the CNI, and the YAML reads back silently.
#[test]
fn cross_namespace_flows_and_addresses_are_written_with_the_cnis_selectors() {
    let inputs = [example("wordpress-flat"), fixture("ingress"), fixture("flows/manifests")];
    let flows = fixture("flows/flows.csv");
    for (dialect, _, _) in DIALECTS {
        let args = [inputs[0].as_str(), &inputs[1], &inputs[2], "--flows", &flows];
        let (run, _dir, path) = generated(dialect, &args);
        assert_eq!(run.code, 0, "{dialect}: {}", run.stderr);
        match dialect {
            "calico" => {
                assert!(run.stdout.contains("namespaceSelector: \"kubernetes.io/metadata.name == 'monitoring'\""));
                assert!(run.stdout.contains("nets: [93.184.216.34/32]"), "{}", run.stdout);
            }
            _ => {
                assert!(run.stdout.contains("\"k8s:io.kubernetes.pod.namespace\": monitoring"), "{}", run.stdout);
                assert!(run.stdout.contains("toCIDRSet:\n    - {cidr: 93.184.216.34/32}"), "{}", run.stdout);
            }
        }
        let read = netseg(&["-v", "reach", "-o", "json", &path]);
        assert_eq!(read.code, 0, "{dialect}: {}", read.stderr);
        let problems: Vec<&str> = read
            .stderr
            .lines()
            .filter(|l| !l.starts_with("note: no CNI in the input") && !l.starts_with("note: Calico policies in the"))
            .collect();
        assert_eq!(problems, Vec::<&str>::new(), "{dialect}: the generated YAML must read back silently");
        let all = [inputs[0].as_str(), &inputs[1], &inputs[2], &path];
        for (from, to, port) in [
            ("monitoring/prometheus", "blog/wordpress", "9117"),
            ("blog/wordpress", "93.184.216.34", "443"),
            ("shop/web", "shop/api", "3000"),
            ("ingress-nginx/ingress-nginx-controller", "shop/web", "8080"),
        ] {
            let run = can(&all, from, to, port, "TCP");
            assert_eq!(run.code, 0, "{dialect}: {from} → {to}:{port}\n{}", run.stdout);
        }
        assert_eq!(can(&all, "monitoring/prometheus", "blog/mysql", "3306", "TCP").code, 1, "{dialect}");
        assert_eq!(can(&all, "blog/wordpress", "93.184.216.35", "443", "TCP").code, 1, "{dialect}");
    }
}

/// `diff` reads the CNI's objects like any other change: the input to the input with the policies opens nothing.
#[test]
fn diff_of_the_input_and_the_input_with_the_dialect_policies_adds_nothing() {
    for (dialect, _, _) in DIALECTS {
        let run = netseg(&["generate", "--dialect", dialect, &example("wordpress-flat")]);
        assert_eq!(run.code, 0, "{dialect}: {}", run.stderr);
        let new = tree(&[("generated.yaml", run.stdout.as_str())]);
        for file in ["namespace.yaml", "wordpress.yaml", "mysql.yaml", "redis.yaml"] {
            let text =
                std::fs::read_to_string(repo_root().join("examples/wordpress-flat").join(file)).expect("example");
            std::fs::write(new.path().join(file), text).expect("copy");
        }
        let diff = netseg(&["diff", "-o", "json", &example("wordpress-flat"), &new.path().display().to_string()]);
        assert_eq!(diff.code, 0, "{dialect}: {}\n{}", diff.stdout, diff.stderr);
        assert!(diff.stdout.contains("\"removed\""), "{dialect}: {}", diff.stdout);
    }
}

#[test]
fn flat_example_calico_policies() {
    let run = netseg(&["generate", "--dialect", "calico", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("generate_calico_flat_yaml", run.stdout);
}

#[test]
fn flat_example_cilium_policies() {
    let run = netseg(&["generate", "--dialect", "cilium", &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("generate_cilium_flat_yaml", run.stdout);
}

#[test]
fn generating_again_on_its_own_output_adds_nothing() {
    for (dialect, _, _) in DIALECTS {
        let (first, _dir, path) = generated(dialect, &[&example("wordpress-flat")]);
        assert_eq!(first.code, 0, "{dialect}: {}", first.stderr);
        let again = netseg(&["generate", "--dialect", dialect, &example("wordpress-flat"), &path]);
        assert_eq!(again.code, 0, "{dialect}: {}", again.stderr);
        assert!(!again.stdout.contains("\n---\n"), "{dialect}: {}", again.stdout);
        assert!(again.stderr.starts_with("netseg generate: 0 policies"), "{dialect}: {}", again.stderr);
    }
}

#[test]
fn out_dir_puts_the_cluster_wide_policy_in_its_own_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().display().to_string();
    let run = netseg(&["generate", "--dialect", "cilium", "--out", &out, &example("wordpress-flat")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cluster = std::fs::read_to_string(dir.path().join("_cluster.yaml")).expect("_cluster.yaml");
    let blog = std::fs::read_to_string(dir.path().join("blog.yaml")).expect("blog.yaml");
    assert_eq!(cluster.matches("\nkind: CiliumClusterwideNetworkPolicy\n").count(), 1);
    assert_eq!(blog.matches("\nkind: CiliumNetworkPolicy\n").count(), 4);
    assert!(!blog.contains("\nkind: CiliumClusterwideNetworkPolicy\n"));
}

/// A Calico policy is only enforced where Calico runs: with flannel detected the output would be inert.
#[test]
fn a_dialect_the_detected_cni_does_not_enforce_is_an_error_naming_it() {
    for (dialect, _, _) in DIALECTS {
        let run = netseg(&["generate", "--dialect", dialect, &example("flannel-cluster")]);
        assert_eq!(run.code, 2, "{dialect}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "nothing is written");
        assert!(run.stderr.contains("the CNI detected in the input is flannel"), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("--cni {dialect}")), "{}", run.stderr);
        // Saying which CNI runs is the override.
        let named = netseg(&["generate", "--dialect", dialect, "--cni", dialect, &example("flannel-cluster")]);
        assert_eq!(named.code, 0, "{dialect}: {}", named.stderr);
    }
    let named = netseg(&["generate", "--dialect", "calico", "--cni", "cilium", &example("wordpress-flat")]);
    assert_eq!(named.code, 2);
    assert!(named.stderr.contains("the CNI named with --cni is cilium"), "{}", named.stderr);
}

/// No CNI in the input, but another CNI's own policies: they say which CNI runs, and the dialect would drop them.
#[test]
fn another_cnis_policies_in_a_cni_less_input_are_an_error() {
    let input = tree(&[(
        "app.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: {app: web}}\n\
         spec: {containers: [{name: web, image: nginx}]}\n---\n\
         apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  endpointSelector: {matchLabels: {app: web}}\n  ingress:\n  - fromEntities: [world]\n",
    )]);
    let path = input.path().display().to_string();
    let run = netseg(&["generate", "--dialect", "calico", &path]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("the input holds 1 Cilium policies"), "{}", run.stderr);
    assert!(run.stderr.contains("--dialect cilium"), "{}", run.stderr);
    assert_eq!(netseg(&["generate", "--dialect", "cilium", &path]).code, 0);
}

#[test]
fn an_unknown_dialect_is_a_usage_error() {
    let run = netseg(&["generate", "--dialect", "antrea", &example("wordpress-flat")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value 'antrea' for '--dialect <DIALECT>'"), "{}", run.stderr);
    assert!(run.stderr.contains("[possible values: kubernetes, calico, cilium]"), "{}", run.stderr);
}

/// The public projects: every set either gets policies that keep its flows and read back under the CNI, or an
/// error naming the CNI that would not enforce them; never a cut the Kubernetes output does not have.
#[test]
fn realworld_sets_in_each_dialect_match_the_kubernetes_outcome() {
    let Some(realworld) = shared_set("realworld", "README.md") else { return };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&realworld)
        .expect("realworld")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    for set in sets {
        let set = set.display().to_string();
        let kubernetes = netseg(&["generate", &set]).code;
        for (dialect, _, _) in DIALECTS {
            let (run, _dir, path) = generated(dialect, &[&set]);
            if run.stderr.contains("netseg: error: --dialect") {
                assert_eq!(run.code, 2, "{dialect} {set}");
                continue;
            }
            assert_eq!(run.code, kubernetes, "{dialect} {set}: {}", run.stderr);
            if run.code == 0 {
                let read = netseg(&["audit", "--fail-on", "none", &set, &path]);
                assert_eq!(read.code, 0, "{dialect} {set}: {}", read.stderr);
            }
        }
    }
}
