//! Input errors are errors in every command, `audit` included (issue 12, failure 4): a path that cannot be read, an
//! empty directory, empty stdin, input with no Kubernetes object, and a Helm or Kustomize source to render first all
//! print `error[...]` on stderr and exit 2; input with objects but no workload says so in the summary.

use super::*;
use bad_input::GOOD;

/// Every command, with the arguments it needs besides the input.
const COMMANDS: &[&[&str]] = &[
    &["audit"],
    &["reach"],
    &["can", "--from", "a/client", "--to", "a/web", "--port", "80"],
    &["blast-radius", "--from", "a/client"],
    &["generate"],
];

fn run_all(input: &[&str], stdin: Option<&str>) -> Vec<(String, Run)> {
    COMMANDS
        .iter()
        .map(|command| {
            let mut args: Vec<&str> = command.to_vec();
            args.extend(input);
            let run = match stdin {
                Some(text) => netseg_stdin(&args, text),
                None => netseg(&args),
            };
            (command[0].to_string(), run)
        })
        .collect()
}

fn assert_error(runs: &[(String, Run)], code: &str, names: &str) {
    for (command, run) in runs {
        assert_eq!(run.code, 2, "{command}: exit 2 expected\n{}", run.stderr);
        let line = run.stderr.lines().find(|l| l.starts_with(&format!("error[{code}]"))).unwrap_or_else(|| {
            panic!("{command}: error[{code}] expected on stderr:\n{}", run.stderr);
        });
        assert!(line.contains(names), "{command}: the error names {names}: {line}");
    }
}

#[test]
fn a_wrong_path_is_an_error_in_every_command_not_a_finding() {
    let runs = run_all(&["/nope/x.yaml"], None);
    assert_error(&runs, "unreadable-file", "/nope/x.yaml");
    let audit = netseg(&["audit", "-o", "json", "--fail-on", "none", "/nope/x.yaml"]);
    assert_eq!(audit.code, 2, "--fail-on none does not hide an input error");
    assert!(!audit.stdout.contains("NS144"), "not a malformed policy: {}", audit.stdout);
}

#[test]
fn an_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let runs = run_all(&[&path], None);
    assert_error(&runs, "no-objects", &path);
    assert!(runs[0].1.stderr.contains("directory"), "{}", runs[0].1.stderr);
}

#[test]
fn empty_stdin_is_an_error() {
    assert_error(&run_all(&["-"], Some("")), "no-objects", "<stdin>");
}

#[test]
fn input_with_no_kubernetes_object_is_an_error() {
    let dir = tree(&[("notes.yaml", "title: not a manifest\nitems: [a, b]\n---\n- just\n- a list\n")]);
    let path = dir.path().join("notes.yaml").display().to_string();
    assert_error(&run_all(&[&path], None), "no-objects", &path);
}

#[test]
fn objects_but_no_workload_is_said_in_the_summary() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\nspec: {podSelector: {}}\n";
    let audit = netseg_stdin(&["audit", "-"], text);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert!(audit.stdout.contains("note: the input holds no workload"), "{}", audit.stdout);
    let report = json(&netseg_stdin(&["audit", "-o", "json", "-"], text).stdout);
    assert!(report["notes"][0].as_str().is_some_and(|n| n.contains("no workload")), "{report}");
}

#[test]
fn an_unrendered_helm_chart_is_recognised_and_the_message_says_to_render_it() {
    let chart = tree(&[
        ("chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n"),
        ("chart/values.yaml", "replicas: 1\n"),
        (
            "chart/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicas }}\n",
        ),
    ]);
    let dir = chart.path().join("chart").display().to_string();
    let runs = run_all(&[&dir], None);
    assert_error(&runs, "unrendered-template", "Chart.yaml");
    assert!(runs[0].1.stderr.contains(&format!("helm template RELEASE {dir}")), "{}", runs[0].1.stderr);
    // One template given on its own: its line, and the chart to render.
    let file = chart.path().join("chart/templates/deployment.yaml").display().to_string();
    let audit = netseg(&["audit", &file]);
    assert_eq!(audit.code, 2);
    assert!(audit.stderr.contains(&format!("error[unrendered-template]: {file}:4:")), "{}", audit.stderr);
    assert!(audit.stderr.contains("helm template"), "{}", audit.stderr);
}

#[test]
fn prometheus_template_text_inside_a_config_map_is_not_a_helm_template() {
    let text = format!(
        "{GOOD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: alerts, namespace: a}}\ndata:\n  rule: 'summary: {{{{ $labels.instance }}}} is down ({{{{ .Value }}}})'\n"
    );
    let audit = netseg_stdin(&["audit", "--fail-on", "none", "-"], &text);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert!(!audit.stderr.contains("unrendered"), "{}", audit.stderr);
}

#[test]
fn a_kustomize_overlay_is_recognised_and_the_message_says_to_build_it() {
    let overlay = tree(&[
        ("overlay/kustomization.yaml", "resources:\n- ../base\nnamespace: prod\npatches:\n- path: replicas.yaml\n"),
        (
            "overlay/replicas.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
        ),
    ]);
    let dir = overlay.path().join("overlay").display().to_string();
    let runs = run_all(&[&dir], None);
    assert_error(&runs, "unrendered-template", "kustomization.yaml");
    let stderr = &runs[0].1.stderr;
    assert!(stderr.contains(&format!("kustomize build {dir}")), "{stderr}");
    assert!(stderr.contains("`namespace`") && stderr.contains("resource `../base`"), "{stderr}");
}

#[test]
fn a_kustomize_component_that_only_lists_its_files_is_read_as_they_are() {
    // Online Boutique's network-policies component: `kind: Component` listing the policy files beside it.
    let set = tree(&[
        (
            "np/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- pods.yaml\n",
        ),
        ("np/pods.yaml", GOOD),
    ]);
    let dir = set.path().join("np").display().to_string();
    let audit = netseg(&["audit", "--fail-on", "none", &dir]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert!(!audit.stderr.contains("error["), "{}", audit.stderr);
    assert!(!audit.stdout.contains("NS144"), "{}", audit.stdout);
}

#[test]
fn audit_shows_duplicate_objects_like_every_other_command() {
    let text = format!("{GOOD}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-all, namespace: b}}\nspec: {{podSelector: {{}}, policyTypes: [Egress]}}\n");
    let audit = netseg_stdin(&["audit", "--fail-on", "none", "-"], &text);
    assert!(
        audit.stderr.contains(
            "warning[duplicate-object]: <stdin>:16: NetworkPolicy b/deny-all: defined again (first at <stdin>:11)"
        ),
        "{}",
        audit.stderr
    );
    let reach = netseg_stdin(&["reach", "-"], &text);
    assert!(reach.stderr.contains("warning[duplicate-object]"), "{}", reach.stderr);
}

#[test]
fn many_objects_with_no_namespace_are_noted_once() {
    let pods: String = (0..6)
        .map(|i| format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, labels: {{app: p{i}}}}}\n---\n"))
        .collect();
    let audit = netseg_stdin(&["audit", "--fail-on", "none", "-"], &pods);
    let notes: Vec<&str> = audit.stdout.lines().filter(|l| l.contains("name no namespace")).collect();
    assert_eq!(notes.len(), 1, "{}", audit.stdout);
    assert!(notes[0].contains("6 objects"), "{}", notes[0]);
    let with_namespace = netseg_stdin(&["audit", "--fail-on", "none", "-n", "shop", "-"], &pods);
    assert!(!with_namespace.stdout.contains("name no namespace"), "{}", with_namespace.stdout);
}
