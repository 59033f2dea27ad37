//! `netseg reach`: who can reach whom. The engine always answers in groups; they are filtered, then expanded into
//! pairs when the answer is small (`--group`). Only a listing asked for pair by pair (`--group never`) may be
//! refused for its size.

use crate::args::{Granularity, GroupChoice, ReachArgs, ReachFormat};
use crate::diagnostics;
use crate::exit;
use crate::input::load_one;
use crate::output::write_out;
use crate::settings::Settings;
use crate::timings::phase;
use anyhow::{anyhow, Result};
use netseg_engine::query::{self, PortQuery};
use netseg_engine::Network;

/// Above this many pairs, `--group auto` shows groups in text and JSON.
const PAIR_LISTING_LIMIT: u64 = 10_000;
/// CSV, Markdown and DOT have no groups; above this many pairs they need `--group never` to say it is meant.
const FLAT_FORMAT_LIMIT: u64 = 1_000_000;

pub fn run(settings: &Settings, args: &ReachArgs) -> Result<u8> {
    let loaded = super::with_mesh_settings(load_one(settings, &args.input, "reach")?, &args.network);
    let cluster = match args.granularity {
        Granularity::Workload => loaded.cluster,
        Granularity::Pod => loaded.cluster.per_pod(),
    };
    let had_errors = diagnostics::report(&loaded.diagnostics, settings.verbose, false);
    let network = Network::new(&cluster, &super::network_choice(&args.network))?;
    super::show_notes(network.notes());
    let analysis = network.effective();
    let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
    let from = args.from.as_deref().map(|f| query::resolve(&cluster, f)).transpose()?;
    let to = args.to.as_deref().map(|t| query::resolve(&cluster, t)).transpose()?;
    let grouped = analysis.reach_groups().filter(
        |e| from.as_ref().is_none_or(|f| query::endpoint_matches(e, f)),
        |e| to.as_ref().is_none_or(|t| query::endpoint_matches(e, t)),
        &query.ports(),
    );
    phase("engine");
    let pairs = grouped.pairs();
    let as_groups = match (args.group, args.output) {
        (GroupChoice::Never, _) => {
            settings.refuse_listing(pairs)?;
            false
        }
        (_, ReachFormat::Csv | ReachFormat::Md | ReachFormat::Dot | ReachFormat::Mermaid) => {
            if pairs > FLAT_FORMAT_LIMIT && args.group == GroupChoice::Auto {
                return Err(anyhow!(
                    "{pairs} allowed connections are too many for -o {:?} (one line each); narrow with --from, --to \
                     or --port, use -o json or text (grouped), or pass --group never",
                    args.output
                ));
            }
            false
        }
        (GroupChoice::Always, _) => true,
        (GroupChoice::Auto, _) => pairs > PAIR_LISTING_LIMIT,
    };
    let style = settings.stdout;
    let rendered = if as_groups {
        if args.group == GroupChoice::Auto {
            eprintln!(
                "note: {pairs} allowed connections, shown as {} groups (--group never lists every pair)",
                grouped.groups.len()
            );
        }
        match args.output {
            ReachFormat::Json => netseg_render::json_text(&netseg_render::reach::json_groups(&cluster, &grouped)),
            _ => netseg_render::reach::text_groups(&cluster, &grouped, style),
        }
    } else {
        let reach = grouped.expand();
        match args.output {
            ReachFormat::Text => netseg_render::reach::text(&cluster, &reach, style),
            ReachFormat::Json => netseg_render::json_text(&netseg_render::reach::json(&cluster, &reach)),
            ReachFormat::Csv => netseg_render::reach::csv(&cluster, &reach),
            ReachFormat::Md => netseg_render::reach::markdown(&cluster, &reach),
            ReachFormat::Dot => netseg_render::reach::dot(&cluster, &reach),
            ReachFormat::Mermaid => netseg_render::reach::mermaid(&cluster, &reach),
        }
    };
    write_out(&rendered)?;
    phase("output");
    Ok(exit::unless_input_errors(had_errors, exit::PASS))
}
