//! Every flag, defined once; `--help` is generated from these definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "netseg",
    version,
    about = "Finds, explains, proves and fixes missing network segmentation in Kubernetes",
    long_about = "Finds, explains, proves and fixes missing network segmentation in Kubernetes.\n\n\
                  Inputs are files, directories (walked for .yaml, .yml, .json) and - for stdin, in any mix: plain \
                  manifests, Helm or Kustomize output, and `kubectl get -A -o yaml|json` dumps; or a live cluster, \
                  read-only, with --cluster (also as the kubectl plugin `kubectl netseg`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Also list the documents that were skipped (kinds netseg does not read, documents that are not objects).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The namespace of objects that name none, as with `kubectl apply -n NAME` (default: `default`); with
    /// --cluster, also the only namespace whose objects are read, as with `kubectl get -n NAME`.
    #[arg(short = 'n', long, global = true, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Colour the text output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print how long each phase took (parse, model, engine, audit, output) on stderr.
    #[arg(long, global = true)]
    pub timings: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// How much input is accepted (docs/limits.md). Honest input never meets these; hostile input is refused with a
/// message naming the limit.
#[derive(Debug, Args)]
#[command(next_help_heading = "Input limits")]
pub struct LimitArgs {
    /// Bytes read from all inputs together: 1000000, 500MB, 8GB, 2GiB.
    #[arg(long, global = true, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    pub max_input_bytes: u64,
    /// The deepest nesting of a document.
    #[arg(long, global = true, value_name = "LEVELS", default_value_t = netseg_model::yaml::MAX_DEPTH)]
    pub max_depth: usize,
    /// Nodes per input byte that YAML aliases may expand a document to (plus 100,000).
    #[arg(long, global = true, value_name = "N", default_value_t = netseg_model::yaml::ALIAS_EXPANSION)]
    pub max_alias_expansion: usize,
    /// Diagnostics kept and shown per severity; the rest are counted.
    #[arg(long, global = true, value_name = "N", default_value_t = netseg_model::load::DEFAULT_MAX_DIAGNOSTICS)]
    pub max_diagnostics: usize,
}

/// A byte count with an optional unit: KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size such as 500MB or 2GiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        other => return Err(format!("unknown unit `{other}`; use KB, MB, GB, TB or KiB, MiB, GiB, TiB")),
    };
    number.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))
}

