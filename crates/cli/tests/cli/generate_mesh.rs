//! `generate --mesh istio|linkerd` on the real binary: the mesh objects follow the policies in one stream, read back
//! through netseg's loader, and `netseg can` on the input plus the output admits the declared flows and has the
//! mesh refuse an undeclared meshed caller; a caller outside the mesh is CUT with the mesh's reason.

use super::*;

/// Relative to the repository root, where the binary runs, so that the reasons' file names do not depend on the
/// checkout.
const ISTIO: &str = "crates/cli/tests/fixtures/mesh/generate-istio";
const ISTIO_OUTSIDER: &str = "crates/cli/tests/fixtures/mesh/generate-istio-outsider";
const LINKERD: &str = "crates/cli/tests/fixtures/mesh/generate-linkerd";

/// Runs `generate` and writes its stdout into a fresh directory as `generated.yaml`.
fn generate_into(args: &[&str]) -> (Run, tempfile::TempDir, String) {
    let run = netseg(args);
    let dir = tree(&[("generated.yaml", &run.stdout)]);
    let path = dir.path().join("generated.yaml").display().to_string();
    (run, dir, path)
}

fn can(from: &str, to: &str, port: &str, paths: &[&str]) -> Run {
    let mut args = vec!["can", "--from", from, "--to", to, "--port", port];
    args.extend(paths);
    netseg(&args)
}

