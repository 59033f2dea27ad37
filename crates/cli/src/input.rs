//! Loading what a command analyses: files, directories and stdin, or each live cluster with files laid over it;
//! and the configuration file.

use crate::args::InputArgs;
use crate::settings::Settings;
use crate::timings::phase;
use anyhow::{anyhow, Result};
use netseg_audit::Config;
use netseg_live::TargetRequest;
use netseg_model::{Cluster, Diagnostic, Input, Inventory};

/// One cluster's objects, from files, a live cluster, or a live cluster with files laid over it.
pub struct Loaded {
    /// The kubeconfig context, for a live cluster.
    pub context: Option<String>,
    pub cluster: Cluster,
    pub diagnostics: Vec<Diagnostic>,
    /// What a live cluster would not let netseg read, and what the answers miss because of it.
    pub unseen: Vec<String>,
}

/// Files, directories and stdin only.
pub fn load_files(settings: &Settings, paths: &[String]) -> (Cluster, Vec<Diagnostic>) {
    let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
    let mut inventory = netseg_model::load_with(&inputs, settings.namespace.as_deref(), settings.limits);
    phase("parse");
    let diagnostics = std::mem::take(&mut inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    phase("model");
    (cluster, diagnostics)
}

/// Every cluster the input names: the files, or each `--context` of a live read (files laid over each).
pub fn load(settings: &Settings, input: &InputArgs) -> Result<Vec<Loaded>> {
    let inputs: Vec<Input> = input.paths.iter().map(|p| Input::from_arg(p)).collect();
    if !input.live() {
        let (cluster, diagnostics) = load_files(settings, &input.paths);
        return Ok(vec![Loaded { context: None, cluster, diagnostics, unseen: Vec::new() }]);
    }
    let request = TargetRequest { kubeconfig: input.kubeconfig.clone(), contexts: input.context.clone() };
    let mut loaded = Vec::new();
    for target in request.resolve()? {
        let mut inventory = Inventory::new(settings.namespace.clone(), settings.limits);
        let mut progress = |p: netseg_live::Progress<'_>| {
            if settings.progress {
                let line = if p.finished {
                    String::new()
                } else {
                    format!("reading {}: {} ({} objects)", p.context, p.resource, p.objects)
                };
                eprint!("\r\x1b[2K{line}");
            }
        };
        let read = netseg_live::read_cluster(&target, settings.namespace.as_deref(), &mut inventory, &mut progress)?;
        if settings.verbose {
            eprintln!(
                "note: read {} objects from {} ({}) in {} GET requests",
                read.objects, read.context, read.server, read.requests
            );
        }
        netseg_model::load_inputs(&mut inventory, &inputs);
        let mut unseen: Vec<String> = read
            .unseen
            .iter()
            .map(|u| {
                format!(
                    "{} of cluster {} not read ({}: forbidden: {}): the answers miss {}",
                    u.what, read.context, u.path, u.message, u.consequence
                )
            })
            .collect();
        unseen.extend(
            read.not_served
                .iter()
                .map(|what| format!("{what} of cluster {} not read: the API server does not serve it", read.context)),
        );
        for line in &unseen {
            eprintln!("warning: {line}");
        }
        phase("parse");
        let diagnostics = std::mem::take(&mut inventory.diagnostics);
        let cluster = Cluster::from_inventory(inventory);
        phase("model");
        loaded.push(Loaded { context: Some(read.context), cluster, diagnostics, unseen });
    }
    Ok(loaded)
}

/// `reach`, `can`, `blast-radius` and `generate` answer about one network: several contexts are a usage error.
pub fn load_one(settings: &Settings, input: &InputArgs, command: &str) -> Result<Loaded> {
    if input.context.len() > 1 {
        return Err(anyhow!(
            "`{command}` answers about one cluster; give one --context (only `audit` reports on several clusters at once)"
        ));
    }
    load(settings, input)?.pop().ok_or_else(|| anyhow!("no cluster was read"))
}

/// `--config FILE`, else `.netseg.yaml` from the working directory upward, else the defaults.
pub fn config(explicit: Option<&std::path::Path>) -> Result<Config> {
    Ok(match explicit {
        Some(path) => Config::load(path)?,
        None => match std::env::current_dir().ok().as_deref().and_then(Config::discover) {
            Some(path) => Config::load(&path)?,
            None => Config::default(),
        },
    })
}
