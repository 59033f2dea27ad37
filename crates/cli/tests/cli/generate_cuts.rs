//! `generate` and the flows the input allows (issue #12, item 2): the flows the input's own policies name are
//! declared and kept, and a run that would deny what the input allows and the application needs (a declared flow,
//! DNS, every client of a Service) writes nothing and exits 2 unless `--allow-cuts` says the cut is intended.

use super::*;

/// Runs `generate` and writes its YAML to `generated.yaml` in a fresh directory.
fn generated(args: &[&str]) -> (Run, tempfile::TempDir) {
    let run = netseg(&[&["generate"], args].concat());
    let dir = tree(&[("generated.yaml", run.stdout.as_str())]);
    (run, dir)
}

fn can(paths: &[&str], from: &str, to: &str, port: &str) -> i32 {
    netseg(&[&["can", "--from", from, "--to", to, "--port", port], paths].concat()).code
}

/// The line of `needle` (1-based) in `file`.
fn line_of(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).expect("fixture");
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("needle")
}

/// Sock Shop's ingress policies admit front-end on catalogue:80, orders on payment, orders-db and rabbitmq, and
/// queue-master on rabbitmq; no env names a Service. generate used to add an egress default-deny that cut them all,
/// list them under CLOSED and exit 0.
#[test]
fn sock_shop_flows_its_own_policies_admit_are_kept_not_closed() {
    let input = fixture("policy-declared");
    let (run, dir) = generated(&[&input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = format!("{input}/sock-shop.yaml");
    let front_end_peer = line_of(&file, "name: catalogue-access") + 8;
    assert!(
        run.stderr.contains(&format!(
            "  ✓ sock-shop/front-end[Deployment] → sock-shop/catalogue[Deployment] TCP 80: NetworkPolicy \
             sock-shop/catalogue-access ingress[0] admits pods name=front-end ({file}:{front_end_peer})"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("CUT"), "{}", run.stderr);
    let generated = dir.path().join("generated.yaml").display().to_string();
    assert!(run.stdout.contains("name: front-end-egress"), "{}", run.stdout);
    let both = [input.as_str(), generated.as_str()];
    for (from, to, port) in [
        ("sock-shop/front-end", "sock-shop/catalogue", "80"),
        ("sock-shop/catalogue", "sock-shop/catalogue-db", "3306"),
        ("sock-shop/front-end", "sock-shop/orders", "80"),
        ("sock-shop/orders", "sock-shop/payment", "80"),
        ("sock-shop/orders", "sock-shop/orders-db", "27017"),
        ("sock-shop/orders", "sock-shop/rabbitmq", "5672"),
        ("sock-shop/queue-master", "sock-shop/rabbitmq", "5672"),
    ] {
        assert_eq!(can(&both, from, to, port), 0, "{from} → {to}:{port} is admitted by the input's own policy");
    }
    // What no policy names stays closed.
    assert_eq!(can(&both, "sock-shop/front-end", "sock-shop/orders-db", "27017"), 1);
    assert_eq!(can(&both, "sock-shop/catalogue", "sock-shop/rabbitmq", "5672"), 1);
}

/// Argo CD (`-n argocd`): its ingress policies admit the application controller on argocd-redis 6379 and
/// repo-server 8081; generate used to cut both.
#[test]
fn argocd_components_keep_the_flows_its_policies_name() {
    let Some(root) = super::shared_set("realworld/argo-cd", "install.yaml") else { return };
    let input = root.display().to_string();
    let (run, dir) = generated(&["-n", "argocd", &input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generated = dir.path().join("generated.yaml").display().to_string();
    let both = ["-n", "argocd", input.as_str(), generated.as_str()];
    for (to, port) in [("argocd-redis", "6379"), ("argocd-repo-server", "8081")] {
        assert!(
            run.stderr.contains(&format!(
                "✓ argocd/argocd-application-controller[StatefulSet] → argocd/{to}[Deployment] TCP {port}: NetworkPolicy"
            )),
            "{}",
            run.stderr
        );
        assert_eq!(can(&both, "argocd/argocd-application-controller", &format!("argocd/{to}"), port), 0);
    }
}

/// Guestbook's frontend finds redis-master by a name compiled into its code: nothing in the input says who calls
/// the Redis Services, so a default-deny would leave them no client. That is a cut, not a closure.
#[test]
fn guestbook_services_that_would_lose_every_client_are_cut() {
    let Some(root) = super::shared_set("realworld/guestbook", "frontend-deployment.yaml") else { return };
    let input = root.display().to_string();
    let run = netseg(&["generate", &input]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stdout, "", "nothing is written");
    assert!(run.stderr.contains("CUT (no policy was written"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "  ✗ every client → Service default/redis-master ({input}/redis-master-service.yaml:1): \
             default/redis-master[Deployment] TCP 6379; nothing in the input says who calls it"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-cuts"), "{}", run.stderr);

    // Declared as flows, the Services keep their client and the run succeeds.
    let flows = tree(&[(
        "flows.csv",
        "default,frontend,default,redis-master,6379,TCP\ndefault,frontend,default,redis-replica,6379,TCP\n",
    )]);
    let csv = flows.path().join("flows.csv").display().to_string();
    let (declared, dir) = generated(&["--flows", &csv, &input]);
    assert_eq!(declared.code, 0, "{}", declared.stderr);
    let generated = dir.path().join("generated.yaml").display().to_string();
    assert_eq!(can(&[&input, &generated], "default/frontend", "default/redis-master", "6379"), 0);

    // Intended: written, and the cut is still listed.
    let intended = netseg(&["generate", "--allow-cuts", &input]);
    assert_eq!(intended.code, 0, "{}", intended.stderr);
    assert!(intended.stdout.contains("name: default-deny"), "{}", intended.stdout);
    assert!(intended.stderr.contains("CUT (intended: --allow-cuts"), "{}", intended.stderr);
    assert!(intended.stderr.contains("Service default/redis-master"), "{}", intended.stderr);
}

/// The same without the shared data: a Service nobody names, in a namespace with no policy.
#[test]
fn a_service_nothing_names_is_a_cut_unless_allowed() {
    let dir = tree(&[(
        "app.yaml",
        concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: app}\n",
            "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n",
            "    spec:\n      containers: [{name: web, image: example/web}]\n---\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cache, namespace: app}\n",
            "spec:\n  selector: {matchLabels: {app: cache}}\n  template:\n    metadata: {labels: {app: cache}}\n",
            "    spec:\n      containers: [{name: cache, image: example/cache, ports: [{containerPort: 6379}]}]\n---\n",
            "apiVersion: v1\nkind: Service\nmetadata: {name: cache, namespace: app}\n",
            "spec: {selector: {app: cache}, ports: [{port: 6379}]}\n",
        ),
    )]);
    let input = dir.path().display().to_string();
    let run = netseg(&["generate", &input]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("✗ every client → Service app/cache ("), "{}", run.stderr);
    assert_eq!(netseg(&["generate", "--allow-cuts", &input]).code, 0);
}

/// Online Boutique: `egress: [{}]` in every policy keeps the egress findings open whatever is added; the proof
/// names the rules and what to change. A command naming `frontend` three times is one KEPT line.
#[test]
fn online_boutique_names_the_rules_that_keep_findings_open_and_prints_each_flow_once() {
    let Some(root) = super::shared_set("realworld/online-boutique", "kubernetes-manifests.yaml") else { return };
    let input = root.display().to_string();
    let run = netseg(&["generate", &input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("STILL OPEN (existing rules admit every peer"), "{}", run.stderr);
    assert!(
        run.stderr.contains("  ! default/frontend[Deployment]: NS120, NS121, NS123, NS124 stay open\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "    egress[0] of NetworkPolicy default/frontend ({input}/network-policies/network-policy-frontend.yaml:"
        )),
        "{}",
        run.stderr
    );
    let mut lines: Vec<&str> = run.stderr.lines().filter(|l| l.trim_start().starts_with('✓')).collect();
    let all = lines.len();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), all, "a KEPT line is printed once:\n{}", run.stderr);
    assert!(run.stderr.contains("command[2] names frontend"), "{}", run.stderr);
}
