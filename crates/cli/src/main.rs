//! The `netseg` binary: parses arguments, loads the inputs, asks the engine, renders. Nothing else.

mod args;

use anyhow::{anyhow, Context, Result};
use args::{
    AuditArgs, AuditFormat, BlastArgs, CanFormat, Cli, ColorChoice, Command, DiffArgs, DiffFailOn, DiffFormat,
    FactArgs, FailOn, GenerateArgs, Granularity, GroupChoice, InputArgs, NetworkArgs, ReachArgs, ReachFormat,
};
use clap::Parser;
use netseg_audit::blast::Origin;
use netseg_audit::{AuditContext, AuditOptions, Config, Severity};
use netseg_engine::query::{self, PortQuery};
use netseg_engine::{Analysis, Network};
use netseg_fix::manifest::to_yaml_stream;
use netseg_fix::{DnsTarget, GenerateOptions};
use netseg_live::TargetRequest;
use netseg_model::{Cidr, Cluster, Diagnostic, Input, Inventory, Severity as DiagnosticSeverity};
use netseg_render::Style;
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The system allocator spends a third of a large load in malloc and free; mimalloc's thread-local pages do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Input or usage error, for every command.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse_from(args_os());
    TIMINGS.with_borrow_mut(|t| t.last = Instant::now());
    let result = run(&cli);
    if cli.timings {
        eprintln!("{}", TIMINGS.with_borrow(Timings::line));
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("netseg: error: {error:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The arguments, with the program named as kubectl shows it when netseg runs as the plugin `kubectl-netseg`
/// (kubectl finds `kubectl-netseg` on PATH and runs it for `kubectl netseg ...`).
fn args_os() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args.first().map(std::path::Path::new).and_then(|p| p.file_stem()).map(|s| s.to_os_string());
    if let (Some(first), Some(stem)) = (args.first_mut(), invoked_as) {
        if stem == "kubectl-netseg" {
            *first = "kubectl netseg".into();
        } else {
            *first = "netseg".into();
        }
    }
    args
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn style(choice: ColorChoice) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Style { color }
}

/// Wall-clock time per phase, for `--timings`: each `phase` call closes the phase that was running.
struct Timings {
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn phase(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, now - self.last));
        self.last = now;
    }

    fn line(&self) -> String {
        let total: Duration = self.phases.iter().map(|(_, d)| *d).sum();
        let phases: Vec<String> =
            self.phases.iter().map(|(name, d)| format!("{name} {:.3}s", d.as_secs_f64())).collect();
        format!("timings: {}, total {:.3}s", phases.join(", "), total.as_secs_f64())
    }
}

thread_local! {
    static TIMINGS: RefCell<Timings> = RefCell::new(Timings { last: Instant::now(), phases: Vec::new() });
}

/// Ends the running phase under `name` (two clock reads: cheap enough to do whether or not `--timings` is on).
fn phase(name: &'static str) {
    TIMINGS.with_borrow_mut(|t| t.phase(name));
}

/// One cluster's objects, from files, a live cluster, or a live cluster with files laid over it.
struct Loaded {
    /// The kubeconfig context, for a live cluster.
    context: Option<String>,
    cluster: Cluster,
    diagnostics: Vec<Diagnostic>,
    /// What a live cluster would not let netseg read, and what the answers miss because of it.
    unseen: Vec<String>,
}

/// The input limits the flags set (docs/limits.md).
fn limits(cli: &Cli) -> netseg_model::Limits {
    netseg_model::Limits {
        parse: netseg_model::ParseLimits {
            max_depth: cli.limits.max_depth,
            alias_expansion: cli.limits.max_alias_expansion,
        },
        max_input_bytes: cli.limits.max_input_bytes,
        max_diagnostics: cli.limits.max_diagnostics,
    }
}