/// A TCP, UDP or SCTP port: 1 to 65535 (0 names no port a connection can use).
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("`{text}` is not a port: ports are 1 to 65535")),
    }
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
    /// The NetworkPolicies that close the gaps (default-deny, DNS, least-privilege allows), proven by analysing
    /// the input with them again. YAML on stdout (or --out DIR), the proof on stderr. Exit 0, or 2 when they
    /// would cut a declared flow (nothing is written then) or on input errors.
    Generate(GenerateArgs),
    /// The connectivity and findings that a change adds and removes, OLD → NEW. Exit 0 when nothing is added,
    /// 1 when something is (see --fail-on), 2 on error.
    Diff(DiffArgs),
    /// The shell completion script for bash, zsh, fish, PowerShell or elvish, on stdout (docs/commands/completions.md
    /// says where each shell reads it).
    Completions(CompletionsArgs),
    /// The manual page netseg(1) in roff, on stdout; with --out DIR, netseg.1 and one page per command
    /// (netseg-audit.1, ...) in DIR.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write netseg.1 and a page per command into this directory instead of printing netseg(1).
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write one file per namespace (`DIR/<namespace>.yaml`) instead of printing one YAML stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Observed flows to allow as well: Hubble JSON (`hubble observe -o json`) or CSV
    /// `src_namespace,src_workload,dst_namespace,dst_workload,port,protocol` (repeatable; - for stdin).
    #[arg(long, value_name = "FILE")]
    pub flows: Vec<std::path::PathBuf>,
    /// The cluster DNS: `NAMESPACE/KEY=VALUE[,KEY=VALUE]` (pods) or an address or CIDR (NodeLocal DNSCache);
    /// detected from kube-dns/CoreDNS in the input, else kube-system/k8s-app=kube-dns.
    #[arg(long, value_name = "TARGET")]
    pub dns: Option<String>,
    /// The namespace of the ingress controller, where Ingress traffic comes from (repeatable); detected from the
    /// controllers' images, else every namespace.
    #[arg(long, value_name = "NAME")]
    pub ingress_namespace: Vec<String>,
    /// The cluster's DNS domain, for resolving Service names in env and args.
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Write the policies even when they deny what the input allows and the application needs (a declared flow,
    /// DNS, every client of a Service): the cuts are intended. Without it such a run writes nothing and exits 2.
    #[arg(long)]
    pub allow_cuts: bool,
    /// The language of the policies: Kubernetes NetworkPolicies, Calico's projectcalico.org/v3 objects (a
    /// GlobalNetworkPolicy default-deny and NetworkPolicies) or Cilium's cilium.io/v2 ones (a
    /// CiliumClusterwideNetworkPolicy default-deny and CiliumNetworkPolicies). calico and cilium need that CNI
    /// (detected, or --cni).
    #[arg(long, value_enum, default_value_t = GenerateDialect::Kubernetes)]
    pub dialect: GenerateDialect,
    /// Also write the service mesh's authorization for the same flows, after the NetworkPolicies in the same
    /// stream: `istio` (an allow-nothing AuthorizationPolicy per namespace, then ALLOW policies naming the callers'
    /// principals) or `linkerd` (Servers, MeshTLSAuthentications and AuthorizationPolicies).
    #[arg(long, value_enum, value_name = "MESH")]
    pub mesh: Option<GenerateMesh>,
    #[command(flatten)]
    pub facts: FactArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateDialect {
    Kubernetes,
    Calico,
    Cilium,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateMesh {
    Istio,
    Linkerd,
}

impl GenerateMesh {
    pub fn target(self) -> netseg_fix::mesh_policy::MeshTarget {
        match self {
            GenerateMesh::Istio => netseg_fix::mesh_policy::MeshTarget::Istio,
            GenerateMesh::Linkerd => netseg_fix::mesh_policy::MeshTarget::Linkerd,
        }
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The manifests before the change: a file, a directory or - for stdin.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The manifests after the change: a file, a directory or - for stdin.
    #[arg(value_name = "NEW")]
    pub new: String,
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Text)]
    pub output: DiffFormat,
    /// What makes the exit status 1: `added` (a connection or port opens, or a declared or observed flow breaks), `any` (any change of connectivity
    /// or findings), `none`.
    #[arg(long, value_enum, default_value_t = DiffFailOn::Added)]
    pub fail_on: DiffFailOn,
    /// Observed flows that NEW must not break (NS147; a broken flow fails the gate): Hubble JSON or CSV
    /// `src_namespace,src_workload,dst_namespace,dst_workload,port,protocol` (repeatable).
    #[arg(long, value_name = "FILE")]
    pub flows: Vec<std::path::PathBuf>,
    /// The cluster's DNS domain, for resolving Service names in env and args (declared flows).
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    #[command(flatten)]
    pub facts: FactArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    /// The `netseg.diff/v1` schema (schemas/netseg.diff.v1.json).
    Json,
    /// SARIF 2.1.0: a result for each opened connection and each finding that appears or rises.
    Sarif,
    #[value(alias = "md")]
    Markdown,
    /// Mermaid for GitHub: opened connections red, closed ones dashed.
    Mermaid,
    /// Graphviz DOT: opened connections red, closed ones dashed.
    Dot,
    /// A self-contained HTML page with the graph of the change.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFailOn {
    Added,
    Any,
    None,
}

/// Where the objects come from: files, a live cluster, or both (files then overlay the cluster, as `kubectl apply`
/// would).
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files, directories or - for stdin.
    #[arg(value_name = "PATH", required_unless_present_any = ["cluster", "context", "kubeconfig"])]
    pub paths: Vec<String>,
    /// Read the objects from a live cluster through its API server (read-only: discovery and paginated lists).
    /// -n NAME reads namespaced objects from that namespace only.
    #[arg(long)]
    pub cluster: bool,
    /// The kubeconfig context to read (implies --cluster; default: the current context). Repeat it to audit
    /// several clusters in one report.
    #[arg(long, value_name = "NAME")]
    pub context: Vec<String>,
    /// The kubeconfig file (implies --cluster; default: KUBECONFIG, several files merged, else ~/.kube/config,
    /// else the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
}

