//! Every flag, defined once; `--help` is generated from these definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "netseg",
    version,
    about = "Finds, explains, proves and fixes missing network segmentation in Kubernetes",
    long_about = "Finds, explains, proves and fixes missing network segmentation in Kubernetes.\n\n\
                  Inputs are files, directories (walked for .yaml, .yml, .json) and - for stdin, in any mix: plain \
                  manifests, Helm or Kustomize output, and `kubectl get -A -o yaml|json` dumps."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Also list the documents that were skipped (kinds netseg does not read, documents that are not objects).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The namespace of objects that name none, as with `kubectl apply -n NAME` (default: `default`).
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Colour the text output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who can reach whom, on which protocols and ports.
    Reach(ReachArgs),
    /// One verdict and why: the policies and rules that allow or deny it. Exit 0 allowed, 1 denied, 2 error.
    Can(CanArgs),
}

#[derive(Debug, Args)]
pub struct PortFilter {
    /// Only this port (with --protocol, default TCP).
    #[arg(long)]
    pub port: Option<u16>,
    /// Only this protocol: TCP, UDP or SCTP.
    #[arg(long)]
    pub protocol: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReachArgs {
    /// Files, directories or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    #[arg(short, long, value_enum, default_value_t = ReachFormat::Text)]
    pub output: ReachFormat,
    /// Only connections from this endpoint: namespace/name[Kind], a pod name, or an IP address.
    #[arg(long, value_name = "ENDPOINT")]
    pub from: Option<String>,
    /// Only connections to this endpoint.
    #[arg(long, value_name = "ENDPOINT")]
    pub to: Option<String>,
    #[command(flatten)]
    pub ports: PortFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReachFormat {
    Text,
    /// The `netseg.reach/v1` schema.
    Json,
    Csv,
    #[value(alias = "markdown")]
    Md,
    /// Graphviz, one cluster per namespace.
    Dot,
}

#[derive(Debug, Args)]
pub struct CanArgs {
    /// The source: namespace/name[Kind], a pod name, or an IP address.
    #[arg(long, value_name = "ENDPOINT")]
    pub from: String,
    /// The destination: namespace/name[Kind], a pod name, or an IP address.
    #[arg(long, value_name = "ENDPOINT")]
    pub to: String,
    #[command(flatten)]
    pub ports: PortFilter,
    #[arg(short, long, value_enum, default_value_t = CanFormat::Text)]
    pub output: CanFormat,
    /// Files, directories or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CanFormat {
    Text,
    /// The `netseg.can/v1` schema.
    Json,
}
