//! The `netseg` binary: parses arguments, loads the inputs, asks the engine, renders. Nothing else.

mod args;

use anyhow::Result;
use args::{CanFormat, Cli, ColorChoice, Command, ReachFormat};
use clap::Parser;
use netseg_engine::query::{self, PortQuery};
use netseg_engine::{Analysis, ReachConnection};
use netseg_model::{Cluster, Diagnostic, Input, Severity};
use netseg_render::Style;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit statuses shared by every command.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("netseg: error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn style(choice: ColorChoice) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Style { color }
}

/// Loads the inputs and reports their diagnostics on stderr; returns whether any object was left out.
fn load(cli: &Cli, paths: &[String]) -> (Cluster, bool) {
    let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
    let (cluster, diagnostics) = netseg_model::load_cluster(&inputs, cli.namespace.as_deref());
    report(&diagnostics, cli.verbose);
    (cluster, diagnostics.iter().any(|d| d.severity == Severity::Error))
}

fn report(diagnostics: &[Diagnostic], verbose: bool) {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in diagnostics {
        if diagnostic.severity != Severity::Note || verbose {
            let _ = writeln!(stderr, "{diagnostic}");
        }
    }
}

fn write_out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn run(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Command::Reach(args) => {
            let (cluster, had_errors) = load(cli, &args.paths);
            let analysis = Analysis::new(&cluster);
            let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
            let from = args.from.as_deref().map(|f| query::resolve(&cluster, f)).transpose()?;
            let to = args.to.as_deref().map(|t| query::resolve(&cluster, t)).transpose()?;
            let mut reach = analysis.reach();
            let wanted = query.ports();
            let endpoints = &reach.endpoints;
            reach.connections = reach
                .connections
                .into_iter()
                .filter(|c| from.as_ref().is_none_or(|f| query::endpoint_matches(&endpoints[c.src], f)))
                .filter(|c| to.as_ref().is_none_or(|t| query::endpoint_matches(&endpoints[c.dst], t)))
                .filter_map(|c| {
                    let allowed = c.allowed.intersection(&wanted);
                    (!allowed.is_empty()).then_some(ReachConnection { allowed, ..c })
                })
                .collect();
            let rendered = match args.output {
                ReachFormat::Text => netseg_render::reach::text(&cluster, &reach, style(cli.color)),
                ReachFormat::Json => netseg_render::json_text(&netseg_render::reach::json(&cluster, &reach)),
                ReachFormat::Csv => netseg_render::reach::csv(&cluster, &reach),
                ReachFormat::Md => netseg_render::reach::markdown(&cluster, &reach),
                ReachFormat::Dot => netseg_render::reach::dot(&cluster, &reach),
            };
            write_out(&rendered)?;
            Ok(if had_errors { EXIT_ERROR } else { 0 })
        }
        Command::Can(args) => {
            let (cluster, had_errors) = load(cli, &args.paths);
            let analysis = Analysis::new(&cluster);
            let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
            let from = query::resolve(&cluster, &args.from)?;
            let to = query::resolve(&cluster, &args.to)?;
            let verdict = query::verdict(&analysis, from, to, query);
            let rendered = match args.output {
                CanFormat::Text => netseg_render::can::text(&cluster, &verdict, style(cli.color)),
                CanFormat::Json => netseg_render::json_text(&netseg_render::can::json(&cluster, &verdict)),
            };
            write_out(&rendered)?;
            Ok(if had_errors {
                EXIT_ERROR
            } else if verdict.allowed() {
                0
            } else {
                1
            })
        }
    }
}
