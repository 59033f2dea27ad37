//! `netseg completions SHELL`: the completion script, generated from the one clap definition of every flag.

use crate::args::{Cli, CompletionsArgs};
use crate::exit;
use crate::output::write_out;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> Result<u8> {
    let mut script = Vec::new();
    // Always for `netseg`: the shells complete the program by the name it is installed under, and kubectl
    // completes its plugins itself.
    clap_complete::generate(args.shell, &mut Cli::command(), "netseg", &mut script);
    write_out(&String::from_utf8_lossy(&script))?;
    Ok(exit::PASS)
}
