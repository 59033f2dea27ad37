//! `netseg generate`: the policies that close the gaps, proven by analysing the input with them again. YAML on
//! stdout (or `--out DIR`), the proof on stderr.

use crate::args::{GenerateArgs, GenerateDialect};
use crate::diagnostics;
use crate::exit;
use crate::input::{self, load_one};
use crate::output::write_out;
use crate::settings::Settings;
use anyhow::{anyhow, Context, Result};
use netseg_fix::dialect::{self, to_yaml_stream, Dialect};
use netseg_fix::{DnsTarget, GenerateOptions};

/// Where `--out DIR` puts the cluster-scoped objects of a dialect (no namespace is named with an underscore).
const CLUSTER_FILE: &str = "_cluster.yaml";

pub fn run(settings: &Settings, args: &GenerateArgs) -> Result<u8> {
    let options = super::audit_options(&args.facts)?;
    let dns = args.dns.as_deref().map(str::parse::<DnsTarget>).transpose().map_err(|e| anyhow!("--dns {e}"))?;
    let dialect = match args.dialect {
        GenerateDialect::Kubernetes => Dialect::Kubernetes,
        GenerateDialect::Calico => Dialect::Calico,
        GenerateDialect::Cilium => Dialect::Cilium,
    };
    let config = input::config(None)?;
    let loaded = super::with_mesh_settings(load_one(settings, &args.input, "generate")?, &args.network);
    let cluster = &loaded.cluster;
    let mut had_errors = diagnostics::report(&loaded.diagnostics, settings.verbose, false);
    let (network, dialect_notes) = dialect::network(dialect, cluster, &super::network_choice(&args.network))?;
    let (flows, flow_errors) = super::read_flows(cluster, &args.flows, &args.input.paths)?;
    had_errors |= flow_errors;
    let generate_options = GenerateOptions {
        dns,
        ingress_namespaces: args.ingress_namespace.clone(),
        cluster_domain: args.cluster_domain.trim_matches('.').to_string(),
        flows,
        api_server: options.api_server.clone(),
    };
    let mut plan = netseg_fix::plan(&network, &generate_options).map_err(|e| anyhow!(e))?;
    plan.notes.extend(dialect_notes);
    if let Some(mesh) = args.mesh {
        plan.mesh = Some(netseg_fix::mesh_policy::plan(&network, &plan, mesh.target()).map_err(|e| anyhow!(e))?);
    }
    let written = dialect::write(dialect, &network, &plan).map_err(|e| anyhow!(e))?;
    let header = dialect.header();
    // One stream for one `kubectl apply -f`: the mesh objects follow the policies, in a commented section. With
    // `--out`, a file holds one namespace's objects (`Some(Some(ns))`) or the cluster-scoped ones (`Some(None)`).
    let stream = |file: Option<Option<&str>>| {
        let objects: Vec<_> =
            written.iter().filter(|o| file.is_none_or(|f| o.namespace.as_deref() == f)).cloned().collect();
        let mut yaml = to_yaml_stream(&objects, header);
        if let (Some(mesh), false) = (&plan.mesh, file == Some(None)) {
            yaml.push_str(&mesh.to_yaml_section(file.flatten()));
        }
        yaml
    };
    let yaml = stream(None);
    let proof =
        netseg_fix::prove(&network, &loaded.diagnostics, &plan, &yaml, &config, &options).map_err(|e| anyhow!(e))?;
    let summary = match dialect {
        Dialect::Kubernetes => {
            netseg_render::generate::summary(cluster, &plan, &proof, args.allow_cuts, settings.stderr)
        }
        _ => {
            netseg_render::generate::summary_written(cluster, &plan, &written, &proof, args.allow_cuts, settings.stderr)
        }
    };
    eprint!("{summary}");
    if !proof.holds() && !args.allow_cuts {
        return Ok(exit::ERROR);
    }
    match &args.out {
        None => write_out(&yaml)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
            let mut files: Vec<Option<&str>> = written.iter().map(|o| o.namespace.as_deref()).collect();
            files.extend(plan.mesh.iter().flat_map(|m| m.documents.iter().map(|d| Some(d.namespace.as_str()))));
            files.sort_unstable();
            files.dedup();
            for namespace in files {
                let path = dir.join(namespace.map_or_else(|| CLUSTER_FILE.to_string(), |ns| format!("{ns}.yaml")));
                std::fs::write(&path, stream(Some(namespace)))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(exit::unless_input_errors(had_errors, exit::PASS))
}
