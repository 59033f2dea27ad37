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
use crate::input::Loaded;
use crate::settings::Settings;
use anyhow::{anyhow, Context, Result};
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

/// Frees `value` on a thread of its own: a cluster of 150,000 pods takes a quarter of a second to free, which the
/// answer need not wait for (the process may end before it is done; the memory goes back either way).
fn drop_aside<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new().name("drop".into()).spawn(move || drop(value));
    // Without a thread (the system refused one), the value was dropped with the closure, here.
    drop(spawned);
}

/// What `--cni` and `--assume-enforced` say about the network.
fn network_choice(args: &NetworkArgs) -> NetworkChoice {
    use crate::args::{IntentionArg, PolicyEnforcementArg};
    use netseg_engine::MeshChoice;
    use netseg_model::mesh::consul::IntentionAction;
    use netseg_model::PolicyEnforcement;
    NetworkChoice {
        cni: args.cni.clone(),
        assume_enforced: args.assume_enforced,
        cilium_enforcement: args.policy_enforcement.map(|mode| match mode {
            PolicyEnforcementArg::Default => PolicyEnforcement::Default,
            PolicyEnforcementArg::Always => PolicyEnforcement::Always,
            PolicyEnforcementArg::Never => PolicyEnforcement::Never,
        }),
        mesh: MeshChoice {
            trust_domain: args.trust_domain.clone(),
            consul_default_intention: args.consul_default_intention.map(|action| match action {
                IntentionArg::Allow => IntentionAction::Allow,
                IntentionArg::Deny => IntentionAction::Deny,
            }),
        },
    }
}

/// A loaded cluster with the mesh settings of `--trust-domain` and `--consul-default-intention` laid over its own.
fn with_mesh_settings(mut loaded: Loaded, args: &NetworkArgs) -> Loaded {
    network_choice(args).mesh.apply(&mut loaded.cluster);
    loaded
}

/// The facts `--api-server` and `--node-cidr` give (an address or a CIDR each).
fn audit_options(facts: &FactArgs) -> Result<AuditOptions> {
    Ok(AuditOptions {
        api_server: cidrs(&facts.api_server, "api-server")?,
        node_cidrs: cidrs(&facts.node_cidr, "node-cidr")?,
        intent: netseg_audit::Intent::default(),
        judge_allowances: false,
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

/// The observed flows of `--flows FILE` (repeatable, `-` for stdin), resolved against `cluster`. Bad rows are
/// printed as errors naming file, line and column (the rest is still used); the flag says whether there were any.
fn read_flows(
    cluster: &netseg_model::Cluster,
    paths: &[std::path::PathBuf],
    inputs: &[String],
) -> Result<(Vec<netseg_fix::flows::ObservedFlow>, bool)> {
    if paths.iter().any(|p| p.as_os_str() == "-") && inputs.iter().any(|p| p == "-") {
        return Err(anyhow!("--flows - and a manifest path - cannot both read stdin"));
    }
    let mut flows = Vec::new();
    let mut had_errors = false;
    for path in paths {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("--flows -: cannot read stdin")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("--flows {}", path.display()))?
        };
        let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
        let (read, problems) = netseg_fix::flows::read(cluster, &name, &text);
        for problem in &problems {
            eprintln!("{}: {problem}", if problem.error { "error" } else { "warning" });
            had_errors |= problem.error;
        }
        flows.extend(read);
    }
    Ok((flows, had_errors))
}
