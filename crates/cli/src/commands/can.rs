//! `netseg can`: one verdict and why. Exit 0 allowed, 1 denied, 2 error.

use crate::args::{CanArgs, CanFormat, RequestArgs};
use crate::diagnostics;
use crate::exit;
use crate::input::load_one;
use crate::output::write_out;
use crate::settings::Settings;
use crate::timings::phase;
use anyhow::{anyhow, Result};
use netseg_engine::query::{self, End, PortQuery};
use netseg_engine::request::Request;
use netseg_engine::Network;

pub fn run(settings: &Settings, args: &CanArgs) -> Result<u8> {
    let loaded = super::with_mesh_settings(load_one(settings, &args.input, "can")?, &args.network);
    let cluster = &loaded.cluster;
    let had_errors = diagnostics::report(&loaded.diagnostics, settings.verbose, false);
    let network = Network::new(cluster, &super::network_choice(&args.network))?;
    let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
    // Each name is a usage error of its own flag.
    let from = query::resolve_target(cluster, &args.from, End::Source).map_err(|e| anyhow!("--from: {e}"))?;
    let to = query::resolve_target(cluster, &args.to, End::Destination).map_err(|e| anyhow!("--to: {e}"))?;
    if from.outside.is_some() && to.outside.is_some() {
        return Err(anyhow!(
            "--from `{}` and --to `{}` are both outside the cluster: no policy of the input governs that",
            args.from,
            args.to
        ));
    }
    let verdict = query::verdict(network.effective(), from, to, query, request(&args.request));
    phase("engine");
    let rendered = match args.output {
        CanFormat::Text => netseg_render::can::text(cluster, &verdict, network.notes(), settings.stdout),
        CanFormat::Json => netseg_render::json_text(&netseg_render::can::json(cluster, &verdict, network.notes())),
    };
    write_out(&rendered)?;
    phase("output");
    let status = if verdict.allowed() { exit::PASS } else { exit::GATE };
    Ok(exit::unless_input_errors(had_errors, status))
}

/// The request the flags name (each part already checked by its flag's parser).
fn request(args: &RequestArgs) -> Request {
    let (path, query) = match &args.path {
        Some((path, query)) => (Some(path.clone()), query.clone()),
        None => (None, None),
    };
    Request {
        method: args.method.clone(),
        path,
        query,
        host: args.host.clone(),
        headers: args.headers.clone(),
        dns_name: args.dns_name.clone(),
    }
}