/// Files, directories and stdin only.
fn load_files(cli: &Cli, paths: &[String]) -> (Cluster, Vec<Diagnostic>) {
    let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
    let mut inventory = netseg_model::load_with(&inputs, cli.namespace.as_deref(), limits(cli));
    phase("parse");
    let diagnostics = std::mem::take(&mut inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    phase("model");
    (cluster, diagnostics)
}

fn load(cli: &Cli, input: &InputArgs) -> Result<Vec<Loaded>> {
    let inputs: Vec<Input> = input.paths.iter().map(|p| Input::from_arg(p)).collect();
    if !input.live() {
        let (cluster, diagnostics) = load_files(cli, &input.paths);
        return Ok(vec![Loaded { context: None, cluster, diagnostics, unseen: Vec::new() }]);
    }
    let request = TargetRequest { kubeconfig: input.kubeconfig.clone(), contexts: input.context.clone() };
    let show_progress = std::io::stderr().is_terminal();
    let mut loaded = Vec::new();
    for target in request.resolve()? {
        let mut inventory = Inventory::new(cli.namespace.clone(), limits(cli));
        let mut progress = |p: netseg_live::Progress<'_>| {
            if show_progress {
                let line = if p.finished {
                    String::new()
                } else {
                    format!("reading {}: {} ({} objects)", p.context, p.resource, p.objects)
                };
                eprint!("\r\x1b[2K{line}");
            }
        };
        let read = netseg_live::read_cluster(&target, cli.namespace.as_deref(), &mut inventory, &mut progress)?;
        if cli.verbose {
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

/// `reach`, `can` and `blast-radius` answer about one network: several contexts are a usage error.
fn load_one(cli: &Cli, input: &InputArgs, command: &str) -> Result<Loaded> {
    if input.context.len() > 1 {
        return Err(anyhow!(
            "`{command}` answers about one cluster; give one --context (only `audit` reports on several clusters at once)"
        ));
    }
    load(cli, input)?.pop().ok_or_else(|| anyhow!("no cluster was read"))
}

/// Prints diagnostics on stderr (notes only with `-v`); returns whether any object was left out.
fn report(diagnostics: &[Diagnostic], verbose: bool, skip_problems: bool) -> bool {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in diagnostics {
        let shown = match diagnostic.severity {
            DiagnosticSeverity::Note => verbose,
            _ => !skip_problems,
        };
        if shown {
            let _ = writeln!(stderr, "{diagnostic}");
        }
    }
    diagnostics.iter().any(|d| d.severity == DiagnosticSeverity::Error)
}

fn write_out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The network the answers describe: the CNI (detected or `--cni`), whether it enforces the policies, and the
/// analyses.
fn network<'c>(cluster: &'c Cluster, args: &NetworkArgs) -> Result<Network<'c>> {
    Ok(Network::new(cluster, &args.choice())?)
}

fn run(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Command::Audit(args) => audit(cli, args),
        Command::BlastRadius(args) => blast_radius(cli, args),
        Command::Generate(args) => generate(cli, args),
        Command::Diff(args) => diff(cli, args),
        Command::Reach(args) => reach(cli, args),
        Command::Can(args) => {
            let Loaded { cluster, diagnostics, .. } = load_one(cli, &args.input, "can")?;
            let had_errors = report(&diagnostics, cli.verbose, false);
            let network = network(&cluster, &args.network)?;
            let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
            let from = query::resolve(&cluster, &args.from)?;
            let to = query::resolve(&cluster, &args.to)?;
            let verdict = query::verdict(network.effective(), from, to, query);
            phase("engine");
            let rendered = match args.output {
                CanFormat::Text => netseg_render::can::text(&cluster, &verdict, network.notes(), style(cli.color)),
                CanFormat::Json => {
                    netseg_render::json_text(&netseg_render::can::json(&cluster, &verdict, network.notes()))
                }
            };
            write_out(&rendered)?;
            phase("output");
            Ok(if had_errors {
                EXIT_ERROR
            } else if verdict.allowed() {
                0
            } else {
                1
            })
        }
    }
}

/// All-pairs answers beyond this many pairs (or group entries) would not fit in memory (about 100 bytes each):
/// they are refused with a message rather than left to grow until the machine gives out. `NETSEG_MAX_PAIRS`
/// raises it.
const DEFAULT_MAX_PAIRS: u64 = 10_000_000;

/// Which all-pairs answer a command holds: workload pairs (audit, blast-radius) or the entries of reach's groups.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    WorkloadPairs,
    GroupEntries,
}

