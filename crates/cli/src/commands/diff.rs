//! `netseg diff OLD NEW`: the connectivity and findings a change adds and removes: the CI gate.

use crate::args::{DiffArgs, DiffFailOn, DiffFormat};
use crate::diagnostics;
use crate::exit;
use crate::input::{self, load_files};
use crate::output::{generator, write_out};
use crate::settings::Settings;
use anyhow::{anyhow, Result};
use netseg_audit::AuditOptions;
use netseg_engine::Network;

pub fn run(settings: &Settings, args: &DiffArgs) -> Result<u8> {
    if args.old == "-" && args.new == "-" {
        return Err(anyhow!("OLD and NEW cannot both be - (stdin)"));
    }
    let options = super::audit_options(&args.facts)?;
    let config = input::config(None)?;
    let (mut old, old_diagnostics) = load_files(settings, std::slice::from_ref(&args.old));
    let (mut new, new_diagnostics) = load_files(settings, std::slice::from_ref(&args.new));
    let had_errors = diagnostics::report(&old_diagnostics, settings.verbose, false)
        | diagnostics::report(&new_diagnostics, settings.verbose, false);
    let choice = super::network_choice(&args.network);
    choice.mesh.apply(&mut old);
    choice.mesh.apply(&mut new);
    let old_network = Network::new(&old, &choice)?;
    let new_network = Network::new(&new, &choice)?;
    // The flows each side declares, and the observed ones, resolved on each side: a flow NEW denies that OLD
    // allowed (or did not have) is an NS147 that appears, a broken flow.
    let domain = args.cluster_domain.trim_matches('.');
    let (old_flows, old_bad) = super::read_flows(&old, &args.flows, &[args.old.clone(), args.new.clone()])?;
    let (new_flows, new_bad) = super::read_flows(&new, &args.flows, &[args.old.clone(), args.new.clone()])?;
    let had_errors = had_errors | old_bad | new_bad;
    let old_options = AuditOptions { intent: netseg_fix::needs::intent(&old, domain, &old_flows), ..options.clone() };
    let new_options = AuditOptions { intent: netseg_fix::needs::intent(&new, domain, &new_flows), ..options };
    // Each side's effective network is the one its audit analyses: built once, used for both.
    let old_report = netseg_audit::audit_network(&old_network, &old_diagnostics, &config, &old_options);
    let new_report = netseg_audit::audit_network(&new_network, &new_diagnostics, &config, &new_options);
    let diff = netseg_fix::diff::diff(old_network.effective(), new_network.effective(), &old_report, &new_report);
    let rendered = match args.output {
        DiffFormat::Text => netseg_render::diff::text(&diff, settings.stdout),
        DiffFormat::Json => netseg_render::json_text(&netseg_render::diff::json(&diff)),
        DiffFormat::Sarif => format!("{:#}\n", netseg_render::diff::sarif(&diff, &new, env!("CARGO_PKG_VERSION"))),
        DiffFormat::Markdown => netseg_render::diff::markdown(&diff),
        DiffFormat::Mermaid => netseg_render::diff::graph(&diff).to_mermaid(),
        DiffFormat::Dot => netseg_render::diff::graph(&diff).to_dot(),
        DiffFormat::Html => {
            let generator = generator();
            let inputs = [args.old.clone(), args.new.clone()];
            let meta = netseg_render::html::ReportMeta { inputs: &inputs, generator: &generator };
            let title = format!("netseg diff {} {}", args.old, args.new);
            netseg_render::html::graph_report(&title, &netseg_render::diff::graph(&diff), &meta)
        }
    };
    write_out(&rendered)?;
    // A broken flow fails the gate even when the change only removes connectivity.
    let broken = !diff.broken_flows().is_empty();
    let failed = match args.fail_on {
        DiffFailOn::Added => diff.opens_anything() || broken,
        DiffFailOn::Any => !diff.is_empty(),
        DiffFailOn::None => false,
    };
    Ok(exit::unless_input_errors(had_errors, if failed { exit::GATE } else { exit::PASS }))
}
