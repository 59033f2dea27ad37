//! One module per command, in the order `netseg --help` lists them. Each takes the resolved [`Settings`] and its
//! own arguments, and returns the exit status (see [`crate::exit`]).

mod audit;
mod blast_radius;
mod can;
mod completions;
mod diff;
mod generate;
mod man;
mod reach;

use crate::args::{Cli, Command, FactArgs, NetworkArgs};
use crate::settings::Settings;
use anyhow::{Context, Result};
use netseg_audit::AuditOptions;
use netseg_engine::NetworkChoice;
use netseg_model::Cidr;

pub fn run(cli: &Cli, settings: &Settings) -> Result<u8> {
    match &cli.command {
        Command::Audit(args) => audit::run(settings, args),
        Command::Reach(args) => reach::run(settings, args),
        Command::Can(args) => can::run(settings, args),
        Command::BlastRadius(args) => blast_radius::run(settings, args),
        Command::Generate(args) => generate::run(settings, args),
        Command::Diff(args) => diff::run(settings, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// What `--cni` and `--assume-enforced` say about the network.
fn network_choice(args: &NetworkArgs) -> NetworkChoice {
    NetworkChoice { cni: args.cni.clone(), assume_enforced: args.assume_enforced }
}

/// The facts `--api-server` and `--node-cidr` give (an address or a CIDR each).
fn audit_options(facts: &FactArgs) -> Result<AuditOptions> {
    Ok(AuditOptions {
        api_server: cidrs(&facts.api_server, "api-server")?,
        node_cidrs: cidrs(&facts.node_cidr, "node-cidr")?,
    })
}

fn cidrs(texts: &[String], flag: &str) -> Result<Vec<Cidr>> {
    texts.iter().map(|text| Cidr::parse_address_or_block(text).with_context(|| format!("--{flag}"))).collect()
}

/// The network notes every command shows on stderr before its answer (`can` puts them in its answer instead).
fn show_notes(notes: &[String]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}
