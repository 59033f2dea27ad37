//! The `check:` line under a finding is a command that confirms it when pasted into a shell (issue 12, failure 5):
//! it names the input the user gave, quoted for the shell. Every printed line of the examples' audits is run.

use super::*;

/// Runs every `check:` command the text audit of `args` prints, through `sh -c` as a user pasting it would; each
/// must say the connection is allowed (exit 0). Returns how many ran.
fn run_every_check(args: &[&str]) -> usize {
    let mut audit_args = vec!["audit", "--fail-on", "none"];
    audit_args.extend(args);
    let audit = netseg(&audit_args);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let binary = env!("CARGO_BIN_EXE_netseg");
    let mut ran = 0;
    for line in audit.stdout.lines().filter_map(|l| l.trim().strip_prefix("check: ")) {
        let command = line.strip_prefix("netseg ").unwrap_or_else(|| panic!("not a netseg command: {line}"));
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("'{binary}' {command}"))
            .current_dir(repo_root())
            .env("NO_COLOR", "1")
            .output()
            .expect("run sh");
        let run = finish(output);
        assert_eq!(run.code, 0, "`{line}` does not confirm the finding:\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("ALLOWED"), "`{line}`:\n{}", run.stdout);
        ran += 1;
    }
    ran
}

#[test]
fn every_check_line_of_the_examples_confirms_its_finding() {
    let mut total = 0;
    for name in ["wordpress-flat", "wordpress-segmented", "tenant-isolation", "host-network", "flannel-cluster"] {
        total += run_every_check(&[&example(name)]);
    }
    assert!(total >= 10, "the examples print check lines: {total}");
}

#[test]
fn check_lines_repeat_the_namespace_flag_and_quote_paths_with_spaces() {
    let dir = tree(&[(
        "my manifests/app.yaml",
        "kind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}\n",
    )]);
    let path = dir.path().join("my manifests").display().to_string();
    let audit = netseg(&["audit", "--fail-on", "none", "-n", "shop", &path]);
    let check = audit.stdout.lines().find_map(|l| l.trim().strip_prefix("check: ")).expect("a check line");
    assert!(check.ends_with(&format!("-n shop '{path}'")), "{check}");
    assert!(run_every_check(&["-n", "shop", &path]) >= 1);
    let report = json(&netseg(&["audit", "-o", "json", "--fail-on", "none", "-n", "shop", &path]).stdout);
    let witness =
        report["findings"].as_array().expect("findings").iter().find_map(|f| f["witness"].as_object()).cloned();
    let command = witness.and_then(|w| w["command"].as_str().map(str::to_string)).expect("witness command in JSON");
    assert!(command.contains(&format!("'{path}'")), "{command}");
}
