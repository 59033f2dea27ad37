//! `netseg reach`: who can reach whom. The engine always answers in groups; they are filtered, then listed pair by
//! pair when the answer is small or `--group never` asks. Text, JSON, CSV and Markdown listings are written as the
//! pairs are produced, so they hold no more than the groups; only a graph (DOT, Mermaid), which is laid out whole,
//! may be refused for its size.

use crate::args::{Granularity, GroupChoice, ReachArgs, ReachFormat};
use crate::diagnostics;
use crate::exit;
use crate::input::load_one;
use crate::output::{stream_out, write_out};
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
        (GroupChoice::Never, ReachFormat::Dot | ReachFormat::Mermaid) => {
            settings.refuse_listing(pairs)?;
            false
        }
        (GroupChoice::Never, _) => false,
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
    // Free unless the input has rules that decide on requests (a mesh, Cilium L7 rules).
    let restricted = netseg_engine::ReachMarks::new(analysis, &grouped);
    if as_groups {
        if args.group == GroupChoice::Auto {
            eprintln!(
                "note: {pairs} allowed connections, shown as {} groups (--group never lists every pair)",
                grouped.groups.len()
            );
        }
        let rendered = match args.output {
            ReachFormat::Json => {
                netseg_render::json_text(&netseg_render::reach::json_groups(&cluster, &grouped, &restricted))
            }
            _ => netseg_render::reach::text_groups(&cluster, &grouped, &restricted, style),
        };
        write_out(&rendered)?;
    } else {
        match args.output {
            ReachFormat::Text => {
                stream_out(|out| netseg_render::reach::write_text(out, &cluster, &grouped, &restricted, style))?
            }
            ReachFormat::Json => {
                stream_out(|out| netseg_render::reach::write_json(out, &cluster, &grouped, &restricted))?
            }
            ReachFormat::Csv => {
                stream_out(|out| netseg_render::reach::write_csv(out, &cluster, &grouped, &restricted))?
            }
            ReachFormat::Md => {
                stream_out(|out| netseg_render::reach::write_markdown(out, &cluster, &grouped, &restricted))?
            }
            // A graph is laid out whole, so it is drawn from the listed pairs.
            ReachFormat::Dot => write_out(&netseg_render::reach::dot(&cluster, &grouped.expand(), &restricted))?,
            ReachFormat::Mermaid => {
                write_out(&netseg_render::reach::mermaid(&cluster, &grouped.expand(), &restricted))?
            }
        }
    }
    phase("output");
    Ok(exit::unless_input_errors(had_errors, exit::PASS))
}
