//! `netseg audit`: the findings, worst first, of one input or of several live clusters in one report.

use crate::args::{AuditArgs, AuditFormat, FailOn};
use crate::diagnostics;
use crate::exit;
use crate::input::{self, Loaded};
use crate::output::{generator, stream_out, write_out};
use crate::settings::Settings;
use crate::timings::phase;
use anyhow::{anyhow, Result};
use netseg_audit::{AuditContext, Severity};
use netseg_engine::Network;
use netseg_model::parallel::beside;

pub fn run(settings: &Settings, args: &AuditArgs) -> Result<u8> {
    let config = input::config(args.config.as_deref())?;
    let options = super::audit_options(&args.facts)?;
    let html = matches!(args.output, AuditFormat::Html);
    if html && args.input.context.len() > 1 {
        return Err(anyhow!("-o html reports on one cluster; give one --context"));
    }
    let mut reports = Vec::new();
    let mut page = None;
    let mut input_errors = false;
    let mut flow_errors = false;
    let clusters = input::load(settings, &args.input)?.into_iter().map(|l| super::with_mesh_settings(l, &args.network));
    for Loaded { context, cluster, diagnostics, unseen } in clusters {
        // Malformed objects become NS144 findings and unanalysed policies NS132; the rest (errors about the input
        // itself, duplicate objects, deprecated fields) are shown on stderr as every command shows them.
        diagnostics::report_unless(&diagnostics, settings.verbose, netseg_audit::reported_as_finding);
        input_errors |= diagnostics::input_errors(&diagnostics);
        let network = Network::new(&cluster, &super::network_choice(&args.network))?;
        let result = std::thread::scope(|scope| -> Result<_> {
            // The engine's factored answer, which the rules question, is built on another core while this one
            // reads the intent and gathers the context, which do not need it (`--timings`' `engine` is the wait
            // for what is left of it). Where the system refuses a thread, it is built here after them.
            let engine = beside(scope, || {
                network.effective().answer();
            });
            // The flows the application declares and was seen making, for NS147 and NS148.
            let (flows, bad_rows) = super::read_flows(&cluster, &args.flows, &args.input.paths)?;
            flow_errors |= bad_rows;
            let intent = if netseg_audit::rules::intent_read(&config) {
                netseg_fix::needs::intent(&cluster, args.cluster_domain.trim_matches('.'), &flows)
            } else {
                netseg_audit::Intent::default()
            };
            phase("intent");
            let options = netseg_audit::AuditOptions {
                intent,
                // NS148: the known flows are the intent when the user gives flows or says the declared ones are
                // all.
                judge_allowances: args.intent_only || !args.flows.is_empty(),
                ..options.clone()
            };
            let ctx = AuditContext::new(&network, &config, &diagnostics, &options);
            phase("context");
            engine.join();
            phase("engine");
            let mut result = netseg_audit::audit(&ctx);
            phase("audit");
            result.cluster = context;
            result.input = check_input(settings, args);
            result.assumptions.extend(unseen);
            if html {
                let map = netseg_audit::map::network_map(&ctx);
                let workloads: Vec<netseg_engine::ReachEndpoint> =
                    (0..cluster.workloads.len()).map(netseg_engine::ReachEndpoint::Workload).collect();
                let restricted = netseg_engine::ReachMarks::for_endpoints(ctx.effective, &workloads);
                let graph = netseg_render::graph::Graph::from_network_map(&cluster, &map, &restricted);
                let generator = generator();
                let meta = netseg_render::html::ReportMeta { inputs: &args.input.paths, generator: &generator };
                page = Some(netseg_render::html::audit_report(&result, &graph, &map.namespaces, &meta));
            }
            Ok(result)
        })?;
        reports.push(result);
        drop(network);
        super::drop_aside(cluster);
    }
    match args.output {
        AuditFormat::Text => write_out(&netseg_render::audit::text_all(&reports, settings.stdout))?,
        // Written as the findings are serialised: a flat cluster's audit can hold tens of thousands of them.
        AuditFormat::Json => stream_out(|out| netseg_render::audit::write_json(out, &reports))?,
        AuditFormat::Sarif => {
            write_out(&format!("{:#}\n", netseg_render::audit::sarif_all(&reports, env!("CARGO_PKG_VERSION"))))?
        }
        AuditFormat::Markdown => write_out(&netseg_render::audit::markdown_all(&reports))?,
        AuditFormat::Html => write_out(&page.unwrap_or_default())?,
    }
    phase("output");
    let threshold = match args.fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::High => Some(Severity::High),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::Low => Some(Severity::Low),
        FailOn::Info => Some(Severity::Info),
        FailOn::None => None,
    };
    let worst = reports.iter().filter_map(|r| r.worst()).max();
    let failed = matches!((threshold, worst), (Some(threshold), Some(worst)) if worst >= threshold);
    Ok(exit::unless_input_errors(input_errors || flow_errors, if failed { exit::GATE } else { exit::PASS }))
}

/// The input as the user gave it, for the `check:` commands: the flags that change what is read or how it is
/// analysed, then the paths. The context of a live cluster is added per report.
fn check_input(settings: &Settings, args: &AuditArgs) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(namespace) = &settings.namespace {
        words.extend(["-n".to_string(), namespace.clone()]);
    }
    if let Some(cni) = &args.network.cni {
        words.extend(["--cni".to_string(), cni.clone()]);
    }
    if args.network.assume_enforced {
        words.push("--assume-enforced".to_string());
    }
    if let Some(kubeconfig) = &args.input.kubeconfig {
        words.extend(["--kubeconfig".to_string(), kubeconfig.display().to_string()]);
    } else if args.input.cluster && args.input.context.is_empty() {
        words.push("--cluster".to_string());
    }
    words.extend(args.input.paths.iter().cloned());
    words
}
