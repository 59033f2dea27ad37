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
    /// Print how long each phase took (parse, model, engine, audit, output) on stderr.
    #[arg(long, global = true)]
    pub timings: bool,
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
    /// The segmentation findings, worst first, each with resource, file:line, evidence and a fix.
    /// Exit 0 when none is at or above --fail-on, 1 when some are, 2 on usage errors.
    Audit(AuditArgs),
    /// Who can reach whom, on which protocols and ports.
    Reach(ReachArgs),
    /// One verdict and why: the policies and rules that allow or deny it. Exit 0 allowed, 1 denied, 2 error.
    Can(CanArgs),
    /// Everything a compromised workload can reach, directly and in several hops, sensitive targets first.
    BlastRadius(BlastArgs),
}

/// Whether the policies are enforced: the CNI decides.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// The cluster's CNI, instead of detecting it from the input (calico, cilium, flannel, canal, weave, antrea,
    /// kube-router, ovn-kubernetes, aws-vpc-cni, aws-network-policy-agent, azure-npm, azure-cni, kindnet, ...).
    #[arg(long, value_name = "NAME")]
    pub cni: Option<String>,
    /// Analyse the policies as declared even where the CNI does not enforce them.
    #[arg(long)]
    pub assume_enforced: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Files, directories or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    #[arg(short, long, value_enum, default_value_t = AuditFormat::Text)]
    pub output: AuditFormat,
    /// The lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::High)]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub facts: FactArgs,
    /// The configuration file; by default `.netseg.yaml` in the working directory or the nearest parent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// Facts the input may lack.
#[derive(Debug, Args)]
pub struct FactArgs {
    /// The API server's address, when the input has no default/kubernetes endpoints (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub api_server: Vec<String>,
    /// The nodes' addresses, when the input has no Node objects (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub node_cidr: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BlastArgs {
    /// The compromised workload (namespace/name[Kind], a pod name), an address outside the cluster, or `internet`
    /// (which enters through LoadBalancer and NodePort Services and Ingresses only).
    #[arg(long, value_name = "ENDPOINT")]
    pub from: String,
    /// How many hops to follow.
    #[arg(long, default_value_t = 5)]
    pub max_hops: usize,
    #[arg(short, long, value_enum, default_value_t = CanFormat::Text)]
    pub output: CanFormat,
    #[command(flatten)]
    pub facts: FactArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Files, directories or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    /// The `netseg.audit/v1` schema.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    #[value(alias = "md")]
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    Info,
    /// Always exit 0 (but 2 on usage errors).
    None,
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
    /// Pairs or groups: `auto` lists every pair up to 10,000 of them and groups beyond (text and JSON); `always`
    /// groups sources and destinations that get the same ports; `never` lists every pair, however many.
    #[arg(long, value_enum, default_value_t = GroupChoice::Auto)]
    pub group: GroupChoice,
    /// `workload`: a controller's pods are one endpoint; `pod`: every pod of a dump is its own endpoint,
    /// `ns/pod[Pod]` (a template, which names no pod, stays its workload).
    #[arg(long, value_enum, default_value_t = Granularity::Workload)]
    pub granularity: Granularity,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Granularity {
    Workload,
    Pod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupChoice {
    Auto,
    Always,
    Never,
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
    #[command(flatten)]
    pub network: NetworkArgs,
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
