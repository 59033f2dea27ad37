//! `netseg blast-radius`: everything a compromised workload (or the internet, or an outside address) reaches,
//! directly and in several hops.

use crate::args::{BlastArgs, CanFormat};
use crate::diagnostics;
use crate::exit;
use crate::input::load_one;
use crate::output::write_out;
use crate::settings::Settings;
use crate::timings::phase;
use anyhow::{anyhow, Result};
use netseg_audit::blast::Origin;
use netseg_audit::{AuditContext, Config};
use netseg_engine::query;
use netseg_engine::Network;

pub fn run(settings: &Settings, args: &BlastArgs) -> Result<u8> {
    let options = super::audit_options(&args.facts)?;
    let loaded = super::with_mesh_settings(load_one(settings, &args.input, "blast-radius")?, &args.network);
    let cluster = &loaded.cluster;
    let had_errors = diagnostics::report(&loaded.diagnostics, settings.verbose, false);
    let network = Network::new(cluster, &super::network_choice(&args.network))?;
    super::show_notes(network.notes());
    let origin = match query::resolve(cluster, &args.from) {
        _ if args.from.eq_ignore_ascii_case("internet") => Origin::Internet,
        resolved => match resolved? {
            query::Resolved { workload: Some(w), .. } => Origin::Workload(w),
            query::Resolved { endpoints, display, .. } => match endpoints.first() {
                Some(netseg_engine::Endpoint::Address(addr)) => Origin::Address(*addr),
                _ => return Err(anyhow!("`{display}` is neither a workload nor an address")),
            },
        },
    };
    let config = Config::default();
    let ctx = AuditContext::new(&network, &config, &loaded.diagnostics, &options);
    ctx.effective.answer();
    phase("engine");
    let radius = netseg_audit::blast::blast_radius(&ctx, origin, args.max_hops);
    phase("blast-radius");
    let rendered = match args.output {
        CanFormat::Text => netseg_render::blast::text(&radius, settings.stdout),
        CanFormat::Json => netseg_render::json_text(&netseg_render::blast::json(&radius)),
    };
    write_out(&rendered)?;
    phase("output");
    Ok(exit::unless_input_errors(had_errors, exit::PASS))
}