fn check_answer_size(analysis: &Analysis<'_>, holds: Holds) -> Result<()> {
    let limit = match std::env::var("NETSEG_MAX_PAIRS") {
        Ok(text) => text.parse().with_context(|| format!("NETSEG_MAX_PAIRS={text} is not a number"))?,
        Err(_) => DEFAULT_MAX_PAIRS,
    };
    let size = analysis.answer_size(limit);
    let (count, what) = match holds {
        Holds::WorkloadPairs => (size.workload_pairs, "allowed workload pairs"),
        Holds::GroupEntries => (size.group_entries, "destinations in the grouped answer"),
    };
    if count > limit {
        let hint = match holds {
            Holds::WorkloadPairs => "`netseg reach` answers it as groups and `netseg can` answers any one pair",
            Holds::GroupEntries => "`netseg can` answers any one pair",
        };
        return Err(anyhow!(
            "the answer is too large to hold: more than {limit} {what} (the limit; NETSEG_MAX_PAIRS=N raises it, at \
             about 100 bytes a pair); {hint}"
        ));
    }
    Ok(())
}

/// Above this many pairs, `--group auto` shows groups in text and JSON.
const PAIR_LISTING_LIMIT: u64 = 10_000;
/// CSV, Markdown and DOT have no groups; above this many pairs they need `--group never` to say it is meant.
const FLAT_FORMAT_LIMIT: u64 = 1_000_000;

