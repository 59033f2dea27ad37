//! `netseg-gen`: writes a deterministic synthetic cluster (a named benchmark tier, or any size) as JSON or YAML.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use netseg_gen::{generate, Dialect, Form, JsonList, Shape, Spec, YamlStream, TIERS};
use std::io::{BufWriter, Write};

#[derive(Debug, Parser)]
#[command(name = "netseg-gen", about = "Writes a deterministic synthetic Kubernetes cluster for benchmarks and tests")]
struct Args {
    /// A benchmark tier: s-real, m, l, xl or adversarial. Counts given as flags override the tier's.
    #[arg(long)]
    tier: Option<String>,
    /// Pods (in manifests form: the replicas the templates stand for).
    #[arg(long)]
    pods: Option<usize>,
    /// Namespaces, including the three system ones (kube-system, ingress-nginx, monitoring).
    #[arg(long)]
    namespaces: Option<usize>,
    /// NetworkPolicies (with `--dialect calico`: namespaced Calico NetworkPolicies, one for each).
    #[arg(long)]
    policies: Option<usize>,
    /// What segments the cluster: `networkpolicy`: Kubernetes NetworkPolicies; `calico`: Calico's own objects
    /// (projectcalico.org/v3): Tiers `security` (order 100) and `platform` (order 200) with GlobalNetworkPolicies,
    /// GlobalNetworkSets for the partner networks, a NetworkSet, and per namespace one Calico NetworkPolicy for each
    /// NetworkPolicy the first dialect writes, from the same seed. The adversarial shape writes NetworkPolicies only.
    #[arg(long, value_enum, default_value_t = DialectArg::Networkpolicy)]
    dialect: DialectArg,
    /// Average replicas per Deployment (1: one pod per workload, so `--pods` is the number of workloads).
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `dump`: Pods with IPs, as `kubectl get -A -o json`; `manifests`: controllers with templates, no Pods;
    /// `pods`: a dump without controllers (for tools that make up pods from replicas).
    #[arg(long, value_enum, default_value_t = FormArg::Dump)]
    form: FormArg,
    /// Every pod's labels distinct, overlapping CIDRs (the default for the adversarial tier).
    #[arg(long)]
    adversarial: bool,
    /// `json`: one `List`; `yaml`: a multi-document stream.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Where to write (default: stdout).
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormArg {
    Dump,
    Manifests,
    Pods,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DialectArg {
    Networkpolicy,
    Calico,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut spec = match &args.tier {
        Some(name) => match Spec::tier(name) {
            Some(spec) => spec,
            None => {
                let known: Vec<&str> = TIERS.iter().map(|t| t.0).collect();
                bail!("unknown tier `{name}`; known: {}", known.join(", "))
            }
        },
        None => Spec {
            seed: 1,
            pods: 1_000,
            namespaces: 50,
            policies: 100,
            replicas: 3,
            form: Form::Dump,
            shape: Shape::Realistic,
            dialect: Dialect::NetworkPolicy,
        },
    };
    spec.pods = args.pods.unwrap_or(spec.pods);
    spec.namespaces = args.namespaces.unwrap_or(spec.namespaces);
    spec.policies = args.policies.unwrap_or(spec.policies);
    spec.replicas = args.replicas.max(1);
    spec.seed = args.seed;
    spec.form = match args.form {
        FormArg::Dump => Form::Dump,
        FormArg::Manifests => Form::Manifests,
        FormArg::Pods => Form::Pods,
    };
    if args.adversarial {
        spec.shape = Shape::Adversarial;
    }
    spec.dialect = match args.dialect {
        DialectArg::Networkpolicy => Dialect::NetworkPolicy,
        DialectArg::Calico => Dialect::Calico,
    };
    if spec.dialect == Dialect::Calico && spec.shape == Shape::Adversarial {
        bail!("--dialect calico needs the realistic shape: the adversarial one writes NetworkPolicies only");
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    let pods = match args.format {
        Format::Json => {
            let mut list = JsonList::new(out)?;
            let pods = generate(&spec, &mut list)?;
            list.finish()?.flush()?;
            pods
        }
        Format::Yaml => {
            let mut stream = YamlStream { out };
            let pods = generate(&spec, &mut stream)?;
            stream.out.flush()?;
            pods
        }
    };
    eprintln!(
        "netseg-gen: {pods} pods, {} namespaces, {} policies (seed {})",
        spec.namespaces, spec.policies, spec.seed
    );
    Ok(())
}
