//! The `netseg` binary: parses the arguments, resolves the settings, runs the command, maps the outcome to an exit
//! status. Each command lives in `commands/`; the helpers they share (loading, diagnostics, output, exit
//! statuses, settings, timings) in one module each.

mod args;
mod commands;
mod diagnostics;
mod exit;
mod input;
mod output;
mod settings;
mod timings;

use args::Cli;
use clap::Parser;
use settings::Settings;
use std::process::ExitCode;

/// The system allocator spends a third of a large load in malloc and free; mimalloc's thread-local pages do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_from(args_os());
    timings::start();
    let settings = Settings::resolve(&cli);
    let result = commands::run(&cli, &settings);
    if cli.timings {
        eprintln!("{}", timings::line());
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if exit::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("netseg: error: {error:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// The arguments, with the program named as kubectl shows it when netseg runs as the plugin `kubectl-netseg`
/// (kubectl finds `kubectl-netseg` on PATH and runs it for `kubectl netseg ...`).
fn args_os() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args.first().map(std::path::Path::new).and_then(|p| p.file_stem()).map(|s| s.to_os_string());
    if let (Some(first), Some(stem)) = (args.first_mut(), invoked_as) {
        if stem == "kubectl-netseg" {
            *first = "kubectl netseg".into();
        } else {
            *first = "netseg".into();
        }
    }
    args
}