impl InputArgs {
    pub fn live(&self) -> bool {
        self.cluster || !self.context.is_empty() || self.kubeconfig.is_some()
    }
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
    /// Cilium's policy enforcement mode (default, always, never), instead of `enable-policy` in the input's
    /// cilium-config ConfigMap.
    #[arg(long, value_enum, value_name = "MODE")]
    pub policy_enforcement: Option<PolicyEnforcementArg>,
    /// Istio's trust domain, the first segment of every principal (`DOMAIN/ns/NS/sa/SA`), instead of the
    /// `trustDomain` in the input's istio ConfigMap (default cluster.local).
    #[arg(long, value_name = "DOMAIN", value_parser = parse_trust_domain)]
    pub trust_domain: Option<String>,
    /// What Consul does with a connection no intention matches (allow, deny), instead of the ACL default policy in
    /// the input's consul-server-config ConfigMap (default allow).
    #[arg(long, value_enum, value_name = "ACTION")]
    pub consul_default_intention: Option<IntentionArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntentionArg {
    Allow,
    Deny,
}

/// A trust domain is one DNS-like name: it cannot be empty or hold the `/` that separates a principal's parts.
fn parse_trust_domain(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the trust domain cannot be empty".into());
    }
    if let Some(bad) = text.chars().find(|c| *c == '/' || c.is_whitespace() || c.is_control()) {
        return Err(format!("the trust domain cannot contain {bad:?}: give the domain alone, e.g. cluster.local"));
    }
    Ok(text.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyEnforcementArg {
    Default,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: InputArgs,
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
    /// Observed flows to check against the policies (NS147): Hubble JSON (`hubble observe -o json`) or CSV
    /// `src_namespace,src_workload,dst_namespace,dst_workload,port,protocol` (repeatable; - for stdin). With it,
    /// the declared and observed flows are taken as the application's intent and NS148 reports rules that admit
    /// more.
    #[arg(long, value_name = "FILE")]
    pub flows: Vec<std::path::PathBuf>,
    /// Take the declared flows alone (no flow file) as everything the application needs: NS148 reports rules
    /// that admit more.
    #[arg(long, conflicts_with = "flows")]
    pub intent_only: bool,
    /// The cluster's DNS domain, for resolving Service names in env and args (declared flows, NS147).
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
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
    /// `json` is the `netseg.blast-radius/v1` schema (schemas/netseg.blast-radius.v1.json).
    #[arg(short, long, value_enum, default_value_t = CanFormat::Text)]
    pub output: CanFormat,
    #[command(flatten)]
    pub facts: FactArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    /// The `netseg.audit/v1` schema (schemas/netseg.audit.v1.json).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    #[value(alias = "md")]
    Markdown,
    /// One self-contained HTML file: summary, findings and the reachability graph (no request to any host).
    Html,
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
    /// Only this port, 1 to 65535 (with --protocol, default TCP).
    #[arg(long, value_parser = parse_port)]
    pub port: Option<u16>,
    /// Only this protocol: TCP, UDP or SCTP.
    #[arg(long)]
    pub protocol: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReachArgs {
    #[command(flatten)]
    pub input: InputArgs,
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
    /// The `netseg.reach/v1` schema (schemas/netseg.reach.v1.json).
    Json,
    Csv,
    #[value(alias = "markdown")]
    Md,
    /// Graphviz, one cluster per namespace.
    Dot,
    /// Mermaid `flowchart LR`, one subgraph per namespace (GitHub renders it in Markdown).
    Mermaid,
}

#[derive(Debug, Args)]
pub struct CanArgs {
    /// The source: namespace/name[Kind], a pod name, an IP address, or a Cilium entity (world, host,
    /// kube-apiserver, ...).
    #[arg(long, value_name = "ENDPOINT")]
    pub from: String,
    /// The destination: namespace/name[Kind], a pod name, an IP address, a DNS name (api.example.com), or a
    /// Cilium entity (world, host, kube-apiserver, cluster, ...).
    #[arg(long, value_name = "ENDPOINT")]
    pub to: String,
    #[command(flatten)]
    pub ports: PortFilter,
    /// `json` is the `netseg.can/v1` schema (schemas/netseg.can.v1.json).
    #[arg(short, long, value_enum, default_value_t = CanFormat::Text)]
    pub output: CanFormat,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// The request, for the policies that decide on more than addresses and ports (Cilium's L7 rules, a service
/// mesh's authorization). Each is checked as HTTP would carry it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Request")]
pub struct RequestArgs {
    /// The HTTP method as sent: GET, POST, ... (case-sensitive).
    #[arg(long, value_name = "METHOD", value_parser = netseg_engine::request::parse_method)]
    pub method: Option<String>,
    /// The request path, starting with `/`; a query after `?` is kept apart.
    #[arg(long, value_name = "PATH", value_parser = netseg_engine::request::parse_target)]
    pub path: Option<(String, Option<String>)>,
    /// The host the request names (the Host header, or :authority), without a port.
    #[arg(long, value_name = "HOST", value_parser = netseg_engine::request::parse_host)]
    pub host: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = netseg_engine::request::parse_header)]
    pub headers: Vec<(String, String)>,
    /// The name a DNS query asks about, for Cilium's L7 DNS rules (`--port 53`).
    #[arg(long = "dns-name", value_name = "NAME", value_parser = netseg_engine::request::parse_dns_name)]
    pub dns_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CanFormat {
    Text,
    /// JSON, in the schema named above.
    Json,
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(super::parse_port("443"), Ok(443));
        assert_eq!(super::parse_port("65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "http", ""] {
            let error = super::parse_port(bad).expect_err(bad);
            assert!(error.ends_with("is not a port: ports are 1 to 65535"), "{error}");
        }
    }

    #[test]
    fn sizes_take_si_and_binary_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("4 gib"), Ok(4 << 30));
        assert!(parse_size("MB").is_err() && parse_size("5XB").is_err() && parse_size("99999999999TB").is_err());
    }
}
