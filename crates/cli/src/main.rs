//! The `netseg` binary: parses arguments, loads the inputs, asks the engine, renders. Nothing else.

mod args;

use anyhow::{anyhow, Context, Result};
use args::{
    AuditArgs, AuditFormat, BlastArgs, CanFormat, Cli, ColorChoice, Command, FactArgs, FailOn, Granularity,
    GroupChoice, NetworkArgs, ReachArgs, ReachFormat,
};
use clap::Parser;
use netseg_audit::blast::Origin;
use netseg_audit::{AuditContext, AuditOptions, Config, Severity};
use netseg_engine::query::{self, PortQuery};
use netseg_engine::{Analysis, EngineOptions};
use netseg_model::cni::{self, CniVerdict};
use netseg_model::{Cidr, Cluster, Diagnostic, Input, Severity as DiagnosticSeverity};
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
    let cli = Cli::parse();
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

fn load(cli: &Cli, paths: &[String]) -> (Cluster, Vec<Diagnostic>) {
    let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
    let mut inventory = netseg_model::load(&inputs, cli.namespace.as_deref());
    phase("parse");
    let diagnostics = std::mem::take(&mut inventory.diagnostics);
    let cluster = Cluster::from_inventory(inventory);
    phase("model");
    (cluster, diagnostics)
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

/// What the CNI makes of the policies.
struct Network {
    verdict: CniVerdict,
    enforced: bool,
    engine: EngineOptions,
    /// Caveats for the answer, in words.
    notes: Vec<String>,
}

fn network(cluster: &Cluster, args: &NetworkArgs) -> Result<Network> {
    let verdict = match &args.cni {
        Some(name) => CniVerdict::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = cni::PLUGINS.iter().map(|p| p.name).collect();
            anyhow!("unknown CNI `{name}`; known: {}", known.join(", "))
        })?,
        None => cni::detect(cluster),
    };
    let enforced = args.assume_enforced || verdict.enforces() != Some(false);
    let mut notes = Vec::new();
    match verdict.enforces() {
        Some(false) if !args.assume_enforced => notes.push(format!(
            "the CNI ({}) does not enforce NetworkPolicy: this describes the effective, allow-all network \
             (--assume-enforced shows what the policies declare)",
            verdict.names()
        )),
        Some(false) => notes.push(format!(
            "the CNI ({}) does not enforce NetworkPolicy; --assume-enforced shows what the policies declare, not what the network does",
            verdict.names()
        )),
        None => notes.push("no CNI in the input: the policies are taken as enforced (--cni NAME to say which)".into()),
        Some(true) => {}
    }
    let cilium = verdict.detected.iter().any(|d| d.plugin.name == "cilium");
    if cilium {
        notes.push("Cilium: ipBlocks do not match in-cluster pods, only addresses outside the cluster".into());
    }
    Ok(Network { verdict, enforced, engine: EngineOptions { ip_blocks_match_pods: !cilium }, notes })
}

fn without_policies(cluster: &Cluster) -> Cluster {
    Cluster { policies: Vec::new(), ..cluster.clone() }
}

/// The cluster the answers describe: as declared, or, where the CNI enforces nothing, without its policies (kept
/// in `open`).
fn effective_cluster<'a>(cluster: &'a Cluster, network: &Network, open: &'a mut Option<Cluster>) -> &'a Cluster {
    if network.enforced {
        cluster
    } else {
        open.insert(without_policies(cluster))
    }
}