fn reach(cli: &Cli, args: &ReachArgs) -> Result<u8> {
    let Loaded { cluster, diagnostics, .. } = load_one(cli, &args.input, "reach")?;
    let cluster = match args.granularity {
        Granularity::Workload => cluster,
        Granularity::Pod => cluster.per_pod(),
    };
    let had_errors = report(&diagnostics, cli.verbose, false);
    let network = network(&cluster, &args.network)?;
    for note in network.notes() {
        eprintln!("note: {note}");
    }
    let analysis = network.effective();
    let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
    let from = args.from.as_deref().map(|f| query::resolve(&cluster, f)).transpose()?;
    let to = args.to.as_deref().map(|t| query::resolve(&cluster, t)).transpose()?;
    check_answer_size(analysis, Holds::GroupEntries)?;
    let grouped = analysis.reach_groups().filter(
        |e| from.as_ref().is_none_or(|f| query::endpoint_matches(e, f)),
        |e| to.as_ref().is_none_or(|t| query::endpoint_matches(e, t)),
        &query.ports(),
    );
    phase("engine");
    let pairs = grouped.pairs();
    let as_groups = match (args.group, args.output) {
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
    let rendered = if as_groups {
        if args.group == GroupChoice::Auto {
            eprintln!(
                "note: {pairs} allowed connections, shown as {} groups (--group never lists every pair)",
                grouped.groups.len()
            );
        }
        match args.output {
            ReachFormat::Json => netseg_render::json_text(&netseg_render::reach::json_groups(&cluster, &grouped)),
            _ => netseg_render::reach::text_groups(&cluster, &grouped, style(cli.color)),
        }
    } else {
        let reach = grouped.expand();
        match args.output {
            ReachFormat::Text => netseg_render::reach::text(&cluster, &reach, style(cli.color)),
            ReachFormat::Json => netseg_render::json_text(&netseg_render::reach::json(&cluster, &reach)),
            ReachFormat::Csv => netseg_render::reach::csv(&cluster, &reach),
            ReachFormat::Md => netseg_render::reach::markdown(&cluster, &reach),
            ReachFormat::Dot => netseg_render::reach::dot(&cluster, &reach),
            ReachFormat::Mermaid => netseg_render::reach::mermaid(&cluster, &reach),
        }
    };
    write_out(&rendered)?;
    phase("output");
    Ok(if had_errors { EXIT_ERROR } else { 0 })
}

fn cidrs(texts: &[String], flag: &str) -> Result<Vec<Cidr>> {
    texts
        .iter()
        .map(|text| {
            let text = if text.contains('/') {
                text.clone()
            } else {
                let bits = if text.contains(':') { 128 } else { 32 };
                format!("{text}/{bits}")
            };
            text.parse::<Cidr>().with_context(|| format!("--{flag}"))
        })
        .collect()
}

fn audit_options(facts: &FactArgs) -> Result<AuditOptions> {
    Ok(AuditOptions {
        api_server: cidrs(&facts.api_server, "api-server")?,
        node_cidrs: cidrs(&facts.node_cidr, "node-cidr")?,
    })
}

fn blast_radius(cli: &Cli, args: &BlastArgs) -> Result<u8> {
    let options = audit_options(&args.facts)?;
    let Loaded { cluster, diagnostics, .. } = load_one(cli, &args.input, "blast-radius")?;
    let had_errors = report(&diagnostics, cli.verbose, false);
    let network = network(&cluster, &args.network)?;
    for note in network.notes() {
        eprintln!("note: {note}");
    }
    let origin = match query::resolve(&cluster, &args.from) {
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
    let ctx = AuditContext::new(&network, &config, &diagnostics, &options);
    check_answer_size(ctx.effective, Holds::WorkloadPairs)?;
    ctx.connections();
    phase("engine");
    let radius = netseg_audit::blast::blast_radius(&ctx, origin, args.max_hops);
    phase("blast-radius");
    let rendered = match args.output {
        CanFormat::Text => netseg_render::blast::text(&radius, style(cli.color)),
        CanFormat::Json => netseg_render::json_text(&netseg_render::blast::json(&radius)),
    };
    write_out(&rendered)?;
    phase("output");
    Ok(if had_errors { EXIT_ERROR } else { 0 })
}

/// `--config FILE`, else `.netseg.yaml` from the working directory upward, else the defaults.
fn config(explicit: Option<&std::path::Path>) -> Result<Config> {
    Ok(match explicit {
        Some(path) => Config::load(path)?,
        None => match std::env::current_dir().ok().as_deref().and_then(Config::discover) {
            Some(path) => Config::load(&path)?,
            None => Config::default(),
        },
    })
}

fn audit(cli: &Cli, args: &AuditArgs) -> Result<u8> {
    let config = config(args.config.as_deref())?;
    let options = audit_options(&args.facts)?;
    let html = matches!(args.output, AuditFormat::Html);
    if html && args.input.context.len() > 1 {
        return Err(anyhow!("-o html reports on one cluster; give one --context"));
    }
    let mut reports = Vec::new();
    let mut page = None;
    for Loaded { context, cluster, diagnostics, unseen } in load(cli, &args.input)? {
        // Input problems become NS144 findings; only skipped documents are worth a line of their own.
        report(&diagnostics, cli.verbose, true);
        let network = network(&cluster, &args.network)?;
        let ctx = AuditContext::new(&network, &config, &diagnostics, &options);
        // The engine's all-pairs answer, which the rules share, computed here so that the timings tell it apart.
        check_answer_size(ctx.effective, Holds::WorkloadPairs)?;
        ctx.connections();
        phase("engine");
        let mut result = netseg_audit::audit(&ctx);
        phase("audit");
        result.cluster = context;
        result.assumptions.extend(unseen);
        if html {
            let map = netseg_audit::map::network_map(&ctx);
            let graph = netseg_render::graph::Graph::from_network_map(&cluster, &map);
            let generator = format!("netseg {}", env!("CARGO_PKG_VERSION"));
            let meta = netseg_render::html::ReportMeta { inputs: &args.input.paths, generator: &generator };
            page = Some(netseg_render::html::audit_report(&result, &graph, &map.namespaces, &meta));
        }
        reports.push(result);
    }
    let rendered = match args.output {
        AuditFormat::Text => netseg_render::audit::text_all(&reports, style(cli.color)),
        AuditFormat::Json => netseg_render::json_text(&netseg_render::audit::json_all(&reports)),
        AuditFormat::Sarif => {
            format!("{:#}\n", netseg_render::audit::sarif_all(&reports, env!("CARGO_PKG_VERSION")))
        }
        AuditFormat::Markdown => netseg_render::audit::markdown_all(&reports),
        AuditFormat::Html => page.unwrap_or_default(),
    };
    write_out(&rendered)?;
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
    Ok(u8::from(failed))
}

const GENERATED_HEADER: &str =
    "NetworkPolicies written by `netseg generate`: default-deny, DNS and the flows the workloads need.\n\
Each policy's netseg.io/reasons annotation says why each of its rules exists.";

fn generate(cli: &Cli, args: &GenerateArgs) -> Result<u8> {
    let options = audit_options(&args.facts)?;
    let dns = args.dns.as_deref().map(str::parse::<DnsTarget>).transpose().map_err(|e| anyhow!("--dns {e}"))?;
    let config = config(None)?;
    let Loaded { cluster, diagnostics, .. } = load_one(cli, &args.input, "generate")?;
    let mut had_errors = report(&diagnostics, cli.verbose, false);
    let network = network(&cluster, &args.network)?;
    let mut flows = Vec::new();
    if args.flows.iter().any(|p| p.as_os_str() == "-") && args.input.paths.iter().any(|p| p == "-") {
        return Err(anyhow!("--flows - and a manifest path - cannot both read stdin"));
    }
    for path in &args.flows {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("--flows -: cannot read stdin")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("--flows {}", path.display()))?
        };
        let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
        let (read, problems) = netseg_fix::flows::read(&cluster, &name, &text);
        for problem in &problems {
            eprintln!("{}: {problem}", if problem.error { "error" } else { "warning" });
            had_errors |= problem.error;
        }
        flows.extend(read);
    }
    let generate_options = GenerateOptions {
        dns,
        ingress_namespaces: args.ingress_namespace.clone(),
        cluster_domain: args.cluster_domain.trim_matches('.').to_string(),
        flows,
        api_server: options.api_server.clone(),
    };
    let plan = netseg_fix::plan(&network, &generate_options).map_err(|e| anyhow!(e))?;
    let yaml = to_yaml_stream(&plan.policies, GENERATED_HEADER);
    let proof = netseg_fix::prove(&network, &diagnostics, &plan, &yaml, &config, &options).map_err(|e| anyhow!(e))?;
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    eprint!("{}", netseg_render::generate::summary(&cluster, &plan, &proof, Style { color }));
    if !proof.holds() {
        return Ok(EXIT_ERROR);
    }
    match &args.out {
        None => write_out(&yaml)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
            let mut namespaces: Vec<&str> = plan.policies.iter().map(|p| p.namespace.as_str()).collect();
            namespaces.dedup();
            for namespace in namespaces {
                let policies: Vec<_> = plan.policies.iter().filter(|p| p.namespace == namespace).cloned().collect();
                let path = dir.join(format!("{namespace}.yaml"));
                std::fs::write(&path, to_yaml_stream(&policies, GENERATED_HEADER))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(if had_errors { EXIT_ERROR } else { 0 })
}

fn diff(cli: &Cli, args: &DiffArgs) -> Result<u8> {
    if args.old == "-" && args.new == "-" {
        return Err(anyhow!("OLD and NEW cannot both be - (stdin)"));
    }
    let options = audit_options(&args.facts)?;
    let config = config(None)?;
    let (old, old_diagnostics) = load_files(cli, std::slice::from_ref(&args.old));
    let (new, new_diagnostics) = load_files(cli, std::slice::from_ref(&args.new));
    let had_errors = report(&old_diagnostics, cli.verbose, false) | report(&new_diagnostics, cli.verbose, false);
    let old_network = network(&old, &args.network)?;
    let new_network = network(&new, &args.network)?;
    // Each side's effective network is the one its audit analyses: built once, used for both.
    let old_report = netseg_audit::audit_network(&old_network, &old_diagnostics, &config, &options);
    let new_report = netseg_audit::audit_network(&new_network, &new_diagnostics, &config, &options);
    let diff = netseg_fix::diff::diff(old_network.effective(), new_network.effective(), &old_report, &new_report);
    let rendered = match args.output {
        DiffFormat::Text => netseg_render::diff::text(&diff, style(cli.color)),
        DiffFormat::Json => netseg_render::json_text(&netseg_render::diff::json(&diff)),
        DiffFormat::Sarif => format!("{:#}\n", netseg_render::diff::sarif(&diff, &new, env!("CARGO_PKG_VERSION"))),
        DiffFormat::Markdown => netseg_render::diff::markdown(&diff),
        DiffFormat::Mermaid => netseg_render::diff::graph(&diff).to_mermaid(),
        DiffFormat::Dot => netseg_render::diff::graph(&diff).to_dot(),
        DiffFormat::Html => {
            let generator = format!("netseg {}", env!("CARGO_PKG_VERSION"));
            let inputs = [args.old.clone(), args.new.clone()];
            let meta = netseg_render::html::ReportMeta { inputs: &inputs, generator: &generator };
            let title = format!("netseg diff {} {}", args.old, args.new);
            netseg_render::html::graph_report(&title, &netseg_render::diff::graph(&diff), &meta)
        }
    };
    write_out(&rendered)?;
    let failed = match args.fail_on {
        DiffFailOn::Added => diff.opens_anything(),
        DiffFailOn::Any => !diff.is_empty(),
        DiffFailOn::None => false,
    };
    Ok(if had_errors { EXIT_ERROR } else { u8::from(failed) })
}
