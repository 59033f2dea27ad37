//! Shell completions and the man page, generated from the one clap definition: each script loads in its real shell
//! and completes a subcommand; the page renders in groff and man without a warning.

use super::{finish, netseg};
use std::path::PathBuf;
use std::process::Command;

/// A program from the Debian packages `.ci/run` installs; missing is a failure under NETSEG_REQUIRE_SHELLS=1
/// (CI), a skip elsewhere.
fn program(name: &str, package: &str) -> Option<PathBuf> {
    let found =
        ["/usr/bin", "/bin", "/usr/local/bin"].iter().map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var("NETSEG_REQUIRE_SHELLS").is_ok_and(|v| v == "1");
        assert!(!required, "NETSEG_REQUIRE_SHELLS=1 but no {name} (apt-get install {package})");
        eprintln!("skipped: no {name} (apt-get install {package})");
    }
    found
}

/// The script for `shell`, written to a file the shell sources.
fn script(shell: &str) -> (tempfile::TempDir, PathBuf) {
    let run = netseg(&["completions", shell]);
    assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("netseg.{shell}"));
    std::fs::write(&path, &run.stdout).expect("write the script");
    (dir, path)
}

/// Runs `program -c code` with `netseg-test` and the script's path as arguments (`$0` and `$1` in bash and zsh);
/// returns stdout, failing on any stderr or status.
fn shell_run(program: &PathBuf, args: &[&str], code: &str, script: &PathBuf) -> String {
    let run = finish(
        Command::new(program)
            .args(args)
            .arg("-c")
            .arg(code)
            .arg("netseg-test")
            .arg(script)
            .env("HOME", script.parent().expect("the script's dir"))
            .output()
            .expect("run the shell"),
    );
    assert!(run.code == 0 && run.stderr.is_empty(), "{}: status {}\n{}", program.display(), run.code, run.stderr);
    run.stdout
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = netseg(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for command in ["audit", "reach", "can", "blast-radius", "generate", "diff", "completions", "man"] {
            assert!(run.stdout.contains(command), "{shell}: no {command}");
        }
        // fish names long flags `-l assume-enforced`; the others spell them out.
        for flag in ["assume-enforced", "method"] {
            assert!(
                run.stdout.contains(&format!("--{flag}")) || run.stdout.contains(&format!("-l {flag}")),
                "{shell}: {flag}"
            );
        }
    }
    assert!(netseg(&["completions", "powershell"])
        .stdout
        .contains("Register-ArgumentCompleter -Native -CommandName 'netseg'"));
    let unknown = netseg(&["completions", "tcsh"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("invalid value 'tcsh'"), "{}", unknown.stderr);
}

#[test]
fn bash_loads_the_script_and_completes_a_command_and_a_flag() {
    let Some(bash) = program("bash", "bash") else { return };
    let (_dir, path) = script("bash");
    // What bash does on TAB: COMP_WORDS and COMP_CWORD set, the function called with the command, the word and
    // the previous word.
    let complete = |words: &str| {
        let code = format!(
            "source \"$1\" && complete -p netseg && COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) \
             && _netseg netseg \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" \
             && printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        shell_run(&bash, &["--norc", "--noprofile"], &code, &path)
    };
    let commands = complete("netseg bl");
    assert!(commands.starts_with("complete -o bashdefault -o default -o nosort -F _netseg netseg\n"), "{commands}");
    assert!(commands.lines().skip(1).eq(["blast-radius"]), "{commands}");
    let flags = complete("netseg can --me");
    assert!(flags.lines().skip(1).eq(["--method"]), "{flags}");
}

#[test]
fn zsh_loads_the_script_registers_it_and_lists_the_commands() {
    let Some(zsh) = program("zsh", "zsh") else { return };
    let (_dir, path) = script("zsh");
    // zsh completes only inside its line editor; outside it, `_describe` (what the script hands the command list
    // to) is replaced by one that prints the list, and the registration is read from compinit's table.
    let code = "autoload -Uz compinit && compinit -u -D && source \"$1\" && print -r -- \"netseg:$_comps[netseg]\" \
                && _describe() { print -rl -- \"${(@P)4}\" } && _netseg_commands";
    let out = shell_run(&zsh, &["-f"], code, &path);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("netseg:_netseg"), "{out}");
    let commands: Vec<&str> = lines.filter_map(|l| l.split_once(':')).map(|(name, _)| name).collect();
    assert_eq!(
        commands,
        ["audit", "reach", "can", "blast-radius", "generate", "diff", "completions", "man", "help"],
        "{out}"
    );
}

#[test]
fn fish_loads_the_script_and_completes_a_command_and_a_flag() {
    let Some(fish) = program("fish", "fish") else { return };
    let (_dir, path) = script("fish");
    // `fish -c CODE A B` gives the arguments as $argv: the script is the second.
    let code = "source $argv[2]; and complete -C 'netseg bl'; and complete -C 'netseg can --me'";
    let out = shell_run(&fish, &["--no-config"], code, &path);
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap_or_default()).collect();
    assert_eq!(names, ["blast-radius", "--method"], "{out}");
}

#[test]
fn the_man_page_renders_in_groff_and_man_without_a_warning() {
    let run = netseg(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq") && run.stdout.contains(".TH netseg 1"), "not roff");
    assert!(run.stdout.is_ascii(), "non-ASCII reaches groff as an invalid character without preconv");
    for command in ["audit", "reach", "can", "blast\\-radius", "generate", "diff", "completions", "man"] {
        assert!(run.stdout.contains(&format!("netseg\\-{command}(1)")), "no {command} in SUBCOMMANDS");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("netseg.1");
    std::fs::write(&page, &run.stdout).expect("write the page");
    if let Some(groff) = program("groff", "groff-base") {
        let rendered =
            finish(Command::new(groff).args(["-man", "-Tutf8", "-ww", "-z"]).arg(&page).output().expect("run groff"));
        assert!(rendered.code == 0 && rendered.stderr.is_empty(), "groff: {}", rendered.stderr);
    }
    if let Some(man) = program("man", "man-db") {
        let rendered = finish(
            Command::new(man)
                .args(["--warnings", "-l"])
                .arg(&page)
                .env("MANWIDTH", "100")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .output()
                .expect("run man"),
        );
        assert!(rendered.code == 0 && rendered.stderr.is_empty(), "man: {}", rendered.stderr);
        assert!(rendered.stdout.contains("netseg - Finds, explains, proves and fixes"), "{}", rendered.stdout);
    }

    let out = dir.path().join("pages");
    let written = netseg(&["man", "--out", &out.display().to_string()]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .expect("pages")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "netseg-audit.1",
            "netseg-blast-radius.1",
            "netseg-can.1",
            "netseg-completions.1",
            "netseg-diff.1",
            "netseg-generate.1",
            "netseg-man.1",
            "netseg-reach.1",
            "netseg.1"
        ]
    );
    let can = std::fs::read_to_string(out.join("netseg-can.1")).expect("can page");
    assert!(can.contains("\\-\\-method") && can.is_ascii(), "the can page lists its flags");
}