fn run(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Command::Audit(args) => audit(cli, args),
        Command::BlastRadius(args) => blast_radius(cli, args),
        Command::Reach(args) => reach(cli, args),
        Command::Can(args) => {
            let (cluster, diagnostics) = load(cli, &args.paths);
            let had_errors = report(&diagnostics, cli.verbose, false);
            let network = network(&cluster, &args.network)?;
            let mut open = None;
            let effective = effective_cluster(&cluster, &network, &mut open);
            let analysis = Analysis::with_options(effective, &network.engine);
            let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
            let from = query::resolve(&cluster, &args.from)?;
            let to = query::resolve(&cluster, &args.to)?;
            let verdict = query::verdict(&analysis, from, to, query);
            phase("engine");
            let rendered = match args.output {
                CanFormat::Text => netseg_render::can::text(effective, &verdict, &network.notes, style(cli.color)),
                CanFormat::Json => {
                    netseg_render::json_text(&netseg_render::can::json(effective, &verdict, &network.notes))
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
    let (cluster, diagnostics) = load(cli, &args.paths);
    let cluster = match args.granularity {
        Granularity::Workload => cluster,
        Granularity::Pod => cluster.per_pod(),
    };
    let had_errors = report(&diagnostics, cli.verbose, false);
    let network = network(&cluster, &args.network)?;
    for note in &network.notes {
        eprintln!("note: {note}");
    }
    let mut open = None;
    let effective = effective_cluster(&cluster, &network, &mut open);
    let analysis = Analysis::with_options(effective, &network.engine);
    let query = PortQuery::new(args.ports.protocol.as_deref(), args.ports.port)?;
    let from = args.from.as_deref().map(|f| query::resolve(&cluster, f)).transpose()?;
    let to = args.to.as_deref().map(|t| query::resolve(&cluster, t)).transpose()?;
    check_answer_size(&analysis, Holds::GroupEntries)?;
    let grouped = analysis.reach_groups().filter(
        |e| from.as_ref().is_none_or(|f| query::endpoint_matches(e, f)),
        |e| to.as_ref().is_none_or(|t| query::endpoint_matches(e, t)),
        &query.ports(),
    );
    phase("engine");
    let pairs = grouped.pairs();
    let as_groups = match (args.group, args.output) {
        (GroupChoice::Never, _) => false,
        (_, ReachFormat::Csv | ReachFormat::Md | ReachFormat::Dot) => {
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

fn audit_options(facts: &FactArgs, network: &NetworkArgs) -> Result<AuditOptions> {
    Ok(AuditOptions {
        api_server: cidrs(&facts.api_server, "api-server")?,
        node_cidrs: cidrs(&facts.node_cidr, "node-cidr")?,
        assume_enforced: network.assume_enforced,
    })
}

fn blast_radius(cli: &Cli, args: &BlastArgs) -> Result<u8> {
    let options = audit_options(&args.facts, &args.network)?;
    let (cluster, diagnostics) = load(cli, &args.paths);
    let had_errors = report(&diagnostics, cli.verbose, false);
    let network = network(&cluster, &args.network)?;
    for note in &network.notes {
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
    let declared = Analysis::with_options(&cluster, &network.engine);
    // Only where the CNI enforces nothing: the copy doubles what a large cluster holds in memory.
    let (open, allow_all);
    let effective = if network.enforced {
        &declared
    } else {
        open = without_policies(&cluster);
        allow_all = Analysis::with_options(&open, &network.engine);
        &allow_all
    };
    let config = Config::default();
    let ctx = AuditContext::new(&cluster, &declared, effective, &network.verdict, &config, &diagnostics, &options);
    check_answer_size(effective, Holds::WorkloadPairs)?;
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

fn audit(cli: &Cli, args: &AuditArgs) -> Result<u8> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => match std::env::current_dir().ok().as_deref().and_then(Config::discover) {
            Some(path) => Config::load(&path)?,
            None => Config::default(),
        },
    };
    let options = audit_options(&args.facts, &args.network)?;
    let (cluster, diagnostics) = load(cli, &args.paths);
    // Input problems become NS144 findings; only skipped documents are worth a line of their own.
    report(&diagnostics, cli.verbose, true);
    let network = network(&cluster, &args.network)?;
    let declared = Analysis::with_options(&cluster, &network.engine);
    // Only where the CNI enforces nothing: the copy doubles what a large cluster holds in memory.
    let (open, allow_all);
    let effective = if network.enforced {
        &declared
    } else {
        open = without_policies(&cluster);
        allow_all = Analysis::with_options(&open, &network.engine);
        &allow_all
    };
    let ctx = AuditContext::new(&cluster, &declared, effective, &network.verdict, &config, &diagnostics, &options);
    // The engine's all-pairs answer, which the rules share, computed here so that the timings tell it apart.
    check_answer_size(effective, Holds::WorkloadPairs)?;
    ctx.connections();
    phase("engine");
    let result = netseg_audit::audit(&ctx);
    phase("audit");
    let rendered = match args.output {
        AuditFormat::Text => netseg_render::audit::text(&result, style(cli.color)),
        AuditFormat::Json => netseg_render::json_text(&netseg_render::audit::json(&result)),
        AuditFormat::Sarif => format!("{:#}\n", netseg_render::audit::sarif(&result, env!("CARGO_PKG_VERSION"))),
        AuditFormat::Markdown => netseg_render::audit::markdown(&result),
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
    let failed = matches!((threshold, result.worst()), (Some(threshold), Some(worst)) if worst >= threshold);
    Ok(u8::from(failed))
}