#[test]
fn istio_declared_flows_pass_and_the_mesh_refuses_an_undeclared_caller() {
    let (run, _dir, generated) = generate_into(&["generate", "--mesh", "istio", ISTIO]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The loader reads the whole stream back without a word (a warning would be printed on stderr).
    let reach = netseg(&["reach", "-o", "json", ISTIO, &generated]);
    assert_eq!(reach.code, 0, "{}", reach.stderr);
    assert!(!reach.stderr.contains("warning") && !reach.stderr.contains("error"), "{}", reach.stderr);

    let declared = can("bookinfo/productpage", "bookinfo/reviews", "9080", &[ISTIO, &generated]);
    assert_eq!(declared.code, 0, "{}", declared.stdout);
    assert!(declared.stdout.contains("allowed by the ALLOW rule AuthorizationPolicy bookinfo/reviews-allow rule 0"));

    // The namespace's own NetworkPolicy admits ratings → reviews: the mesh is what refuses it, by the generated
    // policies, for the principal in the input's trust domain.
    let undeclared = can("bookinfo/ratings", "bookinfo/reviews", "9080", &[ISTIO, &generated]);
    assert_eq!(undeclared.code, 1, "{}", undeclared.stdout);
    assert!(undeclared.stdout.contains("ingress of bookinfo/reviews[Deployment]: allowed"), "{}", undeclared.stdout);
    assert!(undeclared.stdout.contains("(Istio sidecar: namespace label istio-injection=enabled): denied"));
    assert!(
        undeclared.stdout.contains("(bookinfo/allow-nothing, bookinfo/reviews-allow)")
            && undeclared.stdout.contains("bookinfo.example/ns/bookinfo/sa/bookinfo-ratings"),
        "{}",
        undeclared.stdout
    );
    // Without the generated objects the same caller passes: the output is what denies it.
    assert_eq!(can("bookinfo/ratings", "bookinfo/reviews", "9080", &[ISTIO]).code, 0);

    // The proof says the same, and advises STRICT mTLS.
    assert!(run.stderr.contains("MESH (Istio"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "✓ bookinfo/ratings[Deployment] → bookinfo/reviews[Deployment] TCP 9080: refused — AuthorizationPolicy bookinfo/allow-nothing"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("a PeerAuthentication with mtls.mode STRICT for bookinfo is advisable"));
}

#[test]
fn istio_policies_snapshot() {
    let run = netseg(&["generate", "--mesh", "istio", ISTIO]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("generate_mesh_istio_yaml", run.stdout);
    insta::assert_snapshot!("generate_mesh_istio_proof", run.stderr);
}

#[test]
fn linkerd_declared_flows_pass_and_servers_refuse_the_rest() {
    let (run, _dir, generated) = generate_into(&["generate", "--mesh", "linkerd", LINKERD]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reach = netseg(&["reach", "-o", "json", LINKERD, &generated]);
    assert_eq!(reach.code, 0, "{}", reach.stderr);
    assert!(!reach.stderr.contains("warning") && !reach.stderr.contains("error"), "{}", reach.stderr);

    let declared = can("emojivoto/web", "emojivoto/emoji", "8080", &[LINKERD, &generated]);
    assert_eq!(declared.code, 0, "{}", declared.stdout);
    assert!(declared.stdout.contains("AuthorizationPolicy emojivoto/emoji-8080"), "{}", declared.stdout);
    let bot = can("emojivoto/vote-bot", "emojivoto/web", "8080", &[LINKERD, &generated]);
    assert_eq!(bot.code, 0, "the default service account's identity: {}", bot.stdout);

    let undeclared = can("emojivoto/voting", "emojivoto/emoji", "8080", &[LINKERD, &generated]);
    assert_eq!(undeclared.code, 1, "{}", undeclared.stdout);
    assert!(undeclared.stdout.contains("ingress of emojivoto/emoji[Deployment]: allowed"), "{}", undeclared.stdout);
    assert!(undeclared.stdout.contains("Server emojivoto/emoji-8080"), "{}", undeclared.stdout);
    assert_eq!(can("emojivoto/voting", "emojivoto/emoji", "8080", &[LINKERD]).code, 0);
    // A port nobody declares gets a Server and no authorization: even the declared caller is refused there.
    let metrics = can("emojivoto/web", "emojivoto/emoji", "8801", &[LINKERD, &generated]);
    assert_eq!(metrics.code, 1, "{}", metrics.stdout);
    assert!(metrics.stdout.contains("Server emojivoto/emoji-8801"), "{}", metrics.stdout);

    assert!(run.stderr.contains("MESH (Linkerd"), "{}", run.stderr);
    assert!(
        run.stderr.contains("annotate the namespace with config.linkerd.io/default-inbound-policy: deny"),
        "{}",
        run.stderr
    );
}

#[test]
fn linkerd_objects_snapshot() {
    let run = netseg(&["generate", "--mesh", "linkerd", LINKERD]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("generate_mesh_linkerd_yaml", run.stdout);
}

/// Running it again on the input plus its output writes nothing: every flow is already authorized.
#[test]
fn a_second_run_writes_no_mesh_object() {
    for (mesh, input) in [("istio", ISTIO), ("linkerd", LINKERD)] {
        let (run, _dir, generated) = generate_into(&["generate", "--mesh", mesh, input]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let again = netseg(&["generate", "--mesh", mesh, input, &generated]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert!(!again.stdout.contains("kind:"), "{mesh}: {}", again.stdout);
        assert!(again.stderr.contains("and 0 "), "{mesh}: {}", again.stderr);
    }
}

#[test]
fn a_caller_outside_the_mesh_is_cut_with_the_reason() {
    let run = netseg(&["generate", "--mesh", "istio", ISTIO, ISTIO_OUTSIDER]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing is written: {}", run.stdout);
    assert!(run.stderr.contains("CUT (no policy was written"), "{}", run.stderr);
    assert!(
        run.stderr.contains("✗ tools/report[Deployment] → bookinfo/ratings[Deployment] TCP 9080"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("refused by the mesh: tools/report[Deployment] is outside the Istio mesh (no mesh injects it), so it has no identity"),
        "{}",
        run.stderr
    );

    // With --allow-cuts it is written: the policies, then the mesh section, in one stream for one `kubectl apply`.
    let (run, _dir, generated) = generate_into(&["generate", "--mesh", "istio", "--allow-cuts", ISTIO, ISTIO_OUTSIDER]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("CUT (intended: --allow-cuts"), "{}", run.stderr);
    let network = run.stdout.find("kind: NetworkPolicy").expect("the policies");
    let section = run.stdout.find("# Istio authorization (netseg generate --mesh istio)").expect("the mesh section");
    assert!(network < section, "{}", run.stdout);
    assert!(run.stdout[section..].starts_with("# Istio authorization"), "a comment opens the section");
    let cut = can("tools/report", "bookinfo/ratings", "9080", &[ISTIO, ISTIO_OUTSIDER, &generated]);
    assert_eq!(cut.code, 1, "{}", cut.stdout);
    assert!(cut.stdout.contains("a plaintext client, with no principal or namespace"), "{}", cut.stdout);
}

/// `--out DIR`: each namespace's file holds its policies and its mesh objects.
#[test]
fn out_dir_puts_the_mesh_objects_with_their_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().display().to_string();
    let run = netseg(&["generate", "--mesh", "istio", "--allow-cuts", "--out", &out, ISTIO, ISTIO_OUTSIDER]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("written");
    let bookinfo = read("bookinfo.yaml");
    assert!(bookinfo.contains("kind: AuthorizationPolicy") && bookinfo.contains("name: allow-nothing"));
    let tools = read("tools.yaml");
    assert!(tools.contains("kind: NetworkPolicy") && !tools.contains("AuthorizationPolicy"), "{tools}");
    let both =
        netseg(&["can", "--from", "bookinfo/reviews", "--to", "bookinfo/ratings", "--port", "9080", ISTIO, &out]);
    assert_eq!(both.code, 0, "{}", both.stdout);
}

#[test]
fn an_unknown_mesh_is_a_usage_error() {
    let run = netseg(&["generate", "--mesh", "consul", ISTIO]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("invalid value 'consul'"), "{}", run.stderr);
    assert!(run.stderr.contains("istio") && run.stderr.contains("linkerd"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// The structural half of "valid for Istio": every generated AuthorizationPolicy against Istio's CRD schema
/// (`@kubernetes-models/istio`, which `.ci/run` installs next to `kubernetes-models`).
#[test]
fn generated_authorization_policies_match_istios_crd_schema() {
    let Some(models) = std::env::var_os("NETSEG_K8S_MODELS") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_K8S_MODELS");
        eprintln!("NETSEG_K8S_MODELS not set: Istio schema validation skipped (.ci/run sets it)");
        return;
    };
    let run = netseg(&["generate", "--mesh", "istio", "--allow-cuts", ISTIO, ISTIO_OUTSIDER]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let check = |yaml: &str| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s/validate-istio.js");
        let mut child = Command::new("node")
            .arg(&script)
            .env("NETSEG_K8S_MODELS", &models)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node");
        child.stdin.take().expect("stdin").write_all(yaml.as_bytes()).expect("write");
        let output = child.wait_with_output().expect("wait");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (valid, report) = check(&run.stdout);
    assert!(valid && report.contains("checked 4, invalid 0"), "{report}");
    // The waypoint's targetRefs policies too.
    let app = small_app(WAYPOINT_NAMESPACE, "");
    let input = tree(&[("app.yaml", &app)]);
    let waypoint = netseg(&["generate", "--mesh", "istio", &input.path().display().to_string()]);
    assert_eq!(waypoint.code, 0, "{}", waypoint.stderr);
    let (valid, report) = check(&waypoint.stdout);
    assert!(valid && report.contains("checked 3, invalid 0"), "allow-nothing, b-allow, b-waypoint-allow: {report}");
    // The schema types ports as strings: the check must catch a number.
    let broken = run.stdout.replacen("ports: [\"9080\"]", "ports: [9080]", 1);
    let (valid, report) = check(&broken);
    assert!(!valid, "{report}");
}

/// A namespace where `a` calls `b` on 8080 (named in its env) and `c` calls nobody; its own NetworkPolicy admits
/// every pod, so the mesh is what tells them apart. `extra` is appended (more objects).
fn small_app(namespace_meta: &str, extra: &str) -> String {
    let deployment = |name: &str, env: &str| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  \
             selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    \
             spec:\n      serviceAccountName: {name}\n      containers:\n      - name: {name}\n        image: \
             example/{name}:1\n        ports: [{{containerPort: 8080}}]\n{env}"
        )
    };
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {namespace_meta}\n---\napiVersion: networking.k8s.io/v1\n\
         kind: NetworkPolicy\nmetadata: {{name: open, namespace: shop}}\nspec:\n  podSelector: {{}}\n  \
         policyTypes: [Ingress, Egress]\n  ingress: [{{from: [{{namespaceSelector: {{}}}}]}}]\n  egress: [{{to: \
         [{{namespaceSelector: {{}}}}]}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: b, namespace: \
         shop}}\nspec:\n  selector: {{app: b}}\n  ports: [{{name: http, port: 8080}}]\n{}{}{}{extra}",
        deployment("a", "        env: [{name: B_URL, value: \"http://b:8080\"}]\n"),
        deployment("b", ""),
        deployment("c", ""),
    )
}

/// Istio ambient without a waypoint: ztunnel enforces the L4 rules generate writes (principals and ports).
#[test]
fn istio_ambient_workloads_get_the_same_policies() {
    let app = small_app("{name: shop, labels: {istio.io/dataplane-mode: ambient}}", "");
    let input = tree(&[("app.yaml", &app)]);
    let input = input.path().display().to_string();
    let (run, _dir, generated) = generate_into(&["generate", "--mesh", "istio", &input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("principals: [\"cluster.local/ns/shop/sa/a\"]"), "{}", run.stdout);
    assert_eq!(can("shop/a", "shop/b", "8080", &[&input, &generated]).code, 0);
    let undeclared = can("shop/c", "shop/b", "8080", &[&input, &generated]);
    assert_eq!(undeclared.code, 1, "{}", undeclared.stdout);
    assert!(undeclared.stdout.contains("Istio ambient"), "{}", undeclared.stdout);
}

/// Under PeerAuthentication DISABLE no caller presents a principal: the declared flow is CUT, and says why.
#[test]
fn istio_mtls_disabled_cuts_the_declared_flow() {
    let disable = "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: plain, \
                   namespace: shop}\nspec:\n  mtls: {mode: DISABLE}\n";
    let app = small_app("{name: shop, labels: {istio-injection: enabled}}", disable);
    let input = tree(&[("app.yaml", &app)]);
    let run = netseg(&["generate", "--mesh", "istio", &input.path().display().to_string()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("✗ shop/a[Deployment] → shop/b[Deployment] TCP 8080"), "{}", run.stderr);
    assert!(run.stderr.contains("a plaintext client, with no principal or namespace"), "{}", run.stderr);
    assert!(run.stderr.contains("mTLS in Istio namespace shop is DISABLE"), "{}", run.stderr);
}

/// The root namespace is never given an allow-nothing: there it would apply to every namespace of the mesh.
#[test]
fn istio_root_namespace_is_left_alone() {
    let app = small_app("{name: shop, labels: {istio-injection: enabled}}", "").replace("shop", "istio-system");
    let input = tree(&[("app.yaml", &app)]);
    let run = netseg(&["generate", "--mesh", "istio", &input.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("AuthorizationPolicy"), "{}", run.stdout);
    assert!(run.stderr.contains("Istio namespace istio-system is left as it is: it is Istio's root namespace"));
}

/// A Linkerd port that already has a Server in the input keeps it: no second Server on it (Linkerd's webhook
/// refuses overlapping Servers), and the report names the existing one.
#[test]
fn linkerd_existing_server_is_left_to_the_input() {
    let server = "---\napiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: b-http, namespace: \
                  shop}\nspec:\n  podSelector: {matchLabels: {app: b}}\n  port: 8080\n---\napiVersion: \
                  policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: b-any, namespace: shop}\n\
                  spec:\n  targetRef: {group: policy.linkerd.io, kind: Server, name: b-http}\n  \
                  requiredAuthenticationRefs: []\n";
    let app = small_app("{name: shop, annotations: {linkerd.io/inject: enabled}}", server);
    let input = tree(&[("app.yaml", &app)]);
    let run = netseg(&["generate", "--mesh", "linkerd", &input.path().display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("name: b-8080"), "{}", run.stdout);
    assert!(run.stdout.contains("name: a-8080") && run.stdout.contains("name: c-8080"), "{}", run.stdout);
    assert!(
        run.stderr.contains("shop/b[Deployment] port 8080 already has Linkerd Server shop/b-http"),
        "{}",
        run.stderr
    );
    // The input's own authorization admits every client, and the proof says so rather than claiming a refusal.
    assert!(
        run.stderr.contains("! shop/c[Deployment] → shop/b[Deployment] TCP 8080: still admitted by"),
        "{}",
        run.stderr
    );
}

const WAYPOINT_NAMESPACE: &str =
    "{name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}";

/// Istio ambient behind a waypoint: the callers are named in a policy attached to the destination's Service (the
/// waypoint enforces it), and the pod's ztunnel admits the waypoint's identity and the callers' direct connections.
#[test]
fn istio_ambient_waypoint_gets_a_service_attached_policy() {
    let app = small_app(WAYPOINT_NAMESPACE, "");
    let input = tree(&[("app.yaml", &app)]);
    let input = input.path().display().to_string();
    let (run, _dir, generated) = generate_into(&["generate", "--mesh", "istio", &input]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let waypoint_policy = run.stdout.find("name: b-waypoint-allow").expect("the waypoint's policy");
    assert!(run.stdout[waypoint_policy..].contains("targetRefs:\n  - {group: \"\", kind: Service, name: b}"));
    assert!(
        run.stdout.contains(r#"principals: ["cluster.local/ns/shop/sa/a", "cluster.local/ns/shop/sa/waypoint"]"#),
        "the pod's ztunnel admits the waypoint: {}",
        run.stdout
    );
    assert_eq!(can("shop/a", "shop/b", "8080", &[&input, &generated]).code, 0);
    let undeclared = can("shop/c", "shop/b", "8080", &[&input, &generated]);
    assert_eq!(undeclared.code, 1, "{}", undeclared.stdout);
    assert!(
        undeclared.stdout.contains(
            "through the waypoint shop/waypoint: ALLOW policies apply to the workload (shop/b-waypoint-allow)"
        ) && undeclared.stdout.contains("to the pod's address directly"),
        "{}",
        undeclared.stdout
    );
}
